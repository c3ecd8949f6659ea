/*
 * stream.h — the replication connection to PostgreSQL.
 *
 * Before streaming: IDENTIFY_SYSTEM, server checks, slot inspection and
 * creation, all on one `replication=database` connection. Then
 * START_REPLICATION … LOGICAL, after which a reader thread owns the
 * connection: it frames the CopyBoth stream, queues each XLogData payload,
 * answers keepalives at once and sends a standby status update every
 * `status_interval_ms` and whenever the confirmed LSN moves. When the queue is
 * full it stops reading but keeps sending status updates, so a slow Kafka
 * never makes the walsender time the connection out.
 *
 * The only value flowing back is the confirmed LSN (stream_confirm): the end
 * of the last source transaction Kafka has committed. The reader reports it
 * as write, flush and apply position; PostgreSQL advances the slot from it.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include "sluice/base/common.h"
#include "sluice/base/queue.h"

typedef struct stream stream_t;

typedef struct {
    char system_id[32];
    uint32_t timeline;
    sluice_lsn_t xlogpos;
    char dbname[128];
    int server_version; /* e.g. 150018 */
} stream_identity_t;

typedef struct {
    bool exists;
    char plugin[64];
    char database[128];
    bool logical;
    int active_pid;            /* 0 when no session streams from it */
    sluice_lsn_t confirmed_flush;
    sluice_lsn_t restart_lsn;
    char wal_status[16];       /* "reserved", "extended", "unreserved", "lost" or "" */
} slot_info_t;

/* Error classes, mapped to exit codes at start and to retries once running. */
typedef enum {
    STREAM_OK = 0,
    STREAM_ERR_CONNECT, /* unreachable, refused, authentication */
    STREAM_ERR_SETUP,   /* wal_level, publication, privileges, slot problems */
    STREAM_ERR_LOST,    /* the connection broke */
    STREAM_ERR_PROTOCOL,
} stream_err_t;

/*
 * Opens a replication connection (pgconn_open: the user's conninfo plus
 * replication=database and the session options that pin the text form of
 * values, with the TCP keepalive defaults). On failure returns NULL, sets
 * *cls and writes libpq's reason (never the password) into err.
 */
stream_t *stream_connect(const char *conninfo, stream_err_t *cls, char *err, size_t errlen);

/* Stops the reader if running and closes the connection. NULL is fine. */
void stream_close(stream_t *s);

stream_err_t stream_identify(stream_t *s, stream_identity_t *out, char *err, size_t errlen);

/* Checks wal_level = logical and that the publication exists. */
stream_err_t stream_check_server(stream_t *s, const char *publication, char *err, size_t errlen);

stream_err_t stream_slot_info(stream_t *s, const char *slot, slot_info_t *out, char *err,
                              size_t errlen);

/* CREATE_REPLICATION_SLOT slot LOGICAL pgoutput; *consistent_point is where it starts. */
stream_err_t stream_create_slot(stream_t *s, const char *slot, sluice_lsn_t *consistent_point,
                                char *err, size_t errlen);

/*
 * CREATE_REPLICATION_SLOT slot [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'export'):
 * also writes the exported snapshot's name. The snapshot shows the database
 * exactly as of *consistent_point: every transaction committed before it is
 * visible, and the slot decodes every one committed at or after it. It stays
 * importable (SET TRANSACTION SNAPSHOT) only while this connection runs no
 * other command; a TEMPORARY slot is dropped when the connection closes.
 */
stream_err_t stream_create_slot_exported(stream_t *s, const char *slot, bool temporary,
                                         sluice_lsn_t *consistent_point, char *snapshot_name,
                                         size_t snapshot_name_len, char *err, size_t errlen);

/*
 * Issues START_REPLICATION from start_lsn (0 = the slot's confirmed position)
 * and starts the reader thread, which pushes into q (not owned). confirmed is
 * the initial flush position reported (0 = report nothing yet). A server
 * silent for receive_timeout_ms (0 = no limit) while the reader waits ends the
 * stream as lost; at half of it the reader asks the server for a keepalive.
 */
stream_err_t stream_start(stream_t *s, const char *slot, const char *publication,
                          sluice_lsn_t start_lsn, sluice_lsn_t confirmed, int status_interval_ms,
                          int receive_timeout_ms, queue_t *q, char *err, size_t errlen);

/*
 * Publishes a new confirmed LSN (monotonic: lower values are ignored) and
 * wakes the reader to send it at once. Call only after Kafka committed
 * everything up to lsn.
 */
void stream_confirm(stream_t *s, sluice_lsn_t lsn);

/* The last confirmed LSN the reader has actually sent to PostgreSQL. */
sluice_lsn_t stream_confirmed_sent(stream_t *s);

/*
 * Asks the reader to send a final status update and stop; waits for it.
 * Returns once the thread has exited. The connection stays open until
 * stream_close.
 */
void stream_stop(stream_t *s);

/* PostgreSQL backend (walsender) PID of this connection. */
int stream_backend_pid(stream_t *s);

/*
 * Asks PostgreSQL to terminate backend pid (pg_terminate_backend: allowed for
 * a backend of the same role). For a walsender of this process's own earlier
 * connection that the server has not yet noticed is gone.
 */
stream_err_t stream_terminate_backend(stream_t *s, int pid, char *err, size_t errlen);

/*
 * When backend pid started (pg_stat_activity.backend_start, as text), or ""
 * when it is gone or belongs to a role whose sessions this one cannot see.
 * With the pid it identifies a backend across server restarts.
 */
stream_err_t stream_backend_start(stream_t *s, int pid, char *out, size_t outlen, char *err,
                                  size_t errlen);

/* Whether the reader ended the stream because the server was silent for receive_timeout_ms. */
bool stream_timed_out(stream_t *s);

/* Bytes of XLogData received since start (for metrics and benchmarks). */
uint64_t stream_bytes_received(stream_t *s);

#endif
