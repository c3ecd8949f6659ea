/*
 * verify — checks what a read_committed consumer sees in Kafka against what
 * PostgreSQL committed. Exit 0 when every invariant holds, 1 otherwise.
 *
 *   verify check  --bootstrap B --conninfo C --prefix P --tables t1,t2 --slot S
 *                 [--ledger wl_ledger] [--no-state] [--live] [--schema public] [--snapshot]
 *                 [--incremental]
 *                 [--no-compare]   (replay, but compare the tables with apply.c instead)
 *     --live: sluice is still running (or faults are under way): transactions
 *             not yet in Kafka are not losses, but every one Kafka shows must
 *             be whole (V3 for a consumer reading while faults happen)
 *   verify sample --bootstrap B --conninfo C --prefix P --slot S --out FILE
 *                 [--interval-ms 200]      (runs until SIGTERM)
 *
 * check:
 *   V1 no loss       every ledger transaction with n changes has events seq 1..n
 *   V2 no duplicates no (xid, seq) twice; no xid Kafka holds that PostgreSQL
 *                    did not commit (rolled-back transactions never appear)
 *   V3 whole         all events of a source transaction carry one batch id, and
 *                    that Kafka transaction's checkpoint covers it: the
 *                    transaction's commit LSN is <= that checkpoint's commit_lsn
 *                    and > the previous one's
 *   V4 order         per partition, commit LSNs never go back; per source
 *                    transaction, seq increases; a tombstone directly follows
 *                    its delete
 *   V5 checkpoints   seq strictly increases, commit_lsn and end_lsn never go back
 *   V6 slot          confirmed_flush_lsn <= the last checkpoint's end_lsn
 *   state            replaying the topics per key gives exactly the rows
 *                    PostgreSQL has now (row_to_json)
 *   snapshot rows    events with source.snapshot other than "false" (op "r",
 *                    and the "t" that resets a table before it is copied
 *                    again) belong to no source transaction: V1–V3 skip them;
 *                    V4 (LSN order per partition) and the replay apply
 *   V7 (--snapshot)  no gap and no overlap at the snapshot/stream hand-off,
 *                    per key: a row is read ("r") at most once unless a reset
 *                    truncate came between; a "c" never finds the row already
 *                    there (the snapshot held it: overlap); a "u" or "d" never
 *                    misses it (the snapshot lacked it: gap)
 *   V8 (--incremental) an incremental snapshot (op "r" while streaming): no
 *                    key is read ("r") twice in a topic, so no committed
 *                    chunk was emitted again after a crash
 * sample: every interval, reads the slot's confirmed_flush_lsn, then the
 *   checkpoint topic up to its end as of after that read: the slot must never
 *   be ahead of a committed checkpoint.
 *
 * Kafka is read with the tools' one read_committed reader (tests/tools/kread.h).
 */
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kread.h"
#include "sluice/base/clock.h"
#include "sluice/base/checkpoint.h"
#include "sluice/base/common.h"

static const char *opt_bootstrap, *opt_conninfo, *opt_prefix = "sluice", *opt_slot = "sluice",
                  *opt_tables = "", *opt_ledger = NULL, *opt_out = NULL, *opt_schema = "public";
static bool opt_no_state;
static bool opt_snapshot;   /* V7: the topics start with a snapshot */
static bool opt_incremental; /* V8: snapshot rows of an incremental snapshot, read once */
static bool opt_no_compare; /* replay (for V7) but leave the comparison to apply.c's typed one */
static long snapshot_events, snapshot_last;
static bool opt_live; /* sluice still running: only what Kafka already shows is checked */
static int opt_interval_ms = 200;
static long violations;
static long live_partial; /* --live: transactions seen in some partitions only, so far */
static volatile sig_atomic_t stop_sampling;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
    violations++;
    if (violations > 30)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "VIOLATION: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "verify: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}


/* ---- transactions seen ---- */

typedef struct {
    uint32_t xid;
    bool used;
    bool in_ledger;
    long expected;
    long events;
    uint64_t batch;
    sluice_lsn_t lsn;
    uint8_t *seen;   /* bitmap of seq */
    uint8_t *seen_c; /* of "c" events: a key change is a "d" and a "c" with one seq */
    size_t seen_bits;
} txn_t;

static txn_t *txns;
static size_t txns_cap = 1 << 16, txns_count;

static txn_t *txn_get(uint32_t xid)
{
    if (!txns)
        txns = calloc(txns_cap, sizeof *txns);
    if (2 * (txns_count + 1) > txns_cap) {
        size_t ncap = txns_cap * 2;
        txn_t *n = calloc(ncap, sizeof *n);
        for (size_t i = 0; i < txns_cap; i++) {
            if (!txns[i].used)
                continue;
            size_t j = (txns[i].xid * 2654435761u) & (ncap - 1);
            while (n[j].used)
                j = (j + 1) & (ncap - 1);
            n[j] = txns[i];
        }
        free(txns);
        txns = n;
        txns_cap = ncap;
    }
    size_t i = (xid * 2654435761u) & (txns_cap - 1);
    while (txns[i].used && txns[i].xid != xid)
        i = (i + 1) & (txns_cap - 1);
    if (!txns[i].used) {
        txns[i].used = true;
        txns[i].xid = xid;
        txns[i].batch = UINT64_MAX;
        txns_count++;
    }
    return &txns[i];
}

/* ---- checkpoints ---- */

typedef struct {
    uint64_t seq;
    sluice_lsn_t commit_lsn, end_lsn;
} ckpt_t;
static ckpt_t *ckpts;
static size_t nckpts, ckpts_cap;

static const ckpt_t *ckpt_find(uint64_t seq, const ckpt_t **prev)
{
    size_t lo = 0, hi = nckpts;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ckpts[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < nckpts && ckpts[lo].seq == seq) {
        *prev = lo > 0 ? &ckpts[lo - 1] : NULL;
        return &ckpts[lo];
    }
    return NULL;
}

/* ---- Kafka reading (tests/tools/kread.h) ---- */

#define MAX_TOPICS 32

typedef struct {
    void (*fn)(const rd_kafka_message_t *, int);
    int index[MAX_TOPICS]; /* the reader's topic index → the index in the caller's list */
} read_topics_t;

static void read_topics_record(const rd_kafka_message_t *m, int topic, void *arg)
{
    read_topics_t *rt = arg;
    rt->fn(m, rt->index[topic]);
}

/*
 * Reads every partition of the topics to its end (kread_to_end: EOF, or the
 * end it had when reading began), calling fn(record, index of its topic in
 * topics) for each record; a topic that does not exist holds no events.
 * Returns how many records it read.
 */
static long read_topics(char **topics, int ntopics, void (*fn)(const rd_kafka_message_t *, int))
{
    kread_t *kr = kread_open(opt_bootstrap, 0);
    read_topics_t rt = {.fn = fn};
    for (int t = 0; t < ntopics && t < MAX_TOPICS; t++) {
        int before = kr->ntopics;
        if (kread_add_topic(kr, topics[t]) < 0)
            fprintf(stderr, "verify: topic %s does not exist (no events)\n", topics[t]);
        else if (kr->ntopics > before)
            rt.index[before] = t;
    }
    long count = kread_to_end(kr, read_topics_record, &rt);
    kread_close(kr);
    return count;
}

static void on_checkpoint(const rd_kafka_message_t *m, int t)
{
    (void) t;
    if (m->key_len != strlen(opt_slot) || memcmp(m->key, opt_slot, m->key_len) != 0)
        return;
    checkpoint_t cp;
    char err[256];
    if (!checkpoint_from_json(m->payload, m->len, &cp, err, sizeof err)) {
        violation("V5 checkpoint at offset %" PRId64 " is invalid: %s", m->offset, err);
        return;
    }
    if (nckpts) {
        const ckpt_t *last = &ckpts[nckpts - 1];
        if (cp.seq <= last->seq)
            violation("V5 checkpoint seq %" PRIu64 " after %" PRIu64 " (offset %" PRId64 ")", cp.seq,
                      last->seq, m->offset);
        if (cp.commit_lsn < last->commit_lsn || cp.end_lsn < last->end_lsn)
            violation("V5 checkpoint %" PRIu64 " goes back: commit " LSN_FMT " end " LSN_FMT
                      " after commit " LSN_FMT " end " LSN_FMT,
                      cp.seq, LSN_ARGS(cp.commit_lsn), LSN_ARGS(cp.end_lsn),
                      LSN_ARGS(last->commit_lsn), LSN_ARGS(last->end_lsn));
    }
    if (nckpts == ckpts_cap) {
        ckpts_cap = ckpts_cap ? ckpts_cap * 2 : 1024;
        ckpts = realloc(ckpts, ckpts_cap * sizeof *ckpts);
    }
    ckpts[nckpts++] = (ckpt_t){cp.seq, cp.commit_lsn, cp.end_lsn};
}

/* Per-partition state for order checks and the replay. */
typedef struct {
    sluice_lsn_t last_lsn;
    uint32_t last_xid;
    uint32_t last_seq;
    char last_op;
    char *last_key;
    long snap_rows;      /* snapshot rows since the table's last reset (truncate) */
    bool snap_last_seen; /* one of them was marked its table's (or the snapshot's) last */
} part_state_t;

/* Debezium 3.x's snapshot markers, counted per table (topic) and in all. */
static long marks_first_all, marks_last_all;
static long marks_first[MAX_TOPICS], marks_last[MAX_TOPICS], snap_rows[MAX_TOPICS];

#define MAX_PARTS 256
static part_state_t parts_state[MAX_TOPICS][MAX_PARTS];
static json_t *state[MAX_TOPICS]; /* canonical key → after */
static json_t *read_keys[MAX_TOPICS]; /* V8: canonical keys read by "r" events */
static json_t *key_part[MAX_TOPICS]; /* canonical key → partition it was last written to */
static long tombstones, events;

static char *canonical(json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static void state_set(int t, const char *ck, json_t *after, int partition)
{
    if (!key_part[t])
        key_part[t] = json_object();
    json_object_set(state[t], ck, after);
    json_object_set_new(key_part[t], ck, json_integer(partition));
}

/* A truncate reaches every partition of the topic: each one empties the rows of its own
 * partition, so a consumer reading the partitions in any interleaving replays it right. */
static void state_truncate(int t, int partition)
{
    if (!key_part[t]) {
        json_object_clear(state[t]);
        return;
    }
    const char *k;
    json_t *p;
    void *tmp;
    json_object_foreach_safe(key_part[t], tmp, k, p)
    {
        if (json_integer_value(p) == partition) {
            json_object_del(state[t], k);
            json_object_del(key_part[t], k);
        }
    }
}

static void on_event(const rd_kafka_message_t *m, int t)
{
    char xb[16], sb[16], lb[32], bb[32];
    const char *xs = kread_header(m, "sluice.xid", xb, sizeof xb);
    const char *ss = kread_header(m, "sluice.seq", sb, sizeof sb);
    const char *ls = kread_header(m, "sluice.lsn", lb, sizeof lb);
    const char *bs = kread_header(m, "sluice.batch", bb, sizeof bb);
    sluice_lsn_t lsn;
    if (!xs || !ss || !ls || !bs || !lsn_parse(ls, &lsn)) {
        violation("record %s[%d]@%" PRId64 " lacks sluice headers", rd_kafka_topic_name(m->rkt),
                  m->partition, m->offset);
        return;
    }
    uint32_t xid = (uint32_t) strtoul(xs, NULL, 10);
    uint32_t seq = (uint32_t) strtoul(ss, NULL, 10);
    uint64_t batch = strtoull(bs, NULL, 10);
    part_state_t *ps = &parts_state[t][m->partition % MAX_PARTS];
    char *key = m->key ? strndup(m->key, m->key_len) : NULL;

    if (!m->payload) {
        tombstones++;
        if (ps->last_op != 'd' || ps->last_xid != xid || ps->last_seq != seq || !key ||
            !ps->last_key || strcmp(key, ps->last_key) != 0)
            violation("V4 tombstone at %s[%d]@%" PRId64 " does not follow its delete",
                      rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        ps->last_op = 'T';
        free(key);
        return;
    }
    events++;
    json_error_t jerr;
    json_t *v = json_loadb(m->payload, m->len, 0, &jerr);
    const char *op = v ? json_string_value(json_object_get(v, "op")) : NULL;
    if (!v || !op) {
        violation("record %s[%d]@%" PRId64 " is not an event: %s", rd_kafka_topic_name(m->rkt),
                  m->partition, m->offset, v ? "no op" : jerr.text);
        json_decref(v);
        free(key);
        return;
    }
    json_t *source = json_object_get(v, "source");
    if (json_integer_value(json_object_get(source, "txId")) != (json_int_t) xid)
        violation("source.txId differs from header xid %u at %s[%d]@%" PRId64, xid,
                  rd_kafka_topic_name(m->rkt), m->partition, m->offset);
    const char *snap = json_string_value(json_object_get(source, "snapshot"));
    bool from_snapshot = snap && strcmp(snap, "false") != 0;
    if ((op[0] == 'r') != (from_snapshot && op[0] != 't'))
        violation("%s[%d]@%" PRId64 ": op \"%s\" with source.snapshot \"%s\"",
                  rd_kafka_topic_name(m->rkt), m->partition, m->offset, op, snap ? snap : "?");
    if (from_snapshot) {
        snapshot_events++;
        if (!strcmp(snap, "last"))
            snapshot_last++;
        /* Markers: a table's first row comes before its others, its last after them, in
         * every partition (until a reset truncate starts the table again). */
        if (op[0] == 't') {
            for (int p = 0; p < MAX_PARTS; p++)
                parts_state[t][p].snap_rows = 0, parts_state[t][p].snap_last_seen = false;
        } else {
            bool first = !strcmp(snap, "first") || !strcmp(snap, "first_in_data_collection");
            bool last = !strcmp(snap, "last") || !strcmp(snap, "last_in_data_collection");
            marks_first_all += !strcmp(snap, "first");
            marks_last_all += !strcmp(snap, "last");
            marks_first[t] += first;
            marks_last[t] += last;
            snap_rows[t]++;
            if (first && ps->snap_rows > 0)
                violation("%s[%d]@%" PRId64 ": snapshot row marked \"%s\" after %ld rows of its "
                          "table",
                          rd_kafka_topic_name(m->rkt), m->partition, m->offset, snap, ps->snap_rows);
            if (ps->snap_last_seen)
                violation("%s[%d]@%" PRId64 ": snapshot row after its table's last",
                          rd_kafka_topic_name(m->rkt), m->partition, m->offset);
            ps->snap_rows++;
            ps->snap_last_seen = last;
        }
        if (lsn < ps->last_lsn)
            violation("V4 %s[%d]@%" PRId64 ": snapshot LSN " LSN_FMT " after " LSN_FMT,
                      rd_kafka_topic_name(m->rkt), m->partition, m->offset, LSN_ARGS(lsn),
                      LSN_ARGS(ps->last_lsn));
        ps->last_lsn = lsn;
        ps->last_op = op[0];
        ps->last_xid = xid;
        ps->last_seq = seq;
        free(ps->last_key);
        ps->last_key = key ? strdup(key) : NULL;
        if (!state[t])
            state[t] = json_object();
        if (op[0] == 't') {
            state_truncate(t, m->partition);
        } else if (key) {
            json_t *kj = json_loads(key, 0, NULL);
            char *ck = canonical(kj);
            if (opt_snapshot && json_object_get(state[t], ck))
                violation("V7 %s: row %s read twice by the snapshot without a reset between",
                          rd_kafka_topic_name(m->rkt), ck);
            if (opt_incremental) {
                if (!read_keys[t])
                    read_keys[t] = json_object();
                if (json_object_get(read_keys[t], ck))
                    violation("V8 %s[%d]@%" PRId64 ": row %s read twice by the incremental "
                              "snapshot",
                              rd_kafka_topic_name(m->rkt), m->partition, m->offset, ck);
                json_object_set_new(read_keys[t], ck, json_true());
            }
            state_set(t, ck, json_object_get(v, "after"), m->partition);
            free(ck);
            json_decref(kj);
        }
        free(key);
        json_decref(v);
        return;
    }
    if (opt_snapshot && key && state[t] && op[0] != 't') {
        json_t *kj = json_loads(key, 0, NULL);
        char *ck = canonical(kj);
        bool there = json_object_get(state[t], ck) != NULL;
        if (op[0] == 'c' && there)
            violation("V7 overlap: %s[%d]@%" PRId64 " creates row %s, which the snapshot (or an "
                      "earlier event) already holds",
                      rd_kafka_topic_name(m->rkt), m->partition, m->offset, ck);
        if ((op[0] == 'u' || op[0] == 'd') && !there)
            violation("V7 gap: %s[%d]@%" PRId64 " %s row %s, which neither the snapshot nor an "
                      "earlier event holds",
                      rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                      op[0] == 'u' ? "updates" : "deletes", ck);
        free(ck);
        json_decref(kj);
    }

    /* V4: commit order per partition, seq order per transaction. */
    if (lsn < ps->last_lsn)
        violation("V4 %s[%d]@%" PRId64 ": commit LSN " LSN_FMT " after " LSN_FMT,
                  rd_kafka_topic_name(m->rkt), m->partition, m->offset, LSN_ARGS(lsn),
                  LSN_ARGS(ps->last_lsn));
    if (ps->last_xid == xid && ps->last_lsn == lsn && seq < ps->last_seq)
        violation("V4 %s[%d]@%" PRId64 ": xid %u seq %u after seq %u", rd_kafka_topic_name(m->rkt),
                  m->partition, m->offset, xid, seq, ps->last_seq);
    ps->last_lsn = lsn;
    ps->last_xid = xid;
    ps->last_seq = seq;
    ps->last_op = op[0];
    free(ps->last_key);
    ps->last_key = key ? strdup(key) : NULL;

    /* V1/V2/V3 bookkeeping. */
    txn_t *tx = txn_get(xid);
    if (tx->batch == UINT64_MAX) {
        tx->batch = batch;
        tx->lsn = lsn;
    } else if (tx->batch != batch || tx->lsn != lsn) {
        violation("V3 xid %u spans Kafka transactions %" PRIu64 " and %" PRIu64, xid, tx->batch, batch);
    }
    if (op[0] != 't') {
        if (seq == 0) {
            violation("event with seq 0 for xid %u", xid);
        } else {
            if (seq >= tx->seen_bits) {
                size_t nbits = tx->seen_bits ? tx->seen_bits : 64;
                while (nbits < seq + 1)
                    nbits *= 2;
                tx->seen = realloc(tx->seen, nbits / 8);
                tx->seen_c = realloc(tx->seen_c, nbits / 8);
                memset(tx->seen + tx->seen_bits / 8, 0, (nbits - tx->seen_bits) / 8);
                memset(tx->seen_c + tx->seen_bits / 8, 0, (nbits - tx->seen_bits) / 8);
                tx->seen_bits = nbits;
            }
            uint8_t *bits = op[0] == 'c' ? tx->seen_c : tx->seen;
            uint8_t bit = (uint8_t) (1u << (seq % 8));
            if (bits[seq / 8] & bit)
                violation("V2 duplicate: xid %u seq %u again at %s[%d]@%" PRId64, xid, seq,
                          rd_kafka_topic_name(m->rkt), m->partition, m->offset);
            if (!((tx->seen[seq / 8] | tx->seen_c[seq / 8]) & bit))
                tx->events++;
            bits[seq / 8] |= bit;
        }
    }

    /* Replay for the state check. */
    if (!opt_no_state) {
        if (!state[t])
            state[t] = json_object();
        if (op[0] == 't') {
            state_truncate(t, m->partition);
        } else if (key) {
            json_t *kj = json_loads(key, 0, NULL);
            char *ck = canonical(kj);
            if (op[0] == 'd')
                json_object_del(state[t], ck);
            else
                state_set(t, ck, json_object_get(v, "after"), m->partition);
            free(ck);
            json_decref(kj);
        }
    }
    free(key);
    json_decref(v);
}

static PGconn *pg(void)
{
    PGconn *c = PQconnectdb(opt_conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        die("PostgreSQL: %s", PQerrorMessage(c));
    return c;
}

static PGresult *query(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        die("query failed: %s: %s", sql, PQresultErrorMessage(r));
    return r;
}

static void check_state(PGconn *c, const char *table, int t)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT string_agg(quote_literal(a.attname), ',' ORDER BY array_position(i.indkey, a.attnum)) "
             "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
             "WHERE i.indrelid = '%s.%s'::regclass AND i.indisprimary",
             opt_schema, table);
    PGresult *r = query(c, sql);
    if (PQgetisnull(r, 0, 0))
        die("table %s has no primary key", table);
    char cols[512];
    snprintf(cols, sizeof cols, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    /* json_build_object of the key columns, then the row. */
    snprintf(sql, sizeof sql,
             "SELECT (SELECT json_object_agg(k, to_json(t)->k) FROM unnest(ARRAY[%s]) k)::text, "
             "to_json(t)::text FROM %s.%s t",
             cols, opt_schema, table);
    r = query(c, sql);
    json_t *expect = json_object();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *k = json_loads(PQgetvalue(r, i, 0), 0, NULL);
        json_t *row = json_loads(PQgetvalue(r, i, 1), 0, NULL);
        char *ck = canonical(k);
        json_object_set_new(expect, ck, row);
        free(ck);
        json_decref(k);
    }
    PQclear(r);
    json_t *got = state[t] ? state[t] : json_object();
    const char *k;
    json_t *row;
    long missing = 0, extra = 0, differ = 0;
    json_object_foreach(expect, k, row)
    {
        json_t *g = json_object_get(got, k);
        if (!g) {
            if (missing++ < 3)
                violation("state %s: row %s is in PostgreSQL but not in Kafka", table, k);
        } else if (!json_equal(g, row)) {
            if (differ++ < 3) {
                char *a = canonical(g), *b = canonical(row);
                violation("state %s: row %s is %s in Kafka but %s in PostgreSQL", table, k, a, b);
                free(a);
                free(b);
            }
        }
    }
    json_object_foreach(got, k, row)
    {
        if (!json_object_get(expect, k) && extra++ < 3)
            violation("state %s: row %s is in Kafka but not in PostgreSQL", table, k);
    }
    if (missing || extra || differ)
        violation("state %s: %ld missing, %ld extra, %ld different rows", table, missing, extra, differ);
    printf("verify: table %s: %zu rows in PostgreSQL, %zu replayed from Kafka\n", table,
           json_object_size(expect), json_object_size(got));
    json_decref(expect);
}

static sluice_lsn_t slot_confirmed(PGconn *c, bool *exists)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'", opt_slot);
    PGresult *r = query(c, sql);
    sluice_lsn_t lsn = 0;
    *exists = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0);
    if (*exists)
        lsn_parse(PQgetvalue(r, 0, 0), &lsn);
    PQclear(r);
    return lsn;
}

static int cmd_check(void)
{
    char ckpt_topic[256];
    snprintf(ckpt_topic, sizeof ckpt_topic, "%s.sluice.checkpoint", opt_prefix);
    char *ct[1] = {ckpt_topic};
    /* While sluice runs, read the data first: a Kafka transaction whose records
     * are visible has its checkpoint visible too, but not the other way round. */
    if (!opt_live)
        read_topics(ct, 1, on_checkpoint);

    char *topics[MAX_TOPICS], *tables[MAX_TOPICS];
    int ntopics = 0;
    char *list = strdup(opt_tables);
    for (char *tok = strtok(list, ","); tok && ntopics < MAX_TOPICS; tok = strtok(NULL, ",")) {
        tables[ntopics] = tok;
        if (asprintf(&topics[ntopics], "%s.%s.%s", opt_prefix, opt_schema, tok) < 0)
            die("out of memory");
        ntopics++;
    }
    long records = read_topics(topics, ntopics, on_event);
    if (opt_live)
        read_topics(ct, 1, on_checkpoint);

    PGconn *c = pg();
    long ledger_txns = 0, ledger_changes = 0;
    if (opt_ledger) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT xid, changes FROM %s", opt_ledger);
        PGresult *r = query(c, sql);
        for (int i = 0; i < PQntuples(r); i++) {
            uint32_t xid = (uint32_t) strtoul(PQgetvalue(r, i, 0), NULL, 10);
            long n = atol(PQgetvalue(r, i, 1));
            ledger_txns++;
            ledger_changes += n;
            txn_t *tx = txn_get(xid);
            tx->in_ledger = true;
            tx->expected = n;
        }
        PQclear(r);
    }
    long complete = 0;
    for (size_t i = 0; i < txns_cap; i++) {
        txn_t *tx = &txns[i];
        if (!txns || !tx->used)
            continue;
        if (opt_ledger && !tx->in_ledger && tx->events > 0) {
            violation("V2 xid %u is in Kafka (%ld events) but PostgreSQL did not commit it", tx->xid,
                      tx->events);
            continue;
        }
        if (opt_live && tx->events == 0)
            continue; /* not in Kafka yet */
        if (opt_live && tx->events < tx->expected) {
            /* Partitions are read one after another, so a transaction committed in
             * between shows in some and not yet in others; the final check proves
             * it whole. An aborted one would show up as duplicates (V2) once resent. */
            live_partial++;
            continue;
        }
        if (opt_ledger && tx->events != tx->expected) {
            violation("V1 xid %u: %ld events in Kafka, %ld changes committed", tx->xid, tx->events,
                      tx->expected);
            continue;
        }
        if (tx->events > 0) {
            for (uint32_t s = 1; s <= (uint32_t) tx->events; s++)
                if (!((tx->seen[s / 8] | tx->seen_c[s / 8]) & (1u << (s % 8)))) {
                    violation("V1 xid %u: seq %u missing", tx->xid, s);
                    break;
                }
            const ckpt_t *prev = NULL;
            const ckpt_t *ck = ckpt_find(tx->batch, &prev);
            if (!ck)
                violation("V3 xid %u is in Kafka transaction %" PRIu64 ", which has no checkpoint",
                          tx->xid, tx->batch);
            else if (tx->lsn > ck->commit_lsn || (prev && tx->lsn <= prev->commit_lsn))
                violation("V3 xid %u (commit " LSN_FMT ") is not covered by exactly its checkpoint %" PRIu64
                          " (commit " LSN_FMT ")",
                          tx->xid, LSN_ARGS(tx->lsn), tx->batch, LSN_ARGS(ck->commit_lsn));
            complete++;
        }
    }
    if (!opt_no_state && !opt_no_compare)
        for (int t = 0; t < ntopics; t++)
            check_state(c, tables[t], t);

    bool exists;
    sluice_lsn_t slot = slot_confirmed(c, &exists);
    if (!opt_live && exists && nckpts && slot > ckpts[nckpts - 1].end_lsn)
        violation("V6 slot %s confirmed " LSN_FMT " is ahead of the last checkpoint " LSN_FMT,
                  opt_slot, LSN_ARGS(slot), LSN_ARGS(ckpts[nckpts - 1].end_lsn));
    PQfinish(c);
    printf("verify: %ld records (%ld events, %ld of them from the snapshot, %ld marked \"last\", %ld tombstones), %ld "
           "source transactions in Kafka, ledger %ld transactions / %ld changes, %zu checkpoints, "
           "slot at " LSN_FMT "\n",
           records, events, snapshot_events, snapshot_last, tombstones, complete, ledger_txns, ledger_changes,
           nckpts, LSN_ARGS(slot));
    if (snapshot_events) {
        int marked = 0, with_rows = 0;
        for (int t = 0; t < ntopics && t < MAX_TOPICS; t++) {
            if (!snap_rows[t])
                continue;
            with_rows++;
            /* One first and one last marker; a one-row table's row is marked once. */
            marked += snap_rows[t] == 1 ? marks_first[t] + marks_last[t] == 1
                                        : marks_first[t] == 1 && marks_last[t] == 1;
        }
        printf("verify: snapshot markers: %ld \"first\", %ld \"last\"; %d of %d tables with "
               "one first and one last row marked\n",
               marks_first_all, marks_last_all, marked, with_rows);
    }
    if (opt_live)
        printf("verify: live read: %ld transactions visible in some partitions so far\n", live_partial);
    if (violations) {
        printf("verify: FAILED with %ld violations\n", violations);
        return 1;
    }
    printf("verify: OK\n");
    return 0;
}

/* ---- sample mode (V6 while running) ---- */

static void on_term(int sig)
{
    (void) sig;
    stop_sampling = 1;
}

/* Polls the sampler's reader once (up to 100 ms); a checkpoint of our slot raises *latest_end. */
static void sample_poll(kread_t *kr, sluice_lsn_t *latest_end)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(kr->rk, 100);
    if (!m)
        return;
    if (!m->err && m->key_len == strlen(opt_slot) && !memcmp(m->key, opt_slot, m->key_len)) {
        checkpoint_t cp;
        char err[256];
        if (checkpoint_from_json(m->payload, m->len, &cp, err, sizeof err) && cp.end_lsn > *latest_end)
            *latest_end = cp.end_lsn;
    }
    rd_kafka_message_destroy(m);
}

static int cmd_sample(void)
{
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    char ckpt_topic[256];
    snprintf(ckpt_topic, sizeof ckpt_topic, "%s.sluice.checkpoint", opt_prefix);
    PGconn *c = pg();
    kread_t *kr = kread_open(opt_bootstrap, 0);
    sluice_lsn_t latest_end = 0;
    long samples = 0, inconclusive = 0, visibility_lags = 0;
    while (!stop_sampling) {
        /* The sampling interval: a pace, not a wait for anything. */
        usleep((useconds_t) opt_interval_ms * 1000);
        if (kread_add_topic(kr, ckpt_topic) < 0)
            continue; /* sluice has not created it yet */
        if (PQstatus(c) != CONNECTION_OK) {
            PQreset(c);
            continue;
        }
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'", opt_slot);
        PGresult *r = PQexec(c, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
            PQclear(r);
            continue; /* PostgreSQL restarting, or no slot yet */
        }
        sluice_lsn_t slot;
        lsn_parse(PQgetvalue(r, 0, 0), &slot);
        PQclear(r);
        /* The end of what a read_committed reader can see now (ListOffsets under
         * read_committed answers the last stable offset). */
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(kr->rk, ckpt_topic, 0, &lo, &hi, 5000)) {
            inconclusive++;
            continue;
        }
        int64_t deadline = clock_mono_ms() + 5000;
        bool caught_up = false;
        while (clock_mono_ms() < deadline && !stop_sampling) {
            rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(pos, ckpt_topic, 0);
            rd_kafka_position(kr->rk, pos);
            int64_t at = pos->elems[0].offset;
            rd_kafka_topic_partition_list_destroy(pos);
            if (at >= hi) {
                caught_up = true;
                break;
            }
            sample_poll(kr, &latest_end);
        }
        if (!caught_up) {
            inconclusive++;
            continue;
        }
        samples++;
        if (slot > latest_end && latest_end > 0) {
            /*
             * EndTxn returns once the commit decision is in the transaction log;
             * the markers that make the records visible to read_committed readers
             * follow within milliseconds (and a new producer's init_transactions
             * waits for them, which is why restart is exact). So the slot may be
             * briefly ahead of the last *visible* checkpoint. It must catch up:
             * a confirmed LSN no committed checkpoint ever reaches is the violation.
             */
            int64_t until = clock_mono_ms() + 10000;
            while (slot > latest_end && clock_mono_ms() < until)
                sample_poll(kr, &latest_end);
            if (slot > latest_end)
                violation("V6 slot confirmed " LSN_FMT " is ahead of every committed checkpoint "
                          "(latest " LSN_FMT ") for 10 s",
                          LSN_ARGS(slot), LSN_ARGS(latest_end));
            else
                visibility_lags++;
        }
    }
    FILE *f = fopen(opt_out, "w");
    if (f) {
        fprintf(f, "samples %ld inconclusive %ld violations %ld (commit markers not yet visible at "
                   "%ld samples)\n",
                samples, inconclusive, violations, visibility_lags);
        fclose(f);
    }
    kread_close(kr);
    PQfinish(c);
    return violations ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: verify check|sample [options] (see the comment at the top of verify.c)");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-state")) {
            opt_no_state = true;
            continue;
        }
        if (!strcmp(a, "--no-compare")) {
            opt_no_compare = true;
            continue;
        }
        if (!strcmp(a, "--snapshot")) {
            opt_snapshot = true;
            continue;
        }
        if (!strcmp(a, "--incremental")) {
            opt_incremental = true;
            continue;
        }
        if (!strcmp(a, "--live")) {
            opt_live = opt_no_state = true;
            continue;
        }
        if (i + 1 >= argc)
            die("option %s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--bootstrap"))
            opt_bootstrap = v;
        else if (!strcmp(a, "--conninfo"))
            opt_conninfo = v;
        else if (!strcmp(a, "--prefix"))
            opt_prefix = v;
        else if (!strcmp(a, "--slot"))
            opt_slot = v;
        else if (!strcmp(a, "--tables"))
            opt_tables = v;
        else if (!strcmp(a, "--ledger"))
            opt_ledger = v;
        else if (!strcmp(a, "--schema"))
            opt_schema = v;
        else if (!strcmp(a, "--out"))
            opt_out = v;
        else if (!strcmp(a, "--interval-ms"))
            opt_interval_ms = atoi(v);
        else
            die("unknown option %s", a);
    }
    if (!opt_bootstrap || !opt_conninfo)
        die("--bootstrap and --conninfo are required");
    if (!strcmp(argv[1], "check"))
        return cmd_check();
    if (!strcmp(argv[1], "sample")) {
        if (!opt_out)
            die("sample needs --out FILE");
        return cmd_sample();
    }
    die("unknown command %s", argv[1]);
}
