-- sluice: least-privilege setup on the source database.
--
-- Run as a superuser (or the tables' owner plus CREATEROLE) in the database
-- to stream, after setting in postgresql.conf (restart required):
--     wal_level = logical
--     max_replication_slots >= 1 per sluice instance (plus your replicas)
--     max_wal_senders       >= 1 per sluice instance (plus your replicas)
-- and allowing the role to connect for replication in pg_hba.conf, e.g.
--     hostssl  replication  sluice  10.0.0.0/8  scram-sha-256
--     hostssl  shop         sluice  10.0.0.0/8  scram-sha-256
--
--   psql -d shop -v password="'…'" -f sql/setup.sql
--
-- What sluice needs, and nothing more:
--   REPLICATION LOGIN   to create and read its logical replication slot
--   CONNECT             on the database
--   the publication     naming the tables to stream (sluice never creates it)
--   SELECT              on the published tables, for the initial snapshot
--                       (not needed for streaming alone)
\set ON_ERROR_STOP on

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sluice') THEN
        CREATE ROLE sluice WITH LOGIN REPLICATION;
    END IF;
END
$$;
ALTER ROLE sluice WITH LOGIN REPLICATION PASSWORD :password;

SELECT format('GRANT CONNECT ON DATABASE %I TO sluice', current_database()) \gexec

-- Name the tables to stream. Edit this statement, or create the publication
-- yourself and skip it. FOR TABLES IN SCHEMA and FOR ALL TABLES need a
-- superuser and publish tables created later too: a later table without a
-- primary key then has its UPDATEs and DELETEs rejected by PostgreSQL until
-- it gets a replica identity. FOR TABLE a, b, c is the cautious choice.
-- FOR TABLES IN SCHEMA is PostgreSQL 15+: on 14 this names the schema's
-- current tables instead (add later ones with ALTER PUBLICATION … ADD TABLE).
SELECT CASE WHEN current_setting('server_version_num')::int >= 150000
            THEN 'CREATE PUBLICATION sluice FOR TABLES IN SCHEMA public'
            ELSE coalesce('CREATE PUBLICATION sluice FOR TABLE ' ||
                          (SELECT string_agg(format('%I.%I', schemaname, tablename), ', ')
                             FROM pg_tables WHERE schemaname = 'public'),
                          'CREATE PUBLICATION sluice')
       END \gexec

GRANT USAGE ON SCHEMA public TO sluice;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO sluice;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO sluice;

-- Tables without a primary key cannot be keyed in Kafka and their updates and
-- deletes are rejected by PostgreSQL once published; give them a replica
-- identity (USING INDEX on a unique index, or FULL). This lists them:
SELECT format('%I.%I', n.nspname, c.relname) AS table_without_replica_identity
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p')
   AND n.nspname = 'public'
   AND c.relreplident = 'd'
   AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary);

-- Then verify everything sluice needs, from where it will run:
--     sluice check -c /etc/sluice/sluice.conf
