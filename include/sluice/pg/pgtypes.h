/*
 * pgtypes.h — PostgreSQL types as the encoders see them: one descriptor per
 * type OID saying which JSON form its values take (docs/output.md, "Type mapping";
 * this file is that table in code) and which Kafka Connect schema describes
 * them.
 *
 * Built-in types (OIDs fixed by pg_type.dat, never changing across versions)
 * have static descriptors. Everything else — enums, domains, composites,
 * ranges, arrays of those, extension types — is described by a catalog
 * lookup (catalog.h) and kept in a pgtype_registry_t for the session. A type
 * nobody can describe is written as its text form: never dropped.
 *
 * Descriptors are immutable once published. A registry never frees one
 * before pgtype_registry_free, so a pointer held by a relation cache entry
 * stays valid for the whole session even after pgtype_registry_forget.
 */
#ifndef SLUICE_PGTYPES_H
#define SLUICE_PGTYPES_H

#include "sluice/base/common.h"

enum {
    PGTYPE_BOOL = 16,
    PGTYPE_BYTEA = 17,
    PGTYPE_CHAR = 18,
    PGTYPE_NAME = 19,
    PGTYPE_INT8 = 20,
    PGTYPE_INT2 = 21,
    PGTYPE_INT2VECTOR = 22,
    PGTYPE_INT4 = 23,
    PGTYPE_TEXT = 25,
    PGTYPE_OID = 26,
    PGTYPE_OIDVECTOR = 30,
    PGTYPE_JSON = 114,
    PGTYPE_XML = 142,
    PGTYPE_POINT = 600,
    PGTYPE_BOX = 603,
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
    PGTYPE_FORM_TEXT = 0,     /* a JSON string holding PostgreSQL's text form */
    PGTYPE_FORM_BOOL,         /* true / false */
    PGTYPE_FORM_INTEGER,      /* a JSON number, exact (int8 included) */
    PGTYPE_FORM_FLOAT,        /* a JSON number; NaN and ±Infinity as strings */
    PGTYPE_FORM_NUMERIC,      /* exact: a string (default) or a JSON number; NaN, ±Infinity strings */
    PGTYPE_FORM_MONEY,        /* as numeric, from money's C-locale text ("-$1,234.56" → "-1234.56") */
    PGTYPE_FORM_BASE64,       /* bytea: bytes as a base64 string */
    PGTYPE_FORM_DATE,         /* days since 1970-01-01 (int); ±infinity: INT32_MAX / INT32_MIN */
    PGTYPE_FORM_TIME,         /* microseconds since midnight (int) */
    PGTYPE_FORM_TIMESTAMP,    /* microseconds since 1970-01-01 00:00 (int); ±infinity: INT64_MAX / INT64_MIN */
    PGTYPE_FORM_TIMESTAMPTZ,  /* ISO-8601 string in UTC, "2024-05-01T12:00:00.5Z"; "infinity", "-infinity" */
    PGTYPE_FORM_TIMETZ,       /* ISO-8601 string keeping the offset, "12:00:00.5+02:00" */
    PGTYPE_FORM_INTERVAL,     /* ISO-8601 duration string, or microseconds (interval.handling.mode) */
    PGTYPE_FORM_ARRAY,        /* a JSON array (nested when multi-dimensional) of the element form */
    PGTYPE_FORM_COMPOSITE,    /* a JSON object of the fields in their forms */
} pgtype_form_t;

/* Kafka Connect schema type of the form (json.schemas = true). */
typedef enum {
    CONNECT_STRING = 0,
    CONNECT_BOOLEAN,
    CONNECT_INT16,
    CONNECT_INT32,
    CONNECT_INT64,
    CONNECT_FLOAT32,
    CONNECT_FLOAT64,
    CONNECT_BYTES,
    CONNECT_ARRAY,
    CONNECT_STRUCT,
} connect_type_t;

typedef struct pgtype pgtype_t;
struct pgtype {
    uint32_t oid;
    pgtype_form_t form;
    connect_type_t connect;
    const char *logical;   /* Debezium/Connect logical name for the schema, NULL if none */
    const char *name;      /* "schema.name" or the SQL name; for messages and schemas */
    char delim;            /* arrays: the element delimiter (',' but ';' for box) */
    const pgtype_t *elem;  /* arrays: the element type */
    uint16_t nfields;      /* composites: fields, in attribute order without dropped ones */
    char **field_names;
    const pgtype_t **field_types;
    int32_t *field_typmods; /* composites: each field's atttypmod (-1: none); NULL: all none */
    int32_t typmod;        /* domains: the base type's typmod (pg_type.typtypmod) when > 0 */
    char *enum_labels;     /* enums: the labels in sort order, comma-separated (NULL: unknown) */
};

/*
 * The typmod that describes a value of `type` in a column declared with
 * `typmod` (pg_attribute.atttypmod, -1 for none): the column's own, else a
 * domain's (numeric(10,2) under a domain has atttypmod -1), else -1.
 */
static inline int32_t pgtype_effective_typmod(const pgtype_t *type, int32_t typmod)
{
    return typmod >= 0 ? typmod : type->typmod > 0 ? type->typmod : -1;
}

/* numeric(p,s)'s typmod → precision and scale (scale may be negative or above p since
 * PostgreSQL 15); false for -1 and anything that is not a numeric typmod. */
static inline bool pgtype_numeric_typmod(int32_t typmod, int *precision, int *scale)
{
    if (typmod < 4)
        return false;
    *precision = ((typmod - 4) >> 16) & 0xffff;
    *scale = (((typmod - 4) & 0x7ff) ^ 1024) - 1024;
    return *precision > 0;
}

/* The descriptor of a built-in type (and of arrays of built-in types), NULL for any other OID. */
const pgtype_t *pgtype_builtin(uint32_t oid);

/* The descriptor used for a type nobody could describe: its text form. */
const pgtype_t *pgtype_unknown(void);

/* Kafka Connect's name for a connect_type_t ("int32", "struct", ...). */
const char *pgtype_connect_name(connect_type_t t);

typedef struct pgtype_registry pgtype_registry_t;

pgtype_registry_t *pgtype_registry_new(void);
void pgtype_registry_free(pgtype_registry_t *reg);

/* A built-in descriptor, else one registered for oid, else NULL. */
const pgtype_t *pgtype_registry_get(const pgtype_registry_t *reg, uint32_t oid);

/*
 * Registers a descriptor built with pgtype_new_*; the registry owns it from
 * now on and returns it. A later one for the same OID replaces it in lookups.
 */
const pgtype_t *pgtype_registry_put(pgtype_registry_t *reg, pgtype_t *t);

/* Forgets every registered OID (lookups miss again); descriptors live until _free. */
void pgtype_registry_forget(pgtype_registry_t *reg);

/* Descriptor builders for registry_put. Strings are copied. */
pgtype_t *pgtype_new_text(uint32_t oid, const char *name, const char *logical);
/* An enum: text with Debezium's io.debezium.data.Enum and its labels ("a,b,c"; NULL: unknown). */
pgtype_t *pgtype_new_enum(uint32_t oid, const char *name, const char *labels);
pgtype_t *pgtype_new_alias(uint32_t oid, const pgtype_t *base); /* domains: the base type's form */
pgtype_t *pgtype_new_array(uint32_t oid, const char *name, const pgtype_t *elem, char delim);
/* fields are filled by the caller: names copied with xstrdup, types registered descriptors,
 * typmods (field_typmods, allocated here, all -1) */
pgtype_t *pgtype_new_composite(uint32_t oid, const char *name, uint16_t nfields);

/* Parsers of the text forms into these forms: pgtext.h. */

/* Backwards-compatible: the JSON form of a built-in type OID (TEXT for others). */
static inline pgtype_form_t pgtype_json_form(uint32_t oid)
{
    const pgtype_t *t = pgtype_builtin(oid);
    return t ? t->form : PGTYPE_FORM_TEXT;
}

#endif
