/* Finding 1: lk_buffer_append(&b, b.data, b.len) — a buffer's own bytes,
 * appended to itself — works across growth. The first release reallocated
 * the storage and then copied from the freed block (a use-after-free:
 * SIGSEGV at 256 KiB, an invalid read under valgrind).
 *
 * Checked for every kind of storage a buffer can have: the C heap (a buffer
 * made by appending), a run_sp result (a mapping the caller got back), and
 * the `out` buffer inside a run_sp child (a shared mapping of the result
 * memfd). Each doubles itself to 4 MiB (past every growth step), then
 * appends ranges that overlap the end, start in the middle, and cover one
 * byte, and the bytes are compared with what they must be. */
#include "hardening/hardtest.h"
#include "run_sp/sptest.h"

enum { SEED_LEN = 3, DOUBLINGS = 20 }; /* 3 << 20 bytes: 3 MiB */

/* What byte i of a buffer seeded with "abc" and doubled must be. */
static int is_pattern(const lk_buffer *b, size_t from, size_t len, size_t phase) {
    static const char seed[] = "abc";
    for (size_t i = 0; i < len; i++)
        if (b->data[from + i] != (uint8_t)seed[(phase + i) % SEED_LEN]) return 0;
    return 1;
}

/* Double `b` (holding "abc" repeated) by appending itself, DOUBLINGS times,
 * then append overlapping and interior ranges of itself. Returns 0 or the
 * step that went wrong (for a child's exit code). */
static int grow_from_self(lk_buffer *b) {
    size_t start = b->len;
    for (int k = 0; k < DOUBLINGS; k++) {
        size_t len = b->len;
        if (lk_buffer_append(b, b->data, b->len) != LK_OK) return 10;
        if (b->len != 2 * len) return 11;
        if (b->cap < b->len) return 12;
    }
    if (b->len != start << DOUBLINGS) return 13;
    if (!is_pattern(b, 0, b->len, 0)) return 14;

    /* The last 1000 bytes again (a range that ends where the new bytes go). */
    size_t len = b->len;
    if (lk_buffer_append(b, b->data + len - 1000, 1000) != LK_OK) return 15;
    if (b->len != len + 1000 || !is_pattern(b, len, 1000, (len - 1000) % SEED_LEN)) return 16;
    /* A range from the middle, long enough to force growth again. */
    len = b->len;
    size_t from = 1, n = b->cap - b->len + 4096;
    if (n > len - from) n = len - from;
    if (lk_buffer_append(b, b->data + from, n) != LK_OK) return 17;
    if (b->len != len + n || !is_pattern(b, len, n, from % SEED_LEN)) return 18;
    /* One byte, when the buffer is exactly full: make it full first. */
    while (b->len < b->cap) {
        size_t room = b->cap - b->len;
        if (lk_buffer_append(b, b->data, room < b->len ? room : b->len) != LK_OK) return 19;
    }
    len = b->len;
    uint8_t last = b->data[len - 1];
    if (lk_buffer_append(b, b->data + len - 1, 1) != LK_OK) return 20;
    if (b->len != len + 1 || b->data[len] != last) return 21;
    return 0;
}

/* In a run_sp child: the same on `out`; the result is the grown buffer. */
static int32_t child(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, "abc", SEED_LEN);
    return grow_from_self(out);
}

/* `b` holds what grow_from_self makes of "abc" (its first two steps). */
static void check_grown(const lk_buffer *b, const char *what) {
    size_t doubled = (size_t)SEED_LEN << DOUBLINGS;
    CHECK_MSG(b->len > doubled + 1000, "%s: %zu bytes", what, b->len);
    CHECK_MSG(is_pattern(b, 0, doubled, 0), "%s: the doubled bytes are wrong", what);
    CHECK_MSG(is_pattern(b, doubled, 1000, (doubled - 1000) % SEED_LEN), "%s: the tail copy is wrong", what);
}

int main(void) {
    lkt_watchdog(60);

    /* On the C heap. */
    lk_buffer b = spt_empty();
    CHECK_OK(lk_buffer_append(&b, "abc", SEED_LEN));
    int step = grow_from_self(&b);
    CHECK_MSG(step == 0, "heap buffer: step %d failed: %s", step, lk_last_error());
    check_grown(&b, "heap buffer");
    lk_buffer_free(&b);
    CHECK(spt_is_zero(&b));

    /* Inside a run_sp child, on `out` (the result memfd's mapping). */
    lk_buffer r = spt_empty();
    lk_status s = lk_run_sp(child, NULL, &r);
    if (s == LK_ERR_CALLBACK) {
        fprintf(stderr, "the child's self-append failed: %s\n", lk_last_error());
        exit(1);
    }
    CHECK_OK(s);
    check_grown(&r, "run_sp child's out");

    /* On a result handed back by run_sp (its storage moves to the heap). */
    size_t before = r.len;
    CHECK_OK(lk_buffer_append(&r, r.data, r.len));
    CHECK(r.len == 2 * before);
    CHECK(memcmp(r.data, r.data + before, before) == 0);
    lk_buffer_free(&r);

    /* A fresh run_sp result, appended to from its own middle. */
    r = spt_empty();
    CHECK_OK(lk_run_sp(child, NULL, &r));
    before = r.len;
    CHECK_OK(lk_buffer_append(&r, r.data + 7, 1 << 20));
    CHECK(r.len == before + (1 << 20));
    CHECK(is_pattern(&r, before, 1 << 20, 7 % SEED_LEN));
    lk_buffer_free(&r);
    lkt_check_no_children();

    printf("hardening_fault_buffer_append_self: ok\n");
    return 0;
}
