-- Protobuf: every column of an event's after row that has a constant default
-- carries it (Column.default_value, evaluated by PostgreSQL and cast to the
-- column's type, in the form its values take), so a consumer that adds a new
-- column to its copy can give it the default PostgreSQL filled into the
-- existing rows without a change event. Not constant (nextval, now()): none.
-- before rows carry none. The consumer prints them as "after_defaults".
-- format: protobuf
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE SEQUENCE seq;
CREATE TABLE t (
    id int PRIMARY KEY, n int DEFAULT 7, label text DEFAULT 'new', price numeric(5,2) DEFAULT 1.5,
    d date DEFAULT '2024-02-29', ts timestamp DEFAULT '2024-02-29 12:00', tags text[] DEFAULT '{a,"b c"}',
    b bytea DEFAULT '\x00ff', m mood DEFAULT 'ok', ok boolean DEFAULT true, r real DEFAULT 'NaN',
    s int DEFAULT nextval('seq'), nothing int
);
ALTER TABLE t REPLICA IDENTITY FULL;
-- streaming
INSERT INTO t (id) VALUES (1);
ALTER TABLE t ADD COLUMN level int NOT NULL DEFAULT 5;
UPDATE t SET n = 8 WHERE id = 1;
INSERT INTO t (id, level, label) VALUES (2, 6, 'given');
DELETE FROM t WHERE id = 2;
