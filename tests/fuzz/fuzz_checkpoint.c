/*
 * fuzz_checkpoint.c — libFuzzer target for checkpoint_from_json, which reads
 * the record sluice finds in the checkpoint topic at every start (outside
 * data: anything with write access to the topic can put bytes there).
 *
 * The input is handed over in a block of exactly its size, without a NUL, as
 * the sink hands over a Kafka record. A refused record must come with a
 * reason and leave nothing allocated; an accepted one must say what the
 * record says (the integers and the system identifier as jansson reads them,
 * not truncated or wrapped) and survive checkpoint_to_json and a second read
 * unchanged.
 *
 *   make fuzz FUZZ_TIME=60      seeds: tests/fuzz/seeds/checkpoint/
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/checkpoint.h"

/* A broken promise: says which, then aborts so libFuzzer keeps the input. */
#define check(cond) ((cond) ? (void) 0 : broken(#cond, __LINE__))
static void broken(const char *what, int line)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
    abort();
}

/* What jansson itself reads for the fields sluice keeps. */
static void check_against_jansson(const uint8_t *in, size_t size, const checkpoint_t *cp)
{
    json_t *root = json_loadb((const char *) in, size, JSON_REJECT_DUPLICATES, NULL);
    check(json_is_object(root));
    check(cp->xid == json_integer_value(json_object_get(root, "xid")));
    check((json_int_t) cp->seq == json_integer_value(json_object_get(root, "seq")));
    check(cp->commit_ts_us == json_integer_value(json_object_get(root, "commit_ts_us")));
    check(strcmp(cp->system_id, json_string_value(json_object_get(root, "system_id"))) == 0);
    check((cp->snapshot != NULL) == (json_object_get(root, "snapshot") != NULL));
    json_decref(root);
}

/* libFuzzer's entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *in = malloc(size ? size : 1);
    if (size)
        memcpy(in, data, size);

    checkpoint_t cp;
    char err[256];
    err[0] = '\0';
    if (!checkpoint_from_json((const char *) in, size, &cp, err, sizeof err)) {
        check(err[0] != '\0' && strnlen(err, sizeof err) < sizeof err);
        check(!cp.present && cp.snapshot == NULL);
        free(in);
        return 0;
    }
    check(cp.present && cp.end_lsn >= cp.commit_lsn);
    check(strnlen(cp.system_id, sizeof cp.system_id) < sizeof cp.system_id);
    check_against_jansson(in, size, &cp);

    /* Written back and read again: the same checkpoint. */
    strbuf_t out = STRBUF_INIT;
    checkpoint_to_json(&cp, "fuzz", &out);
    checkpoint_t again;
    check(checkpoint_from_json(out.data, out.len, &again, err, sizeof err));
    check(again.commit_lsn == cp.commit_lsn && again.end_lsn == cp.end_lsn);
    check(again.xid == cp.xid && again.seq == cp.seq && again.commit_ts_us == cp.commit_ts_us);
    check(strcmp(again.system_id, cp.system_id) == 0);
    check((again.snapshot == NULL) == (cp.snapshot == NULL));
    check(!cp.snapshot || strcmp(again.snapshot, cp.snapshot) == 0);
    checkpoint_clear(&again);
    strbuf_free(&out);
    checkpoint_clear(&cp);
    free(in);
    return 0;
}
