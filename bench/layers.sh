#!/bin/bash
# bench/layers.sh: layer creation and apply, Strata against its peers in the same run, on the
# Debian minbase rootfs of ../shared/bench/make-bases.sh (page cache warm).
#   create: layer-tool create (gzip, zstd)  vs  tar -cf - . | pigz -6 | sha256sum,  | zstd -3
#   apply:  layer-tool apply (flat)         vs  gzip -dc | tar -x,  umoci unpack
# Prints mean times, ratios, MB/s (uncompressed tar bytes) and files/s.
# usage: bench/layers.sh [BUILD_DIR]   (default: build; needs src/lib/libstrata.a built there)
# env: ROOTFS (default /tmp/peers-base/debian-rootfs), OCI (default /tmp/peers-base/oci-debian),
#      RUNS (default 5), WORK (default /tmp/strata-bench-layers)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
ROOTFS=${ROOTFS:-/tmp/peers-base/debian-rootfs}
OCI=${OCI:-/tmp/peers-base/oci-debian}
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/strata-bench-layers}

for t in hyperfine pigz zstd umoci python3 cc pkg-config; do
	command -v "$t" >/dev/null || { echo "layers.sh: needs $t" >&2; exit 1; }
done
if [ ! -d "$ROOTFS" ] || [ ! -d "$OCI" ]; then
	echo "layers.sh: making the Debian base with make-bases.sh (debootstrap, a few minutes)" >&2
	"$SRC/../shared/bench/make-bases.sh" debian
fi
[ -f "$BUILD/src/lib/libstrata.a" ] || ninja -C "$BUILD" src/lib/libstrata.a

rm -rf "$WORK"; mkdir -p "$WORK"
TOOL=$WORK/layer-tool
# shellcheck disable=SC2046
cc -O2 -I"$SRC/include" "$SRC/tests/tools/layer-tool.c" "$BUILD/src/lib/libstrata.a" \
	$(pkg-config --libs libarchive zlib libzstd libcrypto jansson libisal) -lpthread -o "$TOOL"

# The layer umoci unpacks (the base image's single gzip layer) is also the one we apply.
LAYER=$(python3 - "$OCI" <<'PY'
import json, sys
root = sys.argv[1]
idx = json.load(open(root + "/index.json"))
m = idx["manifests"][0]["digest"].split(":")[1]
man = json.load(open(root + "/blobs/sha256/" + m))
print(root + "/blobs/sha256/" + man["layers"][-1]["digest"].split(":")[1])
PY
)
TAG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$OCI")
FILES=$(find "$ROOTFS" | wc -l)
TARBYTES=$(tar -C "$ROOTFS" -cf - . | wc -c)
# warm the page cache
tar -C "$ROOTFS" -cf - . >/dev/null; cat "$LAYER" >/dev/null

X=$WORK/x
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/create.json" \
	-n strata-gzip "$TOOL create -c gzip $ROOTFS $WORK/l.tgz" \
	-n pigz-6 "bash -c 'tar -C $ROOTFS -cf - . | pigz -6 | sha256sum'" \
	-n strata-zstd "$TOOL create -c zstd $ROOTFS $WORK/l.zst" \
	-n zstd-3 "bash -c 'tar -C $ROOTFS -cf - . | zstd -3 -q | sha256sum'" >&2
hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/apply.json" \
	--prepare "rm -rf $X" \
	-n strata-apply "$TOOL apply -n $LAYER $X" \
	-n gzip-tar "bash -c 'mkdir $X && gzip -dc $LAYER | tar -C $X -x'" \
	-n umoci-unpack "umoci unpack --image $OCI:$TAG $X" >&2
rm -rf "$X"

STRATA_GZ=$(stat -c %s "$WORK/l.tgz")
PIGZ_GZ=$(tar -C "$ROOTFS" -cf - . | pigz -6 | wc -c)
STRATA_ZST=$(stat -c %s "$WORK/l.zst")
ZSTD_ZST=$(tar -C "$ROOTFS" -cf - . | zstd -3 -q | wc -c)
"$TOOL" create -c gzip "$ROOTFS" /dev/null 2>&1 | grep -E '^(compressor|level)' | tr '\n' ' '
echo
python3 - "$WORK" "$FILES" "$TARBYTES" "$STRATA_GZ" "$PIGZ_GZ" "$STRATA_ZST" "$ZSTD_ZST" <<'PY'
import json, sys
work, files, tarbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sgz, pgz, szs, zzs = map(int, sys.argv[4:8])
def means(f):
    return {r["command"]: r["mean"] for r in json.load(open(f))["results"]}
c, a = means(work + "/create.json"), means(work + "/apply.json")
print(f"rootfs: {files} entries, {tarbytes/1e6:.1f} MB of tar")
def row(name, t, peer=None, ref=None):
    s = f"  {name:14s} {t:6.2f} s  {tarbytes/1e6/t:7.1f} MB/s  {files/t:8.0f} files/s"
    if peer: s += f"   {t/ref:.2f}x {peer}"
    print(s)
print("create:")
row("strata-gzip", c["strata-gzip"], "pigz-6", c["pigz-6"])
row("pigz-6", c["pigz-6"])
row("strata-zstd", c["strata-zstd"], "zstd-3", c["zstd-3"])
row("zstd-3", c["zstd-3"])
print(f"  size: strata-gzip {sgz} vs pigz-6 {pgz} ({100*(sgz-pgz)/pgz:+.1f}%), "
      f"strata-zstd {szs} vs zstd-3 {zzs} ({100*(szs-zzs)/zzs:+.1f}%)")
print("apply (the base image's gzip layer):")
row("strata-apply", a["strata-apply"], "gzip|tar", a["gzip-tar"])
print(f"  {'':14s} {'':6s}    {'':7s}       {'':8s}           {a['strata-apply']/a['umoci-unpack']:.2f}x umoci-unpack")
row("gzip|tar", a["gzip-tar"])
row("umoci-unpack", a["umoci-unpack"])
PY
