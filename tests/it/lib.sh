# shellcheck shell=bash
# Helpers shared by the integration tests, fault tests and benchmarks.
# Source after tests/env/env.sh; the helpers that talk to PostgreSQL or
# Kafka need env_init/pg_start/kafka_start first.

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# SLUICE_RDKAFKA=2.12 (set by make RDKAFKA=2.12 it/faults): sluice, and the broken
# builds the fault suite runs, come from build-rdkafka212/, linked against the
# pinned librdkafka; the test tools (verifier, workload, readers) stay the default
# build's on Debian's librdkafka, so the reader that judges is not the library
# under test. SLUICE_BIN names one binary directly (make tsan).
SLUICE_BUILD="$REPO/build"
[ -z "${SLUICE_RDKAFKA:-}" ] || SLUICE_BUILD="$REPO/build-rdkafka${SLUICE_RDKAFKA//./}"
SLUICE="${SLUICE_BIN:-$SLUICE_BUILD/sluice}"
VERIFY="$REPO/build/tools/verify"
WORKLOAD="$REPO/build/tools/workload"

# harness_build TARGET...: makes what a script needs (e.g. all: sluice and the
# test tools), so every script works from a fresh clone; fast when it is all
# built. Run from a make recipe (make it, make faults …) it is a no-op check:
# the parent's job server and flags are left out, they are not ours to use.
# With SLUICE_RDKAFKA, "all" also makes that build's sluice and a build/mutants/
# target is made in that build instead (make RDKAFKA=...).
harness_build() {
    local t plain=() rd=() sub="${SLUICE_BUILD#"$REPO"/}"
    for t in "$@"; do
        if [ -z "${SLUICE_RDKAFKA:-}" ]; then
            plain+=("$t")
        elif [ "$t" = all ]; then
            plain+=(all)
            rd+=("$sub/sluice")
        elif [ "${t#build/}" != "$t" ]; then
            rd+=("$sub/${t#build/}")
        else
            plain+=("$t")
        fi
    done
    if [ ${#plain[@]} -gt 0 ]; then
        log "make ${plain[*]} (builds what is missing)"
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
            make -C "$REPO" --no-print-directory -s -j"$(nproc)" "${plain[@]}" >&2 || {
            log "make ${plain[*]} failed"
            return 1
        }
    fi
    if [ ${#rd[@]} -gt 0 ]; then
        log "make RDKAFKA=$SLUICE_RDKAFKA ${rd[*]} (builds what is missing)"
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
            make -C "$REPO" --no-print-directory -s -j"$(nproc)" RDKAFKA="$SLUICE_RDKAFKA" "${rd[@]}" >&2 || {
            log "make RDKAFKA=$SLUICE_RDKAFKA ${rd[*]} failed"
            return 1
        }
    fi
}

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

# run_tests PREFIX [NAME...]: runs the named tests, or else every function
# whose name starts with PREFIX (in name order).
run_tests() {
    local prefix="$1" t
    shift
    # shellcheck disable=SC2046  # one name a word
    [ "$#" -gt 0 ] || set -- $(declare -F | awk '{ print $3 }' | grep "^$prefix")
    for t in "$@"; do run_test "$t"; done
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
        # Exit 4/7 at the first failure at start, as the error tests expect
        # (tests_deploy.sh tests the start-up retry).
        echo "startup.retry.timeout.ms = 0"
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

# sluice_kill9_restart PID CONFIG LOGFILE [args...]: kill -9 the sluice PID (started
# by sluice_start), reap it, start it again the same way; sets KILL9_RC (the killed
# one's exit code) and SLUICE_PID.
sluice_kill9_restart() {
    local pid="$1"
    shift
    kill -9 "$pid" 2>/dev/null || true
    KILL9_RC=0
    wait "$pid" || KILL9_RC=$?
    sluice_start "$@"
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
    local pid="$1" timeout="${2:-60}"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for "$timeout" _env_pids_gone "$pid"; then
        log "sluice $pid did not stop within ${timeout}s"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 124
    fi
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    return "$rc"
}

# wait_exit PID TIMEOUT: until process PID (a child of this shell) has ended;
# returns its exit code, or 124 (and leaves it running) after TIMEOUT s.
wait_exit() {
    wait_for "$2" _env_pids_gone "$1" || return 124
    local rc=0
    wait "$1" 2>/dev/null || rc=$?
    return "$rc"
}

slot_confirmed() {
    pg_psql -Atc "SELECT coalesce(confirmed_flush_lsn::text, '') FROM pg_replication_slots WHERE slot_name = '$1'"
}

# True once the replication slot SLOT exists.
slot_exists() {
    [ "$(pg_psql -Atc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$1'")" = 1 ]
}

# wait_slot_exists SLOT: until sluice has created its slot (30 s).
wait_slot_exists() {
    wait_for 30 slot_exists "$1" || {
        fail "slot $1 was not created within 30 s"
        return 1
    }
}

# walsender_pid SLOT: the walsender streaming SLOT (empty while none).
walsender_pid() {
    pg_psql -Atc "SELECT coalesce(active_pid::text, '') FROM pg_replication_slots WHERE slot_name = '$1'"
}

# True once SLOT exists and no walsender holds it (a stalled client's was ended).
slot_inactive() {
    [ "$(pg_psql -Atc "SELECT NOT active FROM pg_replication_slots WHERE slot_name = '$1'")" = t ]
}

# True once no walsender holds SLOT (or SLOT does not exist).
slot_free() {
    [ -z "$(walsender_pid "$1")" ]
}

# drop_slot SLOT: drops SLOT (if it exists) once no walsender holds it: a
# stopped client's walsender may take a moment to exit (30 s at most).
drop_slot() {
    wait_for 30 slot_free "$1" || true # then the drop says why it cannot
    pg_psql -Atc "SELECT pg_drop_replication_slot('$1') FROM pg_replication_slots WHERE slot_name = '$1'" >/dev/null
}

# True once a log file has a line matching the extended regex.
log_has() {
    grep -Eq -- "$2" "$1" 2>/dev/null
}

# wait_log FILE PATTERN TIMEOUT [PID]: until FILE has a line matching PATTERN
# (extended regex); with PID, gives up as soon as that process has ended.
wait_log() {
    local f="$1" pat="$2" timeout="${3:-120}" pid="${4:-}" rc=0
    wait_for ${pid:+-p "$pid"} "$timeout" log_has "$f" "$pat" || rc=$?
    case "$rc" in
    0) return 0 ;;
    2) log "the process exited before logging /$pat/: $(tail -3 "$f")" ;;
    *) log "no /$pat/ in $f within ${timeout}s" ;;
    esac
    return 1
}

# sync_barrier: a non-transactional logical message after everything written so far;
# prints its LSN. sluice's checkpoint passes it once Kafka holds all that came before.
sync_barrier() {
    pg_psql -Atc "SELECT pg_logical_emit_message(false, 'sluice-test', 'sync')"
}

# True once the slot's confirmed_flush_lsn >= LSN.
slot_confirmed_past() {
    [ "$(pg_psql -Atc "SELECT confirmed_flush_lsn >= '$2'::pg_lsn FROM pg_replication_slots WHERE slot_name = '$1'")" = t ]
}

# True once the walsender of SLOT has sent its client everything up to LSN.
slot_sent_past() {
    [ "$(pg_psql -Atc "SELECT r.sent_lsn >= '$2'::pg_lsn FROM pg_stat_replication r
                       JOIN pg_replication_slots s ON s.active_pid = r.pid WHERE s.slot_name = '$1'")" = t ]
}

# wait_confirmed SLOT LSN TIMEOUT: until the slot's confirmed_flush_lsn >= LSN.
wait_confirmed() {
    local slot="$1" target="$2" timeout="${3:-120}"
    wait_for "$timeout" slot_confirmed_past "$slot" "$target" && return 0
    log "slot $slot at '$(slot_confirmed "$slot")' did not reach $target within ${timeout}s"
    return 1
}

# catch_up_and_stop SLOT PID [TIMEOUT] [WHAT]: until sluice (process PID) has
# everything written so far in Kafka (TIMEOUT s, default 120), then SIGTERM;
# fails the test unless it caught up and exited 0. WHAT names the instance in
# the message (default "sluice").
catch_up_and_stop() {
    local slot="$1" pid="$2" timeout="${3:-120}" what="${4:-sluice}" rc=0
    wait_progress "$slot" "$timeout" || fail "$what: $slot did not catch up within ${timeout}s"
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "$what exited $rc on SIGTERM (want 0)"
}

# wait_progress SLOT [TIMEOUT]: until sluice has everything written so far in
# Kafka (its checkpoint passed a sync barrier written now): after a fault, the
# sign that it recovered and streams again, before the next fault or the end.
wait_progress() {
    local lsn
    lsn="$(sync_barrier)" || return 1
    wait_confirmed "$1" "$lsn" "${2:-120}"
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

# rounds_start FLAG FIRST CMD...: the one loop behind every background
# workload. Creates FLAG and runs `CMD... N` for N = FIRST+1, FIRST+2, … until
# FLAG is removed (rounds_stop); sets ROUNDS_PID. A round that fails
# (PostgreSQL restarting under a fault) is followed by a half-second pause —
# pacing, not waiting for anything — and the next round; the loop's exit
# status says whether any round failed.
rounds_start() {
    local flag="$1" n="$2"
    shift 2
    touch "$flag"
    (
        failed=0
        while [ -f "$flag" ]; do
            n=$((n + 1))
            "$@" "$n" || { failed=1; sleep 0.5; }
        done
        exit "$failed"
    ) &
    ROUNDS_PID=$!
}

# rounds_stop FLAG PID: ends the loop after its current round; returns its status.
rounds_stop() {
    rm -f "$1"
    wait "$2"
}

# workload_round CLIENTS TXNS SEED: one round of tests/tools/workload.
workload_round() {
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients "$1" --txns "$2" --seed "$3" >/dev/null 2>&1
}

# workload_loop FLAG SEED [TXNS] [CLIENTS]: workload rounds (TXNS, default 300,
# from CLIENTS, default 4) in the background until FLAG is removed, seeded
# SEED * 1000 + 1, + 2, …; sets WL_PID. Stop with rounds_stop FLAG "$WL_PID".
workload_loop() {
    rounds_start "$1" $(($2 * 1000)) workload_round "${4:-4}" "${3:-300}"
    WL_PID=$ROUNDS_PID
}

# start_sampler PREFIX SLOT OUT: the V6 sampler in the background; sets SAMPLER_PID.
start_sampler() {
    "$VERIFY" sample --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" \
        --prefix "$1" --slot "$2" --out "$3" --interval-ms 100 2>>"$3.log" &
    SAMPLER_PID=$!
}

# stop_sampler PID OUT: stops it; fails the test on a violation or no conclusive sample.
stop_sampler() {
    local pid="$1" out="$2" rc=0
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || rc=$?
    log "V6 sampler: $(cat "$out" 2>/dev/null)"
    [ "$rc" -eq 0 ] || fail "V6: the slot was seen ahead of the committed checkpoint"
    grep -q '^samples [1-9]' "$out" || fail "V6 sampler took no conclusive sample"
    [ "$rc" -eq 0 ]
}

verify_check() {
    local prefix="$1" slot="$2"
    shift 2
    "$VERIFY" check --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" \
        --prefix "$prefix" --slot "$slot" "$@"
}

# harness_env_start NAME BROKERS: the environment the integration tests, the
# fault suite and the soak share — a fresh PostgreSQL (wal_sender_timeout
# 10 s, slots keep all WAL), a Kafka cluster of BROKERS nodes (with 3, a dead
# broker is fenced within 4 s and timed-out transactions are aborted within
# 2 s), the workload's tables — and the work dir W=$SLUICE_ENV_DIR/NAME.
# Every sluice started with sluice_start is killed at exit.
harness_env_start() {
    local name="$1" brokers="$2"
    log "sluice under test: $SLUICE ($("$SLUICE" --version 2>&1 | head -1))"
    env_init || return 1
    env_on_exit reap_sluices
    W="$SLUICE_ENV_DIR/$name"
    mkdir -p "$W"
    pg_start "wal_sender_timeout=10s" "max_slot_wal_keep_size=-1" || return 1
    if [ "$brokers" -ge 3 ]; then
        kafka_start "$brokers" "broker.session.timeout.ms=4000" "broker.heartbeat.interval.ms=500" \
            "transaction.abort.timed.out.transaction.cleanup.interval.ms=2000" || return 1
    else
        kafka_start "$brokers" || return 1
    fi
    log "servers: PostgreSQL (server_version_num) $PG_VERSION_NUM, Kafka $KAFKA_VERSION ($brokers broker(s))"
    admin_conninfo
    workload_setup
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
    local pid=$SLUICE_PID i
    wait_for 30 slot_exists "$slot" || { SLUICE="$SLUICE_SAVED"; log "slot $slot never created: $(tail -3 "$logf")"; return 1; }
    start_sampler "$prefix" "$slot" "$W/$prefix.samples"
    local sampler=$SAMPLER_PID
    workload_loop "$W/$prefix.running" "$seed" 400
    local wl=$WL_PID
    local points=(after_commit before_commit after_confirm mid_txn) rc
    CRASH_KILLS=0
    CRASH_POINTS=0
    RANDOM=$seed
    for ((i = 1; i <= crashes; i++)); do
        # Random moments: the pauses are the schedule, not waits for a condition.
        sleep "0.$((RANDOM % 9 + 1))"
        if [ $((i % 2)) -eq 0 ]; then
            sleep "$((RANDOM % 2)).$((RANDOM % 10))"
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        else
            kill -9 "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            local p="${points[$((RANDOM % ${#points[@]}))]}" n=$((RANDOM % 5 + 1))
            [ "$p" = mid_txn ] && n=$((RANDOM % 3000 + 1))
            echo "--- crash point $p:$n" >>"$logf"
            SLUICE_CRASH_AT="$p:$n" sluice_start "$cfg" "$logf"
            pid=$SLUICE_PID
            # Up to 10 s for the crash point to be reached; else killed like the others.
            rc=0
            wait_exit "$pid" 10 || rc=$?
            if [ "$rc" -eq 124 ]; then
                kill -9 "$pid"; wait "$pid" 2>/dev/null || true
            elif [ "$rc" -eq 137 ]; then
                CRASH_POINTS=$((CRASH_POINTS + 1))
            fi
        fi
        CRASH_KILLS=$((CRASH_KILLS + 1))
        sluice_start "$cfg" "$logf"
        pid=$SLUICE_PID
    done
    rounds_stop "$W/$prefix.running" "$wl" || true
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

# topics_created_at_once LOGF ERE N: sluice's log says it created exactly N topics
# whose names match ERE, all within 400 ms: in one CreateTopics request, which
# settles once (500 ms). Created one request each, N topics span (N-1) settles.
topics_created_at_once() {
    local logf="$1" ere="$2" n="$3" created span
    created="$(grep -Ec "created topic \"$ere\"" "$logf")"
    [ "$created" -eq "$n" ] || fail "$created topics matching $ere created, not $n"
    span="$(grep -E "created topic \"$ere\"" "$logf" | cut -d' ' -f1 |
        while read -r t; do date -d "$t" +%s%3N; done | sort -n | sed -n '1p;$p' | paste -sd' ' |
        awk '{ print $2 - $1 }')"
    [ "$span" -lt 400 ] || fail "the $n topics matching $ere were created ${span} ms apart: not in one request"
}
