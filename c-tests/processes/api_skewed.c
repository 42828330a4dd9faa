/* A skewed workload on the process backend: a few items are 50x slower than
 * the rest (clustered at the start, spread out, clustered at the end). The
 * map completes with every result right, and dynamic load balancing keeps it
 * from waiting on one worker: with n_jobs 2 and 4 it takes well under the
 * serial time (loose bound: 80% of it; the ideal is 1/n_jobs). */
#include "procstest.h"

enum { N = 400, FAST_US = 1000, SLOW_US = 50 * FAST_US, N_SLOW = 8 };

typedef struct {
    atomic_int layout;
} ctl_t;

static int is_slow(int layout, size_t i) {
    switch (layout) {
    case 0: return i < N_SLOW;                   /* clustered at the start */
    case 1: return i % (N / N_SLOW) == 7;        /* spread out */
    default: return i >= (size_t)N - N_SLOW;     /* clustered at the end */
    }
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    const ctl_t *ctl = (const ctl_t *)model;
    uint64_t a = *(const uint64_t *)arg;
    lkt_sleep_us(is_slow(atomic_load(&ctl->layout), task->index) ? SLOW_US : FAST_US);
    *(uint64_t *)result = lkt_mix(a) + task->index;
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    ctl_t *ctl = (ctl_t *)lkt_shared(sizeof *ctl);
    static uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i * 3 + 1;
    const double serial = ((double)(N - N_SLOW) * FAST_US + (double)N_SLOW * SLOW_US) * 1e-6;
    const char *names[] = {"slow items first", "slow items spread", "slow items last"};
    int32_t jobs[] = {2, 4};
    for (int j = 0; j < 2; j++) {
        lk_invoker *inv = pt_new(ctl, op, jobs[j]);
        for (int layout = 0; layout < 3; layout++) {
            atomic_store(&ctl->layout, layout);
            memset(results, 0, sizeof results);
            double t0 = lkt_now();
            CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
            double took = lkt_now() - t0;
            for (int i = 0; i < N; i++) CHECK(results[i] == lkt_mix(args[i]) + (uint64_t)i);
            printf("n_jobs %d, %s: %.3f s (serial %.3f s, ideal %.3f s)\n", jobs[j], names[layout], took, serial,
                   serial / jobs[j]);
            CHECK_MSG(took < 0.8 * serial, "n_jobs %d, %s: %.3f s, serial time %.3f s", jobs[j], names[layout],
                      took, serial);
        }
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("processes_api_skewed: ok\n");
    return 0;
}
