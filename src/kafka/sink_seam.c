/*
 * sink_seam.c — what every sink shares, whatever producer is behind it: the
 * dispatch through sink_ops_t, the Kafka transaction's state with its checked
 * transitions, the byte count of the open transaction, and the checkpoint
 * record that ends each transaction (checkpoint.h).
 *
 * Owns: the sink_t handle and the implementation handed to it.
 * Never: talks to a broker itself, retries, or decides what a status means
 * for the source (the pipelines do).
 *
 * The state is checked the way librdkafka checks its own transaction state
 * (rdkafka_txnmgr.c, rd_kafka_txn_state_transition_is_valid): a call in a
 * state it cannot run in is a bug above the sink, never bad input, so it
 * stops the process with the call and the state named instead of sending
 * the broker something it would refuse.
 */
#include "sluice/kafka/sink.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/buf.h"
#include "sluice/base/log.h"
#include "sluice/base/testpoint.h"

struct sink {
    const sink_ops_t *ops;
    void *impl;
    char *checkpoint_topic;
    sink_txn_state_t state;
    size_t txn_bytes; /* keys and values produced in the open transaction */
};

const char *sink_status_name(sink_status_t st)
{
    static const char *const names[] = {"ok", "retry", "abort", "fatal", "fenced", "data", "stopped"};
    return st <= SINK_STOPPED ? names[st] : "unknown";
}

const char *sink_txn_state_name(sink_txn_state_t st)
{
    switch (st) {
    case SINK_TXN_NONE: return "no transaction";
    case SINK_TXN_OPEN: return "transaction open";
    }
    return "unknown";
}

static bool sink_txn_transition_is_valid(sink_txn_state_t from, sink_txn_state_t to)
{
    switch (to) {
    case SINK_TXN_OPEN: return from == SINK_TXN_NONE;
    case SINK_TXN_NONE: return from == SINK_TXN_OPEN;
    }
    return false;
}

/* Stops the process: `op` was called in a state it cannot run in (a bug in the caller). */
static void sink_txn_bug(const sink_t *s, const char *op, const char *need, sink_txn_state_t st)
    __attribute__((noreturn));
static void sink_txn_bug(const sink_t *s, const char *op, const char *need, sink_txn_state_t st)
{
    log_fatal("bug: %s with the sink in state \"%s\" (%s \"%s\")", op,
              sink_txn_state_name(s->state), need, sink_txn_state_name(st));
    abort();
}

/* Checks that `op` may move the transaction to `to` now; aborts the process if not. */
static void sink_txn_check(const sink_t *s, sink_txn_state_t to, const char *op)
{
    if (!sink_txn_transition_is_valid(s->state, to))
        sink_txn_bug(s, op, "no transition to", to);
}

/* Checks that `op` may run in the current state, which must be `want`. */
static void sink_txn_require(const sink_t *s, sink_txn_state_t want, const char *op)
{
    if (s->state != want)
        sink_txn_bug(s, op, "it needs", want);
}

static void sink_txn_transition(sink_t *s, sink_txn_state_t to, const char *op)
{
    sink_txn_check(s, to, op);
    s->state = to;
}

sink_t *sink_wrap(const sink_ops_t *ops, void *impl, const char *checkpoint_topic)
{
    sink_t *s = xcalloc(1, sizeof *s);
    s->ops = ops;
    s->impl = impl;
    s->checkpoint_topic = xstrdup(checkpoint_topic);
    s->state = SINK_TXN_NONE;
    return s;
}

void sink_free(sink_t *s)
{
    if (!s)
        return;
    s->ops->free(s->impl);
    free(s->checkpoint_topic);
    free(s);
}

sink_status_t sink_ensure_topic(sink_t *s, const char *topic, bool compact, int timeout_ms,
                                char *err, size_t errlen)
{
    return s->ops->ensure_topics(s->impl, &topic, 1, compact, timeout_ms, err, errlen);
}

sink_status_t sink_ensure_topics(sink_t *s, const char *const *topics, size_t n, bool compact,
                                 int timeout_ms, char *err, size_t errlen)
{
    return s->ops->ensure_topics(s->impl, topics, n, compact, timeout_ms, err, errlen);
}

sink_status_t sink_ensure_table_topics(sink_t *s, const char *const *topics, size_t n,
                                       const atomic_int *stop, char *err, size_t errlen)
{
    for (int attempt = 1;; attempt++) {
        sink_status_t st = sink_ensure_topics(s, topics, n, false, 10000, err, errlen);
        if (st != SINK_RETRY || attempt >= 5 || *stop)
            return st;
        log_warning("%s; retrying", err);
    }
}

int sink_partition_count(sink_t *s, const char *topic)
{
    return s->ops->partition_count(s->impl, topic);
}

sink_status_t sink_begin(sink_t *s, char *err, size_t errlen)
{
    sink_txn_check(s, SINK_TXN_OPEN, "sink_begin");
    sink_status_t st = s->ops->begin(s->impl, err, errlen);
    if (st != SINK_OK)
        return st;
    sink_txn_transition(s, SINK_TXN_OPEN, "sink_begin");
    s->txn_bytes = 0;
    return SINK_OK;
}

sink_status_t sink_produce(sink_t *s, const char *topic, int32_t partition, const void *key,
                           size_t keylen, const void *value, size_t valuelen,
                           const sink_headers_t *h, char *err, size_t errlen)
{
    sink_txn_require(s, SINK_TXN_OPEN, "sink_produce");
    sink_status_t st =
        s->ops->produce(s->impl, topic, partition, key, keylen, value, valuelen, h, err, errlen);
    if (st == SINK_OK)
        s->txn_bytes += keylen + valuelen;
    return st;
}

sink_status_t sink_commit(sink_t *s, const checkpoint_t *cp, const char *slot, char *err,
                          size_t errlen)
{
    sink_txn_check(s, SINK_TXN_NONE, "sink_commit");
    /* The checkpoint record: key the slot, value checkpoint.h's JSON, partition 0 of the
     * one-partition checkpoint topic, headers of the last source transaction it covers. */
    strbuf_t value = STRBUF_INIT;
    checkpoint_to_json(cp, slot, &value);
    char lsn[24], xid[12], batch[24];
    snprintf(lsn, sizeof lsn, LSN_FMT, LSN_ARGS(cp->commit_lsn));
    snprintf(xid, sizeof xid, "%u", cp->xid);
    snprintf(batch, sizeof batch, "%" PRIu64, cp->seq);
    sink_headers_t h = {.lsn = lsn, .xid = xid, .batch = batch, .seq = 0};
    sink_status_t st = sink_produce(s, s->checkpoint_topic, 0, slot, strlen(slot), value.data,
                                    value.len, &h, err, errlen);
    strbuf_free(&value);
    if (st != SINK_OK)
        return st; /* still open: the caller aborts it or rebuilds the producer */
    testpoint_hit("before_commit");
    st = s->ops->commit(s->impl, err, errlen);
    sink_txn_transition(s, SINK_TXN_NONE, "sink_commit");
    return st;
}

sink_status_t sink_abort(sink_t *s, char *err, size_t errlen)
{
    if (s->state == SINK_TXN_NONE)
        return SINK_OK;
    sink_status_t st = s->ops->abort(s->impl, err, errlen);
    sink_txn_transition(s, SINK_TXN_NONE, "sink_abort");
    return st;
}

sink_txn_state_t sink_txn_state(const sink_t *s)
{
    return s->state;
}

bool sink_in_transaction(const sink_t *s)
{
    return s->state == SINK_TXN_OPEN;
}

size_t sink_txn_bytes(const sink_t *s)
{
    return s->txn_bytes;
}

void sink_poll(sink_t *s)
{
    s->ops->poll(s->impl);
}

void *sink_impl(sink_t *s, const sink_ops_t *ops)
{
    return s->ops == ops ? s->impl : NULL;
}
