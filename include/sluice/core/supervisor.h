/*
 * supervisor.h — `sluice run`: strings the exactly-once protocol together
 * (docs/design.md) and keeps it going until a stop is asked for or a failure must
 * not be retried.
 *
 *   preflight ─► fence (init_transactions) ─► read checkpoint ─► session:
 *       check slot ─► [initial snapshot] ─► stream (pipeline_run)
 *
 *   and by how a session ended:
 *     PostgreSQL lost, Kafka transaction aborted     back off, next session
 *     producer unusable                              back off, fence again with a
 *                                                    new producer, next session
 *     fenced, and the slot is no longer ours         preflight again, then fence
 *     a table copy was asked for                     next session at once (copies first)
 *     stopped, fenced by another instance, bad data  exit
 *
 *   In standby mode (standby = true) the preflight hands over to the slot's
 *   lease (pg/lease.h): wait until this instance holds it, taking it from a
 *   holder that stopped renewing it, then fence; an instance fenced by
 *   another one lets go of everything and waits again instead of exiting.
 *
 * Owns: the Kafka sink (the producer that fences older instances and reads
 * the checkpoint), the standby lease, the checkpoint itself between sessions, each session's
 * replication connection, queue, encoder and snapshot filter, the pipeline's
 * counters (bound to the metrics), and the retry loop with its backoff
 * (500 ms doubling to 30 s, reset by every Kafka commit).
 *
 * At start every failure is logged once and ends the run with the documented
 * exit code (common.h, enum sluice_exit), except that a PostgreSQL or Kafka
 * that cannot be reached yet is tried again, with backoff, until
 * startup.retry.timeout.ms after the start. Once streaming (or copying), a lost
 * PostgreSQL or Kafka is retried with backoff for ever; only a fenced
 * producer, a slot that disagrees with the checkpoint, or data Kafka cannot
 * take end the run.
 *
 * Never: parses the command line or the configuration file, installs signal
 * handlers (the caller owns the stop flag), starts the metrics HTTP server,
 * decodes or encodes a change (the pipeline and the snapshot engine do), or
 * confirms a position to PostgreSQL (the pipeline does, and only what a
 * Kafka commit holds). Before fencing it checks that no other instance
 * streams from the slot, so a second instance started by mistake stops
 * instead of fencing the first.
 */
#ifndef SLUICE_SUPERVISOR_H
#define SLUICE_SUPERVISOR_H

#include <signal.h>
#include <stdatomic.h>

#include "sluice/base/common.h"
#include "sluice/base/config.h"

typedef struct supervisor supervisor_t;

/*
 * A supervisor for one `sluice run`. Gives the metrics its identity, the
 * state "starting" and its counters (metrics_bind_stats): start the metrics
 * server after this, stop it before supervisor_free.
 * cfg and stop are borrowed and must outlive it; stop is set by the caller
 * (a signal) and polled by every step that waits. accept_slot_ahead: start
 * even though the slot is ahead of the checkpoint (--accept-slot-ahead).
 */
supervisor_t *supervisor_new(const config_t *cfg, bool accept_slot_ahead,
                             atomic_int *stop);

/*
 * Runs until *stop (EXIT_OK, everything committed confirmed) or a failure
 * that is not retried; returns the process's exit code (enum sluice_exit).
 * On return the sink is closed and the metrics state is "stopping".
 */
int supervisor_run(supervisor_t *sv);

/* Frees sv (NULL is fine) and unbinds its counters from the metrics. */
void supervisor_free(supervisor_t *sv);

#endif
