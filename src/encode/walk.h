/*
 * walk.h — the value walker the encoders share (private to src/encode/).
 *
 * A column value arrives as PostgreSQL's text form; its type (pgtypes.h)
 * says which form it takes. The walker reads the text by that form — the
 * scalars with pgtext.h's parsers, arrays by array_out's grammar and quoting,
 * composites by record_out's, nested up to WALK_MAX_DEPTH — and tells a
 * writer what it found through the callbacks below. json.c and protobuf.c are
 * the two writers: they decide only how a value looks in their format, so
 * both read every text the same way.
 *
 * The walker also applies the value forms of the configuration (config.h,
 * value_forms_t), so both formats write the same value for the same text:
 * decimals (decimal.handling.mode: the text, the nearest double, or the
 * unscaled two's-complement bytes of Connect's Decimal), intervals
 * (interval.handling.mode), and the values Java and most stores cannot hold
 * (±infinity and 24:00:00: infinity.handling.mode; years outside 1..9999:
 * year.range.handling.mode; NaN and ±Infinity: float.special.handling.mode).
 * Where a mode says null, a value that must not be null (nullable = false: a
 * NOT NULL or key column under json.schemas) takes the clamped form instead
 * (the string for floats, 0 for a precise decimal).
 *
 * Text that is not its type's form (never from PostgreSQL, but never a crash
 * or a dropped value either), an array with other lower bounds than 1
 * ("[0:2]={…}", which neither format can say), a value nested too deep, and a
 * value the writer refuses (a callback returning false) are written as the
 * text itself, through `string`. For an array or composite that turns out
 * malformed half way the walker first rolls the writer back to where the
 * value began (mark / rollback), so no half-written value is left behind.
 *
 * Slots: each value is written into a slot, the writer's own handle that the
 * walker only passes along. Protobuf's slot is the Sluice__Value to fill;
 * JSON appends in order and has none (NULL). An array element or composite
 * field gets its slot from array_element / composite_field, which is where a
 * writer also writes its separators.
 *
 * Cost: one writer call per value (two for an array element or composite
 * field), never one per byte. Quoted items are unescaped into per-depth
 * scratch buffers the walker keeps, so a walker in steady state allocates
 * nothing; text handed to a writer is borrowed for the call.
 */
#ifndef SLUICE_WALK_H
#define SLUICE_WALK_H

#include "sluice/base/buf.h"
#include "sluice/base/common.h"
#include "sluice/base/config.h"
#include "sluice/pg/pgtypes.h"

/* Nesting of arrays in composites in arrays...; a value at depth WALK_MAX_DEPTH - 1 that is
 * itself an array or composite is written as its text (so are Kafka Connect schemas, json.c). */
#define WALK_MAX_DEPTH 8
/* Dimensions of one array: PostgreSQL's MAXDIM; array text with more is malformed. */
#define WALK_MAX_DIMS 6

/* pgtext.h's ISO-8601 formatters: append to out, or return false leaving it as it was. */
typedef bool (*walk_iso_fn)(const char *s, size_t len, strbuf_t *out);

typedef struct {
    /* NULL: an array's NULL element or a composite's empty field. */
    void (*null)(void *ctx, void *slot);
    void (*boolean)(void *ctx, void *slot, bool v);
    /* An integer as PostgreSQL writes one (no leading zeros, within int64): its digits and value. */
    void (*integer)(void *ctx, void *slot, const char *digits, size_t len, int64_t v);
    /*
     * real (single) or double precision: digits is a decimal number as JSON
     * writes one (pgtext_is_number); NULL for NaN, Infinity and -Infinity,
     * whose value is special. False: no form for it in this format (text).
     */
    bool (*floating)(void *ctx, void *slot, bool single, const char *digits, size_t len,
                     double special);
    /* An exact decimal: numeric's text as it is (NaN and ±Infinity included), money's "-1234.56"
     * (decimal.handling.mode = string). */
    void (*numeric)(void *ctx, void *slot, const char *decimal, size_t len);
    /*
     * decimal.handling.mode = precise: the unscaled value (n bytes, big-endian
     * two's complement, borrowed for the call) at `scale`; variable_scale for
     * a numeric without a declared scale (Debezium's VariableScaleDecimal).
     */
    void (*decimal)(void *ctx, void *slot, const uint8_t *unscaled, size_t n, int32_t scale,
                    bool variable_scale);
    /* bytea's hex text "\x…": the writer decodes it (pgtext_bytea_hex) where its bytes belong.
     * False: not hex text (the writer wrote nothing; the walker writes the text). */
    bool (*bytea)(void *ctx, void *slot, const char *hex, size_t len);
    /* DATE: days since 1970-01-01; TIME, TIMESTAMP: microseconds (pgtext.h's values), after
     * the infinity and year modes; INTERVAL (interval.handling.mode = numeric): microseconds.
     * False: out of the format's range (text). */
    bool (*temporal)(void *ctx, void *slot, pgtype_form_t form, int64_t v);
    /*
     * timestamptz, timetz: the writer runs iso (pgtext_timestamptz_iso or
     * pgtext_timetz_iso) on the text, appending the ISO-8601 string to a
     * buffer of its own, and writes that as a string. False: iso refused the
     * text (the writer wrote nothing; the walker writes the text).
     */
    bool (*iso)(void *ctx, void *slot, const char *s, size_t len, walk_iso_fn iso);
    /* A string: a value's text form, as it is. */
    void (*string)(void *ctx, void *slot, const char *s, size_t len);

    /* An array dimension: begin returns a token the element and end calls get back. */
    size_t (*array_begin)(void *ctx, void *slot);
    void *(*array_element)(void *ctx, size_t array, size_t index); /* returns the element's slot */
    void (*array_end)(void *ctx, void *slot, size_t array);
    /* A composite of nfields fields, each announced in order before its value. */
    void (*composite_begin)(void *ctx, void *slot, uint16_t nfields);
    void *(*composite_field)(void *ctx, void *slot, uint16_t index, const char *name,
                             const pgtype_t *type); /* returns the field's slot */
    void (*composite_end)(void *ctx, void *slot);

    /* Where the writer is, and a return there that forgets everything written since. */
    size_t (*mark)(void *ctx);
    void (*rollback)(void *ctx, size_t mark);
} walk_writer_t;

typedef struct {
    const walk_writer_t *writer;
    void *ctx;
    value_forms_t forms;              /* float_special resolved: never FLOAT_SPECIAL_AUTO */
    strbuf_t scratch[WALK_MAX_DEPTH]; /* quoted items unescaped, one buffer per depth */
    strbuf_t bytes;                   /* a precise decimal's unscaled bytes */
    bool warned_required_decimal;     /* logged once: NaN in a NOT NULL precise decimal */
} walk_t;

/*
 * A walker that drives writer with ctx (both borrowed, kept until walk_free)
 * and writes values in the forms of `forms` (copied; FLOAT_SPECIAL_AUTO
 * becomes null with schemas, string without).
 */
void walk_init(walk_t *w, const walk_writer_t *writer, void *ctx, const value_forms_t *forms,
               bool schemas);
/* Frees the walker's buffers (not w itself). */
void walk_free(walk_t *w);

/*
 * Writes the non-null value s[0, len) (not NUL-terminated; borrowed for the
 * call) of `type` into slot, in the type's form or else as its text. typmod
 * is the column's pg_attribute.atttypmod (-1: none; numeric's precision and
 * scale for decimal.handling.mode = precise); nullable is false where a
 * value must never be written as null (see above).
 */
void walk_text(walk_t *w, void *slot, const pgtype_t *type, int32_t typmod, bool nullable,
               const char *s, size_t len);

#endif
