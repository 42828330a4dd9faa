/* Element sizes 1, 3, 5, 8 and 64 bytes, for arguments and results in every
 * combination, with the process backend (n_jobs 1, 2, 4): each callback gets
 * exactly the bytes of its own argument, its result slot lands at
 * results + i * result_size, no byte outside the n result slots is written,
 * and the arguments are not changed. */
#include "procstest.h"

enum { N = 997, MAX_SIZE = 64, GUARD = 64 };

/* The sizes of the current map: the model points into shared memory, so a
 * change made in the parent after the invoker was made reaches the workers. */
typedef struct {
    atomic_size_t arg_size, result_size;
    atomic_int bad_arg;
} sizes_t;

static unsigned char arg_byte(size_t i, size_t j) { return (unsigned char)(lkt_mix(i * 131 + j) & 0xFF); }
static unsigned char result_byte(size_t i, size_t j) { return (unsigned char)((i * 7 + j * 13 + 1) & 0xFF); }

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    sizes_t *s = (sizes_t *)model;
    size_t as = atomic_load(&s->arg_size), rs = atomic_load(&s->result_size);
    const unsigned char *a = (const unsigned char *)arg;
    for (size_t j = 0; j < as; j++)
        if (a[j] != arg_byte(task->index, j)) {
            atomic_fetch_add(&s->bad_arg, 1);
            return 1;
        }
    unsigned char *r = (unsigned char *)result;
    for (size_t j = 0; j < rs; j++) r[j] = result_byte(task->index, j);
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    sizes_t *s = (sizes_t *)lkt_shared(sizeof *s);
    static unsigned char args[N * MAX_SIZE], copy[N * MAX_SIZE];
    static unsigned char results[GUARD + N * MAX_SIZE + GUARD];
    const size_t sizes[] = {1, 3, 5, 8, 64};
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = pt_new(s, op, jobs[j]);
        for (int ai = 0; ai < 5; ai++)
            for (int ri = 0; ri < 5; ri++) {
                size_t as = sizes[ai], rs = sizes[ri];
                atomic_store(&s->arg_size, as);
                atomic_store(&s->result_size, rs);
                for (size_t i = 0; i < N; i++)
                    for (size_t b = 0; b < as; b++) args[i * as + b] = copy[i * as + b] = arg_byte(i, b);
                memset(results, 0xC3, sizeof results);
                CHECK_OK(lk_invoker_map(inv, args, N, as, results + GUARD, rs));
                CHECK(atomic_load(&s->bad_arg) == 0);
                CHECK(memcmp(args, copy, N * as) == 0);
                for (size_t b = 0; b < GUARD; b++) CHECK(results[b] == 0xC3);
                for (size_t i = 0; i < N; i++)
                    for (size_t b = 0; b < rs; b++)
                        CHECK_MSG(results[GUARD + i * rs + b] == result_byte(i, b),
                                  "n_jobs %d, arg_size %zu, result_size %zu: byte %zu of result %zu",
                                  jobs[j], as, rs, b, i);
                for (size_t b = GUARD + N * rs; b < sizeof results; b++) CHECK(results[b] == 0xC3);
            }
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: 25 size combinations right\n", jobs[j]);
    }
    printf("api_procs_element_sizes: ok\n");
    return 0;
}
