/*
 * request.c — `sluice snapshot TABLE…` (request.h).
 */
#include "sluice/ops/request.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/base/buf.h"
#include "sluice/base/log.h"
#include "sluice/base/snapshot_progress.h"
#include "sluice/core/snapshot_request.h"
#include "sluice/pg/conn.h"

/* Checks every name of list[0..len) against the publication; returns an exit code. */
static int check_tables(const config_t *cfg, PGconn *conn, const char *list, size_t len)
{
    char name[300], err[1024];
    size_t pos = 0;
    int rc = EXIT_OK, named = 0;
    while (snapshot_request_next_name(list, len, &pos, name, sizeof name, err, sizeof err)) {
        named++;
        uint32_t oid;
        snapshot_req_status_t st = snapshot_request_lookup(conn, cfg->publication, name, &oid,
                                                           err, sizeof err);
        if (st == SNAPSHOT_REQ_PG_FAILED) {
            log_fatal("%s", err);
            return EXIT_PG_CONNECT;
        }
        if (st == SNAPSHOT_REQ_NOT_PUBLISHED ||
            (st == SNAPSHOT_REQ_NO_KEY && cfg->snapshot_method == SNAPSHOT_METHOD_INCREMENTAL)) {
            snapshot_request_refusal(st, name, cfg->publication, err, sizeof err);
            log_fatal("%s", err);
            rc = EXIT_PG_SETUP;
        }
    }
    if (err[0]) {
        log_fatal("%s", err);
        return EXIT_USAGE;
    }
    if (!named) {
        log_fatal("sluice snapshot: name the tables to copy (sluice snapshot -c FILE schema.table…)");
        return EXIT_USAGE;
    }
    return rc;
}

int request_snapshot_run(const config_t *cfg, char *const *tables, int n, FILE *out)
{
    if (n == 0) {
        log_fatal("sluice snapshot: name the tables to copy (sluice snapshot -c FILE schema.table…)");
        return EXIT_USAGE;
    }
    strbuf_t list = STRBUF_INIT;
    for (int i = 0; i < n; i++)
        strbuf_appendf(&list, "%s%s", i ? "," : "", tables[i]);
    char err[1024];
    pgconn_spec_t spec = {.conninfo = cfg->pg_conninfo, .application = "sluice-snapshot-request"};
    PGconn *conn = pgconn_open(&spec, "could not connect to PostgreSQL", err, sizeof err);
    if (!conn) {
        log_fatal("%s", err);
        strbuf_free(&list);
        return EXIT_PG_CONNECT;
    }
    int rc = check_tables(cfg, conn, list.data ? list.data : "", list.len);
    if (rc == EXIT_OK) {
        /* Transactional: decoded at its commit, in the stream's order, like a change. */
        const char *params[] = {list.data};
        PGresult *r = PQexecParams(conn,
                                   "SELECT pg_logical_emit_message(true, 'sluice.snapshot', $1::text)",
                                   1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pgconn_result_error(conn, r, err, sizeof err);
            log_fatal("writing the \"sluice.snapshot\" message: %s%s", err,
                      strstr(err, "permission denied")
                          ? " (GRANT EXECUTE ON FUNCTION pg_logical_emit_message to the role "
                            "of postgres.conninfo)"
                          : "");
            rc = EXIT_PG_SETUP;
        } else {
            fprintf(out,
                    "requested a snapshot of %s: \"sluice.snapshot\" message at %s. Every sluice "
                    "streaming publication \"%s\" copies %s, %s\n",
                    list.data, PQgetvalue(r, 0, 0), cfg->publication, n > 1 ? "them" : "it",
                    cfg->snapshot_method == SNAPSHOT_METHOD_INCREMENTAL
                        ? "in chunks while it streams (snapshot.method = incremental)"
                        : "pausing its stream for the copy (snapshot.method = export)");
        }
        PQclear(r);
    }
    PQfinish(conn);
    strbuf_free(&list);
    return rc;
}
