/*
 * common.h — small shared vocabulary: LSNs, exit codes, attributes.
 *
 * Every other header includes this one. It owns no state.
 */
#ifndef SLUICE_COMMON_H
#define SLUICE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLUICE_VERSION "0.1.0"

/* A WAL position. Printed PostgreSQL's way: "%X/%08X". */
typedef uint64_t sluice_lsn_t;
#define LSN_FMT "%X/%08X"
#define LSN_ARGS(lsn) ((unsigned) ((lsn) >> 32)), ((unsigned) (lsn))

/* Parses "16/B374D848"; false on anything else. */
bool lsn_parse(const char *text, sluice_lsn_t *out);

/*
 * PostgreSQL timestamps on the wire are microseconds since 2000-01-01 UTC.
 * This is the offset to the Unix epoch, in microseconds.
 */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)

/* Process exit codes; docs/operations.md documents each one (test_readme_in_sync). */
enum sluice_exit {
    EXIT_OK = 0,             /* stopped on request, everything committed is confirmed */
    EXIT_INTERNAL = 1,       /* a bug or an unexpected system error */
    EXIT_USAGE = 2,          /* bad command line */
    EXIT_CONFIG = 3,         /* bad or missing configuration */
    EXIT_PG_CONNECT = 4,     /* PostgreSQL unreachable or authentication failed */
    EXIT_PG_SETUP = 5,       /* PostgreSQL not set up: wal_level, publication, privileges */
    EXIT_SLOT_MISMATCH = 6,  /* slot and checkpoint disagree: refusing to lose or repeat data */
    EXIT_KAFKA = 7,          /* Kafka unreachable at start, or transactions unusable */
    EXIT_FENCED = 8,         /* another instance took over the transactional id */
    EXIT_DATA = 9,           /* a change Kafka cannot accept (too large) or a txn too long */
    EXIT_CHECK_FAILED = 10,  /* `sluice check`: at least one check failed */
};

#define SLUICE_UNUSED __attribute__((unused))
#define SLUICE_PRINTF(f, a) __attribute__((format(printf, f, a)))

#endif
