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
    const char *m = r ? PQresultErrorMessage(r) : conn ? PQerrorMessage(conn) : "out of memory";
    snprintf(err, errlen, "catalog lookup: %s: %s", context, m && *m ? m : "unknown error");
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

static bool ensure_conn(catalog_t *c, char *err, size_t errlen)
{
    if (c->conn && PQstatus(c->conn) == CONNECTION_OK)
        return true;
    PQfinish(c->conn);
    pgconn_spec_t spec = {.conninfo = c->conninfo, .application = "sluice-catalog"};
    c->conn = pgconn_open(&spec, "catalog lookup: could not connect to PostgreSQL", err, errlen);
    return c->conn != NULL;
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
                            "SELECT attname, atttypid FROM pg_catalog.pg_attribute "
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
        "n.nspname || '.' || t.typname "
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
    PQclear(r);

    const pgtype_t *sub;
    switch (typtype) {
    case 'd': /* domain: its base type's form */
        if (!resolve(c, reg, base, depth + 1, &sub, err, errlen))
            return false;
        *out = pgtype_registry_put(reg, pgtype_new_alias(oid, sub));
        return true;
    case 'c':
        return resolve_composite(c, reg, oid, relid, name, depth, out, err, errlen);
    case 'e':
        *out = pgtype_registry_put(reg, pgtype_new_text(oid, name, "io.debezium.data.Enum"));
        return true;
    case 'b':
        if (is_array && elem != 0 && typlen == -1) {
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

bool catalog_complete_relation(catalog_t *c, pgtype_registry_t *reg, relcache_entry_t *rel,
                               bool refresh_types, char *err, size_t errlen)
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
