/*
 * test_json.c — the JSON encoder (Debezium envelope without schemas) and the
 * JSON string helpers shared by every JSON writer in sluice.
 *
 * Relations reach the encoder the way they do in the daemon: a RELATION
 * message decoded by pgo_decode and stored with relcache_put. The golden
 * tests use messages recorded from PostgreSQL 15.18 (the same session as
 * test_pgoutput.c); every value the encoder writes is also parsed back with
 * jansson to prove it is valid JSON.
 */
#include <check.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/encode/encode.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"
#include "wire_builder.h"

#include "recorded_vectors.h"

static pgo_decoder_t *dec;
static relcache_t *cache;
static encoder_t *enc;
static strbuf_t out;
static vec_t held[16]; /* decoded messages point into these */
static size_t nheld;

/* commit LSN 0/01932708 = 26421000, change LSN 0/01932610 = 26420752 */
static const source_txn_t txn = {
    .xid = 738, .commit_lsn = 0x1932708, .commit_ts_us = INT64_C(1700000000123456)};

#define SOURCE(schema_table)                                                                      \
    "\"source\":{\"version\":\"" SLUICE_VERSION "\",\"connector\":\"sluice\",\"name\":\"pg1\","  \
    "\"ts_ms\":1700000000123,\"snapshot\":\"false\",\"db\":\"shop\","                             \
    "\"sequence\":\"[\\\"26421000\\\",\\\"26420752\\\"]\","                                     \
    "\"ts_us\":1700000000123456,\"ts_ns\":1700000000123456000" schema_table                      \
    ",\"txId\":738,\"lsn\":26420752,\"xmin\":null}"

/* ,"transaction":null,"op":"<op>", then the processing time (now_us of the events below). */
#define TAIL(op)                                                                                  \
    ",\"transaction\":null,\"op\":\"" op "\",\"ts_ms\":1700000000999,\"ts_us\":1700000000999000," \
    "\"ts_ns\":1700000000999000000}"

static void setup(void)
{
    dec = pgo_decoder_new();
    cache = relcache_new("pg1");
    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop", .toast_placeholder = NULL};
    enc = encoder_new(FORMAT_JSON, &opts);
    ck_assert_ptr_nonnull(enc);
    out = (strbuf_t) STRBUF_INIT;
    nheld = 0;
}

static void teardown(void)
{
    for (size_t i = 0; i < nheld; i++)
        v_free(&held[i]);
    strbuf_free(&out);
    encoder_free(enc);
    relcache_free(cache);
    pgo_decoder_free(dec);
}

/* Decodes v (kept alive until teardown) into m. */
static void decode_into(vec_t v, pgo_msg_t *m)
{
    ck_assert_uint_lt(nheld, 16);
    held[nheld++] = v;
    char err[256];
    bool ok = pgo_decode(dec, v.data, v.len, m, err, sizeof err);
    ck_assert_msg(ok, "decode: %s", err);
}

static relcache_entry_t *put_relation(vec_t v)
{
    pgo_msg_t m;
    decode_into(v, &m);
    ck_assert_int_eq(m.kind, PGO_RELATION);
    return relcache_put(cache, &m);
}

/* Parses text as JSON (the whole of it); the caller owns the result. */
static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    ck_assert_msg(root != NULL, "invalid JSON (%s at column %d): %s", jerr.text, jerr.column,
                  text);
    return root;
}

static void assert_valid_json(const char *text)
{
    json_decref(parse(text));
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

/* ------------------------------------------------------------------------ */
/* Golden events from recorded messages                                      */

START_TEST(test_insert_event_from_recorded_insert)
{
    const relcache_entry_t *rel = put_relation(from_hex(REC_ITEMS_RELATION));
    pgo_msg_t m;
    decode_into(from_hex(REC_ITEMS_INSERT), &m);
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &m.change.new_tuple;
    encoder_value(enc, &ev, &out);
    ck_assert_str_eq(out.data,
                     "{\"before\":null,"
                     "\"after\":{\"id\":1,\"name\":\"widget \\\"A\\\"\",\"price\":9.5,"
                     "\"m\":\"happy\",\"data\":\"Af8=\",\"ok\":true},"
                     SOURCE(",\"schema\":\"public\",\"table\":\"items\"")
                     TAIL("c"));
    ck_assert_uint_eq(out.len, strlen(out.data));
    assert_valid_json(out.data);

    strbuf_reset(&out);
    ck_assert(encoder_key(enc, rel, &m.change.new_tuple, &out));
    ck_assert_str_eq(out.data, "{\"id\":1}");
}
END_TEST

START_TEST(test_update_event_with_old_key_writes_key_only_before)
{
    const relcache_entry_t *rel = put_relation(from_hex(REC_ITEMS_RELATION));
    pgo_msg_t m;
    decode_into(from_hex(REC_ITEMS_UPDATE_KEY), &m);
    ck_assert_int_eq(m.change.old_kind, 'K');
    change_event_t ev = event(OP_UPDATE, rel);
    ev.before = &m.change.old_tuple;
    ev.before_is_key_only = true;
    ev.after = &m.change.new_tuple;
    encoder_value(enc, &ev, &out);
    ck_assert_str_eq(out.data,
                     "{\"before\":{\"id\":1},"
                     "\"after\":{\"id\":2,\"name\":\"gadget\",\"price\":\"NaN\","
                     "\"m\":\"happy\",\"data\":\"Af8=\",\"ok\":true},"
                     SOURCE(",\"schema\":\"public\",\"table\":\"items\"")
                     TAIL("u"));
    assert_valid_json(out.data);

    strbuf_reset(&out);
    ck_assert(encoder_key(enc, rel, &m.change.old_tuple, &out));
    ck_assert_str_eq(out.data, "{\"id\":1}");
    strbuf_reset(&out);
    ck_assert(encoder_key(enc, rel, &m.change.new_tuple, &out));
    ck_assert_str_eq(out.data, "{\"id\":2}");
}
END_TEST

START_TEST(test_update_event_with_full_identity_writes_whole_before)
{
    relcache_entry_t *rel = put_relation(from_hex(REC_FULL_RELATION));
    pgo_msg_t m;
    decode_into(from_hex(REC_FULL_UPDATE), &m);
    change_event_t ev = event(OP_UPDATE, rel);
    ev.before = &m.change.old_tuple;
    ev.after = &m.change.new_tuple;
    encoder_value(enc, &ev, &out);
    ck_assert_str_eq(out.data,
                     "{\"before\":{\"id\":1,\"note\":\"x\"},\"after\":{\"id\":1,\"note\":\"y\"},"
                     SOURCE(",\"schema\":\"public\",\"table\":\"full_t\"")
                     TAIL("u"));
    assert_valid_json(out.data);

    /* REPLICA IDENTITY FULL flags every column, but the whole row is no key: until the
     * pipeline sets the primary key from the catalog there is none (a null record key). */
    ck_assert_uint_eq(rel->nkeys, 2);
    strbuf_reset(&out);
    ck_assert(!encoder_key(enc, rel, &m.change.new_tuple, &out));
    static const uint16_t pk[] = {0};
    relcache_set_kafka_key(rel, pk, 1);
    ck_assert(encoder_key(enc, rel, &m.change.new_tuple, &out));
    ck_assert_str_eq(out.data, "{\"id\":1}");
}
END_TEST

START_TEST(test_delete_event_with_old_key)
{
    const relcache_entry_t *rel = put_relation(from_hex(REC_ITEMS_RELATION));
    pgo_msg_t m;
    decode_into(from_hex(REC_ITEMS_DELETE_KEY), &m);
    change_event_t ev = event(OP_DELETE, rel);
    ev.before = &m.change.old_tuple;
    ev.before_is_key_only = true;
    encoder_value(enc, &ev, &out);
    ck_assert_str_eq(out.data,
                     "{\"before\":{\"id\":2},\"after\":null,"
                     SOURCE(",\"schema\":\"public\",\"table\":\"items\"")
                     TAIL("d"));
    assert_valid_json(out.data);
}
END_TEST

START_TEST(test_unchanged_toast_value_becomes_placeholder)
{
    const relcache_entry_t *rel = put_relation(from_hex(REC_DOCS_RELATION));
    pgo_msg_t m;
    decode_into(from_hex(REC_DOCS_UPDATE), &m);
    change_event_t ev = event(OP_UPDATE, rel);
    ev.after = &m.change.new_tuple;
    encoder_value(enc, &ev, &out);
    ck_assert_ptr_nonnull(strstr(
        out.data,
        "\"after\":{\"id\":1,\"title\":\"t2\",\"body\":\"__debezium_unavailable_value\"}"));
    assert_valid_json(out.data);

    /* A configured placeholder replaces the default, escaped like any string. */
    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop", .toast_placeholder = "<\"t\">"};
    encoder_t *custom = encoder_new(FORMAT_JSON, &opts);
    strbuf_reset(&out);
    encoder_value(custom, &ev, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "\"body\":\"<\\\"t\\\">\"}"));
    assert_valid_json(out.data);
    encoder_free(custom);
}
END_TEST

START_TEST(test_truncate_event_has_no_rows)
{
    const relcache_entry_t *rel = put_relation(from_hex(REC_ITEMS_RELATION));
    change_event_t ev = event(OP_TRUNCATE, rel);
    encoder_value(enc, &ev, &out);
    ck_assert_str_eq(out.data, "{\"before\":null,\"after\":null,"
                               SOURCE(",\"schema\":\"public\",\"table\":\"items\"")
                               TAIL("t"));
    assert_valid_json(out.data);
}
END_TEST

START_TEST(test_message_event_carries_prefix_and_base64_content)
{
    change_event_t ev = event(OP_MESSAGE, NULL);
    ev.msg_prefix = "sluice.test";
    ev.msg_content = "hello";
    ev.msg_len = 5;
    ev.msg_transactional = true;
    encoder_value(enc, &ev, &out);
    ck_assert_str_eq(out.data, "{\"before\":null,\"after\":null," SOURCE(",\"schema\":\"\",\"table\":\"\"")
                               ",\"transaction\":null"
                               ",\"message\":{\"prefix\":\"sluice.test\",\"content\":\"aGVsbG8=\","
                               "\"transactional\":true},\"op\":\"m\",\"ts_ms\":1700000000999,"
                               "\"ts_us\":1700000000999000,\"ts_ns\":1700000000999000000}");
    assert_valid_json(out.data);

    strbuf_reset(&out);
    ev.msg_content = "\x00\xff";
    ev.msg_len = 2;
    ev.msg_transactional = false;
    encoder_value(enc, &ev, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "\"content\":\"AP8=\",\"transactional\":false}"));
    assert_valid_json(out.data);

    strbuf_reset(&out);
    encoder_message_key(enc, "a\"b", &out);
    ck_assert_str_eq(out.data, "{\"prefix\":\"a\\\"b\"}");
}
END_TEST

START_TEST(test_value_appends_to_what_the_buffer_holds)
{
    const relcache_entry_t *rel = put_relation(from_hex(REC_ITEMS_RELATION));
    strbuf_puts(&out, "KEEP");
    change_event_t ev = event(OP_TRUNCATE, rel);
    encoder_value(enc, &ev, &out);
    ck_assert_int_eq(strncmp(out.data, "KEEP{\"before\":null", 18), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Type forms                                                                */

/* A relation with one column per type under test; column i is named c<i>. */
static relcache_entry_t *put_typed_relation(const uint32_t *types, uint16_t n,
                                            const bool *keys)
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

/* Encodes one text value of `type` as the "after" of an insert; returns the JSON of c0. */
static const char *encode_one(uint32_t type, char kind, const char *text, size_t len)
{
    const relcache_entry_t *rel = put_typed_relation(&type, 1, NULL);
    pgo_value_t val = {.kind = (pgo_value_kind_t) kind, .len = (uint32_t) len, .data = text};
    pgo_tuple_t tuple = {.ncols = 1, .values = &val};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    strbuf_reset(&out);
    encoder_value(enc, &ev, &out);
    assert_valid_json(out.data);
    /* Return just the value of c0: between "after":{"c0": and the closing brace. */
    static char value[8192];
    const char *start = strstr(out.data, "\"after\":{\"c0\":");
    ck_assert_ptr_nonnull(start);
    start += strlen("\"after\":{\"c0\":");
    const char *end = strstr(start, "},\"source\"");
    ck_assert_ptr_nonnull(end);
    ck_assert_uint_lt((size_t) (end - start), sizeof value);
    memcpy(value, start, (size_t) (end - start));
    value[end - start] = '\0';
    return value;
}

static const char *encode_text(uint32_t type, const char *text)
{
    return encode_one(type, 't', text, strlen(text));
}

START_TEST(test_bool_text_becomes_json_boolean)
{
    ck_assert_str_eq(encode_text(PGTYPE_BOOL, "t"), "true");
    ck_assert_str_eq(encode_text(PGTYPE_BOOL, "f"), "false");
    /* Anything else is not guessed at: kept as its text. */
    ck_assert_str_eq(encode_text(PGTYPE_BOOL, "yes"), "\"yes\"");
}
END_TEST

START_TEST(test_integer_types_become_exact_json_numbers)
{
    ck_assert_str_eq(encode_text(PGTYPE_INT2, "-32768"), "-32768");
    ck_assert_str_eq(encode_text(PGTYPE_INT4, "0"), "0");
    ck_assert_str_eq(encode_text(PGTYPE_INT8, "-9223372036854775808"), "-9223372036854775808");
    ck_assert_str_eq(encode_text(PGTYPE_INT8, "9223372036854775807"), "9223372036854775807");
    /* Text no integer output produces is a string, never an invalid or overflowing number. */
    ck_assert_str_eq(encode_text(PGTYPE_INT8, "9223372036854775808"), "\"9223372036854775808\"");
    ck_assert_str_eq(encode_text(PGTYPE_INT8, "99999999999999999999"), "\"99999999999999999999\"");
    ck_assert_str_eq(encode_text(PGTYPE_INT4, "007"), "\"007\"");
    ck_assert_str_eq(encode_text(PGTYPE_INT4, "0"), "0");
    ck_assert_str_eq(encode_text(PGTYPE_INT4, "-0"), "-0");
    ck_assert_str_eq(encode_text(PGTYPE_OID, "4294967295"), "4294967295");
    /* Not an integer's text form: written as a string rather than as bad JSON. */
    ck_assert_str_eq(encode_text(PGTYPE_INT4, "12a"), "\"12a\"");
    ck_assert_str_eq(encode_text(PGTYPE_INT4, "-"), "\"-\"");
    ck_assert_str_eq(encode_text(PGTYPE_INT4, ""), "\"\"");
}
END_TEST

START_TEST(test_float_types_become_numbers_except_nan_and_infinity)
{
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT8, "9.5"), "9.5");
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT8, "-1.5e+300"), "-1.5e+300");
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT4, "1e-05"), "1e-05");
    /* "-0.0", not "-0": most parsers read "-0" as the integer 0 and lose the sign. */
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT8, "-0"), "-0.0");
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT4, "-0"), "-0.0");
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT8, "0"), "0");
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT8, "NaN"), "\"NaN\"");
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT8, "Infinity"), "\"Infinity\"");
    ck_assert_str_eq(encode_text(PGTYPE_FLOAT4, "-Infinity"), "\"-Infinity\"");
}
END_TEST

START_TEST(test_numeric_and_other_types_keep_their_text_form)
{
    ck_assert_str_eq(encode_text(PGTYPE_NUMERIC, "123.4500"), "\"123.4500\"");
    ck_assert_str_eq(encode_text(PGTYPE_NUMERIC, "NaN"), "\"NaN\"");
    ck_assert_str_eq(encode_text(PGTYPE_INTERVAL, "P1Y2M3DT4H5M6.5S"), "\"P1Y2M3DT4H5M6.5S\"");
    ck_assert_str_eq(encode_text(PGTYPE_JSONB, "{\"a\": [1, null]}"),
                     "\"{\\\"a\\\": [1, null]}\"");
    ck_assert_str_eq(encode_text(PGTYPE_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
                     "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"");
    /* An enum (a type OID sluice does not know) is its label. */
    ck_assert_str_eq(encode_text(16387, "happy"), "\"happy\"");
}
END_TEST


START_TEST(test_dates_become_days_since_epoch)
{
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "1970-01-01"), "0");
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "2024-05-01"), "19844");
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "1969-12-31"), "-1");
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "0044-03-15 BC"), "-735160");
    /* infinity.handling.mode = clamp (the default): 9999-12-31 and 0001-01-01. */
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "infinity"), "2932896");
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "-infinity"), "-719162");
    /* Not ISO (another DateStyle): kept as text, never guessed. */
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "05/01/2024"), "\"05/01/2024\"");
    ck_assert_str_eq(encode_text(PGTYPE_DATE, "2024-13-01"), "\"2024-13-01\"");
}
END_TEST

START_TEST(test_times_and_timestamps_become_microseconds)
{
    ck_assert_str_eq(encode_text(PGTYPE_TIME, "00:00:00"), "0");
    ck_assert_str_eq(encode_text(PGTYPE_TIME, "12:34:56.5"), "45296500000");
    ck_assert_str_eq(encode_text(PGTYPE_TIME, "24:00:00"), "86399999999"); /* clamped */
    ck_assert_str_eq(encode_text(PGTYPE_TIME, "25:00:00"), "\"25:00:00\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMP, "1970-01-01 00:00:00.000001"), "1");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMP, "2024-05-01 12:34:56.789"), "1714566896789000");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMP, "0044-03-15 00:00:00 BC"),
                     "-63517824000000000");
    /* Past int64 microseconds (294247 AD on): int64's maximum, never an overflowing number. */
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMP, "294276-12-31 23:59:59.999999"),
                     "9223372036854775807");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMP, "294246-12-31 23:59:59.999999"),
                     "9223371244799999999");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMP, "infinity"), "253402300799000000");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMP, "-infinity"), "-62135596800000000");
}
END_TEST

START_TEST(test_zoned_times_become_iso_8601_strings)
{
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMPTZ, "2024-01-02 03:04:05.123456+00"),
                     "\"2024-01-02T03:04:05.123456Z\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMPTZ, "2024-01-02 03:04:05+05:30"),
                     "\"2024-01-02T03:04:05+05:30\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMPTZ, "0044-03-15 00:00:00+00 BC"),
                     "\"-0043-03-15T00:00:00Z\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMPTZ, "12345-01-01 00:00:00+00"),
                     "\"+12345-01-01T00:00:00Z\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMESTAMPTZ, "infinity"), "\"9999-12-31T23:59:59Z\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMETZ, "12:00:00.5+02"), "\"12:00:00.5+02:00\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMETZ, "12:00:00+00"), "\"12:00:00Z\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMETZ, "12:00:00-00:53:28"), "\"12:00:00-00:53:28\"");
    ck_assert_str_eq(encode_text(PGTYPE_TIMETZ, "12:00:00 PST"), "\"12:00:00 PST\"");
}
END_TEST

START_TEST(test_money_becomes_exact_decimal)
{
    ck_assert_str_eq(encode_text(PGTYPE_MONEY, "$1,234.56"), "\"1234.56\"");
    ck_assert_str_eq(encode_text(PGTYPE_MONEY, "-$92,233,720,368,547,758.08"),
                     "\"-92233720368547758.08\"");
    ck_assert_str_eq(encode_text(PGTYPE_MONEY, "1.234,56 EUR"), "\"1.234,56 EUR\"");

    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop", .forms = {.numeric_json_number = true}};
    encoder_free(enc);
    enc = encoder_new(FORMAT_JSON, &opts);
    ck_assert_str_eq(encode_text(PGTYPE_MONEY, "-$1,234.56"), "-1234.56");
    ck_assert_str_eq(encode_text(PGTYPE_NUMERIC, "123456789012345678901234567890.000000001"),
                     "123456789012345678901234567890.000000001");
    ck_assert_str_eq(encode_text(PGTYPE_NUMERIC, "NaN"), "\"NaN\"");
    ck_assert_str_eq(encode_text(PGTYPE_NUMERIC, "-Infinity"), "\"-Infinity\"");
}
END_TEST

START_TEST(test_arrays_become_json_arrays)
{
    ck_assert_str_eq(encode_text(1007, "{1,2,NULL,-3}"), "[1,2,null,-3]");
    ck_assert_str_eq(encode_text(1007, "{}"), "[]");
    ck_assert_str_eq(encode_text(1007, "{{1,2},{3,4}}"), "[[1,2],[3,4]]");
    ck_assert_str_eq(encode_text(1009, "{\"a,b\",\"c\\\"d\\\\e\",NULL,\"NULL\",\"\",plain}"),
                     "[\"a,b\",\"c\\\"d\\\\e\",null,\"NULL\",\"\",\"plain\"]");
    ck_assert_str_eq(encode_text(1000, "{t,f}"), "[true,false]");
    ck_assert_str_eq(encode_text(1182, "{1970-01-02,infinity}"), "[1,2932896]");
    ck_assert_str_eq(encode_text(1001, "{\"\\\\x0102\"}"), "[\"AQI=\"]");
    ck_assert_str_eq(encode_text(1022, "{NaN,1.5}"), "[\"NaN\",1.5]");
    /* box uses ';' between elements, and its elements contain commas. */
    ck_assert_str_eq(encode_text(1020, "{(1,1),(0,0);(2,2),(1,1)}"),
                     "[\"(1,1),(0,0)\",\"(2,2),(1,1)\"]");
    /* Non-default lower bounds: a JSON array cannot say them, the text form can. */
    ck_assert_str_eq(encode_text(1007, "[0:1]={1,2}"), "\"[0:1]={1,2}\"");
    /* Malformed: the text form, never half an array. */
    ck_assert_str_eq(encode_text(1007, "{1,2"), "\"{1,2\"");
    ck_assert_str_eq(encode_text(1007, "{1,,2}"), "\"{1,,2}\"");
    ck_assert_str_eq(encode_text(1009, "{\"abc}"), "\"{\\\"abc}\"");
    /* Six dimensions (PostgreSQL's limit) nest; deeper text is malformed: the text form,
     * and thousands of open braces never recurse the stack away. */
    ck_assert_str_eq(encode_text(1007, "{{{{{{1}}}}}}"), "[[[[[[1]]]]]]");
    ck_assert_str_eq(encode_text(1007, "{{{{{{{1}}}}}}}"), "\"{{{{{{{1}}}}}}}\"");
    char *deep = malloc(4001);
    memset(deep, 0x7b, 4000);
    deep[4000] = 0;
    const char *deep_json = encode_text(1007, deep);
    ck_assert_int_eq(deep_json[0], '"');
    free(deep);
}
END_TEST

/* Encodes one text value of the (registered) type t; returns the JSON of c0. */
static const char *encode_typed(const pgtype_t *t, const char *text)
{
    uint32_t oid = t->oid;
    relcache_entry_t *rel = put_typed_relation(&oid, 1, NULL);
    rel->columns[0].type = t;
    pgo_value_t val = {.kind = PGO_VALUE_TEXT, .len = (uint32_t) strlen(text), .data = text};
    pgo_tuple_t tuple = {.ncols = 1, .values = &val};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    strbuf_reset(&out);
    encoder_value(enc, &ev, &out);
    assert_valid_json(out.data);
    static char value[8192];
    const char *start = strstr(out.data, "\"after\":{\"c0\":") + strlen("\"after\":{\"c0\":");
    const char *end = strstr(start, "},\"source\"");
    memcpy(value, start, (size_t) (end - start));
    value[end - start] = '\0';
    return value;
}

START_TEST(test_composites_domains_and_enums_take_their_types_forms)
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
    ck_assert_str_eq(encode_typed(addr, "(\"Main \"\"St\"\"\",12,\"{a,\"\"b c\"\"}\",1970-01-02)"),
                     "{\"street\":\"Main \\\"St\\\"\",\"no\":12,\"tags\":[\"a\",\"b c\"],\"since\":1}");
    ck_assert_str_eq(encode_typed(addr, "(,,,)"),
                     "{\"street\":null,\"no\":null,\"tags\":null,\"since\":null}");
    ck_assert_str_eq(encode_typed(addr, "(\"\",0,{},)"),
                     "{\"street\":\"\",\"no\":0,\"tags\":[],\"since\":null}");
    /* A field count other than the type's (the type changed since): the text form. */
    ck_assert_str_eq(encode_typed(addr, "(a,1)"), "\"(a,1)\"");
    /* An array of the composite. */
    const pgtype_t *arr = pgtype_registry_put(reg, pgtype_new_array(50002, "addr[]", addr, ','));
    ck_assert_str_eq(encode_typed(arr, "{\"(x,1,{},)\",NULL}"),
                     "[{\"street\":\"x\",\"no\":1,\"tags\":[],\"since\":null},null]");
    /* A domain over int4 is an int4; an enum is its label. */
    const pgtype_t *dom = pgtype_registry_put(reg, pgtype_new_alias(50003, pgtype_builtin(PGTYPE_INT4)));
    ck_assert_str_eq(encode_typed(dom, "42"), "42");
    const pgtype_t *en = pgtype_registry_put(reg, pgtype_new_text(50004, "public.mood", "io.debezium.data.Enum"));
    ck_assert_str_eq(encode_typed(en, "happy"), "\"happy\"");
    ck_assert_ptr_eq(pgtype_registry_get(reg, 50003), dom);
    pgtype_registry_forget(reg);
    ck_assert_ptr_null(pgtype_registry_get(reg, 50003));
    ck_assert_ptr_nonnull(pgtype_registry_get(reg, PGTYPE_INT4));
    pgtype_registry_free(reg);
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
    encoder_value(enc, &ev, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "\"after\":{\"c0\":1,\"c1\":\"long\",\"c2\":\"AQ==\"}"));
    /* Without the whole old row: the placeholder; bytea as the placeholder's bytes. */
    strbuf_reset(&out);
    ev.before_is_key_only = true;
    encoder_value(enc, &ev, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "\"c1\":\"__debezium_unavailable_value\","
                                           "\"c2\":\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"}"));
}
END_TEST

START_TEST(test_schemas_wrap_key_and_value)
{
    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop", .schemas = true,
                              .transaction_block = true};
    encoder_free(enc);
    enc = encoder_new(FORMAT_JSON, &opts);
    static const uint32_t types[] = {PGTYPE_INT4, PGTYPE_DATE, 1007, PGTYPE_NUMERIC};
    static const bool keys[] = {true, false, false, false};
    relcache_entry_t *rel = put_typed_relation(types, 4, keys);
    encoder_prepare_relation(enc, rel);
    pgo_value_t vals[4] = {{PGO_VALUE_TEXT, 1, "7"}, {PGO_VALUE_TEXT, 10, "1970-01-03"},
                           {PGO_VALUE_TEXT, 5, "{1,2}"}, {PGO_VALUE_TEXT, 3, "1.5"}};
    pgo_tuple_t tuple = {.ncols = 4, .values = vals};
    ck_assert(encoder_key(enc, rel, &tuple, &out));
    json_t *k = parse(out.data);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(k, "payload"), "c0")), 7);
    json_t *kf = json_array_get(json_object_get(json_object_get(k, "schema"), "fields"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(kf, "type")), "int32");
    ck_assert(json_is_false(json_object_get(kf, "optional")));
    json_decref(k);

    strbuf_reset(&out);
    txn_order_t order = {.total_order = 3, .data_collection_order = 2};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    ev.order = &order;
    encoder_value(enc, &ev, &out);
    json_t *v = parse(out.data);
    json_t *fields = json_object_get(json_object_get(v, "schema"), "fields");
    json_t *after = json_array_get(fields, 1);
    ck_assert_str_eq(json_string_value(json_object_get(after, "field")), "after");
    json_t *d = json_array_get(json_object_get(after, "fields"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(d, "type")), "int32");
    ck_assert_str_eq(json_string_value(json_object_get(d, "name")), "io.debezium.time.Date");
    json_t *a = json_array_get(json_object_get(after, "fields"), 2);
    ck_assert_str_eq(json_string_value(json_object_get(a, "type")), "array");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(a, "items"), "type")), "int32");
    json_t *payload = json_object_get(v, "payload");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(payload, "after"), "c1")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(payload, "after"), "c3")), "1.5");
    json_t *tb = json_object_get(payload, "transaction");
    ck_assert_str_eq(json_string_value(json_object_get(tb, "id")), "738:26421000");
    ck_assert_int_eq(json_integer_value(json_object_get(tb, "total_order")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(tb, "data_collection_order")), 2);
    json_decref(v);
}
END_TEST

START_TEST(test_transaction_metadata_events)
{
    strbuf_reset(&out);
    encoder_txn_key(enc, &txn, &out);
    ck_assert_str_eq(out.data, "{\"id\":\"738:26421000\"}");
    strbuf_reset(&out);
    txn_meta_t begin = {.end = false, .txn = &txn};
    encoder_txn_value(enc, &begin, 0, &out);
    ck_assert_str_eq(out.data, "{\"status\":\"BEGIN\",\"id\":\"738:26421000\",\"event_count\":null,"
                               "\"data_collections\":null,\"ts_ms\":1700000000123}");
    strbuf_reset(&out);
    const char *const names[] = {"public.a", "s.b"};
    const uint64_t counts[] = {2, 1};
    txn_meta_t end = {.end = true, .txn = &txn, .event_count = 3, .ncollections = 2,
                      .collections = names, .collection_counts = counts};
    encoder_txn_value(enc, &end, 0, &out);
    ck_assert_str_eq(out.data, "{\"status\":\"END\",\"id\":\"738:26421000\",\"event_count\":3,"
                               "\"data_collections\":[{\"data_collection\":\"public.a\",\"event_count\":2},"
                               "{\"data_collection\":\"s.b\",\"event_count\":1}],\"ts_ms\":1700000000123}");
    assert_valid_json(out.data);
}
END_TEST

START_TEST(test_bytea_hex_text_becomes_base64)
{
    ck_assert_str_eq(encode_text(PGTYPE_BYTEA, "\\xdeadBEEF"), "\"3q2+7w==\"");
    ck_assert_str_eq(encode_text(PGTYPE_BYTEA, "\\x"), "\"\"");
    ck_assert_str_eq(encode_text(PGTYPE_BYTEA, "\\x00"), "\"AA==\"");
    /* Not hex format (odd digits, bad digit, escape format): passed through as text. */
    ck_assert_str_eq(encode_text(PGTYPE_BYTEA, "\\x123"), "\"\\\\x123\"");
    ck_assert_str_eq(encode_text(PGTYPE_BYTEA, "\\x0g"), "\"\\\\x0g\"");
    ck_assert_str_eq(encode_text(PGTYPE_BYTEA, "abc\\000"), "\"abc\\\\000\"");
}
END_TEST

START_TEST(test_large_bytea_becomes_base64)
{
    /* 600 bytes: past the encoder's stack buffer. 0x00 0x10 0x83 -> "ABCD". */
    static char text[2 + 1200 + 1];
    text[0] = '\\';
    text[1] = 'x';
    for (int i = 0; i < 200; i++)
        memcpy(text + 2 + 6 * i, "001083", 6);
    text[1202] = '\0';
    const char *got = encode_text(PGTYPE_BYTEA, text);
    ck_assert_uint_eq(strlen(got), 802);
    ck_assert_int_eq(got[0], '"');
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(memcmp(got + 1 + 4 * i, "ABCD", 4), 0);
    ck_assert_int_eq(got[801], '"');
}
END_TEST

START_TEST(test_null_unchanged_and_binary_values)
{
    ck_assert_str_eq(encode_one(PGTYPE_INT4, 'n', NULL, 0), "null");
    ck_assert_str_eq(encode_one(PGTYPE_TEXT, 'u', NULL, 0), "\"__debezium_unavailable_value\"");
    /* Binary-format values (never requested today) are written as base64, whatever the type. */
    ck_assert_str_eq(encode_one(PGTYPE_INT4, 'b', "\x00\x00\x00\x2a", 4), "\"AAAAKg==\"");
}
END_TEST

START_TEST(test_every_type_form_in_one_row_is_valid_json)
{
    static const uint32_t types[] = {PGTYPE_BOOL,   PGTYPE_INT8,  PGTYPE_FLOAT8, PGTYPE_FLOAT4,
                                     PGTYPE_BYTEA,  PGTYPE_TEXT,  PGTYPE_NUMERIC, PGTYPE_INT4,
                                     PGTYPE_TEXT};
    static const bool keys[] = {false, true, false, false, false, true, false, false, false};
    const relcache_entry_t *rel = put_typed_relation(types, 9, keys);
    pgo_value_t vals[9] = {
        {PGO_VALUE_TEXT, 1, "f"},          {PGO_VALUE_TEXT, 2, "-7"},
        {PGO_VALUE_TEXT, 8, "Infinity"},   {PGO_VALUE_TEXT, 4, "0.25"},
        {PGO_VALUE_TEXT, 6, "\\x4142"},    {PGO_VALUE_TEXT, 7, "line\n\"2"},
        {PGO_VALUE_TEXT, 5, "1e+10"},      {PGO_VALUE_NULL, 0, NULL},
        {PGO_VALUE_UNCHANGED_TOAST, 0, NULL},
    };
    pgo_tuple_t tuple = {.ncols = 9, .values = vals};
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    encoder_value(enc, &ev, &out);
    json_t *root = parse(out.data);
    json_t *after = json_object_get(root, "after");
    ck_assert(json_is_false(json_object_get(after, "c0")));
    ck_assert_int_eq(json_integer_value(json_object_get(after, "c1")), -7);
    ck_assert_str_eq(json_string_value(json_object_get(after, "c2")), "Infinity");
    ck_assert_double_eq(json_real_value(json_object_get(after, "c3")), 0.25);
    ck_assert_str_eq(json_string_value(json_object_get(after, "c4")), "QUI=");
    ck_assert_str_eq(json_string_value(json_object_get(after, "c5")), "line\n\"2");
    ck_assert_str_eq(json_string_value(json_object_get(after, "c6")), "1e+10");
    ck_assert(json_is_null(json_object_get(after, "c7")));
    ck_assert_str_eq(json_string_value(json_object_get(after, "c8")),
                     "__debezium_unavailable_value");
    ck_assert_str_eq(json_string_value(json_object_get(root, "op")), "c");
    json_t *source = json_object_get(root, "source");
    ck_assert_str_eq(json_string_value(json_object_get(source, "table")), "typed");
    ck_assert_int_eq(json_integer_value(json_object_get(source, "txId")), 738);
    json_decref(root);

    /* The key holds the flagged columns only, in column order. */
    strbuf_reset(&out);
    ck_assert(encoder_key(enc, rel, &tuple, &out));
    ck_assert_str_eq(out.data, "{\"c1\":-7,\"c5\":\"line\\n\\\"2\"}");
    assert_valid_json(out.data);
}
END_TEST

START_TEST(test_column_names_are_escaped)
{
    vec_t v = {0};
    v_u8(&v, 'R');
    v_u32(&v, 31000);
    v_str(&v, "sch\"ema");
    v_str(&v, "ta\\ble");
    v_u8(&v, 'd');
    v_u16(&v, 1);
    v_u8(&v, 1);
    v_str(&v, "we\"ird\tname");
    v_u32(&v, PGTYPE_INT4);
    v_u32(&v, 0xffffffff);
    const relcache_entry_t *rel = put_relation(v_seal(v));
    pgo_value_t val = {PGO_VALUE_TEXT, 1, "5"};
    pgo_tuple_t tuple = {.ncols = 1, .values = &val};
    ck_assert(encoder_key(enc, rel, &tuple, &out));
    ck_assert_str_eq(out.data, "{\"we\\\"ird\\tname\":5}");
    strbuf_reset(&out);
    change_event_t ev = event(OP_CREATE, rel);
    ev.after = &tuple;
    encoder_value(enc, &ev, &out);
    ck_assert_ptr_nonnull(strstr(out.data, "\"schema\":\"sch\\\"ema\",\"table\":\"ta\\\\ble\""));
    assert_valid_json(out.data);
}
END_TEST

START_TEST(test_key_is_refused_without_replica_identity)
{
    static const uint32_t types[] = {PGTYPE_INT4, PGTYPE_TEXT};
    const relcache_entry_t *rel = put_typed_relation(types, 2, NULL);
    ck_assert_uint_eq(rel->nkeys, 0);
    pgo_value_t vals[2] = {{PGO_VALUE_TEXT, 1, "1"}, {PGO_VALUE_TEXT, 1, "a"}};
    pgo_tuple_t tuple = {.ncols = 2, .values = vals};
    strbuf_puts(&out, "untouched");
    ck_assert(!encoder_key(enc, rel, &tuple, &out));
    ck_assert_str_eq(out.data, "untouched");
    ck_assert_uint_eq(out.len, 9);

    static const bool keys[] = {true, false};
    rel = put_typed_relation(types, 2, keys);
    ck_assert(!encoder_key(enc, rel, NULL, &out));
    ck_assert_str_eq(out.data, "untouched");
}
END_TEST

START_TEST(test_only_json_format_has_an_encoder)
{
    /* Protobuf has its own suite (test_protobuf.c); an unknown format has no encoder. */
    encoder_options_t opts = {0};
    ck_assert_ptr_null(encoder_new((output_format_t) 7, &opts));
    encoder_t *e = encoder_new(FORMAT_JSON, &opts);
    ck_assert_ptr_nonnull(e);
    encoder_free(e);
    encoder_free(NULL);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* json_append_string, json_append_base64                                    */

static const char *string_json(const char *s, size_t len)
{
    strbuf_reset(&out);
    json_append_string(&out, s, len);
    ck_assert_uint_eq(out.len, strlen(out.data));
    return out.data;
}

START_TEST(test_string_escapes_quote_backslash_and_controls)
{
    ck_assert_str_eq(string_json("", 0), "\"\"");
    ck_assert_str_eq(string_json("plain", 5), "\"plain\"");
    ck_assert_str_eq(string_json("a\"b\\c/d", 7), "\"a\\\"b\\\\c/d\"");
    ck_assert_str_eq(string_json("\n\r\t\b\f", 5), "\"\\n\\r\\t\\b\\f\"");
    ck_assert_str_eq(string_json("\x01\x1f\x0b", 3), "\"\\u0001\\u001f\\u000b\"");
    ck_assert_str_eq(string_json("a\0b", 3), "\"a\\u0000b\"");
    /* DEL is not a control character in JSON: passed as is. */
    ck_assert_str_eq(string_json("\x7f", 1), "\"\x7f\"");
}
END_TEST

START_TEST(test_string_passes_utf8_through)
{
    const char *s = "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\x98"; /* café ☃ 🐘 */
    ck_assert_str_eq(string_json(s, strlen(s)), "\"caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x90\x98\"");
    json_t *j = parse(out.data);
    ck_assert_str_eq(json_string_value(j), s);
    json_decref(j);
}
END_TEST

START_TEST(test_every_byte_below_0x80_round_trips_through_jansson)
{
    char all[128];
    for (int i = 0; i < 128; i++)
        all[i] = (char) i;
    string_json(all, sizeof all);
    json_t *j = parse(out.data);
    ck_assert_uint_eq(json_string_length(j), 128);
    ck_assert_mem_eq(json_string_value(j), all, 128);
    json_decref(j);
}
END_TEST

START_TEST(test_string_appends_after_existing_content)
{
    strbuf_reset(&out);
    strbuf_puts(&out, "[");
    json_append_string(&out, "x", 1);
    strbuf_putc(&out, ',');
    /* Long enough to force the buffer to grow mid-append (worst case 6 bytes per input byte). */
    char ctl[1000];
    memset(ctl, 1, sizeof ctl);
    json_append_string(&out, ctl, sizeof ctl);
    strbuf_putc(&out, ']');
    ck_assert_uint_eq(out.len, 1 + 3 + 1 + 2 + 6000 + 1);
    ck_assert_int_eq(strncmp(out.data, "[\"x\",\"\\u0001\\u0001", 18), 0);
    assert_valid_json(out.data);
}
END_TEST

/* The reference: RFC 8259's escaping, one byte at a time. */
static void escape_reference(strbuf_t *b, const unsigned char *s, size_t len)
{
    strbuf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\')
            strbuf_appendf(b, "\\%c", c);
        else if (c == '\n')
            strbuf_puts(b, "\\n");
        else if (c == '\r')
            strbuf_puts(b, "\\r");
        else if (c == '\t')
            strbuf_puts(b, "\\t");
        else if (c == '\b')
            strbuf_puts(b, "\\b");
        else if (c == '\f')
            strbuf_puts(b, "\\f");
        else if (c < 0x20)
            strbuf_appendf(b, "\\u%04x", c);
        else
            strbuf_putc(b, (char) c);
    }
    strbuf_putc(b, '"');
}

START_TEST(test_every_byte_at_every_offset_matches_the_reference)
{
    /* The encoder looks at eight bytes at a time: put each byte value at every
     * position of strings of 0..40 bytes (around word boundaries), in text of
     * plain ASCII, of UTF-8 continuation bytes, and with a second escape. */
    strbuf_t ref = {0};
    unsigned char s[40];
    for (int fill = 0; fill < 3; fill++) {
        for (size_t len = 1; len <= sizeof s; len++) {
            for (size_t pos = 0; pos < len; pos++) {
                for (int v = 0; v < 256; v++) {
                    for (size_t i = 0; i < len; i++)
                        s[i] = fill ? (unsigned char) (0x80 + (i * 7) % 64) : (unsigned char) ('a' + i % 26);
                    if (fill == 2) /* a second escape further on: the fast path resumes after one */
                        s[(pos + 9) % len] = '"';
                    s[pos] = (unsigned char) v;
                    strbuf_reset(&ref);
                    escape_reference(&ref, s, len);
                    string_json((const char *) s, len);
                    if (out.len != ref.len || memcmp(out.data, ref.data, ref.len) != 0)
                        ck_abort_msg("byte 0x%02x at %zu of %zu (fill %d): got %s, want %s", v, pos, len,
                                     fill, out.data, ref.data);
                }
            }
        }
    }
    strbuf_free(&ref);
}
END_TEST

static const char *base64_json(const char *s, size_t len)
{
    strbuf_reset(&out);
    json_append_base64(&out, (const uint8_t *) s, len);
    ck_assert_uint_eq(out.len, strlen(out.data));
    return out.data;
}

START_TEST(test_base64_matches_rfc4648_vectors)
{
    ck_assert_str_eq(base64_json("", 0), "\"\"");
    ck_assert_str_eq(base64_json("f", 1), "\"Zg==\"");
    ck_assert_str_eq(base64_json("fo", 2), "\"Zm8=\"");
    ck_assert_str_eq(base64_json("foo", 3), "\"Zm9v\"");
    ck_assert_str_eq(base64_json("foob", 4), "\"Zm9vYg==\"");
    ck_assert_str_eq(base64_json("fooba", 5), "\"Zm9vYmE=\"");
    ck_assert_str_eq(base64_json("foobar", 6), "\"Zm9vYmFy\"");
    ck_assert_str_eq(base64_json("\xfb\xff\xbf", 3), "\"+/+/\"");
    ck_assert_str_eq(base64_json("\x00\x00\x00", 3), "\"AAAA\"");
    assert_valid_json(out.data);
}
END_TEST

/*
 * The per-change path reuses its buffers: quoted array items unescape into
 * the walker's per-depth scratch, bytea decodes in the output's spare room.
 * Once warm, a thousand more events leave the heap exactly as it was (a
 * buffer allocated per event and kept, or leaked, would grow it).
 */
START_TEST(test_steady_state_does_not_grow_the_heap)
{
    static const uint32_t types[] = {PGTYPE_INT4, PGTYPE_TEXT, 1009, PGTYPE_BYTEA,
                                     PGTYPE_TIMESTAMPTZ, 1009};
    static const bool keys[] = {true, false, false, false, false, false};
    relcache_entry_t *rel = put_typed_relation(types, 6, keys);
#define TEXT_VALUE(lit) {PGO_VALUE_TEXT, sizeof(lit) - 1, lit}
    pgo_value_t vals[6] = {TEXT_VALUE("42"), TEXT_VALUE("hello"), TEXT_VALUE("{1,\"2 3\",4}"),
                           TEXT_VALUE("\\x0102"), TEXT_VALUE("2024-01-02 03:04:05+00"),
                           TEXT_VALUE("{{\"a b\",c},{NULL,\"e\\\"f\"}}")};
#undef TEXT_VALUE
    pgo_tuple_t tuple = {.ncols = 6, .values = vals};
    change_event_t ev = event(OP_UPDATE, rel);
    ev.before = &tuple;
    ev.after = &tuple;
    strbuf_t key = STRBUF_INIT;
    for (int i = 0; i < 10; i++) { /* warm up: the buffers reach their size */
        strbuf_reset(&key);
        strbuf_reset(&out);
        encoder_key(enc, rel, &tuple, &key);
        encoder_value(enc, &ev, &out);
    }
    ck_assert_ptr_nonnull(strstr(out.data, "\"c5\":[[\"a b\",\"c\"],[null,\"e\\\"f\"]]"));
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < 1000; i++) {
        strbuf_reset(&key);
        strbuf_reset(&out);
        encoder_key(enc, rel, &tuple, &key);
        encoder_value(enc, &ev, &out);
    }
    struct mallinfo2 after = mallinfo2();
    ck_assert_uint_eq(after.uordblks, before.uordblks);
    ck_assert_uint_eq(after.hblks, before.hblks);
    strbuf_free(&key);
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *ev = tcase_create("events");
    tcase_add_checked_fixture(ev, setup, teardown);
    tcase_add_test(ev, test_insert_event_from_recorded_insert);
    tcase_add_test(ev, test_update_event_with_old_key_writes_key_only_before);
    tcase_add_test(ev, test_update_event_with_full_identity_writes_whole_before);
    tcase_add_test(ev, test_delete_event_with_old_key);
    tcase_add_test(ev, test_unchanged_toast_value_becomes_placeholder);
    tcase_add_test(ev, test_truncate_event_has_no_rows);
    tcase_add_test(ev, test_message_event_carries_prefix_and_base64_content);
    tcase_add_test(ev, test_value_appends_to_what_the_buffer_holds);
    suite_add_tcase(s, ev);

    TCase *ty = tcase_create("types");
    tcase_add_checked_fixture(ty, setup, teardown);
    tcase_add_test(ty, test_bool_text_becomes_json_boolean);
    tcase_add_test(ty, test_integer_types_become_exact_json_numbers);
    tcase_add_test(ty, test_float_types_become_numbers_except_nan_and_infinity);
    tcase_add_test(ty, test_numeric_and_other_types_keep_their_text_form);
    tcase_add_test(ty, test_dates_become_days_since_epoch);
    tcase_add_test(ty, test_times_and_timestamps_become_microseconds);
    tcase_add_test(ty, test_zoned_times_become_iso_8601_strings);
    tcase_add_test(ty, test_money_becomes_exact_decimal);
    tcase_add_test(ty, test_arrays_become_json_arrays);
    tcase_add_test(ty, test_composites_domains_and_enums_take_their_types_forms);
    tcase_add_test(ty, test_full_identity_fills_unchanged_toast_from_old_row);
    tcase_add_test(ty, test_schemas_wrap_key_and_value);
    tcase_add_test(ty, test_transaction_metadata_events);
    tcase_add_test(ty, test_bytea_hex_text_becomes_base64);
    tcase_add_test(ty, test_large_bytea_becomes_base64);
    tcase_add_test(ty, test_null_unchanged_and_binary_values);
    tcase_add_test(ty, test_every_type_form_in_one_row_is_valid_json);
    tcase_add_test(ty, test_column_names_are_escaped);
    tcase_add_test(ty, test_key_is_refused_without_replica_identity);
    tcase_add_test(ty, test_only_json_format_has_an_encoder);
    tcase_add_test(ty, test_steady_state_does_not_grow_the_heap);
    suite_add_tcase(s, ty);

    TCase *str = tcase_create("strings");
    tcase_add_checked_fixture(str, setup, teardown);
    tcase_add_test(str, test_string_escapes_quote_backslash_and_controls);
    tcase_add_test(str, test_string_passes_utf8_through);
    tcase_add_test(str, test_every_byte_below_0x80_round_trips_through_jansson);
    tcase_add_test(str, test_string_appends_after_existing_content);
    tcase_add_test(str, test_every_byte_at_every_offset_matches_the_reference);
    tcase_add_test(str, test_base64_matches_rfc4648_vectors);
    suite_add_tcase(s, str);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
