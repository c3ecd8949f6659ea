/*
 * test_sink_mock.c — the librdkafka sink (kafka/sink.c) against librdkafka's
 * mock cluster (rdkafka_mock.h), with broker errors injected per request as
 * librdkafka's own tests do (rd_kafka_mock_push_request_errors). Each error
 * must come out of the sink classified the way the exactly-once protocol
 * needs it:
 *   retriable      → retried inside the call, the commit succeeds (SINK_OK)
 *   abortable      → SINK_ABORT, the transaction is aborted, the producer stays usable
 *   fatal          → SINK_FATAL (rebuild the producer)
 *   fenced         → SINK_FENCED (exit, confirm nothing)
 *   permanent data → SINK_DATA (stop with the reason, no retry loop)
 *   refused        → SINK_DATA with sink_refused (an ACL missing: the message names it)
 * Only SINK_OK lets the pipeline confirm an LSN (test_pipeline.c shows that).
 *
 * The mock cluster neither fences a second producer nor filters aborted
 * transactions for read_committed consumers, in librdkafka 2.0.2 nor in
 * 2.12.1 (its InitProducerId hands every producer a new producer id instead of
 * bumping the epoch of the transactional id's, and its Fetch answers with no
 * aborted transactions and the high watermark as the last stable offset: a
 * test of a second producer fencing the first failed on both), so these tests
 * prove the classification only; exactly-once itself is proven against a
 * real broker (tests/it, tests/fault). `make RDKAFKA=2.12 unit` runs them on
 * 2.12.1.
 */
#include <check.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base/config.h"
#include "sluice/base/log.h"
#include "sluice/kafka/sink.h"

#include "../../src/kafka/sink_internal.h"

/* Kafka protocol ApiKeys (the mock API takes the numbers). */
enum { API_PRODUCE = 0, API_INIT_PRODUCER_ID = 22, API_ADD_PARTITIONS_TO_TXN = 24, API_END_TXN = 26 };

#define TOPIC "mock.public.t"

typedef struct {
    config_t cfg;
    sink_t *sink;
    rd_kafka_mock_cluster_t *mc;
    char err[1024];
} fixture_t;

static atomic_int stop_flag;

/*
 * A sink on a fresh one-broker mock cluster, its topics created, transactions
 * not yet initialised; message_timeout_ms (kafka.message.timeout.ms) unless NULL.
 */
static fixture_t *fixture_uninit(const char *message_timeout_ms)
{
    fixture_t *f = calloc(1, sizeof *f);
    ck_assert_ptr_nonnull(f);
    config_init(&f->cfg);
    static const char *const settings[][2] = {
        {"postgres.conninfo", "dbname=unused"},
        {"kafka.bootstrap.servers", "unused:9092"},
        {"kafka.test.mock.num.brokers", "1"},
        {"kafka.transaction.timeout.ms", "5000"},
        {"topic.prefix", "mock"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        ck_assert_msg(config_set(&f->cfg, settings[i][0], settings[i][1], "test", f->err,
                                 sizeof f->err),
                      "%s", f->err);
    if (message_timeout_ms)
        ck_assert_msg(config_set(&f->cfg, "kafka.message.timeout.ms", message_timeout_ms, "test",
                                 f->err, sizeof f->err),
                      "%s", f->err);
    ck_assert_msg(config_finish(&f->cfg, f->err, sizeof f->err), "%s", f->err);
    f->sink = sink_new(&f->cfg, &stop_flag, f->err, sizeof f->err);
    ck_assert_msg(f->sink != NULL, "sink_new: %s", f->err);
    f->mc = rd_kafka_handle_mock_cluster(sink_handle(f->sink));
    ck_assert_ptr_nonnull(f->mc);
    rd_kafka_mock_topic_create(f->mc, TOPIC, 3, 1);
    rd_kafka_mock_topic_create(f->mc, f->cfg.checkpoint_topic, 1, 1);
    return f;
}

/* fixture_uninit, transactions initialised. */
static fixture_t *fixture_with(const char *message_timeout_ms)
{
    fixture_t *f = fixture_uninit(message_timeout_ms);
    sink_status_t st = sink_init_transactions(f->sink, 10000, f->err, sizeof f->err);
    ck_assert_msg(st == SINK_OK, "init_transactions: %s", f->err);
    return f;
}

static fixture_t *fixture_new(void)
{
    return fixture_with(NULL);
}

static void fixture_free(fixture_t *f)
{
    sink_free(f->sink);
    config_free(&f->cfg);
    free(f);
}

/* One Kafka transaction: ten records of value_len bytes, then the checkpoint and the commit. */
static sink_status_t one_txn(fixture_t *f, size_t value_len)
{
    sink_status_t st = sink_begin(f->sink, f->err, sizeof f->err);
    if (st != SINK_OK)
        return st;
    char *value = calloc(1, value_len + 1);
    ck_assert_ptr_nonnull(value);
    memset(value, 'v', value_len);
    sink_headers_t h = {.lsn = "0/00000100", .xid = "7", .batch = "1", .seq = 1};
    for (int i = 0; i < 10 && st == SINK_OK; i++)
        st = sink_produce(f->sink, TOPIC, -1, "{\"id\":1}", 8, value, value_len, &h, f->err,
                          sizeof f->err);
    free(value);
    if (st != SINK_OK)
        return st;
    checkpoint_t cp = {.present = true, .commit_lsn = 0x100, .end_lsn = 0x120, .xid = 7, .seq = 1};
    strcpy(cp.system_id, "1");
    return sink_commit(f->sink, &cp, "mock", f->err, sizeof f->err);
}

/*
 * After an aborted transaction with failed records, librdkafka 2.0.2 may fail
 * the next one once more ("skipped sequence numbers", abortable) before its
 * sequence state is reset; the pipeline rewinds and retries. The producer
 * must be usable again within a few transactions, without a rebuild.
 */
static sink_status_t txn_until_ok(fixture_t *f)
{
    sink_status_t st = SINK_ABORT;
    for (int attempt = 0; attempt < 4 && st == SINK_ABORT; attempt++)
        st = one_txn(f, 100);
    return st;
}

#define ck_assert_status(got, want, f)                                                        \
    do {                                                                                      \
        sink_status_t got_ = (got);                                                           \
        ck_assert_msg(got_ == (want), "got %s, want %s (%s)", sink_status_name(got_),         \
                      sink_status_name(want), (f)->err);                                      \
    } while (0)

START_TEST(test_clean_commit_is_ok)
{
    fixture_t *f = fixture_new();
    ck_assert_status(one_txn(f, 100), SINK_OK, f);
    ck_assert(!sink_in_transaction(f->sink));
    fixture_free(f);
}
END_TEST

/* Coordinator loading, then unavailable: retried inside the commit, which succeeds. */
START_TEST(test_retriable_endtxn_errors_are_retried_inside_commit)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 2,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
    ck_assert_status(one_txn(f, 100), SINK_OK, f);
    fixture_free(f);
}
END_TEST

/* A produce error librdkafka does not retry (UNKNOWN_SERVER_ERROR, -1: RESP_ERR_UNKNOWN) fails
 * the transaction: abort, and the producer stays usable. */
START_TEST(test_failed_produce_aborts_and_producer_stays_usable)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_UNKNOWN);
    ck_assert_status(one_txn(f, 100), SINK_ABORT, f);
    ck_assert(!sink_in_transaction(f->sink));
    ck_assert_status(txn_until_ok(f), SINK_OK, f);
    fixture_free(f);
}
END_TEST

/*
 * A corrupt-message answer (INVALID_MSG, Java's CorruptRecordException): librdkafka
 * 2.5 and later retry it inside the producer (KIP-467), so the commit succeeds;
 * 2.0.2 fails the transaction, which sluice aborts. Which one depends on the library
 * the test runs with (make RDKAFKA=2.12 unit runs it on 2.12.1).
 */
START_TEST(test_corrupt_message_is_retried_or_aborted)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_INVALID_MSG);
    sink_status_t want = rd_kafka_version() >= 0x020500ff ? SINK_OK : SINK_ABORT;
    ck_assert_status(one_txn(f, 100), want, f);
    ck_assert(!sink_in_transaction(f->sink));
    ck_assert_status(txn_until_ok(f), SINK_OK, f);
    fixture_free(f);
}
END_TEST

/* A record the broker will never take: stop with the reason, no rewind loop; no rebuild. */
START_TEST(test_record_too_large_for_broker_is_data_error)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    ck_assert_status(one_txn(f, 100), SINK_DATA, f);
    ck_assert(!sink_refused(f->sink)); /* data, not a refusal: exit 9, not 7 */
    ck_assert_status(txn_until_ok(f), SINK_OK, f);
    fixture_free(f);
}
END_TEST

/* Refusals: SINK_DATA that sink_refused tells apart, the message naming the ACL to add. */
#define ck_assert_names(f, text) \
    ck_assert_msg(strstr((f)->err, (text)) != NULL, "\"%s\" not in: %s", (text), (f)->err)

START_TEST(test_unauthorized_produce_is_data_error)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ck_assert_status(one_txn(f, 100), SINK_DATA, f);
    ck_assert(sink_refused(f->sink));
    /* (The refused request may carry the data topic's batch or the checkpoint's.) */
    ck_assert_names(f, "Write on topic \"mock.");
    ck_assert_names(f, "(TOPIC_AUTHORIZATION_FAILED)");
    ck_assert_names(f, "--operation Write --topic mock. --resource-pattern-type prefixed");
    fixture_free(f);
}
END_TEST

/* The coordinator refuses to add the transaction's partitions: aborted, refused. */
START_TEST(test_unauthorized_add_partitions_is_refused)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_ADD_PARTITIONS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    ck_assert_status(one_txn(f, 100), SINK_DATA, f);
    ck_assert(sink_refused(f->sink));
    ck_assert(!sink_in_transaction(f->sink));
    ck_assert_names(f, "Write on the topics of this transaction (\"mock.*\")");
    fixture_free(f);
}
END_TEST

/* No Write on the transactional id: init_transactions is refused at once, not retried. */
START_TEST(test_unauthorized_transactional_id_at_init_is_refused)
{
    fixture_t *f = fixture_uninit(NULL);
    rd_kafka_mock_push_request_errors(f->mc, API_INIT_PRODUCER_ID, 1,
                                      RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    ck_assert_status(sink_init_transactions(f->sink, 10000, f->err, sizeof f->err), SINK_DATA, f);
    ck_assert(sink_refused(f->sink));
    ck_assert_names(f, "Write on transactional id \"sluice-sluice\"");
    ck_assert_names(f, "--operation Write --transactional-id sluice-sluice");
    fixture_free(f);
}
END_TEST

/* The same refusal at the commit (an ACL removed while running). */
START_TEST(test_unauthorized_transactional_id_at_commit_is_refused)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 1,
                                      RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    ck_assert_status(one_txn(f, 100), SINK_DATA, f);
    ck_assert(sink_refused(f->sink));
    ck_assert_names(f, "Write on transactional id \"sluice-sluice\"");
    fixture_free(f);
}
END_TEST

/* A record over the producer's own message.max.bytes is refused before it is sent. */
START_TEST(test_record_over_message_max_bytes_is_data_error)
{
    fixture_t *f = fixture_new();
    ck_assert_status(one_txn(f, 2 * 1000 * 1000), SINK_DATA, f);
    ck_assert_ptr_nonnull(strstr(f->err, "message.max.bytes"));
    fixture_free(f);
}
END_TEST

/* Another producer has our transactional id. */
START_TEST(test_fenced_at_endtxn_is_fenced)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    ck_assert_status(one_txn(f, 100), SINK_FENCED, f);
    fixture_free(f);
}
END_TEST

/* A stale epoch at produce: fenced, or (as librdkafka 2.0.2 may report it) abortable; never OK. */
START_TEST(test_stale_epoch_at_produce_is_never_ok)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
    sink_status_t st = one_txn(f, 100);
    ck_assert_msg(st == SINK_FENCED || st == SINK_ABORT, "got %s (%s)", sink_status_name(st),
                  f->err);
    fixture_free(f);
}
END_TEST

/* A fatal EndTxn error: the producer must be rebuilt. */
START_TEST(test_fatal_endtxn_error_asks_for_rebuild)
{
    fixture_t *f = fixture_new();
    rd_kafka_mock_push_request_errors(f->mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
    ck_assert_status(one_txn(f, 100), SINK_FATAL, f);
    ck_assert(!sink_in_transaction(f->sink));
    fixture_free(f);
}
END_TEST

typedef struct {
    rd_kafka_mock_cluster_t *mc;
    int after_ms;
} revive_t;

/* Brings the mock broker back after a while (a thread: the test is blocked in the sink). */
static void *revive_broker(void *arg)
{
    const revive_t *r = arg;
    usleep((useconds_t) r->after_ms * 1000);
    rd_kafka_mock_broker_set_up(r->mc, 1);
    return NULL;
}

/*
 * Unknown outcome: the cluster goes away just before the commit, so the
 * record in flight times out (kafka.message.timeout.ms 1 s) and the commit
 * fails. The sink must not report success: it asks for an abort or a
 * rebuild, whose init_transactions settles the transaction either way before
 * the checkpoint is re-read. The broker comes back after 4 s, as after an
 * outage: librdkafka 2.0.2's abort_transaction waits for the coordinator for
 * as long as it takes.
 */
START_TEST(test_unreachable_coordinator_at_commit_is_never_ok)
{
    fixture_t *f = fixture_with("1000");
    ck_assert_status(sink_begin(f->sink, f->err, sizeof f->err), SINK_OK, f);
    sink_headers_t h = {.lsn = "0/00000100", .xid = "7", .batch = "1", .seq = 1};
    ck_assert_status(sink_produce(f->sink, TOPIC, -1, "k", 1, "v", 1, &h, f->err, sizeof f->err),
                     SINK_OK, f);
    sink_poll(f->sink);
    rd_kafka_mock_broker_set_down(f->mc, 1);
    revive_t rv = {.mc = f->mc, .after_ms = 4000};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, revive_broker, &rv), 0);
    checkpoint_t cp = {.present = true, .commit_lsn = 0x100, .end_lsn = 0x120, .xid = 7, .seq = 1};
    strcpy(cp.system_id, "1");
    sink_status_t st = sink_commit(f->sink, &cp, "mock", f->err, sizeof f->err);
    pthread_join(t, NULL);
    ck_assert_msg(st == SINK_FATAL || st == SINK_ABORT, "got %s (%s)", sink_status_name(st),
                  f->err);
    ck_assert(!sink_in_transaction(f->sink));
    fixture_free(f);
}
END_TEST

/*
 * Which delivery report names the transaction's failure. The mock cluster cannot
 * answer with per-record errors (librdkafka 2.12's mock has no RecordErrors), so
 * the rule is tested as a function: librdkafka 2.5+ reports the records the broker
 * did not name as _INVALID_DIFFERENT_RECORD, often before the refused one; that
 * bystander must give way to the refused record's INVALID_RECORD (SINK_DATA, exit
 * 9), or the transaction would be aborted and retried for ever.
 */
START_TEST(test_bystander_delivery_error_gives_way_to_the_cause)
{
    const rd_kafka_resp_err_t bystander = SINK_ERR_INVALID_DIFFERENT_RECORD;
    ck_assert_int_eq(bystander, -138);
    /* The first error is the cause... */
    ck_assert(sink_delivery_cause_replaces(RD_KAFKA_RESP_ERR_NO_ERROR, bystander));
    ck_assert(
        sink_delivery_cause_replaces(RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR_INVALID_RECORD));
    /* ...unless it was a bystander and the refused record's report comes now. */
    ck_assert(sink_delivery_cause_replaces(bystander, RD_KAFKA_RESP_ERR_INVALID_RECORD));
    ck_assert(!sink_delivery_cause_replaces(bystander, bystander));
    ck_assert(!sink_delivery_cause_replaces(RD_KAFKA_RESP_ERR_INVALID_RECORD, bystander));
    ck_assert(!sink_delivery_cause_replaces(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
                                            RD_KAFKA_RESP_ERR_INVALID_RECORD));
    /* Success and our own purges are never a cause. */
    ck_assert(!sink_delivery_cause_replaces(RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR_NO_ERROR));
    ck_assert(!sink_delivery_cause_replaces(bystander, RD_KAFKA_RESP_ERR__PURGE_QUEUE));
    ck_assert(!sink_delivery_cause_replaces(RD_KAFKA_RESP_ERR_NO_ERROR,
                                            RD_KAFKA_RESP_ERR__PURGE_INFLIGHT));
}
END_TEST

static Suite *sink_mock_suite(void)
{
    Suite *s = suite_create("sink_mock");
    TCase *tc = tcase_create("classification");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_clean_commit_is_ok);
    tcase_add_test(tc, test_retriable_endtxn_errors_are_retried_inside_commit);
    tcase_add_test(tc, test_failed_produce_aborts_and_producer_stays_usable);
    tcase_add_test(tc, test_corrupt_message_is_retried_or_aborted);
    tcase_add_test(tc, test_bystander_delivery_error_gives_way_to_the_cause);
    tcase_add_test(tc, test_record_too_large_for_broker_is_data_error);
    tcase_add_test(tc, test_unauthorized_produce_is_data_error);
    tcase_add_test(tc, test_unauthorized_add_partitions_is_refused);
    tcase_add_test(tc, test_unauthorized_transactional_id_at_init_is_refused);
    tcase_add_test(tc, test_unauthorized_transactional_id_at_commit_is_refused);
    tcase_add_test(tc, test_record_over_message_max_bytes_is_data_error);
    tcase_add_test(tc, test_fenced_at_endtxn_is_fenced);
    tcase_add_test(tc, test_stale_epoch_at_produce_is_never_ok);
    tcase_add_test(tc, test_fatal_endtxn_error_asks_for_rebuild);
    tcase_add_test(tc, test_unreachable_coordinator_at_commit_is_never_ok);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    log_configure(LOG_FATAL, false, NULL);
    SRunner *sr = srunner_create(sink_mock_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
