#!/bin/sh
# bench/digest-mb.sh [REPS]: SHA-256 MB/s for 1-8 streams: OpenSSL one after another, the
# multi-buffer code, and the hasher pool that strata serve's uploads use (tests/bench-digest-mb.c).
set -eu
cd "$(dirname "$0")/.."
ninja -C build tests/bench-digest-mb >/dev/null
exec build/tests/bench-digest-mb "${1:-3}"
