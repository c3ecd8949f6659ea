/*
 * pipeline_events.c — each decoded pgoutput message of the stream turned into
 * what the pipeline does with it (pipeline.c has the batching policy and the
 * Kafka transaction): BEGIN decides whether Kafka already holds the source
 * transaction (the skip rule, design step 5), changes and truncates become
 * change events, COMMIT records the checkpoint for the next Kafka commit,
 * RELATION completes the relation (types, Kafka key), MESSAGE carries
 * logical decoding messages and snapshot requests.
 *
 * Owns nothing beyond a message; never commits except where a snapshot
 * request must be committed at once (the request is recorded exactly once).
 */
#include "pipeline_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/chunk_window.h"
#include "sluice/base/clock.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/base/snapshot_progress.h"
#include "sluice/base/testpoint.h"
#include "sluice/core/snapshot_filter.h"
#include "sluice/core/snapshot_request.h"
#include "sluice/pg/conn.h"

#ifdef SLUICE_MUTANT_SPLIT_TXN
/* Splits a source transaction across Kafka transactions: commits after every tenth change. */
static step_t mutant_split_txn(pipe_t *p)
{
    if (p->seq % 10 != 0)
        return STEP_CONTINUE;
    step_t r = pipe_commit_kafka(p);
    if (r != STEP_CONTINUE)
        return r;
    return pipe_ensure_kafka_txn(p);
}
#else
#define mutant_split_txn(p) STEP_CONTINUE
#endif

#ifdef SLUICE_MUTANT_NO_SKIP
/* Never skips: resends what Kafka holds. */
static bool mutant_no_skip(bool skip)
{
    (void) skip;
    return false;
}
#else
#define mutant_no_skip(skip) (skip)
#endif

static step_t ensure_topic(pipe_t *p, const char *topic);

/*
 * Completes a relation just described by PostgreSQL: the types of its columns
 * (domains, enums, composites, arrays of them need the catalog) and, for
 * REPLICA IDENTITY FULL or NOTHING, the Kafka key from the primary key —
 * pgoutput flags every column of a FULL table as key, which would make the
 * whole row the record key; with json.schemas or Protobuf, each column's NOT
 * NULL and constant default for the Kafka Connect schemas and
 * Column.default_value (once per RELATION message, so every table opens the
 * catalog then). Otherwise the catalog is asked only
 * for what the built-in table does not know, so a publication of plain
 * tables never opens it and the per-change path never waits for it.
 */
static step_t prepare_relation(pipe_t *p, relcache_entry_t *rel)
{
    /* A RELATION message means the table (or a type it uses) may have changed: look again. */
    if (!catalog_complete_relation(p->catalog, p->types, rel, true,
                                   config_column_metadata(p->a->cfg), p->err, p->errlen))
        return pipe_end(p, PIPE_STREAM_LOST); /* PostgreSQL unreachable: reconnect, resume */
    if ((rel->replident == 'f' || rel->replident == 'n') && rel->nkafka_keys == 0)
        log_debug("relation \"%s.%s\" (replica identity '%c') has no usable primary key: "
                  "its records get null keys",
                  rel->nspname, rel->relname, rel->replident);
    encoder_prepare_relation(p->a->encoder, rel);
    return STEP_CONTINUE;
}

/* Counts one change event of `rel` for the transaction metadata; fills *o. */
static const txn_order_t *count_event(pipe_t *p, const relcache_entry_t *rel, txn_order_t *o)
{
    if (!p->a->cfg->transaction_metadata)
        return NULL;
    txn_collection_t *c = NULL;
    for (size_t i = 0; i < p->ncolls; i++)
        if (p->colls[i].relid == rel->oid) {
            c = &p->colls[i];
            break;
        }
    if (!c) {
        if (p->ncolls == p->colls_cap) {
            p->colls_cap = p->colls_cap ? p->colls_cap * 2 : 8;
            p->colls = xrealloc(p->colls, p->colls_cap * sizeof *p->colls);
        }
        c = &p->colls[p->ncolls++];
        c->relid = rel->oid;
        c->count = 0;
        snprintf(c->name, sizeof c->name, "%s.%s", rel->nspname, rel->relname);
    }
    o->total_order = ++p->txn_events;
    o->data_collection_order = ++c->count;
    return o;
}

/*
 * BEGIN and END events of the transaction metadata topic (Debezium's
 * shape), produced in the Kafka transaction that carries the source
 * transaction: END, with the counts known only now, just before its COMMIT
 * is recorded.
 */
static step_t emit_txn_meta(pipe_t *p, bool end)
{
    const pipeline_args_t *a = p->a;
    step_t r = ensure_topic(p, p->txn_topic);
    if (r != STEP_CONTINUE)
        return r;
    const char *names[p->ncolls ? p->ncolls : 1];
    uint64_t counts[p->ncolls ? p->ncolls : 1];
    for (size_t i = 0; i < p->ncolls; i++) {
        names[i] = p->colls[i].name;
        counts[i] = p->colls[i].count;
    }
    txn_meta_t meta = {.end = end,
                       .txn = &p->txn,
                       .event_count = p->txn_events,
                       .ncollections = p->ncolls,
                       .collections = names,
                       .collection_counts = counts};
    strbuf_reset(&p->key);
    strbuf_reset(&p->value);
    encoder_txn_key(a->encoder, &p->txn, &p->key);
    encoder_txn_value(a->encoder, &meta, p->now_us / 1000, &p->value);
    return pipe_produce(p, p->txn_topic, -1, true, true);
}

/*
 * The metadata BEGIN of the source transaction, held back until it produces
 * its first record: one that produces none gets neither BEGIN nor END.
 * PostgreSQL 15+ never sends such a transaction (pgoutput skips those
 * without a published change); 14 sends BEGIN and COMMIT for every one.
 * Call before encoding the record (it uses the key and value buffers).
 */
static step_t emit_pending_begin(pipe_t *p)
{
    if (!p->txn_meta_pending)
        return STEP_CONTINUE;
    p->txn_meta_pending = false;
    p->txn_meta_begun = true;
    uint32_t seq = p->seq;
    p->seq = 0; /* as if produced at the BEGIN */
    step_t r = emit_txn_meta(p, false);
    p->seq = seq;
    return r;
}

/* Produces one change event (and the tombstone after a delete). */
static step_t emit_change(pipe_t *p, event_op_t op, const relcache_entry_t *rel,
                                     const pgo_tuple_t *before, bool before_key_only,
                                     const pgo_tuple_t *after, sluice_lsn_t lsn)
{
    const pipeline_args_t *a = p->a;
    txn_order_t order;
    change_event_t ev = {.op = op,
                         .rel = rel,
                         .before = before,
                         .before_is_key_only = before_key_only,
                         .after = after,
                         .lsn = lsn,
                         .txn = &p->txn,
                         .now_us = p->now_us,
                         .order = count_event(p, rel, &order),
                         /* OP_READ here: a row of an incremental snapshot chunk (Debezium's marker) */
                         .snapshot = op == OP_READ ? "incremental" : NULL};
    step_t r = emit_pending_begin(p);
    if (r != STEP_CONTINUE)
        return r;
    strbuf_reset(&p->key);
    strbuf_reset(&p->value);
    bool has_key = encoder_key(a->encoder, rel, op == OP_DELETE ? before : after, &p->key);
    encoder_value(a->encoder, &ev, &p->value);
    r = pipe_produce(p, rel->topic, -1, has_key, true);
    if (r != STEP_CONTINUE)
        return r;
    a->stats->counts.changes++;
    testpoint_hit("mid_txn");
    if (mutant_split_txn(p) != STEP_CONTINUE)
        return STEP_END;
    if (op == OP_DELETE && a->cfg->tombstones && has_key)
        return pipe_produce(p, rel->topic, -1, true, false);
    return STEP_CONTINUE;
}

/* Whether the Kafka key columns are equal in the old row a and the new row b. */
static bool same_key(const relcache_entry_t *rel, const pgo_tuple_t *a, const pgo_tuple_t *b)
{
    for (uint16_t k = 0; k < rel->nkafka_keys; k++) {
        uint16_t i = rel->kafka_key_index[k];
        if (i >= a->ncols || i >= b->ncols)
            return false;
        const pgo_value_t *x = &a->values[i], *y = &b->values[i];
        if (y->kind == PGO_VALUE_UNCHANGED_TOAST)
            continue; /* unchanged by definition */
        if (x->kind != y->kind || x->len != y->len ||
            (x->len && memcmp(x->data, y->data, x->len) != 0))
            return false;
    }
    return true;
}

/*
 * skipped.operations left an event of kind op_bit (one SKIP_OP_* bit) of relation relid
 * out: counted on /metrics, and said once per table and kind in a session (the first time).
 */
static void note_skipped(pipe_t *p, uint32_t relid, const relcache_entry_t *rel, unsigned op_bit)
{
    /* SKIP_OP_* are bits 0..3 in the order c, u, d, t (config.h). */
    static const char ops[] = "cudt";
    static const char *const what[] = {"inserts", "updates", "deletes", "truncates"};
    int kind = __builtin_ctz(op_bit);
    char op = ops[kind];
    metrics_skipped_event(op);
    uint64_t key = (uint64_t) relid << 8 | (unsigned char) op;
    size_t lo = 0, hi = p->nskip_logged;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->skip_logged[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < p->nskip_logged && p->skip_logged[lo] == key)
        return;
    if (p->nskip_logged == p->skip_logged_cap) {
        size_t cap = p->skip_logged_cap ? p->skip_logged_cap * 2 : 16;
        uint64_t *grown = realloc(p->skip_logged, cap * sizeof *grown);
        if (!grown)
            return; /* the line is said again next time; the count is kept */
        p->skip_logged = grown;
        p->skip_logged_cap = cap;
    }
    memmove(&p->skip_logged[lo + 1], &p->skip_logged[lo],
            (p->nskip_logged - lo) * sizeof *p->skip_logged);
    p->skip_logged[lo] = key;
    p->nskip_logged++;
    const char *w = what[kind];
    if (rel)
        log_info("skipped.operations has %c: the %s of \"%s.%s\" are left out of the stream "
                 "(said once; sluice_skipped_events_total{op=\"%c\"} counts them)",
                 op, w, rel->nspname, rel->relname, op);
    else
        log_info("skipped.operations has %c: the %s of relation OID %u are left out of the stream "
                 "(said once; sluice_skipped_events_total{op=\"%c\"} counts them)",
                 op, w, relid, op);
}

static step_t on_change(pipe_t *p, const pgo_msg_t *m, sluice_lsn_t lsn)
{
    if (p->src == SRC_BETWEEN)
        return pipe_protocol_error(p, "%s outside a transaction", pgo_kind_name(m->kind));
    if (p->src == SRC_SKIPPING)
        return STEP_CONTINUE;
    const relcache_entry_t *rel = relcache_get(p->rel, m->change.relid);
    if (!rel)
        return pipe_protocol_error(p, "%s for relation OID %u, which PostgreSQL never described",
                              pgo_kind_name(m->kind), m->change.relid);
    if (!snapshot_filter_emits(p->a->snapshot_filter, rel->oid, p->txn.commit_lsn))
        return STEP_CONTINUE; /* committed before the table's snapshot copy: the copy has it */
    const pgo_tuple_t *old = m->change.old_kind ? &m->change.old_tuple : NULL;
    const pgo_tuple_t *neu = m->kind == PGO_DELETE ? NULL : &m->change.new_tuple;
    if ((old && old->ncols != rel->ncols) || (neu && neu->ncols != rel->ncols))
        return pipe_protocol_error(p, "%s for \"%s.%s\" has %u columns, its relation has %u",
                              pgo_kind_name(m->kind), rel->nspname, rel->relname,
                              old && old->ncols != rel->ncols ? old->ncols : neu->ncols, rel->ncols);
    /* skipped.operations, by the source operation as Debezium: a key change is one 'u'. */
    unsigned kind_bit = m->kind == PGO_INSERT   ? SKIP_OP_CREATE
                        : m->kind == PGO_UPDATE ? SKIP_OP_UPDATE
                                                : SKIP_OP_DELETE;
    if (p->a->cfg->skipped_ops & kind_bit) {
        note_skipped(p, rel->oid, rel, kind_bit);
        return STEP_CONTINUE;
    }
    /* An incremental snapshot chunk in flight: this change may supersede a row of it
     * (a skipped change does not: the consumer gets the copied row instead of nothing),
     * and an unchanged TOAST value in it is filled from the chunk's copy. */
    incremental_on_change(p->inc, p->txn.xid, rel, old, (pgo_tuple_t *) neu);
    p->seq++;
    switch (m->kind) {
    case PGO_INSERT: return emit_change(p, OP_CREATE, rel, NULL, false, neu, lsn);
    case PGO_DELETE: return emit_change(p, OP_DELETE, rel, old, m->change.old_kind == 'K', NULL, lsn);
    case PGO_UPDATE:
        if (old && rel->nkafka_keys > 0 && !same_key(rel, old, neu)) {
            /* The key changed: as Debezium, a delete under the old key (and its tombstone),
             * then a create under the new one, so per-key consumers stay consistent. Under
             * REPLICA IDENTITY FULL the old row is whole ('O') and the key its primary key. */
            step_t r =
                emit_change(p, OP_DELETE, rel, old, m->change.old_kind == 'K', NULL, lsn);
            if (r != STEP_CONTINUE)
                return r;
            return emit_change(p, OP_CREATE, rel, NULL, false, neu, lsn);
        }
        return emit_change(p, OP_UPDATE, rel, old, m->change.old_kind == 'K', neu, lsn);
    default: return STEP_CONTINUE;
    }
}

static step_t on_truncate(pipe_t *p, const pgo_msg_t *m, sluice_lsn_t lsn)
{
    if (p->src == SRC_BETWEEN)
        return pipe_protocol_error(p, "TRUNCATE outside a transaction");
    if (p->src == SRC_SKIPPING)
        return STEP_CONTINUE;
    if (p->a->cfg->skipped_ops & SKIP_OP_TRUNCATE) {
        /* skipped.operations has t: the relations need no check, only counting */
        for (uint32_t i = 0; i < m->truncate.nrelids; i++) {
            const relcache_entry_t *rel = relcache_get(p->rel, m->truncate.relids[i]);
            if (!rel || snapshot_filter_emits(p->a->snapshot_filter, rel->oid, p->txn.commit_lsn))
                note_skipped(p, m->truncate.relids[i], rel, SKIP_OP_TRUNCATE);
        }
        return STEP_CONTINUE;
    }
    for (uint32_t i = 0; i < m->truncate.nrelids; i++) {
        const relcache_entry_t *rel = relcache_get(p->rel, m->truncate.relids[i]);
        if (!rel)
            return pipe_protocol_error(p, "TRUNCATE of relation OID %u, which PostgreSQL never described",
                                  m->truncate.relids[i]);
        if (!snapshot_filter_emits(p->a->snapshot_filter, rel->oid, p->txn.commit_lsn))
            continue; /* before the table's snapshot copy, which shows its result */
        incremental_on_truncate(p->inc, p->txn.xid, rel->oid);
        p->seq++;
        txn_order_t order;
        change_event_t ev = {.op = OP_TRUNCATE,
                             .rel = rel,
                             .lsn = lsn,
                             .txn = &p->txn,
                             .now_us = clock_wall_us(),
                             .order = count_event(p, rel, &order)};
        step_t r = emit_pending_begin(p);
        if (r != STEP_CONTINUE)
            return r;
        strbuf_reset(&p->value);
        encoder_value(p->a->encoder, &ev, &p->value);
        /* Every partition gets the truncate, so a consumer of any partition sees it in order. */
        int parts = sink_partition_count(p->a->sink, rel->topic);
        for (int part = 0; part < (parts > 0 ? parts : 1); part++) {
            r = pipe_produce(p, rel->topic, parts > 0 ? part : -1, false, true);
            if (r != STEP_CONTINUE)
                return r;
        }
        p->a->stats->counts.changes++;
    }
    return STEP_CONTINUE;
}

step_t pipe_ensure_topics(pipe_t *p, const char *const *topics, size_t n)
{
    sink_status_t st =
        sink_ensure_table_topics(p->a->sink, topics, n, p->a->stop, p->err, p->errlen);
    if (st == SINK_OK)
        return STEP_CONTINUE;
    if (st == SINK_RETRY)
        testpoint_hit("topic_given_up");
    /* Given up: abort and rewind like any abortable failure, so that a fencing
     * the abort meets is judged by the transaction's age (pipe_sink_failed). */
    return pipe_sink_failed(p, st == SINK_RETRY ? SINK_ABORT : st);
}

static step_t ensure_topic(pipe_t *p, const char *topic)
{
    return pipe_ensure_topics(p, &topic, 1);
}

/* Context of emit_read_row: the first failure ends the emitting. */
typedef struct {
    pipe_t *p;
    step_t r;
} read_emit_t;

/* One row of an incremental snapshot chunk, as an "r" event in the watermark's transaction. */
static bool emit_read_row(void *ctx, const relcache_entry_t *rel, const pgo_tuple_t *row)
{
    read_emit_t *e = ctx;
    pipe_t *p = e->p;
    if ((e->r = ensure_topic(p, rel->topic)) != STEP_CONTINUE)
        return false;
    p->seq++;
    e->r = emit_change(p, OP_READ, rel, NULL, false, row, p->txn.commit_lsn);
    return e->r == STEP_CONTINUE;
}

/*
 * A watermark of the incremental snapshot. At the live high watermark the
 * chunk's rows go out here, inside this source transaction, and the progress
 * record saying the chunk is done becomes the checkpoint's snapshot member
 * for the Kafka transaction that holds them: both are committed, or neither.
 */
static step_t on_watermark(pipe_t *p, const pgo_msg_t *m)
{
    read_emit_t e = {.p = p, .r = STEP_CONTINUE};
    bool failed;
    char *progress = incremental_on_watermark(p->inc, m->message.content, m->message.len,
                                              emit_read_row, &e, &failed);
    if (failed)
        return e.r;
    if (progress) {
        free(p->snapshot_request);
        p->snapshot_request = progress;
    }
    return STEP_CONTINUE;
}

/*
 * A "sluice.snapshot" request under snapshot.method = incremental: each named
 * table of the publication that has a key joins the incremental copy (behind
 * the tables it still owes) while streaming goes on. The progress record
 * naming it becomes the checkpoint's snapshot member for the Kafka
 * transaction that holds this message, so the request is carried out once:
 * committed, the next session resumes the copy chunk by chunk; not committed,
 * the message streams again and asks again. A table that cannot be read in
 * key order, or is not published, is refused with an error and the stream
 * goes on.
 */
static step_t request_incremental(pipe_t *p, const pgo_msg_t *m)
{
    const pipeline_args_t *a = p->a;
    snapshot_progress_t *own = NULL, *prog = p->inc ? incremental_progress(p->inc) : NULL;
    char rerr[512], name[300];
    if (!prog) {
        const char *cur = p->snapshot_request ? p->snapshot_request : a->ckpt->snapshot;
        prog = own = cur ? snapshot_progress_parse(cur, rerr, sizeof rerr) : snapshot_progress_new();
        if (!prog) {
            log_warning("ignoring the message at " LSN_FMT ": %s", LSN_ARGS(m->message.lsn), rerr);
            return STEP_CONTINUE;
        }
    }
    PGconn *conn = NULL;
    size_t pos = 0, queued = 0, named = 0;
    step_t r = STEP_CONTINUE;
    while (r == STEP_CONTINUE && snapshot_request_next_name(m->message.content, m->message.len,
                                                            &pos, name, sizeof name, rerr,
                                                            sizeof rerr)) {
        named++;
        pgconn_spec_t spec = {.conninfo = a->cfg->pg_conninfo, .application = "sluice-request"};
        if (!conn && !(conn = pgconn_open(&spec, "snapshot request: could not connect to PostgreSQL",
                                          p->err, p->errlen))) {
            r = pipe_end(p, PIPE_STREAM_LOST); /* the message streams again next session */
            break;
        }
        uint32_t oid = 0;
        snapshot_req_status_t st =
            snapshot_request_lookup(conn, a->cfg->publication, name, &oid, p->err, p->errlen);
        if (st == SNAPSHOT_REQ_PG_FAILED) {
            r = pipe_end(p, PIPE_STREAM_LOST);
        } else if (st != SNAPSHOT_REQ_OK) {
            snapshot_request_refusal(st, name, a->cfg->publication, rerr, sizeof rerr);
            log_error("the \"" SNAPSHOT_REQUEST_PREFIX "\" message at " LSN_FMT ": %s",
                      LSN_ARGS(m->message.lsn), rerr);
        } else if (snapshot_progress_request_incremental(prog, name, oid)) {
            queued++;
            log_info("a \"" SNAPSHOT_REQUEST_PREFIX "\" message at " LSN_FMT " asks for a "
                     "snapshot of \"%s\": copied incrementally, in chunks, while streaming",
                     LSN_ARGS(m->message.lsn), name);
        } else {
            log_info("a \"" SNAPSHOT_REQUEST_PREFIX "\" message at " LSN_FMT " asks for a "
                     "snapshot of \"%s\", whose incremental copy is under way: it goes on",
                     LSN_ARGS(m->message.lsn), name);
        }
    }
    if (conn)
        PQfinish(conn);
    if (r == STEP_CONTINUE && rerr[0])
        log_warning("ignoring the rest of the message at " LSN_FMT ": %s", LSN_ARGS(m->message.lsn),
                    rerr);
    else if (r == STEP_CONTINUE && !named)
        log_warning("ignoring the message at " LSN_FMT ": the \"" SNAPSHOT_REQUEST_PREFIX "\" "
                    "message names no table (expected \"schema.table[,schema.table…]\")",
                    LSN_ARGS(m->message.lsn));
    if (r == STEP_CONTINUE && queued) {
        free(p->snapshot_request);
        p->snapshot_request = snapshot_progress_to_json(prog);
        if (!p->inc)
            p->inc = incremental_new(a->cfg, p->snapshot_request, p->catalog, p->types, a->encoder,
                                    &p->emitted);
    }
    snapshot_progress_free(own);
    return r;
}

static step_t on_message(pipe_t *p, const pgo_msg_t *m)
{
    const pipeline_args_t *a = p->a;
    bool transactional = m->message.flags & PGO_MESSAGE_TRANSACTIONAL;
    source_txn_t nontx = {.xid = 0, .commit_lsn = m->message.lsn, .commit_ts_us = clock_wall_ms() * 1000};
    if (transactional) {
        if (p->src == SRC_BETWEEN)
            return pipe_protocol_error(p, "transactional MESSAGE outside a transaction");
        if (p->src == SRC_SKIPPING)
            return STEP_CONTINUE;
    } else if (p->src != SRC_BETWEEN) {
        return pipe_protocol_error(p, "non-transactional MESSAGE inside a transaction");
    } else if (m->message.lsn <= a->ckpt->end_lsn ||
               (p->ktxn == KTXN_PENDING && m->message.lsn <= p->pending.end_lsn)) {
        /* Already in Kafka: the message's LSN is the end of its WAL record, so a
         * checkpoint at or past it holds it (one a message set ends exactly there). */
        return STEP_CONTINUE;
    }
    if (transactional && strcmp(m->message.prefix, WATERMARK_PREFIX) == 0)
        return on_watermark(p, m); /* sluice's own: never written to the message topic */
    if (strcmp(m->message.prefix, SNAPSHOT_REQUEST_PREFIX) == 0 &&
        a->cfg->snapshot_method == SNAPSHOT_METHOD_INCREMENTAL) {
        step_t r = request_incremental(p, m);
        if (r != STEP_CONTINUE)
            return r;
    } else if (strcmp(m->message.prefix, SNAPSHOT_REQUEST_PREFIX) == 0) {
        /* A request to copy tables (snapshot.h): recorded in the checkpoint committed with
         * this message, so it is carried out exactly once even across a crash. */
        char rerr[256];
        char *req = snapshot_progress_request(
            p->snapshot_request ? p->snapshot_request : a->ckpt->snapshot, m->message.content,
            m->message.len, rerr, sizeof rerr);
        if (req) {
            free(p->snapshot_request);
            p->snapshot_request = req;
            p->snapshot_requested = true;
            log_info("a \"" SNAPSHOT_REQUEST_PREFIX "\" message at " LSN_FMT " asks for a "
                     "snapshot of \"%.*s\"",
                     LSN_ARGS(m->message.lsn), (int) (m->message.len > 200 ? 200 : m->message.len),
                     m->message.content);
        } else {
            log_warning("ignoring the message at " LSN_FMT ": %s", LSN_ARGS(m->message.lsn), rerr);
        }
    }
    step_t r = ensure_topic(p, p->message_topic);
    if (r != STEP_CONTINUE)
        return r;
    if (!transactional && (r = pipe_ensure_kafka_txn(p)) != STEP_CONTINUE)
        return r;
    if (transactional && (r = emit_pending_begin(p)) != STEP_CONTINUE)
        return r;
    source_txn_t saved = p->txn;
    if (!transactional) {
        p->txn = nontx;
        p->seq = 0;
        pipe_set_txn_headers(p);
    }
    p->seq++;
    change_event_t ev = {.op = OP_MESSAGE,
                         .lsn = m->message.lsn,
                         .txn = &p->txn,
                         .now_us = clock_wall_us(),
                         .msg_prefix = m->message.prefix,
                         .msg_content = m->message.content,
                         .msg_len = m->message.len,
                         .msg_transactional = transactional};
    strbuf_reset(&p->key);
    strbuf_reset(&p->value);
    encoder_message_key(a->encoder, m->message.prefix, &p->key);
    encoder_value(a->encoder, &ev, &p->value);
    r = pipe_produce(p, p->message_topic, -1, true, true);
    if (!transactional) {
        p->txn = saved;
        pipe_set_txn_headers(p);
        if (r == STEP_CONTINUE) {
            /* The message's LSN is the end of its WAL record (PostgreSQL reports a
             * logical message at its end pointer), which is also where the next record
             * may start: a commit record right there has commit LSN == message.lsn,
             * and PostgreSQL decodes a transaction only if its commit record starts at
             * or after the point streaming resumes from. So the checkpoint ends exactly
             * at the message, never past it (one byte past lost such a transaction). */
            if (p->ktxn != KTXN_PENDING) {
                p->pending = *a->ckpt;
                txn_state_kafka_move(&p->ktxn, KTXN_PENDING);
            }
            if (m->message.lsn > p->pending.end_lsn)
                p->pending.end_lsn = m->message.lsn;
            a->stats->counts.changes++;
            if (p->snapshot_requested) {
                r = pipe_commit_kafka(p);
                if (r == STEP_CONTINUE)
                    r = pipe_end(p, PIPE_SNAPSHOT);
            }
        }
    }
    return r;
}

/* One line for a run of transactions PostgreSQL resent and Kafka already held. */
void pipeline_log_skipped(pipe_t *p)
{
    if (!p->skipped_run)
        return;
    log_info("skipped %" PRIu64 " transactions Kafka already holds (up to commit " LSN_FMT ")",
             p->skipped_run, LSN_ARGS(p->skipped_upto));
    p->skipped_run = 0;
}

static step_t on_begin(pipe_t *p, const pgo_msg_t *m)
{
    if (p->src != SRC_BETWEEN)
        return pipe_protocol_error(p, "BEGIN of xid %u inside transaction %u", m->begin.xid, p->txn.xid);
    const checkpoint_t *ck = p->a->ckpt;
    bool skip = mutant_no_skip(ck->present && m->begin.final_lsn <= ck->commit_lsn);
    xid_ring_add(&p->emitted, m->begin.xid);
    txn_state_src_move(&p->src, skip ? SRC_SKIPPING : SRC_STREAMING);
    p->seq = 0;
    p->txn.xid = m->begin.xid;
    p->txn.commit_lsn = m->begin.final_lsn;
    p->txn.commit_ts_us = m->begin.commit_ts + PG_EPOCH_OFFSET_US;
    p->txn_start_ms = clock_mono_ms();
    pipe_set_txn_headers(p);
    if (skip) {
        log_debug("skipping transaction %u at " LSN_FMT ": Kafka already holds it", m->begin.xid,
                  LSN_ARGS(m->begin.final_lsn));
        p->skipped_run++;
        p->skipped_upto = m->begin.final_lsn;
        return STEP_CONTINUE;
    }
    pipeline_log_skipped(p);
    metrics_source_txn_begin(p->txn.commit_ts_us);
    if (p->ktxn == KTXN_PENDING && m->begin.final_lsn <= p->pending.commit_lsn)
        return pipe_protocol_error(p, "transaction %u at " LSN_FMT " arrived after a later one",
                              m->begin.xid, LSN_ARGS(m->begin.final_lsn));
    p->txn_events = 0;
    p->ncolls = 0;
    p->txn_meta_pending = p->a->cfg->transaction_metadata;
    p->txn_meta_begun = false;
    return pipe_ensure_kafka_txn(p);
}

static step_t on_commit(pipe_t *p, const pgo_msg_t *m)
{
    const pipeline_args_t *a = p->a;
    if (p->src == SRC_BETWEEN)
        return pipe_protocol_error(p, "COMMIT without BEGIN");
    if (m->commit.commit_lsn != p->txn.commit_lsn)
        return pipe_protocol_error(p, "COMMIT at " LSN_FMT " for a transaction that began with final LSN " LSN_FMT,
                              LSN_ARGS(m->commit.commit_lsn), LSN_ARGS(p->txn.commit_lsn));
    bool skipped = p->src == SRC_SKIPPING;
    txn_state_src_move(&p->src, SRC_BETWEEN);
    if (skipped) {
        a->stats->counts.skipped_txns++;
        return STEP_CONTINUE;
    }
    p->txn_meta_pending = false;
    if (p->txn_meta_begun) {
        step_t r = emit_txn_meta(p, true);
        if (r != STEP_CONTINUE)
            return r;
    }
    p->pending.present = true;
    p->pending.commit_lsn = m->commit.commit_lsn;
    p->pending.end_lsn = m->commit.end_lsn;
    p->pending.xid = p->txn.xid;
    p->pending.commit_ts_us = p->txn.commit_ts_us;
    txn_state_kafka_move(&p->ktxn, KTXN_PENDING);
    a->stats->counts.source_txns++;
    if (p->snapshot_requested) {
        step_t r = pipe_commit_kafka(p);
        return r == STEP_CONTINUE ? pipe_end(p, PIPE_SNAPSHOT) : r;
    }
    int64_t open_ms = clock_mono_ms() - p->ktxn_start_ms;
    /* Otherwise the main loop commits once the input has been quiet for COMMIT_LINGER_MS
     * or the walsender has caught up (group commit, below). */
    if (open_ms >= a->cfg->commit_interval_ms ||
        (long long) sink_txn_bytes(a->sink) >= a->cfg->commit_max_bytes || *a->stop)
        return pipe_commit_kafka(p);
    return STEP_CONTINUE;
}

step_t pipeline_on_data(pipe_t *p, qitem_t *it)
{
    pgo_msg_t m;
    if (!pgo_decode(p->dec, it->payload, it->len, &m, p->err, p->errlen)) {
        size_t n = strlen(p->err);
        snprintf(p->err + n, p->errlen - n, " (at WAL position " LSN_FMT ")", LSN_ARGS(it->wal_start));
        return pipe_end(p, PIPE_PROTOCOL);
    }
    switch (m.kind) {
    case PGO_BEGIN: return on_begin(p, &m);
    case PGO_COMMIT: return on_commit(p, &m);
    case PGO_RELATION: {
        /* Even while skipping: later transactions use the description. */
        relcache_entry_t *rel = relcache_put(p->rel, &m);
        log_debug("relation %u \"%s.%s\" (%u columns, replica identity '%c')", rel->oid,
                  rel->nspname, rel->relname, rel->ncols, rel->replident);
        step_t r = prepare_relation(p, rel);
        if (r != STEP_CONTINUE || p->src == SRC_SKIPPING)
            return r;
        return ensure_topic(p, rel->topic);
    }
    case PGO_TYPE: relcache_put_type(p->rel, &m); return STEP_CONTINUE;
    case PGO_ORIGIN: return STEP_CONTINUE;
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE: return on_change(p, &m, it->wal_start);
    case PGO_TRUNCATE: return on_truncate(p, &m, it->wal_start);
    case PGO_MESSAGE: return on_message(p, &m);
    }
    return pipe_protocol_error(p, "unhandled message type 0x%02x", m.kind);
}
