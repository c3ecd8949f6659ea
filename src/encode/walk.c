/*
 * walk.c — reads a value's PostgreSQL text form by its type and drives a
 * writer (walk.h). The one place that knows how each form's text looks:
 * pgtext.h parses the pieces, json.c and protobuf.c write the results.
 *
 * Owns its scratch buffers, nothing per value. Never writes a format's
 * syntax (brackets, separators, quotes): the writer does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/log.h"
#include "sluice/encode/pgtext.h"
#include "walk.h"

void walk_init(walk_t *w, const walk_writer_t *writer, void *ctx, const value_forms_t *forms,
               bool schemas)
{
    *w = (walk_t) {.writer = writer, .ctx = ctx, .bytes = STRBUF_INIT};
    if (forms)
        w->forms = *forms;
    if (w->forms.float_special == FLOAT_SPECIAL_AUTO)
        w->forms.float_special = schemas ? FLOAT_SPECIAL_NULL : FLOAT_SPECIAL_STRING;
    for (int i = 0; i < WALK_MAX_DEPTH; i++)
        w->scratch[i] = (strbuf_t) STRBUF_INIT;
}

void walk_free(walk_t *w)
{
    for (int i = 0; i < WALK_MAX_DEPTH; i++)
        strbuf_free(&w->scratch[i]);
    strbuf_free(&w->bytes);
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

/* "NaN", "Infinity", "-Infinity" (float and numeric text alike) → *v; false for other text. */
static bool special_float(const char *s, size_t len, double *v)
{
    if (text_is(s, len, "NaN"))
        *v = NAN;
    else if (text_is(s, len, "Infinity"))
        *v = INFINITY;
    else if (text_is(s, len, "-Infinity"))
        *v = -INFINITY;
    else
        return false;
    return true;
}

/*
 * NaN or ±Infinity by float.special.handling.mode: null, or the writer's own
 * form of it, else (JSON has no number for them) the strings "NaN",
 * "Infinity", "-Infinity" — also for a numeric past double's range.
 */
static bool write_special_float(const walk_t *w, void *slot, bool single, double v, bool nullable)
{
    if (w->forms.float_special == FLOAT_SPECIAL_NULL && nullable) {
        w->writer->null(w->ctx, slot);
        return true;
    }
    if (!w->writer->floating(w->ctx, slot, single, NULL, 0, v)) {
        const char *name = isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
        w->writer->string(w->ctx, slot, name, strlen(name));
    }
    return true;
}

static bool walk_float(const walk_t *w, void *slot, const pgtype_t *type, bool nullable,
                       const char *s, size_t len)
{
    bool single = type->connect == CONNECT_FLOAT32;
    if (pgtext_is_number(s, len))
        return w->writer->floating(w->ctx, slot, single, s, len, 0);
    double special;
    return special_float(s, len, &special) && write_special_float(w, slot, single, special, nullable);
}

/*
 * numeric (and money's decimal) by decimal.handling.mode. variable_scale:
 * a numeric without a declared scale (scale is then the text's own).
 */
static bool walk_decimal(walk_t *w, void *slot, const char *s, size_t len, int32_t scale,
                         bool variable_scale, bool nullable)
{
    const walk_writer_t *wr = w->writer;
    double special;
    switch (w->forms.decimal) {
    case DECIMAL_STRING: wr->numeric(w->ctx, slot, s, len); return true;
    case DECIMAL_DOUBLE: {
        if (special_float(s, len, &special))
            return write_special_float(w, slot, false, special, nullable);
        if (!pgtext_is_number(s, len))
            return false;
        strbuf_reset(&w->bytes); /* strtod wants a NUL-terminated copy, of any length */
        strbuf_append(&w->bytes, s, len);
        double d = strtod(w->bytes.data, NULL); /* never setlocale: the C locale's point */
        if (isinf(d))
            return write_special_float(w, slot, false, d, nullable);
        char buf[40];
        size_t n = pgtext_format_double(d, false, buf);
        return wr->floating(w->ctx, slot, false, buf, n, 0);
    }
    case DECIMAL_PRECISE: break;
    }
    strbuf_reset(&w->bytes);
    if (special_float(s, len, &special)) {
        /* Connect's Decimal has no NaN or infinity. */
        if (nullable) {
            wr->null(w->ctx, slot);
            return true;
        }
        if (!w->warned_required_decimal) {
            w->warned_required_decimal = true;
            log_warning("a numeric %s in a NOT NULL column has no Kafka Connect Decimal form: "
                        "written as 0 (decimal.handling.mode = precise; the string mode keeps it)",
                        s[0] == 'N' ? "NaN" : "infinity");
        }
        strbuf_putc(&w->bytes, 0);
        wr->decimal(w->ctx, slot, (const uint8_t *) w->bytes.data, 1, variable_scale ? 0 : scale,
                    variable_scale);
        return true;
    }
    if (variable_scale)
        scale = pgtext_decimal_scale(s, len);
    if (!pgtext_decimal_unscaled(s, len, scale, &w->bytes))
        return false;
    wr->decimal(w->ctx, slot, (const uint8_t *) w->bytes.data, w->bytes.len, scale, variable_scale);
    return true;
}

static bool walk_numeric(walk_t *w, void *slot, int32_t typmod, bool nullable, const char *s,
                         size_t len)
{
    int precision, scale;
    bool declared = pgtype_numeric_typmod(typmod, &precision, &scale);
    return walk_decimal(w, slot, s, len, declared ? scale : 0, !declared, nullable);
}

/* money in lc_monetary C: a decimal with two digits after the point. */
static bool walk_money(walk_t *w, void *slot, bool nullable, const char *s, size_t len)
{
    char buf[64];
    size_t n;
    if (!pgtext_money_decimal(s, len, buf, sizeof buf, &n))
        return false;
    return walk_decimal(w, slot, buf, n, 2, false, nullable);
}

/* ---- dates and times: infinity.handling.mode, year.range.handling.mode ------ */

#define DAYS_0001_01_01 INT64_C(-719162)
#define DAYS_9999_12_31 INT64_C(2932896)
#define US_0001_01_01 INT64_C(-62135596800000000)
#define US_9999_12_31_23_59_59 INT64_C(253402300799000000)
#define US_10000_01_01 INT64_C(253402300800000000)
#define US_PER_DAY INT64_C(86400000000)

/* The clamped value of form past its end (sign > 0) or before its start. */
static int64_t clamp_value(pgtype_form_t form, int sign)
{
    switch (form) {
    case PGTYPE_FORM_DATE: return sign > 0 ? DAYS_9999_12_31 : DAYS_0001_01_01;
    case PGTYPE_FORM_TIMESTAMP: return sign > 0 ? US_9999_12_31_23_59_59 : US_0001_01_01;
    default: return US_PER_DAY - 1; /* TIME: 23:59:59.999999 */
    }
}

/* Debezium's markers: the int32 / int64 extremes, 24:00:00 as 86400000000 µs. */
static int64_t extreme_value(pgtype_form_t form, int sign)
{
    switch (form) {
    case PGTYPE_FORM_DATE: return sign > 0 ? INT32_MAX : INT32_MIN;
    case PGTYPE_FORM_TIMESTAMP: return sign > 0 ? INT64_MAX : INT64_MIN;
    default: return US_PER_DAY;
    }
}

typedef enum { LIMIT_NONE, LIMIT_CLAMP, LIMIT_EXTREME, LIMIT_NULL } limit_action_t;

/*
 * What becomes of a temporal value: `special` (±infinity, 24:00:00) follows
 * infinity.handling.mode, `outside` (a year before 1 or after 9999)
 * year.range.handling.mode; a value that must not be null is clamped.
 */
static limit_action_t limit_action(const walk_t *w, bool special, bool outside, bool nullable)
{
    limit_action_t a = LIMIT_NONE;
    if (special)
        a = w->forms.infinity == INFINITY_CLAMP     ? LIMIT_CLAMP
            : w->forms.infinity == INFINITY_EXTREME ? LIMIT_EXTREME
                                                    : LIMIT_NULL;
    else if (outside)
        a = w->forms.year_range == YEAR_RANGE_CLAMP  ? LIMIT_CLAMP
            : w->forms.year_range == YEAR_RANGE_NULL ? LIMIT_NULL
                                                     : LIMIT_NONE;
    return a == LIMIT_NULL && !nullable ? LIMIT_CLAMP : a;
}

/* DATE, TIME, TIMESTAMP: the integer pgtext.h reads from the text, within the modes' limits. */
static bool walk_temporal(const walk_t *w, void *slot, pgtype_form_t form, bool nullable,
                          const char *s, size_t len)
{
    int64_t v = 0;
    int sign = 0;
    bool special = false, outside = false;
    if (form != PGTYPE_FORM_TIME && (text_is(s, len, "infinity") || text_is(s, len, "-infinity"))) {
        special = true;
        sign = s[0] == '-' ? -1 : 1;
    } else if (form == PGTYPE_FORM_DATE) {
        if (!pgtext_date_days(s, len, &v))
            return false;
        outside = v < DAYS_0001_01_01 || v > DAYS_9999_12_31;
        sign = v < 0 ? -1 : 1;
    } else if (form == PGTYPE_FORM_TIMESTAMP) {
        __int128 us;
        if (!pgtext_timestamp_micros(s, len, &us))
            return false;
        outside = us < US_0001_01_01 || us >= US_10000_01_01;
        sign = us < 0 ? -1 : 1;
        /* PostgreSQL's last 29 years (294247-01-10 on) are past int64 microseconds. */
        v = us >= INT64_MAX ? INT64_MAX : (int64_t) us;
    } else {
        if (!pgtext_time_micros(s, len, &v))
            return false;
        special = v == US_PER_DAY;
        sign = 1;
    }
    switch (limit_action(w, special, outside, nullable)) {
    case LIMIT_NONE: break;
    case LIMIT_CLAMP: v = clamp_value(form, sign); break;
    case LIMIT_EXTREME: v = extreme_value(form, sign); break;
    case LIMIT_NULL: w->writer->null(w->ctx, slot); return true;
    }
    return w->writer->temporal(w->ctx, slot, form, v);
}

/* timestamptz: an ISO-8601 string; ±infinity and years outside 1..9999 by the modes. */
static bool walk_timestamptz(const walk_t *w, void *slot, bool nullable, const char *s, size_t len)
{
    const walk_writer_t *wr = w->writer;
    bool special = text_is(s, len, "infinity") || text_is(s, len, "-infinity");
    int64_t year = 1;
    if (!special && !pgtext_timestamptz_year(s, len, &year))
        return false;
    bool late = special ? s[0] != '-' : year > 9999;
    switch (limit_action(w, special, year < 1 || year > 9999, nullable)) {
    case LIMIT_NONE: return wr->iso(w->ctx, slot, s, len, pgtext_timestamptz_iso);
    case LIMIT_CLAMP: {
        const char *bound = late ? "9999-12-31 23:59:59+00" : "0001-01-01 00:00:00+00";
        return wr->iso(w->ctx, slot, bound, strlen(bound), pgtext_timestamptz_iso);
    }
    case LIMIT_EXTREME: wr->string(w->ctx, slot, s, len); return true; /* "infinity" */
    case LIMIT_NULL: wr->null(w->ctx, slot); return true;
    }
    return false;
}

/* timetz: an ISO-8601 string keeping the offset; 24:00:00 by infinity.handling.mode. */
static bool walk_timetz(const walk_t *w, void *slot, bool nullable, const char *s, size_t len)
{
    const walk_writer_t *wr = w->writer;
    static const char day_end[] = "24:00:00";
    bool special = len > 8 && memcmp(s, day_end, 8) == 0 && (s[8] == '+' || s[8] == '-');
    switch (limit_action(w, special, false, nullable)) {
    case LIMIT_NONE:
    case LIMIT_EXTREME: return wr->iso(w->ctx, slot, s, len, pgtext_timetz_iso);
    case LIMIT_CLAMP: {
        char buf[64];
        size_t off = len - 8;
        if (off + 15 >= sizeof buf)
            return false;
        memcpy(buf, "23:59:59.999999", 15);
        memcpy(buf + 15, s + 8, off);
        return wr->iso(w->ctx, slot, buf, 15 + off, pgtext_timetz_iso);
    }
    case LIMIT_NULL: wr->null(w->ctx, slot); return true;
    }
    return false;
}

/* interval: the ISO-8601 text, or its microseconds (interval.handling.mode = numeric). */
static bool walk_interval(const walk_t *w, void *slot, const char *s, size_t len)
{
    if (w->forms.interval == INTERVAL_STRING) {
        w->writer->string(w->ctx, slot, s, len);
        return true;
    }
    int64_t us;
    bool saturated;
    return pgtext_interval_micros(s, len, &us, &saturated) &&
           w->writer->temporal(w->ctx, slot, PGTYPE_FORM_INTERVAL, us);
}

/* ---- arrays and composites ------------------------------------------------ */

static void walk_value(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod,
                       bool nullable, const char *s, size_t len, int depth);

/*
 * One item of an array or record that is a value (NULL, BARE or QUOTED). A
 * quoted item is unescaped into the scratch buffer of this depth: its own
 * text may hold nested items, which use the deeper buffers.
 */
static void walk_item(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod, const char *s,
                      const pgtext_item_t *item, int depth)
{
    if (item->kind == PGTEXT_ITEM_NULL) {
        w->writer->null(w->ctx, slot);
    } else if (item->kind == PGTEXT_ITEM_QUOTED) {
        strbuf_t *scratch = &w->scratch[depth];
        strbuf_reset(scratch);
        strbuf_reserve(scratch, item->n);
        scratch->len = pgtext_unquote(s, item, scratch->data);
        walk_value(w, slot, type, typmod, true, scratch->data, scratch->len, depth + 1);
    } else {
        walk_value(w, slot, type, typmod, true, s + item->start, item->end - item->start,
                   depth + 1);
    }
}

/* One dimension "{...}" of array_out from s[*pos] == '{'; *pos ends past its '}'. */
static bool walk_array_dim(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod,
                           const char *s, size_t len, size_t *pos, int depth, int dim)
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
            walk_item(w, elem, type->elem, typmod, s, &item, depth);
        else if (!walk_array_dim(w, elem, type, typmod, s, len, &l.pos, depth, dim + 1))
            return false;
    }
    wr->array_end(w->ctx, slot, array);
    *pos = l.pos;
    return true;
}

/* array_out "{1,2}", "{{1,2},{3,4}}"; "[0:2]={…}" (other lower bounds) is not walked. The
 * column's typmod is its elements'. */
static bool walk_array(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod, const char *s,
                       size_t len, int depth)
{
    if (len == 0 || s[0] != '{' || !type->elem)
        return false;
    size_t pos = 0;
    return walk_array_dim(w, slot, type, typmod, s, len, &pos, depth, 0) && pos == len;
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
            walk_item(w, field, ft, type->field_typmods ? type->field_typmods[f] : -1, s, &item,
                      depth);
        }
        if (l.pos != len || f != nf)
            return false;
    }
    wr->composite_end(w->ctx, slot);
    return true;
}

/* An array or composite, or nothing written (false) when its text is not the type's shape. */
static bool walk_nested(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod,
                        const char *s, size_t len, int depth)
{
    if (depth >= WALK_MAX_DEPTH - 1)
        return false;
    size_t mark = w->writer->mark(w->ctx);
    bool ok = type->form == PGTYPE_FORM_ARRAY ? walk_array(w, slot, type, typmod, s, len, depth)
                                              : walk_composite(w, slot, type, s, len, depth);
    if (!ok)
        w->writer->rollback(w->ctx, mark);
    return ok;
}

/* ---- one value ------------------------------------------------------------ */

/* Writes s as its form says, or through `string` when the form does not take it. */
static void walk_value(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod,
                       bool nullable, const char *s, size_t len, int depth)
{
    const walk_writer_t *wr = w->writer;
    int64_t v;
    typmod = pgtype_effective_typmod(type, typmod);
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
        if (walk_float(w, slot, type, nullable, s, len))
            return;
        break;
    case PGTYPE_FORM_NUMERIC:
        if (walk_numeric(w, slot, typmod, nullable, s, len))
            return;
        break;
    case PGTYPE_FORM_MONEY:
        if (walk_money(w, slot, nullable, s, len))
            return;
        break;
    case PGTYPE_FORM_BASE64:
        if (wr->bytea(w->ctx, slot, s, len))
            return;
        break;
    case PGTYPE_FORM_DATE:
    case PGTYPE_FORM_TIME:
    case PGTYPE_FORM_TIMESTAMP:
        if (walk_temporal(w, slot, type->form, nullable, s, len))
            return;
        break;
    case PGTYPE_FORM_TIMESTAMPTZ:
        if (walk_timestamptz(w, slot, nullable, s, len))
            return;
        break;
    case PGTYPE_FORM_TIMETZ:
        if (walk_timetz(w, slot, nullable, s, len))
            return;
        break;
    case PGTYPE_FORM_INTERVAL:
        if (walk_interval(w, slot, s, len))
            return;
        break;
    case PGTYPE_FORM_ARRAY:
    case PGTYPE_FORM_COMPOSITE:
        if (walk_nested(w, slot, type, typmod, s, len, depth))
            return;
        break;
    case PGTYPE_FORM_TEXT: break;
    }
    wr->string(w->ctx, slot, s, len);
}

void walk_text(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod, bool nullable,
               const char *s, size_t len)
{
    walk_value(w, slot, type, typmod, nullable, s, len, 0);
}
