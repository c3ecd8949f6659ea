/*
 * pgtypes.h — built-in PostgreSQL type OIDs and the output form of each.
 *
 * The README's type mapping table is this file in prose. OIDs of built-in
 * types are fixed by PostgreSQL (pg_type.dat) and never change across
 * versions, so they are safe to hard-code.
 */
#ifndef SLUICE_PGTYPES_H
#define SLUICE_PGTYPES_H

#include "sluice/common.h"

enum {
    PGTYPE_BOOL = 16,
    PGTYPE_BYTEA = 17,
    PGTYPE_CHAR = 18,
    PGTYPE_NAME = 19,
    PGTYPE_INT8 = 20,
    PGTYPE_INT2 = 21,
    PGTYPE_INT4 = 23,
    PGTYPE_TEXT = 25,
    PGTYPE_OID = 26,
    PGTYPE_JSON = 114,
    PGTYPE_XML = 142,
    PGTYPE_FLOAT4 = 700,
    PGTYPE_FLOAT8 = 701,
    PGTYPE_MONEY = 790,
    PGTYPE_BPCHAR = 1042,
    PGTYPE_VARCHAR = 1043,
    PGTYPE_DATE = 1082,
    PGTYPE_TIME = 1083,
    PGTYPE_TIMESTAMP = 1114,
    PGTYPE_TIMESTAMPTZ = 1184,
    PGTYPE_INTERVAL = 1186,
    PGTYPE_TIMETZ = 1266,
    PGTYPE_NUMERIC = 1700,
    PGTYPE_UUID = 2950,
    PGTYPE_JSONB = 3802,
};

typedef enum {
    PGTYPE_FORM_TEXT = 0, /* a JSON string holding PostgreSQL's text form */
    PGTYPE_FORM_BOOL,     /* true / false */
    PGTYPE_FORM_INTEGER,  /* a JSON number, exact (int8 included) */
    PGTYPE_FORM_FLOAT,    /* a JSON number; NaN and ±Infinity as strings */
    PGTYPE_FORM_BASE64,   /* bytes as a base64 string */
} pgtype_form_t;

static inline pgtype_form_t pgtype_json_form(uint32_t oid)
{
    switch (oid) {
    case PGTYPE_BOOL: return PGTYPE_FORM_BOOL;
    case PGTYPE_INT2:
    case PGTYPE_INT4:
    case PGTYPE_INT8:
    case PGTYPE_OID: return PGTYPE_FORM_INTEGER;
    case PGTYPE_FLOAT4:
    case PGTYPE_FLOAT8: return PGTYPE_FORM_FLOAT;
    case PGTYPE_BYTEA: return PGTYPE_FORM_BASE64;
    default: return PGTYPE_FORM_TEXT;
    }
}

#endif
