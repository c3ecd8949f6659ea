/*
 * snapshot_progress.c — the checkpoint's "snapshot" member as a struct and
 * as JSON (snapshot_progress.h).
 */
#include "sluice/base/snapshot_progress.h"

#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/buf.h"
#include "sluice/base/jsonstr.h"

snapshot_progress_t *snapshot_progress_new(void)
{
    snapshot_progress_t *p = xcalloc(1, sizeof *p);
    p->running = true;
    return p;
}

void snapshot_progress_free(snapshot_progress_t *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ntables; i++) {
        free(p->tables[i].name);
        snapshot_table_set_last_key(&p->tables[i], NULL, 0);
    }
    free(p->tables);
    free(p);
}

void snapshot_table_set_last_key(snapshot_table_t *t, const char *const *key, size_t n)
{
    for (size_t i = 0; i < t->nkey; i++)
        free(t->last_key[i]);
    free(t->last_key);
    t->last_key = NULL;
    t->nkey = n;
    if (!n)
        return;
    t->last_key = xcalloc(n, sizeof *t->last_key);
    for (size_t i = 0; i < n; i++)
        t->last_key[i] = xstrdup(key[i]);
}

bool snapshot_progress_export_pending(const snapshot_progress_t *p)
{
    for (size_t i = 0; i < p->ntables; i++)
        if (p->tables[i].state == SNAPSHOT_TABLE_WAITING ||
            p->tables[i].state == SNAPSHOT_TABLE_PARTIAL)
            return true;
    return false;
}

bool snapshot_progress_incremental_pending(const snapshot_progress_t *p)
{
    for (size_t i = 0; i < p->ntables; i++)
        if (p->tables[i].state == SNAPSHOT_TABLE_INCREMENTAL)
            return true;
    return false;
}

snapshot_table_t *snapshot_progress_find(snapshot_progress_t *p, const char *name)
{
    for (size_t i = 0; i < p->ntables; i++)
        if (strcmp(p->tables[i].name, name) == 0)
            return &p->tables[i];
    return NULL;
}

snapshot_table_t *snapshot_progress_add(snapshot_progress_t *p, const char *name, uint32_t oid,
                                        snapshot_table_state_t state)
{
    if (p->ntables == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 16;
        p->tables = xrealloc(p->tables, p->cap * sizeof *p->tables);
    }
    snapshot_table_t *t = &p->tables[p->ntables++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->oid = oid;
    t->state = state;
    return t;
}

static const char *state_name(snapshot_table_state_t s)
{
    switch (s) {
    case SNAPSHOT_TABLE_WAITING: return "waiting";
    case SNAPSHOT_TABLE_PARTIAL: return "partial";
    case SNAPSHOT_TABLE_DONE: return "done";
    case SNAPSHOT_TABLE_INCREMENTAL: return "incremental";
    }
    return "waiting";
}

char *snapshot_progress_to_json(const snapshot_progress_t *p)
{
    strbuf_t b = STRBUF_INIT;
    strbuf_appendf(&b, "{\"state\":\"%s\",\"epoch\":%u,\"consistent_point\":\"" LSN_FMT "\",\"tables\":[",
                   p->running ? "running" : "done", p->epoch, LSN_ARGS(p->consistent_point));
    for (size_t i = 0; i < p->ntables; i++) {
        const snapshot_table_t *t = &p->tables[i];
        if (i)
            strbuf_putc(&b, ',');
        strbuf_puts(&b, "{\"table\":");
        json_append_string(&b, t->name, strlen(t->name));
        strbuf_appendf(&b, ",\"oid\":%u,\"state\":\"%s\"", t->oid, state_name(t->state));
        if (t->state == SNAPSHOT_TABLE_DONE)
            strbuf_appendf(&b, ",\"lsn\":\"" LSN_FMT "\",\"rows\":%" PRIu64, LSN_ARGS(t->lsn),
                           t->rows);
        if (t->state == SNAPSHOT_TABLE_INCREMENTAL) {
            strbuf_appendf(&b, ",\"rows\":%" PRIu64 ",\"chunks\":%" PRIu64, t->rows, t->chunks);
            if (t->nkey) {
                strbuf_puts(&b, ",\"last_key\":[");
                for (size_t k = 0; k < t->nkey; k++) {
                    if (k)
                        strbuf_putc(&b, ',');
                    json_append_string(&b, t->last_key[k], strlen(t->last_key[k]));
                }
                strbuf_putc(&b, ']');
            }
        }
        strbuf_putc(&b, '}');
    }
    strbuf_puts(&b, "]}");
    return b.data;
}

/* The members of an incremental table: rows, chunks and last_key (absent: no chunk yet). */
static bool parse_incremental(json_t *t, snapshot_table_t *e)
{
    json_t *rows = json_object_get(t, "rows");
    json_t *chunks = json_object_get(t, "chunks");
    json_t *key = json_object_get(t, "last_key");
    if (!json_is_integer(rows) || json_integer_value(rows) < 0 || !json_is_integer(chunks) ||
        json_integer_value(chunks) < 0 || (key && !json_is_array(key)) ||
        (key && json_array_size(key) == 0) || json_array_size(key) > 32)
        return false;
    e->rows = (uint64_t) json_integer_value(rows);
    e->chunks = (uint64_t) json_integer_value(chunks);
    size_t n = json_array_size(key);
    const char *vals[32];
    for (size_t k = 0; k < n; k++) {
        vals[k] = json_string_value(json_array_get(key, k));
        if (!vals[k])
            return false;
    }
    snapshot_table_set_last_key(e, vals, n);
    return true;
}

snapshot_progress_t *snapshot_progress_parse(const char *text, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        snprintf(err, errlen, "checkpoint snapshot progress is not a JSON object%s%s",
                 root ? "" : ": ", root ? "" : jerr.text);
        json_decref(root);
        return NULL;
    }
    snapshot_progress_t *p = snapshot_progress_new();
    const char *state = json_string_value(json_object_get(root, "state"));
    json_t *epoch = json_object_get(root, "epoch");
    const char *cpt = json_string_value(json_object_get(root, "consistent_point"));
    json_t *tables = json_object_get(root, "tables");
    bool ok = state && (!strcmp(state, "running") || !strcmp(state, "done")) &&
              json_is_integer(epoch) && json_integer_value(epoch) >= 0 &&
              json_integer_value(epoch) <= UINT32_MAX && cpt &&
              lsn_parse(cpt, &p->consistent_point) && (!tables || json_is_array(tables));
    if (ok) {
        p->running = !strcmp(state, "running");
        p->epoch = (uint32_t) json_integer_value(epoch);
        size_t i;
        json_t *t;
        json_array_foreach(tables, i, t)
        {
            const char *name = json_string_value(json_object_get(t, "table"));
            const char *ts = json_string_value(json_object_get(t, "state"));
            json_t *oid = json_object_get(t, "oid");
            if (!name || !ts || !json_is_integer(oid) || json_integer_value(oid) < 0 ||
                json_integer_value(oid) > UINT32_MAX) {
                ok = false;
                break;
            }
            snapshot_table_state_t st = !strcmp(ts, "done")      ? SNAPSHOT_TABLE_DONE
                                        : !strcmp(ts, "partial") ? SNAPSHOT_TABLE_PARTIAL
                                        : !strcmp(ts, "waiting") ? SNAPSHOT_TABLE_WAITING
                                        : !strcmp(ts, "incremental") ? SNAPSHOT_TABLE_INCREMENTAL
                                                                 : (snapshot_table_state_t) 0;
            if (!st) {
                ok = false;
                break;
            }
            snapshot_table_t *e =
                snapshot_progress_add(p, name, (uint32_t) json_integer_value(oid), st);
            if (st == SNAPSHOT_TABLE_DONE) {
                const char *lsn = json_string_value(json_object_get(t, "lsn"));
                json_t *rows = json_object_get(t, "rows");
                if (!lsn || !lsn_parse(lsn, &e->lsn) || !json_is_integer(rows) ||
                    json_integer_value(rows) < 0) {
                    ok = false;
                    break;
                }
                e->rows = (uint64_t) json_integer_value(rows);
            }
            if (st == SNAPSHOT_TABLE_INCREMENTAL && !parse_incremental(t, e)) {
                ok = false;
                break;
            }
        }
    }
    json_decref(root);
    if (!ok) {
        snprintf(err, errlen, "checkpoint snapshot progress is malformed: %.200s", text);
        snapshot_progress_free(p);
        return NULL;
    }
    return p;
}

void snapshot_progress_prune(snapshot_progress_t *p, sluice_lsn_t resume_lsn)
{
    if (p->running)
        return;
    size_t n = 0;
    for (size_t i = 0; i < p->ntables; i++) {
        if (p->tables[i].state == SNAPSHOT_TABLE_DONE && p->tables[i].lsn <= resume_lsn) {
            free(p->tables[i].name);
            snapshot_table_set_last_key(&p->tables[i], NULL, 0);
        }
        else
            p->tables[n++] = p->tables[i];
    }
    p->ntables = n;
}

/*
 * Whether s[0..n) is UTF-8 as RFC 3629 has it (no NUL, overlong form,
 * surrogate or code point past U+10FFFF): what a JSON reader accepts back.
 */
static bool utf8_is_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *) s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t more;
        uint32_t cp, min;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            more = 1, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            more = 2, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            more = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (n - i - 1 < more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += more + 1;
    }
    return true;
}

bool snapshot_request_next_name(const char *tables, size_t len, size_t *pos, char *name,
                                size_t namelen, char *err, size_t errlen)
{
    size_t i = *pos;
    err[0] = '\0';
    while (i < len && (tables[i] == ',' || isspace((unsigned char) tables[i])))
        i++;
    size_t start = i;
    while (i < len && tables[i] != ',' && !isspace((unsigned char) tables[i]))
        i++;
    *pos = i;
    if (i == start)
        return false;
    int n = (int) (i - start);
    bool qualified = memchr(tables + start, '.', i - start) != NULL;
    /* Written into the checkpoint as JSON: a name that could not be read back is refused. */
    if (!utf8_is_valid(tables + start, i - start) ||
        i - start + (qualified ? 0 : strlen("public.")) >= namelen) {
        snprintf(err, errlen, "the \"" SNAPSHOT_REQUEST_PREFIX "\" message names a table "
                              "that is not UTF-8 text or longer than %zu bytes",
                 namelen - 1);
        return false;
    }
    if (qualified)
        snprintf(name, namelen, "%.*s", n, tables + start);
    else
        snprintf(name, namelen, "public.%.*s", n, tables + start);
    return true;
}

/* Makes t a table to copy from its start, in state `state`. */
static void table_restart(snapshot_table_t *t, snapshot_table_state_t state)
{
    t->state = state;
    t->lsn = 0;
    t->rows = 0;
    t->chunks = 0;
    snapshot_table_set_last_key(t, NULL, 0);
}

char *snapshot_progress_request(const char *current, const char *tables, size_t len, char *err,
                                size_t errlen)
{
    snapshot_progress_t *p = current ? snapshot_progress_parse(current, err, errlen)
                                     : snapshot_progress_new();
    if (!p)
        return NULL;
    int named = 0;
    size_t pos = 0;
    char name[300];
    while (snapshot_request_next_name(tables, len, &pos, name, sizeof name, err, errlen)) {
        snapshot_table_t *t = snapshot_progress_find(p, name);
        if (!t)
            t = snapshot_progress_add(p, name, 0, SNAPSHOT_TABLE_PARTIAL);
        table_restart(t, SNAPSHOT_TABLE_PARTIAL);
        named++;
    }
    if (err[0]) {
        snapshot_progress_free(p);
        return NULL;
    }
    if (!named) {
        snprintf(err, errlen, "the \"" SNAPSHOT_REQUEST_PREFIX "\" message names no table "
                              "(expected \"schema.table[,schema.table…]\")");
        snapshot_progress_free(p);
        return NULL;
    }
    p->running = true;
    char *json = snapshot_progress_to_json(p);
    snapshot_progress_free(p);
    return json;
}

bool snapshot_progress_request_incremental(snapshot_progress_t *p, const char *name, uint32_t oid)
{
    snapshot_table_t *t = snapshot_progress_find(p, name);
    if (t && t->state == SNAPSHOT_TABLE_INCREMENTAL)
        return false; /* its copy is under way and brings every row anyway */
    if (!t)
        t = snapshot_progress_add(p, name, oid, SNAPSHOT_TABLE_INCREMENTAL);
    t->oid = oid;
    table_restart(t, SNAPSHOT_TABLE_INCREMENTAL);
    p->running = true;
    return true;
}

void snapshot_progress_describe_incremental(const snapshot_progress_t *p, strbuf_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < p->ntables; i++) {
        const snapshot_table_t *t = &p->tables[i];
        if (t->state != SNAPSHOT_TABLE_INCREMENTAL)
            continue;
        strbuf_appendf(out, "%s\"%s\" ", n++ ? ", " : "", t->name);
        if (t->nkey)
            strbuf_appendf(out, "after %" PRIu64 " chunk%s (%" PRIu64 " rows)", t->chunks,
                           t->chunks == 1 ? "" : "s", t->rows);
        else
            strbuf_puts(out, "from its start");
    }
}
