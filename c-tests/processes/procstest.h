/* Helpers only the process-backend tests (c-tests/processes/) use: making a
 * process invoker, memory figures from /proc (memfd mappings, PSS).
 * Everything the tests of other areas share too (checks, watchdogs, time,
 * /proc process helpers, descriptors, lkt_shared, pid sets) is in lktest.h.
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
    return lkt_options_on(LK_BACKEND_PROCESSES, n_jobs);
}

/* A process invoker with `n_jobs` workers (fail-fast, no callbacks). */
static inline lk_invoker *pt_new(const void *model, lk_op_fn fn, int32_t n_jobs) {
    lk_invoker_options o = pt_options(n_jobs);
    return lkt_new_with(model, fn, &o);
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

#endif
