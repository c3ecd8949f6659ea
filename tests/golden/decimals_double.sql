-- decimal.handling.mode = double: numeric and money as the nearest double
-- (PostgreSQL's shortest digits); NaN and ±Infinity, and values past double's
-- range, follow float.special.handling.mode (string here).
-- sluice: decimal.handling.mode = double
CREATE DOMAIN price AS numeric(10,2);
CREATE TABLE dec (
    id int PRIMARY KEY,
    n numeric, n52 numeric(5,2), n20 numeric(20,5),
    m money, p price, iv interval, a_n52 numeric(5,2)[], a_n numeric[]
);
-- streaming
INSERT INTO dec VALUES (1, '-12345678901234567890.123456789012345678901', '-999.99', '99999999999999.99999',
    '-$92,233,720,368,547,758.08', 9.99, '-1 year 2 mons -3 days 04:05:06.789', '{1.50,NULL,-0.01}', '{0.10,-128}');
INSERT INTO dec VALUES (2, 'NaN', 'NaN', 0, '$0.00', -0.01, '0', '{}', '{NaN}');
INSERT INTO dec VALUES (3, 'Infinity', 1.5, -0.00001, '$92,233,720,368,547,758.07', NULL, '178000000 years', NULL, NULL);
INSERT INTO dec VALUES (4, '-Infinity', NULL, NULL, NULL, NULL, 'PT0.000001S', NULL, '{1e-20}');
UPDATE dec SET n = 0.5, iv = '1 mon' WHERE id = 1;
DELETE FROM dec WHERE id = 2;
INSERT INTO dec (id, n) VALUES (5, 1e400);
