/*
 * test_snapshot_request.c — the pure parts of a snapshot request while
 * streaming (snapshot_progress.h): the names of a request's list, a request
 * under snapshot.method = incremental turning tables into incremental copies
 * from their start (or leaving one under way alone), and the log's account
 * of where each incremental copy stands.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/snapshot_progress.h"

static char err[256];

START_TEST(test_request_names_split_and_qualified)
{
    const char *list = " inc_a,public.inc_b\tother.c ,, ";
    size_t pos = 0;
    char name[300];
    const char *want[] = {"public.inc_a", "public.inc_b", "other.c"};
    for (size_t i = 0; i < 3; i++) {
        ck_assert(snapshot_request_next_name(list, strlen(list), &pos, name, sizeof name, err,
                                             sizeof err));
        ck_assert_str_eq(name, want[i]);
    }
    ck_assert(!snapshot_request_next_name(list, strlen(list), &pos, name, sizeof name, err,
                                          sizeof err));
    ck_assert_str_eq(err, ""); /* the end, not an error */
    pos = 0;
    ck_assert(!snapshot_request_next_name("caf\xc3", 4, &pos, name, sizeof name, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "not UTF-8 text"));
}
END_TEST

START_TEST(test_incremental_request_restarts_done_and_adds_new_tables)
{
    snapshot_progress_t *p = snapshot_progress_new();
    p->running = false;
    p->epoch = 1;
    snapshot_table_t *done = snapshot_progress_add(p, "public.a", 100, SNAPSHOT_TABLE_DONE);
    done->rows = 50;
    done->lsn = 0x500;
    ck_assert(snapshot_progress_request_incremental(p, "public.a", 101));
    ck_assert(snapshot_progress_request_incremental(p, "public.late", 200));
    ck_assert(p->running);
    ck_assert_uint_eq(p->epoch, 1);
    char *json = snapshot_progress_to_json(p);
    ck_assert_str_eq(json,
                     "{\"state\":\"running\",\"epoch\":1,\"consistent_point\":\"0/00000000\","
                     "\"tables\":[{\"table\":\"public.a\",\"oid\":101,\"state\":\"incremental\","
                     "\"rows\":0,\"chunks\":0},{\"table\":\"public.late\",\"oid\":200,"
                     "\"state\":\"incremental\",\"rows\":0,\"chunks\":0}]}");
    /* Read back, it is a copy still owed: the next session resumes it. */
    snapshot_progress_t *q = snapshot_progress_parse(json, err, sizeof err);
    ck_assert_msg(q != NULL, "%s", err);
    ck_assert(snapshot_progress_incremental_pending(q));
    ck_assert(!snapshot_progress_export_pending(q));
    free(json);
    snapshot_progress_free(q);
    snapshot_progress_free(p);
}
END_TEST

START_TEST(test_incremental_request_leaves_a_copy_under_way)
{
    snapshot_progress_t *p = snapshot_progress_new();
    snapshot_table_t *t = snapshot_progress_add(p, "public.a", 100, SNAPSHOT_TABLE_INCREMENTAL);
    const char *key[] = {"1000"};
    t->rows = 1000;
    t->chunks = 2;
    snapshot_table_set_last_key(t, key, 1);
    char *before = snapshot_progress_to_json(p);
    ck_assert(!snapshot_progress_request_incremental(p, "public.a", 100));
    char *after = snapshot_progress_to_json(p);
    ck_assert_str_eq(after, before); /* its chunks and last key stand */
    free(before);
    free(after);
    snapshot_progress_free(p);
}
END_TEST

START_TEST(test_describe_tells_where_each_copy_resumes)
{
    snapshot_progress_t *p = snapshot_progress_new();
    snapshot_table_t *a = snapshot_progress_add(p, "public.a", 1, SNAPSHOT_TABLE_INCREMENTAL);
    const char *key[] = {"7", "x"};
    a->rows = 1500;
    a->chunks = 3;
    snapshot_table_set_last_key(a, key, 2);
    snapshot_table_t *one = snapshot_progress_add(p, "public.one", 2, SNAPSHOT_TABLE_INCREMENTAL);
    one->rows = 10;
    one->chunks = 1;
    snapshot_table_set_last_key(one, key, 1);
    snapshot_progress_add(p, "public.done", 3, SNAPSHOT_TABLE_DONE);
    snapshot_progress_add(p, "public.b", 4, SNAPSHOT_TABLE_INCREMENTAL);
    strbuf_t out = STRBUF_INIT;
    snapshot_progress_describe_incremental(p, &out);
    ck_assert_str_eq(out.data, "\"public.a\" after 3 chunks (1500 rows), \"public.one\" after 1 "
                               "chunk (10 rows), \"public.b\" from its start");
    strbuf_free(&out);
    snapshot_progress_free(p);
}
END_TEST

static Suite *request_suite(void)
{
    Suite *s = suite_create("snapshot_request");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_request_names_split_and_qualified);
    tcase_add_test(tc, test_incremental_request_restarts_done_and_adds_new_tables);
    tcase_add_test(tc, test_incremental_request_leaves_a_copy_under_way);
    tcase_add_test(tc, test_describe_tells_where_each_copy_resumes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(request_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
