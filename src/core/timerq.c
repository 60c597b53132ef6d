/* timerq.c: a pairing heap of rly_timers (timerq.h). Each node keeps its first child, its next
 * sibling and |prev|: the previous sibling, or the parent when it is the first child. */
#include "core/timerq.h"

#include <stddef.h>

static bool earlier(const rly_timer *a, const rly_timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

/* Joins two heap roots (no siblings, no parent); returns the new root. */
static rly_timer *meld(rly_timer *a, rly_timer *b)
{
    if (earlier(b, a)) {
        rly_timer *t = a;
        a = b;
        b = t;
    }
    b->sibling = a->child;
    if (a->child)
        a->child->prev = b;
    b->prev = a;
    a->child = b;
    return a;
}

/* Melds a list of siblings into one heap: pairs from the left, then the pairs from the right
 * (the two passes that give the pairing heap its amortised bounds). */
static rly_timer *merge_pairs(rly_timer *first)
{
    rly_timer *stack = NULL; /* melded pairs, linked through |sibling|, last pair on top */
    while (first) {
        rly_timer *a = first, *b = a->sibling;
        first = b ? b->sibling : NULL;
        a->sibling = a->prev = NULL;
        if (b) {
            b->sibling = b->prev = NULL;
            a = meld(a, b);
        }
        a->sibling = stack;
        stack = a;
    }
    rly_timer *root = stack;
    if (!root)
        return NULL;
    stack = root->sibling;
    root->sibling = NULL;
    while (stack) {
        rly_timer *next = stack->sibling;
        stack->sibling = NULL;
        root = meld(stack, root);
        stack = next;
    }
    return root;
}

void rly_timerq_init(rly_timerq *q, const rly_timerq_clock *clock)
{
    q->root = NULL;
    q->next_seq = 0;
    q->count = 0;
    q->clock = *clock;
}

rly_tstamp rly_timerq_now(const rly_timerq *q)
{
    return q->clock.now(q->clock.ud);
}

void rly_timerq_timer_init(rly_timer *t, rly_timer_cb cb, void *ud)
{
    t->when = RLY_TSTAMP_MAX;
    t->seq = 0;
    t->child = t->sibling = t->prev = NULL;
    t->cb = cb;
    t->ud = ud;
    t->is_active = false;
}

static void unlink_timer(rly_timerq *q, rly_timer *t)
{
    if (t == q->root) {
        q->root = merge_pairs(t->child);
    } else {
        if (t->prev->child == t) /* the first child: |prev| is the parent */
            t->prev->child = t->sibling;
        else
            t->prev->sibling = t->sibling;
        if (t->sibling)
            t->sibling->prev = t->prev;
        rly_timer *sub = merge_pairs(t->child);
        if (sub)
            q->root = meld(q->root, sub);
    }
    if (q->root)
        q->root->prev = NULL;
    t->child = t->sibling = t->prev = NULL;
    t->is_active = false;
    q->count--;
}

void rly_timerq_stop(rly_timerq *q, rly_timer *t)
{
    if (t->is_active)
        unlink_timer(q, t);
}

void rly_timerq_start(rly_timerq *q, rly_timer *t, rly_tstamp when)
{
    rly_timerq_stop(q, t);
    if (when == RLY_TSTAMP_MAX)
        return;
    t->when = when;
    t->seq = q->next_seq++;
    t->child = t->sibling = t->prev = NULL;
    t->is_active = true;
    q->root = q->root ? meld(q->root, t) : t;
    q->count++;
    if (q->root == t && q->clock.on_earlier)
        q->clock.on_earlier(q->clock.ud, when);
}

rly_tstamp rly_timerq_next(const rly_timerq *q)
{
    return q->root ? q->root->when : RLY_TSTAMP_MAX;
}

size_t rly_timerq_count(const rly_timerq *q)
{
    return q->count;
}

size_t rly_timerq_run(rly_timerq *q, rly_tstamp now, size_t max)
{
    size_t ran = 0;
    while (ran < max && q->root && q->root->when <= now) {
        rly_timer *t = q->root;
        unlink_timer(q, t);
        ran++;
        t->cb(t, t->ud);
    }
    return ran;
}
