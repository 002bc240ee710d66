#!/bin/bash
# bench/layers.sh: layer creation and apply, Strata against its peers in the same run, on the
# Debian minbase rootfs of ../shared/bench/make-bases.sh (page cache warm).
#   create: layer-tool create (gzip, zstd)  vs  tar -cf - . | pigz -6 | sha256sum,  | zstd -3
#   apply:  layer-tool apply (flat; default file threads, and -t 1)  vs  gzip -dc | tar -x,
#           umoci unpack
# Prints median wall and CPU times, ratios, MB/s (uncompressed tar bytes) and files/s.
# usage: bench/layers.sh [BUILD_DIR]   (default: build; needs src/lib/libstrata.a built there)
# env: ROOTFS (default /tmp/peers-base/debian-rootfs), OCI (default /tmp/peers-base/oci-debian),
#      RUNS (default 5), WORK (default /tmp/strata-bench-layers), BEFORE_LIB (an older
#      libstrata.a: its layer-tool joins the create and apply rounds as strata-before-*), PARTS
#      (default "create apply": which duels to run)
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
ROOTFS=${ROOTFS:-/tmp/peers-base/debian-rootfs}
OCI=${OCI:-/tmp/peers-base/oci-debian}
RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/strata-bench-layers}
PARTS=" ${PARTS:-create apply} "

for t in pigz zstd umoci python3 cc pkg-config; do
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
LIBS="$(pkg-config --libs libarchive zlib libzstd libcrypto jansson libisal libseccomp libdeflate) -lpthread"
# shellcheck disable=SC2086
cc -O2 -I"$SRC/include" "$SRC/tests/tools/layer-tool.c" "$BUILD/src/lib/libstrata.a" $LIBS \
	-o "$TOOL"
BEFORE=()
if [ -n "${BEFORE_LIB:-}" ]; then
	# shellcheck disable=SC2086
	cc -O2 -I"$SRC/include" "$SRC/tests/tools/layer-tool.c" "$BEFORE_LIB" $LIBS \
		-o "$WORK/layer-tool-before"
	BEFORE=("strata-before-gzip||$WORK/layer-tool-before create -c gzip $ROOTFS $WORK/b.tgz"
		"strata-before-zstd||$WORK/layer-tool-before create -c zstd $ROOTFS $WORK/b.zst")
fi

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

X=$WORK/trees/x
BEFORE_APPLY=()
if [ -n "${BEFORE_LIB:-}" ]; then
	BEFORE_APPLY=("strata-before-apply|sync|$WORK/layer-tool-before apply -n $LAYER $X{n}")
fi
# Tools run in alternation, one run of each per round (the vCPU speed drifts and other work may
# share the machine: series after series would turn that into false differences). Each ratio is
# the median of the per-round ratios; wall and CPU (user+sys of the whole process tree) medians.
duel() { # NAME then "label|prepare|command" ...
	python3 - "$RUNS" "$WORK/$1.json" "${@:2}" <<'PY'
import json, os, resource, subprocess, sys, time
runs, out, specs = int(sys.argv[1]), sys.argv[2], [a.split("|", 2) for a in sys.argv[3:]]
res = {name: {"wall": [], "cpu": []} for name, _, _ in specs}
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
n = 0  # {n} in a command: a number of its own for every run (a fresh directory)
for rnd in range(runs + 1):  # round 0 is the warm-up
    order = specs[rnd % len(specs):] + specs[:rnd % len(specs)]
    for name, prep, cmd in order:
        n += 1
        cmd = cmd.replace("{n}", str(n))
        if prep:
            subprocess.run(prep, shell=True, check=True)
        c0, t0 = cpu(), time.monotonic()
        subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
        t1, c1 = time.monotonic(), cpu()
        if rnd:
            res[name]["wall"].append(t1 - t0)
            res[name]["cpu"].append(c1 - c0)
json.dump(res, open(out, "w"))
PY
}
if [[ $PARTS == *" create "* ]]; then
	duel create "${BEFORE[@]}" \
		"strata-gzip||$TOOL create -c gzip $ROOTFS $WORK/l.tgz" \
		"pigz-6||tar -C $ROOTFS -cf - . | pigz -6 | sha256sum" \
		"strata-zstd||$TOOL create -c zstd $ROOTFS $WORK/l.zst" \
		"zstd-3||tar -C $ROOTFS -cf - . | zstd -3 -q | sha256sum"
fi
if [[ $PARTS == *" apply "* ]]; then
	# Every run extracts into a directory of its own ({n}: the run's number) on a file system
	# made for the benchmark, deleted only after the last round. An ext4 where trees were just
	# deleted (the previous run's, or any within the last minutes) makes the allocator skip the
	# recently freed inodes one by one for each file created (`recently_deleted`): the same
	# cost for every tool, up to half of a run, and most of the rounds' spread. Without a loop
	# device the trees go under $WORK, and the numbers carry that noise.
	mkdir -p "$WORK/trees"
	if truncate -s 8G "$WORK/fs.img" && mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 \
		"$WORK/fs.img" && mount -o loop "$WORK/fs.img" "$WORK/trees"; then
		LOOPFS=1
	else
		echo "layers.sh: no loop-mounted ext4 for the trees; they go under $WORK" >&2
		LOOPFS=0
	fi
	duel apply "${BEFORE_APPLY[@]}" \
		"strata-apply|sync|$TOOL apply -n $LAYER $X{n}" \
		"strata-apply-1t|sync|$TOOL apply -n -t 1 $LAYER $X{n}" \
		"gzip-tar|sync|mkdir $X{n} && gzip -dc $LAYER | tar -C $X{n} -x" \
		"umoci-unpack|sync|umoci unpack --image $OCI:$TAG $X{n} >/dev/null"
	[ "$LOOPFS" = 1 ] && umount "$WORK/trees"
	rm -rf "$WORK/trees" "$WORK/fs.img"
fi

SIZES=(0 0 0 0)
if [[ $PARTS == *" create "* ]]; then
	SIZES=("$(stat -c %s "$WORK/l.tgz")" "$(tar -C "$ROOTFS" -cf - . | pigz -6 | wc -c)"
		"$(stat -c %s "$WORK/l.zst")" "$(tar -C "$ROOTFS" -cf - . | zstd -3 -q | wc -c)")
	"$TOOL" create -c gzip "$ROOTFS" /dev/null 2>&1 | grep -E '^(compressor|level)' | tr '\n' ' '
	echo
fi
python3 - "$WORK" "$FILES" "$TARBYTES" "${SIZES[@]}" <<'PY'
import json, statistics as st, sys
work, files, tarbytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sgz, pgz, szs, zzs = map(int, sys.argv[4:8])
def load(part):
    try:
        return json.load(open(f"{work}/{part}.json"))
    except FileNotFoundError:
        return None
c, a = load("create"), load("apply")
n = len(next(iter((c or a).values()))["wall"])
print(f"rootfs: {files} entries, {tarbytes/1e6:.1f} MB of tar; medians of {n} rounds")
# wall/cpu: medians; min: the least disturbed run; ratio: median of the per-round ratios, then
# the ratio of the minima (under load from other work the second is the steadier one)
print(f"  {'':18s} {'wall':>7s} {'min':>7s} {'cpu':>7s} {'MB/s':>7s} {'files/s':>8s}  ratio (median / of minima)")
def row(d, name, *peers):
    t, m = st.median(d[name]["wall"]), min(d[name]["wall"])
    s = (f"  {name:18s} {t:6.2f}s {m:6.2f}s {st.median(d[name]['cpu']):6.2f}s "
         f"{tarbytes/1e6/t:7.1f} {files/t:8.0f}")
    for p in peers:
        r = st.median(x / y for x, y in zip(d[name]["wall"], d[p]["wall"]))
        s += f"  {r:.2f}x / {m / min(d[p]['wall']):.2f}x {p}"
    print(s)
if c:
    print("create:")
    row(c, "strata-gzip", "pigz-6")
    if "strata-before-gzip" in c:
        row(c, "strata-before-gzip", "pigz-6")
    row(c, "pigz-6")
    row(c, "strata-zstd", "zstd-3")
    if "strata-before-zstd" in c:
        row(c, "strata-before-zstd", "zstd-3")
    row(c, "zstd-3")
    print(f"  size: strata-gzip {sgz} vs pigz-6 {pgz} ({100*(sgz-pgz)/pgz:+.1f}%), "
          f"strata-zstd {szs} vs zstd-3 {zzs} ({100*(szs-zzs)/zzs:+.1f}%)")
if a:
    print("apply (the base image's gzip layer):")
    row(a, "strata-apply", "gzip-tar", "umoci-unpack")
    if "strata-before-apply" in a:
        row(a, "strata-before-apply", "gzip-tar", "umoci-unpack")
        row(a, "strata-apply", "strata-before-apply")
    row(a, "strata-apply-1t", "gzip-tar", "umoci-unpack")
    row(a, "gzip-tar")
    row(a, "umoci-unpack")
PY
