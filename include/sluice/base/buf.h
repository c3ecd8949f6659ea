/*
 * buf.h — bounds-checked reading of wire bytes, and a growable byte buffer.
 *
 * wire_reader_t never reads past its end: a short read sets `failed`, returns
 * zero, and every later read fails too, so a decoder checks once at the end of
 * a message (or wherever it must branch on a value) and reports the first
 * underflow with what it was reading.
 *
 * strbuf_t owns its memory; strbuf_reset keeps the allocation for reuse,
 * which is how the hot path encodes without allocating per change.
 */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include "sluice/base/common.h"

#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
    bool failed;
    const char *failed_at; /* name of the field whose read ran past the end */
} wire_reader_t;

static inline void wire_init(wire_reader_t *r, const void *data, size_t len)
{
    r->data = (const uint8_t *) data;
    r->len = len;
    r->pos = 0;
    r->failed = false;
    r->failed_at = NULL;
}

static inline size_t wire_remaining(const wire_reader_t *r)
{
    return r->failed ? 0 : r->len - r->pos;
}

static inline bool wire_need(wire_reader_t *r, size_t n, const char *what)
{
    if (r->failed)
        return false;
    if (r->len - r->pos < n) {
        r->failed = true;
        r->failed_at = what;
        return false;
    }
    return true;
}

static inline uint8_t wire_u8(wire_reader_t *r, const char *what)
{
    if (!wire_need(r, 1, what))
        return 0;
    return r->data[r->pos++];
}

static inline uint16_t wire_u16(wire_reader_t *r, const char *what)
{
    if (!wire_need(r, 2, what))
        return 0;
    const uint8_t *p = r->data + r->pos;
    r->pos += 2;
    return (uint16_t) ((p[0] << 8) | p[1]);
}

static inline uint32_t wire_u32(wire_reader_t *r, const char *what)
{
    if (!wire_need(r, 4, what))
        return 0;
    const uint8_t *p = r->data + r->pos;
    r->pos += 4;
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) | ((uint32_t) p[2] << 8) | p[3];
}

static inline uint64_t wire_u64(wire_reader_t *r, const char *what)
{
    uint64_t hi = wire_u32(r, what);
    uint64_t lo = wire_u32(r, what);
    return (hi << 32) | lo;
}

/* Returns a pointer to n bytes inside the input (no copy), NULL on underflow. */
static inline const uint8_t *wire_bytes(wire_reader_t *r, size_t n, const char *what)
{
    if (!wire_need(r, n, what))
        return NULL;
    const uint8_t *p = r->data + r->pos;
    r->pos += n;
    return p;
}

/*
 * Reads a NUL-terminated string in place; returns it (pointing into the
 * input) or NULL if no terminator comes before the end.
 */
static inline const char *wire_cstring(wire_reader_t *r, const char *what)
{
    if (r->failed)
        return NULL;
    const uint8_t *start = r->data + r->pos;
    const uint8_t *nul = memchr(start, 0, r->len - r->pos);
    if (!nul) {
        r->failed = true;
        r->failed_at = what;
        return NULL;
    }
    r->pos += (size_t) (nul - start) + 1;
    return (const char *) start;
}

static inline void wire_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) (v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
}

static inline void wire_put_u64(uint8_t *p, uint64_t v)
{
    wire_put_u32(p, (uint32_t) (v >> 32));
    wire_put_u32(p + 4, (uint32_t) v);
}

typedef struct {
    char *data;
    size_t len;
    size_t cap;
} strbuf_t;

#define STRBUF_INIT {NULL, 0, 0}

/* Ensures room for n more bytes plus a NUL. Aborts the process on out-of-memory. */
void strbuf_reserve(strbuf_t *b, size_t n);
void strbuf_append(strbuf_t *b, const void *data, size_t n);
void strbuf_appendf(strbuf_t *b, const char *fmt, ...) SLUICE_PRINTF(2, 3);
void strbuf_free(strbuf_t *b);

static inline void strbuf_reset(strbuf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static inline void strbuf_putc(strbuf_t *b, char c)
{
    if (b->len + 2 > b->cap)
        strbuf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

static inline void strbuf_puts(strbuf_t *b, const char *s)
{
    strbuf_append(b, s, strlen(s));
}

/* Decimal integers without printf: the per-change path writes several. */
static inline void strbuf_append_u64(strbuf_t *b, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    strbuf_append(b, p, (size_t) (tmp + sizeof tmp - p));
}

static inline void strbuf_append_i64(strbuf_t *b, int64_t v)
{
    if (v < 0) {
        strbuf_putc(b, '-');
        strbuf_append_u64(b, (uint64_t) 0 - (uint64_t) v);
    } else {
        strbuf_append_u64(b, (uint64_t) v);
    }
}

/* Out-of-memory is not recoverable for a CDC daemon: log and abort. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
