#!/bin/sh
# 15-dockerfile-vectors.sh: BuildKit's parser and shell-lexer test vectors
# (../shared/testdata/dockerfile/buildkit, see its README.md) through `strata dockerfile`:
# every testfiles/ case dumps byte-identical to its result, every testfiles-negative/ case is
# refused, testfile-line/ gives BuildKit's line ranges, and shell/envVarTest and shell/wordsTest
# expand as BuildKit does.
. "$(dirname "$0")/lib.sh"

V="$SHARED/testdata/dockerfile/buildkit"
[ -d "$V/testfiles" ] || skip_all "BuildKit vectors not found at $V (../shared is not part of this clone)"

for d in "$V"/testfiles/*/; do
	name=$(basename "$d")
	if st dockerfile parse "$d/Dockerfile" >"$T/out" 2>"$T/err" && cmp -s "$T/out" "$d/result"; then
		ok "dump $name"
	else
		not_ok "dump $name"
		diag "$(cat "$T/err"; diff "$T/out" "$d/result" | head -20)"
	fi
done

for d in "$V"/testfiles-negative/*/; do
	check_fails "refuses $(basename "$d")" "Dockerfile" st dockerfile parse "$d/Dockerfile"
done

# README: 3 instructions spanning lines 5-5, 11-12 and 17-31
ranges=$(st dockerfile parse --format json "$V/testfile-line/Dockerfile" |
	awk '{ while (match($0, /"end_line":[0-9]+|"start_line":[0-9]+/)) {
		kv = substr($0, RSTART, RLENGTH); $0 = substr($0, RSTART + RLENGTH);
		split(kv, p, ":"); if (p[1] == "\"end_line\"") e = p[2]; else { printf "%s%s-%s", sep, p[2], e; sep = " " } } }')
if [ "$ranges" = "5-5 11-12 17-31" ]; then ok "line ranges"; else not_ok "line ranges: got '$ranges'"; fi

# JSON string escaping for the JSON-lines requests and expected answers
AWK_ESC='function esc(s,   i, c, o) { o = ""; for (i = 1; i <= length(s); i++) { c = substr(s, i, 1);
	if (c == "\\" || c == "\"") o = o "\\"; o = o c } return o }
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }'

# envVarTest: PLATFORM|INPUT|EXPECTED with env PWD=/home SHELL=bash KOREAN=... NULL=
awk -F'|' "$AWK_ESC"'
/^#/ || NF < 2 { next }
{ p = trim($1); if (p == "W") next
  in_ = trim($2); ex = trim($3)
  print "{\"op\":\"word\",\"input\":\"" esc(in_) "\",\"env\":[[\"PWD\",\"/home\"],[\"SHELL\",\"bash\"],[\"KOREAN\",\"한국어\"],[\"NULL\",\"\"]]}" > "'"$T"'/env.req"
  if (ex == "error") print "error" > "'"$T"'/env.exp"; else print "{\"result\":\"" esc(ex) "\"}" > "'"$T"'/env.exp"
  print in_ > "'"$T"'/env.in" }' "$V/shell/envVarTest"

# wordsTest: ENV name=value lines accumulate; INPUT | W1,W2,...
awk -F'|' "$AWK_ESC"'
/^#/ { next }
/^ENV / { line = substr($0, 4); sub(/^ +/, "", line); i = index(line, "=")
  envs = envs (envs == "" ? "" : ",") "[\"" esc(substr(line, 1, i - 1)) "\",\"" esc(substr(line, i + 1)) "\"]"; next }
NF == 2 { in_ = trim($1); ex = $2; sub(/^ +/, "", ex)
  print "{\"op\":\"words\",\"input\":\"" esc(in_) "\",\"env\":[" envs "]}" > "'"$T"'/words.req"
  if (ex == "error") { print "error" > "'"$T"'/words.exp" }
  else { n = split(ex, w, ","); o = ""; for (k = 1; k <= n; k++) o = o (k > 1 ? "," : "") "\"" esc(w[k]) "\""
    print "{\"words\":[" o "]}" > "'"$T"'/words.exp" }
  print in_ > "'"$T"'/words.in" }' "$V/shell/wordsTest"

run_vectors() { # NAME: compare NAME.req answers with NAME.exp, one TAP line per vector
	st dockerfile expand --json-lines <"$T/$1.req" >"$T/$1.got" 2>"$T/$1.err" || diag "$(cat "$T/$1.err")"
	paste -d '\n' "$T/$1.in" "$T/$1.exp" "$T/$1.got" >"$T/$1.all"
	while IFS= read -r input && IFS= read -r exp && IFS= read -r got; do
		# lib.sh prints with echo, which would interpret backslashes
		input=$(printf '%s' "$input" | sed 's/\\/\\\\/g')
		case "$exp:$got" in
		'error:{"error":'*) ok "$1: $input -> error" ;;
		*) if [ "$exp" = "$got" ]; then ok "$1: $input"; else not_ok "$1: $input: want $exp got $got"; fi ;;
		esac
	done <"$T/$1.all"
}
run_vectors env
run_vectors words

done_testing
