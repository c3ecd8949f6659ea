/*
 * arena.h — a bump allocator for memory that dies all at once: a tree of one
 * encoded event (protobuf), the rows of one snapshot chunk (chunk_window).
 *
 * Chunks are kept across resets, so a steady state allocates nothing: every
 * allocation is a pointer bump in memory already touched. An arena that one
 * large use grew past its keep limit gives everything back at the next reset
 * rather than holding it for the session. One thread at a time; for memory
 * handed between threads see queue.h's chunks.
 */
#ifndef SLUICE_ARENA_H
#define SLUICE_ARENA_H

#include <stddef.h>

#include "sluice/base/common.h"

typedef struct arena_chunk arena_chunk_t;

/* Zero-initialise ({0}) or ARENA_INIT; keep 0 means ARENA_KEEP_DEFAULT. */
typedef struct {
    arena_chunk_t *head;
    arena_chunk_t *cur; /* NULL: nothing allocated since the reset */
    size_t used;        /* bytes used in cur */
    size_t total;       /* capacity of every chunk */
    size_t keep;        /* a larger total is released at the reset */
} arena_t;

#define ARENA_KEEP_DEFAULT ((size_t) 8 * 1024 * 1024)

/* Returns n bytes aligned for any type, valid until the next arena_reset or arena_free. */
void *arena_alloc(arena_t *a, size_t n);

/* A NUL-terminated copy of s[0..len) in the arena. */
char *arena_strndup(arena_t *a, const char *s, size_t len);

/* Every allocation is void from now on; the chunks stay for reuse (up to keep bytes). */
void arena_reset(arena_t *a);

/* Gives every chunk back; the arena is empty and usable again. */
void arena_free(arena_t *a);

#endif
