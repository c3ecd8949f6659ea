#!/usr/bin/env bash
# Integration tests: sluice against a real PostgreSQL (Debian's 15, or the
# major SLUICE_PG_VERSION names) and a real Kafka broker (KRaft; 3.9.1 or
# SLUICE_KAFKA_VERSION), both started here in a temp dir and removed at the end.
#
#   tests/it/run.sh [test_name...]     (default: all)
#
# Builds what it needs first (make all), so it runs from a fresh clone.
#
# Each test uses its own slot and topic prefix, so they share one
# PostgreSQL and one broker. Sizes can be raised for a longer run:
#   IT_TXNS (10000) IT_CRASHES (20) IT_BIG_ROWS (1000000)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/lib.sh"

IT_TXNS="${IT_TXNS:-10000}"
IT_CRASHES="${IT_CRASHES:-20}"
IT_BIG_ROWS="${IT_BIG_ROWS:-1000000}"

harness_build all || exit 1
harness_env_start it 1 || exit 1

. "$HERE/tests.sh"
. "$HERE/tests_ops.sh"
. "$HERE/tests_snapshot.sh"
. "$HERE/tests_incremental.sh"
. "$HERE/tests_deploy.sh"
. "$HERE/tests_standby.sh"
. "$HERE/tests_versions.sh"

run_tests test_ "$@"
summary
