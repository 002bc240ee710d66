#!/bin/sh
# 51-build-pull.sh: FROM and COPY --from of an image that is not in the store pull it through
# the registry client; --pull pulls it again (a newer push under the same tag wins); a pull
# failure names the Dockerfile line and tags nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN runs containers)"
grep -q overlay /proc/filesystems || skip_all "no overlayfs"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
P=$(free_port)
REG=127.0.0.1:$P
start_registry "$T/reg" "$P"
# the base lives only in the registry; builds run in an empty store ($T/b)
st import -c 'CMD ["echo", "one"]' "$T/rootfs" base:1 >/dev/null || { echo "Bail out! import failed"; exit 1; }
st push -q base:1 "$REG/t/base:1" >/dev/null || { echo "Bail out! push failed"; exit 1; }
B="$STRATA --root $T/b"

mkdir -p "$T/ctx"
printf 'FROM %s/t/base:1\nRUN echo built > /built\n' "$REG" > "$T/ctx/Dockerfile"
check "FROM an image missing from the store pulls it" sh -c "$B build -t app '$T/ctx' > '$T/log' 2>&1"
check "the build ran on it" sh -c "[ \"\$($B run --rm app cat /built)\" = built ]"
check "and the base is now in the store" sh -c "$B images | grep -q '$REG/t/base'"
log_mark "$T/reg"
check "a second build does not pull" sh -c "$B build -t app '$T/ctx' > '$T/log' 2>&1 && ! grep -q pulling '$T/log'"
got=$(log_since "$T/reg" || true)
if [ -z "$got" ]; then ok "and asks the registry nothing"; else not_ok "and asks the registry nothing"; diag "$got"; fi

# a newer image under the same tag: only --pull sees it
mkdir -p "$T/root2"; cp -a "$T/rootfs/." "$T/root2/"; echo two > "$T/root2/marker"
st import -c 'CMD ["echo", "two"]' "$T/root2" base:2 >/dev/null
st push -q base:2 "$REG/t/base:1" >/dev/null
check "without --pull the stored base is used" sh -c "! $B run --rm app cat /marker >/dev/null 2>&1 && $B build -t app '$T/ctx' > '$T/log' 2>&1 && ! $B run --rm app cat /marker >/dev/null 2>&1"
check "--pull refreshes it" sh -c "$B build --pull -t app '$T/ctx' > '$T/log' 2>&1 && grep -q pulling '$T/log' && [ \"\$($B run --rm app cat /marker)\" = two ]"
check "and its key changed: the RUN ran again" grep -q ' DONE ' "$T/log"

# COPY --from=image pulls too
printf 'FROM scratch\nCOPY --from=%s/t/other:1 /marker /m\n' "$REG" > "$T/ctx/Dockerfile"
st push -q base:2 "$REG/t/other:1" >/dev/null
check "COPY --from an image missing from the store pulls it" sh -c "$B build -t copied '$T/ctx' > '$T/log' 2>&1 && $B unpack copied '$T/u' && [ \"\$(cat '$T/u/m')\" = two ]"

# failures
printf 'FROM scratch\n\nFROM %s/t/nosuch:1\nRUN true\n' "$REG" > "$T/ctx/Dockerfile"
check_fails "FROM a name the registry does not have: the line and the name" "Dockerfile:3: FROM $REG/t/nosuch:1.*not found" $B build -t bad "$T/ctx"
check "nothing tagged" sh -c "! $B images | grep -q '^bad '"
check "fsck" $B fsck
done_testing
