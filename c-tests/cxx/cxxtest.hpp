// Shared helpers for the C++ tests (c-tests/cxx/): checks
// that always run, and a watchdog that fails a hung test. Kept apart from
// lktest.h, which is C (C11 atomics) and not meant for C++.
#ifndef LK_CXXTEST_HPP
#define LK_CXXTEST_HPP

#undef NDEBUG
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include <lkparallel.hpp>

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            std::exit(1);                                                            \
        }                                                                            \
    } while (0)

// CHECK_THROWS(statement, Exception, var, condition): `statement` must throw
// Exception; `condition` (which may use `var`) must then hold.
#define CHECK_THROWS(stmt, Exception, var, cond)                                     \
    do {                                                                             \
        bool lkt_threw_ = false;                                                     \
        try {                                                                        \
            stmt;                                                                    \
        } catch (const Exception &var) {                                             \
            lkt_threw_ = true;                                                       \
            if (!(cond)) {                                                           \
                std::fprintf(stderr, "%s:%d: %s threw %s but not %s\n", __FILE__, __LINE__, \
                             #stmt, #Exception, #cond);                              \
                std::exit(1);                                                        \
            }                                                                        \
        }                                                                            \
        if (!lkt_threw_) {                                                           \
            std::fprintf(stderr, "%s:%d: %s did not throw %s\n", __FILE__, __LINE__, #stmt, \
                         #Exception);                                                \
            std::exit(1);                                                            \
        }                                                                            \
    } while (0)

inline bool lkt_contains(const std::string &text, const std::string &part) {
    return text.find(part) != std::string::npos;
}

extern "C" inline void lkt_watchdog_fired(int) {
    static const char msg[] = "watchdog: the test hung\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(124);
}

// Fail the test (exit 124) if it runs longer than `seconds`.
inline void lkt_watchdog(unsigned seconds) {
    std::signal(SIGALRM, lkt_watchdog_fired);
    alarm(seconds);
}

#endif
