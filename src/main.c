/*
 * main.c — command line, signals, and the supervision loop that strings the
 * exactly-once protocol together (DESIGN.md):
 *
 *   fence (init_transactions) → read checkpoint → check slot → stream
 *        ↑                                                        │
 *        └──── rebuild producer ◄── fatal ── pipeline_run ── rewind / lost ──► reconnect
 *
 * At start every failure is reported and exits with a documented code
 * (common.h). Once streaming, a lost PostgreSQL or Kafka is retried with
 * backoff for ever; only a fenced producer, a slot that disagrees with the
 * checkpoint, or data Kafka cannot take end the process.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/clock.h"
#include "sluice/ops/check.h"
#include "sluice/base/checkpoint.h"
#include "sluice/base/config.h"
#include "sluice/encode/encode.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/ops/metrics_server.h"
#include "sluice/core/pipeline.h"
#include "sluice/base/queue.h"
#include "sluice/kafka/sink.h"
#include "sluice/core/snapshot.h"
#include "sluice/core/snapshot_filter.h"
#include "sluice/pg/stream.h"
#include "sluice/base/testpoint.h"

/* Atomic: the signal thread sets it while the others read it (sigwait, not a handler). */
static atomic_int stop_requested;
static int shutdown_timeout_ms = 30000;

/*
 * The bound on a graceful stop. Exiting here is as safe as a crash at any
 * instant (what the kill -9 tests prove): Kafka aborts the open transaction
 * or, if its commit went through, the next start finds it in the checkpoint
 * and skips it; the slot was only ever confirmed up to what Kafka holds.
 */
static void *shutdown_watchdog(void *arg)
{
    (void) arg;
    log_set_thread_name("signals");
    usleep((useconds_t) shutdown_timeout_ms * 1000);
    log_warning("could not stop gracefully within shutdown.timeout.ms (%d ms; is Kafka down?): "
                "exiting without confirming the open Kafka transaction; it is sent again, once, "
                "at the next start",
                shutdown_timeout_ms);
    _exit(EXIT_OK);
    return NULL;
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    log_set_thread_name("signals");
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            log_reopen();
            log_info("received SIGHUP: log file reopened");
        } else if (!stop_requested) {
            log_info("received %s: finishing the open transaction and stopping",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stop_requested = 1;
            metrics_set_state(MSTATE_STOPPING, "stop requested");
            pthread_t wd;
            if (pthread_create(&wd, NULL, shutdown_watchdog, NULL) == 0)
                pthread_detach(wd);
        } else {
            log_warning("received %s again: exiting now; nothing unconfirmed was confirmed",
                        sig == SIGTERM ? "SIGTERM" : "SIGINT");
            _exit(EXIT_INTERNAL);
        }
    }
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
            "sluice %s — PostgreSQL change data capture into Kafka, exactly once\n"
            "\n"
            "Usage:\n"
            "  sluice run -c FILE [-o key=value]... [--accept-slot-ahead]\n"
            "  sluice check -c FILE [-o key=value]...   preflight: is PostgreSQL and Kafka ready?\n"
            "  sluice status -c FILE [-o key=value]...  slot lag, Kafka checkpoint, last commit\n"
            "  sluice help-config      print every configuration key with its default\n"
            "  sluice --version\n"
            "  sluice --help\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE       configuration file (key = value)\n"
            "  -o, --set key=value     override one configuration key\n"
            "      --accept-slot-ahead start even though the slot is ahead of the Kafka\n"
            "                          checkpoint (changes in between are NOT in Kafka)\n"
            "\n"
            "Exit codes: 0 stopped, 1 internal error, 2 usage, 3 configuration,\n"
            "4 PostgreSQL unreachable, 5 PostgreSQL not set up, 6 slot/checkpoint mismatch,\n"
            "7 Kafka unavailable, 8 fenced by another instance, 9 data Kafka cannot accept,\n"
            "10 `sluice check` found a problem.\n",
            SLUICE_VERSION);
}

static void sleep_ms(int ms)
{
    for (int waited = 0; waited < ms && !stop_requested; waited += 50)
        usleep(50 * 1000);
}


typedef struct {
    config_t cfg;
    bool accept_slot_ahead;
    sink_t *sink;
    checkpoint_t ckpt;
    pipeline_stats_t stats;
    bool started; /* streamed (or copied) at least once: failures are retried from now on */
    bool recheck_slot; /* fenced without holding the slot: preflight before fencing back */
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
} runner_t;

static void backoff(runner_t *r)
{
    r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : 500;
    if (r->backoff_ms > 30000)
        r->backoff_ms = 30000;
    sleep_ms(r->backoff_ms);
}

/*
 * Steps 1 and 2: a new producer fences every older instance, then the
 * checkpoint is read read_committed. Returns an exit code, or -1 to go on.
 */
static int open_sink(runner_t *r)
{
    char err[1024];
    int64_t deadline = clock_mono_ms() + r->cfg.kafka_startup_timeout_ms;
    for (;;) {
        if (!r->sink) {
            r->sink = sink_new(&r->cfg, &stop_requested, err, sizeof err);
            if (!r->sink) {
                char clean[1024];
                config_redact(&r->cfg, err, clean, sizeof clean);
                log_fatal("%s", clean);
                return EXIT_CONFIG;
            }
        }
        sink_status_t st = sink_init_transactions(r->sink, r->cfg.kafka_startup_timeout_ms, err, sizeof err);
        if (st == SINK_OK)
            st = sink_ensure_topic(r->sink, r->cfg.checkpoint_topic, true,
                                   r->cfg.kafka_startup_timeout_ms, err, sizeof err);
        if (st == SINK_OK)
            checkpoint_clear(&r->ckpt);
        if (st == SINK_OK)
            st = sink_read_checkpoint(r->sink, r->cfg.slot, &r->ckpt,
                                      r->cfg.kafka_startup_timeout_ms, err, sizeof err);
        if (st == SINK_OK) {
            if (r->ckpt.present)
                log_info("checkpoint: Kafka transaction %" PRIu64 " holds changes up to " LSN_FMT
                         " (last transaction %u, commit " LSN_FMT ")",
                         r->ckpt.seq, LSN_ARGS(r->ckpt.end_lsn), r->ckpt.xid,
                         LSN_ARGS(r->ckpt.commit_lsn));
            /* WAL records end on 8-byte boundaries: an end one byte past one is
             * what earlier builds wrote after a non-transactional message. */
            if (r->ckpt.present && (r->ckpt.end_lsn & 7) == 1)
                log_warning("the checkpoint ends at " LSN_FMT ", one byte past a logical message, "
                            "as sluice builds before the fix of 2026-12-03 wrote it: if a "
                            "transaction's commit record began exactly at " LSN_FMT ", "
                            "PostgreSQL skipped that transaction; compare the tables it may have "
                            "written with their topics",
                            LSN_ARGS(r->ckpt.end_lsn), LSN_ARGS(r->ckpt.end_lsn - 1));
            else
                log_info("no checkpoint for slot \"%s\" in \"%s\": fresh start", r->cfg.slot,
                         r->cfg.checkpoint_topic);
            return -1;
        }
        if (st == SINK_STOPPED)
            return EXIT_OK;
        if (st == SINK_FENCED) {
            log_fatal("%s: another sluice instance with transactional id \"%s\" took over",
                      err, r->cfg.transactional_id);
            return EXIT_FENCED;
        }
        if (st == SINK_DATA) {
            log_fatal("%s", err);
            return EXIT_KAFKA;
        }
        if (!r->started && clock_mono_ms() >= deadline) {
            log_fatal("%s: is Kafka at \"%s\" reachable, and are transactions enabled "
                      "(transaction.state.log.* settings)?",
                      err, config_kafka_get(&r->cfg, "bootstrap.servers"));
            return EXIT_KAFKA;
        }
        log_warning("%s; retrying", err);
        metrics_error(MERR_KAFKA_UNAVAILABLE);
        metrics_set_state(r->started ? MSTATE_RECOVERING : MSTATE_STARTING, err);
        if (st == SINK_FATAL) {
            sink_free(r->sink);
            r->sink = NULL;
        }
        backoff(r);
        if (stop_requested)
            return EXIT_OK;
    }
}

/* Maps a PostgreSQL failure to an exit code at start, or -2 (retry) once running. */
static int pg_failure(runner_t *r, stream_err_t cls, const char *raw_err)
{
    /* libpq's connection errors should never quote a password; make sure. (Other
     * classes carry sluice's own texts, with object names that must stay readable.) */
    char err[1024];
    if (cls == STREAM_ERR_CONNECT)
        config_redact(&r->cfg, raw_err, err, sizeof err);
    else
        snprintf(err, sizeof err, "%s", raw_err);
    metrics_error(cls == STREAM_ERR_CONNECT ? MERR_PG_CONNECT : MERR_PG_LOST);
    if (stop_requested) {
        /* SIGTERM came while PostgreSQL was being reached (a connect can take
         * connect_timeout): the operator asked for a stop, and nothing was
         * confirmed, so this is the ordinary stop, not a failure to retry. */
        log_warning("%s; stopping as requested", err);
        return EXIT_OK;
    }
    if (r->started)
        metrics_set_state(MSTATE_RECOVERING, err);
    if (cls == STREAM_ERR_SETUP) {
        log_fatal("%s", err);
        return EXIT_PG_SETUP;
    }
    if (!r->started) {
        log_fatal("%s", err);
        /* A connection that broke while starting (a server restart just then) is as
         * transient as one that could not be made: exit 4, which a supervisor retries. */
        return cls == STREAM_ERR_CONNECT || cls == STREAM_ERR_LOST ? EXIT_PG_CONNECT
                                                                    : EXIT_INTERNAL;
    }
    log_warning("%s; retrying", err);
    return -2;
}

/* pg_failure for a step of a session: -1 (after a backoff) to run another session, or an exit code. */
static int session_pg_failure(runner_t *r, stream_err_t cls, const char *err)
{
    int rc = pg_failure(r, cls, err);
    if (rc == -2) {
        backoff(r);
        return -1;
    }
    return rc;
}

/*
 * A slot stays active for a moment after its client died (PostgreSQL notices
 * the closed socket on its next read): wait a little before concluding that
 * another instance owns it. Returns an exit code, or -1 once released.
 */
static int wait_slot_released(runner_t *r, stream_t *s, slot_info_t *slot)
{
    char err[1024];
    int64_t begun = clock_mono_ms(), deadline = begun + 15000;
    int pid = slot->active_pid;
    bool terminated = false;
    while (slot->active_pid && clock_mono_ms() < deadline && !stop_requested) {
        char holder_start[64] = "";
        if (!terminated && r->prev_walsender && slot->active_pid == r->prev_walsender &&
            r->prev_walsender_start[0] && clock_mono_ms() - begun >= 1000 &&
            !stream_backend_start(s, slot->active_pid, holder_start, sizeof holder_start, err,
                                  sizeof err) &&
            strcmp(holder_start, r->prev_walsender_start) == 0) {
            /* The holder is the walsender of this process's own last connection
             * (same pid, same start: not a reused pid) after a link that died
             * silently: PostgreSQL notices only at its wal_sender_timeout. It
             * serves nobody; end it rather than take it for another instance. */
            log_warning("replication slot \"%s\" is still held by PostgreSQL backend %d, the "
                        "walsender of this instance's previous connection, which the server has "
                        "not noticed is gone: terminating it",
                        r->cfg.slot, slot->active_pid);
            stream_err_t e = stream_terminate_backend(s, slot->active_pid, err, sizeof err);
            if (e)
                log_warning("could not terminate backend %d: %s", slot->active_pid, err);
            terminated = true;
        }
        sleep_ms(250);
        stream_err_t e = stream_slot_info(s, r->cfg.slot, slot, err, sizeof err);
        if (e)
            return pg_failure(r, e, err);
    }
    if (slot->active_pid) {
        log_fatal("replication slot \"%s\" is in use by PostgreSQL backend %d: another sluice "
                  "instance (or another client) streams from it; refusing to start",
                  r->cfg.slot, pid);
        return EXIT_FENCED;
    }
    return -1;
}

/*
 * Before fencing anyone: PostgreSQL is reachable and set up, and no other
 * instance streams from our slot. A second instance started by mistake thus
 * stops here instead of fencing the first. Returns an exit code or -1.
 */
static int preflight(runner_t *r)
{
    char err[1024];
    stream_err_t cls;
    stream_t *s = stream_connect(r->cfg.pg_conninfo, &cls, err, sizeof err);
    if (!s)
        return pg_failure(r, cls, err);
    stream_identity_t id;
    cls = stream_identify(s, &id, err, sizeof err);
    if (!cls)
        cls = stream_check_server(s, r->cfg.publication, err, sizeof err);
    slot_info_t slot;
    if (!cls)
        cls = stream_slot_info(s, r->cfg.slot, &slot, err, sizeof err);
    int rc = cls ? pg_failure(r, cls, err) : -1;
    if (rc == -1 && slot.exists && slot.active_pid)
        rc = wait_slot_released(r, s, &slot);
    stream_close(s);
    return rc;
}

/*
 * Step 3: the slot must not be ahead of the checkpoint, and must exist if a
 * checkpoint does. Returns an exit code, -1 to go on; *start is where to stream from.
 */
static int check_slot(runner_t *r, stream_t *s, const stream_identity_t *id, sluice_lsn_t *start)
{
    char err[1024];
    const checkpoint_t *ck = &r->ckpt;
    if (ck->present && ck->system_id[0] && strcmp(ck->system_id, id->system_id) != 0) {
        log_fatal("the checkpoint in \"%s\" was written for PostgreSQL system %s, but this server "
                  "is system %s: refusing to mix two databases' histories (use another "
                  "topic.prefix or checkpoint.topic)",
                  r->cfg.checkpoint_topic, ck->system_id, id->system_id);
        return EXIT_SLOT_MISMATCH;
    }
    slot_info_t slot;
    stream_err_t e = stream_slot_info(s, r->cfg.slot, &slot, err, sizeof err);
    if (e)
        return pg_failure(r, e, err);
    if (!slot.exists) {
        if (ck->present) {
            log_fatal("replication slot \"%s\" does not exist, but Kafka holds a checkpoint at "
                      LSN_FMT ": the slot was dropped, so changes after it may be lost. Recreate "
                      "the pipeline deliberately (new slot and an initial snapshot), or remove "
                      "the checkpoint record for slot \"%s\" from \"%s\"",
                      r->cfg.slot, LSN_ARGS(ck->end_lsn), r->cfg.slot, r->cfg.checkpoint_topic);
            return EXIT_SLOT_MISMATCH;
        }
        if (!r->cfg.create_slot) {
            log_fatal("replication slot \"%s\" does not exist and postgres.create_slot is off",
                      r->cfg.slot);
            return EXIT_PG_SETUP;
        }
        sluice_lsn_t at;
        if (r->cfg.snapshot_mode != SNAPSHOT_MODE_NEVER) {
            /* The initial snapshot reads the database exactly as of the slot's start. */
            e = stream_create_slot_exported(s, r->cfg.slot, false, &at, r->snapshot_name,
                                            sizeof r->snapshot_name, err, sizeof err);
            r->exported = e == STREAM_OK;
            r->exported_lsn = at;
        } else {
            e = stream_create_slot(s, r->cfg.slot, &at, err, sizeof err);
        }
        if (e)
            return pg_failure(r, e, err);
        log_info("created replication slot \"%s\" at " LSN_FMT "%s", r->cfg.slot, LSN_ARGS(at),
                 r->exported ? " with an exported snapshot" : "");
        r->slot_confirmed = at;
        *start = 0;
        return -1;
    }
    if (!slot.logical || strcmp(slot.plugin, "pgoutput") != 0) {
        log_fatal("replication slot \"%s\" is not a logical slot of plugin pgoutput (plugin "
                  "\"%s\")",
                  r->cfg.slot, slot.plugin);
        return EXIT_PG_SETUP;
    }
    if (strcmp(slot.database, id->dbname) != 0) {
        log_fatal("replication slot \"%s\" belongs to database \"%s\", not \"%s\"", r->cfg.slot,
                  slot.database, id->dbname);
        return EXIT_PG_SETUP;
    }
    if (strcmp(slot.wal_status, "lost") == 0) {
        log_fatal("replication slot \"%s\" is invalidated (wal_status lost): PostgreSQL removed "
                  "WAL it still needed (max_slot_wal_keep_size); changes were lost",
                  r->cfg.slot);
        return EXIT_SLOT_MISMATCH;
    }
    if (slot.active_pid) {
        int rc = wait_slot_released(r, s, &slot);
        if (rc != -1)
            return rc;
    }
    r->slot_confirmed = slot.confirmed_flush;
    if (ck->present && slot.confirmed_flush > ck->end_lsn) {
        if (!r->accept_slot_ahead) {
            log_fatal("replication slot \"%s\" is at " LSN_FMT ", ahead of the Kafka checkpoint "
                      "at " LSN_FMT ": changes in between are not in Kafka (was the slot advanced "
                      "or recreated, or did Kafka lose data?). Run with --accept-slot-ahead to "
                      "continue from the slot anyway",
                      r->cfg.slot, LSN_ARGS(slot.confirmed_flush), LSN_ARGS(ck->end_lsn));
            return EXIT_SLOT_MISMATCH;
        }
        log_warning("replication slot \"%s\" is ahead of the checkpoint (" LSN_FMT " > " LSN_FMT
                    "): continuing from the slot as --accept-slot-ahead asks; changes in "
                    "between are not in Kafka",
                    r->cfg.slot, LSN_ARGS(slot.confirmed_flush), LSN_ARGS(ck->end_lsn));
        *start = 0;
        return -1;
    }
    *start = ck->present ? ck->end_lsn : 0;
#ifdef SLUICE_VARIANT_START_AT_SLOT
    /* Test build: stream from the slot's own position, so PostgreSQL resends what
     * Kafka already holds and only the pipeline's skip rule prevents duplicates. */
    *start = 0;
#endif
    return -1;
}

/*
 * True if PostgreSQL still counts this instance's replication connection as
 * the slot's user (asked over a second connection; s stays open meanwhile).
 */
static bool still_owns_slot(runner_t *r, stream_t *s)
{
    char err[1024];
    stream_err_t cls;
    int mine = stream_backend_pid(s);
    stream_t *q = stream_connect(r->cfg.pg_conninfo, &cls, err, sizeof err);
    if (!q)
        return false;
    slot_info_t slot;
    bool owns = stream_slot_info(q, r->cfg.slot, &slot, err, sizeof err) == STREAM_OK &&
                slot.exists && mine > 0 && slot.active_pid == mine;
    stream_close(q);
    return owns;
}

/* What to do after a session (streaming or copying) ended: an exit code, or -1 for another session. */
static int session_outcome(runner_t *r, pipeline_result_t pr, const char *err)
{
    if (pr == PIPE_SNAPSHOT) {
        log_info("copying the requested tables, then streaming on from " LSN_FMT,
                 LSN_ARGS(r->ckpt.end_lsn));
        return -1;
    }
    static const metrics_error_t pipe_errors[] = {
        [PIPE_STREAM_LOST] = MERR_PG_LOST, [PIPE_REWIND] = MERR_KAFKA_ABORT,
        [PIPE_REBUILD] = MERR_KAFKA_FATAL, [PIPE_FENCED] = MERR_FENCED,
        [PIPE_DATA] = MERR_DATA,           [PIPE_PROTOCOL] = MERR_PROTOCOL};
    if (pr != PIPE_STOPPED) {
        metrics_error(pipe_errors[pr]);
        metrics_set_state(MSTATE_RECOVERING, err);
    }

    switch (pr) {
    case PIPE_STOPPED:
        log_info("stopped: Kafka and PostgreSQL agree at " LSN_FMT " (%" PRIu64
                 " source transactions, %" PRIu64 " changes, %" PRIu64 " skipped as already in Kafka)",
                 LSN_ARGS(r->ckpt.end_lsn), r->stats.counts.source_txns, r->stats.counts.changes,
                 r->stats.counts.skipped_txns);
        return EXIT_OK;
    case PIPE_STREAM_LOST:
        log_warning("%s; reconnecting and resuming from " LSN_FMT, err, LSN_ARGS(r->ckpt.end_lsn));
        backoff(r);
        return -1;
    case PIPE_REWIND:
        log_warning("%s; Kafka transaction aborted, resuming from " LSN_FMT, err,
                    LSN_ARGS(r->ckpt.end_lsn));
        backoff(r);
        return -1;
    case PIPE_REBUILD:
        log_warning("%s; rebuilding the Kafka producer and re-reading the checkpoint", err);
        sink_free(r->sink);
        r->sink = NULL;
        backoff(r);
        return -1;
    case PIPE_FENCED:
        /*
         * Fenced, and PostgreSQL no longer counts us as the slot's user (or cannot
         * be asked). Another instance may have taken over — or the link to
         * PostgreSQL broke while the coordinator aborted our transaction. Nothing
         * was confirmed; go back to the preflight: if another instance streams
         * from the slot it still holds it and we exit 8 there, else we resume.
         */
        log_warning("%s; this instance no longer holds slot \"%s\": checking the slot again "
                    "before fencing anyone",
                    err, r->cfg.slot);
        sink_free(r->sink);
        r->sink = NULL;
        r->recheck_slot = true;
        return -1;
    case PIPE_DATA:
        log_fatal("%s", err);
        return EXIT_DATA;
    case PIPE_PROTOCOL:
        log_fatal("%s", err);
        return EXIT_INTERNAL;
    case PIPE_SNAPSHOT: return -1; /* handled above */
    }
    return EXIT_INTERNAL;
}

/*
 * The initial snapshot (snapshot.h), between checking the slot and streaming:
 * copies what the checkpoint says is not copied yet, then sets the stream
 * filter and *start. *stream_now true: go on streaming (on the session's
 * connection, which stayed idle so that an exported snapshot stayed alive).
 * Otherwise returns run_session's answer: an exit code, or -1 for another session.
 */
static int initial_snapshot(runner_t *r, const stream_identity_t *id, sluice_lsn_t *start,
                            bool *stream_now)
{
    char err[1024];
    snapshot_progress_t *prog = NULL;
    if (r->ckpt.present && r->ckpt.snapshot) {
        prog = snapshot_progress_parse(r->ckpt.snapshot, err, sizeof err);
        if (!prog) {
            log_fatal("%s", err);
            return EXIT_INTERNAL;
        }
    }
    snapshot_mode_t mode = r->cfg.snapshot_mode;
    bool fresh = !r->ckpt.present;
    /* snapshot.mode decides a fresh start only: a snapshot the checkpoint records
     * as running (interrupted, or asked for by a "sluice.snapshot" message) is
     * completed in every mode, since the request was explicit and leaving it
     * would leave tables without their rows. */
    bool need = (fresh && mode != SNAPSHOT_MODE_NEVER) || (prog && prog->running);
    if (need) {
        if (!prog)
            prog = snapshot_progress_new();
        sluice_lsn_t resume = r->ckpt.present ? r->ckpt.end_lsn : r->slot_confirmed;
        stream_t *holder = NULL; /* keeps a temporary exported slot (and its snapshot) alive */
        sluice_lsn_t cpoint = r->exported_lsn;
        char name[64];
        snprintf(name, sizeof name, "%s", r->snapshot_name);
        if (!r->exported) {
            stream_err_t cls;
            holder = stream_connect(r->cfg.pg_conninfo, &cls, err, sizeof err);
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.50s_snapshot", r->cfg.slot);
            if (holder)
                cls = stream_create_slot_exported(holder, tmp, true, &cpoint, name, sizeof name,
                                                  err, sizeof err);
            if (cls) {
                stream_close(holder);
                snapshot_progress_free(prog);
                r->started = true;
                return session_pg_failure(r, cls, err);
            }
            log_info("%s: exported a new snapshot at " LSN_FMT " (temporary slot \"%s\"); "
                     "streaming resumes at " LSN_FMT " and leaves out changes of the tables "
                     "copied now that commit before it",
                     fresh ? "the slot exists but Kafka holds no checkpoint"
                           : "resuming the interrupted snapshot (or copying requested tables)",
                     LSN_ARGS(cpoint), tmp, LSN_ARGS(resume));
        } else {
            resume = r->exported_lsn;
        }
        r->started = true;
        metrics_set_state(MSTATE_STARTING, "copying the initial snapshot");
        bool setup_error = false;
        snapshot_args_t sa = {.cfg = &r->cfg,
                              .sink = r->sink,
                              .ckpt = &r->ckpt,
                              .progress = prog,
                              .resume_lsn = resume,
                              .system_id = id->system_id,
                              .db_name = id->dbname,
                              .snapshot_name = name,
                              .consistent_point = cpoint,
                              .stop = &stop_requested,
                              .setup_error = &setup_error};
        uint64_t seq_before = r->ckpt.seq;
        pipeline_result_t pr = snapshot_copy(&sa, err, sizeof err);
        stream_close(holder);
        r->exported = false;
        if (r->ckpt.seq > seq_before)
            r->backoff_ms = 0;
        if (pr != PIPE_STOPPED && setup_error) {
            snapshot_progress_free(prog);
            log_fatal("%s", err);
            return EXIT_PG_SETUP;
        }
        if (pr != PIPE_STOPPED) {
            snapshot_progress_free(prog);
            if (pr == PIPE_REWIND || pr == PIPE_STREAM_LOST || pr == PIPE_REBUILD)
                snprintf(err + strlen(err), sizeof err - strlen(err),
                         "; the snapshot resumes from the last checkpoint");
            return session_outcome(r, pr, err);
        }
        if (prog->running) {
            snapshot_progress_free(prog);
            return EXIT_OK; /* stopped on request */
        }
        *start = r->ckpt.end_lsn;
        if (mode == SNAPSHOT_MODE_INITIAL_ONLY) {
            log_info("snapshot.mode = initial_only: the snapshot is complete; stopping. Slot "
                     "\"%s\" stays at " LSN_FMT ": a later `sluice run` with snapshot.mode "
                     "initial streams from exactly there (drop the slot if it never will: it "
                     "holds WAL back)",
                     r->cfg.slot, LSN_ARGS(r->ckpt.end_lsn));
            snapshot_progress_free(prog);
            return EXIT_OK;
        }
    } else if (mode == SNAPSHOT_MODE_INITIAL_ONLY) {
        log_info("snapshot.mode = initial_only: %s; nothing to do",
                 prog ? "the checkpoint records a complete snapshot"
                      : "the checkpoint records no snapshot (streaming started without one)");
        snapshot_progress_free(prog);
        return EXIT_OK;
    }
    if (prog && !prog->running) {
        /* Tables copied at or before the resume point need no filter any more. */
        size_t before = prog->ntables;
        snapshot_progress_prune(prog, r->ckpt.end_lsn);
        if (prog->ntables != before) {
            free(r->ckpt.snapshot);
            r->ckpt.snapshot = snapshot_progress_to_json(prog);
        }
    }
    snapshot_filter_free(r->filter);
    r->filter = snapshot_filter_new(prog, r->ckpt.present ? r->ckpt.end_lsn : *start);
    snapshot_progress_free(prog);
    *stream_now = true;
    return -1;
}

/* One replication session. Returns an exit code, or -1 to run another session. */
static int run_session(runner_t *r)
{
    char err[1024];
    stream_err_t cls;
    stream_t *s = stream_connect(r->cfg.pg_conninfo, &cls, err, sizeof err);
    if (!s) {
        return session_pg_failure(r, cls, err);
    }
    stream_identity_t id;
    cls = stream_identify(s, &id, err, sizeof err);
    if (!cls)
        cls = stream_check_server(s, r->cfg.publication, err, sizeof err);
    if (cls) {
        stream_close(s);
        return session_pg_failure(r, cls, err);
    }
    sluice_lsn_t start = 0;
    r->exported = false;
    int rc = check_slot(r, s, &id, &start);
    if (rc != -1) {
        stream_close(s);
        if (rc == -2)
            backoff(r);
        return rc == -2 ? -1 : rc;
    }
    bool stream_now = false;
    rc = initial_snapshot(r, &id, &start, &stream_now);
    if (!stream_now) {
        stream_close(s);
        return rc;
    }
    /* Who this session's walsender is, in case a later session finds it lingering. */
    char my_start[64] = "";
    int my_pid = stream_backend_pid(s);
    if (stream_backend_start(s, my_pid, my_start, sizeof my_start, err, sizeof err))
        my_start[0] = '\0';
    /* A server silent past the timeout for several sessions in a row without
     * streaming a transaction is likely a walsender replaying a transaction
     * without reading (PostgreSQL 15 reads nothing while it skips a table
     * rewrite): wait twice as long each time (up to an hour) instead of looping. */
    long long recv_timeout = r->cfg.receive_timeout_ms;
    for (int i = 0; i < r->silence_streak && recv_timeout && recv_timeout < 3600000; i++)
        recv_timeout *= 2;
    if (recv_timeout > 3600000)
        recv_timeout = 3600000;
    if (r->silence_streak)
        log_info("the server was silent past the receive timeout %d time(s) in a row: waiting up "
                 "to %lld ms this time",
                 r->silence_streak, recv_timeout);
    queue_t *q = queue_new((size_t) r->cfg.queue_max_bytes);
    cls = stream_start(s, r->cfg.slot, r->cfg.publication, start,
                       r->ckpt.present ? r->ckpt.end_lsn : 0, r->cfg.status_interval_ms,
                       (int) recv_timeout, q, err, sizeof err);
    if (cls) {
        stream_close(s);
        queue_free(q);
        return session_pg_failure(r, cls, err);
    }
    if (start)
        log_info("streaming from slot \"%s\" at " LSN_FMT " (database \"%s\", publication \"%s\")",
                 r->cfg.slot, LSN_ARGS(start), id.dbname, r->cfg.publication);
    else
        log_info("streaming from slot \"%s\" at its confirmed position (database \"%s\", "
                 "publication \"%s\")",
                 r->cfg.slot, id.dbname, r->cfg.publication);
    r->started = true;
    metrics_bind_queue(q, (size_t) r->cfg.queue_max_bytes);
    metrics_set_state(MSTATE_STREAMING, NULL);

    encoder_options_t eo = {.server_name = r->cfg.topic_prefix,
                            .db_name = id.dbname,
                            .toast_placeholder = r->cfg.toast_placeholder,
                            .numeric_as_number = r->cfg.numeric_json_number,
                            .schemas = r->cfg.json_schemas,
                            .transaction_block = r->cfg.transaction_metadata};
    encoder_t *enc = encoder_new(r->cfg.format, &eo);
    pipeline_args_t args = {.cfg = &r->cfg,
                            .sink = r->sink,
                            .encoder = enc,
                            .stream = s,
                            .queue = q,
                            .ckpt = &r->ckpt,
                            .system_id = id.system_id,
                            .stop = &stop_requested,
                            .stats = &r->stats,
                            .snapshot_filter = r->filter};
    uint64_t commits_before = r->stats.counts.kafka_commits, txns_before = r->stats.counts.source_txns;
    pipeline_result_t pr = pipeline_run(&args, err, sizeof err);
    if (r->stats.counts.kafka_commits > commits_before)
        r->backoff_ms = 0;
    if (r->stats.counts.source_txns > txns_before)
        r->silence_streak = 0;
    else if (stream_timed_out(s) && r->silence_streak < 16)
        r->silence_streak++;
    stream_stop(s);
    int fenced_exit = 0;
    if (pr == PIPE_FENCED && !r->stats.fenced_after_timeout) {
        /* The open Kafka transaction (if any) was younger than transaction.timeout.ms:
         * the coordinator cannot have aborted it, so a producer with our
         * transactional id took over: another instance. Nothing was confirmed. */
        log_fatal("%s: another instance with transactional id \"%s\" took over (this "
                  "instance's Kafka transaction was younger than transaction.timeout.ms, so "
                  "the coordinator did not abort it); stopping without confirming anything",
                  err, r->cfg.transactional_id);
        fenced_exit = EXIT_FENCED;
    } else if (pr == PIPE_FENCED && still_owns_slot(r, s)) {
        /* The transaction had outlived transaction.timeout.ms and nobody else streams
         * from our slot, so no other instance fenced us: the coordinator aborted our
         * transaction and bumped the epoch. A new producer resumes from the
         * checkpoint; nothing was confirmed. */
        log_warning("%s, but this instance still holds slot \"%s\": treating it as a "
                    "transaction aborted by the coordinator; rebuilding the producer",
                    err, r->cfg.slot);
        pr = PIPE_REBUILD;
        snprintf(err, sizeof err, "producer fenced while holding the slot");
    }
    r->prev_walsender = my_pid;
    snprintf(r->prev_walsender_start, sizeof r->prev_walsender_start, "%s", my_start);
    stream_close(s);
    metrics_bind_queue(NULL, 0);
    queue_free(q);
    encoder_free(enc);
    snapshot_filter_free(r->filter);
    r->filter = NULL;

    return fenced_exit ? fenced_exit : session_outcome(r, pr, err);
}

static int cmd_run(runner_t *r)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_t sigthr;
    pthread_create(&sigthr, NULL, signal_thread, &set);
    pthread_detach(sigthr);
    testpoint_init();

    log_info("sluice %s starting: slot \"%s\", publication \"%s\", transactional id \"%s\"",
             SLUICE_VERSION, r->cfg.slot, r->cfg.publication, r->cfg.transactional_id);
    shutdown_timeout_ms = r->cfg.shutdown_timeout_ms;
    metrics_set_identity(r->cfg.slot, r->cfg.publication, r->cfg.transactional_id);
    metrics_set_state(MSTATE_STARTING, "preflight");
    metrics_bind_stats(&r->stats.counts);
    if (r->cfg.metrics_listen && r->cfg.metrics_listen[0]) {
        char err[512];
        /* A reader that sent no status update for 3 intervals (at least 30 s) is stuck. */
        int feedback_ms = 3 * r->cfg.status_interval_ms > 30000 ? 3 * r->cfg.status_interval_ms : 30000;
        if (!metrics_start(r->cfg.metrics_listen, feedback_ms, r->cfg.health_stall_timeout_ms, err,
                           sizeof err)) {
            log_fatal("%s", err);
            return EXIT_CONFIG;
        }
        const char *colon = strrchr(r->cfg.metrics_listen, ':');
        int hostlen = (int) (colon - r->cfg.metrics_listen);
        log_info("serving metrics on http://%.*s:%d/metrics and health on /healthz",
                 hostlen ? hostlen : 7, hostlen ? r->cfg.metrics_listen : "0.0.0.0", metrics_port());
    }
    int rc = preflight(r);
    while (rc == -1) {
        if (!r->sink) {
            rc = open_sink(r);
            if (rc != -1)
                break;
        }
        if (stop_requested) {
            rc = EXIT_OK;
            break;
        }
        rc = run_session(r);
        if (rc == -1 && stop_requested)
            rc = EXIT_OK;
        while (rc == -1 && r->recheck_slot && !stop_requested) {
            rc = preflight(r);
            if (rc == -2) {
                backoff(r);
                rc = -1;
                continue;
            }
            r->recheck_slot = false;
        }
    }
    metrics_set_state(MSTATE_STOPPING, "exiting");
    sink_free(r->sink);
    r->sink = NULL;
    checkpoint_clear(&r->ckpt);
    metrics_stop();
    return rc;
}

int main(int argc, char **argv)
{
    /* librdkafka allocates every record (and frees it on its broker thread
     * once delivered): with glibc's default 128 kB trim threshold the heap
     * is given back and faulted in again, zeroed page by page, at every
     * swing of the producer queue. Keep up to 32 MB of freed heap: room for
     * the producer queue at its default bound (4 MB of records, 50,000
     * records with librdkafka's per-record overhead) and the reader's queue
     * (8 MB). */
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("sluice %s\n", SLUICE_VERSION);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "help-config")) {
        config_print_reference();
        return EXIT_OK;
    }
    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "status") != 0) {
        fprintf(stderr, "sluice: unknown command \"%s\"\n\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }

    static runner_t r;
    config_init(&r.cfg);
    const char *config_path = NULL;
    char err[1024];
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"set", required_argument, NULL, 'o'},
                                         {"accept-slot-ahead", no_argument, NULL, 'A'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    /* Overrides are applied after the file, whatever their order on the command line. */
    char **overrides = calloc((size_t) argc, sizeof *overrides);
    int noverrides = 0;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'o': overrides[noverrides++] = optarg; break;
        case 'A': r.accept_slot_ahead = true; break;
        case 'h': usage(stdout); free(overrides); return EXIT_OK;
        default: usage(stderr); free(overrides); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sluice: unexpected argument \"%s\"\n", argv[optind]);
        free(overrides);
        return EXIT_USAGE;
    }
    if (!config_path) {
        fprintf(stderr, "sluice: no configuration file: use -c FILE\n");
        free(overrides);
        return EXIT_USAGE;
    }
    bool ok = config_load_file(&r.cfg, config_path, err, sizeof err);
    for (int i = 0; ok && i < noverrides; i++) {
        char *eq = strchr(overrides[i], '=');
        if (!eq) {
            snprintf(err, sizeof err, "-o \"%s\": expected key=value", overrides[i]);
            ok = false;
            break;
        }
        *eq = '\0';
        ok = config_set(&r.cfg, overrides[i], eq + 1, "-o", err, sizeof err);
    }
    free(overrides);
    if (ok)
        ok = config_finish(&r.cfg, err, sizeof err);
    if (!ok) {
        log_fatal("%s", err);
        config_free(&r.cfg);
        return EXIT_CONFIG;
    }
    if (!log_configure(r.cfg.log_level, r.cfg.log_json, strcmp(cmd, "run") ? NULL : r.cfg.log_file)) {
        log_fatal("could not open log file \"%s\": %m", r.cfg.log_file);
        config_free(&r.cfg);
        return EXIT_CONFIG;
    }
    int rc;
    if (!strcmp(cmd, "check")) {
        /* Library chatter (librdkafka's connection errors) would drown the report: errors only. */
        log_configure(r.cfg.log_level > LOG_ERROR ? r.cfg.log_level : LOG_ERROR, r.cfg.log_json, NULL);
        int failed = check_run(&r.cfg, stdout);
        rc = failed ? EXIT_CHECK_FAILED : EXIT_OK;
    } else if (!strcmp(cmd, "status")) {
        log_configure(r.cfg.log_level > LOG_ERROR ? r.cfg.log_level : LOG_ERROR, r.cfg.log_json, NULL);
        rc = status_run(&r.cfg, stdout);
    } else {
        rc = cmd_run(&r);
    }
    config_free(&r.cfg);
    return rc;
}
