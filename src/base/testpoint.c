/*
 * testpoint.c — see testpoint.h. Only the fault tests set SLUICE_CRASH_AT.
 */
#include "sluice/base/testpoint.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base/log.h"

#define MAX_POINTS 4

bool testpoint_armed;

static struct {
    char name[64];
    int sig;       /* SIGKILL, SIGSTOP or SIGTERM; 0: hold the thread for sleep_s */
    int sleep_s;   /* SLEEP<s> */
    atomic_long countdown;
} points[MAX_POINTS];
static int npoints;

static const char *sig_name(int sig)
{
    return sig == SIGSTOP ? "SIGSTOP" : sig == SIGTERM ? "SIGTERM" : sig ? "SIGKILL" : "SLEEP";
}

/* "SLEEP<s>", 1 to 600 seconds: its seconds, else 0. */
static int sleep_seconds(const char *action)
{
    if (strncmp(action, "SLEEP", 5) != 0 || !action[5])
        return 0;
    char *end;
    long s = strtol(action + 5, &end, 10);
    return *end || s < 1 || s > 600 ? 0 : (int) s;
}

/* Arms one "name[:n[:KILL|STOP|TERM|SLEEP<s>]]"; ignored (with a warning) when malformed. */
static void arm(const char *spec, size_t len)
{
    char buf[96];
    if (len >= sizeof buf || npoints == MAX_POINTS)
        return;
    memcpy(buf, spec, len);
    buf[len] = '\0';
    char *count = strchr(buf, ':');
    char *action = count ? strchr(count + 1, ':') : NULL;
    if (count)
        *count++ = '\0';
    if (action)
        *action++ = '\0';
    long n = count ? strtol(count, NULL, 10) : 1;
    int sig = !action || !strcmp(action, "KILL") ? SIGKILL
              : !strcmp(action, "STOP")          ? SIGSTOP
              : !strcmp(action, "TERM")          ? SIGTERM
                                                 : 0;
    int sleep_s = !sig && action ? sleep_seconds(action) : 0;
    if (!buf[0] || strlen(buf) >= sizeof points[0].name || n < 1 || (!sig && !sleep_s)) {
        log_warning("test point \"%s\" ignored: expected name[:n[:KILL|STOP|TERM|SLEEP<s>]]",
                    spec);
        return;
    }
    memcpy(points[npoints].name, buf, strlen(buf) + 1); /* length checked above */
    points[npoints].sig = sig;
    points[npoints].sleep_s = sleep_s;
    atomic_store(&points[npoints].countdown, n);
    npoints++;
    testpoint_armed = true;
    log_warning("test point armed: %s at hit %ld of \"%s\"", sig_name(sig), n, buf);
}

void testpoint_init(void)
{
    const char *spec = getenv("SLUICE_CRASH_AT");
    if (!spec || !*spec)
        return;
    for (const char *p = spec; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen(p);
        arm(p, len);
        p += len + (comma ? 1 : 0);
    }
}

void testpoint_hit_slow(const char *name)
{
    for (int i = 0; i < npoints; i++) {
        if (strcmp(name, points[i].name) != 0)
            continue;
        if (atomic_fetch_sub(&points[i].countdown, 1) != 1)
            continue;
        if (!points[i].sig) {
            /* Only this thread waits: the others (the reader) go on as they would
             * while this one is slow. */
            log_warning("test point \"%s\" reached: holding this thread for %d s", name,
                        points[i].sleep_s);
            sleep((unsigned) points[i].sleep_s);
            continue;
        }
        log_warning("test point \"%s\" reached: %s to myself", name, sig_name(points[i].sig));
        /* To the process, not this thread: SIGTERM is blocked in every thread
         * and taken by the signal thread's sigwait, which sees only signals
         * sent to the process. */
        kill(getpid(), points[i].sig);
        /* A SIGTERM is taken by the signal thread: give it the moment it needs, so
         * that the code after the point runs with the stop already requested. */
        if (points[i].sig == SIGTERM)
            usleep(200 * 1000);
    }
}
