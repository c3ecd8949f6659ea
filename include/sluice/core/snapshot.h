/*
 * snapshot.h — the initial snapshot: every row a published table holds
 * before streaming starts, as events with op "r", handed over to the stream
 * with no gap and no overlap (docs/design.md, "The initial snapshot").
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
 * (Under snapshot.method = incremental the pipeline copies them in chunks
 * while it streams instead: snapshot_incremental.h, snapshot_request.h.)
 *
 * Owns: the worker connections and threads, the progress record. Never:
 * streams, or confirms anything to PostgreSQL (the snapshot moves no slot).
 */
#ifndef SLUICE_SNAPSHOT_H
#define SLUICE_SNAPSHOT_H

#include <signal.h>
#include <stdatomic.h>

#include "sluice/base/buf.h"
#include "sluice/base/snapshot_progress.h"
#include "sluice/base/checkpoint.h"
#include "sluice/base/common.h"
#include "sluice/base/config.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/core/pipeline.h"
#include "sluice/kafka/sink.h"

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
    uint32_t timeline; /* the server's timeline, recorded in every checkpoint */
    const char *db_name;
    const char *snapshot_name;     /* the exported snapshot, kept alive by the caller */
    sluice_lsn_t consistent_point; /* its LSN */
    atomic_int *stop;
    bool *setup_error;             /* out (may be NULL): set when a privilege is missing */
} snapshot_args_t;

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
