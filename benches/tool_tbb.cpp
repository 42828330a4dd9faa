// tool_tbb.cpp: the oneTBB peer. A task_arena of n_jobs slots (one reserved
// for the calling thread, as by default) made once, and tbb::parallel_for
// over a blocked_range with the default auto_partitioner inside it: what a
// C++ user of Debian's libtbb-dev would write.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>

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
                lk_task task = {i, 0, worker};
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

}  // namespace

extern "C" const bench_tool bench_tool_tbb = {"tbb", tbb_setup, tbb_run, tbb_teardown};
