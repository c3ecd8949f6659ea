-- make interop, consumer (b): the Flink SQL column type a user would declare
-- for each PostgreSQL column, read from sluice's JSON form of the type
-- (docs/output.md), and the PostgreSQL type of the column Flink's JDBC
-- sink writes it into. Run in the source database by tests/interop/flink.sh.
--
--   JSON form                       Flink type         copy column
--   true/false                      BOOLEAN            boolean
--   int16/int32/int64               SMALLINT/INT/BIGINT smallint/integer/bigint
--   float/double (NaN as strings)   FLOAT/DOUBLE       real/double precision
--   numeric(p,s) string             STRING             numeric(p,s) (DECIMAL(p,s)
--                                                      would refuse "NaN")
--   other numeric, money: string    STRING             text
--   date: days                      INT                integer (days)
--   time, timestamp: microseconds   BIGINT             bigint (microseconds)
--   bytea: base64                   BYTES              bytea
--   every other string form         STRING             text
--   composite: object               STRING (its JSON)  text
--   array                           STRING (its JSON)  text (Flink's JDBC sink writes no
--                                                      arrays into PostgreSQL)
CREATE OR REPLACE FUNCTION interop_meta.flink_scalar(typ oid, typmod int, OUT flink text, OUT pg text)
LANGUAGE plpgsql AS $$
DECLARE
    t pg_type;
BEGIN
    SELECT * INTO t FROM pg_type WHERE oid = typ;
    IF t.typtype = 'd' THEN
        SELECT * INTO flink, pg FROM interop_meta.flink_scalar(t.typbasetype, t.typtypmod);
        RETURN;
    END IF;
    CASE typ
    WHEN 'bool'::regtype THEN flink := 'BOOLEAN'; pg := 'boolean';
    WHEN 'int2'::regtype THEN flink := 'SMALLINT'; pg := 'smallint';
    WHEN 'int4'::regtype THEN flink := 'INT'; pg := 'integer';
    WHEN 'int8'::regtype, 'oid'::regtype THEN flink := 'BIGINT'; pg := 'bigint';
    WHEN 'float4'::regtype THEN flink := 'FLOAT'; pg := 'real';
    WHEN 'float8'::regtype THEN flink := 'DOUBLE'; pg := 'double precision';
    WHEN 'numeric'::regtype THEN
        IF typmod >= 4 THEN
            flink := 'STRING';
            pg := format('numeric(%s,%s)', (typmod - 4) >> 16, (typmod - 4) & 65535);
        ELSE
            flink := 'STRING'; pg := 'text';
        END IF;
    WHEN 'date'::regtype THEN flink := 'INT'; pg := 'integer';
    WHEN 'time'::regtype, 'timestamp'::regtype THEN flink := 'BIGINT'; pg := 'bigint';
    WHEN 'bytea'::regtype THEN flink := 'BYTES'; pg := 'bytea';
    ELSE flink := 'STRING'; pg := 'text';
    END CASE;
END $$;

-- One row per column of a table: name, Flink type, copy type, key member.
CREATE OR REPLACE FUNCTION interop_meta.flink_columns(src regclass)
RETURNS TABLE (name text, flink text, pg text, is_key bool)
LANGUAGE plpgsql AS $$
DECLARE
    a record;
    s record;
BEGIN
    FOR a IN
        SELECT at.attname::text AS attname, at.atttypid, at.atttypmod, at.attndims, t.typelem, t.typcategory,
               EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = src AND i.indisprimary
                       AND at.attnum = ANY (i.indkey)) AS k
        FROM pg_attribute at JOIN pg_type t ON t.oid = at.atttypid
        WHERE at.attrelid = src AND at.attnum > 0 AND NOT at.attisdropped ORDER BY at.attnum
    LOOP
        name := a.attname;
        is_key := a.k;
        IF a.typcategory = 'A' THEN
            flink := 'STRING';
            pg := 'text';
        ELSE
            SELECT * INTO s FROM interop_meta.flink_scalar(a.atttypid, a.atttypmod);
            flink := s.flink;
            pg := s.pg;
        END IF;
        RETURN NEXT;
    END LOOP;
END $$;
