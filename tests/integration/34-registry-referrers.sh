#!/bin/sh
# 34-registry-referrers.sh: artifacts with a subject (distribution-spec v1.1). An SBOM-like
# artifact manifest (artifactType, empty config, indented JSON) pulled by Strata and pushed to
# another repository keeps its bytes; Debian's docker-registry has no referrers API, so the push
# keeps the subject's referrers list under the tag sha256-<hex> (one entry per referrer, never
# twice; a tag holding something else is left alone); `strata serve` has the API (OCI-Subject),
# so no such tag is made there.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
S="timeout 120 $STRATA"
P=$(free_port)
REG=127.0.0.1:$P
start_registry "$T/reg" "$P"
st import -c 'CMD ["echo", "hi"]' "$T/rootfs" busybox >/dev/null || { echo "Bail out! import failed"; exit 1; }
OCI_M=application/vnd.oci.image.manifest.v1+json
OCI_I=application/vnd.oci.image.index.v1+json

check "push the subject image" $S push -q busybox "$REG/art/app:1"
SUBJ=$(digests "$STRATA_ROOT" busybox | cut -d' ' -f1)
TAG="sha256-${SUBJ#sha256:}"
ART=$(python3 "$REGTOOL" artifact "$REG" art/app sbom "$SUBJ" note-one)
ART2=$(python3 "$REGTOOL" artifact "$REG" art/app sbom-b "$SUBJ" note-two)

# manifest REPO REF [ACCEPT]: the bytes the registry holds
manifest() { curl -fsS -H "Accept: ${3:-$OCI_M}" "http://$REG/v2/$1/manifests/$2"; }
# listed REPO: the referrers list under $TAG as "digest artifactType note" lines
listed() {
	manifest "$1" "$TAG" "$OCI_I" | python3 -c 'import json, sys
j = json.load(sys.stdin)
assert j["mediaType"] == "application/vnd.oci.image.index.v1+json", j
for m in j["manifests"]:
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json", m
    print(m["digest"], m["artifactType"], m["annotations"]["org.example.note"])'
}

check "strata pulls the artifact (nothing to extract)" $S --root "$T/r1" pull -q "$REG/art/app:sbom"
check "and keeps its bytes" test -f "$T/r1/blobs/sha256/${ART#sha256:}"
check "fsck of the store holding it" $S --root "$T/r1" fsck
check "pull of the second artifact" $S --root "$T/r1" pull -q "$REG/art/app:sbom-b"

log_mark "$T/reg"
check "push of the artifact to another repository" $S --root "$T/r1" push -q "$REG/art/app:sbom" "$REG/copy/app:sbom"
check "the registry holds the same bytes" test "$(manifest copy/app sbom | sha256sum | cut -d' ' -f1)" = "${ART#sha256:}"
check "no OCI-Subject: the referrers tag was read, then written" sh -c "[ \"\$(tail -n +\$((\$(cat '$T/reg/mark') + 1)) '$T/reg/log' | grep -oE '\"(GET|PUT) /v2/copy/app/manifests/$TAG' | tr '\\n' ' ')\" = '\"GET /v2/copy/app/manifests/$TAG \"PUT /v2/copy/app/manifests/$TAG ' ]"
check "it lists the artifact with its artifactType and annotations" test "$(listed copy/app)" = "$ART application/vnd.example.sbom.v1 note-one"

log_mark "$T/reg"
check "push under a second tag" $S --root "$T/r1" push -q "$REG/art/app:sbom" "$REG/copy/app:again"
check "the list is not written again" test -z "$(log_since "$T/reg" | grep "PUT /v2/copy/app/manifests/$TAG" || true)"
check "and holds it once" test "$(listed copy/app | wc -l)" = 1
check "push of a second referrer" $S --root "$T/r1" push -q "$REG/art/app:sbom-b" "$REG/copy/app:sbom-b"
check "the list holds both" test "$(listed copy/app | sort)" = "$(printf '%s\n%s\n' "$ART application/vnd.example.sbom.v1 note-one" "$ART2 application/vnd.example.sbom.v1 note-two" | sort)"

# the referrers tag names something else: reported, left as it is
check "an image under the referrers tag" $S push -q busybox "$REG/bad/app:$TAG"
check_fails "push of a referrer there fails naming the tag" "tag $TAG is not an OCI image index" $S --root "$T/r1" push "$REG/art/app:sbom" "$REG/bad/app:sbom"
check "the tag still names the image" test "$(manifest bad/app "$TAG" | sha256sum | cut -d' ' -f1)" = "${SUBJ#sha256:}"

# strata serve has the referrers API: it takes the subject, no tag is made
mkdir -p "$T/srv"
bg "$STRATA" --root "$T/srv/root" serve --addr 127.0.0.1:0 --port-file "$T/srv/port" --quiet
for _i in $(seq 100); do [ -s "$T/srv/port" ] && break; sleep 0.05; done
SRV=127.0.0.1:$(cat "$T/srv/port")
check "push of the subject to strata serve" $S push -q busybox "$SRV/art/app:1"
check "push of the artifact to strata serve" $S --root "$T/r1" push -q "$REG/art/app:sbom" "$SRV/art/app:sbom"
check "its referrers API lists it" sh -c "curl -fsS 'http://$SRV/v2/art/app/referrers/$SUBJ' | grep -q '$ART'"
check "no referrers tag there" test "$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $OCI_I" "http://$SRV/v2/art/app/manifests/$TAG")" = 404
check "the same bytes there" test "$(curl -fsS -H "Accept: $OCI_M" "http://$SRV/v2/art/app/manifests/sbom" | sha256sum | cut -d' ' -f1)" = "${ART#sha256:}"

done_testing
