/*
 * access.c — Kafka's refusals named as the credential or ACL to fix (access.h).
 *
 * The ACLs named here are the ones docs/operations.md (Security) lists, in
 * the same form: topics by the prefix sluice writes under (Write, Create),
 * the checkpoint topic by name (Read), the transactional id by name (Write).
 * Write implies Describe in Kafka's authorizer, so Describe is never named.
 */
#include "sluice/kafka/access.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

bool access_denied(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        return true;
    default:
        return false;
    }
}

bool access_unauthenticated(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
           err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED;
}

/* The principal sluice connects as, for the message (who) and for --allow-principal (arg). */
static void principal(const config_t *cfg, char *who, size_t wholen, char *arg, size_t arglen)
{
    const char *proto = config_kafka_get(cfg, "security.protocol");
    const char *user = config_kafka_get(cfg, "sasl.username");
    if (user && proto && strncasecmp(proto, "sasl_", 5) == 0) {
        snprintf(who, wholen, "User:%s", user);
        snprintf(arg, arglen, "User:%s", user);
    } else if (config_kafka_get(cfg, "ssl.certificate.location") ||
               config_kafka_get(cfg, "ssl.certificate.pem")) {
        snprintf(who, wholen, "sluice's principal (the one its client certificate maps to)");
        snprintf(arg, arglen, "User:<principal of the certificate>");
    } else {
        snprintf(who, wholen, "sluice's principal");
        snprintf(arg, arglen, "User:<principal>");
    }
}

/* True if topic lies under cfg's topic prefix ("<prefix>."). */
static bool under_prefix(const config_t *cfg, const char *topic)
{
    size_t n = strlen(cfg->topic_prefix);
    return strncmp(topic, cfg->topic_prefix, n) == 0 && topic[n] == '.';
}

void access_explain(const config_t *cfg, rd_kafka_resp_err_t err, access_topic_op_t op,
                    const char *topic, char *out, size_t outlen)
{
    char who[128], arg[128], what[512], acl[512];
    principal(cfg, who, sizeof who, arg, sizeof arg);
    switch (err) {
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        snprintf(what, sizeof what, "Write on transactional id \"%s\"", cfg->transactional_id);
        snprintf(acl, sizeof acl, "--operation Write --transactional-id %s",
                 cfg->transactional_id);
        break;
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        snprintf(what, sizeof what, "Describe on consumer group \"sluice-checkpoint-reader-%s\"",
                 cfg->slot);
        snprintf(acl, sizeof acl, "--operation Describe --group sluice-checkpoint-reader-%s",
                 cfg->slot);
        break;
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        snprintf(what, sizeof what, "an operation on the cluster");
        snprintf(acl, sizeof acl, "--operation IdempotentWrite --cluster");
        break;
    default: {
        const char *opname = op == ACCESS_TOPIC_CREATE ? "Create"
                             : op == ACCESS_TOPIC_READ ? "Read"
                                                       : "Write";
        if (!topic) {
            /* A transaction's partitions were refused together: the prefix covers them,
             * and the checkpoint topic if it lies outside it. */
            if (under_prefix(cfg, cfg->checkpoint_topic))
                snprintf(what, sizeof what, "%s on the topics of this transaction (\"%s.*\")",
                         opname, cfg->topic_prefix);
            else
                snprintf(what, sizeof what,
                         "%s on the topics of this transaction (\"%s.*\" and the checkpoint "
                         "topic \"%s\", which needs its own ACL)",
                         opname, cfg->topic_prefix, cfg->checkpoint_topic);
            snprintf(acl, sizeof acl, "--operation %s --topic %s. --resource-pattern-type prefixed",
                     opname, cfg->topic_prefix);
        } else if (op != ACCESS_TOPIC_READ && under_prefix(cfg, topic)) {
            snprintf(what, sizeof what, "%s on topic \"%s\"", opname, topic);
            snprintf(acl, sizeof acl, "--operation %s --topic %s. --resource-pattern-type prefixed",
                     opname, cfg->topic_prefix);
        } else {
            snprintf(what, sizeof what, "%s on topic \"%s\"", opname, topic);
            snprintf(acl, sizeof acl, "--operation %s --topic %s", opname, topic);
        }
    }
    }
    const char *bootstrap = config_kafka_get(cfg, "bootstrap.servers");
    snprintf(out, outlen,
             "Kafka denied %s %s (%s): add the ACL with kafka-acls --bootstrap-server %s "
             "--command-config <admin client settings> --add --allow-principal %s %s",
             who, what, rd_kafka_err2name(err), bootstrap ? bootstrap : "<brokers>", arg, acl);
}

void access_explain_authentication(const config_t *cfg, const char *reason, char *out,
                                   size_t outlen)
{
    const char *user = config_kafka_get(cfg, "sasl.username");
    const char *mech = config_kafka_get(cfg, "sasl.mechanism");
    if (!mech)
        mech = config_kafka_get(cfg, "sasl.mechanisms");
    bool scram = mech && strncasecmp(mech, "SCRAM-", 6) == 0;
    char hint[256] = "";
    if (scram && user)
        snprintf(hint, sizeof hint,
                 " (kafka-configs --alter --add-config '%s=[password=…]' --entity-type users "
                 "--entity-name %s)",
                 mech, user);
    snprintf(out, outlen,
             "Kafka refused sluice's credentials%s%s%s%s%s: %s: check kafka.sasl.username and "
             "kafka.sasl.password, and that the user exists on the cluster with that "
             "mechanism%s",
             user ? " for user \"" : "", user ? user : "", user ? "\"" : "",
             mech ? " with SASL mechanism " : "", mech ? mech : "", reason, hint);
}

void access_explain_tls(const config_t *cfg, const char *reason, char *out, size_t outlen)
{
    (void) cfg;
    snprintf(out, outlen,
             "the TLS handshake with Kafka failed: %s: check kafka.security.protocol, "
             "kafka.ssl.ca.location (the CA that signed the brokers' certificates) and, where "
             "the brokers require client certificates, kafka.ssl.certificate.location and "
             "kafka.ssl.key.location",
             reason);
}
