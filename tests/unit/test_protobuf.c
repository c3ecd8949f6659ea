/*
 * test_protobuf.c — the Protobuf encoder (format = protobuf, sluice.proto).
 *
 * Equal in content to JSON: every event and every value of the type table
 * (each form, its edge values, and malformed texts that keep their text
 * form) is encoded by both encoders, and the Protobuf bytes, decoded with
 * protobuf-c by the test consumer (tests/tools/pbjson.h, the one the golden
 * tests use), must give json.c's bytes exactly. Typed checks then pin the
 * wire form of each (a date is date_days, a real a float, …), the
 * unchanged-TOAST marker must differ from a real value equal to the
 * placeholder, and random and malformed texts must never crash the encoder
 * (this suite also runs under ASan+UBSan).
 */
#include <check.h>
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/pbjson.h"
#include "sluice/encode/encode.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"
#include "wire_builder.h"

#include "recorded_vectors.h"

static pgo_decoder_t *dec;
static relcache_t *cache;
static encoder_t *jenc, *penc;
static strbuf_t jout, pout, conv;
static vec_t held[16]; /* decoded change messages point into these */
static size_t nheld;
static Sluice__ChangeEvent *unpacked;

static const source_txn_t txn = {
    .xid = 738, .commit_lsn = 0x1932708, .commit_ts_us = INT64_C(1700000000123456)};

static void make_encoders(const encoder_options_t *opts)
{
    encoder_free(jenc);
    encoder_free(penc);
    jenc = encoder_new(FORMAT_JSON, opts);
    penc = encoder_new(FORMAT_PROTOBUF, opts);
    ck_assert_ptr_nonnull(jenc);
    ck_assert_ptr_nonnull(penc);
}

static void setup(void)
{
    dec = pgo_decoder_new();
    cache = relcache_new("pg1");
    jenc = penc = NULL;
    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop"};
    make_encoders(&opts);
    jout = pout = conv = (strbuf_t) STRBUF_INIT;
    nheld = 0;
    unpacked = NULL;
}

static void teardown(void)
{
    for (size_t i = 0; i < nheld; i++)
        v_free(&held[i]);
    if (unpacked)
        sluice__change_event__free_unpacked(unpacked, NULL);
    strbuf_free(&jout);
    strbuf_free(&pout);
    strbuf_free(&conv);
    encoder_free(jenc);
    encoder_free(penc);
    relcache_free(cache);
    pgo_decoder_free(dec);
}

static void decode_into(vec_t v, pgo_msg_t *m)
{
    ck_assert_uint_lt(nheld, 16);
    held[nheld++] = v;
    char err[256];
    ck_assert_msg(pgo_decode(dec, v.data, v.len, m, err, sizeof err), "decode: %s", err);
}

/* RELATION messages are copied by the cache: their bytes are freed at once. */
static relcache_entry_t *put_relation(vec_t v)
{
    pgo_msg_t m;
    char err[256];
    ck_assert_msg(pgo_decode(dec, v.data, v.len, &m, err, sizeof err), "decode: %s", err);
    ck_assert_int_eq(m.kind, PGO_RELATION);
    relcache_entry_t *e = relcache_put(cache, &m);
    v_free(&v);
    return e;
}

/* A relation with one column per type; column i is named c<i>. */
static relcache_entry_t *put_typed_relation(const uint32_t *types, uint16_t n, const bool *keys)
{
    vec_t v = {0};
    v_u8(&v, 'R');
    v_u32(&v, 30000);
    v_str(&v, "public");
    v_str(&v, "typed");
    v_u8(&v, 'd');
    v_u16(&v, n);
    for (uint16_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%u", (unsigned) i);
        v_u8(&v, keys && keys[i] ? 1 : 0);
        v_str(&v, name);
        v_u32(&v, types[i]);
        v_u32(&v, 0xffffffff);
    }
    return put_relation(v_seal(v));
}

static change_event_t event(event_op_t op, const relcache_entry_t *rel)
{
    change_event_t ev = {.op = op,
                         .rel = rel,
                         .lsn = 0x1932610,
                         .txn = &txn,
                         .now_us = INT64_C(1700000000999000)};
    return ev;
}

/* JSON text of a Protobuf record, by the test consumer; fails the test if it does not decode. */
static const char *as_json(pbj_topic_t kind, bool is_key, const strbuf_t *pb)
{
    strbuf_reset(&conv);
    pbj_options_t o = {0};
    ck_assert_msg(pbjson_record(kind, is_key, pb->data, pb->len, &o, &conv),
                  "the Protobuf record (%zu bytes) does not decode", pb->len);
    return conv.data;
}

/*
 * Encodes ev (and, with a key tuple, its key) in both formats and requires
 * the Protobuf record to decode to the JSON encoder's bytes. Keeps the
 * unpacked Protobuf event for typed checks.
 */
static void assert_same_event(const change_event_t *ev, const pgo_tuple_t *key_tuple)
{
    strbuf_reset(&jout);
    strbuf_reset(&pout);
    encoder_value(jenc, ev, &jout);
    encoder_value(penc, ev, &pout);
    ck_assert_str_eq(as_json(PBJ_TABLE, false, &pout), jout.data);
    if (unpacked)
        sluice__change_event__free_unpacked(unpacked, NULL);
    unpacked = sluice__change_event__unpack(NULL, pout.len, (const uint8_t *) pout.data);
    ck_assert_ptr_nonnull(unpacked);
    if (key_tuple && ev->rel) {
        strbuf_reset(&jout);
        strbuf_reset(&pout);
        bool jk = encoder_key(jenc, ev->rel, key_tuple, &jout);
        bool pk = encoder_key(penc, ev->rel, key_tuple, &pout);
        ck_assert_int_eq(jk, pk);
        if (jk)
            ck_assert_str_eq(as_json(PBJ_TABLE, true, &pout), jout.data);
    }
}

/* One value of `type` (t, or the built-in for oid) as c0 of an insert, in both formats. */
static const Sluice__Value *both(const pgtype_t *t, uint32_t oid, char kind, const char *text,
                                 size_t len)
{
    relcache_entry_t *rel = put_typed_relation(&oid, 1, NULL);
    rel->columns[0].type = t;
    pgo_value_t val = {.kind = (pgo_value_kind_t) kind, .len = (uint32_t) len, .data = text};
    pgo_tuple_t tuple = {.ncols = 1, .values = &val};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    assert_same_event(&ev, NULL);
    ck_assert_ptr_nonnull(unpacked->after);
    ck_assert_uint_eq(unpacked->after->n_columns, 1);
    ck_assert_str_eq(unpacked->after->columns[0]->name, "c0");
    ck_assert_uint_eq(unpacked->after->columns[0]->type_oid, oid);
    return unpacked->after->columns[0]->value;
}

static const Sluice__Value *both_text(uint32_t oid, const char *text)
{
    return both(NULL, oid, 't', text, strlen(text));
}

static const Sluice__Value *both_typed(const pgtype_t *t, const char *text)
{
    return both(t, t->oid, 't', text, strlen(text));
}

/* ------------------------------------------------------------------------ */
/* The type table, value for value                                           */

typedef struct {
    uint32_t oid;
    const char *text;
} case_t;

/*
 * Every form of the type table (docs/output.md) with its edge values (the golden
 * types.sql rows among them), and texts that are not the form's (kept as
 * text by both encoders).
 */
static const case_t type_cases[] = {
    {PGTYPE_BOOL, "t"}, {PGTYPE_BOOL, "f"}, {PGTYPE_BOOL, "yes"}, {PGTYPE_BOOL, ""},
    {PGTYPE_INT2, "-32768"}, {PGTYPE_INT2, "32767"}, {PGTYPE_INT4, "0"},
    {PGTYPE_INT4, "-2147483648"}, {PGTYPE_INT8, "-9223372036854775808"},
    {PGTYPE_INT8, "9223372036854775807"}, {PGTYPE_OID, "4294967295"}, {PGTYPE_INT4, "12a"},
    {PGTYPE_INT4, "-"}, {PGTYPE_INT4, ""},
    {PGTYPE_FLOAT4, "-3.4028235e+38"}, {PGTYPE_FLOAT4, "0.1"}, {PGTYPE_FLOAT4, "1e-05"},
    {PGTYPE_FLOAT4, "1e-45"}, {PGTYPE_FLOAT4, "100000"}, {PGTYPE_FLOAT4, "1e+06"},
    {PGTYPE_FLOAT4, "123456.7"}, {PGTYPE_FLOAT4, "0.0001"}, {PGTYPE_FLOAT4, "NaN"},
    {PGTYPE_FLOAT4, "Infinity"}, {PGTYPE_FLOAT4, "-Infinity"}, {PGTYPE_FLOAT4, "3.1415927"},
    {PGTYPE_FLOAT8, "2.2250738585072014e-308"}, {PGTYPE_FLOAT8, "1e-320"},
    {PGTYPE_FLOAT8, "5e-324"}, {PGTYPE_FLOAT8, "1.7976931348623157e+308"},
    {PGTYPE_FLOAT8, "-0"}, {PGTYPE_FLOAT8, "0"}, {PGTYPE_FLOAT8, "0.1"},
    {PGTYPE_FLOAT8, "9.5"}, {PGTYPE_FLOAT8, "-1.5e+300"}, {PGTYPE_FLOAT8, "1e+15"},
    {PGTYPE_FLOAT8, "123456789012345.6"}, {PGTYPE_FLOAT8, "100000000000000"},
    {PGTYPE_FLOAT8, "0.0001"}, {PGTYPE_FLOAT8, "1e-05"}, {PGTYPE_FLOAT8, "0.30000000000000004"},
    {PGTYPE_FLOAT8, "NaN"}, {PGTYPE_FLOAT8, "Infinity"}, {PGTYPE_FLOAT8, "-Infinity"},
    {PGTYPE_FLOAT8, "1,5"},
    {PGTYPE_NUMERIC, "-12345678901234567890.123456789012345678901"}, {PGTYPE_NUMERIC, "0.10"},
    {PGTYPE_NUMERIC, "NaN"}, {PGTYPE_NUMERIC, "Infinity"}, {PGTYPE_NUMERIC, "-Infinity"},
    {PGTYPE_MONEY, "-$92,233,720,368,547,758.08"}, {PGTYPE_MONEY, "$92,233,720,368,547,758.07"},
    {PGTYPE_MONEY, "$1,234.56"}, {PGTYPE_MONEY, "1.234,56 EUR"},
    {PGTYPE_TEXT, "tab\tnewline\nquote\" backslash\\ unicode \xc3\xa9 \xe2\x98\x83"},
    {PGTYPE_TEXT, ""}, {PGTYPE_VARCHAR, "short"}, {PGTYPE_BPCHAR, "ab "}, {PGTYPE_NAME, "a_name"},
    {PGTYPE_CHAR, "x"}, {PGTYPE_TEXT, "__debezium_unavailable_value"},
    {PGTYPE_BYTEA, "\\x00ff10"}, {PGTYPE_BYTEA, "\\x"}, {PGTYPE_BYTEA, "\\xdeadBEEF"},
    {PGTYPE_BYTEA, "\\x123"}, {PGTYPE_BYTEA, "\\x0g"}, {PGTYPE_BYTEA, "abc\\000"},
    {PGTYPE_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
    {PGTYPE_JSON, "{\"a\": [1, 2.50, null]}"}, {PGTYPE_JSONB, "{\"a\": 1, \"b\": {\"c\": true}}"},
    {PGTYPE_XML, "<a x=\"1\">text &amp; more</a>"},
    {PGTYPE_DATE, "0001-01-01"}, {PGTYPE_DATE, "4713-01-01 BC"}, {PGTYPE_DATE, "5874897-12-31"},
    {PGTYPE_DATE, "2024-02-29"}, {PGTYPE_DATE, "0044-03-15 BC"}, {PGTYPE_DATE, "infinity"},
    {PGTYPE_DATE, "-infinity"}, {PGTYPE_DATE, "05/01/2024"}, {PGTYPE_DATE, "2024-13-01"},
    {PGTYPE_TIME, "00:00:00"}, {PGTYPE_TIME, "24:00:00"}, {PGTYPE_TIME, "12:34:56.789012"},
    {PGTYPE_TIME, "25:00:00"},
    {PGTYPE_TIMETZ, "00:00:00+14"}, {PGTYPE_TIMETZ, "23:59:59.999999-15:59"},
    {PGTYPE_TIMETZ, "12:34:56.5+05:30"}, {PGTYPE_TIMETZ, "12:00:00-00:53:28"},
    {PGTYPE_TIMETZ, "12:00:00 PST"},
    {PGTYPE_TIMESTAMP, "1970-01-01 00:00:00"}, {PGTYPE_TIMESTAMP, "2000-02-29 23:59:59.999"},
    {PGTYPE_TIMESTAMP, "4713-01-01 00:00:00 BC"}, {PGTYPE_TIMESTAMP, "294246-12-31 23:59:59.999"},
    {PGTYPE_TIMESTAMP, "294246-12-31 23:59:59.999999"},
    {PGTYPE_TIMESTAMP, "294276-12-31 23:59:59.999999"}, {PGTYPE_TIMESTAMP, "infinity"},
    {PGTYPE_TIMESTAMP, "-infinity"}, {PGTYPE_TIMESTAMP, "0044-03-15 12:00:00 BC"},
    {PGTYPE_TIMESTAMPTZ, "1970-01-01 00:00:00+00"}, {PGTYPE_TIMESTAMPTZ, "4713-01-01 00:00:00+00 BC"},
    {PGTYPE_TIMESTAMPTZ, "294246-12-31 23:59:59.999999+00"},
    {PGTYPE_TIMESTAMPTZ, "10000-01-01 00:00:00+00"}, {PGTYPE_TIMESTAMPTZ, "2024-01-02 03:04:05+05:30"},
    {PGTYPE_TIMESTAMPTZ, "infinity"}, {PGTYPE_TIMESTAMPTZ, "-infinity"},
    {PGTYPE_TIMESTAMPTZ, "2024-01-02 03:04:05"}, {PGTYPE_TIMESTAMPTZ, "12345678901234567890123-01-01 00:00:00+00"},
    {PGTYPE_TIMESTAMPTZ, "9223372036854775803-01-01 00:00:00+00"}, /* a year just below int64's end */
    {PGTYPE_INTERVAL, "P-178000000Y"}, {PGTYPE_INTERVAL, "P1Y2M-3DT4H5M6.789S"},
    {869, "192.168.0.1/24"}, {650, "10.0.0.0/8"}, {829, "08:00:2b:01:02:03"},
    {774, "08:00:2b:01:02:03:04:05"}, {1560, "1010"}, {1562, ""},
    {3614, "'a' 'cat':3 'fat' 'sat'"}, {3615, "'fat' & ( 'rat' | 'cat' )"},
    {3904, "[1,5)"}, {3906, "(,)"}, {3910, "[\"2024-01-01 00:00:00+00\",infinity)"},
    {3912, "empty"}, {4451, "{[1,3),[5,7)}"},
    {PGTYPE_POINT, "(1.5,-2)"}, {628, "{1,-1,0}"}, {601, "[(0,0),(1,1)]"},
    {PGTYPE_BOX, "(1,1),(0,0)"}, {602, "[(0,0),(1,1),(2,0)]"}, {604, "((0,0),(1,1),(1,0))"},
    {718, "<(0,0),1.5>"}, {3220, "0/16B3748"},
    {16387, "happy"}, /* a type nobody described: its text form */
    /* arrays */
    {1007, "{1,2,3}"}, {1007, "{}"}, {1007, "{{1,2},{3,4}}"}, {1007, "{{NULL,1},{2,NULL}}"},
    {1007, "[0:2]={7,8,9}"}, {1007, "{1,2"}, {1007, "{1,,2}"}, {1007, "{1,2,NULL,-3}"},
    {1009, "{\"a,b\",\"c\\\"d\",\"e\\\\f\",NULL,\"NULL\",\"\"}"}, {1009, "{\"abc}"},
    {1009, "{NULL,NULL}"}, {1000, "{t,f}"}, {1182, "{1970-01-02,infinity}"},
    {1115, "{\"2024-01-01 00:00:00\",infinity}"}, {1115, "{-infinity,\"0001-01-01 00:00:00 BC\"}"},
    {1001, "{\"\\\\x00\",\"\\\\xff\"}"}, {1022, "{NaN,1.5}"}, {1021, "{0.1,-Infinity}"},
    {1020, "{(1,1),(0,0);(2,2),(1,1)}"}, {3807, "{\"{\\\"k\\\": \\\"v\\\"}\"}"},
    {1231, "{1.50,NaN}"}, {791, "{$1.00,-$2.50}"}, {1185, "{\"2024-01-02 03:04:05+00\"}"},
    {1270, "{12:00:00+02}"}, {1183, "{00:00:01}"},
};

START_TEST(test_every_type_form_decodes_to_the_json_encoders_bytes)
{
    for (size_t i = 0; i < sizeof type_cases / sizeof type_cases[0]; i++)
        both_text(type_cases[i].oid, type_cases[i].text);
}
END_TEST

START_TEST(test_registered_types_decode_to_the_json_encoders_bytes)
{
    pgtype_registry_t *reg = pgtype_registry_new();
    pgtype_t *c = pgtype_new_composite(50001, "public.addr", 4);
    const char *names[] = {"street", "no", "tags", "since"};
    const pgtype_t *types[] = {pgtype_builtin(PGTYPE_TEXT), pgtype_builtin(PGTYPE_INT4),
                               pgtype_builtin(1009), pgtype_builtin(PGTYPE_DATE)};
    for (int i = 0; i < 4; i++) {
        c->field_names[i] = strdup(names[i]);
        c->field_types[i] = types[i];
    }
    const pgtype_t *addr = pgtype_registry_put(reg, c);
    const pgtype_t *arr = pgtype_registry_put(reg, pgtype_new_array(50002, "addr[]", addr, ','));
    const pgtype_t *dom = pgtype_registry_put(reg, pgtype_new_alias(50003, pgtype_builtin(PGTYPE_INT4)));
    const pgtype_t *en = pgtype_registry_put(reg, pgtype_new_text(50004, "public.mood", "io.debezium.data.Enum"));
    const pgtype_t *f4dom = pgtype_registry_put(reg, pgtype_new_alias(50005, pgtype_builtin(PGTYPE_FLOAT4)));
    const pgtype_t *bydom = pgtype_registry_put(reg, pgtype_new_alias(50006, pgtype_builtin(PGTYPE_BYTEA)));
    pgtype_t *empty = pgtype_new_composite(50007, "public.nothing", 0);
    const pgtype_t *none = pgtype_registry_put(reg, empty);

    const Sluice__Value *v =
        both_typed(addr, "(\"Main \"\"St\"\", 1\",1,\"{a,\"\"b c\"\",NULL}\",2020-02-02)");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_COMPOSITE_VALUE);
    ck_assert_uint_eq(v->composite_value->n_fields, 4);
    ck_assert_str_eq(v->composite_value->fields[0]->name, "street");
    ck_assert_uint_eq(v->composite_value->fields[0]->type_oid, PGTYPE_TEXT);
    ck_assert_str_eq(v->composite_value->fields[0]->value->text_value, "Main \"St\", 1");
    ck_assert_uint_eq(v->composite_value->fields[2]->type_oid, 1009);
    ck_assert_int_eq(v->composite_value->fields[2]->value->kind_case, SLUICE__VALUE__KIND_ARRAY_VALUE);
    ck_assert_int_eq(v->composite_value->fields[3]->value->date_days, 18294);
    both_typed(addr, "(,,,)");
    both_typed(addr, "(\"\",0,{},)");
    both_typed(addr, "(a,1)");       /* the type changed since: its text form */
    both_typed(addr, "(a,1,{},,x)"); /* one field too many */
    both_typed(addr, "(a,1,{},");    /* cut short */
    both_typed(arr, "{\"(x,1,{},)\",NULL}");
    both_typed(arr, "{}");
    both_typed(arr, "{\"(x,1,\\\"{a,b}\\\",2020-01-01)\"}");
    v = both_typed(dom, "42");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_INT_VALUE);
    ck_assert_int_eq(v->int_value, 42);
    both_typed(en, "happy");
    v = both_typed(f4dom, "0.1");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_FLOAT_VALUE);
    v = both_typed(bydom, "\\x0102");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_BYTES_VALUE);
    v = both(bydom, bydom->oid, 'u', NULL, 0);
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_UNAVAILABLE);
    ck_assert(v->unavailable->binary);
    v = both_typed(none, "()");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_COMPOSITE_VALUE);
    ck_assert_uint_eq(v->composite_value->n_fields, 0);
    both_typed(none, "(1)");
    pgtype_registry_free(reg);
}
END_TEST

START_TEST(test_values_take_their_typed_cases)
{
    const Sluice__Value *v = both_text(PGTYPE_BOOL, "t");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_BOOL_VALUE);
    ck_assert(v->bool_value);
    v = both_text(PGTYPE_BOOL, "f");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_BOOL_VALUE);
    ck_assert(!v->bool_value);
    v = both_text(PGTYPE_INT8, "-9223372036854775808");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_INT_VALUE);
    ck_assert(v->int_value == INT64_MIN);
    v = both_text(PGTYPE_INT4, "0");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_INT_VALUE); /* zero is sent, not absent */
    v = both_text(PGTYPE_FLOAT4, "-3.4028235e+38");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_FLOAT_VALUE);
    ck_assert(v->float_value == -3.4028235e+38f);
    v = both_text(PGTYPE_FLOAT8, "NaN");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_DOUBLE_VALUE);
    ck_assert(isnan(v->double_value));
    v = both_text(PGTYPE_FLOAT8, "-0");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_DOUBLE_VALUE);
    ck_assert(v->double_value == 0 && signbit(v->double_value));
    v = both_text(PGTYPE_NUMERIC, "-1.50");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_DECIMAL_VALUE);
    ck_assert_str_eq(v->decimal_value, "-1.50");
    v = both_text(PGTYPE_MONEY, "-$1,234.56");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_DECIMAL_VALUE);
    ck_assert_str_eq(v->decimal_value, "-1234.56");
    v = both_text(PGTYPE_BYTEA, "\\x00ff10");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_BYTES_VALUE);
    ck_assert_uint_eq(v->bytes_value.len, 3);
    ck_assert_int_eq(memcmp(v->bytes_value.data, "\x00\xff\x10", 3), 0);
    v = both_text(PGTYPE_BYTEA, "\\x");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_BYTES_VALUE);
    ck_assert_uint_eq(v->bytes_value.len, 0);
    v = both_text(PGTYPE_DATE, "0044-03-15 BC");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_DATE_DAYS);
    ck_assert_int_eq(v->date_days, -735160);
    v = both_text(PGTYPE_DATE, "-infinity"); /* infinity.handling.mode = clamp: 0001-01-01 */
    ck_assert_int_eq(v->date_days, -719162);
    v = both_text(PGTYPE_TIME, "24:00:00");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_TIME_MICROS);
    ck_assert(v->time_micros == INT64_C(86399999999));
    v = both_text(PGTYPE_TIMESTAMP, "2024-05-01 12:34:56.789");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_TIMESTAMP_MICROS);
    ck_assert(v->timestamp_micros == INT64_C(1714566896789000));
    v = both_text(PGTYPE_TIMESTAMP, "infinity");
    ck_assert(v->timestamp_micros == INT64_C(253402300799000000));
    v = both_text(PGTYPE_TIMESTAMPTZ, "0044-03-15 00:00:00+00 BC");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_TEXT_VALUE);
    ck_assert_str_eq(v->text_value, "-0043-03-15T00:00:00Z");
    v = both_text(PGTYPE_TIMETZ, "12:00:00.5+02");
    ck_assert_str_eq(v->text_value, "12:00:00.5+02:00");
    v = both_text(1007, "{{1,2},{3,NULL}}");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_ARRAY_VALUE);
    ck_assert_uint_eq(v->array_value->n_elements, 2);
    const Sluice__Array *inner = v->array_value->elements[1]->array_value;
    ck_assert_uint_eq(inner->n_elements, 2);
    ck_assert_int_eq(inner->elements[0]->int_value, 3);
    ck_assert_int_eq(inner->elements[1]->kind_case, SLUICE__VALUE__KIND_NULL_VALUE);
    /* Texts that are not their type's form stay text, exactly as PostgreSQL sent them. */
    v = both_text(1007, "[0:2]={7,8,9}");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_TEXT_VALUE);
    ck_assert_str_eq(v->text_value, "[0:2]={7,8,9}");
    v = both_text(PGTYPE_TIMESTAMP, "294276-12-31 23:59:59.999999"); /* past int64 µs */
    ck_assert(v->timestamp_micros == INT64_MAX);
    v = both_text(PGTYPE_INT4, "12a");
    ck_assert_str_eq(v->text_value, "12a");
}
END_TEST


/* numeric(p,s)'s typmod: ((p << 16) | s) + 4. */
#define NUMERIC_TYPMOD(p, s) ((((p) << 16) | ((s) & 0x7ff)) + 4)

/*
 * Every value form of the configuration (decimal, interval, infinity, year
 * range, float specials), each over the whole type table and decimals with
 * declared scales: the Protobuf record still decodes to the JSON encoder's
 * bytes, so both formats carry the same value in every mode.
 */
START_TEST(test_every_value_form_decodes_to_the_json_encoders_bytes)
{
    static const value_forms_t modes[] = {
        {.decimal = DECIMAL_PRECISE, .interval = INTERVAL_NUMERIC},
        {.decimal = DECIMAL_DOUBLE, .float_special = FLOAT_SPECIAL_NULL},
        {.infinity = INFINITY_EXTREME, .year_range = YEAR_RANGE_CLAMP},
        {.infinity = INFINITY_NULL, .year_range = YEAR_RANGE_NULL, .float_special = FLOAT_SPECIAL_STRING},
    };
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        encoder_options_t opts = {.server_name = "pg1", .db_name = "shop", .forms = modes[m]};
        make_encoders(&opts);
        for (size_t i = 0; i < sizeof type_cases / sizeof type_cases[0]; i++)
            both_text(type_cases[i].oid, type_cases[i].text);
        static const struct {
            int32_t typmod;
            uint32_t oid;
            const char *text;
        } declared[] = {
            {NUMERIC_TYPMOD(5, 2), PGTYPE_NUMERIC, "-1.50"},
            {NUMERIC_TYPMOD(5, 2), PGTYPE_NUMERIC, "NaN"},
            {NUMERIC_TYPMOD(38, 0), PGTYPE_NUMERIC, "99999999999999999999999999999999999999"},
            {NUMERIC_TYPMOD(5, -2), PGTYPE_NUMERIC, "12300"},
            {NUMERIC_TYPMOD(3, 5), PGTYPE_NUMERIC, "0.00123"},
            {NUMERIC_TYPMOD(5, 2), 1231, "{1.50,NULL,-0.01}"},
        };
        for (size_t i = 0; i < sizeof declared / sizeof declared[0]; i++) {
            uint32_t oid = declared[i].oid;
            relcache_entry_t *rel = put_typed_relation(&oid, 1, NULL);
            rel->columns[0].typmod = declared[i].typmod;
            pgo_value_t val = {.kind = PGO_VALUE_TEXT,
                               .len = (uint32_t) strlen(declared[i].text),
                               .data = declared[i].text};
            pgo_tuple_t tuple = {.ncols = 1, .values = &val};
            change_event_t ev = event(OP_CREATE, rel);
            ev.after = &tuple;
            assert_same_event(&ev, NULL);
        }
    }
}
END_TEST

/* decimal.handling.mode = precise: Connect's Decimal as a ScaledDecimal; intervals as µs. */
START_TEST(test_precise_decimals_and_numeric_intervals_take_their_cases)
{
    encoder_options_t opts = {.server_name = "pg1",
                              .db_name = "shop",
                              .forms = {.decimal = DECIMAL_PRECISE, .interval = INTERVAL_NUMERIC}};
    make_encoders(&opts);
    const Sluice__Value *v = both_text(PGTYPE_NUMERIC, "-1.50");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_SCALED_DECIMAL);
    ck_assert(v->scaled_decimal->variable_scale);
    ck_assert_int_eq(v->scaled_decimal->scale, 2);
    ck_assert_uint_eq(v->scaled_decimal->unscaled.len, 2); /* -150: ff 6a, as Java's BigInteger */
    ck_assert_uint_eq(v->scaled_decimal->unscaled.data[0], 0xff);
    ck_assert_uint_eq(v->scaled_decimal->unscaled.data[1], 0x6a);
    v = both_text(PGTYPE_MONEY, "$1,234.56");
    ck_assert(!v->scaled_decimal->variable_scale);
    ck_assert_int_eq(v->scaled_decimal->scale, 2);
    v = both_text(PGTYPE_NUMERIC, "NaN");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_NULL_VALUE);
    v = both_text(PGTYPE_INTERVAL, "P1M");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_INTERVAL_MICROS);
    ck_assert(v->interval_micros == INT64_C(2629800000000));
}
END_TEST

START_TEST(test_null_binary_and_unchanged_toast_values)
{
    const Sluice__Value *v = both(NULL, PGTYPE_INT4, 'n', NULL, 0);
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_NULL_VALUE);
    v = both(NULL, PGTYPE_INT4, 'b', "\x00\x00\x00\x2a", 4);
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_BYTES_VALUE);
    /* The placeholder: a case of its own, never a text equal to the placeholder. */
    v = both(NULL, PGTYPE_TEXT, 'u', NULL, 0);
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_UNAVAILABLE);
    ck_assert_str_eq(v->unavailable->placeholder, "__debezium_unavailable_value");
    ck_assert(!v->unavailable->binary);
    v = both_text(PGTYPE_TEXT, "__debezium_unavailable_value");
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_TEXT_VALUE);
    v = both(NULL, PGTYPE_BYTEA, 'u', NULL, 0);
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_UNAVAILABLE);
    ck_assert(v->unavailable->binary);
    v = both(NULL, 1007, 'u', NULL, 0);
    ck_assert(!v->unavailable->binary);
    /* A configured placeholder travels with the marker. */
    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop", .toast_placeholder = "??"};
    make_encoders(&opts);
    v = both(NULL, PGTYPE_TEXT, 'u', NULL, 0);
    ck_assert_str_eq(v->unavailable->placeholder, "??");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Events, keys and metadata                                                 */

START_TEST(test_recorded_events_decode_to_the_json_encoders_bytes)
{
    const relcache_entry_t *items = put_relation(from_hex(REC_ITEMS_RELATION));
    pgo_msg_t m;
    decode_into(from_hex(REC_ITEMS_INSERT), &m);
    change_event_t ev = event(OP_CREATE, items);
    ev.after = &m.change.new_tuple;
    assert_same_event(&ev, ev.after);
    ck_assert_int_eq(unpacked->op, SLUICE__OP__OP_CREATE);
    ck_assert_ptr_null(unpacked->before);
    ck_assert_uint_eq(unpacked->after->n_columns, 6);
    ck_assert_str_eq(unpacked->source->table, "items");
    ck_assert(unpacked->source->commit_lsn == 0x1932708);
    ck_assert(unpacked->source->lsn == 0x1932610);
    ck_assert_uint_eq(unpacked->source->tx_id, 738);
    ck_assert(unpacked->source->ts_ms == INT64_C(1700000000123));
    ck_assert(unpacked->ts_ms == INT64_C(1700000000999));

    /* A key change: old key only in before; a delete with the key only. */
    pgo_msg_t u;
    decode_into(from_hex(REC_ITEMS_UPDATE_KEY), &u);
    ev = event(OP_UPDATE, items);
    ev.before = &u.change.old_tuple;
    ev.before_is_key_only = true;
    ev.after = &u.change.new_tuple;
    assert_same_event(&ev, ev.after);
    ck_assert_uint_eq(unpacked->before->n_columns, 1);
    pgo_msg_t d;
    decode_into(from_hex(REC_ITEMS_DELETE_KEY), &d);
    ev = event(OP_DELETE, items);
    ev.before = &d.change.old_tuple;
    ev.before_is_key_only = true;
    assert_same_event(&ev, ev.before);
    ck_assert_ptr_null(unpacked->after);

    /* REPLICA IDENTITY FULL: the whole old row. */
    const relcache_entry_t *full = put_relation(from_hex(REC_FULL_RELATION));
    pgo_msg_t f;
    decode_into(from_hex(REC_FULL_UPDATE), &f);
    ev = event(OP_UPDATE, full);
    ev.before = &f.change.old_tuple;
    ev.after = &f.change.new_tuple;
    assert_same_event(&ev, ev.after);
    ck_assert_uint_eq(unpacked->before->n_columns, 2);

    /* An unchanged TOASTed column. */
    const relcache_entry_t *docs = put_relation(from_hex(REC_DOCS_RELATION));
    pgo_msg_t t;
    decode_into(from_hex(REC_DOCS_UPDATE), &t);
    ev = event(OP_UPDATE, docs);
    ev.after = &t.change.new_tuple;
    assert_same_event(&ev, ev.after);
    ck_assert_int_eq(unpacked->after->columns[2]->value->kind_case, SLUICE__VALUE__KIND_UNAVAILABLE);

    /* Truncate: no rows; a snapshot read; a snapshot marker set by the snapshot. */
    ev = event(OP_TRUNCATE, docs);
    assert_same_event(&ev, NULL);
    ck_assert_int_eq(unpacked->op, SLUICE__OP__OP_TRUNCATE);
    ev = event(OP_READ, docs);
    ev.after = &t.change.new_tuple;
    assert_same_event(&ev, NULL);
    ck_assert_str_eq(unpacked->source->snapshot, "true");
    ev.snapshot = "last";
    assert_same_event(&ev, NULL);
    ck_assert_str_eq(unpacked->source->snapshot, "last");
}
END_TEST

START_TEST(test_full_identity_fills_unchanged_toast_from_old_row)
{
    static const uint32_t types[] = {PGTYPE_INT4, PGTYPE_TEXT, PGTYPE_BYTEA};
    relcache_entry_t *rel = put_typed_relation(types, 3, NULL);
    pgo_value_t oldv[3] = {{PGO_VALUE_TEXT, 1, "1"}, {PGO_VALUE_TEXT, 4, "long"},
                           {PGO_VALUE_TEXT, 4, "\\x01"}};
    pgo_value_t newv[3] = {{PGO_VALUE_TEXT, 1, "1"}, {PGO_VALUE_UNCHANGED_TOAST, 0, NULL},
                           {PGO_VALUE_UNCHANGED_TOAST, 0, NULL}};
    pgo_tuple_t old = {.ncols = 3, .values = oldv}, neu = {.ncols = 3, .values = newv};
    change_event_t ev = event(OP_UPDATE, rel);
    ev.before = &old;
    ev.after = &neu;
    assert_same_event(&ev, NULL);
    ck_assert_str_eq(unpacked->after->columns[1]->value->text_value, "long");
    ck_assert_int_eq(unpacked->after->columns[2]->value->kind_case, SLUICE__VALUE__KIND_BYTES_VALUE);
    ev.before_is_key_only = true;
    assert_same_event(&ev, NULL);
    ck_assert_int_eq(unpacked->after->columns[1]->value->kind_case, SLUICE__VALUE__KIND_UNAVAILABLE);
    ck_assert_int_eq(unpacked->after->columns[2]->value->kind_case, SLUICE__VALUE__KIND_UNAVAILABLE);
}
END_TEST

START_TEST(test_message_and_transaction_events_decode_to_the_json_encoders_bytes)
{
    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop", .transaction_block = true};
    make_encoders(&opts);
    change_event_t ev = {.op = OP_MESSAGE,
                         .lsn = 0x1932610,
                         .txn = &txn,
                         .now_us = 5000,
                         .msg_prefix = "sluice-test",
                         .msg_content = "a\0b",
                         .msg_len = 3,
                         .msg_transactional = true};
    txn_order_t order = {.total_order = 3, .data_collection_order = 2};
    ev.order = &order;
    assert_same_event(&ev, NULL);
    ck_assert_int_eq(unpacked->op, SLUICE__OP__OP_MESSAGE);
    ck_assert_uint_eq(unpacked->message->content.len, 3);
    ck_assert_str_eq(unpacked->transaction->id, "738:26421000");
    ck_assert_uint_eq(unpacked->transaction->total_order, 3);
    ck_assert_str_eq(unpacked->source->schema, "");
    ev.msg_transactional = false;
    ev.msg_len = 0;
    ev.order = NULL;
    assert_same_event(&ev, NULL);
    ck_assert_ptr_null(unpacked->transaction);

    strbuf_reset(&jout);
    strbuf_reset(&pout);
    encoder_message_key(jenc, "sluice-test", &jout);
    encoder_message_key(penc, "sluice-test", &pout);
    ck_assert_str_eq(as_json(PBJ_MESSAGE, true, &pout), jout.data);

    strbuf_reset(&jout);
    strbuf_reset(&pout);
    encoder_txn_key(jenc, &txn, &jout);
    encoder_txn_key(penc, &txn, &pout);
    ck_assert_str_eq(as_json(PBJ_TRANSACTION, true, &pout), jout.data);

    txn_meta_t begin = {.end = false, .txn = &txn};
    strbuf_reset(&jout);
    strbuf_reset(&pout);
    encoder_txn_value(jenc, &begin, 0, &jout);
    encoder_txn_value(penc, &begin, 0, &pout);
    ck_assert_str_eq(as_json(PBJ_TRANSACTION, false, &pout), jout.data);
    const char *const names[] = {"public.a", "s.b"};
    const uint64_t counts[] = {2, 1};
    txn_meta_t end = {.end = true, .txn = &txn, .event_count = 3, .ncollections = 2,
                      .collections = names, .collection_counts = counts};
    strbuf_reset(&jout);
    strbuf_reset(&pout);
    encoder_txn_value(jenc, &end, 0, &jout);
    encoder_txn_value(penc, &end, 0, &pout);
    ck_assert_str_eq(as_json(PBJ_TRANSACTION, false, &pout), jout.data);
    Sluice__TransactionEvent *te =
        sluice__transaction_event__unpack(NULL, pout.len, (const uint8_t *) pout.data);
    ck_assert_ptr_nonnull(te);
    ck_assert_int_eq(te->status, SLUICE__TRANSACTION_STATUS__STATUS_END);
    ck_assert_uint_eq(te->n_data_collections, 2);
    ck_assert_str_eq(te->data_collections[1]->data_collection, "s.b");
    sluice__transaction_event__free_unpacked(te, NULL);
}
END_TEST

START_TEST(test_keys_hold_the_kafka_key_columns)
{
    static const uint32_t types[] = {PGTYPE_INT4, PGTYPE_TEXT, PGTYPE_DATE};
    static const bool keys[] = {true, false, true};
    relcache_entry_t *rel = put_typed_relation(types, 3, keys);
    pgo_value_t vals[3] = {{PGO_VALUE_TEXT, 2, "-7"}, {PGO_VALUE_TEXT, 1, "x"},
                           {PGO_VALUE_TEXT, 10, "1970-01-02"}};
    pgo_tuple_t tuple = {.ncols = 3, .values = vals};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    assert_same_event(&ev, &tuple);
    Sluice__RowKey *k = sluice__row_key__unpack(NULL, pout.len, (const uint8_t *) pout.data);
    ck_assert_ptr_nonnull(k);
    ck_assert_uint_eq(k->n_columns, 2);
    ck_assert_str_eq(k->columns[0]->name, "c0");
    ck_assert_uint_eq(k->columns[0]->type_oid, 0); /* key bytes independent of catalog OIDs */
    ck_assert_int_eq(k->columns[0]->value->int_value, -7);
    ck_assert_str_eq(k->columns[1]->name, "c2");
    ck_assert_int_eq(k->columns[1]->value->date_days, 1);
    sluice__row_key__free_unpacked(k, NULL);
    /* No replica identity: no key, nothing appended (the record gets a null key). */
    rel = put_typed_relation(types, 3, NULL);
    strbuf_reset(&pout);
    strbuf_puts(&pout, "untouched");
    ck_assert(!encoder_key(penc, rel, &tuple, &pout));
    ck_assert_str_eq(pout.data, "untouched");
    /* A key tuple shorter than the key: the missing column is null, as in JSON. */
    rel = put_typed_relation(types, 3, keys);
    pgo_tuple_t shorter = {.ncols = 1, .values = vals};
    ev = event(OP_DELETE, rel);
    ev.before = &shorter;
    ev.before_is_key_only = true;
    assert_same_event(&ev, &shorter);
}
END_TEST

START_TEST(test_value_appends_to_what_the_buffer_holds)
{
    static const uint32_t types[] = {PGTYPE_INT4};
    relcache_entry_t *rel = put_typed_relation(types, 1, NULL);
    pgo_value_t val = {PGO_VALUE_TEXT, 1, "5"};
    pgo_tuple_t tuple = {.ncols = 1, .values = &val};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    strbuf_puts(&pout, "KEEP");
    encoder_value(penc, &ev, &pout);
    ck_assert_int_eq(memcmp(pout.data, "KEEP", 4), 0);
    Sluice__ChangeEvent *e =
        sluice__change_event__unpack(NULL, pout.len - 4, (const uint8_t *) pout.data + 4);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->after->columns[0]->value->int_value, 5);
    sluice__change_event__free_unpacked(e, NULL);
}
END_TEST

START_TEST(test_format_selects_the_encoder)
{
    encoder_options_t opts = {0};
    encoder_t *p = encoder_new(FORMAT_PROTOBUF, &opts);
    ck_assert_ptr_nonnull(p);
    encoder_free(p);
    ck_assert_ptr_null(encoder_new((output_format_t) 7, &opts));
    encoder_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Size, memory, malformed input                                             */

START_TEST(test_large_values_and_arrays_decode_to_the_json_encoders_bytes)
{
    /* 1 MB of text, then a 100,000-element array, then a small event on the same arena. */
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char) ('a' + i % 26);
    big[n] = '\0';
    both_text(PGTYPE_TEXT, big);
    strbuf_t arr = STRBUF_INIT;
    strbuf_putc(&arr, '{');
    for (int i = 0; i < 100000; i++)
        strbuf_appendf(&arr, "%s\"e%d\\\"\"", i ? "," : "", i);
    strbuf_putc(&arr, '}');
    const Sluice__Value *v = both_text(1009, arr.data);
    ck_assert_uint_eq(v->array_value->n_elements, 100000);
    ck_assert_str_eq(v->array_value->elements[99999]->text_value, "e99999\"");
    both_text(PGTYPE_INT4, "1");
    strbuf_free(&arr);
    free(big);
}
END_TEST

/* Quotes x as one element of array_out (record_out: doubled quotes) and appends it. */
static void append_quoted(strbuf_t *out, const char *x, bool record)
{
    strbuf_putc(out, '"');
    for (const char *p = x; *p; p++) {
        if (*p == '"')
            strbuf_puts(out, record ? "\"\"" : "\\\"");
        else if (*p == '\\')
            strbuf_puts(out, "\\\\");
        else
            strbuf_putc(out, *p);
    }
    strbuf_putc(out, '"');
}

START_TEST(test_deep_nesting_keeps_the_text_form)
{
    /* Arrays of composites of arrays ... 11 levels deep, past MAX_DEPTH (8): the innermost
     * levels keep their text form, as in JSON. */
    pgtype_registry_t *reg = pgtype_registry_new();
    const pgtype_t *t = pgtype_builtin(1007);
    strbuf_t text = STRBUF_INIT, next = STRBUF_INIT;
    strbuf_puts(&text, "{1,2}");
    for (int i = 0; i < 5; i++) {
        pgtype_t *c = pgtype_new_composite((uint32_t) (51000 + 2 * i), "public.wrap", 1);
        c->field_names[0] = strdup("f");
        c->field_types[0] = t;
        t = pgtype_registry_put(reg, c);
        strbuf_reset(&next);
        strbuf_putc(&next, '(');
        append_quoted(&next, text.data, true);
        strbuf_putc(&next, ')');
        t = pgtype_registry_put(reg, pgtype_new_array((uint32_t) (51001 + 2 * i), "wrap[]", t, ','));
        strbuf_reset(&text);
        strbuf_putc(&text, '{');
        append_quoted(&text, next.data, false);
        strbuf_putc(&text, '}');
    }
    const Sluice__Value *v = both_typed(t, text.data);
    int levels = 0;
    while (v->kind_case == SLUICE__VALUE__KIND_ARRAY_VALUE ||
           v->kind_case == SLUICE__VALUE__KIND_COMPOSITE_VALUE) {
        v = v->kind_case == SLUICE__VALUE__KIND_ARRAY_VALUE ? v->array_value->elements[0]
                                                             : v->composite_value->fields[0]->value;
        levels++;
    }
    ck_assert_int_eq(levels, 7);
    ck_assert_int_eq(v->kind_case, SLUICE__VALUE__KIND_TEXT_VALUE);
    strbuf_free(&text);
    strbuf_free(&next);
    pgtype_registry_free(reg);

    /* 40 dimensions is no array_out text (PostgreSQL allows 6): kept as text, no deep recursion. */
    char deep[128];
    memset(deep, '{', 40);
    deep[40] = '1';
    memset(deep + 41, '}', 40);
    deep[81] = '\0';
    static const uint32_t types[] = {1007};
    relcache_entry_t *rel = put_typed_relation(types, 1, NULL);
    pgo_value_t val = {PGO_VALUE_TEXT, 81, deep};
    pgo_tuple_t tuple = {.ncols = 1, .values = &val};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    strbuf_reset(&pout);
    encoder_value(penc, &ev, &pout);
    Sluice__ChangeEvent *e = sluice__change_event__unpack(NULL, pout.len, (const uint8_t *) pout.data);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->after->columns[0]->value->kind_case, SLUICE__VALUE__KIND_TEXT_VALUE);
    ck_assert_str_eq(e->after->columns[0]->value->text_value, deep);
    sluice__change_event__free_unpacked(e, NULL);
}
END_TEST

START_TEST(test_steady_state_allocates_nothing)
{
    static const uint32_t types[] = {PGTYPE_INT4, PGTYPE_TEXT, 1007, PGTYPE_BYTEA, PGTYPE_TIMESTAMPTZ};
    static const bool keys[] = {true, false, false, false, false};
    relcache_entry_t *rel = put_typed_relation(types, 5, keys);
    pgo_value_t vals[5] = {{PGO_VALUE_TEXT, 2, "42"}, {PGO_VALUE_TEXT, 5, "hello"},
                           {PGO_VALUE_TEXT, 9, "{1,\"2\",3}"}, {PGO_VALUE_TEXT, 6, "\\x0102"},
                           {PGO_VALUE_TEXT, 22, "2024-01-02 03:04:05+00"}};
    pgo_tuple_t tuple = {.ncols = 5, .values = vals};
    change_event_t ev = event(OP_UPDATE, rel);
    ev.before = &tuple;
    ev.after = &tuple;
    for (int i = 0; i < 10; i++) { /* warm up: the arena and the buffers reach their size */
        strbuf_reset(&pout);
        encoder_key(penc, rel, &tuple, &pout);
        encoder_value(penc, &ev, &pout);
    }
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 1000; i++) {
        strbuf_reset(&pout);
        encoder_key(penc, rel, &tuple, &pout);
        encoder_value(penc, &ev, &pout);
    }
    struct mallinfo2 after = mallinfo2();
    ck_assert_uint_eq(after.uordblks, before.uordblks);
    ck_assert_uint_eq(after.hblks, before.hblks);
}
END_TEST

/* A deterministic generator, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t) rng_state;
}

START_TEST(test_random_and_malformed_texts_never_crash)
{
    /* Texts built from the characters the parsers branch on, for every form; each must encode
     * to a record the consumer decodes into valid JSON. */
    static const char alphabet[] = "{}()\",;\\:.-+ 0123456789aefxBCNUL$tTZ\x01";
    pgtype_registry_t *reg = pgtype_registry_new();
    pgtype_t *c = pgtype_new_composite(52000, "public.pair", 2);
    c->field_names[0] = strdup("a");
    c->field_types[0] = pgtype_builtin(1007);
    c->field_names[1] = strdup("b");
    c->field_types[1] = pgtype_builtin(PGTYPE_TIMESTAMPTZ);
    const pgtype_t *pair = pgtype_registry_put(reg, c);
    const pgtype_t *pairs = pgtype_registry_put(reg, pgtype_new_array(52001, "pair[]", pair, ','));
    const pgtype_t *forms[] = {
        pgtype_builtin(PGTYPE_BOOL),      pgtype_builtin(PGTYPE_INT8),
        pgtype_builtin(PGTYPE_FLOAT4),    pgtype_builtin(PGTYPE_FLOAT8),
        pgtype_builtin(PGTYPE_NUMERIC),   pgtype_builtin(PGTYPE_MONEY),
        pgtype_builtin(PGTYPE_BYTEA),     pgtype_builtin(PGTYPE_DATE),
        pgtype_builtin(PGTYPE_TIME),      pgtype_builtin(PGTYPE_TIMESTAMP),
        pgtype_builtin(PGTYPE_TIMESTAMPTZ), pgtype_builtin(PGTYPE_TIMETZ),
        pgtype_builtin(1007),             pgtype_builtin(1009),
        pgtype_builtin(1020),             pgtype_builtin(1115),
        pair,                             pairs,
        pgtype_unknown(),
    };
    const size_t nforms = sizeof forms / sizeof forms[0];
    char text[96];
    for (int round = 0; round < 20000; round++) {
        const pgtype_t *t = forms[(size_t) round % nforms];
        size_t len = rnd() % sizeof text;
        for (size_t i = 0; i < len; i++)
            text[i] = alphabet[rnd() % (sizeof alphabet - 1)];
        /* Half of them start like the form's text, to get past the first checks. */
        if (len && round % 2 == 0)
            text[0] = t->form == PGTYPE_FORM_ARRAY ? '{' : t->form == PGTYPE_FORM_COMPOSITE ? '(' : text[0];
        uint32_t oid = t->oid;
        relcache_entry_t *rel = put_typed_relation(&oid, 1, NULL);
        rel->columns[0].type = t;
        pgo_value_t val = {.kind = PGO_VALUE_TEXT, .len = (uint32_t) len, .data = text};
        pgo_tuple_t tuple = {.ncols = 1, .values = &val};
        change_event_t ev = event(OP_CREATE, rel);
        ev.after = &tuple;
        strbuf_reset(&pout);
        encoder_value(penc, &ev, &pout);
        const char *js = as_json(PBJ_TABLE, false, &pout);
        json_error_t jerr;
        json_t *root = json_loads(js, JSON_ALLOW_NUL, &jerr);
        ck_assert_msg(root != NULL, "invalid JSON from %.*s: %s", (int) len, text, jerr.text);
        json_decref(root);
    }
    /* Unknown value kinds and types never crash it either. */
    uint32_t oid = 99999;
    relcache_entry_t *rel = put_typed_relation(&oid, 1, NULL);
    pgo_value_t val = {.kind = (pgo_value_kind_t) 'z', .len = 3, .data = "abc"};
    pgo_tuple_t tuple = {.ncols = 1, .values = &val};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    strbuf_reset(&pout);
    encoder_value(penc, &ev, &pout);
    as_json(PBJ_TABLE, false, &pout);
    pgtype_registry_free(reg);
}
END_TEST

START_TEST(test_consumer_rejects_what_is_not_the_topics_message)
{
    strbuf_t junk = STRBUF_INIT;
    strbuf_append(&junk, "\xff\xff\xff", 3);
    pbj_options_t o = {0};
    strbuf_puts(&conv, "X");
    ck_assert(!pbjson_record(PBJ_TABLE, false, junk.data, junk.len, &o, &conv));
    ck_assert_str_eq(conv.data, "X");
    ck_assert_int_eq(pbj_topic_kind("p.message", "p"), PBJ_MESSAGE);
    ck_assert_int_eq(pbj_topic_kind("p.transaction", "p"), PBJ_TRANSACTION);
    ck_assert_int_eq(pbj_topic_kind("p.s.message", "p"), PBJ_TABLE);
    strbuf_free(&junk);
}
END_TEST

static Suite *protobuf_suite(void)
{
    Suite *s = suite_create("protobuf");
    TCase *ty = tcase_create("types");
    tcase_add_checked_fixture(ty, setup, teardown);
    tcase_set_timeout(ty, 60);
    tcase_add_test(ty, test_every_type_form_decodes_to_the_json_encoders_bytes);
    tcase_add_test(ty, test_registered_types_decode_to_the_json_encoders_bytes);
    tcase_add_test(ty, test_values_take_their_typed_cases);
    tcase_add_test(ty, test_every_value_form_decodes_to_the_json_encoders_bytes);
    tcase_add_test(ty, test_precise_decimals_and_numeric_intervals_take_their_cases);
    tcase_add_test(ty, test_null_binary_and_unchanged_toast_values);
    suite_add_tcase(s, ty);

    TCase *ev = tcase_create("events");
    tcase_add_checked_fixture(ev, setup, teardown);
    tcase_add_test(ev, test_recorded_events_decode_to_the_json_encoders_bytes);
    tcase_add_test(ev, test_full_identity_fills_unchanged_toast_from_old_row);
    tcase_add_test(ev, test_message_and_transaction_events_decode_to_the_json_encoders_bytes);
    tcase_add_test(ev, test_keys_hold_the_kafka_key_columns);
    tcase_add_test(ev, test_value_appends_to_what_the_buffer_holds);
    tcase_add_test(ev, test_format_selects_the_encoder);
    suite_add_tcase(s, ev);

    TCase *robust = tcase_create("robustness");
    tcase_add_checked_fixture(robust, setup, teardown);
    tcase_set_timeout(robust, 120);
    tcase_add_test(robust, test_large_values_and_arrays_decode_to_the_json_encoders_bytes);
    tcase_add_test(robust, test_deep_nesting_keeps_the_text_form);
    tcase_add_test(robust, test_steady_state_allocates_nothing);
    tcase_add_test(robust, test_random_and_malformed_texts_never_crash);
    tcase_add_test(robust, test_consumer_rejects_what_is_not_the_topics_message);
    suite_add_tcase(s, robust);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(protobuf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
