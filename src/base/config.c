/*
 * config.c — parsing and validation of sluice.conf.
 *
 * One table declares every key. Setting a key parses and range-checks its
 * value immediately, so an error names the line it came from.
 */
#include "sluice/base/config.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sluice/base/buf.h"

typedef enum {
    T_STRING,
    T_BOOL,
    T_INT,
    T_SIZE,
    T_LOGLEVEL,
    T_LOGFORMAT,
    T_CHOICE, /* one of choices[], stored as its index in an enum field */
    T_OPSET   /* none, or a comma-separated list of c, u, d, t: SKIP_OP_* bits in an unsigned */
} key_type_t;

typedef struct {
    const char *name;
    key_type_t type;
    size_t offset;
    const char *def; /* NULL: no default */
    bool required;
    long long min, max;
    const char *doc;
    const char *const *choices; /* T_CHOICE: the names, NULL-terminated, in enum order */
} key_def_t;

#define OFF(f) offsetof(config_t, f)

/* The names of enum-valued keys, in enum order (T_CHOICE). */
static const char *const output_formats[] = {"json", "protobuf", NULL};
static const char *const snapshot_modes[] = {"initial", "never", "initial_only", NULL};
static const char *const snapshot_methods[] = {"export", "incremental", NULL};
static const char *const origin_filters[] = {"any", "none", NULL};
static const char *const decimal_modes[] = {"string", "precise", "double", NULL};
static const char *const interval_modes[] = {"string", "numeric", NULL};
static const char *const infinity_modes[] = {"clamp", "extreme", "null", NULL};
static const char *const year_range_modes[] = {"keep", "clamp", "null", NULL};
/* index 0 is FLOAT_SPECIAL_AUTO, never named: an unset key */
static const char *const float_special_modes[] = {"", "string", "null", NULL};

static const key_def_t keys[] = {
    {"postgres.conninfo", T_STRING, OFF(pg_conninfo), NULL, true, 0, 0,
     "libpq connection string of the source database (`host=… dbname=… user=…`). sluice adds "
     "`replication=database` for the stream. Passwords may come from `${ENV}` or ~/.pgpass."},
    {"postgres.slot", T_STRING, OFF(slot), "sluice", false, 0, 0,
     "Logical replication slot (pgoutput) that sluice reads and advances: 1 to 63 characters of "
     "`a-z`, `0-9` and `_`."},
    {"postgres.publication", T_STRING, OFF(publication), "sluice", false, 0, 0,
     "Publication naming the tables to stream; it must exist."},
    {"postgres.create_slot", T_BOOL, OFF(create_slot), "true", false, 0, 0,
     "Create the slot on a fresh start (no checkpoint in Kafka). A missing slot while a "
     "checkpoint exists is always an error."},
    {"postgres.slot.failover", T_BOOL, OFF(slot_failover), "false", false, 0, 0,
     "Make the slot a failover slot (PostgreSQL 17+; refused on older servers): PostgreSQL "
     "copies it to standbys that have `sync_replication_slots = on`, so after a failover "
     "sluice finds it on the promoted standby and resumes exactly (docs/operations.md, "
     "\"Failover\"). A slot sluice creates is created so; an existing slot is altered to it. "
     "Without it a failover loses the slot and sluice stops with exit 6."},
    {"postgres.origin", T_CHOICE, OFF(origin), "any", false, 0, 0,
     "`any`: stream every change. `none`: only changes made on this server, leaving out those "
     "a logical replication subscription applied here (pgoutput's `origin` option, "
     "PostgreSQL 16+; refused on older servers): what a bidirectional set-up needs so that "
     "changes do not travel in circles.",
     origin_filters},
    {"postgres.status_interval_ms", T_INT, OFF(status_interval_ms), "10000", false, 100, 3600000,
     "Interval of standby status updates to PostgreSQL; keep it well below the server's "
     "`wal_sender_timeout`."},
    {"postgres.receive_timeout_ms", T_INT, OFF(receive_timeout_ms), "300000", false, 0, 3600000,
     "When PostgreSQL sends nothing for this long while sluice waits to read, the replication "
     "connection is treated as lost and opened again (at half of it sluice asks for a keepalive, "
     "which a live server sends at once): a hung walsender is noticed. (A dead network is an "
     "error sooner, through the TCP settings sluice gives libpq.) PostgreSQL 15 reads nothing "
     "while its decoding skips a large table rewrite: each session in a row that this ends "
     "without a transaction doubles the next wait, up to an hour. 0: no limit."},
    {"topic.prefix", T_STRING, OFF(topic_prefix), "sluice", false, 0, 0,
     "Topic names are `<topic.prefix>.<schema>.<table>`; also the `source.name` of events."},
    {"checkpoint.topic", T_STRING, OFF(checkpoint_topic), NULL, false, 0, 0,
     "Compacted topic holding sluice's checkpoints. Default `<topic.prefix>.sluice.checkpoint`."},
    {"format", T_CHOICE, OFF(format), "json", false, 0, 0,
     "Event encoding: `json` (Debezium envelope without schemas) or `protobuf` (the same events "
     "as typed Protobuf messages, `sluice.proto`; docs/output.md, \"Protobuf output\").",
     output_formats},
    {"tombstones.on.delete", T_BOOL, OFF(tombstones), "true", false, 0, 0,
     "After a delete event, also write a tombstone (same key, null value) for log compaction."},
    {"skipped.operations", T_OPSET, OFF(skipped_ops), "none", false, 0, 0,
     "Change kinds not streamed (Debezium's key and values): a comma-separated list of `c` "
     "(inserts), `u` (updates), `d` (deletes, and their tombstones), `t` (truncates), or "
     "`none`. An update that changes the key counts as `u`, as in Debezium. Snapshot rows "
     "(`r`) and logical decoding messages are never skipped. For consumers that cannot apply "
     "an operation, such as Flink's `debezium-json` a truncate (`t` leaves out a snapshot's reset "
     "truncate too). Debezium's default is `t`; sluice's is `none` (it has always written "
     "truncates). Skipped events count in `sluice_skipped_events_total{op}`, and the first of "
     "each table and kind is logged (INFO). docs/output.md, \"Skipped operations\"."},
    {"toast.placeholder", T_STRING, OFF(toast_placeholder), "__debezium_unavailable_value", false,
     0, 0,
     "Written in place of an unchanged TOASTed value that PostgreSQL did not send (tables without "
     "REPLICA IDENTITY FULL)."},
    {"numeric.json.number", T_BOOL, OFF(forms.numeric_json_number), "false", false, 0, 0,
     "With `decimal.handling.mode = string`: write `numeric` and `money` values as JSON numbers "
     "with their exact digits instead of strings (`NaN` and `±Infinity` stay strings). Readers "
     "that parse numbers as doubles round them; the string default is exact everywhere."},
    {"decimal.handling.mode", T_CHOICE, OFF(forms.decimal), "string", false, 0, 0,
     "`numeric` and `money` (Debezium's names): `string`, the exact decimal as a string; "
     "`precise`, Kafka Connect's `Decimal` (base64 of the unscaled two's-complement value, "
     "`scale` and `connect.decimal.precision` in the schema) for `numeric(p,s)` and `money`, "
     "`io.debezium.data.VariableScaleDecimal` (`{\"scale\",\"value\"}`) for `numeric` without "
     "a scale, what Kafka Connect sinks need to keep the column type (`NaN` and `±Infinity` "
     "have no decimal: null); `double`, the nearest double (rounded). docs/output.md, "
     "\"Decimals\".",
     decimal_modes},
    {"interval.handling.mode", T_CHOICE, OFF(forms.interval), "string", false, 0, 0,
     "`interval`: `string`, the exact ISO-8601 duration (`P1Y2M3DT4H5M6.7S`, "
     "`io.debezium.time.Interval`); `numeric`, microseconds as an int64 "
     "(`io.debezium.time.MicroDuration`, a month counted as 30.4375 days as Debezium does).",
     interval_modes},
    {"infinity.handling.mode", T_CHOICE, OFF(forms.infinity), "clamp", false, 0, 0,
     "`date`, `timestamp` and `timestamptz` `±infinity`, and `time`/`timetz` `24:00:00`, which "
     "Java and most databases cannot hold: `clamp`, the latest or earliest value every "
     "mainstream store accepts (`9999-12-31 23:59:59`, `0001-01-01 00:00:00`; "
     "`23:59:59.999999`); `extreme`, Debezium's markers (2147483647 / -2147483648 days, int64 "
     "max / min microseconds, `\"infinity\"` strings, 86400000000 µs), which PostgreSQL sinks "
     "reject; `null`. docs/output.md, \"Values without a Java equivalent\".",
     infinity_modes},
    {"year.range.handling.mode", T_CHOICE, OFF(forms.year_range), "keep", false, 0, 0,
     "Finite `date`, `timestamp` and `timestamptz` values before year 1 (BC) or after 9999: "
     "`keep` them exact (Java and PostgreSQL hold them; a `timestamp` past int64 microseconds, "
     "after 294247-01-10, is int64's maximum); `clamp` them to `0001-01-01 00:00:00` / "
     "`9999-12-31 23:59:59` for consumers limited to four-digit years (Python, MySQL); `null`.",
     year_range_modes},
    {"float.special.handling.mode", T_CHOICE, OFF(forms.float_special), NULL, false, 0, 0,
     "`real` and `double precision` `NaN`, `Infinity`, `-Infinity` (and `numeric`'s with "
     "`decimal.handling.mode = double`): `string`, the JSON strings `\"NaN\"`, "
     "`\"Infinity\"`, `\"-Infinity\"` (parsers of Debezium JSON read them; Kafka Connect's "
     "JsonConverter reads 0); `null`. Default: `null` with `json.schemas = true`, `string` "
     "otherwise. Protobuf's `string` is the native IEEE value.",
     float_special_modes},
    {"json.schemas", T_BOOL, OFF(json_schemas), "false", false, 0, 0,
     "Write keys and values as Kafka Connect JSON with schemas (`{\"schema\":…,\"payload\":…}`, "
     "what `JsonConverter` reads with `schemas.enable=true`), with Debezium's logical type "
     "names."},
    {"column.propagate.source.type", T_STRING, OFF(propagate_source_type), NULL, false, 0, 0,
     "With `json.schemas = true`: comma-separated regular expressions (POSIX extended, "
     "case-insensitive, each matching a whole `schema.table.column`); the fields of the "
     "columns they match carry their PostgreSQL type in Debezium's schema parameters "
     "(`__debezium.source.column.type`, `.length`, `.scale`, `.name`), which Debezium's JDBC "
     "sink reads to create `varchar(n)`, `char(n)`, `timestamp(p)`, `jsonb`, `money`, … "
     "instead of `text` and `timestamp(6)`. `.*` names every column. Not for `bit` and `bit "
     "varying` (strings in sluice, which that sink would read as Debezium's `Bits`). "
     "docs/output.md, \"Kafka Connect JSON with schemas\"."},
    {"transaction.metadata", T_BOOL, OFF(transaction_metadata), "false", false, 0, 0,
     "Write BEGIN and END events of every source transaction to `<topic.prefix>.transaction` "
     "(Debezium's shape, with event counts per table) and a `transaction` block (id, "
     "total_order, data_collection_order) in every change event."},
    {"topic.partitions", T_INT, OFF(topic_partitions), "-1", false, -1, 100000,
     "Partitions of topics sluice creates; -1 uses the broker's `num.partitions`."},
    {"topic.replication.factor", T_INT, OFF(topic_replication_factor), "-1", false, -1, 100,
     "Replication factor of topics sluice creates; -1 uses the broker's default."},
    {"transactional.id", T_STRING, OFF(transactional_id), NULL, false, 0, 0,
     "Kafka transactional id; default `sluice-<postgres.slot>`. Two instances with the same id "
     "fence each other: exactly one streams."},
    {"commit.interval.ms", T_INT, OFF(commit_interval_ms), "100", false, 0, 3600000,
     "Longest time a Kafka transaction stays open collecting whole source transactions before "
     "it is committed (it commits sooner when the input is idle or sluice has caught up with "
     "the WAL)."},
    {"commit.max.bytes", T_SIZE, OFF(commit_max_bytes), "16777216", false, 1024, 1LL << 40,
     "Commit the Kafka transaction at the next source transaction boundary once this many bytes "
     "were produced in it."},
    {"queue.max.bytes", T_SIZE, OFF(queue_max_bytes), "8388608", false, 65536, 1LL << 36,
     "Bound of the queue between the replication reader and the pipeline. When full, sluice "
     "stops reading WAL but keeps answering PostgreSQL."},
    {"checkpoint.idle.interval.ms", T_INT, OFF(idle_checkpoint_ms), "10000", false, 100, 3600000,
     "With no change to stream but WAL moving on (other databases, unpublished tables), commit a "
     "checkpoint-only Kafka transaction at most this often so the slot keeps advancing."},
    {"snapshot.mode", T_CHOICE, OFF(snapshot_mode), "initial", false, 0, 0,
     "`initial`: on a fresh start (no checkpoint in Kafka) copy every published table's existing "
     "rows (events with `op` `r`) and then stream from the exact point of that copy; a crash "
     "during the copy resumes it. `never`: stream only (tables asked for later with a "
     "`sluice.snapshot` message are still copied). `initial_only`: copy, then exit 0 "
     "(the slot stays, so a later `run` streams from the point of the copy). A checkpoint that "
     "records a finished snapshot (or none at all) is never snapshotted again.",
     snapshot_modes},
    {"snapshot.method", T_CHOICE, OFF(snapshot_method), "export", false, 0, 0,
     "How the initial snapshot copies tables. `export`: an exported snapshot copied by "
     "`snapshot.workers` connections in ctid ranges before streaming starts (the slot waits at "
     "its consistent point meanwhile); the fastest for a database that copies in minutes, and "
     "the only one for tables without a key. `incremental`: streaming starts at once and each "
     "table is read in key order, `snapshot.chunk.rows` rows at a time, between two watermarks "
     "written into the WAL; each chunk's rows are committed with the checkpoint that records "
     "it, so a crash repeats or skips no chunk, the slot keeps advancing and no transaction "
     "stays open longer than one chunk's SELECT. Every published table needs a primary key or "
     "replica identity index (sluice refuses to start otherwise). docs/design.md, \"The "
     "incremental snapshot\".",
     snapshot_methods},
    {"snapshot.chunk.rows", T_INT, OFF(snapshot_chunk_rows), "4096", false, 1, 1000000,
     "With `snapshot.method = incremental`: rows per chunk (one SELECT by key range, one pair "
     "of watermarks, held in memory until its high watermark streams)."},
    {"snapshot.workers", T_INT, OFF(snapshot_workers), "4", false, 1, 64,
     "Connections that copy tables in parallel during a snapshot, all reading the same exported "
     "PostgreSQL snapshot."},
    {"snapshot.chunk.size", T_SIZE, OFF(snapshot_chunk_bytes), "16MB", false, 8192, 1LL << 40,
     "Tables are copied in chunks of this many bytes of heap (block ranges, `ctid`), so workers "
     "share large tables."},
    {"snapshot.commit.interval.ms", T_INT, OFF(snapshot_commit_interval_ms), "1000", false, 10,
     3600000,
     "During a snapshot, commit the Kafka transaction (with a checkpoint saying which tables are "
     "complete) this often, or sooner at `commit.max.bytes`."},
    {"snapshot.progress.interval.ms", T_INT, OFF(snapshot_progress_interval_ms), "10000", false,
     100, 3600000,
     "How often a running snapshot logs, per table, the rows copied, the rate and the time "
     "left."},
    {"startup.timeout.ms", T_INT, OFF(kafka_startup_timeout_ms), "30000", false, 1000,
     3600000,
     "At start, how long one attempt waits for the Kafka cluster (fencing, checkpoint read); "
     "sluice exits with code 7 once this and `startup.retry.timeout.ms` have passed. "
     "Credentials the brokers refuse end the wait at once (also exit 7). Once running, sluice "
     "retries a lost broker for ever."},
    {"startup.retry.timeout.ms", T_INT, OFF(startup_retry_timeout_ms), "60000", false, 0,
     86400000,
     "At start, how long sluice keeps trying again, with backoff (0.5 s doubling to 5 s), when "
     "PostgreSQL cannot be reached or its connection breaks (exit 4) and when the Kafka cluster "
     "cannot be reached (exit 7), counted from the start of `run`; then it exits with that code. "
     "Peers started together with sluice (a compose file, a pod, a booting host) are so waited "
     "for. Every failed attempt is logged as a warning with its reason (a wrong password too: it "
     "is exit 4). 0: exit at the first failure (Kafka still gets `startup.timeout.ms`)."},
    {"standby", T_BOOL, OFF(standby), "false", false, 0, 0,
     "Hot standby: run several instances on one slot (on several hosts); the one holding the "
     "slot's lease in PostgreSQL streams, the others wait and take over when it stops, dies, "
     "freezes or loses its network, fencing it first (`sluice run --standby` sets this; "
     "docs/operations.md, \"Hot standby\"). Give every instance of the slot the same setting."},
    {"standby.poll.interval.ms", T_INT, OFF(standby_poll_interval_ms), "1000", false, 100, 60000,
     "How often a standby looks at the lease, and how often the active instance renews it."},
    {"standby.takeover.timeout.ms", T_INT, OFF(standby_takeover_timeout_ms), "15000", false, 1000,
     3600000,
     "A standby takes over from an active instance that has not renewed its lease for this long "
     "(a frozen process, a network cut); one that exited or lost its connection is replaced "
     "within `standby.poll.interval.ms`. At least 3 poll intervals."},
    {"log.level", T_LOGLEVEL, OFF(log_level), "info", false, 0, 0,
     "`debug`, `info`, `warning` or `error`."},
    {"log.format", T_LOGFORMAT, OFF(log_json), "text", false, 0, 0,
     "`text` (PostgreSQL style) or `json` (one object per line)."},
    {"log.file", T_STRING, OFF(log_file), NULL, false, 0, 0,
     "Log to this file instead of stderr; reopened on SIGHUP for rotation."},
    {"metrics.listen", T_STRING, OFF(metrics_listen), "", false, 0, 0,
     "`HOST:PORT` for the HTTP server with Prometheus `/metrics` and `/healthz` (e.g. "
     "`127.0.0.1:9187`; port 0 picks a free one and logs it). Empty: no server."},
    {"health.stall.timeout.ms", T_INT, OFF(health_stall_timeout_ms), "60000", false, 1000,
     86400000,
     "`/healthz` answers 503 when changes wait for Kafka and nothing was produced or committed "
     "for this long (a broker down, a stuck transaction)."},
    {"shutdown.timeout.ms", T_INT, OFF(shutdown_timeout_ms), "30000", false, 1000, 3600000,
     "Longest graceful stop after SIGTERM/SIGINT. When Kafka cannot finish the open transaction "
     "in time, sluice exits without confirming it (exit 0; it is sent again, once, at the next "
     "start)."},
};

#define NKEYS (sizeof keys / sizeof keys[0])

static const key_def_t *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

bool config_key_is_secret(const char *key)
{
    static const char *const needles[] = {"password", "secret", "sasl.oauthbearer.config",
                                          "ssl.key.pem", "conninfo"};
    char lower[256];
    size_t i = 0;
    for (; key[i] && i + 1 < sizeof lower; i++)
        lower[i] = (char) tolower((unsigned char) key[i]);
    lower[i] = '\0';
    for (size_t n = 0; n < sizeof needles / sizeof needles[0]; n++)
        if (strstr(lower, needles[n]))
            return true;
    return false;
}

/* The conninfo's password (a copy; NULL if none or unparsable, *parsed tells which). */
static char *conninfo_password_parsed(const char *conninfo, bool *parsed)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    PQfreemem(perr);
    *parsed = opts != NULL;
    if (!opts)
        return NULL;
    char *pw = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
            pw = xstrdup(o->val);
    PQconninfoFree(opts);
    return pw;
}

static char *conninfo_password(const char *conninfo)
{
    bool parsed;
    return conninfo_password_parsed(conninfo, &parsed);
}

/* Copies s with every ${NAME} replaced by `with` (a string, possibly empty). */
static char *replace_env_refs(const char *s, const char *with)
{
    strbuf_t b = STRBUF_INIT;
    strbuf_append(&b, "", 0);
    for (const char *p = s; *p;) {
        const char *close = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
        if (close) {
            strbuf_puts(&b, with);
            p = close + 1;
        } else {
            strbuf_putc(&b, *p++);
        }
    }
    return b.data;
}

bool config_value_holds_secret(const char *key, const char *raw_value)
{
    if (!config_key_is_secret(key))
        return false;
    bool holds;
    if (strcmp(key, "postgres.conninfo") == 0) {
        /* Only a literal password counts: host names and user names are no secret. */
        char *marked = replace_env_refs(raw_value, "\x01");
        bool parsed;
        char *pw = conninfo_password_parsed(marked, &parsed);
        if (!parsed) {
            /* Unparsable (reported later): judge by the word alone, erring on the safe side. */
            holds = strcasestr(marked, "password") != NULL;
        } else if (pw) {
            holds = false;
            for (const char *c = pw; *c; c++)
                if (*c != '\x01')
                    holds = true;
        } else {
            holds = false;
        }
        free(pw);
        free(marked);
        return holds;
    }
    char *rest = replace_env_refs(raw_value, "");
    holds = false;
    for (const char *c = rest; *c; c++)
        if (!isspace((unsigned char) *c))
            holds = true;
    free(rest);
    return holds;
}

static void redact_one(strbuf_t *text, const char *secret)
{
    size_t n = strlen(secret);
    if (n < 4)
        return; /* would mangle ordinary words; no library quotes a secret anyway */
    strbuf_t out = STRBUF_INIT;
    strbuf_append(&out, "", 0);
    for (const char *p = text->data; *p;) {
        if (strncmp(p, secret, n) == 0) {
            strbuf_puts(&out, "********");
            p += n;
        } else {
            strbuf_putc(&out, *p++);
        }
    }
    strbuf_free(text);
    *text = out;
}

void config_redact(const config_t *cfg, const char *msg, char *out, size_t outlen)
{
    strbuf_t text = STRBUF_INIT;
    strbuf_append(&text, "", 0);
    strbuf_puts(&text, msg);
    if (cfg->pg_conninfo) {
        char *pw = conninfo_password(cfg->pg_conninfo);
        if (pw)
            redact_one(&text, pw);
        free(pw);
    }
    for (size_t i = 0; i < cfg->nkafka; i++)
        if (config_key_is_secret(cfg->kafka[i].key))
            redact_one(&text, cfg->kafka[i].value);
    snprintf(out, outlen, "%s", text.data);
    strbuf_free(&text);
}

static bool errf(char *err, size_t errlen, const char *fmt, ...) SLUICE_PRINTF(3, 4);
static bool errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "1")) {
        *out = true;
        return true;
    }
    if (!strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "0")) {
        *out = false;
        return true;
    }
    return false;
}

/* Accepts plain integers and sizes with a kB/MB/GB suffix (1024-based, as PostgreSQL). */
static bool parse_ll(const char *v, bool allow_units, long long *out)
{
    errno = 0;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno)
        return false;
    while (isspace((unsigned char) *end))
        end++;
    long long mult = 1;
    if (*end && allow_units) {
        if (!strcasecmp(end, "kb"))
            mult = 1024;
        else if (!strcasecmp(end, "mb"))
            mult = 1024 * 1024;
        else if (!strcasecmp(end, "gb"))
            mult = 1024LL * 1024 * 1024;
        else
            return false;
    } else if (*end) {
        return false;
    }
    if (n > LLONG_MAX / mult || n < LLONG_MIN / mult)
        return false;
    *out = n * mult;
    return true;
}

static void set_kafka(config_t *cfg, const char *key, const char *value)
{
    for (size_t i = 0; i < cfg->nkafka; i++) {
        if (strcmp(cfg->kafka[i].key, key) == 0) {
            free(cfg->kafka[i].value);
            cfg->kafka[i].value = xstrdup(value);
            return;
        }
    }
    cfg->kafka = xrealloc(cfg->kafka, (cfg->nkafka + 1) * sizeof *cfg->kafka);
    cfg->kafka[cfg->nkafka].key = xstrdup(key);
    cfg->kafka[cfg->nkafka].value = xstrdup(value);
    cfg->nkafka++;
}

const char *config_kafka_get(const config_t *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->nkafka; i++)
        if (strcmp(cfg->kafka[i].key, key) == 0)
            return cfg->kafka[i].value;
    return NULL;
}

/* skipped.operations: "none" or a comma-separated list of c, u, d, t (blanks around
 * the commas) into SKIP_OP_* bits; false for anything else, "none" with others
 * or an empty list. */
static bool parse_opset(const char *value, unsigned *out)
{
    unsigned bits = 0;
    bool none = false;
    for (const char *p = value;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ' && *end != '\t')
            end++;
        size_t len = (size_t) (end - p);
        if (len == 4 && !strncmp(p, "none", 4))
            none = true;
        else if (len == 1 && *p == 'c')
            bits |= SKIP_OP_CREATE;
        else if (len == 1 && *p == 'u')
            bits |= SKIP_OP_UPDATE;
        else if (len == 1 && *p == 'd')
            bits |= SKIP_OP_DELETE;
        else if (len == 1 && *p == 't')
            bits |= SKIP_OP_TRUNCATE;
        else
            return false;
        while (*end == ' ' || *end == '\t')
            end++;
        if (!*end)
            break;
        if (*end != ',')
            return false;
        p = end + 1;
    }
    if (none && bits)
        return false;
    *out = bits;
    return true;
}

static bool apply(config_t *cfg, const key_def_t *k, const char *value, const char *origin,
                  char *err, size_t errlen)
{
    void *field = (char *) cfg + k->offset;
    long long n;
    switch (k->type) {
    case T_STRING:
        free(*(char **) field);
        *(char **) field = xstrdup(value);
        return true;
    case T_BOOL:
        if (!parse_bool(value, (bool *) field))
            return errf(err, errlen, "%s: invalid value for \"%s\": expected true or false",
                        origin, k->name);
        return true;
    case T_INT:
    case T_SIZE:
        if (!parse_ll(value, k->type == T_SIZE, &n) || n < k->min || n > k->max)
            return errf(err, errlen, "%s: invalid value \"%s\" for \"%s\": expected %s from %lld to %lld",
                        origin, value, k->name,
                        k->type == T_SIZE ? "a size in bytes (or with kB, MB, GB)" : "an integer",
                        k->min, k->max);
        if (k->type == T_INT)
            *(int *) field = (int) n;
        else
            *(long long *) field = n;
        return true;
    case T_LOGLEVEL:
        if (!log_level_parse(value, (log_level_t *) field))
            return errf(err, errlen,
                        "%s: invalid value \"%s\" for \"%s\": expected debug, info, warning or error",
                        origin, value, k->name);
        return true;
    case T_CHOICE:
        for (int i = 0; k->choices[i]; i++)
            if (k->choices[i][0] && !strcmp(value, k->choices[i])) {
                *(int *) field = i;
                return true;
            }
        {
            strbuf_t names = STRBUF_INIT;
            for (int i = 0; k->choices[i]; i++) {
                if (!k->choices[i][0])
                    continue;
                bool last = !k->choices[i + 1];
                strbuf_appendf(&names, "%s%s", names.len ? (last ? " or " : ", ") : "",
                               k->choices[i]);
            }
            errf(err, errlen, "%s: invalid value \"%s\" for \"%s\": expected %s", origin, value,
                 k->name, names.data);
            strbuf_free(&names);
        }
        return false;
    case T_OPSET:
        if (!parse_opset(value, (unsigned *) field))
            return errf(err, errlen,
                        "%s: invalid value \"%s\" for \"%s\": expected none or a "
                        "comma-separated list of c, u, d, t",
                        origin, value, k->name);
        return true;
    case T_LOGFORMAT:
        if (!strcmp(value, "text"))
            *(bool *) field = false;
        else if (!strcmp(value, "json"))
            *(bool *) field = true;
        else
            return errf(err, errlen, "%s: invalid value \"%s\" for \"%s\": expected text or json",
                        origin, value, k->name);
        return true;
    }
    return false;
}

/*
 * A kafka.<name> setting is tried on a scratch librdkafka configuration as it
 * is read, so a misspelt name or a bad value is a configuration error naming
 * its line (exit 3) rather than a failure when the producer is built, after
 * PostgreSQL was already contacted. librdkafka checks combinations of settings
 * (and files such as ssl.ca.location) only then; sink_new reports those.
 */
static bool kafka_setting_valid(const char *key, const char *value, const char *origin, char *err,
                                size_t errlen)
{
    char why[512] = "";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_res_t res = rd_kafka_conf_set(conf, key + 6, value, why, sizeof why);
    rd_kafka_conf_destroy(conf);
    if (res == RD_KAFKA_CONF_OK)
        return true;
    if (res == RD_KAFKA_CONF_UNKNOWN)
        return errf(err, errlen,
                    "%s: unknown librdkafka setting \"%s\": after \"kafka.\" comes a property "
                    "of librdkafka's CONFIGURATION.md (librdkafka %s)",
                    origin, key, rd_kafka_version_str());
    /* librdkafka's reason quotes the value: never for a secret (librdkafka
     * takes today's secret settings as free strings, but stay safe). */
    if (config_key_is_secret(key))
        return errf(err, errlen, "%s: invalid value for \"%s\" (value not shown: it is a secret)",
                    origin, key);
    return errf(err, errlen, "%s: invalid value for \"%s\": %s", origin, key, why);
}

bool config_set(config_t *cfg, const char *key, const char *value, const char *origin, char *err,
                size_t errlen)
{
    const key_def_t *k = find_key(key);
    if (k)
        return apply(cfg, k, value, origin, err, errlen);
    if (strncmp(key, "kafka.", 6) == 0 && key[6]) {
        if (!kafka_setting_valid(key, value, origin, err, errlen))
            return false;
        set_kafka(cfg, key + 6, value);
        return true;
    }
    return errf(err, errlen,
                "%s: unknown configuration key \"%s\" (see `sluice help-config`; librdkafka "
                "settings take the prefix \"kafka.\")",
                origin, key);
}

void config_init(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char err[256];
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].def)
            apply(cfg, &keys[i], keys[i].def, "default", err, sizeof err);
}

static char *trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char) s[n - 1]))
        s[--n] = '\0';
    return s;
}

/*
 * Expands ${NAME} from the environment. An unset variable is an error: a
 * silently empty password or host is worse than a refusal to start.
 */
static bool expand_env(const char *in, strbuf_t *out, const char *origin, char *err, size_t errlen)
{
    strbuf_reset(out);
    strbuf_append(out, "", 0);
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p + 2, '}');
            if (!close)
                return errf(err, errlen, "%s: unterminated \"${\" in value", origin);
            char name[256];
            size_t n = (size_t) (close - p - 2);
            if (n == 0 || n >= sizeof name)
                return errf(err, errlen, "%s: invalid environment variable reference", origin);
            memcpy(name, p + 2, n);
            name[n] = '\0';
            const char *v = getenv(name);
            if (!v)
                return errf(err, errlen, "%s: environment variable \"%s\" is not set", origin,
                            name);
            strbuf_puts(out, v);
            p = close + 1;
        } else {
            strbuf_putc(out, *p++);
        }
    }
    return true;
}

bool config_load_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errf(err, errlen, "could not open configuration file \"%s\": %s", path,
                    strerror(errno));
    /* A file others can read must not hold secrets: they belong in a 0600 file or the environment. */
    struct stat st;
    bool shared = fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH));
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    bool ok = true;
    strbuf_t expanded = STRBUF_INIT;
    while (ok && getline(&line, &cap, f) >= 0) {
        lineno++;
        char origin[512];
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            ok = errf(err, errlen, "%s: expected \"key = value\", got \"%.40s\"", origin, s);
            break;
        }
        *eq = '\0';
        char *key = trim(s);
        char *value = trim(eq + 1);
        size_t vlen = strlen(value);
        if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
            value[vlen - 1] = '\0';
            value++;
        }
        if (*key == '\0') {
            ok = errf(err, errlen, "%s: missing key before \"=\"", origin);
            break;
        }
        if (shared && config_value_holds_secret(key, value)) {
            ok = errf(err, errlen,
                      "%s: \"%s\" holds a secret, but the file is readable by group or others "
                      "(mode %04o): run \"chmod 600 %s\" (and chown it to the user sluice runs "
                      "as), or move the secret into an environment variable and write ${NAME}",
                      origin, key, (unsigned) (st.st_mode & 07777), path);
            break;
        }
        if (!expand_env(value, &expanded, origin, err, errlen)) {
            ok = false;
            break;
        }
        ok = config_set(cfg, key, expanded.data, origin, err, errlen);
    }
    strbuf_free(&expanded);
    free(line);
    fclose(f);
    return ok;
}

bool config_finish(config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].required || keys[i].type != T_STRING)
            continue;
        char *v = *(char **) ((char *) cfg + keys[i].offset);
        if (!v || !*v)
            return errf(err, errlen, "missing required configuration key \"%s\"", keys[i].name);
    }
    char *perr = NULL;
    PQconninfoOption *copts = PQconninfoParse(cfg->pg_conninfo, &perr);
    if (!copts) {
        /* libpq quotes the fragment it choked on, which may be a password: drop quoted parts. */
        static const char elided[] = "\"…\""; /* 5 bytes: the ellipsis is 3 in UTF-8 */
        char clean[256];
        size_t n = 0;
        bool quoted = false;
        /* Room left for the marker and the NUL after any step. */
        for (const char *c = perr ? perr : "unparsable"; *c && n + sizeof elided < sizeof clean;
             c++) {
            if (*c == '"') {
                if (!quoted) {
                    memcpy(clean + n, elided, sizeof elided - 1);
                    n += sizeof elided - 1;
                }
                quoted = !quoted;
            } else if (!quoted && *c != '\n') {
                clean[n++] = *c;
            }
        }
        clean[n] = '\0';
        PQfreemem(perr);
        return errf(err, errlen,
                    "invalid \"postgres.conninfo\": %s (expected libpq's \"key=value ...\" or a "
                    "postgresql:// URI; quote values with spaces in single quotes)",
                    clean);
    }
    PQconninfoFree(copts);
    if (!config_kafka_get(cfg, "bootstrap.servers"))
        return errf(err, errlen, "missing required configuration key \"kafka.bootstrap.servers\"");
    if (cfg->receive_timeout_ms > 0 && cfg->receive_timeout_ms < 1000)
        return errf(err, errlen,
                    "\"postgres.receive_timeout_ms\" = %d is too short to hear back from a busy "
                    "server: use 0 (no limit) or at least 1000",
                    cfg->receive_timeout_ms);
    if (cfg->standby_takeover_timeout_ms < 3 * cfg->standby_poll_interval_ms)
        return errf(err, errlen,
                    "\"standby.takeover.timeout.ms\" = %d must be at least 3 times "
                    "\"standby.poll.interval.ms\" (%d): a live instance renews its lease once "
                    "per poll interval",
                    cfg->standby_takeover_timeout_ms, cfg->standby_poll_interval_ms);
    if (cfg->standby && cfg->snapshot_mode == SNAPSHOT_MODE_INITIAL_ONLY)
        return errf(err, errlen,
                    "\"snapshot.mode\" = initial_only copies and exits, which leaves a standby "
                    "nothing to take over: run the copy without \"standby\" (or --standby), then "
                    "start the standby instances with snapshot.mode = initial or never");
    if (cfg->snapshot_method == SNAPSHOT_METHOD_INCREMENTAL &&
        cfg->snapshot_mode == SNAPSHOT_MODE_INITIAL_ONLY)
        return errf(err, errlen,
                    "\"snapshot.method\" = incremental copies while streaming, so "
                    "\"snapshot.mode\" = initial_only has no point at which to stop: use "
                    "snapshot.method = export for a copy-and-exit");
    if (config_kafka_get(cfg, "transactional.id"))
        return errf(err, errlen,
                    "\"kafka.transactional.id\" is managed by sluice: set \"transactional.id\" "
                    "instead");
    /* Settings of the JSON text that Protobuf cannot honour: refused, never silently ignored. */
    if (cfg->format == FORMAT_PROTOBUF && (cfg->json_schemas || cfg->forms.numeric_json_number))
        return errf(err, errlen,
                    "\"%s\" applies to format = json only (format is protobuf, whose events "
                    "are typed)",
                    cfg->json_schemas ? "json.schemas" : "numeric.json.number");
    if (cfg->forms.numeric_json_number && cfg->forms.decimal != DECIMAL_STRING)
        return errf(err, errlen,
                    "\"numeric.json.number\" applies to decimal.handling.mode = string only "
                    "(it is %s)",
                    decimal_modes[cfg->forms.decimal]);
    if (cfg->propagate_source_type && *cfg->propagate_source_type) {
        if (!cfg->json_schemas)
            return errf(err, errlen,
                        "\"column.propagate.source.type\" applies to json.schemas = true only "
                        "(the types go into Kafka Connect schema parameters)");
        colmatch_t m;
        char why[200];
        if (!colmatch_compile(&m, cfg->propagate_source_type, why, sizeof why))
            return errf(err, errlen, "\"column.propagate.source.type\": %s", why);
        colmatch_free(&m);
    }
    /* Kafka Connect's JsonConverter reads the strings "NaN", "Infinity" as 0: with schemas, null. */
    if (cfg->forms.float_special == FLOAT_SPECIAL_AUTO)
        cfg->forms.float_special = cfg->json_schemas ? FLOAT_SPECIAL_NULL : FLOAT_SPECIAL_STRING;
    strbuf_t b = STRBUF_INIT;
    if (!cfg->checkpoint_topic) {
        strbuf_appendf(&b, "%s.sluice.checkpoint", cfg->topic_prefix);
        cfg->checkpoint_topic = b.data;
        b = (strbuf_t) STRBUF_INIT;
    }
    if (!cfg->transactional_id) {
        strbuf_appendf(&b, "sluice-%s", cfg->slot);
        cfg->transactional_id = b.data;
    }
    /* PostgreSQL's ReplicationSlotValidateName: 1 to NAMEDATALEN - 1 (63) bytes. */
    size_t slot_len = strlen(cfg->slot);
    if (slot_len == 0 || slot_len > 63)
        return errf(err, errlen,
                    "invalid value \"%s\" for \"postgres.slot\": slot names must be 1 to 63 "
                    "characters long",
                    cfg->slot);
    for (const char *p = cfg->slot; *p; p++)
        if (!(islower((unsigned char) *p) || isdigit((unsigned char) *p) || *p == '_'))
            return errf(err, errlen,
                        "invalid value \"%s\" for \"postgres.slot\": slot names may contain only "
                        "lower case letters, numbers and underscores",
                        cfg->slot);
    return true;
}

bool colmatch_compile(colmatch_t *m, const char *list, char *err, size_t errlen)
{
    m->re = NULL;
    m->n = 0;
    for (const char *p = list ? list : ""; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        const char *next = end ? end + 1 : p + len;
        while (len && isspace((unsigned char) *p)) {
            p++;
            len--;
        }
        while (len && isspace((unsigned char) p[len - 1]))
            len--;
        if (len) {
            strbuf_t anchored = STRBUF_INIT;
            strbuf_appendf(&anchored, "^(%.*s)$", (int) len, p);
            m->re = xrealloc(m->re, (m->n + 1) * sizeof *m->re);
            int rc = regcomp(&m->re[m->n], anchored.data, REG_EXTENDED | REG_ICASE | REG_NOSUB);
            strbuf_free(&anchored);
            if (rc != 0) {
                char why[120];
                regerror(rc, &m->re[m->n], why, sizeof why);
                regfree(&m->re[m->n]);
                errf(err, errlen, "\"%.*s\" is not a regular expression (%s)", (int) len, p, why);
                colmatch_free(m);
                return false;
            }
            m->n++;
        }
        p = next;
    }
    return true;
}

bool colmatch_match(const colmatch_t *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (regexec(&m->re[i], name, 0, NULL, 0) == 0)
            return true;
    return false;
}

void colmatch_free(colmatch_t *m)
{
    for (size_t i = 0; i < m->n; i++)
        regfree(&m->re[i]);
    free(m->re);
    m->re = NULL;
    m->n = 0;
}

void config_free(config_t *cfg)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == T_STRING)
            free(*(char **) ((char *) cfg + keys[i].offset));
    for (size_t i = 0; i < cfg->nkafka; i++) {
        free(cfg->kafka[i].key);
        free(cfg->kafka[i].value);
    }
    free(cfg->kafka);
    memset(cfg, 0, sizeof *cfg);
}

/* A byte count for the reference: 1024-based units where exact. */
static void print_size(long long n)
{
    if (n >= (1LL << 30) && n % (1LL << 30) == 0)
        printf("%lldGB", n >> 30);
    else if (n >= (1LL << 20) && n % (1LL << 20) == 0)
        printf("%lldMB", n >> 20);
    else if (n >= 1024 && n % 1024 == 0)
        printf("%lldkB", n >> 10);
    else
        printf("%lld", n);
}

/* The values a key accepts, as config.c checks them. */
static void print_values(const key_def_t *k)
{
    switch (k->type) {
    case T_STRING: printf("text"); break;
    case T_BOOL: printf("`true` / `false` (or on/off, yes/no, 1/0)"); break;
    case T_INT: printf("%lld – %lld", k->min, k->max); break;
    case T_SIZE:
        printf("bytes, ");
        print_size(k->min);
        printf(" – ");
        print_size(k->max);
        printf(" (units kB, MB, GB)");
        break;
    case T_LOGLEVEL: printf("`debug`, `info`, `warning`, `error`"); break;
    case T_LOGFORMAT: printf("`text`, `json`"); break;
    case T_OPSET: printf("`none`, or a comma-separated list of `c`, `u`, `d`, `t`"); break;
    case T_CHOICE:
        for (int i = 0, n = 0; k->choices[i]; i++)
            if (k->choices[i][0])
                printf("%s`%s`", n++ ? ", " : "", k->choices[i]);
        break;
    }
}

void config_print_reference(void)
{
    printf("| key | default | values | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < NKEYS; i++) {
        printf("| `%s` | %s | ", keys[i].name,
               keys[i].required ? "**required**" : keys[i].def ? keys[i].def : "(see meaning)");
        print_values(&keys[i]);
        printf(" | %s |\n", keys[i].doc);
    }
    printf("| `kafka.<name>` | | as librdkafka's CONFIGURATION.md | Any librdkafka setting, passed "
           "through (`kafka.bootstrap.servers` is required); the name and value are checked as "
           "the file is read. |\n");
}
