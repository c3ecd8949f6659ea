/*
 * checkpoint.c — the checkpoint record's JSON form (written by hand, read
 * with jansson). Reading the topic is the sink's job.
 */
#include "sluice/base/checkpoint.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/jsonstr.h"

void checkpoint_to_json(const checkpoint_t *cp, const char *slot, strbuf_t *out)
{
    strbuf_puts(out, "{\"slot\":");
    json_append_string(out, slot, strlen(slot));
    strbuf_appendf(out,
                   ",\"commit_lsn\":\"" LSN_FMT "\",\"end_lsn\":\"" LSN_FMT
                   "\",\"xid\":%u,\"commit_ts_us\":%" PRId64 ",\"seq\":%" PRIu64
                   ",\"system_id\":",
                   LSN_ARGS(cp->commit_lsn), LSN_ARGS(cp->end_lsn), cp->xid, cp->commit_ts_us,
                   cp->seq);
    json_append_string(out, cp->system_id, strlen(cp->system_id));
    if (cp->timeline)
        strbuf_appendf(out, ",\"timeline\":%u", cp->timeline);
    if (cp->snapshot) {
        strbuf_puts(out, ",\"snapshot\":");
        strbuf_puts(out, cp->snapshot);
    }
    strbuf_puts(out, ",\"sluice\":\"" SLUICE_VERSION "\"}");
}

void checkpoint_clear(checkpoint_t *cp)
{
    free(cp->snapshot);
    memset(cp, 0, sizeof *cp);
}

static bool get_lsn(json_t *root, const char *name, sluice_lsn_t *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, name);
    if (!json_is_string(v) || !lsn_parse(json_string_value(v), out)) {
        snprintf(err, errlen, "checkpoint field \"%s\" is missing or not an LSN", name);
        return false;
    }
    return true;
}

bool checkpoint_from_json(const char *data, size_t len, checkpoint_t *out, char *err,
                          size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "checkpoint is not a JSON object: %s", root ? "" : jerr.text);
        json_decref(root);
        return false;
    }
    bool ok = get_lsn(root, "commit_lsn", &out->commit_lsn, err, errlen) &&
              get_lsn(root, "end_lsn", &out->end_lsn, err, errlen);
    json_t *xid = json_object_get(root, "xid");
    json_t *seq = json_object_get(root, "seq");
    json_t *ts = json_object_get(root, "commit_ts_us");
    json_t *sys = json_object_get(root, "system_id");
    if (ok && (!json_is_integer(xid) || !json_is_integer(seq) || !json_is_integer(ts) ||
               !json_is_string(sys) || json_integer_value(seq) < 0 ||
               json_integer_value(xid) < 0 || json_integer_value(xid) > UINT32_MAX)) {
        snprintf(err, errlen, "checkpoint fields xid, seq, commit_ts_us or system_id are missing "
                              "or of the wrong type");
        ok = false;
    }
    /* PostgreSQL's system identifier is a 64-bit number (at most 20 digits): a longer one is corrupt. */
    if (ok && strlen(json_string_value(sys)) >= sizeof out->system_id) {
        snprintf(err, errlen, "checkpoint field \"system_id\" is longer than a system identifier");
        ok = false;
    }
    if (ok && out->end_lsn < out->commit_lsn) {
        snprintf(err, errlen, "checkpoint end_lsn is before its commit_lsn");
        ok = false;
    }
    if (ok) {
        out->xid = (uint32_t) json_integer_value(xid);
        out->seq = (uint64_t) json_integer_value(seq);
        out->commit_ts_us = json_integer_value(ts);
        snprintf(out->system_id, sizeof out->system_id, "%s", json_string_value(sys));
        out->present = true;
    }
    json_t *tli = json_object_get(root, "timeline");
    if (ok && tli && (!json_is_integer(tli) || json_integer_value(tli) < 1 ||
                      json_integer_value(tli) > UINT32_MAX)) {
        snprintf(err, errlen, "checkpoint field \"timeline\" is not a timeline number");
        out->present = false;
        ok = false;
    }
    if (ok && tli)
        out->timeline = (uint32_t) json_integer_value(tli);
    json_t *snap = json_object_get(root, "snapshot");
    if (ok && snap && !json_is_object(snap)) {
        snprintf(err, errlen, "checkpoint field \"snapshot\" is not an object");
        out->present = false;
        ok = false;
    }
    if (ok && snap)
        out->snapshot = json_dumps(snap, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return ok;
}
