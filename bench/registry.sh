#!/bin/bash
# bench/registry.sh: registry push and pull, Strata against skopeo in the same run, with the
# Debian base image of ../shared/bench/make-bases.sh and docker-registry on 127.0.0.1.
#   push-cold:  push to an empty registry          (skopeo copy oci:... docker://...)
#   push-again: push again, every blob present       (same, a tag that already exists)
#   pull-fresh: pull into an empty store, layers unpacked (strata: snapshots; skopeo: a fresh
#               containers-storage, overlay driver)
# Prints mean times and Strata/skopeo ratios (goals: push 0.7, again 0.5, pull 0.5).
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
for t in hyperfine skopeo docker-registry jq curl python3; do
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

hf() { # NAME hyperfine-args...
	local name=$1; shift
	hyperfine --style basic --runs "$RUNS" --export-json "$WORK/$name.json" "$@" >/dev/null 2>&1 ||
		{ echo "registry.sh: $name failed:" >&2; hyperfine --runs 1 "$@" >&2; exit 1; }
}
mean() { jq -r '.results[0].mean' "$WORK/$1.json"; }

SK="skopeo copy -q"
hf skopeo-push-cold --prepare "$WORK/reset" -- \
	"$SK --dest-tls-verify=false oci:$OCI:bookworm docker://$REG/peers/debian:bookworm"
hf strata-push-cold --prepare "$WORK/reset" -- \
	"$STRATA push -q $IMG $REG/peers/debian:bookworm"
"$STRATA" push -q "$IMG" "$REG/peers/debian:bookworm" >/dev/null
hf skopeo-push-again --warmup 1 -- \
	"$SK --dest-tls-verify=false oci:$OCI:bookworm docker://$REG/peers/debian:again"
hf strata-push-again --warmup 1 -- \
	"$STRATA push -q $IMG $REG/peers/debian:again2"
hf skopeo-pull-fresh --prepare "umount $WORK/cs/root/overlay 2>/dev/null; rm -rf $WORK/cs" -- \
	"$SK --src-tls-verify=false docker://$REG/peers/debian:bookworm containers-storage:[overlay@$WORK/cs/root+$WORK/cs/run]localhost/peers/debian:bookworm"
hf strata-pull-fresh --prepare "rm -rf $WORK/pulled" -- \
	"$STRATA --root $WORK/pulled pull -q $REG/peers/debian:bookworm"

printf '%-12s %10s %10s %8s %6s\n' case strata_s skopeo_s ratio goal
for c in push-cold:0.7 push-again:0.5 pull-fresh:0.5; do
	n=${c%%:*} goal=${c#*:}
	s=$(mean "strata-$n") k=$(mean "skopeo-$n")
	printf '%-12s %10.3f %10.3f %8.2f %6s\n' "$n" "$s" "$k" "$(echo "$s / $k" | bc -l)" "$goal"
done
