// tool_tbb.cpp: the oneTBB peers. A task_arena of n_jobs slots (one reserved
// for the calling thread, as by default) made once, and inside it what a C++
// user of Debian's libtbb-dev would write:
//
//   tbb                   tbb::parallel_for over a blocked_range (default
//                         auto_partitioner), the workload's callback through
//                         its lk_op_fn pointer
//   tbb_lambda            the same loop calling bench_trivial_lambda, which
//                         the compiler inlines (trivial_body workloads only;
//                         lk_cxx in tool_cxx.cpp runs the same lambda)
//   tbb_pipeline          tbb::parallel_pipeline: a serial in-order input
//                         filter that copies an argument into a ring slot, a
//                         parallel filter that runs the callback on it, a
//                         serial in-order output filter that copies the result
//                         out; one item per token, BENCH_STREAM_WINDOW_PER_JOB
//                         x n_jobs live tokens (lk_stream's window)
//   tbb_pipeline_batched  the same with tokens of BENCH_STREAM_BATCH items and
//                         window / BENCH_STREAM_BATCH live tokens: the same
//                         items in flight, a per-token cost shared by a batch
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "bench.h"

namespace {

std::unique_ptr<tbb::task_arena> arena;

int tbb_setup(const bench_work *, int n_jobs, char *why, size_t why_len) {
    try {
        arena = std::make_unique<tbb::task_arena>(n_jobs);
        arena->initialize();
    } catch (const std::exception &e) {
        std::snprintf(why, why_len, "tbb::task_arena(%d): %s", n_jobs, e.what());
        return BENCH_ERROR;
    }
    return BENCH_OK;
}

int tbb_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    const lk_op_fn op = w->op;
    const void *model = w->model;
    const uint8_t *args = static_cast<const uint8_t *>(w->args);
    uint8_t *res = static_cast<uint8_t *>(results);
    const size_t as = w->arg_size, rs = w->result_size;
    std::atomic<size_t> failed_at{SIZE_MAX};
    std::atomic<int32_t> failed_code{0};
    arena->execute([&] {
        tbb::parallel_for(tbb::blocked_range<size_t>(0, n), [&](const tbb::blocked_range<size_t> &r) {
            const uint32_t worker = static_cast<uint32_t>(tbb::this_task_arena::current_thread_index());
            for (size_t i = r.begin(); i != r.end(); ++i) {
                lk_task task = {i, 0, worker, 0};
                int32_t rc = op(model, args + i * as, res + i * rs, &task);
                if (rc != 0) {
                    size_t cur = failed_at.load();
                    while (i < cur && !failed_at.compare_exchange_weak(cur, i)) {
                    }
                    failed_code.store(rc);
                }
            }
        });
    });
    if (failed_at.load() != SIZE_MAX) {
        std::snprintf(why, why_len, "callback failed at item %zu with %d", failed_at.load(),
                      static_cast<int>(failed_code.load()));
        return 1;
    }
    return 0;
}

void tbb_teardown() {
    arena.reset();
}

int tbb_lambda_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    if (!w->trivial_body) {
        std::snprintf(why, why_len, "tbb_lambda inlines the trivial body; %s has another", w->name);
        return BENCH_ERROR;
    }
    return tbb_setup(w, n_jobs, why, why_len);
}

int tbb_lambda_run(const bench_work *w, size_t n, void *results, char *, size_t) {
    const auto *args = static_cast<const std::uint64_t *>(w->args);
    auto *res = static_cast<std::uint64_t *>(results);
    const auto &f = bench_trivial_lambda;
    arena->execute([&] {
        tbb::parallel_for(tbb::blocked_range<size_t>(0, n), [&](const tbb::blocked_range<size_t> &r) {
            for (size_t i = r.begin(); i != r.end(); ++i)
                res[i] = f(args[i]);
        });
    });
    return 0;
}

// ---- parallel_pipeline: the stream's peer

int pipeline_jobs = 1;

int tbb_pipeline_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    pipeline_jobs = n_jobs;
    return tbb_setup(w, n_jobs, why, why_len);
}

// Tokens of `batch` items; `tokens` of them live at most. A token is the
// index of its first item; its arguments and results sit in ring slot
// (first / batch) % tokens: with in-order output, token k + tokens starts
// only after token k has left the output filter, so slots are never shared.
int pipeline_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len, size_t batch) {
    const size_t window = static_cast<size_t>(BENCH_STREAM_WINDOW_PER_JOB) * static_cast<size_t>(pipeline_jobs);
    const size_t tokens = window / batch > 0 ? window / batch : 1;
    const size_t as = w->arg_size, rs = w->result_size;
    std::vector<uint8_t> ring_args(tokens * batch * as), ring_res(tokens * batch * rs);
    const auto *args = static_cast<const uint8_t *>(w->args);
    auto *res = static_cast<uint8_t *>(results);
    const lk_op_fn op = w->op;
    const void *model = w->model;
    std::atomic<size_t> failed_at{SIZE_MAX};
    std::atomic<int32_t> failed_code{0};
    size_t next = 0;
    arena->execute([&] {
        tbb::parallel_pipeline(
            tokens,
            tbb::make_filter<void, size_t>(tbb::filter_mode::serial_in_order,
                                           [&](tbb::flow_control &fc) -> size_t {
                                               if (next >= n) {
                                                   fc.stop();
                                                   return 0;
                                               }
                                               const size_t first = next;
                                               const size_t k = n - first < batch ? n - first : batch;
                                               const size_t slot = (first / batch) % tokens;
                                               std::memcpy(&ring_args[slot * batch * as], args + first * as, k * as);
                                               next += k;
                                               return first;
                                           }) &
                tbb::make_filter<size_t, size_t>(
                    tbb::filter_mode::parallel,
                    [&](size_t first) -> size_t {
                        const uint32_t worker = static_cast<uint32_t>(tbb::this_task_arena::current_thread_index());
                        const size_t k = n - first < batch ? n - first : batch;
                        const size_t slot = (first / batch) % tokens;
                        for (size_t j = 0; j < k; ++j) {
                            lk_task task = {first + j, 0, worker, 0};
                            int32_t rc = op(model, &ring_args[(slot * batch + j) * as], &ring_res[(slot * batch + j) * rs],
                                            &task);
                            if (rc != 0) {
                                size_t cur = failed_at.load();
                                while (first + j < cur && !failed_at.compare_exchange_weak(cur, first + j)) {
                                }
                                failed_code.store(rc);
                            }
                        }
                        return first;
                    }) &
                tbb::make_filter<size_t, void>(tbb::filter_mode::serial_in_order, [&](size_t first) {
                    const size_t k = n - first < batch ? n - first : batch;
                    const size_t slot = (first / batch) % tokens;
                    std::memcpy(res + first * rs, &ring_res[slot * batch * rs], k * rs);
                }));
    });
    if (failed_at.load() != SIZE_MAX) {
        std::snprintf(why, why_len, "callback failed at item %zu with %d", failed_at.load(),
                      static_cast<int>(failed_code.load()));
        return 1;
    }
    return 0;
}

int tbb_pipeline_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    return pipeline_run(w, n, results, why, why_len, 1);
}

int tbb_pipeline_batched_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    return pipeline_run(w, n, results, why, why_len, BENCH_STREAM_BATCH);
}

}  // namespace

extern "C" const bench_tool bench_tool_tbb = {"tbb", tbb_setup, tbb_run, tbb_teardown, nullptr};
extern "C" const bench_tool bench_tool_tbb_lambda = {"tbb_lambda", tbb_lambda_setup, tbb_lambda_run, tbb_teardown, nullptr};
extern "C" const bench_tool bench_tool_tbb_pipeline = {"tbb_pipeline", tbb_pipeline_setup, tbb_pipeline_run,
                                                       tbb_teardown, nullptr};
extern "C" const bench_tool bench_tool_tbb_pipeline_batched = {"tbb_pipeline_batched", tbb_pipeline_setup,
                                                               tbb_pipeline_batched_run, tbb_teardown, nullptr};
