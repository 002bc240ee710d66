#!/bin/sh
# 10-store.sh: import, images, tag, rmi, gc, fsck, and the store as an OCI layout that skopeo,
# umoci and oci-image-tool read. Also what must not happen: bad input changing the store.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (file ownership in layers)"
command -v skopeo >/dev/null || skip_all "skopeo missing (scripts/install-deps.sh)"

R=$STRATA_ROOT
REF=docker.io/library/busybox:latest
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"

check "import a directory" sh -c "st import '$T/rootfs' busybox > '$T/id1'"
check "prints the image ID (config digest)" grep -qE '^sha256:[0-9a-f]{64}$' "$T/id1"
id=$(cat "$T/id1")
check "images lists it by familiar name and short ID" sh -c "st images | grep -E '^busybox +latest +${id#sha256:}' | cut -c1-12 >/dev/null && st images | grep -q '$(echo "${id#sha256:}" | cut -c1-12)'"
check "images -q prints the short ID" sh -c "[ \"\$(st images -q)\" = '$(echo "${id#sha256:}" | cut -c1-12)' ]"
check "images --format json" sh -c "st images --format json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[0][\"Repository\"]==\"busybox\", d'"
check "inspect shows config and manifest" sh -c "st inspect busybox | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; assert d[\"Id\"]==\"$id\"; assert d[\"Config\"][\"rootfs\"][\"type\"]==\"layers\"; assert len(d[\"Manifest\"][\"layers\"])==1'"
check "inspect by ID prefix" sh -c "st inspect $(echo "${id#sha256:}" | cut -c1-8) >/dev/null"
check "history has the import" sh -c "st history busybox | grep -q 'strata import'"

# every blob file's name is its sha256
bad=0
for f in "$R"/blobs/sha256/*; do
	[ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || bad=1
done
check "blob names equal sha256sum of their files" [ $bad = 0 ]

n1=$(ls "$R/blobs/sha256" | wc -l)
check "importing the same rootfs again" st import "$T/rootfs" busybox:again
n2=$(ls "$R/blobs/sha256" | wc -l)
# the layer is shared; config differs only by its created time (and so does the manifest)
check "stores the layer once (at most a new config and manifest)" [ $((n2 - n1)) -le 2 ]

# a tarball of the same tree gives the same layer (deterministic layers)
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
check "import a tarball" sh -c "SOURCE_DATE_EPOCH=0 st import '$T/rootfs.tar' fromtar:1 >/dev/null && SOURCE_DATE_EPOCH=0 st import '$T/rootfs' fromdir:1 >/dev/null"
l1=$(st inspect fromtar:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Manifest"]["layers"][0]["digest"])')
l2=$(st inspect fromdir:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Manifest"]["layers"][0]["digest"])')
check "tarball and directory give the same layer digest" [ "$l1" = "$l2" ]
check "same SOURCE_DATE_EPOCH, same image ID" sh -c "[ \"\$(st inspect fromtar:1 | grep '\"Id\"')\" = \"\$(st inspect fromdir:1 | grep '\"Id\"')\" ]"
check "import from stdin with --change" sh -c "gzip -c '$T/rootfs.tar' | st import -c 'CMD [\"sh\"]' -c 'ENV A=b C=\"d e\"' -c 'WORKDIR /w' - changed:1 >/dev/null"
check "--change edits the config" sh -c "st inspect changed:1 | python3 -c 'import json,sys; c=json.load(sys.stdin)[0][\"Config\"][\"config\"]; assert c[\"Cmd\"]==[\"sh\"], c; assert \"C=d e\" in c[\"Env\"], c; assert c[\"WorkingDir\"]==\"/w\", c'"

# the store is an OCI layout other tools read
check "skopeo inspect oci:ROOT:ref" sh -c "skopeo inspect 'oci:$R:$REF' | grep -q '\"Digest\"'"
if command -v umoci >/dev/null; then
	check "umoci unpack" sh -c "umoci unpack --image '$R:$REF' '$T/bundle' >/dev/null && [ -x '$T/bundle/rootfs/bin/busybox' ]"
	check "umoci's rootfs equals the source tree" sh -c "cd '$T/rootfs' && find . | sort > '$T/a' && cd '$T/bundle/rootfs' && find . | sort > '$T/b' && cmp '$T/a' '$T/b'"
else
	skip "umoci missing"; skip "umoci missing"
fi
if command -v oci-image-tool >/dev/null; then
	# oci-image-tool 1.0.0-rc1 calls a name "not unique" as soon as index.json has two
	# entries, so the copy's index holds only the image under test
	mkdir "$T/copy" && cp -al "$R/oci-layout" "$R/blobs" "$T/copy/"
	python3 -c 'import json,sys; ix=json.load(open(sys.argv[1])); ix["manifests"]=[m for m in ix["manifests"] if m.get("annotations",{}).get("org.opencontainers.image.ref.name")==sys.argv[2]]; json.dump(ix,open(sys.argv[3],"w"))' "$R/index.json" "$REF" "$T/copy/index.json"
	check "oci-image-tool validate --type image (manifest, config, layers)" \
		oci-image-tool validate --type image --ref "name=$REF" "$T/copy"
else
	skip "oci-image-tool missing"
fi

# tags
check "tag" st tag busybox localhost/strata/busybox:1
check "tagged name resolves to the same ID" sh -c "st inspect localhost/strata/busybox:1 | grep -q '$id'"
check "rmi by name untags" sh -c "st rmi localhost/strata/busybox:1 | grep -q 'Untagged: localhost/strata/busybox:1'"
check_fails "rmi of an unknown image" "no such image" st rmi nosuch:image
check "moving a tag leaves an untagged image" sh -c "SOURCE_DATE_EPOCH=5 st import '$T/rootfs' mover:1 >/dev/null && st tag changed:1 mover:1 && st images | grep -q '<none>'"
check "image prune removes it" sh -c "st image prune | grep -q 'Deleted 1 untagged image'"
check "fsck passes" st fsck

# bad input: clear error, nothing changes
before=$(ls "$R/blobs/sha256" | sort | sha256sum)
head -c 3000 "$T/rootfs.tar" > "$T/truncated.tar"
check_fails "truncated tarball" "truncated|unexpected|premature|EOF|damaged" st import "$T/truncated.tar" bad:1
printf 'this is not a tar archive at all, not even close...%0600d' 0 > "$T/garbage.tar"
check_fails "garbage tarball" "tar|format|unrecognized|archive" st import "$T/garbage.tar" bad:2
check_fails "upper-case repository" "lowercase|uppercase|invalid" st import "$T/rootfs" UPPER/Case
check_fails "empty path component" "invalid" st tag busybox a//b
check "nothing was stored by the failures" sh -c "[ \"\$(ls '$R/blobs/sha256' | sort | sha256sum)\" = '$before' ] && [ -z \"\$(ls -A '$R/tmp')\" ]"

# gc
check "rmi the rest and gc frees everything" sh -c "for i in \$(st images --format json | python3 -c 'import json,sys; [print(r[\"Repository\"]+\":\"+r[\"Tag\"]) for r in json.load(sys.stdin)]'); do st rmi \$i >/dev/null || exit 1; done; st gc >/dev/null && [ -z \"\$(ls -A '$R/blobs/sha256')\" ]"

# a blob edited on disk: fsck names it
st import "$T/rootfs" busybox >/dev/null
cfg=$(st inspect busybox | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Manifest"]["config"]["digest"][7:])')
chmod u+w "$R/blobs/sha256/$cfg"; echo ' ' >> "$R/blobs/sha256/$cfg"
check_fails "fsck names an edited blob" "$cfg" st fsck
done_testing
