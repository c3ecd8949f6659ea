/*
 * snapshot.h — the initial snapshot: every row a published table holds
 * before streaming starts, as events with op "r", handed over to the stream
 * with no gap and no overlap (README, "Initial snapshot"; DESIGN.md).
 *
 * The hand-off. A logical slot created with (SNAPSHOT 'export') names a
 * snapshot that shows exactly the transactions committed before the slot's
 * consistent point, and the slot decodes exactly those committed at or after
 * it. Worker connections import that snapshot (REPEATABLE READ, SET
 * TRANSACTION SNAPSHOT) and COPY each published table in block-range chunks
 * (ctid ranges, so workers share large tables and every row is read once);
 * the rows go out in Kafka transactions, each carrying a checkpoint whose
 * "snapshot" member says which tables are complete. Streaming then starts at
 * the consistent point.
 *
 * After a crash. An exported snapshot dies with the connection that exported
 * it, so an interrupted copy cannot continue in the same snapshot. The
 * checkpoint says, per table: done (its rows are all in Kafka, copied at LSN
 * L), partial (some rows may be in Kafka) or waiting. The next start takes a
 * new snapshot (a TEMPORARY slot exported at L2) and copies every table that
 * is not done; a partial one is first reset with a truncate event (op "t",
 * source.snapshot "true"), so a consumer drops the rows of the interrupted
 * copy before the new copy arrives. Streaming resumes at the checkpoint,
 * before L2; a change to a table copied at L2 is emitted only if its source
 * transaction commits at or after L2 (the same rule PostgreSQL's own table
 * synchronisation uses), so nothing is missed and nothing repeated. Tables
 * completed before the crash are never copied again, and once a checkpoint
 * says "done" no table is ever snapshotted again (except on request, below).
 *
 * On request. A logical decoding message with prefix "sluice.snapshot" and
 * the tables as content (`SELECT pg_logical_emit_message(true,
 * 'sluice.snapshot', 'public.new_table')`) marks those tables partial in the
 * checkpoint of the Kafka transaction holding it; sluice then copies them the
 * same way (reset, copy at a new snapshot, filtered stream) and streams on.
 *
 * Owns: the worker connections and threads, the progress record. Never:
 * streams, or confirms anything to PostgreSQL (the snapshot moves no slot).
 */
#ifndef SLUICE_SNAPSHOT_H
#define SLUICE_SNAPSHOT_H

#include <signal.h>

#include "sluice/buf.h"
#include "sluice/checkpoint.h"
#include "sluice/common.h"
#include "sluice/config.h"
#include "sluice/pgoutput.h"
#include "sluice/pipeline.h"
#include "sluice/sink.h"

/* Prefix of the logical decoding message that asks for a snapshot of tables. */
#define SNAPSHOT_REQUEST_PREFIX "sluice.snapshot"

/* ---- progress: the checkpoint's "snapshot" member ------------------------ */

typedef enum {
    SNAPSHOT_TABLE_WAITING = 'w', /* nothing of it in Kafka yet */
    SNAPSHOT_TABLE_PARTIAL = 'p', /* Kafka may hold some of its rows (or a request asked again) */
    SNAPSHOT_TABLE_DONE = 'd',    /* all its rows are in Kafka, copied as of lsn */
} snapshot_table_state_t;

typedef struct {
    char *name; /* "schema.table" as the publication lists it */
    uint32_t oid;
    snapshot_table_state_t state;
    sluice_lsn_t lsn; /* DONE: consistent point of the snapshot its rows come from */
    uint64_t rows;    /* DONE: rows copied */
} snapshot_table_t;

typedef struct {
    bool running;                  /* false once every table is done */
    uint32_t epoch;                /* snapshots taken so far (1 without a crash) */
    sluice_lsn_t consistent_point; /* of the latest snapshot taken */
    size_t ntables, cap;
    snapshot_table_t *tables;
} snapshot_progress_t;

/* A new, running progress record with no table (epoch 0). Free with snapshot_progress_free. */
snapshot_progress_t *snapshot_progress_new(void);
void snapshot_progress_free(snapshot_progress_t *p);

/* Parses the checkpoint's "snapshot" member; NULL with a reason in err if malformed. */
snapshot_progress_t *snapshot_progress_parse(const char *json, char *err, size_t errlen);

/* The JSON text of p (malloc'd; the caller frees it). */
char *snapshot_progress_to_json(const snapshot_progress_t *p);

/* The table named `name`, or NULL. */
snapshot_table_t *snapshot_progress_find(snapshot_progress_t *p, const char *name);

/* Adds a table (name copied) in state `state`; returns it. */
snapshot_table_t *snapshot_progress_add(snapshot_progress_t *p, const char *name, uint32_t oid,
                                        snapshot_table_state_t state);

/*
 * Forgets the done tables the stream can no longer bring an excluded change
 * of: those copied at an LSN <= resume_lsn (every transaction streamed from
 * there commits at or after it). Does nothing while running.
 */
void snapshot_progress_prune(snapshot_progress_t *p, sluice_lsn_t resume_lsn);

/*
 * The request of a "sluice.snapshot" message: `tables` holds table names
 * ("schema.table", or "table" for public) separated by commas or white
 * space. Returns the new checkpoint member (malloc'd JSON): `current` (NULL:
 * none) with those tables marked partial and the snapshot running. NULL with
 * a reason in err if `tables` names none or `current` is malformed.
 */
char *snapshot_progress_request(const char *current, const char *tables, size_t len, char *err,
                                size_t errlen);

/* ---- the stream filter --------------------------------------------------- */

typedef struct snapshot_filter snapshot_filter_t;

/*
 * The rule the stream follows after a snapshot whose tables were copied
 * later than where streaming resumes: a change of such a table is emitted
 * only if its source transaction commits at or after the table's copy LSN.
 * NULL when no table needs it (the common case). Free with snapshot_filter_free.
 */
snapshot_filter_t *snapshot_filter_new(const snapshot_progress_t *p, sluice_lsn_t resume_lsn);
void snapshot_filter_free(snapshot_filter_t *f);

/* Whether a change of relation relid, in a transaction committing at commit_lsn, goes out. */
bool snapshot_filter_emits(const snapshot_filter_t *f, uint32_t relid, sluice_lsn_t commit_lsn);

/* ---- COPY text rows ------------------------------------------------------ */

/*
 * Splits one row of COPY … TO STDOUT text format (tab-separated, "\N" for
 * NULL, backslash escapes, a trailing newline) into ncols values in the form
 * pgoutput sends: text values or NULLs. The unescaped text lives in scratch,
 * which is reset; values point into it until the next call. Returns false
 * with a reason in err when the row does not have ncols fields or ends in a
 * lone backslash.
 */
bool snapshot_decode_copy_row(const char *row, size_t len, pgo_value_t *values, uint16_t ncols,
                              strbuf_t *scratch, char *err, size_t errlen);

/* ---- the copy ------------------------------------------------------------ */

typedef struct {
    const config_t *cfg;
    sink_t *sink;
    /*
     * in: the committed checkpoint (ckpt->snapshot may be NULL on a fresh
     * start); out: the last one committed. Its snapshot member is replaced by
     * each commit (the old text freed), so it stays owned by the caller.
     */
    checkpoint_t *ckpt;
    snapshot_progress_t *progress; /* in/out: what is done; running cleared when all is */
    sluice_lsn_t resume_lsn;       /* where streaming will start: the checkpoints' end_lsn */
    const char *system_id;
    const char *db_name;
    const char *snapshot_name;     /* the exported snapshot, kept alive by the caller */
    sluice_lsn_t consistent_point; /* its LSN */
    volatile sig_atomic_t *stop;
    bool *setup_error;             /* out (may be NULL): set when a privilege is missing */
} snapshot_args_t;

/* Counters for /metrics, updated while a snapshot runs (atomic: read by the HTTP thread). */
typedef struct {
    _Atomic uint64_t rows;          /* rows copied by this process */
    _Atomic uint64_t tables_done;   /* tables of the running snapshot complete in Kafka */
    _Atomic uint64_t tables_total;  /* tables of the running snapshot */
    _Atomic int running;            /* 1 while copying */
} snapshot_stats_t;

extern snapshot_stats_t snapshot_stats;

/*
 * Copies every table of the publication that args->progress does not list
 * as done, in the exported snapshot, into Kafka. Returns PIPE_STOPPED (a stop
 * was requested; what was complete is committed) or the outcome of a failure
 * with the reason in err, classified as the pipeline's (PIPE_STREAM_LOST for
 * PostgreSQL trouble: retry; the Kafka classes as in pipeline.h). On
 * success returns PIPE_STOPPED with progress->running false and nothing in err.
 */
pipeline_result_t snapshot_copy(const snapshot_args_t *args, char *err, size_t errlen);

#endif
