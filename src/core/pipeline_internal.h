/*
 * pipeline_internal.h — the state the streaming pipeline's two files share:
 * pipeline.c (the Kafka transaction: begin, commit with the checkpoint,
 * failures, the main loop) and pipeline_events.c (each decoded pgoutput
 * message turned into change events). Private to src/core/pipeline*.c.
 */
#ifndef SLUICE_PIPELINE_INTERNAL_H
#define SLUICE_PIPELINE_INTERNAL_H

#include "sluice/base/buf.h"
#include "sluice/base/queue.h"
#include "sluice/core/pipeline.h"
#include "sluice/core/snapshot_incremental.h"
#include "sluice/core/txn_state.h"
#include "sluice/pg/catalog.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"

/* What one step leads to: the next input, or the end of the session (why: p->result). */
typedef enum {
    STEP_CONTINUE,
    STEP_END,
} step_t;

/* Events per table in the source transaction (transaction metadata). */
typedef struct {
    uint32_t relid;
    uint64_t count;
    char name[136]; /* "schema.table": two NAMEDATALEN names and a dot */
} txn_collection_t;

typedef struct {
    const pipeline_args_t *a;
    pgo_decoder_t *dec;
    relcache_t *rel;
    strbuf_t key, value;
    char message_topic[512];
    char txn_topic[512];           /* "<prefix>.transaction" (transaction.metadata) */
    pgtype_registry_t *types;      /* non-built-in types described by the catalog */
    catalog_t *catalog;            /* ordinary connection for types and primary keys */
    uint64_t txn_events;           /* change events so far in the source transaction */
    txn_collection_t *colls;
    size_t ncolls, colls_cap;
    /* the source transaction being read */
    txn_state_src_t src;
    source_txn_t txn;
    uint32_t seq;
    int64_t txn_start_ms;
    char hdr_lsn[24], hdr_xid[12], hdr_batch[24]; /* header text, formatted once */
    int64_t now_us;       /* wall clock (µs), read once per batch of input */
    uint64_t skipped_run; /* consecutive skipped transactions, for one log line */
    sluice_lsn_t skipped_upto;
    /* skipped.operations: (relid << 8 | op) already logged once, sorted */
    uint64_t *skip_logged;
    size_t nskip_logged, skip_logged_cap;
    /* the Kafka transaction */
    txn_state_kafka_t ktxn;
    int64_t ktxn_start_ms;
    checkpoint_t pending; /* KTXN_PENDING: the checkpoint to write at the next Kafka commit */
    /* a walsender keepalive came since the last Kafka commit (group commit) */
    bool caught_up;
    /* idle progress */
    sluice_lsn_t keepalive_wal_end;
    int64_t last_checkpoint_ms;
    int txn_timeout_ms;
    /* a "sluice.snapshot" message in the source transaction being read (or just read) */
    bool snapshot_requested;
    /* transaction.metadata: BEGIN held back until the source transaction produces a record */
    bool txn_meta_pending, txn_meta_begun;
    char *snapshot_request; /* the checkpoint's new snapshot member, until committed */
    snapshot_incremental_t *inc; /* snapshot.method = incremental: the copy still owed, or NULL */
    size_t inc_topics_for;       /* the first tables of inc's progress whose topics exist */
    /* the xids of the source transactions begun this session, kept whether or not a
     * copy is owed: a copy a request starts mid-session needs the ones before it */
    xid_ring_t emitted;
    pipeline_result_t result; /* why the session ends, once a step returned STEP_END */
    char *err;
    size_t errlen;
} pipe_t;


/* ---- pipeline.c: the Kafka transaction ---------------------------------- */

/* Ends the session with `why` (p->result); always STEP_END. */
step_t pipe_end(pipe_t *p, pipeline_result_t why);
/* Ends the session as PIPE_PROTOCOL with the formatted reason in p->err. */
step_t pipe_protocol_error(pipe_t *p, const char *fmt, ...) SLUICE_PRINTF(2, 3);
/* Turns a failed sink call into the session's outcome (aborting what must be). */
step_t pipe_sink_failed(pipe_t *p, sink_status_t st);
/* Opens a Kafka transaction unless one is open. */
step_t pipe_ensure_kafka_txn(pipe_t *p);
/* Commits the open Kafka transaction with its checkpoint, then confirms. */
step_t pipe_commit_kafka(pipe_t *p);
bool pipe_ktxn_is_open(const pipe_t *p);
/* Formats the lsn/xid headers of p->txn once per source transaction. */
void pipe_set_txn_headers(pipe_t *p);
/* The topics exist (the missing ones created in one request), or the step that ends. */
step_t pipe_ensure_topics(pipe_t *p, const char *const *topics, size_t n);
/* Produces p->key / p->value (each only if asked) with the transaction's headers. */
step_t pipe_produce(pipe_t *p, const char *topic, int32_t partition, bool has_key, bool has_value);

/* ---- pipeline_events.c: decoded messages to events ---------------------- */

/* Decodes one XLogData payload and acts on it. */
step_t pipeline_on_data(pipe_t *p, qitem_t *it);
/* One log line for the run of skipped transactions, if any. */
void pipeline_log_skipped(pipe_t *p);

#endif
