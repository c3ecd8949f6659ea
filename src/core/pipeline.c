/*
 * pipeline.c — transaction assembly and the batching policy.
 *
 * A Kafka transaction opens at the first source BEGIN that Kafka does not
 * already hold, carries one or more WHOLE source transactions (a source
 * transaction is never split), and is committed at a source COMMIT when
 * commit.interval.ms has passed, commit.max.bytes were produced, or no more
 * input is waiting. The checkpoint record for the last source COMMIT in it is
 * produced just before the commit. Only after Kafka reports the commit does
 * the confirmed LSN move (args->confirm, stream_confirm in the daemon).
 *
 * Changes are produced as they are decoded, so memory stays flat however
 * large a source transaction is: librdkafka's bounded queue pushes back, the
 * reader's bounded queue fills, and PostgreSQL keeps the rest on its disk.
 *
 * Skipping (step 5): a BEGIN whose final LSN is <= the checkpoint's
 * commit_lsn starts a transaction Kafka already has; it is skipped whole.
 * Positions are never tracked per change: changes of one transaction share
 * its commit LSN, and only whole transactions are ever in Kafka.
 *
 * State: where the source transaction being read stands (p->src) and where
 * the Kafka transaction this pipeline opened stands (p->ktxn), each moved
 * only through txn_state.h's checked transitions.
 */
#include "sluice/base/clock.h"
#include "sluice/core/pipeline.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/buf.h"
#include "sluice/pg/catalog.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"
#include "sluice/base/snapshot_progress.h"
#include "sluice/core/snapshot_filter.h"
#include "sluice/core/txn_state.h"
#include "sluice/base/testpoint.h"

/* What one step leads to: the next input, or the end of the session (why: p->result). */
typedef enum {
    STEP_CONTINUE,
    STEP_END,
} step_t;

/* Events per table in the source transaction (transaction metadata). */
typedef struct {
    uint32_t relid;
    uint64_t count;
    char name[136]; /* "schema.table": two NAMEDATALEN names and a dot */
} txn_collection_t;

typedef struct {
    const pipeline_args_t *a;
    pgo_decoder_t *dec;
    relcache_t *rel;
    strbuf_t key, value;
    char message_topic[512];
    char txn_topic[512];           /* "<prefix>.transaction" (transaction.metadata) */
    pgtype_registry_t *types;      /* non-built-in types described by the catalog */
    catalog_t *catalog;            /* ordinary connection for types and primary keys */
    uint64_t txn_events;           /* change events so far in the source transaction */
    txn_collection_t *colls;
    size_t ncolls, colls_cap;
    /* the source transaction being read */
    txn_state_src_t src;
    source_txn_t txn;
    uint32_t seq;
    int64_t txn_start_ms;
    char hdr_lsn[24], hdr_xid[12], hdr_batch[24]; /* header text, formatted once */
    int64_t now_ms;       /* wall clock, read once per batch of input */
    uint64_t skipped_run; /* consecutive skipped transactions, for one log line */
    sluice_lsn_t skipped_upto;
    /* the Kafka transaction */
    txn_state_kafka_t ktxn;
    int64_t ktxn_start_ms;
    checkpoint_t pending; /* KTXN_PENDING: the checkpoint to write at the next Kafka commit */
    /* a walsender keepalive came since the last Kafka commit (group commit) */
    bool caught_up;
    /* idle progress */
    sluice_lsn_t keepalive_wal_end;
    int64_t last_checkpoint_ms;
    int txn_timeout_ms;
    /* a "sluice.snapshot" message in the source transaction being read (or just read) */
    bool snapshot_requested;
    /* transaction.metadata: BEGIN held back until the source transaction produces a record */
    bool txn_meta_pending, txn_meta_begun;
    char *snapshot_request; /* the checkpoint's new snapshot member, until committed */
    pipeline_result_t result; /* why the session ends, once a step returned STEP_END */
    char *err;
    size_t errlen;
} pipe_t;

/* How long the input must be quiet before an open Kafka transaction is committed. */
#define COMMIT_LINGER_MS 5

const char *pipeline_result_name(pipeline_result_t r)
{
    switch (r) {
    case PIPE_STOPPED: return "stopped";
    case PIPE_STREAM_LOST: return "stream lost";
    case PIPE_REWIND: return "rewind";
    case PIPE_REBUILD: return "rebuild producer";
    case PIPE_FENCED: return "fenced";
    case PIPE_DATA: return "data error";
    case PIPE_PROTOCOL: return "protocol error";
    case PIPE_SNAPSHOT: return "snapshot requested";
    }
    return "unknown";
}

static void confirm_stream(void *ctx, sluice_lsn_t lsn)
{
    stream_confirm(ctx, lsn);
}

static sluice_lsn_t confirmed_sent_stream(void *ctx)
{
    return stream_confirmed_sent(ctx);
}

pipeline_confirm_t pipeline_confirm_to_stream(stream_t *s)
{
    return (pipeline_confirm_t) {
        .confirm = confirm_stream, .confirmed_sent = confirmed_sent_stream, .ctx = s};
}

/* Begun by this pipeline and neither committed, aborted nor failed. */
static bool ktxn_is_open(const pipe_t *p)
{
    return p->ktxn == KTXN_OPEN || p->ktxn == KTXN_PENDING;
}

static step_t session_end(pipe_t *p, pipeline_result_t why)
{
    p->result = why;
    return STEP_END;
}

static step_t protocol_error(pipe_t *p, const char *fmt, ...) SLUICE_PRINTF(2, 3);
static step_t protocol_error(pipe_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return session_end(p, PIPE_PROTOCOL);
}

static step_t sink_failed(pipe_t *p, sink_status_t st);
static step_t ensure_kafka_txn(pipe_t *p);
static step_t commit_kafka(pipe_t *p);

/*
 * Deliberately broken test builds (make mutants): the fault suite
 * (tests/fault/scenarios.sh fault_12) and make unit-mutants must catch each
 * (FATAL_AS_ABORT: make unit-mutants only).
 * A hook is compiled in only under its macro; otherwise it is a macro that
 * leaves its argument as it is, so a production build calls nothing here.
 */
#ifdef SLUICE_MUTANT_CONFIRM_BEFORE_COMMIT
/*
 * Confirms before Kafka commits. A real bug of this kind leaves the confirm a
 * whole Kafka commit (tens of ms) to reach the walsender; here the kill at
 * before_commit comes microseconds after it, and a walsender that was not
 * scheduled in between dies on the broken socket without reading it (the
 * suite once let this build pass that way). So: wait until the confirm is on
 * the wire (up to 1 s), then give the walsender 100 ms to take it in, as a
 * commit would.
 */
static void mutant_confirm_before_commit(pipe_t *p, const checkpoint_t *cp)
{
    const pipeline_confirm_t *c = &p->a->confirm;
    c->confirm(c->ctx, cp->end_lsn);
    for (int waited = 0;
         c->confirmed_sent && waited < 1000 && c->confirmed_sent(c->ctx) < cp->end_lsn; waited++)
        usleep(1000);
    usleep(100 * 1000);
}
#else
#define mutant_confirm_before_commit(p, cp) ((void) 0)
#endif

#ifdef SLUICE_MUTANT_CHECKPOINT_AFTER_COMMIT
/* The checkpoint travels in a second Kafka transaction: the changes are committed
 * with the old checkpoint first, then a new transaction is begun for the new one. */
static step_t mutant_checkpoint_after_commit(pipe_t *p, checkpoint_t *cp)
{
    const pipeline_args_t *a = p->a;
    checkpoint_t old = *a->ckpt;
    old.present = true;
    old.seq = cp->seq;
    snprintf(old.system_id, sizeof old.system_id, "%s", a->system_id);
    old.timeline = a->timeline;
    sink_status_t st = sink_commit(a->sink, &old, a->cfg->slot, p->err, p->errlen);
    if (st != SINK_OK)
        return sink_failed(p, st);
    testpoint_hit("after_commit");
    cp->seq++;
    if ((st = sink_begin(a->sink, p->err, p->errlen)) != SINK_OK)
        return sink_failed(p, st);
    return STEP_CONTINUE;
}
#else
#define mutant_checkpoint_after_commit(p, cp) STEP_CONTINUE
#endif

#ifdef SLUICE_MUTANT_SPLIT_TXN
/* Splits a source transaction across Kafka transactions: commits after every tenth change. */
static step_t mutant_split_txn(pipe_t *p)
{
    if (p->seq % 10 != 0)
        return STEP_CONTINUE;
    step_t r = commit_kafka(p);
    if (r != STEP_CONTINUE)
        return r;
    return ensure_kafka_txn(p);
}
#else
#define mutant_split_txn(p) STEP_CONTINUE
#endif

#ifdef SLUICE_MUTANT_FATAL_AS_ABORT
/* Takes an unusable producer for an aborted transaction: rewinds instead of rebuilding. */
static sink_status_t mutant_fatal_as_abort(sink_status_t st)
{
    return st == SINK_FATAL ? SINK_ABORT : st;
}
#else
#define mutant_fatal_as_abort(st) (st)
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

/*
 * Turns a failed sink call into the session's outcome. Abortable failures
 * abort the Kafka transaction here, so the caller only reconnects.
 */
static step_t sink_failed(pipe_t *p, sink_status_t st)
{
    const pipeline_args_t *a = p->a;
    st = mutant_fatal_as_abort(st);
    /*
     * A Kafka transaction open longer than transaction.timeout.ms is aborted by
     * the coordinator (seen here as an abort, a fatal error or fencing). Once
     * is a broker outage; the same source transaction failing so twice is one
     * too long to ever fit: stop with the reason instead of looping.
     */
    bool aged = ktxn_is_open(p) && clock_mono_ms() - p->ktxn_start_ms >= p->txn_timeout_ms;
    txn_state_kafka_move(&p->ktxn, KTXN_FAILED);
    bool timed_out = aged && sink_in_transaction(a->sink) && st != SINK_DATA && st != SINK_STOPPED;
    if (st == SINK_ABORT || st == SINK_STOPPED || st == SINK_DATA) {
        char aerr[512];
        sink_status_t ast = sink_abort(a->sink, aerr, sizeof aerr);
        a->stats->counts.kafka_aborts++;
        if (ast == SINK_FENCED)
            st = SINK_FENCED;
        else if (ast != SINK_OK) {
            log_warning("%s", aerr);
            if (st != SINK_DATA)
                st = SINK_FATAL;
        }
    }
    if (timed_out) {
        sluice_lsn_t key = p->src != SRC_BETWEEN ? p->txn.commit_lsn : p->pending.commit_lsn;
        if (a->stats->timeout_failed_lsn == key) {
            size_t n = strlen(p->err);
            snprintf(p->err + n, p->errlen - n,
                     "; the Kafka transaction holding source transaction %u (commit " LSN_FMT
                     ") outlived the Kafka transaction timeout (%d ms) twice: raise "
                     "\"kafka.transaction.timeout.ms\" (at most the broker's "
                     "transaction.max.timeout.ms)",
                     p->txn.xid, LSN_ARGS(key), p->txn_timeout_ms);
            return session_end(p, PIPE_DATA);
        }
        a->stats->timeout_failed_lsn = key;
        log_warning("the Kafka transaction was open for %" PRId64 " ms, longer than "
                    "transaction.timeout.ms (%d ms); retrying once",
                    clock_mono_ms() - p->ktxn_start_ms, p->txn_timeout_ms);
    }
    a->stats->fenced_after_timeout = st == SINK_FENCED && aged;
    switch (st) {
    case SINK_STOPPED: return session_end(p, PIPE_STOPPED);
    case SINK_DATA: return session_end(p, PIPE_DATA);
    case SINK_FENCED: return session_end(p, PIPE_FENCED);
    case SINK_ABORT: return session_end(p, PIPE_REWIND);
    case SINK_FATAL:
    case SINK_RETRY:
    case SINK_OK: break;
    }
    return session_end(p, PIPE_REBUILD);
}

static step_t ensure_kafka_txn(pipe_t *p)
{
    if (ktxn_is_open(p))
        return STEP_CONTINUE;
    sink_status_t st = sink_begin(p->a->sink, p->err, p->errlen);
    if (st != SINK_OK)
        return sink_failed(p, st);
    txn_state_kafka_move(&p->ktxn, KTXN_OPEN);
    p->ktxn_start_ms = clock_mono_ms();
    snprintf(p->hdr_batch, sizeof p->hdr_batch, "%" PRIu64, p->a->ckpt->seq + 1);
    return STEP_CONTINUE;
}

/* Commits the open Kafka transaction with the pending checkpoint, then confirms. */
static step_t commit_kafka(pipe_t *p)
{
    const pipeline_args_t *a = p->a;
    if (!ktxn_is_open(p))
        return STEP_CONTINUE;
    checkpoint_t cp = p->ktxn == KTXN_PENDING ? p->pending : *a->ckpt;
    /* The snapshot member travels on unchanged, or carries a request for new copies. */
    cp.snapshot = p->snapshot_request ? p->snapshot_request : a->ckpt->snapshot;
    cp.present = true;
    cp.seq = a->ckpt->seq + 1;
    snprintf(cp.system_id, sizeof cp.system_id, "%s", a->system_id);
    cp.timeline = a->timeline;
    mutant_confirm_before_commit(p, &cp);
    if (mutant_checkpoint_after_commit(p, &cp) != STEP_CONTINUE)
        return STEP_END;
    int64_t commit_start_ms = clock_mono_ms();
    sink_status_t st = sink_commit(a->sink, &cp, a->cfg->slot, p->err, p->errlen);
    if (st != SINK_OK)
        return sink_failed(p, st);
    if (cp.snapshot != a->ckpt->snapshot) {
        free(a->ckpt->snapshot);
        p->snapshot_request = NULL; /* owned by *a->ckpt from now on */
    }
    *a->ckpt = cp;
    txn_state_kafka_move(&p->ktxn, KTXN_NONE);
    p->caught_up = false;
    p->last_checkpoint_ms = clock_mono_ms();
    a->stats->counts.kafka_commits++;
    metrics_kafka_committed((clock_mono_ms() - commit_start_ms) * 1000);
    log_debug("committed Kafka transaction %" PRIu64 " up to " LSN_FMT, cp.seq,
              LSN_ARGS(cp.end_lsn));
    testpoint_hit("after_commit");
    a->confirm.confirm(a->confirm.ctx, cp.end_lsn);
    return STEP_CONTINUE;
}

static void set_txn_headers(pipe_t *p)
{
    snprintf(p->hdr_lsn, sizeof p->hdr_lsn, LSN_FMT, LSN_ARGS(p->txn.commit_lsn));
    snprintf(p->hdr_xid, sizeof p->hdr_xid, "%u", p->txn.xid);
}

static step_t produce(pipe_t *p, const char *topic, int32_t partition, bool has_key,
                                 bool has_value)
{
    sink_headers_t h = {.lsn = p->hdr_lsn, .xid = p->hdr_xid, .batch = p->hdr_batch, .seq = p->seq};
    sink_status_t st = sink_produce(p->a->sink, topic, partition, has_key ? p->key.data : NULL,
                                    has_key ? p->key.len : 0, has_value ? p->value.data : NULL,
                                    has_value ? p->value.len : 0, &h, p->err, p->errlen);
    if (st != SINK_OK)
        return sink_failed(p, st);
    return STEP_CONTINUE;
}

static step_t ensure_topic(pipe_t *p, const char *topic);

/*
 * Completes a relation just described by PostgreSQL: the types of its columns
 * (domains, enums, composites, arrays of them need the catalog) and, for
 * REPLICA IDENTITY FULL or NOTHING, the Kafka key from the primary key —
 * pgoutput flags every column of a FULL table as key, which would make the
 * whole row the record key. The catalog is asked only for what the built-in
 * table does not know, so a publication of plain tables never opens it.
 */
static step_t prepare_relation(pipe_t *p, relcache_entry_t *rel)
{
    /* A RELATION message means the table (or a type it uses) may have changed: look again. */
    if (!catalog_complete_relation(p->catalog, p->types, rel, true, p->err, p->errlen))
        return session_end(p, PIPE_STREAM_LOST); /* PostgreSQL unreachable: reconnect, resume */
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
    encoder_txn_value(a->encoder, &meta, p->now_ms, &p->value);
    return produce(p, p->txn_topic, -1, true, true);
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
                         .now_ms = p->now_ms,
                         .order = count_event(p, rel, &order)};
    step_t r = emit_pending_begin(p);
    if (r != STEP_CONTINUE)
        return r;
    strbuf_reset(&p->key);
    strbuf_reset(&p->value);
    bool has_key = encoder_key(a->encoder, rel, op == OP_DELETE ? before : after, &p->key);
    encoder_value(a->encoder, &ev, &p->value);
    r = produce(p, rel->topic, -1, has_key, true);
    if (r != STEP_CONTINUE)
        return r;
    a->stats->counts.changes++;
    testpoint_hit("mid_txn");
    if (mutant_split_txn(p) != STEP_CONTINUE)
        return STEP_END;
    if (op == OP_DELETE && a->cfg->tombstones && has_key)
        return produce(p, rel->topic, -1, true, false);
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

static step_t on_change(pipe_t *p, const pgo_msg_t *m, sluice_lsn_t lsn)
{
    if (p->src == SRC_BETWEEN)
        return protocol_error(p, "%s outside a transaction", pgo_kind_name(m->kind));
    if (p->src == SRC_SKIPPING)
        return STEP_CONTINUE;
    const relcache_entry_t *rel = relcache_get(p->rel, m->change.relid);
    if (!rel)
        return protocol_error(p, "%s for relation OID %u, which PostgreSQL never described",
                              pgo_kind_name(m->kind), m->change.relid);
    if (!snapshot_filter_emits(p->a->snapshot_filter, rel->oid, p->txn.commit_lsn))
        return STEP_CONTINUE; /* committed before the table's snapshot copy: the copy has it */
    const pgo_tuple_t *old = m->change.old_kind ? &m->change.old_tuple : NULL;
    const pgo_tuple_t *neu = m->kind == PGO_DELETE ? NULL : &m->change.new_tuple;
    if ((old && old->ncols != rel->ncols) || (neu && neu->ncols != rel->ncols))
        return protocol_error(p, "%s for \"%s.%s\" has %u columns, its relation has %u",
                              pgo_kind_name(m->kind), rel->nspname, rel->relname,
                              old && old->ncols != rel->ncols ? old->ncols : neu->ncols, rel->ncols);
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
        return protocol_error(p, "TRUNCATE outside a transaction");
    if (p->src == SRC_SKIPPING)
        return STEP_CONTINUE;
    for (uint32_t i = 0; i < m->truncate.nrelids; i++) {
        const relcache_entry_t *rel = relcache_get(p->rel, m->truncate.relids[i]);
        if (!rel)
            return protocol_error(p, "TRUNCATE of relation OID %u, which PostgreSQL never described",
                                  m->truncate.relids[i]);
        if (!snapshot_filter_emits(p->a->snapshot_filter, rel->oid, p->txn.commit_lsn))
            continue; /* before the table's snapshot copy, which shows its result */
        p->seq++;
        txn_order_t order;
        change_event_t ev = {.op = OP_TRUNCATE,
                             .rel = rel,
                             .lsn = lsn,
                             .txn = &p->txn,
                             .now_ms = clock_wall_ms(),
                             .order = count_event(p, rel, &order)};
        step_t r = emit_pending_begin(p);
        if (r != STEP_CONTINUE)
            return r;
        strbuf_reset(&p->value);
        encoder_value(p->a->encoder, &ev, &p->value);
        /* Every partition gets the truncate, so a consumer of any partition sees it in order. */
        int parts = sink_partition_count(p->a->sink, rel->topic);
        for (int part = 0; part < (parts > 0 ? parts : 1); part++) {
            r = produce(p, rel->topic, parts > 0 ? part : -1, false, true);
            if (r != STEP_CONTINUE)
                return r;
        }
        p->a->stats->counts.changes++;
    }
    return STEP_CONTINUE;
}

static step_t ensure_topic(pipe_t *p, const char *topic)
{
    const pipeline_args_t *a = p->a;
    for (int attempt = 1;; attempt++) {
        sink_status_t st = sink_ensure_topic(a->sink, topic, false, 10000, p->err, p->errlen);
        if (st == SINK_OK)
            return STEP_CONTINUE;
        if (st != SINK_RETRY || attempt >= 5 || *a->stop)
            return st == SINK_RETRY ? session_end(p, PIPE_REWIND) : sink_failed(p, st);
        log_warning("%s; retrying", p->err);
    }
}

static step_t on_message(pipe_t *p, const pgo_msg_t *m)
{
    const pipeline_args_t *a = p->a;
    bool transactional = m->message.flags & PGO_MESSAGE_TRANSACTIONAL;
    source_txn_t nontx = {.xid = 0, .commit_lsn = m->message.lsn, .commit_ts_us = clock_wall_ms() * 1000};
    if (transactional) {
        if (p->src == SRC_BETWEEN)
            return protocol_error(p, "transactional MESSAGE outside a transaction");
        if (p->src == SRC_SKIPPING)
            return STEP_CONTINUE;
    } else if (p->src != SRC_BETWEEN) {
        return protocol_error(p, "non-transactional MESSAGE inside a transaction");
    } else if (m->message.lsn <= a->ckpt->end_lsn ||
               (p->ktxn == KTXN_PENDING && m->message.lsn <= p->pending.end_lsn)) {
        /* Already in Kafka: the message's LSN is the end of its WAL record, so a
         * checkpoint at or past it holds it (one a message set ends exactly there). */
        return STEP_CONTINUE;
    }
    if (strcmp(m->message.prefix, SNAPSHOT_REQUEST_PREFIX) == 0) {
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
    if (!transactional && (r = ensure_kafka_txn(p)) != STEP_CONTINUE)
        return r;
    if (transactional && (r = emit_pending_begin(p)) != STEP_CONTINUE)
        return r;
    source_txn_t saved = p->txn;
    if (!transactional) {
        p->txn = nontx;
        p->seq = 0;
        set_txn_headers(p);
    }
    p->seq++;
    change_event_t ev = {.op = OP_MESSAGE,
                         .lsn = m->message.lsn,
                         .txn = &p->txn,
                         .now_ms = clock_wall_ms(),
                         .msg_prefix = m->message.prefix,
                         .msg_content = m->message.content,
                         .msg_len = m->message.len,
                         .msg_transactional = transactional};
    strbuf_reset(&p->key);
    strbuf_reset(&p->value);
    encoder_message_key(a->encoder, m->message.prefix, &p->key);
    encoder_value(a->encoder, &ev, &p->value);
    r = produce(p, p->message_topic, -1, true, true);
    if (!transactional) {
        p->txn = saved;
        set_txn_headers(p);
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
                r = commit_kafka(p);
                if (r == STEP_CONTINUE)
                    r = session_end(p, PIPE_SNAPSHOT);
            }
        }
    }
    return r;
}

/* One line for a run of transactions PostgreSQL resent and Kafka already held. */
static void log_skipped(pipe_t *p)
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
        return protocol_error(p, "BEGIN of xid %u inside transaction %u", m->begin.xid, p->txn.xid);
    const checkpoint_t *ck = p->a->ckpt;
    bool skip = mutant_no_skip(ck->present && m->begin.final_lsn <= ck->commit_lsn);
    txn_state_src_move(&p->src, skip ? SRC_SKIPPING : SRC_STREAMING);
    p->seq = 0;
    p->txn.xid = m->begin.xid;
    p->txn.commit_lsn = m->begin.final_lsn;
    p->txn.commit_ts_us = m->begin.commit_ts + PG_EPOCH_OFFSET_US;
    p->txn_start_ms = clock_mono_ms();
    set_txn_headers(p);
    if (skip) {
        log_debug("skipping transaction %u at " LSN_FMT ": Kafka already holds it", m->begin.xid,
                  LSN_ARGS(m->begin.final_lsn));
        p->skipped_run++;
        p->skipped_upto = m->begin.final_lsn;
        return STEP_CONTINUE;
    }
    log_skipped(p);
    metrics_source_txn_begin(p->txn.commit_ts_us);
    if (p->ktxn == KTXN_PENDING && m->begin.final_lsn <= p->pending.commit_lsn)
        return protocol_error(p, "transaction %u at " LSN_FMT " arrived after a later one",
                              m->begin.xid, LSN_ARGS(m->begin.final_lsn));
    p->txn_events = 0;
    p->ncolls = 0;
    p->txn_meta_pending = p->a->cfg->transaction_metadata;
    p->txn_meta_begun = false;
    return ensure_kafka_txn(p);
}

static step_t on_commit(pipe_t *p, const pgo_msg_t *m)
{
    const pipeline_args_t *a = p->a;
    if (p->src == SRC_BETWEEN)
        return protocol_error(p, "COMMIT without BEGIN");
    if (m->commit.commit_lsn != p->txn.commit_lsn)
        return protocol_error(p, "COMMIT at " LSN_FMT " for a transaction that began with final LSN " LSN_FMT,
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
        step_t r = commit_kafka(p);
        return r == STEP_CONTINUE ? session_end(p, PIPE_SNAPSHOT) : r;
    }
    int64_t open_ms = clock_mono_ms() - p->ktxn_start_ms;
    /* Otherwise the main loop commits once the input has been quiet for COMMIT_LINGER_MS
     * or the walsender has caught up (group commit, below). */
    if (open_ms >= a->cfg->commit_interval_ms ||
        (long long) sink_txn_bytes(a->sink) >= a->cfg->commit_max_bytes || *a->stop)
        return commit_kafka(p);
    return STEP_CONTINUE;
}

static step_t on_data(pipe_t *p, qitem_t *it)
{
    pgo_msg_t m;
    if (!pgo_decode(p->dec, it->payload, it->len, &m, p->err, p->errlen)) {
        size_t n = strlen(p->err);
        snprintf(p->err + n, p->errlen - n, " (at WAL position " LSN_FMT ")", LSN_ARGS(it->wal_start));
        return session_end(p, PIPE_PROTOCOL);
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
    return protocol_error(p, "unhandled message type 0x%02x", m.kind);
}

/*
 * Idle progress (step 10): with nothing in flight, a keepalive's WAL end is a
 * point every earlier transaction has passed; a checkpoint-only Kafka
 * transaction there lets the slot advance without a heartbeat table.
 */
static step_t maybe_idle_checkpoint(pipe_t *p)
{
    const pipeline_args_t *a = p->a;
    if (p->src != SRC_BETWEEN || ktxn_is_open(p) || p->keepalive_wal_end <= a->ckpt->end_lsn)
        return STEP_CONTINUE;
    if (clock_mono_ms() - p->last_checkpoint_ms < a->cfg->idle_checkpoint_ms)
        return STEP_CONTINUE;
    step_t r = ensure_kafka_txn(p);
    if (r != STEP_CONTINUE)
        return r;
    p->pending = *a->ckpt;
    p->pending.end_lsn = p->keepalive_wal_end;
    txn_state_kafka_move(&p->ktxn, KTXN_PENDING);
    r = commit_kafka(p);
    if (r == STEP_CONTINUE) {
        a->stats->counts.idle_checkpoints++;
        log_debug("idle checkpoint at " LSN_FMT, LSN_ARGS(p->keepalive_wal_end));
    }
    return r;
}

/* Aborts the open Kafka transaction, logging a failure (the session ends anyway). */
static void abort_kafka(pipe_t *p)
{
    char aerr[512];
    if (sink_abort(p->a->sink, aerr, sizeof aerr) != SINK_OK)
        log_warning("%s", aerr);
    txn_state_kafka_move(&p->ktxn, KTXN_NONE);
}

static step_t finish_on_stop(pipe_t *p)
{
    if (p->src != SRC_BETWEEN || !ktxn_is_open(p)) {
        if (ktxn_is_open(p)) {
            abort_kafka(p);
            p->a->stats->counts.kafka_aborts++;
        }
        return session_end(p, PIPE_STOPPED);
    }
    step_t r = commit_kafka(p);
    return r == STEP_CONTINUE ? session_end(p, PIPE_STOPPED) : r;
}

pipeline_result_t pipeline_run(const pipeline_args_t *a, char *err, size_t errlen)
{
    pipe_t p = {.a = a, .err = err, .errlen = errlen};
    p.dec = pgo_decoder_new();
    p.rel = relcache_new(a->cfg->topic_prefix);
    p.last_checkpoint_ms = clock_mono_ms();
    snprintf(p.message_topic, sizeof p.message_topic, "%s.message", a->cfg->topic_prefix);
    snprintf(p.txn_topic, sizeof p.txn_topic, "%s.transaction", a->cfg->topic_prefix);
    p.types = pgtype_registry_new();
    p.catalog = catalog_new(a->cfg->pg_conninfo);
    const char *tt = config_kafka_get(a->cfg, "transaction.timeout.ms");
    p.txn_timeout_ms = tt ? atoi(tt) : 60000;
    a->stats->fenced_after_timeout = false;
    err[0] = '\0';
    /* The caller hands over a sink with nothing open (every session ends so). */
    if (sink_in_transaction(a->sink)) {
        log_fatal("bug: pipeline_run with a Kafka transaction already open");
        abort();
    }

    step_t r = STEP_CONTINUE;
    while (r == STEP_CONTINUE) {
        if (*a->stop) {
            r = finish_on_stop(&p);
            break;
        }
        /*
         * Between source transactions with a Kafka transaction open: wait a little
         * for more (a backlog arrives in bursts a few ms apart), then commit.
         * Committing at every gap would cap throughput at the broker's commit rate.
         */
        int wait = 200;
        bool lingering = p.src == SRC_BETWEEN && ktxn_is_open(&p);
        if (lingering) {
            int64_t left = a->cfg->commit_interval_ms - (clock_mono_ms() - p.ktxn_start_ms);
            wait = left < COMMIT_LINGER_MS ? (int) left : COMMIT_LINGER_MS;
            if (wait <= 0) {
                r = commit_kafka(&p);
                continue;
            }
        }
        qitem_t *items = queue_pop_all(a->queue, wait);
        bool quiet = items == NULL;
        sink_poll(a->sink);
        p.now_ms = clock_wall_ms();
        for (qitem_t *it = items; it; it = items) {
            items = it->next;
            /* The walsender sends a keepalive (while anything it sent is
             * unconfirmed) when its decoding reaches the WAL flush position it
             * last read, before it reads that again or waits: rarely while a
             * backlog streams (it read the flush position once), at every WAL
             * flush it catches up with when it is live. */
            if (it->kind == QITEM_KEEPALIVE)
                p.caught_up = true;
            if (r == STEP_CONTINUE) {
                if (it->kind == QITEM_DATA) {
                    r = on_data(&p, it);
                } else if (it->kind == QITEM_KEEPALIVE) {
                    if (it->wal_end > p.keepalive_wal_end)
                        p.keepalive_wal_end = it->wal_end;
                } else {
                    snprintf(err, errlen, "%s", it->payload);
                    /* Whole source transactions in the open Kafka transaction are still good. */
                    if (p.src != SRC_BETWEEN) {
                        if (ktxn_is_open(&p))
                            abort_kafka(&p);
                        r = session_end(&p, PIPE_STREAM_LOST);
                    } else {
                        char saved[1024];
                        snprintf(saved, sizeof saved, "%s", err);
                        r = commit_kafka(&p);
                        if (r == STEP_CONTINUE) {
                            snprintf(err, errlen, "%s", saved);
                            r = session_end(&p, PIPE_STREAM_LOST);
                        }
                    }
                }
            }
            qitem_free(it);
        }
        if (r != STEP_CONTINUE)
            break;
        /* Group commit: once the walsender has caught up with the WAL (a
         * keepalive came since the last commit; what followed it is whole
         * source transactions committed later) or the input paused, commit the
         * open Kafka transaction at the next boundary between source
         * transactions; what arrives meanwhile goes into the next one, so live
         * a Kafka transaction holds what arrived during the previous commit.
         * While a backlog streams, transactions grow to commit.interval.ms /
         * commit.max.bytes. Only whole source transactions are committed
         * (SRC_BETWEEN), as at any commit. */
        if ((quiet || p.caught_up) && p.src == SRC_BETWEEN && ktxn_is_open(&p))
            r = commit_kafka(&p);
        if (r == STEP_CONTINUE)
            r = maybe_idle_checkpoint(&p);
    }
    log_skipped(&p);
    pipeline_result_t result = p.result;
    /* Leave nothing open: an aborted transaction is resent by PostgreSQL next session. After
     * a failed sink call only the sink knows whether one is (sink_in_transaction). */
    if (result != PIPE_STOPPED && result != PIPE_FENCED && result != PIPE_REBUILD &&
        sink_in_transaction(a->sink)) {
        char aerr[512];
        if (sink_abort(a->sink, aerr, sizeof aerr) != SINK_OK)
            log_warning("%s", aerr);
    }
    free(p.snapshot_request);
    relcache_free(p.rel);
    pgtype_registry_free(p.types);
    catalog_free(p.catalog);
    free(p.colls);
    pgo_decoder_free(p.dec);
    strbuf_free(&p.key);
    strbuf_free(&p.value);
    return result;
}
