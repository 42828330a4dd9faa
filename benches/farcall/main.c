/* farcall: see loop.c. Prints one line: median ns per item of each pairing. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "farcall.h"

static int32_t exe_op(const void *model, const void *arg, void *result, const far_task *task) {
    (void)model, (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 2 + 1;
    return 0;
}

__attribute__((noinline)) static size_t exe_loop(far_op op, const uint8_t *args, uint8_t *results, size_t n) {
    FAR_LOOP_BODY(op, args, results, n);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { N = 10000000, REPS = 7 };

int main(void) {
    uint64_t *args = malloc(N * sizeof *args), *res = malloc(N * sizeof *res);
    if (!args || !res)
        return 1;
    for (size_t i = 0; i < N; i++)
        args[i] = i;
    memset(res, 0, N * sizeof *res);
    const char *names[4] = {"exe->exe", "lib->exe", "lib->lib", "exe->lib"};
    double t[4][REPS];
    for (int r = 0; r < REPS; r++)
        for (int k = 0; k < 4; k++) {
            size_t (*loop)(far_op, const uint8_t *, uint8_t *, size_t) = (k == 1 || k == 2) ? far_lib_loop : exe_loop;
            far_op op = (k == 0 || k == 1) ? exe_op : far_lib_op;
            double t0 = now();
            size_t done = loop(op, (const uint8_t *)args, (uint8_t *)res, N);
            t[k][r] = (now() - t0) / N * 1e9;
            if (done != N || res[N - 1] != 2 * (uint64_t)(N - 1) + 1)
                return 1;
        }
    printf("ns per call, median of %d x 10^7:", REPS);
    for (int k = 0; k < 4; k++) {
        qsort(t[k], REPS, sizeof t[k][0], cmp);
        printf(" %s %.2f", names[k], t[k][REPS / 2]);
    }
    printf("\n");
    return 0;
}
