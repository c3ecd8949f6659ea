/*
 * json.c — Debezium's change event envelope (Debezium 3.x's, envelope schema
 * version 2) as JSON text, without schemas (default) or in Kafka Connect's
 * {"schema":…,"payload":…} shape.
 *
 *   key:   {"<key col>":<value>,...}
 *   value: {"before":{...}|null,"after":{...}|null,
 *           "source":{"version":..,"connector":"sluice","name":<topic.prefix>,
 *                     "ts_ms":<commit time>,"snapshot":"false","db":..,
 *                     "sequence":"[\"<commit lsn>\",\"<lsn>\"]",
 *                     "ts_us":..,"ts_ns":..,"schema":..,"table":..,
 *                     "txId":<xid>,"lsn":<change lsn>,"xmin":null},
 *           "transaction":null|{"id":"<xid>:<commit lsn>","total_order":n,
 *                               "data_collection_order":n},
 *           "op":"c|u|d|t|m|r","ts_ms":..,"ts_us":..,"ts_ns":<processing time>}
 *
 * Values arrive as PostgreSQL's text forms (the replication session pins
 * DateStyle ISO, TimeZone UTC, IntervalStyle iso_8601, extra_float_digits,
 * bytea_output hex and lc_monetary C so those forms are exact and fixed) and
 * are written in the form pgtypes.h documents for their type, as the value
 * forms of the configuration say (decimal.handling.mode, …). The text forms
 * are read by the value walker (walk.h), which protobuf.c shares; this file
 * only says how each value looks in JSON (json_writer).
 *
 * Kafka Connect schemas are built once per relation version, in
 * json_schema.c (json_encoder_prepare_relation): Debezium's logical types,
 * `optional` from NOT NULL and key membership, constant defaults, enum
 * labels, decimal parameters — the column metadata the catalog adds
 * (catalog.h). json_internal.h holds what the two files share.
 *
 * Written directly into a reused strbuf rather than built as a jansson tree:
 * this is the per-change hot path and a tree costs an allocation per field.
 * The walker unescapes quoted array and composite items into scratch buffers
 * it keeps, so steady state allocates nothing.
 *
 * Owns nothing per event. Never drops a column: text that does not parse as
 * its type's form is written as its PostgreSQL text form.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoders.h"
#include "json_internal.h"
#include "sluice/encode/encode.h"
#include "sluice/encode/pgtext.h"
#include "sluice/pg/pgtypes.h"
#include "walk.h"

/* ---- values: the walker's writer (walk.h) --------------------------------- */

/* JSON appends in order: it has no slots, and every callback appends to enc->out. */
static strbuf_t *out_of(void *ctx)
{
    return ((encoder_t *) ctx)->out;
}

static void write_null(void *ctx, void *slot)
{
    (void) slot;
    strbuf_append(out_of(ctx), "null", 4);
}

static void write_boolean(void *ctx, void *slot, bool v)
{
    (void) slot;
    if (v)
        strbuf_append(out_of(ctx), "true", 4);
    else
        strbuf_append(out_of(ctx), "false", 5);
}

/* The digits as they came: PostgreSQL's integer output is already a JSON number. */
static void write_integer(void *ctx, void *slot, const char *digits, size_t len, int64_t v)
{
    (void) slot, (void) v;
    strbuf_append(out_of(ctx), digits, len);
}

/*
 * NaN, Infinity, -Infinity have no JSON number: the walker writes them as
 * strings. Negative zero is "-0.0": "-0" reads as the integer 0 in most
 * parsers (Jackson, Python), "-0.0" as the double.
 */
static bool write_floating(void *ctx, void *slot, bool single, const char *digits, size_t len,
                           double special)
{
    (void) slot, (void) single, (void) special;
    if (!digits)
        return false;
    if (len == 2 && digits[0] == '-' && digits[1] == '0')
        strbuf_append(out_of(ctx), "-0.0", 4);
    else
        strbuf_append(out_of(ctx), digits, len);
    return true;
}

/* numeric and money: a string (exact in any reader), or with numeric.json.number a JSON number. */
static void write_numeric(void *ctx, void *slot, const char *decimal, size_t len)
{
    (void) slot;
    const encoder_t *enc = ctx;
    if (enc->forms.numeric_json_number && pgtext_is_number(decimal, len))
        strbuf_append(enc->out, decimal, len);
    else
        json_append_string(enc->out, decimal, len);
}

/* Connect's Decimal: base64 of the unscaled bytes; Debezium's VariableScaleDecimal:
 * {"scale":s,"value":"<base64>"}. */
static void write_decimal(void *ctx, void *slot, const uint8_t *unscaled, size_t n, int32_t scale,
                          bool variable_scale)
{
    (void) slot;
    strbuf_t *out = out_of(ctx);
    if (variable_scale) {
        strbuf_appendf(out, "{\"scale\":%d,\"value\":", (int) scale);
        json_append_base64(out, unscaled, n);
        strbuf_putc(out, '}');
    } else {
        json_append_base64(out, unscaled, n);
    }
}

/*
 * bytea (bytea_output = hex, which the replication session sets) as base64,
 * Debezium's default binary form. Decoded into the output's spare room and
 * base64'd from there (written after the decoded bytes), then the base64 is
 * moved down over them: no copy of the bytes elsewhere.
 */
static bool write_bytea(void *ctx, void *slot, const char *hex, size_t len)
{
    (void) slot;
    strbuf_t *out = out_of(ctx);
    size_t cap = len / 2;
    strbuf_reserve(out, cap + (cap + 2) / 3 * 4 + 4);
    size_t mark = out->len, n;
    if (!pgtext_bytea_hex(hex, len, (uint8_t *) out->data + mark, &n)) {
        out->data[mark] = '\0';
        return false;
    }
    out->len = mark + n;
    json_append_base64(out, (const uint8_t *) out->data + mark, n);
    size_t enc_len = out->len - (mark + n);
    memmove(out->data + mark, out->data + mark + n, enc_len);
    out->len = mark + enc_len;
    out->data[out->len] = '\0';
    return true;
}

/* Dates as days, times, timestamps and intervals as microseconds: JSON numbers of any size. */
static bool write_temporal(void *ctx, void *slot, pgtype_form_t form, int64_t v)
{
    (void) slot, (void) form;
    strbuf_append_i64(out_of(ctx), v);
    return true;
}

/* The ISO-8601 text straight into the output, in quotes (it never needs escaping). */
static bool write_iso(void *ctx, void *slot, const char *s, size_t len, walk_iso_fn iso)
{
    (void) slot;
    strbuf_t *out = out_of(ctx);
    size_t mark = out->len;
    strbuf_putc(out, '"');
    if (!iso(s, len, out)) {
        out->len = mark;
        out->data[mark] = '\0';
        return false;
    }
    strbuf_putc(out, '"');
    return true;
}

static void write_string(void *ctx, void *slot, const char *s, size_t len)
{
    (void) slot;
    json_append_string(out_of(ctx), s, len);
}

static size_t write_array_begin(void *ctx, void *slot)
{
    (void) slot;
    strbuf_putc(out_of(ctx), '[');
    return 0;
}

static void *write_array_element(void *ctx, size_t array, size_t index)
{
    (void) array;
    if (index)
        strbuf_putc(out_of(ctx), ',');
    return NULL;
}

static void write_array_end(void *ctx, void *slot, size_t array)
{
    (void) slot, (void) array;
    strbuf_putc(out_of(ctx), ']');
}

/* A composite as an object of its fields: {"f1":1,"f2":"a b","f3":null}. */
static void write_composite_begin(void *ctx, void *slot, uint16_t nfields)
{
    (void) slot, (void) nfields;
    strbuf_putc(out_of(ctx), '{');
}

static void *write_composite_field(void *ctx, void *slot, uint16_t index, const char *name,
                                   const pgtype_t *type)
{
    (void) slot, (void) type;
    strbuf_t *out = out_of(ctx);
    if (index)
        strbuf_putc(out, ',');
    json_append_string(out, name, strlen(name));
    strbuf_putc(out, ':');
    return NULL;
}

static void write_composite_end(void *ctx, void *slot)
{
    (void) slot;
    strbuf_putc(out_of(ctx), '}');
}

static size_t write_mark(void *ctx)
{
    return out_of(ctx)->len;
}

static void write_rollback(void *ctx, size_t mark)
{
    strbuf_t *out = out_of(ctx);
    out->len = mark;
    if (out->data)
        out->data[mark] = '\0';
}

static const walk_writer_t json_writer = {
    .null = write_null,
    .boolean = write_boolean,
    .integer = write_integer,
    .floating = write_floating,
    .numeric = write_numeric,
    .decimal = write_decimal,
    .bytea = write_bytea,
    .temporal = write_temporal,
    .iso = write_iso,
    .string = write_string,
    .array_begin = write_array_begin,
    .array_element = write_array_element,
    .array_end = write_array_end,
    .composite_begin = write_composite_begin,
    .composite_field = write_composite_field,
    .composite_end = write_composite_end,
    .mark = write_mark,
    .rollback = write_rollback,
};

static void append_placeholder(const encoder_t *enc, strbuf_t *out, const pgtype_t *type)
{
    size_t n = strlen(enc->toast_placeholder);
    /* bytea: the placeholder's bytes, as Debezium writes it, so a bytes field stays bytes. */
    if (type->form == PGTYPE_FORM_BASE64)
        json_append_base64(out, (const uint8_t *) enc->toast_placeholder, n);
    else
        json_append_string(out, enc->toast_placeholder, n);
}

static void append_value(encoder_t *enc, strbuf_t *out, const relcache_column_t *col,
                         bool nullable, const pgo_value_t *v)
{
    const pgtype_t *type = json_column_type(col);
    switch (v->kind) {
    case PGO_VALUE_NULL: strbuf_append(out, "null", 4); return;
    case PGO_VALUE_UNCHANGED_TOAST: append_placeholder(enc, out, type); return;
    case PGO_VALUE_BINARY: json_append_base64(out, (const uint8_t *) v->data, v->len); return;
    case PGO_VALUE_TEXT:
        enc->out = out;
        walk_text(&enc->walk, NULL, type, col->typmod, nullable, v->data, v->len);
        return;
    }
    json_append_string(out, v->data, v->len);
}

static void append_name(strbuf_t *out, const char *name)
{
    json_append_string(out, name, strlen(name));
    strbuf_putc(out, ':');
}

/*
 * Writes {"col":value,...}; key_only writes just the replica identity
 * columns. fill (the whole old row, or NULL) supplies values PostgreSQL left
 * out as unchanged TOAST.
 */
static void append_row(encoder_t *enc, strbuf_t *out, const relcache_entry_t *rel,
                       const pgo_tuple_t *t, bool key_only, const pgo_tuple_t *fill)
{
    strbuf_putc(out, '{');
    bool first = true;
    uint16_t n = t->ncols < rel->ncols ? t->ncols : rel->ncols;
    for (uint16_t i = 0; i < n; i++) {
        if (key_only && !rel->columns[i].is_key)
            continue;
        if (!first)
            strbuf_putc(out, ',');
        first = false;
        append_name(out, rel->columns[i].name);
        const pgo_value_t *v = &t->values[i];
        if (v->kind == PGO_VALUE_UNCHANGED_TOAST && fill && i < fill->ncols &&
            fill->values[i].kind != PGO_VALUE_UNCHANGED_TOAST)
            v = &fill->values[i];
        append_value(enc, out, &rel->columns[i], !json_column_required(enc, rel, i), v);
    }
    strbuf_putc(out, '}');
}

encoder_t *json_encoder_new(output_format_t format, const encoder_options_t *opts)
{
    if (format != FORMAT_JSON)
        return NULL;
    encoder_t *enc = xcalloc(1, sizeof *enc);
    enc->format = format;
    enc->server_name = xstrdup(opts->server_name ? opts->server_name : "sluice");
    enc->db_name = xstrdup(opts->db_name ? opts->db_name : "");
    enc->toast_placeholder =
        xstrdup(opts->toast_placeholder ? opts->toast_placeholder : "__debezium_unavailable_value");
    enc->forms = opts->forms;
    enc->schemas = opts->schemas;
    enc->transaction_block = opts->transaction_block;
    walk_init(&enc->walk, &json_writer, enc, &opts->forms, opts->schemas);
    enc->forms = enc->walk.forms; /* float_special resolved */
    char why[200];
    if (opts->schemas &&
        !colmatch_compile(&enc->propagate, opts->propagate_source_type, why, sizeof why))
        log_warning("column.propagate.source.type: %s; no source types are propagated", why);
    return enc;
}

void json_encoder_free(encoder_t *enc)
{
    if (!enc)
        return;
    free(enc->server_name);
    free(enc->db_name);
    free(enc->toast_placeholder);
    walk_free(&enc->walk);
    strbuf_free(&enc->schema_tmp);
    colmatch_free(&enc->propagate);
    free(enc);
}

/* ---- keys and values ------------------------------------------------------ */

bool json_encoder_key(encoder_t *enc, const relcache_entry_t *rel, const pgo_tuple_t *tuple,
                      strbuf_t *out)
{
    if (rel->nkafka_keys == 0 || !tuple)
        return false;
    if (enc->schemas) {
        strbuf_puts(out, "{\"schema\":");
        if (rel->key_schema) {
            strbuf_puts(out, rel->key_schema);
        } else {
            strbuf_reset(&enc->schema_tmp);
            json_build_key_schema(enc, &enc->schema_tmp, rel);
            strbuf_append(out, enc->schema_tmp.data, enc->schema_tmp.len);
        }
        strbuf_puts(out, ",\"payload\":");
    }
    strbuf_putc(out, '{');
    for (uint16_t k = 0; k < rel->nkafka_keys; k++) {
        uint16_t i = rel->kafka_key_index[k];
        if (k)
            strbuf_putc(out, ',');
        append_name(out, rel->columns[i].name);
        const pgo_value_t *v = i < tuple->ncols ? &tuple->values[i] : NULL;
        if (v)
            append_value(enc, out, &rel->columns[i], !enc->schemas, v);
        else
            strbuf_append(out, "null", 4);
    }
    strbuf_putc(out, '}');
    if (enc->schemas)
        strbuf_putc(out, '}');
    return true;
}

#define MESSAGE_KEY_SCHEMA                                                                         \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":"          \
    "\"prefix\"}],\"optional\":false,\"name\":\"io.debezium.connector.common.MessageKey\"}"

void json_encoder_message_key(encoder_t *enc, const char *prefix, strbuf_t *out)
{
    if (enc->schemas)
        strbuf_puts(out, "{\"schema\":" MESSAGE_KEY_SCHEMA ",\"payload\":");
    strbuf_append(out, "{\"prefix\":", 10);
    json_append_string(out, prefix, strlen(prefix));
    strbuf_putc(out, '}');
    if (enc->schemas)
        strbuf_putc(out, '}');
}

static void append_lsn_string(strbuf_t *out, sluice_lsn_t lsn)
{
    strbuf_append_u64(out, (uint64_t) lsn);
}

static void append_txn_id(strbuf_t *out, const source_txn_t *txn)
{
    strbuf_appendf(out, "\"%u:%" PRIu64 "\"", txn->xid, (uint64_t) txn->commit_lsn);
}

#define MESSAGE_VALUE_SCHEMA                                                                       \
    "{\"type\":\"struct\",\"fields\":["                                                            \
    "{\"type\":\"struct\",\"fields\":[],\"optional\":true,\"field\":\"before\"},"                 \
    "{\"type\":\"struct\",\"fields\":[],\"optional\":true,\"field\":\"after\"}," SOURCE_SCHEMA      \
    "," TXN_BLOCK_SCHEMA ",{\"type\":\"struct\",\"fields\":["                                       \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"prefix\"},"                               \
    "{\"type\":\"bytes\",\"optional\":true,\"field\":\"content\"},"                                \
    "{\"type\":\"boolean\",\"optional\":false,\"field\":\"transactional\"}],"                      \
    "\"optional\":true,\"name\":\"io.debezium.connector.postgresql.Message\",\"field\":"           \
    "\"message\"}," ENVELOPE_TAIL_SCHEMA "],\"optional\":false,\"name\":"                          \
    "\"io.debezium.connector.postgresql.MessageValue\",\"version\":1}"

/* {"schema":<the event's Kafka Connect schema>,"payload": — json.schemas = true. */
static void append_value_schema(encoder_t *enc, const change_event_t *ev, strbuf_t *out)
{
    strbuf_puts(out, "{\"schema\":");
    if (ev->op == OP_MESSAGE) {
        strbuf_puts(out, MESSAGE_VALUE_SCHEMA);
    } else if (ev->rel && ev->rel->value_schema) {
        strbuf_puts(out, ev->rel->value_schema);
    } else if (ev->rel) {
        strbuf_reset(&enc->schema_tmp);
        json_build_value_schema(enc, &enc->schema_tmp, ev->rel);
        strbuf_append(out, enc->schema_tmp.data, enc->schema_tmp.len);
    }
    strbuf_puts(out, ",\"payload\":");
}

/* "before" and "after"; under REPLICA IDENTITY FULL the old row is whole and fills unchanged
 * TOAST values of the new one. */
static void append_rows(encoder_t *enc, const change_event_t *ev, strbuf_t *out)
{
    const pgo_tuple_t *full_old = ev->before && !ev->before_is_key_only ? ev->before : NULL;
    strbuf_puts(out, "{\"before\":");
    if (ev->before && ev->rel)
        append_row(enc, out, ev->rel, ev->before, ev->before_is_key_only, NULL);
    else
        strbuf_append(out, "null", 4);
    strbuf_puts(out, ",\"after\":");
    if (ev->after && ev->rel)
        append_row(enc, out, ev->rel, ev->after, false, full_old);
    else
        strbuf_append(out, "null", 4);
}

/* Debezium 3.x's source block; "schema" and "table" are required there: "" for messages. */
static void append_source(const encoder_t *enc, const change_event_t *ev, strbuf_t *out)
{
    strbuf_puts(out, ",\"source\":{\"version\":\"" SLUICE_VERSION "\",\"connector\":\"sluice\",\"name\":");
    json_append_string(out, enc->server_name, strlen(enc->server_name));
    strbuf_puts(out, ",\"ts_ms\":");
    strbuf_append_i64(out, ev->txn->commit_ts_us / 1000);
    if (ev->snapshot) {
        strbuf_puts(out, ",\"snapshot\":");
        json_append_string(out, ev->snapshot, strlen(ev->snapshot));
        strbuf_puts(out, ",\"db\":");
    } else {
        strbuf_puts(out, ev->op == OP_READ ? ",\"snapshot\":\"true\",\"db\":"
                                           : ",\"snapshot\":\"false\",\"db\":");
    }
    json_append_string(out, enc->db_name, strlen(enc->db_name));
    strbuf_puts(out, ",\"sequence\":\"[\\\"");
    append_lsn_string(out, ev->txn->commit_lsn);
    strbuf_puts(out, "\\\",\\\"");
    append_lsn_string(out, ev->lsn);
    strbuf_puts(out, "\\\"]\",\"ts_us\":");
    strbuf_append_i64(out, ev->txn->commit_ts_us);
    strbuf_puts(out, ",\"ts_ns\":");
    strbuf_append_i64(out, ev->txn->commit_ts_us * 1000);
    strbuf_puts(out, ",\"schema\":");
    if (ev->rel)
        json_append_string(out, ev->rel->nspname, strlen(ev->rel->nspname));
    else
        strbuf_append(out, "\"\"", 2);
    strbuf_puts(out, ",\"table\":");
    if (ev->rel)
        json_append_string(out, ev->rel->relname, strlen(ev->rel->relname));
    else
        strbuf_append(out, "\"\"", 2);
    strbuf_puts(out, ",\"txId\":");
    strbuf_append_u64(out, ev->txn->xid);
    strbuf_puts(out, ",\"lsn\":");
    strbuf_append_u64(out, (uint64_t) ev->lsn);
    strbuf_puts(out, ",\"xmin\":null}");
}

/* "transaction" (null without transaction.metadata, as Debezium), "message" (logical decoding
 * messages), "op", and the processing time as "ts_ms", "ts_us", "ts_ns". */
static void append_tail(const encoder_t *enc, const change_event_t *ev, strbuf_t *out)
{
    if (ev->order && enc->transaction_block) {
        strbuf_puts(out, ",\"transaction\":{\"id\":");
        append_txn_id(out, ev->txn);
        strbuf_appendf(out, ",\"total_order\":%" PRIu64 ",\"data_collection_order\":%" PRIu64 "}",
                       ev->order->total_order, ev->order->data_collection_order);
    } else {
        strbuf_puts(out, ",\"transaction\":null");
    }
    if (ev->op == OP_MESSAGE) {
        strbuf_puts(out, ",\"message\":{\"prefix\":");
        json_append_string(out, ev->msg_prefix, strlen(ev->msg_prefix));
        strbuf_puts(out, ",\"content\":");
        json_append_base64(out, (const uint8_t *) ev->msg_content, ev->msg_len);
        strbuf_appendf(out, ",\"transactional\":%s}", ev->msg_transactional ? "true" : "false");
    }
    char op_field[] = ",\"op\":\"c\",\"ts_ms\":";
    op_field[7] = (char) ev->op;
    strbuf_append(out, op_field, sizeof op_field - 1);
    strbuf_append_i64(out, ev->now_us / 1000);
    strbuf_puts(out, ",\"ts_us\":");
    strbuf_append_i64(out, ev->now_us);
    strbuf_puts(out, ",\"ts_ns\":");
    strbuf_append_i64(out, ev->now_us * 1000);
}

void json_encoder_value(encoder_t *enc, const change_event_t *ev, strbuf_t *out)
{
    if (enc->schemas)
        append_value_schema(enc, ev, out);
    append_rows(enc, ev, out);
    append_source(enc, ev, out);
    append_tail(enc, ev, out);
    strbuf_putc(out, '}');
    if (enc->schemas)
        strbuf_putc(out, '}');
}

/* ---- transaction metadata ------------------------------------------------- */

#define TXN_KEY_SCHEMA                                                                             \
    "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"}]," \
    "\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataKey\",\"version\":1}"

#define TXN_VALUE_SCHEMA                                                                           \
    "{\"type\":\"struct\",\"fields\":["                                                            \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"status\"},"                               \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"                                   \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"event_count\"},"                            \
    "{\"type\":\"array\",\"items\":{\"type\":\"struct\",\"fields\":["                              \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"data_collection\"},"                      \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"event_count\"}],\"optional\":true," \
    "\"name\":\"event.collection\",\"version\":1},"      \
    "\"optional\":true,\"field\":\"data_collections\"},"                                           \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"}],"                                \
    "\"optional\":false,\"name\":\"io.debezium.connector.common.TransactionMetadataValue\","       \
    "\"version\":1}"

void json_encoder_txn_key(encoder_t *enc, const source_txn_t *txn, strbuf_t *out)
{
    if (enc->schemas)
        strbuf_puts(out, "{\"schema\":" TXN_KEY_SCHEMA ",\"payload\":");
    strbuf_puts(out, "{\"id\":");
    append_txn_id(out, txn);
    strbuf_putc(out, '}');
    if (enc->schemas)
        strbuf_putc(out, '}');
}

void json_encoder_txn_value(encoder_t *enc, const txn_meta_t *m, int64_t now_ms, strbuf_t *out)
{
    (void) now_ms;
    if (enc->schemas)
        strbuf_puts(out, "{\"schema\":" TXN_VALUE_SCHEMA ",\"payload\":");
    strbuf_puts(out, m->end ? "{\"status\":\"END\",\"id\":" : "{\"status\":\"BEGIN\",\"id\":");
    append_txn_id(out, m->txn);
    if (m->end) {
        strbuf_appendf(out, ",\"event_count\":%" PRIu64 ",\"data_collections\":[", m->event_count);
        for (size_t i = 0; i < m->ncollections; i++) {
            if (i)
                strbuf_putc(out, ',');
            strbuf_puts(out, "{\"data_collection\":");
            json_append_string(out, m->collections[i], strlen(m->collections[i]));
            strbuf_appendf(out, ",\"event_count\":%" PRIu64 "}", m->collection_counts[i]);
        }
        strbuf_putc(out, ']');
    } else {
        strbuf_puts(out, ",\"event_count\":null,\"data_collections\":null");
    }
    strbuf_appendf(out, ",\"ts_ms\":%lld}", (long long) (m->txn->commit_ts_us / 1000));
    if (enc->schemas)
        strbuf_putc(out, '}');
}
