/*
 * kread.h — reading sluice's topics for the test tools (consume, apply):
 * every record of a set of topics, read_committed, from the beginning to the
 * end as of now, sorted into the order sluice produced them in (commit LSN
 * of the source transaction, then position in it, from the sluice.* headers).
 *
 * Header-only (static functions): each tool is one .c file in the Makefile.
 */
#ifndef SLUICE_TESTS_KREAD_H
#define SLUICE_TESTS_KREAD_H

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char *topic;
    int32_t partition;
    int64_t offset;
    uint64_t lsn;  /* sluice.lsn header (commit LSN), 0 if absent */
    uint32_t xid;  /* sluice.xid header: 0 for a non-transactional message */
    uint32_t seq;  /* sluice.seq header */
    int rank;      /* 1 for a transaction END event: last of its transaction */
    char batch[24]; /* sluice.batch header: the Kafka transaction */
    char *key;     /* NUL-terminated copies; value NULL for a tombstone */
    char *value;
    size_t key_len; /* Protobuf keys and values may hold NUL bytes */
    size_t value_len;
} krecord_t;

static void kr_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void kr_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "error: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int64_t kr_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rd_kafka_t *kr_consumer(const char *bootstrap)
{
    char e[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "sluice-test-%d", (int) getpid());
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof e) ||
        rd_kafka_conf_set(conf, "group.id", group, e, sizeof e) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e) ||
        rd_kafka_conf_set(conf, "fetch.max.bytes", "52428800", e, sizeof e))
        kr_die("consumer config: %s", e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk)
        kr_die("consumer: %s", e);
    return rk;
}

static char *kr_header(const rd_kafka_message_t *m, const char *name, char *buf, size_t len)
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

static char *kr_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Order of production: commit LSN, position in the source transaction, then Kafka order. */
static int kr_cmp(const void *a, const void *b)
{
    const krecord_t *x = a, *y = b;
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

/*
 * Reads every topic whose name starts with `prefix` (all but those ending in
 * `skip_suffix`), or exactly the topic `prefix` when exact. Returns the
 * records sorted; *n gets their count.
 */
static krecord_t *kr_read(const char *bootstrap, const char *prefix, bool exact,
                          const char *skip_suffix, size_t *n)
{
    rd_kafka_t *rk = kr_consumer(bootstrap);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 10000))
        kr_die("could not read Kafka metadata");
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    int total = 0;
    size_t plen = strlen(prefix), slen = skip_suffix ? strlen(skip_suffix) : 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const char *name = md->topics[t].topic;
        size_t len = strlen(name);
        if (exact ? strcmp(name, prefix) != 0 : strncmp(name, prefix, plen) != 0)
            continue;
        if (slen && len >= slen && strcmp(name + len - slen, skip_suffix) == 0)
            continue;
        for (int p = 0; p < md->topics[t].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, name, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        total += md->topics[t].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t cap = 1024, count = 0;
    krecord_t *recs = malloc(cap * sizeof *recs);
    int eofs = 0;
    int64_t idle_since = kr_mono_ms();
    while (eofs < total) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            if (kr_mono_ms() - idle_since > 60000)
                kr_die("timed out reading topics (%d of %d partitions at their end)", eofs, total);
            continue;
        }
        idle_since = kr_mono_ms();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err) {
            kr_die("consumer: %s", rd_kafka_message_errstr(m));
        } else {
            if (count == cap)
                recs = realloc(recs, (cap *= 2) * sizeof *recs);
            krecord_t *r = &recs[count++];
            char buf[64];
            unsigned hi = 0, lo = 0;
            r->lsn = kr_header(m, "sluice.lsn", buf, sizeof buf) && sscanf(buf, "%X/%X", &hi, &lo) == 2
                         ? ((uint64_t) hi << 32 | lo)
                         : 0;
            r->xid = kr_header(m, "sluice.xid", buf, sizeof buf) ? (uint32_t) strtoul(buf, NULL, 10) : 0;
            r->seq = kr_header(m, "sluice.seq", buf, sizeof buf) ? (uint32_t) strtoul(buf, NULL, 10) : 0;
            if (!kr_header(m, "sluice.batch", r->batch, sizeof r->batch))
                r->batch[0] = '\0';
            r->topic = strdup(rd_kafka_topic_name(m->rkt));
            r->partition = m->partition;
            r->offset = m->offset;
            r->key = m->key ? kr_strndup(m->key, m->key_len) : NULL;
            r->key_len = m->key_len;
            r->value = m->payload ? kr_strndup(m->payload, m->len) : NULL;
            r->value_len = m->len;
            size_t tl = strlen(r->topic);
            r->rank = tl > 12 && strcmp(r->topic + tl - 12, ".transaction") == 0 && r->value &&
                      strstr(r->value, "\"status\":\"END\"");
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    qsort(recs, count, sizeof *recs, kr_cmp);
    *n = count;
    return recs;
}

#endif
