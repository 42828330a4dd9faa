/* Odd element sizes (3-byte arguments, 5-byte results and the reverse):
 * each callback gets exactly args + i*arg_size and results + i*result_size,
 * result i belongs to argument i, and nothing past the arrays is written. */
#include "lktest.h"

enum { N = 1001, CANARY = 16 };

typedef struct {
    const unsigned char *args;
    unsigned char *results;
    size_t arg_size, result_size;
    atomic_int bad_pointer;
} arrays;

static uint64_t value_of(const unsigned char *p, size_t size) {
    uint64_t v = 0;
    for (size_t k = 0; k < size; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static void put(unsigned char *p, size_t size, uint64_t v) {
    for (size_t k = 0; k < size; k++) p[k] = (unsigned char)(v >> (8 * k));
}

static uint64_t f(uint64_t x) { return x * 2654435761u + 12345; }

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    arrays *a = (arrays *)model;
    if ((const unsigned char *)arg != a->args + task->index * a->arg_size ||
        (unsigned char *)result != a->results + task->index * a->result_size)
        atomic_store(&a->bad_pointer, 1);
    put((unsigned char *)result, a->result_size, f(value_of((const unsigned char *)arg, a->arg_size)));
    return 0;
}

static void run(int32_t n_jobs, size_t arg_size, size_t result_size) {
    unsigned char *args = (unsigned char *)malloc(N * arg_size + CANARY);
    unsigned char *results = (unsigned char *)malloc(N * result_size + CANARY);
    CHECK(args && results);
    for (size_t i = 0; i < N; i++) put(args + i * arg_size, arg_size, lkt_mix(i));
    memset(args + N * arg_size, 0xCD, CANARY);
    memset(results, 0, N * result_size);
    memset(results + N * result_size, 0xAB, CANARY);

    arrays a = {args, results, arg_size, result_size, 0};
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(&a, op, n_jobs, &inv));
    CHECK_OK(lk_invoker_map(inv, args, N, arg_size, results, result_size));
    CHECK(atomic_load(&a.bad_pointer) == 0);
    uint64_t rmask = result_size >= 8 ? ~0ULL : ((1ULL << (8 * result_size)) - 1);
    for (size_t i = 0; i < N; i++) {
        uint64_t want = f(value_of(args + i * arg_size, arg_size)) & rmask;
        CHECK(value_of(results + i * result_size, result_size) == want);
    }
    for (size_t k = 0; k < CANARY; k++) CHECK(results[N * result_size + k] == 0xAB);
    for (size_t k = 0; k < CANARY; k++) CHECK(args[N * arg_size + k] == 0xCD);
    CHECK_OK(lk_invoker_shutdown(inv));
    free(args);
    free(results);
}

int main(void) {
    lkt_watchdog(30);
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        run(jobs[j], 3, 5);
        run(jobs[j], 5, 3);
        run(jobs[j], 1, 7);
        run(jobs[j], 7, 1);
    }
    printf("api_element_sizes: ok\n");
    return 0;
}
