// Two translation units that both include lkparallel.hpp, linked into one
// program (with two_tu_b.cpp): the header's inline functions, templates and
// their statics (the range loop instantiated for the same callable type in
// both) must link without duplicate symbols and behave as one. This one
// includes the header twice (the include guard) and is compiled with
// -Wpedantic -Wshadow -Wconversion on top of -Wall -Wextra.
#include "cxx/cxxtest.hpp"
#include <lkparallel.hpp>
#include <lkparallel.hpp>

#include <vector>

// Defined in two_tu_b.cpp, with the same template instantiations as here.
std::vector<int> twice_in_b(const std::vector<int> &xs);
lk::invoker<int, int> make_in_b(int add);
std::vector<std::byte> sp_in_b();
std::vector<int> stream_in_b(const lk::invoker<int, int> &inv, const std::vector<int> &xs);

int main() {
    lkt_watchdog(60);
    lk::invoker<int, int> here([](const int &x) { return x * 2; }, 2);
    std::vector<int> xs{1, 2, 3};
    CHECK(here.map(xs) == twice_in_b(xs));

    // An invoker made in the other TU, used and destroyed here.
    lk::invoker<int, int> there = make_in_b(5);
    CHECK(there.map(xs)[2] == 8);
    // Streamed here and there, through both TUs' instantiations.
    std::vector<int> streamed;
    there.stream(xs, std::back_inserter(streamed));
    CHECK((streamed == std::vector<int>{6, 7, 8}));
    CHECK((stream_in_b(there, xs) == std::vector<int>{6, 7, 8}));
    there = std::move(here); // shuts down b's invoker here
    CHECK(there.map(xs)[0] == 2);

    // An exception from a callable made in the other TU, caught here.
    lk::invoker<int, int> thrower = make_in_b(-1);
    CHECK_THROWS(thrower.map(xs), lk::item_error, e, e.index() == 0);
    CHECK_THROWS(thrower.stream(xs, [](const int &) {}), lk::item_error, e, e.index() == 0);

    CHECK(sp_in_b().size() == 3);
    CHECK(lk::run_sp([] { return std::string("ab"); }).size() == 2);
    std::printf("cxx_two_tu: ok\n");
    return 0;
}
