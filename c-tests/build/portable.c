/* The `portable` build (threads only): maps run on threads, inline and on a
 * pool, while every fork-based call answers LK_ERR_UNSUPPORTED with a
 * message, and handles stay safe. scripts/test links it with the library
 * built with `--features portable`. */
#include "lktest.h"

static int32_t twice(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 2;
    return 0;
}

static int32_t child(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    return 0;
}

int main(void) {
    enum { N = 10000 };
    static uint64_t args[N], results[N];
    for (int i = 0; i < N; i++) args[i] = (uint64_t)i;
    int jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = NULL;
        CHECK_OK(lk_invoker_new(NULL, twice, jobs[j], &inv));
        memset(results, 0, sizeof results);
        CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
        for (int i = 0; i < N; i++) CHECK(results[i] == (uint64_t)i * 2);
        CHECK_OK(lk_invoker_shutdown(inv));
        CHECK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]) == LK_ERR_INVALID);
    }

    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHECK(lk_run_sp(child, NULL, &b) == LK_ERR_UNSUPPORTED);
    CHECK(strstr(lk_last_error(), "portable") != NULL);
    CHECK(b.data == NULL && b.len == 0);

    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.backend = LK_BACKEND_PROCESSES;
    o.n_jobs = 2;
    lk_invoker *inv = (lk_invoker *)0x1;
    CHECK(lk_invoker_new_with(NULL, twice, &o, &inv) == LK_ERR_UNSUPPORTED);
    CHECK(inv == (lk_invoker *)0x1); /* untouched on failure */
    CHECK(lk_last_error()[0] != '\0');

    void *shared = (void *)0x1;
    CHECK(lk_shared_alloc(64, &shared) == LK_ERR_UNSUPPORTED);
    CHECK(strstr(lk_last_error(), "portable") != NULL);
    CHECK(shared == (void *)0x1);
    CHECK(lk_shared_free(NULL) == LK_OK);

    printf("build_portable: ok\n");
    return 0;
}
