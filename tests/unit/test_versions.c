/*
 * test_versions.c — the replication commands sluice writes for each
 * PostgreSQL version (stream.h's builders), and the settings that depend on
 * the version (postgres.slot.failover, postgres.origin).
 *
 * The texts are compared whole: a server parses them, and PostgreSQL 14
 * refuses the option list that 15+ takes (the integration tests run each
 * branch on a server of its version: tests/it/tests_versions.sh).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/config.h"
#include "sluice/pg/stream.h"

static const int PG14 = 140018, PG15 = 150014, PG16 = 160009, PG17 = 170005, PG18 = 180001;

/* The CREATE_REPLICATION_SLOT text for these arguments, or NULL (and err) when refused. */
static char *create_sql(int v, bool temporary, bool export_snapshot, bool failover, char *err)
{
    strbuf_t b = STRBUF_INIT;
    err[0] = '\0';
    if (!stream_create_slot_sql(v, "s_1", temporary, export_snapshot, failover, &b, err, 512)) {
        ck_assert_ptr_null(b.data);
        return NULL;
    }
    return b.data;
}

#define ASSERT_CREATE(v, tmp, exp, fo, want)                                                       \
    do {                                                                                           \
        char e_[512];                                                                              \
        char *got_ = create_sql(v, tmp, exp, fo, e_);                                              \
        ck_assert_msg(got_ != NULL, "refused: %s", e_);                                            \
        ck_assert_str_eq(got_, want);                                                              \
        free(got_);                                                                                \
    } while (0)

START_TEST(test_create_slot_on_14_uses_bare_words)
{
    ASSERT_CREATE(PG14, false, false, false,
                  "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput NOEXPORT_SNAPSHOT");
    ASSERT_CREATE(PG14, false, true, false,
                  "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput EXPORT_SNAPSHOT");
    ASSERT_CREATE(PG14, true, true, false,
                  "CREATE_REPLICATION_SLOT \"s_1\" TEMPORARY LOGICAL pgoutput EXPORT_SNAPSHOT");
    /* 14.x of any minor, and anything older than 15.0 */
    ASSERT_CREATE(149999, false, true, false,
                  "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput EXPORT_SNAPSHOT");
}
END_TEST

START_TEST(test_create_slot_on_15_and_later_uses_the_option_list)
{
    const int vs[] = {150000, PG15, PG16, PG17, PG18};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        ASSERT_CREATE(vs[i], false, false, false,
                      "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput (SNAPSHOT 'nothing')");
        ASSERT_CREATE(vs[i], false, true, false,
                      "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput (SNAPSHOT 'export')");
        ASSERT_CREATE(vs[i], true, true, false,
                      "CREATE_REPLICATION_SLOT \"s_1\" TEMPORARY LOGICAL pgoutput "
                      "(SNAPSHOT 'export')");
    }
}
END_TEST

START_TEST(test_failover_slot_on_17_and_later)
{
    ASSERT_CREATE(PG17, false, false, true,
                  "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput (SNAPSHOT 'nothing', "
                  "FAILOVER true)");
    ASSERT_CREATE(PG18, false, true, true,
                  "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput (SNAPSHOT 'export', "
                  "FAILOVER true)");
    ASSERT_CREATE(170000, false, true, true,
                  "CREATE_REPLICATION_SLOT \"s_1\" LOGICAL pgoutput (SNAPSHOT 'export', "
                  "FAILOVER true)");
}
END_TEST

START_TEST(test_failover_slot_refused_before_17_naming_setting_and_versions)
{
    const int vs[] = {PG14, PG15, PG16, 169999};
    const char *texts[] = {"14.18", "15.14", "16.9", "16.9999"};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        char err[512];
        ck_assert_ptr_null(create_sql(vs[i], false, true, true, err));
        ck_assert_msg(strstr(err, "postgres.slot.failover = true needs PostgreSQL 17 or later"),
                      "%s", err);
        ck_assert_msg(strstr(err, texts[i]), "%s does not name %s", err, texts[i]);
    }
}
END_TEST

START_TEST(test_temporary_failover_slot_refused)
{
    char err[512];
    ck_assert_ptr_null(create_sql(PG18, true, true, true, err));
    ck_assert_ptr_nonnull(strstr(err, "temporary"));
}
END_TEST

/* The START_REPLICATION text, or NULL (and err) when refused. */
static char *start_sql(int v, bool origin_none, char *err)
{
    strbuf_t b = STRBUF_INIT;
    err[0] = '\0';
    if (!stream_start_sql(v, "s_1", UINT64_C(0x16B374D848), "'\"p\"'", origin_none, &b, err,
                          512)) {
        ck_assert_ptr_null(b.data);
        return NULL;
    }
    return b.data;
}

START_TEST(test_start_replication_is_protocol_1_with_messages_on_every_version)
{
    const int vs[] = {PG14, PG15, PG16, PG17, PG18};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        char err[512];
        char *got = start_sql(vs[i], false, err);
        ck_assert_msg(got != NULL, "%s", err);
        ck_assert_str_eq(got, "START_REPLICATION SLOT \"s_1\" LOGICAL 16/B374D848 "
                              "(proto_version '1', publication_names '\"p\"', messages 'true')");
        free(got);
    }
}
END_TEST

START_TEST(test_origin_none_on_16_and_later)
{
    const int vs[] = {160000, PG16, PG17, PG18};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        char err[512];
        char *got = start_sql(vs[i], true, err);
        ck_assert_msg(got != NULL, "%s", err);
        ck_assert_str_eq(got, "START_REPLICATION SLOT \"s_1\" LOGICAL 16/B374D848 "
                              "(proto_version '1', publication_names '\"p\"', messages 'true', "
                              "origin 'none')");
        free(got);
    }
}
END_TEST

START_TEST(test_origin_none_refused_before_16)
{
    const int vs[] = {PG14, PG15, 159999};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        char err[512];
        ck_assert_ptr_null(start_sql(vs[i], true, err));
        ck_assert_msg(strstr(err, "postgres.origin = none needs PostgreSQL 16 or later"), "%s",
                      err);
    }
}
END_TEST

START_TEST(test_alter_to_failover_only_on_17_and_later)
{
    char err[512];
    strbuf_t b = STRBUF_INIT;
    ck_assert(stream_alter_failover_sql(PG17, "s_1", &b, err, sizeof err));
    ck_assert_str_eq(b.data, "ALTER_REPLICATION_SLOT \"s_1\" (FAILOVER true)");
    strbuf_free(&b);
    ck_assert(!stream_alter_failover_sql(PG16, "s_1", &b, err, sizeof err));
    ck_assert_ptr_null(b.data);
    ck_assert_ptr_nonnull(strstr(err, "17 or later"));
}
END_TEST

START_TEST(test_wants_supported_by_version)
{
    char err[512];
    stream_wants_t none = {0}, fo = {.failover = true}, on = {.origin_none = true},
                   both = {.failover = true, .origin_none = true};
    ck_assert(stream_wants_supported(PG14, &none, err, sizeof err));
    ck_assert(!stream_wants_supported(PG15, &on, err, sizeof err));
    ck_assert(stream_wants_supported(PG16, &on, err, sizeof err));
    ck_assert(!stream_wants_supported(PG16, &fo, err, sizeof err));
    ck_assert(!stream_wants_supported(PG16, &both, err, sizeof err));
    ck_assert(stream_wants_supported(PG17, &both, err, sizeof err));
    ck_assert(stream_wants_supported(PG18, &both, err, sizeof err));
}
END_TEST

START_TEST(test_version_text)
{
    char t[32];
    stream_version_text(PG14, t, sizeof t);
    ck_assert_str_eq(t, "14.18");
    stream_version_text(PG17, t, sizeof t);
    ck_assert_str_eq(t, "17.5");
    stream_version_text(180000, t, sizeof t);
    ck_assert_str_eq(t, "18.0");
    stream_version_text(90624, t, sizeof t);
    ck_assert_str_eq(t, "9.6.24");
}
END_TEST

START_TEST(test_config_keys_and_wants)
{
    config_t cfg;
    char err[512];
    config_init(&cfg);
    stream_wants_t w = stream_wants_of(&cfg);
    ck_assert(!w.failover && !w.origin_none); /* defaults: any, no failover */
    ck_assert(config_set(&cfg, "postgres.slot.failover", "on", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "postgres.origin", "none", "-o", err, sizeof err));
    w = stream_wants_of(&cfg);
    ck_assert(w.failover && w.origin_none);
    ck_assert(config_set(&cfg, "postgres.origin", "any", "-o", err, sizeof err));
    ck_assert(!stream_wants_of(&cfg).origin_none);
    ck_assert(!config_set(&cfg, "postgres.origin", "local", "-o", err, sizeof err));
    ck_assert_msg(strstr(err, "invalid value \"local\" for \"postgres.origin\": expected any or none"),
                  "%s", err);
    ck_assert(!config_set(&cfg, "postgres.slot.failover", "maybe", "-o", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "postgres.slot.failover"));
    config_free(&cfg);
}
END_TEST

/* A timeline history file as TIMELINE_HISTORY returns it (timeline 4's, after three promotions). */
START_TEST(test_history_fork)
{
    const char *h = "1\t0/3000060\tno recovery target specified\n"
                    "\n"
                    "2\t0/5A7F1C8\tno recovery target specified\n"
                    "3\t1/00000D0\tat restore point \"x\"\n";
    sluice_lsn_t fork = 0;
    ck_assert(stream_history_fork(h, 1, &fork));
    ck_assert_uint_eq(fork, 0x3000060);
    ck_assert(stream_history_fork(h, 2, &fork));
    ck_assert_uint_eq(fork, 0x5A7F1C8);
    ck_assert(stream_history_fork(h, 3, &fork));
    ck_assert_uint_eq(fork, UINT64_C(0x1000000D0));
    ck_assert(!stream_history_fork(h, 4, &fork)); /* the current timeline has not ended */
    ck_assert(!stream_history_fork(h, 12, &fork));
    ck_assert(!stream_history_fork("", 1, &fork));
    ck_assert(!stream_history_fork("11\t0/1\tx\n", 1, &fork)); /* 11 is not 1 */
    ck_assert(!stream_history_fork("1\tnot-an-lsn\tx\n", 1, &fork));
    ck_assert(stream_history_fork("1\t0/16B3748", 1, &fork)); /* no reason, no newline */
    ck_assert_uint_eq(fork, 0x16B3748);
}
END_TEST

static Suite *versions_suite(void)
{
    Suite *s = suite_create("versions");
    TCase *tc = tcase_create("versions");
    tcase_add_test(tc, test_create_slot_on_14_uses_bare_words);
    tcase_add_test(tc, test_create_slot_on_15_and_later_uses_the_option_list);
    tcase_add_test(tc, test_failover_slot_on_17_and_later);
    tcase_add_test(tc, test_failover_slot_refused_before_17_naming_setting_and_versions);
    tcase_add_test(tc, test_temporary_failover_slot_refused);
    tcase_add_test(tc, test_start_replication_is_protocol_1_with_messages_on_every_version);
    tcase_add_test(tc, test_origin_none_on_16_and_later);
    tcase_add_test(tc, test_origin_none_refused_before_16);
    tcase_add_test(tc, test_alter_to_failover_only_on_17_and_later);
    tcase_add_test(tc, test_wants_supported_by_version);
    tcase_add_test(tc, test_version_text);
    tcase_add_test(tc, test_config_keys_and_wants);
    tcase_add_test(tc, test_history_fork);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(versions_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
