#!/usr/bin/env bash
# Drain and latency benchmark (issue 7): the same backlog through
# PostgreSQL's own decoder (pg_recvlogical to /dev/null: the ceiling), sluice
# into Kafka (exactly-once; JSON and Protobuf output) and Debezium's
# PostgreSQL connector on Kafka Connect (distributed mode, exactly-once
# source support, and separately at-least-once), side by side in one
# session on one machine; then commit-to-visible latency at a steady rate.
#
#   tests/bench/run.sh            (make bench)
#   BENCH_RUNS=1 BENCH_PGBENCH_TXNS=2000 BENCH_ROWS=50000 BENCH_W3_ROWS=2000 \
#     BENCH_W4_TXNS=2000 BENCH_LAT_SECONDS=10 tests/bench/run.sh      (quick look)
#
# Workloads (each drained as a backlog):
#   W1  pgbench (TPC-B-like: 3 updates + 1 insert per transaction),
#       BENCH_PGBENCH_TXNS transactions (default 20,000) from 4 clients.
#   W2  one BENCH_ROWS-row INSERT in a single transaction (default 1,000,000).
#   W3  wide rows (12 columns) with two TOASTed values (~4 KB text, ~3 KB
#       jsonb, stored out of line): BENCH_W3_ROWS inserts in transactions of
#       100 rows, then every row updated once in transactions of 10 rows,
#       leaving the TOASTed values unchanged (pgoutput sends them as
#       "unchanged", Debezium and sluice write a placeholder). Default
#       50,000 rows: 100,000 changes.
#   W4  BENCH_W4_TXNS small transactions (default 20,000) from 4 pgbench
#       clients over BENCH_W4_KEYS hot keys (default 1,000): update two
#       keys, delete one and insert it again (4 changes per transaction;
#       each client owns a quarter of the keys, so the count is exact).
#
# Systems (BENCH_SYSTEMS, default all): recv (pg_recvlogical, proto 1, the
# same publication, -s 1, ends at --endpos), json and proto (sluice with
# format = json / protobuf), dbz_eos (Debezium on a Connect worker with
# exactly.once.source.support=enabled, connector exactly.once.support=
# required) and dbz_alo (the same with exactly-once support disabled: plain
# at-least-once). Debezium runs with plugin.name=pgoutput, JSON without
# schemas, decimal.handling.mode=string, otherwise its defaults; the worker
# has a fixed heap (BENCH_CONNECT_HEAP, default -Xms1g -Xmx1g). Jars come
# from Maven Central (tests/bench/install-debezium.sh). Every Debezium drain
# gets a fresh worker (so its peak RSS is that drain's), warmed up first
# with BENCH_DBZ_WARMUP (default 20,000) live changes of another table
# through a connector that is then removed: the JIT has compiled the hot
# code, as in a worker that has been running for a while.
#
# Each run gives every system a fresh slot created before the workload, so
# all drain exactly the same WAL; the order alternates between runs (the
# first reader finds the WAL colder). Timing starts when the system streams
# (sluice: its "streaming from" log line; Debezium: its "Processing
# messages" line, after Connect and the task have started; pg_recvlogical:
# process start) and ends when the last change event is visible to a
# read_committed consumer (tests/tools/kcount; for pg_recvlogical: when it
# exits at --endpos). Every Kafka system is read by the same consumer,
# running while it drains.
#
# Figures per workload and system: changes/s (median of BENCH_RUNS runs,
# default 3, with min-max of the elapsed time), MB/s into Kafka (key + value
# bytes as the consumer receives them, uncompressed), bytes per change, CPU
# seconds per 1,000 changes of the client (sluice, the Connect JVM,
# pg_recvlogical), its walsender and the broker (utime + stime from
# /proc/PID/stat: the client and the broker from streaming start to the
# end, the walsender over its whole life), and the client's peak RSS
# (VmHWM). Ratios: sluice / pg_recvlogical, sluice / Debezium.
#
# Before the first workload, BENCH_WARMUP_TXNS (default 5,000) pgbench
# transactions go through sluice unmeasured: a fresh broker is slow to
# commit its first transactions.
#
# Latency (BENCH_LATENCY=1, default): pgbench -R at a steady rate of
# BENCH_LAT_RATE changes/s (default: half of sluice JSON's median W1 drain
# rate) for BENCH_LAT_WARMUP (5) + BENCH_LAT_SECONDS (30) seconds into
# sluice JSON, Debezium EOS and Debezium at-least-once while running; the
# consumer takes arrival time minus the event's source.ts_ms (the commit
# time) for every event committed after the warm-up: p50 / p99 / max, the
# rate achieved, and the client's steady RSS (VmRSS at the end) and peak.
# BENCH_LAT_RUNS (default BENCH_RUNS) runs each, medians.
#
# Other knobs: BENCH_WORKLOADS (default "W1 W2 W3 W4"), BENCH_LATENCY=0,
# BENCH_SLUICE_CONFIG (extra sluice settings, ";"-separated), BENCH_SLUICE_BIN
# (another sluice binary), BENCH_PERF=FILE
# (perf record -g of every sluice drain into FILE.SLOT),
# BENCH_DRAIN_TIMEOUT (s a drain may take, default 900), BENCH_LAT_GRACE (s
# to wait for late events after the load, default 120), BENCH_DBZ_CONFIG
# (extra JSON members for the Debezium connector, e.g.
# '"max.batch.size": "4096", "max.queue.size": "16384", "producer.override.linger.ms": "5"'),
# BENCH_CONNECT_WORKER_CONFIG (extra worker property lines),
# SLUICE_KEEP_ENV=1 (keep logs and raw results).
# A/B in one run: the system json_b is sluice JSON built from
# BENCH_B_SLUICE_BIN (default: the same binary) with BENCH_B_SLUICE_CONFIG
# on top of BENCH_SLUICE_CONFIG, e.g. BENCH_SYSTEMS="json json_b"
# BENCH_B_SLUICE_CONFIG="kafka.linger.ms = 5"; the table adds json_b / json.
# The drains write every event into Kafka under the env dir: the default
# sizes need ~15 GB of disk.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../it/lib.sh"

RUNS="${BENCH_RUNS:-3}"
PGBENCH_TXNS="${BENCH_PGBENCH_TXNS:-20000}"
ROWS="${BENCH_ROWS:-1000000}"
W3_ROWS="${BENCH_W3_ROWS:-50000}"
W4_TXNS="${BENCH_W4_TXNS:-20000}"
W4_KEYS="${BENCH_W4_KEYS:-1000}"
WORKLOADS="${BENCH_WORKLOADS:-W1 W2 W3 W4}"
SYSTEMS="${BENCH_SYSTEMS:-recv json proto dbz_eos dbz_alo}"
LATENCY="${BENCH_LATENCY:-1}"
LAT_RUNS="${BENCH_LAT_RUNS:-$RUNS}"
LAT_SECONDS="${BENCH_LAT_SECONDS:-30}"
LAT_WARMUP="${BENCH_LAT_WARMUP:-5}"
LAT_GRACE="${BENCH_LAT_GRACE:-120}"
W3_ROWS=$(((W3_ROWS + 99) / 100 * 100))
# BENCH_SLUICE_CONFIG: extra sluice config lines, separated by ";"
# (e.g. "kafka.compression.type = none; kafka.linger.ms = 1").
IFS=';' read -r -a SLUICE_EXTRA <<<"${BENCH_SLUICE_CONFIG:-}"
IFS=';' read -r -a SLUICE_EXTRA_B <<<"${BENCH_B_SLUICE_CONFIG:-}"
W4_TXNS=$(((W4_TXNS + 3) / 4 * 4))
W4_KEYS=$(((W4_KEYS + 3) / 4 * 4))

harness_build all || exit 1 # sluice and kcount, from a fresh clone too
env_init
env_on_exit reap_sluices
W="$SLUICE_ENV_DIR/bench"
mkdir -p "$W"
. "$HERE/lib.sh"
bench_snapshot_binaries || exit 1
DBZ_WARMUP="${BENCH_DBZ_WARMUP:-20000}"
case " $SYSTEMS " in *" dbz_"*) debezium_install || exit 1 ;; esac
pg_start "wal_sender_timeout=60s" "max_wal_size=4GB" "checkpoint_timeout=30min"
kafka_start
admin_conninfo
BROKER_PID="$(kafka_node_pid 1)"

# ---------------------------------------------------------------------------
# tables and workloads

PGBENCH_CONN="host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=postgres password=postgres"
"$PG_CLIENT_BIN/pgbench" -i -s 10 -q "$PGBENCH_CONN" >/dev/null 2>&1
pg_psql -q <<'EOF'
CREATE TABLE big (id int PRIMARY KEY, v text, n bigint);
CREATE TABLE w3_wide (
    id int PRIMARY KEY, k int NOT NULL, status text NOT NULL, amount numeric(12,2),
    qty int, email text, note varchar(200), tags text[], created_at timestamptz,
    updated_at timestamptz, doc text, attrs jsonb);
ALTER TABLE w3_wide ALTER COLUMN doc SET STORAGE EXTERNAL, ALTER COLUMN attrs SET STORAGE EXTERNAL;
CREATE TABLE w4_hot (id int PRIMARY KEY, v bigint NOT NULL, s text NOT NULL, at timestamptz);
CREATE TABLE dbz_warm (id bigserial PRIMARY KEY, v text);
CREATE PUBLICATION bench_warm FOR TABLE dbz_warm;
-- truncate is not published: TRUNCATE between runs is no change event
CREATE PUBLICATION bench FOR TABLE pgbench_accounts, pgbench_branches, pgbench_tellers,
    pgbench_history, big, w3_wide, w4_hot WITH (publish = 'insert, update, delete');
EOF
cat >"$W/w4.sql" <<EOF
\set a random(0, $((W4_KEYS / 4 - 1)))
\set b random(0, $((W4_KEYS / 4 - 1)))
\set c random(0, $((W4_KEYS / 4 - 1)))
BEGIN;
UPDATE w4_hot SET v = v + 1, at = now() WHERE id = :client_id + 4 * :a;
UPDATE w4_hot SET v = v + 1, at = now() WHERE id = :client_id + 4 * :b;
DELETE FROM w4_hot WHERE id = :client_id + 4 * :c;
INSERT INTO w4_hot VALUES (:client_id + 4 * :c, 0, 'hot key ' || :c, now());
END;
EOF

# Each workload: NAME, change count, prepare (before the slots exist: not in
# the backlog), run (the backlog), label.
prep_none() { :; }
run_W1() { "$PG_CLIENT_BIN/pgbench" -n -c 4 -j 2 -t $((PGBENCH_TXNS / 4)) "$PGBENCH_CONN" >/dev/null 2>&1; }
prep_W2() { pg_psql -c "TRUNCATE big" >/dev/null; }
run_W2() {
    pg_psql -c "INSERT INTO big SELECT g, 'row ' || g || repeat('x', 60), g * 7 FROM generate_series(1, $ROWS) g" >/dev/null
}
prep_W3() { pg_psql -c "TRUNCATE w3_wide" >/dev/null; }
run_W3() {
    pg_psql >/dev/null <<EOF
DO \$\$ BEGIN
  FOR b IN 0..$((W3_ROWS / 100 - 1)) LOOP
    INSERT INTO w3_wide
    SELECT g, g % 97, 'new', (g % 100000) / 100.0, g % 13, 'user' || g || '@example.com',
           'wide row ' || g, ARRAY['a' || g % 7, 'b' || g % 11], now(), now(),
           repeat(md5(g::text), 125),
           jsonb_build_object('id', g, 'blob', repeat(md5((g + 1)::text), 90))
    FROM generate_series(b * 100 + 1, b * 100 + 100) g;
    COMMIT;
  END LOOP;
  FOR b IN 0..$((W3_ROWS / 10 - 1)) LOOP
    UPDATE w3_wide SET k = k + 1, status = 'updated', updated_at = clock_timestamp()
    WHERE id BETWEEN b * 10 + 1 AND b * 10 + 10;
    COMMIT;
  END LOOP;
END \$\$;
EOF
}
prep_W4() {
    pg_psql -c "TRUNCATE w4_hot" \
        -c "INSERT INTO w4_hot SELECT g, 0, 'hot key ' || g / 4, now() FROM generate_series(0, $((W4_KEYS - 1))) g" >/dev/null
}
run_W4() { "$PG_CLIENT_BIN/pgbench" -n -c 4 -j 2 -t $((W4_TXNS / 4)) -f "$W/w4.sql" "$PGBENCH_CONN" >/dev/null 2>&1; }

changes_of() {
    case "$1" in
    W1) echo $((PGBENCH_TXNS * 4)) ;;
    W2) echo "$ROWS" ;;
    W3) echo $((W3_ROWS * 2)) ;;
    W4) echo $((W4_TXNS * 4)) ;;
    esac
}
label_of() {
    case "$1" in
    W1) echo "W1 pgbench backlog, $PGBENCH_TXNS txns" ;;
    W2) echo "W2 one $ROWS-row transaction" ;;
    W3) echo "W3 $W3_ROWS wide TOASTed rows, inserted then updated" ;;
    W4) echo "W4 $W4_TXNS update/delete txns on $W4_KEYS hot keys" ;;
    esac
}
# The topics of a workload's tables (and of logical decoding messages), created
# before every drain into Kafka.
topics_of() {
    case "$1" in
    W1) echo "public.pgbench_accounts,public.pgbench_branches,public.pgbench_tellers,public.pgbench_history,message" ;;
    W2) echo "public.big,message" ;;
    W3) echo "public.w3_wide,message" ;;
    W4) echo "public.w4_hot,message" ;;
    esac
}
create_topics() {
    "$KCOUNT" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$1" --create "$2" --partitions 3
}
prep_of() { case "$1" in W1) echo prep_none ;; *) echo "prep_$1" ;; esac; }
sys_label() {
    case "$1" in
    recv) echo "pg_recvlogical" ;;
    json) echo "sluice JSON" ;;
    json_b) echo "sluice JSON (B)" ;;
    proto) echo "sluice Protobuf" ;;
    dbz_eos) echo "Debezium EOS" ;;
    dbz_alo) echo "Debezium at-least-once" ;;
    esac
}

# ---------------------------------------------------------------------------
# one drain per system; each sets D_MS D_RECORDS D_BYTES D_CPU D_WAL
# D_BROKER D_HWM ("-" where a figure does not apply)

# drain_recv SLOT ENDPOS
drain_recv() {
    local slot="$1" endpos="$2" t0 pid wpid="" c end="$W/$1.end"
    rm -f "$end"
    t0=$(now_ms)
    rm -f "$end.pid"
    (
        "$PG_CLIENT_BIN/pg_recvlogical" -d "$PG_ADMIN_CONNINFO" --slot "$slot" --start -E "$endpos" -s 1 \
            -o proto_version=1 -o publication_names=bench -o messages=true -f /dev/null --no-loop &
        echo $! >"$end.pid"
        wait $!
        rc=$?
        now_ms >"$end"
        # pg_recvlogical's own CPU time: this subshell's children ("times"
        # in a pipeline would run in a forked shell that has none).
        times >"$end.times"
        awk -v hz="$CLK_TCK" 'NR == 2 { gsub(/[ms]/, " "); print int(($1 * 60 + $2 + $3 * 60 + $4) * hz + 0.5) }' \
            "$end.times" >"$end.cpu"
        exit $rc
    ) &
    pid=$!
    D_WAL=0
    D_HWM=0
    # The walsender's CPU and pg_recvlogical's peak RSS, sampled (without
    # forks, once both are found) until it exits. The walsender is the
    # postmaster's newest child (every other client has stopped by now).
    local rpid="" v pm deadline=$((SECONDS + ${BENCH_DRAIN_TIMEOUT:-900}))
    pm="$(head -1 "$PG_DATA/postmaster.pid")"
    # Sampling every 20 ms until pg_recvlogical has ended (the pace of the samples).
    while [ ! -f "$end" ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            log "pg_recvlogical did not reach $endpos within ${BENCH_DRAIN_TIMEOUT:-900} s"
            kill "$(cat "$end.pid")" 2>/dev/null
            wait "$pid"
            return 1
        fi
        [ -n "$wpid" ] || wpid="$(pgrep -n -P "$pm" -f '^postgres: walsender')"
        [ -n "$rpid" ] || read -r rpid 2>/dev/null <"$end.pid"
        if [ -n "$wpid" ]; then
            ticks_into v "$wpid"
            [ "$v" -gt 0 ] && D_WAL=$v
        fi
        if [ -n "$rpid" ]; then
            hwm_into v "$rpid"
            [ "$v" -gt "$D_HWM" ] && D_HWM=$v
        fi
        sleep 0.02
    done
    wait "$pid" || { log "pg_recvlogical failed"; return 1; }
    D_MS=$(($(cat "$end") - t0))
    D_CPU="$(cat "$end.cpu")"
    D_RECORDS="-"
    D_BYTES="-"
    D_BROKER="-"
}

# drain_figures COUNT_FILE T0_MS: D_MS, D_RECORDS and D_BYTES from the counter's line.
drain_figures() {
    D_MS=$(($(kcount_field "$1" done_ms) - $2))
    D_RECORDS="$(kcount_field "$1" records)"
    D_BYTES=$(($(kcount_field "$1" key_bytes) + $(kcount_field "$1" value_bytes)))
}

# drain_sluice SLOT ENDPOS PREFIX FORMAT CHANGES TOPICS [B]: B = the json_b
# variant (its binary and extra settings).
drain_sluice() {
    local slot="$1" prefix="$3" cfg="$W/$1.conf" logf="$W/$1.log" count="$W/$1.count" extra=()
    create_topics "$prefix" "$6" || return 1
    [ "${7:-}" = B ] && extra=("${SLUICE_EXTRA_B[@]}")
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = bench" "postgres.status_interval_ms = 10000" \
        "format = $4" "${SLUICE_EXTRA[@]}" "${extra[@]}"
    kcount_start "$prefix" "$5" "$count"
    local kc=$KCOUNT_PID
    : >"$logf"
    if [ "${7:-}" = B ]; then SLUICE="$SLUICE_B" sluice_start "$cfg" "$logf"; else sluice_start "$cfg" "$logf"; fi
    local pid=$SLUICE_PID t0="" c0 b0 rc=0 deadline=$((SECONDS + 120))
    # Timing starts at "streaming from": polled every 20 ms (wait_for's 100 ms
    # would blur the figure), for 120 s at most.
    while [ -z "$t0" ]; do
        grep -q "streaming from" "$logf" && t0=$(now_ms)
        kill -0 "$pid" 2>/dev/null || { log "sluice died: $(tail -3 "$logf")"; kill "$kc"; return 1; }
        [ "$SECONDS" -lt "$deadline" ] || { log "sluice did not stream within 120 s"; kill "$kc"; return 1; }
        sleep 0.02
    done
    c0="$(cpu_ticks "$pid")"
    b0="$(cpu_ticks "$BROKER_PID")"
    local perf=""
    if [ -n "${BENCH_PERF:-}" ]; then
        perf record -F 999 --call-graph "${BENCH_PERF_CALLGRAPH:-fp}" -o "$BENCH_PERF.$1" -p "$pid" >/dev/null 2>&1 &
        perf=$!
    fi
    wait "$kc" || rc=$?
    [ -z "$perf" ] || { kill -INT "$perf"; wait "$perf"; }
    D_CPU=$(($(cpu_ticks "$pid") - c0))
    D_BROKER=$(($(cpu_ticks "$BROKER_PID") - b0))
    D_WAL="$(cpu_ticks "$(walsender_pid "$slot")")"
    D_HWM="$(peak_rss_kb "$pid")"
    sluice_stop "$pid" >/dev/null || true
    if [ "$rc" -ne 0 ]; then
        log "sluice ($4): not all $5 changes visible: $(cat "$count" "$count.err")"
        return 1
    fi
    drain_figures "$count" "$t0"
}

# drain_debezium SLOT ENDPOS PREFIX MODE CHANGES TOPICS: a fresh worker per
# drain (its peak RSS is this drain's), stopped afterwards.
drain_debezium() {
    local slot="$1" prefix="$3" mode="$4" count="$W/$1.count" t0 c0 b0 rc=0 wpid
    create_topics "$prefix" "$6" || return 1
    connect_start "$slot" "$mode" || return 1
    if [ "$DBZ_WARMUP" -gt 0 ]; then
        debezium_warm_up "$mode" "$DBZ_WARMUP" || { connect_stop "$CONNECT_PID"; return 1; }
    fi
    kcount_start "$prefix" "$5" "$count"
    local kc=$KCOUNT_PID
    debezium_deploy "$slot" "$slot" "$prefix" "$mode" &&
        debezium_wait_streaming "$CONNECT_PID" 120 || { kill "$kc"; connect_stop "$CONNECT_PID"; return 1; }
    t0=$(now_ms)
    c0="$(cpu_ticks "$CONNECT_PID")"
    b0="$(cpu_ticks "$BROKER_PID")"
    wait "$kc" || rc=$?
    D_CPU=$(($(cpu_ticks "$CONNECT_PID") - c0))
    D_BROKER=$(($(cpu_ticks "$BROKER_PID") - b0))
    wpid="$(walsender_pid "$slot")"
    D_WAL="$(cpu_ticks "${wpid:-0}")"
    D_HWM="$(peak_rss_kb "$CONNECT_PID")"
    connect_stop "$CONNECT_PID"
    if [ "$rc" -ne 0 ]; then
        log "Debezium ($mode): not all $5 changes visible: $(cat "$count" "$count.err")"
        return 1
    fi
    drain_figures "$count" "$t0"
}

RESULTS="$W/results.txt"
: >"$RESULTS"

# bench_workload NAME: RUNS runs, every system of SYSTEMS once per run.
# Appends "NAME SYSTEM RUN ms records bytes cpu wal broker hwm_kb" lines
# (CPU in clock ticks; a failed drain has ms "-") and "NAME wal_bytes N".
bench_workload() {
    local name="$1" changes topics r s slot endpos start order=() i
    changes="$(changes_of "$name")"
    topics="$(topics_of "$name")"
    for ((r = 1; r <= RUNS; r++)); do
        "$(prep_of "$name")"
        for s in $SYSTEMS; do
            pg_psql -Atc "SELECT pg_create_logical_replication_slot('b_${name,,}_${s}_$r', 'pgoutput')" >/dev/null
        done
        start="$(pg_psql -Atc "SELECT pg_current_wal_lsn()")"
        "run_$name"
        # endpos just past a barrier message; a second barrier after it makes
        # pg_recvlogical see a record beyond endpos and exit at once (instead
        # of waiting for a keepalive).
        endpos="$(sync_barrier)"
        endpos="$(pg_psql -Atc "SELECT '$endpos'::pg_lsn + 1")"
        sync_barrier >/dev/null
        [ "$r" = 1 ] && echo "$name wal_bytes $(pg_psql -Atc "SELECT pg_wal_lsn_diff('$endpos', '$start')")" >>"$RESULTS"
        # Alternate who drains first: the first reader finds the WAL colder.
        # shellcheck disable=SC2206
        order=($SYSTEMS)
        if [ $((r % 2)) -eq 0 ]; then
            for ((i = ${#order[@]} - 1; i >= 0; i--)); do echo "${order[$i]}"; done >"$W/order"
            mapfile -t order <"$W/order"
        fi
        local summary=""
        for s in "${order[@]}"; do
            slot="b_${name,,}_${s}_$r"
            local ok=0
            case "$s" in
            recv) drain_recv "$slot" "$endpos" || ok=1 ;;
            json) drain_sluice "$slot" "$endpos" "b$name$s$r" json "$changes" "$topics" || ok=1 ;;
            json_b) drain_sluice "$slot" "$endpos" "b$name$s$r" json "$changes" "$topics" B || ok=1 ;;
            proto) drain_sluice "$slot" "$endpos" "b$name$s$r" protobuf "$changes" "$topics" || ok=1 ;;
            dbz_eos) drain_debezium "$slot" "$endpos" "b$name$s$r" eos "$changes" "$topics" || ok=1 ;;
            dbz_alo) drain_debezium "$slot" "$endpos" "b$name$s$r" alo "$changes" "$topics" || ok=1 ;;
            esac
            if [ "$ok" -ne 0 ]; then
                echo "$name $s $r - - - - - - -" >>"$RESULTS"
                summary="$summary, $(sys_label "$s") FAILED"
            else
                echo "$name $s $r $D_MS $D_RECORDS $D_BYTES $D_CPU $D_WAL $D_BROKER $D_HWM" >>"$RESULTS"
                summary="$summary, $(sys_label "$s") $D_MS ms ($((changes * 1000 / (D_MS > 0 ? D_MS : 1))) changes/s)"
            fi
            drop_slot "$slot"
        done
        log "$name run $r:${summary#,}"
    done
}

# Warm-up, not measured: a fresh broker (and its JIT) needs some traffic
# before its first transactions are as fast as later ones.
warm_up() {
    local s slot
    for s in json proto; do
        slot="warm_$s"
        pg_psql -Atc "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput', false)" >/dev/null
    done
    "$PG_CLIENT_BIN/pgbench" -n -c 4 -j 2 -t $((BENCH_WARMUP_TXNS / 4)) "$PGBENCH_CONN" >/dev/null 2>&1
    drain_sluice warm_json "" warmjson json $((BENCH_WARMUP_TXNS / 4 * 16)) "$(topics_of W1)" &&
        drain_sluice warm_proto "" warmproto protobuf $((BENCH_WARMUP_TXNS / 4 * 16)) "$(topics_of W1)" ||
        log "warm-up failed (going on)"
    for s in json proto; do drop_slot "warm_$s"; done
}
BENCH_WARMUP_TXNS="${BENCH_WARMUP_TXNS:-5000}"
if [ "$BENCH_WARMUP_TXNS" -gt 0 ]; then
    log "warm-up: $BENCH_WARMUP_TXNS pgbench transactions through sluice (JSON, Protobuf), not measured"
    warm_up
fi

for w in $WORKLOADS; do
    log "$(label_of "$w") ($(changes_of "$w") changes), $RUNS runs, systems: $SYSTEMS"
    bench_workload "$w"
done

# ---------------------------------------------------------------------------
# latency at a steady rate

# field W SYS COLUMN: the values of one column (4 = ms ... 10 = hwm) of the
# successful runs.
field() { awk -v w="$1" -v s="$2" -v c="$3" '$1 == w && $2 == s && $4 != "-" { print $c }' "$RESULTS"; }

# lat_run SYS RATE RUN: appends "L SYS RUN events p50 p99 max rss_kb hwm_kb".
lat_run() {
    local s="$1" rate="$2" r="$3" slot="l_$1_$3" prefix="l$1$3" out="$W/l_$1_$3.lat" pid t_since t_until
    pg_psql -Atc "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
    create_topics "$prefix" "$(topics_of W1)" || return 1
    case "$s" in
    json | json_b)
        local logf="$W/$slot.log" extra=()
        [ "$s" = json_b ] && extra=("${SLUICE_EXTRA_B[@]}")
        sluice_config "$W/$slot.conf" "$slot" "$prefix" "postgres.publication = bench" "format = json" \
            "${SLUICE_EXTRA[@]}" "${extra[@]}"
        : >"$logf"
        if [ "$s" = json_b ]; then SLUICE="$SLUICE_B" sluice_start "$W/$slot.conf" "$logf"; else sluice_start "$W/$slot.conf" "$logf"; fi
        pid=$SLUICE_PID
        wait_log "$logf" "streaming from" 120 "$pid" || return 1
        ;;
    dbz_eos | dbz_alo)
        connect_start "$slot" "${s#dbz_}" || return 1
        pid=$CONNECT_PID
        if [ "$DBZ_WARMUP" -gt 0 ]; then
            debezium_warm_up "${s#dbz_}" "$DBZ_WARMUP" || { connect_stop "$pid"; return 1; }
        fi
        debezium_deploy "$slot" "$slot" "$prefix" "${s#dbz_}" && debezium_wait_streaming "$pid" 120 ||
            { connect_stop "$pid"; return 1; }
        ;;
    esac
    t_since=$(($(now_ms) + LAT_WARMUP * 1000))
    t_until=$((t_since + LAT_SECONDS * 1000))
    "$KCOUNT" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$prefix" --latency --since-ms "$t_since" \
        --until-ms "$t_until" --run-ms $(((LAT_WARMUP + LAT_SECONDS + LAT_GRACE) * 1000)) \
        --progress "$out.progress" >"$out" 2>"$out.err" &
    local kc=$!
    "$PG_CLIENT_BIN/pgbench" -n -c 4 -j 2 -R $(((rate + 3) / 4)) -T $((LAT_WARMUP + LAT_SECONDS)) "$PGBENCH_CONN" \
        >"$W/$slot.pgbench" 2>&1
    local rss hwm expected got=0 last=-1 stable=0
    rss="$(rss_kb "$pid")"
    hwm="$(peak_rss_kb "$pid")"
    # The events committed in the window: 4 per pgbench transaction whose
    # history row (mtime = transaction start) falls in it. Wait until they
    # have all arrived (or 99% and nothing more for 3 s: a transaction
    # started just before the window may commit inside it), at most
    # BENCH_LAT_GRACE seconds: a system that fell behind is still measured.
    expected="$(pg_psql -Atc "SELECT 4 * count(*) FROM pgbench_history WHERE mtime >= to_timestamp($t_since / 1000.0)::timestamp AND mtime < to_timestamp($t_until / 1000.0)::timestamp")"
    while kill -0 "$kc" 2>/dev/null; do
        read -r got 2>/dev/null <"$out.progress" || got=0
        [ "$got" -ge "$expected" ] && break
        if [ "$got" = "$last" ]; then stable=$((stable + 1)); else stable=0; last=$got; fi
        [ $((got * 100)) -ge $((expected * 99)) ] && [ "$stable" -ge 15 ] && break
        sleep 0.2
    done
    kill -TERM "$kc" 2>/dev/null
    wait "$kc"
    case "$s" in json*) sluice_stop "$pid" >/dev/null || true ;; *) connect_stop "$pid" ;; esac
    drop_slot "$slot"
    echo "L $s $r $(kcount_field "$out" events) $(kcount_field "$out" p50_ms) $(kcount_field "$out" p99_ms) $(kcount_field "$out" max_ms) $rss $hwm $expected" >>"$RESULTS"
    log "latency $(sys_label "$s") run $r: $(cat "$out") of $expected committed in the window, VmRSS $((rss / 1024)) MB"
}

LAT_RATE=""
LAT_SYSTEMS=""
if [ "$LATENCY" = 1 ]; then
    for s in json json_b dbz_eos dbz_alo; do
        case " $SYSTEMS " in *" $s "*) LAT_SYSTEMS="$LAT_SYSTEMS $s" ;; esac
    done
    LAT_RATE="${BENCH_LAT_RATE:-}"
    if [ -z "$LAT_RATE" ]; then
        ms="$(field W1 json 4 | median)"
        if [ "$ms" != "-" ]; then LAT_RATE=$((PGBENCH_TXNS * 4 * 1000 / ms / 2)); else LAT_RATE=2000; fi
    fi
    log "latency: $LAT_RATE changes/s (pgbench -R $(((LAT_RATE + 3) / 4)) txns/s) for ${LAT_WARMUP}+${LAT_SECONDS} s, $LAT_RUNS runs, systems:$LAT_SYSTEMS"
    for ((r = 1; r <= LAT_RUNS; r++)); do
        for s in $LAT_SYSTEMS; do
            lat_run "$s" "$LAT_RATE" "$r" || { echo "L $s $r - - - - - - -" >>"$RESULTS"; log "latency $(sys_label "$s") run $r FAILED"; }
        done
    done
fi

# ---------------------------------------------------------------------------
# the table

# per_k TICKS_MEDIAN CHANGES: CPU seconds per 1,000 changes.
per_k() { awk -v t="$1" -v n="$2" -v hz="$CLK_TCK" 'BEGIN { if (t == "-" || t == "") print "-"; else printf "%.4f", t / hz / n * 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == 0) print "-"; else printf "%.2f", b / a }'; }

echo
echo "sluice drain benchmark: median of $RUNS runs (min-max of the elapsed time)"
for w in $WORKLOADS; do
    n="$(changes_of "$w")"
    wal="$(awk -v w="$w" '$1 == w && $2 == "wal_bytes" { print $3 }' "$RESULTS")"
    printf '\n%s: %d changes, %.1f MB of WAL\n' "$(label_of "$w")" "$n" "$(awk -v b="${wal:-0}" 'BEGIN { print b / 1e6 }')"
    printf '  %-24s %11s %19s %8s %8s %28s %9s\n' "system" "changes/s" "elapsed ms" "MB/s" "B/change" \
        "CPU s/1k changes: client/wal/broker" "peak RSS"
    declare -A MED=()
    for s in $SYSTEMS; do
        ms="$(field "$w" "$s" 4 | median)"
        MED[$s]="$ms"
        if [ "$ms" = "-" ]; then
            printf '  %-24s %11s\n' "$(sys_label "$s")" "failed"
            continue
        fi
        bytes="$(field "$w" "$s" 6 | median)"
        recs="$(field "$w" "$s" 5 | median)"
        if [ "$bytes" = "-" ]; then mbs="-"; bpc="-"; else
            mbs="$(awk -v b="$bytes" -v ms="$ms" 'BEGIN { printf "%.1f", b / 1e6 / (ms / 1000) }')"
            bpc="$(awk -v b="$bytes" -v r="$recs" 'BEGIN { printf "%.0f", (r > 0 ? b / r : 0) }')"
        fi
        cpu="$(per_k "$(field "$w" "$s" 7 | median)" "$n")/$(per_k "$(field "$w" "$s" 8 | median)" "$n")/$(per_k "$(field "$w" "$s" 9 | median)" "$n")"
        hwm="$(field "$w" "$s" 10 | median)"
        printf '  %-24s %9d/s %8d (%s) %8s %8s %28s %6d MB\n' "$(sys_label "$s")" $((n * 1000 / (ms > 0 ? ms : 1))) \
            "$ms" "$(field "$w" "$s" 4 | minmax)" "$mbs" "$bpc" "$cpu" $((hwm / 1024))
    done
    line=""
    for a in json proto; do
        [ -n "${MED[$a]:-}" ] || continue
        [ -n "${MED[recv]:-}" ] && line="$line, $(sys_label "$a") / pg_recvlogical $(ratio "${MED[$a]}" "${MED[recv]}")"
        [ -n "${MED[dbz_eos]:-}" ] && line="$line, $(sys_label "$a") / Debezium EOS $(ratio "${MED[$a]}" "${MED[dbz_eos]}")"
        [ -n "${MED[dbz_alo]:-}" ] && line="$line, $(sys_label "$a") / Debezium ALO $(ratio "${MED[$a]}" "${MED[dbz_alo]}")"
    done
    [ -n "${MED[json_b]:-}" ] && [ -n "${MED[json]:-}" ] &&
        line="$line, $(sys_label json_b) / $(sys_label json) $(ratio "${MED[json_b]}" "${MED[json]}")"
    [ -n "$line" ] && echo "  ratios of changes/s:${line#,}"
    unset MED
done

if [ -n "$LAT_SYSTEMS" ]; then
    printf '\nCommit-to-visible latency at %d changes/s offered (W1 pgbench -R, %d s after %d s warm-up), median of %d runs\n' \
        "$LAT_RATE" "$LAT_SECONDS" "$LAT_WARMUP" "$LAT_RUNS"
    printf '  %-24s %12s %10s %16s %16s %9s %11s %9s\n' "system" "committed/s" "delivered" "p50 ms" "p99 ms" "max ms" \
        "steady RSS" "peak RSS"
    for s in $LAT_SYSTEMS; do
        ev="$(field L "$s" 4 | median)"
        if [ "$ev" = "-" ]; then printf '  %-24s %12s\n' "$(sys_label "$s")" "failed"; continue; fi
        exp="$(field L "$s" 10 | median)"
        printf '  %-24s %10d/s %9s%% %16s %16s %9s %8d MB %6d MB\n' "$(sys_label "$s")" $((exp / LAT_SECONDS)) \
            "$(awk -v a="$ev" -v b="$exp" 'BEGIN { printf "%.1f", (b > 0 ? 100 * a / b : 0) }')" \
            "$(field L "$s" 5 | median) ($(field L "$s" 5 | minmax))" "$(field L "$s" 6 | median) ($(field L "$s" 6 | minmax))" \
            "$(field L "$s" 7 | median)" $(($(field L "$s" 8 | median) / 1024)) $(($(field L "$s" 9 | median) / 1024))
    done
fi

echo
echo "changes/s: changes / elapsed (streaming start to the last change event visible to a read_committed consumer; pg_recvlogical: to its exit at --endpos)"
echo "MB/s, B/change: key + value bytes as the consumer receives them (uncompressed); CPU: utime + stime per 1,000 changes"
echo "  (client: sluice / the Connect JVM / pg_recvlogical from streaming start; wal: its walsender, whole life; broker: from streaming start)"
[ -n "$LAT_SYSTEMS" ] && echo "latency: arrival at a read_committed consumer minus source.ts_ms (commit time); committed/s: what PostgreSQL took in the window; delivered: events of the window that arrived (waited for up to ${LAT_GRACE} s after the load)"
echo "peak RSS: VmHWM of the client process (Connect: heap $CONNECT_HEAP); ratios > 1: the first is faster"
case " $SYSTEMS " in *" dbz_"*) echo "Debezium: a fresh Connect worker per drain, warmed up with $DBZ_WARMUP live changes first; topics created before every drain${BENCH_DBZ_CONFIG:+; connector extras: $BENCH_DBZ_CONFIG}" ;; esac
echo "machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
# The librdkafka each sluice runs with (its --version), B's only when it differs.
bench_rdkafka_versions() {
    local a b
    a="$("$SLUICE" --version 2>/dev/null | sed -n 's/.*(librdkafka \(.*\))$/\1/p')"
    b="$("$SLUICE_B" --version 2>/dev/null | sed -n 's/.*(librdkafka \(.*\))$/\1/p')"
    printf '%s' "${a:-unknown}"
    [ "$b" = "$a" ] || printf ' (B: %s)' "${b:-unknown}"
}
echo "versions: PostgreSQL $(pg_psql -Atc 'SHOW server_version'), Kafka $(basename "$(dirname "$KAFKA_LIBS")" | sed 's/kafka-//') (1 broker, KRaft), librdkafka $(bench_rdkafka_versions), $(java -version 2>&1 | head -1)${DEBEZIUM_VERSION:+, Debezium $DEBEZIUM_VERSION on Kafka Connect (distributed)}"
echo "raw results: $RESULTS (kept with SLUICE_KEEP_ENV=1)"
