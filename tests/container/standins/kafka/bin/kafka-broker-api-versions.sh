#!/bin/bash
# Stand-in (test-only): kafka.admin.BrokerApiVersionsCommand
exec /opt/kafka/bin/kafka-run-class.sh kafka.admin.BrokerApiVersionsCommand "$@"
