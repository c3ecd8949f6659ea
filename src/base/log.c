/*
 * log.c — formats and writes log lines. Owns the log file descriptor.
 * Never decides anything: callers log once, where they decide what to do.
 */
#include "sluice/base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_threshold = LOG_INFO;
static bool log_json;
static char log_path[4096];
static atomic_int log_fd = 2;
static pthread_mutex_t log_reopen_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread const char *thread_name = "main";

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "FATAL"};

bool log_level_parse(const char *name, log_level_t *out)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (log_level_t) i;
            return true;
        }
    }
    return false;
}

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

bool log_configure(log_level_t level, bool json, const char *path)
{
    atomic_store(&log_threshold, (int) level);
    log_json = json;
    if (path && *path) {
        int fd = open_log(path);
        if (fd < 0)
            return false;
        snprintf(log_path, sizeof log_path, "%s", path);
        int old = atomic_exchange(&log_fd, fd);
        if (old > 2)
            close(old);
    }
    return true;
}

void log_reopen(void)
{
    pthread_mutex_lock(&log_reopen_lock);
    if (log_path[0]) {
        int fd = open_log(log_path);
        if (fd >= 0) {
            int old = atomic_exchange(&log_fd, fd);
            if (old > 2)
                close(old);
        }
    }
    pthread_mutex_unlock(&log_reopen_lock);
}

void log_set_thread_name(const char *name)
{
    thread_name = name;
    /* The same name for top -H, perf and gdb (the kernel keeps 15 characters). */
    char os_name[16];
    snprintf(os_name, sizeof os_name, "%s", name);
    pthread_setname_np(pthread_self(), os_name);
}

bool log_enabled(log_level_t level)
{
    return (int) level >= atomic_load(&log_threshold);
}

/* Appends s to buf as the body of a JSON string. */
static size_t json_escape_into(char *buf, size_t cap, size_t len, const char *s)
{
    for (; *s && len + 7 < cap; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char) c;
        } else if (c == '\n') {
            buf[len++] = '\\';
            buf[len++] = 'n';
        } else if (c < 0x20) {
            len += (size_t) snprintf(buf + len, cap - len, "\\u%04x", c);
        } else {
            buf[len++] = (char) c;
        }
    }
    return len;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    int saved_errno = errno;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    errno = saved_errno; /* so %m works */
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* Strip a trailing newline that libpq error texts carry. */
    size_t mlen = strlen(msg);
    while (mlen > 0 && (msg[mlen - 1] == '\n' || msg[mlen - 1] == ' '))
        msg[--mlen] = '\0';

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof ts - tl, ".%03dZ", (int) (tv.tv_usec / 1000));

    char line[8192];
    size_t len;
    if (log_json) {
        len = (size_t) snprintf(line, sizeof line,
                                "{\"ts\":\"%s\",\"level\":\"%s\",\"thread\":\"%s\",\"pid\":%d,\"msg\":\"",
                                ts, level_names[level], thread_name, (int) getpid());
        len = json_escape_into(line, sizeof line, len, msg);
        len += (size_t) snprintf(line + len, sizeof line - len, "\"}\n");
    } else {
        len = (size_t) snprintf(line, sizeof line, "%s [%d] %s %s:  %s\n", ts, (int) getpid(),
                                thread_name, level_names[level], msg);
    }
    if (len >= sizeof line) {
        len = sizeof line - 1;
        line[len - 1] = '\n';
    }
    ssize_t w = write(atomic_load(&log_fd), line, len);
    (void) w;
    errno = saved_errno;
}
