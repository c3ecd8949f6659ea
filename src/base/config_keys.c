/*
 * config_keys.c — every key of sluice.conf in one table: its type, where it
 * lands in config_t, its default, its range or choices, and the text
 * `sluice config-doc` prints for docs/configuration.md. config.c does the
 * rest (parsing, checks across keys, printing).
 */
#include "config_keys.h"

#define OFF(f) offsetof(config_t, f)

/* The names of enum-valued keys, in enum order (T_CHOICE). */
const char *const config_output_formats[] = {"json", "protobuf", NULL};
const char *const config_snapshot_modes[] = {"initial", "never", "initial_only", NULL};
const char *const config_snapshot_methods[] = {"export", "incremental", NULL};
const char *const config_origin_filters[] = {"any", "none", NULL};
const char *const config_decimal_modes[] = {"string", "precise", "double", NULL};
const char *const config_interval_modes[] = {"string", "numeric", NULL};
const char *const config_infinity_modes[] = {"clamp", "extreme", "null", NULL};
const char *const config_year_range_modes[] = {"keep", "clamp", "null", NULL};
/* index 0 is FLOAT_SPECIAL_AUTO, never named: an unset key */
const char *const config_float_special_modes[] = {"", "string", "null", NULL};

const key_def_t config_keys[] = {
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
     config_origin_filters},
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
     config_output_formats},
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
     config_decimal_modes},
    {"interval.handling.mode", T_CHOICE, OFF(forms.interval), "string", false, 0, 0,
     "`interval`: `string`, the exact ISO-8601 duration (`P1Y2M3DT4H5M6.7S`, "
     "`io.debezium.time.Interval`); `numeric`, microseconds as an int64 "
     "(`io.debezium.time.MicroDuration`, a month counted as 30.4375 days as Debezium does).",
     config_interval_modes},
    {"infinity.handling.mode", T_CHOICE, OFF(forms.infinity), "clamp", false, 0, 0,
     "`date`, `timestamp` and `timestamptz` `±infinity`, and `time`/`timetz` `24:00:00`, which "
     "Java and most databases cannot hold: `clamp`, the latest or earliest value every "
     "mainstream store accepts (`9999-12-31 23:59:59`, `0001-01-01 00:00:00`; "
     "`23:59:59.999999`); `extreme`, Debezium's markers (2147483647 / -2147483648 days, int64 "
     "max / min microseconds, `\"infinity\"` strings, 86400000000 µs), which PostgreSQL sinks "
     "reject; `null`. docs/output.md, \"Values without a Java equivalent\".",
     config_infinity_modes},
    {"year.range.handling.mode", T_CHOICE, OFF(forms.year_range), "keep", false, 0, 0,
     "Finite `date`, `timestamp` and `timestamptz` values before year 1 (BC) or after 9999: "
     "`keep` them exact (Java and PostgreSQL hold them; a `timestamp` past int64 microseconds, "
     "after 294247-01-10, is int64's maximum); `clamp` them to `0001-01-01 00:00:00` / "
     "`9999-12-31 23:59:59` for consumers limited to four-digit years (Python, MySQL); `null`.",
     config_year_range_modes},
    {"float.special.handling.mode", T_CHOICE, OFF(forms.float_special), NULL, false, 0, 0,
     "`real` and `double precision` `NaN`, `Infinity`, `-Infinity` (and `numeric`'s with "
     "`decimal.handling.mode = double`): `string`, the JSON strings `\"NaN\"`, "
     "`\"Infinity\"`, `\"-Infinity\"` (parsers of Debezium JSON read them; Kafka Connect's "
     "JsonConverter reads 0); `null`. Default: `null` with `json.schemas = true`, `string` "
     "otherwise. Protobuf's `string` is the native IEEE value.",
     config_float_special_modes},
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
     "`sluice.snapshot` message or `sluice snapshot TABLE…` are still copied). "
     "`initial_only`: copy, then exit 0 "
     "(the slot stays, so a later `run` streams from the point of the copy). A checkpoint that "
     "records a finished snapshot (or none at all) is never snapshotted again.",
     config_snapshot_modes},
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
     config_snapshot_methods},
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

const size_t config_nkeys = sizeof config_keys / sizeof config_keys[0];
