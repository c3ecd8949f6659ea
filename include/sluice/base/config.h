/*
 * config.h — the daemon's configuration: a `key = value` file, then `-o
 * key=value` overrides, then defaults. Every key is declared once in
 * config.c's table (name, type, default, description); the reference in
 * docs/configuration.md and `sluice help-config` both come from it.
 *
 * Keys starting with "kafka." are handed to librdkafka without the prefix
 * (librdkafka rejects the ones it does not know, and sluice reports that).
 * An unknown non-kafka key, a malformed line or a missing required key is an
 * error that names the file, the line and the key.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include "sluice/base/common.h"
#include "sluice/base/log.h"

#include <regex.h>

/* format = json | protobuf: the encoder that writes change events (encode/encode.h) */
typedef enum { FORMAT_JSON = 0, FORMAT_PROTOBUF = 1 } output_format_t;

typedef struct {
    char *key;
    char *value;
} config_pair_t;

/* snapshot.mode: what happens to rows that exist before the slot (docs/design.md). */
typedef enum {
    SNAPSHOT_MODE_INITIAL = 0, /* copy them once, then stream (default) */
    SNAPSHOT_MODE_NEVER,       /* stream only */
    SNAPSHOT_MODE_INITIAL_ONLY /* copy them once, then stop */
} snapshot_mode_t;

/* snapshot.method: how tables are copied (docs/design.md, "The incremental snapshot"). */
typedef enum {
    SNAPSHOT_METHOD_EXPORT = 0,  /* an exported snapshot, ctid ranges, streaming after the copy */
    SNAPSHOT_METHOD_INCREMENTAL, /* key-range chunks between watermarks, while streaming */
} snapshot_method_t;

/*
 * How values without a single obvious form are written (docs/output.md, "Type
 * mapping"): Debezium's handling modes, and what sluice writes for PostgreSQL
 * values that have no Kafka Connect / Java equivalent. The encoders get a
 * copy (encode.h).
 */
typedef enum {
    DECIMAL_STRING = 0, /* exact decimal string (default) */
    DECIMAL_PRECISE,    /* Connect Decimal / io.debezium.data.VariableScaleDecimal */
    DECIMAL_DOUBLE      /* the nearest double */
} decimal_mode_t;

typedef enum {
    INTERVAL_STRING = 0, /* ISO-8601 duration string (default) */
    INTERVAL_NUMERIC     /* io.debezium.time.MicroDuration: int64 microseconds */
} interval_mode_t;

/* date/timestamp/timestamptz ±infinity and time/timetz 24:00:00 */
typedef enum {
    INFINITY_CLAMP = 0, /* 9999-12-31 23:59:59 / 0001-01-01, 23:59:59.999999 (default) */
    INFINITY_EXTREME,   /* INT32/INT64 extremes, "infinity" strings, 86400000000 µs */
    INFINITY_NULL       /* null (a NOT NULL column under json.schemas: clamp) */
} infinity_mode_t;

/* finite dates and timestamps before year 1 or after year 9999 */
typedef enum {
    YEAR_RANGE_KEEP = 0, /* exact (default) */
    YEAR_RANGE_CLAMP,    /* into 0001-01-01 .. 9999-12-31 23:59:59 */
    YEAR_RANGE_NULL      /* null (a NOT NULL column under json.schemas: clamp) */
} year_range_mode_t;

/* real / double precision NaN, Infinity, -Infinity (and numeric's with decimal.handling.mode = double) */
typedef enum {
    FLOAT_SPECIAL_AUTO = 0, /* unset: null with json.schemas, string otherwise (config_finish) */
    FLOAT_SPECIAL_STRING,   /* "NaN", "Infinity", "-Infinity" */
    FLOAT_SPECIAL_NULL      /* null (a NOT NULL column under json.schemas: the string) */
} float_special_mode_t;

typedef struct {
    decimal_mode_t decimal;
    interval_mode_t interval;
    infinity_mode_t infinity;
    year_range_mode_t year_range;
    float_special_mode_t float_special;
    bool numeric_json_number; /* numeric.json.number: numeric and money as JSON numbers */
} value_forms_t;
/* postgres.origin: which changes to stream by where they were made (PostgreSQL 16+ for none). */
typedef enum {
    ORIGIN_ANY = 0, /* every change, also those a logical replication subscription applied */
    ORIGIN_NONE     /* only changes made on this server (pgoutput's origin = none) */
} origin_filter_t;

/*
 * skipped.operations: change kinds that are not streamed (Debezium's c, u, d,
 * t); a bit set. An update that changes the key is one update ('u'), as in
 * Debezium, though it is written as a delete and a create.
 */
enum {
    SKIP_OP_CREATE = 1u << 0,  /* c */
    SKIP_OP_UPDATE = 1u << 1,  /* u */
    SKIP_OP_DELETE = 1u << 2,  /* d */
    SKIP_OP_TRUNCATE = 1u << 3 /* t */
};

typedef struct {
    /* PostgreSQL */
    char *pg_conninfo;
    char *slot;
    char *publication;
    bool create_slot;
    bool slot_failover;     /* postgres.slot.failover: a failover slot (PostgreSQL 17+) */
    origin_filter_t origin; /* postgres.origin */
    int status_interval_ms;
    int receive_timeout_ms;
    /* output */
    char *topic_prefix;
    char *checkpoint_topic;
    output_format_t format;
    bool tombstones;
    unsigned skipped_ops; /* skipped.operations: SKIP_OP_* bits */
    char *toast_placeholder;
    value_forms_t forms;       /* decimal.handling.mode, …: the forms of special values */
    bool json_schemas;         /* json.schemas: Kafka Connect {"schema","payload"} */
    char *propagate_source_type; /* column.propagate.source.type: regexes, comma-separated */
    bool transaction_metadata; /* transaction.metadata: BEGIN/END topic, "transaction" block */
    int topic_partitions;
    int topic_replication_factor;
    /* exactly-once sink */
    char *transactional_id;
    int commit_interval_ms;
    long long commit_max_bytes;
    long long queue_max_bytes;
    int kafka_startup_timeout_ms;
    int startup_retry_timeout_ms; /* PostgreSQL or Kafka unreachable at start: retried this long */
    int idle_checkpoint_ms;
    /* initial snapshot */
    snapshot_mode_t snapshot_mode;
    snapshot_method_t snapshot_method;
    int snapshot_chunk_rows;
    int snapshot_workers;
    long long snapshot_chunk_bytes;
    int snapshot_commit_interval_ms;
    int snapshot_progress_interval_ms;
    /* hot standby */
    bool standby;
    int standby_poll_interval_ms;
    int standby_takeover_timeout_ms;
    /* operations */
    log_level_t log_level;
    bool log_json;
    char *log_file;
    char *metrics_listen;     /* NULL or "": no HTTP server */
    int health_stall_timeout_ms;
    int shutdown_timeout_ms;
    /* librdkafka pass-through, prefix stripped */
    config_pair_t *kafka;
    size_t nkafka;
} config_t;

/* Fills cfg with every default; no required key is set. */
void config_init(config_t *cfg);

/*
 * Whether the events carry the columns' NOT NULL and constant defaults, which
 * sluice then reads from the catalog at every RELATION message: Kafka Connect
 * schemas (json.schemas) and Protobuf (Column.default_value).
 */
static inline bool config_column_metadata(const config_t *cfg)
{
    return cfg->json_schemas || cfg->format == FORMAT_PROTOBUF;
}

/*
 * Reads `path` into cfg. Returns false and writes "sluice.conf:12: unknown
 * configuration key "foo"" (or the like) into err.
 */
bool config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);

/* Applies one "key=value" (from -o). Same errors as the file, without a line. */
bool config_set(config_t *cfg, const char *key, const char *value, const char *origin, char *err,
                size_t errlen);

/* Checks required keys and derives defaults that depend on others. */
bool config_finish(config_t *cfg, char *err, size_t errlen);

/* Looks up a pass-through librdkafka key (without "kafka."); NULL if unset. */
const char *config_kafka_get(const config_t *cfg, const char *key);

/* Frees what cfg owns. */
void config_free(config_t *cfg);

/* Prints the reference of every key (name, default, description) as Markdown. */
void config_print_reference(void);

/* True for keys whose values must never be logged (passwords, secrets). */
bool config_key_is_secret(const char *key);

/*
 * True if the value of `key`, as written in a file (before ${ENV}
 * expansion), holds a secret itself: a secret key with anything but ${NAME}
 * references, or a conninfo with a literal password.
 */
bool config_value_holds_secret(const char *key, const char *raw_value);

/*
 * Copies msg into out with every secret value of cfg (the conninfo's
 * password, secret kafka.* settings) replaced by "********": for messages
 * from libraries that may quote what they were given.
 */
void config_redact(const config_t *cfg, const char *msg, char *out, size_t outlen);

/*
 * column.propagate.source.type's patterns, compiled: each a POSIX extended
 * regular expression matched case-insensitively against a whole
 * "schema.table.column" (as Debezium's column lists). colmatch_compile
 * returns false with a message naming the bad pattern; an empty or NULL
 * list matches nothing.
 */
typedef struct {
    regex_t *re;
    size_t n;
} colmatch_t;

bool colmatch_compile(colmatch_t *m, const char *list, char *err, size_t errlen);
bool colmatch_match(const colmatch_t *m, const char *name);
void colmatch_free(colmatch_t *m);

#endif
