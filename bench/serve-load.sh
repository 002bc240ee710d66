#!/bin/sh
# bench/serve-load.sh: the issue's load test of `strata serve` at full size: 32 clients pulling
# a 100 MiB blob (every byte verified with sha256sum) and 8 pushing new images (a 4 MiB random
# layer, a config, a tagged manifest) at once for 30 s, plus a client sending one byte a second.
# It runs tests/integration/62-serve-load.sh (which the suite runs small) with the LOAD_*
# variables; the TAP output ends with the peak RSS of the server, the pulls and pushes done.
# usage: bench/serve-load.sh [BUILD_DIR]   (default: build)
# env: LOAD_PULLERS (32), LOAD_PUSHERS (8), LOAD_SECS (30), LOAD_BLOB_MIB (100),
#      LOAD_LAYER_KIB (4096), LOAD_RSS_MAX_MIB (115: half of docker-registry's 230 MiB peak in
#      the issue's baseline)
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
[ -x "$BUILD/strata" ] || ninja -C "$BUILD" strata
export STRATA="$BUILD/strata" SRCDIR="$SRC"
export LOAD_PULLERS="${LOAD_PULLERS:-32}" LOAD_PUSHERS="${LOAD_PUSHERS:-8}"
export LOAD_SECS="${LOAD_SECS:-30}" LOAD_BLOB_MIB="${LOAD_BLOB_MIB:-100}"
export LOAD_LAYER_KIB="${LOAD_LAYER_KIB:-4096}" LOAD_RSS_MAX_MIB="${LOAD_RSS_MAX_MIB:-115}"
exec sh "$SRC/tests/integration/62-serve-load.sh"
