# shellcheck shell=bash
# make interop: the report, one table per consumer (markdown). Sourced by
# tests/interop/run.sh.

# Source tables, schema-qualified, in case order.
source_tables() {
    local s
    for s in $INTEROP_SCHEMAS; do
        pg_psql -Atc "SELECT format('%s.%s', schemaname, tablename) FROM pg_tables
                      WHERE schemaname = '$s' ORDER BY tablename"
    done
}

# note_for CONSUMER SCHEMA.TABLE: known reasons a copy cannot equal its
# source whatever the stream says, on one line ("; " between them).
note_for() {
    _note_for "$@" | paste -sd';' - | sed 's/;/; /g'
}
_note_for() {
    local truncated="the Flink stream skips truncates (skipped.operations = t: Flink's debezium-json cannot apply op t and stops its job there), so the copy keeps the rows the source truncated and cannot end equal"
    local no_default="ADD COLUMN … DEFAULT fills the existing rows without a change event, and Debezium JSON without schemas carries no default and Flink's upsert writes every column: rows not changed since are NULL in the copy"
    case "$1:$2" in
    jdbc:i_types.composites) echo "the JDBC sink has no column type for a Connect struct (a composite)" ;;
    flink:i_types.constrained) echo "$no_default" ;;
    flink:i_types.pairs) echo "$truncated" ;;
    flink:g_truncate.*) echo "$truncated" ;;
    flink:g_schema_changes.evolving) echo "$no_default" ;;
    flink:g_replica_identity.rid_full_nopk) echo "Flink's upsert JDBC sink needs a primary key to apply updates and deletes, and the table has none to declare" ;;
    esac
    if [ -z "$INTEROP_FULL" ]; then
        case "$1:$2" in
        flink:g_replica_identity.rid_default | flink:g_replica_identity.rid_index | flink:g_toast.toast_default | flink:g_schema_changes.evolving)
            echo "Flink's debezium-json refuses an update without before: it needs REPLICA IDENTITY FULL (as with Debezium)" ;;
        esac
        case "$2" in
        g_toast.toast_default) echo "REPLICA IDENTITY DEFAULT: unchanged TOASTed values arrive as the placeholder (as from Debezium)" ;;
        esac
    fi
    case "$2" in
    g_schema_changes.late) echo "row 1 was written before the table was published: it streams from ALTER PUBLICATION on" ;;
    g_schema_changes.evolving) echo "DROP/RENAME/ALTER TYPE are not in any event: a consumer sees new columns only" ;;
    g_replica_identity.rid_full_nopk) echo "no primary key: the record key is null" ;;
    i_specials.sp_ts_int64) echo "past int64 microseconds since 1970 (after 294247-01-10): sent as int64's maximum, which reads back as infinity" ;;
    esac
}

# status_of CONSUMER SCHEMA.TABLE: what the consumer said about the table's topic.
status_of() {
    local f="$W/status-$1.tsv" t="$2"
    [ -f "$f" ] || { echo "not run"; return; }
    awk -F'\t' -v t="$t" '{ n = split($1, p, "."); if (p[n - 1] "." p[n] == t) { print $2; exit } }' "$f"
}

report_consumer() {
    local consumer="$1" db="$2" t
    echo "### $consumer"
    echo
    echo "| table | column | source type | values | copy type | NOT NULL | DEFAULT |"
    echo "|---|---|---|---|---|---|---|"
    for t in $(source_tables); do
        local st note
        st="$(status_of "$consumer" "$t")"
        note="$(note_for "$consumer" "$t")"
        pg_psql -AtF $'\x1f' -c "SELECT * FROM interop_meta.compare('$db', '$t', '$t')" |
            while IFS=$'\x1f' read -r col typ vals ctype nn df; do
                if [ "$col" = "*" ]; then
                    printf '| **%s** | | | %s; consumer: %s%s | | | |\n' "$t" "$vals" "${st:-?}" "${note:+ (known: $note)}"
                else
                    # Flink's copy tables are declared by the harness (flink_ddl.sql): no column facts.
                    [ "$consumer" != flink ] || ctype="n/a" nn="n/a" df="n/a"
                    printf '| | %s | %s | %s | %s | %s | %s |\n' "$col" "$typ" "$vals" "$ctype" "$nn" "$df"
                fi
            done
    done
    echo
}

report_specials() {
    echo "### Special values"
    echo
    echo "Each in its own table i_specials.sp_<name>: row 1 ordinary, row 2 the value, row 3 ordinary"
    echo "(written after it), then an update of row 1. 'equal' means all three rows came through equal."
    echo
    local header="| value | type | source text |" sep="|---|---|---|" consumer
    for consumer in $CONSUMERS; do header+=" $consumer |"; sep+="---|"; done
    echo "$header"
    echo "$sep"
    local name type special
    while IFS=$'\t' read -r name type special; do
        local line="| $name | $type | \`$special\` |"
        for consumer in $CONSUMERS; do
            local db st rows v
            db="$(consumer_db "$consumer")"
            st="$(status_of "$consumer" "i_specials.sp_$name")"
            rows="$(pg_psql -At -c "SELECT vals FROM interop_meta.compare('$db', 'i_specials.sp_$name', 'i_specials.sp_$name') WHERE col = '*'")"
            v="$(pg_psql -At -c "SELECT vals FROM interop_meta.compare('$db', 'i_specials.sp_$name', 'i_specials.sp_$name') WHERE col = 'v'")"
            case "$rows:$v" in
            "equal rows (3):equal (3 rows)") line+=" equal |" ;;
            *) line+=" $rows; v: $v; consumer: ${st:-?} |" ;;
            esac
        done
        echo "$line"
    done < <(pg_psql -AtF $'\t' -c "SELECT name, type, special FROM interop_meta.specials ORDER BY name")
    echo
}

consumer_db() {
    case "$1" in
    jdbc) echo "$JDBC_DB" ;;
    flink) echo "$FLINK_DB" ;;
    protobuf) echo "$PB_DB" ;;
    esac
}
