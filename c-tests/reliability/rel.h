/* Helpers for the reliability tests (fault_signal_*, fault_status_*,
 * fault_forksafety_*) and the stress program (stress.c).
 *
 * Builds only on what lktest.h has always had (CHECK, CHECK_STATUS, CHECK_OK,
 * lkt_watchdog); everything else lives here, named rel_*, so it cannot clash
 * with helpers other test areas add. Include it as "reliability/rel.h". */
#ifndef LK_RELIABILITY_REL_H
#define LK_RELIABILITY_REL_H

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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lktest.h"

/* REL_FAIL(call, LK_X): the exact non-OK status, and a non-empty
 * lk_last_error() afterwards (API.md: every non-OK status sets a message). */
#define REL_FAIL(call, expected)                                                       \
    do {                                                                               \
        CHECK_STATUS(call, expected);                                                  \
        const char *rel_m_ = lk_last_error();                                          \
        if (rel_m_ == NULL || rel_m_[0] == '\0') {                                     \
            fprintf(stderr, "%s:%d: %s returned %s but left lk_last_error() empty\n",  \
                    __FILE__, __LINE__, #call, #expected);                             \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK that lk_last_error() contains `needle`. */
#define REL_MSG_HAS(needle)                                                            \
    do {                                                                               \
        const char *rel_m_ = lk_last_error();                                          \
        if (rel_m_ == NULL || strstr(rel_m_, (needle)) == NULL) {                      \
            fprintf(stderr, "%s:%d: lk_last_error() lacks \"%s\": \"%s\"\n", __FILE__,  \
                    __LINE__, (needle), rel_m_ ? rel_m_ : "(null)");                   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK with an explanation printed when it fails. */
#define REL_CHECK_MSG(cond, ...)                                                       \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                              \
            fprintf(stderr, "\n");                                                     \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static inline double rel_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleep, resuming after signals (the tests here send many). */
static inline void rel_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline uint64_t rel_mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 1 when `text` contains the decimal `number` as a whole token. */
static inline int rel_has_number(const char *text, long long number) {
    char want[32];
    snprintf(want, sizeof want, "%lld", number);
    size_t n = strlen(want);
    for (const char *p = text; p && (p = strstr(p, want)) != NULL; p++) {
        int before_ok = p == text || (!isdigit((unsigned char)p[-1]) && (number < 0 || p[-1] != '-'));
        if (before_ok && !isdigit((unsigned char)p[n])) return 1;
    }
    return 0;
}

/* A watchdog that needs no SIGALRM (for tests that use SIGALRM or
 * setitimer themselves): a detached thread that ends the process with 124. */
static inline void *rel_watchdog_main(void *arg) {
    rel_sleep_us((long)(uintptr_t)arg * 1000000L);
    static const char msg[] = "watchdog (thread): the test hung\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(124);
    return NULL;
}

static inline void rel_watchdog_thread(unsigned seconds) {
    pthread_t t;
    /* The watchdog must not take the signals the test sends itself. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    CHECK(pthread_create(&t, NULL, rel_watchdog_main, (void *)(uintptr_t)seconds) == 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    CHECK(pthread_detach(t) == 0);
}

/* Crashing children should not write core files. */
static inline void rel_no_core_dumps(void) {
    struct rlimit rl = {0, 0};
    CHECK(setrlimit(RLIMIT_CORE, &rl) == 0);
}

/* ---- what this process holds: threads, descriptors, children, memory ---- */

/* Entries of a /proc directory, not counting "." and "..". */
static inline int rel_count_dir(const char *path) {
    DIR *d = opendir(path);
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static inline int rel_thread_count(void) {
    return rel_count_dir("/proc/self/task");
}

/* The open descriptors as "fd->target\n" lines, sorted by number, without
 * the one used to read /proc/self/fd. */
static inline void rel_fd_list(char *out, size_t cap) {
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

static inline int rel_fd_count(void) {
    return rel_count_dir("/proc/self/fd") - 1; /* the one opendir used */
}

/* How many processes (alive or zombie) have this process as their parent,
 * from /proc/<pid>/stat. */
static inline int rel_child_count(void) {
    pid_t me = getpid();
    DIR *d = opendir("/proc");
    CHECK(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0])) continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue; /* it ended meanwhile */
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0) continue;
        buf[len] = '\0';
        /* pid (comm) state ppid ...: comm may hold spaces, so start after ')'. */
        char *rp = strrchr(buf, ')');
        if (!rp) continue;
        char state = 0;
        int ppid = 0;
        if (sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == (int)me) n++;
    }
    closedir(d);
    return n;
}

/* No child left at all, as waitpid sees it (neither running nor zombie). */
static inline int rel_no_children(void) {
    errno = 0;
    return waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD;
}

/* Resident set size in KiB, from /proc/self/statm. */
static inline long rel_rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "re");
    CHECK(f != NULL);
    long size = 0, resident = 0;
    CHECK(fscanf(f, "%ld %ld", &size, &resident) == 2);
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- log records, counted by message prefix ---- */

/* A log callback that takes a mutex (like most hosts' loggers do) and
 * counts records whose message starts with "child " and all records. */
typedef struct rel_log_counter {
    pthread_mutex_t mu;
    long child;   /* "child ..." records */
    long parent;  /* "parent ..." records */
    long other;   /* everything else (the library's own) */
} rel_log_counter;

static inline void rel_log_count(lk_log_level level, const char *target, const char *message,
                                 void *user) {
    (void)level;
    (void)target;
    rel_log_counter *c = (rel_log_counter *)user;
    pthread_mutex_lock(&c->mu);
    /* Hold the lock for a while, so forks often happen while it is held. */
    for (volatile int spin = 0; spin < 500; spin++) {
    }
    if (strncmp(message, "child ", 6) == 0)
        c->child++;
    else if (strncmp(message, "parent ", 7) == 0)
        c->parent++;
    else
        c->other++;
    pthread_mutex_unlock(&c->mu);
}

static inline long rel_log_children(rel_log_counter *c) {
    pthread_mutex_lock(&c->mu);
    long n = c->child;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ---- a MAP_SHARED page: what process-backend workers write there is seen
 * by the parent (make it before the invoker) ---- */
static inline void *rel_shared(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    memset(p, 0, size);
    return p;
}

/* ---- signal storms ---- */

static atomic_long rel_signals_seen;

static inline void rel_count_signal(int sig) {
    (void)sig;
    atomic_fetch_add(&rel_signals_seen, 1);
}

/* Handle `sig` by counting it, installed WITHOUT SA_RESTART, so every
 * blocking call a signal interrupts fails with EINTR. */
static inline void rel_count_signals(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = rel_count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* SIGALRM every `us` microseconds (0: stop), to this process only: timers
 * are not inherited by fork. */
static inline void rel_alarm_every_us(long us) {
    struct itimerval it;
    it.it_interval.tv_sec = us / 1000000;
    it.it_interval.tv_usec = us % 1000000;
    it.it_value = it.it_interval;
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

#endif
