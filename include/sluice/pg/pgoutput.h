/*
 * pgoutput.h — decoder for PostgreSQL's pgoutput logical replication
 * messages, protocol version 1 (the payload of one XLogData frame).
 *
 * Zero copy: strings and column values point into the input buffer, which
 * must outlive the decoded message. Per-message arrays (columns, tuple
 * values, truncated relids) live in the decoder and are reused: a decoded
 * message is valid until the next pgo_decode on the same decoder.
 *
 * Strict: every tag and flag byte is checked, every read is bounds-checked,
 * trailing bytes are an error. A malformed message yields false and a message
 * naming what was expected and what came; the decoder never crashes and never
 * reads outside the input.
 */
#ifndef SLUICE_PGOUTPUT_H
#define SLUICE_PGOUTPUT_H

#include "sluice/base/common.h"

typedef enum {
    PGO_BEGIN = 'B',
    PGO_COMMIT = 'C',
    PGO_ORIGIN = 'O',
    PGO_RELATION = 'R',
    PGO_TYPE = 'Y',
    PGO_INSERT = 'I',
    PGO_UPDATE = 'U',
    PGO_DELETE = 'D',
    PGO_TRUNCATE = 'T',
    PGO_MESSAGE = 'M',
} pgo_kind_t;

/* One column value of a TupleData. */
typedef enum {
    PGO_VALUE_NULL = 'n',
    PGO_VALUE_UNCHANGED_TOAST = 'u',
    PGO_VALUE_TEXT = 't',
    PGO_VALUE_BINARY = 'b',
} pgo_value_kind_t;

typedef struct {
    pgo_value_kind_t kind;
    uint32_t len;     /* bytes in data (text and binary only) */
    const char *data; /* NOT NUL-terminated; points into the input */
} pgo_value_t;

typedef struct {
    uint16_t ncols;
    pgo_value_t *values;
} pgo_tuple_t;

typedef struct {
    bool is_key; /* flags bit 1: part of the replica identity */
    const char *name;
    uint32_t type_oid;
    int32_t typmod;
} pgo_column_t;

#define PGO_TRUNCATE_CASCADE 1
#define PGO_TRUNCATE_RESTART_IDENTITY 2
#define PGO_MESSAGE_TRANSACTIONAL 1

typedef struct {
    pgo_kind_t kind;
    union {
        struct {
            sluice_lsn_t final_lsn; /* LSN of the commit record */
            int64_t commit_ts;      /* microseconds since 2000-01-01 */
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            sluice_lsn_t commit_lsn; /* LSN of the commit record */
            sluice_lsn_t end_lsn;    /* end of the commit record: where to restart */
            int64_t commit_ts;
        } commit;
        struct {
            sluice_lsn_t commit_lsn;
            const char *name;
        } origin;
        struct {
            uint32_t oid;
            const char *nspname;
            const char *relname;
            char replident; /* 'd' default, 'n' nothing, 'f' full, 'i' index */
            uint16_t ncols;
            pgo_column_t *columns;
        } relation;
        struct {
            uint32_t oid;
            const char *nspname;
            const char *typname;
        } type;
        struct {
            uint32_t relid;
            /* 0 (no old tuple), 'K' (old key columns) or 'O' (whole old row) */
            char old_kind;
            pgo_tuple_t old_tuple;
            pgo_tuple_t new_tuple; /* empty for DELETE */
        } change;
        struct {
            uint8_t options;
            uint32_t nrelids;
            const uint32_t *relids;
        } truncate;
        struct {
            uint8_t flags;
            sluice_lsn_t lsn;
            const char *prefix;
            uint32_t len;
            const char *content;
        } message;
    };
} pgo_msg_t;

typedef struct pgo_decoder pgo_decoder_t;

/* Returns a new decoder; free it with pgo_decoder_free. */
pgo_decoder_t *pgo_decoder_new(void);
void pgo_decoder_free(pgo_decoder_t *dec);

/*
 * Decodes one message. On failure returns false and writes a message such as
 * "invalid pgoutput UPDATE message: expected 'N' or 'K' or 'O' after relation
 * id, got 'x'" into err.
 */
bool pgo_decode(pgo_decoder_t *dec, const void *data, size_t len, pgo_msg_t *out, char *err,
                size_t errlen);

/* "INSERT", "BEGIN", ...; "unknown" for anything else. */
const char *pgo_kind_name(int kind);

#endif
