#!/bin/sh
# 52-build-features.sh: ONBUILD triggers of a base image (run after the FROM, then cleared),
# --secret with RUN --mount=type=secret (never in a layer or in the key), --ssh default,
# --add-host, COPY heredocs, RUN --mount=type=bind (from= an image; sources in the key), ADD <url>
# (from a python3 http.server on 127.0.0.1).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN runs containers)"
grep -q overlay /proc/filesystems || skip_all "no overlayfs"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
st import "$T/rootfs" bb >/dev/null || { echo "Bail out! import failed"; exit 1; }
cfg() { st inspect "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)[0]['Config']['config'].get('$2'))"; }

# ONBUILD
mkdir -p "$T/ob"; echo hello > "$T/ob/a.txt"
printf 'FROM bb\nONBUILD ARG WHO=world\nONBUILD RUN echo "trig $WHO" > /trig\nONBUILD COPY a.txt /a\n' > "$T/ob/Dockerfile.base"
printf 'FROM obbase\n\nRUN cat /trig /a > /both\n' > "$T/ob/Dockerfile"
check "an image with ONBUILD triggers" sh -c "st build -f '$T/ob/Dockerfile.base' -t obbase '$T/ob' >/dev/null 2>&1"
check "keeps them in its config" sh -c "[ -n \"\$(st inspect obbase | grep -A3 '\"OnBuild\"' | grep 'COPY a.txt /a')\" ]"
check "a build FROM it runs them after the FROM, with the stage's args" sh -c "st build --build-arg WHO=you -t obchild '$T/ob' >/dev/null 2>&1 && [ \"\$(st run --rm obchild cat /both | tr '\n' ' ')\" = 'trig you hello ' ]"
check "and the new image has none" [ "$(cfg obchild OnBuild)" = None ]
printf 'FROM obbase\n\nRUN exit 5\n' > "$T/ob/Dockerfile"
check_fails "a later step's error keeps its own line" "Dockerfile:3: RUN exit 5" st build -t obbad "$T/ob"
printf 'FROM bb\nONBUILD RUN exit 6\n' > "$T/ob/Dockerfile.base"
printf 'FROM localhost/obfail\nRUN true\n' > "$T/ob/Dockerfile"
st build -f "$T/ob/Dockerfile.base" -t localhost/obfail "$T/ob" >/dev/null 2>&1
check_fails "a failing trigger names the FROM line" "Dockerfile:1: RUN exit 6.*exit code 6" st build -t obbad "$T/ob"

# --secret
mkdir -p "$T/sec"; echo s3cr3t-value > "$T/secret.txt"
cat > "$T/sec/Dockerfile" <<'DF'
FROM bb
RUN --mount=type=secret,id=tok wc -c < /run/secrets/tok > /len
RUN --mount=type=secret,id=tok,target=/etc/tok,required=true grep -q s3cr3t /etc/tok && echo ok > /ok
DF
check "RUN --mount=type=secret reads the --secret file" sh -c "st build --secret id=tok,src='$T/secret.txt' -t sec '$T/sec' > '$T/log' 2>&1 && [ \"\$(st run --rm sec cat /ok)\" = ok ]"
st unpack sec "$T/sec-root" >/dev/null 2>&1
check "the secret is in no file of the image" sh -c "[ \"\$(cat '$T/sec-root/len')\" = 13 ] && ! grep -rq s3cr3t '$T/sec-root'"
check "nor in any blob of the store" sh -c "for f in '$STRATA_ROOT'/blobs/sha256/*; do zcat -f \"\$f\" | grep -aq s3cr3t-value && exit 1; done; exit 0"
echo other-value-s3cr3t > "$T/secret.txt"
check "nor in the key: another secret value is a cache hit" sh -c "st build --secret id=tok,src='$T/secret.txt' -t sec '$T/sec' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"
printf 'FROM bb\nRUN --mount=type=secret,id=tok,required=true true\n' > "$T/sec/Dockerfile"
check_fails "a required secret that was not given" "Dockerfile:2: secret \"tok\" is required" st build --no-cache -t sec2 "$T/sec"
printf 'FROM bb\nRUN --mount=type=secret,id=env1 cat /run/secrets/env1 > /e\n' > "$T/sec/Dockerfile"
check "--secret id=...,env=VAR" sh -c "MYVAR=from-env st build --secret id=env1,env=MYVAR -t sec3 '$T/sec' >/dev/null 2>&1 && [ \"\$(st run --rm sec3 cat /e)\" = from-env ]"

# --ssh default
if command -v python3 >/dev/null; then
	python3 -c 'import socket,sys,os; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/agent.sock"
	printf 'FROM bb\nRUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "$SSH_AUTH_SOCK" > /sock\n' > "$T/sec/Dockerfile"
	check "--ssh default binds the agent socket at \$SSH_AUTH_SOCK" sh -c "SSH_AUTH_SOCK='$T/agent.sock' st build --ssh default -t ssh1 '$T/sec' >/dev/null 2>&1 && [ \"\$(st run --rm ssh1 cat /sock)\" = /run/buildkit/ssh_agent.0 ]"
	check_fails "RUN --mount=type=ssh without --ssh" "needs --ssh default" st build --no-cache -t ssh2 "$T/sec"
fi

# --add-host
printf 'FROM bb\nRUN grep myhost /etc/hosts > /h\n' > "$T/sec/Dockerfile"
check "--add-host reaches RUN's /etc/hosts" sh -c "st build --network none --add-host myhost:10.1.2.3 -t ah '$T/sec' >/dev/null 2>&1 && st run --rm ah cat /h | grep -q '^10.1.2.3[[:space:]]myhost'"
check_fails "--add-host without an address" "want NAME:IP" st build --no-cache --add-host bad -t ah2 "$T/sec"
# COPY heredocs
mkdir -p "$T/hd"
printf 'FROM bb\nCOPY <<EOF <<%sEOT2%s /dst/\nhello\nEOF\nworld $HOME\nEOT2\nCOPY <<-X /one\n\tx\n\t  y\nX\n' "'" "'" > "$T/hd/Dockerfile"
check "COPY <<EOF <<'EOT2' /dst/ writes one file per heredoc" sh -c "st build -t hd '$T/hd' >/dev/null 2>&1 && [ \"\$(st run --rm hd cat /dst/EOF /dst/EOT2)\" = \"\$(printf 'hello\nworld \$HOME')\" ]"
check "<<-X strips leading tabs; files are 0664" sh -c "[ \"\$(st run --rm hd sh -c 'cat /one; stat -c %a /one')\" = \"\$(printf 'x\n  y\n664')\" ]"
check "a heredoc rebuild is cached" sh -c "st build -t hd '$T/hd' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"
printf 'FROM bb\nARG V=one\nENV W=two\nCOPY <<EOF /e\n$V "${W}" %s$V%s\nEOF\n' "'" "'" > "$T/hd/Dockerfile"
check "an unquoted COPY heredoc expands ARG and ENV, quotes stay" sh -c "st build -t hde '$T/hd' >/dev/null 2>&1 && [ \"\$(st run --rm hde cat /e)\" = \"one \\\"two\\\" 'one'\" ]"
check "--build-arg changes the body: the COPY runs again" sh -c "st build --build-arg V=uno -t hde '$T/hd' > '$T/log' 2>&1 && grep -q ' DONE ' '$T/log' && st run --rm hde cat /e | grep -q '^uno '"
printf 'FROM bb\nCOPY <<EOF /x\nchanged\nEOF\n' > "$T/hd/Dockerfile"
check "another body is another layer" sh -c "st build -t hd2 '$T/hd' >/dev/null 2>&1 && [ \"\$(st run --rm hd2 cat /x)\" = changed ]"

# RUN --mount=type=bind from an image and from a stage: their content is in the key
printf 'FROM bb AS src\nARG V=1\nRUN echo "v$V" > /v\nFROM bb\nRUN --mount=type=bind,from=src,target=/s cat /s/v > /got\nRUN --mount=type=bind,from=bbimg,source=/img-mark,target=/m cat /m > /img\n' > "$T/hd/Dockerfile"
mkdir -p "$T/bbi"; echo marked > "$T/bbi/img-mark"; printf 'FROM bb\nCOPY img-mark /\n' > "$T/bbi/Dockerfile"
st build -t bbimg "$T/bbi" >/dev/null 2>&1
check "RUN --mount=type=bind,from=IMAGE" sh -c "st build --build-arg V=1 -t bm1 '$T/hd' >/dev/null 2>&1 && [ \"\$(st run --rm bm1 cat /img /got)\" = \"\$(printf 'marked\nv1')\" ]"
check "a new source stage content runs the RUN again" sh -c "st build --build-arg V=2 -t bm2 '$T/hd' >/dev/null 2>&1 && [ \"\$(st run --rm bm2 cat /got)\" = v2 ]"
echo remarked > "$T/bbi/img-mark"; st build -t bbimg "$T/bbi" >/dev/null 2>&1
check "so does a new image under the same name" sh -c "st build --build-arg V=2 -t bm3 '$T/hd' >/dev/null 2>&1 && [ \"\$(st run --rm bm3 cat /img)\" = remarked ]"
mkdir -p "$T/cb"; echo c1 > "$T/cb/data"; printf 'FROM bb\nRUN --mount=type=bind,source=data,target=/d cat /d > /out\n' > "$T/cb/Dockerfile"
st build -t cb1 "$T/cb" >/dev/null 2>&1; echo c2 > "$T/cb/data"
check "and a new context file under a context bind" sh -c "st build -t cb2 '$T/cb' >/dev/null 2>&1 && [ \"\$(st run --rm cb2 cat /out)\" = c2 ]"

# ADD <url>
if command -v python3 >/dev/null; then
	mkdir -p "$T/www" "$T/add"; echo payload-123 > "$T/www/file.txt"
	touch -d '2020-01-02 03:04:05 UTC' "$T/www/file.txt"
	python3 -c 'import http.server,sys,functools
h=functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
s=http.server.ThreadingHTTPServer(("127.0.0.1",0),h); print(s.server_address[1],flush=True); s.serve_forever()' "$T/www" > "$T/port" 2> "$T/web.log" &
	web=$!
	i=0; while [ ! -s "$T/port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	U=http://127.0.0.1:$(cat "$T/port")
	sum=$(sha256sum "$T/www/file.txt" | cut -d' ' -f1)
	printf 'FROM bb\nADD %s/file.txt /got/\nADD --checksum=sha256:%s %s/file.txt /pinned\n' "$U" "$sum" "$U" > "$T/add/Dockerfile"
	check "ADD <url> downloads into the layer" sh -c "st build -t addu '$T/add' >/dev/null 2>&1 && [ \"\$(st run --rm addu cat /got/file.txt /pinned)\" = \"\$(printf 'payload-123\npayload-123')\" ]"
	check "mode 0600, mtime from Last-Modified" sh -c "[ \"\$(st run --rm addu stat -c '%a %Y' /got/file.txt)\" = '600 1577934245' ]"
	echo payload-456 > "$T/www/file.txt"
	check "new content at the URL: the pinned ADD fails with a checksum mismatch" sh -c "st build -t addu2 '$T/add' 2>&1 | grep -q 'checksum mismatch'"
	printf 'FROM bb\nADD %s/file.txt /got\n' "$U" > "$T/add/Dockerfile"
	gets() { grep -c 'GET /file.txt' "$T/web.log"; }
	before=$(gets)
	check "and gets it" sh -c "st build -t addu3 '$T/add' >/dev/null 2>&1 && [ \"\$(st run --rm addu3 cat /got)\" = payload-456 ]"
	check "downloading it once: the copy takes the bytes the key hashed" [ "$(gets)" = $((before + 1)) ]
	printf 'FROM bb\nADD %s/missing.txt /x\n' "$U" > "$T/add/Dockerfile"
	check_fails "a 404 names the line and the status" "Dockerfile:2: ADD .*missing.txt.*HTTP status 404" st build -t addu4 "$T/add"
	kill "$web" 2>/dev/null
fi
# --compression uncompressed (BuildKit's name, and the default): plain tar layers, digest = diffID
mkdir -p "$T/unc"
printf 'FROM bb\nRUN echo plain > /plain\n' > "$T/unc/Dockerfile"
check "--compression uncompressed" sh -c "st build --compression uncompressed -t unc '$T/unc' >/dev/null 2>&1 && [ \"\$(st run --rm unc cat /plain)\" = plain ]"
check "its new layer is a plain tar whose digest is its diffID" sh -c "st inspect unc | python3 -c '
import json, sys
i = json.load(sys.stdin)[0]
l = i[\"Manifest\"][\"layers\"][-1]
assert l[\"mediaType\"] == \"application/vnd.oci.image.layer.v1.tar\", l
assert l[\"digest\"] == i[\"Config\"][\"rootfs\"][\"diff_ids\"][-1], l
'"
if command -v skopeo >/dev/null; then
	check "skopeo reads it" sh -c "st save --format oci-archive -o '$T/unc.tar' unc && skopeo inspect oci-archive:'$T/unc.tar' >/dev/null"
else
	skip "skopeo missing"
fi
check "the default is uncompressed: the same step comes from the cache" sh -c "st build -t uncd '$T/unc' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log' && [ \"\$(st inspect uncd | grep '\"Id\"')\" = \"\$(st inspect unc | grep '\"Id\"')\" ]"
check "a cached step of another compression is not reused: gzip asked, gzip made" sh -c "st build --compression gzip -t uncg '$T/unc' > '$T/log' 2>&1 && grep -q ' DONE ' '$T/log' && st inspect uncg | grep -q 'layer.v1.tar+gzip'"
check "and the uncompressed entry is still there for --compression uncompressed" sh -c "st build --compression uncompressed -t unc2 '$T/unc' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log' && [ \"\$(st inspect unc2 | grep '\"Id\"')\" = \"\$(st inspect unc | grep '\"Id\"')\" ]"
check_fails "an unknown --compression" "gzip, zstd or uncompressed" st build --compression lz4 "$T/unc"
# --progress: tty keeps running steps live at the bottom (escape sequences), plain never does
mkdir -p "$T/prog"
printf 'FROM bb\nRUN echo out-line-1; echo out-line-2\n' > "$T/prog/Dockerfile"
if command -v script >/dev/null; then
	check "--progress tty on a terminal redraws, ends each step with DONE and says it built" sh -c "
		script -qec \"'$STRATA' --root '$STRATA_ROOT' build --no-cache --progress tty -t prog '$T/prog'\" /dev/null > '$T/tty.log' 2>&1 &&
		grep -q \"\$(printf '\\033')\\[1A\" '$T/tty.log' && grep -q 'RUN echo out-line-1.*DONE' '$T/tty.log' &&
		grep -q '  > out-line-2' '$T/tty.log' && grep -q 'built in [0-9.]*s' '$T/tty.log'"
	check "--progress auto on a terminal is tty" sh -c "
		script -qec \"'$STRATA' --root '$STRATA_ROOT' build --no-cache -t prog '$T/prog'\" /dev/null > '$T/tty.log' 2>&1 &&
		grep -q \"\$(printf '\\033')\\[1A\" '$T/tty.log'"
else
	skip "no script(1)"; skip "no script(1)"
fi
check "--progress plain on a terminal is plain" sh -c "
	st build --no-cache --progress plain -t prog '$T/prog' > '$T/plain.log' 2>&1 &&
	! grep -q \"\$(printf '\\033')\" '$T/plain.log' && grep -q '^#[0-9]* out-line-1$' '$T/plain.log'"
check_fails "an unknown --progress" "--progress must be auto, plain, tty or quiet" st build --progress fancy "$T/prog"
check "fsck" st fsck
done_testing
