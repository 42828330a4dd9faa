/* A program a user would write against an installed lkparallel: a map on a
 * thread pool and a run_sp child. Prints "consumer ok <version>". */
#include <stdio.h>
#include <string.h>

#include <lkparallel.h>

#define FAIL(...) do { fprintf(stderr, "consumer: " __VA_ARGS__); fprintf(stderr, " (%s)\n", lk_last_error()); return 1; } while (0)

static int32_t square(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)task;
    *(double *)result = *(const double *)model * *(const double *)arg * *(const double *)arg;
    return 0;
}

static int32_t answer(const void *arg, lk_buffer *out) {
    return lk_buffer_append(out, arg, strlen((const char *)arg)) == LK_OK ? 0 : 1;
}

int main(void) {
    if (strcmp(lk_version(), LKPARALLEL_VERSION) != 0)
        FAIL("header %s but library %s", LKPARALLEL_VERSION, lk_version());
    double scale = 2, args[100], results[100];
    for (int i = 0; i < 100; i++) args[i] = i;
    lk_invoker *inv = NULL;
    if (lk_invoker_new(&scale, square, 2, &inv) != LK_OK) FAIL("lk_invoker_new failed");
    if (lk_invoker_map(inv, args, 100, sizeof args[0], results, sizeof results[0]) != LK_OK) FAIL("map failed");
    for (int i = 0; i < 100; i++)
        if (results[i] != 2.0 * i * i) FAIL("result %d is %g", i, results[i]);
    if (lk_invoker_shutdown(inv) != LK_OK) FAIL("shutdown failed");

    lk_buffer buf = {0};
    if (lk_run_sp(answer, "from the child", &buf) != LK_OK) FAIL("lk_run_sp failed");
    if (buf.len != 14 || memcmp(buf.data, "from the child", 14) != 0) FAIL("lk_run_sp answered wrongly");
    lk_buffer_free(&buf);

    printf("consumer ok %s\n", lk_version());
    return 0;
}
