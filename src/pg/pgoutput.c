/*
 * pgoutput.c — one reader per pgoutput message (protocol version 1).
 *
 * Owns: the decoder's scratch arrays. Never: allocates per message once the
 * arrays have grown, copies strings or values, or knows what a relation is
 * (the relation cache does). Every read goes through wire_reader_t, so a
 * short message fails cleanly; each reader checks its tag bytes and that the
 * message ends exactly where its last field does.
 */
#include "sluice/pg/pgoutput.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sluice/base/buf.h"

struct pgo_decoder {
    pgo_column_t *columns;
    size_t columns_cap;
    pgo_value_t *old_values;
    size_t old_cap;
    pgo_value_t *new_values;
    size_t new_cap;
    uint32_t *relids;
    size_t relids_cap;
};

typedef struct {
    wire_reader_t r;
    const char *what; /* "UPDATE", ... */
    char *err;
    size_t errlen;
} decode_ctx_t;

pgo_decoder_t *pgo_decoder_new(void)
{
    return xcalloc(1, sizeof(pgo_decoder_t));
}

void pgo_decoder_free(pgo_decoder_t *dec)
{
    if (!dec)
        return;
    free(dec->columns);
    free(dec->old_values);
    free(dec->new_values);
    free(dec->relids);
    free(dec);
}

const char *pgo_kind_name(int kind)
{
    switch (kind) {
    case PGO_BEGIN: return "BEGIN";
    case PGO_COMMIT: return "COMMIT";
    case PGO_ORIGIN: return "ORIGIN";
    case PGO_RELATION: return "RELATION";
    case PGO_TYPE: return "TYPE";
    case PGO_INSERT: return "INSERT";
    case PGO_UPDATE: return "UPDATE";
    case PGO_DELETE: return "DELETE";
    case PGO_TRUNCATE: return "TRUNCATE";
    case PGO_MESSAGE: return "MESSAGE";
    default: return "unknown";
    }
}

static bool fail(decode_ctx_t *c, const char *fmt, ...) SLUICE_PRINTF(2, 3);
static bool fail(decode_ctx_t *c, const char *fmt, ...)
{
    int n = snprintf(c->err, c->errlen, "invalid pgoutput %s message: ", c->what);
    if (n < 0 || (size_t) n >= c->errlen)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t) n, fmt, ap);
    va_end(ap);
    return false;
}

/* Reports an underflow or trailing bytes; true if the message was exactly consumed. */
static bool underflow(decode_ctx_t *c);
static bool finish(decode_ctx_t *c)
{
    if (c->r.failed)
        return underflow(c);
    if (c->r.pos != c->r.len)
        return fail(c, "%zu unexpected trailing bytes", c->r.len - c->r.pos);
    return true;
}

/* Reports the underflow recorded in the reader. */
static bool underflow(decode_ctx_t *c)
{
    return fail(c, "truncated while reading %s (message is %zu bytes)", c->r.failed_at, c->r.len);
}

static bool grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    *arr = xrealloc(*arr, n * elem);
    *cap = n;
    return true;
}

/*
 * TupleData:
 *   Int16 ncols, then per column one of
 *     'n'                       NULL
 *     'u'                       unchanged TOASTed value (not sent)
 *     't' Int32 len Byte[len]   text form
 *     'b' Int32 len Byte[len]   binary form
 */
static bool read_tuple(decode_ctx_t *c, pgo_tuple_t *t, pgo_value_t **store, size_t *cap)
{
    uint16_t ncols = wire_u16(&c->r, "tuple column count");
    if (c->r.failed)
        return underflow(c);
    /* Each column needs at least its kind byte: refuse counts the input cannot hold. */
    if (ncols > wire_remaining(&c->r))
        return fail(c, "truncated: tuple claims %u columns but only %zu bytes remain", ncols,
                    wire_remaining(&c->r));
    grow((void **) store, cap, ncols, sizeof(pgo_value_t));
    t->ncols = ncols;
    t->values = *store;
    for (uint16_t i = 0; i < ncols; i++) {
        pgo_value_t *v = &t->values[i];
        uint8_t kind = wire_u8(&c->r, "column kind");
        if (c->r.failed)
            return underflow(c);
        switch (kind) {
        case 'n':
        case 'u':
            v->kind = (pgo_value_kind_t) kind;
            v->len = 0;
            v->data = NULL;
            break;
        case 't':
        case 'b': {
            v->kind = (pgo_value_kind_t) kind;
            uint32_t len = wire_u32(&c->r, "column value length");
            const uint8_t *p = wire_bytes(&c->r, len, "column value");
            if (!p)
                return underflow(c);
            v->len = len;
            v->data = (const char *) p;
            break;
        }
        default:
            return fail(c, "column %u: expected kind 'n', 'u', 't' or 'b', got 0x%02x", i + 1, kind);
        }
    }
    return true;
}

/*
 * Begin:  'B' | Int64 final_lsn | Int64 commit_ts | Int32 xid
 */
static bool read_begin(decode_ctx_t *c, pgo_msg_t *m)
{
    m->begin.final_lsn = wire_u64(&c->r, "final LSN");
    m->begin.commit_ts = (int64_t) wire_u64(&c->r, "commit timestamp");
    m->begin.xid = wire_u32(&c->r, "xid");
    return finish(c);
}

/*
 * Commit: 'C' | Int8 flags (0) | Int64 commit_lsn | Int64 end_lsn | Int64 commit_ts
 */
static bool read_commit(decode_ctx_t *c, pgo_msg_t *m)
{
    m->commit.flags = wire_u8(&c->r, "flags");
    m->commit.commit_lsn = wire_u64(&c->r, "commit LSN");
    m->commit.end_lsn = wire_u64(&c->r, "end LSN");
    m->commit.commit_ts = (int64_t) wire_u64(&c->r, "commit timestamp");
    if (!finish(c))
        return false;
    if (m->commit.flags != 0)
        return fail(c, "expected flags 0, got %u", m->commit.flags);
    if (m->commit.end_lsn < m->commit.commit_lsn)
        return fail(c, "end LSN " LSN_FMT " is before commit LSN " LSN_FMT,
                    LSN_ARGS(m->commit.end_lsn), LSN_ARGS(m->commit.commit_lsn));
    return true;
}

/*
 * Origin: 'O' | Int64 commit_lsn on the origin server | String name
 */
static bool read_origin(decode_ctx_t *c, pgo_msg_t *m)
{
    m->origin.commit_lsn = wire_u64(&c->r, "origin LSN");
    m->origin.name = wire_cstring(&c->r, "origin name");
    return finish(c);
}

/*
 * Relation: 'R' | Int32 oid | String namespace | String name | Int8 replident
 *           | Int16 ncols | ncols × (Int8 flags | String name | Int32 type | Int32 typmod)
 */
static bool read_relation(pgo_decoder_t *dec, decode_ctx_t *c, pgo_msg_t *m)
{
    m->relation.oid = wire_u32(&c->r, "relation id");
    m->relation.nspname = wire_cstring(&c->r, "namespace");
    m->relation.relname = wire_cstring(&c->r, "relation name");
    m->relation.replident = (char) wire_u8(&c->r, "replica identity");
    uint16_t ncols = wire_u16(&c->r, "column count");
    if (c->r.failed)
        return finish(c);
    switch (m->relation.replident) {
    case 'd':
    case 'n':
    case 'f':
    case 'i':
        break;
    default:
        return fail(c, "expected replica identity 'd', 'n', 'f' or 'i', got 0x%02x",
                    (unsigned char) m->relation.replident);
    }
    /* Each column takes at least 10 bytes. */
    if ((size_t) ncols * 10 > wire_remaining(&c->r))
        return fail(c, "truncated: relation claims %u columns but only %zu bytes remain", ncols,
                    wire_remaining(&c->r));
    grow((void **) &dec->columns, &dec->columns_cap, ncols, sizeof(pgo_column_t));
    m->relation.ncols = ncols;
    m->relation.columns = dec->columns;
    for (uint16_t i = 0; i < ncols; i++) {
        pgo_column_t *col = &dec->columns[i];
        uint8_t flags = wire_u8(&c->r, "column flags");
        col->name = wire_cstring(&c->r, "column name");
        col->type_oid = wire_u32(&c->r, "column type");
        col->typmod = (int32_t) wire_u32(&c->r, "column type modifier");
        if (c->r.failed)
            return finish(c);
        if (flags & ~1u)
            return fail(c, "column %u: unknown flags 0x%02x", i + 1, flags);
        col->is_key = flags & 1;
    }
    return finish(c);
}

/*
 * Type: 'Y' | Int32 oid | String namespace | String name
 */
static bool read_type(decode_ctx_t *c, pgo_msg_t *m)
{
    m->type.oid = wire_u32(&c->r, "type id");
    m->type.nspname = wire_cstring(&c->r, "namespace");
    m->type.typname = wire_cstring(&c->r, "type name");
    return finish(c);
}

/*
 * Insert: 'I' | Int32 relid | 'N' | TupleData
 */
static bool read_insert(pgo_decoder_t *dec, decode_ctx_t *c, pgo_msg_t *m)
{
    m->change.relid = wire_u32(&c->r, "relation id");
    m->change.old_kind = 0;
    m->change.old_tuple.ncols = 0;
    m->change.old_tuple.values = NULL;
    uint8_t tag = wire_u8(&c->r, "tuple tag");
    if (c->r.failed)
        return finish(c);
    if (tag != 'N')
        return fail(c, "expected 'N' after relation id, got 0x%02x", tag);
    if (!read_tuple(c, &m->change.new_tuple, &dec->new_values, &dec->new_cap))
        return false;
    return finish(c);
}

/*
 * Update: 'U' | Int32 relid | [('K' | 'O') TupleData] | 'N' | TupleData
 *   'K': the old replica identity columns (key changed, REPLICA IDENTITY DEFAULT/INDEX)
 *   'O': the whole old row (REPLICA IDENTITY FULL)
 */
static bool read_update(pgo_decoder_t *dec, decode_ctx_t *c, pgo_msg_t *m)
{
    m->change.relid = wire_u32(&c->r, "relation id");
    m->change.old_kind = 0;
    m->change.old_tuple.ncols = 0;
    m->change.old_tuple.values = NULL;
    uint8_t tag = wire_u8(&c->r, "tuple tag");
    if (c->r.failed)
        return finish(c);
    if (tag == 'K' || tag == 'O') {
        m->change.old_kind = (char) tag;
        if (!read_tuple(c, &m->change.old_tuple, &dec->old_values, &dec->old_cap))
            return false;
        tag = wire_u8(&c->r, "new tuple tag");
        if (c->r.failed)
            return finish(c);
        if (tag != 'N')
            return fail(c, "expected 'N' after the old tuple, got 0x%02x", tag);
    } else if (tag != 'N') {
        return fail(c, "expected 'K', 'O' or 'N' after relation id, got 0x%02x", tag);
    }
    if (!read_tuple(c, &m->change.new_tuple, &dec->new_values, &dec->new_cap))
        return false;
    return finish(c);
}

/*
 * Delete: 'D' | Int32 relid | ('K' | 'O') | TupleData
 */
static bool read_delete(pgo_decoder_t *dec, decode_ctx_t *c, pgo_msg_t *m)
{
    m->change.relid = wire_u32(&c->r, "relation id");
    m->change.new_tuple.ncols = 0;
    m->change.new_tuple.values = NULL;
    uint8_t tag = wire_u8(&c->r, "tuple tag");
    if (c->r.failed)
        return finish(c);
    if (tag != 'K' && tag != 'O')
        return fail(c, "expected 'K' or 'O' after relation id, got 0x%02x", tag);
    m->change.old_kind = (char) tag;
    if (!read_tuple(c, &m->change.old_tuple, &dec->old_values, &dec->old_cap))
        return false;
    return finish(c);
}

/*
 * Truncate: 'T' | Int32 nrelids | Int8 options (1 CASCADE, 2 RESTART IDENTITY)
 *           | nrelids × Int32 relid
 */
static bool read_truncate(pgo_decoder_t *dec, decode_ctx_t *c, pgo_msg_t *m)
{
    uint32_t n = wire_u32(&c->r, "relation count");
    m->truncate.options = wire_u8(&c->r, "options");
    if (c->r.failed)
        return finish(c);
    if (m->truncate.options & ~3u)
        return fail(c, "unknown options 0x%02x", m->truncate.options);
    /* Too few bytes is a truncated message; too many is left for finish() to report. */
    if (n > wire_remaining(&c->r) / 4)
        return fail(c, "truncated: claims %u relations but only %zu bytes follow", n,
                    wire_remaining(&c->r));
    grow((void **) &dec->relids, &dec->relids_cap, n, sizeof(uint32_t));
    for (uint32_t i = 0; i < n; i++)
        dec->relids[i] = wire_u32(&c->r, "relation id");
    m->truncate.nrelids = n;
    m->truncate.relids = dec->relids;
    return finish(c);
}

/*
 * Message: 'M' | Int8 flags (1 = transactional) | Int64 lsn | String prefix
 *          | Int32 len | Byte[len] content
 */
static bool read_message(decode_ctx_t *c, pgo_msg_t *m)
{
    m->message.flags = wire_u8(&c->r, "flags");
    m->message.lsn = wire_u64(&c->r, "message LSN");
    m->message.prefix = wire_cstring(&c->r, "prefix");
    m->message.len = wire_u32(&c->r, "content length");
    m->message.content = (const char *) wire_bytes(&c->r, m->message.len, "content");
    if (!finish(c))
        return false;
    if (m->message.flags & ~1u)
        return fail(c, "unknown flags 0x%02x", m->message.flags);
    return true;
}

bool pgo_decode(pgo_decoder_t *dec, const void *data, size_t len, pgo_msg_t *out, char *err,
                size_t errlen)
{
    decode_ctx_t c = {.what = "", .err = err, .errlen = errlen};
    wire_init(&c.r, data, len);
    if (errlen)
        err[0] = '\0';
    if (len == 0) {
        snprintf(err, errlen, "invalid pgoutput message: empty");
        return false;
    }
    uint8_t tag = wire_u8(&c.r, "message type");
    out->kind = (pgo_kind_t) tag;
    c.what = pgo_kind_name(tag);
    switch (tag) {
    case PGO_BEGIN: return read_begin(&c, out);
    case PGO_COMMIT: return read_commit(&c, out);
    case PGO_ORIGIN: return read_origin(&c, out);
    case PGO_RELATION: return read_relation(dec, &c, out);
    case PGO_TYPE: return read_type(&c, out);
    case PGO_INSERT: return read_insert(dec, &c, out);
    case PGO_UPDATE: return read_update(dec, &c, out);
    case PGO_DELETE: return read_delete(dec, &c, out);
    case PGO_TRUNCATE: return read_truncate(dec, &c, out);
    case PGO_MESSAGE: return read_message(&c, out);
    default:
        snprintf(err, errlen,
                 "invalid pgoutput message: unknown message type 0x%02x (is the server using a "
                 "protocol version other than 1?)",
                 tag);
        return false;
    }
}
