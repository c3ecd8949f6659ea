/*
 * catalog.h — what the replication stream does not say, asked of the
 * source database's catalog over an ordinary (non-replication) connection:
 * the shape of non-built-in types (domains, enums, composites, arrays of
 * them, extension types), a table's primary key, and (for Kafka Connect
 * schemas) its columns' NOT NULL and constant defaults.
 *
 * The replication connection is busy streaming, so this is a second libpq
 * connection, opened on first use and reopened after a failure. Lookups
 * happen when a RELATION message arrives, never per change.
 *
 * The catalog answers with its current state, not the state at the WAL
 * position being decoded. Types and primary keys rarely change under a
 * running stream; when they do, the next RELATION message (PostgreSQL sends
 * one after any change to the table) looks them up again.
 */
#ifndef SLUICE_CATALOG_H
#define SLUICE_CATALOG_H

#include "sluice/base/common.h"
#include "sluice/pg/pgtypes.h"
#include "sluice/pg/relcache.h"

typedef struct catalog catalog_t;

/* Remembers the connection string (copied); connects on first use. */
catalog_t *catalog_new(const char *conninfo);
void catalog_free(catalog_t *cat);

/*
 * Sets *out to the descriptor of type `oid`: built-in, already registered in
 * reg, or looked up now and registered. A type the catalog no longer knows
 * gets pgtype_unknown() (its values are written as text). Returns false with
 * a message in err only when PostgreSQL could not be asked.
 */
bool catalog_resolve_type(catalog_t *cat, pgtype_registry_t *reg, uint32_t oid,
                          const pgtype_t **out, char *err, size_t errlen);

/*
 * Looks up the primary key of relation `relid`: writes up to `max` column
 * names (each malloc'd, the caller frees them) into names, in key order, and
 * returns how many (0: no primary key), or -1 with a message in err.
 */
int catalog_primary_key(catalog_t *cat, uint32_t relid, char **names, int max, char *err,
                        size_t errlen);

/*
 * Completes a relation just described (by a RELATION message, or by the
 * snapshot as pgoutput would describe it) with what the encoders need and
 * the stream does not say: the type of every column that is not built in
 * (enum labels, domain and composite-field typmods included), and under
 * REPLICA IDENTITY FULL or NOTHING the primary key as the Kafka key
 * (relcache_set_kafka_key_names; none usable: null keys). With
 * column_metadata (Kafka Connect schemas) also each column's NOT NULL and
 * constant default (relcache_column_t; one query for the columns, one
 * evaluating the defaults): a relation of plain types otherwise never needs
 * the catalog. With refresh_types the registry is emptied before the first
 * lookup, since a RELATION message may mean a type changed. Returns false
 * with err naming the relation when PostgreSQL could not be asked.
 */
bool catalog_complete_relation(catalog_t *cat, pgtype_registry_t *reg, relcache_entry_t *rel,
                               bool refresh_types, bool column_metadata, char *err, size_t errlen);

#endif
