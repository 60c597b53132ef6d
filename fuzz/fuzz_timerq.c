/* fuzz_timerq.c: the timer queue (src/core/timerq.c) driven by operations from the input (start,
 * restart, stop, run up to a time with a cap, and callbacks that start or stop other timers or
 * themselves) over 24 timers, checked after every operation against a reference model: which
 * timer fires next (earliest deadline, then start order), the count and the next deadline. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/timerq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NT 24

typedef struct fz {
    rly_timerq q;
    rly_timer t[NT];
    bool active[NT];
    rly_tstamp when[NT];
    uint64_t seq[NT], nseq;
    rly_tstamp now;
    const uint8_t *in; /* what callbacks read their action from */
    size_t left;
} fz;

static void check(bool ok)
{
    if (!ok)
        abort();
}

static uint8_t next_byte(fz *f)
{
    if (f->left == 0)
        return 0;
    f->left--;
    return *f->in++;
}

static rly_tstamp fz_now(void *ud)
{
    return ((fz *)ud)->now;
}

/* The model's next timer: -1 when none is armed. */
static int model_first(const fz *f)
{
    int best = -1;
    for (int i = 0; i < NT; i++) {
        if (!f->active[i])
            continue;
        if (best < 0 || f->when[i] < f->when[best] ||
            (f->when[i] == f->when[best] && f->seq[i] < f->seq[best]))
            best = i;
    }
    return best;
}

static void model_start(fz *f, int i, rly_tstamp when)
{
    rly_timerq_start(&f->q, &f->t[i], when);
    f->active[i] = true;
    f->when[i] = when;
    f->seq[i] = f->nseq++;
}

static void model_stop(fz *f, int i)
{
    rly_timerq_stop(&f->q, &f->t[i]);
    f->active[i] = false;
}

static void verify(const fz *f)
{
    size_t n = 0;
    for (int i = 0; i < NT; i++) {
        n += f->active[i];
        check(rly_timerq_is_active(&f->t[i]) == f->active[i]);
    }
    check(rly_timerq_count(&f->q) == n);
    int first = model_first(f);
    check(rly_timerq_next(&f->q) == (first < 0 ? RLY_TSTAMP_MAX : f->when[first]));
}

static void on_timer(rly_timer *t, void *ud)
{
    fz *f = ud;
    int i = (int)(t - f->t);
    /* It must be the model's first, due, and already stopped. */
    check(i >= 0 && i < NT && f->active[i]);
    check(model_first(f) == i && f->when[i] <= f->now && !rly_timerq_is_active(t));
    f->active[i] = false;
    uint8_t op = next_byte(f);
    int j = op % NT;
    switch (op >> 6) {
    case 0: break;
    case 1: model_start(f, i, f->now + next_byte(f)); break; /* re-arm itself */
    case 2: model_stop(f, j); break;
    default: model_start(f, j, f->now + next_byte(f)); break;
    }
    verify(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fz f;
    memset(&f, 0, sizeof(f));
    rly_timerq_clock clock = {.now = fz_now, .ud = &f};
    rly_timerq_init(&f.q, &clock);
    for (int i = 0; i < NT; i++)
        rly_timerq_timer_init(&f.t[i], on_timer, &f);
    f.in = data;
    f.left = size;
    while (f.left > 0) {
        uint8_t op = next_byte(&f);
        int i = op % NT;
        switch (op >> 6) {
        case 0:
        case 1: model_start(&f, i, f.now + (rly_tstamp)next_byte(&f) * (op & 1 ? 1000 : 1)); break;
        case 2: model_stop(&f, i); break;
        default: {
            f.now += next_byte(&f);
            check(rly_timerq_now(&f.q) == f.now);
            size_t max = 1 + (size_t)(op & 7);
            size_t ran = rly_timerq_run(&f.q, f.now, max);
            int first = model_first(&f);
            check(ran <= max && (ran == max || first < 0 || f.when[first] > f.now));
            break;
        }
        }
        verify(&f);
    }
    for (int i = 0; i < NT; i++)
        model_stop(&f, i);
    verify(&f);
    check(f.q.root == NULL);
    return 0;
}
