/*
 * fuzz_snapshot_progress.c — libFuzzer target for the checkpoint's
 * "snapshot" member (snapshot_progress_parse) and for the request a
 * "sluice.snapshot" logical decoding message carries
 * (snapshot_progress_request). Both come from outside: the first from the
 * checkpoint topic, the second from whoever may call pg_logical_emit_message.
 *
 * Input: the progress JSON, then optionally a NUL byte and the request's
 * table list. A parsed progress must say what the JSON says (every integer
 * as jansson reads it, not wrapped into 32 bits or made unsigned), and
 * printing it must be a fixed point of parse. A request that succeeds must
 * give progress that parses, is running, and has every named table partial.
 *
 *   make fuzz FUZZ_TIME=60      seeds: tests/fuzz/seeds/snapshot_progress/
 */
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/snapshot_progress.h"

/* A broken promise: says which, then aborts so libFuzzer keeps the input. */
#define check(cond) ((cond) ? (void) 0 : broken(#cond, __LINE__))
static void broken(const char *what, int line)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
    abort();
}

static void check_against_jansson(const char *text, const snapshot_progress_t *p)
{
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    check(json_is_object(root));
    check(p->epoch == json_integer_value(json_object_get(root, "epoch")));
    json_t *tables = json_object_get(root, "tables");
    check(p->ntables == json_array_size(tables));
    for (size_t i = 0; i < p->ntables; i++) {
        json_t *t = json_array_get(tables, i);
        check(strcmp(p->tables[i].name, json_string_value(json_object_get(t, "table"))) == 0);
        check(p->tables[i].oid == json_integer_value(json_object_get(t, "oid")));
        if (p->tables[i].state == SNAPSHOT_TABLE_DONE)
            check((json_int_t) p->tables[i].rows == json_integer_value(json_object_get(t, "rows")) &&
                  json_integer_value(json_object_get(t, "rows")) >= 0);
        if (p->tables[i].state == SNAPSHOT_TABLE_INCREMENTAL) {
            /* An incremental table: its chunks, rows and last key as the JSON has them. */
            check((json_int_t) p->tables[i].rows == json_integer_value(json_object_get(t, "rows")));
            check((json_int_t) p->tables[i].chunks ==
                  json_integer_value(json_object_get(t, "chunks")));
            check(p->tables[i].nkey == json_array_size(json_object_get(t, "last_key")));
        }
    }
    json_decref(root);
}

/* Prints p, parses the text and prints again: both texts must be equal. */
static char *check_fixed_point(const snapshot_progress_t *p)
{
    char err[256];
    char *json = snapshot_progress_to_json(p);
    snapshot_progress_t *q = snapshot_progress_parse(json, err, sizeof err);
    check(q != NULL);
    char *again = snapshot_progress_to_json(q);
    check(strcmp(json, again) == 0);
    free(again);
    snapshot_progress_free(q);
    return json;
}

static void fuzz_request(const char *current, const char *tables, size_t len)
{
    char err[256];
    err[0] = '\0';
    char *json = snapshot_progress_request(current, tables, len, err, sizeof err);
    if (!json) {
        check(err[0] != '\0');
        return;
    }
    snapshot_progress_t *p = snapshot_progress_parse(json, err, sizeof err);
    check(p != NULL && p->running && p->ntables > 0);
    /* The first name of the list is there and partial. */
    size_t i = 0;
    while (i < len && (tables[i] == ',' || isspace((unsigned char) tables[i])))
        i++;
    size_t start = i;
    while (i < len && tables[i] != ',' && !isspace((unsigned char) tables[i]))
        i++;
    check(i > start);
    /* The first name of the list is there and partial ("public." added to a bare name). */
    size_t n = i - start;
    if (n < 200) {
        char name[256];
        snprintf(name, sizeof name, "%s%.*s", memchr(tables + start, '.', n) ? "" : "public.",
                 (int) n, tables + start);
        snapshot_table_t *t = snapshot_progress_find(p, name);
        check(t != NULL && t->state == SNAPSHOT_TABLE_PARTIAL);
    }
    free(check_fixed_point(p));
    snapshot_progress_free(p);
    free(json);
}

/* libFuzzer's entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* text: the JSON up to the first NUL, NUL-terminated in a block of its size. */
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t) (nul - data) : size;
    char *text = malloc(tlen + 1);
    memcpy(text, data, tlen);
    text[tlen] = '\0';

    char err[256];
    err[0] = '\0';
    snapshot_progress_t *p = snapshot_progress_parse(text, err, sizeof err);
    if (!p) {
        check(err[0] != '\0' && strnlen(err, sizeof err) < sizeof err);
    } else {
        check_against_jansson(text, p);
        for (size_t i = 0; i < p->ntables; i++)
            check(snapshot_progress_find(p, p->tables[i].name) != NULL);
        free(check_fixed_point(p));
        /* Pruning keeps every table that is not done at or before the LSN. */
        size_t before = p->ntables, kept = 0;
        sluice_lsn_t at = p->consistent_point;
        for (size_t i = 0; i < p->ntables; i++)
            kept += p->running || p->tables[i].state != SNAPSHOT_TABLE_DONE || p->tables[i].lsn > at;
        snapshot_progress_prune(p, at);
        check(p->ntables == kept && p->ntables <= before);
        snapshot_progress_free(p);
    }

    /* The request: its table list after the NUL (against the progress), or the whole input. */
    if (nul) {
        size_t rlen = size - tlen - 1;
        char *tables = malloc(rlen ? rlen : 1);
        memcpy(tables, nul + 1, rlen);
        fuzz_request(text, tables, rlen);
        free(tables);
    } else {
        char *tables = malloc(size ? size : 1);
        memcpy(tables, data, size);
        fuzz_request(NULL, tables, size);
        free(tables);
    }
    free(text);
    return 0;
}
