# shellcheck shell=bash
# The integration tests (sourced by run.sh). Each test_* function is one test.

# fresh_tables: empties the workload tables and ledger before a test's slot exists,
# so the slot sees every row the tables will hold.
fresh_tables() {
    pg_psql -c "TRUNCATE wl_a, wl_b, wl_c, wl_ledger"
}



# Acceptance 1: >= 10,000 source transactions from concurrent clients over three
# tables, mixing INSERT, UPDATE and DELETE; a read_committed consumer sees every
# change exactly once, in order per key, each source transaction inside one
# Kafka transaction; replaying the topics gives the tables PostgreSQL has.
test_workload_exactly_once() {
    local slot=it_wl prefix=itwl cfg="$W/wl.conf" logf="$W/wl.log"
    fresh_tables
    sluice_config "$cfg" "$slot" "$prefix"
    local pid sampler
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait_slot_exists "$slot"
    start_sampler "$prefix" "$slot" "$W/wl.samples"
    sampler=$SAMPLER_PID
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 4 --txns "$IT_TXNS" --seed 11
    catch_up_and_stop "$slot" "$pid" 300
    stop_sampler "$sampler" "$W/wl.samples"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger
    local committed
    committed="$(pg_psql -Atc "SELECT count(*) FROM wl_ledger")"
    [ "$committed" -ge "$((IT_TXNS * 8 / 10))" ] || fail "only $committed transactions committed"
    drop_slot "$slot"
}

# Acceptance 2: kill -9 at >= 20 moments during the workload, including named
# crash points between the Kafka commit and the LSN confirmation; restart each
# time. Still exactly once, and the slot is never seen ahead of the checkpoint.
test_crash_restart_exactly_once() {
    crash_run "$SLUICE" itcrash it_crash "$IT_CRASHES" 42 || {
        cat "$W/itcrash.verify" >&2
        fail "exactly-once did not hold across crashes"
    }
    [ "$CRASH_KILLS" -ge "$IT_CRASHES" ] || fail "only $CRASH_KILLS kills"
    [ "$CRASH_POINTS" -ge 1 ] || fail "no named crash point was reached"
}

# Acceptance 3: a second instance on the same slot fails with a clear error while
# the first keeps streaming; a first instance that stalled (SIGSTOP) past
# wal_sender_timeout and comes back after a second took over is fenced: it exits
# 8 without confirming anything, and the data is still exactly once.
test_second_instance_and_fencing() {
    local slot=it_two prefix=ittwo cfg="$W/two.conf"
    fresh_tables
    sluice_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$W/two-a.log"
    local a=$SLUICE_PID
    wait_slot_exists "$slot"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 300 --seed 21 >/dev/null

    # A second instance while the first streams: refused, and the first is untouched.
    local rc=0
    # (bounded: should it wrongly start streaming, the test fails instead of hanging)
    timeout 120 "$SLUICE" run -c "$cfg" >"$W/two-b.log" 2>&1 || rc=$?
    [ "$rc" -eq 8 ] || fail "second instance exited $rc, want 8"
    grep -q 'is in use by PostgreSQL backend' "$W/two-b.log" || fail "second instance gave no clear error: $(cat "$W/two-b.log")"
    kill -0 "$a" || fail "first instance died when the second started"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 300 --seed 22 >/dev/null
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 60 || fail "first instance stopped streaming after the second was refused"

    # Stall the first past wal_sender_timeout (10s); PostgreSQL drops it; a second takes over.
    kill -STOP "$a"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 23 >/dev/null
    wait_for 60 slot_inactive "$slot" || fail "PostgreSQL did not end the stalled instance's walsender"
    sluice_start "$cfg" "$W/two-c.log"
    local c=$SLUICE_PID
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 60 || fail "the second instance did not take over"
    # The stalled first instance resumes: it must be fenced (exit 8), and the
    # verifier below shows that nothing it did reached Kafka or the slot.
    kill -CONT "$a"
    "$WORKLOAD" "$PG_ADMIN_CONNINFO" --clients 2 --txns 200 --seed 24 >/dev/null
    rc=0
    wait_exit "$a" 30 || rc=$?
    [ "$rc" -eq 8 ] || fail "the stalled first instance exited $rc, want 8 (fenced)"
    grep -Eq 'fenced|took over|in use' "$W/two-a.log" || fail "no fencing message in the first instance's log"
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 60 || fail "the second instance stopped streaming"
    rc=0
    sluice_stop "$c" || rc=$?
    [ "$rc" -eq 0 ] || fail "second instance exited $rc on SIGTERM"
    verify_check "$prefix" "$slot" --tables wl_a,wl_b,wl_c --ledger wl_ledger | tee "$W/$prefix.verify"
    drop_slot "$slot"
}

# Acceptance 4: one 1,000,000-row transaction arrives whole and exactly once while
# sluice's peak RSS stays under 100 MB.
test_big_transaction_flat_memory() {
    local slot=it_big prefix=itbig cfg="$W/big.conf" logf="$W/big.log"
    pg_psql -c "CREATE TABLE IF NOT EXISTS big (id int PRIMARY KEY, v text, n bigint); TRUNCATE big, wl_ledger" \
        -c "ALTER PUBLICATION sluice ADD TABLE big" 2>/dev/null ||
        pg_psql -c "TRUNCATE big, wl_ledger"
    sluice_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    pg_psql -c "BEGIN; INSERT INTO big SELECT g, 'row ' || g || repeat('x', 60), g * 7 FROM generate_series(1, $IT_BIG_ROWS) g;
                INSERT INTO wl_ledger VALUES (txid_current() % 4294967296, $IT_BIG_ROWS, -1); COMMIT;"
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 600
    local rss
    rss="$(peak_rss_kb "$pid")"
    local rc=0
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "sluice exited $rc on SIGTERM"
    log "peak RSS of sluice during the $IT_BIG_ROWS-row transaction: $((rss / 1024)) MB"
    [ "$rss" -gt 0 ] && [ "$rss" -lt $((100 * 1024)) ] || fail "peak RSS $rss kB is not under 100 MB"
    verify_check "$prefix" "$slot" --tables big --ledger wl_ledger --no-state
    pg_psql -c "ALTER PUBLICATION sluice DROP TABLE big; DROP TABLE big" >/dev/null
    drop_slot "$slot"
}

# Acceptance 5: bad input and broken peers give a clear message and a documented
# exit code, and nothing is confirmed.
test_errors_are_clear_and_confirm_nothing() {
    local cfg="$W/err.conf" out="$W/err.out"
    check_error() {
        local want="$1" pattern="$2"
        shift 2
        local rc=0
        "$@" >"$out" 2>&1 || rc=$?
        if [ "$rc" -ne "$want" ] || ! grep -q -- "$pattern" "$out"; then
            fail "want exit $want and \"$pattern\"; got exit $rc: $(tail -3 "$out")"
            return 1
        fi
        log "exit $rc: $(grep -m1 -- "$pattern" "$out" | sed 's/.*\(FATAL\|ERROR\): *//')"
    }
    # Configuration.
    printf 'postgres.conninfo = x\nno.such.key = 1\n' >"$cfg"
    chmod 600 "$cfg"
    check_error 3 'unknown configuration key "no.such.key"' "$SLUICE" run -c "$cfg"
    printf 'postgres.slot = s\n' >"$cfg"
    check_error 3 'missing required configuration key "postgres.conninfo"' "$SLUICE" run -c "$cfg"
    check_error 2 'unknown command' "$SLUICE" frobnicate

    # Wrong password.
    local bad="${PG_CONNINFO/password=sluice/password=wrong}"
    sluice_config "$cfg" it_err iterr "postgres.conninfo = $bad"
    check_error 4 'password authentication failed' "$SLUICE" run -c "$cfg"
    # PostgreSQL not listening.
    sluice_config "$cfg" it_err iterr "postgres.conninfo = host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2"
    check_error 4 'could not connect to PostgreSQL' "$SLUICE" run -c "$cfg"
    # Missing publication.
    sluice_config "$cfg" it_err iterr "postgres.publication = nosuchpub"
    check_error 5 'publication "nosuchpub" does not exist' "$SLUICE" run -c "$cfg"
    # Unreachable broker (nothing listens on port 1).
    sluice_config "$cfg" it_err iterr "kafka.bootstrap.servers = 127.0.0.1:1" "startup.timeout.ms = 3000"
    check_error 7 'is Kafka at "127.0.0.1:1" reachable' "$SLUICE" run -c "$cfg"
    [ -z "$(slot_confirmed it_err)" ] || fail "a slot was created although Kafka was unreachable"

    # A checkpoint exists but the slot was dropped: refuse.
    sluice_config "$cfg" it_err iterr
    sluice_start "$cfg" "$W/err-run.log"
    local pid=$SLUICE_PID
    wait_slot_exists it_err
    pg_psql -c "INSERT INTO wl_a VALUES (999999, 'e', 1) ON CONFLICT (id) DO UPDATE SET n = wl_a.n + 1" >/dev/null
    local lsn
    lsn="$(sync_barrier)"
    wait_confirmed it_err "$lsn" 60
    sluice_stop "$pid"
    drop_slot it_err
    check_error 6 'replication slot "it_err" does not exist, but Kafka holds a checkpoint' "$SLUICE" run -c "$cfg"
    [ -z "$(slot_confirmed it_err)" ] || fail "sluice recreated a dropped slot although a checkpoint exists"

    # The slot advanced behind sluice's back (ahead of the checkpoint): refuse.
    pg_psql -Atc "SELECT pg_create_logical_replication_slot('it_err', 'pgoutput')" >/dev/null
    pg_psql -c "INSERT INTO wl_a VALUES (999998, 'e', 1) ON CONFLICT (id) DO UPDATE SET n = wl_a.n + 1" >/dev/null
    pg_psql -Atc "SELECT pg_replication_slot_advance('it_err', pg_current_wal_lsn())" >/dev/null
    local slot_before
    slot_before="$(slot_confirmed it_err)"
    check_error 6 'ahead of the Kafka checkpoint' "$SLUICE" run -c "$cfg"
    [ "$(slot_confirmed it_err)" = "$slot_before" ] || fail "the slot moved although sluice refused"
    drop_slot it_err

    # Malformed frames are covered by the decoder's unit tests (tests/unit/test_pgoutput.c).
}

# ---------------------------------------------------------------------------
# Issue 8, faithful output: golden tests (tests/golden/*.sql → expected/*.out),
# the type round trip, TOAST, and a randomized workload applied to a copy.
. "$REPO/tests/golden/golden.sh"

# Every golden case (GOLDEN_CASES="a b" runs some; GOLDEN_ACCEPT=1 rewrites expectations).
test_golden() {
    local c failed=""
    for c in ${GOLDEN_CASES:-$(cd "$REPO/tests/golden" && ls -- *.sql | sed 's/\.sql$//')}; do
        golden_case "$c" || failed="$failed $c"
    done
    [ -z "$failed" ] || { log "golden cases failed:$failed"; return 1; }
}

# Issue 4, Protobuf output equal in content to JSON: every golden case (but the
# JSON-only schemas case) again with format = protobuf; a protobuf-c consumer
# decodes each record into the JSON the json format writes, which must equal the
# same expected file byte for byte, and the type table's round trip (apply)
# rebuilds the table from the Protobuf topic equal to PostgreSQL's.
test_golden_protobuf() {
    local c failed=""
    for c in ${GOLDEN_CASES:-$(cd "$REPO/tests/golden" && ls -- *.sql | sed 's/\.sql$//')}; do
        golden_case "$c" protobuf || failed="$failed $c"
    done
    [ -z "$failed" ] || { log "golden cases failed (protobuf):$failed"; return 1; }
}

# apply_check NAME TABLE PREFIX SLOT [apply args...]: rebuilds TABLE from its topic
# into TABLE_copy and compares (tests/tools/apply.c).
apply_check() {
    local table="$1" prefix="$2"
    shift 2
    "$REPO/build/tools/apply" --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" \
        --topic "$prefix.public.$table" --table "public.$table" --copy "public.${table}_copy" "$@"
}

# rebuilt_check PREFIX SLOT MODE TABLE:KEY...: the verifier over the tables
# (MODE: --snapshot or --incremental, the replayed state not compared) and, per
# table, a consumer rebuilding it from Kafka by KEY whose md5 must equal
# PostgreSQL's. Fails the test on either.
rebuilt_check() {
    local prefix="$1" slot="$2" mode="$3" ok=0 tk tables=""
    shift 3
    for tk in "$@"; do tables="${tables:+$tables,}${tk%%:*}"; done
    verify_check "$prefix" "$slot" --tables "$tables" "$mode" --no-compare >"$W/$prefix.verify" 2>&1 || ok=1
    cat "$W/$prefix.verify" >&2
    [ "$ok" -eq 0 ] || fail "verify found violations (see above)"
    for tk in "$@"; do
        apply_check "${tk%%:*}" "$prefix" --key "${tk#*:}" || ok=1
    done
    [ "$ok" -eq 0 ] || fail "a table rebuilt from Kafka differs from PostgreSQL"
}

# Issue 8 acceptance: 10,000 rows with 8–32 kB TOASTed values, updated without
# touching them, under REPLICA IDENTITY DEFAULT and FULL: no event carries a
# fake null (DEFAULT: the placeholder in every update; FULL: the real value),
# and a consumer rebuilding each table from Kafka ends equal to PostgreSQL.
test_toast_unchanged_values_never_null() {
    local slot=it_toast prefix=ittoast cfg="$W/toast.conf" logf="$W/toast.log" rows="${IT_TOAST_ROWS:-3000}"
    pg_psql -q -c "DROP TABLE IF EXISTS toast_d, toast_f, toast_d_copy, toast_f_copy" \
        -c "CREATE TABLE toast_d (id int PRIMARY KEY, n int, body text)" \
        -c "CREATE TABLE toast_f (id int PRIMARY KEY, n int, body text)" \
        -c "ALTER TABLE toast_d ALTER body SET STORAGE EXTERNAL" \
        -c "ALTER TABLE toast_f ALTER body SET STORAGE EXTERNAL, REPLICA IDENTITY FULL" \
        -c "DROP PUBLICATION IF EXISTS it_toast" -c "CREATE PUBLICATION it_toast FOR TABLE toast_d, toast_f"
    drop_slot "$slot"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_toast"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    local t
    for t in toast_d toast_f; do
        # 256 to 1023 md5s: 8 to 32 kB of text that does not compress.
        pg_psql -q -c "INSERT INTO $t SELECT g, 0, (SELECT string_agg(md5((g * 1000 + i)::text), '')
                       FROM generate_series(1, 256 + (g * 7919) % 768) i) FROM generate_series(1, $rows) g"
        pg_psql -q -c "UPDATE $t SET n = n + 1"
    done
    [ "$(pg_psql -Atc "SELECT min(length(body)) >= 8192 AND max(length(body)) <= 32768
                       AND pg_total_relation_size(reltoastrelid) > $rows::bigint * 8192
                       FROM toast_d, pg_class WHERE relname = 'toast_d' GROUP BY reltoastrelid")" = t ] ||
        fail "the bodies are not 8–32 kB TOASTed values"
    catch_up_and_stop "$slot" "$pid" 600
    apply_check toast_d "$prefix" --key id --no-nulls body --expect-placeholders yes
    apply_check toast_f "$prefix" --key id --no-nulls body --expect-placeholders no
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_toast" -c "DROP TABLE toast_d, toast_f, toast_d_copy, toast_f_copy"
}

# Issue 8 acceptance: a consumer applying the stream of a randomized workload
# (inserts, updates including key changes, deletes, truncates, ALTER TABLE
# mid-stream) to an empty copy ends with a table equal to the source.
test_randomized_workload_applies_to_equal_copy() {
    local slot=it_rnd prefix=itrnd cfg="$W/rnd.conf" logf="$W/rnd.log" txns="${IT_RND_TXNS:-300}"
    pg_psql -q -c "DROP TABLE IF EXISTS rnd, rnd_copy" \
        -c "CREATE TABLE rnd (id int PRIMARY KEY, v int, t text, f float8, d date, ts timestamptz, a int[], j jsonb)" \
        -c "DROP PUBLICATION IF EXISTS it_rnd" -c "CREATE PUBLICATION it_rnd FOR TABLE rnd"
    drop_slot "$slot"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_rnd"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    local i op
    for ((i = 1; i <= txns; i++)); do
        if [ "$i" -eq $((txns / 2)) ]; then
            pg_psql -q -c "ALTER TABLE rnd ADD COLUMN extra numeric, DROP COLUMN t"
        fi
        if [ $((i % 120)) -eq 0 ]; then
            op="TRUNCATE rnd;"
        else
            op=""
        fi
        pg_psql -q -c "SELECT setseed($i / ($txns + 1.0));" -c "BEGIN; $op
            DO \$\$
            DECLARE k int; k2 int; has_extra bool := EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = 'rnd'::regclass AND attname = 'extra' AND NOT attisdropped);
            BEGIN
              FOR n IN 1..(1 + (random() * 12)::int) LOOP
                k := (random() * 400)::int;
                CASE (random() * 5)::int
                WHEN 0, 1 THEN
                  INSERT INTO rnd (id, v, f, d, ts, a, j)
                  VALUES (k, (random() * 1000)::int, random() * 1e6 - 5e5, date '2000-01-01' + (random() * 20000)::int,
                          timestamptz '2020-01-01' + random() * interval '2000 days',
                          ARRAY[(random() * 9)::int, NULL], jsonb_build_object('k', k, 'r', random()))
                  ON CONFLICT (id) DO UPDATE SET v = excluded.v, a = excluded.a;
                WHEN 2 THEN UPDATE rnd SET v = v + 1, f = f / 3, j = j || '{\"u\": true}' WHERE id = k;
                WHEN 3 THEN  -- a key change, to a free key
                  k2 := k + 1000 + (random() * 5000)::int;
                  IF NOT EXISTS (SELECT 1 FROM rnd WHERE id = k2) THEN
                    UPDATE rnd SET id = k2, v = -v WHERE id = k;
                  END IF;
                ELSE DELETE FROM rnd WHERE id = k;
                END CASE;
                IF has_extra AND random() < 0.3 THEN
                  UPDATE rnd SET extra = round((random() * 1e6)::numeric, 3) WHERE id = k;
                END IF;
              END LOOP;
            END \$\$; COMMIT;" >/dev/null
    done
    catch_up_and_stop "$slot" "$pid" 300
    log "randomized workload: $(pg_psql -Atc "SELECT count(*) FROM rnd") rows at the end"
    apply_check rnd "$prefix" --key id
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_rnd" -c "DROP TABLE rnd, rnd_copy"
}
