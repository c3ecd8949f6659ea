/*
 * json_schema.c — the Kafka Connect schemas of the JSON format
 * (json.schemas = true), built once per relation version by
 * json_encoder_prepare_relation and kept on the relcache entry: Debezium's
 * logical types, `optional` from NOT NULL and key membership, constant
 * defaults written in the field's own form by the value walker, enum
 * labels, decimal parameters, column.propagate.source.type, and the
 * envelope's source and transaction blocks. The values themselves are
 * json.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encoders.h"
#include "json_internal.h"
#include "sluice/encode/encode.h"
#include "sluice/pg/pgtypes.h"
#include "walk.h"

static void schema_type_attrs(encoder_t *enc, strbuf_t *out, const pgtype_t *type, int32_t typmod,
                              bool optional, int depth, const char *source_column);

/*
 * ,"default":<value> — a column's constant default in the field's own form,
 * as the walker writes the column's values; left out when that is null (a
 * null mode took the value).
 */
static void append_default(encoder_t *enc, strbuf_t *out, const pgtype_t *type, int32_t typmod,
                           bool nullable, const char *text)
{
    size_t mark = out->len;
    strbuf_puts(out, ",\"default\":");
    size_t at = out->len;
    strbuf_t *saved = enc->out;
    enc->out = out;
    walk_text(&enc->walk, NULL, type, typmod, nullable, text, strlen(text));
    enc->out = saved;
    if (out->len - at == 4 && memcmp(out->data + at, "null", 4) == 0) {
        out->len = mark;
        out->data[mark] = '\0';
    }
}

static connect_type_t field_connect_type(const encoder_t *enc, const pgtype_t *type,
                                         int32_t typmod);

/*
 * {"type":..,"optional":..[,"name":..][,"default":..][,"field":name]} for one
 * column or element. No default on a struct (a composite, a
 * VariableScaleDecimal): Kafka Connect's JsonConverter cannot read one back
 * ("Invalid default value: Struct schemas do not match"). None on an array
 * either: Debezium reads no array default from the catalog, and its JDBC
 * sink stops on one ("No default value resolution for schema type ARRAY").
 * None on a time (MicroTime): Debezium's JDBC sink (3.2) writes it as a
 * date-time ('2026-12-07T07:30:00Z[UTC]') into CREATE TABLE, which
 * PostgreSQL refuses, and the whole table is lost.
 */
static void schema_field(encoder_t *enc, strbuf_t *out, const pgtype_t *type, int32_t typmod,
                         const char *field, bool optional, const char *default_text, int depth,
                         bool propagate)
{
    strbuf_putc(out, '{');
    schema_type_attrs(enc, out, type, typmod, optional, depth, propagate ? field : NULL);
    connect_type_t ct = default_text ? field_connect_type(enc, type, typmod) : CONNECT_STRUCT;
    if (ct != CONNECT_STRUCT && ct != CONNECT_ARRAY && type->form != PGTYPE_FORM_TIME)
        append_default(enc, out, type, typmod, optional, default_text);
    if (field) {
        strbuf_puts(out, ",\"field\":");
        json_append_string(out, field, strlen(field));
    }
    strbuf_putc(out, '}');
}

/* How a numeric or money column looks in decimal.handling.mode = precise. */
typedef enum { DEC_NONE, DEC_FIXED, DEC_VARIABLE } precise_kind_t;

static precise_kind_t precise_kind(const encoder_t *enc, const pgtype_t *type, int32_t typmod,
                                   int *precision, int *scale)
{
    *precision = 0;
    *scale = 2;
    if (enc->forms.decimal != DECIMAL_PRECISE)
        return DEC_NONE;
    if (type->form == PGTYPE_FORM_MONEY)
        return DEC_FIXED; /* scale 2 in lc_monetary C, no precision (as Debezium's money) */
    if (type->form != PGTYPE_FORM_NUMERIC)
        return DEC_NONE;
    return pgtype_numeric_typmod(typmod, precision, scale) ? DEC_FIXED : DEC_VARIABLE;
}

static connect_type_t connect_type_of(const encoder_t *enc, const pgtype_t *type,
                                      precise_kind_t dec)
{
    bool decimal = type->form == PGTYPE_FORM_NUMERIC || type->form == PGTYPE_FORM_MONEY;
    if (dec == DEC_FIXED)
        return CONNECT_BYTES;
    if (dec == DEC_VARIABLE)
        return CONNECT_STRUCT;
    if (decimal && (enc->forms.decimal == DECIMAL_DOUBLE || enc->forms.numeric_json_number))
        return CONNECT_FLOAT64;
    if (type->form == PGTYPE_FORM_INTERVAL && enc->forms.interval == INTERVAL_NUMERIC)
        return CONNECT_INT64;
    return type->connect;
}

static connect_type_t field_connect_type(const encoder_t *enc, const pgtype_t *type,
                                         int32_t typmod)
{
    int precision, scale;
    typmod = pgtype_effective_typmod(type, typmod);
    return connect_type_of(enc, type, precise_kind(enc, type, typmod, &precision, &scale));
}

#define VARIABLE_SCALE_FIELDS                                                                      \
    "\"fields\":[{\"type\":\"int32\",\"optional\":false,\"field\":\"scale\"},"                    \
    "{\"type\":\"bytes\",\"optional\":false,\"field\":\"value\"}]"

/*
 * Debezium's name of a column's PostgreSQL type (pg_type.typname in upper
 * case: VARCHAR, BPCHAR, INT4, TIMESTAMPTZ, JSONB, _INT4 for an array, a
 * user type's own name), for __debezium.source.column.type.
 */
static void source_type_name(const pgtype_t *type, strbuf_t *out)
{
    const char *n;
    switch (type->oid) {
    case 16: n = "BOOL"; break;
    case 17: n = "BYTEA"; break;
    case 18: n = "CHAR"; break;
    case 19: n = "NAME"; break;
    case 20: n = "INT8"; break;
    case 21: n = "INT2"; break;
    case 23: n = "INT4"; break;
    case 25: n = "TEXT"; break;
    case 26: n = "OID"; break;
    case 700: n = "FLOAT4"; break;
    case 701: n = "FLOAT8"; break;
    case PGTYPE_BPCHAR: n = "BPCHAR"; break;
    case PGTYPE_VARCHAR: n = "VARCHAR"; break;
    default:
        if (type->form == PGTYPE_FORM_ARRAY && type->elem) {
            strbuf_putc(out, '_');
            source_type_name(type->elem, out);
            return;
        }
        n = type->name ? type->name : "unknown";
        const char *dot = strrchr(n, '.');
        n = dot ? dot + 1 : n;
        if (*n == '"')
            n++;
    }
    for (; *n && *n != '"' && *n != '['; n++)
        strbuf_putc(out, (char) (*n >= 'a' && *n <= 'z' ? *n - 'a' + 'A' : *n == ' ' ? '_' : *n));
}

/*
 * column.propagate.source.type: the column's type, its length (varchar(n),
 * char(n), numeric's precision) and scale (numeric's, a time's or
 * timestamp's fractional digits) and name as Debezium's schema parameters.
 * Not for bit and bit varying: Debezium's JDBC sink takes a BIT/VARBIT
 * source type for its Bits type and reads a "length" parameter that a
 * string field does not have.
 */
static void source_type_params(strbuf_t *p, const pgtype_t *type, int32_t typmod,
                               const char *column)
{
    if (type->oid == 1560 || type->oid == 1562)
        return;
    if (p->len)
        strbuf_putc(p, ',');
    strbuf_puts(p, "\"__debezium.source.column.type\":\"");
    source_type_name(type, p);
    strbuf_putc(p, '"');
    int precision, scale;
    switch (type->oid) {
    case PGTYPE_VARCHAR:
    case PGTYPE_BPCHAR:
        if (typmod >= 4)
            strbuf_appendf(p, ",\"__debezium.source.column.length\":\"%d\"", typmod - 4);
        break;
    case PGTYPE_NUMERIC:
        if (pgtype_numeric_typmod(typmod, &precision, &scale))
            strbuf_appendf(p,
                           ",\"__debezium.source.column.length\":\"%d\""
                           ",\"__debezium.source.column.scale\":\"%d\"",
                           precision, scale);
        break;
    case PGTYPE_TIME:
    case PGTYPE_TIMETZ:
    case PGTYPE_TIMESTAMP:
    case PGTYPE_TIMESTAMPTZ:
        if (typmod >= 0)
            strbuf_appendf(p, ",\"__debezium.source.column.scale\":\"%d\"", typmod);
        break;
    default: break;
    }
    strbuf_puts(p, ",\"__debezium.source.column.name\":");
    json_append_string(p, column, strlen(column));
}

static void schema_type_attrs(encoder_t *enc, strbuf_t *out, const pgtype_t *type, int32_t typmod,
                              bool optional, int depth, const char *source_column)
{
    typmod = pgtype_effective_typmod(type, typmod);
    bool deep = depth >= WALK_MAX_DEPTH - 1 &&
                (type->form == PGTYPE_FORM_ARRAY || type->form == PGTYPE_FORM_COMPOSITE);
    int precision, scale;
    precise_kind_t dec = deep ? DEC_NONE : precise_kind(enc, type, typmod, &precision, &scale);
    connect_type_t ct = deep ? CONNECT_STRING : connect_type_of(enc, type, dec);
    strbuf_puts(out, "\"type\":\"");
    strbuf_puts(out, pgtype_connect_name(ct));
    strbuf_putc(out, '"');
    if (dec == DEC_VARIABLE) {
        strbuf_puts(out, "," VARIABLE_SCALE_FIELDS);
    } else if (ct == CONNECT_ARRAY) {
        strbuf_puts(out, ",\"items\":");
        schema_field(enc, out, type->elem, typmod, NULL, true, NULL, depth + 1, false);
    } else if (ct == CONNECT_STRUCT) {
        strbuf_puts(out, ",\"fields\":[");
        for (uint16_t i = 0; i < type->nfields; i++) {
            if (i)
                strbuf_putc(out, ',');
            schema_field(enc, out, type->field_types[i],
                         type->field_typmods ? type->field_typmods[i] : -1, type->field_names[i],
                         true, NULL, depth + 1, false);
        }
        strbuf_putc(out, ']');
    }
    strbuf_appendf(out, ",\"optional\":%s", optional ? "true" : "false");
    if (deep)
        return;
    const char *logical = type->logical;
    if (dec == DEC_FIXED)
        logical = "org.apache.kafka.connect.data.Decimal";
    else if (dec == DEC_VARIABLE)
        logical = "io.debezium.data.VariableScaleDecimal";
    else if (type->form == PGTYPE_FORM_INTERVAL && ct == CONNECT_INT64)
        logical = "io.debezium.time.MicroDuration";
    if (logical) {
        strbuf_puts(out, ",\"name\":");
        json_append_string(out, logical, strlen(logical));
        strbuf_puts(out, ",\"version\":1");
    } else if (ct == CONNECT_STRUCT && type->name) {
        strbuf_puts(out, ",\"name\":");
        json_append_string(out, type->name, strlen(type->name));
    }
    if (dec == DEC_VARIABLE)
        strbuf_puts(out, ",\"doc\":\"Variable scaled decimal\"");
    strbuf_t params = STRBUF_INIT;
    if (dec == DEC_FIXED) {
        strbuf_appendf(&params, "\"scale\":\"%d\"", scale);
        if (precision > 0)
            strbuf_appendf(&params, ",\"connect.decimal.precision\":\"%d\"", precision);
    } else if (type->enum_labels && ct == CONNECT_STRING) {
        strbuf_puts(&params, "\"allowed\":");
        json_append_string(&params, type->enum_labels, strlen(type->enum_labels));
    }
    if (source_column)
        source_type_params(&params, type, typmod, source_column);
    if (params.len) {
        strbuf_puts(out, ",\"parameters\":{");
        strbuf_append(out, params.data, params.len);
        strbuf_putc(out, '}');
    }
    strbuf_free(&params);
}

typedef enum { ROW_KEY, ROW_BEFORE, ROW_AFTER } row_kind_t;

/*
 * A row's struct. after (and the key): `optional` false for NOT NULL and
 * key columns, constant defaults, as Debezium. before: every field optional
 * and no defaults, under its own name (….Before): under the default replica
 * identity the old row of a delete holds only the key columns, and a
 * converter must read the others as absent, not fill in defaults.
 */
static void schema_row(encoder_t *enc, strbuf_t *out, const relcache_entry_t *rel,
                       row_kind_t kind, const char *field)
{
    strbuf_puts(out, "{\"type\":\"struct\",\"fields\":[");
    bool key = kind == ROW_KEY;
    uint16_t n = key ? rel->nkafka_keys : rel->ncols;
    for (uint16_t k = 0; k < n; k++) {
        uint16_t i = key ? rel->kafka_key_index[k] : k;
        const relcache_column_t *col = &rel->columns[i];
        if (k)
            strbuf_putc(out, ',');
        bool optional = kind == ROW_BEFORE || !(key || json_column_required(enc, rel, i));
        bool propagate = false;
        if (enc->propagate.n) {
            strbuf_t path = STRBUF_INIT;
            strbuf_appendf(&path, "%s.%s.%s", rel->nspname, rel->relname, col->name);
            propagate = colmatch_match(&enc->propagate, path.data);
            strbuf_free(&path);
        }
        schema_field(enc, out, json_column_type(col), col->typmod, col->name, optional,
                     kind == ROW_BEFORE ? NULL : col->default_text, 0, propagate);
    }
    strbuf_appendf(out, "],\"optional\":%s,\"name\":", key ? "false" : "true");
    strbuf_t name = STRBUF_INIT;
    strbuf_appendf(&name, "%s.%s.%s.%s", enc->server_name, rel->nspname, rel->relname,
                   key ? "Key" : kind == ROW_BEFORE ? "Before" : "Value");
    json_append_string(out, name.data, name.len);
    strbuf_free(&name);
    if (field)
        strbuf_appendf(out, ",\"field\":\"%s\"", field);
    strbuf_putc(out, '}');
}

void json_build_value_schema(encoder_t *enc, strbuf_t *out, const relcache_entry_t *rel)
{
    strbuf_puts(out, "{\"type\":\"struct\",\"fields\":[");
    schema_row(enc, out, rel, ROW_BEFORE, "before");
    strbuf_putc(out, ',');
    schema_row(enc, out, rel, ROW_AFTER, "after");
    strbuf_puts(out, "," SOURCE_SCHEMA "," TXN_BLOCK_SCHEMA "," ENVELOPE_TAIL_SCHEMA
                     "],\"optional\":false,\"name\":");
    strbuf_t name = STRBUF_INIT;
    strbuf_appendf(&name, "%s.%s.%s.Envelope", enc->server_name, rel->nspname, rel->relname);
    json_append_string(out, name.data, name.len);
    strbuf_free(&name);
    strbuf_puts(out, ",\"version\":2}");
}

void json_build_key_schema(encoder_t *enc, strbuf_t *out, const relcache_entry_t *rel)
{
    schema_row(enc, out, rel, ROW_KEY, NULL);
}

void json_encoder_prepare_relation(encoder_t *enc, relcache_entry_t *rel)
{
    if (!enc->schemas)
        return;
    strbuf_t b = STRBUF_INIT;
    json_build_value_schema(enc, &b, rel);
    free(rel->value_schema);
    rel->value_schema = b.data;
    b = (strbuf_t) STRBUF_INIT;
    json_build_key_schema(enc, &b, rel);
    free(rel->key_schema);
    rel->key_schema = b.data;
}
