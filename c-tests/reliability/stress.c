/* stress: lkparallel under a random mix of everything, for a bounded time.
 *
 *   stress [SECONDS]        (or LK_STRESS_SECONDS; default 30)
 *   LK_STRESS_SEED=<u64>    replay a run: the seed is printed at the start
 *   LK_STRESS_THREADS=<n>   threads issuing operations (default 4)
 *   LK_STRESS_RSS_CHECK=0   skip the RSS comparison (for runs under valgrind,
 *                           whose shadow memory grows with the heap and is
 *                           never given back; its leak check replaces it)
 *   LK_STRESS_MAX_POOL=<n>  the largest oversized thread pool (default 512;
 *                           valgrind runs at most 500 threads in all)
 *   LK_STREAM_ITEMS=<n>     items of the long stream (default 10^7)
 *
 * Each thread draws operations from its own generator (seeded from the run's
 * seed and the thread's number, so a seed replays every thread's sequence):
 *  - maps of 0 to 100,000 items of random element sizes on invokers with a
 *    random backend (threads or processes), n_jobs and error mode, with
 *    callbacks failing at random indices, and, on the process backend,
 *    workers crashing (SIGSEGV, SIGKILL, _exit) at random items;
 *    A quarter of the argument and of the result arrays come from
 *    lk_shared_alloc (process workers made afterwards use them in place);
 *  - the same with lk_invoker_cancel from another thread at a random moment;
 *  - the same on range invokers (random grains), a crash failing the whole
 *    range call it was in;
 *  - maps on one invoker shared by all threads at once;
 *  - nested maps (a callback mapping on its own invoker, on another thread
 *    pool, or on a process-backend invoker), inner failures included;
 *  - streams (lk_invoker_stream) of 0 to 20,000 items on the same
 *    invokers, through random windows and source fills, with the same
 *    failing items and worker crashes, or cancelled from the sink; the sink
 *    checks order, every item's status and result, and the window;
 *  - once per run, from the main thread after the warm-up, a long stream
 *    (LK_STREAM_ITEMS items, default 10^7) on a range invoker (threads)
 *    and on a process invoker, in bounded memory (the RSS comparison at
 *    the end covers it);
 *  - lk_run_sp calls that succeed (0 to 2 MiB results), fail with a code,
 *    crash (SIGSEGV, abort, _exit), time out (lk_run_sp_with timeout_ms, the
 *    child sleeping or also ignoring SIGTERM), exceed a memory limit, log
 *    records, or make an invoker of their own;
 *  - invoker create/shutdown churn, dead-handle calls included;
 *  - hostile cases: process workers stopped with SIGSTOP (by themselves or
 *    from another thread) under a per-item time limit (item_timeout_ms);
 *    zygotes SIGKILLed by a worker, from another thread mid-map, or while
 *    the invoker is idle; a forked copy of this process that closed some of
 *    its standard descriptors and uses run_sp and both backends, whose
 *    children write to 0-2; thread pools of 64 to 512 workers. Each of
 *    these that could hang is bounded by its own watchdog thread.
 * Every result, status, item_status entry, reported index and code is
 * checked against what the contract says. After a warm-up phase the process
 * is measured (threads in /proc/self/task, descriptors in /proc/self/fd,
 * child processes, RSS); at the end, with every invoker shut down, none of
 * them may have grown (RSS within a tolerance). A summary follows: maps run,
 * items checked, faults injected. Any failure prints the seed, the thread
 * and the operation, and exits 1; a hang is ended by a watchdog (exit 124)
 * that prints what each thread was doing. */
#include "reliability/rel.h"

#include <malloc.h>
#include <stdarg.h>

/* ------------------------------------------------------------------ setup */

#define MAX_THREADS 16
#define CACHE 3
#define SENTINEL 0xA5
#define MAX_N 100000

static double g_seconds = 30;
static uint64_t g_seed;
static int g_threads = 4;

static atomic_long st_streams, st_stream_items, st_shared_maps, st_range_maps, st_range_deaths;
static atomic_long st_maps, st_items, st_faults, st_sp, st_invokers, st_nested, st_cancels, st_crashes,
    st_timeouts, st_failed_items, st_churn, st_stopped, st_zygotes, st_closed_hosts, st_big_pools;

static void fail_out(void);

/* What each thread is doing, for failure reports and the watchdog. */
static char g_doing[MAX_THREADS][256];
static _Thread_local int tl_id = -1;

static void doing(const char *fmt, ...) {
    if (tl_id < 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_doing[tl_id], sizeof g_doing[tl_id], fmt, ap);
    va_end(ap);
}

#define FAIL(...)                                                                      \
    do {                                                                               \
        fprintf(stderr, "stress: FAILED at %s:%d (thread %d, seed %" PRIu64 "): ", __FILE__, \
                __LINE__, tl_id, g_seed);                                              \
        fprintf(stderr, __VA_ARGS__);                                                  \
        fprintf(stderr, "\n");                                                         \
        fail_out();                                                                    \
    } while (0)

#define EXPECT(cond, ...)                                                              \
    do {                                                                               \
        if (!(cond)) FAIL("expected " #cond ": " __VA_ARGS__);                         \
    } while (0)

static void fail_out(void) {
    for (int t = 0; t < g_threads; t++) fprintf(stderr, "  thread %d was: %s\n", t, g_doing[t]);
    fprintf(stderr, "  replay with: LK_STRESS_SEED=%" PRIu64 " stress %g\n", g_seed, g_seconds);
    fflush(stderr);
    _exit(1);
}

static void *watchdog_main(void *arg) {
    double limit = *(double *)arg;
    lkt_sleep_us((long)(limit * 1e6));
    fprintf(stderr, "stress: WATCHDOG: no progress for %.0f s (seed %" PRIu64 ")\n", limit, g_seed);
    for (int t = 0; t < g_threads; t++) fprintf(stderr, "  thread %d is: %s\n", t, g_doing[t]);
    fflush(stderr);
    _exit(124);
    return NULL;
}

/* A thread's generator (splitmix64). */
typedef struct {
    uint64_t s;
} rng;

static inline uint64_t rnd(rng *r) {
    r->s += 0x9e3779b97f4a7c15ULL;
    uint64_t z = r->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t below(rng *r, uint64_t n) { return n ? rnd(r) % n : 0; }

/* ------------------------------------------- what every callback computes */

/* A map's faults come from a 32-bit salt passed in the high half of
 * task->index (lk_map_options.index_base = salt << 32); salt 0 means none.
 *   bits 0-1   1: items fail with probability 2^-(k+2); 2: item t fails; 3: both
 *   bits 2-5   k
 *   bits 6-22  t
 *   bits 23-24 process backend only: 1 SIGSEGV, 2 _exit(7), 3 SIGKILL ...
 *   bits 25-30 ... at item c = 97 * that value */
static inline int32_t fault_code(uint32_t salt, uint64_t i) {
    int32_t code = (int32_t)(lkt_mix(i ^ ((uint64_t)salt << 20)) % 2001) - 1000;
    return code == 0 ? 1001 : code;
}

static inline int32_t expected_code(uint32_t salt, uint64_t i) {
    if (salt == 0) return 0;
    if (salt & 1) {
        unsigned k = (salt >> 2) & 15;
        if ((lkt_mix(((uint64_t)salt << 32) ^ i) & ((1ULL << (k + 2)) - 1)) == 0) return fault_code(salt, i);
    }
    if ((salt & 2) && i == ((salt >> 6) & 0x1FFFF)) return fault_code(salt, i);
    return 0;
}

static inline int crash_kind(uint32_t salt) { return (int)((salt >> 23) & 3); }
static inline uint64_t crash_index(uint32_t salt) { return 97 * (uint64_t)((salt >> 25) & 63); }

/* Codes a callback returns when the library broke a promise it can see. */
#define BAD_WORKER 2000001 /* task->worker >= n_jobs */
#define BAD_FLAG 2000002   /* lk_is_worker / lk_is_mp_worker wrong */
#define BAD_NESTED 2000003 /* a nested map's result was wrong (see the message) */

typedef struct inv_model {
    int32_t n_jobs; /* resolved: the bound task->worker must respect */
    int32_t backend;
    int32_t error_mode;
    size_t arg_size, result_size;
    int ranged; /* a range invoker (stress_range) */
} inv_model;

static inline uint64_t arg_hash(const uint8_t *a, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t k = 0; k < n; k++) {
        h ^= a[k];
        h *= 1099511628211ULL;
    }
    return h;
}

static inline void fill_result(uint8_t *r, size_t rs, uint64_t h, uint64_t i) {
    uint64_t x = lkt_mix(h ^ (i * 0x9E3779B97F4A7C15ULL));
    for (size_t j = 0; j < rs; j++) {
        if (j && j % 8 == 0) x = lkt_mix(x);
        r[j] = (uint8_t)(x >> (8 * (j % 8)));
    }
}

/* One item, through an item function or a range function's loop. */
static int32_t stress_item(const inv_model *m, const void *arg, void *result, uint64_t index, uint32_t worker) {
    uint32_t salt = (uint32_t)(index >> 32);
    uint64_t i = index & 0xFFFFFFFFu;
    if (worker >= (uint32_t)m->n_jobs) return BAD_WORKER;
    if (m->backend == LK_BACKEND_PROCESSES) {
        if (lk_is_mp_worker() != 1 || lk_is_worker() != 1) return BAD_FLAG;
        if (crash_kind(salt) && i == crash_index(salt)) {
            if (crash_kind(salt) == 1) raise(SIGSEGV);
            if (crash_kind(salt) == 2) _exit(7);
            raise(SIGKILL);
        }
        if (i % 4999 == 17) {
            char msg[64];
            snprintf(msg, sizeof msg, "child map item %" PRIu64, i);
            lk_log(LK_LOG_INFO, msg);
        }
    } else if (m->n_jobs >= 2 && lk_is_worker() != 1) {
        return BAD_FLAG;
    }
    int32_t code = expected_code(salt, i);
    if (code) return code;
    if ((lkt_mix(i ^ 0x77) & 4095) == 0) {
        double until = lkt_now() + 50e-6; /* now and then a slower item */
        while (lkt_now() < until) {
        }
    }
    fill_result((uint8_t *)result, m->result_size, arg_hash((const uint8_t *)arg, arg ? m->arg_size : 0), i);
    return 0;
}

static int32_t stress_op(const void *model, const void *arg, void *result, const lk_task *task) {
    return stress_item((const inv_model *)model, arg, result, task->index, task->worker);
}

/* The same items as a range function: the library re-runs the rest of a
   range after a keep-going failure, and a crash fails the whole call. */
static int32_t stress_range(const void *model, const void *args, void *results, lk_range *r) {
    const inv_model *m = (const inv_model *)model;
    const uint8_t *a = (const uint8_t *)args;
    uint8_t *res = (uint8_t *)results;
    for (size_t i = r->begin; i < r->end; i++) {
        size_t k = i - r->begin;
        int32_t code = stress_item(m, a ? a + k * m->arg_size : NULL, res ? res + k * m->result_size : NULL, i, r->worker);
        if (code) {
            r->failed = i;
            return code;
        }
    }
    return 0;
}

/* ---------------------------------------------------------- log counting */

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local long tl_child_records; /* "child ..." records that reached this thread */
static atomic_long g_records;

static void log_cb(lk_log_level level, const char *target, const char *message, void *user) {
    (void)level;
    (void)target;
    (void)user;
    pthread_mutex_lock(&g_log_mu);
    atomic_fetch_add(&g_records, 1);
    pthread_mutex_unlock(&g_log_mu);
    if (strncmp(message, "child ", 6) == 0) tl_child_records++;
}

/* ------------------------------------------------------- checking a map */

typedef struct map_desc {
    const inv_model *m;
    size_t n;
    uint32_t salt;
    const uint8_t *args;    /* NULL when arg_size is 0 (or n is 0) */
    const uint8_t *results; /* NULL when result_size is 0 (or n is 0) */
    const int32_t *item_status; /* NULL: not asked for */
    int cancel_requested;
    int inline_order; /* n_jobs 1 threads: items run in order */
    int results_shared; /* the results lie in lk_shared_alloc memory (process workers write them in place) */
} map_desc;

/* Check one map's outcome; returns NULL or what was wrong (in `why`). */
static const char *check_map(const map_desc *d, lk_status s, const char *msg, char *why, size_t cap,
                             long *checked) {
    const inv_model *m = d->m;
    size_t rs = m->result_size;
    uint8_t expect[128];
    uint64_t base = (uint64_t)d->salt << 32;
    int can_crash = m->backend == LK_BACKEND_PROCESSES && crash_kind(d->salt) && crash_index(d->salt) < d->n;
    uint64_t crash_at = crash_index(d->salt);
    *checked = 0;
#define BAD(...) (snprintf(why, cap, __VA_ARGS__), why)

    if (d->item_status) {
        const int32_t *st = d->item_status;
        size_t lowest = SIZE_MAX, first_skip = SIZE_MAX;
        int died = 0, skipped = 0;
        /* A crash fails its item; in a range invoker, every item of the call
           it was in: one run of items holding the crash. Their result slots
           stay untouched unless the results are written in place. */
        size_t died_lo = SIZE_MAX, died_hi = 0;
        for (size_t i = 0; i < d->n; i++) {
            const uint8_t *r = d->results ? d->results + i * rs : NULL;
            if (st[i] == LK_ITEM_WORKER_DIED) {
                if (!can_crash || (i != crash_at && !m->ranged)) return BAD("item %zu marked LK_ITEM_WORKER_DIED", i);
                if (died && i != died_hi + 1) return BAD("dead items %zu..%zu and %zu are not one range", died_lo, died_hi, i);
                if (!died) died_lo = i;
                died_hi = i;
                died = 1;
                for (size_t j = 0; r && j < rs && !(m->ranged && d->results_shared); j++)
                    if (r[j] != SENTINEL) return BAD("dead item %zu's result slot was written", i);
            } else if (st[i] == LK_ITEM_SKIPPED) {
                skipped = 1;
                if (first_skip == SIZE_MAX) first_skip = i;
                for (size_t j = 0; r && j < rs; j++)
                    if (r[j] != SENTINEL) return BAD("skipped item %zu's result slot was written", i);
            } else {
                if (can_crash && i == crash_at) return BAD("item %zu should have crashed, status %d", i, st[i]);
                int32_t want = expected_code(d->salt, i);
                if (st[i] == BAD_WORKER || st[i] == BAD_FLAG)
                    return BAD("item %zu: the callback saw a broken promise (code %d)", i, st[i]);
                if (st[i] != want) return BAD("item %zu: status %d, expected %d", i, st[i], want);
                if (want) {
                    if (lowest == SIZE_MAX) lowest = i;
                } else if (r) {
                    fill_result(expect, rs, arg_hash(d->args ? d->args + i * m->arg_size : NULL, d->args ? m->arg_size : 0), i);
                    if (memcmp(r, expect, rs) != 0) return BAD("item %zu: wrong result", i);
                }
                if (d->inline_order && first_skip != SIZE_MAX)
                    return BAD("n_jobs 1: item %zu ran after item %zu was skipped", i, first_skip);
            }
            (*checked)++;
        }
        if (died) {
            size_t named = m->ranged ? died_lo : crash_at;
            if (s != LK_ERR_WORKER_DIED) return BAD("a worker died, but the map gave %d: %s", (int)s, msg);
            if (died_lo > crash_at || died_hi < crash_at) return BAD("dead items %zu..%zu, the crash at %" PRIu64, died_lo, died_hi, crash_at);
            if (!lkt_has_number(msg, (long long)(base + named))) return BAD("message lacks item %" PRIu64 ": %s", base + named, msg);
        } else if (lowest != SIZE_MAX) {
            unsigned long long idx;
            long long code;
            if (s != LK_ERR_CALLBACK) return BAD("item %zu failed, but the map gave %d: %s", lowest, (int)s, msg);
            if (!lkt_parse_failure(msg, &idx, &code)) return BAD("unparsable failure message: %s", msg);
            if (idx != base + lowest || code != expected_code(d->salt, lowest))
                return BAD("reported index %" PRIu64 " code %lld; the lowest failing item that ran is %" PRIu64 " (code %d)",
                           (uint64_t)idx, code, base + lowest, expected_code(d->salt, lowest));
        } else if (skipped) {
            if (!d->cancel_requested) return BAD("items were skipped with no failure and no cancel (status %d: %s)", (int)s, msg);
            if (s != LK_ERR_CANCELLED) return BAD("items were skipped after a cancel, but the map gave %d: %s", (int)s, msg);
        } else if (!(s == LK_OK || (d->cancel_requested && s == LK_ERR_CANCELLED))) {
            return BAD("every item ran and succeeded, but the map gave %d: %s", (int)s, msg);
        }
        if (skipped && !d->cancel_requested && m->error_mode == LK_ERRORS_KEEP_GOING)
            return BAD("keep-going mode skipped items");
        if (skipped && !d->cancel_requested && lowest == SIZE_MAX && !died) return BAD("skipped without cause");
        if (d->inline_order && lowest != SIZE_MAX && first_skip != SIZE_MAX && first_skip != lowest + 1 && !d->cancel_requested)
            return BAD("n_jobs 1 fail-fast: first failure %zu, first skip %zu", lowest, first_skip);
        return NULL;
    }

    /* No item_status: what the status and the result slots allow. */
    size_t first_fail = SIZE_MAX;
    for (size_t i = 0; i < d->n && first_fail == SIZE_MAX; i++)
        if (expected_code(d->salt, i)) first_fail = i;
    int all_ran = s == LK_OK || (s == LK_ERR_CALLBACK && m->error_mode == LK_ERRORS_KEEP_GOING && !d->cancel_requested);
    if (s == LK_OK && (first_fail != SIZE_MAX || can_crash)) return BAD("the map succeeded though items must fail");
    if (s == LK_ERR_CALLBACK) {
        unsigned long long idx;
        long long code;
        if (!lkt_parse_failure(msg, &idx, &code)) return BAD("unparsable failure message: %s", msg);
        if ((idx >> 32) != d->salt || (idx & 0xFFFFFFFFu) >= d->n) return BAD("reported index %" PRIu64 " is not in the map", (uint64_t)idx);
        uint64_t i = idx & 0xFFFFFFFFu;
        if (expected_code(d->salt, i) == 0 || code != expected_code(d->salt, i))
            return BAD("reported item %" PRIu64 " code %lld does not fail that way", i, code);
        if (m->error_mode == LK_ERRORS_KEEP_GOING && !d->cancel_requested && !can_crash && i != first_fail)
            return BAD("keep-going: reported %" PRIu64 ", lowest failing is %zu", i, first_fail);
        if (d->inline_order && i != first_fail) return BAD("n_jobs 1: reported %" PRIu64 ", first failing is %zu", i, first_fail);
    } else if (s == LK_ERR_WORKER_DIED) {
        if (!can_crash) return BAD("LK_ERR_WORKER_DIED with no crash: %s", msg);
        /* (A range invoker's message names the dying call's range, which
           without statuses the test cannot know.) */
        if (!m->ranged && !lkt_has_number(msg, (long long)(base + crash_at)))
            return BAD("message lacks item %" PRIu64 ": %s", base + crash_at, msg);
        if (m->ranged && strstr(msg, "died") == NULL) return BAD("the message does not say a worker died: %s", msg);
    } else if (s == LK_ERR_CANCELLED) {
        if (!d->cancel_requested) return BAD("cancelled without a cancel");
    } else if (s != LK_OK) {
        return BAD("unexpected status %d: %s", (int)s, msg);
    }
    if (!d->results) return NULL;
    for (size_t i = 0; i < d->n; i++) {
        const uint8_t *r = d->results + i * rs;
        if (expected_code(d->salt, i) || (can_crash && i == crash_at)) continue;
        fill_result(expect, rs, arg_hash(d->args ? d->args + i * m->arg_size : NULL, d->args ? m->arg_size : 0), i);
        if (memcmp(r, expect, rs) == 0) {
            (*checked)++;
            continue;
        }
        if (all_ran) return BAD("item %zu: wrong result (status %d)", i, (int)s);
        for (size_t j = 0; j < rs; j++)
            if (r[j] != SENTINEL) return BAD("item %zu: neither its result nor untouched", i);
        (*checked)++;
    }
    return NULL;
#undef BAD
}

/* -------------------------------------------------------------- invokers */

typedef struct cached {
    lk_invoker *inv;
    inv_model *m; /* owned; outlives the invoker */
} cached;

typedef struct tstate {
    int id;
    rng r;
    long ops;
    cached cache[CACHE];
    cached range_inv; /* maps only (the streams' checks know item deaths only) */
} tstate;

static const size_t ARG_SIZES[] = {0, 1, 3, 5, 8, 12, 16, 33, 64, 100};
static const size_t RESULT_SIZES[] = {0, 1, 2, 3, 7, 8, 16, 24, 64};

static int32_t resolve_jobs(int32_t n_jobs) {
    if (n_jobs == 0) return lk_proc_count(2, 4, 0);
    if (n_jobs == -1) return lk_cpu_count();
    return n_jobs;
}

static cached make_invoker(tstate *t, int allow_procs, int ranged) {
    cached c;
    inv_model *m = (inv_model *)calloc(1, sizeof *m);
    CHECK(m != NULL);
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    int procs = allow_procs && below(&t->r, ranged ? 2 : 4) == 0; /* range invokers: processes half the time */
    static const int32_t thread_jobs[] = {1, 1, 2, 2, 3, 4, 8, 0, -1};
    static const int32_t proc_jobs[] = {1, 2, 2, 3};
    o.backend = procs ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS;
    o.n_jobs = procs ? proc_jobs[below(&t->r, 4)] : thread_jobs[below(&t->r, 9)];
    o.error_mode = below(&t->r, 2) ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    m->n_jobs = resolve_jobs(o.n_jobs);
    m->backend = o.backend;
    m->error_mode = o.error_mode;
    m->arg_size = ARG_SIZES[below(&t->r, sizeof ARG_SIZES / sizeof ARG_SIZES[0])];
    m->result_size = RESULT_SIZES[below(&t->r, sizeof RESULT_SIZES / sizeof RESULT_SIZES[0])];
    m->ranged = ranged;
    if (ranged) {
        static const size_t grains[] = {0, 1, 7, 100, 2000};
        o.range_func = stress_range;
        o.grain = grains[below(&t->r, sizeof grains / sizeof grains[0])];
    }
    doing("creating %s invoker (backend %d, n_jobs %d)", ranged ? "a range" : "an", o.backend, o.n_jobs);
    lk_status s = lk_invoker_new_with(m, ranged ? NULL : stress_op, &o, &c.inv);
    EXPECT(s == LK_OK, "lk_invoker_new_with gave %d: %s", (int)s, lk_last_error());
    c.m = m;
    atomic_fetch_add(&st_invokers, 1);
    return c;
}

static void drop_invoker(cached *c) {
    if (!c->inv) return;
    doing("shutting an invoker down");
    lk_status s = lk_invoker_shutdown(c->inv);
    EXPECT(s == LK_OK, "shutdown gave %d: %s", (int)s, lk_last_error());
    /* A dead handle answers LK_ERR_INVALID from every call. */
    EXPECT(lk_invoker_shutdown(c->inv) == LK_ERR_INVALID);
    EXPECT(lk_invoker_map(c->inv, NULL, 1, 0, NULL, 0) == LK_ERR_INVALID);
    EXPECT(lk_invoker_cancel(c->inv) == LK_ERR_INVALID);
    free(c->m);
    c->inv = NULL;
    c->m = NULL;
}

/* ------------------------------------------------------------------ maps */

static size_t random_n(rng *r) {
    uint64_t p = below(r, 100);
    if (p < 5) return 0;
    if (p < 35) return 1 + below(r, 16);
    if (p < 70) return 17 + below(r, 1984);
    return 2001 + below(r, MAX_N - 2000);
}

static uint32_t random_salt(rng *r, int backend) {
    if (below(r, 10) < 4) return 0;
    uint32_t salt = (uint32_t)rnd(r) & 0x7FFFFFFFu;
    if (backend != LK_BACKEND_PROCESSES || below(r, 3) != 0) salt &= ~(3u << 23); /* no crash */
    if (salt == 0) salt = 2;
    /* Make single-index failures land inside typical maps more often. */
    if ((salt & 2) && below(r, 2)) salt = (salt & ~(0x1FFFFu << 6)) | ((uint32_t)below(r, 2000) << 6);
    return salt;
}

typedef struct canceller {
    lk_invoker *inv;
    long delay_us;
} canceller;

static void *canceller_main(void *p) {
    canceller *c = (canceller *)p;
    lkt_sleep_us(c->delay_us);
    lk_status s = lk_invoker_cancel(c->inv);
    if (s != LK_OK) FAIL("lk_invoker_cancel gave %d", (int)s);
    return NULL;
}

/* One map on `c` (cancelled meanwhile when `cancel`), checked. */
/* A map's array: from malloc, or from lk_shared_alloc (process workers made
   after the first such call use it in place). */
static void *map_array(size_t bytes, int shared) {
    if (bytes == 0) return NULL;
    if (!shared) return malloc(bytes);
    void *p = NULL;
    CHECK_OK(lk_shared_alloc(bytes, &p));
    return p;
}

static void map_array_free(void *p, int shared) {
    if (shared) CHECK_OK(lk_shared_free(p));
    else free(p);
}

static void run_map(tstate *t, cached *c, int cancel) {
    const inv_model *m = c->m;
    size_t n = random_n(&t->r);
    uint32_t salt = random_salt(&t->r, m->backend);
    int use_status = salt == 0 ? below(&t->r, 2) : below(&t->r, 5) != 0;
    int plain = salt == 0 && !use_status && below(&t->r, 2);
    size_t as = m->arg_size, rs = m->result_size;
    /* Either array (or both) now and then in shared memory. */
    int shared_args = below(&t->r, 4) == 0, shared_results = below(&t->r, 4) == 0;
    uint8_t *args = (uint8_t *)map_array(n * as, shared_args);
    uint8_t *results = (uint8_t *)map_array(n * rs, shared_results);
    int32_t *status = (n && use_status) ? (int32_t *)malloc(n * sizeof(int32_t)) : NULL;
    CHECK((!n || !as || args) && (!n || !rs || results) && (!n || !use_status || status));
    for (size_t k = 0; args && k < n * as; k += 8) {
        uint64_t x = rnd(&t->r);
        memcpy(args + k, &x, n * as - k < 8 ? n * as - k : 8);
    }
    if (results) memset(results, SENTINEL, n * rs);
    if (status) memset(status, 0x11, n * sizeof(int32_t));

    doing("op %ld: map of %zu items (args %zu B%s, results %zu B%s) salt %#x backend %d n_jobs %d mode %d%s", t->ops,
          n, as, shared_args ? " shared" : "", rs, shared_results ? " shared" : "", salt, m->backend, m->n_jobs,
          m->error_mode, cancel ? ", cancelled" : "");
    pthread_t ct;
    canceller cc = {c->inv, (long)below(&t->r, 3000)};
    if (cancel) CHECK(pthread_create(&ct, NULL, canceller_main, &cc) == 0);
    long records_before = tl_child_records;
    lk_status s;
    if (plain) {
        s = lk_invoker_map(c->inv, args, n, as, results, rs);
    } else {
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.index_base = (size_t)salt << 32;
        mo.item_status = status;
        s = lk_invoker_map_with(c->inv, args, n, as, results, rs, &mo);
    }
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", s == LK_OK ? "" : lk_last_error());
    if (s != LK_OK) EXPECT(msg[0] != '\0', "status %d with an empty message", (int)s);
    if (cancel) {
        CHECK(pthread_join(ct, NULL) == 0);
        atomic_fetch_add(&st_cancels, 1);
    }
    map_desc d = {m, n, salt, args, results, status, cancel,
                  m->backend == LK_BACKEND_THREADS && m->n_jobs == 1, shared_results};
    char why[2048];
    long checked = 0;
    if (check_map(&d, s, msg, why, sizeof why, &checked))
        FAIL("map of %zu items (args %zu B%s, results %zu B%s), salt %#x, backend %d, n_jobs %d, mode %d%s: %s", n,
             as, shared_args ? " shared" : "", rs, shared_results ? " shared" : "", salt, m->backend, m->n_jobs,
             m->error_mode, cancel ? ", cancelled" : "", why);
    if (status && n && m->backend == LK_BACKEND_PROCESSES) {
        /* Records logged by the items that ran reached this thread, once
           each (in a range invoker, also those of a dying call's items
           before the crash, which are marked dead). */
        long want = 0, dead = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 4999 != 17) continue;
            if (status[i] == LK_ITEM_WORKER_DIED) dead++;
            else if (status[i] != LK_ITEM_SKIPPED) want++;
        }
        long got = tl_child_records - records_before;
        EXPECT(got >= want && got <= want + (m->ranged ? dead : 0), "%ld worker records arrived, %ld items logged", got, want);
    }
    atomic_fetch_add(&st_maps, 1);
    atomic_fetch_add(&st_items, checked);
    long faults = 0;
    for (size_t i = 0; status && i < n; i++)
        if (status[i] != 0 && status[i] != LK_ITEM_SKIPPED) faults++;
    if (!status && s != LK_OK && s != LK_ERR_CANCELLED) faults = 1;
    if (s == LK_ERR_WORKER_DIED) atomic_fetch_add(&st_crashes, 1);
    atomic_fetch_add(&st_failed_items, faults);
    atomic_fetch_add(&st_faults, faults + (cancel ? 1 : 0));
    if (shared_args || shared_results) atomic_fetch_add(&st_shared_maps, 1);
    if (m->ranged) atomic_fetch_add(&st_range_maps, 1);
    if (m->ranged && s == LK_ERR_WORKER_DIED) atomic_fetch_add(&st_range_deaths, 1);
    map_array_free(args, shared_args);
    map_array_free(results, shared_results);
    free(status);
}

static void op_map(tstate *t, int cancel) {
    cached *c = &t->cache[below(&t->r, CACHE)];
    if (!c->inv) *c = make_invoker(t, 1, 0);
    run_map(t, c, cancel);
    if (below(&t->r, 20) == 0) drop_invoker(c);
}

/* Maps on a range invoker, on either backend. */
static void op_range_map(tstate *t, int cancel) {
    if (!t->range_inv.inv) t->range_inv = make_invoker(t, 1, 1);
    run_map(t, &t->range_inv, cancel);
    if (below(&t->r, 20) == 0) drop_invoker(&t->range_inv);
}

/* One invoker that every thread maps on at once. */
static cached g_shared;

static void op_shared(tstate *t) { run_map(t, &g_shared, 0); }

/* ------------------------------------------------------------ nested maps */

typedef struct nest_model {
    inv_model base;   /* for the leaf items (arg 8 B, result 8 B) */
    lk_invoker *target; /* where the callbacks' inner maps go (may be itself) */
    const inv_model *target_model;
} nest_model;

#define LEAF_BIT (1ULL << 62)

/* Outer items (index without LEAF_BIT): map `arg` items on the target, with
 * the inner map's own salt (second arg word), and check them like the
 * parent would. Leaf items: result = index * 3 + 1, or fail with 31 at the
 * item named in the index. */
static int32_t nest_op(const void *model, const void *arg, void *result, const lk_task *task) {
    const nest_model *nm = (const nest_model *)model;
    if (task->index & LEAF_BIT) {
        uint64_t fail_at = (task->index >> 32) & 0xFFFFF;
        uint64_t i = task->index & 0xFFFFFFFFu;
        if (fail_at && i == fail_at - 1) return 31;
        *(uint64_t *)result = task->index * 3 + 1;
        return 0;
    }
    const uint64_t *a = (const uint64_t *)arg;
    size_t n = (size_t)a[0];
    uint64_t fail_at = a[1];
    uint64_t *r = (uint64_t *)malloc(n * 8 + 8);
    if (!r) return 1;
    for (size_t i = 0; i < n; i++) r[i] = 0;
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.index_base = (size_t)(LEAF_BIT | (fail_at << 32));
    lk_status s = lk_invoker_map_with(nm->target, NULL, n, 0, r, 8, &mo);
    int32_t ret = 0;
    if (fail_at && fail_at - 1 < n) {
        unsigned long long idx;
        long long code;
        if (s != LK_ERR_CALLBACK || !lkt_parse_failure(lk_last_error(), &idx, &code) ||
            idx != (LEAF_BIT | (fail_at << 32)) + fail_at - 1 || code != 31)
            ret = BAD_NESTED;
        for (size_t i = 0; i < n && !ret; i++)
            if (i != fail_at - 1 && r[i] != 0 && r[i] != (LEAF_BIT | (fail_at << 32) | i) * 3 + 1) ret = BAD_NESTED;
    } else {
        if (s != LK_OK) ret = BAD_NESTED;
        for (size_t i = 0; i < n && !ret; i++)
            if (r[i] != (LEAF_BIT | (fail_at << 32) | i) * 3 + 1) ret = BAD_NESTED;
    }
    free(r);
    if (ret) return ret;
    *(uint64_t *)result = task->index + 1000;
    return 0;
}

static void op_nested(tstate *t) {
    int kind = (int)below(&t->r, 6); /* 0-2 itself, 3-4 another pool, 5 a process invoker */
    nest_model *outer_m = (nest_model *)calloc(1, sizeof *outer_m);
    nest_model *inner_m = (nest_model *)calloc(1, sizeof *inner_m);
    CHECK(outer_m && inner_m);
    int32_t outer_jobs = 2 + (int32_t)below(&t->r, 3);
    outer_m->base = (inv_model){outer_jobs, LK_BACKEND_THREADS, LK_ERRORS_FAIL_FAST, 16, 8, 0};
    lk_invoker *outer = NULL, *inner = NULL;
    doing("op %ld: nested maps (kind %d)", t->ops, kind);
    EXPECT(lk_invoker_new(outer_m, nest_op, outer_jobs, &outer) == LK_OK, "%s", lk_last_error());
    if (kind <= 2) {
        outer_m->target = outer;
    } else {
        lk_invoker_options o;
        lk_invoker_options_init(&o, sizeof o);
        o.backend = kind == 5 ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS;
        o.n_jobs = 1 + (int32_t)below(&t->r, 3);
        inner_m->base = (inv_model){o.n_jobs, o.backend, LK_ERRORS_FAIL_FAST, 0, 8, 0};
        EXPECT(lk_invoker_new_with(inner_m, nest_op, &o, &inner) == LK_OK, "%s", lk_last_error());
        outer_m->target = inner;
        atomic_fetch_add(&st_invokers, 1);
    }
    atomic_fetch_add(&st_invokers, 1);
    size_t n = 1 + below(&t->r, kind == 5 ? 16 : 64);
    uint64_t *args = (uint64_t *)malloc(n * 16), *results = (uint64_t *)malloc(n * 8);
    CHECK(args && results);
    long inner_items = 0, inner_faults = 0;
    for (size_t i = 0; i < n; i++) {
        args[2 * i] = below(&t->r, kind == 5 ? 50 : 200);
        args[2 * i + 1] = below(&t->r, 4) == 0 ? 1 + below(&t->r, args[2 * i] + 5) : 0;
        inner_items += (long)args[2 * i];
        if (args[2 * i + 1] && args[2 * i + 1] - 1 < args[2 * i]) inner_faults++;
    }
    lk_status s = lk_invoker_map(outer, args, n, 16, results, 8);
    EXPECT(s == LK_OK, "nested maps (kind %d) gave %d: %s", kind, (int)s, lk_last_error());
    for (size_t i = 0; i < n; i++) EXPECT(results[i] == i + 1000, "outer item %zu", i);
    atomic_fetch_add(&st_nested, 1);
    atomic_fetch_add(&st_maps, (long)n + 1);
    atomic_fetch_add(&st_items, (long)n + inner_items);
    atomic_fetch_add(&st_faults, inner_faults);
    atomic_fetch_add(&st_failed_items, inner_faults);
    EXPECT(lk_invoker_shutdown(outer) == LK_OK, "%s", lk_last_error());
    if (inner) EXPECT(lk_invoker_shutdown(inner) == LK_OK, "%s", lk_last_error());
    free(args);
    free(results);
    free(outer_m);
    free(inner_m);
}

/* ---------------------------------------------------------------- run_sp */

enum { SP_OK, SP_CODE, SP_SEGV, SP_ABORT, SP_EXIT, SP_SLEEP, SP_IGNORE_TERM, SP_LOG, SP_OOM, SP_INVOKER, SP_KINDS };

typedef struct sp_job {
    int kind;
    size_t size;
    uint64_t seed;
    int records;
} sp_job;

static uint8_t sp_byte(uint64_t seed, size_t i) { return (uint8_t)(lkt_mix(seed + i / 8) >> (8 * (i % 8))); }

static int32_t sp_child(const void *arg, lk_buffer *out) {
    const sp_job *j = (const sp_job *)arg;
    switch (j->kind) {
    case SP_OK:
    case SP_LOG: {
        char msg[96];
        for (int k = 0; k < j->records; k++) {
            snprintf(msg, sizeof msg, "child sp record %d of %d", k, j->records);
            lk_log(LK_LOG_INFO, msg);
        }
        uint8_t chunk[4096];
        for (size_t at = 0; at < j->size;) {
            size_t take = j->size - at;
            if (take > sizeof chunk) take = sizeof chunk;
            take = 1 + (size_t)(lkt_mix(j->seed ^ at) % take);
            for (size_t k = 0; k < take; k++) chunk[k] = sp_byte(j->seed, at + k);
            if (lk_buffer_append(out, chunk, take) != LK_OK) return 90;
            at += take;
        }
        return 0;
    }
    case SP_CODE: return (int32_t)(j->seed % 1000) + 1;
    case SP_SEGV: raise(SIGSEGV); return 91;
    case SP_ABORT: abort();
    case SP_EXIT: _exit(3);
    case SP_IGNORE_TERM:
    case SP_SLEEP:
        if (j->kind == SP_IGNORE_TERM) signal(SIGTERM, SIG_IGN);
        for (;;) lkt_sleep_us(100000);
    case SP_OOM: {
        void *p = malloc((size_t)1 << 30);
        if (p) memset(p, 1, (size_t)1 << 30);
        return p ? 43 : 42;
    }
    case SP_INVOKER: {
        static inv_model m = {2, LK_BACKEND_THREADS, LK_ERRORS_FAIL_FAST, 8, 8, 0};
        lk_invoker *inv = NULL;
        if (lk_invoker_new(&m, stress_op, 2, &inv) != LK_OK) return 92;
        uint64_t a[64];
        uint8_t r[64 * 8], e[8];
        for (int k = 0; k < 64; k++) a[k] = lkt_mix(j->seed + (uint64_t)k);
        if (lk_invoker_map(inv, a, 64, 8, r, 8) != LK_OK) return 93;
        for (int k = 0; k < 64; k++) {
            fill_result(e, 8, arg_hash((const uint8_t *)&a[k], 8), (uint64_t)k);
            if (memcmp(e, r + k * 8, 8) != 0) return 94;
        }
        if (lk_invoker_shutdown(inv) != LK_OK) return 95;
        return lk_buffer_append(out, r, sizeof r) == LK_OK ? 0 : 96;
    }
    }
    return 97;
}

static void op_sp(tstate *t) {
    sp_job j;
    j.kind = (int)below(&t->r, SP_KINDS);
    j.size = below(&t->r, 4) == 0 ? below(&t->r, 2 << 20) : below(&t->r, 5000);
    j.seed = rnd(&t->r);
    j.records = j.kind == SP_LOG ? (int)below(&t->r, 300) : (int)below(&t->r, 3);
    lk_sp_options so;
    lk_sp_options_init(&so, sizeof so);
    int with_opts = j.kind == SP_SLEEP || j.kind == SP_IGNORE_TERM || j.kind == SP_OOM || below(&t->r, 2);
    if (j.kind == SP_SLEEP || j.kind == SP_IGNORE_TERM) {
        so.timeout_ms = 10 + below(&t->r, 50);
        so.grace_ms = 10 + (uint32_t)below(&t->r, 30);
    } else {
        so.timeout_ms = below(&t->r, 2) ? 120000 : 0; /* a limit that must not fire */
    }
    if (j.kind == SP_OOM) {
        /* Room for what the child has already mapped, plus 256 MiB. */
        FILE *f = fopen("/proc/self/statm", "re");
        unsigned long pages = 0;
        CHECK(f && fscanf(f, "%lu", &pages) == 1);
        fclose(f);
        so.memory_limit = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE) + ((uint64_t)256 << 20);
    }
    doing("op %ld: run_sp kind %d size %zu", t->ops, j.kind, j.size);
    lk_buffer b;
    memset(&b, 0, sizeof b);
    long records_before = tl_child_records;
    double t0 = lkt_now();
    lk_status s = with_opts ? lk_run_sp_with(sp_child, &j, &so, &b) : lk_run_sp(sp_child, &j, &b);
    double took = lkt_now() - t0;
    const char *msg = lk_last_error();
    long records = tl_child_records - records_before;
    atomic_fetch_add(&st_sp, 1);
    switch (j.kind) {
    case SP_OK:
    case SP_LOG:
        EXPECT(s == LK_OK, "run_sp kind %d gave %d: %s", j.kind, (int)s, msg);
        EXPECT(b.len == j.size, "%zu bytes, expected %zu", b.len, j.size);
        for (size_t i = 0; i < b.len; i++) EXPECT(b.data[i] == sp_byte(j.seed, i), "byte %zu of %zu", i, b.len);
        EXPECT(records == j.records, "%ld of %d child records arrived", records, j.records);
        atomic_fetch_add(&st_items, 1);
        break;
    case SP_INVOKER:
        EXPECT(s == LK_OK && b.len == 512, "run_sp making an invoker gave %d (%zu bytes): %s", (int)s, b.len, msg);
        atomic_fetch_add(&st_items, 65);
        break;
    case SP_CODE:
    case SP_OOM: {
        long long code = j.kind == SP_OOM ? 42 : (long long)(j.seed % 1000) + 1;
        EXPECT(s == LK_ERR_CALLBACK && lkt_has_number(msg, code), "run_sp kind %d gave %d: %s", j.kind, (int)s, msg);
        break;
    }
    case SP_SEGV:
    case SP_ABORT:
    case SP_EXIT: {
        const char *word = j.kind == SP_SEGV ? "SIGSEGV" : j.kind == SP_ABORT ? "SIGABRT" : "exit status 3";
        EXPECT(s == LK_ERR_WORKER_DIED && strstr(msg, word), "run_sp kind %d gave %d: %s", j.kind, (int)s, msg);
        atomic_fetch_add(&st_crashes, 1);
        break;
    }
    case SP_SLEEP:
    case SP_IGNORE_TERM:
        EXPECT(s == LK_ERR_TIMEOUT, "run_sp kind %d gave %d: %s", j.kind, (int)s, msg);
        EXPECT(took >= so.timeout_ms / 1000.0 * 0.9 && took < 30, "timed out after %.3f s (limit %" PRIu64 " ms)",
               took, so.timeout_ms);
        atomic_fetch_add(&st_timeouts, 1);
        break;
    }
    if (s != LK_OK) {
        EXPECT(b.data == NULL && b.len == 0 && b.cap == 0 && b.priv == NULL, "a failed run_sp wrote its result");
        EXPECT(msg[0] != '\0', "empty message");
        atomic_fetch_add(&st_faults, 1);
    }
    lk_buffer_free(&b);
    lk_buffer_free(&b);
}

/* --------------------------------------------------------------- streams */

/* A stream through stress_op: the source hands out arguments made from the
 * stream's seed, the sink checks each item as check_map does a map's:
 * order, status (expected_code, LK_ITEM_WORKER_DIED for the crashing item)
 * and result, and the window at every source call. */
typedef struct stream_ctx {
    const inv_model *m;
    size_t n, window, sourced, sunk, source_calls;
    uint64_t seed;
    uint32_t salt;
    int fill; /* 0: all it may; 1: a random part; 2: one at a time */
    rng r;
    lk_invoker *inv;
    long cancel_at_sink; /* the sink call that cancels the stream (-1: none) */
    long sink_calls;
    char bad[512];    /* the first broken promise */
    size_t lowest;    /* lowest item with a non-zero status reached the sink */
    size_t died;      /* the item that reached the sink as LK_ITEM_WORKER_DIED */
    atomic_int in_source, in_sink;
} stream_ctx;

static void stream_arg(const stream_ctx *c, size_t i, uint8_t *a) {
    size_t as = c->m->arg_size;
    for (size_t j = 0; j < as; j += 8) {
        uint64_t x = lkt_mix(c->seed ^ (i * 0x100000001B3ULL) ^ j);
        memcpy(a + j, &x, as - j < 8 ? as - j : 8);
    }
}

#define STREAM_BAD(...)                                                                \
    do {                                                                               \
        if (!c->bad[0]) snprintf(c->bad, sizeof c->bad, __VA_ARGS__);                   \
    } while (0)

static int32_t stress_source(void *user, void *args, size_t capacity, size_t *n_filled) {
    stream_ctx *c = (stream_ctx *)user;
    if (atomic_fetch_add(&c->in_source, 1)) STREAM_BAD("two source calls at once");
    c->source_calls++;
    if (capacity < 1) STREAM_BAD("source capacity 0");
    if (c->window && capacity + (c->sourced - c->sunk) > c->window)
        STREAM_BAD("capacity %zu + %zu outstanding > window %zu", capacity, c->sourced - c->sunk, c->window);
    size_t k = c->n - c->sourced < capacity ? c->n - c->sourced : capacity;
    if (c->fill == 1 && k > 1) k = 1 + below(&c->r, k);
    if (c->fill == 2 && k > 1) k = 1;
    for (size_t i = 0; i < k && c->m->arg_size; i++)
        stream_arg(c, c->sourced + i, (uint8_t *)args + i * c->m->arg_size);
    c->sourced += k;
    *n_filled = k;
    atomic_fetch_sub(&c->in_source, 1);
    return 0;
}

static int32_t stress_sink(void *user, size_t first, const void *results, const int32_t *status, size_t n) {
    stream_ctx *c = (stream_ctx *)user;
    if (atomic_fetch_add(&c->in_sink, 1)) STREAM_BAD("two sink calls at once");
    c->sink_calls++;
    uint64_t base = (uint64_t)c->salt << 32;
    if (n < 1 || !status) STREAM_BAD("sink call with n %zu, item_status %p", n, (const void *)status);
    if (first != base + c->sunk) STREAM_BAD("sink got first %zu, expected %" PRIu64, first, base + c->sunk);
    size_t rs = c->m->result_size;
    int can_crash = c->m->backend == LK_BACKEND_PROCESSES && crash_kind(c->salt);
    uint8_t a[128], expect[128];
    for (size_t k = 0; status && k < n; k++) {
        size_t i = c->sunk + k;
        if (status[k] == LK_ITEM_WORKER_DIED) {
            if (!can_crash || i != crash_index(c->salt)) STREAM_BAD("item %zu reached the sink as died", i);
            if (c->died == SIZE_MAX) c->died = i;
        } else if (status[k] != expected_code(c->salt, i)) {
            STREAM_BAD("item %zu reached the sink with status %d, expected %d", i, (int)status[k],
                       (int)expected_code(c->salt, i));
        } else if (status[k] == 0 && rs && results) {
            if (c->m->arg_size) stream_arg(c, i, a);
            fill_result(expect, rs, arg_hash(a, c->m->arg_size), i);
            if (memcmp((const uint8_t *)results + k * rs, expect, rs) != 0) STREAM_BAD("item %zu: wrong result", i);
        }
        if (status[k] != 0 && c->lowest == SIZE_MAX) c->lowest = i;
    }
    c->sunk += n;
    if (c->sink_calls - 1 == c->cancel_at_sink) lk_invoker_cancel(c->inv);
    atomic_fetch_sub(&c->in_sink, 1);
    return 0;
}

static void op_stream(tstate *t) {
    cached *cc = &t->cache[below(&t->r, CACHE)];
    if (!cc->inv) *cc = make_invoker(t, 1, 0);
    const inv_model *m = cc->m;
    static const size_t windows[] = {0, 1, 2, 7, 64, 1000, 100000};
    stream_ctx *c = (stream_ctx *)calloc(1, sizeof *c);
    CHECK(c != NULL);
    c->m = m;
    c->inv = cc->inv;
    c->n = below(&t->r, 10) == 0 ? 0 : 1 + below(&t->r, 20000);
    c->window = windows[below(&t->r, sizeof windows / sizeof windows[0])];
    if (c->window && c->window < 64 && c->n > 2000) c->n = 2000; /* tiny windows go item by item */
    c->fill = (int)below(&t->r, 3);
    if (c->fill == 2 && c->n > 2000) c->n = 2000;
    c->seed = rnd(&t->r);
    c->r.s = rnd(&t->r);
    int cancel = below(&t->r, 5) == 0;
    c->salt = cancel ? 0 : random_salt(&t->r, m->backend);
    c->cancel_at_sink = cancel ? (long)below(&t->r, 4) : -1;
    c->lowest = c->died = SIZE_MAX;
    lk_stream_options so;
    lk_stream_options_init(&so, sizeof so);
    so.window = c->window;
    so.index_base = (size_t)c->salt << 32;
    doing("op %ld: stream of %zu items (args %zu B, results %zu B) salt %#x window %zu fill %d backend %d n_jobs %d "
          "mode %d%s", t->ops, c->n, m->arg_size, m->result_size, c->salt, c->window, c->fill, m->backend, m->n_jobs,
          m->error_mode, cancel ? ", cancelled" : "");
    lk_status s = lk_invoker_stream(cc->inv, stress_source, stress_sink, c, m->arg_size, m->result_size, &so);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", s == LK_OK ? "" : lk_last_error());
#define SFAIL(...) FAIL("stream of %zu items, salt %#x, window %zu, fill %d, backend %d, n_jobs %d, mode %d%s: %s", \
                        c->n, c->salt, c->window, c->fill, m->backend, m->n_jobs, m->error_mode,              \
                        cancel ? ", cancelled" : "", __VA_ARGS__)
    if (c->bad[0]) SFAIL(c->bad);
    /* what must have happened: the lowest failing item f (a code or the crash) */
    size_t f = SIZE_MAX;
    for (size_t i = 0; i < c->n && f == SIZE_MAX; i++)
        if (expected_code(c->salt, i)) f = i;
    int can_crash = m->backend == LK_BACKEND_PROCESSES && crash_kind(c->salt) && crash_index(c->salt) < c->n;
    size_t crash = crash_index(c->salt);
    uint64_t base = (uint64_t)c->salt << 32;
    char why[1400];
    if (cancel) {
        if (!(s == LK_OK || s == LK_ERR_CANCELLED)) SFAIL(msg);
        if (s == LK_OK && c->sunk != c->n) SFAIL("LK_OK with items missing");
    } else if (m->error_mode == LK_ERRORS_KEEP_GOING) {
        if (c->sunk != c->n) {
            snprintf(why, sizeof why, "keep-going: %zu of %zu items reached the sink (%d: %s)", c->sunk, c->n, (int)s,
                     msg);
            SFAIL(why);
        }
        if (can_crash && c->died != crash) SFAIL("the crashing item did not reach the sink as died");
        lk_status want = can_crash ? LK_ERR_WORKER_DIED : f != SIZE_MAX ? LK_ERR_CALLBACK : LK_OK;
        if (s != want) {
            snprintf(why, sizeof why, "keep-going: status %d, a map gives %d (%s)", (int)s, (int)want, msg);
            SFAIL(why);
        }
        if (s == LK_ERR_CALLBACK) {
            unsigned long long idx;
            long long code;
            if (!lkt_parse_failure(msg, &idx, &code) || idx != base + f || code != expected_code(c->salt, f))
                SFAIL(msg);
        }
        if (s == LK_ERR_WORKER_DIED && !lkt_has_number(msg, (long long)(base + crash))) SFAIL(msg);
    } else {
        size_t lowest = f;
        if (can_crash && crash < lowest) lowest = crash;
        size_t want_sunk = lowest == SIZE_MAX ? c->n : lowest;
        if (c->sunk != want_sunk) {
            snprintf(why, sizeof why, "fail-fast: %zu items reached the sink, expected %zu (%d: %s)", c->sunk,
                     want_sunk, (int)s, msg);
            SFAIL(why);
        }
        lk_status want = lowest == SIZE_MAX ? LK_OK : lowest == f ? LK_ERR_CALLBACK : LK_ERR_WORKER_DIED;
        if (s != want) {
            snprintf(why, sizeof why, "fail-fast: status %d, expected %d (%s)", (int)s, (int)want, msg);
            SFAIL(why);
        }
        if (s != LK_OK && !lkt_has_number(msg, (long long)(base + lowest))) SFAIL(msg);
    }
#undef SFAIL
    atomic_fetch_add(&st_streams, 1);
    atomic_fetch_add(&st_stream_items, (long)c->sunk);
    atomic_fetch_add(&st_items, (long)c->sunk);
    if (s == LK_ERR_WORKER_DIED) atomic_fetch_add(&st_crashes, 1);
    if (s != LK_OK) atomic_fetch_add(&st_faults, 1);
    if (cancel) atomic_fetch_add(&st_cancels, 1);
    free(c);
    if (below(&t->r, 20) == 0) drop_invoker(cc);
}

/* The long stream: LK_STREAM_ITEMS items of 8 bytes through a range
 * invoker on threads and an item invoker on processes, each in order with
 * every result right. */
static int32_t long_range(const void *model, const void *args, void *results, lk_range *r) {
    (void)model;
    const uint64_t *a = (const uint64_t *)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++) *res++ = *a++ * 3 + i;
    return 0;
}

static int32_t long_item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    *(uint64_t *)result = *(const uint64_t *)arg * 3 + task->index;
    return 0;
}

typedef struct long_io {
    size_t n, sourced, sunk;
    int bad;
} long_io;

static int32_t long_source(void *user, void *args, size_t capacity, size_t *n_filled) {
    long_io *io = (long_io *)user;
    size_t k = io->n - io->sourced < capacity ? io->n - io->sourced : capacity;
    uint64_t *a = (uint64_t *)args;
    for (size_t i = 0; i < k; i++) a[i] = lkt_mix(io->sourced + i);
    io->sourced += k;
    *n_filled = k;
    return 0;
}

static int32_t long_sink(void *user, size_t first, const void *results, const int32_t *status, size_t n) {
    long_io *io = (long_io *)user;
    const uint64_t *r = (const uint64_t *)results;
    if (first != io->sunk) io->bad = 1;
    for (size_t k = 0; k < n; k++)
        if (status[k] != 0 || r[k] != lkt_mix(first + k) * 3 + first + k) io->bad = 1;
    io->sunk += n;
    return 0;
}

static void long_streams(void) {
    const char *env = getenv("LK_STREAM_ITEMS");
    size_t n = env && *env ? (size_t)strtoull(env, NULL, 10) : 10000000;
    for (int k = 0; k < 2; k++) {
        lk_invoker_options o;
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = 2;
        o.backend = k ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS;
        if (!k) o.range_func = long_range;
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new_with(NULL, k ? long_item : NULL, &o, &inv));
        long_io io = {n, 0, 0, 0};
        double t0 = lkt_now();
        lk_status s = lk_invoker_stream(inv, long_source, long_sink, &io, 8, 8, NULL);
        if (s != LK_OK || io.bad || io.sunk != n) {
            fprintf(stderr, "stress: FAILED: the long stream (%s) gave %d (%s), %zu of %zu items, %s (seed %" PRIu64 ")\n",
                    k ? "processes, items" : "threads, ranges", (int)s, s ? lk_last_error() : "", io.sunk, n,
                    io.bad ? "some wrong" : "all right", g_seed);
            _exit(1);
        }
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("stress: long stream (%s): %zu items in %.1f s\n", k ? "processes, items" : "threads, ranges", n,
               lkt_now() - t0);
        fflush(stdout);
        atomic_fetch_add(&st_streams, 1);
        atomic_fetch_add(&st_stream_items, (long)n);
    }
}

/* ----------------------------------------------------------------- churn */

static void op_churn(tstate *t) {
    int k = 1 + (int)below(&t->r, 4);
    for (int i = 0; i < k; i++) {
        cached c = make_invoker(t, 1, 0);
        if (below(&t->r, 2)) {
            doing("op %ld: churn map", t->ops);
            uint8_t *args = (uint8_t *)calloc(8, c.m->arg_size + 1);
            uint8_t *res = (uint8_t *)calloc(8, c.m->result_size + 1);
            CHECK(args && res);
            lk_status s = lk_invoker_map(c.inv, c.m->arg_size ? args : NULL, 8, c.m->arg_size, c.m->result_size ? res : NULL,
                                         c.m->result_size);
            EXPECT(s == LK_OK, "churn map gave %d: %s", (int)s, lk_last_error());
            free(args);
            free(res);
            atomic_fetch_add(&st_maps, 1);
            atomic_fetch_add(&st_items, 8);
        }
        drop_invoker(&c);
        atomic_fetch_add(&st_churn, 1);
    }
}

/* ------------------------------------------------- hardening: hostile cases */

/* A bound on one operation that could hang: an lkt_guard that fails the
 * run (with the seed and what every thread was doing) unless the operation
 * ends within `seconds`. */
static void op_guard_hung(const lkt_guard *g) {
    fprintf(stderr, "stress: FAILED (thread %d, seed %" PRIu64 "): %s did not return within %.0f s\n",
            (int)(intptr_t)g->user, g_seed, g->what, g->seconds);
    fail_out();
}

static void op_guard_start(lkt_guard *g, double seconds, const char *what) {
    g->on_hang = op_guard_hung;
    g->user = (void *)(intptr_t)tl_id;
    lkt_guard_start(g, seconds, what);
}

/* What the hostile process-backend items do; in shared memory (made before
 * the invoker), so the parent sets it for the workers. -1: nobody. */
typedef struct hard_model {
    atomic_int stop_at;        /* this item's worker raises SIGSTOP (once) */
    atomic_int block_at;       /* this item waits to be SIGSTOPped from outside (once) */
    atomic_int blocked_pid;    /* ... its worker, once it waits */
    atomic_int kill_zygote_at; /* this item's worker SIGKILLs its zygote (once) */
    atomic_int zygote;         /* a worker's parent, as the last item saw it */
    atomic_int started;
    atomic_int slow;           /* items sleep 1 ms */
} hard_model;

static hard_model *hard_model_new(void) {
    hard_model *m = (hard_model *)lkt_shared(sizeof *m);
    atomic_store(&m->stop_at, -1);
    atomic_store(&m->block_at, -1);
    atomic_store(&m->kill_zygote_at, -1);
    return m;
}

static uint64_t hard_result(size_t index) { return index * 5 + 2; }

static int32_t hard_op(const void *model, const void *arg, void *result, const lk_task *task) {
    hard_model *m = (hard_model *)model;
    (void)arg;
    atomic_store(&m->zygote, (int)getppid());
    atomic_fetch_add(&m->started, 1);
    if (lkt_take(&m->stop_at, task->index)) raise(SIGSTOP);
    if (lkt_take(&m->block_at, task->index)) {
        atomic_store(&m->blocked_pid, (int)getpid());
        lkt_sleep_us(60 * 1000000L); /* until stopped, then killed */
    }
    if (lkt_take(&m->kill_zygote_at, task->index)) {
        kill(getppid(), SIGKILL);
        lkt_sleep_us(60 * 1000000L); /* dies with its zygote */
    }
    if (atomic_load(&m->slow)) lkt_sleep_us(1000);
    if (result) *(uint64_t *)result = hard_result(task->index);
    return 0;
}

/* A map on `inv` with no hostile item: LK_OK, every result right. */
static void hard_clean_map(lk_invoker *inv, hard_model *m, size_t n, const char *what) {
    uint64_t *res = (uint64_t *)calloc(n, sizeof *res);
    CHECK(res != NULL);
    atomic_store(&m->slow, 0);
    lk_status s = lk_invoker_map(inv, NULL, n, 0, res, sizeof *res);
    EXPECT(s == LK_OK, "%s: a clean map gave %d: %s", what, (int)s, lk_last_error());
    for (size_t i = 0; i < n; i++) EXPECT(res[i] == hard_result(i), "%s: item %zu", what, i);
    free(res);
    atomic_fetch_add(&st_maps, 1);
    atomic_fetch_add(&st_items, (long)n);
}

/* Options of a hostile case: a process invoker of 1 to 3 workers, in a
 * random error mode. */
static lk_invoker_options hard_options(tstate *t) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.backend = LK_BACKEND_PROCESSES;
    o.n_jobs = 1 + (int32_t)below(&t->r, 3);
    o.error_mode = below(&t->r, 2) ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
    return o;
}

/* The invoker of a hostile case on `m` (counted), and the result and
 * item_status arrays of its `n` items. */
static lk_invoker *hard_start(hard_model *m, const lk_invoker_options *o, size_t n, const char *what, uint64_t **res,
                              int32_t **status) {
    lk_invoker *inv = NULL;
    EXPECT(lk_invoker_new_with(m, hard_op, o, &inv) == LK_OK, "%s: %s", what, lk_last_error());
    atomic_fetch_add(&st_invokers, 1);
    *res = (uint64_t *)calloc(n, sizeof **res);
    *status = (int32_t *)malloc(n * sizeof **status);
    CHECK(*res && *status);
    return inv;
}

/* The end of a hostile case: the invoker still runs a clean map of `n`
 * items in full and shuts down; its arrays and model are freed. */
static void hard_finish(lk_invoker *inv, hard_model *m, size_t n, const char *what, uint64_t *res, int32_t *status) {
    hard_clean_map(inv, m, n, what);
    EXPECT(lk_invoker_shutdown(inv) == LK_OK, "%s: %s", what, lk_last_error());
    free(res);
    free(status);
    munmap(m, sizeof *m);
}

static void *stop_blocked_worker(void *p) {
    hard_model *m = (hard_model *)p;
    int pid = lkt_await_pid(&m->blocked_pid, 60);
    if (pid == 0) FAIL("the blocking item never started");
    if (kill(pid, SIGSTOP) != 0) FAIL("kill(%d, SIGSTOP): %s", pid, strerror(errno));
    return NULL;
}

/* A worker process stopped (by itself, or by another thread of the host)
 * under a per-item time limit: the map returns LK_ERR_TIMEOUT naming the
 * item, which is LK_ITEM_TIMED_OUT; the others ran (keep-going) or ran or
 * were skipped (fail-fast); the next map on the invoker runs in full. */
static void op_stopped(tstate *t) {
    hard_model *m = hard_model_new();
    lk_invoker_options o = hard_options(t);
    o.item_timeout_ms = 300 + below(&t->r, 700);
    size_t n = 20 + below(&t->r, 400);
    size_t at = below(&t->r, n);
    int outside = (int)below(&t->r, 2);
    char what[160];
    snprintf(what, sizeof what, "op %ld: a worker %s at item %zu of %zu (n_jobs %d, mode %d, limit %" PRIu64 " ms)",
             t->ops, outside ? "stopped from outside" : "stopping itself", at, n, o.n_jobs, o.error_mode,
             o.item_timeout_ms);
    doing("%s", what);
    uint64_t *res;
    int32_t *status;
    lk_invoker *inv = hard_start(m, &o, n, what, &res, &status);
    memset(status, 0x11, n * sizeof *status);
    pthread_t stopper;
    if (outside) {
        atomic_store(&m->block_at, (int)at);
        CHECK(pthread_create(&stopper, NULL, stop_blocked_worker, m) == 0);
    } else {
        atomic_store(&m->stop_at, (int)at);
    }
    lkt_guard g;
    op_guard_start(&g, (double)o.item_timeout_ms / 1000 + 30, what);
    lk_map_options mo = lkt_with_status(status);
    double t0 = lkt_now();
    lk_status s = lk_invoker_map_with(inv, NULL, n, 0, res, sizeof *res, &mo);
    double took = lkt_now() - t0;
    lkt_guard_end(&g);
    if (outside) CHECK(pthread_join(stopper, NULL) == 0);
    EXPECT(s == LK_ERR_TIMEOUT, "%s: status %d: %s", what, (int)s, lk_last_error());
    EXPECT(lkt_has_number(lk_last_error(), (long long)at), "%s: %s", what, lk_last_error());
    EXPECT(took >= (double)o.item_timeout_ms / 1000 * 0.9, "%s: returned after %.3f s", what, took);
    EXPECT(status[at] == LK_ITEM_TIMED_OUT, "%s: the item's status is %d", what, (int)status[at]);
    for (size_t i = 0; i < n; i++) {
        if (i == at) continue;
        if (o.error_mode == LK_ERRORS_KEEP_GOING)
            EXPECT(status[i] == 0 && res[i] == hard_result(i), "%s: item %zu: status %d", what, i, (int)status[i]);
        else
            EXPECT((status[i] == 0 && res[i] == hard_result(i)) || status[i] == LK_ITEM_SKIPPED,
                   "%s: item %zu: status %d", what, i, (int)status[i]);
    }
    hard_finish(inv, m, n, what, res, status);
    atomic_fetch_add(&st_maps, 1);
    atomic_fetch_add(&st_timeouts, 1);
    atomic_fetch_add(&st_faults, 1);
    atomic_fetch_add(&st_stopped, 1);
}

static void *kill_zygote_soon(void *p) {
    hard_model *m = (hard_model *)p;
    double t0 = lkt_now();
    while (atomic_load(&m->started) < 10) {
        if (lkt_now() - t0 > 60) FAIL("the map never started");
        lkt_sleep_us(200);
    }
    int z = atomic_load(&m->zygote);
    if (z <= 0 || kill(z, SIGKILL) != 0) FAIL("cannot kill the zygote %d", z);
    return NULL;
}

/* The zygote of a process invoker SIGKILLed by one of its workers, from
 * another thread during a map, or while the invoker is idle: a map it
 * hits returns LK_ERR_WORKER_DIED naming the zygote (every item ran with
 * its result, was skipped, or died with its worker), never hangs, and the
 * invoker recovers: within a map after the kill, maps run in full again. */
static void op_zygote(tstate *t) {
    hard_model *m = hard_model_new();
    lk_invoker_options o = hard_options(t);
    int how = (int)below(&t->r, 3); /* 0 by a worker, 1 from outside, 2 while idle */
    size_t n = 100 + below(&t->r, 400);
    char what[160];
    snprintf(what, sizeof what, "op %ld: the zygote killed %s (%zu items, n_jobs %d, mode %d)", t->ops,
             how == 0 ? "by a worker" : how == 1 ? "from outside mid-map" : "while idle", n, o.n_jobs, o.error_mode);
    doing("%s", what);
    uint64_t *res;
    int32_t *status;
    lk_invoker *inv = hard_start(m, &o, n, what, &res, &status);
    hard_clean_map(inv, m, 10, what);
    lkt_guard g;
    op_guard_start(&g, 60, what);
    /* At most one map may see the dead zygote: the one it dies in, or,
     * when it dies between maps, the next one. */
    int failed = 0, ok = 0;
    pthread_t killer;
    if (how == 1) {
        atomic_store(&m->started, 0);
        CHECK(pthread_create(&killer, NULL, kill_zygote_soon, m) == 0);
    } else if (how == 0) {
        atomic_store(&m->kill_zygote_at, (int)below(&t->r, n));
    } else {
        int z = atomic_load(&m->zygote);
        EXPECT(z > 0 && kill(z, SIGKILL) == 0, "%s: cannot kill %d", what, z);
        EXPECT(lkt_wait_dead(z, 10), "%s: the zygote %d did not die", what, z);
    }
    for (int k = 0; k < 3 && !ok; k++) {
        atomic_store(&m->slow, how != 2);
        memset(status, 0x11, n * sizeof *status);
        lk_map_options mo = lkt_with_status(status);
        lk_status s = lk_invoker_map_with(inv, NULL, n, 0, res, sizeof *res, &mo);
        if (how == 1 && k == 0) CHECK(pthread_join(killer, NULL) == 0);
        atomic_fetch_add(&st_maps, 1);
        if (s == LK_OK) {
            for (size_t i = 0; i < n; i++) EXPECT(status[i] == 0 && res[i] == hard_result(i), "%s: item %zu", what, i);
            EXPECT(how != 0 || k > 0, "%s: the map whose worker killed the zygote succeeded", what);
            /* From outside, the kill may have landed after the first map. */
            ok = !(how == 1 && k == 0);
            continue;
        }
        EXPECT(s == LK_ERR_WORKER_DIED && strstr(lk_last_error(), "zygote"), "%s: map %d gave %d: %s", what, k,
               (int)s, lk_last_error());
        for (size_t i = 0; i < n; i++)
            EXPECT((status[i] == 0 && res[i] == hard_result(i)) || status[i] == LK_ITEM_SKIPPED ||
                       status[i] == LK_ITEM_WORKER_DIED,
                   "%s: item %zu: status %d", what, i, (int)status[i]);
        failed++;
        EXPECT(failed <= 1, "%s: %d maps failed after one kill", what, failed);
    }
    EXPECT(ok, "%s: no map succeeded after the kill", what);
    lkt_guard_end(&g);
    hard_finish(inv, m, n, what, res, status);
    atomic_fetch_add(&st_crashes, 1);
    atomic_fetch_add(&st_faults, 1);
    atomic_fetch_add(&st_zygotes, 1);
}

/* In the forked host below: report on the saved stderr and end. */
static int g_report_fd = -1;

static void host_fail(const char *what, lk_status s) {
    char msg[1024];
    int len = snprintf(msg, sizeof msg, "stress: a host with closed standard descriptors: %s gave %d: %s\n", what,
                       (int)s, lk_last_error());
    ssize_t ignored = write(g_report_fd, msg, len > 0 ? (size_t)len : 0);
    (void)ignored;
    _exit(1);
}

static int g_closed_mask;
/* Not under valgrind, which opens each forked child's log file on the
 * lowest free descriptor (LK_VALGRIND is set for its runs). */
static int g_check_closed = 1;

static int std_still_closed(void) {
    if (!g_check_closed) return 1;
    for (int fd = 0; fd < 3; fd++)
        if ((g_closed_mask >> fd & 1) && (fcntl(fd, F_GETFD) != -1 || errno != EBADF)) return 0;
    return 1;
}

static void scribble_std(void) {
    for (int fd = 0; fd < 3; fd++) {
        ssize_t ignored = write(fd, "a line for a closed standard descriptor\n", 40);
        (void)ignored;
    }
}

static int32_t closed_sp_child(const void *arg, lk_buffer *out) {
    (void)arg;
    if (!std_still_closed()) return 40;
    scribble_std();
    static uint8_t blob[300000];
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (uint8_t)(i * 11);
    scribble_std();
    return lk_buffer_append(out, blob, sizeof blob) == LK_OK ? 0 : 41;
}

static int32_t closed_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (!std_still_closed()) return 40;
    scribble_std();
    *(uint64_t *)result = hard_result(task->index);
    return 0;
}

/* A forked copy of this process (one thread: the others do not exist in
 * it) closes some of its standard descriptors, as a daemon does, and uses
 * the library: run_sp whose children write to 0-2, and a process and a
 * thread pool whose callbacks do. Everything must work, and the closed
 * descriptors stay closed. */
static void op_closed_std(tstate *t) {
    int mask = 1 + (int)below(&t->r, 7);
    doing("op %ld: a forked host with standard descriptors 0x%x closed", t->ops, mask);
    int report = fcntl(2, F_DUPFD_CLOEXEC, 10);
    CHECK(report >= 10);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        signal(SIGALRM, SIG_DFL);
        alarm(60);
        g_report_fd = report;
        g_closed_mask = mask;
        g_check_closed = getenv("LK_VALGRIND") == NULL;
        /* The parent's log callback takes a lock another parent thread may
         * have held at the fork: not here. */
        lk_set_log_callback(NULL, NULL, LK_LOG_WARN);
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0) _exit(2);
        for (int fd = 0; fd < 3; fd++) {
            if (mask >> fd & 1)
                close(fd);
            else
                dup2(null_fd, fd);
        }
        close(null_fd);
        for (int k = 0; k < 2; k++) {
            lk_buffer b;
            memset(&b, 0, sizeof b);
            lk_status s = lk_run_sp(closed_sp_child, NULL, &b);
            if (s != LK_OK || b.len != 300000 || b.data[299999] != (uint8_t)(299999 * 11)) host_fail("run_sp", s);
            lk_buffer_free(&b);
        }
        for (int backend = 0; backend < 2; backend++) {
            lk_invoker_options o;
            lk_invoker_options_init(&o, sizeof o);
            o.n_jobs = 2;
            o.backend = backend ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS;
            lk_invoker *inv = NULL;
            lk_status s = lk_invoker_new_with(NULL, closed_op, &o, &inv);
            if (s != LK_OK) host_fail("lk_invoker_new_with", s);
            static uint64_t res[200];
            s = lk_invoker_map(inv, NULL, 200, 0, res, sizeof res[0]);
            if (s != LK_OK) host_fail(backend ? "a process map" : "a thread map", s);
            for (size_t i = 0; i < 200; i++)
                if (res[i] != hard_result(i)) host_fail("a map's results", s);
            if (!std_still_closed()) host_fail("a closed standard descriptor reopened", LK_OK);
            s = lk_invoker_shutdown(inv);
            if (s != LK_OK) host_fail("shutdown", s);
        }
        if (!std_still_closed()) host_fail("a closed standard descriptor reopened", LK_OK);
        _exit(0);
    }
    close(report);
    int code = lkt_wait_child(pid);
    EXPECT(code == 0, "op %ld: the forked host with descriptors 0x%x closed ended with %d", t->ops, mask, code);
    atomic_fetch_add(&st_sp, 2);
    atomic_fetch_add(&st_maps, 2);
    atomic_fetch_add(&st_items, 402);
    atomic_fetch_add(&st_invokers, 2);
    atomic_fetch_add(&st_closed_hosts, 1);
}

/* Pools far larger than the CPUs: making one, a 2,000-item map and
 * shutdown take seconds at most. */
static int g_max_pool = 512;

static void op_big_pool(tstate *t) {
    static const int32_t sizes[] = {64, 128, 256, 512};
    int32_t n_jobs = sizes[below(&t->r, 4)];
    if (n_jobs > g_max_pool) n_jobs = g_max_pool;
    char what[96];
    snprintf(what, sizeof what, "op %ld: a pool of %d threads", t->ops, n_jobs);
    doing("%s", what);
    hard_model *m = hard_model_new();
    lkt_guard g;
    op_guard_start(&g, 60, what);
    double t0 = lkt_now();
    lk_invoker *inv = NULL;
    EXPECT(lk_invoker_new(m, hard_op, n_jobs, &inv) == LK_OK, "%s: %s", what, lk_last_error());
    hard_clean_map(inv, m, 2000, what);
    double made_and_mapped = lkt_now() - t0;
    double t1 = lkt_now();
    EXPECT(lk_invoker_shutdown(inv) == LK_OK, "%s: %s", what, lk_last_error());
    double down = lkt_now() - t1;
    lkt_guard_end(&g);
    EXPECT(made_and_mapped < 10, "%s: making it and a 2,000-item map took %.2f s", what, made_and_mapped);
    EXPECT(down < 20, "%s: shutdown took %.2f s", what, down);
    munmap(m, sizeof *m);
    atomic_fetch_add(&st_invokers, 1);
    atomic_fetch_add(&st_big_pools, 1);
}

/* --------------------------------------------------------------- threads */

static pthread_barrier_t g_barrier;
static double g_warm_until, g_end;

static void run_until(tstate *t, double until) {
    while (lkt_now() < until) {
        uint64_t p = below(&t->r, 100);
        t->ops++;
        if (p < 28) op_map(t, 0);
        else if (p < 35) op_range_map(t, below(&t->r, 5) == 0);
        else if (p < 44) op_map(t, 1);
        else if (p < 48) op_shared(t);
        else if (p < 55) op_nested(t);
        else if (p < 65) op_stream(t);
        else if (p < 84) op_sp(t);
        else if (p < 91) op_churn(t);
        else if (p < 93) op_stopped(t);
        else if (p < 95) op_zygote(t);
        else if (p < 97) op_closed_std(t);
        else op_big_pool(t);
    }
    for (int k = 0; k < CACHE; k++) drop_invoker(&t->cache[k]);
    drop_invoker(&t->range_inv);
    doing("waiting (%ld ops done)", t->ops);
}

static void *thread_main(void *p) {
    tstate *t = (tstate *)p;
    tl_id = t->id;
    run_until(t, g_warm_until);
    pthread_barrier_wait(&g_barrier); /* main measures */
    pthread_barrier_wait(&g_barrier);
    run_until(t, g_end);
    pthread_barrier_wait(&g_barrier); /* main measures again */
    pthread_barrier_wait(&g_barrier);
    return NULL;
}

typedef struct snapshot {
    int threads, fds, children;
    long rss_kib;
    char fd_list[65536];
} snapshot;

static void measure(snapshot *s) {
    malloc_trim(0);
    s->threads = lkt_thread_count();
    lkt_fd_list(s->fd_list, sizeof s->fd_list);
    s->fds = lkt_fd_count();
    s->children = lkt_children_of(getpid(), NULL, 0);
    s->rss_kib = (long)(lkt_rss_bytes() / 1024);
    CHECK(s->rss_kib > 0); /* /proc/self/statm was read */
}

int main(int argc, char **argv) {
    const char *env = getenv("LK_STRESS_SECONDS");
    if (argc > 1) g_seconds = atof(argv[1]);
    else if (env) g_seconds = atof(env);
    CHECK(g_seconds > 0);
    env = getenv("LK_STRESS_THREADS");
    if (env) g_threads = atoi(env);
    CHECK(g_threads >= 1 && g_threads <= MAX_THREADS);
    env = getenv("LK_STRESS_MAX_POOL");
    if (env) g_max_pool = atoi(env);
    CHECK(g_max_pool >= 2);
    env = getenv("LK_STRESS_SEED");
    if (env && *env) {
        g_seed = strtoull(env, NULL, 10);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_seed = lkt_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid());
    }
    printf("stress: seed %" PRIu64 ", %g s, %d threads (replay: LK_STRESS_SEED=%" PRIu64 ")\n", g_seed, g_seconds,
           g_threads, g_seed);
    fflush(stdout);
    lkt_no_core_dumps();
    lk_seed_init(g_seed);
    lk_set_log_callback(log_cb, NULL, LK_LOG_INFO);

    /* The watchdog: the whole run, plus time for slow machines. */
    static double limit;
    limit = g_seconds * 2 + 240;
    pthread_t wd;
    CHECK(pthread_create(&wd, NULL, watchdog_main, &limit) == 0);
    CHECK(pthread_detach(wd) == 0);

    static inv_model shared_m = {3, LK_BACKEND_THREADS, LK_ERRORS_KEEP_GOING, 8, 16, 0};
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 3;
    o.error_mode = LK_ERRORS_KEEP_GOING;
    CHECK_OK(lk_invoker_new_with(&shared_m, stress_op, &o, &g_shared.inv));
    g_shared.m = &shared_m;

    double start = lkt_now();
    double warm = g_seconds * 0.25 < 3 ? (g_seconds < 6 ? g_seconds / 2 : 3) : g_seconds * 0.25;
    g_warm_until = start + warm;
    g_end = start + g_seconds;
    CHECK(pthread_barrier_init(&g_barrier, NULL, (unsigned)g_threads + 1) == 0);
    static tstate states[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    for (int i = 0; i < g_threads; i++) {
        states[i].id = i;
        states[i].r.s = lkt_mix(g_seed ^ (0x1000193ULL * (uint64_t)(i + 1)));
        CHECK(pthread_create(&th[i], NULL, thread_main, &states[i]) == 0);
    }
    static snapshot before, after;
    pthread_barrier_wait(&g_barrier);
    measure(&before);
    long maps_warm = atomic_load(&st_maps);
    pthread_barrier_wait(&g_barrier);
    long_streams(); /* while the threads go on */
    pthread_barrier_wait(&g_barrier);
    measure(&after);
    pthread_barrier_wait(&g_barrier);
    for (int i = 0; i < g_threads; i++) CHECK(pthread_join(th[i], NULL) == 0);
    CHECK_OK(lk_invoker_shutdown(g_shared.inv));
    double took = lkt_now() - start;

    /* Nothing may have grown since the warm-up. */
    int ok = 1;
    if (after.threads != before.threads) {
        fprintf(stderr, "stress: threads grew: %d after warm-up, %d at the end\n", before.threads, after.threads);
        ok = 0;
    }
    if (strcmp(after.fd_list, before.fd_list) != 0) {
        fprintf(stderr, "stress: descriptors changed:\n-- after warm-up:\n%s-- at the end:\n%s", before.fd_list,
                after.fd_list);
        ok = 0;
    }
    if (after.children != 0 || before.children != 0 || !lkt_no_children()) {
        fprintf(stderr, "stress: child processes left: %d after warm-up, %d at the end\n", before.children,
                after.children);
        ok = 0;
    }
    long tolerance = before.rss_kib / 5 > 32768 ? before.rss_kib / 5 : 32768;
    const char *rss_check = getenv("LK_STRESS_RSS_CHECK");
    int check_rss = !(rss_check && strcmp(rss_check, "0") == 0);
    if (check_rss && after.rss_kib > before.rss_kib + tolerance) {
        fprintf(stderr, "stress: RSS grew from %ld KiB to %ld KiB (tolerance %ld KiB)\n", before.rss_kib,
                after.rss_kib, tolerance);
        ok = 0;
    }
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    printf("stress: %s in %.1f s (seed %" PRIu64 ")\n", ok ? "ok" : "FAILED", took, g_seed);
    printf("  maps run:          %ld (%ld during warm-up), %ld nested, %ld cancelled, %ld over shared memory, "
           "%ld on range invokers (%ld with a worker dying in a range)\n",
           atomic_load(&st_maps), maps_warm, atomic_load(&st_nested), atomic_load(&st_cancels),
           atomic_load(&st_shared_maps), atomic_load(&st_range_maps), atomic_load(&st_range_deaths));
    printf("  streams run:       %ld (%ld items sunk, the long ones included)\n", atomic_load(&st_streams),
           atomic_load(&st_stream_items));
    printf("  items checked:     %ld\n", atomic_load(&st_items));
    printf("  faults injected:   %ld (failing items %ld, crashes %ld, timeouts %ld, cancels %ld)\n",
           atomic_load(&st_faults), atomic_load(&st_failed_items), atomic_load(&st_crashes),
           atomic_load(&st_timeouts), atomic_load(&st_cancels));
    printf("  run_sp calls:      %ld\n", atomic_load(&st_sp));
    printf("  hostile cases:     %ld stopped workers, %ld killed zygotes, %ld hosts with closed std descriptors, "
           "%ld pools of 64-%d threads\n",
           atomic_load(&st_stopped), atomic_load(&st_zygotes), atomic_load(&st_closed_hosts),
           atomic_load(&st_big_pools), g_max_pool);
    printf("  invokers made:     %ld (%ld in churn)\n", atomic_load(&st_invokers), atomic_load(&st_churn));
    printf("  log records:       %ld\n", atomic_load(&g_records));
    printf("  threads %d -> %d, descriptors %d -> %d, children %d -> %d, RSS %ld -> %ld KiB%s\n", before.threads,
           after.threads, before.fds, after.fds, before.children, after.children, before.rss_kib, after.rss_kib,
           check_rss ? "" : " (not compared: LK_STRESS_RSS_CHECK=0)");
    fflush(stdout);
    return ok ? 0 : 1;
}
