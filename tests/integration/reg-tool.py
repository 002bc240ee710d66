#!/usr/bin/env python3
"""reg-tool.py: helpers for the registry tests (standard library and the openssl CLI only).

  addlayer IN_LAYOUT OUT_LAYOUT NAME SIZE   an image = IN's image + one layer of SIZE random bytes
  mkindex REGISTRY REPO TAG                 makes REPO:TAG a linux/amd64 + linux/arm64 index of
                                            REPO:TAG's manifest; prints the arm64 config digest
  proxy PORTFILE UPSTREAM_PORT RATE LOG     TCP proxy, RATE bytes/s towards the client; logs the
                                            request heads it forwards
  tokenserver PORTFILE KEY CERT USER PASS   Docker token server issuing RS256 JWTs (x5c header)
  artifact REGISTRY REPO TAG SUBJECT NOTE   pushes REPO:TAG, an SBOM-like artifact manifest
                                            (artifactType, empty config, one JSON layer, an
                                            annotation NOTE, indented JSON) whose subject is
                                            REPO@SUBJECT; prints its digest
"""
import base64, gzip, hashlib, http.server, io, json, os, random, socket, subprocess, sys
import tarfile, threading, time, urllib.parse, urllib.request


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def addlayer(src, dst, name, size):
    os.makedirs(dst + "/blobs/sha256", exist_ok=True)
    with open(dst + "/oci-layout", "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    def blob(d):
        return open(src + "/blobs/sha256/" + d[7:], "rb").read()
    def put(b):
        d = sha(b)
        open(dst + "/blobs/sha256/" + d[7:], "wb").write(b)
        return d
    m = json.loads(blob(json.load(open(src + "/index.json"))["manifests"][0]["digest"]))
    cfg = json.loads(blob(m["config"]["digest"]))
    for l in m["layers"]:
        put(blob(l["digest"]))
    data = random.Random(size).randbytes(size)
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo("big.bin")
        ti.size, ti.mtime, ti.mode = len(data), 1700000000, 0o644
        t.addfile(ti, io.BytesIO(data))
    raw = tbuf.getvalue()
    gz = gzip.compress(raw, compresslevel=1, mtime=0)
    cfg["rootfs"]["diff_ids"].append(sha(raw))
    cfg.setdefault("history", []).append({"created_by": "reg-tool addlayer"})
    cb = json.dumps(cfg).encode()
    m["config"] = {"mediaType": m["config"]["mediaType"], "digest": put(cb), "size": len(cb)}
    m["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": put(gz), "size": len(gz)})
    mb = json.dumps(m).encode()
    idx = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(mb),
        "size": len(mb), "annotations": {"org.opencontainers.image.ref.name": name}}]}
    json.dump(idx, open(dst + "/index.json", "w"))


def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as r:
        return r.status, dict(r.headers), r.read()


def mkindex(reg, repo, tag):
    base = "http://%s/v2/%s" % (reg, repo)
    acc = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    _, _, mb = request("GET", "%s/manifests/%s" % (base, tag), headers=acc)
    m = json.loads(mb)
    _, _, cb = request("GET", "%s/blobs/%s" % (base, m["config"]["digest"]))
    cfg = json.loads(cb)
    cfg["architecture"] = "arm64"
    arm = json.dumps(cfg).encode()
    _, h, _ = request("POST", base + "/blobs/uploads/", b"")
    loc = h["Location"]
    loc = loc if loc.startswith("http") else "http://" + reg + loc
    sep = "&" if "?" in loc else "?"
    request("PUT", loc + sep + "digest=" + urllib.parse.quote(sha(arm)), arm,
         {"Content-Type": "application/octet-stream"})
    m2 = dict(m, config={"mediaType": m["config"]["mediaType"], "digest": sha(arm),
                         "size": len(arm)})
    m2b = json.dumps(m2).encode()
    mt = "application/vnd.oci.image.manifest.v1+json"
    request("PUT", "%s/manifests/%s" % (base, sha(m2b)), m2b, {"Content-Type": mt})
    ix = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
          "manifests": [
              {"mediaType": mt, "digest": sha(m2b), "size": len(m2b),
               "platform": {"os": "linux", "architecture": "arm64"}},
              {"mediaType": mt, "digest": sha(mb), "size": len(mb),
               "platform": {"os": "linux", "architecture": "amd64"}}]}
    ixb = json.dumps(ix).encode()
    request("PUT", "%s/manifests/%s" % (base, tag), ixb,
         {"Content-Type": "application/vnd.oci.image.index.v1+json"})
    print(sha(arm))


def upload_blob(reg, base, data):
    _, h, _ = request("POST", base + "/blobs/uploads/", b"")
    loc = h["Location"]
    loc = loc if loc.startswith("http") else "http://" + reg + loc
    sep = "&" if "?" in loc else "?"
    request("PUT", loc + sep + "digest=" + urllib.parse.quote(sha(data)), data,
            {"Content-Type": "application/octet-stream"})
    return {"digest": sha(data), "size": len(data)}


def artifact(reg, repo, tag, subject, note):
    base = "http://%s/v2/%s" % (reg, repo)
    mt = "application/vnd.oci.image.manifest.v1+json"
    _, h, _ = request("HEAD", "%s/manifests/%s" % (base, subject), headers={"Accept": mt})
    empty = dict(upload_blob(reg, base, b"{}"), mediaType="application/vnd.oci.empty.v1+json")
    sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": note}).encode()
    layer = dict(upload_blob(reg, base, sbom), mediaType="application/spdx+json")
    m = {"schemaVersion": 2, "mediaType": mt,
         "artifactType": "application/vnd.example.sbom.v1", "config": empty,
         "layers": [layer],
         "subject": {"mediaType": mt, "digest": subject,
                     "size": int(h["Content-Length"])},
         "annotations": {"org.example.note": note}}
    mb = json.dumps(m, indent=3).encode()  # not canonical: pushes must keep these bytes
    request("PUT", "%s/manifests/%s" % (base, tag), mb, {"Content-Type": mt})
    print(sha(mb))


def proxy(portfile, upstream, rate, log):
    rate = int(rate)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    logf = open(log, "a", buffering=1)
    def pump(a, b, slow):
        try:
            while True:
                d = a.recv(65536 if not slow else max(1024, rate // 20))
                if not d:
                    break
                if not slow:
                    for line in d.split(b"\r\n"):
                        if line.startswith((b"GET ", b"HEAD ", b"PUT ", b"POST ", b"PATCH ")) \
                                or line.lower().startswith(b"range:"):
                            logf.write(line.decode("latin-1") + "\n")
                b.sendall(d)
                if slow:
                    time.sleep(len(d) / rate)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
    def serve(c):
        try:
            u = socket.create_connection(("127.0.0.1", int(upstream)))
        except OSError:
            c.close()
            return
        threading.Thread(target=pump, args=(c, u, False), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, True), daemon=True).start()
    open(portfile + ".tmp", "w").write(str(ls.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    while True:
        c, _ = ls.accept()
        serve(c)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def tokenserver(portfile, key, cert, user, password):
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"],
                         capture_output=True, check=True).stdout
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass
        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            auth = self.headers.get("Authorization", "")
            want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
            if auth != want:
                self.send_response(401)
                self.end_headers()
                return
            access = []
            for s in q.get("scope", []):
                parts = s.split(":")
                if len(parts) == 3:
                    access.append({"type": parts[0], "name": parts[1],
                                   "actions": parts[2].split(",")})
            now = int(time.time())
            hdr = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            claims = {"iss": "strata-test", "sub": user, "aud": q.get("service", [""])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now,
                      "jti": os.urandom(8).hex(), "access": access}
            signing = b64u(json.dumps(hdr).encode()) + "." + b64u(json.dumps(claims).encode())
            sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                                 input=signing.encode(), capture_output=True, check=True).stdout
            body = json.dumps({"token": signing + "." + b64u(sig), "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "addlayer":
        addlayer(args[0], args[1], args[2], int(args[3]))
    elif cmd == "mkindex":
        mkindex(*args)
    elif cmd == "proxy":
        proxy(*args)
    elif cmd == "tokenserver":
        tokenserver(*args)
    elif cmd == "artifact":
        artifact(*args)
    else:
        sys.exit("reg-tool: unknown command " + cmd)
