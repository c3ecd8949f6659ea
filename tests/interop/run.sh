#!/usr/bin/env bash
# make interop: consumers that nobody here wrote, fed by sluice, rebuild the
# project's type tables and workload; each copy is compared with the source
# by value and by column (type, NOT NULL, default). Outside CI (it takes
# several minutes and fetches Kafka Connect's JDBC sink, Flink and a Python
# toolchain, pinned, into ~/.cache/sluice: tests/interop/install.sh).
#
#   tests/interop/run.sh [consumer...]     consumers: jdbc flink protobuf (default all)
#
# The source (one PostgreSQL 15, one Kafka broker from tests/env/env.sh):
#   tests/interop/types.sql     every type of docs/output.md, NOT NULL and
#                               DEFAULTs, constrained numerics, inserts,
#                               updates, deletes, key changes, a truncate,
#                               ALTER TABLE ADD COLUMN (rows before
#                               "-- streaming" come through the snapshot)
#   tests/interop/specials.sql  one table per value with no Java equivalent
#   tests/golden/{toast,truncate,replica_identity,schema_changes}.sql
# Each case streams through one sluice per consumer: JSON with Connect
# schemas for the JDBC sink (prefix ij_<case>), plain Debezium JSON for
# Flink (if_<case>), Protobuf for the Python reader (ip_<case>);
# INTEROP_CONF_JDBC, _FLINK, _PROTOBUF add sluice settings to each.
# The consumers (tests/interop/{jdbc,flink,protobuf}.sh) write into the
# databases copy_jdbc, copy_flink, copy_pb of the same cluster; the
# comparison is tests/interop/compare.sql. The report (markdown) goes to
# stdout and to $INTEROP_REPORT (default build/interop/report.md).
#
# Exit status: 0 when every consumer ran to the end (whatever the copies
# hold: the report says what differs), 1 when the harness itself failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tests/env/env.sh
. "$HERE/../env/env.sh"
# shellcheck source=tests/it/lib.sh
. "$HERE/../it/lib.sh"
eval "$("$HERE/install.sh")"
# shellcheck source=tests/interop/jdbc.sh
. "$HERE/jdbc.sh"
# shellcheck source=tests/interop/protobuf.sh
. "$HERE/protobuf.sh"
# shellcheck source=tests/interop/flink.sh
. "$HERE/flink.sh"
# shellcheck source=tests/interop/report.sh
. "$HERE/report.sh"

CONSUMERS="${*:-jdbc flink protobuf}"
INTEROP_FULL=""
case " $CONSUMERS " in *" flink "*) INTEROP_FULL=1 ;; esac
export INTEROP_FULL
REPORT="${INTEROP_REPORT:-$REPO/build/interop/report.md}"
# case name, file, schema
CASES=(
    "types $HERE/types.sql i_types"
    "specials $HERE/specials.sql i_specials"
    "toast $REPO/tests/golden/toast.sql g_toast"
    "truncate $REPO/tests/golden/truncate.sql g_truncate"
    "replica_identity $REPO/tests/golden/replica_identity.sql g_replica_identity"
    "schema_changes $REPO/tests/golden/schema_changes.sql g_schema_changes"
)
INTEROP_SCHEMAS="$(for c in "${CASES[@]}"; do set -- $c; printf '%s ' "$3"; done)"
export INTEROP_SCHEMAS

harness_build all
env_init
env_on_exit reap_sluices
W="$SLUICE_ENV_DIR/interop"
mkdir -p "$W" "$(dirname "$REPORT")"
# One slot per case and consumer (18), and a temporary one for each snapshot
# a request starts (all three of a case at once).
pg_start "wal_sender_timeout=10s" "max_slot_wal_keep_size=-1" "max_connections=300" \
    "max_replication_slots=40" "max_wal_senders=40"
kafka_start 1
admin_conninfo

# wait_settled DB TIMEOUT: until the tables of database DB stop changing
# (the insert/update/delete counters of every table unchanged for
# INTEROP_SETTLE_S seconds, 20 by default), at most TIMEOUT seconds.
wait_settled() {
    local db="$1" timeout="$2" prev="" cur same=0 start=$SECONDS
    while [ $((SECONDS - start)) -lt "$timeout" ]; do
        cur="$(pg_psql -d "$db" -Atc "SELECT coalesce(string_agg(format('%s.%s:%s/%s/%s', schemaname, relname,
                   n_tup_ins, n_tup_upd, n_tup_del), ',' ORDER BY schemaname, relname), '')
                   FROM pg_stat_user_tables" 2>/dev/null || true)"
        if [ -n "$cur" ] && [ "$cur" = "$prev" ]; then
            same=$((same + 2))
            [ "$same" -lt "${INTEROP_SETTLE_S:-20}" ] || return 0
        else
            same=0
        fi
        prev="$cur"
        sleep 2
    done
    log "$db did not settle within ${timeout}s"
}

# kafka_lags FILE: every consumer group's committed offsets and lags.
kafka_lags() {
    kafka_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
        --describe --all-groups >"$1" 2>/dev/null || true
}

# group_at_end FILE GROUP: in kafka_lags's FILE, GROUP has committed the end
# of every partition it reads. The last record of a transactional topic is
# the transaction's commit marker, which a consumer never commits past: a lag
# of 1 is the end.
group_at_end() {
    awk -v g="$2" '$1 == g { n++; if ($4 == "-" || $6 > 1) bad = 1 } END { exit !(n && !bad) }' "$1"
}

# ---------------------------------------------------------------------------
# The source: each case in its own schema and publication, streamed by one
# sluice per consumer.

pg_psql -c "CREATE SCHEMA interop_meta" >/dev/null
run_case() {
    local name="$1" file="$2" schema="$3" pub="interop_$1"
    local setup="$W/$name.setup.sql" stream="$W/$name.stream.sql"
    awk -v SETUP="$setup" -v STREAM="$stream" \
        'BEGIN { printf "" > SETUP; printf "" > STREAM }
         /^-- streaming/ { s = 1; next } { print > (s ? STREAM : SETUP) }' "$file"
    pg_psql -c "CREATE SCHEMA $schema" -c "GRANT USAGE ON SCHEMA $schema TO sluice" >/dev/null
    PGOPTIONS="-c client_min_messages=warning -c search_path=$schema" pg_psql -v pub="$pub" -f "$setup" >/dev/null
    grep -qi 'CREATE PUBLICATION' "$setup" ||
        pg_psql -c "CREATE PUBLICATION $pub FOR TABLES IN SCHEMA $schema" >/dev/null
    pg_psql -c "GRANT SELECT ON ALL TABLES IN SCHEMA $schema TO sluice" >/dev/null
    # A Flink user must give every table REPLICA IDENTITY FULL: Flink's
    # debezium-json refuses an update or delete without the old row
    # ("before"), as its documentation says for PostgreSQL. The streams are
    # one source, so with Flink among the consumers the other two read FULL
    # tables too (the golden tests keep the other identities).
    if [ -n "$INTEROP_FULL" ]; then
        pg_psql -Atc "SELECT format('ALTER TABLE %I.%I REPLICA IDENTITY FULL;', schemaname, tablename)
                      FROM pg_tables WHERE schemaname = '$schema'" | pg_psql >/dev/null
    fi
    # The DDL before streaming: where the consumers that create no tables start from.
    "$PG_BIN/pg_dump" -h "$PG_SOCKET_DIR" -p "$PGPORT_TEST" -U postgres -d sluice_test --schema-only \
        --no-owner --no-privileges --no-publications -n "$schema" >"$W/ddl-$schema.sql"

    # One sluice per consumer's stream, at once (each its own slot).
    local consumer prefix cfg pids=() prefixes=() rc=0 line lines
    for consumer in $CONSUMERS; do
        prefix="$(stream_prefix "$consumer")_$name"
        cfg="$W/$prefix.conf"
        IFS=';' read -r -a lines <<<"$(stream_conf "$consumer")"
        sluice_config "$cfg" "$prefix" "$prefix" "postgres.publication = $pub" "topic.partitions = 1" "${lines[@]}"
        sluice_start "$cfg" "$W/$prefix.log" -o snapshot.mode=initial
        pids+=("$SLUICE_PID")
        prefixes+=("$prefix")
    done
    # The snapshot first: DDL in the streamed part would race its COPY.
    local i
    for i in "${!pids[@]}"; do
        wait_log "$W/${prefixes[$i]}.log" 'streaming from slot' 300 "${pids[$i]}" || return 1
    done
    local published="SELECT coalesce(string_agg(format('%s.%s', schemaname, tablename), ', ' ORDER BY 1), '')
                       FROM pg_publication_tables WHERE pubname = '$pub'" before added
    before="$(pg_psql -Atc "$published")"
    PGOPTIONS="-c client_min_messages=warning -c search_path=$schema" pg_psql -v pub="$pub" -f "$stream" >/dev/null
    # A table the workload added to the publication (ALTER PUBLICATION … ADD
    # TABLE) streams from there on; its older rows come, as a sluice user
    # gets them, by a snapshot request (operations.md, "Tables added to the
    # publication later").
    added="$(comm -13 <(tr -d ' ' <<<"$before" | tr ',' '\n' | sort) \
                      <(pg_psql -Atc "$published" | tr -d ' ' | tr ',' '\n' | sort) | paste -sd, - | sed 's/,/, /g')"
    if [ -n "$added" ]; then
        pg_psql -Atc "SELECT pg_logical_emit_message(true, 'sluice.snapshot', '$added')" >/dev/null
        log "case $name: asked for a snapshot of $added (added to $pub while streaming)"
    fi
    local lsn
    lsn="$(sync_barrier)"
    for i in "${!pids[@]}"; do
        if [ -n "$added" ]; then
            wait_log "$W/${prefixes[$i]}.log" 'snapshot 2 complete' 300 "${pids[$i]}" || rc=1
        fi
        wait_confirmed "${prefixes[$i]}" "$lsn" 120 || rc=1
        sluice_stop "${pids[$i]}" || rc=1
        [ "$rc" -eq 0 ] || {
            log "case $name: sluice did not stream it all: $(tail -n 3 "$W/${prefixes[$i]}.log")"
            return 1
        }
    done
    log "case $name: streamed (${prefixes[*]})"
}

# stream_prefix CONSUMER: the topic prefix kind of the stream it reads.
stream_prefix() {
    case "$1" in jdbc) echo ij ;; flink) echo if ;; protobuf) echo ip ;; esac
}

# stream_conf CONSUMER: the sluice configuration lines (;-separated) of its
# stream: the JDBC sink reads Kafka Connect JSON with schemas, Flink plain
# Debezium JSON, the Python reader Protobuf. INTEROP_CONF_JDBC,
# INTEROP_CONF_FLINK and INTEROP_CONF_PROTOBUF add lines. The JDBC stream
# is configured as a user of Debezium's JDBC sink would (INTEROP_CONF_JDBC's
# default): numerics as Connect Decimals (sluice's default string form
# makes every numeric a text column of the copy) and every column's source
# type in the schema (column.propagate.source.type = .*: varchar(n),
# timestamp(p), jsonb, …). Flink and the Protobuf reader keep dates and
# times in sluice's numeric forms, where Debezium's markers for ±infinity
# and 24:00 fit and can be read back: their streams default to
# infinity.handling.mode = extreme (a PostgreSQL sink refuses the markers:
# the JDBC stream keeps sluice's default, clamp). Flink's debezium-json
# stops its job at a truncate (op t), so its stream skips them
# (skipped.operations = t, Debezium's default). An empty INTEROP_CONF_*
# streams sluice's defaults.
stream_conf() {
    local jdbc="${INTEROP_CONF_JDBC-decimal.handling.mode = precise;column.propagate.source.type = .*}"
    local flink="${INTEROP_CONF_FLINK-infinity.handling.mode = extreme;skipped.operations = t}"
    local pb="${INTEROP_CONF_PROTOBUF-infinity.handling.mode = extreme}"
    case "$1" in
    jdbc) echo "json.schemas = true${jdbc:+;$jdbc}" ;;
    flink) echo "$flink" ;;
    protobuf) echo "format = protobuf${pb:+;$pb}" ;;
    esac
}
for c in "${CASES[@]}"; do
    # shellcheck disable=SC2086  # name, file, schema
    run_case $c
done
pg_psql -v ON_ERROR_STOP=1 -f "$HERE/compare.sql" >/dev/null

# INTEROP_HOLD=1 (for working on a consumer): keep the environment up after
# the source is in Kafka, with its variables in $SLUICE_ENV_DIR/env.sh, until
# $W/release exists.
if [ -n "${INTEROP_HOLD:-}" ]; then
    for v in SLUICE_ENV_DIR PGPORT_TEST PGHOST_TEST PG_SOCKET_DIR PG_DATA PG_LOG PG_BIN \
             PG_CONNINFO KAFKA_BOOTSTRAP KAFKA_LIBS KAFKA_NODES W INTEROP_SCHEMAS; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done >"$SLUICE_ENV_DIR/env.sh"
    log "holding: . $SLUICE_ENV_DIR/env.sh; touch $W/release to go on"
    wait_for 100000 test -e "$W/release" || true
fi

# The table topics of a prefix kind (ij, if or ip): everything but sluice's own.
table_topics() {
    kafka_topics --list | grep "^$1_" | grep -Ev '\.(message|transaction|sluice\.checkpoint)$' | sort
}

# ---------------------------------------------------------------------------
# The consumers.

for consumer in $CONSUMERS; do
    log "=== consumer $consumer"
    case "$consumer" in
    jdbc)
        # shellcheck disable=SC2046  # one topic a word
        consumer_jdbc $(table_topics ij) || log "consumer jdbc: the harness failed"
        ;;
    flink)
        # shellcheck disable=SC2046
        consumer_flink $(table_topics if) || log "consumer flink: the harness failed"
        ;;
    protobuf)
        # shellcheck disable=SC2046
        consumer_protobuf $(table_topics ip) || log "consumer protobuf: the harness failed"
        ;;
    *)
        log "unknown consumer $consumer (jdbc, flink, protobuf)"
        exit 1
        ;;
    esac
done

# ---------------------------------------------------------------------------
# The report.

{
    echo "## make interop: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src include || echo ' (with uncommitted changes)'), $(date -u +%Y-%m-%d)"
    echo
    echo "Versions: PostgreSQL $(pg_psql -Atc 'SHOW server_version'), Kafka $(basename "$(dirname "$KAFKA_LIBS")" | sed 's/kafka-//'),"
    echo "Debezium JDBC sink $JDBC_SINK_VERSION on Kafka Connect, Flink $FLINK_VERSION, Python $("$INTEROP_PY" -c 'import sys, google.protobuf, confluent_kafka; print(sys.version.split()[0] + ", protobuf " + google.protobuf.__version__ + ", confluent-kafka " + confluent_kafka.__version__)'),"
    echo "$(java -version 2>&1 | head -1)."
    echo
    report_specials
    for consumer in $CONSUMERS; do
        report_consumer "$consumer" "$(consumer_db "$consumer")"
    done
} | tee "$REPORT"
log "report: $REPORT; work dir: $W (kept with SLUICE_KEEP_ENV=1)"
