/*
 * snapshot_request.h — a request to copy tables while streaming (the
 * "sluice.snapshot" message, or `sluice snapshot TABLE…`, which writes that
 * message): each named table looked up in the publication, and whether an
 * incremental copy can read it in key order (docs/design.md, "The
 * incremental snapshot", On request).
 *
 * Owns: nothing past a call. Never: logs, or changes the database (the
 * caller decides what a refused table means: a logged error while
 * streaming, an exit status for the command).
 */
#ifndef SLUICE_SNAPSHOT_REQUEST_H
#define SLUICE_SNAPSHOT_REQUEST_H

#include <libpq-fe.h>

#include "sluice/base/common.h"

typedef enum {
    SNAPSHOT_REQ_OK,             /* in the publication, with a key: can be copied in chunks */
    SNAPSHOT_REQ_NOT_PUBLISHED,  /* not (or not yet) in the publication */
    SNAPSHOT_REQ_NO_KEY,         /* neither a primary key nor a replica identity index */
    SNAPSHOT_REQ_PG_FAILED,      /* the query failed: the reason in err */
} snapshot_req_status_t;

/*
 * Looks table `name` ("schema.table") up in `publication` on conn. OK sets
 * *oid. PG_FAILED puts the reason in err.
 */
snapshot_req_status_t snapshot_request_lookup(PGconn *conn, const char *publication,
                                              const char *name, uint32_t *oid, char *err,
                                              size_t errlen);

/*
 * What a refused table means, for the log or the command's message: names
 * the table and the fix (st is NOT_PUBLISHED or NO_KEY).
 */
void snapshot_request_refusal(snapshot_req_status_t st, const char *name, const char *publication,
                              char *out, size_t outlen);

#endif
