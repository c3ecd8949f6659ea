/*
 * fuzz_config.c — libFuzzer target for the configuration file reader
 * (config_load_file, then config_finish as `sluice run` calls them).
 *
 * The input becomes the content of a memfd that config_load_file opens by
 * its /proc/self/fd path, so the real entry point runs, fopen and fstat
 * included. An input of even length is read from a file only its owner can
 * read, one of odd length from a file others can read too (where a secret
 * must be refused). The read must succeed or give a reason; nothing may leak
 * or crash. ${NAME}
 * expands from the environment: SLUICE_FUZZ_PASSWORD is set for the seeds.
 *
 *   make fuzz FUZZ_TIME=60      seeds: tests/fuzz/seeds/config/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sluice/base/config.h"

static int fd = -1;
static char path[64];

/* A broken promise: says which, then aborts so libFuzzer keeps the input. */
#define check(cond) ((cond) ? (void) 0 : broken(#cond, __LINE__))
static void broken(const char *what, int line)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, what);
    abort();
}

/* libFuzzer's entry points. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    fd = memfd_create("sluice.conf", 0);
    check(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    setenv("SLUICE_FUZZ_PASSWORD", "s3cret", 1);
    return 0;
}

static void load(mode_t mode)
{
    check(fchmod(fd, mode) == 0);
    config_t cfg;
    config_init(&cfg);
    char err[512];
    err[0] = '\0';
    bool ok = config_load_file(&cfg, path, err, sizeof err) && config_finish(&cfg, err, sizeof err);
    check(ok || (err[0] != '\0' && strnlen(err, sizeof err) < sizeof err));
    if (ok)
        check(cfg.pg_conninfo && cfg.slot && cfg.publication && cfg.topic_prefix);
    config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(ftruncate(fd, 0) == 0);
    check(pwrite(fd, data, size, 0) == (ssize_t) size);
    load(size % 2 ? 0644 : 0600);
    return 0;
}
