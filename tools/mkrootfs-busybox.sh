#!/bin/sh
# tools/mkrootfs-busybox.sh DIR: a minimal root filesystem from Debian's busybox-static
# (/bin/busybox and a symlink per applet, /etc/passwd and /etc/group). No network needed.
set -eu
r=$1
[ -x /bin/busybox ] || { echo "mkrootfs-busybox: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/home" "$r/usr/bin" "$r/sbin"
cp /bin/busybox "$r/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nstaff:x:50:alice\n' > "$r/etc/group"
chmod 1777 "$r/tmp"
