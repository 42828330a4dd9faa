/* A timer sends SIGALRM every millisecond (handler installed WITHOUT
 * SA_RESTART), and SIGCHLD is handled the same way, while process-backend
 * invokers are made, map, lose workers and shut down. The workers run their
 * own 1 ms timer too (armed in the worker initializer; they inherited the
 * handler), so their waits and writes are interrupted as well. No result,
 * status, reported index or log record may change. */
#include "reliability/rel.h"

enum { ROUNDS = 40 };

/* model: the index whose item ends its worker (or SIZE_MAX). Items whose
 * index is a multiple of 1009 (not 0) fail with code 1000 + index % 7;
 * every 97th item logs a record. */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    size_t die_at = *(const size_t *)model;
    if (task->index == die_at) _exit(9);
    if (task->index % 97 == 0) lkt_log_numbered(LK_LOG_INFO, "child item ", (long long)task->index);
    if (task->index % 1009 == 0 && task->index != 0) return 1000 + (int32_t)(task->index % 7);
    const uint8_t *a = (const uint8_t *)arg;
    uint8_t *r = (uint8_t *)result;
    for (int k = 0; k < 5; k++) r[k] = (uint8_t)(a[2 - k % 3] * 7 + k + task->index);
    return 0;
}

static void worker_init(uint32_t worker, void *user) {
    (void)worker;
    (void)user;
    lkt_alarm_every_us(1000);
}

static void check_map(lk_invoker *inv, size_t n, int keep_going, size_t die_at, int round) {
    uint8_t *args = (uint8_t *)malloc(n * 3 + 1);
    uint8_t *results = (uint8_t *)malloc(n * 5 + 1);
    int32_t *status = (int32_t *)malloc(n * sizeof(int32_t) + 1);
    CHECK(args && results && status);
    for (size_t i = 0; i < n * 3; i++) args[i] = (uint8_t)lkt_mix(i + (uint64_t)round * 7919);
    memset(results, 0xee, n * 5);
    lk_map_options mo = lkt_with_status(status);
    long logs_before = rel_log_children(&rel_storm_logs);
    lk_status s = lk_invoker_map_with(inv, args, n, 3, results, 5, &mo);
    long logged = rel_log_children(&rel_storm_logs) - logs_before;

    size_t lowest_fail = SIZE_MAX, ran = 0, expect_logs = 0;
    int died = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = results + i * 5;
        if (status[i] == LK_ITEM_SKIPPED || status[i] == LK_ITEM_WORKER_DIED) {
            for (int k = 0; k < 5; k++) CHECK_MSG(r[k] == 0xee, "round %d: item %zu not run but written", round, i);
            if (status[i] == LK_ITEM_WORKER_DIED) {
                CHECK_MSG(i == die_at, "round %d: item %zu marked dead", round, i);
                died = 1;
            } else {
                CHECK_MSG(!keep_going || i == die_at, "round %d: keep-going skipped item %zu", round, i);
            }
            /* The dying item logs before it dies: count it if it did. */
            continue;
        }
        ran++;
        if (i % 97 == 0) expect_logs++;
        if (i % 1009 == 0 && i != 0) {
            CHECK_MSG(status[i] == 1000 + (int32_t)(i % 7), "round %d: item %zu status %d", round, i, status[i]);
            if (lowest_fail == SIZE_MAX) lowest_fail = i;
        } else {
            CHECK_MSG(status[i] == 0, "round %d: item %zu status %d", round, i, status[i]);
            const uint8_t *a = args + i * 3;
            for (int k = 0; k < 5; k++)
                CHECK_MSG(r[k] == (uint8_t)(a[2 - k % 3] * 7 + k + i), "round %d: item %zu byte %d", round, i, k);
        }
    }
    if (died) {
        CHECK_MSG(s == LK_ERR_WORKER_DIED, "round %d: %d %s", round, (int)s, lk_last_error());
        CHECK_MSG(lkt_has_number(lk_last_error(), (long long)die_at), "%s", lk_last_error());
        CHECK_ERROR_HAS("exit status 9");
    } else if (lowest_fail != SIZE_MAX) {
        CHECK_MSG(s == LK_ERR_CALLBACK, "round %d: %d %s", round, (int)s, lk_last_error());
        CHECK_MSG(lkt_has_number(lk_last_error(), (long long)lowest_fail), "round %d: lowest %zu: %s",
                  round, lowest_fail, lk_last_error());
    } else {
        CHECK_MSG(s == LK_OK, "round %d: %d %s", round, (int)s, lk_last_error());
        CHECK_MSG(ran == n, "round %d: %zu of %zu ran", round, ran, n);
    }
    /* Records of every item that ran, each once (a dying item's record may
     * or may not have been written before it died). */
    CHECK_MSG(logged == (long)expect_logs || (die_at < n && die_at % 97 == 0 && logged == (long)expect_logs + 1),
              "round %d: %ld records, expected %zu", round, logged, expect_logs);
    free(args);
    free(results);
    free(status);
}

int main(void) {
    double t0 = rel_storm_begin();
    static size_t die_none = SIZE_MAX, die_500 = 500, die_3007 = 3007;
    size_t sizes[] = {1, 7, 1000, 20000, 100000};
    long maps = 0;
    for (int round = 0; round < ROUNDS; round++) {
        lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 1 + round % 3);
        o.error_mode = round % 2 ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
        o.worker_init = worker_init;
        const size_t *die = round % 4 == 1 ? &die_500 : round % 4 == 3 ? &die_3007 : &die_none;
        lk_invoker *inv = lkt_new_with(die, op, &o);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++, maps++)
            check_map(inv, sizes[k], round % 2, *die, round);
        CHECK_OK(lk_invoker_shutdown(inv));
        CHECK(lkt_no_children());
    }
    rel_storm_end(t0, "reliability_fault_signal_sigalrm_procs", maps, "maps");
    return 0;
}
