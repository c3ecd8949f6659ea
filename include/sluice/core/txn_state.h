/*
 * txn_state.h — where the streaming pipeline stands in the two transactions
 * it follows: the source transaction it reads from pgoutput (BEGIN … COMMIT)
 * and the Kafka transaction it opened.
 *
 * Each moves only through txn_state_*_move, which stops the process on a
 * move the protocol does not have, in the manner of librdkafka's
 * rd_kafka_txn_state_transition_is_valid: such a move is a bug in the
 * pipeline, never bad input (input the protocol does not allow is refused as
 * a protocol error before anything moves).
 */
#ifndef SLUICE_TXN_STATE_H
#define SLUICE_TXN_STATE_H

#include "sluice/base/common.h"

/* The source transaction being read. */
typedef enum {
    SRC_BETWEEN,   /* between transactions */
    SRC_STREAMING, /* inside one whose changes go to Kafka */
    SRC_SKIPPING,  /* inside one Kafka already holds: skipped whole */
} txn_state_src_t;

/* The Kafka transaction the pipeline opened. */
typedef enum {
    KTXN_NONE,    /* none open */
    KTXN_OPEN,    /* begun; no whole source transaction (or message, or idle point) in it yet:
                     a commit now writes the committed checkpoint again */
    KTXN_PENDING, /* holds whole source transactions (messages, an idle point) up to a pending
                     checkpoint, the one its commit writes */
    KTXN_FAILED,  /* a sink call failed and the session ends; whether the sink still has a
                     transaction open is the sink's to say (sink_in_transaction) */
} txn_state_kafka_t;

const char *txn_state_src_name(txn_state_src_t st);
const char *txn_state_kafka_name(txn_state_kafka_t st);

/* BEGIN starts a transaction, streamed or skipped; COMMIT ends it. */
bool txn_state_src_valid(txn_state_src_t from, txn_state_src_t to);

/*
 * Begun from none; pending once something whole is in it (and again with
 * more); over at a commit or an abort; failed from anywhere but failed, and
 * nothing after failed: the session ends.
 */
bool txn_state_kafka_valid(txn_state_kafka_t from, txn_state_kafka_t to);

/* *st = to if that move is valid; otherwise logs the bug and aborts the process. */
void txn_state_src_move(txn_state_src_t *st, txn_state_src_t to);
void txn_state_kafka_move(txn_state_kafka_t *st, txn_state_kafka_t to);

#endif
