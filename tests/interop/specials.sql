-- The PostgreSQL values with no Java/Connect equivalent, and the arrays a
-- one-dimensional Connect array schema cannot describe, one table each
-- (sp_<name>: id, v), so that a consumer that dies on one loses that table
-- only, and the table says which value it was. Every table streams, in four
-- source transactions: row 1 (an ordinary value), row 2 (the special
-- value), row 3 (an ordinary value again: is anything after the special one
-- lost?), then an update of row 1. The list lives in interop_meta.specials
-- (run.sh creates the schema; it is not published), printed in the report.
CREATE TABLE interop_meta.specials (name text PRIMARY KEY, type text NOT NULL,
                                    ordinary text NOT NULL, special text NOT NULL);
INSERT INTO interop_meta.specials VALUES
    ('date_pinf',   'date',          '2024-01-01', 'infinity'),
    ('date_ninf',   'date',          '2024-01-01', '-infinity'),
    ('date_y10000', 'date',          '2024-01-01', '10000-01-01'),
    ('date_max',    'date',          '2024-01-01', '5874897-12-31'),
    ('date_y1',     'date',          '2024-01-01', '0001-01-01'),
    ('date_bc',     'date',          '2024-01-01', '0044-03-15 BC'),
    ('ts_pinf',     'timestamp',     '2024-01-01 12:00:00', 'infinity'),
    ('ts_ninf',     'timestamp',     '2024-01-01 12:00:00', '-infinity'),
    ('ts_y10000',   'timestamp',     '2024-01-01 12:00:00', '10000-01-01 00:00:00'),
    ('ts_int64',    'timestamp',     '2024-01-01 12:00:00', '294270-01-01 00:00:00'),
    ('ts_bc',       'timestamp',     '2024-01-01 12:00:00', '0044-03-15 12:00:00 BC'),
    ('tstz_pinf',   'timestamptz',   '2024-01-01 12:00:00+00', 'infinity'),
    ('tstz_ninf',   'timestamptz',   '2024-01-01 12:00:00+00', '-infinity'),
    ('tstz_y10000', 'timestamptz',   '2024-01-01 12:00:00+00', '10000-01-01 00:00:00+00'),
    ('tstz_bc',     'timestamptz',   '2024-01-01 12:00:00+00', '0044-03-15 12:00:00+00 BC'),
    ('time_2400',   'time',          '12:00:00', '24:00:00'),
    ('timetz_2400', 'timetz',        '12:00:00+00', '24:00:00+00'),
    ('f4_nan',      'real',          '1.5', 'NaN'),
    ('f4_pinf',     'real',          '1.5', 'Infinity'),
    ('f4_ninf',     'real',          '1.5', '-Infinity'),
    ('f4_negzero',  'real',          '1.5', '-0'),
    ('f8_nan',      'double precision', '1.5', 'NaN'),
    ('f8_pinf',     'double precision', '1.5', 'Infinity'),
    ('f8_ninf',     'double precision', '1.5', '-Infinity'),
    ('f8_negzero',  'double precision', '1.5', '-0'),
    ('num_nan',     'numeric',       '1.5', 'NaN'),
    ('num_pinf',    'numeric',       '1.5', 'Infinity'),
    ('num_ninf',    'numeric',       '1.5', '-Infinity'),
    ('numc_nan',    'numeric(10,2)', '1.50', 'NaN'),
    ('iv_huge',     'interval',      '1 day', '178000000 years'),
    ('arr_2d',      'int[][]',       '{1,2}', '{{1,2},{3,4}}'),
    ('arr_lb0',     'int[]',         '{1,2}', '[0:2]={7,8,9}');
DO $$
DECLARE s record;
BEGIN
    FOR s IN SELECT * FROM interop_meta.specials ORDER BY name LOOP
        EXECUTE format('CREATE TABLE %I (id int PRIMARY KEY, v %s)', 'sp_' || s.name, s.type);
        -- (Flink's debezium-json needs the old row of an update.)
        EXECUTE format('ALTER TABLE %I REPLICA IDENTITY FULL', 'sp_' || s.name);
    END LOOP;
END $$;
-- streaming
DO $$
DECLARE s record;
BEGIN
    FOR s IN SELECT * FROM interop_meta.specials ORDER BY name LOOP
        EXECUTE format('INSERT INTO %I VALUES (1, %L)', 'sp_' || s.name, s.ordinary);
        COMMIT;
        EXECUTE format('INSERT INTO %I VALUES (2, %L)', 'sp_' || s.name, s.special);
        COMMIT;
        EXECUTE format('INSERT INTO %I VALUES (3, %L)', 'sp_' || s.name, s.ordinary);
        COMMIT;
        EXECUTE format('UPDATE %I SET v = %L WHERE id = 1', 'sp_' || s.name, s.ordinary);
        COMMIT;
    END LOOP;
END $$;
