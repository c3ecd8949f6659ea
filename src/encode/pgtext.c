/*
 * pgtext.c — strict parsers of PostgreSQL's date and time text forms
 * (DateStyle ISO), used by the encoders to write Debezium's numeric time
 * forms. Pure functions: no allocation, no locale, no libc time functions
 * (PostgreSQL's calendar is the proleptic Gregorian one over 4714 BC to
 * 294276 AD, wider than time_t conversions promise).
 */
#include "sluice/pgtypes.h"

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
