# shellcheck shell=bash
# Throwaway PostgreSQL + Kafka environment for sluice tests, benchmarks and
# the demo.  Source it from a bash script (it is not meant to be executed):
#
#   . "$REPO/tests/env/env.sh"
#   env_init                     # temp dir + cleanup trap
#   pg_start "wal_sender_timeout=5s"
#   kafka_start                  # or: kafka_start 3
#   pg_psql -c 'create table t(id int primary key)'
#
# Everything lives in one temp dir ($SLUICE_ENV_DIR).  All state that the
# helpers need is kept either in exported variables or in files under that
# dir, so a second shell that exports the same variables (see start.sh, which
# writes them to $SLUICE_ENV_DIR/env.sh) can use pg_psql, kafka_topics,
# kafka_stop_node, ... on the same environment.
#
# Works with `set -euo pipefail` in the caller.  Do not install your own EXIT
# trap after env_init (it would replace ours); register extra cleanup with
# env_on_exit instead.
#
# Tunables (environment): SLUICE_KEEP_ENV=1 keeps the temp dir (processes are
# still stopped), SLUICE_KAFKA_HEAP_OPTS (default "-Xms512m -Xmx512m"),
# SLUICE_KAFKA_JVM_OPTS (extra broker JVM flags).
#
# Versions (tests/env/versions.sh pins them; install.sh fetches one the first
# time it is named): SLUICE_PG_VERSION = 14, 15 (default: Debian's), 16, 17
# or 18; SLUICE_KAFKA_VERSION = 3.9.1 (default) or the pinned 4.x (or just
# 3 / 4). SLUICE_PG_BIN names a server bin/ directory outright (initdb,
# pg_ctl, postgres); client tools (psql, pg_isready, ...) always come from
# SLUICE_PG_CLIENT_BIN (default Debian's 15: the other builds have none, and
# a newer server serves an older psql). Exported for the tests: PG_BIN,
# PG_CLIENT_BIN, PG_MAJOR (after pg_start: PG_VERSION_NUM, e.g. 170005),
# KAFKA_VERSION, KAFKA_LIBS.
#
# Timing note: a kill -9'd node is only fenced / allowed to re-register after
# broker.session.timeout.ms (default 9 s), so a crashed single node takes
# ~15 s to come back.  Fault tests that want it faster can pass
#   kafka_start 1 broker.session.timeout.ms=3000 broker.heartbeat.interval.ms=500
# (restart then ~5 s).

[ -n "${_SLUICE_ON_EXIT+x}" ] || _SLUICE_ON_EXIT=()
_SLUICE_ENV_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# shellcheck source=tests/env/versions.sh
. "$_SLUICE_ENV_LIB_DIR/versions.sh"

# Sourcing guarantees the dependencies: install.sh is idempotent and cheap
# when everything is present (it fetches the PostgreSQL and Kafka that
# SLUICE_PG_VERSION / SLUICE_KAFKA_VERSION name, once); it prints the Kafka
# classpath dir on stdout.
_sluice_kafka_home="$("$_SLUICE_ENV_LIB_DIR/install.sh")" || {
    echo "env.sh: tests/env/install.sh failed" >&2
    return 1
}
KAFKA_LIBS="$_sluice_kafka_home/libs"
KAFKA_VERSION="${_sluice_kafka_home##*/kafka-}"
export KAFKA_LIBS KAFKA_VERSION
unset _sluice_kafka_home

PG_MAJOR="${SLUICE_PG_VERSION:-$SLUICE_PG_DEFAULT}"
PG_BIN="${SLUICE_PG_BIN:-$(sluice_pg_bin "$PG_MAJOR")}"
PG_CLIENT_BIN="${SLUICE_PG_CLIENT_BIN:-$SLUICE_PG_CLIENT_BIN_DEFAULT}"
export PG_MAJOR PG_BIN PG_CLIENT_BIN

# ---------------------------------------------------------------------------
# generic helpers

_env_err() { echo "env: $*" >&2; }

_env_require() {
    if [ -z "${SLUICE_ENV_DIR:-}" ] || [ ! -d "${SLUICE_ENV_DIR:-}" ]; then
        _env_err "${FUNCNAME[1]:-?}: call env_init first"
        return 1
    fi
}

# True if PID names a live process.  kill -0 alone is not enough: our daemons
# are orphaned on purpose (so a caller's bare `wait` never blocks on them) and
# PID 1 in some containers/VMs reaps orphans late, so a dead broker can linger
# as a zombie for a few seconds.
_env_pid_alive() {
    local st
    [ -n "${1:-}" ] || return 1
    kill -0 "$1" 2>/dev/null || return 1
    st="$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# True once none of the PIDs names a live process.
_env_pids_gone() {
    local pid
    for pid in "$@"; do
        ! _env_pid_alive "$pid" || return 1
    done
}

# wait_for [-p PID] TIMEOUT_S CMD...: runs CMD (a command or function that
# tests one condition) every 0.1 s until it succeeds. Returns 0 once it did,
# 1 when TIMEOUT_S seconds passed without, and 2 as soon as process PID (-p)
# has ended, so a caller waiting for a daemon's sign of life does not wait
# out the timeout on a daemon that died. It says nothing: the caller knows
# what was awaited and reports it. This is how every test waits for a
# condition (a process ready, a slot created, a log line, an offset); a bare
# sleep only paces a workload or holds a fault for a set time.
wait_for() {
    local pid=""
    if [ "$1" = -p ]; then
        pid="$2"
        shift 2
    fi
    local deadline=$((${EPOCHREALTIME/./} + $1 * 1000000))
    shift
    until "$@"; do
        [ -z "$pid" ] || _env_pid_alive "$pid" || return 2
        [ "${EPOCHREALTIME/./}" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# True if something listens on 127.0.0.1:PORT (or on a wildcard address).
_env_port_listening() {
    ss -ltnH 2>/dev/null | awk -v p="$1" '{ n = $4; sub(/.*:/, "", n); if (n == p) f = 1 } END { exit !f }'
}

# Print a random TCP port in 20000-45000 that no socket on this host uses
# (any state, not only LISTEN) and that we have not handed out before in this
# environment (the ports file prevents two services from picking the same
# port before either of them has bound it).
_env_free_port() {
    local used port tries=0
    used="$(ss -tanH 2>/dev/null | awk '{ n = $4; sub(/.*:/, "", n); print n }')"
    while [ "$tries" -lt 200 ]; do
        tries=$((tries + 1))
        port=$(( (RANDOM * 32768 + RANDOM) % 25001 + 20000 ))
        if printf '%s\n' "$used" | grep -qx "$port"; then continue; fi
        if grep -qx "$port" "$SLUICE_ENV_DIR/ports" 2>/dev/null; then continue; fi
        echo "$port" >>"$SLUICE_ENV_DIR/ports"
        echo "$port"
        return 0
    done
    _env_err "could not find a free TCP port"
    return 1
}

# Run a command as the PostgreSQL owner: the `postgres` system user when we
# are root (postgres refuses to run as root), ourselves otherwise.  cd into
# the env dir first so the postgres user does not complain about an
# unreadable cwd such as /root.
_pg_as() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd "$SLUICE_ENV_DIR" && runuser -u postgres -- "$@")
    else
        (cd "$SLUICE_ENV_DIR" && "$@")
    fi
}

# ---------------------------------------------------------------------------
# env_init / cleanup

# env_init: create the temp dir, export SLUICE_ENV_DIR and install the
# cleanup trap on EXIT/INT/TERM.  A second call in the same shell is a no-op.
# The "initialised" flag is deliberately NOT exported: a child script that
# inherits SLUICE_ENV_DIR (e.g. from start.sh's env.sh) gets its own env.
env_init() {
    if [ -n "${_SLUICE_ENV_OWNER:-}" ] && [ "$_SLUICE_ENV_OWNER" = "$$" ] && [ -d "${SLUICE_ENV_DIR:-}" ]; then
        return 0
    fi
    SLUICE_ENV_DIR="$(mktemp -d /tmp/sluice-env.XXXXXX)" || return 1
    # 755 so the unprivileged postgres user can reach its subdirectories.
    chmod 755 "$SLUICE_ENV_DIR"
    export SLUICE_ENV_DIR
    _SLUICE_ENV_OWNER=$$
    _SLUICE_ENV_CLEANED=""
    # Unset anything a parent environment may have exported for another env.
    unset PGPORT_TEST PGHOST_TEST PG_SOCKET_DIR PG_DATA PG_LOG PG_CONNINFO PG_VERSION_NUM \
        KAFKA_BOOTSTRAP KAFKA_NODES
    : >"$SLUICE_ENV_DIR/ports"
    # Quiet logging for the short-lived Kafka CLI tools (warnings to stderr),
    # for log4j 1.x (Kafka 3) and log4j2 (Kafka 4) alike.
    cat >"$SLUICE_ENV_DIR/log4j-tools.properties" <<'EOF'
log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
    cat >"$SLUICE_ENV_DIR/log4j2-tools.properties" <<'EOF'
status = warn
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = stderr
EOF
    trap '_env_cleanup' EXIT
    trap '_env_cleanup; trap - EXIT; exit 130' INT
    trap '_env_cleanup; trap - EXIT; exit 143' TERM
}

# env_on_exit CMD...: run CMD (eval'd, so pass one string or simple words)
# during cleanup, before the services are stopped.  Last registered runs
# first.  Use it to kill a sluice daemon etc.
env_on_exit() {
    _SLUICE_ON_EXIT+=("$*")
}

# env_stop_all: stop Kafka and PostgreSQL.  Safe to call at any time, also
# when nothing (or only part) was started.  The data is thrown away anyway,
# so Kafka is killed outright and PostgreSQL is stopped in immediate mode
# (fast teardown; a graceful 3-node Kafka shutdown can take 20+ s).
env_stop_all() {
    kafka_stop 0 || true
    pg_stop immediate || true
}

_env_cleanup() {
    local rc=$? i
    local -
    set +e
    [ -z "${_SLUICE_ENV_CLEANED:-}" ] || return "$rc"
    _SLUICE_ENV_CLEANED=1
    for ((i = ${#_SLUICE_ON_EXIT[@]} - 1; i >= 0; i--)); do
        eval "${_SLUICE_ON_EXIT[$i]}"
    done
    env_stop_all
    if [ -n "${SLUICE_ENV_DIR:-}" ] && [ -d "$SLUICE_ENV_DIR" ]; then
        if [ "${SLUICE_KEEP_ENV:-0}" = 1 ]; then
            echo "env: SLUICE_KEEP_ENV=1, keeping $SLUICE_ENV_DIR" >&2
        else
            rm -rf "$SLUICE_ENV_DIR"
        fi
    fi
    return "$rc"
}

# ---------------------------------------------------------------------------
# PostgreSQL

# pg_start [postgresql.conf line...]: initdb + start a fresh cluster.
pg_start() {
    _env_require || return 1
    if [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
        _env_err "pg_start: already running ($PG_DATA)"
        return 1
    fi
    local port line
    port="$(_env_free_port)" || return 1

    PG_DATA="$SLUICE_ENV_DIR/pg"
    PG_SOCKET_DIR="$SLUICE_ENV_DIR/pgsock"
    PG_LOG="$PG_DATA/log/postgresql.log"
    PGPORT_TEST="$port"
    PGHOST_TEST=127.0.0.1
    PG_CONNINFO="host=127.0.0.1 port=$port dbname=sluice_test user=sluice password=sluice"
    export PG_DATA PG_SOCKET_DIR PG_LOG PGPORT_TEST PGHOST_TEST PG_CONNINFO

    # initdb cannot create the dir itself when we are root (the env dir is
    # root-owned), so create it and hand it over.
    mkdir -p "$PG_DATA" "$PG_SOCKET_DIR"
    chmod 700 "$PG_DATA"
    chmod 755 "$PG_SOCKET_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres:postgres "$PG_DATA" "$PG_SOCKET_DIR"
    fi

    # --no-sync: nothing here needs to survive a host crash.
    if ! _pg_as "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 \
            --locale=C --no-sync >"$SLUICE_ENV_DIR/pg-initdb.log" 2>&1; then
        _env_err "pg_start: initdb failed:"
        tail -n 30 "$SLUICE_ENV_DIR/pg-initdb.log" >&2
        return 1
    fi
    _pg_as mkdir -p "$PG_DATA/log"

    # Appended after initdb's defaults, so these win; caller's lines come
    # last and override ours (last setting in the file wins).
    {
        echo ""
        echo "# --- sluice test environment ---"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$PG_SOCKET_DIR'"
        echo "wal_level = logical"
        echo "max_replication_slots = 20"
        echo "max_wal_senders = 20"
        echo "fsync = off"
        echo "full_page_writes = off"
        echo "synchronous_commit = on"
        echo "shared_buffers = 128MB"
        echo "max_connections = 100"
        echo "logging_collector = off"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        for line in "$@"; do
            echo "$line"
        done
    } >>"$PG_DATA/postgresql.conf"

    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# TYPE  DATABASE     USER  ADDRESS        METHOD
local   all          all                  trust
local   replication  all                  trust
host    all          all   127.0.0.1/32   scram-sha-256
host    replication  all   127.0.0.1/32   scram-sha-256
EOF

    _pg_ctl_start || return 1

    # Roles and database.  Over the unix socket (trust) as superuser.
    if ! pg_psql -d postgres >/dev/null <<'EOF'; then
ALTER ROLE postgres PASSWORD 'postgres';
CREATE ROLE sluice LOGIN REPLICATION PASSWORD 'sluice';
CREATE DATABASE sluice_test OWNER sluice;
EOF
        _env_err "pg_start: bootstrap SQL failed"
        return 1
    fi
    PG_VERSION_NUM="$(pg_psql -d postgres -Atc 'SHOW server_version_num')" || return 1
    export PG_VERSION_NUM
    if [ -z "${SLUICE_PG_BIN:-}" ] && [ "$((PG_VERSION_NUM / 10000))" != "$PG_MAJOR" ]; then
        _env_err "pg_start: asked for PostgreSQL $PG_MAJOR, but $PG_BIN runs $PG_VERSION_NUM"
        return 1
    fi
}

# Start the already-initialised cluster in $PG_DATA and wait until it accepts
# connections (30 s).
_pg_ctl_start() {
    if ! _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 start >/dev/null 2>&1; then
        _env_err "pg_start: PostgreSQL failed to start or was not ready within 30 s (port $PGPORT_TEST, data $PG_DATA); last lines of $PG_LOG:"
        tail -n 30 "$PG_LOG" >&2 2>/dev/null || true
        return 1
    fi
    # pg_ctl -w already waits; pg_isready double-checks the socket we use.
    if ! wait_for 30 "$PG_CLIENT_BIN/pg_isready" -q -h "$PG_SOCKET_DIR" -p "$PGPORT_TEST" -d postgres -U postgres; then
        _env_err "pg_start: PostgreSQL not ready after 30 s (port $PGPORT_TEST); last lines of $PG_LOG:"
        tail -n 30 "$PG_LOG" >&2 2>/dev/null || true
        return 1
    fi
}

# pg_stop [fast|immediate|smart]: stop the cluster (no-op if not running).
pg_stop() {
    local mode="${1:-fast}" pid
    [ -n "${PG_DATA:-}" ] && [ -f "$PG_DATA/postmaster.pid" ] || return 0
    if ! _pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t 30 stop >/dev/null 2>&1; then
        # Last resort; orphaned backends exit on their own once the
        # postmaster is gone.
        pid="$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null)"
        if _env_pid_alive "$pid"; then
            _env_err "pg_stop: pg_ctl stop -m $mode failed, killing postmaster $pid"
            kill -9 "$pid" 2>/dev/null || true
            wait_for 10 _env_pids_gone "$pid" || _env_err "pg_stop: postmaster $pid outlived kill -9 for 10 s"
        fi
        rm -f "$PG_DATA/postmaster.pid"
    fi
}

# pg_restart [mode]: stop with MODE (default fast), start the same cluster on
# the same port again.
pg_restart() {
    _env_require || return 1
    pg_stop "${1:-fast}" || return 1
    _pg_ctl_start
}

# pg_psql ARGS...: psql as superuser over the unix socket to sluice_test.
# A later -d overrides the database (psql takes the last one).
pg_psql() {
    "$PG_CLIENT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PGPORT_TEST" \
        -U postgres -d sluice_test "$@"
}

# ---------------------------------------------------------------------------
# Kafka (KRaft, combined broker+controller nodes)

# JVM flags for the short-lived CLI tools: start fast, log quietly.
_kafka_tool_jvm() {
    echo "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"
}

# kafka_tool CLASS ARGS...: run a Kafka CLI main class with quiet logging.
kafka_tool() {
    local cls="$1"
    shift
    # shellcheck disable=SC2046  # intentional word splitting of JVM flags
    java $(_kafka_tool_jvm) -cp "$KAFKA_LIBS/*" \
        -Dlog4j.configuration="file:$SLUICE_ENV_DIR/log4j-tools.properties" \
        -Dlog4j2.configurationFile="$SLUICE_ENV_DIR/log4j2-tools.properties" "$cls" "$@"
}

# kafka_topics ARGS...: kafka-topics.sh against this cluster.
kafka_topics() {
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" "$@"
}

_kafka_dir() { echo "$SLUICE_ENV_DIR/kafka$1"; }

# kafka_node_addr I: host:port of node I's client listener.
kafka_node_addr() {
    cat "$(_kafka_dir "$1")/addr"
}

# kafka_node_pid I: PID of node I's JVM, or nothing if it is not running.
kafka_node_pid() {
    local pid
    pid="$(cat "$(_kafka_dir "$1")/pid" 2>/dev/null)" || return 0
    if _env_pid_alive "$pid"; then echo "$pid"; fi
}

# kafka_start [n_nodes] [server.properties line...]: format and start an
# n-node cluster (default 1), wait until every node is up and sees all n
# brokers (90 s).  Extra property lines are appended to every node's config.
kafka_start() {
    _env_require || return 1
    local n="${1:-1}" i dir port cport voters="" bootstrap="" cid rf minisr pids=()
    [ $# -gt 0 ] && shift
    case "$n" in ''|*[!0-9]*|0) _env_err "kafka_start: bad node count '$n'"; return 1 ;; esac
    if [ -n "${KAFKA_NODES:-}" ]; then
        _env_err "kafka_start: already started ($KAFKA_NODES nodes)"
        return 1
    fi
    if [ "$n" -ge 3 ]; then rf=3; minisr=2; else rf="$n"; minisr=1; fi

    # Ports first: every node needs the full voter list.
    for ((i = 1; i <= n; i++)); do
        dir="$(_kafka_dir "$i")"
        mkdir -p "$dir/data"
        port="$(_env_free_port)" || return 1
        cport="$(_env_free_port)" || return 1
        echo "127.0.0.1:$port" >"$dir/addr"
        echo "$cport" >"$dir/cport"
        voters="${voters:+$voters,}$i@127.0.0.1:$cport"
        bootstrap="${bootstrap:+$bootstrap,}127.0.0.1:$port"
    done

    for ((i = 1; i <= n; i++)); do
        dir="$(_kafka_dir "$i")"
        port="$(cut -d: -f2 "$dir/addr")"
        cport="$(cat "$dir/cport")"
        {
            echo "process.roles=broker,controller"
            echo "node.id=$i"
            echo "controller.quorum.voters=$voters"
            echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
            echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
            echo "controller.listener.names=CONTROLLER"
            echo "inter.broker.listener.name=PLAINTEXT"
            echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            echo "log.dirs=$dir/data"
            echo "num.partitions=3"
            echo "auto.create.topics.enable=true"
            echo "offsets.topic.replication.factor=$rf"
            echo "offsets.topic.num.partitions=4"
            echo "transaction.state.log.replication.factor=$rf"
            echo "transaction.state.log.min.isr=$minisr"
            echo "transaction.state.log.num.partitions=4"
            echo "transaction.max.timeout.ms=900000"
            echo "group.initial.rebalance.delay.ms=0"
            if [ "$n" -ge 3 ]; then
                echo "default.replication.factor=3"
                echo "min.insync.replicas=2"
            fi
            local line
            for line in "$@"; do echo "$line"; done
        } >"$dir/server.properties"
        # Broker logs go to a file at INFO, never to the terminal.
        cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
EOF
        cat >"$dir/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
    done

    # One cluster id for all nodes; format the log dirs in parallel (each
    # format is a JVM start, ~1-2 s).
    cid="$(kafka_tool kafka.tools.StorageTool random-uuid)" || {
        _env_err "kafka_start: StorageTool random-uuid failed"; return 1; }
    echo "$cid" >"$SLUICE_ENV_DIR/kafka-cluster-id"
    for ((i = 1; i <= n; i++)); do
        dir="$(_kafka_dir "$i")"
        kafka_tool kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" \
            >"$dir/format.log" 2>&1 &
        pids+=($!)
    done
    for ((i = 1; i <= n; i++)); do
        if ! wait "${pids[$((i - 1))]}"; then
            _env_err "kafka_start: formatting node $i failed:"
            tail -n 20 "$(_kafka_dir "$i")/format.log" >&2
            return 1
        fi
    done

    KAFKA_BOOTSTRAP="$bootstrap"
    KAFKA_NODES="$n"
    export KAFKA_BOOTSTRAP KAFKA_NODES

    for ((i = 1; i <= n; i++)); do
        _kafka_launch "$i" || return 1
    done
    kafka_wait_ready "$n" 90
}

# Start node I's JVM in its own session (so a terminal Ctrl-C does not reach
# it; our trap decides when it stops) and orphan it (double fork, so a bare
# `wait` in the caller never waits for Kafka).  The PID is written by the
# process itself right before exec'ing java, which works whether or not
# setsid has to fork.
_kafka_launch() {
    local i="$1" dir
    dir="$(_kafka_dir "$i")"
    rm -f "$dir/pid"
    (
        cd "$dir" || exit 1
        # shellcheck disable=SC2086  # intentional word splitting of JVM flags
        setsid sh -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" \
            java ${SLUICE_KAFKA_HEAP_OPTS:--Xms512m -Xmx512m} \
            -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent \
            -Djava.awt.headless=true ${SLUICE_KAFKA_JVM_OPTS:-} \
            -Dsluice.env="$SLUICE_ENV_DIR" \
            -Dlog4j.configuration="file:$dir/log4j.properties" \
            -Dlog4j2.configurationFile="$dir/log4j2.properties" \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$dir/server.properties" \
            </dev/null >>"$dir/stdout.log" 2>&1 &
    )
    wait_for 5 test -s "$dir/pid" && return 0
    _env_err "kafka: node $i did not start (no pid file)"
    return 1
}

# kafka_wait_ready [n_brokers] [timeout_s]: wait until every running node
# answers a metadata request and reports N brokers (default: the number of
# running nodes; fenced/dead brokers are not listed).  So after
# kafka_stop_node, `kafka_wait_ready` waits until the cluster has noticed.
kafka_wait_ready() {
    _env_require || return 1
    local want="${1:-}" timeout="${2:-90}" deadline i pid addr out cnt ok running last=""
    deadline=$((SECONDS + timeout))
    while :; do
        ok=1
        # Nodes with a pid file are meant to be running (kafka_stop_node
        # removes it); count them first, they are the default N.
        running=0
        for ((i = 1; i <= ${KAFKA_NODES:-0}; i++)); do
            [ -f "$(_kafka_dir "$i")/pid" ] && running=$((running + 1))
        done
        for ((i = 1; i <= ${KAFKA_NODES:-0}; i++)); do
            [ -f "$(_kafka_dir "$i")/pid" ] || continue
            pid="$(kafka_node_pid "$i")"
            if [ -z "$pid" ]; then
                _env_err "kafka: node $i died; last lines of $(_kafka_dir "$i")/server.log:"
                tail -n 40 "$(_kafka_dir "$i")/server.log" >&2 2>/dev/null || true
                tail -n 20 "$(_kafka_dir "$i")/stdout.log" >&2 2>/dev/null || true
                return 1
            fi
            addr="$(kafka_node_addr "$i")"
            if ! _env_port_listening "${addr##*:}"; then ok=0; last="node $i not listening yet"; continue; fi
            if ! out="$(kcat -b "$addr" -L -m 3 2>&1)"; then ok=0; last="node $i: $out"; continue; fi
            cnt="$(printf '%s\n' "$out" | grep -cE '^ +broker [0-9]+ at ' || true)"
            if [ "$cnt" != "${want:-$running}" ]; then
                ok=0; last="node $i sees $cnt brokers, want ${want:-$running}"
            fi
        done
        [ "$ok" = 1 ] && [ "$running" -gt 0 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            _env_err "kafka: cluster not ready after ${timeout}s ($last); last lines of the node logs:"
            for ((i = 1; i <= ${KAFKA_NODES:-0}; i++)); do
                echo "--- node $i: $(_kafka_dir "$i")/server.log" >&2
                tail -n 20 "$(_kafka_dir "$i")/server.log" >&2 2>/dev/null || true
            done
            return 1
        fi
        sleep 0.5
    done
}

# kafka_stop_node I: kill -9 node I (simulated crash).  Does not wait for the
# rest of the cluster to notice; use kafka_wait_ready for that.
kafka_stop_node() {
    _env_require || return 1
    local i="$1" pid
    pid="$(kafka_node_pid "$i")"
    if [ -n "$pid" ]; then
        kill -9 "$pid" 2>/dev/null || true
        wait_for 10 _env_pids_gone "$pid" || _env_err "kafka: node $i outlived kill -9 for 10 s"
    fi
    rm -f "$(_kafka_dir "$i")/pid"
}

# kafka_start_node I: start node I again with the same config and data, wait
# until the cluster (all running nodes) is ready.
kafka_start_node() {
    _env_require || return 1
    local i="$1"
    if [ ! -f "$(_kafka_dir "$i")/server.properties" ]; then
        _env_err "kafka_start_node: no node $i"
        return 1
    fi
    if [ -n "$(kafka_node_pid "$i")" ]; then
        _env_err "kafka_start_node: node $i is already running"
        return 1
    fi
    _kafka_launch "$i" || return 1
    kafka_wait_ready "" 90
}

# kafka_stop [grace_s]: SIGTERM all nodes, wait up to grace_s (default 20),
# then kill -9 the rest.  grace_s=0 kills immediately.
kafka_stop() {
    local grace="${1:-20}" i pid pids=()
    [ -n "${SLUICE_ENV_DIR:-}" ] && [ -n "${KAFKA_NODES:-}" ] || return 0
    for ((i = 1; i <= KAFKA_NODES; i++)); do
        pid="$(kafka_node_pid "$i")"
        [ -n "$pid" ] && pids+=("$pid")
    done
    if [ ${#pids[@]} -gt 0 ]; then
        if [ "$grace" -gt 0 ]; then
            kill -TERM "${pids[@]}" 2>/dev/null || true
            wait_for "$grace" _env_pids_gone "${pids[@]}" || true # then kill -9
        fi
        for pid in "${pids[@]}"; do
            if _env_pid_alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
        done
        # Wait for the kills to land so ports/dirs are free when we return.
        wait_for 10 _env_pids_gone "${pids[@]}" || _env_err "kafka: a node outlived kill -9 for 10 s"
    fi
    for ((i = 1; i <= KAFKA_NODES; i++)); do
        rm -f "$(_kafka_dir "$i")/pid"
    done
}

# kafka_restart [grace_s]: stop every node (kafka_stop semantics) and start
# them all again with the same config and data; wait until ready.  Needed
# for full-outage tests: a lone restarted node of a 3-node cluster has no
# controller quorum.
kafka_restart() {
    _env_require || return 1
    local i
    kafka_stop "${1:-20}"
    for ((i = 1; i <= ${KAFKA_NODES:-0}; i++)); do
        _kafka_launch "$i" || return 1
    done
    kafka_wait_ready "${KAFKA_NODES:-0}" 90
}
