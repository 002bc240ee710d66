# registry.sh: sourced by the registry tests: Debian's docker-registry on 127.0.0.1 with
# filesystem storage under the test's directory, killed on exit; helpers to read its log.
command -v docker-registry >/dev/null || skip_all "docker-registry missing (scripts/install-deps.sh)"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v curl >/dev/null || skip_all "curl missing"
REGTOOL="$SRCDIR/tests/integration/reg-tool.py"
_pids=""
reg_cleanup() {
	for p in $_pids; do kill "$p" 2>/dev/null; done
	for p in $_pids; do wait "$p" 2>/dev/null; done
	cleanup
}
trap reg_cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# bg CMD...: runs CMD in the background, killed at exit; its pid in $!
bg() { "$@" & _pids="$_pids $!"; }

# start_registry DIR PORT [AUTH_YAML]: config.yml, data/ and log in DIR; waits for /v2/
start_registry() {
	mkdir -p "$1/data"
	cat > "$1/config.yml" <<-YML
	version: 0.1
	log:
	  level: info
	storage:
	  filesystem:
	    rootdirectory: $1/data
	http:
	  addr: 127.0.0.1:$2
	${3:-}
	YML
	docker-registry serve "$1/config.yml" >> "$1/log" 2>&1 &
	echo $! > "$1/pid"
	_pids="$_pids $!"
	for _i in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$2/v2/" && return 0
		sleep 0.1
	done
	echo "Bail out! docker-registry did not start"; cat "$1/log"; exit 1
}
stop_registry() {
	kill "$(cat "$1/pid")" 2>/dev/null
	wait "$(cat "$1/pid")" 2>/dev/null
}
# log_mark DIR: remembers the log's length; log_since DIR: the request lines since the mark
log_mark() { wc -l < "$1/log" > "$1/mark"; }
log_since() { tail -n +"$(($(cat "$1/mark") + 1))" "$1/log" | grep -oE '"(GET|HEAD|POST|PUT|PATCH|DELETE) [^ ]*'; }
# blob upload requests that carry bytes (a mount is a POST and carries none)
uploads_since() { log_since "$1" | grep -E '^"(PUT|PATCH) /v2/[^ ]*/blobs/uploads/' || true; }

# digests STORE REF: the manifest, config and layer digests of an image, one line (a script on
# PATH, so that `sh -c` can use it)
cat > "$T/bin/digests" <<'PY'
#!/bin/sh
"$STRATA" --root "$1" inspect "$2" | python3 -c 'import json,sys; d=json.load(sys.stdin)[0]; print(d["Digest"], d["Id"], *[l["digest"] for l in d["Manifest"]["layers"]])'
PY
chmod +x "$T/bin/digests"
