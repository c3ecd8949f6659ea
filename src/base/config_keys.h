/*
 * config_keys.h — the table of every configuration key (config_keys.c) and
 * the shape of one entry, shared by config.c, which sets, checks, frees and
 * documents keys by walking the table. Private to src/base/.
 */
#ifndef SLUICE_CONFIG_KEYS_H
#define SLUICE_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "sluice/base/config.h"

typedef enum {
    T_STRING,
    T_BOOL,
    T_INT,
    T_SIZE,
    T_LOGLEVEL,
    T_LOGFORMAT,
    T_CHOICE, /* one of choices[], stored as its index in an enum field */
    T_OPSET   /* none, or a comma-separated list of c, u, d, t: SKIP_OP_* bits in an unsigned */
} key_type_t;

typedef struct {
    const char *name;
    key_type_t type;
    size_t offset;
    const char *def; /* NULL: no default */
    bool required;
    long long min, max;
    const char *doc;
    const char *const *choices; /* T_CHOICE: the names, NULL-terminated, in enum order */
} key_def_t;

/* Every key, in the order `sluice config-doc` prints them. */
extern const key_def_t config_keys[];
extern const size_t config_nkeys;

/* The names of decimal.handling.mode's values, in enum order. */
extern const char *const config_decimal_modes[];

#endif
