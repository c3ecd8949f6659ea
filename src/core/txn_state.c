/*
 * txn_state.c — the pipeline's transaction states and their checked moves
 * (txn_state.h).
 *
 * Owns: the two transition tables. Never: decides what the pipeline does in a
 * state; it only refuses a move the protocol does not have.
 */
#include "sluice/core/txn_state.h"

#include <stdlib.h>

#include "sluice/base/log.h"

const char *txn_state_src_name(txn_state_src_t st)
{
    switch (st) {
    case SRC_BETWEEN: return "between transactions";
    case SRC_STREAMING: return "streaming a transaction";
    case SRC_SKIPPING: return "skipping a transaction";
    }
    return "unknown";
}

const char *txn_state_kafka_name(txn_state_kafka_t st)
{
    switch (st) {
    case KTXN_NONE: return "none";
    case KTXN_OPEN: return "open";
    case KTXN_PENDING: return "open with a pending checkpoint";
    case KTXN_FAILED: return "failed";
    }
    return "unknown";
}

bool txn_state_src_valid(txn_state_src_t from, txn_state_src_t to)
{
    switch (to) {
    case SRC_STREAMING:
    case SRC_SKIPPING: return from == SRC_BETWEEN;
    case SRC_BETWEEN: return from == SRC_STREAMING || from == SRC_SKIPPING;
    }
    return false;
}

bool txn_state_kafka_valid(txn_state_kafka_t from, txn_state_kafka_t to)
{
    switch (to) {
    case KTXN_OPEN: return from == KTXN_NONE;
    case KTXN_PENDING: return from == KTXN_OPEN || from == KTXN_PENDING;
    case KTXN_NONE: return from == KTXN_OPEN || from == KTXN_PENDING;
    case KTXN_FAILED: return from != KTXN_FAILED;
    }
    return false;
}

void txn_state_src_move(txn_state_src_t *st, txn_state_src_t to)
{
    if (!txn_state_src_valid(*st, to)) {
        log_fatal("bug: invalid source transaction transition from \"%s\" to \"%s\"",
                  txn_state_src_name(*st), txn_state_src_name(to));
        abort();
    }
    *st = to;
}

void txn_state_kafka_move(txn_state_kafka_t *st, txn_state_kafka_t to)
{
    if (!txn_state_kafka_valid(*st, to)) {
        log_fatal("bug: invalid Kafka transaction transition from \"%s\" to \"%s\"",
                  txn_state_kafka_name(*st), txn_state_kafka_name(to));
        abort();
    }
    *st = to;
}
