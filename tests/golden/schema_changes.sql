-- Schema changes mid-stream: events before a change keep the old shape,
-- events after it the new one (ADD, DROP, RENAME COLUMN, ALTER TYPE, a table
-- added to the publication).
CREATE TABLE evolving (id int PRIMARY KEY, a text, b int);
CREATE TABLE late (id int PRIMARY KEY, v text);
CREATE PUBLICATION :"pub" FOR TABLE evolving;
-- streaming
INSERT INTO evolving VALUES (1, 'before any change', 1);
ALTER TABLE evolving ADD COLUMN c date;
INSERT INTO evolving VALUES (2, 'after add', 2, '2024-01-02');
UPDATE evolving SET c = '2024-01-03' WHERE id = 1;
ALTER TABLE evolving DROP COLUMN a;
INSERT INTO evolving VALUES (3, 3, '2024-01-04');
ALTER TABLE evolving RENAME COLUMN b TO b_renamed;
INSERT INTO evolving VALUES (4, 4, '2024-01-05');
ALTER TABLE evolving ALTER COLUMN b_renamed TYPE numeric(10,2);
INSERT INTO evolving VALUES (5, 5.5, '2024-01-06');
ALTER TABLE evolving ALTER COLUMN c TYPE timestamp;
UPDATE evolving SET b_renamed = 6 WHERE id = 5;
BEGIN;
INSERT INTO evolving VALUES (6, 6, '2024-01-07 08:00');
ALTER TABLE evolving ADD COLUMN d text DEFAULT 'dflt';
INSERT INTO evolving VALUES (7, 7, '2024-01-08', 'in the same transaction');
COMMIT;
INSERT INTO late VALUES (1, 'before it was published: never seen');
ALTER PUBLICATION :"pub" ADD TABLE late;
INSERT INTO late VALUES (2, 'after ADD TABLE');
