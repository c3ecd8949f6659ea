/*
 * arena.c — the bump allocator (arena.h): a list of chunks walked from the
 * first again after each reset.
 */
#include "sluice/base/arena.h"
#include "sluice/base/buf.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK ((size_t) 64 * 1024)
#define ARENA_ALIGN (alignof(max_align_t))

struct arena_chunk {
    struct arena_chunk *next;
    size_t cap;
    max_align_t data[];
};

void arena_free(arena_t *a)
{
    for (arena_chunk_t *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    size_t keep = a->keep;
    *a = (arena_t){0};
    a->keep = keep;
}

void arena_reset(arena_t *a)
{
    if (a->total > (a->keep ? a->keep : ARENA_KEEP_DEFAULT))
        arena_free(a);
    a->cur = NULL;
    a->used = 0;
}

void *arena_alloc(arena_t *a, size_t n)
{
    n = (n + ARENA_ALIGN - 1) & ~(size_t) (ARENA_ALIGN - 1);
    if (!a->cur || a->cur->cap - a->used < n) {
        arena_chunk_t *next = a->cur ? a->cur->next : a->head;
        if (!next || next->cap < n) {
            size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
            arena_chunk_t *c = xmalloc(sizeof *c + cap);
            c->cap = cap;
            c->next = next;
            if (a->cur)
                a->cur->next = c;
            else
                a->head = c;
            a->total += cap;
            next = c;
        }
        a->cur = next;
        a->used = 0;
    }
    void *p = (unsigned char *) a->cur->data + a->used;
    a->used += n;
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
