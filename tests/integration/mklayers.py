#!/usr/bin/env python3
"""mklayers.py ROOTFS N OUTDIR NAME: an OCI image layout whose first layer is ROOTFS and whose
N-1 further layers each add /layers/lNNN (plain tar layers), named NAME."""
import hashlib, io, json, os, sys, tarfile

rootfs, n, out, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)

def put(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return "sha256:" + d, len(data)

def layer(add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add(t)
    return buf.getvalue()

def base(t):
    t.add(rootfs, arcname=".", recursive=True)

layers, diff_ids = [], []
for i in range(n):
    if i == 0:
        data = layer(base)
    else:
        def one(t, i=i):
            if i == 1:
                d = tarfile.TarInfo("layers"); d.type = tarfile.DIRTYPE; d.mode = 0o755
                t.addfile(d)
            body = ("layer %d\n" % i).encode()
            f = tarfile.TarInfo("layers/l%03d" % i); f.size = len(body); f.mode = 0o644
            t.addfile(f, io.BytesIO(body))
        data = layer(one)
    dg, size = put(data)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": dg, "size": size})
    diff_ids.append(dg)
cfg = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
       "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cd, cs = put(json.dumps(cfg).encode())
man = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
       "layers": layers}
md, ms = put(json.dumps(man).encode())
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"], "digest": md, "size": ms,
               "annotations": {"org.opencontainers.image.ref.name": name}}]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion": "1.0.0"}')
