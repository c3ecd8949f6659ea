/*
 * test_relcache.c — the relation cache: entries built from decoded RELATION
 * messages, replaced whole when a RELATION message comes again, found among
 * thousands of OIDs, and the TYPE names kept beside them.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sluice/pg/pgoutput.h"
#include "sluice/pg/relcache.h"
#include "wire_builder.h"

static pgo_decoder_t *dec;
static relcache_t *cache;

static void setup(void)
{
    dec = pgo_decoder_new();
    cache = relcache_new("shop");
}

static void teardown(void)
{
    relcache_free(cache);
    pgo_decoder_free(dec);
}

typedef struct {
    const char *name;
    uint32_t type;
    bool key;
} col_t;

/*
 * Decodes a RELATION message for oid and puts it in the cache. The input is
 * overwritten and freed before returning, so the entry can only be right if
 * the cache copied what it keeps.
 */
static relcache_entry_t *put(uint32_t oid, const char *nsp, const char *rel, char ident,
                             const col_t *cols, uint16_t ncols)
{
    vec_t v = {0};
    v_u8(&v, 'R');
    v_u32(&v, oid);
    v_str(&v, nsp);
    v_str(&v, rel);
    v_u8(&v, (unsigned char) ident);
    v_u16(&v, ncols);
    for (uint16_t i = 0; i < ncols; i++) {
        v_u8(&v, cols[i].key ? 1 : 0);
        v_str(&v, cols[i].name);
        v_u32(&v, cols[i].type);
        v_u32(&v, 0xffffffff);
    }
    v = v_seal(v);
    pgo_msg_t m;
    char err[256];
    ck_assert_msg(pgo_decode(dec, v.data, v.len, &m, err, sizeof err), "%s", err);
    relcache_entry_t *e = relcache_put(cache, &m);
    memset(v.data, 'Z', v.len);
    v_free(&v);
    return e;
}

static void put_type(uint32_t oid, const char *nsp, const char *name)
{
    vec_t v = {0};
    v_u8(&v, 'Y');
    v_u32(&v, oid);
    v_str(&v, nsp);
    v_str(&v, name);
    v = v_seal(v);
    pgo_msg_t m;
    char err[256];
    ck_assert_msg(pgo_decode(dec, v.data, v.len, &m, err, sizeof err), "%s", err);
    relcache_put_type(cache, &m);
    memset(v.data, 'Z', v.len);
    v_free(&v);
}

static const col_t accounts_v1[] = {{"id", 23, true}, {"name", 25, false}};
static const col_t accounts_v2[] = {
    {"id", 23, false}, {"name", 25, false}, {"email", 25, true}, {"created", 1184, false}};

START_TEST(test_entry_copies_relation_and_names_topic)
{
    const relcache_entry_t *e = put(16384, "public", "accounts", 'd', accounts_v1, 2);
    ck_assert_ptr_eq(relcache_get(cache, 16384), e);
    ck_assert_uint_eq(e->oid, 16384);
    ck_assert_str_eq(e->nspname, "public");
    ck_assert_str_eq(e->relname, "accounts");
    ck_assert_int_eq(e->replident, 'd');
    ck_assert_str_eq(e->topic, "shop.public.accounts");
    ck_assert_uint_eq(e->ncols, 2);
    ck_assert_str_eq(e->columns[0].name, "id");
    ck_assert_uint_eq(e->columns[0].type_oid, 23);
    ck_assert_int_eq(e->columns[0].typmod, -1);
    ck_assert(e->columns[0].is_key);
    ck_assert_str_eq(e->columns[1].name, "name");
    ck_assert(!e->columns[1].is_key);
    ck_assert_uint_eq(e->nkeys, 1);
    ck_assert_uint_eq(e->key_index[0], 0);
    ck_assert_uint_eq(e->version, 0);
}
END_TEST

START_TEST(test_unknown_oid_is_null)
{
    ck_assert_ptr_null(relcache_get(cache, 16384));
    put(16384, "public", "accounts", 'd', accounts_v1, 2);
    ck_assert_ptr_null(relcache_get(cache, 16385));
    ck_assert_ptr_null(relcache_get(cache, 0));
}
END_TEST

START_TEST(test_relation_again_replaces_entry_and_bumps_version)
{
    put(16384, "public", "accounts", 'd', accounts_v1, 2);
    /* ALTER TABLE added two columns and moved the replica identity to email. */
    const relcache_entry_t *e = put(16384, "public", "accounts", 'i', accounts_v2, 4);
    ck_assert_ptr_eq(relcache_get(cache, 16384), e);
    ck_assert_uint_eq(e->version, 1);
    ck_assert_int_eq(e->replident, 'i');
    ck_assert_uint_eq(e->ncols, 4);
    ck_assert_str_eq(e->columns[2].name, "email");
    ck_assert_str_eq(e->columns[3].name, "created");
    ck_assert_uint_eq(e->columns[3].type_oid, 1184);
    ck_assert(!e->columns[0].is_key);
    ck_assert_uint_eq(e->nkeys, 1);
    ck_assert_uint_eq(e->key_index[0], 2);

    /* A rename changes the topic; a third RELATION bumps the version again. */
    e = put(16384, "sales", "customers", 'f', accounts_v1, 2);
    ck_assert_uint_eq(e->version, 2);
    ck_assert_str_eq(e->topic, "shop.sales.customers");
    ck_assert_uint_eq(e->ncols, 2);
}
END_TEST

START_TEST(test_key_index_lists_every_key_column_in_order)
{
    static const col_t cols[] = {{"a", 23, false}, {"b", 23, true}, {"c", 23, false},
                                 {"d", 23, true},  {"e", 23, true}};
    const relcache_entry_t *e = put(500, "s", "t", 'i', cols, 5);
    ck_assert_uint_eq(e->nkeys, 3);
    ck_assert_uint_eq(e->key_index[0], 1);
    ck_assert_uint_eq(e->key_index[1], 3);
    ck_assert_uint_eq(e->key_index[2], 4);
}
END_TEST

START_TEST(test_relation_without_columns_or_keys)
{
    const relcache_entry_t *e = put(501, "s", "empty", 'n', NULL, 0);
    ck_assert_uint_eq(e->ncols, 0);
    ck_assert_uint_eq(e->nkeys, 0);
    ck_assert_str_eq(e->topic, "shop.s.empty");
}
END_TEST

START_TEST(test_thousands_of_oids_are_all_found)
{
    /* Sequential OIDs, and OIDs that are multiples of a large power of two. */
    enum { N = 5000 };
    for (uint32_t i = 0; i < N; i++) {
        uint32_t oid = i < N / 2 ? 16384 + i : (i - N / 2 + 1) * 65536u;
        char name[32];
        snprintf(name, sizeof name, "t%u", oid);
        col_t col = {"id", 20 + i % 3, true};
        put(oid, "public", name, 'd', &col, 1);
    }
    for (uint32_t i = 0; i < N; i++) {
        uint32_t oid = i < N / 2 ? 16384 + i : (i - N / 2 + 1) * 65536u;
        const relcache_entry_t *e = relcache_get(cache, oid);
        ck_assert_msg(e != NULL, "oid %u lost", oid);
        char name[32];
        snprintf(name, sizeof name, "t%u", oid);
        ck_assert_str_eq(e->relname, name);
        ck_assert_uint_eq(e->oid, oid);
        ck_assert_uint_eq(e->columns[0].type_oid, 20 + i % 3);
        ck_assert_uint_eq(e->version, 0);
    }
    ck_assert_ptr_null(relcache_get(cache, 16384 + N));
    /* Replacing one among many still finds the same slot. */
    const relcache_entry_t *e = put(16384 + 77, "public", "renamed", 'd', accounts_v1, 2);
    ck_assert_uint_eq(e->version, 1);
    ck_assert_ptr_eq(relcache_get(cache, 16384 + 77), e);
}
END_TEST

START_TEST(test_type_names_are_namespace_qualified)
{
    ck_assert_ptr_null(relcache_type_name(cache, 16387));
    put_type(16387, "public", "mood");
    ck_assert_str_eq(relcache_type_name(cache, 16387), "public.mood");
    ck_assert_ptr_null(relcache_type_name(cache, 16388));
    /* A TYPE message for the same OID again (type renamed) replaces the name. */
    put_type(16387, "public", "feeling");
    ck_assert_str_eq(relcache_type_name(cache, 16387), "public.feeling");
}
END_TEST

START_TEST(test_many_type_names_are_all_found)
{
    for (uint32_t i = 0; i < 1000; i++) {
        char name[32];
        snprintf(name, sizeof name, "ty%u", i);
        put_type(20000 + i * 3, "ext", name);
    }
    for (uint32_t i = 0; i < 1000; i++) {
        char want[40];
        snprintf(want, sizeof want, "ext.ty%u", i);
        const char *got = relcache_type_name(cache, 20000 + i * 3);
        ck_assert_msg(got && strcmp(got, want) == 0, "type %u: got %s", 20000 + i * 3,
                      got ? got : "NULL");
    }
    ck_assert_ptr_null(relcache_type_name(cache, 20001));
}
END_TEST

START_TEST(test_clear_forgets_relations_and_types)
{
    put(16384, "public", "accounts", 'd', accounts_v1, 2);
    put(16390, "public", "orders", 'd', accounts_v1, 2);
    put_type(16387, "public", "mood");
    relcache_clear(cache);
    ck_assert_ptr_null(relcache_get(cache, 16384));
    ck_assert_ptr_null(relcache_get(cache, 16390));
    ck_assert_ptr_null(relcache_type_name(cache, 16387));
    /* A new session describes relations again, from version 0. */
    const relcache_entry_t *e = put(16384, "public", "accounts", 'd', accounts_v2, 4);
    ck_assert_uint_eq(e->version, 0);
    ck_assert_uint_eq(e->ncols, 4);
    put_type(16387, "public", "mood");
    ck_assert_str_eq(relcache_type_name(cache, 16387), "public.mood");
}
END_TEST

/* REPLICA IDENTITY FULL flags every column: the primary key, named by the catalog, is the key. */
static const col_t orders_full[] = {
    {"note", 25, true}, {"region", 25, true}, {"id", 20, true}, {"total", 1700, true}};

START_TEST(test_kafka_key_names_pick_columns_in_key_order)
{
    relcache_entry_t *e = put(16390, "public", "orders", 'f', orders_full, 4);
    ck_assert_uint_eq(e->nkafka_keys, 0); /* FULL: none until the primary key is set */
    char region[] = "region", id[] = "id";
    char *pk[] = {id, region}; /* PRIMARY KEY (id, region): key order, not column order */
    ck_assert(relcache_set_kafka_key_names(e, pk, 2));
    ck_assert_uint_eq(e->nkafka_keys, 2);
    ck_assert_uint_eq(e->kafka_key_index[0], 2);
    ck_assert_uint_eq(e->kafka_key_index[1], 1);
}
END_TEST

START_TEST(test_kafka_key_names_with_a_column_left_out_give_null_key)
{
    relcache_entry_t *e = put(16390, "public", "orders", 'f', orders_full, 4);
    char id[] = "id", tenant[] = "tenant";
    char *pk[] = {id};
    ck_assert(relcache_set_kafka_key_names(e, pk, 1));
    ck_assert_uint_eq(e->nkafka_keys, 1);
    /* A column list that leaves "tenant" out: part of a key would merge distinct rows. */
    char *wider[] = {tenant, id};
    ck_assert(!relcache_set_kafka_key_names(e, wider, 2));
    ck_assert_uint_eq(e->nkafka_keys, 0);
    /* No primary key at all: null keys too. */
    ck_assert(relcache_set_kafka_key_names(e, pk, 1));
    ck_assert(!relcache_set_kafka_key_names(e, NULL, 0));
    ck_assert_uint_eq(e->nkafka_keys, 0);
}
END_TEST

/* relcache_free(NULL) does nothing, as free(NULL) does: cleanup paths call it
 * unchecked. Run in a child, so that a crash is this test's failure. */
START_TEST(test_free_of_null_is_harmless)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        relcache_free(NULL);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "relcache_free(NULL) ended the process (wait status %d)", status);
}
END_TEST

static Suite *relcache_suite(void)
{
    Suite *s = suite_create("relcache");
    TCase *tc = tcase_create("relcache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_entry_copies_relation_and_names_topic);
    tcase_add_test(tc, test_unknown_oid_is_null);
    tcase_add_test(tc, test_relation_again_replaces_entry_and_bumps_version);
    tcase_add_test(tc, test_key_index_lists_every_key_column_in_order);
    tcase_add_test(tc, test_relation_without_columns_or_keys);
    tcase_add_test(tc, test_thousands_of_oids_are_all_found);
    tcase_add_test(tc, test_type_names_are_namespace_qualified);
    tcase_add_test(tc, test_many_type_names_are_all_found);
    tcase_add_test(tc, test_clear_forgets_relations_and_types);
    tcase_add_test(tc, test_kafka_key_names_pick_columns_in_key_order);
    tcase_add_test(tc, test_kafka_key_names_with_a_column_left_out_give_null_key);
    tcase_add_test(tc, test_free_of_null_is_harmless);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(relcache_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
