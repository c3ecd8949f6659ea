-- numeric with a negative scale (rounded to hundreds) and with a scale above
-- its precision (only digits after the point), PostgreSQL 15+: in precise
-- mode Connect's Decimal of the declared scale (the unscaled value of 12300
-- at scale -2 is 123), and the same values as strings and doubles in the
-- cases that share this SQL (decimals_scale_double, schemas_decimal_scale).
-- PostgreSQL 14 refuses these typmods, so the case does not run there.
-- server: 150000 numeric(p,s) with s < 0 or s > p is PostgreSQL 15+
-- sluice: decimal.handling.mode = precise
CREATE TABLE dec (
    id int PRIMARY KEY,
    hundreds numeric(5,-2), small numeric(3,5), big numeric(3,-5) NOT NULL DEFAULT 100000
);
-- streaming
INSERT INTO dec VALUES (1, 12300, 0.00123, 9900000);
INSERT INTO dec VALUES (2, -100, 0, -100000);
INSERT INTO dec VALUES (3, NULL, NULL, DEFAULT);
INSERT INTO dec VALUES (4, 'NaN', 'NaN', 0);
UPDATE dec SET hundreds = 9999949, small = -0.00999 WHERE id = 1;
DELETE FROM dec WHERE id = 2;
