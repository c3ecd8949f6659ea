-- Every type of the type mapping (docs/output.md), with its edge values; each row
-- comes back from Kafka equal to PostgreSQL's col::text (the apply line).
-- ±infinity and 24:00:00 in Debezium's markers (infinity.handling.mode = extreme):
-- the only lossless form, which the round trip needs; the default (clamp) and
-- the other modes are special_values*.sql.
-- sluice: infinity.handling.mode = extreme
-- apply: alltypes id
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
    mo mood, dom posint, em email, ad addr,
    r int4range, nr numrange, tr tstzrange, dr daterange, fr floatrange, mr int4multirange,
    pt point, ln line, ls lseg, bx box, pth path, pg polygon, ci circle,
    a_i4 int4[], a_t text[], a_2d int[][], a_lb int[], a_ts timestamp[], a_by bytea[],
    a_ad addr[], a_mo mood[], a_bx box[], a_nul text[], a_js jsonb[],
    lsn pg_lsn
);
-- streaming
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
    'sad', 1, 'a@b.c', ROW('Main "St", 1', 1, '{a,"b c",NULL}', '2020-02-02'),
    '[1,5)', '(,)', '["2024-01-01 00:00:00+00","infinity")', 'empty', '[1.5,2.5]', '{[1,3),[5,7)}',
    '(1.5,-2)', '{1,-1,0}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(1,0))', '<(0,0),1.5>',
    '{1,2,3}', '{"a,b","c\"d","e\\f",NULL,"NULL",""}', '{{1,2},{3,4}}', '[0:2]={7,8,9}', '{"2024-01-01 00:00:00",infinity}', '{"\\x00","\\xff"}',
    ARRAY[ROW('x', 1, '{}', NULL)::addr, NULL], '{sad,happy}', '{(1,1),(0,0);(2,2),(1,1)}', '{NULL,NULL}', ARRAY['{"k": "v"}'::jsonb],
    '0/16B3748');
INSERT INTO alltypes (id, b, i2, i4, i8, o, f4, f8, n, m, t, by, d, tm, tmtz, ts, ts3, tstz, iv, a_i4, a_t, a_2d, mr, bt, vb)
VALUES (3, false, 32767, 2147483647, 9223372036854775807, 4294967295,
    'NaN', '-Infinity', 'NaN', '92233720368547758.07', '', '', '4713-01-01 BC', '24:00:00', '23:59:59.999999-15:59', '4713-01-01 00:00:00 BC', '294246-12-31 23:59:59.999', '4713-01-01 00:00:00+00 BC', '1 year 2 mons -3 days 04:05:06.789',
    '{}', '{}', '{{NULL,1},{2,NULL}}', '{}', B'0000', B'1');
INSERT INTO alltypes (id, f4, f8, n, d, ts, tstz, tm, tmtz, a_ts)
VALUES (4, 'Infinity', 'NaN', 'Infinity', 'infinity', 'infinity', 'infinity', '12:34:56.789012', '12:34:56.5+05:30', '{-infinity,"0001-01-01 00:00:00 BC"}');
INSERT INTO alltypes (id, f4, f8, n, d, ts, tstz, iv)
VALUES (5, '-Infinity', '1e-320', '-Infinity', '-infinity', '-infinity', '-infinity', '0');
INSERT INTO alltypes (id, f4, f8, n, d, ts, tstz, iv, n52, ts3)
VALUES (6, '0.1', '0.1', '0.10', '5874897-12-31', '294246-12-31 23:59:59.999999', '294246-12-31 23:59:59.999999+00', '178000000 years', '0.00', '1999-12-31 23:59:59.9995');
INSERT INTO alltypes (id, f8, n, ts, tstz, d)
VALUES (7, '-0', '0', '0044-03-15 12:00:00 BC', '10000-01-01 00:00:00+00', '2024-02-29');
UPDATE alltypes SET t = 'updated', i4 = 7 WHERE id = 1;
DELETE FROM alltypes WHERE id = 7;
