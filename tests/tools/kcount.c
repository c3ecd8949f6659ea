/*
 * kcount — the benchmark's read_committed consumer: when did the change
 * events become visible in Kafka, and how long after their source commit.
 * Works for any producer of Debezium-shaped topics (sluice, Debezium on
 * Kafka Connect), so every system is timed by the same reader.
 *
 *   kcount --bootstrap B --prefix P --expect N [--timeout-ms T]
 *       Count mode: reads every topic "<P>.*" (but sluice's checkpoint
 *       topic, and "<P>.S" with --skip S, e.g. Debezium's signal table's
 *       topic) from the beginning, also topics created while it runs, and
 *       stops when N change events (records with a value; tombstones are
 *       not change events) are visible. Prints one line:
 *
 *         records <n> key_bytes <k> value_bytes <v> first_ms <t> done_ms <t>
 *
 *       first_ms / done_ms: wall clock (ms since the epoch) when the first
 *       and the N-th event arrived. Exit 0; 3 when T ms (default 600000)
 *       passed without reaching N (the line is printed all the same).
 *       --dump DIR also appends each event to DIR/<topic>.kv as one line
 *       "<key><TAB><value>" (JSON topics: their keys and values hold no tab
 *       or newline), for `snapceil kafka --kv` to produce the same records.
 *
 *   kcount --bootstrap B --prefix P --create NAME[,NAME...] [--partitions N]
 *       Creates the topics "<P>.<NAME>" (N partitions, default 3; an
 *       existing one is fine) and exits: the benchmark creates every topic
 *       before a drain, so no system pays for topic creation while timed.
 *
 *   kcount --bootstrap B --prefix P --latency --since-ms S --until-ms U
 *          [--run-ms D] [--progress FILE]
 *       Latency mode: for every event whose source commit time (the
 *       "ts_ms" of the envelope's "source" block, JSON only) is in [S, U),
 *       records arrival time minus commit time. Runs D ms (default: until
 *       SIGTERM/SIGINT), then prints:
 *
 *         events <n> p50_ms <x> p99_ms <y> max_ms <z> mean_ms <m>
 *
 *       With --progress, FILE holds the number of events counted so far
 *       (rewritten every 200 ms), so the caller can stop it once every
 *       event committed in the window has arrived, however late.
 *
 * Not read: sluice's checkpoint topic "<P>.sluice.checkpoint" and the
 * logical decoding message topic "<P>.message" (the harness's sync barriers
 * land there: they are not table changes).
 *
 * New topics are found by reading the cluster's metadata every 200 ms and
 * assigned from their beginning (kread_add_prefix of tests/tools/kread.h:
 * incremental assignment, no consumer group rebalance), so a topic created
 * by the first event is read as well.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kread.h"
#include "sluice/base/clock.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void) sig;
    stop_requested = 1;
}


/* Creates "<dotted><name>" for every name of the comma-separated list. */
static int create_topics(const char *bootstrap, const char *dotted, const char *list, int partitions)
{
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof e))
        kread_die("producer config: %s", e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!rk)
        kread_die("admin client: %s", e);
    rd_kafka_NewTopic_t *nt[64];
    size_t n = 0;
    char *copy = strdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && n < 64; tok = strtok_r(NULL, ",", &save)) {
        char name[512];
        snprintf(name, sizeof name, "%s%s", dotted, tok);
        if (!(nt[n++] = rd_kafka_NewTopic_new(name, partitions, 1, e, sizeof e)))
            kread_die("topic: %s", e);
    }
    free(copy);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, e, sizeof e);
    rd_kafka_CreateTopics(rk, nt, n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 40000);
    int rc = 0;
    if (!ev || rd_kafka_event_error(ev)) {
        fprintf(stderr, "kcount: creating topics: %s\n", ev ? rd_kafka_event_error_string(ev) : "timed out");
        rc = 2;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t te = rd_kafka_topic_result_error(res[i]);
            if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                fprintf(stderr, "kcount: creating topic \"%s\": %s\n", rd_kafka_topic_result_name(res[i]),
                        rd_kafka_err2str(te));
                rc = 2;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    for (size_t i = 0; i < n; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

/* The commit time in an event: "ts_ms" inside the "source" block; -1 if
 * there is none (a Protobuf value, a record of another shape). String
 * values in the row cannot fake the search key: quotes inside JSON strings
 * are escaped. */
static int64_t source_ts_ms(const char *v, size_t len)
{
    static const char src[] = "\"source\":{", ts[] = "\"ts_ms\":";
    const char *p = memmem(v, len, src, sizeof src - 1);
    if (!p)
        return -1;
    const char *end = v + len;
    p = memmem(p, (size_t) (end - p), ts, sizeof ts - 1);
    if (!p)
        return -1;
    p += sizeof ts - 1;
    int64_t x = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        x = x * 10 + (*p++ - '0');
        digits++;
    }
    return digits ? x : -1;
}

/* Replaces FILE with the count (write and rename: a reader never sees half). */
static void write_progress(const char *file, size_t n)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f, "%zu\n", n);
    if (fclose(f) == 0)
        rename(tmp, file);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

/* Appends "<key>\t<value>\n" of m to DIR/<topic>.kv (one open file per topic, kept). */
static void dump_record(const char *dir, const rd_kafka_message_t *m)
{
    static struct {
        char topic[256];
        FILE *f;
    } files[64];
    static size_t nfiles;
    const char *topic = rd_kafka_topic_name(m->rkt);
    FILE *f = NULL;
    for (size_t i = 0; i < nfiles && !f; i++)
        if (!strcmp(files[i].topic, topic))
            f = files[i].f;
    if (!f) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.kv", dir, topic);
        if (nfiles == 64 || !(f = fopen(path, "a")))
            kread_die("--dump: cannot write %s", path);
        snprintf(files[nfiles].topic, sizeof files[nfiles].topic, "%s", topic);
        files[nfiles++].f = f;
    }
    if ((m->key && memchr(m->key, '\t', m->key_len)) || memchr(m->payload, '\n', m->len))
        kread_die("--dump: a record of %s holds a tab or a newline (not JSON?)", topic);
    if (m->key)
        fwrite(m->key, 1, m->key_len, f);
    fputc('\t', f);
    fwrite(m->payload, 1, m->len, f);
    fputc('\n', f);
}

int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *prefix = NULL, *create = NULL, *progress = NULL;
    const char *also_skip = NULL, *dump = NULL;
    int partitions = 3;
    uint64_t expect = 0;
    int64_t timeout_ms = 600000, since_ms = 0, until_ms = INT64_MAX, run_ms = -1;
    int latency = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--latency")) {
            latency = 1;
            continue;
        }
        if (!v)
            kread_die("usage: missing value after an option");
        i++;
        if (!strcmp(a, "--bootstrap"))
            bootstrap = v;
        else if (!strcmp(a, "--prefix"))
            prefix = v;
        else if (!strcmp(a, "--expect"))
            expect = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--timeout-ms"))
            timeout_ms = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--since-ms"))
            since_ms = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--until-ms"))
            until_ms = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--progress"))
            progress = v;
        else if (!strcmp(a, "--create"))
            create = v;
        else if (!strcmp(a, "--partitions"))
            partitions = atoi(v);
        else if (!strcmp(a, "--run-ms"))
            run_ms = strtoll(v, NULL, 10);
        else if (!strcmp(a, "--skip"))
            also_skip = v;
        else if (!strcmp(a, "--dump"))
            dump = v;
        else
            kread_die("usage: unknown option %s", a);
    }
    if (!bootstrap || !prefix || (!latency && !create && expect == 0))
        kread_die("usage: kcount --bootstrap B --prefix P (--expect N [--timeout-ms T] [--skip S] [--dump DIR] | "
                  "--create NAME[,NAME...] [--partitions N] | "
                  "--latency --since-ms S --until-ms U [--run-ms D] [--progress FILE])");
    char dotted[512];
    snprintf(dotted, sizeof dotted, "%s.", prefix);
    if (create)
        return create_topics(bootstrap, dotted, create, partitions);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    /* Not table changes: the checkpoints, and the logical decoding messages (the
     * harness's sync barriers land there); --skip: one more (a signal table's). */
    const char *const skip[] = {"sluice.checkpoint", "message", also_skip, NULL};
    kread_t *kr = kread_open(bootstrap, 20);
    kr->metadata_timeout_ms = 2000; /* a slow answer must not hold up the timing for long */
    uint64_t records = 0, key_bytes = 0, value_bytes = 0;
    int64_t first_ms = 0, done_ms = 0, start = clock_mono_ms(), next_md = 0;
    int64_t *lat = NULL;
    size_t nlat = 0, caplat = 0;
    int rc = 0;
    while (!stop_requested) {
        int64_t now = clock_mono_ms();
        if (now >= next_md) {
            kread_add_prefix(kr, dotted, skip); /* a failed metadata request: next round */
            next_md = clock_mono_ms() + 200;
            if (progress)
                write_progress(progress, nlat);
        }
        if (!latency && now - start > timeout_ms) {
            rc = 3;
            break;
        }
        if (latency && run_ms >= 0 && now - start > run_ms)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kr->rk, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "kcount: consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->payload) {
            int64_t t = clock_wall_ms();
            records++;
            key_bytes += m->key_len;
            value_bytes += m->len;
            if (records == 1)
                first_ms = t;
            if (dump)
                dump_record(dump, m);
            if (latency) {
                int64_t ts = source_ts_ms(m->payload, m->len);
                if (ts >= since_ms && ts < until_ms) {
                    if (nlat == caplat) {
                        caplat = caplat ? 2 * caplat : 65536;
                        lat = realloc(lat, caplat * sizeof *lat);
                        if (!lat)
                            kread_die("out of memory");
                    }
                    lat[nlat++] = t - ts;
                }
            } else if (records == expect) {
                done_ms = t;
                rd_kafka_message_destroy(m);
                break;
            }
        }
        rd_kafka_message_destroy(m);
    }
    kread_close(kr);
    if (latency) {
        if (nlat == 0) {
            printf("events 0 p50_ms - p99_ms - max_ms - mean_ms -\n");
            return 0;
        }
        qsort(lat, nlat, sizeof *lat, cmp_i64);
        double sum = 0;
        for (size_t i = 0; i < nlat; i++)
            sum += (double) lat[i];
        /* Nearest-rank percentiles. */
        size_t i50 = (nlat * 50 + 99) / 100, i99 = (nlat * 99 + 99) / 100;
        printf("events %zu p50_ms %" PRId64 " p99_ms %" PRId64 " max_ms %" PRId64 " mean_ms %.1f\n",
               nlat, lat[i50 ? i50 - 1 : 0], lat[i99 ? i99 - 1 : 0], lat[nlat - 1],
               sum / (double) nlat);
        return 0;
    }
    printf("records %" PRIu64 " key_bytes %" PRIu64 " value_bytes %" PRIu64 " first_ms %" PRId64
           " done_ms %" PRId64 "\n",
           records, key_bytes, value_bytes, first_ms, done_ms);
    return rc;
}
