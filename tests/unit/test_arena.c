/*
 * test_arena.c — the bump allocator (base/arena.h).
 */
#include <check.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/base/arena.h"

START_TEST(test_arena_aligns_and_keeps_allocations_apart)
{
    arena_t a = {0};
    char *p = arena_alloc(&a, 3);
    double *d = arena_alloc(&a, sizeof *d);
    ck_assert_uint_eq((uintptr_t) d % alignof(max_align_t), 0);
    memset(p, 'x', 3);
    *d = 2.5;
    char *s = arena_strndup(&a, "hello world", 5);
    ck_assert_str_eq(s, "hello");
    ck_assert(p[0] == 'x' && p[2] == 'x');
    ck_assert(*d == 2.5);
    /* Larger than a chunk: a chunk of its own. */
    char *big = arena_alloc(&a, 200 * 1024);
    memset(big, 1, 200 * 1024);
    ck_assert_str_eq(s, "hello");
    arena_free(&a);
}
END_TEST

START_TEST(test_arena_reset_reuses_the_same_memory)
{
    arena_t a = {0};
    void *first = arena_alloc(&a, 100);
    for (int i = 0; i < 5000; i++)
        arena_alloc(&a, 100); /* several chunks */
    size_t total = a.total;
    arena_reset(&a);
    ck_assert_ptr_eq(arena_alloc(&a, 100), first);
    for (int i = 0; i < 5000; i++)
        arena_alloc(&a, 100);
    ck_assert_uint_eq(a.total, total); /* walked the same chunks again */
    arena_free(&a);
}
END_TEST

START_TEST(test_arena_past_its_keep_limit_gives_memory_back_at_reset)
{
    arena_t a = {.keep = 256 * 1024};
    for (int i = 0; i < 10; i++)
        arena_alloc(&a, 64 * 1024);
    ck_assert_uint_gt(a.total, 256 * 1024);
    arena_reset(&a);
    ck_assert_uint_eq(a.total, 0);
    ck_assert_uint_eq(a.keep, 256 * 1024);
    char *p = arena_strndup(&a, "again", 5); /* usable after */
    ck_assert_str_eq(p, "again");
    arena_free(&a);
}
END_TEST

static Suite *arena_suite(void)
{
    Suite *s = suite_create("arena");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_arena_aligns_and_keeps_allocations_apart);
    tcase_add_test(tc, test_arena_reset_reuses_the_same_memory);
    tcase_add_test(tc, test_arena_past_its_keep_limit_gives_memory_back_at_reset);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(arena_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
