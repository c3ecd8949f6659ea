/*
 * wire_builder.h — builds pgoutput byte vectors for the unit tests: a growable
 * buffer with big-endian appends, TupleData value helpers, and a hex reader
 * for vectors recorded with tests/tools/capture.
 *
 * v_seal moves the bytes into a heap block of exactly their length, so under
 * ASan a decoder reading one byte past the end crashes instead of reading
 * slack capacity. Include after <check.h>: failures are Check assertions.
 */
#ifndef SLUICE_TEST_WIRE_BUILDER_H
#define SLUICE_TEST_WIRE_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} vec_t;

static inline void v_bytes(vec_t *v, const void *p, size_t n)
{
    if (v->len + n > v->cap) {
        size_t cap = v->cap ? v->cap : 64;
        while (cap < v->len + n)
            cap *= 2;
        v->data = realloc(v->data, cap);
        ck_assert_ptr_nonnull(v->data);
        v->cap = cap;
    }
    if (n)
        memcpy(v->data + v->len, p, n);
    v->len += n;
}

static inline void v_u8(vec_t *v, unsigned x)
{
    uint8_t b = (uint8_t) x;
    v_bytes(v, &b, 1);
}

static inline void v_u16(vec_t *v, unsigned x)
{
    v_u8(v, x >> 8);
    v_u8(v, x);
}

static inline void v_u32(vec_t *v, uint32_t x)
{
    v_u16(v, x >> 16);
    v_u16(v, x & 0xffff);
}

static inline void v_u64(vec_t *v, uint64_t x)
{
    v_u32(v, (uint32_t) (x >> 32));
    v_u32(v, (uint32_t) x);
}

static inline void v_str(vec_t *v, const char *s)
{
    v_bytes(v, s, strlen(s) + 1);
}

/* TupleData column values. */
static inline void v_text(vec_t *v, const char *s)
{
    v_u8(v, 't');
    v_u32(v, (uint32_t) strlen(s));
    v_bytes(v, s, strlen(s));
}

static inline void v_binary(vec_t *v, const void *p, uint32_t n)
{
    v_u8(v, 'b');
    v_u32(v, n);
    v_bytes(v, p, n);
}

/* Shrinks the block to exactly len bytes, so ASan sees any overread. */
static inline vec_t v_seal(vec_t v)
{
    uint8_t *exact = malloc(v.len ? v.len : 1);
    ck_assert_ptr_nonnull(exact);
    if (v.len)
        memcpy(exact, v.data, v.len);
    free(v.data);
    v.data = exact;
    v.cap = v.len;
    return v;
}

static inline void v_free(vec_t *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

static inline vec_t from_hex(const char *hex)
{
    size_t n = strlen(hex);
    ck_assert_msg(n % 2 == 0, "odd hex length %zu", n);
    vec_t v = {0};
    for (size_t i = 0; i < n; i += 2) {
        unsigned byte;
        ck_assert_int_eq(sscanf(hex + i, "%2x", &byte), 1);
        v_u8(&v, byte);
    }
    return v_seal(v);
}

#endif
