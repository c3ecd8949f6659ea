/*
 * json_internal.h — what json.c (the values) and json_schema.c (the Kafka
 * Connect schemas) share: the JSON encoder's state and the two column
 * questions both ask. Private to src/encode/.
 */
#ifndef SLUICE_JSON_INTERNAL_H
#define SLUICE_JSON_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/encode/encode.h"
#include "sluice/pg/pgtypes.h"
#include "walk.h"

struct encoder {
    output_format_t format; /* first: encoder.c dispatches on it (encoders.h) */
    char *server_name;
    char *db_name;
    char *toast_placeholder;
    value_forms_t forms;
    bool schemas;
    bool transaction_block;
    walk_t walk;   /* reads the text forms and calls json_writer below */
    strbuf_t *out; /* where json_writer appends: the buffer of the value being written */
    strbuf_t schema_tmp;
    colmatch_t propagate; /* column.propagate.source.type */
};

/* The column's type: the catalog's, else the built-in one, else "unknown". */
static inline const pgtype_t *json_column_type(const relcache_column_t *col)
{
    if (col->type)
        return col->type;
    const pgtype_t *t = pgtype_builtin(col->type_oid);
    return t ? t : pgtype_unknown();
}

static inline bool json_is_kafka_key(const relcache_entry_t *rel, uint16_t i)
{
    for (uint16_t k = 0; k < rel->nkafka_keys; k++)
        if (rel->kafka_key_index[k] == i)
            return true;
    return false;
}

/*
 * A column whose field is required (optional: false) in its Kafka Connect
 * schema: NOT NULL or part of the record key. Its values are never written
 * as null by a value form's null mode (walk.h). Only with schemas: without
 * them sluice does not ask the catalog whether a column is NOT NULL.
 */
static inline bool json_column_required(const encoder_t *enc, const relcache_entry_t *rel,
                                        uint16_t i)
{
    return enc->schemas && (rel->columns[i].not_null || json_is_kafka_key(rel, i));
}

/* The envelope's value schema and the key schema of a relation (json_schema.c). */
void json_build_value_schema(encoder_t *enc, strbuf_t *out, const relcache_entry_t *rel);
void json_build_key_schema(encoder_t *enc, strbuf_t *out, const relcache_entry_t *rel);

/*
 * The envelope's fixed schema parts, shared by the row events' schemas
 * (json_schema.c) and the logical message events' (json.c).
 */
/* Debezium 3.x's io.debezium.connector.postgresql.Source (schema version 1). */
#define SOURCE_SCHEMA                                                                              \
    "{\"type\":\"struct\",\"fields\":["                                                            \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"version\"},"                              \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"connector\"},"                            \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"name\"},"                                 \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"ts_ms\"},"                                 \
    "{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\",\"version\":1,"     \
    "\"parameters\":{\"allowed\":\"true,first,first_in_data_collection,last_in_data_collection,"   \
    "last,false,incremental\"},\"default\":\"false\",\"field\":\"snapshot\"},"                     \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"db\"},"                                   \
    "{\"type\":\"string\",\"optional\":true,\"field\":\"sequence\"},"                              \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"                                  \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"},"                                  \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"schema\"},"                               \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"table\"},"                                \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"txId\"},"                                   \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"lsn\"},"                                    \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"xmin\"}],"                                  \
    "\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"version\":1,"       \
    "\"field\":\"source\"}"

/* The envelope's "transaction" field: always in the schema (optional), as Debezium 3.x. */
#define TXN_BLOCK_SCHEMA                                                                           \
    "{\"type\":\"struct\",\"fields\":["                                                            \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},"                                   \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},"                           \
    "{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],"                \
    "\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}"

#define ENVELOPE_TAIL_SCHEMA                                                                       \
    "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"                                   \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},"                                  \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},"                                  \
    "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}"

#endif
