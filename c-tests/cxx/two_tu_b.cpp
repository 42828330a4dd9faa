// The second translation unit of cxx_two_tu (see two_tu_a.cpp).
#include <lkparallel.hpp>

#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

std::vector<int> twice_in_b(const std::vector<int> &xs);
lk::invoker<int, int> make_in_b(int add);
std::vector<std::byte> sp_in_b();
std::vector<int> stream_in_b(const lk::invoker<int, int> &inv, const std::vector<int> &xs);

std::vector<int> twice_in_b(const std::vector<int> &xs) {
    lk::invoker<int, int> inv([](const int &x) { return x * 2; }, 3);
    return inv.map(xs);
}

lk::invoker<int, int> make_in_b(int add) {
    return lk::invoker<int, int>([add](const int &x) {
        if (add < 0) throw std::runtime_error("negative add");
        return x + add;
    }, 2);
}

std::vector<int> stream_in_b(const lk::invoker<int, int> &inv, const std::vector<int> &xs) {
    std::vector<int> out;
    inv.stream(xs, std::back_inserter(out));
    return out;
}

std::vector<std::byte> sp_in_b() {
    return lk::run_sp([] { return std::string("abc"); });
}
