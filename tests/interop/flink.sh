# shellcheck shell=bash
# make interop, consumer (b): Flink SQL in a local mini-cluster
# (tests/interop/FlinkSql.java) keeps a changelog table per source table:
# a Kafka source table with the debezium-json format on each table topic of
# sluice's plain JSON stream (no Connect schemas: Flink's usual setup), and
# an upsert JDBC sink table (the source's primary key) in
# the database copy_flink. One job per table, so that a job that fails loses
# only its own table. Column types: tests/interop/flink_ddl.sql. Flink's
# tables have fixed columns: a column added at the source later is not in
# the copy. Sourced by tests/interop/run.sh.

FLINK_DB=copy_flink

# flink_script TOPICS...: the Flink SQL script on stdout; creates the copy
# tables in copy_flink on the way.
flink_script() {
    local topic n=0 schema table
    pg_psql -f "$HERE/flink_ddl.sql" >/dev/null
    for topic in "$@"; do
        n=$((n + 1))
        schema="$(echo "$topic" | cut -d. -f2)"
        table="$(echo "$topic" | cut -d. -f3-)"
        local cols flink_cols="" pg_cols="" keys="" name ftype ptype is_key
        cols="$(pg_psql -AtF $'\t' -c "SELECT * FROM interop_meta.flink_columns('$schema.$table')")"
        while IFS=$'\t' read -r name ftype ptype is_key; do
            flink_cols+="${flink_cols:+,
  }\`$name\` $ftype"
            pg_cols+="${pg_cols:+, }\"$name\" $ptype"
            [ "$is_key" = t ] && keys+="${keys:+, }\`$name\`"
        done <<<"$cols"
        # A table without a primary key (REPLICA IDENTITY FULL: its events
        # carry the whole old row) is declared as a Flink user must for an
        # upsert sink: its key is every column (PRIMARY KEY … NOT ENFORCED),
        # matched in the copy by a unique index that lets NULLs match.
        local unique="PRIMARY KEY"
        if [ -z "$keys" ]; then
            # shellcheck disable=SC2016  # backquotes for Flink, not an expansion
            keys="$(cut -f1 <<<"$cols" | sed 's/.*/`&`/' | paste -sd, - | sed 's/,/, /g')"
            unique="UNIQUE NULLS NOT DISTINCT"
        fi
        pg_psql -d "$FLINK_DB" -c "CREATE TABLE IF NOT EXISTS \"$schema\".\"$table\" ($pg_cols${keys:+, $unique (${keys//\`/\"})})" >/dev/null
        cat <<EOF
CREATE TABLE src_$n (
  $flink_cols
) WITH (
  'connector' = 'kafka',
  'topic' = '$topic',
  'properties.bootstrap.servers' = '$KAFKA_BOOTSTRAP',
  'properties.group.id' = 'interop-flink-$n',
  'properties.isolation.level' = 'read_committed',
  'properties.enable.auto.commit' = 'true',
  'properties.auto.commit.interval.ms' = '1000',
  'scan.startup.mode' = 'earliest-offset',
  'format' = 'debezium-json'
);
CREATE TABLE dst_$n (
  $flink_cols${keys:+,
  PRIMARY KEY ($keys) NOT ENFORCED}
) WITH (
  'connector' = 'jdbc',
  'url' = 'jdbc:postgresql://$PGHOST_TEST:$PGPORT_TEST/$FLINK_DB?stringtype=unspecified',
  'table-name' = '$schema.$table',
  'username' = 'postgres',
  'password' = 'postgres',
  'sink.buffer-flush.interval' = '500ms'
);
-- job: $topic
INSERT INTO dst_$n SELECT * FROM src_$n;
EOF
    done
}

# consumer_flink TOPICS...: writes $W/status-flink.tsv (topic, job state).
consumer_flink() {
    local dir="$W/flink" s
    mkdir -p "$dir"
    pg_psql -d postgres -c "CREATE DATABASE $FLINK_DB" >/dev/null
    for s in $INTEROP_SCHEMAS; do
        pg_psql -d "$FLINK_DB" -c "CREATE SCHEMA $s" >/dev/null
    done
    flink_script "$@" >"$dir/interop.sql" || return 1
    cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/flink.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
    # The --add-opens Flink's own launch scripts pass on Java 17.
    rm -f "$dir/pid" "$dir/status.tsv"
    (
        cd "$dir" || exit 1
        # shellcheck disable=SC2086  # JVM flags, one a word
        setsid sh -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" \
            java ${INTEROP_FLINK_HEAP:--Xmx1536m -XX:MaxDirectMemorySize=512m} -Dsluice.env="$SLUICE_ENV_DIR" \
            -Dlog4j.configuration="file:$dir/log4j.properties" \
            --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED \
            --add-opens=java.base/java.lang.reflect=ALL-UNNAMED --add-opens=java.base/java.io=ALL-UNNAMED \
            --add-opens=java.base/java.net=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED \
            --add-opens=java.base/java.time=ALL-UNNAMED --add-opens=java.base/java.math=ALL-UNNAMED \
            --add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.sql/java.sql=ALL-UNNAMED \
            -cp "$FLINK_LIBS/*" "$HERE/FlinkSql.java" "$dir/interop.sql" "$dir/status.tsv" \
            </dev/null >>"$dir/stdout.log" 2>&1 &
    )
    local pid="" t
    for ((t = 0; t < 300; t++)); do
        pid="$(cat "$dir/pid" 2>/dev/null)" && [ -n "$pid" ] && break
        sleep 0.1
    done
    env_on_exit "flink_stop $pid"
    # Every job submitted (a status line each), or the runner died.
    if ! wait_for -p "$pid" 600 flink_submitted "$dir/status.tsv" "$#"; then
        log "flink: the jobs were not all submitted: $(tail -n 5 "$dir/stdout.log")"
        flink_stop "$pid"
        return 1
    fi
    log "flink: $# jobs submitted; waiting until each has read its topic or failed"
    local start=$SECONDS pending n topic
    while [ $((SECONDS - start)) -lt "${INTEROP_WAIT_TIMEOUT:-600}" ]; do
        kafka_lags "$dir/lag.txt"
        pending=0 n=0
        for topic in "$@"; do
            n=$((n + 1))
            group_at_end "$dir/lag.txt" "interop-flink-$n" && continue
            awk -F'\t' -v t="$topic" '$1 == t && $2 ~ /^(FAILED|FINISHED|CANCELED)/ { f = 1 } END { exit !f }' \
                "$dir/status.tsv" || pending=$((pending + 1))
        done
        [ "$pending" -gt 0 ] || break
        sleep 3
    done
    [ "$pending" -eq 0 ] || log "flink: $pending jobs had not caught up within ${INTEROP_WAIT_TIMEOUT:-600}s"
    # The JDBC sinks flush every 500 ms.
    INTEROP_SETTLE_S=6 wait_settled "$FLINK_DB" 60
    cp "$dir/status.tsv" "$W/status-flink.tsv"
    flink_stop "$pid"
}

# flink_submitted FILE N: FILE (the runner's status) has N lines.
flink_submitted() {
    [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# flink_stop PID: the runner of this environment, SIGTERM then kill -9.
flink_stop() {
    local pid="$1"
    _env_pid_alive "$pid" || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-Dsluice.env=$SLUICE_ENV_DIR .*FlinkSql" || return 0
    kill -TERM "$pid" 2>/dev/null
    wait_for 30 _env_pids_gone "$pid" && return 0
    kill -9 "$pid" 2>/dev/null
}
