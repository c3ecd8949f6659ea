#!/usr/bin/env bash
# Failover that loses nothing (PostgreSQL 17+; make failover). For each
# version: a primary with a physical standby that synchronizes sluice's
# failover slot, sluice streaming through a multi-host conninfo under a
# workload, and FAILOVER_KILLS times: the primary killed (pg_ctl -m
# immediate), the standby promoted, sluice reconnecting to it and resuming
# from its synced slot, a new standby built from the new primary. Then the
# verifier: every committed change exactly once (V1-V5, V7), the slot not
# ahead of the checkpoint. sluice's downtime per failover is printed. Then
# the same failover with an ordinary slot: sluice stops with exit 6 and a
# message naming the cause, and nothing is confirmed. Last, a failover slot
# without synchronized_standby_slots and a standby that missed what Kafka
# holds: sluice stops with exit 6 (the checkpoint lies past the point where
# the new primary's timeline forked) instead of skipping new transactions.
#
#   tests/it/failover.sh        (FAILOVER_PG="17 18", FAILOVER_KILLS=3, FAILOVER_TESTS=all)
#
# The two nodes keep their ports (A and B), so one conninfo names both:
# host=127.0.0.1,127.0.0.1 port=A,B target_session_attrs=read-write. A new
# standby is a hot copy of the running primary (pg_backup_start, a copy of
# the data directory, pg_backup_stop's backup_label), since the zonky
# builds have no pg_basebackup and Debian's 15 refuses newer servers; it
# streams the WAL it misses from its physical slot, created (reserving WAL)
# before the copy. The primary's synchronized_standby_slots names that slot:
# PostgreSQL sends sluice only what the standby has, so what Kafka holds
# survives the failover.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"

if [ "${1:-}" != --one ]; then
    rc=0
    for v in ${FAILOVER_PG:-17 18}; do
        "$(dirname "$0")/../env/install.sh" --pg "$v" >/dev/null || exit 1
        SLUICE_PG_VERSION="$v" "$HERE/failover.sh" --one || rc=1
    done
    exit "$rc"
fi

. "$HERE/../env/env.sh"
. "$HERE/lib.sh"
KILLS="${FAILOVER_KILLS:-3}"

harness_build all || exit 1
env_init || exit 1
env_on_exit reap_sluices
env_on_exit nodes_stop
W="$SLUICE_ENV_DIR/failover"
mkdir -p "$W"

# ---------------------------------------------------------------------------
# Nodes A and B: a data directory, a port, a socket directory each.

node_dir() { echo "$SLUICE_ENV_DIR/node$1"; }
node_port() { cat "$(node_dir "$1")/port"; }
node_sock() { echo "$(node_dir "$1")/sock"; }
node_data() { echo "$(node_dir "$1")/data"; }
node_psql() {
    local n="$1"
    shift
    "$PG_CLIENT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$(node_sock "$n")" -p "$(node_port "$n")" \
        -U postgres -d sluice_test "$@"
}
node_ctl() {
    local n="$1"
    shift
    _pg_as "$PG_BIN/pg_ctl" -D "$(node_data "$n")" "$@"
}
node_running() { [ -f "$(node_data "$1")/postmaster.pid" ]; }
node_start() {
    node_ctl "$1" -l "$(node_data "$1")/log/postgresql.log" -w -t 60 start >/dev/null ||
        { log "node $1 did not start:"; tail -20 "$(node_data "$1")/log/postgresql.log" >&2; return 1; }
}
node_kill() { node_ctl "$1" -m immediate -w -t 30 stop >/dev/null 2>&1 || true; }
nodes_stop() {
    local n
    for n in A B; do [ -d "$(node_dir "$n")" ] && node_running "$n" && node_kill "$n"; done
    return 0
}
other() { if [ "$1" = A ]; then echo B; else echo A; fi; }

# The node that runs as primary (not in recovery), if any.
current_primary() {
    local n
    for n in A B; do
        if [ -d "$(node_dir "$n")" ] && node_running "$n" &&
            [ "$(node_psql "$n" -Atc 'SELECT NOT pg_is_in_recovery()' 2>/dev/null)" = t ]; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

# The environment's helpers (pg_psql, sync_barrier, slot_* , verify_check)
# talk to $PG_SOCKET_DIR:$PGPORT_TEST: point them at node N.
use_node() {
    PG_SOCKET_DIR="$(node_sock "$1")" PGPORT_TEST="$(node_port "$1")" PG_DATA="$(node_data "$1")"
    export PG_SOCKET_DIR PGPORT_TEST PG_DATA
    admin_conninfo
}

# The primary, node A, from the environment's pg_start (its files moved under node A).
primary_init() {
    local d
    d="$(node_dir A)"
    mkdir -p "$d"
    chmod 755 "$d"
    pg_start "wal_sender_timeout=10s" "max_slot_wal_keep_size=-1" "hot_standby_feedback=on" \
        "sync_replication_slots=on" "wal_receiver_status_interval=1s" || return 1
    pg_stop fast
    mv "$PG_DATA" "$d/data"
    mv "$PG_SOCKET_DIR" "$d/sock"
    echo "$PGPORT_TEST" >"$d/port"
    sed -i "s|^unix_socket_directories = .*|unix_socket_directories = '$d/sock'|" "$d/data/postgresql.conf"
    node_start A || return 1
    use_node A
}

# make_standby NEW PRIMARY: NEW becomes a fresh standby of PRIMARY (a hot
# copy; PRIMARY keeps running and writing), streaming through physical slot
# sb_NEW; PRIMARY's synchronized_standby_slots then names that slot. Waits
# until NEW streams.
make_standby() {
    local new="$1" p="$2" d data port label
    d="$(node_dir "$new")" data="$(node_data "$new")"
    [ -d "$d" ] && node_running "$new" && node_kill "$new"
    if [ -f "$d/port" ]; then port="$(cat "$d/port")"; else port="$(_env_free_port)" || return 1; fi
    rm -rf "$d"
    mkdir -p "$data" "$d/sock"
    chmod 755 "$d" "$d/sock"
    chmod 700 "$data"
    echo "$port" >"$d/port"
    node_psql "$p" -Atc "SELECT pg_drop_replication_slot('sb_${new,,}') FROM pg_replication_slots WHERE slot_name = 'sb_${new,,}'" >/dev/null
    node_psql "$p" -Atc "SELECT pg_create_physical_replication_slot('sb_${new,,}', true)" >/dev/null || return 1
    label="$d/backup_label.tmp"
    # One session: the backup runs from pg_backup_start to pg_backup_stop.
    node_psql "$p" -At >/dev/null <<SQL || { log "hot copy of node $p failed"; return 1; }
SELECT pg_backup_start('sluice failover test', true);
\\! tar -C '$(node_data "$p")' --exclude=./postmaster.pid --exclude=./postmaster.opts --exclude='./pg_wal/*' --exclude='./pg_replslot/*' --exclude='./log/*' --exclude='./pg_stat_tmp/*' --exclude=./standby.signal --exclude=./backup_label -cf - . | tar -C '$data' -xf -
\\o '$label'
SELECT labelfile FROM pg_backup_stop(false);
SQL
    mkdir -p "$data/pg_wal/archive_status"
    cp "$label" "$data/backup_label"
    # The copy has the primary's ALTER SYSTEM settings: a standby guards nothing yet.
    sed -i '/^synchronized_standby_slots/d' "$data/postgresql.auto.conf"
    {
        echo "port = $port"
        echo "unix_socket_directories = '$d/sock'"
        echo "primary_conninfo = 'host=127.0.0.1 port=$(node_port "$p") user=postgres password=postgres dbname=sluice_test application_name=node$new'"
        echo "primary_slot_name = 'sb_${new,,}'"
        echo "hot_standby = on"
    } >>"$data/postgresql.conf"
    touch "$data/standby.signal"
    [ "$(id -u)" -ne 0 ] || chown -R postgres:postgres "$d"
    node_start "$new" || return 1
    sb_streaming() { [ "$(node_psql "$p" -Atc "SELECT active FROM pg_replication_slots WHERE slot_name = 'sb_${new,,}'")" = t ]; }
    wait_for 60 sb_streaming || { log "standby $new does not stream from $p"; return 1; }
    node_psql "$p" -q -c "ALTER SYSTEM SET synchronized_standby_slots = 'sb_${new,,}'" -c "SELECT pg_reload_conf()" >/dev/null
}

# True once the standby NODE holds SLOT as a synchronized, persistent failover slot.
slot_synced_on() {
    [ "$(node_psql "$1" -Atc "SELECT synced AND NOT temporary AND failover FROM pg_replication_slots WHERE slot_name = '$2'" 2>/dev/null)" = t ]
}

# promote NODE: ends recovery (waits).
promote() {
    node_ctl "$1" -w -t 60 promote >/dev/null
}

# ms since the epoch
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# ---------------------------------------------------------------------------

kafka_start 1 || exit 1
primary_init || exit 1
workload_setup || exit 1
log "PostgreSQL $PG_VERSION_NUM primary on node A (port $(node_port A)), Kafka $KAFKA_VERSION"

CONNINFO_HOSTS() {
    echo "host=127.0.0.1,127.0.0.1 port=$(node_port A),$(node_port B) dbname=sluice_test target_session_attrs=read-write connect_timeout=5"
}

# Exactly once across KILLS failovers with a failover slot.
test_failover_exactly_once() {
    local slot=fo prefix=fo cfg="$W/fo.conf" logf="$W/fo.log" primary=A standby=B i lsn
    make_standby B A || return 1
    sluice_config "$cfg" "$slot" "$prefix" "commit.interval.ms = 50" "postgres.slot.failover = true" \
        "postgres.conninfo = $(CONNINFO_HOSTS) user=sluice password=sluice"
    local rc=0
    "$SLUICE" check -c "$cfg" >"$W/fo.check" 2>&1 || rc=$?
    grep -E 'server version|failover|synchronized_standby_slots' "$W/fo.check" >&2
    [ "$rc" -eq 0 ] || fail "check exited $rc on the failover set-up"
    grep -q '^  ok    synchronized_standby_slots: sb_b' "$W/fo.check" || fail "check did not see the standby's slot guard"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot" || return 1
    # The workload connects to whichever node is primary.
    PG_ADMIN_CONNINFO="$(CONNINFO_HOSTS) user=postgres password=postgres"
    workload_loop "$W/fo.running" 7 200
    local wl=$WL_PID
    # V6 throughout: the sampler's connection also follows the primary (PQreset
    # on the multi-host conninfo), so it samples the slot on each new primary.
    start_sampler "$prefix" "$slot" "$W/fo.samples"
    local sampler=$SAMPLER_PID
    for ((i = 1; i <= KILLS; i++)); do
        # The slot must be on the standby, synchronized, before its primary dies.
        wait_progress "$slot" 120 || { fail "failover $i: sluice did not catch up before the kill"; break; }
        wait_for 120 slot_synced_on "$standby" "$slot" ||
            { fail "failover $i: slot $slot not synchronized to node $standby"; break; }
        sleep 1 # the workload runs on: the kill lands mid-stream
        local streams t_kill t_prom t_up
        streams="$(grep -c 'streaming from slot' "$logf")"
        t_kill="$(now_ms)"
        node_kill "$primary"
        promote "$standby" || { fail "failover $i: node $standby did not promote"; break; }
        t_prom="$(now_ms)"
        use_node "$standby"
        more_streams() { [ "$(grep -c 'streaming from slot' "$logf")" -gt "$streams" ]; }
        wait_for -p "$pid" 180 more_streams || { fail "failover $i: sluice did not stream again: $(tail -3 "$logf")"; break; }
        t_up="$(now_ms)"
        log "failover $i: node $primary killed, node $standby promoted in $((t_prom - t_kill)) ms; sluice streaming again $((t_up - t_prom)) ms later: downtime $((t_up - t_kill)) ms"
        echo "$i $((t_prom - t_kill)) $((t_up - t_prom)) $((t_up - t_kill))" >>"$W/downtime"
        primary="$standby" standby="$(other "$standby")"
        make_standby "$standby" "$primary" || { fail "failover $i: no new standby"; break; }
    done
    rounds_stop "$W/fo.running" "$wl" || true # rounds interrupted by a kill fail; the ledger says what committed
    catch_up_and_stop "$slot" "$pid" 120
    stop_sampler "$sampler" "$W/fo.samples" || true # a violation has failed the test
    grep -E 'streaming from slot|failover slot|reconnecting|retrying' "$logf" | sed 's/^/    sluice: /' | tail -20 >&2
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger | tee "$W/fo.verify" ||
        fail "the verifier found violations after $KILLS failovers"
    [ "$(wc -l <"$W/downtime")" -ge "$KILLS" ] || fail "only $(wc -l <"$W/downtime") of $KILLS failovers done"
    log "committed transactions: $(pg_psql -Atc 'SELECT count(*) FROM wl_ledger') on node $primary"
    drop_slot "$slot"
}

# An ordinary slot (postgres.slot.failover off) does not survive a failover:
# sluice stops with exit 6 and says why; no slot is created on the new primary
# and the checkpoint does not move.
test_failover_without_failover_slot_exits_6() {
    local slot=nofo prefix=nofo cfg="$W/nofo.conf" logf="$W/nofo.log" primary standby rc=0
    primary="$(current_primary)" || { fail "no primary is running"; return 1; }
    standby="$(other "$primary")"
    use_node "$primary"
    make_standby "$standby" "$primary" || return 1
    pg_psql -q -c "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
    sluice_config "$cfg" "$slot" "$prefix" "commit.interval.ms = 50" \
        "postgres.conninfo = $(CONNINFO_HOSTS) user=sluice password=sluice"
    "$SLUICE" check -c "$cfg" >"$W/nofo.check" 2>&1 || rc=$?
    grep -q "^  warn  failover: this primary has a standby (physical replication slot(s) sb_${standby,,}), but slot \"nofo\" is not a failover slot" "$W/nofo.check" ||
        { cat "$W/nofo.check" >&2; fail "check did not warn about the standby"; }
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot" || return 1
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 77 >/dev/null
    wait_progress "$slot" 60 || fail "sluice did not catch up"
    local before after
    before="$("$SLUICE" status -c "$cfg" 2>&1 | grep -E '^checkpoint:|resumes at' || true)"
    node_kill "$primary"
    promote "$standby" || { fail "node $standby did not promote"; return 1; }
    use_node "$standby"
    rc=0
    wait_exit "$pid" 180 || rc=$?
    [ "$rc" -eq 6 ] || fail "sluice exited $rc after a failover without a failover slot, want 6: $(tail -3 "$logf")"
    grep -q 'replication slot "nofo" does not exist, but Kafka holds a checkpoint .* This server is on timeline [0-9]*: if it is a standby promoted after a failover, the slot was not copied to it; only a failover slot is (postgres.slot.failover = true' "$logf" ||
        fail "no clear message: $(grep -m1 FATAL "$logf")"
    log "exit $rc: $(grep -m1 FATAL "$logf" | sed 's/.*FATAL: *//' | cut -c1-400)"
    ! slot_exists "$slot" || fail "sluice created slot $slot on the new primary"
    after="$("$SLUICE" status -c "$cfg" 2>&1 | grep -E '^checkpoint:|resumes at' || true)"
    [ -n "$before" ] && [ "$before" = "$after" ] || fail "the checkpoint moved: '$before' -> '$after'"
    log "checkpoint unchanged: $(echo "$after" | tr '\n' ' ')"
}

# A failover slot without synchronized_standby_slots: sluice streams changes
# the standby does not have (here: the standby is stopped meanwhile), the
# primary dies, the standby is promoted. Kafka then holds changes past the
# point where the new primary's history forked off: sluice must stop (exit 6)
# and say so, not stream on and skip the new primary's transactions at those
# positions.
test_failover_standby_behind_exits_6() {
    local slot=fobehind prefix=fobehind cfg="$W/fobehind.conf" logf="$W/fobehind.log" primary standby rc=0
    primary="$(current_primary)" || { fail "no primary is running"; return 1; }
    standby="$(other "$primary")"
    use_node "$primary"
    make_standby "$standby" "$primary" || return 1
    node_psql "$primary" -q -c "ALTER SYSTEM RESET synchronized_standby_slots" -c "SELECT pg_reload_conf()" >/dev/null
    pg_psql -q -c "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
    sluice_config "$cfg" "$slot" "$prefix" "commit.interval.ms = 50" "postgres.slot.failover = true" \
        "postgres.conninfo = $(CONNINFO_HOSTS) user=sluice password=sluice"
    "$SLUICE" check -c "$cfg" >"$W/fobehind.check" 2>&1 || true
    grep -q '^  warn  synchronized_standby_slots: is unset' "$W/fobehind.check" ||
        { cat "$W/fobehind.check" >&2; fail "check did not warn about the unset synchronized_standby_slots"; }
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot" || return 1
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 100 --seed 91 >/dev/null
    wait_progress "$slot" 60 || fail "sluice did not catch up"
    wait_for 120 slot_synced_on "$standby" "$slot" || { fail "slot $slot not synchronized to node $standby"; return 1; }
    # The standby stops receiving; the primary goes on, and sluice streams it all to Kafka.
    node_kill "$standby"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 92 >/dev/null
    wait_progress "$slot" 60 || fail "sluice did not catch up with the standby down"
    local before after
    before="$("$SLUICE" status -c "$cfg" 2>&1 | grep -E '^checkpoint:|resumes at' || true)"
    node_kill "$primary"
    node_start "$standby" || return 1
    promote "$standby" || { fail "node $standby did not promote"; return 1; }
    use_node "$standby"
    wait_exit "$pid" 180 || rc=$?
    [ "$rc" -eq 6 ] || fail "sluice exited $rc after a failover to a standby that lacks what Kafka holds, want 6: $(tail -3 "$logf")"
    grep -q "Kafka holds changes up to [0-9A-F/]* of timeline [0-9]*, but this server's history left timeline [0-9]* at [0-9A-F/]*: the changes in between never reached this server" "$logf" ||
        fail "no clear message: $(grep -m1 FATAL "$logf")"
    log "exit $rc: $(grep -m1 FATAL "$logf" | sed 's/.*FATAL: *//' | cut -c1-300)"
    after="$("$SLUICE" status -c "$cfg" 2>&1 | grep -E '^checkpoint:|resumes at' || true)"
    [ -n "$before" ] && [ "$before" = "$after" ] || fail "the checkpoint moved: '$before' -> '$after'"
    # The new primary lacks transactions that are in Kafka: what the guard is for.
    local lost
    lost="$(verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger --no-state 2>&1 | grep -c 'V2' || true)"
    log "the verifier finds $lost transaction(s) in Kafka that the new primary never committed"
    [ "$lost" -gt 0 ] || fail "the scenario did not put the standby behind Kafka (nothing to guard against)"
    make_standby "$(other "$standby")" "$standby" || return 1
}

# FAILOVER_TESTS names a subset (default: all three, in this order).
for t in ${FAILOVER_TESTS:-test_failover_exactly_once test_failover_without_failover_slot_exits_6 test_failover_standby_behind_exits_6}; do
    run_test "$t"
done
if [ -f "$W/downtime" ]; then
    log "sluice's downtime per failover (PostgreSQL $PG_VERSION_NUM, Kafka $KAFKA_VERSION): kill->promoted, promoted->streaming, kill->streaming (ms)"
    while read -r i a b c; do log "  failover $i: $a + $b = $c ms"; done <"$W/downtime"
fi
summary
