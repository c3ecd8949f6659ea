# shellcheck shell=bash
# Fault scenarios (sourced by run.sh). Each fault_* function is one scenario;
# it records a results row and fails if an invariant broke.

. "$REPO/tests/it/tests.sh"

# The workload runs in rounds (workload_loop, tests/it/lib.sh) while faults
# happen; a round that fails under a fault is no finding: the ledger holds
# what committed. Between faults a scenario waits until sluice has caught up
# (wait_progress): the next fault then hits a pipeline that is streaming
# again. The sleeps that remain hold a fault for a set time.

# recovered SLOT WHAT: sluice caught up after WHAT, or the scenario fails (V7).
recovered() {
    wait_progress "$1" 180 || fail "V7: $1 did not catch up within 180 s after $2"
}

# scenario_start PREFIX SLOT SEED [config lines...]: empty tables; sluice on SLOT
# with topics PREFIX.* (config $W/PREFIX.conf, log $W/PREFIX.log); the
# workload in rounds (workload_loop $W/PREFIX.running SEED); returns once
# sluice streams it. Sets SLUICE_PID and WL_PID.
scenario_start() {
    local prefix="$1" slot="$2" seed="$3"
    shift 3
    fresh_tables
    sluice_config "$W/$prefix.conf" "$slot" "$prefix" "$@"
    sluice_start "$W/$prefix.conf" "$W/$prefix.log"
    wait_slot_exists "$slot"
    workload_loop "$W/$prefix.running" "$seed"
    recovered "$slot" "its start"
}

# finish PREFIX SLOT PID: catch up, stop gracefully, verify; sets VERIFIED.
finish_and_verify() {
    local prefix="$1" slot="$2" pid="$3"
    shift 3
    local lsn rc=0
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 180 || fail "V7: $slot did not catch up within 180 s after the last fault"
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc on SIGTERM"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger "$@" >"$W/$prefix.verify" 2>&1 || {
        cat "$W/$prefix.verify" >&2
        fail "verifier found violations"
    }
    tail -1 "$W/$prefix.verify" >&2
    VERIFIED="$(verified_changes "$W/$prefix.verify")"
    drop_slot "$slot"
}

timeout_loops() {
    grep -c "terminating walsender process due to replication timeout" "$PG_LOG" 2>/dev/null || true
}

# 1. kill -9 at random moments and at named crash points.
fault_01_crash() {
    local seed total_kills=0 total_changes=0
    for seed in $FAULT_SEEDS; do
        crash_run "$SLUICE" "fcrash$seed" "f_crash$seed" "$FAULT_CRASHES" "$seed" || {
            record "kill -9 (random + named crash points)" "seed $seed" "$CRASH_KILLS" "-" "**FAILED**"
            cat "$W/fcrash$seed.verify" >&2
            fail "crash run seed $seed"
        }
        total_kills=$((total_kills + CRASH_KILLS))
        total_changes=$((total_changes + $(verified_changes "$W/fcrash$seed.verify")))
    done
    record "kill -9 at random moments and at crash points (mid-txn, before commit, after commit before confirm, after confirm)" \
        "$(echo $FAULT_SEEDS | wc -w)" "$total_kills kills" "$total_changes" "pass"
}

# 1b. The skip rule: a build that streams from the slot's own position (so
# PostgreSQL resends what Kafka holds after every crash) stays exactly once.
fault_02_skip_rule() {
    harness_build build/mutants/sluice-START_AT_SLOT
    crash_run "$SLUICE_BUILD/mutants/sluice-START_AT_SLOT" fskip f_skip "$FAULT_CRASHES" 7 || {
        cat "$W/fskip.verify" >&2
        fail "exactly-once broke when PostgreSQL resent transactions"
    }
    local skipped
    skipped="$(sed -n 's/.*skipped \([0-9]*\) transactions Kafka already holds.*/\1/p' "$W/fskip.log" | awk '{ s += $1 } END { print s + 0 }')"
    log "transactions resent by PostgreSQL and skipped: $skipped"
    [ "$skipped" -gt 0 ] || fail "PostgreSQL resent nothing: the skip rule was not exercised"
    record "PostgreSQL resends what Kafka holds (stream from the slot, not the checkpoint)" 1 \
        "$CRASH_KILLS kills, $skipped resent txns skipped" "$(verified_changes "$W/fskip.verify")" "pass"
}

# 2. PostgreSQL stopped with -m immediate and restarted (the slot may go back).
fault_03_pg_immediate_restart() {
    local prefix=fpg slot=f_pg k
    scenario_start "$prefix" "$slot" 3
    local pid=$SLUICE_PID
    for k in 1 2 3; do
        pg_restart immediate
        log "PostgreSQL restarted with -m immediate ($k/3)"
        recovered "$slot" "restart $k"
    done
    rounds_stop "$W/fpg.running" "$WL_PID" || true
    kill -0 "$pid" || fail "sluice exited when PostgreSQL restarted"
    finish_and_verify "$prefix" "$slot" "$pid"
    record "PostgreSQL stopped with -m immediate and restarted, mid-workload" 1 "3 restarts" "$VERIFIED" "pass"
}

coordinator_of() {
    kafka_tool org.apache.kafka.tools.TransactionsCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
        describe --transactional-id "$1" 2>/dev/null | awk 'NR == 2 { print $1 }'
}

leader_of() {
    kafka_topics --describe --topic "$1" 2>/dev/null | sed -n 's/.*Partition: 0.*Leader: \([0-9]*\).*/\1/p' | head -1
}

# 3. A broker killed mid-transaction: the transaction coordinator, then a partition leader.
fault_04_broker_kill() {
    local prefix=fbroker slot=f_broker
    scenario_start "$prefix" "$slot" 4
    local pid=$SLUICE_PID
    local coord leader
    coord="$(coordinator_of "sluice-$slot")"
    [ -n "$coord" ] || { fail "could not find the transaction coordinator"; return 1; }
    log "killing broker $coord (transaction coordinator of sluice-$slot)"
    kafka_stop_node "$coord"
    sleep 10 # the fault, held
    kafka_start_node "$coord"
    recovered "$slot" "the coordinator's return"
    leader="$(leader_of "$prefix.public.wl_a")"
    [ -n "$leader" ] || { fail "could not find the leader of $prefix.public.wl_a"; return 1; }
    log "killing broker $leader (leader of $prefix.public.wl_a-0)"
    kafka_stop_node "$leader"
    sleep 10 # the fault, held
    kafka_start_node "$leader"
    recovered "$slot" "the leader's return"
    rounds_stop "$W/fbroker.running" "$WL_PID" || true
    kill -0 "$pid" || fail "sluice exited when a broker died"
    finish_and_verify "$prefix" "$slot" "$pid"
    record "a broker killed mid-transaction (3 brokers, RF 3, min.insync 2): the coordinator, then a partition leader" \
        1 "2 broker kills" "$VERIFIED" "pass"
}

# 5. The Kafka side stalled longer than the transaction timeout: the
# coordinator broker frozen (SIGSTOP) past kafka.transaction.timeout.ms.
fault_06_kafka_stall() {
    local prefix=fstall slot=f_stall
    scenario_start "$prefix" "$slot" 5 "kafka.transaction.timeout.ms = 10000"
    local pid=$SLUICE_PID
    local coord kpid
    coord="$(coordinator_of "sluice-$slot")"
    kpid="$(kafka_node_pid "$coord")"
    log "freezing broker $coord (coordinator) for 15 s, longer than transaction.timeout.ms"
    kill -STOP "$kpid"
    sleep 15 # the fault, held
    kill -CONT "$kpid"
    recovered "$slot" "the stall"
    rounds_stop "$W/fstall.running" "$WL_PID" || true
    kill -0 "$pid" || fail "sluice exited after the broker stall: $(tail -3 "$W/fstall.log")"
    finish_and_verify "$prefix" "$slot" "$pid"
    record "Kafka stalled longer than transaction.timeout.ms (coordinator broker frozen 15 s > 10 s)" \
        1 "1 stall" "$VERIFIED" "pass"
}

# 6. The link to PostgreSQL stalled past wal_sender_timeout, then cut.
fault_07_pg_link_stall() {
    local prefix=flink slot=f_link port
    port="$(_env_free_port)"
    "$PROXY" "$port" 127.0.0.1 "$PGPORT_TEST" >"$W/proxy.out" 2>&1 &
    local proxy=$!
    env_on_exit "kill $proxy 2>/dev/null || true"
    wait_for -p "$proxy" 10 log_has "$W/proxy.out" '^ready' || { fail "tcpproxy did not start: $(cat "$W/proxy.out")"; return 1; }
    local before
    before="$(timeout_loops)"
    scenario_start "$prefix" "$slot" 6 \
        "postgres.conninfo = host=127.0.0.1 port=$port dbname=sluice_test user=sluice password=sluice"
    local pid=$SLUICE_PID
    log "stalling the link to PostgreSQL for 15 s (wal_sender_timeout is 10 s)"
    kill -USR1 "$proxy"
    sleep 15 # the fault, held
    kill -USR2 "$proxy"
    recovered "$slot" "the stall"
    log "cutting the link to PostgreSQL"
    kill -HUP "$proxy"
    recovered "$slot" "the cut"
    rounds_stop "$W/flink.running" "$WL_PID" || true
    kill -0 "$pid" || fail "sluice exited when its PostgreSQL link broke"
    finish_and_verify "$prefix" "$slot" "$pid"
    local after
    after="$(timeout_loops)"
    log "walsender replication timeouts: $((after - before)) (the stall itself causes one)"
    [ $((after - before)) -le 2 ] || fail "V7: replication-timeout loop ($((after - before)) timeouts)"
    kill "$proxy" 2>/dev/null || true
    record "link to PostgreSQL stalled past wal_sender_timeout (15 s > 10 s), then cut" 1 "1 stall, 1 cut" "$VERIFIED" "pass"
}

# 7. A second instance on the same slot; a stalled first instance comes back
# after a second took over (the integration test, run here on 3 brokers).
fault_08_second_instance() {
    test_second_instance_and_fencing
    record "a second instance on the same slot; a stalled first instance returning after a takeover" \
        1 "1 refused start, 1 stall + takeover" "$(verified_changes "$W/ittwo.verify" 2>/dev/null || echo -)" "pass (first exits 8, confirms nothing)"
}

# 8. The slot dropped, recreated, advanced, or invalidated behind sluice's back.
fault_09_slot_tampering() {
    local prefix=fslot slot=f_slot cfg="$W/fslot.conf" rc out="$W/fslot.out"
    sluice_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$W/fslot.log"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 100 --seed 91 >/dev/null
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 60
    sluice_stop "$pid"

    expect_refusal() {
        local what="$1" pattern="$2" before
        before="$(slot_confirmed "$slot")"
        rc=0
        "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
        [ "$rc" -eq 6 ] && grep -q "$pattern" "$out" || { fail "$what: want exit 6 and \"$pattern\", got $rc: $(tail -2 "$out")"; return 1; }
        [ "$(slot_confirmed "$slot")" = "$before" ] || fail "$what: the slot moved"
        log "$what: refused: $(grep -m1 "$pattern" "$out" | sed 's/.*FATAL: *//' | cut -c1-150)"
    }
    drop_slot "$slot"
    expect_refusal "slot dropped" "does not exist, but Kafka holds a checkpoint"
    pg_psql -Atc "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
    expect_refusal "slot recreated" "ahead of the Kafka checkpoint"
    drop_slot "$slot"

    # Invalidated by max_slot_wal_keep_size.
    local prefix2=fslot2 slot2=f_slot2 cfg2="$W/fslot2.conf"
    sluice_config "$cfg2" "$slot2" "$prefix2"
    sluice_start "$cfg2" "$W/fslot2.log"
    pid=$SLUICE_PID
    wait_slot_exists "$slot2"
    lsn="$(sync_barrier)"
    wait_confirmed "$slot2" "$lsn" 60
    sluice_stop "$pid"
    pg_psql -q -c "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'" -c "SELECT pg_reload_conf()" >/dev/null
    pg_psql -q -c "CREATE TABLE IF NOT EXISTS filler (x text)" >/dev/null
    local k
    for k in 1 2 3 4 5; do
        pg_psql -q -c "INSERT INTO filler SELECT repeat('f', 1000) FROM generate_series(1, 20000)" \
            -c "SELECT pg_switch_wal()" -c "CHECKPOINT" >/dev/null
        [ "$(pg_psql -Atc "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '$slot2'")" = lost ] && break
    done
    pg_psql -q -c "ALTER SYSTEM RESET max_slot_wal_keep_size" -c "SELECT pg_reload_conf()" -c "DROP TABLE filler" >/dev/null
    [ "$(pg_psql -Atc "SELECT wal_status FROM pg_replication_slots WHERE slot_name = '$slot2'")" = lost ] ||
        { fail "could not invalidate the slot"; return 1; }
    rc=0
    "$SLUICE" run -c "$cfg2" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 6 ] && grep -q "invalidated" "$out" || fail "invalidated slot: want exit 6, got $rc: $(tail -2 "$out")"
    log "slot invalidated: refused: $(grep -m1 invalidated "$out" | sed 's/.*FATAL: *//' | cut -c1-150)"
    drop_slot "$slot2"
    record "slot dropped, recreated, advanced (integration test) or invalidated by max_slot_wal_keep_size" \
        1 "3 tamperings" "-" "pass (exit 6, slot untouched)"
}

# 9. A row larger than the broker's message limit: a clear stop with nothing
# of its transaction visible; after raising the limit, delivered exactly once.
# The row (5 MB) is also larger than the producer's default buffer (4 MB):
# sluice sizes the buffer for message.max.bytes (librdkafka would refuse the
# record as "queue full" for ever), and a buffer set too small by hand is a
# configuration error.
fault_10_row_too_large() {
    local prefix=flarge slot=f_large cfg="$W/flarge.conf" out="$W/flarge.out"
    fresh_tables
    sluice_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$W/flarge.log"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 100 --seed 101 >/dev/null
    # 5 MB of text in one row (the default limit is 1 MB).
    pg_psql -q -c "BEGIN" \
        -c "INSERT INTO wl_a VALUES (-1, 'small row in the same transaction', 1)" \
        -c "INSERT INTO wl_c VALUES (-1, (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 163840) g), 1)" \
        -c "INSERT INTO wl_ledger VALUES (txid_current() % 4294967296, 2, -1)" -c "COMMIT"
    local rc=0
    wait_exit "$pid" 60 || rc=$?
    [ "$rc" -eq 9 ] || { fail "want exit 9 for a record over the limit, got $rc: $(tail -3 "$W/flarge.log")"; return 1; }
    grep -q "message.max.bytes" "$W/flarge.log" || fail "the error does not name the setting to raise"
    log "stopped: $(grep -m1 'FATAL' "$W/flarge.log" | sed 's/.*FATAL: *//' | cut -c1-200)"
    # Nothing of that transaction is visible; everything before it is whole.
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger --live >"$out" 2>&1 ||
        { cat "$out" >&2; fail "something torn or extra is visible after the stop"; }
    "$REPO/build/tools/verify" check --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" --prefix "$prefix" \
        --slot "$slot" --tables wl_c --no-state 2>/dev/null | grep -q '"id":-1' && fail "the large row is visible"
    # Raise the limits (producer and topic) and restart: delivered exactly once.
    kafka_tool kafka.admin.ConfigCommand --bootstrap-server "$KAFKA_BOOTSTRAP" --alter --entity-type topics \
        --entity-name "$prefix.public.wl_c" --add-config max.message.bytes=10485760 >/dev/null 2>&1 ||
        { fail "could not raise the topic's max.message.bytes"; return 1; }
    echo "kafka.message.max.bytes = 10485760" >>"$cfg"
    # A producer buffer set by hand below one record of that size: refused.
    cp "$cfg" "$cfg.small"
    echo "kafka.queue.buffering.max.kbytes = 1024" >>"$cfg.small"
    rc=0
    timeout 60 "$SLUICE" run -c "$cfg.small" >"$W/flarge.small" 2>&1 || rc=$?
    [ "$rc" -eq 3 ] && grep -q 'kafka.queue.buffering.max.kbytes" = 1024 cannot hold one record of "kafka.message.max.bytes" = 10485760: set it to at least 10240' "$W/flarge.small" ||
        { fail "a buffer below message.max.bytes: exit $rc: $(tail -3 "$W/flarge.small")"; return 1; }
    rc=0
    timeout 120 "$SLUICE" check -c "$cfg.small" >"$W/flarge.check" 2>&1 || rc=$?
    [ "$rc" -eq 10 ] && grep -q 'FAIL  Kafka settings.*cannot hold one record' "$W/flarge.check" ||
        { fail "sluice check with that buffer: exit $rc: $(cat "$W/flarge.check")"; return 1; }
    sluice_start "$cfg" "$W/flarge.log"
    pid=$SLUICE_PID
    finish_and_verify "$prefix" "$slot" "$pid"
    record "a row larger than the message limit (5 MB > 1 MB): stop, nothing visible; limit raised: delivered once" \
        1 "1 oversized row" "$VERIFIED" "pass (exit 9, then exactly once)"
}

# 10. A source transaction that would outlive transaction.timeout.ms: a clear
# outcome, no partial visibility, no endless retry; then delivered once.
fault_11_txn_outlives_timeout() {
    local prefix=ftimeout slot=f_timeout cfg="$W/ftimeout.conf" out="$W/ftimeout.out" rows=600000
    fresh_tables
    sluice_config "$cfg" "$slot" "$prefix" "kafka.transaction.timeout.ms = 2000"
    sluice_start "$cfg" "$W/ftimeout.log"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    pg_psql -q -c "BEGIN" -c "INSERT INTO wl_a SELECT g, 'big ' || g, g FROM generate_series(1, $rows) g" \
        -c "INSERT INTO wl_ledger VALUES (txid_current() % 4294967296, $rows, -1)" -c "COMMIT"
    local rc=0 t0=$SECONDS
    wait_exit "$pid" 180 || rc=$?
    if [ "$rc" -eq 124 ]; then
        kill -9 "$pid"
        # What sluice did meanwhile, for whoever reads CI's log (the environment goes with the run).
        grep -E "WARNING|ERROR|FATAL" "$W/ftimeout.log" | cut -c1-400 | tail -12 >&2
        fail "sluice kept retrying a transaction that cannot fit"
        return 1
    fi
    [ "$rc" -eq 9 ] || { fail "want exit 9, got $rc: $(tail -3 "$W/ftimeout.log")"; return 1; }
    grep -q "kafka.transaction.timeout.ms" "$W/ftimeout.log" || fail "the error does not name the setting"
    log "stopped after $((SECONDS - t0)) s: $(grep -m1 FATAL "$W/ftimeout.log" | sed 's/.*FATAL: *//' | cut -c1-220)"
    verify_check "$prefix" "$slot" --tables wl_a --ledger wl_ledger --live >"$out" 2>&1 ||
        { cat "$out" >&2; fail "a partial transaction is visible"; }
    grep -q ' 0 records' "$out" || fail "records of the failed transaction are visible: $(tail -2 "$out")"
    sed -i 's/kafka.transaction.timeout.ms = 2000/kafka.transaction.timeout.ms = 300000/' "$cfg"
    sluice_start "$cfg" "$W/ftimeout.log"
    pid=$SLUICE_PID
    finish_and_verify "$prefix" "$slot" "$pid" --no-state
    record "a source transaction that outlives transaction.timeout.ms ($rows rows, 2 s): clear stop, nothing visible; timeout raised: delivered once" \
        1 "1 over-long txn" "$VERIFIED" "pass (exit 9, then exactly once)"
}

# The verifier is shown to catch what it claims: deliberately broken builds
# (make mutants) must fail the crash scenario.
fault_12_verifier_catches_broken_builds() {
    local m caught=0 total=0 mutants="${FAULT_MUTANTS:-CONFIRM_BEFORE_COMMIT CHECKPOINT_AFTER_COMMIT SPLIT_TXN START_AT_SLOT-NO_SKIP}"
    # shellcheck disable=SC2046  # one target per mutant
    harness_build $(printf 'build/mutants/sluice-%s ' $mutants)
    for m in $mutants; do
        total=$((total + 1))
        local bin="$SLUICE_BUILD/mutants/sluice-$m" how=""
        if CRASH_CATCHUP_TIMEOUT=30 crash_run "$bin" "fm$total" "f_mutant$total" 8 $((60 + total)); then
            fail "the broken build $m passed every check"
            record "broken build: $m" 1 "$CRASH_KILLS kills" "-" "**NOT CAUGHT**"
            continue
        fi
        caught=$((caught + 1))
        [ "$CRASH_SAMPLER_RC" -ne 0 ] && how="$how V6-sampled"
        [ "$CRASH_VERIFY_RC" -ne 0 ] && how="$how $(grep -o '^VIOLATION: V[0-9]\|^VIOLATION: state' "$W/fm$total.verify" | sort -u | sed 's/VIOLATION: //' | tr '\n' ' ')"
        grep -q "ahead of the Kafka checkpoint" "$W/fm$total.log" && how="$how sluice-refused-slot-ahead(V6)"
        log "broken build $m caught by:$how"
        record "broken build: $m" 1 "$CRASH_KILLS kills" "-" "caught by$how"
        pg_psql -Atc "SELECT pg_drop_replication_slot('f_mutant$total') FROM pg_replication_slots WHERE slot_name = 'f_mutant$total'" >/dev/null 2>&1 || true
    done
    [ "$caught" -eq "$total" ]
}

# 13. The walsender frozen (SIGSTOP): the server says nothing and the TCP link
# stays up, as with a server or network that failed silently. sluice notices
# within postgres.receive_timeout_ms (asking for a keepalive half-way), opens a
# new connection, finds its slot still held by its own old walsender and ends
# it instead of taking it for another instance (exit 8); then exactly once.
fault_13_walsender_frozen() {
    local prefix=ffrozen slot=f_frozen logf="$W/ffrozen.log" ws
    scenario_start "$prefix" "$slot" 13 "postgres.receive_timeout_ms = 4000"
    local pid=$SLUICE_PID
    ws="$(pg_psql -Atc "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$slot'")"
    [ -n "$ws" ] || { fail "no walsender holds $slot"; return 1; }
    log "freezing walsender $ws (SIGSTOP)"
    kill -STOP "$ws"
    env_on_exit "kill -CONT $ws 2>/dev/null || true"
    wait_for -p "$pid" 30 log_has "$logf" "walsender of this instance's previous connection" || true # checked below
    kill -CONT "$ws"
    grep -q "PostgreSQL sent nothing for" "$logf" ||
        fail "sluice did not notice the silent server: $(tail -2 "$logf")"
    grep -q "walsender of this instance's previous connection" "$logf" ||
        fail "sluice did not recognise its own old walsender: $(tail -2 "$logf")"
    # pg_terminate_backend's SIGTERM waited while the walsender was stopped: on
    # SIGCONT it ends with that reason (not with the broken socket's).
    wait_for 10 log_has "$PG_LOG" "\[$ws\] .*terminating connection due to administrator command" || true # checked below
    grep -q "\[$ws\] .*terminating connection due to administrator command" "$PG_LOG" ||
        fail "walsender $ws was not terminated by sluice: $(grep "\[$ws\]" "$PG_LOG" | tail -2)"
    log "$(grep -m1 'PostgreSQL sent nothing for' "$logf" | sed 's/.*WARNING: *//' | cut -c1-200)"
    recovered "$slot" "the freeze"
    rounds_stop "$W/ffrozen.running" "$WL_PID" || true
    kill -0 "$pid" 2>/dev/null || fail "sluice exited: $(grep -m1 FATAL "$logf")"
    finish_and_verify "$prefix" "$slot" "$pid"
    record "walsender frozen (SIGSTOP): a server silent on a live TCP link" 1 "1 freeze" "$VERIFIED" \
        "pass (noticed in postgres.receive_timeout_ms 4 s, own old walsender ended, no exit 8)"
}
