/*
 * apply — a consumer that rebuilds a table from sluice's topic and compares
 * it with PostgreSQL: the round-trip and apply tests of issue 8.
 *
 *   apply --bootstrap B --conninfo C --topic T --table S.TABLE --copy S.COPY
 *         [--key k1,k2] [--placeholder P] [--expect-placeholders yes|no]
 *         [--no-nulls col1,col2] [--format json|protobuf]
 *
 * 1. Reads T read_committed from the beginning and replays it per record
 *    key: c/u set the row to "after", d removes it, t empties the table. A
 *    value equal to the TOAST placeholder keeps the row's previous value of
 *    that column (what docs/output.md tells consumers to do).
 * 2. Creates COPY (LIKE TABLE) and inserts every replayed row, turning each
 *    JSON value back into a PostgreSQL value by the type mapping
 *    ("the documented equivalent"), written as SQL so that PostgreSQL itself
 *    parses it: days since 1970 → '1970-01-01'::date + n, microseconds →
 *    timestamp arithmetic, base64 → decode(…), arrays → ARRAY[…], composites
 *    → ROW(…), everything else → 'text'::type.
 * 3. Compares TABLE and COPY: same row count and the same md5 over every
 *    row's text form (so every column's col::text must be equal). With
 *    --key, each differing column of each differing row is printed.
 *
 * --expect-placeholders: whether the placeholder must (yes) or must not (no)
 * appear in the events. --no-nulls: these columns must never be null in any
 * event (a fake null would be one). --format protobuf: the topic holds
 * sluice's Protobuf records, decoded (tests/tools/pbjson.h) into the JSON the
 * json format writes, then replayed the same way. Exit 0 when everything
 * holds, 1 if not.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "kread.h"
#include "pbjson.h"

static const char *opt_bootstrap, *opt_conninfo, *opt_topic, *opt_table, *opt_copy, *opt_key,
    *opt_placeholder = "__debezium_unavailable_value", *opt_expect_ph, *opt_no_nulls,
    *opt_format = "json";
static PGconn *conn;
static long failures;
static long placeholders_seen, forbidden_nulls;
static char placeholder_b64[256];

static void failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failure(const char *fmt, ...)
{
    failures++;
    if (failures > 40)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "MISMATCH: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static PGresult *q(const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
        kread_die("query failed: %.300s: %s", sql, PQresultErrorMessage(r));
    return r;
}

/* ---- growable string ---- */
typedef struct {
    char *p;
    size_t len, cap;
} sb_t;
static void sb_put(sb_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void sb_puts(sb_t *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_printf(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb_t *b, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    sb_put(b, buf, (size_t) n);
}
static void sb_literal(sb_t *b, const char *s)
{
    sb_put(b, "'", 1);
    for (; *s; s++) {
        if (*s == '\'')
            sb_put(b, "'", 1);
        sb_put(b, s, 1);
    }
    sb_put(b, "'", 1);
}

/* ---- types, from the catalog ---- */
typedef struct type_info type_info_t;
struct type_info {
    uint32_t oid;
    char typtype;
    char *sqlname;
    type_info_t *base; /* domains */
    type_info_t *elem; /* arrays */
    int nfields;
    char **field_names;
    type_info_t **field_types;
    type_info_t *next;
};
static type_info_t *types;

static type_info_t *type_get(uint32_t oid)
{
    for (type_info_t *t = types; t; t = t->next)
        if (t->oid == oid)
            return t;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT typtype, typbasetype, typelem, typrelid, typlen, "
             "typsubscript = 'array_subscript_handler'::regproc, format_type(oid, NULL) "
             "FROM pg_type WHERE oid = %u",
             oid);
    PGresult *r = q(sql);
    if (PQntuples(r) != 1)
        kread_die("type %u not found", oid);
    type_info_t *t = calloc(1, sizeof *t);
    t->oid = oid;
    t->typtype = PQgetvalue(r, 0, 0)[0];
    /* The bare names of bit and character mean bit(1) and character(1): cast through the
     * unbounded types, the column's own typmod applies on assignment. */
    const char *sqlname = PQgetvalue(r, 0, 6);
    if (oid == 1560 || oid == 1561)
        sqlname = oid == 1560 ? "bit varying" : "bit varying[]";
    if (oid == 1042 || oid == 1014)
        sqlname = oid == 1042 ? "text" : "text[]";
    t->sqlname = strdup(sqlname);
    uint32_t base = (uint32_t) strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    uint32_t elem = (uint32_t) strtoul(PQgetvalue(r, 0, 2), NULL, 10);
    uint32_t relid = (uint32_t) strtoul(PQgetvalue(r, 0, 3), NULL, 10);
    bool is_array = PQgetvalue(r, 0, 5)[0] == 't' && atoi(PQgetvalue(r, 0, 4)) == -1 && elem;
    PQclear(r);
    t->next = types;
    types = t;
    if (t->typtype == 'd')
        t->base = type_get(base);
    if (is_array && oid != 22 && oid != 30)
        t->elem = type_get(elem);
    if (t->typtype == 'c') {
        snprintf(sql, sizeof sql,
                 "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = %u AND attnum > 0 "
                 "AND NOT attisdropped ORDER BY attnum",
                 relid);
        r = q(sql);
        t->nfields = PQntuples(r);
        t->field_names = calloc((size_t) t->nfields + 1, sizeof *t->field_names);
        t->field_types = calloc((size_t) t->nfields + 1, sizeof *t->field_types);
        for (int i = 0; i < t->nfields; i++)
            t->field_names[i] = strdup(PQgetvalue(r, i, 0));
        uint32_t ftypes[256];
        for (int i = 0; i < t->nfields && i < 256; i++)
            ftypes[i] = (uint32_t) strtoul(PQgetvalue(r, i, 1), NULL, 10);
        PQclear(r);
        for (int i = 0; i < t->nfields && i < 256; i++)
            t->field_types[i] = type_get(ftypes[i]);
    }
    return t;
}

/* The JSON number's text as sluice wrote it (integers exactly; reals to 17 digits). */
static void number_text(json_t *v, char *buf, size_t n)
{
    if (json_is_integer(v))
        snprintf(buf, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else
        snprintf(buf, n, "%.17g", json_real_value(v));
}

static void expr(sb_t *b, json_t *v, const type_info_t *t);

static void array_body(sb_t *b, json_t *v, const type_info_t *elem)
{
    sb_puts(b, "ARRAY[");
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
    {
        if (i)
            sb_puts(b, ",");
        if (json_is_array(e))
            array_body(b, e, elem); /* the next dimension */
        else
            expr(b, e, elem);
    }
    sb_puts(b, "]");
}

/* Microseconds since midnight as "HH:MM:SS.ffffff". */
static void time_text(long long us, char *buf, size_t n)
{
    snprintf(buf, n, "%02lld:%02lld:%02lld.%06lld", us / 3600000000LL, us / 60000000LL % 60,
             us / 1000000LL % 60, us % 1000000LL);
}

/* ISO-8601 with astronomical years ("-0043-03-15T00:00:00Z") → PostgreSQL's form. */
static void zoned_to_pg(const char *s, sb_t *out)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    bool bc = false;
    char *p = buf;
    if (*p == '+') {
        p++;
    } else if (*p == '-') {
        long y = strtol(p + 1, NULL, 10);
        char *dash = strchr(p + 1, '-');
        char rest[96];
        snprintf(rest, sizeof rest, "%s", dash ? dash : "");
        snprintf(buf, sizeof buf, "%04ld%s", 1 + y, rest); /* astronomical -y is (1 + y) BC */
        p = buf;
        bc = true;
    }
    char *T = strchr(p, 'T');
    if (T)
        *T = ' ';
    size_t l = strlen(p);
    char fixed[200];
    if (l && p[l - 1] == 'Z') {
        p[l - 1] = '\0';
        snprintf(fixed, sizeof fixed, "%s+00%s", p, bc ? " BC" : "");
    } else {
        snprintf(fixed, sizeof fixed, "%s%s", p, bc ? " BC" : "");
    }
    sb_literal(out, fixed);
}

static void expr(sb_t *b, json_t *v, const type_info_t *t)
{
    if (json_is_null(v)) {
        sb_printf(b, "NULL::%s", t->sqlname);
        return;
    }
    if (t->base) { /* domain: its base type's form */
        sb_puts(b, "(");
        expr(b, v, t->base);
        sb_printf(b, ")::%s", t->sqlname);
        return;
    }
    char num[64];
    const char *s = json_string_value(v);
    if (t->elem) {
        if (json_is_array(v) && json_array_size(v) == 0)
            sb_printf(b, "'{}'::%s", t->sqlname);
        else if (json_is_array(v)) {
            array_body(b, v, t->elem);
            sb_printf(b, "::%s", t->sqlname);
        } else {
            sb_literal(b, s ? s : "?");
            sb_printf(b, "::%s", t->sqlname);
        }
        return;
    }
    if (t->typtype == 'c' && json_is_object(v)) {
        sb_puts(b, "ROW(");
        for (int i = 0; i < t->nfields; i++) {
            if (i)
                sb_puts(b, ",");
            json_t *f = json_object_get(v, t->field_names[i]);
            expr(b, f ? f : json_null(), t->field_types[i]);
        }
        sb_printf(b, ")::%s", t->sqlname);
        return;
    }
    if (json_is_boolean(v)) {
        sb_printf(b, "%s::%s", json_is_true(v) ? "true" : "false", t->sqlname);
        return;
    }
    switch (t->oid) {
    case 17: /* bytea */
        sb_puts(b, "decode(");
        sb_literal(b, s ? s : "");
        sb_puts(b, ", 'base64')");
        return;
    case 790: /* money: an exact decimal */
        if (json_is_number(v)) {
            number_text(v, num, sizeof num);
            s = num;
        }
        sb_literal(b, s ? s : "");
        sb_puts(b, "::numeric::money");
        return;
    case 1082: /* date: days since 1970 */
        if (json_is_integer(v)) {
            json_int_t n = json_integer_value(v);
            if (n == 2147483647LL)
                sb_puts(b, "'infinity'::date");
            else if (n == -2147483648LL)
                sb_puts(b, "'-infinity'::date");
            else
                sb_printf(b, "('1970-01-01'::date + %" JSON_INTEGER_FORMAT ")", n);
            return;
        }
        break;
    case 1083: /* time: microseconds since midnight */
        if (json_is_integer(v)) {
            time_text(json_integer_value(v), num, sizeof num);
            sb_literal(b, num);
            sb_puts(b, "::time");
            return;
        }
        break;
    case 1114: /* timestamp: microseconds since 1970 */
        if (json_is_integer(v)) {
            json_int_t n = json_integer_value(v);
            if (n == INT64_MAX)
                sb_puts(b, "'infinity'::timestamp");
            else if (n == INT64_MIN)
                sb_puts(b, "'-infinity'::timestamp");
            else
                sb_printf(b,
                          "('1970-01-01 00:00:00'::timestamp + (%" JSON_INTEGER_FORMAT
                          "::bigint / 86400000000) * interval '1 day' + (%" JSON_INTEGER_FORMAT
                          "::bigint %% 86400000000) * interval '1 microsecond')",
                          n, n);
            return;
        }
        break;
    case 1184: /* timestamptz: ISO-8601 */
    case 1266: /* timetz */
        if (s && strcmp(s, "infinity") && strcmp(s, "-infinity")) {
            zoned_to_pg(s, b);
            sb_printf(b, "::%s", t->sqlname);
            return;
        }
        break;
    default: break;
    }
    if (json_is_number(v)) {
        number_text(v, num, sizeof num);
        s = num;
    }
    sb_literal(b, s ? s : "?");
    sb_printf(b, "::%s", t->sqlname);
}

/* ---- replay ---- */

static json_t *rows; /* canonical key → after */

static bool is_placeholder(json_t *v)
{
    const char *s = json_string_value(v);
    return s && (!strcmp(s, opt_placeholder) || !strcmp(s, placeholder_b64));
}

static bool in_list(const char *list, const char *name)
{
    if (!list)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t) (c - p) : strlen(p);
        if (l == n && !strncmp(p, name, n))
            return true;
        p += l + (c ? 1 : 0);
    }
    return false;
}

static json_t *unwrap(json_t *j)
{
    json_t *p = json_object_get(j, "payload");
    return p && json_object_get(j, "schema") ? p : j;
}

static void replay(const kread_record_t *r)
{
    if (!r->value)
        return; /* tombstone */
    json_error_t e;
    json_t *root = json_loads(r->value, 0, &e);
    if (!root)
        kread_die("invalid JSON in %s@%" PRId64 ": %s", r->topic, r->offset, e.text);
    json_t *v = unwrap(root);
    const char *op = json_string_value(json_object_get(v, "op"));
    if (!op)
        kread_die("record without op at offset %" PRId64, r->offset);
    if (*op == 't') {
        json_object_clear(rows);
        json_decref(root);
        return;
    }
    if (!r->key)
        kread_die("%c event without a key at offset %" PRId64 ": the table needs a primary key",
                  *op, r->offset);
    json_t *kj = json_loads(r->key, 0, &e);
    if (!kj)
        kread_die("invalid key JSON: %s", e.text);
    char *ck = json_dumps(unwrap(kj), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(kj);
    json_t *after = json_object_get(v, "after");
    const char *col;
    json_t *val;
    json_object_foreach(after, col, val)
    {
        if (is_placeholder(val))
            placeholders_seen++;
        if (json_is_null(val) && in_list(opt_no_nulls, col)) {
            forbidden_nulls++;
            failure("%s event at offset %" PRId64 " has null for \"%s\"", op, r->offset, col);
        }
    }
    if (*op == 'd') {
        json_object_del(rows, ck);
    } else if (*op == 'c' || *op == 'u' || *op == 'r') {
        json_t *prev = json_object_get(rows, ck);
        json_t *row = json_deep_copy(after);
        if (prev) {
            json_object_foreach(row, col, val) if (is_placeholder(val))
                json_object_set(row, col, json_object_get(prev, col));
        }
        json_object_set_new(rows, ck, row);
    }
    free(ck);
    json_decref(root);
}

static void base64(const char *in, char *out, size_t cap)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    const unsigned char *d = (const unsigned char *) in;
    for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
        uint32_t v = (uint32_t) d[i] << 16 | (i + 1 < n ? (uint32_t) d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}

int main(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--bootstrap")) opt_bootstrap = v;
        else if (!strcmp(k, "--conninfo")) opt_conninfo = v;
        else if (!strcmp(k, "--topic")) opt_topic = v;
        else if (!strcmp(k, "--table")) opt_table = v;
        else if (!strcmp(k, "--copy")) opt_copy = v;
        else if (!strcmp(k, "--key")) opt_key = v;
        else if (!strcmp(k, "--placeholder")) opt_placeholder = v;
        else if (!strcmp(k, "--expect-placeholders")) opt_expect_ph = v;
        else if (!strcmp(k, "--no-nulls")) opt_no_nulls = v;
        else if (!strcmp(k, "--format")) opt_format = v;
        else kread_die("unknown option %s", k);
    }
    if (!opt_bootstrap || !opt_conninfo || !opt_topic || !opt_table || !opt_copy)
        kread_die("usage: apply --bootstrap B --conninfo C --topic T --table S.T --copy S.C [...]");
    base64(opt_placeholder, placeholder_b64, sizeof placeholder_b64);
    conn = PQconnectdb(opt_conninfo);
    if (PQstatus(conn) != CONNECTION_OK)
        kread_die("connect: %s", PQerrorMessage(conn));
    PQclear(q("SET extra_float_digits = 1; SET DateStyle = ISO; SET IntervalStyle = postgres"));

    size_t n;
    kread_record_t *recs = kread_records(opt_bootstrap, opt_topic, true, NULL, &n);
    if (!strcmp(opt_format, "protobuf"))
        pbj_records_to_json(recs, n, "", &(pbj_options_t) {0});
    rows = json_object();
    for (size_t i = 0; i < n; i++)
        replay(&recs[i]);
    fprintf(stderr, "apply: %zu records, %zu rows after replay, %ld placeholders\n", n,
            json_object_size(rows), placeholders_seen);

    char sql[2048];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s; CREATE TABLE %s (LIKE %s)", opt_copy,
             opt_copy, opt_table);
    PQclear(q(sql));
    snprintf(sql, sizeof sql,
             "SELECT attname, atttypid FROM pg_attribute WHERE attrelid = '%s'::regclass "
             "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
             opt_copy);
    PGresult *cols = q(sql);
    int ncols = PQntuples(cols);
    /* One INSERT per 500 rows (or 4 MB of SQL): a row per statement took an hour for
     * the snapshot benchmark's 5 M rows, a round trip each. */
    sb_t head = {0};
    sb_printf(&head, "INSERT INTO %s (", opt_copy);
    for (int c = 0; c < ncols; c++) {
        const char *name = PQgetvalue(cols, c, 0);
        char *qn = PQescapeIdentifier(conn, name, strlen(name));
        sb_printf(&head, "%s%s", c ? "," : "", qn);
        PQfreemem(qn);
    }
    sb_puts(&head, ") VALUES ");
    PQclear(q("BEGIN"));
    sb_t ins = {0};
    size_t batched = 0, left = json_object_size(rows);
    const char *k;
    json_t *row;
    json_object_foreach(rows, k, row)
    {
        if (!batched)
            sb_put(&ins, head.p, head.len);
        sb_puts(&ins, batched ? ",(" : "(");
        for (int c = 0; c < ncols; c++) {
            if (c)
                sb_puts(&ins, ",");
            json_t *v = json_object_get(row, PQgetvalue(cols, c, 0));
            expr(&ins, v ? v : json_null(),
                 type_get((uint32_t) strtoul(PQgetvalue(cols, c, 1), NULL, 10)));
        }
        sb_puts(&ins, ")");
        batched++;
        left--;
        if (batched < 500 && ins.len < (4u << 20) && left)
            continue;
        PGresult *r = PQexec(conn, ins.p);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            kread_die("decoding %zu rows (the last %s) back failed: %s\n%.2000s", batched, k,
                      PQresultErrorMessage(r), ins.p);
        PQclear(r);
        ins.len = 0;
        ins.p[0] = '\0';
        batched = 0;
    }
    free(ins.p);
    free(head.p);
    PQclear(q("COMMIT"));

    /* The whole table: count and every row's text form (an alias no column can shadow). */
    snprintf(sql, sizeof sql,
             "SELECT (SELECT count(*) FROM %s), (SELECT count(*) FROM %s), "
             "(SELECT md5(coalesce(string_agg(apply_row_::text, E'\\n' ORDER BY apply_row_::text), '')) "
             "FROM %s apply_row_), "
             "(SELECT md5(coalesce(string_agg(apply_row_::text, E'\\n' ORDER BY apply_row_::text), '')) "
             "FROM %s apply_row_)",
             opt_table, opt_copy, opt_table, opt_copy);
    PGresult *r = q(sql);
    fprintf(stderr, "apply: source %s rows md5 %s, copy %s rows md5 %s\n", PQgetvalue(r, 0, 0),
            PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 3));
    bool equal = !strcmp(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1)) &&
                 !strcmp(PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
    PQclear(r);
    if (!equal) {
        failure("the copy rebuilt from Kafka differs from %s", opt_table);
        if (opt_key) {
            for (int c = 0; c < ncols; c++) {
                char *qn = PQescapeIdentifier(conn, PQgetvalue(cols, c, 0), strlen(PQgetvalue(cols, c, 0)));
                snprintf(sql, sizeof sql,
                         "SELECT (%s)::text, s.%s::text, c.%s::text FROM %s s FULL JOIN %s c USING (%s) "
                         "WHERE s.%s::text IS DISTINCT FROM c.%s::text LIMIT 5",
                         opt_key, qn, qn, opt_table, opt_copy, opt_key, qn, qn);
                PQfreemem(qn);
                r = q(sql);
                for (int i = 0; i < PQntuples(r); i++)
                    failure("row (%s) column %s: PostgreSQL has %s, Kafka gave %s",
                            PQgetvalue(r, i, 0), PQgetvalue(cols, c, 0),
                            PQgetisnull(r, i, 1) ? "(no row/NULL)" : PQgetvalue(r, i, 1),
                            PQgetisnull(r, i, 2) ? "(no row/NULL)" : PQgetvalue(r, i, 2));
                PQclear(r);
            }
        }
    }
    if (opt_expect_ph && !strcmp(opt_expect_ph, "yes") && placeholders_seen == 0)
        failure("expected TOAST placeholders in the events, saw none");
    if (opt_expect_ph && !strcmp(opt_expect_ph, "no") && placeholders_seen > 0)
        failure("expected no TOAST placeholder, saw %ld", placeholders_seen);
    PQclear(cols);
    PQfinish(conn);
    if (failures)
        fprintf(stderr, "apply: %ld failures\n", failures);
    else
        fprintf(stderr, "apply: the copy equals %s\n", opt_table);
    return failures ? 1 : 0;
}
