# shellcheck shell=bash
# A secured single-node Kafka (KRaft) for the security tests: source after
# tests/env/env.sh and env_init.
#
#   kafka_secure_start           # certificates, SCRAM users, broker; exports KSEC_*
#   kafka_acls --add --allow-principal User:sluice --operation Read --topic t
#   kafka_secure_stop            # also run at env cleanup
#
# The broker (its own dir $SLUICE_ENV_DIR/ksec) has four listeners, each on a
# free port of 127.0.0.1:
#   CLIENT      SASL_SSL, SCRAM-SHA-512: $KSEC_BOOTSTRAP (clients: sluice, the admin)
#   MTLS        SSL with ssl.client.auth=required: $KSEC_MTLS_BOOTSTRAP; the
#               principal is the certificate's CN (CN=sluice is User:sluice)
#   INTERNAL    SSL, client certificate required (inter-broker)
#   CONTROLLER  SSL, client certificate required (KRaft controller)
# The StandardAuthorizer guards them all, with allow.everyone.if.no.acl.found
# = false: a principal may do exactly what an ACL allows. Super users are
# User:broker (the broker's own certificate, CN=broker, on INTERNAL and
# CONTROLLER) and User:admin (SCRAM; the tests' administrator). SCRAM
# credentials for admin and sluice are written into the metadata log when the
# node is formatted (kafka-storage format --add-scram, KIP-900), so they exist
# before the first client connects. (kafka-configs --alter --add-config
# 'SCRAM-SHA-512=[password=…]' --entity-type users as the admin adds more once
# it runs: kafka.admin.ConfigCommand, tried with 3.9.1.)
#
# TLS comes from a throwaway CA made with openssl here (RSA 2048, 2 days):
# a server certificate for the broker (DNS:localhost, IP:127.0.0.1, server and
# client use) and a client certificate CN=sluice for mTLS. The broker reads
# PEM files directly (ssl.keystore.type = PEM), so no keytool is needed.
#
# Exports: KSEC_DIR, KSEC_BOOTSTRAP, KSEC_MTLS_BOOTSTRAP, KSEC_CA (CA
# certificate), KSEC_CLIENT_CERT / KSEC_CLIENT_KEY (CN=sluice),
# KSEC_ADMIN_PASSWORD, KSEC_SLUICE_PASSWORD, KSEC_ADMIN_JAVA (a Java client
# properties file for the admin, for the Kafka CLI tools), KSEC_ADMIN_RDKAFKA
# (the same as librdkafka key=value lines, for kcat -F and the test tools'
# SLUICE_TEST_KAFKA_CONFIG).

KSEC_ADMIN_PASSWORD="admin-secret"
KSEC_SLUICE_PASSWORD="sluice-secret"
export KSEC_ADMIN_PASSWORD KSEC_SLUICE_PASSWORD

# _ksec_cert NAME CN: a key and a certificate signed by the test CA, in $KSEC_DIR/tls.
_ksec_cert() {
    local d="$KSEC_DIR/tls" name="$1" cn="$2"
    openssl req -newkey rsa:2048 -nodes -keyout "$d/$name.key" -out "$d/$name.csr" \
        -subj "/CN=$cn" >>"$d/openssl.log" 2>&1 || return 1
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        "extendedKeyUsage=serverAuth,clientAuth" "basicConstraints=CA:FALSE" >"$d/$name.ext"
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/$name.crt" -days 2 -extfile "$d/$name.ext" >>"$d/openssl.log" 2>&1 || return 1
    # The broker's PEM keystore: the (unencrypted PKCS#8) key, then the certificate.
    cat "$d/$name.key" "$d/$name.crt" >"$d/$name.pem"
    chmod 600 "$d/$name.key" "$d/$name.pem"
}

# _ksec_tls: the CA, the broker's certificate and sluice's client certificate.
_ksec_tls() {
    local d="$KSEC_DIR/tls"
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 \
        -subj "/CN=sluice-test-ca" >>"$d/openssl.log" 2>&1 &&
        _ksec_cert broker broker && _ksec_cert client sluice || {
        _env_err "kafka_secure_start: openssl failed:"
        tail -n 20 "$d/openssl.log" >&2
        return 1
    }
    KSEC_CA="$d/ca.crt"
    KSEC_CLIENT_CERT="$d/client.crt"
    KSEC_CLIENT_KEY="$d/client.key"
    export KSEC_CA KSEC_CLIENT_CERT KSEC_CLIENT_KEY
}

# _ksec_client_files: the admin's client settings, for Java tools and for librdkafka.
_ksec_client_files() {
    KSEC_ADMIN_JAVA="$KSEC_DIR/admin.properties"
    KSEC_ADMIN_RDKAFKA="$KSEC_DIR/admin.rdkafka"
    cat >"$KSEC_ADMIN_JAVA" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$KSEC_ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$KSEC_CA
EOF
    cat >"$KSEC_ADMIN_RDKAFKA" <<EOF
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=admin
sasl.password=$KSEC_ADMIN_PASSWORD
ssl.ca.location=$KSEC_CA
EOF
    chmod 600 "$KSEC_ADMIN_JAVA" "$KSEC_ADMIN_RDKAFKA"
    export KSEC_ADMIN_JAVA KSEC_ADMIN_RDKAFKA
}

# _ksec_pid: the broker's PID, or nothing if it is not running.
_ksec_pid() {
    local pid
    pid="$(cat "$KSEC_DIR/pid" 2>/dev/null)" || return 0
    if _env_pid_alive "$pid"; then echo "$pid"; fi
}

# True once the admin gets metadata listing the broker over SASL_SSL.
_ksec_answers() {
    kcat -F "$KSEC_ADMIN_RDKAFKA" -b "$KSEC_BOOTSTRAP" -L -m 3 2>/dev/null | grep -qE '^ +broker 1 at '
}

# kafka_secure_start [server.properties line...]: start the secured broker
# (90 s to be ready). Extra lines are appended to its configuration.
kafka_secure_start() {
    _env_require || return 1
    if [ -n "${KSEC_DIR:-}" ] && [ -n "$(_ksec_pid)" ]; then
        _env_err "kafka_secure_start: already running ($KSEC_DIR)"
        return 1
    fi
    KSEC_DIR="$SLUICE_ENV_DIR/ksec"
    export KSEC_DIR
    mkdir -p "$KSEC_DIR/data"
    local port mport iport cport cid line
    port="$(_env_free_port)" && mport="$(_env_free_port)" && iport="$(_env_free_port)" &&
        cport="$(_env_free_port)" || return 1
    KSEC_BOOTSTRAP="127.0.0.1:$port"
    KSEC_MTLS_BOOTSTRAP="127.0.0.1:$mport"
    export KSEC_BOOTSTRAP KSEC_MTLS_BOOTSTRAP
    _ksec_tls || return 1
    _ksec_client_files

    {
        echo "process.roles=broker,controller"
        echo "node.id=1"
        echo "controller.quorum.voters=1@127.0.0.1:$cport"
        echo "listeners=CLIENT://127.0.0.1:$port,MTLS://127.0.0.1:$mport,INTERNAL://127.0.0.1:$iport,CONTROLLER://127.0.0.1:$cport"
        echo "advertised.listeners=CLIENT://127.0.0.1:$port,MTLS://127.0.0.1:$mport,INTERNAL://127.0.0.1:$iport"
        echo "listener.security.protocol.map=CLIENT:SASL_SSL,MTLS:SSL,INTERNAL:SSL,CONTROLLER:SSL"
        echo "controller.listener.names=CONTROLLER"
        echo "inter.broker.listener.name=INTERNAL"
        echo "sasl.enabled.mechanisms=SCRAM-SHA-512"
        echo "listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
        echo "ssl.keystore.type=PEM"
        echo "ssl.keystore.location=$KSEC_DIR/tls/broker.pem"
        echo "ssl.truststore.type=PEM"
        echo "ssl.truststore.location=$KSEC_CA"
        echo "listener.name.mtls.ssl.client.auth=required"
        echo "listener.name.internal.ssl.client.auth=required"
        echo "listener.name.controller.ssl.client.auth=required"
        # CN=sluice -> User:sluice, CN=broker -> User:broker.
        echo 'ssl.principal.mapping.rules=RULE:^CN=([^,]+)$/$1/,DEFAULT'
        echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        echo "allow.everyone.if.no.acl.found=false"
        echo "super.users=User:broker;User:admin"
        echo "log.dirs=$KSEC_DIR/data"
        echo "num.partitions=3"
        echo "auto.create.topics.enable=false"
        echo "offsets.topic.replication.factor=1"
        echo "offsets.topic.num.partitions=4"
        echo "transaction.state.log.replication.factor=1"
        echo "transaction.state.log.min.isr=1"
        echo "transaction.state.log.num.partitions=4"
        echo "transaction.max.timeout.ms=900000"
        echo "group.initial.rebalance.delay.ms=0"
        for line in "$@"; do echo "$line"; done
    } >"$KSEC_DIR/server.properties"
    cat >"$KSEC_DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$KSEC_DIR/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.authorizer.logger=INFO
EOF

    cid="$(kafka_tool kafka.tools.StorageTool random-uuid)" || {
        _env_err "kafka_secure_start: StorageTool random-uuid failed"; return 1; }
    if ! kafka_tool kafka.tools.StorageTool format -t "$cid" -c "$KSEC_DIR/server.properties" \
            -S "SCRAM-SHA-512=[name=admin,password=$KSEC_ADMIN_PASSWORD]" \
            -S "SCRAM-SHA-512=[name=sluice,password=$KSEC_SLUICE_PASSWORD]" \
            >"$KSEC_DIR/format.log" 2>&1; then
        _env_err "kafka_secure_start: formatting failed:"
        tail -n 20 "$KSEC_DIR/format.log" >&2
        return 1
    fi

    env_on_exit kafka_secure_stop
    rm -f "$KSEC_DIR/pid"
    (
        cd "$KSEC_DIR" || exit 1
        # shellcheck disable=SC2086  # intentional word splitting of JVM flags
        setsid sh -c 'echo $$ >"$0"; exec "$@"' "$KSEC_DIR/pid" \
            java ${SLUICE_KAFKA_HEAP_OPTS:--Xms512m -Xmx512m} \
            -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
            ${SLUICE_KAFKA_JVM_OPTS:-} -Dsluice.env="$SLUICE_ENV_DIR" \
            -Dlog4j.configuration="file:$KSEC_DIR/log4j.properties" \
            -cp "$KAFKA_LIBS/*" kafka.Kafka "$KSEC_DIR/server.properties" \
            </dev/null >>"$KSEC_DIR/stdout.log" 2>&1 &
    )
    wait_for 5 test -s "$KSEC_DIR/pid" || {
        _env_err "kafka_secure_start: the broker did not start (no pid file)"
        return 1
    }
    local rc=0
    wait_for -p "$(cat "$KSEC_DIR/pid")" 90 _ksec_answers || rc=$?
    if [ "$rc" -ne 0 ]; then
        _env_err "kafka_secure_start: the broker $([ "$rc" = 2 ] && echo died || echo "was not ready within 90 s"); last lines of $KSEC_DIR/server.log:"
        tail -n 30 "$KSEC_DIR/server.log" >&2 2>/dev/null || true
        tail -n 10 "$KSEC_DIR/stdout.log" >&2 2>/dev/null || true
        return 1
    fi
}

# kafka_secure_stop: kill the secured broker (its data is thrown away anyway).
kafka_secure_stop() {
    [ -n "${KSEC_DIR:-}" ] || return 0
    local pid
    pid="$(_ksec_pid)"
    if [ -n "$pid" ]; then
        kill -9 "$pid" 2>/dev/null || true
        wait_for 10 _env_pids_gone "$pid" || _env_err "kafka_secure_stop: broker $pid outlived kill -9 for 10 s"
    fi
    rm -f "$KSEC_DIR/pid"
}

# kafka_acls ARGS...: kafka-acls as the admin against the secured broker.
kafka_acls() {
    kafka_tool kafka.admin.AclCommand --bootstrap-server "$KSEC_BOOTSTRAP" \
        --command-config "$KSEC_ADMIN_JAVA" "$@"
}

# kafka_secure_topics ARGS...: kafka-topics as the admin against the secured broker.
kafka_secure_topics() {
    kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$KSEC_BOOTSTRAP" \
        --command-config "$KSEC_ADMIN_JAVA" "$@"
}
