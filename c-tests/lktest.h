/* Shared helpers for the C tests: checks that always run, and a watchdog so a
 * hang fails the test instead of blocking CI. Include it first (it defines
 * _GNU_SOURCE for the system headers). */
#ifndef LKTEST_H
#define LKTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#undef NDEBUG
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* CHECK_STATUS(call, LK_X): the exact status, with the message on failure. */
#define CHECK_STATUS(call, expected)                                                   \
    do {                                                                               \
        lk_status lkt_s_ = (call);                                                     \
        if (lkt_s_ != (expected)) {                                                    \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s): %s\n", __FILE__, \
                    __LINE__, #call, (int)lkt_s_, (int)(expected), #expected,          \
                    lk_last_error());                                                  \
            exit(1);                                                                   \
        }                                                                              \
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

/* CHECK_FAIL(call, LK_X): the exact (non-OK) status, and a non-empty
 * lk_last_error() afterwards (API.md: every non-OK status sets a message). */
#define CHECK_FAIL(call, expected)                                                     \
    do {                                                                               \
        CHECK_STATUS(call, expected);                                                  \
        if (lk_last_error() == NULL || lk_last_error()[0] == '\0') {                   \
            fprintf(stderr, "%s:%d: %s returned %s but left lk_last_error() empty\n",  \
                    __FILE__, __LINE__, #call, #expected);                             \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

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

/* Monotonic time in seconds. */
static inline double lkt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleep `us` microseconds, resuming after signals. */
static inline void lkt_sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
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

/* ---- log capture: records passed to an lk_set_log_callback callback ---- */

#define LKT_MAX_RECORDS 4096

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

/* An lk_log_fn that stores every record it gets. */
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

/* ---- running this test program again, in a child ---- */

/* Run this program again (/proc/self/exe) with argv[1] = `mode`, its
 * environment changed by `env` (a NULL-terminated list: "NAME=VALUE" sets,
 * "NAME" alone unsets), capturing what it writes to descriptor `fd` (1 or 2)
 * into `out` (NUL-terminated, at most cap-1 bytes kept). Returns the exit
 * status (or 128 + signal). Safe to call from a threaded process: the child
 * only calls dup2, close and execve. */
static inline int lkt_run_self(const char *mode, const char *const *env, int fd, char *out,
                               size_t cap) {
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

    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len] = '\0';
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
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

/* Wait for a forked child; returns its exit code (128 + signal if killed). */
static inline int lkt_wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

#endif
