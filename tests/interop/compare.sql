-- make interop's comparison of a consumer's copy with the source, run in the
-- source database (where every user type exists), reading the copy, in
-- another database of the same cluster, through dblink.
--
-- By value: rows are matched by the source's primary key (every column for
-- a table without one). A column's value is equal when the copy's value,
-- read as text and cast to the source column's type, has the same text form
-- as the source value (NULL equals NULL). Both sides are read with the same
-- session settings (UTC, ISO dates, shortest-exact floats), so the text
-- forms are PostgreSQL's canonical ones: a copy that kept a numeric as text,
-- a jsonb as json or a timestamp(3) as timestamp(6) is equal when the values
-- are; one that rounded, truncated, shifted or replaced a value is not.
--
-- By column: the copy's type (format_type, schema qualifier left out), NOT
-- NULL and default. A default is equal when both evaluate to the same value
-- of the source's type; a default that is not constant (now(), nextval())
-- is reported, not compared.
CREATE EXTENSION IF NOT EXISTS dblink SCHEMA interop_meta;

-- from_form(N, T): the value of a date, time or timestamp type T (or an
-- array of one) that a copy kept in sluice's documented numeric form
-- (docs/output.md: days, microseconds since midnight or since 1970, with
-- the infinity sentinels), as T's text form; NULL when N is no such form.
-- A consumer that stores the JSON forms as they come (Flink, whose SQL has
-- no exact conversion from microseconds) is compared through this.
CREATE OR REPLACE FUNCTION interop_meta.from_form(v text, typ text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    base text := regexp_replace(typ, '\[\]$', '');
    n numeric;
BEGIN
    IF typ LIKE '%[]' THEN
        RETURN (SELECT '{' || string_agg(coalesce('"' || interop_meta.from_form(e::text, base) || '"', 'NULL'), ',' ORDER BY i) || '}'
                FROM unnest(v::numeric[]) WITH ORDINALITY AS x(e, i));
    END IF;
    -- ISO 8601's years before 1 and after 9999 (sluice's timestamptz form):
    -- '-0043-03-15T12:00:00Z' is 44 BC, '+10000-01-01T00:00:00Z' 10000 AD.
    IF base LIKE 'timestamp%with time zone' AND v ~ '^[+-][0-9]{4,}-' THEN
        IF left(v, 1) = '-' THEN
            RETURN (regexp_replace(substr(v, 2), '^([0-9]+)', lpad((substr(v, 2, strpos(substr(v, 2), '-') - 1)::int + 1)::text, 4, '0'))
                    || ' BC')::timestamptz::text;
        END IF;
        RETURN substr(v, 2)::timestamptz::text;
    END IF;
    IF v !~ '^-?[0-9]+$' THEN
        RETURN NULL;
    END IF;
    n := v::numeric;
    IF base = 'date' THEN
        RETURN CASE n WHEN 2147483647 THEN 'infinity' WHEN -2147483648 THEN '-infinity'
                      ELSE ('1970-01-01'::date + n::int)::text END;
    ELSIF base LIKE 'time%without time zone' AND base NOT LIKE 'timestamp%' THEN
        RETURN CASE n WHEN 86400000000 THEN '24:00:00'
                      ELSE ('00:00'::time + n::bigint * interval '1 microsecond')::text END;
    ELSIF base LIKE 'timestamp%without time zone' THEN
        RETURN CASE n WHEN 9223372036854775807 THEN 'infinity' WHEN -9223372036854775808 THEN '-infinity'
                      ELSE ('1970-01-01'::timestamp + floor(n / 86400000000)::int * interval '1 day'
                            + (n - floor(n / 86400000000) * 86400000000)::bigint * interval '1 microsecond')::text END;
    END IF;
    RETURN NULL;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- json_array_literal(J, DELIM): a JSON array (sluice's JSON form of a
-- PostgreSQL array, nested per dimension) as an array literal with every
-- element quoted: '["a", null, 2]' → '{"a",NULL,"2"}'.
CREATE OR REPLACE FUNCTION interop_meta.json_array_literal(j jsonb, delim text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT '{' || coalesce(string_agg(CASE jsonb_typeof(e)
                   WHEN 'null' THEN 'NULL'
                   WHEN 'array' THEN interop_meta.json_array_literal(e, delim)
                   ELSE '"' || replace(replace(e #>> '{}', '\', '\\'), '"', '\"') || '"' END,
               delim ORDER BY i), '') || '}'
    FROM jsonb_array_elements(j) WITH ORDINALITY AS x(e, i)
$$;

-- from_json_composite(J, T): a composite (or an array of one) that a copy
-- kept in sluice's JSON form, an object of its fields (Flink's STRING
-- column), as the composite type T's text form: each field converted by
-- as_source with its own type, so a date field's days read back as a date.
-- NULL when T is no composite (or array of one) or J does not fit it.
CREATE OR REPLACE FUNCTION interop_meta.from_json_composite(j jsonb, typ text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    t oid := typ::regtype;
    rel oid;
    elem oid;
    r text;
BEGIN
    SELECT typrelid, typelem INTO rel, elem FROM pg_type WHERE oid = t;
    IF rel = 0 AND elem <> 0 AND jsonb_typeof(j) = 'array' THEN
        SELECT typrelid INTO rel FROM pg_type WHERE oid = elem;
        IF rel = 0 THEN
            RETURN NULL;
        END IF;
        SELECT '{' || coalesce(string_agg(CASE WHEN jsonb_typeof(e) = 'null' THEN 'NULL'
                   ELSE '"' || replace(replace(interop_meta.from_json_composite(e, format_type(elem, NULL)),
                                               '\', '\\'), '"', '\"') || '"' END, ',' ORDER BY i), '') || '}'
        INTO r FROM jsonb_array_elements(j) WITH ORDINALITY AS x(e, i);
    ELSIF rel <> 0 AND jsonb_typeof(j) = 'object' THEN
        SELECT '(' || string_agg(coalesce('"' || replace(replace(
                   interop_meta.as_source(CASE jsonb_typeof(j -> a.attname) WHEN 'null' THEN NULL
                                          ELSE j ->> a.attname END,
                                          format_type(a.atttypid, a.atttypmod)),
                   '\', '\\'), '"', '\"') || '"', ''), ',' ORDER BY a.attnum) || ')'
        INTO r FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped;
    ELSE
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT ($1::%s)::text', typ) INTO r USING r;
    RETURN r;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- as_source(V, T): the copy's text V as the source type T's text form
-- (directly, else through from_form; a copy that kept an array's JSON form,
-- Flink's, through json_array_literal first); '≠ ' || V when V is not a T.
CREATE OR REPLACE FUNCTION interop_meta.as_source(v text, typ text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    IF v IS NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        EXECUTE format('SELECT ($1::%s)::text', typ) INTO r USING v;
        RETURN r;
    EXCEPTION WHEN others THEN
        r := interop_meta.from_form(v, typ);
    END;
    IF r IS NULL AND (v LIKE '{%' OR v LIKE '[{%' OR v LIKE '[null%') THEN
        r := interop_meta.from_json_composite(v::jsonb, typ);
        IF r IS NOT NULL THEN
            RETURN r;
        END IF;
    END IF;
    IF r IS NULL AND typ LIKE '%[]' AND v LIKE '[%' THEN
        BEGIN
            IF typ = 'bytea[]' THEN -- base64 elements
                RETURN coalesce((SELECT array_agg(decode(x, 'base64') ORDER BY i)
                                 FROM jsonb_array_elements_text(v::jsonb) WITH ORDINALITY AS y(x, i))::text, '{}');
            END IF;
            r := interop_meta.json_array_literal(v::jsonb, CASE WHEN typ LIKE 'box%' THEN ';' ELSE ',' END);
            BEGIN
                EXECUTE format('SELECT ($1::%s)::text', typ) INTO v USING r;
                RETURN v;
            EXCEPTION WHEN others THEN
                r := interop_meta.from_form(r, typ);
            END;
        EXCEPTION WHEN others THEN
            r := NULL;
        END;
    END IF;
    IF r IS NOT NULL THEN
        EXECUTE format('SELECT ($1::%s)::text', typ) INTO r USING r;
        RETURN r;
    END IF;
    RETURN '≠ ' || v;
EXCEPTION WHEN others THEN
    RETURN '≠ ' || v;
END $$;

-- eval_default(EXPR, T): a default expression evaluated as type T, as text.
CREATE OR REPLACE FUNCTION interop_meta.eval_default(expr text, typ text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    IF expr IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT ((%s)::%s)::text', expr, typ) INTO r;
    RETURN r;
EXCEPTION WHEN others THEN
    RETURN '≠ ' || expr;
END $$;

-- The session settings both sides read values with.
CREATE OR REPLACE FUNCTION interop_meta.copy_conn(db text) RETURNS text
LANGUAGE sql AS $$
    SELECT format('host=%s port=%s user=postgres dbname=%s options=''-c TimeZone=UTC -c DateStyle=ISO '
                  '-c IntervalStyle=postgres -c extra_float_digits=1 -c bytea_output=hex''',
                  split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), db)
$$;

-- compare(DB, SRC, COPY): one row per column of the source table SRC, and a
-- first row (col '*') for the rows as a whole, comparing it with the table
-- COPY (schema-qualified name) in database DB.
CREATE OR REPLACE FUNCTION interop_meta.compare(db text, src regclass, copy text)
RETURNS TABLE (col text, src_type text, vals text, copy_type text, not_null text, dflt text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    conn text := interop_meta.copy_conn(db);
    keys text[];
    cols text[];
    sc record;
    cc record;
    n_src int;
    n_copy int;
    n_missing int;
    n_extra int;
    n_both int;
    n_diff int;
    ex record;
    copy_exists bool;
    q text;
BEGIN
    SET LOCAL client_min_messages = warning;
    SET LOCAL TimeZone = 'UTC';
    SET LOCAL DateStyle = 'ISO';
    SET LOCAL IntervalStyle = 'postgres';
    SET LOCAL extra_float_digits = 1;
    SET LOCAL bytea_output = 'hex';

    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO cols
    FROM pg_attribute a WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey, a.attnum)) INTO keys
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = src AND i.indisprimary;
    keys := coalesce(keys, cols);

    SELECT t.e INTO copy_exists
    FROM interop_meta.dblink(conn, format('SELECT to_regclass(%L) IS NOT NULL', copy)) AS t(e bool);

    -- The copy's columns.
    DROP TABLE IF EXISTS pg_temp.copy_cols;
    CREATE TEMP TABLE copy_cols (name text, typ text, not_null bool, dflt text);
    IF copy_exists THEN
        INSERT INTO copy_cols
        SELECT * FROM interop_meta.dblink(conn, format(
            $q$SELECT a.attname::text, regexp_replace(format_type(a.atttypid, a.atttypmod), '^[a-z_0-9]+\.', ''),
                      a.attnotnull, pg_get_expr(d.adbin, d.adrelid)
               FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
               WHERE a.attrelid = %L::regclass AND a.attnum > 0 AND NOT a.attisdropped$q$, copy))
            AS t(name text, typ text, not_null bool, dflt text);
    END IF;

    -- The rows of both, as text, keyed by the source's key.
    DROP TABLE IF EXISTS pg_temp.src_rows;
    DROP TABLE IF EXISTS pg_temp.copy_rows;
    CREATE TEMP TABLE src_rows (k jsonb, r jsonb);
    CREATE TEMP TABLE copy_rows (k jsonb, r jsonb);
    SELECT format('SELECT jsonb_object(ARRAY[%s], ARRAY[%s]) FROM %s',
                  string_agg(quote_literal(x), ','), string_agg(quote_ident(x) || '::text', ','), src)
    INTO q FROM unnest(cols) x;
    EXECUTE format('INSERT INTO src_rows (r) %s', q);
    IF copy_exists THEN
        SELECT format('SELECT jsonb_object(ARRAY[%s], ARRAY[%s])::text FROM %s',
                      string_agg(quote_literal(name), ','), string_agg(quote_ident(name) || '::text', ','), copy)
        INTO q FROM copy_cols;
        INSERT INTO copy_rows (r) SELECT t.r::jsonb FROM interop_meta.dblink(conn, q) AS t(r text);
    END IF;
    -- Keys: the source's key columns, the copy's cast to the source's types.
    UPDATE src_rows SET k = (SELECT jsonb_object_agg(x, r ->> x) FROM unnest(keys) x);
    UPDATE copy_rows SET k = (
        SELECT jsonb_object_agg(x, interop_meta.as_source(r ->> x,
               format_type(a.atttypid, a.atttypmod)))
        FROM unnest(keys) x JOIN pg_attribute a ON a.attrelid = src AND a.attname = x);
    SELECT count(*) INTO n_src FROM src_rows;
    SELECT count(*) INTO n_copy FROM copy_rows;
    SELECT count(*) INTO n_missing FROM src_rows s WHERE NOT EXISTS (SELECT 1 FROM copy_rows x WHERE x.k = s.k);
    SELECT count(*) INTO n_extra FROM copy_rows x WHERE NOT EXISTS (SELECT 1 FROM src_rows s WHERE x.k = s.k);
    n_both := n_src - n_missing;

    col := '*';
    src_type := '';
    copy_type := '';
    not_null := '';
    dflt := '';
    IF NOT copy_exists THEN
        vals := format('no table %s in the copy', copy);
    ELSIF n_missing = 0 AND n_extra = 0 THEN
        vals := format('equal rows (%s)', n_src);
    ELSE
        vals := format('rows differ: %s in the source, %s in the copy, %s missing, %s extra', n_src, n_copy,
                       n_missing, n_extra);
    END IF;
    RETURN NEXT;

    FOR sc IN
        SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS typ, a.attnotnull AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS dflt,
               (SELECT provolatile FROM pg_proc WHERE pg_get_expr(d.adbin, d.adrelid) ~ ('\m' || proname || '\(') LIMIT 1) AS vol
        FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = src AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
    LOOP
        col := sc.name;
        src_type := sc.typ;
        SELECT * INTO cc FROM copy_cols WHERE copy_cols.name = sc.name;
        IF NOT copy_exists THEN
            vals := 'no table';
            copy_type := '';
            not_null := '';
            dflt := '';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF cc.name IS NULL THEN
            vals := 'no such column in the copy';
            copy_type := '';
            not_null := '';
            dflt := '';
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- Values, in the rows both have.
        SELECT count(*) INTO n_diff
        FROM src_rows s JOIN copy_rows k ON k.k = s.k
        WHERE s.r ->> sc.name IS DISTINCT FROM interop_meta.as_source(k.r ->> sc.name, sc.typ);
        IF n_both = 0 THEN
            vals := CASE WHEN n_src = 0 AND n_copy = 0 THEN 'no rows in either' ELSE 'no row to compare' END;
        ELSIF n_diff = 0 THEN
            vals := format('equal (%s rows)', n_both);
        ELSE
            SELECT s.r ->> sc.name AS sv, k.r ->> sc.name AS cv INTO ex
            FROM src_rows s JOIN copy_rows k ON k.k = s.k
            WHERE s.r ->> sc.name IS DISTINCT FROM interop_meta.as_source(k.r ->> sc.name, sc.typ)
            ORDER BY s.k::text LIMIT 1;
            vals := format('DIFFERS in %s of %s rows, e.g. source %s, copy %s', n_diff, n_both,
                           coalesce(quote_literal(left(ex.sv, 60)), 'NULL'), coalesce(quote_literal(left(ex.cv, 60)), 'NULL'));
        END IF;
        -- (timestamp, time and their time zone forms without a precision are microseconds: (6).)
        copy_type := CASE WHEN regexp_replace(cc.typ, '^(time|timestamp)\(6\)', '\1')
                               = regexp_replace(sc.typ, '^[a-z_0-9]+\.', '') THEN 'same' ELSE cc.typ END;
        not_null := CASE WHEN cc.not_null = sc.not_null THEN 'same'
                        WHEN sc.not_null THEN 'LOST' ELSE 'ADDED' END;
        IF sc.dflt IS NULL AND cc.dflt IS NULL THEN
            dflt := 'same (none)';
        ELSIF sc.vol IN ('v', 's') THEN
            dflt := format('not constant in the source (%s); copy: %s', sc.dflt, coalesce(cc.dflt, 'none'));
        ELSIF cc.dflt IS NULL THEN
            dflt := format('LOST (%s)', sc.dflt);
        ELSIF interop_meta.eval_default(sc.dflt, sc.typ) IS NOT DISTINCT FROM interop_meta.eval_default(cc.dflt, sc.typ) THEN
            dflt := 'same';
        ELSE
            dflt := format('DIFFERS: source %s, copy %s', sc.dflt, cc.dflt);
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
