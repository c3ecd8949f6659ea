/*
 * checkpoint.h — sluice's position, stored in Kafka inside every Kafka
 * transaction it commits.
 *
 * The checkpoint topic is compacted, has one partition, and is keyed by slot
 * name. Because the record is written in the same Kafka transaction as the
 * changes it covers, a read_committed reader sees the checkpoint if and only
 * if it sees those changes: that is what makes restart exact.
 *
 * Value (JSON):
 *   {"slot":"sluice","commit_lsn":"0/16B3748","end_lsn":"0/16B3780",
 *    "xid":741,"commit_ts_us":…,"seq":42,"system_id":"7301…","sluice":"0.1.0"}
 *   commit_lsn  commit record of the last source transaction Kafka holds:
 *               a BEGIN whose final LSN is <= this is skipped whole
 *   end_lsn     where streaming resumes, and what PostgreSQL is told to flush
 *   seq         ordinal of the Kafka transaction (also the sluice.batch header)
 *   timeline    (optional) the server's timeline when end_lsn was read: after a
 *               failover, end_lsn must lie within the new server's history
 *               (absent in checkpoints of sluice before 0.3)
 *   snapshot    (optional) where the initial snapshot stands, snapshot.h's JSON:
 *               {"state":"running|done","epoch":1,"consistent_point":"0/16B3780",
 *                "tables":[{"table":"public.a","oid":16384,"state":"done",
 *                           "lsn":"0/16B3780","rows":1000},…]}
 *               absent in checkpoints of sluice before 0.2 and of snapshot.mode = never
 */
#ifndef SLUICE_CHECKPOINT_H
#define SLUICE_CHECKPOINT_H

#include "sluice/base/buf.h"
#include "sluice/base/common.h"

typedef struct {
    bool present;
    sluice_lsn_t commit_lsn;
    sluice_lsn_t end_lsn;
    uint32_t xid;
    int64_t commit_ts_us;
    uint64_t seq;
    char system_id[32];
    uint32_t timeline; /* 0: not recorded */
    /*
     * JSON text of the "snapshot" member, or NULL. checkpoint_from_json
     * allocates it and checkpoint_clear frees it; copies of a checkpoint_t
     * made by assignment share it (the supervision loop owns the one in use).
     */
    char *snapshot;
} checkpoint_t;

/* Frees cp->snapshot and zeroes *cp. */
void checkpoint_clear(checkpoint_t *cp);

/* Appends the JSON value of cp for slot to out. */
void checkpoint_to_json(const checkpoint_t *cp, const char *slot, strbuf_t *out);

/*
 * Parses a checkpoint value. Returns false with a reason in err when the
 * record is not a sluice checkpoint (a field missing or of the wrong type).
 */
bool checkpoint_from_json(const char *data, size_t len, checkpoint_t *out, char *err,
                          size_t errlen);

#endif
