-- column.propagate.source.type: the columns it names carry their PostgreSQL
-- type in Debezium's schema parameters (__debezium.source.column.type,
-- .length, .scale, .name), which Debezium's JDBC sink reads to create
-- varchar(n), char(n), timestamp(p), jsonb, money … instead of text and
-- timestamp(6). Patterns are case-insensitive and match the whole
-- schema.table.column: z_other matches neither and has no parameters; bit
-- types never get them (Debezium's sink would read them as its Bits type).
-- A time column's default is left out: Debezium's JDBC sink writes it as a
-- date-time and PostgreSQL refuses the CREATE TABLE.
-- sluice: json.schemas = true
-- sluice: decimal.handling.mode = precise
-- sluice: column.propagate.source.type = G_SCHEMAS_SOURCE_TYPES\.T\.[a-n]_.*, .*\.id
-- check-schemas
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE t (
    id int PRIMARY KEY,
    a_vc varchar(10) NOT NULL DEFAULT 'x',
    b_vcu varchar,
    c_c4 char(4),
    d_n numeric(12,3),
    e_nu numeric,
    f_ts3 timestamp(3),
    g_ts timestamp,
    h_tz3 timestamptz(3),
    i_tm0 time(0) DEFAULT '07:30',
    j_jb jsonb,
    k_m money,
    l_bt bit(4),
    m_mo mood,
    n_a int[],
    z_other text
);
-- streaming
INSERT INTO t VALUES (1, 'ten chars!', 'any length', 'ab', 123456789.125, 1.5, '2024-05-01 12:00:00.123',
    '2024-05-01 12:00:00.123456', '2024-05-01 12:00:00.5+00', '12:34:56', '{"a": 1}', '12.34', B'1010', 'ok',
    '{1,2}', 'other');
UPDATE t SET a_vc = 'short' WHERE id = 1;
