/*
 * supervisor.c — `sluice run` (supervisor.h): the retry loop around
 * sessions, the fence and checkpoint read (steps 1 and 2), the preflight
 * that comes before any fence, and what a PostgreSQL failure means.
 * One session's steps are in session.c.
 *
 * Every step returns a supervisor_step_t saying what its caller does next;
 * the exit code travels beside it in supervisor_t.exit_code, set only by
 * supervisor_exit(). A failure is logged once, by the step that decides
 * what it means.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base/buf.h"
#include "sluice/base/clock.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/core/supervisor.h"

#include "session.h"

supervisor_step_t supervisor_exit(supervisor_t *sv, int exit_code)
{
    sv->exit_code = exit_code;
    return STEP_EXIT;
}

static void sleep_ms(supervisor_t *sv, int ms)
{
    for (int waited = 0; waited < ms && !*sv->stop; waited += 50)
        usleep(50 * 1000);
}

static void backoff(supervisor_t *sv)
{
    sv->backoff_ms = sv->backoff_ms ? sv->backoff_ms * 2 : 500;
    if (sv->backoff_ms > 30000)
        sv->backoff_ms = 30000;
    sleep_ms(sv, sv->backoff_ms);
}

/* ------------------------------------------------------------------------ */
/* Steps 1 and 2: fence, read the checkpoint                                 */

static void log_checkpoint_found(const supervisor_t *sv)
{
    const checkpoint_t *ck = &sv->ckpt;
    if (!ck->present) {
        log_info("no checkpoint for slot \"%s\" in \"%s\": fresh start", sv->cfg->slot,
                 sv->cfg->checkpoint_topic);
        return;
    }
    log_info("checkpoint: Kafka transaction %" PRIu64 " holds changes up to " LSN_FMT
             " (last transaction %u, commit " LSN_FMT ")",
             ck->seq, LSN_ARGS(ck->end_lsn), ck->xid, LSN_ARGS(ck->commit_lsn));
    /* WAL records end on 8-byte boundaries: an end one byte past one is
     * what earlier builds wrote after a non-transactional message. */
    if ((ck->end_lsn & 7) == 1)
        log_warning("the checkpoint ends at " LSN_FMT ", one byte past a logical message, "
                    "as sluice builds before the fix of 2026-12-03 wrote it: if a "
                    "transaction's commit record began exactly at " LSN_FMT ", "
                    "PostgreSQL skipped that transaction; compare the tables it may have "
                    "written with their topics",
                    LSN_ARGS(ck->end_lsn), LSN_ARGS(ck->end_lsn - 1));
}

/* One attempt at steps 1 and 2 on sv->sink. SINK_OK: the checkpoint is in sv->ckpt. */
static sink_status_t fence_and_read_checkpoint(supervisor_t *sv, char *err, size_t errlen)
{
    int timeout_ms = sv->cfg->kafka_startup_timeout_ms;
    sink_status_t st = sink_init_transactions(sv->sink, timeout_ms, err, errlen);
    if (st == SINK_OK)
        st = sink_ensure_topic(sv->sink, sv->cfg->checkpoint_topic, true, timeout_ms, err, errlen);
    if (st == SINK_OK)
        checkpoint_clear(&sv->ckpt);
    if (st == SINK_OK)
        st = sink_read_checkpoint(sv->sink, sv->cfg->slot, &sv->ckpt, timeout_ms, err, errlen);
    return st;
}

/*
 * Steps 1 and 2: a new producer fences every older instance, then the
 * checkpoint is read read_committed. Kafka being away is waited for (up to
 * startup.timeout.ms at start, for ever once running). STEP_CONTINUE or STEP_EXIT.
 */
static supervisor_step_t open_sink(supervisor_t *sv)
{
    char err[1024];
    int64_t deadline = clock_mono_ms() + sv->cfg->kafka_startup_timeout_ms;
    for (;;) {
        if (!sv->sink) {
            sv->sink = sink_new(sv->cfg, sv->stop, err, sizeof err);
            if (!sv->sink) {
                char clean[1024];
                config_redact(sv->cfg, err, clean, sizeof clean);
                log_fatal("%s", clean);
                return supervisor_exit(sv, EXIT_CONFIG);
            }
        }
        sink_status_t st = fence_and_read_checkpoint(sv, err, sizeof err);
        if (st == SINK_OK) {
            log_checkpoint_found(sv);
            return STEP_CONTINUE;
        }
        if (st == SINK_STOPPED)
            return supervisor_exit(sv, EXIT_OK);
        if (st == SINK_FENCED) {
            log_fatal("%s: another sluice instance with transactional id \"%s\" took over",
                      err, sv->cfg->transactional_id);
            return supervisor_exit(sv, EXIT_FENCED);
        }
        if (st == SINK_DATA) {
            log_fatal("%s", err);
            return supervisor_exit(sv, EXIT_KAFKA);
        }
        if (!sv->started && clock_mono_ms() >= deadline) {
            log_fatal("%s: is Kafka at \"%s\" reachable, and are transactions enabled "
                      "(transaction.state.log.* settings)?",
                      err, config_kafka_get(sv->cfg, "bootstrap.servers"));
            return supervisor_exit(sv, EXIT_KAFKA);
        }
        log_warning("%s; retrying", err);
        metrics_error(MERR_KAFKA_UNAVAILABLE);
        metrics_set_state(sv->started ? MSTATE_RECOVERING : MSTATE_STARTING, err);
        if (st == SINK_FATAL) {
            sink_free(sv->sink);
            sv->sink = NULL;
        }
        backoff(sv);
        if (*sv->stop)
            return supervisor_exit(sv, EXIT_OK);
    }
}

/* ------------------------------------------------------------------------ */
/* PostgreSQL: failures, the preflight, the slot                             */

supervisor_step_t supervisor_pg_failure(supervisor_t *sv, stream_err_t cls, const char *raw_err)
{
    /* libpq's connection errors should never quote a password; make sure. (Other
     * classes carry sluice's own texts, with object names that must stay readable.) */
    char err[1024];
    if (cls == STREAM_ERR_CONNECT)
        config_redact(sv->cfg, raw_err, err, sizeof err);
    else
        snprintf(err, sizeof err, "%s", raw_err);
    metrics_error(cls == STREAM_ERR_CONNECT ? MERR_PG_CONNECT : MERR_PG_LOST);
    if (*sv->stop) {
        /* SIGTERM came while PostgreSQL was being reached (a connect can take
         * connect_timeout): the operator asked for a stop, and nothing was
         * confirmed, so this is the ordinary stop, not a failure to retry. */
        log_warning("%s; stopping as requested", err);
        return supervisor_exit(sv, EXIT_OK);
    }
    if (sv->started)
        metrics_set_state(MSTATE_RECOVERING, err);
    if (cls == STREAM_ERR_SETUP) {
        log_fatal("%s", err);
        return supervisor_exit(sv, EXIT_PG_SETUP);
    }
    if (!sv->started) {
        log_fatal("%s", err);
        /* A connection that broke while starting (a server restart just then) is as
         * transient as one that could not be made: exit 4, which a supervisor retries. */
        bool transient = cls == STREAM_ERR_CONNECT || cls == STREAM_ERR_LOST;
        return supervisor_exit(sv, transient ? EXIT_PG_CONNECT : EXIT_INTERNAL);
    }
    log_warning("%s; retrying", err);
    return STEP_RETRY;
}

/*
 * True if the slot's holder is the walsender of this process's own last
 * connection: same pid and same backend start, so not a reused pid.
 */
static bool held_by_previous_session(supervisor_t *sv, stream_t *s, const slot_info_t *slot)
{
    char holder_start[64] = "", err[1024];
    return sv->prev_walsender && slot->active_pid == sv->prev_walsender &&
           sv->prev_walsender_start[0] &&
           !stream_backend_start(s, slot->active_pid, holder_start, sizeof holder_start, err,
                                 sizeof err) &&
           strcmp(holder_start, sv->prev_walsender_start) == 0;
}

/*
 * A slot stays active for a moment after its client died (PostgreSQL notices
 * the closed socket on its next read): wait a little before concluding that
 * another instance owns it. STEP_CONTINUE once released, STEP_RETRY or STEP_EXIT.
 */
supervisor_step_t supervisor_wait_slot_released(supervisor_t *sv, stream_t *s, slot_info_t *slot)
{
    char err[1024];
    int64_t begun = clock_mono_ms(), deadline = begun + 15000;
    int pid = slot->active_pid;
    bool terminated = false;
    while (slot->active_pid && clock_mono_ms() < deadline && !*sv->stop) {
        if (!terminated && clock_mono_ms() - begun >= 1000 &&
            held_by_previous_session(sv, s, slot)) {
            /* A link that died silently: PostgreSQL notices only at its
             * wal_sender_timeout. The walsender serves nobody; end it rather
             * than take it for another instance. */
            log_warning("replication slot \"%s\" is still held by PostgreSQL backend %d, the "
                        "walsender of this instance's previous connection, which the server has "
                        "not noticed is gone: terminating it",
                        sv->cfg->slot, slot->active_pid);
            stream_err_t e = stream_terminate_backend(s, slot->active_pid, err, sizeof err);
            if (e)
                log_warning("could not terminate backend %d: %s", slot->active_pid, err);
            terminated = true;
        }
        sleep_ms(sv, 250);
        stream_err_t e = stream_slot_info(s, sv->cfg->slot, slot, err, sizeof err);
        if (e)
            return supervisor_pg_failure(sv, e, err);
    }
    if (slot->active_pid) {
        log_fatal("replication slot \"%s\" is in use by PostgreSQL backend %d: another sluice "
                  "instance (or another client) streams from it; refusing to start",
                  sv->cfg->slot, pid);
        return supervisor_exit(sv, EXIT_FENCED);
    }
    return STEP_CONTINUE;
}

/*
 * Before fencing anyone: PostgreSQL is reachable and set up, and no other
 * instance streams from our slot. A second instance started by mistake thus
 * stops here instead of fencing the first. STEP_CONTINUE, STEP_RETRY or STEP_EXIT.
 */
static supervisor_step_t preflight(supervisor_t *sv)
{
    char err[1024];
    stream_err_t cls;
    stream_t *s = stream_connect(sv->cfg->pg_conninfo, &cls, err, sizeof err);
    if (!s)
        return supervisor_pg_failure(sv, cls, err);
    stream_identity_t id;
    stream_wants_t wants = stream_wants_of(sv->cfg);
    cls = stream_identify(s, &id, err, sizeof err);
    if (!cls)
        cls = stream_check_server(s, sv->cfg->publication, &wants, err, sizeof err);
    slot_info_t slot;
    if (!cls)
        cls = stream_slot_info(s, sv->cfg->slot, &slot, err, sizeof err);
    supervisor_step_t st = cls ? supervisor_pg_failure(sv, cls, err) : STEP_CONTINUE;
    if (st == STEP_CONTINUE && slot.exists && slot.active_pid)
        st = supervisor_wait_slot_released(sv, s, &slot);
    stream_close(s);
    return st;
}

/*
 * After a fence while not holding the slot: preflight again before the next
 * fence, backing off while PostgreSQL is away. STEP_CONTINUE or STEP_EXIT.
 */
static supervisor_step_t recheck_slot(supervisor_t *sv)
{
    supervisor_step_t st = STEP_CONTINUE;
    while (sv->recheck_slot && !*sv->stop) {
        st = preflight(sv);
        if (st == STEP_RETRY) {
            backoff(sv);
            continue;
        }
        sv->recheck_slot = false;
    }
    return st == STEP_RETRY ? STEP_CONTINUE : st;
}

/* ------------------------------------------------------------------------ */

supervisor_t *supervisor_new(const config_t *cfg, bool accept_slot_ahead,
                             volatile sig_atomic_t *stop)
{
    supervisor_t *sv = xcalloc(1, sizeof *sv);
    sv->cfg = cfg;
    sv->stop = stop;
    sv->accept_slot_ahead = accept_slot_ahead;
    sv->exit_code = EXIT_INTERNAL; /* a run that ends without a step's verdict is a bug */
    metrics_set_identity(cfg->slot, cfg->publication, cfg->transactional_id);
    metrics_set_state(MSTATE_STARTING, "preflight");
    metrics_bind_stats(&sv->stats.counts);
    return sv;
}

int supervisor_run(supervisor_t *sv)
{
    supervisor_step_t st = preflight(sv); /* not started yet: STEP_CONTINUE or STEP_EXIT */
    while (st == STEP_CONTINUE) {
        if (!sv->sink) { /* first time, or dropped after a fatal or fenced producer */
            st = open_sink(sv);
            if (st == STEP_EXIT)
                break;
        }
        if (*sv->stop) {
            supervisor_exit(sv, EXIT_OK);
            break;
        }
        st = session_run(sv);
        if (st == STEP_EXIT)
            break;
        if (st == STEP_RETRY)
            backoff(sv);
        st = *sv->stop ? supervisor_exit(sv, EXIT_OK) : recheck_slot(sv);
    }
    metrics_set_state(MSTATE_STOPPING, "exiting");
    sink_free(sv->sink);
    sv->sink = NULL;
    checkpoint_clear(&sv->ckpt);
    return sv->exit_code;
}

void supervisor_free(supervisor_t *sv)
{
    if (!sv)
        return;
    metrics_bind_stats(NULL);
    snapshot_filter_free(sv->filter);
    free(sv);
}
