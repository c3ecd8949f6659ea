#!/bin/bash
# Stand-in entrypoint (test-only; see the Dockerfile): initialise an empty
# data directory once, run the init scripts, then run the server in the
# foreground as user postgres.
set -euo pipefail
if [ "${1:-}" != postgres ]; then
    exec "$@"
fi
if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$PGDATA"
    chmod 0700 "$PGDATA"
    exec runuser -u postgres -- "$0" "$@"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    initdb --username=postgres --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-sync >/dev/null
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=/var/run/postgresql -c fsync=off" start >/dev/null
    db="${POSTGRES_DB:-postgres}"
    if [ "$db" != postgres ]; then
        psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d postgres \
            -c "CREATE DATABASE \"$db\""
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
        *.sql) echo "init: running $f"
               psql -X -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U postgres -d "$db" -f "$f" ;;
        *.sh) echo "init: sourcing $f"; . "$f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "init: complete; starting the server"
fi
exec "$@"
