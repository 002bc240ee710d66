#!/bin/sh
# 63-serve-gc.sh: `strata gc` while clients push to `strata serve`. Three pushers keep upload
# sessions open back to back (so some session is always in flight) and a fourth upload stays
# half-sent for the whole gc. gc must finish while the pushers go on, and delete nothing an
# upload in flight or a manifest just pushed (by tag or by digest only) needs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/serve.sh"
start_serve "$T/s" --quiet
# an image that is garbage from the start: gc must remove its blob (so it does work)
head -c 4096 /dev/urandom > "$T/junk"
J=$(sha "$T/junk")
expect "an unreferenced blob in the store" 201 -- -X POST --data-binary @"$T/junk" "$URL/v2/junk/blobs/uploads/?digest=$J"
rm -rf "$STRATA_ROOT/repositories/junk"

python3 - "$URL" "$T" <<'PY' &
# pushers: each loops POST, two PATCHes with a pause (the session stays open), PUT, then a
# manifest naming the blob as its config, by tag or (every other time) by digest only; every
# accepted push is recorded. One more upload is opened and half-sent at once and finished only
# when gc is over.
import hashlib, http.client, json, os, sys, threading, time, urllib.parse
url, tdir = sys.argv[1], sys.argv[2]
host = urllib.parse.urlparse(url).netloc
MT = "application/vnd.oci.image.manifest.v1+json"

def req(method, path, body=b"", headers=None):
    c = http.client.HTTPConnection(host, timeout=60)
    h = {"Content-Length": str(len(body))}
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, r.getheader("Location")

def session(repo, first):
    st, loc = req("POST", "/v2/%s/blobs/uploads/" % repo)
    assert st == 202, ("POST", st)
    st, loc = req("PATCH", loc, first, {"Content-Range": "0-%d" % (len(first) - 1)})
    assert st == 202, ("PATCH", st)
    return loc

def finish(loc, rest, offset, digest):
    st, loc = req("PATCH", loc, rest, {"Content-Range": "%d-%d" % (offset, offset + len(rest) - 1)})
    assert st == 202, ("PATCH 2", st)
    sep = "&" if "?" in loc else "?"
    st, _ = req("PUT", loc + sep + "digest=" + digest)
    assert st == 201, ("PUT", st)

def pusher(k):
    repo, n = "gc/p%d" % k, 0
    try:
        while not os.path.exists(tdir + "/stop"):
            data = os.urandom(300000)
            d = "sha256:" + hashlib.sha256(data).hexdigest()
            loc = session(repo, data[:150000])
            time.sleep(0.25)
            finish(loc, data[150000:], 150000, d)
            m = json.dumps({"schemaVersion": 2, "mediaType": MT, "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json", "digest": d,
                "size": len(data)}, "layers": []}, separators=(",", ":")).encode()
            md = "sha256:" + hashlib.sha256(m).hexdigest()
            ref = "t%d" % n if n % 2 == 0 else md
            st, _ = req("PUT", "/v2/%s/manifests/%s" % (repo, ref), m, {"Content-Type": MT})
            assert st == 201, ("PUT manifest", st)
            with open(tdir + "/pushed", "a") as f:
                f.write("%s %s %s %s\n" % (repo, ref, md, d))
            n += 1
    except Exception as e:
        with open(tdir + "/errors", "a") as f:
            f.write("pusher %d: %r\n" % (k, e))

def held_open():
    try:
        data = os.urandom(500000)
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        loc = session("gc/held", data[:200000])
        open(tdir + "/held-open", "w").close()
        while not os.path.exists(tdir + "/gc-done"):
            time.sleep(0.05)
        finish(loc, data[200000:], 200000, d)
        with open(tdir + "/held", "w") as f:
            f.write(d + "\n")
    except Exception as e:
        with open(tdir + "/errors", "a") as f:
            f.write("held upload: %r\n" % (e,))

ts = [threading.Thread(target=pusher, args=(k,)) for k in range(3)]
for i, t in enumerate(ts):
    t.start()
    time.sleep(0.1)
h = threading.Thread(target=held_open)
h.start()
for t in ts + [h]:
    t.join()
PY
PUSHERS=$!
for _i in $(seq 100); do [ -e "$T/held-open" ] && [ -s "$T/pushed" ] && break; sleep 0.1; done
before=$(wc -l < "$T/pushed" 2>/dev/null || echo 0)
check "gc finishes within 30 s while uploads stream in" timeout 30 st gc
touch "$T/gc-done"
sleep 1
touch "$T/stop"
after_gc=$(wc -l < "$T/pushed")
wait "$PUSHERS"
check "no push failed" test ! -s "$T/errors"
[ -s "$T/errors" ] && diag "$(cat "$T/errors")"
check "pushes went on during and after gc ($before before gc, $after_gc when it was over)" \
	test "$after_gc" -gt "$before"
check "gc removed the unreferenced blob" test ! -e "$STRATA_ROOT/blobs/sha256/${J#sha256:}"
bad=0
while read -r repo ref md d; do
	c=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$URL/v2/$repo/manifests/$ref")
	g=$(curl -s "$URL/v2/$repo/blobs/$d" | sha256sum | cut -d' ' -f1)
	[ "$c" = 200 ] && [ "sha256:$g" = "$d" ] || { bad=$((bad + 1)); diag "$repo $ref: manifest $c, blob $g"; }
done < "$T/pushed"
check "every pushed manifest and its blob are served ($(wc -l < "$T/pushed") pushes)" test "$bad" = 0
H=$(cat "$T/held" 2>/dev/null)
check "the upload held open across gc completed" test -n "$H"
g=$(curl -s "$URL/v2/gc/held/blobs/$H" | sha256sum | cut -d' ' -f1)
check "and its blob reads back" test "sha256:$g" = "$H"
check "a second gc keeps every pushed image" st gc
bad=0
while read -r repo ref md d; do
	[ -e "$STRATA_ROOT/blobs/sha256/${d#sha256:}" ] && [ -e "$STRATA_ROOT/blobs/sha256/${md#sha256:}" ] || bad=$((bad + 1))
done < "$T/pushed"
check "no pushed blob or manifest was collected" test "$bad" = 0
stop_serve
check "fsck" st fsck
done_testing
