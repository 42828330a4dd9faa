/* Helpers for the lk_run_sp tests (api_sp_*, fault_sp_*, leak_sp_*).
 *
 * Builds only on what lktest.h has always had (CHECK, CHECK_STATUS, CHECK_OK,
 * lkt_watchdog); everything else the run_sp tests share lives here, named
 * spt_*, so it cannot clash with helpers added to lktest.h later. */
#ifndef SPTEST_H
#define SPTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#undef NDEBUG
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
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
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lktest.h"

/* SPT_FAIL(call, LK_X): the exact non-OK status, and a non-empty
 * lk_last_error() afterwards (API.md: every non-OK status sets a message). */
#define SPT_FAIL(call, expected)                                                       \
    do {                                                                               \
        CHECK_STATUS(call, expected);                                                  \
        const char *spt_m_ = lk_last_error();                                          \
        if (spt_m_ == NULL || spt_m_[0] == '\0') {                                     \
            fprintf(stderr, "%s:%d: %s returned %s but left lk_last_error() empty\n",  \
                    __FILE__, __LINE__, #call, #expected);                             \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK that lk_last_error() contains `needle`, printing it when not. */
#define SPT_MSG_HAS(needle)                                                            \
    do {                                                                               \
        const char *spt_m_ = lk_last_error();                                          \
        if (spt_m_ == NULL || strstr(spt_m_, (needle)) == NULL) {                      \
            fprintf(stderr, "%s:%d: lk_last_error() lacks \"%s\": \"%s\"\n", __FILE__,  \
                    __LINE__, (needle), spt_m_ ? spt_m_ : "(null)");                   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* 1 when `text` contains `number` in decimal as a whole token (not as part of
 * a longer number, and for a non-negative number not preceded by '-'). */
static inline int spt_has_number(const char *text, long long number) {
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

#define SPT_MSG_HAS_NUMBER(number)                                                     \
    do {                                                                               \
        const char *spt_m_ = lk_last_error();                                          \
        if (!spt_has_number(spt_m_, (long long)(number))) {                            \
            fprintf(stderr, "%s:%d: lk_last_error() lacks the number %lld: \"%s\"\n",   \
                    __FILE__, __LINE__, (long long)(number), spt_m_ ? spt_m_ : "(null)"); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* A zeroed lk_buffer, as lk_run_sp wants it. */
static inline lk_buffer spt_empty(void) {
    lk_buffer b;
    memset(&b, 0, sizeof b);
    return b;
}

static inline int spt_is_zero(const lk_buffer *b) {
    return b->data == NULL && b->len == 0 && b->cap == 0 && b->priv == NULL;
}

/* Append, or make the callback fail with code 99 (for use in an lk_sp_fn). */
#define SPT_APPEND(out, data, len)                                                     \
    do {                                                                               \
        if (lk_buffer_append((out), (data), (len)) != LK_OK) return 99;                \
    } while (0)

/* This process has no child left: not a zombie, not a running one. */
static inline void spt_check_no_children(void) {
    errno = 0;
    pid_t r = waitpid(-1, NULL, WNOHANG);
    if (!(r == -1 && errno == ECHILD)) {
        fprintf(stderr, "a child is left over: waitpid(-1, WNOHANG) gave %d (errno %d: %s)\n",
                (int)r, errno, strerror(errno));
        exit(1);
    }
}

/* Core dumps of deliberately crashing children would only slow the tests. */
static inline void spt_no_core_dumps(void) {
    struct rlimit rl = {0, 0};
    CHECK(setrlimit(RLIMIT_CORE, &rl) == 0);
}

static inline double spt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleep, resuming after signals; a child "that sleeps forever" loops on it. */
static inline void spt_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline uint64_t spt_mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A watchdog that needs no SIGALRM (for tests that use SIGALRM themselves):
 * a detached thread that ends the process with 124 after `seconds`. */
static inline void *spt_watchdog_main(void *arg) {
    spt_sleep_ms((long)(uintptr_t)arg * 1000L);
    static const char msg[] = "watchdog (thread): the test hung\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(124);
    return NULL;
}

static inline void spt_watchdog_thread(unsigned seconds) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, spt_watchdog_main, (void *)(uintptr_t)seconds) == 0);
    CHECK(pthread_detach(t) == 0);
}

/* ---- open descriptors ---- */

/* The sorted list of descriptor numbers open in this process, as a string
 * ("0 1 2 ..."), without the one used to read /proc/self/fd. */
static inline void spt_fd_list(char *out, size_t cap) {
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

/* ---- running this test program again ---- */

typedef struct spt_output {
    int status;      /* exit code, or 128 + signal */
    char out[65536]; /* what it wrote to stdout (NUL-terminated) */
    char err[65536]; /* what it wrote to stderr */
} spt_output;

static inline void spt_read_all(int fd, char *buf, size_t cap) {
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    size_t used = 0;
    for (;;) {
        ssize_t r = read(fd, buf + used, cap - 1 - used);
        if (r < 0 && errno == EINTR) continue;
        CHECK(r >= 0);
        if (r == 0 || used + (size_t)r >= cap - 1) {
            used += (size_t)r;
            break;
        }
        used += (size_t)r;
    }
    buf[used] = '\0';
}

/* Run /proc/self/exe with argv[1] = `mode` and the extra environment entries
 * in `env` (NULL-terminated "NAME=VALUE" list, or NULL), its stdout and stderr
 * each going to a file (so stdout is not a terminal: fully buffered), and
 * collect both. */
static inline void spt_run_self(const char *mode, const char *const *env, spt_output *res) {
    extern char **environ;
    size_t n_env = 0, n_add = 0;
    while (environ[n_env]) n_env++;
    while (env && env[n_add]) n_add++;
    char **envp = (char **)calloc(n_env + n_add + 1, sizeof *envp);
    CHECK(envp != NULL);
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        int replaced = 0;
        for (size_t j = 0; j < n_add; j++) {
            size_t len = (size_t)(strchr(env[j], '=') - env[j]);
            if (strncmp(environ[i], env[j], len) == 0 && environ[i][len] == '=') replaced = 1;
        }
        if (!replaced) envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_add; j++) envp[k++] = (char *)env[j];
    envp[k] = NULL;

    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0);
    self[len] = '\0';
    char *argv[] = {self, (char *)mode, NULL};

    int out_fd = memfd_create("spt-stdout", MFD_CLOEXEC);
    int err_fd = memfd_create("spt-stderr", MFD_CLOEXEC);
    CHECK(out_fd >= 0 && err_fd >= 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execve(self, argv, envp);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
    spt_read_all(out_fd, res->out, sizeof res->out);
    spt_read_all(err_fd, res->err, sizeof res->err);
    close(out_fd);
    close(err_fd);
    free(envp);
}

/* How many times `needle` occurs in `text`. */
static inline int spt_count(const char *text, const char *needle) {
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += len) n++;
    return n;
}

/* ---- log capture ---- */

#define SPT_MAX_RECORDS 16384

typedef struct spt_record {
    int level;
    char target[64];
    char message[160];
    pthread_t thread;
} spt_record;

static pthread_mutex_t spt_log_mu = PTHREAD_MUTEX_INITIALIZER;
static spt_record spt_records[SPT_MAX_RECORDS];
static size_t spt_n_records;

/* An lk_log_fn that keeps every record (and counts those past the array). */
static inline void spt_log_capture(lk_log_level level, const char *target, const char *message,
                                   void *user) {
    (void)user;
    pthread_mutex_lock(&spt_log_mu);
    if (spt_n_records < SPT_MAX_RECORDS) {
        spt_record *r = &spt_records[spt_n_records];
        r->level = level;
        snprintf(r->target, sizeof r->target, "%s", target ? target : "(null)");
        snprintf(r->message, sizeof r->message, "%s", message ? message : "(null)");
        r->thread = pthread_self();
    }
    spt_n_records++;
    pthread_mutex_unlock(&spt_log_mu);
}

static inline void spt_log_clear(void) {
    pthread_mutex_lock(&spt_log_mu);
    spt_n_records = 0;
    pthread_mutex_unlock(&spt_log_mu);
}

static inline size_t spt_log_count(void) {
    pthread_mutex_lock(&spt_log_mu);
    size_t n = spt_n_records;
    pthread_mutex_unlock(&spt_log_mu);
    return n;
}

/* The records whose message starts with `prefix` must be exactly
 * "<prefix>0" .. "<prefix><n-1>", in that order, each once, at `level`,
 * with target "app". */
static inline void spt_check_sequence(const char *prefix, int n, int level) {
    pthread_mutex_lock(&spt_log_mu);
    CHECK(spt_n_records <= SPT_MAX_RECORDS);
    int next = 0;
    size_t plen = strlen(prefix);
    for (size_t i = 0; i < spt_n_records; i++) {
        const spt_record *r = &spt_records[i];
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
    pthread_mutex_unlock(&spt_log_mu);
}

#endif
