# shellcheck shell=bash
# Helpers shared by the integration tests, fault tests and benchmarks.
# Source after tests/env/env.sh and env_init/pg_start/kafka_start.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SLUICE="${SLUICE_BIN:-$REPO/build/sluice}" # make tsan: a ThreadSanitizer build
VERIFY="$REPO/build/tools/verify"
WORKLOAD="$REPO/build/tools/workload"

_t_failures=0
_t_passed=0

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

fail() {
    log "FAIL: $*"
    _t_failures=$((_t_failures + 1))
    return 1
}

pass() {
    log "PASS: $*"
    _t_passed=$((_t_passed + 1))
}

# Runs one test function; a failing command inside it fails the test, not the run.
# The test runs in a subshell with errexit; the subshell must not be part of an
# `if` or `||` (bash would silently turn errexit off inside it).
run_test() {
    local name="$1" rc=0
    log "=== $name"
    local start=$SECONDS
    ( set -e; "$name" )
    rc=$?
    reap_sluices
    if [ "$rc" -ne 0 ]; then
        _t_failures=$((_t_failures + 1))
        _t_failed_names="${_t_failed_names:-} $name"
        log "--- FAIL: $name (exit $rc, $((SECONDS - start))s)"
        return 0
    fi
    pass "$name ($((SECONDS - start))s)"
}

summary() {
    log "passed: $_t_passed, failed: $_t_failures${_t_failed_names:+ (${_t_failed_names# })}"
    [ "$_t_failures" -eq 0 ]
}

# sluice_config FILE SLOT PREFIX [extra lines...]: writes a 0600 config.
# The streaming tests start on tables left by earlier tests, so they stream
# without an initial snapshot; the snapshot tests add "snapshot.mode = initial".
sluice_config() {
    local file="$1" slot="$2" prefix="$3"
    shift 3
    umask 077
    {
        echo "postgres.conninfo = $PG_CONNINFO"
        echo "postgres.slot = $slot"
        echo "postgres.publication = sluice"
        echo "postgres.status_interval_ms = 1000"
        echo "topic.prefix = $prefix"
        echo "kafka.bootstrap.servers = $KAFKA_BOOTSTRAP"
        echo "checkpoint.idle.interval.ms = 500"
        echo "startup.timeout.ms = 20000"
        echo "snapshot.mode = never"
        for line in "$@"; do echo "$line"; done
    } > "$file"
    umask 022
}

# sluice_start CONFIG LOGFILE [args...]: starts sluice in the background as a child
# of this shell (so `wait` gets its exit code); sets SLUICE_PID.
sluice_start() {
    local cfg="$1" logf="$2"
    shift 2
    "$SLUICE" run -c "$cfg" "$@" >>"$logf" 2>&1 &
    SLUICE_PID=$!
    # Remembered so that a test failing half-way leaves no daemon behind (run_test reaps).
    echo "$SLUICE_PID" >>"${SLUICE_ENV_DIR:-/tmp}/sluice.pids"
}

# Kills every sluice started by sluice_start that is still running.
reap_sluices() {
    local f="${SLUICE_ENV_DIR:-/tmp}/sluice.pids" p
    [ -f "$f" ] || return 0
    while read -r p; do
        kill -9 "$p" 2>/dev/null || true
    done <"$f"
    : >"$f"
}

# sluice_stop PID [timeout]: SIGTERM, wait; returns sluice's exit code.
sluice_stop() {
    local pid="$1" timeout="${2:-60}" i=0
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.2
        i=$((i + 1))
        if [ "$i" -gt $((timeout * 5)) ]; then
            log "sluice $pid did not stop within ${timeout}s"
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            return 124
        fi
    done
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

slot_confirmed() {
    pg_psql -Atc "SELECT coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = '$1'"
}

# sync_barrier: a non-transactional logical message after everything written so far;
# prints its LSN. sluice's checkpoint passes it once Kafka holds all that came before.
sync_barrier() {
    pg_psql -Atc "SELECT pg_logical_emit_message(false, 'sluice-test', 'sync')"
}

# wait_confirmed SLOT LSN TIMEOUT: until the slot's confirmed_flush_lsn >= LSN.
wait_confirmed() {
    local slot="$1" target="$2" timeout="${3:-120}" start=$SECONDS cur
    while :; do
        cur="$(slot_confirmed "$slot")"
        if [ -n "$cur" ] && [ "$(pg_psql -Atc "SELECT '$cur'::pg_lsn >= '$target'::pg_lsn")" = t ]; then
            return 0
        fi
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            log "slot $slot at '${cur}' did not reach $target within ${timeout}s"
            return 1
        fi
        sleep 0.3
    done
}

# peak_rss_kb PID: the process's peak resident set (VmHWM).
peak_rss_kb() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# expect_exit CODE CMD...: runs a command, checks its exit code.
expect_exit() {
    local want="$1" rc=0
    shift
    "$@" || rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "expected exit $want, got $rc from: $*"
        return 1
    fi
}

# workload_setup: tables wl_a, wl_b, wl_c, the ledger, publication "sluice".
workload_setup() {
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --setup --txns 0
}

verify_check() {
    local prefix="$1" slot="$2"
    shift 2
    "$VERIFY" check --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" \
        --prefix "$prefix" --slot "$slot" "$@"
}

# The superuser's conninfo over TCP (workload, verifier).
admin_conninfo() {
    PG_ADMIN_CONNINFO="host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=postgres password=postgres"
    export PG_ADMIN_CONNINFO
}

# crash_run BIN PREFIX SLOT CRASHES SEED [config lines...]
# The crash scenario: workload rounds from 4 clients while sluice (BIN) is
# killed CRASHES times — every other time at a random moment, otherwise at a
# named crash point (SLUICE_CRASH_AT) — and restarted; then a final catch-up,
# a graceful stop and the verifier. The V6 sampler runs throughout. Sets
# CRASH_KILLS, CRASH_POINTS, CRASH_STOP_RC, CRASH_SAMPLER_RC, CRASH_VERIFY_RC;
# the verifier's output is in $W/$PREFIX.verify. Returns 0 if all held.
crash_run() {
    local bin="$1" prefix="$2" slot="$3" crashes="$4" seed="$5"
    shift 5
    local cfg="$W/$prefix.conf" logf="$W/$prefix.log"
    pg_psql -q -c "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
    sluice_config "$cfg" "$slot" "$prefix" "commit.interval.ms = 50" "$@"
    local SLUICE_SAVED="$SLUICE"
    SLUICE="$bin"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID i=0
    until [ "$(pg_psql -Atc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'")" = 1 ]; do
        i=$((i + 1)); [ "$i" -lt 150 ] || { SLUICE="$SLUICE_SAVED"; log "slot $slot never created: $(tail -3 "$logf")"; return 1; }
        sleep 0.2
    done
    "$VERIFY" sample --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" \
        --prefix "$prefix" --slot "$slot" --out "$W/$prefix.samples" --interval-ms 100 2>>"$W/$prefix.samples.log" &
    local sampler=$!
    touch "$W/$prefix.running"
    (
        s=$((seed * 1000))
        while [ -f "$W/$prefix.running" ]; do
            s=$((s + 1))
            "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 4 --txns 400 --seed "$s" >/dev/null 2>&1 || sleep 0.5
        done
    ) &
    local wl=$!
    local points=(after_commit before_commit after_confirm mid_txn) rc
    CRASH_KILLS=0
    CRASH_POINTS=0
    RANDOM=$seed
    for ((i = 1; i <= crashes; i++)); do
        sleep "0.$((RANDOM % 9 + 1))"
        if [ $((i % 2)) -eq 0 ]; then
            sleep "$((RANDOM % 2)).$((RANDOM % 10))"
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        else
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            local p="${points[$((RANDOM % ${#points[@]}))]}" n=$((RANDOM % 5 + 1)) waited=0
            [ "$p" = mid_txn ] && n=$((RANDOM % 3000 + 1))
            echo "--- crash point $p:$n" >>"$logf"
            SLUICE_CRASH_AT="$p:$n" sluice_start "$cfg" "$logf"
            pid=$SLUICE_PID
            while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
            rc=0
            if kill -0 "$pid" 2>/dev/null; then
                kill -9 "$pid"; wait "$pid" 2>/dev/null || true
            else
                wait "$pid" 2>/dev/null || rc=$?
                [ "$rc" -eq 137 ] && CRASH_POINTS=$((CRASH_POINTS + 1))
            fi
        fi
        CRASH_KILLS=$((CRASH_KILLS + 1))
        sluice_start "$cfg" "$logf"
        pid=$SLUICE_PID
    done
    rm -f "$W/$prefix.running"
    wait "$wl" 2>/dev/null || true
    local lsn ok=0
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" "${CRASH_CATCHUP_TIMEOUT:-180}" || ok=1
    CRASH_STOP_RC=0
    sluice_stop "$pid" || CRASH_STOP_RC=$?
    SLUICE="$SLUICE_SAVED"
    kill -TERM "$sampler" 2>/dev/null
    CRASH_SAMPLER_RC=0
    wait "$sampler" || CRASH_SAMPLER_RC=$?
    CRASH_VERIFY_RC=0
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger >"$W/$prefix.verify" 2>&1 || CRASH_VERIFY_RC=$?
    log "crash run $prefix: $CRASH_KILLS kills ($CRASH_POINTS at named crash points), stop exit $CRASH_STOP_RC, V6 sampler: $(cat "$W/$prefix.samples" 2>/dev/null), verify exit $CRASH_VERIFY_RC: $(tail -1 "$W/$prefix.verify")"
    pg_psql -Atc "SELECT pg_drop_replication_slot('$slot') FROM pg_replication_slots WHERE slot_name = '$slot' AND NOT active" >/dev/null 2>&1 || true
    [ "$ok" -eq 0 ] && [ "$CRASH_STOP_RC" -eq 0 ] && [ "$CRASH_SAMPLER_RC" -eq 0 ] && [ "$CRASH_VERIFY_RC" -eq 0 ]
}
