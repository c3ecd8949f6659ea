/*
 * check.c — `sluice check` (preflight): runs the PostgreSQL checks
 * (check_pg.c) and the Kafka checks (check_kafka.c) and prints one line per
 * check; `sluice status` is status.c. What they share is check_internal.h.
 *
 * Both commands only read. PostgreSQL is asked over an ordinary session (so a role
 * without REPLICATION can still be diagnosed) plus one replication
 * connection to prove that streaming will be allowed. Kafka is asked over a
 * plain producer (metadata, validate-only topic creation) and a transactional
 * producer with the throwaway id `sluice-check-<slot>`: init_transactions on
 * it proves transactions work without fencing the real `transactional.id`.
 * The checkpoint is read read_committed by a consumer (sink_read_checkpoint),
 * which needs no transactional id at all.
 *
 * Every line a user sees names the problem and the fix; libpq and librdkafka
 * texts pass through config_redact, so no secret is ever printed.
 */
#include "sluice/ops/check.h"

#include <stdarg.h>
#include <stdlib.h>

#include "check_internal.h"

const char *check_scrub(const report_t *r, const char *text)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    config_redact(r->cfg, text, b, sizeof bufs[0]);
    return b;
}

void check_report(report_t *r, result_t res, const char *name, const char *fix, const char *fmt,
                  ...)
{
    static const char *const tags[] = {"ok  ", "warn", "FAIL", "skip"};
    char detail[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    size_t n = strlen(detail);
    while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == ' ' || detail[n - 1] == '.'))
        detail[--n] = '\0';
    for (char *c = detail; *c; c++)
        if (*c == '\n')
            *c = ' ';
    fprintf(r->out, "  %s  %s: %s\n", tags[res], name, detail);
    if (fix && (res == CK_FAIL || res == CK_WARN))
        fprintf(r->out, "        fix: %s\n", fix);
    switch (res) {
    case CK_OK: r->passed++; break;
    case CK_WARN: r->warned++; break;
    case CK_FAIL: r->failed++; break;
    case CK_SKIP: r->skipped++; break;
    }
}

int check_run(const config_t *cfg, FILE *out)
{
    report_t r = {.cfg = cfg, .out = out};
    pg_facts_t f = {0};
    fprintf(out, "PostgreSQL (slot \"%s\", publication \"%s\"):\n", cfg->slot, cfg->publication);
    check_postgres(&r, &f);
    fprintf(out, "Kafka (transactional id \"%s\", checkpoint topic \"%s\"):\n",
            cfg->transactional_id, cfg->checkpoint_topic);
    check_kafka(&r, &f);
    for (size_t i = 0; i < f.ntopics; i++)
        free(f.topics[i]);
    free(f.topics);
    fprintf(out, "%d passed, %d failed, %d warnings, %d skipped\n", r.passed, r.failed, r.warned,
            r.skipped);
    return r.failed;
}
