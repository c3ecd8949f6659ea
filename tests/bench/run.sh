#!/usr/bin/env bash
# Drain benchmark: the same backlog through sluice into Kafka (exactly-once,
# JSON and Protobuf output) and through pg_recvlogical to /dev/null
# (PostgreSQL's own decode ceiling, same pgoutput options), side by side in
# one session.
#
#   tests/bench/run.sh            (make bench)
#   BENCH_RUNS=3 BENCH_PGBENCH_TXNS=20000 BENCH_ROWS=1000000 tests/bench/run.sh
#
# W1: a pgbench backlog (TPC-B-like: 3 updates + 1 insert per transaction).
# W2: one 1,000,000-row INSERT in a single transaction.
# pg_recvlogical runs with -s 1 (status every second) and ends at --endpos.
# For each run every consumer (pg_recvlogical, sluice with format = json,
# sluice with format = protobuf) gets a fresh slot created before the workload,
# so all drain exactly the same WAL. Timing starts when the consumer starts
# streaming (sluice: its "streaming from" log line; pg_recvlogical: process
# start) and ends when the slot's confirmed_flush_lsn reaches the end of the
# workload (sluice confirms only after the Kafka commit) or pg_recvlogical
# exits at --endpos. Prints medians with min-max and the ratio, and for each
# format the bytes per change a consumer receives (key + value, uncompressed,
# counted by tests/tools/topicbytes over the run's topics).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../it/lib.sh"

RUNS="${BENCH_RUNS:-3}"
PGBENCH_TXNS="${BENCH_PGBENCH_TXNS:-20000}"
ROWS="${BENCH_ROWS:-1000000}"

env_init
W="$SLUICE_ENV_DIR/bench"
mkdir -p "$W"
pg_start "wal_sender_timeout=60s" "max_wal_size=4GB" "checkpoint_timeout=30min"
kafka_start
admin_conninfo

now_ms() { date +%s%3N; }

# time_recvlogical SLOT ENDPOS: prints elapsed ms.
time_recvlogical() {
    local t0 t1
    t0=$(now_ms)
    "$PG_BIN/pg_recvlogical" -d "$PG_ADMIN_CONNINFO" --slot "$1" --start -E "$2" -s 1 \
        -o proto_version=1 -o publication_names=bench -o messages=true -f /dev/null --no-loop ||
        { log "pg_recvlogical failed"; return 1; }
    t1=$(now_ms)
    echo $((t1 - t0))
}

# time_sluice SLOT ENDPOS PREFIX FORMAT: prints elapsed ms and sets SLUICE_RSS_KB.
time_sluice() {
    local slot="$1" endpos="$2" prefix="$3" cfg="$W/$1.conf" logf="$W/$1.log"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = bench" "postgres.status_interval_ms = 10000" \
        "format = $4"
    : >"$logf"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID t0="" t1
    while [ -z "$t0" ]; do
        grep -q "streaming from" "$logf" && t0=$(now_ms)
        kill -0 "$pid" 2>/dev/null || { log "sluice died: $(tail -3 "$logf")"; return 1; }
        sleep 0.02
    done
    while :; do
        local cur
        cur="$(slot_confirmed "$slot")"
        if [ -n "$cur" ] && [ "$(pg_psql -Atc "SELECT '$cur'::pg_lsn >= '$endpos'::pg_lsn")" = t ]; then
            t1=$(now_ms)
            break
        fi
        sleep 0.05
    done
    SLUICE_RSS_KB="$(peak_rss_kb "$pid")"
    sluice_stop "$pid" >/dev/null || true
    echo $((t1 - t0))
}

# bytes_per_change PREFIX: key + value bytes per change record on the run's topics.
bytes_per_change() {
    "$REPO/build/tools/topicbytes" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$1" |
        awk '{ if ($2 > 0) printf "%.1f", ($4 + $6) / $2; else print 0 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
minmax() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }

RESULTS="$W/results.txt"
: >"$RESULTS"

# bench_workload NAME CHANGES SETUP_FN RUN_FN
bench_workload() {
    local name="$1" changes="$2" run_fn="$3" r
    for ((r = 1; r <= RUNS; r++)); do
        pg_psql -Atc "SELECT pg_create_logical_replication_slot('b_recv_$r', 'pgoutput')" >/dev/null
        pg_psql -Atc "SELECT pg_create_logical_replication_slot('b_sluice_$r', 'pgoutput')" >/dev/null
        pg_psql -Atc "SELECT pg_create_logical_replication_slot('b_proto_$r', 'pgoutput')" >/dev/null
        "$run_fn"
        # endpos just past a barrier message; a second barrier after it makes
        # pg_recvlogical see a record beyond endpos and exit at once (instead of
        # waiting for a keepalive), while sluice is done when its checkpoint
        # passes the first barrier.
        local endpos
        endpos="$(sync_barrier)"
        endpos="$(pg_psql -Atc "SELECT '$endpos'::pg_lsn + 1")"
        sync_barrier >/dev/null
        # Alternate who drains first: the first reader finds the WAL colder.
        local ms_recv ms_sluice ms_proto
        if [ $((r % 2)) -eq 1 ]; then
            ms_recv="$(time_recvlogical "b_recv_$r" "$endpos")" || return 1
            ms_sluice="$(time_sluice "b_sluice_$r" "$endpos" "bench$name$r" json)" || return 1
            ms_proto="$(time_sluice "b_proto_$r" "$endpos" "benchpb$name$r" protobuf)" || return 1
        else
            ms_proto="$(time_sluice "b_proto_$r" "$endpos" "benchpb$name$r" protobuf)" || return 1
            ms_sluice="$(time_sluice "b_sluice_$r" "$endpos" "bench$name$r" json)" || return 1
            ms_recv="$(time_recvlogical "b_recv_$r" "$endpos")" || return 1
        fi
        log "$name run $r: pg_recvlogical ${ms_recv} ms, sluice JSON ${ms_sluice} ms ($((changes * 1000 / ms_sluice)) changes/s), sluice Protobuf ${ms_proto} ms ($((changes * 1000 / ms_proto)) changes/s)"
        echo "$name recv $ms_recv" >>"$RESULTS"
        echo "$name sluice $ms_sluice" >>"$RESULTS"
        echo "$name proto $ms_proto" >>"$RESULTS"
        if [ "$r" = 1 ]; then
            echo "$name sluice_bytes $(bytes_per_change "bench$name$r")" >>"$RESULTS"
            echo "$name proto_bytes $(bytes_per_change "benchpb$name$r")" >>"$RESULTS"
        fi
        pg_psql -Atc "SELECT pg_drop_replication_slot('b_recv_$r'), pg_drop_replication_slot('b_sluice_$r'), pg_drop_replication_slot('b_proto_$r')" >/dev/null
    done
}

# W1: pgbench backlog.
"$PG_BIN/pgbench" -i -s 10 -q "host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=postgres password=postgres" >/dev/null 2>&1
pg_psql -c "CREATE PUBLICATION bench FOR TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history, big"  2>/dev/null ||
    { pg_psql -c "CREATE TABLE big (id int PRIMARY KEY, v text, n bigint)"; pg_psql -c "CREATE PUBLICATION bench FOR TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history, big"; }
run_pgbench() {
    "$PG_BIN/pgbench" -n -c 4 -j 2 -t $((PGBENCH_TXNS / 4)) \
        "host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=postgres password=postgres" >/dev/null 2>&1
}
run_big() {
    pg_psql -c "TRUNCATE big" -c "INSERT INTO big SELECT g, 'row ' || g || repeat('x', 60), g * 7 FROM generate_series(1, $ROWS) g" >/dev/null
}
log "W1: pgbench backlog of $PGBENCH_TXNS transactions ($((PGBENCH_TXNS * 4)) changes), $RUNS runs"
bench_workload W1 $((PGBENCH_TXNS * 4)) run_pgbench
log "W2: one $ROWS-row INSERT, $RUNS runs"
bench_workload W2 "$ROWS" run_big

printf '\n%-34s %10s %16s %18s %18s %7s %7s\n' "workload" "changes" "pg_recvlogical" "sluice JSON (EOS)" \
    "sluice Protobuf" "JSON" "Proto"
for w in W1 W2; do
    if [ "$w" = W1 ]; then n=$((PGBENCH_TXNS * 4)); label="W1 pgbench backlog ($PGBENCH_TXNS txns)"; else n=$ROWS; label="W2 one $ROWS-row transaction"; fi
    rm=$(awk -v w=$w '$1 == w && $2 == "recv" { print $3 }' "$RESULTS" | median)
    sm=$(awk -v w=$w '$1 == w && $2 == "sluice" { print $3 }' "$RESULTS" | median)
    pm=$(awk -v w=$w '$1 == w && $2 == "proto" { print $3 }' "$RESULTS" | median)
    rr=$(awk -v w=$w '$1 == w && $2 == "recv" { print $3 }' "$RESULTS" | minmax)
    sr=$(awk -v w=$w '$1 == w && $2 == "sluice" { print $3 }' "$RESULTS" | minmax)
    pr=$(awk -v w=$w '$1 == w && $2 == "proto" { print $3 }' "$RESULTS" | minmax)
    sb=$(awk -v w=$w '$1 == w && $2 == "sluice_bytes" { print $3 }' "$RESULTS")
    pb=$(awk -v w=$w '$1 == w && $2 == "proto_bytes" { print $3 }' "$RESULTS")
    printf '%-34s %10d %14d/s %16d/s %16d/s %7.2f %7.2f\n' "$label" "$n" $((n * 1000 / rm)) \
        $((n * 1000 / sm)) $((n * 1000 / pm)) \
        "$(awk -v a="$rm" -v b="$sm" 'BEGIN { print a / b }')" "$(awk -v a="$rm" -v b="$pm" 'BEGIN { print a / b }')"
    printf '%-34s %10s %13s ms %15s ms %15s ms\n' "   (elapsed min-max)" "" "$rr" "$sr" "$pr"
    printf '%-34s %10s %16s %16s B %16s B\n' "   (bytes per change, key + value)" "" "" "$sb" "$pb"
done
echo
echo "median of $RUNS runs each; JSON, Proto = sluice changes/s / pg_recvlogical changes/s"
echo "bytes per change: key + value as a consumer receives them (uncompressed; Kafka stores them lz4-compressed), run 1"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -sr); PostgreSQL $(pg_psql -Atc 'SHOW server_version'), Kafka 3.9.1 (1 broker, KRaft), librdkafka $(pkg-config --modversion rdkafka)"
