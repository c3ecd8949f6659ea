/*
 * snapshot_incremental.h — snapshot.method = incremental: tables copied in
 * key-range chunks while the pipeline streams (docs/design.md, "The
 * incremental snapshot"). The pipeline thread drives it:
 *
 *   between its inputs, incremental_step starts the next chunk on a
 *   connection of its own:
 *       pg_logical_emit_message(true, 'sluice.watermark', 'low <run> <n>')
 *       BEGIN REPEATABLE READ; pg_current_snapshot(); SELECT … WHERE key > last
 *         ORDER BY key LIMIT snapshot.chunk.rows; COMMIT         (the chunk's snapshot S)
 *       pg_logical_emit_message(true, 'sluice.watermark', 'high <run> <n>')
 *   and holds the rows (the window, chunk_window.h);
 *
 *   every streamed change of the chunk's table, until the high watermark,
 *   goes through incremental_on_change first: a change S does not show (its
 *   transaction committed after S was taken) supersedes its row in the
 *   window, and an unchanged TOAST value in it is filled from the window's
 *   copy of the row, which is exactly the row before that change (see the .c);
 *
 *   at the live high watermark (incremental_on_watermark), the rows left
 *   are emitted as op "r" events in the Kafka transaction that holds the
 *   watermark's source transaction, and the progress record (table, chunks,
 *   last key) for that transaction's checkpoint is returned: the chunk and
 *   the position after it are committed together or not at all.
 *
 * Owns: its connection, the current window, its copy of the progress record.
 * Never: commits or confirms (the pipeline does), or copies a table without a key.
 */
#ifndef SLUICE_SNAPSHOT_INCREMENTAL_H
#define SLUICE_SNAPSHOT_INCREMENTAL_H

#include "sluice/base/chunk_window.h"
#include "sluice/base/config.h"
#include "sluice/base/snapshot_progress.h"
#include "sluice/encode/encode.h"
#include "sluice/pg/catalog.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"

/* SQL: whether index i (of table c) is the key an incremental copy reads by — the
 * replica identity index under REPLICA IDENTITY USING INDEX, else the primary key. */
#define KEY_INDEX_SQL "CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END"

typedef enum {
    INC_OK,
    INC_PG_LOST, /* PostgreSQL failed: end the session, resume from the checkpoint */
    INC_SETUP,   /* a table cannot be copied so (no key): the operator's to fix */
} inc_status_t;

typedef struct snapshot_incremental snapshot_incremental_t;

/*
 * Lists the publication's tables into p (which must hold none) as
 * INCREMENTAL, each with no chunk yet. INC_SETUP with err naming every table
 * that has neither a primary key nor a replica identity index.
 */
inc_status_t incremental_plan(const config_t *cfg, snapshot_progress_t *p, char *err,
                              size_t errlen);

/*
 * The incremental copy the checkpoint's snapshot member (borrowed JSON, may be
 * NULL) still owes, or NULL when it owes none. cat, types and enc are the
 * pipeline's, borrowed for the copy's life.
 */
snapshot_incremental_t *incremental_new(const config_t *cfg, const char *snapshot_json,
                                        catalog_t *cat, pgtype_registry_t *types, encoder_t *enc,
                                        const xid_ring_t *emitted);
void incremental_free(snapshot_incremental_t *inc);

/*
 * The progress record the copy works from (borrowed, for inc's life). A
 * request while streaming may add tables to it
 * (snapshot_progress_request_incremental), never change a table being copied.
 */
snapshot_progress_t *incremental_progress(snapshot_incremental_t *inc);

/* Whether a chunk's rows wait for its high watermark (false for NULL). */
bool incremental_in_flight(const snapshot_incremental_t *inc);
/* Starts the next chunk unless one is in flight or none is left. */
inc_status_t incremental_step(snapshot_incremental_t *inc, char *err, size_t errlen);

/*
 * Before a change of transaction xid to rel is encoded: supersedes the rows
 * of the window it writes and fills the unchanged TOAST values of neu (its
 * values may be pointed at the window's copy, valid until the high watermark).
 * old: the old key or row (may be NULL), neu: the new row (NULL for a delete).
 */
void incremental_on_change(snapshot_incremental_t *inc, uint32_t xid, const relcache_entry_t *rel,
                           const pgo_tuple_t *old, pgo_tuple_t *neu);

/* Before a TRUNCATE of relid by transaction xid: the window's rows are gone. */
void incremental_on_truncate(snapshot_incremental_t *inc, uint32_t xid, uint32_t relid);

/* Emits one "r" row (rel and tuple borrowed for the call); false stops emitting. */
typedef bool (*incremental_emit_fn)(void *ctx, const relcache_entry_t *rel, const pgo_tuple_t *row);

/*
 * A "sluice.watermark" message streamed. At the live high watermark emits
 * the window's rows through emit and returns the new progress record (JSON,
 * malloc'd: the caller's) for the checkpoint of this source transaction;
 * otherwise (a low watermark, or one of an abandoned chunk) NULL. *failed is
 * set when emit returned false.
 */
char *incremental_on_watermark(snapshot_incremental_t *inc, const char *content, size_t len,
                               incremental_emit_fn emit, void *ctx, bool *failed);

#endif
