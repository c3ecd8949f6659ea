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
#include "sluice/base/testpoint.h"
#include "sluice/core/supervisor.h"
#include "sluice/pg/lease.h"

#include "session.h"

supervisor_step_t supervisor_exit(supervisor_t *sv, int exit_code)
{
    sv->exit_code = exit_code;
    return STEP_EXIT;
}

static void sleep_ms(supervisor_t *sv, int ms)
{
    for (int waited = 0; waited < ms && !*sv->stop; waited += 50)
        usleep((useconds_t) (ms - waited < 50 ? ms - waited : 50) * 1000);
}

/* 500 ms doubling to 30 s; to 5 s while starting, so that a peer coming up is found soon. */
static void backoff(supervisor_t *sv)
{
    int cap = sv->started ? 30000 : 5000;
    sv->backoff_ms = sv->backoff_ms ? sv->backoff_ms * 2 : 500;
    if (sv->backoff_ms > cap)
        sv->backoff_ms = cap;
    sleep_ms(sv, sv->backoff_ms);
}

/* Before anything streamed: ms of startup.retry.timeout.ms left (0 when it has run out). */
static int64_t startup_retry_left_ms(const supervisor_t *sv)
{
    int64_t left = sv->start_ms + sv->cfg->startup_retry_timeout_ms - clock_mono_ms();
    return sv->started || left < 0 ? 0 : left;
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
    int64_t t0 = clock_mono_ms();
    sink_status_t st = sink_init_transactions(sv->sink, timeout_ms, err, errlen);
    int64_t t1 = clock_mono_ms();
    if (st == SINK_OK)
        st = sink_ensure_topic(sv->sink, sv->cfg->checkpoint_topic, true, timeout_ms, err, errlen);
    int64_t t2 = clock_mono_ms();
    if (st == SINK_OK)
        checkpoint_clear(&sv->ckpt);
    if (st == SINK_OK)
        st = sink_read_checkpoint(sv->sink, sv->cfg->slot, &sv->ckpt, timeout_ms, err, errlen);
    log_debug("fence %" PRId64 " ms, checkpoint topic %" PRId64 " ms, checkpoint read %" PRId64
              " ms",
              t1 - t0, t2 - t1, clock_mono_ms() - t2);
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
    if (deadline < clock_mono_ms() + startup_retry_left_ms(sv))
        deadline = clock_mono_ms() + startup_retry_left_ms(sv);
    for (;;) {
        if (*sv->stop) /* never fence anyone on the way out */
            return supervisor_exit(sv, EXIT_OK);
        if (!sv->sink) {
            sv->sink = sv->early_sink;
            sv->early_sink = NULL;
            if (!sv->sink)
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
        if (st == SINK_FENCED && sv->cfg->standby) {
            log_warning("%s: another sluice instance with transactional id \"%s\" took over; "
                        "back to standby",
                        err, sv->cfg->transactional_id);
            return STEP_STANDBY;
        }
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
        /* A connection that broke while starting (a server restart just then) is as
         * transient as one that could not be made: tried again for startup.retry.timeout.ms,
         * then exit 4, which a supervisor retries. */
        bool transient = cls == STREAM_ERR_CONNECT || cls == STREAM_ERR_LOST;
        int64_t left = transient ? startup_retry_left_ms(sv) : 0;
        if (left > 0) {
            log_warning("%s; retrying for up to %" PRId64 " s more (startup.retry.timeout.ms)",
                        err, (left + 999) / 1000);
            metrics_set_state(MSTATE_STARTING, err);
            return STEP_RETRY;
        }
        log_fatal("%s", err);
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
 * Standby mode, holding the lease and having fenced the previous producer:
 * the slot's walsender belongs to an instance that lost the lease (frozen,
 * cut off, or gone without PostgreSQL noticing yet) or to one not in standby
 * mode. It can no longer write to Kafka, and so confirms nothing new: end
 * it (and any that grabs the slot after it) rather than wait for PostgreSQL
 * to notice. STEP_CONTINUE once released; STEP_STANDBY if the lease is lost
 * or the slot stays held for standby.takeover.timeout.ms; STEP_EXIT on a stop.
 */
static supervisor_step_t evict_slot_holder(supervisor_t *sv, stream_t *s, slot_info_t *slot)
{
    char err[1024];
    int64_t begun = clock_mono_ms();
    int ended = 0;
    while (slot->active_pid && !*sv->stop) {
        if (clock_mono_ms() - begun > sv->cfg->standby_takeover_timeout_ms) {
            log_warning("replication slot \"%s\" is still held by PostgreSQL backend %d after %d "
                        "ms: giving up the lease and going back to standby",
                        sv->cfg->slot, slot->active_pid, sv->cfg->standby_takeover_timeout_ms);
            return STEP_STANDBY;
        }
        if (slot->active_pid != ended) {
            /* Only the lease's holder may end anyone: renew first, since the
             * heartbeat notices a lost lease only at its next renewal. */
            if (!lease_renew(sv->lease)) {
                log_warning("this instance lost the lease of slot \"%s\": back to standby",
                            sv->cfg->slot);
                return STEP_STANDBY;
            }
            log_info("replication slot \"%s\" is held by PostgreSQL backend %d, the walsender of "
                     "an instance that no longer holds the lease (its producer is fenced): "
                     "ending it",
                     sv->cfg->slot, slot->active_pid);
            stream_err_t e = stream_terminate_backend(s, slot->active_pid, err, sizeof err);
            if (e)
                log_warning("could not terminate backend %d: %s", slot->active_pid, err);
            ended = slot->active_pid;
        }
        sleep_ms(sv, 20);
        stream_err_t e = stream_slot_info(s, sv->cfg->slot, slot, err, sizeof err);
        if (e)
            return supervisor_pg_failure(sv, e, err);
    }
    if (*sv->stop) {
        log_info("stopping as requested while the slot was being released");
        return supervisor_exit(sv, EXIT_OK);
    }
    return STEP_CONTINUE;
}

/*
 * A slot stays active for a moment after its client died (PostgreSQL notices
 * the closed socket on its next read): wait a little before concluding that
 * another instance owns it. STEP_CONTINUE once released, STEP_RETRY,
 * STEP_STANDBY or STEP_EXIT.
 */
supervisor_step_t supervisor_wait_slot_released(supervisor_t *sv, stream_t *s, slot_info_t *slot)
{
    if (sv->lease)
        return evict_slot_holder(sv, s, slot);
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
        /* A stopped instance's walsender exits within milliseconds: look often at
         * first, so that a restart does not wait a whole poll interval for it. */
        sleep_ms(sv, clock_mono_ms() - begun < 1000 ? 20 : 250);
        stream_err_t e = stream_slot_info(s, sv->cfg->slot, slot, err, sizeof err);
        if (e)
            return supervisor_pg_failure(sv, e, err);
    }
    if (*sv->stop) {
        /* A stop asked for while waiting is the ordinary stop: nothing was fenced or
         * confirmed, whoever holds the slot. */
        log_info("stopping as requested while waiting for replication slot \"%s\" (held by "
                 "PostgreSQL backend %d)",
                 sv->cfg->slot, pid);
        return supervisor_exit(sv, EXIT_OK);
    }
    if (slot->active_pid) {
        log_fatal("replication slot \"%s\" is in use by PostgreSQL backend %d: another sluice "
                  "instance (or another client) streams from it; refusing to start (run every "
                  "instance with standby = true to have one wait and take over)",
                  sv->cfg->slot, pid);
        return supervisor_exit(sv, EXIT_FENCED);
    }
    log_debug("replication slot \"%s\" was released by backend %d after %" PRId64 " ms",
              sv->cfg->slot, pid, clock_mono_ms() - begun);
    return STEP_CONTINUE;
}

/*
 * Before fencing anyone: PostgreSQL is reachable and set up, and no other
 * instance streams from our slot. A second instance started by mistake thus
 * stops here instead of fencing the first. In standby mode the lease decides
 * instead (STEP_STANDBY). STEP_CONTINUE, STEP_STANDBY, STEP_RETRY or STEP_EXIT.
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
    if (st == STEP_CONTINUE && sv->cfg->standby)
        st = STEP_STANDBY; /* the lease decides who streams, not the slot (standby_wait) */
    else if (st == STEP_CONTINUE && slot.exists && slot.active_pid)
        st = supervisor_wait_slot_released(sv, s, &slot);
    if (st == STEP_CONTINUE) {
        /* Checked and idle: the first session streams on it (session_connect). */
        stream_close(sv->preflight_stream);
        sv->preflight_stream = s;
        sv->preflight_id = id;
        sv->preflight_mono_ms = clock_mono_ms();
        return st;
    }
    stream_close(s);
    return st;
}

/*
 * After a fence while not holding the slot: preflight again before the next
 * fence, backing off while PostgreSQL is away. STEP_CONTINUE, STEP_STANDBY or STEP_EXIT.
 */
static supervisor_step_t recheck_slot(supervisor_t *sv)
{
    supervisor_step_t st = STEP_CONTINUE;
    while (sv->recheck_slot) {
        testpoint_hit("recheck_slot");
        if (*sv->stop) { /* before the next fence, never after it */
            log_info("stopping as requested, before fencing again");
            return supervisor_exit(sv, EXIT_OK);
        }
        st = preflight(sv);
        if (st == STEP_RETRY) {
            backoff(sv);
            continue;
        }
        sv->recheck_slot = false;
    }
    return st;
}

/* ------------------------------------------------------------------------ */
/* Hot standby                                                               */

/* Leaves the active role: the producer, the checkpoint read with it and the lease go. */
static void step_down(supervisor_t *sv)
{
    sink_free(sv->sink);
    sv->sink = NULL;
    checkpoint_clear(&sv->ckpt);
    lease_close(sv->lease);
    sv->lease = NULL;
    sv->recheck_slot = false;
}

/* "backend 4711 (client 10.0.0.5)" for the holder of the lease in v. */
static void describe_holder(const lease_view_t *v, char *out, size_t outlen)
{
    snprintf(out, outlen, "PostgreSQL backend %d%s%s%s", v->holder_pid,
             v->holder_client[0] ? " (client " : "", v->holder_client,
             v->holder_client[0] ? ")" : "");
}

/*
 * Standby mode (docs/design.md, "Hot standby"): waits until this instance
 * holds the slot's lease, taking it from a holder that has not renewed it
 * for standby.takeover.timeout.ms (a holder that exited or lost its
 * connection frees it at once). Whatever this instance held before is let go
 * first: a takeover always fences and reads the checkpoint afresh.
 * STEP_CONTINUE with the lease held and renewed by its heartbeat, or STEP_EXIT
 * on a stop.
 */
static supervisor_step_t standby_wait(supervisor_t *sv)
{
    const config_t *cfg = sv->cfg;
    char err[1024], holder[160], reason[1400];
    int stale_ms = 3 * cfg->standby_poll_interval_ms > 10000 ? 3 * cfg->standby_poll_interval_ms
                                                             : 10000;
    int logged_holder = 0, ended_holder = 0;
    int64_t ended_at = 0;
    bool waited = false, failing = false, warned_invisible = false;
    step_down(sv);
    for (;;) {
        if (*sv->stop) {
            log_info("stopping as requested%s", waited ? " (standby)" : "");
            return supervisor_exit(sv, EXIT_OK);
        }
        stream_err_t cls = STREAM_OK;
        if (!sv->lease)
            sv->lease = lease_connect(cfg->pg_conninfo, cfg->slot, true, &cls, err, sizeof err);
        lease_view_t v;
        if (sv->lease)
            cls = lease_look(sv->lease, &v, err, sizeof err);
        bool acquired = false;
        if (!cls && v.holder_pid == 0)
            cls = lease_try_acquire(sv->lease, &acquired, err, sizeof err);
        if (cls) {
            /* PostgreSQL away: a standby keeps waiting for it (it cannot take over
             * meanwhile, and /healthz turns 503 once the lease goes unseen). */
            char clean[1024];
            config_redact(cfg, err, clean, sizeof clean);
            if (!failing)
                log_warning("standby: cannot watch the lease of slot \"%s\": %s; retrying",
                            cfg->slot, clean);
            failing = true;
            metrics_error(cls == STREAM_ERR_CONNECT ? MERR_PG_CONNECT : MERR_PG_LOST);
            snprintf(reason, sizeof reason, "standby: cannot watch the lease of slot \"%s\": %s",
                     cfg->slot, clean);
            metrics_set_state(MSTATE_STANDBY, reason);
            lease_close(sv->lease);
            sv->lease = NULL;
            backoff(sv);
            continue;
        }
        if (failing)
            log_info("standby: watching the lease of slot \"%s\" again", cfg->slot);
        failing = false;
        sv->backoff_ms = 0;
        if (acquired)
            break;
        if (v.holder_pid == 0)
            continue; /* another standby took it between our look and our try: look again */
        waited = true;
        describe_holder(&v, holder, sizeof holder);
        if (v.holder_idle_ms > cfg->standby_takeover_timeout_ms) {
            if (v.holder_pid != ended_holder) {
                log_warning("standby: the active instance of slot \"%s\" (lease held by %s) has "
                            "not renewed its lease for %" PRId64 " ms "
                            "(standby.takeover.timeout.ms = %d): ending its session and taking "
                            "over",
                            cfg->slot, holder, v.holder_idle_ms, cfg->standby_takeover_timeout_ms);
                cls = lease_terminate(sv->lease, v.holder_pid, err, sizeof err);
                if (cls)
                    log_warning("could not end backend %d: %s", v.holder_pid, err);
                ended_holder = v.holder_pid;
                ended_at = clock_mono_ms();
            } else if (clock_mono_ms() - ended_at > cfg->standby_takeover_timeout_ms) {
                ended_holder = 0; /* still there: try again (and say so) */
            }
            sleep_ms(sv, 20); /* the backend exits, and frees the lock, within moments */
            continue;
        }
        if (v.holder_pid != logged_holder) {
            log_info("standby: slot \"%s\" is streamed by the instance holding its lease (%s); "
                     "taking over when that instance stops, or stops renewing the lease for "
                     "%d ms",
                     cfg->slot, holder, cfg->standby_takeover_timeout_ms);
            logged_holder = v.holder_pid;
        }
        if (v.holder_idle_ms < 0 && !warned_invisible) {
            log_warning("standby: this role cannot see the activity of %s (grant it "
                        "pg_read_all_stats, or run every instance as the same role): the active "
                        "instance is then replaced only when its session ends, not when it "
                        "freezes",
                        holder);
            warned_invisible = true;
        }
        snprintf(reason, sizeof reason,
                 "standby: the lease of slot \"%s\" is held by %s, renewed %.1f s ago; %d other "
                 "standby instance(s)",
                 cfg->slot, holder, v.holder_idle_ms < 0 ? 0.0 : (double) v.holder_idle_ms / 1000,
                 v.standbys);
        metrics_set_state(MSTATE_STANDBY, reason);
        metrics_standby_seen(stale_ms);
        sleep_ms(sv, cfg->standby_poll_interval_ms);
    }
    lease_heartbeat_start(sv->lease, cfg->standby_poll_interval_ms);
    if (waited) {
        log_info("took over the lease of slot \"%s\": fencing the previous instance and resuming "
                 "from the checkpoint",
                 cfg->slot);
        metrics_takeover();
    } else {
        log_info("holding the lease of slot \"%s\": this instance is the active one", cfg->slot);
    }
    metrics_set_state(sv->started ? MSTATE_RECOVERING : MSTATE_STARTING, "taking over the slot");
    return STEP_CONTINUE;
}

/* ------------------------------------------------------------------------ */

supervisor_t *supervisor_new(const config_t *cfg, bool accept_slot_ahead,
                             atomic_int *stop)
{
    supervisor_t *sv = xcalloc(1, sizeof *sv);
    sv->cfg = cfg;
    sv->stop = stop;
    sv->accept_slot_ahead = accept_slot_ahead;
    sv->exit_code = EXIT_INTERNAL; /* a run that ends without a step's verdict is a bug */
    sv->start_ms = clock_mono_ms();
    metrics_set_identity(cfg->slot, cfg->publication, cfg->transactional_id);
    metrics_set_state(MSTATE_STARTING, "preflight");
    metrics_bind_stats(&sv->stats.counts);
    return sv;
}

int supervisor_run(supervisor_t *sv)
{
    int64_t t0 = clock_mono_ms();
    if (!sv->cfg->standby) {
        /* Created now, the producer finds its brokers while the preflight talks
         * to PostgreSQL; it fences nobody until open_sink calls init_transactions
         * (after the preflight). A failure here is reported by open_sink. */
        char err[1024];
        sv->early_sink = sink_new(sv->cfg, sv->stop, err, sizeof err);
    }
    /* Not started yet: STEP_CONTINUE, STEP_STANDBY or STEP_EXIT, or STEP_RETRY while
     * PostgreSQL is away and startup.retry.timeout.ms has time left. */
    supervisor_step_t st = preflight(sv);
    while (st == STEP_RETRY) {
        backoff(sv);
        st = *sv->stop ? supervisor_exit(sv, EXIT_OK) : preflight(sv);
    }
    log_debug("preflight %" PRId64 " ms", clock_mono_ms() - t0);
    for (;;) {
        if (st == STEP_STANDBY)
            st = standby_wait(sv);
        if (st == STEP_EXIT)
            break;
        if (*sv->stop) {
            supervisor_exit(sv, EXIT_OK);
            break;
        }
        if (sv->cfg->standby && !lease_renew(sv->lease)) {
            /* The lease's session ended (PostgreSQL restarted, the link broke, or a
             * standby ended it): whoever holds it now streams; take it back only
             * through the standby's wait. */
            log_warning("this instance no longer holds the lease of slot \"%s\": back to "
                        "standby",
                        sv->cfg->slot);
            st = STEP_STANDBY;
            continue;
        }
        if (!sv->sink) { /* first time, or dropped after a fatal or fenced producer */
            st = open_sink(sv);
            if (st != STEP_CONTINUE)
                continue;
        }
        st = session_run(sv);
        if (st == STEP_EXIT || st == STEP_STANDBY)
            continue;
        if (st == STEP_RETRY)
            backoff(sv);
        st = *sv->stop ? supervisor_exit(sv, EXIT_OK) : recheck_slot(sv);
    }
    metrics_set_state(MSTATE_STOPPING, "exiting");
    stream_close(sv->preflight_stream);
    sv->preflight_stream = NULL;
    sink_free(sv->early_sink);
    sv->early_sink = NULL;
    sink_free(sv->sink);
    sv->sink = NULL;
    lease_close(sv->lease);
    sv->lease = NULL;
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
