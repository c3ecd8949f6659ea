/*
 * test_config.c — sluice.conf parsing (config_load_file), -o overrides
 * (config_set) and validation with derived defaults (config_finish).
 *
 * Each test writes its file to a fresh temporary path and checks either the
 * resulting config_t or the exact error: errors must name the file and line,
 * and the key, because that is what a user needs to fix them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base/config.h"

static config_t cfg;
static char err[1024];
static char path[64];

static void setup(void)
{
    config_init(&cfg);
    err[0] = '\0';
    path[0] = '\0';
}

static void teardown(void)
{
    config_free(&cfg);
    if (path[0])
        unlink(path);
}

/* Writes text to a new temporary file; its name is left in `path`. */
static void write_conf(const char *text)
{
    snprintf(path, sizeof path, "/tmp/sluice-test-conf-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t) n);
    close(fd);
}

static bool load(const char *text)
{
    write_conf(text);
    return config_load_file(&cfg, path, err, sizeof err);
}

/* The error must start with "<path>:<line>: " and contain every fragment. */
#define assert_error_at(line, ...)                                                           \
    do {                                                                                     \
        char where_[96];                                                                     \
        snprintf(where_, sizeof where_, "%s:%d: ", path, (line));                            \
        ck_assert_msg(strncmp(err, where_, strlen(where_)) == 0,                             \
                      "error \"%s\" does not start with \"%s\"", err, where_);               \
        const char *frags_[] = {__VA_ARGS__};                                                \
        for (size_t f_ = 0; f_ < sizeof frags_ / sizeof frags_[0]; f_++)                     \
            ck_assert_msg(strstr(err, frags_[f_]), "error \"%s\" lacks \"%s\"", err,         \
                          frags_[f_]);                                                       \
    } while (0)

static const char *minimal =
    "postgres.conninfo = host=db dbname=app user=sluice\n"
    "kafka.bootstrap.servers = k1:9092,k2:9092\n";

START_TEST(test_init_sets_documented_defaults)
{
    ck_assert_ptr_null(cfg.pg_conninfo);
    ck_assert_str_eq(cfg.slot, "sluice");
    ck_assert_str_eq(cfg.publication, "sluice");
    ck_assert(cfg.create_slot);
    ck_assert_int_eq(cfg.status_interval_ms, 10000);
    ck_assert_str_eq(cfg.topic_prefix, "sluice");
    ck_assert_ptr_null(cfg.checkpoint_topic);
    ck_assert_int_eq(cfg.format, FORMAT_JSON);
    ck_assert(cfg.tombstones);
    ck_assert_str_eq(cfg.toast_placeholder, "__debezium_unavailable_value");
    ck_assert_int_eq(cfg.topic_partitions, -1);
    ck_assert_int_eq(cfg.commit_interval_ms, 100);
    ck_assert_int_eq(cfg.commit_max_bytes, 16777216);
    ck_assert_int_eq(cfg.queue_max_bytes, 8388608);
    ck_assert_int_eq(cfg.log_level, LOG_INFO);
    ck_assert(!cfg.log_json);
    ck_assert_uint_eq(cfg.nkafka, 0);
    ck_assert(!cfg.standby);
    ck_assert_int_eq(cfg.standby_poll_interval_ms, 1000);
    ck_assert_int_eq(cfg.standby_takeover_timeout_ms, 15000);
}
END_TEST

START_TEST(test_good_file_sets_every_kind_of_value)
{
    bool ok = load("# sluice configuration\n"
                   "\n"
                   "   postgres.conninfo=host=db port=5433 dbname=app\n"
                   "postgres.slot = orders_slot   \n"
                   "\tpostgres.publication\t=\torders_pub\n"
                   "postgres.create_slot = off\n"
                   "postgres.status_interval_ms = 2500\n"
                   "topic.prefix = shop\n"
                   "tombstones.on.delete = no\n"
                   "topic.partitions = 12\n"
                   "commit.max.bytes = 32MB\n"
                   "queue.max.bytes = 64kB\n"
                   "format = json\n"
                   "log.level = debug\n"
                   "log.format = json\n"
                   "log.file = /var/log/sluice.log\n"
                   "  # indented comment\n"
                   "kafka.bootstrap.servers = k:9092\r\n");
    ck_assert_msg(ok, "%s", err);
    ck_assert_str_eq(cfg.pg_conninfo, "host=db port=5433 dbname=app");
    ck_assert_str_eq(cfg.slot, "orders_slot");
    ck_assert_str_eq(cfg.publication, "orders_pub");
    ck_assert(!cfg.create_slot);
    ck_assert_int_eq(cfg.status_interval_ms, 2500);
    ck_assert_str_eq(cfg.topic_prefix, "shop");
    ck_assert(!cfg.tombstones);
    ck_assert_int_eq(cfg.topic_partitions, 12);
    ck_assert_int_eq(cfg.commit_max_bytes, 32LL * 1024 * 1024);
    ck_assert_int_eq(cfg.queue_max_bytes, 65536);
    ck_assert_int_eq(cfg.log_level, LOG_DEBUG);
    ck_assert(cfg.log_json);
    ck_assert_str_eq(cfg.log_file, "/var/log/sluice.log");
    ck_assert_str_eq(config_kafka_get(&cfg, "bootstrap.servers"), "k:9092");
}
END_TEST

START_TEST(test_unknown_key_names_file_line_and_key)
{
    ck_assert(!load("postgres.slot = a\n# comment\n\npostgres.slott = b\n"));
    assert_error_at(4, "unknown configuration key \"postgres.slott\"", "kafka.");
}
END_TEST

START_TEST(test_parsing_stops_at_the_first_error)
{
    ck_assert(!load("topic.prefix = first\nbogus = 1\ntopic.prefix = second\n"));
    assert_error_at(2, "\"bogus\"");
    ck_assert_str_eq(cfg.topic_prefix, "first");
}
END_TEST

START_TEST(test_kafka_keys_pass_through_without_prefix)
{
    ck_assert_msg(load("kafka.bootstrap.servers = a:1\n"
                       "kafka.acks = all\n"
                       "kafka.sasl.password = p@ss=word\n"
                       "kafka.acks = 1\n"),
                  "%s", err);
    ck_assert_uint_eq(cfg.nkafka, 3); /* a repeated key replaces, it does not add */
    ck_assert_str_eq(config_kafka_get(&cfg, "bootstrap.servers"), "a:1");
    ck_assert_str_eq(config_kafka_get(&cfg, "acks"), "1");
    ck_assert_str_eq(config_kafka_get(&cfg, "sasl.password"), "p@ss=word");
    ck_assert_ptr_null(config_kafka_get(&cfg, "kafka.acks"));
    ck_assert_ptr_null(config_kafka_get(&cfg, "linger.ms"));
}
END_TEST

START_TEST(test_bare_kafka_prefix_is_an_unknown_key)
{
    ck_assert(!load("kafka. = x\n"));
    assert_error_at(1, "unknown configuration key \"kafka.\"");
}
END_TEST

START_TEST(test_unknown_kafka_setting_names_file_line_and_key)
{
    ck_assert(!load("kafka.bootstrap.servers = a:1\nkafka.linger.msec = 5\n"));
    assert_error_at(2, "unknown librdkafka setting \"kafka.linger.msec\"", "CONFIGURATION.md");
}
END_TEST

START_TEST(test_bad_kafka_value_names_file_line_and_librdkafka_reason)
{
    ck_assert(!load("kafka.bootstrap.servers = a:1\nkafka.compression.type = lzma\n"));
    assert_error_at(2, "invalid value for \"kafka.compression.type\"", "lzma");
}
END_TEST

START_TEST(test_receive_timeout_is_0_or_at_least_a_second)
{
    ck_assert(load("postgres.conninfo = dbname=x\nkafka.bootstrap.servers = a:1\n"
                   "postgres.receive_timeout_ms = 500\n"));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "\"postgres.receive_timeout_ms\" = 500"));
    ck_assert(config_set(&cfg, "postgres.receive_timeout_ms", "0", "-o", err, sizeof err));
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
    ck_assert_int_eq(cfg.receive_timeout_ms, 0);
}
END_TEST

START_TEST(test_standby_takeover_timeout_is_at_least_three_polls)
{
    ck_assert(load("postgres.conninfo = dbname=x\nkafka.bootstrap.servers = a:1\n"
                   "standby = on\nstandby.poll.interval.ms = 2000\n"
                   "standby.takeover.timeout.ms = 5000\n"));
    ck_assert(cfg.standby);
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "\"standby.takeover.timeout.ms\" = 5000"));
    ck_assert_ptr_nonnull(strstr(err, "\"standby.poll.interval.ms\" (2000)"));
    ck_assert(config_set(&cfg, "standby.takeover.timeout.ms", "6000", "-o", err, sizeof err));
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
    ck_assert_int_eq(cfg.standby_takeover_timeout_ms, 6000);
}
END_TEST

/* A one-off copy that exits has nothing for a standby to take over: refused, not left to chance. */
START_TEST(test_standby_refuses_initial_only)
{
    ck_assert(load("postgres.conninfo = dbname=x\nkafka.bootstrap.servers = a:1\n"
                   "snapshot.mode = initial_only\n"));
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
    ck_assert(config_set(&cfg, "standby", "true", "--standby", err, sizeof err));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "\"snapshot.mode\" = initial_only"));
    ck_assert_ptr_nonnull(strstr(err, "standby"));
}
END_TEST

START_TEST(test_missing_conninfo_is_reported_by_finish)
{
    ck_assert(load("kafka.bootstrap.servers = a:1\n"));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_str_eq(err, "missing required configuration key \"postgres.conninfo\"");
}
END_TEST

START_TEST(test_empty_conninfo_counts_as_missing)
{
    ck_assert(load("postgres.conninfo =\nkafka.bootstrap.servers = a:1\n"));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_str_eq(err, "missing required configuration key \"postgres.conninfo\"");
}
END_TEST

/*
 * Found by fuzz_config: libpq's message about a malformed conninfo, with its
 * quoted parts replaced by a 5-byte marker, could end one byte past the end of
 * the 256-byte buffer it was cleaned into (seen under `make unit`'s ASan run).
 * Each length of the unquoted run lands the marker at a different offset.
 */
START_TEST(test_conninfo_error_of_any_length_stays_in_its_buffer)
{
    for (int k = 200; k < 260; k++) {
        config_free(&cfg);
        config_init(&cfg);
        char conninfo[300];
        snprintf(conninfo, sizeof conninfo, "x\"%.*s\"", k,
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                 "AAAAAAAAAAAAAAAAAAAA");
        ck_assert(config_set(&cfg, "postgres.conninfo", conninfo, "-o", err, sizeof err));
        ck_assert(config_set(&cfg, "kafka.bootstrap.servers", "a:1", "-o", err, sizeof err));
        ck_assert(!config_finish(&cfg, err, sizeof err));
        ck_assert_msg(strncmp(err, "invalid \"postgres.conninfo\": missing \"…\" after \"…\"AAA",
                              strlen("invalid \"postgres.conninfo\": missing \"…\" after \"…\"AAA")) == 0,
                      "k=%d: %s", k, err);
    }
}
END_TEST

START_TEST(test_missing_bootstrap_servers_is_reported_by_finish)
{
    ck_assert(load("postgres.conninfo = host=db\n"));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_str_eq(err, "missing required configuration key \"kafka.bootstrap.servers\"");
}
END_TEST

START_TEST(test_kafka_transactional_id_is_refused)
{
    ck_assert(load(minimal));
    ck_assert(config_set(&cfg, "kafka.transactional.id", "mine", "-o", err, sizeof err));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "\"kafka.transactional.id\" is managed by sluice"));
}
END_TEST

START_TEST(test_bad_integer_names_value_key_and_range)
{
    ck_assert(!load("\npostgres.status_interval_ms = 10s\n"));
    assert_error_at(2, "invalid value \"10s\"", "\"postgres.status_interval_ms\"",
                    "an integer from 100 to 3600000");
    ck_assert_int_eq(cfg.status_interval_ms, 10000); /* unchanged */
}
END_TEST

START_TEST(test_integer_out_of_range_is_refused)
{
    ck_assert(!load("postgres.status_interval_ms = 99\n"));
    assert_error_at(1, "invalid value \"99\"", "from 100 to 3600000");
    config_free(&cfg);
    config_init(&cfg);
    unlink(path);
    ck_assert(!load("topic.partitions = 99999999999999999999\n"));
    assert_error_at(1, "\"topic.partitions\"");
}
END_TEST

START_TEST(test_bad_size_suffix_is_refused)
{
    ck_assert(!load("commit.max.bytes = 2TB\n"));
    assert_error_at(1, "invalid value \"2TB\"", "a size in bytes (or with kB, MB, GB)");
}
END_TEST

START_TEST(test_bad_bool_is_refused)
{
    ck_assert(!load("postgres.create_slot = maybe\n"));
    assert_error_at(1, "\"postgres.create_slot\"", "expected true or false");
    ck_assert(cfg.create_slot);
}
END_TEST

/* load() again on the same cfg, the previous file removed first. */
static bool load_again(const char *text)
{
    if (path[0])
        unlink(path);
    return load(text);
}

/* skipped.operations: Debezium's c, u, d, t as a list, or none (the default). */
START_TEST(test_skipped_operations_is_a_list_of_c_u_d_t_or_none)
{
    ck_assert_uint_eq(cfg.skipped_ops, 0);
    ck_assert_msg(load_again("skipped.operations = t\n"), "%s", err);
    ck_assert_uint_eq(cfg.skipped_ops, SKIP_OP_TRUNCATE);
    ck_assert_msg(load_again("skipped.operations = d, t,c\n"), "%s", err);
    ck_assert_uint_eq(cfg.skipped_ops, SKIP_OP_DELETE | SKIP_OP_TRUNCATE | SKIP_OP_CREATE);
    ck_assert_msg(load_again("skipped.operations = u\n"), "%s", err);
    ck_assert_uint_eq(cfg.skipped_ops, SKIP_OP_UPDATE);
    ck_assert_msg(load_again("skipped.operations = none\n"), "%s", err);
    ck_assert_uint_eq(cfg.skipped_ops, 0);
    static const char *const bad[] = {"skipped.operations = x\n", "skipped.operations = none,t\n",
                                      "skipped.operations = t,\n", "skipped.operations = ct\n",
                                      "skipped.operations = t d\n", "skipped.operations = r\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!load_again(bad[i]), "accepted %s", bad[i]);
        assert_error_at(1, "\"skipped.operations\"", "expected none or a comma-separated list of c, u, d, t");
        ck_assert_uint_eq(cfg.skipped_ops, 0);
    }
}
END_TEST

START_TEST(test_bad_enum_values_are_refused)
{
    ck_assert(!load("format = avro\n"));
    assert_error_at(1, "invalid value \"avro\" for \"format\": expected json");
    config_free(&cfg);
    config_init(&cfg);
    unlink(path);
    ck_assert(!load("log.level = verbose\n"));
    assert_error_at(1, "\"log.level\"", "expected debug, info, warning or error");
    config_free(&cfg);
    config_init(&cfg);
    unlink(path);
    ck_assert(!load("log.format = xml\n"));
    assert_error_at(1, "\"log.format\"", "expected text or json");
}
END_TEST

START_TEST(test_line_without_equals_is_refused)
{
    ck_assert(!load("postgres.slot = a\npostgres.slot b\n"));
    assert_error_at(2, "expected \"key = value\"", "postgres.slot b");
}
END_TEST

START_TEST(test_line_without_key_is_refused)
{
    ck_assert(!load("  = value\n"));
    assert_error_at(1, "missing key before \"=\"");
}
END_TEST

START_TEST(test_env_references_are_substituted)
{
    setenv("SLUICE_TEST_PW", "s3cr=t", 1);
    setenv("SLUICE_TEST_HOST", "db.internal", 1);
    ck_assert_msg(load("postgres.conninfo = host=${SLUICE_TEST_HOST} password=${SLUICE_TEST_PW}\n"
                       "kafka.sasl.password = ${SLUICE_TEST_PW}${SLUICE_TEST_PW}\n"
                       "topic.prefix = $HOME-not-a-reference\n"),
                  "%s", err);
    ck_assert_str_eq(cfg.pg_conninfo, "host=db.internal password=s3cr=t");
    ck_assert_str_eq(config_kafka_get(&cfg, "sasl.password"), "s3cr=ts3cr=t");
    ck_assert_str_eq(cfg.topic_prefix, "$HOME-not-a-reference");
}
END_TEST

START_TEST(test_env_reference_to_empty_variable_is_empty)
{
    setenv("SLUICE_TEST_EMPTY", "", 1);
    ck_assert_msg(load("topic.prefix = a${SLUICE_TEST_EMPTY}b\n"), "%s", err);
    ck_assert_str_eq(cfg.topic_prefix, "ab");
}
END_TEST

START_TEST(test_unset_env_variable_is_an_error)
{
    unsetenv("SLUICE_TEST_UNSET");
    ck_assert(!load("topic.prefix = x\npostgres.conninfo = password=${SLUICE_TEST_UNSET}\n"));
    assert_error_at(2, "environment variable \"SLUICE_TEST_UNSET\" is not set");
    ck_assert_ptr_null(cfg.pg_conninfo);
}
END_TEST

START_TEST(test_malformed_env_references_are_errors)
{
    ck_assert(!load("topic.prefix = ${UNCLOSED\n"));
    assert_error_at(1, "unterminated \"${\"");
    config_free(&cfg);
    config_init(&cfg);
    unlink(path);
    ck_assert(!load("topic.prefix = ${}\n"));
    assert_error_at(1, "invalid environment variable reference");
}
END_TEST

START_TEST(test_quoted_values_keep_inner_spaces)
{
    ck_assert_msg(load("toast.placeholder = \"  kept  \"\n"
                       "postgres.conninfo = \"host=db application_name='a b'\"\n"
                       "topic.prefix = \"\n"
                       "postgres.publication = \"\"\n"),
                  "%s", err);
    ck_assert_str_eq(cfg.toast_placeholder, "  kept  ");
    ck_assert_str_eq(cfg.pg_conninfo, "host=db application_name='a b'");
    ck_assert_str_eq(cfg.topic_prefix, "\""); /* a lone quote is not a quoted value */
    ck_assert_str_eq(cfg.publication, "");
}
END_TEST

START_TEST(test_override_replaces_file_value)
{
    ck_assert(load(minimal));
    ck_assert(config_set(&cfg, "postgres.slot", "override_slot", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "kafka.bootstrap.servers", "other:1", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "commit.interval.ms", "250", "-o", err, sizeof err));
    ck_assert_str_eq(cfg.slot, "override_slot");
    ck_assert_str_eq(config_kafka_get(&cfg, "bootstrap.servers"), "other:1");
    ck_assert_int_eq(cfg.commit_interval_ms, 250);
}
END_TEST

START_TEST(test_override_errors_name_their_origin)
{
    ck_assert(!config_set(&cfg, "no.such.key", "1", "-o", err, sizeof err));
    ck_assert_int_eq(strncmp(err, "-o: unknown configuration key \"no.such.key\"", 43), 0);
    ck_assert(!config_set(&cfg, "commit.interval.ms", "-5", "-o", err, sizeof err));
    ck_assert_int_eq(strncmp(err, "-o: invalid value \"-5\" for \"commit.interval.ms\"", 47), 0);
}
END_TEST

START_TEST(test_protobuf_format_refuses_json_only_settings)
{
    static const char *base = "postgres.conninfo = host=db\n"
                              "kafka.bootstrap.servers = k:1\n"
                              "format = protobuf\n";
    ck_assert(load(base));
    ck_assert_int_eq(cfg.format, FORMAT_PROTOBUF);
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
    static const char *json_only[] = {"json.schemas", "numeric.json.number"};
    for (int i = 0; i < 2; i++) {
        config_free(&cfg);
        config_init(&cfg);
        unlink(path);
        char text[256];
        snprintf(text, sizeof text, "%s%s = true\n", base, json_only[i]);
        ck_assert(load(text));
        ck_assert(!config_finish(&cfg, err, sizeof err));
        char want[96];
        snprintf(want, sizeof want, "\"%s\" applies to format = json only", json_only[i]);
        ck_assert_msg(strstr(err, want), "error \"%s\" lacks \"%s\"", err, want);
    }
}
END_TEST

START_TEST(test_propagate_source_type_needs_schemas_and_valid_patterns)
{
    static const char *base = "postgres.conninfo = host=db\n"
                              "kafka.bootstrap.servers = k:1\n";
    char text[256];
    snprintf(text, sizeof text, "%scolumn.propagate.source.type = .*\n", base);
    ck_assert(load(text));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "applies to json.schemas = true only"), "%s", err);

    config_free(&cfg);
    config_init(&cfg);
    unlink(path);
    snprintf(text, sizeof text,
             "%sjson.schemas = true\ncolumn.propagate.source.type = a\\.b\\.c, (x\n", base);
    ck_assert(load(text));
    ck_assert(!config_finish(&cfg, err, sizeof err));
    ck_assert_msg(strstr(err, "\"(x\" is not a regular expression"), "%s", err);

    colmatch_t m;
    ck_assert(colmatch_compile(&m, " public\\.t\\..* ,other\\.u\\.id", err, sizeof err));
    ck_assert_uint_eq(m.n, 2);
    ck_assert(colmatch_match(&m, "PUBLIC.t.col")); /* case-insensitive */
    ck_assert(colmatch_match(&m, "other.u.id"));
    ck_assert(!colmatch_match(&m, "other.u.id2")); /* the whole name */
    ck_assert(!colmatch_match(&m, "x.public.t.col"));
    colmatch_free(&m);
    ck_assert(colmatch_compile(&m, NULL, err, sizeof err));
    ck_assert(!colmatch_match(&m, "a.b.c"));
    colmatch_free(&m);
}
END_TEST

START_TEST(test_finish_derives_checkpoint_topic_and_transactional_id)
{
    ck_assert(load("postgres.conninfo = host=db\n"
                   "kafka.bootstrap.servers = k:1\n"
                   "postgres.slot = orders\n"
                   "topic.prefix = shop\n"));
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
    ck_assert_str_eq(cfg.checkpoint_topic, "shop.sluice.checkpoint");
    ck_assert_str_eq(cfg.transactional_id, "sluice-orders");
}
END_TEST

START_TEST(test_finish_keeps_explicit_checkpoint_topic_and_transactional_id)
{
    ck_assert(load("postgres.conninfo = host=db\n"
                   "kafka.bootstrap.servers = k:1\n"
                   "checkpoint.topic = my.ckpt\n"
                   "transactional.id = tx-1\n"));
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
    ck_assert_str_eq(cfg.checkpoint_topic, "my.ckpt");
    ck_assert_str_eq(cfg.transactional_id, "tx-1");
}
END_TEST

START_TEST(test_finish_refuses_invalid_slot_names)
{
    static const char *const bad[] = {"Upper", "with-dash", "sp ace", "dot.ted", "",
                                      /* 64 characters: PostgreSQL's limit is 63 */
                                      "a123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_free(&cfg);
        config_init(&cfg);
        ck_assert(config_set(&cfg, "postgres.conninfo", "host=db", "-o", err, sizeof err));
        ck_assert(config_set(&cfg, "kafka.bootstrap.servers", "k:1", "-o", err, sizeof err));
        ck_assert(config_set(&cfg, "postgres.slot", bad[i], "-o", err, sizeof err));
        ck_assert_msg(!config_finish(&cfg, err, sizeof err), "slot \"%s\" accepted", bad[i]);
        ck_assert_msg(strstr(err, "\"postgres.slot\""), "slot \"%s\": error \"%s\"", bad[i], err);
    }
    /* The longest valid name: 63 characters of [a-z0-9_]. */
    config_free(&cfg);
    config_init(&cfg);
    ck_assert(config_set(&cfg, "postgres.conninfo", "host=db", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "kafka.bootstrap.servers", "k:1", "-o", err, sizeof err));
    ck_assert(config_set(&cfg, "postgres.slot",
                         "a_2345678901234567890123456789012345678901234567890123456789012", "-o",
                         err, sizeof err));
    ck_assert_msg(config_finish(&cfg, err, sizeof err), "%s", err);
}
END_TEST

START_TEST(test_missing_file_is_an_error_naming_it)
{
    ck_assert(!config_load_file(&cfg, "/nonexistent/sluice.conf", err, sizeof err));
    ck_assert_str_eq(err,
                     "could not open configuration file \"/nonexistent/sluice.conf\": No such file "
                     "or directory");
}
END_TEST

START_TEST(test_secret_keys_are_recognised)
{
    ck_assert(config_key_is_secret("postgres.conninfo"));
    ck_assert(config_key_is_secret("kafka.sasl.password"));
    ck_assert(config_key_is_secret("kafka.SSL.Key.Password"));
    ck_assert(config_key_is_secret("kafka.sasl.oauthbearer.config"));
    ck_assert(!config_key_is_secret("topic.prefix"));
    ck_assert(!config_key_is_secret("kafka.bootstrap.servers"));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_init_sets_documented_defaults);
    tcase_add_test(tc, test_good_file_sets_every_kind_of_value);
    tcase_add_test(tc, test_unknown_key_names_file_line_and_key);
    tcase_add_test(tc, test_parsing_stops_at_the_first_error);
    tcase_add_test(tc, test_kafka_keys_pass_through_without_prefix);
    tcase_add_test(tc, test_bare_kafka_prefix_is_an_unknown_key);
    tcase_add_test(tc, test_unknown_kafka_setting_names_file_line_and_key);
    tcase_add_test(tc, test_bad_kafka_value_names_file_line_and_librdkafka_reason);
    tcase_add_test(tc, test_receive_timeout_is_0_or_at_least_a_second);
    tcase_add_test(tc, test_standby_takeover_timeout_is_at_least_three_polls);
    tcase_add_test(tc, test_standby_refuses_initial_only);
    tcase_add_test(tc, test_missing_conninfo_is_reported_by_finish);
    tcase_add_test(tc, test_empty_conninfo_counts_as_missing);
    tcase_add_test(tc, test_missing_bootstrap_servers_is_reported_by_finish);
    tcase_add_test(tc, test_kafka_transactional_id_is_refused);
    tcase_add_test(tc, test_bad_integer_names_value_key_and_range);
    tcase_add_test(tc, test_integer_out_of_range_is_refused);
    tcase_add_test(tc, test_bad_size_suffix_is_refused);
    tcase_add_test(tc, test_bad_bool_is_refused);
    tcase_add_test(tc, test_skipped_operations_is_a_list_of_c_u_d_t_or_none);
    tcase_add_test(tc, test_bad_enum_values_are_refused);
    tcase_add_test(tc, test_line_without_equals_is_refused);
    tcase_add_test(tc, test_line_without_key_is_refused);
    tcase_add_test(tc, test_env_references_are_substituted);
    tcase_add_test(tc, test_env_reference_to_empty_variable_is_empty);
    tcase_add_test(tc, test_unset_env_variable_is_an_error);
    tcase_add_test(tc, test_malformed_env_references_are_errors);
    tcase_add_test(tc, test_quoted_values_keep_inner_spaces);
    tcase_add_test(tc, test_override_replaces_file_value);
    tcase_add_test(tc, test_override_errors_name_their_origin);
    tcase_add_test(tc, test_protobuf_format_refuses_json_only_settings);
    tcase_add_test(tc, test_finish_derives_checkpoint_topic_and_transactional_id);
    tcase_add_test(tc, test_finish_keeps_explicit_checkpoint_topic_and_transactional_id);
    tcase_add_test(tc, test_finish_refuses_invalid_slot_names);
    tcase_add_test(tc, test_missing_file_is_an_error_naming_it);
    tcase_add_test(tc, test_conninfo_error_of_any_length_stays_in_its_buffer);
    tcase_add_test(tc, test_secret_keys_are_recognised);
    tcase_add_test(tc, test_propagate_source_type_needs_schemas_and_valid_patterns);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}
