/*
 * log.h — the one place messages leave the process.
 *
 * PostgreSQL's message style: lowercase, no trailing period, names in quotes,
 * LSNs as %X/%08X. Each line carries a level and the thread's role. Output
 * goes to stderr or to a file (reopened on SIGHUP), as text or JSON lines.
 * Thread-safe: a line is written with one write(2).
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include "sluice/base/common.h"

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARNING, LOG_ERROR, LOG_FATAL } log_level_t;

/* Parses "debug|info|warning|error"; false if unknown. */
bool log_level_parse(const char *name, log_level_t *out);

/* Sets threshold, format and destination. path NULL = stderr. False (with errno) if the file cannot be opened. */
bool log_configure(log_level_t level, bool json, const char *path);

/* Reopens the log file (after rotation); a no-op for stderr. */
void log_reopen(void);

/* Names the calling thread in its log lines ("main", "reader", ...). The string must outlive the thread. */
void log_set_thread_name(const char *name);

bool log_enabled(log_level_t level);

void log_msg(log_level_t level, const char *fmt, ...) SLUICE_PRINTF(2, 3);

#define log_debug(...)                                                                     \
    do {                                                                                   \
        if (log_enabled(LOG_DEBUG))                                                        \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                               \
    } while (0)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_fatal(...) log_msg(LOG_FATAL, __VA_ARGS__)

#endif
