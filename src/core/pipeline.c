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
 * This file holds the Kafka side and the main loop; pipeline_events.c turns
 * each decoded message into events (pipeline_internal.h is what they share).
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

#include "pipeline_internal.h"

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
bool pipe_ktxn_is_open(const pipe_t *p)
{
    return p->ktxn == KTXN_OPEN || p->ktxn == KTXN_PENDING;
}

step_t pipe_end(pipe_t *p, pipeline_result_t why)
{
    p->result = why;
    return STEP_END;
}

step_t pipe_protocol_error(pipe_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return pipe_end(p, PIPE_PROTOCOL);
}


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
        return pipe_sink_failed(p, st);
    testpoint_hit("after_commit");
    cp->seq++;
    if ((st = sink_begin(a->sink, p->err, p->errlen)) != SINK_OK)
        return pipe_sink_failed(p, st);
    return STEP_CONTINUE;
}
#else
#define mutant_checkpoint_after_commit(p, cp) STEP_CONTINUE
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


/*
 * The Kafka transaction this pipeline began has been open for
 * transaction.timeout.ms: the coordinator may have aborted it and bumped the
 * epoch, which fences this producer as another instance would. Only a
 * younger transaction's fencing proves another instance (docs/design.md,
 * the fencing-age rule).
 */
static bool ktxn_aged(const pipe_t *p)
{
    return clock_mono_ms() - p->ktxn_start_ms >= p->txn_timeout_ms;
}

/*
 * Turns a failed sink call into the session's outcome. Abortable failures
 * abort the Kafka transaction here, so the caller only reconnects.
 */
step_t pipe_sink_failed(pipe_t *p, sink_status_t st)
{
    const pipeline_args_t *a = p->a;
    st = mutant_fatal_as_abort(st);
    /*
     * A Kafka transaction open longer than transaction.timeout.ms is aborted by
     * the coordinator (seen here as an abort, a fatal error or fencing). Once
     * is a broker outage; the same source transaction failing so twice is one
     * too long to ever fit: stop with the reason instead of looping.
     */
    bool aged = pipe_ktxn_is_open(p) && ktxn_aged(p);
    txn_state_kafka_move(&p->ktxn, KTXN_FAILED);
    bool timed_out = aged && sink_in_transaction(a->sink) && st != SINK_DATA && st != SINK_STOPPED;
    if (st == SINK_ABORT || st == SINK_STOPPED || st == SINK_DATA) {
        char aerr[512];
        sink_status_t ast = sink_abort(a->sink, aerr, sizeof aerr);
        a->stats->counts.kafka_aborts++;
        if (ast != SINK_OK) {
            size_t n = strlen(p->err);
            snprintf(p->err + n, p->errlen - n, "; then %s", aerr);
            if (ast == SINK_FENCED)
                st = SINK_FENCED;
            else if (st != SINK_DATA)
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
            return pipe_end(p, PIPE_DATA);
        }
        a->stats->timeout_failed_lsn = key;
        log_warning("the Kafka transaction was open for %" PRId64 " ms, longer than "
                    "transaction.timeout.ms (%d ms); retrying once",
                    clock_mono_ms() - p->ktxn_start_ms, p->txn_timeout_ms);
    }
    a->stats->fenced_after_timeout = st == SINK_FENCED && aged;
    switch (st) {
    case SINK_STOPPED: return pipe_end(p, PIPE_STOPPED);
    case SINK_DATA: return pipe_end(p, PIPE_DATA);
    case SINK_FENCED: return pipe_end(p, PIPE_FENCED);
    case SINK_ABORT: return pipe_end(p, PIPE_REWIND);
    case SINK_FATAL:
    case SINK_RETRY:
    case SINK_OK: break;
    }
    return pipe_end(p, PIPE_REBUILD);
}

step_t pipe_ensure_kafka_txn(pipe_t *p)
{
    if (pipe_ktxn_is_open(p))
        return STEP_CONTINUE;
    sink_status_t st = sink_begin(p->a->sink, p->err, p->errlen);
    if (st != SINK_OK)
        return pipe_sink_failed(p, st);
    txn_state_kafka_move(&p->ktxn, KTXN_OPEN);
    p->ktxn_start_ms = clock_mono_ms();
    snprintf(p->hdr_batch, sizeof p->hdr_batch, "%" PRIu64, p->a->ckpt->seq + 1);
    return STEP_CONTINUE;
}

/* Commits the open Kafka transaction with the pending checkpoint, then confirms. */
step_t pipe_commit_kafka(pipe_t *p)
{
    const pipeline_args_t *a = p->a;
    if (!pipe_ktxn_is_open(p))
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
        return pipe_sink_failed(p, st);
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

void pipe_set_txn_headers(pipe_t *p)
{
    snprintf(p->hdr_lsn, sizeof p->hdr_lsn, LSN_FMT, LSN_ARGS(p->txn.commit_lsn));
    snprintf(p->hdr_xid, sizeof p->hdr_xid, "%u", p->txn.xid);
}

step_t pipe_produce(pipe_t *p, const char *topic, int32_t partition, bool has_key,
                                 bool has_value)
{
    sink_headers_t h = {.lsn = p->hdr_lsn, .xid = p->hdr_xid, .batch = p->hdr_batch, .seq = p->seq};
    sink_status_t st = sink_produce(p->a->sink, topic, partition, has_key ? p->key.data : NULL,
                                    has_key ? p->key.len : 0, has_value ? p->value.data : NULL,
                                    has_value ? p->value.len : 0, &h, p->err, p->errlen);
    if (st != SINK_OK)
        return pipe_sink_failed(p, st);
    return STEP_CONTINUE;
}


/*
 * Idle progress (step 10): with nothing in flight, a keepalive's WAL end is a
 * point every earlier transaction has passed; a checkpoint-only Kafka
 * transaction there lets the slot advance without a heartbeat table.
 */
static step_t maybe_idle_checkpoint(pipe_t *p)
{
    const pipeline_args_t *a = p->a;
    if (p->src != SRC_BETWEEN || pipe_ktxn_is_open(p) || p->keepalive_wal_end <= a->ckpt->end_lsn)
        return STEP_CONTINUE;
    if (clock_mono_ms() - p->last_checkpoint_ms < a->cfg->idle_checkpoint_ms)
        return STEP_CONTINUE;
    step_t r = pipe_ensure_kafka_txn(p);
    if (r != STEP_CONTINUE)
        return r;
    p->pending = *a->ckpt;
    p->pending.end_lsn = p->keepalive_wal_end;
    txn_state_kafka_move(&p->ktxn, KTXN_PENDING);
    r = pipe_commit_kafka(p);
    if (r == STEP_CONTINUE) {
        a->stats->counts.idle_checkpoints++;
        log_debug("idle checkpoint at " LSN_FMT, LSN_ARGS(p->keepalive_wal_end));
    }
    return r;
}

/*
 * The topics of the tables an incremental copy owes and that no earlier call
 * saw (all at the first chunk, then those a request adds), created in one
 * request: a copy of many tables does not wait for each table's topic in turn.
 */
static step_t ensure_incremental_topics(pipe_t *p)
{
    const snapshot_progress_t *prog = p->inc ? incremental_progress(p->inc) : NULL;
    if (!prog || prog->ntables <= p->inc_topics_for)
        return STEP_CONTINUE;
    char **topics = xcalloc(prog->ntables, sizeof *topics);
    size_t n = 0;
    for (size_t i = p->inc_topics_for; i < prog->ntables; i++)
        if (prog->tables[i].state == SNAPSHOT_TABLE_INCREMENTAL)
            topics[n++] = relcache_topic_name(p->a->cfg->topic_prefix, prog->tables[i].name, NULL);
    step_t r = n ? pipe_ensure_topics(p, (const char *const *) topics, n) : STEP_CONTINUE;
    for (size_t i = 0; i < n; i++)
        free(topics[i]);
    free(topics);
    if (r == STEP_CONTINUE)
        p->inc_topics_for = prog->ntables;
    return r;
}

/*
 * snapshot.method = incremental: starts the next chunk when none is in flight
 * (its rows come back at its high watermark, pipeline_events.c). PostgreSQL
 * trouble ends the session like a lost stream: the chunk is read again.
 */
static step_t step_incremental(pipe_t *p)
{
    step_t r = ensure_incremental_topics(p);
    if (r != STEP_CONTINUE)
        return r;
    switch (incremental_step(p->inc, p->err, p->errlen)) {
    case INC_OK: return STEP_CONTINUE;
    case INC_PG_LOST: return pipe_end(p, PIPE_STREAM_LOST);
    case INC_SETUP: return pipe_end(p, PIPE_DATA);
    }
    return STEP_CONTINUE;
}

/* Aborts the open Kafka transaction at a stop, logging a failure (the run ends anyway). */
static void abort_kafka(pipe_t *p)
{
    char aerr[512];
    if (sink_abort(p->a->sink, aerr, sizeof aerr) != SINK_OK)
        log_warning("%s", aerr);
    txn_state_kafka_move(&p->ktxn, KTXN_NONE);
}

/*
 * Leaves nothing open as the session ends with `result`: an aborted
 * transaction is resent by PostgreSQL next session. After a failed sink call
 * only the sink knows whether one is (sink_in_transaction). Returns the
 * session's result: a session that would go on with this producer (rewind,
 * stream lost, snapshot) cannot if the abort fails. Fenced is judged by the
 * transaction's age like any fencing (pipe_sink_failed): the coordinator's
 * own abort of a transaction that outlived transaction.timeout.ms is no
 * takeover. Any other failure leaves a producer in an unknown state: rebuild.
 * Taking the fenced producer on to the next session made its begin fail as
 * fenced with no transaction open, which reads as another instance (exit 8).
 */
static pipeline_result_t abort_left_open(pipe_t *p, pipeline_result_t result)
{
    const pipeline_args_t *a = p->a;
    if (result == PIPE_STOPPED || result == PIPE_FENCED || result == PIPE_REBUILD ||
        !sink_in_transaction(a->sink))
        return result;
    /* Open in the sink, so begun by this pipeline (none is open when it starts) at
     * ktxn_start_ms, whatever p->ktxn says after a failure. */
    bool aged = ktxn_aged(p);
    char aerr[512];
    sink_status_t ast = sink_abort(a->sink, aerr, sizeof aerr);
    if (ast == SINK_OK)
        return result;
    if (result == PIPE_DATA || result == PIPE_PROTOCOL) {
        log_warning("%s", aerr); /* the run stops on its own error */
        return result;
    }
    size_t n = strlen(p->err);
    snprintf(p->err + n, p->errlen - n, "; then %s", aerr);
    if (ast != SINK_FENCED)
        return PIPE_REBUILD;
    a->stats->fenced_after_timeout = aged;
    return PIPE_FENCED;
}

static step_t finish_on_stop(pipe_t *p)
{
    if (p->src != SRC_BETWEEN || !pipe_ktxn_is_open(p)) {
        if (pipe_ktxn_is_open(p)) {
            abort_kafka(p);
            p->a->stats->counts.kafka_aborts++;
        }
        return pipe_end(p, PIPE_STOPPED);
    }
    step_t r = pipe_commit_kafka(p);
    return r == STEP_CONTINUE ? pipe_end(p, PIPE_STOPPED) : r;
}

/*
 * After a batch of input: the next incremental chunk, the group commit, the
 * idle checkpoint. Group commit: once the walsender has caught up with the
 * WAL (a keepalive came since the last commit; what followed it is whole
 * source transactions committed later) or the input paused, commit the open
 * Kafka transaction at the next boundary between source transactions; what
 * arrives meanwhile goes into the next one, so live a Kafka transaction holds
 * what arrived during the previous commit. While a backlog streams,
 * transactions grow to commit.interval.ms / commit.max.bytes. Only whole
 * source transactions are committed (SRC_BETWEEN), as at any commit.
 */
static step_t between_inputs(pipe_t *p, bool quiet)
{
    step_t r = p->inc ? step_incremental(p) : STEP_CONTINUE;
    /* With an incremental chunk in flight its high watermark is a few ms away:
     * its rows join the open Kafka transaction, which commits at
     * commit.interval.ms (pipeline_run) or at its size, not once per chunk. */
    if (r == STEP_CONTINUE && (quiet || p->caught_up) && p->src == SRC_BETWEEN &&
        pipe_ktxn_is_open(p) && !incremental_in_flight(p->inc))
        r = pipe_commit_kafka(p);
    if (r == STEP_CONTINUE)
        r = maybe_idle_checkpoint(p);
    return r;
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
    p.inc = incremental_new(a->cfg, a->ckpt->snapshot, p.catalog, p.types, a->encoder, &p.emitted);
    if (p.inc) {
        /* Where the copy resumes: each table from the chunk after its last committed one. */
        strbuf_t owed = STRBUF_INIT;
        snapshot_progress_describe_incremental(incremental_progress(p.inc), &owed);
        log_info("incremental snapshot: copying while streaming: %s", owed.data);
        strbuf_free(&owed);
    }
    const char *tt = config_kafka_get(a->cfg, "transaction.timeout.ms");
    p.txn_timeout_ms = tt ? atoi(tt) : 60000;
    a->stats->fenced_after_timeout = false;
    err[0] = '\0';
    /* The caller hands over a sink with nothing open (every session ends so). */
    if (sink_in_transaction(a->sink)) {
        log_fatal("bug: pipeline_run with a Kafka transaction already open");
        abort();
    }

    /* The copy's topics before the first streamed change of its tables creates one alone. */
    step_t r = ensure_incremental_topics(&p);
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
        bool lingering = p.src == SRC_BETWEEN && pipe_ktxn_is_open(&p);
        if (lingering) {
            int64_t left = a->cfg->commit_interval_ms - (clock_mono_ms() - p.ktxn_start_ms);
            wait = left < COMMIT_LINGER_MS ? (int) left : COMMIT_LINGER_MS;
            if (wait <= 0) {
                r = pipe_commit_kafka(&p);
                continue;
            }
        }
        qitem_t *items = queue_pop_all(a->queue, wait);
        bool quiet = items == NULL;
        sink_poll(a->sink);
        p.now_us = clock_wall_us();
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
                    r = pipeline_on_data(&p, it);
                } else if (it->kind == QITEM_KEEPALIVE) {
                    if (it->wal_end > p.keepalive_wal_end)
                        p.keepalive_wal_end = it->wal_end;
                } else {
                    snprintf(err, errlen, "%s", it->payload);
                    /* Whole source transactions in the open Kafka transaction are still good;
                     * part of one is aborted as the session ends (abort_left_open). */
                    if (p.src != SRC_BETWEEN) {
                        r = pipe_end(&p, PIPE_STREAM_LOST);
                    } else {
                        char saved[1024];
                        snprintf(saved, sizeof saved, "%s", err);
                        r = pipe_commit_kafka(&p);
                        if (r == STEP_CONTINUE) {
                            snprintf(err, errlen, "%s", saved);
                            r = pipe_end(&p, PIPE_STREAM_LOST);
                        }
                    }
                }
            }
            qitem_free(it);
        }
        if (r != STEP_CONTINUE)
            break;
        r = between_inputs(&p, quiet);
    }
    pipeline_log_skipped(&p);
    pipeline_result_t result = abort_left_open(&p, p.result);
    free(p.snapshot_request);
    incremental_free(p.inc);
    relcache_free(p.rel);
    pgtype_registry_free(p.types);
    catalog_free(p.catalog);
    free(p.colls);
    free(p.skip_logged);
    pgo_decoder_free(p.dec);
    strbuf_free(&p.key);
    strbuf_free(&p.value);
    return result;
}
