/*
 * request.h — `sluice snapshot TABLE…`: asks the running pipeline to copy
 * tables while it streams, by writing the same "sluice.snapshot" logical
 * decoding message an operator could write by hand. The request then
 * travels through the WAL like any change, so the pipeline records it in
 * the checkpoint of the Kafka transaction holding it and carries it out
 * exactly once, across crashes (docs/design.md, "The initial snapshot", On
 * request). Before writing it the command checks every table: published,
 * and with a key under snapshot.method = incremental, so a request that
 * would be refused is refused here, with the fix.
 *
 * Owns: its one connection. Never: talks to Kafka or to the running sluice.
 */
#ifndef SLUICE_REQUEST_H
#define SLUICE_REQUEST_H

#include <stdio.h>

#include "sluice/base/config.h"

/* Requests a snapshot of tables[0..n) ("schema.table", or "table" for public); prints to out
 * what it wrote, errors to the log. Returns an exit code (common.h). */
int request_snapshot_run(const config_t *cfg, char *const *tables, int n, FILE *out);

#endif
