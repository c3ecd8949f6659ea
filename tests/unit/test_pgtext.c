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

#include "sluice/base/jsonstr.h"
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


/* The unscaled value of text at scale, as hex bytes ("" when refused). */
static const char *unscaled(const char *text, int32_t scale)
{
    static char hex[512];
    strbuf_t b = STRBUF_INIT;
    hex[0] = '\0';
    if (pgtext_decimal_unscaled(text, strlen(text), scale, &b)) {
        for (size_t i = 0; i < b.len && 2 * i + 2 < sizeof hex; i++)
            snprintf(hex + 2 * i, 3, "%02x", (uint8_t) b.data[i]);
        if (b.len == 0)
            strcpy(hex, "(empty)");
    }
    strbuf_free(&b);
    return hex;
}

/* Expected bytes from Java: new BigDecimal(text).setScale(scale).unscaledValue().toByteArray(). */
START_TEST(test_decimal_unscaled_matches_javas_biginteger_bytes)
{
    ck_assert_str_eq(unscaled("0", 0), "00");
    ck_assert_str_eq(unscaled("0", 2), "00");
    ck_assert_str_eq(unscaled("1.50", 2), "0096");
    ck_assert_str_eq(unscaled("-1.50", 2), "ff6a");
    ck_assert_str_eq(unscaled("127", 0), "7f");
    ck_assert_str_eq(unscaled("128", 0), "0080");
    ck_assert_str_eq(unscaled("-128", 0), "80");
    ck_assert_str_eq(unscaled("-129", 0), "ff7f");
    ck_assert_str_eq(unscaled("255", 0), "00ff");
    ck_assert_str_eq(unscaled("256", 0), "0100");
    ck_assert_str_eq(unscaled("-256", 0), "ff00");
    ck_assert_str_eq(unscaled("-0.01", 2), "ff");
    ck_assert_str_eq(unscaled("12300", -2), "7b");
    ck_assert_str_eq(unscaled("1.5", 3), "05dc");
    ck_assert_str_eq(unscaled("-92233720368547758.08", 2), "8000000000000000");
    ck_assert_str_eq(unscaled("92233720368547758.07", 2), "7fffffffffffffff");
    ck_assert_str_eq(unscaled("-12345678901234567890.123456789012345678901", 21),
                     "dbb824bb6677687ac940a4441bf18993cb");
    ck_assert_str_eq(unscaled("99999999999999999999999999999999999999", 0),
                     "4b3b4ca85a86c47a098a223fffffffff");
    /* Not exact at the scale, or not a plain decimal: refused. */
    ck_assert_str_eq(unscaled("1.55", 1), "");
    ck_assert_str_eq(unscaled("12345", -2), "");
    ck_assert_str_eq(unscaled("NaN", 0), "");
    ck_assert_str_eq(unscaled("1e5", 0), "");
    ck_assert_str_eq(unscaled("1.", 0), "");
    ck_assert_str_eq(unscaled("", 0), "");
}
END_TEST

/* 1000 digits and a fraction: the limbs leave the stack; Java's bytes, in base64. */
START_TEST(test_decimal_unscaled_of_a_thousand_digits)
{
    strbuf_t text = STRBUF_INIT, b = STRBUF_INIT, b64 = STRBUF_INIT;
    strbuf_putc(&text, '-');
    for (int i = 0; i < 1000; i++)
        strbuf_putc(&text, (char) ('1' + i % 9));
    strbuf_puts(&text, ".5");
    ck_assert(pgtext_decimal_unscaled(text.data, text.len, 1, &b));
    json_append_base64(&b64, (const uint8_t *) b.data, b.len);
    ck_assert_str_eq(
        b64.data,
        "\"+01EReSC9TZKFnY1zSQFykADxAl3k5rEdkiwNpj12nP/jYrsDIWHH9WHhZLIYOP7vknJLlI8CTlUEyeCIRG6lRZbe6sROXvYXllHuoOouWobWRl65DAQGKt0KNXpDaeP+0IV/gUEUUhbjMsLHzM+0Ru4DN5IAO/J/C1/CdAgoclmzip8P1dKBgmRhAFWvVvZ2w0HRtD6yMf5OCCRRqfnIHpw4Uh1YYYUiZfarzls1xCGrBdIceLFBq3k5iIk5OAKPY0IIDmf5Df/un9UvzpuCge7yQNb+S9kWT9GTwP+iBI2ciSoh7MeruQHVdGuMAZXkHMfjuVHN+AbCvQrUqL3QkDCOGculoyeoWrUfIMTXxxZM4m8odGdhSbTYWso+ff46AM44CL6ldXMhdz4Yq/AilTOdvr7aPCzjOPWp6wI38OF3ZLac1G099Iy0pgCiAv1AxDNy7scJ/2kwtOrvHChhTN3nAQzWIveH+7uYE2yxYhNZqfv10C7OQEApRIzNiMf50kHWn4H2cA/MFpEhWP7GDcUkFMsG8bGNDP4tG5K270=\"");
    ck_assert_int_eq(pgtext_decimal_scale(text.data, text.len), 1);
    ck_assert_int_eq(pgtext_decimal_scale("7", 1), 0);
    ck_assert_int_eq(pgtext_decimal_scale("0.10", 4), 2);
    strbuf_free(&text);
    strbuf_free(&b);
    strbuf_free(&b64);
}
END_TEST

static const char *dbl(double v, bool single)
{
    static char buf[64];
    pgtext_format_double(v, single, buf);
    return buf;
}

/* PostgreSQL's float8out / float4out with extra_float_digits = 1 (what pgoutput sends). */
START_TEST(test_format_double_writes_postgresqls_shortest_digits)
{
    ck_assert_str_eq(dbl(0.1, false), "0.1");
    ck_assert_str_eq(dbl(1e15, false), "1e+15");
    ck_assert_str_eq(dbl(123456789012345.0, false), "123456789012345");
    ck_assert_str_eq(dbl(0.0001, false), "0.0001");
    ck_assert_str_eq(dbl(0.00001, false), "1e-05");
    ck_assert_str_eq(dbl(-1.2345678901234567e19, false), "-1.2345678901234567e+19");
    ck_assert_str_eq(dbl(2.2250738585072014e-308, false), "2.2250738585072014e-308");
    ck_assert_str_eq(dbl(5e-324, false), "5e-324");
    ck_assert_str_eq(dbl(12345.6789, false), "12345.6789");
    ck_assert_str_eq(dbl(0, false), "0");
    ck_assert_str_eq(dbl((double) 3.4028235e+38f, true), "3.4028235e+38");
    ck_assert_str_eq(dbl(100000.0, true), "100000");
    ck_assert_str_eq(dbl(1000000.0, true), "1e+06");
}
END_TEST

static int64_t interval_us(const char *text, bool *ok, bool *saturated)
{
    int64_t us = 0;
    *ok = pgtext_interval_micros(text, strlen(text), &us, saturated);
    return us;
}

/* Debezium's MicroDuration: a month is 30.4375 days (2629800 s). */
START_TEST(test_interval_micros_counts_months_as_debezium)
{
    bool ok, sat;
    ck_assert_int_eq(interval_us("PT0S", &ok, &sat), 0);
    ck_assert(ok && !sat);
    ck_assert_int_eq(interval_us("P1Y2M-3DT4H5M6.789S", &ok, &sat), INT64_C(36572706789000));
    ck_assert(ok);
    ck_assert_int_eq(interval_us("P1M", &ok, &sat), INT64_C(2629800000000));
    ck_assert_int_eq(interval_us("P1D", &ok, &sat), INT64_C(86400000000));
    ck_assert_int_eq(interval_us("PT-0.5S", &ok, &sat), -500000);
    ck_assert_int_eq(interval_us("P-1DT-2H", &ok, &sat), -INT64_C(93600000000));
    ck_assert_int_eq(interval_us("PT1.000001S", &ok, &sat), 1000001);
    ck_assert_int_eq(interval_us("P-178000000Y", &ok, &sat), INT64_MIN);
    ck_assert(ok && sat);
    ck_assert_int_eq(interval_us("P178000000Y", &ok, &sat), INT64_MAX);
    ck_assert(ok && sat);
    interval_us("1 day", &ok, &sat);
    ck_assert(!ok);
    interval_us("P", &ok, &sat);
    ck_assert(!ok);
    interval_us("P1DT", &ok, &sat);
    ck_assert(ok); /* a "T" with nothing after it adds nothing */
    interval_us("P1H", &ok, &sat);
    ck_assert(!ok);
    interval_us("P1D2Y", &ok, &sat);
    ck_assert(!ok);
}
END_TEST

START_TEST(test_timestamptz_year_is_astronomical)
{
    int64_t y;
    ck_assert(pgtext_timestamptz_year("2024-05-01 12:00:00+00", 22, &y));
    ck_assert_int_eq(y, 2024);
    ck_assert(pgtext_timestamptz_year("0044-03-15 12:00:00+00 BC", 25, &y));
    ck_assert_int_eq(y, -43);
    ck_assert(pgtext_timestamptz_year("10000-01-01 00:00:00+00", 23, &y));
    ck_assert_int_eq(y, 10000);
    ck_assert(!pgtext_timestamptz_year("infinity", 8, &y));
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
    tcase_add_test(tc, test_decimal_unscaled_matches_javas_biginteger_bytes);
    tcase_add_test(tc, test_decimal_unscaled_of_a_thousand_digits);
    tcase_add_test(tc, test_format_double_writes_postgresqls_shortest_digits);
    tcase_add_test(tc, test_interval_micros_counts_months_as_debezium);
    tcase_add_test(tc, test_timestamptz_year_is_astronomical);
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
