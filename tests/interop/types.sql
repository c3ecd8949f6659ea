-- make interop's own case: every type of docs/output.md's type mapping (the
-- columns of tests/golden/types.sql), columns with NOT NULL, constant and
-- volatile DEFAULTs and constrained numerics, and a workload with inserts,
-- updates, deletes, key changes, a truncate and ALTER TABLE ADD COLUMN.
-- The part before "-- streaming" runs before sluice starts: its rows reach
-- the consumers through sluice's initial snapshot (op "r"). The values that
-- have no Java/Connect equivalent are not here: specials.sql gives each its
-- own table, so that a consumer that dies on one loses only that table.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN email AS text;
CREATE TYPE addr AS (street text, no int, tags text[], since date);
CREATE TYPE floatrange AS RANGE (subtype = float8);
CREATE TABLE alltypes (
    id int PRIMARY KEY,
    b bool, i2 int2, i4 int4, i8 int8, o oid,
    f4 float4, f8 float8, n numeric, n52 numeric(5,2), m money,
    t text, vc varchar(10), c char(3), nm name, ch "char",
    by bytea, u uuid, j json, jb jsonb, x xml,
    d date, tm time, tmtz timetz, ts timestamp, ts3 timestamp(3), tstz timestamptz, iv interval,
    inet_ inet, cidr_ cidr, mac macaddr, mac8 macaddr8,
    bt bit(4), vb varbit,
    tsv tsvector, tsq tsquery,
    mo mood, dom posint, em email,
    r int4range, nr numrange, tr tstzrange, dr daterange, fr floatrange, mr int4multirange,
    pt point, ln line, ls lseg, bx box, pth path, pg polygon, ci circle,
    lsn pg_lsn
);
-- What a copy should keep besides the values: NOT NULL, constant DEFAULTs
-- (a volatile one, now(), is not a constant), numeric precision and scale,
-- varchar/char lengths, timestamp precision.
CREATE TABLE constrained (
    id bigint PRIMARY KEY,
    qty int NOT NULL DEFAULT 7,
    small smallint NOT NULL DEFAULT -1,
    price numeric(12,2) NOT NULL DEFAULT 0.00,
    rate numeric(20,5),
    huge numeric(38,0),
    frac numeric(10,10),
    label varchar(40) NOT NULL DEFAULT 'none',
    code char(4) DEFAULT 'AB',
    active boolean NOT NULL DEFAULT true,
    f4 real DEFAULT 0.5,
    f8 double precision NOT NULL DEFAULT 1.5,
    born date DEFAULT '2000-01-01',
    at timestamp(3) DEFAULT '2020-01-01 00:00:00',
    atz timestamptz NOT NULL DEFAULT '2020-01-01 00:00:00+00',
    alarm time(0) DEFAULT '07:30',
    mo mood NOT NULL DEFAULT 'ok',
    ident uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    doc jsonb NOT NULL DEFAULT '{}',
    bin bytea NOT NULL DEFAULT '\x00',
    tags text[] NOT NULL DEFAULT '{}',
    created timestamptz DEFAULT now()
);
-- Composite types (a struct in the Connect schema), apart: a consumer that
-- cannot hold one fails on this table only.
CREATE TABLE composites (id int PRIMARY KEY, ad addr, a_ad addr[]);
-- Arrays, one table per element type (arr_<name>: id, v): a sink that
-- cannot hold one kind of array loses that table only. Two rows through the
-- snapshot; streamed: row 1 updated to the second value, an empty array, a
-- null, row 2 deleted.
CREATE TABLE interop_meta.arr_values (name text PRIMARY KEY, type text NOT NULL, v1 text NOT NULL, v2 text NOT NULL);
INSERT INTO interop_meta.arr_values VALUES
    ('i2',   'int2[]',        '{1,-32768}', '{32767,NULL}'),
    ('i4',   'int4[]',        '{1,2,3}', '{9,NULL,-7}'),
    ('i8',   'int8[]',        '{-9223372036854775808}', '{9223372036854775807,0}'),
    ('f8',   'float8[]',      '{0.1,-2.5e300}', '{1e-320}'),
    ('b',    'bool[]',        '{true,false}', '{NULL,true}'),
    ('n52',  'numeric(5,2)[]', '{1.5,-999.99}', '{0,NULL}'),
    ('n',    'numeric[]',     '{1.5,-12345678901234567890.123456789}', '{0.000001}'),
    ('t',    'text[]',        '{"a,b","c\"d","e\\f",NULL,"NULL",""}', '{é☃}'),
    ('vc',   'varchar(10)[]', '{short,"ten chars!"}', '{""}'),
    ('nul',  'text[]',        '{NULL,NULL}', '{NULL}'),
    ('d',    'date[]',        '{2024-02-29,0001-01-01}', '{1970-01-01}'),
    ('tm',   'time[]',        '{00:00:00,23:59:59.999999}', '{12:34:56.5}'),
    ('ts',   'timestamp[]',   '{"2024-01-01 00:00:00","1999-12-31 23:59:59.5"}', '{"1970-01-01 00:00:00"}'),
    ('tstz', 'timestamptz[]', '{"2024-01-01 00:00:00+00","1999-12-31 23:59:59.5+00"}', '{"1970-01-01 00:00:00+00"}'),
    ('u',    'uuid[]',        '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', '{00000000-0000-0000-0000-000000000000,NULL}'),
    ('by',   'bytea[]',       '{"\\x00","\\xff"}', '{"\\x"}'),
    ('js',   'jsonb[]',       '{"{\"k\": \"v\"}"}', '{"[1, 2]",NULL}'),
    ('mo',   'mood[]',        '{sad,happy}', '{ok}'),
    ('bx',   'box[]',         '{(1,1),(0,0);(2,2),(1,1)}', '{(0,0),(0,0)}');
DO $$
DECLARE a record;
BEGIN
    FOR a IN SELECT * FROM interop_meta.arr_values ORDER BY name LOOP
        EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v %s)', 'arr_' || a.name, a.type);
        EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', 'arr_' || a.name);
        EXECUTE format('INSERT INTO %I VALUES (1, %L), (2, %L)', 'arr_' || a.name, a.v1, a.v2);
    END LOOP;
END $$;
-- A composite primary key whose columns change.
CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b));
-- Flink's debezium-json needs the old row of an update (it refuses an
-- update without "before"), as its documentation says for PostgreSQL:
-- REPLICA IDENTITY FULL. (With Flink among the consumers run.sh makes every
-- table of every case FULL; without it, the golden cases toast and
-- replica_identity keep their other identities.)
ALTER TABLE alltypes REPLICA IDENTITY FULL;
ALTER TABLE constrained REPLICA IDENTITY FULL;
ALTER TABLE pairs REPLICA IDENTITY FULL;
ALTER TABLE composites REPLICA IDENTITY FULL;
-- A table without a primary key, FULL so that its updates and deletes carry
-- the whole old row: its copy must end with rows updated in place (one of
-- them in every column) and deleted by their whole value, not just empty.
CREATE TABLE nokey (a int, b text);
ALTER TABLE nokey REPLICA IDENTITY FULL;
INSERT INTO nokey VALUES (1, 'one'), (2, 'two'), (3, 'three');
INSERT INTO alltypes (id) VALUES (1);
INSERT INTO alltypes VALUES (2,
    true, -32768, -2147483648, -9223372036854775808, 0,
    '-3.4028235e+38', '2.2250738585072014e-308', '-12345678901234567890.123456789012345678901', '-999.99', '-92233720368547758.08',
    E'tab\tnewline\nquote" backslash\\ unicode é ☃', 'short', 'ab', 'a_name', 'x',
    '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null]}', '{"b": {"c": true}, "a": 1}', '<a x="1">text &amp; more</a>',
    '0001-01-01', '00:00:00', '00:00:00+14', '1970-01-01 00:00:00', '2000-02-29 23:59:59.999', '1970-01-01 00:00:00+00', '-178000000 years',
    '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05',
    B'1010', B'',
    'a fat cat:3 sat', 'fat & (rat | cat)',
    'sad', 1, 'a@b.c',
    '[1,5)', '(,)', '["2024-01-01 00:00:00+00","2025-01-01 00:00:00+00")', 'empty', '[1.5,2.5]', '{[1,3),[5,7)}',
    '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))', '<(0,0),1.5>',
    '0/16B3748');
INSERT INTO constrained (id) VALUES (1);
INSERT INTO constrained VALUES (2, -2147483648, 32767, '9999999999.99', '-123456789012345.12345',
    '99999999999999999999999999999999999999', '0.0000000001', 'a label', 'WXYZ', false, '3.25', '-0.1',
    '2024-02-29', '2024-02-29 12:34:56.789', '2024-02-29 12:34:56.789+00', '23:59:59', 'happy',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, "two"]}', '\xdeadbeef', '{x,"y z"}', '2024-01-01 00:00:00+00');
INSERT INTO pairs VALUES (1, 'one', 'first'), (2, 'two', 'second');
INSERT INTO composites VALUES (1, NULL, NULL),
    (2, ROW('Main "St", 1', 1, '{a,"b c",NULL}', '2020-02-02'), ARRAY[ROW('x', 1, '{}', NULL)::addr, NULL]);
-- streaming
INSERT INTO alltypes VALUES (3,
    false, 32767, 2147483647, 9223372036854775807, 4294967295,
    '0.1', '0.1', '0.10', '0.00', '92233720368547758.07',
    '', 'ten chars!', 'abc', 'nm', 'c',
    '', '00000000-0000-0000-0000-000000000000', '[]', '[1, "a", {"b": null}]', '<empty/>',
    '2024-02-29', '23:59:59.999999', '23:59:59.999999-15:59', '2024-05-01 12:34:56.789012', '1999-12-31 23:59:59.9995', '2024-05-01 12:34:56.789012+00', '1 year 2 mons -3 days 04:05:06.789',
    '::1', '2001:db8::/32', '00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff:ff:ff',
    B'0000', B'1',
    '', '!a',
    'happy', 2147483647, '',
    'empty', '[-1.5,)', '(,)', '[2024-01-01,2024-02-01)', '(,)', '{}',
    '(0,0)', '{0,1,0}', '[(1,2),(3,4)]', '(0,0),(0,0)', '((0,0))', '((0,0))', '<(1,1),0>',
    'FFFFFFFF/FFFFFFFF');
INSERT INTO alltypes (id, d, ts, tstz, tm, tmtz, iv, n, f8)
VALUES (4, '1582-10-04', '1582-10-15 00:00:00', '1900-01-01 00:00:00+00', '12:34:56.789012', '12:34:56.5+05:30', '0', '1e-30', '1e-320');
UPDATE alltypes SET t = 'updated', i4 = 7, mo = 'ok' WHERE id = 1;
UPDATE composites SET ad = ROW('moved', 2, '{}', '2021-01-01') WHERE id = 2;
INSERT INTO composites VALUES (3, ROW(NULL, NULL, NULL, NULL), '{}');
DELETE FROM alltypes WHERE id = 4;
INSERT INTO alltypes (id, t) VALUES (5, 'to be re-keyed');
UPDATE alltypes SET id = 6 WHERE id = 5;
INSERT INTO constrained (id, qty, price) VALUES (3, 3, '3.30');
UPDATE constrained SET rate = '0.00001', price = price + 1 WHERE id = 1;
UPDATE constrained SET id = 4 WHERE id = 3;
DELETE FROM constrained WHERE id = 2;
INSERT INTO constrained (id, label) VALUES (2, 'inserted again');
UPDATE pairs SET b = 'uno' WHERE a = 1;
UPDATE pairs SET a = 20, v = 'both key columns' WHERE a = 2;
INSERT INTO pairs VALUES (3, 'three', 'third');
DELETE FROM pairs WHERE a = 3;
INSERT INTO nokey VALUES (4, 'four');
UPDATE nokey SET b = 'two, updated' WHERE a = 2;
DELETE FROM nokey WHERE a = 3;
UPDATE nokey SET a = 40, b = 'forty' WHERE a = 4;
-- A schema change: new columns, one NOT NULL with a constant default.
ALTER TABLE constrained ADD COLUMN note text, ADD COLUMN level int NOT NULL DEFAULT 5;
INSERT INTO constrained (id, note, level) VALUES (5, 'after ADD COLUMN', 6);
UPDATE constrained SET note = 'an old row, updated after ADD COLUMN' WHERE id = 1;
ALTER TABLE pairs ADD COLUMN w numeric(8,3) DEFAULT 1.5;
INSERT INTO pairs VALUES (4, 'four', 'after ADD COLUMN', 4.125);
DO $$
DECLARE a record;
BEGIN
    FOR a IN SELECT * FROM interop_meta.arr_values ORDER BY name LOOP
        EXECUTE format('UPDATE %I SET v = %L WHERE id = 1', 'arr_' || a.name, a.v2);
        EXECUTE format('INSERT INTO %I VALUES (3, %L), (4, NULL)', 'arr_' || a.name, '{}');
        EXECUTE format('DELETE FROM %I WHERE id = 2', 'arr_' || a.name);
    END LOOP;
END $$;
-- A truncate, and life after it.
TRUNCATE pairs;
INSERT INTO pairs (a, b, v) VALUES (1, 'one', 'after truncate');
