# shellcheck shell=bash
# Deployment (issue 14): sluice started before its peers, the compose demo's
# consumer, docker/build.sh check-runtime. The container path itself is
# tested end to end by `make container-test` (tests/container/run.sh),
# outside CI.

# _proxy_start NAME LISTEN_PORT TARGET_PORT: a tcpproxy on 127.0.0.1 (its
# output in $W/NAME.out); sets PROXY_PID; killed when the test ends (reap_sluices).
_proxy_start() {
    local name="$1" port="$2" target="$3"
    "$REPO/build/tools/tcpproxy" "$port" 127.0.0.1 "$target" >"$W/$name.out" 2>&1 &
    PROXY_PID=$!
    echo "$PROXY_PID" >>"${SLUICE_ENV_DIR:-/tmp}/sluice.pids"
    wait_for -p "$PROXY_PID" 10 log_has "$W/$name.out" '^ready' ||
        { fail "tcpproxy $name did not start: $(cat "$W/$name.out")"; return 1; }
}

# _count FILE PATTERN: lines of FILE matching the extended regex (0 if none).
_count() {
    local n
    n="$(grep -Ec -- "$2" "$1" 2>/dev/null)" || true
    echo "${n:-0}"
}
_count_at_least() { [ "$(_count "$1" "$2")" -ge "$3" ]; }

# sluice started while PostgreSQL is not there yet (as in a compose file or a
# pod whose database starts with it): it retries with backoff within
# startup.retry.timeout.ms instead of exiting 4 at once, then streams exactly
# once when the server comes. And when the server never comes, it still ends
# with exit 4 and the reason once the time is up.
test_startup_waits_for_postgres() {
    local slot=it_swpg prefix=itswpg cfg="$W/swpg.conf" logf="$W/swpg.log" port
    port="$(_env_free_port)"
    fresh_tables >/dev/null
    sluice_config "$cfg" "$slot" "$prefix" "startup.retry.timeout.ms = 300000" \
        "postgres.conninfo = host=127.0.0.1 port=$port dbname=sluice_test user=sluice password=sluice"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    # Several attempts while nothing listens (the old behaviour: exit 4 after the first).
    wait_for -p "$pid" 60 _count_at_least "$logf" 'retrying for up to .* s more' 3 ||
        { fail "sluice did not keep retrying PostgreSQL: $(tail -3 "$logf")"; return 1; }
    grep -q 'WARNING: *could not connect to PostgreSQL' "$logf" || fail "the warnings do not name the cause"
    log "while PostgreSQL was away: $(grep -m1 -A1 'WARNING: *could not connect' "$logf" | sed 's/.*WARNING: *//' | tr '\n\t' '  ' | cut -c1-240)"
    _proxy_start swpg-proxy "$port" "$PGPORT_TEST" || return 1
    wait_log "$logf" 'streaming from slot' 60 "$pid" ||
        { fail "sluice did not stream once PostgreSQL was there"; return 1; }
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 141 >/dev/null
    catch_up_and_stop "$slot" "$pid" 60 "sluice started before PostgreSQL"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger ||
        fail "not exactly once after waiting for PostgreSQL"
    drop_slot "$slot"

    # Never there: exit 4 once startup.retry.timeout.ms is over, with the reason.
    local port2 rc=0 out="$W/swpg-gone.out"
    port2="$(_env_free_port)"
    sluice_config "$cfg" "$slot" "$prefix" "startup.retry.timeout.ms = 3000" \
        "postgres.conninfo = host=127.0.0.1 port=$port2 dbname=sluice_test user=sluice password=sluice"
    "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 4 ] || fail "PostgreSQL never there: exit $rc, want 4: $(tail -2 "$out")"
    grep -q 'FATAL: *could not connect to PostgreSQL' "$out" || fail "no FATAL naming the cause: $(tail -2 "$out")"
    [ "$(_count "$out" 'retrying for up to')" -ge 1 ] || fail "it gave up without retrying"
    ! slot_exists "$slot" || fail "a slot was created"
}

# sluice started while the Kafka cluster cannot be reached (its bootstrap
# address answers only later, after more than one startup.timeout.ms): it
# keeps trying within startup.retry.timeout.ms instead of exiting 7, then
# streams exactly once.
test_startup_waits_for_kafka() {
    local slot=it_swk prefix=itswk cfg="$W/swk.conf" logf="$W/swk.log" port
    port="$(_env_free_port)"
    fresh_tables >/dev/null
    sluice_config "$cfg" "$slot" "$prefix" "startup.retry.timeout.ms = 300000" \
        "startup.timeout.ms = 2000" "kafka.bootstrap.servers = 127.0.0.1:$port"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    # Two failed attempts of startup.timeout.ms each (the old behaviour: exit 7 after one).
    wait_for -p "$pid" 90 _count_at_least "$logf" 'WARNING: .*; retrying$' 2 ||
        { fail "sluice did not keep retrying Kafka: $(tail -3 "$logf")"; return 1; }
    log "while Kafka was away: $(grep -m1 'WARNING: .*; retrying$' "$logf" | sed 's/.*WARNING: *//' | cut -c1-200)"
    # The bootstrap address comes up; the broker's advertised address is the real one.
    _proxy_start swk-proxy "$port" "${KAFKA_BOOTSTRAP##*:}" || return 1
    wait_log "$logf" 'streaming from slot' 90 "$pid" ||
        { fail "sluice did not stream once Kafka was there"; return 1; }
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 142 >/dev/null
    catch_up_and_stop "$slot" "$pid" 60 "sluice started before Kafka"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger ||
        fail "not exactly once after waiting for Kafka"
    drop_slot "$slot"
}

# docker/build.sh check-runtime is the proof that the runtime image has every
# library sluice needs: when it cannot look (no objdump, a wrong path, a file
# that is no dynamically linked binary) it must fail, not pass having checked
# nothing. The binary it is given really passes (test_packaging_files).
test_check_runtime_fails_when_it_cannot_check() {
    local d="$W/cr" rc out="$W/cr.out" t
    rm -rf "$d"
    mkdir -p "$d/bin"
    # Every tool the check uses, but objdump.
    for t in sh awk ldconfig dpkg readlink head cut; do
        ln -s "$(command -v "$t")" "$d/bin/$t"
    done
    rc=0; env PATH="$d/bin" sh "$REPO/docker/build.sh" check-runtime "$SLUICE" >"$out" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] && grep -q 'objdump not found' "$out" ||
        fail "without objdump: exit $rc: $(cat "$out")"
    rc=0; "$REPO/docker/build.sh" check-runtime "$d/no-such-binary" >"$out" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] && grep -q 'is not a file' "$out" || fail "a wrong path: exit $rc: $(cat "$out")"
    rc=0; "$REPO/docker/build.sh" check-runtime "$REPO/docker/build.sh" >"$out" 2>&1 || rc=$?
    [ "$rc" -ne 0 ] && grep -q 'cannot check\|cannot read' "$out" || fail "a shell script: exit $rc: $(cat "$out")"
    rc=0; "$REPO/docker/build.sh" check-runtime "$SLUICE" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && grep -q 'libc.so.6 from libc6' "$out" || fail "sluice itself: exit $rc: $(cat "$out")"
}

# The compose demo's consumer (docker/docker-compose.yml, run here with the
# host's kcat and the image's entry script, the broker address swapped): it
# starts before sluice has created any topic, as in the demo, and must print
# each table's events under their topic name within a minute of them being
# committed (a pattern subscription is matched again only at each metadata
# refresh: 5 min by default, which the demo's consumer once waited out).
# IT_DEMO_COMPOSE picks another compose file.
test_demo_consumer_sees_new_topics() {
    local slot=it_demo_consumer cfg="$W/dc.conf" logf="$W/dc.log" out="$W/dc.out" err="$W/dc.err"
    local compose="${IT_DEMO_COMPOSE:-$REPO/docker/docker-compose.yml}"
    local -a args
    mapfile -d '' args < <(python3 - "$compose" "$KAFKA_BOOTSTRAP" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))['services']['consumer']
for a in c['command']:
    sys.stdout.write(a.replace('kafka:9092', sys.argv[2]) + '\0')
PY
)
    [ "${#args[@]}" -gt 0 ] || { fail "no consumer command in $compose"; return 1; }
    setsid sh "$REPO/docker/demo-consumer.sh" "${args[@]}" >"$out" 2>"$err" &
    local cpid=$!
    echo "$cpid" >>"${SLUICE_ENV_DIR:-/tmp}/sluice.pids"
    # Started (and waiting) before any topic of the pattern exists.
    wait_log "$err" 'waiting for a topic matching' 60 "$cpid" || { fail "the consumer did not start: $(tail -3 "$err")"; return 1; }
    # One topic of the pattern exists (so the consumer subscribes), the other
    # two sluice creates later: those the consumer must find by itself.
    kafka_topics --create --topic shop.public.wl_a --partitions 1 --replication-factor 1 >/dev/null
    wait_log "$err" 'rebalanced.*assigned: shop\.public\.wl_a' 60 "$cpid" ||
        { fail "the consumer did not subscribe: $(tail -3 "$err")"; return 1; }
    fresh_tables >/dev/null
    sluice_config "$cfg" "$slot" shop
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'streaming from slot' 60 "$pid" || { fail "sluice did not stream"; return 1; }
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 100 --seed 143 >/dev/null
    wait_progress "$slot" 60 || fail "sluice did not catch up"
    local t0=$SECONDS t
    _dc_all_topics() { grep -q '^shop\.public\.wl_a key=' "$out" && grep -q '^shop\.public\.wl_b key=' "$out" &&
        grep -q '^shop\.public\.wl_c key=' "$out"; }
    if wait_for -p "$cpid" 60 _dc_all_topics; then
        log "the consumer printed every table's events, with topic names, $((SECONDS - t0)) s after they were in Kafka; e.g. $(head -1 "$out" | cut -c1-120)"
    else
        fail "within 60 s of the commit the consumer printed $(grep -c . "$out") lines, $(grep -c '^shop\.public\.wl_[abc] key=' "$out") of them as '<topic> key=…': $(head -c 200 "$out") (stderr: $(tail -3 "$err"))"
    fi
    kill -- "-$cpid" 2>/dev/null || kill "$cpid" 2>/dev/null || true
    sluice_stop "$pid" || fail "sluice did not stop cleanly"
    drop_slot "$slot"
}
