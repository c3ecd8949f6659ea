#!/usr/bin/env bash
# Self-test of tests/env/env.sh.
#
#   tests/env/selftest.sh            # PG + 1-node Kafka (~25 s)
#   tests/env/selftest.sh --cluster  # additionally a 3-node Kafka run (~30 s)
#
# Runs the real checks in a child bash (--inner) and then verifies from the
# outside that the child's cleanup trap did its job: exit status 0, no
# postgres/java process of that environment left, temp dir removed.  A second
# child is killed with SIGTERM mid-run to check the signal path of the trap.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Timestamps relative to the outer run's start (children inherit T0).
export SELFTEST_T0="${SELFTEST_T0:-$(date +%s)}"
step() { printf '[selftest %3ds] %s\n' "$(($(date +%s) - SELFTEST_T0))" "$*"; }
fail() { echo "selftest: FAIL: $*" >&2; exit 1; }

# ---------------------------------------------------------------------------
inner() {
    # $1: file where we report the env dir and PIDs for the outer check.
    local report="$1" out pid
    # shellcheck source=tests/env/env.sh
    . "$HERE/env.sh"
    env_init
    echo "dir $SLUICE_ENV_DIR" >>"$report"
    export PGPASSFILE="$SLUICE_ENV_DIR/no-pgpass"   # never use ~/.pgpass
    unset PGPASSWORD

    step "pg_start"
    pg_start "wal_sender_timeout=5s"
    echo "pid $(head -n 1 "$PG_DATA/postmaster.pid")" >>"$report"
    step "pg up on port $PGPORT_TEST (socket $PG_SOCKET_DIR)"
    [ "$(pg_psql -At -c 'show wal_sender_timeout')" = 5s ] || fail "extra conf line not applied"
    [ "$(pg_psql -At -c 'show wal_level')" = logical ] || fail "wal_level"

    step "kafka_start"
    kafka_start
    echo "pid $(kafka_node_pid 1)" >>"$report"
    step "kafka up at $KAFKA_BOOTSTRAP"

    # PostgreSQL: password auth over TCP as sluice, table creation.
    psql -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" \
        -c 'create table selftest(id int primary key, v text)' \
        -c "insert into selftest values (1, 'one')"
    [ "$(pg_psql -At -c 'select v from selftest where id = 1')" = one ] || fail "table content"
    if psql -X -q "host=127.0.0.1 port=$PGPORT_TEST dbname=sluice_test user=sluice password=wrong" \
            -c 'select 1' >/dev/null 2>"$SLUICE_ENV_DIR/badpw.err"; then
        fail "wrong password was accepted"
    fi
    grep -q 'password authentication failed' "$SLUICE_ENV_DIR/badpw.err" || fail "unexpected error: $(cat "$SLUICE_ENV_DIR/badpw.err")"
    psql -X -q -At "$PG_CONNINFO replication=database" -c 'IDENTIFY_SYSTEM' >/dev/null \
        || fail "replication connection as sluice"
    [ "$(psql -X -At "host=127.0.0.1 port=$PGPORT_TEST dbname=postgres user=postgres password=postgres" -c 'select 1')" = 1 ] \
        || fail "postgres password"
    step "pg auth ok (password, wrong password rejected, replication conn)"

    # Kafka: one message through an auto-created topic.
    printf 'hello-1\n' | kcat -b "$KAFKA_BOOTSTRAP" -P -t selftest -X acks=all
    out="$(timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -C -t selftest -o beginning -c 1 -e -q -f '%s\n')"
    [ "$out" = hello-1 ] || fail "consumed '$out'"
    kafka_topics --describe --topic selftest | grep -q 'PartitionCount: 3' || fail "kafka_topics describe"
    step "kafka produce/consume + kafka_topics ok"

    step "pg_restart immediate"
    pg_restart immediate
    [ "$(psql -X -At "$PG_CONNINFO" -c 'select count(*) from selftest')" = 1 ] || fail "after pg_restart"
    echo "pid $(head -n 1 "$PG_DATA/postmaster.pid")" >>"$report"
    step "pg back on the same port $PGPORT_TEST"

    step "kafka_stop_node 1 (kill -9)"
    pid="$(kafka_node_pid 1)"
    kafka_stop_node 1
    [ -z "$(kafka_node_pid 1)" ] || fail "node 1 still running"
    ! kill -0 "$pid" 2>/dev/null || grep -q ') Z' "/proc/$pid/stat" 2>/dev/null || fail "pid $pid alive"
    step "kafka_start_node 1"
    kafka_start_node 1
    echo "pid $(kafka_node_pid 1)" >>"$report"
    printf 'hello-2\n' | kcat -b "$KAFKA_BOOTSTRAP" -P -t selftest -X acks=all
    out="$(timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -C -t selftest -o beginning -c 2 -e -q -f '%s\n' | sort | tr '\n' ' ')"
    [ "$out" = "hello-1 hello-2 " ] || fail "after node restart consumed '$out'"
    step "kafka node restarted, both messages readable"

    # Registered cleanup hook runs before services are stopped.
    env_on_exit "echo hook >>'$report'"
    step "inner done"
}

# For the SIGTERM check: start PG, report, then idle until killed.
inner_term() {
    local report="$1"
    . "$HERE/env.sh"
    env_init
    echo "dir $SLUICE_ENV_DIR" >>"$report"
    pg_start
    echo "pid $(head -n 1 "$PG_DATA/postmaster.pid")" >>"$report"
    echo ready >>"$report"
    while :; do sleep 1; done
}

# 3-node Kafka: all brokers up, RF 3 / min ISR 2 defaults, acks=all produce
# keeps working with one node killed, the node rejoins.
inner_cluster() {
    local report="$1" i out
    . "$HERE/env.sh"
    env_init
    echo "dir $SLUICE_ENV_DIR" >>"$report"
    step "kafka_start 3"
    kafka_start 3
    for i in 1 2 3; do echo "pid $(kafka_node_pid "$i")" >>"$report"; done
    step "3 nodes up at $KAFKA_BOOTSTRAP"
    [ "$(kcat -b "$KAFKA_BOOTSTRAP" -L | grep -cE '^ +broker [0-9]+ at ')" = 3 ] || fail "broker count"
    printf 'c-1\n' | kcat -b "$KAFKA_BOOTSTRAP" -P -t cluster -X acks=all
    kafka_topics --describe --topic cluster | grep -q 'ReplicationFactor: 3' || fail "default RF"
    step "kafka_stop_node 1 (kill -9)"
    kafka_stop_node 1
    # kcat logs the refused connections to node 1 on stderr; keep it quiet.
    printf 'c-2\n' | timeout 60 kcat -b "$KAFKA_BOOTSTRAP" -P -t cluster -X acks=all \
        2>"$SLUICE_ENV_DIR/kcat.err" || { cat "$SLUICE_ENV_DIR/kcat.err" >&2; fail "acks=all produce with one node down"; }
    step "acks=all produce with node 1 down ok"
    kafka_wait_ready
    step "cluster fenced node 1 (2 brokers)"
    kafka_start_node 1
    echo "pid $(kafka_node_pid 1)" >>"$report"
    out="$(timeout 30 kcat -b "$KAFKA_BOOTSTRAP" -C -t cluster -o beginning -c 2 -e -q | sort | tr '\n' ' ')"
    [ "$out" = "c-1 c-2 " ] || fail "cluster consumed '$out'"
    step "node 1 rejoined, 3 brokers, both messages readable"
}

case "${1:-}" in
    --inner) inner "$2"; exit 0 ;;
    --inner-term) inner_term "$2"; exit 0 ;;
    --inner-cluster) inner_cluster "$2"; exit 0 ;;
esac

# ---------------------------------------------------------------------------
# Outer: check what the children left behind.
alive() {   # zombie-aware, PID 1 here may reap orphans late
    kill -0 "$1" 2>/dev/null && ! grep -q '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null
}
check_gone() {   # $1 report file
    local dir t pid
    dir="$(awk '$1 == "dir" { print $2 }' "$1")"
    [ -n "$dir" ] || fail "child reported no env dir"
    [ ! -e "$dir" ] || fail "env dir $dir still exists"
    for pid in $(awk '$1 == "pid" { print $2 }' "$1"); do
        for ((t = 0; t < 50; t++)); do alive "$pid" || break; sleep 0.2; done
        alive "$pid" && fail "process $pid still running: $(ps -o cmd= -p "$pid")"
    done
    if ps -eo stat=,args= | grep -F -- "$dir" | grep -v '^Z' | grep -v grep; then
        fail "processes referring to $dir remain"
    fi
    step "cleanup ok: $dir removed, pids $(awk '$1 == "pid" { printf "%s ", $2 }' "$1")gone"
}

report="$(mktemp /tmp/sluice-selftest.XXXXXX)"
trap 'rm -f "$report"' EXIT

step "run 1: full scenario"
bash "${BASH_SOURCE[0]}" --inner "$report" || fail "inner run exited with $?"
grep -qx hook "$report" || fail "env_on_exit hook did not run"
check_gone "$report"

step "run 2: SIGTERM during run"
: >"$report"
bash "${BASH_SOURCE[0]}" --inner-term "$report" &
child=$!
for ((t = 0; t < 300; t++)); do grep -qx ready "$report" && break; sleep 0.1; done
grep -qx ready "$report" || fail "term child did not get ready"
kill -TERM "$child"
rc=0; wait "$child" || rc=$?
[ "$rc" = 143 ] || fail "term child exit status $rc, want 143"
check_gone "$report"

if [ "${1:-}" = --cluster ]; then
    step "run 3: 3-node Kafka"
    : >"$report"
    bash "${BASH_SOURCE[0]}" --inner-cluster "$report" || fail "cluster run exited with $?"
    check_gone "$report"
fi

step "PASS"
