/*
 * session.h — private to src/core/: what supervisor.c (the retry loop,
 * fencing, the preflight) and session.c (one replication session: check the
 * slot, copy, stream) share. Not part of the supervisor's contract
 * (sluice/core/supervisor.h); nothing outside these two files includes it.
 */
#ifndef SLUICE_CORE_SESSION_H
#define SLUICE_CORE_SESSION_H

#include <signal.h>

#include "sluice/base/checkpoint.h"
#include "sluice/core/pipeline.h"
#include "sluice/core/snapshot_filter.h"
#include "sluice/core/supervisor.h"
#include "sluice/kafka/sink.h"
#include "sluice/pg/lease.h"
#include "sluice/pg/stream.h"

/*
 * What a step tells its caller. Each step's comment names the values it can
 * return. STEP_RETRY comes once the run has started, and before that only for
 * PostgreSQL unreachable within startup.retry.timeout.ms (any other failure
 * at start is an exit); the backoff it asks for is taken by the loop that ran
 * the step, after the session's connections are closed.
 */
typedef enum {
    STEP_CONTINUE,     /* go on with the next step */
    STEP_NEXT_SESSION, /* end this session and begin the next one at once */
    STEP_RETRY,        /* a transient failure: end this session, back off, try again */
    STEP_EXIT,         /* end the run with supervisor_t.exit_code */
    STEP_STANDBY,      /* standby mode: let go of everything, wait for the slot's lease */
} supervisor_step_t;

struct supervisor {
    const config_t *cfg;
    atomic_int *stop;
    bool accept_slot_ahead;
    int exit_code; /* enum sluice_exit, once a step returned STEP_EXIT */
    sink_t *sink;
    checkpoint_t ckpt;
    pipeline_stats_t stats;
    bool started; /* streamed (or copied) at least once: failures are retried from now on */
    int64_t start_ms; /* clock_mono_ms() when the run began (startup.retry.timeout.ms) */
    bool recheck_slot; /* fenced without holding the slot: preflight before fencing back */
    lease_t *lease;    /* standby mode: the slot's lease, held while active (pg/lease.h) */
    /* The preflight's connection, checked and idle, handed to the next session
     * (one connection less at start); NULL once taken or closed. */
    stream_t *preflight_stream;
    stream_identity_t preflight_id;
    int64_t preflight_mono_ms; /* when it was checked */
    /* A producer made before the first preflight (it connects meanwhile) and not
     * yet initialised: open_sink adopts it, so it fences only after the preflight. */
    sink_t *early_sink;
    int backoff_ms;
    /* The slot was just created with an exported snapshot (on the session's connection). */
    bool exported;
    sluice_lsn_t exported_lsn;
    char snapshot_name[64];
    sluice_lsn_t slot_confirmed; /* of the slot found by check_slot */
    int prev_walsender;          /* server pid of the last session's replication connection */
    char prev_walsender_start[64]; /* and its backend_start: a pid alone can be reused */
    int silence_streak; /* sessions in a row that ended on receive_timeout_ms with no transaction */
    snapshot_filter_t *filter;   /* for the session being streamed */
};

/* Ends the run with exit_code (enum sluice_exit): sets sv->exit_code, returns STEP_EXIT. */
supervisor_step_t supervisor_exit(supervisor_t *sv, int exit_code);

/*
 * A PostgreSQL failure of class cls, logged here: STEP_EXIT at start (or on
 * a stop request), STEP_RETRY once running.
 */
supervisor_step_t supervisor_pg_failure(supervisor_t *sv, stream_err_t cls, const char *err);

/*
 * The slot is held by active_pid: waits a little for it to be released
 * (slot is refreshed over s). STEP_CONTINUE once released, STEP_RETRY or
 * STEP_EXIT (another instance holds it: exit 8; a stop: exit 0). In standby
 * mode, holding the lease, it ends the holder instead (STEP_STANDBY if the
 * lease turns out lost).
 */
supervisor_step_t supervisor_wait_slot_released(supervisor_t *sv, stream_t *s, slot_info_t *slot);

/*
 * One replication session on a fenced sink: connect, check the slot, copy
 * what must be copied, stream. Its connections are closed on return.
 * STEP_NEXT_SESSION, STEP_RETRY, STEP_STANDBY or STEP_EXIT.
 */
supervisor_step_t session_run(supervisor_t *sv);

#endif
