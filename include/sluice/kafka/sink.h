/*
 * sink.h — the Kafka side: one transactional producer.
 *
 * Every call returns a sink_status_t that classifies the outcome the way
 * the exactly-once protocol needs it (docs/design.md, step 9):
 *   SINK_OK       done
 *   SINK_RETRY    transient (e.g. broker unreachable at init): call again later
 *   SINK_ABORT    the Kafka transaction was aborted (or must be): rewind the
 *                 source to the last checkpoint and resend
 *   SINK_FATAL    the producer is unusable: destroy it, build a new one,
 *                 init_transactions, re-read the checkpoint
 *   SINK_FENCED   another instance took over the transactional id: exit, confirm nothing
 *   SINK_DATA     Kafka will never accept this data (record too large), or
 *                 refuses sluice's principal (an ACL, its credentials: see
 *                 sink_refused): stop with a clear error instead of looping
 *   SINK_STOPPED  interrupted by a stop request while waiting
 * and, on anything but SINK_OK, a message in err. The sink logs nothing that
 * it also returns.
 *
 * The calls go through a small table of operations (sink_ops_t), so the
 * protocol above the sink can be tested against a recording implementation
 * without a broker.
 */
#ifndef SLUICE_SINK_H
#define SLUICE_SINK_H

#include <signal.h>
#include <stdatomic.h>

#include "sluice/base/checkpoint.h"
#include "sluice/base/common.h"
#include "sluice/base/config.h"

typedef enum {
    SINK_OK = 0,
    SINK_RETRY,
    SINK_ABORT,
    SINK_FATAL,
    SINK_FENCED,
    SINK_DATA,
    SINK_STOPPED,
} sink_status_t;

const char *sink_status_name(sink_status_t st);

typedef struct sink sink_t;

/*
 * Headers every change record carries, as the text they are written in. The
 * strings are formatted once per source (or Kafka) transaction by the caller;
 * only seq changes per record.
 */
typedef struct {
    const char *lsn;   /* commit LSN of the source transaction, "%X/%08X" */
    const char *xid;   /* source transaction id */
    const char *batch; /* ordinal of the Kafka transaction */
    uint32_t seq;      /* 1-based position of the change in its source transaction */
} sink_headers_t;

/*
 * The seam between the pipelines (streaming and snapshot) and a transactional
 * producer. The librdkafka producer (sink_new) is one implementation; the
 * unit tests plug in a recording one (tests/unit/test_pipeline.c). The
 * dispatchers below (sink_begin, sink_produce, ...) keep the transaction's
 * state, count its bytes and write the checkpoint record, so an
 * implementation only talks to its broker. Every operation returns a status
 * as above, with a message in err on anything but SINK_OK; `impl` is the
 * pointer given to sink_wrap.
 */
typedef struct {
    /* Opens a transaction (called only with none open). */
    sink_status_t (*begin)(void *impl, char *err, size_t errlen);
    /* One record into the open transaction; see sink_produce. */
    sink_status_t (*produce)(void *impl, const char *topic, int32_t partition, const void *key,
                             size_t keylen, const void *value, size_t valuelen,
                             const sink_headers_t *h, char *err, size_t errlen);
    /*
     * Commits the open transaction, whose last record is already the
     * checkpoint. Whatever it returns, the transaction is over: committed
     * (SINK_OK), aborted (SINK_ABORT, SINK_DATA) or of unknown fate (the
     * producer is rebuilt, SINK_FATAL, or fenced).
     */
    sink_status_t (*commit)(void *impl, char *err, size_t errlen);
    /* Aborts the open transaction; it is over whatever this returns. */
    sink_status_t (*abort)(void *impl, char *err, size_t errlen);
    /* Serves delivery reports. */
    void (*poll)(void *impl);
    /* See sink_ensure_topics and sink_partition_count. */
    sink_status_t (*ensure_topics)(void *impl, const char *const *topics, size_t n, bool compact,
                                   int timeout_ms, char *err, size_t errlen);
    int (*partition_count)(void *impl, const char *topic);
    /* Frees impl (sink_free). */
    void (*free)(void *impl);
} sink_ops_t;

/*
 * The Kafka transaction as the seam sees it. sink_begin moves NONE to OPEN;
 * sink_commit and sink_abort move OPEN to NONE, except that a commit whose
 * checkpoint record could not be produced leaves the transaction OPEN (the
 * caller aborts it, or rebuilds the producer). Calling begin in OPEN, or
 * produce or commit in NONE, is a bug in the caller: the process aborts
 * with a message naming the call (sink_txn_transition).
 */
typedef enum {
    SINK_TXN_NONE, /* no transaction open */
    SINK_TXN_OPEN, /* begun: records may be produced, then committed or aborted */
} sink_txn_state_t;

const char *sink_txn_state_name(sink_txn_state_t st);

/*
 * Wraps an implementation. checkpoint_topic is copied: the topic
 * sink_commit writes the checkpoint record to. The sink owns impl from now
 * on (ops->free at sink_free); ops must outlive it.
 */
sink_t *sink_wrap(const sink_ops_t *ops, void *impl, const char *checkpoint_topic);

/* The implementation behind s if s was wrapped with `ops`, else NULL (for calls only it has). */
void *sink_impl(sink_t *s, const sink_ops_t *ops);

/* Frees the sink and its implementation; NULL is fine. */
void sink_free(sink_t *s);

/*
 * Creates the librdkafka producer (not yet initialised). cfg must outlive the
 * sink. stop is polled while blocking; NULL if never interrupted.
 */
sink_t *sink_new(const config_t *cfg, atomic_int *stop, char *err, size_t errlen);

/*
 * Creates the topic if it does not exist (remembering topics already
 * checked). compact: cleanup.policy=compact and one partition (checkpoints).
 */
sink_status_t sink_ensure_topic(sink_t *s, const char *topic, bool compact, int timeout_ms,
                                char *err, size_t errlen);
/*
 * The same for n topics at once: the missing ones are created in one request
 * and waited for together (a snapshot of many tables waits once, not per
 * table). A name may appear more than once.
 */
sink_status_t sink_ensure_topics(sink_t *s, const char *const *topics, size_t n, bool compact,
                                 int timeout_ms, char *err, size_t errlen);
/*
 * sink_ensure_topics for the tables' topics (not compacted, 10 s a try), tried
 * again up to 5 times in all while Kafka answers SINK_RETRY (each retry logged
 * with err), unless *stop is set. Returns the last answer.
 */
sink_status_t sink_ensure_table_topics(sink_t *s, const char *const *topics, size_t n,
                                       const atomic_int *stop, char *err, size_t errlen);

/* Number of partitions of a topic sink_ensure_topic has seen; 0 if unknown. */
int sink_partition_count(sink_t *s, const char *topic);

sink_status_t sink_begin(sink_t *s, char *err, size_t errlen);

/*
 * Produces one record in the open transaction (key/value copied; a NULL
 * value is a tombstone). partition -1 lets the partitioner choose
 * (murmur2_random on the key). Waits while librdkafka's queue is full.
 */
sink_status_t sink_produce(sink_t *s, const char *topic, int32_t partition, const void *key,
                           size_t keylen, const void *value, size_t valuelen,
                           const sink_headers_t *h, char *err, size_t errlen);

/*
 * Produces the checkpoint record for `slot` into the checkpoint topic, then
 * commits the transaction. SINK_OK means Kafka holds it all; only then may
 * the caller confirm cp->end_lsn to PostgreSQL.
 */
sink_status_t sink_commit(sink_t *s, const checkpoint_t *cp, const char *slot, char *err,
                          size_t errlen);

/* Aborts the open transaction (a no-op without one). */
sink_status_t sink_abort(sink_t *s, char *err, size_t errlen);

sink_txn_state_t sink_txn_state(const sink_t *s);
/* sink_txn_state(s) == SINK_TXN_OPEN. */
bool sink_in_transaction(const sink_t *s);
/* Bytes (keys and values) produced in the open transaction. */
size_t sink_txn_bytes(const sink_t *s);

/* Serves delivery reports; call regularly. */
void sink_poll(sink_t *s);

/* The librdkafka producer only (sink_new); calling these on another sink aborts. */

/* rd_kafka_init_transactions: fences older instances with the same transactional id. */
sink_status_t sink_init_transactions(sink_t *s, int timeout_ms, char *err, size_t errlen);

/* The librdkafka handle, for the mock-cluster tests and statistics. */
struct rd_kafka_s *sink_handle(sink_t *s);

/*
 * True if the SINK_DATA this sink returned was Kafka refusing sluice's
 * principal (an ACL missing, or its credentials or TLS handshake refused;
 * the message names which) rather than data Kafka cannot take. False for a
 * sink of another kind.
 */
bool sink_refused(sink_t *s);

/*
 * Reads the checkpoint topic read_committed to its end and returns the last
 * checkpoint of `slot` (out->present false if none). Must run after
 * sink_init_transactions, which settles our own open transaction. *out is
 * overwritten: checkpoint_clear a previous one first; the caller owns the result.
 */
sink_status_t sink_read_checkpoint(sink_t *s, const char *slot, checkpoint_t *out, int timeout_ms,
                                   char *err, size_t errlen);

#endif
