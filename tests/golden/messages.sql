-- Logical decoding messages: op "m" on <prefix>.message. A transactional one
-- is part of its source transaction (same Kafka transaction: consume checks
-- every record of a source transaction carries one sluice.batch); one from a
-- rolled-back transaction never appears; a non-transactional one stands alone.
CREATE TABLE t (id int PRIMARY KEY);
-- streaming
BEGIN;
INSERT INTO t VALUES (1);
SELECT pg_logical_emit_message(true, 'app.audit', 'inside, with the insert');
INSERT INTO t VALUES (2);
COMMIT;
BEGIN;
SELECT pg_logical_emit_message(true, 'app.audit', 'rolled back: never seen');
INSERT INTO t VALUES (3);
ROLLBACK;
SELECT pg_logical_emit_message(false, 'app.ping', E'binary \\001 and "quotes"');
SELECT pg_logical_emit_message(true, 'app.bytes', '\xdeadbeef'::bytea);
