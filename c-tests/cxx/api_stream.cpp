// lkparallel.hpp: invoker::stream over iterators, ranges and generators into
// sink callables and output iterators: every item exactly once, in order,
// never more than a window read ahead; the callable's, the input's and the
// output's exceptions name the item; both backends, n_jobs 1, 2 and 4;
// types that are not trivially copyable (boxed) too.
#include "cxx/cxxtest.hpp"

#include <atomic>
#include <cstdint>
#include <iterator>
#include <list>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

static lk::options make_opts(int jobs, lk::backend backend, lk::error_mode mode = lk::error_mode::fail_fast) {
    lk::options o(jobs);
    o.backend = backend;
    o.error_mode = mode;
    return o;
}

static const lk::backend backends[] = {lk::backend::threads, lk::backend::processes};
static const int job_counts[] = {1, 2, 4};

// A generator of 0 .. n-1 that checks the window: when it is asked for an
// item, fewer than `window` items are read and not yet handed to the sink.
struct counting_input {
    std::size_t n, window;
    std::size_t generated = 0;
    const std::size_t *sunk;
    bool over = false;
    std::optional<long> operator()() {
        if (generated == n) return std::nullopt;
        if (generated - *sunk >= window) over = true;
        return static_cast<long>(generated++);
    }
};

static void order_exactly_once_and_window() {
    for (lk::backend backend : backends) {
        for (int jobs : job_counts) {
            lk::invoker inv([](const long &x) { return x * 3 + 1; }, make_opts(jobs, backend));
            for (std::size_t window : {std::size_t(1), std::size_t(3), std::size_t(64), std::size_t(0)}) {
                const std::size_t n = 5000;
                std::size_t sunk = 0;
                bool in_order = true;
                counting_input input{n, window == 0 ? SIZE_MAX : window, 0, &sunk};
                std::size_t count = inv.stream(
                    input,
                    [&](std::size_t index, const long &r) {
                        in_order = in_order && index == sunk && r == static_cast<long>(index) * 3 + 1;
                        ++sunk;
                    },
                    lk::stream_options{window, 0});
                CHECK(in_order);
                CHECK(count == n && sunk == n && input.generated == n);
                CHECK(!input.over);
            }
        }
    }
}

static void inputs_and_outputs() {
    lk::invoker inv([](const int &x) { return x + 0.5; }, 2);
    const std::vector<int> xs{1, 2, 3, 4, 5};

    // An iterator pair into an output iterator: returned past the last result.
    std::vector<double> out;
    auto it = inv.stream(xs.begin(), xs.end(), std::back_inserter(out));
    static_assert(std::is_same_v<decltype(it), std::back_insert_iterator<std::vector<double>>>);
    CHECK((out == std::vector<double>{1.5, 2.5, 3.5, 4.5, 5.5}));

    // A range (a std::list: not contiguous) into a plain pointer.
    std::list<int> lst(xs.begin(), xs.end());
    double arr[5] = {};
    double *end = inv.stream(lst, arr);
    CHECK(end == arr + 5 && arr[4] == 5.5);

    // A single-pass input: std::istream_iterator.
    std::istringstream text("10 20 30");
    std::vector<double> parsed;
    inv.stream(std::istream_iterator<int>(text), std::istream_iterator<int>(), std::back_inserter(parsed));
    CHECK((parsed == std::vector<double>{10.5, 20.5, 30.5}));

    // A sink without the index; a braced range; an empty input.
    double sum = 0;
    CHECK(inv.stream(xs, [&](const double &r) { sum += r; }) == 5);
    CHECK(sum == 17.5);
    CHECK(inv.stream(std::vector<int>{}, [](std::size_t, const double &) { CHECK(!"no items"); }) == 0);
    int calls = 0;
    CHECK(inv.stream([&]() -> std::optional<int> { calls++; return std::nullopt; },
                     [](const double &) { CHECK(!"no items"); }) == 0);
    CHECK(calls == 1); // never asked again after the end

    // A generator of another type (short, converted to int).
    short next = 0;
    std::vector<double> gen_out;
    inv.stream([&]() -> std::optional<short> { return next < 3 ? std::optional<short>(next++) : std::nullopt; },
               std::back_inserter(gen_out));
    CHECK((gen_out == std::vector<double>{0.5, 1.5, 2.5}));

    // A void Result: the sink takes the index, or nothing.
    std::atomic<long> total{0};
    lk::invoker<int, void> effects([&total](const int &x) { total += x; }, 2);
    std::vector<std::size_t> seen;
    CHECK(effects.stream(xs, [&](std::size_t i) { seen.push_back(i); }, lk::stream_options{2, 100}) == 5);
    CHECK((seen == std::vector<std::size_t>{100, 101, 102, 103, 104}));
    CHECK(total == 15);
    std::size_t acks = 0;
    effects.stream(xs, [&] { acks++; });
    CHECK(acks == 5 && total == 30);

    // A struct result with a model, and the task (index_base applied).
    struct scored {
        std::size_t index;
        double score;
    };
    const double model = 2.0;
    lk::invoker<int, scored> with_model(model, [](const double &m, const int &x, const lk::task &t) {
        return scored{t.index, m * x};
    }, 4);
    std::vector<scored> s;
    with_model.stream(xs, std::back_inserter(s), lk::stream_options{0, 7});
    CHECK(s.size() == 5 && s[0].index == 7 && s[4].index == 11 && s[4].score == 10.0);

    // An empty invoker refuses to stream.
    lk::invoker<int, double> empty;
    CHECK_THROWS(empty.stream(xs, [](const double &) {}), lk::error, e, e.status() == LK_ERR_INVALID);
}

static void seeds_are_a_maps() {
    // Item index_base + i gets the seed that index gets from a map in that place.
    for (lk::backend backend : backends) {
        const std::size_t n = 300, base = 1000;
        std::vector<int> xs(n, 0);
        lk::seed_init(77);
        lk::invoker map_inv([](const int &, const lk::task &t) { return t.seed; }, make_opts(2, backend));
        std::vector<std::uint64_t> mapped(n);
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.index_base = base;
        lk::check(lk_invoker_map_with(map_inv.get(), xs.data(), n, sizeof(int), mapped.data(), sizeof(std::uint64_t), &mo));
        lk::seed_init(77);
        lk::invoker stream_inv([](const int &, const lk::task &t) { return t.seed; }, make_opts(2, backend));
        std::vector<std::uint64_t> streamed;
        stream_inv.stream(xs, std::back_inserter(streamed), lk::stream_options{16, base});
        CHECK(streamed == mapped);
    }
}

static void item_exceptions() {
    const std::size_t n = 2000;
    std::vector<int> xs(n);
    for (std::size_t i = 0; i < n; i++) xs[i] = static_cast<int>(i);
    for (int jobs : job_counts) {
        // Fail fast: the sink has every item below the failing one, none after.
        lk::invoker inv([](const int &x) -> int {
            if (x == 777 || x == 1500) throw std::invalid_argument("bad " + std::to_string(x));
            return -x;
        }, jobs);
        std::vector<std::size_t> got;
        bool ok = true;
        try {
            inv.stream(xs, [&](std::size_t i, const int &r) {
                ok = ok && r == -static_cast<int>(i);
                got.push_back(i);
            }, lk::stream_options{32, 0});
            CHECK(!"no exception");
        } catch (const lk::item_error &e) {
            CHECK(e.index() == 777);
            CHECK(lkt_contains(e.what(), "item 777") && lkt_contains(e.what(), "bad 777"));
            CHECK_THROWS(e.rethrow_nested(), std::invalid_argument, orig, lkt_contains(orig.what(), "bad 777"));
        }
        CHECK(ok && got.size() == 777);
        for (std::size_t i = 0; i < got.size(); i++) CHECK(got[i] == i);

        // Keep going: every other item reaches the sink, then the lowest failing one is thrown.
        lk::invoker kg([](const int &x) -> int {
            if (x % 400 == 399) throw std::runtime_error("every 400th");
            return x;
        }, make_opts(jobs, lk::backend::threads, lk::error_mode::keep_going));
        std::size_t delivered = 0;
        CHECK_THROWS(kg.stream(xs, [&](std::size_t i, const int &) { CHECK((i - 10) % 400 != 399); delivered++; },
                               lk::stream_options{50, 10}),
                     lk::item_error, e, e.index() == 409 && lkt_contains(e.what(), "every 400th"));
        CHECK(delivered == n - 5);
        // The invoker stays usable.
        CHECK(inv.stream(std::vector<int>{1, 2}, [](const int &) {}) == 2);
    }
}

static void input_and_output_exceptions() {
    lk::invoker inv([](const int &x) { return x * 2; }, 2);
    // The input throws for item 5: items 0..4 still reach the output.
    int produced = 0;
    std::vector<int> out;
    try {
        inv.stream([&]() -> std::optional<int> {
            if (produced == 5) throw std::length_error("input broke");
            return produced++;
        }, std::back_inserter(out), lk::stream_options{0, 20});
        CHECK(!"no exception");
    } catch (const lk::stream_error &e) {
        CHECK(e.where() == lk::stream_error::origin::source);
        CHECK(e.index() == 25);
        CHECK(e.status() == LK_ERR_CALLBACK);
        CHECK(lkt_contains(e.what(), "input") && lkt_contains(e.what(), "25") && lkt_contains(e.what(), "input broke"));
        CHECK_THROWS(e.rethrow_nested(), std::length_error, orig, true);
    }
    CHECK((out == std::vector<int>{0, 2, 4, 6, 8}));

    // The output throws at item 3: the stream stops there.
    std::vector<int> xs(1000, 1);
    std::size_t calls = 0;
    try {
        inv.stream(xs, [&](std::size_t i, const int &) {
            calls++;
            if (i == 3) throw 17; // not a std::exception
        });
        CHECK(!"no exception");
    } catch (const lk::stream_error &e) {
        CHECK(e.where() == lk::stream_error::origin::sink && e.index() == 3);
        CHECK(lkt_contains(e.what(), "output") && lkt_contains(e.what(), "non-standard"));
        CHECK_THROWS(e.rethrow_nested(), int, v, v == 17);
    }
    CHECK(calls == 4);

    // Lowest index first: the callable fails at 10, the input at 20.
    lk::invoker failing([](const int &x) -> int {
        if (x == 10) throw std::runtime_error("ten");
        return x;
    }, 2);
    int k = 0;
    CHECK_THROWS(failing.stream([&]() -> std::optional<int> {
        if (k == 20) throw std::runtime_error("twenty");
        return k++;
    }, [](const int &) {}), lk::item_error, e, e.index() == 10);

    // A map or stream on the same invoker from the output: refused, as the output's exception.
    bool refused = false;
    try {
        inv.stream(xs, [&](const int &) { inv.map({1}); });
    } catch (const lk::stream_error &e) {
        refused = e.where() == lk::stream_error::origin::sink && e.index() == 0;
        CHECK_THROWS(e.rethrow_nested(), lk::error, inner, inner.status() == LK_ERR_UNSUPPORTED);
    }
    CHECK(refused);
    // Another invoker is fine.
    lk::invoker other([](const int &x) { return x + 1; }, 2);
    int total = 0;
    inv.stream(std::vector<int>{1, 2, 3}, [&](const int &r) { total += other.map({r})[0]; });
    CHECK(total == 15);
}

static void process_backend() {
    // An exception in a worker process cannot come back: lk::error naming the item.
    lk::invoker inv([](const int &x) -> int {
        if (x == 42) throw std::runtime_error("in a worker");
        return x;
    }, make_opts(2, lk::backend::processes));
    std::vector<int> xs(100);
    for (int i = 0; i < 100; i++) xs[std::size_t(i)] = i;
    std::size_t got = 0;
    try {
        inv.stream(xs, [&](std::size_t i, const int &r) { CHECK(r == int(i)); got++; });
        CHECK(!"no exception");
    } catch (const lk::item_error &) {
        CHECK(!"an item_error cannot come from a worker process");
    } catch (const lk::error &e) {
        CHECK(e.status() == LK_ERR_CALLBACK && lkt_contains(e.what(), "42"));
    }
    CHECK(got == 42);
    // Keep going: every other item arrives, then lk::error for the lowest.
    lk::invoker kg([](const int &x) -> int {
        if (x % 30 == 7) throw std::runtime_error("in a worker");
        return x;
    }, make_opts(2, lk::backend::processes, lk::error_mode::keep_going));
    got = 0;
    CHECK_THROWS(kg.stream(xs, [&](const int &) { got++; }), lk::error, e,
                 e.status() == LK_ERR_CALLBACK && lkt_contains(e.what(), "7"));
    CHECK(got == 96);
}

static void cancel_and_progress() {
    // Cancelled from the sink: lk::error(LK_ERR_CANCELLED); the invoker stays usable.
    lk::invoker<int, int> *self = nullptr;
    lk::invoker inv([](const int &x) { return x; }, 2);
    self = &inv;
    std::vector<int> xs(10000, 3);
    CHECK_THROWS(inv.stream(xs, [&](std::size_t i, const int &) {
        if (i == 100) self->cancel();
    }), lk::error, e, e.status() == LK_ERR_CANCELLED);
    CHECK(inv.stream(xs, [](const int &) {}) == xs.size());

    // Progress counts done items against those read so far, and ends at the total.
    std::atomic<std::size_t> last_done{0}, last_total{0};
    lk::options o(2);
    o.progress = [&](std::size_t done, std::size_t total) {
        CHECK(done <= total);
        last_done = done;
        last_total = total;
    };
    lk::invoker prog([](const int &x) { return x; }, o);
    prog.stream(xs, [](const int &) {});
    CHECK(last_done == xs.size() && last_total == xs.size());

    // A progress callable that throws: the stream is cancelled and rethrows it.
    lk::options bad(2);
    bad.progress = [](std::size_t, std::size_t) { throw std::runtime_error("progress gave up"); };
    lk::invoker gave_up([](const int &x) { return x; }, bad);
    CHECK_THROWS(gave_up.stream(xs, [](const int &) {}), std::runtime_error, e,
                 lkt_contains(e.what(), "progress gave up"));
}

static void concurrent_streams_keep_their_exceptions() {
    // Two threads stream on one invoker, each failing at its own item.
    lk::invoker inv([](const int &x) -> int {
        if (x == 1005 || x == 2017) throw std::runtime_error(std::to_string(x));
        return x;
    }, 4);
    std::atomic<int> good{0};
    auto run = [&](int tag) {
        std::vector<int> xs(300);
        for (int i = 0; i < 300; i++) xs[std::size_t(i)] = tag * 1000 + i;
        for (int rep = 0; rep < 10; rep++) {
            try {
                inv.stream(xs, [](const int &) {}, lk::stream_options{16, 0});
                if (tag == 3) good++;
            } catch (const lk::item_error &e) {
                if (tag == 1 && e.index() == 5 && lkt_contains(e.what(), "1005")) good++;
                if (tag == 2 && e.index() == 17 && lkt_contains(e.what(), "2017")) good++;
            }
        }
    };
    std::thread a(run, 1), b(run, 2), c(run, 3);
    a.join();
    b.join();
    c.join();
    CHECK(good == 30);
}

static void other_types_travel_boxed() {
    // std::string in, std::vector out: boxed (threads only), same guarantees.
    for (int jobs : job_counts) {
        lk::invoker inv([](const std::string &s, const lk::task &t) {
            if (s == "boom") throw std::runtime_error("boom at " + std::to_string(t.index));
            return std::vector<std::size_t>{s.size(), t.index};
        }, jobs);
        std::vector<std::string> words;
        for (int i = 0; i < 500; i++) words.push_back(std::string(std::size_t(i % 17), 'x'));
        for (std::size_t window : {std::size_t(2), std::size_t(0)}) {
            std::size_t expect = 0;
            bool ok = true;
            CHECK(inv.stream(words, [&](std::size_t i, const std::vector<std::size_t> &r) {
                ok = ok && i == expect && r.size() == 2 && r[0] == words[i].size() && r[1] == i;
                expect++;
            }, lk::stream_options{window, 0}) == words.size());
            CHECK(ok && expect == words.size());
        }
        // A map on the same invoker while a stream runs (from its output): not mistaken for a stream.
        lk::invoker<std::string, std::vector<std::size_t>> *self = &inv;
        std::size_t maps = 0;
        lk::invoker other([](const int &x) { return x; }, 2);
        std::thread mapper([&] {
            for (int rep = 0; rep < 20; rep++) {
                auto r = self->map(std::vector<std::string>{"ab", "c"});
                if (r[0][0] == 2 && r[1][0] == 1 && r[1][1] == 1) maps++;
            }
        });
        inv.stream(words, [&](const std::vector<std::size_t> &) {});
        mapper.join();
        CHECK(maps == 20);
        // Exceptions name the item, fail-fast and keep-going alike.
        std::vector<std::string> bad(100, "fine");
        bad[40] = bad[60] = "boom";
        std::size_t got = 0;
        CHECK_THROWS(inv.stream(bad, [&](const std::vector<std::size_t> &) { got++; }, lk::stream_options{8, 1000}),
                     lk::item_error, e, e.index() == 1040 && lkt_contains(e.what(), "boom at 1040"));
        CHECK(got == 40);
        lk::options kg(jobs);
        kg.error_mode = lk::error_mode::keep_going;
        lk::invoker<std::string, void> effects([](const std::string &s) {
            if (s == "boom") throw std::logic_error("boom");
        }, kg);
        got = 0;
        CHECK_THROWS(effects.stream(bad, [&](std::size_t) { got++; }), lk::item_error, e, e.index() == 40);
        CHECK(got == 98);
        // The input's exception: after the items before it.
        int k = 0;
        got = 0;
        CHECK_THROWS(inv.stream([&]() -> std::optional<std::string> {
            if (k == 7) throw std::runtime_error("no more words");
            return std::string(std::size_t(k++), 'y');
        }, [&](const std::vector<std::size_t> &) { got++; }), lk::stream_error, e,
                     e.where() == lk::stream_error::origin::source && e.index() == 7);
        CHECK(got == 7);
    }
}

int main(int argc, char **argv) {
    lkt_watchdog(120);
    // With an argument: only the part of that name (for debugging).
    const std::string only = argc > 1 ? argv[1] : "";
    struct part {
        const char *name;
        void (*run)();
    };
    const part parts[] = {
        {"order", order_exactly_once_and_window},
        {"inputs", inputs_and_outputs},
        {"seeds", seeds_are_a_maps},
        {"items", item_exceptions},
        {"ends", input_and_output_exceptions},
        {"processes", process_backend},
        {"cancel", cancel_and_progress},
        {"concurrent", concurrent_streams_keep_their_exceptions},
        {"boxed", other_types_travel_boxed},
    };
    for (const part &p : parts)
        if (only.empty() || only == p.name) p.run();
    std::printf("cxx_api_stream: ok\n");
    return 0;
}
