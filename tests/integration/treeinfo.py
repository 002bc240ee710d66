#!/usr/bin/env python3
"""treeinfo.py DIR [EXCLUDE...]: one sorted line per path under DIR with what a layer must
keep: type, mode, uid:gid, size, device numbers, symlink target, content hash, hardlink group
and xattrs (trusted.overlay.* left out); mtimes are left out on purpose."""
import hashlib, os, stat, sys

root = sys.argv[1]
exclude = set(sys.argv[2:])
lines, inodes = [], {}
for dirpath, dirnames, filenames in os.walk(root):
    for name in sorted(dirnames + filenames):
        p = os.path.join(dirpath, name)
        rel = os.path.relpath(p, root)
        if rel in exclude:
            continue
        st = os.lstat(p)
        kind = stat.S_IFMT(st.st_mode)
        extra = ""
        if stat.S_ISLNK(st.st_mode):
            extra = "->" + os.readlink(p)
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            extra = h.hexdigest()[:16] + " size=%d" % st.st_size
            if st.st_nlink > 1:
                first = inodes.setdefault((st.st_dev, st.st_ino), rel)
                extra += " link=" + first
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            extra = "dev=%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        try:
            names = sorted(n for n in os.listxattr(p, follow_symlinks=False)
                           if not n.startswith("trusted.overlay."))
            xattrs = " ".join("%s=%s" % (n, os.getxattr(p, n, follow_symlinks=False).hex())
                              for n in names)
        except OSError:
            xattrs = "?"
        lines.append("%s %o %o %d:%d %s %s" % (rel, kind >> 12, stat.S_IMODE(st.st_mode),
                                              st.st_uid, st.st_gid, extra, xattrs))
print("\n".join(sorted(lines)))
