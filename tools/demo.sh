#!/bin/sh
# tools/demo.sh: the main job, end to end, in a private store under build/demo-root: make a
# busybox base image from Debian's busybox-static, import it, and show it through Strata and
# through the OCI tools that read Strata's store directly.
set -eu
cd "$(dirname "$0")/.."
S=build/strata
export STRATA_ROOT="$PWD/build/demo-root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== make a busybox root filesystem (Debian's busybox-static)"
tools/mkrootfs-busybox.sh "$work/rootfs"
echo "== strata import -> localhost/strata/busybox:latest"
$S import -c 'CMD ["sh"]' "$work/rootfs" localhost/strata/busybox:latest
$S images
echo "== the store is an OCI image layout: skopeo reads it"
skopeo inspect "oci:$STRATA_ROOT:localhost/strata/busybox:latest" | head -12
if [ -x "$S" ] && $S --help | grep -q '^  build '; then
	echo "== strata build examples/hello"
	$S build -t hello examples/hello
	echo "== strata run hello"
	$S run --rm hello
fi
echo "== strata fsck"
$S fsck && echo "store OK: $STRATA_ROOT"
