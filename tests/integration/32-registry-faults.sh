#!/bin/sh
# 32-registry-faults.sh: docker-registry killed in the middle of a pull (behind a slow proxy on
# 127.0.0.1): without retries the pull fails, keeps the blobs that completed (and nothing of the
# layer it was extracting as it came), and the next pull downloads only what is missing; with
# retries the same pull waits for the restart and resumes the interrupted blob with a Range
# request, its extraction following across the resume.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
S="timeout 120 $STRATA"
R=$STRATA_ROOT
P=$(free_port)
REG=127.0.0.1:$P
start_registry "$T/reg" "$P"
st import "$T/rootfs" busybox >/dev/null || { echo "Bail out! import failed"; exit 1; }
st save --format oci-archive -o "$T/bb.tar" busybox
mkdir -p "$T/bb" && tar -C "$T/bb" -xf "$T/bb.tar"
python3 "$REGTOOL" addlayer "$T/bb" "$T/big" docker.io/library/big:1 40000000
st load -i "$T/big" >/dev/null
$S push -q big:1 "$REG/test/big:1" >/dev/null || { echo "Bail out! push failed"; exit 1; }
set -- $(digests "$R" big:1)
cfg=$2 base=$3 bigl=$4

bg python3 "$REGTOOL" proxy "$T/pport" "$P" 8000000 "$T/proxy.log"
for i in $(seq 50); do [ -s "$T/pport" ] && break; sleep 0.1; done
PX=127.0.0.1:$(cat "$T/pport")

# wait_big: until the proxy has forwarded the GET of the big layer, then a second more
wait_big() {
	for i in $(seq 100); do grep -q "GET /v2/test/big/blobs/$bigl" "$T/proxy.log" 2>/dev/null && break; sleep 0.1; done
	sleep 1
}
kill_registry() {
	kill -9 "$(cat "$T/reg/pid")" 2>/dev/null
	wait "$(cat "$T/reg/pid")" 2>/dev/null
}

# 1. no retries: the pull fails, what completed stays
printf 'retries 0\ntimeout 10\n' > "$T/noretry.conf"
: > "$T/proxy.log"
STRATA_CONFIG="$T/noretry.conf" $S --root "$T/r1" pull -q "$PX/test/big:1" > "$T/out1" 2>&1 &
pull=$!
wait_big
kill_registry
wait $pull; rc=$?
if [ $rc != 0 ] && grep -q "$REG\|$PX" "$T/out1"; then ok "pull fails when the registry dies mid-blob"; else not_ok "pull fails when the registry dies mid-blob"; diag "rc=$rc $(cat "$T/out1")"; fi
check "the config and the base layer that completed are stored" sh -c "[ -e '$T/r1/blobs/sha256/${cfg#sha256:}' ] && [ -e '$T/r1/blobs/sha256/${base#sha256:}' ]"
check "the interrupted layer is not, and nothing is tagged" sh -c "[ ! -e '$T/r1/blobs/sha256/${bigl#sha256:}' ] && ! grep -q big '$T/r1/index.json'"
# the big layer was being extracted as it came: nothing of that extraction is left
check "no snapshot of it, no temporary tree" sh -c "[ \"\$(ls -A '$T/r1/snapshots' | grep -v '^\.locks\$\|^\.holds\$' | wc -l)\" -le 1 ] && ! ls -A '$T/r1/snapshots' | grep -q '^\.tmp'"
start_registry "$T/reg" "$P"
log_mark "$T/reg"
check "after a restart the next pull finishes" $S --root "$T/r1" pull -q "$REG/test/big:1"
got=$(log_since "$T/reg" | grep '/blobs/' || true)
if [ "$got" = "\"GET /v2/test/big/blobs/$bigl" ]; then ok "and downloads only the missing layer"; else not_ok "and downloads only the missing layer"; diag "$got"; fi
check "same digests, fsck clean" sh -c "[ \"\$(digests '$R' big:1)\" = \"\$(digests '$T/r1' '$REG/test/big:1')\" ] && '$STRATA' --root '$T/r1' fsck"

# 2. with retries: the same process waits for the registry and resumes with Range
printf 'retries 8\nbackoff-ms 300\nmax-backoff-ms 1000\ntimeout 10\n' > "$T/retry.conf"
: > "$T/proxy.log"
STRATA_CONFIG="$T/retry.conf" $S -v --root "$T/r2" pull -q "$PX/test/big:1" > "$T/out2" 2>&1 &
pull=$!
wait_big
kill_registry
sleep 1
start_registry "$T/reg" "$P"
wait $pull; rc=$?
if [ $rc = 0 ]; then ok "a pull outlives a registry restart"; else not_ok "a pull outlives a registry restart"; diag "$(cat "$T/out2")"; fi
check "the interrupted blob was resumed with a Range request" grep -qiE '^range: bytes=[1-9][0-9]*-' "$T/proxy.log"
check "and extracted as it came, across the resume" grep -q "layer $bigl: extracted during its download" "$T/out2"
check "same digests, fsck clean" sh -c "[ \"\$(digests '$R' big:1)\" = \"\$(digests '$T/r2' '$PX/test/big:1')\" ] && '$STRATA' --root '$T/r2' fsck"

done_testing
