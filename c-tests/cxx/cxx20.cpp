// lkparallel.hpp under C++20 (-Wpedantic -Wshadow -Wconversion): std::span
// ranges in and out of maps and streams, a range invoker with a model and
// the task, and designated initializers of lk::sp_options and
// lk::stream_options (lk::options has a converting constructor, so it is
// not an aggregate).
#include "cxx/cxxtest.hpp"

#include <optional>
#include <span>
#include <vector>

int main() {
    lkt_watchdog(60);
    std::vector<int> xs{1, 2, 3, 4};
    lk::invoker inv([](const int &x) { return x + 0.5; }, 2);
    std::span<const int> view(xs);
    std::vector<double> r = inv.map(view.subspan(1));
    CHECK(r.size() == 3 && r[0] == 2.5);
    std::vector<double> out(4);
    inv.map_into(view, std::span<double>(out));
    CHECK(out[3] == 4.5);

    // Streams: a span in, a span's iterator out; a generator in, a sink out.
    std::vector<double> streamed(4);
    std::span<double> dest(streamed);
    auto end = inv.stream(view, dest.begin(), {.window = 2, .index_base = 10});
    CHECK(end == dest.end() && streamed[0] == 1.5);
    const long model = 3;
    lk::invoker scaled(model, [](const long &m, const int &x, const lk::task &t) { return m * x + long(t.index); }, 2);
    int next = 0;
    long total = 0;
    scaled.stream([&]() -> std::optional<int> { return next < 4 ? std::optional<int>(next++) : std::nullopt; },
                  [&](std::size_t, const long &v) { total += v; });
    CHECK(total == 3 * 6 + 6);

    auto bytes = lk::run_sp([] { return std::vector<char>{'x'}; }, {.timeout = std::chrono::seconds(30)});
    CHECK(bytes.size() == 1);
    std::printf("cxx_cxx20: ok\n");
    return 0;
}
