#!/bin/sh
# The floors of sluice's source tree, bottom to top. A module may include
# headers of its own floor and of floors below it, never of a floor above or
# of a sibling on the same level (pg and kafka know nothing of each other).
#
#   0 base    byte buffers and the wire reader, log, testpoints, queue,
#             configuration, checkpoint format, metric values
#   1 pg      the PostgreSQL side: connections, stream, pgoutput, relations, types
#   1 kafka   the transactional producer behind the sink seam
#   2 encode  change events to JSON or Protobuf
#   3 core    the streaming pipeline, the snapshot engine, the supervisor
#   4 ops     operator commands and the metrics server
#   5 app     src/main.c: the command line
#
# Prints every include that breaks the rule and exits 1 if there is one.
# Usage: tests/lint/layers.sh [ROOT]   (ROOT defaults to the repository)
set -eu
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"

rank() {
    case "$1" in
        base) echo 0 ;;
        pg | kafka) echo 1 ;;
        encode) echo 2 ;;
        core) echo 3 ;;
        ops) echo 4 ;;
        app) echo 5 ;;
        *) echo "" ;;
    esac
}

floor_of() { # path -> floor name
    case "$1" in
        src/main.c) echo app ;;
        src/*/*.c | src/*/*.h) echo "$1" | cut -d/ -f2 ;;
        include/sluice/*/*.h) echo "$1" | cut -d/ -f3 ;;
        *) echo "?" ;;
    esac
}

bad=0
files=$(find src include -name '*.c' -o -name '*.h' | sort)
for f in $files; do
    from=$(floor_of "$f")
    rf=$(rank "$from")
    if [ -z "$rf" ]; then
        echo "$f: not on any floor (src/<floor>/ or include/sluice/<floor>/)"
        bad=1
        continue
    fi
    # Only the project's own headers: "sluice/<floor>/<module>.h".
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"sluice/' "$f" | while IFS= read -r line; do
        n=${line%%:*}
        inc=$(echo "$line" | sed 's/.*"sluice\/\([^"]*\)".*/\1/')
        to=${inc%%/*}
        rt=$(rank "$to")
        if [ -z "$rt" ] || [ "$to" = "$inc" ]; then
            echo "$f:$n: includes \"sluice/$inc\", which is on no floor"
            echo x
        elif [ "$to" != "$from" ] && [ "$rt" -ge "$rf" ]; then
            echo "$f:$n: $from (floor $rf) includes \"sluice/$inc\" ($to, floor $rt): runs up or across"
            echo x
        fi
    done > /tmp/layers.$$ || true
    if [ -s /tmp/layers.$$ ]; then
        grep -v '^x$' /tmp/layers.$$
        bad=1
    fi
    rm -f /tmp/layers.$$
done
if [ "$bad" -ne 0 ]; then
    echo "layers: an include runs up or across a floor (see tests/lint/layers.sh for the floors)" >&2
    exit 1
fi
echo "layers: $(echo "$files" | wc -l) files, every include runs down or stays on its floor"
