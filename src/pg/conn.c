/*
 * conn.c — opening a PostgreSQL connection (conn.h has the defaults and why).
 *
 * Owns: nothing past the call. Never: logs, retries, or runs a query.
 */
#include "sluice/pg/conn.h"

#include <stdio.h>
#include <string.h>

const char *pgconn_session_options(void)
{
    return "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=iso_8601 "
           "-c extra_float_digits=1 -c bytea_output=hex -c lc_monetary=C";
}

/*
 * The user's own `options` first, ours after them: a later -c of the same
 * setting wins, so whatever the user or the server's defaults say, dates are
 * ISO, timestamptz is in UTC, intervals are ISO-8601, floats are
 * shortest-exact, bytea is hex and money has the C locale's "$1,234.56" shape.
 */
static void build_options(const char *conninfo, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", pgconn_session_options());
    PQconninfoOption *parsed = PQconninfoParse(conninfo, NULL);
    for (PQconninfoOption *o = parsed; o && o->keyword; o++)
        if (strcmp(o->keyword, "options") == 0 && o->val && *o->val)
            snprintf(out, outlen, "%s %s", o->val, pgconn_session_options());
    PQconninfoFree(parsed);
}

static void add(pgconn_params_t *out, int *n, const char *key, const char *val)
{
    out->keys[*n] = key;
    out->vals[*n] = val;
    (*n)++;
    out->keys[*n] = NULL;
    out->vals[*n] = NULL;
}

void pgconn_params_build(const pgconn_spec_t *spec, pgconn_params_t *out)
{
    int n = 0;
    memset(out, 0, sizeof *out);
    /* With expand_dbname, the conninfo given as dbname overrides every entry before it and
     * every entry after it overrides the conninfo: defaults first, then the user's, then
     * what sluice cannot do without. */
    add(out, &n, "connect_timeout", "10");
    add(out, &n, "keepalives_idle", "60");
    add(out, &n, "keepalives_interval", "10");
    add(out, &n, "keepalives_count", "6");
    add(out, &n, "tcp_user_timeout", "120000");
    add(out, &n, "dbname", spec->conninfo ? spec->conninfo : "");
    if (spec->replication)
        add(out, &n, "replication", "database");
    add(out, &n, "client_encoding", "UTF8");
    add(out, &n, "fallback_application_name", spec->application ? spec->application : "sluice");
    if (spec->pin_value_formats) {
        build_options(spec->conninfo ? spec->conninfo : "", out->options, sizeof out->options);
        add(out, &n, "options", out->options);
    }
}

const char *pgconn_result_error(const PGconn *conn, const PGresult *r, char *err, size_t errlen)
{
    const char *m = r ? PQresultErrorMessage(r) : NULL;
    if (!m || !*m)
        m = conn ? PQerrorMessage(conn) : "out of memory";
    snprintf(err, errlen, "%s", m && *m ? m : "unknown error");
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
    return err;
}

void pgconn_error(const PGconn *conn, char *err, size_t errlen)
{
    pgconn_result_error(conn, NULL, err, errlen);
}

PGconn *pgconn_open(const pgconn_spec_t *spec, const char *context, char *err, size_t errlen)
{
    pgconn_params_t params;
    pgconn_params_build(spec, &params);
    PGconn *conn = PQconnectdbParams(params.keys, params.vals, 1);
    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    size_t n = 0;
    if (context && errlen > 0) {
        int k = snprintf(err, errlen, "%s: ", context);
        n = k < 0 ? 0 : (size_t) k < errlen ? (size_t) k : errlen - 1;
    }
    if (n < errlen)
        pgconn_error(conn, err + n, errlen - n);
    PQfinish(conn);
    return NULL;
}
