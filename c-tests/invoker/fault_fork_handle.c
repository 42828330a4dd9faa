/* A handle inherited by a plain fork()ed child is dead there: every call
 * with it (map, map_with, cancel, shutdown) gives LK_ERR_INVALID, never a
 * crash or a hang, and the child's calls disturb neither the parent's
 * invoker nor its workers; new invokers made in the child work (n_jobs 2, 1
 * and 4), and the inherited handle does not alias them. The parent's
 * invoker is unaffected, also when the child is forked while a parent
 * thread is in the middle of a map; no child is left behind. */
#include "lktest.h"

static atomic_int *busy_ran; /* shared memory: workers may be processes */

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    if (task->index % 20 == 0) lkt_sleep_us(1000);
    *(uint64_t *)result = *(const uint64_t *)arg + 100;
    return 0;
}

static int32_t slow_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    (void)task;
    atomic_fetch_add(busy_ran, 1);
    lkt_sleep_us(500);
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
static void child_checks(lk_invoker *inherited) {
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
    _exit(0);
}

static void fork_and_check(lk_invoker *inherited) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) child_checks(inherited);
    int code = lkt_wait_child(pid);
    if (code != 0) fprintf(stderr, "child exited with %d\n", code);
    CHECK(code == 0);
}

static void *busy_map(void *p) {
    CHECK_OK(lk_invoker_map((lk_invoker *)p, NULL, 400, 0, NULL, 0));
    return NULL;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    busy_ran = (atomic_int *)lkt_shared(sizeof *busy_ran);

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
    lk_invoker *inv = lkt_new(NULL, op, 2), *busy = lkt_new(NULL, slow_op, 2);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, busy_map, busy) == 0);
    while (atomic_load(busy_ran) < 10) lkt_sleep_us(500);
    fork_and_check(busy);
    fork_and_check(inv);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(atomic_load(busy_ran) == 400);
    CHECK(map_works(inv));
    CHECK_OK(lk_invoker_shutdown(busy));
    CHECK_OK(lk_invoker_shutdown(inv));
    lkt_check_no_children();
    printf("invoker_fault_fork_handle: ok\n");
    return 0;
}
