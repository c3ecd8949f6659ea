/*
 * pgtext.h — parsers of PostgreSQL's text forms, shared by the encoders.
 *
 * Values arrive as the text forms of sluice's replication session (DateStyle
 * ISO, TimeZone UTC, bytea_output hex, lc_monetary C). Each parser turns one
 * into a neutral form (a number, bytes, a decimal or ISO-8601 string) that
 * json.c and protobuf.c then write in their own format, so both read every
 * text the same way. Each returns false for text it does not recognise; the
 * caller then writes the text form as a string instead of guessing.
 *
 * No parser allocates: results go into the caller's variables, into a buffer
 * the caller sized as documented, or appended to the caller's strbuf (which
 * grows only while it is smaller than any value before).
 */
#ifndef SLUICE_PGTEXT_H
#define SLUICE_PGTEXT_H

#include "sluice/base/buf.h"
#include "sluice/base/common.h"

/* ---- numbers ---- */

/* True for a decimal number as JSON writes one ("-1.5e+300"; not "NaN", "Infinity", "007"). */
bool pgtext_is_number(const char *s, size_t len);

/*
 * money in lc_monetary C, "-$1,234.56" → the exact decimal "-1234.56" into
 * buf (cap bytes, NUL not written) and its length into *n. Another currency
 * format, or a decimal longer than cap - 1, is not parsed.
 */
bool pgtext_money_decimal(const char *s, size_t len, char *buf, size_t cap, size_t *n);

/* Appends the decimal digits of v to buf (at least 41 bytes); returns the length. */
size_t pgtext_format_int128(__int128 v, char *buf);

/*
 * numeric's text "-12.340" (no exponent, no NaN) as Kafka Connect's Decimal
 * holds it: the unscaled value at `scale` (12340 at scale 3, 1234000 at 5;
 * a negative scale drops trailing zeros: 12300 at -2 is 123) appended to out
 * as big-endian two's-complement bytes, minimal (Java's
 * BigInteger.toByteArray: 0 is one 0x00 byte). False, out unchanged, for
 * other text or a value that `scale` cannot hold without rounding.
 */
bool pgtext_decimal_unscaled(const char *s, size_t len, int32_t scale, strbuf_t *out);

/* The digits after the point of numeric's text (its display scale): "1.50" → 2, "7" → 0. */
int32_t pgtext_decimal_scale(const char *s, size_t len);

/*
 * A finite double (or float, single) as PostgreSQL's float8out/float4out
 * write it with extra_float_digits >= 1: the shortest digits that read back
 * to the same value, fixed notation for decimal exponents -4 up to 14 (6
 * for single), else "d.ddde+XX". Into buf (at least 32 bytes); returns the
 * length.
 */
size_t pgtext_format_double(double v, bool single, char *buf);

/* ---- bytea ---- */

/* bytea's hex text "\x0aff" → its bytes into `bytes` (room for len / 2), their count into *n. */
bool pgtext_bytea_hex(const char *s, size_t len, uint8_t *bytes, size_t *n);

/* ---- dates and times ---- */

/* "2024-05-01", "0044-03-15 BC", "10000-01-01" → days since 1970-01-01 (proleptic Gregorian). */
bool pgtext_date_days(const char *s, size_t len, int64_t *days);
/* "HH:MM:SS[.ffffff]" (24:00:00 included) → microseconds since midnight. */
bool pgtext_time_micros(const char *s, size_t len, int64_t *micros);
/* "YYYY-MM-DD HH:MM:SS[.ffffff][ BC]" → microseconds since 1970 (past int64 after 294246). */
bool pgtext_timestamp_micros(const char *s, size_t len, __int128 *micros);

/*
 * The values of PGTYPE_FORM_DATE and PGTYPE_FORM_TIMESTAMP (pgtypes.h):
 * "infinity" and "-infinity" as INT32_MAX / INT32_MIN days and INT64_MAX /
 * INT64_MIN microseconds, Debezium's values for them. A date's days are not
 * range-checked here (an int32 field checks them; JSON writes any). A
 * timestamp whose microseconds do not fit strictly inside int64 (PostgreSQL's
 * last 29 years, 294247–294276 AD) is not parsed: readers parse the field into
 * int64 and would overflow, or read infinity.
 */
bool pgtext_date_value(const char *s, size_t len, int64_t *days);
bool pgtext_timestamp_value(const char *s, size_t len, int64_t *micros);

/* timestamptz's (or timestamp's) year, astronomical (44 BC is -43): its leading digits and
 * a " BC" suffix. */
bool pgtext_timestamptz_year(const char *s, size_t len, int64_t *year);

/*
 * interval in IntervalStyle iso_8601, "P1Y2M-3DT4H5M6.789S", "PT0S" → its
 * length in microseconds as Debezium's MicroDuration counts it: a month is
 * 30.4375 days (365.25 / 12), a day 24 hours. Beyond int64 it is int64's
 * maximum or minimum (*saturated set).
 */
bool pgtext_interval_micros(const char *s, size_t len, int64_t *micros, bool *saturated);

/*
 * timestamptz "2024-05-01 12:00:00.5+00[ BC]" → ISO-8601 as Java's Instant
 * parses it, "2024-05-01T12:00:00.5Z", with astronomical years ("-0043" for
 * 44 BC, "+10000" past 9999), appended to out. "infinity" is not parsed.
 * On false out is as it was.
 */
bool pgtext_timestamptz_iso(const char *s, size_t len, strbuf_t *out);
/* timetz "12:00:00.5+02" → "12:00:00.5+02:00" (the offset kept: it is part of the value),
 * appended to out. On false out is as it was. */
bool pgtext_timetz_iso(const char *s, size_t len, strbuf_t *out);

/* ---- arrays and composites ---- */

/*
 * The items of one array dimension "{...}" (array_out) or of a record
 * "(...)" (record_out), one per pgtext_list_next: the grammar, quoting and
 * NULLs, never the element types (the caller parses each item as its type).
 *
 *   array:  "{" [item (delim item)*] "}"  item: "{...}" | "NULL" | bare | "quoted"
 *   record: "(" field ("," field)* ")"    field: empty (NULL) | bare | "quoted"
 *
 * A quoted item is unescaped by pgtext_unquote into the caller's buffer. In
 * an array an item of kind ARRAY is a nested dimension starting at l->pos:
 * the caller parses it (a pgtext_list_t of its own from that position) and
 * sets l->pos past its closing brace before the next call.
 */
typedef struct {
    const char *s;
    size_t len;
    size_t pos; /* where the next item (or the separator before it) starts */
    char delim; /* the element delimiter: ',' (';' for box arrays); ',' in records */
    bool array;
    bool first;
} pgtext_list_t;

typedef enum {
    PGTEXT_ITEM_BAD = 0, /* not array_out / record_out text: the caller keeps the whole text */
    PGTEXT_ITEM_END,     /* the closing brace or parenthesis, consumed */
    PGTEXT_ITEM_NULL,    /* NULL in an array, an empty field in a record */
    PGTEXT_ITEM_BARE,    /* s[start, end), as it stands */
    PGTEXT_ITEM_QUOTED,  /* s[start, end) with its quotes; n bytes once unquoted */
    PGTEXT_ITEM_ARRAY,   /* arrays: a nested "{", at s[pos] */
} pgtext_item_kind_t;

typedef struct {
    pgtext_item_kind_t kind;
    size_t start, end, n;
} pgtext_item_t;

/* s[pos] == '{' (checked: else the first item is BAD). */
void pgtext_array_begin(pgtext_list_t *l, const char *s, size_t len, size_t pos, char delim);
/* s[0] == '(' (checked: else the first item is BAD). */
void pgtext_record_begin(pgtext_list_t *l, const char *s, size_t len);
pgtext_item_t pgtext_list_next(pgtext_list_t *l);

/* Writes a QUOTED item unescaped and NUL-terminated (its n + 1 bytes) into out; returns n. */
size_t pgtext_unquote(const char *s, const pgtext_item_t *item, char *out);

#endif
