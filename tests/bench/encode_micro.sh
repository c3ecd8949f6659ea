#!/bin/sh
# The encoders' per-change cost of two builds, compared in one run:
# tests/bench/encode_micro.c linked against each libsluice.a, run alternately
# ROUNDS times (default 7) with N events per case (default 1,000,000), then
# the median ns/event of each case and the ratio new / old.
#
# Usage: tests/bench/encode_micro.sh OLD/libsluice.a NEW/libsluice.a
#        (e.g. build/libsluice.a of two worktrees, or a copy kept before a change)
# OLD_ROOT: a source tree of the old build (its include/ and encode_micro.c),
# when encode.h's structs changed in between; default: this tree for both.
set -eu
old=$1 new=$2
rounds=${ROUNDS:-7} n=${N:-1000000}
root=$(cd "$(dirname "$0")/../.." && pwd)
old_root=${OLD_ROOT:-$root}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkgs="libpq rdkafka jansson libprotobuf-c libmicrohttpd"
for v in old new; do
    eval lib=\$$v
    src=$root
    [ "$v" = old ] && src=$old_root
    cc -std=c11 -D_GNU_SOURCE -O2 -I"$src/include" $(pkg-config --cflags $pkgs) \
        -o "$work/$v" "$src/tests/bench/encode_micro.c" "$lib" $(pkg-config --libs $pkgs) -pthread
done
i=0
while [ "$i" -lt "$rounds" ]; do
    "$work/old" "$n" | sed 's/^/old /' >> "$work/runs"
    "$work/new" "$n" | sed 's/^/new /' >> "$work/runs"
    i=$((i + 1))
done
grep -v ' 0$' "$work/runs" | grep 'heap growth' | sed 's/^/heap grew: /' || true
awk '
    { t[$1 " " $2, ++n[$1 " " $2]] = $3; cases[$2] = 1 }
    function median(k,   m, i, j, v, a) {
        m = n[k]; for (i = 1; i <= m; i++) a[i] = t[k, i]
        for (i = 2; i <= m; i++) { v = a[i]; for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]; a[j + 1] = v }
        return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
    END {
        printf "%-16s %10s %10s %7s\n", "case", "old ns", "new ns", "new/old"
        for (c in cases) printf "%-16s %10.1f %10.1f %7.3f\n", c, median("old " c), median("new " c), median("new " c) / median("old " c)
    }' "$work/runs" | sort
