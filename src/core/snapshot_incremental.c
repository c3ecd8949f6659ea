/*
 * snapshot_incremental.c — the incremental snapshot (snapshot_incremental.h):
 * one chunk at a time, by key range, between two watermarks, while the
 * pipeline streams.
 *
 * Why the window is exact. Let S be the snapshot the chunk's SELECT ran in
 * (taken after the low watermark committed, before the high one was
 * written). A row's copy in the window is its state in S. The rows are
 * emitted at the high watermark's place in the stream, after every change
 * committed before it. For one key K:
 *
 *   - a change S shows (its transaction had ended when S was taken) is
 *     already in the copy: the copy, emitted after it, is its state or a
 *     later one, and every change S does not show comes after the copy;
 *   - a change S does not show and that streams before the high watermark
 *     would be undone by the older copy emitted after it: it supersedes K's
 *     row, which is not emitted. The change event is the truth.
 *
 * "S does not show" is decided per transaction from pg_current_snapshot()
 * (xmax and the in-progress list), not from the watermarks alone: a
 * transaction can commit in the WAL before the low watermark yet become
 * visible after S was taken (its backend is between the commit record and
 * leaving the proc array). Such a transaction streams after the SELECT (it
 * is handled as any other) unless the pipeline had emitted it before the
 * SELECT began: the ring of recently emitted xids catches that, and the chunk
 * is read again.
 *
 * Unchanged TOAST. The first change S does not show of a row of the window
 * finds the row exactly as it was just before that change: every earlier
 * change of K is shown by S (a later writer of K waits for the row lock of
 * an earlier one, so it cannot end before it), and no change after S wrote
 * K before this one. So an unchanged TOAST value in that change (an UPDATE
 * without REPLICA IDENTITY FULL) is filled with the window's value, which is
 * exactly the value the row still holds. Later changes of K find the
 * consumer already holding the whole row.
 */
#include "sluice/core/snapshot_incremental.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/chunk_window.h"
#include "sluice/base/clock.h"
#include "sluice/base/log.h"
#include "sluice/pg/conn.h"

#include "snapshot_copy.h"

#define MAX_KEY_COLS 32

struct snapshot_incremental {
    const config_t *cfg;
    catalog_t *cat;
    pgtype_registry_t *types;
    encoder_t *enc;
    snapshot_progress_t *prog;
    PGconn *conn;
    relcache_t *cache;
    /* the table being copied (tidx < 0: none described yet) */
    long tidx;
    uint32_t oid;
    relcache_entry_t *rel;
    char *sql_first, *sql_next; /* the chunk SELECT without and with a lower bound */
    uint16_t nkey;
    uint16_t keypos[MAX_KEY_COLS];
    char *keyname[MAX_KEY_COLS];
    /* the chunk in flight */
    bool in_flight;
    uint64_t run, chunk;
    chunk_window_t *win; /* kept from chunk to chunk (its arena with it) */
    chunk_snapshot_t snap;
    size_t selected;
    char *last[MAX_KEY_COLS]; /* key of the SELECT's last row */
    /* xids the pipeline emitted lately (the pipeline's, kept all session) */
    const xid_ring_t *emitted;
    strbuf_t key;
    pgo_value_t *rowvals;
    /* this session's counts, for the log */
    uint64_t superseded, toast_filled;
};


static PGconn *connect_pg(const config_t *cfg, char *err, size_t errlen)
{
    /* Values are read as text and compared with pgoutput's: pin the same forms. */
    pgconn_spec_t spec = {.conninfo = cfg->pg_conninfo,
                          .application = "sluice-incremental",
                          .pin_value_formats = true};
    return pgconn_open(&spec, "incremental snapshot: could not connect to PostgreSQL", err, errlen);
}

inc_status_t incremental_plan(const config_t *cfg, snapshot_progress_t *p, char *err, size_t errlen)
{
    PGconn *conn = connect_pg(cfg, err, errlen);
    if (!conn)
        return INC_PG_LOST;
    const char *params[] = {cfg->publication};
    PGresult *r = PQexecParams(
        conn,
        "SELECT c.oid, pt.schemaname, pt.tablename, EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
        "  WHERE i.indrelid = c.oid AND " KEY_INDEX_SQL ") "
        "FROM pg_catalog.pg_publication_tables pt "
        "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
        "WHERE pt.pubname = $1 ORDER BY 2, 3",
        1, NULL, params, NULL, NULL, 0);
    char why[512];
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "incremental snapshot: listing the tables of publication \"%s\": %s",
                 cfg->publication, pgconn_result_error(conn, r, why, sizeof why));
        PQclear(r);
        PQfinish(conn);
        return INC_PG_LOST;
    }
    strbuf_t keyless = STRBUF_INIT;
    int nkeyless = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        char name[300];
        snprintf(name, sizeof name, "%s.%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        if (PQgetvalue(r, i, 3)[0] != 't') {
            strbuf_appendf(&keyless, "%s\"%s\"", nkeyless++ ? ", " : "", name);
            continue;
        }
        snapshot_progress_add(p, name, (uint32_t) strtoul(PQgetvalue(r, i, 0), NULL, 10),
                              SNAPSHOT_TABLE_INCREMENTAL);
    }
    PQclear(r);
    PQfinish(conn);
    if (nkeyless) {
        snprintf(err, errlen,
                 "snapshot.method = incremental reads tables in key order, but %d table(s) of "
                 "publication \"%s\" have neither a primary key nor a replica identity index: %s. "
                 "Add a primary key, or use snapshot.method = export",
                 nkeyless, cfg->publication, keyless.data);
        strbuf_free(&keyless);
        return INC_SETUP;
    }
    strbuf_free(&keyless);
    return INC_OK;
}

snapshot_incremental_t *incremental_new(const config_t *cfg, const char *snapshot_json,
                                        catalog_t *cat, pgtype_registry_t *types, encoder_t *enc,
                                        const xid_ring_t *emitted)
{
    if (!snapshot_json)
        return NULL;
    char err[256];
    snapshot_progress_t *p = snapshot_progress_parse(snapshot_json, err, sizeof err);
    if (!p || !snapshot_progress_incremental_pending(p)) {
        snapshot_progress_free(p); /* malformed: the session's start already said so */
        return NULL;
    }
    snapshot_incremental_t *inc = xcalloc(1, sizeof *inc);
    inc->cfg = cfg;
    inc->cat = cat;
    inc->types = types;
    inc->enc = enc;
    inc->emitted = emitted;
    inc->prog = p;
    inc->tidx = -1;
    inc->cache = relcache_new(cfg->topic_prefix);
    /* The run names this session's watermarks: any from an earlier one are stale. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    inc->run = ((uint64_t) ts.tv_sec << 32) ^ (uint64_t) ts.tv_nsec ^ ((uint64_t) getpid() << 20) ^
               (uint64_t) (uintptr_t) inc;
    return inc;
}

/* Forgets the chunk in flight; its window is kept, emptied, for the next one. */
static void drop_chunk(snapshot_incremental_t *inc)
{
    if (inc->win)
        chunk_window_clear(inc->win, 0);
    chunk_snapshot_clear(&inc->snap);
    for (int k = 0; k < MAX_KEY_COLS; k++) {
        free(inc->last[k]);
        inc->last[k] = NULL;
    }
    inc->in_flight = false;
    inc->selected = 0;
}

static void forget_table(snapshot_incremental_t *inc)
{
    free(inc->sql_first);
    free(inc->sql_next);
    inc->sql_first = inc->sql_next = NULL;
    for (int k = 0; k < inc->nkey; k++)
        free(inc->keyname[k]);
    inc->nkey = 0;
    inc->tidx = -1;
    inc->rel = NULL;
}

void incremental_free(snapshot_incremental_t *inc)
{
    if (!inc)
        return;
    drop_chunk(inc);
    chunk_window_free(inc->win);
    forget_table(inc);
    if (inc->conn)
        PQfinish(inc->conn);
    relcache_free(inc->cache);
    snapshot_progress_free(inc->prog);
    strbuf_free(&inc->key);
    free(inc->rowvals);
    free(inc);
}

static char *quote(PGconn *conn, const char *s)
{
    char *q = PQescapeIdentifier(conn, s, strlen(s));
    char *r = xstrdup(q ? q : "\"?\"");
    PQfreemem(q);
    return r;
}

/* Marks table i done (or gone): nothing more to copy of it. */
static void table_done(snapshot_incremental_t *inc, snapshot_table_t *t)
{
    t->state = SNAPSHOT_TABLE_DONE;
    t->lsn = 0; /* no streamed change of it is left out */
    snapshot_table_set_last_key(t, NULL, 0);
    if (!snapshot_progress_incremental_pending(inc->prog) &&
        !snapshot_progress_export_pending(inc->prog))
        inc->prog->running = false;
}

/*
 * The publication's row for table oid: schema, name, relkind, replica
 * identity, and (PostgreSQL 15+) its column list and row filter. No row:
 * the table is not (any more) in the publication.
 */
static PGresult *publication_row(PGconn *conn, const char *publication, const char *oid)
{
    bool pg15 = PQserverVersion(conn) >= 150000;
    const char *params[] = {publication, oid};
    return PQexecParams(
        conn,
        pg15 ? "SELECT n.nspname, c.relname, c.relkind, c.relreplident, pt.attnames::text, "
               "pt.rowfilter FROM pg_catalog.pg_publication_tables pt "
               "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
               "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
               "WHERE pt.pubname = $1 AND c.oid = $2::oid"
             : "SELECT n.nspname, c.relname, c.relkind, c.relreplident, NULL, NULL "
               "FROM pg_catalog.pg_publication_tables pt "
               "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
               "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
               "WHERE pt.pubname = $1 AND c.oid = $2::oid",
        2, NULL, params, NULL, NULL, 0);
}

/* The OID of the table the publication lists as name ("schema.table"), 0 if none, -1 on failure. */
static int64_t published_oid(PGconn *conn, const char *publication, const char *name, char *why,
                             size_t whylen)
{
    const char *params[] = {publication, name};
    PGresult *r = PQexecParams(
        conn,
        "SELECT c.oid FROM pg_catalog.pg_publication_tables pt "
        "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
        "WHERE pt.pubname = $1 AND pt.schemaname || '.' || pt.tablename = $2",
        2, NULL, params, NULL, NULL, 0);
    int64_t oid = PQresultStatus(r) != PGRES_TUPLES_OK ? -1
                  : PQntuples(r) == 1 ? (int64_t) strtoul(PQgetvalue(r, 0, 0), NULL, 10)
                                      : 0;
    if (oid < 0)
        pgconn_result_error(conn, r, why, whylen); /* the query's own message, if it has one */
    PQclear(r);
    return oid;
}

/*
 * Table t's recorded OID is not in the publication (any more). If its name is
 * published under another OID, the table was dropped and created again while
 * its copy was owed: the chunks committed were the old table's, so the entry
 * starts again from the first row under the new OID (*again: describe it).
 * Otherwise the table is done: nothing of it is left to copy.
 */
static inc_status_t oid_gone(snapshot_incremental_t *inc, snapshot_table_t *t, bool *again,
                             char *err, size_t errlen)
{
    char why[512];
    int64_t now = published_oid(inc->conn, inc->cfg->publication, t->name, why, sizeof why);
    if (now < 0) {
        snprintf(err, errlen, "incremental snapshot: looking up \"%s\" by name: %s", t->name, why);
        return INC_PG_LOST;
    }
    if (now && now != t->oid) {
        log_warning("incremental snapshot: table \"%s\" is a new table (OID %" PRId64
                    ", was %u): its copy starts again from its first row",
                    t->name, now, t->oid);
        t->oid = (uint32_t) now;
        t->rows = t->chunks = 0;
        snapshot_table_set_last_key(t, NULL, 0);
        *again = true;
        return INC_OK;
    }
    log_warning("incremental snapshot: table \"%s\" (OID %u) is not in publication \"%s\" "
                "(any more): not copied",
                t->name, t->oid, inc->cfg->publication);
    table_done(inc, t);
    return INC_OK;
}

/*
 * Describes table t as pgoutput would (columns, types, Kafka key) and builds
 * its chunk SELECTs. INC_OK with inc->rel NULL: the table left the
 * publication (marked done).
 */
static inc_status_t describe(snapshot_incremental_t *inc, snapshot_table_t *t, char *err,
                             size_t errlen)
{
    PGconn *conn = inc->conn;
    char oid[16];
    snprintf(oid, sizeof oid, "%u", t->oid);
    char why[512];
    PGresult *r = publication_row(conn, inc->cfg->publication, oid);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "incremental snapshot: describing \"%s\": %s", t->name,
                 pgconn_result_error(conn, r, why, sizeof why));
        PQclear(r);
        return INC_PG_LOST;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        bool again = false;
        inc_status_t st = oid_gone(inc, t, &again, err, errlen);
        return st == INC_OK && again ? describe(inc, t, err, errlen) : st;
    }
    char *select_list = NULL;
    relcache_entry_t *rel = copy_describe_columns(
        inc->cache, conn, oid, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 3)[0],
        PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4), &select_list, err, errlen);
    if (!rel || !catalog_complete_relation(inc->cat, inc->types, rel, false, inc->cfg->json_schemas,
                                           err, errlen)) {
        free(select_list);
        PQclear(r);
        return INC_PG_LOST;
    }
    encoder_prepare_relation(inc->enc, rel);
    char *qn = quote(conn, PQgetvalue(r, 0, 0)), *qt = quote(conn, PQgetvalue(r, 0, 1));
    bool partitioned = PQgetvalue(r, 0, 2)[0] == 'p';
    char *rowfilter = PQgetisnull(r, 0, 5) ? NULL : xstrdup(PQgetvalue(r, 0, 5));
    PQclear(r);

    /* The key in its index's column order, so each chunk is one index range scan. */
    r = PQexecParams(
        conn,
        "SELECT a.attname FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND " KEY_INDEX_SQL " "
        "CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
        "WHERE c.oid = $1::oid ORDER BY k.ord",
        1, NULL, (const char *[]) {oid}, NULL, NULL, 0);
    inc_status_t st = INC_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "incremental snapshot: the key of \"%s\": %s", t->name,
                 pgconn_result_error(conn, r, why, sizeof why));
        st = INC_PG_LOST;
    } else if (PQntuples(r) == 0 || PQntuples(r) > MAX_KEY_COLS) {
        snprintf(err, errlen,
                 "snapshot.method = incremental: table \"%s\" has no primary key or replica "
                 "identity index (any more) to read it in key order by",
                 t->name);
        st = INC_SETUP;
    }
    strbuf_t order = STRBUF_INIT, lower = STRBUF_INIT, sql = STRBUF_INIT;
    for (int k = 0; st == INC_OK && k < PQntuples(r); k++) {
        const char *name = PQgetvalue(r, k, 0);
        int pos = -1;
        for (uint16_t c = 0; c < rel->ncols && pos < 0; c++)
            if (!strcmp(rel->columns[c].name, name))
                pos = c;
        if (pos < 0) {
            snprintf(err, errlen,
                     "snapshot.method = incremental: the column list of publication \"%s\" "
                     "leaves out key column \"%s\" of table \"%s\"",
                     inc->cfg->publication, name, t->name);
            st = INC_SETUP;
            break;
        }
        inc->keypos[k] = (uint16_t) pos;
        inc->keyname[k] = xstrdup(name);
        inc->nkey = (uint16_t) (k + 1);
        char *q = quote(conn, name);
        strbuf_appendf(&order, "%s%s", k ? "," : "", q);
        strbuf_appendf(&lower, "%s$%d", k ? "," : "", k + 1);
        free(q);
    }
    PQclear(r);
    if (st == INC_OK) {
        const char *from_only = partitioned ? "" : "ONLY ";
        strbuf_appendf(&sql, "SELECT %s FROM %s%s.%s%s%s%s ORDER BY %s LIMIT %d", select_list,
                       from_only, qn, qt, rowfilter ? " WHERE (" : "", rowfilter ? rowfilter : "",
                       rowfilter ? ")" : "", order.data, inc->cfg->snapshot_chunk_rows);
        inc->sql_first = xstrdup(sql.data);
        strbuf_reset(&sql);
        strbuf_appendf(&sql, "SELECT %s FROM %s%s.%s WHERE %s%s%s(%s) > (%s) ORDER BY %s LIMIT %d",
                       select_list, from_only, qn, qt, rowfilter ? "(" : "",
                       rowfilter ? rowfilter : "", rowfilter ? ") AND " : "", order.data,
                       lower.data, order.data, inc->cfg->snapshot_chunk_rows);
        inc->sql_next = xstrdup(sql.data);
        inc->rel = rel;
        inc->oid = t->oid;
        inc->tidx = (long) (t - inc->prog->tables);
        inc->rowvals = xrealloc(inc->rowvals, (rel->ncols ? rel->ncols : 1) * sizeof *inc->rowvals);
    }
    strbuf_free(&order);
    strbuf_free(&lower);
    strbuf_free(&sql);
    free(select_list);
    free(qn);
    free(qt);
    free(rowfilter);
    return st;
}

static bool exec_ok(PGconn *conn, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        char why[512];
        snprintf(err, errlen, "incremental snapshot: %s: %s", what,
                 pgconn_result_error(conn, r, why, sizeof why));
        PQclear(r);
        return false;
    }
    PQclear(r);
    return true;
}

/* Writes a watermark: a transactional logical decoding message, committed at once. */
static bool emit_watermark(snapshot_incremental_t *inc, bool high, char *err, size_t errlen)
{
    watermark_t w = {.high = high, .run = inc->run, .chunk = inc->chunk};
    char content[64];
    watermark_format(&w, content, sizeof content);
    const char *params[] = {WATERMARK_PREFIX, content};
    PGresult *r = PQexecParams(inc->conn, "SELECT pg_catalog.pg_logical_emit_message(true, $1, $2)",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char why[512];
        snprintf(err, errlen, "incremental snapshot: writing the %s watermark: %s",
                 high ? "high" : "low", pgconn_result_error(inc->conn, r, why, sizeof why));
        PQclear(r);
        return false;
    }
    PQclear(r);
    return true;
}

/* The window key of row vals (text by column) in key order, into inc->key. */
static void key_of_values(snapshot_incremental_t *inc, const chunk_value_t *vals)
{
    chunk_value_t kv[MAX_KEY_COLS];
    for (uint16_t k = 0; k < inc->nkey; k++)
        kv[k] = vals[inc->keypos[k]];
    strbuf_reset(&inc->key);
    chunk_key_encode(&inc->key, kv, inc->nkey);
}

/* Runs the chunk's SELECT in a snapshot of its own, filling a new window. */
static bool select_chunk(snapshot_incremental_t *inc, snapshot_table_t *t, char *err, size_t errlen)
{
    PGconn *conn = inc->conn;
    if (!exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "BEGIN", err, errlen))
        return false;
    /* The first statement takes the transaction's snapshot: this one reports it. */
    PGresult *r = PQexec(conn, "SELECT pg_catalog.pg_current_snapshot()::text");
    char why[512];
    if (PQresultStatus(r) != PGRES_TUPLES_OK ||
        !chunk_snapshot_parse(PQgetvalue(r, 0, 0), &inc->snap)) {
        snprintf(err, errlen, "incremental snapshot: reading the chunk's snapshot: %s",
                 PQresultStatus(r) == PGRES_TUPLES_OK
                     ? "unreadable"
                     : pgconn_result_error(conn, r, why, sizeof why));
        PQclear(r);
        exec_ok(conn, "ROLLBACK", "ROLLBACK", why, sizeof why);
        return false;
    }
    PQclear(r);
    const char *params[MAX_KEY_COLS];
    for (size_t k = 0; k < t->nkey && k < MAX_KEY_COLS; k++)
        params[k] = t->last_key[k];
    if (t->nkey && t->nkey != inc->nkey) {
        snprintf(err, errlen,
                 "incremental snapshot: the checkpoint records a key of %zu column(s) for \"%s\", "
                 "its key has %u now",
                 t->nkey, t->name, inc->nkey);
        exec_ok(conn, "ROLLBACK", "ROLLBACK", why, sizeof why);
        return false;
    }
    r = t->nkey ? PQexecParams(conn, inc->sql_next, (int) t->nkey, NULL, params, NULL, NULL, 0)
                : PQexec(conn, inc->sql_first);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "incremental snapshot: reading a chunk of \"%s\": %s", t->name,
                 pgconn_result_error(conn, r, why, sizeof why));
        PQclear(r);
        exec_ok(conn, "ROLLBACK", "ROLLBACK", why, sizeof why);
        return false;
    }
    uint16_t ncols = inc->rel->ncols;
    if (inc->win)
        chunk_window_clear(inc->win, ncols);
    else
        inc->win = chunk_window_new(ncols);
    chunk_value_t vals[ncols ? ncols : 1];
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        for (uint16_t c = 0; c < ncols; c++)
            vals[c] = PQgetisnull(r, i, c)
                          ? (chunk_value_t){NULL, 0}
                          : (chunk_value_t){PQgetvalue(r, i, c), (size_t) PQgetlength(r, i, c)};
        key_of_values(inc, vals);
        chunk_window_add(inc->win, vals, inc->key.data, inc->key.len);
        if (i == n - 1)
            for (uint16_t k = 0; k < inc->nkey; k++)
                inc->last[k] = xstrdup(vals[inc->keypos[k]].data ? vals[inc->keypos[k]].data : "");
    }
    inc->selected = (size_t) n;
    PQclear(r);
    return exec_ok(conn, "COMMIT", "COMMIT", err, errlen);
}

/*
 * A transaction the pipeline emitted before the SELECT that the chunk's
 * snapshot does not show (it committed in the WAL, but had not yet left the
 * proc array): its change is in Kafka, before rows that do not show it.
 */
static bool emitted_invisible(const snapshot_incremental_t *inc)
{
    return chunk_snapshot_hides_any(&inc->snap, inc->emitted);
}

/* A deliberately broken build (make build/mutants/sluice-FORGET_LAST_KEY; the others are
 * below): every session starts a table again from its first key, forgetting the last key
 * the checkpoint recorded. make snapshot-crash must fail it (V8). */
#ifdef SLUICE_MUTANT_FORGET_LAST_KEY
#define mutant_forget_last_key() true
#else
#define mutant_forget_last_key() false
#endif

bool incremental_in_flight(const snapshot_incremental_t *inc)
{
    return inc && inc->in_flight;
}

inc_status_t incremental_step(snapshot_incremental_t *inc, char *err, size_t errlen)
{
    if (!inc || inc->in_flight)
        return INC_OK;
    snapshot_table_t *t = NULL;
    for (;;) {
        t = NULL;
        for (size_t i = 0; i < inc->prog->ntables && !t; i++)
            if (inc->prog->tables[i].state == SNAPSHOT_TABLE_INCREMENTAL)
                t = &inc->prog->tables[i];
        if (!t)
            return INC_OK;
        if (!inc->conn && !(inc->conn = connect_pg(inc->cfg, err, errlen)))
            return INC_PG_LOST;
        if (inc->tidx == (long) (t - inc->prog->tables) && inc->rel)
            break;
        forget_table(inc);
        inc_status_t st = describe(inc, t, err, errlen);
        if (st != INC_OK)
            return st;
        if (mutant_forget_last_key())
            snapshot_table_set_last_key(t, NULL, 0);
        if (inc->rel)
            break;
    }
    inc->chunk++;
    if (!emit_watermark(inc, false, err, errlen) || !select_chunk(inc, t, err, errlen)) {
        drop_chunk(inc);
        PQfinish(inc->conn);
        inc->conn = NULL;
        return INC_PG_LOST;
    }
    if (emitted_invisible(inc)) {
        log_info("incremental snapshot: a transaction sluice emitted before chunk %" PRIu64
                 " of \"%s\" was not yet visible to its SELECT; reading the chunk again",
                 inc->chunk, t->name);
        drop_chunk(inc);
        return INC_OK;
    }
    if (!emit_watermark(inc, true, err, errlen)) {
        drop_chunk(inc);
        PQfinish(inc->conn);
        inc->conn = NULL;
        return INC_PG_LOST;
    }
    inc->in_flight = true;
    log_debug("incremental snapshot: chunk %" PRIu64 " of \"%s\": %zu rows after %s%s", inc->chunk,
              t->name, inc->selected, t->nkey ? "key " : "the start",
              t->nkey ? t->last_key[0] : "");
    return INC_OK;
}

/* The window key of a streamed tuple of rel; false when a key value is not text. */
static bool key_of_tuple(snapshot_incremental_t *inc, const relcache_entry_t *rel,
                         const pgo_tuple_t *tup)
{
    chunk_value_t kv[MAX_KEY_COLS];
    for (uint16_t k = 0; k < inc->nkey; k++) {
        int pos = -1;
        for (uint16_t c = 0; c < rel->ncols && pos < 0; c++)
            if (!strcmp(rel->columns[c].name, inc->keyname[k]))
                pos = c;
        if (pos < 0 || pos >= tup->ncols)
            return false;
        const pgo_value_t *v = &tup->values[pos];
        if (v->kind == PGO_VALUE_NULL)
            kv[k] = (chunk_value_t){NULL, 0};
        else if (v->kind == PGO_VALUE_TEXT)
            kv[k] = (chunk_value_t){v->data, v->len};
        else
            return false; /* an unchanged TOASTed key: the old key (if sent) names the row */
    }
    strbuf_reset(&inc->key);
    chunk_key_encode(&inc->key, kv, inc->nkey);
    return true;
}

/* Fills neu's unchanged TOAST values from row i of the window (the row just before). */
static void fill_toast(snapshot_incremental_t *inc, const relcache_entry_t *rel, pgo_tuple_t *neu,
                       size_t i)
{
    const chunk_value_t *vals = chunk_window_row(inc->win, i);
    for (uint16_t c = 0; c < neu->ncols && c < rel->ncols; c++) {
        pgo_value_t *v = &neu->values[c];
        if (v->kind != PGO_VALUE_UNCHANGED_TOAST)
            continue;
        for (uint16_t w = 0; w < inc->rel->ncols; w++)
            if (!strcmp(inc->rel->columns[w].name, rel->columns[c].name)) {
                inc->toast_filled++;
                if (vals[w].data)
                    *v = (pgo_value_t){.kind = PGO_VALUE_TEXT,
                                       .len = (uint32_t) vals[w].len,
                                       .data = vals[w].data};
                else
                    *v = (pgo_value_t){.kind = PGO_VALUE_NULL};
                break;
            }
    }
}

/*
 * Deliberately broken builds (make build/mutants/sluice-NAME): the crash
 * test must fail each. NO_SUPERSEDE emits every copied row at the high
 * watermark, whatever the stream changed meanwhile; NO_TOAST_FILL supersedes
 * rows but leaves the placeholder in the change that superseded them.
 */
#ifdef SLUICE_MUTANT_NO_SUPERSEDE
#define mutant_no_supersede() true
#else
#define mutant_no_supersede() false
#endif
#ifdef SLUICE_MUTANT_NO_TOAST_FILL
#define mutant_no_toast_fill() true
#else
#define mutant_no_toast_fill() false
#endif

void incremental_on_change(snapshot_incremental_t *inc, uint32_t xid, const relcache_entry_t *rel,
                           const pgo_tuple_t *old, pgo_tuple_t *neu)
{
    if (mutant_no_supersede())
        return;
    if (!inc || !inc->in_flight || rel->oid != inc->oid)
        return;
    if (chunk_snapshot_shows(&inc->snap, xid))
        return; /* the chunk's copy already holds it, and is emitted after it */
    /* The row the change writes: its old key (DELETE, or an UPDATE that sent one), else its key. */
    const pgo_tuple_t *by = old ? old : neu;
    if (by && key_of_tuple(inc, rel, by)) {
        long i = chunk_window_find_live(inc->win, inc->key.data, inc->key.len);
        if (i >= 0) {
            if (neu && !mutant_no_toast_fill())
                fill_toast(inc, rel, neu, (size_t) i);
            chunk_window_supersede(inc->win, (size_t) i);
        }
    }
    /* A key changed onto a key of the window: that row too is older than this change. */
    if (old && neu && key_of_tuple(inc, rel, neu)) {
        long i = chunk_window_find_live(inc->win, inc->key.data, inc->key.len);
        if (i >= 0)
            chunk_window_supersede(inc->win, (size_t) i);
    }
}

void incremental_on_truncate(snapshot_incremental_t *inc, uint32_t xid, uint32_t relid)
{
    if (!inc || !inc->in_flight || relid != inc->oid || chunk_snapshot_shows(&inc->snap, xid))
        return;
    for (size_t i = 0; i < chunk_window_rows(inc->win); i++)
        chunk_window_supersede(inc->win, i);
}

char *incremental_on_watermark(snapshot_incremental_t *inc, const char *content, size_t len,
                               incremental_emit_fn emit, void *ctx, bool *failed)
{
    *failed = false;
    watermark_t w;
    if (!watermark_parse(content, len, &w)) {
        log_warning("ignoring a \"" WATERMARK_PREFIX "\" message that is not a watermark: "
                    "\"%.*s\"",
                    (int) (len > 80 ? 80 : len), content);
        return NULL;
    }
    if (!inc || !inc->in_flight || w.run != inc->run || w.chunk != inc->chunk) {
        log_debug("ignoring the %s watermark of chunk %016" PRIx64 "/%" PRIu64
                  ": not the chunk in flight (abandoned by an earlier session, or read again)",
                  w.high ? "high" : "low", w.run, w.chunk);
        return NULL;
    }
    if (!w.high)
        return NULL;
    snapshot_table_t *t = &inc->prog->tables[inc->tidx];
    const relcache_entry_t *rel = inc->rel;
    uint64_t emitted = 0;
    for (size_t i = 0; i < chunk_window_rows(inc->win) && !*failed; i++) {
        if (!chunk_window_is_live(inc->win, i))
            continue;
        const chunk_value_t *vals = chunk_window_row(inc->win, i);
        for (uint16_t c = 0; c < rel->ncols; c++)
            inc->rowvals[c] = vals[c].data ? (pgo_value_t){.kind = PGO_VALUE_TEXT,
                                                           .len = (uint32_t) vals[c].len,
                                                           .data = vals[c].data}
                                           : (pgo_value_t){.kind = PGO_VALUE_NULL};
        pgo_tuple_t row = {.ncols = rel->ncols, .values = inc->rowvals};
        if (!emit(ctx, rel, &row))
            *failed = true;
        emitted++;
    }
    if (*failed) {
        drop_chunk(inc);
        return NULL;
    }
    t->rows += emitted;
    t->chunks++;
    size_t superseded = chunk_window_rows(inc->win) - chunk_window_live(inc->win);
    inc->superseded += superseded;
    if (inc->selected)
        snapshot_table_set_last_key(t, (const char *const *) inc->last, inc->nkey);
    log_debug("incremental snapshot: chunk %" PRIu64 " of \"%s\": %" PRIu64 " rows emitted, %zu "
              "superseded by streamed changes",
              inc->chunk, t->name, emitted, superseded);
    if (inc->selected < (size_t) inc->cfg->snapshot_chunk_rows) {
        log_info("incremental snapshot of \"%s\" complete: %" PRIu64 " rows in %" PRIu64
                 " chunks (this session so far: %" PRIu64 " copied rows superseded by streamed "
                 "changes, %" PRIu64 " unchanged TOAST values filled from the copies)",
                 t->name, t->rows, t->chunks, inc->superseded, inc->toast_filled);
        table_done(inc, t);
        forget_table(inc);
        if (!inc->prog->running)
            log_info(
                "incremental snapshot complete: every table is in Kafka (this session: %" PRIu64
                " copied rows superseded by streamed changes, %" PRIu64
                " unchanged TOAST values filled from the copies)",
                inc->superseded, inc->toast_filled);
    }
    drop_chunk(inc);
    return snapshot_progress_to_json(inc->prog);
}

snapshot_progress_t *incremental_progress(snapshot_incremental_t *inc)
{
    return inc->prog;
}
