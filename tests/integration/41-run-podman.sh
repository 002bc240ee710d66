#!/bin/sh
# 41-run-podman.sh: the same cases under `strata run` and `podman run` on the same busybox
# images (saved by strata, loaded into a private podman store): same output, same exit status.
# podman adds TERM and container=podman to the environment, so cases print only what they set.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"
command -v podman >/dev/null || skip_all "podman missing"
. "$(dirname "$0")/run-lib.sh"
podman_setup
trap 'podman_cleanup; run_cleanup' EXIT
# podman names archive images without a registry localhost/NAME: both sides use that name
for i in bb ep envimg; do st tag $i localhost/$i:latest; done
st save -o "$T/imgs.tar" localhost/bb localhost/ep localhost/envimg >/dev/null || { echo "Bail out! save failed"; exit 1; }
podman load -q -i "$T/imgs.tar" >/dev/null 2>&1 || skip_all "podman load failed"
podman run --rm --network none localhost/bb:latest true >/dev/null 2>&1 || skip_all "podman cannot run containers here"

# same DESC [OPTIONS --] IMAGE [ARGS]: runs both with `sh -c` quoting kept by "$@"
same() {
	_d=$1; shift
	_so=$(st run --rm "$@" 2>/dev/null); _sr=$?
	_po=$(podman run --rm --network none "$@" 2>/dev/null); _pr=$?
	if [ "$_so" = "$_po" ] && [ "$_sr" = "$_pr" ]; then
		ok "$_d"
	else
		not_ok "$_d"; diag "strata ($_sr): $_so"; diag "podman ($_pr): $_po"
	fi
}
# same_in DESC INPUT ARGS...: as same, with INPUT on stdin
same_in() {
	_d=$1; _in=$2; shift 2
	_so=$(echo "$_in" | st run --rm "$@" 2>/dev/null); _sr=$?
	_po=$(echo "$_in" | podman run --rm --network none "$@" 2>/dev/null); _pr=$?
	if [ "$_so" = "$_po" ] && [ "$_sr" = "$_pr" ]; then ok "$_d"; else
		not_ok "$_d"; diag "strata ($_sr): $_so"; diag "podman ($_pr): $_po"; fi
}
B=localhost/bb:latest E=localhost/ep:latest V=localhost/envimg:latest
same "image CMD (exec form)" $B
same "COMMAND replaces CMD" $B echo a b
same "shell form through sh -c" $B sh -c 'echo $((1 + 2)) "$0"'
same "ENTRYPOINT + CMD" $E
same "ENTRYPOINT + COMMAND" $E x y
same "--entrypoint \"\" with COMMAND" --entrypoint "" $E echo z
same "--entrypoint discards CMD" --entrypoint echo $E
same "--entrypoint with COMMAND" --entrypoint echo $E q r
same "--entrypoint \"\" without COMMAND fails alike" --entrypoint "" $E
same "env: -e overrides the image, others stay" -e FOO=cli $V sh -c 'echo $FOO $BAR'
same "env: later -e wins" -e FOO=1 -e FOO=2 $B sh -c 'echo $FOO'
FROMHOST=hostval; export FROMHOST
same "env: -e NAME copies the host's value" -e FROMHOST $B sh -c 'echo $FROMHOST'
same "env: -e NAME unset on the host" -e NOTSETANYWHERE $B sh -c 'echo ${NOTSETANYWHERE-unset}'
same "env: default PATH" $B sh -c 'echo $PATH'
same "env: HOME of root" $B sh -c 'echo $HOME'
same "env: HOME of a user" -u alice $B sh -c 'echo $HOME'
same "env: HOME of an unknown uid" -u 4242 $B sh -c 'echo $HOME'
same "workdir from the image" $V pwd
same "workdir from the image, created as root" -u alice $V sh -c 'pwd; ls -ld . | cut -c1-10'
# podman adds the primary group to the supplementary ones and writes a passwd entry for an
# unknown uid (Docker does neither; 40-run.sh checks Docker's groups): compare uid and gid
ids='echo $(id -u) $(id -g) $(id -un 2>/dev/null) $(id -gn)'
same "user by name" -u alice $B sh -c "$ids"
same "user by number in passwd" -u 1000 $B sh -c "$ids | cut -d' ' -f1,2,3"
same "user by number not in passwd" -u 4242 $B sh -c 'echo $(id -u) $(id -g)'
same "user:group by name" -u alice:staff $B sh -c "$ids"
same "user:group by number" -u 1000:50 $B sh -c "$ids"
same "root" $B id
both_fail() {
	_d=$1; shift
	if ! st run --rm "$@" >/dev/null 2>&1 && ! podman run --rm --network none "$@" >/dev/null 2>&1; then
		ok "$_d"; else not_ok "$_d"; fi
}
both_fail "unknown user fails in both" -u nobodyx $B true
both_fail "unknown group fails in both" -u alice:nogroupx $B true
same "exit 0" $B true
same "exit 1" $B sh -c 'exit 1'
same "exit 137 (SIGKILL)" $B sh -c 'sh -c "kill -9 \$\$"; exit $?'
same "exit 127: command not found" $B /nonexistent
same "exit 126: not executable" $B /etc/passwd
same "PID 1 is the command" $B sh -c 'echo $$'
same "hostname option" --hostname box $B hostname
same_in "stdin piped with -i" "piped input" -i $B cat
same_in "stdin not attached without -i" "piped input" $B cat
same "read-only root" --read-only $B sh -c 'touch /x 2>/dev/null || echo ro'
same "capability set" $B grep CapBnd /proc/self/status
same "--cap-drop ALL" --cap-drop ALL $B grep CapEff /proc/self/status
same "--cap-add SYS_ADMIN" --cap-add SYS_ADMIN $B grep CapBnd /proc/self/status
same "no_new_privs default" $B grep NoNewPrivs /proc/self/status
same "tmpfs mount" --tmpfs /scratch $B sh -c 'grep " /scratch " /proc/mounts | cut -d" " -f1-3'

done_testing
