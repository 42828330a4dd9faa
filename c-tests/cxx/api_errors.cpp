// lkparallel.hpp: exceptions thrown by the callable come back from map as
// lk::item_error with the item's index and the original nested; failing
// statuses become lk::error with the status and the library's message.
#include "cxx/cxxtest.hpp"

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

struct custom_error : std::runtime_error {
    int code;
    custom_error(const std::string &what, int c) : std::runtime_error(what), code(c) {}
};

static std::vector<int> iota(int n) {
    std::vector<int> v(std::size_t(n), 0);
    for (int i = 0; i < n; i++) v[std::size_t(i)] = i;
    return v;
}

static void index_and_nested() {
    lk::invoker inv([](const int &x) -> int {
        if (x == 37) throw custom_error("thirty-seven", 37);
        return x;
    }, 4);
    std::vector<int> args = iota(100);
    bool caught = false;
    try {
        inv.map(args);
    } catch (const lk::item_error &e) {
        caught = true;
        CHECK(e.index() == 37);
        CHECK(e.status() == LK_ERR_CALLBACK);
        CHECK(lkt_contains(e.what(), "item 37"));
        CHECK(lkt_contains(e.what(), "thirty-seven"));
        CHECK(e.nested_ptr() != nullptr);
        // The original exception, with its type, is nested.
        CHECK_THROWS(e.rethrow_nested(), custom_error, orig, orig.code == 37);
        CHECK_THROWS(std::rethrow_if_nested(e), custom_error, orig, orig.code == 37);
    }
    CHECK(caught);
    // It is an lk::error and a std::exception too.
    CHECK_THROWS(inv.map(args), lk::error, e, e.status() == LK_ERR_CALLBACK);
    CHECK_THROWS(inv.map(args), std::exception, e, lkt_contains(e.what(), "item 37"));
    // The invoker stays usable.
    CHECK((inv.map({1, 2}) == std::vector<int>{1, 2}));
}

static void lowest_index() {
    // keep_going runs every item: the lowest throwing index is reported.
    lk::options opts(4);
    opts.error_mode = lk::error_mode::keep_going;
    std::atomic<int> ran{0};
    lk::invoker inv([&ran](const int &x) -> int {
        ran++;
        if (x % 50 == 10) throw std::runtime_error("item " + std::to_string(x));
        return x;
    }, opts);
    std::vector<int> args = iota(400);
    CHECK_THROWS(inv.map(args), lk::item_error, e, e.index() == 10 && lkt_contains(e.what(), "item 10"));
    CHECK(ran == 400);
    // One worker, fail fast: the first failure stops the map.
    ran = 0;
    lk::invoker one([&ran](const int &x) -> int {
        ran++;
        if (x >= 5) throw std::logic_error("five or more");
        return x;
    }, 1);
    CHECK_THROWS(one.map(args), lk::item_error, e, e.index() == 5);
    CHECK(ran == 6);
}

static void non_standard_exception() {
    lk::invoker inv([](const int &x) -> int {
        if (x == 2) throw 42;
        return x;
    }, 2);
    bool caught = false;
    try {
        inv.map({0, 1, 2, 3});
    } catch (const lk::item_error &e) {
        caught = true;
        CHECK(e.index() == 2);
        CHECK(lkt_contains(e.what(), "non-standard"));
        CHECK_THROWS(e.rethrow_nested(), int, v, v == 42);
    }
    CHECK(caught);
}

static void void_results_and_map_into() {
    lk::invoker inv([](const int &x) {
        if (x == 3) throw std::out_of_range("three");
    }, 3);
    CHECK_THROWS(inv.map({0, 1, 2, 3, 4}), lk::item_error, e, e.index() == 3);
    lk::invoker sq([](const int &x) -> long {
        if (x < 0) throw std::domain_error("negative");
        return long(x) * x;
    }, 2);
    std::vector<long> out(4, -7);
    CHECK_THROWS(sq.map_into(std::vector<int>{1, -2, 3, 4}, out), lk::item_error, e, e.index() == 1);
    CHECK(out[1] == -7); // the failed item's slot is left alone
}

static void concurrent_maps_keep_their_own_exceptions() {
    // Items are (map tag * 1000 + index); each map throws at its own index.
    lk::invoker inv([](const int &x) -> int {
        const int tag = x / 1000, index = x % 1000;
        if (tag == 1 && index == 5) throw std::runtime_error("from map one");
        if (tag == 2 && index == 7) throw std::runtime_error("from map two");
        return x;
    }, 4);
    std::atomic<int> good{0};
    auto run = [&](int tag) {
        std::vector<int> args(200);
        for (int i = 0; i < 200; i++) args[std::size_t(i)] = tag * 1000 + i;
        for (int rep = 0; rep < 30; rep++) {
            try {
                inv.map(args);
                if (tag == 3) good++;
            } catch (const lk::item_error &e) {
                if (tag == 1 && e.index() == 5 && lkt_contains(e.what(), "map one")) good++;
                if (tag == 2 && e.index() == 7 && lkt_contains(e.what(), "map two")) good++;
            }
        }
    };
    std::thread a(run, 1), b(run, 2), c(run, 3);
    a.join();
    b.join();
    c.join();
    CHECK(good == 90);
}

static void nested_item_errors() {
    lk::invoker inner([](const int &x) -> int {
        if (x == 4) throw std::runtime_error("inner four");
        return x;
    }, 2);
    lk::invoker outer([&inner](const int &n) {
        int total = 0;
        for (int v : inner.map(iota(n))) total += v;
        return total;
    }, 2);
    bool caught = false;
    try {
        outer.map({1, 3, 5, 2});
    } catch (const lk::item_error &e) {
        caught = true;
        CHECK(e.index() == 2); // outer item 2 maps 0..4
        CHECK_THROWS(e.rethrow_nested(), lk::item_error, in, in.index() == 4 && lkt_contains(in.what(), "inner four"));
    }
    CHECK(caught);
}

static void statuses() {
    // Bad options: lk::error with the status and the library's message.
    CHECK_THROWS(lk::invoker([](const int &x) { return x; }, -5), lk::error, e,
                 e.status() == LK_ERR_INVALID && std::string(e.what()) != "" &&
                     std::string(e.what()) != "LK_ERR_INVALID");
    lk::options bad;
    bad.backend = static_cast<lk::backend>(77);
    CHECK_THROWS(lk::invoker([](const int &x) { return x; }, bad), lk::error, e, e.status() == LK_ERR_INVALID);

    // An empty invoker refuses to map.
    lk::invoker<int, int> empty;
    CHECK(!empty);
    CHECK_THROWS(empty.map({1}), lk::error, e, e.status() == LK_ERR_INVALID);
    CHECK(empty.cancel() == LK_ERR_INVALID);
    empty.shutdown(); // a no-op

    // check() and status_name().
    CHECK_THROWS(lk::check(LK_ERR_TIMEOUT), lk::error, e, e.status() == LK_ERR_TIMEOUT);
    lk::check(LK_OK);
    CHECK(std::string(lk::status_name(LK_ERR_WORKER_DIED)) == "LK_ERR_WORKER_DIED");
    CHECK(std::string(lk::status_name(static_cast<lk_status>(99))) == "LK_ERR_UNKNOWN");
    CHECK(std::string(lk::error(LK_ERR_SYSTEM, "").what()) == "LK_ERR_SYSTEM");
}

static void progress_that_throws() {
    lk::options opts(2);
    opts.progress = [](std::size_t, std::size_t) { throw std::runtime_error("progress gave up"); };
    lk::invoker inv([](const int &x) { return x; }, opts);
    CHECK_THROWS(inv.map(iota(1000)), std::runtime_error, e, lkt_contains(e.what(), "progress gave up"));
    // The exception was taken by that map: another invoker's map on this
    // thread does not see it, and the invoker stays usable (and throws again).
    lk::invoker other([](const int &x) { return x + 1; }, 2);
    CHECK(other.map(iota(1000))[999] == 1000);
    CHECK_THROWS(inv.map(iota(10)), std::runtime_error, e, lkt_contains(e.what(), "progress gave up"));
}

static void shutdown_from_own_callable() {
    // shutdown() from inside the invoker's own callable is refused with lk::error.
    lk::invoker<int, int> *self = nullptr;
    lk::invoker inv([&self](const int &x) -> int {
        CHECK_THROWS(self->shutdown(), lk::error, e, e.status() == LK_ERR_INVALID);
        return x;
    }, 2);
    self = &inv;
    CHECK((inv.map({1, 2, 3}) == std::vector<int>{1, 2, 3}));
}

static std::atomic<int> logged_throw{0};
static void capture_log(lk_log_level, const char *, const char *message, void *) {
    if (lkt_contains(message, "item 3 threw") && lkt_contains(message, "in a worker process")) logged_throw++;
}

static void process_backend_exception() {
    // A worker process cannot send the exception object back: map throws
    // lk::error(LK_ERR_CALLBACK) naming the item, and the text is logged.
    lk_set_log_callback(capture_log, nullptr, LK_LOG_ERROR);
    lk::options opts(2);
    opts.backend = lk::backend::processes;
    lk::invoker inv([](const int &x) -> int {
        if (x == 3) throw std::runtime_error("in a worker process");
        return x;
    }, opts);
    bool caught = false;
    try {
        inv.map(iota(10));
    } catch (const lk::item_error &) {
        CHECK(!"an item_error cannot come from a worker process");
    } catch (const lk::error &e) {
        caught = true;
        CHECK(e.status() == LK_ERR_CALLBACK);
        CHECK(lkt_contains(e.what(), "3"));
    }
    CHECK(caught);
    lk_set_log_callback(nullptr, nullptr, LK_LOG_ERROR);
    CHECK(logged_throw == 1);
    CHECK((inv.map({1, 2}) == std::vector<int>{1, 2}));
}

int main() {
    lkt_watchdog(60);
    index_and_nested();
    lowest_index();
    non_standard_exception();
    void_results_and_map_into();
    concurrent_maps_keep_their_own_exceptions();
    nested_item_errors();
    statuses();
    progress_that_throws();
    shutdown_from_own_callable();
    process_backend_exception();
    std::printf("cxx_api_errors: ok\n");
    return 0;
}
