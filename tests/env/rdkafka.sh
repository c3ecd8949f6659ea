#!/bin/sh
# Builds a pinned librdkafka (tests/env/versions.sh) into a private prefix in
# the cache, $CACHE/librdkafka-<full version>, and prints that prefix. Never
# touches the system's librdkafka (Debian's 2.0.2, what the default build
# links). Idempotent: a prefix whose .complete names the crate's checksum and
# the configure line below is left as it is.
#
#   tests/env/rdkafka.sh 2.12            fetch (crates.io), check, build, install
#   tests/env/rdkafka.sh --prefix 2.12   only print where it goes
#   tests/env/rdkafka.sh --vendor 2.12   fetch and check the crate only, and
#                                        put it in tests/env/dl/ (for a build
#                                        without network: an image build)
#
# The source is the librdkafka/ tree inside the crates.io crate rdkafka-sys
# (a gzipped tar), taken from tests/env/dl/ when it is there (--vendor put
# it there), else fetched into $CACHE/dl; either way checked against its
# pinned sha256. configure runs with --no-download and without --install-deps or
# --source-deps-only: zlib, zstd, lz4, OpenSSL and Cyrus SASL come from
# Debian's -dev packages (installed here when missing); libcurl (only for
# OIDC token fetching, which sluice does not use) is left out.
set -eu

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/env/versions.sh
. "$HERE/versions.sh"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"

die() {
    echo "rdkafka: $*" >&2
    exit 1
}

only_prefix=0 vendor=0
case "${1:-}" in
--prefix) only_prefix=1 && shift ;;
--vendor) vendor=1 && shift ;;
esac
[ $# -eq 1 ] || die "usage: tests/env/rdkafka.sh [--prefix|--vendor] VERSION (pinned: $SLUICE_RDKAFKA_VERSIONS)"
full="$(sluice_rdkafka_field "$1" 2)"
[ -n "$full" ] || die "librdkafka $1 is not pinned (pinned: $SLUICE_RDKAFKA_VERSIONS; tests/env/versions.sh)"
crate="$(sluice_rdkafka_field "$1" 3)"
sha="$(sluice_rdkafka_field "$1" 4)"
prefix="$CACHE/librdkafka-$full"
if [ "$only_prefix" -eq 1 ]; then
    echo "$prefix"
    exit 0
fi

# fetch_crate: the checked crate in $CACHE/dl ($file), from tests/env/dl/ or crates.io.
fetch_crate() {
    file="$CACHE/dl/$crate.crate"
    mkdir -p "$CACHE/dl"
    if [ -f "$HERE/dl/$crate.crate" ] && [ ! -f "$file" ]; then
        cp "$HERE/dl/$crate.crate" "$file.part" && mv "$file.part" "$file"
    fi
    name="${crate%%-[0-9]*}"
    ver="${crate#"$name"-}"
    sluice_fetch_pinned "$SLUICE_RDKAFKA_CRATES/$name/$ver/download" "$file" "$sha" "$crate.crate" ||
        die "no checked $crate.crate (without network: run tests/env/rdkafka.sh --vendor $1 where there is, and bring tests/env/dl/$crate.crate along)"
}

if [ "$vendor" -eq 1 ]; then
    fetch_crate "$1"
    mkdir -p "$HERE/dl"
    cp "$file" "$HERE/dl/$crate.crate"
    echo "$HERE/dl/$crate.crate"
    exit 0
fi

CONFIGURE="--no-download --disable-curl --enable-zlib --enable-zstd --enable-lz4-ext --enable-ssl --enable-gssapi"
stamp="$sha $CONFIGURE"
if [ -f "$prefix/.complete" ] && [ "$(cat "$prefix/.complete")" = "$stamp" ]; then
    echo "$prefix"
    exit 0
fi

# Debian's headers for what librdkafka links (the default install does not need them).
PKGS="build-essential pkg-config python3 curl zlib1g-dev libzstd-dev liblz4-dev libssl-dev libsasl2-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "rdkafka: apt-get install$missing" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

fetch_crate "$1"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$file" -C "$tmp"
src="$tmp/$crate/librdkafka"
[ -x "$src/configure" ] || die "$crate.crate has no librdkafka/configure"
got_version="$(sed -n 's/^#define RD_KAFKA_VERSION *0x\([0-9a-fA-F]*\).*/\1/p' "$src/src/rdkafka.h")"
want_version="$(echo "$full" | awk -F. '{ printf "%02x%02x%02x", $1, $2, $3 }')"
case "$got_version" in
"$want_version"*) ;;
*) die "$crate.crate carries librdkafka 0x$got_version, not $full" ;;
esac

echo "rdkafka: building librdkafka $full into $prefix (a few minutes)" >&2
jobs="$(nproc 2>/dev/null || echo 2)"
(
    cd "$src"
    # shellcheck disable=SC2086
    ./configure --prefix="$prefix" $CONFIGURE >"$tmp/configure.log" 2>&1 ||
        { tail -30 "$tmp/configure.log" >&2; exit 1; }
    # The C library only: no C++ binding, examples or tests.
    make -C src -j"$jobs" >"$tmp/make.log" 2>&1 || { tail -30 "$tmp/make.log" >&2; exit 1; }
    rm -rf "$prefix"
    make -C src install >"$tmp/install.log" 2>&1 || { tail -30 "$tmp/install.log" >&2; exit 1; }
) || die "building librdkafka $full failed (output above)"
[ -f "$prefix/lib/pkgconfig/rdkafka.pc" ] && [ -f "$prefix/include/librdkafka/rdkafka.h" ] ||
    die "librdkafka $full: $prefix lacks lib/pkgconfig/rdkafka.pc or include/librdkafka/rdkafka.h"
echo "$stamp" >"$prefix/.complete"
echo "$prefix"
