/*
 * test_queue.c — the bounded hand-off between the replication reader and the
 * pipeline: bounded by bytes, FIFO, never wedged by one huge item, and safe
 * for one producer thread and one consumer thread.
 *
 * The bound counts each item's payload plus a small fixed overhead that the
 * header does not pin down, so the sizes below are chosen to hold whatever
 * that overhead is (up to a few hundred bytes).
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/queue.h"

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An item whose payload is `len` bytes, all equal to `fill`. */
static qitem_t *make_item(size_t len, unsigned char fill)
{
    char *buf = malloc(len ? len : 1);
    ck_assert_ptr_nonnull(buf);
    memset(buf, fill, len);
    qitem_t *it = qitem_new(NULL, QITEM_DATA, buf, len);
    free(buf);
    ck_assert_ptr_nonnull(it);
    ck_assert_uint_eq(it->len, len);
    it->wal_start = fill;
    return it;
}

static void free_list(qitem_t *it)
{
    while (it) {
        qitem_t *next = it->next;
        qitem_free(it);
        it = next;
    }
}

static size_t list_length(const qitem_t *it)
{
    size_t n = 0;
    for (; it; it = it->next)
        n++;
    return n;
}

START_TEST(test_pop_all_returns_every_item_oldest_first)
{
    queue_t *q = queue_new(1 << 20);
    ck_assert(queue_is_empty(q));
    for (unsigned i = 1; i <= 5; i++)
        ck_assert(queue_push(q, make_item(10 * i, (unsigned char) i), 0));
    ck_assert(!queue_is_empty(q));
    qitem_t *all = queue_pop_all(q, 0);
    ck_assert_uint_eq(list_length(all), 5);
    unsigned i = 1;
    for (qitem_t *it = all; it; it = it->next, i++) {
        ck_assert_uint_eq(it->wal_start, i);
        ck_assert_uint_eq(it->len, 10 * i);
        ck_assert_int_eq((unsigned char) it->payload[it->len - 1], i);
    }
    ck_assert(queue_is_empty(q));
    ck_assert_uint_eq(queue_bytes(q), 0);
    ck_assert_ptr_null(queue_pop_all(q, 0));
    free_list(all);
    queue_free(q);
}
END_TEST

START_TEST(test_bytes_grow_with_payload_and_return_to_zero)
{
    queue_t *q = queue_new(1 << 20);
    ck_assert(queue_push(q, make_item(1000, 1), 0));
    size_t one = queue_bytes(q);
    ck_assert_uint_ge(one, 1000);
    ck_assert(queue_push(q, make_item(5000, 2), 0));
    ck_assert_uint_ge(queue_bytes(q), one + 5000);
    free_list(queue_pop_all(q, 0));
    ck_assert_uint_eq(queue_bytes(q), 0);
    queue_free(q);
}
END_TEST

START_TEST(test_push_times_out_when_full_and_caller_keeps_the_item)
{
    queue_t *q = queue_new(1000);
    ck_assert(queue_push(q, make_item(400, 1), 0));
    ck_assert(queue_push(q, make_item(400, 2), 0));
    qitem_t *third = make_item(400, 3);
    long long t0 = mono_ms();
    ck_assert(!queue_push(q, third, 150));
    long long waited = mono_ms() - t0;
    ck_assert_int_ge(waited, 140);
    ck_assert_int_lt(waited, 5000);
    /* Still ours: untouched, not linked into the queue. */
    ck_assert_uint_eq(third->len, 400);
    qitem_t *queued = queue_pop_all(q, 0);
    ck_assert_uint_eq(list_length(queued), 2);
    free_list(queued);
    queue_free(q);
    qitem_free(third);
}
END_TEST

START_TEST(test_push_fits_again_once_consumer_drained)
{
    queue_t *q = queue_new(1000);
    ck_assert(queue_push(q, make_item(400, 1), 0));
    ck_assert(queue_push(q, make_item(400, 2), 0));
    qitem_t *third = make_item(400, 3);
    ck_assert(!queue_push(q, third, 0));
    free_list(queue_pop_all(q, 0));
    ck_assert(queue_push(q, third, 0));
    qitem_t *all = queue_pop_all(q, 0);
    ck_assert_ptr_eq(all, third);
    ck_assert_ptr_null(all->next);
    free_list(all);
    queue_free(q);
}
END_TEST

START_TEST(test_oversized_item_accepted_when_empty)
{
    queue_t *q = queue_new(100);
    long long t0 = mono_ms();
    ck_assert(queue_push(q, make_item(1 << 20, 7), 5000));
    ck_assert_int_lt(mono_ms() - t0, 1000); /* no waiting */
    ck_assert_uint_ge(queue_bytes(q), 1 << 20);
    /* Now the queue is over its bound: even a tiny item waits. */
    qitem_t *small = make_item(1, 8);
    ck_assert(!queue_push(q, small, 20));
    qitem_t *all = queue_pop_all(q, 0);
    ck_assert_uint_eq(list_length(all), 1);
    ck_assert_uint_eq(all->len, 1 << 20);
    free_list(all);
    ck_assert(queue_push(q, small, 0));
    queue_free(q); /* frees `small` with the queue */
}
END_TEST

START_TEST(test_pop_all_times_out_when_empty)
{
    queue_t *q = queue_new(1000);
    long long t0 = mono_ms();
    ck_assert_ptr_null(queue_pop_all(q, 0));
    ck_assert_int_lt(mono_ms() - t0, 100);
    t0 = mono_ms();
    ck_assert_ptr_null(queue_pop_all(q, 120));
    long long waited = mono_ms() - t0;
    ck_assert_int_ge(waited, 110);
    ck_assert_int_lt(waited, 5000);
    queue_free(q);
}
END_TEST

START_TEST(test_queue_free_frees_items_still_queued)
{
    /* Items from an arena chunk and alone; ASan's leak check fails the test if any survive. */
    queue_t *q = queue_new(1 << 20);
    qarena_t arena = {0};
    for (int i = 0; i < 3; i++) {
        ck_assert(queue_push(q, make_item(16, (unsigned char) i), 0));
        ck_assert(queue_push(q, qitem_new(&arena, QITEM_DATA, "chunked", 7), 0));
    }
    qarena_release(&arena);
    queue_free(q);
    queue_free(NULL);
    qitem_free(NULL);
}
END_TEST

START_TEST(test_arena_items_outlive_the_arena_and_keep_their_payload)
{
    qarena_t arena = {0};
    qitem_t *items[5000];
    for (int i = 0; i < 5000; i++) {
        char buf[64];
        int n = snprintf(buf, sizeof buf, "payload %d", i);
        items[i] = qitem_new(&arena, QITEM_DATA, buf, (size_t) n);
    }
    qarena_release(&arena); /* the reader is gone; its items are not */
    for (int i = 0; i < 5000; i++) {
        char want[64];
        snprintf(want, sizeof want, "payload %d", i);
        ck_assert_str_eq(items[i]->payload, want);
        qitem_free(items[i]);
    }
    /* A payload above the chunk limit is allocated alone and still works. */
    char *big = calloc(1, 100000);
    qitem_t *it = qitem_new(&arena, QITEM_DATA, big, 100000);
    ck_assert_ptr_null(it->chunk);
    qitem_free(it);
    qarena_release(&arena);
    free(big);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Threads                                                                   */

typedef struct {
    queue_t *q;
    qitem_t *item;
    int timeout_ms;
    atomic_int tid; /* the pushing thread's id, once it runs */
    bool result;
    long long done_ms;
} push_arg_t;

static void *push_thread(void *p)
{
    push_arg_t *a = p;
    atomic_store(&a->tid, (int) gettid());
    a->result = queue_push(a->q, a->item, a->timeout_ms);
    a->done_ms = mono_ms();
    return NULL;
}

/* True once thread tid is asleep in the kernel (state S in /proc: for the
 * pusher below, waiting on the queue for room; it holds no other lock). */
static bool thread_asleep(int tid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool asleep = false;
    if (fgets(line, sizeof line, f)) {
        const char *end = strrchr(line, ')'); /* the name, in parentheses, may hold anything */
        asleep = end && end[1] == ' ' && end[2] == 'S';
    }
    fclose(f);
    return asleep;
}

START_TEST(test_blocked_push_completes_when_consumer_pops)
{
    queue_t *q = queue_new(1000);
    ck_assert(queue_push(q, make_item(900, 1), 0));
    push_arg_t a = {.q = q, .item = make_item(900, 2), .timeout_ms = 10000};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, push_thread, &a), 0);
    /* Pop only once the pusher is blocked for room (5 s at most), so the pop is what wakes it. */
    long long deadline = mono_ms() + 5000;
    while (!(atomic_load(&a.tid) && thread_asleep(atomic_load(&a.tid))) && mono_ms() < deadline)
        sched_yield();
    ck_assert_msg(atomic_load(&a.tid) && thread_asleep(atomic_load(&a.tid)),
                  "the pusher did not block on a full queue within 5 s");
    long long popped_ms = mono_ms();
    qitem_t *first = queue_pop_all(q, 0);
    ck_assert_uint_eq(first->wal_start, 1);
    pthread_join(t, NULL);
    ck_assert(a.result);
    ck_assert_int_ge(a.done_ms, popped_ms); /* it was waiting for the pop */
    ck_assert_int_lt(a.done_ms - popped_ms, 2000);
    qitem_t *second = queue_pop_all(q, 1000);
    ck_assert_ptr_nonnull(second);
    ck_assert_uint_eq(second->wal_start, 2);
    free_list(first);
    free_list(second);
    queue_free(q);
}
END_TEST

START_TEST(test_blocked_pop_wakes_on_push)
{
    queue_t *q = queue_new(1000);
    push_arg_t a = {.q = q, .item = make_item(10, 9), .timeout_ms = 0};
    pthread_t t;
    long long t0 = mono_ms();
    ck_assert_int_eq(pthread_create(&t, NULL, push_thread, &a), 0);
    qitem_t *got = queue_pop_all(q, 10000);
    ck_assert_ptr_nonnull(got);
    ck_assert_int_lt(mono_ms() - t0, 5000);
    pthread_join(t, NULL);
    ck_assert_uint_eq(got->wal_start, 9);
    free_list(got);
    queue_free(q);
}
END_TEST

#define NITEMS 100000

static void *producer(void *p)
{
    queue_t *q = p;
    qarena_t arena = {0};
    for (uint32_t i = 0; i < NITEMS; i++) {
        qitem_t *it = qitem_new(&arena, QITEM_DATA, &i, sizeof i);
        it->wal_start = i;
        while (!queue_push(q, it, 100))
            ;
    }
    qarena_release(&arena);
    qitem_t *end = qitem_new(NULL, QITEM_END, "end", 3);
    while (!queue_push(q, end, 100))
        ;
    return NULL;
}

START_TEST(test_producer_and_consumer_threads_pass_100k_items_in_order)
{
    /* A small bound, so the producer keeps hitting back-pressure. */
    queue_t *q = queue_new(4096);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, producer, q), 0);
    uint32_t expect = 0;
    size_t batches = 0;
    bool ended = false;
    while (!ended) {
        qitem_t *all = queue_pop_all(q, 10000);
        ck_assert_msg(all != NULL, "consumer starved after %u items", expect);
        batches++;
        for (qitem_t *it = all; it; it = it->next) {
            ck_assert_msg(!ended, "item after QITEM_END");
            if (it->kind == QITEM_END) {
                ended = true;
                continue;
            }
            uint32_t got;
            memcpy(&got, it->payload, sizeof got);
            ck_assert_msg(got == expect && it->wal_start == expect, "got item %u, expected %u", got,
                          expect);
            expect++;
        }
        free_list(all);
    }
    pthread_join(t, NULL);
    ck_assert_uint_eq(expect, NITEMS);
    ck_assert_uint_gt(batches, 1);
    ck_assert(queue_is_empty(q));
    queue_free(q);
}
END_TEST

static Suite *queue_suite(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_pop_all_returns_every_item_oldest_first);
    tcase_add_test(tc, test_bytes_grow_with_payload_and_return_to_zero);
    tcase_add_test(tc, test_push_times_out_when_full_and_caller_keeps_the_item);
    tcase_add_test(tc, test_push_fits_again_once_consumer_drained);
    tcase_add_test(tc, test_oversized_item_accepted_when_empty);
    tcase_add_test(tc, test_pop_all_times_out_when_empty);
    tcase_add_test(tc, test_queue_free_frees_items_still_queued);
    tcase_add_test(tc, test_arena_items_outlive_the_arena_and_keep_their_payload);
    tcase_add_test(tc, test_blocked_push_completes_when_consumer_pops);
    tcase_add_test(tc, test_blocked_pop_wakes_on_push);
    tcase_add_test(tc, test_producer_and_consumer_threads_pass_100k_items_in_order);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(queue_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
