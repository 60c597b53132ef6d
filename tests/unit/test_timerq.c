/* The timer queue (src/core/timerq.c): order, ties, stop, restart, the earlier-deadline hook,
 * callbacks that free their own timer or stop the next one, the run cap, and a long random run
 * against a reference (fuzz/fuzz_timerq.c explores the rest). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/timerq.h"

static rly_tstamp clock_now;
static rly_tstamp earlier_seen;
static int earlier_calls;

static rly_tstamp now_fn(void *ud)
{
    return clock_now;
}

static void earlier_fn(void *ud, rly_tstamp when)
{
    earlier_seen = when;
    earlier_calls++;
}

static rly_timerq q;
static int fired[64];
static int nfired;

static void record(rly_timer *t, void *ud)
{
    fired[nfired++] = (int)(intptr_t)ud;
}

static void setup(void)
{
    rly_timerq_clock c = {.now = now_fn, .on_earlier = earlier_fn};
    clock_now = 0;
    earlier_calls = 0;
    nfired = 0;
    rly_timerq_init(&q, &c);
}

TestSuite(timerq, .init = setup);

Test(timerq, runs_in_deadline_order_ties_in_start_order)
{
    rly_timer t[6];
    const rly_tstamp when[6] = {50, 10, 30, 10, 70, 30};
    for (int i = 0; i < 6; i++) {
        rly_timerq_timer_init(&t[i], record, (void *)(intptr_t)i);
        rly_timerq_start(&q, &t[i], when[i]);
    }
    cr_assert_eq(rly_timerq_count(&q), 6);
    cr_assert_eq(rly_timerq_next(&q), 10);
    cr_assert_eq(rly_timerq_run(&q, 29, 100), 2, "two are due at 29");
    cr_assert_eq(rly_timerq_run(&q, 100, 100), 4);
    const int want[6] = {1, 3, 2, 5, 0, 4};
    cr_assert_eq(nfired, 6);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(fired[i], want[i], "position %d: timer %d", i, fired[i]);
    cr_assert_eq(rly_timerq_next(&q), RLY_TSTAMP_MAX);
    cr_assert_eq(rly_timerq_count(&q), 0);
}

Test(timerq, stop_restart_and_the_earlier_hook)
{
    rly_timer a, b;
    rly_timerq_timer_init(&a, record, (void *)1);
    rly_timerq_timer_init(&b, record, (void *)2);
    rly_timerq_start(&q, &a, 100);
    cr_assert_eq(earlier_calls, 1);
    cr_assert_eq(earlier_seen, 100);
    rly_timerq_start(&q, &b, 200);
    cr_assert_eq(earlier_calls, 1, "not earlier: no call");
    rly_timerq_start(&q, &b, 50);
    cr_assert_eq(earlier_calls, 2);
    cr_assert_eq(earlier_seen, 50);
    rly_timerq_stop(&q, &b);
    rly_timerq_stop(&q, &b); /* twice is fine */
    cr_assert_not(rly_timerq_is_active(&b));
    cr_assert_eq(rly_timerq_next(&q), 100);
    rly_timerq_start(&q, &a, RLY_TSTAMP_MAX); /* "never" stops it */
    cr_assert_not(rly_timerq_is_active(&a));
    cr_assert_eq(rly_timerq_run(&q, 1000, 100), 0);
    cr_assert_eq(nfired, 0);
}

typedef struct owner {
    rly_timer t;
    rly_timer *victim; /* stopped from the callback */
    int fired;
} owner;

static rly_timerq *cb_q;

static void free_self(rly_timer *t, void *ud)
{
    owner *o = ud;
    if (o->victim)
        rly_timerq_stop(cb_q, o->victim);
    free(o); /* a stopped timer is no longer referenced: its owner may go at once */
}

Test(timerq, a_callback_frees_its_owner_and_stops_the_next_due_timer)
{
    owner *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    cb_q = &q;
    rly_timerq_timer_init(&a->t, free_self, a);
    rly_timerq_timer_init(&b->t, record, (void *)7);
    a->victim = &b->t;
    rly_timerq_start(&q, &a->t, 10);
    rly_timerq_start(&q, &b->t, 10);
    cr_assert_eq(rly_timerq_run(&q, 10, 100), 1, "b was stopped by a's callback");
    cr_assert_eq(nfired, 0);
    cr_assert_eq(rly_timerq_count(&q), 0);
    free(b);
}

static void rearm_now(rly_timer *t, void *ud)
{
    fired[nfired++] = 1;
    rly_timerq_start(&q, t, clock_now); /* due again at once */
}

Test(timerq, the_cap_bounds_a_timer_that_keeps_rearming)
{
    rly_timer t;
    rly_timerq_timer_init(&t, rearm_now, NULL);
    clock_now = 5;
    rly_timerq_start(&q, &t, 5);
    cr_assert_eq(rly_timerq_run(&q, 5, 10), 10);
    cr_assert_eq(nfired, 10);
    cr_assert(rly_timerq_is_active(&t));
    rly_timerq_stop(&q, &t);
}

/* A long random walk against a plain array: the earliest (deadline, start order) runs first. */
Test(timerq, random_walk_against_a_reference)
{
    enum { N = 200, STEPS = 20000 };
    static rly_timer t[N];
    static rly_tstamp when[N];
    static uint64_t seq[N];
    static bool on[N];
    uint64_t x = 0x9e3779b97f4a7c15u, nseq = 0;
    memset(on, 0, sizeof(on));
    for (int i = 0; i < N; i++)
        rly_timerq_timer_init(&t[i], record, (void *)(intptr_t)i);
    for (int step = 0; step < STEPS; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int i = (int)(x % N);
        unsigned op = (unsigned)(x >> 32) % 4;
        if (op < 2) {
            when[i] = clock_now + (x >> 40) % 1000;
            seq[i] = nseq++;
            on[i] = true;
            rly_timerq_start(&q, &t[i], when[i]);
        } else if (op == 2) {
            on[i] = false;
            rly_timerq_stop(&q, &t[i]);
        } else {
            clock_now += (x >> 44) % 300;
            nfired = 0;
            size_t ran = rly_timerq_run(&q, clock_now, 64);
            for (size_t k = 0; k < ran; k++) {
                int best = -1;
                for (int j = 0; j < N; j++)
                    if (on[j] && (best < 0 || when[j] < when[best] ||
                                  (when[j] == when[best] && seq[j] < seq[best])))
                        best = j;
                cr_assert_eq(fired[k], best, "step %d: ran %d, expected %d", step, fired[k], best);
                cr_assert_leq(when[best], clock_now);
                on[best] = false;
            }
        }
        size_t n = 0;
        rly_tstamp first = RLY_TSTAMP_MAX;
        for (int j = 0; j < N; j++) {
            n += on[j];
            if (on[j] && when[j] < first)
                first = when[j];
        }
        cr_assert_eq(rly_timerq_count(&q), n);
        cr_assert_eq(rly_timerq_next(&q), first);
    }
}
