#!/bin/sh
# bench/dockerfile-parse.sh: generates a 10,000-instruction Dockerfile (a mix of every kind of
# instruction, continuations, JSON form, heredocs and comments) and times
# `strata dockerfile parse` on it in both output formats. Reports; asserts nothing.
# usage: bench/dockerfile-parse.sh [path/to/strata] [instructions]
set -eu
STRATA=${1:-${STRATA:-build/strata}}
N=${2:-10000}
T=$(mktemp -d "${TMPDIR:-/tmp}/strata-bench-XXXXXX")
trap 'rm -rf "$T"' EXIT

awk -v n="$N" 'BEGIN {
	print "# syntax=docker/dockerfile:1"
	print "ARG BASE=debian:12"
	i = 1
	while (i < n) {
		k = i % 10
		if (k == 0) print "FROM $BASE AS stage" i
		else if (k == 1) { print "# install step " i; print "RUN apt-get update && \\"; print "    apt-get install -y pkg" i " \\"; print "    && rm -rf /var/lib/apt/lists/*" }
		else if (k == 2) print "ENV VAR" i "=value" i " OTHER" i "=\"quoted value\""
		else if (k == 3) print "COPY --from=stage" (i - 3) " --chown=1000:1000 [\"/src/" i "\", \"/dst/\"]"
		else if (k == 4) print "LABEL org.example.step" i "=\"" i "\""
		else if (k == 5) { print "RUN <<EOF"; print "echo heredoc " i; print "EOF" }
		else if (k == 6) print "WORKDIR /work/" i
		else if (k == 7) print "CMD [\"/bin/app\", \"--step\", \"" i "\"]"
		else if (k == 8) print "EXPOSE " (1000 + i % 50000) "/tcp"
		else print "HEALTHCHECK --interval=30s CMD curl -f http://localhost/" i
		i++
	}
}' >"$T/Dockerfile"

lines=$(wc -l <"$T/Dockerfile")
instrs=$("$STRATA" dockerfile parse "$T/Dockerfile" | wc -l)
echo "Dockerfile: $lines lines, $instrs instructions, $(wc -c <"$T/Dockerfile") bytes"
for fmt in dump json; do
	best=
	for run in 1 2 3 4 5; do
		start=$(date +%s%N)
		"$STRATA" dockerfile parse --format "$fmt" "$T/Dockerfile" >/dev/null
		end=$(date +%s%N)
		ms=$(( (end - start) / 1000000 ))
		if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
	done
	echo "strata dockerfile parse --format $fmt: best of 5 runs ${best} ms (process start included)"
done
