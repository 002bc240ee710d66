#!/bin/sh
# 62-serve-load.sh: a short load test of `strata serve`: 8 clients pulling a 20 MiB blob (every
# byte verified) and 2 pushing new blobs and manifests for 10 s, plus a slow client sending one
# byte a second; no error, the slow client slows no one, peak RSS reported.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.sh"
start_serve "$T/s" --quiet
head -c 20971520 /dev/urandom > "$T/big"
D=$(sha "$T/big")
expect "upload the 20 MiB blob" 201 -- -X POST --data-binary @"$T/big" "$URL/v2/load/blobs/uploads/?digest=$D"
# the slow client: one byte a second into a PATCH, for the whole test
python3 - "$PORT" <<'PY' &
import socket, sys, time, urllib.request
port = int(sys.argv[1])
r = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/v2/slow/blobs/uploads/" % port, method="POST"))
loc = r.headers["Location"]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" % loc).encode())
for i in range(12):
    s.sendall(b"x"); time.sleep(1)
PY
SLOW=$!
END=$(($(date +%s) + 10))
i=0
while [ $i -lt 8 ]; do
	( n=0; while [ "$(date +%s)" -lt "$END" ]; do
		curl -sf "$URL/v2/load/blobs/$D" | sha256sum | grep -q "${D#sha256:}" || { echo fail; exit 1; }
		n=$((n + 1))
	done; echo "$n" ) > "$T/pull.$i" &
	i=$((i + 1))
done
for j in 0 1; do
	( n=0; while [ "$(date +%s)" -lt "$END" ]; do
		head -c 1048576 /dev/urandom > "$T/p$j"; d=$(sha "$T/p$j")
		c=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/p$j" "$URL/v2/push$j/blobs/uploads/?digest=$d")
		[ "$c" = 201 ] || { echo "fail $c"; exit 1; }
		printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":1048576},"layers":[]}' "$d" > "$T/pm$j"
		c=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @"$T/pm$j" "$URL/v2/push$j/manifests/t$n")
		[ "$c" = 201 ] || { echo "fail manifest $c"; exit 1; }
		n=$((n + 1))
	done; echo "$n" ) > "$T/push.$j" &
done
sleep 11
for _i in $(seq 40); do
	jobs -p | grep -qv "^$SLOW\$" || break
	[ "$(cat "$T"/pull.* "$T"/push.* 2>/dev/null | grep -c .)" -ge 10 ] && break
	sleep 0.5
done
pulls=$(cat "$T"/pull.* | grep -v fail | awk '{s+=$1} END {print s+0}')
pushes=$(cat "$T"/push.* | grep -v fail | awk '{s+=$1} END {print s+0}')
check "no pull failed or returned wrong bytes" sh -c "! grep -q fail '$T'/pull.*"
check "no push failed" sh -c "! grep -q fail '$T'/push.*"
check "pulls happened while a slow client was uploading ($pulls pulls, $pushes pushes)" test "${pulls:-0}" -ge 8
rss=$(awk '/VmHWM/ {print $2}' "/proc/$SPID/status")
diag "peak RSS of strata serve: $((rss / 1024)) MiB ($pulls pulls of 20 MiB, $pushes pushes)"
check "peak RSS under 200 MiB" test "$rss" -lt 204800
kill "$SLOW" 2>/dev/null
expect "the server still answers" 200 -- "$URL/v2/"
stop_serve
check "fsck after the load" st fsck
done_testing
