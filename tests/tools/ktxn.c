/*
 * ktxn — another transactional producer on a topic, for the tests that need
 * a Kafka transaction left open (or aborted) next to sluice's own: a
 * checkpoint topic shared with another instance, a transaction that another
 * producer holds open while sluice reads the checkpoint.
 *
 *   ktxn --bootstrap B --topic T --id TXID [--key K] [--hold-ms N] [--end commit|abort]
 *
 * Begins a transaction with transactional id TXID, produces one record
 * (key K, default "ktxn"; value "ktxn") to partition 0 of T and flushes it,
 * prints "open <offset>" once the record is written (the caller may wait
 * for that line), keeps the transaction open N ms (default 0), then commits
 * it or aborts it (--end, default commit) and prints "committed" or
 * "aborted". The transaction timeout is N + 60 s, so the coordinator never
 * aborts it first. Exit 0 on success, 1 on any Kafka error (printed), 2 on
 * bad usage.
 */
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t written_offset = -1;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void) rk;
    (void) opaque;
    if (!m->err)
        written_offset = m->offset;
    else
        fprintf(stderr, "ktxn: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

static int fail_with(rd_kafka_error_t *e, const char *what)
{
    fprintf(stderr, "ktxn: %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 1;
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *topic = NULL, *id = NULL, *key = "ktxn", *end = "commit";
    long hold_ms = 0;
    static const struct option opts[] = {{"bootstrap", required_argument, NULL, 'b'},
                                         {"topic", required_argument, NULL, 't'},
                                         {"id", required_argument, NULL, 'i'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"hold-ms", required_argument, NULL, 'h'},
                                         {"end", required_argument, NULL, 'e'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b': bootstrap = optarg; break;
        case 't': topic = optarg; break;
        case 'i': id = optarg; break;
        case 'k': key = optarg; break;
        case 'h': hold_ms = atol(optarg); break;
        case 'e': end = optarg; break;
        default: return 2;
        }
    }
    if (!bootstrap || !topic || !id || hold_ms < 0 ||
        (strcmp(end, "commit") != 0 && strcmp(end, "abort") != 0)) {
        fprintf(stderr, "usage: ktxn --bootstrap B --topic T --id TXID [--key K] [--hold-ms N] "
                        "[--end commit|abort]\n");
        return 2;
    }

    char err[512], timeout[32];
    snprintf(timeout, sizeof timeout, "%ld", hold_ms + 60000);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) ||
        rd_kafka_conf_set(conf, "transactional.id", id, err, sizeof err) ||
        rd_kafka_conf_set(conf, "transaction.timeout.ms", timeout, err, sizeof err)) {
        fprintf(stderr, "ktxn: %s\n", err);
        return 2;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "ktxn: %s\n", err);
        return 1;
    }
    int rc = 0;
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    if (!e)
        e = rd_kafka_begin_transaction(rk);
    if (e) {
        rc = fail_with(e, "starting the transaction");
        goto out;
    }
    rd_kafka_resp_err_t perr = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE("ktxn", 4), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (perr || rd_kafka_flush(rk, 30000) || written_offset < 0) {
        fprintf(stderr, "ktxn: producing to \"%s\" failed: %s\n", topic, rd_kafka_err2str(perr));
        rc = 1;
        goto out;
    }
    printf("open %lld\n", (long long) written_offset);
    fflush(stdout);
    usleep((useconds_t) (hold_ms % 1000) * 1000);
    sleep((unsigned) (hold_ms / 1000));
    e = strcmp(end, "commit") == 0 ? rd_kafka_commit_transaction(rk, 30000)
                                   : rd_kafka_abort_transaction(rk, 30000);
    if (e) {
        rc = fail_with(e, end);
        goto out;
    }
    printf("%s\n", strcmp(end, "commit") == 0 ? "committed" : "aborted");
out:
    rd_kafka_destroy(rk);
    return rc;
}
