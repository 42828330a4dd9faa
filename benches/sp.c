/*
 * sp.c: the process workloads. Their tools are not map runners, so they
 * are measured here, each against what a C programmer would write by hand.
 *
 *   sp_roundtrip      lk_run_sp of a function that returns 8 bytes, median
 *                     us per call; vs fork_pipe: fork, the child writes the
 *                     8 bytes to a pipe and _exits, the parent reads and
 *                     waitpids.
 *   sp_result_1gib    lk_run_sp of a function that produces 1 GiB (1 MiB
 *                     chunks of a pattern, appended), seconds until the
 *                     parent holds it; vs fork_memfd_write (the child
 *                     pwrites the same chunks into a memfd the parent made,
 *                     the parent maps it, populated, as lk_run_sp does) and
 *                     fork_memfd_mmap (the child copies them into a shared
 *                     mapping of the memfd); and
 *                     memcpy: the same chunks copied into fresh memory in
 *                     this process, no child (a floor, not a peer).
 *   proc_create_1gib  with 1 GiB of model memory touched: lk_invoker_new_with
 *                     (LK_BACKEND_PROCESSES, n_jobs) plus a first map of
 *                     2 x n_jobs trivial items (so the workers surely
 *                     exist); vs fork_ready: n_jobs bare fork()s that each
 *                     report ready on a pipe.
 *
 * Every result is checked: the round trip's value, every byte of the 1 GiB,
 * the first map's results.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define GIB ((size_t)1 << 30)
#define CHUNK ((size_t)1 << 20)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The 1 GiB result: chunk c holds the words c*CHUNK/8 + k, scrambled. */
static void fill_chunk(uint64_t *chunk, size_t c) {
    uint64_t base = (uint64_t)c * (CHUNK / 8);
    for (size_t k = 0; k < CHUNK / 8; k++)
        chunk[k] = (base + k) * UINT64_C(0x9e3779b97f4a7c15);
}

static int check_gib(const uint8_t *data, size_t len, char *why, size_t why_len) {
    if (len != GIB) {
        snprintf(why, why_len, "result has %zu bytes, not 1 GiB", len);
        return 1;
    }
    uint64_t *chunk = malloc(CHUNK);
    for (size_t c = 0; c < GIB / CHUNK; c++) {
        fill_chunk(chunk, c);
        if (memcmp(data + c * CHUNK, chunk, CHUNK) != 0) {
            snprintf(why, why_len, "the 1 GiB result differs in MiB %zu", c);
            free(chunk);
            return 1;
        }
    }
    free(chunk);
    return 0;
}

/* ------------------------------------------------------ sp_roundtrip */

static int32_t sp_double(const void *arg, lk_buffer *out) {
    uint64_t v = *(const uint64_t *)arg * 2 + 1;
    return lk_buffer_append(out, &v, sizeof v) == LK_OK ? 0 : 1;
}

static int roundtrip_once(const char *tool, uint64_t x, char *why, size_t why_len) {
    uint64_t got = 0;
    if (!strcmp(tool, "lk_run_sp")) {
        lk_buffer buf = {0};
        lk_status st = lk_run_sp(sp_double, &x, &buf);
        if (st != LK_OK) {
            snprintf(why, why_len, "lk_run_sp: status %d: %s", (int)st, lk_last_error());
            return 1;
        }
        if (buf.len == sizeof got)
            memcpy(&got, buf.data, sizeof got);
        lk_buffer_free(&buf);
    } else { /* fork_pipe */
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) != 0) {
            snprintf(why, why_len, "pipe: %s", strerror(errno));
            return 1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            snprintf(why, why_len, "fork: %s", strerror(errno));
            return 1;
        }
        if (pid == 0) {
            uint64_t v = x * 2 + 1;
            ssize_t w = write(fds[1], &v, sizeof v);
            _exit(w == (ssize_t)sizeof v ? 0 : 1);
        }
        close(fds[1]);
        ssize_t r;
        do
            r = read(fds[0], &got, sizeof got);
        while (r < 0 && errno == EINTR);
        close(fds[0]);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (r != (ssize_t)sizeof got || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            snprintf(why, why_len, "the child failed");
            return 1;
        }
    }
    if (got != x * 2 + 1) {
        snprintf(why, why_len, "round trip %llu gave %llu, not %llu", (unsigned long long)x,
                 (unsigned long long)got, (unsigned long long)(x * 2 + 1));
        return 1;
    }
    return 0;
}

static int sp_roundtrip(const char *tool, size_t calls, double *value, char *why, size_t why_len) {
    /* at least `calls` timed calls and at least 0.3 s of them */
    size_t warm = calls / 10 + 5, cap = calls, got = 0;
    double *us = malloc(cap * sizeof *us);
    double start = now_s();
    for (size_t c = 0; c < warm + calls || now_s() - start < 0.3; c++) {
        double t0 = now_s();
        if (roundtrip_once(tool, c, why, why_len) != 0) {
            free(us);
            return BENCH_ERROR;
        }
        double t = (now_s() - t0) * 1e6;
        if (c < warm)
            continue;
        if (got == cap) {
            cap *= 2;
            double *more = realloc(us, cap * sizeof *us);
            if (!more) {
                free(us);
                snprintf(why, why_len, "out of memory");
                return BENCH_ERROR;
            }
            us = more;
        }
        us[got++] = t;
    }
    *value = median(us, got);
    free(us);
    return BENCH_OK;
}

/* ---------------------------------------------------- sp_result_1gib */

static int32_t sp_gib(const void *arg, lk_buffer *out) {
    (void)arg;
    uint64_t *chunk = malloc(CHUNK);
    if (!chunk)
        return 2;
    for (size_t c = 0; c < GIB / CHUNK; c++) {
        fill_chunk(chunk, c);
        if (lk_buffer_append(out, chunk, CHUNK) != LK_OK) {
            free(chunk);
            return 1;
        }
    }
    free(chunk);
    return 0;
}

static int sp_result_gib(const char *tool, double *value, char *why, size_t why_len) {
    double t0 = now_s();
    if (!strcmp(tool, "lk_run_sp")) {
        lk_buffer buf = {0};
        lk_status st = lk_run_sp(sp_gib, NULL, &buf);
        *value = now_s() - t0;
        if (st != LK_OK) {
            snprintf(why, why_len, "lk_run_sp: status %d: %s", (int)st, lk_last_error());
            return BENCH_ERROR;
        }
        int bad = check_gib(buf.data, buf.len, why, why_len);
        lk_buffer_free(&buf);
        return bad ? BENCH_ERROR : BENCH_OK;
    }
    if (!strcmp(tool, "memcpy")) {
        uint8_t *dst = malloc(GIB);
        uint64_t *chunk = malloc(CHUNK);
        for (size_t c = 0; c < GIB / CHUNK; c++) {
            fill_chunk(chunk, c);
            memcpy(dst + c * CHUNK, chunk, CHUNK);
        }
        *value = now_s() - t0;
        free(chunk);
        int bad = check_gib(dst, GIB, why, why_len);
        free(dst);
        return bad ? BENCH_ERROR : BENCH_OK;
    }
    /* fork_memfd_write / fork_memfd_mmap */
    int use_mmap = !strcmp(tool, "fork_memfd_mmap");
    int fd = memfd_create("lkbench", MFD_CLOEXEC);
    if (fd < 0 || (use_mmap && ftruncate(fd, (off_t)GIB) != 0)) {
        snprintf(why, why_len, "memfd: %s", strerror(errno));
        return BENCH_ERROR;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        return BENCH_ERROR;
    }
    if (pid == 0) {
        uint64_t *chunk = malloc(CHUNK);
        uint8_t *map = NULL;
        if (use_mmap) {
            map = mmap(NULL, GIB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (map == MAP_FAILED)
                _exit(2);
        }
        for (size_t c = 0; c < GIB / CHUNK; c++) {
            fill_chunk(chunk, c);
            if (use_mmap) {
                memcpy(map + c * CHUNK, chunk, CHUNK);
            } else {
                size_t done = 0;
                while (done < CHUNK) {
                    ssize_t w = pwrite(fd, (uint8_t *)chunk + done, CHUNK - done,
                                       (off_t)(c * CHUNK + done));
                    if (w <= 0 && errno != EINTR)
                        _exit(3);
                    done += w > 0 ? (size_t)w : 0;
                }
            }
        }
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    uint8_t *data = MAP_FAILED;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        data = mmap(NULL, GIB, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0); /* as lk_run_sp maps */
    *value = now_s() - t0;
    close(fd);
    if (data == MAP_FAILED) {
        snprintf(why, why_len, "the child failed (status %d)", status);
        return BENCH_ERROR;
    }
    int bad = check_gib(data, GIB, why, why_len);
    munmap(data, GIB);
    return bad ? BENCH_ERROR : BENCH_OK;
}

/* -------------------------------------------------- proc_create_1gib */

static int32_t create_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)task;
    const uint64_t *m = model;
    /* touch the model, so a worker that could not see it would fail */
    *(uint64_t *)result = *(const uint64_t *)arg * 2 + 1 + (m[0] != 0x5a5a5a5a5a5a5a5aULL);
    return 0;
}

static int proc_create(const char *tool, int jobs, double *value, char *why, size_t why_len) {
    uint8_t *model = malloc(GIB);
    if (!model) {
        snprintf(why, why_len, "out of memory");
        return BENCH_ERROR;
    }
    memset(model, 0x5a, GIB); /* touched: a real model in memory */
    if (!strcmp(tool, "lk_processes")) {
        size_t n = 2 * (size_t)jobs;
        uint64_t args[2 * 256], res[2 * 256];
        if (n > 2 * 256)
            n = 2 * 256;
        for (size_t i = 0; i < n; i++)
            args[i] = i, res[i] = 0;
        lk_invoker_options opts;
        lk_invoker_options_init(&opts, sizeof opts);
        opts.n_jobs = jobs;
        opts.backend = LK_BACKEND_PROCESSES;
        lk_invoker *inv = NULL;
        double t0 = now_s();
        lk_status st = lk_invoker_new_with(model, create_op, &opts, &inv);
        if (st != LK_OK) {
            snprintf(why, why_len, "lk_invoker_new_with(LK_BACKEND_PROCESSES): status %d: %s",
                     (int)st, lk_last_error());
            free(model);
            return BENCH_NA;
        }
        st = lk_invoker_map(inv, args, n, sizeof *args, res, sizeof *res);
        *value = now_s() - t0;
        int bad = st != LK_OK;
        if (bad)
            snprintf(why, why_len, "lk_invoker_map: status %d: %s", (int)st, lk_last_error());
        for (size_t i = 0; i < n && !bad; i++)
            if (res[i] != args[i] * 2 + 1) {
                snprintf(why, why_len, "first map: result %zu wrong", i);
                bad = 1;
            }
        lk_invoker_shutdown(inv);
        free(model);
        return bad ? BENCH_ERROR : BENCH_OK;
    }
    /* fork_ready: n_jobs children that say "ready" on a pipe, then wait to be released */
    int ready[2], release[2];
    if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(release, O_CLOEXEC) != 0) {
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        return BENCH_ERROR;
    }
    pid_t *pids = calloc((size_t)jobs, sizeof *pids);
    double t0 = now_s();
    int bad = 0;
    for (int k = 0; k < jobs; k++) {
        pids[k] = fork();
        if (pids[k] < 0) {
            snprintf(why, why_len, "fork: %s", strerror(errno));
            bad = 1;
            break;
        }
        if (pids[k] == 0) {
            close(release[1]);
            char b = model[(size_t)k * 4096] == 0x5a ? 'r' : 'x';
            if (write(ready[1], &b, 1) != 1)
                _exit(1);
            ssize_t r = read(release[0], &b, 1); /* returns 0 when the parent closes it */
            (void)r;
            _exit(0);
        }
    }
    int got = 0;
    while (!bad && got < jobs) {
        char b;
        ssize_t r = read(ready[0], &b, 1);
        if (r == 1 && b == 'r')
            got++;
        else if (!(r < 0 && errno == EINTR)) {
            snprintf(why, why_len, "a child did not report ready");
            bad = 1;
        }
    }
    *value = now_s() - t0;
    close(release[1]);
    for (int k = 0; k < jobs; k++)
        if (pids[k] > 0)
            while (waitpid(pids[k], NULL, 0) < 0 && errno == EINTR) {
            }
    close(ready[0]), close(ready[1]), close(release[0]);
    free(pids);
    free(model);
    return bad ? BENCH_ERROR : BENCH_OK;
}

/* ------------------------------------------------------------ entry */

int bench_sp_measure(const char *workload, const char *tool, int jobs, size_t calls, double *value,
                     char *why, size_t why_len) {
    if (!strcmp(workload, "sp_roundtrip"))
        return sp_roundtrip(tool, calls, value, why, why_len);
    if (!strcmp(workload, "sp_result_1gib"))
        return sp_result_gib(tool, value, why, why_len);
    if (!strcmp(workload, "proc_create_1gib"))
        return proc_create(tool, jobs, value, why, why_len);
    snprintf(why, why_len, "unknown process workload %s", workload);
    return BENCH_ERROR;
}
