/*
 * pbjson.h — a Protobuf consumer for the tests: decodes sluice's Protobuf
 * records (src/encode/sluice.proto, with protobuf-c) and writes the JSON text
 * that format = json writes for the same event, byte for byte. The golden
 * tests and the round trip then serve both formats: what a Protobuf consumer
 * decodes must be exactly what the JSON consumer reads, value for value.
 *
 * Every value is rebuilt from its typed form, never from a text copy: a
 * real comes back in PostgreSQL's shortest-exact notation from the float
 * that was sent, a date from its day count, bytea from its bytes.
 *
 * Header-only (static functions), like kread.h; needs libsluice for the
 * JSON string writers (json_append_string, json_append_base64).
 */
#ifndef SLUICE_TESTS_PBJSON_H
#define SLUICE_TESTS_PBJSON_H

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.pb-c.h"
#include "sluice/base/buf.h"
#include "sluice/encode/encode.h"

/* Which messages a record holds follows from its topic (sluice.proto). */
typedef enum { PBJ_TABLE, PBJ_MESSAGE, PBJ_TRANSACTION } pbj_topic_t;

typedef struct {
    bool numeric_as_number; /* numeric.json.number: decimals as JSON numbers */
    /* Column.default_value, which JSON has only in Connect schemas: written as
     * "after_defaults":{"column":default,…} after "after" (no JSON twin). */
    bool show_defaults;
} pbj_options_t;

static pbj_topic_t pbj_topic_kind(const char *topic, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(topic, prefix, pl) == 0 && topic[pl] == '.') {
        if (!strcmp(topic + pl + 1, "message"))
            return PBJ_MESSAGE;
        if (!strcmp(topic + pl + 1, "transaction"))
            return PBJ_TRANSACTION;
    }
    return PBJ_TABLE;
}

static void pbj_string(strbuf_t *out, const char *s)
{
    json_append_string(out, s ? s : "", s ? strlen(s) : 0);
}

static void pbj_i64(strbuf_t *out, int64_t v)
{
    strbuf_appendf(out, "%" PRId64, v);
}

static void pbj_u64(strbuf_t *out, uint64_t v)
{
    strbuf_appendf(out, "%" PRIu64, v);
}

/*
 * A finite float or double as PostgreSQL writes it with extra_float_digits
 * >= 1 (Ryu, src/common/d2s.c and f2s.c): the shortest digits that read
 * back to the same value; fixed notation for decimal exponents -4 up to 14
 * (double) or 5 (real), otherwise "d.ddde+XX" with at least two exponent
 * digits.
 */
static void pbj_float_text(strbuf_t *out, double v, bool single)
{
    char buf[64];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (single ? strtof(buf, NULL) == (float) v : strtod(buf, NULL) == v)
            break;
    }
    /* buf is "[-]d[.ddd]e±XX": split it into sign, digits and exponent. */
    const char *p = buf;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[32];
    size_t n = 0;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    int exp = atoi(p + 1);
    if (neg)
        strbuf_putc(out, '-');
    if (exp >= -4 && exp < (single ? 6 : 15)) {
        if (exp < 0) {
            strbuf_puts(out, "0.");
            for (int z = 0; z < -exp - 1; z++)
                strbuf_putc(out, '0');
            strbuf_append(out, digits, n);
        } else {
            size_t ip = (size_t) exp + 1;
            strbuf_append(out, digits, n < ip ? n : ip);
            for (size_t z = n; z < ip; z++)
                strbuf_putc(out, '0');
            if (n > ip) {
                strbuf_putc(out, '.');
                strbuf_append(out, digits + ip, n - ip);
            }
        }
        return;
    }
    strbuf_putc(out, digits[0]);
    if (n > 1) {
        strbuf_putc(out, '.');
        strbuf_append(out, digits + 1, n - 1);
    }
    strbuf_appendf(out, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
}

static void pbj_float(strbuf_t *out, double v, bool single)
{
    if (v == 0 && signbit(v))
        strbuf_puts(out, "-0.0"); /* as json.c: "-0" would read back as the integer 0 */
    else if (isnan(v))
        strbuf_puts(out, "\"NaN\"");
    else if (isinf(v))
        strbuf_puts(out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        pbj_float_text(out, v, single);
}

/* True for text that JSON accepts as a number (numeric.json.number writes those bare). */
static bool pbj_is_number(const char *s)
{
    size_t i = 0, len = strlen(s);
    if (i < len && s[i] == '-')
        i++;
    if (i == len || s[i] < '0' || s[i] > '9')
        return false;
    if (s[i] == '0' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
        return false;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    return i == len;
}

static bool pbj_columns(strbuf_t *out, size_t n, Sluice__Column *const *cols,
                        const pbj_options_t *o);

static bool pbj_value(strbuf_t *out, const Sluice__Value *v, const pbj_options_t *o)
{
    if (!v)
        return false;
    switch (v->kind_case) {
    case SLUICE__VALUE__KIND_NULL_VALUE: strbuf_puts(out, "null"); return true;
    case SLUICE__VALUE__KIND_BOOL_VALUE: strbuf_puts(out, v->bool_value ? "true" : "false"); return true;
    case SLUICE__VALUE__KIND_INT_VALUE: pbj_i64(out, v->int_value); return true;
    case SLUICE__VALUE__KIND_FLOAT_VALUE: pbj_float(out, v->float_value, true); return true;
    case SLUICE__VALUE__KIND_DOUBLE_VALUE: pbj_float(out, v->double_value, false); return true;
    case SLUICE__VALUE__KIND_DECIMAL_VALUE:
        if (o && o->numeric_as_number && pbj_is_number(v->decimal_value))
            strbuf_puts(out, v->decimal_value);
        else
            pbj_string(out, v->decimal_value);
        return true;
    case SLUICE__VALUE__KIND_TEXT_VALUE: pbj_string(out, v->text_value); return true;
    case SLUICE__VALUE__KIND_BYTES_VALUE:
        json_append_base64(out, v->bytes_value.data, v->bytes_value.len);
        return true;
    case SLUICE__VALUE__KIND_DATE_DAYS: pbj_i64(out, v->date_days); return true;
    case SLUICE__VALUE__KIND_TIME_MICROS: pbj_i64(out, v->time_micros); return true;
    case SLUICE__VALUE__KIND_TIMESTAMP_MICROS: pbj_i64(out, v->timestamp_micros); return true;
    case SLUICE__VALUE__KIND_INTERVAL_MICROS: pbj_i64(out, v->interval_micros); return true;
    case SLUICE__VALUE__KIND_SCALED_DECIMAL: {
        const Sluice__ScaledDecimal *d = v->scaled_decimal;
        if (d->variable_scale)
            strbuf_appendf(out, "{\"scale\":%d,\"value\":", (int) d->scale);
        json_append_base64(out, d->unscaled.data, d->unscaled.len);
        if (d->variable_scale)
            strbuf_putc(out, '}');
        return true;
    }
    case SLUICE__VALUE__KIND_ARRAY_VALUE:
        strbuf_putc(out, '[');
        for (size_t i = 0; i < v->array_value->n_elements; i++) {
            if (i)
                strbuf_putc(out, ',');
            if (!pbj_value(out, v->array_value->elements[i], o))
                return false;
        }
        strbuf_putc(out, ']');
        return true;
    case SLUICE__VALUE__KIND_COMPOSITE_VALUE:
        return pbj_columns(out, v->composite_value->n_fields, v->composite_value->fields, o);
    case SLUICE__VALUE__KIND_UNAVAILABLE: {
        const char *ph = v->unavailable->placeholder;
        if (v->unavailable->binary)
            json_append_base64(out, (const uint8_t *) ph, strlen(ph));
        else
            pbj_string(out, ph);
        return true;
    }
    default: return false; /* not set, or a case this consumer does not know */
    }
}

/* {"name":value,...} */
static bool pbj_columns(strbuf_t *out, size_t n, Sluice__Column *const *cols,
                        const pbj_options_t *o)
{
    strbuf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(out, ',');
        pbj_string(out, cols[i]->name);
        strbuf_putc(out, ':');
        if (!pbj_value(out, cols[i]->value, o))
            return false;
    }
    strbuf_putc(out, '}');
    return true;
}

static bool pbj_row(strbuf_t *out, const Sluice__Row *row, const pbj_options_t *o)
{
    if (!row) {
        strbuf_puts(out, "null");
        return true;
    }
    return pbj_columns(out, row->n_columns, row->columns, o);
}

static const char pbj_op_letters[] = {'?', 'c', 'u', 'd', 't', 'm', 'r'};

static bool pbj_change_event(strbuf_t *out, const Sluice__ChangeEvent *ev, const pbj_options_t *o)
{
    const Sluice__Source *s = ev->source;
    if (!s || ev->op <= SLUICE__OP__OP_UNSPECIFIED || ev->op > SLUICE__OP__OP_READ)
        return false;
    strbuf_puts(out, "{\"before\":");
    if (!pbj_row(out, ev->before, o))
        return false;
    strbuf_puts(out, ",\"after\":");
    if (!pbj_row(out, ev->after, o))
        return false;
    if (o && o->show_defaults && ev->after) {
        strbuf_puts(out, ",\"after_defaults\":{");
        for (size_t i = 0, n = 0; i < ev->after->n_columns; i++) {
            const Sluice__Column *c = ev->after->columns[i];
            if (!c->default_value)
                continue;
            if (n++)
                strbuf_putc(out, ',');
            pbj_string(out, c->name);
            strbuf_putc(out, ':');
            if (!pbj_value(out, c->default_value, o))
                return false;
        }
        strbuf_putc(out, '}');
    }
    strbuf_puts(out, ",\"source\":{\"version\":");
    pbj_string(out, s->version);
    strbuf_puts(out, ",\"connector\":");
    pbj_string(out, s->connector);
    strbuf_puts(out, ",\"name\":");
    pbj_string(out, s->name);
    strbuf_puts(out, ",\"ts_ms\":");
    pbj_i64(out, s->ts_ms);
    strbuf_puts(out, ",\"snapshot\":");
    pbj_string(out, s->snapshot);
    strbuf_puts(out, ",\"db\":");
    pbj_string(out, s->db);
    strbuf_appendf(out, ",\"sequence\":\"[\\\"%" PRIu64 "\\\",\\\"%" PRIu64 "\\\"]\"", s->commit_lsn,
                   s->lsn);
    strbuf_puts(out, ",\"ts_us\":");
    pbj_i64(out, s->ts_us);
    strbuf_puts(out, ",\"ts_ns\":");
    pbj_i64(out, s->ts_ns);
    strbuf_puts(out, ",\"schema\":");
    pbj_string(out, s->schema);
    strbuf_puts(out, ",\"table\":");
    pbj_string(out, s->table);
    strbuf_appendf(out, ",\"txId\":%" PRIu32 ",\"lsn\":%" PRIu64 ",\"xmin\":null}", s->tx_id,
                   s->lsn);
    if (ev->transaction) {
        strbuf_puts(out, ",\"transaction\":{\"id\":");
        pbj_string(out, ev->transaction->id);
        strbuf_appendf(out, ",\"total_order\":%" PRIu64 ",\"data_collection_order\":%" PRIu64 "}",
                       ev->transaction->total_order, ev->transaction->data_collection_order);
    } else {
        strbuf_puts(out, ",\"transaction\":null");
    }
    if (ev->message) {
        strbuf_puts(out, ",\"message\":{\"prefix\":");
        pbj_string(out, ev->message->prefix);
        strbuf_puts(out, ",\"content\":");
        json_append_base64(out, ev->message->content.data, ev->message->content.len);
        strbuf_appendf(out, ",\"transactional\":%s}", ev->message->transactional ? "true" : "false");
    }
    strbuf_appendf(out, ",\"op\":\"%c\",\"ts_ms\":", pbj_op_letters[ev->op]);
    pbj_i64(out, ev->ts_ms);
    strbuf_puts(out, ",\"ts_us\":");
    pbj_i64(out, ev->ts_us);
    strbuf_puts(out, ",\"ts_ns\":");
    pbj_i64(out, ev->ts_ns);
    strbuf_putc(out, '}');
    return true;
}

static bool pbj_txn_event(strbuf_t *out, const Sluice__TransactionEvent *te)
{
    bool end = te->status == SLUICE__TRANSACTION_STATUS__STATUS_END;
    if (!end && te->status != SLUICE__TRANSACTION_STATUS__STATUS_BEGIN)
        return false;
    strbuf_puts(out, end ? "{\"status\":\"END\",\"id\":" : "{\"status\":\"BEGIN\",\"id\":");
    pbj_string(out, te->id);
    if (end) {
        strbuf_puts(out, ",\"event_count\":");
        pbj_u64(out, te->event_count);
        strbuf_puts(out, ",\"data_collections\":[");
        for (size_t i = 0; i < te->n_data_collections; i++) {
            if (i)
                strbuf_putc(out, ',');
            strbuf_puts(out, "{\"data_collection\":");
            pbj_string(out, te->data_collections[i]->data_collection);
            strbuf_puts(out, ",\"event_count\":");
            pbj_u64(out, te->data_collections[i]->event_count);
            strbuf_putc(out, '}');
        }
        strbuf_putc(out, ']');
    } else {
        strbuf_puts(out, ",\"event_count\":null,\"data_collections\":null");
    }
    strbuf_puts(out, ",\"ts_ms\":");
    pbj_i64(out, te->ts_ms);
    strbuf_putc(out, '}');
    return true;
}

/*
 * Appends the JSON of one record's key (is_key) or value, decoded as the
 * message its topic holds. False, with out unchanged, when the bytes are not
 * that message or hold something this consumer does not know.
 */
static bool pbjson_record(pbj_topic_t kind, bool is_key, const void *data, size_t len,
                          const pbj_options_t *o, strbuf_t *out)
{
    const uint8_t *d = data;
    size_t mark = out->len;
    bool ok = false;
    if (is_key && kind == PBJ_TABLE) {
        Sluice__RowKey *k = sluice__row_key__unpack(NULL, len, d);
        if (k) {
            ok = pbj_columns(out, k->n_columns, k->columns, o);
            sluice__row_key__free_unpacked(k, NULL);
        }
    } else if (is_key && kind == PBJ_MESSAGE) {
        Sluice__MessageKey *k = sluice__message_key__unpack(NULL, len, d);
        if (k) {
            strbuf_puts(out, "{\"prefix\":");
            pbj_string(out, k->prefix);
            strbuf_putc(out, '}');
            ok = true;
            sluice__message_key__free_unpacked(k, NULL);
        }
    } else if (is_key) {
        Sluice__TransactionKey *k = sluice__transaction_key__unpack(NULL, len, d);
        if (k) {
            strbuf_puts(out, "{\"id\":");
            pbj_string(out, k->id);
            strbuf_putc(out, '}');
            ok = true;
            sluice__transaction_key__free_unpacked(k, NULL);
        }
    } else if (kind == PBJ_TRANSACTION) {
        Sluice__TransactionEvent *te = sluice__transaction_event__unpack(NULL, len, d);
        if (te) {
            ok = pbj_txn_event(out, te);
            sluice__transaction_event__free_unpacked(te, NULL);
        }
    } else {
        Sluice__ChangeEvent *ev = sluice__change_event__unpack(NULL, len, d);
        if (ev) {
            ok = pbj_change_event(out, ev, o);
            sluice__change_event__free_unpacked(ev, NULL);
        }
    }
    if (!ok) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return ok;
}

#ifdef SLUICE_TESTS_KREAD_H
/*
 * Replaces the Protobuf key and value of every record read by
 * kread_records with their JSON, and sorts them again (a transaction END
 * event sorts last in its transaction, which kread_records can only tell
 * from JSON). Topics are "<prefix>.…". Exits (kread_die) on a record that
 * does not decode.
 */
static void pbj_records_to_json(kread_record_t *recs, size_t n, const char *prefix,
                                const pbj_options_t *o)
{
    strbuf_t b = STRBUF_INIT;
    for (size_t i = 0; i < n; i++) {
        kread_record_t *r = &recs[i];
        pbj_topic_t kind = pbj_topic_kind(r->topic, prefix);
        if (r->key) {
            strbuf_reset(&b);
            if (!pbjson_record(kind, true, r->key, r->key_len, o, &b))
                kread_die("%s[%d]@%" PRId64 ": the key is not sluice Protobuf", r->topic,
                          r->partition, r->offset);
            free(r->key);
            r->key = kread_strndup(b.data, b.len);
            r->key_len = b.len;
        }
        if (r->value) {
            strbuf_reset(&b);
            if (!pbjson_record(kind, false, r->value, r->value_len, o, &b))
                kread_die("%s[%d]@%" PRId64 ": the value is not sluice Protobuf", r->topic,
                          r->partition, r->offset);
            free(r->value);
            r->value = kread_strndup(b.data, b.len);
            r->value_len = b.len;
        }
        r->rank = kind == PBJ_TRANSACTION && r->value && strstr(r->value, "\"status\":\"END\"");
    }
    strbuf_free(&b);
    qsort(recs, n, sizeof *recs, kread_cmp);
}
#endif

#endif
