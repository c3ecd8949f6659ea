# shellcheck shell=bash
# What each PostgreSQL version changes (issue 16), sourced by run.sh. Every
# test runs on the PostgreSQL the environment started (SLUICE_PG_VERSION, see
# tests/env/env.sh) and checks the branch that version takes; `make matrix`
# runs them on 14, 15, 16, 17 and 18. The command texts themselves are unit
# tested (tests/unit/test_versions.c); here a real server of each version
# accepts them.

pg_at_least() { [ "$PG_VERSION_NUM" -ge "$1" ]; }

# "17.5" for PG_VERSION_NUM 170005.
pg_version_text() { echo "$((PG_VERSION_NUM / 10000)).$((PG_VERSION_NUM % 10000))"; }

# Table ver_t with one row, published by it_ver.
ver_setup() {
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_ver" -c "DROP TABLE IF EXISTS ver_t" \
        -c "CREATE TABLE ver_t (id int PRIMARY KEY, v text)" -c "GRANT SELECT ON ver_t TO sluice" \
        -c "INSERT INTO ver_t VALUES (1, 'before the slot')" \
        -c "CREATE PUBLICATION it_ver FOR TABLE ver_t"
}

ver_teardown() {
    local s
    for s in "$@"; do drop_slot "$s"; done
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_ver" -c "DROP TABLE IF EXISTS ver_t"
}

# ver_events PREFIX: "op id" of every event on PREFIX.public.ver_t, as a
# read_committed consumer sees them, one a line, space-separated on one line.
ver_events() {
    "$REPO/build/tools/consume" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$1" | python3 -c '
import json, sys
out = []
for line in sys.stdin:
    topic, rest = line.rstrip("\n").split(" key=", 1)
    if topic != "public.ver_t":
        continue
    value = json.loads(rest.split(" value=", 1)[1])
    if value is None:
        continue
    row = value["after"] or value["before"]
    out.append("%s%d" % (value["op"], row["id"]))
print(" ".join(out))'
}

# ver_run CONFIG LOG SLOT [SQL...]: runs sluice (LOG emptied first) until it
# streams, runs each SQL (one psql session), waits until Kafka holds it, stops
# sluice (exit 0).
ver_run() {
    local cfg="$1" logf="$2" slot="$3" rc=0
    shift 3
    : >"$logf"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_log "$logf" 'streaming from slot' 60 "$pid" || { fail "sluice did not stream: $(tail -3 "$logf")"; return 1; }
    local args=() q
    for q in "$@"; do args+=(-c "$q"); done
    [ ${#args[@]} -eq 0 ] || pg_psql -q "${args[@]}" >/dev/null
    catch_up_and_stop "$slot" "$pid" 60
}

# expect_line FILE REGEX: FILE has a line matching REGEX (extended), else fail showing FILE.
expect_line() {
    grep -Eq -- "$2" "$1" || { fail "no line /$2/ in $1:"; cat "$1" >&2; return 1; }
}

# sluice creates its slot with the command the server's version takes — with an
# exported snapshot (snapshot.mode = initial), without (never), and a temporary
# one to export a snapshot for a slot that exists without a checkpoint — and
# `sluice check` names the version and that command. On PostgreSQL 14 this is
# the EXPORT_SNAPSHOT / NOEXPORT_SNAPSHOT form; 15+ take (SNAPSHOT '…').
test_version_slot_creation_per_version() {
    local cfg="$W/ver.conf" out="$W/ver.check" logf="$W/ver.log" rc export nothing
    ver_setup
    if pg_at_least 150000; then
        export="LOGICAL pgoutput \\(SNAPSHOT 'export'\\)" nothing="LOGICAL pgoutput \\(SNAPSHOT 'nothing'\\)"
    else
        export="LOGICAL pgoutput EXPORT_SNAPSHOT" nothing="LOGICAL pgoutput NOEXPORT_SNAPSHOT"
    fi

    # With an exported snapshot: the row from before is copied ('r'), the next streamed ('c').
    sluice_config "$cfg" it_ver_exp itverexp "postgres.publication = it_ver" "snapshot.mode = initial"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || { cat "$out" >&2; fail "check exited $rc"; }
    expect_line "$out" "^  ok    server version: PostgreSQL $(pg_version_text) \\(server_version_num $PG_VERSION_NUM\\): sluice creates a slot with CREATE_REPLICATION_SLOT \"it_ver_exp\" $export and reads pgoutput protocol 1 with messages$"
    log "check says: $(grep 'server version' "$out" | sed 's/^ *//')"
    ver_run "$cfg" "$logf" it_ver_exp "INSERT INTO ver_t VALUES (2, 'streamed')"
    expect_line "$logf" 'created replication slot "it_ver_exp" at [0-9A-F/]+ with an exported snapshot'
    [ "$(ver_events itverexp)" = "r1 c2" ] || fail "exported snapshot: events '$(ver_events itverexp)', want 'r1 c2'"

    # Without a snapshot: only what comes after the slot.
    sluice_config "$cfg" it_ver_plain itverplain "postgres.publication = it_ver" "snapshot.mode = never"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    expect_line "$out" "server version: .*CREATE_REPLICATION_SLOT \"it_ver_plain\" $nothing and reads"
    ver_run "$cfg" "$logf" it_ver_plain "INSERT INTO ver_t VALUES (3, 'streamed')"
    [ "$(ver_events itverplain)" = "c3" ] || fail "no snapshot: events '$(ver_events itverplain)', want 'c3'"

    # The slot exists but this prefix has no checkpoint: a temporary slot exports the snapshot.
    sluice_config "$cfg" it_ver_plain itvertmp "postgres.publication = it_ver" "snapshot.mode = initial"
    ver_run "$cfg" "$logf" it_ver_plain "INSERT INTO ver_t VALUES (4, 'streamed')"
    expect_line "$logf" 'exported a new snapshot at .* \(temporary slot "it_ver_plain_snapshot"\)'
    [ "$(ver_events itvertmp)" = "r1 r2 r3 c4" ] || fail "temporary export: events '$(ver_events itvertmp)', want 'r1 r2 r3 c4'"
    ! grep -q 'refused' "$logf" || fail "PostgreSQL refused a command: $(grep refused "$logf")"
    ver_teardown it_ver_exp it_ver_plain
}

# A command the server refuses is quoted whole in the message (it was cut at
# 60 characters): all replication slots in use, so the creation fails, exit 5.
test_version_refused_command_quoted_whole() {
    local cfg="$W/verfull.conf" logf="$W/verfull.log" rc max used i want
    ver_setup
    max="$(pg_psql -Atc "SHOW max_replication_slots")"
    used="$(pg_psql -Atc "SELECT count(*) FROM pg_replication_slots")"
    for ((i = used; i < max; i++)); do
        pg_psql -q -c "SELECT pg_create_physical_replication_slot('it_ver_fill_$i')" >/dev/null
    done
    sluice_config "$cfg" it_ver_a_slot_name_long_enough_to_matter itverfull \
        "postgres.publication = it_ver" "snapshot.mode = never"
    rc=0; timeout 120 "$SLUICE" run -c "$cfg" >"$logf" 2>&1 || rc=$?
    pg_psql -q -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'it_ver_fill_%'" >/dev/null
    [ "$rc" -eq 5 ] || fail "exit $rc with every slot in use, want 5: $(tail -3 "$logf")"
    if pg_at_least 150000; then want="(SNAPSHOT 'nothing')"; else want="NOEXPORT_SNAPSHOT"; fi
    grep -qF "PostgreSQL $(pg_version_text) refused CREATE_REPLICATION_SLOT \"it_ver_a_slot_name_long_enough_to_matter\" LOGICAL pgoutput $want: " "$logf" ||
        fail "the refused command is not quoted whole: $(tail -2 "$logf")"
    grep -q 'all replication slots are in use' "$logf" || fail "PostgreSQL's reason is missing: $(tail -2 "$logf")"
    log "exit 5: $(grep -m1 'refused' "$logf" | sed 's/.*FATAL: *//')"
    ver_teardown
}

# postgres.origin = none (PostgreSQL 16+) leaves out changes that came through
# logical replication (made in a session with a replication origin), any keeps
# them; on 14 and 15 run refuses it (exit 5) and check fails it.
test_version_origin_none() {
    local cfg="$W/vero.conf" cfga="$W/veroa.conf" out="$W/vero.check" logf="$W/vero.log" rc
    ver_setup
    sluice_config "$cfg" it_ver_onone itveronone "postgres.publication = it_ver" "snapshot.mode = never" \
        "postgres.origin = none"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    if ! pg_at_least 160000; then
        [ "$rc" -eq 10 ] || fail "check exited $rc, want 10"
        expect_line "$out" "^  FAIL  postgres.origin: postgres.origin = none needs PostgreSQL 16 or later .* this server is PostgreSQL $(pg_version_text)"
        expect_line "$out" "^        fix: set postgres.origin = any"
        rc=0; timeout 60 "$SLUICE" run -c "$cfg" >"$logf" 2>&1 || rc=$?
        [ "$rc" -eq 5 ] || fail "run exited $rc with origin = none on $(pg_version_text), want 5"
        expect_line "$logf" "postgres.origin = none needs PostgreSQL 16 or later .*this server is PostgreSQL $(pg_version_text)"
        ! slot_exists it_ver_onone || fail "a slot was created although the setting was refused"
        log "on $(pg_version_text): $(grep -m1 'origin = none' "$logf" | sed 's/.*FATAL: *//')"
        ver_teardown
        return 0
    fi
    [ "$rc" -eq 0 ] || { cat "$out" >&2; fail "check exited $rc"; }
    expect_line "$out" '^  ok    postgres.origin: none: changes that a logical replication subscription applied here are left out'
    sluice_config "$cfga" it_ver_oany itveroany "postgres.publication = it_ver" "snapshot.mode = never"
    sluice_start "$cfga" "$W/veroa.log"
    local any=$SLUICE_PID
    wait_log "$W/veroa.log" 'streaming from slot' 60 "$any" || fail "the origin = any instance did not stream"
    pg_psql -q -c "SELECT pg_replication_origin_create('it_ver_remote') WHERE NOT EXISTS (SELECT 1 FROM pg_replication_origin WHERE roname = 'it_ver_remote')" >/dev/null
    ver_run "$cfg" "$logf" it_ver_onone \
        "SELECT pg_replication_origin_session_setup('it_ver_remote')" \
        "INSERT INTO ver_t VALUES (10, 'applied by a subscription')" \
        "SELECT pg_replication_origin_session_reset()" \
        "INSERT INTO ver_t VALUES (11, 'made here')"
    catch_up_and_stop it_ver_oany "$any" 60 "the origin = any instance"
    [ "$(ver_events itveronone)" = "c11" ] || fail "origin = none: events '$(ver_events itveronone)', want 'c11'"
    [ "$(ver_events itveroany)" = "c10 c11" ] || fail "origin = any: events '$(ver_events itveroany)', want 'c10 c11'"
    pg_psql -q -c "SELECT pg_replication_origin_drop('it_ver_remote')" >/dev/null
    ver_teardown it_ver_onone it_ver_oany
}

# set_server_setting NAME VALUE: ALTER SYSTEM + reload, until a new session sees it
# (VALUE "" resets).
set_server_setting() {
    if [ -n "$2" ]; then
        pg_psql -q -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null
    else
        pg_psql -q -c "ALTER SYSTEM RESET $1" -c "SELECT pg_reload_conf()" >/dev/null
    fi
    setting_is() { [ "$(pg_psql -Atc "SELECT current_setting('$1')")" = "$2" ]; }
    wait_for 10 setting_is "$1" "${3:-$2}" || fail "$1 did not become '${3:-$2}' after a reload"
}

# postgres.slot.failover = true: on 17+ the slot sluice creates is a failover
# slot and an existing slot is altered to one; before 17 run refuses it
# (exit 5) and check fails it. On every version check warns when the primary
# has a standby (here: a physical slot) that the slot would not survive a
# failover to; on 17+ it warns while synchronized_standby_slots is unset and
# says ok once it names the standby's slot; on 18 it warns about
# idle_replication_slot_timeout.
test_version_failover_slot() {
    local cfg="$W/verf.conf" out="$W/verf.check" logf="$W/verf.log" rc
    ver_setup
    sluice_config "$cfg" it_ver_fo itverfo "postgres.publication = it_ver" "snapshot.mode = never" \
        "postgres.slot.failover = true"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    if ! pg_at_least 170000; then
        [ "$rc" -eq 10 ] || fail "check exited $rc, want 10"
        expect_line "$out" "^  FAIL  postgres.slot.failover: postgres.slot.failover = true needs PostgreSQL 17 or later .*this server is PostgreSQL $(pg_version_text)"
        rc=0; timeout 60 "$SLUICE" run -c "$cfg" >"$logf" 2>&1 || rc=$?
        [ "$rc" -eq 5 ] || fail "run exited $rc with failover = true on $(pg_version_text), want 5"
        expect_line "$logf" "postgres.slot.failover = true needs PostgreSQL 17 or later"
        ! slot_exists it_ver_fo || fail "a slot was created although the setting was refused"
        log "on $(pg_version_text): $(grep -m1 'failover = true' "$logf" | sed 's/.*FATAL: *//')"
    else
        [ "$rc" -eq 0 ] || { cat "$out" >&2; fail "check exited $rc"; }
        expect_line "$out" '^  ok    failover: slot "it_ver_fo" becomes a failover slot'
        expect_line "$out" '^  warn  synchronized_standby_slots: is unset'
        ver_run "$cfg" "$logf" it_ver_fo "INSERT INTO ver_t VALUES (2, 'streamed')"
        expect_line "$logf" 'created replication slot "it_ver_fo" at [0-9A-F/]+ as a failover slot'
        [ "$(pg_psql -Atc "SELECT failover FROM pg_replication_slots WHERE slot_name = 'it_ver_fo'")" = t ] ||
            fail "slot it_ver_fo is not a failover slot"
        [ "$(ver_events itverfo)" = "c2" ] || fail "events '$(ver_events itverfo)', want 'c2'"
        # An existing ordinary slot is made a failover slot at start.
        pg_psql -q -c "SELECT pg_create_logical_replication_slot('it_ver_fo2', 'pgoutput')" >/dev/null
        sluice_config "$cfg" it_ver_fo2 itverfo2 "postgres.publication = it_ver" "snapshot.mode = never" \
            "postgres.slot.failover = true"
        ver_run "$cfg" "$logf" it_ver_fo2 "INSERT INTO ver_t VALUES (3, 'streamed')"
        expect_line "$logf" 'replication slot "it_ver_fo2" is now a failover slot'
        [ "$(pg_psql -Atc "SELECT failover FROM pg_replication_slots WHERE slot_name = 'it_ver_fo2'")" = t ] ||
            fail "slot it_ver_fo2 was not altered to a failover slot"
        [ "$(ver_events itverfo2)" = "c3" ] || fail "events '$(ver_events itverfo2)', want 'c3'"
        # The guard named: ok (a check only; nothing streams while it names an idle slot).
        pg_psql -q -c "SELECT pg_create_physical_replication_slot('it_ver_standby')" >/dev/null
        set_server_setting synchronized_standby_slots it_ver_standby
        rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
        set_server_setting synchronized_standby_slots ""
        expect_line "$out" '^  ok    synchronized_standby_slots: it_ver_standby: sluice gets only changes the standby has'
        expect_line "$out" '^  ok    failover: slot "it_ver_fo2" is a failover slot; standby: physical replication slot\(s\) it_ver_standby \(inactive\)'
        pg_psql -q -c "SELECT pg_drop_replication_slot('it_ver_standby')" >/dev/null
    fi

    # A standby (its physical slot) and a slot that is not a failover slot: warned, on every version.
    pg_psql -q -c "SELECT pg_create_physical_replication_slot('it_ver_standby')" >/dev/null
    sluice_config "$cfg" it_ver_nofo itvernofo "postgres.publication = it_ver" "snapshot.mode = never"
    rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
    pg_psql -q -c "SELECT pg_drop_replication_slot('it_ver_standby')" >/dev/null
    [ "$rc" -eq 0 ] || { cat "$out" >&2; fail "check exited $rc (a warning is not a failure)"; }
    expect_line "$out" '^  warn  failover: this primary has a standby \(physical replication slot\(s\) it_ver_standby \(inactive\)\), but slot "it_ver_nofo" is not a failover slot: after a failover to it the slot is gone and sluice stops \(exit 6\)'
    if pg_at_least 170000; then
        expect_line "$out" '^        fix: set postgres.slot.failover = true'
    else
        expect_line "$out" '^        fix: PostgreSQL 17 or later keeps a slot across a failover'
    fi
    log "check says: $(grep 'warn  failover' "$out" | sed 's/^ *//')"

    if pg_at_least 180000; then
        set_server_setting idle_replication_slot_timeout 2d
        rc=0; "$SLUICE" check -c "$cfg" >"$out" 2>&1 || rc=$?
        set_server_setting idle_replication_slot_timeout "" 0
        expect_line "$out" '^  warn  idle_replication_slot_timeout: is 2d: PostgreSQL 18 invalidates slot "it_ver_nofo"'
    fi
    ver_teardown it_ver_fo it_ver_fo2
}

# Generated columns: PostgreSQL 18 publishes a stored generated column when the
# publication asks (publish_generated_columns = stored), and then the initial
# snapshot's rows carry it as the streamed ones do; before 18 no generated
# column is ever published (15 lists it in pg_publication_tables.attnames all
# the same), and neither the snapshot nor the stream has it.
test_version_generated_columns_snapshot_equals_stream() {
    local cfg="$W/vergen.conf" logf="$W/vergen.log" with="" want got
    pg_at_least 180000 && with=" WITH (publish_generated_columns = stored)"
    pg_psql -q -c "DROP PUBLICATION IF EXISTS it_vergen" -c "DROP TABLE IF EXISTS ver_gen" \
        -c "CREATE TABLE ver_gen (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) STORED)" \
        -c "GRANT SELECT ON ver_gen TO sluice" -c "INSERT INTO ver_gen (id, a) VALUES (1, 1)" \
        -c "CREATE PUBLICATION it_vergen FOR TABLE ver_gen$with"
    sluice_config "$cfg" it_ver_gen itvergen "postgres.publication = it_vergen" "snapshot.mode = initial"
    ver_run "$cfg" "$logf" it_ver_gen "INSERT INTO ver_gen (id, a) VALUES (2, 2)" "UPDATE ver_gen SET a = 5 WHERE id = 1"
    got="$("$REPO/build/tools/consume" --bootstrap "$KAFKA_BOOTSTRAP" --prefix itvergen | python3 -c '
import json, sys
out = []
for line in sys.stdin:
    topic, rest = line.rstrip("\n").split(" key=", 1)
    if topic == "public.ver_gen":
        v = json.loads(rest.split(" value=", 1)[1])
        out.append(v["op"] + json.dumps(v["after"], sort_keys=True, separators=(",", ":")))
print(" ".join(out))')"
    if pg_at_least 180000; then
        want='r{"a":1,"b":2,"id":1} c{"a":2,"b":4,"id":2} u{"a":5,"b":10,"id":1}'
    else
        want='r{"a":1,"id":1} c{"a":2,"id":2} u{"a":5,"id":1}'
    fi
    [ "$got" = "$want" ] || fail "PostgreSQL $(pg_version_text): events '$got', want '$want'"
    log "PostgreSQL $(pg_version_text): $got"
    drop_slot it_ver_gen
    pg_psql -q -c "DROP PUBLICATION it_vergen" -c "DROP TABLE ver_gen"
}

# Transaction metadata of a transaction without a published change: PostgreSQL
# 14 sends its BEGIN and COMMIT (15+ skips it); sluice writes no BEGIN/END
# events for it on any version, so the metadata topic is the same on all.
test_version_empty_transactions_leave_no_metadata() {
    local cfg="$W/verempty.conf" logf="$W/verempty.log" got
    ver_setup
    pg_psql -q -c "DROP TABLE IF EXISTS ver_unpublished" -c "CREATE TABLE ver_unpublished (id int)"
    sluice_config "$cfg" it_ver_empty itverempty "postgres.publication = it_ver" "snapshot.mode = never" \
        "transaction.metadata = true"
    ver_run "$cfg" "$logf" it_ver_empty "INSERT INTO ver_unpublished VALUES (1)" \
        "INSERT INTO ver_unpublished VALUES (2)" "INSERT INTO ver_t VALUES (2, 'published')" \
        "INSERT INTO ver_unpublished VALUES (3)"
    got="$("$REPO/build/tools/consume" --bootstrap "$KAFKA_BOOTSTRAP" --prefix itverempty |
        sed -n 's/^transaction key=.*"status":"\([A-Z]*\)".*"event_count":\([0-9a-z]*\).*/\1:\2/p' | tr '\n' ' ')"
    [ "$got" = "BEGIN:null END:1 " ] ||
        fail "PostgreSQL $(pg_version_text): transaction metadata '$got', want 'BEGIN:null END:1 ' (one transaction with one event)"
    [ "$(ver_events itverempty)" = "c2" ] || fail "events '$(ver_events itverempty)', want 'c2'"
    pg_psql -q -c "DROP TABLE ver_unpublished"
    ver_teardown it_ver_empty
}
