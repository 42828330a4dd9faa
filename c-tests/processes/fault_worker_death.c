/* A worker process that dies while running an item — raise(SIGKILL), a real
 * SIGSEGV (a write through a NULL pointer), or _exit(3) — makes the map (fail-
 * fast mode) return LK_ERR_WORKER_DIED promptly (under 2 s after the death,
 * while the whole map would take 4 s or more), with lk_last_error() naming
 * the item index and the signal or exit status; item_status marks that item
 * LK_ITEM_WORKER_DIED, items that never ran LK_ITEM_SKIPPED (result slot
 * untouched) and the others 0 (result written). The next map on the same
 * invoker succeeds with every result right. n_jobs 1, 2 and 4, each kind of
 * death twice on the same invoker. */
#include "procstest.h"

enum { N = 4000, SLEEP_US = 2000, DIE_AT = 137 };
#define UNTOUCHED 0xA5A5A5A5A5A5A5A5ULL


typedef struct {
    atomic_int die_at; /* item index to die on, once; -1: none */
    atomic_int kind;
    atomic_int dead_pid;
    _Atomic double died_at; /* CLOCK_MONOTONIC, the same in every process */
    atomic_int sleep_us;
} ctl_t;

static ctl_t *ctl;

/* The model is the control page (shared with the workers). */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    ctl_t *c = (ctl_t *)model;
    uint64_t a = *(const uint64_t *)arg;
    if (lkt_take(&c->die_at, task->index)) {
        atomic_store(&c->dead_pid, (int)getpid());
        atomic_store(&c->died_at, lkt_now());
        lkt_die(atomic_load(&c->kind));
    }
    int us = atomic_load(&c->sleep_us);
    if (us) lkt_sleep_us(us);
    *(uint64_t *)result = lkt_mix(a);
    return 0;
}

static void check_message(int kind) {
    const char *m = lk_last_error();
    CHECK_ERROR_HAS_NUMBER(DIE_AT);
    switch (kind) {
    case LKT_DIE_KILL: CHECK_MSG(lkt_has_number(m, SIGKILL) || strstr(m, "SIGKILL"), "no signal named: \"%s\"", m); break;
    case LKT_DIE_SEGV: CHECK_MSG(lkt_has_number(m, SIGSEGV) || strstr(m, "SIGSEGV"), "no signal named: \"%s\"", m); break;
    default: CHECK_MSG(lkt_has_number(m, 3), "no exit status 3 named: \"%s\"", m); break;
    }
}

static void run(int n_jobs) {
    static uint64_t args[N], results[N];
    static int32_t status[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i * 77 + 1;
    lk_invoker *inv = pt_new(ctl, op, n_jobs);
    double full = (double)N * SLEEP_US * 1e-6 / n_jobs;
    for (int rep = 0; rep < 2; rep++)
        for (int kind = 0; kind < LKT_DEATHS; kind++) {
            atomic_store(&ctl->kind, kind);
            atomic_store(&ctl->sleep_us, SLEEP_US);
            atomic_store(&ctl->died_at, 0.0);
            atomic_store(&ctl->dead_pid, 0);
            atomic_store(&ctl->die_at, DIE_AT);
            for (int i = 0; i < N; i++) {
                results[i] = UNTOUCHED;
                status[i] = 0x5A5A5A5A;
            }
            lk_map_options mo = lkt_with_status(status);
            CHECK_FAIL(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo),
                       LK_ERR_WORKER_DIED);
            double returned = lkt_now();
            double died = atomic_load(&ctl->died_at);
            CHECK(died > 0);
            check_message(kind);
            printf("n_jobs %d, %s: the map returned %.3f s after the death (full map %.1f s): %s\n", n_jobs,
                   lkt_death_name[kind], returned - died, full, lk_last_error());
            CHECK_MSG(returned - died < 2.0, "the map returned %.3f s after the worker died", returned - died);
            CHECK(!lkt_alive(atomic_load(&ctl->dead_pid)));
            CHECK(status[DIE_AT] == LK_ITEM_WORKER_DIED);
            int ran = 0, skipped = 0;
            for (int i = 0; i < N; i++) {
                if (i == DIE_AT) continue;
                if (status[i] == LK_ITEM_SKIPPED) {
                    skipped++;
                    CHECK(results[i] == UNTOUCHED);
                } else {
                    CHECK_MSG(status[i] == 0, "item %d has status %d", i, status[i]);
                    CHECK(results[i] == lkt_mix(args[i]));
                    ran++;
                }
            }
            CHECK(skipped > 0 && ran + skipped == N - 1);

            /* the next map on the same invoker succeeds */
            atomic_store(&ctl->sleep_us, 0);
            memset(results, 0, sizeof results);
            CHECK_OK(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo));
            for (int i = 0; i < N; i++) {
                CHECK(status[i] == 0);
                CHECK(results[i] == lkt_mix(args[i]));
            }
        }
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    ctl = (ctl_t *)lkt_begin_crash_test(60, sizeof *ctl);
    atomic_store(&ctl->die_at, -1);
    run(1);
    run(2);
    run(4);
    printf("processes_fault_worker_death: ok\n");
    return 0;
}
