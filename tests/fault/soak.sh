#!/usr/bin/env bash
# Soak: a seeded random schedule of every kind of fault for as long as asked,
# against one sluice instance under a continuous workload, on a real
# PostgreSQL 15 and a 3-broker KRaft cluster. While it runs, a read_committed
# consumer checks that nothing torn or aborted is ever visible (V3 live) and
# the sampler checks the slot against the committed checkpoint (V6); at the
# end the full verifier runs (V1–V6) and liveness is checked (V7).
#
#   make soak DURATION=30m [SEED=1]      (DURATION: 90s, 10m, 1h …)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../it/lib.sh"

DURATION="${DURATION:-10m}"
SEED="${SEED:-1}"
case "$DURATION" in
*h) SECS=$((${DURATION%h} * 3600)) ;;
*m) SECS=$((${DURATION%m} * 60)) ;;
*s) SECS=${DURATION%s} ;;
*) SECS=$DURATION ;;
esac

harness_build all || exit 1
harness_env_start soak 3 || exit 1
PROXY="$REPO/build/tools/tcpproxy"
PORT="$(_env_free_port)"
"$PROXY" "$PORT" 127.0.0.1 "$PGPORT_TEST" >"$W/proxy.out" 2>&1 &
PROXY_PID=$!
env_on_exit "kill $PROXY_PID 2>/dev/null || true"
wait_for -p "$PROXY_PID" 10 log_has "$W/proxy.out" '^ready' || { log "tcpproxy did not start: $(cat "$W/proxy.out")"; exit 1; }

slot=soak prefix=soak cfg="$W/soak.conf" logf="$W/soak.log"
sluice_config "$cfg" "$slot" "$prefix" "commit.interval.ms = 50" "kafka.transaction.timeout.ms = 10000" \
    "postgres.conninfo = host=127.0.0.1 port=$PORT dbname=sluice_test user=sluice password=sluice"
sluice_start "$cfg" "$logf"
pid=$SLUICE_PID
wait_for -p "$pid" 30 slot_exists "$slot" || { log "slot $slot was not created: $(tail -3 "$logf")"; exit 1; }
"$VERIFY" sample --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" --prefix "$prefix" \
    --slot "$slot" --out "$W/samples" --interval-ms 200 2>>"$W/samples.log" &
sampler=$!
workload_loop "$W/running" $((SEED * 100)) # seeds SEED * 100000 + 1, + 2, …
wl=$WL_PID

declare -A count
live_checks=0
live_failures=0
ensure_sluice() {
    # This loop supervises sluice as dist/sluice.service does: it restarts it after
    # kill -9 (137) and after the exits that mean "a peer was unreachable at start"
    # (4 PostgreSQL, 7 Kafka — a fault can hit just as sluice starts). Every other
    # exit (those systemd must not restart: 2 3 5 6 8 9, and 1) is a finding.
    if ! kill -0 "$pid" 2>/dev/null; then
        local rc=0
        wait "$pid" 2>/dev/null || rc=$?
        case "$rc" in
        137) ;;
        4 | 7)
            log "sluice exited $rc at start (peer unreachable), restarting: $(grep -E 'FATAL' "$logf" | tail -1 | cut -c1-160)"
            count[start_retry]=$((${count[start_retry]:-0} + 1))
            ;;
        *)
            log "sluice exited $rc on its own: $(grep -E 'FATAL' "$logf" | tail -1)"
            count[unexpected_exit]=$((${count[unexpected_exit]:-0} + 1))
            ;;
        esac
        sluice_start "$cfg" "$logf"
        pid=$SLUICE_PID
    fi
}

RANDOM=$SEED
start=$SECONDS
points=(after_commit before_commit after_confirm mid_txn)
while [ $((SECONDS - start)) -lt "$SECS" ]; do
    sleep $((5 + RANDOM % 20)) # the random schedule
    ensure_sluice
    kind=$((RANDOM % 8))
    case $kind in
    0)
        log "fault: kill -9 sluice"
        kill -9 "$pid" 2>/dev/null
        ;;
    1)
        p="${points[$((RANDOM % 4))]}" n=$((RANDOM % 5 + 1))
        [ "$p" = mid_txn ] && n=$((RANDOM % 3000 + 1))
        log "fault: restart sluice armed to crash at $p:$n"
        kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        SLUICE_CRASH_AT="$p:$n" sluice_start "$cfg" "$logf"
        pid=$SLUICE_PID
        kind=crash_point
        ;;
    2)
        log "fault: PostgreSQL stopped with -m immediate, restarted"
        pg_restart immediate
        ;;
    3)
        n=$((1 + RANDOM % 3))
        log "fault: broker $n killed for 10 s"
        kafka_stop_node "$n"
        sleep 10 # the fault, held
        kafka_start_node "$n"
        ;;
    4)
        n=$((1 + RANDOM % 3))
        log "fault: broker $n frozen for 15 s (longer than the transaction timeout)"
        kill -STOP "$(kafka_node_pid "$n")"
        sleep 15 # the fault, held
        kill -CONT "$(kafka_node_pid "$n")"
        ;;
    5)
        log "fault: link to PostgreSQL stalled 15 s (wal_sender_timeout 10 s)"
        kill -USR1 "$PROXY_PID"
        sleep 15 # the fault, held
        kill -USR2 "$PROXY_PID"
        ;;
    6)
        log "fault: link to PostgreSQL cut"
        kill -HUP "$PROXY_PID"
        ;;
    7)
        log "check: read_committed consumer while faults happen (V3 live)"
        live_checks=$((live_checks + 1))
        verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger --live >"$W/live.out" 2>&1 ||
            { live_failures=$((live_failures + 1)); cat "$W/live.out" >&2; }
        ;;
    esac
    count[$kind]=$((${count[$kind]:-0} + 1))
done
rounds_stop "$W/running" "$wl"
ensure_sluice

ok=0
lsn="$(sync_barrier)"
t0=$SECONDS
wait_confirmed "$slot" "$lsn" 300 || { log "V7: not caught up within 300 s after the last fault"; ok=1; }
log "caught up $((SECONDS - t0)) s after the last fault"
rc=0
sluice_stop "$pid" || rc=$?
[ "$rc" -eq 0 ] || { log "sluice exited $rc on SIGTERM"; ok=1; }
kill -TERM "$sampler"; wait "$sampler" || { log "V6 sampler found violations"; ok=1; }
verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger >"$W/final.verify" 2>&1 || ok=1
tail -2 "$W/final.verify"
[ "$live_failures" -eq 0 ] || ok=1
[ "${count[unexpected_exit]:-0}" -eq 0 ] || ok=1
loops="$(grep -c 'terminating walsender process due to replication timeout' "$PG_LOG" || true)"
stalls="${count[5]:-0}"
[ "$loops" -le $((stalls + 2)) ] || { log "V7: $loops walsender timeouts for $stalls link stalls"; ok=1; }

summary_line="soak $DURATION seed $SEED: kills ${count[0]:-0}, crash points ${count[crash_point]:-0}, PostgreSQL restarts ${count[2]:-0}, broker kills ${count[3]:-0}, broker freezes ${count[4]:-0}, PostgreSQL link stalls ${count[5]:-0}, link cuts ${count[6]:-0}, live read_committed checks $live_checks ($live_failures failed), restarts after exit 4/7 at start ${count[start_retry]:-0}, unexpected exits ${count[unexpected_exit]:-0}; $(sed -n 's/.*ledger \([0-9]*\) transactions \/ \([0-9]*\) changes.*/\1 transactions, \2 changes verified/p' "$W/final.verify"); V6 sampler: $(cat "$W/samples"); walsender timeouts $loops; result: $([ "$ok" -eq 0 ] && echo PASS || echo FAIL)"
echo "$summary_line"
mkdir -p "$REPO/build"
echo "$summary_line" >>"$REPO/build/soak-results.txt"
exit "$ok"
