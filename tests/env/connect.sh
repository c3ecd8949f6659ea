# shellcheck shell=bash
# A Kafka Connect worker (distributed mode, one worker) of this environment,
# for the peers that run on Connect: Debezium's PostgreSQL connector in the
# benchmarks (tests/bench/lib.sh) and Debezium's JDBC sink in make interop
# (tests/interop/jdbc.sh). Source after tests/env/env.sh and tests/it/lib.sh.

# connect_worker_start DIR PORT PLUGIN JVM_FLAG...: runs ConnectDistributed
# on DIR/worker.properties (the caller writes it, listening on PORT) with
# Kafka's jars, logging to DIR/connect.log (log4j lines in
# CONNECT_LOG4J_EXTRA are added), and waits up to 120 s for its REST API to
# list a connector plugin whose class name contains PLUGIN. Sets CONNECT_URL,
# CONNECT_PID and CONNECT_LOG; the worker is stopped when the environment is.
# On failure (it died, or no answer in time) it says why and kills it.
connect_worker_start() {
    local dir="$1" port="$2" plugin="$3" t
    shift 3
    cat >"$dir/log4j.properties" <<EOF2
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/connect.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.reflections=ERROR
log4j.logger.org.apache.kafka.clients=WARN
${CONNECT_LOG4J_EXTRA:-}
EOF2
    rm -f "$dir/pid"
    (
        cd "$dir" || exit 1
        setsid sh -c 'echo $$ >"$0"; exec "$@"' "$dir/pid" \
            java "$@" -Djava.awt.headless=true -Dsluice.env="$SLUICE_ENV_DIR" \
            -Dlog4j.configuration="file:$dir/log4j.properties" \
            -cp "$KAFKA_LIBS/*" org.apache.kafka.connect.cli.ConnectDistributed "$dir/worker.properties" \
            </dev/null >>"$dir/stdout.log" 2>&1 &
    )
    CONNECT_URL="http://127.0.0.1:$port"
    CONNECT_LOG="$dir/connect.log"
    CONNECT_PID=""
    for ((t = 0; t < 1200; t++)); do
        [ -n "$CONNECT_PID" ] || CONNECT_PID="$(cat "$dir/pid" 2>/dev/null)"
        if [ -n "$CONNECT_PID" ] && ! _env_pid_alive "$CONNECT_PID"; then
            log "Kafka Connect died: $(tail -5 "$dir/stdout.log" "$CONNECT_LOG" 2>/dev/null)"
            return 1
        fi
        if curl -sf "$CONNECT_URL/connector-plugins" 2>/dev/null | grep -q "$plugin"; then
            env_on_exit "connect_worker_stop $CONNECT_PID"
            return 0
        fi
        sleep 0.1
    done
    log "Kafka Connect did not come up within 120 s: $(tail -5 "$CONNECT_LOG")"
    [ -z "$CONNECT_PID" ] || kill -9 "$CONNECT_PID" 2>/dev/null
    return 1
}

# connect_worker_stop PID: SIGTERM (a graceful stop lets a connector close
# its connections), kill -9 after 30 s. No-op when it is gone or when PID is
# no longer a Connect worker of this environment.
connect_worker_stop() {
    local pid="$1"
    _env_pid_alive "$pid" || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-Dsluice.env=$SLUICE_ENV_DIR .*ConnectDistributed" || return 0
    kill -TERM "$pid" 2>/dev/null
    wait_for 30 _env_pids_gone "$pid" && return 0
    kill -9 "$pid" 2>/dev/null
}
