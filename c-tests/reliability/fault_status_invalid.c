/* LK_ERR_INVALID, from every kind of bad input API.md names: NULL where one
 * is needed, a size product that overflows, an unknown or dead handle, a bad
 * option value. Each sets a message and leaves the outputs untouched. */
#include "lktest.h"
#include "run_sp/sptest.h"

int main(void) {
    lkt_watchdog(60);
    lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5e5e5e50;
    lk_invoker *inv = SENTINEL;

    /* NULL where one is needed. */
    CHECK_FAIL(lk_invoker_new(NULL, NULL, 2, &inv), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_new(NULL, lkt_nop, 2, NULL), LK_ERR_INVALID);
    CHECK(inv == SENTINEL);
    /* A bad option value. */
    CHECK_FAIL(lk_invoker_new(NULL, lkt_nop, -2, &inv), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_new(NULL, lkt_nop, INT32_MIN, &inv), LK_ERR_INVALID);
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.backend = 7;
    CHECK_FAIL(lk_invoker_new_with(NULL, lkt_nop, &o, &inv), LK_ERR_INVALID);
    lk_invoker_options_init(&o, sizeof o);
    o.error_mode = -1;
    CHECK_FAIL(lk_invoker_new_with(NULL, lkt_nop, &o, &inv), LK_ERR_INVALID);
    lk_invoker_options_init(&o, sizeof o);
    o.struct_size = 3;
    CHECK_FAIL(lk_invoker_new_with(NULL, lkt_nop, &o, &inv), LK_ERR_INVALID);
    CHECK(inv == SENTINEL);

    CHECK_OK(lk_invoker_new(NULL, lkt_nop, 2, &inv));
    uint64_t buf[4] = {0, 0, 0, 0};
    /* NULL arrays with a non-zero size; a size product that overflows. */
    CHECK_FAIL(lk_invoker_map(inv, NULL, 4, 8, buf, 8), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, buf, 4, 8, NULL, 8), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, buf, SIZE_MAX / 2, 3, NULL, 0), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(inv, NULL, SIZE_MAX, 0, buf, SIZE_MAX), LK_ERR_INVALID);
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = 99;
    CHECK_FAIL(lk_invoker_map_with(inv, buf, 4, 8, buf, 8, &mo), LK_ERR_INVALID);
    lk_map_options_init(&mo, sizeof mo);
    mo.struct_size = 2;
    CHECK_FAIL(lk_invoker_map_with(inv, buf, 4, 8, buf, 8, &mo), LK_ERR_INVALID);
    CHECK(buf[0] == 0 && buf[3] == 0);

    /* Unknown, NULL and dead handles: every call, never a crash. */
    lk_invoker *bogus = (lk_invoker *)(uintptr_t)0x12345670;
    CHECK_FAIL(lk_invoker_map(bogus, NULL, 4, 0, NULL, 0), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map(NULL, NULL, 4, 0, NULL, 0), LK_ERR_INVALID);
    CHECK_STATUS(lk_invoker_cancel(bogus), LK_ERR_INVALID);
    CHECK_STATUS(lk_invoker_cancel(NULL), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_shutdown(bogus), LK_ERR_INVALID);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_FAIL(lk_invoker_map(inv, NULL, 4, 0, NULL, 0), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, 4, 0, NULL, 0, NULL), LK_ERR_INVALID);
    CHECK_STATUS(lk_invoker_cancel(inv), LK_ERR_INVALID);
    CHECK_FAIL(lk_invoker_shutdown(inv), LK_ERR_INVALID);

    /* run_sp and buffers. */
    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHECK_FAIL(lk_run_sp(NULL, NULL, &b), LK_ERR_INVALID);
    CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_EMPTY), NULL), LK_ERR_INVALID);
    uint8_t mine = 7;
    lk_buffer used = {&mine, 1, 1, NULL};
    CHECK_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_EMPTY), &used), LK_ERR_INVALID);
    CHECK(used.data == &mine && used.len == 1 && used.cap == 1 && mine == 7);
    lk_sp_options so;
    lk_sp_options_init(&so, sizeof so);
    so.struct_size = 1;
    CHECK_FAIL(lk_run_sp_with(spt_child, spt_end_arg(SPT_EMPTY), &so, &b), LK_ERR_INVALID);
    CHECK_FAIL(lk_buffer_append(NULL, "x", 1), LK_ERR_INVALID);
    CHECK_FAIL(lk_buffer_append(&b, NULL, 1), LK_ERR_INVALID);
    CHECK_OK(lk_buffer_append(&b, "x", 1));
    CHECK_FAIL(lk_buffer_append(&b, "y", SIZE_MAX), LK_ERR_INVALID);
    CHECK(b.len == 1 && b.data[0] == 'x');
    lk_buffer_free(&b);
    printf("reliability_fault_status_invalid: ok\n");
    return 0;
}
