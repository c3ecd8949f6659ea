#!/bin/sh
# Idempotent installer for everything sluice needs to build, test and demo.
# Debian packages through apt (skipped when already present) and a pinned
# Apache Kafka broker classpath fetched by Maven into a cache outside the repo.
# Fast when everything is already there: it only checks.
set -eu

KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-3.9.1}"
CACHE="${SLUICE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}"
KAFKA_DIR="$CACHE/kafka-$KAFKA_VERSION"

PKGS="build-essential pkg-config libpq-dev librdkafka-dev libjansson-dev \
libprotobuf-c-dev protobuf-c-compiler check postgresql-15 postgresql-client-15 \
postgresql-contrib kcat libmicrohttpd-dev clang libclang-rt-14-dev clang-format maven \
default-jre-headless procps iproute2 python3 python3-yaml util-linux curl openssl"

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

if [ ! -f "$KAFKA_DIR/.complete" ]; then
    echo "install: fetching Apache Kafka $KAFKA_VERSION with Maven into $KAFKA_DIR" >&2
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    cat > "$tmp/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>sluice</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
    mkdir -p "$KAFKA_DIR/libs"
    (cd "$tmp" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$KAFKA_DIR/libs" -Dmaven.repo.local="$CACHE/m2") >&2
    touch "$KAFKA_DIR/.complete"
fi
echo "$KAFKA_DIR"
