/* Mutual nesting never deadlocks: callbacks of A map on B, whose callbacks map
 * on A, while every worker slot of A is held by a callback waiting on B. */
#include "lktest.h"

static lk_invoker *A, *B;

static int32_t on_a(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    if (*(const int *)arg > 0) { /* a leaf: A called from B */
        usleep(200);
        *(int *)result = 1;
        return 0;
    }
    int in[4] = {0}, out[4];
    lk_status s = lk_invoker_map(B, in, 4, sizeof(int), out, sizeof(int));
    *(int *)result = s == LK_OK ? out[0] + out[1] + out[2] + out[3] : -100;
    return (int32_t)s;
}

static int32_t on_b(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)task;
    int in[3] = {1, 1, 1}, out[3];
    lk_status s = lk_invoker_map(A, in, 3, sizeof(int), out, sizeof(int));
    *(int *)result = s == LK_OK ? out[0] + out[1] + out[2] : -1000;
    return (int32_t)s;
}

int main(void) {
    lkt_watchdog(60);
    CHECK_OK(lk_invoker_new(NULL, on_a, 2, &A));
    CHECK_OK(lk_invoker_new(NULL, on_b, 2, &B));
    for (int rep = 0; rep < 100; rep++) {
        int in[8] = {0}, out[8];
        CHECK_OK(lk_invoker_map(A, in, 8, sizeof(int), out, sizeof(int)));
        for (int i = 0; i < 8; i++) CHECK(out[i] == 12);
    }
    CHECK_OK(lk_invoker_shutdown(A));
    CHECK_OK(lk_invoker_shutdown(B));
    printf("threads_api_nested_mutual: ok\n");
    return 0;
}
