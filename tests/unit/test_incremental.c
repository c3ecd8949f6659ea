/*
 * test_incremental.c — the pure parts of the incremental snapshot
 * (snapshot_incremental.h): the watermark messages, the chunk window (rows
 * found by key, superseded by streamed changes), the chunk snapshot's
 * visibility test, and the progress record and checkpoint that carry a
 * table's chunks and last key across a crash.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/checkpoint.h"
#include "sluice/base/chunk_window.h"
#include "sluice/base/config.h"
#include "sluice/base/snapshot_progress.h"

static char err[256];

static bool parse(const char *s, watermark_t *w)
{
    return watermark_parse(s, strlen(s), w);
}

START_TEST(test_watermark_round_trips)
{
    watermark_t w = {.high = true, .run = UINT64_C(0xdeadbeef00c0ffee), .chunk = 42}, back;
    char text[64];
    watermark_format(&w, text, sizeof text);
    ck_assert_str_eq(text, "high deadbeef00c0ffee 42");
    ck_assert(parse(text, &back));
    ck_assert(back.high);
    ck_assert(back.run == w.run);
    ck_assert_uint_eq(back.chunk, 42);
    w = (watermark_t){.high = false, .run = 1, .chunk = 1};
    watermark_format(&w, text, sizeof text);
    ck_assert_str_eq(text, "low 0000000000000001 1");
    ck_assert(parse(text, &back));
    ck_assert(!back.high);
    ck_assert(back.run == 1);
}
END_TEST

START_TEST(test_watermark_refuses_anything_else)
{
    watermark_t w;
    const char *bad[] = {"",
                         "low",
                         "low ",
                         "mid 0000000000000001 1",
                         "low 000000000000001 1",   /* 15 hex digits */
                         "low 00000000000000001 1", /* 17 */
                         "low 000000000000000G 1",
                         "low 000000000000000A 1", /* upper case is not what sluice writes */
                         "low 0000000000000001",
                         "low 0000000000000001 ",
                         "low 0000000000000001 0", /* chunks count from 1 */
                         "low 0000000000000001 1 ",
                         "low 0000000000000001 1x",
                         "low 0000000000000001  1",
                         "low 0000000000000001 99999999999999999999",
                         "HIGH 0000000000000001 1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!parse(bad[i], &w), "accepted \"%s\"", bad[i]);
    /* Not NUL-terminated: the length decides. */
    ck_assert(watermark_parse("low 0000000000000001 12", 22, &w));
    ck_assert_uint_eq(w.chunk, 1);
}
END_TEST

static void key_of(strbuf_t *b, const char *a, const char *c)
{
    chunk_value_t v[2] = {{a, a ? strlen(a) : 0}, {c, c ? strlen(c) : 0}};
    strbuf_reset(b);
    chunk_key_encode(b, v, 2);
}

START_TEST(test_keys_never_collide_across_column_boundaries)
{
    strbuf_t x = STRBUF_INIT, y = STRBUF_INIT;
    key_of(&x, "ab", "c");
    key_of(&y, "a", "bc");
    ck_assert(x.len != y.len || memcmp(x.data, y.data, x.len) != 0);
    key_of(&x, NULL, "");
    key_of(&y, "", NULL);
    ck_assert(x.len != y.len || memcmp(x.data, y.data, x.len) != 0);
    key_of(&x, "t1:a", "");
    key_of(&y, "t1:a", "");
    ck_assert(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
    strbuf_free(&x);
    strbuf_free(&y);
}
END_TEST

/* A window of n rows (id, body): key "id". */
static chunk_window_t *window_of(int n, strbuf_t *k)
{
    chunk_window_t *w = chunk_window_new(2);
    for (int i = 1; i <= n; i++) {
        char id[16], body[32];
        snprintf(id, sizeof id, "%d", i);
        snprintf(body, sizeof body, "body %d", i);
        chunk_value_t v[2] = {{id, strlen(id)}, {body, strlen(body)}};
        strbuf_reset(k);
        chunk_key_encode(k, v, 1);
        ck_assert(chunk_window_add(w, v, k->data, k->len));
    }
    return w;
}

static long find(chunk_window_t *w, strbuf_t *k, const char *id)
{
    chunk_value_t v = {id, strlen(id)};
    strbuf_reset(k);
    chunk_key_encode(k, &v, 1);
    return chunk_window_find_live(w, k->data, k->len);
}

START_TEST(test_window_finds_rows_by_key_and_supersedes_them)
{
    strbuf_t k = STRBUF_INIT;
    chunk_window_t *w = window_of(1000, &k); /* grows its table several times */
    ck_assert_uint_eq(chunk_window_rows(w), 1000);
    ck_assert_uint_eq(chunk_window_live(w), 1000);
    long i = find(w, &k, "517");
    ck_assert_int_eq(i, 516);
    const chunk_value_t *row = chunk_window_row(w, (size_t) i);
    ck_assert_str_eq(row[1].data, "body 517"); /* the copy a TOAST placeholder is filled from */
    ck_assert_int_eq(find(w, &k, "1001"), -1);
    chunk_window_supersede(w, (size_t) i);
    chunk_window_supersede(w, (size_t) i);    /* twice counts once */
    ck_assert_int_eq(find(w, &k, "517"), -1); /* a later change finds it gone */
    ck_assert(!chunk_window_is_live(w, 516));
    ck_assert(chunk_window_is_live(w, 515));
    ck_assert_uint_eq(chunk_window_live(w), 999);
    ck_assert_uint_eq(chunk_window_rows(w), 1000); /* still held: its values stay valid */
    ck_assert_str_eq(chunk_window_row(w, 516)[1].data, "body 517");
    /* A key added twice is a bug the caller hears of. */
    chunk_value_t v[2] = {{"5", 1}, {"x", 1}};
    strbuf_reset(&k);
    chunk_key_encode(&k, v, 1);
    ck_assert(!chunk_window_add(w, v, k.data, k.len));
    chunk_window_free(w);
    strbuf_free(&k);
}
END_TEST

START_TEST(test_window_keeps_nulls_apart_from_empty_text)
{
    chunk_window_t *w = chunk_window_new(2);
    chunk_value_t v[2] = {{"1", 1}, {NULL, 0}};
    ck_assert(chunk_window_add(w, v, "k", 1));
    chunk_value_t u[2] = {{"2", 1}, {"", 0}};
    ck_assert(chunk_window_add(w, u, "l", 1));
    ck_assert_ptr_null(chunk_window_row(w, 0)[1].data);
    ck_assert_ptr_nonnull(chunk_window_row(w, 1)[1].data);
    ck_assert_uint_eq(chunk_window_row(w, 1)[1].len, 0);
    chunk_window_free(w);
}
END_TEST

/* The next chunk reuses the window: its rows land in the memory of the last one's, nothing of
 * the old chunk is found, and the new rows read back whole. */
START_TEST(test_window_cleared_for_the_next_chunk_reuses_its_memory)
{
    strbuf_t k = STRBUF_INIT;
    chunk_window_t *w = window_of(1000, &k);
    const chunk_value_t *first = chunk_window_row(w, 0);
    chunk_window_supersede(w, 3);
    chunk_window_clear(w, 3);
    ck_assert_uint_eq(chunk_window_rows(w), 0);
    ck_assert_uint_eq(chunk_window_live(w), 0);
    ck_assert_int_eq(find(w, &k, "1"), -1);
    for (int i = 1; i <= 1000; i++) {
        char id[16], body[32];
        snprintf(id, sizeof id, "%d", i);
        snprintf(body, sizeof body, "second %d", i);
        chunk_value_t v[3] = {{id, strlen(id)}, {NULL, 0}, {body, strlen(body)}};
        strbuf_reset(&k);
        chunk_key_encode(&k, v, 1);
        ck_assert(chunk_window_add(w, v, k.data, k.len));
    }
    ck_assert_ptr_eq(chunk_window_row(w, 0), first); /* the arena rewound, not grown */
    ck_assert_uint_eq(chunk_window_live(w), 1000);
    long i = find(w, &k, "4"); /* superseded in the old chunk, live in this one */
    ck_assert_int_eq(i, 3);
    ck_assert_ptr_null(chunk_window_row(w, 3)[1].data);
    ck_assert_str_eq(chunk_window_row(w, 3)[2].data, "second 4");
    ck_assert_str_eq(chunk_window_row(w, 999)[2].data, "second 1000");
    chunk_window_free(w);
    strbuf_free(&k);
}
END_TEST

START_TEST(test_snapshot_shows_what_had_ended)
{
    chunk_snapshot_t s;
    ck_assert(chunk_snapshot_parse("740:745:741,743", &s));
    ck_assert_uint_eq(s.xmin, 740);
    ck_assert_uint_eq(s.xmax, 745);
    ck_assert_uint_eq(s.nxip, 2);
    ck_assert(chunk_snapshot_shows(&s, 700));
    ck_assert(chunk_snapshot_shows(&s, 740));
    ck_assert(!chunk_snapshot_shows(&s, 741)); /* in progress when it was taken */
    ck_assert(chunk_snapshot_shows(&s, 742));
    ck_assert(!chunk_snapshot_shows(&s, 743));
    ck_assert(chunk_snapshot_shows(&s, 744));
    ck_assert(!chunk_snapshot_shows(&s, 745)); /* began after it */
    ck_assert(!chunk_snapshot_shows(&s, 9000));
    chunk_snapshot_clear(&s);
    /* No transaction in progress; 64-bit xids of a later epoch, compared modulo 2^32. */
    ck_assert(chunk_snapshot_parse("4294967300:4294967302:", &s));
    ck_assert_uint_eq(s.nxip, 0);
    ck_assert(chunk_snapshot_shows(&s, 5));
    ck_assert(!chunk_snapshot_shows(&s, 6));
    ck_assert(chunk_snapshot_shows(&s, 4294967290u)); /* just before the wrap */
    chunk_snapshot_clear(&s);
    ck_assert(!chunk_snapshot_parse("", &s));
    ck_assert(!chunk_snapshot_parse("1:2", &s));
    ck_assert(!chunk_snapshot_parse("1:2:3;4", &s));
    ck_assert(!chunk_snapshot_parse("x:2:", &s));
}
END_TEST

/*
 * The ring of emitted xids the pipeline keeps all session: a chunk whose
 * snapshot hides any of them is read again. It keeps the last
 * XID_RING_SIZE, oldest dropped first.
 */
START_TEST(test_emitted_ring_finds_a_hidden_xid)
{
    static xid_ring_t r; /* 16 kB: not on the stack of a Check test */
    memset(&r, 0, sizeof r);
    chunk_snapshot_t s;
    ck_assert(chunk_snapshot_parse("740:745:741,743", &s));
    ck_assert(!chunk_snapshot_hides_any(&s, &r)); /* nothing emitted yet */
    xid_ring_add(&r, 700);
    xid_ring_add(&r, 742);
    ck_assert(!chunk_snapshot_hides_any(&s, &r));
    xid_ring_add(&r, 743); /* emitted, but in progress for the snapshot */
    ck_assert(chunk_snapshot_hides_any(&s, &r));
    /* XID_RING_SIZE later transactions push 743 out of the ring. */
    for (uint32_t x = 0; x < XID_RING_SIZE; x++)
        xid_ring_add(&r, 100 + x % 600);
    ck_assert_uint_eq(r.n, XID_RING_SIZE);
    ck_assert(!chunk_snapshot_hides_any(&s, &r));
    xid_ring_add(&r, 745); /* began after the snapshot */
    ck_assert(chunk_snapshot_hides_any(&s, &r));
    chunk_snapshot_clear(&s);
}
END_TEST

START_TEST(test_progress_carries_chunks_and_last_key)
{
    snapshot_progress_t *p = snapshot_progress_new();
    p->epoch = 1;
    snapshot_table_t *a = snapshot_progress_add(p, "public.a", 16384, SNAPSHOT_TABLE_INCREMENTAL);
    a->rows = 8000;
    a->chunks = 2;
    const char *key[] = {"b\"7", "42"};
    snapshot_table_set_last_key(a, key, 2);
    snapshot_progress_add(p, "public.b", 16390, SNAPSHOT_TABLE_INCREMENTAL);
    snapshot_table_t *c = snapshot_progress_add(p, "public.c", 16400, SNAPSHOT_TABLE_DONE);
    c->rows = 5;
    ck_assert(snapshot_progress_incremental_pending(p));
    ck_assert(!snapshot_progress_export_pending(p));
    char *json = snapshot_progress_to_json(p);
    ck_assert_str_eq(json,
                     "{\"state\":\"running\",\"epoch\":1,\"consistent_point\":\"0/00000000\","
                     "\"tables\":[{\"table\":\"public.a\",\"oid\":16384,\"state\":\"incremental\","
                     "\"rows\":8000,\"chunks\":2,\"last_key\":[\"b\\\"7\",\"42\"]},"
                     "{\"table\":\"public.b\",\"oid\":16390,\"state\":\"incremental\",\"rows\":0,"
                     "\"chunks\":0},{\"table\":\"public.c\",\"oid\":16400,\"state\":\"done\","
                     "\"lsn\":\"0/00000000\",\"rows\":5}]}");
    snapshot_progress_t *q = snapshot_progress_parse(json, err, sizeof err);
    ck_assert_ptr_nonnull(q);
    snapshot_table_t *qa = snapshot_progress_find(q, "public.a");
    ck_assert_int_eq(qa->state, SNAPSHOT_TABLE_INCREMENTAL);
    ck_assert_uint_eq(qa->rows, 8000);
    ck_assert_uint_eq(qa->chunks, 2);
    ck_assert_uint_eq(qa->nkey, 2);
    ck_assert_str_eq(qa->last_key[0], "b\"7");
    ck_assert_str_eq(qa->last_key[1], "42");
    ck_assert_uint_eq(snapshot_progress_find(q, "public.b")->nkey, 0);
    char *again = snapshot_progress_to_json(q);
    ck_assert_str_eq(again, json);
    /* A request by message turns a table back to a whole (export) copy, its key forgotten. */
    char *req = snapshot_progress_request(json, "public.a", 8, err, sizeof err);
    ck_assert_ptr_nonnull(req);
    snapshot_progress_t *r = snapshot_progress_parse(req, err, sizeof err);
    ck_assert_int_eq(snapshot_progress_find(r, "public.a")->state, SNAPSHOT_TABLE_PARTIAL);
    ck_assert_uint_eq(snapshot_progress_find(r, "public.a")->nkey, 0);
    ck_assert(snapshot_progress_export_pending(r));
    free(req);
    free(json);
    free(again);
    snapshot_progress_free(p);
    snapshot_progress_free(q);
    snapshot_progress_free(r);
}
END_TEST

START_TEST(test_progress_refuses_malformed_incremental_tables)
{
    const char *bad[] = {
        /* rows and chunks are required */
        "{\"state\":\"running\",\"epoch\":1,\"consistent_point\":\"0/0\",\"tables\":["
        "{\"table\":\"public.a\",\"oid\":1,\"state\":\"incremental\"}]}",
        "{\"state\":\"running\",\"epoch\":1,\"consistent_point\":\"0/0\",\"tables\":["
        "{\"table\":\"public.a\",\"oid\":1,\"state\":\"incremental\",\"rows\":-1,\"chunks\":0}]}",
        /* a key is a non-empty array of strings */
        "{\"state\":\"running\",\"epoch\":1,\"consistent_point\":\"0/0\",\"tables\":["
        "{\"table\":\"public.a\",\"oid\":1,\"state\":\"incremental\",\"rows\":1,\"chunks\":1,"
        "\"last_key\":[]}]}",
        "{\"state\":\"running\",\"epoch\":1,\"consistent_point\":\"0/0\",\"tables\":["
        "{\"table\":\"public.a\",\"oid\":1,\"state\":\"incremental\",\"rows\":1,\"chunks\":1,"
        "\"last_key\":[1]}]}",
        "{\"state\":\"running\",\"epoch\":1,\"consistent_point\":\"0/0\",\"tables\":["
        "{\"table\":\"public.a\",\"oid\":1,\"state\":\"incremental\",\"rows\":1,\"chunks\":1,"
        "\"last_key\":\"1\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snapshot_progress_t *p = snapshot_progress_parse(bad[i], err, sizeof err);
        ck_assert_msg(p == NULL, "accepted %s", bad[i]);
    }
}
END_TEST

/* A checkpoint written before incremental snapshots existed still reads, and one that
 * records chunks round-trips through the checkpoint record whole. */
START_TEST(test_checkpoint_round_trips_incremental_progress)
{
    const char *old = "{\"slot\":\"s\",\"commit_lsn\":\"0/10\",\"end_lsn\":\"0/20\",\"xid\":7,"
                      "\"commit_ts_us\":1,\"seq\":3,\"system_id\":\"1\",\"snapshot\":{\"state\":"
                      "\"done\",\"epoch\":1,\"consistent_point\":\"0/20\",\"tables\":[{\"table\":"
                      "\"public.a\",\"oid\":5,\"state\":\"done\",\"lsn\":\"0/20\",\"rows\":3}]},"
                      "\"sluice\":\"0.2.0\"}";
    checkpoint_t cp;
    ck_assert(checkpoint_from_json(old, strlen(old), &cp, err, sizeof err));
    snapshot_progress_t *p = snapshot_progress_parse(cp.snapshot, err, sizeof err);
    ck_assert_ptr_nonnull(p);
    ck_assert(!snapshot_progress_incremental_pending(p));
    ck_assert_uint_eq(p->tables[0].nkey, 0);
    snapshot_progress_free(p);
    checkpoint_clear(&cp);

    p = snapshot_progress_new();
    snapshot_table_t *t = snapshot_progress_add(p, "public.a", 5, SNAPSHOT_TABLE_INCREMENTAL);
    const char *key[] = {"1000"};
    snapshot_table_set_last_key(t, key, 1);
    t->chunks = 1;
    t->rows = 1000;
    checkpoint_t w = {.present = true, .commit_lsn = 0x30, .end_lsn = 0x40, .xid = 9, .seq = 4};
    snprintf(w.system_id, sizeof w.system_id, "1");
    w.snapshot = snapshot_progress_to_json(p);
    strbuf_t b = STRBUF_INIT;
    checkpoint_to_json(&w, "s", &b);
    ck_assert(checkpoint_from_json(b.data, b.len, &cp, err, sizeof err));
    ck_assert_str_eq(cp.snapshot, w.snapshot);
    snapshot_progress_t *q = snapshot_progress_parse(cp.snapshot, err, sizeof err);
    ck_assert_str_eq(snapshot_progress_find(q, "public.a")->last_key[0], "1000");
    ck_assert_uint_eq(snapshot_progress_find(q, "public.a")->chunks, 1);
    snapshot_progress_free(q);
    snapshot_progress_free(p);
    checkpoint_clear(&cp);
    checkpoint_clear(&w);
    strbuf_free(&b);
}
END_TEST

START_TEST(test_snapshot_method_and_chunk_rows)
{
    config_t cfg;
    config_init(&cfg);
    ck_assert_int_eq(cfg.snapshot_method, SNAPSHOT_METHOD_EXPORT); /* the default */
    ck_assert_int_eq(cfg.snapshot_chunk_rows, 4096);
    ck_assert(config_set(&cfg, "snapshot.method", "incremental", "-o", err, sizeof err));
    ck_assert_int_eq(cfg.snapshot_method, SNAPSHOT_METHOD_INCREMENTAL);
    ck_assert(!config_set(&cfg, "snapshot.method", "dblog", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "snapshot.chunk.rows", "100", "-o", err, sizeof err));
    ck_assert_int_eq(cfg.snapshot_chunk_rows, 100);
    ck_assert(!config_set(&cfg, "snapshot.chunk.rows", "0", "-o", err, sizeof err));
    /* Copying while streaming has no point at which initial_only could stop. */
    ck_assert(config_set(&cfg, "postgres.conninfo", "dbname=x", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "kafka.bootstrap.servers", "a:1", "-o", err, sizeof err));
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
    config_free(&cfg);
    config_init(&cfg);
    ck_assert(config_set(&cfg, "postgres.conninfo", "dbname=x", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "kafka.bootstrap.servers", "a:1", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "snapshot.method", "incremental", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "snapshot.mode", "initial_only", "-o", err, sizeof err));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "initial_only"));
    config_free(&cfg);
}
END_TEST

static Suite *incremental_suite(void)
{
    Suite *s = suite_create("incremental");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_watermark_round_trips);
    tcase_add_test(tc, test_watermark_refuses_anything_else);
    tcase_add_test(tc, test_keys_never_collide_across_column_boundaries);
    tcase_add_test(tc, test_window_finds_rows_by_key_and_supersedes_them);
    tcase_add_test(tc, test_window_keeps_nulls_apart_from_empty_text);
    tcase_add_test(tc, test_window_cleared_for_the_next_chunk_reuses_its_memory);
    tcase_add_test(tc, test_snapshot_shows_what_had_ended);
    tcase_add_test(tc, test_emitted_ring_finds_a_hidden_xid);
    tcase_add_test(tc, test_progress_carries_chunks_and_last_key);
    tcase_add_test(tc, test_progress_refuses_malformed_incremental_tables);
    tcase_add_test(tc, test_checkpoint_round_trips_incremental_progress);
    tcase_add_test(tc, test_snapshot_method_and_chunk_rows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(incremental_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
