/*
 * relcache.c — open-addressing hash of relation entries by OID, plus a
 * smaller one of type names. Publications hold tens to thousands of tables;
 * lookups happen once per change, so the table stays at most half full.
 */
#include "sluice/pg/relcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/buf.h"

typedef struct {
    uint32_t oid;
    char *name;
} type_slot_t;

struct relcache {
    char *topic_prefix;
    relcache_entry_t **slots;
    size_t cap; /* power of two */
    size_t count;
    type_slot_t *types;
    size_t types_cap;
    size_t types_count;
};

static size_t hash_oid(uint32_t oid, size_t cap)
{
    /* Fibonacci hashing, then fold the high bits down: OIDs sharing their low
     * bits (every 65536th) must not collide. */
    uint32_t h = oid * 2654435761u;
    h ^= h >> 15;
    return h & (cap - 1);
}

char *relcache_topic_name(const char *prefix, const char *schema, const char *table)
{
    strbuf_t t = STRBUF_INIT;
    strbuf_appendf(&t, "%s.%s", prefix, schema);
    if (table)
        strbuf_appendf(&t, ".%s", table);
    return t.data;
}

relcache_t *relcache_new(const char *topic_prefix)
{
    relcache_t *c = xcalloc(1, sizeof *c);
    c->topic_prefix = xstrdup(topic_prefix);
    c->cap = 64;
    c->slots = xcalloc(c->cap, sizeof *c->slots);
    c->types_cap = 16;
    c->types = xcalloc(c->types_cap, sizeof *c->types);
    return c;
}

static void entry_free(relcache_entry_t *e)
{
    if (!e)
        return;
    for (uint16_t i = 0; i < e->ncols; i++) {
        free(e->columns[i].name);
        free(e->columns[i].default_text);
    }
    free(e->columns);
    free(e->key_index);
    free(e->kafka_key_index);
    free(e->key_schema);
    free(e->value_schema);
    free(e->nspname);
    free(e->relname);
    free(e->topic);
    free(e);
}

void relcache_clear(relcache_t *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        entry_free(c->slots[i]);
        c->slots[i] = NULL;
    }
    c->count = 0;
    for (size_t i = 0; i < c->types_cap; i++) {
        free(c->types[i].name);
        c->types[i].name = NULL;
        c->types[i].oid = 0;
    }
    c->types_count = 0;
}

void relcache_free(relcache_t *c)
{
    if (!c)
        return;
    relcache_clear(c);
    free(c->slots);
    free(c->types);
    free(c->topic_prefix);
    free(c);
}

static size_t find_slot(relcache_entry_t **slots, size_t cap, uint32_t oid)
{
    size_t i = hash_oid(oid, cap);
    while (slots[i] && slots[i]->oid != oid)
        i = (i + 1) & (cap - 1);
    return i;
}

static void grow(relcache_t *c)
{
    size_t ncap = c->cap * 2;
    relcache_entry_t **n = xcalloc(ncap, sizeof *n);
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i])
            n[find_slot(n, ncap, c->slots[i]->oid)] = c->slots[i];
    free(c->slots);
    c->slots = n;
    c->cap = ncap;
}

relcache_entry_t *relcache_put(relcache_t *c, const pgo_msg_t *msg)
{
    if (2 * (c->count + 1) > c->cap)
        grow(c);
    relcache_entry_t *e = xcalloc(1, sizeof *e);
    e->oid = msg->relation.oid;
    e->nspname = xstrdup(msg->relation.nspname);
    e->relname = xstrdup(msg->relation.relname);
    e->replident = msg->relation.replident;
    e->ncols = msg->relation.ncols;
    e->columns = xcalloc(e->ncols, sizeof *e->columns);
    e->key_index = xcalloc(e->ncols, sizeof *e->key_index);
    for (uint16_t i = 0; i < e->ncols; i++) {
        const pgo_column_t *src = &msg->relation.columns[i];
        e->columns[i].name = xstrdup(src->name);
        e->columns[i].type_oid = src->type_oid;
        e->columns[i].typmod = src->typmod;
        e->columns[i].is_key = src->is_key;
        if (src->is_key)
            e->key_index[e->nkeys++] = i;
    }
    e->kafka_key_index = xcalloc(e->ncols ? e->ncols : 1, sizeof *e->kafka_key_index);
    if (e->replident == 'd' || e->replident == 'i')
        relcache_set_kafka_key(e, e->key_index, e->nkeys);
    e->topic = relcache_topic_name(c->topic_prefix, e->nspname, e->relname);

    size_t i = find_slot(c->slots, c->cap, e->oid);
    if (c->slots[i]) {
        e->version = c->slots[i]->version + 1;
        entry_free(c->slots[i]);
    } else {
        c->count++;
    }
    c->slots[i] = e;
    return e;
}

void relcache_set_kafka_key(relcache_entry_t *e, const uint16_t *positions, uint16_t n)
{
    e->nkafka_keys = 0;
    for (uint16_t k = 0; k < n && k < e->ncols; k++)
        if (positions[k] < e->ncols)
            e->kafka_key_index[e->nkafka_keys++] = positions[k];
    free(e->key_schema);
    e->key_schema = NULL;
}

bool relcache_set_kafka_key_names(relcache_entry_t *e, char *const *names, int n)
{
    uint16_t *pos = xcalloc(e->ncols ? e->ncols : 1, sizeof *pos);
    uint16_t npos = 0;
    for (int k = 0; k < n && npos < e->ncols; k++)
        for (uint16_t i = 0; i < e->ncols; i++)
            if (strcmp(e->columns[i].name, names[k]) == 0) {
                pos[npos++] = i;
                break;
            }
    bool usable = n > 0 && npos == n;
    relcache_set_kafka_key(e, pos, usable ? npos : 0);
    free(pos);
    return usable;
}

const relcache_entry_t *relcache_get(const relcache_t *c, uint32_t oid)
{
    return c->slots[find_slot(c->slots, c->cap, oid)];
}

void relcache_put_type(relcache_t *c, const pgo_msg_t *msg)
{
    if (2 * (c->types_count + 1) > c->types_cap) {
        size_t ncap = c->types_cap * 2;
        type_slot_t *n = xcalloc(ncap, sizeof *n);
        for (size_t i = 0; i < c->types_cap; i++) {
            if (!c->types[i].name)
                continue;
            size_t j = hash_oid(c->types[i].oid, ncap);
            while (n[j].name)
                j = (j + 1) & (ncap - 1);
            n[j] = c->types[i];
        }
        free(c->types);
        c->types = n;
        c->types_cap = ncap;
    }
    size_t i = hash_oid(msg->type.oid, c->types_cap);
    while (c->types[i].name && c->types[i].oid != msg->type.oid)
        i = (i + 1) & (c->types_cap - 1);
    if (c->types[i].name)
        free(c->types[i].name);
    else
        c->types_count++;
    strbuf_t name = STRBUF_INIT;
    strbuf_appendf(&name, "%s.%s", msg->type.nspname, msg->type.typname);
    c->types[i].oid = msg->type.oid;
    c->types[i].name = name.data;
}

const char *relcache_type_name(const relcache_t *c, uint32_t oid)
{
    size_t i = hash_oid(oid, c->types_cap);
    while (c->types[i].name) {
        if (c->types[i].oid == oid)
            return c->types[i].name;
        i = (i + 1) & (c->types_cap - 1);
    }
    return NULL;
}
