/*
 * bench.h: what the benchmark's workloads and tools share.
 *
 * A workload is one callback (an lk_op_fn), its model and its argument
 * array. A tool runs a workload's callback over a range of its arguments:
 * a sequential loop, lkparallel (threads and processes backends), OpenMP,
 * oneTBB or a hand-written pthread pool. Every tool calls the same function
 * pointer with the same (model, arg, result, task), so the only difference
 * measured is how the items are dispatched.
 */
#ifndef LK_BENCH_H
#define LK_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "lkparallel.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_work {
    const char *name;
    lk_op_fn op;        /* the callback every tool calls, through this pointer */
    const void *model;  /* passed as `model`; shared, read-only */
    const void *args;   /* n_items arguments of arg_size bytes */
    size_t n_items;
    size_t arg_size;
    size_t result_size;
    size_t chunk;       /* chunk for OpenMP schedule(dynamic) and the pthread pool */
    size_t repeat;      /* maps back to back per timed batch (1; trivial_cached: 200) */
    int trivial_body;   /* 1: `op` is result = arg * 2 + 1 on u64, so the tools that
                           inline that body (lk_range, omp_inline, lk_cxx, tbb_lambda)
                           may run it */
} bench_work;

/* Streams (lk_stream, tbb_pipeline): the window, in items, per worker: a
   few chunks of BENCH_STREAM_BATCH items each. The oneTBB pipeline gets the
   same number of items in flight: window live tokens of one item, or
   window / BENCH_STREAM_BATCH tokens of BENCH_STREAM_BATCH items. */
#define BENCH_STREAM_BATCH 64
#define BENCH_STREAM_WINDOW_PER_JOB (4 * BENCH_STREAM_BATCH)

/* Tool status codes (setup). */
#define BENCH_OK 0
#define BENCH_NA 1      /* not available (yet): the column shows n/a */
#define BENCH_ERROR (-1)

typedef struct bench_tool {
    const char *name;
    /* Prepare to run `w` with `n_jobs` workers (threads, pools, invokers are
       made here, outside the timed region). On BENCH_NA or BENCH_ERROR,
       `why` says why. */
    int (*setup)(const bench_work *w, int n_jobs, char *why, size_t why_len);
    /* Run the callback for items [0, n) of `w` (args from w->args), writing
       `results` (n slots of w->result_size). 0 on success; non-zero when a
       callback or the tool failed (then `why` says why). */
    int (*run)(const bench_work *w, size_t n, void *results, char *why, size_t why_len);
    void (*teardown)(void);
    /* Where the harness puts this tool's result arrays (NULL: malloc);
       called after setup, never freed (they live until exit). */
    void *(*alloc_results)(size_t bytes);
} bench_tool;

extern const bench_tool bench_tool_seq;
extern const bench_tool bench_tool_lk_threads;
extern const bench_tool bench_tool_lk_processes;
extern const bench_tool bench_tool_lk_noseed;
extern const bench_tool bench_tool_lk_static;        /* lkbench_static only */
extern const bench_tool bench_tool_lk_static_noseed; /* lkbench_static only */
extern const bench_tool bench_tool_omp_static;
extern const bench_tool bench_tool_omp_dynamic;
extern const bench_tool bench_tool_tbb;
extern const bench_tool bench_tool_pthread_pool;
/* The trivial body inlined into the caller's loop (trivial_body workloads only). */
extern const bench_tool bench_tool_lk_range;        /* C range invoker, threads */
extern const bench_tool bench_tool_lk_proc_range;   /* C range invoker, processes */
extern const bench_tool bench_tool_lk_proc_shared;  /* the same over arrays from lk_shared_alloc */
extern const bench_tool bench_tool_omp_inline;      /* OpenMP static, body inlined */
extern const bench_tool bench_tool_lk_cxx;          /* lkparallel.hpp lambda (tool_cxx.cpp) */
extern const bench_tool bench_tool_lk_cxx_noseed;   /* the same, lk::seeds::off */
extern const bench_tool bench_tool_tbb_lambda;      /* oneTBB parallel_for, the same lambda */
/* Streams: source copies the arguments in, sink copies the results out. */
extern const bench_tool bench_tool_lk_stream;       /* window BENCH_STREAM_WINDOW_PER_JOB x n_jobs */
extern const bench_tool bench_tool_lk_stream_auto;  /* window 0: the library's */
extern const bench_tool bench_tool_lk_proc_stream;  /* lk_stream on LK_BACKEND_PROCESSES */
extern const bench_tool bench_tool_tbb_pipeline;    /* parallel_pipeline, one item per token */
extern const bench_tool bench_tool_tbb_pipeline_batched; /* tokens of BENCH_STREAM_BATCH items */
/* Latency: one worker process woken by a futex, no library. */
extern const bench_tool bench_tool_futex_pingpong;

/* The process workloads (sp.c): measure `workload` with `tool` once and
   put the value (us per call or seconds) in *value. BENCH_OK, BENCH_NA or
   BENCH_ERROR (then `why` says why); wrong results are BENCH_ERROR. */
int bench_sp_measure(const char *workload, const char *tool, int n_jobs, size_t calls,
                     double *value, char *why, size_t why_len);

#ifdef __cplusplus
}

#include <cstdint>

/* The trivial body as the lambda both C++ tools (lk_cxx, tbb_lambda) call. */
inline constexpr auto bench_trivial_lambda = [](const std::uint64_t &x) { return x * 2 + 1; };
#endif

#endif /* LK_BENCH_H */
