-- skipped.operations = d, t (Debezium's key and values): deletes, with their
-- tombstones, and truncates are not streamed. An update that changes the key
-- is one update ('u', as in Debezium), so its delete and create both come.
-- sluice: skipped.operations = d, t
CREATE TABLE items (id int PRIMARY KEY, v text);
CREATE TABLE other (id int PRIMARY KEY);
-- streaming
INSERT INTO items VALUES (1, 'a'), (2, 'b');
UPDATE items SET v = 'a2' WHERE id = 1;
DELETE FROM items WHERE id = 2;
UPDATE items SET id = 3 WHERE id = 1;
INSERT INTO other VALUES (1);
TRUNCATE items, other;
INSERT INTO items VALUES (4, 'after the truncate');
