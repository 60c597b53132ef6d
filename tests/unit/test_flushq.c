/* The flush queue (src/transport/flushq.h): LIFO pops, one entry per node, and removal from one
 * queue leaves a node that is on another (the TCP transport's batch being drained) untouched. */
#include <criterion/criterion.h>

#include "transport/flushq.h"

Test(flushq, push_pop_once)
{
    rly_flushq q = {0};
    rly_flushq_node a = {0}, b = {0};
    rly_flushq_push(&q, &a);
    rly_flushq_push(&q, &b);
    rly_flushq_push(&q, &a); /* already queued: no second entry */
    cr_assert_eq(rly_flushq_pop(&q), &b);
    cr_assert_eq(rly_flushq_pop(&q), &a);
    cr_assert_null(rly_flushq_pop(&q));
}

/* A connection that goes away while it sits in the batch being drained is removed from that
 * batch; a removal from the other queue must not cut the batch after it (losing b's flush). */
Test(flushq, remove_from_the_other_queue_leaves_the_node)
{
    rly_flushq batch = {0}, dirty = {0};
    rly_flushq_node a = {0}, b = {0}, c = {0};
    rly_flushq_push(&batch, &b);
    rly_flushq_push(&batch, &a);
    rly_flushq_push(&dirty, &c);
    rly_flushq_remove(&dirty, &a);
    cr_assert(a.is_queued);
    cr_assert_eq(rly_flushq_pop(&batch), &a);
    cr_assert_eq(rly_flushq_pop(&batch), &b, "b is still in the batch");
    cr_assert_null(rly_flushq_pop(&batch));
    cr_assert_eq(rly_flushq_pop(&dirty), &c);
    /* removal from its own queue, head and middle */
    rly_flushq_push(&batch, &a);
    rly_flushq_push(&batch, &b);
    rly_flushq_push(&batch, &c);
    rly_flushq_remove(&batch, &b);
    cr_assert(!b.is_queued);
    cr_assert_eq(rly_flushq_pop(&batch), &c);
    cr_assert_eq(rly_flushq_pop(&batch), &a);
    cr_assert_null(rly_flushq_pop(&batch));
}
