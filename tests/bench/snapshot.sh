#!/usr/bin/env bash
# Snapshot benchmark (issue 15, point 5): the first copy of the same tables,
# side by side in one run, by
#   (a) the ceiling: the slower of PostgreSQL handing the rows to a client
#       and Kafka taking the same bytes from a transactional producer that
#       does nothing else (tests/tools/snapceil);
#   (b) sluice, snapshot.method = export (snapshot.mode = initial_only);
#   (c) sluice, snapshot.method = incremental (snapshot.mode = initial);
#   (d) Debezium's PostgreSQL connector on Kafka Connect: its initial
#       snapshot (snapshot.mode = initial: the snapshot, then streaming from
#       the slot it created first, as sluice's export method) and its incremental snapshot
#       (a signal table and an execute-snapshot signal).
#
#   tests/bench/snapshot.sh                         (make bench-snapshot)
#   SNAP_BENCH_ROWS=200000 SNAP_BENCH_RUNS=1 tests/bench/snapshot.sh     (quick look)
#
# Tables (SNAP_BENCH_ROWS rows in all, default 5,000,000): 90% in the snap_
# tables of tests/it/tests_snapshot.sh (snap_a: text with escapes, numeric,
# timestamptz, jsonb, bytea, arrays; snap_b; snap_c with a text key; snap_p,
# partitioned, published through its root), 8% in snap_w (wide: 32
# columns) and 2% in snap_t (a ~4 kB text and a ~2 kB jsonb per row, both
# STORAGE EXTERNAL: TOASTed, out of line), all in publication it_snap,
# vacuumed and read once before timing.
#
# Every copy runs while a background writer inserts SNAP_BENCH_BG_ROWS
# rows/s (default 2,000, ~100 bytes each) into snap_bg, a table no
# publication holds: WAL moves on as in a live database, and the samples
# show which copy lets the slot follow it.
#
# Figures, per system (medians of SNAP_BENCH_RUNS runs, default 3, for the
# ceiling and sluice; SNAP_BENCH_DBZ_RUNS, default 1, for Debezium):
#   rows/s          the rows of every table over the copy's time:
#                   ceiling, each half: the tool's own elapsed time (pg: the
#                   tables one after the other on one connection, and all at
#                   once on one connection each: the faster counts; kafka:
#                   first begin to last commit); sluice export: its
#                   "snapshot 1 at" to "snapshot 1 complete" log lines (from
#                   process start to exit in brackets); sluice incremental:
#                   process start to its "incremental snapshot complete"
#                   line; Debezium initial: the connector's deployment to the
#                   last row visible to a read_committed consumer
#                   (tests/tools/kcount); Debezium incremental: the signal's
#                   INSERT to the last row visible.
#                   Before any timed run, the Kafka half runs once untimed
#                   (the broker's JVM is slow in its first run).
#   x ceiling       rows/s over the ceiling's rows/s.
#   peak RSS        VmHWM of sluice, or of the Connect worker (a fresh JVM
#                   per run, heap SNAP_BENCH_CONNECT_HEAP, default -Xms1g -Xmx1g).
#   WAL held        the most, over samples every second during the copy, of
#                   pg_current_wal_lsn() - the slot's confirmed_flush_lsn
#                   (and - restart_lsn).
#   CPUs busy       how busy the machine's CPUs were during the copy (all
#                   processes: PostgreSQL, the broker, sluice or Connect),
#                   from /proc/stat; broker CPU s: the CPU time the Kafka
#                   broker's JVM used meanwhile (/proc/PID/stat); PG CPU s:
#                   PostgreSQL's (the postmaster, its live children, and
#                   the children it reaped meanwhile); all CPU s: every
#                   process's, the busy time of all CPUs.
#   bound           PostgreSQL's CPU s for the faster half of the ceiling,
#                   plus the broker's for sluice's events (below), plus the
#                   CPU s of the producer that sent them (librdkafka and
#                   lz4 only: the events were encoded already), over the
#                   number of CPUs: no program that hands these rows from
#                   PostgreSQL to Kafka in Debezium's envelope, with
#                   librdkafka and lz4, can be faster on this machine, even
#                   if its own reading and encoding cost nothing.
#   oldest xact     the oldest open transaction of a client backend or
#                   walsender (pg_stat_activity.xact_start; the writer and
#                   the sampler left out), the most over the same samples.
# and sluice's best method over Debezium's best snapshot.
#
# Kafka's cost of sluice's own output (SNAP_BENCH_EVENTS=1, default): after
# the first export run its events (keys and values, as a read_committed
# consumer sees them) are read back and produced again by the ceiling's
# producer, timed the same way: the ceiling counts the COPY text's bytes,
# sluice must write Debezium's envelope.
#
# Check (SNAP_BENCH_CHECK=1, default): for each sluice method, a snapshot
# with a writer changing every snap_ table during the copy, then streaming;
# a consumer rebuilding each table from Kafka (tests/tools/apply) must equal
# PostgreSQL (md5 over every row).
#
# Other knobs: SNAP_BENCH_SYSTEMS (default "ceiling export incremental
# dbz_initial dbz_incremental"), SNAP_BENCH_WORKERS (sluice's
# snapshot.workers, default 4), SNAP_BENCH_CHUNK_ROWS (sluice's
# snapshot.chunk.rows, default sluice's), SNAP_BENCH_DBZ_CHUNK
# (Debezium's incremental.snapshot.chunk.size, default Debezium's),
# SNAP_BENCH_DBZ_MODE (eos, default: exactly.once.support=required on an
# exactly-once worker; alo: at-least-once), SNAP_BENCH_SLUICE (another
# sluice binary, e.g. a wrapper under perf), SNAP_BENCH_TIMEOUT (s a copy
# may take, default 3600), SLUICE_KEEP_ENV=1 (keep logs).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../it/lib.sh"
. "$HERE/../it/tests.sh"
. "$HERE/../it/tests_snapshot.sh"

ROWS="${SNAP_BENCH_ROWS:-5000000}"
RUNS="${SNAP_BENCH_RUNS:-3}"
DBZ_RUNS="${SNAP_BENCH_DBZ_RUNS:-1}"
WORKERS="${SNAP_BENCH_WORKERS:-4}"
CHECK="${SNAP_BENCH_CHECK:-1}"
EVENTS="${SNAP_BENCH_EVENTS:-1}"
SYSTEMS="${SNAP_BENCH_SYSTEMS:-ceiling export incremental dbz_initial dbz_incremental}"
BG_ROWS="${SNAP_BENCH_BG_ROWS:-2000}"
DBZ_MODE="${SNAP_BENCH_DBZ_MODE:-eos}"
TIMEOUT="${SNAP_BENCH_TIMEOUT:-3600}"
DBZ_TIMEOUT="${SNAP_BENCH_DBZ_TIMEOUT:-$TIMEOUT}"
export BENCH_CONNECT_HEAP="${SNAP_BENCH_CONNECT_HEAP:--Xms1g -Xmx1g}"
export BENCH_DRAIN_TIMEOUT="$DBZ_TIMEOUT"
CHUNK_LINE=()
[ -n "${SNAP_BENCH_CHUNK_ROWS:-}" ] && CHUNK_LINE=("snapshot.chunk.rows = $SNAP_BENCH_CHUNK_ROWS")
# SNAP_BENCH_SLUICE_CONF: more sluice configuration lines (newline-separated), for both methods
while IFS= read -r l; do [ -n "$l" ] && CHUNK_LINE+=("$l"); done <<<"${SNAP_BENCH_SLUICE_CONF:-}"
has() { case " $SYSTEMS " in *" $1 "*) return 0 ;; esac; return 1; }

harness_build all || exit 1
env_init
env_on_exit reap_sluices
W="$SLUICE_ENV_DIR/bench"
mkdir -p "$W"
. "$HERE/lib.sh"
bench_snapshot_binaries || exit 1
SNAPCEIL="$W/bin/snapceil"
cp "$REPO/build/tools/snapceil" "$SNAPCEIL" || exit 1
SLUICE="${SNAP_BENCH_SLUICE:-$SLUICE}"
if has dbz_initial || has dbz_incremental; then debezium_install || exit 1; fi
pg_start "wal_sender_timeout=60s" "max_wal_size=4GB" "checkpoint_timeout=30min" "shared_buffers=512MB"
kafka_start
admin_conninfo

log_ms() { date -d "$(grep -m1 -E "$2" "$1" | cut -d' ' -f1)" +%s%3N; }

# ---------------------------------------------------------------------------
# tables

TABLES="snap_a snap_b snap_c snap_p snap_w snap_t"
W_ROWS=$((ROWS * 8 / 100)) T_ROWS=$((ROWS * 2 / 100))
log "loading $ROWS rows into $TABLES"
snap_setup $((ROWS - W_ROWS - T_ROWS))
wide_cols="" wide_vals=""
for ((i = 1; i <= 10; i++)); do
    wide_cols+=", i$i int, t$i text, n$i numeric(12,3)"
    wide_vals+=", g + $i, 'w$i-' || g, (g % 100000) / 7.0 + $i"
done
pg_psql -q -c "DROP TABLE IF EXISTS snap_w, snap_t, snap_w_copy, snap_t_copy, snap_bg" \
    -c "CREATE TABLE snap_w (id bigint PRIMARY KEY, at timestamptz$wide_cols)" \
    -c "INSERT INTO snap_w SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'$wide_vals
          FROM generate_series(1, $W_ROWS) g" \
    -c "CREATE TABLE snap_t (id int PRIMARY KEY, title text, body text, doc jsonb)" \
    -c "ALTER TABLE snap_t ALTER COLUMN body SET STORAGE EXTERNAL, ALTER COLUMN doc SET STORAGE EXTERNAL" \
    -c "INSERT INTO snap_t SELECT g, 't' || g, repeat(md5(g::text), 128),
               jsonb_build_object('g', g, 'blob', repeat(md5((g + 1)::text), 64))
          FROM generate_series(1, $T_ROWS) g" \
    -c "ALTER PUBLICATION it_snap ADD TABLE snap_w, snap_t" \
    -c "GRANT SELECT ON snap_w, snap_t TO sluice" \
    -c "CREATE TABLE snap_bg (id bigserial PRIMARY KEY, v text)" \
    -c "VACUUM (FREEZE, ANALYZE) snap_a, snap_b, snap_c, snap_p, snap_w, snap_t"
# Debezium's signal table (its documented columns), in Debezium's
# publication (it_snap's tables and it) so that the connector sees the
# signal; its topic is not counted.
pg_psql -q -c "CREATE TABLE dbz_signal (id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))" \
    -c "CREATE PUBLICATION dbz_snap FOR TABLE ${TABLES// /, }, dbz_signal WITH (publish_via_partition_root = true)"
count_sql="SELECT 0"
for t in $TABLES; do count_sql+=" + (SELECT count(*) FROM $t)"; done
N="$(pg_psql -Atc "$count_sql")"
toast_mb="$(pg_psql -Atc "SELECT pg_total_relation_size(reltoastrelid) / 1048576 FROM pg_class WHERE relname = 'snap_t'")"
heap_mb="$(pg_psql -Atc "SELECT sum(pg_relation_size(c.oid))::bigint / 1048576 FROM pg_class c WHERE relname LIKE 'snap\_%' AND relkind = 'r'")"
log "$N rows; heap ${heap_mb} MB, snap_t's TOAST ${toast_mb} MB"

# The background writer: one session inserting BG_ROWS rows/s into snap_bg,
# in 10 transactions a second, until bg_stop.
bg_start() {
    [ "$BG_ROWS" -gt 0 ] || return 0
    PGAPPNAME=snap_bg pg_psql -q -c "DO \$\$ BEGIN LOOP
        INSERT INTO snap_bg (v) SELECT repeat('b', 90) || g FROM generate_series(1, $(((BG_ROWS + 9) / 10))) g;
        COMMIT; PERFORM pg_sleep(0.1); END LOOP; END \$\$" >/dev/null 2>&1 &
    BG_PID=$!
}
bg_stop() {
    [ "$BG_ROWS" -gt 0 ] || return 0
    pg_psql -q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'snap_bg'" >/dev/null
    wait "$BG_PID" 2>/dev/null
    pg_psql -q -c "TRUNCATE snap_bg" >/dev/null
}

# The sampler: every second, the WAL slot SLOT holds back (bytes, behind
# confirmed_flush_lsn and restart_lsn) and the oldest open transaction (s),
# into FILE, until sampler_end.
# cpu_mark: the machine's busy and idle CPU ticks, the Kafka brokers' CPU ticks,
# and PostgreSQL's: the postmaster's own and its reaped children's (cutime,
# cstime) and those of its live children (backends, walsenders, workers), so a
# backend that ends between two marks still counts.
cpu_mark() {
    local b=0 g=0 p t pm
    for p in $(pgrep -f "kafka\.Kafka $SLUICE_ENV_DIR/"); do
        t="$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null)"
        b=$((b + ${t:-0}))
    done
    pm="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null)"
    if [ -n "$pm" ]; then
        g="$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat" 2>/dev/null)"
        g=${g:-0}
        for p in $(pgrep -P "$pm"); do
            t="$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null)"
            g=$((g + ${t:-0}))
        done
    fi
    awk -v b="$b" -v g="$g" 'NR == 1 { print $2 + $3 + $4 + $7 + $8, $5 + $6, b, g }' /proc/stat
}
# cpu_since FILE (a cpu_mark): "busy_% broker_cpu_s pg_cpu_s all_cpu_s" since
# then (all: the busy ticks of every CPU, whoever used them).
cpu_since() {
    cpu_mark | awk -v hz="$(getconf CLK_TCK)" 'NR == FNR { b = $1; i = $2; k = $3; g = $4; next }
        { db = $1 - b; di = $2 - i; printf "%.0f %.1f %.1f %.1f", (db + di) ? 100 * db / (db + di) : 0, ($3 - k) / hz, ($4 - g) / hz, db / hz }' "$1" -
}
sampler_begin() {
    local slot="$1" file="$2"
    : >"$file"
    cpu_mark >"$file.cpu"
    touch "$file.on"
    (
        while [ -f "$file.on" ]; do
            pg_psql -Atc "SELECT coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
                                             || ' ' || pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
                                           FROM pg_replication_slots WHERE slot_name = '$slot'), '- -')
                             || ' ' || coalesce((SELECT round(extract(epoch FROM max(now() - xact_start)))::int
                                           FROM pg_stat_activity WHERE xact_start IS NOT NULL
                                            AND pid <> pg_backend_pid() AND application_name <> 'snap_bg'
                                            AND backend_type IN ('client backend', 'walsender')), 0)" \
                >>"$file" 2>/dev/null
            sleep 1
        done
    ) &
    SAMPLER_PID=$!
}
sampler_end() {
    rm -f "$2.on"
    wait "$SAMPLER_PID" 2>/dev/null
    # "conf_MB restart_MB xact_s busy_% broker_cpu_s pg_cpu_s all_cpu_s": the most of
    # each over the samples ("-" for the WAL when the slot never existed during the
    # copy), then how busy the machine's CPUs were from sampler_begin to here and the
    # CPU time the brokers, PostgreSQL and everything together used (cpu_since).
    local cpu
    cpu="$(cpu_since "$2.cpu")"
    awk -v cpu="$cpu" '$1 != "-" { n++; if ($1 > c) c = $1; if ($2 > r) r = $2 } { if ($3 > x) x = $3 }
         END { if (n) printf "%.0f %.0f %d %s\n", c / 1048576, r / 1048576, x, cpu; else printf "- - %d %s\n", x, cpu }' "$2"
}

# watch_hwm PID: VmHWM (kB) of PID, read every 200 ms until it is gone, into
# HWM_FILE (for a process that exits by itself).
watch_hwm() {
    local pid="$1" k
    (
        while _env_pid_alive "$pid"; do
            hwm_into k "$pid"
            [ "$k" -gt 0 ] && echo "$k" >"$HWM_FILE"
            sleep 0.2
        done
    ) &
    HWM_WATCH=$!
}

RESULTS="$W/results.txt"
: >"$RESULTS"
# record SYSTEM MS RSS_KB WAL_CONF_MB WAL_RESTART_MB XACT_S BUSY_% BROKER_CPU_S PG_CPU_S ALL_CPU_S
#        [WALL_MS (export) | PRODUCER_CPU_S (kafka, kafka_events)]
# client_cpu TIMEFILE: user + system CPU s of a command run under /usr/bin/time -f "%U %S".
client_cpu() { tail -1 "$1" | awk '{ printf "%.1f", $1 + $2 }'; }
record() { echo "$*" >>"$RESULTS"; }

# kafka_half OUT PREFIX NAMES [--kv] FILE:TOPIC...: the ceiling's Kafka half. Creates
# the topics PREFIX.NAME for each of the comma-separated NAMES (3 partitions), then the
# ceiling's producer (snapceil kafka) sends the files, its line into OUT; prints
# "busy_% broker_cpu_s pg_cpu_s all_cpu_s producer_cpu_s" for the sending alone.
kafka_half() {
    local out="$1" prefix="$2" names="$3"
    shift 3
    "$KCOUNT" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$prefix" --create "$names" --partitions 3 >/dev/null || return 1
    cpu_mark >"$out.cpu"
    /usr/bin/time -o "$out.time" -f "%U %S" "$SNAPCEIL" kafka --bootstrap "$KAFKA_BOOTSTRAP" "$@" >"$out" || return 1
    echo "$(cpu_since "$out.cpu") $(client_cpu "$out.time")"
}
# copy_text_half OUT PREFIX: kafka_half of every table's COPY text (CEIL_DIR) to PREFIX.public.<table>.
copy_text_half() {
    local names="" files=() t
    for t in $TABLES; do names+="${names:+,}public.$t"; files+=("$CEIL_DIR/$t.copy:$2.public.$t"); done
    kafka_half "$1" "$2" "$names" "${files[@]}"
}

# Warm the cache and the hint bits once (and save the rows for the Kafka half).
CEIL_DIR="$W/ceil"
mkdir -p "$CEIL_DIR"
for t in $TABLES; do
    "$SNAPCEIL" pg --conninfo "$PG_ADMIN_CONNINFO" --out "$CEIL_DIR/$t.copy" "COPY (SELECT * FROM $t) TO STDOUT" >/dev/null ||
        exit 1
done
copy_queries=()
for t in $TABLES; do copy_queries+=("COPY (SELECT * FROM $t) TO STDOUT"); done
# Warm the broker once, untimed: the first transactional run after it starts took
# 10-13 s where later ones took 6-8 s (its JVM compiling), and that run counted for
# the ceiling's median as if the broker were always cold.
copy_text_half "$W/warm.kafka" warm >/dev/null || exit 1
log "broker warmed: $(awk '{ print $8 }' "$W/warm.kafka") ms for the COPY text, not counted"

# ---------------------------------------------------------------------------
# (a) the ceiling

ceiling_run() {
    local r="$1" out="$W/ceil$1" t pids=() t0 seq_ms par_ms k_ms
    local seq_cpu par_cpu
    cpu_mark >"$out.cpu"
    "$SNAPCEIL" pg --conninfo "$PG_ADMIN_CONNINFO" "${copy_queries[@]}" >"$out.seq" || return 1
    seq_cpu="$(cpu_since "$out.cpu")"
    seq_ms="$(awk '{ print $6 }' "$out.seq")"
    cpu_mark >"$out.cpu"
    t0=$(now_ms)
    for t in $TABLES; do
        "$SNAPCEIL" pg --conninfo "$PG_ADMIN_CONNINFO" "COPY (SELECT * FROM $t) TO STDOUT" >"$out.par.$t" &
        pids+=($!)
    done
    wait "${pids[@]}" || return 1
    par_ms=$(($(now_ms) - t0))
    par_cpu="$(cpu_since "$out.cpu")"
    local kcpu
    kcpu="$(copy_text_half "$out.kafka" "ceil$r")" || return 1
    k_ms="$(awk '{ print $8 }' "$out.kafka")"
    log "ceiling run $r: PostgreSQL to a client ${seq_ms} ms one table after the other, ${par_ms} ms all at once; Kafka ${k_ms} ms ($(awk '{ print $6 }' "$out.kafka") transactions, $(awk '{ printf "%.0f", $4 / 1048576 }' "$out.kafka") MB)"
    record pg_seq "$seq_ms" - - - - $seq_cpu
    record pg_par "$par_ms" - - - - $par_cpu
    record kafka "$k_ms" - - - - $kcpu
    CEIL_BYTES="$(awk '{ print $4 }' "$out.kafka")"
}

# ---------------------------------------------------------------------------
# (b) sluice export

export_run() {
    local r="$1" slot="b_exp_$1" prefix="bexp$1" cfg="$W/exp$1.conf" logf="$W/exp$1.log" t0 wall_ms snap_ms copied rc=0
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" \
        "snapshot.mode = initial_only" "snapshot.method = export" "snapshot.workers = $WORKERS" \
        ${CHUNK_LINE[@]+"${CHUNK_LINE[@]}"}
    : >"$logf"
    bg_start
    sampler_begin "$slot" "$W/exp$r.samples"
    HWM_FILE="$W/exp$r.hwm"
    echo 0 >"$HWM_FILE"
    t0=$(now_ms)
    "$SLUICE" run -c "$cfg" >>"$logf" 2>&1 &
    local pid=$!
    watch_hwm "$pid"
    wait "$pid" || rc=$?
    wall_ms=$(($(now_ms) - t0))
    wait "$HWM_WATCH" 2>/dev/null
    local held
    held="$(sampler_end "$slot" "$W/exp$r.samples")"
    bg_stop
    [ "$rc" -eq 0 ] || { log "sluice exited $rc: $(tail -5 "$logf")"; return 1; }
    snap_ms=$(($(log_ms "$logf" 'snapshot 1 complete') - $(log_ms "$logf" 'snapshot 1 at')))
    copied="$(grep -m1 'snapshot 1 complete' "$logf" | sed -E 's/.*complete: ([0-9]+) rows.*/\1/')"
    [ "$copied" = "$N" ] || { log "sluice copied $copied rows, the tables hold $N"; return 1; }
    log "sluice export run $r: ${snap_ms} ms (${wall_ms} ms start to exit), peak RSS $(cat "$HWM_FILE") kB, held (MB behind confirmed, restart; oldest xact s): $held"
    record export "$snap_ms" "$(cat "$HWM_FILE")" "$held" "$wall_ms"
    [ "$r" = 1 ] && [ "$EVENTS" = 1 ] && { events_ceiling "$prefix" || return 1; }
    drop_slot "$slot"
}

# events_ceiling PREFIX: the same transactional producer as the ceiling's Kafka
# half, taking the events sluice's export wrote under PREFIX (keys and values,
# without sluice's headers), read back with kcount --dump: what Kafka alone
# costs for the bytes sluice must write, Debezium's envelope and all.
events_ceiling() {
    local prefix="$1" dir="$W/events" out="$W/events.kafka" files=() names="" f t
    rm -rf "$dir" && mkdir -p "$dir"
    "$KCOUNT" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$prefix" --expect "$N" --timeout-ms 600000 \
        --dump "$dir" >"$W/events.count" || { log "reading sluice's events back failed: $(cat "$W/events.count")"; return 1; }
    for f in "$dir"/*.kv; do
        t="$(basename "$f" .kv)"
        t="${t#"$prefix".}"
        files+=("$f:evc.$t")
        names="${names:+$names,}$t"
    done
    local kcpu ms
    kcpu="$(kafka_half "$out" evc "$names" --kv "${files[@]}")" || return 1
    ms="$(awk '{ print $8 }' "$out")"
    log "Kafka <- sluice's events: $ms ms ($(awk '{ print $6 }' "$out") transactions, $(awk '{ printf "%.0f", $4 / 1048576 }' "$out") MB of keys and values, the producer's own CPU $(client_cpu "$out.time") s)"
    record kafka_events "$ms" - - - - $kcpu
    EVENT_BYTES="$(awk '{ print $4 }' "$out")"
    rm -rf "$dir"
}

# ---------------------------------------------------------------------------
# (c) sluice incremental

incremental_run() {
    local r="$1" slot="b_inc_$1" prefix="binc$1" cfg="$W/inc$1.conf" logf="$W/inc$1.log" t0 ms copied hwm
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" \
        "snapshot.mode = initial" "snapshot.method = incremental" ${CHUNK_LINE[@]+"${CHUNK_LINE[@]}"}
    : >"$logf"
    bg_start
    sampler_begin "$slot" "$W/inc$r.samples"
    t0=$(now_ms)
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'incremental snapshot complete' "$TIMEOUT" "$pid" || { sampler_end "$slot" "$W/inc$r.samples" >/dev/null; bg_stop; return 1; }
    ms=$(($(log_ms "$logf" 'incremental snapshot complete') - t0))
    hwm_into hwm "$pid"
    local held
    held="$(sampler_end "$slot" "$W/inc$r.samples")"
    bg_stop
    sluice_stop "$pid" || { log "sluice did not stop cleanly: $(tail -3 "$logf")"; return 1; }
    copied="$(grep -E 'incremental snapshot of ".*" complete' "$logf" | sed -E 's/.*complete: ([0-9]+) rows.*/\1/' | awk '{ s += $1 } END { print s + 0 }')"
    [ "$copied" = "$N" ] || { log "sluice copied $copied rows incrementally, the tables hold $N"; return 1; }
    log "sluice incremental run $r: ${ms} ms from start, peak RSS $hwm kB, held (MB behind confirmed, restart; oldest xact s): $held"
    record incremental "$ms" "$hwm" "$held"
    drop_slot "$slot"
}

# ---------------------------------------------------------------------------
# (d) Debezium

DBZ_SKIP="public.dbz_signal"
# dbz_elapsed COUNTFILE T0: DBZ_MS, the ms from T0 to the last row visible;
# when the counter gave up after SNAP_BENCH_DBZ_TIMEOUT s with fewer rows,
# the time all rows would take at the rate reached (DBZ_NOTE says so, and
# the table marks it "*").
DBZ_PARTIAL=0
dbz_elapsed() {
    local got done_ms
    got="$(kcount_field "$1" records)" done_ms="$(kcount_field "$1" done_ms)"
    DBZ_NOTE=""
    if [ "${got:-0}" = "$N" ]; then
        DBZ_MS=$((done_ms - $2))
    elif [ "${got:-0}" -gt 0 ]; then
        local ms=$(($(now_ms) - $2))
        DBZ_MS=$((ms * N / got))
        DBZ_NOTE=" (extrapolated: $got of $N rows in $ms ms)"
        DBZ_PARTIAL=1
    else
        log "Debezium wrote no row: $(cat "$1.err"); $(grep -E ' ERROR ' "$CONNECT_LOG" | tail -3)"
        return 1
    fi
}
# Debezium snapshots what its table filter names (by default every table it
# sees), not the publication: the same tables as sluice, and its signal table.
DBZ_INCLUDE="$(for t in $TABLES dbz_signal; do printf 'public.%s,' "$t"; done)"
DBZ_INCLUDE="\"table.include.list\": \"${DBZ_INCLUDE%,}\""
# dbz_finish KIND R NAME SLOT T0 KCOUNT_PID: once the counter has ended, the
# worker's peak RSS, the samples, the time; removes the connector, the
# worker and the slot, and records the run as dbz_KIND.
dbz_finish() {
    local kind="$1" r="$2" name="$3" slot="$4" t0="$5" hwm held
    wait "$6"
    hwm_into hwm "$CONNECT_PID"
    held="$(sampler_end "$slot" "$W/$name.samples")"
    bg_stop
    dbz_elapsed "$W/$name.count" "$t0" || return 1
    debezium_delete "$name"
    connect_stop "$CONNECT_PID"
    log "Debezium $kind run $r: $DBZ_MS ms$DBZ_NOTE, Connect peak RSS $hwm kB, held (MB behind confirmed, restart; oldest xact s): $held"
    record "dbz_$kind" "$DBZ_MS" "$hwm" "$held"
    drop_slot "$slot"
}

dbz_initial_run() {
    local r="$1" name="dbzi$1" slot="dbzi_$1" prefix="dbzi$1" t0
    connect_start "$name" "$DBZ_MODE" || return 1
    kcount_start "$prefix" "$N" "$W/$name.count"
    local kc=$KCOUNT_PID
    bg_start
    sampler_begin "$slot" "$W/$name.samples"
    t0=$(now_ms)
    BENCH_DBZ_CONFIG="$DBZ_INCLUDE${BENCH_DBZ_CONFIG:+, $BENCH_DBZ_CONFIG}" \
        BENCH_DBZ_SNAPSHOT_MODE=initial debezium_deploy "$name" "$slot" "$prefix" "$DBZ_MODE" dbz_snap ||
        { kill "$kc"; sampler_end "$slot" "$W/$name.samples" >/dev/null; bg_stop; return 1; }
    dbz_finish initial "$r" "$name" "$slot" "$t0" "$kc"
}

dbz_incremental_run() {
    local r="$1" name="dbzn$1" slot="dbzn_$1" prefix="dbzn$1" t0 colls=""
    connect_start "$name" "$DBZ_MODE" || return 1
    local chunk=""
    [ -n "${SNAP_BENCH_DBZ_CHUNK:-}" ] && chunk="\"incremental.snapshot.chunk.size\": \"$SNAP_BENCH_DBZ_CHUNK\","
    BENCH_DBZ_CONFIG="$chunk$DBZ_INCLUDE, \"signal.data.collection\": \"public.dbz_signal\"${BENCH_DBZ_CONFIG:+, $BENCH_DBZ_CONFIG}" \
        BENCH_DBZ_SNAPSHOT_MODE=no_data debezium_deploy "$name" "$slot" "$prefix" "$DBZ_MODE" dbz_snap || return 1
    debezium_wait_streaming "$CONNECT_PID" 300 || return 1
    "$KCOUNT" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$prefix" --expect "$N" --skip "$DBZ_SKIP" \
        --timeout-ms $((DBZ_TIMEOUT * 1000)) >"$W/$name.count" 2>"$W/$name.count.err" &
    local kc=$!
    bg_start
    sampler_begin "$slot" "$W/$name.samples"
    for t in $TABLES; do colls+="${colls:+, }\"public.$t\""; done
    t0=$(now_ms)
    pg_psql -q -c "INSERT INTO dbz_signal VALUES ('snap-$r', 'execute-snapshot', '{\"data-collections\": [$colls], \"type\": \"incremental\"}')" ||
        { kill "$kc"; return 1; }
    dbz_finish incremental "$r" "$name" "$slot" "$t0" "$kc"
}

# ---------------------------------------------------------------------------
# the runs (the systems alternate within each run)

CEIL_BYTES=0 EVENT_BYTES=0
for ((r = 1; r <= RUNS; r++)); do
    if has ceiling; then ceiling_run "$r" || exit 1; fi
    if has export; then export_run "$r" || exit 1; fi
    if has incremental; then incremental_run "$r" || exit 1; fi
done

# ---------------------------------------------------------------------------
# the check

check_method() {
    local method="$1" slot="b_chk_$1" prefix="bchk$1" cfg="$W/chk$1.conf" logf="$W/chk$1.log" done_line ok=0 t
    log "check, $method: snapshot with concurrent writes, then a consumer rebuilding each table"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" \
        "snapshot.mode = initial" "snapshot.method = $method" "snapshot.workers = $WORKERS" ${CHUNK_LINE[@]+"${CHUNK_LINE[@]}"}
    done_line='snapshot 1 complete'
    [ "$method" = incremental ] && done_line='incremental snapshot complete'
    snap_writer "$W/writing" $((ROWS - W_ROWS - T_ROWS)) "$CHECK_FIRST"
    local writer=$WRITER_PID
    snap_writes_go_on 1 || return 1
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" "$done_line" "$TIMEOUT" "$pid" || return 1
    snap_writes_go_on 10 || return 1
    rounds_stop "$W/writing" "$writer"
    CHECK_FIRST=$((CHECK_FIRST + 100000))
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 600 || return 1
    sluice_stop "$pid" || return 1
    for t in $TABLES; do
        local key=id
        [ "$t" = snap_c ] && key=k
        apply_check "$t" "$prefix" --key "$key" 2>&1 | tail -1 >&2
        [ "${PIPESTATUS[0]}" -eq 0 ] || ok=1
    done
    drop_slot "$slot"
    if [ "$ok" -eq 0 ]; then
        echo "  full-size check, sluice $method: every table rebuilt from Kafka equals PostgreSQL (md5)"
    else
        echo "  full-size check, sluice $method: FAILED"
    fi
    return "$ok"
}

rc=0
if [ "$CHECK" = 1 ]; then
    CHECK_FIRST=0
    for m in export incremental; do
        has "$m" || continue
        check_method "$m" >"$W/check.$m" || rc=1
        cat "$W/check.$m" >&2
    done
fi

# Debezium last: the slowest by far.
for ((r = 1; r <= DBZ_RUNS; r++)); do
    if has dbz_initial; then dbz_initial_run "$r" || exit 1; fi
    if has dbz_incremental; then dbz_incremental_run "$r" || exit 1; fi
done

# ---------------------------------------------------------------------------
# the table

col() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' "$RESULTS"; }
med() { col "$1" "${2:-2}" | median; }
rate() { [ "$1" = - ] && { echo -; return; } ; awk -v n="$N" -v ms="$1" 'BEGIN { printf "%.0f", n * 1000 / ms }'; }
ratio() { { [ "$1" = - ] || [ "$2" = - ]; } && { echo -; return; }; awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
pg_ms="-" ceil_ms="-"
if has ceiling; then
    pg_ms="$(for ((r = 1; r <= RUNS; r++)); do
        s="$(awk '$1 == "pg_seq" { print $2 }' "$RESULTS" | sed -n "${r}p")" p="$(awk '$1 == "pg_par" { print $2 }' "$RESULTS" | sed -n "${r}p")"
        echo $((s < p ? s : p))
    done | median)"
    k_ms="$(med kafka)"
    ceil_ms=$((pg_ms > k_ms ? pg_ms : k_ms))
fi
ceil_rate="$(rate "$ceil_ms")"
DEBEZIUM_VERSION="${DEBEZIUM_VERSION:-}"
{
    echo
    echo "Snapshot of $N rows ($TABLES; heap ${heap_mb} MB, TOAST ${toast_mb} MB), $(nproc) CPUs,"
    echo "medians of $RUNS run(s) (Debezium $DBZ_RUNS), background writer $BG_ROWS rows/s into an unpublished table:"
    F="  %-62s %9s %10s %9s %9s %14s %9s %6s %8s %8s %8s\n"
    # cpus SYSTEM: the busy %, broker, PostgreSQL and all CPU s columns of SYSTEM's medians
    cpus() { printf "%s %s %s %s" "$(med "$1" 7)%" "$(med "$1" 8)" "$(med "$1" 9)" "$(med "$1" 10)"; }
    # shellcheck disable=SC2059
    {
        printf "$F" "" "ms" "rows/s" "x ceil" "peak RSS" "WAL held MB" "oldest" "CPUs" "broker" "PG" "all"
        printf "$F" "" "" "" "" "MB" "conf/restart" "xact s" "busy" "CPU s" "CPU s" "CPU s"
        if has ceiling; then
            # shellcheck disable=SC2046
            printf "$F" "PostgreSQL -> client, tables in turn (libpq)" "$(med pg_seq)" "$(rate "$(med pg_seq)")" "" "" "" "" $(cpus pg_seq)
            # shellcheck disable=SC2046
            printf "$F" "PostgreSQL -> client, $(wc -w <<<"$TABLES") tables at once" "$(med pg_par)" "$(rate "$(med pg_par)")" "" "" "" "" $(cpus pg_par)
            # shellcheck disable=SC2046
            printf "$F" "Kafka <- one transactional producer ($((CEIL_BYTES / 1048576)) MB)" "$k_ms" "$(rate "$k_ms")" "" "" "" "" $(cpus kafka)
            printf "  %-62s %9s %10s %9s\n" "(a) ceiling: the slower of the faster PG and Kafka" "$ceil_ms" "$ceil_rate" "1.00"
        fi
        if [ "$(med kafka_events)" != - ]; then
            # shellcheck disable=SC2046
            printf "$F" "Kafka <- the same producer, sluice's export events ($((EVENT_BYTES / 1048576)) MB)" \
                "$(med kafka_events)" "$(rate "$(med kafka_events)")" "$(ratio "$(rate "$(med kafka_events)")" "$ceil_rate")" \
                "" "" "" $(cpus kafka_events)
        fi
        line() { # SYSTEM LABEL
            local ms
            ms="$(med "$1")"
            [ "$ms" = - ] && return
            # shellcheck disable=SC2046
            printf "$F" "$2" "$ms" "$(rate "$ms")" "$(ratio "$(rate "$ms")" "$ceil_rate")" \
                "$(($(med "$1" 3) / 1024))" "$(med "$1" 4)/$(med "$1" 5)" "$(med "$1" 6)" $(cpus "$1")
        }
        line export "(b) sluice export, $WORKERS workers"
        has export && printf "  %-62s %9s %10s\n" "    (sluice export from start to exit)" "$(med export 11)" "$(rate "$(med export 11)")"
        line incremental "(c) sluice incremental, from start${SNAP_BENCH_CHUNK_ROWS:+, chunks of $SNAP_BENCH_CHUNK_ROWS}"
        line dbz_initial "(d) Debezium $DEBEZIUM_VERSION initial ($DBZ_MODE), deploy to last row"
        line dbz_incremental "(d) Debezium $DEBEZIUM_VERSION incremental ($DBZ_MODE), signal to last row"
    }
    # The least CPU the rows need outside sluice: PostgreSQL's for the faster half of
    # the ceiling; the broker's for sluice's events, and the ceiling's producer's own
    # (librdkafka, lz4) for sending them, already encoded, from memory-mapped files.
    # Spread over every CPU with nothing else to run, that is the shortest time any
    # program could hand these rows from PostgreSQL to Kafka in Debezium's envelope
    # on this machine, with its own work (reading, decoding, encoding) free.
    if has ceiling && [ "$(med kafka_events)" != - ]; then
        pg_cpu="$(med pg_seq 9)"
        [ "$(med pg_par)" -lt "$(med pg_seq)" ] && pg_cpu="$(med pg_par 9)"
        br_cpu="$(med kafka_events 8)" pr_cpu="$(med kafka_events 11)"
        bound_ms="$(awk -v a="$pg_cpu" -v b="$br_cpu" -v c="$pr_cpu" -v n="$(nproc)" 'BEGIN { printf "%.0f", (a + b + c) * 1000 / n }')"
        printf "  %-62s %9s %10s %9s\n" "bound: PG ${pg_cpu} + broker ${br_cpu} + producer ${pr_cpu} CPU s over $(nproc) CPUs" \
            "$bound_ms" "$(rate "$bound_ms")" "$(ratio "$(rate "$bound_ms")" "$ceil_rate")"
    fi
    best_s="$( { med export; med incremental; } | grep -v '^-$' | sort -n | head -1)"
    best_d="$( { med dbz_initial; med dbz_incremental; } | grep -v '^-$' | sort -n | head -1)"
    if [ -n "$best_s" ] && [ -n "$best_d" ]; then
        echo "  sluice's best / Debezium's best: $(ratio "$best_d" "$best_s") x the rows/s"
    fi
} 2>/dev/null | tee -a "$RESULTS.table"

[ "$DBZ_PARTIAL" = 0 ] || echo "  * extrapolated: the rows/s Debezium reached before SNAP_BENCH_DBZ_TIMEOUT (${DBZ_TIMEOUT} s), see the log above" | tee -a "$RESULTS.table"
for m in export incremental; do [ -f "$W/check.$m" ] && tee -a "$RESULTS.table" <"$W/check.$m"; done
exit "$rc"
