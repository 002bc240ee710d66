#!/bin/sh
# 31-registry-auth.sh: registry auth against docker-registry on 127.0.0.1: Basic (htpasswd) and
# Bearer tokens from a token server the registry trusts (a python server signing RS256 JWTs), with
# credentials from `strata login` (Docker's config.json), a credential helper, and wrong
# credentials refused with a clear message.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/registry.sh"
command -v htpasswd >/dev/null || skip_all "htpasswd missing (apache2-utils)"
command -v openssl >/dev/null || skip_all "openssl missing"
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
S="timeout 120 $STRATA"
export DOCKER_CONFIG="$T/docker"
st import "$T/rootfs" busybox >/dev/null || { echo "Bail out! import failed"; exit 1; }

# ---- Basic ----
htpasswd -cbB "$T/htpasswd" alice s3cret 2>/dev/null
P=$(free_port)
REG=127.0.0.1:$P
start_registry "$T/basic" "$P" "auth:
  htpasswd:
    realm: strata-test
    path: $T/htpasswd"
check_fails "anonymous push is refused, naming registry and repository" "$REG, repository a/bb.*authentication required" $S push busybox "$REG/a/bb:1"
check_fails "login with a wrong password is refused" "access denied for user 'alice'" sh -c "echo wrong | $S login -u alice --password-stdin $REG"
check "no credentials stored after a refused login" sh -c "[ ! -e '$DOCKER_CONFIG/config.json' ] || ! grep -q '$REG' '$DOCKER_CONFIG/config.json'"
check "login with the right password" sh -c "echo s3cret | $S login -u alice --password-stdin $REG | grep -q 'Login Succeeded'"
check "config.json holds base64(user:password) under auths" sh -c "python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(open(sys.argv[1]))[\"auths\"][sys.argv[2]][\"auth\"]).decode())' '$DOCKER_CONFIG/config.json' $REG | grep -qx 'alice:s3cret'"
check "push with Basic auth" $S push -q busybox "$REG/a/bb:1"
check "pull with Basic auth" $S --root "$T/r1" pull -q "$REG/a/bb:1"
check "skopeo reads the same config.json" skopeo inspect --tls-verify=false --authfile "$DOCKER_CONFIG/config.json" "docker://$REG/a/bb:1"
check "logout" sh -c "$S logout $REG | grep -q Removing"
check_fails "after logout pulls are refused" "authentication required" $S --root "$T/r2" pull "$REG/a/bb:1"
check_fails "logout again: not logged in" "not logged in" $S logout "$REG"

# a credential helper named by credHelpers
mkdir -p "$T/helper"
cat > "$T/helper/docker-credential-strata-test" <<EOF
#!/bin/sh
read -r server
[ "\$1" = get ] && [ "\$server" = "$REG" ] && echo '{"ServerURL":"$REG","Username":"alice","Secret":"s3cret"}' && exit 0
echo "credentials not found in native keychain"; exit 1
EOF
chmod +x "$T/helper/docker-credential-strata-test"
printf '{"credHelpers":{"%s":"strata-test"}}\n' "$REG" > "$DOCKER_CONFIG/config.json"
check "pull with credentials from docker-credential-<helper>" env PATH="$T/helper:$PATH" $S --root "$T/r3" pull -q "$REG/a/bb:1"
stop_registry "$T/basic"

# ---- Bearer tokens ----
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=strata-token -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
bg python3 "$REGTOOL" tokenserver "$T/tport" "$T/key.pem" "$T/cert.pem" bob hunter2
for i in $(seq 50); do [ -s "$T/tport" ] && break; sleep 0.1; done
[ -s "$T/tport" ] || { echo "Bail out! token server did not start"; exit 1; }
P2=$(free_port)
REG2=127.0.0.1:$P2
start_registry "$T/bearer" "$P2" "auth:
  token:
    realm: http://127.0.0.1:$(cat "$T/tport")/token
    service: strata-test-registry
    issuer: strata-test
    rootcertbundle: $T/cert.pem"
rm -f "$DOCKER_CONFIG/config.json"
check_fails "anonymous: the token server refuses" "$REG2.*(refused anonymous|authentication required)" $S push busybox "$REG2/b/bb:1"
check_fails "wrong password: the token server refuses user bob" "refused the credentials of user bob" sh -c "echo nope | $S login -u bob --password-stdin $REG2"
check "login with a token server" sh -c "echo hunter2 | $S login -u bob --password-stdin $REG2 | grep -q 'Login Succeeded'"
check "push with Bearer tokens" $S push -q busybox "$REG2/b/bb:1"
check "pull with Bearer tokens, same digests" sh -c "$S --root '$T/r4' pull -q '$REG2/b/bb:1' && [ \"\$(digests '$STRATA_ROOT' busybox)\" = \"\$(digests '$T/r4' '$REG2/b/bb:1')\" ]"
check "cross-repository mount with a token for both repositories" sh -c "$S push busybox '$REG2/c/bb:1' 2>&1 | grep -q Mounted"

done_testing
