/* Alignment of a range's args and results (API.md, Range maps): they keep
 * the alignment the caller's arrays have at that element, up to 64 bytes,
 * on both backends, so a loop over `const T *` may rely on alignof(T).
 * Element sizes 1 .. 128 (odd ones included), the caller's arrays placed
 * at offsets 0, 1, 2, 4, 8, 16, 32 and 48 from a 128-byte boundary (args
 * and results at different offsets), maps of 1,000 items and, for some,
 * maps larger than the process backend's shared window (hundreds of
 * thousands of items); n_jobs 1, 2 and 4. Every argument byte is read
 * where it should be and every result byte written back. */
#include "range/rangetest.h"

typedef struct {
    size_t arg_size, result_size;
    uintptr_t caller_args, caller_results; /* the caller's arrays (addresses only) */
    atomic_int misaligned;
    atomic_int bad_bytes;
    size_t first_bad, bad_args_at, bad_results_at;
} state_t;

static uint8_t arg_byte(size_t index, size_t b) {
    return (uint8_t)(index * 31 + b * 7 + (index >> 8));
}

/* The alignment of an address, at most 64. */
static uintptr_t align_of(uintptr_t p) {
    uintptr_t a = 64;
    while (a > 1 && p % a != 0) a >>= 1;
    return a;
}

static int32_t range_fn(const void *model, const void *args, void *results, lk_range *r) {
    state_t *s = (state_t *)model;
    uintptr_t want_a = align_of(s->caller_args + r->begin * s->arg_size);
    uintptr_t want_r = align_of(s->caller_results + r->begin * s->result_size);
    if ((uintptr_t)args % want_a != 0 || (uintptr_t)results % want_r != 0) {
        if (atomic_fetch_add(&s->misaligned, 1) == 0) {
            s->bad_args_at = ((uintptr_t)args % want_a) | (want_a << 16);
            s->bad_results_at = ((uintptr_t)results % want_r) | (want_r << 16);
            s->first_bad = r->begin;
        }
    }
    const uint8_t *a = (const uint8_t *)args;
    uint8_t *res = (uint8_t *)results;
    for (size_t i = r->begin; i < r->end; i++) {
        for (size_t b = 0; b < s->arg_size; b++)
            if (a[b] != arg_byte(i, b)) atomic_fetch_add(&s->bad_bytes, 1);
        for (size_t b = 0; b < s->result_size; b++) res[b] = (uint8_t)(arg_byte(i, b) ^ 0x5A);
        a += s->arg_size;
        res += s->result_size;
    }
    return 0;
}

static uint8_t *arg_buf, *result_buf;

static void one(state_t *s, lk_invoker *inv, int n_jobs, size_t size, size_t off_a, size_t off_r, size_t n) {
    char what[160];
    snprintf(what, sizeof what, "n_jobs %d, %zu-byte elements, args at +%zu, results at +%zu, %zu items", n_jobs,
             size, off_a, off_r, n);
    uint8_t *a = arg_buf + off_a, *res = result_buf + off_r;
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < size; b++) a[i * size + b] = arg_byte(i, b);
    memset(res, 0, n * size);
    s->arg_size = s->result_size = size;
    s->caller_args = (uintptr_t)a;
    s->caller_results = (uintptr_t)res;
    atomic_store(&s->misaligned, 0);
    atomic_store(&s->bad_bytes, 0);
    CHECK_OK(lk_invoker_map(inv, a, n, size, res, size));
    CHECK_MSG(atomic_load(&s->misaligned) == 0,
              "%s: %d ranges misaligned, e.g. the one from %zu: args %% %zu = %zu, results %% %zu = %zu", what,
              atomic_load(&s->misaligned), s->first_bad, s->bad_args_at >> 16, s->bad_args_at & 0xFFFF,
              s->bad_results_at >> 16, s->bad_results_at & 0xFFFF);
    CHECK_MSG(atomic_load(&s->bad_bytes) == 0, "%s: %d argument bytes read wrong", what, atomic_load(&s->bad_bytes));
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < size; b++)
            CHECK_MSG(res[i * size + b] == (uint8_t)(arg_byte(i, b) ^ 0x5A), "%s: item %zu, byte %zu", what, i, b);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(240);
    state_t *s = (state_t *)lkt_shared(sizeof *s);
    const size_t max_bytes = 16u << 20;
    CHECK(posix_memalign((void **)&arg_buf, 128, max_bytes + 128) == 0);
    CHECK(posix_memalign((void **)&result_buf, 128, max_bytes + 128) == 0);

    const size_t sizes[] = {1, 2, 3, 4, 8, 12, 16, 24, 32, 40, 48, 64, 96, 128};
    const size_t offs[] = {0, 1, 2, 4, 8, 16, 32, 48};
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker_options o = lkt_options(jobs[j]);
        o.grain = 1 + (size_t)j * 5; /* ranges that begin anywhere */
        lk_invoker *inv = rt_new_with(s, range_fn, &o);
        for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
            for (size_t oa = 0; oa < sizeof offs / sizeof offs[0]; oa++) {
                size_t or_ = offs[(oa + 3) % (sizeof offs / sizeof offs[0])];
                one(s, inv, jobs[j], sizes[z], offs[oa], or_, 1000);
            }
        /* larger than the process backend's shared window (8 MiB) */
        const size_t big_sizes[] = {8, 16, 24, 64};
        for (size_t z = 0; z < 4; z++) {
            size_t n = max_bytes / big_sizes[z];
            one(s, inv, jobs[j], big_sizes[z], 0, 16, n);
            one(s, inv, jobs[j], big_sizes[z], 8, 32, n - 3);
        }
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: ok\n", jobs[j]);
    }
    free(arg_buf);
    free(result_buf);
    printf("range_api_alignment: ok\n");
    return 0;
}
