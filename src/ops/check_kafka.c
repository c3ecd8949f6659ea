/*
 * check_kafka.c — the Kafka half of `sluice check`: the brokers (and their
 * refusals of sluice's credentials or TLS), transactions under a throwaway
 * transactional id, the topics (present or creatable, writable), and the
 * checkpoint against the slot. Creates nothing and fences no one.
 */
#include "sluice/ops/check.h"

#include <stdlib.h>

#include "sluice/base/clock.h"
#include "sluice/core/snapshot.h"
#include "sluice/kafka/access.h"

#include "check_internal.h"

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
                               rd_kafka_topic_result_name(res[i]),
                               msg ? msg : rd_kafka_err2str(te));
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

config_t *check_throwaway_cfg(const config_t *cfg, const char *what)
{
    config_t *c = xcalloc(1, sizeof *c);
    *c = *cfg; /* shallow: borrows every string but the id */
    strbuf_t id = STRBUF_INIT;
    strbuf_appendf(&id, "sluice-%s-%s", what, cfg->slot);
    c->transactional_id = id.data;
    return c;
}

void check_throwaway_cfg_free(config_t *c)
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
        check_report(r, CK_FAIL, "Kafka settings", "correct the kafka.* setting the message names",
                     "%s", check_scrub(r, err));
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
        check_report(r, CK_FAIL, "Kafka reachable",
                     rf->auth_failures
                         ? "correct kafka.sasl.username / kafka.sasl.password (or create "
                           "the user on the cluster)"
                         : "correct the kafka.ssl.* settings",
                     "%s", check_scrub(r, err));
    } else if (me) {
        check_report(r, CK_FAIL, "Kafka reachable",
                     "check kafka.bootstrap.servers, the network, and the security settings "
                     "(kafka.security.protocol, kafka.sasl.*, kafka.ssl.*)",
                     "no answer from \"%s\" within %d ms: %s", bootstrap, kafka_timeout(cfg),
                     rd_kafka_err2str(me));
    }
    if (me) {
        const char *why = refused ? "Kafka refused the connection" : "Kafka unreachable";
        check_report(r, CK_SKIP, "Kafka transactions", NULL, "%s", why);
        check_report(r, CK_SKIP, "topics", NULL, "%s", why);
        check_report(r, CK_SKIP, "checkpoint", NULL, "%s", why);
        rd_kafka_destroy(rk);
        return NULL;
    }
    check_report(r, CK_OK, "Kafka reachable", NULL, "%d broker%s via \"%s\" (librdkafka %s)",
                 (*md)->broker_cnt, (*md)->broker_cnt == 1 ? "" : "s", bootstrap,
                 rd_kafka_version_str());
    return rk;
}

/* Transactions, with a throwaway id: fences nobody but an earlier `sluice check`. */
static void check_kafka_transactions(report_t *r)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    config_t *tc = check_throwaway_cfg(cfg, "check");
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
        check_report(r, CK_FAIL, "Kafka settings", "fix the setting the message names", "%s",
                     check_scrub(r, err));
    else if (st == SINK_OK)
        check_report(r, CK_OK, "Kafka transactions", NULL,
                     "init_transactions works (tried as \"%s\"; \"%s\" was not touched)",
                     tc->transactional_id, cfg->transactional_id);
    else if (sink_refused(ts))
        check_report(r, CK_FAIL, "Kafka transactions",
                     "add the ACL the message names (docs/operations.md, Security, lists every ACL "
                     "sluice needs)",
                     "%s", check_scrub(r, err));
    else
        check_report(r, CK_FAIL, "Kafka transactions",
                     "the brokers need a healthy __transaction_state topic "
                     "(transaction.state.log.replication.factor <= brokers, min.isr met)",
                     "%s", check_scrub(r, err));
    sink_free(ts);
    check_throwaway_cfg_free(tc);
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
        check_report(r, CK_FAIL, "topics",
                     "checkpoints need one partition: set checkpoint.topic to a new name (sluice "
                     "creates it compacted with one partition)",
                     "checkpoint topic \"%s\" has %d partitions, it must have 1",
                     cfg->checkpoint_topic, ck_parts);
    } else if (ndenied) {
        char acl[1024];
        access_explain(cfg, denied, ACCESS_TOPIC_WRITE, denied_topic, acl, sizeof acl);
        check_report(r, CK_FAIL, "topics",
                     "add the ACL the message names (docs/operations.md, Security, lists every ACL "
                     "sluice needs)",
                     "%s (%zu of %zu topics refused)", check_scrub(r, acl), ndenied,
                     f->ntopics + 1);
    } else {
        strbuf_t problems = STRBUF_INIT;
        strbuf_append(&problems, "", 0);
        bool refused;
        if (topics_creatable(rk, cfg, missing, nmissing, &problems, &refused))
            check_report(r, CK_OK, "topics", NULL,
                         "%zu present, %zu to be created by sluice (validated)", present, nmissing);
        else
            check_report(r, CK_FAIL, "topics",
                         refused
                             ? "add the ACL the message names, or create the topics beforehand "
                               "(docs/operations.md, Security)"
                             : "create them beforehand, or grant the role CREATE on the cluster or "
                               "topics; check topic.partitions and topic.replication.factor",
                         "%zu present, %zu missing and not creatable: %s", present, nmissing,
                         check_scrub(r, problems.data));
        strbuf_free(&problems);
    }
    free(missing);
}

ckread_t check_read_checkpoint(const config_t *cfg, checkpoint_t *ck, char *err, size_t errlen)
{
    config_t *sc = check_throwaway_cfg(cfg, "status");
    sink_t *ss = sink_new(sc, NULL, err, errlen);
    ckread_t how = CKREAD_NO_SINK;
    if (ss) {
        sink_status_t st =
            sink_read_checkpoint(ss, cfg->slot, ck, cfg->kafka_startup_timeout_ms, err, errlen);
        how = st == SINK_OK ? CKREAD_OK : sink_refused(ss) ? CKREAD_REFUSED : CKREAD_FAILED;
    }
    sink_free(ss);
    check_throwaway_cfg_free(sc);
    return how;
}

/* The checkpoint against the slot (what `sluice run` checks before streaming). */
static void check_kafka_checkpoint(report_t *r, const pg_facts_t *f)
{
    const config_t *cfg = r->cfg;
    char err[1024];
    checkpoint_t ck = {0};
    ckread_t how = check_read_checkpoint(cfg, &ck, err, sizeof err);
    if (how != CKREAD_OK) {
        check_report(r, CK_FAIL, "checkpoint",
                     how == CKREAD_REFUSED ? "add the ACL the message names (docs/operations.md, "
                                             "Security, lists every ACL sluice needs)"
                                           : "see the message",
                     "reading \"%s\": %s", cfg->checkpoint_topic, check_scrub(r, err));
    } else if (!ck.present) {
        check_report(r, f->slot_exists ? CK_WARN : CK_OK, "checkpoint",
                     "fine on a first start; otherwise Kafka lost the checkpoint topic",
                     "none for slot \"%s\" in \"%s\": a fresh start%s", cfg->slot,
                     cfg->checkpoint_topic, f->slot_exists ? ", from the slot's position" : "");
    } else if (f->system_id[0] && ck.system_id[0] && strcmp(f->system_id, ck.system_id) != 0) {
        check_report(r, CK_FAIL, "checkpoint", "use another topic.prefix or checkpoint.topic",
                     "written for PostgreSQL system %s, but this server is system %s", ck.system_id,
                     f->system_id);
    } else if (f->connected && !f->slot_exists) {
        check_report(r, CK_FAIL, "checkpoint",
                     "recreate the pipeline deliberately (new slot and snapshot), or remove the "
                     "checkpoint record of this slot",
                     "Kafka holds a checkpoint at " LSN_FMT
                     " but slot \"%s\" does not exist: changes "
                     "after it may be lost",
                     LSN_ARGS(ck.end_lsn), cfg->slot);
    } else if (f->slot_ok && f->slot_confirmed > ck.end_lsn) {
        check_report(r, CK_FAIL, "checkpoint",
                     "see `sluice run --accept-slot-ahead` in the README before using it",
                     "slot \"%s\" at " LSN_FMT " is ahead of the checkpoint at " LSN_FMT
                     ": changes in between are not in Kafka",
                     cfg->slot, LSN_ARGS(f->slot_confirmed), LSN_ARGS(ck.end_lsn));
    } else {
        check_report(r, CK_OK, "checkpoint", NULL,
                     "Kafka transaction %" PRIu64 " holds changes up to " LSN_FMT
                     "; the slot is not ahead of it",
                     ck.seq, LSN_ARGS(ck.end_lsn));
    }
    checkpoint_clear(&ck);
}

void check_kafka(report_t *r, const pg_facts_t *f)
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
