/*
 * snapshot_plan.c — what a snapshot copies: the publication's tables as of
 * the exported snapshot, each described as pgoutput would describe it
 * (published columns, replica identity key flags, row filter), completed
 * with types and Kafka key as the pipeline completes a RELATION message, and
 * cut into block-range chunks of about snapshot.chunk.bytes.
 *
 * Owns: nothing past the call (the copy_t holds what it fills). Never:
 * copies a row or talks to Kafka.
 */
#include "snapshot_copy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/log.h"

/* The columns of list_tables' answer. */
enum {
    T_OID,
    T_SCHEMA,
    T_TABLE,
    T_RELKIND,
    T_REPLIDENT,
    T_ATTNAMES,  /* the publication's column list as text[] (15+), NULL for all columns */
    T_ROWFILTER, /* the publication's row filter (15+), or NULL */
    T_BYTES,     /* size on disk (the largest partition of a partitioned table) */
    T_TUPLES,    /* reltuples (summed over partitions) */
    T_BLOCK,     /* block_size */
};

/* The publication's tables as this snapshot sees them; NULL with err set. */
static PGresult *list_tables(const copy_t *c, PGconn *conn, char *err, size_t errlen)
{
    const char *publication = c->a->cfg->publication;
    bool pg15 = PQserverVersion(conn) >= 150000;
    const char *params[] = {publication};
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
                 publication, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

/* "schema.table" of row i. */
static void table_name(const PGresult *r, int i, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s.%s", PQgetvalue(r, i, T_SCHEMA), PQgetvalue(r, i, T_TABLE));
}

/*
 * Brings the progress record up to date with the listing: the initial
 * snapshot takes every published table, a resumed or requested one only the
 * tables its record lists; a table dropped and created again since it was
 * copied is copied again; one the publication no longer has is not copied.
 */
static void reconcile_progress(const copy_t *c, const PGresult *r)
{
    snapshot_progress_t *p = c->a->progress;
    int n = PQntuples(r);
    bool initial = p->ntables == 0;
    /* New tables first, so the pointers taken below stay valid. */
    for (int i = 0; i < n; i++) {
        char name[300];
        table_name(r, i, name, sizeof name);
        uint32_t oid = (uint32_t) strtoul(PQgetvalue(r, i, T_OID), NULL, 10);
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
            table_name(r, j, name, sizeof name);
            listed = strcmp(name, pt->name) == 0;
        }
        if (!listed && pt->state != SNAPSHOT_TABLE_DONE) {
            log_warning("snapshot: table \"%s\" is not in publication \"%s\" (any more): not "
                        "copied",
                        pt->name, c->a->cfg->publication);
            pt->state = SNAPSHOT_TABLE_DONE;
            pt->lsn = 0;
        }
    }
}

static char *quote_ident(PGconn *conn, const char *s)
{
    char *q = PQescapeIdentifier(conn, s, strlen(s));
    char *r = xstrdup(q ? q : "\"?\"");
    PQfreemem(q);
    return r;
}

/* Whether name is in the text[] attnames ("{a,b}"); NULL (no column list) holds every column. */
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

relcache_entry_t *copy_describe_columns(relcache_t *cache, PGconn *conn, const char *oid,
                                        const char *nspname, const char *relname, char replident,
                                        const char *attnames, char **select_list_out, char *err,
                                        size_t errlen)
{
    const char *params[] = {oid};
    /* PostgreSQL 18 publishes stored generated columns that the publication asks for
     * (publish_generated_columns = stored, or named in its column list); its attnames
     * then lists exactly the published columns. Before 18 none is ever published. */
    bool pg18 = PQserverVersion(conn) >= 180000;
#define COLUMNS_SQL(generated, which)                                                              \
    "SELECT a.attname, a.atttypid, a.atttypmod, "                                                  \
    "  CASE c.relreplident WHEN 'f' THEN true WHEN 'n' THEN false "                                \
    "    WHEN 'i' THEN EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "      \
    "                          AND i.indisreplident AND a.attnum = ANY (i.indkey)) "               \
    "    ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "               \
    "                 AND i.indisprimary AND a.attnum = ANY (i.indkey)) END, " generated " "       \
    "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "             \
    "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped "                          \
    "  AND " which " ORDER BY a.attnum"
    PGresult *r = PQexecParams(
        conn,
        pg18 ? COLUMNS_SQL("a.attgenerated = 's'", "a.attgenerated IN ('', 's')")
             : COLUMNS_SQL("false", "a.attgenerated = ''"),
        1, NULL, params, NULL, NULL, 0);
#undef COLUMNS_SQL
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "snapshot: columns of \"%s.%s\": %s", nspname, relname,
                 PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    int n = PQntuples(r);
    pgo_column_t *cols = xcalloc((size_t) (n ? n : 1), sizeof *cols);
    uint16_t ncols = 0;
    strbuf_t select_list = STRBUF_INIT;
    for (int k = 0; k < n; k++) {
        const char *name = PQgetvalue(r, k, 0);
        bool generated = PQgetvalue(r, k, 4)[0] == 't';
        if (!in_column_list(attnames, name) || (generated && !attnames))
            continue;
        cols[ncols].name = name;
        cols[ncols].type_oid = (uint32_t) strtoul(PQgetvalue(r, k, 1), NULL, 10);
        cols[ncols].typmod = atoi(PQgetvalue(r, k, 2));
        cols[ncols].is_key = PQgetvalue(r, k, 3)[0] == 't';
        char *q = quote_ident(conn, name);
        if (ncols)
            strbuf_putc(&select_list, ',');
        strbuf_puts(&select_list, q);
        free(q);
        ncols++;
    }
    pgo_msg_t m = {.kind = PGO_RELATION};
    m.relation.oid = (uint32_t) strtoul(oid, NULL, 10);
    m.relation.nspname = nspname;
    m.relation.relname = relname;
    m.relation.replident = replident;
    m.relation.ncols = ncols;
    m.relation.columns = cols;
    relcache_entry_t *rel = relcache_put(cache, &m);
    free(cols);
    PQclear(r);
    if (ncols) {
        *select_list_out = select_list.data;
    } else {
        strbuf_free(&select_list);
        *select_list_out = xstrdup("NULL"); /* never reached: a published table has columns */
    }
    return rel;
}

/* copy_describe_columns for the table of listing row i; sets t->select_list. */
static relcache_entry_t *describe_columns(copy_t *c, PGconn *conn, copy_table_t *t,
                                          const PGresult *list, int i, char *err, size_t errlen)
{
    return copy_describe_columns(
        c->cache, conn, PQgetvalue(list, i, T_OID), PQgetvalue(list, i, T_SCHEMA),
        PQgetvalue(list, i, T_TABLE), PQgetvalue(list, i, T_REPLIDENT)[0],
        PQgetisnull(list, i, T_ATTNAMES) ? NULL : PQgetvalue(list, i, T_ATTNAMES),
        &t->select_list, err, errlen);
}

/*
 * Describes the table of listing row i as pgoutput would and completes it as
 * the pipeline completes a RELATION message (catalog_complete_relation), so
 * its events are encoded exactly as streamed ones. Returns false with err set.
 */
static bool describe_table(copy_t *c, PGconn *conn, copy_table_t *t, const PGresult *list, int i,
                           char *err, size_t errlen)
{
    relcache_entry_t *rel = describe_columns(c, conn, t, list, i, err, errlen);
    if (!rel)
        return false;
    char *qn = quote_ident(conn, rel->nspname), *qt = quote_ident(conn, rel->relname);
    strbuf_t from = STRBUF_INIT;
    strbuf_appendf(&from, "%s%s.%s", PQgetvalue(list, i, T_RELKIND)[0] == 'p' ? "" : "ONLY ", qn,
                   qt);
    t->from = from.data;
    free(qn);
    free(qt);
    if (!catalog_complete_relation(c->cat, c->types, rel, false, config_column_metadata(c->a->cfg), err,
                                   errlen))
        return false;
    encoder_prepare_relation(c->enc, rel);
    t->rel = rel;
    return true;
}

/* Cuts the table of listing row i (c->tables[c->ntables - 1]) into chunks of about
 * snapshot.chunk.bytes; *cap is the capacity of c->chunks. */
static void plan_chunks(copy_t *c, const PGresult *list, int i, size_t *cap)
{
    long long chunk_bytes = c->a->cfg->snapshot_chunk_bytes;
    long long bytes = PQgetisnull(list, i, T_BYTES) ? 0 : atoll(PQgetvalue(list, i, T_BYTES));
    long long block = atoll(PQgetvalue(list, i, T_BLOCK));
    long long blocks = block > 0 ? (bytes + block - 1) / block : 0;
    long long per = chunk_bytes / (block > 0 ? block : 8192);
    if (per < 1)
        per = 1;
    /* Rows live only in blocks that existed when the snapshot was taken, all below
     * today's size; the last chunk is open-ended all the same. */
    uint32_t nch = blocks <= per ? 1 : (uint32_t) ((blocks + per - 1) / per);
    for (uint32_t k = 0; k < nch; k++) {
        if (c->nchunks == *cap) {
            *cap *= 2;
            c->chunks = xrealloc(c->chunks, *cap * sizeof *c->chunks);
        }
        copy_chunk_t *ch = &c->chunks[c->nchunks++];
        ch->table = (uint32_t) (c->ntables - 1);
        ch->lo = nch == 1 ? 0 : (uint32_t) (k * per);
        ch->hi = nch == 1 || k == nch - 1 ? 0 : (uint32_t) ((k + 1) * per);
    }
    c->tables[c->ntables - 1].nchunks = nch;
}

bool copy_plan(copy_t *c, PGconn *conn, char *err, size_t errlen)
{
    snapshot_progress_t *p = c->a->progress;
    PGresult *r = list_tables(c, conn, err, errlen);
    if (!r)
        return false;
    reconcile_progress(c, r);
    int n = PQntuples(r);
    c->tables = xcalloc((size_t) (n ? n : 1), sizeof *c->tables);
    size_t cap_chunks = 64;
    c->chunks = xcalloc(cap_chunks, sizeof *c->chunks);
    for (int i = 0; i < n; i++) {
        char name[300];
        table_name(r, i, name, sizeof name);
        snapshot_table_t *pt = snapshot_progress_find(p, name);
        /* Done, or copied in chunks while streaming (snapshot_incremental.h). */
        if (!pt || pt->state == SNAPSHOT_TABLE_DONE || pt->state == SNAPSHOT_TABLE_INCREMENTAL)
            continue;
        copy_table_t *t = &c->tables[c->ntables];
        t->pidx = (size_t) (pt - p->tables);
        t->name = xstrdup(name);
        t->est_rows = atof(PQgetvalue(r, i, T_TUPLES));
        if (!PQgetisnull(r, i, T_ROWFILTER))
            t->where = xstrdup(PQgetvalue(r, i, T_ROWFILTER));
        c->ntables++;
        if (!describe_table(c, conn, t, r, i, err, errlen)) {
            PQclear(r);
            return false;
        }
        plan_chunks(c, r, i, &cap_chunks);
    }
    PQclear(r);
    return true;
}
