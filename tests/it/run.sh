#!/usr/bin/env bash
# Integration tests: sluice against a real PostgreSQL 15 and a real Kafka
# broker (KRaft), both started here in a temp dir and removed at the end.
#
#   tests/it/run.sh [test_name...]     (default: all)
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

env_init
env_on_exit reap_sluices
W="$SLUICE_ENV_DIR/it"
mkdir -p "$W"
pg_start "wal_sender_timeout=10s" "max_slot_wal_keep_size=-1"
kafka_start
admin_conninfo
workload_setup

. "$HERE/tests.sh"
. "$HERE/tests_ops.sh"
. "$HERE/tests_snapshot.sh"

if [ "$#" -gt 0 ]; then
    for t in "$@"; do run_test "$t"; done
else
    for t in $(declare -F | awk '{ print $3 }' | grep '^test_'); do run_test "$t"; done
fi
summary
