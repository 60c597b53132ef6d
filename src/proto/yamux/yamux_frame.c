/* yamux_frame.c: the Yamux frame header codec (PROTOCOLS.md 4). */
#include "proto/yamux/yamux_frame.h"

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void rly_yamux_frame_encode(uint8_t *out, const rly_yamux_frame *f)
{
    out[0] = RLY_YAMUX_VERSION;
    out[1] = f->type;
    put_u16(out + 2, f->flags);
    put_u32(out + 4, f->stream_id);
    put_u32(out + 8, f->length);
}

int rly_yamux_frame_decode(rly_yamux_frame *f, const uint8_t *in)
{
    f->type = in[1];
    f->flags = (uint16_t)(in[2] << 8 | in[3]);
    f->stream_id = get_u32(in + 4);
    f->length = get_u32(in + 8);
    if (in[0] != RLY_YAMUX_VERSION || f->type > RLY_YAMUX_TYPE_GO_AWAY)
        return RLY_ERR_PROTO;
    return 0;
}
