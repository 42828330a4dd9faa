/* A handle inherited by a plain fork()ed child is dead there: every call
 * with it (map, map_with, cancel, shutdown) gives LK_ERR_INVALID, never a
 * crash or a hang, and the child's calls disturb neither the parent's
 * invoker nor its workers; new invokers made in the child work (n_jobs 2, 1
 * and 4), and the inherited handle does not alias them. The parent's
 * invoker is unaffected, also when the child is forked while a parent
 * thread is in the middle of a map; no child is left behind. */
#include "lktest.h"

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    if (task->index % 20 == 0) lkt_sleep_us(1000);
    *(uint64_t *)result = *(const uint64_t *)arg + 100;
    return 0;
}

enum { N = 500 };

static int map_works(lk_invoker *inv) {
    uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) {
        args[i] = (uint64_t)i;
        results[i] = 0;
    }
    if (lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]) != LK_OK) return 0;
    for (int i = 0; i < N; i++)
        if (results[i] != (uint64_t)i + 100) return 0;
    return 1;
}

/* In the child: every call with the inherited handle is refused. */
static void child_checks(void *p) {
    lk_invoker *inherited = (lk_invoker *)p;
    lkt_watchdog(20);
    uint64_t args[4] = {1, 2, 3, 4}, results[4] = {0, 0, 0, 0};
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    CHECK_CHILD(lk_invoker_map(inherited, args, 4, sizeof args[0], results, sizeof results[0]) == LK_ERR_INVALID);
    CHECK_CHILD(lk_last_error()[0] != '\0');
    CHECK_CHILD(lk_invoker_map(inherited, NULL, 0, 0, NULL, 0) == LK_ERR_INVALID);
    CHECK_CHILD(lk_invoker_map_with(inherited, args, 4, sizeof args[0], results, sizeof results[0], &mo) ==
                LK_ERR_INVALID);
    CHECK_CHILD(lk_invoker_cancel(inherited) == LK_ERR_INVALID);
    CHECK_CHILD(lk_invoker_shutdown(inherited) == LK_ERR_INVALID);
    CHECK_CHILD(lk_last_error()[0] != '\0');
    for (int i = 0; i < 4; i++) CHECK_CHILD(results[i] == 0);

    /* new invokers made in the child work: pools and an n_jobs 1 one */
    int32_t jobs[] = {2, 1, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker_options o = lkt_options(jobs[j]);
        lk_invoker *fresh = NULL;
        CHECK_CHILD(lk_invoker_new_with(NULL, op, &o, &fresh) == LK_OK);
        CHECK_CHILD(fresh != inherited);
        CHECK_CHILD(map_works(fresh));
        /* the inherited handle stays dead: it does not reach the new invoker */
        CHECK_CHILD(lk_invoker_map(inherited, args, 4, sizeof args[0], results, sizeof results[0]) ==
                    LK_ERR_INVALID);
        CHECK_CHILD(lk_invoker_cancel(inherited) == LK_ERR_INVALID);
        CHECK_CHILD(map_works(fresh));
        CHECK_CHILD(lk_invoker_shutdown(fresh) == LK_OK);
        CHECK_CHILD(lk_invoker_map(fresh, args, 4, sizeof args[0], results, sizeof results[0]) == LK_ERR_INVALID);
    }
}

static void fork_and_check(lk_invoker *inherited) {
    lkt_in_child(child_checks, inherited, "the child with an inherited handle");
}

static void *busy_map(void *p) {
    CHECK_OK(lk_invoker_map((lk_invoker *)p, NULL, 400, 0, NULL, 0));
    return NULL;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    lkt_slow *slow = (lkt_slow *)lkt_shared(sizeof *slow); /* workers may be processes */
    slow->sleep_us = 500;

    /* an idle pool, an n_jobs 1 invoker */
    int32_t jobs[] = {2, 1};
    for (int j = 0; j < 2; j++) {
        lk_invoker *inv = lkt_new(NULL, op, jobs[j]);
        CHECK(map_works(inv));
        fork_and_check(inv);
        CHECK(map_works(inv)); /* the parent's handle is still alive */
        CHECK_OK(lk_invoker_shutdown(inv));
    }

    /* forked while a parent thread is in the middle of a map */
    lk_invoker *inv = lkt_new(NULL, op, 2), *busy = lkt_new(slow, lkt_slow_item, 2);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, busy_map, busy) == 0);
    lkt_slow_wait(slow, 10);
    fork_and_check(busy);
    fork_and_check(inv);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(atomic_load(&slow->started) == 400);
    CHECK(map_works(inv));
    CHECK_OK(lk_invoker_shutdown(busy));
    CHECK_OK(lk_invoker_shutdown(inv));
    lkt_check_no_children();
    printf("invoker_fault_fork_handle: ok\n");
    return 0;
}
