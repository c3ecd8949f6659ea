/*
 * snapshot_filter.c — which streamed changes a snapshot's copy already
 * shows (snapshot_filter.h): a sorted table of (relation, copy LSN).
 */
#include "sluice/core/snapshot_filter.h"

#include <stdlib.h>

#include "sluice/base/buf.h"

typedef struct {
    uint32_t oid;
    sluice_lsn_t lsn;
} filter_entry_t;

struct snapshot_filter {
    size_t n;
    filter_entry_t *e; /* sorted by oid */
};

static int cmp_entry(const void *a, const void *b)
{
    uint32_t x = ((const filter_entry_t *) a)->oid, y = ((const filter_entry_t *) b)->oid;
    return x < y ? -1 : x > y;
}

snapshot_filter_t *snapshot_filter_new(const snapshot_progress_t *p, sluice_lsn_t resume_lsn)
{
    if (!p)
        return NULL;
    snapshot_filter_t *f = xcalloc(1, sizeof *f);
    f->e = xcalloc(p->ntables ? p->ntables : 1, sizeof *f->e);
    for (size_t i = 0; i < p->ntables; i++)
        if (p->tables[i].state == SNAPSHOT_TABLE_DONE && p->tables[i].lsn > resume_lsn)
            f->e[f->n++] = (filter_entry_t){p->tables[i].oid, p->tables[i].lsn};
    if (!f->n) {
        snapshot_filter_free(f);
        return NULL;
    }
    qsort(f->e, f->n, sizeof *f->e, cmp_entry);
    return f;
}

void snapshot_filter_free(snapshot_filter_t *f)
{
    if (!f)
        return;
    free(f->e);
    free(f);
}

bool snapshot_filter_emits(const snapshot_filter_t *f, uint32_t relid, sluice_lsn_t commit_lsn)
{
    if (!f)
        return true;
    filter_entry_t key = {relid, 0};
    const filter_entry_t *e = bsearch(&key, f->e, f->n, sizeof *f->e, cmp_entry);
    /* Committed before the table's copy: the copy already shows it. */
    return !e || commit_lsn >= e->lsn;
}

