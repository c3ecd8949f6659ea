/*
 * test_checkpoint.c — the checkpoint record's JSON form (checkpoint_to_json,
 * checkpoint_from_json) and the LSN text form it relies on (lsn_parse).
 *
 * A checkpoint decides where streaming resumes, so a record that is not
 * exactly a sluice checkpoint must be refused, never half-read.
 */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "sluice/base/checkpoint.h"

static checkpoint_t sample(void)
{
    checkpoint_t cp = {.present = true,
                       .commit_lsn = UINT64_C(0x16B374D848),
                       .end_lsn = UINT64_C(0x16B374D880),
                       .xid = 741,
                       .commit_ts_us = INT64_C(1700000000123456),
                       .seq = 42};
    strcpy(cp.system_id, "7301234567890123456");
    return cp;
}

static bool from_json(const char *text, checkpoint_t *out, char *err, size_t errlen)
{
    return checkpoint_from_json(text, strlen(text), out, err, errlen);
}

START_TEST(test_json_form_is_exact)
{
    checkpoint_t cp = sample();
    strbuf_t out = STRBUF_INIT;
    checkpoint_to_json(&cp, "sluice", &out);
    ck_assert_str_eq(out.data, "{\"slot\":\"sluice\",\"commit_lsn\":\"16/B374D848\","
                               "\"end_lsn\":\"16/B374D880\",\"xid\":741,"
                               "\"commit_ts_us\":1700000000123456,\"seq\":42,"
                               "\"system_id\":\"7301234567890123456\","
                               "\"sluice\":\"" SLUICE_VERSION "\"}");
    strbuf_free(&out);
}
END_TEST

START_TEST(test_lsn_low_half_is_zero_padded)
{
    checkpoint_t cp = sample();
    cp.commit_lsn = 0x16B3748;
    cp.end_lsn = 0x16B3780;
    strbuf_t out = STRBUF_INIT;
    checkpoint_to_json(&cp, "s", &out);
    ck_assert_ptr_nonnull(strstr(out.data, "\"commit_lsn\":\"0/016B3748\",\"end_lsn\":\"0/016B3780\""));
    strbuf_free(&out);
}
END_TEST

START_TEST(test_round_trip_keeps_every_field)
{
    checkpoint_t cps[3] = {sample(), sample(), sample()};
    /* Extremes: the largest values each field can hold. */
    cps[1].commit_lsn = UINT64_C(0xFFFFFFFFFFFFFF00);
    cps[1].end_lsn = UINT64_MAX;
    cps[1].xid = UINT32_MAX;
    cps[1].seq = INT64_MAX;
    cps[1].commit_ts_us = INT64_MIN + 1;
    strcpy(cps[1].system_id, "18446744073709551615");
    cps[2].commit_lsn = cps[2].end_lsn = 0;
    cps[2].xid = 0;
    cps[2].seq = 0;
    cps[2].commit_ts_us = 0;
    cps[2].system_id[0] = '\0';
    for (int i = 0; i < 3; i++) {
        strbuf_t out = STRBUF_INIT;
        checkpoint_to_json(&cps[i], "slot_\"x\"", &out);
        checkpoint_t back;
        memset(&back, 0xa5, sizeof back);
        char err[256] = "";
        ck_assert_msg(checkpoint_from_json(out.data, out.len, &back, err, sizeof err),
                      "%d: %s (%s)", i, err, out.data);
        ck_assert(back.present);
        ck_assert_uint_eq(back.commit_lsn, cps[i].commit_lsn);
        ck_assert_uint_eq(back.end_lsn, cps[i].end_lsn);
        ck_assert_uint_eq(back.xid, cps[i].xid);
        ck_assert_int_eq(back.commit_ts_us, cps[i].commit_ts_us);
        ck_assert_uint_eq(back.seq, cps[i].seq);
        ck_assert_str_eq(back.system_id, cps[i].system_id);
        /* The slot name is escaped: the record is valid JSON with the name intact. */
        json_t *root = json_loads(out.data, 0, NULL);
        ck_assert_ptr_nonnull(root);
        ck_assert_str_eq(json_string_value(json_object_get(root, "slot")), "slot_\"x\"");
        json_decref(root);
        strbuf_free(&out);
    }
}
END_TEST

START_TEST(test_accepts_unpadded_lsn_and_unknown_extra_fields)
{
    checkpoint_t cp;
    char err[256];
    ck_assert_msg(from_json("{\"commit_lsn\":\"0/16B3748\",\"end_lsn\":\"0/16B3780\",\"xid\":1,"
                            "\"seq\":2,\"commit_ts_us\":3,\"system_id\":\"9\",\"future\":[1]}",
                            &cp, err, sizeof err),
                  "%s", err);
    ck_assert_uint_eq(cp.commit_lsn, 0x16B3748);
    ck_assert_uint_eq(cp.end_lsn, 0x16B3780);
}
END_TEST

/* Each record must be refused, with an error containing `why`. */
static void assert_refused(const char *record, const char *why)
{
    checkpoint_t cp;
    memset(&cp, 0xa5, sizeof cp);
    char err[256] = "";
    ck_assert_msg(!from_json(record, &cp, err, sizeof err), "accepted: %s", record);
    ck_assert_msg(strstr(err, why), "record %s: error \"%s\" lacks \"%s\"", record, err, why);
    ck_assert(!cp.present);
}

#define GOOD_REST "\"xid\":1,\"seq\":2,\"commit_ts_us\":3,\"system_id\":\"9\""

START_TEST(test_refuses_records_that_are_not_json_objects)
{
    assert_refused("", "not a JSON object");
    assert_refused("garbage", "not a JSON object");
    assert_refused("[1,2]", "not a JSON object");
    assert_refused("\"0/1\"", "not a JSON object");
    assert_refused("{\"commit_lsn\":\"0/1\"", "not a JSON object");
    assert_refused("{\"commit_lsn\":\"0/1\",\"commit_lsn\":\"0/2\",\"end_lsn\":\"0/3\"," GOOD_REST "}",
                   "not a JSON object");
}
END_TEST

START_TEST(test_refuses_missing_or_malformed_lsns)
{
    assert_refused("{\"end_lsn\":\"0/2\"," GOOD_REST "}", "\"commit_lsn\" is missing or not an LSN");
    assert_refused("{\"commit_lsn\":\"0/1\"," GOOD_REST "}", "\"end_lsn\" is missing or not an LSN");
    assert_refused("{\"commit_lsn\":16,\"end_lsn\":\"0/2\"," GOOD_REST "}", "\"commit_lsn\"");
    assert_refused("{\"commit_lsn\":\"0-1\",\"end_lsn\":\"0/2\"," GOOD_REST "}", "\"commit_lsn\"");
    assert_refused("{\"commit_lsn\":\"0/1 \",\"end_lsn\":\"0/2\"," GOOD_REST "}", "\"commit_lsn\"");
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2/3\"," GOOD_REST "}", "\"end_lsn\"");
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":null," GOOD_REST "}", "\"end_lsn\"");
}
END_TEST

START_TEST(test_refuses_missing_or_mistyped_fields)
{
    static const char *const bad[] = {
        "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"seq\":2,\"commit_ts_us\":3,\"system_id\":\"9\"}",
        "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":\"1\",\"seq\":2,\"commit_ts_us\":3,"
        "\"system_id\":\"9\"}",
        "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2.5,\"commit_ts_us\":3,"
        "\"system_id\":\"9\"}",
        "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":-1,\"commit_ts_us\":3,"
        "\"system_id\":\"9\"}",
        "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,\"system_id\":\"9\"}",
        "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,\"commit_ts_us\":3,"
        "\"system_id\":9}",
        "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,\"commit_ts_us\":3}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(bad[i], "missing or of the wrong type");
}
END_TEST

START_TEST(test_refuses_xid_outside_32_bits)
{
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":4294967296,\"seq\":2,"
                   "\"commit_ts_us\":3,\"system_id\":\"9\"}",
                   "xid");
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":-1,\"seq\":2,"
                   "\"commit_ts_us\":3,\"system_id\":\"9\"}",
                   "xid");
}
END_TEST

/* Found by fuzz_checkpoint: a longer system_id was cut to 31 bytes and accepted. */
START_TEST(test_refuses_system_id_longer_than_fits)
{
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,"
                   "\"commit_ts_us\":3,\"system_id\":\"73012345678901234567890123456789\"}",
                   "\"system_id\" is longer");
    checkpoint_t cp;
    char err[256];
    const char *fits = "{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,"
                       "\"commit_ts_us\":3,\"system_id\":\"7301234567890123456789012345678\"}";
    ck_assert_msg(checkpoint_from_json(fits, strlen(fits), &cp, err, sizeof err), "%s", err);
    ck_assert_str_eq(cp.system_id, "7301234567890123456789012345678");
    checkpoint_clear(&cp);
}
END_TEST

/* The timeline (issue 16, failover) is optional: absent in older records, written when known. */
START_TEST(test_timeline_round_trip_and_refusals)
{
    checkpoint_t cp = sample(), back;
    char err[256];
    cp.timeline = 7;
    strbuf_t out = STRBUF_INIT;
    checkpoint_to_json(&cp, "s", &out);
    ck_assert_ptr_nonnull(strstr(out.data, ",\"system_id\":\"7301234567890123456\",\"timeline\":7,"));
    ck_assert(from_json(out.data, &back, err, sizeof err));
    ck_assert_uint_eq(back.timeline, 7);
    strbuf_free(&out);
    cp.timeline = 0; /* unknown: not written, read back as 0 */
    checkpoint_to_json(&cp, "s", &out);
    ck_assert_ptr_null(strstr(out.data, "timeline"));
    ck_assert(from_json(out.data, &back, err, sizeof err));
    ck_assert_uint_eq(back.timeline, 0);
    strbuf_free(&out);
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,"
                   "\"commit_ts_us\":3,\"system_id\":\"9\",\"timeline\":0}",
                   "timeline");
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,"
                   "\"commit_ts_us\":3,\"system_id\":\"9\",\"timeline\":\"2\"}",
                   "timeline");
    assert_refused("{\"commit_lsn\":\"0/1\",\"end_lsn\":\"0/2\",\"xid\":1,\"seq\":2,"
                   "\"commit_ts_us\":3,\"system_id\":\"9\",\"timeline\":4294967296}",
                   "timeline");
}
END_TEST

START_TEST(test_refuses_end_lsn_before_commit_lsn)
{
    assert_refused("{\"commit_lsn\":\"1/0\",\"end_lsn\":\"0/FFFFFFFF\"," GOOD_REST "}",
                   "end_lsn is before its commit_lsn");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* lsn_parse                                                                 */

START_TEST(test_lsn_parse_reads_postgres_text_form)
{
    sluice_lsn_t lsn = 1;
    ck_assert(lsn_parse("0/0", &lsn));
    ck_assert_uint_eq(lsn, 0);
    ck_assert(lsn_parse("16/B374D848", &lsn));
    ck_assert_uint_eq(lsn, UINT64_C(0x16B374D848));
    ck_assert(lsn_parse("ffffffff/FFFFFFFF", &lsn));
    ck_assert_uint_eq(lsn, UINT64_MAX);
    ck_assert(lsn_parse("0/016B3748", &lsn));
    ck_assert_uint_eq(lsn, 0x16B3748);
}
END_TEST

START_TEST(test_lsn_parse_refuses_anything_else)
{
    static const char *const bad[] = {
        "",         "/",          "0/",          "/0",        "16",        "16/B3/1",
        "16/B3 ",   " 16/B3",     "16 /B3",      "-1/0",      "+1/0",      "0x1/0",
        "1/-1",     "g/0",        "123456789/0", "0/123456789", "0/1x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sluice_lsn_t lsn = 7;
        ck_assert_msg(!lsn_parse(bad[i], &lsn), "\"%s\" parsed as %llX", bad[i],
                      (unsigned long long) lsn);
        ck_assert_uint_eq(lsn, 7);
    }
    sluice_lsn_t lsn = 7;
    ck_assert(!lsn_parse(NULL, &lsn));
}
END_TEST

static Suite *checkpoint_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_add_test(tc, test_json_form_is_exact);
    tcase_add_test(tc, test_lsn_low_half_is_zero_padded);
    tcase_add_test(tc, test_round_trip_keeps_every_field);
    tcase_add_test(tc, test_accepts_unpadded_lsn_and_unknown_extra_fields);
    tcase_add_test(tc, test_refuses_records_that_are_not_json_objects);
    tcase_add_test(tc, test_refuses_missing_or_malformed_lsns);
    tcase_add_test(tc, test_refuses_missing_or_mistyped_fields);
    tcase_add_test(tc, test_refuses_xid_outside_32_bits);
    tcase_add_test(tc, test_refuses_system_id_longer_than_fits);
    tcase_add_test(tc, test_timeline_round_trip_and_refusals);
    tcase_add_test(tc, test_refuses_end_lsn_before_commit_lsn);
    tcase_add_test(tc, test_lsn_parse_reads_postgres_text_form);
    tcase_add_test(tc, test_lsn_parse_refuses_anything_else);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(checkpoint_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
