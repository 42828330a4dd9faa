/* The process backend shares the model copy-on-write as it was when the
 * invoker was made: a change the parent makes to the model after
 * lk_invoker_new_with is not seen by the workers (a threads invoker made at
 * the same time does see it) — also not by a worker that replaced one that
 * died, nor by workers that replaced retired ones (recycling); and what a
 * callback writes outside its result slot (a global) stays in the worker. */
#include "procstest.h"

enum { N = 200, BIG = 1 << 20 };

typedef struct {
    int32_t value;
    unsigned char bulk[BIG]; /* a model bigger than a page, changed too */
} model_t;

typedef struct {
    atomic_int die_at;   /* an item index to _exit(3) on, once; -1: none */
    atomic_int dead_pid; /* the worker that did */
    lkt_pid_set pids;     /* the processes that ran items */
} ctl_t;

static model_t model;    /* in ordinary (private) memory */
static int32_t scribble; /* callbacks write it; the parent must not see that */
static ctl_t *ctl;

typedef struct {
    int32_t value;
    int32_t bulk_sum;
} out_t;

static int32_t op(const void *m, const void *arg, void *result, const lk_task *task) {
    const model_t *md = (const model_t *)m;
    (void)arg;
    if (lkt_take(&ctl->die_at, task->index)) {
        atomic_store(&ctl->dead_pid, (int)getpid());
        _exit(3);
    }
    out_t *r = (out_t *)result;
    r->value = md->value;
    int32_t sum = 0;
    for (size_t i = 0; i < BIG; i += 4096) sum += md->bulk[i];
    r->bulk_sum = sum;
    scribble = 1000 + (int32_t)task->index;
    lkt_pid_add(&ctl->pids, (int)getpid());
    lkt_sleep_us(200);
    return 0;
}

static void set_model(int32_t value) {
    model.value = value;
    memset(model.bulk, value & 0xFF, sizeof model.bulk);
}

static void check_map(lk_invoker *inv, int32_t want, lk_status want_status) {
    static out_t results[N];
    memset(results, 0, sizeof results);
    lk_status s = lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]);
    CHECK_MSG(s == want_status, "map returned %d, expected %d: %s", (int)s, (int)want_status, lk_last_error());
    if (s != LK_OK) return;
    int32_t want_sum = (int32_t)(BIG / 4096) * (want & 0xFF);
    for (int i = 0; i < N; i++) {
        CHECK_MSG(results[i].value == want, "item %d saw model value %d, expected %d", i, results[i].value, want);
        CHECK(results[i].bulk_sum == want_sum);
    }
    CHECK(scribble == 0);
}

int main(void) {
    ctl = (ctl_t *)lkt_begin_crash_test(60, sizeof *ctl);
    atomic_store(&ctl->die_at, -1);

    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        set_model(1);
        lk_invoker *procs = pt_new(&model, op, jobs[j]);
        lk_invoker *threads = NULL;
        CHECK_OK(lk_invoker_new(&model, op, jobs[j], &threads));
        set_model(2); /* after the invoker was made */
        check_map(procs, 1, LK_OK);
        check_map(procs, 1, LK_OK);

        /* a worker dies; its replacement still sees the model as it was */
        atomic_store(&ctl->dead_pid, 0);
        atomic_store(&ctl->die_at, 57);
        check_map(procs, 1, LK_ERR_WORKER_DIED);
        CHECK(atomic_load(&ctl->die_at) == -1);
        int dead = atomic_load(&ctl->dead_pid);
        CHECK(dead > 0);
        set_model(3);
        lkt_pid_clear(&ctl->pids);
        check_map(procs, 1, LK_OK);
        check_map(procs, 1, LK_OK);
        CHECK(!lkt_pid_has(&ctl->pids, dead));
        CHECK_MSG(lkt_pid_count(&ctl->pids) == jobs[j], "%d processes ran items after a death, n_jobs %d",
                  lkt_pid_count(&ctl->pids), jobs[j]);
        CHECK_OK(lk_invoker_shutdown(procs));

        /* the threads backend, for contrast, shares the model in place */
        scribble = 0;
        static out_t results[N];
        CHECK_OK(lk_invoker_map(threads, NULL, N, 0, results, sizeof results[0]));
        for (int i = 0; i < N; i++) CHECK(results[i].value == 3);
        CHECK(scribble != 0); /* a thread's write is seen */
        scribble = 0;
        CHECK_OK(lk_invoker_shutdown(threads));
        printf("n_jobs %d: workers see the model as it was made\n", jobs[j]);
    }

    /* recycled workers (replaced every 10 items) see it as it was too */
    set_model(7);
    lk_invoker_options o = pt_options(2);
    o.recycle_after_items = 10;
    lkt_pid_clear(&ctl->pids);
    lk_invoker *inv = lkt_new_with(&model, op, &o);
    set_model(8);
    for (int m = 0; m < 4; m++) check_map(inv, 7, LK_OK);
    printf("recycling: %d worker processes saw the old model\n", lkt_pid_count(&ctl->pids));
    CHECK(lkt_pid_count(&ctl->pids) > 2);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("processes_api_model_snapshot: ok\n");
    return 0;
}
