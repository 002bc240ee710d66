#!/bin/sh
# Installs every build and test dependency of Strata on Debian 12. Idempotent:
# packages already present are not reinstalled, and apt is not touched at all
# when nothing is missing.
set -eu

BUILD="meson ninja-build pkg-config gcc clang libclang-rt-14-dev llvm clang-format clang-tidy cppcheck
libarchive-dev libjansson-dev libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev
libmicrohttpd-dev libcmocka-dev libseccomp-dev libcap-dev libisal-dev libdeflate-dev"
TEST="skopeo umoci oci-image-tool busybox-static podman crun runc docker-registry apache2-utils
buildah fuse-overlayfs golang-github-containers-common jq pigz zstd hyperfine debootstrap
python3 curl tar gzip iproute2 util-linux attr openssl"

missing=""
for p in $BUILD $TEST; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
