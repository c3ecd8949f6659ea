/*
 * status.c — `sluice status`: the slot's state and lag, the instances of a
 * hot-standby set, the checkpoint Kafka holds (read read_committed, no
 * transactional id touched) and whether the slot is ahead of it. Only reads.
 */
#include "sluice/ops/check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include "sluice/core/snapshot.h"
#include "sluice/pg/conn.h"
#include "sluice/pg/lease.h"

#include "check_internal.h"

static void format_time_us(int64_t us, char *out, size_t outlen)
{
    time_t t = (time_t) (us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, outlen, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, outlen - n, ".%03dZ", (int) ((us / 1000) % 1000));
}

static double age_seconds(int64_t us)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3 - (double) us) / 1e6;
}

/* What the slot says, as status prints it and the checkpoint is compared with. */
typedef struct {
    bool exists;
    sluice_lsn_t confirmed;
} status_slot_t;

/* Prints the slot's state and lag; returns EXIT_OK or EXIT_PG_CONNECT or EXIT_PG_SETUP. */
static int status_slot(const config_t *cfg, FILE *out, status_slot_t *slot)
{
    char err[1024], clean[1024];
    pgconn_spec_t spec = {.conninfo = cfg->pg_conninfo, .application = "sluice-status"};
    PGconn *c = pgconn_open(&spec, NULL, err, sizeof err);
    if (!c) {
        config_redact(cfg, err, clean, sizeof clean);
        fprintf(out, "PostgreSQL: unreachable: %s\n", clean);
        return EXIT_PG_CONNECT;
    }
    int rc = EXIT_OK;
    PGresult *res = check_pg_query(
        c,
        "SELECT s.active_pid, s.confirmed_flush_lsn, s.wal_status, pg_current_wal_lsn(), "
        "       pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint, "
        "       pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::bigint, "
        "       extract(epoch FROM r.flush_lag), r.state, "
        "       extract(epoch FROM now() - r.reply_time), s.plugin "
        "FROM pg_catalog.pg_replication_slots s "
        "LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid "
        "WHERE s.slot_name = $1",
        cfg->slot, NULL, err, sizeof err);
    if (!res) {
        config_redact(cfg, err, clean, sizeof clean);
        fprintf(out, "PostgreSQL: %s", clean);
        rc = EXIT_PG_SETUP;
    } else if (PQntuples(res) == 0) {
        fprintf(out, "slot \"%s\": does not exist (sluice creates it at its first start)\n",
                cfg->slot);
    } else {
        slot->exists = true;
        lsn_parse(PQgetvalue(res, 0, 1), &slot->confirmed);
        if (PQgetisnull(res, 0, 0))
            fprintf(out, "slot \"%s\": inactive (no sluice streams from it), wal_status %s\n",
                    cfg->slot, PQgetvalue(res, 0, 2));
        else if (PQgetisnull(res, 0, 7))
            fprintf(out,
                    "slot \"%s\": active, walsender pid %s, wal_status %s (its state, "
                    "time lag and feedback are shown to superusers and members of "
                    "pg_read_all_stats only)\n",
                    cfg->slot, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
        else
            fprintf(out, "slot \"%s\": active, walsender pid %s (%s), wal_status %s\n", cfg->slot,
                    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 7), PQgetvalue(res, 0, 2));
        fprintf(out, "  confirmed flush:  %s  (server WAL at %s)\n", PQgetvalue(res, 0, 1),
                PQgetvalue(res, 0, 3));
        long long lag = atoll(PQgetvalue(res, 0, 4)), kept = atoll(PQgetvalue(res, 0, 5));
        fprintf(out, "  lag:              %lld bytes", lag);
        if (!PQgetisnull(res, 0, 6))
            fprintf(out, ", %.3f s (flush lag reported by PostgreSQL)",
                    atof(PQgetvalue(res, 0, 6)));
        else if (!PQgetisnull(res, 0, 7))
            fprintf(out, ", no time lag (caught up)");
        fputc('\n', out);
        fprintf(out, "  retained WAL:     %lld bytes (from restart_lsn)\n", kept);
        if (!PQgetisnull(res, 0, 8))
            fprintf(out, "  last feedback:    %.1f s ago\n", atof(PQgetvalue(res, 0, 8)));
    }
    PQclear(res);
    PQfinish(c);
    return rc;
}

/*
 * Which instance is active and which wait, for instances in standby mode
 * (pg/lease.h): the lease's holder and the standbys' connections. Prints
 * nothing when none of them is there (instances not in standby mode hold no
 * lease).
 */
static void status_instances(const config_t *cfg, FILE *out)
{
    char err[1024];
    stream_err_t cls;
    lease_t *l = lease_connect(cfg->pg_conninfo, cfg->slot, false, &cls, err, sizeof err);
    lease_view_t v;
    if (!l || lease_look(l, &v, err, sizeof err)) {
        char clean[1024];
        config_redact(cfg, err, clean, sizeof clean);
        fprintf(out, "instances: cannot look at the standby lease: %s\n", clean);
        lease_close(l);
        return;
    }
    lease_close(l);
    if (v.holder_pid) {
        fprintf(out, "active instance:  holds the lease (PostgreSQL backend %d, client %s)",
                v.holder_pid, v.holder_client[0] ? v.holder_client : "hidden from this role");
        if (v.holder_idle_ms >= 0)
            fprintf(out, ", renewed %.1f s ago", (double) v.holder_idle_ms / 1000);
        fputc('\n', out);
    } else if (v.standbys) {
        fprintf(out, "active instance:  none holds the lease (a standby takes it within "
                     "standby.poll.interval.ms)\n");
    }
    if (v.standbys)
        fprintf(out, "standby instances: %d waiting (client%s %s)\n", v.standbys,
                v.standbys == 1 ? "" : "s", v.standby_clients);
    else if (v.holder_pid)
        fprintf(out, "standby instances: none waiting\n");
}

/* The snapshot member of a checkpoint, when it has one. */
static void status_snapshot(const checkpoint_t *ck, FILE *out)
{
    char err[256];
    snapshot_progress_t *sp =
        ck->snapshot ? snapshot_progress_parse(ck->snapshot, err, sizeof err) : NULL;
    if (sp) {
        size_t done = 0;
        for (size_t i = 0; i < sp->ntables; i++)
            done += sp->tables[i].state == SNAPSHOT_TABLE_DONE;
        if (sp->running)
            fprintf(out,
                    "  snapshot:         running (snapshot %u at " LSN_FMT "): %zu of %zu "
                    "tables complete in Kafka\n",
                    sp->epoch, LSN_ARGS(sp->consistent_point), done, sp->ntables);
        else
            fprintf(out, "  snapshot:         done (%u snapshot%s, the latest at " LSN_FMT ")\n",
                    sp->epoch, sp->epoch == 1 ? "" : "s", LSN_ARGS(sp->consistent_point));
        snapshot_progress_free(sp);
    }
}

/* Prints the checkpoint and whether the slot is ahead of it; returns rc, or the exit code of
 * the first problem when rc is EXIT_OK. */
static int status_checkpoint(const config_t *cfg, FILE *out, const status_slot_t *slot, int rc)
{
    char err[1024], clean[1024];
    checkpoint_t ck = {0};
    ckread_t how = check_read_checkpoint(cfg, &ck, err, sizeof err);
    if (how == CKREAD_NO_SINK) {
        config_redact(cfg, err, clean, sizeof clean);
        fprintf(out, "configuration: %s\n", clean);
        if (rc == EXIT_OK)
            rc = EXIT_CONFIG;
    } else if (how != CKREAD_OK) {
        config_redact(cfg, err, clean, sizeof clean);
        fprintf(out, "checkpoint: unreadable from \"%s\": %s\n", cfg->checkpoint_topic, clean);
        if (rc == EXIT_OK)
            rc = EXIT_KAFKA;
    } else if (!ck.present) {
        fprintf(out, "checkpoint: none for slot \"%s\" in \"%s\" (nothing committed yet)\n",
                cfg->slot, cfg->checkpoint_topic);
        if (slot->exists && rc == EXIT_OK)
            fprintf(out,
                    "consistency: a slot without a checkpoint: fine before the first commit\n");
    } else {
        char when[64] = "?";
        if (ck.commit_ts_us)
            format_time_us(ck.commit_ts_us, when, sizeof when);
        fprintf(out, "checkpoint: Kafka transaction %" PRIu64 " in \"%s\"\n", ck.seq,
                cfg->checkpoint_topic);
        fprintf(out, "  resumes at:       " LSN_FMT "\n", LSN_ARGS(ck.end_lsn));
        fprintf(out,
                "  last commit:      source transaction %u, commit LSN " LSN_FMT
                ", committed at %s (%.1f s ago)\n",
                ck.xid, LSN_ARGS(ck.commit_lsn), when,
                ck.commit_ts_us ? age_seconds(ck.commit_ts_us) : 0.0);
        status_snapshot(&ck, out);
        if (slot->exists && slot->confirmed > ck.end_lsn) {
            fprintf(out,
                    "consistency: BROKEN: the slot (" LSN_FMT ") is ahead of the checkpoint "
                    "(" LSN_FMT "); `sluice run` will refuse to start\n",
                    LSN_ARGS(slot->confirmed), LSN_ARGS(ck.end_lsn));
            if (rc == EXIT_OK)
                rc = EXIT_SLOT_MISMATCH;
        } else if (!slot->exists && rc == EXIT_OK) {
            fprintf(out, "consistency: BROKEN: a checkpoint exists but the slot does not\n");
            rc = EXIT_SLOT_MISMATCH;
        } else if (rc == EXIT_OK) {
            fprintf(out, "consistency: ok (the slot is not ahead of the checkpoint)\n");
        }
    }
    checkpoint_clear(&ck);
    return rc;
}

int status_run(const config_t *cfg, FILE *out)
{
    status_slot_t slot = {0};
    int rc = status_slot(cfg, out, &slot);
    if (rc == EXIT_OK)
        status_instances(cfg, out);
    return status_checkpoint(cfg, out, &slot, rc);
}
