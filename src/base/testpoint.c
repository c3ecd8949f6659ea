/*
 * testpoint.c — see testpoint.h. Only the fault tests set SLUICE_CRASH_AT.
 */
#include "sluice/base/testpoint.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base/log.h"

bool testpoint_armed;
static char crash_point[64];
static atomic_long crash_countdown;

void testpoint_init(void)
{
    const char *spec = getenv("SLUICE_CRASH_AT");
    if (!spec || !*spec)
        return;
    long n = 1;
    const char *colon = strchr(spec, ':');
    size_t len = colon ? (size_t) (colon - spec) : strlen(spec);
    if (colon)
        n = strtol(colon + 1, NULL, 10);
    if (len >= sizeof crash_point || n < 1)
        return;
    memcpy(crash_point, spec, len);
    crash_point[len] = '\0';
    atomic_store(&crash_countdown, n);
    testpoint_armed = true;
    log_warning("test crash point armed: SIGKILL at hit %ld of \"%s\"", n, crash_point);
}

void testpoint_hit_slow(const char *name)
{
    if (strcmp(name, crash_point) != 0)
        return;
    if (atomic_fetch_sub(&crash_countdown, 1) == 1) {
        log_warning("test crash point \"%s\" reached: killing myself", name);
        raise(SIGKILL);
    }
}
