#include "core/buf.h"

void rly_buf_init(rly_buf *b, uint8_t *p, size_t len)
{
    b->begin = b->pos = b->last = p;
    b->end = p + len;
}

void rly_buf_init_data(rly_buf *b, uint8_t *p, size_t len)
{
    b->begin = b->pos = p;
    b->last = b->end = p + len;
}

void rly_buf_reset(rly_buf *b)
{
    b->pos = b->last = b->begin;
}
