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

#endif
