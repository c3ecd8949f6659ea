# shellcheck shell=bash
# Security tests (sourced by run_security.sh): sluice on a secured Kafka with
# exactly the ACLs docs/operations.md lists, each ACL taken away in turn, an
# ACL removed while streaming, a wrong SCRAM password, and mTLS. Each sec_*
# function is one test.
#
# The ACLs come from the docs themselves: ks_doc_acls reads the kafka-acls
# lines of the block marked "sluice-acls" in docs/operations.md, so the list
# tested is the list documented.

# ks_config FILE SLOT PREFIX [lines...]: a config for User:sluice over SASL_SSL (SCRAM-SHA-512).
ks_config() {
    local f="$1" s="$2" p="$3"
    shift 3
    sluice_config "$f" "$s" "$p" "kafka.security.protocol = SASL_SSL" \
        "kafka.sasl.mechanism = SCRAM-SHA-512" "kafka.sasl.username = sluice" \
        "kafka.sasl.password = $KSEC_SLUICE_PASSWORD" "kafka.ssl.ca.location = $KSEC_CA" "$@"
}

# ks_doc_acls: the "$ACLS --add …" lines of docs/operations.md's sluice-acls block.
ks_doc_acls() {
    awk '/<!-- sluice-acls/ { f = 1; next }
         f && /^```sh/ { b = 1; next }
         b && /^```/ { exit }
         b && /^\$ACLS / { print }' "$REPO/docs/operations.md"
}

# ks_acl SLOT PREFIX N: the kafka-acls arguments of the Nth documented ACL for SLOT, PREFIX
# and User:sluice, as the docs write them ("--add --allow-principal User:sluice --operation …").
ks_acl() {
    ks_doc_acls | sed -n "${3}p" |
        sed -e 's/^\$ACLS //' -e "s/\\\$PREFIX/$2/g" -e "s/\\\$SLOT/$1/g" -e 's/\$P\b/User:sluice/g'
}

# ks_grant SLOT PREFIX N / ks_revoke SLOT PREFIX N: add or remove the Nth documented ACL.
ks_grant() {
    # shellcheck disable=SC2046  # the arguments are words without blanks
    kafka_acls $(ks_acl "$@") >/dev/null
}
ks_revoke() {
    # shellcheck disable=SC2046
    kafka_acls $(ks_acl "$@" | sed 's/^--add /--remove --force /') >/dev/null
}

# ks_grant_all SLOT PREFIX: every documented ACL.
ks_grant_all() {
    local i n
    n="$(ks_doc_acls | wc -l)"
    [ "$n" -ge 1 ] || { fail "no kafka-acls lines in docs/operations.md's sluice-acls block"; return 1; }
    for ((i = 1; i <= n; i++)); do ks_grant "$1" "$2" "$i"; done
}

# ks_acl_count NAME...: ACL entries of User:sluice on resources whose name contains one of NAMEs.
ks_acl_count() {
    kafka_acls --list --principal User:sluice | awk -v names="$*" '
        BEGIN { n = split(names, want, " ") }
        /^Current ACLs for resource/ {
            mine = 0
            for (i = 1; i <= n; i++) if (index($0, want[i]) > 0) mine = 1
            next
        }
        mine && /principal=User:sluice/ { count++ }
        END { print count + 0 }'
}

# ks_denied_since LINE NAME: lines of the broker log after line LINE where the authorizer
# denied User:sluice something on a resource whose name contains NAME.
ks_denied_since() {
    tail -n +"$(($1 + 1))" "$KSEC_DIR/server.log" | grep "Principal = User:sluice is Denied" |
        grep -F "$2" || true
}

# The exact ACLs: `sluice check` passes, a workload arrives exactly once (verified as the
# admin), `sluice status` reads the checkpoint, and the authorizer refused sluice nothing
# but the optional Describe on its reader's group.
sec_exact_acls_check_and_run() {
    local slot=sec_ok prefix=secok cfg="$W/ok.conf" logf="$W/ok.log" n rc out0
    out0="$(wc -l <"$KSEC_DIR/server.log")"
    ks_grant_all "$slot" "$prefix"
    n="$(ks_doc_acls | wc -l)"
    local have
    have="$(ks_acl_count "$prefix" "$slot")"
    [ "$have" = "$n" ] || fail "User:sluice has $have ACLs on this pipeline's resources, want the $n documented"
    log "granted the $n documented ACLs: $(for ((i = 1; i <= n; i++)); do printf '[%s] ' "$(ks_acl "$slot" "$prefix" "$i")"; done)"
    pg_psql -qc "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
    ks_config "$cfg" "$slot" "$prefix"
    rc=0
    "$SLUICE" check -c "$cfg" >"$W/ok.check" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && ! grep -q 'FAIL' "$W/ok.check" ||
        fail "sluice check exited $rc with the documented ACLs: $(grep -A1 FAIL "$W/ok.check")"
    grep -q 'ok    Kafka transactions' "$W/ok.check" || fail "no Kafka transactions check: $(cat "$W/ok.check")"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID sampler
    wait_slot_exists "$slot"
    start_sampler "$prefix" "$slot" "$W/ok.samples"
    sampler=$SAMPLER_PID
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 4 --txns "${SEC_TXNS:-1000}" --seed 61
    catch_up_and_stop "$slot" "$pid" 180
    stop_sampler "$sampler" "$W/ok.samples"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger | tee "$W/ok.verify"
    rc=0
    "$SLUICE" status -c "$cfg" >"$W/ok.status" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && grep -q '^consistency: ok' "$W/ok.status" ||
        fail "sluice status exited $rc: $(cat "$W/ok.status")"
    local denied
    denied="$(ks_denied_since "$out0" "$prefix"; ks_denied_since "$out0" "$slot" | grep -v 'resource = Group:' || true)"
    [ -z "$denied" ] || fail "the authorizer denied User:sluice with the documented ACLs: $denied"
    drop_slot "$slot"
}

# Each documented ACL taken away in turn: the command that needs it (run, check, status)
# fails with exit 7 (10 for check) and a message naming exactly that ACL, at once (no
# retry loop), and nothing is confirmed to PostgreSQL; with the ACL back, the changes
# written meanwhile arrive exactly once.
sec_each_acl_removed_is_named() {
    local slot=sec_rm prefix=secrm cfg="$W/rm.conf" logf="$W/rm.log" n i acl l0 rc pid
    ks_grant_all "$slot" "$prefix"
    pg_psql -qc "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
    ks_config "$cfg" "$slot" "$prefix"
    # A first run creates the topics and a checkpoint.
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait_slot_exists "$slot"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 100 --seed 62 >/dev/null
    catch_up_and_stop "$slot" "$pid" 120
    l0="$(slot_confirmed "$slot")"
    n="$(ks_doc_acls | wc -l)"
    for ((i = 1; i <= n; i++)); do
        acl="$(ks_acl "$slot" "$prefix" "$i")"
        log "without [$acl]"
        ks_revoke "$slot" "$prefix" "$i"
        # Changes waiting, so that a run has something to commit.
        "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 1 --txns 20 --seed $((620 + i)) >/dev/null
        local extra=() needs_run=1 needs_check=1 needs_status=0
        case "$acl" in
        *"--transactional-id sluice-check-$slot") needs_run=0 ;;
        *"--transactional-id sluice-$slot") needs_check=0 ;;
        *"--operation Create "*)
            # Topics missing, as at a first start: a checkpoint topic not created yet.
            extra=(-o "checkpoint.topic=$prefix.sluice.fresh") ;;
        *"--operation Read "*) needs_status=1 ;;
        esac
        if [ "$needs_check" = 1 ]; then
            rc=0
            "$SLUICE" check -c "$cfg" "${extra[@]}" >"$W/rm$i.check" 2>&1 || rc=$?
            [ "$rc" -eq 10 ] || fail "check without [$acl] exited $rc, want 10"
            grep -F 'FAIL' "$W/rm$i.check" | grep -qF -- "$acl" ||
                fail "check without [$acl] did not name it: $(grep -A1 FAIL "$W/rm$i.check")"
            log "check: $(grep -F 'FAIL' "$W/rm$i.check" | cut -c1-160)…"
        fi
        if [ "$needs_run" = 1 ]; then
            sluice_start "$cfg" "$W/rm$i.log" "${extra[@]}"
            pid=$SLUICE_PID
            rc=0
            wait_exit "$pid" 90 || rc=$?
            [ "$rc" -eq 7 ] || fail "run without [$acl] exited $rc, want 7"
            grep ' FATAL: ' "$W/rm$i.log" | grep -qF -- "$acl" ||
                fail "run without [$acl] did not name it: $(grep -E 'FATAL|WARN' "$W/rm$i.log" | tail -3)"
            [ "$(grep -c ' FATAL: ' "$W/rm$i.log")" = 1 ] || fail "run without [$acl]: more than one FATAL: $(grep ' FATAL: ' "$W/rm$i.log")"
            ! grep -q '; retrying' "$W/rm$i.log" || fail "run without [$acl] retried: $(grep -m1 '; retrying' "$W/rm$i.log")"
            log "run: exit $rc, $(grep ' FATAL: ' "$W/rm$i.log" | sed 's/.*FATAL: *//' | cut -c1-140)…"
        fi
        if [ "$needs_status" = 1 ]; then
            rc=0
            "$SLUICE" status -c "$cfg" >"$W/rm$i.status" 2>&1 || rc=$?
            [ "$rc" -eq 7 ] && grep -qF -- "$acl" "$W/rm$i.status" ||
                fail "status without [$acl] exited $rc: $(cat "$W/rm$i.status")"
        fi
        [ "$(slot_confirmed "$slot")" = "$l0" ] ||
            fail "without [$acl] the slot moved from $l0 to $(slot_confirmed "$slot"): confirmed what Kafka does not hold"
        ks_grant "$slot" "$prefix" "$i"
    done
    # Everything back: what was written meanwhile arrives, exactly once.
    sluice_start "$cfg" "$logf"
    catch_up_and_stop "$slot" "$SLUICE_PID" 120
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger | tee "$W/rm.verify"
    drop_slot "$slot"
}

# An ACL removed while sluice streams under a workload: it stops with exit 7 naming the ACL
# at the next Kafka transaction (which is aborted), confirming nothing Kafka does not hold
# (the V6 sampler watches throughout); with the ACL back it resumes exactly once. Done for
# the topics' Write, then for the transactional id's.
sec_acl_removed_while_streaming() {
    local slot=sec_mid prefix=secmid cfg="$W/mid.conf" logf="$W/mid.log" i acl rc pid sampler k=0
    ks_grant_all "$slot" "$prefix"
    pg_psql -qc "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
    ks_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait_slot_exists "$slot"
    start_sampler "$prefix" "$slot" "$W/mid.samples"
    sampler=$SAMPLER_PID
    workload_loop "$W/mid.running" 63 100 2
    # A failing check ends this test's subshell: stop the loop and the sampler with it, so
    # that no later test finds the tables still being written.
    # (Expanded now: the trap runs after this function's locals are gone.)
    # shellcheck disable=SC2064
    trap "rm -f '$W/mid.running'; kill $sampler 2>/dev/null || true" EXIT
    local n
    n="$(ks_doc_acls | wc -l)"
    for ((i = 1; i <= n; i++)); do
        acl="$(ks_acl "$slot" "$prefix" "$i")"
        case "$acl" in
        *"--operation Write --topic "* | *"--transactional-id sluice-$slot") ;;
        *) continue ;;
        esac
        k=$((k + 1))
        wait_progress "$slot" 120 || fail "sluice did not stream before [$acl] was removed"
        ks_revoke "$slot" "$prefix" "$i"
        rc=0
        wait_exit "$pid" 90 || rc=$?
        [ "$rc" -eq 7 ] || fail "removing [$acl] while streaming: exit $rc, want 7"
        grep ' FATAL: ' "$logf" | tail -1 | grep -qF -- "$acl" ||
            fail "removing [$acl] while streaming: not named: $(grep ' FATAL: ' "$logf" | tail -1)"
        log "removed [$acl] while streaming: exit $rc, $(grep ' FATAL: ' "$logf" | tail -1 | sed 's/.*FATAL: *//' | cut -c1-120)…"
        ks_grant "$slot" "$prefix" "$i"
        sluice_start "$cfg" "$logf"
        pid=$SLUICE_PID
    done
    [ "$k" -eq 2 ] || fail "the docs list $k Write ACLs on topics or the transactional id, want 2"
    rounds_stop "$W/mid.running" "$WL_PID" || true
    catch_up_and_stop "$slot" "$pid" 120
    stop_sampler "$sampler" "$W/mid.samples"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger | tee "$W/mid.verify"
    drop_slot "$slot"
}

# A wrong SCRAM password (and an unknown user): run and status exit 7 at the first refused
# login, naming the credentials, without waiting out startup.timeout.ms; check fails
# "Kafka reachable" the same way; the password is never printed; nothing is created.
sec_wrong_password_exit_7() {
    local slot=sec_pw prefix=secpw rc what cfg
    for what in password user; do
        cfg="$W/pw-$what.conf"
        if [ "$what" = password ]; then
            ks_config "$cfg" "$slot" "$prefix" "kafka.sasl.password = not-the-password-42"
        else
            ks_config "$cfg" "$slot" "$prefix" "kafka.sasl.username = nobody"
        fi
        rc=0
        timeout 60 "$SLUICE" run -c "$cfg" >"$W/pw-$what.log" 2>&1 || rc=$?
        [ "$rc" -eq 7 ] || fail "a wrong $what: run exited $rc, want 7"
        grep ' FATAL: ' "$W/pw-$what.log" | grep -q "Kafka refused sluice's credentials for user" ||
            fail "a wrong $what: no clear message: $(grep ' FATAL: ' "$W/pw-$what.log")"
        grep ' FATAL: ' "$W/pw-$what.log" | grep -q 'SASL authentication' ||
            fail "a wrong $what: the broker's reason is missing: $(grep ' FATAL: ' "$W/pw-$what.log")"
        ! grep -q 'Timed out' "$W/pw-$what.log" || fail "a wrong $what: run waited for a timeout"
        log "a wrong $what: run exit $rc: $(grep ' FATAL: ' "$W/pw-$what.log" | sed 's/.*FATAL: *//' | cut -c1-150)…"
        rc=0
        "$SLUICE" status -c "$cfg" >"$W/pw-$what.status" 2>&1 || rc=$?
        [ "$rc" -eq 7 ] && grep -q "Kafka refused sluice's credentials" "$W/pw-$what.status" ||
            fail "a wrong $what: status exited $rc: $(cat "$W/pw-$what.status")"
        rc=0
        "$SLUICE" check -c "$cfg" >"$W/pw-$what.check" 2>&1 || rc=$?
        [ "$rc" -eq 10 ] && grep -q "FAIL  Kafka reachable: Kafka refused sluice's credentials" "$W/pw-$what.check" ||
            fail "a wrong $what: check exited $rc: $(grep -A1 'Kafka reachable' "$W/pw-$what.check")"
        ! grep -q 'not-the-password-42' "$W/pw-$what.log" "$W/pw-$what.status" "$W/pw-$what.check" ||
            fail "the password was printed"
    done
    ! slot_exists "$slot" || fail "a run that could not log in to Kafka created the slot"
}

# mTLS: the same pipeline over the SSL listener with a client certificate (CN=sluice, which
# the broker maps to User:sluice) and the documented ACLs: check passes, a workload arrives
# exactly once. Without a certificate the run ends with exit 7 and the broker's refusal.
sec_mtls_run_exactly_once() {
    local slot=sec_tls prefix=sectls cfg="$W/tls.conf" logf="$W/tls.log" rc pid
    ks_grant_all "$slot" "$prefix"
    pg_psql -qc "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
    local tls=("kafka.security.protocol = SSL" "kafka.ssl.ca.location = $KSEC_CA")
    KAFKA_BOOTSTRAP="$KSEC_MTLS_BOOTSTRAP" sluice_config "$cfg" "$slot" "$prefix" "${tls[@]}" \
        "kafka.ssl.certificate.location = $KSEC_CLIENT_CERT" \
        "kafka.ssl.key.location = $KSEC_CLIENT_KEY"
    rc=0
    "$SLUICE" check -c "$cfg" >"$W/tls.check" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && ! grep -q FAIL "$W/tls.check" ||
        fail "check over mTLS exited $rc: $(grep -A1 FAIL "$W/tls.check")"
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait_slot_exists "$slot"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 300 --seed 64 >/dev/null
    catch_up_and_stop "$slot" "$pid" 120
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger | tee "$W/tls.verify"
    drop_slot "$slot"

    KAFKA_BOOTSTRAP="$KSEC_MTLS_BOOTSTRAP" sluice_config "$W/tls-nocert.conf" sec_tls_nc "$prefix" \
        "${tls[@]}" "startup.timeout.ms = 5000"
    rc=0
    timeout 60 "$SLUICE" run -c "$W/tls-nocert.conf" >"$W/tls-nocert.log" 2>&1 || rc=$?
    [ "$rc" -eq 7 ] || fail "mTLS without a client certificate: exit $rc, want 7"
    grep ' FATAL: ' "$W/tls-nocert.log" | grep -q 'the last connection error: .*certificate' ||
        fail "mTLS without a client certificate: the refusal is not said: $(grep ' FATAL: ' "$W/tls-nocert.log")"
}

# A CA that did not sign the brokers' certificates: the TLS handshake fails, and run ends
# with exit 7 saying so once it has failed three times, without waiting out
# startup.timeout.ms (set long here so that a wait would show).
sec_wrong_ca_exit_7() {
    local cfg="$W/ca.conf" rc
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/other-ca.key" -out "$W/other-ca.crt" \
        -days 1 -subj "/CN=another-ca" >/dev/null 2>&1
    ks_config "$cfg" sec_ca secca "kafka.ssl.ca.location = $W/other-ca.crt" "startup.timeout.ms = 120000"
    rc=0
    timeout 100 "$SLUICE" run -c "$cfg" >"$W/ca.log" 2>&1 || rc=$?
    [ "$rc" -eq 7 ] || fail "a wrong CA: run exited $rc, want 7 (124: it waited)"
    grep ' FATAL: ' "$W/ca.log" | grep -q 'the TLS handshake with Kafka failed: .*certificate verify failed' ||
        fail "a wrong CA: no clear message: $(grep ' FATAL: ' "$W/ca.log")"
    log "a wrong CA: run exit $rc: $(grep ' FATAL: ' "$W/ca.log" | sed 's/.*FATAL: *//' | cut -c1-150)…"
}
