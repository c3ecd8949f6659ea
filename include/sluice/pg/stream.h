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
 *
 * Server versions: every command is written for the server's
 * server_version_num (PQserverVersion), by the pure builders below, which the
 * unit tests check version by version. PostgreSQL 14 takes
 * CREATE_REPLICATION_SLOT's options only as bare words (EXPORT_SNAPSHOT,
 * NOEXPORT_SNAPSHOT), 15+ as a parenthesised list; a failover slot needs 17+,
 * pgoutput's origin option 16+. pgoutput protocol 1 with messages (14+) is
 * what sluice reads on every version.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include "sluice/base/buf.h"
#include "sluice/base/common.h"
#include "sluice/base/config.h"
#include "sluice/base/queue.h"

/* server_version_num thresholds of what sluice uses. */
#define PG_VERSION_MIN 140000          /* pgoutput's messages option: the oldest sluice runs on */
#define PG_VERSION_SLOT_OPTIONS 150000 /* CREATE_REPLICATION_SLOT … (SNAPSHOT '…') */
#define PG_VERSION_ORIGIN 160000       /* START_REPLICATION … (origin 'none') */
#define PG_VERSION_FAILOVER 170000     /* failover slots, ALTER_REPLICATION_SLOT */

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
    bool failover;             /* a failover slot (PostgreSQL 17+; false before) */
    bool synced;               /* copied from a primary by slot synchronization (17+) */
} slot_info_t;

/* What the configuration asks of the server beyond logical decoding. */
typedef struct {
    bool failover;    /* postgres.slot.failover: slots sluice creates are failover slots (17+) */
    bool origin_none; /* postgres.origin = none: only changes made on this server (16+) */
} stream_wants_t;

/* What cfg asks of the server (postgres.slot.failover, postgres.origin). */
stream_wants_t stream_wants_of(const config_t *cfg);

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

/*
 * Checks the server's version (PG_VERSION_MIN), wal_level = logical, that the
 * publication exists, and that this server can do what wants asks (a failover
 * slot, origin = none: STREAM_ERR_SETUP naming the setting and the version it
 * needs). Remembers wants for the slots and the stream this connection makes.
 */
stream_err_t stream_check_server(stream_t *s, const char *publication, const stream_wants_t *wants,
                                 char *err, size_t errlen);

/* "17.5" for 170005, "9.6.24" for 90624: a server_version_num as people write it. */
void stream_version_text(int server_version, char *out, size_t outlen);

/*
 * Whether a server of server_version can do what wants asks; if not, false
 * and a message that names the setting, the version it needs and this one.
 */
bool stream_wants_supported(int server_version, const stream_wants_t *wants, char *err,
                            size_t errlen);

/*
 * The CREATE_REPLICATION_SLOT command for a server of server_version: a
 * logical pgoutput slot, TEMPORARY or not, exporting a snapshot or not, a
 * failover slot or not. False (and err) when that server cannot make it
 * (a failover slot before 17, or a temporary one, which cannot fail over).
 * slot must be a valid slot name (config_finish checked it: [a-z0-9_]).
 */
bool stream_create_slot_sql(int server_version, const char *slot, bool temporary,
                            bool export_snapshot, bool failover, strbuf_t *out, char *err,
                            size_t errlen);

/*
 * The START_REPLICATION command for a server of server_version: pgoutput
 * protocol 1, the publications as the literal pubs_literal (already quoted),
 * logical messages, and origin 'none' when asked (16+; false and err before).
 */
bool stream_start_sql(int server_version, const char *slot, sluice_lsn_t start_lsn,
                      const char *pubs_literal, bool origin_none, strbuf_t *out, char *err,
                      size_t errlen);

/* ALTER_REPLICATION_SLOT slot (FAILOVER true): 17+; false and err before. */
bool stream_alter_failover_sql(int server_version, const char *slot, strbuf_t *out, char *err,
                               size_t errlen);

/*
 * Where timeline tli ended in the history of timeline current (the text of its
 * timeline history file: lines "parent_tli<TAB>switchpoint<TAB>reason"):
 * true and *fork, or false when tli is not in it. Pure, for the unit tests.
 */
bool stream_history_fork(const char *history, uint32_t tli, sluice_lsn_t *fork);

/*
 * TIMELINE_HISTORY current: *found and *fork as stream_history_fork says for
 * tli (an ancestor of current, which must be > 1).
 */
stream_err_t stream_timeline_fork(stream_t *s, uint32_t current, uint32_t tli, sluice_lsn_t *fork,
                                  bool *found, char *err, size_t errlen);

/* The connected server's server_version_num. */
int stream_server_version(stream_t *s);

stream_err_t stream_slot_info(stream_t *s, const char *slot, slot_info_t *out, char *err,
                              size_t errlen);

/*
 * CREATE_REPLICATION_SLOT slot LOGICAL pgoutput (a failover slot when the
 * wants given to stream_check_server say so); *consistent_point is where it
 * starts.
 */
stream_err_t stream_create_slot(stream_t *s, const char *slot, sluice_lsn_t *consistent_point,
                                char *err, size_t errlen);

/*
 * CREATE_REPLICATION_SLOT slot [TEMPORARY] LOGICAL pgoutput (SNAPSHOT 'export'),
 * a failover slot when not temporary and the wants say so: also writes the
 * exported snapshot's name. The snapshot shows the database
 * exactly as of *consistent_point: every transaction committed before it is
 * visible, and the slot decodes every one committed at or after it. It stays
 * importable (SET TRANSACTION SNAPSHOT) only while this connection runs no
 * other command; a TEMPORARY slot is dropped when the connection closes.
 */
stream_err_t stream_create_slot_exported(stream_t *s, const char *slot, bool temporary,
                                         sluice_lsn_t *consistent_point, char *snapshot_name,
                                         size_t snapshot_name_len, char *err, size_t errlen);

/*
 * Makes the existing slot a failover slot (ALTER_REPLICATION_SLOT, 17+). The
 * slot must not be in use.
 */
stream_err_t stream_slot_enable_failover(stream_t *s, const char *slot, char *err, size_t errlen);

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
