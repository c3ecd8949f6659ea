/*
 * snapshot_progress.h — the checkpoint's "snapshot" member: which tables of
 * a snapshot are waiting, partially or completely in Kafka (core/snapshot.h
 * has the protocol that writes it). Read back from Kafka at every start, so
 * the parser takes outside data and reports what is wrong with it.
 */
#ifndef SLUICE_SNAPSHOT_PROGRESS_H
#define SLUICE_SNAPSHOT_PROGRESS_H

#include "sluice/base/buf.h"
#include "sluice/base/common.h"

/* Prefix of the logical decoding message that asks for a snapshot of tables. */
#define SNAPSHOT_REQUEST_PREFIX "sluice.snapshot"

typedef enum {
    SNAPSHOT_TABLE_WAITING = 'w', /* nothing of it in Kafka yet */
    SNAPSHOT_TABLE_PARTIAL = 'p', /* Kafka may hold some of its rows (or a request asked again) */
    SNAPSHOT_TABLE_DONE = 'd',    /* all its rows are in Kafka, copied as of lsn */
    /* snapshot.method = incremental: copied in key-range chunks while streaming; the
     * chunks up to last_key are in Kafka (none while nkey is 0) */
    SNAPSHOT_TABLE_INCREMENTAL = 'i',
} snapshot_table_state_t;

typedef struct {
    char *name; /* "schema.table" as the publication lists it */
    uint32_t oid;
    snapshot_table_state_t state;
    sluice_lsn_t lsn; /* DONE: consistent point of the snapshot its rows come from (0 after
                       * an incremental copy: no streamed change of it is left out) */
    uint64_t rows;    /* DONE, INCREMENTAL: rows copied */
    /* INCREMENTAL: chunks committed, and the key of the last row of the last one, as the
     * text of each Kafka key column in key order (owned; nkey 0: no chunk yet) */
    uint64_t chunks;
    size_t nkey;
    char **last_key;
} snapshot_table_t;

typedef struct {
    bool running;                  /* false once every table is done */
    uint32_t epoch;                /* snapshots taken so far (1 without a crash) */
    sluice_lsn_t consistent_point; /* of the latest snapshot taken */
    size_t ntables, cap;
    snapshot_table_t *tables;
} snapshot_progress_t;

/* A new, running progress record with no table (epoch 0). Free with snapshot_progress_free. */
snapshot_progress_t *snapshot_progress_new(void);
void snapshot_progress_free(snapshot_progress_t *p);

/* Parses the checkpoint's "snapshot" member; NULL with a reason in err if malformed. */
snapshot_progress_t *snapshot_progress_parse(const char *json, char *err, size_t errlen);

/* The JSON text of p (malloc'd; the caller frees it). */
char *snapshot_progress_to_json(const snapshot_progress_t *p);

/* Whether a table is waiting for or in the middle of an export copy (WAITING or PARTIAL). */
bool snapshot_progress_export_pending(const snapshot_progress_t *p);

/* Whether a table is still copied incrementally (INCREMENTAL). */
bool snapshot_progress_incremental_pending(const snapshot_progress_t *p);

/* Replaces t->last_key with a copy of key[0..n) (n 0: none). */
void snapshot_table_set_last_key(snapshot_table_t *t, const char *const *key, size_t n);

/* The table named `name`, or NULL. */
snapshot_table_t *snapshot_progress_find(snapshot_progress_t *p, const char *name);

/* Adds a table (name copied) in state `state`; returns it. */
snapshot_table_t *snapshot_progress_add(snapshot_progress_t *p, const char *name, uint32_t oid,
                                        snapshot_table_state_t state);

/*
 * Forgets the done tables the stream can no longer bring an excluded change
 * of: those copied at an LSN <= resume_lsn (every transaction streamed from
 * there commits at or after it). Does nothing while running.
 */
void snapshot_progress_prune(snapshot_progress_t *p, sluice_lsn_t resume_lsn);

/*
 * The request of a "sluice.snapshot" message: `tables` holds table names
 * ("schema.table", or "table" for public) separated by commas or white
 * space. Returns the new checkpoint member (malloc'd JSON): `current` (NULL:
 * none) with those tables marked partial and the snapshot running. NULL with
 * a reason in err if `tables` names none or `current` is malformed.
 */
char *snapshot_progress_request(const char *current, const char *tables, size_t len, char *err,
                                size_t errlen);

/*
 * The next table name of a request's list tables[0..len) from *pos on, as
 * "schema.table" ("public." added to a bare name) into name; advances *pos.
 * False at the end of the list (err "") or for a name that is not UTF-8 or
 * does not fit (the reason in err).
 */
bool snapshot_request_next_name(const char *tables, size_t len, size_t *pos, char *name,
                                size_t namelen, char *err, size_t errlen);

/*
 * snapshot.method = incremental: a request for table `name` (OID oid) makes
 * it INCREMENTAL from its start (no chunk yet) and p running. False, and p
 * unchanged, when the table is INCREMENTAL already: its copy is under way
 * and brings every row as it is when its chunk is read.
 */
bool snapshot_progress_request_incremental(snapshot_progress_t *p, const char *name, uint32_t oid);

/*
 * Appends to out, for the log, where each INCREMENTAL table's copy stands:
 * `"public.a" after 3 chunks (1500 rows), "public.b" from its start`.
 */
void snapshot_progress_describe_incremental(const snapshot_progress_t *p, strbuf_t *out);

#endif
