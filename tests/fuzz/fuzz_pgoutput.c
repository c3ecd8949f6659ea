/*
 * fuzz_pgoutput.c — libFuzzer target for the pgoutput decoder.
 *
 * Decodes arbitrary bytes with pgo_decode. On success it walks every decoded
 * field and reads every byte of every string and value, so that ASan reports
 * any pointer or length that reaches outside the input; it also checks the
 * decoder's own promises (zero copy into the input, counts that fit, error
 * text set on failure). The input is copied into a block of exactly its size
 * so a one-byte overread is caught.
 *
 *   make fuzz FUZZ_TIME=60      seeds: tests/fuzz/seeds/pgoutput/ (recorded from PostgreSQL 15)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/pg/pgoutput.h"

static pgo_decoder_t *dec;
static volatile uint8_t sink;

static void check(int cond)
{
    if (!cond)
        abort();
}

/* Reads n bytes at p, which must lie inside [base, base + len). */
static void touch(const uint8_t *base, size_t len, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (n == 0)
        return;
    check(b >= base && b + n <= base + len);
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc ^= b[i];
    sink ^= acc;
}

/* A NUL-terminated string inside the input. */
static void touch_string(const uint8_t *base, size_t len, const char *s)
{
    check(s != NULL);
    size_t n = strnlen(s, (size_t) (base + len - (const uint8_t *) s));
    touch(base, len, s, n + 1);
}

static void touch_tuple(const uint8_t *base, size_t len, const pgo_tuple_t *t)
{
    check(t->ncols == 0 || t->values != NULL);
    for (uint16_t i = 0; i < t->ncols; i++) {
        const pgo_value_t *v = &t->values[i];
        switch (v->kind) {
        case PGO_VALUE_NULL:
        case PGO_VALUE_UNCHANGED_TOAST:
            check(v->len == 0);
            break;
        case PGO_VALUE_TEXT:
        case PGO_VALUE_BINARY:
            check(v->len == 0 || v->data != NULL);
            touch(base, len, v->data, v->len);
            break;
        default:
            abort();
        }
    }
}

/* libFuzzer's entry point. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dec)
        dec = pgo_decoder_new();
    uint8_t *in = malloc(size ? size : 1);
    if (size)
        memcpy(in, data, size);

    pgo_msg_t m;
    char err[256];
    err[0] = 'X';
    if (!pgo_decode(dec, in, size, &m, err, sizeof err)) {
        check(strnlen(err, sizeof err) < sizeof err && err[0] != 'X' && err[0] != '\0');
        free(in);
        return 0;
    }
    check(err[0] == '\0');
    check(size > 0 && m.kind == (pgo_kind_t) in[0]);
    switch (m.kind) {
    case PGO_BEGIN:
        sink ^= (uint8_t) (m.begin.final_lsn ^ (uint64_t) m.begin.commit_ts ^ m.begin.xid);
        break;
    case PGO_COMMIT:
        check(m.commit.flags == 0 && m.commit.end_lsn >= m.commit.commit_lsn);
        break;
    case PGO_ORIGIN:
        touch_string(in, size, m.origin.name);
        break;
    case PGO_RELATION:
        touch_string(in, size, m.relation.nspname);
        touch_string(in, size, m.relation.relname);
        check(strchr("dnfi", m.relation.replident) && m.relation.replident);
        check(m.relation.ncols == 0 || m.relation.columns != NULL);
        for (uint16_t i = 0; i < m.relation.ncols; i++) {
            touch_string(in, size, m.relation.columns[i].name);
            sink ^= (uint8_t) (m.relation.columns[i].type_oid ^ (uint32_t) m.relation.columns[i].typmod ^
                               m.relation.columns[i].is_key);
        }
        break;
    case PGO_TYPE:
        touch_string(in, size, m.type.nspname);
        touch_string(in, size, m.type.typname);
        break;
    case PGO_INSERT:
    case PGO_UPDATE:
    case PGO_DELETE:
        check(m.change.old_kind == 0 || m.change.old_kind == 'K' || m.change.old_kind == 'O');
        check(m.kind != PGO_DELETE || m.change.old_kind != 0);
        check(m.kind != PGO_INSERT || m.change.old_kind == 0);
        touch_tuple(in, size, &m.change.old_tuple);
        touch_tuple(in, size, &m.change.new_tuple);
        break;
    case PGO_TRUNCATE:
        check((m.truncate.options & ~3u) == 0);
        check(m.truncate.nrelids == 0 || m.truncate.relids != NULL);
        /* Each relid came from 4 input bytes. */
        check((size_t) m.truncate.nrelids * 4 <= size);
        for (uint32_t i = 0; i < m.truncate.nrelids; i++)
            sink ^= (uint8_t) m.truncate.relids[i];
        break;
    case PGO_MESSAGE:
        check((m.message.flags & ~1u) == 0);
        touch_string(in, size, m.message.prefix);
        check(m.message.len == 0 || m.message.content != NULL);
        touch(in, size, m.message.content, m.message.len);
        break;
    default:
        abort();
    }
    free(in);
    return 0;
}
