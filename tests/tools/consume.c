/*
 * consume — prints what a read_committed consumer sees on sluice's topics,
 * normalized for golden tests, and checks Kafka Connect schemas.
 *
 *   consume --bootstrap B --prefix P [--check-schemas] [--format json|protobuf [--defaults]]
 *
 * Reads every topic "<P>.*" but the checkpoint topic, in production order
 * (commit LSN, then position in the source transaction), and prints one
 * line per record:
 *
 *   <topic without "P."> key=<key JSON|null> value=<value JSON|null>
 *
 * Values that change from run to run are replaced by "*": ts_ms, ts_us, ts_ns,
 * txId, lsn, sequence, transaction ids. The replacement works on the JSON text sluice
 * wrote, so every other byte (numbers included) is printed as produced.
 * With schemas ({"schema":…,"payload":…}) the payload is printed, and the
 * schema on a line of its own each time it differs from the last one printed
 * for that topic.
 *
 * Always checked: the records of one source transaction (one sluice.lsn)
 * all carry the same sluice.batch — one Kafka transaction holds the whole
 * source transaction, transactional logical messages and transaction
 * metadata events included. A violation is printed and the exit status is 1.
 *
 * --check-schemas: every record must be {"schema","payload"} and the payload
 * must match the schema exactly (types, ranges, fields, optionality), and so
 * must every field's "default"; each
 * mismatch is printed to stderr and the exit status is 1.
 *
 * --format protobuf: the topics hold sluice's Protobuf records; each is
 * decoded with protobuf-c into the JSON text the json format writes for the
 * same event (tests/tools/pbjson.h), so the same expected output serves both
 * formats. --defaults adds each after row's column defaults
 * (Column.default_value) as "after_defaults", which has no JSON twin.
 */
#include <jansson.h>
#include <stdbool.h>

#include "kread.h"
#include "pbjson.h"

static const char *opt_bootstrap, *opt_prefix;
static bool opt_check, opt_protobuf, opt_defaults;
static long schema_errors;

/* Length of the JSON value at s (strings and nesting respected); 0 if unterminated. */
static size_t json_span(const char *s)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\' && s[i + 1])
                i++;
            else if (c == '"')
                in_str = false;
            if (!in_str && depth == 0)
                return i + 1;
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && depth == 0)
            return i; /* the end of a scalar inside its parent */
        else if (c == '}' || c == ']') {
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && c == ',')
            return i;
    }
    return 0;
}

/* Replaces the value of every "name": in text by "*" (in place, into out). */
static char *mask_fields(const char *text)
{
    static const char *const names[] = {"\"ts_ms\":", "\"txId\":", "\"lsn\":", "\"sequence\":",
                                        "\"id\":", "\"version\":", "\"ts_us\":", "\"ts_ns\":"};
    size_t len = strlen(text);
    char *out = malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        bool masked = false;
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
            size_t nl = strlen(names[k]);
            if (strncmp(text + i, names[k], nl) != 0)
                continue;
            /* Only keys: the character before must be '{' or ','. */
            if (i == 0 || (text[i - 1] != '{' && text[i - 1] != ','))
                continue;
            const char *v = text + i + nl;
            if (strncmp(v, "null", 4) == 0)
                continue;
            size_t vl = json_span(v);
            if (vl == 0)
                continue;
            /* "id" masks only transaction ids ("<xid>:<lsn>"), not user columns called id. */
            if (k == 4 && !(v[0] == '"' && memchr(v, ':', vl)))
                continue;
            /* "version" masks sluice's version string, not the schemas' "version":1. */
            if (k == 5 && v[0] != '"')
                continue;
            memcpy(out + o, text + i, nl);
            o += nl;
            memcpy(out + o, "\"*\"", 3);
            o += 3;
            i += nl + vl;
            masked = true;
            break;
        }
        if (!masked)
            out[o++] = text[i++];
    }
    out[o] = '\0';
    return out;
}

/* ---- schema check ---- */

static void schema_error(const char *where, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void schema_error(const char *where, const char *fmt, ...)
{
    schema_errors++;
    if (schema_errors > 50)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "SCHEMA MISMATCH at %s: ", where);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static bool is_base64(const char *s)
{
    size_t n = strlen(s);
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || (c == '=' && i >= n - 2);
        if (!ok)
            return false;
    }
    return true;
}

static void check_value(json_t *schema, json_t *v, const char *path);

static void check_struct(json_t *schema, json_t *v, const char *path)
{
    if (!json_is_object(v)) {
        schema_error(path, "struct expected");
        return;
    }
    json_t *fields = json_object_get(schema, "fields");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "field"));
        char sub[1024];
        snprintf(sub, sizeof sub, "%s.%s", path, name ? name : "?");
        /* A default must be a value of the field's own schema (a converter parses it so). */
        json_t *def = json_object_get(f, "default");
        if (def) {
            char dsub[1100];
            snprintf(dsub, sizeof dsub, "%s (default)", sub);
            check_value(f, def, dsub);
        }
        json_t *fv = json_object_get(v, name);
        if (!fv) {
            if (!json_is_true(json_object_get(f, "optional")))
                schema_error(sub, "required field missing");
            continue;
        }
        check_value(f, fv, sub);
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val)
    {
        bool found = false;
        json_array_foreach(fields, i, f) if (!strcmp(json_string_value(json_object_get(f, "field")), key))
            found = true;
        if (!found)
            schema_error(path, "field \"%s\" is not in the schema", key);
    }
}

static void check_value(json_t *schema, json_t *v, const char *path)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type) {
        schema_error(path, "schema without a type");
        return;
    }
    if (json_is_null(v)) {
        if (!json_is_true(json_object_get(schema, "optional")))
            schema_error(path, "null in a required %s", type);
        return;
    }
    if (!strcmp(type, "string")) {
        if (!json_is_string(v))
            schema_error(path, "string expected");
    } else if (!strcmp(type, "boolean")) {
        if (!json_is_boolean(v))
            schema_error(path, "boolean expected");
    } else if (!strcmp(type, "int8") || !strcmp(type, "int16") || !strcmp(type, "int32") ||
               !strcmp(type, "int64")) {
        int bits = atoi(type + 3);
        if (!json_is_integer(v)) {
            schema_error(path, "%s expected", type);
        } else if (bits < 64) {
            json_int_t x = json_integer_value(v), lim = (json_int_t) 1 << (bits - 1);
            if (x < -lim || x >= lim)
                schema_error(path, "%" JSON_INTEGER_FORMAT " out of %s range", x, type);
        }
    } else if (!strcmp(type, "float") || !strcmp(type, "double")) {
        /* Non-finite values are strings, as Jackson writes them for Connect. */
        const char *s = json_string_value(v);
        if (!json_is_number(v) &&
            !(s && (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity"))))
            schema_error(path, "%s expected", type);
    } else if (!strcmp(type, "bytes")) {
        if (!json_is_string(v) || !is_base64(json_string_value(v)))
            schema_error(path, "base64 bytes expected");
    } else if (!strcmp(type, "array")) {
        if (!json_is_array(v)) {
            schema_error(path, "array expected");
            return;
        }
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            char sub[1024];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            check_value(json_object_get(schema, "items"), e, sub);
        }
    } else if (!strcmp(type, "struct")) {
        check_struct(schema, v, path);
    } else {
        schema_error(path, "unknown schema type \"%s\"", type);
    }
}

static void check_record(const kread_record_t *r, const char *what, const char *text)
{
    char where[512];
    snprintf(where, sizeof where, "%s[%d]@%" PRId64 " %s", r->topic, r->partition, r->offset, what);
    json_error_t e;
    json_t *root = json_loads(text, 0, &e);
    if (!root) {
        schema_error(where, "invalid JSON: %s", e.text);
        return;
    }
    json_t *schema = json_object_get(root, "schema"), *payload = json_object_get(root, "payload");
    if (!schema || !payload || json_object_size(root) != 2)
        schema_error(where, "not {\"schema\",\"payload\"}");
    else
        check_value(schema, payload, where);
    json_decref(root);
}

/* ---- printing ---- */

typedef struct {
    char *topic;
    char *key_schema, *value_schema;
} seen_t;
static seen_t seen[256];
static int nseen;

static seen_t *seen_for(const char *topic)
{
    for (int i = 0; i < nseen; i++)
        if (!strcmp(seen[i].topic, topic))
            return &seen[i];
    if (nseen == 256)
        kread_die("too many topics");
    seen[nseen].topic = strdup(topic);
    return &seen[nseen++];
}

/* Prints text (key or value) as payload, and its schema when it changed. */
static void print_part(const char *suffix, const char *what, const char *text, char **last,
                       char *line, size_t cap)
{
    if (!text) {
        strncat(line, "null", cap - strlen(line) - 1);
        return;
    }
    const char *shown = text;
    if (!strncmp(text, "{\"schema\":", 10)) {
        size_t sl = json_span(text + 10);
        const char *p = text + 10 + sl;
        if (sl && !strncmp(p, ",\"payload\":", 11)) {
            char *schema = kread_strndup(text + 10, sl);
            if (!*last || strcmp(*last, schema)) {
                printf("%s %s-schema=%s\n", suffix, what, schema);
                free(*last);
                *last = schema;
            } else {
                free(schema);
            }
            shown = p + 11;
        }
    }
    char *masked = mask_fields(shown);
    size_t ml = strlen(masked);
    /* Strip the closing brace of the {"schema","payload"} wrapper. */
    if (shown != text && ml > 0)
        masked[--ml] = '\0';
    strncat(line, masked, cap - strlen(line) - 1);
    free(masked);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
            opt_bootstrap = argv[++i];
        else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
            opt_prefix = argv[++i];
        else if (!strcmp(argv[i], "--check-schemas"))
            opt_check = true;
        else if (!strcmp(argv[i], "--format") && i + 1 < argc)
            opt_protobuf = !strcmp(argv[++i], "protobuf");
        else if (!strcmp(argv[i], "--defaults"))
            opt_defaults = true;
        else
            kread_die("usage: consume --bootstrap B --prefix P [--check-schemas] [--format json|protobuf [--defaults]]");
    }
    if (!opt_bootstrap || !opt_prefix)
        kread_die("usage: consume --bootstrap B --prefix P [--check-schemas] [--format json|protobuf [--defaults]]");
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s.", opt_prefix);
    size_t n;
    static const char *const skip[] = {"sluice.checkpoint", NULL};
    kread_record_t *recs = kread_records(opt_bootstrap, prefix, false, skip, &n);
    if (opt_protobuf)
        pbj_records_to_json(recs, n, opt_prefix, &(pbj_options_t) {.show_defaults = opt_defaults});
    size_t cap = 1 << 22;
    char *line = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        const kread_record_t *r = &recs[i];
        const char *suffix = r->topic + strlen(prefix);
        seen_t *s = seen_for(r->topic);
        line[0] = '\0';
        strncat(line, "key=", cap - 1);
        print_part(suffix, "key", r->key, &s->key_schema, line, cap);
        strncat(line, " value=", cap - strlen(line) - 1);
        print_part(suffix, "value", r->value, &s->value_schema, line, cap);
        printf("%s %s\n", suffix, line);
        if (opt_check) {
            if (r->key)
                check_record(r, "key", r->key);
            if (r->value)
                check_record(r, "value", r->value);
        }
    }
    long split = 0;
    for (size_t i = 1; i < n; i++)
        if (recs[i].lsn && recs[i].lsn == recs[i - 1].lsn && recs[i].xid == recs[i - 1].xid &&
            strcmp(recs[i].batch, recs[i - 1].batch) != 0 && split++ < 10)
            fprintf(stderr, "SPLIT: source transaction at %X/%08X spans Kafka transactions %s and %s\n",
                    (unsigned) (recs[i].lsn >> 32), (unsigned) recs[i].lsn, recs[i - 1].batch,
                    recs[i].batch);
    fflush(stdout);
    if (split)
        return 1;
    if (opt_check) {
        fprintf(stderr, "consume: %zu records, %ld schema mismatches\n", n, schema_errors);
        if (n == 0)
            kread_die("no records to check");
    }
    return schema_errors ? 1 : 0;
}
