/* lk_sp_options.memory_limit once shared memory is reserved (the header:
 * the region counts toward an address-space limit like any mapping, and
 * the limit is RLIMIT_AS exactly): with a limit of what the process maps
 * now (the region included) plus 256 MiB, the child gets exactly that
 * RLIMIT_AS, allocates 64 MiB, writes the shared block (the parent sees
 * it), and fails to allocate 2 GiB (its code comes back). */
#include "lktest.h"

#define MiB ((size_t)1 << 20)

typedef struct {
    uint64_t *shared;
    size_t big;
} arg_t;

static int32_t grab(const void *arg, lk_buffer *out) {
    const arg_t *a = (const arg_t *)arg;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0) return 3;
    uint64_t cur = (uint64_t)rl.rlim_cur;
    if (lk_buffer_append(out, &cur, sizeof cur) != LK_OK) return 4;
    void *small = malloc(64 * MiB);
    if (!small) return 22;
    memset(small, 1, 64 * MiB);
    free(small);
    a->shared[0] = 77;
    char *p = (char *)malloc(a->big);
    if (!p) return 21;
    p[0] = 1;
    free(p);
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    size_t before = lkt_vm_size();
    arg_t a = {NULL, 2048 * MiB};
    CHECK_OK(lk_shared_alloc(64, (void **)&a.shared));
    CHECK(lkt_vm_size() >= before + 32 * MiB); /* the region is reserved: it counts */
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.memory_limit = (uint64_t)(lkt_vm_size() + 256 * MiB);
    lk_buffer res = {0};
    CHECK_FAIL(lk_run_sp_with(grab, &a, &opts, &res), LK_ERR_CALLBACK);
    CHECK_ERROR_HAS_NUMBER(21);
    CHECK(a.shared[0] == 77);
    a.big = 16 * MiB;
    CHECK_OK(lk_run_sp_with(grab, &a, &opts, &res));
    uint64_t seen = 0;
    CHECK(res.len == sizeof seen);
    memcpy(&seen, res.data, sizeof seen);
    CHECK_MSG(seen == opts.memory_limit, "RLIMIT_AS %llu, asked %llu", (unsigned long long)seen,
              (unsigned long long)opts.memory_limit);
    lk_buffer_free(&res);
    CHECK_OK(lk_shared_free(a.shared));
    return 0;
}
