-- Unchanged TOASTed values ('u' in pgoutput): filled from the old row under
-- REPLICA IDENTITY FULL, the placeholder under DEFAULT; never a null.
-- apply: toast_default id
-- apply: toast_full id
CREATE TABLE toast_default (id int PRIMARY KEY, n int, body text, bin bytea);
CREATE TABLE toast_full (id int PRIMARY KEY, n int, body text, bin bytea);
ALTER TABLE toast_full REPLICA IDENTITY FULL;
-- EXTERNAL: stored out of line without compression, so 3 kB is enough to be TOASTed.
ALTER TABLE toast_default ALTER body SET STORAGE EXTERNAL, ALTER bin SET STORAGE EXTERNAL;
ALTER TABLE toast_full ALTER body SET STORAGE EXTERNAL, ALTER bin SET STORAGE EXTERNAL;
-- streaming
INSERT INTO toast_default SELECT 1, 0, repeat('d', 3000), convert_to(repeat('D', 3000), 'UTF8');
INSERT INTO toast_full SELECT 1, 0, repeat('f', 3000), convert_to(repeat('F', 3000), 'UTF8');
UPDATE toast_default SET n = 1;
UPDATE toast_full SET n = 1;
UPDATE toast_default SET body = 'short now', n = 2;
UPDATE toast_full SET body = 'short now', n = 2;
