/*
 * check.h — the operator's commands that look without touching:
 *
 *   sluice check   preflight: every prerequisite of `sluice run` on the
 *                  PostgreSQL and Kafka side, one line per check with ok /
 *                  warn / FAIL and, for each problem, the fix
 *   sluice status  where the running (or stopped) pipeline stands: slot lag,
 *                  the checkpoint Kafka holds, the last source commit in it
 *
 * Neither fences the running instance: Kafka transactions are tried with the
 * throwaway transactional id `sluice-check-<slot>`, and the checkpoint is
 * read read_committed by a consumer without touching the producer's id.
 * Nothing is created or changed (topic creation is only validated).
 */
#ifndef SLUICE_CHECK_H
#define SLUICE_CHECK_H

#include <stdio.h>

#include "sluice/base/config.h"

/* Runs every check, printing to out. Returns the number of failed checks. */
int check_run(const config_t *cfg, FILE *out);

/* Prints the status report to out. Returns an exit code (common.h). */
int status_run(const config_t *cfg, FILE *out);

#endif
