/*
 * test_pgtext.c — the parsers of PostgreSQL's text forms that json.c and
 * protobuf.c share (pgtext.h): each accepts exactly the text it documents,
 * gives the neutral value both encoders write, and leaves the caller's
 * buffer as it was when it refuses. test_json.c and test_protobuf.c check
 * the encoders' output for the same texts; this pins the contract between.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sluice/encode/pgtext.h"

#define S(lit) (lit), (sizeof(lit) - 1)

START_TEST(test_is_number_accepts_json_numbers_only)
{
    ck_assert(pgtext_is_number(S("0")));
    ck_assert(pgtext_is_number(S("-1.5e+300")));
    ck_assert(pgtext_is_number(S("2.2250738585072014E-308")));
    ck_assert(pgtext_is_number(S("0.10")));
    ck_assert(!pgtext_is_number(S("")));
    ck_assert(!pgtext_is_number(S("-")));
    ck_assert(!pgtext_is_number(S("007")));
    ck_assert(!pgtext_is_number(S("1.")));
    ck_assert(!pgtext_is_number(S(".5")));
    ck_assert(!pgtext_is_number(S("1e")));
    ck_assert(!pgtext_is_number(S("NaN")));
    ck_assert(!pgtext_is_number(S("-Infinity")));
    ck_assert(!pgtext_is_number(S("1,5")));
}
END_TEST

START_TEST(test_money_gives_the_exact_decimal)
{
    char buf[64];
    size_t n = 0;
    ck_assert(pgtext_money_decimal(S("-$92,233,720,368,547,758.08"), buf, sizeof buf, &n));
    ck_assert_str_eq((buf[n] = '\0', buf), "-92233720368547758.08");
    ck_assert(pgtext_money_decimal(S("$0.00"), buf, sizeof buf, &n));
    ck_assert_str_eq((buf[n] = '\0', buf), "0.00");
    ck_assert(!pgtext_money_decimal(S("1.234,56 EUR"), buf, sizeof buf, &n));
    ck_assert(!pgtext_money_decimal(S("$1,2x"), buf, sizeof buf, &n));
    ck_assert(!pgtext_money_decimal(S("-$"), buf, sizeof buf, &n));
    /* A decimal that does not fit the caller's buffer is not parsed (nor cut short). */
    ck_assert(!pgtext_money_decimal(S("$123,456"), buf, 6, &n));
    ck_assert(pgtext_money_decimal(S("$123,456"), buf, 7, &n));
    ck_assert_uint_eq(n, 6);
}
END_TEST

START_TEST(test_bytea_hex_gives_the_bytes)
{
    uint8_t b[8];
    size_t n = 99;
    ck_assert(pgtext_bytea_hex(S("\\x00ffA0"), b, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert(b[0] == 0x00 && b[1] == 0xff && b[2] == 0xa0);
    ck_assert(pgtext_bytea_hex(S("\\x"), b, &n));
    ck_assert_uint_eq(n, 0);
    ck_assert(!pgtext_bytea_hex(S("\\x123"), b, &n));
    ck_assert(!pgtext_bytea_hex(S("\\x0g"), b, &n));
    ck_assert(!pgtext_bytea_hex(S("abc\\000"), b, &n));
    ck_assert(!pgtext_bytea_hex(S(""), b, &n));
}
END_TEST

START_TEST(test_date_and_timestamp_values_map_infinity_to_debeziums_sentinels)
{
    int64_t v;
    ck_assert(pgtext_date_value(S("infinity"), &v));
    ck_assert_int_eq(v, INT32_MAX);
    ck_assert(pgtext_date_value(S("-infinity"), &v));
    ck_assert_int_eq(v, INT32_MIN);
    ck_assert(pgtext_date_value(S("1970-01-02"), &v));
    ck_assert_int_eq(v, 1);
    ck_assert(pgtext_date_value(S("0001-12-31 BC"), &v));
    ck_assert_int_eq(v, -719163);
    ck_assert(!pgtext_date_value(S("Infinity"), &v));

    ck_assert(pgtext_timestamp_value(S("infinity"), &v));
    ck_assert_int_eq(v, INT64_MAX);
    ck_assert(pgtext_timestamp_value(S("-infinity"), &v));
    ck_assert_int_eq(v, INT64_MIN);
    ck_assert(pgtext_timestamp_value(S("1970-01-01 00:00:01.5"), &v));
    ck_assert_int_eq(v, 1500000);
    ck_assert(pgtext_timestamp_value(S("294246-12-31 23:59:59.999999"), &v));
    /* Past int64 microseconds (and at INT64_MAX, which reads as infinity): not parsed. */
    ck_assert(!pgtext_timestamp_value(S("294247-01-10 04:00:54.775807"), &v));
    ck_assert(!pgtext_timestamp_value(S("294276-12-31 23:59:59.999999"), &v));
    ck_assert(!pgtext_timestamp_value(S("2024-01-02 03:04:05+00"), &v));
}
END_TEST

/* The ISO form appended to out; "(refused)" (and out unchanged) when it is not parsed. */
static const char *iso(bool (*parse)(const char *, size_t, strbuf_t *), const char *text)
{
    static strbuf_t out = STRBUF_INIT;
    strbuf_reset(&out);
    strbuf_puts(&out, "kept|");
    if (!parse(text, strlen(text), &out)) {
        ck_assert_str_eq(out.data, "kept|");
        return "(refused)";
    }
    ck_assert_mem_eq(out.data, "kept|", 5);
    return out.data + 5;
}

START_TEST(test_timestamptz_iso_is_utc_with_astronomical_years)
{
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-05-01 12:00:00.5+00"), "2024-05-01T12:00:00.5Z");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-01-02 03:04:05+05:30"),
                     "2024-01-02T03:04:05+05:30");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-01-02 03:04:05-08"), "2024-01-02T03:04:05-08:00");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "0044-03-15 12:00:00+00 BC"), "-0043-03-15T12:00:00Z");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "0001-01-01 00:00:00+00 BC"), "0000-01-01T00:00:00Z");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "10000-01-01 00:00:00+00"), "+10000-01-01T00:00:00Z");
    /* Years past int64 saturate as strtoll does; digit for digit below that (both encoders). */
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "9223372036854775803-01-01 00:00:00+00"),
                     "+9223372036854775803-01-01T00:00:00Z");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "12345678901234567890123-01-01 00:00:00+00"),
                     "+9223372036854775807-01-01T00:00:00Z");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "infinity"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "-infinity"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-01-02 03:04:05"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-01-02 03:04:05+5"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-01-02 03:04:05 UTC"), "(refused)");
    /* The month and day are copied into the ISO text: anything but digits is refused. */
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-0\"-02 03:04:05+00"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-01x02 03:04:05+00"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timestamptz_iso, "2024-01-0\n 03:04:05+00"), "(refused)");
}
END_TEST

START_TEST(test_timetz_iso_keeps_the_offset)
{
    ck_assert_str_eq(iso(pgtext_timetz_iso, "12:00:00.5+02"), "12:00:00.5+02:00");
    ck_assert_str_eq(iso(pgtext_timetz_iso, "00:00:00+00"), "00:00:00Z");
    ck_assert_str_eq(iso(pgtext_timetz_iso, "12:00:00-00:53:28"), "12:00:00-00:53:28");
    ck_assert_str_eq(iso(pgtext_timetz_iso, "12:00:00 PST"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timetz_iso, "12:00+02"), "(refused)");
    ck_assert_str_eq(iso(pgtext_timetz_iso, "12:00:00+02:0"), "(refused)");
}
END_TEST

/* The items of an array or record as "KIND:text|...", quoted ones unquoted; "BAD" ends it. */
static const char *items(const char *text, bool array)
{
    static char buf[512];
    size_t n = 0, len = strlen(text);
    pgtext_list_t l;
    if (array)
        pgtext_array_begin(&l, text, len, 0, ',');
    else
        pgtext_record_begin(&l, text, len);
    for (;;) {
        pgtext_item_t it = pgtext_list_next(&l);
        char unq[128];
        switch (it.kind) {
        case PGTEXT_ITEM_BAD: snprintf(buf + n, sizeof buf - n, "BAD"); return buf;
        case PGTEXT_ITEM_END:
            snprintf(buf + n, sizeof buf - n, "END@%zu", l.pos);
            return buf;
        case PGTEXT_ITEM_NULL: n += (size_t) snprintf(buf + n, sizeof buf - n, "NULL|"); break;
        case PGTEXT_ITEM_BARE:
            n += (size_t) snprintf(buf + n, sizeof buf - n, "BARE:%.*s|", (int) (it.end - it.start),
                                   text + it.start);
            break;
        case PGTEXT_ITEM_QUOTED:
            ck_assert_uint_lt(it.n, sizeof unq);
            ck_assert_uint_eq(pgtext_unquote(text, &it, unq), it.n);
            ck_assert_uint_eq(strlen(unq), it.n);
            n += (size_t) snprintf(buf + n, sizeof buf - n, "QUOTED:%s|", unq);
            break;
        case PGTEXT_ITEM_ARRAY: {
            /* The caller parses a nested dimension and moves pos past it. */
            pgtext_list_t inner;
            pgtext_array_begin(&inner, text, len, l.pos, ',');
            while (pgtext_list_next(&inner).kind > PGTEXT_ITEM_END)
                ;
            n += (size_t) snprintf(buf + n, sizeof buf - n, "ARRAY:%.*s|",
                                   (int) (inner.pos - l.pos), text + l.pos);
            l.pos = inner.pos;
            break;
        }
        }
    }
}

START_TEST(test_array_items_follow_array_out)
{
    ck_assert_str_eq(items("{}", true), "END@2");
    ck_assert_str_eq(items("{1,NULL,\"NULL\",\"\",\"a,b\",\"c\\\"d\\\\e\"}", true),
                     "BARE:1|NULL|QUOTED:NULL|QUOTED:|QUOTED:a,b|QUOTED:c\"d\\e|END@34");
    ck_assert_str_eq(items("{{1,2},{3}}", true), "ARRAY:{1,2}|ARRAY:{3}|END@11");
    ck_assert_str_eq(items("{1,2}tail", true), "BARE:1|BARE:2|END@5"); /* the caller checks the end */
    ck_assert_str_eq(items("{1,,2}", true), "BARE:1|BAD");
    ck_assert_str_eq(items("{1,}", true), "BARE:1|BAD");
    ck_assert_str_eq(items("{1,2", true), "BARE:1|BARE:2|BAD");
    ck_assert_str_eq(items("{\"abc}", true), "BAD");
    ck_assert_str_eq(items("{\"a\"x}", true), "QUOTED:a|BAD");
    ck_assert_str_eq(items("[0:2]={7,8,9}", true), "BAD");
    ck_assert_str_eq(items("{\"a\"\"b\"}", true), "QUOTED:a|BAD"); /* doubled quotes are records' */
}
END_TEST

START_TEST(test_record_fields_follow_record_out)
{
    ck_assert_str_eq(items("(1,\"a b\",)", false), "BARE:1|QUOTED:a b|NULL|END@10");
    ck_assert_str_eq(items("()", false), "NULL|END@2"); /* one empty field: zero-field types check */
    ck_assert_str_eq(items("(,)", false), "NULL|NULL|END@3");
    ck_assert_str_eq(items("(\"a\"\"b\",\"c\\\\d\",{1,2})", false),
                     "QUOTED:a\"b|QUOTED:c\\d|BARE:{1|BARE:2}|END@21");
    ck_assert_str_eq(items("(NULL)", false), "BARE:NULL|END@6"); /* NULL is an array word */
    ck_assert_str_eq(items("(1,2", false), "BARE:1|BARE:2|BAD");
    ck_assert_str_eq(items("(\"a)", false), "BAD");
    ck_assert_str_eq(items("x(1)", false), "BAD");
    /* After a quoted field any character separates (record_out always writes ','). */
    ck_assert_str_eq(items("(\"a\"x1)", false), "QUOTED:a|BARE:1|END@7");
}
END_TEST

static Suite *pgtext_suite(void)
{
    Suite *s = suite_create("pgtext");
    TCase *tc = tcase_create("pgtext");
    tcase_add_test(tc, test_is_number_accepts_json_numbers_only);
    tcase_add_test(tc, test_money_gives_the_exact_decimal);
    tcase_add_test(tc, test_bytea_hex_gives_the_bytes);
    tcase_add_test(tc, test_date_and_timestamp_values_map_infinity_to_debeziums_sentinels);
    tcase_add_test(tc, test_timestamptz_iso_is_utc_with_astronomical_years);
    tcase_add_test(tc, test_timetz_iso_keeps_the_offset);
    tcase_add_test(tc, test_array_items_follow_array_out);
    tcase_add_test(tc, test_record_fields_follow_record_out);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pgtext_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
