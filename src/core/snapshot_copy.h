/*
 * snapshot_copy.h — the state one snapshot copy shares between its modules
 * (internal to the snapshot engine; snapshot.h is the contract outside):
 *
 *   snapshot.c         the engine: connects, plans, runs the workers, commits
 *   snapshot_plan.c    the tables to copy, described as pgoutput would, in chunks
 *   snapshot_worker.c  a worker: COPY of one chunk after another into the sink
 *
 * Locking: copy_t.lock guards the sink, the progress record, the tables'
 * counters and held rows, next_chunk, last_row, fail and active_workers.
 * copy_table_t.first_done is also read without it (an atomic set under it).
 * Functions named *_locked expect it held.
 *
 * Snapshot markers (source.snapshot, Debezium 3.x's): the first row produced
 * is "first", each table's first "first_in_data_collection" (a worker that
 * encodes a table's first row produces it at once, under the lock, so no
 * other row of the table can reach Kafka before it), each table's last
 * "last_in_data_collection" and the very last "last". Last rows are held
 * back: each table keeps the last row of its latest chunk (copy_table_t.held)
 * until another chunk of it has rows or it is finished; a finished table's
 * last row waits (copy_t.last_row) until another table finishes, and the one
 * still held when every table is copied is the very last.
 */
#ifndef SLUICE_SNAPSHOT_COPY_H
#define SLUICE_SNAPSHOT_COPY_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "sluice/base/buf.h"
#include "sluice/core/snapshot.h"
#include "sluice/encode/encode.h"
#include "sluice/pg/catalog.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"

/* A row held back: the last of a chunk, until it is known whether it is its table's (or the
 * snapshot's) last. */
typedef struct {
    char *row; /* from PQgetCopyData (PQfreemem); NULL: none */
    int len;
    uint32_t chunk;
    uint32_t seq;
} copy_held_row_t;

typedef struct {
    size_t pidx;        /* index into progress->tables */
    char *name;         /* "schema.table" */
    char *from;         /* "ONLY \"s\".\"t\"" or "\"s\".\"t\"" */
    char *select_list;  /* quoted column names */
    char *where;        /* the publication's row filter, or NULL */
    relcache_entry_t *rel;
    uint32_t nchunks, chunks_done;
    uint64_t rows;      /* produced so far */
    double est_rows;    /* reltuples; < 0 unknown */
    int64_t start_ms, done_ms;
    uint64_t logged_rows;
    int64_t logged_ms;
    bool committed_done; /* a committed checkpoint lists it as done */
    uint32_t chunks_finished; /* chunks whose COPY ended (their last row may still be held) */
    copy_held_row_t held;     /* the last row of its latest finished chunk, not produced yet */
    atomic_bool first_done;   /* its first row was produced */
} copy_table_t;

typedef struct {
    uint32_t table;
    uint32_t lo, hi; /* block range [lo, hi); hi 0: to the end; lo 0 and hi 0: the whole table */
} copy_chunk_t;

typedef struct copy_worker copy_worker_t;

typedef struct {
    const snapshot_args_t *a;
    pthread_mutex_t lock; /* see the top of this file */
    copy_table_t *tables;
    size_t ntables;
    copy_chunk_t *chunks;
    size_t nchunks, next_chunk;
    copy_held_row_t last_row; /* the last row of the latest finished table */
    bool first_done;          /* the snapshot's first row was produced */
    atomic_bool abort;
    pipeline_result_t fail; /* first failure, under lock */
    char fail_err[1024];
    int active_workers;
    bool setup_error; /* a privilege is missing */
    source_txn_t txn;
    char hdr_lsn[24], hdr_xid[12], hdr_batch[24];
    int64_t txn_start_ms;
    /* The engine's own (the calling thread's): */
    encoder_options_t eo;
    encoder_t *enc;           /* the truncate events that reset a partial table */
    relcache_t *cache;        /* the tables' descriptions (copy_table_t.rel) */
    catalog_t *cat;           /* non-built-in types and primary keys, while planning */
    pgtype_registry_t *types; /* the types it described */
    copy_worker_t *workers;
    int nworkers;
    bool in_txn; /* a Kafka transaction was begun (and may be open) */
} copy_t;

/* An encoded record waiting to be produced: offsets into the worker's buf. */
typedef struct {
    uint32_t table;
    size_t koff, klen, voff, vlen;
    bool has_key;
    uint32_t seq;
} copy_rec_t;

struct copy_worker {
    copy_t *c;
    int id;
    pthread_t thread;
    PGconn *conn;
    encoder_t *enc;
    strbuf_t scratch;
    pgo_value_t *values;
    strbuf_t buf;
    copy_rec_t *recs;
    size_t nrecs, caprecs;
};

/* ---- snapshot.c ---------------------------------------------------------- */

/* Records the first failure; every worker stops at its next row. Call under lock. */
void copy_fail_locked(copy_t *c, pipeline_result_t r, const char *fmt, ...) SLUICE_PRINTF(3, 4);

/* The pipeline result a sink status means (SINK_OK: PIPE_STOPPED). */
pipeline_result_t copy_sink_class(sink_status_t st);

/*
 * Opens a connection (pgconn_open, with the session options of the
 * replication session) and joins the exported snapshot in a REPEATABLE READ
 * transaction. The caller PQfinishes it; NULL with err set on failure.
 */
PGconn *copy_connect(copy_t *c, char *err, size_t errlen);

/* ---- snapshot_plan.c ----------------------------------------------------- */

/*
 * Lists the publication's tables as of the snapshot (on conn, inside it),
 * reconciles them with the progress record, describes each table still to
 * copy (c->cache, c->cat, c->types, c->enc) and cuts it into chunks. Fills
 * c->tables and c->chunks. Returns false with err set.
 */
bool copy_plan(copy_t *c, PGconn *conn, char *err, size_t errlen);

/*
 * Puts table oid into cache as pgoutput's RELATION message would describe it:
 * the columns it publishes (attnames: the publication's column list as
 * text[], NULL for all; no generated columns before 18), each flagged when it
 * belongs to the replica identity. *select_list gets those columns, quoted
 * (malloc'd). NULL with err set. Also used by the incremental snapshot.
 */
relcache_entry_t *copy_describe_columns(relcache_t *cache, PGconn *conn, const char *oid,
                                        const char *nspname, const char *relname, char replident,
                                        const char *attnames, char **select_list, char *err,
                                        size_t errlen);

/* ---- snapshot_worker.c --------------------------------------------------- */

/* A worker thread (arg: its copy_worker_t): connects, then copies chunks until none is left. */
void *copy_worker_main(void *arg);

/* Decodes and encodes one COPY row of table ti into the worker's batch (row borrowed). */
bool copy_worker_add_row(copy_worker_t *w, uint32_t ti, const char *row, int len, uint32_t seq,
                         const char *marker, char *err, size_t errlen);

/* Produces the worker's batch. Call under lock. */
void copy_worker_produce_locked(copy_worker_t *w);

/* A chunk's rows are all in the open transaction (or an earlier one). Call under lock. */
void copy_complete_chunk_locked(copy_t *c, uint32_t ci);

/*
 * Produces a held row now with worker w (its batch already produced), marked
 * by its position: the first of its table if none was, last_in_table, and
 * last of all. Takes h->row. Call under lock.
 */
void copy_release_held_locked(copy_worker_t *w, copy_held_row_t *h, bool last_in_table,
                              bool last_of_all);

#endif
