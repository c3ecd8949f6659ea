/*
 * capture — records raw pgoutput messages from a real PostgreSQL, for test
 * vectors.
 *
 *   capture CONNINFO SLOT PUBLICATION N [TIMEOUT_S]
 *
 * Streams from SLOT (created as a pgoutput slot if it does not exist) with
 * the same START_REPLICATION options sluice uses (protocol 1, messages on)
 * and prints the payload of each of the first N XLogData frames as one line
 * of lower-case hex on stdout, then stops. N = 0 only makes sure the slot
 * exists, so a caller can create the slot, run a workload, then capture it.
 *
 * Never confirms anything: the slot does not advance, so capturing twice
 * prints the same messages again. Diagnostics go to stderr; exit status 0
 * once N payloads were printed, 1 on any error or after TIMEOUT_S seconds
 * (default 30) without reaching N.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sluice/base/queue.h"
#include "sluice/pg/stream.h"

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_hex(const char *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) data[i];
        putchar(digits[c >> 4]);
        putchar(digits[c & 15]);
    }
    putchar('\n');
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s CONNINFO SLOT PUBLICATION N [TIMEOUT_S]\n", argv[0]);
        return 2;
    }
    const char *conninfo = argv[1], *slot = argv[2], *publication = argv[3];
    long want = strtol(argv[4], NULL, 10);
    long timeout_s = argc == 6 ? strtol(argv[5], NULL, 10) : 30;
    if (want < 0 || timeout_s <= 0) {
        fprintf(stderr, "capture: N must be >= 0 and TIMEOUT_S > 0\n");
        return 2;
    }

    char err[1024];
    stream_err_t cls;
    stream_t *s = stream_connect(conninfo, &cls, err, sizeof err);
    if (!s) {
        fprintf(stderr, "capture: %s\n", err);
        return 1;
    }
    stream_identity_t id;
    if (stream_identify(s, &id, err, sizeof err) != STREAM_OK)
        goto fail;
    fprintf(stderr, "capture: system %s, database \"%s\", server %d, WAL at " LSN_FMT "\n",
            id.system_id, id.dbname, id.server_version, LSN_ARGS(id.xlogpos));

    slot_info_t info;
    if (stream_slot_info(s, slot, &info, err, sizeof err) != STREAM_OK)
        goto fail;
    if (!info.exists) {
        sluice_lsn_t consistent;
        if (stream_create_slot(s, slot, &consistent, err, sizeof err) != STREAM_OK)
            goto fail;
        fprintf(stderr, "capture: created slot \"%s\" at " LSN_FMT "\n", slot,
                LSN_ARGS(consistent));
    }
    if (want == 0) {
        stream_close(s);
        return 0;
    }

    queue_t *q = queue_new(64 * 1024 * 1024);
    if (stream_start(s, slot, publication, 0, 0, 10000, 0, q, err, sizeof err) != STREAM_OK) {
        queue_free(q);
        goto fail;
    }
    long got = 0;
    int rc = 0;
    long long deadline = mono_ms() + timeout_s * 1000;
    while (got < want && rc == 0) {
        if (mono_ms() >= deadline) {
            fprintf(stderr, "capture: timed out after %ld of %ld payloads\n", got, want);
            rc = 1;
            break;
        }
        qitem_t *it = queue_pop_all(q, 200);
        while (it) {
            qitem_t *next = it->next;
            if (rc == 0 && got < want) {
                if (it->kind == QITEM_DATA) {
                    print_hex(it->payload, it->len);
                    fprintf(stderr, "capture: '%c' at " LSN_FMT ", %zu bytes\n",
                            it->len ? it->payload[0] : '?', LSN_ARGS(it->wal_start), it->len);
                    got++;
                } else if (it->kind == QITEM_END) {
                    fprintf(stderr, "capture: stream ended: %s\n", it->payload);
                    rc = 1;
                }
            }
            qitem_free(it);
            it = next;
        }
    }
    fflush(stdout);
    stream_stop(s);
    stream_close(s);
    queue_free(q);
    return rc;

fail:
    fprintf(stderr, "capture: %s\n", err);
    stream_close(s);
    return 1;
}
