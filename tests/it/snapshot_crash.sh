#!/usr/bin/env bash
# The incremental snapshot under kill -9 (issue 15, acceptance 1 and 2; make
# snapshot-crash, not in CI). sluice copies SNAPCRASH_ROWS rows over four
# tables with snapshot.method = incremental while SNAPCRASH_WRITERS writers
# keep changing rows of those tables, mostly inside the window of the chunk
# being copied and around it, and is killed -9 SNAPCRASH_KILLS times at random
# moments spread over the copy. Then:
#
#   - every table rebuilt from Kafka (tests/tools/apply) equals PostgreSQL
#     (md5 over every row);
#   - the verifier: no key read ("r") twice by the snapshot (V8: no committed
#     chunk emitted again), every writer transaction exactly once and whole
#     (V1-V5, against the writers' ledger), the slot never ahead of a
#     committed checkpoint (V6, sampled every 100 ms throughout);
#   - during the copy, sampled every 200 ms (less often under load): the
#     slot's confirmed_flush_lsn keeps advancing (distinct values, the longest
#     time without a move) and the WAL it retains (pg_current_wal_lsn() -
#     restart_lsn) stays bounded (median, max, how old the oldest retained WAL
#     is, next to all the WAL written during the copy); the oldest open
#     transaction of sluice's connections (polled every 5 ms on the server)
#     against a chunk's duration (from one chunk's SELECT to the next).
#
# The tables (default replica identity unless said):
#   sc_docs   bigint key; a TOASTed text (every 10th row) and a TOASTed bytea
#             (every 10th row, offset 5), both STORAGE EXTERNAL, so updates
#             that leave them alone send PostgreSQL's unchanged-TOAST value
#   sc_events int key
#   sc_tags   text key, REPLICA IDENTITY FULL
#   sc_lines  two-column key (order_id, line), a TOASTed bytea on some rows
#
# The writers (procedure sc_round, one transaction per change, each recorded
# in the unpublished ledger sc_ledger for V1/V2) update rows leaving their
# TOAST values unchanged, change those values, delete and re-insert rows, and
# change keys: to before every chunk (-id), past the end, onto a key just
# freed nearby (a delete, then another row moved there), and within the key
# range of the chunk (sc_tags' k -> k || 'z', sc_lines' line -> line +
# 100000). Each change waits (up to 20 ms) for sluice's chunk transaction to
# be open, so that it commits inside a chunk's window; three in four change
# the table being copied, mostly in the three chunks after the last chunk
# start sluice logged ("chunk N of T: R rows after key K", debug level),
# which is copied into sc_frontier every 200 ms.
#
#   tests/it/snapshot_crash.sh   SNAPCRASH_ROWS (1000000) SNAPCRASH_KILLS (20)
#                                SNAPCRASH_CHUNK (2000) SNAPCRASH_SEED (15)
#                                SNAPCRASH_WRITERS (3 concurrent writers)
#                                SLUICE_BIN (a mutant build to see it fail)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/lib.sh"
. "$HERE/tests_incremental.sh" # inc_run_streams, inc_copies_done

ROWS="${SNAPCRASH_ROWS:-1000000}"
KILLS="${SNAPCRASH_KILLS:-20}"
CHUNK="${SNAPCRASH_CHUNK:-2000}"
SEED="${SNAPCRASH_SEED:-15}"
WRITERS="${SNAPCRASH_WRITERS:-3}"
SLOT=snapcrash
PREFIX=snapcrash
TABLES="sc_docs sc_events sc_tags sc_lines"

harness_build all || exit 1
harness_env_start snapcrash 1 || exit 1

# sc_setup: the four tables (ROWS rows: 25 %, 35 %, 15 %, 25 %), the ledger,
# the frontier, the writer's procedure, publication snapcrash.
sc_setup() {
    local nd=$((ROWS / 4)) ne=$((ROWS * 35 / 100)) nt=$((ROWS * 15 / 100)) nl=$((ROWS / 4))
    pg_psql -q -c "DROP PUBLICATION IF EXISTS snapcrash" \
        -c "CREATE TABLE sc_docs (id bigint PRIMARY KEY, n int, title text, body text, img bytea)" \
        -c "ALTER TABLE sc_docs ALTER body SET STORAGE EXTERNAL, ALTER img SET STORAGE EXTERNAL" \
        -c "CREATE TABLE sc_events (id int PRIMARY KEY, v int, d date)" \
        -c "CREATE TABLE sc_tags (k text PRIMARY KEY, n int, txt text)" \
        -c "ALTER TABLE sc_tags REPLICA IDENTITY FULL" \
        -c "CREATE TABLE sc_lines (order_id int, line int, qty int, note text, blob bytea,
                                   PRIMARY KEY (order_id, line))" \
        -c "ALTER TABLE sc_lines ALTER blob SET STORAGE EXTERNAL" \
        -c "CREATE TABLE sc_ledger (xid bigint PRIMARY KEY, changes int NOT NULL, client int)" \
        -c "CREATE TABLE sc_frontier (id int PRIMARY KEY, tbl text, k text)" \
        -c "INSERT INTO sc_frontier VALUES (1, '', '')" \
        -c "INSERT INTO sc_docs SELECT g, 0, 'doc ' || g,
                   CASE WHEN g % 10 = 0 THEN repeat(md5(g::text), 80) ELSE 'short ' || g END,
                   CASE WHEN g % 10 = 5 THEN decode(repeat(md5(g::text), 70), 'hex')
                        ELSE decode(md5(g::text), 'hex') END
              FROM generate_series(1, $nd) g" \
        -c "INSERT INTO sc_events SELECT g, g, date '2000-01-01' + g % 9000 FROM generate_series(1, $ne) g" \
        -c "INSERT INTO sc_tags SELECT 'k' || g, g, repeat('t', g % 40) FROM generate_series(1, $nt) g" \
        -c "INSERT INTO sc_lines SELECT g / 4, g % 4, g % 13, 'note ' || g,
                   CASE WHEN g % 50 = 0 THEN decode(repeat(md5(g::text), 70), 'hex') END
              FROM generate_series(4, $nl + 3) g" \
        -c "CREATE PUBLICATION snapcrash FOR TABLE sc_docs, sc_events, sc_tags, sc_lines" \
        -c "GRANT SELECT ON sc_docs, sc_events, sc_tags, sc_lines TO sluice" \
        -c "ANALYZE sc_docs, sc_events, sc_tags, sc_lines" || return 1
    pg_psql -q <<'SQL' || return 1
-- An integer key near the chunk being copied of table t, when t is the one being
-- copied (start: the start of the chunk sluice logged last, already behind the one
-- in flight): 70 % in [start, start + 3 * chunk], 15 % in [start - chunk, start];
-- else anywhere in [lo, hi].
CREATE FUNCTION sc_near(t text, lo bigint, hi bigint, chunk int) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE f record; at bigint; p float8 := random();
BEGIN
  SELECT fr.tbl, fr.k INTO f FROM sc_frontier fr WHERE fr.id = 1;
  IF f.tbl = t AND p < 0.85 THEN
    at := CASE WHEN f.k ~ '^-?[0-9]+$' THEN f.k::bigint ELSE lo END;
    IF p < 0.7 THEN
      RETURN greatest(lo, least(hi, at + floor(random() * 3 * chunk)::bigint));
    END IF;
    RETURN greatest(lo, least(hi, at - floor(random() * chunk)::bigint));
  END IF;
  RETURN lo + floor(random() * (hi - lo + 1))::bigint;
END $$;

-- The oldest open transaction of sluice's connections, polled every 5 ms until
-- sc_frontier's row 2 says stop: one row a second in sc_xact (the most seen, and
-- by which connection).
CREATE TABLE sc_xact (ts timestamptz, polls int, age float8, app text);
INSERT INTO sc_frontier VALUES (2, 'watch', '');
CREATE PROCEDURE sc_watch()
LANGUAGE plpgsql AS $$
DECLARE a record; worst float8 := 0; who text; polls int := 0; t0 timestamptz := clock_timestamp();
BEGIN
  WHILE (SELECT tbl FROM sc_frontier WHERE id = 2) = 'watch' LOOP
    SELECT extract(epoch FROM clock_timestamp() - xact_start) AS age, application_name INTO a
      FROM pg_stat_activity WHERE application_name LIKE 'sluice%' AND xact_start IS NOT NULL
     ORDER BY xact_start LIMIT 1;
    polls := polls + 1;
    IF a.age > worst THEN worst := a.age; who := a.application_name; END IF;
    IF clock_timestamp() - t0 >= interval '1 s' THEN
      INSERT INTO sc_xact VALUES (clock_timestamp(), polls, worst, who);
      worst := 0; who := NULL; polls := 0; t0 := clock_timestamp();
    END IF;
    COMMIT; -- a new snapshot of pg_stat_activity
    PERFORM pg_sleep(0.005);
  END LOOP;
END $$;

-- A key of sc_tags (text order) near the chunk being copied (as sc_near), else anywhere.
CREATE FUNCTION sc_near_tag(nt int, chunk int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE f record; tag text;
BEGIN
  SELECT fr.tbl, fr.k INTO f FROM sc_frontier fr WHERE fr.id = 1;
  IF f.tbl = 'sc_tags' AND random() < 0.85 THEN
    IF random() < 0.18 THEN
      SELECT sc_tags.k INTO tag FROM sc_tags WHERE sc_tags.k <= f.k ORDER BY sc_tags.k DESC
        OFFSET floor(random() * chunk)::int LIMIT 1;
    ELSE
      SELECT sc_tags.k INTO tag FROM sc_tags WHERE sc_tags.k > f.k ORDER BY sc_tags.k
        OFFSET floor(random() * 3 * chunk)::int LIMIT 1;
    END IF;
    IF tag IS NOT NULL THEN RETURN tag; END IF;
  END IF;
  RETURN 'k' || (1 + floor(random() * nt)::int);
END $$;

-- One round of the writer: 300 changes, each its own transaction, recorded in
-- sc_ledger with the number of rows it changed. Before each, it waits (up to
-- 20 ms) until a chunk transaction of sluice's is open, so that many changes
-- commit inside a chunk's window (after its snapshot, before its high
-- watermark); 75 % of them change the table being copied, near the chunk.
CREATE PROCEDURE sc_round(seed int, nrows int, chunk int)
LANGUAGE plpgsql AS $$
DECLARE
  nd bigint := nrows / 4; ne bigint := nrows * 35 / 100; nt int := nrows * 15 / 100;
  nord bigint := (nrows / 4 + 3) / 4;
  cnt int; ln int; r bigint; r2 bigint; t text; tbl text; p float8;
BEGIN
  PERFORM setseed((seed % 9973) / 9973.0);
  FOR j IN 1..300 LOOP
    FOR w IN 1..20 LOOP
      EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
                         WHERE application_name = 'sluice-incremental' AND xact_start IS NOT NULL);
      PERFORM pg_sleep(0.001);
      COMMIT; -- a new snapshot of pg_stat_activity
    END LOOP;
    SELECT fr.tbl INTO tbl FROM sc_frontier fr WHERE fr.id = 1;
    IF tbl = '' OR random() < 0.25 THEN
      tbl := (ARRAY['sc_docs', 'sc_events', 'sc_tags', 'sc_lines'])[1 + floor(random() * 4)::int];
    END IF;
    p := random();
    cnt := 0;
    IF tbl = 'sc_docs' THEN
      r := sc_near('sc_docs', 1, nd, chunk);
      IF p < 0.45 THEN -- leaves both TOASTed values alone (r: a row that has one)
        UPDATE sc_docs SET n = n + 1, title = 'doc ' || id || ' #' || j WHERE id = r / 5 * 5;
      ELSIF p < 0.55 THEN
        UPDATE sc_docs SET body = body || 'x' WHERE id = r / 10 * 10;
      ELSIF p < 0.65 THEN
        UPDATE sc_docs SET img = img || '\x01'::bytea, n = n + 1 WHERE id = r / 10 * 10 + 5;
      ELSIF p < 0.75 THEN
        DELETE FROM sc_docs WHERE id = r;
      ELSIF p < 0.85 THEN -- re-insert
        INSERT INTO sc_docs VALUES (r, 1, 'again ' || r,
            CASE WHEN r % 10 = 0 THEN repeat(md5(r::text), 80) ELSE 'again' END,
            CASE WHEN r % 10 = 5 THEN decode(repeat(md5(r::text), 70), 'hex') END)
          ON CONFLICT (id) DO UPDATE SET n = sc_docs.n + 1;
      ELSE -- a key change (of a row without a TOASTed value: docs/output.md, a key change
        -- cannot carry an unchanged one): to before every chunk, or past the end
        IF r % 5 = 0 THEN r := r + 1; END IF;
        IF p < 0.92 THEN
          UPDATE sc_docs SET id = -id WHERE id = r AND NOT EXISTS (SELECT 1 FROM sc_docs WHERE id = -r);
        ELSE
          UPDATE sc_docs SET id = id + nrows * 10 WHERE id = r
            AND NOT EXISTS (SELECT 1 FROM sc_docs WHERE id = r + nrows * 10);
        END IF;
      END IF;
    ELSIF tbl = 'sc_events' THEN
      r := sc_near('sc_events', 1, ne, chunk);
      IF p < 0.3 THEN
        UPDATE sc_events SET v = v + 1 WHERE id = r;
      ELSIF p < 0.5 THEN
        DELETE FROM sc_events WHERE id = r;
      ELSIF p < 0.7 THEN
        INSERT INTO sc_events VALUES (r, j, now()::date) ON CONFLICT (id) DO UPDATE SET v = excluded.v + 1;
      ELSE -- key changes: onto a key nearby (freed by a delete), before every chunk, past the end
        r2 := r + 1 + floor(random() * 20)::int;
        IF p < 0.8 THEN
          r := -r2;
        ELSIF p < 0.87 THEN
          r := r2 + nrows * 10;
        END IF;
        UPDATE sc_events SET id = r WHERE id = r2 AND NOT EXISTS (SELECT 1 FROM sc_events WHERE id = r);
      END IF;
    ELSIF tbl = 'sc_tags' THEN -- REPLICA IDENTITY FULL, text key
      t := sc_near_tag(nt, chunk);
      IF p < 0.35 THEN
        UPDATE sc_tags SET n = n + 1, txt = txt || 'u' WHERE k = t;
      ELSIF p < 0.55 THEN
        DELETE FROM sc_tags WHERE k = t;
      ELSIF p < 0.75 THEN
        INSERT INTO sc_tags VALUES (t || 'y', j, 'again') ON CONFLICT (k) DO UPDATE SET n = sc_tags.n + 1;
      ELSE -- a key change to the key right after it
        UPDATE sc_tags SET k = k || 'z' WHERE k = t AND NOT EXISTS (SELECT 1 FROM sc_tags WHERE k = t || 'z');
      END IF;
    ELSE -- sc_lines: a two-column key (order_id, line), a TOASTed blob on some rows
      r := sc_near('sc_lines', 1, nord, chunk / 4);
      ln := floor(random() * 4)::int;
      IF p < 0.35 THEN -- leaves the blob alone
        UPDATE sc_lines SET qty = qty + 1 WHERE order_id = r AND line = ln;
      ELSIF p < 0.55 THEN
        DELETE FROM sc_lines WHERE order_id = r AND line = ln;
      ELSIF p < 0.75 THEN
        INSERT INTO sc_lines VALUES (r, ln, j, 'again', NULL)
          ON CONFLICT (order_id, line) DO UPDATE SET qty = excluded.qty, note = 'again';
      ELSIF p < 0.9 THEN -- a key change within the order (the same chunk, or the next)
        UPDATE sc_lines SET line = line + 100000 WHERE order_id = r AND line = ln AND blob IS NULL
          AND NOT EXISTS (SELECT 1 FROM sc_lines WHERE order_id = r AND line = ln + 100000);
      ELSE
        UPDATE sc_lines SET order_id = -order_id WHERE order_id = r AND line = ln AND blob IS NULL
          AND NOT EXISTS (SELECT 1 FROM sc_lines WHERE order_id = -r AND line = ln);
      END IF;
    END IF;
    GET DIAGNOSTICS cnt = ROW_COUNT;
    IF cnt > 0 THEN INSERT INTO sc_ledger VALUES (txid_current(), cnt, 1); END IF;
    COMMIT;
  END LOOP;
END $$;
SQL
}

# sc_write_round N: one round of the writer (asynchronous commit: more changes
# land inside the few milliseconds a chunk's window is open).
sc_write_round() {
    pg_psql -q -c "SET synchronous_commit = off" -c "CALL sc_round($1, $ROWS, $CHUNK)" \
        >/dev/null 2>>"$W/writer.err"
}

# sc_sample_loop FLAG LOG OUT: every 200 ms, until FLAG is removed: the chunk
# start sluice logged last goes to sc_frontier, and one line goes to OUT:
#   epoch | confirmed_flush_lsn | retained WAL bytes | current WAL position (bytes) |
#   oldest xact age (s) | restart_lsn (bytes)
# (the age of the oldest open transaction of sluice's connections, walsender
# included). Sets SC_LOOP_PID.
sc_sample_loop() {
    local flag="$1" logf="$2" out="$3"
    touch "$flag"
    (
        set +e
        last=""
        while [ -f "$flag" ]; do
            f="$(tail -c 200000 "$logf" 2>/dev/null | grep -a 'rows after ' | tail -1 |
                sed -n 's/.* of "public\.\([a-z_]*\)": [0-9]* rows after \(key \)\{0,1\}\(.*\)$/\1|\3/p')"
            set_f=""
            if [ -n "$f" ] && [ "$f" != "$last" ]; then
                t="${f%%|*}" k="${f#*|}"
                [ "$k" = "the start" ] && k=""
                set_f="UPDATE sc_frontier SET tbl = '$t', k = '${k//\'/\'\'}' WHERE id = 1;"
                last="$f"
            fi
            pg_psql -Atc "$set_f SELECT extract(epoch FROM clock_timestamp()),
                  s.confirmed_flush_lsn, pg_current_wal_lsn() - s.restart_lsn, pg_current_wal_lsn() - '0/0',
                  (SELECT coalesce(round(extract(epoch FROM max(clock_timestamp() - xact_start))::numeric, 3), 0)
                     FROM pg_stat_activity WHERE application_name LIKE 'sluice%' AND xact_start IS NOT NULL),
                  s.restart_lsn - '0/0'
                  FROM pg_replication_slots s WHERE s.slot_name = '$SLOT'" >>"$out" 2>/dev/null || true
            sleep 0.2
        done
    ) &
    SC_LOOP_PID=$!
}

# run_emitted LOG PID N: the sluice PID logged N chunks emitted (or the copy is over).
run_emitted() {
    [ "$(grep -ac "\[$2\] main DEBUG:  incremental snapshot: chunk .* rows emitted" "$1")" -ge "$3" ] ||
        inc_copies_done "$1"
}

mb() { awk -v b="$1" 'BEGIN { if (b < 1048576) printf "%.0f kB", b / 1024; else printf "%.1f MB", b / 1048576 }'; }

snapcrash_incremental_snapshot_kill9() {
    local cfg="$W/sc.conf" logf="$W/sc.log" samples="$W/sc.samples"
    log "$ROWS rows, chunks of $CHUNK, $KILLS kills, seed $SEED; sluice: $SLUICE"
    local t0=$SECONDS
    sc_setup || fail "setting up the tables"
    log "tables loaded in $((SECONDS - t0)) s: $(pg_psql -Atc "SELECT string_agg(relname || ' ' ||
        pg_size_pretty(pg_total_relation_size(oid)), ', ' ORDER BY relname) FROM pg_class
        WHERE relname IN ('sc_docs', 'sc_events', 'sc_tags', 'sc_lines')")"
    sluice_config "$cfg" "$SLOT" "$PREFIX" "postgres.publication = snapcrash" "snapshot.mode = initial" \
        "snapshot.method = incremental" "snapshot.chunk.rows = $CHUNK" "commit.interval.ms = 50" \
        "log.level = debug"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID k kills_done=0
    wait_slot_exists "$SLOT"
    local wal0
    wal0="$(pg_psql -Atc "SELECT pg_current_wal_lsn()")"
    start_sampler "$PREFIX" "$SLOT" "$W/sc.v6"
    local v6=$SAMPLER_PID
    sc_sample_loop "$W/sc.sampling" "$logf" "$samples"
    local loop=$SC_LOOP_PID
    pg_psql -q -c "CALL sc_watch()" 2>"$W/watch.err" &
    local watch=$!
    local writers=() i
    for ((i = 0; i < WRITERS; i++)); do
        rounds_start "$W/sc.writing" $((SEED * 100000 + i * 10000)) sc_write_round
        writers+=("$ROUNDS_PID")
    done
    local copy_t0=$EPOCHREALTIME
    RANDOM=$SEED
    local spread=$((2 * ROWS / CHUNK / (KILLS + 12)))
    [ "$spread" -ge 1 ] || spread=1
    for ((k = 1; k <= KILLS; k++)); do
        # A random moment, spread over the copy (so every table, the two-column key
        # included, is resumed from a checkpoint): one kill in five 0-1.5 s after this
        # run started streaming (while it streams what the writers wrote during its
        # downtime, before or during its first chunk); the others 0-0.29 s after the
        # run emitted N chunks, N drawn from 1 .. 2 x chunks / (kills + 12). (A chunk
        # takes tens of ms on a quiet machine: with 0-1.5 s, 4 of 20 kills found
        # the copy complete.)
        wait_for -p "$pid" 120 inc_run_streams "$logf" "$k" || true
        if [ $((RANDOM % 5)) -eq 0 ]; then
            sleep "$((RANDOM % 2)).$((RANDOM % 5))$((RANDOM % 10))"
        else
            wait_for -p "$pid" 600 run_emitted "$logf" "$pid" $((1 + RANDOM % spread)) || true
            sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
        fi
        if inc_copies_done "$logf"; then
            log "the copy completed before kill $k"
            break
        fi
        sluice_kill9_restart "$pid" "$cfg" "$logf"
        kills_done=$k
        log "kill $k: sluice exited $KILL9_RC after emitting $(grep -ac "\[$pid\] main DEBUG:  incremental snapshot: chunk .* rows emitted" "$logf") chunk(s) (the last maybe not committed); copying $(grep -a "\[$pid\] main DEBUG:  incremental snapshot: chunk .* rows after" "$logf" | tail -1 | sed -n 's/.* of "\([^"]*\)": [0-9]* rows after \(.*\)$/\1 after \2/p')"
        pid=$SLUICE_PID
    done
    wait_for -p "$pid" 1200 inc_copies_done "$logf" || fail "the incremental snapshot did not complete: $(tail -3 "$logf")"
    local copy_s
    copy_s="$(awk -v a="$copy_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
    rm -f "$W/sc.sampling"
    wait "$loop" || true
    pg_psql -q -c "UPDATE sc_frontier SET tbl = 'stop' WHERE id = 2"
    wait "$watch" || log "the transaction watcher failed: $(cat "$W/watch.err")"
    local wal1
    wal1="$(pg_psql -Atc "SELECT pg_current_wal_lsn()")"
    rm -f "$W/sc.writing"
    for i in "${writers[@]}"; do wait "$i" || true; done
    [ ! -s "$W/writer.err" ] || log "writer rounds stopped by an error (concurrent writers racing for a key): $(grep -c ERROR "$W/writer.err"); the first: $(grep -m1 ERROR "$W/writer.err")"
    catch_up_and_stop "$SLOT" "$pid" 300
    stop_sampler "$v6" "$W/sc.v6" || true
    log "the copy took $copy_s s; sluice was killed -9 $kills_done time(s) during it"

    # What the writer did, and what the chunks met.
    local wtx sup
    wtx="$(pg_psql -Atc "SELECT count(*) FROM sc_ledger")"
    log "writer: $wtx transactions, $(pg_psql -Atc "SELECT coalesce(sum(changes), 0) FROM sc_ledger") changes"
    sup="$(grep -a 'rows emitted' "$logf" | awk '{ for (i = 1; i <= NF; i++) if ($i == "superseded") s += $(i - 1) } END { print s + 0 }')"
    log "chunks: $(grep -ac 'rows emitted' "$logf") emitted (some not committed: killed before the Kafka commit), $sup copied rows superseded by streamed changes"
    grep -a 'incremental snapshot of .* complete\|incremental snapshot complete' "$logf" | sed 's/^[^ ]* \[[0-9]*\] [a-z]* [a-z]*: *//' >&2

    # The slot during the copy.
    # The retained WAL's age: how long before each sample the WAL at its restart_lsn was
    # written (the first sample whose WAL position had passed it).
    awk -F'|' -v wal="$(pg_psql -Atc "SELECT '$wal1'::pg_lsn - '$wal0'::pg_lsn")" '
        $2 != "" { n++; t[n] = $1; cur[n] = $4; rs[n] = $6
                   if ($2 != last) { d++; if (lastt != "" && $1 - lastt > gap) gap = $1 - lastt; lastt = $1; last = $2 }
                   if ($3 + 0 > max) max = $3 + 0; if ($5 + 0 > xmax) xmax = $5 + 0 }
        END { j = 1
              for (i = 1; i <= n; i++) {
                  while (j < i && cur[j] + 0 < rs[i] + 0) j++
                  if (t[i] - t[j] > age) age = t[i] - t[j]
              }
              printf "%d %d %.1f %d %d %.3f %.1f\n", n, d, gap, max, wal, xmax, age }' "$samples" >"$W/sc.slot"
    local n distinct gap rmax rmed wal xmax rage
    read -r n distinct gap rmax wal xmax rage <"$W/sc.slot"
    rmed="$(awk -F'|' '$2 != "" { print $3 }' "$samples" | sort -g | sed -n "$(((n + 1) / 2))p")"
    log "confirmed_flush_lsn during the copy: $distinct distinct values in $n samples (one every 200 ms or, on a loaded machine, less often), at most $gap s without a move"
    log "retained WAL (pg_current_wal_lsn() - restart_lsn) during the copy: $n samples, median $(mb "$rmed"), max $(mb "$rmax"), never more than the last $rage s of WAL; WAL written during the copy: $(mb "$wal")"
    # A chunk's duration: from one chunk's SELECT to the next one's, in one process.
    grep -a 'rows after ' "$logf" | awk '{ split(substr($1, 12, 12), h, ":"); t = h[1] * 3600 + h[2] * 60 + h[3];
            if ($2 == lastp) print (t - lastt) * 1000; lastp = $2; lastt = t }' | sort -g >"$W/sc.chunks"
    local cn cmin cmed cmax
    cn="$(wc -l <"$W/sc.chunks")"
    cmin="$(head -1 "$W/sc.chunks")"
    cmed="$(sed -n "$(((cn + 1) / 2))p" "$W/sc.chunks")"
    cmax="$(tail -1 "$W/sc.chunks")"
    local xw
    xw="$(pg_psql -Atc "SELECT round(max(age)::numeric, 3) || ' s (' || (SELECT app FROM sc_xact ORDER BY age DESC LIMIT 1)
                          || '), in ' || sum(polls) || ' polls every 5 ms' FROM sc_xact")"
    xmax="$(pg_psql -Atc "SELECT greatest($xmax, coalesce(max(age), 0)) FROM sc_xact")"
    log "oldest open transaction of sluice's connections seen during the copy: $xw; a chunk takes $cmed ms (median of $cn, from one chunk's SELECT to the next; shortest $cmin ms, longest $cmax ms)"

    # Every check is reported, then the test fails if any did.
    local problems=0
    problem() {
        log "FAIL: $*"
        problems=$((problems + 1))
    }
    [ "$wtx" -ge 100 ] || problem "the writers committed only $wtx transactions"
    [ "$sup" -gt 0 ] || problem "no streamed change superseded a copied row (the writers missed every chunk window, or changes never supersede)"
    [ "$kills_done" -ge "$KILLS" ] ||
        problem "only $kills_done of $KILLS kills happened before the copy completed (lower SNAPCRASH_CHUNK)"
    [ "$distinct" -ge 10 ] || problem "confirmed_flush_lsn took only $distinct values during the copy"
    awk -v g="$gap" 'BEGIN { exit !(g < 60) }' || problem "confirmed_flush_lsn stood still for $gap s during the copy"
    awk -v a="$rage" 'BEGIN { exit !(a < 120) }' ||
        problem "the slot retained WAL written $rage s before (the copy took $copy_s s)"
    # Each transaction is one chunk's SELECT, inside that chunk: never longer than the
    # longest chunk. (Against the median it failed once chunks no longer waited for a
    # commit each: a TOASTed chunk's SELECT took 88 ms, the median chunk 35 ms.)
    awk -v x="$xmax" -v c="$cmax" 'BEGIN { exit !(x * 1000 < c) }' ||
        problem "a transaction of sluice's was open $xmax s, longer than any chunk (the longest $cmax ms)"

    local tl t key
    tl="$(echo "$TABLES" | tr ' ' ,)"
    verify_check "$PREFIX" "$SLOT" --tables "$tl" --ledger sc_ledger --incremental --no-compare \
        >"$W/sc.verify" 2>&1 || problem "verify found violations (the first five below)"
    grep -v '^VIOLATION' "$W/sc.verify" >&2
    grep '^VIOLATION' "$W/sc.verify" | head -5 >&2 || true
    for t in $TABLES; do
        case "$t" in sc_tags) key=k ;; sc_lines) key=order_id,line ;; *) key=id ;; esac
        "$REPO/build/tools/apply" --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" \
            --topic "$PREFIX.public.$t" --table "public.$t" --copy "public.${t}_copy" --key "$key" 2>&1 |
            grep -v '^NOTICE' >&2 || problem "$t rebuilt from Kafka differs from PostgreSQL (above)"
    done
    [ "$problems" -eq 0 ] || fail "$problems check(s) failed"
}

run_tests snapcrash_ "$@"
summary
