/* lk_buffer_append and lk_buffer_free on bad input: NULL data with len > 0
 * and NULL buf are LK_ERR_INVALID; len 0 is a no-op; an impossible size
 * (2^62 bytes) is an error (LK_ERR_SYSTEM), not an abort, and a size that
 * overflows is LK_ERR_INVALID, the buffer unchanged each time, also for
 * the `out` buffer inside a run_sp child; lk_buffer_free(NULL) is a no-op. */
#include "sptest.h"

static const size_t HUGE = (size_t)1 << 62;

static void same(const lk_buffer *a, const lk_buffer *b) { CHECK(memcmp(a, b, sizeof *a) == 0); }

/* In a child: the same checks on `out`, then a normal result. */
static int32_t child(const void *arg, lk_buffer *out) {
    (void)arg;
    static const char small[] = "0123456789";
    SPT_APPEND(out, small, 10);
    lk_buffer before = *out;
    if (lk_buffer_append(out, NULL, 5) != LK_ERR_INVALID) return 10;
    if (memcmp(&before, out, sizeof before) != 0) return 11;
    if (lk_buffer_append(out, small, HUGE) == LK_OK) return 12;
    if (memcmp(&before, out, sizeof before) != 0) return 13;
    if (lk_buffer_append(out, small, SIZE_MAX) != LK_ERR_INVALID) return 14;
    if (memcmp(&before, out, sizeof before) != 0) return 15;
    if (lk_buffer_append(out, NULL, 0) != LK_OK) return 16;
    if (memcmp(&before, out, sizeof before) != 0) return 17;
    SPT_APPEND(out, "!", 1);
    return 0;
}

int main(void) {
    lkt_watchdog(20);
    static const char bytes[] = "abcdefgh";

    lk_buffer_free(NULL); /* no-op */
    CHECK_FAIL(lk_buffer_append(NULL, bytes, 3), LK_ERR_INVALID);
    CHECK_FAIL(lk_buffer_append(NULL, NULL, 3), LK_ERR_INVALID);

    lk_buffer b = spt_empty();
    CHECK_FAIL(lk_buffer_append(&b, NULL, 1), LK_ERR_INVALID);
    CHECK(spt_is_zero(&b));
    CHECK_OK(lk_buffer_append(&b, NULL, 0));
    CHECK(spt_is_zero(&b));
    CHECK_OK(lk_buffer_append(&b, bytes, 0));
    CHECK(spt_is_zero(&b));

    /* 2^62 bytes on an empty buffer and on one with data. */
    CHECK_FAIL(lk_buffer_append(&b, bytes, HUGE), LK_ERR_SYSTEM);
    CHECK(spt_is_zero(&b));
    CHECK_OK(lk_buffer_append(&b, bytes, 8));
    lk_buffer before = b;
    CHECK_FAIL(lk_buffer_append(&b, bytes, HUGE), LK_ERR_SYSTEM);
    same(&before, &b);
    CHECK_FAIL(lk_buffer_append(&b, NULL, 8), LK_ERR_INVALID);
    same(&before, &b);
    /* A length that overflows the address space. */
    CHECK_FAIL(lk_buffer_append(&b, bytes, SIZE_MAX), LK_ERR_INVALID);
    same(&before, &b);
    CHECK_FAIL(lk_buffer_append(&b, bytes, SIZE_MAX - 4), LK_ERR_INVALID);
    same(&before, &b);
    CHECK(memcmp(b.data, bytes, 8) == 0);

    /* Still usable. */
    CHECK_OK(lk_buffer_append(&b, bytes, 4));
    CHECK(b.len == 12 && memcmp(b.data + 8, "abcd", 4) == 0);
    lk_buffer_free(&b);
    CHECK(spt_is_zero(&b));
    lk_buffer_free(&b);
    CHECK(spt_is_zero(&b));

    /* A buffer lkparallel did not make: append refuses it, free only zeroes it. */
    static uint8_t mine[4] = {9, 9, 9, 9};
    lk_buffer foreign = {mine, 4, 4, NULL};
    lk_buffer foreign_before = foreign;
    CHECK_FAIL(lk_buffer_append(&foreign, bytes, 1), LK_ERR_INVALID);
    same(&foreign_before, &foreign);
    lk_buffer_free(&foreign);
    CHECK(spt_is_zero(&foreign));
    CHECK(mine[0] == 9 && mine[3] == 9);

    /* The same on a run_sp result and on the child's `out`. */
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(child, NULL, &res));
    CHECK(res.len == 11 && memcmp(res.data, "0123456789!", 11) == 0);
    before = res;
    CHECK_FAIL(lk_buffer_append(&res, bytes, HUGE), LK_ERR_SYSTEM);
    same(&before, &res);
    CHECK_FAIL(lk_buffer_append(&res, NULL, 2), LK_ERR_INVALID);
    same(&before, &res);
    CHECK(memcmp(res.data, "0123456789!", 11) == 0);
    lk_buffer_free(&res);
    CHECK(spt_is_zero(&res));
    lk_buffer_free(&res);

    lkt_check_no_children();
    printf("run_sp_fault_buffer_append: ok\n");
    return 0;
}
