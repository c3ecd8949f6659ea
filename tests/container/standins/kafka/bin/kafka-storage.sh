#!/bin/bash
# Stand-in (test-only): kafka.tools.StorageTool
exec /opt/kafka/bin/kafka-run-class.sh kafka.tools.StorageTool "$@"
