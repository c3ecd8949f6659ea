/*
 * encode.h — turns a decoded change into a Kafka key and value.
 *
 * One encoder per output format behind the same calls, so the pipeline never
 * knows which format it writes: json.c (Debezium's JSON envelope) and
 * protobuf.c (the same events as the typed messages of sluice.proto, equal in
 * content value for value); encoder.c picks by format. Encoders append into a
 * caller-owned strbuf_t that the caller resets and reuses: the hot path
 * allocates nothing once the buffers (and the Protobuf encoder's arena) have
 * grown. Protobuf output is binary: use out->len, never strlen.
 *
 * Values arrive in PostgreSQL's text form (pgoutput without binary). Each type
 * OID maps to one documented output form (docs/output.md, "Type mapping"; pgtypes.h);
 * a type the encoder does not know is written as its text form, never
 * dropped. Text the encoder cannot parse for its type's form (it never
 * should) is also written as its text form: never a null, never a crash.
 */
#ifndef SLUICE_ENCODE_H
#define SLUICE_ENCODE_H

#include "sluice/base/buf.h"
#include "sluice/base/config.h"
#include "sluice/base/jsonstr.h"
#include "sluice/base/common.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/pg/relcache.h"

typedef enum {
    OP_CREATE = 'c',
    OP_UPDATE = 'u',
    OP_DELETE = 'd',
    OP_TRUNCATE = 't',
    OP_MESSAGE = 'm',
    OP_READ = 'r',
} event_op_t;

/* Where a change sits in the source: shared by every event of one source transaction. */
typedef struct {
    uint32_t xid;
    sluice_lsn_t commit_lsn;  /* LSN of the source transaction's commit record */
    int64_t commit_ts_us;     /* Unix epoch, microseconds */
} source_txn_t;

/* Position of an event in its source transaction (transaction.metadata = true). */
typedef struct {
    uint64_t total_order;           /* 1-based, over every change event of the transaction */
    uint64_t data_collection_order; /* 1-based, over the events of this table */
} txn_order_t;

typedef struct {
    event_op_t op;
    const relcache_entry_t *rel; /* NULL for OP_MESSAGE */
    const pgo_tuple_t *before;   /* NULL when PostgreSQL sent no old row */
    bool before_is_key_only;     /* the old tuple holds only the replica identity ('K') */
    const pgo_tuple_t *after;    /* NULL for deletes and truncates */
    sluice_lsn_t lsn;            /* WAL position of this change */
    const source_txn_t *txn;
    int64_t now_us;              /* processing time (Unix epoch, µs): the envelope's ts_ms/us/ns */
    /* OP_MESSAGE only */
    const char *msg_prefix;
    const char *msg_content;
    uint32_t msg_len;
    bool msg_transactional;
    const txn_order_t *order; /* NULL: no "transaction" block */
    /*
     * source.snapshot: NULL writes "true" for OP_READ and "false" otherwise.
     * The snapshot marks rows as Debezium 3.x does: "first" (the first row of
     * the whole snapshot), "first_in_data_collection" and
     * "last_in_data_collection" (a table's first and last row), "last" (the
     * very last row), and "true" on the truncate that resets a table before
     * it is copied again.
     */
    const char *snapshot;
} change_event_t;

/* A BEGIN or END event of the transaction metadata topic. */
typedef struct {
    bool end;
    const source_txn_t *txn;
    /* END only: change events in total and per table ("schema.table") */
    uint64_t event_count;
    size_t ncollections;
    const char *const *collections;
    const uint64_t *collection_counts;
} txn_meta_t;

typedef struct {
    const char *server_name;      /* topic.prefix: the "name" in the source block */
    const char *db_name;          /* database the slot decodes */
    const char *toast_placeholder; /* written for unchanged TOASTed values we cannot fill */
    value_forms_t forms;           /* decimal.handling.mode, …: config.h (zero: the defaults) */
    bool schemas;                  /* JSON only: Kafka Connect JSON with schemas: {"schema":…,"payload":…} */
    bool transaction_block;        /* events carry a "transaction" block */
    const char *propagate_source_type; /* column.propagate.source.type (schemas only; NULL: none) */
} encoder_options_t;

typedef struct encoder encoder_t;

/* Returns a new encoder; the options' strings are copied. NULL for an unsupported format. */
encoder_t *encoder_new(output_format_t format, const encoder_options_t *opts);
void encoder_free(encoder_t *enc);

/*
 * Appends the Kafka key for `tuple` of `rel` (its replica identity columns) to
 * out. Returns false, appending nothing, when the relation has no replica
 * identity (the record then gets a null key).
 */
bool encoder_key(encoder_t *enc, const relcache_entry_t *rel, const pgo_tuple_t *tuple,
                 strbuf_t *out);

/*
 * Appends the event envelope to out. An unchanged TOASTed value in the new
 * row is filled from ev->before when that is the whole old row (REPLICA
 * IDENTITY FULL), else written as the placeholder.
 */
void encoder_value(encoder_t *enc, const change_event_t *ev, strbuf_t *out);

/*
 * Prepares a relation version for encoding (Kafka Connect schemas, when
 * enabled); call after its column types and key are resolved. Optional:
 * without it the schemas are built per event.
 */
void encoder_prepare_relation(encoder_t *enc, relcache_entry_t *rel);

/* Key and value of a transaction metadata event (Debezium's shape). */
void encoder_txn_key(encoder_t *enc, const source_txn_t *txn, strbuf_t *out);
void encoder_txn_value(encoder_t *enc, const txn_meta_t *meta, int64_t now_ms, strbuf_t *out);

/* Appends the Kafka key for a logical decoding message (its prefix). */
void encoder_message_key(encoder_t *enc, const char *prefix, strbuf_t *out);

#endif
