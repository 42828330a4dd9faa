/* A signal handler installed without SA_RESTART does not break a call
 * (API.md, Robustness: EINTR is retried). A POSIX timer sends SIGUSR2 to the
 * process every 300 µs (so any thread, pool workers included, gets them) and
 * a thread sends it to the mapping thread itself; meanwhile maps on inline
 * and pool invokers, concurrent maps, nested maps, maps with progress, and
 * invokers made and shut down all succeed with every result right. */
#include "lktest.h"

static lk_invoker *inner;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    if (task->index % 8 == 0) lkt_sleep_us(100);
    *(uint64_t *)result = *(const uint64_t *)arg * 7 + 1;
    return 0;
}

static int32_t nesting_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    uint64_t a[16], r[16];
    for (int i = 0; i < 16; i++) a[i] = *(const uint64_t *)arg + (uint64_t)i;
    if (lk_invoker_map(inner, a, 16, sizeof a[0], r, sizeof r[0]) != LK_OK) return 1;
    uint64_t sum = 0;
    for (int i = 0; i < 16; i++) sum += r[i];
    *(uint64_t *)result = sum;
    return 0;
}

static void on_progress(size_t done, size_t total, void *user) {
    (void)done;
    (void)total;
    (void)user;
}

enum { N = 3000 };

static void check_map(lk_invoker *inv) {
    uint64_t *args = (uint64_t *)malloc(N * sizeof *args);
    uint64_t *results = (uint64_t *)malloc(N * sizeof *results);
    CHECK(args && results);
    for (int i = 0; i < N; i++) {
        args[i] = lkt_mix((uint64_t)i) >> 8;
        results[i] = 0;
    }
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    for (int i = 0; i < N; i++) CHECK(results[i] == args[i] * 7 + 1);
    free(args);
    free(results);
}

static void *map_thread(void *p) {
    check_map((lk_invoker *)p);
    return NULL;
}

static atomic_int stop_poker;
static pthread_t main_thread;

static void *poke_main(void *p) {
    (void)p;
    while (!atomic_load(&stop_poker)) {
        pthread_kill(main_thread, SIGUSR2);
        lkt_sleep_us(200);
    }
    return NULL;
}

int main(void) {
    lkt_watchdog(60);
    lkt_count_signals(SIGUSR2);

    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR2;
    timer_t timer;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0);
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = 300 * 1000;
    its.it_interval.tv_nsec = 300 * 1000;
    CHECK(timer_settime(timer, 0, &its, NULL) == 0);

    main_thread = pthread_self();
    pthread_t poker;
    CHECK(pthread_create(&poker, NULL, poke_main, NULL) == 0);

    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        /* invokers made and shut down repeatedly (thread start and join) */
        for (int k = 0; k < 10; k++) {
            lk_invoker *inv = NULL;
            CHECK_OK(lk_invoker_new(NULL, op, jobs[j], &inv));
            CHECK_OK(lk_invoker_shutdown(inv));
        }
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new(NULL, op, jobs[j], &inv));
        for (int round = 0; round < 3; round++) check_map(inv);

        /* concurrent maps: threads wait for worker slots */
        pthread_t th[3];
        for (int t = 0; t < 3; t++) CHECK(pthread_create(&th[t], NULL, map_thread, inv) == 0);
        check_map(inv);
        for (int t = 0; t < 3; t++) CHECK(pthread_join(th[t], NULL) == 0);
        CHECK_OK(lk_invoker_shutdown(inv));

        /* with a progress callback (the caller waits with a time-out) */
        lk_invoker_options o;
        lk_invoker_options_init(&o, sizeof o);
        o.n_jobs = jobs[j];
        o.progress = on_progress;
        CHECK_OK(lk_invoker_new_with(NULL, op, &o, &inv));
        check_map(inv);
        CHECK_OK(lk_invoker_shutdown(inv));

        /* nested maps */
        lk_invoker *outer = NULL;
        CHECK_OK(lk_invoker_new(NULL, op, 2, &inner));
        CHECK_OK(lk_invoker_new(NULL, nesting_op, jobs[j], &outer));
        uint64_t a[200], r[200];
        for (int i = 0; i < 200; i++) a[i] = (uint64_t)i * 100;
        CHECK_OK(lk_invoker_map(outer, a, 200, sizeof a[0], r, sizeof r[0]));
        for (int i = 0; i < 200; i++) {
            uint64_t want = 0;
            for (uint64_t k = 0; k < 16; k++) want += (a[i] + k) * 7 + 1;
            CHECK(r[i] == want);
        }
        CHECK_OK(lk_invoker_shutdown(outer));
        CHECK_OK(lk_invoker_shutdown(inner));
    }

    atomic_store(&stop_poker, 1);
    CHECK(pthread_join(poker, NULL) == 0);
    CHECK(timer_delete(timer) == 0);
    printf("%ld signals delivered during the maps\n", (long)atomic_load(&lkt_signals_seen));
    CHECK(atomic_load(&lkt_signals_seen) > 100);
    printf("threads_fault_eintr: ok\n");
    return 0;
}
