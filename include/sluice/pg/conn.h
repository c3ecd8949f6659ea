/*
 * conn.h — the one way sluice opens a connection to PostgreSQL.
 *
 * Every connection (the replication stream, the catalog, the snapshot's
 * workers, `sluice check` and `sluice status`) gets the same defaults: a
 * 10 s connect timeout, UTF8 and TCP settings that turn a network that died
 * without a reset into an error within about two minutes (keepalive probes
 * after 60 s idle, every 10 s, 6 of them; unacknowledged data for 120 s)
 * instead of the kernel's two hours idle or some 15 minutes of
 * retransmissions. A snapshot worker blocked in PQgetCopyData notices a dead
 * link this way, as the replication reader does.
 *
 * The user's conninfo wins over these defaults: it is handed to libpq as the
 * expanded `dbname`, after the defaults and before what sluice must set
 * (replication, the session options that fix the text form of values).
 *
 * Owns: nothing past the call. Never: logs, retries, or runs a query.
 */
#ifndef SLUICE_CONN_H
#define SLUICE_CONN_H

#include <libpq-fe.h>

#include "sluice/base/common.h"

typedef struct {
    const char *conninfo;    /* the user's postgres.conninfo (keyword=value or URI) */
    const char *application; /* fallback_application_name, e.g. "sluice-catalog" */
    bool replication;        /* replication=database (walsender commands) */
    /* Add pgconn_session_options() after the user's own `options`: for sessions whose
     * values sluice parses as text (pgoutput's and the snapshot's COPY). */
    bool pin_value_formats;
} pgconn_spec_t;

/* The keywords and values handed to PQconnectdbParams (expand_dbname = 1), NULL-terminated. */
#define PGCONN_MAX_PARAMS 12
typedef struct {
    const char *keys[PGCONN_MAX_PARAMS + 1];
    const char *vals[PGCONN_MAX_PARAMS + 1];
    char options[1024]; /* the `options` value when spec->pin_value_formats */
} pgconn_params_t;

/*
 * The `options` that fix the text form of every value a session prints
 * (DateStyle, TimeZone, IntervalStyle, extra_float_digits, bytea_output,
 * lc_monetary): the replication session (pgoutput) and the snapshot's COPY
 * sessions must print values alike, in the forms the encoders parse.
 */
const char *pgconn_session_options(void);

/*
 * Fills *out with the parameters pgconn_open connects with. out's arrays
 * point into spec's strings and out->options: both must outlive their use.
 */
void pgconn_params_build(const pgconn_spec_t *spec, pgconn_params_t *out);

/*
 * Connects (blocking, at most connect_timeout). Returns the open connection,
 * which the caller closes with PQfinish, or NULL with "<context>: <libpq's
 * reason>" in err (just the reason when context is NULL; never the password,
 * no trailing newline).
 */
PGconn *pgconn_open(const pgconn_spec_t *spec, const char *context, char *err, size_t errlen);

/* Copies libpq's message for conn (or "out of memory" for NULL) into err without trailing
 * newlines or blanks. */
void pgconn_error(const PGconn *conn, char *err, size_t errlen);

/* The same for a failed query: the message of its result r, else (r NULL or without one)
 * the connection's. Returns err, so it can stand in a format's arguments. */
const char *pgconn_result_error(const PGconn *conn, const PGresult *r, char *err, size_t errlen);

#endif
