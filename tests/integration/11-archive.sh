#!/bin/sh
# 11-archive.sh: save and load against real peers (podman, skopeo), round trips that keep
# every digest, concurrent writers and a writer killed halfway, and archives that must be
# refused without changing the store.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root"
command -v skopeo >/dev/null || skip_all "skopeo missing (scripts/install-deps.sh)"
R=$STRATA_ROOT
REF=docker.io/library/busybox:latest
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
st import -c 'CMD ["echo", "hello from strata"]' "$T/rootfs" busybox >/dev/null || { echo "Bail out! import failed"; exit 1; }
id=$(st images -q)

digests() { # the image's manifest, config and layer digests, one line
	"$STRATA" --root "$1" inspect "$2" | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(d["Digest"], d["Id"], *[l["digest"] for l in d["Manifest"]["layers"]])'
}

check "save --format docker-archive" st save -o "$T/d.tar" busybox
check "archive has manifest.json with RepoTags" sh -c "tar -xOf '$T/d.tar' manifest.json | grep -q '\"busybox:latest\"'"
check "save --format oci-archive" st save --format oci-archive -o "$T/o.tar" busybox
check "same images give the same archive bytes" sh -c "st save -o '$T/d2.tar' busybox && cmp '$T/d.tar' '$T/d2.tar'"
check "load docker-archive into a fresh store keeps every digest" sh -c "'$STRATA' --root '$T/r2' load -i '$T/d.tar' | grep -q 'Loaded image: docker.io/library/busybox:latest' && [ \"\$(digests '$R' busybox)\" = \"\$(digests '$T/r2' busybox)\" ]"
check "load oci-archive from stdin keeps every digest" sh -c "'$STRATA' --root '$T/r3' load < '$T/o.tar' >/dev/null && [ \"\$(digests '$R' busybox)\" = \"\$(digests '$T/r3' busybox)\" ]"
check "fsck of the loaded store" "$STRATA" --root "$T/r2" fsck

# skopeo-made archives load into Strata
check "skopeo copy to oci-archive" skopeo copy -q "oci:$R:$REF" "oci-archive:$T/sk-oci.tar:latest"
check "strata load of skopeo's oci-archive (bare tag: untagged)" sh -c "'$STRATA' --root '$T/r4' load -i '$T/sk-oci.tar' | grep -q 'Loaded image ID'"
check "--name gives the repository of a bare tag" sh -c "'$STRATA' --root '$T/r5' load --name example.com/bb -i '$T/sk-oci.tar' | grep -q 'example.com/bb:latest'"
check "skopeo copy to docker-archive" skopeo copy -q "oci:$R:$REF" "docker-archive:$T/sk-docker.tar:busybox:latest"
check "strata load of skopeo's docker-archive" sh -c "'$STRATA' --root '$T/r6' load -i '$T/sk-docker.tar' | grep -q 'busybox:latest' && '$STRATA' --root '$T/r6' fsck"
check "same image ID through skopeo's docker-archive" sh -c "[ \"\$('$STRATA' --root '$T/r6' images -q)\" = '$id' ]"
check "strata load of an OCI layout directory (skopeo's oci: dir)" sh -c "skopeo copy -q 'oci:$R:$REF' 'oci:$T/layout:$REF' && '$STRATA' --root '$T/r7' load -i '$T/layout' | grep -q 'busybox:latest'"

# podman loads and runs what Strata saved
if command -v podman >/dev/null; then
	podman_setup
	check "podman load of strata's docker-archive" sh -c "podman load -q -i '$T/d.tar' 2>&1"
	out=$(podman run --rm --network none docker.io/library/busybox:latest 2>&1)
	if [ "$out" = "hello from strata" ]; then ok "podman run of the loaded image"; else not_ok "podman run of the loaded image"; diag "$out"; fi
	check "podman sees the same image ID" sh -c "podman images -q --no-trunc | grep -q '$id'"
	podman_cleanup
else
	skip "podman missing"; skip "podman missing"; skip "podman missing"
fi

# concurrent writers, and a writer killed halfway
mkdir -p "$T/big/data"
head -c 30000000 /dev/urandom > "$T/big/data/blob"
( st import "$T/rootfs" one:1 >/dev/null ) & p1=$!
( st import "$T/big" two:1 >/dev/null ) & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
check "two imports at once both succeed" [ $r1 = 0 ] && [ $r2 = 0 ]
check "and the store is consistent" st fsck
st import "$T/big" killed:1 >/dev/null 2>&1 & pk=$!
sleep 0.3; kill -9 $pk 2>/dev/null; wait $pk 2>/dev/null
check "an import killed with SIGKILL leaves a store fsck passes" st fsck
check "and no stray file in blobs/ or tmp/ that gc would not clear" sh -c "st gc >/dev/null && st fsck && [ -z \"\$(find '$R/tmp' -mindepth 1 -maxdepth 1)\" ]"

# archives that must be refused, changing nothing
before=$(ls "$R/blobs/sha256" | sort | sha256sum)
mkdir -p "$T/evil" && tar -C "$T/evil" -xf "$T/o.tar"
mf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' "$T/evil/index.json")
cfg=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"][7:])' "$T/evil/blobs/sha256/$mf")
cp -r "$T/evil" "$T/evil2"
chmod u+w "$T/evil/blobs/sha256/$cfg"; echo ' ' >> "$T/evil/blobs/sha256/$cfg"
check_fails "a config whose bytes do not match its digest" "$cfg.*(match|size)" "$STRATA" --root "$T/r8" load -i "$T/evil"
python3 - "$T/evil2" "$mf" <<'PY'
import json, sys, hashlib, os
root, mf = sys.argv[1], sys.argv[2]
m = json.load(open(f"{root}/blobs/sha256/{mf}"))
m["layers"][0]["size"] = str(m["layers"][0]["size"])
b = json.dumps(m).encode()
d = hashlib.sha256(b).hexdigest()
open(f"{root}/blobs/sha256/{d}", "wb").write(b)
ix = json.load(open(f"{root}/index.json"))
ix["manifests"][0]["digest"] = "sha256:" + d
ix["manifests"][0]["size"] = len(b)
json.dump(ix, open(f"{root}/index.json", "w"))
PY
check_fails "a manifest with a wrong JSON type" "size" "$STRATA" --root "$T/r8" load -i "$T/evil2"
check "nothing visible in the target store after the refusals" sh -c "'$STRATA' --root '$T/r8' gc >/dev/null; [ -z \"\$(ls -A '$T/r8/blobs/sha256')\" ]"
check_fails "not an archive" "index.json|manifest.json|archive" st load -i "$T/rootfs/etc/passwd"
check "the main store is unchanged" sh -c "[ \"\$(ls '$R/blobs/sha256' | sort | sha256sum)\" = '$before' ]"
done_testing
