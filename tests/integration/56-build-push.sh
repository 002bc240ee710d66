#!/bin/sh
# 56-build-push.sh: a build keeps its layers as plain tar; push sends them gzip (or zstd), each
# compressed once and remembered, as `docker push` does. What leaves is checked by peers:
# skopeo copies it into an OCI layout whose layers pass `gzip -t` and unpack with umoci; a pull
# into an empty store gives the pushed manifest and the built image ID; --output type=oci
# compresses the same way and gives the same layer digests.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN runs containers)"
grep -q overlay /proc/filesystems || skip_all "no overlayfs"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
command -v skopeo >/dev/null || skip_all "skopeo missing (scripts/install-deps.sh)"
P=$(free_port)
REG=127.0.0.1:$P
start_registry "$T/reg" "$P"
st import "$T/rootfs" base:1 >/dev/null || { echo "Bail out! import failed"; exit 1; }
# layer_types IMAGE: the layer media types of its manifest in the store, one per line;
# field IMAGE KEY: a field of `strata inspect`; oci_layers DIR: "type digest" of the layers of
# the first image of an OCI layout (scripts: `sh -c` sees them too)
cat > "$T/bin/layer_types" <<'SH'
#!/bin/sh
st inspect "$1" | python3 -c 'import json,sys; [print(l["mediaType"]) for l in json.load(sys.stdin)[0]["Manifest"]["layers"]]'
SH
cat > "$T/bin/field" <<'SH'
#!/bin/sh
st inspect "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][sys.argv[1]])' "$2"
SH
cat > "$T/bin/oci_layers" <<'SH'
#!/bin/sh
python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
blob = lambda dg: json.load(open(f"{d}/blobs/{dg.replace(':', '/')}"))
m = blob(json.load(open(f"{d}/index.json"))["manifests"][0]["digest"])
for l in m["layers"]:
    print(l["mediaType"], l["digest"])
PY
SH
chmod +x "$T/bin/layer_types" "$T/bin/field" "$T/bin/oci_layers"

mkdir -p "$T/ctx"
head -c 3000000 /dev/urandom | base64 > "$T/ctx/data.txt"
printf 'FROM base:1\nCOPY data.txt /data.txt\nRUN echo built > /built\nCMD ["cat", "/built"]\n' > "$T/ctx/Dockerfile"
check "build" sh -c "st build -q -t app:1 '$T/ctx' > '$T/iid'"
# the base was imported gzip: it stays as it is; the build's two layers are plain
check "the build's layers are plain tar in the store" sh -c "[ \"\$(layer_types app:1 | tail -n +2 | sort -u)\" = 'application/vnd.oci.image.layer.v1.tar' ] || { layer_types app:1; false; }"
check "push" sh -c "st push app:1 '$REG/t/app:1' > '$T/push.out' 2>'$T/push.err'"
pushed=$(sed -n 's/.*digest: //p' "$T/push.out")
check "push prints the digest of what it sent" sh -c "[ -n '$pushed' ] && [ '$pushed' != \"\$(field app:1 Digest)\" ]"
check "skopeo reads it: every layer gzip, the manifest as printed" sh -c "skopeo inspect --tls-verify=false --raw docker://$REG/t/app:1 > '$T/m.json' && python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); ts={l[\"mediaType\"] for l in m[\"layers\"]}; sys.exit(0 if ts=={\"application/vnd.oci.image.layer.v1.tar+gzip\"} else 1)' '$T/m.json' && [ \"sha256:\$(sha256sum < '$T/m.json' | cut -c1-64)\" = '$pushed' ]"
check "skopeo copies it to an OCI layout; gzip -t passes on every layer" sh -c "skopeo copy -q --src-tls-verify=false docker://$REG/t/app:1 oci:$T/oci:app >/dev/null && for f in \$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); [print(l[\"digest\"][7:]) for l in m[\"layers\"]]' '$T/m.json'); do gzip -t '$T/oci/blobs/sha256/'\$f || exit 1; done"
if command -v umoci >/dev/null; then
	check "umoci unpacks it and finds the built files" sh -c "umoci unpack --image '$T/oci:app' '$T/bundle' >/dev/null 2>&1 && cmp '$T/bundle/rootfs/data.txt' '$T/ctx/data.txt' && [ \"\$(cat '$T/bundle/rootfs/built')\" = built ]"
else
	skip "umoci unpacks it" "umoci missing"
fi
check "a pull into an empty store: the pushed manifest, the built image ID" sh -c "$STRATA --root '$T/b' pull -q '$REG/t/app:1' >/dev/null && [ \"\$($STRATA --root '$T/b' inspect '$REG/t/app:1' | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(d[\"Digest\"], d[\"Id\"])')\" = \"$pushed \$(cat '$T/iid')\" ]"
check "and it runs there" sh -c "[ \"\$($STRATA --root '$T/b' run --rm '$REG/t/app:1')\" = built ]"

# a second tag: nothing compressed again, nothing uploaded
log_mark "$T/reg"
check "push under a second tag" sh -c "st push -q app:1 '$REG/t/app:2' > '$T/push2.out'"
check "the same manifest digest" sh -c "[ \"\$(cat '$T/push2.out')\" = '$pushed' ]"
up=$(uploads_since "$T/reg")
if [ -z "$up" ]; then ok "and no blob byte uploaded"; else not_ok "and no blob byte uploaded"; diag "$up"; fi
check "gc keeps the compressed copies while the image is kept" sh -c "st gc >/dev/null && st push -q app:1 '$REG/t/app:3' >/dev/null && ls '$T/root/compressed/gzip' | grep -q ."

# zstd, and none
check "--compression zstd sends zstd layers" sh -c "st push -q --compression zstd app:1 '$REG/t/app:z' >/dev/null && skopeo inspect --tls-verify=false --raw docker://$REG/t/app:z | grep -q 'tar+zstd'"
check "--compression none sends the layers as stored" sh -c "st push -q --compression none app:1 '$REG/t/app:n' >/dev/null && skopeo inspect --tls-verify=false --raw docker://$REG/t/app:n | grep -q 'layer.v1.tar\"' "
check_fails "a bad --compression is refused" "gzip, zstd or none" st push --compression lz4 app:1 "$REG/t/app:x"

# --output type=oci compresses the same way: the same layer digests as the push
check "--output type=oci,tar=false" sh -c "st build -q -t app:1 -o 'type=oci,dest=$T/out,tar=false' '$T/ctx' >/dev/null"
check "its layers are the pushed ones" sh -c "[ \"\$(oci_layers '$T/out')\" = \"\$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); [print(l[\"mediaType\"], l[\"digest\"]) for l in m[\"layers\"]]' '$T/m.json')\" ]"
check "compression=uncompressed keeps them plain" sh -c "st build -q -t app:1 -o 'type=oci,dest=$T/out2,tar=false,compression=uncompressed' '$T/ctx' >/dev/null && oci_layers '$T/out2' > '$T/l2' && [ \"\$(tail -n +2 '$T/l2' | cut -d' ' -f1 | sort -u)\" = 'application/vnd.oci.image.layer.v1.tar' ] || { cat '$T/l2'; false; }"
# determinism: a build with --compression gzip gives, in the store, the blobs push sent
check "a build with --compression gzip stores the COPY layer push sent" sh -c "$STRATA --root '$T/g' import '$T/rootfs' base:1 >/dev/null && $STRATA --root '$T/g' build -q --compression gzip -t app:1 '$T/ctx' >/dev/null && [ \"\$($STRATA --root '$T/g' inspect app:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"Manifest\"][\"layers\"][1][\"digest\"])')\" = \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"layers\"][1][\"digest\"])' '$T/m.json')\" ]"
check "fsck" st fsck
done_testing
