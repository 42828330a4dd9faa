// lkparallel.hpp: lk::run_sp runs a callable in a forked child and returns
// its bytes; the child's exceptions, death and time-outs become lk::error.
#include "cxx/cxxtest.hpp"

#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

static std::string text(const std::vector<std::byte> &bytes) {
    return std::string(reinterpret_cast<const char *>(bytes.data()), bytes.size());
}

int main() {
    lkt_watchdog(60);

    // A callable returning a range: its bytes.
    std::string greeting = "hello";
    CHECK(text(lk::run_sp([&greeting] { return greeting + " from the child"; })) == "hello from the child");

    // A callable writing to lk::sp_output.
    std::vector<std::byte> bytes = lk::run_sp([](lk::sp_output &out) {
        out.append("ab");
        out.append_value(std::uint32_t(0x01020304));
        out.append_range(std::vector<double>{1.5, 2.5});
        out.append("z", 1);
    });
    CHECK(bytes.size() == 2 + 4 + 16 + 1);
    std::uint32_t u = 0;
    std::memcpy(&u, bytes.data() + 2, 4);
    CHECK(u == 0x01020304);
    double d[2];
    std::memcpy(d, bytes.data() + 6, sizeof d);
    CHECK(d[0] == 1.5 && d[1] == 2.5);
    CHECK(char(bytes.back()) == 'z');

    // Nothing written: an empty answer.
    CHECK(lk::run_sp([](lk::sp_output &) {}).empty());

    // A large answer arrives intact.
    std::vector<std::uint64_t> big(1 << 20);
    for (std::size_t i = 0; i < big.size(); i++) big[i] = i * 2654435761u;
    std::vector<std::byte> got = lk::run_sp([&big] { return big; });
    CHECK(got.size() == big.size() * 8 && std::memcmp(got.data(), big.data(), got.size()) == 0);

    // The child works on a snapshot: its changes stay there. It is a worker.
    int counter = 1;
    std::vector<std::byte> flags = lk::run_sp([&counter](lk::sp_output &out) {
        counter = 99;
        out.append_value(std::int32_t(lk::is_worker()));
    });
    CHECK(counter == 1);
    std::int32_t w = 0;
    std::memcpy(&w, flags.data(), 4);
    CHECK(w == 1 && !lk::is_worker());

    // An exception in the child: LK_ERR_CALLBACK with the child's message.
    CHECK_THROWS(lk::run_sp([](lk::sp_output &out) {
        out.append("partial");
        throw std::runtime_error("no model file");
    }), lk::error, e, e.status() == LK_ERR_CALLBACK && lkt_contains(e.what(), "no model file"));
    CHECK_THROWS(lk::run_sp([]() -> std::string { throw 7; }), lk::error, e,
                 e.status() == LK_ERR_CALLBACK && lkt_contains(e.what(), "non-standard"));

    // A child that dies or exits without answering.
    CHECK_THROWS(lk::run_sp([](lk::sp_output &) { std::raise(SIGKILL); }), lk::error, e,
                 e.status() == LK_ERR_WORKER_DIED);
    CHECK_THROWS(lk::run_sp([](lk::sp_output &) { _exit(3); }), lk::error, e, e.status() == LK_ERR_WORKER_DIED);

    // A time limit.
    lk::sp_options limits;
    limits.timeout = std::chrono::milliseconds(200);
    limits.grace = std::chrono::milliseconds(50);
    const auto start = std::chrono::steady_clock::now();
    CHECK_THROWS(lk::run_sp([](lk::sp_output &) { for (;;) pause(); }, limits), lk::error, e,
                 e.status() == LK_ERR_TIMEOUT);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    limits.timeout = std::chrono::milliseconds(-1);
    CHECK_THROWS(lk::run_sp([] { return std::string(); }, limits), lk::error, e, e.status() == LK_ERR_INVALID);

    // A memory limit: the child's allocation fails, which it reports as an exception.
    lk::sp_options small;
    small.memory_limit = std::uint64_t(1) << 30;
    CHECK_THROWS(lk::run_sp([](lk::sp_output &out) {
        std::vector<char> huge(std::size_t(4) << 30, 'x');
        out.append(huge.data(), 1);
    }, small), lk::error, e, e.status() == LK_ERR_CALLBACK || e.status() == LK_ERR_WORKER_DIED);

    // run_sp from inside an invoker's callable.
    lk::invoker inv([](const int &x) {
        std::vector<std::byte> r = lk::run_sp([x] { return std::vector<int>{x * 10}; });
        int v = 0;
        std::memcpy(&v, r.data(), sizeof v);
        return v;
    }, 2);
    CHECK((inv.map({1, 2, 3}) == std::vector<int>{10, 20, 30}));

    std::printf("cxx_api_run_sp: ok\n");
    return 0;
}
