/*
 * check_internal.h — what the parts of `sluice check` and `sluice status`
 * share (src/ops/check.c, check_pg.c, check_kafka.c, status.c); not a
 * public header: the contract is include/sluice/ops/check.h.
 */
#ifndef SLUICE_CHECK_INTERNAL_H
#define SLUICE_CHECK_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "sluice/base/buf.h"
#include "sluice/base/checkpoint.h"
#include "sluice/base/config.h"

typedef enum { CK_OK, CK_WARN, CK_FAIL, CK_SKIP } result_t;

typedef struct {
    const config_t *cfg;
    FILE *out;
    int passed, warned, failed, skipped;
} report_t;

/* What the PostgreSQL checks learnt that the Kafka checks need. */
typedef struct {
    bool connected;
    bool slot_exists;
    bool slot_ok;
    sluice_lsn_t slot_confirmed;
    char system_id[32];
    char **topics; /* topics the published tables map to */
    size_t ntopics;
} pg_facts_t;

/* A library's message (libpq, librdkafka) with any secret of the configuration masked. */
const char *check_scrub(const report_t *r, const char *text);

/* One check line, and for warnings and failures an indented "fix:" line. */
void check_report(report_t *r, result_t res, const char *name, const char *fix, const char *fmt,
                  ...) SLUICE_PRINTF(5, 6);

/* Runs sql with up to two text parameters; NULL (and err) on failure. */
PGresult *check_pg_query(PGconn *c, const char *sql, const char *p1, const char *p2, char *err,
                         size_t errlen);

/* The PostgreSQL checks (check_pg.c), filling f. */
void check_postgres(report_t *r, pg_facts_t *f);

/* The Kafka checks (check_kafka.c), with what check_postgres learnt. */
void check_kafka(report_t *r, const pg_facts_t *f);

/* How reading the checkpoint for check or status ended. */
typedef enum {
    CKREAD_OK,      /* *ck is the slot's checkpoint (or none: ck->present false) */
    CKREAD_NO_SINK, /* the consumer could not be made from the configuration (err) */
    CKREAD_FAILED,  /* Kafka did not answer as it should (err) */
    CKREAD_REFUSED  /* Kafka refused sluice's principal: err names the ACL */
} ckread_t;

/* Reads the slot's checkpoint read_committed under a throwaway transactional id
 * (`sluice-status-<slot>`), so the running instance is not fenced. Clear *ck after. */
ckread_t check_read_checkpoint(const config_t *cfg, checkpoint_t *ck, char *err, size_t errlen);

/* A copy of cfg whose transactional id is `sluice-<what>-<slot>`; free with
 * check_throwaway_cfg_free. */
config_t *check_throwaway_cfg(const config_t *cfg, const char *what);
void check_throwaway_cfg_free(config_t *c);

#endif
