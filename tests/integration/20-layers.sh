#!/bin/sh
# 20-layers.sh: layers Strata writes and applies, checked against umoci and GNU tar: unpack of a
# generated image with whiteouts, opaque directories, hardlinks, symlinks and xattrs; import of
# such a tree read back by umoci and tar; the Debian minbase rootfs (debootstrap, cached under
# the build directory) unpacked by Strata and by umoci to the same tree; image diff.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (ownership, devices, trusted xattrs)"
command -v umoci >/dev/null || skip_all "umoci missing (scripts/install-deps.sh)"
command -v skopeo >/dev/null || skip_all "skopeo missing (scripts/install-deps.sh)"
R=$STRATA_ROOT

# tree_of DIR [EXCLUDE...]: what a layer must keep of every path (tests/integration/treeinfo.py)
tree_of() { python3 "$SRCDIR/tests/integration/treeinfo.py" "$@"; }

# 1. a tree with every kind of entry, imported, then read back by umoci and tar
src=$T/src
mkdir -p "$src/d/sub" "$src/empty" "$src/opaque/keep"
echo hello > "$src/d/file"
ln "$src/d/file" "$src/d/hardlink"
ln -s file "$src/d/symlink"
ln -s /nonexistent/abs "$src/d/dangling"
mkfifo "$src/fifo"
mknod "$src/null" c 1 3
chmod 4755 "$src/d/file"; chmod 1777 "$src/empty"
chown 1000:50 "$src/d/sub"
setfattr -n user.note -v strata "$src/d/file" 2>/dev/null
head -c 100000 /dev/urandom > "$src/opaque/keep/blob"
check "import of a tree with hardlinks, symlinks, devices, fifos, xattrs" st import "$src" kinds:1
check "strata unpack" st unpack kinds:1 "$T/u-strata"
check "umoci unpack of the layer Strata wrote" sh -c "umoci unpack --image '$R:docker.io/library/kinds:1' '$T/u-umoci' >/dev/null"
layer=$(st inspect kinds:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Manifest"]["layers"][0]["digest"][7:])')
mkdir "$T/u-tar" && tar --xattrs --xattrs-include='*' -C "$T/u-tar" -xzf "$R/blobs/sha256/$layer"
tree_of "$src" > "$T/t-src"
tree_of "$T/u-strata" > "$T/t-strata"
tree_of "$T/u-umoci/rootfs" > "$T/t-umoci"
tree_of "$T/u-tar" > "$T/t-tar"
check "strata unpack = source tree" diff "$T/t-src" "$T/t-strata"
check "umoci unpack = source tree" diff "$T/t-src" "$T/t-umoci"
check "GNU tar = source tree" diff "$T/t-src" "$T/t-tar"
check "hardlink kept as a hardlink" sh -c "[ \$(stat -c %i '$T/u-strata/d/file') = \$(stat -c %i '$T/u-strata/d/hardlink') ]"
check "gzip -t of the layer" gzip -t "$R/blobs/sha256/$layer"
check "Python tarfile reads the stream (r|gz)" python3 -c "import tarfile,sys; t=tarfile.open(sys.argv[1], 'r|gz'); [m for m in t]" "$R/blobs/sha256/$layer"
check "PAX entries, no GNU sparse" sh -c "! tar -tvzf '$R/blobs/sha256/$layer' --format=posix 2>&1 | grep -q GNUSparse"

# 2. a two-layer image with whiteouts and an opaque directory, made by hand (Python tarfile)
mkdir "$T/layout"
python3 - "$T/layout" <<'PY'
import hashlib, io, json, os, sys, tarfile, gzip
out = sys.argv[1]
os.makedirs(f"{out}/blobs/sha256")
def blob(b):
    d = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(b)
    return "sha256:" + d, len(b)
def tar(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name); ti.mtime = 1000
            if kind == "d": ti.type = tarfile.DIRTYPE; ti.mode = 0o755; t.addfile(ti)
            elif kind == "l": ti.type = tarfile.SYMTYPE; ti.linkname = data; t.addfile(ti)
            else: ti.size = len(data); ti.mode = 0o644; t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
l1 = tar([("a", "d", None), ("a/x", "f", b"x1"), ("a/y", "f", b"y1"), ("b", "d", None),
          ("b/old", "f", b"old"), ("c", "f", b"c1"), ("lnk", "l", "a/x"), ("gone", "d", None), ("gone/f", "f", b"f")])
l2 = tar([("a", "d", None), ("a/.wh.y", "f", b""), ("a/z", "f", b"z2"), ("b", "d", None),
          ("b/.wh..wh..opq", "f", b""), ("b/new", "f", b"new"), (".wh.c", "f", b""),
          (".wh.gone", "f", b""), ("c", "d", None), ("c/now-a-dir", "f", b"d")])
layers, diffs = [], []
for raw in (l1, l2):
    diffs.append("sha256:" + hashlib.sha256(raw).hexdigest())
    gz = gzip.compress(raw, mtime=0)
    d, n = blob(gz)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n})
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
cd, cn = blob(cfg)
man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
                  "layers": layers}).encode()
md, mn = blob(man)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": mn, "annotations": {"org.opencontainers.image.ref.name": "wh"}}]},
          open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
check "load the whiteout image" st load --name localhost/wh -i "$T/layout"
check "strata unpack of it" st unpack localhost/wh:wh "$T/w-strata"
check "umoci unpack of it" sh -c "umoci unpack --image '$T/layout:wh' '$T/w-umoci' >/dev/null"
tree_of "$T/w-strata" > "$T/t-w-strata"
tree_of "$T/w-umoci/rootfs" > "$T/t-w-umoci"
check "whiteouts, opaque dir, file replaced by a dir: strata = umoci" diff "$T/t-w-umoci" "$T/t-w-strata"
check "the deleted and hidden paths are gone" sh -c "[ ! -e '$T/w-strata/a/y' ] && [ ! -e '$T/w-strata/b/old' ] && [ ! -e '$T/w-strata/gone' ] && [ -f '$T/w-strata/c/now-a-dir' ]"

# 3. image diff
mkdir -p "$T/v2" && cp -a "$src/." "$T/v2/" && rm "$T/v2/d/symlink" && echo new > "$T/v2/added" && echo changed >> "$T/v2/d/file"
st import "$T/v2" kinds:2 >/dev/null
st image diff kinds:1 kinds:2 > "$T/diff" 2>&1
check "image diff: A added" grep -qx "A /added" "$T/diff"
check "image diff: D deleted" grep -qx "D /d/symlink" "$T/diff"
check "image diff: C changed" grep -qx "C /d/file" "$T/diff"
check "image diff: nothing else unchanged reported" sh -c "! grep -q ' /opaque/keep/blob' '$T/diff'"

# 4. the Debian minbase rootfs: strata unpack = umoci unpack
deb=""
if [ -f /tmp/peers-base/debian-rootfs/.peers-debootstrap-done ]; then
	deb=/tmp/peers-base/debian-rootfs
elif [ -n "${BUILDDIR:-}" ] && command -v debootstrap >/dev/null; then
	deb=$BUILDDIR/cache/debian-rootfs
	if [ ! -f "$deb/.strata-done" ]; then
		rm -rf "$deb"; mkdir -p "$BUILDDIR/cache"
		if timeout 600 debootstrap --variant=minbase bookworm "$deb" http://deb.debian.org/debian >"$BUILDDIR/cache/debootstrap.log" 2>&1; then
			touch "$deb/.strata-done"
		else
			deb=""
		fi
	fi
fi
if [ -n "$deb" ]; then
	check "import Debian minbase" st import "$deb" debian:minbase
	check "strata unpack of Debian minbase" st unpack debian:minbase "$T/deb-strata"
	check "umoci unpack of Debian minbase" sh -c "umoci unpack --image '$R:docker.io/library/debian:minbase' '$T/deb-umoci' >/dev/null"
	tree_of "$T/deb-strata" > "$T/t-deb-strata"
	tree_of "$T/deb-umoci/rootfs" > "$T/t-deb-umoci"
	check "Debian minbase: strata = umoci ($(wc -l < "$T/t-deb-strata") paths)" diff "$T/t-deb-umoci" "$T/t-deb-strata"
	tree_of "$deb" .peers-debootstrap-done .strata-done > "$T/t-deb-src"
	tree_of "$T/deb-strata" .peers-debootstrap-done .strata-done > "$T/t-deb-strata2"
	check "Debian minbase: strata = source tree" diff "$T/t-deb-src" "$T/t-deb-strata2"
	rm -rf "$T/deb-strata" "$T/deb-umoci"
else
	skip "no Debian minbase rootfs (debootstrap could not reach Debian's mirror)"
fi
check "fsck" st fsck
done_testing
