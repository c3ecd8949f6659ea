/*
 * encoder.c — encode.h's calls, dispatched to the format the encoder was
 * made for (format = json | protobuf). The pipeline never knows which format
 * it writes; each format lives in its own file (json.c, protobuf.c).
 */
#include "encoders.h"

encoder_t *encoder_new(output_format_t format, const encoder_options_t *opts)
{
    switch (format) {
    case FORMAT_JSON: return json_encoder_new(format, opts);
    case FORMAT_PROTOBUF: return protobuf_encoder_new(opts);
    }
    return NULL;
}

void encoder_free(encoder_t *enc)
{
    if (!enc)
        return;
    if (encoder_format(enc) == FORMAT_PROTOBUF)
        protobuf_encoder_free(enc);
    else
        json_encoder_free(enc);
}

bool encoder_key(encoder_t *enc, const relcache_entry_t *rel, const pgo_tuple_t *tuple,
                 strbuf_t *out)
{
    if (encoder_format(enc) == FORMAT_PROTOBUF)
        return protobuf_encoder_key(enc, rel, tuple, out);
    return json_encoder_key(enc, rel, tuple, out);
}

void encoder_value(encoder_t *enc, const change_event_t *ev, strbuf_t *out)
{
    if (encoder_format(enc) == FORMAT_PROTOBUF)
        protobuf_encoder_value(enc, ev, out);
    else
        json_encoder_value(enc, ev, out);
}

void encoder_prepare_relation(encoder_t *enc, relcache_entry_t *rel)
{
    /* Protobuf events describe their columns themselves: nothing to prepare. */
    if (encoder_format(enc) == FORMAT_JSON)
        json_encoder_prepare_relation(enc, rel);
}

void encoder_txn_key(encoder_t *enc, const source_txn_t *txn, strbuf_t *out)
{
    if (encoder_format(enc) == FORMAT_PROTOBUF)
        protobuf_encoder_txn_key(enc, txn, out);
    else
        json_encoder_txn_key(enc, txn, out);
}

void encoder_txn_value(encoder_t *enc, const txn_meta_t *meta, int64_t now_ms, strbuf_t *out)
{
    if (encoder_format(enc) == FORMAT_PROTOBUF)
        protobuf_encoder_txn_value(enc, meta, now_ms, out);
    else
        json_encoder_txn_value(enc, meta, now_ms, out);
}

void encoder_message_key(encoder_t *enc, const char *prefix, strbuf_t *out)
{
    if (encoder_format(enc) == FORMAT_PROTOBUF)
        protobuf_encoder_message_key(enc, prefix, out);
    else
        json_encoder_message_key(enc, prefix, out);
}
