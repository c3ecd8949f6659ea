-- TRUNCATE, with CASCADE and RESTART IDENTITY: one op "t" event per table,
-- in the source transaction's order.
CREATE TABLE parent (id serial PRIMARY KEY, v text);
CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent, v text);
CREATE TABLE other (id int PRIMARY KEY);
-- streaming
INSERT INTO parent (v) VALUES ('p1'), ('p2');
INSERT INTO child (parent_id, v) VALUES (1, 'c1');
INSERT INTO other VALUES (1);
TRUNCATE parent CASCADE;
INSERT INTO parent (v) VALUES ('after cascade');
TRUNCATE parent, child RESTART IDENTITY;
INSERT INTO parent (v) VALUES ('restarted: id 1 again');
BEGIN;
INSERT INTO other VALUES (2);
TRUNCATE other;
INSERT INTO other VALUES (3);
COMMIT;
