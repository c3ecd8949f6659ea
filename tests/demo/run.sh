#!/usr/bin/env bash
# The one-command demo (make demo): a throwaway PostgreSQL 15 and Kafka broker,
# sluice streaming a small shop database, a live workload, and the change
# events as a read_committed consumer sees them. Ctrl-C stops and removes it all.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
. "$REPO/tests/env/env.sh"

say() { printf '\033[1m== %s\033[0m\n' "$*" >&2; }

env_init
say "starting PostgreSQL 15 (wal_level=logical) and a Kafka broker (KRaft) in $SLUICE_ENV_DIR"
pg_start
kafka_start

say "creating tables customers and orders, and publication \"sluice\""
pg_psql <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email text, vip boolean DEFAULT false);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers, amount numeric(10,2),
                     status text, created_at timestamptz DEFAULT now());
ALTER TABLE customers OWNER TO sluice;
ALTER TABLE orders OWNER TO sluice;
CREATE PUBLICATION sluice FOR TABLE customers, orders;
SQL

CONF="$SLUICE_ENV_DIR/sluice.conf"
umask 077
cat >"$CONF" <<EOF2
# sluice demo configuration (see docker/sluice.conf.example for every key)
postgres.conninfo = $PG_CONNINFO
postgres.slot = demo
postgres.publication = sluice
topic.prefix = demo
kafka.bootstrap.servers = $KAFKA_BOOTSTRAP
EOF2
umask 022

say "starting sluice: $REPO/build/sluice run -c $CONF"
"$REPO/build/sluice" run -c "$CONF" >"$SLUICE_ENV_DIR/sluice.log" 2>&1 &
SLUICE_PID=$!
env_on_exit "kill -TERM $SLUICE_PID 2>/dev/null; wait $SLUICE_PID 2>/dev/null || true"
for _ in $(seq 1 100); do
    [ "$(pg_psql -Atc "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'demo'")" = 1 ] && break
    sleep 0.2
done

say "live workload: a new customer, an order, an update and sometimes a delete every second"
(
    i=0
    while :; do
        i=$((i + 1))
        pg_psql -q <<SQL >/dev/null 2>&1 || true
BEGIN;
INSERT INTO customers (name, email) VALUES ('customer $i', 'c$i@example.com');
INSERT INTO orders (customer_id, amount, status) VALUES (currval('customers_id_seq'), round((random() * 100)::numeric, 2), 'new');
UPDATE orders SET status = 'paid' WHERE id = (SELECT max(id) - 1 FROM orders);
COMMIT;
SQL
        if [ $((i % 5)) -eq 0 ]; then
            pg_psql -q -c "UPDATE customers SET vip = true WHERE id = $((i - 2))" >/dev/null 2>&1 || true
            pg_psql -q -c "DELETE FROM orders WHERE id = (SELECT min(id) FROM orders)" >/dev/null 2>&1 || true
        fi
        sleep 1
    done
) &
env_on_exit "kill $! 2>/dev/null || true"

say "change events (topic, key, value) as a read_committed consumer sees them; Ctrl-C to stop"
kcat -C -b "$KAFKA_BOOTSTRAP" -G demo-tail -X isolation.level=read_committed \
    -X auto.offset.reset=earliest -q -f '%t  key=%k\n    %s\n' \
    demo.public.customers demo.public.orders
