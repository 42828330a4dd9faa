/* Shared helpers for the C tests: checks that always run, and a watchdog so a
 * hang fails the test instead of blocking CI. */
#ifndef LKTEST_H
#define LKTEST_H

#undef NDEBUG
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkparallel.h"

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* CHECK_STATUS(call, LK_X): the exact status, with the message on failure. */
#define CHECK_STATUS(call, expected)                                                   \
    do {                                                                               \
        lk_status lkt_s_ = (call);                                                     \
        if (lkt_s_ != (expected)) {                                                    \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s): %s\n", __FILE__, \
                    __LINE__, #call, (int)lkt_s_, (int)(expected), #expected,          \
                    lk_last_error());                                                  \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, LK_OK)

static void lkt_watchdog_fired(int sig) {
    (void)sig;
    static const char msg[] = "watchdog: the test hung\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(124);
}

/* Fail the test (exit 124) if it runs longer than `seconds`. */
static inline void lkt_watchdog(unsigned seconds) {
    signal(SIGALRM, lkt_watchdog_fired);
    alarm(seconds);
}

#endif
