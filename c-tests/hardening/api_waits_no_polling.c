/* Nothing polls: a waiting thread sleeps until the event it waits for wakes
 * it. Three waits of about half a second each, and how often the waiting
 * thread gave up the CPU meanwhile (voluntary_ctxt_switches in
 * /proc/self/task/<tid>/status), which must be at most 10:
 *  - a thread waiting for a slot of a busy invoker (a thread pool of 2
 *    whose two slots run 0.6 s items; the waiter maps one item);
 *  - a caller waiting 0.5 s on a worker process (a process invoker whose
 *    one item sleeps 0.5 s);
 *  - a callback waiting for its nested map (on its own invoker) while
 *    another pool thread runs a 0.5 s item of it.
 * The first release woke about 400 times in 0.5 s for the first (1 ms timed
 * waits) and about 50 times for the second (10 ms). Each wait is checked to
 * have lasted (at least 0.3 s), so the counts measure real waits. */
#include "hardening/hardtest.h"

enum { MAX_WAKEUPS = 10 };

static long wakeups_self(void) {
    return ht_wakeups(ht_gettid());
}

/* ---- 1. a thread waiting for a slot of a busy invoker ---- */

static atomic_int busy_started;

static int32_t busy_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (task->index < 1000) { /* the busy map's items */
        atomic_fetch_add(&busy_started, 1);
        lkt_sleep_us(600000);
    }
    return 0;
}

typedef struct busy_map {
    lk_invoker *inv;
} busy_map;

static void *run_busy_map(void *p) {
    busy_map *b = (busy_map *)p;
    CHECK_OK(lk_invoker_map(b->inv, NULL, 2, 0, NULL, 0));
    return NULL;
}

static void slot_waiter(void) {
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, busy_op, 2, &inv));
    CHECK_OK(lk_invoker_map(inv, NULL, 0, 0, NULL, 0));
    atomic_store(&busy_started, 0);
    busy_map b = {inv};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_busy_map, &b) == 0);
    while (atomic_load(&busy_started) < 2) lkt_sleep_us(1000);
    lkt_sleep_us(20000); /* both slots are taken now, for 0.58 s more */

    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.index_base = 1000; /* not the busy kind */
    long w0 = wakeups_self();
    double t0 = lkt_now();
    CHECK_OK(lk_invoker_map_with(inv, NULL, 1, 0, NULL, 0, &mo));
    double waited = lkt_now() - t0;
    long woke = wakeups_self() - w0;
    CHECK(pthread_join(t, NULL) == 0);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("a thread waiting %.2f s for a slot of a busy invoker woke %ld times\n", waited, woke);
    CHECK_MSG(waited > 0.3, "the map did not wait for a slot (%.3f s)", waited);
    CHECK_MSG(woke <= MAX_WAKEUPS, "a thread waiting %.2f s for a slot woke %ld times", waited, woke);
}

/* ---- 2. a caller waiting on a worker process ---- */

static int32_t sleepy_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (task->index == 0) lkt_sleep_us(500000);
    return 0;
}

static void process_waiter(void) {
    for (int n_jobs = 1; n_jobs <= 2; n_jobs++) {
        lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, n_jobs);
        lk_invoker *inv = lkt_new_with(NULL, sleepy_op, &o);
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.index_base = 1; /* a warm-up map: the workers are up */
        CHECK_OK(lk_invoker_map_with(inv, NULL, 4, 0, NULL, 0, &mo));
        long w0 = wakeups_self();
        double t0 = lkt_now();
        CHECK_OK(lk_invoker_map(inv, NULL, 1, 0, NULL, 0));
        double waited = lkt_now() - t0;
        long woke = wakeups_self() - w0;
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("a caller waiting %.2f s on a worker process (n_jobs %d) woke %ld times\n", waited, n_jobs, woke);
        CHECK(waited > 0.3);
        CHECK_MSG(woke <= MAX_WAKEUPS, "a caller waiting %.2f s on a worker process woke %ld times", waited, woke);
    }
}

/* ---- 3. a callback waiting for its nested map ---- */

typedef struct nest {
    lk_invoker *self;
    atomic_int outer_tid;  /* the thread running the outer item */
    atomic_int slow_taken; /* another thread took the slow inner item */
    atomic_long woke;      /* the outer thread's wake-ups during its nested map */
    double waited;
} nest_t;

static nest_t nest;

static int32_t nest_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (task->index == 0) {
        /* The outer item: map 40 inner items on this invoker. */
        atomic_store(&nest.outer_tid, (int)ht_gettid());
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.index_base = 100;
        long w0 = wakeups_self();
        double t0 = lkt_now();
        lk_status s = lk_invoker_map_with(nest.self, NULL, 40, 0, NULL, 0, &mo);
        nest.waited = lkt_now() - t0;
        atomic_store(&nest.woke, wakeups_self() - w0);
        return s == LK_OK ? 0 : 1;
    }
    if (task->index >= 100) {
        /* Inner items: the outer thread's are quick (busy, never sleeping);
         * the first one another thread takes lasts 0.5 s. */
        if ((int)ht_gettid() != atomic_load(&nest.outer_tid)) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&nest.slow_taken, &expected, 1)) lkt_sleep_us(500000);
        } else {
            double until = lkt_now() + 200e-6;
            while (lkt_now() < until) {
            }
        }
    }
    return 0;
}

static void nested_waiter(void) {
    CHECK_OK(lk_invoker_new(NULL, nest_op, 2, &nest.self));
    /* Outer items 0 (maps) and 1 (returns at once, freeing its thread to help). */
    CHECK_OK(lk_invoker_map(nest.self, NULL, 2, 0, NULL, 0));
    CHECK_OK(lk_invoker_shutdown(nest.self));
    long woke = atomic_load(&nest.woke);
    printf("a callback waiting %.2f s for its nested map woke %ld times\n", nest.waited, woke);
    CHECK_MSG(atomic_load(&nest.slow_taken) == 1 && nest.waited > 0.3,
              "no other thread ran an inner item (the nested map took %.3f s)", nest.waited);
    CHECK_MSG(woke <= MAX_WAKEUPS, "a callback waiting %.2f s for its nested map woke %ld times", nest.waited, woke);
}

int main(void) {
    lkt_watchdog(60);
    lkt_no_core_dumps();
    CHECK(wakeups_self() >= 0);
    slot_waiter();
    process_waiter();
    nested_waiter();
    printf("hardening_api_waits_no_polling: ok\n");
    return 0;
}
