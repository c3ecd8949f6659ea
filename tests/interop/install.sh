#!/bin/sh
# Idempotent installer for `make interop`: the consumers that read sluice's
# topics, each pinned, into the cache outside the repository
# (${SLUICE_CACHE:-~/.cache/sluice}). Fast when everything is there.
#
#   - Debezium's JDBC sink connector (io.debezium:debezium-connector-jdbc,
#     plugin tar.gz from Maven Central; it bundles the PostgreSQL JDBC
#     driver). It runs on Kafka Connect, which is already on the broker
#     classpath tests/env/install.sh fetches (kafka-tools depends on
#     connect-runtime of the same version, as tests/bench/install-debezium.sh
#     relies on too).
#   - Apache Flink's table runtime in a local mini-cluster: the planner,
#     flink-json (the debezium-json format), the Kafka and JDBC connectors
#     and the PostgreSQL JDBC driver, one classpath directory.
#   - A Python virtualenv with protobuf and protoc (grpcio-tools) and
#     confluent-kafka (its wheel bundles librdkafka), for the Protobuf reader.
#
# Prints shell assignments (JDBC_SINK_PLUGINS=… FLINK_LIBS=… INTEROP_PY=…)
# on stdout for `eval`.
set -eu

JDBC_SINK_VERSION="${SLUICE_JDBC_SINK_VERSION:-3.2.0.Final}"
FLINK_VERSION="${SLUICE_FLINK_VERSION:-1.20.3}"
FLINK_KAFKA_VERSION="${SLUICE_FLINK_KAFKA_VERSION:-3.4.0-1.20}"
FLINK_JDBC_VERSION="${SLUICE_FLINK_JDBC_VERSION:-3.3.0-1.20}"
PGJDBC_VERSION="${SLUICE_PGJDBC_VERSION:-42.7.7}"
PY_PACKAGES="protobuf==7.36.2 grpcio-tools==1.85.4 confluent-kafka==2.16.2"

CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
HERE="$(cd "$(dirname "$0")" && pwd)"

kafka_home="$("$HERE/../env/install.sh")"
if ! ls "$kafka_home/libs"/connect-runtime-*.jar >/dev/null 2>&1; then
    echo "interop/install: no connect-runtime in $kafka_home/libs" >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

sink_dir="$CACHE/debezium-jdbc-$JDBC_SINK_VERSION"
if [ ! -f "$sink_dir/.complete" ]; then
    echo "interop/install: fetching Debezium's JDBC sink $JDBC_SINK_VERSION with Maven into $sink_dir" >&2
    (cd "$tmp" && mvn -B -q dependency:copy \
        -Dartifact="io.debezium:debezium-connector-jdbc:$JDBC_SINK_VERSION:tar.gz:plugin" \
        -DoutputDirectory="$tmp" -Dmaven.repo.local="$CACHE/m2") >&2
    rm -rf "$sink_dir"
    mkdir -p "$sink_dir/plugins"
    tar -xzf "$tmp/debezium-connector-jdbc-$JDBC_SINK_VERSION-plugin.tar.gz" -C "$sink_dir/plugins"
    touch "$sink_dir/.complete"
fi

flink_dir="$CACHE/flink-$FLINK_VERSION"
if [ ! -f "$flink_dir/.complete" ]; then
    echo "interop/install: fetching Flink $FLINK_VERSION (table runtime, json, kafka, jdbc) with Maven into $flink_dir" >&2
    cat >"$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice</groupId><artifactId>flink-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-table-api-java-bridge</artifactId><version>$FLINK_VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-table-planner-loader</artifactId><version>$FLINK_VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-table-runtime</artifactId><version>$FLINK_VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-clients</artifactId><version>$FLINK_VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-json</artifactId><version>$FLINK_VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-connector-kafka</artifactId><version>$FLINK_KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.flink</groupId><artifactId>flink-connector-jdbc</artifactId><version>$FLINK_JDBC_VERSION</version></dependency>
    <dependency><groupId>org.postgresql</groupId><artifactId>postgresql</artifactId><version>$PGJDBC_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
    rm -rf "$flink_dir"
    mkdir -p "$flink_dir/libs"
    (cd "$tmp" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$flink_dir/libs" -Dmaven.repo.local="$CACHE/m2") >&2
    touch "$flink_dir/.complete"
fi

venv="$CACHE/interop-venv"
stamp="$(echo "$PY_PACKAGES" | cksum | cut -d' ' -f1)"
if [ ! -f "$venv/.complete-$stamp" ]; then
    echo "interop/install: a Python virtualenv with $PY_PACKAGES in $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    # shellcheck disable=SC2086  # one package a word
    "$venv/bin/pip" install -q --disable-pip-version-check $PY_PACKAGES >&2
    touch "$venv/.complete-$stamp"
fi

echo "JDBC_SINK_PLUGINS=$sink_dir/plugins"
echo "JDBC_SINK_VERSION=$JDBC_SINK_VERSION"
echo "FLINK_LIBS=$flink_dir/libs"
echo "FLINK_VERSION=$FLINK_VERSION"
echo "INTEROP_PY=$venv/bin/python"
