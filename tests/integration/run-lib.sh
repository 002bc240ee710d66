# run-lib.sh: sourced by the container tests: skips when the machine cannot run containers, a
# busybox image or two, and a trap that removes every container (and so every mount) left.
[ "$(id -u)" = 0 ] || skip_all "needs root"
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems || skip_all "overlayfs missing"
unshare -m -p -f -u -i -n true 2>/dev/null || skip_all "namespaces unavailable"
make_busybox_rootfs "$T/rootfs" >/dev/null 2>&1 || skip_all "busybox-static missing"
run_cleanup() {
	for c in $(st ps -aq 2>/dev/null); do st rm -f "$c" >/dev/null 2>&1; done
	cleanup
}
trap run_cleanup EXIT
# bb: CMD only; ep: ENTRYPOINT + CMD; envimg: ENV and WORKDIR
st import -c 'CMD ["echo", "hello"]' "$T/rootfs" bb >/dev/null || { echo "Bail out! import failed"; exit 1; }
st import -c 'ENTRYPOINT ["echo", "ep"]' -c 'CMD ["default"]' "$T/rootfs" ep >/dev/null
st import -c 'ENV FOO=img BAR=b' -c 'WORKDIR /data' -c 'CMD ["sh"]' "$T/rootfs" envimg >/dev/null
# out_is DESC EXPECTED CMD...: ok when CMD's stdout is EXPECTED
out_is() {
	_d=$1; _e=$2; shift 2
	_o=$("$@" 2>"$T/stderr"); _rc=$?
	if [ "$_o" = "$_e" ]; then ok "$_d"; else not_ok "$_d"; diag "expected: $_e"; diag "got ($_rc): $_o"; diag "$(cat "$T/stderr")"; fi
}
# status_is DESC CODE CMD...
status_is() {
	_d=$1; _e=$2; shift 2
	"$@" >"$T/out" 2>&1; _rc=$?
	if [ "$_rc" = "$_e" ]; then ok "$_d"; else not_ok "$_d (exit $_rc, want $_e)"; diag "$(cat "$T/out")"; fi
}
containers_left() { ls "$STRATA_ROOT/containers" 2>/dev/null | grep -cE '^[0-9a-f]{64}$'; }
