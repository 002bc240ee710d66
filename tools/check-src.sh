#!/bin/sh
# tools/check-src.sh: the layering rule of STYLE.md: a library module includes only headers of
# its own level or below; the library never prints.
set -u
cd "$(dirname "$0")/.."
rc=0
level() {
	case $1 in
	util) echo 0 ;; digest|ref) echo 1 ;; store) echo 2 ;; image|layer) echo 3 ;;
	dockerfile) echo 3 ;; archive|build|run|registry|snapshot|serve) echo 4 ;; *) echo 9 ;;
	esac
}
hdr_module() { # include/strata/X.h -> module of X
	case $1 in
	common|buf) echo util ;; dockerfile) echo dockerfile ;; *) echo "$1" ;;
	esac
}
for f in $(find src/lib -name '*.[ch]'); do
	mod=$(echo "$f" | cut -d/ -f3)
	lv=$(level "$mod")
	for inc in $(grep -o '#include "[a-z0-9_/.-]*"' "$f" | sed 's/#include "//; s/"$//'); do
		case $inc in
		strata/*) m=$(hdr_module "$(basename "$inc" .h)") ;;
		*/*) m=${inc%%/*} ;;
		*) continue ;;
		esac
		il=$(level "$m")
		if [ "$il" -gt "$lv" ]; then
			echo "check-src: $f (level $lv) includes $inc (level $il)"; rc=1
		fi
	done
	if grep -nE '\b(printf|puts|perror|exit|abort)\s*\(|\bf?printf\s*\(std(out|err)' "$f" | grep -v '^\s*/\*' >/dev/null; then
		grep -nE '\b(printf|puts|perror|exit|abort)\s*\(|\bfprintf\s*\(std(out|err)' "$f" | sed "s|^|check-src: $f: prints or exits: |"
		rc=1
	fi
done
exit $rc
