/* A non-zero return from the run_sp callback is LK_ERR_CALLBACK with the
 * code in lk_last_error(); what the child appended before failing is not
 * handed back (result stays zeroed). */
#include "sptest.h"

static int32_t fail_with(const void *arg, lk_buffer *out) {
    SPT_APPEND(out, "half-done", 9);
    return *(const int32_t *)arg;
}

int main(void) {
    lkt_watchdog(20);
    const int32_t codes[] = {1, 7, 42, 255, 256, 1000003, -1, -42, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        lk_buffer res = spt_empty();
        CHECK_FAIL(lk_run_sp(fail_with, &codes[i], &res), LK_ERR_CALLBACK);
        CHECK_ERROR_HAS_NUMBER(codes[i]);
        CHECK(spt_is_zero(&res));

        lk_sp_options opts;
        lk_sp_options_init(&opts, sizeof opts);
        opts.timeout_ms = 10000;
        CHECK_FAIL(lk_run_sp_with(fail_with, &codes[i], &opts, &res), LK_ERR_CALLBACK);
        CHECK_ERROR_HAS_NUMBER(codes[i]);
        CHECK(spt_is_zero(&res));
    }
    /* The message stays after a later success (like errno). */
    int32_t zero = 0;
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(fail_with, &zero, &res));
    CHECK(res.len == 9);
    lk_buffer_free(&res);
    CHECK_ERROR_HAS_NUMBER(INT32_MIN);

    lkt_check_no_children();
    printf("run_sp_fault_callback_code: ok\n");
    return 0;
}
