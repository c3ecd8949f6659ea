/*
 * chunk_window.h — the two pure pieces of the incremental snapshot
 * (core/snapshot_incremental.h has the protocol that drives them):
 *
 *   the watermark: the content of the logical decoding message sluice writes
 *   before and after reading a chunk, "<low|high> <run> <chunk>", with the
 *   prefix WATERMARK_PREFIX. The run (16 hex digits) names one pipeline
 *   session, so watermarks of a chunk abandoned by a crash or a reconnect,
 *   which PostgreSQL streams again, are told from the live ones and ignored.
 *
 *   the window: the rows of one chunk, held from its SELECT until its high
 *   watermark streams, found by Kafka key. A streamed change that the
 *   chunk's snapshot does not show, of a row in the window, supersedes that
 *   row: the change event is the newer truth, and the row is not emitted.
 *
 * Owns: the rows it holds, copied into an arena (arena.h) that a window
 * reused for chunk after chunk (chunk_window_clear) keeps, so holding a
 * chunk allocates nothing per row. Never: talks to PostgreSQL or Kafka.
 */
#ifndef SLUICE_CHUNK_WINDOW_H
#define SLUICE_CHUNK_WINDOW_H

#include <stddef.h>

#include "sluice/base/buf.h"
#include "sluice/base/common.h"

/* Prefix of the watermark messages (pg_logical_emit_message(true, prefix, content)). */
#define WATERMARK_PREFIX "sluice.watermark"

typedef struct {
    bool high;      /* false: the low watermark */
    uint64_t run;   /* the session that wrote it */
    uint64_t chunk; /* its ordinal in that session, from 1 */
} watermark_t;

/* The message content of w ("low 00000000deadbeef 7"), NUL-terminated in out (>= 48 bytes). */
void watermark_format(const watermark_t *w, char *out, size_t outlen);

/* Parses a watermark's content (not NUL-terminated); false if it is not exactly one. */
bool watermark_parse(const char *content, size_t len, watermark_t *out);

/*
 * A value of a held row: NULL (data NULL) or text. The key of a row is the
 * text of its Kafka key columns, in key order, encoded by chunk_key_encode.
 */
typedef struct {
    const char *data; /* NULL: SQL NULL */
    size_t len;
} chunk_value_t;

/* Appends the window key of the n values to out (length-prefixed, so no two keys collide). */
void chunk_key_encode(strbuf_t *out, const chunk_value_t *vals, size_t n);

typedef struct chunk_window chunk_window_t;

/* An empty window for rows of ncols columns. Free with chunk_window_free. */
chunk_window_t *chunk_window_new(uint16_t ncols);
void chunk_window_free(chunk_window_t *w);

/* Empties w for the next chunk, of rows of ncols columns; keeps its memory for them. */
void chunk_window_clear(chunk_window_t *w, uint16_t ncols);

/* Adds a row (values and key copied). Returns false if the key is already held (a bug). */
bool chunk_window_add(chunk_window_t *w, const chunk_value_t *vals, const char *key, size_t keylen);

/* Rows added, and rows not superseded. */
size_t chunk_window_rows(const chunk_window_t *w);
size_t chunk_window_live(const chunk_window_t *w);

/* The row held under key that no change has superseded, or -1. */
long chunk_window_find_live(const chunk_window_t *w, const char *key, size_t keylen);

/* The values of row i (chunk_window_rows order: the order of adding). */
const chunk_value_t *chunk_window_row(const chunk_window_t *w, size_t i);
bool chunk_window_is_live(const chunk_window_t *w, size_t i);

/* Row i will not be emitted: a change the chunk's snapshot does not show wrote its key. */
void chunk_window_supersede(chunk_window_t *w, size_t i);

/*
 * The chunk's snapshot, from pg_current_snapshot()'s text "xmin:xmax:xip,…",
 * and whether it shows transaction xid (a 32-bit xid as pgoutput's BEGIN
 * carries it; compared modulo 2^32 as PostgreSQL does, so the snapshot must
 * be recent: it always is, it was taken a moment ago).
 */
typedef struct {
    uint32_t xmin, xmax;
    size_t nxip;
    uint32_t *xip; /* owned */
} chunk_snapshot_t;

bool chunk_snapshot_parse(const char *text, chunk_snapshot_t *out);
void chunk_snapshot_clear(chunk_snapshot_t *s);
bool chunk_snapshot_shows(const chunk_snapshot_t *s, uint32_t xid);

/*
 * The xids of the last XID_RING_SIZE source transactions the pipeline began
 * to emit, kept for the whole session whether or not a copy is owed: a
 * chunk whose snapshot does not show one of them is read again (a change
 * already in Kafka would otherwise be followed by an older copy of its row).
 */
#define XID_RING_SIZE 4096
typedef struct {
    uint32_t xid[XID_RING_SIZE];
    size_t n, pos;
} xid_ring_t;

void xid_ring_add(xid_ring_t *r, uint32_t xid);
/* Whether snapshot s does not show some xid of r. */
bool chunk_snapshot_hides_any(const chunk_snapshot_t *s, const xid_ring_t *r);

#endif
