/* Helpers only the process-backend tests (api_procs_*, fault_procs_*,
 * leak_procs_*) use: making a process invoker, memory figures from /proc
 * (memfd mappings, PSS) and a set of pids in shared memory. Everything the
 * tests of other areas share too (checks, watchdogs, time, /proc process
 * helpers, descriptors, lkt_shared) is in lktest.h.
 *
 * The process backend forks its workers when the invoker is made, so a test
 * that wants to see what the workers do (counters, pids, flags) keeps that
 * state in a MAP_SHARED page made with lkt_shared() BEFORE the invoker:
 * ordinary memory written in a worker stays in the worker. */
#ifndef PROCSTEST_H
#define PROCSTEST_H

#include "lktest.h"

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

/* ---- memory, from /proc ---- */

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
