#!/bin/bash
# Stand-in (test-only): org.apache.kafka.tools.TopicCommand
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.TopicCommand "$@"
