# lib.sh: sourced by every integration test. TAP output, a private temporary directory and
# store, per-step helpers, and skips that say why.
set -u
: "${STRATA:?STRATA must name the strata binary}"
: "${SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
T=$(mktemp -d "${TMPDIR:-/tmp}/strata-it-XXXXXX")
export STRATA_ROOT="$T/root"
SHARED="$SRCDIR/../shared"
_n=0
_failed=0
cleanup() {
	# mounts a test may have left behind go first, then the tree
	grep -o " $T[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $*"; }
skip() { _n=$((_n + 1)); echo "ok $_n - # SKIP $*"; }
diag() { echo "$*" | sed 's/^/# /'; }
# check DESCRIPTION CMD...: ok when CMD succeeds; its output shown as diagnostics on failure
check() {
	_d=$1; shift
	if _out=$("$@" 2>&1); then ok "$_d"; else not_ok "$_d"; diag "$_out"; fi
}
# check_fails DESCRIPTION PATTERN CMD...: ok when CMD fails and its stderr matches PATTERN
check_fails() {
	_d=$1; _p=$2; shift 2
	if _out=$("$@" 2>&1); then
		not_ok "$_d (succeeded)"; diag "$_out"
	elif echo "$_out" | grep -qE -- "$_p"; then
		ok "$_d"
	else
		not_ok "$_d (wrong error)"; diag "$_out"
	fi
}
st() { "$STRATA" "$@"; }
done_testing() { [ "$_failed" -eq 0 ]; }

# A busybox root filesystem made from Debian's busybox-static: /bin/busybox and its applets.
make_busybox_rootfs() {
	_r=$1
	command -v busybox >/dev/null 2>&1 || [ -x /bin/busybox ] || return 1
	mkdir -p "$_r/bin" "$_r/etc" "$_r/tmp" "$_r/root" "$_r/usr/bin" "$_r/sbin"
	cp /bin/busybox "$_r/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$_r/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n' > "$_r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\nalice:x:1000:\nstaff:x:50:alice\n' > "$_r/etc/group"
	chmod 1777 "$_r/tmp"
}
