/*
 * jsonstr.h — JSON string writers shared by every JSON text sluice writes:
 * change events (encode/json.c), checkpoints and snapshot progress.
 *
 * Both append to a strbuf and never fail (out-of-memory aborts, buf.h).
 */
#ifndef SLUICE_JSONSTR_H
#define SLUICE_JSONSTR_H

#include "sluice/base/buf.h"

/*
 * Appends s[0..len) as a JSON string, quotes included: '"', '\\' and bytes
 * below 0x20 escaped, every other byte (UTF-8 included) copied as it is.
 */
void json_append_string(strbuf_t *out, const char *s, size_t len);
/* Appends `len` bytes as a base64 JSON string, quotes included. */
void json_append_base64(strbuf_t *out, const uint8_t *data, size_t len);

#endif
