/*
 * sink_internal.h — what the librdkafka sink (sink.c) shares with its
 * checkpoint reader (checkpoint_read.c). Not a public header: the contract is
 * include/sluice/kafka/sink.h.
 */
#ifndef SLUICE_SINK_INTERNAL_H
#define SLUICE_SINK_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "sluice/base/config.h"
#include "sluice/kafka/access.h"
#include "sluice/kafka/sink.h"

typedef struct {
    char *name;
    rd_kafka_topic_t *rkt;
    int partitions; /* 0 until known */
} topic_slot_t;

typedef struct {
    const config_t *cfg;
    atomic_int *stop;
    rd_kafka_t *rk;
    topic_slot_t *topics;
    size_t topics_cap;
    size_t topics_count;
    bool txn_ready; /* init_transactions succeeded: librdkafka refuses a second call */
    uint64_t produced_since_poll;
    /* First failed delivery in the open transaction. */
    rd_kafka_resp_err_t dr_err;
    char dr_errstr[512];
    char *dr_topic;
    char *checkpoint_topic;
    /* Kafka refused the principal (an ACL or its credentials): the SINK_DATA returned last
     * is that, not data Kafka cannot take (sink_refused). */
    bool refused;
    /* An authorization error that made the open transaction abortable: once it is aborted,
     * the commit reports it as refused. */
    rd_kafka_resp_err_t denied_err;
    /* Connection-level refusals seen through the error callback since the producer was
     * made: SASL authentication failures and TLS handshake failures, the last one's text.
     * A wait for the cluster counts those that come while it waits (refusal_mark). */
    int auth_failures, tls_failures;
    char conn_errstr[512];
    /* The error callback's last text about a broker connection: said when a wait for
     * the cluster ends without an answer. */
    char last_errstr[512];
} rdsink_t;

/*
 * librdkafka 2.5 and later (KIP-467): when the broker names the records of a batch it
 * refused (INVALID_RECORD with record errors, e.g. a null key for a compacted topic),
 * only those get that error; the rest of the batch fail with _INVALID_DIFFERENT_RECORD.
 * That is a bystander, not the cause, and its reports can come first: taken as the
 * cause, the transaction would be aborted and retried for ever instead of stopping as
 * a data error (exit 9). The code, -138, is not in 2.0.2's header: spelled out here.
 */
#define SINK_ERR_INVALID_DIFFERENT_RECORD ((rd_kafka_resp_err_t) -138)

/* True if a delivery report with error `now` becomes the transaction's failure cause
 * in place of `kept` (0 if none yet): the first real one wins, a bystander gives way. */
bool sink_delivery_cause_replaces(rd_kafka_resp_err_t kept, rd_kafka_resp_err_t now);

/* The librdkafka producer behind s; a sink of another kind here is a bug. */
rdsink_t *rdsink_of(sink_t *s);

/* Sets one librdkafka property; false with err naming key and reason. */
bool rdsink_conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen);

/* librdkafka settings shared by the producer and the checkpoint reader: the
 * user's kafka.* keys (connection, security) over sluice's defaults. */
rd_kafka_conf_t *rdsink_base_conf(const config_t *cfg, bool producer, char *err, size_t errlen);

/* The topic's slot in s's table (made when create); NULL when absent. */
topic_slot_t *rdsink_topic_lookup(rdsink_t *s, const char *name, bool create);

/* Kafka refused the principal: err names the ACL (access.h); SINK_DATA, which sink_refused tells
 * apart from data Kafka cannot take. */
sink_status_t rdsink_refuse(rdsink_t *s, rd_kafka_resp_err_t code, access_topic_op_t op,
                            const char *topic, char *err, size_t errlen);

/* The topic's partition count from the cluster's metadata, waiting up to timeout_ms
 * (metadata_partitions in sink.c says how); -1 with *terr and err on failure. */
int rdsink_metadata_partitions(rdsink_t *s, rd_kafka_topic_t *rkt, int timeout_ms,
                               rd_kafka_resp_err_t *terr, char *err, size_t errlen);

#endif
