/*
 * check.c — `sluice check` (preflight) and `sluice status`.
 *
 * Both only read. PostgreSQL is asked over an ordinary session (so a role
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

#include <inttypes.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/buf.h"
#include "sluice/base/checkpoint.h"
#include "sluice/base/clock.h"
#include "sluice/core/snapshot.h"
#include "sluice/base/log.h"
#include "sluice/kafka/access.h"
#include "sluice/kafka/sink.h"
#include "sluice/pg/conn.h"
#include "sluice/pg/lease.h"
#include "sluice/pg/stream.h"

typedef enum { CK_OK, CK_WARN, CK_FAIL, CK_SKIP } result_t;

typedef struct {
    const config_t *cfg;
    FILE *out;
    int passed, warned, failed, skipped;
} report_t;

/* A library's message (libpq, librdkafka) with any secret of the configuration masked. */
static const char *scrub(const report_t *r, const char *text)
{
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    config_redact(r->cfg, text, b, sizeof bufs[0]);
    return b;
}

/* One check line, and for warnings and failures an indented "fix:" line. */
static void report(report_t *r, result_t res, const char *name, const char *fix, const char *fmt,
                   ...) SLUICE_PRINTF(5, 6);
static void report(report_t *r, result_t res, const char *name, const char *fix, const char *fmt,
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

/* ---- PostgreSQL ------------------------------------------------------- */

/* Runs sql with up to two text parameters; NULL (and err) on failure. */
static PGresult *pg_query(PGconn *c, const char *sql, const char *p1, const char *p2, char *err,
                          size_t errlen)
{
    const char *params[2] = {p1, p2};
    int np = p2 ? 2 : p1 ? 1 : 0;
    PGresult *res = PQexecParams(c, sql, np, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

static bool is_true(PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

typedef struct {
    bool connected;
    bool slot_exists;
    bool slot_ok;
    sluice_lsn_t slot_confirmed;
    char system_id[32];
    char **topics; /* topics the published tables map to */
    size_t ntopics;
} pg_facts_t;

/* Opens the ordinary session the checks ask over and reports it; NULL when it fails. */
static PGconn *check_pg_connect(report_t *r, pg_facts_t *f)
{
    char err[1024];
    pgconn_spec_t spec = {.conninfo = r->cfg->pg_conninfo, .application = "sluice-check"};
    PGconn *c = pgconn_open(&spec, NULL, err, sizeof err);
    if (!c) {
        report(r, CK_FAIL, "PostgreSQL connection",
               "check \"postgres.conninfo\" (host, port, dbname, user, password), that the server "
               "runs, and that pg_hba.conf lets this user in",
               "%s", scrub(r, err));
        return NULL;
    }
    f->connected = true;
    report(r, CK_OK, "PostgreSQL connection", NULL, "database \"%s\" on %s:%s as \"%s\"", PQdb(c),
           PQhost(c), PQport(c), PQuser(c));
    return c;
}

/*
 * The server's version and what sluice does on it (the same builders `run`
 * uses write the commands shown), and whether it can do what the
 * configuration asks. False when sluice cannot run on it at all.
 */
static bool check_pg_version(report_t *r, PGconn *c)
{
    const config_t *cfg = r->cfg;
    int ver = PQserverVersion(c);
    char text[32], err[512];
    stream_version_text(ver, text, sizeof text);
    if (ver < PG_VERSION_MIN) {
        report(r, CK_FAIL, "server version",
               "upgrade PostgreSQL to 14 or later (14 to 18 are tested: docs/operations.md, "
               "\"Supported versions\")",
               "PostgreSQL %s (server_version_num %d): sluice needs 14 or later (pgoutput's "
               "messages option)",
               text, ver);
        return false;
    }
    strbuf_t create = STRBUF_INIT;
    stream_create_slot_sql(ver, cfg->slot, false, cfg->snapshot_mode != SNAPSHOT_MODE_NEVER,
                           cfg->slot_failover && ver >= PG_VERSION_FAILOVER, &create, err,
                           sizeof err);
    report(r, CK_OK, "server version", NULL,
           "PostgreSQL %s (server_version_num %d%s): sluice creates a slot with %s and reads "
           "pgoutput protocol 1 with messages",
           text, ver, ver > 189999 ? ", newer than the 18 sluice was tested with" : "",
           create.data ? create.data : "?");
    strbuf_free(&create);
    stream_wants_t wants = stream_wants_of(cfg);
    stream_wants_t origin_only = {.origin_none = wants.origin_none};
    if (wants.origin_none) {
        if (stream_wants_supported(ver, &origin_only, err, sizeof err))
            report(r, CK_OK, "postgres.origin", NULL,
                   "none: changes that a logical replication subscription applied here are left "
                   "out (origin 'none')");
        else
            report(r, CK_FAIL, "postgres.origin",
                   "set postgres.origin = any (or upgrade PostgreSQL to 16 or later)", "%s", err);
    }
    stream_wants_t failover_only = {.failover = wants.failover};
    if (wants.failover && !stream_wants_supported(ver, &failover_only, err, sizeof err))
        report(r, CK_FAIL, "postgres.slot.failover",
               "remove postgres.slot.failover (or upgrade PostgreSQL to 17 or later)", "%s", err);
    return true;
}

/* A comma-separated list without blanks: "a, b" → "a,b" in out. */
static void squeeze_list(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = in; *p && n + 1 < outlen; p++)
        if (*p != ' ' && *p != '"')
            out[n++] = *p;
    out[n] = '\0';
}

/*
 * Failover: a slot survives a failover to a standby only as a failover slot
 * (17+) that the standby synchronizes, and only safely when the primary holds
 * logical changes back until the standby has them (synchronized_standby_slots).
 * Warns when the primary has a standby the slot would not survive a failover
 * to, or when a failover slot lacks that guard. Settings of PostgreSQL 18
 * that drop an idle slot are reported too.
 */
static void check_pg_failover(report_t *r, PGconn *c)
{
    const config_t *cfg = r->cfg;
    int ver = PQserverVersion(c);
    char err[1024];
    bool v17 = ver >= PG_VERSION_FAILOVER;
    PGresult *res = pg_query(
        c,
        v17 ? "SELECT (SELECT string_agg(slot_name || CASE WHEN active THEN '' ELSE ' (inactive)' "
              "END, ', ' ORDER BY slot_name) FROM pg_catalog.pg_replication_slots "
              "WHERE slot_type = 'physical'), "
              "(SELECT count(*) FROM pg_catalog.pg_stat_replication r WHERE NOT EXISTS (SELECT 1 "
              " FROM pg_catalog.pg_replication_slots s WHERE s.active_pid = r.pid "
              " AND s.slot_type = 'logical')), "
              "(SELECT failover FROM pg_catalog.pg_replication_slots WHERE slot_name = $1), "
              "current_setting('synchronized_standby_slots'), "
              "(SELECT string_agg(slot_name, ',') FROM pg_catalog.pg_replication_slots "
              " WHERE slot_type = 'physical'), pg_catalog.pg_is_in_recovery()"
            : "SELECT (SELECT string_agg(slot_name || CASE WHEN active THEN '' ELSE ' (inactive)' "
              "END, ', ' ORDER BY slot_name) FROM pg_catalog.pg_replication_slots "
              "WHERE slot_type = 'physical'), "
              "(SELECT count(*) FROM pg_catalog.pg_stat_replication r WHERE NOT EXISTS (SELECT 1 "
              " FROM pg_catalog.pg_replication_slots s WHERE s.active_pid = r.pid "
              " AND s.slot_type = 'logical')), "
              "false, '', '', pg_catalog.pg_is_in_recovery() "
              "WHERE $1::text IS NOT NULL",
        cfg->slot, NULL, err, sizeof err);
    if (!res || PQntuples(res) != 1) {
        report(r, CK_FAIL, "failover", "see the message", "%s", res ? "no answer" : scrub(r, err));
        PQclear(res);
        return;
    }
    const char *physical = PQgetisnull(res, 0, 0) ? "" : PQgetvalue(res, 0, 0);
    int senders = atoi(PQgetvalue(res, 0, 1));
    bool slot_failover = is_true(res, 0, 2);
    char guard[512], physical_names[512];
    squeeze_list(PQgetvalue(res, 0, 3), guard, sizeof guard);
    snprintf(physical_names, sizeof physical_names, ",%s,", PQgetvalue(res, 0, 4));
    bool in_recovery = is_true(res, 0, 5);
    bool standby = physical[0] || senders > 0;
    char who[768];
    if (physical[0])
        snprintf(who, sizeof who, "physical replication slot(s) %s", physical);
    else
        snprintf(who, sizeof who, "%d physical replication connection(s)", senders);
    if (in_recovery) {
        report(r, CK_WARN, "failover",
               "point postgres.conninfo at the primary (several hosts: add "
               "target_session_attrs=primary)",
               "this server is a standby (in recovery): sluice streams from the primary");
    } else if (!cfg->slot_failover && !slot_failover) {
        if (standby)
            report(r, CK_WARN, "failover",
                   v17 ? "set postgres.slot.failover = true and synchronize the slot to the "
                         "standby (docs/operations.md, \"Failover\")"
                       : "PostgreSQL 17 or later keeps a slot across a failover "
                         "(postgres.slot.failover); before that, plan to recreate the pipeline "
                         "after one",
                   "this primary has a standby (%s), but slot \"%s\" is not a failover slot: "
                   "after a failover to it the slot is gone and sluice stops (exit 6)",
                   who, cfg->slot);
    } else if (v17) {
        /* A failover slot, or one sluice turns into one at start. */
        report(r, CK_OK, "failover", NULL, "slot \"%s\" %s a failover slot%s%s", cfg->slot,
               slot_failover ? "is" : "becomes", standby ? "; standby: " : "",
               standby ? who : "");
        if (!guard[0]) {
            report(r, CK_WARN, "synchronized_standby_slots",
                   "on the primary: synchronized_standby_slots = 'the standby''s physical slot' "
                   "(and reload)",
                   "is unset: PostgreSQL may send sluice changes the standby does not have yet; "
                   "after a failover the new primary lacks them although Kafka holds them, and "
                   "the synced slot may not be usable");
        } else {
            char missing[512] = "";
            size_t n = 0;
            for (char *save = NULL, *name = strtok_r(guard, ",", &save); name;
                 name = strtok_r(NULL, ",", &save)) {
                char needle[160];
                snprintf(needle, sizeof needle, ",%s,", name);
                if (!strstr(physical_names, needle))
                    n += (size_t) snprintf(missing + n, n < sizeof missing ? sizeof missing - n : 0,
                                           "%s%s", n ? ", " : "", name);
            }
            if (missing[0])
                report(r, CK_WARN, "synchronized_standby_slots",
                       "create the standby's physical slot (pg_create_physical_replication_slot) "
                       "or correct the setting",
                       "names %s, which is not a physical slot of this server: PostgreSQL "
                       "holds sluice's changes back until that slot catches up",
                       missing);
            else
                report(r, CK_OK, "synchronized_standby_slots", NULL,
                       "%s: sluice gets only changes the standby has", PQgetvalue(res, 0, 3));
        }
    }
    PQclear(res);

    if (ver >= 180000) {
        res = pg_query(c,
                       "SELECT current_setting('idle_replication_slot_timeout'), "
                       "       current_setting('idle_replication_slot_timeout', true)::interval "
                       "       > interval '0'",
                       NULL, NULL, err, sizeof err);
        if (res && is_true(res, 0, 1))
            report(r, CK_WARN, "idle_replication_slot_timeout",
                   "set it to 0, or well above the longest time sluice may be stopped",
                   "is %s: PostgreSQL 18 invalidates slot \"%s\" when sluice is stopped that "
                   "long, and changes after it are lost",
                   PQgetvalue(res, 0, 0), cfg->slot);
        PQclear(res);
    }
}

/* wal_level, a free replication slot, a free WAL sender. */
static void check_pg_settings(report_t *r, PGconn *c)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    PGresult *res = pg_query(c,
                             "SELECT current_setting('wal_level'), "
                             "current_setting('max_replication_slots')::int, "
                             "(SELECT count(*) FROM pg_catalog.pg_replication_slots), "
                             "current_setting('max_wal_senders')::int, "
                             "(SELECT count(*) FROM pg_catalog.pg_stat_replication), "
                             "EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots "
                             "        WHERE slot_name = $1)",
                             cfg->slot, NULL, err, sizeof err);
    if (!res) {
        report(r, CK_FAIL, "server settings", "see the message", "%s", scrub(r, err));
    } else {
        const char *wal_level = PQgetvalue(res, 0, 0);
        if (strcmp(wal_level, "logical") == 0)
            report(r, CK_OK, "wal_level", NULL, "logical");
        else
            report(r, CK_FAIL, "wal_level",
                   "set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = "
                   "logical) and restart PostgreSQL",
                   "is \"%s\"; logical decoding needs \"logical\"", wal_level);
        int max_slots = atoi(PQgetvalue(res, 0, 1)), slots = atoi(PQgetvalue(res, 0, 2));
        bool have_slot = is_true(res, 0, 5);
        if (have_slot || slots < max_slots)
            report(r, CK_OK, "replication slots", NULL, "%d of max_replication_slots = %d in use%s",
                   slots, max_slots, have_slot ? " (including ours)" : "");
        else
            report(r, CK_FAIL, "replication slots",
                   "raise max_replication_slots in postgresql.conf and restart, or drop an unused "
                   "slot (SELECT pg_drop_replication_slot('name'))",
                   "all %d of max_replication_slots are in use, none left for slot \"%s\"",
                   max_slots, cfg->slot);
        int max_senders = atoi(PQgetvalue(res, 0, 3)), senders = atoi(PQgetvalue(res, 0, 4));
        if (senders < max_senders)
            report(r, CK_OK, "WAL senders", NULL, "%d of max_wal_senders = %d in use", senders,
                   max_senders);
        else
            report(r, CK_FAIL, "WAL senders",
                   "raise max_wal_senders in postgresql.conf and restart PostgreSQL",
                   "all %d of max_wal_senders are in use", max_senders);
        PQclear(res);
    }
}

/* The role's REPLICATION attribute. */
static void check_pg_role(report_t *r, PGconn *c)
{
    char err[1024];
    PGresult *res = pg_query(c,
                             "SELECT rolsuper, rolreplication, rolcanlogin, current_user "
                             "FROM pg_catalog.pg_roles WHERE rolname = current_user",
                             NULL, NULL, err, sizeof err);
    if (res && PQntuples(res) == 1) {
        bool super = is_true(res, 0, 0), repl = is_true(res, 0, 1);
        const char *user = PQgetvalue(res, 0, 3);
        char fix[256];
        snprintf(fix, sizeof fix, "ALTER ROLE \"%s\" WITH REPLICATION (as a superuser; see sql/setup.sql)",
                 user);
        if (repl || super)
            report(r, CK_OK, "role privileges", NULL, "role \"%s\" has %s", user,
                   super ? "SUPERUSER (REPLICATION LOGIN is enough; see sql/setup.sql)"
                         : "REPLICATION");
        else
            report(r, CK_FAIL, "role privileges", fix,
                   "role \"%s\" lacks the REPLICATION attribute needed to stream from a slot",
                   user);
    } else {
        report(r, CK_FAIL, "role privileges", "see the message", "%s", res ? "role not found" : scrub(r, err));
    }
    PQclear(res);
}

/* A replication connection: pg_hba.conf and the REPLICATION attribute, for real. */
static void check_pg_replication(report_t *r, pg_facts_t *f)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    stream_err_t cls;
    stream_t *s = stream_connect(cfg->pg_conninfo, &cls, err, sizeof err);
    stream_identity_t id;
    if (s && (cls = stream_identify(s, &id, err, sizeof err)) == STREAM_OK) {
        snprintf(f->system_id, sizeof f->system_id, "%s", id.system_id);
        report(r, CK_OK, "replication connection", NULL,
               "replication=database works (system %s, timeline %u)", id.system_id, id.timeline);
    } else {
        report(r, CK_FAIL, "replication connection",
               "give the role REPLICATION and allow it in pg_hba.conf (a line for the database, "
               "e.g. \"hostssl shop sluice 10.0.0.0/8 scram-sha-256\")",
               "%s", scrub(r, err));
    }
    stream_close(s);
}

/* The publication; false when it is missing. *upd_del: it publishes UPDATE or DELETE. */
static bool check_pg_publication(report_t *r, PGconn *c, bool *upd_del, bool *upd)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    PGresult *res = pg_query(c,
                             "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate "
                             "FROM pg_catalog.pg_publication WHERE pubname = $1",
                             cfg->publication, NULL, err, sizeof err);
    bool pub_ok = false;
    *upd_del = *upd = true;
    if (!res) {
        report(r, CK_FAIL, "publication", "see the message", "%s", scrub(r, err));
    } else if (PQntuples(res) == 0) {
        char fix[512];
        snprintf(fix, sizeof fix,
                 "CREATE PUBLICATION %s FOR TABLE schema.table, …; (see sql/setup.sql), or set "
                 "\"postgres.publication\"",
                 cfg->publication);
        report(r, CK_FAIL, "publication", fix, "publication \"%s\" does not exist in database \"%s\"",
               cfg->publication, PQdb(c));
    } else {
        pub_ok = true;
        *upd_del = is_true(res, 0, 2) || is_true(res, 0, 3);
        *upd = is_true(res, 0, 2);
        report(r, CK_OK, "publication", NULL, "\"%s\" exists (%spublishes%s%s%s%s)",
               cfg->publication, is_true(res, 0, 0) ? "FOR ALL TABLES, " : "",
               is_true(res, 0, 1) ? " insert" : "", is_true(res, 0, 2) ? " update" : "",
               is_true(res, 0, 3) ? " delete" : "", is_true(res, 0, 4) ? " truncate" : "");
    }
    PQclear(res);
    return pub_ok;
}

/* The published tables: a usable replica identity and SELECT (for a snapshot); their topics
 * go into f->topics. */
static void check_pg_tables(report_t *r, pg_facts_t *f, PGconn *c, bool pub_upd_del)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    PGresult *res = pg_query(c,
                             "SELECT pt.schemaname, pt.tablename, c.relreplident, "
                             "       EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
                             "               WHERE i.indrelid = c.oid AND i.indisprimary), "
                             "       has_table_privilege(c.oid, 'SELECT') "
                             "FROM pg_catalog.pg_publication_tables pt "
                             "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
                             "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid "
                             "                          AND c.relname = pt.tablename "
                             "WHERE pt.pubname = $1 ORDER BY 1, 2",
                             cfg->publication, NULL, err, sizeof err);
    if (!res) {
        report(r, CK_FAIL, "published tables", "see the message", "%s", scrub(r, err));
    } else if (PQntuples(res) == 0) {
        report(r, CK_WARN, "published tables",
               "add tables: ALTER PUBLICATION … ADD TABLE schema.table",
               "publication \"%s\" holds no table: there is nothing to stream", cfg->publication);
    } else {
        int n = PQntuples(res), ident_ok = 0, no_select = 0;
        f->topics = xcalloc((size_t) n, sizeof *f->topics);
        for (int i = 0; i < n; i++) {
            const char *nsp = PQgetvalue(res, i, 0), *rel = PQgetvalue(res, i, 1);
            char ident = PQgetvalue(res, i, 2)[0];
            bool pk = is_true(res, i, 3);
            strbuf_t t = STRBUF_INIT;
            strbuf_appendf(&t, "%s.%s.%s", cfg->topic_prefix, nsp, rel);
            f->topics[f->ntopics++] = t.data;
            if (!is_true(res, i, 4))
                no_select++;
            if (ident == 'f' || ident == 'i' || (ident == 'd' && pk)) {
                ident_ok++;
                continue;
            }
            char fix[512];
            snprintf(fix, sizeof fix,
                     "ALTER TABLE \"%s\".\"%s\" ADD PRIMARY KEY (…), or ALTER TABLE … REPLICA "
                     "IDENTITY USING INDEX a_unique_index, or … REPLICA IDENTITY FULL",
                     nsp, rel);
            report(r, pub_upd_del ? CK_FAIL : CK_WARN, "replica identity", fix,
                   "table \"%s.%s\" has %s: PostgreSQL rejects its UPDATEs and DELETEs once "
                   "published, and its events get no key",
                   nsp, rel, ident == 'n' ? "REPLICA IDENTITY NOTHING" : "no primary key");
        }
        if (ident_ok)
            report(r, CK_OK, "replica identity", NULL,
                   "%d of %d published tables have a primary key, an identity index or FULL",
                   ident_ok, n);
        if (no_select)
            report(r, CK_WARN, "table privileges",
                   "GRANT SELECT ON the published tables TO the role (sql/setup.sql does): "
                   "an initial snapshot reads them",
                   "the role cannot SELECT %d of %d published tables (streaming does not need "
                   "it, a snapshot does)",
                   no_select, n);
        else
            report(r, CK_OK, "table privileges", NULL, "SELECT on all %d published tables", n);
    }
    PQclear(res);
}

/*
 * Published tables whose large values PostgreSQL stores out of line (TOAST:
 * varlena columns whose storage is not plain — text, bytea, jsonb, arrays, …)
 * and whose replica identity is not FULL: an UPDATE that leaves such a value
 * unchanged does not carry it, and the event holds toast.placeholder instead.
 * A warning per table (the first 10), with both ways out. Only the published
 * columns count (pg_publication_tables.attnames, PostgreSQL 15 on).
 */
static void check_pg_toast(report_t *r, PGconn *c, bool publishes_update)
{
    const config_t *cfg = r->cfg;
    if (!publishes_update) {
        report(r, CK_OK, "unchanged TOAST values", NULL,
               "publication \"%s\" publishes no UPDATE", cfg->publication);
        return;
    }
    char err[1024];
    PGresult *res = pg_query(
        c,
        "SELECT pt.schemaname, pt.tablename, c.relreplident, "
        "       pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' (' || "
        "           pg_catalog.format_type(a.atttypid, a.atttypmod) || ')', ', ' "
        "           ORDER BY a.attnum) "
        "FROM pg_catalog.pg_publication_tables pt "
        "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "     AND NOT a.attisdropped AND a.attlen = -1 AND a.attstorage <> 'p' "
        "     AND a.attgenerated = '' "
        "WHERE pt.pubname = $1 AND (pg_catalog.to_jsonb(pt) -> 'attnames' IS NULL "
        "      OR pg_catalog.to_jsonb(pt) -> 'attnames' ? a.attname) "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2",
        cfg->publication, NULL, err, sizeof err);
    if (!res) {
        report(r, CK_FAIL, "unchanged TOAST values", "see the message", "%s", scrub(r, err));
        return;
    }
    int n = PQntuples(res), full = 0, warned = 0;
    for (int i = 0; i < n; i++) {
        const char *nsp = PQgetvalue(res, i, 0), *rel = PQgetvalue(res, i, 1);
        char ident = PQgetvalue(res, i, 2)[0];
        if (ident == 'f') {
            full++;
            continue;
        }
        if (ident != 'd' && ident != 'i')
            continue; /* NOTHING: PostgreSQL rejects its UPDATEs (the replica identity check) */
        if (++warned > 10)
            continue;
        char fix[768];
        snprintf(fix, sizeof fix,
                 "ALTER TABLE \"%s\".\"%s\" REPLICA IDENTITY FULL (every update then carries the "
                 "old row, and sluice writes the unchanged value from it; more WAL), or accept "
                 "it: a consumer keeps the column's previous value when it reads the placeholder "
                 "(docs/output.md)",
                 nsp, rel);
        report(r, CK_WARN, "unchanged TOAST values", fix,
               "table \"%s.%s\" (replica identity %s) has columns stored out of line when large: "
               "%s. An UPDATE that leaves such a value unchanged does not send it, and its event "
               "holds \"%s\" (toast.placeholder) instead",
               nsp, rel, ident == 'i' ? "using index" : "default", PQgetvalue(res, i, 3),
               cfg->toast_placeholder);
    }
    if (warned > 10)
        report(r, CK_WARN, "unchanged TOAST values", "as above, for each of them",
               "%d more tables like those above", warned - 10);
    if (!warned)
        report(r, CK_OK, "unchanged TOAST values", NULL,
               "no published table without REPLICA IDENTITY FULL has a column stored out of line "
               "(%d with FULL: unchanged values are written from the old row)",
               full);
    PQclear(res);
}

/* The replication slot: absent (and creatable) or logical, pgoutput, this database's, not
 * lost; its position goes into f. */
static void check_pg_slot(report_t *r, pg_facts_t *f, PGconn *c)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    PGresult *res = pg_query(
        c,
        "SELECT plugin, slot_type, database, active_pid, confirmed_flush_lsn, "
        "       wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), "
        "       current_database() "
        "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
        cfg->slot, NULL, err, sizeof err);
    if (!res) {
        report(r, CK_FAIL, "replication slot", "see the message", "%s", scrub(r, err));
    } else if (PQntuples(res) == 0) {
        if (cfg->create_slot)
            report(r, CK_OK, "replication slot", NULL,
                   "\"%s\" does not exist yet; sluice creates it at its first start", cfg->slot);
        else
            report(r, CK_FAIL, "replication slot",
                   "create it (SELECT pg_create_logical_replication_slot('…', 'pgoutput')) or set "
                   "postgres.create_slot = true",
                   "\"%s\" does not exist and postgres.create_slot is off", cfg->slot);
    } else {
        f->slot_exists = true;
        const char *plugin = PQgetvalue(res, 0, 0), *db = PQgetvalue(res, 0, 2);
        const char *wal_status = PQgetvalue(res, 0, 5);
        if (!PQgetisnull(res, 0, 4))
            lsn_parse(PQgetvalue(res, 0, 4), &f->slot_confirmed);
        if (strcmp(PQgetvalue(res, 0, 1), "logical") != 0 || strcmp(plugin, "pgoutput") != 0)
            report(r, CK_FAIL, "replication slot",
                   "use another postgres.slot name, or drop the slot if it is unused",
                   "\"%s\" is a %s slot of plugin \"%s\", not a logical pgoutput slot", cfg->slot,
                   PQgetvalue(res, 0, 1), plugin);
        else if (strcmp(db, PQgetvalue(res, 0, 7)) != 0)
            report(r, CK_FAIL, "replication slot", "use another postgres.slot name",
                   "\"%s\" belongs to database \"%s\", not \"%s\"", cfg->slot, db,
                   PQgetvalue(res, 0, 7));
        else if (strcmp(wal_status, "lost") == 0)
            report(r, CK_FAIL, "replication slot",
                   "the WAL is gone: recreate the pipeline deliberately (new slot, new snapshot)",
                   "\"%s\" is invalidated (wal_status lost, max_slot_wal_keep_size)", cfg->slot);
        else {
            f->slot_ok = true;
            if (!PQgetisnull(res, 0, 3))
                report(r, CK_WARN, "replication slot",
                       "fine if it is this configuration's running sluice; otherwise stop the "
                       "other client first",
                       "\"%s\" is in use by PostgreSQL backend %s (confirmed %s, %s bytes behind)",
                       cfg->slot, PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
                       PQgetvalue(res, 0, 6));
            else
                report(r, CK_OK, "replication slot", NULL,
                       "\"%s\" (pgoutput, idle, confirmed %s, %s bytes behind, wal_status %s)",
                       cfg->slot, PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 6), wal_status);
        }
    }
    PQclear(res);
}

static void check_postgres(report_t *r, pg_facts_t *f)
{
    PGconn *c = check_pg_connect(r, f);
    if (!c)
        return;
    if (!check_pg_version(r, c)) {
        PQfinish(c);
        return;
    }
    check_pg_settings(r, c);
    check_pg_role(r, c);
    check_pg_replication(r, f);
    bool pub_upd_del, pub_upd;
    if (check_pg_publication(r, c, &pub_upd_del, &pub_upd)) {
        check_pg_tables(r, f, c, pub_upd_del);
        check_pg_toast(r, c, pub_upd);
    }
    check_pg_slot(r, f, c);
    check_pg_failover(r, c);
    PQfinish(c);
}

/* ---- Kafka ------------------------------------------------------------ */

static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void) rk;
    (void) level;
    log_debug("kafka [%s]: %s", fac, buf);
}

/* Refusals of the connection itself, seen through the check client's error callback. */
typedef struct {
    int auth_failures, tls_failures;
    char reason[512];
} refusals_t;

static void quiet_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void) rk;
    log_debug("kafka: %s", reason);
    refusals_t *rf = opaque;
    if (access_unauthenticated((rd_kafka_resp_err_t) err))
        rf->auth_failures++;
    else if (err == RD_KAFKA_RESP_ERR__SSL)
        rf->tls_failures++;
    else
        return;
    snprintf(rf->reason, sizeof rf->reason, "%s", reason);
}

/* A plain (non-transactional) producer with the user's kafka.* settings; its error callback
 * counts refusals into rf. */
static rd_kafka_t *kafka_client(const config_t *cfg, refusals_t *rf, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_conf_set_error_cb(conf, quiet_error);
    rd_kafka_conf_set_opaque(conf, rf);
    char e[512];
    for (size_t i = 0; i < cfg->nkafka; i++) {
        if (rd_kafka_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, e, sizeof e) !=
            RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "invalid Kafka setting \"kafka.%s\": %s", cfg->kafka[i].key, e);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", e, sizeof e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!rk) {
        snprintf(err, errlen, "could not create a Kafka client: %s", e);
        rd_kafka_conf_destroy(conf);
    }
    return rk;
}

static int kafka_timeout(const config_t *cfg)
{
    return cfg->kafka_startup_timeout_ms < 10000 ? cfg->kafka_startup_timeout_ms : 10000;
}

/* Partitions of topic per the metadata md, -1 if absent. */
static int topic_partitions(const struct rd_kafka_metadata *md, const char *topic)
{
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0)
            return md->topics[i].err ? -1 : md->topics[i].partition_cnt;
    return -1;
}

/* Validates (without creating) the creation of the given topics; appends failures to out.
 * *refused: Kafka denied the creation (the first such topic's ACL is named in problems). */
static bool topics_creatable(rd_kafka_t *rk, const config_t *cfg, char **topics, size_t n,
                             strbuf_t *problems, bool *refused)
{
    char acl[1024];
    *refused = false;
    if (n == 0)
        return true;
    rd_kafka_NewTopic_t **nt = xcalloc(n, sizeof *nt);
    size_t made = 0;
    bool ok = true;
    char e[512];
    for (size_t i = 0; i < n; i++) {
        bool compact = strcmp(topics[i], cfg->checkpoint_topic) == 0;
        nt[made] = rd_kafka_NewTopic_new(topics[i], compact ? 1 : cfg->topic_partitions,
                                         cfg->topic_replication_factor, e, sizeof e);
        if (!nt[made]) {
            strbuf_appendf(problems, "%s\"%s\": %s", ok ? "" : "; ", topics[i], e);
            ok = false;
            continue;
        }
        made++;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_validate_only(opts, 1, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opts, kafka_timeout(cfg), NULL, 0);
    rd_kafka_CreateTopics(rk, nt, made, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, kafka_timeout(cfg) + 2000);
    if (!ev) {
        strbuf_appendf(problems, "%sthe request timed out", ok ? "" : "; ");
        ok = false;
    } else if (access_denied(rd_kafka_event_error(ev)) && made > 0) {
        access_explain(cfg, rd_kafka_event_error(ev), ACCESS_TOPIC_CREATE, topics[0], acl,
                       sizeof acl);
        strbuf_appendf(problems, "%s%s", ok ? "" : "; ", acl);
        *refused = true;
        ok = false;
    } else if (rd_kafka_event_error(ev)) {
        strbuf_appendf(problems, "%s%s", ok ? "" : "; ", rd_kafka_event_error_string(ev));
        ok = false;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t te = rd_kafka_topic_result_error(res[i]);
            if (access_denied(te)) {
                /* One ACL covers them all: named once. */
                if (!*refused) {
                    access_explain(cfg, te, ACCESS_TOPIC_CREATE, rd_kafka_topic_result_name(res[i]),
                                   acl, sizeof acl);
                    strbuf_appendf(problems, "%s%s", ok ? "" : "; ", acl);
                }
                *refused = true;
                ok = false;
            } else if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                const char *msg = rd_kafka_topic_result_error_string(res[i]);
                strbuf_appendf(problems, "%s\"%s\": %s", ok ? "" : "; ",
                               rd_kafka_topic_result_name(res[i]), msg ? msg : rd_kafka_err2str(te));
                ok = false;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy_array(nt, made);
    free(nt);
    return ok;
}

/* A copy of cfg whose transactional id is `sluice-<what>-<slot>`; free with check_cfg_free. */
static config_t *throwaway_cfg(const config_t *cfg, const char *what)
{
    config_t *c = xcalloc(1, sizeof *c);
    *c = *cfg; /* shallow: borrows every string but the id */
    strbuf_t id = STRBUF_INIT;
    strbuf_appendf(&id, "sluice-%s-%s", what, cfg->slot);
    c->transactional_id = id.data;
    return c;
}

static void throwaway_cfg_free(config_t *c)
{
    if (c) {
        free(c->transactional_id);
        free(c);
    }
}

/* A plain client and the cluster's metadata (*md, the caller destroys it); NULL, with the
 * checks that need Kafka skipped, when Kafka cannot be reached. */
static rd_kafka_t *check_kafka_reachable(report_t *r, refusals_t *rf,
                                         const struct rd_kafka_metadata **md)
{
    const config_t *cfg = r->cfg;
    const char *bootstrap = config_kafka_get(cfg, "bootstrap.servers");
    char err[1024];
    rd_kafka_t *rk = kafka_client(cfg, rf, err, sizeof err);
    if (!rk) {
        report(r, CK_FAIL, "Kafka settings", "correct the kafka.* setting the message names", "%s",
               scrub(r, err));
        return NULL;
    }
    /* In slices, so that refused credentials (retried by librdkafka for ever) end the
     * wait as sink_init_transactions does: at the first SASL failure, the third TLS one. */
    int64_t deadline = clock_mono_ms() + kafka_timeout(cfg);
    rd_kafka_resp_err_t me;
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        me = rd_kafka_metadata(rk, 1, NULL, md, left < 1 ? 1 : left > 500 ? 500 : (int) left);
        rd_kafka_poll(rk, 0); /* serves the error callback */
        if (!me || rf->auth_failures > 0 || rf->tls_failures >= 3 || clock_mono_ms() >= deadline)
            break;
    }
    bool refused = rf->auth_failures > 0 || rf->tls_failures >= 3;
    if (me && refused) {
        if (rf->auth_failures > 0)
            access_explain_authentication(cfg, rf->reason, err, sizeof err);
        else
            access_explain_tls(cfg, rf->reason, err, sizeof err);
        report(r, CK_FAIL, "Kafka reachable",
               rf->auth_failures ? "correct kafka.sasl.username / kafka.sasl.password (or create "
                                  "the user on the cluster)"
                                : "correct the kafka.ssl.* settings",
               "%s", scrub(r, err));
    } else if (me) {
        report(r, CK_FAIL, "Kafka reachable",
               "check kafka.bootstrap.servers, the network, and the security settings "
               "(kafka.security.protocol, kafka.sasl.*, kafka.ssl.*)",
               "no answer from \"%s\" within %d ms: %s", bootstrap, kafka_timeout(cfg),
               rd_kafka_err2str(me));
    }
    if (me) {
        const char *why = refused ? "Kafka refused the connection" : "Kafka unreachable";
        report(r, CK_SKIP, "Kafka transactions", NULL, "%s", why);
        report(r, CK_SKIP, "topics", NULL, "%s", why);
        report(r, CK_SKIP, "checkpoint", NULL, "%s", why);
        rd_kafka_destroy(rk);
        return NULL;
    }
    report(r, CK_OK, "Kafka reachable", NULL, "%d broker%s via \"%s\"", (*md)->broker_cnt,
           (*md)->broker_cnt == 1 ? "" : "s", bootstrap);
    return rk;
}

/* Transactions, with a throwaway id: fences nobody but an earlier `sluice check`. */
static void check_kafka_transactions(report_t *r)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    config_t *tc = throwaway_cfg(cfg, "check");
    sink_t *ts = sink_new(tc, NULL, err, sizeof err);
    sink_status_t st = SINK_DATA;
    /* A retriable answer (the coordinator still loading, on a broker just started) is
     * asked again, as `run` would, until the check's timeout. */
    int64_t deadline = clock_mono_ms() + kafka_timeout(cfg);
    while (ts) {
        int64_t left = deadline - clock_mono_ms();
        st = sink_init_transactions(ts, left < 1 ? 1 : (int) left, err, sizeof err);
        if (st != SINK_RETRY || clock_mono_ms() + 250 >= deadline)
            break;
        usleep(250 * 1000);
    }
    if (!ts)
        report(r, CK_FAIL, "Kafka settings", "fix the setting the message names", "%s",
               scrub(r, err));
    else if (st == SINK_OK)
        report(r, CK_OK, "Kafka transactions", NULL,
               "init_transactions works (tried as \"%s\"; \"%s\" was not touched)",
               tc->transactional_id, cfg->transactional_id);
    else if (sink_refused(ts))
        report(r, CK_FAIL, "Kafka transactions",
               "add the ACL the message names (docs/operations.md, Security, lists every ACL "
               "sluice needs)",
               "%s", scrub(r, err));
    else
        report(r, CK_FAIL, "Kafka transactions",
               "the brokers need a healthy __transaction_state topic "
               "(transaction.state.log.replication.factor <= brokers, min.isr met)",
               "%s", scrub(r, err));
    sink_free(ts);
    throwaway_cfg_free(tc);
}

/*
 * True if Kafka answers for topic, asked by name, that it exists or that it does not:
 * the principal may describe it (the all-topics listing leaves out, without a word, the
 * topics it may not). False, with *denied, when it may not.
 */
static bool topic_describable(rd_kafka_t *rk, const config_t *cfg, const char *topic,
                              rd_kafka_resp_err_t *denied)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, kafka_timeout(cfg));
    if (!e && md->topic_cnt == 1)
        e = md->topics[0].err;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    *denied = access_denied(e) ? e : RD_KAFKA_RESP_ERR_NO_ERROR;
    return !*denied;
}

/* Topics: present (the checkpoint topic with one partition) or creatable, and writable as far
 * as Kafka tells (Write implies Describe: a topic sluice may not describe it may not write). */
static void check_kafka_topics(report_t *r, const pg_facts_t *f, rd_kafka_t *rk,
                               const struct rd_kafka_metadata *md)
{
    const config_t *cfg = r->cfg;
    char **missing = xcalloc(f->ntopics + 2, sizeof *missing);
    size_t nmissing = 0, present = 0, ndenied = 0;
    const char *denied_topic = NULL;
    rd_kafka_resp_err_t denied = RD_KAFKA_RESP_ERR_NO_ERROR, d;
    int ck_parts = topic_partitions(md, cfg->checkpoint_topic);
    if (ck_parts >= 0)
        present++;
    else if (topic_describable(rk, cfg, cfg->checkpoint_topic, &d))
        missing[nmissing++] = cfg->checkpoint_topic;
    else {
        ndenied++;
        denied = d;
        denied_topic = cfg->checkpoint_topic;
    }
    for (size_t i = 0; i < f->ntopics; i++) {
        if (topic_partitions(md, f->topics[i]) >= 0)
            present++;
        else if (topic_describable(rk, cfg, f->topics[i], &d))
            missing[nmissing++] = f->topics[i];
        else if (ndenied++ == 0) {
            denied = d;
            denied_topic = f->topics[i];
        }
    }
    if (ck_parts > 1) {
        report(r, CK_FAIL, "topics",
               "checkpoints need one partition: set checkpoint.topic to a new name (sluice "
               "creates it compacted with one partition)",
               "checkpoint topic \"%s\" has %d partitions, it must have 1", cfg->checkpoint_topic,
               ck_parts);
    } else if (ndenied) {
        char acl[1024];
        access_explain(cfg, denied, ACCESS_TOPIC_WRITE, denied_topic, acl, sizeof acl);
        report(r, CK_FAIL, "topics",
               "add the ACL the message names (docs/operations.md, Security, lists every ACL "
               "sluice needs)",
               "%s (%zu of %zu topics refused)", scrub(r, acl), ndenied, f->ntopics + 1);
    } else {
        strbuf_t problems = STRBUF_INIT;
        strbuf_append(&problems, "", 0);
        bool refused;
        if (topics_creatable(rk, cfg, missing, nmissing, &problems, &refused))
            report(r, CK_OK, "topics", NULL, "%zu present, %zu to be created by sluice (validated)",
                   present, nmissing);
        else
            report(r, CK_FAIL, "topics",
                   refused ? "add the ACL the message names, or create the topics beforehand "
                             "(docs/operations.md, Security)"
                           : "create them beforehand, or grant the role CREATE on the cluster or "
                             "topics; check topic.partitions and topic.replication.factor",
                   "%zu present, %zu missing and not creatable: %s", present, nmissing,
                   scrub(r, problems.data));
        strbuf_free(&problems);
    }
    free(missing);
}

/* The checkpoint against the slot (what `sluice run` checks before streaming). */
static void check_kafka_checkpoint(report_t *r, const pg_facts_t *f)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    config_t *sc = throwaway_cfg(cfg, "status");
    sink_t *ss = sink_new(sc, NULL, err, sizeof err);
    checkpoint_t ck = {0};
    sink_status_t st =
        ss ? sink_read_checkpoint(ss, cfg->slot, &ck, cfg->kafka_startup_timeout_ms, err, sizeof err)
           : SINK_DATA;
    if (st != SINK_OK) {
        report(r, CK_FAIL, "checkpoint",
               ss && sink_refused(ss) ? "add the ACL the message names (docs/operations.md, "
                                        "Security, lists every ACL sluice needs)"
                                      : "see the message",
               "reading \"%s\": %s", cfg->checkpoint_topic, scrub(r, err));
    } else if (!ck.present) {
        report(r, f->slot_exists ? CK_WARN : CK_OK, "checkpoint",
               "fine on a first start; otherwise Kafka lost the checkpoint topic",
               "none for slot \"%s\" in \"%s\": a fresh start%s", cfg->slot, cfg->checkpoint_topic,
               f->slot_exists ? ", from the slot's position" : "");
    } else if (f->system_id[0] && ck.system_id[0] && strcmp(f->system_id, ck.system_id) != 0) {
        report(r, CK_FAIL, "checkpoint", "use another topic.prefix or checkpoint.topic",
               "written for PostgreSQL system %s, but this server is system %s", ck.system_id,
               f->system_id);
    } else if (f->connected && !f->slot_exists) {
        report(r, CK_FAIL, "checkpoint",
               "recreate the pipeline deliberately (new slot and snapshot), or remove the "
               "checkpoint record of this slot",
               "Kafka holds a checkpoint at " LSN_FMT " but slot \"%s\" does not exist: changes "
               "after it may be lost",
               LSN_ARGS(ck.end_lsn), cfg->slot);
    } else if (f->slot_ok && f->slot_confirmed > ck.end_lsn) {
        report(r, CK_FAIL, "checkpoint",
               "see `sluice run --accept-slot-ahead` in the README before using it",
               "slot \"%s\" at " LSN_FMT " is ahead of the checkpoint at " LSN_FMT
               ": changes in between are not in Kafka",
               cfg->slot, LSN_ARGS(f->slot_confirmed), LSN_ARGS(ck.end_lsn));
    } else {
        report(r, CK_OK, "checkpoint", NULL,
               "Kafka transaction %" PRIu64 " holds changes up to " LSN_FMT
               "; the slot is not ahead of it",
               ck.seq, LSN_ARGS(ck.end_lsn));
    }
    checkpoint_clear(&ck);
    sink_free(ss);
    throwaway_cfg_free(sc);
}

static void check_kafka(report_t *r, const pg_facts_t *f)
{
    const struct rd_kafka_metadata *md = NULL;
    refusals_t rf = {0}; /* outlives the client, whose error callback fills it */
    rd_kafka_t *rk = check_kafka_reachable(r, &rf, &md);
    if (!rk)
        return;
    check_kafka_transactions(r);
    check_kafka_topics(r, f, rk, md);
    rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    check_kafka_checkpoint(r, f);
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

/* ---- status ----------------------------------------------------------- */

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
    PGresult *res = pg_query(
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
            fprintf(out, "slot \"%s\": active, walsender pid %s, wal_status %s (its state, "
                         "time lag and feedback are shown to superusers and members of "
                         "pg_read_all_stats only)\n",
                    cfg->slot, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 2));
        else
            fprintf(out, "slot \"%s\": active, walsender pid %s (%s), wal_status %s\n",
                    cfg->slot, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 7),
                    PQgetvalue(res, 0, 2));
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
    snapshot_progress_t *sp = ck->snapshot ? snapshot_progress_parse(ck->snapshot, err, sizeof err) : NULL;
    if (sp) {
        size_t done = 0;
        for (size_t i = 0; i < sp->ntables; i++)
            done += sp->tables[i].state == SNAPSHOT_TABLE_DONE;
        if (sp->running)
            fprintf(out, "  snapshot:         running (snapshot %u at " LSN_FMT "): %zu of %zu "
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
    /* The checkpoint, read_committed, without the real transactional id. */
    config_t *sc = throwaway_cfg(cfg, "status");
    sink_t *ss = sink_new(sc, NULL, err, sizeof err);
    checkpoint_t ck = {0};
    sink_status_t st =
        ss ? sink_read_checkpoint(ss, cfg->slot, &ck, cfg->kafka_startup_timeout_ms, err, sizeof err)
           : SINK_DATA;
    if (!ss) {
        config_redact(cfg, err, clean, sizeof clean);
        fprintf(out, "configuration: %s\n", clean);
        if (rc == EXIT_OK)
            rc = EXIT_CONFIG;
    } else if (st != SINK_OK) {
        config_redact(cfg, err, clean, sizeof clean);
        fprintf(out, "checkpoint: unreadable from \"%s\": %s\n", cfg->checkpoint_topic, clean);
        if (rc == EXIT_OK)
            rc = EXIT_KAFKA;
    } else if (!ck.present) {
        fprintf(out, "checkpoint: none for slot \"%s\" in \"%s\" (nothing committed yet)\n",
                cfg->slot, cfg->checkpoint_topic);
        if (slot->exists && rc == EXIT_OK)
            fprintf(out, "consistency: a slot without a checkpoint: fine before the first commit\n");
    } else {
        char when[64] = "?";
        if (ck.commit_ts_us)
            format_time_us(ck.commit_ts_us, when, sizeof when);
        fprintf(out, "checkpoint: Kafka transaction %" PRIu64 " in \"%s\"\n", ck.seq,
                cfg->checkpoint_topic);
        fprintf(out, "  resumes at:       " LSN_FMT "\n", LSN_ARGS(ck.end_lsn));
        fprintf(out, "  last commit:      source transaction %u, commit LSN " LSN_FMT
                     ", committed at %s (%.1f s ago)\n",
                ck.xid, LSN_ARGS(ck.commit_lsn), when,
                ck.commit_ts_us ? age_seconds(ck.commit_ts_us) : 0.0);
        status_snapshot(&ck, out);
        if (slot->exists && slot->confirmed > ck.end_lsn) {
            fprintf(out, "consistency: BROKEN: the slot (" LSN_FMT ") is ahead of the checkpoint "
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
    sink_free(ss);
    throwaway_cfg_free(sc);
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
