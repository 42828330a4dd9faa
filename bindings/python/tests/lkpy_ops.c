/* C operations for the Python binding's tests: tests/conftest.py compiles
 * them with the system C compiler against the library the package loaded
 * (or LKPARALLEL_TEST_OPS names a build of them). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lkparallel.h>

/* double -> double: arg * arg, times *(double *)model when a model is given. */
int32_t lkpy_square_f64(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)task;
    double x = *(const double *)arg;
    double scale = model ? *(const double *)model : 1.0;
    *(double *)result = scale * x * x;
    return 0;
}

/* int64 -> int64: arg + *(int64_t *)model. */
int32_t lkpy_add_i64(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)task;
    *(int64_t *)result = *(const int64_t *)arg + *(const int64_t *)model;
    return 0;
}

/* int32 -> int32: fails with code 7 on the argument 7, else copies it. */
int32_t lkpy_fail_on_7(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    int32_t x = *(const int32_t *)arg;
    if (x == 7) return 7;
    *(int32_t *)result = x;
    return 0;
}

/* no argument -> uint64: the task's index (arg must be NULL). */
int32_t lkpy_index(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    if (arg != NULL) return 99;
    *(uint64_t *)result = task->index;
    return 0;
}

/* any argument -> uint64: the task's seed. */
int32_t lkpy_seed(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->seed;
    return 0;
}

/* a record {int32 a; int32 b} -> double a / b (fails with 1 when b is 0). */
struct lkpy_pair {
    int32_t a, b;
};
int32_t lkpy_ratio(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    const struct lkpy_pair *p = arg;
    if (p->b == 0) return 1;
    *(double *)result = (double)p->a / p->b;
    return 0;
}

/* a record {int32 a; int32 b} -> {int32 q; int32 r}: a / b and a % b (fails with 1 when b is 0). */
struct lkpy_divmod {
    int32_t q, r;
};
int32_t lkpy_divmod(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    const struct lkpy_pair *p = arg;
    if (p->b == 0) return 1;
    struct lkpy_divmod *out = result;
    out->q = p->a / p->b;
    out->r = p->a % p->b;
    return 0;
}

/* any -> uint64: the address of the argument (to check that nothing was copied). */
int32_t lkpy_arg_address(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(uint64_t *)result = (uint64_t)(uintptr_t)arg;
    return 0;
}

/* any -> uint64: the address of the result slot itself. */
int32_t lkpy_result_address(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)task;
    *(uint64_t *)result = (uint64_t)(uintptr_t)result;
    return 0;
}

/* int32 -> int32 after sleeping a millisecond (for progress and cancellation). */
int32_t lkpy_slow(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    *(int32_t *)result = *(const int32_t *)arg;
    return 0;
}

/* any -> int32: lk_is_worker() as the callback sees it. */
int32_t lkpy_is_worker(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)task;
    *(int32_t *)result = lk_is_worker();
    return 0;
}

/* run_sp: append the NUL-terminated string `arg`, then " (child)". */
int32_t lkpy_sp_echo(const void *arg, lk_buffer *out) {
    static const char suffix[] = " (child)";
    if (lk_buffer_append(out, arg, strlen((const char *)arg)) != LK_OK) return 1;
    return lk_buffer_append(out, suffix, sizeof suffix - 1) == LK_OK ? 0 : 1;
}

/* run_sp: `arg` is a uint64 n; append n bytes i % 251. */
int32_t lkpy_sp_pattern(const void *arg, lk_buffer *out) {
    uint64_t n = *(const uint64_t *)arg;
    unsigned char chunk[4096];
    for (uint64_t done = 0; done < n;) {
        size_t k = n - done < sizeof chunk ? (size_t)(n - done) : sizeof chunk;
        for (size_t i = 0; i < k; i++) chunk[i] = (unsigned char)((done + i) % 251);
        if (lk_buffer_append(out, chunk, k) != LK_OK) return 1;
        done += k;
    }
    return 0;
}

/* run_sp: one byte, lk_is_worker() in the child. */
int32_t lkpy_sp_is_worker(const void *arg, lk_buffer *out) {
    (void)arg;
    unsigned char w = (unsigned char)lk_is_worker();
    return lk_buffer_append(out, &w, 1) == LK_OK ? 0 : 1;
}

/* run_sp: write over the int64 at `arg` (in the child's copy), append nothing. */
int32_t lkpy_sp_clobber(const void *arg, lk_buffer *out) {
    (void)out;
    *(int64_t *)(uintptr_t)arg = -1;
    return 0;
}

/* run_sp: fail with code 5. */
int32_t lkpy_sp_fail(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    return 5;
}

/* run_sp: die by SIGKILL. */
int32_t lkpy_sp_die(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    raise(SIGKILL);
    return 0;
}

/* run_sp: never answer. */
int32_t lkpy_sp_hang(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    for (;;) pause();
}
