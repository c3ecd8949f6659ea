/*
 * queue.h — the bounded hand-off from the replication reader to the pipeline.
 *
 * Bounded by bytes, not items: one item is one XLogData payload, and those
 * range from 20 bytes to a gigabyte-sized row. A batch larger than the bound
 * is still accepted when the queue is empty, so nothing can wedge.
 *
 * One producer (reader), one consumer (pipeline). The reader pushes items in
 * batches and the pipeline takes every queued item at once: one lock per
 * batch, not per change. Items and their payloads are carved out of shared
 * chunks (qarena_t) instead of being allocated one by one: the hot path does
 * no malloc per change, and no free from the other thread.
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H

#include "sluice/base/common.h"

typedef enum {
    QITEM_DATA,      /* an XLogData payload: one pgoutput message */
    QITEM_KEEPALIVE, /* the server's WAL end at a point where nothing is in flight */
    QITEM_END,       /* the reader stopped; `payload` holds the reason (NUL-terminated) */
} qitem_kind_t;

typedef struct qchunk qchunk_t;

typedef struct qitem {
    struct qitem *next;
    qitem_kind_t kind;
    sluice_lsn_t wal_start; /* XLogData: WAL position of this message */
    sluice_lsn_t wal_end;   /* server's WAL end when it sent this */
    size_t len;
    char *payload;          /* len bytes (plus a NUL) */
    qchunk_t *chunk;        /* the chunk holding item and payload; NULL if allocated alone */
} qitem_t;

/* The reader's allocator: a current chunk that items are carved from. */
typedef struct {
    qchunk_t *cur;
} qarena_t;

/*
 * Returns a new item of `kind` holding a copy of len bytes of payload (NUL
 * added). Small items come from the arena's chunk; large ones are allocated
 * alone. Free with qitem_free, from any thread.
 */
qitem_t *qitem_new(qarena_t *arena, qitem_kind_t kind, const void *payload, size_t len);

/* Frees one item (its chunk when the last item of it is gone). */
void qitem_free(qitem_t *item);

/* Releases the arena's hold on its current chunk. */
void qarena_release(qarena_t *arena);

typedef struct queue queue_t;

queue_t *queue_new(size_t max_bytes);
/* Frees the queue and every item still in it. */
void queue_free(queue_t *q);

/*
 * Appends the list first..(NULL-terminated) of `cost` bytes (the queue takes
 * ownership). Waits up to timeout_ms for room; returns false on timeout,
 * leaving ownership with the caller.
 */
bool queue_push_list(queue_t *q, qitem_t *first, size_t cost, int timeout_ms);

/* queue_push_list of one item. */
bool queue_push(queue_t *q, qitem_t *item, int timeout_ms);

/* What an item counts against the bound. */
size_t qitem_cost(const qitem_t *item);

/* Takes every queued item (oldest first), waiting up to timeout_ms for one; NULL on timeout. */
qitem_t *queue_pop_all(queue_t *q, int timeout_ms);

/* Bytes currently queued. */
size_t queue_bytes(queue_t *q);
bool queue_is_empty(queue_t *q);

#endif
