/* Helpers the lk_run_sp tests (c-tests/run_sp/, and the run_sp parts of
 * reliability/) use: lk_buffer helpers, children that end in every way a
 * child can, and a rerun of the test program that collects both its stdout
 * and its stderr. Everything the tests of other areas share too (checks,
 * watchdogs, time, children, descriptors, log capture) is in lktest.h.
 * Include it as "run_sp/sptest.h". */
#ifndef SPTEST_H
#define SPTEST_H

#include "lktest.h"

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

/* ---- children that end in every way a child can ---- */

/* How spt_child ends; pass it as lk_run_sp's arg with spt_end_arg(). */
typedef enum spt_end {
    SPT_OK,       /* appends "ok", returns 0 */
    SPT_BIG,      /* appends 100,000 bytes, returns 0 */
    SPT_EMPTY,    /* returns 0, nothing appended */
    SPT_FAIL,     /* appends "x", returns SPT_FAIL_CODE */
    SPT_SEGV,     /* raise(SIGSEGV) */
    SPT_KILL,     /* raise(SIGKILL), as the OOM killer sends it */
    SPT_EXIT3,    /* _exit(3) without answering */
    SPT_EXIT0,    /* exit(0) without answering (atexit handlers, stdio flushing) */
    SPT_HANG,     /* appends "x", then sleeps until a time limit ends it */
    SPT_STUBBORN, /* ignores SIGTERM, then sleeps until SIGKILL */
    SPT_ENDS
} spt_end;

enum { SPT_FAIL_CODE = 17 };

/* What lk_run_sp returns for each spt_end (SPT_HANG and SPT_STUBBORN: under
 * a time limit). */
static const lk_status spt_end_status[SPT_ENDS] = {
    LK_OK, LK_OK, LK_OK, LK_ERR_CALLBACK, LK_ERR_WORKER_DIED, LK_ERR_WORKER_DIED,
    LK_ERR_WORKER_DIED, LK_ERR_WORKER_DIED, LK_ERR_TIMEOUT, LK_ERR_TIMEOUT};

static inline const void *spt_end_arg(spt_end end) {
    return (const void *)(intptr_t)end;
}

/* An lk_sp_fn that ends as its arg (spt_end_arg(...)) says. */
static inline int32_t spt_child(const void *arg, lk_buffer *out) {
    static char blob[100000];
    switch ((spt_end)(intptr_t)arg) {
    case SPT_OK: SPT_APPEND(out, "ok", 2); return 0;
    case SPT_BIG: SPT_APPEND(out, blob, sizeof blob); return 0;
    case SPT_EMPTY: return 0;
    case SPT_FAIL: SPT_APPEND(out, "x", 1); return SPT_FAIL_CODE;
    case SPT_SEGV: raise(SIGSEGV); return 0;
    case SPT_KILL: raise(SIGKILL); return 0;
    case SPT_EXIT3: _exit(3);
    case SPT_EXIT0: exit(0);
    case SPT_STUBBORN: signal(SIGTERM, SIG_IGN); /* fall through */
    case SPT_HANG:
        SPT_APPEND(out, "x", 1);
        for (;;) pause();
    case SPT_ENDS: break;
    }
    return 99;
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
 * collect both. Unlike lkt_run_self (one descriptor, through a pipe) both
 * streams are files, read after the child has ended. */
static inline void spt_run_self(const char *mode, const char *const *env, spt_output *res) {
    char **envp = lkt_make_env(env);
    char self[4096];
    lkt_self_exe(self, sizeof self);
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
    res->status = lkt_wait_child(pid);
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

#endif
