#!/bin/bash
# bench/serve.sh: `strata serve` against Debian's docker-registry, measured in the same run by
# ../shared/bench/serve-peers.sh (the issue's benchmark): blob GET 100 MiB (1 and 8 clients),
# manifest HEAD/GET and 1 KiB blob GET (wrk, 16/64 connections), 4 parallel 50 MiB uploads
# (fsynced), GET /v2/ latency, peak RSS. Prints serve-peers' side-by-side table and then the
# Strata/docker-registry ratio of every row (goals from the issue: blob GET >= 1.5, manifest
# and small blob req/s >= 3, uploads >= 1.5, peak RSS <= 0.5).
#
# usage: bench/serve.sh [BUILD_DIR]          (default: build)
# env:   SP_PHASES  serve-peers' phases (default "e b a c"; "c" = uploads only)
#        REPS       repetitions of each measurement (default 3)
#        ROUNDS     docker-registry then strata, ROUNDS times in alternation (default 1);
#                   the ratio table takes, per row, the median over the rounds' ratios
#        WORK       scratch directory (default /tmp/strata-bench-serve)
# serve-peers.sh is run from a private copy in WORK, so what it writes beside itself
# (SERVE-BASELINE.md, results/) never touches ../shared.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build}
BUILD=$(cd "$BUILD" && pwd)
STRATA=$BUILD/strata
WORK=${WORK:-/tmp/strata-bench-serve}
ROUNDS=${ROUNDS:-1}
PEERS=$SRC/../shared/bench

if [ ! -x "$PEERS/serve-peers.sh" ]; then
	echo "serve.sh: ../shared/bench/serve-peers.sh is missing: nothing to compare against, skipped" >&2
	exit 0
fi
for t in docker-registry curl wrk python3; do
	command -v "$t" >/dev/null || { echo "serve.sh: needs $t (apt-get install docker-registry wrk apache2-utils curl)" >&2; exit 1; }
done
[ -x "$STRATA" ] || ninja -C "$BUILD" strata

rm -rf "$WORK"
mkdir -p "$WORK/peers"
cp "$PEERS"/serve-peers.sh "$PEERS"/serve-peers-*.lua "$WORK/peers/"
export SP_RESULTS=$WORK/results SP_REG=$WORK/reg SP_DATA=$WORK/data SP_WRK=$WORK/wrk
# a HEAD-capable wrk built earlier by serve-peers.sh, if there is one (else HEAD uses ab -i;
# both servers are measured the same way either way)
if [ -z "${WRK_HEAD:-}" ] && [ -x /tmp/serve-peers-wrk/wrk-head ]; then
	export WRK_HEAD=/tmp/serve-peers-wrk/wrk-head
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SP=$WORK/peers/serve-peers.sh

for r in $(seq "$ROUNDS"); do
	port=$(free_port)
	SP_ADDR=127.0.0.1:$port "$SP" docker-registry >"$WORK/docker-registry-$r.log" 2>&1 ||
		{ tail "$WORK/docker-registry-$r.log" >&2; exit 1; }
	mv "$SP_RESULTS/docker-registry" "$SP_RESULTS/docker-registry-$r"
	port=$(free_port)
	rm -rf "$WORK/store"
	"$SP" serve "strata-$r" "http://127.0.0.1:$port" -- \
		"$STRATA" --root "$WORK/store" serve --addr "127.0.0.1:$port" --quiet \
		>"$WORK/strata-$r.log" 2>&1 || { tail "$WORK/strata-$r.log" >&2; exit 1; }
	echo "round $r done" >&2
done

labels=()
for r in $(seq "$ROUNDS"); do labels+=("docker-registry-$r" "strata-$r"); done
"$SP" report "${labels[@]}"
echo

# Ratios: per round, median over the repetitions of strata / docker-registry (for latencies
# the inverse, so > 1 is always better for strata; for RSS the plain ratio, < 1 is better);
# then the median over the rounds.
ratio_rows() { # ROUND -> "ID<TAB>RATIO" lines
	awk -F'\t' -v dr="$SP_RESULTS/docker-registry-$1/results.tsv" -v st="$SP_RESULTS/strata-$1/results.tsv" '
	function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
	function med(a, n) { sortv(a, n); return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2 }
	FNR == 1 { side = (FILENAME == dr) ? "d" : "s" }
	$3 == "main" || $3 == "p50_ms" { k = side SUBSEP $1 SUBSEP $3; v[k, ++n[k]] = $4 + 0; ids[$1 SUBSEP $3] = 1 }
	$3 == "rss_peak_kb" { if ($4 + 0 > peak[side]) peak[side] = $4 + 0 }
	END {
		for (ik in ids) {
			split(ik, p, SUBSEP); kd = "d" SUBSEP ik; ks = "s" SUBSEP ik
			if (!n[kd] || !n[ks]) continue
			delete a; for (i = 1; i <= n[kd]; i++) a[i] = v[kd, i]; md = med(a, n[kd])
			delete a; for (i = 1; i <= n[ks]; i++) a[i] = v[ks, i]; ms = med(a, n[ks])
			if (md <= 0 || ms <= 0) continue
			name = p[1] (p[2] == "p50_ms" ? " p50" : "")
			printf "%s\t%.3f\n", name, (p[2] == "p50_ms" ? md / ms : ms / md)
		}
		if (peak["d"] > 0) printf "peak RSS (all runs)\t%.3f\n", peak["s"] / peak["d"]
	}' "$SP_RESULTS/docker-registry-$1/results.tsv" "$SP_RESULTS/strata-$1/results.tsv"
}
for r in $(seq "$ROUNDS"); do ratio_rows "$r" | sort; done | awk -F'\t' -v rounds="$ROUNDS" '
	function sortv(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t } }
	{ v[$1, ++n[$1]] = $2; if (!($1 in seen)) { seen[$1] = 1; order[++no] = $1 } }
	END {
		goal["blob-get-1x5"] = 1.5; goal["blob-get-8x5"] = 1.5; goal["blob-put-4x50"] = 1.5
		goal["manifest-head-c16"] = 3; goal["manifest-head-c64"] = 3
		goal["manifest-get-c16"] = 3; goal["manifest-get-c64"] = 3
		goal["blob1k-get-c16"] = 3; goal["blob1k-get-c64"] = 3
		goal["peak RSS (all runs)"] = 0.5
		print "| measurement | strata / docker-registry (median of " rounds " round(s)) | per round | goal |"
		print "|---|--:|--:|--:|"
		for (i = 1; i <= no; i++) {
			k = order[i]; m = n[k]; delete a; s = ""
			for (j = 1; j <= m; j++) { a[j] = v[k, j]; s = s (j > 1 ? " " : "") sprintf("%.2f", a[j]) }
			sortv(a, m); md = m % 2 ? a[(m+1)/2] : (a[m/2] + a[m/2+1]) / 2
			g = (k in goal) ? (k ~ /RSS/ ? "<= " : ">= ") goal[k] : "-"
			printf "| %s | **%.2f** | %s | %s |\n", k, md, s, g
		}
	}'
echo
echo "(latency rows: docker-registry p50 / strata p50; RSS: strata / docker-registry)"
echo "raw results: $SP_RESULTS"
