/*
 * session.c — one replication session of the supervisor (session.h):
 * connect, check the slot against the checkpoint (step 3), copy what the
 * initial snapshot still owes, then stream through the pipeline until the
 * session ends, and say what that ending means.
 *
 * A session owns its replication connection, queue, encoder and stream
 * filter, and frees them before it returns; it never backs off itself (the
 * loop in supervisor.c does, with nothing held open).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/clock.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/base/queue.h"
#include "sluice/base/snapshot_progress.h"
#include "sluice/base/testpoint.h"
#include "sluice/core/pipeline.h"
#include "sluice/core/snapshot.h"
#include "sluice/core/snapshot_filter.h"
#include "sluice/core/snapshot_incremental.h"
#include "sluice/encode/encode.h"
#include "sluice/pg/stream.h"

#include "session.h"

/* One replication session: its connection and what the steps learn on it. */
typedef struct {
    stream_t *stream;      /* the replication connection; closed by session_run */
    stream_identity_t id;  /* IDENTIFY_SYSTEM: system identifier, database */
    sluice_lsn_t start;    /* where to stream from; 0: the slot's confirmed position */
} session_t;

/* The slot is missing: create it, unless a checkpoint says it existed. Sets ss->start. */
static supervisor_step_t create_slot(supervisor_t *sv, session_t *ss)
{
    char err[1024];
    const config_t *cfg = sv->cfg;
    if (sv->ckpt.present) {
        /* A server past timeline 1 was promoted (or restored): most likely a failover
         * to a standby that had no copy of the slot. */
        char why[384] = "";
        if (ss->id.timeline > 1)
            snprintf(why, sizeof why,
                     " This server is on timeline %u: if it is a standby promoted after a "
                     "failover, the slot was not copied to it; only a failover slot is "
                     "(postgres.slot.failover = true, PostgreSQL 17+, with the standby set up "
                     "as docs/operations.md \"Failover\" says).",
                     ss->id.timeline);
        log_fatal("replication slot \"%s\" does not exist, but Kafka holds a checkpoint at "
                  LSN_FMT ": the slot was dropped or lost, so changes after it may be lost.%s "
                  "Recreate the pipeline deliberately (new slot and an initial snapshot), or "
                  "remove the checkpoint record for slot \"%s\" from \"%s\"",
                  cfg->slot, LSN_ARGS(sv->ckpt.end_lsn), why, cfg->slot, cfg->checkpoint_topic);
        return supervisor_exit(sv, EXIT_SLOT_MISMATCH);
    }
    if (!cfg->create_slot) {
        log_fatal("replication slot \"%s\" does not exist and postgres.create_slot is off",
                  cfg->slot);
        return supervisor_exit(sv, EXIT_PG_SETUP);
    }
    if (cfg->snapshot_mode != SNAPSHOT_MODE_NEVER &&
        cfg->snapshot_method == SNAPSHOT_METHOD_INCREMENTAL) {
        /* A table the incremental snapshot cannot copy is refused before a slot exists
         * to hold WAL back for a pipeline that will not run. (PostgreSQL trouble here is
         * met again, and retried, when the copy is planned.) */
        char perr[2048];
        snapshot_progress_t *probe = snapshot_progress_new();
        inc_status_t ist = incremental_plan(cfg, probe, perr, sizeof perr);
        snapshot_progress_free(probe);
        if (ist == INC_SETUP) {
            log_fatal("%s", perr);
            return supervisor_exit(sv, EXIT_PG_SETUP);
        }
    }
    sluice_lsn_t at;
    stream_err_t e;
    if (cfg->snapshot_mode != SNAPSHOT_MODE_NEVER &&
        cfg->snapshot_method == SNAPSHOT_METHOD_EXPORT) {
        /* The initial snapshot reads the database exactly as of the slot's start. (The
         * incremental one reads it chunk by chunk while streaming: no snapshot to export.) */
        e = stream_create_slot_exported(ss->stream, cfg->slot, false, &at, sv->snapshot_name,
                                        sizeof sv->snapshot_name, err, sizeof err);
        sv->exported = e == STREAM_OK;
        sv->exported_lsn = at;
    } else {
        e = stream_create_slot(ss->stream, cfg->slot, &at, err, sizeof err);
    }
    if (e)
        return supervisor_pg_failure(sv, e, err);
    log_info("created replication slot \"%s\" at " LSN_FMT "%s%s", cfg->slot, LSN_ARGS(at),
             cfg->slot_failover ? " as a failover slot" : "",
             sv->exported ? " with an exported snapshot" : "");
    sv->slot_confirmed = at;
    ss->start = 0;
    return STEP_CONTINUE;
}

/* The slot is one sluice can stream from: pgoutput, our database, its WAL kept. */
static supervisor_step_t check_slot_kind(supervisor_t *sv, const session_t *ss,
                                         const slot_info_t *slot)
{
    if (!slot->logical || strcmp(slot->plugin, "pgoutput") != 0) {
        log_fatal("replication slot \"%s\" is not a logical slot of plugin pgoutput (plugin "
                  "\"%s\")",
                  sv->cfg->slot, slot->plugin);
        return supervisor_exit(sv, EXIT_PG_SETUP);
    }
    if (strcmp(slot->database, ss->id.dbname) != 0) {
        log_fatal("replication slot \"%s\" belongs to database \"%s\", not \"%s\"", sv->cfg->slot,
                  slot->database, ss->id.dbname);
        return supervisor_exit(sv, EXIT_PG_SETUP);
    }
    if (strcmp(slot->wal_status, "lost") == 0) {
        log_fatal("replication slot \"%s\" is invalidated (wal_status lost): PostgreSQL removed "
                  "WAL it still needed (max_slot_wal_keep_size); changes were lost",
                  sv->cfg->slot);
        return supervisor_exit(sv, EXIT_SLOT_MISMATCH);
    }
    return STEP_CONTINUE;
}

/* The slot is not ahead of the checkpoint (or --accept-slot-ahead says go on). Sets ss->start. */
static supervisor_step_t check_slot_position(supervisor_t *sv, session_t *ss,
                                             const slot_info_t *slot)
{
    const checkpoint_t *ck = &sv->ckpt;
    sv->slot_confirmed = slot->confirmed_flush;
    if (ck->present && slot->confirmed_flush > ck->end_lsn) {
        if (!sv->accept_slot_ahead) {
            log_fatal("replication slot \"%s\" is at " LSN_FMT ", ahead of the Kafka checkpoint "
                      "at " LSN_FMT ": changes in between are not in Kafka (was the slot advanced "
                      "or recreated, or did Kafka lose data?). Run with --accept-slot-ahead to "
                      "continue from the slot anyway",
                      sv->cfg->slot, LSN_ARGS(slot->confirmed_flush), LSN_ARGS(ck->end_lsn));
            return supervisor_exit(sv, EXIT_SLOT_MISMATCH);
        }
        log_warning("replication slot \"%s\" is ahead of the checkpoint (" LSN_FMT " > " LSN_FMT
                    "): continuing from the slot as --accept-slot-ahead asks; changes in "
                    "between are not in Kafka",
                    sv->cfg->slot, LSN_ARGS(slot->confirmed_flush), LSN_ARGS(ck->end_lsn));
        ss->start = 0;
        return STEP_CONTINUE;
    }
    ss->start = ck->present ? ck->end_lsn : 0;
#ifdef SLUICE_VARIANT_START_AT_SLOT
    /* Test build: stream from the slot's own position, so PostgreSQL resends what
     * Kafka already holds and only the pipeline's skip rule prevents duplicates. */
    ss->start = 0;
#endif
    return STEP_CONTINUE;
}

/*
 * A checkpoint read on another timeline (the server failed over or was
 * restored since) must end within this server's history: where its timeline
 * forked off. Beyond it, Kafka holds changes this server never had, and it
 * may reuse those positions for new ones, which streaming from the
 * checkpoint would skip. STEP_CONTINUE, STEP_RETRY or STEP_EXIT.
 */
static supervisor_step_t check_history(supervisor_t *sv, const session_t *ss)
{
    char err[1024];
    const checkpoint_t *ck = &sv->ckpt;
    if (!ck->present || !ck->timeline || ck->timeline == ss->id.timeline)
        return STEP_CONTINUE;
    sluice_lsn_t fork = 0;
    bool found = false;
    if (ck->timeline < ss->id.timeline) {
        stream_err_t e = stream_timeline_fork(ss->stream, ss->id.timeline, ck->timeline, &fork,
                                              &found, err, sizeof err);
        if (e)
            return supervisor_pg_failure(sv, e, err);
    }
    if (!found) {
        log_fatal("the checkpoint in \"%s\" was written on timeline %u, which is not in the "
                  "history of this server (timeline %u): it is not the server sluice streamed "
                  "from, nor one promoted or restored from it. Point postgres.conninfo at the "
                  "right server, or recreate the pipeline deliberately",
                  sv->cfg->checkpoint_topic, ck->timeline, ss->id.timeline);
        return supervisor_exit(sv, EXIT_SLOT_MISMATCH);
    }
    if (ck->end_lsn > fork) {
        log_fatal("Kafka holds changes up to " LSN_FMT " of timeline %u, but this server's "
                  "history left timeline %u at " LSN_FMT ": the changes in between never reached "
                  "this server (it was promoted from a standby that did not have them; "
                  "synchronized_standby_slots on the primary prevents that, see docs/operations.md "
                  "\"Failover\"), and streaming on would skip its new transactions at those "
                  "positions. Compare Kafka with the database for what the old primary had, "
                  "then recreate the pipeline deliberately",
                  LSN_ARGS(ck->end_lsn), ck->timeline, ck->timeline, LSN_ARGS(fork));
        return supervisor_exit(sv, EXIT_SLOT_MISMATCH);
    }
    log_info("the server is on timeline %u; the checkpoint (" LSN_FMT ", timeline %u) lies "
             "within its history (timeline %u ended at " LSN_FMT ")",
             ss->id.timeline, LSN_ARGS(ck->end_lsn), ck->timeline, ck->timeline, LSN_ARGS(fork));
    return STEP_CONTINUE;
}

/*
 * Step 3: the slot must not be ahead of the checkpoint, and must exist if a
 * checkpoint does; ss->start is where to stream from. STEP_CONTINUE,
 * STEP_RETRY or STEP_EXIT.
 */
static supervisor_step_t check_slot(supervisor_t *sv, session_t *ss)
{
    char err[1024];
    const checkpoint_t *ck = &sv->ckpt;
    if (ck->present && ck->system_id[0] && strcmp(ck->system_id, ss->id.system_id) != 0) {
        log_fatal("the checkpoint in \"%s\" was written for PostgreSQL system %s, but this server "
                  "is system %s: refusing to mix two databases' histories (use another "
                  "topic.prefix or checkpoint.topic)",
                  sv->cfg->checkpoint_topic, ck->system_id, ss->id.system_id);
        return supervisor_exit(sv, EXIT_SLOT_MISMATCH);
    }
    supervisor_step_t hist = check_history(sv, ss);
    if (hist != STEP_CONTINUE)
        return hist;
    slot_info_t slot;
    stream_err_t e = stream_slot_info(ss->stream, sv->cfg->slot, &slot, err, sizeof err);
    if (e)
        return supervisor_pg_failure(sv, e, err);
    if (!slot.exists)
        return create_slot(sv, ss);
    supervisor_step_t st = check_slot_kind(sv, ss, &slot);
    if (st == STEP_CONTINUE && slot.active_pid)
        st = supervisor_wait_slot_released(sv, ss->stream, &slot);
    if (st == STEP_CONTINUE && sv->cfg->slot_failover && !slot.failover) {
        e = stream_slot_enable_failover(ss->stream, sv->cfg->slot, err, sizeof err);
        if (e)
            return supervisor_pg_failure(sv, e, err);
        log_info("replication slot \"%s\" is now a failover slot (postgres.slot.failover)",
                 sv->cfg->slot);
    }
    if (st != STEP_CONTINUE)
        return st;
    return check_slot_position(sv, ss, &slot);
}

/*
 * True if PostgreSQL still counts this instance's replication connection as
 * the slot's user (asked over a second connection; s stays open meanwhile,
 * and its reader keeps answering the walsender).
 */
static bool still_owns_slot(supervisor_t *sv, stream_t *s)
{
    char err[1024];
    stream_err_t cls;
    int mine = stream_backend_pid(s);
    stream_t *q = stream_connect(sv->cfg->pg_conninfo, &cls, err, sizeof err);
    if (!q)
        return false;
    slot_info_t slot;
    bool owns = stream_slot_info(q, sv->cfg->slot, &slot, err, sizeof err) == STREAM_OK &&
                slot.exists && mine > 0 && slot.active_pid == mine;
    stream_close(q);
    return owns;
}

/* ------------------------------------------------------------------------ */
/* How a session ended                                                       */

/*
 * What to do after a session (streaming or copying) ended with pr:
 * STEP_NEXT_SESSION, STEP_RETRY or STEP_EXIT.
 */
static supervisor_step_t session_outcome(supervisor_t *sv, pipeline_result_t pr, const char *err)
{
    if (pr == PIPE_SNAPSHOT) {
        log_info("copying the requested tables, then streaming on from " LSN_FMT,
                 LSN_ARGS(sv->ckpt.end_lsn));
        return STEP_NEXT_SESSION;
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
                 LSN_ARGS(sv->ckpt.end_lsn), sv->stats.counts.source_txns, sv->stats.counts.changes,
                 sv->stats.counts.skipped_txns);
        return supervisor_exit(sv, EXIT_OK);
    case PIPE_STREAM_LOST:
        log_warning("%s; reconnecting and resuming from " LSN_FMT, err, LSN_ARGS(sv->ckpt.end_lsn));
        return STEP_RETRY;
    case PIPE_REWIND:
        log_warning("%s; Kafka transaction aborted, resuming from " LSN_FMT, err,
                    LSN_ARGS(sv->ckpt.end_lsn));
        return STEP_RETRY;
    case PIPE_REBUILD:
        log_warning("%s; rebuilding the Kafka producer and re-reading the checkpoint", err);
        sink_free(sv->sink);
        sv->sink = NULL;
        return STEP_RETRY;
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
                    err, sv->cfg->slot);
        sink_free(sv->sink);
        sv->sink = NULL;
        sv->recheck_slot = true;
        return STEP_NEXT_SESSION;
    case PIPE_DATA:
        log_fatal("%s", err);
        /* Kafka refusing sluice's principal is exit 7 whenever it happens (an ACL
         * restored heals it, so a supervisor may retry); data it cannot take is 9. */
        return supervisor_exit(sv, sink_refused(sv->sink) ? EXIT_KAFKA : EXIT_DATA);
    case PIPE_PROTOCOL:
        log_fatal("%s", err);
        return supervisor_exit(sv, EXIT_INTERNAL);
    case PIPE_SNAPSHOT: return STEP_NEXT_SESSION; /* handled above */
    }
    return supervisor_exit(sv, EXIT_INTERNAL);
}

/*
 * The pipeline ended PIPE_FENCED: tell a takeover by another instance (exit 8;
 * in standby mode STEP_STANDBY) from a transaction the coordinator aborted
 * for its age (*pr becomes PIPE_REBUILD). STEP_CONTINUE, STEP_STANDBY or STEP_EXIT.
 */
static supervisor_step_t tell_fence_cause(supervisor_t *sv, stream_t *s, pipeline_result_t *pr,
                                          char *err, size_t errlen)
{
    testpoint_hit("fence_cause");
    if (*pr != PIPE_FENCED)
        return STEP_CONTINUE;
    if (!sv->stats.fenced_after_timeout && sv->cfg->standby) {
        /* Standby mode: the instance that took the lease fenced us; wait as a
         * standby (this producer can never write again). */
        log_warning("%s: another instance with transactional id \"%s\" took over; nothing was "
                    "confirmed; back to standby",
                    err, sv->cfg->transactional_id);
        return STEP_STANDBY;
    }
    if (!sv->stats.fenced_after_timeout) {
        /* The open Kafka transaction (if any) was younger than transaction.timeout.ms:
         * the coordinator cannot have aborted it, so a producer with our
         * transactional id took over: another instance. Nothing was confirmed. */
        log_fatal("%s: another instance with transactional id \"%s\" took over (this "
                  "instance's Kafka transaction was younger than transaction.timeout.ms, so "
                  "the coordinator did not abort it); stopping without confirming anything",
                  err, sv->cfg->transactional_id);
        return supervisor_exit(sv, EXIT_FENCED);
    }
    if (still_owns_slot(sv, s)) {
        /* The transaction had outlived transaction.timeout.ms and nobody else streams
         * from our slot, so no other instance fenced us: the coordinator aborted our
         * transaction and bumped the epoch. A new producer resumes from the
         * checkpoint; nothing was confirmed. */
        log_warning("%s, but this instance still holds slot \"%s\": treating it as a "
                    "transaction aborted by the coordinator; rebuilding the producer",
                    err, sv->cfg->slot);
        *pr = PIPE_REBUILD;
        snprintf(err, errlen, "producer fenced while holding the slot");
    }
    return STEP_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* The initial snapshot                                                      */

/*
 * A snapshot to copy from when the slot was not just created with one: a
 * temporary slot exported on *holder, which must stay open while the copy
 * runs. *cpoint and name get its consistent point and snapshot name.
 * STEP_CONTINUE, STEP_RETRY or STEP_EXIT.
 */
static supervisor_step_t export_snapshot(supervisor_t *sv, bool fresh, sluice_lsn_t resume,
                                         stream_t **holder, sluice_lsn_t *cpoint, char *name,
                                         size_t namelen)
{
    char err[1024];
    stream_err_t cls;
    *holder = stream_connect(sv->cfg->pg_conninfo, &cls, err, sizeof err);
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.50s_snapshot", sv->cfg->slot);
    if (*holder)
        cls = stream_create_slot_exported(*holder, tmp, true, cpoint, name, namelen, err,
                                          sizeof err);
    if (cls) {
        stream_close(*holder);
        *holder = NULL;
        sv->started = true;
        return supervisor_pg_failure(sv, cls, err);
    }
    log_info("%s: exported a new snapshot at " LSN_FMT " (temporary slot \"%s\"); "
             "streaming resumes at " LSN_FMT " and leaves out changes of the tables "
             "copied now that commit before it",
             fresh ? "the slot exists but Kafka holds no checkpoint"
                   : "resuming the interrupted snapshot (or copying requested tables)",
             LSN_ARGS(*cpoint), tmp, LSN_ARGS(resume));
    return STEP_CONTINUE;
}

/*
 * Copies what prog (borrowed) says is not copied yet, committing progress
 * into the checkpoint; sets ss->start to where streaming resumes.
 * STEP_CONTINUE to stream, or STEP_NEXT_SESSION, STEP_RETRY or STEP_EXIT.
 */
static supervisor_step_t copy_snapshot(supervisor_t *sv, session_t *ss, snapshot_progress_t *prog,
                                       bool fresh)
{
    char err[1024];
    sluice_lsn_t resume = sv->ckpt.present ? sv->ckpt.end_lsn : sv->slot_confirmed;
    stream_t *holder = NULL; /* keeps a temporary exported slot (and its snapshot) alive */
    sluice_lsn_t cpoint = sv->exported_lsn;
    char name[64];
    snprintf(name, sizeof name, "%s", sv->snapshot_name);
    if (!sv->exported) {
        supervisor_step_t st =
            export_snapshot(sv, fresh, resume, &holder, &cpoint, name, sizeof name);
        if (st != STEP_CONTINUE)
            return st;
    } else {
        resume = sv->exported_lsn;
    }
    sv->started = true;
    metrics_set_state(MSTATE_STARTING, "copying the initial snapshot");
    bool setup_error = false;
    snapshot_args_t sa = {.cfg = sv->cfg,
                          .sink = sv->sink,
                          .ckpt = &sv->ckpt,
                          .progress = prog,
                          .resume_lsn = resume,
                          .system_id = ss->id.system_id,
                          .timeline = ss->id.timeline,
                          .db_name = ss->id.dbname,
                          .snapshot_name = name,
                          .consistent_point = cpoint,
                          .stop = sv->stop,
                          .setup_error = &setup_error};
    uint64_t seq_before = sv->ckpt.seq;
    pipeline_result_t pr = snapshot_copy(&sa, err, sizeof err);
    stream_close(holder);
    sv->exported = false;
    if (sv->ckpt.seq > seq_before)
        sv->backoff_ms = 0;
    if (pr != PIPE_STOPPED && setup_error) {
        log_fatal("%s", err);
        return supervisor_exit(sv, EXIT_PG_SETUP);
    }
    if (pr != PIPE_STOPPED) {
        if (pr == PIPE_REWIND || pr == PIPE_STREAM_LOST || pr == PIPE_REBUILD)
            snprintf(err + strlen(err), sizeof err - strlen(err),
                     "; the snapshot resumes from the last checkpoint");
        return session_outcome(sv, pr, err);
    }
    if (snapshot_progress_export_pending(prog))
        return supervisor_exit(sv, EXIT_OK); /* stopped on request */
    ss->start = sv->ckpt.end_lsn;
    return STEP_CONTINUE;
}

/* Sets the stream filter for the tables prog (borrowed, may be NULL) records as copied. */
static void set_stream_filter(supervisor_t *sv, const session_t *ss, snapshot_progress_t *prog)
{
    if (prog && !prog->running) {
        /* Tables copied at or before the resume point need no filter any more. */
        size_t before = prog->ntables;
        snapshot_progress_prune(prog, sv->ckpt.end_lsn);
        if (prog->ntables != before) {
            free(sv->ckpt.snapshot);
            sv->ckpt.snapshot = snapshot_progress_to_json(prog);
        }
    }
    snapshot_filter_free(sv->filter);
    sv->filter = snapshot_filter_new(prog, sv->ckpt.present ? sv->ckpt.end_lsn : ss->start);
}

/*
 * A fresh start with snapshot.method = incremental: every published table is
 * to be copied in chunks while streaming; *prog (NULL on entry) lists them,
 * and the checkpoint's snapshot member says so from the first Kafka commit
 * on. Refuses (exit 5) a publication with a table that has no key.
 */
static supervisor_step_t plan_incremental(supervisor_t *sv, snapshot_progress_t **prog)
{
    char err[2048];
    snapshot_progress_free(*prog);
    *prog = snapshot_progress_new();
    (*prog)->epoch = 1;
    switch (incremental_plan(sv->cfg, *prog, err, sizeof err)) {
    case INC_OK: break;
    case INC_SETUP:
        log_fatal("%s", err);
        snapshot_progress_free(*prog);
        *prog = NULL;
        return supervisor_exit(sv, EXIT_PG_SETUP);
    case INC_PG_LOST:
        log_warning("%s; trying again", err);
        snapshot_progress_free(*prog);
        *prog = NULL;
        sv->started = true; /* retried with backoff, as a lost connection */
        return STEP_RETRY;
    }
    if (!(*prog)->ntables)
        (*prog)->running = false;
    free(sv->ckpt.snapshot);
    sv->ckpt.snapshot = snapshot_progress_to_json(*prog);
    log_info("incremental snapshot: %zu table(s) of publication \"%s\" to copy in chunks of %d "
             "rows while streaming",
             (*prog)->ntables, sv->cfg->publication, sv->cfg->snapshot_chunk_rows);
    return STEP_CONTINUE;
}

/*
 * The initial snapshot (snapshot.h), between checking the slot and streaming:
 * copies what the checkpoint says is not copied yet, then sets the stream
 * filter and ss->start. STEP_CONTINUE: go on streaming (on the session's
 * connection, which stayed idle so that an exported snapshot stayed alive);
 * else STEP_NEXT_SESSION, STEP_RETRY or STEP_EXIT.
 */
static supervisor_step_t initial_snapshot(supervisor_t *sv, session_t *ss)
{
    char err[1024];
    snapshot_progress_t *prog = NULL;
    if (sv->ckpt.present && sv->ckpt.snapshot) {
        prog = snapshot_progress_parse(sv->ckpt.snapshot, err, sizeof err);
        if (!prog) {
            log_fatal("%s", err);
            return supervisor_exit(sv, EXIT_INTERNAL);
        }
    }
    snapshot_mode_t mode = sv->cfg->snapshot_mode;
    bool fresh = !sv->ckpt.present;
    bool incremental = sv->cfg->snapshot_method == SNAPSHOT_METHOD_INCREMENTAL;
    if (fresh && mode != SNAPSHOT_MODE_NEVER && incremental) {
        supervisor_step_t ist = plan_incremental(sv, &prog);
        if (ist != STEP_CONTINUE)
            return ist;
    }
    /* snapshot.mode decides a fresh start only: a snapshot the checkpoint records
     * as running (interrupted, or asked for by a "sluice.snapshot" message) is
     * completed in every mode, since the request was explicit and leaving it
     * would leave tables without their rows. Tables copied incrementally are the
     * pipeline's, while it streams (snapshot_incremental.h). */
    bool need = (fresh && mode != SNAPSHOT_MODE_NEVER && !incremental) ||
                (prog && prog->running &&
                 (snapshot_progress_export_pending(prog) ||
                  !snapshot_progress_incremental_pending(prog)));
    supervisor_step_t st = STEP_CONTINUE;
    if (need) {
        if (!prog)
            prog = snapshot_progress_new();
        st = copy_snapshot(sv, ss, prog, fresh);
        if (st == STEP_CONTINUE && mode == SNAPSHOT_MODE_INITIAL_ONLY) {
            log_info("snapshot.mode = initial_only: the snapshot is complete; stopping. Slot "
                     "\"%s\" stays at " LSN_FMT ": a later `sluice run` with snapshot.mode "
                     "initial streams from exactly there (drop the slot if it never will: it "
                     "holds WAL back)",
                     sv->cfg->slot, LSN_ARGS(sv->ckpt.end_lsn));
            st = supervisor_exit(sv, EXIT_OK);
        }
    } else if (mode == SNAPSHOT_MODE_INITIAL_ONLY) {
        log_info("snapshot.mode = initial_only: %s; nothing to do",
                 prog ? "the checkpoint records a complete snapshot"
                      : "the checkpoint records no snapshot (streaming started without one)");
        st = supervisor_exit(sv, EXIT_OK);
    }
    if (st == STEP_CONTINUE)
        set_stream_filter(sv, ss, prog);
    snapshot_progress_free(prog);
    return st;
}

/* ------------------------------------------------------------------------ */
/* A session                                                                 */

/* Connects, identifies the server, checks its setup. STEP_CONTINUE, STEP_RETRY or STEP_EXIT. */
static supervisor_step_t session_connect(supervisor_t *sv, session_t *ss)
{
    char err[1024];
    stream_err_t cls;
    stream_t *checked = sv->preflight_stream;
    sv->preflight_stream = NULL;
    if (checked && clock_mono_ms() - sv->preflight_mono_ms < 10000) {
        /* Identified and checked moments ago, idle since: the session's connection.
         * (Not after a long wait for Kafka: a connection idle that long may be gone.) */
        ss->stream = checked;
        ss->id = sv->preflight_id;
        return STEP_CONTINUE;
    }
    stream_close(checked);
    stream_wants_t wants = stream_wants_of(sv->cfg);
    ss->stream = stream_connect(sv->cfg->pg_conninfo, &cls, err, sizeof err);
    if (!ss->stream)
        return supervisor_pg_failure(sv, cls, err);
    cls = stream_identify(ss->stream, &ss->id, err, sizeof err);
    if (!cls)
        cls = stream_check_server(ss->stream, sv->cfg->publication, &wants, err, sizeof err);
    return cls ? supervisor_pg_failure(sv, cls, err) : STEP_CONTINUE;
}

/*
 * A server silent past the timeout for several sessions in a row without
 * streaming a transaction is likely a walsender replaying a transaction
 * without reading (PostgreSQL 15 reads nothing while it skips a table
 * rewrite): wait twice as long each time (up to an hour) instead of looping.
 */
static int receive_timeout_ms(const supervisor_t *sv)
{
    long long recv_timeout = sv->cfg->receive_timeout_ms;
    for (int i = 0; i < sv->silence_streak && recv_timeout && recv_timeout < 3600000; i++)
        recv_timeout *= 2;
    if (recv_timeout > 3600000)
        recv_timeout = 3600000;
    if (sv->silence_streak)
        log_info("the server was silent past the receive timeout %d time(s) in a row: waiting up "
                 "to %lld ms this time",
                 sv->silence_streak, recv_timeout);
    return (int) recv_timeout;
}

static void log_streaming_from(const supervisor_t *sv, const session_t *ss)
{
    if (ss->start)
        log_info("streaming from slot \"%s\" at " LSN_FMT " (database \"%s\", publication \"%s\")",
                 sv->cfg->slot, LSN_ARGS(ss->start), ss->id.dbname, sv->cfg->publication);
    else
        log_info("streaming from slot \"%s\" at its confirmed position (database \"%s\", "
                 "publication \"%s\")",
                 sv->cfg->slot, ss->id.dbname, sv->cfg->publication);
}

/*
 * Streams from ss->start through the pipeline until the session ends, then
 * closes the session's connection and frees what the stream used. STEP_NEXT_SESSION, STEP_RETRY
 * or STEP_EXIT.
 */
static supervisor_step_t session_stream(supervisor_t *sv, session_t *ss)
{
    char err[1024];
    stream_t *s = ss->stream;
    const stream_identity_t *id = &ss->id;
    /* Who this session's walsender is, in case a later session finds it lingering. */
    char my_start[64] = "";
    int my_pid = stream_backend_pid(s);
    if (stream_backend_start(s, my_pid, my_start, sizeof my_start, err, sizeof err))
        my_start[0] = '\0';
    int recv_timeout = receive_timeout_ms(sv);
    queue_t *q = queue_new((size_t) sv->cfg->queue_max_bytes);
    stream_err_t cls = stream_start(s, sv->cfg->slot, sv->cfg->publication, ss->start,
                                    sv->ckpt.present ? sv->ckpt.end_lsn : 0,
                                    sv->cfg->status_interval_ms, recv_timeout, q, err, sizeof err);
    if (cls) {
        queue_free(q);
        return supervisor_pg_failure(sv, cls, err);
    }
    log_streaming_from(sv, ss);
    sv->started = true;
    metrics_bind_queue(q, (size_t) sv->cfg->queue_max_bytes);
    metrics_set_state(MSTATE_STREAMING, NULL);

    encoder_options_t eo = {.server_name = sv->cfg->topic_prefix,
                            .db_name = id->dbname,
                            .toast_placeholder = sv->cfg->toast_placeholder,
                            .forms = sv->cfg->forms,
                            .schemas = sv->cfg->json_schemas,
                            .transaction_block = sv->cfg->transaction_metadata,
                            .propagate_source_type = sv->cfg->propagate_source_type};
    encoder_t *enc = encoder_new(sv->cfg->format, &eo);
    pipeline_args_t args = {.cfg = sv->cfg,
                            .sink = sv->sink,
                            .encoder = enc,
                            .confirm = pipeline_confirm_to_stream(s),
                            .queue = q,
                            .ckpt = &sv->ckpt,
                            .system_id = id->system_id,
                            .timeline = id->timeline,
                            .stop = sv->stop,
                            .stats = &sv->stats,
                            .snapshot_filter = sv->filter};
    uint64_t commits_before = sv->stats.counts.kafka_commits, txns_before = sv->stats.counts.source_txns;
    pipeline_result_t pr = pipeline_run(&args, err, sizeof err);
    if (sv->stats.counts.kafka_commits > commits_before)
        sv->backoff_ms = 0;
    if (sv->stats.counts.source_txns > txns_before)
        sv->silence_streak = 0;
    else if (stream_timed_out(s) && sv->silence_streak < 16)
        sv->silence_streak++;
    /* Decided while the reader still answers the walsender: it may take a second
     * connection to PostgreSQL (up to its connect_timeout), longer than a
     * wal_sender_timeout. Once the reader is stopped, the connection is closed at
     * once, so no step leaves it open and unanswered. */
    supervisor_step_t fenced = tell_fence_cause(sv, s, &pr, err, sizeof err);
    stream_stop(s);
    stream_close(s);
    sv->prev_walsender = my_pid;
    snprintf(sv->prev_walsender_start, sizeof sv->prev_walsender_start, "%s", my_start);
    ss->stream = NULL;
    metrics_bind_queue(NULL, 0);
    queue_free(q);
    encoder_free(enc);
    snapshot_filter_free(sv->filter);
    sv->filter = NULL;
    return fenced != STEP_CONTINUE ? fenced : session_outcome(sv, pr, err);
}

/*
 * One replication session: connect, check the slot, copy what must be
 * copied, stream. Closes its connection before returning, so a backoff the
 * caller takes holds nothing open. STEP_NEXT_SESSION, STEP_RETRY or STEP_EXIT.
 */
supervisor_step_t session_run(supervisor_t *sv)
{
    session_t ss = {0};
    supervisor_step_t st = session_connect(sv, &ss);
    sv->exported = false; /* until check_slot creates the slot with a snapshot */
    if (st == STEP_CONTINUE)
        st = check_slot(sv, &ss);
    if (st == STEP_CONTINUE)
        st = initial_snapshot(sv, &ss);
    if (st == STEP_CONTINUE)
        st = session_stream(sv, &ss);
    stream_close(ss.stream);
    return st;
}

