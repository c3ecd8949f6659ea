/*
 * testpoint.h — named crash points for the fault tests.
 *
 * SLUICE_CRASH_AT="after_commit:3" makes the process kill itself with SIGKILL
 * the third time it passes the point "after_commit", so a test can crash
 * sluice exactly between two steps of the exactly-once protocol (for
 * example after the Kafka commit and before the LSN is confirmed). Unset,
 * a test point costs one branch. Up to four points, comma-separated, each
 * name[:n[:KILL|STOP|TERM|SLEEP<s>]]: STOP freezes the process there (a test
 * sends SIGCONT), TERM asks for the graceful stop there, as a signal at
 * exactly that moment would, SLEEP8 holds only the thread that got there for
 * 8 s (slow work at that step, while the other threads go on). Points:
 *   mid_txn        after producing a change, inside a source transaction
 *   before_commit  after the checkpoint record is produced, before commit
 *   after_commit   after the Kafka commit, before the LSN is handed to the reader
 *   after_confirm  after a new flush LSN was sent to PostgreSQL
 *   recheck_slot   fenced without holding the slot, before the preflight
 *                  that comes before fencing again
 *   fence_cause    a streaming session's pipeline ended, where the supervisor
 *                  decides what a fencing meant (it may ask PostgreSQL over a
 *                  second connection) before closing the replication connection
 *   topic_given_up the streaming pipeline's lookup of a table's topic failed
 *                  its last attempt, before the session ends on it
 */
#ifndef SLUICE_TESTPOINT_H
#define SLUICE_TESTPOINT_H

#include "sluice/base/common.h"

/* Reads SLUICE_CRASH_AT once; call before starting threads. */
void testpoint_init(void);

void testpoint_hit_slow(const char *name);

extern bool testpoint_armed;

static inline void testpoint_hit(const char *name)
{
    if (testpoint_armed)
        testpoint_hit_slow(name);
}

#endif
