/*
 * encode_micro.c — the encoders' per-change cost, without PostgreSQL or
 * Kafka: one relation, one row, encoder_key + encoder_value N times into a
 * reused buffer. Prints CPU nanoseconds per event for each case, and the heap
 * growth of the timed loop (steady state allocates nothing: it must be 0).
 *
 * Built against a libsluice.a, so two builds can be compared in one run:
 * tests/bench/encode_micro.sh OLD.a NEW.a (alternates them, medians, ratios).
 *
 *   encode_micro [N [CASE]]   N events per case (default 1,000,000); only CASE if given
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/encode/encode.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"

typedef struct {
    uint32_t oid;
    const char *text; /* NULL: a NULL value */
} col_t;

/* A wide row of the types most tables hold. */
static const col_t wide[] = {
    {PGTYPE_INT4, "123456"},
    {PGTYPE_INT8, "-9223372036854775808"},
    {PGTYPE_INT2, "42"},
    {PGTYPE_TEXT, "a short text"},
    {PGTYPE_TEXT, "a longer text value, the kind a description or a comment column holds, "
                  "with \"quotes\" and a\ttab"},
    {PGTYPE_VARCHAR, "customer@example.com"},
    {PGTYPE_BOOL, "t"},
    {PGTYPE_BOOL, "f"},
    {PGTYPE_NUMERIC, "12345.6789"},
    {PGTYPE_FLOAT8, "3.141592653589793"},
    {PGTYPE_FLOAT4, "2.5"},
    {PGTYPE_TIMESTAMPTZ, "2024-05-01 12:34:56.789012+00"},
    {PGTYPE_TIMESTAMP, "2024-05-01 12:34:56.789012"},
    {PGTYPE_DATE, "2024-05-01"},
    {PGTYPE_TIME, "12:34:56"},
    {PGTYPE_UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
    {PGTYPE_JSONB, "{\"a\": 1, \"b\": [true, null]}"},
    {PGTYPE_BYTEA, "\\xdeadbeef00ff"},
    {PGTYPE_MONEY, "$1,234.56"},
    {PGTYPE_INT4, NULL},
    {PGTYPE_TEXT, NULL},
    {PGTYPE_INT8, "1700000000"},
    {PGTYPE_TEXT, "x"},
    {PGTYPE_TIMESTAMPTZ, "2024-05-01 00:00:00+00"},
};

/* Arrays: int4[], text[] with quoting and NULLs, a 2-D int8[], timestamptz[]. */
static const col_t arrays[] = {
    {PGTYPE_INT4, "7"},
    {1007, "{1,2,3,4,5,6,7,8,9,10}"},
    {1009, "{alpha,\"b c\",NULL,\"d\\\"e\",\"\"}"},
    {1016, "{{1,2},{3,4},{5,NULL}}"},
    {1185, "{\"2024-01-02 03:04:05+00\",\"2024-01-02 03:04:06.5+00\"}"},
};

static relcache_entry_t *make_rel(const col_t *cols, uint16_t n)
{
    relcache_entry_t *rel = calloc(1, sizeof *rel);
    rel->oid = 16384;
    rel->nspname = "public";
    rel->relname = "bench";
    rel->replident = 'd';
    rel->ncols = n;
    rel->columns = calloc(n, sizeof *rel->columns);
    static char names[64][8];
    for (uint16_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "c%u", (unsigned) i);
        rel->columns[i].name = names[i];
        rel->columns[i].type_oid = cols[i].oid;
        rel->columns[i].type = pgtype_builtin(cols[i].oid); /* resolved, as the pipeline does */
        rel->columns[i].typmod = -1;
        rel->columns[i].is_key = i == 0;
    }
    static uint16_t key0 = 0;
    rel->nkeys = 1;
    rel->key_index = &key0;
    rel->nkafka_keys = 1;
    rel->kafka_key_index = &key0;
    return rel;
}

static pgo_tuple_t make_tuple(const col_t *cols, uint16_t n)
{
    pgo_tuple_t t = {.ncols = n, .values = calloc(n, sizeof(pgo_value_t))};
    for (uint16_t i = 0; i < n; i++) {
        if (cols[i].text)
            t.values[i] = (pgo_value_t) {PGO_VALUE_TEXT, (uint32_t) strlen(cols[i].text), cols[i].text};
        else
            t.values[i] = (pgo_value_t) {PGO_VALUE_NULL, 0, NULL};
    }
    return t;
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static const char *only; /* run just this case */

static void run(const char *name, output_format_t format, const col_t *cols, uint16_t n, long iters)
{
    if (only && strcmp(only, name) != 0)
        return;
    encoder_options_t opts = {.server_name = "pg1", .db_name = "shop"};
    encoder_t *enc = encoder_new(format, &opts);
    relcache_entry_t *rel = make_rel(cols, n);
    pgo_tuple_t after = make_tuple(cols, n);
    source_txn_t txn = {.xid = 738, .commit_lsn = 0x1932708, .commit_ts_us = 1700000000123456};
    change_event_t ev = {.op = OP_UPDATE, .rel = rel, .after = &after, .before = &after,
                         .lsn = 0x1932610, .txn = &txn, .now_us = 1700000000200000};
    strbuf_t key = STRBUF_INIT, out = STRBUF_INIT;
    size_t bytes = 0;
    for (int i = 0; i < 1000; i++) { /* warm up: buffers reach their size */
        strbuf_reset(&key);
        strbuf_reset(&out);
        encoder_key(enc, rel, &after, &key);
        encoder_value(enc, &ev, &out);
    }
    struct mallinfo2 m0 = mallinfo2();
    double t0 = cpu_ns();
    for (long i = 0; i < iters; i++) {
        strbuf_reset(&key);
        strbuf_reset(&out);
        encoder_key(enc, rel, &after, &key);
        encoder_value(enc, &ev, &out);
        bytes += out.len;
    }
    double t1 = cpu_ns();
    struct mallinfo2 m1 = mallinfo2();
    printf("%-14s %8.1f ns/event  %zu bytes/event  heap growth %zd\n", name, (t1 - t0) / (double) iters,
           bytes / (size_t) iters, (ssize_t) (m1.uordblks - m0.uordblks) + (ssize_t) (m1.hblkhd - m0.hblkhd));
    strbuf_free(&key);
    strbuf_free(&out);
    free(after.values);
    free(rel->columns);
    free(rel);
    encoder_free(enc);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    only = argc > 2 ? argv[2] : NULL;
    uint16_t nw = sizeof wide / sizeof wide[0], na = sizeof arrays / sizeof arrays[0];
    run("json-wide", FORMAT_JSON, wide, nw, n);
    run("json-arrays", FORMAT_JSON, arrays, na, n);
    run("protobuf-wide", FORMAT_PROTOBUF, wide, nw, n);
    run("protobuf-arrays", FORMAT_PROTOBUF, arrays, na, n);
    return 0;
}
