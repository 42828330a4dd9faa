/* A SIGALRM timer firing every millisecond in the calling process (a handler
 * installed with sigaction without SA_RESTART, so blocking calls see EINTR)
 * changes no result: invokers are made, maps of many sizes run with every
 * result right and LK_OK, a failing map still reports its exact code (and,
 * with n_jobs 1, its exact index), shutdown returns LK_OK — for n_jobs 1, 2
 * and 4. With processes a worker death is still LK_ERR_WORKER_DIED naming
 * the item, and the next map is fine. The watchdog is a thread (SIGALRM is
 * taken). The heavier storms: reliability/fault_signal_sigalrm_*. */
#include "lktest.h"

enum { MAX_N = 2000 };

/* The model: the item that kills its worker, and the one that fails. */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    uint64_t a = *(const uint64_t *)arg;
    int32_t code = lkt_faults_hit((lkt_faults *)model, task->index, 33);
    if (code) return code;
    if (task->index % 16 == 0) lkt_sleep_us(300);
    *(uint64_t *)result = lkt_mix(a) ^ task->index;
    return 0;
}

static void good_map(lk_invoker *inv, size_t n, uint64_t salt) {
    static uint64_t args[MAX_N], results[MAX_N];
    for (size_t i = 0; i < n; i++) {
        args[i] = lkt_mix(i + salt);
        results[i] = 0;
    }
    lk_status s = lk_invoker_map(inv, args, n, sizeof args[0], results, sizeof results[0]);
    CHECK_MSG(s == LK_OK, "a map of %zu under SIGALRM returned %d: %s", n, (int)s, lk_last_error());
    for (size_t i = 0; i < n; i++) CHECK(results[i] == (lkt_mix(args[i]) ^ i));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog_thread(60);
    lkt_no_core_dumps();
    lkt_faults *faults = lkt_faults_new();
    lkt_count_signals(SIGALRM);
    lkt_alarm_every_us(1000);

    static uint64_t args[MAX_N], results[MAX_N];
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        long t_before = atomic_load(&lkt_signals_seen);
        double t0 = lkt_now();
        for (int rep = 0; rep < 3; rep++) {
            lk_invoker *inv = lkt_new(faults, op, jobs[j]);
            const size_t sizes[] = {1, 7, 100, 1000, MAX_N, 3};
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) good_map(inv, sizes[k], k + (size_t)rep * 10);

            /* a callback failure: exact index and code */
            for (int i = 0; i < MAX_N; i++) args[i] = (uint64_t)i;
            atomic_store(&faults->fail_at, 777);
            CHECK_FAIL(lk_invoker_map(inv, args, MAX_N, sizeof args[0], results, sizeof results[0]), LK_ERR_CALLBACK);
            unsigned long long index = 0;
            long long code = 0;
            CHECK(lkt_parse_failure(lk_last_error(), &index, &code));
            CHECK_MSG(code == 33 && (jobs[j] > 1 || index == 777), "\"%s\"", lk_last_error());
            atomic_store(&faults->fail_at, -1);
            good_map(inv, 500, 5);

            if (lkt_processes()) {
                /* a worker death */
                atomic_store(&faults->die_at, 321);
                CHECK_FAIL(lk_invoker_map(inv, args, MAX_N, sizeof args[0], results, sizeof results[0]),
                           LK_ERR_WORKER_DIED);
                CHECK_ERROR_HAS_NUMBER(321);
                good_map(inv, MAX_N, 6);
            }
            CHECK_OK(lk_invoker_shutdown(inv));
        }
        long fired = atomic_load(&lkt_signals_seen) - t_before;
        printf("n_jobs %d: every result right over %.2f s while SIGALRM fired %ld times\n", jobs[j], lkt_now() - t0,
               fired);
        CHECK(fired > 20);
    }
    lkt_alarm_every_us(0);
    lkt_check_no_children();
    printf("invoker_fault_sigalrm: ok\n");
    return 0;
}
