/*
 * pipeline.h — the pipeline thread: decode, assemble source transactions,
 * encode, batch whole source transactions into Kafka transactions, commit
 * with a checkpoint, and only then confirm to PostgreSQL (docs/design.md,
 * steps 5–10).
 *
 * One pipeline_run per replication session. It returns why the session
 * ended; the caller (main) decides whether to reconnect, rebuild the
 * producer or exit. The committed checkpoint lives in *ckpt and is updated
 * after every successful Kafka commit, so it is always what Kafka holds.
 */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H

#include <signal.h>
#include <stdatomic.h>

#include "sluice/base/checkpoint.h"
#include "sluice/base/config.h"
#include "sluice/base/metrics.h"
#include "sluice/encode/encode.h"
#include "sluice/base/queue.h"
#include "sluice/kafka/sink.h"
#include "sluice/pg/stream.h"

typedef enum {
    PIPE_STOPPED,     /* stop requested; everything committed is confirmed */
    PIPE_STREAM_LOST, /* replication connection ended: reconnect, resume from *ckpt */
    PIPE_REWIND,      /* Kafka transaction aborted: reconnect, resume from *ckpt */
    PIPE_REBUILD,     /* producer unusable: rebuild it, re-read the checkpoint */
    PIPE_FENCED,      /* another instance owns the transactional id */
    PIPE_DATA,        /* data Kafka will never accept, or a source txn that cannot fit */
    PIPE_PROTOCOL,    /* PostgreSQL sent something sluice cannot decode */
    PIPE_SNAPSHOT,    /* a "sluice.snapshot" message asked for tables to be copied: the
                         request is committed in *ckpt (snapshot.h); copy, then stream on */
} pipeline_result_t;

/* What the pipeline reports about a session, kept across sessions by the supervisor. */
typedef struct {
    pipeline_counters_t counts; /* read by the metrics server while the pipeline runs */
    /* commit LSN of the source transaction whose Kafka transaction last timed out */
    sluice_lsn_t timeout_failed_lsn;
    /* PIPE_FENCED only: the open Kafka transaction had outlived transaction.timeout.ms, so
     * the coordinator may have aborted it (and bumped the epoch) without any other instance */
    bool fenced_after_timeout;
} pipeline_stats_t;

/*
 * Where the pipeline confirms to PostgreSQL: confirm(ctx, lsn) after every
 * successful Kafka commit, with the end LSN of the checkpoint that commit
 * wrote, and at no other time. The daemon binds it to the replication stream
 * (pipeline_confirm_to_stream); a test binds a recorder.
 */
typedef struct {
    void (*confirm)(void *ctx, sluice_lsn_t lsn);
    /* How far confirms have reached the server, or NULL. Only the
     * CONFIRM_BEFORE_COMMIT test build (make mutants) waits on it. */
    sluice_lsn_t (*confirmed_sent)(void *ctx);
    void *ctx;
} pipeline_confirm_t;

/* stream_confirm and stream_confirmed_sent of s (not owned; must outlive the session). */
pipeline_confirm_t pipeline_confirm_to_stream(stream_t *s);

typedef struct {
    const config_t *cfg;
    sink_t *sink; /* with no Kafka transaction open */
    encoder_t *encoder;
    pipeline_confirm_t confirm;
    queue_t *queue;
    checkpoint_t *ckpt; /* in: committed checkpoint; out: the last one committed */
    const char *system_id;
    atomic_int *stop;
    uint32_t timeline; /* the server's timeline, recorded in every checkpoint */
    pipeline_stats_t *stats;
    /*
     * After a snapshot whose tables were copied later than where streaming
     * resumes: changes committed before a table's copy are left out (they are
     * in the copy). NULL: every change goes out. Not owned.
     */
    const struct snapshot_filter *snapshot_filter;
} pipeline_args_t;

/* Runs until the session ends; writes the reason into err (for everything but PIPE_STOPPED). */
pipeline_result_t pipeline_run(const pipeline_args_t *args, char *err, size_t errlen);

const char *pipeline_result_name(pipeline_result_t r);

#endif
