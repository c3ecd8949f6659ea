#!/usr/bin/env bash
# The one-command demo (make demo): a throwaway PostgreSQL 15 and Kafka broker,
# sluice streaming a small shop database, a live workload, and the change
# events as a read_committed consumer sees them. Ctrl-C stops and removes it all.
#
#   DEMO_SECONDS=N   stop by itself after N seconds of events (for tests and CI)
#   DEMO_RAW=1       print the raw Debezium JSON envelopes instead of one line each
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SLUICE="$REPO/build/sluice"

if [ -t 2 ]; then B=$'\033[1m' D=$'\033[2m' R=$'\033[0m'; else B="" D="" R=""; fi
say() { printf '%s== %s%s\n' "$B" "$*" "$R" >&2; }
die() { printf '%sdemo: %s%s\n' "$B" "$*" "$R" >&2; exit 1; }

T0=$SECONDS
say "building sluice (make build/sluice; fast when it is built)"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$REPO" --no-print-directory -s build/sluice >&2 ||
    die "building sluice failed (see above)"
say "installing what is missing (Debian packages, Apache Kafka via Maven; fast when present)"
. "$REPO/tests/env/env.sh"

env_init
say "starting PostgreSQL 15 (wal_level=logical) and a Kafka broker (KRaft) in $SLUICE_ENV_DIR"
pg_start || die "PostgreSQL did not start (see above)"
kafka_start || die "Kafka did not start (see above)"

say "creating tables customers and orders, and the publication \"sluice\" (see sql/setup.sql)"
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
cat >"$CONF" <<EOF
# sluice demo configuration (docker/sluice.conf.example explains every key)
postgres.conninfo = $PG_CONNINFO
postgres.slot = demo
postgres.publication = sluice
topic.prefix = demo
kafka.bootstrap.servers = $KAFKA_BOOTSTRAP
metrics.listen = 127.0.0.1:0
EOF
umask 022

say "preflight: $SLUICE check -c $CONF"
"$SLUICE" check -c "$CONF" | sed "s/^/$D/; s/\$/$R/" >&2 || die "sluice check failed (see above)"

LOG="$SLUICE_ENV_DIR/sluice.log"
say "starting sluice: $SLUICE run -c $CONF   (log: $LOG)"
"$SLUICE" run -c "$CONF" >"$LOG" 2>&1 &
SLUICE_PID=$!
env_on_exit "kill -TERM $SLUICE_PID 2>/dev/null; wait $SLUICE_PID 2>/dev/null || true; echo '== sluice stopped; removing the demo environment' >&2"
rc=0
wait_for -p "$SLUICE_PID" 30 grep -q "streaming from" "$LOG" || rc=$?
[ "$rc" -ne 2 ] || { cat "$LOG" >&2; die "sluice exited (log above)"; }
[ "$rc" -eq 0 ] || { tail -5 "$LOG" >&2; die "sluice did not start streaming within 30 s"; }
PORT="$(sed -n 's|.*serving metrics on http://[^:]*:\([0-9]*\)/metrics.*|\1|p' "$LOG" | head -1)"
say "sluice is streaming; metrics: curl -s localhost:$PORT/metrics, health: curl localhost:$PORT/healthz"

say "live workload: every second a new customer and an order, an order paid; now and then a VIP and a delete"
(
    trap 'exit 0' TERM INT
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
        sleep 1 # the workload's pace
    done
) &
WORKLOAD_PID=$!
env_on_exit "kill -TERM $WORKLOAD_PID 2>/dev/null; wait $WORKLOAD_PID 2>/dev/null || true"

# One line per event: op, topic, key, and the row after (before for deletes).
format_events() {
    python3 -u -c '
import json, sys
ops = {"c": "insert", "u": "update", "d": "delete", "t": "truncate", "m": "message"}
for line in sys.stdin:
    topic, _, rest = line.rstrip("\n").partition("\t")
    key, _, value = rest.partition("\t")
    if not value:
        print("%-9s %-22s key=%s" % ("tombstone", topic, key)); continue
    try:
        ev = json.loads(value)
    except ValueError:
        print(line, end=""); continue
    row = ev.get("after") if ev.get("op") != "d" else ev.get("before")
    print("%-9s %-22s key=%-12s %s" % (ops.get(ev.get("op"), ev.get("op")), topic, key,
          json.dumps(row, separators=(",", ":"))))
'
}

# sluice creates a table's topic when it first sees the table: wait for both.
both_topics() {
    [ "$(kcat -b "$KAFKA_BOOTSTRAP" -L -m 5 2>/dev/null | grep -Ec 'topic "demo\.public\.(customers|orders)"')" = 2 ]
}
rc=0
wait_for -p "$SLUICE_PID" 30 both_topics || rc=$?
[ "$rc" -ne 2 ] || { tail -5 "$LOG" >&2; die "sluice exited (log above)"; }
[ "$rc" -eq 0 ] || { tail -5 "$LOG" >&2; die "sluice created no topics within 30 s"; }

say "change events as a read_committed consumer sees them (set up in $((SECONDS - T0)) s); Ctrl-C stops and cleans up"
printf '%s%-9s %-22s %-16s %s%s\n' "$B" "op" "topic" "key" "row" "$R"
KCAT=(kcat -C -b "$KAFKA_BOOTSTRAP" -G demo-tail -X isolation.level=read_committed
      -X auto.offset.reset=earliest -q -u -f '%t\t%k\t%s\n' demo.public.customers demo.public.orders)
if [ -n "${DEMO_SECONDS:-}" ]; then
    KCAT=(timeout --foreground "$DEMO_SECONDS" "${KCAT[@]}")
fi
if [ "${DEMO_RAW:-0}" = 1 ]; then
    "${KCAT[@]}" || true
else
    "${KCAT[@]}" | format_events || true
fi
