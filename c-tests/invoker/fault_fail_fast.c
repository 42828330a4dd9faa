/* Fail-fast (the default): after a failure, items not yet started are
 * skipped. With n_jobs 1 only the failing item 0 runs; with n_jobs 2 and 4
 * far fewer than all items run. lk_map_options.item_status holds each item's
 * code for items that ran and LK_ITEM_SKIPPED for the rest. The state the
 * callbacks read and count in is shared memory (workers may be processes). */
#include "lktest.h"

enum { N = 10000 };

typedef struct {
    atomic_long sleep_us;
    atomic_int fail;
    atomic_int ran_count;
    atomic_int ran[N];
} state;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state *s = (state *)model;
    (void)arg;
    (void)result;
    atomic_fetch_add(&s->ran_count, 1);
    atomic_store(&s->ran[task->index], 1);
    long sleep_us = atomic_load(&s->sleep_us);
    if (sleep_us) lkt_sleep_us(sleep_us);
    if (!atomic_load(&s->fail)) return 0;
    if (task->index == 0) return 5;
    if (task->index % 1000 == 999) return 6;
    return 0;
}

static void reset(state *s) {
    atomic_store(&s->ran_count, 0);
    for (int i = 0; i < N; i++) atomic_store(&s->ran[i], 0);
}

static state *sh;

static void run(int32_t n_jobs, long sleep_us, int max_ran) {
    static int32_t status[N];
    state *s = sh;
    atomic_store(&s->sleep_us, sleep_us);
    atomic_store(&s->fail, 1);
    lk_invoker *inv = lkt_new(s, op, n_jobs);

    /* plain map */
    reset(s);
    CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, NULL, 0), LK_ERR_CALLBACK);
    CHECK(strstr(lk_last_error(), "index 0") != NULL);
    CHECK(strstr(lk_last_error(), "code 5") != NULL);
    int ran = atomic_load(&s->ran_count);
    printf("n_jobs %d: %d of %d items ran\n", n_jobs, ran, N);
    CHECK(ran >= 1 && ran <= max_ran);

    /* with item_status */
    reset(s);
    for (int i = 0; i < N; i++) status[i] = 0x5A5A5A5A;
    lk_map_options mo = lkt_with_status(status);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, NULL, 0, &mo), LK_ERR_CALLBACK);
    ran = atomic_load(&s->ran_count);
    CHECK(ran >= 1 && ran <= max_ran);
    CHECK(status[0] == 5);
    int skipped = 0;
    for (int i = 0; i < N; i++) {
        if (atomic_load(&s->ran[i])) {
            int32_t want = i == 0 ? 5 : (i % 1000 == 999 ? 6 : 0);
            CHECK(status[i] == want);
        } else {
            CHECK(status[i] == LK_ITEM_SKIPPED);
            skipped++;
        }
    }
    CHECK(skipped == N - ran);

    /* a successful map afterwards runs everything and reports 0 everywhere */
    atomic_store(&s->fail, 0);
    atomic_store(&s->sleep_us, 0);
    reset(s);
    for (int i = 0; i < N; i++) status[i] = 0x5A5A5A5A;
    CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, NULL, 0, &mo));
    CHECK(atomic_load(&s->ran_count) == N);
    for (int i = 0; i < N; i++) CHECK(status[i] == 0);
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    sh = (state *)lkt_shared(sizeof *sh);
    run(1, 0, 1);       /* in order: nothing after item 0 starts */
    run(1, 20, 1);
    run(2, 50, N / 10); /* far fewer than all */
    run(4, 50, N / 10);
    printf("invoker_fault_fail_fast: ok\n");
    return 0;
}
