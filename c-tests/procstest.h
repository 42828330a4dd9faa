/* Helpers for the process-backend tests (api_procs_*, fault_procs_*,
 * leak_procs_*).
 *
 * Builds only on what lktest.h has always had (CHECK, CHECK_STATUS, CHECK_OK,
 * lkt_watchdog); everything else these tests share lives here, named pt_*,
 * so it cannot clash with helpers added to lktest.h later.
 *
 * The process backend forks its workers when the invoker is made, so a test
 * that wants to see what the workers do (counters, pids, flags) keeps that
 * state in a MAP_SHARED page made with pt_shared() BEFORE the invoker:
 * ordinary memory written in a worker stays in the worker. */
#ifndef PROCSTEST_H
#define PROCSTEST_H

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

#include "lktest.h"

/* PT_FAIL(call, LK_X): the exact non-OK status, and a non-empty
 * lk_last_error() afterwards (API.md: every non-OK status sets a message). */
#define PT_FAIL(call, expected)                                                        \
    do {                                                                               \
        CHECK_STATUS(call, expected);                                                  \
        const char *pt_m_ = lk_last_error();                                           \
        if (pt_m_ == NULL || pt_m_[0] == '\0') {                                       \
            fprintf(stderr, "%s:%d: %s returned %s but left lk_last_error() empty\n",  \
                    __FILE__, __LINE__, #call, #expected);                             \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK with a message: print the formatted explanation when `cond` fails. */
#define PT_CHECK_MSG(cond, ...)                                                        \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* 1 when `text` contains `number` in decimal as a whole token (not as part of
 * a longer number, and for a non-negative number not preceded by '-'). */
static inline int pt_has_number(const char *text, long long number) {
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
#define PT_MSG_HAS_NUMBER(number)                                                      \
    do {                                                                               \
        const char *pt_m_ = lk_last_error();                                           \
        if (!pt_has_number(pt_m_, (long long)(number))) {                              \
            fprintf(stderr, "%s:%d: lk_last_error() lacks the number %lld: \"%s\"\n",   \
                    __FILE__, __LINE__, (long long)(number), pt_m_ ? pt_m_ : "(null)");  \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK that lk_last_error() contains `needle`. */
#define PT_MSG_HAS(needle)                                                             \
    do {                                                                               \
        const char *pt_m_ = lk_last_error();                                           \
        if (pt_m_ == NULL || strstr(pt_m_, (needle)) == NULL) {                        \
            fprintf(stderr, "%s:%d: lk_last_error() lacks \"%s\": \"%s\"\n", __FILE__,   \
                    __LINE__, (needle), pt_m_ ? pt_m_ : "(null)");                     \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* Parse a callback failure message: it must contain "index <i>" and
 * "code <c>". Returns 1 when both were found. */
static inline int pt_parse_failure(const char *msg, unsigned long long *index, long long *code) {
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

/* ---- time ---- */

/* Monotonic time in seconds; CLOCK_MONOTONIC is the same clock in every
 * process, so a worker may stamp a time the parent compares with. */
static inline double pt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleep `us` microseconds, resuming after signals. */
static inline void pt_sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline uint64_t pt_mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Keep the largest value ever stored in `max`. */
static inline void pt_atomic_max(atomic_int *max, int value) {
    int cur = atomic_load(max);
    while (value > cur && !atomic_compare_exchange_weak(max, &cur, value)) {
    }
}

/* A watchdog that needs no SIGALRM (for tests that use SIGALRM themselves):
 * a detached thread that ends the process with 124 after `seconds`. */
static inline void *pt_watchdog_main(void *arg) {
    pt_sleep_us((long)(uintptr_t)arg * 1000000L);
    static const char msg[] = "watchdog (thread): the test hung\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(124);
    return NULL;
}

static inline void pt_watchdog_thread(unsigned seconds) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pt_watchdog_main, (void *)(uintptr_t)seconds) == 0);
    CHECK(pthread_detach(t) == 0);
}

/* Core dumps of deliberately crashing workers would only slow the tests.
 * Call before making the invoker (workers inherit the limit). */
static inline void pt_no_core_dumps(void) {
    struct rlimit rl = {0, 0};
    CHECK(setrlimit(RLIMIT_CORE, &rl) == 0);
}

/* ---- memory every process of a pool sees ---- */

/* `size` zeroed bytes in a MAP_SHARED | MAP_ANONYMOUS mapping: made before an
 * invoker, it is shared by the parent, the zygote and every worker (a
 * replacement too). Atomics in it work across processes. */
static inline void *pt_shared(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    return p;
}

/* ---- making a process invoker ---- */

/* Options for a process invoker with `n_jobs` workers (everything else default). */
static inline lk_invoker_options pt_options(int32_t n_jobs) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = n_jobs;
    o.backend = LK_BACKEND_PROCESSES;
    return o;
}

static inline lk_invoker *pt_new_with(const void *model, lk_op_fn fn, const lk_invoker_options *o) {
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new_with(model, fn, o, &inv));
    CHECK(inv != NULL);
    return inv;
}

/* A process invoker with `n_jobs` workers (fail-fast, no callbacks). */
static inline lk_invoker *pt_new(const void *model, lk_op_fn fn, int32_t n_jobs) {
    lk_invoker_options o = pt_options(n_jobs);
    return pt_new_with(model, fn, &o);
}

/* ---- processes, from /proc ---- */

/* Read /proc/<pid>/stat: the parent pid (field 4) and the state (field 3).
 * Returns 0 when the process does not exist (any more). */
static inline int pt_stat(pid_t pid, pid_t *ppid, char *state) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *close_paren = strrchr(buf, ')');
    if (!close_paren || close_paren[1] != ' ') return 0;
    char st = close_paren[2];
    long pp = strtol(close_paren + 4, NULL, 10);
    if (ppid) *ppid = (pid_t)pp;
    if (state) *state = st;
    return 1;
}

/* The parent of `pid` (for a worker: the zygote), or 0 if it is gone. */
static inline pid_t pt_parent_of(pid_t pid) {
    pid_t pp = 0;
    return pt_stat(pid, &pp, NULL) ? pp : 0;
}

/* 1 while `pid` exists and is not a zombie. */
static inline int pt_alive(pid_t pid) {
    char st = 0;
    if (!pt_stat(pid, NULL, &st)) return 0;
    return st != 'Z' && st != 'X';
}

/* 1 while /proc/<pid> exists at all (a zombie included). */
static inline int pt_exists(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Wait up to `seconds` for `pid` to stop being alive; 1 when it did. */
static inline int pt_wait_dead(pid_t pid, double seconds) {
    double t0 = pt_now();
    while (pt_alive(pid)) {
        if (pt_now() - t0 > seconds) return 0;
        pt_sleep_us(2000);
    }
    return 1;
}

/* The processes (zombies included) whose parent is `ppid`, from a scan of
 * /proc; up to `cap` pids go to `out` (may be NULL). Returns how many. */
static inline int pt_children_of(pid_t ppid, pid_t *out, int cap) {
    DIR *d = opendir("/proc");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        pid_t pid = (pid_t)atoi(e->d_name);
        pid_t pp = 0;
        if (!pt_stat(pid, &pp, NULL) || pp != ppid) continue;
        if (out && n < cap) out[n] = pid;
        n++;
    }
    closedir(d);
    return n;
}

/* This process has no child left: not a zombie, not a running one. */
static inline void pt_check_no_children(void) {
    pid_t kids[16];
    int n = pt_children_of(getpid(), kids, 16);
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

/* ---- resources of this process ---- */

/* The number of open descriptors (entries of /proc/self/fd, not counting
 * the one used to read it). */
static inline int pt_count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int own = dirfd(d), n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (atoi(e->d_name) == own) continue;
        n++;
    }
    closedir(d);
    return n;
}

/* Print the open descriptors and their targets (for a failure report). */
static inline void pt_print_fds(const char *title) {
    fprintf(stderr, "%s:\n", title);
    DIR *d = opendir("/proc/self/fd");
    CHECK(d != NULL);
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == own) continue;
        char path[300], target[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        target[len > 0 ? len : 0] = '\0';
        fprintf(stderr, "  %s -> %s\n", e->d_name, target);
    }
    closedir(d);
}

/* The number of lines of /proc/self/maps that contain `needle` (for
 * example "memfd:": mappings of memfd shared memory). */
static inline int pt_count_maps(const char *needle) {
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle)) n++;
    fclose(f);
    return n;
}

/* The "Pss:" of /proc/<pid>/smaps_rollup in KiB. Fails the test, with a
 * clear message, when the file is missing or has no Pss line. */
static inline long pt_pss_kib(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s (%s): this test needs smaps_rollup (Linux 4.14+)\n", path,
                strerror(errno));
        exit(1);
    }
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Pss:", 4) == 0) {
            kib = strtol(line + 4, NULL, 10);
            break;
        }
    fclose(f);
    if (kib < 0) {
        fprintf(stderr, "%s has no Pss line: this test needs it\n", path);
        exit(1);
    }
    return kib;
}

/* This process's resident set in bytes (from /proc/self/statm). */
static inline uint64_t pt_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, resident = 0;
    int got = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    return got == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/* ---- recording which processes ran what ---- */

enum { PT_MAX_PIDS = 1024 };

/* A set of pids, in shared memory: pt_pid_add is safe from any process. */
typedef struct pt_pid_set {
    atomic_int n;
    atomic_int pids[PT_MAX_PIDS];
} pt_pid_set;

/* Add `pid` unless it is there already. Lock-free; a pid may (rarely) be
 * added twice by racing adders, which pt_pid_count does not count twice. */
static inline void pt_pid_add(pt_pid_set *s, int pid) {
    int n = atomic_load(&s->n);
    for (int i = 0; i < n && i < PT_MAX_PIDS; i++)
        if (atomic_load(&s->pids[i]) == pid) return;
    int at = atomic_fetch_add(&s->n, 1);
    if (at < PT_MAX_PIDS) atomic_store(&s->pids[at], pid);
}

static inline int pt_pid_has(pt_pid_set *s, int pid) {
    int n = atomic_load(&s->n);
    for (int i = 0; i < n && i < PT_MAX_PIDS; i++)
        if (atomic_load(&s->pids[i]) == pid) return 1;
    return 0;
}

/* The number of distinct non-zero pids in the set. */
static inline int pt_pid_count(pt_pid_set *s) {
    int n = atomic_load(&s->n), d = 0;
    if (n > PT_MAX_PIDS) n = PT_MAX_PIDS;
    for (int i = 0; i < n; i++) {
        int p = atomic_load(&s->pids[i]), seen = 0;
        if (p == 0) continue;
        for (int j = 0; j < i; j++)
            if (atomic_load(&s->pids[j]) == p) seen = 1;
        d += !seen;
    }
    return d;
}

static inline void pt_pid_clear(pt_pid_set *s) {
    for (int i = 0; i < PT_MAX_PIDS; i++) atomic_store(&s->pids[i], 0);
    atomic_store(&s->n, 0);
}

#endif
