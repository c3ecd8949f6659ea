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
    local jdbc_array="Debezium's JDBC sink 3.2.0 cannot bind an array of this element type (its task stops, with the error in the consumer column), and sluice sends the JSON array of the documented element form"
    local clamp="no Java date or time holds ±infinity and a PostgreSQL sink refuses Debezium's markers, so the JDBC stream keeps infinity.handling.mode = clamp: sluice sends the smallest or largest value Connect holds"
    local float_special="Kafka Connect's JsonConverter reads a float NaN or ±Infinity as null and -0 as 0 (sluice sends \"NaN\", \"Infinity\", \"-Infinity\" and -0.0)"
    local decimal_special="a Connect Decimal has no NaN or ±Infinity: sluice sends null there (decimal.handling.mode = precise)"
    case "$1:$2" in
    jdbc:i_types.alltypes) echo "Debezium's JDBC sink creates a numeric without a scale (VariableScaleDecimal) as double precision, which keeps 17 digits" ;;
    jdbc:i_types.arr_by | jdbc:i_types.arr_d | jdbc:i_types.arr_n | jdbc:i_types.arr_n52 | jdbc:i_types.arr_tm | jdbc:i_types.arr_ts | jdbc:i_types.arr_tstz) echo "$jdbc_array" ;;
    jdbc:i_types.composites) echo "the JDBC sink has no column type for a Connect struct (a composite): its task stops" ;;
    jdbc:g_replica_identity.rid_full_nopk | jdbc:i_types.nokey) echo "the JDBC sink's primary.key.mode = record_key needs a key, and a table without a primary key has a null record key: its task stops" ;;
    jdbc:i_specials.sp_arr_2d | jdbc:i_specials.sp_arr_lb0) echo "a one-dimensional Connect array schema cannot describe a 2-D array or another lower bound: JsonConverter reads sluice's nested JSON array as {0,0}, the lower bound is lost" ;;
    jdbc:i_specials.sp_date_ninf | jdbc:i_specials.sp_date_pinf | jdbc:i_specials.sp_ts_ninf | jdbc:i_specials.sp_ts_pinf | jdbc:i_specials.sp_tstz_ninf | jdbc:i_specials.sp_tstz_pinf) echo "$clamp" ;;
    jdbc:i_specials.sp_time_2400 | jdbc:i_specials.sp_timetz_2400) echo "no Java time holds 24:00: the JDBC stream (clamp) sends 23:59:59.999999" ;;
    jdbc:i_specials.sp_f4_* | jdbc:i_specials.sp_f8_*) echo "$float_special" ;;
    jdbc:i_specials.sp_num_* | jdbc:i_specials.sp_numc_nan) echo "$decimal_special" ;;
    flink:i_types.constrained) echo "$no_default" ;;
    flink:i_types.pairs) echo "$truncated" ;;
    flink:g_truncate.*) echo "$truncated" ;;
    flink:g_schema_changes.evolving) echo "$no_default" ;;
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
    g_schema_changes.evolving) echo "DROP/RENAME/ALTER TYPE are not in any event: a consumer sees new columns only" ;;
    i_specials.sp_ts_int64) echo "past int64 microseconds since 1970 (after 294247-01-10): sent as int64's maximum, which reads back as infinity" ;;
    esac
}

# status_of CONSUMER SCHEMA.TABLE: what the consumer said about the table's topic.
status_of() {
    local f="$W/status-$1.tsv" t="$2"
    [ -f "$f" ] || { echo "not run"; return; }
    awk -F'\t' -v t="$t" '{ n = split($1, p, "."); if (p[n - 1] "." p[n] == t) { print $2; exit } }' "$f"
}

# table_verdict VALS...: "equal" when the table's row line (first) and every
# column's values say equal, else "differs".
table_verdict() {
    local v
    case "$1" in "equal rows ("*) ;; *) echo differs; return ;; esac
    shift
    for v in "$@"; do
        case "$v" in "equal ("* | "no rows in either") ;; *) echo differs; return ;; esac
    done
    echo equal
}

# report_consumer CONSUMER DB: its table (one block per source table, the
# verdict first: equal, a known limit with its reason, or DIFFERS), after a
# one-line count. Also appends "consumer<TAB>table<TAB>verdict" to $W/verdicts.tsv.
report_consumer() {
    local consumer="$1" db="$2" t body="" n=0 n_equal=0 n_known=0 n_diff=0
    for t in $(source_tables); do
        local st note rows verdict vals=() lines=() col typ v ctype nn df
        st="$(status_of "$consumer" "$t")"
        note="$(note_for "$consumer" "$t")"
        rows="$(pg_psql -AtF $'\x1f' -c "SELECT * FROM interop_meta.compare('$db', '$t', '$t')")"
        while IFS=$'\x1f' read -r col typ v ctype nn df; do
            vals+=("$v")
            if [ "$col" != "*" ]; then
                # Flink's copy tables are declared by the harness (flink_ddl.sql): no column facts.
                [ "$consumer" != flink ] || ctype="n/a" nn="n/a" df="n/a"
                lines+=("$(printf '| | %s | %s | %s | %s | %s | %s |' "$col" "$typ" "$v" "$ctype" "$nn" "$df")")
            fi
        done <<<"$rows"
        verdict="$(table_verdict "${vals[@]}")"
        n=$((n + 1))
        if [ "$verdict" = equal ]; then
            n_equal=$((n_equal + 1))
            verdict="equal"
        elif [ -n "$note" ]; then
            n_known=$((n_known + 1))
            verdict="known limit: $note"
        else
            n_diff=$((n_diff + 1))
            verdict="DIFFERS (no known reason)"
        fi
        printf '%s\t%s\t%s\n' "$consumer" "$t" "${verdict%%:*}" >>"$W/verdicts.tsv"
        body+="$(printf '| **%s** | | | %s; consumer: %s | | | |\n| | *verdict* | | %s | | | |' "$t" "${vals[0]}" "${st:-?}" "$verdict")"$'\n'
        [ "${#lines[@]}" -eq 0 ] || body+="$(printf '%s\n' "${lines[@]}")"$'\n'
    done
    echo "### $consumer"
    echo
    echo "$n tables: $n_equal equal, $n_known differ by a known limit (the reason is in the table), $n_diff differ with no known reason."
    echo
    echo "| table | column | source type | values | copy type | NOT NULL | DEFAULT |"
    echo "|---|---|---|---|---|---|---|"
    printf '%s' "$body"
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
            local note
            note="$(note_for "$consumer" "i_specials.sp_$name")"
            case "$rows:$v" in
            "equal rows (3):equal (3 rows)") line+=" equal |" ;;
            *) line+=" ${note:+known limit: }$rows; v: $v; consumer: ${st:-?} |" ;;
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
