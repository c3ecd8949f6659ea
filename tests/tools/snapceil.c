/*
 * snapceil — the two halves of the snapshot benchmark's ceiling
 * (tests/bench/snapshot.sh): how fast PostgreSQL hands rows to a client, and
 * how fast Kafka takes the same bytes from a transactional producer that
 * does nothing else.
 *
 *   snapceil pg --conninfo C [--out FILE] QUERY...
 *       Runs each QUERY (a "COPY (SELECT …) TO STDOUT") in turn on one
 *       connection and reads every row through libpq (PQgetCopyData),
 *       discarding it, or appending it to FILE with --out (one line a row,
 *       as COPY's text format sends it). Prints
 *
 *         rows <n> bytes <b> ms <elapsed>
 *
 *   snapceil kafka --bootstrap B [--txn-bytes N] [--txn-ms M] [--kv] FILE:TOPIC...
 *       One transactional, idempotent librdkafka producer (acks=all, and
 *       sluice's own producer defaults: lz4, linger.ms 50, batch.size 1 MB,
 *       a 4 MB queue) writes every line of each FILE (written by "pg --out")
 *       as one record to TOPIC, keyed by its first field (the text before
 *       the first tab), in transactions committed every N bytes of values
 *       (default 16777216, sluice's commit.max.bytes) or M ms (default 1000,
 *       sluice's snapshot.commit.interval.ms), whichever comes first. The
 *       files are mapped, not copied: the producer references their bytes.
 *       --kv: each line is "<key><TAB><value>" (as `kcount --dump` writes
 *       sluice's events), and the record's value is what follows the tab.
 *       The topics must exist. Prints
 *
 *         rows <n> bytes <b> txns <t> ms <elapsed>
 *
 *       where the time runs from the first begin_transaction to the last
 *       commit (producer and transaction set-up excluded, as the snapshot
 *       times of sluice exclude its start).
 *
 * Exit 0 on success, 1 on a PostgreSQL or Kafka error (printed), 2 on bad
 * usage.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage(void)
{
    fprintf(stderr, "usage: snapceil pg --conninfo C [--out FILE] QUERY...\n"
                    "       snapceil kafka --bootstrap B [--txn-bytes N] [--txn-ms M] [--kv] FILE:TOPIC...\n");
    return 2;
}

static int run_pg(int argc, char **argv)
{
    const char *conninfo = NULL, *out = NULL;
    int i = 0;
    for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--conninfo"))
            conninfo = argv[i + 1];
        else if (!strcmp(argv[i], "--out"))
            out = argv[i + 1];
        else
            return usage();
    }
    if (!conninfo || i >= argc)
        return usage();
    FILE *f = NULL;
    if (out && !(f = fopen(out, "w"))) {
        perror(out);
        return 1;
    }
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "snapceil: connecting: %s", PQerrorMessage(c));
        PQfinish(c);
        if (f)
            fclose(f);
        return 1;
    }
    uint64_t rows = 0, bytes = 0;
    int rc = 0;
    int64_t t0 = now_ms();
    for (; i < argc && rc == 0; i++) {
        PGresult *r = PQexec(c, argv[i]);
        if (PQresultStatus(r) != PGRES_COPY_OUT) {
            fprintf(stderr, "snapceil: %s: %s", argv[i], PQerrorMessage(c));
            PQclear(r);
            rc = 1;
            break;
        }
        PQclear(r);
        char *buf;
        int n;
        while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
            rows++;
            bytes += (uint64_t) n;
            if (f && fwrite(buf, 1, (size_t) n, f) != (size_t) n) {
                perror(out);
                rc = 1;
            }
            PQfreemem(buf);
        }
        if (n == -2) {
            fprintf(stderr, "snapceil: reading the copy: %s", PQerrorMessage(c));
            rc = 1;
        }
        while ((r = PQgetResult(c)) != NULL) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "snapceil: %s: %s", argv[i], PQresultErrorMessage(r));
                rc = 1;
            }
            PQclear(r);
        }
    }
    int64_t ms = now_ms() - t0;
    PQfinish(c);
    if (f && fclose(f) != 0) {
        perror(out);
        rc = 1;
    }
    if (rc == 0)
        printf("rows %" PRIu64 " bytes %" PRIu64 " ms %" PRId64 "\n", rows, bytes, ms);
    return rc;
}

static int delivery_failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void) rk;
    (void) opaque;
    if (m->err && !delivery_failed++)
        fprintf(stderr, "snapceil: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

static int kerr(rd_kafka_error_t *e, const char *what)
{
    fprintf(stderr, "snapceil: %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 1;
}

static bool conf(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) == RD_KAFKA_CONF_OK)
        return true;
    fprintf(stderr, "snapceil: %s = %s: %s\n", k, v, err);
    return false;
}

static int run_kafka(int argc, char **argv)
{
    const char *bootstrap = NULL;
    long long txn_bytes = 16777216, txn_ms = 1000;
    bool kv = false;
    int i = 0;
    for (; i < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (!strcmp(argv[i], "--kv")) {
            kv = true;
            i--;
            continue;
        }
        if (i + 1 >= argc)
            return usage();
        if (!strcmp(argv[i], "--bootstrap"))
            bootstrap = argv[i + 1];
        else if (!strcmp(argv[i], "--txn-bytes"))
            txn_bytes = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--txn-ms"))
            txn_ms = atoll(argv[i + 1]);
        else
            return usage();
    }
    if (!bootstrap || i >= argc || txn_bytes <= 0 || txn_ms <= 0)
        return usage();
    char tid[64];
    snprintf(tid, sizeof tid, "snapceil-%ld", (long) getpid());
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    static const char *const settings[][2] = {
        {"enable.idempotence", "true"}, {"acks", "all"},
        {"partitioner", "murmur2_random"}, {"linger.ms", "50"},
        {"queue.buffering.max.kbytes", "4096"}, {"queue.buffering.max.messages", "50000"},
        {"batch.size", "1000000"}, {"compression.type", "lz4"},
        {"client.id", "snapceil"}, {"allow.auto.create.topics", "false"},
    };
    bool ok = conf(c, "bootstrap.servers", bootstrap) && conf(c, "transactional.id", tid);
    for (size_t k = 0; ok && k < sizeof settings / sizeof settings[0]; k++)
        ok = conf(c, settings[k][0], settings[k][1]);
    if (!ok) {
        rd_kafka_conf_destroy(c);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "snapceil: producer: %s\n", err);
        return 1;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 60000);
    if (e) {
        rd_kafka_destroy(rk);
        return kerr(e, "init_transactions");
    }
    uint64_t rows = 0, bytes = 0, txns = 0;
    int rc = 0;
    int64_t t0 = now_ms(), txn_t0 = 0;
    long long in_txn = 0;
    bool in_open = false;
    for (; i < argc && rc == 0; i++) {
        char *colon = strrchr(argv[i], ':');
        if (!colon) {
            rc = usage();
            break;
        }
        *colon = '\0';
        const char *path = argv[i], *topic = colon + 1;
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            perror(path);
            rc = 1;
            break;
        }
        char *data = NULL;
        if (st.st_size > 0 &&
            (data = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
            perror(path);
            close(fd);
            rc = 1;
            break;
        }
        close(fd);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const char *p = data, *end = data ? data + st.st_size : NULL;
        while (p && p < end && rc == 0) {
            const char *nl = memchr(p, '\n', (size_t) (end - p));
            size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
            const char *tab = memchr(p, '\t', len);
            size_t klen = tab ? (size_t) (tab - p) : len;
            const char *val = p;
            size_t vlen = len;
            if (kv && tab) {
                val = tab + 1;
                vlen = len - klen - 1;
            }
            if (!in_open) {
                if ((e = rd_kafka_begin_transaction(rk))) {
                    rc = kerr(e, "begin_transaction");
                    break;
                }
                in_open = true;
                txn_t0 = now_ms();
            }
            for (;;) {
                if (rd_kafka_produce(rkt, RD_KAFKA_PARTITION_UA, 0, (void *) val, vlen, p, klen,
                                     NULL) == 0)
                    break;
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    fprintf(stderr, "snapceil: produce to %s: %s\n", topic,
                            rd_kafka_err2str(rd_kafka_last_error()));
                    rc = 1;
                    break;
                }
                rd_kafka_poll(rk, 5);
            }
            rd_kafka_poll(rk, 0);
            rows++;
            bytes += vlen + klen;
            in_txn += (long long) (vlen + klen);
            p += len + 1;
            if (rc == 0 && (in_txn >= txn_bytes || now_ms() - txn_t0 >= txn_ms)) {
                if ((e = rd_kafka_commit_transaction(rk, 60000))) {
                    rc = kerr(e, "commit_transaction");
                    break;
                }
                in_open = false;
                in_txn = 0;
                txns++;
            }
        }
        /* The producer references the mapping until the commit has sent it all. */
        if (rc == 0 && in_open) {
            if ((e = rd_kafka_commit_transaction(rk, 60000)))
                rc = kerr(e, "commit_transaction");
            else {
                in_open = false;
                in_txn = 0;
                txns++;
            }
        }
        rd_kafka_topic_destroy(rkt);
        if (data && rc == 0)
            munmap(data, (size_t) st.st_size);
    }
    int64_t ms = now_ms() - t0;
    if (delivery_failed)
        rc = 1;
    rd_kafka_destroy(rk);
    if (rc == 0)
        printf("rows %" PRIu64 " bytes %" PRIu64 " txns %" PRIu64 " ms %" PRId64 "\n", rows, bytes,
               txns, ms);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "pg"))
        return run_pg(argc - 2, argv + 2);
    if (!strcmp(argv[1], "kafka"))
        return run_kafka(argc - 2, argv + 2);
    return usage();
}
