-- Debezium's markers for ±infinity and 24:00:00 (infinity.handling.mode =
-- extreme: int32/int64 extremes, "infinity" strings, 86400000000 µs) with
-- years outside 1..9999 clamped (year.range.handling.mode = clamp).
-- sluice: infinity.handling.mode = extreme
-- sluice: year.range.handling.mode = clamp
CREATE TABLE sv (
    id int PRIMARY KEY,
    d date, ts timestamp, tstz timestamptz, tm time, tmtz timetz,
    f4 real, f8 float8, n numeric,
    a_d date[], a_ts timestamp[], a_f8 float8[]
);
-- streaming
INSERT INTO sv VALUES (1, 'infinity', 'infinity', 'infinity', '24:00:00', '24:00:00+02',
    'NaN', 'Infinity', 'NaN', '{infinity,-infinity,2024-05-01}', '{infinity}', '{NaN,-Infinity,-0,1.5}');
INSERT INTO sv VALUES (2, '-infinity', '-infinity', '-infinity', '23:59:59.999999', '00:00:00+00',
    '-Infinity', '-0', '-Infinity', NULL, '{-infinity}', NULL);
INSERT INTO sv VALUES (3, '0044-03-15 BC', '0044-03-15 12:00:00 BC', '0044-03-15 12:00:00+00 BC', '00:00:00', '12:00:00-05',
    '0.1', '1e-320', 'Infinity', '{0001-01-01 BC,0001-01-01}', '{"0001-01-01 00:00:00"}', '{}');
INSERT INTO sv VALUES (4, '10000-01-01', '294270-01-01 00:00:00', '10000-01-01 00:00:00+00', '12:00:00', '24:00:00-15:59',
    '-3.4028235e+38', '1.7976931348623157e+308', '0', '{9999-12-31,10000-01-01}', '{"294276-12-31 23:59:59.999999"}', '{0}');
INSERT INTO sv VALUES (5, '9999-12-31', '9999-12-31 23:59:59.999999', '0001-01-01 00:00:00+00', NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL);
UPDATE sv SET d = 'infinity', f8 = 'NaN' WHERE id = 5;
DELETE FROM sv WHERE id = 2;
