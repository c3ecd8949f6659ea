#!/bin/sh
# `make install` lays out a working install: into a temporary DESTDIR with
# PREFIX=/usr, every file where the layout below says, with its mode and
# nothing else; the unit starts the installed binary; the installed binary
# runs; the installed data files are the repository's; every key the example
# configuration sets is one the binary knows. `make uninstall` then leaves no
# file behind. Prints what is wrong and exits 1.
#
# Usage: tests/lint/install.sh      (needs build/sluice: make install-check builds it)
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
MAKE="${MAKE:-make}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/root"
bad=0
problem() {
    echo "install: $*" >&2
    bad=1
}

# The layout with PREFIX=/usr: mode, path under DESTDIR, the repository file it copies.
layout="755 usr/bin/sluice build/sluice
644 usr/lib/systemd/system/sluice.service -
644 usr/share/sluice/setup.sql sql/setup.sql
644 usr/share/sluice/sluice.proto src/encode/sluice.proto
644 usr/share/doc/sluice/sluice.conf.example docker/sluice.conf.example"

"$MAKE" -s --no-print-directory install DESTDIR="$dest" PREFIX=/usr >"$tmp/install.log" 2>&1 || {
    cat "$tmp/install.log" >&2
    problem "make install DESTDIR=$dest PREFIX=/usr failed"
    exit 1
}

echo "$layout" | while read -r mode path from; do
    if [ ! -f "$dest/$path" ]; then
        echo "missing $path"
        continue
    fi
    got="$(stat -c %a "$dest/$path")"
    [ "$got" = "$mode" ] || echo "$path has mode $got, want $mode"
    if [ "$from" != "-" ] && ! cmp -s "$from" "$dest/$path"; then
        echo "$path differs from $from"
    fi
done >"$tmp/layout.out"
if [ -s "$tmp/layout.out" ]; then
    while read -r line; do problem "$line"; done <"$tmp/layout.out"
fi

# Nothing installed that the layout does not name.
(cd "$dest" && find . -type f | sed 's|^\./||' | sort) >"$tmp/found"
echo "$layout" | awk '{ print $2 }' | sort >"$tmp/want"
for extra in $(comm -23 "$tmp/found" "$tmp/want"); do
    problem "installed $extra, which the layout does not name"
done

# The unit starts the installed binary with the configuration under /etc.
unit="$dest/usr/lib/systemd/system/sluice.service"
if [ -f "$unit" ]; then
    exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
    [ "$exec_start" = "/usr/bin/sluice run -c /etc/sluice/sluice.conf" ] ||
        problem "unit's ExecStart is \"$exec_start\", want \"/usr/bin/sluice run -c /etc/sluice/sluice.conf\""
    grep -q '/usr/local' "$unit" && problem "unit still names /usr/local (PREFIX=/usr): $(grep -n /usr/local "$unit" | head -n 1)"
    [ -x "$dest${exec_start%% *}" ] || problem "the unit's ExecStart binary ${exec_start%% *} is not installed"
fi

# The installed binary runs, and knows every key the installed example sets.
bin="$dest/usr/bin/sluice"
if [ -x "$bin" ]; then
    version="$("$bin" --version 2>&1)" || problem "installed sluice --version failed: $version"
    case "$version" in
        "sluice "[0-9]*) ;;
        *) problem "installed sluice --version printed \"$version\"" ;;
    esac
    if "$bin" help-config >"$tmp/keys" 2>&1; then
        example="$dest/usr/share/doc/sluice/sluice.conf.example"
        if [ -f "$example" ]; then
            for key in $(sed -n 's/^[[:space:]]*\([a-z][a-z0-9_.]*\)[[:space:]]*=.*/\1/p' "$example"); do
                case "$key" in kafka.*) continue ;; esac # librdkafka's own, passed through
                re="(^|[^a-z0-9_.])$(echo "$key" | sed 's/\./\\./g')([^a-z0-9_.]|\$)"
                grep -Eq "$re" "$tmp/keys" || problem "the example sets \"$key\", which help-config does not list"
            done
        fi
    else
        problem "installed sluice help-config failed: $(head -n 3 "$tmp/keys")"
    fi
fi

"$MAKE" -s --no-print-directory uninstall DESTDIR="$dest" PREFIX=/usr >"$tmp/uninstall.log" 2>&1 ||
    problem "make uninstall failed: $(cat "$tmp/uninstall.log")"
left="$(cd "$dest" && find . -type f | sed 's|^\./||')"
[ -z "$left" ] || problem "make uninstall left: $left"

if [ "$bad" -ne 0 ]; then
    echo "install: make install DESTDIR=... PREFIX=/usr does not lay out a working install" >&2
    exit 1
fi
echo "install: $(echo "$layout" | wc -l) files laid out under PREFIX=/usr, the installed sluice runs, uninstall removes them all"
