#!/bin/bash
# bench/registry.sh: registry push and pull, Strata against skopeo in the same run, with the
# Debian base image of ../shared/bench/make-bases.sh and docker-registry on 127.0.0.1.
#   push-cold:  push to an empty registry          (skopeo copy oci:... docker://...)
#   push-again: push again, every blob present       (same, a tag that already exists)
#   pull-fresh: pull into an empty store, layers unpacked (strata: snapshots; skopeo: a fresh
#               containers-storage, overlay driver)
# Prints median times and Strata/skopeo ratios (goals: push 0.7, again 0.5, pull 0.5).
# usage: bench/registry.sh [BUILD_DIR]   (default: build)
# env: OCI (default /tmp/peers-base/oci-debian), RUNS (default 5), WORK (/tmp/strata-bench-registry)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
OCI=${OCI:-/tmp/peers-base/oci-debian}
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/strata-bench-registry}
STRATA=$BUILD/strata

if [ ! -d "$SRC/../shared/bench" ]; then
	echo "registry.sh: ../shared/bench is missing: nothing to compare against, skipped" >&2
	exit 0
fi
for t in skopeo docker-registry curl python3; do
	command -v "$t" >/dev/null || { echo "registry.sh: needs $t" >&2; exit 1; }
done
if [ ! -d "$OCI" ]; then
	echo "registry.sh: making the Debian base with make-bases.sh (debootstrap, a few minutes)" >&2
	"$SRC/../shared/bench/make-bases.sh" debian
fi
[ -x "$STRATA" ] || ninja -C "$BUILD" strata

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
rm -rf "$WORK"; mkdir -p "$WORK"
cat > "$WORK/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/data
http:
  addr: $REG
EOF

cat > "$WORK/reset" <<EOF
#!/bin/sh
# stops the registry, empties it, starts it again
[ -f "$WORK/pid" ] && kill \$(cat "$WORK/pid") 2>/dev/null && while kill -0 \$(cat "$WORK/pid") 2>/dev/null; do sleep 0.05; done
rm -rf "$WORK/data"
docker-registry serve "$WORK/config.yml" >> "$WORK/registry.log" 2>&1 &
echo \$! > "$WORK/pid"
for i in \$(seq 100); do curl -fs -o /dev/null "http://$REG/v2/" && exit 0; sleep 0.05; done
exit 1
EOF
chmod +x "$WORK/reset"
stop() {
	[ -f "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null || true
	umount "$WORK/cs/root/overlay" 2>/dev/null || true
}
trap stop EXIT

# the image in a Strata store, as the source of strata's pushes
export STRATA_ROOT=$WORK/store
IMG=$("$STRATA" load --name localhost/peers/debian -i "$OCI" | sed -n 's/^Loaded image: //p' | head -1)
[ -n "$IMG" ] || { echo "registry.sh: strata load of $OCI gave no name" >&2; exit 1; }
"$WORK/reset"

# Tools in alternation, one run of each per round, each after its own prepare command (the vCPU
# speed drifts and other work may share the machine); a ratio is the median of the per-round
# ratios. STRATA_BEFORE=another strata binary adds it to every case, for before/after numbers.
duel() { # NAME then "label|prepare|command" ...
	python3 - "$RUNS" "$WORK/$1.json" "${@:2}" <<'PY'
import json, subprocess, sys, time
runs, out, specs = int(sys.argv[1]), sys.argv[2], [a.split("|", 2) for a in sys.argv[3:]]
res = {n: [] for n, _, _ in specs}
for rnd in range(runs + 1):  # round 0 is the warm-up
    for n, prep, cmd in specs[rnd % len(specs):] + specs[:rnd % len(specs)]:
        if prep:
            subprocess.run(prep, shell=True, check=True, stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        if rnd:
            res[n].append(time.monotonic() - t0)
json.dump(res, open(out, "w"))
PY
}
SK="skopeo copy -q"
strata_cases() { # PREPARE ARGS...: the strata lines (and strata-before) of one case
	local prep=$1; shift
	echo "strata|$prep|$STRATA $*"
	[ -z "${STRATA_BEFORE:-}" ] || echo "strata-before|$prep|$STRATA_BEFORE $*"
}
mapfile -t C < <(strata_cases "$WORK/reset" push -q "$IMG" "$REG/peers/debian:bookworm")
duel push-cold "${C[@]}" \
	"skopeo|$WORK/reset|$SK --dest-tls-verify=false oci:$OCI:bookworm docker://$REG/peers/debian:bookworm"
"$STRATA" push -q "$IMG" "$REG/peers/debian:bookworm" >/dev/null
$SK --dest-tls-verify=false "oci:$OCI:bookworm" "docker://$REG/peers/debian:again"
mapfile -t C < <(strata_cases "" push -q "$IMG" "$REG/peers/debian:again2")
duel push-again "${C[@]}" \
	"skopeo||$SK --dest-tls-verify=false oci:$OCI:bookworm docker://$REG/peers/debian:again"
mapfile -t C < <(strata_cases "rm -rf $WORK/pulled" --root "$WORK/pulled" pull -q "$REG/peers/debian:bookworm")
duel pull-fresh "${C[@]}" \
	"skopeo|umount $WORK/cs/root/overlay 2>/dev/null; rm -rf $WORK/cs|$SK --src-tls-verify=false docker://$REG/peers/debian:bookworm containers-storage:[overlay@$WORK/cs/root+$WORK/cs/run]localhost/peers/debian:bookworm"

python3 - "$WORK" <<'PY'
import json, statistics as st, sys
print(f"{'case':12s} {'tool':14s} {'median s':>9s} {'/ skopeo':>9s} {'goal':>5s}")
for case, goal in (("push-cold", 0.7), ("push-again", 0.5), ("pull-fresh", 0.5)):
    r = json.load(open(f"{sys.argv[1]}/{case}.json"))
    for n in r:
        ratio = st.median(a / b for a, b in zip(r[n], r["skopeo"]))
        print(f"{case:12s} {n:14s} {st.median(r[n]):9.3f} {ratio:9.2f} {goal if n == 'strata' else '':>5}")
PY
