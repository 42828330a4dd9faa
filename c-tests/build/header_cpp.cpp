// The header from C++17: it compiles, its functions have C linkage (this
// program links against the library), and the callback types accept
// C++ functions and captureless lambdas.
#include "lkparallel.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {
std::atomic<int> calls{0};

extern "C" int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *static_cast<uint64_t *>(result) = *static_cast<const uint64_t *>(arg) + 1;
    calls++;
    return 0;
}
}  // namespace

int main() {
    std::vector<uint64_t> args(100), results(100);
    for (size_t i = 0; i < args.size(); i++) args[i] = i;
    lk_invoker *inv = nullptr;
    if (lk_invoker_new(nullptr, op, 2, &inv) != LK_OK) return 1;
    if (lk_invoker_map(inv, args.data(), args.size(), sizeof(uint64_t), results.data(), sizeof(uint64_t)) != LK_OK)
        return 2;
    for (size_t i = 0; i < args.size(); i++)
        if (results[i] != i + 1) return 3;
    if (lk_invoker_shutdown(inv) != LK_OK) return 4;

    lk_op_fn lambda = [](const void *, const void *, void *result, const lk_task *task) -> int32_t {
        *static_cast<size_t *>(result) = task->index;
        return 0;
    };
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = 2;
    if (lk_invoker_new_with(nullptr, lambda, &o, &inv) != LK_OK) return 5;
    std::vector<size_t> idx(50);
    if (lk_invoker_map(inv, nullptr, idx.size(), 0, idx.data(), sizeof(size_t)) != LK_OK) return 6;
    for (size_t i = 0; i < idx.size(); i++)
        if (idx[i] != i) return 7;
    if (lk_invoker_shutdown(inv) != LK_OK) return 8;
    lk_status s = lk_invoker_shutdown(inv);
    if (s != LK_ERR_INVALID || std::strlen(lk_last_error()) == 0) return 9;
    if (std::strcmp(lk_version(), LKPARALLEL_VERSION) != 0) return 10;
    if (calls.load() != 100) return 11;
    std::printf("build_header_cpp: ok\n");
    return 0;
}
