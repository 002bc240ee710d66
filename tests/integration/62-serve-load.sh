#!/bin/sh
# 62-serve-load.sh: a load test of `strata serve`: clients pulling one big blob (every byte
# verified) while others push new images (a random layer, a config, a tagged manifest), plus a
# slow client sending one byte a second; no error, the slow client slows no one, peak RSS
# reported. The suite runs it small (8 pullers of 20 MiB, 2 pushers, 10 s); bench/serve-load.sh
# runs the issue's size (32 pullers of 100 MiB, 8 pushers, 30 s) through the LOAD_* variables.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.sh"
PULLERS=${LOAD_PULLERS:-8}
PUSHERS=${LOAD_PUSHERS:-2}
SECS=${LOAD_SECS:-10}
BLOB_MIB=${LOAD_BLOB_MIB:-20}
LAYER_KIB=${LOAD_LAYER_KIB:-1024}
RSS_MAX_MIB=${LOAD_RSS_MAX_MIB:-200}
start_serve "$T/s" --quiet
head -c $((BLOB_MIB * 1048576)) /dev/urandom > "$T/big"
D=$(sha "$T/big")
expect "upload the $BLOB_MIB MiB blob" 201 -- -X POST --data-binary @"$T/big" "$URL/v2/load/blobs/uploads/?digest=$D"
rm -f "$T/big"
# the slow client: one byte a second into a PATCH, for the whole test
python3 - "$PORT" "$((SECS + 2))" <<'PY' &
import socket, sys, time, urllib.request
port, secs = int(sys.argv[1]), int(sys.argv[2])
r = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/v2/slow/blobs/uploads/" % port, method="POST"))
loc = r.headers["Location"]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" % loc).encode())
for i in range(secs):
    s.sendall(b"x"); time.sleep(1)
PY
SLOW=$!
START=$(date +%s)
END=$((START + SECS))
i=0
while [ $i -lt "$PULLERS" ]; do
	( n=0; while [ "$(date +%s)" -lt "$END" ]; do
		curl -sf "$URL/v2/load/blobs/$D" | sha256sum | grep -q "${D#sha256:}" || { echo "fail pull $n"; exit 1; }
		n=$((n + 1))
	done; echo "$n" ) > "$T/pull.$i" &
	i=$((i + 1))
done
MT=application/vnd.oci.image.manifest.v1+json
j=0
while [ $j -lt "$PUSHERS" ]; do
	( n=0; while [ "$(date +%s)" -lt "$END" ]; do
		head -c $((LAYER_KIB * 1024)) /dev/urandom > "$T/l$j"; l=$(sha "$T/l$j")
		printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]},"n":"%s-%s"}' "$l" "$j" "$n" > "$T/c$j"
		c=$(sha "$T/c$j")
		for b in "l$j $l" "c$j $c"; do
			set -- $b
			code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary @"$T/$1" "$URL/v2/push$j/blobs/uploads/?digest=$2")
			[ "$code" = 201 ] || { echo "fail blob $code"; exit 1; }
		done
		printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}' \
			"$MT" "$c" "$(wc -c < "$T/c$j")" "$l" $((LAYER_KIB * 1024)) > "$T/pm$j"
		code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Type: $MT" --data-binary @"$T/pm$j" "$URL/v2/push$j/manifests/t$n")
		[ "$code" = 201 ] || { echo "fail manifest $code"; exit 1; }
		n=$((n + 1))
	done; echo "$n" ) > "$T/push.$j" &
	j=$((j + 1))
done
sleep "$SECS"
# the last pulls and pushes finish; a minute at most
for _i in $(seq 600); do
	[ "$(cat "$T"/pull.* "$T"/push.* 2>/dev/null | grep -c .)" -ge $((PULLERS + PUSHERS)) ] && break
	sleep 0.1
done
secs=$(($(date +%s) - START))
pulls=$(cat "$T"/pull.* | grep -v fail | awk '{s+=$1} END {print s+0}')
pushes=$(cat "$T"/push.* | grep -v fail | awk '{s+=$1} END {print s+0}')
check "every puller finished" test "$(cat "$T"/pull.* | grep -c .)" -eq "$PULLERS"
check "no pull failed or returned wrong bytes" sh -c "! grep -q fail '$T'/pull.*"
check "no push failed" sh -c "! grep -q fail '$T'/push.*"
grep -h fail "$T"/pull.* "$T"/push.* 2>/dev/null | head -5 | while read -r l; do diag "$l"; done
check "pulls happened while a slow client was uploading ($pulls pulls, $pushes pushes)" test "${pulls:-0}" -ge "$PULLERS"
rss=$(awk '/VmHWM/ {print $2}' "/proc/$SPID/status")
diag "peak RSS of strata serve: $((rss / 1024)) MiB; $PULLERS pullers x $BLOB_MIB MiB: $pulls pulls ($((pulls * BLOB_MIB)) MiB verified); $PUSHERS pushers: $pushes images; ${secs} s"
check "peak RSS under $RSS_MAX_MIB MiB" test "$rss" -lt $((RSS_MAX_MIB * 1024))
kill "$SLOW" 2>/dev/null
expect "the server still answers" 200 -- "$URL/v2/"
i=0
bad=0
while [ $i -lt "$PUSHERS" ]; do
	n=$(grep -v fail "$T/push.$i")
	[ "${n:-0}" -gt 0 ] && { c=$(code "$URL/v2/push$i/manifests/t$((n - 1))"); [ "$c" = 200 ] || bad=$((bad + 1)); }
	i=$((i + 1))
done
check "each pusher's last image is served" test "$bad" = 0
stop_serve
check "fsck after the load" st fsck
done_testing
