# shellcheck shell=bash
# Incremental snapshot tests (issue 15; sourced by run.sh). Sizes:
#   IT_INC_ROWS (20000) rows over 4 tables, IT_INC_KILLS (4) kill -9s during the copy,
#   IT_INC_CHUNK (250) snapshot.chunk.rows, IT_INC_TOAST_EVERY (1: every row of inc_a
#   has a TOASTed body; 10 keeps a big run's table small).
# The acceptance size: IT_INC_ROWS=1000000 IT_INC_KILLS=20 IT_INC_TOAST_EVERY=10.

# inc_setup ROWS: tables inc_a (bigint key, a TOASTed body on every
# IT_INC_TOAST_EVERY-th row,
# stored EXTERNAL so updates that leave it alone send the unchanged-TOAST
# placeholder), inc_b (int key), inc_c (text key, REPLICA IDENTITY FULL) and
# inc_d (a two-column key declared in the order (b, a), the reverse of the
# columns), in publication it_inc, holding ROWS rows together.
inc_setup() {
    local rows="$1"
    local a=$((rows * 4 / 10)) b=$((rows * 3 / 10)) c=$((rows / 10)) d=$((rows * 2 / 10))
    local every="${IT_INC_TOAST_EVERY:-1}"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_inc" \
        -c "DROP TABLE IF EXISTS inc_a, inc_b, inc_c, inc_d, inc_a_copy, inc_b_copy, inc_c_copy, inc_d_copy" \
        -c "CREATE TABLE inc_a (id bigint PRIMARY KEY, n int, name text, body text)" \
        -c "ALTER TABLE inc_a ALTER body SET STORAGE EXTERNAL" \
        -c "CREATE TABLE inc_b (id int PRIMARY KEY, v int, d date)" \
        -c "CREATE TABLE inc_c (k text PRIMARY KEY, n int, txt text)" \
        -c "ALTER TABLE inc_c REPLICA IDENTITY FULL" \
        -c "CREATE TABLE inc_d (a int, b text, v text, PRIMARY KEY (b, a))" \
        -c "INSERT INTO inc_a SELECT g, 0, 'name ' || g,
                   CASE WHEN g % $every = 0 THEN repeat(md5(g::text), 80) ELSE E'short\t' || g END
              FROM generate_series(1, $a) g" \
        -c "INSERT INTO inc_b SELECT g, g, date '2000-01-01' + g % 9000 FROM generate_series(1, $b) g" \
        -c "INSERT INTO inc_c SELECT 'k' || g, g, repeat('c', g % 50) FROM generate_series(1, $c) g" \
        -c "INSERT INTO inc_d SELECT g % 97, 'b' || (g / 97), 'v' || g FROM generate_series(1, $d) g" \
        -c "CREATE PUBLICATION it_inc FOR TABLE inc_a, inc_b, inc_c, inc_d" \
        -c "GRANT SELECT ON inc_a, inc_b, inc_c, inc_d TO sluice" \
        -c "ANALYZE inc_a, inc_b, inc_c, inc_d"
}

# inc_write_round ROWS I: round I of the writer, 300 small transactions in
# one DO block (committed one by one, so fast enough to land inside chunk
# windows): updates that leave inc_a's TOASTed body unchanged (and some that
# change it), deletes and re-inserts, key changes (to a negative key, before
# every chunk, and to a key past the end, which a later chunk reads: of inc_b,
# and of inc_a's rows without a TOASTed body), on random rows.
inc_write_round() {
    local rows="$1" i="$2"
    local na=$((rows * 4 / 10)) nb=$((rows * 3 / 10)) nc=$((rows / 10)) nd=$((rows * 2 / 10))
    local every="${IT_INC_TOAST_EVERY:-1}"
    # Key changes only of rows without a TOASTed body: PostgreSQL sends an unchanged TOAST
    # value as the placeholder in a key-changing UPDATE too, and the create under the new
    # key then has nothing to keep (docs/output.md): a limit of streaming, not of the copy.
    pg_psql -q -c "DO \$\$
DECLARE r int;
BEGIN
  PERFORM setseed(($i % 1000) / 1000.0);
  FOR j IN 1..300 LOOP
    UPDATE inc_a SET n = n + 1 WHERE id = floor(random() * $((na / every)))::int * $every + $every;
    COMMIT;
    IF j % 5 = 0 THEN
      UPDATE inc_a SET body = body || 'x' WHERE id = floor(random() * $((na / every)))::int * $every + $every;
      COMMIT;
    END IF;
    IF j % 3 = 0 THEN
      DELETE FROM inc_b WHERE id = 1 + floor(random() * $nb)::int;
      COMMIT;
      INSERT INTO inc_b VALUES (1 + floor(random() * $nb)::int, j, now()::date)
        ON CONFLICT (id) DO UPDATE SET v = excluded.v;
      COMMIT;
    END IF;
    IF j % 10 IN (0, 5) AND $every > 1 THEN
      r := 1 + floor(random() * $na)::int;
      IF r % $every = 0 THEN r := r + 1; END IF;
      IF j % 10 = 0 THEN
        UPDATE inc_a SET id = -id WHERE id = r AND NOT EXISTS (SELECT 1 FROM inc_a WHERE id = -r);
      ELSE
        UPDATE inc_a SET id = id + $((rows * 10)) WHERE id = r
          AND NOT EXISTS (SELECT 1 FROM inc_a WHERE id = r + $((rows * 10)));
      END IF;
      COMMIT;
    END IF;
    IF j % 10 IN (2, 7) THEN
      r := 1 + floor(random() * $nb)::int;
      IF j % 10 = 2 THEN
        UPDATE inc_b SET id = -id WHERE id = r AND NOT EXISTS (SELECT 1 FROM inc_b WHERE id = -r);
      ELSE
        UPDATE inc_b SET id = id + $((rows * 10)) WHERE id = r
          AND NOT EXISTS (SELECT 1 FROM inc_b WHERE id = r + $((rows * 10)));
      END IF;
      COMMIT;
    END IF;
    IF j % 2 = 0 THEN
      UPDATE inc_c SET n = n + 1, txt = txt || 'u' WHERE k = 'k' || (1 + floor(random() * $nc)::int);
      COMMIT;
    END IF;
    IF j % 4 = 0 THEN
      r := floor(random() * $((nd / 97)))::int;
      DELETE FROM inc_d WHERE a = j % 97 AND b = 'b' || r;
      INSERT INTO inc_d VALUES (j % 97, 'b' || r, 'again $i.' || j) ON CONFLICT DO NOTHING;
      COMMIT;
    END IF;
  END LOOP;
END \$\$" >/dev/null 2>&1
}

# inc_sample_loop FLAG OUT SLOT: every 0.2 s, one line: the slot's
# confirmed_flush_lsn and the age (s) of the oldest open transaction of sluice's
# connections, until FLAG is removed; sets SAMPLE_LOOP_PID.
inc_sample_loop() {
    local flag="$1" out="$2" slot="$3"
    touch "$flag"
    (
        while [ -f "$flag" ]; do
            pg_psql -Atc "SELECT (SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '$slot'),
                                 (SELECT coalesce(round(extract(epoch FROM max(now() - xact_start))::numeric, 3), 0)
                                    FROM pg_stat_activity WHERE application_name LIKE 'sluice%'
                                     AND backend_type = 'client backend' AND xact_start IS NOT NULL)" \
                >>"$out" 2>/dev/null || true
            sleep 0.2
        done
    ) &
    SAMPLE_LOOP_PID=$!
}

inc_streaming_runs() {
    grep -c 'streaming from slot' "$1" || true
}

inc_run_streams() {
    [ "$(inc_streaming_runs "$1")" -ge "$2" ]
}

# inc_chunks_past LOG N: more than N chunks emitted (log.level = debug).
inc_chunks_past() {
    [ "$(grep -c 'rows emitted' "$1" || true)" -gt "$2" ]
}

# inc_chunk_committed LOG: a Kafka commit logged after a chunk's rows (log.level = debug).
inc_chunk_committed() {
    awk '/rows emitted/ { e = 1 } e && /committed Kafka transaction/ { found = 1; exit } END { exit !found }' "$1"
}

inc_copies_done() {
    grep -q 'incremental snapshot complete: every table is in Kafka' "$1"
}

# inc_check PREFIX SLOT: the verifier over inc_a..inc_d (V1–V5, and V8: no row
# read twice) and, per table, a consumer rebuilding it from Kafka whose md5 must
# equal PostgreSQL's.
inc_check() {
    rebuilt_check "$1" "$2" --incremental inc_a:id inc_b:id inc_c:k inc_d:b,a
}

# Issue 15 acceptance 1 and 2 (CI size): an incremental snapshot of 4 tables
# while a writer updates (TOAST left unchanged included), deletes, re-inserts
# and changes keys, with sluice killed -9 IT_INC_KILLS times at random moments.
# Every table rebuilt from Kafka equals PostgreSQL (md5), no row is read ("r")
# twice (V8: no committed chunk repeated), V1–V6 hold (the V6 sampler runs
# throughout), and the slot's confirmed_flush_lsn advances during the copy.
test_incremental_snapshot_kill9_exactly_once() {
    local slot=it_inc prefix=itinc cfg="$W/inc.conf" logf="$W/inc.log"
    # Chunks of 250: with several chunks to a Kafka transaction, 10 chunks of 2,000
    # were copied in about a second, and the slot was sampled only twice meanwhile.
    local rows="${IT_INC_ROWS:-20000}" kills="${IT_INC_KILLS:-4}" chunk="${IT_INC_CHUNK:-250}"
    drop_slot "$slot"
    inc_setup "$rows"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_inc" "snapshot.mode = initial" \
        "snapshot.method = incremental" "snapshot.chunk.rows = $chunk" "commit.interval.ms = 50"
    rounds_start "$W/inc.writing" 0 inc_write_round "$rows"
    local writer=$ROUNDS_PID
    inc_sample_loop "$W/inc.sampling" "$W/inc.samples" "$slot"
    local sampler_loop=$SAMPLE_LOOP_PID
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID k
    wait_slot_exists "$slot"
    start_sampler "$prefix" "$slot" "$W/inc.v6"
    local v6=$SAMPLER_PID
    RANDOM=15
    for ((k = 1; k <= kills; k++)); do
        # A random moment 0–2 s after this run started streaming (and copying), unless
        # the copy is already over.
        wait_for -p "$pid" 60 inc_run_streams "$logf" "$k" || true
        sleep "$((RANDOM % 2)).$((RANDOM % 10))"
        if inc_copies_done "$logf"; then
            log "the copy completed before kill $k"
            break
        fi
        sluice_kill9_restart "$pid" "$cfg" "$logf"
        pid=$SLUICE_PID
        log "kill $k: sluice exited $KILL9_RC; $(grep -c 'rows emitted\|incremental snapshot of' "$logf") lines so far"
    done
    wait_for -p "$pid" 600 inc_copies_done "$logf" || fail "the incremental snapshot did not complete"
    rm -f "$W/inc.sampling"
    wait "$sampler_loop" || true
    rounds_stop "$W/inc.writing" "$writer" || true
    catch_up_and_stop "$slot" "$pid" 120
    stop_sampler "$v6" "$W/inc.v6" || true
    grep -E 'incremental snapshot' "$logf" | grep -v 'rows emitted' | head -12 >&2
    # The slot during the copy: confirmed_flush_lsn as sampled (first, some, last).
    local distinct
    distinct="$(cut -d'|' -f1 "$W/inc.samples" | grep -v '^$' | uniq | wc -l)"
    log "confirmed_flush_lsn during the copy: $distinct distinct values in $(wc -l <"$W/inc.samples") samples:" \
        "$(cut -d'|' -f1 "$W/inc.samples" | grep -v '^$' | uniq | awk 'NR == 1 || NR % 10 == 0 { printf "%s ", $0 } END { printf "… %s", $0 }')"
    log "oldest open transaction of sluice's connections seen during the copy: $(cut -d'|' -f2 "$W/inc.samples" | sort -g | tail -1) s"
    [ "$distinct" -ge 3 ] || fail "the slot's confirmed_flush_lsn did not advance during the copy ($distinct values)"
    log "sluice was killed $((k - 1)) time(s) during the copy"
    # The 4 tables' topics are created in one request at the first chunk, not each at its
    # table's first row (one 500 ms settle each: 1.5 s or more from the first to the last).
    topics_created_at_once "$logf" "$prefix.public.inc_[a-d]" 4
    inc_check "$prefix" "$slot"
    drop_slot "$slot"
}

# Issue 15 point 4: with snapshot.method = incremental, a published table with
# neither a primary key nor a replica identity index is refused at start (exit 5,
# naming it) before any slot is created; snapshot.method = export copies it.
test_incremental_refuses_tables_without_key() {
    local slot=it_inck prefix=itinck cfg="$W/inck.conf" logf="$W/inck.log" rc=0
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_inck" -c "DROP TABLE IF EXISTS inck_keyed, inck_nokey" \
        -c "CREATE TABLE inck_keyed (id int PRIMARY KEY, v int)" -c "CREATE TABLE inck_nokey (v int)" \
        -c "INSERT INTO inck_keyed VALUES (1, 1)" -c "INSERT INTO inck_nokey VALUES (1)" \
        -c "CREATE PUBLICATION it_inck FOR TABLE inck_keyed, inck_nokey WITH (publish = 'insert, truncate')" \
        -c "GRANT SELECT ON inck_keyed, inck_nokey TO sluice"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_inck" "snapshot.mode = initial" \
        "snapshot.method = incremental"
    "$SLUICE" run -c "$cfg" >"$logf" 2>&1 || rc=$?
    [ "$rc" -eq 5 ] || fail "exit $rc, want 5: $(tail -2 "$logf")"
    grep -q 'neither a primary key nor a replica identity index: "public.inck_nokey"' "$logf" ||
        fail "the message does not name the table: $(tail -2 "$logf")"
    ! grep -q 'inck_keyed"' "$logf" || fail "the message names a table that has a key"
    ! slot_exists "$slot" || fail "a slot was created for a pipeline that cannot run"
    tail -1 "$logf" >&2
    pg_psql -q -c "DROP PUBLICATION it_inck" -c "DROP TABLE inck_keyed, inck_nokey"
}

# inc_request_kill9 HOW: the on-request snapshot under kill -9 (issue 15, "on
# request … exactly once under a crash"). sluice streams publication it_inc
# with snapshot.mode = never (nothing copied at start) and snapshot.method =
# incremental; while the writer changes the tables, the four tables are
# requested — HOW = message (pg_logical_emit_message) or command (sluice
# snapshot) — and sluice is killed -9 IT_INC_KILLS times during the copy.
# Then: the copy was incremental (no export, no pause), every table rebuilt
# from Kafka equals PostgreSQL (md5), no row was read ("r") twice (V8: no
# committed chunk repeated, and the request carried out once), V1–V5 hold,
# and the request message is in Kafka exactly once.
inc_request_kill9() {
    local how="$1" slot="it_incr_$1" prefix="itincr$1" cfg="$W/incr_$1.conf" logf="$W/incr_$1.log"
    # Chunks of 100: on a quiet machine 500-row chunks copied the tables in about
    # a second, and the one kill that landed fell between two tables, so no
    # session resumed a table mid-copy (a fresh-clone CI run at 0e0d69a); with
    # several chunks to a Kafka transaction, 200-row chunks did the same.
    local rows="${IT_INC_REQ_ROWS:-12000}" kills="${IT_INC_KILLS:-4}" chunk="${IT_INC_REQ_CHUNK:-100}"
    drop_slot "$slot"
    inc_setup "$rows"
    # log.level = debug: a line per chunk emitted ('rows emitted'), to kill after one.
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_inc" "snapshot.mode = never" \
        "snapshot.method = incremental" "snapshot.chunk.rows = $chunk" "commit.interval.ms = 50" \
        "log.level = debug"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID k rc emitted=0
    wait_log "$logf" 'streaming from slot' 60 "$pid" || fail "sluice did not start streaming"
    rounds_start "$W/incr.writing" 0 inc_write_round "$rows"
    local writer=$ROUNDS_PID
    sleep 1
    if [ "$how" = message ]; then
        pg_psql -q -c "SELECT pg_logical_emit_message(true, 'sluice.snapshot', 'inc_a, inc_b, public.inc_c, inc_d')" >/dev/null
    else
        "$SLUICE" snapshot -c "$cfg" inc_a inc_b public.inc_c inc_d >"$W/incr_$1.out" 2>&1 ||
            fail "sluice snapshot exited $?: $(cat "$W/incr_$1.out")"
        cat "$W/incr_$1.out" >&2
    fi
    wait_log "$logf" 'asks for a snapshot of' 60 "$pid" || fail "the request was not seen"
    RANDOM=151
    for ((k = 1; k <= kills; k++)); do
        # A random moment 0–90 ms after this run was seen to emit a chunk (so most
        # kills land between committed chunks, some before the chunk's commit). A
        # chunk of 100 rows takes a few ms: longer waits let the copy end first.
        wait_for -p "$pid" 60 inc_run_streams "$logf" "$k" || true
        wait_for -p "$pid" 30 inc_chunks_past "$logf" "$emitted" || true
        sleep "0.0$((RANDOM % 10))"
        if inc_copies_done "$logf"; then
            log "the copy completed before kill $k"
            break
        fi
        grep -q 'exported a new snapshot' "$logf" && fail "the requested tables were copied by the export method"
        kill -9 "$pid" 2>/dev/null || true
        rc=0
        wait "$pid" || rc=$?
        emitted="$(grep -c 'rows emitted' "$logf" || true)"
        log "kill $k: sluice exited $rc; $emitted chunks emitted, $(grep -c 'incremental snapshot of .* complete' "$logf") table(s) complete so far"
        sluice_start "$cfg" "$logf"
        pid=$SLUICE_PID
    done
    wait_for -p "$pid" 120 inc_copies_done "$logf" || fail "the requested incremental snapshot did not complete: $(tail -3 "$logf")"
    rounds_stop "$W/incr.writing" "$writer" || true
    catch_up_and_stop "$slot" "$pid" 120
    grep -E 'asks for a snapshot|incremental snapshot .*complete' "$logf" >&2
    ! grep -q 'exported a new snapshot\|copying the requested tables' "$logf" ||
        fail "the requested tables were copied by the export method"
    log "sluice was killed $((k - 1)) time(s) during the copy"
    # Where each session found the copy (the kills landed between committed chunks).
    grep 'copying while streaming' "$logf" | sed 's/.*copying while streaming: //' | cut -c1-160 >&2 || true
    local resumed
    resumed="$(grep -c 'copying while streaming: .* after [0-9]* chunk' "$logf" || true)"
    [ "$resumed" -ge 1 ] || fail "no session resumed the copy after a committed chunk: no kill landed mid-copy"
    "$REPO/build/tools/consume" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$prefix" >"$W/incr_$1.consumed" ||
        fail "consume failed"
    local requests
    requests="$(grep '^message ' "$W/incr_$1.consumed" | grep -c 'sluice.snapshot' || true)"
    log "the request in Kafka's message topic: $requests time(s)"
    [ "$requests" = 1 ] || fail "the request is in Kafka $requests times, want once"
    inc_check "$prefix" "$slot"
    drop_slot "$slot"
}

test_incremental_request_by_message_kill9_exactly_once() {
    inc_request_kill9 message
}

test_incremental_request_by_command_kill9_exactly_once() {
    inc_request_kill9 command
}

# Issue 15 point 3: a table added to the publication while streaming is copied
# incrementally on request, and a request while an incremental copy is in
# flight queues behind it. inc_first (IT_INC_LATE_ROWS rows) is being copied
# at start (snapshot.mode = initial) when inc_late joins the publication,
# changes and is requested; both copies complete, inc_late's after
# inc_first's, and both tables rebuilt from Kafka equal PostgreSQL.
test_incremental_request_for_added_table_while_copying() {
    local slot=it_incl prefix=itincl cfg="$W/incl.conf" logf="$W/incl.log" rows="${IT_INC_LATE_ROWS:-60000}"
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_incl" \
        -c "DROP TABLE IF EXISTS inc_first, inc_late, inc_first_copy, inc_late_copy" \
        -c "CREATE TABLE inc_first (id int PRIMARY KEY, v text)" \
        -c "CREATE TABLE inc_late (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO inc_first SELECT g, 'first ' || g FROM generate_series(1, $rows) g" \
        -c "INSERT INTO inc_late SELECT g, 'before ' || g FROM generate_series(1, 3000) g" \
        -c "CREATE PUBLICATION it_incl FOR TABLE inc_first" \
        -c "GRANT SELECT ON inc_first, inc_late TO sluice"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_incl" "snapshot.mode = initial" \
        "snapshot.method = incremental" "snapshot.chunk.rows = 200" "commit.interval.ms = 50"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'streaming from slot' 60 "$pid" || fail "sluice did not start streaming"
    # Added later: its changes stream from here on, its older rows only by request.
    pg_psql -q -c "ALTER PUBLICATION it_incl ADD TABLE inc_late" \
        -c "UPDATE inc_late SET v = 'updated' WHERE id <= 10" -c "DELETE FROM inc_late WHERE id BETWEEN 11 AND 20"
    inc_copies_done "$logf" && fail "inc_first's copy was over before the request: raise IT_INC_LATE_ROWS"
    pg_psql -q -c "SELECT pg_logical_emit_message(true, 'sluice.snapshot', 'inc_late')" >/dev/null
    pg_psql -q -c "UPDATE inc_late SET v = 'after request' WHERE id BETWEEN 21 AND 30" \
        -c "INSERT INTO inc_late VALUES (5000, 'new')" -c "UPDATE inc_first SET v = 'x' WHERE id % 1000 = 0"
    wait_log "$logf" 'incremental snapshot of "public.inc_late" complete' 120 "$pid" ||
        fail "the requested table was not copied incrementally: $(grep -E 'snapshot' "$logf" | tail -3)"
    pg_psql -q -c "DELETE FROM inc_late WHERE id BETWEEN 31 AND 40" -c "UPDATE inc_late SET v = 'last' WHERE id = 41"
    catch_up_and_stop "$slot" "$pid" 60
    grep -E 'asks for a snapshot|incremental snapshot .*complete' "$logf" >&2
    ! grep -q 'exported a new snapshot\|copying the requested tables' "$logf" ||
        fail "the requested table was copied by the export method"
    local first late
    first="$(grep -n 'incremental snapshot of "public.inc_first" complete' "$logf" | head -1 | cut -d: -f1)"
    late="$(grep -n 'incremental snapshot of "public.inc_late" complete' "$logf" | head -1 | cut -d: -f1)"
    [ -n "$first" ] && [ "$first" -lt "$late" ] || fail "inc_late was not copied after inc_first (queued)"
    local ok=0
    verify_check "$prefix" "$slot" --tables inc_first,inc_late --incremental --no-compare || ok=1
    apply_check inc_first "$prefix" --key id || ok=1
    apply_check inc_late "$prefix" --key id || ok=1
    [ "$ok" -eq 0 ] || fail "a table rebuilt from Kafka differs from PostgreSQL, or verify found violations"
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_incl" -c "DROP TABLE inc_first, inc_late"
}

# A request for a table without a key under snapshot.method = incremental is
# refused with an error naming the table and the fix — by `sluice snapshot`
# (exit 5, nothing written) and, for a (non-transactional) message written by
# hand, in the log —
# while the stream goes on; the keyed table of the same request is copied.
test_incremental_request_refuses_table_without_key() {
    local slot=it_incn prefix=itincn cfg="$W/incn.conf" logf="$W/incn.log" rc=0
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_incn" \
        -c "DROP TABLE IF EXISTS incn_keyed, incn_nokey, incn_keyed_copy" \
        -c "CREATE TABLE incn_keyed (id int PRIMARY KEY, v int)" -c "CREATE TABLE incn_nokey (v int)" \
        -c "INSERT INTO incn_keyed SELECT g, g FROM generate_series(1, 500) g" -c "INSERT INTO incn_nokey VALUES (1)" \
        -c "CREATE PUBLICATION it_incn FOR TABLE incn_keyed, incn_nokey WITH (publish = 'insert, truncate')" \
        -c "GRANT SELECT ON incn_keyed, incn_nokey TO sluice"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_incn" "snapshot.mode = never" \
        "snapshot.method = incremental"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'streaming from slot' 60 "$pid" || fail "sluice did not start streaming"
    "$SLUICE" snapshot -c "$cfg" incn_nokey >"$W/incn.out" 2>&1 || rc=$?
    cat "$W/incn.out" >&2
    [ "$rc" -eq 5 ] || fail "sluice snapshot of a table without a key exited $rc, want 5"
    grep -q '"public.incn_nokey" has neither a primary key nor a replica identity index.*snapshot.method = export' "$W/incn.out" ||
        fail "the command's error does not name the table and the fix"
    # Non-transactional this time: recorded with the Kafka transaction the message is written in.
    pg_psql -q -c "SELECT pg_logical_emit_message(false, 'sluice.snapshot', 'incn_nokey, incn_keyed')" >/dev/null
    wait_log "$logf" 'incremental snapshot of "public.incn_keyed" complete' 60 "$pid" ||
        fail "the keyed table of the request was not copied"
    grep -q 'ERROR.*snapshot of "public.incn_nokey" refused.*Add a primary key.*snapshot.method = export' "$logf" ||
        fail "no logged error naming the table and the fix: $(grep incn_nokey "$logf")"
    pg_psql -q -c "INSERT INTO incn_keyed VALUES (1000, 1)"
    catch_up_and_stop "$slot" "$pid" 60
    grep -E 'incn_nokey|incn_keyed' "$logf" >&2
    apply_check incn_keyed "$prefix" --key id || fail "incn_keyed rebuilt from Kafka differs from PostgreSQL"
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_incn" -c "DROP TABLE incn_keyed, incn_nokey"
}

# A table dropped and created again under its name while its incremental copy
# is owed: the checkpoint records chunks of the old table (its OID); the next
# session finds that OID gone and the name published with another, and copies
# the new table from its first row (before, it marked the table done and the
# new table's rows were never copied). The new table holds every key the old
# one had, so its copy overwrites each key the old chunks wrote, and the table
# rebuilt from Kafka must equal the new one.
test_incremental_table_recreated_while_owed() {
    # 60,000 rows in chunks of 50: the copy takes seconds, so the stop lands inside it.
    local slot=it_incx prefix=itincx cfg="$W/incx.conf" logf="$W/incx.log" rows=60000
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_incx" -c "DROP TABLE IF EXISTS inc_x, inc_x_copy" \
        -c "CREATE TABLE inc_x (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO inc_x SELECT g, 'old ' || g FROM generate_series(1, $rows) g" \
        -c "CREATE PUBLICATION it_incx FOR TABLE inc_x" -c "GRANT SELECT ON inc_x TO sluice"
    # log.level = debug: a line per chunk emitted, to stop after the first.
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_incx" "snapshot.mode = initial" \
        "snapshot.method = incremental" "snapshot.chunk.rows = 50" "commit.interval.ms = 50" \
        "log.level = debug"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    # A Kafka commit after a chunk: the checkpoint names committed chunks of the old table
    # (a stop inside the watermark's source transaction would abort it).
    wait_for -p "$pid" 60 inc_chunk_committed "$logf" || fail "no chunk of inc_x was committed"
    sluice_stop "$pid" || fail "sluice did not stop cleanly: $(tail -3 "$logf")"
    inc_copies_done "$logf" && fail "the copy of inc_x was over before the stop"
    pg_psql -q -c "DROP TABLE inc_x" -c "CREATE TABLE inc_x (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO inc_x SELECT g, 'new ' || g FROM generate_series(1, $rows) g" \
        -c "ALTER PUBLICATION it_incx ADD TABLE inc_x" -c "GRANT SELECT ON inc_x TO sluice"
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    # (Before: 'is not in publication "it_incx" (any more): not copied'.)
    wait_log "$logf" 'incremental snapshot complete|"public.inc_x" .* is not in publication' 120 "$pid" ||
        fail "the copy did not complete: $(grep -E 'inc_x' "$logf" | grep -v DEBUG | tail -3)"
    grep -Eq 'copying while streaming: "public.inc_x" after [1-9][0-9]* chunk' "$logf" ||
        fail "the second session did not resume inc_x after committed chunks: $(grep -v DEBUG "$logf" | tail -12)"
    grep -q '"public.inc_x" is a new table' "$logf" ||
        fail "sluice did not see that inc_x is a new table: $(grep -E 'inc_x' "$logf" | grep -v DEBUG | tail -1)"
    wait_log "$logf" 'incremental snapshot complete' 120 "$pid" || fail "the copy of the new inc_x did not complete"
    catch_up_and_stop "$slot" "$pid" 60
    apply_check inc_x "$prefix" --key id || fail "inc_x rebuilt from Kafka differs from the new table"
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_incx" -c "DROP TABLE inc_x"
}

# A transaction sluice has already emitted that a chunk's SELECT cannot see
# yet: its commit is in the WAL, decoded, in Kafka, but it still waits for a
# synchronous standby (one that never comes), so every snapshot lists it in
# progress. The chunk's copy holds the rows as they were before it and,
# emitted at the high watermark after the transaction's change events, would
# undo them for every consumer. The ring of emitted xids makes sluice read the
# chunk again until the transaction is visible.
inch_release() {
    PGOPTIONS="-c synchronous_commit=local" pg_psql -q -c "ALTER SYSTEM RESET synchronous_standby_names" \
        -c "SELECT pg_reload_conf()" -c "ALTER ROLE sluice RESET synchronous_commit" >/dev/null
}
inch_waiting() {
    [ "$(pg_psql -Atc "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")" -gt 0 ]
}
test_incremental_chunk_read_again_while_an_emitted_transaction_is_invisible() {
    local slot=it_inch prefix=itinch cfg="$W/inch.conf" logf="$W/inch.log" lsn
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_inch" -c "DROP TABLE IF EXISTS inc_h, inc_h_copy" \
        -c "CREATE TABLE inc_h (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO inc_h SELECT g, 'before ' || g FROM generate_series(1, 1000) g" \
        -c "CREATE PUBLICATION it_inch FOR TABLE inc_h" -c "GRANT SELECT ON inc_h TO sluice"
    # sluice's own commits (watermarks, the request) must not wait for the standby.
    pg_psql -q -c "ALTER ROLE sluice SET synchronous_commit = local"
    trap inch_release EXIT
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_inch" "snapshot.method = incremental" \
        "snapshot.chunk.rows = 5000" "commit.interval.ms = 50"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'streaming from slot' 60 "$pid" || fail "sluice did not start streaming"
    pg_psql -q -c "ALTER SYSTEM SET synchronous_standby_names = 'it_no_such_standby'" -c "SELECT pg_reload_conf()" >/dev/null
    pg_psql -q -c "UPDATE inc_h SET v = 'after ' || id" &
    local upd=$!
    wait_for 30 inch_waiting || fail "the UPDATE does not wait for the standby"
    lsn="$(pg_psql -Atc "SELECT pg_current_wal_lsn()")"
    # Its 1,000 change events are in Kafka once the slot has confirmed past its commit.
    wait_for -p "$pid" 60 slot_confirmed_past "$slot" "$lsn" || fail "sluice did not emit the waiting UPDATE"
    [ "$(pg_psql -Atc "SELECT count(*) FROM inc_h WHERE v LIKE 'after%'")" = 0 ] ||
        fail "the UPDATE is visible already: nothing to test"
    "$SLUICE" snapshot -c "$cfg" inc_h >&2 || fail "sluice snapshot inc_h failed"
    wait_log "$logf" 'was not yet visible to its SELECT; reading the chunk again' 60 "$pid" ||
        fail "the chunk was not read again: $(grep -E 'inc_h|chunk' "$logf" | tail -5)"
    inch_release
    wait "$upd" || fail "the UPDATE failed"
    wait_log "$logf" 'incremental snapshot complete' 60 "$pid" || fail "the copy of inc_h did not complete"
    catch_up_and_stop "$slot" "$pid" 60
    apply_check inc_h "$prefix" --key id || fail "inc_h rebuilt from Kafka differs from PostgreSQL"
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_inch" -c "DROP TABLE inc_h"
}
