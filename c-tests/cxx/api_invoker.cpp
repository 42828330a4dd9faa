// lkparallel.hpp: maps with lambdas (captures, a model, the task), over every
// kind of contiguous range, with every kind of result, from several threads.
#include "cxx/cxxtest.hpp"

#include <array>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

struct Model {
    double scale;
    std::vector<double> bias;
};

static void deduction() {
    lk::invoker a([](const int &x) { return x * 0.5; });
    static_assert(std::is_same_v<decltype(a), lk::invoker<int, double>>);
    Model m{2.0, {}};
    lk::invoker b(m, [](const Model &mm, const long &x, const lk::task &) { return mm.scale * double(x); }, 2);
    static_assert(std::is_same_v<decltype(b), lk::invoker<long, double>>);
    lk::invoker c([](const std::string &s, const lk::task &) -> std::size_t { return s.size(); }, lk::options{});
    static_assert(std::is_same_v<decltype(c), lk::invoker<std::string, std::size_t>>);
    lk::invoker d([](const int &) {});
    static_assert(std::is_same_v<decltype(d), lk::invoker<int, void>>);
    static_assert(std::is_same_v<decltype(a.map(std::vector<int>{})), std::vector<double>>);
    static_assert(std::is_void_v<decltype(d.map(std::vector<int>{}))>);
}

static void captures_and_ranges() {
    const std::vector<double> weights{0.5, 1.5, 2.5};
    double offset = 10;
    // Captures by reference and by copy; the callable returns a double.
    lk::invoker inv([&weights, offset](const int &i) { return weights[std::size_t(i) % 3] + offset; }, 4);
    CHECK(inv);
    CHECK(inv.get() != nullptr);

    std::vector<int> args(1000);
    for (int i = 0; i < 1000; i++) args[std::size_t(i)] = i;
    std::vector<double> r = inv.map(args);
    CHECK(r.size() == 1000);
    for (std::size_t i = 0; i < r.size(); i++) CHECK(r[i] == weights[i % 3] + 10);

    std::array<int, 3> arr{2, 1, 0};
    CHECK((inv.map(arr) == std::vector<double>{12.5, 11.5, 10.5}));
    int carr[2] = {1, 2};
    CHECK((inv.map(carr) == std::vector<double>{11.5, 12.5}));
    CHECK((inv.map({0, 0}) == std::vector<double>{10.5, 10.5}));
    CHECK((inv.map(args.data() + 3, 2) == std::vector<double>{10.5, 11.5}));
    CHECK(inv.map(std::vector<int>{}).empty());
    CHECK(inv.map(static_cast<const int *>(nullptr), 0).empty());

    // Into caller storage, pointer and range forms.
    std::vector<double> out(3, -1.0);
    inv.map_into(arr.data(), arr.size(), out.data());
    CHECK((out == std::vector<double>{12.5, 11.5, 10.5}));
    std::array<double, 3> out2{};
    inv.map_into(std::vector<int>{0, 1, 2}, out2);
    CHECK(out2[0] == 10.5 && out2[2] == 12.5);
    CHECK_THROWS(inv.map_into(std::vector<int>{1, 2}, out2), lk::error, e, e.status() == LK_ERR_INVALID);
}

static void model_and_task() {
    Model model{3.0, {1.0, 2.0, 3.0, 4.0}};
    std::vector<std::uint64_t> seeds(64);
    lk::invoker inv(model, [&seeds](const Model &m, const int &x, const lk::task &t) {
        CHECK(t.worker < 3);
        seeds[t.index] = t.seed;
        return m.scale * x + m.bias[t.index % 4];
    }, 3);
    std::vector<int> args(64, 1);
    std::vector<double> r = inv.map(args);
    for (std::size_t i = 0; i < r.size(); i++) CHECK(r[i] == 3.0 + model.bias[i % 4]);
    for (std::size_t i = 1; i < seeds.size(); i++) CHECK(seeds[i] != seeds[0]);

    // The model is used in place: a change between maps is seen.
    model.scale = 0;
    CHECK(inv.map({5})[0] == 1.0);

    // seeds off: every t.seed is 0
    lk::options o(2);
    o.seeds = lk::seeds::off;
    lk::invoker unseeded([](const int &x, const lk::task &t) { return t.seed + static_cast<std::uint64_t>(x); }, o);
    std::vector<std::uint64_t> s = unseeded.map(std::vector<int>(100, 7));
    for (std::uint64_t v : s) CHECK(v == 7);
}

static void result_kinds() {
    // Non-trivial argument and result types (threads share memory).
    lk::invoker strings([](const std::string &s) { return s + "!"; }, 2);
    std::vector<std::string> r = strings.map(std::vector<std::string>{"a", "bc", ""});
    CHECK((r == std::vector<std::string>{"a!", "bc!", "!"}));

    // bool results come back as std::vector<bool>.
    lk::invoker odd([](const int &x) { return x % 2 == 1; }, 2);
    std::vector<bool> b = odd.map({1, 2, 3, 4});
    CHECK((b == std::vector<bool>{true, false, true, false}));

    // void results: only the side effects.
    std::atomic<int> sum{0};
    lk::invoker add([&sum](const int &x) { sum += x; }, 4);
    std::vector<int> ones(500, 1);
    add.map(ones);
    CHECK(sum == 500);

    // A struct result.
    struct pair { int a; double b; };
    lk::invoker<int, pair> mk([](const int &x) { return pair{x, x / 2.0}; }, 2);
    std::vector<pair> p = mk.map({4, 6});
    CHECK(p[1].a == 6 && p[1].b == 3.0);

    // A generic lambda, with the types given.
    lk::invoker<short, long> g([](const auto &x) { return long(x) * 1000; });
    CHECK(g.map({short(7)})[0] == 7000);

    // A plain function pointer, and a move-only callable.
    struct fns { static int twice(const int &x) { return 2 * x; } };
    lk::invoker fp(&fns::twice, 1);
    CHECK(fp.map({21})[0] == 42);
    auto owned = std::make_unique<int>(100);
    lk::invoker mo([p = std::move(owned)](const int &x) { return *p + x; }, 2);
    CHECK(mo.map({1, 2})[1] == 102);
}

static void n_jobs_kinds() {
    for (int jobs : {0, 1, 2, 8, -1}) {
        std::atomic<bool> seen_worker{false};
        lk::invoker inv([&seen_worker](const int &x) {
            if (lk::is_worker()) seen_worker = true;
            return x + 1;
        }, jobs);
        std::vector<int> args(200, 41);
        for (int v : inv.map(args)) CHECK(v == 42);
        if (jobs == 1) CHECK(!seen_worker);
    }
    CHECK(!lk::is_worker());
    CHECK(lk::proc_count() >= 1);
    CHECK(lk::proc_count(2, 4) <= 4);
    CHECK(lk::cpu_count() >= 1);
    CHECK(std::string(lk::version()) == LKPARALLEL_VERSION);
}

static void concurrent_and_nested() {
    lk::invoker inner([](const int &x) { return x * 2; }, 2);
    // The callable maps on another invoker (and could on its own).
    lk::invoker outer([&inner](const int &n) {
        std::vector<int> xs(std::size_t(n), 1);
        int total = 0;
        for (int v : inner.map(xs)) total += v;
        return total;
    }, 3);
    std::vector<int> ns{1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<std::thread> threads;
    std::atomic<int> good{0};
    for (int t = 0; t < 4; t++) {
        threads.emplace_back([&] {
            for (int rep = 0; rep < 10; rep++) {
                std::vector<int> r = outer.map(ns);
                bool ok = true;
                for (std::size_t i = 0; i < r.size(); i++) ok = ok && r[i] == 2 * ns[i];
                if (ok) good++;
            }
        });
    }
    for (auto &t : threads) t.join();
    CHECK(good == 40);
}

static void progress() {
    std::atomic<std::size_t> last_done{0}, last_total{0};
    std::atomic<int> calls{0};
    lk::options opts(2);
    opts.progress = [&](std::size_t done, std::size_t total) {
        calls++;
        last_done = done;
        last_total = total;
    };
    lk::invoker inv([](const int &x) { return x; }, opts);
    std::vector<int> args(300, 1);
    inv.map(args);
    CHECK(calls >= 1);
    CHECK(last_done == 300 && last_total == 300);
}

static void process_backend() {
    lk::options opts(2);
    opts.backend = lk::backend::processes;
    // Non-trivially-copyable types cannot cross a process boundary: refused up front.
    CHECK_THROWS((lk::invoker<std::string, int>([](const std::string &s) { return int(s.size()); }, opts)),
                 lk::error, e, e.status() == LK_ERR_INVALID && lkt_contains(e.what(), "trivially copyable"));
    const double factor = 1.5;
    lk::invoker inv([factor](const int &x) { return x * factor + (lk::is_mp_worker() ? 0 : 1000); }, opts);
    std::vector<int> args(100);
    for (int i = 0; i < 100; i++) args[std::size_t(i)] = i;
    std::vector<double> r = inv.map(args);
    CHECK(r.size() == args.size());
    for (std::size_t i = 0; i < r.size(); i++) CHECK(r[i] == double(i) * 1.5);
}

int main() {
    lkt_watchdog(60);
    deduction();
    captures_and_ranges();
    model_and_task();
    result_kinds();
    n_jobs_kinds();
    concurrent_and_nested();
    progress();
    process_backend();
    printf("cxx_api_invoker: ok\n");
    return 0;
}
