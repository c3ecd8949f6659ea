/*
 * buf.c — strbuf growth, allocation wrappers and LSN parsing.
 */
#include "sluice/base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice/base/log.h"

static void out_of_memory(size_t n)
{
    log_fatal("out of memory allocating %zu bytes", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        out_of_memory(count * n);
    return p;
}

void *xrealloc(void *old, size_t n)
{
    void *p = realloc(old, n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void strbuf_reserve(strbuf_t *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void strbuf_append(strbuf_t *b, const void *data, size_t n)
{
    strbuf_reserve(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void strbuf_appendf(strbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    strbuf_reserve(b, (size_t) n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

void strbuf_free(strbuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/*
 * As PostgreSQL's pg_lsn_in: 1 to 8 hex digits, '/', 1 to 8 hex digits and
 * nothing else. (sscanf's %X also took spaces, signs, "0x" and silently
 * truncated a 9-digit half.)
 */
bool lsn_parse(const char *text, sluice_lsn_t *out)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    if (!text)
        return false;
    size_t hi_len = strspn(text, hex);
    if (hi_len < 1 || hi_len > 8 || text[hi_len] != '/')
        return false;
    const char *lo = text + hi_len + 1;
    size_t lo_len = strspn(lo, hex);
    if (lo_len < 1 || lo_len > 8 || lo[lo_len] != '\0')
        return false;
    *out = ((sluice_lsn_t) strtoul(text, NULL, 16) << 32) | (sluice_lsn_t) strtoul(lo, NULL, 16);
    return true;
}
