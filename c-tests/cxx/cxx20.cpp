// lkparallel.hpp under C++20: std::span ranges and designated initializers
// of lk::sp_options (lk::options has a converting constructor, so it is not
// an aggregate).
#include "cxx/cxxtest.hpp"

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
    auto bytes = lk::run_sp([] { return std::vector<char>{'x'}; }, {.timeout = std::chrono::seconds(30)});
    CHECK(bytes.size() == 1);
    std::printf("cxx_cxx20: ok\n");
    return 0;
}
