/*
 * lease.h — the standby lease of a replication slot: which of several
 * sluice instances in standby mode may stream from it (docs/design.md,
 * "Hot standby").
 *
 * The lease is a PostgreSQL session-level advisory lock, keyed by the slot
 * name, held on a plain connection of its own. Its holder, the active
 * instance, renews it by running a query once per interval on a heartbeat
 * thread, so a standby can tell a live holder (its backend ran a query
 * moments ago) from a frozen or cut-off one (idle for longer than the
 * takeover timeout) by the server's clock alone. PostgreSQL frees the lock
 * when the holder's session ends: the process exited, its connection broke,
 * or a standby ended the backend of a holder that stopped renewing.
 *
 * The connection names itself in pg_stat_activity.application_name:
 * "sluice standby <slot>" while waiting, "sluice active <slot>" once it holds
 * the lease (truncated to 63 bytes), which is how `sluice status` finds the
 * instances of a slot.
 *
 * The lease orders the instances; it does not make streaming safe by
 * itself: the new holder fences the previous producer (init_transactions)
 * before it streams, which is what keeps a returning old holder from ever
 * writing.
 *
 * Owns: its connection and heartbeat thread. Never: fences, streams, logs,
 * or decides to take over (the supervisor does).
 */
#ifndef SLUICE_LEASE_H
#define SLUICE_LEASE_H

#include <stdint.h>

#include "sluice/base/common.h"
#include "sluice/pg/stream.h"

typedef struct lease lease_t;

/* One look at a slot and its lease, from a single query. */
typedef struct {
    bool slot_exists;
    int slot_pid;           /* the walsender streaming from the slot; 0 if none */
    int holder_pid;         /* the backend holding the lease; 0 if none */
    int64_t holder_idle_ms; /* since the holder's last query (server clock); -1: not visible */
    char holder_client[64]; /* its client address, "local" for a Unix socket */
    int standbys;           /* connections of other instances waiting as standbys */
    char standby_clients[256]; /* their client addresses, oldest first, ", "-separated */
} lease_view_t;

/*
 * Opens a plain connection for the lease of slot (the user's conninfo):
 * with standby, one of an instance waiting for the lease (named "sluice
 * standby <slot>", counted in lease_view_t.standbys), else an observer's
 * (`sluice status`). NULL on failure, with *cls and err set (never the password).
 */
lease_t *lease_connect(const char *conninfo, const char *slot, bool standby, stream_err_t *cls,
                       char *err, size_t errlen);

/* Stops the heartbeat, closes the connection (which frees the lease if held). NULL is fine. */
void lease_close(lease_t *l);

/* Looks at the slot and its lease. Not while the heartbeat runs (one connection, one thread). */
stream_err_t lease_look(lease_t *l, lease_view_t *out, char *err, size_t errlen);

/*
 * Takes the lease if nobody holds it (pg_try_advisory_lock); *acquired says
 * whether it did. Once acquired, the connection is renamed "sluice active
 * <slot>".
 */
stream_err_t lease_try_acquire(lease_t *l, bool *acquired, char *err, size_t errlen);

/* Ends backend pid (pg_terminate_backend: allowed for a backend of the same role). */
stream_err_t lease_terminate(lease_t *l, int pid, char *err, size_t errlen);

/*
 * Starts renewing the acquired lease: a thread runs a query every
 * interval_ms. If the connection fails, the thread ends and lease_held
 * turns false (PostgreSQL has freed the lock with the session).
 */
void lease_heartbeat_start(lease_t *l, int interval_ms);

/*
 * Renews the acquired lease now, on the caller's thread (serialised with the
 * heartbeat): true if this instance still holds it. Ask before acting as its
 * holder (ending another backend), since the heartbeat notices a lost
 * session only at its next renewal.
 */
bool lease_renew(lease_t *l);

/* True while the lease is acquired and no renewal has failed. */
bool lease_held(const lease_t *l);

/* The server pid of the lease's connection. */
int lease_backend_pid(const lease_t *l);

#endif
