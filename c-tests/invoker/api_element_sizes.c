/* Element sizes 1, 3, 5, 7, 8 and 64 bytes, for arguments and results in
 * every combination (n_jobs 1, 2, 4): each callback gets exactly the bytes
 * of its own argument, its result slot lands at results + i * result_size,
 * no byte outside the n result slots is written (before or after them),
 * and the arguments are not changed (nor the bytes after them). With
 * threads the callback gets the very pointers args + i * arg_size and
 * results + i * result_size; worker processes get copies. */
#include "lktest.h"

enum { N = 997, MAX_SIZE = 64, GUARD = 64 };

/* The sizes and arrays of the current map: the model is shared memory, so a
 * change made in the parent after the invoker was made reaches the workers. */
typedef struct {
    atomic_size_t arg_size, result_size;
    const unsigned char *args;
    unsigned char *results;
    atomic_int bad_arg, bad_pointer;
} sizes_t;

static unsigned char args[N * MAX_SIZE + GUARD], copy[N * MAX_SIZE + GUARD];
static unsigned char results[GUARD + N * MAX_SIZE + GUARD];

static unsigned char arg_byte(size_t i, size_t j) { return (unsigned char)(lkt_mix(i * 131 + j) & 0xFF); }
static unsigned char result_byte(size_t i, size_t j) { return (unsigned char)((i * 7 + j * 13 + 1) & 0xFF); }

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    sizes_t *s = (sizes_t *)model;
    size_t as = atomic_load(&s->arg_size), rs = atomic_load(&s->result_size);
    if (s->args && ((const unsigned char *)arg != s->args + task->index * as ||
                    (unsigned char *)result != s->results + task->index * rs))
        atomic_fetch_add(&s->bad_pointer, 1);
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

static void run(lk_invoker *inv, sizes_t *s, int32_t n_jobs, size_t as, size_t rs) {
    atomic_store(&s->arg_size, as);
    atomic_store(&s->result_size, rs);
    memset(args, 0xCD, sizeof args);
    for (size_t i = 0; i < N; i++)
        for (size_t b = 0; b < as; b++) args[i * as + b] = arg_byte(i, b);
    memcpy(copy, args, sizeof args);
    memset(results, 0xC3, sizeof results);
    CHECK_OK(lk_invoker_map(inv, args, N, as, results + GUARD, rs));
    CHECK(atomic_load(&s->bad_arg) == 0);
    CHECK(atomic_load(&s->bad_pointer) == 0);
    CHECK(memcmp(args, copy, sizeof args) == 0);
    for (size_t b = 0; b < GUARD; b++) CHECK(results[b] == 0xC3);
    for (size_t i = 0; i < N; i++)
        for (size_t b = 0; b < rs; b++)
            CHECK_MSG(results[GUARD + i * rs + b] == result_byte(i, b),
                      "n_jobs %d, arg_size %zu, result_size %zu: byte %zu of result %zu", n_jobs, as, rs, b, i);
    for (size_t b = GUARD + N * rs; b < sizeof results; b++) CHECK(results[b] == 0xC3);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    sizes_t *s = (sizes_t *)lkt_shared(sizeof *s);
    if (!lkt_processes()) {
        /* the callback is handed pointers into these very arrays */
        s->args = args;
        s->results = results + GUARD;
    }
    const size_t sizes[] = {1, 3, 5, 7, 8, 64};
    const size_t n_sizes = sizeof sizes / sizeof sizes[0];
    const int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        lk_invoker *inv = lkt_new(s, op, jobs[j]);
        for (size_t ai = 0; ai < n_sizes; ai++)
            for (size_t ri = 0; ri < n_sizes; ri++) run(inv, s, jobs[j], sizes[ai], sizes[ri]);
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: %zu size combinations right\n", jobs[j], n_sizes * n_sizes);
    }
    printf("invoker_api_element_sizes: ok\n");
    return 0;
}
