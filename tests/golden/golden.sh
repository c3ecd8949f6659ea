# shellcheck shell=bash
# Golden tests, in the spirit of wal2json's sql/ + expected/: SQL in, exact
# events out. Sourced by tests/it/tests.sh (test_golden); uses its helpers and
# the PostgreSQL + Kafka it started.
#
# tests/golden/NAME.sql is run in its own schema g_NAME:
#   - the part before a line "-- streaming" runs before sluice starts (tables,
#     rows that are not part of the output). It may create the publication
#     itself as :"pub" (psql variable); otherwise the runner publishes
#     every table of the schema.
#   - the part after it runs while sluice streams into topics golden_NAME.*.
#   - "-- sluice: key = value" lines add sluice configuration.
#   - "-- sql: OTHER": the SQL is OTHER.sql's (the same statements under other
#     settings); the "-- sluice:" and "-- check-schemas" lines stay this file's.
#   - "-- check-schemas": every record must match its Kafka Connect schema.
#   - "-- server: NUM REASON": the case needs server_version_num >= NUM (SQL
#     an older server refuses); on an older one it is skipped with REASON logged.
#   - "-- apply: TABLE KEY": a consumer rebuilds TABLE from its topic and the
#     copy must equal the table (tests/tools/apply.c: the round trip).
#   - "-- format: protobuf": a case of the Protobuf output alone (the JSON run
#     skips it); its consumer also prints each after row's column defaults
#     (consume --defaults), and GOLDEN_ACCEPT writes its expectation from the
#     Protobuf run.
# What a read_committed consumer then sees (tests/tools/consume.c, run-to-run
# noise masked) must equal tests/golden/expected/NAME.out byte for byte.
# GOLDEN_ACCEPT=1 writes the outputs as the new expectations instead.
#
# golden_case NAME protobuf runs the case with "format = protobuf": the
# consumer decodes each record with protobuf-c into the JSON the json format
# writes (tests/tools/pbjson.h) and the same NAME.out must come out, so both
# formats carry the same content, value for value. That run has its own slot
# and topics (prefix goldenpb_NAME: it must not read the JSON run's records);
# its source "name" (the prefix) is mapped back before the comparison. Cases
# that set json.schemas (JSON only) are skipped.

GOLDEN_DIR="$REPO/tests/golden"
CONSUME="$REPO/build/tools/consume"
APPLY="$REPO/build/tools/apply"

golden_case() {
    local PGOPTIONS="-c client_min_messages=warning"
    export PGOPTIONS
    local name="$1" file="$GOLDEN_DIR/$1.sql" format="${2:-json}"
    local schema="g_$1" slot="golden_$1" prefix="golden_$1" pub="golden_$1"
    local fmt_args=() fmt_conf=() need pb_only=""
    need="$(sed -n 's/^-- server: \([0-9][0-9]*\) .*/\1/p' "$file")"
    if [ -n "$need" ] && [ "${PG_VERSION_NUM:-150000}" -lt "$need" ]; then
        log "golden $name ($format): skipped on server_version_num $PG_VERSION_NUM: $(sed -n 's/^-- server: [0-9][0-9]* //p' "$file")"
        return 0
    fi
    grep -q '^-- format: protobuf' "$file" && pb_only=1
    if [ "$format" = json ] && [ -n "$pb_only" ]; then
        log "golden $name (json): skipped, a case of the Protobuf output"
        return 0
    fi
    if [ "$format" = protobuf ]; then
        if grep -q '^-- sluice: json\.schemas' "$file"; then
            log "golden $name (protobuf): skipped, json.schemas applies to JSON only"
            return 0
        fi
        slot="goldenpb_$1" prefix="goldenpb_$1"
        fmt_args=(--format protobuf) fmt_conf=("format = protobuf")
    fi
    local work="$W/golden"
    mkdir -p "$work"
    [ -f "$file" ] || { fail "no golden case $file"; return 1; }
    local setup="$work/$name.setup.sql" stream="$work/$name.stream.sql" sql="$file" other
    other="$(sed -n 's/^-- sql: //p' "$file")"
    [ -z "$other" ] || sql="$GOLDEN_DIR/$other.sql"
    [ -f "$sql" ] || { fail "golden case $name: no SQL file $sql"; return 1; }
    awk -v SETUP="$setup" -v STREAM="$stream" \
        'BEGIN { printf "" > SETUP; printf "" > STREAM }
         /^-- sluice: / { next }
         /^-- streaming/ { s = 1; next } { print > (s ? STREAM : SETUP) }' "$sql"
    local extra=()
    mapfile -t extra < <(sed -n 's/^-- sluice: //p' "$file")

    drop_slot "$slot"
    pg_psql -c "DROP PUBLICATION IF EXISTS $pub" -c "DROP SCHEMA IF EXISTS $schema CASCADE" \
        -c "CREATE SCHEMA $schema" -c "GRANT USAGE ON SCHEMA $schema TO sluice" >/dev/null
    PGOPTIONS="$PGOPTIONS -c search_path=$schema" pg_psql -v pub="$pub" -f "$setup" >/dev/null
    # FOR TABLES IN SCHEMA is PostgreSQL 15+; on 14 the schema's tables by name
    # (no case creates a table while streaming, so the two publish the same).
    if ! grep -qi 'CREATE PUBLICATION' "$setup"; then
        if [ "${PG_VERSION_NUM:-150000}" -ge 150000 ]; then
            pg_psql -c "CREATE PUBLICATION $pub FOR TABLES IN SCHEMA $schema" >/dev/null
        else
            pg_psql -c "CREATE PUBLICATION $pub FOR TABLE $(pg_psql -Atc "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables WHERE schemaname = '$schema'")" >/dev/null
        fi
    fi
    pg_psql -c "GRANT SELECT ON ALL TABLES IN SCHEMA $schema TO sluice" >/dev/null

    local cfg="$work/$name.conf" logf="$work/$name.log"
    : >"$logf"
    sluice_config "$cfg" "$slot" "$prefix" "postgres.publication = $pub" "topic.partitions = 1" \
        "${extra[@]}" "${fmt_conf[@]}"
    sluice_start "$cfg" "$logf"
    local pid=$SLUICE_PID
    wait_slot_exists "$slot"
    PGOPTIONS="$PGOPTIONS -c search_path=$schema" pg_psql -v pub="$pub" -f "$stream" >/dev/null
    local lsn rc=0
    lsn="$(sync_barrier)"
    wait_confirmed "$slot" "$lsn" 120 || { tail -5 "$logf" >&2; }
    sluice_stop "$pid" || rc=$?
    [ "$rc" -eq 0 ] || { fail "golden $name: sluice exited $rc: $(tail -3 "$logf")"; return 1; }

    local out="$work/$name.out" check=()
    grep -q '^-- check-schemas' "$file" && check=(--check-schemas)
    [ -z "$pb_only" ] || check+=(--defaults)
    if ! "$CONSUME" --bootstrap "$KAFKA_BOOTSTRAP" --prefix "$prefix" "${check[@]}" \
        "${fmt_args[@]}" >"$out" 2>"$work/$name.consume.err"; then
        cat "$work/$name.consume.err" >&2
        fail "golden $name: the consumer found violations (above)"
        return 1
    fi
    [ "$format" = json ] || sed -i "s/\"name\":\"$prefix\"/\"name\":\"golden_$name\"/g" "$out"
    local t k
    while read -r t k; do
        "$APPLY" --bootstrap "$KAFKA_BOOTSTRAP" --conninfo "$PG_ADMIN_CONNINFO" \
            --topic "$prefix.$schema.$t" --table "$schema.$t" --copy "$schema.${t}_copy" \
            --key "$k" "${fmt_args[@]}" ||
            { fail "golden $name: rebuilding $t from Kafka differs"; return 1; }
    done < <(sed -n 's/^-- apply: //p' "$file")

    local expected="$GOLDEN_DIR/expected/$name.out"
    if [ "${GOLDEN_ACCEPT:-0}" = 1 ] && { [ "$format" = json ] || [ -n "$pb_only" ]; }; then
        cp "$out" "$expected"
        log "golden $name: wrote $expected ($(wc -l <"$out") records)"
    elif ! diff -u "$expected" "$out" >"$work/$name.diff"; then
        head -60 "$work/$name.diff" >&2
        fail "golden $name: output differs from $expected (diff above, full: $work/$name.diff)"
        return 1
    fi
    drop_slot "$slot"
    pg_psql -c "DROP PUBLICATION IF EXISTS $pub" -c "DROP SCHEMA $schema CASCADE" >/dev/null
    log "golden $name ($format): $(wc -l <"$out") records as expected"
}
