#!/bin/sh
# 40-run.sh: `strata run` and the container verbs: Docker's config merge, exit statuses, the
# scratch layer (diff, commit with whiteouts), isolation, detached lifecycle, exec/cp/export,
# bad input that leaves nothing, and no leak after many runs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/run-lib.sh"
R=$STRATA_ROOT

# ---- process and configuration
out_is "image CMD" "hello" st run --rm bb
out_is "COMMAND replaces CMD" "a b" st run --rm bb echo a b
out_is "ENTRYPOINT + CMD" "ep default" st run --rm ep
out_is "ENTRYPOINT + COMMAND" "ep x y" st run --rm ep x y
out_is "--entrypoint \"\" runs COMMAND alone" "z" st run --rm --entrypoint "" ep echo z
out_is "--entrypoint discards the image CMD" "" st run --rm --entrypoint echo ep
out_is "-e overrides the image ENV, the rest stays" "cli b" st run --rm -e FOO=cli envimg sh -c 'echo $FOO $BAR'
out_is "image WORKDIR" "/data" st run --rm envimg pwd
out_is "-w creates a missing directory" "/new/dir" st run --rm -w /new/dir bb pwd
out_is "default PATH and HOME" "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /root" st run --rm bb sh -c 'echo $PATH $HOME'
out_is "-u by name: uid, gid, supplementary groups" "uid=1000(alice) gid=1000(alice) groups=50(staff)" st run --rm -u alice bb id
out_is "-u by number not in passwd" "uid=4242 gid=0(root) /" st run --rm -u 4242 bb sh -c 'echo $(id) $HOME'
out_is "-u user:group" "uid=1000(alice) gid=50(staff)" st run --rm -u alice:staff bb id
out_is "stdin piped with -i" "piped" sh -c 'echo piped | st run --rm -i bb cat'
out_is "no stdin without -i" "" sh -c 'echo piped | st run --rm bb cat'
status_is "exit status 0" 0 st run --rm bb true
status_is "exit status 1" 1 st run --rm bb sh -c 'exit 1'
status_is "killed by SIGKILL: 137" 137 st run --rm bb sh -c 'sh -c "kill -9 \$\$"; exit $?'
status_is "--init: the command is not PID 1 and SIGKILL gives 137" 137 st run --rm --init bb sh -c '[ $$ != 1 ] && kill -9 $$'
out_is "PID 1 is the command" "1" st run --rm bb sh -c 'echo $$'
out_is "hostname is the short ID unless --hostname" "box" st run --rm -h box bb hostname
out_is "tty: -t gives a terminal" "tty" sh -c "st run --rm -t bb sh -c '[ -t 1 ] && echo tty' | tr -d '\\r'"
( sleep 0.5; pkill -TERM -f 'strata-sigtest' ) & 
status_is "signals are forwarded to the container" 143 st run --rm bb sh -c 'trap "exit 143" TERM; : strata-sigtest; while :; do sleep 0.05; done'

# ---- isolation
out_is "/proc shows only the container's processes" "ok" st run --rm bb sh -c 'for p in /proc/[0-9]*; do [ ${p#/proc/} -le 20 ] || exit 1; done; echo ok'
out_is "no host mount is visible" "0" st run --rm bb sh -c 'cut -d" " -f5 /proc/self/mountinfo | grep -cvE "^/\$|^/(proc|sys|dev|etc)(/|\$)"'
out_is "--network none: only lo, and it is up" "lo UP" st run --rm bb sh -c 'echo $(ls /sys/class/net) $(ip link show lo | grep -o "UP" | head -1)'
check "no mount without --privileged" sh -c '! st run --rm bb mount -t tmpfs x /tmp 2>/dev/null'
status_is "mount works with --privileged" 0 st run --rm --privileged bb mount -t tmpfs x /tmp
out_is "no module loading" "1" st run --rm bb sh -c 'insmod /nonexistent.ko 2>/dev/null; grep -c CapEff:.00000000a80425fb /proc/self/status'
out_is "Docker's default capability set" "CapBnd:	00000000a80425fb" st run --rm bb grep CapBnd /proc/self/status
out_is "--cap-drop ALL --cap-add NET_RAW" "CapBnd:	0000000000002000" st run --rm --cap-drop ALL --cap-add NET_RAW bb grep CapBnd /proc/self/status
out_is "seccomp filter installed" "Seccomp:	2" st run --rm bb grep '^Seccomp:' /proc/self/status
out_is "no no_new_privs by default" "NoNewPrivs:	0" st run --rm bb grep NoNewPrivs /proc/self/status
out_is "--security-opt no-new-privileges" "NoNewPrivs:	1" st run --rm --security-opt no-new-privileges bb grep NoNewPrivs /proc/self/status
out_is "masked /proc/keys, read-only /proc/sys" "0 ro" st run --rm bb sh -c 'echo $(wc -c < /proc/keys) $(grep " /proc/sys " /proc/self/mounts | cut -d" " -f4 | cut -d, -f1)'
out_is "/sys is read-only" "ro" st run --rm bb sh -c 'grep " /sys sysfs" /proc/self/mounts | cut -d" " -f4 | cut -d, -f1'
out_is "/dev has the standard nodes" "console? null zero full random urandom tty ptmx pts shm fd" st run --rm bb sh -c 'echo console? $(for n in null zero full random urandom tty ptmx pts shm fd; do [ -e /dev/$n ] && printf "%s " $n; done)'
status_is "--read-only root" 1 st run --rm --read-only bb touch /x

# ---- mounts
mkdir -p "$T/host" && echo data > "$T/host/f"
out_is "-v bind, read-only" "data
ro" st run --rm -v "$T/host:/mnt/h:ro" bb sh -c 'cat /mnt/h/f; touch /mnt/h/g 2>/dev/null || echo ro'
check "-v creates a missing host directory" sh -c "st run --rm -v '$T/newdir:/d' bb touch /d/x && [ -f '$T/newdir/x' ]"
out_is "--tmpfs" "tmpfs" st run --rm --tmpfs /scratch bb sh -c 'grep " /scratch " /proc/self/mounts | cut -d" " -f3'
out_is "--mount type=volume keeps data between containers" "kept" sh -c 'st run --rm --mount type=volume,source=v1,target=/v bb sh -c "echo kept > /v/f" && st run --rm -v v1:/v bb cat /v/f'
out_is "mount points stay out of diff" "" sh -c "c=\$(st create -v '$T/host:/a/b/c' --tmpfs /t bb true) && st diff \$c && st rm \$c >/dev/null"

# ---- scratch layer, diff, commit
st run --name s1 bb sh -c 'echo new > /tmp/new; echo changed >> /etc/passwd; rm /etc/group' >/dev/null
out_is "diff lists A, C and D" "C /etc
D /etc/group
C /etc/passwd
C /tmp
A /tmp/new" st diff s1
out_is "the image is unchanged" "/etc/group" st run --rm bb ls /etc/group
out_is "a second container does not see the file" "no" st run --rm bb sh -c 'cat /tmp/new 2>/dev/null || echo no'
check "commit" sh -c 'st commit -m "from s1" s1 committed:1 | grep -q "^sha256:"'
lay=$(st inspect committed:1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Manifest"]["layers"][-1]["digest"][7:])')
out_is "the committed layer holds exactly the change (whiteout included)" "etc/
etc/.wh.group
etc/passwd
tmp/
tmp/new" sh -c "tar -tzf '$R/blobs/sha256/$lay' | sort"
out_is "the committed image runs with the change" "new gone" st run --rm committed:1 sh -c 'echo $(cat /tmp/new) $(ls /etc/group 2>/dev/null || echo gone)'
out_is "history entry" "from s1" sh -c "st history committed:1 | grep -o 'from s1' | head -1"
sdir=$(ls "$R/containers" | grep -E '^[0-9a-f]{64}$' | head -1)
check "rm removes the scratch directory and the name" sh -c "st rm s1 >/dev/null && [ ! -d '$R/containers/$sdir' ] && ! st rm s1 2>/dev/null"
# each container's tree is placed apart by ext4's inode allocator (chattr +T on containers/)
has_T() { lsattr -d "$1" 2>/dev/null | cut -d' ' -f1 | grep -q T; }
mkdir "$T/probe-T" && chattr +T "$T/probe-T" 2>/dev/null
if has_T "$T/probe-T"; then
	check "containers/ is a top directory for the inode allocator" has_T "$R/containers"
else
	skip "no FS_TOPDIR_FL here (not ext4, or no lsattr)"
fi

# ---- detached: logs, wait, stop, kill, start, exec, cp, export
st run -d --name d1 bb sh -c 'echo out; trap "echo term; exit 7" TERM; while :; do sleep 0.05; done' >/dev/null
sleep 0.3
out_is "ps shows the running container" "d1" sh -c "st ps | awk 'NR>1 {print \$NF}'"
out_is "exec runs in the container's namespaces" "sh -c echo out" sh -c "st exec d1 cat /proc/1/cmdline | tr '\\000' ' ' | cut -c1-14"
check "cp into a running container" sh -c "echo in > '$T/cpin' && st cp '$T/cpin' d1:/tmp/cpin && st exec d1 cat /tmp/cpin | grep -q in"
check "cp out of it" sh -c "st cp d1:/etc/hostname '$T/hn' && [ -s '$T/hn' ]"
out_is "stop sends StopSignal and waits" "d1" st stop -t 5 d1
out_is "wait prints the exit code" "7" st wait d1
out_is "logs keep the output" "out
term" st logs d1
check "start again (detached)" sh -c 'st start d1 >/dev/null && sleep 0.2 && st ps -q | grep -q .'
out_is "kill" "137" sh -c 'st kill d1 >/dev/null && st wait d1'
check "export is a tar of the file system" sh -c "st export d1 | tar -t | grep -qx 'bin/busybox'"
check "cp out of a stopped container" sh -c "st cp d1:/tmp/cpin '$T/cpout' && grep -q in '$T/cpout'"
check "rm -f of a running container" sh -c 'st run -d --name d2 bb sleep 100 >/dev/null && st rm -f d2 >/dev/null && ! st ps -a | grep -qw d2'
st rm -f d1 >/dev/null 2>&1

# ---- resources
if [ -d /sys/fs/cgroup/memory ] || grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	c=$(st run -d -m 64m --pids-limit 5 --cpus 0.5 bb sleep 1)
	out_is "--memory, --pids-limit, --cpus set the container's cgroups" "67108864 5 50000" sh -c "cat /sys/fs/cgroup/memory/strata/$c/memory.limit_in_bytes /sys/fs/cgroup/pids/strata/$c/pids.max /sys/fs/cgroup/cpu/strata/$c/cpu.cfs_quota_us 2>/dev/null | xargs || cat /sys/fs/cgroup/strata/$c/memory.max"
	st rm -f "$c" >/dev/null
	out_is "--pids-limit stops a fork bomb" "limited" sh -c "st run --rm --pids-limit 5 bb sh -c 'for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait' 2>&1 | grep -q fork && echo limited"
	check "no cgroup left" sh -c '! find /sys/fs/cgroup/*/strata -mindepth 1 -maxdepth 1 -type d 2>/dev/null | grep -q .'
else
	skip "no memory cgroup"; skip "no pids cgroup"; skip "no cgroups"
fi

# ---- bad input: a clear error, nothing left
before=$(containers_left)
holds0=$(ls "$R/snapshots/.holds" 2>/dev/null | wc -l)
check_fails "unknown image" "no such image: nosuch" st run --rm nosuch true
check_fails "entrypoint not executable: 126" "Permission denied" st run --rm bb /etc/passwd
status_is "entrypoint not found: 127" 127 st run --rm bb /nonexistent
check_fails "missing --mount bind source" "bind source path '/nonexistent/src'" st run --mount type=bind,source=/nonexistent/src,target=/x bb true
check_fails "unknown -u user" "unable to find user nobodyx" st run -u nobodyx bb true
check_fails "name in use" "already in use" sh -c 'st create --name dup bb true >/dev/null && st create --name dup bb true'
st rm dup >/dev/null 2>&1
check "failed runs leave no container" [ "$(containers_left)" = "$before" ]

# ---- nothing leaks: 200 sequential run --rm
mounts0=$(wc -l < /proc/self/mountinfo)
i=0; fails=0
while [ $i -lt 200 ]; do st run --rm bb true || fails=$((fails + 1)); i=$((i + 1)); done
check "200 run --rm all succeed" [ $fails = 0 ]
check "no scratch directory left" [ "$(containers_left)" = "$before" ]
check "no mount left" [ "$(wc -l < /proc/self/mountinfo)" = "$mounts0" ]
check "no snapshot hold left" [ "$(ls "$R/snapshots/.holds" 2>/dev/null | wc -l)" = "$holds0" ]
check "no container process left" [ "$(ps -eo args | grep -c '[r]un --rm bb true')" = 0 ]

done_testing
