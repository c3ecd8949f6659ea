#!/bin/sh
# The build steps of docker/Dockerfile, as a script, so that CI (which has no
# Docker engine) runs exactly what the image build runs, on the same Debian.
#
#   docker/build.sh build-deps          apt-get the build dependencies
#   docker/build.sh build SRC DEST      build sluice from SRC, install into DEST/usr/local/bin
#   docker/build.sh runtime-deps        apt-get the runtime libraries (and nothing else)
#   docker/build.sh user                create the unprivileged user "sluice" (uid 10001)
#   docker/build.sh check-runtime BIN   every library BIN needs comes from a runtime package
#                                       (or ships beside it in ../lib/sluice/)
#
# SLUICE_RDKAFKA (the Dockerfile's build argument, 2.12 there): link the pinned
# librdkafka (tests/env/versions.sh), built from source by tests/env/rdkafka.sh
# against Debian's zlib/zstd/lz4/OpenSSL/SASL, and ship it as
# /usr/local/lib/sluice/librdkafka.so.1 (the binary's rpath). Unset or empty:
# Debian's librdkafka 2.0.2 (librdkafka-dev, librdkafka1), as CI builds it.
set -eu

RDKAFKA="${SLUICE_RDKAFKA:-}"
BUILD_PKGS="build-essential pkg-config libpq-dev libjansson-dev libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev"
# Debian 12 (bookworm) names; check-runtime proves they cover the binary.
RUNTIME_PKGS="libpq5 libjansson4 libprotobuf-c1 libmicrohttpd12 ca-certificates"
if [ -n "$RDKAFKA" ]; then
    # What tests/env/rdkafka.sh needs to fetch, check and build it (python3: its linker script).
    BUILD_PKGS="$BUILD_PKGS curl ca-certificates python3 zlib1g-dev libzstd-dev liblz4-dev libssl-dev libsasl2-dev"
    RUNTIME_PKGS="$RUNTIME_PKGS zlib1g libzstd1 liblz4-1 libssl3 libsasl2-2"
else
    BUILD_PKGS="$BUILD_PKGS librdkafka-dev"
    RUNTIME_PKGS="$RUNTIME_PKGS librdkafka1"
fi

apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    rm -rf /var/lib/apt/lists/*
}

cmd="${1:-}"
case "$cmd" in
build-deps)
    # shellcheck disable=SC2086
    apt_install $BUILD_PKGS
    ;;
build)
    src="$2" dest="$3"
    if [ -n "$RDKAFKA" ]; then
        prefix="$("$src/tests/env/rdkafka.sh" "$RDKAFKA")"
        out="build-rdkafka$(echo "$RDKAFKA" | tr -d .)"
        # The installed place first in the rpath; the build's prefix (there in this stage) after it.
        make -C "$src" -j"$(nproc)" RDKAFKA="$RDKAFKA" LDFLAGS="-Wl,-rpath,/usr/local/lib/sluice" "$out/sluice"
        install -D -m 0644 "$prefix/lib/librdkafka.so.1" "$dest/usr/local/lib/sluice/librdkafka.so.1"
        strip --strip-unneeded "$dest/usr/local/lib/sluice/librdkafka.so.1"
    else
        out=build
        make -C "$src" -j"$(nproc)" build/sluice
    fi
    install -D -m 0755 "$src/$out/sluice" "$dest/usr/local/bin/sluice"
    strip "$dest/usr/local/bin/sluice"
    "$dest/usr/local/bin/sluice" --version
    ;;
runtime-deps)
    # shellcheck disable=SC2086
    apt_install $RUNTIME_PKGS
    ;;
user)
    groupadd --system --gid 10001 sluice
    useradd --system --uid 10001 --gid sluice --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin sluice
    install -d -o root -g sluice -m 0750 /etc/sluice
    ;;
check-runtime)
    # A check that cannot look must fail, not pass: no objdump, no such file,
    # or not a dynamically linked ELF binary (sluice needs libc at least).
    bin="${2:-}"
    command -v objdump >/dev/null 2>&1 ||
        { echo "check-runtime: objdump not found (install binutils): cannot check" >&2; exit 1; }
    [ -n "$bin" ] && [ -f "$bin" ] ||
        { echo "check-runtime: \"$bin\" is not a file: cannot check" >&2; exit 1; }
    needed="$(objdump -p "$bin" 2>&1)" ||
        { echo "check-runtime: objdump cannot read \"$bin\": $needed" >&2; exit 1; }
    needed="$(printf '%s\n' "$needed" | awk '$1 == "NEEDED" { print $2 }')"
    [ -n "$needed" ] ||
        { echo "check-runtime: \"$bin\" needs no shared library (not a dynamically linked binary?): cannot check" >&2; exit 1; }
    # A library shipped beside the binary (SLUICE_RDKAFKA: lib/sluice/librdkafka.so.1)
    # is not a package's: what it needs in turn must be.
    private="$(dirname "$bin")/../lib/sluice"
    shipped=""
    for lib in $needed; do
        [ -f "$private/$lib" ] || continue
        more="$(objdump -p "$private/$lib" 2>&1)" ||
            { echo "check-runtime: objdump cannot read \"$private/$lib\": $more" >&2; exit 1; }
        shipped="$shipped $lib"
        needed="$needed $(printf '%s\n' "$more" | awk '$1 == "NEEDED" { print $2 }')"
    done
    missing=""
    # shellcheck disable=SC2086 # a list, split on purpose
    for lib in $(printf '%s\n' $needed | awk '!seen[$0]++'); do
        case " $shipped " in
        *" $lib "*) echo "check-runtime: $lib ships with sluice (lib/sluice/)"; continue ;;
        esac
        path="$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')"
        [ -n "$path" ] || { echo "check-runtime: $lib not found on this system" >&2; exit 1; }
        # dpkg knows a file by the path its package installed (/lib or /usr/lib after usrmerge).
        pkg="$( (dpkg -S "$path" || dpkg -S "$(readlink -f "$path")") 2>/dev/null | head -n 1 | cut -d: -f1)"
        case " $RUNTIME_PKGS libc6 " in
        *" $pkg "*) echo "check-runtime: $lib from $pkg" ;;
        *) missing="$missing $lib($pkg)" ;;
        esac
    done
    if [ -n "$missing" ]; then
        echo "check-runtime: not in RUNTIME_PKGS:$missing" >&2
        exit 1
    fi
    ;;
*)
    echo "usage: $0 build-deps | build SRC DEST | runtime-deps | user | check-runtime BIN" >&2
    exit 2
    ;;
esac
