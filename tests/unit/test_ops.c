/*
 * test_ops.c — operator-facing pure parts: the refusal of readable files that
 * hold secrets, secret masking, the conninfo parse error without its quoted
 * fragment, and the metrics module (exposition text, health verdicts,
 * librdkafka statistics parsing).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/base/config.h"
#include "sluice/base/metrics.h"

static config_t cfg;
static char err[1024];
static char path[64];

static void setup(void)
{
    config_init(&cfg);
    err[0] = '\0';
    path[0] = '\0';
}

static void teardown(void)
{
    config_free(&cfg);
    if (path[0])
        unlink(path);
}

static bool load_with_mode(const char *text, mode_t mode)
{
    snprintf(path, sizeof path, "/tmp/sluice-test-ops-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    ck_assert_int_eq(chmod(path, mode), 0);
    return config_load_file(&cfg, path, err, sizeof err);
}

START_TEST(test_readable_file_with_literal_password_is_refused)
{
    ck_assert(!load_with_mode("postgres.slot = s\n"
                              "postgres.conninfo = host=db user=u password=hunter2-long\n",
                              0644));
    ck_assert_msg(strstr(err, ":2: \"postgres.conninfo\" holds a secret"), "%s", err);
    ck_assert_msg(strstr(err, "(mode 0644): run \"chmod 600 "), "%s", err);
    ck_assert_msg(!strstr(err, "hunter2"), "the error quotes the secret: %s", err);
}
END_TEST

START_TEST(test_group_readable_file_with_kafka_secret_is_refused)
{
    ck_assert(!load_with_mode("kafka.sasl.password = s3cret-value\n", 0640));
    ck_assert_msg(strstr(err, "\"kafka.sasl.password\" holds a secret"), "%s", err);
    ck_assert(!strstr(err, "s3cret"));
}
END_TEST

START_TEST(test_private_file_with_secret_is_accepted)
{
    ck_assert_msg(load_with_mode("postgres.conninfo = host=db password=hunter2\n"
                                 "kafka.sasl.password = x\n",
                                 0600),
                  "%s", err);
}
END_TEST

START_TEST(test_readable_file_with_env_secrets_is_accepted)
{
    setenv("SLUICE_TEST_PW", "from-env", 1);
    ck_assert_msg(load_with_mode("postgres.conninfo = host=db user=u password=${SLUICE_TEST_PW}\n"
                                 "kafka.sasl.password = ${SLUICE_TEST_PW}\n"
                                 "kafka.bootstrap.servers = k:9092\n",
                                 0644),
                  "%s", err);
    ck_assert_str_eq(cfg.pg_conninfo, "host=db user=u password=from-env");
}
END_TEST

START_TEST(test_value_holds_secret_rules)
{
    ck_assert(config_value_holds_secret("postgres.conninfo", "host=a password=x"));
    ck_assert(config_value_holds_secret("postgres.conninfo", "postgresql://u:pw@h/db"));
    ck_assert(config_value_holds_secret("postgres.conninfo", "password=${A}x"));
    ck_assert(!config_value_holds_secret("postgres.conninfo", "host=a user=password"));
    ck_assert(!config_value_holds_secret("postgres.conninfo", "host=a password=${PW}"));
    ck_assert(!config_value_holds_secret("postgres.conninfo", "postgresql://u@h/db"));
    ck_assert(config_value_holds_secret("kafka.ssl.key.password", "abc"));
    ck_assert(!config_value_holds_secret("kafka.ssl.key.password", " ${K} "));
    ck_assert(!config_value_holds_secret("kafka.bootstrap.servers", "password"));
}
END_TEST

START_TEST(test_redact_masks_every_configured_secret)
{
    ck_assert(config_set(&cfg, "postgres.conninfo", "host=db password=Pa55word!", "-o", err,
                         sizeof err));
    ck_assert(config_set(&cfg, "kafka.sasl.password", "kafkasecret", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "kafka.client.id", "kafkasecret-not", "-o", err, sizeof err));
    char out[256];
    config_redact(&cfg, "a Pa55word! b kafkasecret c", out, sizeof out);
    ck_assert_str_eq(out, "a ******** b ******** c");
    /* Secrets under 4 characters are left alone: masking them would mangle ordinary words. */
    ck_assert(config_set(&cfg, "kafka.sasl.password", "ab", "-o", err, sizeof err));
    config_redact(&cfg, "tab", out, sizeof out);
    ck_assert_str_eq(out, "tab");
}
END_TEST

START_TEST(test_conninfo_parse_error_hides_quoted_fragment)
{
    ck_assert(config_set(&cfg, "postgres.conninfo", "host=db password sup3rsecret", "-o", err,
                         sizeof err));
    ck_assert(config_set(&cfg, "kafka.bootstrap.servers", "k:9092", "-o", err, sizeof err));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "invalid \"postgres.conninfo\""), "%s", err);
    ck_assert_msg(!strstr(err, "sup3rsecret"), "the error quotes the secret: %s", err);
}
END_TEST

START_TEST(test_new_keys_have_documented_defaults)
{
    ck_assert_str_eq(cfg.metrics_listen, "");
    ck_assert_int_eq(cfg.health_stall_timeout_ms, 60000);
    ck_assert_int_eq(cfg.shutdown_timeout_ms, 30000);
    ck_assert(!config_set(&cfg, "shutdown.timeout.ms", "10", "-o", err, sizeof err));
}
END_TEST

/* ---- metrics ---------------------------------------------------------- */

static pipeline_counters_t stats;

static char *render(void)
{
    strbuf_t b = STRBUF_INIT;
    metrics_render(&b);
    return b.data;
}

/* The value of the sample line starting with `series ` in text, or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

START_TEST(test_metrics_render_counters_histogram_and_state)
{
    metrics_set_identity("slot_a", "pub", "sluice-slot_a");
    metrics_bind_stats(&stats);
    stats.changes = 42;
    stats.source_txns = 7;
    stats.skipped_txns = 2;
    metrics_kafka_committed(3000);      /* 3 ms: into le=0.005 */
    metrics_kafka_committed(40000000);  /* 40 s: only +Inf */
    metrics_error(MERR_KAFKA_ABORT);
    metrics_set_state(MSTATE_STREAMING, NULL);
    char *t = render();
    ck_assert(strstr(t, "sluice_info{version=\"" SLUICE_VERSION "\",slot=\"slot_a\""));
    ck_assert(strstr(t, "# TYPE sluice_events_total counter\n"));
    ck_assert_double_eq(sample(t, "sluice_events_total"), 42);
    ck_assert_double_eq(sample(t, "sluice_source_transactions_total"), 7);
    ck_assert_double_eq(sample(t, "sluice_skipped_transactions_total"), 2);
    ck_assert_double_eq(sample(t, "sluice_kafka_commit_duration_seconds_bucket{le=\"0.0025\"}"), 0);
    ck_assert_double_eq(sample(t, "sluice_kafka_commit_duration_seconds_bucket{le=\"0.005\"}"), 1);
    ck_assert_double_eq(sample(t, "sluice_kafka_commit_duration_seconds_bucket{le=\"30\"}"), 1);
    ck_assert_double_eq(sample(t, "sluice_kafka_commit_duration_seconds_bucket{le=\"+Inf\"}"), 2);
    ck_assert_double_eq(sample(t, "sluice_kafka_commit_duration_seconds_count"), 2);
    ck_assert_double_eq(sample(t, "sluice_errors_total{class=\"kafka_abort\"}"), 1);
    ck_assert_double_eq(sample(t, "sluice_state{state=\"streaming\"}"), 1);
    ck_assert_double_eq(sample(t, "sluice_state{state=\"starting\"}"), 0);
    free(t);
    metrics_bind_stats(NULL);
}
END_TEST

START_TEST(test_metrics_lag_from_wal_end_and_oldest_unconfirmed)
{
    metrics_stream_received(100, 5000);
    metrics_status_sent(4000);
    metrics_source_txn_begin(1); /* the epoch: very old */
    metrics_source_txn_begin(2); /* later BEGINs do not replace the oldest */
    char *t = render();
    ck_assert_double_eq(sample(t, "sluice_replication_lag_bytes"), 1000);
    ck_assert(sample(t, "sluice_replication_lag_seconds") > 1e9);
    free(t);
    metrics_kafka_committed(1000);
    t = render();
    ck_assert_double_eq(sample(t, "sluice_replication_lag_seconds"), 0);
    free(t);
}
END_TEST

START_TEST(test_health_reasons)
{
    strbuf_t b = STRBUF_INIT;
    metrics_set_state(MSTATE_RECOVERING, "replication connection lost");
    ck_assert_int_eq(metrics_health(&b), 503);
    ck_assert_str_eq(b.data, "recovering: replication connection lost");
    strbuf_reset(&b);
    metrics_set_state(MSTATE_STREAMING, NULL);
    metrics_status_sent(1);
    metrics_kafka_committed(1000); /* nothing waits for Kafka */
    ck_assert_int_eq(metrics_health(&b), 200);
    ck_assert(strncmp(b.data, "streaming", 9) == 0);
    strbuf_free(&b);
}
END_TEST

/* A standby is healthy (200, for liveness and readiness) while it watches the
 * lease, 503 once it has not seen it for longer than it said; its role is a gauge. */
START_TEST(test_standby_health_and_role)
{
    strbuf_t b = STRBUF_INIT;
    metrics_set_state(MSTATE_STANDBY, "standby: the lease of slot \"s\" is held by backend 7");
    metrics_standby_seen(60000);
    ck_assert_int_eq(metrics_health(&b), 200);
    ck_assert_str_eq(b.data, "standby: the lease of slot \"s\" is held by backend 7");
    char *t = render();
    ck_assert_double_eq(sample(t, "sluice_role{role=\"standby\"}"), 1);
    ck_assert_double_eq(sample(t, "sluice_role{role=\"active\"}"), 0);
    ck_assert_double_eq(sample(t, "sluice_state{state=\"standby\"}"), 1);
    ck_assert_double_eq(sample(t, "sluice_healthy"), 1);
    free(t);
    strbuf_reset(&b);
    metrics_standby_seen(0); /* seen now, stale at once */
    usleep(2000);
    ck_assert_int_eq(metrics_health(&b), 503);
    ck_assert(strncmp(b.data, "standby, but the lease was last seen", 36) == 0);
    metrics_takeover();
    metrics_set_state(MSTATE_STARTING, "taking over the slot");
    t = render();
    ck_assert_double_eq(sample(t, "sluice_role{role=\"active\"}"), 1);
    ck_assert_double_eq(sample(t, "sluice_takeovers_total"), 1);
    free(t);
    strbuf_free(&b);
}
END_TEST

START_TEST(test_rdkafka_statistics_are_parsed)
{
    const char *json =
        "{\"msg_cnt\":12,\"msg_size\":3456,\"msg_max\":200000,\"msg_size_max\":33554432,"
        "\"tx\":99,\"tx_bytes\":1000,"
        "\"brokers\":{\"b1:9092/1\":{\"nodeid\":1,\"state\":\"UP\",\"txerrs\":3,\"txretries\":1,"
        "\"rtt\":{\"avg\":2500},\"int_latency\":{\"avg\":100},\"outbuf_msg_cnt\":5},"
        "\"b1:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"INIT\"}},"
        "\"topics\":{\"t1\":{\"batchsize\":{\"avg\":1000,\"cnt\":1},\"batchcnt\":{\"avg\":10,\"cnt\":1}},"
        "\"t2\":{\"batchsize\":{\"avg\":4000,\"cnt\":3},\"batchcnt\":{\"avg\":30,\"cnt\":3}}}}";
    metrics_rdkafka_stats(json, strlen(json));
    metrics_rdkafka_stats("not json", 8); /* ignored, keeps the last good figures */
    char *t = render();
    ck_assert_double_eq(sample(t, "sluice_rdkafka_queue_messages"), 12);
    ck_assert_double_eq(sample(t, "sluice_rdkafka_queue_bytes"), 3456);
    ck_assert_double_eq(sample(t, "sluice_rdkafka_request_errors_total"), 3);
    ck_assert_double_eq(sample(t, "sluice_rdkafka_batch_size_bytes_avg"), 3250);
    ck_assert_double_eq(sample(t, "sluice_rdkafka_batch_messages_avg"), 25);
    ck_assert_double_eq(sample(t, "sluice_rdkafka_broker_rtt_avg_seconds{broker=\"b1:9092/1\"}"),
                        0.0025);
    ck_assert_double_eq(sample(t, "sluice_rdkafka_broker_up{broker=\"b1:9092/1\"}"), 1);
    ck_assert(!strstr(t, "bootstrap"));
    free(t);
}
END_TEST

static Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_readable_file_with_literal_password_is_refused);
    tcase_add_test(tc, test_group_readable_file_with_kafka_secret_is_refused);
    tcase_add_test(tc, test_private_file_with_secret_is_accepted);
    tcase_add_test(tc, test_readable_file_with_env_secrets_is_accepted);
    tcase_add_test(tc, test_value_holds_secret_rules);
    tcase_add_test(tc, test_redact_masks_every_configured_secret);
    tcase_add_test(tc, test_conninfo_parse_error_hides_quoted_fragment);
    tcase_add_test(tc, test_new_keys_have_documented_defaults);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("metrics");
    tcase_add_test(tm, test_metrics_render_counters_histogram_and_state);
    tcase_add_test(tm, test_metrics_lag_from_wal_end_and_oldest_unconfirmed);
    tcase_add_test(tm, test_health_reasons);
    tcase_add_test(tm, test_standby_health_and_role);
    tcase_add_test(tm, test_rdkafka_statistics_are_parsed);
    suite_add_tcase(s, tm);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ops_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
