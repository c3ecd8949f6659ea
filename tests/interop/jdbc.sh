# shellcheck shell=bash
# make interop, consumer (a): Kafka Connect (distributed, one worker) running
# Debezium's JDBC sink connector, one connector per table topic of sluice's
# JSON-with-schemas stream, rebuilding each table in the database copy_jdbc.
# One connector per topic because the sink's task dies on a record it cannot
# write (errors.tolerance and the DLQ do not cover write failures): then
# only that table stops, and its row in the report says why.
# Sourced by tests/interop/run.sh (uses its W, log, pg_psql, …).

# shellcheck source=tests/env/connect.sh
. "$REPO/tests/env/connect.sh"

JDBC_DB=copy_jdbc
# Connector names (and so their consumer groups, connect-<name>) are new in
# every run: a group left in the broker by an earlier run must not say where
# this one starts.
JDBC_RUN="${JDBC_RUN:-$$}"
jdbc_name() { echo "jdbc$JDBC_RUN-${1//./-}"; }

# jdbc_connect_start: the worker, with the JDBC sink's plugin directory;
# waits for its REST API to list the connector (120 s). Sets CONNECT_URL,
# CONNECT_PID, CONNECT_LOG.
jdbc_connect_start() {
    local dir="$W/connect" port t
    mkdir -p "$dir"
    port="$(_env_free_port)" || return 1
    cat >"$dir/worker.properties" <<EOF
bootstrap.servers=$KAFKA_BOOTSTRAP
group.id=interop-connect-$JDBC_RUN
config.storage.topic=interop-connect-$JDBC_RUN-configs
offset.storage.topic=interop-connect-$JDBC_RUN-offsets
status.storage.topic=interop-connect-$JDBC_RUN-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
offset.flush.interval.ms=2000
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
key.converter.replace.null.with.default=false
value.converter.replace.null.with.default=false
consumer.isolation.level=read_committed
consumer.auto.offset.reset=earliest
plugin.path=$JDBC_SINK_PLUGINS
plugin.discovery=service_load
listeners=http://127.0.0.1:$port
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
EOF
    # shellcheck disable=SC2086  # JVM flags, one a word
    CONNECT_LOG4J_EXTRA="log4j.logger.org.hibernate=ERROR
log4j.logger.com.mchange=WARN" connect_worker_start "$dir" "$port" JdbcSinkConnector \
        ${INTEROP_CONNECT_HEAP:--Xms768m -Xmx768m} -XX:+UseG1GC -Duser.timezone=UTC
}

# jdbc_deploy NAME TOPIC: a JDBC sink connector for one topic, configured as
# the issue asks (upsert, deletes, the record key as primary key, basic
# schema evolution) plus truncate.enabled (a copy that ignored TRUNCATE
# could not equal the source). Not use.time.zone: with it set, the sink
# writes a time column's default as a date-time ("2026-12-07T07:30:00Z[UTC]")
# and PostgreSQL refuses the CREATE TABLE; the worker runs in UTC instead. Tables are named after the source's schema
# and table, so copy_jdbc holds the same names as the source.
jdbc_deploy() {
    local name="$1" topic="$2" code
    code="$(curl -s -o "$W/connect/$name.deploy" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        "$CONNECT_URL/connectors/$name/config" --data-binary @- <<EOF
{
  "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
  "tasks.max": "1",
  "topics": "$topic",
  "connection.url": "jdbc:postgresql://$PGHOST_TEST:$PGPORT_TEST/$JDBC_DB",
  "connection.username": "postgres",
  "connection.password": "postgres",
  "connection.pool.min_size": "1",
  "connection.pool.max_size": "2",
  "insert.mode": "upsert",
  "delete.enabled": "true",
  "truncate.enabled": "true",
  "primary.key.mode": "record_key",
  "schema.evolution": "basic",
  "collection.name.format": "\${source.schema}.\${source.table}"
}
EOF
)"
    case "$code" in
    2??) return 0 ;;
    *) log "deploying $name failed (HTTP $code): $(cat "$W/connect/$name.deploy")"; return 1 ;;
    esac
}

# jdbc_status NAME: "RUNNING", or "FAILED: <the innermost cause in the task's trace>".
jdbc_status() {
    local t
    for ((t = 0; t < 30; t++)); do
        curl -sf "$CONNECT_URL/connectors/$1/status" 2>/dev/null | "$INTEROP_PY" -c '
import json, sys
s = json.load(sys.stdin)
tasks = s.get("tasks", [])
bad = [t for t in tasks if t.get("state") != "RUNNING"]
if s.get("connector", {}).get("state") != "RUNNING":
    print("FAILED (connector): " + s.get("connector", {}).get("trace", "").splitlines()[0][:300])
elif not tasks:
    print("NO TASK")
elif bad:
    trace = bad[0].get("trace", "")
    causes = [l for l in trace.splitlines() if l.startswith("Caused by:")]
    line = causes[-1] if causes else trace.splitlines()[0] if trace else ""
    print(bad[0].get("state", "?") + ": " + line[:400])
else:
    print("RUNNING")
' 2>/dev/null && return 0
        sleep 1 # the REST API answers 409 while the worker rebalances
    done
    echo "UNKNOWN (no status from the REST API)"
}

# jdbc_wait_done TIMEOUT CONNECTOR...: until every connector's task has
# failed or its consumer group has committed the end of its topic.
jdbc_wait_done() {
    local timeout="$1" start=$SECONDS pending name
    shift
    while [ $((SECONDS - start)) -lt "$timeout" ]; do
        kafka_lags "$W/connect/lag.txt"
        pending=0
        for name in "$@"; do
            group_at_end "$W/connect/lag.txt" "connect-$name" && continue
            case "$(jdbc_status "$name")" in
            FAILED*) ;;
            *) pending=$((pending + 1)) ;; # RUNNING, UNASSIGNED (not started yet), …
            esac
        done
        [ "$pending" -gt 0 ] || return 0
        sleep 3
    done
    log "jdbc: $pending connectors had not caught up within ${timeout}s"
}

# consumer_jdbc TOPICS...: the whole consumer; writes $W/status-jdbc.tsv
# (topic, connector status).
consumer_jdbc() {
    pg_psql -d postgres -c "CREATE DATABASE $JDBC_DB" >/dev/null || return 1
    local s
    for s in $INTEROP_SCHEMAS; do
        pg_psql -d "$JDBC_DB" -c "CREATE SCHEMA $s" >/dev/null || return 1
    done
    jdbc_connect_start || return 1
    local topic name names=()
    for topic in "$@"; do
        name="$(jdbc_name "$topic")"
        jdbc_deploy "$name" "$topic" || return 1
        names+=("$name")
    done
    log "jdbc: $# connectors deployed; waiting until each has read its topic or failed"
    jdbc_wait_done "${INTEROP_WAIT_TIMEOUT:-600}" "${names[@]}"
    : >"$W/status-jdbc.tsv"
    for topic in "$@"; do
        printf '%s\t%s\n' "$topic" "$(jdbc_status "$(jdbc_name "$topic")")" >>"$W/status-jdbc.tsv"
    done
    connect_worker_stop "$CONNECT_PID"
}
