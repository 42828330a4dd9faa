// The C++ side of the consumer: the installed lkparallel.hpp.
#include <cstdio>
#include <string>
#include <vector>

#include <lkparallel.hpp>

int main() {
    const double scale = 3;
    lk::invoker inv([scale](const int &x) { return scale * x; }, 2);
    std::vector<double> r = inv.map({1, 2, 3});
    if (r != std::vector<double>{3, 6, 9}) {
        std::fprintf(stderr, "consumer_cxx: wrong results\n");
        return 1;
    }
    try {
        lk::invoker<int, int> bad([](const int &x) -> int { throw std::runtime_error(std::to_string(x)); }, 1);
        bad.map({7});
        std::fprintf(stderr, "consumer_cxx: no exception\n");
        return 1;
    } catch (const lk::item_error &e) {
        if (e.index() != 0) return 1;
    }
    if (lk::run_sp([] { return std::string("abc"); }).size() != 3) return 1;
    std::printf("consumer ok %s\n", lk::version());
    return 0;
}
