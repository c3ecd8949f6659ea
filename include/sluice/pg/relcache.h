/*
 * relcache.h — what sluice knows about each published relation, keyed by OID.
 *
 * PostgreSQL sends a RELATION message before the first change of a relation
 * in a session and again whenever its definition changed; a RELATION message
 * can come again and replaces the cached entry whole, so a column added
 * mid-stream is seen from the next change on. Entries are owned by the cache;
 * a pointer from relcache_get stays valid until the next relcache_put for the
 * same OID or relcache_free.
 *
 * TYPE messages name non-built-in types (enums, domains, extensions); the
 * cache keeps those names too, for encoders that want them.
 */
#ifndef SLUICE_RELCACHE_H
#define SLUICE_RELCACHE_H

#include "sluice/base/common.h"
#include "sluice/pg/pgoutput.h"
#include "sluice/pg/pgtypes.h"

typedef struct {
    char *name;
    uint32_t type_oid;
    int32_t typmod;
    bool is_key;          /* flagged by pgoutput as part of the replica identity */
    const pgtype_t *type; /* resolved by the pipeline (catalog); NULL: built-in lookup by OID */
    /* From the catalog, only for Kafka Connect schemas (catalog_complete_relation with
     * column metadata; pgoutput does not send them): */
    bool not_null;        /* pg_attribute.attnotnull */
    char *default_text;   /* a constant default's text form (owned), NULL: none or not constant */
} relcache_column_t;

typedef struct {
    uint32_t oid;
    char *nspname;
    char *relname;
    char replident;
    uint16_t ncols;
    relcache_column_t *columns;
    uint16_t nkeys;      /* columns flagged as replica identity */
    uint16_t *key_index; /* their positions, in column order */
    /*
     * The Kafka key's columns. DEFAULT and USING INDEX: the replica identity
     * (the only columns a DELETE carries). FULL and NOTHING: none until the
     * pipeline sets the primary key from the catalog (relcache_set_kafka_key);
     * pgoutput flags every column of a FULL table, which would make the whole
     * row the key. Without a primary key the record key is null.
     */
    uint16_t nkafka_keys;
    uint16_t *kafka_key_index;
    /* Kafka Connect schemas of this version, built on first use by the encoder. */
    char *key_schema;
    char *value_schema;
    char *topic;         /* "<prefix>.<schema>.<table>" */
    uint32_t version;    /* bumped by every RELATION message for this OID */
} relcache_entry_t;

typedef struct relcache relcache_t;

/* Returns an empty cache; topics are named "<topic_prefix>.<schema>.<table>". The prefix is copied. */
relcache_t *relcache_new(const char *topic_prefix);
void relcache_free(relcache_t *cache);

/* The topic of a table, "<prefix>.<schema>.<table>" (malloc'd); table NULL when schema
 * is "<schema>.<table>" already (a snapshot progress entry's name). */
char *relcache_topic_name(const char *prefix, const char *schema, const char *table);

/*
 * Replaces (or adds) the entry for msg->relation.oid; copies everything it
 * keeps. The entry is returned writable so the pipeline can resolve column
 * types and the key before the first change uses it.
 */
relcache_entry_t *relcache_put(relcache_t *cache, const pgo_msg_t *msg);

/* Sets the Kafka key columns (positions into e->columns, in key order); n = 0 for a null key. */
void relcache_set_kafka_key(relcache_entry_t *e, const uint16_t *positions, uint16_t n);

/*
 * Sets the Kafka key to the columns named in names[0..n) (the primary key, in
 * key order). A name that is not among e's columns (a publication's column
 * list leaves a key column out) makes the key null: part of a key would merge
 * rows Kafka must keep apart. Returns whether the key is usable (n > 0 and
 * every name found). Borrows names.
 */
bool relcache_set_kafka_key_names(relcache_entry_t *e, char *const *names, int n);

/* NULL if PostgreSQL never described this OID in this session. */
const relcache_entry_t *relcache_get(const relcache_t *cache, uint32_t oid);

/* Remembers a TYPE message's "namespace.name"; relcache_type_name returns it or NULL. */
void relcache_put_type(relcache_t *cache, const pgo_msg_t *msg);
const char *relcache_type_name(const relcache_t *cache, uint32_t oid);

/* Forgets every entry: a new replication session describes relations again. */
void relcache_clear(relcache_t *cache);

#endif
