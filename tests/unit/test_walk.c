/*
 * test_walk.c — the value walker both encoders drive (src/encode/walk.h),
 * seen through a recording writer: every callback appends a token to a
 * trace, so a test states exactly what the walker read from a text form and
 * in which order it told the writer. test_json.c and test_protobuf.c check
 * the two real writers' bytes; this pins the contract between.
 *
 * Trace tokens: null, true/false, int(<digits>=<value>), f64(<digits>) or
 * f32(..) (nan, inf, -inf for the specials), num(<decimal>), dec(<hex>@<scale>)
 * or vdec(<hex>@<scale>) (precise decimals, fixed or variable scale), bytes(<count>),
 * date(<days>), time(<us>), ts(<us>), ival(<us>), iso(<text>), '<text>' for a string,
 * [ , ] for arrays, {name:..,name:..} for composites.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../src/encode/walk.h"
#include "sluice/encode/pgtext.h"
#include "sluice/pg/pgtypes.h"

typedef struct {
    strbuf_t trace;
    int rollbacks;
    bool refuse;     /* floating and temporal say "no form for it" */
    bool show_slots; /* prefix each token with its slot's number */
    uintptr_t next_slot;
} recorder_t;

static void tok(recorder_t *r, void *slot, const char *fmt, ...) SLUICE_PRINTF(3, 4);
static void tok(recorder_t *r, void *slot, const char *fmt, ...)
{
    if (r->show_slots)
        strbuf_appendf(&r->trace, "%lu:", (unsigned long) (uintptr_t) slot);
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    strbuf_puts(&r->trace, buf);
    if (r->show_slots)
        strbuf_putc(&r->trace, ' ');
}

static void rec_null(void *ctx, void *slot)
{
    tok(ctx, slot, "null");
}

static void rec_boolean(void *ctx, void *slot, bool v)
{
    tok(ctx, slot, "%s", v ? "true" : "false");
}

static void rec_integer(void *ctx, void *slot, const char *digits, size_t len, int64_t v)
{
    tok(ctx, slot, "int(%.*s=%lld)", (int) len, digits, (long long) v);
}

static bool rec_floating(void *ctx, void *slot, bool single, const char *digits, size_t len,
                         double special)
{
    recorder_t *r = ctx;
    if (r->refuse)
        return false;
    const char *w = single ? "f32" : "f64";
    if (digits)
        tok(r, slot, "%s(%.*s)", w, (int) len, digits);
    else
        tok(r, slot, "%s(%s)", w, isnan(special) ? "nan" : special > 0 ? "inf" : "-inf");
    return true;
}

static void rec_numeric(void *ctx, void *slot, const char *decimal, size_t len)
{
    tok(ctx, slot, "num(%.*s)", (int) len, decimal);
}

static void rec_decimal(void *ctx, void *slot, const uint8_t *unscaled, size_t n, int32_t scale,
                        bool variable_scale)
{
    char hex[256] = "";
    for (size_t i = 0; i < n && 2 * i + 2 < sizeof hex; i++)
        snprintf(hex + 2 * i, 3, "%02x", unscaled[i]);
    tok(ctx, slot, "%s(%s@%d)", variable_scale ? "vdec" : "dec", hex, (int) scale);
}

static bool rec_bytea(void *ctx, void *slot, const char *hex, size_t len)
{
    uint8_t bytes[64];
    size_t n;
    if (len / 2 > sizeof bytes || !pgtext_bytea_hex(hex, len, bytes, &n))
        return false;
    tok(ctx, slot, "bytes(%zu)", n);
    return true;
}

static bool rec_temporal(void *ctx, void *slot, pgtype_form_t form, int64_t v)
{
    recorder_t *r = ctx;
    if (r->refuse)
        return false;
    const char *w = form == PGTYPE_FORM_DATE        ? "date"
                    : form == PGTYPE_FORM_TIME      ? "time"
                    : form == PGTYPE_FORM_INTERVAL ? "ival"
                                                    : "ts";
    tok(r, slot, "%s(%lld)", w, (long long) v);
    return true;
}

static bool rec_iso(void *ctx, void *slot, const char *s, size_t len, walk_iso_fn iso)
{
    strbuf_t b = STRBUF_INIT;
    bool ok = iso(s, len, &b);
    if (ok)
        tok(ctx, slot, "iso(%s)", b.data);
    strbuf_free(&b);
    return ok;
}

static void rec_string(void *ctx, void *slot, const char *s, size_t len)
{
    tok(ctx, slot, "'%.*s'", (int) len, s);
}

static void *new_slot(recorder_t *r)
{
    return (void *) ++r->next_slot;
}

static size_t rec_array_begin(void *ctx, void *slot)
{
    tok(ctx, slot, "[");
    return (size_t) (uintptr_t) slot; /* the token comes back with each element */
}

static void *rec_array_element(void *ctx, size_t array, size_t index)
{
    recorder_t *r = ctx;
    (void) array;
    if (index)
        tok(r, (void *) array, ",");
    return new_slot(r);
}

static void rec_array_end(void *ctx, void *slot, size_t array)
{
    ck_assert_uint_eq(array, (uintptr_t) slot); /* begin's token, with begin's slot */
    tok(ctx, slot, "]");
}

static void rec_composite_begin(void *ctx, void *slot, uint16_t nfields)
{
    (void) nfields;
    tok(ctx, slot, "{");
}

static void *rec_composite_field(void *ctx, void *slot, uint16_t index, const char *name,
                                 const pgtype_t *type)
{
    (void) type;
    recorder_t *r = ctx;
    tok(r, slot, "%s%s:", index ? "," : "", name);
    return new_slot(r);
}

static void rec_composite_end(void *ctx, void *slot)
{
    tok(ctx, slot, "}");
}

static size_t rec_mark(void *ctx)
{
    return ((recorder_t *) ctx)->trace.len;
}

static void rec_rollback(void *ctx, size_t mark)
{
    recorder_t *r = ctx;
    r->trace.len = mark;
    r->trace.data[mark] = '\0';
    r->rollbacks++;
}

static const walk_writer_t recorder = {
    .null = rec_null,
    .boolean = rec_boolean,
    .integer = rec_integer,
    .floating = rec_floating,
    .numeric = rec_numeric,
    .decimal = rec_decimal,
    .bytea = rec_bytea,
    .temporal = rec_temporal,
    .iso = rec_iso,
    .string = rec_string,
    .array_begin = rec_array_begin,
    .array_element = rec_array_element,
    .array_end = rec_array_end,
    .composite_begin = rec_composite_begin,
    .composite_field = rec_composite_field,
    .composite_end = rec_composite_end,
    .mark = rec_mark,
    .rollback = rec_rollback,
};

static recorder_t rec;
static walk_t walker;
static pgtype_registry_t *reg;
static int32_t typmod = -1;  /* the column's, for the next walk */
static bool nullable = true; /* the column's, for the next walk */

static void setup(void)
{
    rec = (recorder_t) {.trace = STRBUF_INIT, .next_slot = 0};
    strbuf_reserve(&rec.trace, 1); /* a trace is a string even before its first token */
    walk_init(&walker, &recorder, &rec, NULL, false);
    reg = pgtype_registry_new();
    typmod = -1;
    nullable = true;
}

/* The walker again, with these value forms (schemaless). */
static void use_forms(value_forms_t f)
{
    walk_free(&walker);
    walk_init(&walker, &recorder, &rec, &f, false);
}

static void teardown(void)
{
    walk_free(&walker);
    strbuf_free(&rec.trace);
    pgtype_registry_free(reg);
}

/* The trace of walking text as type (slot 100 at the top). */
static const char *walk(const pgtype_t *type, const char *text)
{
    strbuf_reset(&rec.trace);
    rec.next_slot = 0;
    walk_text(&walker, (void *) 100, type, typmod, nullable, text, strlen(text));
    return rec.trace.data;
}

static const char *walk_oid(uint32_t oid, const char *text)
{
    return walk(pgtype_builtin(oid), text);
}

static const pgtype_t *composite(uint32_t oid, uint16_t n, const char *const *names,
                                 const pgtype_t *const *types)
{
    pgtype_t *c = pgtype_new_composite(oid, "public.c", n);
    for (uint16_t i = 0; i < n; i++) {
        c->field_names[i] = xstrdup(names[i]);
        c->field_types[i] = types[i];
    }
    return pgtype_registry_put(reg, c);
}

/* record_out's quoting of one field: in quotes, '"' and '\' doubled. */
static void record_quote(strbuf_t *out, const char *s)
{
    strbuf_putc(out, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            strbuf_putc(out, *s);
        strbuf_putc(out, *s);
    }
    strbuf_putc(out, '"');
}

/* ------------------------------------------------------------------------ */

START_TEST(test_scalars_are_read_by_their_form)
{
    ck_assert_str_eq(walk_oid(PGTYPE_BOOL, "t"), "true");
    ck_assert_str_eq(walk_oid(PGTYPE_BOOL, "f"), "false");
    ck_assert_str_eq(walk_oid(PGTYPE_BOOL, "yes"), "'yes'");
    ck_assert_str_eq(walk_oid(PGTYPE_INT8, "-9223372036854775808"),
                     "int(-9223372036854775808=-9223372036854775808)");
    ck_assert_str_eq(walk_oid(PGTYPE_INT4, "0"), "int(0=0)");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "-1.5e+300"), "f64(-1.5e+300)");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT4, "2.5"), "f32(2.5)");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "NaN"), "f64(nan)");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT4, "-Infinity"), "f32(-inf)");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "1,5"), "'1,5'");
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "NaN"), "num(NaN)");
    ck_assert_str_eq(walk_oid(PGTYPE_MONEY, "-$1,234.56"), "num(-1234.56)");
    ck_assert_str_eq(walk_oid(PGTYPE_MONEY, "1.234,56 EUR"), "'1.234,56 EUR'");
    ck_assert_str_eq(walk_oid(PGTYPE_BYTEA, "\\x0aff"), "bytes(2)");
    ck_assert_str_eq(walk_oid(PGTYPE_BYTEA, "\\x0g"), "'\\x0g'");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "2024-05-01"), "date(19844)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIME, "00:00:01.5"), "time(1500000)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "1970-01-01 00:00:01"), "ts(1000000)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "2024-05-01 12:00:00.5+00"),
                     "iso(2024-05-01T12:00:00.5Z)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMETZ, "12:00:00+02"), "iso(12:00:00+02:00)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "infinity"), "iso(9999-12-31T23:59:59Z)");
    ck_assert_str_eq(walk_oid(PGTYPE_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                     "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'");
    ck_assert_str_eq(walk(pgtype_unknown(), "{1,2}"), "'{1,2}'");
}
END_TEST

/* Integers as PostgreSQL writes them, or text: never a number read two ways by two writers. */
START_TEST(test_integers_follow_postgresqls_output)
{
    ck_assert_str_eq(walk_oid(PGTYPE_INT8, "9223372036854775807"),
                     "int(9223372036854775807=9223372036854775807)");
    ck_assert_str_eq(walk_oid(PGTYPE_INT8, "9223372036854775808"), "'9223372036854775808'");
    ck_assert_str_eq(walk_oid(PGTYPE_INT8, "-9223372036854775809"), "'-9223372036854775809'");
    ck_assert_str_eq(walk_oid(PGTYPE_INT4, "007"), "'007'");
    ck_assert_str_eq(walk_oid(PGTYPE_INT4, "-"), "'-'");
    ck_assert_str_eq(walk_oid(PGTYPE_INT4, ""), "''");
    ck_assert_str_eq(walk_oid(PGTYPE_INT4, "12a"), "'12a'");
    ck_assert_str_eq(walk_oid(PGTYPE_OID, "4294967295"), "int(4294967295=4294967295)");
}
END_TEST

START_TEST(test_a_writer_that_refuses_a_value_gets_its_text)
{
    rec.refuse = true;
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "2024-05-01"), "'2024-05-01'");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "NaN"), "'NaN'");
    ck_assert_str_eq(walk_oid(1182, "{2024-05-01,NULL}"), "['2024-05-01',null]");
}
END_TEST

START_TEST(test_arrays_follow_array_out)
{
    ck_assert_str_eq(walk_oid(1007, "{1,2,3}"), "[int(1=1),int(2=2),int(3=3)]");
    ck_assert_str_eq(walk_oid(1007, "{}"), "[]");
    ck_assert_str_eq(walk_oid(1007, "{{1,NULL},{3,4}}"),
                     "[[int(1=1),null],[int(3=3),int(4=4)]]");
    /* Quoting: delimiters, quotes and backslashes inside, "NULL" the string, "" the empty one. */
    ck_assert_str_eq(walk_oid(1009, "{\"a,b\",\"c\\\"d\",\"e\\\\f\",NULL,\"NULL\",\"\"}"),
                     "['a,b','c\"d','e\\f',null,'NULL','']");
    /* box[] separates its elements with ';' (a box's own text has commas). */
    ck_assert_str_eq(walk_oid(1020, "{(1,1),(0,0);(2,2),(1,1)}"),
                     "['(1,1),(0,0)','(2,2),(1,1)']");
    ck_assert_str_eq(walk_oid(1185, "{\"2024-01-02 03:04:05+00\"}"), "[iso(2024-01-02T03:04:05Z)]");
    ck_assert_int_eq(rec.rollbacks, 0);
}
END_TEST

START_TEST(test_nested_arrays_of_composites_with_nulls_and_quoting)
{
    const char *names[] = {"street", "no", "tags"};
    const pgtype_t *types[] = {pgtype_builtin(PGTYPE_TEXT), pgtype_builtin(PGTYPE_INT4),
                               pgtype_builtin(1009)};
    const pgtype_t *addr = composite(60001, 3, names, types);
    const pgtype_t *addrs = pgtype_registry_put(reg, pgtype_new_array(60002, "c[]", addr, ','));
    /*
     * array_out of three records: ("Main St ""A""",12,"{x,""y z""}"), NULL and (,,).
     * The first is quoted again as an array element (backslashes before its quotes).
     */
    const char *text = "{\"(\\\"Main St \\\"\\\"A\\\"\\\"\\\",12,\\\"{x,\\\"\\\"y z\\\"\\\"}\\\")\","
                       "NULL,\"(,,)\"}";
    ck_assert_str_eq(walk(addrs, text), "[{street:'Main St \"A\"',no:int(12=12),tags:['x','y z']},"
                                         "null,{street:null,no:null,tags:null}]");
    ck_assert_int_eq(rec.rollbacks, 0);
    /* A composite without fields is "()". */
    const pgtype_t *none = composite(60003, 0, NULL, NULL);
    ck_assert_str_eq(walk(none, "()"), "{}");
    ck_assert_str_eq(walk(none, "(1)"), "'(1)'");
}
END_TEST

/* Each value goes into the slot its element or field was given; end gets begin's slot. */
START_TEST(test_values_land_in_the_slots_the_writer_gave)
{
    rec.show_slots = true;
    ck_assert_str_eq(walk_oid(1007, "{{1,2},{3}}"),
                     "100:[ 1:[ 2:int(1=1) 1:, 3:int(2=2) 1:] 100:, 4:[ 5:int(3=3) 4:] 100:] ");
    const char *names[] = {"a", "b"};
    const pgtype_t *types[] = {pgtype_builtin(PGTYPE_INT4), pgtype_builtin(1007)};
    const pgtype_t *c = composite(60004, 2, names, types);
    ck_assert_str_eq(walk(c, "(7,\"{8}\")"),
                     "100:{ 100:a: 1:int(7=7) 100:,b: 2:[ 3:int(8=8) 2:] 100:} ");
}
END_TEST

/* Text that is not the type's shape leaves nothing half written: the writer is rolled back. */
START_TEST(test_malformed_text_is_rolled_back_to_the_text)
{
    ck_assert_str_eq(walk_oid(1007, "{1,2"), "'{1,2'");
    ck_assert_int_eq(rec.rollbacks, 1);
    ck_assert_str_eq(walk_oid(1007, "{{1},{2}"), "'{{1},{2}'");
    ck_assert_str_eq(walk_oid(1007, "{1,,2}"), "'{1,,2}'");
    ck_assert_str_eq(walk_oid(1007, "{1,2}x"), "'{1,2}x'");
    /* Lower bounds other than 1: neither format can say where the array starts. */
    ck_assert_str_eq(walk_oid(1007, "[0:2]={7,8,9}"), "'[0:2]={7,8,9}'");
    /* Six dimensions are PostgreSQL's most; a seventh is not array_out. */
    ck_assert_str_eq(walk_oid(1007, "{{{{{{1}}}}}}"), "[[[[[[int(1=1)]]]]]]");
    ck_assert_str_eq(walk_oid(1007, "{{{{{{{1}}}}}}}"), "'{{{{{{{1}}}}}}}'");

    const char *names[] = {"a", "b"};
    const pgtype_t *types[] = {pgtype_builtin(PGTYPE_INT4), pgtype_builtin(PGTYPE_INT4)};
    const pgtype_t *pair = composite(60005, 2, names, types);
    ck_assert_str_eq(walk(pair, "(1,2,3)"), "'(1,2,3)'"); /* the type changed since */
    ck_assert_str_eq(walk(pair, "(1)"), "'(1)'");
    ck_assert_str_eq(walk(pair, "(1,\"2)"), "'(1,\"2)'");
    /* A malformed element is text in place; the array around it stands. */
    const pgtype_t *pairs = pgtype_registry_put(reg, pgtype_new_array(60006, "c[]", pair, ','));
    rec.rollbacks = 0;
    ck_assert_str_eq(walk(pairs, "{\"(1,2)\",\"(3)\",NULL}"),
                     "[{a:int(1=1),b:int(2=2)},'(3)',null]");
    ck_assert_int_eq(rec.rollbacks, 1);
}
END_TEST

/*
 * Composites nested nine deep: the walker reads WALK_MAX_DEPTH - 1 levels
 * and writes the one below as its text, as json.c's schemas say it does.
 */
START_TEST(test_values_nested_past_the_depth_limit_are_text)
{
    const pgtype_t *t = pgtype_builtin(PGTYPE_INT4);
    strbuf_t text = STRBUF_INIT, inner = STRBUF_INIT;
    strbuf_puts(&text, "5");
    for (int level = 1; level <= WALK_MAX_DEPTH + 1; level++) {
        const char *names[] = {"f"};
        t = composite((uint32_t) (61000 + level), 1, names, &t);
        strbuf_reset(&inner);
        strbuf_putc(&inner, '(');
        if (level == 1)
            strbuf_puts(&inner, text.data);
        else
            record_quote(&inner, text.data);
        strbuf_putc(&inner, ')');
        strbuf_reset(&text);
        strbuf_append(&text, inner.data, inner.len);
    }
    /* WALK_MAX_DEPTH - 1 objects, then the text of the level below: ("(5)"). */
    strbuf_t want = STRBUF_INIT;
    for (int i = 0; i < WALK_MAX_DEPTH - 1; i++)
        strbuf_puts(&want, "{f:");
    strbuf_puts(&want, "'(\"(5)\")'");
    for (int i = 0; i < WALK_MAX_DEPTH - 1; i++)
        strbuf_putc(&want, '}');
    ck_assert_str_eq(walk(t, text.data), want.data);
    strbuf_free(&want);
    strbuf_free(&inner);
    strbuf_free(&text);
}
END_TEST


/* ±infinity and 24:00:00, by infinity.handling.mode (clamp is the default). */
START_TEST(test_infinity_modes)
{
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "infinity"), "date(2932896)");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "-infinity"), "date(-719162)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "infinity"), "ts(253402300799000000)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "-infinity"), "ts(-62135596800000000)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "-infinity"), "iso(0001-01-01T00:00:00Z)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIME, "24:00:00"), "time(86399999999)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMETZ, "24:00:00+02"), "iso(23:59:59.999999+02:00)");
    ck_assert_str_eq(walk_oid(1182, "{infinity,2024-05-01}"), "[date(2932896),date(19844)]");

    use_forms((value_forms_t) {.infinity = INFINITY_EXTREME});
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "infinity"), "date(2147483647)");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "-infinity"), "date(-2147483648)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "infinity"), "ts(9223372036854775807)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "-infinity"), "ts(-9223372036854775808)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "infinity"), "'infinity'");
    ck_assert_str_eq(walk_oid(PGTYPE_TIME, "24:00:00"), "time(86400000000)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMETZ, "24:00:00+02"), "iso(24:00:00+02:00)");

    use_forms((value_forms_t) {.infinity = INFINITY_NULL});
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "infinity"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "-infinity"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_TIME, "24:00:00"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMETZ, "24:00:00-05"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_TIME, "23:59:59"), "time(86399000000)");
    /* A value that must not be null is clamped. */
    nullable = false;
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "infinity"), "date(2932896)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIME, "24:00:00"), "time(86399999999)");
    /* Array elements may always be null. */
    ck_assert_str_eq(walk_oid(1182, "{infinity,2024-05-01}"), "[null,date(19844)]");
}
END_TEST

/* Finite years before 1 or after 9999, by year.range.handling.mode (keep is the default). */
START_TEST(test_year_range_modes)
{
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "0044-03-15 BC"), "date(-735160)");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "10000-01-01"), "date(2932897)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "10000-01-01 00:00:00+00"),
                     "iso(+10000-01-01T00:00:00Z)");
    /* Past int64 microseconds (294247-01-10 04:00:54.775808 on): int64's maximum. */
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "294270-01-01 00:00:00"),
                     "ts(9223372036854775807)");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "9999-12-31"), "date(2932896)");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "0001-01-01"), "date(-719162)");

    use_forms((value_forms_t) {.year_range = YEAR_RANGE_CLAMP});
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "0044-03-15 BC"), "date(-719162)");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "10000-01-01"), "date(2932896)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "0001-12-31 23:59:59 BC"),
                     "ts(-62135596800000000)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMP, "294270-01-01 00:00:00"),
                     "ts(253402300799000000)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "0001-01-01 00:00:00+00 BC"),
                     "iso(0001-01-01T00:00:00Z)");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "9999-12-31 23:59:59.999999+00"),
                     "iso(9999-12-31T23:59:59.999999Z)");
    /* infinity is infinity.handling.mode's: still clamped by default, not by this mode. */
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "infinity"), "date(2932896)");

    use_forms((value_forms_t) {.year_range = YEAR_RANGE_NULL});
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "0044-03-15 BC"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "10000-01-01 00:00:00+00"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "2024-05-01"), "date(19844)");
    nullable = false;
    ck_assert_str_eq(walk_oid(PGTYPE_DATE, "0044-03-15 BC"), "date(-719162)");
}
END_TEST

/* NaN and ±Infinity by float.special.handling.mode: string (the writer's own form) or null. */
START_TEST(test_float_special_modes)
{
    use_forms((value_forms_t) {.float_special = FLOAT_SPECIAL_STRING});
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "NaN"), "f64(nan)");
    use_forms((value_forms_t) {.float_special = FLOAT_SPECIAL_NULL});
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "NaN"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT4, "-Infinity"), "null");
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "-0"), "f64(-0)");
    nullable = false;
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "Infinity"), "f64(inf)");
    /* Unset (AUTO): null with schemas, string without. */
    walk_free(&walker);
    walk_init(&walker, &recorder, &rec, NULL, true);
    nullable = true;
    ck_assert_str_eq(walk_oid(PGTYPE_FLOAT8, "NaN"), "null");
}
END_TEST

/* numeric(p,s)'s typmod: ((p << 16) | s) + 4. */
#define NUMERIC_TYPMOD(p, s) ((((p) << 16) | ((s) & 0x7ff)) + 4)

/* decimal.handling.mode: string (default), double, precise (Connect's Decimal). */
START_TEST(test_decimal_modes)
{
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "1.50"), "num(1.50)");

    use_forms((value_forms_t) {.decimal = DECIMAL_DOUBLE});
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "12345.6789"), "f64(12345.6789)");
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "-12345678901234567890.123456789012345678901"),
                     "f64(-1.2345678901234567e+19)");
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "NaN"), "f64(nan)");
    ck_assert_str_eq(walk_oid(PGTYPE_MONEY, "-$1,234.56"), "f64(-1234.56)");
    {
        /* Past double's range: infinity, then float.special.handling.mode. */
        strbuf_t big = STRBUF_INIT;
        strbuf_putc(&big, '1');
        for (int i = 0; i < 400; i++)
            strbuf_putc(&big, '0');
        ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, big.data), "f64(inf)");
        strbuf_free(&big);
    }

    use_forms((value_forms_t) {.decimal = DECIMAL_PRECISE});
    typmod = NUMERIC_TYPMOD(5, 2);
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "1.50"), "dec(0096@2)");
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "-1.50"), "dec(ff6a@2)");
    ck_assert_str_eq(walk_oid(1231, "{1.50,NULL,-0.01}"), "[dec(0096@2),null,dec(ff@2)]");
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "NaN"), "null");
    typmod = NUMERIC_TYPMOD(5, -2);
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "12300"), "dec(7b@-2)");
    typmod = -1;
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "0.10"), "vdec(0a@2)");
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "-128"), "vdec(80@0)");
    ck_assert_str_eq(walk_oid(PGTYPE_MONEY, "$1,234.56"), "dec(01e240@2)");
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "Infinity"), "null");
    /* No Decimal holds NaN: a NOT NULL column gets 0 (and a warning in the log). */
    nullable = false;
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "NaN"), "vdec(00@0)");
    typmod = NUMERIC_TYPMOD(5, 2);
    ck_assert_str_eq(walk_oid(PGTYPE_NUMERIC, "NaN"), "dec(00@2)");
    nullable = true;
    typmod = -1;

    /* A domain over numeric(10,3) carries the typmod the column does not. */
    pgtype_t *dom = pgtype_new_alias(90001, pgtype_builtin(PGTYPE_NUMERIC));
    dom->typmod = NUMERIC_TYPMOD(10, 3);
    const pgtype_t *d = pgtype_registry_put(reg, dom);
    ck_assert_str_eq(walk(d, "1.500"), "dec(05dc@3)");
    /* A composite's field carries its own typmod. */
    const char *names[] = {"amount"};
    const pgtype_t *types[] = {pgtype_builtin(PGTYPE_NUMERIC)};
    pgtype_t *c = pgtype_new_composite(90002, "public.c", 1);
    c->field_names[0] = xstrdup(names[0]);
    c->field_types[0] = types[0];
    c->field_typmods[0] = NUMERIC_TYPMOD(8, 1);
    ck_assert_str_eq(walk(pgtype_registry_put(reg, c), "(12.5)"), "{amount:dec(7d@1)}");
}
END_TEST

START_TEST(test_interval_modes)
{
    ck_assert_str_eq(walk_oid(PGTYPE_INTERVAL, "P1Y2M-3DT4H5M6.789S"), "'P1Y2M-3DT4H5M6.789S'");
    use_forms((value_forms_t) {.interval = INTERVAL_NUMERIC});
    ck_assert_str_eq(walk_oid(PGTYPE_INTERVAL, "P1Y2M-3DT4H5M6.789S"), "ival(36572706789000)");
    ck_assert_str_eq(walk_oid(1187, "{PT1S,NULL}"), "[ival(1000000),null]");
    ck_assert_str_eq(walk_oid(PGTYPE_INTERVAL, "1 day"), "'1 day'");
}
END_TEST

static Suite *walk_suite(void)
{
    Suite *s = suite_create("walk");
    TCase *tc = tcase_create("walk");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_scalars_are_read_by_their_form);
    tcase_add_test(tc, test_integers_follow_postgresqls_output);
    tcase_add_test(tc, test_a_writer_that_refuses_a_value_gets_its_text);
    tcase_add_test(tc, test_arrays_follow_array_out);
    tcase_add_test(tc, test_nested_arrays_of_composites_with_nulls_and_quoting);
    tcase_add_test(tc, test_values_land_in_the_slots_the_writer_gave);
    tcase_add_test(tc, test_malformed_text_is_rolled_back_to_the_text);
    tcase_add_test(tc, test_values_nested_past_the_depth_limit_are_text);
    tcase_add_test(tc, test_infinity_modes);
    tcase_add_test(tc, test_year_range_modes);
    tcase_add_test(tc, test_float_special_modes);
    tcase_add_test(tc, test_decimal_modes);
    tcase_add_test(tc, test_interval_modes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(walk_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
