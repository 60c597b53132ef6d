/* buf.h: rly_buf, a four-pointer view over memory it does not own (ngtcp2_buf).
 *
 *   begin <= pos <= last <= end
 *   [begin, pos)  consumed / already written out
 *   [pos, last)   data
 *   [last, end)   free space
 */
#ifndef RLY_CORE_BUF_H
#define RLY_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct rly_buf {
    uint8_t *begin;
    uint8_t *pos;
    uint8_t *last;
    uint8_t *end;
} rly_buf;

/* rly_buf_init points |b| at the |len| bytes of |p| (borrowed), empty: pos = last = begin. */
void rly_buf_init(rly_buf *b, uint8_t *p, size_t len);

/* rly_buf_init_data points |b| at |len| bytes of |p| that already hold data: last = end. */
void rly_buf_init_data(rly_buf *b, uint8_t *p, size_t len);

/* rly_buf_len returns the number of data bytes (last - pos). */
static inline size_t rly_buf_len(const rly_buf *b)
{
    return (size_t)(b->last - b->pos);
}

/* rly_buf_left returns the free space at the end (end - last). */
static inline size_t rly_buf_left(const rly_buf *b)
{
    return (size_t)(b->end - b->last);
}

/* rly_buf_reset makes |b| empty again (pos = last = begin). */
void rly_buf_reset(rly_buf *b);

#endif
