// lkparallel.hpp: lk::invoker owns its lk_invoker like std::unique_ptr: it
// moves, never copies, and shuts the handle down exactly once.
#include "cxx/cxxtest.hpp"

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

using inv_t = lk::invoker<int, int>;
static_assert(!std::is_copy_constructible_v<inv_t>);
static_assert(!std::is_copy_assignable_v<inv_t>);
static_assert(std::is_nothrow_move_constructible_v<inv_t>);
static_assert(std::is_nothrow_move_assignable_v<inv_t>);
static_assert(std::is_nothrow_default_constructible_v<inv_t>);
static_assert(std::is_nothrow_swappable_v<inv_t>);

// A C-level check that a handle is dead (handle values are never reused).
static bool dead(lk_invoker *h) {
    int arg = 0, res = 0;
    return lk_invoker_map(h, &arg, 1, sizeof arg, &res, sizeof res) == LK_ERR_INVALID;
}

static inv_t make(int add, int jobs = 2) {
    // The callable owns state (a unique_ptr): it moves with the invoker.
    return inv_t([p = std::make_unique<int>(add)](const int &x) { return x + *p; }, jobs);
}

int main() {
    lkt_watchdog(60);

    // Move construction: the new one works, the old one is empty.
    inv_t a = make(1);
    lk_invoker *ha = a.get();
    CHECK(ha != nullptr);
    inv_t b(std::move(a));
    CHECK(!a); // NOLINT(bugprone-use-after-move): the moved-from state is specified
    CHECK(a.get() == nullptr);
    CHECK(b.get() == ha);
    CHECK(b.map({1, 2})[1] == 3);
    CHECK_THROWS(a.map({1}), lk::error, e, e.status() == LK_ERR_INVALID);

    // Move assignment shuts down the target's old invoker first.
    inv_t c = make(100);
    lk_invoker *hc = c.get();
    c = std::move(b);
    CHECK(dead(hc));
    CHECK(c.get() == ha && !dead(ha));
    CHECK(c.map({1})[0] == 2);
    CHECK(!b);

    // Self-move-assignment keeps the invoker.
    inv_t &alias = c;
    c = std::move(alias);
    CHECK(c.get() == ha && c.map({5})[0] == 6);

    // Assigning an empty one shuts this one down and empties it.
    c = inv_t();
    CHECK(dead(ha));
    CHECK(!c);

    // The destructor shuts down.
    lk_invoker *hd = nullptr;
    {
        inv_t d = make(3);
        hd = d.get();
        CHECK(d.map({0})[0] == 3);
    }
    CHECK(dead(hd));

    // shutdown(): explicit, then empty; again is a no-op; the destructor does nothing more.
    inv_t e = make(4);
    lk_invoker *he = e.get();
    e.shutdown();
    CHECK(!e && dead(he));
    e.shutdown();

    // swap.
    inv_t s1 = make(10), s2 = make(20);
    lk_invoker *h1 = s1.get(), *h2 = s2.get();
    swap(s1, s2);
    CHECK(s1.get() == h2 && s2.get() == h1);
    CHECK(s1.map({0})[0] == 20 && s2.map({0})[0] == 10);

    // In a vector that reallocates: every invoker still works after the moves.
    std::vector<inv_t> many;
    for (int i = 0; i < 20; i++) many.push_back(make(i, 1 + i % 3));
    for (int i = 0; i < 20; i++) CHECK(many[std::size_t(i)].map({1})[0] == 1 + i);
    std::vector<lk_invoker *> handles;
    for (auto &inv : many) handles.push_back(inv.get());
    many.clear();
    for (lk_invoker *h : handles) CHECK(dead(h));

    // A unique_ptr-like value in a function's return, and moved into a lambda.
    inv_t moved = make(7);
    auto use = [inv = std::move(moved)](int x) { return inv.map({x})[0]; };
    CHECK(use(1) == 8);

    std::printf("cxx_api_move: ok\n");
    return 0;
}
