/* LK_OK: every function that returns an lk_status answers LK_OK for a valid
 * call (threads and process backends, run_sp with and without options,
 * buffers, cancel with no map in flight, shutdown of NULL), and a successful
 * call leaves lk_last_error() as the last failure set it (like errno). */
#include "lktest.h"
#include "run_sp/sptest.h"

static int32_t twice(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 2;
    return 0;
}

static void check_map(lk_invoker *inv) {
    uint64_t args[100], results[100];
    for (int i = 0; i < 100; i++) args[i] = (uint64_t)i;
    CHECK_OK(lk_invoker_map(inv, args, 100, sizeof args[0], results, sizeof results[0]));
    for (int i = 0; i < 100; i++) CHECK(results[i] == (uint64_t)i * 2);
    int32_t status[100];
    lk_map_options mo = lkt_with_status(status);
    CHECK_OK(lk_invoker_map_with(inv, args, 100, sizeof args[0], results, sizeof results[0], &mo));
    for (int i = 0; i < 100; i++) CHECK(status[i] == 0);
    CHECK_OK(lk_invoker_map(inv, NULL, 0, 0, NULL, 0)); /* n_args 0: a no-op */
    CHECK_OK(lk_invoker_cancel(inv));                   /* nothing in flight */
    CHECK_OK(lk_invoker_map(inv, args, 100, sizeof args[0], results, sizeof results[0]));
}

int main(void) {
    lkt_watchdog(60);
    /* A failure first: its message must survive the successful calls below. */
    CHECK_STATUS(lk_invoker_new(NULL, NULL, 1, NULL), LK_ERR_INVALID);
    char before[512];
    snprintf(before, sizeof before, "%s", lk_last_error());
    CHECK(before[0] != '\0');

    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, twice, 1, &inv));
    check_map(inv);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_invoker_new(NULL, twice, 2, &inv));
    check_map(inv);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_invoker_new_with(NULL, twice, NULL, &inv));
    check_map(inv);
    CHECK_OK(lk_invoker_shutdown(inv));

    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
    CHECK_OK(lk_invoker_new_with(NULL, twice, &o, &inv));
    check_map(inv);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_invoker_shutdown(NULL));

    lk_buffer b;
    memset(&b, 0, sizeof b);
    const void *ok = spt_end_arg(SPT_OK);
    CHECK_OK(lk_run_sp(spt_child, ok, &b));
    CHECK(b.len == 2 && memcmp(b.data, "ok", 2) == 0);
    lk_buffer_free(&b);
    lk_sp_options so;
    lk_sp_options_init(&so, sizeof so);
    so.timeout_ms = 60000;
    CHECK_OK(lk_run_sp_with(spt_child, ok, &so, &b));
    CHECK(b.len == 2 && memcmp(b.data, "ok", 2) == 0);
    lk_buffer_free(&b);
    CHECK_OK(lk_run_sp_with(spt_child, ok, NULL, &b));
    lk_buffer_free(&b);
    CHECK_OK(lk_buffer_append(&b, "abc", 3));
    CHECK_OK(lk_buffer_append(&b, NULL, 0));
    CHECK(b.len == 3);
    lk_buffer_free(&b);

    CHECK(strcmp(lk_last_error(), before) == 0);
    printf("reliability_fault_status_ok: ok\n");
    return 0;
}
