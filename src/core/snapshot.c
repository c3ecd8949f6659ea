/*
 * snapshot.c — the initial snapshot (snapshot.h has the protocol).
 *
 *   caller (main): exported snapshot S at LSN L ──► snapshot_copy
 *       plan:     one connection in S lists the publication's tables, their
 *                 columns (column lists, no generated ones), replica identity,
 *                 row filter and size; each table becomes block-range chunks
 *       workers:  N connections import S; each takes the next chunk, runs
 *                 COPY (SELECT cols FROM t WHERE ctid range) TO STDOUT, turns
 *                 every text row into the values pgoutput would send and
 *                 encodes them with the stream's encoder (op "r")
 *       one lock: the sink (a single transactional producer) and the progress
 *                 record; workers produce in batches under it, the calling
 *                 thread commits under it every snapshot.commit.interval.ms
 *                 with a checkpoint that lists the tables complete so far
 *
 * A table is done when every chunk's rows were produced; it is marked done
 * in the progress record at that moment, so a checkpoint lists it as done
 * only in the Kafka transaction that holds (or follows) its last row. Each
 * worker holds back the last row of its chunk; the very last row of the
 * whole snapshot is written with source.snapshot "last".
 *
 * Owns: the worker connections and threads. Never: touches the replication
 * connection (the caller keeps it idle so the snapshot stays importable).
 */
#include "sluice/base/clock.h"
#include "sluice/core/snapshot.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/core/snapshot_filter.h"
#include "sluice/pg/catalog.h"
#include "sluice/pg/copyrow.h"
#include "sluice/encode/encode.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"
#include "sluice/pg/conn.h"
#include "sluice/base/testpoint.h"

/* ---- the copy ------------------------------------------------------------ */

typedef struct {
    size_t pidx;        /* index into progress->tables */
    char *name;         /* "schema.table" */
    char *from;         /* "ONLY \"s\".\"t\"" or "\"s\".\"t\"" */
    char *select_list;  /* quoted column names */
    char *where;        /* the publication's row filter, or NULL */
    relcache_entry_t *rel;
    uint32_t nchunks, chunks_done;
    uint64_t rows;      /* produced so far */
    double est_rows;    /* reltuples; < 0 unknown */
    int64_t start_ms, done_ms;
    uint64_t logged_rows;
    int64_t logged_ms;
    bool committed_done; /* a committed checkpoint lists it as done */
} copy_table_t;

typedef struct {
    uint32_t table;
    uint32_t lo, hi; /* block range [lo, hi); hi 0: to the end; lo 0 and hi 0: the whole table */
} chunk_t;

/* A row held back: the last of a chunk, until it is known whether it is the very last. */
typedef struct {
    char *row; /* from PQgetCopyData (PQfreemem) */
    int len;
    uint32_t chunk;
    uint32_t seq;
} held_row_t;

typedef struct {
    const snapshot_args_t *a;
    pthread_mutex_t lock; /* the sink, the progress record, the tables' counters, next_chunk, held */
    copy_table_t *tables;
    size_t ntables;
    chunk_t *chunks;
    size_t nchunks, next_chunk;
    held_row_t held;
    atomic_bool abort;
    pipeline_result_t fail; /* first failure, under lock */
    char fail_err[1024];
    int active_workers;
    bool setup_error; /* a privilege is missing */
    source_txn_t txn;
    char hdr_lsn[24], hdr_xid[12], hdr_batch[24];
    int64_t txn_start_ms;
} copy_t;

typedef struct {
    copy_t *c;
    int id;
    pthread_t thread;
    PGconn *conn;
    encoder_t *enc;
    strbuf_t scratch;
    pgo_value_t *values;
    /* encoded records waiting to be produced: offsets into buf */
    strbuf_t buf;
    struct rec {
        uint32_t table;
        size_t koff, klen, voff, vlen;
        bool has_key;
        uint32_t seq;
    } *recs;
    size_t nrecs, caprecs;
} worker_t;

/* Records the first failure; every worker stops at its next row. Call under lock. */
static void fail_locked(copy_t *c, pipeline_result_t r, const char *fmt, ...) SLUICE_PRINTF(3, 4);
static void fail_locked(copy_t *c, pipeline_result_t r, const char *fmt, ...)
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

/* libpq's message for r (or conn) without its trailing newline, in a static-free buffer. */
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

static pipeline_result_t sink_class(sink_status_t st)
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

/* COPY prints values with the session's settings: pin the forms pgoutput's session has. */
static PGconn *open_conn(copy_t *c, char *err, size_t errlen)
{
    pgconn_spec_t spec = {.conninfo = c->a->cfg->pg_conninfo,
                          .application = "sluice-snapshot",
                          .pin_value_formats = true};
    return pgconn_open(&spec, "snapshot: could not connect to PostgreSQL", err, errlen);
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

/* Produces the worker's encoded records. Call under lock. */
static void produce_locked(worker_t *w)
{
    copy_t *c = w->c;
    for (size_t i = 0; i < w->nrecs && !atomic_load(&c->abort); i++) {
        struct rec *r = &w->recs[i];
        copy_table_t *t = &c->tables[r->table];
        sink_headers_t h = {.lsn = c->hdr_lsn, .xid = c->hdr_xid, .batch = c->hdr_batch, .seq = r->seq};
        char err[512];
        sink_status_t st = sink_produce(c->a->sink, t->rel->topic, -1,
                                        r->has_key ? w->buf.data + r->koff : NULL, r->klen,
                                        w->buf.data + r->voff, r->vlen, &h, err, sizeof err);
        if (st != SINK_OK) {
            fail_locked(c, sink_class(st), "%s", err);
            break;
        }
        t->rows++;
        metrics_snapshot_row();
        c->a->progress->tables[t->pidx].state = SNAPSHOT_TABLE_PARTIAL;
    }
    w->nrecs = 0;
    strbuf_reset(&w->buf);
}

static void flush_records(worker_t *w)
{
    if (!w->nrecs)
        return;
    pthread_mutex_lock(&w->c->lock);
    produce_locked(w);
    pthread_mutex_unlock(&w->c->lock);
}

/* Decodes and encodes one COPY row of table ti into the worker's batch. */
static bool add_row(worker_t *w, uint32_t ti, const char *row, int len, uint32_t seq,
                    const char *marker, char *err, size_t errlen)
{
    copy_t *c = w->c;
    copy_table_t *t = &c->tables[ti];
    const relcache_entry_t *rel = t->rel;
    if (!copyrow_decode(row, (size_t) len, w->values, rel->ncols, &w->scratch, err,
                                  errlen)) {
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
                         .now_ms = clock_wall_ms(),
                         .snapshot = marker};
    if (w->nrecs == w->caprecs) {
        w->caprecs = w->caprecs ? w->caprecs * 2 : 256;
        w->recs = xrealloc(w->recs, w->caprecs * sizeof *w->recs);
    }
    struct rec *r = &w->recs[w->nrecs++];
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

/* A chunk's rows are all in the open transaction (or an earlier one). Call under lock. */
static void complete_chunk_locked(copy_t *c, uint32_t ci)
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

/*
 * The last row of a chunk takes the place of the row held back so far (which
 * is produced now: it is not the last). Call under lock with the worker's
 * batch already produced.
 */
static void hold_last_row_locked(worker_t *w, uint32_t ci, char *row, int len, uint32_t seq)
{
    copy_t *c = w->c;
    if (c->held.row) {
        char err[512];
        uint32_t hc = c->held.chunk;
        if (!add_row(w, c->chunks[hc].table, c->held.row, c->held.len, c->held.seq, NULL, err,
                     sizeof err))
            fail_locked(c, PIPE_PROTOCOL, "%s", err);
        else
            produce_locked(w);
        PQfreemem(c->held.row);
        c->held.row = NULL;
        if (!atomic_load(&c->abort))
            complete_chunk_locked(c, hc);
    }
    c->held = (held_row_t){.row = row, .len = len, .chunk = ci, .seq = seq};
}

static void copy_chunk(worker_t *w, uint32_t ci)
{
    copy_t *c = w->c;
    chunk_t *ch = &c->chunks[ci];
    copy_table_t *t = &c->tables[ch->table];
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
    char err[1024];
    PGresult *r = PQexec(w->conn, sql.data);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        char m[512];
        pthread_mutex_lock(&c->lock);
        if (pg_class_of(r) == PIPE_DATA)
            c->setup_error = true;
        fail_locked(c, pg_class_of(r), "snapshot: COPY of \"%s\" failed: %s%s", t->name,
                    pg_message(w->conn, r, m, sizeof m),
                    pg_class_of(r) == PIPE_DATA ? " (the snapshot needs SELECT on every published "
                                                  "table: see sql/setup.sql)"
                                                : "");
        pthread_mutex_unlock(&c->lock);
        PQclear(r);
        strbuf_free(&sql);
        return;
    }
    PQclear(r);
    strbuf_free(&sql);
    char *prev = NULL;
    int prevlen = 0, n;
    uint32_t seq = 0;
    char *buf;
    bool ok = true;
    while ((n = PQgetCopyData(w->conn, &buf, 0)) > 0) {
        if (prev) {
            if (ok && !add_row(w, ch->table, prev, prevlen, seq, NULL, err, sizeof err)) {
                pthread_mutex_lock(&c->lock);
                fail_locked(c, PIPE_PROTOCOL, "%s", err);
                pthread_mutex_unlock(&c->lock);
                ok = false;
            }
            PQfreemem(prev);
        }
        prev = buf;
        prevlen = n;
        seq++;
        if (atomic_load(&c->abort)) {
            ok = false;
            break; /* the connection is closed with the COPY unfinished */
        }
        if (w->nrecs >= 512 || w->buf.len >= (1u << 20))
            flush_records(w);
        testpoint_hit("snapshot_row");
    }
    if (ok && n == -2) {
        pthread_mutex_lock(&c->lock);
        char m[512];
        fail_locked(c, PIPE_STREAM_LOST, "snapshot: reading COPY of \"%s\" failed: %s", t->name,
                    pg_message(w->conn, NULL, m, sizeof m));
        pthread_mutex_unlock(&c->lock);
        ok = false;
    }
    if (ok) {
        r = PQgetResult(w->conn);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            char m[512];
            pthread_mutex_lock(&c->lock);
            fail_locked(c, PIPE_STREAM_LOST, "snapshot: COPY of \"%s\" failed: %s", t->name,
                        pg_message(w->conn, r, m, sizeof m));
            pthread_mutex_unlock(&c->lock);
            ok = false;
        }
        PQclear(r);
        while ((r = PQgetResult(w->conn)))
            PQclear(r);
    }
    if (!ok) {
        PQfreemem(prev);
        w->nrecs = 0;
        strbuf_reset(&w->buf);
        return;
    }
    pthread_mutex_lock(&c->lock);
    produce_locked(w);
    if (!atomic_load(&c->abort)) {
        if (prev)
            hold_last_row_locked(w, ci, prev, prevlen, seq);
        else
            complete_chunk_locked(c, ci);
        prev = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    PQfreemem(prev);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    copy_t *c = w->c;
    char name[32];
    snprintf(name, sizeof name, "snapshot-%d", w->id);
    log_set_thread_name(name);
    char err[1024];
    w->conn = open_conn(c, err, sizeof err);
    if (!w->conn || !import_snapshot(c, w->conn, err, sizeof err)) {
        pthread_mutex_lock(&c->lock);
        fail_locked(c, PIPE_STREAM_LOST, "%s", err);
        pthread_mutex_unlock(&c->lock);
    }
    while (!atomic_load(&c->abort)) {
        pthread_mutex_lock(&c->lock);
        uint32_t ci = (uint32_t) c->next_chunk;
        bool have = c->next_chunk < c->nchunks;
        if (have) {
            c->next_chunk++;
            copy_table_t *t = &c->tables[c->chunks[ci].table];
            if (!t->start_ms)
                t->start_ms = t->logged_ms = clock_mono_ms();
        }
        pthread_mutex_unlock(&c->lock);
        if (!have)
            break;
        copy_chunk(w, ci);
    }
    PQfinish(w->conn);
    w->conn = NULL;
    pthread_mutex_lock(&c->lock);
    c->active_workers--;
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

static char *quote_ident(PGconn *conn, const char *s)
{
    char *q = PQescapeIdentifier(conn, s, strlen(s));
    char *r = xstrdup(q ? q : "\"?\"");
    PQfreemem(q);
    return r;
}

/* Reads the text[] of attnames ("{a,b}") into a NULL-terminated list; NULL for none (all columns). */
static bool in_column_list(const char *attnames, const char *name)
{
    if (!attnames)
        return true;
    /* array_out quotes names that need it; compare both forms. */
    size_t n = strlen(name);
    const char *p = attnames;
    while (*p) {
        if (*p == '{' || *p == ',' || *p == '}') {
            p++;
            continue;
        }
        if (*p == '"') {
            strbuf_t b = STRBUF_INIT;
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                strbuf_putc(&b, *p++);
            }
            if (*p)
                p++;
            bool eq = b.len == n && memcmp(b.data, name, n) == 0;
            strbuf_free(&b);
            if (eq)
                return true;
            continue;
        }
        const char *e = p;
        while (*e && *e != ',' && *e != '}')
            e++;
        if ((size_t) (e - p) == n && memcmp(p, name, n) == 0)
            return true;
        p = e;
    }
    return false;
}

/*
 * Describes table t as pgoutput would (columns it publishes, key flags of the
 * replica identity) and resolves what the encoder needs, as the pipeline does
 * for a RELATION message. Returns false with err set.
 */
static bool describe_table(copy_t *c, PGconn *conn, relcache_t *cache, catalog_t *cat,
                           pgtype_registry_t *types, encoder_t *enc, copy_table_t *t, uint32_t oid,
                           const char *nsp, const char *relname, char relkind, char replident,
                           const char *attnames, char *err, size_t errlen)
{
    char param[16];
    snprintf(param, sizeof param, "%u", oid);
    const char *params[] = {param};
    PGresult *r = PQexecParams(
        conn,
        "SELECT a.attname, a.atttypid, a.atttypmod, "
        "  CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false "
        "    WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
        "                          AND i.indisreplident AND a.attnum = ANY (i.indkey)) "
        "    ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
        "                 AND i.indisprimary AND a.attnum = ANY (i.indkey)) END "
        "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped "
        "  AND a.attgenerated = '' ORDER BY a.attnum",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "snapshot: columns of \"%s\": %s", t->name, PQresultErrorMessage(r));
        PQclear(r);
        return false;
    }
    int n = PQntuples(r);
    pgo_column_t *cols = xcalloc((size_t) (n ? n : 1), sizeof *cols);
    uint16_t ncols = 0;
    strbuf_t list = STRBUF_INIT;
    for (int i = 0; i < n; i++) {
        const char *name = PQgetvalue(r, i, 0);
        if (!in_column_list(attnames, name))
            continue;
        cols[ncols].name = name;
        cols[ncols].type_oid = (uint32_t) strtoul(PQgetvalue(r, i, 1), NULL, 10);
        cols[ncols].typmod = atoi(PQgetvalue(r, i, 2));
        cols[ncols].is_key = PQgetvalue(r, i, 3)[0] == 't';
        char *q = quote_ident(conn, name);
        if (ncols)
            strbuf_putc(&list, ',');
        strbuf_puts(&list, q);
        free(q);
        ncols++;
    }
    pgo_msg_t m = {.kind = PGO_RELATION};
    m.relation.oid = oid;
    m.relation.nspname = nsp;
    m.relation.relname = relname;
    m.relation.replident = replident;
    m.relation.ncols = ncols;
    m.relation.columns = cols;
    relcache_entry_t *rel = relcache_put(cache, &m);
    free(cols);
    PQclear(r);
    t->select_list = list.data ? list.data : xstrdup("");
    if (!ncols) {
        free(t->select_list);
        t->select_list = xstrdup("NULL"); /* never reached: a published table has columns */
    }
    char *qn = quote_ident(conn, nsp), *qt = quote_ident(conn, relname);
    strbuf_t from = STRBUF_INIT;
    strbuf_appendf(&from, "%s%s.%s", relkind == 'p' ? "" : "ONLY ", qn, qt);
    t->from = from.data;
    free(qn);
    free(qt);

    /* As the pipeline completes a RELATION message: types the built-in table does not know,
     * and the primary key as the Kafka key under REPLICA IDENTITY FULL or NOTHING. */
    if (!catalog_complete_relation(cat, types, rel, false, err, errlen))
        return false;
    encoder_prepare_relation(enc, rel);
    t->rel = rel;
    (void) c;
    return true;
}

/* The partitions of every copied table get a truncate first when Kafka may hold part of an
 * interrupted copy (or the table was asked for again). Call under lock, in a transaction. */
static bool produce_reset(copy_t *c, encoder_t *enc, copy_table_t *t, char *err, size_t errlen)
{
    change_event_t ev = {.op = OP_TRUNCATE,
                         .rel = t->rel,
                         .lsn = c->txn.commit_lsn,
                         .txn = &c->txn,
                         .now_ms = clock_wall_ms(),
                         .snapshot = "true"};
    strbuf_t value = STRBUF_INIT;
    encoder_value(enc, &ev, &value);
    int parts = sink_partition_count(c->a->sink, t->rel->topic);
    sink_headers_t h = {.lsn = c->hdr_lsn, .xid = c->hdr_xid, .batch = c->hdr_batch, .seq = 0};
    for (int p = 0; p < (parts > 0 ? parts : 1); p++) {
        sink_status_t st = sink_produce(c->a->sink, t->rel->topic, parts > 0 ? p : -1, NULL, 0,
                                        value.data, value.len, &h, err, errlen);
        if (st != SINK_OK) {
            strbuf_free(&value);
            c->fail = sink_class(st);
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
    cp.snapshot = snapshot_progress_to_json(a->progress);
    sink_status_t st = sink_commit(a->sink, &cp, a->cfg->slot, err, errlen);
    if (st != SINK_OK) {
        free(cp.snapshot);
        return sink_class(st) == PIPE_STOPPED ? PIPE_REWIND : sink_class(st);
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
        return sink_class(st) == PIPE_STOPPED ? PIPE_REWIND : sink_class(st);
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

/* Lists the publication's tables as of the snapshot and plans their chunks. */
static bool plan(copy_t *c, PGconn *conn, relcache_t *cache, catalog_t *cat,
                 pgtype_registry_t *types, encoder_t *enc, char *err, size_t errlen)
{
    const snapshot_args_t *a = c->a;
    snapshot_progress_t *p = a->progress;
    bool pg15 = PQserverVersion(conn) >= 150000;
    const char *params[] = {a->cfg->publication};
    PGresult *r = PQexecParams(
        conn,
        pg15 ? "SELECT c.oid, pt.schemaname, pt.tablename, c.relkind, c.relreplident, "
               "  pt.attnames::text, pt.rowfilter, "
               "  CASE WHEN c.relkind = 'p' THEN (SELECT max(pg_catalog.pg_relation_size(t.relid)) "
               "    FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf) "
               "    ELSE pg_catalog.pg_relation_size(c.oid) END, "
               "  CASE WHEN c.relkind = 'p' THEN (SELECT sum(greatest(l.reltuples, 0)) "
               "    FROM pg_catalog.pg_partition_tree(c.oid) t JOIN pg_catalog.pg_class l "
               "    ON l.oid = t.relid WHERE t.isleaf) ELSE c.reltuples END, "
               "  current_setting('block_size')::int "
               "FROM pg_catalog.pg_publication_tables pt "
               "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
               "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
               "WHERE pt.pubname = $1 ORDER BY 2, 3"
             : "SELECT c.oid, pt.schemaname, pt.tablename, c.relkind, c.relreplident, "
               "  NULL, NULL, pg_catalog.pg_relation_size(c.oid), c.reltuples, "
               "  current_setting('block_size')::int "
               "FROM pg_catalog.pg_publication_tables pt "
               "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
               "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
               "WHERE pt.pubname = $1 ORDER BY 2, 3",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "snapshot: listing the tables of publication \"%s\": %s",
                 a->cfg->publication, PQresultErrorMessage(r));
        PQclear(r);
        return false;
    }
    int n = PQntuples(r);
    /* The initial snapshot takes every published table; a resumed or requested one only
     * the tables its progress record lists. */
    bool initial = p->ntables == 0;
    /* New tables first, so the pointers taken below stay valid. */
    for (int i = 0; i < n; i++) {
        char name[300];
        snprintf(name, sizeof name, "%s.%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        uint32_t oid = (uint32_t) strtoul(PQgetvalue(r, i, 0), NULL, 10);
        snapshot_table_t *pt = snapshot_progress_find(p, name);
        if (!pt && !initial)
            continue; /* published after the initial snapshot: copied only on request */
        if (!pt)
            pt = snapshot_progress_add(p, name, oid, SNAPSHOT_TABLE_WAITING);
        if (pt->oid != oid && pt->state == SNAPSHOT_TABLE_DONE) {
            /* Dropped and created again since it was copied: copy the new one. */
            pt->state = SNAPSHOT_TABLE_PARTIAL;
        }
        pt->oid = oid;
    }
    /* Tables asked for (or left from before) that the publication no longer has. */
    for (size_t i = 0; i < p->ntables; i++) {
        snapshot_table_t *pt = &p->tables[i];
        bool listed = false;
        for (int j = 0; j < n && !listed; j++) {
            char name[300];
            snprintf(name, sizeof name, "%s.%s", PQgetvalue(r, j, 1), PQgetvalue(r, j, 2));
            listed = strcmp(name, pt->name) == 0;
        }
        if (!listed && pt->state != SNAPSHOT_TABLE_DONE) {
            log_warning("snapshot: table \"%s\" is not in publication \"%s\" (any more): not "
                        "copied",
                        pt->name, a->cfg->publication);
            pt->state = SNAPSHOT_TABLE_DONE;
            pt->lsn = 0;
        }
    }
    c->tables = xcalloc((size_t) (n ? n : 1), sizeof *c->tables);
    size_t cap_chunks = 64;
    c->chunks = xcalloc(cap_chunks, sizeof *c->chunks);
    long long chunk_bytes = a->cfg->snapshot_chunk_bytes;
    for (int i = 0; i < n; i++) {
        char name[300];
        snprintf(name, sizeof name, "%s.%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        snapshot_table_t *pt = snapshot_progress_find(p, name);
        if (!pt || pt->state == SNAPSHOT_TABLE_DONE)
            continue;
        copy_table_t *t = &c->tables[c->ntables];
        t->pidx = (size_t) (pt - p->tables);
        t->name = xstrdup(name);
        t->est_rows = atof(PQgetvalue(r, i, 8));
        const char *attnames = PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5);
        if (!PQgetisnull(r, i, 6))
            t->where = xstrdup(PQgetvalue(r, i, 6));
        c->ntables++;
        if (!describe_table(c, conn, cache, cat, types, enc, t,
                            (uint32_t) strtoul(PQgetvalue(r, i, 0), NULL, 10), PQgetvalue(r, i, 1),
                            PQgetvalue(r, i, 2), PQgetvalue(r, i, 3)[0], PQgetvalue(r, i, 4)[0],
                            attnames, err, errlen)) {
            PQclear(r);
            return false;
        }
        long long bytes = PQgetisnull(r, i, 7) ? 0 : atoll(PQgetvalue(r, i, 7));
        long long block = atoll(PQgetvalue(r, i, 9));
        long long blocks = block > 0 ? (bytes + block - 1) / block : 0;
        long long per = chunk_bytes / (block > 0 ? block : 8192);
        if (per < 1)
            per = 1;
        /* Rows live only in blocks that existed when the snapshot was taken, all below
         * today's size; the last chunk is open-ended all the same. */
        uint32_t nch = blocks <= per ? 1 : (uint32_t) ((blocks + per - 1) / per);
        for (uint32_t k = 0; k < nch; k++) {
            if (c->nchunks == cap_chunks) {
                cap_chunks *= 2;
                c->chunks = xrealloc(c->chunks, cap_chunks * sizeof *c->chunks);
            }
            chunk_t *ch = &c->chunks[c->nchunks++];
            ch->table = (uint32_t) (c->ntables - 1);
            ch->lo = nch == 1 ? 0 : (uint32_t) (k * per);
            ch->hi = nch == 1 || k == nch - 1 ? 0 : (uint32_t) ((k + 1) * per);
        }
        t->nchunks = nch;
    }
    PQclear(r);
    return true;
}

pipeline_result_t snapshot_copy(const snapshot_args_t *a, char *err, size_t errlen)
{
    err[0] = '\0';
    snapshot_progress_t *p = a->progress;
    copy_t c = {.a = a, .fail = PIPE_STOPPED};
    pthread_mutex_init(&c.lock, NULL);
    p->running = true;
    p->epoch++;
    p->consistent_point = a->consistent_point;
    snprintf(c.hdr_lsn, sizeof c.hdr_lsn, LSN_FMT, LSN_ARGS(a->consistent_point));
    snprintf(c.hdr_batch, sizeof c.hdr_batch, "%" PRIu64, a->ckpt->seq + 1);

    encoder_options_t eo = {.server_name = a->cfg->topic_prefix,
                            .db_name = a->db_name,
                            .toast_placeholder = a->cfg->toast_placeholder,
                            .numeric_as_number = a->cfg->numeric_json_number,
                            .schemas = a->cfg->json_schemas,
                            .transaction_block = false};
    encoder_t *enc = encoder_new(a->cfg->format, &eo);
    relcache_t *cache = relcache_new(a->cfg->topic_prefix);
    catalog_t *cat = catalog_new(a->cfg->pg_conninfo);
    pgtype_registry_t *types = pgtype_registry_new();
    worker_t *workers = NULL;
    int nworkers = 0;
    pipeline_result_t result = PIPE_STOPPED;
    bool in_txn = false;

    PGconn *conn = open_conn(&c, err, errlen);
    if (!conn || !import_snapshot(&c, conn, err, errlen)) {
        result = PIPE_STREAM_LOST;
        goto out;
    }
    PGresult *xr = PQexec(conn, "SELECT txid_snapshot_xmin(txid_current_snapshot()) % 4294967296, "
                                "(extract(epoch FROM now()) * 1000000)::bigint");
    if (PQresultStatus(xr) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "snapshot: %s", PQresultErrorMessage(xr));
        PQclear(xr);
        result = PIPE_STREAM_LOST;
        goto out;
    }
    c.txn.xid = (uint32_t) strtoul(PQgetvalue(xr, 0, 0), NULL, 10);
    c.txn.commit_lsn = a->consistent_point;
    c.txn.commit_ts_us = atoll(PQgetvalue(xr, 0, 1));
    snprintf(c.hdr_xid, sizeof c.hdr_xid, "%u", c.txn.xid);
    PQclear(xr);

    if (!plan(&c, conn, cache, cat, types, enc, err, errlen)) {
        result = PIPE_STREAM_LOST;
        goto out;
    }
    PQfinish(conn);
    conn = NULL;
    catalog_free(cat);
    cat = NULL;
    uint64_t total_rows = 0;
    for (size_t i = 0; i < c.ntables; i++)
        total_rows += c.tables[i].est_rows > 0 ? (uint64_t) c.tables[i].est_rows : 0;
    log_info("snapshot %u at " LSN_FMT ": copying %zu tables (~%" PRIu64 " rows, %zu chunks) with "
             "%d workers; %zu tables complete before",
             p->epoch, LSN_ARGS(a->consistent_point), c.ntables, total_rows, c.nchunks,
             a->cfg->snapshot_workers, p->ntables - c.ntables);
    metrics_snapshot_started(p->ntables, p->ntables - c.ntables);

    for (size_t i = 0; i < c.ntables; i++) {
        sink_status_t st;
        for (int attempt = 1;; attempt++) {
            st = sink_ensure_topic(a->sink, c.tables[i].rel->topic, false, 10000, err, errlen);
            if (st != SINK_RETRY || attempt >= 5 || *a->stop)
                break;
            log_warning("%s; retrying", err);
        }
        if (st != SINK_OK) {
            result = st == SINK_RETRY ? PIPE_REWIND : sink_class(st);
            goto out;
        }
    }
    sink_status_t bst = sink_begin(a->sink, err, errlen);
    if (bst != SINK_OK) {
        result = sink_class(bst) == PIPE_STOPPED ? PIPE_REWIND : sink_class(bst);
        goto out;
    }
    in_txn = true;
    c.txn_start_ms = clock_mono_ms();
    for (size_t i = 0; i < c.ntables; i++) {
        snapshot_table_t *pt = &p->tables[c.tables[i].pidx];
        if (pt->state == SNAPSHOT_TABLE_PARTIAL && !produce_reset(&c, enc, &c.tables[i], err, errlen)) {
            result = c.fail;
            goto out;
        }
    }

    nworkers = a->cfg->snapshot_workers;
    if ((size_t) nworkers > c.nchunks)
        nworkers = (int) (c.nchunks ? c.nchunks : 0);
    workers = xcalloc((size_t) (nworkers ? nworkers : 1), sizeof *workers);
    c.active_workers = nworkers;
    for (int i = 0; i < nworkers; i++) {
        worker_t *w = &workers[i];
        w->c = &c;
        w->id = i + 1;
        w->enc = encoder_new(a->cfg->format, &eo);
        w->values = xcalloc(1600, sizeof *w->values); /* MaxTupleAttributeNumber */
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            pthread_mutex_lock(&c.lock);
            fail_locked(&c, PIPE_PROTOCOL, "snapshot: could not start a worker thread");
            c.active_workers -= nworkers - i;
            pthread_mutex_unlock(&c.lock);
            nworkers = i;
            break;
        }
    }

    /* The calling thread commits and reports while the workers copy. */
    bool stopping = false;
    for (;;) {
        usleep(20 * 1000);
        pthread_mutex_lock(&c.lock);
        sink_poll(a->sink);
        if (atomic_load(&c.abort)) {
            pthread_mutex_unlock(&c.lock);
            break;
        }
        if (*a->stop) {
            stopping = true;
            fail_locked(&c, PIPE_STOPPED, "stop requested");
            pthread_mutex_unlock(&c.lock);
            break;
        }
        if (c.active_workers == 0) {
            pthread_mutex_unlock(&c.lock);
            break;
        }
        if (clock_mono_ms() - c.txn_start_ms >= a->cfg->snapshot_commit_interval_ms ||
            (long long) sink_txn_bytes(a->sink) >= a->cfg->commit_max_bytes) {
            pipeline_result_t cr = commit_locked(&c, true, err, errlen);
            if (cr != PIPE_STOPPED) {
                in_txn = sink_in_transaction(a->sink);
                fail_locked(&c, cr, "%s", err);
                pthread_mutex_unlock(&c.lock);
                break;
            }
        }
        log_progress_locked(&c, false);
        pthread_mutex_unlock(&c.lock);
    }
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i].thread, NULL);

    pthread_mutex_lock(&c.lock);
    if (!atomic_load(&c.abort)) {
        /* Every chunk is copied: the row held back is the very last one. */
        if (c.held.row) {
            worker_t *w = &workers[0];
            uint32_t hc = c.held.chunk;
            if (!add_row(w, c.chunks[hc].table, c.held.row, c.held.len, c.held.seq, "last", err,
                         errlen))
                fail_locked(&c, PIPE_PROTOCOL, "%s", err);
            else
                produce_locked(w);
            if (!atomic_load(&c.abort))
                complete_chunk_locked(&c, hc);
        }
        if (!atomic_load(&c.abort)) {
            p->running = false;
            for (size_t i = 0; i < p->ntables; i++)
                if (p->tables[i].state != SNAPSHOT_TABLE_DONE) {
                    p->running = true; /* cannot happen: every planned table completed */
                    log_warning("snapshot: table \"%s\" was not completed", p->tables[i].name);
                }
            result = commit_locked(&c, false, err, errlen);
            in_txn = sink_in_transaction(a->sink);
            if (result == PIPE_STOPPED && !p->running) {
                uint64_t rows = 0;
                for (size_t i = 0; i < c.ntables; i++)
                    rows += c.tables[i].rows;
                log_info("snapshot %u complete: %" PRIu64 " rows of %zu tables in Kafka; streaming "
                         "starts at " LSN_FMT,
                         p->epoch, rows, c.ntables, LSN_ARGS(a->resume_lsn));
            } else if (result != PIPE_STOPPED) {
                p->running = true;
            }
        }
    }
    if (atomic_load(&c.abort)) {
        if (stopping || c.fail == PIPE_STOPPED) {
            /* Keep what is complete: commit what was produced (partial tables are marked so). */
            log_progress_locked(&c, true);
            if (sink_in_transaction(a->sink)) {
                char cerr[1024];
                pipeline_result_t cr = commit_locked(&c, false, cerr, sizeof cerr);
                if (cr != PIPE_STOPPED)
                    log_warning("snapshot: could not commit before stopping: %s", cerr);
            }
            in_txn = sink_in_transaction(a->sink);
            result = PIPE_STOPPED;
            err[0] = '\0';
            log_info("snapshot stopped on request; it resumes at the next start");
        } else {
            result = c.fail;
            snprintf(err, errlen, "%s", c.fail_err);
            if (c.setup_error && a->setup_error)
                *a->setup_error = true;
        }
    }
    pthread_mutex_unlock(&c.lock);

out:
    if (in_txn && sink_in_transaction(a->sink) && result != PIPE_FENCED && result != PIPE_REBUILD) {
        char aerr[512];
        if (sink_abort(a->sink, aerr, sizeof aerr) != SINK_OK)
            log_warning("%s", aerr);
    }
    if (c.held.row)
        PQfreemem(c.held.row);
    metrics_snapshot_ended();
    for (int i = 0; i < nworkers; i++) {
        encoder_free(workers[i].enc);
        strbuf_free(&workers[i].scratch);
        strbuf_free(&workers[i].buf);
        free(workers[i].recs);
        free(workers[i].values);
    }
    free(workers);
    for (size_t i = 0; i < c.ntables; i++) {
        free(c.tables[i].name);
        free(c.tables[i].from);
        free(c.tables[i].select_list);
        free(c.tables[i].where);
    }
    free(c.tables);
    free(c.chunks);
    PQfinish(conn);
    catalog_free(cat);
    relcache_free(cache);
    pgtype_registry_free(types);
    encoder_free(enc);
    pthread_mutex_destroy(&c.lock);
    if (result != PIPE_STOPPED)
        p->running = true;
    return result;
}
