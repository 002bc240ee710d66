#!/bin/sh
# 55-build-cache-export.sh: --cache-to / --cache-from type=local. A cache exported from store A
# makes a fresh store B build the same image without running a step; a changed COPY source
# re-runs only that step and what follows; the export is an OCI layout other tools read; a
# re-export adds to it; a tampered blob, a corrupt or missing layout never corrupt the store.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN runs containers)"
grep -q overlay /proc/filesystems || skip_all "no overlayfs"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
# the same base image in every store: the FROM key is its manifest digest
for r in a b c d e f g h; do
	SOURCE_DATE_EPOCH=0 "$STRATA" --root "$T/$r" import "$T/rootfs" bb >/dev/null ||
		{ echo "Bail out! import failed"; exit 1; }
done
# bld STORE CTX [args]: a build in store STORE, its progress in $T/log
bld() { r=$1 ctx=$2; shift 2; "$STRATA" --root "$T/$r" build "$@" "$ctx" > "$T/log" 2>&1; }
ran() { grep -c ' DONE ' "$T/log"; }
cached() { grep -c ' CACHED$' "$T/log"; }
blobs() { ls "$1/blobs/sha256" | wc -l; }
# the cache index the layout's tag names: python prints what FIELD asks of it
cache_index() {
	python3 - "$1" "$2" <<'PY'
import json, sys
d, what = sys.argv[1], sys.argv[2]
ix = json.load(open(d + "/index.json"))
e = [m for m in ix["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "latest"]
assert len(e) == 1 and e[0]["mediaType"] == "application/vnd.oci.image.index.v1+json", ix
ci = json.load(open(d + "/blobs/sha256/" + e[0]["digest"][7:]))
assert ci["annotations"]["io.strata.build.cache"] == "v1", ci
keys = [m["annotations"]["io.strata.build.key"] for m in ci["manifests"]]
if what == "n":
    print(len(keys))
elif what == "layer2":
    # the top layer of the step whose image has two layers (base + the first COPY)
    for m in ci["manifests"]:
        mf = json.load(open(d + "/blobs/sha256/" + m["digest"][7:]))
        if len(mf["layers"]) == 2:
            print(mf["layers"][1]["digest"])
            break
PY
}

mkdir -p "$T/c"
echo one > "$T/c/a.txt"; echo two > "$T/c/b.txt"
cat > "$T/c/Dockerfile" <<'DF'
FROM bb
COPY a.txt /a.txt
RUN date +%s%N > /stamp && cat /a.txt > /seen-a
COPY b.txt /b.txt
RUN cat /b.txt > /seen-b && date +%s%N > /stamp2
ENV DONE=1
DF
check "store A builds and exports its cache" bld a "$T/c" -t x --iidfile "$T/id-a" --cache-to "type=local,dest=$T/cache"
check "the export is an OCI layout" test -f "$T/cache/oci-layout" -a -f "$T/cache/index.json"
check "its tag names a cache index of the five steps" [ "$(cache_index "$T/cache" n)" = 5 ]

check "fresh store B with --cache-from builds" bld b "$T/c" -t x --iidfile "$T/id-b" --cache-from "type=local,src=$T/cache"
check "and runs no step" [ "$(ran)" = 0 ]
check "every step says CACHED" [ "$(cached)" = 5 ]
check "same image ID: the RUNs' timestamps came from the cache" cmp "$T/id-a" "$T/id-b"
check "store B is consistent" "$STRATA" --root "$T/b" fsck

echo three > "$T/c/b.txt"
check "store C: one COPY source changed" bld c "$T/c" -t x --cache-from "type=local,src=$T/cache"
check "re-runs that COPY, the RUN and the ENV after it, nothing else" [ "$(ran)" = 3 ]
check "the steps before it are CACHED" sh -c "[ \$(grep -c ' CACHED\$' '$T/log') = 2 ] && grep -A1 'COPY a.txt' '$T/log' | grep -q CACHED && grep -A2 'COPY b.txt' '$T/log' | grep -q DONE"
check "and the image has the new content" sh -c "[ \"\$('$STRATA' --root '$T/c' run --rm x cat /seen-b)\" = three ]"

# re-export: the same cache changes nothing, a new one adds its steps
echo two > "$T/c/b.txt"
cp "$T/cache/index.json" "$T/index.before"
nb=$(blobs "$T/cache")
check "re-export of the same build" bld a "$T/c" -t x --cache-to "type=local,dest=$T/cache"
check "leaves index.json byte for byte and adds no blob" sh -c "cmp '$T/index.before' '$T/cache/index.json' && [ $(blobs "$T/cache") = $nb ]"
echo three > "$T/c/b.txt"
check "export of the changed build to the same directory" bld a "$T/c" -t x3 --cache-to "type=local,dest=$T/cache"
check "adds its three new steps to the five" [ "$(cache_index "$T/cache" n)" = 8 ]
old_ix=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"][7:])' "$T/index.before")
# COPY b and RUN: layer, config, manifest; ENV: config, manifest; a new cache index for the old
check "stores only the new steps' eight blobs and drops the replaced cache index" \
	sh -c "[ $(blobs "$T/cache") = $((nb + 8)) ] && [ ! -e '$T/cache/blobs/sha256/$old_ix' ]"
echo two > "$T/c/b.txt"
check "the first build's steps are still there: store D runs nothing" sh -c "'$STRATA' --root '$T/d' build -t x --cache-from 'type=local,src=$T/cache' '$T/c' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"

# other tools read the layout
if command -v skopeo >/dev/null; then
	check "skopeo inspect oci:DIR:latest" sh -c "skopeo inspect 'oci:$T/cache:latest' | grep -q '\"Layers\"'"
else
	skip "skopeo missing"
fi
if command -v oci-image-tool >/dev/null; then
	check "oci-image-tool validate --type image --ref name=latest" \
		oci-image-tool validate --type image --ref name=latest "$T/cache"
else
	skip "oci-image-tool missing"
fi

# a tampered blob: refused naming its digest, nothing stored
cp -a "$T/cache" "$T/bad"
L=$(cache_index "$T/bad" layer2)
f="$T/bad/blobs/sha256/${L#sha256:}"
chmod u+w "$f" && printf 'X' | dd of="$f" bs=1 seek=40 conv=notrunc 2>/dev/null
ne=$(blobs "$T/e")
check_fails "a tampered layer is refused, naming its digest" "$L.*does not match" \
	"$STRATA" --root "$T/e" build -t x --cache-from "type=local,src=$T/bad" "$T/c"
check "nothing was stored: no blob, no cache entry, no tag" \
	sh -c "[ $(blobs "$T/e") = $ne ] && [ ! -e '$T/e/blobs/sha256/${L#sha256:}' ] && [ -z \"\$(ls '$T/e/cache/build' 2>/dev/null)\" ] && ! '$STRATA' --root '$T/e' images | grep -q '^x '"
check "and the store is consistent" "$STRATA" --root "$T/e" fsck

# a missing source is a warning; a corrupt one an error
check "a missing --cache-from is a warning and the build runs" \
	sh -c "'$STRATA' --root '$T/e' build -t x --cache-from 'type=local,src=$T/nope' '$T/c' > '$T/log' 2>&1 && grep -q 'WARNING:.*nope.*not found' '$T/log' && grep -q ' DONE ' '$T/log'"
mkdir "$T/corrupt" && cp -a "$T/cache/oci-layout" "$T/cache/blobs" "$T/corrupt/" && echo '{"manifests":' > "$T/corrupt/index.json"
check_fails "a corrupt index.json is an error naming it" "corrupt.*index.json" \
	"$STRATA" --root "$T/f" build -t x --cache-from "type=local,src=$T/corrupt" "$T/c"
check "and nothing is tagged" sh -c "! '$STRATA' --root '$T/f' images | grep -q '^x '"

# mode=min exports the final image's stages, mode=max every stage; two exports in one build
cat > "$T/c/Dockerfile.ms" <<'DF'
FROM bb AS gen
RUN echo gen > /g
FROM bb
COPY --from=gen /g /g
RUN cat /g > /h
DF
check "one build, two exports (min and max)" bld a "$T/c" -f "$T/c/Dockerfile.ms" -t ms \
	--cache-to "type=local,dest=$T/min" --cache-to "type=local,dest=$T/max,mode=max"
check "mode=min holds the final stage's two steps, mode=max all three" \
	sh -c "[ '$(cache_index "$T/min" n)' = 2 ] && [ '$(cache_index "$T/max" n)' = 3 ]"
check "from mode=min only the other stage's RUN runs" sh -c "'$STRATA' --root '$T/g' build -f '$T/c/Dockerfile.ms' -t ms --cache-from 'type=local,src=$T/min' '$T/c' > '$T/log' 2>&1 && [ \$(grep -c ' DONE ' '$T/log') = 1 ]"
check "from mode=max nothing runs" sh -c "'$STRATA' --root '$T/h' build -f '$T/c/Dockerfile.ms' -t ms --cache-from 'type=local,src=$T/max' '$T/c' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"

# an interrupted export leaves the old layout as it was and usable
if command -v strace >/dev/null && strace -e inject=linkat:signal=KILL true 2>/dev/null; then
	echo four > "$T/c/b.txt"
	bld a "$T/c" -t x4 >/dev/null 2>&1 # the steps are in A's cache: the export alone links blobs
	cp "$T/cache/index.json" "$T/index.before"
	strace -f -o /dev/null -e trace=linkat -e inject=linkat:signal=KILL \
		"$STRATA" --root "$T/a" build -t x4 --cache-to "type=local,dest=$T/cache" "$T/c" >"$T/log" 2>&1
	check "an export killed at its first blob did not finish" sh -c "grep -q 'exporting cache' '$T/log' && ! grep -q 'naming to' '$T/log'"
	check "index.json is the old one" cmp "$T/index.before" "$T/cache/index.json"
	echo two > "$T/c/b.txt"
	check "and the old cache still serves a fresh store" sh -c "rm -rf '$T/b' && SOURCE_DATE_EPOCH=0 '$STRATA' --root '$T/b' import '$T/rootfs' bb >/dev/null && '$STRATA' --root '$T/b' build -t x --cache-from 'type=local,src=$T/cache' '$T/c' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"
else
	skip "no strace fault injection"; skip "no strace fault injection"; skip "no strace fault injection"
fi

# bad specs are usage errors
check_fails "another cache type" "only type=local" st build --cache-to type=registry,ref=r/x:c "$T/c"
check_fails "a cache-to without dest" "dest=DIR is missing" st build --cache-to type=local "$T/c"
check_fails "an unknown key" 'unknown key "dest" for --cache-from' st build --cache-from "type=local,dest=$T/x" "$T/c"
check_fails "exporting into the store itself" "is the store itself" \
	"$STRATA" --root "$T/a" build -t x --cache-to "type=local,dest=$T/a" "$T/c"
done_testing
