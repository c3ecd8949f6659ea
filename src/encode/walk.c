/*
 * walk.c — reads a value's PostgreSQL text form by its type and drives a
 * writer (walk.h). The one place that knows how each form's text looks:
 * pgtext.h parses the pieces, json.c and protobuf.c write the results.
 *
 * Owns its scratch buffers, nothing per value. Never writes a format's
 * syntax (brackets, separators, quotes): the writer does.
 */
#include <math.h>
#include <string.h>

#include "sluice/encode/pgtext.h"
#include "walk.h"

void walk_init(walk_t *w, const walk_writer_t *writer, void *ctx)
{
    *w = (walk_t) {.writer = writer, .ctx = ctx};
    for (int i = 0; i < WALK_MAX_DEPTH; i++)
        w->scratch[i] = (strbuf_t) STRBUF_INIT;
}

void walk_free(walk_t *w)
{
    for (int i = 0; i < WALK_MAX_DEPTH; i++)
        strbuf_free(&w->scratch[i]);
}

/* ---- scalars -------------------------------------------------------------- */

/* PostgreSQL's int2/int4/int8/oid output: an optional '-', no leading zeros, within int64. */
static bool parse_integer(const char *s, size_t len, int64_t *v)
{
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    if (neg)
        i = 1;
    if (i == len || len - i > 19)
        return false;
    if (s[i] == '0' && len - i > 1)
        return false;
    uint64_t u = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        u = u * 10 + (uint64_t) (s[i] - '0'); /* 19 digits cannot overflow uint64 */
    }
    if (u > (neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX))
        return false;
    if (!neg)
        *v = (int64_t) u;
    else
        *v = u == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) u;
    return true;
}

static bool text_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

static bool walk_float(const walk_t *w, void *slot, const pgtype_t *type, const char *s,
                       size_t len)
{
    bool single = type->connect == CONNECT_FLOAT32;
    if (pgtext_is_number(s, len))
        return w->writer->floating(w->ctx, slot, single, s, len, 0);
    double special;
    if (text_is(s, len, "NaN"))
        special = NAN;
    else if (text_is(s, len, "Infinity"))
        special = INFINITY;
    else if (text_is(s, len, "-Infinity"))
        special = -INFINITY;
    else
        return false;
    return w->writer->floating(w->ctx, slot, single, NULL, 0, special);
}

/* DATE, TIME, TIMESTAMP: the integer pgtext.h reads from the text. */
static bool walk_temporal(const walk_t *w, void *slot, pgtype_form_t form, const char *s,
                          size_t len)
{
    int64_t v;
    bool ok = form == PGTYPE_FORM_DATE   ? pgtext_date_value(s, len, &v)
              : form == PGTYPE_FORM_TIME ? pgtext_time_micros(s, len, &v)
                                         : pgtext_timestamp_value(s, len, &v);
    return ok && w->writer->temporal(w->ctx, slot, form, v);
}

static bool walk_money(const walk_t *w, void *slot, const char *s, size_t len)
{
    char buf[64];
    size_t n;
    if (!pgtext_money_decimal(s, len, buf, sizeof buf, &n))
        return false;
    w->writer->numeric(w->ctx, slot, buf, n);
    return true;
}

/* ---- arrays and composites ------------------------------------------------ */

static void walk_value(walk_t *w, void *slot, const pgtype_t *type, const char *s, size_t len,
                       int depth);

/*
 * One item of an array or record that is a value (NULL, BARE or QUOTED). A
 * quoted item is unescaped into the scratch buffer of this depth: its own
 * text may hold nested items, which use the deeper buffers.
 */
static void walk_item(walk_t *w, void *slot, const pgtype_t *type, const char *s,
                      const pgtext_item_t *item, int depth)
{
    if (item->kind == PGTEXT_ITEM_NULL) {
        w->writer->null(w->ctx, slot);
    } else if (item->kind == PGTEXT_ITEM_QUOTED) {
        strbuf_t *scratch = &w->scratch[depth];
        strbuf_reset(scratch);
        strbuf_reserve(scratch, item->n);
        scratch->len = pgtext_unquote(s, item, scratch->data);
        walk_value(w, slot, type, scratch->data, scratch->len, depth + 1);
    } else {
        walk_value(w, slot, type, s + item->start, item->end - item->start, depth + 1);
    }
}

/* One dimension "{...}" of array_out from s[*pos] == '{'; *pos ends past its '}'. */
static bool walk_array_dim(walk_t *w, void *slot, const pgtype_t *type, const char *s,
                           size_t len, size_t *pos, int depth, int dim)
{
    if (dim >= WALK_MAX_DIMS)
        return false;
    const walk_writer_t *wr = w->writer;
    pgtext_list_t l;
    pgtext_array_begin(&l, s, len, *pos, type->delim);
    size_t array = wr->array_begin(w->ctx, slot);
    for (size_t i = 0;; i++) {
        pgtext_item_t item = pgtext_list_next(&l);
        if (item.kind == PGTEXT_ITEM_BAD)
            return false;
        if (item.kind == PGTEXT_ITEM_END)
            break;
        void *elem = wr->array_element(w->ctx, array, i);
        if (item.kind != PGTEXT_ITEM_ARRAY)
            walk_item(w, elem, type->elem, s, &item, depth);
        else if (!walk_array_dim(w, elem, type, s, len, &l.pos, depth, dim + 1))
            return false;
    }
    wr->array_end(w->ctx, slot, array);
    *pos = l.pos;
    return true;
}

/* array_out "{1,2}", "{{1,2},{3,4}}"; "[0:2]={…}" (other lower bounds) is not walked. */
static bool walk_array(walk_t *w, void *slot, const pgtype_t *type, const char *s, size_t len,
                       int depth)
{
    if (len == 0 || s[0] != '{' || !type->elem)
        return false;
    size_t pos = 0;
    return walk_array_dim(w, slot, type, s, len, &pos, depth, 0) && pos == len;
}

/* record_out "(1,\"a b\",)"; the field count must be the type's (a changed type is text). */
static bool walk_composite(walk_t *w, void *slot, const pgtype_t *type, const char *s,
                           size_t len, int depth)
{
    const walk_writer_t *wr = w->writer;
    uint16_t nf = type->nfields;
    if (len < 2 || s[0] != '(')
        return false;
    /* "()" is one empty field to the scanner; for a type without fields it is none. */
    if (nf == 0 && !(len == 2 && s[1] == ')'))
        return false;
    wr->composite_begin(w->ctx, slot, nf);
    if (nf > 0) {
        pgtext_list_t l;
        pgtext_record_begin(&l, s, len);
        uint16_t f = 0;
        for (;; f++) {
            pgtext_item_t item = pgtext_list_next(&l);
            if (item.kind == PGTEXT_ITEM_BAD)
                return false;
            if (item.kind == PGTEXT_ITEM_END)
                break;
            if (f >= nf)
                return false;
            const pgtype_t *ft = type->field_types[f] ? type->field_types[f] : pgtype_unknown();
            const char *name = type->field_names[f] ? type->field_names[f] : "";
            void *field = wr->composite_field(w->ctx, slot, f, name, ft);
            walk_item(w, field, ft, s, &item, depth);
        }
        if (l.pos != len || f != nf)
            return false;
    }
    wr->composite_end(w->ctx, slot);
    return true;
}

/* An array or composite, or nothing written (false) when its text is not the type's shape. */
static bool walk_nested(walk_t *w, void *slot, const pgtype_t *type, const char *s, size_t len,
                        int depth)
{
    if (depth >= WALK_MAX_DEPTH - 1)
        return false;
    size_t mark = w->writer->mark(w->ctx);
    bool ok = type->form == PGTYPE_FORM_ARRAY ? walk_array(w, slot, type, s, len, depth)
                                              : walk_composite(w, slot, type, s, len, depth);
    if (!ok)
        w->writer->rollback(w->ctx, mark);
    return ok;
}

/* ---- one value ------------------------------------------------------------ */

/* Writes s as its form says, or through `string` when the form does not take it. */
static void walk_value(walk_t *w, void *slot, const pgtype_t *type, const char *s, size_t len,
                       int depth)
{
    const walk_writer_t *wr = w->writer;
    int64_t v;
    switch (type->form) {
    case PGTYPE_FORM_BOOL:
        if (len == 1 && (s[0] == 't' || s[0] == 'f')) {
            wr->boolean(w->ctx, slot, s[0] == 't');
            return;
        }
        break;
    case PGTYPE_FORM_INTEGER:
        if (parse_integer(s, len, &v)) {
            wr->integer(w->ctx, slot, s, len, v);
            return;
        }
        break;
    case PGTYPE_FORM_FLOAT:
        if (walk_float(w, slot, type, s, len))
            return;
        break;
    case PGTYPE_FORM_NUMERIC: wr->numeric(w->ctx, slot, s, len); return;
    case PGTYPE_FORM_MONEY:
        if (walk_money(w, slot, s, len))
            return;
        break;
    case PGTYPE_FORM_BASE64:
        if (wr->bytea(w->ctx, slot, s, len))
            return;
        break;
    case PGTYPE_FORM_DATE:
    case PGTYPE_FORM_TIME:
    case PGTYPE_FORM_TIMESTAMP:
        if (walk_temporal(w, slot, type->form, s, len))
            return;
        break;
    case PGTYPE_FORM_TIMESTAMPTZ:
        if (wr->iso(w->ctx, slot, s, len, pgtext_timestamptz_iso))
            return;
        break;
    case PGTYPE_FORM_TIMETZ:
        if (wr->iso(w->ctx, slot, s, len, pgtext_timetz_iso))
            return;
        break;
    case PGTYPE_FORM_ARRAY:
    case PGTYPE_FORM_COMPOSITE:
        if (walk_nested(w, slot, type, s, len, depth))
            return;
        break;
    case PGTYPE_FORM_TEXT: break;
    }
    wr->string(w->ctx, slot, s, len);
}

void walk_text(walk_t *w, void *slot, const pgtype_t *type, const char *s, size_t len)
{
    walk_value(w, slot, type, s, len, 0);
}
