#!/bin/sh
# 60-serve.sh: every endpoint of `strata serve` with curl: blobs (Range, HEAD, DELETE), uploads
# (monolithic, chunked in and out of order, status, cancel, digest mismatch, unknown upload,
# cross-repository mount), manifests by tag and digest byte for byte, tags with pagination,
# referrers with OCI-Subject, deletes, error codes, bad input, and nothing outside the store.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.sh"
start_serve "$T/s" --enable-delete
head -c 300000 /dev/urandom > "$T/blob"
D=$(sha "$T/blob")

expect "GET /v2/ is 200" 200 -- "$URL/v2/"
check "Docker-Distribution-API-Version header" sh -c "grep -qi '^Docker-Distribution-API-Version: registry/2.0' '$T/hdr'"
expect "HEAD of an unknown blob is 404" 404 -- -I "$URL/v2/a/blobs/$D"
expect "GET of an unknown blob is BLOB_UNKNOWN" 404 BLOB_UNKNOWN -- "$URL/v2/a/blobs/$D"

# monolithic upload
expect "monolithic POST ?digest= is 201" 201 -- -X POST -H 'Content-Type: application/octet-stream' --data-binary @"$T/blob" "$URL/v2/a/blobs/uploads/?digest=$D"
check "Location names the blob" sh -c "grep -qi '^Location: /v2/a/blobs/$D' '$T/hdr'"
expect "GET of the blob is 200" 200 -- "$URL/v2/a/blobs/$D"
check "the bytes are the ones uploaded" cmp "$T/body" "$T/blob"
check "Docker-Content-Digest on GET" sh -c "[ \"\$(tr -d '\r' < '$T/hdr' | awk 'tolower(\$1)==\"docker-content-digest:\" {print \$2}')\" = '$D' ]"
expect "HEAD of the blob is 200" 200 -- -I "$URL/v2/a/blobs/$D"
check "HEAD gives the length" sh -c "grep -qi '^Content-Length: 300000' '$T/hdr'"
expect "Range bytes=10-19 is 206" 206 -- -H 'Range: bytes=10-19' "$URL/v2/a/blobs/$D"
check "and the ten bytes" sh -c "[ \"\$(tail -c +11 '$T/blob' | head -c 10 | od -An -tx1)\" = \"\$(od -An -tx1 '$T/body')\" ] && grep -qi '^Content-Range: bytes 10-19/300000' '$T/hdr'"
expect "Range past the end is 416" 416 -- -H 'Range: bytes=300000-' "$URL/v2/a/blobs/$D"
expect "the blob is not in another repository" 404 BLOB_UNKNOWN -- "$URL/v2/b/blobs/$D"

# chunked upload: in order, then out of order
expect "POST opens a session (202)" 202 -- -X POST "$URL/v2/b/blobs/uploads/"
LOC=$(hdr Location)
check "with Location and Docker-Upload-UUID" sh -c "echo '$LOC' | grep -q '^/v2/b/blobs/uploads/' && grep -qi '^Docker-Upload-UUID:' '$T/hdr'"
head -c 100000 "$T/blob" > "$T/c1"; tail -c +100001 "$T/blob" > "$T/c2"
expect "PATCH 0-99999 is 202" 202 -- -X PATCH -H 'Content-Range: 0-99999' -H 'Content-Type: application/octet-stream' --data-binary @"$T/c1" "$URL$LOC"
check "Range says 0-99999" sh -c "grep -qi '^Range: 0-99999' '$T/hdr'"
expect "PATCH out of order is 416" 416 BLOB_UPLOAD_INVALID -- -X PATCH -H 'Content-Range: 5-100004' --data-binary @"$T/c1" "$URL$LOC"
expect "Content-Range and Content-Length disagreeing is 400" 400 BLOB_UPLOAD_INVALID -- -X PATCH -H 'Content-Range: 100000-100009' --data-binary @"$T/c1" "$URL$LOC"
expect "GET upload status is 204" 204 -- "$URL$LOC"
check "status Range 0-99999" sh -c "grep -qi '^Range: 0-99999' '$T/hdr'"
expect "PATCH the rest in order" 202 -- -X PATCH -H 'Content-Range: 100000-299999' --data-binary @"$T/c2" "$URL$LOC"
expect "PUT with a wrong digest is DIGEST_INVALID" 400 DIGEST_INVALID -- -X PUT "$URL$LOC?digest=sha256:0000000000000000000000000000000000000000000000000000000000000000"
expect "and the session is gone" 404 BLOB_UPLOAD_UNKNOWN -- "$URL$LOC"
expect "a new session for b" 202 -- -X POST "$URL/v2/b/blobs/uploads/"
LOC=$(hdr Location)
expect "PATCH chunk 1" 202 -- -X PATCH -H 'Content-Range: 0-99999' --data-binary @"$T/c1" "$URL$LOC"
expect "PUT with the last chunk and the digest is 201" 201 -- -X PUT -H 'Content-Type: application/octet-stream' --data-binary @"$T/c2" "$URL$LOC?digest=$D"
expect "b now has the blob" 200 -- -I "$URL/v2/b/blobs/$D"
expect "PUT to an unknown upload is BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN -- -X PUT "$URL/v2/b/blobs/uploads/0123456789abcdef0123456789abcdef?digest=$D"
expect "a malformed upload id is BLOB_UPLOAD_UNKNOWN" 404 BLOB_UPLOAD_UNKNOWN -- -X PATCH "$URL/v2/b/blobs/uploads/zz..zz"
expect "a session to cancel" 202 -- -X POST "$URL/v2/b/blobs/uploads/"
LOC=$(hdr Location)
expect "DELETE cancels (204)" 204 -- -X DELETE "$URL$LOC"
expect "then it is unknown" 404 BLOB_UPLOAD_UNKNOWN -- "$URL$LOC"
expect "a session of another repository is unknown here" 202 -- -X POST "$URL/v2/b/blobs/uploads/"
LOC=$(hdr Location)
expect "(PATCH under repository c)" 404 BLOB_UPLOAD_UNKNOWN -- -X PATCH --data-binary @"$T/c1" "$URL$(echo "$LOC" | sed 's|/v2/b/|/v2/c/|')"
expect "monolithic upload with a bad digest is DIGEST_INVALID" 400 DIGEST_INVALID -- -X POST --data-binary @"$T/c1" "$URL/v2/a/blobs/uploads/?digest=$D"
expect "a malformed digest is DIGEST_INVALID" 400 DIGEST_INVALID -- "$URL/v2/a/blobs/sha256:xyz"

# cross-repository mount
expect "mount from a repository holding the blob is 201" 201 -- -X POST "$URL/v2/m/blobs/uploads/?mount=$D&from=a"
expect "and m has it" 200 -- -I "$URL/v2/m/blobs/$D"
expect "mount from a repository without it is 202 (a session)" 202 -- -X POST "$URL/v2/n/blobs/uploads/?mount=$D&from=zzz"
check "with a Location to upload to" sh -c "grep -qi '^Location: /v2/n/blobs/uploads/' '$T/hdr'"

# manifests
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$T/config"
C=$(sha "$T/config")
expect "upload the config" 201 -- -X POST --data-binary @"$T/config" "$URL/v2/a/blobs/uploads/?digest=$C"
mf() { # mf CONFIG LAYER [SUBJECT-DIGEST SUBJECT-SIZE ARTIFACT]
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'
	[ -n "${5:-}" ] && printf '"artifactType":"%s",' "$5"
	printf '"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},' "$1" "$(wc -c < "$T/config")"
	printf '"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":300000}]' "$2"
	[ -n "${3:-}" ] && printf ',"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s}' "$3" "$4"
	printf '}\n'
}
mf "$C" "$D" > "$T/m1"
M1=$(sha "$T/m1")
MT=application/vnd.oci.image.manifest.v1+json
expect "PUT manifest by tag is 201" 201 -- -X PUT -H "Content-Type: $MT" --data-binary @"$T/m1" "$URL/v2/a/manifests/v1"
check "Docker-Content-Digest of the PUT" sh -c "grep -qi '^Docker-Content-Digest: $M1' '$T/hdr'"
expect "GET by tag is 200" 200 -- -H "Accept: $MT" "$URL/v2/a/manifests/v1"
check "byte for byte" cmp "$T/body" "$T/m1"
check "with its Content-Type" sh -c "grep -qi '^Content-Type: $MT' '$T/hdr'"
expect "GET by digest is 200" 200 -- "$URL/v2/a/manifests/$M1"
check "byte for byte too" cmp "$T/body" "$T/m1"
expect "HEAD by tag is 200" 200 -- -I "$URL/v2/a/manifests/v1"
check "the store names it localhost/a:v1" grep -q '"localhost/a:v1"' "$STRATA_ROOT/index.json"
expect "unknown tag is MANIFEST_UNKNOWN" 404 MANIFEST_UNKNOWN -- "$URL/v2/a/manifests/nope"
expect "the manifest is not in repository b" 404 MANIFEST_UNKNOWN -- "$URL/v2/b/manifests/$M1"
mf "$C" "sha256:1111111111111111111111111111111111111111111111111111111111111111" > "$T/m2"
expect "a manifest naming a missing blob is MANIFEST_BLOB_UNKNOWN" 400 MANIFEST_BLOB_UNKNOWN -- -X PUT -H "Content-Type: $MT" --data-binary @"$T/m2" "$URL/v2/a/manifests/bad"
expect "a manifest naming a blob of another repository only is refused" 400 MANIFEST_BLOB_UNKNOWN -- -X PUT -H "Content-Type: $MT" --data-binary @"$T/m1" "$URL/v2/n/manifests/v1"
expect "invalid JSON is MANIFEST_INVALID" 400 MANIFEST_INVALID -- -X PUT -H "Content-Type: $MT" --data-binary '{"schemaVersion":' "$URL/v2/a/manifests/v2"
expect "PUT by a digest that does not match is DIGEST_INVALID" 400 DIGEST_INVALID -- -X PUT -H "Content-Type: $MT" --data-binary @"$T/m1" "$URL/v2/a/manifests/sha256:2222222222222222222222222222222222222222222222222222222222222222"
head -c 4194305 /dev/zero > "$T/big"
expect "a manifest over 4 MiB is refused (413)" 413 SIZE_INVALID -- -X PUT -H "Content-Type: $MT" --data-binary @"$T/big" "$URL/v2/a/manifests/big"
for t in b1 a2 c3 a1; do code -X PUT -H "Content-Type: $MT" --data-binary @"$T/m1" "$URL/v2/a/manifests/$t" >/dev/null; done
expect "tags/list" 200 -- "$URL/v2/a/tags/list"
check "sorted" sh -c "grep -q '\"tags\":\\[\"a1\",\"a2\",\"b1\",\"c3\",\"v1\"\\]' '$T/body'"
expect "tags/list?n=2" 200 -- "$URL/v2/a/tags/list?n=2"
check "first page and a Link to the next" sh -c "grep -q '\"tags\":\\[\"a1\",\"a2\"\\]' '$T/body' && grep -qi '^Link: </v2/a/tags/list?n=2&last=a2>; rel=\"next\"' '$T/hdr'"
expect "tags/list?n=2&last=a2" 200 -- "$URL/v2/a/tags/list?n=2&last=a2"
check "second page" sh -c "grep -q '\"tags\":\\[\"b1\",\"c3\"\\]' '$T/body'"
expect "tags/list of an unknown repository is NAME_UNKNOWN" 404 NAME_UNKNOWN -- "$URL/v2/zz/tags/list"

# referrers
S1=$(wc -c < "$T/m1" | tr -d ' ')
mf "$C" "$D" "$M1" "$S1" "application/vnd.example.sig" > "$T/r1"
R1=$(sha "$T/r1")
expect "PUT of a manifest with a subject (by digest)" 201 -- -X PUT -H "Content-Type: $MT" --data-binary @"$T/r1" "$URL/v2/a/manifests/$R1"
check "OCI-Subject names the subject" sh -c "grep -qi '^OCI-Subject: $M1' '$T/hdr'"
expect "referrers of the subject" 200 -- "$URL/v2/a/referrers/$M1"
check "list the referrer with its artifactType" sh -c "grep -q '$R1' '$T/body' && grep -q 'application/vnd.example.sig' '$T/body'"
expect "referrers filtered by another artifactType" 200 -- "$URL/v2/a/referrers/$M1?artifactType=application/other"
check "are empty, and say the filter applied" sh -c "grep -q '\"manifests\":\\[\\]' '$T/body' && grep -qi '^OCI-Filters-Applied: artifactType' '$T/hdr'"
expect "referrers with a bad digest are DIGEST_INVALID" 400 DIGEST_INVALID -- "$URL/v2/a/referrers/sha256:1"

# deletes
expect "DELETE of a tag is 202" 202 -- -X DELETE "$URL/v2/a/manifests/c3"
expect "then the tag is unknown" 404 MANIFEST_UNKNOWN -- "$URL/v2/a/manifests/c3"
expect "DELETE of a manifest by digest is 202" 202 -- -X DELETE "$URL/v2/a/manifests/$R1"
expect "then it is unknown" 404 MANIFEST_UNKNOWN -- "$URL/v2/a/manifests/$R1"
expect "and the referrers list is empty" 200 -- "$URL/v2/a/referrers/$M1"
check "(empty)" grep -q '"manifests":\[\]' "$T/body"
expect "DELETE of a blob link is 202" 202 -- -X DELETE "$URL/v2/m/blobs/$D"
expect "then it is unknown there" 404 BLOB_UNKNOWN -- "$URL/v2/m/blobs/$D"
expect "and still in a" 200 -- -I "$URL/v2/a/blobs/$D"
expect "DELETE of an unknown blob is BLOB_UNKNOWN" 404 BLOB_UNKNOWN -- -X DELETE "$URL/v2/m/blobs/$D"
expect "unsupported method is 405 UNSUPPORTED" 405 UNSUPPORTED -- -X PATCH "$URL/v2/a/tags/list"

# bad input
expect "uppercase name is NAME_INVALID" 400 NAME_INVALID -- "$URL/v2/Abc/tags/list"
expect "../ in a name is refused" 400 NAME_INVALID -- --path-as-is "$URL/v2/a/../../etc/tags/list"
expect "an encoded ../ is refused" 400 NAME_INVALID -- "$URL/v2/a/%2e%2e/%2e%2e/x/manifests/v1"
expect "a name of 300 characters is NAME_INVALID" 400 NAME_INVALID -- "$URL/v2/$(head -c 300 /dev/zero | tr '\0' a)/tags/list"
expect "no such endpoint is 404" 404 -- "$URL/v3/"
check "a header over 128 KiB is refused" python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * 200000 + b"\r\n\r\n")
r = s.recv(100)
sys.exit(0 if r.startswith(b"HTTP/1.1 4") or r == b"" else 1)' "$PORT"
# a Content-Length larger than the body: the client gives up, the session keeps what came
expect "session for a short body" 202 -- -X POST "$URL/v2/s/blobs/uploads/"
LOC=$(hdr Location)
python3 - "$PORT" "$LOC" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" % sys.argv[2]).encode() + b"x" * 10)
s.close()
PY
# the status answers at once, also while the server has not yet noticed the closed connection
# (the session is then still busy); the loop only guards against a slow server
for _i in $(seq 1 50); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL$LOC")" = 204 ] && break
	sleep 0.2
done
expect "after a client stopped mid-upload, the upload status answers" 204 -- "$URL$LOC"
check "with the bytes it got (or none)" sh -c "grep -qiE '^Range: 0-(9|0)' '$T/hdr'"
expect "the server still answers" 200 -- "$URL/v2/"
check "nothing outside the store" sh -c "! ls '$T' | grep -qv -e '^root\$' -e '^s\$' -e '^bin\$' -e '^body\$' -e '^hdr\$' -e '^blob\$' -e '^c1\$' -e '^c2\$' -e '^config\$' -e '^m1\$' -e '^m2\$' -e '^r1\$' -e '^big\$' && [ ! -e /etc/tags ]"
check "fsck of the store" st fsck
stop_serve
done_testing
