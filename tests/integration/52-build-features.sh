#!/bin/sh
# 52-build-features.sh: ONBUILD triggers of a base image (run after the FROM, then cleared),
# --secret with RUN --mount=type=secret (never in a layer or in the key), --ssh default,
# --add-host.
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
check "fsck" st fsck
done_testing
