#!/bin/bash
# bench/run.sh: start-to-exit latency of `strata run --rm IMAGE true` (overlay mount and
# cleanup included) against `crun run` and `runc run` on an unpacked OCI bundle of the same
# busybox image (made by `strata bundle`) and `podman run --rm --network none`, all in one
# hyperfine run; prints the medians and the ratios to strata.
# usage: bench/run.sh   (env: STRATA=path/to/strata, RUNS=30)
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
for t in hyperfine crun runc podman python3; do command -v $t >/dev/null || { echo "bench/run.sh: $t missing" >&2; exit 1; }; done

"$SRC/tools/mkrootfs-busybox.sh" "$W/rootfs"
"$STRATA" import "$W/rootfs" localhost/bb:latest >/dev/null
"$STRATA" bundle localhost/bb "$W/bundle" true
# podman: a private store and working rlimits (tests/integration/podman.sh)
T=$W; . "$SRC/tests/integration/podman.sh"; podman_setup
"$STRATA" save -o "$W/bb.tar" localhost/bb
podman load -q -i "$W/bb.tar" >/dev/null

unshare -m --propagation private bash -c '
	umount /sys/fs/cgroup/unified 2>/dev/null
	exec hyperfine -N --style basic --warmup 3 --runs "$1" --export-json "$2/run.json" \
		-n strata "$3 run --rm localhost/bb true" \
		-n crun "crun run --bundle $2/bundle strata-bench-crun" \
		-n runc "runc run --bundle $2/bundle strata-bench-runc" \
		-n podman "podman run --rm --network none localhost/bb true"' bash "$RUNS" "$W" "$STRATA" >&2
python3 - "$W/run.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
s = r["strata"]["median"]
print("| tool | median ms | min ms | strata / tool |")
print("|---|---:|---:|---:|")
for n in ("strata", "crun", "runc", "podman"):
    m = r[n]["median"]
    print(f"| {n} | {m*1000:.1f} | {r[n]['min']*1000:.1f} | {s/m:.2f} |")
print(f"\ngoals: strata <= 1.5 x crun: {s/r['crun']['median']:.2f}; strata <= 0.1 x podman: {s/r['podman']['median']:.3f}")
PY
