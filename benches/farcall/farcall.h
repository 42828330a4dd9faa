/* farcall: see loop.c. */
#ifndef FARCALL_H
#define FARCALL_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t index;
    uint64_t seed;
    uint32_t worker;
} far_task; /* lk_task's layout */

typedef int32_t (*far_op)(const void *model, const void *arg, void *result, const far_task *task);

/* The loop every pairing runs: a fresh task per item, stop at a failure. */
#define FAR_LOOP_BODY(op, args, results, n)                                    \
    for (size_t i = 0; i < (n); i++) {                                         \
        far_task t = {i, 0, 0};                                                \
        if ((op)(NULL, (args) + i * 8, (results) + i * 8, &t) != 0)            \
            return i;                                                          \
    }                                                                          \
    return (n)

int32_t far_lib_op(const void *model, const void *arg, void *result, const far_task *task);
size_t far_lib_loop(far_op op, const uint8_t *args, uint8_t *results, size_t n);
#endif
