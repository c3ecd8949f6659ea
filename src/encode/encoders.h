/*
 * encoders.h — the per-format encoders behind encode.h (private to
 * src/encode/). encoder.c dispatches each encode.h call to the format the
 * encoder was made for: json.c (json_encoder_*) or protobuf.c
 * (protobuf_encoder_*).
 *
 * Every format's struct starts with an output_format_t, so encoder.c reads
 * the format of any encoder_t without knowing the struct (a pointer to a
 * struct converts to a pointer to its first member). Each implementation
 * converts the handle back to its own struct only in its own calls.
 */
#ifndef SLUICE_ENCODERS_H
#define SLUICE_ENCODERS_H

#include "sluice/encode/encode.h"

static inline output_format_t encoder_format(const encoder_t *enc)
{
    return *(const output_format_t *) (const void *) enc;
}

encoder_t *json_encoder_new(output_format_t format, const encoder_options_t *opts);
void json_encoder_free(encoder_t *enc);
bool json_encoder_key(encoder_t *enc, const relcache_entry_t *rel, const pgo_tuple_t *tuple,
                      strbuf_t *out);
void json_encoder_value(encoder_t *enc, const change_event_t *ev, strbuf_t *out);
void json_encoder_prepare_relation(encoder_t *enc, relcache_entry_t *rel);
void json_encoder_txn_key(encoder_t *enc, const source_txn_t *txn, strbuf_t *out);
void json_encoder_txn_value(encoder_t *enc, const txn_meta_t *meta, int64_t now_ms,
                            strbuf_t *out);
void json_encoder_message_key(encoder_t *enc, const char *prefix, strbuf_t *out);

encoder_t *protobuf_encoder_new(const encoder_options_t *opts);
void protobuf_encoder_free(encoder_t *enc);
bool protobuf_encoder_key(encoder_t *enc, const relcache_entry_t *rel, const pgo_tuple_t *tuple,
                          strbuf_t *out);
void protobuf_encoder_value(encoder_t *enc, const change_event_t *ev, strbuf_t *out);
void protobuf_encoder_txn_key(encoder_t *enc, const source_txn_t *txn, strbuf_t *out);
void protobuf_encoder_txn_value(encoder_t *enc, const txn_meta_t *meta, int64_t now_ms,
                                strbuf_t *out);
void protobuf_encoder_message_key(encoder_t *enc, const char *prefix, strbuf_t *out);

#endif
