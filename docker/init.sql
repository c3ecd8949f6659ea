-- Demo database for docker-compose.yml (run once by the postgres image's
-- entrypoint, as the superuser, in database "shop"). A real installation
-- uses sql/setup.sql, which this follows.
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, vip boolean DEFAULT false);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, amount numeric(10,2),
                     status text, created_at timestamptz DEFAULT now());
CREATE ROLE sluice WITH LOGIN REPLICATION PASSWORD 'sluice-demo';
GRANT CONNECT ON DATABASE shop TO sluice;
GRANT USAGE ON SCHEMA public TO sluice;
GRANT SELECT ON customers, orders TO sluice;
CREATE PUBLICATION sluice FOR TABLE customers, orders;
