/* Shared by the MPI test programs: checks that end the whole job (with the
 * rank and lk_last_error()), and the MPI set-up, distributed invoker and
 * ending every test has. */
#ifndef LK_MPITEST_H
#define LK_MPITEST_H

#undef NDEBUG
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep, sigaction, kill */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lkparallel_mpi.h"

static int mt_rank = 0, mt_size = 1;

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "[rank %d] %s:%d: CHECK failed: %s\n", mt_rank, __FILE__, __LINE__, \
                    #cond);                                                                     \
            fflush(stderr);                                                                     \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                       \
        }                                                                                       \
    } while (0)

#define CHECK_STATUS(call, expected)                                                           \
    do {                                                                                       \
        lk_status mt_s_ = (call);                                                              \
        if (mt_s_ != (expected)) {                                                             \
            fprintf(stderr, "[rank %d] %s:%d: %s returned %d, expected %d (%s): %s\n", mt_rank, \
                    __FILE__, __LINE__, #call, (int)mt_s_, (int)(expected), #expected,         \
                    lk_last_error());                                                          \
            fflush(stderr);                                                                    \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                      \
        }                                                                                      \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, LK_OK)

static inline void mt_init(int *argc, char ***argv) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &mt_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &mt_size);
    if (provided < MPI_THREAD_FUNNELED && mt_rank == 0)
        fprintf(stderr, "note: MPI gave thread level %d\n", provided);
}

/* A communicator over MPI_COMM_WORLD (collective). */
static inline lk_comm *mt_comm(void) {
    lk_comm *comm = NULL;
    CHECK_OK(lk_mpi_comm_new(MPI_COMM_WORLD, &comm));
    return comm;
}

/* Options for a distributed invoker on `comm`, `n_jobs` threads per rank. */
static inline lk_invoker_options mt_options(lk_comm *comm, int32_t n_jobs) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.comm = comm;
    o.n_jobs = n_jobs;
    return o;
}

/* lk_invoker_new_with, which must succeed (collective with a comm). */
static inline lk_invoker *mt_new_with(const void *model, lk_op_fn fn, const lk_invoker_options *o) {
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new_with(model, fn, o, &inv));
    return inv;
}

/* The end of a test: shut `inv` down, free `comm`, rank 0 says
 * "<name>: ok at np <size>", MPI_Finalize. Returns main's status. */
static inline int mt_finish(lk_invoker *inv, lk_comm *comm, const char *name) {
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_comm_free(comm));
    if (mt_rank == 0)
        printf("%s: ok at np %d\n", name, mt_size);
    MPI_Finalize();
    return 0;
}

static inline double mt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every rank's lk_last_error() equals rank 0's. */
static inline void mt_same_message_everywhere(const char *msg) {
    enum { LEN = 512 };
    char mine[LEN];
    memset(mine, 0, sizeof mine);
    strncpy(mine, msg, LEN - 1);
    char *all = (char *)malloc((size_t)LEN * (size_t)mt_size);
    CHECK(all != NULL);
    MPI_Allgather(mine, LEN, MPI_CHAR, all, LEN, MPI_CHAR, MPI_COMM_WORLD);
    for (int r = 0; r < mt_size; r++) {
        if (strcmp(all + (size_t)r * LEN, mine) != 0) {
            fprintf(stderr, "[rank %d] message differs from rank %d's:\n  mine: %s\n  its:  %s\n", mt_rank,
                    r, mine, all + (size_t)r * LEN);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    free(all);
}

static inline void mt_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

#endif
