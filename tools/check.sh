#!/bin/sh
# tools/check.sh: everything CI checks, in stages; each stage's test results are collected and
# the last line is the sum: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
: "${FUZZ_SECONDS:=10}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

stage() { printf '\n==== %s ====\n' "$*"; }
# record NAME RESULT(OK|FAIL|SKIP): one result outside Meson (a build, a lint step)
record() { echo "$2 $1" >> "$results/extra"; [ "$2" = FAIL ] && echo "FAILED: $1"; return 0; }
# meson_tests BUILDDIR [meson test args]: runs, then copies the JSON log for the summary
meson_tests() {
	dir=$1; shift
	meson test -C "$dir" --print-errorlogs "$@"
	cp "$dir/meson-logs/testlog.json" "$results/$(basename "$dir")-$(echo "$*" | tr -c 'a-z0-9' _).json" 2>/dev/null
}
setup() { # setup DIR [meson args]
	dir=$1; shift
	[ -f "$dir/build.ninja" ] || meson setup "$dir" "$@" >/dev/null
}

stage "gcc build and all tests"
if setup build && ninja -C build; then
	record build-gcc OK
	meson_tests build
else
	record build-gcc FAIL
fi

stage "ASan+UBSan: unit tests and fuzz corpus replay"
if setup build-asan -Db_sanitize=address,undefined -Db_lundef=false && ninja -C build-asan; then
	record build-asan OK
	meson_tests build-asan --suite unit --suite fuzz
else
	record build-asan FAIL
fi

stage "clang build (-Werror)"
if CC=clang setup build-clang && ninja -C build-clang; then
	record build-clang OK
else
	record build-clang FAIL
fi

stage "fuzz smoke (${FUZZ_SECONDS}s per target)"
if CC=clang setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
	&& ninja -C build-fuzz; then
	for f in build-fuzz/tests/fuzz/fuzz-*; do
		[ -f "$f" ] && [ -x "$f" ] || continue
		t=$(basename "$f"); t=${t#fuzz-}
		corpus=$(mktemp -d)
		cp -r "tests/fuzz/corpus/$t/." "$corpus/" 2>/dev/null
		if "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=20 \
			-artifact_prefix="$results/" "$corpus" >"$results/fuzz-$t.log" 2>&1; then
			record "fuzz-smoke-$t" OK
		else
			tail -30 "$results/fuzz-$t.log"
			record "fuzz-smoke-$t" FAIL
		fi
		rm -rf "$corpus"
	done
else
	record build-fuzz FAIL
fi

stage "lint"
if tools/lint.sh; then record lint OK; else record lint FAIL; fi

python3 - "$results" <<'PY'
import json, os, sys
d = sys.argv[1]
p = f = s = 0
for name in sorted(os.listdir(d)):
    path = os.path.join(d, name)
    if name.endswith('.json'):
        for line in open(path):
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get('result')
            if r in ('OK', 'EXPECTEDFAIL'):
                p += 1
            elif r == 'SKIP':
                s += 1
            else:
                f += 1
                print('failed:', name, json.loads(line).get('name'))
    elif name == 'extra':
        for line in open(path):
            r = line.split()[0]
            if r == 'OK': p += 1
            elif r == 'SKIP': s += 1
            else: f += 1
print(f"\n{p} passed, {f} failed, {s} skipped")
sys.exit(1 if f else 0)
PY
