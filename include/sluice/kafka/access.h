/*
 * access.h — what Kafka refused sluice, said as the credential or the ACL to
 * fix.
 *
 * librdkafka reports a refusal as an error code (TOPIC_AUTHORIZATION_FAILED,
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED,
 * CLUSTER_AUTHORIZATION_FAILED, a SASL authentication failure), which names
 * neither the operation nor the resource. The caller knows what it was doing
 * (looking a topic up, creating it, writing to it, reading the checkpoint,
 * initializing transactions), so together they name the one ACL that is
 * missing, for the principal sluice connects as, in the form of the
 * kafka-acls command that adds it (docs/operations.md, Security, lists them
 * all).
 *
 * Owns nothing; pure functions of the configuration and the error.
 */
#ifndef SLUICE_KAFKA_ACCESS_H
#define SLUICE_KAFKA_ACCESS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "sluice/base/config.h"

/* What sluice did on a topic when Kafka said TOPIC_AUTHORIZATION_FAILED. */
typedef enum {
    ACCESS_TOPIC_WRITE,  /* produce, add it to a transaction, look it up (Write implies Describe) */
    ACCESS_TOPIC_CREATE, /* create it */
    ACCESS_TOPIC_READ,   /* read it (the checkpoint topic) */
} access_topic_op_t;

/* True if err says Kafka refused the principal an operation (an *_AUTHORIZATION_FAILED). */
bool access_denied(rd_kafka_resp_err_t err);

/* True if err says Kafka refused the connection's credentials (SASL authentication). */
bool access_unauthenticated(rd_kafka_resp_err_t err);

/*
 * Writes into out what was refused and the ACL that allows it, e.g.
 *   Kafka denied User:sluice Write on topic "shop.public.orders"
 *   (TOPIC_AUTHORIZATION_FAILED): add the ACL with kafka-acls --bootstrap-server … --add
 *   --allow-principal User:sluice --operation Write --topic shop. --resource-pattern-type prefixed
 * err is an access_denied code; op says what was done for a topic error; topic names it
 * (NULL: a topic of the open transaction). The transactional id is cfg's.
 */
void access_explain(const config_t *cfg, rd_kafka_resp_err_t err, access_topic_op_t op,
                    const char *topic, char *out, size_t outlen);

/*
 * Writes into out why the connection's credentials were refused, with what
 * librdkafka said (reason), and which settings to check.
 */
void access_explain_authentication(const config_t *cfg, const char *reason, char *out,
                                   size_t outlen);

/*
 * Writes into out that the TLS handshake with the brokers failed, with
 * librdkafka's reason, and which settings to check.
 */
void access_explain_tls(const config_t *cfg, const char *reason, char *out, size_t outlen);

#endif
