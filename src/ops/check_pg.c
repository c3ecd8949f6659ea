/*
 * check_pg.c — the PostgreSQL half of `sluice check`: the session, the
 * server's version and settings, the role, a replication connection, the
 * publication and its tables (replica identity, SELECT, TOAST), the slot and
 * failover. Only reads.
 */
#include "sluice/ops/check.h"

#include <stdlib.h>

#include "sluice/core/snapshot.h"
#include "sluice/pg/conn.h"
#include "sluice/pg/relcache.h"

#include "check_internal.h"

/* ---- PostgreSQL ------------------------------------------------------- */

PGresult *check_pg_query(PGconn *c, const char *sql, const char *p1, const char *p2, char *err,
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

/* Opens the ordinary session the checks ask over and reports it; NULL when it fails. */
static PGconn *check_pg_connect(report_t *r, pg_facts_t *f)
{
    char err[1024];
    pgconn_spec_t spec = {.conninfo = r->cfg->pg_conninfo, .application = "sluice-check"};
    PGconn *c = pgconn_open(&spec, NULL, err, sizeof err);
    if (!c) {
        check_report(
            r, CK_FAIL, "PostgreSQL connection",
            "check \"postgres.conninfo\" (host, port, dbname, user, password), that the server "
            "runs, and that pg_hba.conf lets this user in",
            "%s", check_scrub(r, err));
        return NULL;
    }
    f->connected = true;
    check_report(r, CK_OK, "PostgreSQL connection", NULL, "database \"%s\" on %s:%s as \"%s\"",
                 PQdb(c), PQhost(c), PQport(c), PQuser(c));
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
        check_report(r, CK_FAIL, "server version",
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
    check_report(r, CK_OK, "server version", NULL,
                 "PostgreSQL %s (server_version_num %d%s): sluice creates a slot with %s and reads "
                 "pgoutput protocol 1 with messages",
                 text, ver, ver > 189999 ? ", newer than the 18 sluice was tested with" : "",
                 create.data ? create.data : "?");
    strbuf_free(&create);
    stream_wants_t wants = stream_wants_of(cfg);
    stream_wants_t origin_only = {.origin_none = wants.origin_none};
    if (wants.origin_none) {
        if (stream_wants_supported(ver, &origin_only, err, sizeof err))
            check_report(
                r, CK_OK, "postgres.origin", NULL,
                "none: changes that a logical replication subscription applied here are left "
                "out (origin 'none')");
        else
            check_report(r, CK_FAIL, "postgres.origin",
                         "set postgres.origin = any (or upgrade PostgreSQL to 16 or later)", "%s",
                         err);
    }
    stream_wants_t failover_only = {.failover = wants.failover};
    if (wants.failover && !stream_wants_supported(ver, &failover_only, err, sizeof err))
        check_report(r, CK_FAIL, "postgres.slot.failover",
                     "remove postgres.slot.failover (or upgrade PostgreSQL to 17 or later)", "%s",
                     err);
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
    PGresult *res = check_pg_query(
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
        check_report(r, CK_FAIL, "failover", "see the message", "%s",
                     res ? "no answer" : check_scrub(r, err));
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
        check_report(r, CK_WARN, "failover",
                     "point postgres.conninfo at the primary (several hosts: add "
                     "target_session_attrs=primary)",
                     "this server is a standby (in recovery): sluice streams from the primary");
    } else if (!cfg->slot_failover && !slot_failover) {
        if (standby)
            check_report(
                r, CK_WARN, "failover",
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
        check_report(r, CK_OK, "failover", NULL, "slot \"%s\" %s a failover slot%s%s", cfg->slot,
                     slot_failover ? "is" : "becomes", standby ? "; standby: " : "",
                     standby ? who : "");
        if (!guard[0]) {
            check_report(
                r, CK_WARN, "synchronized_standby_slots",
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
                check_report(
                    r, CK_WARN, "synchronized_standby_slots",
                    "create the standby's physical slot (pg_create_physical_replication_slot) "
                    "or correct the setting",
                    "names %s, which is not a physical slot of this server: PostgreSQL "
                    "holds sluice's changes back until that slot catches up",
                    missing);
            else
                check_report(r, CK_OK, "synchronized_standby_slots", NULL,
                             "%s: sluice gets only changes the standby has", PQgetvalue(res, 0, 3));
        }
    }
    PQclear(res);

    if (ver >= 180000) {
        res = check_pg_query(
            c,
            "SELECT current_setting('idle_replication_slot_timeout'), "
            "       current_setting('idle_replication_slot_timeout', true)::interval "
            "       > interval '0'",
            NULL, NULL, err, sizeof err);
        if (res && is_true(res, 0, 1))
            check_report(r, CK_WARN, "idle_replication_slot_timeout",
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
    PGresult *res = check_pg_query(c,
                                   "SELECT current_setting('wal_level'), "
                                   "current_setting('max_replication_slots')::int, "
                                   "(SELECT count(*) FROM pg_catalog.pg_replication_slots), "
                                   "current_setting('max_wal_senders')::int, "
                                   "(SELECT count(*) FROM pg_catalog.pg_stat_replication), "
                                   "EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots "
                                   "        WHERE slot_name = $1)",
                                   cfg->slot, NULL, err, sizeof err);
    if (!res) {
        check_report(r, CK_FAIL, "server settings", "see the message", "%s", check_scrub(r, err));
    } else {
        const char *wal_level = PQgetvalue(res, 0, 0);
        if (strcmp(wal_level, "logical") == 0)
            check_report(r, CK_OK, "wal_level", NULL, "logical");
        else
            check_report(
                r, CK_FAIL, "wal_level",
                "set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = "
                "logical) and restart PostgreSQL",
                "is \"%s\"; logical decoding needs \"logical\"", wal_level);
        int max_slots = atoi(PQgetvalue(res, 0, 1)), slots = atoi(PQgetvalue(res, 0, 2));
        bool have_slot = is_true(res, 0, 5);
        if (have_slot || slots < max_slots)
            check_report(r, CK_OK, "replication slots", NULL,
                         "%d of max_replication_slots = %d in use%s", slots, max_slots,
                         have_slot ? " (including ours)" : "");
        else
            check_report(
                r, CK_FAIL, "replication slots",
                "raise max_replication_slots in postgresql.conf and restart, or drop an unused "
                "slot (SELECT pg_drop_replication_slot('name'))",
                "all %d of max_replication_slots are in use, none left for slot \"%s\"", max_slots,
                cfg->slot);
        int max_senders = atoi(PQgetvalue(res, 0, 3)), senders = atoi(PQgetvalue(res, 0, 4));
        if (senders < max_senders)
            check_report(r, CK_OK, "WAL senders", NULL, "%d of max_wal_senders = %d in use",
                         senders, max_senders);
        else
            check_report(r, CK_FAIL, "WAL senders",
                         "raise max_wal_senders in postgresql.conf and restart PostgreSQL",
                         "all %d of max_wal_senders are in use", max_senders);
        PQclear(res);
    }
}

/* The role's REPLICATION attribute. */
static void check_pg_role(report_t *r, PGconn *c)
{
    char err[1024];
    PGresult *res = check_pg_query(c,
                                   "SELECT rolsuper, rolreplication, rolcanlogin, current_user "
                                   "FROM pg_catalog.pg_roles WHERE rolname = current_user",
                                   NULL, NULL, err, sizeof err);
    if (res && PQntuples(res) == 1) {
        bool super = is_true(res, 0, 0), repl = is_true(res, 0, 1);
        const char *user = PQgetvalue(res, 0, 3);
        char fix[256];
        snprintf(fix, sizeof fix,
                 "ALTER ROLE \"%s\" WITH REPLICATION (as a superuser; see sql/setup.sql)", user);
        if (repl || super)
            check_report(r, CK_OK, "role privileges", NULL, "role \"%s\" has %s", user,
                         super ? "SUPERUSER (REPLICATION LOGIN is enough; see sql/setup.sql)"
                               : "REPLICATION");
        else
            check_report(r, CK_FAIL, "role privileges", fix,
                         "role \"%s\" lacks the REPLICATION attribute needed to stream from a slot",
                         user);
    } else {
        check_report(r, CK_FAIL, "role privileges", "see the message", "%s",
                     res ? "role not found" : check_scrub(r, err));
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
        check_report(r, CK_OK, "replication connection", NULL,
                     "replication=database works (system %s, timeline %u)", id.system_id,
                     id.timeline);
    } else {
        check_report(
            r, CK_FAIL, "replication connection",
            "give the role REPLICATION and allow it in pg_hba.conf (a line for the database, "
            "e.g. \"hostssl shop sluice 10.0.0.0/8 scram-sha-256\")",
            "%s", check_scrub(r, err));
    }
    stream_close(s);
}

/* The publication; false when it is missing. *upd_del: it publishes UPDATE or DELETE. */
static bool check_pg_publication(report_t *r, PGconn *c, bool *upd_del, bool *upd)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    PGresult *res =
        check_pg_query(c,
                       "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate "
                       "FROM pg_catalog.pg_publication WHERE pubname = $1",
                       cfg->publication, NULL, err, sizeof err);
    bool pub_ok = false;
    *upd_del = *upd = true;
    if (!res) {
        check_report(r, CK_FAIL, "publication", "see the message", "%s", check_scrub(r, err));
    } else if (PQntuples(res) == 0) {
        char fix[512];
        snprintf(fix, sizeof fix,
                 "CREATE PUBLICATION %s FOR TABLE schema.table, …; (see sql/setup.sql), or set "
                 "\"postgres.publication\"",
                 cfg->publication);
        check_report(r, CK_FAIL, "publication", fix,
                     "publication \"%s\" does not exist in database \"%s\"", cfg->publication,
                     PQdb(c));
    } else {
        pub_ok = true;
        *upd_del = is_true(res, 0, 2) || is_true(res, 0, 3);
        *upd = is_true(res, 0, 2);
        check_report(r, CK_OK, "publication", NULL, "\"%s\" exists (%spublishes%s%s%s%s)",
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
    PGresult *res = check_pg_query(c,
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
        check_report(r, CK_FAIL, "published tables", "see the message", "%s", check_scrub(r, err));
    } else if (PQntuples(res) == 0) {
        check_report(r, CK_WARN, "published tables",
                     "add tables: ALTER PUBLICATION … ADD TABLE schema.table",
                     "publication \"%s\" holds no table: there is nothing to stream",
                     cfg->publication);
    } else {
        int n = PQntuples(res), ident_ok = 0, no_select = 0;
        f->topics = xcalloc((size_t) n, sizeof *f->topics);
        for (int i = 0; i < n; i++) {
            const char *nsp = PQgetvalue(res, i, 0), *rel = PQgetvalue(res, i, 1);
            char ident = PQgetvalue(res, i, 2)[0];
            bool pk = is_true(res, i, 3);
            f->topics[f->ntopics++] = relcache_topic_name(cfg->topic_prefix, nsp, rel);
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
            check_report(r, pub_upd_del ? CK_FAIL : CK_WARN, "replica identity", fix,
                         "table \"%s.%s\" has %s: PostgreSQL rejects its UPDATEs and DELETEs once "
                         "published, and its events get no key",
                         nsp, rel, ident == 'n' ? "REPLICA IDENTITY NOTHING" : "no primary key");
        }
        if (ident_ok)
            check_report(r, CK_OK, "replica identity", NULL,
                         "%d of %d published tables have a primary key, an identity index or FULL",
                         ident_ok, n);
        if (no_select)
            check_report(
                r, CK_WARN, "table privileges",
                "GRANT SELECT ON the published tables TO the role (sql/setup.sql does): "
                "an initial snapshot reads them",
                "the role cannot SELECT %d of %d published tables (streaming does not need "
                "it, a snapshot does)",
                no_select, n);
        else
            check_report(r, CK_OK, "table privileges", NULL, "SELECT on all %d published tables",
                         n);
    }
    PQclear(res);
}

/*
 * Published tables whose large values PostgreSQL stores out of line (TOAST:
 * varlena columns with storage EXTENDED or EXTERNAL — text, bytea, jsonb,
 * arrays, …; not MAIN, as numeric and inet are: PostgreSQL moves those out
 * of line only when the row still does not fit after compressing everything
 * else, which needs values of thousands of bytes, and warning about every
 * numeric column would bury the warnings that matter)
 * and whose replica identity is not FULL: an UPDATE that leaves such a value
 * unchanged does not carry it, and the event holds toast.placeholder instead.
 * A warning per table (the first 10), with both ways out. Only the published
 * columns count (pg_publication_tables.attnames, PostgreSQL 15 on).
 */
static void check_pg_toast(report_t *r, PGconn *c, bool publishes_update)
{
    const config_t *cfg = r->cfg;
    if (!publishes_update) {
        check_report(r, CK_OK, "unchanged TOAST values", NULL,
                     "publication \"%s\" publishes no UPDATE", cfg->publication);
        return;
    }
    char err[1024];
    PGresult *res = check_pg_query(
        c,
        "SELECT pt.schemaname, pt.tablename, c.relreplident, "
        "       pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' (' || "
        "           pg_catalog.format_type(a.atttypid, a.atttypmod) || ')', ', ' "
        "           ORDER BY a.attnum) "
        "FROM pg_catalog.pg_publication_tables pt "
        "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
        "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 "
        "     AND NOT a.attisdropped AND a.attlen = -1 AND a.attstorage IN ('x', 'e') "
        "     AND a.attgenerated = '' "
        "WHERE pt.pubname = $1 AND (pg_catalog.to_jsonb(pt) -> 'attnames' IS NULL "
        "      OR pg_catalog.to_jsonb(pt) -> 'attnames' ? a.attname) "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2",
        cfg->publication, NULL, err, sizeof err);
    if (!res) {
        check_report(r, CK_FAIL, "unchanged TOAST values", "see the message", "%s",
                     check_scrub(r, err));
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
        check_report(
            r, CK_WARN, "unchanged TOAST values", fix,
            "table \"%s.%s\" (replica identity %s) has columns stored out of line when large: "
            "%s. An UPDATE that leaves such a value unchanged does not send it, and its event "
            "holds \"%s\" (toast.placeholder) instead",
            nsp, rel, ident == 'i' ? "using index" : "default", PQgetvalue(res, i, 3),
            cfg->toast_placeholder);
    }
    if (warned > 10)
        check_report(r, CK_WARN, "unchanged TOAST values", "as above, for each of them",
                     "%d more tables like those above", warned - 10);
    if (!warned)
        check_report(
            r, CK_OK, "unchanged TOAST values", NULL,
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
    PGresult *res = check_pg_query(
        c,
        "SELECT plugin, slot_type, database, active_pid, confirmed_flush_lsn, "
        "       wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), "
        "       current_database() "
        "FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
        cfg->slot, NULL, err, sizeof err);
    if (!res) {
        check_report(r, CK_FAIL, "replication slot", "see the message", "%s", check_scrub(r, err));
    } else if (PQntuples(res) == 0) {
        if (cfg->create_slot)
            check_report(r, CK_OK, "replication slot", NULL,
                         "\"%s\" does not exist yet; sluice creates it at its first start",
                         cfg->slot);
        else
            check_report(
                r, CK_FAIL, "replication slot",
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
            check_report(r, CK_FAIL, "replication slot",
                         "use another postgres.slot name, or drop the slot if it is unused",
                         "\"%s\" is a %s slot of plugin \"%s\", not a logical pgoutput slot",
                         cfg->slot, PQgetvalue(res, 0, 1), plugin);
        else if (strcmp(db, PQgetvalue(res, 0, 7)) != 0)
            check_report(r, CK_FAIL, "replication slot", "use another postgres.slot name",
                         "\"%s\" belongs to database \"%s\", not \"%s\"", cfg->slot, db,
                         PQgetvalue(res, 0, 7));
        else if (strcmp(wal_status, "lost") == 0)
            check_report(
                r, CK_FAIL, "replication slot",
                "the WAL is gone: recreate the pipeline deliberately (new slot, new snapshot)",
                "\"%s\" is invalidated (wal_status lost, max_slot_wal_keep_size)", cfg->slot);
        else {
            f->slot_ok = true;
            if (!PQgetisnull(res, 0, 3))
                check_report(
                    r, CK_WARN, "replication slot",
                    "fine if it is this configuration's running sluice; otherwise stop the "
                    "other client first",
                    "\"%s\" is in use by PostgreSQL backend %s (confirmed %s, %s bytes behind)",
                    cfg->slot, PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 6));
            else
                check_report(
                    r, CK_OK, "replication slot", NULL,
                    "\"%s\" (pgoutput, idle, confirmed %s, %s bytes behind, wal_status %s)",
                    cfg->slot, PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 6), wal_status);
        }
    }
    PQclear(res);
}

void check_postgres(report_t *r, pg_facts_t *f)
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
