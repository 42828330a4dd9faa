/*
 * lkbench: one measurement of one workload with one tool, in a fresh process.
 *
 *   lkbench calibrate
 *       print the spin iterations that take ~50 us here (done once per run
 *       of benches/run, and passed to every measurement with --iters)
 *   lkbench list
 *       one line per workload: name, unit, kind, the tools that run it
 *   lkbench run WORKLOAD TOOL --jobs N --iters N --ref FILE [--write-ref]
 *               [--items N] [--calls N]
 *       prints one line: "RESULT <value> <unit> <others>" or "NA <why>" (the
 *       tool is not available, e.g. a backend this build lacks); exits
 *       non-zero when anything fails, wrong results included. <others> is
 *       the share of the machine's CPU time that other processes used while
 *       this one measured (percent; -1 when the window was too short to
 *       tell): benches/run repeats a measurement that others disturbed.
 *
 * Map workloads (value: seconds for the whole batch): the tool is set up
 * (threads, arena, invoker made) outside the timed region, runs once on the
 * first 1/16 of the items to warm up, then on all of them, timed (a batch
 * shorter than 0.3 s is timed again until 0.3 s have passed, and gives the
 * median). Every output is compared with the sequential loop's output,
 * stored in the --ref file by the `seq` tool with --write-ref: a wrong run
 * fails the benchmark instead of looking fast.
 *
 * A workload with `repeat` > 1 (trivial_cached: 10^5 items, 200 maps back
 * to back) times `repeat` maps as one batch; before each map a few result
 * slots (the first, the last, one that moves) are poisoned and after it
 * they are compared with the reference, so every map must have run, and
 * the whole output is compared after each batch.
 *
 * Latency workloads (value: median microseconds per map call): maps of 1
 * or 8 trivial items, back to back (at least --calls of them and 0.3 s),
 * each call timed on its own and its results checked against the
 * sequential loop's.
 *
 * Oversubscription (n_jobs far above the CPU count; benches/run passes
 * --jobs CPUs, 64 and 1024): oversub_map2k and oversub_map20k are map
 * workloads of 2,000 and 20,000 trivial items; oversub_create (value:
 * seconds) makes the tool's pool (lk_invoker_new, the pthread pool's
 * threads, OpenMP's first team) and runs its first 2,000-item map, then
 * shuts it down, timed apart as oversub_shutdown (lk_invoker_shutdown,
 * joining the pthread pool; OpenMP keeps its team, so ~0), repeated for
 * 0.3 s and at least 3 times (medians);
 * oversub_idle (value: CPUs) is the process's CPU time per second of wall
 * time in the 0.3 s after a map, while nothing is asked of the pool:
 * workers that keep spinning show here.
 *
 * Process workloads (lk_run_sp, process-backend creation) live in sp.c.
 *
 * benches/run drives it: one process per (workload, tool, repetition), tools
 * interleaved, so no tool's idle threads (OpenMP and oneTBB spin after a
 * parallel region) can steal a core from another tool's measurement.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mf_model.h"
#include "timing.h"

/* -------------------------------------------------------------- utils */

/* How much CPU others used while we measured: /proc/stat's busy time for
   the whole machine minus our own. "Our own" is every process in our
   process group (this one, the process backend's workers and zygote, and
   what they reaped), read from /proc/<pid>/stat. */
typedef struct probe {
    double t, busy, own;
} probe;

static double group_cpu_seconds(void) {
    pid_t group = getpgrp();
    unsigned long long ticks = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0.0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%.32s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')'); /* after the command name, which may hold spaces */
        int pgrp;
        unsigned long long ut, st, cut, cst;
        if (p && sscanf(p + 2, "%*c %*d %d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &pgrp,
                        &ut, &st, &cut, &cst) == 5 &&
            pgrp == group)
            ticks += ut + st + cut + cst;
    }
    closedir(d);
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static probe probe_now(void) {
    probe p = {now_s(), -1.0, 0.0};
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[8] = {0};
    if (f) {
        if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]) == 8)
            p.busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
        fclose(f);
    }
    p.own = group_cpu_seconds();
    return p;
}

/* Percent of all CPUs' time used by others between a and b; -1 if unknown
   (no /proc/stat, or a window under 0.25 s, too short for its 10 ms ticks). */
static double others_pct(probe a, probe b) {
    double wall = b.t - a.t;
    if (a.busy < 0 || b.busy < 0 || wall < 0.25)
        return -1.0;
    double others = (b.busy - a.busy) - (b.own - a.own);
    double pct = 100.0 * others / (wall * (double)sysconf(_SC_NPROCESSORS_ONLN));
    return pct < 0 ? 0 : pct;
}

static void die(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "lkbench: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory%s%s", "", "");
    return p;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------- callbacks */

/* trivial: result = arg * 2 + 1 on u64 (dispatch overhead only) */
static int32_t trivial_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model, (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 2 + 1;
    return 0;
}

/* uniform and skewed: `iters` rounds of integer arithmetic on `x`, a
   dependent chain (multiply, shift, rotate) that no compiler can shorten. */
typedef struct spin_arg {
    uint64_t x;
    uint64_t iters;
} spin_arg;

static uint64_t spin(uint64_t x, uint64_t iters) {
    uint64_t a = x | 1, b = x ^ UINT64_C(0x6a09e667f3bcc909);
    for (uint64_t i = 0; i < iters; i++) {
        a = a * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        b ^= a >> 29;
        b = ((b << 7) | (b >> 57)) + a;
    }
    return a ^ b;
}

static int32_t spin_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model, (void)task;
    const spin_arg *s = arg;
    *(uint64_t *)result = spin(s->x, s->iters);
    return 0;
}

/* Spin iterations for ~50 us, rounded to the nearest. */
static uint64_t calibrate_50us(void) {
    return calibrate_spin(spin, 50e-6, 0.5);
}

/* ---------------------------------------------------------- workloads */

enum { KIND_MAP, KIND_LATENCY, KIND_PROC, KIND_CREATE, KIND_IDLE };

#define MAP_TOOLS "seq lk_threads lk_processes omp_static omp_dynamic tbb pthread_pool"
/* The trivial body inlined into the caller's loop: range invokers, the C++
   layer's lambda, and their OpenMP and oneTBB peers. */
#define INLINE_TOOLS "lk_range lk_proc_range lk_proc_shared lk_cxx lk_cxx_noseed omp_inline tbb_lambda"
#define OVERSUB_TOOLS "lk_threads pthread_pool omp_static"

typedef struct workload {
    const char *name;
    const char *unit;   /* "s" per batch, "us" per call, "cpus" busy */
    size_t default_items;
    int kind;
    const char *tools;  /* the tools that run it (`lkbench list` tells benches/run) */
    size_t repeat;      /* maps per timed batch (0: 1) */
} workload;

static const workload WORKLOADS[] = {
    {"trivial", "s", 10000000, KIND_MAP, MAP_TOOLS " lk_noseed lk_static lk_static_noseed " INLINE_TOOLS, 0},
    {"trivial_cached", "s", 100000, KIND_MAP, MAP_TOOLS " lk_noseed " INLINE_TOOLS, 200},
    {"uniform", "s", 20000, KIND_MAP, MAP_TOOLS, 0},
    {"skewed", "s", 20000, KIND_MAP, MAP_TOOLS, 0},
    {"recommend", "s", MF_N_USERS, KIND_MAP, MAP_TOOLS, 0},
    {"latency1", "us", 1, KIND_LATENCY, MAP_TOOLS " lk_range lk_proc_range futex_pingpong", 0},
    {"latency8", "us", 8, KIND_LATENCY, MAP_TOOLS " lk_range lk_proc_range futex_pingpong", 0},
    {"stream_20us", "s", 200000, KIND_MAP,
     "seq lk_threads lk_stream lk_stream_auto lk_proc_stream tbb_pipeline tbb_pipeline_batched", 0},
    {"oversub_create", "s", 2000, KIND_CREATE, OVERSUB_TOOLS, 0},
    {"oversub_shutdown", "s", 2000, KIND_CREATE, OVERSUB_TOOLS, 0},
    {"oversub_map2k", "s", 2000, KIND_MAP, "seq " OVERSUB_TOOLS, 0},
    {"oversub_map20k", "s", 20000, KIND_MAP, "seq " OVERSUB_TOOLS, 0},
    {"oversub_idle", "cpus", 2000, KIND_IDLE, OVERSUB_TOOLS, 0},
    /* sp.c */
    {"sp_roundtrip", "us", 0, KIND_PROC, "lk_run_sp fork_pipe", 0},
    {"sp_result_1gib", "s", 0, KIND_PROC, "lk_run_sp fork_memfd_write fork_memfd_mmap memcpy", 0},
    {"proc_create_1gib", "s", 0, KIND_PROC, "lk_processes fork_ready", 0},
};

static const bench_tool *const TOOLS[] = {
    &bench_tool_seq,          &bench_tool_lk_threads,          &bench_tool_lk_processes,
    &bench_tool_omp_static,   &bench_tool_omp_dynamic,         &bench_tool_tbb,
    &bench_tool_pthread_pool, &bench_tool_lk_noseed,           &bench_tool_lk_static,
    &bench_tool_lk_static_noseed,
    &bench_tool_lk_range,     &bench_tool_lk_proc_range,       &bench_tool_lk_proc_shared,
    &bench_tool_omp_inline,
    &bench_tool_lk_cxx,       &bench_tool_lk_cxx_noseed,       &bench_tool_tbb_lambda,
    &bench_tool_lk_stream,    &bench_tool_lk_stream_auto,      &bench_tool_lk_proc_stream,
    &bench_tool_tbb_pipeline, &bench_tool_tbb_pipeline_batched, &bench_tool_futex_pingpong,
};

/* lkbench links liblkparallel.so, lkbench_static (built with LKBENCH_STATIC)
   liblkparallel.a; the lk_static tools belong to the second, and the
   other lkparallel tools to the first, so no column mixes the two. */
static int tool_fits_binary(const char *name) {
    int is_static_tool = strncmp(name, "lk_static", 9) == 0;
#ifdef LKBENCH_STATIC
    return is_static_tool || strncmp(name, "lk_", 3) != 0;
#else
    return !is_static_tool;
#endif
}

/* Is `tool` one of the space-separated `tools`? */
static int has_tool(const char *tools, const char *tool) {
    size_t n = strlen(tool);
    for (const char *p = tools; (p = strstr(p, tool)) != NULL; p += n)
        if ((p == tools || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return 1;
    return 0;
}

/* Build `w` for workload `name`; the model and arrays live until exit. */
static void build_work(const workload *wl, size_t n, uint64_t iters, bench_work *w) {
    memset(w, 0, sizeof *w);
    w->name = wl->name;
    w->n_items = n;
    w->repeat = wl->repeat ? wl->repeat : 1;
    if (!strncmp(wl->name, "trivial", 7) || !strncmp(wl->name, "oversub_", 8) || wl->kind == KIND_LATENCY) {
        uint64_t *args = xmalloc(n * sizeof *args);
        for (size_t i = 0; i < n; i++)
            args[i] = i;
        w->op = trivial_op;
        w->trivial_body = 1;
        w->args = args;
        w->arg_size = w->result_size = sizeof(uint64_t);
        w->chunk = wl->kind == KIND_LATENCY ? 1 : 16384; /* ~20-40 us of trivial items per claim */
        if (n < 16 * w->chunk && wl->kind != KIND_LATENCY)
            w->chunk = n / 16 ? n / 16 : 1; /* small maps: still 16 claims */
    } else if (!strcmp(wl->name, "uniform") || !strcmp(wl->name, "skewed") || !strcmp(wl->name, "stream_20us")) {
        int skewed = wl->name[0] == 's' && wl->name[1] == 'k';
        /* stream_20us: every item 0.4 x the ~50 us calibration */
        double scale = !strcmp(wl->name, "stream_20us") ? 0.4 : 1.0;
        spin_arg *args = xmalloc(n * sizeof *args);
        uint64_t state = skewed ? UINT64_C(0x5ce5ed) : UINT64_C(0x0f1f0);
        /* skewed: Pareto(alpha 1.3) weights with mean 1 (heavy-tailed, like
           users' profile lengths), capped at 500x the mean, shuffled as drawn */
        const double alpha = 1.3, xm = (alpha - 1.0) / alpha;
        for (size_t i = 0; i < n; i++) {
            args[i].x = splitmix64(&state);
            double weight = 1.0;
            if (skewed) {
                double u = ((double)(splitmix64(&state) >> 11) + 1.0) / 9007199254740992.0; /* (0, 1] */
                weight = xm * pow(u, -1.0 / alpha);
                if (weight > 500.0)
                    weight = 500.0;
            }
            uint64_t it = (uint64_t)(scale * weight * (double)iters + 0.5);
            args[i].iters = it ? it : 1;
        }
        w->op = spin_op;
        w->args = args;
        w->arg_size = sizeof(spin_arg);
        w->result_size = sizeof(uint64_t);
        w->chunk = 1; /* items of 50 us and more: claiming one costs ~0.1 us */
    } else if (!strcmp(wl->name, "recommend")) {
        static mf_model model;
        if (mf_model_init(&model, MF_N_USERS, MF_N_ITEMS, MF_N_FACTORS, MF_SEED) != 0)
            die("out of memory building the model%s%s", "", "");
        int32_t *users = xmalloc(n * sizeof *users);
        for (size_t i = 0; i < n; i++)
            users[i] = (int32_t)(i % MF_N_USERS);
        w->op = mf_recommend_op;
        w->model = &model;
        w->args = users;
        w->arg_size = sizeof(int32_t);
        w->result_size = sizeof(mf_top);
        w->chunk = 1; /* ~80 us per user */
    } else {
        die("unknown workload %s%s", wl->name, "");
    }
}

/* ------------------------------------------------------- measurements */

static void *read_file(const char *path, size_t expect) {
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open the reference %s: %s (run the seq tool with --write-ref first)", path,
            strerror(errno));
    void *buf = xmalloc(expect);
    size_t got = fread(buf, 1, expect, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != expect || extra)
        die("the reference %s has the wrong size%s", path, "");
    return buf;
}

static void write_file(const char *path, const void *data, size_t len) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("cannot write %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0)
        die("cannot rename to %s: %s", path, strerror(errno));
}

static void check_same(const bench_work *w, const char *tool, const char *what, const void *got,
                       const void *ref, size_t n) {
    if (memcmp(got, ref, n * w->result_size) == 0)
        return;
    size_t i = 0;
    while (i < n && memcmp((const uint8_t *)got + i * w->result_size,
                           (const uint8_t *)ref + i * w->result_size, w->result_size) == 0)
        i++;
    fprintf(stderr, "lkbench: %s/%s: %s: result %zu of %zu differs from the sequential output\n",
            w->name, tool, what, i, n);
    exit(1);
}

/* Short batches (trivial) are timed several times in the process, until
   MIN_WINDOW seconds have passed, and give their median: a single 20 ms run
   is at the mercy of one scheduler hiccup, and the window is long enough to
   tell whether other processes were running (others_pct). */
#define MIN_WINDOW 0.3
#define MAX_INNER 15

static int cmp_double(const void *a, const void *b);

static double throughput(const bench_tool *tool, const bench_work *w, const char *ref_path,
                         int write_ref, double *others) {
    char why[1024] = "";
    size_t n = w->n_items, rs = w->result_size;
    void *(*alloc)(size_t) = tool->alloc_results ? tool->alloc_results : xmalloc;
    uint8_t *res = alloc(n * rs);
    memset(res, 0xa5, n * rs); /* also faults the pages in, outside the timing */
    if (write_ref) {
        /* the seq tool writes the reference once; its time is not used */
        double t0 = now_s();
        if (tool->run(w, n, res, why, sizeof why) != 0)
            die("run failed: %s%s", why, "");
        double t = now_s() - t0;
        write_file(ref_path, res, n * rs);
        *others = -1.0;
        return t;
    }
    size_t n_warm = n / 16 ? n / 16 : 1;
    uint8_t *warm = alloc(n_warm * rs);
    memset(warm, 0xa5, n_warm * rs);
    if (tool->run(w, n_warm, warm, why, sizeof why) != 0)
        die("warm-up run failed: %s%s", why, "");
    const uint8_t *ref = read_file(ref_path, n * rs);
    double times[MAX_INNER];
    int inner = 0;
    probe p0 = probe_now();
    do {
        double t0, t;
        if (w->repeat <= 1) {
            if (inner > 0)
                memset(res, 0xa5, n * rs);
            t0 = now_s();
            int rc = tool->run(w, n, res, why, sizeof why);
            t = now_s() - t0;
            if (rc != 0)
                die("run failed: %s%s", why, "");
        } else {
            /* maps back to back; a few poisoned slots show that each one ran */
            t0 = now_s();
            for (size_t r = 0; r < w->repeat; r++) {
                size_t pos[3] = {0, n - 1, ((size_t)inner * w->repeat + r) * 7919 % n};
                for (int k = 0; k < 3; k++)
                    memset(res + pos[k] * rs, 0xa5, rs);
                if (tool->run(w, n, res, why, sizeof why) != 0)
                    die("run failed: %s%s", why, "");
                for (int k = 0; k < 3; k++)
                    if (memcmp(res + pos[k] * rs, ref + pos[k] * rs, rs) != 0) {
                        fprintf(stderr, "lkbench: %s/%s: map %zu of a batch: result %zu differs from the "
                                "sequential output\n", w->name, tool->name, r, pos[k]);
                        exit(1);
                    }
            }
            t = now_s() - t0;
        }
        times[inner++] = t;
        check_same(w, tool->name, "timed run", res, ref, n);
    } while (inner < MAX_INNER && now_s() - p0.t < MIN_WINDOW);
    *others = others_pct(p0, probe_now());
    check_same(w, tool->name, "warm-up run", warm, ref, n_warm);
    qsort(times, (size_t)inner, sizeof *times, cmp_double);
    return inner % 2 ? times[inner / 2] : 0.5 * (times[inner / 2 - 1] + times[inner / 2]);
}

/* The sequential output of items [0, n) of `w`, computed here (for the
   workloads that have no --ref file). */
static uint8_t *expected_output(const bench_work *w, size_t n) {
    uint8_t *out = xmalloc(n * w->result_size);
    for (size_t i = 0; i < n; i++) {
        lk_task task = {i, 0, 0, 0};
        if (w->op(w->model, (const uint8_t *)w->args + i * w->arg_size, out + i * w->result_size, &task) != 0)
            die("the sequential run failed%s%s", "", "");
    }
    return out;
}

/* oversub_create: make the tool's pool and run its first map of all of
   `w`'s items (checked), timed; shut it down, timed apart; again until
   MIN_WINDOW seconds have passed (at least 3 times). The median of the
   first part, or with `shutdown` (oversub_shutdown) of the second. Returns
   -1 when the tool is not available (`why` says why). */
static double create_time(const bench_tool *tool, const bench_work *w, int jobs, int shutdown, double *others,
                          char *why, size_t why_len) {
    size_t n = w->n_items, rs = w->result_size;
    uint8_t *expect = expected_output(w, n);
    uint8_t *res = xmalloc(n * rs);
    double times[MAX_INNER];
    int inner = 0;
    probe p0 = probe_now();
    do {
        memset(res, 0xa5, n * rs);
        double t0 = now_s();
        int st = tool->setup(w, jobs, why, why_len);
        if (st == BENCH_NA)
            return -1.0;
        if (st != BENCH_OK)
            die("setup failed: %s%s", why, "");
        if (tool->run(w, n, res, why, why_len) != 0)
            die("first map failed: %s%s", why, "");
        double t1 = now_s();
        tool->teardown();
        times[inner++] = shutdown ? now_s() - t1 : t1 - t0;
        check_same(w, tool->name, "first map", res, expect, n);
    } while (inner < MAX_INNER && (inner < 3 || now_s() - p0.t < MIN_WINDOW));
    *others = others_pct(p0, probe_now());
    free(expect);
    free(res);
    qsort(times, (size_t)inner, sizeof *times, cmp_double);
    return inner % 2 ? times[inner / 2] : 0.5 * (times[inner / 2 - 1] + times[inner / 2]);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* oversub_idle: after a map (checked), the CPUs the process uses per second
   of wall time while the pool has nothing to do (IDLE_WINDOW seconds). */
#define IDLE_WINDOW 0.3

static double idle_cpus(const bench_tool *tool, const bench_work *w, double *others) {
    char why[1024] = "";
    size_t n = w->n_items, rs = w->result_size;
    uint8_t *expect = expected_output(w, n);
    uint8_t *res = xmalloc(n * rs);
    memset(res, 0xa5, n * rs);
    if (tool->run(w, n, res, why, sizeof why) != 0)
        die("map failed: %s%s", why, "");
    probe p0 = probe_now();
    double c0 = cpu_seconds(), t0 = now_s();
    struct timespec left = {0, (long)(IDLE_WINDOW * 1e9)};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
    double cpus = (cpu_seconds() - c0) / (now_s() - t0);
    *others = others_pct(p0, probe_now());
    check_same(w, tool->name, "map", res, expect, n);
    free(expect);
    free(res);
    return cpus;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double latency(const bench_tool *tool, const bench_work *w, size_t calls, double *others) {
    char why[1024] = "";
    size_t n = w->n_items;
    uint64_t expect[8], res[8];
    for (size_t i = 0; i < n; i++) {
        lk_task task = {i, 0, 0, 0};
        w->op(w->model, (const uint64_t *)w->args + i, &expect[i], &task);
    }
    /* at least `calls` timed calls, and at least MIN_WINDOW seconds of them */
    size_t warm = calls / 10 + 100, cap = calls, got = 0;
    double *us = xmalloc(cap * sizeof *us);
    probe p0 = probe_now();
    for (size_t c = 0; c < warm + calls || now_s() - p0.t < MIN_WINDOW; c++) {
        memset(res, 0, sizeof res);
        double t0 = now_s();
        int rc = tool->run(w, n, res, why, sizeof why);
        double t = now_s() - t0;
        if (rc != 0)
            die("call failed: %s%s", why, "");
        if (memcmp(res, expect, n * sizeof *res) != 0) {
            fprintf(stderr, "lkbench: %s/%s: call %zu: results differ from the sequential output\n",
                    w->name, tool->name, c);
            exit(1);
        }
        if (c < warm)
            continue;
        if (got == cap) {
            cap *= 2;
            us = realloc(us, cap * sizeof *us);
            if (!us)
                die("out of memory%s%s", "", "");
        }
        us[got++] = t * 1e6;
    }
    *others = others_pct(p0, probe_now());
    qsort(us, got, sizeof *us, cmp_double);
    double median = got % 2 ? us[got / 2] : 0.5 * (us[got / 2 - 1] + us[got / 2]);
    free(us);
    return median;
}

/* --------------------------------------------------------------- main */

static long parse_long(const char *s, const char *flag) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        die("bad value for %s: %s", flag, s);
    return v;
}

static void usage(void) {
    fprintf(stderr,
            "usage: lkbench calibrate\n"
            "       lkbench list      (workload unit kind tools...)\n"
            "       lkbench run WORKLOAD TOOL --jobs N --iters N --ref FILE [--write-ref]\n"
            "                   [--items N] [--calls N]\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2)
        usage();
    if (!strcmp(argv[1], "calibrate")) {
        printf("%llu\n", (unsigned long long)calibrate_50us());
        return 0;
    }
    if (!strcmp(argv[1], "list")) {
        static const char *kinds[] = {"map", "latency", "process", "create", "idle"};
        for (size_t i = 0; i < sizeof WORKLOADS / sizeof *WORKLOADS; i++)
            printf("%s %s %s %s\n", WORKLOADS[i].name, WORKLOADS[i].unit, kinds[WORKLOADS[i].kind],
                   WORKLOADS[i].tools);
        return 0;
    }
    if (strcmp(argv[1], "run") != 0 || argc < 4)
        usage();
    const workload *wl = NULL;
    for (size_t i = 0; i < sizeof WORKLOADS / sizeof *WORKLOADS; i++)
        if (!strcmp(WORKLOADS[i].name, argv[2]))
            wl = &WORKLOADS[i];
    if (!wl)
        die("unknown workload %s%s", argv[2], "");
    if (!has_tool(wl->tools, argv[3]))
        die("%s is not a tool for %s", argv[3], wl->name);
    const bench_tool *tool = NULL;
    for (size_t i = 0; i < sizeof TOOLS / sizeof *TOOLS; i++)
        if (!strcmp(TOOLS[i]->name, argv[3]))
            tool = TOOLS[i];
    if (!tool_fits_binary(argv[3]))
        die("%s is run by the other lkbench binary (lkbench / lkbench_static)%s", argv[3], "");

    long jobs = 2, iters = 0, items = 0, calls = 20000;
    const char *ref = NULL;
    int write_ref = 0;
    for (int a = 4; a < argc; a++) {
        if (!strcmp(argv[a], "--write-ref")) {
            write_ref = 1;
        } else if (a + 1 < argc) {
            const char *v = argv[++a];
            if (!strcmp(argv[a - 1], "--jobs"))
                jobs = parse_long(v, "--jobs");
            else if (!strcmp(argv[a - 1], "--iters"))
                iters = parse_long(v, "--iters");
            else if (!strcmp(argv[a - 1], "--items"))
                items = parse_long(v, "--items");
            else if (!strcmp(argv[a - 1], "--calls"))
                calls = parse_long(v, "--calls");
            else if (!strcmp(argv[a - 1], "--ref"))
                ref = v;
            else
                usage();
        } else {
            usage();
        }
    }

    if (jobs < 1 || calls < 1)
        die("--jobs and --calls must be at least 1%s%s", "", "");
    char why[1024] = "";
    if (wl->kind == KIND_PROC) {
        double value = 0;
        probe p0 = probe_now();
        int st = bench_sp_measure(wl->name, argv[3], (int)jobs, (size_t)calls, &value, why, sizeof why);
        double others = others_pct(p0, probe_now());
        if (st == BENCH_NA) {
            printf("NA %s\n", why);
            return 0;
        }
        if (st != BENCH_OK)
            die("%s/%s failed: %s", wl->name, why);
        printf("RESULT %.9g %s %.0f\n", value, wl->unit, others);
        return 0;
    }
    if (write_ref && strcmp(tool->name, "seq") != 0)
        die("only the seq tool writes the reference%s%s", "", "");
    if (wl->kind == KIND_MAP && !ref)
        die("--ref is needed for %s%s", wl->name, "");
    if (!iters)
        iters = (long)calibrate_50us();

    size_t n = wl->kind == KIND_LATENCY ? wl->default_items : (items ? (size_t)items : wl->default_items);
    bench_work w;
    build_work(wl, n, (uint64_t)iters, &w);
    double others = -1.0;

    if (wl->kind == KIND_CREATE) {
        int shutdown = strstr(wl->name, "shutdown") != NULL;
        double value = create_time(tool, &w, (int)jobs, shutdown, &others, why, sizeof why);
        if (value < 0) {
            printf("NA %s\n", why);
            return 0;
        }
        printf("RESULT %.9g %s %.0f\n", value, wl->unit, others);
        return 0;
    }

    int st = tool->setup(&w, (int)jobs, why, sizeof why);
    if (st == BENCH_NA) {
        printf("NA %s\n", why);
        return 0;
    }
    if (st != BENCH_OK)
        die("%s: setup failed: %s", tool->name, why);
    double value = wl->kind == KIND_LATENCY ? latency(tool, &w, (size_t)calls, &others)
                   : wl->kind == KIND_IDLE  ? idle_cpus(tool, &w, &others)
                                            : throughput(tool, &w, ref, write_ref, &others);
    tool->teardown();
    printf("RESULT %.9g %s %.0f\n", value, wl->unit, others);
    return 0;
}
