-- publish_via_partition_root = true: changes to any partition are events of
-- the root table (one topic), including a row moving between partitions.
CREATE TABLE meas (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE meas_eu PARTITION OF meas FOR VALUES IN ('eu');
CREATE TABLE meas_us PARTITION OF meas FOR VALUES IN ('us');
CREATE PUBLICATION :"pub" FOR TABLE meas WITH (publish_via_partition_root = true);
-- streaming
INSERT INTO meas VALUES (1, 'eu', 10), (2, 'us', 20);
UPDATE meas SET v = 11 WHERE id = 1;
UPDATE meas SET region = 'us' WHERE id = 1;
DELETE FROM meas WHERE id = 2;
