#!/bin/sh
# tools/lint.sh: formatting, include layering and banned functions, cppcheck.
set -u
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files '*.c' '*.h' 2>/dev/null; git ls-files --others --exclude-standard '*.c' '*.h' 2>/dev/null)
bad=$(for f in $files; do [ -f "$f" ] && ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1 && echo "$f"; done)
if [ -n "$bad" ]; then echo "lint: not clang-formatted (run 'make format'):"; echo "$bad"; rc=1; fi
tools/check-src.sh || rc=1
if [ -f build/compile_commands.json ]; then
	# memleak/resourceLeak: cppcheck does not model __attribute__((cleanup)), which owns most
	# of our locals (ASan's leak checker covers leaks instead). varFuncNullUB: NULL is
	# (void *)0 on every platform we build for. preprocessorErrorDirective: cppcheck also
	# tries configurations without the host's architecture macros.
	out=$(cppcheck --quiet --project=build/compile_commands.json \
		--enable=warning,performance,portability --inline-suppr \
		--suppress='*:/usr/include/*' --suppress=memleak --suppress=resourceLeak \
		--suppress=varFuncNullUB --suppress=preprocessorErrorDirective \
		-i build 2>&1 | grep -v '^$')
	if [ -n "$out" ]; then echo "$out"; rc=1; fi
fi
exit $rc
