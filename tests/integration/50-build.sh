#!/bin/sh
# 50-build.sh: strata build end to end: the cache (what runs again and what does not), cache
# mounts, multi-stage and --target, reproducible digests, errors; and the benchmark
# Dockerfiles of ../shared/bench built by strata and by buildah, compared.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (RUN runs containers)"
grep -q overlay /proc/filesystems || skip_all "no overlayfs"
R=$STRATA_ROOT
make_busybox_rootfs "$T/rootfs" || skip_all "busybox-static missing"
st import "$T/rootfs" localhost/strata/busybox:latest >/dev/null || { echo "Bail out! import failed"; exit 1; }
st tag localhost/strata/busybox:latest localhost/peers/busybox:latest

# build CONTEXT [args]: plain progress in $T/log, image ID in $T/iid
build() { ctx=$1; shift; st build --iidfile "$T/iid" "$@" "$ctx" > "$T/log" 2>&1; }
ran() { grep -c ' DONE ' "$T/log"; }
cached() { grep -c ' CACHED$' "$T/log"; }

# the example of `make demo`
check "build examples/hello" build "$SRCDIR/examples/hello" -t hello
out=$(st run --rm hello 2>&1)
if echo "$out" | grep -q "Hello from Strata"; then ok "run the built image"; else not_ok "run the built image"; diag "$out"; fi

# the cache
mkdir -p "$T/ctx/src/sub"
echo one > "$T/ctx/src/a.txt"; echo two > "$T/ctx/src/sub/b.txt"
cat > "$T/ctx/Dockerfile" <<'DF'
FROM localhost/strata/busybox:latest
ARG GREETING=hi
ENV APP=/app
WORKDIR /app
COPY src/ /app/src/
RUN echo "$GREETING" > /app/greeting && ls -R /app/src > /app/listing
RUN --mount=type=cache,target=/cache sh -c 'echo run >> /cache/runs; wc -l < /cache/runs > /app/runs'
CMD ["cat", "/app/greeting"]
DF
check "first build" build "$T/ctx" -t cachetest
id1=$(cat "$T/iid")
check "fully cached rebuild executes no step" sh -c "st build --iidfile '$T/iid2' '$T/ctx' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"
check "and gives the same image ID" [ "$(cat "$T/iid2")" = "$id1" ]
touch "$T/ctx/src/a.txt"
check "touch without a content change executes nothing" sh -c "st build '$T/ctx' > '$T/log' 2>&1 && ! grep -q ' DONE ' '$T/log'"
echo changed > "$T/ctx/src/a.txt"
build "$T/ctx" -t cachetest
check "a changed COPY source re-runs that COPY and the 3 steps after it" [ "$(ran)" = 4 ]
check "and the steps before it (ENV, WORKDIR) come from the cache" [ "$(cached)" = 2 ]
check "a build arg reaches RUN's key" sh -c "st build --build-arg GREETING=hello --iidfile '$T/iid3' '$T/ctx' > '$T/log' 2>&1 && grep -q ' DONE ' '$T/log' && [ \"\$(st run --rm \$(cat '$T/iid3'))\" = hello ]"
check "the cache mount kept its files between builds" sh -c "[ \"\$(st run --rm cachetest cat /app/runs)\" -ge 2 ]"
check "and is not in the image" sh -c "! st run --rm cachetest ls /cache/runs >/dev/null 2>&1"
check "history has one entry per instruction" sh -c "[ \$(st history cachetest | grep -c -e 'RUN' -e 'COPY' -e 'WORKDIR' -e 'ENV' -e 'CMD') -ge 6 ]"
check "builder prune empties the cache" sh -c "st builder prune >/dev/null && st build '$T/ctx' > '$T/log' 2>&1 && grep -q ' DONE ' '$T/log'"

# multi-stage, --target
mkdir -p "$T/ms"
cat > "$T/ms/Dockerfile" <<'DF'
FROM localhost/strata/busybox:latest AS broken
RUN exit 3
FROM localhost/strata/busybox:latest AS build
RUN mkdir /out && echo artifact > /out/a
FROM localhost/strata/busybox:latest
COPY --from=build /out/ /opt/
CMD ["cat", "/opt/a"]
DF
check "an unneeded failing stage does not fail the build" build "$T/ms" -t ms
check "COPY --from a stage" sh -c "[ \"\$(st run --rm ms)\" = artifact ]"
check_fails "--target of the failing stage fails with its exit code" "exit code 3" st build --target broken "$T/ms"
check_fails "unknown --target" "could not be found" st build --target nosuch "$T/ms"

# independent stages run at the same time: each records when it ran (whole seconds); run one
# after the other, the second would start no earlier than the first ended
mkdir -p "$T/par"
cat > "$T/par/Dockerfile" <<'DF'
FROM localhost/strata/busybox:latest AS a
RUN date +%s > /start; sleep 3; date +%s > /end
FROM localhost/strata/busybox:latest AS b
RUN date +%s > /start; sleep 3; date +%s > /end
FROM localhost/strata/busybox:latest
COPY --from=a /start /a.start
COPY --from=a /end /a.end
COPY --from=b /start /b.start
COPY --from=b /end /b.end
CMD ["sh", "-c", "a0=$(cat /a.start) a1=$(cat /a.end) b0=$(cat /b.start) b1=$(cat /b.end); [ $a0 -lt $b1 ] && [ $b0 -lt $a1 ] && echo overlap || echo a=$a0-$a1 b=$b0-$b1"]
DF
check "two independent stages overlap in time" sh -c "st build --no-cache -t par '$T/par' >/dev/null 2>&1 && [ \"\$(st run --rm par)\" = overlap ]"
# --no-cache: a COPY's files are copied on a thread beside its key; the layers are the cached
# build's, a RUN right after sees the files, a failing COPY leaves nothing behind
mkdir -p "$T/nc/a" "$T/nc/b"
for i in 1 2 3 4 5 6 7 8; do echo "f$i" > "$T/nc/a/f$i"; head -c 300000 /dev/urandom > "$T/nc/b/r$i"; done
printf 'FROM localhost/strata/busybox:latest\nCOPY a /a\nRUN ls /a | wc -l > /n\nCOPY b /b\nCOPY a /a2\nENV X=1\n' > "$T/nc/Dockerfile"
layers() { st inspect "$1" | python3 -c 'import json, sys; print(" ".join(json.load(sys.stdin)[0]["Config"]["rootfs"]["diff_ids"]))'; }
st build -t nc1 "$T/nc" >/dev/null 2>&1; st build --no-cache -t nc2 "$T/nc" >/dev/null 2>&1
l1=$(layers nc1); l2=$(layers nc2)
check "--no-cache COPY layers equal the cached build's" test "$(echo "$l2" | wc -w)" = 5 -a \
	"$(echo "$l1" | cut -d' ' -f2,4,5)" = "$(echo "$l2" | cut -d' ' -f2,4,5)"
check "and the RUN after the COPY saw its files" sh -c "[ \"\$(st run --rm nc2 cat /n)\" = 8 ]"
printf 'FROM localhost/strata/busybox:latest\nCOPY a /a\nCOPY missing /m\n' > "$T/nc/Dockerfile.bad"
check_fails "a failing COPY right after another" "Dockerfile.bad:3: COPY missing" \
	st build --no-cache -f "$T/nc/Dockerfile.bad" -t ncbad "$T/nc"
check "leaves no build directory" sh -c "[ -z \"\$(ls '$R/tmp')\" ]"
cat > "$T/par/Dockerfile.fail" <<'DF'
FROM localhost/strata/busybox:latest AS slow
RUN sleep 3; touch /slow
FROM localhost/strata/busybox:latest AS bad
RUN echo about to fail; exit 4
FROM localhost/strata/busybox:latest
COPY --from=slow /slow /
COPY --from=bad /etc/passwd /
DF
check_fails "a failing stage fails the build with its own error while another runs" \
	"Dockerfile.fail:4: RUN echo about to fail; exit 4: exit code 4" \
	st build --no-cache -f "$T/par/Dockerfile.fail" -t parbad "$T/par"
check "nothing tagged by the failed build" sh -c "! st inspect parbad >/dev/null 2>&1"
# Ctrl-C or SIGTERM: the build is marked failed, the signal reaches the running RUN (its shell traps it),
# the other stage stops before its next step, nothing is tagged, no view stays mounted
cat > "$T/par/Dockerfile.int" <<'DF'
FROM localhost/strata/busybox:latest AS a
RUN trap 'exit 3' INT; i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
RUN touch /never
FROM localhost/strata/busybox:latest AS b
RUN sleep 1
COPY --from=a /never /
DF
check "SIGTERM (a shell's background job ignores SIGINT) ends a running build at once, failed" sh -c "
	'$STRATA' --root '$STRATA_ROOT' build --no-cache --progress plain -f '$T/par/Dockerfile.int' -t parint '$T/par' > '$T/int.log' 2>&1 &
	pid=\$!; sleep 3; kill -TERM \$pid; t0=\$(date +%s)
	wait \$pid; rc=\$?; t1=\$(date +%s)
	[ \$rc -ne 0 ] && [ \$((t1 - t0)) -lt 10 ] && grep -q 'interrupted by' '$T/int.log'"
check "nothing tagged and no build mount left" sh -c "! st inspect parint >/dev/null 2>&1 && ! grep -q '$STRATA_ROOT/tmp/build-' /proc/self/mountinfo"

# reproducible
check "SOURCE_DATE_EPOCH: two fresh stores, one manifest digest" sh -c "
	SOURCE_DATE_EPOCH=1700000000 '$STRATA' --root '$T/s1' import '$T/rootfs' localhost/strata/busybox:latest >/dev/null &&
	SOURCE_DATE_EPOCH=1700000000 '$STRATA' --root '$T/s2' import '$T/rootfs' localhost/strata/busybox:latest >/dev/null &&
	SOURCE_DATE_EPOCH=1700000000 '$STRATA' --root '$T/s1' build -t r '$T/ctx' >/dev/null 2>&1 &&
	sleep 1 && SOURCE_DATE_EPOCH=1700000000 '$STRATA' --root '$T/s2' build -t r '$T/ctx' >/dev/null 2>&1 &&
	[ \"\$('$STRATA' --root '$T/s1' inspect r | grep '\"Digest\"')\" = \"\$('$STRATA' --root '$T/s2' inspect r | grep '\"Digest\"')\" ]"

# errors: clear, nothing tagged, store consistent
mkdir -p "$T/bad"
printf 'FROM localhost/strata/busybox:latest\nCOPY missing.txt /x\n' > "$T/bad/Dockerfile"
check_fails "COPY of a missing context file" "Dockerfile:2.*missing.txt" st build -t bad:1 "$T/bad"
printf 'FROM nosuch/image:1\n' > "$T/bad/Dockerfile"
check_fails "FROM an unknown image" "nosuch/image" st build -t bad:2 "$T/bad"
printf 'FROM localhost/strata/busybox:latest\nRUN echo first-line && echo last-words >&2 && exit 7\n' > "$T/bad/Dockerfile"
check_fails "failing RUN: exit code and last output" "exit code 7.*last-words|last-words.*exit code 7" sh -c "st build -t bad:3 '$T/bad' 2>&1 | tr '\n' ' ' >&2; exit 1"
printf 'FROM localhost/strata/busybox:latest AS a\nCOPY --from=b /x /x\nFROM localhost/strata/busybox:latest AS b\nCOPY --from=a /x /x\n' > "$T/bad/Dockerfile"
check_fails "a cycle in --from" "comes after this one.*cycle" st build -t bad:4 "$T/bad"
check "nothing was tagged" sh -c "! st images | grep -q '^bad '"
check "fsck after the failures" st fsck

# the benchmark Dockerfiles against buildah (same bases, same rootfs and config)
if [ ! -d "$SHARED/bench/dockerfiles" ]; then
	skip "../shared/bench missing (a user's clone): benchmark Dockerfiles not built"
else
	python3 "$SHARED/bench/gen-tree.py" "$T/bctx/src" >/dev/null 2>&1
	dfs="single multi"
	# the Debian base: the rootfs 20-layers made (or the benchmark's), when there is one
	for deb in "${BUILDDIR:-/nonexistent}/cache/debian-rootfs" /tmp/peers-base/debian-rootfs; do
		if [ -f "$deb/.strata-done" ] || [ -f "$deb/.peers-debootstrap-done" ]; then
			st import "$deb" localhost/peers/debian:bookworm >/dev/null && dfs="$dfs debian"
			break
		fi
	done
	[ "$dfs" = "single multi" ] && skip "no Debian rootfs (20-layers makes one with debootstrap)"
	for df in $dfs; do
		check "build $df.Dockerfile" build "$T/bctx" -f "$SHARED/bench/dockerfiles/$df.Dockerfile" -t bench:$df
	done
	if command -v buildah >/dev/null; then
		podman_setup
		skopeo copy -q "oci:$R:localhost/peers/busybox:latest" containers-storage:localhost/peers/busybox:latest
		case $dfs in *debian*) skopeo copy -q "oci:$R:localhost/peers/debian:bookworm" containers-storage:localhost/peers/debian:bookworm ;; esac
		for df in $dfs; do
			if buildah bud --layers --network none -q -f "$SHARED/bench/dockerfiles/$df.Dockerfile" -t localhost/bh:$df "$T/bctx" >"$T/bh.log" 2>&1; then
				mkdir -p "$T/cmp-$df"
				skopeo copy -q containers-storage:localhost/bh:$df "oci:$T/cmp-$df/layout:bh" &&
				umoci unpack --image "$T/cmp-$df/layout:bh" "$T/cmp-$df/bh" >/dev/null &&
				st unpack bench:$df "$T/cmp-$df/strata"
				bcfg_src="oci:$T/cmp-$df/layout:bh"
				# buildah leaves its mount points (dev, proc, run, sys, etc/hostname...) in
				# the image; BuildKit and strata do not: both sides are compared without them. The artifact of multi is a tar of a
				# directory walk, whose order is the file system's: its bytes differ by
				# tool, so only its presence, type and mode are compared.
				python3 "$SRCDIR/tests/integration/treeinfo.py" "$T/cmp-$df/bh/rootfs" dev proc run sys etc/hostname etc/hosts etc/resolv.conf | sed -E 's|^(opt/artifact/[^ ]+ [0-9]+ [0-7]+ [0-9:]+) .*|\1|' > "$T/cmp-$df/a"
				python3 "$SRCDIR/tests/integration/treeinfo.py" "$T/cmp-$df/strata" dev proc run sys etc/hostname etc/hosts etc/resolv.conf | sed -E 's|^(opt/artifact/[^ ]+ [0-9]+ [0-7]+ [0-9:]+) .*|\1|' > "$T/cmp-$df/b"
				check "$df: same root filesystem as buildah" diff "$T/cmp-$df/a" "$T/cmp-$df/b"
				bcfg=$(skopeo inspect --config "$bcfg_src" | python3 -c 'import json,sys; c=json.load(sys.stdin)["config"]; print(json.dumps([c.get(k) for k in ("Env","Cmd","Entrypoint","WorkingDir","User")]))')
				scfg=$(st inspect bench:$df | python3 -c 'import json,sys; c=json.load(sys.stdin)[0]["Config"]["config"]; print(json.dumps([c.get(k) for k in ("Env","Cmd","Entrypoint","WorkingDir","User")]))')
				check "$df: same config fields as buildah" [ "$bcfg" = "$scfg" ]
				[ "$bcfg" = "$scfg" ] || diag "buildah $bcfg" "strata $scfg"
				rm -rf "$T/cmp-$df"
			else
				skip "buildah bud failed: $(tail -1 "$T/bh.log")"
			fi
		done
		podman_cleanup
	else
		skip "buildah missing"
	fi
fi
done_testing
