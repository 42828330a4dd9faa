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
 * With the trivial body inlined into the caller's loop (workloads with
 * `trivial_body`; the C++ ones are in tool_cxx.cpp and tool_tbb.cpp):
 *   lk_range      a range invoker (lk_invoker_options.range_func) whose
 *                 function is the loop `r[i] = a[i] * 2 + 1`
 *   lk_proc_range the same on LK_BACKEND_PROCESSES
 *   lk_proc_shared  lk_proc_range over arrays from lk_shared_alloc (used in
 *                 place by the workers, not copied through the ring)
 *   omp_inline    #pragma omp parallel for schedule(static) over the same loop
 *
 * Streams (source copies arguments in from the workload's array, sink
 * copies results out to the tool's result array and checks their order):
 *   lk_stream     lk_invoker_stream, window BENCH_STREAM_WINDOW_PER_JOB x n_jobs
 *   lk_stream_auto  the same with window 0 (the library's choice)
 *   lk_proc_stream  lk_stream on LK_BACKEND_PROCESSES
 *
 * Latency floor for the process backend:
 *   futex_pingpong  one forked worker process, woken by a futex on shared
 *                 memory, runs the items and wakes the caller with another:
 *                 what a bare process pool of one worker pays per call
 *
 * Peers fill `lk_task` with the item index and the worker number; `seed`
 * is 0 (none of the workloads reads it; lkparallel derives a real one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
        lk_task task = {i, 0, 0, 0};
        int32_t rc = op(w->model, ARG(w, i), RES(w, results, i), &task);
        if (rc != 0) {
            snprintf(why, why_len, "callback failed at item %zu with %d", i, (int)rc);
            return 1;
        }
    }
    return 0;
}

static void nothing(void) {}

const bench_tool bench_tool_seq = {"seq", seq_setup, seq_run, nothing, NULL};

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

const bench_tool bench_tool_lk_threads = {"lk_threads", lk_threads_setup, lk_run, lk_teardown, NULL};
const bench_tool bench_tool_lk_processes = {"lk_processes", lk_processes_setup, lk_run, lk_teardown, NULL};
const bench_tool bench_tool_lk_noseed = {"lk_noseed", lk_noseed_setup, lk_run, lk_teardown, NULL};
const bench_tool bench_tool_lk_static = {"lk_static", lk_threads_setup, lk_run, lk_teardown, NULL};
const bench_tool bench_tool_lk_static_noseed = {"lk_static_noseed", lk_noseed_setup, lk_run, lk_teardown, NULL};

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
        lk_task task = {i, 0, (uint32_t)omp_get_thread_num(), 0};
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
        lk_task task = {i, 0, (uint32_t)omp_get_thread_num(), 0};
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

const bench_tool bench_tool_omp_static = {"omp_static", omp_setup, omp_static_run, nothing, NULL};
const bench_tool bench_tool_omp_dynamic = {"omp_dynamic", omp_setup, omp_dynamic_run, nothing, NULL};

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
            lk_task task = {i, 0, worker, 0};
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

const bench_tool bench_tool_pthread_pool = {"pthread_pool", pool_setup, pool_run, pool_teardown, NULL};

/* -------------------------------------------- the trivial body, inlined */

/* The range function: the caller's loop over its range, the body inlined
   (gcc -O2 vectorises it), as in an OpenMP loop or a oneTBB blocked_range. */
static int32_t trivial_range(const void *model, const void *args, void *results, lk_range *range) {
    (void)model;
    const uint64_t *a = args;
    uint64_t *r = results;
    const size_t n = range->end - range->begin;
    for (size_t i = 0; i < n; i++)
        r[i] = a[i] * 2 + 1;
    return 0;
}

static int lk_range_setup_with(const bench_work *w, int n_jobs, lk_backend backend, int on_failure, char *why,
                               size_t why_len) {
    if (!w->trivial_body) {
        snprintf(why, why_len, "the range tools inline the trivial body; %s has another", w->name);
        return BENCH_ERROR;
    }
    lk_invoker_options opts;
    lk_invoker_options_init(&opts, sizeof opts);
    opts.n_jobs = n_jobs;
    opts.backend = backend;
    opts.range_func = trivial_range;
    lk_status st = lk_invoker_new_with(w->model, NULL, &opts, &lk_inv);
    if (st != LK_OK) {
        snprintf(why, why_len, "lk_invoker_new_with(range_func, backend %d): status %d: %s", (int)backend, (int)st,
                 lk_last_error());
        return on_failure;
    }
    return BENCH_OK;
}

static int lk_range_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return lk_range_setup_with(w, n_jobs, LK_BACKEND_THREADS, BENCH_ERROR, why, why_len);
}

static int lk_proc_range_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return lk_range_setup_with(w, n_jobs, LK_BACKEND_PROCESSES, BENCH_NA, why, why_len);
}

const bench_tool bench_tool_lk_range = {"lk_range", lk_range_setup, lk_run, lk_teardown, NULL};
const bench_tool bench_tool_lk_proc_range = {"lk_proc_range", lk_proc_range_setup, lk_run, lk_teardown, NULL};

/* lk_proc_shared: the arguments copied once into shared memory (before the
   invoker is made, so its workers map it) and the results written there:
   what a program that keeps its batch in lk_shared_alloc memory runs. */
static const void *shared_args;

static void *shared_alloc(size_t bytes) {
    void *p = NULL;
    lk_status st = lk_shared_alloc(bytes, &p);
    if (st != LK_OK) {
        fprintf(stderr, "lk_shared_alloc(%zu): status %d: %s\n", bytes, (int)st, lk_last_error());
        exit(1);
    }
    return p;
}

static int lk_proc_shared_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    if (!shared_args) {
        void *p = NULL;
        lk_status st = lk_shared_alloc(w->n_items * w->arg_size, &p);
        if (st != LK_OK) {
            snprintf(why, why_len, "lk_shared_alloc: status %d: %s", (int)st, lk_last_error());
            return st == LK_ERR_UNSUPPORTED ? BENCH_NA : BENCH_ERROR;
        }
        memcpy(p, w->args, w->n_items * w->arg_size);
        shared_args = p;
    }
    return lk_range_setup_with(w, n_jobs, LK_BACKEND_PROCESSES, BENCH_NA, why, why_len);
}

static int lk_proc_shared_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    bench_work in_shared = *w;
    in_shared.args = shared_args;
    return lk_run(&in_shared, n, results, why, why_len);
}

const bench_tool bench_tool_lk_proc_shared = {"lk_proc_shared", lk_proc_shared_setup, lk_proc_shared_run, lk_teardown,
                                              shared_alloc};

static int omp_inline_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    if (!w->trivial_body) {
        snprintf(why, why_len, "omp_inline inlines the trivial body; %s has another", w->name);
        return BENCH_ERROR;
    }
    return omp_setup(w, n_jobs, why, why_len);
}

static int omp_inline_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    (void)why, (void)why_len;
    const uint64_t *a = w->args;
    uint64_t *r = results;
#pragma omp parallel for schedule(static) num_threads(omp_jobs)
    for (size_t i = 0; i < n; i++)
        r[i] = a[i] * 2 + 1;
    return 0;
}

const bench_tool bench_tool_omp_inline = {"omp_inline", omp_inline_setup, omp_inline_run, nothing, NULL};

/* ------------------------------------------------------------ streams */

static size_t stream_window;

typedef struct stream_io {
    const bench_work *w;
    size_t n, next;  /* items to source; the next one */
    uint8_t *results;
    size_t sunk;     /* items sunk so far: the next `first` expected */
    char bad[256];   /* what went wrong in the sink, if anything */
} stream_io;

static int32_t stream_source(void *user, void *args, size_t capacity, size_t *n_filled) {
    stream_io *s = user;
    size_t k = s->n - s->next < capacity ? s->n - s->next : capacity;
    memcpy(args, ARG(s->w, s->next), k * s->w->arg_size);
    s->next += k;
    *n_filled = k;
    return 0;
}

static int32_t stream_sink(void *user, size_t first, const void *results, const int32_t *item_status, size_t n) {
    stream_io *s = user;
    if (first != s->sunk || first + n > s->n) {
        snprintf(s->bad, sizeof s->bad, "sink got items %zu..%zu, expected them from %zu (of %zu)", first,
                 first + n, s->sunk, s->n);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (item_status[i] != 0) {
            snprintf(s->bad, sizeof s->bad, "item %zu has status %d", first + i, (int)item_status[i]);
            return 1;
        }
    memcpy(RES(s->w, s->results, first), results, n * s->w->result_size);
    s->sunk += n;
    return 0;
}

static int lk_stream_setup_with(const bench_work *w, int n_jobs, lk_backend backend, size_t window, int on_failure,
                                char *why, size_t why_len) {
    stream_window = window;
    return lk_setup_with(w, n_jobs, backend, LK_SEEDS_PER_ITEM, on_failure,
                         backend == LK_BACKEND_PROCESSES ? "LK_BACKEND_PROCESSES" : "threads", why, why_len);
}

static int lk_stream_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return lk_stream_setup_with(w, n_jobs, LK_BACKEND_THREADS, (size_t)BENCH_STREAM_WINDOW_PER_JOB * (size_t)n_jobs,
                                BENCH_ERROR, why, why_len);
}

static int lk_stream_auto_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return lk_stream_setup_with(w, n_jobs, LK_BACKEND_THREADS, 0, BENCH_ERROR, why, why_len);
}

static int lk_proc_stream_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return lk_stream_setup_with(w, n_jobs, LK_BACKEND_PROCESSES,
                                (size_t)BENCH_STREAM_WINDOW_PER_JOB * (size_t)n_jobs, BENCH_NA, why, why_len);
}

static int lk_stream_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    stream_io s = {w, n, 0, results, 0, ""};
    lk_stream_options opts;
    lk_stream_options_init(&opts, sizeof opts);
    opts.window = stream_window;
    lk_status st = lk_invoker_stream(lk_inv, stream_source, stream_sink, &s, w->arg_size, w->result_size, &opts);
    if (st != LK_OK) {
        snprintf(why, why_len, "lk_invoker_stream: status %d: %s%s%s", (int)st, lk_last_error(), s.bad[0] ? "; " : "",
                 s.bad);
        return 1;
    }
    if (s.sunk != n || s.next != n) {
        snprintf(why, why_len, "lk_invoker_stream: sourced %zu, sunk %zu of %zu items", s.next, s.sunk, n);
        return 1;
    }
    return 0;
}

const bench_tool bench_tool_lk_stream = {"lk_stream", lk_stream_setup, lk_stream_run, lk_teardown, NULL};
const bench_tool bench_tool_lk_stream_auto = {"lk_stream_auto", lk_stream_auto_setup, lk_stream_run, lk_teardown, NULL};
const bench_tool bench_tool_lk_proc_stream = {"lk_proc_stream", lk_proc_stream_setup, lk_stream_run, lk_teardown, NULL};

/* ------------------------------------------------------ futex ping-pong */

/*
 * The floor under a process backend's latency: one worker process, forked
 * once, sleeping on a futex in shared memory. A call copies the arguments
 * into the shared page, bumps `req` and wakes the worker; the worker runs
 * the items through the workload's callback, stores `ack = req` and wakes
 * the caller. Nothing spins: both sides sleep in the kernel, as a process
 * pool that never burns an idle CPU must.
 */
#define PP_MAX 8

typedef struct pingpong {
    _Atomic uint32_t req;
    _Atomic uint32_t ack;
    uint32_t n;
    uint32_t quit;
    int32_t rc;
    uint8_t args[PP_MAX * 64];
    uint8_t results[PP_MAX * 64];
} pingpong;

static pingpong *pp;
static pid_t pp_child = -1;

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void pp_worker(const bench_work *w) {
    uint32_t seen = 0;
    for (;;) {
        uint32_t r;
        while ((r = atomic_load(&pp->req)) == seen)
            futex_wait(&pp->req, seen);
        seen = r;
        if (pp->quit)
            _exit(0);
        int32_t rc = 0;
        for (uint32_t i = 0; i < pp->n && rc == 0; i++) {
            lk_task task = {i, 0, 0, 0};
            rc = w->op(w->model, pp->args + i * w->arg_size, pp->results + i * w->result_size, &task);
        }
        pp->rc = rc;
        atomic_store(&pp->ack, r);
        futex_wake(&pp->ack);
    }
}

static int pp_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    (void)n_jobs;
    if (w->arg_size > 64 || w->result_size > 64) {
        snprintf(why, why_len, "futex_pingpong: items of at most 64 bytes");
        return BENCH_ERROR;
    }
    pp = mmap(NULL, sizeof *pp, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pp == MAP_FAILED) {
        snprintf(why, why_len, "mmap: %s", strerror(errno));
        pp = NULL;
        return BENCH_ERROR;
    }
    memset(pp, 0, sizeof *pp);
    pid_t parent = getpid();
    pp_child = fork();
    if (pp_child < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return BENCH_ERROR;
    }
    if (pp_child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        pp_worker(w);
    }
    return BENCH_OK;
}

static int pp_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    if (n > PP_MAX) {
        snprintf(why, why_len, "futex_pingpong: at most %d items per call", PP_MAX);
        return 1;
    }
    memcpy(pp->args, w->args, n * w->arg_size);
    pp->n = (uint32_t)n;
    uint32_t r = atomic_fetch_add(&pp->req, 1) + 1;
    futex_wake(&pp->req);
    uint32_t a;
    while ((a = atomic_load(&pp->ack)) != r)
        futex_wait(&pp->ack, a);
    if (pp->rc != 0) {
        snprintf(why, why_len, "callback failed with %d", (int)pp->rc);
        return 1;
    }
    memcpy(results, pp->results, n * w->result_size);
    return 0;
}

static void pp_teardown(void) {
    if (pp_child > 0) {
        pp->quit = 1;
        atomic_fetch_add(&pp->req, 1);
        futex_wake(&pp->req);
        waitpid(pp_child, NULL, 0);
        pp_child = -1;
    }
    if (pp) {
        munmap(pp, sizeof *pp);
        pp = NULL;
    }
}

const bench_tool bench_tool_futex_pingpong = {"futex_pingpong", pp_setup, pp_run, pp_teardown, NULL};
