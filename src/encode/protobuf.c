/*
 * protobuf.c — sluice's events as Protobuf (format = protobuf): the messages
 * of src/encode/sluice.proto, built from the decoded change and packed with
 * protobuf-c (C code generated at build time by protoc-c into build/gen/).
 *
 * The same events as json.c, value for value: each PostgreSQL type takes the
 * protobuf form of its JSON form (the table at the top of sluice.proto and in
 * docs/output.md), with the same fallbacks to PostgreSQL's text form, the same
 * TOAST rule and the same keys. Text forms are read by the value walker
 * (walk.h) that json.c drives too; this file only says how each value looks
 * as a Sluice__Value (protobuf_writer). The unit tests decode every form back
 * to JSON and require json.c's bytes for the same input (tests/unit/
 * test_protobuf.c), and the golden tests do the same end to end.
 *
 * Memory: protobuf-c packs from a tree of C structs. The tree of one event
 * (columns, values, NUL-terminated copies of text values, decoded bytea,
 * element pointer arrays) is carved from an arena the encoder keeps and
 * rewinds per event (arena.h), and the envelope lives on the stack, so
 * steady state allocates nothing. An arena that one huge event grew past its
 * keep limit (8 MB) is released at the next event rather than held for the
 * session.
 *
 * Numbers are parsed with strtod/strtof: sluice never calls setlocale, so
 * the C locale's decimal point applies.
 *
 * Owns nothing per event. Never drops a column: text that does not parse as
 * its type's form is a text_value holding the PostgreSQL text form.
 */
#include <math.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoders.h"
#include "sluice.pb-c.h"
#include "sluice/base/arena.h"
#include "sluice/encode/pgtext.h"
#include "sluice/pg/pgtypes.h"
#include "walk.h"

/* ---- encoder -------------------------------------------------------------- */

typedef struct {
    output_format_t format; /* first: encoder.c dispatches on it (encoders.h) */
    char *server_name;
    char *db_name;
    char *toast_placeholder;
    bool transaction_block;
    arena_t arena;
    /* Element pointers of the arrays being parsed, innermost last: a dimension's
     * elements are copied into the arena when it closes. Kept across events. */
    void **stack;
    size_t nstack, stack_cap;
    walk_t walk;  /* reads the text forms and calls protobuf_writer */
    strbuf_t iso; /* a timestamptz / timetz value's ISO form, before its copy into the arena */
    /* The two unchanged-TOAST markers, shared by every value that needs one. */
    Sluice__Unavailable unavailable_text, unavailable_binary;
} pb_encoder_t;

static const walk_writer_t protobuf_writer; /* below, with the values */

static void push(pb_encoder_t *enc, void *p)
{
    if (enc->nstack == enc->stack_cap) {
        enc->stack_cap = enc->stack_cap ? enc->stack_cap * 2 : 64;
        enc->stack = xrealloc(enc->stack, enc->stack_cap * sizeof *enc->stack);
    }
    enc->stack[enc->nstack++] = p;
}

encoder_t *protobuf_encoder_new(const encoder_options_t *opts)
{
    pb_encoder_t *enc = xcalloc(1, sizeof *enc);
    enc->format = FORMAT_PROTOBUF;
    enc->server_name = xstrdup(opts->server_name ? opts->server_name : "sluice");
    enc->db_name = xstrdup(opts->db_name ? opts->db_name : "");
    enc->toast_placeholder =
        xstrdup(opts->toast_placeholder ? opts->toast_placeholder : "__debezium_unavailable_value");
    enc->transaction_block = opts->transaction_block;
    sluice__unavailable__init(&enc->unavailable_text);
    enc->unavailable_text.placeholder = enc->toast_placeholder;
    sluice__unavailable__init(&enc->unavailable_binary);
    enc->unavailable_binary.placeholder = enc->toast_placeholder;
    enc->unavailable_binary.binary = true;
    walk_init(&enc->walk, &protobuf_writer, enc, &opts->forms, false);
    return (encoder_t *) (void *) enc;
}

void protobuf_encoder_free(encoder_t *e)
{
    pb_encoder_t *enc = (pb_encoder_t *) (void *) e;
    if (!enc)
        return;
    free(enc->server_name);
    free(enc->db_name);
    free(enc->toast_placeholder);
    arena_free(&enc->arena);
    free(enc->stack);
    walk_free(&enc->walk);
    strbuf_free(&enc->iso);
    free(enc);
}

/* Appends the packed message to out. */
static void pack(const ProtobufCMessage *m, strbuf_t *out)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    strbuf_reserve(out, n);
    protobuf_c_message_pack(m, (uint8_t *) out->data + out->len);
    out->len += n;
    out->data[out->len] = '\0';
}

/* ---- values: the walker's writer (walk.h) --------------------------------- */

/*
 * A slot is the Sluice__Value to fill. Text, decimals and bytes are copied
 * into the arena (protobuf-c strings are NUL-terminated; the walker's text
 * is borrowed for the call).
 */

static void set_null(void *ctx, void *slot)
{
    (void) ctx;
    Sluice__Value *v = slot;
    v->kind_case = SLUICE__VALUE__KIND_NULL_VALUE;
    v->null_value = SLUICE__NULL_VALUE__NULL_VALUE;
}

static void set_boolean(void *ctx, void *slot, bool b)
{
    (void) ctx;
    Sluice__Value *v = slot;
    v->kind_case = SLUICE__VALUE__KIND_BOOL_VALUE;
    v->bool_value = b;
}

static void set_integer(void *ctx, void *slot, const char *digits, size_t len, int64_t x)
{
    (void) ctx, (void) digits, (void) len;
    Sluice__Value *v = slot;
    v->kind_case = SLUICE__VALUE__KIND_INT_VALUE;
    v->int_value = x;
}

/* real / double precision: shortest exact text → the same float or double; NaN, ±Infinity native. */
static bool set_floating(void *ctx, void *slot, bool single, const char *digits, size_t len,
                         double special)
{
    (void) ctx;
    Sluice__Value *v = slot;
    double d = special;
    if (digits) {
        char buf[128];
        if (len >= sizeof buf)
            return false;
        memcpy(buf, digits, len);
        buf[len] = '\0';
        if (single) {
            float f = strtof(buf, NULL);
            if (isinf(f))
                return false; /* out of range: not PostgreSQL's text, keep it */
            v->kind_case = SLUICE__VALUE__KIND_FLOAT_VALUE;
            v->float_value = f;
            return true;
        }
        d = strtod(buf, NULL);
        if (isinf(d))
            return false;
    }
    if (single) {
        v->kind_case = SLUICE__VALUE__KIND_FLOAT_VALUE;
        v->float_value = (float) d;
    } else {
        v->kind_case = SLUICE__VALUE__KIND_DOUBLE_VALUE;
        v->double_value = d;
    }
    return true;
}

static void set_numeric(void *ctx, void *slot, const char *decimal, size_t len)
{
    pb_encoder_t *enc = ctx;
    Sluice__Value *v = slot;
    v->kind_case = SLUICE__VALUE__KIND_DECIMAL_VALUE;
    v->decimal_value = arena_strndup(&enc->arena, decimal, len);
}

/* decimal.handling.mode = precise: the unscaled bytes copied into the arena. */
static void set_decimal(void *ctx, void *slot, const uint8_t *unscaled, size_t n, int32_t scale,
                        bool variable_scale)
{
    pb_encoder_t *enc = ctx;
    Sluice__Value *v = slot;
    Sluice__ScaledDecimal *d = arena_alloc(&enc->arena, sizeof *d);
    sluice__scaled_decimal__init(d);
    uint8_t *bytes = arena_alloc(&enc->arena, n ? n : 1);
    memcpy(bytes, unscaled, n);
    d->unscaled.data = bytes;
    d->unscaled.len = n;
    d->scale = scale;
    d->variable_scale = variable_scale;
    v->kind_case = SLUICE__VALUE__KIND_SCALED_DECIMAL;
    v->scaled_decimal = d;
}

/* bytea's hex text "\x0aff" → its bytes, decoded into the arena. */
static bool set_bytea(void *ctx, void *slot, const char *hex, size_t len)
{
    pb_encoder_t *enc = ctx;
    Sluice__Value *v = slot;
    uint8_t *bytes = arena_alloc(&enc->arena, len / 2);
    size_t n;
    if (!pgtext_bytea_hex(hex, len, bytes, &n))
        return false;
    v->kind_case = SLUICE__VALUE__KIND_BYTES_VALUE;
    v->bytes_value.len = n;
    v->bytes_value.data = bytes;
    return true;
}

/* A date outside int32 days (JSON writes any) is text: date_days is an int32 field. */
static bool set_temporal(void *ctx, void *slot, pgtype_form_t form, int64_t x)
{
    (void) ctx;
    Sluice__Value *v = slot;
    switch (form) {
    case PGTYPE_FORM_DATE:
        if (x > INT32_MAX || x < INT32_MIN)
            return false;
        v->kind_case = SLUICE__VALUE__KIND_DATE_DAYS;
        v->date_days = (int32_t) x;
        return true;
    case PGTYPE_FORM_TIME:
        v->kind_case = SLUICE__VALUE__KIND_TIME_MICROS;
        v->time_micros = x;
        return true;
    case PGTYPE_FORM_TIMESTAMP:
        v->kind_case = SLUICE__VALUE__KIND_TIMESTAMP_MICROS;
        v->timestamp_micros = x;
        return true;
    case PGTYPE_FORM_INTERVAL:
        v->kind_case = SLUICE__VALUE__KIND_INTERVAL_MICROS;
        v->interval_micros = x;
        return true;
    default: return false;
    }
}

/* The ISO-8601 text of a timestamptz or timetz, formatted in the encoder's buffer, then copied. */
static bool set_iso(void *ctx, void *slot, const char *s, size_t len, walk_iso_fn iso)
{
    pb_encoder_t *enc = ctx;
    Sluice__Value *v = slot;
    strbuf_reset(&enc->iso);
    if (!iso(s, len, &enc->iso))
        return false;
    v->kind_case = SLUICE__VALUE__KIND_TEXT_VALUE;
    v->text_value = arena_strndup(&enc->arena, enc->iso.data, enc->iso.len);
    return true;
}

static void set_string(void *ctx, void *slot, const char *s, size_t len)
{
    pb_encoder_t *enc = ctx;
    Sluice__Value *v = slot;
    v->kind_case = SLUICE__VALUE__KIND_TEXT_VALUE;
    v->text_value = arena_strndup(&enc->arena, s, len);
}

/* An array's token is where its elements start on the pointer stack. */
static size_t set_array_begin(void *ctx, void *slot)
{
    (void) slot;
    return ((pb_encoder_t *) ctx)->nstack;
}

static void *set_array_element(void *ctx, size_t array, size_t index)
{
    (void) array, (void) index;
    pb_encoder_t *enc = ctx;
    Sluice__Value *e = arena_alloc(&enc->arena, sizeof *e);
    sluice__value__init(e);
    push(enc, e);
    return e;
}

/* Moves the element pointers pushed since the array began into it as an array_value. */
static void set_array_end(void *ctx, void *slot, size_t array)
{
    pb_encoder_t *enc = ctx;
    Sluice__Value *v = slot;
    Sluice__Array *a = arena_alloc(&enc->arena, sizeof *a);
    sluice__array__init(a);
    a->n_elements = enc->nstack - array;
    a->elements = arena_alloc(&enc->arena, a->n_elements * sizeof *a->elements);
    if (a->n_elements)
        memcpy(a->elements, enc->stack + array, a->n_elements * sizeof *a->elements);
    enc->nstack = array;
    v->kind_case = SLUICE__VALUE__KIND_ARRAY_VALUE;
    v->array_value = a;
}

/* The composite and its nfields columns, carved at once; each field fills its own. */
static void set_composite_begin(void *ctx, void *slot, uint16_t nf)
{
    pb_encoder_t *enc = ctx;
    Sluice__Value *v = slot;
    Sluice__Composite *c = arena_alloc(&enc->arena, sizeof *c);
    sluice__composite__init(c);
    Sluice__Column *cols = arena_alloc(&enc->arena, nf * sizeof *cols);
    Sluice__Value *vals = arena_alloc(&enc->arena, nf * sizeof *vals);
    c->fields = arena_alloc(&enc->arena, nf * sizeof *c->fields);
    c->n_fields = nf;
    for (uint16_t f = 0; f < nf; f++) {
        sluice__column__init(&cols[f]);
        sluice__value__init(&vals[f]);
        cols[f].value = &vals[f];
        c->fields[f] = &cols[f];
    }
    v->kind_case = SLUICE__VALUE__KIND_COMPOSITE_VALUE;
    v->composite_value = c;
}

static void *set_composite_field(void *ctx, void *slot, uint16_t index, const char *name,
                                 const pgtype_t *type)
{
    (void) ctx;
    Sluice__Column *col = ((Sluice__Value *) slot)->composite_value->fields[index];
    col->name = (char *) (uintptr_t) name;
    col->type_oid = type->oid;
    return col->value;
}

static void set_composite_end(void *ctx, void *slot)
{
    (void) ctx, (void) slot;
}

/* What a half-built array leaves is element pointers on the stack; arena bytes are reclaimed
 * at the next event. */
static size_t set_mark(void *ctx)
{
    return ((pb_encoder_t *) ctx)->nstack;
}

static void set_rollback(void *ctx, size_t mark)
{
    ((pb_encoder_t *) ctx)->nstack = mark;
}

static const walk_writer_t protobuf_writer = {
    .null = set_null,
    .boolean = set_boolean,
    .integer = set_integer,
    .floating = set_floating,
    .numeric = set_numeric,
    .decimal = set_decimal,
    .bytea = set_bytea,
    .temporal = set_temporal,
    .iso = set_iso,
    .string = set_string,
    .array_begin = set_array_begin,
    .array_element = set_array_element,
    .array_end = set_array_end,
    .composite_begin = set_composite_begin,
    .composite_field = set_composite_field,
    .composite_end = set_composite_end,
    .mark = set_mark,
    .rollback = set_rollback,
};

static const pgtype_t *column_type(const relcache_column_t *col)
{
    if (col->type)
        return col->type;
    const pgtype_t *t = pgtype_builtin(col->type_oid);
    return t ? t : pgtype_unknown();
}

static void set_value(pb_encoder_t *enc, Sluice__Value *out, const pgtype_t *type,
                      int32_t typmod, const pgo_value_t *v)
{
    switch (v->kind) {
    case PGO_VALUE_NULL: set_null(enc, out); return;
    case PGO_VALUE_UNCHANGED_TOAST:
        out->kind_case = SLUICE__VALUE__KIND_UNAVAILABLE;
        out->unavailable = type->form == PGTYPE_FORM_BASE64 ? &enc->unavailable_binary
                                                            : &enc->unavailable_text;
        return;
    case PGO_VALUE_BINARY:
        /* Binary-format values (never requested today): their bytes, as json.c's base64. */
        out->kind_case = SLUICE__VALUE__KIND_BYTES_VALUE;
        out->bytes_value.len = v->len;
        out->bytes_value.data = (uint8_t *) (uintptr_t) v->data;
        return;
    case PGO_VALUE_TEXT: walk_text(&enc->walk, out, type, typmod, true, v->data, v->len); return;
    }
    /* An unknown kind byte never passes the decoder; should one, its bytes are its text. */
    set_string(enc, out, v->data ? v->data : "", v->data ? v->len : 0);
}

/* Column i of rel with value v (the column's type decides the form). */
static void set_column(pb_encoder_t *enc, Sluice__Column *col, Sluice__Value *val,
                       const relcache_column_t *rc, const pgo_value_t *v)
{
    sluice__column__init(col);
    col->name = rc->name;
    col->type_oid = rc->type_oid;
    sluice__value__init(val);
    col->value = val;
    if (v)
        set_value(enc, val, column_type(rc), rc->typmod, v);
    else
        set_null(enc, val);
}

/*
 * The column's constant default (relcache's default_text, evaluated by
 * PostgreSQL) in the column's value form, into col->default_value; left out
 * when the form is null (a null mode took the value), as json.c's "default".
 */
static void set_default(pb_encoder_t *enc, Sluice__Column *col, const relcache_column_t *rc)
{
    if (!rc->default_text)
        return;
    Sluice__Value *d = arena_alloc(&enc->arena, sizeof *d);
    sluice__value__init(d);
    walk_text(&enc->walk, d, column_type(rc), rc->typmod, true, rc->default_text,
              strlen(rc->default_text));
    if (d->kind_case != SLUICE__VALUE__KIND_NULL_VALUE)
        col->default_value = d;
}

/*
 * The columns of t (only the replica identity's with key_only) into *n and
 * the returned array. fill (the whole old row, or NULL) supplies values
 * PostgreSQL left out as unchanged TOAST. defaults: each column carries its
 * constant default (an after row).
 */
static Sluice__Column **build_columns(pb_encoder_t *enc, const relcache_entry_t *rel,
                                      const pgo_tuple_t *t, bool key_only,
                                      const pgo_tuple_t *fill, bool defaults, size_t *n)
{
    uint16_t ncols = t->ncols < rel->ncols ? t->ncols : rel->ncols;
    size_t count = 0;
    for (uint16_t i = 0; i < ncols; i++)
        count += !key_only || rel->columns[i].is_key;
    Sluice__Column **ptrs = arena_alloc(&enc->arena, count * sizeof *ptrs);
    Sluice__Column *cols = arena_alloc(&enc->arena, count * sizeof *cols);
    Sluice__Value *vals = arena_alloc(&enc->arena, count * sizeof *vals);
    size_t k = 0;
    for (uint16_t i = 0; i < ncols; i++) {
        if (key_only && !rel->columns[i].is_key)
            continue;
        const pgo_value_t *v = &t->values[i];
        if (v->kind == PGO_VALUE_UNCHANGED_TOAST && fill && i < fill->ncols &&
            fill->values[i].kind != PGO_VALUE_UNCHANGED_TOAST)
            v = &fill->values[i];
        set_column(enc, &cols[k], &vals[k], &rel->columns[i], v);
        if (defaults)
            set_default(enc, &cols[k], &rel->columns[i]);
        ptrs[k] = &cols[k];
        k++;
    }
    *n = count;
    return ptrs;
}

/* ---- keys and values ------------------------------------------------------ */

bool protobuf_encoder_key(encoder_t *e, const relcache_entry_t *rel, const pgo_tuple_t *tuple,
                          strbuf_t *out)
{
    pb_encoder_t *enc = (pb_encoder_t *) (void *) e;
    if (rel->nkafka_keys == 0 || !tuple)
        return false;
    arena_reset(&enc->arena);
    size_t n = rel->nkafka_keys;
    Sluice__Column **ptrs = arena_alloc(&enc->arena, n * sizeof *ptrs);
    Sluice__Column *cols = arena_alloc(&enc->arena, n * sizeof *cols);
    Sluice__Value *vals = arena_alloc(&enc->arena, n * sizeof *vals);
    for (size_t k = 0; k < n; k++) {
        uint16_t i = rel->kafka_key_index[k];
        const pgo_value_t *v = i < tuple->ncols ? &tuple->values[i] : NULL;
        set_column(enc, &cols[k], &vals[k], &rel->columns[i], v);
        /* No type OID in keys: the key's bytes (its partition under murmur2, its identity
         * under compaction) depend on names and values only, not on catalog OIDs that differ
         * between databases for enums and domains. */
        cols[k].type_oid = 0;
        ptrs[k] = &cols[k];
    }
    Sluice__RowKey key = SLUICE__ROW_KEY__INIT;
    key.n_columns = n;
    key.columns = ptrs;
    pack(&key.base, out);
    return true;
}

void protobuf_encoder_message_key(encoder_t *e, const char *prefix, strbuf_t *out)
{
    (void) e;
    Sluice__MessageKey key = SLUICE__MESSAGE_KEY__INIT;
    key.prefix = (char *) (uintptr_t) prefix;
    pack(&key.base, out);
}

static Sluice__Op op_of(event_op_t op)
{
    switch (op) {
    case OP_CREATE: return SLUICE__OP__OP_CREATE;
    case OP_UPDATE: return SLUICE__OP__OP_UPDATE;
    case OP_DELETE: return SLUICE__OP__OP_DELETE;
    case OP_TRUNCATE: return SLUICE__OP__OP_TRUNCATE;
    case OP_MESSAGE: return SLUICE__OP__OP_MESSAGE;
    case OP_READ: return SLUICE__OP__OP_READ;
    }
    return SLUICE__OP__OP_UNSPECIFIED;
}

/* "<xid>:<commit LSN>", the transaction id of Debezium's metadata, into buf (32 bytes). */
static char *txn_id(const source_txn_t *txn, char *buf, size_t cap)
{
    snprintf(buf, cap, "%u:%llu", txn->xid, (unsigned long long) txn->commit_lsn);
    return buf;
}

void protobuf_encoder_value(encoder_t *e, const change_event_t *ev, strbuf_t *out)
{
    pb_encoder_t *enc = (pb_encoder_t *) (void *) e;
    arena_reset(&enc->arena);
    Sluice__ChangeEvent msg = SLUICE__CHANGE_EVENT__INIT;
    Sluice__Row before = SLUICE__ROW__INIT, after = SLUICE__ROW__INIT;
    /* Under REPLICA IDENTITY FULL the old row is whole: it fills unchanged TOAST values. */
    const pgo_tuple_t *full_old = ev->before && !ev->before_is_key_only ? ev->before : NULL;
    if (ev->before && ev->rel) {
        before.columns = build_columns(enc, ev->rel, ev->before, ev->before_is_key_only, NULL,
                                       false, &before.n_columns);
        msg.before = &before;
    }
    if (ev->after && ev->rel) {
        after.columns =
            build_columns(enc, ev->rel, ev->after, false, full_old, true, &after.n_columns);
        msg.after = &after;
    }

    Sluice__Source source = SLUICE__SOURCE__INIT;
    source.version = SLUICE_VERSION;
    source.connector = "sluice";
    source.name = enc->server_name;
    source.ts_ms = ev->txn->commit_ts_us / 1000;
    source.snapshot = (char *) (uintptr_t) (ev->snapshot ? ev->snapshot
                                                       : ev->op == OP_READ ? "true" : "false");
    source.db = enc->db_name;
    source.commit_lsn = ev->txn->commit_lsn;
    if (ev->rel) {
        source.schema = ev->rel->nspname;
        source.table = ev->rel->relname;
    }
    source.tx_id = ev->txn->xid;
    source.lsn = ev->lsn;
    source.ts_us = ev->txn->commit_ts_us;
    source.ts_ns = ev->txn->commit_ts_us * 1000;
    msg.source = &source;
    msg.op = op_of(ev->op);
    msg.ts_ms = ev->now_us / 1000;
    msg.ts_us = ev->now_us;
    msg.ts_ns = ev->now_us * 1000;

    Sluice__TransactionBlock block = SLUICE__TRANSACTION_BLOCK__INIT;
    char id[48];
    if (ev->order && enc->transaction_block) {
        block.id = txn_id(ev->txn, id, sizeof id);
        block.total_order = ev->order->total_order;
        block.data_collection_order = ev->order->data_collection_order;
        msg.transaction = &block;
    }
    Sluice__LogicalMessage message = SLUICE__LOGICAL_MESSAGE__INIT;
    if (ev->op == OP_MESSAGE) {
        message.prefix = (char *) (uintptr_t) (ev->msg_prefix ? ev->msg_prefix : "");
        message.content.len = ev->msg_len;
        message.content.data = (uint8_t *) (uintptr_t) ev->msg_content;
        message.transactional = ev->msg_transactional;
        msg.message = &message;
    }
    pack(&msg.base, out);
}

/* ---- transaction metadata ------------------------------------------------- */

void protobuf_encoder_txn_key(encoder_t *e, const source_txn_t *txn, strbuf_t *out)
{
    (void) e;
    char id[48];
    Sluice__TransactionKey key = SLUICE__TRANSACTION_KEY__INIT;
    key.id = txn_id(txn, id, sizeof id);
    pack(&key.base, out);
}

void protobuf_encoder_txn_value(encoder_t *e, const txn_meta_t *m, int64_t now_ms, strbuf_t *out)
{
    pb_encoder_t *enc = (pb_encoder_t *) (void *) e;
    (void) now_ms;
    arena_reset(&enc->arena);
    char id[48];
    Sluice__TransactionEvent te = SLUICE__TRANSACTION_EVENT__INIT;
    te.status = m->end ? SLUICE__TRANSACTION_STATUS__STATUS_END
                       : SLUICE__TRANSACTION_STATUS__STATUS_BEGIN;
    te.id = txn_id(m->txn, id, sizeof id);
    te.ts_ms = m->txn->commit_ts_us / 1000;
    if (m->end) {
        te.event_count = m->event_count;
        te.n_data_collections = m->ncollections;
        te.data_collections =
            arena_alloc(&enc->arena, m->ncollections * sizeof *te.data_collections);
        Sluice__DataCollection *dc =
            arena_alloc(&enc->arena, m->ncollections * sizeof *dc);
        for (size_t i = 0; i < m->ncollections; i++) {
            sluice__data_collection__init(&dc[i]);
            dc[i].data_collection = (char *) (uintptr_t) m->collections[i];
            dc[i].event_count = m->collection_counts[i];
            te.data_collections[i] = &dc[i];
        }
    }
    pack(&te.base, out);
}
