/*
 * test_access.c — Kafka's refusals named as the ACL or credential to fix
 * (kafka/access.c): the operation, the resource, the principal and the
 * kafka-acls arguments, in the form docs/operations.md (Security) lists them.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/config.h"
#include "sluice/kafka/access.h"

static config_t cfg;
static char out[2048];

/* A configuration for slot "shop" and prefix "db1" plus extra key/value pairs (NULL-ended). */
static void setup_with(const char *const *extra)
{
    char err[512];
    config_init(&cfg);
    const char *base[] = {"postgres.conninfo", "dbname=x", "postgres.slot", "shop",
                          "topic.prefix", "db1", "kafka.bootstrap.servers", "k1:9093", NULL};
    for (const char *const *kv = base; *kv; kv += 2)
        ck_assert_msg(config_set(&cfg, kv[0], kv[1], "test", err, sizeof err), "%s", err);
    for (const char *const *kv = extra; kv && *kv; kv += 2)
        ck_assert_msg(config_set(&cfg, kv[0], kv[1], "test", err, sizeof err), "%s", err);
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
}

static const char *const sasl[] = {"kafka.security.protocol", "SASL_SSL", "kafka.sasl.mechanism",
                                   "SCRAM-SHA-512", "kafka.sasl.username", "sluice",
                                   "kafka.sasl.password", "pw", NULL};

#define ck_has(text) ck_assert_msg(strstr(out, (text)) != NULL, "\"%s\" not in: %s", (text), out)
#define ck_lacks(text) ck_assert_msg(strstr(out, (text)) == NULL, "\"%s\" in: %s", (text), out)

START_TEST(test_codes)
{
    ck_assert(access_denied(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
    ck_assert(access_denied(RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED));
    ck_assert(access_denied(RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED));
    ck_assert(access_denied(RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED));
    ck_assert(!access_denied(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    ck_assert(!access_denied(RD_KAFKA_RESP_ERR__TRANSPORT));
    ck_assert(access_unauthenticated(RD_KAFKA_RESP_ERR__AUTHENTICATION));
    ck_assert(access_unauthenticated(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED));
    ck_assert(!access_unauthenticated(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
}
END_TEST

/* A topic under the prefix: the prefixed ACL, for the SASL user. */
START_TEST(test_topic_write_under_prefix)
{
    setup_with(sasl);
    access_explain(&cfg, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, ACCESS_TOPIC_WRITE,
                   "db1.public.orders", out, sizeof out);
    ck_has("Kafka denied User:sluice Write on topic \"db1.public.orders\" "
           "(TOPIC_AUTHORIZATION_FAILED)");
    ck_has("kafka-acls --bootstrap-server k1:9093 ");
    ck_has("--add --allow-principal User:sluice --operation Write --topic db1. "
           "--resource-pattern-type prefixed");
    access_explain(&cfg, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, ACCESS_TOPIC_CREATE,
                   "db1.public.orders", out, sizeof out);
    ck_has("Create on topic \"db1.public.orders\"");
    ck_has("--operation Create --topic db1. --resource-pattern-type prefixed");
    config_free(&cfg);
}
END_TEST

/* Read is asked for the checkpoint topic only: by its name, never by the prefix. */
START_TEST(test_topic_read_is_literal)
{
    setup_with(sasl);
    access_explain(&cfg, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, ACCESS_TOPIC_READ,
                   cfg.checkpoint_topic, out, sizeof out);
    ck_has("Read on topic \"db1.sluice.checkpoint\"");
    ck_has("--operation Read --topic db1.sluice.checkpoint");
    ck_lacks("prefixed");
    config_free(&cfg);
}
END_TEST

/* A topic outside the prefix (a checkpoint.topic of its own) is named literally, and a
 * transaction-wide refusal says that it needs its own ACL. */
START_TEST(test_topic_outside_prefix)
{
    const char *const extra[] = {"checkpoint.topic", "ops.checkpoints", "kafka.security.protocol",
                                 "SASL_SSL", "kafka.sasl.username", "sluice",
                                 "kafka.sasl.password", "pw", NULL};
    setup_with(extra);
    access_explain(&cfg, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, ACCESS_TOPIC_WRITE,
                   "ops.checkpoints", out, sizeof out);
    ck_has("--operation Write --topic ops.checkpoints");
    ck_lacks("prefixed");
    access_explain(&cfg, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, ACCESS_TOPIC_WRITE, NULL,
                   out, sizeof out);
    ck_has("Write on the topics of this transaction (\"db1.*\" and the checkpoint topic "
           "\"ops.checkpoints\", which needs its own ACL)");
    config_free(&cfg);
}
END_TEST

START_TEST(test_transactional_id_group_cluster)
{
    setup_with(sasl);
    access_explain(&cfg, RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                   ACCESS_TOPIC_WRITE, NULL, out, sizeof out);
    ck_has("Write on transactional id \"sluice-shop\" (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)");
    ck_has("--allow-principal User:sluice --operation Write --transactional-id sluice-shop");
    access_explain(&cfg, RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED, ACCESS_TOPIC_READ, NULL,
                   out, sizeof out);
    ck_has("--operation Describe --group sluice-checkpoint-reader-shop");
    access_explain(&cfg, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED, ACCESS_TOPIC_WRITE, NULL,
                   out, sizeof out);
    ck_has("--operation IdempotentWrite --cluster");
    config_free(&cfg);
}
END_TEST

/* Without SASL the principal is the certificate's, which sluice cannot know: a placeholder. */
START_TEST(test_principal_of_a_certificate)
{
    const char *const extra[] = {"kafka.security.protocol", "SSL",
                                 "kafka.ssl.certificate.location", "/etc/sluice/c.crt", NULL};
    setup_with(extra);
    access_explain(&cfg, RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                   ACCESS_TOPIC_WRITE, NULL, out, sizeof out);
    ck_has("Kafka denied sluice's principal (the one its client certificate maps to)");
    ck_has("--allow-principal User:<principal of the certificate>");
    config_free(&cfg);
}
END_TEST

/* The credentials message names user and mechanism, and for SCRAM how to create the user;
 * never the password. */
START_TEST(test_authentication)
{
    setup_with(sasl);
    access_explain_authentication(&cfg, "SASL authentication error: invalid credentials", out,
                                  sizeof out);
    ck_has("Kafka refused sluice's credentials for user \"sluice\" with SASL mechanism "
           "SCRAM-SHA-512: SASL authentication error: invalid credentials");
    ck_has("check kafka.sasl.username and kafka.sasl.password");
    ck_has("--entity-type users --entity-name sluice");
    ck_lacks("pw");
    access_explain_tls(&cfg, "certificate verify failed", out, sizeof out);
    ck_has("the TLS handshake with Kafka failed: certificate verify failed");
    ck_has("kafka.ssl.ca.location");
    config_free(&cfg);
}
END_TEST

static Suite *access_suite(void)
{
    Suite *s = suite_create("access");
    TCase *tc = tcase_create("explain");
    tcase_add_test(tc, test_codes);
    tcase_add_test(tc, test_topic_write_under_prefix);
    tcase_add_test(tc, test_topic_read_is_literal);
    tcase_add_test(tc, test_topic_outside_prefix);
    tcase_add_test(tc, test_transactional_id_group_cluster);
    tcase_add_test(tc, test_principal_of_a_certificate);
    tcase_add_test(tc, test_authentication);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(access_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
