/* Keep-going mode and a worker that dies on one item (raise(SIGKILL), a real
 * SIGSEGV, _exit(3)): the map returns LK_ERR_WORKER_DIED naming that item,
 * every other item completes exactly once with its result written and status
 * 0, and only the dead worker's item is marked LK_ITEM_WORKER_DIED in
 * item_status. Also with two deaths in one map (two items marked, the rest
 * complete). The next map on the same invoker succeeds. n_jobs 1, 2, 4. */
#include "procstest.h"

enum { N = 1000, DIE_A = 137, DIE_B = 862 };


typedef struct {
    atomic_int die_a, die_b; /* item indices to die on, once each; -1: none */
    atomic_int kind;
    atomic_int runs[N];
} ctl_t;

static ctl_t *ctl;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint64_t a = *(const uint64_t *)arg;
    atomic_fetch_add(&ctl->runs[task->index], 1);
    if (lkt_take(&ctl->die_a, task->index) || lkt_take(&ctl->die_b, task->index)) lkt_die(atomic_load(&ctl->kind));
    if (task->index % 5 == 0) lkt_sleep_us(300);
    *(uint64_t *)result = lkt_mix(a);
    return 0;
}

static void one_map(lk_invoker *inv, int kind, int two, int n_jobs) {
    static uint64_t args[N], results[N];
    static int32_t status[N];
    for (int i = 0; i < N; i++) {
        args[i] = (uint64_t)i * 31 + 5;
        results[i] = 0;
        status[i] = 0x5A5A5A5A;
        atomic_store(&ctl->runs[i], 0);
    }
    atomic_store(&ctl->kind, kind);
    atomic_store(&ctl->die_a, DIE_A);
    atomic_store(&ctl->die_b, two ? DIE_B : -1);
    lk_map_options mo = lkt_with_status(status);
    double t0 = lkt_now();
    CHECK_FAIL(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo), LK_ERR_WORKER_DIED);
    double took = lkt_now() - t0;
    const char *m = lk_last_error();
    CHECK_MSG(lkt_has_number(m, DIE_A) || (two && lkt_has_number(m, DIE_B)), "the item is not named: \"%s\"", m);
    printf("n_jobs %d, %s%s: %.3f s: %s\n", n_jobs, lkt_death_name[kind], two ? " twice" : "", took, m);
    CHECK(atomic_load(&ctl->die_a) == -1);
    if (two) CHECK(atomic_load(&ctl->die_b) == -1);
    for (int i = 0; i < N; i++) {
        if (i == DIE_A || (two && i == DIE_B)) {
            CHECK_MSG(status[i] == LK_ITEM_WORKER_DIED, "the dead item %d has status %d", i, status[i]);
            CHECK_MSG(atomic_load(&ctl->runs[i]) == 1, "the dead item %d ran %d times", i,
                      atomic_load(&ctl->runs[i]));
            continue;
        }
        CHECK_MSG(status[i] == 0, "%s: item %d has status %d", lkt_death_name[kind], i, status[i]);
        CHECK_MSG(atomic_load(&ctl->runs[i]) == 1, "item %d ran %d times", i, atomic_load(&ctl->runs[i]));
        CHECK(results[i] == lkt_mix(args[i]));
    }
    /* the next map succeeds */
    atomic_store(&ctl->die_a, -1);
    atomic_store(&ctl->die_b, -1);
    memset(results, 0, sizeof results);
    CHECK_OK(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo));
    for (int i = 0; i < N; i++) CHECK(status[i] == 0 && results[i] == lkt_mix(args[i]));
}

int main(void) {
    ctl = (ctl_t *)lkt_begin_crash_test(60, sizeof *ctl);
    atomic_store(&ctl->die_a, -1);
    atomic_store(&ctl->die_b, -1);
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker_options o = pt_options(jobs[j]);
        o.error_mode = LK_ERRORS_KEEP_GOING;
        lk_invoker *inv = lkt_new_with(NULL, op, &o);
        for (int kind = 0; kind < LKT_DEATHS; kind++) one_map(inv, kind, 0, jobs[j]);
        one_map(inv, LKT_DIE_KILL, 1, jobs[j]);
        one_map(inv, LKT_DIE_EXIT3, 1, jobs[j]);
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    printf("processes_fault_death_keep_going: ok\n");
    return 0;
}
