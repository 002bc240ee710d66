# serve.sh: sourced by the 60-serve* tests: `strata serve` on 127.0.0.1 with a free port, killed
# on exit; curl helpers that print the status code.
command -v curl >/dev/null || skip_all "curl missing"
command -v python3 >/dev/null || skip_all "python3 missing"
_spids=""
serve_cleanup() {
	for p in $_spids; do kill "$p" 2>/dev/null; done
	for p in $_spids; do wait "$p" 2>/dev/null; done
	cleanup
}
trap serve_cleanup EXIT
trap 'exit 1' INT TERM

# start_serve DIR [ARGS...]: serves $STRATA_ROOT; the port in $PORT, the pid in $SPID, the
# access log in DIR/log
start_serve() {
	_d=$1; shift
	mkdir -p "$_d"; rm -f "$_d/port"
	"$STRATA" serve --addr 127.0.0.1:0 --port-file "$_d/port" "$@" 2>>"$_d/log" &
	SPID=$!
	_spids="$_spids $SPID"
	for _i in $(seq 100); do
		[ -s "$_d/port" ] && break
		sleep 0.05
	done
	[ -s "$_d/port" ] || { echo "Bail out! strata serve did not start"; cat "$_d/log"; exit 1; }
	PORT=$(cat "$_d/port")
	URL="http://127.0.0.1:$PORT"
}
stop_serve() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }

# code ARGS...: curl's status code (body in $T/body, headers in $T/hdr)
code() { curl -s -m 20 -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@"; }
# expect DESC STATUS [ERRCODE] -- CURL ARGS...
expect() {
	_d=$1; _s=$2; shift 2
	_e=""
	if [ "$1" != "--" ]; then _e=$1; shift; fi
	shift
	_got=$(code "$@")
	if [ "$_got" = "$_s" ] && { [ -z "$_e" ] || grep -q "\"code\":\"$_e\"" "$T/body"; }; then
		ok "$_d"
	else
		not_ok "$_d (got $_got, want $_s $_e)"; diag "$(cat "$T/body" 2>/dev/null | head -c 400)"
	fi
}
hdr() { tr -d '\r' < "$T/hdr" | awk -v k="$1" 'tolower($1) == tolower(k) ":" {print $2}'; }
sha() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
