/* After 200 process-invoker lifecycles (create with n_jobs 2, a small map,
 * shutdown) this process has exactly as many open descriptors (entries of
 * /proc/self/fd), child processes (zombies included) and memfd mappings
 * ("memfd:" lines of /proc/self/maps) as before: no zombie, descriptor or
 * shared-memory segment is left. Then 21 more lifecycles of other kinds (a
 * map that fails with a callback error, a worker death then a good map, no
 * map at all), with the same check. */
#include "procstest.h"

enum { N = 64, PLAIN = 200, FAILING = 21 };

static lkt_faults *faults;

/* The model: the item that kills its worker; the argument 999 fails. */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    uint64_t a = *(const uint64_t *)arg;
    lkt_faults_hit((lkt_faults *)model, task->index, 0);
    if (a == 999) return 7;
    *(uint64_t *)result = a * 2;
    return 0;
}

typedef struct {
    int fds, children, memfds;
} counts_t;

static counts_t count(void) {
    counts_t c = {lkt_fd_count(), lkt_children_of(getpid(), NULL, 0), pt_count_maps("memfd:")};
    return c;
}

static void check_same(counts_t before, const char *when) {
    counts_t after = count();
    printf("%s: descriptors %d -> %d, children %d -> %d, memfd mappings %d -> %d\n", when, before.fds, after.fds,
           before.children, after.children, before.memfds, after.memfds);
    if (after.fds != before.fds) {
        static char fds[65536];
        lkt_fd_list(fds, sizeof fds);
        fprintf(stderr, "descriptors now:\n%s", fds);
    }
    CHECK(after.fds == before.fds);
    CHECK(after.children == before.children);
    CHECK(after.memfds == before.memfds);
}

static void lifecycle(int kind) {
    static uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i;
    lk_invoker *inv = pt_new(faults, op, 2);
    switch (kind) {
    case 0:
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint64_t)i * 2);
        break;
    case 1:
        args[10] = 999;
        CHECK_FAIL(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]), LK_ERR_CALLBACK);
        break;
    case 2:
        atomic_store(&faults->die_at, 20);
        CHECK_FAIL(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]), LK_ERR_WORKER_DIED);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
        break;
    default:
        /* no map at all */
        break;
    }
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(void) {
    lkt_watchdog(60);
    faults = lkt_faults_new();
    lifecycle(0); /* whatever the library sets up once is there before counting */
    counts_t before = count();
    double t0 = lkt_now();
    for (int i = 0; i < PLAIN; i++) lifecycle(0);
    printf("%d lifecycles in %.2f s\n", PLAIN, lkt_now() - t0);
    check_same(before, "after the plain lifecycles");
    for (int i = 0; i < FAILING; i++) lifecycle(1 + i % 3);
    check_same(before, "after the other lifecycles");
    lkt_check_no_children();
    printf("processes_leak_lifecycles: ok\n");
    return 0;
}
