/* The smallest useful map: ordered results through a 2-worker pool. */
#include "lktest.h"

static int32_t twice_plus_one(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 2 + 1;
    return 0;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(30);
    enum { N = 1000 };
    uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i;
    lk_invoker *inv = lkt_new(NULL, twice_plus_one, 2);
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    for (int i = 0; i < N; i++) CHECK(results[i] == args[i] * 2 + 1);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("invoker_api_smoke: ok\n");
    return 0;
}
