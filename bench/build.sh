#!/bin/bash
# bench/build.sh: `strata build` beside Docker's BuildKit (docker build through the private
# dockerd of ../shared/bench/peers.sh) and `buildah bud --layers`, in the same run, on the
# benchmark Dockerfiles of ../shared/bench/dockerfiles (single, multi, debian) in four modes:
#   cold   --no-cache (and the tool's build cache dropped before each run)
#   warm   nothing changed since the last build (fully cached)
#   incr   one COPY source file's content changed
#   touch  one COPY source file touched (mtime only)
# Every tool runs RUN with --network none, on bases imported as localhost/peers/busybox:latest
# and localhost/peers/debian:bookworm. Tools alternate round by round (as `peers.sh duel`), so
# the drifting speed of this shared VM hits them alike; the table gives medians, the ratios to
# BuildKit and buildah, the goals of issue 6, and the MB/s of the COPY step of single.Dockerfile.
#
# "strata" keeps its layers as plain tar (the default since session 3), as Docker's and
# containers-storage's local stores do; tool "strata-gz" is strata with --compression gzip
# (layers stored compressed, as BuildKit into containerd's store) in its own store ($SROOT-gz).
#
# usage: bench/build.sh [BUILD_DIR]       (default: build; needs BUILD_DIR/strata)
# env: ROUNDS (3), TOOLS (strata,docker,buildah[,strata-gz]), DFS (single,multi,debian),
#      MODES (cold,warm,incr,touch), STRATA_BENCH_ROOT (/tmp/peers-strata), PEERS_* (env.sh)
# BuildKit is left out (with a message) when dockerd cannot start; buildah when it is missing.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
SHARED_BENCH=${SHARED_BENCH:-$SRC/../shared/bench}
# shellcheck source=/dev/null
. "$SHARED_BENCH/env.sh"

STRATA=$BUILD/strata
SROOT=${STRATA_BENCH_ROOT:-/tmp/peers-strata}
ROUNDS=${ROUNDS:-3}
TOOLS=${TOOLS:-strata,docker,buildah}
DFS=${DFS:-single,multi,debian}
MODES=${MODES:-cold,warm,incr,touch}
# the same names as peers.sh
CTX=$PEERS_WORK/ctx
CTX_EMPTY=$PEERS_WORK/ctx-empty
DF=$BENCH_DIR/dockerfiles
ONE_FILE=$CTX/src/d00/e00/f00000.txt
OUT=$PEERS_RESULTS/strata-build
PEERS="$BENCH_DIR/peers.sh"

log() { echo "[build.sh] $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
st() { "$STRATA" --root "$SROOT" "$@"; }
docker_ok() { "$DOCKER_BIN" info >/dev/null 2>&1; }

[ -x "$STRATA" ] || { log "no $STRATA: build first (ninja -C $BUILD)"; exit 1; }
[ "$(id -u)" = 0 ] || { log "needs root (RUN runs containers)"; exit 1; }

# ---- setup: bases for every tool, the contexts
make_ctx() {
	python3 "$BENCH_DIR/gen-tree.py" "$CTX/src" >/dev/null
	mkdir -p "$CTX_EMPTY"
	printf 'src/.cache\n' >"$CTX/.dockerignore"
}

setup() {
	[ -d "$PEERS_BASE/oci-busybox" ] || "$BENCH_DIR/make-bases.sh" busybox >&2
	[ -d "$PEERS_BASE/oci-debian" ] || "$BENCH_DIR/make-bases.sh" debian >&2
	mkdir -p "$OUT" "$SROOT"
	local roots=$SROOT root
	[[ ",$TOOLS," == *,strata-gz,* ]] && roots="$roots $SROOT-gz"
	for root in $roots; do
		"$STRATA" --root "$root" load --name localhost/peers/busybox -i "$PEERS_BASE/oci-busybox" >/dev/null &&
			"$STRATA" --root "$root" load --name localhost/peers/debian -i "$PEERS_BASE/oci-debian" >/dev/null ||
			{ log "strata load of the bases failed"; exit 1; }
	done
	st images >&2
	if [[ ",$TOOLS," == *,docker,* ]]; then
		# peers.sh starts its dockerd and loads the bases into it; no dockerd: no BuildKit
		if ! docker_ok && ! "$PEERS" dockerd-start >&2; then
			log "dockerd cannot start here: BuildKit left out"
			TOOLS=${TOOLS//docker/}
		fi
	fi
	if [[ ",$TOOLS," == *,buildah,* ]]; then
		if ! have buildah || ! have skopeo; then
			log "buildah or skopeo missing: buildah left out"
			TOOLS=${TOOLS//buildah/}
		else
			buildah inspect localhost/peers/busybox:latest >/dev/null 2>&1 ||
				skopeo copy -q "oci:$PEERS_BASE/oci-busybox:latest" containers-storage:localhost/peers/busybox:latest
			buildah inspect localhost/peers/debian:bookworm >/dev/null 2>&1 ||
				skopeo copy -q "oci:$PEERS_BASE/oci-debian:bookworm" containers-storage:localhost/peers/debian:bookworm
		fi
	fi
	TOOLS=$(echo "$TOOLS" | tr ',' '\n' | grep . | paste -sd,)
	make_ctx
}

# build_cmd TOOL DOCKERFILE MODE: peers.sh's, plus strata
build_cmd() {
	local tool=$1 df=$2 mode=$3 ctx=$CTX tag=localhost/peers/bench-$2:$1 nc=""
	[ "$df" = debian ] && ctx=$CTX_EMPTY
	[ "$mode" = cold ] && nc="--no-cache"
	case $tool in
	strata) echo "$STRATA --root $SROOT build --network none $nc -q -f $DF/$df.Dockerfile -t $tag $ctx" ;;
	strata-gz) echo "$STRATA --root $SROOT-gz build --compression gzip --network none $nc -q -f $DF/$df.Dockerfile -t $tag $ctx" ;;
	buildah) echo "buildah bud --layers --network none $nc -q -f $DF/$df.Dockerfile -t $tag $ctx" ;;
	docker) echo "$DOCKER_BIN build --network none $nc -q -f $DF/$df.Dockerfile -t $tag $ctx" ;;
	esac
}

# cold_prepare TOOL DOCKERFILE: drop the result and the build cache (the bases stay)
cold_prepare() {
	case $1 in
	strata) echo "$STRATA --root $SROOT rmi localhost/peers/bench-$2:$1 >/dev/null 2>&1; $STRATA --root $SROOT builder prune >/dev/null 2>&1; true" ;;
	strata-gz) echo "$STRATA --root $SROOT-gz rmi localhost/peers/bench-$2:$1 >/dev/null 2>&1; $STRATA --root $SROOT-gz builder prune >/dev/null 2>&1; true" ;;
	buildah) echo "buildah rmi -f localhost/peers/bench-$2:$1 >/dev/null 2>&1; buildah rmi --prune >/dev/null 2>&1; true" ;;
	docker) echo "$DOCKER_BIN rmi -f localhost/peers/bench-$2:$1 >/dev/null 2>&1; $DOCKER_BIN builder prune -af >/dev/null 2>&1; $DOCKER_BIN image prune -f >/dev/null 2>&1; true" ;;
	esac
}

now_ns() { date +%s%N; }

# one_mode DOCKERFILE MODE: ROUNDS rounds, tools alternating; appends to $OUT/times.tsv
one_mode() {
	local df=$1 mode=$2 r tool c pre t0 t1
	for tool in ${TOOLS//,/ }; do # a cached state to start from
		[ "$mode" = cold ] || bash -c "$(build_cmd "$tool" "$df" warm)" >/dev/null 2>&1 ||
			log "$tool $df: setup build failed"
	done
	for r in $(seq "$ROUNDS"); do
		for tool in ${TOOLS//,/ }; do
			c=$(build_cmd "$tool" "$df" "$mode")
			case $mode in
			cold) pre=$(cold_prepare "$tool" "$df") ;;
			incr) pre="date +%s%N >> $ONE_FILE" ;;
			touch) pre="touch $ONE_FILE" ;;
			*) pre=true ;;
			esac
			bash -c "$pre" >/dev/null 2>&1
			sync
			t0=$(now_ns)
			if ! bash -c "$c" >"$OUT/last.log" 2>&1; then
				log "$tool $df $mode failed: $(tail -2 "$OUT/last.log" | tr '\n' ' ')"
				continue
			fi
			t1=$(now_ns)
			printf '%s\t%s\t%s\t%s\t%s\n' "$df" "$mode" "$tool" "$r" \
				"$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')" >>"$OUT/times.tsv"
		done
	done
}

median() { # median of column 5 for DF MODE TOOL
	awk -F'\t' -v d="$1" -v m="$2" -v t="$3" '$1==d && $2==m && $3==t {print $5}' "$OUT/times.tsv" |
		sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else printf "%.3f", (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="-" || b=="-" || b==0) print "-"; else printf "%.2f", a/b }'; }

goal() {
	case $1 in cold) echo 0.7 ;; warm | touch) echo 0.1 ;; incr) echo 0.6 ;; esac
}

# copy_mbs TOOL: MB/s of the COPY src/ step of single.Dockerfile, from a cold build's plain
# progress (the bytes the context selects over the step's reported time)
copy_mbs() {
	local tool=$1 c bytes secs
	bytes=$(find "$CTX/src" -path "$CTX/src/.cache" -prune -o -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
	bash -c "$(cold_prepare "$tool" single)" >/dev/null 2>&1
	c=$(build_cmd "$tool" single cold)
	case $tool in
	strata) c=${c/ -q / } ;;
	docker) c="${c/ -q / } --progress=plain" ;;
	*) echo "-"; return ;;
	esac
	bash -c "$c" >"$OUT/copy-$tool.log" 2>&1 || { echo "-"; return; }
	secs=$(awk '/^#[0-9]+ \[.*\] COPY src\// {n=$1} n && $1==n && $2=="DONE" {sub("s","",$3); print $3; exit}' "$OUT/copy-$tool.log")
	awk -v b="$bytes" -v s="$secs" 'BEGIN{ if (s=="" || s==0) print "-"; else printf "%.0f (%.2f s)", b/1e6/s, s }'
}

report() {
	local df mode s d b g u
	echo "| Dockerfile | mode | strata s | BuildKit s | buildah s | strata/BuildKit | goal | strata/buildah | strata-gz s | strata-gz/BuildKit |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for df in ${DFS//,/ }; do
		for mode in ${MODES//,/ }; do
			[ "$df" = debian ] && [ "$mode" != cold ] && [ "$mode" != warm ] && continue
			s=$(median "$df" "$mode" strata)
			d=$(median "$df" "$mode" docker)
			b=$(median "$df" "$mode" buildah)
			u=$(median "$df" "$mode" strata-gz)
			g=$(goal "$mode")
			printf '| %s | %s | %s | %s | %s | %s | ≤ %s | %s | %s | %s |\n' "$df" "$mode" "$s" "$d" \
				"$b" "$(ratio "$s" "$d")" "$g" "$(ratio "$s" "$b")" "$u" "$(ratio "$u" "$d")"
		done
	done
	echo
	echo "COPY src/ of single.Dockerfile (cold), MB/s: strata $(copy_mbs strata), BuildKit $(if [[ ",$TOOLS," == *,docker,* ]]; then copy_mbs docker; else echo -; fi)"
}

setup
: >"$OUT/times.tsv"
log "tools: $TOOLS; Dockerfiles: $DFS; modes: $MODES; $ROUNDS rounds each"
for df in ${DFS//,/ }; do
	make_ctx
	for mode in ${MODES//,/ }; do
		# the debian Dockerfile copies nothing: incr and touch do not apply (as peers.sh)
		[ "$df" = debian ] && [ "$mode" != cold ] && [ "$mode" != warm ] && continue
		log "== $df $mode"
		one_mode "$df" "$mode"
	done
done
report | tee "$OUT/report.md"
