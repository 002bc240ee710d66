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
# `st` runs strata with the test's store, also inside `sh -c` (a script on PATH, not a function)
mkdir -p "$T/bin"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$STRATA" > "$T/bin/st"
chmod +x "$T/bin/st"
PATH="$T/bin:$PATH"
export PATH STRATA
done_testing() { echo "1..$_n"; [ "$_failed" -eq 0 ]; }

# A busybox root filesystem made from Debian's busybox-static (tools/mkrootfs-busybox.sh).
make_busybox_rootfs() {
	"$SRCDIR/tools/mkrootfs-busybox.sh" "$1"
}
