/*
 * snapshot_worker.c — one snapshot worker: a connection in the exported
 * snapshot that takes the next chunk, runs
 *
 *   COPY (SELECT cols FROM t [WHERE row filter] [AND ctid range]) TO STDOUT
 *
 * turns every text row into the values pgoutput would send, encodes them
 * with its own encoder (op "r") and produces them in batches under the copy's
 * lock. A table's first row is produced at once; the last row of each chunk
 * is held back until it is known whether it is its table's last, or the whole
 * snapshot's (the markers: snapshot_copy.h).
 *
 * Owns: its connection and batch. Never: begins or commits a Kafka
 * transaction (the engine's thread does), or writes the progress record
 * except under the lock.
 */
#include "snapshot_copy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/clock.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/base/testpoint.h"
#include "sluice/pg/copyrow.h"

/* libpq's message for r (or conn) without its trailing newline, in the caller's buffer. */
static const char *pg_message(PGconn *conn, const PGresult *r, char *buf, size_t len)
{
    snprintf(buf, len, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
    size_t n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

/* A missing privilege is the operator's to fix, not something to retry. */
static pipeline_result_t pg_class_of(const PGresult *r)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    return state && !strcmp(state, "42501") ? PIPE_DATA : PIPE_STREAM_LOST;
}

void copy_worker_produce_locked(copy_worker_t *w)
{
    copy_t *c = w->c;
    for (size_t i = 0; i < w->nrecs && !atomic_load(&c->abort); i++) {
        copy_rec_t *r = &w->recs[i];
        copy_table_t *t = &c->tables[r->table];
        sink_headers_t h = {.lsn = c->hdr_lsn, .xid = c->hdr_xid, .batch = c->hdr_batch, .seq = r->seq};
        char err[512];
        sink_status_t st = sink_produce(c->a->sink, t->rel->topic, -1,
                                        r->has_key ? w->buf.data + r->koff : NULL, r->klen,
                                        w->buf.data + r->voff, r->vlen, &h, err, sizeof err);
        if (st != SINK_OK) {
            copy_fail_locked(c, copy_sink_class(st), "%s", err);
            break;
        }
        t->rows++;
        metrics_snapshot_row();
        c->a->progress->tables[t->pidx].state = SNAPSHOT_TABLE_PARTIAL;
    }
    w->nrecs = 0;
    strbuf_reset(&w->buf);
}

/*
 * Produces the rows encoded so far. Unless must, only if the lock is free: while
 * the main thread commits (it holds the lock until Kafka has every record and
 * the transaction is over) the worker goes on reading and encoding, up to
 * FLUSH_MAX_RECS rows or FLUSH_MAX_BYTES, instead of waiting with its COPY idle.
 */
#define FLUSH_RECS 512
#define FLUSH_BYTES (1u << 20)
#define FLUSH_MAX_RECS 4096
#define FLUSH_MAX_BYTES (4u << 20)
static void flush_records(copy_worker_t *w, bool must)
{
    if (!w->nrecs)
        return;
    if (must)
        pthread_mutex_lock(&w->c->lock);
    else if (pthread_mutex_trylock(&w->c->lock) != 0)
        return;
    copy_worker_produce_locked(w);
    pthread_mutex_unlock(&w->c->lock);
}

bool copy_worker_add_row(copy_worker_t *w, uint32_t ti, const char *row, int len, uint32_t seq,
                         const char *marker, char *err, size_t errlen)
{
    copy_t *c = w->c;
    copy_table_t *t = &c->tables[ti];
    const relcache_entry_t *rel = t->rel;
    if (!copyrow_decode(row, (size_t) len, w->values, rel->ncols, &w->scratch, err, errlen)) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (table \"%s\")", t->name);
        return false;
    }
    pgo_tuple_t tuple = {.ncols = rel->ncols, .values = w->values};
    change_event_t ev = {.op = OP_READ,
                         .rel = rel,
                         .after = &tuple,
                         .lsn = c->txn.commit_lsn,
                         .txn = &c->txn,
                         .now_us = clock_wall_us(),
                         .snapshot = marker};
    if (w->nrecs == w->caprecs) {
        w->caprecs = w->caprecs ? w->caprecs * 2 : 256;
        w->recs = xrealloc(w->recs, w->caprecs * sizeof *w->recs);
    }
    copy_rec_t *r = &w->recs[w->nrecs++];
    r->table = ti;
    r->seq = seq;
    r->koff = w->buf.len;
    r->has_key = encoder_key(w->enc, rel, &tuple, &w->buf);
    r->klen = w->buf.len - r->koff;
    r->voff = w->buf.len;
    encoder_value(w->enc, &ev, &w->buf);
    r->vlen = w->buf.len - r->voff;
    return true;
}

void copy_complete_chunk_locked(copy_t *c, uint32_t ci)
{
    copy_table_t *t = &c->tables[c->chunks[ci].table];
    if (++t->chunks_done < t->nchunks)
        return;
    snapshot_table_t *pt = &c->a->progress->tables[t->pidx];
    pt->state = SNAPSHOT_TABLE_DONE;
    pt->lsn = c->a->consistent_point;
    pt->rows = t->rows;
    t->done_ms = clock_mono_ms();
    metrics_snapshot_table_done();
    double secs = (double) (t->done_ms - t->start_ms) / 1000.0;
    log_info("snapshot of \"%s\" complete: %" PRIu64 " rows in %.1f s (%.0f rows/s)", t->name,
             t->rows, secs, secs > 0 ? (double) t->rows / secs : (double) t->rows);
}

/* Debezium 3.x's marker of a snapshot row (its precedence: last, first, a table's last, a
 * table's first); NULL: "true". */
static const char *snapshot_marker(bool first_of_all, bool last_of_all, bool first_in_table,
                                   bool last_in_table)
{
    if (last_of_all)
        return "last";
    if (first_of_all)
        return "first";
    if (last_in_table)
        return "last_in_data_collection";
    if (first_in_table)
        return "first_in_data_collection";
    return NULL;
}

void copy_release_held_locked(copy_worker_t *w, copy_held_row_t *h, bool last_in_table,
                              bool last_of_all)
{
    copy_t *c = w->c;
    uint32_t ti = c->chunks[h->chunk].table;
    copy_table_t *t = &c->tables[ti];
    bool first_in_table = !atomic_load(&t->first_done);
    const char *marker =
        snapshot_marker(first_in_table && !c->first_done, last_of_all, first_in_table, last_in_table);
    char err[512];
    if (!copy_worker_add_row(w, ti, h->row, h->len, h->seq, marker, err, sizeof err)) {
        copy_fail_locked(c, PIPE_PROTOCOL, "%s", err);
    } else {
        copy_worker_produce_locked(w);
        c->first_done = true;
        atomic_store(&t->first_done, true);
    }
    PQfreemem(h->row);
    h->row = NULL;
    if (!atomic_load(&c->abort))
        copy_complete_chunk_locked(c, h->chunk);
}

/*
 * Every chunk of table t has ended: its held row is its last. It waits as
 * the snapshot's last-row candidate; the candidate of the table finished
 * before is produced now as that table's last. Call under lock.
 */
static void table_finished_locked(copy_worker_t *w, copy_table_t *t)
{
    copy_t *c = w->c;
    if (!t->held.row)
        return; /* no rows at all */
    if (c->last_row.row)
        copy_release_held_locked(w, &c->last_row, true, false);
    c->last_row = t->held;
    t->held.row = NULL;
}

/*
 * Chunk ci ended; row (PQfreemem, taken; NULL for an empty chunk) was its
 * last. It takes the place of its table's held row, which is produced now: a
 * later row of the table exists. Call under lock with the worker's batch
 * already produced.
 */
static void chunk_ended_locked(copy_worker_t *w, uint32_t ci, char *row, int len, uint32_t seq)
{
    copy_t *c = w->c;
    copy_table_t *t = &c->tables[c->chunks[ci].table];
    t->chunks_finished++;
    if (row) {
        if (t->held.row)
            copy_release_held_locked(w, &t->held, false, false);
        t->held = (copy_held_row_t){.row = row, .len = len, .chunk = ci, .seq = seq};
    } else {
        copy_complete_chunk_locked(c, ci);
    }
    if (!atomic_load(&c->abort) && t->chunks_finished == t->nchunks)
        table_finished_locked(w, t);
}

/*
 * A streamed row of table ti: the table's first row is encoded with its
 * marker and produced at once (with the worker's batch) under the lock, so
 * every other worker's rows of the table reach Kafka after it.
 */
static bool add_streamed_row(copy_worker_t *w, uint32_t ti, const char *row, int len,
                             uint32_t seq, char *err, size_t errlen)
{
    copy_t *c = w->c;
    copy_table_t *t = &c->tables[ti];
    if (atomic_load(&t->first_done))
        return copy_worker_add_row(w, ti, row, len, seq, NULL, err, errlen);
    pthread_mutex_lock(&c->lock);
    bool ok;
    if (atomic_load(&t->first_done)) {
        ok = copy_worker_add_row(w, ti, row, len, seq, NULL, err, errlen);
    } else {
        ok = copy_worker_add_row(w, ti, row, len, seq,
                                 snapshot_marker(!c->first_done, false, true, false), err, errlen);
        if (ok) {
            copy_worker_produce_locked(w);
            c->first_done = true;
            atomic_store(&t->first_done, true);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}

/* Records a failure from a worker thread (takes the lock). */
static void fail(copy_t *c, pipeline_result_t r, const char *fmt, ...) SLUICE_PRINTF(3, 4);
static void fail(copy_t *c, pipeline_result_t r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&c->lock);
    copy_fail_locked(c, r, "%s", msg);
    pthread_mutex_unlock(&c->lock);
}

/* Starts the chunk's COPY on the worker's connection; false once the failure is recorded. */
static bool chunk_start(copy_worker_t *w, const copy_table_t *t, const copy_chunk_t *ch)
{
    copy_t *c = w->c;
    strbuf_t sql = STRBUF_INIT;
    strbuf_appendf(&sql, "COPY (SELECT %s FROM %s", t->select_list, t->from);
    bool where = false;
    if (t->where) {
        strbuf_appendf(&sql, " WHERE (%s)", t->where);
        where = true;
    }
    if (ch->lo || ch->hi) {
        strbuf_appendf(&sql, " %s ctid >= '(%u,0)'::tid", where ? "AND" : "WHERE", ch->lo);
        if (ch->hi)
            strbuf_appendf(&sql, " AND ctid < '(%u,0)'::tid", ch->hi);
    }
    strbuf_puts(&sql, ") TO STDOUT");
    PGresult *r = PQexec(w->conn, sql.data);
    strbuf_free(&sql);
    if (PQresultStatus(r) == PGRES_COPY_OUT) {
        PQclear(r);
        return true;
    }
    char m[512];
    pthread_mutex_lock(&c->lock);
    if (pg_class_of(r) == PIPE_DATA)
        c->setup_error = true;
    copy_fail_locked(c, pg_class_of(r), "snapshot: COPY of \"%s\" failed: %s%s", t->name,
                     pg_message(w->conn, r, m, sizeof m),
                     pg_class_of(r) == PIPE_DATA ? " (the snapshot needs SELECT on every "
                                                   "published table: see sql/setup.sql)"
                                                 : "");
    pthread_mutex_unlock(&c->lock);
    PQclear(r);
    return false;
}

/*
 * Reads the COPY's rows into the worker's batch, producing it whenever it is
 * large, all but the last row, which it hands back in *last (PQfreemem) with
 * its length and sequence number. False once a failure is recorded or the
 * copy is aborted (the connection is then closed with the COPY unfinished).
 */
static bool chunk_read_rows(copy_worker_t *w, const copy_chunk_t *ch, const copy_table_t *t,
                            char **last, int *lastlen, uint32_t *lastseq)
{
    copy_t *c = w->c;
    char err[1024];
    char *prev = NULL, *buf;
    int prevlen = 0, n;
    uint32_t seq = 0;
    bool ok = true;
    while ((n = PQgetCopyData(w->conn, &buf, 0)) > 0) {
        if (prev) {
            if (ok && !add_streamed_row(w, ch->table, prev, prevlen, seq, err, sizeof err)) {
                fail(c, PIPE_PROTOCOL, "%s", err);
                ok = false;
            }
            PQfreemem(prev);
        }
        prev = buf;
        prevlen = n;
        seq++;
        if (atomic_load(&c->abort)) {
            ok = false;
            break;
        }
        if (w->nrecs >= FLUSH_RECS || w->buf.len >= FLUSH_BYTES)
            flush_records(w, w->nrecs >= FLUSH_MAX_RECS || w->buf.len >= FLUSH_MAX_BYTES);
        testpoint_hit("snapshot_row");
    }
    if (ok && n == -2) {
        char m[512];
        fail(c, PIPE_STREAM_LOST, "snapshot: reading COPY of \"%s\" failed: %s", t->name,
             pg_message(w->conn, NULL, m, sizeof m));
        ok = false;
    }
    *last = prev;
    *lastlen = prevlen;
    *lastseq = seq;
    return ok;
}

/* The COPY's own result once its rows are read; false once the failure is recorded. */
static bool chunk_finish(copy_worker_t *w, const copy_table_t *t)
{
    PGresult *r = PQgetResult(w->conn);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char m[512];
        fail(w->c, PIPE_STREAM_LOST, "snapshot: COPY of \"%s\" failed: %s", t->name,
             pg_message(w->conn, r, m, sizeof m));
    }
    PQclear(r);
    while ((r = PQgetResult(w->conn)))
        PQclear(r);
    return ok;
}

static void copy_chunk(copy_worker_t *w, uint32_t ci)
{
    copy_t *c = w->c;
    const copy_chunk_t *ch = &c->chunks[ci];
    const copy_table_t *t = &c->tables[ch->table];
    if (!chunk_start(w, t, ch))
        return;
    char *last = NULL;
    int lastlen = 0;
    uint32_t seq = 0;
    if (!chunk_read_rows(w, ch, t, &last, &lastlen, &seq) || !chunk_finish(w, t)) {
        PQfreemem(last);
        w->nrecs = 0;
        strbuf_reset(&w->buf);
        return;
    }
    pthread_mutex_lock(&c->lock);
    copy_worker_produce_locked(w);
    if (!atomic_load(&c->abort)) {
        chunk_ended_locked(w, ci, last, lastlen, seq);
        last = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    PQfreemem(last);
}

/* The next chunk to copy, or false when none is left. Marks its table started. */
static bool next_chunk(copy_t *c, uint32_t *ci)
{
    pthread_mutex_lock(&c->lock);
    *ci = (uint32_t) c->next_chunk;
    bool have = c->next_chunk < c->nchunks;
    if (have) {
        c->next_chunk++;
        copy_table_t *t = &c->tables[c->chunks[*ci].table];
        if (!t->start_ms)
            t->start_ms = t->logged_ms = clock_mono_ms();
    }
    pthread_mutex_unlock(&c->lock);
    return have;
}

void *copy_worker_main(void *arg)
{
    copy_worker_t *w = arg;
    copy_t *c = w->c;
    char name[32];
    snprintf(name, sizeof name, "snapshot-%d", w->id);
    log_set_thread_name(name);
    char err[1024];
    w->conn = copy_connect(c, err, sizeof err);
    if (!w->conn)
        fail(c, PIPE_STREAM_LOST, "%s", err);
    uint32_t ci;
    while (!atomic_load(&c->abort) && next_chunk(c, &ci))
        copy_chunk(w, ci);
    PQfinish(w->conn);
    w->conn = NULL;
    pthread_mutex_lock(&c->lock);
    c->active_workers--;
    pthread_mutex_unlock(&c->lock);
    return NULL;
}
