/*
 * metrics.h — what sluice tells operators while it runs: Prometheus text on
 * GET /metrics and a health verdict on GET /healthz, served by libmicrohttpd
 * on `metrics.listen`.
 *
 * Every update below is a relaxed atomic store or add on a process-wide
 * value: callable from any thread at any time, cheap enough for the hot path,
 * and harmless when the server is off (the values are then only kept). The
 * HTTP thread reads them; nothing here ever blocks the reader or the pipeline.
 *
 * Owns: one sampler thread, the values (ops/metrics_server.h serves them). Never: decides
 * anything about the stream (health is reported, not acted on).
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include "sluice/base/buf.h"
#include "sluice/base/common.h"
#include "sluice/base/queue.h"

/* The streaming pipeline's counters (core/pipeline.c counts, the renderer reads). */
typedef struct {
    _Atomic uint64_t source_txns;  /* source transactions produced */
    _Atomic uint64_t skipped_txns; /* already in Kafka (resent by PostgreSQL) */
    _Atomic uint64_t changes;      /* change events produced */
    _Atomic uint64_t kafka_commits;
    _Atomic uint64_t kafka_aborts;
    _Atomic uint64_t idle_checkpoints;
} pipeline_counters_t;

/*
 * What the supervision loop (core/supervisor.c) is doing; /healthz is 200
 * while streaming, and while a standby watches the lease (metrics_standby_seen).
 */
typedef enum {
    MSTATE_STARTING = 0, /* preflight, fencing, reading the checkpoint */
    MSTATE_STREAMING,    /* a replication session runs */
    MSTATE_RECOVERING,   /* a peer failed; retrying with backoff */
    MSTATE_STOPPING,     /* a stop was requested */
    MSTATE_STANDBY,      /* standby mode: another instance holds the slot's lease */
} metrics_state_t;

/* Error classes counted in sluice_errors_total{class=…}. */
typedef enum {
    MERR_PG_CONNECT = 0, /* PostgreSQL unreachable or refused a session */
    MERR_PG_LOST,        /* the replication connection broke */
    MERR_KAFKA_UNAVAILABLE, /* fencing or checkpoint read failed; retried */
    MERR_KAFKA_ABORT,    /* Kafka transaction aborted, source rewound */
    MERR_KAFKA_FATAL,    /* producer rebuilt */
    MERR_KAFKA_CLIENT,   /* librdkafka reported an error (connection trouble) */
    MERR_FENCED,
    MERR_DATA,
    MERR_PROTOCOL,
    MERR_COUNT_
} metrics_error_t;

/* --- set by main.c ------------------------------------------------------- */

/* Names the running instance in sluice_info; strings are copied. */
void metrics_set_identity(const char *slot, const char *publication, const char *transactional_id);
/* reason (copied, may be NULL) is shown by /healthz while not streaming. */
void metrics_set_state(metrics_state_t st, const char *reason);
void metrics_error(metrics_error_t cls);
/*
 * A standby just looked at the slot's lease successfully: /healthz stays 200
 * for stale_ms unless it looks again (a standby that cannot reach PostgreSQL
 * cannot take over, and says so).
 */
void metrics_standby_seen(int stale_ms);
/* This instance took the slot over from another one (sluice_takeovers_total). */
void metrics_takeover(void);
/*
 * The pipeline's counters and the session's queue, read by the HTTP thread;
 * NULL unbinds. Unbind before freeing them (the call waits for a reader in
 * progress).
 */
void metrics_bind_stats(const pipeline_counters_t *stats);
void metrics_bind_queue(queue_t *q, size_t queue_max_bytes);

/* --- set by the reader (stream.c) --------------------------------------- */

/* An XLogData (bytes > 0) or keepalive (bytes 0) arrived; server_wal_end from its header. */
void metrics_stream_received(size_t bytes, sluice_lsn_t server_wal_end);
/* A standby status update reporting flush = lsn was sent. */
void metrics_status_sent(sluice_lsn_t lsn);
/* The reader waits for room in the queue (true) or no longer does (false). */
void metrics_backpressure(bool waiting);

/* --- set by the pipeline and the sink ----------------------------------- */

/* A source transaction Kafka does not hold yet began; commit_ts in µs since the Unix epoch. */
void metrics_source_txn_begin(int64_t commit_ts_us);
/* A Kafka transaction committed after latency_us in commit (checkpoint produce + commit). */
void metrics_kafka_committed(int64_t latency_us);
/*
 * skipped.operations left one event out: op is 'c', 'u', 'd' or 't' (a snapshot's reset
 * truncate included); counted in sluice_skipped_events_total{op}. Other ops are ignored.
 */
void metrics_skipped_event(char op);
/* librdkafka's statistics JSON (statistics.interval.ms); parsed, not kept. */
void metrics_rdkafka_stats(const char *json, size_t len);

/* --- set by the snapshot (core/snapshot.c) ----------------------------- */

/* A snapshot of tables_total tables began, tables_done of them already complete. */
void metrics_snapshot_started(uint64_t tables_total, uint64_t tables_done);
void metrics_snapshot_row(void);
void metrics_snapshot_table_done(void);
void metrics_snapshot_ended(void);

/* --- reading ------------------------------------------------------------ */

/*
 * Starts (once) the sampler thread that stamps when events or commits last
 * moved, with the health limits: 503 when a status update to PostgreSQL is
 * older than feedback_ms, or changes wait and nothing reached Kafka for
 * stall_ms. The metrics server starts it; stop joins it.
 */
void metrics_sampler_start(int feedback_ms, int stall_ms);
void metrics_sampler_stop(void);

/* Renders the Prometheus exposition text (appended to out). */
void metrics_render(strbuf_t *out);
/* Returns 200 or 503 and appends a one-line reason to out. */
int metrics_health(strbuf_t *out);

#endif
