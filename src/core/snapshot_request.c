/*
 * snapshot_request.c — a table of a snapshot request looked up in the
 * publication (snapshot_request.h).
 */
#include "sluice/core/snapshot_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/core/snapshot_incremental.h"
#include "sluice/pg/conn.h"

snapshot_req_status_t snapshot_request_lookup(PGconn *conn, const char *publication,
                                              const char *name, uint32_t *oid, char *err,
                                              size_t errlen)
{
    /* Request names carry no dot but the one between schema and table (operations.md). */
    const char *dot = strchr(name, '.');
    char schema[300];
    snprintf(schema, sizeof schema, "%.*s", dot ? (int) (dot - name) : 0, name);
    const char *params[] = {publication, schema, dot ? dot + 1 : name};
    PGresult *r = PQexecParams(
        conn,
        "SELECT c.oid, EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
        "  WHERE i.indrelid = c.oid AND " KEY_INDEX_SQL ") "
        "FROM pg_catalog.pg_publication_tables pt "
        "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
        "WHERE pt.pubname = $1 AND pt.schemaname = $2 AND pt.tablename = $3",
        3, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char why[512];
        snprintf(err, errlen, "looking up table \"%s\" in publication \"%s\": %s", name,
                 publication, pgconn_result_error(conn, r, why, sizeof why));
        PQclear(r);
        return SNAPSHOT_REQ_PG_FAILED;
    }
    snapshot_req_status_t st = SNAPSHOT_REQ_NOT_PUBLISHED;
    if (PQntuples(r) > 0) {
        *oid = (uint32_t) strtoul(PQgetvalue(r, 0, 0), NULL, 10);
        st = PQgetvalue(r, 0, 1)[0] == 't' ? SNAPSHOT_REQ_OK : SNAPSHOT_REQ_NO_KEY;
    }
    PQclear(r);
    return st;
}

void snapshot_request_refusal(snapshot_req_status_t st, const char *name, const char *publication,
                              char *out, size_t outlen)
{
    if (st == SNAPSHOT_REQ_NO_KEY)
        snprintf(out, outlen,
                 "snapshot of \"%s\" refused: snapshot.method = incremental reads a table in key "
                 "order, and \"%s\" has neither a primary key nor a replica identity index. Add a "
                 "primary key (or REPLICA IDENTITY USING INDEX), or copy it with "
                 "snapshot.method = export",
                 name, name);
    else
        snprintf(out, outlen,
                 "snapshot of \"%s\" refused: it is not a table of publication \"%s\". Add it "
                 "(ALTER PUBLICATION %s ADD TABLE %s), then ask again",
                 name, publication, publication, name);
}
