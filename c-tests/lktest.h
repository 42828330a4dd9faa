/* Shared helpers for the C tests: checks that always run, watchdogs so a
 * hang fails the test instead of blocking CI (and guards that bound one
 * call), the backend of a test written
 * for both backends, and what the tests of every area (invoker, threads,
 * processes, run_sp, library, reliability) look at: time, processes and
 * descriptors from /proc, shared memory, captured log records, a rerun of
 * the test program. Include it first (it defines _GNU_SOURCE for the system
 * headers). processes/procstest.h, run_sp/sptest.h and reliability/rel.h add
 * what only their area uses. */
#ifndef LKTEST_H
#define LKTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#undef NDEBUG
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lkparallel.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK with an explanation: print the formatted text when `cond` fails. */
#define CHECK_MSG(cond, ...)                                                           \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK_STATUS's report: where, the call, the status it gave and the one
 * expected (number and name), and lk_last_error(); ends the test. */
static inline void lkt_status_failed(const char *file, int line, const char *call, lk_status got,
                                     lk_status expected, const char *expected_name) {
    fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s): %s\n", file, line, call, (int)got,
            (int)expected, expected_name, lk_last_error());
    exit(1);
}

/* CHECK_STATUS(call, LK_X): the exact status, with the message on failure. */
#define CHECK_STATUS(call, expected)                                                   \
    do {                                                                               \
        lk_status lkt_s_ = (call);                                                     \
        if (lkt_s_ != (expected))                                                      \
            lkt_status_failed(__FILE__, __LINE__, #call, lkt_s_, (expected), #expected); \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, LK_OK)

/* CHECK in a forked child: report and _exit(1) (no atexit handlers, no
 * flushing of stdio buffers copied from the parent). */
#define CHECK_CHILD(cond)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK (in child %d) failed: %s: %s\n", __FILE__,    \
                    __LINE__, (int)getpid(), #cond, lk_last_error());                  \
            _exit(1);                                                                  \
        }                                                                              \
    } while (0)

/* CHECK_FAIL in a forked child: the exact status and a non-empty message, or
 * report and _exit(1). */
#define CHECK_CHILD_FAIL(call, expected)                                               \
    do {                                                                               \
        lk_status lkt_s_ = (call);                                                     \
        CHECK_CHILD(lkt_s_ == (expected) && lk_last_error()[0] != '\0');               \
    } while (0)

/* CHECK_FAIL(call, LK_X): the exact (non-OK) status, and a non-empty
 * lk_last_error() afterwards (API.md: every non-OK status sets a message). */
#define CHECK_FAIL(call, expected)                                                     \
    do {                                                                               \
        CHECK_STATUS(call, expected);                                                  \
        const char *lkt_m_ = lk_last_error();                                          \
        if (lkt_m_ == NULL || lkt_m_[0] == '\0') {                                     \
            fprintf(stderr, "%s:%d: %s returned %s but left lk_last_error() empty\n",  \
                    __FILE__, __LINE__, #call, #expected);                             \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK that lk_last_error() contains `needle`, printing it when not. */
#define CHECK_ERROR_HAS(needle)                                                        \
    do {                                                                               \
        const char *lkt_m_ = lk_last_error();                                          \
        if (lkt_m_ == NULL || strstr(lkt_m_, (needle)) == NULL) {                      \
            fprintf(stderr, "%s:%d: lk_last_error() lacks \"%s\": \"%s\"\n", __FILE__,  \
                    __LINE__, (needle), lkt_m_ ? lkt_m_ : "(null)");                   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* 1 when `text` contains `number` in decimal as a whole token (not as part of
 * a longer number, and for a non-negative number not preceded by '-'). */
static inline int lkt_has_number(const char *text, long long number) {
    char want[32];
    snprintf(want, sizeof want, "%lld", number);
    size_t n = strlen(want);
    for (const char *p = text; p && (p = strstr(p, want)) != NULL; p++) {
        int before_ok = p == text || (!isdigit((unsigned char)p[-1]) && (number < 0 || p[-1] != '-'));
        int after_ok = !isdigit((unsigned char)p[n]);
        if (before_ok && after_ok) return 1;
    }
    return 0;
}

/* CHECK that lk_last_error() contains `number` as a whole decimal token. */
#define CHECK_ERROR_HAS_NUMBER(number)                                                 \
    do {                                                                               \
        const char *lkt_m_ = lk_last_error();                                          \
        if (!lkt_has_number(lkt_m_, (long long)(number))) {                            \
            fprintf(stderr, "%s:%d: lk_last_error() lacks the number %lld: \"%s\"\n",   \
                    __FILE__, __LINE__, (long long)(number), lkt_m_ ? lkt_m_ : "(null)"); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* ---- time ---- */

/* Monotonic time in seconds; CLOCK_MONOTONIC is the same clock in every
 * process, so a worker may stamp a time the parent compares with. */
static inline double lkt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleep `us` microseconds, resuming after signals (some tests send many; a
 * child "that sleeps forever" loops on it). */
static inline void lkt_sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- watchdogs ---- */

static void lkt_watchdog_fired(int sig) {
    (void)sig;
    static const char msg[] = "watchdog: the test hung\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(124);
}

/* Fail the test (exit 124) if it runs longer than `seconds`. Also use it in
 * a forked child: alarms are not inherited across fork(). */
static inline void lkt_watchdog(unsigned seconds) {
    signal(SIGALRM, lkt_watchdog_fired);
    alarm(seconds);
}

/* A watchdog that needs no SIGALRM (for tests that use SIGALRM or
 * setitimer themselves): a detached thread that ends the process with 124
 * after `seconds`. */
static inline void *lkt_watchdog_main(void *arg) {
    lkt_sleep_us((long)(uintptr_t)arg * 1000000L);
    static const char msg[] = "watchdog (thread): the test hung\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(124);
    return NULL;
}

static inline void lkt_watchdog_thread(unsigned seconds) {
    pthread_t t;
    /* The watchdog must not take the signals the test sends itself. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    CHECK(pthread_create(&t, NULL, lkt_watchdog_main, (void *)(uintptr_t)seconds) == 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    CHECK(pthread_detach(t) == 0);
}

/* ---- a bound on one call that could hang ---- */

/* A thread that calls `on_hang(g)` (which must end the process) unless
 * lkt_guard_end comes within `seconds`: a call that would hang fails at
 * once, saying what hung, instead of at the watchdog. The caller fills
 * `on_hang` and, for it, `user`. */
typedef struct lkt_guard {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
    double seconds;
    char what[256];
    pthread_t th;
    void (*on_hang)(const struct lkt_guard *g);
    void *user;
} lkt_guard;

static inline void *lkt_guard_main(void *p) {
    lkt_guard *g = (lkt_guard *)p;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)g->seconds;
    pthread_mutex_lock(&g->mu);
    int r = 0;
    while (!g->done && r != ETIMEDOUT) r = pthread_cond_timedwait(&g->cv, &g->mu, &until);
    int done = g->done;
    pthread_mutex_unlock(&g->mu);
    if (!done) g->on_hang(g);
    return NULL;
}

static inline void lkt_guard_start(lkt_guard *g, double seconds, const char *what) {
    CHECK(pthread_mutex_init(&g->mu, NULL) == 0 && pthread_cond_init(&g->cv, NULL) == 0);
    g->done = 0;
    g->seconds = seconds;
    snprintf(g->what, sizeof g->what, "%s", what);
    CHECK(pthread_create(&g->th, NULL, lkt_guard_main, g) == 0);
}

static inline void lkt_guard_end(lkt_guard *g) {
    pthread_mutex_lock(&g->mu);
    g->done = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
    CHECK(pthread_join(g->th, NULL) == 0);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

/* ---- signals ---- */

/* Handle `sig` with `handler`, installed WITHOUT SA_RESTART, so every
 * blocking call a signal interrupts fails with EINTR (which the library must
 * retry). */
static inline void lkt_on_signal(int sig, void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART */
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* Signals counted by lkt_count_signals' handler. */
static atomic_long lkt_signals_seen;

static inline void lkt_count_signal(int sig) {
    (void)sig;
    atomic_fetch_add(&lkt_signals_seen, 1);
}

/* Handle `sig` by counting it in lkt_signals_seen (without SA_RESTART). */
static inline void lkt_count_signals(int sig) {
    lkt_on_signal(sig, lkt_count_signal);
}

/* SIGALRM every `us` microseconds (0: stop), to this process only: timers
 * are not inherited by fork. A test that uses it takes its watchdog from
 * lkt_watchdog_thread. */
static inline void lkt_alarm_every_us(long us) {
    struct itimerval it;
    it.it_interval.tv_sec = us / 1000000;
    it.it_interval.tv_usec = us % 1000000;
    it.it_value = it.it_interval;
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

/* A signal storm: SIGALRM every millisecond, counted by a handler without
 * SA_RESTART. Returns the time it started, for lkt_storm_stop. */
static inline double lkt_storm_start(void) {
    lkt_count_signals(SIGALRM);
    lkt_alarm_every_us(1000);
    return lkt_now();
}

/* Stop the storm started at `t0`, check that it really blew (at least one
 * signal per 5 ms of running), and return the signals seen; the seconds it
 * lasted go to *took. */
static inline long lkt_storm_stop(double t0, double *took) {
    *took = lkt_now() - t0;
    lkt_alarm_every_us(0);
    long seen = atomic_load(&lkt_signals_seen);
    CHECK_MSG(seen > (long)(*took * 200), "only %ld signals in %.2f s", seen, *took);
    return seen;
}

/* ---- small things ---- */

/* An lk_op_fn that does nothing and succeeds. */
static inline int32_t lkt_nop(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    (void)task;
    return 0;
}

/* 1 for the one callback whose task index is *at: *at then becomes -1, so
 * a replacement worker or a later map does not take it again. For items
 * that die or fail on purpose, once (*at in shared memory for worker
 * processes). */
static inline int lkt_take(atomic_int *at, size_t index) {
    int expected = (int)index;
    return atomic_load(at) == expected && atomic_compare_exchange_strong(at, &expected, -1);
}

/* The pid a worker publishes in *slot (0 until then), waited for up to
 * `seconds` from another thread; 0 if none came. For an item that waits
 * to be stopped or killed from outside. */
static inline int lkt_await_pid(atomic_int *slot, double seconds) {
    double t0 = lkt_now();
    int pid;
    while ((pid = atomic_load(slot)) == 0 && lkt_now() - t0 < seconds) lkt_sleep_us(200);
    return pid;
}

/* The ways a worker or child dies on purpose, with lkt_die. */
enum { LKT_DIE_KILL, LKT_DIE_SEGV, LKT_DIE_EXIT3, LKT_DEATHS };
static const char *const lkt_death_name[LKT_DEATHS] = {"raise(SIGKILL)", "SIGSEGV", "_exit(3)"};
/* What lk_last_error() says of each. */
static const char *const lkt_death_words[LKT_DEATHS] = {"SIGKILL", "SIGSEGV", "exit status 3"};

/* Die: raise(SIGKILL) as the OOM killer would, a real SIGSEGV (a write
 * through a NULL pointer, not raise), or _exit(3) without answering. */
static inline void lkt_die(int how) {
    switch (how) {
    case LKT_DIE_KILL: raise(SIGKILL); break;
    case LKT_DIE_SEGV: {
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        break;
    }
    default: break;
    }
    _exit(3);
}

/* Map options that collect every item's status (0, its non-zero code,
 * LK_ITEM_SKIPPED or LK_ITEM_WORKER_DIED) in `status`, one entry per item. */
static inline lk_map_options lkt_with_status(int32_t *status) {
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.item_status = status;
    return mo;
}

/* Keep the largest value ever stored in `max`. */
static inline void lkt_atomic_max(atomic_int *max, int value) {
    int cur = atomic_load(max);
    while (value > cur && !atomic_compare_exchange_weak(max, &cur, value)) {
    }
}

/* A 64-bit mix, for deterministic pseudo-random values from an index. */
static inline uint64_t lkt_mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Parse a callback failure message: it must contain "index <i>" and
 * "code <c>". Returns 1 when both were found. */
static inline int lkt_parse_failure(const char *msg, unsigned long long *index, long long *code) {
    const char *i = msg ? strstr(msg, "index ") : NULL;
    const char *c = msg ? strstr(msg, "code ") : NULL;
    if (!i || !c) return 0;
    char *end = NULL;
    *index = strtoull(i + 6, &end, 10);
    if (end == i + 6) return 0;
    *code = strtoll(c + 5, &end, 10);
    if (end == c + 5) return 0;
    return 1;
}

/* Core dumps of deliberately crashing children and workers would only slow
 * the tests. Call before making a process invoker (workers inherit the
 * limit). */
static inline void lkt_no_core_dumps(void) {
    struct rlimit rl = {0, 0};
    CHECK(setrlimit(RLIMIT_CORE, &rl) == 0);
}

/* ---- the backend, for the tests of both backends (c-tests/invoker/) ---- */

/* The backend this run of the test is for: set by lkt_backend_init. */
static lk_backend lkt_backend = -1;

/* Read the backend from argv[1] ("threads" or "processes", as CTest passes
 * it to <test>_threads and <test>_processes) or, without an argument, from
 * the LKT_BACKEND environment variable; anything else ends the test with a
 * usage line (status 2). Call it first in main. */
static inline lk_backend lkt_backend_init(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : getenv("LKT_BACKEND");
    if (name && strcmp(name, "threads") == 0) {
        lkt_backend = LK_BACKEND_THREADS;
    } else if (name && strcmp(name, "processes") == 0) {
        lkt_backend = LK_BACKEND_PROCESSES;
    } else {
        fprintf(stderr, "usage: %s threads|processes (or LKT_BACKEND=threads|processes)\n", argv[0]);
        exit(2);
    }
    printf("backend: %s\n", name);
    fflush(stdout); /* not to be printed again by a forked child */
    return lkt_backend;
}

/* 1 when this run is for the process backend. Where the backends really
 * differ, a test branches on it, visibly. */
static inline int lkt_processes(void) {
    CHECK_MSG(lkt_backend == LK_BACKEND_THREADS || lkt_backend == LK_BACKEND_PROCESSES,
              "lkt_backend_init was not called");
    return lkt_backend == LK_BACKEND_PROCESSES;
}

/* Options for an invoker with `n_jobs` workers on `backend` (everything else
 * default). */
static inline lk_invoker_options lkt_options_on(lk_backend backend, int32_t n_jobs) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = n_jobs;
    o.backend = backend;
    return o;
}

/* Options for an invoker with `n_jobs` workers on this run's backend. */
static inline lk_invoker_options lkt_options(int32_t n_jobs) {
    (void)lkt_processes(); /* the backend is known */
    return lkt_options_on(lkt_backend, n_jobs);
}

/* lk_invoker_new_with, which must succeed. */
static inline lk_invoker *lkt_new_with(const void *model, lk_op_fn fn, const lk_invoker_options *o) {
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new_with(model, fn, o, &inv));
    CHECK(inv != NULL);
    return inv;
}

/* An invoker on this run's backend with `n_jobs` workers (fail-fast, no
 * callbacks). */
static inline lk_invoker *lkt_new(const void *model, lk_op_fn fn, int32_t n_jobs) {
    lk_invoker_options o = lkt_options(n_jobs);
    return lkt_new_with(model, fn, &o);
}

/* ---- shared memory ---- */

/* `size` zeroed bytes in a MAP_SHARED | MAP_ANONYMOUS mapping: made before a
 * process invoker, it is shared by the parent, the zygote and every worker (a
 * replacement too), so what workers write there is seen by the parent.
 * Atomics in it work across processes. The tests of both backends keep what
 * callbacks count there, so the same code counts with either backend. */
static inline void *lkt_shared(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    return p;
}

/* The start of a test whose workers die on purpose: its watchdog, no core
 * dumps, and the lkt_shared() page of `size` bytes where the test and its
 * workers keep their state (made here, before any invoker). */
static inline void *lkt_begin_crash_test(unsigned watchdog_seconds, size_t size) {
    lkt_watchdog(watchdog_seconds);
    lkt_no_core_dumps();
    return lkt_shared(size);
}

enum { LKT_MAX_PIDS = 1024 };

/* A set of pids, in shared memory: lkt_pid_add is safe from any process. */
typedef struct lkt_pid_set {
    atomic_int n;
    atomic_int pids[LKT_MAX_PIDS];
} lkt_pid_set;

/* Add `pid` unless it is there already. Lock-free; a pid may (rarely) be
 * added twice by racing adders, which lkt_pid_count does not count twice. */
static inline void lkt_pid_add(lkt_pid_set *s, int pid) {
    int n = atomic_load(&s->n);
    for (int i = 0; i < n && i < LKT_MAX_PIDS; i++)
        if (atomic_load(&s->pids[i]) == pid) return;
    int at = atomic_fetch_add(&s->n, 1);
    if (at < LKT_MAX_PIDS) atomic_store(&s->pids[at], pid);
}

static inline int lkt_pid_has(lkt_pid_set *s, int pid) {
    int n = atomic_load(&s->n);
    for (int i = 0; i < n && i < LKT_MAX_PIDS; i++)
        if (atomic_load(&s->pids[i]) == pid) return 1;
    return 0;
}

/* The number of distinct non-zero pids in the set. */
static inline int lkt_pid_count(lkt_pid_set *s) {
    int n = atomic_load(&s->n), d = 0;
    if (n > LKT_MAX_PIDS) n = LKT_MAX_PIDS;
    for (int i = 0; i < n; i++) {
        int p = atomic_load(&s->pids[i]), seen = 0;
        if (p == 0) continue;
        for (int j = 0; j < i; j++)
            if (atomic_load(&s->pids[j]) == p) seen = 1;
        d += !seen;
    }
    return d;
}

static inline void lkt_pid_clear(lkt_pid_set *s) {
    for (int i = 0; i < LKT_MAX_PIDS; i++) atomic_store(&s->pids[i], 0);
    atomic_store(&s->n, 0);
}

/* Items that kill their worker or fail on purpose: keep it in lkt_shared()
 * memory (lkt_faults_new), so the parent sets them for worker processes too;
 * -1 means none. */
typedef struct lkt_faults {
    atomic_int die_at;  /* the item whose worker raises SIGKILL, once */
    atomic_int fail_at; /* the item that fails */
} lkt_faults;

static inline lkt_faults *lkt_faults_new(void) {
    lkt_faults *f = (lkt_faults *)lkt_shared(sizeof *f);
    atomic_store(&f->die_at, -1);
    atomic_store(&f->fail_at, -1);
    return f;
}

/* In a callback: raise(SIGKILL) if this is die_at's item (once); `code` if
 * it is fail_at's; 0 otherwise. */
static inline int32_t lkt_faults_hit(lkt_faults *f, size_t index, int32_t code) {
    if (lkt_take(&f->die_at, index)) raise(SIGKILL);
    return (int)index == atomic_load(&f->fail_at) ? code : 0;
}

/* ---- slow items that count themselves ---- */

/* The model of lkt_slow_item: keep it in lkt_shared() memory so worker
 * processes count too. */
typedef struct lkt_slow {
    atomic_long started; /* items that have started */
    long sleep_us;       /* how long each item takes */
} lkt_slow;

static inline uint64_t lkt_slow_result(size_t index) {
    return (uint64_t)index * 3 + 1;
}

/* An lk_op_fn for long maps to stop: counts itself, sleeps, writes
 * lkt_slow_result(index) to a uint64_t result (if any). */
static inline int32_t lkt_slow_item(const void *model, const void *arg, void *result, const lk_task *task) {
    lkt_slow *s = (lkt_slow *)model;
    (void)arg;
    atomic_fetch_add(&s->started, 1);
    lkt_sleep_us(s->sleep_us);
    if (result) *(uint64_t *)result = lkt_slow_result(task->index);
    return 0;
}

/* Wait until at least `n` items of `s` have started. */
static inline void lkt_slow_wait(lkt_slow *s, long n) {
    while (atomic_load(&s->started) < n) lkt_sleep_us(500);
}

/* ---- a signal sent from another thread, once a slow map is under way ---- */

/* How lkt_signal_later sends it. */
enum {
    LKT_SEND_RAISE,        /* raise(): the sending thread takes it */
    LKT_SEND_PTHREAD_KILL, /* pthread_kill() to the thread that started the sender */
    LKT_SEND_KILL,         /* kill() to this process: any thread may take it */
    LKT_SEND_KILL_GROUP,   /* kill(0, ...): the whole process group, as Ctrl-C */
};

typedef struct lkt_sender {
    int sig, how;
    pthread_t target;
    lkt_slow *slow;
    long after, delay_us;
    pthread_t th;
} lkt_sender;

static inline void *lkt_sender_main(void *p) {
    lkt_sender *s = (lkt_sender *)p;
    lkt_slow_wait(s->slow, s->after);
    lkt_sleep_us(s->delay_us);
    switch (s->how) {
    case LKT_SEND_RAISE: CHECK(raise(s->sig) == 0); break;
    case LKT_SEND_PTHREAD_KILL: CHECK(pthread_kill(s->target, s->sig) == 0); break;
    case LKT_SEND_KILL: CHECK(kill(getpid(), s->sig) == 0); break;
    default: CHECK(kill(0, s->sig) == 0); break;
    }
    return NULL;
}

/* Start a thread that sends `sig` the LKT_SEND_* way `how` once `after`
 * items of `slow` have started, and `delay_us` later; lkt_signal_join
 * waits for it. */
static inline void lkt_signal_later(lkt_sender *s, int sig, int how, lkt_slow *slow, long after, long delay_us) {
    s->sig = sig;
    s->how = how;
    s->target = pthread_self();
    s->slow = slow;
    s->after = after;
    s->delay_us = delay_us;
    CHECK(pthread_create(&s->th, NULL, lkt_sender_main, s) == 0);
}

static inline void lkt_signal_join(lkt_sender *s) {
    CHECK(pthread_join(s->th, NULL) == 0);
}

/* After a map of lkt_slow_item that was stopped (cancelled) with an
 * item_status array, and results zeroed before it: each item was either
 * skipped (LK_ITEM_SKIPPED, its result slot untouched) or ran (status 0, its
 * result written). Returns how many were skipped. */
static inline size_t lkt_check_stopped(const int32_t *status, const uint64_t *results, size_t n, const char *what) {
    size_t skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (status[i] == LK_ITEM_SKIPPED) {
            CHECK_MSG(results[i] == 0, "%s: item %zu was skipped but its result was written", what, i);
            skipped++;
        } else {
            CHECK_MSG(status[i] == 0 && results[i] == lkt_slow_result(i), "%s: item %zu has status %d", what, i,
                      (int)status[i]);
        }
    }
    return skipped;
}

/* A map of `n` lkt_slow_items on `inv` runs in full: LK_OK, every item
 * started once, every result right (cancel is not sticky). */
static inline void lkt_check_full_map(lk_invoker *inv, lkt_slow *s, size_t n) {
    uint64_t *results = (uint64_t *)calloc(n, sizeof *results);
    CHECK(results != NULL);
    atomic_store(&s->started, 0);
    CHECK_OK(lk_invoker_map(inv, NULL, n, 0, results, sizeof results[0]));
    CHECK(atomic_load(&s->started) == (long)n);
    for (size_t i = 0; i < n; i++) CHECK(results[i] == lkt_slow_result(i));
    free(results);
}

/* ---- callbacks at once ---- */

enum { LKT_MAX_WORKERS = 32 }; /* worker indices tracked one by one */

/* What the callbacks of one invoker do at the same time, counted by
 * lkt_bound_enter / lkt_bound_leave around each callback's work. Keep it in
 * lkt_shared() memory to count worker processes too. */
typedef struct lkt_bound {
    int n_jobs;    /* task->worker must be below it */
    int exclusive; /* one callback per worker index at a time (not so for a
                      threads n_jobs 1 invoker mapped from several threads) */
    atomic_int running, max_running;
    atomic_int calls;
    atomic_int busy[LKT_MAX_WORKERS];
    atomic_int double_booked; /* a worker index ran two callbacks at once */
    atomic_int bad_worker;    /* task->worker >= n_jobs */
    atomic_uint seen;         /* bit k: worker index k ran a callback */
} lkt_bound;

static inline void lkt_bound_reset(lkt_bound *b, int n_jobs, int exclusive) {
    memset(b, 0, sizeof *b);
    b->n_jobs = n_jobs;
    b->exclusive = exclusive;
}

static inline void lkt_bound_enter(lkt_bound *b, uint32_t worker) {
    lkt_atomic_max(&b->max_running, atomic_fetch_add(&b->running, 1) + 1);
    atomic_fetch_add(&b->calls, 1);
    if (worker >= (uint32_t)b->n_jobs) {
        atomic_fetch_add(&b->bad_worker, 1);
        return;
    }
    if (worker >= LKT_MAX_WORKERS) return; /* a pool this large is counted, not tracked */
    atomic_fetch_or(&b->seen, 1u << worker);
    if (b->exclusive && atomic_exchange(&b->busy[worker], 1) != 0) atomic_fetch_add(&b->double_booked, 1);
}

static inline void lkt_bound_leave(lkt_bound *b, uint32_t worker) {
    if (b->exclusive && worker < (uint32_t)b->n_jobs && worker < LKT_MAX_WORKERS)
        atomic_store(&b->busy[worker], 0);
    atomic_fetch_sub(&b->running, 1);
}

/* No callback is running, none had a bad worker index, none shared its
 * worker index with another running one, and at most `limit` ran at once. */
static inline void lkt_bound_check(lkt_bound *b, int limit, const char *what) {
    CHECK_MSG(atomic_load(&b->bad_worker) == 0, "%s: %d callbacks had task->worker >= %d", what,
              atomic_load(&b->bad_worker), b->n_jobs);
    CHECK_MSG(atomic_load(&b->double_booked) == 0, "%s: a worker ran two callbacks at once", what);
    CHECK(atomic_load(&b->running) == 0);
    CHECK_MSG(atomic_load(&b->max_running) <= limit, "%s: %d callbacks ran at once, at most %d allowed", what,
              atomic_load(&b->max_running), limit);
}

/* ---- processes, from /proc ---- */

/* This process's address space in bytes (/proc/self/statm's first field):
 * what RLIMIT_AS is compared with. */
static inline size_t lkt_vm_size(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    unsigned long pages = 0;
    CHECK(fscanf(f, "%lu", &pages) == 1);
    fclose(f);
    return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Read /proc/<pid>/stat: the parent pid (field 4) and the state (field 3).
 * Returns 0 when the process does not exist (any more). */
static inline int lkt_stat(pid_t pid, pid_t *ppid, char *state) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* pid (comm) state ppid ...: comm may hold spaces, so start after ')'. */
    const char *close_paren = strrchr(buf, ')');
    if (!close_paren || close_paren[1] != ' ') return 0;
    char st = close_paren[2];
    long pp = strtol(close_paren + 4, NULL, 10);
    if (ppid) *ppid = (pid_t)pp;
    if (state) *state = st;
    return 1;
}

/* The parent of `pid` (for a worker: the zygote), or 0 if it is gone. */
static inline pid_t lkt_parent_of(pid_t pid) {
    pid_t pp = 0;
    return lkt_stat(pid, &pp, NULL) ? pp : 0;
}

/* 1 while `pid` exists and is not a zombie. */
static inline int lkt_alive(pid_t pid) {
    char st = 0;
    if (!lkt_stat(pid, NULL, &st)) return 0;
    return st != 'Z' && st != 'X';
}

/* 1 while /proc/<pid> exists at all (a zombie included). */
static inline int lkt_exists(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Wait up to `seconds` for `pid` to stop being alive; 1 when it did. */
static inline int lkt_wait_dead(pid_t pid, double seconds) {
    double t0 = lkt_now();
    while (lkt_alive(pid)) {
        if (lkt_now() - t0 > seconds) return 0;
        lkt_sleep_us(2000);
    }
    return 1;
}

/* The processes (zombies included) whose parent is `ppid`, from a scan of
 * /proc; up to `cap` pids go to `out` (may be NULL). Returns how many. */
static inline int lkt_children_of(pid_t ppid, pid_t *out, int cap) {
    DIR *d = opendir("/proc");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        pid_t pp = 0;
        if (!lkt_stat(pid, &pp, NULL) || pp != ppid) continue; /* or it ended meanwhile */
        if (out && n < cap) out[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}

/* 1 when no child is left at all, as waitpid sees it (neither running nor
 * zombie). */
static inline int lkt_no_children(void) {
    errno = 0;
    return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/* This process has no child left: not a zombie, not a running one. Both by a
 * scan of /proc (which also sees children that waitpid(-1) does not wait for,
 * such as clone children with an exit signal other than SIGCHLD) and as
 * waitpid sees it; otherwise the test fails, naming what is left. */
static inline void lkt_check_no_children(void) {
    pid_t kids[16];
    int n = lkt_children_of(getpid(), kids, 16);
    if (n != 0) {
        fprintf(stderr, "%d child process(es) left over, e.g. pid %d\n", n, (int)kids[0]);
        exit(1);
    }
    errno = 0;
    pid_t r = waitpid(-1, NULL, WNOHANG);
    if (!(r == -1 && errno == ECHILD)) {
        fprintf(stderr, "a child is left over: waitpid(-1, WNOHANG) gave %d (errno %d: %s)\n",
                (int)r, errno, strerror(errno));
        exit(1);
    }
}

/* Shut `inv` down (LK_OK) and check that no child process is left. */
static inline void lkt_shutdown_reaped(lk_invoker *inv) {
    CHECK_OK(lk_invoker_shutdown(inv));
    lkt_check_no_children();
}

/* ---- what this process holds: threads, descriptors, memory ---- */

/* Entries of a /proc directory, not counting "." and "..". */
static inline int lkt_count_dir(const char *path) {
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static inline int lkt_thread_count(void) {
    return lkt_count_dir("/proc/self/task");
}

/* The thread count once it is `want`, or after 2 s. A thread that
 * pthread_join has seen end can still be listed in /proc/self/task for a
 * moment (the kernel clears the joined tid before it releases the task):
 * counting right after a join found one thread too many about once in 30. */
static inline int lkt_thread_count_settled(int want) {
    int n = lkt_thread_count();
    for (int i = 0; i < 2000 && n != want; i++) {
        lkt_sleep_us(1000);
        n = lkt_thread_count();
    }
    return n;
}

/* The number of open descriptors (entries of /proc/self/fd, not counting
 * the one used to read it). */
static inline int lkt_fd_count(void) {
    return lkt_count_dir("/proc/self/fd") - 1; /* the one opendir used */
}

/* The open descriptors as "fd->target\n" lines, sorted by number, without
 * the one used to read /proc/self/fd. */
static inline void lkt_fd_list(char *out, size_t cap) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int own = dirfd(d);
    int fds[4096];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd == own) continue;
        CHECK(n < sizeof fds / sizeof fds[0]);
        fds[n++] = fd;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && fds[j - 1] > fds[j]; j--) {
            int t = fds[j];
            fds[j] = fds[j - 1];
            fds[j - 1] = t;
        }
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char path[64], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
        ssize_t len = readlink(path, target, sizeof target - 1);
        target[len > 0 ? len : 0] = '\0';
        int w = snprintf(out + used, cap - used, "%d->%s\n", fds[i], target);
        CHECK(w > 0 && (size_t)w < cap - used);
        used += (size_t)w;
    }
}

/* This process's resident set in bytes (from /proc/self/statm), or 0 when it
 * cannot be read. It does not fail the test itself: process-backend workers
 * call it inside a callback. */
static inline uint64_t lkt_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int got = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return got == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* ---- a communicator table of one rank, without MPI ---- */

/* What a one-rank table counts, and the call it makes fail. */
typedef struct lkt_table {
    int calls;            /* collective calls and fetch_adds */
    int fail_at;          /* the call number that fails (with 5), or -1 */
    int collective_calls; /* bcast, allgather(v), gatherv, scatterv */
    uint64_t counter;     /* what fetch_add adds to */
    int releases;
} lkt_table;

static inline int32_t lkt_table_call(void *ctx, int collective) {
    lkt_table *t = (lkt_table *)ctx;
    t->collective_calls += collective;
    return t->calls++ == t->fail_at ? 5 : 0;
}

static inline int32_t lkt_table_bcast(void *ctx, void *buf, size_t len, int32_t root) {
    (void)buf, (void)len;
    CHECK(root == 0);
    return lkt_table_call(ctx, 1);
}

static inline int32_t lkt_table_allgather(void *ctx, const void *send, void *recv, size_t len) {
    memcpy(recv, send, len);
    return lkt_table_call(ctx, 1);
}

/* allgatherv in place: one rank has nothing to move. */
static inline int32_t lkt_table_allgatherv(void *ctx, void *buf, const size_t *counts, const size_t *displs,
                                           size_t elem) {
    (void)buf, (void)counts, (void)displs, (void)elem;
    return lkt_table_call(ctx, 1);
}

/* gatherv and scatterv in place, to or from rank 0: nothing to move either. */
static inline int32_t lkt_table_rooted(void *ctx, void *buf, const size_t *counts, const size_t *displs,
                                       size_t elem, int32_t root) {
    (void)buf, (void)counts, (void)displs, (void)elem;
    CHECK(root == 0);
    return lkt_table_call(ctx, 1);
}

static inline int32_t lkt_table_fetch_add(void *ctx, uint64_t add, uint64_t *old) {
    lkt_table *t = (lkt_table *)ctx;
    *old = t->counter;
    t->counter += add;
    return lkt_table_call(ctx, 0);
}

static inline void lkt_table_release(void *ctx) {
    ((lkt_table *)ctx)->releases++;
}

/* The operations of a one-rank communicator over `t` (rank 0 of 1): every
 * collective, fetch_add (for LK_SCHEDULE_DYNAMIC) and release; no abort.
 * Clear a field to leave that operation out. */
static inline lk_comm_ops lkt_table_ops(lkt_table *t) {
    memset(t, 0, sizeof *t);
    t->fail_at = -1;
    lk_comm_ops ops = {
        .struct_size = sizeof ops,
        .rank = 0,
        .size = 1,
        .local_size = 1,
        .ctx = t,
        .bcast = lkt_table_bcast,
        .allgather = lkt_table_allgather,
        .allgatherv = lkt_table_allgatherv,
        .gatherv = lkt_table_rooted,
        .scatterv = lkt_table_rooted,
        .fetch_add = lkt_table_fetch_add,
        .release = lkt_table_release,
    };
    return ops;
}

/* ---- log capture: records passed to an lk_set_log_callback callback ---- */

/* Room for what the chattiest tests log (run_sp children that log until
 * their time limit); records past it are counted, not kept. */
#define LKT_MAX_RECORDS 16384

typedef struct lkt_record {
    int level;
    char target[128];
    char message[512];
    void *user;
    pthread_t thread;
} lkt_record;

static pthread_mutex_t lkt_log_mu = PTHREAD_MUTEX_INITIALIZER;
static lkt_record lkt_records[LKT_MAX_RECORDS];
static size_t lkt_n_records;

/* lk_log the record "<prefix><n>" at `level` (the numbered records
 * lkt_log_check_sequence and the log tests count). */
static inline void lkt_log_numbered(lk_log_level level, const char *prefix, long long n) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s%lld", prefix, n);
    lk_log(level, msg);
}

/* An lk_log_fn that stores every record it gets (and counts those past the
 * array). */
static inline void lkt_log_capture(lk_log_level level, const char *target, const char *message,
                                   void *user) {
    pthread_mutex_lock(&lkt_log_mu);
    if (lkt_n_records < LKT_MAX_RECORDS) {
        lkt_record *r = &lkt_records[lkt_n_records];
        r->level = level;
        snprintf(r->target, sizeof r->target, "%s", target ? target : "(null)");
        snprintf(r->message, sizeof r->message, "%s", message ? message : "(null)");
        r->user = user;
        r->thread = pthread_self();
    }
    lkt_n_records++;
    pthread_mutex_unlock(&lkt_log_mu);
}

static inline void lkt_log_clear(void) {
    pthread_mutex_lock(&lkt_log_mu);
    lkt_n_records = 0;
    pthread_mutex_unlock(&lkt_log_mu);
}

static inline size_t lkt_log_count(void) {
    pthread_mutex_lock(&lkt_log_mu);
    size_t n = lkt_n_records;
    pthread_mutex_unlock(&lkt_log_mu);
    return n;
}

/* The records whose message starts with `prefix` must be exactly
 * "<prefix>0" .. "<prefix><n-1>", in that order, each once, at `level`,
 * with target "app". */
static inline void lkt_log_check_sequence(const char *prefix, int n, int level) {
    pthread_mutex_lock(&lkt_log_mu);
    CHECK(lkt_n_records <= LKT_MAX_RECORDS);
    int next = 0;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < lkt_n_records; i++) {
        const lkt_record *r = &lkt_records[i];
        if (strncmp(r->message, prefix, plen) != 0) continue;
        char want[160];
        snprintf(want, sizeof want, "%s%d", prefix, next);
        if (strcmp(r->message, want) != 0) {
            fprintf(stderr, "record %zu is \"%s\", expected \"%s\"\n", i, r->message, want);
            exit(1);
        }
        CHECK(r->level == level);
        CHECK(strcmp(r->target, "app") == 0);
        next++;
    }
    if (next != n) {
        fprintf(stderr, "%d records \"%s*\" arrived, expected %d\n", next, prefix, n);
        exit(1);
    }
    pthread_mutex_unlock(&lkt_log_mu);
}

/* ---- running this test program again, in a child ---- */

/* Wait for a forked child; returns its exit code (128 + signal if killed). */
static inline int lkt_wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

/* Run body(arg) in a fork()ed child (with its own watchdog: alarms are not
 * inherited), which must end with _exit(0); `what` names it if not. */
static inline void lkt_in_child(void (*body)(void *), void *arg, const char *what) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        lkt_watchdog(60);
        body(arg);
        _exit(0);
    }
    int code = lkt_wait_child(pid);
    CHECK_MSG(code == 0, "%s: the child ended with %d", what, code);
}

/* The path of this test program (/proc/self/exe), NUL-terminated. */
static inline void lkt_self_exe(char *self, size_t cap) {
    ssize_t len = readlink("/proc/self/exe", self, cap - 1);
    CHECK(len > 0);
    self[len] = '\0';
}

/* This process's environment changed by `env` (a NULL-terminated list, or
 * NULL: "NAME=VALUE" sets, "NAME" alone unsets), for execve. Made before
 * fork, so the child only calls execve; free() the array (not its strings). */
static inline char **lkt_make_env(const char *const *env) {
    extern char **environ;
    size_t n_env = 0, n_add = 0;
    while (environ[n_env]) n_env++;
    while (env && env[n_add]) n_add++;
    char **envp = (char **)calloc(n_env + n_add + 1, sizeof *envp);
    CHECK(envp != NULL);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        int drop = 0;
        for (size_t j = 0; j < n_add; j++) {
            const char *eq = strchr(env[j], '=');
            size_t len = eq ? (size_t)(eq - env[j]) : strlen(env[j]);
            if (strncmp(environ[i], env[j], len) == 0 && environ[i][len] == '=') drop = 1;
        }
        if (!drop) envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_add; j++)
        if (strchr(env[j], '=')) envp[k++] = (char *)env[j];
    envp[k] = NULL;
    return envp;
}

/* Run this program again (/proc/self/exe) with argv[1] = `mode`, its
 * environment changed by `env` (as lkt_make_env takes it), capturing what it
 * writes to descriptor `fd` (1 or 2) through a pipe into `out`
 * (NUL-terminated, at most cap-1 bytes kept). Returns the exit status (or
 * 128 + signal). Safe to call from a threaded process: the child only calls
 * dup2, close and execve. */
static inline int lkt_run_self(const char *mode, const char *const *env, int fd, char *out,
                               size_t cap) {
    char **envp = lkt_make_env(env);
    char self[4096];
    lkt_self_exe(self, sizeof self);
    char *argv[] = {self, (char *)mode, NULL};

    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], fd);
        close(pipefd[0]);
        close(pipefd[1]);
        execve(self, argv, envp);
        _exit(127);
    }
    close(pipefd[1]);
    size_t used = 0;
    for (;;) {
        char buf[4096];
        ssize_t r = read(pipefd[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        size_t take = (size_t)r;
        if (cap > 0 && used + take > cap - 1) take = cap - 1 - used;
        if (out && take > 0) memcpy(out + used, buf, take);
        used += take;
    }
    if (out && cap > 0) out[used] = '\0';
    close(pipefd[0]);
    free(envp);
    return lkt_wait_child(pid);
}

#endif
