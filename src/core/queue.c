/*
 * queue.c — mutex + two condition variables; a singly linked list.
 */
#include "sluice/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "sluice/buf.h"

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    qitem_t *head, *tail;
    size_t bytes;
    size_t max_bytes;
};

static size_t item_cost(const qitem_t *it)
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

void qitem_free(qitem_t *it)
{
    if (!it)
        return;
    if (it->data && it->data_free)
        it->data_free(it->data);
    free(it);
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

bool queue_push(queue_t *q, qitem_t *it, int timeout_ms)
{
    struct timespec deadline;
    deadline_after(&deadline, timeout_ms);
    size_t cost = item_cost(it);
    pthread_mutex_lock(&q->lock);
    while (q->head && q->bytes + cost > q->max_bytes) {
        if (pthread_cond_timedwait(&q->not_full, &q->lock, &deadline) == ETIMEDOUT) {
            if (!q->head || q->bytes + cost <= q->max_bytes)
                break;
            pthread_mutex_unlock(&q->lock);
            return false;
        }
    }
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->bytes += cost;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return true;
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
