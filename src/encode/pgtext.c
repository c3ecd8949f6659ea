/*
 * pgtext.c — strict parsers of PostgreSQL's text forms (pgtext.h), shared by
 * json.c and protobuf.c so both encoders read every text the same way and
 * differ only in how they write the result.
 *
 * Pure functions: no allocation (results go to the caller's variables,
 * buffers or strbuf), no locale, no libc time functions (PostgreSQL's
 * calendar is the proleptic Gregorian one over 4714 BC to 294276 AD, wider
 * than time_t conversions promise). Never writes a format's syntax (quotes,
 * escapes): that is the encoder's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/encode/pgtext.h"

/* ---- numbers -------------------------------------------------------------- */

bool pgtext_is_number(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i == len || s[i] < '0' || s[i] > '9')
        return false;
    if (s[i] == '0' && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9')
        return false; /* no leading zeros in JSON */
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

bool pgtext_money_decimal(const char *s, size_t len, char *buf, size_t cap, size_t *n)
{
    size_t k = 0, i = 0;
    if (i < len && s[i] == '-')
        buf[k++] = s[i++];
    if (i < len && s[i] == '$')
        i++;
    else
        return false;
    for (; i < len && k + 1 < cap; i++) {
        if (s[i] == ',')
            continue;
        if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
            return false;
        buf[k++] = s[i];
    }
    if (i != len || !pgtext_is_number(buf, k))
        return false;
    *n = k;
    return true;
}

size_t pgtext_format_int128(__int128 v, char *buf)
{
    char tmp[48];
    size_t n = 0;
    unsigned __int128 u = v < 0 ? (unsigned __int128) 0 - (unsigned __int128) v : (unsigned __int128) v;
    do {
        tmp[n++] = (char) ('0' + (int) (u % 10));
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}

/* ---- bytea ---------------------------------------------------------------- */

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

bool pgtext_bytea_hex(const char *s, size_t len, uint8_t *bytes, size_t *n)
{
    if (len < 2 || s[0] != '\\' || s[1] != 'x' || (len - 2) % 2 != 0)
        return false;
    size_t count = (len - 2) / 2;
    for (size_t i = 0; i < count; i++) {
        int hi = hex_value(s[2 + 2 * i]), lo = hex_value(s[3 + 2 * i]);
        if (hi < 0 || lo < 0)
            return false;
        bytes[i] = (uint8_t) (hi << 4 | lo);
    }
    *n = count;
    return true;
}

/* ---- dates and times ------------------------------------------------------ */

/* Days from 1970-01-01 to y-m-d, astronomical years (1 BC = 0); Howard Hinnant's algorithm. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads exactly n digits (n > 0) or, with n = 0, one or more; advances *i. */
static bool digits(const char *s, size_t len, size_t *i, int n, int64_t *v)
{
    int64_t x = 0;
    int got = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9' && (n == 0 || got < n) && got < 12) {
        x = x * 10 + (s[*i] - '0');
        (*i)++;
        got++;
    }
    if (got == 0 || (n && got != n))
        return false;
    *v = x;
    return true;
}

static bool lit(const char *s, size_t len, size_t *i, char c)
{
    if (*i < len && s[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

static bool parse_date(const char *s, size_t len, size_t *i, int64_t *days)
{
    int64_t y, m, d;
    if (!digits(s, len, i, 0, &y) || !lit(s, len, i, '-') || !digits(s, len, i, 2, &m) ||
        !lit(s, len, i, '-') || !digits(s, len, i, 2, &d))
        return false;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    *days = days_from_civil(y, (int) m, (int) d); /* BC is applied by the caller */
    return true;
}

/* The " BC" suffix: year Y BC is astronomical year 1 - Y. */
static bool bc_suffix(const char *s, size_t len, size_t i)
{
    return len - i == 3 && s[i] == ' ' && s[i + 1] == 'B' && s[i + 2] == 'C';
}

static int64_t bc_days(const char *s, size_t len, size_t *i)
{
    /* Re-read the date with the astronomical year. */
    size_t j = 0;
    int64_t y, m, d;
    digits(s, len, &j, 0, &y);
    j++;
    digits(s, len, &j, 2, &m);
    j++;
    digits(s, len, &j, 2, &d);
    (void) i;
    return days_from_civil(1 - y, (int) m, (int) d);
}

bool pgtext_date_days(const char *s, size_t len, int64_t *days)
{
    size_t i = 0;
    if (!parse_date(s, len, &i, days))
        return false;
    if (i == len)
        return true;
    if (!bc_suffix(s, len, i))
        return false;
    *days = bc_days(s, len, &i);
    return true;
}

static bool parse_time(const char *s, size_t len, size_t *i, int64_t *micros)
{
    int64_t h, m, sec, frac = 0;
    if (!digits(s, len, i, 2, &h) || !lit(s, len, i, ':') || !digits(s, len, i, 2, &m) ||
        !lit(s, len, i, ':') || !digits(s, len, i, 2, &sec))
        return false;
    if (lit(s, len, i, '.')) {
        size_t start = *i;
        if (!digits(s, len, i, 0, &frac) || *i - start > 6)
            return false;
        for (size_t k = *i - start; k < 6; k++)
            frac *= 10;
    }
    if (h > 24 || m > 59 || sec > 60 || (h == 24 && (m || sec || frac)))
        return false;
    *micros = ((h * 60 + m) * 60 + sec) * 1000000 + frac;
    return true;
}

bool pgtext_time_micros(const char *s, size_t len, int64_t *micros)
{
    size_t i = 0;
    return parse_time(s, len, &i, micros) && i == len;
}

bool pgtext_timestamp_micros(const char *s, size_t len, __int128 *micros)
{
    size_t i = 0;
    int64_t days, tod;
    if (!parse_date(s, len, &i, &days) || !lit(s, len, &i, ' ') || !parse_time(s, len, &i, &tod))
        return false;
    if (i != len) {
        if (!bc_suffix(s, len, i))
            return false;
        days = bc_days(s, len, &i);
    }
    *micros = (__int128) days * 86400000000LL + tod;
    return true;
}

static bool text_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && memcmp(s, word, len) == 0;
}

bool pgtext_date_value(const char *s, size_t len, int64_t *days)
{
    if (text_is(s, len, "infinity"))
        *days = INT32_MAX;
    else if (text_is(s, len, "-infinity"))
        *days = INT32_MIN;
    else
        return pgtext_date_days(s, len, days);
    return true;
}

bool pgtext_timestamp_value(const char *s, size_t len, int64_t *micros)
{
    __int128 us;
    if (text_is(s, len, "infinity"))
        *micros = INT64_MAX;
    else if (text_is(s, len, "-infinity"))
        *micros = INT64_MIN;
    else if (pgtext_timestamp_micros(s, len, &us) && us < INT64_MAX && us > INT64_MIN)
        *micros = (int64_t) us;
    else
        return false;
    return true;
}

/* Appends an offset "+hh[:mm[:ss]]" as ISO "+hh:mm[:ss]", "Z" for zero; false (and nothing
 * appended) if malformed. */
static bool append_iso_offset(strbuf_t *out, const char *s, size_t len)
{
    if (len < 3 || (s[0] != '+' && s[0] != '-'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] == ':' && (i == 3 || i == 6))))
            return false;
    if (!(len == 3 || len == 6 || len == 9))
        return false;
    bool zero = true;
    for (size_t i = 1; i < len; i++)
        if (s[i] != '0' && s[i] != ':')
            zero = false;
    if (zero) {
        strbuf_putc(out, 'Z');
        return true;
    }
    strbuf_append(out, s, 3);
    if (len == 3)
        strbuf_append(out, ":00", 3);
    else
        strbuf_append(out, s + 3, len - 3);
    return true;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of "HH:MM:SS[.ffffff]" at the start of s (its characters; the offset decides the rest). */
static size_t time_part_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == ':' || s[i] == '.'))
        i++;
    return i;
}

bool pgtext_timestamptz_iso(const char *s, size_t len, strbuf_t *out)
{
    size_t y_end = 0;
    while (y_end < len && s[y_end] >= '0' && s[y_end] <= '9')
        y_end++;
    if (y_end < 4 || len < y_end + 16 || s[y_end] != '-' || s[y_end + 6] != ' ')
        return false;
    /* "-MM-DD" is copied as it stands: digits only, so the ISO text never needs escaping. */
    const char *md = s + y_end;
    if (!is_digit(md[1]) || !is_digit(md[2]) || md[3] != '-' || !is_digit(md[4]) ||
        !is_digit(md[5]))
        return false;
    bool bc = memcmp(s + len - 3, " BC", 3) == 0;
    size_t body_end = bc ? len - 3 : len;
    const char *t = s + y_end + 7;
    size_t tl = time_part_len(t, (size_t) (s + body_end - t));
    if (tl < 8)
        return false;
    /* The year's digits, saturating at LLONG_MAX as strtoll does (s is not NUL-terminated). */
    long long year = 0;
    for (size_t i = 0; i < y_end; i++) {
        int d = s[i] - '0';
        if (year > (LLONG_MAX - d) / 10) {
            year = LLONG_MAX;
            break;
        }
        year = year * 10 + d;
    }
    if (bc)
        year = 1 - year;
    char ybuf[32];
    int yn;
    if (year < 0)
        yn = snprintf(ybuf, sizeof ybuf, "-%04lld", -year);
    else if (year > 9999)
        yn = snprintf(ybuf, sizeof ybuf, "+%lld", year);
    else
        yn = snprintf(ybuf, sizeof ybuf, "%04lld", year);
    size_t mark = out->len;
    strbuf_append(out, ybuf, (size_t) yn);
    strbuf_append(out, s + y_end, 6); /* -MM-DD */
    strbuf_putc(out, 'T');
    strbuf_append(out, t, tl);
    if (!append_iso_offset(out, t + tl, (size_t) (s + body_end - t - tl))) {
        out->len = mark;
        out->data[mark] = '\0';
        return false;
    }
    return true;
}

bool pgtext_timetz_iso(const char *s, size_t len, strbuf_t *out)
{
    size_t tl = time_part_len(s, len);
    if (tl < 8)
        return false;
    size_t mark = out->len;
    strbuf_append(out, s, tl);
    if (!append_iso_offset(out, s + tl, len - tl)) {
        out->len = mark;
        out->data[mark] = '\0';
        return false;
    }
    return true;
}

/* ---- arrays and composites ------------------------------------------------ */

/*
 * A quoted item from s[i] == '"': a backslash escapes the next character; in
 * record_out (doubled_quotes) a doubled quote is a quote. Returns the position
 * after the closing quote, 0 if there is none, and the unescaped length in *n.
 */
static size_t quoted_end(const char *s, size_t len, size_t i, bool doubled_quotes, size_t *n)
{
    size_t count = 0;
    for (size_t j = i + 1; j < len; count++) {
        if (s[j] == '\\') {
            if (j + 1 >= len)
                return 0;
            j += 2;
        } else if (s[j] == '"') {
            if (!(doubled_quotes && j + 1 < len && s[j + 1] == '"')) {
                *n = count;
                return j + 1;
            }
            j += 2;
        } else {
            j++;
        }
    }
    return 0;
}

void pgtext_array_begin(pgtext_list_t *l, const char *s, size_t len, size_t pos, char delim)
{
    *l = (pgtext_list_t) {
        .s = s, .len = len, .pos = pos, .delim = delim, .array = true, .first = true};
}

void pgtext_record_begin(pgtext_list_t *l, const char *s, size_t len)
{
    *l = (pgtext_list_t) {
        .s = s, .len = len, .pos = 0, .delim = ',', .array = false, .first = true};
}

pgtext_item_t pgtext_list_next(pgtext_list_t *l)
{
    const char *s = l->s;
    size_t len = l->len, i = l->pos;
    char close = l->array ? '}' : ')';
    pgtext_item_t item = {.kind = PGTEXT_ITEM_BAD};
    if (l->first) {
        if (i >= len || s[i] != (l->array ? '{' : '('))
            return item;
        i++;
        if (l->array && i < len && s[i] == '}') { /* "{}"; a record's "()" is one empty field */
            l->pos = i + 1;
            item.kind = PGTEXT_ITEM_END;
            return item;
        }
    } else {
        if (i >= len)
            return item;
        if (s[i] == close) {
            l->pos = i + 1;
            item.kind = PGTEXT_ITEM_END;
            return item;
        }
        /* In a record one character separates fields whatever it is: record_out writes ','
         * there, and a stray one after a closing quote has always been skipped, not refused. */
        if (l->array && s[i] != l->delim)
            return item;
        i++;
    }
    l->first = false;
    if (i >= len)
        return item;
    item.start = i;
    if (l->array && s[i] == '{') {
        item.kind = PGTEXT_ITEM_ARRAY;
    } else if (!l->array && (s[i] == ',' || s[i] == ')')) {
        item.kind = PGTEXT_ITEM_NULL;
    } else if (s[i] == '"') {
        i = quoted_end(s, len, i, !l->array, &item.n);
        if (i == 0)
            return item;
        item.kind = PGTEXT_ITEM_QUOTED;
    } else {
        while (i < len && s[i] != l->delim && s[i] != close)
            i++;
        if (i == item.start)
            return item; /* an empty array element: arrays write NULL */
        bool null = l->array && i - item.start == 4 && memcmp(s + item.start, "NULL", 4) == 0;
        item.kind = null ? PGTEXT_ITEM_NULL : PGTEXT_ITEM_BARE;
    }
    item.end = i;
    l->pos = i;
    return item;
}

size_t pgtext_unquote(const char *s, const pgtext_item_t *item, char *out)
{
    size_t k = 0;
    for (size_t j = item->start + 1; j < item->end - 1;) {
        if (s[j] == '\\' || s[j] == '"') { /* an escape, or the first of a doubled quote */
            out[k++] = s[j + 1];
            j += 2;
        } else {
            out[k++] = s[j++];
        }
    }
    out[k] = '\0';
    return k;
}

/* ---- decimals for Kafka Connect (decimal.handling.mode) ------------------- */

int32_t pgtext_decimal_scale(const char *s, size_t len)
{
    const char *dot = memchr(s, '.', len);
    return dot ? (int32_t) (len - (size_t) (dot + 1 - s)) : 0;
}

bool pgtext_decimal_unscaled(const char *s, size_t len, int32_t scale, strbuf_t *out)
{
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    if (neg)
        i = 1;
    /* The digits of the value without the point, and how many came after it. */
    size_t first = i, ndig = 0, frac = 0;
    bool point = false;
    for (; i < len; i++) {
        if (s[i] == '.' && !point) {
            point = true;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return false;
        ndig++;
        frac += point;
    }
    if (ndig == 0 || (point && frac == 0))
        return false;
    /* unscaled = digits × 10^(scale - frac): zeros appended, or trailing zeros dropped. */
    int64_t shift = (int64_t) scale - (int64_t) frac;
    size_t drop = 0;
    if (shift < 0) {
        drop = (size_t) -shift;
        if (drop > ndig)
            drop = ndig; /* all digits go: only a zero value fits */
        size_t seen = 0;
        for (size_t k = len; k > first && seen < (size_t) -shift; k--) {
            if (s[k - 1] == '.')
                continue;
            if (s[k - 1] != '0')
                return false;
            seen++;
        }
        shift = 0;
    }
    /* Magnitude in 32-bit limbs, least significant first: ×10^k and add, per k ≤ 9 digits
     * (the kept digits, then `shift` zeros). */
    static const uint32_t pow10[] = {1,      10,      100,      1000,      10000,
                                     100000, 1000000, 10000000, 100000000, 1000000000};
    size_t want = ndig - drop, total = want + (size_t) shift;
    size_t nlimbs = total / 9 + 2;
    uint32_t stack_limbs[64];
    uint32_t *limbs = nlimbs <= 64 ? stack_limbs : xcalloc(nlimbs, sizeof *limbs);
    size_t used = 0, pos = first;
    uint32_t chunk = 0;
    int chunk_digits = 0;
    for (size_t d = 0; d < total; d++) {
        unsigned digit = 0;
        if (d < want) {
            if (s[pos] == '.')
                pos++;
            digit = (unsigned) (s[pos++] - '0');
        }
        chunk = chunk * 10 + digit;
        if (++chunk_digits == 9 || d + 1 == total) {
            uint64_t carry = chunk;
            for (size_t l = 0; l < used; l++) {
                uint64_t v = (uint64_t) limbs[l] * pow10[chunk_digits] + carry;
                limbs[l] = (uint32_t) v;
                carry = v >> 32;
            }
            if (carry)
                limbs[used++] = (uint32_t) carry;
            chunk = 0;
            chunk_digits = 0;
        }
    }
    /* Big-endian magnitude bytes, minimal. */
    size_t mark = out->len;
    size_t nbytes = used * 4;
    strbuf_reserve(out, nbytes + 2);
    uint8_t *b = (uint8_t *) out->data + mark + 1; /* room for a sign byte in front */
    for (size_t l = 0; l < used; l++)
        for (int k = 0; k < 4; k++)
            b[nbytes - 1 - (l * 4 + (size_t) k)] = (uint8_t) (limbs[l] >> (8 * k));
    if (limbs != stack_limbs)
        free(limbs);
    size_t lead = 0;
    while (lead < nbytes && b[lead] == 0)
        lead++;
    b += lead;
    nbytes -= lead;
    if (nbytes == 0) {
        out->data[mark] = 0;
        out->len = mark + 1;
        out->data[out->len] = '\0';
        return true;
    }
    if (neg) {
        /* Two's complement: invert and add one, from the least significant byte. */
        unsigned carry = 1;
        for (size_t k = nbytes; k-- > 0;) {
            unsigned v = (unsigned) (uint8_t) ~b[k] + carry;
            b[k] = (uint8_t) v;
            carry = v >> 8;
        }
    }
    bool need_sign = neg ? !(b[0] & 0x80) : (b[0] & 0x80);
    if (need_sign) {
        b--;
        b[0] = neg ? 0xff : 0x00;
        nbytes++;
    }
    memmove(out->data + mark, b, nbytes);
    out->len = mark + nbytes;
    out->data[out->len] = '\0';
    return true;
}

size_t pgtext_format_double(double v, bool single, char *buf)
{
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (single ? strtof(e, NULL) == (float) v : strtod(e, NULL) == v)
            break;
    }
    /* e is "[-]d[.ddd]e±XX": sign, digits, exponent. */
    const char *p = e;
    size_t n = 0, k = 0;
    char dig[24];
    if (*p == '-')
        buf[k++] = *p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            dig[n++] = *p;
    while (n > 1 && dig[n - 1] == '0')
        n--;
    int exp = atoi(p + 1);
    if (exp >= -4 && exp < (single ? 6 : 15)) {
        if (exp < 0) {
            buf[k++] = '0';
            buf[k++] = '.';
            for (int z = 0; z < -exp - 1; z++)
                buf[k++] = '0';
            memcpy(buf + k, dig, n);
            k += n;
        } else {
            size_t ip = (size_t) exp + 1;
            for (size_t d = 0; d < ip; d++)
                buf[k++] = d < n ? dig[d] : '0';
            if (n > ip) {
                buf[k++] = '.';
                memcpy(buf + k, dig + ip, n - ip);
                k += n - ip;
            }
        }
    } else {
        buf[k++] = dig[0];
        if (n > 1) {
            buf[k++] = '.';
            memcpy(buf + k, dig + 1, n - 1);
            k += n - 1;
        }
        k += (size_t) sprintf(buf + k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
    buf[k] = '\0';
    return k;
}

/* ---- years and intervals -------------------------------------------------- */

bool pgtext_timestamptz_year(const char *s, size_t len, int64_t *year)
{
    size_t i = 0;
    int64_t y;
    if (!digits(s, len, &i, 0, &y) || i >= len || s[i] != '-')
        return false;
    *year = len >= 3 && memcmp(s + len - 3, " BC", 3) == 0 ? 1 - y : y;
    return true;
}

bool pgtext_interval_micros(const char *s, size_t len, int64_t *micros, bool *saturated)
{
    /* Seconds per unit, a month being 30.4375 days (Debezium's MicroDuration). */
    static const int64_t month_s = 2629800, day_s = 86400;
    size_t i = 0;
    if (len < 3 || s[i++] != 'P')
        return false;
    __int128 total = 0; /* microseconds */
    bool time = false, any = false;
    char last = 0;
    while (i < len) {
        if (s[i] == 'T') {
            if (time)
                return false;
            time = true;
            i++;
            continue;
        }
        bool neg = s[i] == '-';
        if (neg)
            i++;
        int64_t whole;
        if (!digits(s, len, &i, 0, &whole))
            return false;
        int64_t frac = 0;
        if (i < len && s[i] == '.') {
            i++;
            size_t start = i;
            if (!digits(s, len, &i, 0, &frac) || i - start > 6)
                return false;
            for (size_t k = i - start; k < 6; k++)
                frac *= 10;
        }
        if (i >= len)
            return false;
        char unit = s[i++];
        __int128 us;
        if (!time && unit == 'Y' && !frac && !last)
            us = (__int128) whole * 12 * month_s * 1000000;
        else if (!time && unit == 'M' && !frac && (!last || last == 'Y'))
            us = (__int128) whole * month_s * 1000000;
        else if (!time && unit == 'D' && !frac && last != 'D')
            us = (__int128) whole * day_s * 1000000;
        else if (time && unit == 'H' && !frac)
            us = (__int128) whole * 3600 * 1000000;
        else if (time && unit == 'M' && !frac)
            us = (__int128) whole * 60 * 1000000;
        else if (time && unit == 'S')
            us = (__int128) whole * 1000000 + frac;
        else
            return false;
        last = unit;
        total += neg ? -us : us;
        any = true;
    }
    if (!any)
        return false;
    *saturated = total > INT64_MAX || total < INT64_MIN;
    *micros = total > INT64_MAX ? INT64_MAX : total < INT64_MIN ? INT64_MIN : (int64_t) total;
    return true;
}
