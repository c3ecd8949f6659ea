-- Replica identity DEFAULT, FULL (with and without a primary key), USING
-- INDEX and NOTHING: the record key and "before" of each. With FULL the key
-- is the primary key (pgoutput flags every column of a FULL table); a FULL
-- table without a primary key gets null keys (and so no tombstones).
CREATE TABLE rid_default (id int PRIMARY KEY, v text);
CREATE TABLE rid_full (id int PRIMARY KEY, v text, w int);
ALTER TABLE rid_full REPLICA IDENTITY FULL;
CREATE TABLE rid_full_nopk (a int, b text);
ALTER TABLE rid_full_nopk REPLICA IDENTITY FULL;
CREATE TABLE rid_index (id int PRIMARY KEY, code text NOT NULL, v text);
CREATE UNIQUE INDEX rid_index_code ON rid_index (code);
ALTER TABLE rid_index REPLICA IDENTITY USING INDEX rid_index_code;
CREATE TABLE rid_nothing (id int PRIMARY KEY, v text);
ALTER TABLE rid_nothing REPLICA IDENTITY NOTHING;
CREATE TABLE rid_fullcomposite (a int, b text, v text, PRIMARY KEY (b, a));
ALTER TABLE rid_fullcomposite REPLICA IDENTITY FULL;
-- NOTHING: PostgreSQL refuses its UPDATEs and DELETEs while it is published; inserts stream.
CREATE PUBLICATION :"pub" FOR TABLE rid_default, rid_full, rid_full_nopk, rid_index, rid_nothing,
    rid_fullcomposite;
-- streaming
INSERT INTO rid_default VALUES (1, 'a');
UPDATE rid_default SET v = 'b' WHERE id = 1;
UPDATE rid_default SET id = 2 WHERE id = 1;
DELETE FROM rid_default WHERE id = 2;
INSERT INTO rid_full VALUES (1, 'a', 10);
UPDATE rid_full SET v = 'b' WHERE id = 1;
UPDATE rid_full SET id = 2, w = 20 WHERE id = 1;
DELETE FROM rid_full WHERE id = 2;
INSERT INTO rid_full_nopk VALUES (1, 'x');
UPDATE rid_full_nopk SET b = 'y';
DELETE FROM rid_full_nopk;
INSERT INTO rid_index VALUES (1, 'c1', 'a');
UPDATE rid_index SET v = 'b' WHERE id = 1;
UPDATE rid_index SET code = 'c2' WHERE id = 1;
DELETE FROM rid_index WHERE id = 1;
INSERT INTO rid_nothing VALUES (1, 'a');
INSERT INTO rid_fullcomposite VALUES (1, 'k', 'a');
UPDATE rid_fullcomposite SET v = 'b';
UPDATE rid_fullcomposite SET a = 2;
DELETE FROM rid_fullcomposite;
