/* timerq.h: deadlines without libuv. An rly_timerq orders rly_timers (embedded in their owners,
 * no allocation) by deadline and runs the due ones when its owner says time has come. It reads
 * time from a clock the owner supplies: the loop's monotonic clock in the relay (swarm.c drives
 * the queue from one libuv timer), a virtual clock in tests and in the stateful fuzzers, which
 * can then move time in any step they like.
 *
 * Stopping a timer is immediate and synchronous: once rly_timerq_stop returns, its callback will
 * not run, so an owner may free the memory that embeds a stopped timer at once (no close
 * callback to wait for, unlike a uv_timer_t).
 *
 * Order: earlier deadlines first; equal deadlines in the order they were started, so a run is
 * reproducible. The structure is a pairing heap: start O(1), stop and run O(log n) amortised. */
#ifndef RLY_CORE_TIMERQ_H
#define RLY_CORE_TIMERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/time.h"

typedef struct rly_timer rly_timer;
typedef struct rly_timerq rly_timerq;

/* Called once per expiry, with the timer already stopped: it may start it again, stop or start
 * any other timer of the queue, and free the timer's owner. */
typedef void (*rly_timer_cb)(rly_timer *t, void *ud);

struct rly_timer {
    rly_tstamp when;
    uint64_t seq;                      /* start order: ties between equal deadlines */
    rly_timer *child, *sibling, *prev; /* heap links; |prev| is the parent for a first child */
    rly_timer_cb cb;
    void *ud;
    bool is_active;
};

/* Where the queue's time comes from, and whom to tell when its first deadline moves earlier. */
typedef struct rly_timerq_clock {
    rly_tstamp (*now)(void *ud);
    /* Called from rly_timerq_start when |when| became the earliest deadline (NULL: no one needs
     * to know): the owner of a real loop re-arms its one system timer there. */
    void (*on_earlier)(void *ud, rly_tstamp when);
    void *ud;
} rly_timerq_clock;

struct rly_timerq {
    rly_timer *root;
    uint64_t next_seq;
    size_t count;
    rly_timerq_clock clock;
};

/* rly_timerq_init makes |q| empty, reading time from |clock| (copied). */
void rly_timerq_init(rly_timerq *q, const rly_timerq_clock *clock);

/* rly_timerq_now returns the queue's clock. */
rly_tstamp rly_timerq_now(const rly_timerq *q);

/* rly_timerq_timer_init prepares |t| (stopped) to call |cb| with |ud|. */
void rly_timerq_timer_init(rly_timer *t, rly_timer_cb cb, void *ud);

/* rly_timerq_start (re)arms |t| for the absolute time |when| (RLY_TSTAMP_MAX: stops it). */
void rly_timerq_start(rly_timerq *q, rly_timer *t, rly_tstamp when);

/* rly_timerq_stop disarms |t|; nothing if it is not armed. */
void rly_timerq_stop(rly_timerq *q, rly_timer *t);

/* rly_timerq_is_active tells whether |t| is armed. */
static inline bool rly_timerq_is_active(const rly_timer *t)
{
    return t->is_active;
}

/* rly_timerq_next returns the earliest deadline, RLY_TSTAMP_MAX when no timer is armed. */
rly_tstamp rly_timerq_next(const rly_timerq *q);

/* rly_timerq_count returns how many timers are armed. */
size_t rly_timerq_count(const rly_timerq *q);

/* rly_timerq_run runs, in deadline order, the timers due at |now| (deadline <= |now|), at most
 * |max| of them (a timer that re-arms itself for a time already past runs again in the same call
 * only while |max| allows). Returns how many ran. */
size_t rly_timerq_run(rly_timerq *q, rly_tstamp now, size_t max);

#endif
