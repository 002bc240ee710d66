#!/bin/sh
# 54-build-output.sh: `strata build --output` (oci, docker, local, tar; dest=-; tar=false), each
# read by a peer (skopeo, umoci, oci-image-tool, podman load, GNU tar) and compared with
# `strata unpack` of the image built; bad outputs fail before the build and a failed build
# leaves nothing. Then a context given as `-`: a tar on stdin builds what the directory builds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN runs containers)"
grep -q overlay /proc/filesystems || skip_all "no overlayfs"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
st import "$T/rootfs" bb >/dev/null || { echo "Bail out! import failed"; exit 1; }
tree() { python3 "$SRCDIR/tests/integration/treeinfo.py" "$@"; }
# same_tree DESC DIR: DIR holds what `strata unpack` of out:1 holds (mtimes aside)
same_tree() {
	if [ "$(tree "$2")" = "$(tree "$T/unpacked")" ]; then ok "$1"; else
		not_ok "$1"; diag "$(tree "$2" > "$T/t1"; tree "$T/unpacked" > "$T/t2"; diff "$T/t1" "$T/t2" | head -20)"; fi
}
# config_of: the config digest a manifest on stdin names
config_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])'; }

C="$T/ctx"
mkdir -p "$C/d/sub"; echo hello > "$C/a.txt"; echo x > "$C/d/sub/x"; ln -s ../a.txt "$C/d/link"
echo s > "$C/d/exec.sh"; chmod 0750 "$C/d/exec.sh"; echo ignored > "$C/skip.log"
printf '*.log\n' > "$C/.dockerignore"
cat > "$C/Dockerfile" <<'DF'
FROM bb
COPY . /ctx/
RUN echo run > /r && rm /bin/ls && mkdir -p /opt/own && chown 12:34 /opt/own && ln /r /r.hard
DF
id=$(st build -q -t out:1 "$C" 2>"$T/log") || { cat "$T/log"; echo "Bail out! build failed"; exit 1; }
st unpack out:1 "$T/unpacked" >/dev/null || { echo "Bail out! unpack failed"; exit 1; }

# ---- type=oci ----
check "type=oci writes an oci-archive" st build -q -t out:1 -o "type=oci,dest=$T/o.tar" "$C"
if command -v skopeo >/dev/null; then
	check "skopeo reads it: the image built (same config)" \
		[ "$(skopeo inspect --raw "oci-archive:$T/o.tar:1" | config_of)" = "$id" ]
else
	skip "skopeo missing"
fi
mkdir "$T/oci" && tar -C "$T/oci" -xf "$T/o.tar"
if command -v umoci >/dev/null; then
	umoci unpack --image "$T/oci:1" "$T/bundle" >"$T/log" 2>&1
	same_tree "umoci unpack of it gives the unpacked root filesystem" "$T/bundle/rootfs"
else
	skip "umoci missing"
fi
if command -v oci-image-tool >/dev/null; then
	check "oci-image-tool validates the layout" oci-image-tool validate --type image "$T/oci"
	check "tar=false writes that layout as a directory" sh -c "st build -q -t out:1 -o 'type=oci,dest=$T/odir,tar=false' '$C' >/dev/null && oci-image-tool validate --type image '$T/odir'"
else
	skip "oci-image-tool missing"; skip "oci-image-tool missing"
fi
check "the index names the image as containerd does" sh -c "grep -q '\"io.containerd.image.name\":\"docker.io/library/out:1\"' '$T/oci/index.json'"

# ---- type=docker ----
check "type=docker writes a docker-archive named by every -t" \
	st build -q -t out:1 -t localhost/out:2 -o "type=docker,dest=$T/d.tar" "$C"
check "one manifest.json entry with both names, as docker save" sh -c "tar -xOf '$T/d.tar' manifest.json | grep -q '\"RepoTags\":\\[\"out:1\",\"localhost/out:2\"\\]'"
if command -v skopeo >/dev/null; then
	check "skopeo reads it" [ "$(skopeo inspect --raw "docker-archive:$T/d.tar:localhost/out:2" | config_of)" = "$id" ]
else
	skip "skopeo missing"
fi
if command -v podman >/dev/null; then
	podman_setup
	trap 'podman_cleanup; cleanup' EXIT
	if podman load -q -i "$T/d.tar" >"$T/log" 2>&1; then
		# podman names a short name of an archive localhost/NAME
		check "podman load takes it: both names, the image ID built" sh -c "[ \"\$(podman image inspect --format '{{.Id}}' localhost/out:2)\" = '${id#sha256:}' ] && podman image exists localhost/out:1"
	else
		not_ok "podman load takes it"; diag "$(cat "$T/log")"
	fi
	podman_cleanup
else
	skip "podman missing"
fi
check "name= names the archive's image instead of -t" sh -c "st build -q -t out:1 -o 'type=docker,name=other:7,dest=$T/n.tar' '$C' >/dev/null && tar -xOf '$T/n.tar' manifest.json | grep -q '\"RepoTags\":\\[\"other:7\"\\]'"

# ---- type=local ----
check "type=local writes the root filesystem into a directory" st build -q -o "type=local,dest=$T/loc" "$C"
same_tree "with the unpacked image's paths, modes, owners, contents, links" "$T/loc"
check "whiteouts applied, .dockerignore honoured" sh -c "[ ! -e '$T/loc/bin/ls' ] && [ ! -e '$T/loc/ctx/skip.log' ] && [ -f '$T/loc/ctx/a.txt' ]"
check "-o DIR is type=local" sh -c "st build -q -o '$T/loc2' '$C' >/dev/null && [ \"\$(tree '$T/loc2')\" = \"\$(tree '$T/loc')\" ]"
mkdir -p "$T/merge/ctx/d"; echo keep > "$T/merge/keep"; echo old > "$T/merge/r"
echo stale > "$T/merge/ctx/d/stale"; ln -s /etc "$T/merge/bin"
check "onto an existing directory it merges as BuildKit" sh -c "st build -q -o 'type=local,dest=$T/merge' '$C' >/dev/null && [ \"\$(cat '$T/merge/keep' '$T/merge/r' '$T/merge/ctx/d/stale')\" = \"\$(printf 'keep\nrun\nstale')\" ] && [ -d '$T/merge/bin' ] && [ ! -L '$T/merge/bin' ] && [ -x '$T/merge/bin/busybox' ]"

# ---- type=tar ----
check "type=tar writes the root filesystem as a tar" st build -q -o "type=tar,dest=$T/r.tar" "$C"
mkdir "$T/rx" && tar --numeric-owner --xattrs --xattrs-include='*' -C "$T/rx" -xpf "$T/r.tar"
same_tree "GNU tar extracts it to the unpacked tree" "$T/rx"
check "dest=- writes the same bytes to stdout" sh -c "st build -o type=tar,dest=- '$C' 2>/dev/null > '$T/s.tar' && cmp '$T/r.tar' '$T/s.tar'"
check "so does -o -" sh -c "st build -o - '$C' 2>/dev/null > '$T/s2.tar' && cmp '$T/r.tar' '$T/s2.tar'"
check "type=oci,dest=- too" sh -c "st build -t out:1 -o type=oci,dest=- '$C' 2>/dev/null | cmp - '$T/o.tar'"
check "the image is still stored and tagged" sh -c "st build -q -t kept:1 -o 'type=tar,dest=$T/k.tar' '$C' >/dev/null && [ \"\$(st inspect kept:1 | grep -c '$id')\" -ge 1 ]"

# ---- bad outputs: an error before any step runs ----
nostep() { ! echo "$_out" | grep -q '^#'; }
check_fails "an unknown type" 'unknown type "image"' st build -o type=image,dest=x "$C"
check_fails "an unknown key" 'unknown key "oci-mediatypes"' st build -o type=oci,dest=x,oci-mediatypes=true "$C"
check_fails "a bad compression=" 'compression=lz4: want gzip, zstd or uncompressed' st build -o type=oci,dest=x,compression=lz4 "$C"
check_fails "a missing dest" 'dest= is required' st build -o type=oci "$C"
check_fails "dest=- for a directory output" 'dest=- writes a tar' st build -o type=local,dest=- "$C"
check_fails "two --output" 'only one --output' st build -o "$T/a" -o "$T/b" "$C"
check_fails "-q with dest=-" '-q prints the image ID' st build -q -o - "$C"
check_fails "a dest in a missing directory, before the build" "cannot write '$T/none/x.tar': No such file" st build -o "type=tar,dest=$T/none/x.tar" "$C"
check "(no step ran)" nostep
check_fails "an unwritable dest, before the build" "cannot write '/proc/x.tar'" st build -o type=oci,dest=/proc/x.tar "$C"
check "(no step ran)" nostep
check_fails "a tar onto a directory" "is a directory" st build -o "type=tar,dest=$T/loc" "$C"
check_fails "a directory onto a file" "not a directory" st build -o "type=local,dest=$T/r.tar" "$C"
check_fails "a layout onto a non-empty directory" "not empty" st build -o "type=oci,tar=false,dest=$T/loc" "$C"
mkdir "$T/bad"; printf 'FROM bb\nRUN exit 3\n' > "$T/bad/Dockerfile"
for t in oci docker local tar; do
	check_fails "a failed build leaves no $t output" "exit code 3" st build -o "type=$t,dest=$T/fail-$t" "$T/bad"
done
check "(nor any temporary beside it)" sh -c "! ls -d '$T'/fail-* 2>/dev/null | grep -q ."

# ---- context - ----
tar -C "$C" -cf "$T/ctx.tar" .
check "a tar on stdin builds the directory's image (same ID)" sh -c "[ \"\$(st build -q - < '$T/ctx.tar')\" = '$id' ]"
check "also piped and gzip-compressed" sh -c "[ \"\$(tar -C '$C' -czf - . | st build -q -)\" = '$id' ]"
check ".dockerignore applies to it" sh -c "st build -q -t fromtar -o '$T/loc3' - < '$T/ctx.tar' >/dev/null && [ -f '$T/loc3/ctx/a.txt' ] && [ ! -e '$T/loc3/ctx/skip.log' ]"
mkdir "$T/c2" && cp -a "$C/." "$T/c2/" && mkdir "$T/c2/df" && mv "$T/c2/Dockerfile" "$T/c2/df/Build"
check "-f names the Dockerfile inside the tar" sh -c "a=\$(st build -q -f '$T/c2/df/Build' '$T/c2') && [ \"\$(tar -C '$T/c2' -cf - . | st build -q -f df/Build -)\" = \"\$a\" ]"
# without a cache: two fresh stores with the same base, reproducible, a COPY-only Dockerfile
printf 'FROM bb\nCOPY . /ctx/\n' > "$T/c2/df/Build"
st save -o "$T/bb.tar" bb
check "in fresh stores (no cache) the directory and the tar give one image ID" sh -c "a=\$(STRATA_ROOT='$T/s1' sh -c 'st load -i \"$T/bb.tar\" >/dev/null && st build -q --reproducible -f \"$T/c2/df/Build\" \"$T/c2\"') && b=\$(STRATA_ROOT='$T/s2' sh -c 'st load -i \"$T/bb.tar\" >/dev/null && tar -C \"$T/c2\" -cf - . | st build -q --reproducible -f df/Build -') && [ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ]"
check "a plain Dockerfile on stdin builds with an empty context" sh -c "printf 'FROM bb\nRUN echo fromstdin > /s\n' | st build -q -t plain - >/dev/null && [ \"\$(st run --rm plain cat /s)\" = fromstdin ]"
check_fails "-f - with context -" "cannot both read stdin" st build -f - - < "$T/ctx.tar"
check_fails "-f naming a file missing from the tar" "open 'nope' in the context" st build -f nope - < "$T/ctx.tar"
python3 - "$T" <<'PY'
import io, sys, tarfile
t = sys.argv[1]
def add(tf, name, data=b"", link=None):
    ti = tarfile.TarInfo(name)
    if link:
        ti.type, ti.linkname = tarfile.SYMTYPE, link
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))
with tarfile.open(t + "/evil.tar", "w") as tf:
    add(tf, "Dockerfile", b"FROM bb\nCOPY . /c/\n")
    add(tf, "../escaped", b"x")
with tarfile.open(t + "/link.tar", "w") as tf:
    add(tf, "Dockerfile", link=t + "/ctx/Dockerfile")
PY
check_fails "an entry leaving the context is refused" "'\.\./escaped': '\.\.' components are refused" st build - < "$T/evil.tar"
check "(and nothing was written outside)" [ ! -e "$T/escaped" ]
check_fails "a Dockerfile symlink resolves inside the context" "open 'Dockerfile' in the context" st build - < "$T/link.tar"
check "the extracted contexts are gone from the store's tmp" sh -c "[ -z \"\$(ls -A '$STRATA_ROOT/tmp')\" ]"
done_testing
