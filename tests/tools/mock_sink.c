/*
 * mock_sink — broker errors injected with librdkafka's mock cluster, checking
 * that the sink classifies each the way the exactly-once protocol needs:
 *   retriable      → retried inside the call, the commit succeeds (SINK_OK)
 *   abortable      → SINK_ABORT, the transaction is aborted, the producer stays usable
 *   fatal          → SINK_FATAL (rebuild the producer)
 *   fenced         → SINK_FENCED (exit, confirm nothing)
 *   permanent data → SINK_DATA (stop with the reason, no retry loop)
 * Only SINK_OK lets the pipeline confirm an LSN (pipeline.c: commit_kafka).
 *
 * The mock cluster of librdkafka 2.0.2 neither fences a second producer nor
 * filters aborted transactions for read_committed consumers, so this proves
 * classification only; exactly-once itself is proven against a real broker.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base/config.h"
#include "sluice/base/log.h"
#include "sluice/kafka/sink.h"

/* Kafka protocol ApiKeys (the mock API takes the numbers). */
enum { API_PRODUCE = 0, API_END_TXN = 26 };

static int failures;
static atomic_int stop_flag;

static sink_t *new_sink(config_t *cfg, rd_kafka_mock_cluster_t **mc)
{
    char err[1024];
    sink_t *s = sink_new(cfg, &stop_flag, err, sizeof err);
    if (!s) {
        fprintf(stderr, "sink_new: %s\n", err);
        exit(2);
    }
    *mc = rd_kafka_handle_mock_cluster(sink_handle(s));
    rd_kafka_mock_topic_create(*mc, "mock.public.t", 3, 1);
    rd_kafka_mock_topic_create(*mc, cfg->checkpoint_topic, 1, 1);
    sink_status_t st = sink_init_transactions(s, 10000, err, sizeof err);
    if (st != SINK_OK) {
        fprintf(stderr, "init_transactions: %s\n", err);
        exit(2);
    }
    return s;
}

static sink_status_t one_txn(sink_t *s, size_t value_len, char *err, size_t errlen)
{
    sink_status_t st = sink_begin(s, err, errlen);
    if (st != SINK_OK)
        return st;
    char *value = calloc(1, value_len + 1);
    memset(value, 'v', value_len);
    sink_headers_t h = {.lsn = "0/00000100", .xid = "7", .batch = "1", .seq = 1};
    for (int i = 0; i < 10 && st == SINK_OK; i++)
        st = sink_produce(s, "mock.public.t", -1, "{\"id\":1}", 8, value, value_len, &h, err, errlen);
    free(value);
    if (st != SINK_OK)
        return st;
    checkpoint_t cp = {.present = true, .commit_lsn = 0x100, .end_lsn = 0x120, .xid = 7, .seq = 1};
    strcpy(cp.system_id, "1");
    return sink_commit(s, &cp, "mock", err, errlen);
}

/*
 * After an aborted transaction with failed records, librdkafka 2.0.2 may fail
 * the next one once more ("skipped sequence numbers", abortable) before its
 * sequence state is reset; the pipeline rewinds and retries. The producer
 * must be usable again within a few transactions, without a rebuild.
 */
static sink_status_t txn_until_ok(sink_t *s, char *err, size_t errlen)
{
    sink_status_t st = SINK_ABORT;
    for (int attempt = 0; attempt < 4 && st == SINK_ABORT; attempt++)
        st = one_txn(s, 100, err, errlen);
    return st;
}

static void expect(const char *name, sink_status_t got, sink_status_t want, const char *err)
{
    if (got == want) {
        printf("ok   %-58s %s\n", name, sink_status_name(got));
    } else {
        printf("FAIL %-58s got %s, want %s (%s)\n", name, sink_status_name(got),
               sink_status_name(want), err);
        failures++;
    }
}

int main(void)
{
    /* A hung case must fail the suite, not stall it. */
    alarm(240);
    log_configure(LOG_ERROR, false, NULL);
    config_t cfg;
    char err[1024];
    config_init(&cfg);
    if (!config_set(&cfg, "postgres.conninfo", "dbname=unused", "test", err, sizeof err) ||
        !config_set(&cfg, "kafka.bootstrap.servers", "unused:9092", "test", err, sizeof err) ||
        !config_set(&cfg, "kafka.test.mock.num.brokers", "1", "test", err, sizeof err) ||
        !config_set(&cfg, "kafka.transaction.timeout.ms", "5000", "test", err, sizeof err) ||
        !config_set(&cfg, "topic.prefix", "mock", "test", err, sizeof err) ||
        !config_finish(&cfg, err, sizeof err)) {
        fprintf(stderr, "config: %s\n", err);
        return 2;
    }
    rd_kafka_mock_cluster_t *mc;
    sink_status_t st;

    /* A clean transaction. */
    sink_t *s = new_sink(&cfg, &mc);
    expect("clean commit", one_txn(s, 100, err, sizeof err), SINK_OK, err);

    /* Retriable EndTxn errors are retried inside the commit. */
    rd_kafka_mock_push_request_errors(mc, API_END_TXN, 2,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
                                      RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
    expect("EndTxn retriable (coordinator loading, unavailable)", one_txn(s, 100, err, sizeof err),
           SINK_OK, err);

    /* A produce error that fails the transaction: abort, and the producer stays usable. */
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_MSG);
    st = one_txn(s, 100, err, sizeof err);
    expect("Produce fails the transaction (corrupt message, INVALID_MSG)", st, SINK_ABORT, err);
    expect("  producer usable again after the abort (no rebuild)", txn_until_ok(s, err, sizeof err),
           SINK_OK, err);

    /* A record the broker will never take: stop, no rewind loop. */
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
    expect("Produce rejected as too large by the broker", one_txn(s, 100, err, sizeof err), SINK_DATA,
           err);
    expect("  producer usable again after it (no rebuild)", txn_until_ok(s, err, sizeof err), SINK_OK,
           err);
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    expect("Produce not authorized", one_txn(s, 100, err, sizeof err), SINK_DATA, err);
    sink_free(s);

    /* A record over the producer's own message.max.bytes: refused before sending. */
    s = new_sink(&cfg, &mc);
    expect("record over message.max.bytes (client side)", one_txn(s, 2 * 1000 * 1000, err, sizeof err),
           SINK_DATA, err);
    sink_free(s);

    /* Fenced at EndTxn: another producer has our transactional id. */
    s = new_sink(&cfg, &mc);
    rd_kafka_mock_push_request_errors(mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    expect("EndTxn fenced (PRODUCER_FENCED)", one_txn(s, 100, err, sizeof err), SINK_FENCED, err);
    sink_free(s);

    s = new_sink(&cfg, &mc);
    rd_kafka_mock_push_request_errors(mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
    st = one_txn(s, 100, err, sizeof err);
    if (st == SINK_FENCED || st == SINK_ABORT)
        printf("ok   %-58s %s\n", "Produce with a stale epoch (INVALID_PRODUCER_EPOCH)",
               sink_status_name(st));
    else
        expect("Produce with a stale epoch (INVALID_PRODUCER_EPOCH)", st, SINK_FENCED, err);
    sink_free(s);

    /* A fatal EndTxn error: the producer must be rebuilt. */
    s = new_sink(&cfg, &mc);
    rd_kafka_mock_push_request_errors(mc, API_END_TXN, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_TXN_STATE);
    expect("EndTxn fatal (INVALID_TXN_STATE)", one_txn(s, 100, err, sizeof err), SINK_FATAL, err);
    sink_free(s);

    /* Unknown outcome: the cluster goes away just before the commit; EndTxn
     * cannot be sent and the commit times out. The sink must not report
     * success: it gives up and asks for a rebuild, whose init_transactions
     * settles the transaction either way before the checkpoint is re-read. */
    s = new_sink(&cfg, &mc);
    st = sink_begin(s, err, sizeof err);
    sink_headers_t h = {.lsn = "0/00000100", .xid = "7", .batch = "1", .seq = 1};
    if (st == SINK_OK)
        st = sink_produce(s, "mock.public.t", -1, "k", 1, "v", 1, &h, err, sizeof err);
    sink_poll(s);
    rd_kafka_mock_broker_set_down(mc, 1);
    checkpoint_t cp = {.present = true, .commit_lsn = 0x100, .end_lsn = 0x120, .xid = 7, .seq = 1};
    strcpy(cp.system_id, "1");
    if (st == SINK_OK)
        st = sink_commit(s, &cp, "mock", err, sizeof err);
    if (st == SINK_FATAL || st == SINK_ABORT)
        printf("ok   %-58s %s: %.120s\n", "EndTxn unreachable (timeout, unknown outcome)",
               sink_status_name(st), err);
    else {
        printf("FAIL %-58s %s\n", "EndTxn unreachable (timeout, unknown outcome)", sink_status_name(st));
        failures++;
    }
    sink_free(s);

    config_free(&cfg);
    printf("%s\n", failures ? "FAILED" : "all cases classified as expected");
    return failures ? 1 : 0;
}
