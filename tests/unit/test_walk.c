/*
 * test_walk.c — the value walker both encoders drive (src/encode/walk.h),
 * seen through a recording writer: every callback appends a token to a
 * trace, so a test states exactly what the walker read from a text form and
 * in which order it told the writer. test_json.c and test_protobuf.c check
 * the two real writers' bytes; this pins the contract between.
 *
 * Trace tokens: null, true/false, int(<digits>=<value>), f64(<digits>) or
 * f32(..) (nan, inf, -inf for the specials), num(<decimal>), bytes(<count>),
 * date(<days>), time(<us>), ts(<us>), iso(<text>), '<text>' for a string,
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
    const char *w = form == PGTYPE_FORM_DATE ? "date" : form == PGTYPE_FORM_TIME ? "time" : "ts";
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

static void setup(void)
{
    rec = (recorder_t) {.trace = STRBUF_INIT, .next_slot = 0};
    strbuf_reserve(&rec.trace, 1); /* a trace is a string even before its first token */
    walk_init(&walker, &recorder, &rec);
    reg = pgtype_registry_new();
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
    walk_text(&walker, (void *) 100, type, text, strlen(text));
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
    ck_assert_str_eq(walk_oid(PGTYPE_TIMESTAMPTZ, "infinity"), "'infinity'");
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
