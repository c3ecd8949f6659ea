/*
 * workload — drives concurrent transactions into the test tables and records
 * every committed transaction in a ledger the verifier checks Kafka against.
 *
 *   workload CONNINFO --clients N --txns T [--seed S] [--keys K] [--max-changes M]
 *            [--rollback-pct P] [--setup]
 *
 * Tables (published): wl_a (id int PK), wl_b (a bigint, b text: composite PK),
 * wl_c (id int PK, payload text). Ledger (NOT published): wl_ledger(xid,
 * changes, client). Each source transaction makes 1..M changes over hot keys
 * (INSERT … ON CONFLICT DO UPDATE, UPDATE, DELETE); the number of rows each
 * statement touched is counted, so the ledger says exactly how many change
 * events Kafka must hold for that xid. A share of transactions is rolled back:
 * their xids must never appear in Kafka. Deadlocks and serialization errors
 * roll back and are counted like rollbacks.
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *conninfo;
    int id;
    int txns;
    unsigned seed;
    int keys;
    int max_changes;
    int rollback_pct;
    long committed, rolled_back, changes, failed;
} client_t;

static const char *setup_sql =
    "CREATE TABLE IF NOT EXISTS wl_a (id int PRIMARY KEY, v text NOT NULL, n bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS wl_b (a bigint, b text, v text, flag boolean, PRIMARY KEY (a, b));"
    "CREATE TABLE IF NOT EXISTS wl_c (id int PRIMARY KEY, payload text, amount double precision);"
    "CREATE TABLE IF NOT EXISTS wl_ledger (xid bigint PRIMARY KEY, changes int NOT NULL, client int);"
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'sluice') THEN "
    "CREATE PUBLICATION sluice FOR TABLE wl_a, wl_b, wl_c; END IF; END $$;";

#define MAX_CHANGES 1000

typedef struct {
    int table, key, op;
    unsigned val;
} op_t;

static int op_cmp(const void *a, const void *b)
{
    const op_t *x = a, *y = b;
    if (x->table != y->table)
        return x->table - y->table;
    if (x->table == 1 && x->key % 7 != y->key % 7)
        return x->key % 7 - y->key % 7;
    return x->key - y->key;
}

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffff;
}

/* Runs one statement; returns rows affected, or -1 on error. */
static long exec_count(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    long n = -1;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        n = atol(PQcmdTuples(r));
    PQclear(r);
    return n;
}

static void *client_main(void *arg)
{
    client_t *cl = arg;
    PGconn *c = PQconnectdb(cl->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "workload: client %d: %s", cl->id, PQerrorMessage(c));
        cl->failed = 1;
        PQfinish(c);
        return NULL;
    }
    unsigned s = cl->seed;
    char sql[512];
    for (int t = 0; t < cl->txns; t++) {
        if (exec_count(c, "BEGIN") < 0)
            goto broken;
        int n = 1 + (int) (rnd(&s) % (unsigned) cl->max_changes);
        /* Draw the changes, then run them in (table, key) order: every client takes row
         * locks in the same order, so hot keys make clients wait but never deadlock. */
        op_t ops[MAX_CHANGES];
        for (int i = 0; i < n; i++) {
            ops[i].table = (int) (rnd(&s) % 3);
            ops[i].key = (int) (rnd(&s) % (unsigned) cl->keys);
            if (ops[i].table == 1)
                ops[i].key %= 7 * 64; /* composite key (key % 7, key) */
            ops[i].op = (int) (rnd(&s) % 10); /* 0-5 upsert, 6-8 update, 9 delete */
            ops[i].val = rnd(&s);
        }
        qsort(ops, (size_t) n, sizeof ops[0], op_cmp);
        long changes = 0;
        bool ok = true;
        for (int i = 0; i < n && ok; i++) {
            int table = ops[i].table, key = ops[i].key, op = ops[i].op;
            unsigned val = ops[i].val;
            if (table == 0) {
                if (op <= 5)
                    snprintf(sql, sizeof sql,
                             "INSERT INTO wl_a VALUES (%d, 'c%d-t%d-i%d', %u) ON CONFLICT (id) DO "
                             "UPDATE SET v = EXCLUDED.v, n = wl_a.n + 1",
                             key, cl->id, t, i, val);
                else if (op <= 8)
                    snprintf(sql, sizeof sql, "UPDATE wl_a SET v = 'u%d-%d-%d', n = n + 1 WHERE id = %d",
                             cl->id, t, i, key);
                else
                    snprintf(sql, sizeof sql, "DELETE FROM wl_a WHERE id = %d", key);
            } else if (table == 1) {
                if (op <= 5)
                    snprintf(sql, sizeof sql,
                             "INSERT INTO wl_b VALUES (%d, 'k\"%d''\\', 'c%d-t%d', %s) ON CONFLICT (a, b) "
                             "DO UPDATE SET v = EXCLUDED.v, flag = NOT wl_b.flag",
                             key % 7, key, cl->id, t, val & 1 ? "true" : "false");
                else if (op <= 8)
                    snprintf(sql, sizeof sql,
                             "UPDATE wl_b SET v = 'u%d-%d', flag = NOT flag WHERE a = %d AND b = 'k\"%d''\\'",
                             cl->id, t, key % 7, key);
                else
                    snprintf(sql, sizeof sql, "DELETE FROM wl_b WHERE a = %d AND b = 'k\"%d''\\'", key % 7,
                             key);
            } else {
                if (op <= 5)
                    snprintf(sql, sizeof sql,
                             "INSERT INTO wl_c VALUES (%d, repeat('p%u ', %u), %u.5) ON CONFLICT (id) DO "
                             "UPDATE SET payload = EXCLUDED.payload, amount = wl_c.amount + 1",
                             key, val, 1 + val % 40, val % 1000);
                else if (op <= 8)
                    snprintf(sql, sizeof sql, "UPDATE wl_c SET amount = amount * 2 WHERE id = %d", key);
                else
                    snprintf(sql, sizeof sql, "DELETE FROM wl_c WHERE id = %d", key);
            }
            long k = exec_count(c, sql);
            if (k < 0)
                ok = false;
            else
                changes += k;
        }
        bool rollback = !ok || (int) (rnd(&s) % 100) < cl->rollback_pct;
        if (!rollback) {
            snprintf(sql, sizeof sql,
                     "INSERT INTO wl_ledger VALUES (txid_current() %% 4294967296, %ld, %d)", changes,
                     cl->id);
            if (exec_count(c, sql) < 0)
                rollback = true;
        }
        if (rollback) {
            exec_count(c, "ROLLBACK");
            cl->rolled_back++;
            if (PQstatus(c) != CONNECTION_OK)
                goto broken;
            continue;
        }
        if (exec_count(c, "COMMIT") < 0) {
            /* The outcome of a failed COMMIT is unknown; the ledger row decides (it commits with it). */
            fprintf(stderr, "workload: client %d: COMMIT failed: %s", cl->id, PQerrorMessage(c));
            goto broken;
        }
        cl->committed++;
        cl->changes += changes;
    }
    PQfinish(c);
    return NULL;
broken:
    fprintf(stderr, "workload: client %d: connection broken: %s", cl->id, PQerrorMessage(c));
    cl->failed = 1;
    PQfinish(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: workload CONNINFO [--setup] [--clients N] [--txns T] [--seed S] "
                        "[--keys K] [--max-changes M] [--rollback-pct P]\n");
        return 2;
    }
    const char *conninfo = argv[1];
    int clients = 4, txns = 1000, keys = 500, max_changes = 50, rollback_pct = 5;
    unsigned seed = 1;
    bool setup = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "0";
        if (!strcmp(a, "--setup")) {
            setup = true;
            continue;
        }
        if (!strcmp(a, "--clients"))
            clients = atoi(v);
        else if (!strcmp(a, "--txns"))
            txns = atoi(v);
        else if (!strcmp(a, "--seed"))
            seed = (unsigned) strtoul(v, NULL, 10);
        else if (!strcmp(a, "--keys"))
            keys = atoi(v);
        else if (!strcmp(a, "--max-changes"))
            max_changes = atoi(v);
        else if (!strcmp(a, "--rollback-pct"))
            rollback_pct = atoi(v);
        else {
            fprintf(stderr, "workload: unknown option %s\n", a);
            return 2;
        }
        i++;
    }
    if (setup) {
        PGconn *c = PQconnectdb(conninfo);
        PGresult *r = PQexec(c, setup_sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "workload: setup failed: %s", PQresultErrorMessage(r));
            return 1;
        }
        PQclear(r);
        PQfinish(c);
        if (txns == 0 || clients == 0)
            return 0;
    }
    if (max_changes < 1 || max_changes > MAX_CHANGES) {
        fprintf(stderr, "workload: --max-changes must be 1..%d\n", MAX_CHANGES);
        return 2;
    }
    client_t *cl = calloc((size_t) clients, sizeof *cl);
    pthread_t *th = calloc((size_t) clients, sizeof *th);
    for (int i = 0; i < clients; i++) {
        cl[i] = (client_t){.conninfo = conninfo,
                           .id = i,
                           .txns = txns / clients + (i < txns % clients),
                           .seed = seed * 7919u + (unsigned) i * 104729u,
                           .keys = keys,
                           .max_changes = max_changes,
                           .rollback_pct = rollback_pct};
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    long committed = 0, rolled = 0, changes = 0, failed = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(th[i], NULL);
        committed += cl[i].committed;
        rolled += cl[i].rolled_back;
        changes += cl[i].changes;
        failed += cl[i].failed;
    }
    printf("workload: %ld committed transactions, %ld changes, %ld rolled back, %ld clients broken\n",
           committed, changes, rolled, failed);
    free(cl);
    free(th);
    return failed ? 1 : 0;
}
