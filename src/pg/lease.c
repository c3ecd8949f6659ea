/*
 * lease.c — the standby lease of a slot (lease.h): a session-level advisory
 * lock on a plain connection, renewed by a heartbeat thread.
 *
 * Owns: the PGconn, the heartbeat thread (named "lease"). Never: logs,
 * fences, or streams.
 */
#include "sluice/pg/lease.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/base/buf.h"
#include "sluice/base/log.h"
#include "sluice/pg/conn.h"

/* The advisory lock's first key: "SLC1", so that sluice's locks are told apart in pg_locks. */
#define LEASE_CLASS 0x534c4331

struct lease {
    PGconn *conn;
    char slot[64];
    uint32_t key;         /* the second key: FNV-1a of the slot name */
    char standby_name[64]; /* application_name while waiting */
    char active_name[64];  /* and once the lease is held */
    atomic_bool held;
    atomic_bool stop;
    pthread_t thread;
    bool thread_running;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    pthread_mutex_t conn_lock; /* the heartbeat and lease_renew share the connection */
    int interval_ms;
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 16777619u;
    return h;
}

/* Runs sql; NULL with err set ("<what> failed: <reason>") unless it returned want. */
static PGresult *run(lease_t *l, const char *sql, ExecStatusType want, const char *what, char *err,
                     size_t errlen)
{
    PGresult *res = PQexec(l->conn, sql);
    if (PQresultStatus(res) == want)
        return res;
    size_t n = (size_t) snprintf(err, errlen, "%s failed: ", what);
    if (n < errlen)
        pgconn_error(l->conn, err + n, errlen - n);
    PQclear(res);
    return NULL;
}

static stream_err_t lost_or_setup(const lease_t *l)
{
    return PQstatus(l->conn) == CONNECTION_BAD ? STREAM_ERR_LOST : STREAM_ERR_SETUP;
}

/* SET application_name to name (a fixed-size, slot-derived string without quotes). */
static stream_err_t set_name(lease_t *l, const char *name, char *err, size_t errlen)
{
    char *lit = PQescapeLiteral(l->conn, name, strlen(name));
    if (!lit) {
        snprintf(err, errlen, "naming the lease connection failed: out of memory");
        return STREAM_ERR_SETUP;
    }
    strbuf_t sql = STRBUF_INIT;
    strbuf_appendf(&sql, "SET application_name = %s", lit);
    PQfreemem(lit);
    PGresult *res = run(l, sql.data, PGRES_COMMAND_OK, "naming the lease connection", err, errlen);
    strbuf_free(&sql);
    if (!res)
        return lost_or_setup(l);
    PQclear(res);
    return STREAM_OK;
}

lease_t *lease_connect(const char *conninfo, const char *slot, bool standby, stream_err_t *cls,
                       char *err, size_t errlen)
{
    pgconn_spec_t spec = {.conninfo = conninfo,
                          .application = standby ? "sluice" : "sluice-status"};
    PGconn *conn = pgconn_open(&spec, "could not connect to PostgreSQL", err, errlen);
    if (!conn) {
        *cls = STREAM_ERR_CONNECT;
        return NULL;
    }
    lease_t *l = xcalloc(1, sizeof *l);
    l->conn = conn;
    snprintf(l->slot, sizeof l->slot, "%s", slot);
    l->key = fnv1a(slot);
    /* NAMEDATALEN: PostgreSQL keeps 63 bytes of application_name. */
    snprintf(l->standby_name, sizeof l->standby_name, "sluice standby %s", slot);
    snprintf(l->active_name, sizeof l->active_name, "sluice active %s", slot);
    pthread_mutex_init(&l->wake_lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    pthread_mutex_init(&l->conn_lock, NULL);
    *cls = standby ? set_name(l, l->standby_name, err, errlen) : STREAM_OK;
    if (*cls) {
        lease_close(l);
        return NULL;
    }
    return l;
}

void lease_close(lease_t *l)
{
    if (!l)
        return;
    if (l->thread_running) {
        pthread_mutex_lock(&l->wake_lock);
        atomic_store(&l->stop, true);
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->wake_lock);
        pthread_join(l->thread, NULL);
    }
    PQfinish(l->conn); /* the session ends: PostgreSQL frees the advisory lock */
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->wake_lock);
    pthread_mutex_destroy(&l->conn_lock);
    free(l);
}

stream_err_t lease_look(lease_t *l, lease_view_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *slot = PQescapeLiteral(l->conn, l->slot, strlen(l->slot));
    char *standby = PQescapeLiteral(l->conn, l->standby_name, strlen(l->standby_name));
    if (!slot || !standby) {
        PQfreemem(slot);
        PQfreemem(standby);
        snprintf(err, errlen, "looking at the lease failed: out of memory");
        return STREAM_ERR_SETUP;
    }
    /* The holder's idle time by the server's clock: state_change is when its last
     * query ended (NULL where this role may not see that backend's details). */
    strbuf_t sql = STRBUF_INIT;
    strbuf_appendf(
        &sql,
        "SELECT s.slot_name IS NOT NULL, coalesce(s.active_pid, 0), coalesce(h.pid, 0), "
        "CASE WHEN h.pid IS NULL OR a.state_change IS NULL THEN -1 "
        "     WHEN a.state = 'active' THEN 0 "
        "     ELSE (extract(epoch FROM clock_timestamp() - a.state_change) * 1000)::bigint END, "
        "coalesce(host(a.client_addr), CASE WHEN a.pid IS NOT NULL THEN 'local' END, ''), "
        "w.n, coalesce(w.clients, '') "
        "FROM (SELECT 1) AS one "
        "LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = %s "
        "LEFT JOIN pg_catalog.pg_locks h ON h.locktype = 'advisory' AND h.granted "
        "  AND h.classid = %u AND h.objid = %u AND h.objsubid = 2 "
        "  AND h.database = (SELECT oid FROM pg_catalog.pg_database "
        "                    WHERE datname = pg_catalog.current_database()) "
        "LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = h.pid "
        "CROSS JOIN (SELECT count(*) AS n, string_agg(coalesce(host(client_addr), 'local'), "
        "                                             ', ' ORDER BY backend_start) AS clients "
        "            FROM pg_catalog.pg_stat_activity "
        "            WHERE application_name = %s AND pid <> pg_catalog.pg_backend_pid()) w",
        slot, (unsigned) LEASE_CLASS, (unsigned) l->key, standby);
    PQfreemem(slot);
    PQfreemem(standby);
    PGresult *res = run(l, sql.data, PGRES_TUPLES_OK, "looking at the lease", err, errlen);
    strbuf_free(&sql);
    if (!res)
        return lost_or_setup(l);
    if (PQntuples(res) < 1 || PQnfields(res) != 7) {
        snprintf(err, errlen, "looking at the lease returned %d rows of %d fields", PQntuples(res),
                 PQnfields(res));
        PQclear(res);
        return STREAM_ERR_PROTOCOL;
    }
    /* A second granted row cannot exist (an exclusive lock); the first is the holder. */
    out->slot_exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    out->slot_pid = atoi(PQgetvalue(res, 0, 1));
    out->holder_pid = atoi(PQgetvalue(res, 0, 2));
    out->holder_idle_ms = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    snprintf(out->holder_client, sizeof out->holder_client, "%s", PQgetvalue(res, 0, 4));
    out->standbys = atoi(PQgetvalue(res, 0, 5));
    snprintf(out->standby_clients, sizeof out->standby_clients, "%s", PQgetvalue(res, 0, 6));
    PQclear(res);
    return STREAM_OK;
}

stream_err_t lease_try_acquire(lease_t *l, bool *acquired, char *err, size_t errlen)
{
    *acquired = false;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_catalog.pg_try_advisory_lock(%d, %d)", LEASE_CLASS,
             (int32_t) l->key);
    PGresult *res = run(l, sql, PGRES_TUPLES_OK, "taking the lease", err, errlen);
    if (!res)
        return lost_or_setup(l);
    *acquired = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!*acquired)
        return STREAM_OK;
    atomic_store(&l->held, true);
    return set_name(l, l->active_name, err, errlen);
}

stream_err_t lease_terminate(lease_t *l, int pid, char *err, size_t errlen)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_catalog.pg_terminate_backend(%d)", pid);
    PGresult *res = run(l, sql, PGRES_TUPLES_OK, "ending a backend", err, errlen);
    if (!res)
        return lost_or_setup(l);
    PQclear(res);
    return STREAM_OK;
}

/* One renewal: a query on the lease's session. False (and the lease lost) if it failed. */
static bool renew(lease_t *l)
{
    char err[256];
    pthread_mutex_lock(&l->conn_lock);
    PGresult *res = run(l, "SELECT 1", PGRES_TUPLES_OK, "renewing the lease", err, sizeof err);
    bool ok = res != NULL && PQstatus(l->conn) == CONNECTION_OK;
    PQclear(res);
    if (!ok) {
        /* The session is gone, and its lock with it (a failed query on a live
         * connection counts as lost too: lease_close ends that session). */
        atomic_store(&l->held, false);
    }
    pthread_mutex_unlock(&l->conn_lock);
    return ok;
}

/* Renews the lease once per interval; ends when a renewal fails or on stop. */
static void *heartbeat(void *arg)
{
    lease_t *l = arg;
    log_set_thread_name("lease");
    pthread_mutex_lock(&l->wake_lock);
    while (!atomic_load(&l->stop)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        long long ns = until.tv_nsec + (long long) l->interval_ms * 1000000;
        until.tv_sec += (time_t) (ns / 1000000000);
        until.tv_nsec = (long) (ns % 1000000000);
        pthread_cond_timedwait(&l->wake, &l->wake_lock, &until);
        if (atomic_load(&l->stop))
            break;
        pthread_mutex_unlock(&l->wake_lock);
        bool ok = renew(l);
        pthread_mutex_lock(&l->wake_lock);
        if (!ok)
            break;
    }
    pthread_mutex_unlock(&l->wake_lock);
    return NULL;
}

bool lease_renew(lease_t *l)
{
    return l && atomic_load(&l->held) && renew(l);
}

void lease_heartbeat_start(lease_t *l, int interval_ms)
{
    if (l->thread_running || !atomic_load(&l->held))
        return;
    l->interval_ms = interval_ms;
    l->thread_running = pthread_create(&l->thread, NULL, heartbeat, l) == 0;
    if (!l->thread_running)
        atomic_store(&l->held, false);
}

bool lease_held(const lease_t *l)
{
    return l && atomic_load(&l->held);
}

int lease_backend_pid(const lease_t *l)
{
    return PQbackendPID(l->conn);
}
