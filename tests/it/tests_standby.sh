# shellcheck shell=bash
# Hot standby and several instances (issue 14), sourced by run.sh. The long
# standby run (3 instances, >= 10 takeovers under load) is tests/fault/standby.sh
# (make standby-test); these are the quick checks of each behaviour.

# standby_config FILE SLOT PREFIX NAME [extra lines...]: an instance in standby
# mode with its own application_name (so pg_stat_replication says whose
# walsender it is) and a metrics port; short standby timings keep the test quick.
standby_config() {
    local file="$1" slot="$2" prefix="$3" name="$4"
    shift 4
    sluice_config "$file" "$slot" "$prefix" \
        "postgres.conninfo = $PG_CONNINFO application_name=$name" \
        "metrics.listen = 127.0.0.1:0" "standby = true" \
        "standby.poll.interval.ms = 200" "standby.takeover.timeout.ms = 3000" "$@"
}

# walsender_app SLOT: the application_name of the walsender streaming SLOT (empty if none).
walsender_app() {
    pg_psql -Atc "SELECT coalesce(r.application_name, '') FROM pg_replication_slots s
                  JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = '$1'"
}

# True once the walsender of SLOT belongs to the instance named NAME.
streamed_by() {
    [ "$(walsender_app "$1")" = "$2" ]
}

# Two instances in standby mode on one slot: one streams, the other waits
# (healthy, role standby, listed by `sluice status`) and takes over when the
# active one is killed (kill -9: at once) or frozen (SIGSTOP past
# standby.takeover.timeout.ms: the lease is not renewed). A frozen instance
# that comes back finds itself fenced and waits as a standby again, instead
# of exiting 8. Exactly once through it all.
test_standby_takes_over_and_a_frozen_active_returns_as_standby() {
    local slot=it_sb prefix=itsb rc
    fresh_tables
    standby_config "$W/sb-a.conf" "$slot" "$prefix" it_sb_a
    standby_config "$W/sb-b.conf" "$slot" "$prefix" it_sb_b
    rm -f "$W"/sb-a.log "$W"/sb-b.log
    sluice_start "$W/sb-a.conf" "$W/sb-a.log"
    local a=$SLUICE_PID
    wait_log "$W/sb-a.log" 'streaming from slot' 60 "$a"
    sluice_start "$W/sb-b.conf" "$W/sb-b.log" --standby
    local b=$SLUICE_PID
    wait_log "$W/sb-b.log" "standby: slot \"$slot\" is streamed by the instance holding its lease" 30 "$b"
    local pa pb
    pa="$(metrics_port "$W/sb-a.log")"
    pb="$(metrics_port "$W/sb-b.log")"
    [ "$(metric "$pa" 'sluice_role{role="active"}')" = 1 ] || fail "A does not report the active role"
    [ "$(metric "$pb" 'sluice_role{role="standby"}')" = 1 ] || fail "B does not report the standby role"
    [ "$(health_code "$pb")" = 200 ] || fail "a healthy standby's /healthz is not 200: $(curl -s "http://127.0.0.1:$pb/healthz")"
    curl -s "http://127.0.0.1:$pb/healthz" | grep -q '^standby: the lease of slot' ||
        fail "the standby's /healthz does not say it is a standby: $(curl -s "http://127.0.0.1:$pb/healthz")"
    "$SLUICE" status -c "$W/sb-a.conf" >"$W/sb.status" 2>&1 || fail "sluice status failed: $(cat "$W/sb.status")"
    grep -q '^active instance:  holds the lease' "$W/sb.status" &&
        grep -q '^standby instances: 1 waiting' "$W/sb.status" ||
        fail "sluice status does not show one active and one standby instance: $(cat "$W/sb.status")"
    streamed_by "$slot" it_sb_a || fail "the walsender is not A's: $(walsender_app "$slot")"

    workload_loop "$W/sb.running" 81 100 2

    # kill -9: the lease and the slot are freed with A's sessions; B takes over at once.
    kill -9 "$a"
    wait "$a" 2>/dev/null || true
    wait_log "$W/sb-b.log" 'took over the lease' 30 "$b" || fail "B did not take over after kill -9 of A"
    wait_for 30 streamed_by "$slot" it_sb_b || fail "B does not stream after the takeover"
    wait_progress "$slot" 60 || fail "no progress after the takeover"
    sluice_start "$W/sb-a.conf" "$W/sb-a.log"
    a=$SLUICE_PID
    wait_log "$W/sb-a.log" 'standby: slot .* is streamed by' 30 "$a" || fail "the restarted A does not wait as a standby"

    # SIGSTOP past the takeover timeout: B's lease goes unrenewed; A ends its
    # session and B's walsender, fences B's producer, and streams.
    kill -STOP "$b"
    wait_for 60 streamed_by "$slot" it_sb_a || fail "A did not take over from the frozen B"
    grep -q 'has not renewed its lease' "$W/sb-a.log" || fail "A took over without saying why"
    wait_progress "$slot" 60 || fail "no progress after the takeover from the frozen B"
    kill -CONT "$b"
    wait_log "$W/sb-b.log" 'back to standby' 60 "$b" || fail "the returning B did not go back to standby"
    wait_log "$W/sb-b.log" 'standby: slot .* is streamed by' 30 "$b" || fail "the returning B does not wait as a standby"
    kill -0 "$b" || fail "the returning B exited (want: back to standby)"
    streamed_by "$slot" it_sb_a || fail "A no longer streams after B came back: $(walsender_app "$slot")"
    [ "$(metric "$pb" sluice_takeovers_total)" = 1 ] || fail "B's sluice_takeovers_total is not 1"

    rounds_stop "$W/sb.running" "$WL_PID" || true
    wait_progress "$slot" 120 || fail "the last changes did not arrive"
    rc=0; sluice_stop "$b" || rc=$?
    [ "$rc" -eq 0 ] || fail "the standby B exited $rc on SIGTERM (want 0)"
    rc=0; sluice_stop "$a" || rc=$?
    [ "$rc" -eq 0 ] || fail "the active A exited $rc on SIGTERM (want 0)"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger | tee "$W/$prefix.verify"
    drop_slot "$slot"
}

# Without standby mode, a second instance waits up to 15 s for the slot and
# then exits 8; SIGTERM during that wait is an ordinary stop (exit 0), not
# "in use by another instance" and exit 8 as it once was.
test_sigterm_while_waiting_for_the_slot_exits_0() {
    local slot=it_sw prefix=itsw cfg="$W/sw.conf" rc
    sluice_config "$cfg" "$slot" "$prefix"
    rm -f "$W/sw-a.log" "$W/sw-b.log"
    sluice_start "$cfg" "$W/sw-a.log"
    local a=$SLUICE_PID
    wait_log "$W/sw-a.log" 'streaming from slot' 60 "$a"
    sluice_start "$cfg" "$W/sw-b.log"
    local b=$SLUICE_PID
    # Its preflight is waiting once it has started and not ended (the wait is 15 s).
    wait_log "$W/sw-b.log" 'starting \(librdkafka [^)]*\): slot' 10 "$b"
    sleep 2 # inside the 15 s wait: the moment the signal must be handled at
    rc=0; sluice_stop "$b" 30 || rc=$?
    [ "$rc" -eq 0 ] || fail "SIGTERM while waiting for the slot: exit $rc (want 0): $(tail -2 "$W/sw-b.log")"
    ! grep -q 'is in use by PostgreSQL backend' "$W/sw-b.log" ||
        fail "a stop while waiting was reported as another instance holding the slot"
    kill -0 "$a" || fail "the first instance died"
    rc=0; sluice_stop "$a" || rc=$?
    [ "$rc" -eq 0 ] || fail "the first instance exited $rc on SIGTERM"
    drop_slot "$slot"
}

# Three instances side by side on one database, each with its own schema of
# tables, publication, slot (so transactional id) and topic prefix (so
# checkpoint topic), under three concurrent workloads whose transactions stay
# within one schema: each instance delivers its own tables exactly once, and
# `sluice status` of each shows its own slot and checkpoint.
test_three_instances_side_by_side_each_exactly_once() {
    local i rc pids=() wls=()
    for i in 1 2 3; do
        local schema=side_$i
        pg_psql -q -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $schema CASCADE" \
            -c "DROP PUBLICATION IF EXISTS side_$i" \
            -c "CREATE SCHEMA $schema" -c "GRANT USAGE ON SCHEMA $schema TO sluice"
        "$WORKLOAD" "$PG_ADMIN_CONNINFO options='-c search_path=$schema'" --setup --txns 0 >/dev/null
        pg_psql -q -c "CREATE PUBLICATION side_$i FOR TABLE $schema.wl_a, $schema.wl_b, $schema.wl_c" \
            -c "GRANT SELECT ON ALL TABLES IN SCHEMA $schema TO sluice"
        sluice_config "$W/side-$i.conf" "it_side_$i" "itside$i" "postgres.publication = side_$i"
        rm -f "$W/side-$i.log"
        sluice_start "$W/side-$i.conf" "$W/side-$i.log"
        pids+=("$SLUICE_PID")
    done
    for i in 1 2 3; do
        wait_log "$W/side-$i.log" 'streaming from slot' 60 "${pids[$((i - 1))]}" || return 1
    done
    for i in 1 2 3; do
        "$WORKLOAD" "$PG_ADMIN_CONNINFO options='-c search_path=side_$i'" --clients 2 \
            --txns "${IT_SIDE_TXNS:-1000}" --seed $((90 + i)) >"$W/side-$i.wl" 2>&1 &
        wls+=($!)
    done
    for i in 1 2 3; do
        rc=0
        wait "${wls[$((i - 1))]}" || rc=$?
        [ "$rc" -eq 0 ] || fail "workload $i exited $rc: $(tail -2 "$W/side-$i.wl")"
    done
    for i in 1 2 3; do
        wait_progress "it_side_$i" 120 || fail "instance $i did not catch up"
        "$SLUICE" status -c "$W/side-$i.conf" >"$W/side-$i.status" 2>&1 ||
            fail "sluice status of instance $i failed: $(cat "$W/side-$i.status")"
        grep -q "^slot \"it_side_$i\": active" "$W/side-$i.status" &&
            grep -q "^checkpoint: Kafka transaction [0-9]* in \"itside$i.sluice.checkpoint\"" "$W/side-$i.status" &&
            grep -q '^consistency: ok' "$W/side-$i.status" ||
            fail "sluice status of instance $i: $(cat "$W/side-$i.status")"
        log "instance $i: $(head -1 "$W/side-$i.status"); $(grep '^checkpoint:' "$W/side-$i.status")"
    done
    for i in 1 2 3; do
        rc=0
        sluice_stop "${pids[$((i - 1))]}" || rc=$?
        [ "$rc" -eq 0 ] || fail "instance $i exited $rc on SIGTERM"
    done
    for i in 1 2 3; do
        verify_check "itside$i" "it_side_$i" --schema "side_$i" --tables wl_a,wl_b,wl_c \
            --ledger "side_$i.wl_ledger" >"$W/side-$i.verify" 2>&1 ||
            { cat "$W/side-$i.verify" >&2; fail "instance $i: not exactly once"; }
        log "instance $i: $(grep -E 'ledger|OK' "$W/side-$i.verify" | tr '\n' ' ')"
        drop_slot "it_side_$i"
    done
}

# producer_epoch TXID: the producer epoch Kafka's coordinator holds for transactional id TXID.
producer_epoch() {
    kafka_tool org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
        describe --transactional-id "$1" 2>/dev/null | awk 'NR == 2 { print $4 }'
}

# A stop asked for while sluice re-checks the slot after being fenced without
# holding it ends the run there: no new producer, no fence of whoever holds
# the transactional id (it once went on to open the sink, fencing with
# init_transactions, and only then noticed the stop: the producer epoch tells). The scenario: sluice freezes itself inside a Kafka
# transaction (test point mid_txn, SIGSTOP); PostgreSQL ends its walsender
# (wal_sender_timeout), and another producer with its transactional id
# fences it. Woken up, it is fenced with a transaction older than
# transaction.timeout.ms and without the slot, so it re-checks the slot, and
# the test point recheck_slot asks for the stop right there.
test_sigterm_during_the_slot_recheck_fences_nobody() {
    local slot=it_rk prefix=itrk cfg="$W/rk.conf" logf="$W/rk.log" rc
    rm -f "$logf"
    sluice_config "$cfg" "$slot" "$prefix" "kafka.transaction.timeout.ms = 3000"
    SLUICE_CRASH_AT="mid_txn:1:STOP,recheck_slot:1:TERM" sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'streaming from slot' 60 "$pid"
    pg_psql -c "INSERT INTO wl_a SELECT g, 'rk', 1 FROM generate_series(999900, 999909) g
                ON CONFLICT (id) DO UPDATE SET n = wl_a.n + 1" >/dev/null
    wait_log "$logf" 'test point "mid_txn" reached' 30 "$pid" || return 1
    wait_for 60 slot_inactive "$slot" || fail "PostgreSQL did not end the frozen instance's walsender"
    "$REPO/build/tools/ktxn" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$prefix.sluice.checkpoint" \
        --id "sluice-$slot" --key fence-test >"$W/rk.ktxn" 2>&1 ||
        fail "the fencing producer failed: $(cat "$W/rk.ktxn")"
    local epoch
    epoch="$(producer_epoch "sluice-$slot")"
    [ -n "$epoch" ] || fail "no producer epoch for sluice-$slot"
    kill -CONT "$pid"
    rc=0
    wait_exit "$pid" 60 || rc=$?
    [ "$rc" -eq 0 ] || fail "exit $rc after a stop during the re-check (want 0): $(tail -3 "$logf")"
    grep -q 'test point "recheck_slot" reached' "$logf" ||
        { fail "the scenario did not reach the re-check: $(grep -E 'WARNING|FATAL' "$logf" | tail -3)"; return 1; }
    # No new producer: the epoch the other producer left is still the last one.
    [ "$(producer_epoch "sluice-$slot")" = "$epoch" ] ||
        fail "sluice fenced again after the stop was asked for (producer epoch $epoch -> $(producer_epoch "sluice-$slot"))"
    drop_slot "$slot"
}
