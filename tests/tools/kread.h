/*
 * kread.h — the one read_committed reader of sluice's topics, shared by the
 * test tools (verify, kcount, consume, apply): what a consumer that reads
 * only committed Kafka transactions sees is the thing every test checks, so
 * it is read one way everywhere.
 *
 * A reader (kread_t) is a consumer without group membership: topics are
 * assigned by hand from their beginning (kread_add_topic, kread_add_prefix;
 * a topic added later is assigned incrementally, with no rebalance) and no
 * offset is ever committed. Then either
 *   - kread_to_end: every assigned partition up to its end, a callback per
 *     record (verify, and kread_records below), or
 *   - rd_kafka_consumer_poll on kr->rk for as long as the tool likes (kcount,
 *     which follows topics as they are created, and verify's sampler).
 * kread_records reads a set of topics to their end into one array sorted
 * into the order sluice produced the records in (commit LSN of the source
 * transaction, then the position in it, from the sluice.* headers).
 *
 * Owns: the consumer, the table of assigned topics and partitions. Never
 * interprets a record beyond the sluice.* headers (the tools do that).
 *
 * Header-only (static inline functions, so a tool that uses part of it
 * builds warning-free): each tool is one .c file in the Makefile.
 * Errors that leave a tool nothing to check end it (kread_die, exit 2).
 */
#ifndef SLUICE_TESTS_KREAD_H
#define SLUICE_TESTS_KREAD_H

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A partition without a record or an EOF for this long ends kread_to_end with an error. */
#define KREAD_IDLE_MS 60000

static inline void kread_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static inline void kread_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", program_invocation_short_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static inline int64_t kread_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns a NUL-terminated copy of n bytes (which may hold NULs themselves). */
static inline char *kread_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        kread_die("out of memory");
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* The last header `name` of m as a string in buf; NULL if absent or longer than len - 1. */
static inline const char *kread_header(const rd_kafka_message_t *m, const char *name, char *buf,
                                       size_t len)
{
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &hdrs) || rd_kafka_header_get_last(hdrs, name, &v, &n) ||
        n >= len)
        return NULL;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return buf;
}

typedef struct {
    rd_kafka_t *rk;
    int ntopics, cap;
    char **topics;             /* assigned topics, in the order they were added */
    rd_kafka_topic_t **handle; /* the handle records of that topic carry (found lazily) */
    int *first;                /* index of the topic's partition 0 in the partition table */
    int *nparts;
    int npartitions;
    int metadata_timeout_ms; /* how long kread_add_* wait for the cluster's metadata */
} kread_t;

/*
 * Connection settings from the file SLUICE_TEST_KAFKA_CONFIG names, if set:
 * librdkafka key=value lines (# comments), e.g. the security settings of a
 * secured test cluster's administrator (tests/env/kafka_secure.sh).
 */
static inline void kread_conf_file(rd_kafka_conf_t *conf)
{
    const char *path = getenv("SLUICE_TEST_KAFKA_CONFIG");
    if (!path || !*path)
        return;
    FILE *f = fopen(path, "r");
    if (!f)
        kread_die("%s: %s", path, strerror(errno));
    char line[1024], e[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = '\0';
        if (rd_kafka_conf_set(conf, line, eq + 1, e, sizeof e) != RD_KAFKA_CONF_OK)
            kread_die("%s: %s", path, e);
    }
    fclose(f);
}

/*
 * Returns a read_committed consumer of bootstrap. fetch_wait_ms > 0 sets
 * fetch.wait.max.ms (kcount times arrivals and wants them at once); 0 keeps
 * librdkafka's default. Free with kread_close.
 */
static inline kread_t *kread_open(const char *bootstrap, int fetch_wait_ms)
{
    char e[512], group[96], wait[16];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* No offsets are committed; the group only names the consumer in the broker's logs. */
    snprintf(group, sizeof group, "sluice-%s-%d", program_invocation_short_name, (int) getpid());
    snprintf(wait, sizeof wait, "%d", fetch_wait_ms);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof e) ||
        rd_kafka_conf_set(conf, "group.id", group, e, sizeof e) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e) ||
        rd_kafka_conf_set(conf, "fetch.max.bytes", "52428800", e, sizeof e) ||
        (fetch_wait_ms > 0 && rd_kafka_conf_set(conf, "fetch.wait.max.ms", wait, e, sizeof e)))
        kread_die("consumer configuration: %s", e);
    kread_conf_file(conf);
    kread_t *kr = calloc(1, sizeof *kr);
    if (!kr)
        kread_die("out of memory");
    kr->metadata_timeout_ms = 10000;
    kr->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!kr->rk)
        kread_die("consumer: %s", e);
    rd_kafka_poll_set_consumer(kr->rk);
    return kr;
}

static inline void kread_close(kread_t *kr)
{
    if (!kr)
        return;
    rd_kafka_consumer_close(kr->rk);
    rd_kafka_destroy(kr->rk);
    for (int t = 0; t < kr->ntopics; t++)
        free(kr->topics[t]);
    free(kr->topics);
    free(kr->handle);
    free(kr->first);
    free(kr->nparts);
    free(kr);
}

static inline bool kread_has_topic(const kread_t *kr, const char *topic)
{
    for (int t = 0; t < kr->ntopics; t++)
        if (!strcmp(kr->topics[t], topic))
            return true;
    return false;
}

/* Records topic's partitions 0..n-1 in the table and adds them, from the beginning, to list. */
static inline void kread_note_topic(kread_t *kr, const char *topic, int n,
                             rd_kafka_topic_partition_list_t *list)
{
    if (kr->ntopics == kr->cap) {
        kr->cap = kr->cap ? 2 * kr->cap : 16;
        kr->topics = realloc(kr->topics, (size_t) kr->cap * sizeof *kr->topics);
        kr->handle = realloc(kr->handle, (size_t) kr->cap * sizeof *kr->handle);
        kr->first = realloc(kr->first, (size_t) kr->cap * sizeof *kr->first);
        kr->nparts = realloc(kr->nparts, (size_t) kr->cap * sizeof *kr->nparts);
        if (!kr->topics || !kr->handle || !kr->first || !kr->nparts)
            kread_die("out of memory");
    }
    int t = kr->ntopics++;
    kr->topics[t] = kread_strndup(topic, strlen(topic));
    kr->handle[t] = NULL;
    kr->first[t] = kr->npartitions;
    kr->nparts[t] = n;
    kr->npartitions += n;
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
}

static inline void kread_assign(kread_t *kr, rd_kafka_topic_partition_list_t *list)
{
    if (list->cnt > 0) {
        rd_kafka_error_t *err = rd_kafka_incremental_assign(kr->rk, list);
        if (err)
            kread_die("assigning partitions: %s", rd_kafka_error_string(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/*
 * Assigns topic from its beginning (nothing if it is assigned already).
 * Returns its partition count; -1 if it does not exist (or, being created,
 * lists no partitions yet).
 */
static inline int kread_add_topic(kread_t *kr, const char *topic)
{
    for (int t = 0; t < kr->ntopics; t++)
        if (!strcmp(kr->topics[t], topic))
            return kr->nparts[t];
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(kr->rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    int n = -1;
    if (rd_kafka_metadata(kr->rk, 0, rkt, &md, kr->metadata_timeout_ms) == 0) {
        if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (n > 0) {
        rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(n);
        kread_note_topic(kr, topic, n, list);
        kread_assign(kr, list);
    }
    return n;
}

/*
 * Assigns from their beginning the topics whose names start with prefix,
 * but those whose rest is one of skip (NULL-terminated; NULL for none) and
 * those assigned already. Returns how many topics it added; -1 when the
 * cluster's metadata could not be read (a caller that polls tries again).
 */
static inline int kread_add_prefix(kread_t *kr, const char *prefix, const char *const *skip)
{
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(kr->rk, 1, NULL, &md, kr->metadata_timeout_ms))
        return -1;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(16);
    size_t plen = strlen(prefix);
    int added = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const struct rd_kafka_metadata_topic *mt = &md->topics[t];
        if (mt->err || mt->partition_cnt == 0 || strncmp(mt->topic, prefix, plen) != 0 ||
            kread_has_topic(kr, mt->topic))
            continue;
        bool skipped = false;
        for (const char *const *s = skip; s && *s && !skipped; s++)
            skipped = !strcmp(mt->topic + plen, *s);
        if (skipped)
            continue;
        kread_note_topic(kr, mt->topic, mt->partition_cnt, list);
        added++;
    }
    rd_kafka_metadata_destroy(md);
    kread_assign(kr, list);
    return added;
}

/* The index in kr->topics of the topic m came from; -1 for none (an error without a topic). */
static inline int kread_topic_index(kread_t *kr, const rd_kafka_message_t *m)
{
    if (!m->rkt)
        return -1;
    for (int t = 0; t < kr->ntopics; t++)
        if (kr->handle[t] == m->rkt)
            return t;
    const char *name = rd_kafka_topic_name(m->rkt);
    for (int t = 0; t < kr->ntopics; t++)
        if (!kr->handle[t] && !strcmp(kr->topics[t], name)) {
            kr->handle[t] = m->rkt;
            return t;
        }
    return -1;
}

typedef void kread_fn(const rd_kafka_message_t *m, int topic, void *arg);

/* How long kread_settle waits for the committed view to catch up. */
#define KREAD_SETTLE_MS 30000

/*
 * A producer's commit returns once the coordinator has logged it; the
 * markers that make its records visible to read_committed reach the
 * partitions after that (seconds after a broker restart). Until then a
 * partition's last stable offset (what a read_committed handle gets as its
 * end) stays behind its high watermark, and a reader stopping there sees a
 * committed transaction in part. Waits, up to KREAD_SETTLE_MS, until every
 * partition's last stable offset equals its high watermark (no transaction
 * open or in doubt), and says which did not (a producer still running).
 */
static inline void kread_settle(kread_t *kr)
{
    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kread_conf_file(conf);
    /* The same cluster as kr, read uncommitted: its high watermarks. */
    const rd_kafka_conf_t *kconf = rd_kafka_conf(kr->rk);
    char bs[1024];
    size_t bslen = sizeof bs;
    if (rd_kafka_conf_get(kconf, "bootstrap.servers", bs, &bslen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "bootstrap.servers", bs, e, sizeof e) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_uncommitted", e, sizeof e))
        kread_die("consumer configuration: %s", e);
    rd_kafka_t *raw = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!raw)
        kread_die("consumer: %s", e);
    int64_t began = kread_mono_ms(), deadline = began + KREAD_SETTLE_MS;
    int waits = 0;
    for (;;) {
        const char *behind = NULL;
        int behind_p = -1;
        int64_t lso = 0, hw = 0;
        for (int t = 0; t < kr->ntopics && !behind; t++)
            for (int p = 0; p < kr->nparts[t] && !behind; p++) {
                int64_t lo, c, u;
                if (rd_kafka_query_watermark_offsets(kr->rk, kr->topics[t], p, &lo, &c, 10000) ||
                    rd_kafka_query_watermark_offsets(raw, kr->topics[t], p, &lo, &u, 10000))
                    continue; /* a broker down on purpose: read what can be read */
                if (c < u) {
                    behind = kr->topics[t], behind_p = p, lso = c, hw = u;
                }
            }
        if (!behind) {
            if (waits)
                fprintf(stderr, "%s: waited %" PRId64 " ms for commit markers to reach the partitions\n",
                        program_invocation_short_name, kread_mono_ms() - began);
            break;
        }
        waits++;
        if (kread_mono_ms() >= deadline) {
            fprintf(stderr,
                    "%s: %s [%d]: last stable offset %" PRId64 " < high watermark %" PRId64
                    " after %d s (a transaction still open): reading to the stable offset\n",
                    program_invocation_short_name, behind, behind_p, lso, hw,
                    KREAD_SETTLE_MS / 1000);
            break;
        }
        usleep(200 * 1000);
    }
    rd_kafka_destroy(raw);
}

/*
 * Reads every assigned partition to its end and calls fn(record, index of
 * its topic, arg) for each record, in the order they arrive (per partition,
 * the partition's order). Returns how many records it passed on.
 *
 * A partition's end, counted once per partition: its EOF (under
 * read_committed, the last stable offset), or a record at or past the end
 * the partition had when reading began. The second matters while sluice
 * still commits: then every fetch brings something new and librdkafka
 * reports EOF only for a fetch that brings nothing. Records past a
 * partition's end are not passed on; an EOF that comes again after new
 * records is not counted again. Consumer errors are printed, not fatal (a
 * broker may be down on purpose); KREAD_IDLE_MS without a record or an EOF
 * is.
 */
static inline long kread_to_end(kread_t *kr, kread_fn *fn, void *arg)
{
    int total = kr->npartitions;
    int64_t *end = calloc((size_t) total + 1, sizeof *end);
    bool *done = calloc((size_t) total + 1, sizeof *done);
    if (!end || !done)
        kread_die("out of memory");
    kread_settle(kr);
    for (int t = 0; t < kr->ntopics; t++)
        for (int p = 0; p < kr->nparts[t]; p++) {
            int64_t lo, hi;
            end[kr->first[t] + p] =
                rd_kafka_query_watermark_offsets(kr->rk, kr->topics[t], p, &lo, &hi, 10000) ==
                        RD_KAFKA_RESP_ERR_NO_ERROR
                    ? hi
                    : -1;
        }
    int ndone = 0;
    long count = 0;
    int64_t idle_since = kread_mono_ms();
    while (ndone < total) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kr->rk, 500);
        if (!m) {
            if (kread_mono_ms() - idle_since > KREAD_IDLE_MS)
                kread_die("timed out reading topics (%d of %d partitions at their end)", ndone,
                          total);
            continue;
        }
        int t = kread_topic_index(kr, m);
        int i = -1; /* the partition's index in end[] and done[] */
        if (t >= 0 && m->partition >= 0 && m->partition < kr->nparts[t])
            i = kr->first[t] + m->partition;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            idle_since = kread_mono_ms();
            if (i >= 0 && !done[i]) {
                done[i] = true;
                ndone++;
            }
        } else if (m->err) {
            fprintf(stderr, "%s: consumer: %s\n", program_invocation_short_name,
                    rd_kafka_message_errstr(m));
        } else if (i >= 0 && !done[i]) {
            idle_since = kread_mono_ms();
            fn(m, t, arg);
            count++;
            if (end[i] > 0 && m->offset >= end[i] - 1) {
                done[i] = true;
                ndone++;
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(end);
    free(done);
    return count;
}

/* ---- all records of a set of topics, in production order ---- */

typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
    uint64_t lsn;   /* sluice.lsn header (commit LSN), 0 if absent */
    uint32_t xid;   /* sluice.xid header: 0 for a non-transactional message */
    uint32_t seq;   /* sluice.seq header */
    int rank;       /* 1 for a transaction END event: last of its transaction */
    char batch[24]; /* sluice.batch header: the Kafka transaction */
    char *key;      /* NUL-terminated copies; value NULL for a tombstone */
    char *value;
    size_t key_len; /* Protobuf keys and values may hold NUL bytes */
    size_t value_len;
} kread_record_t;

/* Order of production: commit LSN, position in the source transaction, then Kafka order. */
static inline int kread_cmp(const void *a, const void *b)
{
    const kread_record_t *x = a, *y = b;
    if (x->lsn != y->lsn)
        return x->lsn < y->lsn ? -1 : 1;
    /* A non-transactional message's LSN is the end of its record, where the
     * commit record of the transaction after it may start: same LSN, the
     * message (xid 0) first. */
    if (x->xid != y->xid)
        return x->xid < y->xid ? -1 : 1;
    if (x->rank != y->rank)
        return x->rank - y->rank;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    int t = strcmp(x->topic, y->topic);
    if (t)
        return t;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

typedef struct {
    kread_record_t *recs;
    size_t count, cap;
} kread_collect_t;

static inline void kread_collect(const rd_kafka_message_t *m, int topic, void *arg)
{
    (void) topic;
    kread_collect_t *c = arg;
    if (c->count == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->recs = realloc(c->recs, c->cap * sizeof *c->recs);
        if (!c->recs)
            kread_die("out of memory");
    }
    kread_record_t *r = &c->recs[c->count++];
    char buf[64];
    unsigned hi = 0, lo = 0;
    r->lsn = kread_header(m, "sluice.lsn", buf, sizeof buf) && sscanf(buf, "%X/%X", &hi, &lo) == 2
                 ? ((uint64_t) hi << 32 | lo)
                 : 0;
    r->xid = kread_header(m, "sluice.xid", buf, sizeof buf) ? (uint32_t) strtoul(buf, NULL, 10) : 0;
    r->seq = kread_header(m, "sluice.seq", buf, sizeof buf) ? (uint32_t) strtoul(buf, NULL, 10) : 0;
    if (!kread_header(m, "sluice.batch", r->batch, sizeof r->batch))
        r->batch[0] = '\0';
    const char *topic_name = rd_kafka_topic_name(m->rkt);
    r->topic = kread_strndup(topic_name, strlen(topic_name));
    r->partition = m->partition;
    r->offset = m->offset;
    r->key = m->key ? kread_strndup(m->key, m->key_len) : NULL;
    r->key_len = m->key_len;
    r->value = m->payload ? kread_strndup(m->payload, m->len) : NULL;
    r->value_len = m->len;
    size_t tl = strlen(r->topic);
    r->rank = tl > 12 && strcmp(r->topic + tl - 12, ".transaction") == 0 && r->value &&
              strstr(r->value, "\"status\":\"END\"");
}

/*
 * Reads, to their end, every topic whose name starts with prefix but those
 * whose rest is one of skip (NULL-terminated; NULL for none) — or exactly
 * the topic `prefix` when exact. Returns the records sorted into production
 * order (the caller owns the array); *n gets their count.
 */
static inline kread_record_t *kread_records(const char *bootstrap, const char *prefix, bool exact,
                                     const char *const *skip, size_t *n)
{
    kread_t *kr = kread_open(bootstrap, 0);
    if (exact)
        kread_add_topic(kr, prefix);
    else if (kread_add_prefix(kr, prefix, skip) < 0)
        kread_die("could not read Kafka metadata");
    kread_collect_t c = {0};
    kread_to_end(kr, kread_collect, &c);
    kread_close(kr);
    if (c.count)
        qsort(c.recs, c.count, sizeof *c.recs, kread_cmp);
    *n = c.count;
    return c.recs;
}

#endif
