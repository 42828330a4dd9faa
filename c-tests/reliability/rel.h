/* Helpers only the reliability tests (reliability/fault_signal_*,
 * fault_status_*, fault_forksafety_*) and the stress program (stress.c) use:
 * a log callback that counts records under a mutex. Everything the tests of
 * other areas share too (checks, watchdogs, time, children, descriptors,
 * threads, RSS, lkt_shared, signal storms) is in lktest.h. Include it as
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

/* ---- signal storms over children that log ---- */

static rel_log_counter rel_storm_logs = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};

/* The start of a signal-storm test whose children log: a watchdog thread
 * (SIGALRM is taken), no core dumps, records counted in rel_storm_logs,
 * SIGCHLD counted by a handler without SA_RESTART too, then the 1 ms
 * SIGALRM storm. Returns the time it started. */
static inline double rel_storm_begin(void) {
    lkt_watchdog_thread(240);
    lkt_no_core_dumps();
    lk_set_log_callback(rel_log_count, &rel_storm_logs, LK_LOG_INFO);
    lkt_count_signals(SIGCHLD);
    return lkt_storm_start();
}

/* The end: the storm stops (and must have blown, lkt_storm_stop), records
 * are no longer counted; `done` things of `what` ran. */
static inline void rel_storm_end(double t0, const char *test, long done, const char *what) {
    double took;
    long seen = lkt_storm_stop(t0, &took);
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    printf("%s: ok (%ld %s, %ld signals in %.2f s)\n", test, done, what, seen, took);
}

#endif
