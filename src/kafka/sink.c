/*
 * sink.c — librdkafka's transactional producer, with every error classified
 * three ways (retry / abort and rewind / fatal) as in librdkafka's
 * examples/transactions.c, plus the two outcomes a CDC daemon must not
 * retry: fenced, and data Kafka will never accept.
 *
 * It is the sink seam's librdkafka implementation (sink_ops_t): the seam
 * (sink_seam.c) keeps the transaction's state and writes the checkpoint
 * record; this file talks to the broker.
 *
 * Owns: the producer, its topic handles, the delivery-report state.
 * Never: decides to exit or to rewind (the caller does, from the status),
 * or confirms anything to PostgreSQL.
 */
#include "sluice/base/clock.h"
#include "sluice/kafka/sink.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/buf.h"
#include "sluice/base/log.h"
#include "sluice/base/metrics.h"
#include "sluice/kafka/access.h"

#include "sink_internal.h"

static const sink_ops_t rdsink_ops;

/* The librdkafka producer behind s; a sink of another kind here is a bug. */
rdsink_t *rdsink_of(sink_t *s)
{
    rdsink_t *r = sink_impl(s, &rdsink_ops);
    if (!r) {
        log_fatal("bug: a librdkafka-only sink call on another kind of sink");
        abort();
    }
    return r;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char) *s) * 1099511628211ULL;
    return h;
}

/* Codes that no retry, abort or rebuild can fix: the data or the permissions must change. */
static bool is_permanent(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION: return true;
    default: return false;
    }
}

static bool is_fenced(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__FENCED || err == RD_KAFKA_RESP_ERR_PRODUCER_FENCED ||
           err == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH;
}

bool sink_delivery_cause_replaces(rd_kafka_resp_err_t kept, rd_kafka_resp_err_t now)
{
    /* Purged records belong to a transaction we aborted ourselves: not a cause. */
    if (!now || now == RD_KAFKA_RESP_ERR__PURGE_QUEUE || now == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        return false;
    /* The first cause is kept, unless it was only a bystander of the one reported now. */
    return !kept ||
           (kept == SINK_ERR_INVALID_DIFFERENT_RECORD && now != SINK_ERR_INVALID_DIFFERENT_RECORD);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void) rk;
    rdsink_t *s = opaque;
    if (!sink_delivery_cause_replaces(s->dr_err, m->err))
        return;
    s->dr_err = m->err;
    free(s->dr_topic);
    s->dr_topic = xstrdup(rd_kafka_topic_name(m->rkt));
    snprintf(s->dr_errstr, sizeof s->dr_errstr,
             "Kafka did not accept a record of %zu bytes for topic \"%s\": %s", m->len,
             rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void) rk;
    /* Connection trouble is reported here and retried by librdkafka itself. */
    log_warning("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t) err), reason);
    metrics_error(MERR_KAFKA_CLIENT);
    /* Refused credentials or a failed TLS handshake are retried too, for ever: counted here
     * so that sink_init_transactions can end the wait (the producer's opaque is its sink). */
    rdsink_t *s = opaque;
    if (!s)
        return;
    if (err != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        snprintf(s->last_errstr, sizeof s->last_errstr, "%s", reason);
    if (access_unauthenticated((rd_kafka_resp_err_t) err))
        s->auth_failures++;
    else if (err == RD_KAFKA_RESP_ERR__SSL)
        s->tls_failures++;
    else
        return;
    snprintf(s->conn_errstr, sizeof s->conn_errstr, "%s", reason);
}

/* librdkafka's statistics (statistics.interval.ms) feed the metrics endpoint. */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void) rk;
    (void) opaque;
    metrics_rdkafka_stats(json, len);
    return 0; /* librdkafka frees json */
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void) rk;
    if (level <= 3)
        log_warning("kafka [%s]: %s", fac, buf);
    else if (level == 4 && strcmp(fac, "CONFWARN") != 0)
        log_info("kafka [%s]: %s", fac, buf);
    else
        log_debug("kafka [%s]: %s", fac, buf);
}

bool rdsink_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "invalid Kafka setting \"kafka.%s\": %s", k, e);
        return false;
    }
    return true;
}

static long long conf_number(rd_kafka_conf_t *conf, const char *key)
{
    char v[64];
    size_t n = sizeof v;
    return rd_kafka_conf_get(conf, key, v, &n) == RD_KAFKA_CONF_OK ? atoll(v) : 0;
}

/*
 * librdkafka answers QUEUE_FULL for ever to a record whose value is larger
 * than queue.buffering.max.kbytes, even with its queue empty; a record over
 * message.max.bytes it refuses first (MSG_SIZE_TOO_LARGE). So the buffer must
 * hold one record of message.max.bytes: sluice's default grows to fit; a
 * buffer the user set too small is a configuration error.
 */
static bool fit_buffer(rd_kafka_conf_t *conf, const config_t *cfg, char *err, size_t errlen)
{
    long long max_msg = conf_number(conf, "message.max.bytes");
    long long kbytes = conf_number(conf, "queue.buffering.max.kbytes");
    if (max_msg <= kbytes * 1024)
        return true;
    long long need = (max_msg + 1023) / 1024;
    if (config_kafka_get(cfg, "queue.buffering.max.kbytes")) {
        snprintf(err, errlen,
                 "\"kafka.queue.buffering.max.kbytes\" = %lld cannot hold one record of "
                 "\"kafka.message.max.bytes\" = %lld: set it to at least %lld (or remove it: "
                 "sluice then sizes it)",
                 kbytes, max_msg, need);
        return false;
    }
    char v[32];
    snprintf(v, sizeof v, "%lld", need);
    return rdsink_conf_set(conf, "queue.buffering.max.kbytes", v, err, errlen);
}

/*
 * librdkafka settings shared by the producer and the checkpoint reader: the
 * user's kafka.* keys (connection, security) over sluice's defaults.
 */
rd_kafka_conf_t *rdsink_base_conf(const config_t *cfg, bool producer, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    if (producer) {
        /* Defaults a user may override. murmur2_random: keys land where Java clients put them. */
        static const char *const defaults[][2] = {
            {"partitioner", "murmur2_random"},
            /* Batches fill within a transaction; the commit sends what waits at once. */
            {"linger.ms", "50"},
            /* 4 MB: at the throughput of two cores as fast as 16 MB (make bench, A/B), a
             * third less peak RSS; fit_buffer raises it for a larger message.max.bytes. */
            {"queue.buffering.max.kbytes", "4096"},
            {"queue.buffering.max.messages", "50000"},
            {"batch.size", "1000000"},
            {"compression.type", "lz4"},
            {"client.id", "sluice"},
            /* Topics are created explicitly (sink_ensure_topic), with the settings sluice
             * chose: never by the side effect of a metadata request. */
            {"allow.auto.create.topics", "false"},
        };
        for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
            if (!rdsink_conf_set(conf, defaults[i][0], defaults[i][1], err, errlen))
                goto fail;
        /* Before librdkafka 1.8, flush (and so commit_transaction) waited out
         * linger.ms: every commit would take 50 ms longer. */
        if (rd_kafka_version() < 0x010800ff &&
            !rdsink_conf_set(conf, "linger.ms", "5", err, errlen))
            goto fail;
        rd_kafka_conf_set_stats_cb(conf, on_stats);
        if (cfg->metrics_listen && cfg->metrics_listen[0] &&
            !rdsink_conf_set(conf, "statistics.interval.ms", "5000", err, errlen))
            goto fail;
    }
    for (size_t i = 0; i < cfg->nkafka; i++) {
        if (!producer && strcmp(cfg->kafka[i].key, "partitioner") == 0)
            continue;
        if (!rdsink_conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value, err, errlen))
            goto fail;
    }
    if (producer && !fit_buffer(conf, cfg, err, errlen))
        goto fail;
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static void rdsink_free(void *impl);

sink_t *sink_new(const config_t *cfg, atomic_int *stop, char *err, size_t errlen)
{
    rdsink_t *s = xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->stop = stop;
    s->topics_cap = 64;
    s->topics = xcalloc(s->topics_cap, sizeof *s->topics);
    s->checkpoint_topic = xstrdup(cfg->checkpoint_topic);
    rd_kafka_conf_t *conf = rdsink_base_conf(cfg, true, err, errlen);
    if (!conf || !rdsink_conf_set(conf, "transactional.id", cfg->transactional_id, err, errlen)) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        rdsink_free(s);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, s);
    char e[512];
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!s->rk) {
        snprintf(err, errlen, "could not create the Kafka producer: %s", e);
        rd_kafka_conf_destroy(conf);
        rdsink_free(s);
        return NULL;
    }
    return sink_wrap(&rdsink_ops, s, cfg->checkpoint_topic);
}

static void rdsink_free(void *impl)
{
    rdsink_t *s = impl;
    for (size_t i = 0; i < s->topics_cap; i++) {
        if (s->topics[i].name) {
            rd_kafka_topic_destroy(s->topics[i].rkt);
            free(s->topics[i].name);
        }
    }
    free(s->topics);
    if (s->rk) {
        /* Whatever is still queued belongs to a transaction that will be aborted or fenced. */
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    free(s->checkpoint_topic);
    free(s->dr_topic);
    free(s);
}

topic_slot_t *rdsink_topic_lookup(rdsink_t *s, const char *name, bool create)
{
    size_t i = hash_str(name) & (s->topics_cap - 1);
    while (s->topics[i].name) {
        if (strcmp(s->topics[i].name, name) == 0)
            return &s->topics[i];
        i = (i + 1) & (s->topics_cap - 1);
    }
    if (!create)
        return NULL;
    if (2 * (s->topics_count + 1) > s->topics_cap) {
        size_t ncap = s->topics_cap * 2;
        topic_slot_t *n = xcalloc(ncap, sizeof *n);
        for (size_t j = 0; j < s->topics_cap; j++) {
            if (!s->topics[j].name)
                continue;
            size_t k = hash_str(s->topics[j].name) & (ncap - 1);
            while (n[k].name)
                k = (k + 1) & (ncap - 1);
            n[k] = s->topics[j];
        }
        free(s->topics);
        s->topics = n;
        s->topics_cap = ncap;
        return rdsink_topic_lookup(s, name, true);
    }
    s->topics[i].name = xstrdup(name);
    s->topics[i].rkt = rd_kafka_topic_new(s->rk, name, NULL);
    s->topics[i].partitions = 0;
    s->topics_count++;
    return &s->topics[i];
}

/* Kafka refused the principal: err names the ACL (access.h); SINK_DATA, which sink_refused tells
 * apart from data Kafka cannot take. */
sink_status_t rdsink_refuse(rdsink_t *s, rd_kafka_resp_err_t code, access_topic_op_t op,
                            const char *topic, char *err, size_t errlen)
{
    access_explain(s->cfg, code, op, topic, err, errlen);
    s->refused = true;
    return SINK_DATA;
}

/*
 * Classifies a transactional API error and destroys it. A refusal (an
 * authorization error) is SINK_DATA with the ACL named, or, while the
 * transaction must still be aborted, SINK_ABORT with the refusal kept in
 * s->denied_err for the caller to report once it has aborted.
 */
static sink_status_t classify(rdsink_t *s, rd_kafka_error_t *error, const char *what, char *err,
                              size_t errlen)
{
    rd_kafka_resp_err_t code = rd_kafka_error_code(error);
    snprintf(err, errlen, "%s failed: %s", what, rd_kafka_error_string(error));
    sink_status_t st;
    if (is_fenced(code))
        st = SINK_FENCED;
    else if (access_denied(code) && !rd_kafka_error_is_fatal(error) &&
             rd_kafka_error_txn_requires_abort(error)) {
        s->denied_err = code;
        st = SINK_ABORT;
    } else if (access_denied(code))
        st = rdsink_refuse(s, code, ACCESS_TOPIC_WRITE, NULL, err, errlen);
    else if (rd_kafka_error_is_fatal(error)) {
        char fe[512];
        rd_kafka_resp_err_t fcode = rd_kafka_fatal_error(s->rk, fe, sizeof fe);
        st = is_fenced(fcode) ? SINK_FENCED : SINK_FATAL;
    } else if (rd_kafka_error_txn_requires_abort(error))
        st = SINK_ABORT;
    else if (rd_kafka_error_is_retriable(error))
        st = SINK_RETRY;
    else if (is_permanent(code))
        st = SINK_DATA;
    else
        st = SINK_FATAL;
    rd_kafka_error_destroy(error);
    return st;
}

/* The refusal counts when a wait for the cluster began (connection_refused). */
typedef struct {
    int auth_failures, tls_failures;
} refusal_mark_t;

static refusal_mark_t refusal_mark(const rdsink_t *s)
{
    return (refusal_mark_t){s->auth_failures, s->tls_failures};
}

/*
 * True, with err naming the cause and s->refused set, once the brokers have
 * refused the connection itself since the wait marked by `since` began: at
 * the first SASL authentication failure (the broker checked the credentials
 * and said no) or the third failed TLS handshake (one could be a broker
 * going down mid-handshake). librdkafka retries both for ever and its calls
 * only time out, so callers that wait for the cluster ask this between slices
 * of their wait. Serves the error callback first.
 */
static bool connection_refused(rdsink_t *s, refusal_mark_t since, char *err, size_t errlen)
{
    rd_kafka_poll(s->rk, 0);
    if (s->auth_failures > since.auth_failures)
        access_explain_authentication(s->cfg, s->conn_errstr, err, errlen);
    else if (s->tls_failures - since.tls_failures >= 3)
        access_explain_tls(s->cfg, s->conn_errstr, err, errlen);
    else
        return false;
    s->refused = true;
    return true;
}

sink_status_t sink_init_transactions(sink_t *sink, int timeout_ms, char *err, size_t errlen)
{
    rdsink_t *s = rdsink_of(sink);
    /* open_sink retries a failed topic check or checkpoint read from here: on
     * a producer that is ready already, a second init_transactions fails with
     * "Operation not valid in state Ready" (a needless rebuild, a misleading message). */
    if (s->txn_ready)
        return SINK_OK;
    /* In slices (a timed-out call resumes), asking between them whether the brokers
     * refused the connection itself. */
    int64_t deadline = clock_mono_ms() + timeout_ms;
    refusal_mark_t since = refusal_mark(s);
    for (;;) {
        int64_t left = deadline - clock_mono_ms();
        int slice = left < 1 ? 1 : left > 500 ? 500 : (int) left;
        rd_kafka_error_t *e = rd_kafka_init_transactions(s->rk, slice);
        if (!e) {
            s->txn_ready = true;
            return SINK_OK;
        }
        if (connection_refused(s, since, err, errlen)) {
            rd_kafka_error_destroy(e);
            return SINK_DATA;
        }
        if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT && clock_mono_ms() < deadline &&
            !(s->stop && *s->stop)) {
            rd_kafka_error_destroy(e);
            continue;
        }
        bool timed_out = rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT;
        sink_status_t st = classify(s, e, "initializing Kafka transactions", err, errlen);
        size_t n = strlen(err);
        if (timed_out && s->last_errstr[0] && n + 1 < errlen)
            snprintf(err + n, errlen - n, " (the last connection error: %s)", s->last_errstr);
        if (st == SINK_ABORT)
            st = s->denied_err
                     ? rdsink_refuse(s, s->denied_err, ACCESS_TOPIC_WRITE, NULL, err, errlen)
                     : SINK_RETRY;
        return st;
    }
}

/*
 * The topic's partition count, or -1 with Kafka's answer in *terr. Waits up
 * to timeout_ms for the cluster, in slices, and ends the wait with *terr
 * __AUTHENTICATION (err named, s->refused) if the brokers refuse the
 * connection itself.
 */
int rdsink_metadata_partitions(rdsink_t *s, rd_kafka_topic_t *rkt, int timeout_ms,
                               rd_kafka_resp_err_t *terr, char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    int64_t deadline = clock_mono_ms() + timeout_ms;
    refusal_mark_t since = refusal_mark(s);
    rd_kafka_resp_err_t e;
    for (;;) {
        int64_t begun = clock_mono_ms(), left = deadline - begun;
        e = rd_kafka_metadata(s->rk, 0, rkt, &md, left < 1 ? 1 : left > 500 ? 500 : (int) left);
        if (e != RD_KAFKA_RESP_ERR__TRANSPORT && e != RD_KAFKA_RESP_ERR__TIMED_OUT)
            break;
        if (connection_refused(s, since, err, errlen)) {
            *terr = RD_KAFKA_RESP_ERR__AUTHENTICATION;
            return -1;
        }
        if (clock_mono_ms() >= deadline || (s->stop && *s->stop))
            break;
        if (clock_mono_ms() - begun < 100)
            usleep(100 * 1000); /* an answer at once is no reason to ask again at once */
    }
    int n = -1;
    *terr = e;
    if (!e && md->topic_cnt == 1) {
        *terr = md->topics[0].err;
        if (!md->topics[0].err)
            n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    return n;
}

/*
 * Looks topic up (remembering it): SINK_OK with *missing when Kafka does not
 * know it, with its partition count kept when it does.
 */
static sink_status_t lookup_topic(rdsink_t *s, const char *topic, bool compact, int timeout_ms,
                                  bool *missing, char *err, size_t errlen)
{
    topic_slot_t *t = rdsink_topic_lookup(s, topic, true);
    *missing = false;
    if (t->partitions > 0)
        return SINK_OK;
    rd_kafka_resp_err_t terr;
    int n = rdsink_metadata_partitions(s, t->rkt, timeout_ms, &terr, err, errlen);
    if (s->refused)
        return SINK_DATA;
    if (n > 0) {
        t->partitions = n;
        if (compact && n != 1) {
            snprintf(err, errlen,
                     "checkpoint topic \"%s\" has %d partitions; it must have exactly 1", topic, n);
            return SINK_DATA;
        }
        return SINK_OK;
    }
    if (access_denied(terr))
        return rdsink_refuse(s, terr, ACCESS_TOPIC_WRITE, topic, err, errlen);
    if (terr != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && terr != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "could not look up topic \"%s\": %s", topic, rd_kafka_err2str(terr));
        return terr == RD_KAFKA_RESP_ERR__TIMED_OUT || terr == RD_KAFKA_RESP_ERR__TRANSPORT
                   ? SINK_RETRY
                   : (is_permanent(terr) ? SINK_DATA : SINK_RETRY);
    }
    *missing = true;
    return SINK_OK;
}

/* Kafka's answer for one topic of a CreateTopics request. */
static sink_status_t created(rdsink_t *s, const rd_kafka_topic_result_t *res, bool compact,
                            char *err, size_t errlen)
{
    const char *topic = rd_kafka_topic_result_name(res);
    rd_kafka_resp_err_t te = rd_kafka_topic_result_error(res);
    if (access_denied(te))
        return rdsink_refuse(s, te, ACCESS_TOPIC_CREATE, topic, err, errlen);
    if (te && te != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char *why = rd_kafka_topic_result_error_string(res);
        snprintf(err, errlen, "could not create topic \"%s\": %s", topic,
                 why ? why : rd_kafka_err2str(te));
        return is_permanent(te) ? SINK_DATA : SINK_RETRY;
    }
    if (!te)
        log_info("created topic \"%s\"%s", topic, compact ? " (compacted)" : "");
    return SINK_OK;
}

/* Creates the n topics in one CreateTopics request (a database of many tables waits once). */
static sink_status_t create_topics(rdsink_t *s, const char *const *topics, size_t n, bool compact,
                                   int timeout_ms, char *err, size_t errlen)
{
    rd_kafka_NewTopic_t **nt = xcalloc(n, sizeof *nt);
    sink_status_t st = SINK_OK;
    size_t made = 0;
    for (; made < n; made++) {
        char e[512];
        nt[made] = rd_kafka_NewTopic_new(topics[made], compact ? 1 : s->cfg->topic_partitions,
                                         s->cfg->topic_replication_factor, e, sizeof e);
        if (!nt[made]) {
            snprintf(err, errlen, "invalid topic \"%s\": %s", topics[made], e);
            st = SINK_DATA;
            break;
        }
        if (compact)
            rd_kafka_NewTopic_set_config(nt[made], "cleanup.policy", "compact");
    }
    if (st == SINK_OK) {
        rd_kafka_queue_t *q = rd_kafka_queue_new(s->rk);
        rd_kafka_AdminOptions_t *opts =
            rd_kafka_AdminOptions_new(s->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, NULL, 0);
        rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, NULL, 0);
        rd_kafka_CreateTopics(s->rk, nt, n, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
        const char *more = n > 1 ? " and the other topics created with it" : "";
        if (!ev) {
            snprintf(err, errlen, "creating topic \"%s\"%s timed out", topics[0], more);
            st = SINK_RETRY;
        } else if (access_denied(rd_kafka_event_error(ev))) {
            st = rdsink_refuse(s, rd_kafka_event_error(ev), ACCESS_TOPIC_CREATE, topics[0], err,
                               errlen);
        } else if (rd_kafka_event_error(ev)) {
            snprintf(err, errlen, "could not create topic \"%s\"%s: %s", topics[0], more,
                     rd_kafka_event_error_string(ev));
            st = is_permanent(rd_kafka_event_error(ev)) ? SINK_DATA : SINK_RETRY;
        } else {
            size_t cnt;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
            if (cnt != n) {
                snprintf(err, errlen, "creating %zu topic(s): Kafka answered for %zu", n, cnt);
                st = SINK_RETRY;
            }
            /* The first failure is the one reported; every topic created is logged. */
            for (size_t i = 0; i < cnt; i++) {
                char e[512];
                sink_status_t one = created(s, res[i], compact, e, sizeof e);
                if (one != SINK_OK && st == SINK_OK) {
                    st = one;
                    snprintf(err, errlen, "%s", e);
                }
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
    }
    for (size_t i = 0; i < made; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    free(nt);
    return st;
}

/* Waits until the metadata of a topic just created shows its partitions. */
static sink_status_t await_partitions(rdsink_t *s, const char *topic, int timeout_ms, char *err,
                                      size_t errlen)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        topic_slot_t *t = rdsink_topic_lookup(s, topic, true);
        rd_kafka_resp_err_t terr;
        int n = rdsink_metadata_partitions(s, t->rkt, timeout_ms, &terr, err, errlen);
        if (s->refused)
            return SINK_DATA;
        if (n > 0) {
            t->partitions = n;
            return SINK_OK;
        }
        usleep(100 * 1000);
    }
    snprintf(err, errlen, "topic \"%s\" was created but its metadata did not appear", topic);
    return SINK_RETRY;
}

static sink_status_t rdsink_ensure_topics(void *impl, const char *const *topics, size_t n,
                                          bool compact, int timeout_ms, char *err, size_t errlen)
{
    rdsink_t *s = impl;
    /* Called for every event: topics already known cost one hash lookup each. */
    size_t known = 0;
    while (known < n) {
        const topic_slot_t *t = rdsink_topic_lookup(s, topics[known], false);
        if (!t || t->partitions <= 0)
            break;
        known++;
    }
    if (known == n)
        return SINK_OK;
    const char **missing = xcalloc(n, sizeof *missing);
    size_t nmissing = 0;
    sink_status_t st = SINK_OK;
    for (size_t i = 0; i < n && st == SINK_OK; i++) {
        bool miss, seen = false;
        st = lookup_topic(s, topics[i], compact, timeout_ms, &miss, err, errlen);
        for (size_t j = 0; j < nmissing && !seen; j++)
            seen = !strcmp(missing[j], topics[i]); /* tables routed to one topic */
        if (st == SINK_OK && miss && !seen)
            missing[nmissing++] = topics[i];
    }
    if (st == SINK_OK && nmissing)
        st = create_topics(s, missing, nmissing, compact, timeout_ms, err, errlen);
    /* Learn the partition counts (metadata may lag the creation briefly). */
    for (size_t i = 0; i < nmissing && st == SINK_OK; i++)
        st = await_partitions(s, missing[i], timeout_ms, err, errlen);
    /* The broker that answered knows the topics; the transaction coordinator may
     * learn them a moment later, and refuses their partitions until then
     * (UNKNOWN_TOPIC_OR_PART: an aborted transaction and a reconnect, seen on a
     * 3-broker cluster). Topics are created rarely: let it settle, once. */
    if (st == SINK_OK && nmissing)
        usleep(500 * 1000);
    free(missing);
    return st;
}

static int rdsink_partition_count(void *impl, const char *topic)
{
    rdsink_t *s = impl;
    topic_slot_t *t = rdsink_topic_lookup(s, topic, false);
    return t ? t->partitions : 0;
}

static sink_status_t rdsink_begin(void *impl, char *err, size_t errlen)
{
    rdsink_t *s = impl;
    /* Serve delivery reports still due from the previous transaction first, so that
     * none of them is taken for a failure of this one. */
    rd_kafka_poll(s->rk, 0);
    rd_kafka_error_t *e = rd_kafka_begin_transaction(s->rk);
    if (e) {
        sink_status_t st = classify(s, e, "beginning a Kafka transaction", err, errlen);
        return st == SINK_RETRY || st == SINK_ABORT ? SINK_FATAL : st;
    }
    s->dr_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    s->dr_errstr[0] = '\0';
    return SINK_OK;
}

/* The status for a failed delivery seen in this transaction. */
static sink_status_t delivery_status(rdsink_t *s, char *err, size_t errlen)
{
    if (access_denied(s->dr_err))
        return rdsink_refuse(s, s->dr_err, ACCESS_TOPIC_WRITE, s->dr_topic, err, errlen);
    snprintf(err, errlen, "%s", s->dr_errstr);
    if (is_permanent(s->dr_err))
        return SINK_DATA;
    if (is_fenced(s->dr_err))
        return SINK_FENCED;
    return SINK_ABORT;
}

bool sink_refused(sink_t *sink)
{
    const rdsink_t *s = sink ? sink_impl(sink, &rdsink_ops) : NULL;
    return s && s->refused;
}

rd_kafka_t *sink_handle(sink_t *sink)
{
    return rdsink_of(sink)->rk;
}

static void rdsink_poll(void *impl)
{
    rdsink_t *s = impl;
    rd_kafka_poll(s->rk, 0);
}

static sink_status_t rdsink_produce(void *impl, const char *topic, int32_t partition,
                                    const void *key, size_t keylen, const void *value,
                                    size_t valuelen, const sink_headers_t *h, char *err,
                                    size_t errlen)
{
    rdsink_t *s = impl;
    topic_slot_t *t = rdsink_topic_lookup(s, topic, true);
    /* seq by hand: snprintf per record showed up in profiles. */
    char seq[12];
    char *p = seq + sizeof seq;
    *--p = '\0';
    uint32_t v = h->seq;
    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    for (;;) {
        if (s->dr_err)
            return delivery_status(s, err, errlen);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            s->rk, RD_KAFKA_V_RKT(t->rkt), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, keylen),
            RD_KAFKA_V_VALUE((void *) value, valuelen), RD_KAFKA_V_HEADER("sluice.lsn", h->lsn, -1),
            RD_KAFKA_V_HEADER("sluice.xid", h->xid, -1), RD_KAFKA_V_HEADER("sluice.seq", p, -1),
            RD_KAFKA_V_HEADER("sluice.batch", h->batch, -1), RD_KAFKA_V_END);
        if (!e) {
            if (++s->produced_since_poll >= 1024) {
                s->produced_since_poll = 0;
                rd_kafka_poll(s->rk, 0);
            }
            return SINK_OK;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Back-pressure: wait for deliveries; the reader keeps PostgreSQL answered. */
            rd_kafka_poll(s->rk, 50);
            if (s->stop && *s->stop)
                return SINK_STOPPED;
            continue;
        }
        if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
            snprintf(err, errlen,
                     "a record of %zu bytes for topic \"%s\" exceeds the producer's "
                     "message.max.bytes: raise \"kafka.message.max.bytes\" and the topic's "
                     "max.message.bytes (broker message.max.bytes)",
                     keylen + valuelen, topic);
            return SINK_DATA;
        }
        char fe[512];
        rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(s->rk, fe, sizeof fe);
        if (fatal) {
            snprintf(err, errlen, "producing to \"%s\" failed: %s", topic, fe);
            return is_fenced(fatal) ? SINK_FENCED : SINK_FATAL;
        }
        snprintf(err, errlen, "producing to \"%s\" failed: %s", topic, rd_kafka_err2str(e));
        return is_permanent(e) ? SINK_DATA : SINK_ABORT;
    }
}

static sink_status_t rdsink_abort(void *impl, char *err, size_t errlen)
{
    rdsink_t *s = impl;
    for (int attempt = 1;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(s->rk, -1);
        if (!e)
            return SINK_OK;
        sink_status_t st = classify(s, e, "aborting the Kafka transaction", err, errlen);
        if (st != SINK_RETRY || attempt >= 10) {
            return st == SINK_RETRY ? SINK_FATAL : (st == SINK_FENCED ? SINK_FENCED : SINK_FATAL);
        }
        log_warning("%s; retrying (attempt %d)", err, attempt);
    }
}

/* The seam has produced the checkpoint record already (sink_commit). */
static sink_status_t rdsink_commit(void *impl, char *err, size_t errlen)
{
    rdsink_t *s = impl;
    for (int attempt = 1;; attempt++) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(s->rk, -1);
        if (!e)
            return SINK_OK;
        sink_status_t st = classify(s, e, "committing the Kafka transaction", err, errlen);
        if (st == SINK_RETRY && attempt < 10) {
            /* A retriable commit error (e.g. a timeout) resumes the same commit. */
            log_warning("%s; retrying (attempt %d)", err, attempt);
            continue;
        }
        if (st == SINK_ABORT) {
            rd_kafka_poll(s->rk, 0);
            char aerr[512];
            sink_status_t ast = rdsink_abort(s, aerr, sizeof aerr);
            if (s->denied_err && ast != SINK_FENCED) {
                /* Refused (a topic's Write ACL, say): the transaction is aborted, or, if
                 * that failed too, is the coordinator's to abort; either way nothing of
                 * it counts, and the ACL is what to report. */
                if (ast != SINK_OK && !s->refused) /* (a refusal again says nothing new) */
                    log_warning("%s", aerr);
                rd_kafka_poll(s->rk, 0);
                if (access_denied(s->dr_err)) /* a delivery report names the topic */
                    return delivery_status(s, err, errlen);
                return rdsink_refuse(s, s->denied_err, ACCESS_TOPIC_WRITE, NULL, err, errlen);
            }
            if (ast != SINK_OK) {
                snprintf(err + strlen(err), errlen - strlen(err), "; then %s", aerr);
                return ast;
            }
            if (s->dr_err)
                return delivery_status(s, err, errlen);
            return SINK_ABORT;
        }
        /* Outcome unknown after repeated retries, or fatal: the caller rebuilds the producer,
         * whose init_transactions settles this transaction, and re-reads the checkpoint. */
        return st == SINK_RETRY ? SINK_FATAL : st;
    }
}

static const sink_ops_t rdsink_ops = {
    .begin = rdsink_begin,
    .produce = rdsink_produce,
    .commit = rdsink_commit,
    .abort = rdsink_abort,
    .poll = rdsink_poll,
    .ensure_topics = rdsink_ensure_topics,
    .partition_count = rdsink_partition_count,
    .free = rdsink_free,
};
