/*
 * snapshot_filter.h — the rule the stream follows after a snapshot whose
 * tables were copied later than where streaming resumes (core/snapshot.h):
 * the same rule PostgreSQL's own table synchronisation uses.
 */
#ifndef SLUICE_SNAPSHOT_FILTER_H
#define SLUICE_SNAPSHOT_FILTER_H

#include "sluice/base/common.h"
#include "sluice/base/snapshot_progress.h"

typedef struct snapshot_filter snapshot_filter_t;

/*
 * The rule the stream follows after a snapshot whose tables were copied
 * later than where streaming resumes: a change of such a table is emitted
 * only if its source transaction commits at or after the table's copy LSN.
 * NULL when no table needs it (the common case). Free with snapshot_filter_free.
 */
snapshot_filter_t *snapshot_filter_new(const snapshot_progress_t *p, sluice_lsn_t resume_lsn);
void snapshot_filter_free(snapshot_filter_t *f);

/* Whether a change of relation relid, in a transaction committing at commit_lsn, goes out. */
bool snapshot_filter_emits(const snapshot_filter_t *f, uint32_t relid, sluice_lsn_t commit_lsn);

#endif
