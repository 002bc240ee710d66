#!/bin/sh
# 61-serve-interop.sh: skopeo, podman, buildah and Strata's own client push to and pull from
# `strata serve`, without and with Basic auth (htpasswd -B), over TLS; the naming rule (R is
# localhost/R in the store); gc while serving; SIGTERM with an upload in flight.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.sh"
. "$(dirname "$0")/podman.sh"
command -v skopeo >/dev/null || skip_all "skopeo missing"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
podman_setup
S="timeout 60 $STRATA"
st import -c 'CMD ["echo", "hi"]' "$T/rootfs" busybox >/dev/null || { echo "Bail out! import failed"; exit 1; }
# the image lives in a client store; the server serves its own
CLIENT=$STRATA_ROOT
export STRATA_ROOT="$T/srv"
st tag --root "$CLIENT" busybox busybox >/dev/null 2>&1 || true
start_serve "$T/s"
REG=127.0.0.1:$PORT
dg() { "$STRATA" --root "$1" inspect "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Digest"])'; }

check "strata push" $S --root "$CLIENT" push -q busybox "$REG/bb:1"
check "the served store names it localhost/bb:1" sh -c "[ \"\$(dg '$T/srv' localhost/bb:1)\" = \"\$(dg '$CLIENT' busybox)\" ]"
check "strata pull into an empty store" $S --root "$T/c2" pull -q "$REG/bb:1"
check "same digest" sh -c "[ \"\$(dg '$T/c2' '$REG/bb:1')\" = \"\$(dg '$CLIENT' busybox)\" ]"
check "strata tag publishes a local image" sh -c "st tag localhost/bb:1 localhost/pub:7 && $S --root '$T/c3' pull -q '$REG/pub:7'"
check "skopeo copy from strata serve" skopeo copy -q --src-tls-verify=false "docker://$REG/bb:1" "oci:$T/oci:bb"
check "skopeo copy to strata serve" skopeo copy -q --dest-tls-verify=false "oci:$T/oci:bb" "docker://$REG/sk/bb:2"
check "skopeo inspect" sh -c "skopeo inspect --tls-verify=false 'docker://$REG/sk/bb:2' | grep -q '\"Digest\"'"
check "skopeo list-tags" sh -c "skopeo list-tags --tls-verify=false 'docker://$REG/sk/bb' | grep -q '\"2\"'"
check "strata pulls what skopeo pushed" $S --root "$T/c4" pull -q "$REG/sk/bb:2"
check "podman pull" podman pull -q --tls-verify=false "$REG/bb:1"
check "podman push" podman push -q --tls-verify=false "$REG/bb:1" "$REG/pd/bb:3"
check "strata pulls what podman pushed" $S --root "$T/c5" pull -q "$REG/pd/bb:3"
if command -v buildah >/dev/null; then
	check "buildah push" buildah push -q --tls-verify=false "$REG/bb:1" "docker://$REG/bh/bb:4"
	check "buildah pull" buildah pull -q --tls-verify=false "$REG/bh/bb:4"
else
	skip "buildah missing"
fi
check "gc while serving keeps every pushed image" sh -c "st gc >/dev/null && st fsck && $S --root '$T/c6' pull -q '$REG/pd/bb:3'"
stop_serve

# Basic auth
if command -v htpasswd >/dev/null; then
	htpasswd -Bbc "$T/htpasswd" alice secret >/dev/null 2>&1
	start_serve "$T/sa" --htpasswd "$T/htpasswd"
	REG=127.0.0.1:$PORT
	expect "no credentials: 401 UNAUTHORIZED" 401 UNAUTHORIZED -- "http://$REG/v2/"
	check "with a Basic challenge" sh -c "grep -qi '^WWW-Authenticate: Basic' '$T/hdr'"
	expect "wrong password: 401" 401 UNAUTHORIZED -- -u alice:wrong "http://$REG/v2/"
	expect "right password: 200" 200 -- -u alice:secret "http://$REG/v2/"
	check "skopeo push with credentials" skopeo copy -q --dest-tls-verify=false --dest-creds alice:secret "oci:$T/oci:bb" "docker://$REG/auth/bb:1"
	check_fails "skopeo pull without credentials fails" "unauthorized|401|authentication" skopeo copy -q --src-tls-verify=false "docker://$REG/auth/bb:1" "oci:$T/oci2:bb"
	check "podman login and pull" sh -c "podman login -u alice -p secret --tls-verify=false '$REG' >/dev/null && podman pull -q --tls-verify=false '$REG/auth/bb:1'"
	check "podman push with credentials" podman push -q --tls-verify=false "$REG/auth/bb:1" "$REG/auth/pd:2"
	check "strata login, push and pull" sh -c "DOCKER_CONFIG='$T/dc' $S login -u alice -p secret '$REG' >/dev/null && DOCKER_CONFIG='$T/dc' $S --root '$CLIENT' push -q busybox '$REG/auth/st:1' && DOCKER_CONFIG='$T/dc' $S --root '$T/c7' pull -q '$REG/auth/st:1'"
	stop_serve
	start_serve "$T/sb" --htpasswd "$T/htpasswd" --anonymous-read
	expect "anonymous read: GET without credentials" 200 -- "http://127.0.0.1:$PORT/v2/auth/bb/tags/list"
	expect "anonymous read: a push without credentials is 401" 401 UNAUTHORIZED -- -X POST "http://127.0.0.1:$PORT/v2/auth/bb/blobs/uploads/"
	stop_serve
else
	skip "htpasswd missing (apache2-utils)"
fi
start_serve "$T/sr" --read-only
expect "--read-only: a push is 403 DENIED" 403 DENIED -- -X POST "$URL/v2/x/blobs/uploads/"
expect "--read-only: reads work" 200 -- "$URL/v2/bb/manifests/1"
stop_serve

# TLS
if command -v openssl >/dev/null; then
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
	start_serve "$T/st" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
	expect "TLS: GET /v2/ over https" 200 -- -k "https://127.0.0.1:$PORT/v2/"
	check "TLS: skopeo copy over https" skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$PORT/bb:1" "oci:$T/oci3:bb"
	stop_serve
else
	skip "openssl missing"
fi

# SIGTERM with an upload in flight: the server ends, nothing half visible
start_serve "$T/sg"
expect "without --enable-delete DELETE is 405 UNSUPPORTED" 405 UNSUPPORTED -- -X DELETE "$URL/v2/bb/manifests/1"
expect "a session" 202 -- -X POST "$URL/v2/g/blobs/uploads/"
LOC=$(hdr Location)
head -c 1000 /dev/urandom > "$T/part"
expect "a first chunk" 202 -- -X PATCH --data-binary @"$T/part" "$URL$LOC"
kill -TERM "$SPID"
( sleep 10; kill -9 "$SPID" 2>/dev/null ) & W=$!
wait "$SPID"; rc=$?
kill "$W" 2>/dev/null
if [ "$rc" = 0 ]; then ok "SIGTERM stops the server cleanly"; else not_ok "SIGTERM stops the server cleanly (status $rc)"; fi
check "the unfinished upload left no blob" sh -c "! grep -rl . '$T/srv/repositories/g' 2>/dev/null && st fsck"
podman_cleanup
done_testing
