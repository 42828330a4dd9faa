/*
 * timing.h: the clock and the spin calibration that benches/lkbench.c and
 * benches/mpi/bench_mpi.c share. Header-only: the two are built apart.
 * Include it after the feature-test macros (clock_gettime is POSIX).
 */
#ifndef LK_BENCH_TIMING_H
#define LK_BENCH_TIMING_H

#include <stdint.h>
#include <time.h>

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Iterations of `spin` (a dependent chain of `iters` rounds from `x`) that
   take `seconds` here: from the best of 7 timings of a long chain, the least
   disturbed one. `rounding` is added before the conversion to an integer (0.5:
   to the nearest, 0: down). At least 1. */
static inline uint64_t calibrate_spin(uint64_t (*spin)(uint64_t x, uint64_t iters), double seconds, double rounding) {
    const uint64_t probe = 1u << 22;
    double best = 1e9;
    volatile uint64_t sink = 0;
    for (int r = 0; r < 7; r++) {
        double t0 = now_s();
        sink += spin((uint64_t)r, probe);
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    (void)sink;
    uint64_t iters = (uint64_t)(seconds / (best / (double)probe) + rounding);
    return iters ? iters : 1;
}

#endif /* LK_BENCH_TIMING_H */
