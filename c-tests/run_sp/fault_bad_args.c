/* Bad input to lk_run_sp / lk_run_sp_with: NULL func or result, a result
 * buffer that is not zeroed (any of data, len, cap, priv set), options with
 * struct_size 0: LK_ERR_INVALID with a message, the caller's memory
 * untouched, no child started. */
#include "sptest.h"

static void check_not_zeroed(lk_buffer dirty, lk_sp_options *opts) {
    lk_buffer b = dirty;
    if (opts) CHECK_FAIL(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), opts, &b), LK_ERR_INVALID);
    else CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_EMPTY), &b), LK_ERR_INVALID);
    CHECK(memcmp(&b, &dirty, sizeof b) == 0);
}

int main(void) {
    lkt_watchdog(20);
    lk_buffer res = spt_empty();

    CHECK_FAIL(lk_run_sp(NULL, NULL, &res), LK_ERR_INVALID);
    CHECK(spt_is_zero(&res));
    CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_EMPTY), NULL), LK_ERR_INVALID);
    CHECK_FAIL(lk_run_sp(NULL, NULL, NULL), LK_ERR_INVALID);
    CHECK_FAIL(lk_run_sp_with(NULL, NULL, NULL, &res), LK_ERR_INVALID);
    CHECK(spt_is_zero(&res));
    CHECK_FAIL(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), NULL, NULL), LK_ERR_INVALID);

    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    CHECK_FAIL(lk_run_sp_with(NULL, NULL, &opts, &res), LK_ERR_INVALID);
    CHECK_FAIL(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), &opts, NULL), LK_ERR_INVALID);

    /* A result buffer that is not zeroed, in each field. */
    static uint8_t somewhere[16] = {1, 2, 3};
    lk_buffer dirty[5];
    memset(dirty, 0, sizeof dirty);
    dirty[0].data = somewhere;
    dirty[1].len = 3;
    dirty[2].cap = 16;
    dirty[3].priv = somewhere;
    dirty[4].data = somewhere;
    dirty[4].len = 3;
    dirty[4].cap = 16;
    for (int i = 0; i < 5; i++) {
        check_not_zeroed(dirty[i], NULL);
        check_not_zeroed(dirty[i], &opts);
    }
    CHECK(somewhere[0] == 1 && somewhere[1] == 2 && somewhere[2] == 3);

    /* A real result not yet freed is not zeroed either: refused, kept. */
    CHECK_OK(lk_run_sp(spt_child, spt_end_arg(SPT_EMPTY), &res));
    CHECK_OK(lk_buffer_append(&res, "keep", 4));
    lk_buffer held = res;
    CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_EMPTY), &res), LK_ERR_INVALID);
    CHECK(memcmp(&held, &res, sizeof res) == 0);
    CHECK(memcmp(res.data, "keep", 4) == 0);
    lk_buffer_free(&res);

    /* Options with struct_size 0 (not initialised), or too small. */
    lk_sp_options zero;
    memset(&zero, 0, sizeof zero);
    CHECK_FAIL(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), &zero, &res), LK_ERR_INVALID);
    CHECK(spt_is_zero(&res));
    zero.struct_size = 2;
    CHECK_FAIL(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), &zero, &res), LK_ERR_INVALID);
    CHECK(spt_is_zero(&res));
    /* A larger struct from a newer header with unknown fields set. */
    struct {
        lk_sp_options known;
        uint64_t future;
    } newer;
    lk_sp_options_init(&newer.known, sizeof newer);
    CHECK(newer.known.struct_size == sizeof newer);
    CHECK(newer.future == 0);
    CHECK_OK(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), &newer.known, &res)); /* zero: fine */
    lk_buffer_free(&res);
    newer.future = 1;
    CHECK_FAIL(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), &newer.known, &res), LK_ERR_INVALID);
    CHECK(spt_is_zero(&res));

    /* lk_sp_options_init with NULL or a size below 4 does nothing. */
    lk_sp_options_init(NULL, sizeof opts);
    memset(&zero, 0x5a, sizeof zero);
    lk_sp_options_init(&zero, 3);
    const unsigned char *z = (const unsigned char *)&zero;
    for (size_t i = 0; i < sizeof zero; i++) CHECK(z[i] == 0x5a);

    /* None of these started a child. */
    lkt_check_no_children();
    printf("run_sp_fault_bad_args: ok\n");
    return 0;
}
