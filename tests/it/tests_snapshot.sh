# shellcheck shell=bash
# Initial snapshot tests (issue 3; sourced by run.sh). Sizes: IT_SNAP_ROWS (50000).

# snap_setup ROWS: tables snap_a (bigint key, text with tabs, newlines and
# backslashes, numeric, timestamptz, jsonb, bytea, arrays, NULLs), snap_b (int
# key, float, date, interval), snap_c (text key, REPLICA IDENTITY FULL) and
# snap_p (partitioned, published through its root) in publication it_snap,
# holding ROWS rows together, before any slot exists.
snap_setup() {
    local rows="$1"
    local a=$((rows * 6 / 10)) b=$((rows * 25 / 100)) c=$((rows / 10)) p=$((rows * 5 / 100))
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_snap" \
        -c "DROP TABLE IF EXISTS snap_a, snap_b, snap_c, snap_p, snap_a_copy, snap_b_copy, snap_c_copy, snap_p_copy" \
        -c "DROP SEQUENCE IF EXISTS snap_new" -c "CREATE SEQUENCE snap_new START 100000000" \
        -c "CREATE TABLE snap_a (id bigint PRIMARY KEY, name text, amount numeric(14,2), at timestamptz,
                                 doc jsonb, raw bytea, note text, tags text[])" \
        -c "CREATE TABLE snap_b (id int PRIMARY KEY, v double precision, d date, iv interval, ok bool)" \
        -c "CREATE TABLE snap_c (k text PRIMARY KEY, n int, txt text)" \
        -c "ALTER TABLE snap_c REPLICA IDENTITY FULL" \
        -c "CREATE TABLE snap_p (id int PRIMARY KEY, v text) PARTITION BY RANGE (id)" \
        -c "CREATE TABLE snap_p1 PARTITION OF snap_p FOR VALUES FROM (MINVALUE) TO (100000)" \
        -c "CREATE TABLE snap_p2 PARTITION OF snap_p FOR VALUES FROM (100000) TO (MAXVALUE)" \
        -c "INSERT INTO snap_a SELECT g, 'name ' || g, g * 1.25, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute',
                   jsonb_build_object('g', g, 's', 'x\"y'), decode(md5(g::text), 'hex'),
                   CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN E'tab\there\nnew line \\\\ back' ELSE 'plain ' || g END,
                   CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY['a' || g, NULL, 'q\"t'] END
              FROM generate_series(1, $a) g" \
        -c "INSERT INTO snap_b SELECT g, g / 3.0, date '2000-01-01' + g % 9000, g * interval '1 second', g % 2 = 0
              FROM generate_series(1, $b) g" \
        -c "INSERT INTO snap_c SELECT 'k' || g, g, repeat('c', g % 50) FROM generate_series(1, $c) g" \
        -c "INSERT INTO snap_p SELECT g * 40, 'p' || g FROM generate_series(1, $p) g" \
        -c "CREATE PUBLICATION it_snap FOR TABLE snap_a, snap_b, snap_c, snap_p WITH (publish_via_partition_root = true)" \
        -c "GRANT SELECT ON snap_a, snap_b, snap_c, snap_p TO sluice" \
        -c "ANALYZE snap_a, snap_b, snap_c, snap_p"
}

# snap_write_round ROWS I: round I of the snap_ tables' writer (the tables
# hold ROWS rows): updates, an insert, a delete and a key change in small
# transactions.
snap_write_round() {
    local rows="$1" i="$2"
    pg_psql -q -c "BEGIN; UPDATE snap_a SET amount = amount + 1, note = coalesce(note, '') || E'\\t+' WHERE id = $(((i * 7919) % (rows * 6 / 10) + 1));
                     DELETE FROM snap_b WHERE id = $(((i * 104729) % (rows / 4) + 1));
                     INSERT INTO snap_a (id, name, amount, at) VALUES (nextval('snap_new'), 'new $i', $i.5, now()); COMMIT;" \
        -c "UPDATE snap_c SET n = n + 1, txt = txt || 'u' WHERE k = 'k$(((i * 31) % (rows / 10) + 1))'" \
        -c "UPDATE snap_a SET id = -id WHERE id = $(((i * 613) % (rows * 6 / 10) + 1))" \
        -c "INSERT INTO snap_p VALUES ($((i * 40 + 7)), 'w$i') ON CONFLICT (id) DO UPDATE SET v = excluded.v || '!'" \
        -c "UPDATE snap_b SET v = v * 2, iv = iv + interval '1 day' WHERE id = $(((i * 13) % (rows / 4) + 1))" \
        >/dev/null 2>&1
}

# snap_writer FLAG ROWS FIRST: writes to every snap_ table (snap_write_round
# FIRST+1, FIRST+2, …) in the background until rounds_stop FLAG; sets WRITER_PID.
snap_writer() {
    rounds_start "$1" "$3" snap_write_round "$2"
    WRITER_PID=$ROUNDS_PID
}

# The rows the writer inserted so far.
snap_written() {
    pg_psql -Atc "SELECT count(*) FROM snap_a WHERE name LIKE 'new %'"
}

# True once the writer has inserted N rows.
snap_written_reached() {
    [ "$(snap_written)" -ge "$1" ]
}

# snap_writes_go_on N: until the writer has inserted N more rows (60 s), e.g.
# after the snapshot, so that the stream carries writes too.
snap_writes_go_on() {
    local before
    before="$(snap_written)"
    wait_for 60 snap_written_reached $((before + $1)) || {
        fail "the writer inserted nothing for 60 s"
        return 1
    }
}

# snap_check PREFIX SLOT: verify (V1–V7 with the snapshot rules)
# and, per table, a consumer rebuilding it from Kafka whose md5 must equal PostgreSQL's.
snap_check() {
    rebuilt_check "$1" "$2" --snapshot snap_a:id snap_b:id snap_c:k snap_p:id
}

snap_teardown() {
    drop_slot "$1"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_snap" \
        -c "DROP TABLE IF EXISTS snap_a, snap_b, snap_c, snap_p, snap_a_copy, snap_b_copy, snap_c_copy, snap_p_copy"
}

# Issue 3 acceptance 1: a database holding rows over several tables, written to
# concurrently while the snapshot runs; a consumer that applies the snapshot
# and then the stream ends with tables equal to the source (md5 over every
# row), and no row is missed or doubled at the hand-off (V7).
test_snapshot_then_stream_equal_under_writes() {
    local slot=it_snap prefix=itsnap cfg="$W/snap.conf" logf="$W/snap.log" rows="${IT_SNAP_ROWS:-50000}"
    drop_slot "$slot"
    snap_setup "$rows"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" "snapshot.mode = initial" \
        "snapshot.workers = 3" "snapshot.chunk.size = 256kB" "snapshot.commit.interval.ms = 200" \
        "snapshot.progress.interval.ms = 100"
    snap_writer "$W/snap.writing" "$rows" 0
    local writer=$WRITER_PID
    snap_writes_go_on 1 # writing before sluice starts
    local before_rows
    before_rows="$(pg_psql -Atc "SELECT (SELECT count(*) FROM snap_a) + (SELECT count(*) FROM snap_b) + (SELECT count(*) FROM snap_c) + (SELECT count(*) FROM snap_p)")"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'snapshot 1 complete' 300 "$pid" || fail "the snapshot did not complete"
    snap_writes_go_on 10 # into the stream
    rounds_stop "$W/snap.writing" "$writer" || true
    catch_up_and_stop "$slot" "$pid" 120
    grep -E 'snapshot (1 at|of|1 complete)' "$logf" | head -12 >&2
    local written
    written="$(snap_written)"
    log "snapshot: ~$before_rows rows when sluice started, $written rows inserted by the concurrent writer"
    [ "$written" -ge 20 ] || fail "the concurrent writer wrote only $written rows"
    grep -Eq 'copying 4 tables' "$logf" || fail "the snapshot did not copy the 4 tables"
    # The 4 topics are created in one request, then settle once (500 ms): created one by
    # one, each would wait its own settle, and the 4 lines would span 1.5 s or more.
    topics_created_at_once "$logf" "$prefix.public.snap_[abcp]" 4
    grep -Eq 'snapshot of "public.snap_a": [0-9]+ of ~[0-9]+ rows .*rows/s, time left' "$logf" ||
        fail "no progress line (rows, rate, time left) in the log"
    snap_check "$prefix" "$slot"
    grep -q ' 1 marked "last"' "$W/$prefix.verify" || fail "not exactly one snapshot row marked \"last\""
    # Debezium 3.x's markers: one "first", one "last", and each table's first and last row
    # marked (first_in_data_collection / last_in_data_collection) while 3 workers copy the
    # tables' chunks in parallel; verify checks their order in every partition.
    grep -q 'snapshot markers: 1 "first", 1 "last"; 4 of 4 tables with one first and one last' \
        "$W/$prefix.verify" || fail "snapshot markers: $(grep 'snapshot markers' "$W/$prefix.verify")"
    snap_teardown "$slot"
}

# Issue 3 acceptance 2: kill -9 during the snapshot, twice (once mid-copy,
# once mid-copy of the resumed snapshot), with writes and a TRUNCATE while
# sluice is down. The documented behaviour: tables complete in Kafka are not
# copied again; a table cut off mid-copy is reset (truncate event) and copied
# again in a new snapshot; the stream resumes before that snapshot and leaves
# out the changes it already shows. Final state equal, no gap, no overlap;
# a later restart never snapshots again.
test_snapshot_kill9_resumes_exactly() {
    local slot=it_snapk prefix=itsnapk cfg="$W/snapk.conf" logf="$W/snapk.log" rows="${IT_SNAP_ROWS:-50000}"
    drop_slot "$slot"
    snap_setup "$rows"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" "snapshot.mode = initial" \
        "snapshot.workers = 2" "snapshot.chunk.size = 128kB" "snapshot.commit.interval.ms = 50" \
        "commit.max.bytes = 200000"
    snap_writer "$W/snapk.writing" "$rows" 1000
    local writer=$WRITER_PID
    local rc=0 pid
    # 1: killed just after the first Kafka commit that holds a complete table.
    SLUICE_CRASH_AT="snapshot_table_committed:1" sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait "$pid" || rc=$?
    [ "$rc" -eq 137 ] || fail "first run exited $rc, want 137 (killed at the crash point)"
    # While sluice is down: writes go on, and snap_c is truncated and refilled.
    pg_psql -q -c "TRUNCATE snap_c" -c "INSERT INTO snap_c SELECT 'k' || g, -g, 'after truncate' FROM generate_series(1, 500) g"
    snap_writes_go_on 5
    # 2: the resumed snapshot is killed too, after 5% of the rows.
    rc=0
    SLUICE_CRASH_AT="snapshot_row:$((rows / 20))" sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait "$pid" || rc=$?
    [ "$rc" -eq 137 ] || fail "second run exited $rc, want 137"
    grep -q 'resuming the interrupted snapshot' "$logf" || fail "the second run did not resume the snapshot"
    # 3: runs to the end.
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    wait_log "$logf" 'snapshot [0-9]+ complete' 300 "$pid" || fail "the resumed snapshot did not complete"
    snap_writes_go_on 10 # into the stream
    rounds_stop "$W/snapk.writing" "$writer" || true
    catch_up_and_stop "$slot" "$pid" 120
    grep -E 'snapshot [0-9]+ at|copied again|complete before|resuming|exported a new' "$logf" >&2
    grep -q 'is copied again: a truncate event' "$logf" || fail "no table was reset and copied again"
    grep -Eq 'snapshot 2 at .*; [1-9][0-9]* tables complete before' "$logf" ||
        fail "the resumed snapshot copied again tables that were complete"
    snap_check "$prefix" "$slot"
    # A checkpoint that says "done" is never snapshotted again.
    local n_before n_after
    n_before="$(grep -c 'snapshot [0-9]* at' "$logf")"
    sluice_start "$cfg" "$logf"
    pid=$SLUICE_PID
    pg_psql -q -c "UPDATE snap_b SET ok = NOT ok WHERE id % 100 = 1"
    catch_up_and_stop "$slot" "$pid" 60
    n_after="$(grep -c 'snapshot [0-9]* at' "$logf")"
    [ "$n_before" = "$n_after" ] || fail "a restart after a complete snapshot snapshotted again"
    snap_check "$prefix" "$slot"
    snap_teardown "$slot"
}

# snap_late_create ROWS: snap_late, not yet published, with ROWS rows from before.
snap_late_create() {
    pg_psql -q -c "DROP TABLE IF EXISTS snap_late, snap_late_copy" \
        -c "CREATE TABLE snap_late (id int PRIMARY KEY, v text)" \
        -c "INSERT INTO snap_late SELECT g, 'before ' || g FROM generate_series(1, $1) g" \
        -c "GRANT SELECT ON snap_late TO sluice"
}

# A table added to the publication later is snapshotted on request while the
# stream goes on: a "sluice.snapshot" logical message names it.
test_snapshot_on_request_for_added_table() {
    local slot=it_snapr prefix=itsnapr cfg="$W/snapr.conf" logf="$W/snapr.log"
    drop_slot "$slot"
    snap_setup 5000
    snap_late_create 3000
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" "snapshot.mode = initial"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'snapshot 1 complete' 120 "$pid" || fail "the initial snapshot did not complete"
    # Added later: its changes stream from here on, its older rows only by request.
    pg_psql -q -c "ALTER PUBLICATION it_snap ADD TABLE snap_late" \
        -c "UPDATE snap_late SET v = 'updated' WHERE id <= 10" -c "DELETE FROM snap_late WHERE id BETWEEN 11 AND 20"
    pg_psql -q -c "SELECT pg_logical_emit_message(true, 'sluice.snapshot', 'public.snap_late')" >/dev/null
    pg_psql -q -c "UPDATE snap_late SET v = 'after request' WHERE id BETWEEN 21 AND 30" \
        -c "INSERT INTO snap_late VALUES (5000, 'new')" -c "UPDATE snap_a SET name = 'x' WHERE id < 5"
    wait_log "$logf" 'snapshot 2 complete' 120 "$pid" || fail "the requested snapshot did not complete"
    pg_psql -q -c "DELETE FROM snap_late WHERE id BETWEEN 31 AND 40" -c "UPDATE snap_late SET v = 'last' WHERE id = 41"
    catch_up_and_stop "$slot" "$pid" 60
    grep -E 'asks for a snapshot|snapshot 2 at|snap_late' "$logf" >&2
    grep -q 'copying 1 tables' "$logf" || fail "the request did not copy just the one table"
    apply_check snap_late "$prefix" --key id || fail "snap_late rebuilt from Kafka differs"
    verify_check "$prefix" "$slot" --tables snap_a,snap_late --no-compare || fail "verify found violations"
    snap_teardown "$slot"
    pg_psql -q -c "DROP TABLE IF EXISTS snap_late, snap_late_copy"
}

# The same request with skipped.operations = t (a consumer that cannot apply
# a truncate: Flink's debezium-json stops its job at one): the copy comes
# without its reset truncate, and a consumer applying upserts ends equal.
test_snapshot_on_request_with_skipped_truncates() {
    local slot=it_snaprt prefix=itsnaprt cfg="$W/snaprt.conf" logf="$W/snaprt.log"
    drop_slot "$slot"
    snap_setup 500
    snap_late_create 300
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snap" "snapshot.mode = initial" \
        "skipped.operations = t"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'snapshot 1 complete' 120 "$pid" || fail "the initial snapshot did not complete"
    pg_psql -q -c "ALTER PUBLICATION it_snap ADD TABLE snap_late" \
        -c "UPDATE snap_late SET v = 'updated' WHERE id <= 10" -c "DELETE FROM snap_late WHERE id BETWEEN 11 AND 20"
    pg_psql -q -c "SELECT pg_logical_emit_message(true, 'sluice.snapshot', 'public.snap_late')" >/dev/null
    wait_log "$logf" 'snapshot 2 complete' 120 "$pid" || fail "the requested snapshot did not complete"
    pg_psql -q -c "DELETE FROM snap_late WHERE id BETWEEN 31 AND 40" -c "UPDATE snap_late SET v = 'last' WHERE id = 41"
    catch_up_and_stop "$slot" "$pid" 60
    local events
    events="$(kcat -b "$KAFKA_BOOTSTRAP" -C -t "$prefix.public.snap_late" -e -q -X isolation.level=read_committed)"
    [ -n "$events" ] || fail "no events in $prefix.public.snap_late"
    if grep -q '"op":"t"' <<<"$events"; then
        fail "a truncate event reached the topic although skipped.operations has t"
    fi
    log_has "$logf" 'skipped.operations has t, so no truncate event resets it' ||
        fail "the log does not say that the copy comes without its reset"
    apply_check snap_late "$prefix" --key id || fail "snap_late rebuilt from Kafka differs"
    snap_teardown "$slot"
    pg_psql -q -c "DROP TABLE IF EXISTS snap_late, snap_late_copy"
}

# A non-transactional message is decoded (and sent) on its own, ahead of the
# transaction whose commit record follows it in WAL. The checkpoint such a
# message advances must end at the message's LSN (the end of its record, where
# the next record starts): one byte further, and a restart from the checkpoint
# makes PostgreSQL skip a transaction committing right there. A snapshot
# request written inside a transaction forces that restart every time.
test_nontransactional_message_then_commit_not_skipped() {
    local slot=it_ntm prefix=itntm cfg="$W/ntm.conf" logf="$W/ntm.log" rc=0 i out="$W/ntm.out"
    fresh_tables
    pg_psql -q -c "GRANT SELECT ON wl_c TO sluice"
    drop_slot "$slot"
    sluice_config "$cfg" "$slot" "$prefix"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    for i in 1 2 3; do
        # One round trip, so that no other WAL record comes between the message and the commit.
        pg_psql -q -c "BEGIN; INSERT INTO wl_a VALUES ($i, 'next to a request', $i);
            SELECT pg_logical_emit_message(false, 'sluice.snapshot', 'public.wl_c'); COMMIT;" >/dev/null
        wait_log "$logf" "snapshot $i complete" 60 "$pid" || fail "requested snapshot $i did not complete"
    done
    catch_up_and_stop "$slot" "$pid" 60
    "$REPO/build/tools/consume" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$prefix" >"$out" || fail "consume failed"
    local got
    got="$(grep -c '^public.wl_a key=.*"op":"c"' "$out" || true)"
    log "wl_a insert events in Kafka: $got of 3 ($(grep -c 'asks for a snapshot' "$logf") requests logged)"
    [ "$got" = 3 ] || fail "a transaction committed right after a non-transactional message was lost: $(grep wl_a "$out" | cut -c1-160)"
    drop_slot "$slot"
}

# Without SELECT on a published table the snapshot cannot read it: a clear
# message and exit 5 (PostgreSQL not set up), not a retry loop.
test_snapshot_without_select_privilege_exits_5() {
    local slot=it_snapp prefix=itsnapp cfg="$W/snapp.conf" logf="$W/snapp.log" rc=0
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_snapp" -c "DROP TABLE IF EXISTS snap_priv" \
        -c "CREATE TABLE snap_priv (id int PRIMARY KEY)" -c "INSERT INTO snap_priv VALUES (1)" \
        -c "CREATE PUBLICATION it_snapp FOR TABLE snap_priv"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = it_snapp" "snapshot.mode = initial"
    timeout 60 "$SLUICE" run -c "$cfg" >"$logf" 2>&1 || rc=$?
    [ "$rc" -eq 5 ] || fail "sluice exited $rc without SELECT on a published table, want 5: $(tail -3 "$logf")"
    grep -q 'permission denied for table snap_priv.*needs SELECT' "$logf" || fail "no clear message: $(tail -3 "$logf")"
    drop_slot "$slot"
    pg_psql -q -c "DROP PUBLICATION it_snapp" -c "DROP TABLE snap_priv"
}
