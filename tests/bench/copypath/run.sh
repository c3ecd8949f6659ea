#!/usr/bin/env bash
# CPU per row of the copy path's own pieces, a base commit against the
# working tree, in one process each (CPU time, best of 5 repetitions, so a
# loaded machine slows both alike):
#   the COPY text decoder (copyrow_decode), rows shaped as the snapshot
#   bench's tables; the incremental snapshot's window, 200 chunks of 4,096
#   rows held and dropped.
#   tests/bench/copypath/run.sh [BASE_COMMIT]     (default: main)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
BASE="${1:-main}"
T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT
make -C "$ROOT" -s build/libsluice.a
git -C "$ROOT" show "$BASE:src/pg/copyrow.c" | sed 's/copyrow_decode/copyrow_decode_old/' >"$T/copyrow_old.c"
git -C "$ROOT" show "$BASE:src/base/chunk_window.c" |
    sed 's|#include "sluice/base/chunk_window.h"|#include "chunk_window_old.h"|' >"$T/win_old.c"
git -C "$ROOT" show "$BASE:include/sluice/base/chunk_window.h" >"$T/chunk_window_old.h"
CF=(-O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/include" -I/usr/include/postgresql)
cc "${CF[@]}" "$HERE/decode.c" "$T/copyrow_old.c" "$ROOT/build/libsluice.a" -pthread -o "$T/decode"
cc "${CF[@]}" -I"$T" "$HERE/window.c" "$T/win_old.c" "$ROOT/src/base/buf.c" "$ROOT/src/base/log.c" \
    -pthread -o "$T/window_old"
cc "${CF[@]}" -DNEWWIN "$HERE/window.c" "$ROOT/build/libsluice.a" -pthread -o "$T/window_new"
echo "base $BASE ($(git -C "$ROOT" rev-parse --short "$BASE")) as old, the working tree as new; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$T/decode"
"$T/window_old"
"$T/window_new"
