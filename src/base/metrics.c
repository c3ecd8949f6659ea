/*
 * metrics.c — Prometheus text on /metrics, a health verdict on /healthz.
 *
 * The values are process-wide atomics written by the threads that know them
 * (reader, pipeline, sink callbacks, main) and read by libmicrohttpd's
 * thread. Rates (events per second, …) are left to Prometheus: sluice
 * exports monotonic counters and lets rate() do the arithmetic.
 *
 * A sampler thread wakes once a second to notice progress (events produced,
 * Kafka commits): "changes wait but nothing reached Kafka for
 * health.stall.timeout.ms" must be known even if nobody scrapes.
 *
 * The HTTP server that serves them is ops/metrics_server.c.
 *
 * Owns: the sampler, every value below. Never: logs on the
 * hot path, blocks a caller, or acts on what it measures.
 */
#include "sluice/base/clock.h"
#include "sluice/base/metrics.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/base/log.h"

/* Upper bounds of the commit latency histogram, in microseconds. */
static const int64_t commit_buckets_us[] = {1000,   2500,   5000,    10000,   25000,   50000,
                                            100000, 250000, 500000,  1000000, 2500000, 5000000,
                                            10000000, 30000000};
#define NBUCKETS (sizeof commit_buckets_us / sizeof commit_buckets_us[0])

static const char *const error_names[MERR_COUNT_] = {
    "pg_connect", "pg_lost", "kafka_unavailable", "kafka_abort", "kafka_fatal",
    "kafka_client", "fenced", "data", "protocol"};

static const char *const state_names[] = {"starting", "streaming", "recovering", "stopping",
                                          "standby"};

static struct {
    /* reader */
    atomic_uint_fast64_t wal_bytes;
    atomic_uint_fast64_t server_wal_end;
    atomic_uint_fast64_t confirmed_sent;
    atomic_int_fast64_t last_status_mono_ms; /* 0: never */
    atomic_int backpressure;
    atomic_uint_fast64_t backpressure_episodes;
    /* pipeline */
    atomic_int_fast64_t oldest_unconfirmed_ts_us; /* 0: nothing waits for Kafka */
    atomic_int_fast64_t last_commit_wall_ms;
    atomic_uint_fast64_t commit_bucket[NBUCKETS + 1];
    atomic_uint_fast64_t commit_count;
    atomic_uint_fast64_t commit_sum_us;
    /* main */
    atomic_int state;
    atomic_uint_fast64_t errors[MERR_COUNT_];
    atomic_int_fast64_t start_wall_ms;
    /* standby */
    atomic_int_fast64_t standby_seen_mono_ms; /* the last successful look at the lease */
    atomic_int standby_stale_ms;
    atomic_uint_fast64_t takeovers;
    /* skipped.operations: events left out, by op (skip_ops) */
    atomic_uint_fast64_t skipped_events[4];
} m;

static const char skip_ops[] = "cudt";

/* Guarded by lock: strings, bindings, librdkafka's figures, the progress stamp. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char state_reason[256];
static char id_slot[128], id_publication[128], id_txnid[256];
static const pipeline_counters_t *bound_stats;
static queue_t *bound_queue;
static size_t bound_queue_max;
static struct {
    bool present;
    double msg_cnt, msg_size, msg_max, msg_size_max;
    double tx, tx_bytes, txerrs, txretries;
    double batch_size_avg, batch_cnt_avg;
    int nbrokers;
    struct {
        char name[128];
        int nodeid;
        double rtt_avg_us, int_latency_avg_us, outbuf_msg_cnt, waitresp_cnt;
        bool up;
    } brokers[16];
} rk;
static uint64_t progress_seen;       /* events + commits at the last change */
static int64_t progress_mono_ms;     /* when they last changed */

static int feedback_timeout_ms = 30000, stall_timeout_ms = 60000;
static pthread_t sampler;
static atomic_bool sampler_stop;
static bool sampler_running;


static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Snapshot counters (metrics_snapshot_*), read by the renderer. */
static struct {
    atomic_uint_fast64_t rows, tables_done, tables_total;
    atomic_int running;
} snap;

/* ---- updates ----------------------------------------------------------- */

void metrics_set_identity(const char *slot, const char *publication, const char *transactional_id)
{
    pthread_mutex_lock(&lock);
    snprintf(id_slot, sizeof id_slot, "%s", slot ? slot : "");
    snprintf(id_publication, sizeof id_publication, "%s", publication ? publication : "");
    snprintf(id_txnid, sizeof id_txnid, "%s", transactional_id ? transactional_id : "");
    pthread_mutex_unlock(&lock);
    atomic_store(&m.start_wall_ms, wall_us() / 1000);
}

void metrics_set_state(metrics_state_t st, const char *reason)
{
    pthread_mutex_lock(&lock);
    snprintf(state_reason, sizeof state_reason, "%s", reason ? reason : "");
    atomic_store(&m.state, (int) st);
    if (st == MSTATE_STREAMING)
        progress_mono_ms = clock_mono_ms(); /* a new session starts its stall clock afresh */
    pthread_mutex_unlock(&lock);
}

void metrics_standby_seen(int stale_ms)
{
    atomic_store(&m.standby_stale_ms, stale_ms);
    atomic_store(&m.standby_seen_mono_ms, clock_mono_ms());
}

void metrics_takeover(void)
{
    atomic_fetch_add_explicit(&m.takeovers, 1, memory_order_relaxed);
}

void metrics_error(metrics_error_t cls)
{
    if (cls < MERR_COUNT_)
        atomic_fetch_add_explicit(&m.errors[cls], 1, memory_order_relaxed);
}

void metrics_bind_stats(const pipeline_counters_t *stats)
{
    pthread_mutex_lock(&lock);
    bound_stats = stats;
    pthread_mutex_unlock(&lock);
}

void metrics_bind_queue(queue_t *q, size_t queue_max_bytes)
{
    pthread_mutex_lock(&lock);
    bound_queue = q;
    bound_queue_max = queue_max_bytes;
    pthread_mutex_unlock(&lock);
}

void metrics_stream_received(size_t bytes, sluice_lsn_t server_wal_end)
{
    if (bytes)
        atomic_fetch_add_explicit(&m.wal_bytes, bytes, memory_order_relaxed);
    uint_fast64_t cur = atomic_load_explicit(&m.server_wal_end, memory_order_relaxed);
    while (server_wal_end > cur &&
           !atomic_compare_exchange_weak(&m.server_wal_end, &cur, server_wal_end))
        ;
}

void metrics_status_sent(sluice_lsn_t lsn)
{
    atomic_store_explicit(&m.confirmed_sent, lsn, memory_order_relaxed);
    atomic_store_explicit(&m.last_status_mono_ms, clock_mono_ms(), memory_order_relaxed);
}

void metrics_backpressure(bool waiting)
{
    int prev = atomic_exchange_explicit(&m.backpressure, waiting ? 1 : 0, memory_order_relaxed);
    if (waiting && !prev)
        atomic_fetch_add_explicit(&m.backpressure_episodes, 1, memory_order_relaxed);
}

void metrics_source_txn_begin(int64_t commit_ts_us)
{
    int_fast64_t zero = 0;
    if (commit_ts_us <= 0)
        commit_ts_us = wall_us();
    /* Only the oldest unconfirmed one counts: later BEGINs leave it alone. */
    atomic_compare_exchange_strong(&m.oldest_unconfirmed_ts_us, &zero, commit_ts_us);
}

void metrics_kafka_committed(int64_t latency_us)
{
    size_t b = 0;
    while (b < NBUCKETS && latency_us > commit_buckets_us[b])
        b++;
    atomic_fetch_add_explicit(&m.commit_bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m.commit_count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m.commit_sum_us, (uint64_t) (latency_us > 0 ? latency_us : 0),
                              memory_order_relaxed);
    atomic_store(&m.oldest_unconfirmed_ts_us, 0);
    atomic_store(&m.last_commit_wall_ms, wall_us() / 1000);
}

static double jnum(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

void metrics_rdkafka_stats(const char *json, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return;
    }
    pthread_mutex_lock(&lock);
    memset(&rk, 0, sizeof rk);
    rk.present = true;
    rk.msg_cnt = jnum(root, "msg_cnt");
    rk.msg_size = jnum(root, "msg_size");
    rk.msg_max = jnum(root, "msg_max");
    rk.msg_size_max = jnum(root, "msg_size_max");
    rk.tx = jnum(root, "tx");
    rk.tx_bytes = jnum(root, "tx_bytes");
    rk.txerrs = 0;
    const char *name;
    json_t *b;
    json_object_foreach(json_object_get(root, "brokers"), name, b)
    {
        int nodeid = (int) jnum(b, "nodeid");
        rk.txerrs += jnum(b, "txerrs");
        rk.txretries += jnum(b, "txretries");
        if (nodeid < 0 || rk.nbrokers >= (int) (sizeof rk.brokers / sizeof rk.brokers[0]))
            continue; /* bootstrap and internal pseudo-brokers */
        __typeof__(rk.brokers[0]) *o = &rk.brokers[rk.nbrokers++];
        snprintf(o->name, sizeof o->name, "%s", name);
        o->nodeid = nodeid;
        json_t *st = json_object_get(b, "state");
        o->up = json_is_string(st) && strcmp(json_string_value(st), "UP") == 0;
        o->rtt_avg_us = jnum(json_object_get(b, "rtt"), "avg");
        o->int_latency_avg_us = jnum(json_object_get(b, "int_latency"), "avg");
        o->outbuf_msg_cnt = jnum(b, "outbuf_msg_cnt");
        o->waitresp_cnt = jnum(b, "waitresp_cnt");
    }
    /* Batch size and messages per batch over all topics, weighted by their sample counts. */
    double size_sum = 0, size_n = 0, cnt_sum = 0, cnt_n = 0;
    json_t *t;
    json_object_foreach(json_object_get(root, "topics"), name, t)
    {
        json_t *bs = json_object_get(t, "batchsize"), *bc = json_object_get(t, "batchcnt");
        size_sum += jnum(bs, "avg") * jnum(bs, "cnt");
        size_n += jnum(bs, "cnt");
        cnt_sum += jnum(bc, "avg") * jnum(bc, "cnt");
        cnt_n += jnum(bc, "cnt");
    }
    rk.batch_size_avg = size_n > 0 ? size_sum / size_n : 0;
    rk.batch_cnt_avg = cnt_n > 0 ? cnt_sum / cnt_n : 0;
    pthread_mutex_unlock(&lock);
    json_decref(root);
}

void metrics_skipped_event(char op)
{
    const char *at = op ? strchr(skip_ops, op) : NULL;
    if (at)
        atomic_fetch_add_explicit(&m.skipped_events[at - skip_ops], 1, memory_order_relaxed);
}

void metrics_snapshot_started(uint64_t tables_total, uint64_t tables_done)
{
    atomic_store(&snap.tables_total, tables_total);
    atomic_store(&snap.tables_done, tables_done);
    atomic_store(&snap.running, 1);
}

void metrics_snapshot_row(void)
{
    atomic_fetch_add_explicit(&snap.rows, 1, memory_order_relaxed);
}

void metrics_snapshot_table_done(void)
{
    atomic_fetch_add_explicit(&snap.tables_done, 1, memory_order_relaxed);
}

void metrics_snapshot_ended(void)
{
    atomic_store(&snap.running, 0);
}

/* ---- reading ----------------------------------------------------------- */

static uint64_t load_stat(const _Atomic uint64_t *v)
{
    return atomic_load_explicit(v, memory_order_relaxed);
}

/* Called with lock held: stamps the time when events or commits last moved. */
static void observe_progress_locked(void)
{
    uint64_t now = 0;
    if (bound_stats)
        now = load_stat(&bound_stats->changes) + load_stat(&bound_stats->kafka_commits) +
              load_stat(&bound_stats->idle_checkpoints);
    if (now != progress_seen || !progress_mono_ms) {
        progress_seen = now;
        progress_mono_ms = clock_mono_ms();
    }
}

static void *sampler_main(void *arg)
{
    (void) arg;
    log_set_thread_name("metrics");
    while (!atomic_load(&sampler_stop)) {
        pthread_mutex_lock(&lock);
        observe_progress_locked();
        pthread_mutex_unlock(&lock);
        for (int i = 0; i < 10 && !atomic_load(&sampler_stop); i++)
            usleep(100 * 1000);
    }
    return NULL;
}

static uint64_t lag_bytes(void)
{
    uint64_t end = atomic_load(&m.server_wal_end), conf = atomic_load(&m.confirmed_sent);
    return end > conf && conf ? end - conf : 0;
}

static double lag_seconds(void)
{
    int64_t oldest = atomic_load(&m.oldest_unconfirmed_ts_us);
    if (!oldest)
        return 0;
    int64_t d = wall_us() - oldest;
    return d > 0 ? (double) d / 1e6 : 0;
}

static long rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

/* Writes s as the value of a Prometheus label (escaping \, " and newlines). */
static void label_value(strbuf_t *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            strbuf_putc(out, '\\');
        if (*s == '\n') {
            strbuf_puts(out, "\\n");
            continue;
        }
        strbuf_putc(out, *s);
    }
}

static void metric_head(strbuf_t *out, const char *name, const char *type, const char *help)
{
    strbuf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric_u64(strbuf_t *out, const char *name, const char *type, const char *help,
                       uint64_t v)
{
    metric_head(out, name, type, help);
    strbuf_appendf(out, "%s %llu\n", name, (unsigned long long) v);
}

static void metric_dbl(strbuf_t *out, const char *name, const char *type, const char *help,
                       double v)
{
    metric_head(out, name, type, help);
    strbuf_appendf(out, "%s %.6f\n", name, v);
}

/* Health with lock held. */
static int health_locked(strbuf_t *out)
{
    int st = atomic_load(&m.state);
    int64_t now = clock_mono_ms();
    if (st == MSTATE_STANDBY) {
        /* Healthy while it can watch the lease: ready to take over. Live and
         * ready for a container orchestrator; the role is in sluice_role. */
        int64_t seen = atomic_load(&m.standby_seen_mono_ms);
        bool fresh = seen && now - seen <= atomic_load(&m.standby_stale_ms);
        if (!fresh && seen)
            strbuf_appendf(out, "standby, but the lease was last seen %lld s ago: ",
                           (long long) ((now - seen) / 1000));
        strbuf_appendf(out, "%s", state_reason[0] ? state_reason : "standby");
        return fresh ? 200 : 503;
    }
    if (st != MSTATE_STREAMING) {
        strbuf_appendf(out, "%s%s%s", state_names[st], state_reason[0] ? ": " : "", state_reason);
        return 503;
    }
    int64_t last_status = atomic_load(&m.last_status_mono_ms);
    if (last_status && now - last_status > feedback_timeout_ms) {
        strbuf_appendf(out, "no status update sent to PostgreSQL for %lld s",
                       (long long) ((now - last_status) / 1000));
        return 503;
    }
    observe_progress_locked();
    int64_t oldest = atomic_load(&m.oldest_unconfirmed_ts_us);
    if (oldest && now - progress_mono_ms > stall_timeout_ms) {
        strbuf_appendf(out,
                       "changes wait for Kafka: nothing produced or committed for %lld s "
                       "(oldest unconfirmed change %.0f s old)",
                       (long long) ((now - progress_mono_ms) / 1000), lag_seconds());
        return 503;
    }
    strbuf_appendf(out, "streaming; replication lag %llu bytes, %.1f s",
                   (unsigned long long) lag_bytes(), lag_seconds());
    return 200;
}

int metrics_health(strbuf_t *out)
{
    pthread_mutex_lock(&lock);
    int code = health_locked(out);
    pthread_mutex_unlock(&lock);
    return code;
}

/*
 * The exposition, one section per concern, each called with lock held and
 * in this order (the order operators and tests/it/tests_ops.sh read).
 */

/* sluice_info, sluice_state, sluice_healthy, sluice_start_time_seconds. */
static void render_identity_locked(strbuf_t *out)
{
    metric_head(out, "sluice_info", "gauge", "Build and instance information.");
    strbuf_appendf(out, "sluice_info{version=\"%s\",slot=\"", SLUICE_VERSION);
    label_value(out, id_slot);
    strbuf_puts(out, "\",publication=\"");
    label_value(out, id_publication);
    strbuf_puts(out, "\",transactional_id=\"");
    label_value(out, id_txnid);
    strbuf_puts(out, "\"} 1\n");

    int st = atomic_load(&m.state);
    metric_head(out, "sluice_state", "gauge",
                "What sluice is doing: 1 for the current state, 0 for the others.");
    for (int i = 0; i < (int) (sizeof state_names / sizeof state_names[0]); i++)
        strbuf_appendf(out, "sluice_state{state=\"%s\"} %d\n", state_names[i], i == st);
    metric_head(out, "sluice_role", "gauge",
                "1 for this instance's role: active (streams, or is starting to) or standby "
                "(waits for the slot's lease).");
    strbuf_appendf(out, "sluice_role{role=\"active\"} %d\nsluice_role{role=\"standby\"} %d\n",
                   st != MSTATE_STANDBY, st == MSTATE_STANDBY);
    metric_u64(out, "sluice_takeovers_total", "counter",
               "Times this instance took the slot over from another instance (standby mode).",
               atomic_load(&m.takeovers));
    strbuf_t reason = STRBUF_INIT;
    int hc = health_locked(&reason);
    strbuf_free(&reason);
    metric_u64(out, "sluice_healthy", "gauge", "1 when /healthz answers 200.", hc == 200);
    metric_dbl(out, "sluice_start_time_seconds", "gauge", "Start time, seconds since the epoch.",
               (double) atomic_load(&m.start_wall_ms) / 1000.0);
}

/* The replication connection: lag, the server's WAL end, what PostgreSQL was told. */
static void render_replication_locked(strbuf_t *out)
{
    metric_u64(out, "sluice_replication_lag_bytes", "gauge",
               "WAL the server reported beyond what Kafka holds and PostgreSQL was told.",
               lag_bytes());
    metric_dbl(out, "sluice_replication_lag_seconds", "gauge",
               "Age of the oldest source commit that Kafka does not hold yet (0 when caught up).",
               lag_seconds());
    metric_u64(out, "sluice_server_wal_end_lsn", "gauge",
               "The server's WAL end as last reported on the replication connection (LSN as a "
               "number).",
               atomic_load(&m.server_wal_end));
    metric_u64(out, "sluice_confirmed_flush_lsn", "gauge",
               "Last flush LSN sent to PostgreSQL (LSN as a number).",
               atomic_load(&m.confirmed_sent));
    int64_t last_status = atomic_load(&m.last_status_mono_ms);
    metric_dbl(out, "sluice_status_update_age_seconds", "gauge",
               "Seconds since the last standby status update to PostgreSQL (-1: none yet).",
               last_status ? (double) (clock_mono_ms() - last_status) / 1000.0 : -1.0);
    metric_u64(out, "sluice_wal_received_bytes_total", "counter",
               "pgoutput bytes received on the replication connection.",
               atomic_load(&m.wal_bytes));
}

/* What reached Kafka: events and transactions (streamed and snapshot), Kafka transactions. */
static void render_pipeline_locked(strbuf_t *out)
{
    uint64_t ev = 0, txns = 0, skipped = 0, commits = 0, aborts = 0, idle = 0;
    if (bound_stats) {
        ev = load_stat(&bound_stats->changes);
        txns = load_stat(&bound_stats->source_txns);
        skipped = load_stat(&bound_stats->skipped_txns);
        commits = load_stat(&bound_stats->kafka_commits);
        aborts = load_stat(&bound_stats->kafka_aborts);
        idle = load_stat(&bound_stats->idle_checkpoints);
    }
    metric_u64(out, "sluice_events_total", "counter", "Change events produced to Kafka.", ev);
    metric_u64(out, "sluice_source_transactions_total", "counter",
               "Source transactions produced to Kafka.", txns);
    metric_u64(out, "sluice_skipped_transactions_total", "counter",
               "Source transactions PostgreSQL resent that Kafka already held (skipped whole).",
               skipped);
    metric_head(out, "sluice_skipped_events_total", "counter",
                "Change events left out by skipped.operations, by op (c, u, d, t).");
    for (size_t i = 0; i < sizeof m.skipped_events / sizeof m.skipped_events[0]; i++)
        strbuf_appendf(out, "sluice_skipped_events_total{op=\"%c\"} %llu\n", skip_ops[i],
                       (unsigned long long) atomic_load(&m.skipped_events[i]));
    metric_u64(out, "sluice_snapshot_rows_total", "counter",
               "Rows copied by the initial snapshot (op \"r\" events produced) in this process.",
               (uint64_t) atomic_load(&snap.rows));
    metric_u64(out, "sluice_snapshot_running", "gauge",
               "1 while an initial (or requested) snapshot copies tables.",
               (uint64_t) atomic_load(&snap.running));
    metric_head(out, "sluice_snapshot_tables", "gauge",
                "Tables of the latest snapshot: complete in Kafka, and in all.");
    strbuf_appendf(out, "sluice_snapshot_tables{state=\"done\"} %llu\n",
                   (unsigned long long) atomic_load(&snap.tables_done));
    strbuf_appendf(out, "sluice_snapshot_tables{state=\"total\"} %llu\n",
                   (unsigned long long) atomic_load(&snap.tables_total));
    metric_head(out, "sluice_kafka_transactions_total", "counter",
                "Kafka transactions by outcome.");
    strbuf_appendf(out, "sluice_kafka_transactions_total{outcome=\"committed\"} %llu\n",
                   (unsigned long long) commits);
    strbuf_appendf(out, "sluice_kafka_transactions_total{outcome=\"aborted\"} %llu\n",
                   (unsigned long long) aborts);
    metric_u64(out, "sluice_idle_checkpoints_total", "counter",
               "Checkpoint-only Kafka transactions committed to advance an idle slot.", idle);
    metric_dbl(out, "sluice_last_kafka_commit_timestamp_seconds", "gauge",
               "When the last Kafka transaction committed, seconds since the epoch (0: never).",
               (double) atomic_load(&m.last_commit_wall_ms) / 1000.0);
}

/* sluice_kafka_commit_duration_seconds: cumulative buckets, sum, count. */
static void render_commit_histogram_locked(strbuf_t *out)
{
    metric_head(out, "sluice_kafka_commit_duration_seconds", "histogram",
                "Time to produce the checkpoint and commit a Kafka transaction.");
    uint64_t cum = 0;
    for (size_t b = 0; b <= NBUCKETS; b++) {
        cum += atomic_load(&m.commit_bucket[b]);
        if (b < NBUCKETS)
            strbuf_appendf(out, "sluice_kafka_commit_duration_seconds_bucket{le=\"%g\"} %llu\n",
                           (double) commit_buckets_us[b] / 1e6, (unsigned long long) cum);
        else
            strbuf_appendf(out, "sluice_kafka_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                           (unsigned long long) cum);
    }
    strbuf_appendf(out, "sluice_kafka_commit_duration_seconds_sum %.6f\n",
                   (double) atomic_load(&m.commit_sum_us) / 1e6);
    strbuf_appendf(out, "sluice_kafka_commit_duration_seconds_count %llu\n",
                   (unsigned long long) atomic_load(&m.commit_count));
}

static void render_errors_locked(strbuf_t *out)
{
    metric_head(out, "sluice_errors_total", "counter", "Failures by class (each was retried or ended the process).");
    for (int i = 0; i < MERR_COUNT_; i++)
        strbuf_appendf(out, "sluice_errors_total{class=\"%s\"} %llu\n", error_names[i],
                       (unsigned long long) atomic_load(&m.errors[i]));
}

/* The queue between reader and pipeline, backpressure, and the process's memory. */
static void render_queue_locked(strbuf_t *out)
{
    metric_u64(out, "sluice_queue_bytes", "gauge",
               "Bytes waiting between the replication reader and the pipeline.",
               bound_queue ? queue_bytes(bound_queue) : 0);
    metric_u64(out, "sluice_queue_max_bytes", "gauge", "queue.max.bytes.", bound_queue_max);
    metric_u64(out, "sluice_backpressure", "gauge",
               "1 while the reader waits for room in the full queue (Kafka slower than WAL).",
               (uint64_t) atomic_load(&m.backpressure));
    metric_u64(out, "sluice_backpressure_episodes_total", "counter",
               "Times the reader had to wait for room in the queue.",
               atomic_load(&m.backpressure_episodes));
    metric_u64(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               (uint64_t) rss_bytes());
}

/* `name{broker="<broker i>"} ` — the start of one broker's sample line. */
static void broker_series(strbuf_t *out, const char *name, int i)
{
    strbuf_puts(out, name);
    strbuf_puts(out, "{broker=\"");
    label_value(out, rk.brokers[i].name);
    strbuf_puts(out, "\"} ");
}

/* Per-broker gauges from librdkafka's last statistics. */
static void render_rdkafka_brokers_locked(strbuf_t *out)
{
    metric_head(out, "sluice_rdkafka_broker_up", "gauge", "1 when the connection to the broker is up.");
    for (int i = 0; i < rk.nbrokers; i++) {
        broker_series(out, "sluice_rdkafka_broker_up", i);
        strbuf_appendf(out, "%d\n", rk.brokers[i].up);
    }
    metric_head(out, "sluice_rdkafka_broker_rtt_avg_seconds", "gauge",
                "Average request round-trip time per broker (last statistics window).");
    for (int i = 0; i < rk.nbrokers; i++) {
        broker_series(out, "sluice_rdkafka_broker_rtt_avg_seconds", i);
        strbuf_appendf(out, "%.6f\n", rk.brokers[i].rtt_avg_us / 1e6);
    }
    metric_head(out, "sluice_rdkafka_broker_internal_latency_avg_seconds", "gauge",
                "Average time a message waits in librdkafka's queue per broker.");
    for (int i = 0; i < rk.nbrokers; i++) {
        broker_series(out, "sluice_rdkafka_broker_internal_latency_avg_seconds", i);
        strbuf_appendf(out, "%.6f\n", rk.brokers[i].int_latency_avg_us / 1e6);
    }
    metric_head(out, "sluice_rdkafka_broker_outbuf_messages", "gauge",
                "Messages waiting to be sent to the broker.");
    for (int i = 0; i < rk.nbrokers; i++) {
        broker_series(out, "sluice_rdkafka_broker_outbuf_messages", i);
        strbuf_appendf(out, "%.0f\n", rk.brokers[i].outbuf_msg_cnt);
    }
}

/* librdkafka's producer figures (statistics.interval.ms), once it sent some. */
static void render_rdkafka_locked(strbuf_t *out)
{
    if (!rk.present)
        return;
    metric_dbl(out, "sluice_rdkafka_queue_messages", "gauge",
               "Messages in librdkafka's producer queue (msg_cnt).", rk.msg_cnt);
    metric_dbl(out, "sluice_rdkafka_queue_bytes", "gauge",
               "Bytes in librdkafka's producer queue (msg_size).", rk.msg_size);
    metric_dbl(out, "sluice_rdkafka_queue_max_messages", "gauge",
               "queue.buffering.max.messages.", rk.msg_max);
    metric_dbl(out, "sluice_rdkafka_queue_max_bytes", "gauge",
               "queue.buffering.max.kbytes in bytes.", rk.msg_size_max);
    metric_dbl(out, "sluice_rdkafka_requests_total", "counter",
               "Requests sent to Kafka brokers.", rk.tx);
    metric_dbl(out, "sluice_rdkafka_sent_bytes_total", "counter",
               "Bytes sent to Kafka brokers.", rk.tx_bytes);
    metric_dbl(out, "sluice_rdkafka_request_errors_total", "counter",
               "Request transmission errors.", rk.txerrs);
    metric_dbl(out, "sluice_rdkafka_request_retries_total", "counter", "Request retries.",
               rk.txretries);
    metric_dbl(out, "sluice_rdkafka_batch_size_bytes_avg", "gauge",
               "Average produce batch size over all topics (last statistics window).",
               rk.batch_size_avg);
    metric_dbl(out, "sluice_rdkafka_batch_messages_avg", "gauge",
               "Average messages per produce batch (last statistics window).",
               rk.batch_cnt_avg);
    render_rdkafka_brokers_locked(out);
}

void metrics_render(strbuf_t *out)
{
    pthread_mutex_lock(&lock);
    render_identity_locked(out);
    render_replication_locked(out);
    render_pipeline_locked(out);
    render_commit_histogram_locked(out);
    render_errors_locked(out);
    render_queue_locked(out);
    render_rdkafka_locked(out);
    pthread_mutex_unlock(&lock);
}

void metrics_sampler_start(int feedback_ms, int stall_ms)
{
    feedback_timeout_ms = feedback_ms;
    stall_timeout_ms = stall_ms;
    if (sampler_running)
        return;
    atomic_store(&sampler_stop, false);
    sampler_running = pthread_create(&sampler, NULL, sampler_main, NULL) == 0;
}

void metrics_sampler_stop(void)
{
    if (!sampler_running)
        return;
    atomic_store(&sampler_stop, true);
    pthread_join(sampler, NULL);
    sampler_running = false;
}
