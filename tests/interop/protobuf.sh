# shellcheck shell=bash
# make interop, consumer (c): the Protobuf topics read in another language.
# tests/interop/pb_apply.py (Python; protoc from grpcio-tools generates its
# classes from src/encode/sluice.proto, confluent-kafka reads
# read_committed) turns each topic into SQL, applied with psql to the
# database copy_pb. Protobuf carries no table definitions, so copy_pb starts
# from the source's DDL as it was before streaming (pg_dump of each case's
# schema, taken by run.sh); columns added later are added by the reader.
# Sourced by tests/interop/run.sh.

PB_DB=copy_pb

# consumer_protobuf TOPICS...: writes $W/status-protobuf.tsv (topic, status).
consumer_protobuf() {
    local dir="$W/protobuf" topic
    mkdir -p "$dir/gen" "$dir/sql"
    "$INTEROP_PY" -m grpc_tools.protoc -I "$REPO/src/encode" --python_out="$dir/gen" \
        "$REPO/src/encode/sluice.proto" || return 1
    pg_psql -d postgres -c "CREATE DATABASE $PB_DB" >/dev/null
    local s
    for s in $INTEROP_SCHEMAS; do
        pg_psql -d "$PB_DB" -f "$W/ddl-$s.sql" >/dev/null || return 1
    done
    # Each topic is applied on its own, in no order across topics: foreign
    # keys between tables could not hold in between, so the copy has none.
    pg_psql -d "$PB_DB" >/dev/null <<'SQL' || return 1
DO $$ DECLARE c record; BEGIN
    FOR c IN SELECT conrelid::regclass AS t, conname FROM pg_constraint WHERE contype = 'f' LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.t, c.conname);
    END LOOP;
END $$;
SQL
    PYTHONPATH="$dir/gen" "$INTEROP_PY" "$HERE/pb_apply.py" "$KAFKA_BOOTSTRAP" "$dir/sql" "$@" \
        >"$dir/counts.tsv" 2>"$dir/pb_apply.err" || {
        log "protobuf: pb_apply.py failed: $(tail -n 5 "$dir/pb_apply.err")"
        for topic in "$@"; do printf '%s\tFAILED: the reader: %s\n' "$topic" "$(tail -n 1 "$dir/pb_apply.err")"; done \
            >"$W/status-protobuf.tsv"
        return 0
    }
    : >"$W/status-protobuf.tsv"
    for topic in "$@"; do
        local n err
        n="$(awk -F'\t' -v t="$topic" '$1 == t { print $2 }' "$dir/counts.tsv")"
        if err="$(PGOPTIONS="-c client_min_messages=warning" pg_psql -d "$PB_DB" -v ON_ERROR_STOP=1 \
                  -f "$dir/sql/$topic.sql" 2>&1 >/dev/null)"; then
            printf '%s\tapplied %s events\n' "$topic" "$n" >>"$W/status-protobuf.tsv"
        else
            printf '%s\tFAILED: %s\n' "$topic" "$(echo "$err" | grep -m1 ERROR | cut -c1-300)" >>"$W/status-protobuf.tsv"
        fi
    done
}
