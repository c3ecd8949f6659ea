# shellcheck shell=bash
# Operations tests (issue 5), sourced by run.sh: sluice check / status, the
# metrics endpoint, signals, secrets, back-pressure through a broker outage,
# TLS to PostgreSQL, the demo, and the packaging files (docker/, dist/).

# metrics_port LOGFILE: the port sluice logged for metrics.listen (waits up to 15 s).
metrics_port() {
    wait_for 15 log_has "$1" 'serving metrics on http://[^:]*:[0-9]+/metrics' ||
        { fail "sluice logged no metrics port: $(tail -3 "$1")"; return 1; }
    sed -n 's|.*serving metrics on http://[^:]*:\([0-9]*\)/metrics.*|\1|p' "$1" | tail -1
}

# True once /healthz on PORT answers 200.
healthy() {
    [ "$(health_code "$1")" = 200 ]
}

# metric PORT NAME: the value of one sample (first match of NAME at line start).
metric() {
    local text
    text="$(curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics")" || return 1
    awk -v n="$2" '$1 == n { print $2; exit }' <<<"$text"
}

# health_code PORT: the HTTP status of /healthz.
health_code() {
    curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/healthz"
}

# parse_metrics FILE: checks a scrape is valid Prometheus text and prints "name value" pairs
# of the series the tests look at. Fails on a malformed line, a sample without
# HELP/TYPE, or a histogram whose buckets are not cumulative.
parse_metrics() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
types, helps, samples = {}, {}, {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (\S+)$')
for ln in text.splitlines():
    if ln.startswith('# HELP '):
        helps[ln.split()[2]] = True
    elif ln.startswith('# TYPE '):
        _, _, name, typ = ln.split(None, 3)
        assert typ in ('counter', 'gauge', 'histogram', 'summary', 'untyped'), ln
        types[name] = typ
    elif ln.strip():
        m = line_re.match(ln)
        assert m, 'malformed sample line: %r' % ln
        name, value = m.group(1), float(m.group(4))
        base = re.sub(r'_(bucket|sum|count)$', '', name) if name not in types else name
        assert base in types and base in helps, 'sample without HELP/TYPE: %r' % ln
        if types[base] == 'counter':
            assert value >= 0, ln
        samples.setdefault(name, []).append((m.group(3) or '', value))
b = [v for l, v in samples['sluice_kafka_commit_duration_seconds_bucket']]
assert b == sorted(b), 'histogram buckets are not cumulative: %r' % b
assert samples['sluice_kafka_commit_duration_seconds_bucket'][-1][0] == 'le="+Inf"'
assert b[-1] == samples['sluice_kafka_commit_duration_seconds_count'][0][1]
for n in ('sluice_events_total', 'sluice_source_transactions_total', 'sluice_replication_lag_bytes',
          'sluice_replication_lag_seconds', 'sluice_skipped_transactions_total', 'sluice_queue_bytes',
          'sluice_kafka_commit_duration_seconds_count', 'sluice_healthy',
          'sluice_rdkafka_queue_messages', 'process_resident_memory_bytes'):
    print(n, samples[n][0][1])
errors = {l: v for l, v in samples['sluice_errors_total']}
assert 'class="kafka_abort"' in errors and 'class="pg_lost"' in errors, errors
assert any(n == 'sluice_rdkafka_broker_rtt_avg_seconds' for n in samples), 'no librdkafka broker statistics'
PY
}

# A good setup passes every check; each broken one fails the right check, names the
# fix, and makes `sluice check` exit 10.
test_check_good_and_broken_setups() {
    local cfg="$W/chk.conf" out="$W/chk.out" rc
    pg_psql -q <<'SQL'
DROP PUBLICATION IF EXISTS chk_good; DROP PUBLICATION IF EXISTS chk_bad;
DROP TABLE IF EXISTS chk_keyed, chk_nokey;
CREATE TABLE chk_keyed (id int PRIMARY KEY, v text);
CREATE TABLE chk_nokey (v text);
GRANT SELECT ON chk_keyed, chk_nokey TO sluice;
CREATE PUBLICATION chk_good FOR TABLE chk_keyed;
CREATE PUBLICATION chk_bad FOR TABLE chk_keyed, chk_nokey;
DROP ROLE IF EXISTS chk_norepl;
CREATE ROLE chk_norepl LOGIN PASSWORD 'norepl-pw';
SQL
    # Good.
    sluice_config "$cfg" it_chk itchk "postgres.publication = chk_good"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    cat "$out" >&2
    [ "$rc" -eq 0 ] || fail "check on a good setup exited $rc"
    grep -q '^  ok    wal_level: logical' "$out" || fail "no wal_level line"
    grep -q '^  ok    Kafka transactions: init_transactions works (tried as "sluice-check-it_chk"' "$out" || fail "no transactions line"
    grep -q '^  ok    replica identity: 1 of 1 published tables' "$out" || fail "no replica identity line"
    grep -q ' 0 failed' "$out" || fail "summary does not say 0 failed"
    [ -z "$(slot_confirmed it_chk)" ] || fail "check created a slot"

    # expect_check WANT_LINE_REGEX FIX_REGEX: the last run failed with exit 10 on this line.
    expect_check() {
        [ "$rc" -eq 10 ] || fail "want exit 10, got $rc: $(cat "$out")"
        grep -Eq "^  FAIL  $1" "$out" || fail "no FAIL line matching \"$1\": $(cat "$out")"
        grep -A1 -E "^  FAIL  $1" "$out" | grep -Eq "^        fix: .*$2" || fail "no fix matching \"$2\" after \"$1\""
        log "check says: $(grep -E "^  FAIL  $1" "$out" | head -1 | sed 's/^ *//')"
    }
    # Missing publication.
    sluice_config "$cfg" it_chk itchk "postgres.publication = nosuchpub"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    expect_check 'publication: publication "nosuchpub" does not exist' 'CREATE PUBLICATION nosuchpub'
    # A published table without replica identity.
    sluice_config "$cfg" it_chk itchk "postgres.publication = chk_bad"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    expect_check 'replica identity: table "public.chk_nokey" has no primary key' 'REPLICA IDENTITY FULL'
    # A role without REPLICATION.
    sluice_config "$cfg" it_chk itchk "postgres.publication = chk_good" \
        "postgres.conninfo = host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=chk_norepl password=norepl-pw"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    expect_check 'role privileges: role "chk_norepl" lacks the REPLICATION attribute' 'ALTER ROLE "chk_norepl" WITH REPLICATION'
    expect_check 'replication connection: ' 'REPLICATION'
    ! grep -q 'norepl-pw' "$out" || fail "the password was printed"
    # Broker down (nothing listens on port 1): fails fast, PostgreSQL checks still run.
    sluice_config "$cfg" it_chk itchk "postgres.publication = chk_good" \
        "kafka.bootstrap.servers = 127.0.0.1:1" "startup.timeout.ms = 3000"
    local t0=$SECONDS
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    expect_check 'Kafka reachable: no answer from "127.0.0.1:1"' 'kafka.bootstrap.servers'
    grep -q '^  skip  Kafka transactions' "$out" || fail "transactions not skipped with Kafka down"
    grep -q '^  ok    wal_level' "$out" || fail "PostgreSQL checks did not run with Kafka down"
    [ $((SECONDS - t0)) -lt 20 ] || fail "check took $((SECONDS - t0)) s with Kafka down"

    # wal_level = replica needs its own server: a second throwaway PostgreSQL.
    (
        SLUICE_ENV_DIR="$W/pg-replica"
        mkdir -p "$SLUICE_ENV_DIR"
        chmod 755 "$SLUICE_ENV_DIR"
        unset PG_DATA
        trap 'pg_stop immediate' EXIT
        pg_start "wal_level = replica" >/dev/null
        pg_psql -q -c "CREATE TABLE k (id int PRIMARY KEY)" -c "CREATE PUBLICATION chk_good FOR TABLE k"
        sluice_config "$cfg" it_chk itchk "postgres.publication = chk_good"
        rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
        expect_check 'wal_level: is "replica"; logical decoding needs "logical"' 'wal_level = logical .*restart'
        grep -q '^  ok    Kafka reachable' "$out" || fail "Kafka checks did not run"
    )
    pg_psql -q -c "DROP PUBLICATION chk_good; DROP PUBLICATION chk_bad; DROP TABLE chk_keyed, chk_nokey; DROP ROLE chk_norepl"
}

# Issue 13: `sluice check` warns about each published table whose large values
# PostgreSQL stores out of line (TOAST) while its replica identity is not FULL —
# an UPDATE leaving such a value unchanged would carry the placeholder — naming
# the columns and both ways out; it stays a warning (exit 0). Not named: a FULL
# table, a table of plain- or main-storage columns (numeric and inet: only
# values of thousands of bytes leave the row), a column a column list leaves
# out, or any table of a publication without UPDATEs.
test_check_warns_about_unchanged_toast() {
    local cfg="$W/chkt.conf" out="$W/chkt.out" rc
    pg_psql -q <<'SQL'
DROP PUBLICATION IF EXISTS chk_toast; DROP PUBLICATION IF EXISTS chk_toast_ins;
DROP TABLE IF EXISTS chkt_doc, chkt_full, chkt_plain, chkt_cols;
CREATE TABLE chkt_doc (id int PRIMARY KEY, body text, code text, meta jsonb, n int);
ALTER TABLE chkt_doc ALTER code SET STORAGE PLAIN;
CREATE TABLE chkt_full (id int PRIMARY KEY, body text);
ALTER TABLE chkt_full REPLICA IDENTITY FULL;
CREATE TABLE chkt_plain (id int PRIMARY KEY, n int, t timestamptz, amount numeric, addr inet);
CREATE TABLE chkt_cols (id int PRIMARY KEY, small int, big bytea);
GRANT SELECT ON chkt_doc, chkt_full, chkt_plain, chkt_cols TO sluice;
CREATE PUBLICATION chk_toast FOR TABLE chkt_doc, chkt_full, chkt_plain, chkt_cols (id, small);
CREATE PUBLICATION chk_toast_ins FOR TABLE chkt_doc WITH (publish = 'insert');
SQL
    sluice_config "$cfg" it_chkt itchkt "postgres.publication = chk_toast"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    cat "$out" >&2
    [ "$rc" -eq 0 ] || fail "the TOAST warning made sluice check exit $rc"
    grep -q '^  warn  unchanged TOAST values: table "public.chkt_doc" (replica identity default) has columns stored out of line when large: body (text), meta (jsonb)\. An UPDATE that leaves such a value unchanged does not send it, and its event holds "__debezium_unavailable_value" (toast.placeholder) instead$' "$out" ||
        fail "no TOAST warning naming chkt_doc's body and meta"
    grep -A1 '^  warn  unchanged TOAST values: table "public.chkt_doc"' "$out" |
        grep -q '^        fix: ALTER TABLE "public"."chkt_doc" REPLICA IDENTITY FULL .*or accept it' ||
        fail "the TOAST warning does not name the fix"
    [ "$(grep -c 'unchanged TOAST values' "$out")" -eq 1 ] ||
        fail "a table other than chkt_doc was named (FULL, plain or main columns, or a column left out)"
    sluice_config "$cfg" it_chkt itchkt "postgres.publication = chk_toast_ins"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    grep -q '^  ok    unchanged TOAST values: publication "chk_toast_ins" publishes no UPDATE' "$out" ||
        fail "an insert-only publication was warned about: $(grep 'TOAST' "$out")"
    pg_psql -q -c "DROP PUBLICATION chk_toast; DROP PUBLICATION chk_toast_ins" \
        -c "DROP TABLE chkt_doc, chkt_full, chkt_plain, chkt_cols"
}

# While sluice streams a workload: /metrics parses and moves, /healthz is 200,
# `sluice status` and `sluice check` read the slot and the checkpoint without
# fencing the running instance; afterwards the data is exactly once.
test_metrics_status_check_during_workload() {
    local slot=it_mon prefix=itmon cfg="$W/mon.conf" logf="$W/mon.log" rc
    fresh_tables
    sluice_config "$cfg" "$slot" "$prefix" "metrics.listen = 127.0.0.1:0" "kafka.statistics.interval.ms = 1000"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID port
    wait_slot_exists "$slot"
    port="$(metrics_port "$logf")"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 20000 --seed 51 >/dev/null &
    local wl=$!
    # The first scrape once events flow and a Kafka transaction committed (the workload runs on for several seconds
    # more: sluice keeps up within milliseconds, so the second scrape must come
    # after more work, not merely later).
    first_scrape_shows_commits() {
        curl -fsS "http://127.0.0.1:$port/metrics" >"$W/mon.scrape1" &&
            parse_metrics "$W/mon.scrape1" >"$W/mon.parsed1" 2>/dev/null &&
            awk '($1 == "sluice_events_total" || $1 == "sluice_kafka_commit_duration_seconds_count") && $2 > 0 { f++ }
                 END { exit f != 2 }' "$W/mon.parsed1"
    }
    wait_for 30 first_scrape_shows_commits || {
        parse_metrics "$W/mon.scrape1" >/dev/null || fail "the first scrape does not parse"
        fail "no events within 30 s of the workload's start"
    }
    kill -0 "$wl" 2>/dev/null || fail "the workload ended before the first scrape; it cannot show growth"
    [ "$(health_code "$port")" = 200 ] || fail "/healthz is not 200 while streaming: $(curl -s "http://127.0.0.1:$port/healthz")"
    rc=0; "$SLUICE" status -c "$cfg" >"$W/mon.status" 2>&1 || rc=$?
    cat "$W/mon.status" >&2
    [ "$rc" -eq 0 ] || fail "status exited $rc"
    grep -q "^slot \"$slot\": active" "$W/mon.status" || fail "status does not show the active slot"
    grep -Eq '^  lag: +[0-9]+ bytes' "$W/mon.status" || fail "status shows no lag"
    grep -Eq '^checkpoint: Kafka transaction [0-9]+ in' "$W/mon.status" || fail "status shows no checkpoint"
    grep -q '^consistency: ok' "$W/mon.status" || fail "status does not say consistent"
    rc=0; "$SLUICE" check -c "$cfg" >"$W/mon.check" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "check during streaming exited $rc: $(cat "$W/mon.check")"
    grep -q "^  warn  replication slot: \"$slot\" is in use by PostgreSQL backend" "$W/mon.check" || fail "check did not see the slot in use"
    wait "$wl"
    curl -fsS "http://127.0.0.1:$port/metrics" >"$W/mon.scrape2"
    parse_metrics "$W/mon.scrape2" >"$W/mon.parsed2" || fail "the second scrape does not parse"
    local e1 e2 t2
    e1="$(awk '$1 == "sluice_events_total" { print $2 }' "$W/mon.parsed1")"
    e2="$(awk '$1 == "sluice_events_total" { print $2 }' "$W/mon.parsed2")"
    t2="$(awk '$1 == "sluice_source_transactions_total" { print $2 }' "$W/mon.parsed2")"
    log "metrics: events $e1 -> $e2, source transactions $t2; $(grep -E 'commit_duration_seconds_count|rdkafka_queue' "$W/mon.parsed2" | tr '\n' ' ')"
    python3 -c "import sys; sys.exit(not (float('$e2') > float('$e1') > 0 and float('$t2') > 0))" ||
        fail "events did not grow during the workload ($e1 -> $e2)"
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 120
    rc=0
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc (fenced by check or status?): $(tail -3 "$logf")"
    ! grep -qi 'fenced' "$logf" || fail "the running instance was fenced"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger
    drop_slot "$slot"
}

# SIGTERM while a large source transaction streams: the Kafka transaction is
# aborted, sluice exits 0, nothing of it was confirmed, and a restart delivers
# it exactly once.
test_sigterm_mid_transaction_exactly_once() {
    local slot=it_sig prefix=itsig cfg="$W/sig.conf" logf="$W/sig.log" rc
    pg_psql -q -c "DROP TABLE IF EXISTS sigt" -c "CREATE TABLE sigt (id int PRIMARY KEY, v text)" \
        -c "ALTER PUBLICATION sluice ADD TABLE sigt" -c "TRUNCATE wl_ledger"
    sluice_config "$cfg" "$slot" "$prefix" "metrics.listen = 127.0.0.1:0"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID port
    wait_slot_exists "$slot"
    port="$(metrics_port "$logf")"
    local rows=300000
    pg_psql -q -c "BEGIN; INSERT INTO sigt SELECT g, repeat('v', 50) FROM generate_series(1, $rows) g;
                   INSERT INTO wl_ledger VALUES (txid_current() % 4294967296, $rows, -1); COMMIT;"
    local commit_lsn ev=0 tx i
    commit_lsn="$(pg_psql -Atc "SELECT pg_current_wal_lsn()")"
    # Polled every 50 ms, faster than wait_for: sluice is inside the transaction only briefly.
    for ((i = 0; i < 300; i++)); do
        ev="$(metric "$port" sluice_events_total)"
        tx="$(metric "$port" sluice_source_transactions_total)"
        [ "${ev:-0}" -gt 1000 ] && break
        sleep 0.05
    done
    [ "$ev" -gt 1000 ] && [ "$ev" -lt "$rows" ] && [ "$tx" = 0 ] ||
        fail "did not catch sluice inside the transaction (events $ev, transactions $tx)"
    log "SIGTERM after $ev of $rows changes of one source transaction"
    local t0=$SECONDS
    rc=0
    sluice_stop "$pid" 30 || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc on SIGTERM mid-transaction (want 0)"
    log "stopped in $((SECONDS - t0)) s: $(grep 'stopped' "$logf" | tail -1 | sed 's/.*INFO: *//')"
    local conf
    conf="$(slot_confirmed "$slot")"
    [ "$(pg_psql -Atc "SELECT '$conf'::pg_lsn < '$commit_lsn'::pg_lsn")" = t ] ||
        fail "the slot ($conf) was confirmed past the interrupted transaction ($commit_lsn)"
    "$SLUICE" status -c "$cfg" >"$W/sig.status" 2>&1 || true
    ! grep -q "commit LSN $commit_lsn" "$W/sig.status" || fail "the interrupted transaction is in the checkpoint"
    # Restart: the whole transaction arrives, once.
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    catch_up_and_stop "$slot" "$pid" 300 "restarted sluice"
    verify_check "$prefix" "$slot" --tables sigt --ledger wl_ledger --no-state
    pg_psql -q -c "ALTER PUBLICATION sluice DROP TABLE sigt" -c "DROP TABLE sigt"
    drop_slot "$slot"
}

# Secrets: a group- or world-readable file holding one is refused (with the
# chmod hint); ${ENV} references are fine in such a file; and no secret ever
# appears in sluice's output, whatever fails (bad password, a malformed
# conninfo, SASL against a plaintext broker, librdkafka's debug dump).
test_secrets_never_printed_and_readable_config_refused() {
    local cfg="$W/sec.conf" out="$W/sec.out" rc pw='Zq7-pg-secret-91' kpw='Kf-sasl-secret-42'
    pg_psql -q -c "DROP ROLE IF EXISTS sec_user" -c "CREATE ROLE sec_user LOGIN REPLICATION PASSWORD '$pw'"
    local conn="host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=sec_user password=$pw"
    no_secret() {
        if grep -q -e "$pw" -e "$kpw" "$@"; then
            fail "a secret was printed: $(grep -h -e "$pw" -e "$kpw" "$@" | head -3)"
            return 1
        fi
    }
    # sec_config MODE LINE...: a config file written by hand, with the given mode.
    sec_config() {
        local mode="$1"
        shift
        printf '%s\n' "postgres.slot = it_sec" "topic.prefix = itsec" \
            "kafka.bootstrap.servers = $KAFKA_BOOTSTRAP" "$@" >"$cfg"
        chmod "$mode" "$cfg"
    }
    # Readable by others, literal password: refused for run, check and status.
    sec_config 644 "postgres.conninfo = $conn"
    local cmd
    for cmd in run check status; do
        rc=0; "$SLUICE" "$cmd" -c "$cfg" >"$out" 2>&1 || rc=$?
        [ "$rc" -eq 3 ] || fail "$cmd with a 0644 config holding a password exited $rc, want 3"
        grep -q 'holds a secret, but the file is readable by group or others (mode 0644): run "chmod 600' "$out" ||
            fail "no chmod hint: $(cat "$out")"
        no_secret "$out"
    done
    log "refused: $(sed 's/.*FATAL: *//' "$out")"
    # Group-readable with a SASL password: refused too.
    sec_config 640 "postgres.conninfo = host=$PGHOST_TEST dbname=sluice_test user=sec_user" "kafka.sasl.password = $kpw"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 3 ] && grep -q '"kafka.sasl.password" holds a secret' "$out" || fail "0640 with kafka.sasl.password: exit $rc: $(cat "$out")"
    no_secret "$out"
    # The same secret from the environment: a 0644 file is fine.
    sec_config 644 "postgres.conninfo = host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=sec_user password=\${SEC_PW}" \
        "postgres.publication = nosuchpub"
    rc=0; SEC_PW="$pw" "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 10 ] && grep -q '^  ok    PostgreSQL connection' "$out" || fail "\${SEC_PW} in a 0644 file: exit $rc: $(cat "$out")"
    no_secret "$out"

    # Failures that quote their input never quote the secret (0600 files from here on).
    rm -f "$cfg"
    sluice_config "$cfg" it_sec itsec "postgres.conninfo = host=$PGHOST_TEST port=$PGPORT_TEST dbname=sluice_test user=sec_user password=wrong-$pw"
    rc=0; "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 4 ] && grep -q 'password authentication failed' "$out" || fail "wrong password: exit $rc: $(cat "$out")"
    no_secret "$out"
    sluice_config "$cfg" it_sec itsec "postgres.conninfo = host=$PGHOST_TEST password $pw"
    rc=0; "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 3 ] && grep -q 'invalid "postgres.conninfo"' "$out" || fail "malformed conninfo: exit $rc: $(cat "$out")"
    no_secret "$out"
    log "malformed conninfo: $(grep FATAL "$out" | sed 's/.*FATAL: *//')"
    # SASL credentials against a plaintext broker, with librdkafka's debug output on.
    sluice_config "$cfg" it_sec itsec "postgres.conninfo = $conn" "startup.timeout.ms = 3000" \
        "kafka.security.protocol = SASL_PLAINTEXT" "kafka.sasl.mechanism = PLAIN" \
        "kafka.sasl.username = sluice" "kafka.sasl.password = $kpw" \
        "kafka.debug = conf,security,broker" "log.level = debug"
    rc=0; "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 7 ] || fail "SASL against a plaintext broker exited $rc, want 7"
    [ "$(wc -l <"$out")" -gt 20 ] || fail "expected librdkafka's debug output"
    no_secret "$out"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 10 ] || fail "check with SASL against a plaintext broker exited $rc"
    no_secret "$out"
    drop_slot it_sec
    pg_psql -q -c "DROP ROLE sec_user"
}

# log.format = json: every line sluice writes is one JSON object with ts, level, msg.
test_json_log_lines() {
    local cfg="$W/json.conf" out="$W/json.out" rc=0
    sluice_config "$cfg" it_json itjson "log.format = json" "kafka.bootstrap.servers = 127.0.0.1:1" \
        "startup.timeout.ms = 2000"
    "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 7 ] || fail "want exit 7 with Kafka down, got $rc"
    python3 - "$out" <<'PY' || fail "log lines are not JSON objects: $(head -3 "$out")"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) >= 3, lines
for l in lines:
    o = json.loads(l)
    assert set(('ts', 'level', 'thread', 'pid', 'msg')) <= set(o), o
    assert o['level'] in ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'FATAL'), o
assert json.loads(lines[-1])['level'] == 'FATAL' and 'reachable' in json.loads(lines[-1])['msg']
PY
    drop_slot it_json
}

# The broker dies for longer than wal_sender_timeout (10 s here: status updates
# go every second, so a loaded machine may delay some without a false alarm)
# and longer than
# the Kafka transaction timeout while writes go on: sluice stays up with
# bounded memory, the metrics and /healthz show the stall, PostgreSQL does not
# drop the replication connection for timeout, and when the broker returns the
# stream resumes by itself, complete and exactly once.
test_backpressure_broker_outage() {
    local slot=it_bp prefix=itbp cfg="$W/bp.conf" logf="$W/bp.log" rc
    fresh_tables
    pg_psql -q -c "ALTER SYSTEM SET wal_sender_timeout = '10s'" -c "SELECT pg_reload_conf()" >/dev/null
    trap 'rm -f "$W/bp.running"; [ -z "${pid:-}" ] || kill -9 "$pid" 2>/dev/null
          pg_psql -q -c "ALTER SYSTEM RESET wal_sender_timeout" -c "SELECT pg_reload_conf()" >/dev/null
          [ -n "$(kafka_node_pid 1)" ] || kafka_start_node 1' EXIT
    sluice_config "$cfg" "$slot" "$prefix" "metrics.listen = 127.0.0.1:0" \
        "queue.max.bytes = 1MB" "kafka.queue.buffering.max.kbytes = 4096" \
        "kafka.queue.buffering.max.messages = 20000" "kafka.transaction.timeout.ms = 10000" \
        "kafka.statistics.interval.ms = 1000" "health.stall.timeout.ms = 3000"
    local pg_log_lines
    pg_log_lines="$(wc -l <"$PG_LOG")"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID port
    wait_slot_exists "$slot"
    port="$(metrics_port "$logf")"
    rounds_start "$W/bp.running" 700 workload_round 2 300
    local wl=$ROUNDS_PID
    wait_progress "$slot" 60 || fail "sluice did not stream the workload before the outage"
    [ "$(health_code "$port")" = 200 ] || fail "not healthy before the outage"
    local lag_before bp_before
    lag_before="$(metric "$port" sluice_replication_lag_bytes)"
    bp_before="$(metric "$port" sluice_backpressure)"
    log "broker down for 30 s (wal_sender_timeout 10 s, transaction.timeout.ms 10 s)"
    kafka_stop_node 1
    local i rss max_rss=0 saw_503=0 max_lag=0 lag code reason="" saw_bp=0 bp bp_first=0
    for ((i = 0; i < 30; i++)); do
        sleep 1 # the outage, held for 30 s and sampled once a second
        kill -0 "$pid" 2>/dev/null || { fail "sluice died during the outage: $(tail -5 "$logf")"; break; }
        rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")"
        [ "$rss" -gt "$max_rss" ] && max_rss=$rss
        code="$(health_code "$port")"
        if [ "$code" = 503 ]; then
            saw_503=1
            reason="$(curl -s "http://127.0.0.1:$port/healthz")"
        fi
        lag="$(metric "$port" sluice_replication_lag_bytes)"
        [ "${lag:-0}" -gt "$max_lag" ] && max_lag=$lag
        bp="$(metric "$port" sluice_backpressure)"
        [ "$bp" = 1 ] && saw_bp=1
        [ "$i" -eq 0 ] && bp_first=$bp
    done
    log "outage: peak RSS $((max_rss / 1024)) MB, replication lag $lag_before -> $max_lag bytes, reader blocked: $saw_bp (before the outage: $bp_before, at its first second: $bp_first), /healthz: $reason"
    [ "$saw_503" = 1 ] || fail "/healthz never reported 503 while the broker was down"
    # The metric counts the WAL the server reported; a reader already waiting for
    # room when the broker died (a loaded machine: sluice behind by megabytes)
    # reads, and so sees, no more. Waiting is sampled just before the outage and
    # at its first second: a reader blocked by then that had read nothing since
    # the sample before (the lag exactly as it was) was waiting already.
    [ "$max_lag" -gt "${lag_before:-0}" ] || [ "$bp_before" = 1 ] || [ "${bp_first:-0}" = 1 ] ||
        fail "the lag metric did not grow during the outage"
    [ "$max_rss" -lt $((100 * 1024)) ] || fail "RSS reached $max_rss kB during the outage"
    log "broker back"
    kafka_start_node 1
    rounds_stop "$W/bp.running" "$wl" || fail "a workload round failed"
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 240 || fail "the stream did not resume after the outage: $(tail -5 "$logf")"
    wait_for 10 healthy "$port" || fail "/healthz did not recover: $(curl -s "http://127.0.0.1:$port/healthz")"
    if tail -n +"$pg_log_lines" "$PG_LOG" | grep -q 'terminating walsender process due to replication timeout'; then
        fail "PostgreSQL dropped the replication connection for timeout"
    fi
    log "errors during the outage: $(curl -s "http://127.0.0.1:$port/metrics" | grep '^sluice_errors_total' | grep -v ' 0$' | tr '\n' ' ')"
    rc=0
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger
    drop_slot "$slot"
}

# A producer fenced by the coordinator, not by another instance. A Kafka
# transaction outlives transaction.timeout.ms (test point mid_txn holds the
# main thread inside the source transaction), the coordinator aborts it and
# bumps the epoch, then the only broker goes down while the same source
# transaction needs a topic that does not exist yet. The lookup gives up
# (test point topic_given_up; the broker comes back there) and the abort that
# ends the session is refused as fenced. The transaction was older than
# transaction.timeout.ms, so no other instance took over: sluice rebuilds its
# producer and resumes from the checkpoint (it exited 8, "another instance
# took over", when that abort's failure was only logged and the fenced
# producer reused), and the verifier finds everything exactly once.
test_coordinator_abort_during_outage_is_no_takeover() {
    local slot=it_ca prefix=itca cfg="$W/ca.conf" logf="$W/ca.log" rc=0
    local blog="$SLUICE_ENV_DIR/kafka1/server.log" rollback
    rollback="Completed rollback of ongoing transaction for transactionalId sluice-$slot due to timeout"
    fresh_tables
    trap '[ -z "${pid:-}" ] || kill -9 "$pid" 2>/dev/null; [ -n "$(kafka_node_pid 1)" ] || kafka_start_node 1' EXIT
    sluice_config "$cfg" "$slot" "$prefix" "kafka.transaction.timeout.ms = 10000"
    local rollbacks_before
    rollbacks_before="$(grep -c "$rollback" "$blog" || true)"
    SLUICE_CRASH_AT="mid_txn:1:SLEEP60,topic_given_up:1:SLEEP1" sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    # wl_a's topic is created and its change produced (mid_txn holds there); wl_b's is new.
    pg_psql -q -c "BEGIN; INSERT INTO wl_a VALUES (1, 'ca', 1); INSERT INTO wl_b VALUES (1, 'ca', 'v', true);
                   INSERT INTO wl_ledger VALUES (txid_current() % 4294967296, 2, -1); COMMIT;"
    wait_log "$logf" 'test point "mid_txn" reached' 60 "$pid" || fail "the source transaction did not reach mid_txn"
    # The broker's own timeout check (every 10 s) aborts it and bumps the epoch.
    _ca_rolled_back() { [ "$(grep -c "$rollback" "$blog" || true)" -gt "$rollbacks_before" ]; }
    wait_for 45 _ca_rolled_back || fail "the coordinator did not abort the transaction for its age"
    log "the coordinator aborted the held transaction; broker down"
    kafka_stop_node 1
    wait_log "$logf" 'test point "topic_given_up" reached' 120 "$pid" ||
        fail "the lookup of wl_b's topic did not give up while the broker was down: $(tail -3 "$logf")"
    log "the topic lookup gave up; broker back"
    kafka_start_node 1
    local lsn
    lsn="$(sync_barrier)"
    wait_for -p "$pid" 180 slot_confirmed_past "$slot" "$lsn" || {
        wait "$pid" 2>/dev/null || rc=$?
        fail "sluice did not resume (exit $rc): $(grep -E 'FATAL|fenced' "$logf" | tail -3)"
    }
    grep -E 'aborting the Kafka transaction failed: .*fenced' "$logf" | tail -1 | sed 's/^/    /' >&2 || true
    grep -q 'rebuilding the producer' "$logf" || fail "the producer was not rebuilt"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 100 --seed 91 >/dev/null
    catch_up_and_stop "$slot" "$pid" 120
    ! grep -q 'took over' "$logf" || fail "sluice took the coordinator's abort for another instance"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger
    drop_slot "$slot"
}

# PostgreSQL keeps hearing from sluice while a session ends. After the
# pipeline, the supervisor decides what a fencing meant, which may ask
# PostgreSQL over a second connection (connect_timeout 10 s): slow work while
# the replication connection is open. The test point holds that step for 8 s,
# twice wal_sender_timeout (4 s here): the reader must still be answering
# then, or PostgreSQL drops the connection for timeout.
test_walsender_answered_while_the_session_ends() {
    local slot=it_se prefix=itse cfg="$W/se.conf" logf="$W/se.log" rc=0
    fresh_tables
    pg_psql -q -c "ALTER SYSTEM SET wal_sender_timeout = '4s'" -c "SELECT pg_reload_conf()" >/dev/null
    trap '[ -z "${pid:-}" ] || kill -9 "$pid" 2>/dev/null
          pg_psql -q -c "ALTER SYSTEM RESET wal_sender_timeout" -c "SELECT pg_reload_conf()" >/dev/null' EXIT
    sluice_config "$cfg" "$slot" "$prefix"
    local pg_log_lines
    pg_log_lines="$(wc -l <"$PG_LOG")"
    SLUICE_CRASH_AT="fence_cause:1:SLEEP8" sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 100 --seed 71 >/dev/null
    wait_progress "$slot" 60 || fail "sluice did not stream the workload: $(tail -3 "$logf")"
    sluice_stop "$pid" 60 || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc: $(tail -3 "$logf")"
    grep -q 'test point "fence_cause" reached: holding this thread for 8 s' "$logf" ||
        fail "the test point was not reached: $(tail -3 "$logf")"
    if tail -n +"$pg_log_lines" "$PG_LOG" | grep -q 'terminating walsender process due to replication timeout'; then
        fail "PostgreSQL dropped the replication connection for timeout while the session ended"
    fi
    drop_slot "$slot"
}

# SIGTERM while the broker is down and a Kafka transaction is open: sluice
# cannot commit, so it stops within shutdown.timeout.ms without confirming,
# and after the broker returns a restart delivers everything exactly once.
test_sigterm_bounded_while_kafka_down() {
    local slot=it_sd prefix=itsd cfg="$W/sd.conf" logf="$W/sd.log" rc
    fresh_tables
    trap '[ -z "${pid:-}" ] || kill -9 "$pid" 2>/dev/null; [ -n "$(kafka_node_pid 1)" ] || kafka_start_node 1' EXIT
    sluice_config "$cfg" "$slot" "$prefix" "shutdown.timeout.ms = 4000"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 61 >/dev/null
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 60
    kafka_stop_node 1
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 62 >/dev/null
    # sluice has been sent the new transactions, so a Kafka transaction is open.
    lsn="$(pg_psql -Atc "SELECT pg_current_wal_lsn()")"
    wait_for 30 slot_sent_past "$slot" "$lsn" || fail "PostgreSQL did not send the new transactions to sluice"
    local before t0=$SECONDS
    before="$(slot_confirmed "$slot")"
    rc=0
    sluice_stop "$pid" 30 || rc=$?
    local took=$((SECONDS - t0))
    log "stopped in ${took} s with exit $rc: $(grep -E 'shutdown.timeout|stopped' "$logf" | tail -1 | sed 's/.*\(INFO\|WARNING\): *//')"
    [ "$rc" -eq 0 ] || fail "exit $rc, want 0"
    [ "$took" -le 10 ] || fail "stopping took $took s with shutdown.timeout.ms = 4000"
    [ "$(slot_confirmed "$slot")" = "$before" ] || fail "the slot moved while Kafka was down"
    kafka_start_node 1
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    catch_up_and_stop "$slot" "$pid" 180 "restarted sluice"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger
    drop_slot "$slot"
}

# SIGTERM while sluice is still reaching PostgreSQL (a link that accepts and
# then says nothing: libpq waits for its connect_timeout) is an ordinary stop:
# exit 0, not the exit 4 of an unreachable server that a supervisor retries.
test_sigterm_while_connecting_exits_0() {
    local cfg="$W/sc.conf" logf="$W/sc.log" port rc=0
    port="$(_env_free_port)"
    "$REPO/build/tools/tcpproxy" "$port" 127.0.0.1 "$PGPORT_TEST" >"$W/sc-proxy.out" 2>&1 &
    local proxy=$!
    env_on_exit "kill $proxy 2>/dev/null || true"
    # Its signal handlers are in place once it says "ready" (SIGUSR1 would kill it before).
    wait_for -p "$proxy" 10 log_has "$W/sc-proxy.out" '^ready' ||
        { fail "tcpproxy did not start: $(cat "$W/sc-proxy.out")"; return 1; }
    kill -USR1 "$proxy"
    sluice_config "$cfg" it_sc itsc \
        "postgres.conninfo = host=127.0.0.1 port=$port dbname=sluice_test user=sluice password=sluice"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    # sluice is connecting once the proxy took its connection (and says nothing back).
    wait_for -p "$pid" 30 log_has "$W/sc-proxy.out" '^accepted' ||
        fail "sluice did not wait on the silent link: $(tail -2 "$logf")"
    local t0=$SECONDS
    sluice_stop "$pid" 40 || rc=$?
    kill "$proxy" 2>/dev/null || true
    log "stopped after $((SECONDS - t0)) s with exit $rc: $(grep -m1 'stopping as requested' "$logf" | sed 's/.*WARNING: *//' | cut -c1-160)"
    [ "$rc" -eq 0 ] || fail "SIGTERM while connecting: exit $rc, want 0: $(tail -2 "$logf")"
    grep -q "stopping as requested" "$logf" || fail "the log does not say the stop was requested"
    [ "$(pg_psql -Atc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'it_sc'")" = 0 ] ||
        fail "a slot was created"
}

# TLS to PostgreSQL: a test CA signs a server certificate for 127.0.0.1 and
# localhost; sslmode=verify-full streams over TLS, and a host name the
# certificate does not name is refused with a clear error.
test_tls_verify_full() {
    local d="$W/tls" slot=it_tls prefix=ittls cfg="$W/tls.conf" out="$W/tls.out" rc
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sluice test CA" \
            -keyout ca.key -out ca.crt 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
            -extfile san.ext -out server.crt 2>/dev/null
    )
    cp "$d/server.crt" "$d/server.key" "$PG_DATA/"
    chown postgres:postgres "$PG_DATA/server.crt" "$PG_DATA/server.key" 2>/dev/null || true
    chmod 600 "$PG_DATA/server.key"
    pg_psql -q -c "ALTER SYSTEM SET ssl = on" -c "SELECT pg_reload_conf()" >/dev/null
    trap 'pg_psql -q -c "ALTER SYSTEM RESET ssl" -c "SELECT pg_reload_conf()" >/dev/null' EXIT
    local tls="host=127.0.0.1 port=$PGPORT_TEST dbname=sluice_test user=sluice password=sluice sslmode=verify-full sslrootcert=$d/ca.crt"
    # The reload is asynchronous: on once a connection made now gets TLS.
    wait_for 10 "$PG_CLIENT_BIN/psql" -X -q -d "$tls" -c "SELECT 1" >/dev/null 2>&1 ||
        fail "PostgreSQL does not accept TLS after the reload"
    fresh_tables
    sluice_config "$cfg" "$slot" "$prefix" "postgres.conninfo = $tls"
    sluice_start "$cfg" "$W/tls.log"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    local ssl
    ssl="$(pg_psql -Atc "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_replication_slots r ON r.active_pid = s.pid WHERE r.slot_name = '$slot'")"
    log "replication connection: ssl|version = $ssl"
    [ "${ssl%%|*}" = t ] || fail "the replication connection does not use TLS ($ssl)"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 71 >/dev/null
    catch_up_and_stop "$slot" "$pid" 60 "sluice over TLS"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger
    # A name the certificate does not hold (the loopback address 127.0.0.2): refused.
    sluice_config "$cfg" "$slot" "$prefix" "postgres.conninfo = ${tls/host=127.0.0.1/host=127.0.0.2 hostaddr=127.0.0.1}"
    rc=0; "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 4 ] && grep -q 'server certificate for "localhost" (and 1 other name) does not match host name "127.0.0.2"' "$out" ||
        fail "a wrong host name was not refused clearly: exit $rc: $(cat "$out")"
    log "wrong host name: $(grep FATAL "$out" | sed 's/.*FATAL: *//')"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 10 ] && grep -q '^  FAIL  PostgreSQL connection: .*does not match host name' "$out" || fail "check did not flag the host name: $(cat "$out")"
    # An unknown CA is refused as well.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout "$d/o.key" -out "$d/other.crt" 2>/dev/null
    sluice_config "$cfg" "$slot" "$prefix" "postgres.conninfo = ${tls/ca.crt/other.crt}"
    rc=0; "$SLUICE" run -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 4 ] && grep -q 'certificate verify failed' "$out" || fail "an unknown CA was not refused: exit $rc: $(cat "$out")"
    drop_slot "$slot"
}

# docker/ and dist/ without a Docker engine: the compose file is well formed and
# consistent, the Dockerfile's build steps (docker/build.sh) build sluice from
# exactly what the Dockerfile copies, its runtime packages cover every library
# the binary needs, the sample configuration loads, and systemd accepts the unit.
test_packaging_files() {
    local d="$W/pkg" rc
    rm -rf "$d"
    mkdir -p "$d/src"
    python3 - "$REPO" <<'PY' || fail "docker-compose.yml or Dockerfile is inconsistent"
import os, re, subprocess, sys, yaml
repo = sys.argv[1]
dock = os.path.join(repo, 'docker')
c = yaml.safe_load(open(os.path.join(dock, 'docker-compose.yml')))
svcs = c['services']
assert set(svcs) == {'postgres', 'kafka', 'sluice', 'loadgen', 'consumer'}, set(svcs)
assert 'wal_level=logical' in svcs['postgres']['command'], svcs['postgres']['command']
assert svcs['kafka']['image'].startswith('apache/kafka:')
assert svcs['kafka']['environment']['KAFKA_PROCESS_ROLES'] == 'broker,controller'
assert svcs['kafka']['environment']['KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR'] == 1
b = svcs['sluice']['build']
assert os.path.isfile(os.path.join(dock, b['context'], b['dockerfile'])), b
for name, s in svcs.items():
    assert 'image' in s or 'build' in s, name
    for dep in s.get('depends_on', {}):
        assert dep in svcs, (name, dep)
    for v in s.get('volumes', []):
        src = v.split(':')[0]
        if src.startswith('.'):
            assert os.path.exists(os.path.join(dock, src)), (name, src)
    for key in ('command', 'entrypoint'):
        if isinstance(s.get(key), list):
            assert all(isinstance(x, str) for x in s[key]), (name, key)
# The load generator's script, as compose interpolates it ($$ -> $), is valid bash.
script = svcs['loadgen']['command'][0].replace('$$', '$')
subprocess.run(['bash', '-n'], input=script.encode(), check=True)
# Dockerfile: two Debian 12 slim stages, a non-root user, RUN steps that build.sh knows.
df = open(os.path.join(dock, 'Dockerfile')).read()
froms = re.findall(r'^FROM (\S+)', df, re.M)
assert froms == ['debian:bookworm-slim', 'debian:bookworm-slim'], froms
users = re.findall(r'^USER (\S+)', df, re.M)
assert users and not users[-1].startswith('root') and not users[-1].startswith('0'), users
known = re.search(r'usage: \$0 (.*)"', open(os.path.join(dock, 'build.sh')).read()).group(1)
for run in re.findall(r'^RUN (.*)$', df, re.M):
    for step in re.findall(r'sluice-build (\S+)', run):
        assert step in known, step
for src in re.findall(r'^COPY (?!--from)(\S+) ', df, re.M):
    assert os.path.exists(os.path.join(repo, src)), src
print('compose services:', ' '.join(sorted(svcs)), '| Dockerfile stages:', ' '.join(froms), '| user:', users[-1])
PY
    # The build stage, from exactly what the Dockerfile copies.
    local copies
    copies="$(sed -n 's/^COPY \([A-Za-z]\S*\) .*/\1/p' "$REPO/docker/Dockerfile" | grep -v '^docker/')"
    (cd "$REPO" && cp -r --parents $copies "$d/src/")
    rc=0
    "$REPO/docker/build.sh" build "$d/src" "$d/out" >"$d/build.log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "docker/build.sh build failed: $(tail -5 "$d/build.log")"
    grep -q "^sluice " "$d/build.log" || fail "the built binary did not run"
    "$REPO/docker/build.sh" check-runtime "$d/out/usr/local/bin/sluice" >&2 ||
        fail "the runtime stage lacks a library the binary needs"
    # The sample configuration loads (exit 10: it names hosts that do not exist here, not 3).
    cp "$REPO/docker/sluice.conf.example" "$d/sluice.conf"
    chmod 644 "$d/sluice.conf"
    rc=0
    SLUICE_PG_PASSWORD=x "$SLUICE" check -c "$d/sluice.conf" -o "postgres.conninfo=host=127.0.0.1 port=1 dbname=x user=x password=\${SLUICE_PG_PASSWORD}" \
        -o kafka.bootstrap.servers=127.0.0.1:1 -o startup.timeout.ms=1000 -o metrics.listen= >"$d/check.out" 2>&1 || rc=$?
    [ "$rc" -eq 10 ] || fail "docker/sluice.conf.example: sluice check exited $rc: $(cat "$d/check.out")"
    # systemd accepts the unit (pointed at the binary just built).
    sed "s|/usr/local/bin/sluice|$d/out/usr/local/bin/sluice|g" "$REPO/dist/sluice.service" >"$d/sluice.service"
    local v
    v="$(systemd-analyze verify "$d/sluice.service" 2>&1)" || fail "systemd-analyze verify failed: $v"
    [ -z "$v" ] || fail "systemd-analyze verify complained: $v"
    grep -q '^RestartPreventExitStatus=2 3 5 6 8 9$' "$REPO/dist/sluice.service" || fail "the unit's RestartPreventExitStatus changed"
}

# make demo, as a new user runs it: events show within a minute, and Ctrl-C
# (SIGINT to its process group) stops everything and removes the temp dir.
test_demo_shows_events_and_cleans_up() {
    local out="$W/demo.out" err="$W/demo.err"
    setsid "$REPO/tests/demo/run.sh" >"$out" 2>"$err" &
    local pid=$! t0=$SECONDS first=""
    demo_shows_events() { [ "$(grep -c '^insert ' "$out")" -ge 5 ] && grep -q '^update ' "$out"; }
    wait_for -p "$pid" 120 demo_shows_events && first=$((SECONDS - t0))
    local envdir
    envdir="$(sed -n 's/.*and a Kafka broker (KRaft) in \(\/tmp\/sluice-env\.[A-Za-z0-9]*\).*/\1/p' "$err" | head -1)"
    [ -n "$first" ] || fail "the demo showed no events: $(tail -5 "$err") $(tail -5 "$out")"
    log "demo: events after ${first} s; $(grep -c . "$out") lines, e.g. $(grep -m1 '^insert ' "$out")"
    [ "${first:-999}" -le 60 ] || fail "the first events took ${first} s (want within a minute)"
    local sluice_pid
    sluice_pid="$(pgrep -f "build/sluice run -c $envdir/sluice.conf" | head -1 || true)"
    kill -INT -- "-$pid" 2>/dev/null || true
    wait_for 60 _env_pids_gone "$pid" || { kill -9 -- "-$pid"; fail "the demo did not stop on Ctrl-C"; }
    [ -n "$envdir" ] && [ ! -d "$envdir" ] || fail "the demo left $envdir behind"
    [ -z "$sluice_pid" ] || ! kill -0 "$sluice_pid" 2>/dev/null || fail "the demo left sluice running"
    ! pgrep -f "sluice.env=$envdir" >/dev/null || fail "the demo left Kafka running"
    grep -q 'sluice stopped' "$err" || fail "no stop message"
}

# The docs say what the code does: docs/configuration.md holds, between its
# "generated" markers, exactly what `sluice help-config` prints (no key
# missing, none left over), and the exit-code table of docs/operations.md has
# a row for every exit code of common.h.
test_readme_in_sync() {
    local ref="$W/ref.md"
    "$SLUICE" help-config >"$ref"
    python3 - "$ref" "$REPO/docs/configuration.md" "$REPO/docs/operations.md" \
        "$REPO/include/sluice/base/common.h" <<'PY' || fail "docs/ are out of sync with the code"
import difflib, re, sys
ref, conf, ops, common = (open(p).read() for p in sys.argv[1:])
m = re.search(r'<!-- generated: build/sluice help-config \(begin\) -->\n(.*?)'
              r'<!-- generated: build/sluice help-config \(end\) -->', conf, re.S)
assert m, 'docs/configuration.md has no generated section'
if m.group(1).strip() != ref.strip():
    sys.stdout.writelines(difflib.unified_diff(
        m.group(1).strip().splitlines(True), ref.strip().splitlines(True),
        'docs/configuration.md', 'sluice help-config'))
    sys.exit('\ndocs/configuration.md differs from `sluice help-config`: '
             'paste its output between the markers')
table = re.search(r'^## Exit codes\n(.*?)(?=^## )', ops, re.S | re.M)
assert table, 'docs/operations.md has no "Exit codes" section'
codes = [int(c) for c in re.findall(r'EXIT_\w+ = (\d+),', common)]
assert codes, 'no exit codes in common.h'
for c in codes:
    assert re.search(r'^\| %d \|' % c, table.group(1), re.M), \
        'exit code %d is not in the exit-code table of docs/operations.md' % c
print('docs: %d keys as help-config prints them, exit codes %s' % (ref.count('\n| `'), codes))
PY
}

# SIGHUP reopens log.file (rotation): after a rename, new lines go to a new file.
test_sighup_reopens_log_file() {
    local slot=it_hup prefix=ithup cfg="$W/hup.conf" logf="$W/hup.log" rc
    rm -f "$logf" "$logf.1"
    sluice_config "$cfg" "$slot" "$prefix" "log.file = $logf"
    sluice_start "$cfg" "$W/hup.stderr"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    wait_log "$logf" 'streaming from' 30 "$pid" || fail "sluice did not start streaming"
    mv "$logf" "$logf.1"
    kill -HUP "$pid"
    wait_for 5 log_has "$logf" 'received SIGHUP: log file reopened' || fail "no new log file after SIGHUP"
    grep -q 'streaming from' "$logf.1" || fail "the rotated file lost its lines"
    kill -0 "$pid" || fail "SIGHUP stopped sluice"
    rc=0
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc"
    grep -q 'stopped: Kafka and PostgreSQL agree' "$logf" || fail "the stop went to the old file"
    [ ! -s "$W/hup.stderr" ] || fail "sluice wrote to stderr despite log.file: $(head -3 "$W/hup.stderr")"
    drop_slot "$slot"
}

# sql/setup.sql on a fresh database gives a role and publication that pass
# every check, and lists a table without a replica identity.
test_setup_sql_passes_check() {
    local cfg="$W/setup.conf" out="$W/setup.out" rc
    pg_psql -q -d postgres -c "DROP DATABASE IF EXISTS setup_test" -c "CREATE DATABASE setup_test"
    pg_psql -q -d setup_test -c "CREATE TABLE shop_orders (id int PRIMARY KEY, total numeric)" \
        -c "CREATE TABLE shop_log (msg text)"
    # The env's role "sluice" keeps its password ('sluice'), so other tests are unaffected.
    pg_psql -d setup_test -v password="'sluice'" -f "$REPO/sql/setup.sql" >"$out" 2>&1 ||
        fail "sql/setup.sql failed: $(cat "$out")"
    grep -q 'public.shop_log' "$out" || fail "setup.sql did not list the table without a replica identity"
    pg_psql -q -d setup_test -c "ALTER TABLE shop_log REPLICA IDENTITY FULL"
    sluice_config "$cfg" it_setup itsetup \
        "postgres.conninfo = host=$PGHOST_TEST port=$PGPORT_TEST dbname=setup_test user=sluice password=sluice"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && grep -q ' 0 failed, 0 warnings' "$out" || fail "check after setup.sql: exit $rc: $(cat "$out")"
    grep -q 'role "sluice" has REPLICATION$' "$out" || fail "the role is not a plain REPLICATION role"
    pg_psql -q -d postgres -c "DROP DATABASE setup_test"
}

# The checkpoint read goes to the end the partition had when it began, past
# another producer's transaction still open there (a checkpoint topic shared
# with another instance) and past its abort marker. The read_committed end
# (the last stable offset, where EOF is reported) lies before that open
# transaction, and so before this instance's last checkpoints: a reader that
# stopped there found an older checkpoint and refused to start (the slot
# "ahead" of it, exit 6).
test_checkpoint_read_past_another_producers_open_transaction() {
    local slot=it_ckx prefix=itckx cfg="$W/ckx.conf" logf="$W/ckx-1.log" relog="$W/ckx-2.log" rc
    rm -f "$logf" "$relog" "$W/ckx.ktxn"
    sluice_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'streaming from slot' 60 "$pid"
    pg_psql -c "INSERT INTO wl_a VALUES (999996, 'ckx', 1) ON CONFLICT (id) DO UPDATE SET n = wl_a.n + 1" >/dev/null
    wait_progress "$slot" 60
    # Another producer opens a transaction on the checkpoint topic; this
    # instance's next checkpoints land after it.
    "$REPO/build/tools/ktxn" --bootstrap "$KAFKA_BOOTSTRAP" --topic "$prefix.sluice.checkpoint" \
        --id "$prefix-other" --key other-slot --hold-ms 10000 --end abort >"$W/ckx.ktxn" 2>&1 &
    local ktxn=$!
    wait_for 30 grep -q '^open' "$W/ckx.ktxn" || { fail "ktxn did not open its transaction: $(cat "$W/ckx.ktxn")"; return 1; }
    pg_psql -c "INSERT INTO wl_a VALUES (999996, 'ckx', 1) ON CONFLICT (id) DO UPDATE SET n = wl_a.n + 1" >/dev/null
    wait_progress "$slot" 60
    rc=0
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc on SIGTERM"
    local at
    at="$(sed -nE 's/.*stopped: Kafka and PostgreSQL agree at ([0-9A-F]+\/[0-9A-F]{8}).*/\1/p' "$logf")"
    grep -q '^open' "$W/ckx.ktxn" && ! grep -q aborted "$W/ckx.ktxn" ||
        fail "the other transaction ended before the restart: the test proves nothing (load?)"
    local t0 t1
    t0="$(date +%s%3N)"
    sluice_start "$cfg" "$relog"
    pid=$SLUICE_PID
    wait_log "$relog" 'streaming from slot' 60 "$pid" ||
        fail "the restart did not stream: $(grep -m1 FATAL "$relog")"
    t1="$(log_line_ms "$relog" 'streaming from slot')"
    grep -Eq "checkpoint: Kafka transaction [0-9]+ holds changes up to $at " "$relog" ||
        fail "the restart did not find the last checkpoint (at $at): $(grep -m1 -E 'checkpoint|FATAL' "$relog")"
    log "restart next to another producer's open transaction: streaming after $((t1 - t0)) ms (it waits for that transaction to end)"
    rc=0
    wait "$ktxn" || rc=$?
    [ "$rc" -eq 0 ] && grep -q aborted "$W/ckx.ktxn" || fail "ktxn: $(cat "$W/ckx.ktxn")"
    rc=0
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "restarted sluice exited $rc on SIGTERM"
    drop_slot "$slot"
}

# log_line_ms FILE PATTERN: the timestamp (ms since the epoch) of the first
# line of sluice's log FILE matching the extended regex PATTERN.
log_line_ms() {
    local ts
    ts="$(grep -Em1 -- "$2" "$1" | cut -d' ' -f1)"
    [ -n "$ts" ] && date -d "$ts" +%s%3N
}

# A start that finds a checkpoint says where Kafka stands and nothing else: the
# "fresh start" line belongs to a start without one (it once followed every
# checkpoint line, telling the operator the opposite of what happened). Each
# of IT_RESTARTS (5) restarts must report the checkpoint the previous run
# stopped at ("Kafka and PostgreSQL agree at X") and stream from exactly
# there. Prints the time from launch to "streaming from" of each restart
# (never asserted: the figure goes to docs/results/).
test_restart_with_checkpoint_is_no_fresh_start() {
    local slot=it_rs prefix=itrs cfg="$W/rs.conf" first="$W/rs-0.log" rc i
    rm -f "$W"/rs-*.log
    sluice_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$first"
    local pid=$SLUICE_PID
    wait_log "$first" 'streaming from slot' 60 "$pid"
    grep -q "no checkpoint for slot \"$slot\" in \".*\": fresh start" "$first" ||
        fail "the first start did not say it starts fresh: $(head -5 "$first")"
    local prev=$first times=() t0 t1 lsn at
    for ((i = 1; i <= ${IT_RESTARTS:-5}; i++)); do
        pg_psql -c "INSERT INTO wl_a VALUES (999997, 'rs', 1) ON CONFLICT (id) DO UPDATE SET n = wl_a.n + 1" >/dev/null
        wait_progress "$slot" 60
        rc=0
        sluice_stop "$pid" || rc=$?
        [ "$rc" -eq 0 ] || fail "sluice exited $rc on SIGTERM"
        at="$(sed -nE 's/.*stopped: Kafka and PostgreSQL agree at ([0-9A-F]+\/[0-9A-F]{8}).*/\1/p' "$prev")"
        [ -n "$at" ] || { fail "no \"agree at\" line in $prev: $(tail -3 "$prev")"; return 1; }

        local logf="$W/rs-$i.log"
        t0="$(date +%s%3N)"
        sluice_start "$cfg" "$logf"
        pid=$SLUICE_PID
        wait_log "$logf" 'streaming from slot' 60 "$pid"
        t1="$(log_line_ms "$logf" 'streaming from slot')"
        times+=($((t1 - t0)))
        grep -Eq "checkpoint: Kafka transaction [0-9]+ holds changes up to $at " "$logf" ||
            fail "restart $i did not report the checkpoint at $at the last run stopped at: $(grep -m1 'checkpoint' "$logf")"
        grep -q "streaming from slot \"$slot\" at $at " "$logf" ||
            fail "restart $i does not stream from $at: $(grep -m1 'streaming from' "$logf")"
        ! grep -q 'fresh start' "$logf" ||
            fail "restart $i found a checkpoint but logged a fresh start: $(grep 'fresh start' "$logf")"
        prev=$logf
    done
    rc=0
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "restarted sluice exited $rc on SIGTERM"
    local sorted
    mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
    log "restart to streaming (checkpoint found), from launch to \"streaming from\", ms: ${times[*]}; median ${sorted[$(((${#sorted[@]} - 1) / 2))]}, max ${sorted[-1]}"
    drop_slot "$slot"
}

# A record the broker refuses (INVALID_RECORD: a null key for a compacted
# topic, here a table without a primary key) is a data error on every
# librdkafka: exit 9 with the broker's reason, nothing confirmed, no abort-and-
# retry loop. librdkafka 2.5+ (KIP-467) reports such a refusal per record
# (INVALID_RECORD for the named ones, _INVALID_DIFFERENT_RECORD for the rest of
# their batch; sink.c keeps the real cause: test_sink_mock's
# test_bystander_delivery_error_gives_way_to_the_cause); 2.0.2 fails the batch.
test_refused_record_is_data_error() {
    local slot=it_ir prefix=itir cfg="$W/ir.conf" logf="$W/ir.log" rc=0
    pg_psql -q -c "DROP TABLE IF EXISTS ir_t" -c "CREATE TABLE ir_t (id int, v text)" \
        -c "ALTER TABLE ir_t REPLICA IDENTITY FULL" \
        -c "DROP PUBLICATION IF EXISTS it_ir" -c "CREATE PUBLICATION it_ir FOR TABLE ir_t"
    kafka_topics --create --topic "$prefix.public.ir_t" --partitions 1 --replication-factor 1 \
        --config cleanup.policy=compact >/dev/null || fail "could not create the compacted topic"
    drop_slot "$slot"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_ir"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    local before
    before="$(slot_confirmed "$slot")"
    pg_psql -q -c "INSERT INTO ir_t SELECT g, 'no key' FROM generate_series(1, 200) g"
    wait_exit "$pid" 60 || rc=$?
    if [ "$rc" -eq 124 ]; then
        fail "sluice did not stop within 60 s: $(grep -c 'abort' "$logf") lines on aborts; $(tail -2 "$logf")"
        kill -9 "$pid" 2>/dev/null || true
    fi
    log "exit $rc: $(grep -m1 -E 'ERROR|FATAL' "$logf" | sed 's/.*\(ERROR\|FATAL\): *//' | cut -c1-240)"
    [ "$rc" -eq 9 ] || fail "exit $rc, want 9 (data error): $(tail -3 "$logf")"
    grep -q "Broker failed to validate record" "$logf" || fail "the log does not give the broker's reason"
    [ "$(slot_confirmed "$slot")" = "$before" ] || fail "the slot moved past a transaction Kafka refused"
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_ir" -c "DROP TABLE ir_t"
}
