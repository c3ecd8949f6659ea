/*
 * chunk_window.c — watermark messages, the rows of one incremental snapshot
 * chunk found by key, and the chunk snapshot's visibility test
 * (chunk_window.h).
 */
#include "sluice/base/chunk_window.h"

#include "sluice/base/arena.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void watermark_format(const watermark_t *w, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s %016" PRIx64 " %" PRIu64, w->high ? "high" : "low", w->run, w->chunk);
}

/* Reads decimal or hex digits of s[*i..len) into *v; false on none, overflow or a bad digit. */
static bool read_number(const char *s, size_t len, size_t *i, int base, size_t maxdigits,
                        uint64_t *v)
{
    size_t start = *i;
    uint64_t x = 0;
    while (*i < len && s[*i] != ' ') {
        char c = s[*i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned) (c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned) (c - 'a' + 10);
        else
            return false;
        if (*i - start >= maxdigits)
            return false;
        x = x * (uint64_t) base + d;
        (*i)++;
    }
    *v = x;
    return *i > start;
}

bool watermark_parse(const char *content, size_t len, watermark_t *out)
{
    size_t i;
    if (len >= 4 && !memcmp(content, "low ", 4)) {
        out->high = false;
        i = 4;
    } else if (len >= 5 && !memcmp(content, "high ", 5)) {
        out->high = true;
        i = 5;
    } else {
        return false;
    }
    size_t run_start = i;
    if (!read_number(content, len, &i, 16, 16, &out->run) || i - run_start != 16 || i >= len ||
        content[i] != ' ')
        return false;
    i++;
    /* 2^64 has 20 digits: 19 always fit. */
    if (!read_number(content, len, &i, 10, 19, &out->chunk) || i != len || out->chunk == 0)
        return false;
    return true;
}

void chunk_key_encode(strbuf_t *out, const chunk_value_t *vals, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        /* 'n' for NULL, else 't' and the length: no value's bytes can imitate a boundary. */
        if (!vals[k].data) {
            strbuf_putc(out, 'n');
            continue;
        }
        strbuf_appendf(out, "t%zu:", vals[k].len);
        strbuf_append(out, vals[k].data, vals[k].len);
    }
}

/* A held row: its values, their bytes and its key all live in the window's arena. */
typedef struct {
    chunk_value_t *vals; /* ncols */
    char *key;
    size_t keylen;
    bool live;
} held_row_t;

struct chunk_window {
    uint16_t ncols;
    size_t nrows, cap, live;
    held_row_t *rows;
    size_t nslots; /* power of two, > 2 * nrows */
    size_t *slots; /* row index + 1; 0: empty */
    arena_t arena; /* every row's memory: one bump per row, rewound per chunk */
};

/* A window of chunk.rows rows of a few kB each stays in its arena from chunk to chunk. */
#define WINDOW_ARENA_KEEP ((size_t) 64 * 1024 * 1024)

chunk_window_t *chunk_window_new(uint16_t ncols)
{
    chunk_window_t *w = xcalloc(1, sizeof *w);
    w->ncols = ncols;
    w->nslots = 64;
    w->slots = xcalloc(w->nslots, sizeof *w->slots);
    w->arena.keep = WINDOW_ARENA_KEEP;
    return w;
}

void chunk_window_clear(chunk_window_t *w, uint16_t ncols)
{
    if (w->nrows)
        memset(w->slots, 0, w->nslots * sizeof *w->slots);
    w->ncols = ncols;
    w->nrows = w->live = 0;
    arena_reset(&w->arena);
}

void chunk_window_free(chunk_window_t *w)
{
    if (!w)
        return;
    arena_free(&w->arena);
    free(w->rows);
    free(w->slots);
    free(w);
}

/* FNV-1a. */
static size_t hash_key(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char) key[i];
        h *= 1099511628211ULL;
    }
    return (size_t) h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find_slot(const chunk_window_t *w, const char *key, size_t keylen)
{
    size_t mask = w->nslots - 1, s = hash_key(key, keylen) & mask;
    while (w->slots[s]) {
        const held_row_t *r = &w->rows[w->slots[s] - 1];
        if (r->keylen == keylen && !memcmp(r->key, key, keylen))
            return s;
        s = (s + 1) & mask;
    }
    return s;
}

static void grow_slots(chunk_window_t *w)
{
    free(w->slots);
    w->nslots *= 2;
    w->slots = xcalloc(w->nslots, sizeof *w->slots);
    for (size_t i = 0; i < w->nrows; i++)
        w->slots[find_slot(w, w->rows[i].key, w->rows[i].keylen)] = i + 1;
}

bool chunk_window_add(chunk_window_t *w, const chunk_value_t *vals, const char *key, size_t keylen)
{
    if (2 * (w->nrows + 1) >= w->nslots)
        grow_slots(w);
    size_t s = find_slot(w, key, keylen);
    if (w->slots[s])
        return false;
    if (w->nrows == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->rows = xrealloc(w->rows, w->cap * sizeof *w->rows);
    }
    /* One bump for the row: its value array, then each value's bytes (NUL-terminated), then
     * its key. */
    size_t bytes = keylen;
    for (uint16_t c = 0; c < w->ncols; c++)
        if (vals[c].data)
            bytes += vals[c].len + 1;
    size_t head = (size_t) (w->ncols ? w->ncols : 1) * sizeof(chunk_value_t);
    char *mem = arena_alloc(&w->arena, head + bytes);
    held_row_t *r = &w->rows[w->nrows];
    r->vals = (chunk_value_t *) mem;
    char *d = mem + head;
    for (uint16_t c = 0; c < w->ncols; c++) {
        if (!vals[c].data) {
            r->vals[c] = (chunk_value_t){NULL, 0};
            continue;
        }
        memcpy(d, vals[c].data, vals[c].len);
        d[vals[c].len] = '\0';
        r->vals[c] = (chunk_value_t){d, vals[c].len};
        d += vals[c].len + 1;
    }
    if (keylen)
        memcpy(d, key, keylen);
    r->key = d;
    r->keylen = keylen;
    r->live = true;
    w->slots[s] = ++w->nrows;
    w->live++;
    return true;
}

size_t chunk_window_rows(const chunk_window_t *w)
{
    return w->nrows;
}

size_t chunk_window_live(const chunk_window_t *w)
{
    return w->live;
}

long chunk_window_find_live(const chunk_window_t *w, const char *key, size_t keylen)
{
    size_t s = find_slot(w, key, keylen);
    if (!w->slots[s] || !w->rows[w->slots[s] - 1].live)
        return -1;
    return (long) (w->slots[s] - 1);
}

const chunk_value_t *chunk_window_row(const chunk_window_t *w, size_t i)
{
    return w->rows[i].vals;
}

bool chunk_window_is_live(const chunk_window_t *w, size_t i)
{
    return w->rows[i].live;
}

void chunk_window_supersede(chunk_window_t *w, size_t i)
{
    if (w->rows[i].live) {
        w->rows[i].live = false;
        w->live--;
    }
}

/* A 64-bit transaction id (xid8 text) reduced to the 32-bit xid pgoutput sends. */
static bool parse_xid8(const char **p, uint32_t *out)
{
    char *end;
    if (**p < '0' || **p > '9')
        return false;
    unsigned long long v = strtoull(*p, &end, 10);
    *out = (uint32_t) (v & 0xFFFFFFFFu);
    *p = end;
    return true;
}

bool chunk_snapshot_parse(const char *text, chunk_snapshot_t *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    if (!parse_xid8(&p, &out->xmin) || *p++ != ':' || !parse_xid8(&p, &out->xmax) || *p++ != ':')
        return false;
    size_t cap = 0;
    while (*p) {
        uint32_t x;
        if (!parse_xid8(&p, &x)) {
            chunk_snapshot_clear(out);
            return false;
        }
        if (out->nxip == cap) {
            cap = cap ? cap * 2 : 16;
            out->xip = xrealloc(out->xip, cap * sizeof *out->xip);
        }
        out->xip[out->nxip++] = x;
        if (*p == ',')
            p++;
        else if (*p) {
            chunk_snapshot_clear(out);
            return false;
        }
    }
    return true;
}

void chunk_snapshot_clear(chunk_snapshot_t *s)
{
    free(s->xip);
    memset(s, 0, sizeof *s);
}

void xid_ring_add(xid_ring_t *r, uint32_t xid)
{
    r->xid[r->pos] = xid;
    r->pos = (r->pos + 1) % XID_RING_SIZE;
    if (r->n < XID_RING_SIZE)
        r->n++;
}

bool chunk_snapshot_hides_any(const chunk_snapshot_t *s, const xid_ring_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        if (!chunk_snapshot_shows(s, r->xid[i]))
            return true;
    return false;
}

bool chunk_snapshot_shows(const chunk_snapshot_t *s, uint32_t xid)
{
    /* As TransactionIdPrecedes: xid before xmax modulo 2^32. Every transaction that
     * began before xmax and is not listed in progress had ended when the snapshot was
     * taken (the stream only brings committed ones). */
    if ((int32_t) (xid - s->xmax) >= 0)
        return false;
    for (size_t i = 0; i < s->nxip; i++)
        if (s->xip[i] == xid)
            return false;
    return true;
}
