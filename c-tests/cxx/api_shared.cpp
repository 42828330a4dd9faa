// lk::shared_vector (lk::shared_allocator over lk_shared_alloc): a process
// invoker made after the first allocation reads its arguments and, through
// map_into, writes its results in place (the callable sees the vector's own
// elements); the results are right; the allocator behaves as a standard one
// (equal instances, rebinding, growth, allocate(0)); both backends.
#include "cxx/cxxtest.hpp"

#include <cstdint>
#include <vector>

int main() {
    lk::shared_vector<std::uint64_t> args(50000);
    for (std::size_t i = 0; i < args.size(); i++) args[i] = i * 3;
    CHECK(reinterpret_cast<std::uintptr_t>(args.data()) % 64 == 0);
    // Where each item found its argument: 1 when it was the vector's own element.
    lk::shared_vector<std::uint64_t> own(args.size());
    const std::uint64_t *base = args.data();
    std::uint64_t *seen = own.data();
    for (lk::backend backend : {lk::backend::threads, lk::backend::processes}) {
        lk::options o(2);
        o.backend = backend;
        lk::invoker inv(
            [base, seen](const std::uint64_t &a, const lk::task &t) {
                seen[t.index] = &a == base + t.index;
                return a + 1;
            },
            o);
        lk::shared_vector<std::uint64_t> results(args.size());
        std::fill(own.begin(), own.end(), 0);
        inv.map_into(args, results);
        for (std::size_t i = 0; i < args.size(); i++) {
            CHECK(results[i] == i * 3 + 1);
            CHECK(own[i] == 1);
        }
    }

    // A standard allocator: growth keeps the elements, rebinding, equality, size 0.
    lk::shared_vector<int> grow;
    for (int i = 0; i < 100000; i++) grow.push_back(i);
    for (int i = 0; i < 100000; i++) CHECK(grow[static_cast<std::size_t>(i)] == i);
    lk::shared_allocator<double> d;
    lk::shared_allocator<int> from_d(d);
    CHECK(d == from_d && !(d != from_d));
    int *p = from_d.allocate(0);
    int *q = from_d.allocate(0);
    CHECK(p != nullptr && q != nullptr && p != q);
    from_d.deallocate(p, 0);
    from_d.deallocate(q, 0);
    bool threw = false;
    try {
        (void)d.allocate(static_cast<std::size_t>(-1) / 16);
    } catch (const lk::error &e) {
        threw = e.status() == LK_ERR_SYSTEM;
    }
    CHECK(threw);
    return 0;
}
