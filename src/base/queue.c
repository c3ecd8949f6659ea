/*
 * queue.c — mutex + two condition variables over a singly linked list, and
 * the chunk allocator for items.
 *
 * A chunk is reference counted: one reference per item carved from it, plus
 * one held by the arena while the chunk is current. Items are freed by the
 * pipeline thread, chunks by whichever thread drops the last reference.
 */
#include "sluice/base/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "sluice/base/buf.h"
#include "sluice/base/log.h"

#define CHUNK_SIZE (256 * 1024)
#define CHUNK_MAX_ITEM (16 * 1024) /* larger payloads get their own allocation */

struct qchunk {
    atomic_int refs;
    size_t used;
    char mem[];
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    qitem_t *head, *tail;
    size_t bytes;
    size_t max_bytes;
};

/*
 * Chunks are mapped and unmapped directly: through malloc, glibc's dynamic
 * mmap threshold moves them into the reader thread's heap arena, where
 * pages freed by the pipeline thread are not given back, and RSS creeps up.
 * Up to CHUNK_SPARE released chunks are kept for reuse: a fresh mapping is
 * zeroed page by page on first touch, which cost more CPU than the decoding
 * on wide rows (a profile of 4 KB rows showed 15% in page faults).
 */
#define CHUNK_SPARE 16

static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;
static qchunk_t *spare[CHUNK_SPARE];
static int nspare;

static qchunk_t *chunk_new(void)
{
    qchunk_t *c = NULL;
    pthread_mutex_lock(&spare_lock);
    if (nspare > 0)
        c = spare[--nspare];
    pthread_mutex_unlock(&spare_lock);
    if (!c) {
        void *p = mmap(NULL, sizeof(qchunk_t) + CHUNK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            log_fatal("out of memory mapping a %d kB queue chunk: %m", CHUNK_SIZE / 1024);
            abort();
        }
        c = p;
    }
    atomic_init(&c->refs, 1);
    c->used = 0;
    return c;
}

static void chunk_unref(qchunk_t *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&spare_lock);
    if (nspare < CHUNK_SPARE) {
        spare[nspare++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&spare_lock);
    if (c)
        munmap(c, sizeof(qchunk_t) + CHUNK_SIZE);
}

void qarena_release(qarena_t *arena)
{
    if (arena->cur)
        chunk_unref(arena->cur);
    arena->cur = NULL;
}

qitem_t *qitem_new(qarena_t *arena, qitem_kind_t kind, const void *payload, size_t len)
{
    size_t need = (sizeof(qitem_t) + len + 1 + 15) & ~(size_t) 15;
    qitem_t *it;
    if (arena && len <= CHUNK_MAX_ITEM) {
        if (!arena->cur || arena->cur->used + need > CHUNK_SIZE) {
            qarena_release(arena);
            arena->cur = chunk_new();
        }
        qchunk_t *c = arena->cur;
        it = (qitem_t *) (c->mem + c->used);
        c->used += need;
        atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
        it->chunk = c;
    } else {
        it = xmalloc(sizeof(qitem_t) + len + 1);
        it->chunk = NULL;
    }
    it->next = NULL;
    it->kind = kind;
    it->wal_start = it->wal_end = 0;
    it->len = len;
    it->payload = (char *) (it + 1);
    if (len)
        memcpy(it->payload, payload, len);
    it->payload[len] = '\0';
    return it;
}

void qitem_free(qitem_t *it)
{
    if (!it)
        return;
    if (it->chunk)
        chunk_unref(it->chunk);
    else
        free(it);
}

size_t qitem_cost(const qitem_t *it)
{
    return it->len + sizeof *it;
}

queue_t *queue_new(size_t max_bytes)
{
    queue_t *q = xcalloc(1, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &attr);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    q->max_bytes = max_bytes;
    return q;
}

void queue_free(queue_t *q)
{
    if (!q)
        return;
    qitem_t *it = q->head;
    while (it) {
        qitem_t *next = it->next;
        qitem_free(it);
        it = next;
    }
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q);
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool queue_push_list(queue_t *q, qitem_t *first, size_t cost, int timeout_ms)
{
    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    qitem_t *last = first;
    while (last->next)
        last = last->next;
    pthread_mutex_lock(&q->lock);
    while (q->head && q->bytes + cost > q->max_bytes) {
        if (pthread_cond_timedwait(&q->not_full, &q->lock, &deadline) == ETIMEDOUT) {
            if (!q->head || q->bytes + cost <= q->max_bytes)
                break;
            pthread_mutex_unlock(&q->lock);
            return false;
        }
    }
    if (q->tail)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
    q->bytes += cost;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return true;
}

bool queue_push(queue_t *q, qitem_t *it, int timeout_ms)
{
    it->next = NULL;
    return queue_push_list(q, it, qitem_cost(it), timeout_ms);
}

qitem_t *queue_pop_all(queue_t *q, int timeout_ms)
{
    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    pthread_mutex_lock(&q->lock);
    while (!q->head) {
        if (timeout_ms <= 0 ||
            pthread_cond_timedwait(&q->not_empty, &q->lock, &deadline) == ETIMEDOUT) {
            if (!q->head) {
                pthread_mutex_unlock(&q->lock);
                return NULL;
            }
        }
    }
    qitem_t *all = q->head;
    q->head = q->tail = NULL;
    q->bytes = 0;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return all;
}

size_t queue_bytes(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t b = q->bytes;
    pthread_mutex_unlock(&q->lock);
    return b;
}

bool queue_is_empty(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    bool e = q->head == NULL;
    pthread_mutex_unlock(&q->lock);
    return e;
}
