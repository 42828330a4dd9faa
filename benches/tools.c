/*
 * tools.c: the ways to run a workload's callback over its items, in C.
 * (oneTBB is in tool_tbb.cpp.)
 *
 *   seq           a plain loop on the calling thread
 *   lk_threads    lkparallel, lk_invoker_new(model, op, n_jobs)
 *   lk_processes  lkparallel, LK_BACKEND_PROCESSES (n/a until that backend lands)
 *   lk_noseed     lkparallel threads with LK_SEEDS_OFF: task->seed 0, as the
 *                 peers pass it (trivial only, where the seed's mix shows)
 *   lk_static, lk_static_noseed
 *                 lk_threads and lk_noseed in lkbench_static, which links
 *                 liblkparallel.a: the item loop then sits in the executable
 *                 beside the callback, as the peers' loops do (trivial only)
 *   omp_static    #pragma omp parallel for schedule(static) num_threads(n_jobs)
 *   omp_dynamic   #pragma omp parallel for schedule(dynamic, chunk) num_threads(n_jobs)
 *   pthread_pool  a hand-written pool: n_jobs - 1 persistent threads plus the
 *                 caller, claiming chunks from an atomic counter
 *
 * Peers fill `lk_task` with the item index and the worker number; `seed`
 * is 0 (none of the workloads reads it; lkparallel derives a real one).
 */
#define _GNU_SOURCE
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define ARG(w, i) ((const uint8_t *)(w)->args + (i) * (w)->arg_size)
#define RES(w, r, i) ((uint8_t *)(r) + (i) * (w)->result_size)

/* ---------------------------------------------------------------- seq */

static int seq_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    (void)w, (void)n_jobs, (void)why, (void)why_len;
    return BENCH_OK;
}

static int seq_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    lk_op_fn op = w->op;
    for (size_t i = 0; i < n; i++) {
        lk_task task = {i, 0, 0};
        int32_t rc = op(w->model, ARG(w, i), RES(w, results, i), &task);
        if (rc != 0) {
            snprintf(why, why_len, "callback failed at item %zu with %d", i, (int)rc);
            return 1;
        }
    }
    return 0;
}

static void nothing(void) {}

const bench_tool bench_tool_seq = {"seq", seq_setup, seq_run, nothing};

/* --------------------------------------------------------- lkparallel */

static lk_invoker *lk_inv;

static int lk_threads_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    lk_status st = lk_invoker_new(w->model, w->op, n_jobs, &lk_inv);
    if (st != LK_OK) {
        snprintf(why, why_len, "lk_invoker_new: status %d: %s", (int)st, lk_last_error());
        return BENCH_ERROR;
    }
    return BENCH_OK;
}

/* An invoker with `backend` and `seeds`; a failure is `on_failure`, with `what` in the message. */
static int lk_setup_with(const bench_work *w, int n_jobs, lk_backend backend, lk_seeds seeds, int on_failure,
                         const char *what, char *why, size_t why_len) {
    lk_invoker_options opts;
    lk_invoker_options_init(&opts, sizeof opts);
    opts.n_jobs = n_jobs;
    opts.backend = backend;
    opts.seeds = seeds;
    lk_status st = lk_invoker_new_with(w->model, w->op, &opts, &lk_inv);
    if (st != LK_OK) {
        snprintf(why, why_len, "lk_invoker_new_with(%s): status %d: %s", what, (int)st, lk_last_error());
        return on_failure;
    }
    return BENCH_OK;
}

static int lk_noseed_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return lk_setup_with(w, n_jobs, LK_BACKEND_THREADS, LK_SEEDS_OFF, BENCH_ERROR, "LK_SEEDS_OFF", why, why_len);
}

/* Creation failing (LK_ERR_UNSUPPORTED where the backend is missing) is n/a, not an error. */
static int lk_processes_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return lk_setup_with(w, n_jobs, LK_BACKEND_PROCESSES, LK_SEEDS_PER_ITEM, BENCH_NA, "LK_BACKEND_PROCESSES", why,
                         why_len);
}

static int lk_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    lk_status st = lk_invoker_map(lk_inv, w->args, n, w->arg_size, results, w->result_size);
    if (st != LK_OK) {
        snprintf(why, why_len, "lk_invoker_map: status %d: %s", (int)st, lk_last_error());
        return 1;
    }
    return 0;
}

static void lk_teardown(void) {
    if (lk_inv) {
        lk_status st = lk_invoker_shutdown(lk_inv);
        if (st != LK_OK)
            fprintf(stderr, "lk_invoker_shutdown: status %d: %s\n", (int)st, lk_last_error());
        lk_inv = NULL;
    }
}

const bench_tool bench_tool_lk_threads = {"lk_threads", lk_threads_setup, lk_run, lk_teardown};
const bench_tool bench_tool_lk_processes = {"lk_processes", lk_processes_setup, lk_run, lk_teardown};
const bench_tool bench_tool_lk_noseed = {"lk_noseed", lk_noseed_setup, lk_run, lk_teardown};
const bench_tool bench_tool_lk_static = {"lk_static", lk_threads_setup, lk_run, lk_teardown};
const bench_tool bench_tool_lk_static_noseed = {"lk_static_noseed", lk_noseed_setup, lk_run, lk_teardown};

/* ------------------------------------------------------------- OpenMP */

static int omp_jobs;

static int omp_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    (void)w, (void)why, (void)why_len;
    omp_set_dynamic(0);
    omp_jobs = n_jobs;
    return BENCH_OK;
}

static int omp_static_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    lk_op_fn op = w->op;
    const void *model = w->model;
    size_t failed_at = SIZE_MAX;
    int32_t code = 0;
#pragma omp parallel for schedule(static) num_threads(omp_jobs)
    for (size_t i = 0; i < n; i++) {
        lk_task task = {i, 0, (uint32_t)omp_get_thread_num()};
        int32_t rc = op(model, ARG(w, i), RES(w, results, i), &task);
        if (rc != 0) {
#pragma omp critical
            if (i < failed_at) {
                failed_at = i;
                code = rc;
            }
        }
    }
    if (failed_at != SIZE_MAX) {
        snprintf(why, why_len, "callback failed at item %zu with %d", failed_at, (int)code);
        return 1;
    }
    return 0;
}

static int omp_dynamic_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    lk_op_fn op = w->op;
    const void *model = w->model;
    int chunk = (int)w->chunk;
    size_t failed_at = SIZE_MAX;
    int32_t code = 0;
#pragma omp parallel for schedule(dynamic, chunk) num_threads(omp_jobs)
    for (size_t i = 0; i < n; i++) {
        lk_task task = {i, 0, (uint32_t)omp_get_thread_num()};
        int32_t rc = op(model, ARG(w, i), RES(w, results, i), &task);
        if (rc != 0) {
#pragma omp critical
            if (i < failed_at) {
                failed_at = i;
                code = rc;
            }
        }
    }
    if (failed_at != SIZE_MAX) {
        snprintf(why, why_len, "callback failed at item %zu with %d", failed_at, (int)code);
        return 1;
    }
    return 0;
}

const bench_tool bench_tool_omp_static = {"omp_static", omp_setup, omp_static_run, nothing};
const bench_tool bench_tool_omp_dynamic = {"omp_dynamic", omp_setup, omp_dynamic_run, nothing};

/* ------------------------------------------------------- pthread pool */

/*
 * A pool such as a careful C programmer would write for this job: threads
 * made once, a generation counter to start a map, an atomic counter to
 * claim chunks, and the caller working as worker 0 (so n_jobs threads run
 * callbacks, as with OpenMP's team). Idle helpers spin ~100 us before they
 * sleep on a condition variable, so back-to-back maps do not pay a wake-up.
 *
 * A map ends in two steps: the caller waits until every item is done, then
 * closes the map (`open` = 0) and waits until no helper is inside it
 * (`active` = 0). A helper announces itself (`active` += 1) before it looks
 * at `open`, both sequentially consistent, so either the caller sees it and
 * waits, or it sees the map closed and leaves: no helper ever touches a map
 * after its caller returned.
 */
#define POOL_SPIN_NS 100000

typedef struct pool {
    pthread_t *threads;
    int n_helpers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic uint64_t gen;
    _Atomic int sleepers;
    _Atomic int stop;
    /* the map in progress */
    const bench_work *w;
    void *results;
    size_t n, chunk;
    _Atomic size_t next;
    _Atomic size_t done;
    _Atomic int open;
    _Atomic int active;
    _Atomic size_t failed_at;
    _Atomic int32_t failed_code;
} pool;

static pool the_pool;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pool_work(pool *p, uint32_t worker) {
    const bench_work *w = p->w;
    lk_op_fn op = w->op;
    const size_t n = p->n, chunk = p->chunk;
    for (;;) {
        size_t start = atomic_fetch_add_explicit(&p->next, chunk, memory_order_relaxed);
        if (start >= n)
            break;
        size_t end = start + chunk < n ? start + chunk : n;
        for (size_t i = start; i < end; i++) {
            lk_task task = {i, 0, worker};
            int32_t rc = op(w->model, ARG(w, i), RES(w, p->results, i), &task);
            if (rc != 0) {
                size_t cur = atomic_load(&p->failed_at);
                while (i < cur && !atomic_compare_exchange_weak(&p->failed_at, &cur, i)) {
                }
                atomic_store(&p->failed_code, rc);
            }
        }
        atomic_fetch_add_explicit(&p->done, end - start, memory_order_release);
    }
}

static void *pool_helper(void *argp) {
    pool *p = &the_pool;
    uint32_t worker = (uint32_t)(uintptr_t)argp;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        uint64_t spin_until = 0;
        unsigned spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_relaxed)) {
            if ((++spins & 63) != 0) {
                cpu_relax();
                continue;
            }
            uint64_t t = mono_ns();
            if (spin_until == 0)
                spin_until = t + POOL_SPIN_NS;
            if (t < spin_until)
                continue;
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spin_until = 0;
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = g;
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->open))
            pool_work(p, worker);
        atomic_fetch_sub_explicit(&p->active, 1, memory_order_release);
    }
}

static int pool_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    (void)w;
    pool *p = &the_pool;
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->n_helpers = n_jobs > 1 ? n_jobs - 1 : 0;
    p->threads = calloc((size_t)p->n_helpers + 1, sizeof *p->threads);
    for (int k = 0; k < p->n_helpers; k++) {
        int rc = pthread_create(&p->threads[k], NULL, pool_helper, (void *)(uintptr_t)(k + 1));
        if (rc != 0) {
            snprintf(why, why_len, "pthread_create: %s", strerror(rc));
            p->n_helpers = k;
            return BENCH_ERROR;
        }
    }
    return BENCH_OK;
}

static int pool_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    pool *p = &the_pool;
    p->w = w;
    p->results = results;
    p->n = n;
    p->chunk = w->chunk ? w->chunk : 1;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->failed_at, SIZE_MAX, memory_order_relaxed);
    atomic_store(&p->open, 1);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    pool_work(p, 0);
    unsigned spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < n) {
        if (++spins < 4096)
            cpu_relax();
        else
            sched_yield();
    }
    atomic_store(&p->open, 0);
    while (atomic_load(&p->active) > 0)
        cpu_relax();
    size_t f = atomic_load(&p->failed_at);
    if (f != SIZE_MAX) {
        snprintf(why, why_len, "callback failed at item %zu with %d", f, (int)atomic_load(&p->failed_code));
        return 1;
    }
    return 0;
}

static void pool_teardown(void) {
    pool *p = &the_pool;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < p->n_helpers; k++)
        pthread_join(p->threads[k], NULL);
    free(p->threads);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

const bench_tool bench_tool_pthread_pool = {"pthread_pool", pool_setup, pool_run, pool_teardown};
