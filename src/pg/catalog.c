/*
 * catalog.c — type and primary-key lookups on an ordinary libpq connection,
 * and completing a relation with them.
 *
 * Owns: that connection. Never: logs (errors go back to the pipeline, which
 * decides to reconnect), or touches the replication connection.
 */
#include "sluice/pg/catalog.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/buf.h"
#include "sluice/pg/conn.h"

/* Composites nest (a field of a composite type, an array of those); cycles cannot exist
 * in PostgreSQL, this only bounds a corrupt answer. */
#define MAX_TYPE_DEPTH 16

struct catalog {
    char *conninfo;
    PGconn *conn;
};

catalog_t *catalog_new(const char *conninfo)
{
    catalog_t *c = xcalloc(1, sizeof *c);
    c->conninfo = xstrdup(conninfo ? conninfo : "");
    return c;
}

void catalog_free(catalog_t *c)
{
    if (!c)
        return;
    PQfinish(c->conn);
    free(c->conninfo);
    free(c);
}

static void set_err(char *err, size_t errlen, const char *context, PGconn *conn, PGresult *r)
{
    char why[512];
    snprintf(err, errlen, "catalog lookup: %s: %s", context,
             pgconn_result_error(conn, r, why, sizeof why));
}

/*
 * The session prints values as pgoutput's does (pin_value_formats), since
 * column defaults are evaluated here and written like the column's values;
 * it is read-only, as nothing sluice asks the catalog may write.
 */
static bool ensure_conn(catalog_t *c, char *err, size_t errlen)
{
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
        return true;
    PQfinish(c->conn);
    pgconn_spec_t spec = {.conninfo = c->conninfo, .application = "sluice-catalog",
                          .pin_value_formats = true};
    c->conn = pgconn_open(&spec, "catalog lookup: could not connect to PostgreSQL", err, errlen);
    if (!c->conn)
        return false;
    PGresult *r = PQexec(c->conn, "SET default_transaction_read_only = on");
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        set_err(err, errlen, "setting up the session", c->conn, r);
        PQfinish(c->conn);
        c->conn = NULL;
    }
    PQclear(r);
    return ok;
}

/* Runs a one-parameter (oid) query; NULL with err set on failure. */
static PGresult *query_oid(catalog_t *c, const char *sql, uint32_t oid, char *err, size_t errlen)
{
    if (!ensure_conn(c, err, errlen))
        return NULL;
    char param[16];
    snprintf(param, sizeof param, "%u", oid);
    const char *params[] = {param};
    PGresult *r = PQexecParams(c->conn, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        set_err(err, errlen, "query failed", c->conn, r);
        PQclear(r);
        /* A broken connection is reopened next time. */
        if (PQstatus(c->conn) != CONNECTION_OK) {
            PQfinish(c->conn);
            c->conn = NULL;
        }
        return NULL;
    }
    return r;
}

static bool resolve(catalog_t *c, pgtype_registry_t *reg, uint32_t oid, int depth,
                    const pgtype_t **out, char *err, size_t errlen);

static bool resolve_composite(catalog_t *c, pgtype_registry_t *reg, uint32_t oid,
                              uint32_t relid, const char *name, int depth, const pgtype_t **out,
                              char *err, size_t errlen)
{
    PGresult *r = query_oid(c,
                            "SELECT attname, atttypid, atttypmod FROM pg_catalog.pg_attribute "
                            "WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped "
                            "ORDER BY attnum",
                            relid, err, errlen);
    if (!r)
        return false;
    int n = PQntuples(r);
    pgtype_t *t = pgtype_new_composite(oid, name, (uint16_t) n);
    for (int i = 0; i < n; i++) {
        const pgtype_t *ft;
        if (!resolve(c, reg, (uint32_t) strtoul(PQgetvalue(r, i, 1), NULL, 10), depth + 1, &ft,
                     err, errlen)) {
            PQclear(r);
            /* Never registered: a throwaway registry frees what was built. */
            pgtype_registry_t *tmp = pgtype_registry_new();
            pgtype_registry_put(tmp, t);
            pgtype_registry_free(tmp);
            return false;
        }
        t->field_names[i] = xstrdup(PQgetvalue(r, i, 0));
        t->field_types[i] = ft;
        t->field_typmods[i] = (int32_t) strtol(PQgetvalue(r, i, 2), NULL, 10);
    }
    PQclear(r);
    *out = pgtype_registry_put(reg, t);
    return true;
}

static bool resolve(catalog_t *c, pgtype_registry_t *reg, uint32_t oid, int depth,
                    const pgtype_t **out, char *err, size_t errlen)
{
    const pgtype_t *known = pgtype_registry_get(reg, oid);
    if (known) {
        *out = known;
        return true;
    }
    if (depth > MAX_TYPE_DEPTH) {
        *out = pgtype_unknown();
        return true;
    }
    PGresult *r = query_oid(
        c,
        "SELECT t.typtype, t.typbasetype, t.typelem, t.typdelim, t.typrelid, t.typlen, "
        "t.typsubscript = 'pg_catalog.array_subscript_handler'::pg_catalog.regproc, "
        "n.nspname || '.' || t.typname, t.typtypmod, "
        "(SELECT pg_catalog.string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) "
        " FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) "
        "FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace "
        "WHERE t.oid = $1::oid",
        oid, err, errlen);
    if (!r)
        return false;
    if (PQntuples(r) != 1) {
        /* Dropped since: its values stay text. */
        PQclear(r);
        *out = pgtype_registry_put(reg, pgtype_new_text(oid, "unknown", NULL));
        return true;
    }
    char typtype = PQgetvalue(r, 0, 0)[0];
    uint32_t base = (uint32_t) strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    uint32_t elem = (uint32_t) strtoul(PQgetvalue(r, 0, 2), NULL, 10);
    char delim = PQgetvalue(r, 0, 3)[0];
    uint32_t relid = (uint32_t) strtoul(PQgetvalue(r, 0, 4), NULL, 10);
    int typlen = atoi(PQgetvalue(r, 0, 5));
    bool is_array = PQgetvalue(r, 0, 6)[0] == 't';
    char name[256];
    snprintf(name, sizeof name, "%s", PQgetvalue(r, 0, 7));
    int32_t typtypmod = (int32_t) strtol(PQgetvalue(r, 0, 8), NULL, 10);
    char *labels = PQgetisnull(r, 0, 9) ? NULL : xstrdup(PQgetvalue(r, 0, 9));
    PQclear(r);

    const pgtype_t *sub;
    pgtype_t *t;
    switch (typtype) {
    case 'd': /* domain: its base type's form, and its typmod (numeric(10,2) as a domain) */
        free(labels);
        if (!resolve(c, reg, base, depth + 1, &sub, err, errlen))
            return false;
        t = pgtype_new_alias(oid, sub);
        if (typtypmod > 0)
            t->typmod = typtypmod;
        *out = pgtype_registry_put(reg, t);
        return true;
    case 'c':
        free(labels);
        return resolve_composite(c, reg, oid, relid, name, depth, out, err, errlen);
    case 'e':
        *out = pgtype_registry_put(reg, pgtype_new_enum(oid, name, labels));
        free(labels);
        return true;
    case 'b':
        if (is_array && elem != 0 && typlen == -1) {
            free(labels);
            labels = NULL;
            if (!resolve(c, reg, elem, depth + 1, &sub, err, errlen))
                return false;
            char aname[300];
            snprintf(aname, sizeof aname, "%s[]", sub->name);
            *out = pgtype_registry_put(reg, pgtype_new_array(oid, aname, sub, delim));
            return true;
        }
        break;
    default: /* ranges, multiranges, pseudo-types */
        break;
    }
    free(labels);
    *out = pgtype_registry_put(reg, pgtype_new_text(oid, name, NULL));
    return true;
}

bool catalog_resolve_type(catalog_t *c, pgtype_registry_t *reg, uint32_t oid,
                          const pgtype_t **out, char *err, size_t errlen)
{
    return resolve(c, reg, oid, 0, out, err, errlen);
}

int catalog_primary_key(catalog_t *c, uint32_t relid, char **names, int max, char *err,
                        size_t errlen)
{
    PGresult *r = query_oid(
        c,
        "SELECT a.attname FROM pg_catalog.pg_index i "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
        "WHERE i.indrelid = $1::oid AND i.indisprimary "
        "ORDER BY pg_catalog.array_position(i.indkey::int2[], a.attnum)",
        relid, err, errlen);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if (n > max)
        n = max;
    for (int i = 0; i < n; i++)
        names[i] = xstrdup(PQgetvalue(r, i, 0));
    PQclear(r);
    return n;
}

/* Appends " (<what>)" to the message in err. */
static void add_context(char *err, size_t errlen, const char *fmt, ...) SLUICE_PRINTF(3, 4);
static void add_context(char *err, size_t errlen, const char *fmt, ...)
{
    size_t n = strlen(err);
    if (n + 1 >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - n, fmt, ap);
    va_end(ap);
}

/*
 * The columns' NOT NULL and constant defaults (what Kafka Connect schemas
 * carry). A default counts as constant when its expression calls only
 * immutable functions and operators and holds no CURRENT_* value, sequence,
 * sub-query or text cast (pg_node_tree's FUNCEXPR/OPEXPR ids checked against
 * pg_proc.provolatile): `7`, `'new'`, `'{}'::jsonb`, `lower('A')` are, `now()`,
 * `CURRENT_TIMESTAMP`, `nextval(…)`, `gen_random_uuid()` are not. Identity
 * and generated columns have none. Each constant default is then evaluated
 * by PostgreSQL, cast to the column's own type (so numeric(5,2) DEFAULT 1.5
 * is "1.50"), and kept as its text form.
 */
static bool column_meta(catalog_t *c, relcache_entry_t *rel, char *err, size_t errlen)
{
    PGresult *r = query_oid(
        c,
        "SELECT a.attname, a.attnotnull, "
        " CASE WHEN d.adbin IS NOT NULL AND a.attgenerated = '' AND a.attidentity = '' "
        "  AND d.adbin::text !~ '\\{(SQLVALUEFUNCTION|NEXTVALEXPR|SUBLINK|COERCEVIAIO|PARAM|VAR)[ }]' "
        "  AND NOT EXISTS (SELECT 1 FROM pg_catalog.regexp_matches(d.adbin::text, "
        "   ':(funcid|opfuncid) ([0-9]+)', 'g') AS m(x) JOIN pg_catalog.pg_proc p "
        "   ON p.oid = m.x[2]::oid WHERE p.provolatile <> 'i') "
        " THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END, "
        " pg_catalog.format_type(a.atttypid, a.atttypmod) "
        "FROM pg_catalog.pg_attribute a LEFT JOIN pg_catalog.pg_attrdef d "
        " ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        rel->oid, err, errlen);
    if (!r)
        return false;
    int n = PQntuples(r);
    /* Which relation column each catalog row is (a publication's column list may leave some
     * out), and one query evaluating every constant default at once. */
    int *col = xcalloc(n ? (size_t) n : 1, sizeof *col);
    strbuf_t sql = STRBUF_INIT;
    int nexpr = 0;
    for (int i = 0; i < n; i++) {
        col[i] = -1;
        for (uint16_t k = 0; k < rel->ncols; k++)
            if (strcmp(rel->columns[k].name, PQgetvalue(r, i, 0)) == 0) {
                col[i] = k;
                break;
            }
        if (col[i] < 0)
            continue;
        relcache_column_t *rc = &rel->columns[col[i]];
        rc->not_null = PQgetvalue(r, i, 1)[0] == 't';
        free(rc->default_text);
        rc->default_text = NULL;
        if (PQgetisnull(r, i, 2)) {
            col[i] = -1;
            continue;
        }
        strbuf_appendf(&sql, "%s(%s)::%s", nexpr++ ? ", " : "SELECT ", PQgetvalue(r, i, 2),
                       PQgetvalue(r, i, 3));
    }
    if (nexpr) {
        PGresult *v = PQexec(c->conn, sql.data);
        bool all = PQresultStatus(v) == PGRES_TUPLES_OK && PQntuples(v) == 1;
        for (int i = 0, e = 0; i < n; i++) {
            if (col[i] < 0)
                continue;
            PGresult *one = NULL;
            int field = e++;
            if (!all) {
                /* One default failed to evaluate (an immutable function that raises): ask for
                 * each alone, and leave out the ones that fail. */
                strbuf_t q = STRBUF_INIT;
                strbuf_appendf(&q, "SELECT (%s)::%s", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
                one = PQexec(c->conn, q.data);
                strbuf_free(&q);
                field = 0;
                if (PQresultStatus(one) != PGRES_TUPLES_OK || PQntuples(one) != 1) {
                    PQclear(one);
                    continue;
                }
            }
            PGresult *src = one ? one : v;
            if (!PQgetisnull(src, 0, field))
                rel->columns[col[i]].default_text = xstrdup(PQgetvalue(src, 0, field));
            PQclear(one);
        }
        PQclear(v);
    }
    strbuf_free(&sql);
    free(col);
    PQclear(r);
    if (PQstatus(c->conn) != CONNECTION_OK) {
        set_err(err, errlen, "evaluating column defaults", c->conn, NULL);
        PQfinish(c->conn);
        c->conn = NULL;
        return false;
    }
    return true;
}

bool catalog_complete_relation(catalog_t *c, pgtype_registry_t *reg, relcache_entry_t *rel,
                               bool refresh_types, bool column_metadata, char *err, size_t errlen)
{
    bool forgot = !refresh_types;
    for (uint16_t i = 0; i < rel->ncols; i++) {
        const pgtype_t *t = pgtype_builtin(rel->columns[i].type_oid);
        if (!t) {
            if (!forgot) {
                pgtype_registry_forget(reg);
                forgot = true;
            }
            if (!resolve(c, reg, rel->columns[i].type_oid, 0, &t, err, errlen)) {
                add_context(err, errlen, " (type %u of column \"%s\" of \"%s.%s\")",
                            rel->columns[i].type_oid, rel->columns[i].name, rel->nspname,
                            rel->relname);
                return false;
            }
        }
        rel->columns[i].type = t;
    }
    if (column_metadata && !column_meta(c, rel, err, errlen)) {
        add_context(err, errlen, " (columns of \"%s.%s\")", rel->nspname, rel->relname);
        return false;
    }
    if (rel->replident != 'f' && rel->replident != 'n')
        return true; /* DEFAULT, USING INDEX: the replica identity is the key (relcache_put) */
    char *names[64];
    int n = catalog_primary_key(c, rel->oid, names, 64, err, errlen);
    if (n < 0) {
        add_context(err, errlen, " (primary key of \"%s.%s\")", rel->nspname, rel->relname);
        return false;
    }
    relcache_set_kafka_key_names(rel, names, n);
    for (int k = 0; k < n; k++)
        free(names[k]);
    return true;
}
