/*
 * snapshot.c — the initial snapshot's engine (snapshot.h has the protocol).
 *
 *   caller (main): exported snapshot S at LSN L ──► snapshot_copy
 *       plan:     one connection in S lists the publication's tables, their
 *                 columns (column lists, no generated ones), replica identity,
 *                 row filter and size; each table becomes block-range chunks
 *                 (snapshot_plan.c)
 *       workers:  N connections import S; each takes the next chunk, runs
 *                 COPY (SELECT cols FROM t WHERE ctid range) TO STDOUT, turns
 *                 every text row into the values pgoutput would send and
 *                 encodes them with the stream's encoder (op "r")
 *                 (snapshot_worker.c)
 *       one lock: the sink (a single transactional producer) and the progress
 *                 record; workers produce in batches under it (when it is
 *                 free; while the caller commits they read on), the calling
 *                 thread commits under it every snapshot.commit.interval.ms
 *                 with a checkpoint that lists the tables complete so far
 *
 * A table is done when every chunk's rows were produced; it is marked done
 * in the progress record at that moment, so a checkpoint lists it as done
 * only in the Kafka transaction that holds (or follows) its last row. Rows
 * carry Debezium 3.x's markers in source.snapshot ("first",
 * "first_in_data_collection", "last_in_data_collection", "last"): the last
 * row of each chunk is held back until its place is known (snapshot_copy.h).
 *
 * snapshot_copy runs in steps: init, prepare (connect in S, plan), ensure
 * topics, begin (reset partial tables), run (workers copy while this thread
 * commits; then the last row and the final commit), cleanup.
 *
 * Owns: the worker connections and threads. Never: touches the replication
 * connection (the caller keeps it idle so the snapshot stays importable).
 */
#include "sluice/base/clock.h"
#include "sluice/core/snapshot.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot_copy.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/base/testpoint.h"
#include "sluice/pg/conn.h"

void copy_fail_locked(copy_t *c, pipeline_result_t r, const char *fmt, ...)
{
    if (atomic_load(&c->abort) && c->fail != PIPE_STOPPED)
        return;
    c->fail = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail_err, sizeof c->fail_err, fmt, ap);
    va_end(ap);
    atomic_store(&c->abort, true);
}

pipeline_result_t copy_sink_class(sink_status_t st)
{
    switch (st) {
    case SINK_OK: return PIPE_STOPPED;
    case SINK_STOPPED: return PIPE_STOPPED;
    case SINK_ABORT: return PIPE_REWIND;
    case SINK_FENCED: return PIPE_FENCED;
    case SINK_DATA: return PIPE_DATA;
    case SINK_RETRY:
    case SINK_FATAL: break;
    }
    return PIPE_REBUILD;
}

static bool exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        snprintf(err, errlen, "snapshot: \"%.80s\" failed: %s", sql,
                 r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
    }
    PQclear(r);
    return ok;
}

/* Joins the exported snapshot: every connection reads the database as of its consistent point. */
static bool import_snapshot(copy_t *c, PGconn *conn, char *err, size_t errlen)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT '%s'", c->a->snapshot_name);
    for (const char *p = c->a->snapshot_name; *p; p++)
        if (!isxdigit((unsigned char) *p) && *p != '-') {
            snprintf(err, errlen, "snapshot: unexpected snapshot name \"%s\"", c->a->snapshot_name);
            return false;
        }
    return exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err, errlen) &&
           exec_ok(conn, sql, err, errlen);
}

PGconn *copy_connect(copy_t *c, char *err, size_t errlen)
{
    /* COPY prints values with the session's settings: pin the forms pgoutput's session has. */
    pgconn_spec_t spec = {.conninfo = c->a->cfg->pg_conninfo,
                          .application = "sluice-snapshot",
                          .pin_value_formats = true};
    PGconn *conn = pgconn_open(&spec, "snapshot: could not connect to PostgreSQL", err, errlen);
    if (!conn)
        return NULL;
    if (!import_snapshot(c, conn, err, errlen)) {
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

/* The partitions of every copied table get a truncate first when Kafka may hold part of an
 * interrupted copy (or the table was asked for again). Call under lock, in a transaction. */
static bool produce_reset(copy_t *c, copy_table_t *t, char *err, size_t errlen)
{
    if (c->a->cfg->skipped_ops & SKIP_OP_TRUNCATE) {
        /* The consumer cannot apply a truncate (a Flink job stops at one): the copy's rows
         * come as upserts over what it holds, and a row gone since stays with it. */
        metrics_skipped_event('t');
        log_info("snapshot: \"%s\" is copied again; skipped.operations has t, so no truncate "
                 "event resets it first (a consumer keeps a row its earlier copy or stream had "
                 "and this copy has not)",
                 t->name);
        return true;
    }
    change_event_t ev = {.op = OP_TRUNCATE,
                         .rel = t->rel,
                         .lsn = c->txn.commit_lsn,
                         .txn = &c->txn,
                         .now_us = clock_wall_us(),
                         .snapshot = "true"};
    strbuf_t value = STRBUF_INIT;
    encoder_value(c->enc, &ev, &value);
    int parts = sink_partition_count(c->a->sink, t->rel->topic);
    sink_headers_t h = {.lsn = c->hdr_lsn, .xid = c->hdr_xid, .batch = c->hdr_batch, .seq = 0};
    for (int p = 0; p < (parts > 0 ? parts : 1); p++) {
        sink_status_t st = sink_produce(c->a->sink, t->rel->topic, parts > 0 ? p : -1, NULL, 0,
                                        value.data, value.len, &h, err, errlen);
        if (st != SINK_OK) {
            strbuf_free(&value);
            c->fail = copy_sink_class(st);
            return false;
        }
    }
    strbuf_free(&value);
    log_info("snapshot: \"%s\" is copied again: a truncate event (source.snapshot \"true\") "
             "resets it first",
             t->name);
    return true;
}

/* Commits the open Kafka transaction with a checkpoint holding the progress. Call under lock. */
static pipeline_result_t commit_locked(copy_t *c, bool begin_next, char *err, size_t errlen)
{
    const snapshot_args_t *a = c->a;
    checkpoint_t cp = *a->ckpt;
    cp.present = true;
    cp.seq = a->ckpt->seq + 1;
    cp.end_lsn = a->resume_lsn;
    if (cp.commit_lsn > cp.end_lsn)
        cp.commit_lsn = cp.end_lsn;
    snprintf(cp.system_id, sizeof cp.system_id, "%s", a->system_id);
    cp.timeline = a->timeline;
    cp.snapshot = snapshot_progress_to_json(a->progress);
    sink_status_t st = sink_commit(a->sink, &cp, a->cfg->slot, err, errlen);
    if (st != SINK_OK) {
        free(cp.snapshot);
        return copy_sink_class(st) == PIPE_STOPPED ? PIPE_REWIND : copy_sink_class(st);
    }
    free(a->ckpt->snapshot);
    *a->ckpt = cp;
    log_debug("snapshot: committed Kafka transaction %" PRIu64, cp.seq);
    testpoint_hit("snapshot_commit");
    for (size_t i = 0; i < c->ntables; i++)
        if (!c->tables[i].committed_done &&
            a->progress->tables[c->tables[i].pidx].state == SNAPSHOT_TABLE_DONE) {
            c->tables[i].committed_done = true;
            testpoint_hit("snapshot_table_committed");
        }
    if (!begin_next)
        return PIPE_STOPPED;
    st = sink_begin(a->sink, err, errlen);
    if (st != SINK_OK)
        return copy_sink_class(st) == PIPE_STOPPED ? PIPE_REWIND : copy_sink_class(st);
    snprintf(c->hdr_batch, sizeof c->hdr_batch, "%" PRIu64, a->ckpt->seq + 1);
    c->txn_start_ms = clock_mono_ms();
    return PIPE_STOPPED;
}

static void log_progress_locked(copy_t *c, bool force)
{
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < c->ntables; i++) {
        copy_table_t *t = &c->tables[i];
        if (!t->start_ms || t->done_ms)
            continue;
        if (!force && now - t->logged_ms < c->a->cfg->snapshot_progress_interval_ms)
            continue;
        double secs = (double) (now - t->logged_ms) / 1000.0;
        double rate = secs > 0 ? (double) (t->rows - t->logged_rows) / secs : 0;
        double total_secs = (double) (now - t->start_ms) / 1000.0;
        double avg = total_secs > 0 ? (double) t->rows / total_secs : 0;
        char eta[64] = "unknown";
        if (t->est_rows > 0 && avg > 0) {
            double left = t->est_rows > (double) t->rows ? (t->est_rows - (double) t->rows) / avg : 0;
            snprintf(eta, sizeof eta, "%.0f s", left);
        }
        if (t->est_rows > 0)
            log_info("snapshot of \"%s\": %" PRIu64 " of ~%.0f rows (%.0f%%), %.0f rows/s, "
                     "time left %s",
                     t->name, t->rows, t->est_rows,
                     t->est_rows > 0 ? 100.0 * (double) t->rows / t->est_rows : 0.0, rate, eta);
        else
            log_info("snapshot of \"%s\": %" PRIu64 " rows, %.0f rows/s", t->name, t->rows, rate);
        t->logged_rows = t->rows;
        t->logged_ms = now;
    }
}

/* ---- snapshot_copy, step by step ------------------------------------------ */

/* Marks the progress record running under a new epoch and makes what the steps share. */
static void copy_init(copy_t *c)
{
    const snapshot_args_t *a = c->a;
    snapshot_progress_t *p = a->progress;
    pthread_mutex_init(&c->lock, NULL);
    p->running = true;
    p->epoch++;
    p->consistent_point = a->consistent_point;
    snprintf(c->hdr_lsn, sizeof c->hdr_lsn, LSN_FMT, LSN_ARGS(a->consistent_point));
    snprintf(c->hdr_batch, sizeof c->hdr_batch, "%" PRIu64, a->ckpt->seq + 1);
    c->eo = (encoder_options_t){.server_name = a->cfg->topic_prefix,
                                .db_name = a->db_name,
                                .toast_placeholder = a->cfg->toast_placeholder,
                                .forms = a->cfg->forms,
                                .schemas = a->cfg->json_schemas,
                                .transaction_block = false,
                                .propagate_source_type = a->cfg->propagate_source_type};
    c->enc = encoder_new(a->cfg->format, &c->eo);
    c->cache = relcache_new(a->cfg->topic_prefix);
    c->cat = catalog_new(a->cfg->pg_conninfo);
    c->types = pgtype_registry_new();
}

/* The snapshot's own transaction as events name it: the oldest xid it sees, its time. */
static bool read_snapshot_txn(copy_t *c, PGconn *conn, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, "SELECT txid_snapshot_xmin(txid_current_snapshot()) % 4294967296, "
                               "(extract(epoch FROM now()) * 1000000)::bigint");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "snapshot: %s", PQresultErrorMessage(r));
        PQclear(r);
        return false;
    }
    c->txn.xid = (uint32_t) strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    c->txn.commit_lsn = c->a->consistent_point;
    c->txn.commit_ts_us = atoll(PQgetvalue(r, 0, 1));
    snprintf(c->hdr_xid, sizeof c->hdr_xid, "%u", c->txn.xid);
    PQclear(r);
    return true;
}

/* Joins the snapshot on one connection and plans the copy (snapshot_plan.c). */
static bool copy_prepare(copy_t *c, pipeline_result_t *result, char *err, size_t errlen)
{
    const snapshot_args_t *a = c->a;
    snapshot_progress_t *p = a->progress;
    PGconn *conn = copy_connect(c, err, errlen);
    bool ok = conn && read_snapshot_txn(c, conn, err, errlen) && copy_plan(c, conn, err, errlen);
    PQfinish(conn);
    catalog_free(c->cat); /* every table is described */
    c->cat = NULL;
    if (!ok) {
        *result = PIPE_STREAM_LOST;
        return false;
    }
    uint64_t total_rows = 0;
    for (size_t i = 0; i < c->ntables; i++)
        total_rows += c->tables[i].est_rows > 0 ? (uint64_t) c->tables[i].est_rows : 0;
    log_info("snapshot %u at " LSN_FMT ": copying %zu tables (~%" PRIu64 " rows, %zu chunks) with "
             "%d workers; %zu tables complete before",
             p->epoch, LSN_ARGS(a->consistent_point), c->ntables, total_rows, c->nchunks,
             a->cfg->snapshot_workers, p->ntables - c->ntables);
    metrics_snapshot_started(p->ntables, p->ntables - c->ntables);
    return true;
}

/*
 * Every table's topic exists (created if missing, all in one request) before
 * the transaction begins.
 */
static bool copy_ensure_topics(copy_t *c, pipeline_result_t *result, char *err, size_t errlen)
{
    const snapshot_args_t *a = c->a;
    const char **topics = xcalloc(c->ntables ? c->ntables : 1, sizeof *topics);
    for (size_t i = 0; i < c->ntables; i++)
        topics[i] = c->tables[i].rel->topic;
    sink_status_t st = sink_ensure_table_topics(a->sink, topics, c->ntables, a->stop, err, errlen);
    free(topics);
    if (st != SINK_OK) {
        *result = st == SINK_RETRY ? PIPE_REWIND : copy_sink_class(st);
        return false;
    }
    return true;
}

/* Begins the first Kafka transaction with the truncate events that reset partial tables. */
static bool copy_begin(copy_t *c, pipeline_result_t *result, char *err, size_t errlen)
{
    const snapshot_args_t *a = c->a;
    sink_status_t st = sink_begin(a->sink, err, errlen);
    if (st != SINK_OK) {
        *result = copy_sink_class(st) == PIPE_STOPPED ? PIPE_REWIND : copy_sink_class(st);
        return false;
    }
    c->in_txn = true;
    c->txn_start_ms = clock_mono_ms();
    for (size_t i = 0; i < c->ntables; i++) {
        snapshot_table_t *pt = &a->progress->tables[c->tables[i].pidx];
        if (pt->state == SNAPSHOT_TABLE_PARTIAL && !produce_reset(c, &c->tables[i], err, errlen)) {
            *result = c->fail;
            return false;
        }
    }
    return true;
}

/* Starts up to snapshot.workers threads (no more than there are chunks). */
static void copy_start_workers(copy_t *c)
{
    const config_t *cfg = c->a->cfg;
    int n = cfg->snapshot_workers;
    if ((size_t) n > c->nchunks)
        n = (int) (c->nchunks ? c->nchunks : 0);
    c->workers = xcalloc((size_t) (n ? n : 1), sizeof *c->workers);
    c->nworkers = n;
    c->active_workers = n;
    for (int i = 0; i < n; i++) {
        copy_worker_t *w = &c->workers[i];
        w->c = c;
        w->id = i + 1;
        w->enc = encoder_new(cfg->format, &c->eo);
        w->values = xcalloc(1600, sizeof *w->values); /* MaxTupleAttributeNumber */
        if (pthread_create(&w->thread, NULL, copy_worker_main, w) != 0) {
            encoder_free(w->enc);
            free(w->values);
            pthread_mutex_lock(&c->lock);
            copy_fail_locked(c, PIPE_PROTOCOL, "snapshot: could not start a worker thread");
            c->active_workers -= n - i;
            pthread_mutex_unlock(&c->lock);
            c->nworkers = i;
            break;
        }
    }
}

/*
 * The calling thread's part while the workers copy: commits every
 * snapshot.commit.interval.ms (or commit.max.bytes) and reports progress,
 * until the workers are done, one failed or a stop is requested. Returns
 * whether it stopped on request.
 */
static bool copy_commit_while_copying(copy_t *c, char *err, size_t errlen)
{
    const snapshot_args_t *a = c->a;
    for (;;) {
        usleep(20 * 1000);
        pthread_mutex_lock(&c->lock);
        sink_poll(a->sink);
        if (atomic_load(&c->abort)) {
            pthread_mutex_unlock(&c->lock);
            return false;
        }
        if (*a->stop) {
            copy_fail_locked(c, PIPE_STOPPED, "stop requested");
            pthread_mutex_unlock(&c->lock);
            return true;
        }
        if (c->active_workers == 0) {
            pthread_mutex_unlock(&c->lock);
            return false;
        }
        if (clock_mono_ms() - c->txn_start_ms >= a->cfg->snapshot_commit_interval_ms ||
            (long long) sink_txn_bytes(a->sink) >= a->cfg->commit_max_bytes) {
            pipeline_result_t cr = commit_locked(c, true, err, errlen);
            if (cr != PIPE_STOPPED) {
                c->in_txn = sink_in_transaction(a->sink);
                copy_fail_locked(c, cr, "%s", err);
                pthread_mutex_unlock(&c->lock);
                return false;
            }
        }
        log_progress_locked(c, false);
        pthread_mutex_unlock(&c->lock);
    }
}

/*
 * Every chunk is copied: the row held back is the very last one; it goes out
 * marked so, and the final commit lists every table as done. Call under lock.
 * Leaves a failure to copy_end_aborted_locked (c->abort).
 */
static pipeline_result_t copy_finish_locked(copy_t *c, char *err, size_t errlen)
{
    const snapshot_args_t *a = c->a;
    snapshot_progress_t *p = a->progress;
    if (c->last_row.row)
        copy_release_held_locked(&c->workers[0], &c->last_row, true, true);
    if (atomic_load(&c->abort))
        return PIPE_STOPPED;
    /* Tables copied in chunks while streaming keep the snapshot running. */
    p->running = snapshot_progress_incremental_pending(p);
    for (size_t i = 0; i < p->ntables; i++)
        if (p->tables[i].state != SNAPSHOT_TABLE_DONE &&
            p->tables[i].state != SNAPSHOT_TABLE_INCREMENTAL) {
            p->running = true; /* cannot happen: every planned table completed */
            log_warning("snapshot: table \"%s\" was not completed", p->tables[i].name);
        }
    pipeline_result_t result = commit_locked(c, false, err, errlen);
    c->in_txn = sink_in_transaction(a->sink);
    if (result == PIPE_STOPPED && !p->running) {
        uint64_t rows = 0;
        for (size_t i = 0; i < c->ntables; i++)
            rows += c->tables[i].rows;
        log_info("snapshot %u complete: %" PRIu64 " rows of %zu tables in Kafka; streaming "
                 "starts at " LSN_FMT,
                 p->epoch, rows, c->ntables, LSN_ARGS(a->resume_lsn));
    } else if (result != PIPE_STOPPED) {
        p->running = true;
    }
    return result;
}

/*
 * The copy was cut short: on a stop request what is complete is committed
 * (partial tables are marked so) and it resumes at the next start; on a
 * failure the first one recorded is the result. Call under lock.
 */
static pipeline_result_t copy_end_aborted_locked(copy_t *c, bool stopping, char *err,
                                                 size_t errlen)
{
    const snapshot_args_t *a = c->a;
    if (!stopping && c->fail != PIPE_STOPPED) {
        snprintf(err, errlen, "%s", c->fail_err);
        if (c->setup_error && a->setup_error)
            *a->setup_error = true;
        return c->fail;
    }
    log_progress_locked(c, true);
    if (sink_in_transaction(a->sink)) {
        char cerr[1024];
        pipeline_result_t cr = commit_locked(c, false, cerr, sizeof cerr);
        if (cr != PIPE_STOPPED)
            log_warning("snapshot: could not commit before stopping: %s", cerr);
    }
    c->in_txn = sink_in_transaction(a->sink);
    err[0] = '\0';
    log_info("snapshot stopped on request; it resumes at the next start");
    return PIPE_STOPPED;
}

/* Runs the workers to the end and commits what they copied. */
static pipeline_result_t copy_run(copy_t *c, char *err, size_t errlen)
{
    copy_start_workers(c);
    bool stopping = copy_commit_while_copying(c, err, errlen);
    for (int i = 0; i < c->nworkers; i++)
        pthread_join(c->workers[i].thread, NULL);
    pipeline_result_t result = PIPE_STOPPED;
    pthread_mutex_lock(&c->lock);
    if (!atomic_load(&c->abort))
        result = copy_finish_locked(c, err, errlen);
    if (atomic_load(&c->abort))
        result = copy_end_aborted_locked(c, stopping, err, errlen);
    pthread_mutex_unlock(&c->lock);
    return result;
}

/* Aborts a transaction left open (unless the producer is gone) and frees everything. */
static void copy_cleanup(copy_t *c, pipeline_result_t result)
{
    const snapshot_args_t *a = c->a;
    if (c->in_txn && sink_in_transaction(a->sink) && result != PIPE_FENCED &&
        result != PIPE_REBUILD) {
        char aerr[512];
        if (sink_abort(a->sink, aerr, sizeof aerr) != SINK_OK)
            log_warning("%s", aerr);
    }
    if (c->last_row.row)
        PQfreemem(c->last_row.row);
    for (size_t i = 0; i < c->ntables; i++)
        if (c->tables[i].held.row)
            PQfreemem(c->tables[i].held.row);
    metrics_snapshot_ended();
    for (int i = 0; i < c->nworkers; i++) {
        encoder_free(c->workers[i].enc);
        strbuf_free(&c->workers[i].scratch);
        strbuf_free(&c->workers[i].buf);
        free(c->workers[i].recs);
        free(c->workers[i].values);
    }
    free(c->workers);
    for (size_t i = 0; i < c->ntables; i++) {
        free(c->tables[i].name);
        free(c->tables[i].from);
        free(c->tables[i].select_list);
        free(c->tables[i].where);
    }
    free(c->tables);
    free(c->chunks);
    catalog_free(c->cat);
    relcache_free(c->cache);
    pgtype_registry_free(c->types);
    encoder_free(c->enc);
    pthread_mutex_destroy(&c->lock);
    if (result != PIPE_STOPPED)
        a->progress->running = true;
}

pipeline_result_t snapshot_copy(const snapshot_args_t *a, char *err, size_t errlen)
{
    err[0] = '\0';
    copy_t c = {.a = a, .fail = PIPE_STOPPED};
    copy_init(&c);
    pipeline_result_t result = PIPE_STOPPED;
    if (copy_prepare(&c, &result, err, errlen) && copy_ensure_topics(&c, &result, err, errlen) &&
        copy_begin(&c, &result, err, errlen))
        result = copy_run(&c, err, errlen);
    copy_cleanup(&c, result);
    return result;
}
