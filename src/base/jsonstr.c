/*
 * jsonstr.c — JSON string writers (jsonstr.h). json_append_string is on the
 * per-change hot path: wide rows are mostly long text values, so it copies
 * eight bytes at a time while none of them needs escaping.
 */
#include "sluice/base/jsonstr.h"

#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

void json_append_string(strbuf_t *out, const char *s, size_t len)
{
    /* Worst case every byte becomes \u00XX. */
    strbuf_reserve(out, len * 6 + 2);
    char *p = out->data + out->len;
    *p++ = '"';
    size_t i = 0;
    while (i < len) {
        /* Eight bytes at a time while none needs escaping (no byte < 0x20, '"'
         * or '\\'; bytes >= 0x80 pass): long text values are most of wide rows. */
        for (; i + 8 <= len; i += 8) {
            uint64_t x;
            memcpy(&x, s + i, 8);
            const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
            uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
            /* ~x drops bytes >= 0x80; for the others q and b keep the high bit clear too. */
            if (((x - ones * 0x20) | (q - ones) | (b - ones)) & ~x & highs)
                break;
            memcpy(p, s + i, 8);
            p += 8;
        }
        /* Then byte by byte to the end of the word that needed it (or of the text). */
        size_t stop = i + 8 < len ? i + 8 : len;
        for (; i < stop; i++) {
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
