/* time.h: timestamps for the sans-IO modules. The shell (transport/app) reads the monotonic clock
 * and passes |now| in; core, crypto and proto never read a clock (STYLE.md section C). */
#ifndef RLY_CORE_TIME_H
#define RLY_CORE_TIME_H

#include <stdint.h>

/* Monotonic nanoseconds (like ngtcp2_tstamp). */
typedef uint64_t rly_tstamp;

/* "No deadline". */
#define RLY_TSTAMP_MAX UINT64_MAX

#define RLY_NS_PER_MS UINT64_C(1000000)
#define RLY_NS_PER_S UINT64_C(1000000000)

/* rly_tstamp_ms_ceil returns |d| nanoseconds as whole milliseconds, rounded up: a timer armed
 * with it never fires before |d| has passed. */
static inline uint64_t rly_tstamp_ms_ceil(rly_tstamp d)
{
    return d / RLY_NS_PER_MS + (d % RLY_NS_PER_MS != 0);
}

/* rly_tstamp_ms_until returns the milliseconds from |now| until |deadline| (rounded up; 0 once
 * it has passed): the timeout to arm a libuv timer with. */
static inline uint64_t rly_tstamp_ms_until(rly_tstamp deadline, rly_tstamp now)
{
    return deadline > now ? rly_tstamp_ms_ceil(deadline - now) : 0;
}

#endif
