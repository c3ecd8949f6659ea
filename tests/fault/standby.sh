#!/usr/bin/env bash
# Hot standby under fire (make standby-test): three sluice instances in
# standby mode on one slot, with sluice's default standby settings and
# PostgreSQL's default wal_sender_timeout (60 s), under a continuous
# workload. The active instance is taken out STANDBY_FAULTS times (12), in
# turn by
#   kill    kill -9
#   stop    SIGSTOP, held until a standby has taken over (past the takeover
#           timeout), then SIGCONT: it must come back as a standby
#   cut     its PostgreSQL link reset and kept down (tests/tools/tcpproxy:
#           every connection closed, nothing forwarded), then healed
#   stall   its PostgreSQL link frozen (nothing forwarded, connections open:
#           a network that silently drops everything), then healed
# Each instance reaches PostgreSQL through a proxy of its own; Kafka directly.
#
# Checked:
#   - exactly once: the verifier's V1-V5 and the replayed state at the end,
#     V6 (the slot never ahead of a committed checkpoint) sampled throughout;
#   - every fault is followed by a takeover by another instance; the time from
#     the fault to the new active's "streaming from" is printed (p50, p99,
#     max, per kind). Not asserted (tests never assert on speed): the
#     acceptance bound (p99 < 30 s) is read off the output;
#   - never two instances streaming: PostgreSQL sampled every 200 ms (the
#     slot's active_pid, the walsenders of the three instances by
#     application_name, the lease's holder): at most one walsender of ours
#     streams at any sample, and it is the slot's;
#   - never two instances writing: every partition of the run's topics read
#     from the broker's log files (DumpLogSegments): producer epochs never go
#     back (a fenced producer never wrote after its successor), and the
#     checkpoint topic shows a new epoch for every takeover;
#   - every instance that was taken out comes back as a standby (role gauge),
#     and all three stop with exit 0.
#
#   tests/fault/standby.sh        STANDBY_FAULTS=12 STANDBY_SEED=1
# The summary goes to build/standby-results.md.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../it/lib.sh"

FAULTS="${STANDBY_FAULTS:-12}"
SEED="${STANDBY_SEED:-1}"
RESULTS_MD="${STANDBY_RESULTS:-$REPO/build/standby-results.md}"
PROXY="$REPO/build/tools/tcpproxy"
SLOT=sb PREFIX=sbt
KINDS=(kill stop cut stall)

harness_build all || exit 1
env_init || exit 1
env_on_exit reap_sluices
W="$SLUICE_ENV_DIR/standby"
mkdir -p "$W"
# PostgreSQL's own wal_sender_timeout (60 s): a frozen instance's walsender
# would hold the slot that long; the takeover must not wait for it.
pg_start "max_slot_wal_keep_size=-1" || exit 1
kafka_start 1 || exit 1
admin_conninfo
workload_setup >/dev/null
mkdir -p "$(dirname "$RESULTS_MD")"

# --- three instances, each behind its own proxy to PostgreSQL ---------------
declare -a PID PROXY_PID PORT
for i in 1 2 3; do
    PORT[$i]="$(_env_free_port)"
    "$PROXY" "${PORT[$i]}" 127.0.0.1 "$PGPORT_TEST" >"$W/proxy-$i.out" 2>&1 &
    PROXY_PID[$i]=$!
    env_on_exit "kill ${PROXY_PID[$i]} 2>/dev/null || true"
    wait_for -p "${PROXY_PID[$i]}" 10 log_has "$W/proxy-$i.out" '^ready' || {
        log "tcpproxy $i did not start"
        exit 1
    }
    sluice_config "$W/sb-$i.conf" "$SLOT" "$PREFIX" "standby = true" "metrics.listen = 127.0.0.1:0" \
        "postgres.conninfo = host=127.0.0.1 port=${PORT[$i]} dbname=sluice_test user=sluice password=sluice application_name=sb$i"
done

start_instance() {
    sluice_start "$W/sb-$1.conf" "$W/sb-$1.log"
    PID[$1]=$SLUICE_PID
}

# metrics_port_of I: the port instance I logged last (a restart logs a new one).
metrics_port_of() {
    sed -n 's|.*serving metrics on http://[^:]*:\([0-9]*\)/metrics.*|\1|p' "$W/sb-$1.log" | tail -1
}

# True once instance I reports the standby role on /metrics.
is_standby() {
    local port
    port="$(metrics_port_of "$1")"
    [ -n "$port" ] && curl -fsS --max-time 2 "http://127.0.0.1:$port/metrics" 2>/dev/null |
        grep -qx 'sluice_role{role="standby"} 1'
}

# active_instance: the number of the instance whose walsender streams from the slot (empty if none).
active_instance() {
    pg_psql -Atc "SELECT substr(r.application_name, 3) FROM pg_replication_slots s
                  JOIN pg_stat_replication r ON r.pid = s.active_pid
                  WHERE s.slot_name = '$SLOT' AND r.application_name LIKE 'sb_'"
}

has_active() {
    [ -n "$(active_instance)" ]
}

# True once an instance other than $1 streams from the slot.
streamed_by_other() {
    local a
    a="$(active_instance)"
    [ -n "$a" ] && [ "$a" != "$1" ]
}

start_instance 1
wait_for -p "${PID[1]}" 60 log_has "$W/sb-1.log" 'streaming from slot' || {
    log "instance 1 did not start streaming: $(tail -3 "$W/sb-1.log")"
    exit 1
}
for i in 2 3; do
    start_instance "$i"
    wait_for -p "${PID[$i]}" 30 is_standby "$i" || { log "instance $i is no standby: $(tail -3 "$W/sb-$i.log")"; exit 1; }
done
log "instance 1 streams, 2 and 3 wait as standbys"

# --- samplers ------------------------------------------------------------------
start_sampler "$PREFIX" "$SLOT" "$W/v6.samples"
V6_PID=$SAMPLER_PID
touch "$W/sampling"
SAMPLE_SQL="SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
    coalesce((SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$SLOT'), 0),
    coalesce((SELECT r.application_name FROM pg_replication_slots s JOIN pg_stat_replication r
              ON r.pid = s.active_pid WHERE s.slot_name = '$SLOT'), '-'),
    (SELECT count(*) FROM pg_stat_replication
      WHERE application_name LIKE 'sb_' AND state IN ('streaming', 'catchup')),
    coalesce((SELECT string_agg(application_name || ':' || pid, '+') FROM pg_stat_replication
      WHERE application_name LIKE 'sb_' AND state IN ('streaming', 'catchup')), '-'),
    coalesce((SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted
      AND l.classid = $((0x534c4331))), 0);"
(
    while [ -f "$W/sampling" ]; do
        echo "$SAMPLE_SQL"
        sleep 0.2 # the sampling interval
    done
) | pg_psql -At -F'|' >"$W/pg.samples" 2>"$W/pg.samples.err" &
PG_SAMPLER_PID=$!

workload_loop "$W/running" "$SEED" 300 3

# --- faults --------------------------------------------------------------------
: >"$W/takeovers"
RANDOM=$SEED
failed=0
problem() {
    log "PROBLEM: $*"
    failed=$((failed + 1))
}

# ms_of_line FILE PATTERN SINCE_MS: the timestamp (ms) of the first line of FILE
# matching PATTERN logged at or after SINCE_MS; empty if none.
ms_of_line() {
    local ts ms
    while IFS= read -r ts; do
        ms="$(date -d "$ts" +%s%3N)"
        if [ "$ms" -ge "$3" ]; then
            echo "$ms"
            return 0
        fi
    done < <(grep -E -- "$2" "$1" | cut -d' ' -f1)
}

for ((f = 1; f <= FAULTS; f++)); do
    kind="${KINDS[$(((f - 1 + SEED) % ${#KINDS[@]}))]}"
    wait_for 60 has_active || true
    a="$(active_instance)"
    if [ -z "$a" ]; then
        problem "fault $f: no instance streams"
        break
    fi
    wait_progress "$SLOT" 120 || problem "fault $f: no progress before the fault"
    sleep "$((2 + RANDOM % 4)).$((RANDOM % 10))" # the workload runs on: a random moment
    t0="$(date +%s%3N)"
    case "$kind" in
    kill) kill -9 "${PID[$a]}"; wait "${PID[$a]}" 2>/dev/null ;;
    stop) kill -STOP "${PID[$a]}" ;;
    cut) kill -HUP "${PROXY_PID[$a]}"; kill -USR1 "${PROXY_PID[$a]}" ;;
    stall) kill -USR1 "${PROXY_PID[$a]}" ;;
    esac
    if ! wait_for 120 streamed_by_other "$a"; then
        problem "fault $f ($kind of instance $a): nobody took over within 120 s"
        break
    fi
    b="$(active_instance)"
    t1="$(ms_of_line "$W/sb-$b.log" 'streaming from slot' "$t0")"
    wait_progress "$SLOT" 120 || problem "fault $f: no progress after the takeover by instance $b"
    [ -n "$t1" ] || t1="$(date +%s%3N)"
    echo "$kind $a $b $((t1 - t0))" >>"$W/takeovers"
    log "fault $f: $kind of active instance $a; instance $b streams $((t1 - t0)) ms later"
    # The instance taken out comes back, and must wait as a standby.
    case "$kind" in
    kill) start_instance "$a" ;;
    stop) kill -CONT "${PID[$a]}" ;;
    cut | stall) kill -USR2 "${PROXY_PID[$a]}" ;;
    esac
    wait_for -p "${PID[$a]}" 90 is_standby "$a" ||
        problem "fault $f: instance $a did not come back as a standby: $(grep -v DEBUG "$W/sb-$a.log" | tail -3)"
done

# --- the end ---------------------------------------------------------------------
rounds_stop "$W/running" "$WL_PID" || true
wait_progress "$SLOT" 180 || problem "the last changes did not arrive"
for i in 1 2 3; do
    rc=0
    sluice_stop "${PID[$i]}" 60 || rc=$?
    [ "$rc" -eq 0 ] || problem "instance $i exited $rc on SIGTERM (want 0): $(grep -E 'FATAL|WARNING' "$W/sb-$i.log" | tail -2)"
done
rm -f "$W/sampling"
wait "$PG_SAMPLER_PID" 2>/dev/null
stop_sampler "$V6_PID" "$W/v6.samples" >/dev/null 2>&1 || problem "V6 sampler: $(cat "$W/v6.samples")"
verify_check "$PREFIX" "$SLOT" --tables wl_a,wl_b,wl_c --ledger wl_ledger >"$W/verify.out" 2>&1 ||
    problem "the verifier found violations: $(grep -E 'VIOLATION|FAIL' "$W/verify.out" | head -5)"

# Never two streaming: at most one walsender of ours at every sample, the slot's.
read -r samples maxstreaming inconsistent transitions < <(awk -F'|' '
    NF >= 6 { n++; if ($4 > max) max = $4
              if ($4 == 1 && index($5, $3 ":" $2) != 1) bad++
              if ($3 != "-" && $3 != last) { if (last != "") tr++; last = $3 } }
    END { print n + 0, max + 0, bad + 0, tr + 0 }' "$W/pg.samples")
[ "$samples" -gt 100 ] || problem "too few PostgreSQL samples ($samples): $(head -2 "$W/pg.samples.err")"
[ "$maxstreaming" -le 1 ] || problem "two walsenders of ours streamed at once: $(awk -F'|' '$4 > 1' "$W/pg.samples" | head -3)"
[ "$inconsistent" -eq 0 ] || problem "$inconsistent samples where the streaming walsender was not the slot's"

# Never two writing: producer epochs per partition, from the broker's log files.
kafka_tool kafka.tools.DumpLogSegments --files \
    "$(find "$SLUICE_ENV_DIR/kafka1/data" -path "*/$PREFIX.*-*/*.log" | sort | paste -sd, -)" \
    >"$W/segments.txt" 2>"$W/segments.err"
read -r batches regressions ckpt_epochs < <(awk '
    /^Dumping / { part = $2; sub(/\/[^\/]*$/, "", part)
                  if (part != lastpart) { lastpart = part; last = -1 }
                  cp = (part ~ /sluice\.checkpoint-0$/); next }
    /producerEpoch:/ {
        for (i = 1; i < NF; i++) if ($i == "producerEpoch:") e = $(i + 1) + 0
        n++
        if (e < last) bad++
        if (e > last) last = e
        if (cp && !(e in seen)) { seen[e] = 1; ce++ }
    }
    END { print n + 0, bad + 0, ce + 0 }' "$W/segments.txt")
ntake="$(wc -l <"$W/takeovers")"
[ "$batches" -gt 0 ] || problem "no record batch read from the broker's logs: $(tail -2 "$W/segments.err")"
[ "$regressions" -eq 0 ] || problem "$regressions record batches with an older producer epoch after a newer one"
[ "$ckpt_epochs" -ge $((ntake + 1)) ] || problem "the checkpoint topic shows $ckpt_epochs producer epochs for $ntake takeovers"

# Takeover times.
stats() { sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit }
    p50 = v[int((NR + 1) / 2)]; i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1
    printf "p50 %d ms, p99 %d ms, max %d ms (n=%d)", p50, v[i99], v[NR], NR }'; }
all="$(awk '{ print $4 }' "$W/takeovers" | stats)"
per_kind=""
for k in "${KINDS[@]}"; do
    per_kind+="| $k | $(awk -v k="$k" '$1 == k { print $4 }' "$W/takeovers" | stats) |"$'\n'
done
changes="$(sed -n 's/.*ledger [0-9]* transactions \/ \([0-9]*\) changes.*/\1/p' "$W/verify.out" | tail -1)"
{
    echo "| what | result |"
    echo "|---|---|"
    echo "| takeovers | $ntake of $FAULTS faults ($(awk '{ print $1 }' "$W/takeovers" | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')) |"
    echo "| takeover time, fault to the new active's \"streaming from\" | $all |"
    echo "| exactly once (V1-V5, state) | $(tail -1 "$W/verify.out") ($changes changes) |"
    echo "| V6 (slot never ahead of a committed checkpoint) | $(cat "$W/v6.samples" 2>/dev/null) |"
    echo "| never two streaming (PostgreSQL, every 200 ms) | $samples samples, at most $maxstreaming walsender of ours streaming, $inconsistent inconsistent, $transitions changes of holder |"
    echo "| never two writing (producer epochs, broker log files) | $batches record batches, $regressions epoch regressions; $ckpt_epochs epochs in the checkpoint topic for $ntake takeovers |"
    echo
    echo "| kind | takeover time |"
    echo "|---|---|"
    printf '%s' "$per_kind"
    echo
    echo "Takeovers (kind, instance taken out, instance that took over, ms):"
    echo
    sed 's/^/    /' "$W/takeovers"
} >"$RESULTS_MD"
echo
cat "$RESULTS_MD"
echo "(written to $RESULTS_MD)"
if [ "$failed" -ne 0 ] || [ "$ntake" -lt "$FAULTS" ]; then
    log "FAIL: $failed problem(s), $ntake of $FAULTS takeovers"
    exit 1
fi
log "PASS: $ntake takeovers, exactly once, never two streaming or writing"
