/*
 * checkpoint_read.c — reading the checkpoint back (sink_read_checkpoint): a
 * read_committed consumer of the checkpoint topic's single partition, from
 * the end back to the slot's last record, with the producer's connection
 * settings. It touches no transactional id, so `sluice status` and `check`
 * use it without fencing anyone.
 */
#include "sluice/kafka/sink.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/buf.h"
#include "sluice/base/clock.h"
#include "sluice/base/log.h"
#include "sluice/kafka/access.h"

#include "sink_internal.h"

/*
 * A consumer of the checkpoint topic with the user's connection settings.
 * isolation: "read_committed" for the reader, "read_uncommitted" to learn
 * the partition's high watermark. NULL with err set (SINK_DATA or SINK_FATAL in *st).
 */
static rd_kafka_t *checkpoint_consumer(rdsink_t *s, const char *slot, const char *isolation,
                                       sink_status_t *st, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rdsink_base_conf(s->cfg, false, err, errlen);
    *st = SINK_DATA;
    if (!conf)
        return NULL;
    char group[300];
    snprintf(group, sizeof group, "sluice-checkpoint-reader-%s", slot);
    if (!rdsink_conf_set(conf, "group.id", group, err, errlen) ||
        !rdsink_conf_set(conf, "isolation.level", isolation, err, errlen) ||
        !rdsink_conf_set(conf, "enable.auto.commit", "false", err, errlen) ||
        !rdsink_conf_set(conf, "enable.auto.offset.store", "false", err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char e[512];
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof e);
    if (!c) {
        snprintf(err, errlen, "could not create the checkpoint reader: %s", e);
        rd_kafka_conf_destroy(conf);
        *st = SINK_FATAL;
        return NULL;
    }
    return c;
}

/* The consumer's position in partition 0 of topic: the next offset it reads; -1 if unknown. */
static int64_t consumer_position(rd_kafka_t *c, const char *topic)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0);
    int64_t pos = -1;
    if (rd_kafka_position(c, parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts->elems[0].offset >= 0)
        pos = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    return pos;
}

/*
 * Reads the checkpoint partition with consumer c (assigned, read_committed)
 * until its position reaches hwm, keeping in *out the last record keyed by
 * slot. SINK_OK when the end was reached; SINK_DATA for a record that does
 * not parse; a refusal for a missing Read ACL; SINK_STOPPED on a stop
 * request; SINK_RETRY at the deadline, err left as the caller set it.
 */
static sink_status_t read_to_end(rdsink_t *s, rd_kafka_t *c, const char *slot, int64_t hwm,
                                 int64_t deadline, checkpoint_t *out, char *err, size_t errlen)
{
    sink_status_t st = SINK_RETRY;
    size_t keylen = strlen(slot);
    uint64_t records = 0;
    while (clock_mono_ms() < deadline) {
        /* Short polls: a marker moves the position without returning a message. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 10);
        if (m && !m->err) {
            records++;
            if (m->key_len == keylen && memcmp(m->key, slot, keylen) == 0 && m->payload) {
                char perr[256];
                checkpoint_t cp;
                if (!checkpoint_from_json(m->payload, m->len, &cp, perr, sizeof perr)) {
                    snprintf(err, errlen,
                             "checkpoint record at offset %" PRId64 " of \"%s\" is invalid: %s",
                             m->offset, s->checkpoint_topic, perr);
                    rd_kafka_message_destroy(m);
                    st = SINK_DATA;
                    break;
                }
                checkpoint_clear(out);
                *out = cp;
            }
        } else if (m && m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
            /* No Read ACL: no retry gets past it. (A group error is not one: the
             * reader is assigned its partition and needs nothing of its group.) */
            st = rdsink_refuse(s, m->err, ACCESS_TOPIC_READ, s->checkpoint_topic, err, errlen);
            rd_kafka_message_destroy(m);
            break;
        } else if (m) {
            log_debug("checkpoint reader: %s", rd_kafka_message_errstr(m));
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (consumer_position(c, s->checkpoint_topic) >= hwm) {
            st = SINK_OK;
            break;
        }
        if (s->stop && *s->stop) {
            st = SINK_STOPPED;
            break;
        }
    }
    log_debug("checkpoint reader read %" PRIu64 " records up to offset %" PRId64, records, hwm);
    return st;
}

sink_status_t sink_read_checkpoint(sink_t *sink, const char *slot, checkpoint_t *out,
                                   int timeout_ms, char *err, size_t errlen)
{
    rdsink_t *s = rdsink_of(sink);
    memset(out, 0, sizeof *out);
    /* One deadline for the lookup, the watermark query and the read. */
    int64_t deadline = clock_mono_ms() + timeout_ms;
    rd_kafka_resp_err_t terr;
    topic_slot_t *t = rdsink_topic_lookup(s, s->checkpoint_topic, true);
    int n = rdsink_metadata_partitions(s, t->rkt, timeout_ms, &terr, err, errlen);
    if (s->refused)
        return SINK_DATA;
    if (n < 0 && terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return SINK_OK; /* no topic, no checkpoint: a fresh start */
    if (n < 0 && access_denied(terr))
        return rdsink_refuse(s, terr, ACCESS_TOPIC_READ, s->checkpoint_topic, err, errlen);
    if (n < 0) {
        snprintf(err, errlen, "could not look up checkpoint topic \"%s\": %s", s->checkpoint_topic,
                 rd_kafka_err2str(terr));
        return SINK_RETRY;
    }
    if (n != 1) {
        snprintf(err, errlen, "checkpoint topic \"%s\" has %d partitions; it must have exactly 1",
                 s->checkpoint_topic, n);
        return SINK_DATA;
    }

    /*
     * Where the partition ends now: its high watermark, the offset after the
     * last record written, committed or not. A read_committed consumer
     * reaches that position only once every transaction open at this moment
     * is decided (it cannot pass the last stable offset), and every
     * checkpoint this instance committed lies below it (init_transactions
     * settled our own transaction before this call). So the read is
     * complete when the consumer's position reaches it. The position, unlike
     * the offsets of the records delivered, steps over commit and abort
     * markers and over the records of aborted transactions: the last offset
     * of a transactional topic is a marker no consumer ever receives, and
     * waiting for EOF instead costs an empty fetch (fetch.wait.max.ms, 500 ms).
     * Not the last stable offset: with another producer's transaction open
     * on the topic (a checkpoint topic shared by two instances), it can lie
     * before our own last checkpoint.
     */
    sink_status_t st;
    int64_t lo = 0, hwm = -1;
    /* The reader first: it connects while the other handle asks for the end. */
    rd_kafka_t *c = checkpoint_consumer(s, slot, "read_committed", &st, err, errlen);
    if (!c)
        return st;
    rd_kafka_t *q = checkpoint_consumer(s, slot, "read_uncommitted", &st, err, errlen);
    if (!q) {
        rd_kafka_destroy(c);
        return st;
    }
    int64_t left = deadline - clock_mono_ms();
    terr = left < 1
               ? RD_KAFKA_RESP_ERR__TIMED_OUT
               : rd_kafka_query_watermark_offsets(q, s->checkpoint_topic, 0, &lo, &hwm, (int) left);
    rd_kafka_destroy(q);
    if (terr || hwm <= lo) {
        rd_kafka_destroy(c);
        if (!terr)
            return SINK_OK; /* an empty partition: no checkpoint */
        snprintf(err, errlen, "could not read the end offsets of checkpoint topic \"%s\": %s",
                 s->checkpoint_topic, rd_kafka_err2str(terr));
        return SINK_RETRY;
    }
    /* The partition's leader, known before the assignment: else the consumer
     * learns it only at its next periodic metadata refresh (up to 1 s). And
     * the log start offset itself, not OFFSET_BEGINNING: a logical offset is
     * resolved by an offset query that librdkafka, not knowing the leader yet,
     * puts off by its retry interval (500 ms). */
    rd_kafka_topic_t *crkt = rd_kafka_topic_new(c, s->checkpoint_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    left = deadline - clock_mono_ms();
    if (crkt && left > 0 &&
        rd_kafka_metadata(c, 0, crkt, &md, (int) left) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, s->checkpoint_topic, 0)->offset = lo;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    snprintf(err, errlen, "reading checkpoint topic \"%s\" timed out after %d ms",
             s->checkpoint_topic, timeout_ms);
    st = read_to_end(s, c, slot, hwm, deadline, out, err, errlen);
    rd_kafka_consumer_close(c);
    if (crkt)
        rd_kafka_topic_destroy(crkt);
    rd_kafka_destroy(c);
    if (st != SINK_OK)
        checkpoint_clear(out);
    return st;
}
