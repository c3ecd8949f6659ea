/*
 * topicbytes — counts the records of sluice's topics and their key and
 * value bytes as a read_committed consumer receives them (uncompressed): the
 * benchmark's "bytes per change" for each output format.
 *
 *   topicbytes --bootstrap B --prefix P
 *
 * Reads every topic "<P>.*" but the checkpoint topic from the beginning to
 * its end as of now, without keeping the records (a backlog of millions
 * fits), and prints one line:
 *
 *   records <n> key_bytes <k> value_bytes <v>
 *
 * Tombstones (null values) are not counted: they are not change events.
 */
#include "sluice/clock.h"
#include <librdkafka/rdkafka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "error: %s: %s\n", what, detail);
    exit(2);
}


int main(int argc, char **argv)
{
    const char *bootstrap = NULL, *prefix = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--bootstrap"))
            bootstrap = argv[i + 1];
        else if (!strcmp(argv[i], "--prefix"))
            prefix = argv[i + 1];
    }
    if (!bootstrap || !prefix)
        die("usage", "topicbytes --bootstrap B --prefix P");
    char e[512], group[64], dotted[512];
    snprintf(group, sizeof group, "sluice-topicbytes-%d", (int) getpid());
    snprintf(dotted, sizeof dotted, "%s.", prefix);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, e, sizeof e) ||
        rd_kafka_conf_set(conf, "group.id", group, e, sizeof e) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", e, sizeof e) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", e, sizeof e) ||
        rd_kafka_conf_set(conf, "fetch.max.bytes", "52428800", e, sizeof e))
        die("consumer config", e);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!rk)
        die("consumer", e);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 1, NULL, &md, 10000))
        die("metadata", "could not read Kafka metadata");
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    int total = 0;
    for (int t = 0; t < md->topic_cnt; t++) {
        const char *name = md->topics[t].topic;
        size_t len = strlen(name);
        if (strncmp(name, dotted, strlen(dotted)) != 0 ||
            (len >= 18 && !strcmp(name + len - 18, ".sluice.checkpoint")))
            continue;
        for (int p = 0; p < md->topics[t].partition_cnt; p++)
            rd_kafka_topic_partition_list_add(parts, name, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        total += md->topics[t].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    uint64_t records = 0, key_bytes = 0, value_bytes = 0;
    int eofs = 0;
    int64_t idle_since = clock_mono_ms();
    while (eofs < total) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            if (clock_mono_ms() - idle_since > 60000)
                die("timeout", "the topics did not reach their end within 60 s");
            continue;
        }
        idle_since = clock_mono_ms();
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eofs++;
        else if (m->err)
            die("consumer", rd_kafka_message_errstr(m));
        else if (m->payload) {
            records++;
            key_bytes += m->key_len;
            value_bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    printf("records %" PRIu64 " key_bytes %" PRIu64 " value_bytes %" PRIu64 "\n", records,
           key_bytes, value_bytes);
    return 0;
}
