#!/bin/bash
# bench/run.sh: start-to-exit latency of `strata run --rm IMAGE true` (overlay mount and
# cleanup included) against `crun run` and `runc run` on an unpacked OCI bundle of the same
# busybox image (made by `strata bundle`) and `podman run --rm --network none`, alternating in
# one run; prints the medians and the ratios to strata.
# usage: bench/run.sh   (env: STRATA=path/to/strata, RUNS=30, STRATA_BEFORE=another strata binary
# to compare with, e.g. one built from an older commit)
# crun 1.8 refuses this machine's hybrid cgroup layout: everything is measured in a private
# mount namespace without the cgroup2 mount, as ../shared/bench/peers.sh run-crun does.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
STRATA=${STRATA:-$SRC/build/strata}
RUNS=${RUNS:-30}
W=$(mktemp -d /tmp/strata-bench-run-XXXXXX)
cleanup() {
	podman rm -af >/dev/null 2>&1 || true
	umount -R "$W/podman/storage/overlay" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
export STRATA_ROOT=$W/root
for t in crun runc podman python3; do command -v $t >/dev/null || { echo "bench/run.sh: $t missing" >&2; exit 1; }; done

"$SRC/tools/mkrootfs-busybox.sh" "$W/rootfs"
"$STRATA" import "$W/rootfs" localhost/bb:latest >/dev/null
"$STRATA" bundle localhost/bb "$W/bundle" true
# podman: a private store and working rlimits (tests/integration/podman.sh)
T=$W; . "$SRC/tests/integration/podman.sh"; podman_setup
"$STRATA" save -o "$W/bb.tar" localhost/bb
podman load -q -i "$W/bb.tar" >/dev/null

# Tools in alternation, one run of each per round (the vCPU speed drifts and other work may share
# the machine); a ratio is the median of the per-round ratios. strata-disk is the same run with
# the whole container directory on the store's disk (STRATA_RUN_NO_TMPFS=1, the layout before the
# tmpfs one), for comparison.
unshare -m --propagation private bash -c '
	umount /sys/fs/cgroup/unified 2>/dev/null
	exec python3 - "$@"' bash "$RUNS" "$W/run.json" \
	"strata|$STRATA run --rm localhost/bb true" \
	"strata-disk|env STRATA_RUN_NO_TMPFS=1 $STRATA run --rm localhost/bb true" \
	${STRATA_BEFORE:+"strata-before|$STRATA_BEFORE run --rm localhost/bb true"} \
	"crun|crun run --bundle $W/bundle strata-bench-crun" \
	"runc|runc run --bundle $W/bundle strata-bench-runc" \
	"podman|podman run --rm --network none localhost/bb true" <<'PY'
import json, shlex, subprocess, sys, time
runs, out, specs = int(sys.argv[1]), sys.argv[2], [a.split("|", 1) for a in sys.argv[3:]]
res = {n: [] for n, _ in specs}
for rnd in range(runs + 3):  # 3 warm-up rounds
    for n, cmd in specs[rnd % len(specs):] + specs[:rnd % len(specs)]:
        t0 = time.monotonic()
        subprocess.run(shlex.split(cmd), check=True, stdout=subprocess.DEVNULL)
        if rnd >= 3:
            res[n].append(time.monotonic() - t0)
json.dump(res, open(out, "w"))
PY
python3 - "$W/run.json" <<'PY'
import json, statistics as st, sys
r = json.load(open(sys.argv[1]))
def ratio(a, b):
    return st.median(x / y for x, y in zip(r[a], r[b]))
print(f"{len(r['strata'])} rounds, tools alternating")
print("| tool | median ms | min ms | strata / tool |")
print("|---|---:|---:|---:|")
for n in [x for x in ("strata", "strata-before", "strata-disk", "crun", "runc", "podman") if x in r]:
    print(f"| {n} | {st.median(r[n])*1000:.1f} | {min(r[n])*1000:.1f} | {ratio('strata', n):.2f} |")
print(f"\ngoals: strata <= 1.5 x crun: {ratio('strata', 'crun'):.2f}; "
      f"strata <= 0.1 x podman: {ratio('strata', 'podman'):.3f}")
PY
