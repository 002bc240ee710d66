#!/bin/sh
# 53-build-cache.sh: the cached paths of strata build: a fully cached rebuild mounts nothing and
# opens no context file (the hash memo is consulted by lstat first); COPY's target-free key
# still follows everything that decides the layer (content, --from stages, the target).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN runs containers)"
grep -q overlay /proc/filesystems || skip_all "no overlayfs"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
st import "$T/rootfs" bb >/dev/null || { echo "Bail out! import failed"; exit 1; }
build() { ctx=$1; shift; st build "$@" "$ctx" > "$T/log" 2>&1; }
ran() { grep -c ' DONE ' "$T/log"; }
out() { st run --rm "$1" cat "$2" 2>/dev/null; }
# gives CTX DOCKERFILE TAG N_RAN FILE WANT [build args]: the build ran N_RAN steps (- for any)
# and FILE of the image holds WANT
gives() {
	ctx=$1 df=$2 tag=$3 n=$4 f=$5 want=$6; shift 6
	build "$ctx" -f "$df" -t "$tag" "$@" || return 1
	[ "$n" = - ] || [ "$(ran)" = "$n" ] || return 1
	[ "$(out "$tag" "$f")" = "$want" ]
}

mkdir -p "$T/c/src/sub"
echo one > "$T/c/src/uniq-4711.txt"; echo two > "$T/c/src/sub/b.txt"
cat > "$T/c/Dockerfile" <<'DF'
FROM bb
WORKDIR /app
COPY src/ /app/src/
RUN cat /app/src/uniq-4711.txt > /app/seen
DF
check "first build" build "$T/c" -t c1
check "rebuild: cached" sh -c "st build -t c1 '$T/c' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"
if command -v strace >/dev/null; then
	strace -f -o "$T/trace" -e trace=mount,openat "$STRATA" --root "$STRATA_ROOT" build -q -t c1 "$T/c" >/dev/null 2>&1
	check "a fully cached rebuild mounts nothing" sh -c "! grep -q 'mount(' '$T/trace'"
	check "and opens no context file" sh -c "! grep -q 'uniq-4711' '$T/trace'"
	touch "$T/c/src/uniq-4711.txt"
	strace -f -o "$T/trace" -e trace=mount,openat "$STRATA" --root "$STRATA_ROOT" build -t c1 "$T/c" >"$T/log" 2>&1
	check "a touched file is read again to hash it" grep -q 'uniq-4711.*O_RDONLY' "$T/trace"
	check "but the step stays cached" sh -c "! grep -q ' DONE ' '$T/log'"
else
	skip "no strace"; skip "no strace"; skip "no strace"; skip "no strace"
fi
printf 'uno\n' > "$T/c/src/uniq-4711.txt"
check "a changed file re-runs the COPY and its descendants" gives "$T/c" "$T/c/Dockerfile" c1 2 /app/seen uno
check "the first step that ran says which file changed" grep -q "^#[0-9]* rebuilt because file /app/src/uniq-4711.txt changed$" "$T/log"
check "and only the first" [ "$(grep -c 'rebuilt because' "$T/log")" = 1 ]
printf 'one\n' > "$T/c/src/uniq-4711.txt"
check "changing it back is cached again" gives "$T/c" "$T/c/Dockerfile" c1 0 /app/seen one

# COPY --from: the final stage's parent key does not change with the source stage
cat > "$T/c/Dockerfile.from" <<'DF'
FROM bb AS gen
ARG V=1
RUN echo "v$V" > /f
FROM bb
COPY --from=gen /f /f
DF
check "COPY --from a stage" gives "$T/c" "$T/c/Dockerfile.from" f1 - /f v1 --build-arg V=1
check "another source stage content re-runs it" gives "$T/c" "$T/c/Dockerfile.from" f2 2 /f v2 --build-arg V=2
check "explained by the build arg" grep -q "rebuilt because build arg V changed" "$T/log"
mkdir -p "$T/base"
printf 'FROM basex\nARG A=1\nRUN echo hi > /hi\n' > "$T/base/Dockerfile"
check "a new image under the FROM name is explained as the base image" sh -c "
	st tag bb basex && st build -t bx '$T/base' >/dev/null 2>&1 && st tag c1 basex &&
	st build -t bx '$T/base' > '$T/log' 2>&1 && grep -q 'rebuilt because the base image changed' '$T/log'"
check "--explain explains every step that ran" sh -c "st build --explain --build-arg V=4 -f '$T/c/Dockerfile.from' -t f4 '$T/c' > '$T/log' 2>&1 && [ \$(grep -c 'rebuilt because' '$T/log') = 2 ] && grep -q 'rebuilt because file /f changed' '$T/log'"
check "back to the first is cached with the first content" gives "$T/c" "$T/c/Dockerfile.from" f3 0 /f v1 --build-arg V=1

# the target decides the destination: the same COPY on another base is another key
cat > "$T/c/Dockerfile.tgt" <<'DF'
FROM bb
ARG L=dir
RUN if [ "$L" = link ]; then mkdir /srv && ln -s /srv /dst; fi
COPY src/sub/b.txt /dst/
DF
check "COPY into a symlinked directory" gives "$T/c" "$T/c/Dockerfile.tgt" t1 - /srv/b.txt two --build-arg L=link
check "and into a plain path on another base" gives "$T/c" "$T/c/Dockerfile.tgt" t2 - /dst/b.txt two --build-arg L=dir
# a step's layer is written while the RUN after it runs on its directory (build-layer.c); in
# a store of its own, so that the entries below are this Dockerfile's only
P=$T/pstore
mkdir -p "$T/p"; echo first > "$T/p/a.txt"
printf 'FROM bb\nCOPY a.txt /a.txt\nARG FAIL=0\nRUN cat /a.txt > /seen && [ "$FAIL" = 0 ]\n' > "$T/p/Dockerfile"
pst() { STRATA_ROOT=$P st "$@"; }
# pbuild TAG [TEXT STATUS]...: builds $T/p as TAG; the step showing TEXT ended STATUS
pbuild() {
	STRATA_ROOT=$P st build --progress plain -t "$1" "$T/p" > "$T/log" 2>&1 || return 1
	shift
	while [ $# -gt 1 ]; do
		n=$(grep -F "$1" "$T/log" | head -1 | cut -d' ' -f1)
		grep -q "^$n $2" "$T/log" || { cat "$T/log"; return 1; }
		shift 2
	done
}
pst import "$T/rootfs" bb >/dev/null
check "a RUN failing right after a COPY fails the build" sh -c "! STRATA_ROOT='$P' st build --build-arg FAIL=1 -t p1 '$T/p' > '$T/log' 2>&1"
check "but the COPY got its cache entry" pbuild p1 'COPY a.txt' CACHED '] RUN cat' DONE
check "the RUN saw the COPY's layer" [ "$(pst run --rm p1 cat /seen)" = first ]
# entries whose image has N layers (bb has 1: the COPY's has 2, the RUN's 3)
entries_with() {
	python3 - "$P" "$1" <<'PY'
import json, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for e in sorted(os.listdir(root + "/cache/build")):
    dg = open(root + "/cache/build/" + e).read().split()[0].split(":")[1]
    if len(json.load(open(root + "/blobs/sha256/" + dg))["layers"]) == n:
        print(root + "/cache/build/" + e)
PY
}
image_id() { pst inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Id"])'; }
id1=$(image_id p1)
check "one entry for the COPY" [ "$(entries_with 2 | wc -l)" = 1 ]
rm -f $(entries_with 2)
check "the COPY runs again when its entry is gone, the RUN after it is a hit" pbuild p2 'COPY a.txt' DONE '] RUN cat' CACHED
check "with the same image" [ "$(image_id p2)" = "$id1" ]
check "and the COPY's entry back" [ "$(entries_with 2 | wc -l)" = 1 ]
# a RUN on the pending upper of the RUN before it: its whiteouts and opaque directories hold
mkdir -p "$T/pr"
cat > "$T/pr/Dockerfile" <<'DF'
FROM bb
RUN rm -f /etc/group && rm -rf /usr && mkdir -p /usr/x && echo a > /usr/x/only
RUN echo "$(ls /usr | tr '\n' ' ')$([ -e /etc/group ] && echo group)" > /seen
DF
check "a RUN sees the deletions of the RUN just before it" sh -c "STRATA_ROOT='$P' st build -t pr '$T/pr' >/dev/null 2>&1 && [ \"\$(STRATA_ROOT='$P' st run --rm pr cat /seen)\" = 'x ' ]"

# with --no-cache a COPY copies while its key is hashed: the same layer, the same errors
layer_of() { pst inspect "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['Manifest']['layers'][$2]['digest'])"; }
same_copy_layer() { pst build --no-cache -t p3 "$T/p" >/dev/null 2>&1 && [ "$(layer_of p3 1)" = "$(layer_of p1 1)" ]; }
check "--no-cache: the COPY's layer is the one the cached build made" same_copy_layer
printf 'FROM bb\nCOPY a.txt missing.txt /d/\n' > "$T/p/Dockerfile.missing"
check_fails "--no-cache: a missing COPY source" "missing.txt" sh -c "STRATA_ROOT='$P' st build --no-cache -f '$T/p/Dockerfile.missing' '$T/p'"
check "and the failed copy left nothing in tmp/" [ -z "$(ls "$P/tmp")" ]
check "fsck of that store" pst fsck

check "builder prune drops the COPY key map too" sh -c "st builder prune >/dev/null 2>&1 && [ ! -e '$STRATA_ROOT/cache/copy-key' ]"
check "fsck" st fsck
done_testing
