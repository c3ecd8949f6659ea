#!/usr/bin/env bash
# A/B of two sluice builds, both snapshot methods, on the same snap_ tables
# (tests/it/tests_snapshot.sh's snap_setup), in one environment: each round
# runs A and B one after the other (B first in even rounds), RUNS rounds.
# Prints per run and as medians: rows/s (export: its "snapshot 1 at" to
# "snapshot 1 complete" log lines; incremental: its first log line to
# "incremental snapshot complete"), the process's CPU time (user + sys) per
# row, and peak RSS (/usr/bin/time).
#   AB_A=old/sluice AB_B=new/sluice AB_ROWS=1000000 AB_RUNS=3 tests/bench/copypath/ab.sh
# AB_PERF=DIR records round 1 of each with perf (AB_CG: its call-graph
# option, default -g; AB_FREQ, AB_PERF_DELAY, AB_PERF_SECS).
set -uo pipefail
REPO="$(cd "$(dirname "$0")/../../.." && pwd)"
. "$REPO/tests/env/env.sh"
. "$REPO/tests/it/lib.sh"
. "$REPO/tests/it/tests.sh"
. "$REPO/tests/it/tests_snapshot.sh"
ROWS="${AB_ROWS:-1000000}" RUNS="${AB_RUNS:-3}" WORKERS="${AB_WORKERS:-4}" PERF="${AB_PERF:-}"
METHODS="${AB_METHODS:-export incremental}"
env_init
W="$SLUICE_ENV_DIR/ab"; mkdir -p "$W"
pg_start "wal_sender_timeout=60s" "max_wal_size=4GB" "checkpoint_timeout=30min" "shared_buffers=512MB"
kafka_start
admin_conninfo
log "loading $ROWS rows"
snap_setup "$ROWS"
pg_psql -q -c "VACUUM (FREEZE, ANALYZE) snap_a, snap_b, snap_c, snap_p"
N=$(pg_psql -Atc "SELECT (SELECT count(*) FROM snap_a) + (SELECT count(*) FROM snap_b) + (SELECT count(*) FROM snap_c) + (SELECT count(*) FROM snap_p)")
for t in snap_a snap_b snap_c snap_p; do pg_psql -q -c "COPY (SELECT * FROM $t) TO '/dev/null'"; done
log_ms() { date -d "$(grep -m1 -E "$2" "$1" | cut -d' ' -f1)" +%s%3N; }
first_ms() { date -d "$(head -1 "$1" | cut -d' ' -f1)" +%s%3N; }
RES="$W/results.txt"; : >"$RES"
one() { # one BIN LABEL METHOD RUN
    local bin="$1" lab="$2" m="$3" r="$4"
    local slot="ab_${lab,,}_${m:0:3}_$r" prefix="ab${lab,,}${m:0:3}$r" cfg="$W/$lab-$m-$r.conf" logf="$W/$lab-$m-$r.log" tf="$W/$lab-$m-$r.time"
    : >"$logf"
    if [ "$m" = export ]; then
        sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" "snapshot.mode = initial_only" "snapshot.workers = $WORKERS"
        /usr/bin/time -o "$tf" -f "%M %U %S" "$bin" run -c "$cfg" >>"$logf" 2>&1 &
        local pid=$!
        if [ -n "$PERF" ] && [ "$r" = 1 ]; then
            sleep ${AB_PERF_DELAY:-2}; timeout ${AB_PERF_SECS:-600} perf record ${AB_CG:--g} -F ${AB_FREQ:-499} -o "$PERF/$lab-$m.data" -p "$(pgrep -P $pid)" >/dev/null 2>&1 &
        fi
        wait $pid || { log "$lab $m exited: $(tail -3 "$logf")"; }
        local ms=$(($(log_ms "$logf" 'snapshot 1 complete') - $(log_ms "$logf" 'snapshot 1 at')))
    else
        sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" "snapshot.mode = initial" "snapshot.method = incremental"
        /usr/bin/time -o "$tf" -f "%M %U %S" "$bin" run -c "$cfg" >>"$logf" 2>&1 &
        local pid=$!
        local spid; sleep 0.5; spid=$(pgrep -P $pid)
        if [ -n "$PERF" ] && [ "$r" = 1 ]; then
            sleep ${AB_PERF_DELAY:-2}; timeout ${AB_PERF_SECS:-600} perf record ${AB_CG:--g} -F ${AB_FREQ:-499} -o "$PERF/$lab-$m.data" -p "$spid" >/dev/null 2>&1 &
        fi
        wait_log "$logf" 'incremental snapshot complete' 1800 "$pid" || true
        kill -TERM "$spid"; wait $pid
        local ms=$(($(log_ms "$logf" 'incremental snapshot complete') - $(first_ms "$logf")))
    fi
    wait 2>/dev/null
    local rss cpu; read -r rss u s < <(tail -1 "$tf"); cpu=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%d", (u+s)*1000}')
    log "$lab $m run $r: $ms ms, $((N * 1000 / ms)) rows/s, peak RSS $rss kB, CPU $cpu ms ($(awk -v c=$cpu -v n=$N 'BEGIN{printf "%.2f", c*1e3/n}') us/row)"
    echo "$lab $m $ms $rss $cpu" >>"$RES"
    drop_slot "$slot"
}
for ((r = 1; r <= RUNS; r++)); do
    for m in $METHODS; do
        if [ $((r % 2)) = 1 ]; then
            one "$AB_A" A "$m" "$r"; one "$AB_B" B "$m" "$r"
        else
            one "$AB_B" B "$m" "$r"; one "$AB_A" A "$m" "$r"
        fi
    done
done
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
cat "$RES"; echo "$N rows, medians of $RUNS runs, A=$AB_A B=$AB_B, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for m in $METHODS; do for lab in A B; do
    ms=$(awk -v l=$lab -v m=$m '$1==l && $2==m {print $3}' "$RES" | median)
    rss=$(awk -v l=$lab -v m=$m '$1==l && $2==m {print $4}' "$RES" | median)
    rssmax=$(awk -v l=$lab -v m=$m '$1==l && $2==m {print $4}' "$RES" | sort -n | tail -1)
    cpu=$(awk -v l=$lab -v m=$m '$1==l && $2==m {print $5}' "$RES" | median)
    printf "%-12s %s %8s ms %10s rows/s  CPU %6s ms = %5s us/row  peak RSS median %s kB max %s kB\n" "$m" "$lab" "$ms" "$((N * 1000 / ms))" "$cpu" "$(awk -v c=$cpu -v n=$N 'BEGIN{printf "%.2f", c*1e3/n}')" "$rss" "$rssmax"
done; done
