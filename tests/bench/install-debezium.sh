#!/bin/sh
# Idempotent installer for the benchmark's Debezium side: Debezium's
# PostgreSQL connector plugin (the tar.gz Maven Central serves as
# io.debezium:debezium-connector-postgres:<v>:tar.gz:plugin), unpacked into a
# Kafka Connect plugin.path directory in the cache outside the repository.
#
# Kafka Connect itself (org.apache.kafka:connect-runtime, connect-json,
# connect-api, connect-transforms) is already on the broker classpath that
# tests/env/install.sh fetches: kafka-tools 3.9.x depends on connect-runtime
# of the same version, so ConnectDistributed runs from $KAFKA_LIBS with no
# second copy. This script checks that and fails if it ever stops being so.
#
# Prints the plugin.path directory on stdout; fast when everything is there.
#
#   SLUICE_DEBEZIUM_VERSION (default 3.2.3.Final: built against Kafka 3.9.0,
#   runs on Java 17)
set -eu

DEBEZIUM_VERSION="${SLUICE_DEBEZIUM_VERSION:-3.2.3.Final}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
DIR="$CACHE/debezium-$DEBEZIUM_VERSION"
HERE="$(cd "$(dirname "$0")" && pwd)"

kafka_home="$("$HERE/../env/install.sh")"
if ! ls "$kafka_home/libs"/connect-runtime-*.jar >/dev/null 2>&1 ||
    ! ls "$kafka_home/libs"/connect-json-*.jar >/dev/null 2>&1; then
    echo "install-debezium: no connect-runtime/connect-json in $kafka_home/libs" >&2
    exit 1
fi

if [ ! -f "$DIR/.complete" ]; then
    echo "install-debezium: fetching the Debezium PostgreSQL connector $DEBEZIUM_VERSION with Maven into $DIR" >&2
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && mvn -B -q dependency:copy \
        -Dartifact="io.debezium:debezium-connector-postgres:$DEBEZIUM_VERSION:tar.gz:plugin" \
        -DoutputDirectory="$tmp" -Dmaven.repo.local="$CACHE/m2") >&2
    rm -rf "$DIR"
    mkdir -p "$DIR/plugins"
    tar -xzf "$tmp/debezium-connector-postgres-$DEBEZIUM_VERSION-plugin.tar.gz" -C "$DIR/plugins"
    touch "$DIR/.complete"
fi
echo "$DIR/plugins"
