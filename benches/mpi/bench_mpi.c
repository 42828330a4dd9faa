/*
 * bench_mpi: distributed maps against the single-process map.
 * benches/mpi/run drives it; by hand:
 *
 *   bench_mpi calibrate                      spin iterations for ~50 us here
 *   bench_mpi local WORKLOAD N_JOBS ITERS REPS
 *       the single-process map (no MPI at all) on an N_JOBS-worker invoker
 *   mpirun --bind-to none -np P bench_mpi dist WORKLOAD SCHEDULE N_JOBS ITERS REPS
 *       the distributed map, N_JOBS threads per rank
 *
 * Workloads: uniform (2,000 items of ~50 us), skewed (2,000 items, the first
 * third 4x slower), trivial (10^5 items, result = arg * 2 + 1, 8 bytes each),
 * tiny (back-to-back maps of 3 trivial items). Results go to every rank
 * (LK_RESULTS_ALL) and are checked against a plain loop on every rank.
 * Prints one line: RESULT mode workload schedule np n_jobs median min unit
 * (seconds per map, or microseconds per map for tiny), from rank 0.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lkparallel_mpi.h"
#include "../timing.h"

/* A dependent chain of integer operations: `iters` rounds cannot be shortened. */
static uint64_t churn(uint64_t x, uint64_t iters) {
    uint64_t h = x * UINT64_C(0x9e3779b97f4a7c15) + 1;
    for (uint64_t i = 0; i < iters; i++) {
        h ^= h >> 31;
        h *= UINT64_C(0xbf58476d1ce4e5b9);
        h += i;
    }
    return h;
}

typedef struct work {
    uint64_t iters; /* ~50 us */
    size_t slow_below; /* items below this index cost 4x */
} work;

static int32_t spin_op(const void *model, const void *arg, void *result, const lk_task *task) {
    const work *w = (const work *)model;
    uint64_t iters = task->index < w->slow_below ? 4 * w->iters : w->iters;
    *(uint64_t *)result = churn(*(const uint64_t *)arg, iters);
    return 0;
}

static int32_t trivial_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model, (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 2 + 1;
    return 0;
}

/* Spin iterations for ~50 us, rounded down. */
static uint64_t calibrate(void) {
    return calibrate_spin(churn, 50e-6, 0.0);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "calibrate") == 0) {
        printf("%llu\n", (unsigned long long)calibrate());
        return 0;
    }
    int dist = argc == 7 && strcmp(argv[1], "dist") == 0;
    int local = argc == 6 && strcmp(argv[1], "local") == 0;
    if (!dist && !local) {
        fprintf(stderr, "usage: see the comment at the top of bench_mpi.c\n");
        return 2;
    }
    const char *workload = argv[2];
    const char *sched_name = dist ? argv[3] : "-";
    int a = dist ? 4 : 3;
    int32_t n_jobs = (int32_t)atoi(argv[a]);
    uint64_t iters = strtoull(argv[a + 1], NULL, 10);
    int reps = atoi(argv[a + 2]);

    int rank = 0, size = 1;
    if (dist) {
        int provided;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
    }

    size_t n;
    lk_op_fn op = spin_op;
    work w = {iters, 0};
    int tiny = 0;
    if (strcmp(workload, "uniform") == 0) {
        n = 2000;
    } else if (strcmp(workload, "skewed") == 0) {
        n = 2000;
        w.slow_below = n / 3;
    } else if (strcmp(workload, "trivial") == 0) {
        n = 100000;
        op = trivial_op;
    } else if (strcmp(workload, "tiny") == 0) {
        n = 3;
        op = trivial_op;
        tiny = 1;
    } else {
        fprintf(stderr, "unknown workload %s\n", workload);
        return 2;
    }
    int32_t schedule = LK_SCHEDULE_BLOCK;
    if (strcmp(sched_name, "cyclic") == 0)
        schedule = LK_SCHEDULE_CYCLIC;
    else if (strcmp(sched_name, "dynamic") == 0)
        schedule = LK_SCHEDULE_DYNAMIC;

    uint64_t *args = malloc(sizeof *args * n), *out = malloc(sizeof *out * n), *want = malloc(sizeof *want * n);
    for (size_t i = 0; i < n; i++)
        args[i] = i * 7 + 1;
    for (size_t i = 0; i < n; i++) {
        lk_task t = {i, 0, 0, 0};
        op(&w, &args[i], &want[i], &t);
    }

    lk_comm *comm = NULL;
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = n_jobs;
    if (dist) {
        if (lk_mpi_comm_new(MPI_COMM_WORLD, &comm) != LK_OK) {
            fprintf(stderr, "lk_mpi_comm_new: %s\n", lk_last_error());
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        o.comm = comm;
    }
    lk_invoker *inv = NULL;
    if (lk_invoker_new_with(&w, op, &o, &inv) != LK_OK) {
        fprintf(stderr, "lk_invoker_new_with: %s\n", lk_last_error());
        return 1;
    }
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = schedule;
    int calls = tiny ? 5000 : 1;
    double *times = malloc(sizeof *times * (size_t)reps);
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        memset(out, 0, sizeof *out * n);
        if (dist)
            MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now_s();
        for (int c = 0; c < calls; c++) {
            if (lk_invoker_map_with(inv, args, n, sizeof *args, out, sizeof *out, &mo) != LK_OK) {
                fprintf(stderr, "[rank %d] map: %s\n", rank, lk_last_error());
                return 1;
            }
        }
        double t = (now_s() - t0) / calls;
        if (memcmp(out, want, sizeof *out * n) != 0) {
            fprintf(stderr, "[rank %d] wrong results\n", rank);
            return 1;
        }
        if (r >= 0)
            times[r] = t;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_double);
    double scale = tiny ? 1e6 : 1.0;
    if (rank == 0)
        printf("RESULT %s %s %s %d %d %.9g %.9g %s\n", dist ? "dist" : "local", workload, sched_name, size,
               (int)n_jobs, times[reps / 2] * scale, times[0] * scale, tiny ? "us" : "s");
    lk_invoker_shutdown(inv);
    if (dist) {
        lk_comm_free(comm);
        MPI_Finalize();
    }
    free(times);
    free(args);
    free(out);
    free(want);
    return 0;
}
