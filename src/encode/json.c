/*
 * json.c — Debezium's change event envelope, without schemas, as JSON text.
 *
 *   key:   {"<key col>":<value>,...}
 *   value: {"before":{...}|null,"after":{...}|null,
 *           "source":{"version":..,"connector":"sluice","name":<topic.prefix>,
 *                     "ts_ms":<commit time>,"snapshot":"false","db":..,
 *                     "sequence":"[\"<commit lsn>\",\"<lsn>\"]","schema":..,
 *                     "table":..,"txId":<xid>,"lsn":<change lsn>,"xmin":null},
 *           "op":"c|u|d|t|m","ts_ms":<processing time>}
 *
 * Written directly into a reused strbuf rather than built as a jansson tree:
 * this is the per-change hot path and a tree costs an allocation per field.
 * jansson reads sluice's JSON everywhere else (checkpoints, tests).
 *
 * Owns nothing per event. Never drops a column: a type without a special form
 * is written as its PostgreSQL text form.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/encode.h"
#include "sluice/pgtypes.h"

struct encoder {
    output_format_t format;
    char *server_name;
    char *db_name;
    char *toast_placeholder;
};

static const char hex_digits[] = "0123456789abcdef";

void json_append_string(strbuf_t *out, const char *s, size_t len)
{
    /* Worst case every byte becomes \u00XX. */
    strbuf_reserve(out, len * 6 + 2);
    char *p = out->data + out->len;
    *p++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char) c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        case '\b': *p++ = 'b'; break;
        case '\f': *p++ = 'f'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex_digits[c >> 4];
            *p++ = hex_digits[c & 15];
        }
    }
    *p++ = '"';
    out->len = (size_t) (p - out->data);
    out->data[out->len] = '\0';
}

void json_append_base64(strbuf_t *out, const uint8_t *d, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    strbuf_reserve(out, (n + 2) / 3 * 4 + 2);
    char *p = out->data + out->len;
    *p++ = '"';
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = ((uint32_t) d[i] << 16) | ((uint32_t) d[i + 1] << 8) | d[i + 2];
        *p++ = tbl[v >> 18];
        *p++ = tbl[(v >> 12) & 63];
        *p++ = tbl[(v >> 6) & 63];
        *p++ = tbl[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t) d[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t) d[i + 1] << 8;
        *p++ = tbl[v >> 18];
        *p++ = tbl[(v >> 12) & 63];
        *p++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *p++ = '=';
    }
    *p++ = '"';
    out->len = (size_t) (p - out->data);
    out->data[out->len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * bytea's text form is "\x" followed by hex digits (bytea_output = hex, the
 * default since 9.0). Written as base64, Debezium's default binary form.
 * Anything else (escape format) is passed through as text, not guessed at.
 */
static void append_bytea(strbuf_t *out, const char *s, size_t len)
{
    if (len < 2 || s[0] != '\\' || s[1] != 'x' || (len - 2) % 2 != 0) {
        json_append_string(out, s, len);
        return;
    }
    size_t n = (len - 2) / 2;
    uint8_t stackbuf[512] = {0};
    uint8_t *bytes = n <= sizeof stackbuf ? stackbuf : xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 + 2 * i]), lo = hex_value(s[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            if (bytes != stackbuf)
                free(bytes);
            json_append_string(out, s, len);
            return;
        }
        bytes[i] = (uint8_t) (hi << 4 | lo);
    }
    json_append_base64(out, bytes, n);
    if (bytes != stackbuf)
        free(bytes);
}

/* True if s is a JSON number PostgreSQL's integer output could produce. */
static bool is_integer_text(const char *s, size_t len)
{
    size_t i = 0;
    if (len > 0 && s[0] == '-')
        i = 1;
    if (i == len || len - i > 20)
        return false;
    for (; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* True for float text that is a valid JSON number (not NaN, Infinity). */
static bool is_json_number_text(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    size_t i = 0;
    if (s[i] == '-')
        i++;
    if (i == len || s[i] < '0' || s[i] > '9')
        return false;
    bool digits_after_point = true;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            digits_after_point = true;
        else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')
            digits_after_point = false;
        else
            return false;
    }
    return digits_after_point;
}

static void append_value(const encoder_t *enc, strbuf_t *out, uint32_t type_oid,
                         const pgo_value_t *v)
{
    switch (v->kind) {
    case PGO_VALUE_NULL:
        strbuf_append(out, "null", 4);
        return;
    case PGO_VALUE_UNCHANGED_TOAST:
        json_append_string(out, enc->toast_placeholder, strlen(enc->toast_placeholder));
        return;
    case PGO_VALUE_BINARY:
        json_append_base64(out, (const uint8_t *) v->data, v->len);
        return;
    case PGO_VALUE_TEXT:
        break;
    }
    switch (pgtype_json_form(type_oid)) {
    case PGTYPE_FORM_BOOL:
        if (v->len == 1 && (v->data[0] == 't' || v->data[0] == 'f')) {
            if (v->data[0] == 't')
                strbuf_append(out, "true", 4);
            else
                strbuf_append(out, "false", 5);
            return;
        }
        break;
    case PGTYPE_FORM_INTEGER:
        if (is_integer_text(v->data, v->len)) {
            strbuf_append(out, v->data, v->len);
            return;
        }
        break;
    case PGTYPE_FORM_FLOAT:
        if (is_json_number_text(v->data, v->len)) {
            strbuf_append(out, v->data, v->len);
            return;
        }
        break; /* NaN, Infinity, -Infinity: as strings */
    case PGTYPE_FORM_BASE64:
        append_bytea(out, v->data, v->len);
        return;
    case PGTYPE_FORM_TEXT:
        break;
    }
    json_append_string(out, v->data, v->len);
}

static void append_name(strbuf_t *out, const char *name)
{
    json_append_string(out, name, strlen(name));
    strbuf_putc(out, ':');
}

/* Writes {"col":value,...}; key_only writes just the replica identity columns. */
static void append_row(const encoder_t *enc, strbuf_t *out, const relcache_entry_t *rel,
                       const pgo_tuple_t *t, bool key_only)
{
    strbuf_putc(out, '{');
    bool first = true;
    uint16_t n = t->ncols < rel->ncols ? t->ncols : rel->ncols;
    for (uint16_t i = 0; i < n; i++) {
        if (key_only && !rel->columns[i].is_key)
            continue;
        if (!first)
            strbuf_putc(out, ',');
        first = false;
        append_name(out, rel->columns[i].name);
        append_value(enc, out, rel->columns[i].type_oid, &t->values[i]);
    }
    strbuf_putc(out, '}');
}

encoder_t *encoder_new(output_format_t format, const encoder_options_t *opts)
{
    if (format != FORMAT_JSON)
        return NULL;
    encoder_t *enc = xcalloc(1, sizeof *enc);
    enc->format = format;
    enc->server_name = xstrdup(opts->server_name ? opts->server_name : "sluice");
    enc->db_name = xstrdup(opts->db_name ? opts->db_name : "");
    enc->toast_placeholder =
        xstrdup(opts->toast_placeholder ? opts->toast_placeholder : "__debezium_unavailable_value");
    return enc;
}

void encoder_free(encoder_t *enc)
{
    if (!enc)
        return;
    free(enc->server_name);
    free(enc->db_name);
    free(enc->toast_placeholder);
    free(enc);
}

bool encoder_key(encoder_t *enc, const relcache_entry_t *rel, const pgo_tuple_t *tuple,
                 strbuf_t *out)
{
    if (rel->nkeys == 0 || !tuple)
        return false;
    append_row(enc, out, rel, tuple, true);
    return true;
}

void encoder_message_key(encoder_t *enc, const char *prefix, strbuf_t *out)
{
    (void) enc;
    strbuf_append(out, "{\"prefix\":", 10);
    json_append_string(out, prefix, strlen(prefix));
    strbuf_putc(out, '}');
}

static void append_lsn_string(strbuf_t *out, sluice_lsn_t lsn)
{
    strbuf_appendf(out, "%" PRIu64, (uint64_t) lsn);
}

void encoder_value(encoder_t *enc, const change_event_t *ev, strbuf_t *out)
{
    strbuf_puts(out, "{\"before\":");
    if (ev->before && ev->rel)
        append_row(enc, out, ev->rel, ev->before, ev->before_is_key_only);
    else
        strbuf_append(out, "null", 4);
    strbuf_puts(out, ",\"after\":");
    if (ev->after && ev->rel)
        append_row(enc, out, ev->rel, ev->after, false);
    else
        strbuf_append(out, "null", 4);

    strbuf_puts(out, ",\"source\":{\"version\":\"" SLUICE_VERSION "\",\"connector\":\"sluice\",\"name\":");
    json_append_string(out, enc->server_name, strlen(enc->server_name));
    strbuf_appendf(out, ",\"ts_ms\":%lld,\"snapshot\":\"%s\",\"db\":",
                   (long long) (ev->txn->commit_ts_us / 1000), ev->op == OP_READ ? "true" : "false");
    json_append_string(out, enc->db_name, strlen(enc->db_name));
    strbuf_puts(out, ",\"sequence\":\"[\\\"");
    append_lsn_string(out, ev->txn->commit_lsn);
    strbuf_puts(out, "\\\",\\\"");
    append_lsn_string(out, ev->lsn);
    strbuf_puts(out, "\\\"]\"");
    if (ev->rel) {
        strbuf_puts(out, ",\"schema\":");
        json_append_string(out, ev->rel->nspname, strlen(ev->rel->nspname));
        strbuf_puts(out, ",\"table\":");
        json_append_string(out, ev->rel->relname, strlen(ev->rel->relname));
    }
    strbuf_appendf(out, ",\"txId\":%u,\"lsn\":%" PRIu64 ",\"xmin\":null}", ev->txn->xid,
                   (uint64_t) ev->lsn);
    if (ev->op == OP_MESSAGE) {
        strbuf_puts(out, ",\"message\":{\"prefix\":");
        json_append_string(out, ev->msg_prefix, strlen(ev->msg_prefix));
        strbuf_puts(out, ",\"content\":");
        json_append_base64(out, (const uint8_t *) ev->msg_content, ev->msg_len);
        strbuf_appendf(out, ",\"transactional\":%s}", ev->msg_transactional ? "true" : "false");
    }
    strbuf_appendf(out, ",\"op\":\"%c\",\"ts_ms\":%lld}", (char) ev->op, (long long) ev->now_ms);
}
