-- publish_via_partition_root = false (the default): changes are events of the
-- leaf partitions, each its own topic; moving a row between partitions is a
-- delete in one and an insert in the other.
CREATE TABLE meas (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE meas_eu PARTITION OF meas FOR VALUES IN ('eu');
CREATE TABLE meas_us PARTITION OF meas FOR VALUES IN ('us');
CREATE PUBLICATION :"pub" FOR TABLE meas;
-- streaming
INSERT INTO meas VALUES (1, 'eu', 10), (2, 'us', 20);
UPDATE meas SET v = 11 WHERE id = 1;
UPDATE meas SET region = 'us' WHERE id = 1;
DELETE FROM meas WHERE id = 2;
