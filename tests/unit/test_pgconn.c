/*
 * test_pgconn.c — the parameters every PostgreSQL connection is opened with:
 * TCP keepalive and timeout defaults added, the user's own conninfo values
 * kept over them, the session options that pin the text form of values after
 * the user's own, and a failed connection's reason without the password.
 *
 * No server is needed: libpq resolves the parameters into the connection's
 * options (PQconninfo) before it tries to connect, and a socket directory
 * that does not exist fails at once.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/pg/conn.h"

#define NOWHERE "host=/nonexistent-sluice-test port=1 "

/* The value libpq settles on for keyword when connecting with spec; NULL if unset or empty.
 * Caller frees. */
static char *effective(const pgconn_spec_t *spec, const char *keyword)
{
    pgconn_params_t params;
    pgconn_params_build(spec, &params);
    PGconn *conn = PQconnectStartParams(params.keys, params.vals, 1);
    ck_assert_ptr_nonnull(conn);
    PQconninfoOption *opts = PQconninfo(conn);
    ck_assert_ptr_nonnull(opts);
    char *val = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val && *o->val)
            val = strdup(o->val);
    PQconninfoFree(opts);
    PQfinish(conn);
    return val;
}

static void assert_effective(const pgconn_spec_t *spec, const char *keyword, const char *want)
{
    char *got = effective(spec, keyword);
    if (!want)
        ck_assert_msg(!got, "%s is \"%s\", expected unset", keyword, got);
    else
        ck_assert_msg(got && strcmp(got, want) == 0, "%s is \"%s\", expected \"%s\"", keyword,
                      got ? got : "(unset)", want);
    free(got);
}

START_TEST(test_defaults_added_when_conninfo_sets_none)
{
    pgconn_spec_t spec = {.conninfo = NOWHERE "dbname=shop", .application = "sluice-test"};
    assert_effective(&spec, "keepalives_idle", "60");
    assert_effective(&spec, "keepalives_interval", "10");
    assert_effective(&spec, "keepalives_count", "6");
    assert_effective(&spec, "tcp_user_timeout", "120000");
    assert_effective(&spec, "connect_timeout", "10");
    assert_effective(&spec, "client_encoding", "UTF8");
    assert_effective(&spec, "fallback_application_name", "sluice-test");
    assert_effective(&spec, "dbname", "shop");
    assert_effective(&spec, "replication", NULL);
    assert_effective(&spec, "options", NULL);
}
END_TEST

START_TEST(test_conninfo_values_win_over_defaults)
{
    pgconn_spec_t spec = {.conninfo = NOWHERE "dbname=shop keepalives_idle=5 keepalives_interval=2 "
                                              "keepalives_count=3 tcp_user_timeout=4000 "
                                              "connect_timeout=7 application_name=mine",
                          .application = "sluice-test"};
    assert_effective(&spec, "keepalives_idle", "5");
    assert_effective(&spec, "keepalives_interval", "2");
    assert_effective(&spec, "keepalives_count", "3");
    assert_effective(&spec, "tcp_user_timeout", "4000");
    assert_effective(&spec, "connect_timeout", "7");
    assert_effective(&spec, "application_name", "mine");
}
END_TEST

START_TEST(test_uri_conninfo_values_win_and_the_rest_default)
{
    pgconn_spec_t spec = {
        .conninfo = "postgresql:///shop?host=/nonexistent-sluice-test&port=1&keepalives_idle=5"
                    "&tcp_user_timeout=3000",
        .application = "sluice-test"};
    assert_effective(&spec, "dbname", "shop");
    assert_effective(&spec, "keepalives_idle", "5");
    assert_effective(&spec, "tcp_user_timeout", "3000");
    assert_effective(&spec, "keepalives_interval", "10");
    assert_effective(&spec, "keepalives_count", "6");
}
END_TEST

START_TEST(test_what_sluice_needs_wins_over_conninfo)
{
    pgconn_spec_t spec = {.conninfo = NOWHERE "client_encoding=LATIN1 replication=true",
                          .application = "sluice",
                          .replication = true};
    assert_effective(&spec, "replication", "database");
    assert_effective(&spec, "client_encoding", "UTF8");
    /* The defaults hold on the replication connection as on every other. */
    assert_effective(&spec, "keepalives_idle", "60");
    assert_effective(&spec, "tcp_user_timeout", "120000");
}
END_TEST

START_TEST(test_session_options_follow_the_users_own)
{
    pgconn_spec_t spec = {.conninfo = NOWHERE "options='-c work_mem=64MB'",
                          .application = "sluice-snapshot",
                          .pin_value_formats = true};
    char want[1024];
    snprintf(want, sizeof want, "-c work_mem=64MB %s", pgconn_session_options());
    assert_effective(&spec, "options", want);
    ck_assert_ptr_nonnull(strstr(pgconn_session_options(), "DateStyle=ISO"));
    ck_assert_ptr_nonnull(strstr(pgconn_session_options(), "TimeZone=UTC"));

    spec.conninfo = NOWHERE "dbname=shop";
    assert_effective(&spec, "options", pgconn_session_options());

    /* Sessions that print no values for sluice to parse keep the user's options as they are. */
    spec.conninfo = NOWHERE "options='-c work_mem=64MB'";
    spec.pin_value_formats = false;
    assert_effective(&spec, "options", "-c work_mem=64MB");
}
END_TEST

START_TEST(test_failed_open_gives_the_reason_without_the_password)
{
    pgconn_spec_t spec = {.conninfo = NOWHERE "user=sluice password=hunter2",
                          .application = "sluice-test"};
    char err[1024] = "";
    PGconn *conn = pgconn_open(&spec, "could not connect", err, sizeof err);
    ck_assert_ptr_null(conn);
    ck_assert_msg(strncmp(err, "could not connect: ", 19) == 0, "reason: %s", err);
    ck_assert_msg(strstr(err, "/nonexistent-sluice-test") != NULL, "reason: %s", err);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    size_t n = strlen(err);
    ck_assert_int_ne(err[n - 1], '\n');

    /* Without a context, the reason alone; a short buffer holds what fits. */
    ck_assert_ptr_null(pgconn_open(&spec, NULL, err, sizeof err));
    ck_assert_msg(strncmp(err, "connection to server", 20) == 0, "reason: %s", err);
    char tiny[8];
    ck_assert_ptr_null(pgconn_open(&spec, "could not connect", tiny, sizeof tiny));
    ck_assert_str_eq(tiny, "could n");
}
END_TEST

static Suite *pgconn_suite(void)
{
    Suite *s = suite_create("pgconn");
    TCase *tc = tcase_create("pgconn");
    tcase_add_test(tc, test_defaults_added_when_conninfo_sets_none);
    tcase_add_test(tc, test_conninfo_values_win_over_defaults);
    tcase_add_test(tc, test_uri_conninfo_values_win_and_the_rest_default);
    tcase_add_test(tc, test_what_sluice_needs_wins_over_conninfo);
    tcase_add_test(tc, test_session_options_follow_the_users_own);
    tcase_add_test(tc, test_failed_open_gives_the_reason_without_the_password);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pgconn_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
