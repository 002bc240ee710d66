#!/bin/sh
# 30-registry.sh: push and pull against Debian's docker-registry (the Distribution registry) on
# 127.0.0.1: same digests both ways, skopeo interop both ways, no layer byte uploaded twice (a
# second tag, a shared base), a multi-platform index, and a blob tampered with in storage.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
command -v skopeo >/dev/null || skip_all "skopeo missing (scripts/install-deps.sh)"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
S="timeout 120 $STRATA"
R=$STRATA_ROOT
P=$(free_port)
REG=127.0.0.1:$P
start_registry "$T/reg" "$P"
st import -c 'CMD ["echo", "hi"]' "$T/rootfs" busybox >/dev/null || { echo "Bail out! import failed"; exit 1; }

# push, then pull into an empty store
log_mark "$T/reg"
check "push to $REG" $S push -q busybox "$REG/test/bb:1"
check "pull into an empty store" sh -c "$S -v --root '$T/r1' pull -q '$REG/test/bb:1' 2>'$T/pull1.err'"
check "its layer extracted while it downloaded" grep -q "layer $(digests "$R" busybox | cut -d' ' -f3): extracted during its download" "$T/pull1.err"
# one layer: its chain ID is its diffID
check "its snapshot is in place" sh -c "d=\$('$STRATA' --root '$T/r1' inspect '$REG/test/bb:1' | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"Config\"][\"rootfs\"][\"diff_ids\"][0][7:])'); [ -d '$T/r1/snapshots/'\$d ]"
check "same manifest, config and layer digests" sh -c "[ \"\$(digests '$R' busybox)\" = \"\$(digests '$T/r1' '$REG/test/bb:1')\" ]"
check "fsck of the pulled store" $S --root "$T/r1" fsck
log_mark "$T/reg"
check "pull again: everything already there" sh -c "$S --root '$T/r1' pull '$REG/test/bb:1' 2>&1 | grep -q 'Already exists'"
got=$(log_since "$T/reg" | grep 'GET /v2/test/bb/blobs/' || true)
if [ -z "$got" ]; then ok "and no blob was downloaded again"; else not_ok "and no blob was downloaded again"; diag "$got"; fi
check "pull by digest" sh -c "d=\$(digests '$R' busybox | cut -d' ' -f1); $S --root '$T/r1b' pull -q '$REG/test/bb@'\$d | grep -q \"^\$d\$\""

# a second tag and a shared base move no layer byte
log_mark "$T/reg"
check "push of a second tag" $S push -q busybox "$REG/test/bb:2"
up=$(uploads_since "$T/reg")
if [ -z "$up" ]; then ok "second tag: no blob bytes uploaded"; else not_ok "second tag: no blob bytes uploaded"; diag "$up"; fi
st save --format oci-archive -o "$T/bb-oci.tar" busybox
mkdir -p "$T/bb-layout" && tar -C "$T/bb-layout" -xf "$T/bb-oci.tar"
python3 "$REGTOOL" addlayer "$T/bb-layout" "$T/app-layout" docker.io/library/app:1 3000000
check "load an image sharing busybox's layer" sh -c "st load -i '$T/app-layout' | grep -q app:1"
base=$(digests "$R" busybox | cut -d' ' -f3)
log_mark "$T/reg"
check "push of the image sharing the base to another repository" $S push -q app:1 "$REG/test/app:1"
up=$(uploads_since "$T/reg")
if ! echo "$up" | grep -q "${base#sha256:}" && [ "$(echo "$up" | grep -c 'digest=')" = 2 ]; then
	ok "shared base: only the new layer and config uploaded"
else
	not_ok "shared base: only the new layer and config uploaded"; diag "$up"
fi
got=$(log_since "$T/reg" | grep -F "POST /v2/test/app/blobs/uploads/?mount=$base&from=test/bb" || true)
if [ -n "$got" ]; then ok "the shared layer was mounted across repositories"; else not_ok "the shared layer was mounted across repositories"; log_since "$T/reg" | diag "$(cat)"; fi
check "pull of the two-layer image" sh -c "$S --root '$T/r2' pull -q '$REG/test/app:1' && [ \"\$(digests '$R' app:1)\" = \"\$(digests '$T/r2' '$REG/test/app:1')\" ]"

# skopeo reads what Strata pushed, and Strata pulls what skopeo pushed
check "skopeo copy of what strata pushed" skopeo copy -q --src-tls-verify=false "docker://$REG/test/bb:1" "oci:$T/sk:1"
check "keeps the manifest digest" sh -c "grep -q \"\$(digests '$R' busybox | cut -d' ' -f1)\" '$T/sk/index.json'"
check "skopeo push from an OCI layout" skopeo copy -q --dest-tls-verify=false "oci:$T/app-layout:docker.io/library/app:1" "docker://$REG/sk/app:1"
check "strata pulls it with the same digests" sh -c "$S --root '$T/r3' pull -q '$REG/sk/app:1' && [ \"\$(digests '$R' app:1)\" = \"\$(digests '$T/r3' '$REG/sk/app:1')\" ]"
st save -o "$T/bb-docker.tar" busybox
check "skopeo push from a docker-archive" skopeo copy -q --dest-tls-verify=false "docker-archive:$T/bb-docker.tar" "docker://$REG/sk/da:1"
check "strata pulls it (same image ID)" sh -c "$S --root '$T/r4' pull -q '$REG/sk/da:1' && [ \"\$(digests '$T/r4' '$REG/sk/da:1' | cut -d' ' -f2)\" = \"\$(digests '$R' busybox | cut -d' ' -f2)\" ] && $S --root '$T/r4' fsck"

# a multi-platform index
check "push the amd64 image for the index" $S push -q busybox "$REG/test/multi:1"
arm=$(python3 "$REGTOOL" mkindex "$REG" test/multi 1 2>&1)
check "the index picks linux/amd64" sh -c "$S --root '$T/r5' pull -q '$REG/test/multi:1' >/dev/null && [ \"\$(digests '$T/r5' '$REG/test/multi:1' | cut -d' ' -f2)\" = \"\$(digests '$R' busybox | cut -d' ' -f2)\" ]"
check "--platform linux/arm64 picks arm64" sh -c "$S --root '$T/r6' pull -q --platform linux/arm64 '$REG/test/multi:1' >/dev/null && [ \"\$(digests '$T/r6' '$REG/test/multi:1' | cut -d' ' -f2)\" = '$arm' ]"
check_fails "--platform linux/s390x is refused naming what is on offer" "linux/amd64" $S --root "$T/r7" pull --platform linux/s390x "$REG/test/multi:1"
check "--all-platforms keeps the index and both manifests" sh -c "$S --root '$T/r8' pull -q --all-platforms '$REG/test/multi:1' && '$STRATA' --root '$T/r8' fsck && grep -q 'image.index' '$T/r8/index.json'"
check "push of the index to another repository" sh -c "$S --root '$T/r8' push -q '$REG/test/multi:1' '$REG/copy/multi:1' && skopeo inspect --raw --tls-verify=false 'docker://$REG/copy/multi:1' | grep -q arm64"

# errors that name what is wrong
check_fails "a missing tag: 404 naming registry and repository" "$REG, repository test/bb.*not found" $S --root "$T/r9" pull "$REG/test/bb:nope"
check_fails "a missing repository" "repository nope/nope.*not found" $S --root "$T/r9" pull "$REG/nope/nope:1"

# a blob whose stored bytes no longer match its digest
layer=$(digests "$R" busybox | cut -d' ' -f3 | cut -d: -f2)
f="$T/reg/data/docker/registry/v2/blobs/sha256/$(echo "$layer" | cut -c1-2)/$layer/data"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[100]^=0xff; open(p,"wb").write(b)' "$f"
check_fails "a tampered blob: error naming the digest" "$layer" $S --root "$T/r10" pull "$REG/test/bb:1"
check "nothing of it stored, no tag" sh -c "[ ! -e '$T/r10/blobs/sha256/$layer' ] && [ -z \"\$('$STRATA' --root '$T/r10' images -q)\" ]"
check "no snapshot, no temporary tree" sh -c "[ -z \"\$(ls -A '$T/r10/snapshots' 2>/dev/null | grep -v '^\.locks\$\|^\.holds\$')\" ]"

done_testing
