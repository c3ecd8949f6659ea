/*
 * pgtypes.c — the built-in type table and the session's type registry.
 *
 * The table below is docs/output.md's "Type mapping" in code: one row per
 * built-in OID (pg_type.dat) with its JSON form, its Kafka Connect schema
 * type and Debezium's logical name. Arrays of built-in types get their
 * element from the same table. Types not listed are described by the
 * catalog (catalog.c) and registered per session.
 *
 * Owns: every descriptor it hands out. Never: talks to PostgreSQL.
 */
#include "sluice/pg/pgtypes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/buf.h"

typedef struct {
    uint32_t oid;
    pgtype_form_t form;
    connect_type_t connect;
    const char *logical;
    const char *name;
} scalar_row_t;

#define DBZ "io.debezium."
static const scalar_row_t scalar_rows[] = {
    {PGTYPE_BOOL, PGTYPE_FORM_BOOL, CONNECT_BOOLEAN, NULL, "boolean"},
    {PGTYPE_BYTEA, PGTYPE_FORM_BASE64, CONNECT_BYTES, NULL, "bytea"},
    {PGTYPE_CHAR, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "\"char\""},
    {PGTYPE_NAME, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "name"},
    {PGTYPE_INT8, PGTYPE_FORM_INTEGER, CONNECT_INT64, NULL, "bigint"},
    {PGTYPE_INT2, PGTYPE_FORM_INTEGER, CONNECT_INT16, NULL, "smallint"},
    {PGTYPE_INT2VECTOR, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "int2vector"},
    {PGTYPE_INT4, PGTYPE_FORM_INTEGER, CONNECT_INT32, NULL, "integer"},
    {PGTYPE_TEXT, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "text"},
    {PGTYPE_OID, PGTYPE_FORM_INTEGER, CONNECT_INT64, NULL, "oid"},
    {27, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "tid"},
    {28, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "xid"},
    {29, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "cid"},
    {PGTYPE_OIDVECTOR, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "oidvector"},
    {PGTYPE_JSON, PGTYPE_FORM_TEXT, CONNECT_STRING, DBZ "data.Json", "json"},
    {PGTYPE_XML, PGTYPE_FORM_TEXT, CONNECT_STRING, DBZ "data.Xml", "xml"},
    {PGTYPE_POINT, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "point"},
    {601, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "lseg"},
    {602, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "path"},
    {PGTYPE_BOX, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "box"},
    {604, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "polygon"},
    {628, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "line"},
    {650, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "cidr"},
    {PGTYPE_FLOAT4, PGTYPE_FORM_FLOAT, CONNECT_FLOAT32, NULL, "real"},
    {PGTYPE_FLOAT8, PGTYPE_FORM_FLOAT, CONNECT_FLOAT64, NULL, "double precision"},
    {718, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "circle"},
    {774, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "macaddr8"},
    {PGTYPE_MONEY, PGTYPE_FORM_MONEY, CONNECT_STRING, NULL, "money"},
    {829, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "macaddr"},
    {869, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "inet"},
    {PGTYPE_BPCHAR, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "character"},
    {PGTYPE_VARCHAR, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "character varying"},
    {PGTYPE_DATE, PGTYPE_FORM_DATE, CONNECT_INT32, DBZ "time.Date", "date"},
    {PGTYPE_TIME, PGTYPE_FORM_TIME, CONNECT_INT64, DBZ "time.MicroTime", "time"},
    {PGTYPE_TIMESTAMP, PGTYPE_FORM_TIMESTAMP, CONNECT_INT64, DBZ "time.MicroTimestamp", "timestamp"},
    {PGTYPE_TIMESTAMPTZ, PGTYPE_FORM_TIMESTAMPTZ, CONNECT_STRING, DBZ "time.ZonedTimestamp",
     "timestamptz"},
    {PGTYPE_INTERVAL, PGTYPE_FORM_INTERVAL, CONNECT_STRING, DBZ "time.Interval", "interval"},
    {PGTYPE_TIMETZ, PGTYPE_FORM_TIMETZ, CONNECT_STRING, DBZ "time.ZonedTime", "timetz"},
    {1560, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "bit"},
    {1562, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "bit varying"},
    {PGTYPE_NUMERIC, PGTYPE_FORM_NUMERIC, CONNECT_STRING, NULL, "numeric"},
    {2950, PGTYPE_FORM_TEXT, CONNECT_STRING, DBZ "data.Uuid", "uuid"},
    {2970, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "txid_snapshot"},
    {3220, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "pg_lsn"},
    {3614, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "tsvector"},
    {3615, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "tsquery"},
    {PGTYPE_JSONB, PGTYPE_FORM_TEXT, CONNECT_STRING, DBZ "data.Json", "jsonb"},
    {3904, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "int4range"},
    {3906, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "numrange"},
    {3908, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "tsrange"},
    {3910, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "tstzrange"},
    {3912, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "daterange"},
    {3926, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "int8range"},
    {4072, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "jsonpath"},
    {4451, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "int4multirange"},
    {4532, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "nummultirange"},
    {4533, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "tsmultirange"},
    {4534, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "tstzmultirange"},
    {4535, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "datemultirange"},
    {4536, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "int8multirange"},
    {5038, PGTYPE_FORM_TEXT, CONNECT_STRING, NULL, "pg_snapshot"},
};

/* array OID, element OID (pg_type.dat typarray) */
static const uint32_t array_rows[][2] = {
    {1000, PGTYPE_BOOL},   {1001, PGTYPE_BYTEA},   {1002, PGTYPE_CHAR},     {1003, PGTYPE_NAME},
    {1016, PGTYPE_INT8},   {1005, PGTYPE_INT2},    {1007, PGTYPE_INT4},     {1009, PGTYPE_TEXT},
    {1028, PGTYPE_OID},    {199, PGTYPE_JSON},     {143, PGTYPE_XML},       {1017, PGTYPE_POINT},
    {1018, 601},           {1019, 602},            {1020, PGTYPE_BOX},      {1027, 604},
    {629, 628},            {651, 650},             {1021, PGTYPE_FLOAT4},   {1022, PGTYPE_FLOAT8},
    {719, 718},            {775, 774},             {791, PGTYPE_MONEY},     {1040, 829},
    {1041, 869},           {1014, PGTYPE_BPCHAR},  {1015, PGTYPE_VARCHAR},  {1182, PGTYPE_DATE},
    {1183, PGTYPE_TIME},   {1115, PGTYPE_TIMESTAMP}, {1185, PGTYPE_TIMESTAMPTZ},
    {1187, PGTYPE_INTERVAL}, {1270, PGTYPE_TIMETZ}, {1561, 1560},           {1563, 1562},
    {1231, PGTYPE_NUMERIC}, {2951, 2950},          {3221, 3220},            {3643, 3614},
    {3645, 3615},          {3807, PGTYPE_JSONB},   {3905, 3904},            {3907, 3906},
    {3909, 3908},          {3911, 3910},           {3913, 3912},            {3927, 3926},
    {6150, 4451},          {6151, 4532},           {6152, 4533},            {6153, 4534},
    {6155, 4535},          {6157, 4536},
};

#define NSCALARS (sizeof scalar_rows / sizeof scalar_rows[0])
#define NARRAYS (sizeof array_rows / sizeof array_rows[0])

static pgtype_t builtins[NSCALARS + NARRAYS];
static char array_names[NARRAYS][40];
static size_t nbuiltins;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

static const pgtype_t unknown_type = {.oid = 0, .form = PGTYPE_FORM_TEXT, .connect = CONNECT_STRING,
                                      .name = "unknown"};

static int cmp_oid(const void *a, const void *b)
{
    uint32_t x = ((const pgtype_t *) a)->oid, y = ((const pgtype_t *) b)->oid;
    return x < y ? -1 : x > y;
}

static const pgtype_t *find_builtin(uint32_t oid)
{
    pgtype_t key = {.oid = oid};
    return bsearch(&key, builtins, nbuiltins, sizeof key, cmp_oid);
}

static uint32_t array_elem_oid(uint32_t array_oid)
{
    for (size_t i = 0; i < NARRAYS; i++)
        if (array_rows[i][0] == array_oid)
            return array_rows[i][1];
    return 0;
}

/* Sorted once by OID so lookups are a binary search; arrays resolve their element after the
 * sort, when no descriptor moves any more. */
static void init_builtins(void)
{
    for (size_t i = 0; i < NSCALARS; i++)
        builtins[nbuiltins++] = (pgtype_t){.oid = scalar_rows[i].oid,
                                           .form = scalar_rows[i].form,
                                           .connect = scalar_rows[i].connect,
                                           .logical = scalar_rows[i].logical,
                                           .name = scalar_rows[i].name};
    for (size_t i = 0; i < NARRAYS; i++)
        builtins[nbuiltins++] = (pgtype_t){.oid = array_rows[i][0],
                                           .form = PGTYPE_FORM_ARRAY,
                                           .connect = CONNECT_ARRAY,
                                           .delim = array_rows[i][1] == PGTYPE_BOX ? ';' : ','};
    qsort(builtins, nbuiltins, sizeof builtins[0], cmp_oid);
    size_t a = 0;
    for (size_t i = 0; i < nbuiltins; i++) {
        pgtype_t *t = &builtins[i];
        if (t->form != PGTYPE_FORM_ARRAY)
            continue;
        t->elem = find_builtin(array_elem_oid(t->oid));
        snprintf(array_names[a], sizeof array_names[a], "%s[]", t->elem->name);
        t->name = array_names[a++];
    }
}

const pgtype_t *pgtype_builtin(uint32_t oid)
{
    pthread_once(&builtins_once, init_builtins);
    return find_builtin(oid);
}

const pgtype_t *pgtype_unknown(void)
{
    return &unknown_type;
}

const char *pgtype_connect_name(connect_type_t t)
{
    static const char *const names[] = {"string", "boolean", "int16", "int32", "int64",
                                        "float",  "double",  "bytes", "array", "struct"};
    return t <= CONNECT_STRUCT ? names[t] : "string";
}

/* ---- registry ---- */

typedef struct {
    uint32_t oid;
    const pgtype_t *type;
} reg_slot_t;

struct pgtype_registry {
    reg_slot_t *slots;
    size_t cap, count;
    pgtype_t **owned; /* every descriptor ever registered, freed at the end */
    size_t nowned, owned_cap;
};

static size_t hash_oid(uint32_t oid, size_t cap)
{
    uint32_t h = oid * 2654435761u;
    h ^= h >> 15;
    return h & (cap - 1);
}

pgtype_registry_t *pgtype_registry_new(void)
{
    pgtype_registry_t *r = xcalloc(1, sizeof *r);
    r->cap = 64;
    r->slots = xcalloc(r->cap, sizeof *r->slots);
    return r;
}

static void type_free(pgtype_t *t)
{
    free((char *) t->name);
    free((char *) t->logical);
    for (uint16_t i = 0; i < t->nfields; i++)
        free(t->field_names[i]);
    free(t->field_names);
    free(t->field_types);
    free(t->field_typmods);
    free(t->enum_labels);
    free(t);
}

void pgtype_registry_free(pgtype_registry_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nowned; i++)
        type_free(r->owned[i]);
    free(r->owned);
    free(r->slots);
    free(r);
}

const pgtype_t *pgtype_registry_get(const pgtype_registry_t *r, uint32_t oid)
{
    const pgtype_t *b = pgtype_builtin(oid);
    if (b || !r)
        return b;
    size_t i = hash_oid(oid, r->cap);
    while (r->slots[i].type) {
        if (r->slots[i].oid == oid)
            return r->slots[i].type;
        i = (i + 1) & (r->cap - 1);
    }
    return NULL;
}

const pgtype_t *pgtype_registry_put(pgtype_registry_t *r, pgtype_t *t)
{
    if (r->nowned == r->owned_cap) {
        r->owned_cap = r->owned_cap ? r->owned_cap * 2 : 32;
        r->owned = xrealloc(r->owned, r->owned_cap * sizeof *r->owned);
    }
    r->owned[r->nowned++] = t;
    if (2 * (r->count + 1) > r->cap) {
        size_t ncap = r->cap * 2;
        reg_slot_t *n = xcalloc(ncap, sizeof *n);
        for (size_t i = 0; i < r->cap; i++) {
            if (!r->slots[i].type)
                continue;
            size_t j = hash_oid(r->slots[i].oid, ncap);
            while (n[j].type)
                j = (j + 1) & (ncap - 1);
            n[j] = r->slots[i];
        }
        free(r->slots);
        r->slots = n;
        r->cap = ncap;
    }
    size_t i = hash_oid(t->oid, r->cap);
    while (r->slots[i].type && r->slots[i].oid != t->oid)
        i = (i + 1) & (r->cap - 1);
    if (!r->slots[i].type)
        r->count++;
    r->slots[i].oid = t->oid;
    r->slots[i].type = t;
    return t;
}

void pgtype_registry_forget(pgtype_registry_t *r)
{
    memset(r->slots, 0, r->cap * sizeof *r->slots);
    r->count = 0;
}

pgtype_t *pgtype_new_text(uint32_t oid, const char *name, const char *logical)
{
    pgtype_t *t = xcalloc(1, sizeof *t);
    t->oid = oid;
    t->form = PGTYPE_FORM_TEXT;
    t->connect = CONNECT_STRING;
    t->name = xstrdup(name);
    t->logical = logical ? xstrdup(logical) : NULL;
    return t;
}

pgtype_t *pgtype_new_enum(uint32_t oid, const char *name, const char *labels)
{
    pgtype_t *t = pgtype_new_text(oid, name, "io.debezium.data.Enum");
    t->enum_labels = labels ? xstrdup(labels) : NULL;
    return t;
}

pgtype_t *pgtype_new_alias(uint32_t oid, const pgtype_t *base)
{
    pgtype_t *t = xcalloc(1, sizeof *t);
    *t = *base;
    t->oid = oid;
    t->name = xstrdup(base->name);
    t->logical = base->logical ? xstrdup(base->logical) : NULL;
    t->enum_labels = base->enum_labels ? xstrdup(base->enum_labels) : NULL;
    t->field_typmods = NULL;
    if (base->nfields) {
        t->field_names = xcalloc(base->nfields, sizeof *t->field_names);
        t->field_types = xcalloc(base->nfields, sizeof *t->field_types);
        t->field_typmods = xcalloc(base->nfields, sizeof *t->field_typmods);
        for (uint16_t i = 0; i < base->nfields; i++) {
            t->field_names[i] = xstrdup(base->field_names[i]);
            t->field_types[i] = base->field_types[i];
            t->field_typmods[i] = base->field_typmods ? base->field_typmods[i] : -1;
        }
    }
    return t;
}

pgtype_t *pgtype_new_array(uint32_t oid, const char *name, const pgtype_t *elem, char delim)
{
    pgtype_t *t = xcalloc(1, sizeof *t);
    t->oid = oid;
    t->form = PGTYPE_FORM_ARRAY;
    t->connect = CONNECT_ARRAY;
    t->name = xstrdup(name);
    t->elem = elem;
    t->delim = delim ? delim : ',';
    return t;
}

pgtype_t *pgtype_new_composite(uint32_t oid, const char *name, uint16_t nfields)
{
    pgtype_t *t = xcalloc(1, sizeof *t);
    t->oid = oid;
    t->form = PGTYPE_FORM_COMPOSITE;
    t->connect = CONNECT_STRUCT;
    t->name = xstrdup(name);
    t->nfields = nfields;
    t->field_names = xcalloc(nfields ? nfields : 1, sizeof *t->field_names);
    t->field_types = xcalloc(nfields ? nfields : 1, sizeof *t->field_types);
    t->field_typmods = xcalloc(nfields ? nfields : 1, sizeof *t->field_typmods);
    for (uint16_t i = 0; i < nfields; i++)
        t->field_typmods[i] = -1;
    return t;
}
