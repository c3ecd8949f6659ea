-- Kafka Connect JSON with schemas: every record's schema describes its
-- payload exactly (consume --check-schemas), for every type of the mapping,
-- with the default value forms (the special values, which they change, are
-- special_values_schemas.sql).
-- sluice: json.schemas = true
-- sluice: transaction.metadata = true
-- check-schemas
-- apply: alltypes id
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TYPE addr AS (street text, no int, tags text[], since date);
CREATE TABLE alltypes (
    id int PRIMARY KEY,
    b bool, i2 int2, i4 int4, i8 int8, o oid,
    f4 float4, f8 float8, n numeric, m money,
    t text, vc varchar(10), c char(3), nm name, ch "char",
    by bytea, u uuid, j json, jb jsonb, x xml,
    d date, tm time, tmtz timetz, ts timestamp, tstz timestamptz, iv interval,
    inet_ inet, cidr_ cidr, mac macaddr, mac8 macaddr8, bt bit(4), vb varbit,
    tsv tsvector, mo mood, dom posint, ad addr,
    r int4range, mr int4multirange, pt point, bx box, ci circle,
    a_i4 int4[], a_t text[], a_ts timestamp[], a_by bytea[], a_ad addr[],
    a_mo mood[], a_f8 float8[], a_d date[]
);
CREATE TABLE nokey (v text);
ALTER TABLE nokey REPLICA IDENTITY FULL;
-- streaming
INSERT INTO alltypes (id) VALUES (1);
INSERT INTO alltypes VALUES (2,
    true, -32768, -2147483648, -9223372036854775808, 4294967295,
    '1.5', '-2.5e-300', '-1.5', '-1234.56',
    'x', 'short', 'ab', 'nm', 'c',
    '\xdeadbeef', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}', '{"b": 2}', '<a/>',
    '2024-05-01', '12:00:00', '12:00:00+02', '2024-05-01 12:00:00.5', '2024-05-01 12:00:00.5+00', 'P1DT2H',
    '::1', '10.0.0.0/8', '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'1010', B'10',
    'a b', 'happy', 5, ROW('s', 1, '{x}', '2020-01-01'),
    '[1,2)', '{[1,2)}', '(1,2)', '(1,1),(0,0)', '<(0,0),1>',
    '{1,NULL}', '{a,NULL}', '{"2024-01-01 00:00:00"}', '{"\\x01"}', ARRAY[ROW('a', 2, '{}', NULL)::addr],
    '{sad}', '{-0,1e-300,1.5}', '{0044-03-15 BC,2024-01-01}');
INSERT INTO alltypes (id, f4, f8, n, ts, d) VALUES (3, '-0', '1e+300', '-0.5', '0001-01-01 00:00:00', '9999-12-31');
UPDATE alltypes SET i4 = 1 WHERE id = 1;
DELETE FROM alltypes WHERE id = 3;
INSERT INTO nokey VALUES ('no primary key: null record key');
TRUNCATE nokey;
SELECT pg_logical_emit_message(true, 'schemas', 'in a transaction');
