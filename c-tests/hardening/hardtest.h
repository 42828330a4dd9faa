/* Helpers only the hardening tests (c-tests/hardening/) use: what a hostile
 * child or host does (garbage into every descriptor, the result memfd of a
 * run_sp child), a guard on one call, and what a waiting or
 * idle thread costs (context switches and CPU time from /proc and the CPU
 * clocks). Everything the tests of other areas share too (checks,
 * watchdogs, time, children, descriptors, log capture, lkt_shared) is in
 * lktest.h. Include it as "hardening/hardtest.h". */
#ifndef HARDTEST_H
#define HARDTEST_H

#include "lktest.h"

#include <sys/syscall.h>

/* ---- descriptors ---- */

/* 1 when `fd` is an open descriptor of this process. */
static inline int ht_fd_open(int fd) {
    return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

/* Where /proc/self/fd/<fd> points ("" when it is not open). */
static inline void ht_fd_target(int fd, char *out, size_t cap) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
}

/* ---- garbage: what a hostile child writes into every channel it can reach ---- */

enum { HT_GARBAGE_LAST_FD = 64 };

/* Descriptors the test harness handed this process (open before the test
 * made any lkparallel call): a hostile child of the test leaves them alone,
 * as they are CTest's or the shell's, not the library's. Bit fd is set for
 * an inherited descriptor. */
static uint64_t ht_inherited[(HT_GARBAGE_LAST_FD + 64) / 64];

/* Record the descriptors 3..64 open now as the harness's. Call first in main. */
static inline void ht_note_inherited_fds(void) {
    memset(ht_inherited, 0, sizeof ht_inherited);
    for (int fd = 3; fd <= HT_GARBAGE_LAST_FD; fd++)
        if (ht_fd_open(fd)) ht_inherited[fd / 64] |= 1ULL << (fd % 64);
}

static inline int ht_is_inherited(int fd) {
    return (ht_inherited[fd / 64] >> (fd % 64)) & 1;
}

/* A small generator for garbage (splitmix64 over a state the caller keeps). */
static inline uint64_t ht_rand(uint64_t *state) {
    *state += 0x9e3779b97f4a7c15ULL;
    return lkt_mix(*state);
}

/* Write `len` random bytes to `fd` without blocking for long: the write is
 * made non-blocking first (a pipe nobody reads would otherwise block the
 * hostile child forever, which is the child's own hang, not the library's).
 * Errors (EBADF, EINVAL for an eventfd, EAGAIN for a full pipe) are ignored:
 * garbage goes wherever it can. Returns the bytes written. */
static inline size_t ht_spray(int fd, size_t len, uint64_t *state) {
    static uint8_t junk[65536];
    size_t done = 0;
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1) return 0;
    (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    while (done < len) {
        size_t take = len - done < sizeof junk ? len - done : sizeof junk;
        for (size_t i = 0; i < take; i += 8) {
            uint64_t x = ht_rand(state);
            memcpy(junk + i, &x, take - i < 8 ? take - i : 8);
        }
        ssize_t w = write(fd, junk, take);
        if (w <= 0) break;
        done += (size_t)w;
    }
    (void)fcntl(fd, F_SETFL, fl);
    return done;
}

/* Random bytes (up to `max_len` per descriptor, random lengths) into every
 * open descriptor 3..64 but the harness's. Returns how many descriptors
 * took some. */
static inline int ht_spray_all(uint64_t seed, size_t max_len) {
    uint64_t st = seed;
    int hit = 0;
    for (int fd = 3; fd <= HT_GARBAGE_LAST_FD; fd++) {
        if (ht_is_inherited(fd) || !ht_fd_open(fd)) continue;
        size_t len = 1 + (size_t)(ht_rand(&st) % max_len);
        if (ht_spray(fd, len, &st) > 0) hit++;
    }
    return hit;
}

/* Write exactly these bytes to every open descriptor 3..64 but the
 * harness's (without blocking). */
static inline void ht_write_all(const void *bytes, size_t len) {
    for (int fd = 3; fd <= HT_GARBAGE_LAST_FD; fd++) {
        if (ht_is_inherited(fd) || !ht_fd_open(fd)) continue;
        int fl = fcntl(fd, F_GETFL);
        (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        ssize_t ignored = write(fd, bytes, len);
        (void)ignored;
        (void)fcntl(fd, F_SETFL, fl);
    }
}

/* ---- a bound on one call that could hang ---- */

/* lkt_guard with one failure: exit 1, naming `what`. One guard at a time. */
static lkt_guard ht_the_guard;

static inline void ht_guard_hung(const lkt_guard *g) {
    fprintf(stderr, "%s did not return within %.0f s\n", g->what, g->seconds);
    fflush(stdout);
    _exit(1);
}

static inline void ht_guard_start(double seconds, const char *what) {
    ht_the_guard.on_hang = ht_guard_hung;
    lkt_guard_start(&ht_the_guard, seconds, what);
}

static inline void ht_guard_end(void) {
    lkt_guard_end(&ht_the_guard);
}

/* The descriptor of this run_sp child's result memfd (found by the name the
 * library gives it), or -1. */
static inline int ht_result_memfd(void) {
    for (int fd = 3; fd < 1024; fd++) {
        char target[256];
        ht_fd_target(fd, target, sizeof target);
        if (strstr(target, "memfd:lk-run-sp")) return fd;
    }
    return -1;
}

/* ---- what a thread costs: wake-ups and CPU time ---- */

static inline pid_t ht_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}

/* A field ("voluntary_ctxt_switches", ...) of /proc/<pid>/task/<tid>/status,
 * or -1 when the thread is gone. */
static inline long ht_task_status_field(pid_t pid, pid_t tid, const char *field) {
    char path[96], line[256];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t n = strlen(field);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

/* How many times thread `tid` of this process gave up the CPU to wait. */
static inline long ht_wakeups(pid_t tid) {
    return ht_task_status_field(getpid(), tid, "voluntary_ctxt_switches");
}

/* The CPU time, in nanoseconds, that thread `tid` of process `pid` has run
 * (the first field of its schedstat), or -1 when it is gone. */
static inline long long ht_task_cpu_ns(pid_t pid, pid_t tid) {
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    long long ns = -1;
    if (fscanf(f, "%lld", &ns) != 1) ns = -1;
    fclose(f);
    return ns;
}

/* The threads of process `pid` (up to `cap` go to `out`); returns how many. */
static inline int ht_tasks(pid_t pid, pid_t *out, int cap) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        if (n < cap) out[n] = (pid_t)atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* The CPU time of every thread of `pid` but `except` (a tid, or 0), and
 * their voluntary context switches, summed. */
typedef struct ht_cost {
    long long cpu_ns;
    long wakeups;
    int threads;
} ht_cost;

static inline ht_cost ht_process_cost(pid_t pid, pid_t except) {
    static pid_t tids[8192];
    ht_cost c = {0, 0, 0};
    int n = ht_tasks(pid, tids, 8192);
    if (n > 8192) n = 8192;
    for (int i = 0; i < n; i++) {
        if (tids[i] == except) continue;
        long long ns = ht_task_cpu_ns(pid, tids[i]);
        long w = ht_task_status_field(pid, tids[i], "voluntary_ctxt_switches");
        if (ns < 0 || w < 0) continue; /* it ended meanwhile */
        c.cpu_ns += ns;
        c.wakeups += w;
        c.threads++;
    }
    return c;
}

#endif
