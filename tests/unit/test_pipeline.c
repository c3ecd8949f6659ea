/*
 * test_pipeline.c — the exactly-once protocol of the streaming pipeline
 * (core/pipeline.c), without PostgreSQL or Kafka: pgoutput messages (the
 * recorded RELATION and UPDATE of public.docs, and BEGIN / INSERT / COMMIT
 * built field by field) go through a queue into pipeline_run, whose sink is a
 * recording implementation of the sink seam (sink_ops_t) and whose confirms
 * to PostgreSQL land in the same record. Every test reads that one ordered
 * record of begins, records, commits, aborts and confirms.
 *
 * The rules, one test each (and make unit-mutants checks that each test
 * fails against the build that breaks its rule):
 *   skip rule              test_skips_txns_kafka_already_holds       (NO_SKIP)
 *   whole transactions     test_never_splits_a_source_txn            (SPLIT_TXN)
 *   checkpoint in the txn  test_checkpoint_is_last_record_before_commit
 *                                                                    (CHECKPOINT_AFTER_COMMIT)
 *   confirm after commit   test_confirms_only_what_kafka_committed   (CONFIRM_BEFORE_COMMIT)
 *   status → result        test_sink_status_maps_to_result           (FATAL_AS_ABORT)
 *   a failed final abort   test_failed_abort_at_session_end_is_judged
 *   skipped.operations     test_skipped_operations_counted_and_said_once
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "recorded_vectors.h"
#include "sluice/base/checkpoint.h"
#include "sluice/base/config.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/base/queue.h"
#include "sluice/core/pipeline.h"
#include "sluice/core/txn_state.h"
#include "sluice/encode/encode.h"
#include "sluice/kafka/sink.h"
#include "wire_builder.h"

/* public.docs in REC_DOCS_RELATION: (id int4 key, title text, body text). */
#define DOCS_RELID 0x4015
#define DOCS_TOPIC "t.public.docs"
#define SYSTEM_ID "7300000000000000001"

/* ------------------------------------------------------------------------ */
/* The recording sink: every call and every confirm, in order.              */

typedef enum { EV_BEGIN, EV_PRODUCE, EV_COMMIT, EV_ABORT, EV_CONFIRM } ev_kind_t;

typedef struct {
    ev_kind_t kind;
    sink_status_t status; /* what the call returned */
    char topic[64];       /* EV_PRODUCE */
    char lsn[24];         /* EV_PRODUCE: the sluice.lsn header */
    char xid[12];         /* EV_PRODUCE: the sluice.xid header */
    char *value;          /* EV_PRODUCE: copy of the value (NUL-terminated), NULL for a tombstone */
    size_t value_len;
    sluice_lsn_t confirmed; /* EV_CONFIRM */
} ev_t;

typedef enum { OP_NONE, OP_BEGIN, OP_PRODUCE, OP_COMMIT } op_t;

typedef struct {
    ev_t *ev;
    size_t nev, cap;
    /* Fault injection: the fail_nth call (1-based) of fail_op returns fail_status. */
    op_t fail_op;
    int fail_nth;
    sink_status_t fail_status;
    int calls[4];
    sink_status_t abort_status;        /* what every abort returns (SINK_OK unless set) */
    int topic_calls, topics_fail_from; /* lookups from the nth on fail SINK_RETRY (0: never) */
    int produce_delay_ms;              /* each produce takes this long (a transaction ages) */
} recorder_t;

static ev_t *rec_add(recorder_t *r, ev_kind_t kind, sink_status_t st)
{
    if (r->nev == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->ev = realloc(r->ev, r->cap * sizeof *r->ev);
        ck_assert_ptr_nonnull(r->ev);
    }
    ev_t *e = &r->ev[r->nev++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->status = st;
    return e;
}

/* The injected status for this call of op, or SINK_OK (with a message in err). */
static sink_status_t rec_fault(recorder_t *r, op_t op, char *err, size_t errlen)
{
    r->calls[op]++;
    if (r->fail_op != op || r->calls[op] != r->fail_nth)
        return SINK_OK;
    snprintf(err, errlen, "injected %s", sink_status_name(r->fail_status));
    return r->fail_status;
}

static sink_status_t rec_begin(void *impl, char *err, size_t errlen)
{
    recorder_t *r = impl;
    sink_status_t st = rec_fault(r, OP_BEGIN, err, errlen);
    rec_add(r, EV_BEGIN, st);
    return st;
}

static sink_status_t rec_produce(void *impl, const char *topic, int32_t partition, const void *key,
                                 size_t keylen, const void *value, size_t valuelen,
                                 const sink_headers_t *h, char *err, size_t errlen)
{
    (void) partition;
    (void) key;
    (void) keylen;
    recorder_t *r = impl;
    if (r->produce_delay_ms)
        usleep((useconds_t) r->produce_delay_ms * 1000);
    sink_status_t st = rec_fault(r, OP_PRODUCE, err, errlen);
    ev_t *e = rec_add(r, EV_PRODUCE, st);
    snprintf(e->topic, sizeof e->topic, "%s", topic);
    snprintf(e->lsn, sizeof e->lsn, "%s", h->lsn);
    snprintf(e->xid, sizeof e->xid, "%s", h->xid);
    if (value) {
        e->value = malloc(valuelen + 1);
        ck_assert_ptr_nonnull(e->value);
        memcpy(e->value, value, valuelen);
        e->value[valuelen] = '\0';
        e->value_len = valuelen;
    }
    return st;
}

static sink_status_t rec_commit(void *impl, char *err, size_t errlen)
{
    recorder_t *r = impl;
    sink_status_t st = rec_fault(r, OP_COMMIT, err, errlen);
    rec_add(r, EV_COMMIT, st);
    return st;
}

static sink_status_t rec_abort(void *impl, char *err, size_t errlen)
{
    recorder_t *r = impl;
    if (r->abort_status != SINK_OK)
        snprintf(err, errlen, "injected abort %s", sink_status_name(r->abort_status));
    rec_add(r, EV_ABORT, r->abort_status);
    return r->abort_status;
}

static void rec_poll(void *impl)
{
    (void) impl;
}

static sink_status_t rec_ensure_topics(void *impl, const char *const *topics, size_t n,
                                       bool compact, int timeout_ms, char *err, size_t errlen)
{
    (void) compact;
    (void) timeout_ms;
    recorder_t *r = impl;
    for (size_t i = 0; i < n; i++)
        if (r->topics_fail_from && ++r->topic_calls >= r->topics_fail_from) {
            snprintf(err, errlen, "injected lookup failure for \"%s\"", topics[i]);
            return SINK_RETRY;
        }
    return SINK_OK;
}

static int rec_partition_count(void *impl, const char *topic)
{
    (void) impl;
    (void) topic;
    return 1;
}

static void rec_free(void *impl)
{
    recorder_t *r = impl;
    for (size_t i = 0; i < r->nev; i++)
        free(r->ev[i].value);
    free(r->ev);
    free(r);
}

static const sink_ops_t rec_ops = {
    .begin = rec_begin,
    .produce = rec_produce,
    .commit = rec_commit,
    .abort = rec_abort,
    .poll = rec_poll,
    .ensure_topics = rec_ensure_topics,
    .partition_count = rec_partition_count,
    .free = rec_free,
};

static void rec_confirm(void *ctx, sluice_lsn_t lsn)
{
    rec_add(ctx, EV_CONFIRM, SINK_OK)->confirmed = lsn;
}

static sluice_lsn_t rec_confirmed_sent(void *ctx)
{
    recorder_t *r = ctx;
    sluice_lsn_t last = 0;
    for (size_t i = 0; i < r->nev; i++)
        if (r->ev[i].kind == EV_CONFIRM && r->ev[i].confirmed > last)
            last = r->ev[i].confirmed;
    return last;
}

/* ------------------------------------------------------------------------ */
/* A pipeline session over a queue of pgoutput messages.                    */

typedef struct {
    config_t cfg;
    encoder_t *enc;
    queue_t *q;
    recorder_t *rec; /* owned by sink */
    sink_t *sink;
    checkpoint_t ckpt;
    pipeline_stats_t stats;
    atomic_int stop;
    sluice_lsn_t wal; /* WAL position given to the next queued message */
    char err[1024];
} session_t;

static session_t *session_new(const char *commit_max_bytes, const char *commit_interval_ms)
{
    session_t *s = calloc(1, sizeof *s);
    ck_assert_ptr_nonnull(s);
    char err[512];
    config_init(&s->cfg);
    ck_assert_msg(config_set(&s->cfg, "postgres.conninfo", "dbname=unused", "test", err, sizeof err) &&
                      config_set(&s->cfg, "kafka.bootstrap.servers", "unused:9092", "test", err,
                                 sizeof err) &&
                      config_set(&s->cfg, "topic.prefix", "t", "test", err, sizeof err) &&
                      config_set(&s->cfg, "commit.max.bytes", commit_max_bytes, "test", err,
                                 sizeof err) &&
                      config_set(&s->cfg, "commit.interval.ms", commit_interval_ms, "test", err,
                                 sizeof err) &&
                      config_finish(&s->cfg, err, sizeof err),
                  "config: %s", err);
    encoder_options_t eo = {.server_name = "t", .db_name = "db", .toast_placeholder = "__toast"};
    s->enc = encoder_new(FORMAT_JSON, &eo);
    s->q = queue_new(1 << 24);
    s->rec = calloc(1, sizeof *s->rec);
    ck_assert_ptr_nonnull(s->rec);
    s->sink = sink_wrap(&rec_ops, s->rec, s->cfg.checkpoint_topic);
    s->wal = 0x1000000;
    return s;
}

static void session_free(session_t *s)
{
    sink_free(s->sink);
    queue_free(s->q);
    encoder_free(s->enc);
    checkpoint_clear(&s->ckpt);
    config_free(&s->cfg);
    free(s);
}

/* Queues one pgoutput message (takes v). */
static void push(session_t *s, vec_t v)
{
    qitem_t *it = qitem_new(NULL, QITEM_DATA, v.data, v.len);
    it->wal_start = s->wal;
    it->wal_end = s->wal;
    s->wal += 0x100;
    ck_assert(queue_push(s->q, it, 1000));
    v_free(&v);
}

static void push_begin(session_t *s, sluice_lsn_t final_lsn, uint32_t xid)
{
    vec_t v = {0};
    v_u8(&v, 'B');
    v_u64(&v, final_lsn);
    v_u64(&v, 0);
    v_u32(&v, xid);
    push(s, v_seal(v));
}

static void push_commit(session_t *s, sluice_lsn_t commit_lsn, sluice_lsn_t end_lsn)
{
    vec_t v = {0};
    v_u8(&v, 'C');
    v_u8(&v, 0);
    v_u64(&v, commit_lsn);
    v_u64(&v, end_lsn);
    v_u64(&v, 0);
    push(s, v_seal(v));
}

/* INSERT INTO docs VALUES (id, 'title', 'body') */
static void push_insert(session_t *s, int id)
{
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    vec_t v = {0};
    v_u8(&v, 'I');
    v_u32(&v, DOCS_RELID);
    v_u8(&v, 'N');
    v_u16(&v, 3);
    v_text(&v, ids);
    v_text(&v, "title");
    v_text(&v, "body");
    push(s, v_seal(v));
}

/* The end of input: the reader's end item, as when the replication connection closes. */
static void push_end(session_t *s)
{
    static const char why[] = "test: end of input";
    qitem_t *it = qitem_new(NULL, QITEM_END, why, sizeof why - 1);
    ck_assert(queue_push(s->q, it, 1000));
}

/*
 * One source transaction of `changes` changes: the recorded UPDATE of docs
 * first, then INSERTs. Its end LSN is commit_lsn + 0x28.
 */
static void push_txn(session_t *s, uint32_t xid, sluice_lsn_t commit_lsn, int changes)
{
    push_begin(s, commit_lsn, xid);
    for (int i = 0; i < changes; i++) {
        if (i == 0)
            push(s, from_hex(REC_DOCS_UPDATE));
        else
            push_insert(s, i + 1);
    }
    push_commit(s, commit_lsn, commit_lsn + 0x28);
}

static pipeline_result_t session_run(session_t *s)
{
    push_end(s);
    pipeline_args_t args = {.cfg = &s->cfg,
                            .sink = s->sink,
                            .encoder = s->enc,
                            .confirm = {.confirm = rec_confirm,
                                        .confirmed_sent = rec_confirmed_sent,
                                        .ctx = s->rec},
                            .queue = s->q,
                            .ckpt = &s->ckpt,
                            .system_id = SYSTEM_ID,
                            .stop = &s->stop,
                            .stats = &s->stats};
    return pipeline_run(&args, s->err, sizeof s->err);
}

static session_t *session_with_relation(const char *commit_max_bytes, const char *commit_interval_ms)
{
    session_t *s = session_new(commit_max_bytes, commit_interval_ms);
    push(s, from_hex(REC_DOCS_RELATION));
    return s;
}

static bool is_checkpoint(const session_t *s, const ev_t *e)
{
    return e->kind == EV_PRODUCE && strcmp(e->topic, s->cfg.checkpoint_topic) == 0;
}

static bool is_change(const ev_t *e)
{
    return e->kind == EV_PRODUCE && strcmp(e->topic, DOCS_TOPIC) == 0;
}

static checkpoint_t parse_checkpoint(const ev_t *e)
{
    checkpoint_t cp;
    char err[256];
    ck_assert_msg(checkpoint_from_json(e->value, e->value_len, &cp, err, sizeof err),
                  "checkpoint record: %s", err);
    return cp;
}

static sluice_lsn_t lsn_of(const char *text)
{
    unsigned hi, lo;
    ck_assert_int_eq(sscanf(text, "%X/%X", &hi, &lo), 2);
    return (sluice_lsn_t) hi << 32 | lo;
}

static int count_kind(const recorder_t *r, ev_kind_t kind)
{
    int n = 0;
    for (size_t i = 0; i < r->nev; i++)
        n += r->ev[i].kind == kind;
    return n;
}

/* ------------------------------------------------------------------------ */
/* (a) The skip rule.                                                        */

/*
 * Kafka's checkpoint holds up to commit 0/2000000: a BEGIN whose final LSN is
 * below it, or equal, starts a transaction Kafka already has (skipped whole,
 * nothing produced); the one after it goes out.
 */
START_TEST(test_skips_txns_kafka_already_holds)
{
    session_t *s = session_with_relation("16MB", "3600000");
    s->ckpt = (checkpoint_t) {.present = true, .commit_lsn = 0x2000000, .end_lsn = 0x2000028, .seq = 4};
    snprintf(s->ckpt.system_id, sizeof s->ckpt.system_id, SYSTEM_ID);
    push_txn(s, 700, 0x1f00000, 3); /* below the checkpoint */
    push_txn(s, 701, 0x2000000, 3); /* the checkpoint's own transaction */
    push_txn(s, 702, 0x2100000, 3); /* after it */
    ck_assert_int_eq(session_run(s), PIPE_STREAM_LOST);

    recorder_t *r = s->rec;
    int produced = 0;
    for (size_t i = 0; i < r->nev; i++) {
        if (!is_change(&r->ev[i]))
            continue;
        ck_assert_msg(strcmp(r->ev[i].xid, "702") == 0,
                      "transaction %s, which Kafka already holds, was produced again", r->ev[i].xid);
        produced++;
    }
    ck_assert_int_eq(produced, 3);
    ck_assert_uint_eq(s->stats.counts.skipped_txns, 2);
    ck_assert_uint_eq(s->stats.counts.source_txns, 1);
    ck_assert_uint_eq(s->ckpt.commit_lsn, 0x2100000);
    ck_assert_uint_eq(s->ckpt.seq, 5);
    session_free(s);
}
END_TEST

/* sluice_skipped_events_total{op="<op>"} as /metrics renders it now. */
static unsigned long long skipped_metric(char op)
{
    strbuf_t out = STRBUF_INIT;
    metrics_render(&out);
    char name[64];
    snprintf(name, sizeof name, "sluice_skipped_events_total{op=\"%c\"} ", op);
    const char *at = strstr(out.data, name);
    ck_assert_msg(at, "/metrics has no %s", name);
    unsigned long long n = strtoull(at + strlen(name), NULL, 10);
    strbuf_free(&out);
    return n;
}

/*
 * skipped.operations = c leaves the inserts out: none reaches Kafka, each is
 * counted in sluice_skipped_events_total{op="c"}, and the log says so once
 * for the table (not once per event), at INFO.
 */
START_TEST(test_skipped_operations_counted_and_said_once)
{
    char logpath[] = "/tmp/sluice-unit-skip-XXXXXX";
    int fd = mkstemp(logpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert(log_configure(LOG_INFO, false, logpath));
    session_t *s = session_with_relation("16MB", "3600000");
    char err[256];
    ck_assert_msg(config_set(&s->cfg, "skipped.operations", "c", "test", err, sizeof err), "%s", err);
    unsigned long long c0 = skipped_metric('c'), u0 = skipped_metric('u');
    push_txn(s, 800, 0x2100000, 3); /* an update, two inserts */
    push_txn(s, 801, 0x2200000, 4); /* an update, three inserts */
    ck_assert_int_eq(session_run(s), PIPE_STREAM_LOST);
    log_configure(LOG_ERROR, false, NULL);

    int produced = 0;
    for (size_t i = 0; i < s->rec->nev; i++)
        if (is_change(&s->rec->ev[i])) {
            ck_assert_msg(!strstr(s->rec->ev[i].value, "\"op\":\"c\""),
                          "an insert was produced: %s", s->rec->ev[i].value);
            produced++;
        }
    ck_assert_int_eq(produced, 2); /* the two updates */
    ck_assert_uint_eq(skipped_metric('c') - c0, 5);
    ck_assert_uint_eq(skipped_metric('u') - u0, 0);
    FILE *f = fopen(logpath, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024];
    int said = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "skipped.operations has c") && strstr(line, "\"public.docs\""))
            said++;
    fclose(f);
    unlink(logpath);
    ck_assert_int_eq(said, 1);
    session_free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (b) A source transaction is never split across Kafka transactions.        */

/*
 * commit.max.bytes at its minimum (1 KB) is passed within a few changes of
 * each 25-change transaction; the commit still waits for the source COMMIT,
 * so each Kafka transaction holds exactly one whole source transaction.
 */
START_TEST(test_never_splits_a_source_txn)
{
    session_t *s = session_with_relation("1024", "3600000");
    enum { TXNS = 3, CHANGES = 25 };
    for (int t = 0; t < TXNS; t++)
        push_txn(s, 800 + (uint32_t) t, 0x3000000 + (sluice_lsn_t) t * 0x10000, CHANGES);
    ck_assert_int_eq(session_run(s), PIPE_STREAM_LOST);

    recorder_t *r = s->rec;
    /* Per Kafka transaction (begin … commit): the source transactions in it, and how many
     * of each one's changes. */
    int ktxns = 0, in_this[TXNS] = {0}, ktxn_of[TXNS];
    for (int t = 0; t < TXNS; t++)
        ktxn_of[t] = -1;
    for (size_t i = 0; i < r->nev; i++) {
        const ev_t *e = &r->ev[i];
        if (e->kind == EV_BEGIN)
            memset(in_this, 0, sizeof in_this);
        if (is_change(e)) {
            int t = atoi(e->xid) - 800;
            ck_assert_int_ge(t, 0);
            ck_assert_int_lt(t, TXNS);
            ck_assert_msg(ktxn_of[t] == -1 || ktxn_of[t] == ktxns,
                          "source transaction %s spans Kafka transactions %d and %d", e->xid,
                          ktxn_of[t] + 1, ktxns + 1);
            ktxn_of[t] = ktxns;
            in_this[t]++;
        }
        if (e->kind == EV_COMMIT) {
            for (int t = 0; t < TXNS; t++)
                ck_assert_msg(in_this[t] == 0 || in_this[t] == CHANGES,
                              "Kafka transaction %d commits %d of the %d changes of source "
                              "transaction %d",
                              ktxns + 1, in_this[t], CHANGES, 800 + t);
            ktxns++;
        }
    }
    for (int t = 0; t < TXNS; t++)
        ck_assert_int_ge(ktxn_of[t], 0);
    /* The byte limit did commit: one Kafka transaction per source transaction. */
    ck_assert_int_eq(ktxns, TXNS);
    ck_assert_uint_eq(s->stats.counts.changes, TXNS * CHANGES);
    session_free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (c) The checkpoint record is in the Kafka transaction, last before commit. */

/*
 * Three source transactions in one Kafka transaction (no limit reached): its
 * last record, produced while it is open and just before the commit, is the
 * checkpoint of the last source COMMIT (commit and end LSN, xid), with the
 * next sequence number and the system identifier.
 */
START_TEST(test_checkpoint_is_last_record_before_commit)
{
    session_t *s = session_with_relation("16MB", "3600000");
    s->ckpt = (checkpoint_t) {.present = true, .commit_lsn = 0x100, .end_lsn = 0x128, .seq = 41};
    snprintf(s->ckpt.system_id, sizeof s->ckpt.system_id, SYSTEM_ID);
    push_txn(s, 900, 0x4000000, 2);
    push_txn(s, 901, 0x4010000, 2);
    push_txn(s, 902, 0x4020000, 2);
    ck_assert_int_eq(session_run(s), PIPE_STREAM_LOST);

    recorder_t *r = s->rec;
    ck_assert_int_ge(count_kind(r, EV_COMMIT), 1);
    bool open = false;
    int commits = 0;
    sluice_lsn_t last_commit_lsn = 0;
    for (size_t i = 0; i < r->nev; i++) {
        const ev_t *e = &r->ev[i];
        if (e->kind == EV_BEGIN)
            open = true;
        if (e->kind == EV_PRODUCE)
            ck_assert_msg(open, "a record produced outside a Kafka transaction");
        if (is_change(e))
            last_commit_lsn = lsn_of(e->lsn);
        if (e->kind != EV_COMMIT)
            continue;
        ck_assert_msg(i > 0 && is_checkpoint(s, &r->ev[i - 1]),
                      "Kafka commit %d without a checkpoint record just before it", commits + 1);
        checkpoint_t cp = parse_checkpoint(&r->ev[i - 1]);
        ck_assert_msg(cp.commit_lsn == last_commit_lsn,
                      "Kafka commit %d carries commit LSN %X/%08X, its last source transaction "
                      "committed at %X/%08X",
                      commits + 1, LSN_ARGS(cp.commit_lsn), LSN_ARGS(last_commit_lsn));
        open = false;
        commits++;
    }
    /* The one commit holds all three: the checkpoint of the last COMMIT. */
    ck_assert_int_eq(commits, 1);
    const ev_t *last = &r->ev[r->nev - 1];
    ck_assert_int_eq(last->kind, EV_CONFIRM);
    checkpoint_t cp = parse_checkpoint(&r->ev[r->nev - 3]);
    ck_assert(cp.present);
    ck_assert_uint_eq(cp.commit_lsn, 0x4020000);
    ck_assert_uint_eq(cp.end_lsn, 0x4020028);
    ck_assert_uint_eq(cp.xid, 902);
    ck_assert_uint_eq(cp.seq, 42);
    ck_assert_str_eq(cp.system_id, SYSTEM_ID);
    checkpoint_clear(&cp);
    /* and what the pipeline hands back is what Kafka now holds */
    ck_assert_uint_eq(s->ckpt.end_lsn, 0x4020028);
    ck_assert_uint_eq(s->ckpt.seq, 42);
    session_free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (d) Confirm only after a successful commit, only what Kafka holds.        */

/*
 * Walks the record: every confirm must directly follow a successful commit
 * and name the end LSN of the checkpoint that commit wrote. Returns the
 * number of confirms.
 */
static int check_confirms(const session_t *s)
{
    const recorder_t *r = s->rec;
    sluice_lsn_t committed = 0, ckpt_in_txn = 0;
    int confirms = 0;
    for (size_t i = 0; i < r->nev; i++) {
        const ev_t *e = &r->ev[i];
        if (e->kind == EV_BEGIN)
            ckpt_in_txn = 0;
        if (is_checkpoint(s, e) && e->status == SINK_OK) {
            checkpoint_t cp = parse_checkpoint(e);
            ckpt_in_txn = cp.end_lsn;
            checkpoint_clear(&cp);
        }
        if (e->kind == EV_COMMIT && e->status == SINK_OK)
            committed = ckpt_in_txn;
        if (e->kind != EV_CONFIRM)
            continue;
        confirms++;
        ck_assert_msg(e->confirmed <= committed,
                      "confirmed %X/%08X, but Kafka has committed only up to %X/%08X",
                      LSN_ARGS(e->confirmed), LSN_ARGS(committed));
        ck_assert_msg(i > 0 && r->ev[i - 1].kind == EV_COMMIT && r->ev[i - 1].status == SINK_OK,
                      "confirm %d does not follow a successful commit", confirms);
        ck_assert_uint_eq(e->confirmed, committed);
    }
    return confirms;
}

/*
 * Three Kafka transactions (commit.max.bytes passed at each COMMIT): three
 * confirms, each right after its commit, each of that commit's end LSN. Then
 * a session whose commit fails: nothing is confirmed.
 */
START_TEST(test_confirms_only_what_kafka_committed)
{
    session_t *s = session_with_relation("1024", "3600000");
    for (int t = 0; t < 3; t++)
        push_txn(s, 950 + (uint32_t) t, 0x5000000 + (sluice_lsn_t) t * 0x10000, 12);
    ck_assert_int_eq(session_run(s), PIPE_STREAM_LOST);
    ck_assert_int_eq(check_confirms(s), 3);
    ck_assert_uint_eq(s->rec->ev[s->rec->nev - 1].confirmed, 0x5020028);
    session_free(s);

    s = session_with_relation("1024", "3600000");
    s->rec->fail_op = OP_COMMIT;
    s->rec->fail_nth = 1;
    s->rec->fail_status = SINK_ABORT;
    push_txn(s, 960, 0x6000000, 12);
    ck_assert_int_eq(session_run(s), PIPE_REWIND);
    ck_assert_int_eq(check_confirms(s), 0);
    ck_assert_uint_eq(s->ckpt.end_lsn, 0); /* the pipeline's checkpoint stays what Kafka holds */
    session_free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* (e) Every sink status, at begin, produce and commit → the session's result. */

static const sink_status_t statuses[] = {SINK_OK,     SINK_RETRY, SINK_ABORT,  SINK_FATAL,
                                         SINK_FENCED, SINK_DATA,  SINK_STOPPED};
static const op_t ops[] = {OP_BEGIN, OP_PRODUCE, OP_COMMIT};
static const char *const op_names[] = {"", "begin", "produce", "commit"};
#define NSTATUSES (sizeof statuses / sizeof statuses[0])
#define NOPS (sizeof ops / sizeof ops[0])

/*
 * What the protocol does with each status: retry and fatal rebuild the
 * producer; abort rewinds the source; fenced and data stop with their own
 * result, as does a stop request. OK goes on to the end of the input.
 */
static pipeline_result_t expected_result(sink_status_t st)
{
    switch (st) {
    case SINK_OK: return PIPE_STREAM_LOST;
    case SINK_RETRY:
    case SINK_FATAL: return PIPE_REBUILD;
    case SINK_ABORT: return PIPE_REWIND;
    case SINK_FENCED: return PIPE_FENCED;
    case SINK_DATA: return PIPE_DATA;
    case SINK_STOPPED: return PIPE_STOPPED;
    }
    return PIPE_PROTOCOL;
}

START_TEST(test_sink_status_maps_to_result)
{
    sink_status_t st = statuses[_i % NSTATUSES];
    op_t op = ops[_i / NSTATUSES];
    session_t *s = session_with_relation("16MB", "3600000");
    s->rec->fail_op = st == SINK_OK ? OP_NONE : op;
    s->rec->fail_nth = 1;
    s->rec->fail_status = st;
    push_txn(s, 990, 0x7000000, 2);
    pipeline_result_t got = session_run(s);
    ck_assert_msg(got == expected_result(st), "%s at %s: result \"%s\", want \"%s\" (%s)",
                  sink_status_name(st), op_names[op], pipeline_result_name(got),
                  pipeline_result_name(expected_result(st)), s->err);
    recorder_t *r = s->rec;
    if (st == SINK_OK) {
        ck_assert_int_eq(check_confirms(s), 1);
    } else {
        ck_assert_int_eq(check_confirms(s), 0);
        ck_assert_msg(strstr(s->err, "injected") != NULL, "the sink's message is lost: \"%s\"",
                      s->err);
        ck_assert_uint_eq(s->ckpt.present, false);
        /* A produce failure leaves the transaction open: abort it unless the producer is
         * rebuilt or fenced anyway (its next init_transactions settles it). */
        bool aborts = op == OP_PRODUCE && st != SINK_RETRY && st != SINK_FATAL && st != SINK_FENCED;
        ck_assert_int_eq(count_kind(r, EV_ABORT), aborts ? 1 : 0);
    }
    session_free(s);
}
END_TEST

/*
 * The abort that ends a session can meet a fenced producer: the coordinator
 * aborts a transaction that outlived transaction.timeout.ms and bumps the
 * epoch. The session cannot go on with that producer. Fenced is judged by
 * the transaction's age like any fencing (aged: fenced_after_timeout, the
 * supervisor rebuilds; young: another instance), any other failure rebuilds.
 * Taken on to the next session, the fenced producer's begin failed with no
 * transaction open, which reads as another instance: exit 8.
 * _i: 0-2 the stream ends inside a source transaction, 3-5 a table's topic
 * cannot be looked up there (ensure_topic gives up); then the abort fails
 * fenced (aged), fenced (young), fatal.
 */
START_TEST(test_failed_abort_at_session_end_is_judged)
{
    static const struct {
        sink_status_t abort_st;
        bool aged;
        pipeline_result_t want;
    } cases[] = {{SINK_FENCED, true, PIPE_FENCED},
                 {SINK_FENCED, false, PIPE_FENCED},
                 {SINK_FATAL, true, PIPE_REBUILD}};
    bool topic = _i >= 3;
    sink_status_t abort_st = cases[_i % 3].abort_st;
    bool aged = cases[_i % 3].aged;
    session_t *s = session_new("16MB", "3600000");
    char err[256];
    ck_assert_msg(config_set(&s->cfg, "kafka.transaction.timeout.ms", aged ? "1000" : "600000",
                             "test", err, sizeof err),
                  "config: %s", err);
    push(s, from_hex(REC_DOCS_RELATION));
    push_begin(s, 0x7000000, 991);
    push(s, from_hex(REC_DOCS_UPDATE));
    if (topic) {
        /* The table described again inside the transaction; its lookup fails every time. */
        push(s, from_hex(REC_DOCS_RELATION));
        s->rec->topics_fail_from = 2;
    }
    s->rec->abort_status = abort_st;
    s->rec->produce_delay_ms = aged ? 1100 : 0; /* older than 1 s (the least) once aborted */
    pipeline_result_t got = session_run(s);   /* (no COMMIT: the input ends inside it) */
    ck_assert_msg(got == cases[_i % 3].want, "%s, abort %s: result \"%s\", want \"%s\" (%s)",
                  topic ? "lookup given up" : "stream lost", sink_status_name(abort_st),
                  pipeline_result_name(got), pipeline_result_name(cases[_i % 3].want), s->err);
    if (got == PIPE_FENCED)
        ck_assert_msg(s->stats.fenced_after_timeout == aged,
                      "fenced_after_timeout %d for a transaction %s than transaction.timeout.ms",
                      s->stats.fenced_after_timeout, aged ? "older" : "younger");
    ck_assert_int_eq(count_kind(s->rec, EV_ABORT), 1);
    ck_assert_int_eq(check_confirms(s), 0);
    ck_assert_msg(strstr(s->err, topic ? "injected lookup failure" : "test: end of input") &&
                      strstr(s->err, "injected abort"),
                  "the session's cause or the abort's failure is lost: \"%s\"", s->err);
    session_free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The sink seam's state.                                                    */

/* The seam tracks the transaction and its bytes, whatever implementation is behind it. */
START_TEST(test_sink_seam_tracks_transaction_and_bytes)
{
    recorder_t *r = calloc(1, sizeof *r);
    ck_assert_ptr_nonnull(r);
    sink_t *sink = sink_wrap(&rec_ops, r, "t.checkpoints");
    char err[256];
    ck_assert(!sink_in_transaction(sink));
    ck_assert_int_eq(sink_abort(sink, err, sizeof err), SINK_OK); /* nothing open: nothing sent */
    ck_assert_int_eq(count_kind(r, EV_ABORT), 0);
    ck_assert_int_eq(sink_begin(sink, err, sizeof err), SINK_OK);
    ck_assert_int_eq(sink_txn_state(sink), SINK_TXN_OPEN);
    sink_headers_t h = {.lsn = "0/00000100", .xid = "7", .batch = "1", .seq = 1};
    ck_assert_int_eq(sink_produce(sink, "t.x", -1, "k", 1, "value", 5, &h, err, sizeof err), SINK_OK);
    ck_assert_uint_eq(sink_txn_bytes(sink), 6);
    /* a failed produce adds nothing */
    r->fail_op = OP_PRODUCE;
    r->fail_nth = 2;
    r->fail_status = SINK_ABORT;
    ck_assert_int_eq(sink_produce(sink, "t.x", -1, "k", 1, "v", 1, &h, err, sizeof err), SINK_ABORT);
    ck_assert_uint_eq(sink_txn_bytes(sink), 6);
    /* a failed checkpoint record leaves the transaction open for the caller to abort */
    r->fail_nth = 3;
    checkpoint_t cp = {.present = true, .commit_lsn = 0x100, .end_lsn = 0x128, .xid = 7, .seq = 1};
    ck_assert_int_eq(sink_commit(sink, &cp, "slot", err, sizeof err), SINK_ABORT);
    ck_assert(sink_in_transaction(sink));
    ck_assert_int_eq(count_kind(r, EV_COMMIT), 0);
    ck_assert_int_eq(sink_abort(sink, err, sizeof err), SINK_OK);
    ck_assert_int_eq(count_kind(r, EV_ABORT), 1);
    ck_assert(!sink_in_transaction(sink));
    /* a failed commit ends the transaction all the same */
    r->fail_op = OP_COMMIT;
    r->fail_nth = 1;
    r->fail_status = SINK_FATAL;
    ck_assert_int_eq(sink_begin(sink, err, sizeof err), SINK_OK);
    ck_assert_uint_eq(sink_txn_bytes(sink), 0);
    ck_assert_int_eq(sink_commit(sink, &cp, "slot", err, sizeof err), SINK_FATAL);
    ck_assert_int_eq(sink_txn_state(sink), SINK_TXN_NONE);
    sink_free(sink);
}
END_TEST

/* A record produced with no transaction open is a bug above the sink: the process stops. */
START_TEST(test_sink_produce_without_transaction_aborts)
{
    log_configure(LOG_FATAL, false, NULL);
    recorder_t *r = calloc(1, sizeof *r);
    sink_t *sink = sink_wrap(&rec_ops, r, "t.checkpoints");
    char err[256];
    sink_headers_t h = {.lsn = "0/00000100", .xid = "7", .batch = "1", .seq = 1};
    sink_produce(sink, "t.x", -1, "k", 1, "v", 1, &h, err, sizeof err);
    ck_abort_msg("sink_produce outside a transaction returned");
}
END_TEST

/* Beginning a second transaction while one is open: the same. */
START_TEST(test_sink_begin_twice_aborts)
{
    log_configure(LOG_FATAL, false, NULL);
    recorder_t *r = calloc(1, sizeof *r);
    sink_t *sink = sink_wrap(&rec_ops, r, "t.checkpoints");
    char err[256];
    ck_assert_int_eq(sink_begin(sink, err, sizeof err), SINK_OK);
    sink_begin(sink, err, sizeof err);
    ck_abort_msg("a second sink_begin returned");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The pipeline's transaction states: exactly the protocol's moves.          */

START_TEST(test_txn_state_allows_only_the_protocols_moves)
{
    /* source: BEGIN (streamed or skipped) from between, COMMIT back */
    static const bool src_ok[3][3] = {
        /* to:          BETWEEN STREAMING SKIPPING */
        [SRC_BETWEEN] = {false, true, true},
        [SRC_STREAMING] = {true, false, false},
        [SRC_SKIPPING] = {true, false, false},
    };
    for (int from = 0; from < 3; from++)
        for (int to = 0; to < 3; to++)
            ck_assert_msg(txn_state_src_valid(from, to) == src_ok[from][to], "%s -> %s",
                          txn_state_src_name(from), txn_state_src_name(to));
    /* Kafka: begin from none, pending once something whole is in it, commit or abort back
     * to none, failed from anything but failed, and nothing after that */
    static const bool kafka_ok[4][4] = {
        /* to:          NONE   OPEN   PENDING FAILED */
        [KTXN_NONE] = {false, true, false, true},
        [KTXN_OPEN] = {true, false, true, true},
        [KTXN_PENDING] = {true, false, true, true},
        [KTXN_FAILED] = {false, false, false, false},
    };
    for (int from = 0; from < 4; from++)
        for (int to = 0; to < 4; to++)
            ck_assert_msg(txn_state_kafka_valid(from, to) == kafka_ok[from][to], "%s -> %s",
                          txn_state_kafka_name(from), txn_state_kafka_name(to));
}
END_TEST

/* A move the protocol does not have stops the process. */
START_TEST(test_txn_state_invalid_move_aborts)
{
    log_configure(LOG_FATAL, false, NULL);
    txn_state_kafka_t st = KTXN_FAILED;
    txn_state_kafka_move(&st, KTXN_OPEN);
    ck_abort_msg("a move out of the failed state returned");
}
END_TEST

static Suite *pipeline_suite(bool forking)
{
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("protocol");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_skips_txns_kafka_already_holds);
    tcase_add_test(tc, test_skipped_operations_counted_and_said_once);
    tcase_add_test(tc, test_never_splits_a_source_txn);
    tcase_add_test(tc, test_checkpoint_is_last_record_before_commit);
    tcase_add_test(tc, test_confirms_only_what_kafka_committed);
    tcase_add_loop_test(tc, test_sink_status_maps_to_result, 0, (int) (NSTATUSES * NOPS));
    tcase_add_loop_test(tc, test_failed_abort_at_session_end_is_judged, 0, 6);
    suite_add_tcase(s, tc);
    TCase *seam = tcase_create("seam");
    tcase_add_test(seam, test_sink_seam_tracks_transaction_and_bytes);
    tcase_add_test(seam, test_txn_state_allows_only_the_protocols_moves);
    /* A test that ends in abort() needs its own process (CK_FORK=yes, make unit-plain). */
    if (forking) {
        tcase_add_test_raise_signal(seam, test_sink_produce_without_transaction_aborts, SIGABRT);
        tcase_add_test_raise_signal(seam, test_sink_begin_twice_aborts, SIGABRT);
        tcase_add_test_raise_signal(seam, test_txn_state_invalid_move_aborts, SIGABRT);
    }
    suite_add_tcase(s, seam);
    return s;
}

int main(void)
{
    log_configure(LOG_ERROR, false, NULL);
    SRunner *probe = srunner_create(NULL);
    bool forking = srunner_fork_status(probe) == CK_FORK;
    srunner_free(probe);
    SRunner *sr = srunner_create(pipeline_suite(forking));
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
