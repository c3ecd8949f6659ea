#!/usr/bin/env bash
# Security tests (make security): sluice against a real PostgreSQL 15 and a
# secured Kafka 3.9 broker (KRaft; SASL_SSL with SCRAM-SHA-512, an mTLS
# listener, the StandardAuthorizer with allow.everyone.if.no.acl.found =
# false; tests/env/kafka_secure.sh), both started here in a temp dir and
# removed at the end.
#
#   tests/it/run_security.sh [sec_test_name...]     (default: all)
#
# The tests (tests/it/tests_security.sh) run sluice as User:sluice with
# exactly the ACLs docs/operations.md lists, and the verifier and the V6
# sampler as the cluster's admin (SLUICE_TEST_KAFKA_CONFIG). Each test uses
# its own slot, topic prefix and transactional id.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../env/kafka_secure.sh"
. "$HERE/lib.sh"

harness_build all || exit 1
# SLUICE_BIN: another sluice binary to test (e.g. a build without a fix, to see a test fail).
SLUICE="${SLUICE_BIN:-$SLUICE}"
env_init || exit 1
env_on_exit reap_sluices
W="$SLUICE_ENV_DIR/sec"
mkdir -p "$W"
pg_start "wal_sender_timeout=10s" "max_slot_wal_keep_size=-1" || exit 1
kafka_secure_start || exit 1

# sluice masks its secrets wherever they appear in a message, and the test
# role's default password is "sluice", the word the ACL messages name the
# principal with: give the role a password no message contains.
pg_psql -qc "ALTER ROLE sluice PASSWORD 'pg-sec-pw'" || exit 1
PG_CONNINFO="${PG_CONNINFO/password=sluice/password=pg-sec-pw}"
export PG_CONNINFO
# The test tools (verify, its sampler) read Kafka as the admin.
KAFKA_BOOTSTRAP="$KSEC_BOOTSTRAP"
SLUICE_TEST_KAFKA_CONFIG="$KSEC_ADMIN_RDKAFKA"
export KAFKA_BOOTSTRAP SLUICE_TEST_KAFKA_CONFIG
admin_conninfo
workload_setup || exit 1

. "$HERE/tests_security.sh"

run_tests sec_ "$@"
summary
