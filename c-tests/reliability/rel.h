/* Helpers only the reliability tests (fault_signal_*, fault_status_*,
 * fault_forksafety_*) and the stress program (stress.c) use: a log callback
 * that counts records under a mutex, and signal storms. Everything the tests
 * of other areas share too (checks, watchdogs, time, children, descriptors,
 * threads, RSS, lkt_shared) is in lktest.h. Include it as
 * "reliability/rel.h". */
#ifndef LK_RELIABILITY_REL_H
#define LK_RELIABILITY_REL_H

#include "lktest.h"

/* ---- log records, counted by message prefix ---- */

/* A log callback that takes a mutex (like most hosts' loggers do) and
 * counts records whose message starts with "child " and all records. */
typedef struct rel_log_counter {
    pthread_mutex_t mu;
    long child;   /* "child ..." records */
    long parent;  /* "parent ..." records */
    long other;   /* everything else (the library's own) */
} rel_log_counter;

static inline void rel_log_count(lk_log_level level, const char *target, const char *message,
                                 void *user) {
    (void)level;
    (void)target;
    rel_log_counter *c = (rel_log_counter *)user;
    pthread_mutex_lock(&c->mu);
    /* Hold the lock for a while, so forks often happen while it is held. */
    for (volatile int spin = 0; spin < 500; spin++) {
    }
    if (strncmp(message, "child ", 6) == 0)
        c->child++;
    else if (strncmp(message, "parent ", 7) == 0)
        c->parent++;
    else
        c->other++;
    pthread_mutex_unlock(&c->mu);
}

static inline long rel_log_children(rel_log_counter *c) {
    pthread_mutex_lock(&c->mu);
    long n = c->child;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ---- signal storms ---- */

static atomic_long rel_signals_seen;

static inline void rel_count_signal(int sig) {
    (void)sig;
    atomic_fetch_add(&rel_signals_seen, 1);
}

/* Handle `sig` by counting it, installed WITHOUT SA_RESTART, so every
 * blocking call a signal interrupts fails with EINTR. */
static inline void rel_count_signals(int sig) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = rel_count_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* SIGALRM every `us` microseconds (0: stop), to this process only: timers
 * are not inherited by fork. */
static inline void rel_alarm_every_us(long us) {
    struct itimerval it;
    it.it_interval.tv_sec = us / 1000000;
    it.it_interval.tv_usec = us % 1000000;
    it.it_value = it.it_interval;
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

#endif
