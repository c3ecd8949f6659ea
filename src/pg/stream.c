/*
 * stream.c — replication connection, slot handling and the reader thread.
 *
 * The reader loop follows pg_recvlogical's StreamLogicalLog: asynchronous
 * PQgetCopyData, a poll() whose timeout comes from the status interval, an
 * immediate reply when a keepalive asks for one. It adds a bounded queue and
 * an eventfd: the pipeline wakes the reader when the confirmed LSN moves, and
 * stream_stop wakes it to finish.
 *
 * Owns: the PGconn, the reader thread. Never: decodes pgoutput, talks to
 * Kafka, or confirms an LSN the pipeline did not hand it.
 */
#include "sluice/base/clock.h"
#include "sluice/pg/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/buf.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/base/testpoint.h"
#include "sluice/pg/conn.h"

struct stream {
    PGconn *conn;
    pthread_t thread;
    bool thread_running;
    int wake_fd;
    atomic_bool stop;
    atomic_uint_fast64_t confirmed;      /* set by the pipeline */
    atomic_uint_fast64_t confirmed_sent; /* last flush LSN sent */
    atomic_uint_fast64_t bytes_received;
    queue_t *queue;
    int status_interval_ms;
    int receive_timeout_ms;
    atomic_bool timed_out; /* the reader ended the stream on receive_timeout_ms */
    stream_wants_t wants;  /* from stream_check_server */
};

/* "<context>: <libpq's message>", without the trailing newline. */
static void conn_error(PGconn *conn, char *err, size_t errlen, const char *context)
{
    size_t n = (size_t) snprintf(err, errlen, "%s: ", context);
    if (n < errlen)
        pgconn_error(conn, err + n, errlen - n);
}

stream_t *stream_connect(const char *conninfo, stream_err_t *cls, char *err, size_t errlen)
{
    /* pgoutput's output functions run in the walsender with this session's settings: pin the
     * text forms the encoders parse (docs/output.md, "Type mapping"). */
    pgconn_spec_t spec = {.conninfo = conninfo,
                          .application = "sluice",
                          .replication = true,
                          .pin_value_formats = true};
    PGconn *conn = pgconn_open(&spec, "could not connect to PostgreSQL", err, errlen);
    if (!conn) {
        *cls = STREAM_ERR_CONNECT;
        return NULL;
    }
    stream_t *s = xcalloc(1, sizeof *s);
    s->conn = conn;
    s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    *cls = STREAM_OK;
    return s;
}

void stream_close(stream_t *s)
{
    if (!s)
        return;
    stream_stop(s);
    PQfinish(s->conn);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    free(s);
}

/*
 * Runs a simple query (replication connections take no parameters). A
 * failure quotes the whole command (never a secret: sluice's own text with
 * object names) so the operator sees exactly what the server refused.
 */
static PGresult *run_query(stream_t *s, const char *sql, ExecStatusType want, char *err,
                           size_t errlen)
{
    PGresult *res = PQexec(s->conn, sql);
    if (PQresultStatus(res) != want) {
        char ver[32];
        stream_version_text(PQserverVersion(s->conn), ver, sizeof ver);
        snprintf(err, errlen, "PostgreSQL %s refused %s: %s", ver, sql,
                 res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        PQclear(res);
        return NULL;
    }
    return res;
}

static stream_err_t lost_or(stream_t *s, stream_err_t other)
{
    return PQstatus(s->conn) == CONNECTION_BAD ? STREAM_ERR_LOST : other;
}

stream_err_t stream_identify(stream_t *s, stream_identity_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    PGresult *res = run_query(s, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return lost_or(s, STREAM_ERR_PROTOCOL);
    if (PQntuples(res) != 1 || PQnfields(res) < 4) {
        snprintf(err, errlen, "IDENTIFY_SYSTEM returned %d rows and %d fields, expected 1 and 4",
                 PQntuples(res), PQnfields(res));
        PQclear(res);
        return STREAM_ERR_PROTOCOL;
    }
    snprintf(out->system_id, sizeof out->system_id, "%s", PQgetvalue(res, 0, 0));
    out->timeline = (uint32_t) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
    if (!lsn_parse(PQgetvalue(res, 0, 2), &out->xlogpos)) {
        snprintf(err, errlen, "IDENTIFY_SYSTEM returned an invalid xlogpos \"%s\"",
                 PQgetvalue(res, 0, 2));
        PQclear(res);
        return STREAM_ERR_PROTOCOL;
    }
    if (PQgetisnull(res, 0, 3)) {
        snprintf(err, errlen, "the connection is not bound to a database: add dbname to "
                              "\"postgres.conninfo\"");
        PQclear(res);
        return STREAM_ERR_SETUP;
    }
    snprintf(out->dbname, sizeof out->dbname, "%s", PQgetvalue(res, 0, 3));
    out->server_version = PQserverVersion(s->conn);
    PQclear(res);
    return STREAM_OK;
}

void stream_version_text(int v, char *out, size_t outlen)
{
    if (v >= 100000)
        snprintf(out, outlen, "%d.%d", v / 10000, v % 10000);
    else
        snprintf(out, outlen, "%d.%d.%d", v / 10000, v / 100 % 100, v % 100);
}

bool stream_history_fork(const char *history, uint32_t tli, sluice_lsn_t *fork)
{
    /* Each line: "<parent tli>\t<switchpoint>\t<reason>"; blank and '#' lines are skipped. */
    for (const char *line = history; line && *line;) {
        const char *next = strchr(line, '\n');
        char buf[128];
        size_t n = next ? (size_t) (next - line) : strlen(line);
        snprintf(buf, sizeof buf, "%.*s", (int) (n < sizeof buf ? n : sizeof buf - 1), line);
        char *end;
        unsigned long parent = strtoul(buf, &end, 10);
        if (end != buf && (*end == '\t' || *end == ' ') && parent == tli) {
            while (*end == '\t' || *end == ' ')
                end++;
            char lsn[32];
            size_t k = strcspn(end, "\t \r");
            snprintf(lsn, sizeof lsn, "%.*s", (int) (k < sizeof lsn ? k : sizeof lsn - 1), end);
            if (lsn_parse(lsn, fork))
                return true;
        }
        line = next ? next + 1 : NULL;
    }
    return false;
}

stream_err_t stream_timeline_fork(stream_t *s, uint32_t current, uint32_t tli, sluice_lsn_t *fork,
                                  bool *found, char *err, size_t errlen)
{
    char sql[64];
    *found = false;
    snprintf(sql, sizeof sql, "TIMELINE_HISTORY %u", current);
    PGresult *res = run_query(s, sql, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return lost_or(s, STREAM_ERR_SETUP);
    if (PQntuples(res) != 1 || PQnfields(res) < 2) {
        snprintf(err, errlen, "TIMELINE_HISTORY %u returned %d rows, expected 1", current,
                 PQntuples(res));
        PQclear(res);
        return STREAM_ERR_PROTOCOL;
    }
    *found = stream_history_fork(PQgetvalue(res, 0, 1), tli, fork);
    PQclear(res);
    return STREAM_OK;
}

stream_wants_t stream_wants_of(const config_t *cfg)
{
    return (stream_wants_t){.failover = cfg->slot_failover, .origin_none = cfg->origin == ORIGIN_NONE};
}

int stream_server_version(stream_t *s)
{
    return PQserverVersion(s->conn);
}

bool stream_wants_supported(int v, const stream_wants_t *w, char *err, size_t errlen)
{
    char ver[32];
    stream_version_text(v, ver, sizeof ver);
    if (w->failover && v < PG_VERSION_FAILOVER) {
        snprintf(err, errlen,
                 "postgres.slot.failover = true needs PostgreSQL 17 or later (failover slots), "
                 "but this server is PostgreSQL %s: remove the setting, or upgrade the server; "
                 "until then a failover to a standby loses the slot",
                 ver);
        return false;
    }
    if (w->origin_none && v < PG_VERSION_ORIGIN) {
        snprintf(err, errlen,
                 "postgres.origin = none needs PostgreSQL 16 or later (pgoutput's origin "
                 "option), but this server is PostgreSQL %s: remove the setting (any streams "
                 "every change, including those a subscription applied), or upgrade the server",
                 ver);
        return false;
    }
    return true;
}

stream_err_t stream_check_server(stream_t *s, const char *publication, const stream_wants_t *wants,
                                 char *err, size_t errlen)
{
    int v = PQserverVersion(s->conn);
    if (v < PG_VERSION_MIN) {
        char ver[32];
        stream_version_text(v, ver, sizeof ver);
        snprintf(err, errlen,
                 "PostgreSQL %s is too old: sluice needs 14 or later (pgoutput's messages "
                 "option)",
                 ver);
        return STREAM_ERR_SETUP;
    }
    if (!stream_wants_supported(v, wants, err, errlen))
        return STREAM_ERR_SETUP;
    s->wants = *wants;
    PGresult *res = run_query(s, "SHOW wal_level", PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return lost_or(s, STREAM_ERR_SETUP);
    if (strcmp(PQgetvalue(res, 0, 0), "logical") != 0) {
        snprintf(err, errlen,
                 "wal_level is \"%s\" but logical decoding needs \"logical\": set wal_level = "
                 "logical in postgresql.conf and restart PostgreSQL",
                 PQgetvalue(res, 0, 0));
        PQclear(res);
        return STREAM_ERR_SETUP;
    }
    PQclear(res);

    char *lit = PQescapeLiteral(s->conn, publication, strlen(publication));
    strbuf_t sql = STRBUF_INIT;
    strbuf_appendf(&sql, "SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = %s", lit);
    PQfreemem(lit);
    res = run_query(s, sql.data, PGRES_TUPLES_OK, err, errlen);
    strbuf_free(&sql);
    if (!res)
        return lost_or(s, STREAM_ERR_SETUP);
    int n = PQntuples(res);
    PQclear(res);
    if (n != 1) {
        snprintf(err, errlen,
                 "publication \"%s\" does not exist in this database: create it with CREATE "
                 "PUBLICATION %s FOR TABLE … (see sql/setup.sql) or set \"postgres.publication\"",
                 publication, publication);
        return STREAM_ERR_SETUP;
    }
    return STREAM_OK;
}

stream_err_t stream_slot_info(stream_t *s, const char *slot, slot_info_t *out, char *err,
                              size_t errlen)
{
    memset(out, 0, sizeof *out);
    char *lit = PQescapeLiteral(s->conn, slot, strlen(slot));
    strbuf_t sql = STRBUF_INIT;
    strbuf_appendf(&sql,
                   "SELECT plugin, slot_type, database, active_pid, confirmed_flush_lsn, "
                   "restart_lsn, wal_status, %s FROM pg_catalog.pg_replication_slots "
                   "WHERE slot_name = %s",
                   PQserverVersion(s->conn) >= PG_VERSION_FAILOVER ? "failover, synced"
                                                                   : "false, false",
                   lit);
    PQfreemem(lit);
    PGresult *res = run_query(s, sql.data, PGRES_TUPLES_OK, err, errlen);
    strbuf_free(&sql);
    if (!res)
        return lost_or(s, STREAM_ERR_SETUP);
    if (PQntuples(res) == 0) {
        PQclear(res);
        return STREAM_OK;
    }
    out->exists = true;
    snprintf(out->plugin, sizeof out->plugin, "%s", PQgetvalue(res, 0, 0));
    out->logical = strcmp(PQgetvalue(res, 0, 1), "logical") == 0;
    snprintf(out->database, sizeof out->database, "%s", PQgetvalue(res, 0, 2));
    out->active_pid = PQgetisnull(res, 0, 3) ? 0 : atoi(PQgetvalue(res, 0, 3));
    if (!PQgetisnull(res, 0, 4))
        lsn_parse(PQgetvalue(res, 0, 4), &out->confirmed_flush);
    if (!PQgetisnull(res, 0, 5))
        lsn_parse(PQgetvalue(res, 0, 5), &out->restart_lsn);
    snprintf(out->wal_status, sizeof out->wal_status, "%s",
             PQgetisnull(res, 0, 6) ? "" : PQgetvalue(res, 0, 6));
    out->failover = PQgetvalue(res, 0, 7)[0] == 't';
    out->synced = PQgetvalue(res, 0, 8)[0] == 't';
    PQclear(res);
    return STREAM_OK;
}

bool stream_create_slot_sql(int v, const char *slot, bool temporary, bool export_snapshot,
                            bool failover, strbuf_t *out, char *err, size_t errlen)
{
    if (failover && temporary) {
        snprintf(err, errlen, "a temporary replication slot cannot be a failover slot");
        return false;
    }
    if (failover && v < PG_VERSION_FAILOVER) {
        stream_wants_t w = {.failover = true};
        return stream_wants_supported(v, &w, err, errlen);
    }
    /* Validated names ([a-z0-9_]+), safe to quote as identifiers. */
    strbuf_appendf(out, "CREATE_REPLICATION_SLOT \"%s\"%s LOGICAL pgoutput", slot,
                   temporary ? " TEMPORARY" : "");
    if (v < PG_VERSION_SLOT_OPTIONS) /* 14: the options as bare words, no FAILOVER */
        strbuf_puts(out, export_snapshot ? " EXPORT_SNAPSHOT" : " NOEXPORT_SNAPSHOT");
    else
        strbuf_appendf(out, " (SNAPSHOT '%s'%s)", export_snapshot ? "export" : "nothing",
                       failover ? ", FAILOVER true" : "");
    return true;
}

bool stream_alter_failover_sql(int v, const char *slot, strbuf_t *out, char *err, size_t errlen)
{
    stream_wants_t w = {.failover = true};
    if (!stream_wants_supported(v, &w, err, errlen))
        return false;
    strbuf_appendf(out, "ALTER_REPLICATION_SLOT \"%s\" (FAILOVER true)", slot);
    return true;
}

bool stream_start_sql(int v, const char *slot, sluice_lsn_t start_lsn, const char *pubs_literal,
                      bool origin_none, strbuf_t *out, char *err, size_t errlen)
{
    stream_wants_t w = {.origin_none = origin_none};
    if (!stream_wants_supported(v, &w, err, errlen))
        return false;
    /* Protocol 1 on every version: sluice asks for no streaming of in-progress
     * transactions (2), two-phase (3) or parallel apply (4), the only additions. */
    strbuf_appendf(out,
                   "START_REPLICATION SLOT \"%s\" LOGICAL " LSN_FMT
                   " (proto_version '1', publication_names %s, messages 'true'%s)",
                   slot, LSN_ARGS(start_lsn), pubs_literal, origin_none ? ", origin 'none'" : "");
    return true;
}

/* Runs a CREATE_REPLICATION_SLOT built for this server; NULL (and err, a class in *cls) on failure. */
static PGresult *create_slot(stream_t *s, const char *slot, bool temporary, bool export_snapshot,
                             stream_err_t *cls, char *err, size_t errlen)
{
    strbuf_t sql = STRBUF_INIT;
    PGresult *res = NULL;
    *cls = STREAM_ERR_SETUP;
    if (stream_create_slot_sql(PQserverVersion(s->conn), slot, temporary, export_snapshot,
                               s->wants.failover && !temporary, &sql, err, errlen)) {
        res = run_query(s, sql.data, PGRES_TUPLES_OK, err, errlen);
        if (!res)
            *cls = lost_or(s, STREAM_ERR_SETUP);
    }
    strbuf_free(&sql);
    return res;
}

stream_err_t stream_slot_enable_failover(stream_t *s, const char *slot, char *err, size_t errlen)
{
    strbuf_t sql = STRBUF_INIT;
    stream_err_t cls = STREAM_ERR_SETUP;
    if (stream_alter_failover_sql(PQserverVersion(s->conn), slot, &sql, err, errlen)) {
        PGresult *res = run_query(s, sql.data, PGRES_COMMAND_OK, err, errlen);
        cls = res ? STREAM_OK : lost_or(s, STREAM_ERR_SETUP);
        PQclear(res);
    }
    strbuf_free(&sql);
    return cls;
}

stream_err_t stream_create_slot(stream_t *s, const char *slot, sluice_lsn_t *consistent_point,
                                char *err, size_t errlen)
{
    stream_err_t cls;
    PGresult *res = create_slot(s, slot, false, false, &cls, err, errlen);
    if (!res)
        return cls;
    if (PQntuples(res) != 1 || PQnfields(res) < 2 ||
        !lsn_parse(PQgetvalue(res, 0, 1), consistent_point)) {
        snprintf(err, errlen, "CREATE_REPLICATION_SLOT returned an unexpected result");
        PQclear(res);
        return STREAM_ERR_PROTOCOL;
    }
    PQclear(res);
    return STREAM_OK;
}

stream_err_t stream_create_slot_exported(stream_t *s, const char *slot, bool temporary,
                                         sluice_lsn_t *consistent_point, char *snapshot_name,
                                         size_t snapshot_name_len, char *err, size_t errlen)
{
    stream_err_t cls;
    PGresult *res = create_slot(s, slot, temporary, true, &cls, err, errlen);
    if (!res)
        return cls;
    if (PQntuples(res) != 1 || PQnfields(res) < 3 || PQgetisnull(res, 0, 2) ||
        !lsn_parse(PQgetvalue(res, 0, 1), consistent_point)) {
        snprintf(err, errlen, "CREATE_REPLICATION_SLOT … with an exported snapshot returned an "
                              "unexpected result");
        PQclear(res);
        return STREAM_ERR_PROTOCOL;
    }
    snprintf(snapshot_name, snapshot_name_len, "%s", PQgetvalue(res, 0, 2));
    PQclear(res);
    return STREAM_OK;
}

/*
 * Standby status update:
 *   'r' | Int64 write | Int64 flush | Int64 apply | Int64 now (µs since 2000) | Byte1 reply
 */
static bool send_status(stream_t *s, bool request_reply)
{
    uint8_t msg[1 + 8 * 4 + 1];
    sluice_lsn_t lsn = atomic_load(&s->confirmed);
    msg[0] = 'r';
    wire_put_u64(msg + 1, lsn);
    wire_put_u64(msg + 9, lsn);
    wire_put_u64(msg + 17, lsn);
    wire_put_u64(msg + 25, (uint64_t) (clock_wall_us() - PG_EPOCH_OFFSET_US));
    msg[33] = request_reply ? 1 : 0;
    if (PQputCopyData(s->conn, (const char *) msg, sizeof msg) <= 0 || PQflush(s->conn) != 0)
        return false;
    sluice_lsn_t prev = atomic_exchange(&s->confirmed_sent, lsn);
    metrics_status_sent(lsn);
    if (lsn != prev) {
        log_debug("confirmed " LSN_FMT " to PostgreSQL", LSN_ARGS(lsn));
        testpoint_hit("after_confirm");
    }
    return true;
}

static void push_end(stream_t *s, const char *reason)
{
    qitem_t *it = qitem_new(NULL, QITEM_END, reason, strlen(reason));
    /* The pipeline must learn that the stream ended, so wait for room — unless
     * the pipeline is gone already (a Kafka failure ended it while the queue
     * was full): then stream_stop is waiting for this thread and nobody will
     * ever pop the queue. */
    while (!queue_push(s->queue, it, 200)) {
        if (atomic_load(&s->stop)) {
            qitem_free(it);
            return;
        }
    }
}

static void drain_wake(stream_t *s)
{
    uint64_t v;
    ssize_t r = read(s->wake_fd, &v, sizeof v);
    (void) r;
}

/* Items read but not yet queued: handed over in batches, one lock per batch. */
typedef struct {
    qitem_t *head, *tail;
    size_t cost;
    int count;
} batch_t;

static void batch_add(batch_t *b, qitem_t *it)
{
    if (b->tail)
        b->tail->next = it;
    else
        b->head = it;
    b->tail = it;
    b->cost += qitem_cost(it);
    b->count++;
}

static void batch_free(batch_t *b)
{
    for (qitem_t *it = b->head, *next; it; it = next) {
        next = it->next;
        qitem_free(it);
    }
    *b = (batch_t){0};
}

/* The reader thread's state between its steps. */
typedef struct {
    stream_t *s;
    char reason[1024]; /* why the stream ended, for the pipeline */
    qarena_t arena;
    batch_t batch;
    bool flush; /* the batch is due: queue it before reading more */
    int64_t next_status;
    sluice_lsn_t last_sent;
    /* Silence from the server counts only while the reader waits to read: not
     * while it holds data back for want of room in the queue. */
    int64_t last_heard;
    bool pinged; /* asked the server for a keepalive during this silence */
} reader_t;

/* A status update when one is due or the confirmed LSN moved; false if it could not be sent. */
static bool reader_send_due_status(reader_t *rd)
{
    stream_t *s = rd->s;
    int64_t now = clock_mono_ms();
    sluice_lsn_t confirmed = atomic_load(&s->confirmed);
    if (now < rd->next_status && confirmed == rd->last_sent)
        return true;
    if (!send_status(s, false)) {
        conn_error(s->conn, rd->reason, sizeof rd->reason, "could not send status update");
        return false;
    }
    rd->last_sent = confirmed;
    rd->next_status = now + s->status_interval_ms;
    return true;
}

/* Back-pressure: waits for room in the queue for the batch, but never past the next status
 * update. */
static void reader_hand_over(reader_t *rd)
{
    int wait = (int) (rd->next_status - clock_mono_ms());
    if (wait > 200)
        wait = 200;
    if (wait < 1)
        wait = 1;
    if (queue_push_list(rd->s->queue, rd->batch.head, rd->batch.cost, wait)) {
        rd->batch = (batch_t){0};
        rd->flush = false;
        rd->last_heard = clock_mono_ms();
        metrics_backpressure(false);
    } else {
        metrics_backpressure(true);
    }
}

/*
 * Nothing to read: ends the stream on receive_timeout_ms of silence, asks for
 * a keepalive at half of it, and otherwise waits in poll() for data, a wake-up
 * or the next status update. False with rd->reason set when the stream ends.
 */
static bool reader_wait(reader_t *rd)
{
    stream_t *s = rd->s;
    int64_t now_ms = clock_mono_ms();
    int64_t wake_at = rd->next_status;
    if (s->receive_timeout_ms > 0) {
        int64_t silent = now_ms - rd->last_heard;
        if (silent >= s->receive_timeout_ms) {
            snprintf(rd->reason, sizeof rd->reason,
                     "replication connection lost: PostgreSQL sent nothing for %d ms, not "
                     "even a keepalive it was asked for (postgres.receive_timeout_ms; a "
                     "server or network that failed silently, or a walsender replaying "
                     "a transaction without reading: the next wait is twice as long)",
                     (int) silent);
            atomic_store(&s->timed_out, true);
            return false;
        }
        if (!rd->pinged && silent >= s->receive_timeout_ms / 2) {
            if (!send_status(s, true)) {
                conn_error(s->conn, rd->reason, sizeof rd->reason, "could not send status update");
                return false;
            }
            rd->pinged = true;
            rd->last_sent = atomic_load(&s->confirmed_sent);
        }
        int64_t due = rd->last_heard +
                      (rd->pinged ? s->receive_timeout_ms : s->receive_timeout_ms / 2);
        if (due < wake_at)
            wake_at = due;
    }
    struct pollfd fds[2] = {{PQsocket(s->conn), POLLIN, 0}, {s->wake_fd, POLLIN, 0}};
    int timeout = (int) (wake_at - now_ms);
    if (timeout < 0)
        timeout = 0;
    if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
        snprintf(rd->reason, sizeof rd->reason, "poll failed: %s", strerror(errno));
        return false;
    }
    if (fds[1].revents)
        drain_wake(s);
    if (fds[0].revents) {
        if (!PQconsumeInput(s->conn)) {
            conn_error(s->conn, rd->reason, sizeof rd->reason, "replication connection lost");
            return false;
        }
        /* Bytes of a message still arriving (a huge row on a slow link) are not silence. */
        rd->last_heard = clock_mono_ms();
    }
    return true;
}

/* XLogData: 'w' | Int64 dataStart | Int64 walEnd | Int64 sendTime | payload. Takes buf. */
static bool reader_take_xlogdata(reader_t *rd, wire_reader_t *w, char *buf, int len)
{
    sluice_lsn_t start = wire_u64(w, "data start");
    sluice_lsn_t end = wire_u64(w, "WAL end");
    wire_u64(w, "send time");
    if (w->failed) {
        snprintf(rd->reason, sizeof rd->reason, "invalid XLogData message of %d bytes", len);
        PQfreemem(buf);
        return false;
    }
    metrics_stream_received((size_t) len, end);
    qitem_t *it = qitem_new(&rd->arena, QITEM_DATA, buf + w->pos, (size_t) len - w->pos);
    PQfreemem(buf);
    it->wal_start = start;
    it->wal_end = end;
    batch_add(&rd->batch, it);
    return true;
}

/* Keepalive: 'k' | Int64 walEnd | Int64 sendTime | Byte1 replyRequested. Takes buf. */
static bool reader_take_keepalive(reader_t *rd, wire_reader_t *w, char *buf, int len)
{
    stream_t *s = rd->s;
    sluice_lsn_t end = wire_u64(w, "WAL end");
    wire_u64(w, "send time");
    uint8_t reply = wire_u8(w, "reply requested");
    PQfreemem(buf);
    if (w->failed) {
        snprintf(rd->reason, sizeof rd->reason, "invalid keepalive message of %d bytes", len);
        return false;
    }
    if (reply) {
        if (!send_status(s, false)) {
            conn_error(s->conn, rd->reason, sizeof rd->reason, "could not send status update");
            return false;
        }
        rd->last_sent = atomic_load(&s->confirmed_sent);
        rd->next_status = clock_mono_ms() + s->status_interval_ms;
    }
    metrics_stream_received(0, end);
    qitem_t *it = qitem_new(&rd->arena, QITEM_KEEPALIVE, NULL, 0);
    it->wal_end = end;
    batch_add(&rd->batch, it);
    return true;
}

/* One CopyData message of len bytes (takes buf): into the batch, or false with rd->reason. */
static bool reader_take_message(reader_t *rd, char *buf, int len)
{
    atomic_fetch_add(&rd->s->bytes_received, (uint64_t) len);
    rd->last_heard = clock_mono_ms();
    rd->pinged = false;
    wire_reader_t w;
    wire_init(&w, buf, (size_t) len);
    uint8_t tag = wire_u8(&w, "message type");
    if (tag == 'w')
        return reader_take_xlogdata(rd, &w, buf, len);
    if (tag == 'k')
        return reader_take_keepalive(rd, &w, buf, len);
    snprintf(rd->reason, sizeof rd->reason,
             "unexpected message type 0x%02x in the replication stream", tag);
    PQfreemem(buf);
    return false;
}

static void *reader_main(void *arg)
{
    stream_t *s = arg;
    log_set_thread_name("reader");
    reader_t rd = {.s = s,
                   .next_status = clock_mono_ms() + s->status_interval_ms,
                   .last_sent = atomic_load(&s->confirmed_sent),
                   .last_heard = clock_mono_ms()};
    while (!atomic_load(&s->stop)) {
        if (!reader_send_due_status(&rd))
            break;
        if (rd.flush) {
            reader_hand_over(&rd);
            continue;
        }
        char *buf = NULL;
        int r = PQgetCopyData(s->conn, &buf, 1);
        if (r == 0) {
            if (rd.batch.head) {
                /* Nothing more buffered: hand over what we have before waiting. */
                rd.flush = true;
                continue;
            }
            if (!reader_wait(&rd))
                break;
            continue;
        }
        if (r == -1) {
            PGresult *res = PQgetResult(s->conn);
            snprintf(rd.reason, sizeof rd.reason, "replication stream ended by the server: %s",
                     res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
                                                         : "no error reported");
            PQclear(res);
            break;
        }
        if (r < 0) {
            conn_error(s->conn, rd.reason, sizeof rd.reason, "replication connection lost");
            break;
        }
        if (!reader_take_message(&rd, buf, r))
            break;
        if (rd.batch.count >= 1024 || rd.batch.cost >= 1024 * 1024)
            rd.flush = true;
    }
    batch_free(&rd.batch);
    qarena_release(&rd.arena);
    if (!atomic_load(&s->stop)) {
        push_end(s, rd.reason[0] ? rd.reason : "replication stream ended");
    } else if (PQstatus(s->conn) == CONNECTION_OK) {
        /* Stopping on request: report the final confirmed position. */
        send_status(s, false);
    }
    return NULL;
}

stream_err_t stream_start(stream_t *s, const char *slot, const char *publication,
                          sluice_lsn_t start_lsn, sluice_lsn_t confirmed, int status_interval_ms,
                          int receive_timeout_ms, queue_t *q, char *err, size_t errlen)
{
    strbuf_t sql = STRBUF_INIT;
    /* publication_names is itself a list of identifiers: quote the name inside the literal. */
    strbuf_t pubs = STRBUF_INIT;
    strbuf_putc(&pubs, '"');
    for (const char *p = publication; *p; p++) {
        if (*p == '"')
            strbuf_putc(&pubs, '"');
        strbuf_putc(&pubs, *p);
    }
    strbuf_putc(&pubs, '"');
    char *lit = PQescapeLiteral(s->conn, pubs.data, pubs.len);
    bool built = stream_start_sql(PQserverVersion(s->conn), slot, start_lsn, lit,
                                  s->wants.origin_none, &sql, err, errlen);
    PQfreemem(lit);
    strbuf_free(&pubs);
    if (!built) {
        strbuf_free(&sql);
        return STREAM_ERR_SETUP;
    }
    PGresult *res = PQexec(s->conn, sql.data);
    strbuf_free(&sql);
    if (PQresultStatus(res) != PGRES_COPY_BOTH) {
        snprintf(err, errlen, "could not start replication from slot \"%s\": %s", slot,
                 PQresultErrorMessage(res));
        size_t n = strlen(err);
        while (n > 0 && err[n - 1] == '\n')
            err[--n] = '\0';
        PQclear(res);
        return lost_or(s, STREAM_ERR_SETUP);
    }
    PQclear(res);
    s->queue = q;
    s->status_interval_ms = status_interval_ms;
    s->receive_timeout_ms = receive_timeout_ms;
    atomic_store(&s->timed_out, false);
    atomic_store(&s->confirmed, confirmed);
    atomic_store(&s->confirmed_sent, confirmed);
    atomic_store(&s->stop, false);
    if (pthread_create(&s->thread, NULL, reader_main, s) != 0) {
        snprintf(err, errlen, "could not start the reader thread: %s", strerror(errno));
        return STREAM_ERR_PROTOCOL;
    }
    s->thread_running = true;
    return STREAM_OK;
}

void stream_confirm(stream_t *s, sluice_lsn_t lsn)
{
    sluice_lsn_t cur = atomic_load(&s->confirmed);
    while (lsn > cur && !atomic_compare_exchange_weak(&s->confirmed, &cur, lsn))
        ;
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof one);
    (void) w;
}

sluice_lsn_t stream_confirmed_sent(stream_t *s)
{
    return atomic_load(&s->confirmed_sent);
}

void stream_stop(stream_t *s)
{
    if (!s || !s->thread_running)
        return;
    atomic_store(&s->stop, true);
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof one);
    (void) w;
    pthread_join(s->thread, NULL);
    s->thread_running = false;
}

int stream_backend_pid(stream_t *s)
{
    return PQbackendPID(s->conn);
}

bool stream_timed_out(stream_t *s)
{
    return atomic_load(&s->timed_out);
}

stream_err_t stream_backend_start(stream_t *s, int pid, char *out, size_t outlen, char *err,
                                  size_t errlen)
{
    char sql[160];
    snprintf(sql, sizeof sql,
             "SELECT backend_start FROM pg_catalog.pg_stat_activity WHERE pid = %d", pid);
    out[0] = '\0';
    PGresult *res = run_query(s, sql, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return lost_or(s, STREAM_ERR_SETUP);
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return STREAM_OK;
}

stream_err_t stream_terminate_backend(stream_t *s, int pid, char *err, size_t errlen)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_catalog.pg_terminate_backend(%d)", pid);
    PGresult *res = run_query(s, sql, PGRES_TUPLES_OK, err, errlen);
    if (!res)
        return lost_or(s, STREAM_ERR_SETUP);
    PQclear(res);
    return STREAM_OK;
}

uint64_t stream_bytes_received(stream_t *s)
{
    return atomic_load(&s->bytes_received);
}
