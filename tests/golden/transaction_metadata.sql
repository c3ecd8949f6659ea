-- transaction.metadata = true: BEGIN and END events on <prefix>.transaction
-- (END with the count per table), and a "transaction" block in every event.
-- sluice: transaction.metadata = true
CREATE TABLE a (id int PRIMARY KEY);
CREATE TABLE b (id int PRIMARY KEY);
-- streaming
BEGIN;
INSERT INTO a VALUES (1), (2);
INSERT INTO b VALUES (1);
UPDATE a SET id = 3 WHERE id = 2;
DELETE FROM b;
TRUNCATE a;
COMMIT;
INSERT INTO b VALUES (2);
