/* Finding 2: the parent never trusts a run_sp child's word about its result
 * length. A child that sets out->len past what it wrote (out->cap + 1 GiB,
 * cap + 1, SIZE_MAX, a length on a buffer with no storage, or a result file
 * it shrank behind the library's back) gets LK_ERR_WORKER_DIED, whose
 * message says what it claimed and what there is; the parent never faults.
 * The first release returned LK_OK with the claimed length, and reading the
 * bytes killed the parent with SIGBUS.
 *
 * Claims the result really covers still work: a length cut short (the
 * callback may drop what it appended) and a length up to the capacity (the
 * memfd holds those bytes, zero-filled). Every byte of each result handed
 * back is read, so a mapping past the result's end would fault here. */
#include "hardening/hardtest.h"
#include "run_sp/sptest.h"

enum {
    LIE_CAP_PLUS_GIB, /* len = cap + 1 GiB */
    LIE_CAP_PLUS_ONE, /* len = cap + 1 */
    LIE_SIZE_MAX,     /* len = SIZE_MAX */
    LIE_NO_STORAGE,   /* nothing appended, len = 100 */
    LIE_SHRUNK,       /* 2 MiB appended, then the memfd truncated to 0 */
    LIE_HEAP,         /* out freed, a heap buffer of 5 bytes claiming 1 GiB */
    TRUE_SHORTER,     /* 1000 appended, len = 10: 10 bytes come back */
    TRUE_FULL_CAP,    /* len = cap: cap bytes come back, zeros after "short" */
    CASES
};

static const char *const case_name[CASES] = {
    "cap + 1 GiB", "cap + 1", "SIZE_MAX", "len on an empty buffer", "result file shrunk", "heap buffer lying",
    "shorter than written", "exactly the capacity"};

static int32_t liar(const void *arg, lk_buffer *out) {
    int how = *(const int *)arg;
    static char big[2 << 20];
    switch (how) {
    case LIE_CAP_PLUS_GIB: SPT_APPEND(out, "short", 5); out->len = out->cap + ((size_t)1 << 30); break;
    case LIE_CAP_PLUS_ONE: SPT_APPEND(out, "short", 5); out->len = out->cap + 1; break;
    case LIE_SIZE_MAX: SPT_APPEND(out, "short", 5); out->len = SIZE_MAX; break;
    case LIE_NO_STORAGE: out->len = 100; break;
    case LIE_SHRUNK: {
        SPT_APPEND(out, big, sizeof big);
        int fd = ht_result_memfd();
        if (fd < 0) return 60;
        if (ftruncate(fd, 0) != 0) return 61;
        break;
    }
    case LIE_HEAP: {
        lk_buffer_free(out);
        SPT_APPEND(out, "heap!", 5);
        out->len = (size_t)1 << 30;
        break;
    }
    case TRUE_SHORTER: SPT_APPEND(out, big, 1000); out->len = 10; break;
    case TRUE_FULL_CAP: SPT_APPEND(out, "short", 5); out->len = out->cap; break;
    }
    return 0;
}

/* Read every byte (a fault here is the bug) and return their sum. */
static uint64_t touch_all(const lk_buffer *b) {
    uint64_t sum = 0;
    for (size_t i = 0; i < b->len; i++) sum += b->data[i];
    return sum;
}

int main(void) {
    lkt_watchdog(60);
    lkt_no_core_dumps();
    for (int how = 0; how < CASES; how++) {
        /* The heap liar makes its own child read past its heap block (the
         * library in the child believes the child's own buffer), which
         * memcheck rightly reports in that child: not under valgrind
         * (c-tests/cmake/reliability.cmake sets LK_VALGRIND for its runs). */
        if (how == LIE_HEAP && getenv("LK_VALGRIND")) continue;
        for (int with_opts = 0; with_opts < 2; with_opts++) {
            lk_buffer r = spt_empty();
            lk_sp_options so;
            lk_sp_options_init(&so, sizeof so);
            so.timeout_ms = 30000;
            lk_status s = with_opts ? lk_run_sp_with(liar, &how, &so, &r) : lk_run_sp(liar, &how, &r);
            const char *msg = lk_last_error();
            printf("%-24s -> %d %s\n", case_name[how], (int)s, s == LK_OK ? "" : msg);
            if (how < TRUE_SHORTER) {
                CHECK_MSG(s == LK_ERR_WORKER_DIED, "%s: status %d (%s), %zu bytes", case_name[how], (int)s, msg,
                          r.len);
                CHECK(spt_is_zero(&r));
                if (how != LIE_HEAP) {
                    /* The parent saw the claim and refused it (the heap liar
                     * may instead die reading its own memory). */
                    CHECK_MSG(strstr(msg, "reported") && strstr(msg, "holds only"), "%s: %s", case_name[how], msg);
                }
            } else {
                CHECK_OK(s);
                (void)touch_all(&r);
                if (how == TRUE_SHORTER) {
                    CHECK(r.len == 10);
                } else {
                    CHECK(r.len >= 5 && r.len == r.cap);
                    CHECK(memcmp(r.data, "short", 5) == 0);
                    for (size_t i = 5; i < r.len; i++) CHECK(r.data[i] == 0);
                }
                lk_buffer_free(&r);
            }
        }
    }
    /* Still healthy: a plain call works. */
    lk_buffer r = spt_empty();
    CHECK_OK(lk_run_sp(spt_child, spt_end_arg(SPT_OK), &r));
    CHECK(r.len == 2 && memcmp(r.data, "ok", 2) == 0);
    lk_buffer_free(&r);
    lkt_check_no_children();
    printf("hardening_fault_sp_length_lie: ok\n");
    return 0;
}
