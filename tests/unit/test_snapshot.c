/*
 * test_snapshot.c — the pure parts of the initial snapshot (snapshot.h):
 * COPY text rows turned into the values pgoutput would send, the progress
 * record carried in the checkpoint, the request of a "sluice.snapshot"
 * message, and the stream filter that keeps the hand-off exact.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/checkpoint.h"
#include "sluice/base/config.h"
#include "sluice/core/snapshot.h"
#include "sluice/core/snapshot_filter.h"
#include "sluice/pg/copyrow.h"

static pgo_value_t vals[16];
static strbuf_t scratch;
static char err[256];

static bool decode(const char *row, uint16_t ncols)
{
    return copyrow_decode(row, strlen(row), vals, ncols, &scratch, err, sizeof err);
}

static void assert_text(int i, const char *want)
{
    ck_assert_int_eq(vals[i].kind, PGO_VALUE_TEXT);
    ck_assert_uint_eq(vals[i].len, strlen(want));
    ck_assert(memcmp(vals[i].data, want, vals[i].len) == 0);
}

START_TEST(test_copy_row_plain_fields_and_null)
{
    ck_assert(decode("1\tAda\t\\N\t42.50\n", 4));
    assert_text(0, "1");
    assert_text(1, "Ada");
    ck_assert_int_eq(vals[2].kind, PGO_VALUE_NULL);
    assert_text(3, "42.50");
    strbuf_free(&scratch);
}
END_TEST

START_TEST(test_copy_row_escapes_become_the_bytes_pgoutput_sends)
{
    /* COPY writes tab, newline, CR, backslash and other controls escaped. */
    ck_assert(decode("a\\tb\\nc\\\\d\\re\\b\\f\\v\t\\\\N\t\\101\\x41z\n", 3));
    assert_text(0, "a\tb\nc\\d\re\b\f\v");
    assert_text(1, "\\N"); /* an escaped backslash then N: text, not NULL */
    assert_text(2, "AAz");
    strbuf_free(&scratch);
}
END_TEST

START_TEST(test_copy_row_empty_strings_are_not_null)
{
    ck_assert(decode("\t\t\n", 3));
    assert_text(0, "");
    assert_text(1, "");
    assert_text(2, "");
    ck_assert(decode("\\N\n", 1));
    ck_assert_int_eq(vals[0].kind, PGO_VALUE_NULL);
    ck_assert(decode("\\N\t\\N\n", 2));
    ck_assert_int_eq(vals[1].kind, PGO_VALUE_NULL);
    ck_assert(decode("x", 1)); /* no trailing newline */
    assert_text(0, "x");
    strbuf_free(&scratch);
}
END_TEST

START_TEST(test_copy_row_wrong_shape_is_an_error)
{
    ck_assert(!decode("1\t2\n", 3));
    ck_assert_ptr_nonnull(strstr(err, "2 fields, expected 3"));
    ck_assert(!decode("1\t2\t3\n", 2));
    ck_assert_ptr_nonnull(strstr(err, "more than"));
    ck_assert(!decode("abc\\\n", 1));
    ck_assert_ptr_nonnull(strstr(err, "lone backslash"));
    strbuf_free(&scratch);
}
END_TEST

/* As PostgreSQL's CopyAttributeOutText escapes a value (its short forms, or an octal escape). */
static void copy_escape(strbuf_t *out, const unsigned char *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = v[i];
        const char *e = NULL;
        switch (c) {
        case '\\': e = "\\\\"; break;
        case '\t': e = "\\t"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\v': e = "\\v"; break;
        }
        if (e)
            strbuf_puts(out, e);
        else if ((seed + i) % 7 == 0)
            strbuf_appendf(out, "\\%03o", c); /* any byte may come escaped */
        else if ((seed + i) % 11 == 0)
            strbuf_appendf(out, "\\x%02x", c);
        else
            strbuf_putc(out, (char) c);
    }
}

/* Random values of every byte, escaped and joined into rows, decode back to themselves. */
START_TEST(test_copy_row_decodes_back_what_copy_escaped)
{
    srand(15);
    strbuf_t row = STRBUF_INIT;
    unsigned char want[4][64];
    size_t wantlen[4];
    bool null[4];
    for (int round = 0; round < 5000; round++) {
        strbuf_reset(&row);
        for (int f = 0; f < 4; f++) {
            null[f] = rand() % 9 == 0;
            wantlen[f] = (size_t) (rand() % 64);
            for (size_t i = 0; i < wantlen[f]; i++)
                want[f][i] = (unsigned char) (1 + rand() % 255); /* text holds no NUL */
            if (f)
                strbuf_putc(&row, '\t');
            if (null[f])
                strbuf_puts(&row, "\\N");
            else
                copy_escape(&row, want[f], wantlen[f], (unsigned) round);
        }
        strbuf_putc(&row, '\n');
        ck_assert_msg(copyrow_decode(row.data, row.len, vals, 4, &scratch, err, sizeof err), "%s",
                      err);
        for (int f = 0; f < 4; f++) {
            if (null[f]) {
                ck_assert_int_eq(vals[f].kind, PGO_VALUE_NULL);
                continue;
            }
            ck_assert_int_eq(vals[f].kind, PGO_VALUE_TEXT);
            ck_assert_uint_eq(vals[f].len, wantlen[f]);
            ck_assert(memcmp(vals[f].data, want[f], wantlen[f]) == 0);
        }
    }
    strbuf_free(&row);
}
END_TEST

START_TEST(test_copy_row_values_survive_a_growing_scratch)
{
    /* Long values: scratch grows while decoding; every value must still point at its text. */
    char row[20000];
    memset(row, 'x', 9000);
    row[9000] = '\t';
    memset(row + 9001, 'y', 9000);
    strcpy(row + 18001, "\tz\n");
    strbuf_t small = STRBUF_INIT;
    ck_assert(copyrow_decode(row, strlen(row), vals, 3, &small, err, sizeof err));
    ck_assert_uint_eq(vals[0].len, 9000);
    ck_assert_uint_eq(vals[1].len, 9000);
    ck_assert(vals[0].data[8999] == 'x' && vals[1].data[0] == 'y' && vals[2].data[0] == 'z');
    strbuf_free(&small);
}
END_TEST

START_TEST(test_progress_round_trips_through_json)
{
    snapshot_progress_t *p = snapshot_progress_new();
    p->epoch = 2;
    p->consistent_point = UINT64_C(0x16B3780);
    snapshot_table_t *a = snapshot_progress_add(p, "public.a", 16384, SNAPSHOT_TABLE_DONE);
    a->lsn = UINT64_C(0x16B3700);
    a->rows = 1000;
    snapshot_progress_add(p, "public.b", 16390, SNAPSHOT_TABLE_PARTIAL);
    snapshot_progress_add(p, "s.c", 16400, SNAPSHOT_TABLE_WAITING);
    char *json = snapshot_progress_to_json(p);
    ck_assert_str_eq(json, "{\"state\":\"running\",\"epoch\":2,\"consistent_point\":\"0/016B3780\","
                           "\"tables\":[{\"table\":\"public.a\",\"oid\":16384,\"state\":\"done\","
                           "\"lsn\":\"0/016B3700\",\"rows\":1000},{\"table\":\"public.b\","
                           "\"oid\":16390,\"state\":\"partial\"},{\"table\":\"s.c\",\"oid\":16400,"
                           "\"state\":\"waiting\"}]}");
    snapshot_progress_t *q = snapshot_progress_parse(json, err, sizeof err);
    ck_assert_ptr_nonnull(q);
    char *again = snapshot_progress_to_json(q);
    ck_assert_str_eq(again, json);
    ck_assert(q->running);
    ck_assert_uint_eq(q->ntables, 3);
    ck_assert_int_eq(snapshot_progress_find(q, "public.b")->state, SNAPSHOT_TABLE_PARTIAL);
    free(json);
    free(again);
    snapshot_progress_free(p);
    snapshot_progress_free(q);
}
END_TEST

START_TEST(test_progress_refuses_malformed_records)
{
    static const char *bad[] = {
        "[]",
        "{\"state\":\"maybe\",\"epoch\":1,\"consistent_point\":\"0/1\"}",
        "{\"state\":\"done\",\"consistent_point\":\"0/1\"}",
        "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"nope\"}",
        "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"0/1\",\"tables\":[{\"table\":\"a\"}]}",
        "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"0/1\",\"tables\":[{\"table\":\"a\","
        "\"oid\":1,\"state\":\"done\"}]}", /* done without its LSN */
        "not json",
        /* Numbers that do not fit the field were wrapped (found with fuzz_snapshot_progress's checks). */
        "{\"state\":\"done\",\"epoch\":4294967296,\"consistent_point\":\"0/1\"}",
        "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"0/1\",\"tables\":[{\"table\":\"a\","
        "\"oid\":-1,\"state\":\"waiting\"}]}",
        "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"0/1\",\"tables\":[{\"table\":\"a\","
        "\"oid\":4294967296,\"state\":\"waiting\"}]}",
        "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"0/1\",\"tables\":[{\"table\":\"a\","
        "\"oid\":1,\"state\":\"done\",\"lsn\":\"0/1\",\"rows\":-5}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snapshot_progress_t *p = snapshot_progress_parse(bad[i], err, sizeof err);
        ck_assert_msg(p == NULL, "accepted %s", bad[i]);
    }
}
END_TEST

START_TEST(test_prune_forgets_tables_the_stream_is_past)
{
    snapshot_progress_t *p = snapshot_progress_new();
    snapshot_progress_add(p, "public.a", 1, SNAPSHOT_TABLE_DONE)->lsn = 100;
    snapshot_progress_add(p, "public.b", 2, SNAPSHOT_TABLE_DONE)->lsn = 300;
    snapshot_progress_prune(p, 200);
    ck_assert_uint_eq(p->ntables, 2); /* running: nothing is forgotten */
    p->running = false;
    snapshot_progress_prune(p, 200);
    ck_assert_uint_eq(p->ntables, 1);
    ck_assert_str_eq(p->tables[0].name, "public.b");
    snapshot_progress_prune(p, 300);
    ck_assert_uint_eq(p->ntables, 0);
    snapshot_progress_free(p);
}
END_TEST

START_TEST(test_filter_leaves_out_changes_the_copy_holds)
{
    snapshot_progress_t *p = snapshot_progress_new();
    p->running = false;
    snapshot_progress_add(p, "public.a", 10, SNAPSHOT_TABLE_DONE)->lsn = 100; /* at the resume point */
    snapshot_progress_add(p, "public.b", 20, SNAPSHOT_TABLE_DONE)->lsn = 500; /* copied later */
    snapshot_progress_add(p, "public.c", 30, SNAPSHOT_TABLE_PARTIAL);
    snapshot_filter_t *f = snapshot_filter_new(p, 100);
    ck_assert_ptr_nonnull(f);
    ck_assert(snapshot_filter_emits(f, 10, 100));
    ck_assert(!snapshot_filter_emits(f, 20, 499)); /* committed before b's copy: in it */
    ck_assert(snapshot_filter_emits(f, 20, 500));  /* at or after: not in it */
    ck_assert(snapshot_filter_emits(f, 30, 1));
    ck_assert(snapshot_filter_emits(f, 99, 1)); /* a table the snapshot never saw */
    snapshot_filter_free(f);
    ck_assert_ptr_null(snapshot_filter_new(p, 500)); /* nothing left to leave out */
    ck_assert(snapshot_filter_emits(NULL, 20, 1));
    snapshot_progress_free(p);
}
END_TEST

START_TEST(test_request_marks_tables_partial_and_running)
{
    const char *done = "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"0/10\",\"tables\":[]}";
    const char *names = " public.x, y\tother.z ";
    char *json = snapshot_progress_request(done, names, strlen(names), err, sizeof err);
    ck_assert_ptr_nonnull(json);
    snapshot_progress_t *p = snapshot_progress_parse(json, err, sizeof err);
    ck_assert(p->running);
    ck_assert_uint_eq(p->epoch, 1);
    ck_assert_uint_eq(p->ntables, 3);
    ck_assert_int_eq(snapshot_progress_find(p, "public.x")->state, SNAPSHOT_TABLE_PARTIAL);
    ck_assert_ptr_nonnull(snapshot_progress_find(p, "public.y"));
    ck_assert_ptr_nonnull(snapshot_progress_find(p, "other.z"));
    snapshot_progress_free(p);
    free(json);
    ck_assert_ptr_null(snapshot_progress_request(NULL, " , ", 3, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "names no table"));
    json = snapshot_progress_request(NULL, "t", 1, err, sizeof err); /* no snapshot before */
    ck_assert_ptr_nonnull(strstr(json, "\"public.t\""));
    free(json);
}
END_TEST

/*
 * Found by fuzz_snapshot_progress: a message naming a table in bytes that are
 * not UTF-8 gave progress JSON that no reader (this one, jansson in
 * checkpoint_from_json) accepts back, so the next start could not read its own
 * checkpoint; a long name was cut short without a word.
 */
START_TEST(test_request_refuses_names_it_could_not_read_back)
{
    const char *bad[] = {"public.\xff", "ok, caf\xc3", "\xc0\xaf", "\xed\xa0\x80", "t\0u"};
    const size_t lens[] = {8, 8, 2, 3, 3};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        char *json = snapshot_progress_request(NULL, bad[i], lens[i], err, sizeof err);
        ck_assert_msg(json == NULL, "accepted #%zu: %s", i, json);
        ck_assert_ptr_nonnull(strstr(err, "not UTF-8 text"));
    }
    char longname[400];
    memset(longname, 'a', sizeof longname);
    ck_assert_ptr_null(snapshot_progress_request(NULL, longname, 293, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "longer than 299 bytes"));
    /* What does fit, in UTF-8, is written and read back. */
    const char *good = "caf\xc3\xa9.t\xe2\x82\xac, \xf0\x9f\x98\x80";
    char *json = snapshot_progress_request(NULL, good, strlen(good), err, sizeof err);
    ck_assert_msg(json != NULL, "%s", err);
    snapshot_progress_t *p = snapshot_progress_parse(json, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    ck_assert_ptr_nonnull(snapshot_progress_find(p, "caf\xc3\xa9.t\xe2\x82\xac"));
    ck_assert_ptr_nonnull(snapshot_progress_find(p, "public.\xf0\x9f\x98\x80"));
    snapshot_progress_free(p);
    free(json);
    json = snapshot_progress_request(NULL, longname, 292, err, sizeof err);
    ck_assert_msg(json != NULL, "%s", err);
    free(json);
}
END_TEST

START_TEST(test_checkpoint_carries_the_snapshot_member)
{
    checkpoint_t cp = {.present = true, .commit_lsn = 0, .end_lsn = 0x100, .seq = 3};
    strcpy(cp.system_id, "7");
    cp.snapshot = "{\"state\":\"done\",\"epoch\":1,\"consistent_point\":\"0/00000100\",\"tables\":[]}";
    strbuf_t out = STRBUF_INIT;
    checkpoint_to_json(&cp, "s", &out);
    checkpoint_t back;
    ck_assert(checkpoint_from_json(out.data, out.len, &back, err, sizeof err));
    ck_assert_str_eq(back.snapshot, cp.snapshot);
    checkpoint_clear(&back);
    ck_assert_ptr_null(back.snapshot);
    strbuf_free(&out);
    const char *bad = "{\"slot\":\"s\",\"commit_lsn\":\"0/0\",\"end_lsn\":\"0/0\",\"xid\":0,"
                      "\"commit_ts_us\":0,\"seq\":1,\"system_id\":\"7\",\"snapshot\":3}";
    ck_assert(!checkpoint_from_json(bad, strlen(bad), &back, err, sizeof err));
    checkpoint_clear(&back);
}
END_TEST

START_TEST(test_snapshot_mode_is_one_of_three)
{
    config_t cfg;
    config_init(&cfg);
    ck_assert_int_eq(cfg.snapshot_mode, SNAPSHOT_MODE_INITIAL); /* the default */
    ck_assert(config_set(&cfg, "snapshot.mode", "never", "-o", err, sizeof err));
    ck_assert_int_eq(cfg.snapshot_mode, SNAPSHOT_MODE_NEVER);
    ck_assert(config_set(&cfg, "snapshot.mode", "initial_only", "-o", err, sizeof err));
    ck_assert_int_eq(cfg.snapshot_mode, SNAPSHOT_MODE_INITIAL_ONLY);
    ck_assert(!config_set(&cfg, "snapshot.mode", "always", "-o", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "expected initial, never or initial_only"));
    ck_assert(!config_set(&cfg, "snapshot.workers", "0", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "snapshot.chunk.size", "64MB", "-o", err, sizeof err));
    ck_assert_int_eq(cfg.snapshot_chunk_bytes, 64LL << 20);
    config_free(&cfg);
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_copy_row_plain_fields_and_null);
    tcase_add_test(tc, test_copy_row_decodes_back_what_copy_escaped);
    tcase_add_test(tc, test_copy_row_escapes_become_the_bytes_pgoutput_sends);
    tcase_add_test(tc, test_copy_row_empty_strings_are_not_null);
    tcase_add_test(tc, test_copy_row_wrong_shape_is_an_error);
    tcase_add_test(tc, test_copy_row_values_survive_a_growing_scratch);
    tcase_add_test(tc, test_progress_round_trips_through_json);
    tcase_add_test(tc, test_progress_refuses_malformed_records);
    tcase_add_test(tc, test_prune_forgets_tables_the_stream_is_past);
    tcase_add_test(tc, test_filter_leaves_out_changes_the_copy_holds);
    tcase_add_test(tc, test_request_marks_tables_partial_and_running);
    tcase_add_test(tc, test_request_refuses_names_it_could_not_read_back);
    tcase_add_test(tc, test_checkpoint_carries_the_snapshot_member);
    tcase_add_test(tc, test_snapshot_mode_is_one_of_three);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(snapshot_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
