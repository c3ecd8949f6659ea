# shellcheck shell=bash
# Helpers for the benchmarks: statistics, CPU time and memory of a process,
# the read_committed counter, and Debezium's PostgreSQL connector on a Kafka
# Connect worker in distributed mode. Source after tests/env/env.sh,
# tests/it/lib.sh, env_init, pg_start, kafka_start and with $W set.

# The binaries are copied into the run's directory first: others may rebuild
# build/ while a long benchmark runs, and every run should measure the same
# sluice.
bench_snapshot_binaries() {
    mkdir -p "$W/bin"
    cp "${BENCH_SLUICE_BIN:-$SLUICE}" "$W/bin/sluice" && cp "$REPO/build/tools/kcount" "$W/bin/" || return 1
    SLUICE="$W/bin/sluice"
    cp "${BENCH_B_SLUICE_BIN:-$SLUICE}" "$W/bin/sluice_b" || return 1
    SLUICE_B="$W/bin/sluice_b"
    KCOUNT="$W/bin/kcount"
}
KCOUNT="$REPO/build/tools/kcount"

now_ms() { date +%s%3N; }

# median: of integers, one a line (an even count averages the middle two,
# rounded down); "-" for none.
median() {
    sort -n | awk '{ a[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
                                        else print int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'
}
minmax() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi; else printf "-" }'; }

# cpu_ticks PID: user + system CPU time of a process in clock ticks
# (getconf CLK_TCK a second); 0 when it is gone. Fields 14 and 15 of
# /proc/PID/stat, counted after the command name (which may hold spaces).
cpu_ticks() {
    local s
    read -r s 2>/dev/null <"/proc/$1/stat" || { echo 0; return; }
    s="${s##*) }"
    # shellcheck disable=SC2206  # split the fields on purpose
    local -a f=($s)
    echo $((f[11] + f[12]))
}
CLK_TCK="$(getconf CLK_TCK)"

# ticks_into VAR PID / hwm_into VAR PID: cpu_ticks and peak_rss_kb without
# a fork, for sampling loops that must not steal the CPU they measure.
# (Their locals start with _ti_/_hi_ so that VAR never names one of them.)
ticks_into() {
    local _ti_s
    read -r _ti_s 2>/dev/null <"/proc/$2/stat" || { printf -v "$1" 0; return; }
    _ti_s="${_ti_s##*) }"
    # shellcheck disable=SC2206
    local -a _ti_f=($_ti_s)
    printf -v "$1" '%d' $((_ti_f[11] + _ti_f[12]))
}
hwm_into() {
    local _hi_k _hi_v _hi_rest
    printf -v "$1" 0
    while read -r _hi_k _hi_v _hi_rest; do
        [ "$_hi_k" = "VmHWM:" ] && { printf -v "$1" '%d' "$_hi_v"; return; }
    done 2>/dev/null <"/proc/$2/status"
}

# rss_kb PID: current resident set (VmRSS).
rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}


# kcount_start PREFIX N OUTFILE: the counter in the background (KCOUNT_PID);
# it stops by itself once N change events under PREFIX are visible.
kcount_start() {
    "$KCOUNT" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$1" --expect "$2" \
        --timeout-ms $((${BENCH_DRAIN_TIMEOUT:-900} * 1000)) >"$3" 2>"$3.err" &
    KCOUNT_PID=$!
}

# kcount_field FILE NAME: a value from the counter's output line.
kcount_field() {
    awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$1"
}

# ---------------------------------------------------------------------------
# Kafka Connect + Debezium

# The Connect runtime is on the broker's classpath ($KAFKA_LIBS); the
# Debezium plugin comes from tests/bench/install-debezium.sh.
CONNECT_HEAP="${BENCH_CONNECT_HEAP:--Xms1g -Xmx1g}"

debezium_install() {
    DEBEZIUM_PLUGINS="$("$REPO/tests/bench/install-debezium.sh")" || {
        log "tests/bench/install-debezium.sh failed"
        return 1
    }
    DEBEZIUM_VERSION="$(basename "$(dirname "$DEBEZIUM_PLUGINS")")"
    DEBEZIUM_VERSION="${DEBEZIUM_VERSION#debezium-}"
}

# shellcheck source=tests/env/connect.sh
. "$REPO/tests/env/connect.sh"

# connect_start ID MODE: a fresh distributed worker with its own group and
# internal topics (so nothing carries over between runs), exactly-once
# source support "enabled" (MODE eos) or "disabled" (MODE alo). Waits for
# its REST API (120 s); sets CONNECT_PID, CONNECT_URL, CONNECT_LOG.
connect_start() {
    local id="$1" mode="$2" dir="$W/connect-$1" port eos t
    mkdir -p "$dir"
    port="$(_env_free_port)" || return 1
    if [ "$mode" = eos ]; then eos=enabled; else eos=disabled; fi
    cat >"$dir/worker.properties" <<EOF
bootstrap.servers=$KAFKA_BOOTSTRAP
group.id=bench-connect-$id
config.storage.topic=bench-connect-$id-configs
offset.storage.topic=bench-connect-$id-offsets
status.storage.topic=bench-connect-$id-status
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=1
status.storage.partitions=1
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=false
value.converter.schemas.enable=false
plugin.path=$DEBEZIUM_PLUGINS
plugin.discovery=service_load
listeners=http://127.0.0.1:$port
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
exactly.once.source.support=$eos
connector.client.config.override.policy=All
${BENCH_CONNECT_WORKER_CONFIG:-}
EOF
    # The JVM flags of Kafka's own connect-distributed.sh, with a fixed heap.
    # shellcheck disable=SC2086  # intentional word splitting of JVM flags
    connect_worker_start "$dir" "$port" PostgresConnector $CONNECT_HEAP -server -XX:+UseG1GC \
        -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -XX:MaxInlineLevel=15
}

connect_stop() { connect_worker_stop "$@"; }

# debezium_deploy NAME SLOT PREFIX MODE [PUBLICATION]: Debezium's PostgreSQL
# connector on the running worker, streaming an existing slot (no snapshot;
# BENCH_DBZ_SNAPSHOT_MODE, e.g. initial_only, chooses another snapshot.mode,
# with a slot Debezium creates itself) of the publication (default "bench") with pgoutput, JSON without schemas
# and numerics as strings (what sluice writes), exactly.once.support=
# required when MODE is eos. Everything else is Debezium's default, unless
# BENCH_DBZ_CONFIG adds JSON members, e.g.
#   BENCH_DBZ_CONFIG='"max.batch.size": "4096", "max.queue.size": "16384", "producer.override.linger.ms": "5"'
# (the worker allows producer.override.*; BENCH_CONNECT_WORKER_CONFIG adds
# lines to the worker's properties).
debezium_deploy() {
    local name="$1" slot="$2" prefix="$3" mode="$4" publication="${5:-bench}" eos=""
    [ "$mode" = eos ] && eos='"exactly.once.support": "required",'
    local code
    code="$(curl -s -o "$W/$name.deploy" -w '%{http_code}' -X PUT -H 'Content-Type: application/json' \
        "$CONNECT_URL/connectors/$name/config" --data-binary @- <<EOF

{
  "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
  "tasks.max": "1",
  $eos
  "plugin.name": "pgoutput",
  "database.hostname": "$PGHOST_TEST",
  "database.port": "$PGPORT_TEST",
  "database.user": "postgres",
  "database.password": "postgres",
  "database.dbname": "sluice_test",
  "topic.prefix": "$prefix",
  "slot.name": "$slot",
  "publication.name": "$publication",
  "publication.autocreate.mode": "disabled",
  "snapshot.mode": "${BENCH_DBZ_SNAPSHOT_MODE:-no_data}",
  "decimal.handling.mode": "string",
  "key.converter": "org.apache.kafka.connect.json.JsonConverter",
  "value.converter": "org.apache.kafka.connect.json.JsonConverter",
  "key.converter.schemas.enable": "false",
  ${BENCH_DBZ_CONFIG:+$BENCH_DBZ_CONFIG,}
  "value.converter.schemas.enable": "false"
}
EOF
)"
    case "$code" in
    2??) return 0 ;;
    *) log "deploying $name failed (HTTP $code): $(cat "$W/$name.deploy")"; return 1 ;;
    esac
}

# debezium_delete NAME: removes a connector from the running worker.
debezium_delete() {
    curl -sf -X DELETE "$CONNECT_URL/connectors/$1" >/dev/null
}

# debezium_warm_up MODE CHANGES: on the running worker, a connector that
# streams CHANGES live inserts into dbz_warm (publication bench_warm, its
# own slot) until a consumer has seen them all, then is removed: the JVM's
# code is compiled before the measured drain, as it would be in a worker
# that has been running for a while. Needs the dbz_warm table.
debezium_warm_up() {
    local mode="$1" n="$2" id="w$((++_DBZ_WARM_SEQ))" rc=0
    pg_psql -Atc "SELECT pg_create_logical_replication_slot('dbz_warm_$id', 'pgoutput')" >/dev/null
    kcount_start "dbzwarm$id" "$n" "$W/dbz_warm_$id.count"
    local kc=$KCOUNT_PID
    if ! debezium_deploy "dbz_warm_$id" "dbz_warm_$id" "dbzwarm$id" "$mode" bench_warm ||
        ! debezium_wait_streaming "$CONNECT_PID" 120; then
        kill "$kc"
        return 1
    fi
    pg_psql >/dev/null <<EOF
DO \$\$ BEGIN
  FOR b IN 1..$(((n + 9) / 10)) LOOP
    INSERT INTO dbz_warm (v) SELECT 'warm-up ' || g FROM generate_series(1, 10) g;
    COMMIT;
  END LOOP;
END \$\$;
EOF
    wait "$kc" || { rc=1; log "Debezium warm-up: $(cat "$W/dbz_warm_$id.count" "$W/dbz_warm_$id.count.err")"; }
    debezium_delete "dbz_warm_$id"
    drop_slot "dbz_warm_$id"
    # The measured connector logs its own "Processing messages" line.
    cp "$CONNECT_LOG" "$CONNECT_LOG.warm" && : >"$CONNECT_LOG"
    return $rc
}
_DBZ_WARM_SEQ=0

# debezium_wait_streaming PID TIMEOUT_S: until the connector's log says it
# streams (the moment timing starts, as sluice's "streaming from"): its
# streaming source logs "Processing messages" once START_REPLICATION is
# under way, after "Starting streaming" and the slot checks.
DEBEZIUM_STREAMING_LINE="Processing messages"
debezium_wait_streaming() {
    local pid="$1" timeout="${2:-120}" t
    for ((t = 0; t < timeout * 50; t++)); do
        grep -q "$DEBEZIUM_STREAMING_LINE" "$CONNECT_LOG" 2>/dev/null && return 0
        _env_pid_alive "$pid" || { log "Kafka Connect died: $(tail -5 "$CONNECT_LOG")"; return 1; }
        sleep 0.02
    done
    log "Debezium did not start streaming within ${timeout}s: $(grep -E ' (ERROR|WARN) ' "$CONNECT_LOG" | tail -5)"
    return 1
}
