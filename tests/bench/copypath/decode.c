/* CPU per row of copyrow_decode: the base commit's (copyrow_decode_old) and the tree's (run.sh). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "sluice/pg/copyrow.h"
bool copyrow_decode_old(const char *row, size_t len, pgo_value_t *values, uint16_t ncols, strbuf_t *scratch, char *err, size_t errlen);
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(void)
{
    /* rows shaped as the bench's snap_a (COPY text), snap_b, snap_c */
    const char *rows[] = {
        "123456\tname 123456\t154320.00\t2024-03-27 17:36:00+00\t{\"g\": 123456, \"s\": \"x\\\\\"y\"}\t\\\\x3e6a1b9c0f3e6a1b9c0f3e6a1b9c0f3e\ttab\\there\\nnew line \\\\\\\\ back\t{a123456,NULL,\"q\\\\\"t\"}\n",
        "123457\tname 123457\t154321.25\t2024-03-27 17:37:00+00\t{\"g\": 123457, \"s\": \"x\\\\\"y\"}\t\\\\x9f1e2d3c4b5a69788796a5b4c3d2e1f0\tplain 123457\t\\N\n",
        "98765\t32921.666666666667\t2027-01-15\t27:26:05\tt\n",
        "k4242\t4242\tcccccccccccccccccccccccccccccccccccccccccc\n"};
    uint16_t ncols[] = {8, 8, 5, 3};
    pgo_value_t v[16];
    strbuf_t s = STRBUF_INIT;
    char err[256];
    for (int which = 0; which < 2; which++) {
        double best = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = cpu();
            for (int i = 0; i < 2000000; i++) {
                int r = i & 3;
                bool ok = which ? copyrow_decode(rows[r], strlen(rows[r]), v, ncols[r], &s, err, sizeof err)
                                : copyrow_decode_old(rows[r], strlen(rows[r]), v, ncols[r], &s, err, sizeof err);
                if (!ok) { printf("fail %d %s\n", r, err); return 1; }
            }
            double t = cpu() - t0;
            if (t < best) best = t;
        }
        printf("%s: %.1f ns/row (best of 5, 2M rows)\n", which ? "new" : "old", best * 1e9 / 2000000);
    }
    return 0;
}
