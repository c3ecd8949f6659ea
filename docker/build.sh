#!/bin/sh
# The build steps of docker/Dockerfile, as a script, so that CI (which has no
# Docker engine) runs exactly what the image build runs, on the same Debian.
#
#   docker/build.sh build-deps          apt-get the build dependencies
#   docker/build.sh build SRC DEST      build sluice from SRC, install into DEST/usr/local/bin
#   docker/build.sh runtime-deps        apt-get the runtime libraries (and nothing else)
#   docker/build.sh user                create the unprivileged user "sluice" (uid 10001)
#   docker/build.sh check-runtime BIN   every library BIN needs comes from a runtime package
set -eu

BUILD_PKGS="build-essential pkg-config libpq-dev librdkafka-dev libjansson-dev libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev"
# Debian 12 (bookworm) names; check-runtime proves they cover the binary.
RUNTIME_PKGS="libpq5 librdkafka1 libjansson4 libprotobuf-c1 libmicrohttpd12 ca-certificates"

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
    make -C "$src" -j"$(nproc)" build/sluice
    install -D -m 0755 "$src/build/sluice" "$dest/usr/local/bin/sluice"
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
    missing=""
    for lib in $needed; do
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
