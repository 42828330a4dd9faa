// tool_cxx.cpp: lkparallel through its C++ layer (include/lkparallel.hpp),
// the peer of tbb_lambda in tool_tbb.cpp: the same lambda
// (bench_trivial_lambda), an lk::invoker<uint64_t, uint64_t> made once with
// n_jobs workers, and map_into the caller's result array. trivial_body
// workloads only.
//
//   lk_cxx         default options (per-item seeds, which the lambda never reads)
//   lk_cxx_noseed  lk::seeds::off
#include <cstdio>
#include <memory>

#include "bench.h"
#include "lkparallel.hpp"

namespace {

using trivial_invoker = lk::invoker<std::uint64_t, std::uint64_t>;
std::unique_ptr<trivial_invoker> inv;

int setup_with(const bench_work *w, int n_jobs, lk::seeds seeds, char *why, size_t why_len) {
    if (!w->trivial_body) {
        std::snprintf(why, why_len, "lk_cxx runs the trivial lambda; %s has another body", w->name);
        return BENCH_ERROR;
    }
    try {
        lk::options opts(n_jobs);
        opts.seeds = seeds;
        inv = std::make_unique<trivial_invoker>(bench_trivial_lambda, opts);
    } catch (const std::exception &e) {
        std::snprintf(why, why_len, "lk::invoker: %s", e.what());
        return BENCH_ERROR;
    }
    return BENCH_OK;
}

int cxx_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return setup_with(w, n_jobs, lk::seeds::per_item, why, why_len);
}

int cxx_noseed_setup(const bench_work *w, int n_jobs, char *why, size_t why_len) {
    return setup_with(w, n_jobs, lk::seeds::off, why, why_len);
}

int cxx_run(const bench_work *w, size_t n, void *results, char *why, size_t why_len) {
    try {
        inv->map_into(static_cast<const std::uint64_t *>(w->args), n, static_cast<std::uint64_t *>(results));
    } catch (const std::exception &e) {
        std::snprintf(why, why_len, "lk::invoker::map_into: %s", e.what());
        return 1;
    }
    return 0;
}

void cxx_teardown() {
    inv.reset();
}

}  // namespace

extern "C" const bench_tool bench_tool_lk_cxx = {"lk_cxx", cxx_setup, cxx_run, cxx_teardown, nullptr};
extern "C" const bench_tool bench_tool_lk_cxx_noseed = {"lk_cxx_noseed", cxx_noseed_setup, cxx_run, cxx_teardown, nullptr};
