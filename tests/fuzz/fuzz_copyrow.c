/*
 * fuzz_copyrow.c — libFuzzer target for copyrow_decode, which splits the rows
 * PostgreSQL sends for COPY … TO STDOUT during a snapshot (outside data: a
 * server, or anything between it and sluice, chooses those bytes).
 *
 * Input: one byte, the number of columns expected, then the row, in a block
 * of exactly its size. A refused row must come with a reason. An accepted
 * row must give values inside the scratch buffer that, written back in COPY
 * text form by an encoder of the fuzzer's own, decode to the same values.
 *
 *   make fuzz FUZZ_TIME=60      seeds: tests/fuzz/seeds/copyrow/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/pg/copyrow.h"

/* A broken promise: says which, then aborts so libFuzzer keeps the input. */
#define check(cond) ((cond) ? (void) 0 : broken(#cond, __LINE__))
static void broken(const char *what, int line)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
    abort();
}

/* COPY text form of values: \N for NULL; backslash, tab, newline and CR escaped. */
static void encode_row(const pgo_value_t *v, uint16_t ncols, strbuf_t *out)
{
    for (uint16_t f = 0; f < ncols; f++) {
        if (f)
            strbuf_putc(out, '\t');
        if (v[f].kind == PGO_VALUE_NULL) {
            strbuf_append(out, "\\N", 2);
            continue;
        }
        for (uint32_t i = 0; i < v[f].len; i++) {
            char c = v[f].data[i];
            switch (c) {
            case '\\': strbuf_append(out, "\\\\", 2); break;
            case '\t': strbuf_append(out, "\\t", 2); break;
            case '\n': strbuf_append(out, "\\n", 2); break;
            case '\r': strbuf_append(out, "\\r", 2); break;
            default: strbuf_putc(out, c);
            }
        }
    }
    strbuf_putc(out, '\n');
}

/* libFuzzer's entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint16_t ncols = data[0];
    size_t len = size - 1;
    char *row = malloc(len ? len : 1);
    memcpy(row, data + 1, len);
    pgo_value_t *values = malloc(sizeof *values * (ncols ? ncols : 1));

    strbuf_t scratch = STRBUF_INIT;
    char err[256];
    err[0] = '\0';
    if (!copyrow_decode(row, len, values, ncols, &scratch, err, sizeof err)) {
        check(err[0] != '\0' && strnlen(err, sizeof err) < sizeof err);
        goto out;
    }
    check(ncols > 0);
    size_t total = 0;
    for (uint16_t f = 0; f < ncols; f++) {
        if (values[f].kind == PGO_VALUE_NULL) {
            check(values[f].data == NULL && values[f].len == 0);
            continue;
        }
        check(values[f].kind == PGO_VALUE_TEXT);
        check(values[f].data >= scratch.data &&
              values[f].data + values[f].len <= scratch.data + scratch.len);
        total += values[f].len;
    }
    /* Unescaping never makes a row longer. */
    check(total <= len);

    strbuf_t text = STRBUF_INIT, scratch2 = STRBUF_INIT;
    encode_row(values, ncols, &text);
    pgo_value_t *again = malloc(sizeof *again * ncols);
    check(copyrow_decode(text.data, text.len, again, ncols, &scratch2, err, sizeof err));
    for (uint16_t f = 0; f < ncols; f++) {
        check(again[f].kind == values[f].kind && again[f].len == values[f].len);
        check(again[f].len == 0 || memcmp(again[f].data, values[f].data, again[f].len) == 0);
    }
    free(again);
    strbuf_free(&text);
    strbuf_free(&scratch2);
out:
    strbuf_free(&scratch);
    free(values);
    free(row);
    return 0;
}
