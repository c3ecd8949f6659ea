#!/bin/bash
# Stand-in (test-only): runs a Kafka class with the jars in /opt/kafka/libs.
exec java ${KAFKA_HEAP_OPTS:--Xmx512m} -XX:+UseSerialGC -Djava.awt.headless=true \
    ${KAFKA_LOG4J_OPTS:--Dlog4j.configuration=file:/opt/kafka/config/tools-log4j.properties} \
    ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"
