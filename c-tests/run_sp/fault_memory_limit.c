/* lk_sp_options.memory_limit caps the child's address space: a big malloc
 * in the child fails there (its callback then returns non-zero, so the call
 * is LK_ERR_CALLBACK), while small ones still work and the parent is not
 * limited. */
#include "sptest.h"

#define MiB ((size_t)1 << 20)

/* Code 0: the big block was had. 21: malloc of it failed. 22: even a small
 * one failed (the limit is not what was asked). */
static int32_t grab(const void *arg, lk_buffer *out) {
    size_t big = *(const size_t *)arg;
    void *small = malloc(4 * MiB);
    if (!small) return 22;
    memset(small, 1, 4 * MiB);
    free(small);
    char *p = (char *)malloc(big);
    if (!p) return 21;
    p[0] = 1;
    p[big - 1] = 1;
    free(p);
    SPT_APPEND(out, "got it", 6);
    return 0;
}

static int32_t report_limit(const void *arg, lk_buffer *out) {
    (void)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) return 3;
    uint64_t cur = (uint64_t)rl.rlim_cur;
    SPT_APPEND(out, &cur, sizeof cur);
    return 0;
}

int main(void) {
    lkt_watchdog(20);
    size_t big = 2048 * MiB;

    /* Without a limit the child gets its 2 GiB (overcommitted, barely touched). */
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(grab, &big, &res));
    CHECK(res.len == 6 && memcmp(res.data, "got it", 6) == 0);
    lk_buffer_free(&res);

    /* With a limit of what the process maps now plus 256 MiB, the 2 GiB
     * malloc fails in the child and its code comes back. */
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.memory_limit = (uint64_t)(lkt_vm_size() + 256 * MiB);
    CHECK_FAIL(lk_run_sp_with(grab, &big, &opts, &res), LK_ERR_CALLBACK);
    CHECK_ERROR_HAS_NUMBER(21);
    CHECK(spt_is_zero(&res));

    /* The child's RLIMIT_AS is the limit asked for. */
    CHECK_OK(lk_run_sp_with(report_limit, NULL, &opts, &res));
    uint64_t seen = 0;
    CHECK(res.len == sizeof seen);
    memcpy(&seen, res.data, sizeof seen);
    CHECK(seen == opts.memory_limit);
    lk_buffer_free(&res);

    /* The parent is not limited. */
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0);
    CHECK(rl.rlim_cur == RLIM_INFINITY);
    char *p = (char *)malloc(big);
    CHECK(p != NULL);
    free(p);

    /* memory_limit 0 means none. */
    opts.memory_limit = 0;
    CHECK_OK(lk_run_sp_with(grab, &big, &opts, &res));
    lk_buffer_free(&res);

    lkt_check_no_children();
    printf("run_sp_fault_memory_limit: ok\n");
    return 0;
}
