#!/usr/bin/env bash
# Snapshot benchmark (issue 3): sluice's initial snapshot of the same tables
# next to PostgreSQL's own ceiling, COPY … TO '/dev/null' (server-side, as
# superuser: no client, no network, no encoding), then the acceptance check
# at full size with concurrent writes.
#
#   tests/bench/snapshot.sh                 (make bench-snapshot)
#   SNAP_BENCH_ROWS=1000000 SNAP_BENCH_RUNS=3 SNAP_BENCH_WORKERS=4 SNAP_BENCH_CHECK=1 tests/bench/snapshot.sh
#
# Tables: the snap_ tables of tests/it/tests_snapshot.sh (60% snap_a with
# text, numeric, timestamptz, jsonb, bytea and arrays; 25% snap_b; 10%
# snap_c; 5% snap_p, partitioned), SNAP_BENCH_ROWS rows in all, vacuumed and
# read once before timing so every reader finds the same warm cache.
#
# Ceiling: COPY (SELECT * FROM t) TO '/dev/null' for each table, one after
# the other (and all four at once, the best parallel COPY can do). sluice:
# snapshot.mode = initial_only with snapshot.workers workers, JSON into
# Kafka in exactly-once transactions with checkpoints; timed from its
# "snapshot 1 at" log line to its "snapshot 1 complete" line (and the whole
# process, Kafka set-up included, in brackets). Medians over the runs.
#
# Check (SNAP_BENCH_CHECK=1, default): snapshot.mode = initial with a writer
# changing every table during the copy; afterwards a consumer rebuilding
# each table from Kafka (tests/tools/apply) must equal PostgreSQL (md5 over
# every row).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../it/lib.sh"
. "$HERE/../it/tests.sh"
. "$HERE/../it/tests_snapshot.sh"

ROWS="${SNAP_BENCH_ROWS:-1000000}"
RUNS="${SNAP_BENCH_RUNS:-3}"
WORKERS="${SNAP_BENCH_WORKERS:-4}"
CHECK="${SNAP_BENCH_CHECK:-1}"
SLUICE="${SNAP_BENCH_SLUICE:-$SLUICE}" # e.g. a wrapper that runs sluice under perf

harness_build all || exit 1
env_init
W="$SLUICE_ENV_DIR/bench"
mkdir -p "$W"
pg_start "wal_sender_timeout=60s" "max_wal_size=4GB" "checkpoint_timeout=30min" "shared_buffers=512MB"
kafka_start
admin_conninfo

now_ms() { date +%s%3N; }
log_ms() { date -d "$(grep -m1 -E "$2" "$1" | cut -d' ' -f1)" +%s%3N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

TABLES="snap_a snap_b snap_c snap_p"
log "loading $ROWS rows into $TABLES"
snap_setup "$ROWS"
pg_psql -q -c "VACUUM (FREEZE, ANALYZE) snap_a, snap_b, snap_c, snap_p"
total_rows() { pg_psql -Atc "SELECT (SELECT count(*) FROM snap_a) + (SELECT count(*) FROM snap_b) + (SELECT count(*) FROM snap_c) + (SELECT count(*) FROM snap_p)"; }
N="$(total_rows)"
log "$N rows, $(pg_psql -Atc "SELECT pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_partition_tree('snap_p') UNION ALL SELECT 1 WHERE false" 2>/dev/null) in snap_p; heap total $(pg_psql -Atc "SELECT pg_size_pretty(sum(pg_relation_size(c.oid))) FROM pg_class c WHERE relname LIKE 'snap_%' AND relkind = 'r'")"

copy_all_sequential() {
    local t0 t
    t0=$(now_ms)
    for t in $TABLES; do pg_psql -q -c "COPY (SELECT * FROM $t) TO '/dev/null'"; done
    echo $(($(now_ms) - t0))
}

copy_all_parallel() {
    local t0 t pids=()
    t0=$(now_ms)
    for t in $TABLES; do
        pg_psql -q -c "COPY (SELECT * FROM $t) TO '/dev/null'" &
        pids+=($!)
    done
    wait "${pids[@]}"
    echo $(($(now_ms) - t0))
}

# Warm the cache and the hint bits once.
copy_all_sequential >/dev/null

RESULTS="$W/results.txt"
: >"$RESULTS"
for ((r = 1; r <= RUNS; r++)); do
    seq_ms="$(copy_all_sequential)"
    par_ms="$(copy_all_parallel)"
    slot="b_snap_$r" prefix="bsnap$r" cfg="$W/snap$r.conf" logf="$W/snap$r.log"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" \
        "snapshot.mode = initial_only" "snapshot.workers = $WORKERS"
    : >"$logf"
    t0=$(now_ms)
    rc=0
    "$SLUICE" run -c "$cfg" >>"$logf" 2>&1 || rc=$?
    wall_ms=$(($(now_ms) - t0))
    [ "$rc" -eq 0 ] || { log "sluice exited $rc: $(tail -5 "$logf")"; exit 1; }
    snap_ms=$(($(log_ms "$logf" 'snapshot 1 complete') - $(log_ms "$logf" 'snapshot 1 at')))
    copied="$(grep -m1 'snapshot 1 complete' "$logf" | sed -E 's/.*complete: ([0-9]+) rows.*/\1/')"
    [ "$copied" = "$N" ] || { log "sluice copied $copied rows, the tables hold $N"; exit 1; }
    log "run $r: COPY TO /dev/null ${seq_ms} ms one table after the other, ${par_ms} ms all at once; sluice ${snap_ms} ms (${wall_ms} ms from start to exit)"
    echo "seq $seq_ms" >>"$RESULTS"
    echo "par $par_ms" >>"$RESULTS"
    echo "sluice $snap_ms" >>"$RESULTS"
    echo "wall $wall_ms" >>"$RESULTS"
    drop_slot "$slot"
done

med() { awk -v k="$1" '$1 == k { print $2 }' "$RESULTS" | median; }
rate() { awk -v n="$N" -v ms="$1" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
seq_ms="$(med seq)" par_ms="$(med par)" snap_ms="$(med sluice)" wall_ms="$(med wall)"
{
    echo
    echo "Initial snapshot of $N rows (4 tables), medians of $RUNS runs, $(nproc) CPUs:"
    printf "  %-58s %8s ms %10s rows/s\n" "COPY (SELECT * FROM t) TO '/dev/null', tables in turn" "$seq_ms" "$(rate "$seq_ms")"
    printf "  %-58s %8s ms %10s rows/s\n" "COPY (SELECT * FROM t) TO '/dev/null', 4 tables at once" "$par_ms" "$(rate "$par_ms")"
    printf "  %-58s %8s ms %10s rows/s\n" "sluice snapshot, $WORKERS workers, JSON into Kafka, exactly once" "$snap_ms" "$(rate "$snap_ms")"
    printf "  %-58s %8s ms %10s rows/s\n" "  (sluice from start to exit, Kafka set-up included)" "$wall_ms" "$(rate "$wall_ms")"
    awk -v s="$snap_ms" -v q="$seq_ms" -v p="$par_ms" 'BEGIN {
        printf "  ratio sluice / COPY TO /dev/null: %.2f (tables in turn), %.2f (all at once)\n", q / s, p / s }'
} | tee -a "$RESULTS"

if [ "$CHECK" = 1 ]; then
    log "check at full size: snapshot with concurrent writes, then a consumer rebuilding each table"
    slot=b_snapchk prefix=bsnapchk cfg="$W/chk.conf" logf="$W/chk.log"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" \
        "snapshot.mode = initial" "snapshot.workers = $WORKERS"
    snap_writer "$W/writing" "$ROWS" 0
    writer=$WRITER_PID
    snap_writes_go_on 1 || exit 1 # writing before sluice starts
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait_log "$logf" 'snapshot 1 complete' 1800 "$pid" || exit 1
    snap_writes_go_on 10 || exit 1 # into the stream
    rounds_stop "$W/writing" "$writer"
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 600 || exit 1
    sluice_stop "$pid" || exit 1
    log "writer: $(pg_psql -Atc "SELECT count(*) FROM snap_a WHERE name LIKE 'new %'") rows inserted during and after the snapshot"
    ok=0
    for t in $TABLES; do
        key=id
        [ "$t" = snap_c ] && key=k
        apply_check "$t" "$prefix" --key "$key" 2>&1 | tail -2 || ok=1
    done
    [ "$ok" -eq 0 ] && echo "  full-size check: every table rebuilt from Kafka equals PostgreSQL (md5)" | tee -a "$RESULTS"
    [ "$ok" -eq 0 ] || { echo "  full-size check FAILED" | tee -a "$RESULTS"; exit 1; }
fi
