#!/bin/sh
# 33-registry-parallel.sh: push sends the blobs of an image in parallel, against Debian's
# docker-registry on 127.0.0.1: every blob is HEADed exactly once, only the missing ones are
# uploaded, the ones another repository holds are mounted, the manifest goes last; with one
# connection (parallel 1) the same; a blob that cannot be read fails the push naming it, and no
# manifest is put.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
S="timeout 120 $STRATA"
R=$STRATA_ROOT
P=$(free_port)
REG=127.0.0.1:$P
start_registry "$T/reg" "$P"
st import -c 'CMD ["echo", "hi"]' "$T/rootfs" busybox >/dev/null || { echo "Bail out! import failed"; exit 1; }

# par:1 is busybox + L1, par:3 is par:1 + L2 + L3 (random layers of 2, 3 and 4 MB)
st save --format oci-archive -o "$T/bb.tar" busybox
mkdir -p "$T/l0" && tar -C "$T/l0" -xf "$T/bb.tar"
python3 "$REGTOOL" addlayer "$T/l0" "$T/l1" docker.io/library/par:1 2000000
python3 "$REGTOOL" addlayer "$T/l1" "$T/l2" docker.io/library/par:2 3000000
python3 "$REGTOOL" addlayer "$T/l2" "$T/l3" docker.io/library/par:3 4000000
st load -i "$T/l1" >/dev/null && st load -i "$T/l3" >/dev/null || { echo "Bail out! load failed"; exit 1; }
set -- $(digests "$R" par:3)
CFG3=$2 BASE=$3 L1=$4 L2=$5 L3=$6

# count PATTERN: lines of the registry log since the mark matching PATTERN
count() { log_since "$T/reg" | grep -c -- "$1" || true; }
# each_once REPO DIGEST...: every digest HEADed exactly once in REPO since the mark
each_once() {
	_r=$1; shift
	for _d in "$@"; do
		[ "$(count "\"HEAD /v2/$_r/blobs/$_d")" = 1 ] || { echo "$_d HEADed $(count "\"HEAD /v2/$_r/blobs/$_d") times"; return 1; }
	done
}

log_mark "$T/reg"
check "push of a three-blob image" $S push -q par:1 "$REG/par/a:1"
check "three uploads" test "$(uploads_since "$T/reg" | grep -c 'digest=')" = 3

log_mark "$T/reg"
check "push of the five-blob image sharing two layers with it" $S push -q par:3 "$REG/par/a:3"
check "every blob HEADed once" each_once par/a "$CFG3" "$BASE" "$L1" "$L2" "$L3"
up=$(uploads_since "$T/reg")
if [ "$(echo "$up" | grep -c 'digest=')" = 3 ] && echo "$up" | grep -q "${L2#sha256:}" &&
	echo "$up" | grep -q "${L3#sha256:}" && ! echo "$up" | grep -qE "${BASE#sha256:}|${L1#sha256:}"; then
	ok "only the config and the two new layers uploaded"
else
	not_ok "only the config and the two new layers uploaded"; diag "$up"
fi
check "the manifest last" test "$(log_since "$T/reg" | tail -1)" = '"PUT /v2/par/a/manifests/3'
check "pull gives the same digests" sh -c "$S --root '$T/r1' pull -q '$REG/par/a:3' >/dev/null && [ \"\$(digests '$R' par:3)\" = \"\$(digests '$T/r1' '$REG/par/a:3')\" ]"

log_mark "$T/reg"
check "push to another repository" $S push -q par:3 "$REG/other/b:3"
check "no byte uploaded" test -z "$(uploads_since "$T/reg")"
check "all five blobs mounted from par/a" test "$(count '"POST /v2/other/b/blobs/uploads/?mount=.*&from=par/a')" = 5

# one connection: the same requests, one after the other
printf 'parallel 1\n' > "$T/one.conf"
log_mark "$T/reg"
check "push with parallel 1" env STRATA_CONFIG="$T/one.conf" $S push -q par:3 "$REG/seq/c:3"
check "every blob HEADed once" each_once seq/c "$CFG3" "$BASE" "$L1" "$L2" "$L3"
check "all five mounted" test "$(count '"POST /v2/seq/c/blobs/uploads/?mount=')" = 5

# a blob the store cannot give: the push fails naming it, and puts no manifest
cp -a "$R" "$T/broken"
rm -rf "$T/broken/blobs/sha256/${L2#sha256:}" "$T/broken/registry/sources"
log_mark "$T/reg"
check_fails "a missing layer fails the push naming it" "${L2#sha256:}" $S --root "$T/broken" push par:3 "$REG/fail/d:3"
check "and no manifest was put" test "$(count '"PUT /v2/fail/d/manifests/')" = 0

done_testing
