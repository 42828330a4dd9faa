// lkparallel.hpp invokers are range invokers (the callable compiled into the
// loop over each range): lk::task::seed equals the item API's task->seed for
// every index; a throwing item names itself, the lowest under keep-going;
// long ranges poll lk_range_stopped, so cancellation and fail-fast stop them
// promptly. Both backends, n_jobs 1, 2 and 4, several grains.
#include "cxx/cxxtest.hpp"

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

static const lk::backend backends[] = {lk::backend::threads, lk::backend::processes};
static const int job_counts[] = {1, 2, 4};

static lk::options make_opts(int jobs, lk::backend backend, lk::error_mode mode, std::size_t grain,
                             lk::seeds seeds = lk::seeds::per_item) {
    lk::options o(jobs);
    o.backend = backend;
    o.error_mode = mode;
    o.grain = grain;
    o.seeds = seeds;
    return o;
}

extern "C" int32_t item_seed(const void *, const void *, void *result, const lk_task *task) {
    static_cast<std::uint64_t *>(result)[0] = task->seed;
    static_cast<std::uint64_t *>(result)[1] = task->index;
    return 0;
}

struct seed_and_index {
    std::uint64_t seed, index;
};

// The seeds an item invoker made in the same place (first after lk_seed_init)
// gives: two maps, then one with index_base 1000.
static std::vector<seed_and_index> item_api_seeds(std::size_t n, lk::backend backend, int jobs, lk::seeds seeds) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.n_jobs = jobs;
    o.backend = static_cast<lk_backend>(backend);
    o.seeds = static_cast<lk_seeds>(seeds);
    lk_invoker *inv = nullptr;
    lk::check(lk_invoker_new_with(nullptr, item_seed, &o, &inv));
    std::vector<seed_and_index> out(3 * n);
    lk::check(lk_invoker_map(inv, nullptr, n, 0, out.data(), sizeof(seed_and_index)));
    lk::check(lk_invoker_map(inv, nullptr, n, 0, out.data() + n, sizeof(seed_and_index)));
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.index_base = 1000;
    lk::check(lk_invoker_map_with(inv, nullptr, n, 0, out.data() + 2 * n, sizeof(seed_and_index), &mo));
    lk::check(lk_invoker_shutdown(inv));
    return out;
}

static void seeds_equal_the_item_api() {
    const std::size_t n = 1500;
    std::vector<int> args(n, 0);
    for (lk::backend backend : backends) {
        for (int jobs : job_counts) {
            for (std::size_t grain : {std::size_t(0), std::size_t(1), std::size_t(37)}) {
                for (lk::seeds seeds : {lk::seeds::per_item, lk::seeds::off}) {
                    lk::seed_init(4242);
                    std::vector<seed_and_index> expected = item_api_seeds(n, backend, jobs, seeds);
                    lk::seed_init(4242);
                    lk::invoker inv([](const int &, const lk::task &t) { return seed_and_index{t.seed, t.index}; },
                                    make_opts(jobs, backend, lk::error_mode::fail_fast, grain, seeds));
                    std::vector<seed_and_index> got(3 * n);
                    inv.map_into(args.data(), n, got.data());
                    inv.map_into(args.data(), n, got.data() + n);
                    lk_map_options mo;
                    lk_map_options_init(&mo, sizeof mo);
                    mo.index_base = 1000;
                    lk::check(lk_invoker_map_with(inv.get(), args.data(), n, sizeof(int), got.data() + 2 * n,
                                                  sizeof(seed_and_index), &mo));
                    for (std::size_t i = 0; i < 3 * n; i++) {
                        CHECK(got[i].seed == expected[i].seed);
                        CHECK(got[i].index == expected[i].index);
                        CHECK(got[i].index == (i < 2 * n ? i % n : 1000 + i - 2 * n));
                        if (seeds == lk::seeds::off) CHECK(got[i].seed == 0);
                    }
                    if (seeds == lk::seeds::per_item) CHECK(got[0].seed != got[1].seed && got[0].seed != got[n].seed);
                }
            }
        }
    }
    // The model overload too (its callable takes the task).
    const double model = 1.0;
    lk::seed_init(99);
    std::vector<seed_and_index> expected = item_api_seeds(n, lk::backend::threads, 2, lk::seeds::per_item);
    lk::seed_init(99);
    lk::invoker<int, seed_and_index> with_model(
        model, [](const double &, const int &, const lk::task &t) { return seed_and_index{t.seed, t.index}; }, 2);
    std::vector<seed_and_index> got = with_model.map(args);
    for (std::size_t i = 0; i < n; i++) CHECK(got[i].seed == expected[i].seed);
}

static void keep_going_names_the_lowest_item() {
    const std::size_t n = 3000;
    std::vector<int> args(n);
    for (std::size_t i = 0; i < n; i++) args[i] = static_cast<int>(i);
    for (int jobs : job_counts) {
        for (std::size_t grain : {std::size_t(0), std::size_t(1), std::size_t(16), n}) {
            std::atomic<std::size_t> ran{0};
            lk::invoker inv([&ran](const int &x) -> int {
                ran++;
                if (x == 2999 || x == 1234 || x == 1235 || x == 13 || x == 700)
                    throw std::domain_error("bad item " + std::to_string(x));
                return x + 1;
            }, make_opts(jobs, lk::backend::threads, lk::error_mode::keep_going, grain));
            std::vector<int> out(n, -1);
            bool caught = false;
            try {
                inv.map_into(args.data(), n, out.data());
            } catch (const lk::item_error &e) {
                caught = true;
                CHECK(e.index() == 13);
                CHECK(lkt_contains(e.what(), "item 13") && lkt_contains(e.what(), "bad item 13"));
                CHECK_THROWS(e.rethrow_nested(), std::domain_error, orig, lkt_contains(orig.what(), "13"));
            }
            CHECK(caught);
            CHECK(ran == n); // every item ran, the rest of each range after a failure included
            for (std::size_t i = 0; i < n; i++)
                CHECK(out[i] == (i == 2999 || i == 1234 || i == 1235 || i == 13 || i == 700 ? -1 : int(i) + 1));
            // The invoker keeps no exception from this map: the next one succeeds.
            CHECK(inv.map({1, 2})[1] == 3);
        }
    }
    // Fail fast in order (n_jobs 1, one range): the items after the failure do not run.
    std::atomic<std::size_t> ran{0};
    lk::invoker one([&ran](const int &x) -> int {
        ran++;
        if (x >= 500) throw std::runtime_error("stop");
        return x;
    }, make_opts(1, lk::backend::threads, lk::error_mode::fail_fast, n));
    CHECK_THROWS(one.map(args), lk::item_error, e, e.index() == 500);
    CHECK(ran == 501);
}

// A counter every worker process shares.
static std::atomic<long> *shared_counter() {
    void *p = mmap(nullptr, sizeof(std::atomic<long>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    return new (p) std::atomic<long>(0);
}

static void long_ranges_stop_promptly() {
    // Two ranges of n/2 slow items each (grain n/2). Without polling, a range
    // would run to its end after the map stopped.
    const std::size_t n = 4000;
    std::vector<int> args(n);
    for (std::size_t i = 0; i < n; i++) args[i] = static_cast<int>(i);
    std::atomic<long> *ran = shared_counter();
    for (lk::backend backend : backends) {
        // Fail fast: item 0 throws at once; the other range stops at its next poll.
        ran->store(0);
        lk::invoker inv([ran](const int &x) -> int {
            ran->fetch_add(1);
            if (x == 0) throw std::runtime_error("first");
            usleep(200);
            return x;
        }, make_opts(2, backend, lk::error_mode::fail_fast, n / 2));
        CHECK_THROWS(inv.map(args), lk::error, e, e.status() == LK_ERR_CALLBACK && lkt_contains(e.what(), "0"));
        CHECK(ran->load() < long(n / 4));
    }
    // Cancelled from inside an item: every range stops at its next poll.
    ran->store(0);
    lk::invoker<int, int> *self = nullptr;
    lk::invoker inv([ran, &self](const int &x) -> int {
        if (ran->fetch_add(1) == 100) self->cancel();
        usleep(200);
        return x;
    }, make_opts(2, lk::backend::threads, lk::error_mode::fail_fast, n / 2));
    self = &inv;
    CHECK_THROWS(inv.map(args), lk::error, e, e.status() == LK_ERR_CANCELLED);
    CHECK(ran->load() < long(n / 4));
    // Keep-going failures never stop a range.
    ran->store(0);
    lk::invoker kg([ran](const int &x) -> int {
        ran->fetch_add(1);
        if (x % 100 == 0) throw std::runtime_error("often");
        return x;
    }, make_opts(2, lk::backend::threads, lk::error_mode::keep_going, n / 2));
    CHECK_THROWS(kg.map(args), lk::item_error, e, e.index() == 0);
    CHECK(ran->load() == long(n));
    munmap(static_cast<void *>(ran), sizeof(std::atomic<long>));
}

static void over_aligned_through_processes() {
    // alignof beyond what the library promises to keep (64): copied, still correct.
    struct alignas(128) wide {
        double v;
    };
    lk::options o(2);
    o.backend = lk::backend::processes;
    lk::invoker<wide, wide> inv([](const wide &w) { return wide{w.v * 2}; }, o);
    std::vector<wide> args(300);
    for (std::size_t i = 0; i < args.size(); i++) args[i].v = double(i);
    std::vector<wide> out = inv.map(args);
    for (std::size_t i = 0; i < out.size(); i++) CHECK(out[i].v == 2.0 * double(i));
}

int main() {
    lkt_watchdog(120);
    seeds_equal_the_item_api();
    keep_going_names_the_lowest_item();
    long_ranges_stop_promptly();
    over_aligned_through_processes();
    std::printf("cxx_api_range: ok\n");
    return 0;
}
