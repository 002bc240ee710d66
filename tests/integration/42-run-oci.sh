#!/bin/sh
# 42-run-oci.sh: images of many layers (128 and overlayfs's limit, through fsconfig lowerdir+
# and through the mount(2) option string with short names), and OCI bundles that crun and runc
# run, by `strata bundle` and by `run --runtime`.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/run-lib.sh"
command -v python3 >/dev/null || skip_all "python3 missing"

python3 "$SRCDIR/tests/integration/mklayers.py" "$T/rootfs" 128 "$T/l128" docker.io/library/l128:latest
check "load a 128-layer image" st load -i "$T/l128"
out_is "a 128-layer image runs (fsconfig lowerdir+ when the kernel has it)" "128 layer 1 layer 127" st run --rm l128 sh -c 'echo $(($(ls /layers | wc -l) + 1)) $(cat /layers/l001 /layers/l127)'
out_is "and through mount(2) with short lower names" "layer 127" env STRATA_OVERLAY_MOUNT=legacy "$STRATA" run --rm l128 cat /layers/l127
out_is "commit on top of 128 layers" "129" sh -c "st run --name c128 l128 touch /x >/dev/null && st commit c128 l129 >/dev/null && st rm c128 >/dev/null && st inspect l129 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)[0][\"Manifest\"][\"layers\"]))'"
check "a 129-layer image runs" st run --rm l129 test -f /x
# a build's COPY mounts its target (and --from source) as a read-only view of all its layers
mkdir -p "$T/bctx"
echo copied > "$T/bctx/f"
printf 'FROM l128\nCOPY f /layers/f\nFROM scratch\nCOPY --from=0 /layers/l127 /layers/f /\n' > "$T/bctx/Dockerfile"
check "COPY onto and from a 128-layer image" sh -c "st build -t b128 '$T/bctx' >/dev/null 2>&1 && st unpack b128 '$T/b128' >/dev/null && [ \"\$(cat '$T/b128/f' '$T/b128/l127')\" = \"\$(printf 'copied\nlayer 127')\" ]"
check "and through mount(2) with short lower names" sh -c "STRATA_OVERLAY_MOUNT=legacy st build --no-cache -t b128l '$T/bctx' >/dev/null 2>&1 && st unpack b128l '$T/b128l' >/dev/null && [ \"\$(cat '$T/b128l/f')\" = copied ]"

# ---- OCI runtimes
bundle_ok() { # bundle_ok RUNTIME DIR: runs the bundle, prints its output
	case $1 in
	crun) unshare -m --propagation private sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec crun run --bundle "$0" "$1"' "$2" "strata-it-$$-crun" ;;
	runc) runc run --bundle "$2" "strata-it-$$-runc" ;;
	esac
}
check "strata bundle writes config.json and rootfs" sh -c "st bundle bb '$T/bundle' echo from-bundle && [ -f '$T/bundle/config.json' ] && [ -x '$T/bundle/rootfs/bin/busybox' ]"
for rt in crun runc; do
	if ! command -v $rt >/dev/null; then skip "$rt missing"; skip "$rt missing"; skip "$rt missing"; skip "$rt missing"; continue; fi
	out_is "$rt runs the bundle" "from-bundle" bundle_ok $rt "$T/bundle"
	out_is "run --runtime $rt: same merge" "ep x y" st run --rm --runtime $rt ep x y
	out_is "run --runtime $rt: same isolation" "1 CapBnd: 00000000a80425fb lo" st run --rm --runtime $rt bb sh -c 'echo $$ $(grep CapBnd /proc/self/status) $(ls /sys/class/net)'
	status_is "run --runtime $rt: exit status" 3 st run --rm --runtime $rt bb sh -c 'exit 3'
done
check "no runtime container left" sh -c "! runc list -q 2>/dev/null | grep -q strata"

done_testing
