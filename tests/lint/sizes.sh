#!/bin/sh
# Sizes a reader can hold in their head: no source file under src/ over
# MAX_FILE lines, src/main.c (the command line and signals only) no more
# than MAX_MAIN, and no function over MAX_FUNC lines. A function counts from
# its opening line (the name at column 0) to its closing brace at column 0,
# the layout .clang-format gives every function. A function that must be
# longer is named in ALLOW below with the reason (none is today).
#
# Prints every file or function over its limit and exits 1 if there is one.
# Usage: tests/lint/sizes.sh [ROOT]   (ROOT defaults to the repository)
set -eu
root="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
cd "$root"
MAX_FILE=900
MAX_MAIN=350
MAX_FUNC=120
ALLOW="" # "file:function ..." allowed over MAX_FUNC, each with its reason in a comment above

bad=0
nfiles=0
nfuncs=0
for f in src/*.c src/*/*.c; do
    nfiles=$((nfiles + 1))
    lines=$(wc -l <"$f")
    limit=$MAX_FILE
    [ "$f" = src/main.c ] && limit=$MAX_MAIN
    if [ "$lines" -gt "$limit" ]; then
        echo "sizes: $f has $lines lines (limit $limit): split it by what its parts own" >&2
        bad=1
    fi
    # name<TAB>lines for every function: a column-0 line with "(" that is no
    # directive, comment or declaration, followed (maybe after more lines of
    # parameters) by a line that is exactly "{", ending at a line exactly "}".
    awk -v file="$f" '
        /^[A-Za-z_].*\(/ && $0 !~ /;[[:space:]]*$/ && $0 !~ /^(typedef|struct|enum|union)[[:space:]]/ {
            head = $0; start = NR; inhead = 1
        }
        inhead && /^\{/ {
            name = head; sub(/\(.*/, "", name); n = split(name, w, /[ *]+/); name = w[n]
            infunc = 1; inhead = 0
        }
        inhead && /;[[:space:]]*$/ { inhead = 0 }
        infunc && /^\}/ { printf "%s\t%s\t%d\n", file, name, NR - start + 1; infunc = 0 }
    ' "$f"
done >"${TMPDIR:-/tmp}/sizes.$$"
while IFS="$(printf '\t')" read -r file name len; do
    nfuncs=$((nfuncs + 1))
    if [ "$len" -gt "$MAX_FUNC" ]; then
        case " $ALLOW " in
            *" $file:$name "*) continue ;;
        esac
        echo "sizes: $file: $name() has $len lines (limit $MAX_FUNC): take a step out into a function of its own" >&2
        bad=1
    fi
done <"${TMPDIR:-/tmp}/sizes.$$"
longest=$(sort -t "$(printf '\t')" -k3,3n "${TMPDIR:-/tmp}/sizes.$$" | tail -1 | awk -F '\t' '{ printf "%s %s() %d", $1, $2, $3 }')
rm -f "${TMPDIR:-/tmp}/sizes.$$"
[ "$bad" -eq 0 ] || exit 1
echo "sizes: $nfiles files, $nfuncs functions; every file <= $MAX_FILE lines (main.c <= $MAX_MAIN), every function <= $MAX_FUNC (longest: $longest)"
