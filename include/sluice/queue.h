/*
 * queue.h — the bounded hand-off from the replication reader to the pipeline.
 *
 * Bounded by bytes, not items: one item is one XLogData payload, and those
 * range from 20 bytes to a gigabyte-sized row. An item larger than the bound
 * is still accepted when the queue is empty, so nothing can wedge.
 *
 * One producer (reader), one consumer (pipeline). The consumer takes every
 * queued item at once (one lock per batch, not per change).
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H

#include "sluice/common.h"

typedef enum {
    QITEM_DATA,      /* an XLogData payload: one pgoutput message */
    QITEM_KEEPALIVE, /* the server's WAL end at a point where nothing is in flight */
    QITEM_END,       /* the reader stopped; `data` holds the reason (NUL-terminated) */
} qitem_kind_t;

typedef struct qitem {
    struct qitem *next;
    qitem_kind_t kind;
    sluice_lsn_t wal_start; /* XLogData: WAL position of this message */
    sluice_lsn_t wal_end;   /* server's WAL end when it sent this */
    size_t len;
    char *data;      /* payload; freed with data_free */
    void (*data_free)(void *);
    char *payload;   /* points into data */
} qitem_t;

typedef struct queue queue_t;

queue_t *queue_new(size_t max_bytes);
/* Frees the queue and every item still in it. */
void queue_free(queue_t *q);

/*
 * Appends item (the queue takes ownership). Waits up to timeout_ms for room;
 * returns false on timeout, leaving ownership with the caller.
 */
bool queue_push(queue_t *q, qitem_t *item, int timeout_ms);

/* Takes every queued item (oldest first), waiting up to timeout_ms for one; NULL on timeout. */
qitem_t *queue_pop_all(queue_t *q, int timeout_ms);

/* Bytes currently queued. */
size_t queue_bytes(queue_t *q);
bool queue_is_empty(queue_t *q);

/* Frees one item (and its payload). */
void qitem_free(qitem_t *item);

#endif
