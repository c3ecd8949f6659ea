#!/usr/bin/env bash
# Start a throwaway PostgreSQL + Kafka environment for humans and the demo,
# and keep it up until Ctrl-C (or SIGTERM); then everything is stopped and
# the temp dir removed (SLUICE_KEEP_ENV=1 keeps the dir).
#
#   tests/env/start.sh [n_kafka_nodes]        # default 1; 3 for a cluster
#
# In another shell:  . /tmp/sluice-env.XXXXXX/env.sh
# gives PG_CONNINFO, KAFKA_BOOTSTRAP, ...; additionally sourcing
# tests/env/env.sh there (without env_init) makes pg_psql, kafka_topics,
# kafka_stop_node, kafka_start_node, ... work against this environment.
set -euo pipefail

nodes="${1:-1}"
# shellcheck source=tests/env/env.sh
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"

env_init
pg_start
kafka_start "$nodes"

{
    for v in SLUICE_ENV_DIR PGPORT_TEST PGHOST_TEST PG_SOCKET_DIR PG_DATA PG_LOG PG_BIN \
             PG_CLIENT_BIN PG_MAJOR PG_VERSION_NUM PG_CONNINFO KAFKA_BOOTSTRAP KAFKA_LIBS \
             KAFKA_VERSION KAFKA_NODES; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done
} >"$SLUICE_ENV_DIR/env.sh"

cat <<EOF
sluice test environment is up in $SLUICE_ENV_DIR
  PostgreSQL:  $PG_CONNINFO  (server_version_num $PG_VERSION_NUM)
               (superuser: $PG_CLIENT_BIN/psql -h $PG_SOCKET_DIR -p $PGPORT_TEST -U postgres sluice_test)
  Kafka:       $KAFKA_BOOTSTRAP  ($KAFKA_NODES node(s), Kafka $KAFKA_VERSION)
  logs:        $PG_LOG, $SLUICE_ENV_DIR/kafka*/server.log
  variables:   . $SLUICE_ENV_DIR/env.sh
Press Ctrl-C to stop and clean up.
EOF

# Foreground sleep in short steps: Ctrl-C reaches sleep and us, and a
# SIGTERM is handled (by the env.sh trap) within a second.
while :; do sleep 1; done
