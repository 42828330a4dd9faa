/*
 * farcall: what a call between an executable and a shared library costs,
 * apart from any library. The same 8-line item loop and the same trivial
 * callback (result = arg * 2 + 1), built twice: once in the executable
 * (main.c) and once in libfarloop.so (this file, with a copy of the
 * callback). main.c times the four pairings over 10^7 items:
 *
 *   exe loop -> exe callback     the peers' case (OpenMP, oneTBB, a pool:
 *                                their loop is compiled into the program)
 *   lib loop -> exe callback     lkparallel as a shared library calling a
 *                                callback defined in the program
 *   lib loop -> lib callback     both in shared libraries, mapped close by
 *   exe loop -> lib callback     the other direction
 *
 * On the AMD EPYC development machine the two pairings that cross between
 * the executable and the libraries (far apart in the address space) cost
 * about 1 ns more per call than the other two.
 */
#include "farcall.h"

int32_t far_lib_op(const void *model, const void *arg, void *result, const far_task *task) {
    (void)model, (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg * 2 + 1;
    return 0;
}

size_t far_lib_loop(far_op op, const uint8_t *args, uint8_t *results, size_t n) {
    FAR_LOOP_BODY(op, args, results, n);
}
