/* Two translation units that both include the header link into one
 * program: the header defines nothing that would be defined twice. This
 * file is both units: c-tests/cmake/header.cmake compiles it a second time
 * with LKT_SECOND_TU defined and links the two objects together. */
#include "lkparallel.h"

#include <stdio.h>
#include <string.h>

#ifdef LKT_SECOND_TU

int32_t lkt_second_tu_op(const void *model, const void *arg, void *result, const lk_task *task);
const char *lkt_second_tu_version(void);

int32_t lkt_second_tu_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(size_t *)result = task->index * 2;
    return 0;
}

const char *lkt_second_tu_version(void) { return lk_version(); }

#else

int32_t lkt_second_tu_op(const void *model, const void *arg, void *result, const lk_task *task);
const char *lkt_second_tu_version(void);

int main(void) {
    lk_invoker *inv = NULL;
    size_t results[10];
    if (strcmp(lkt_second_tu_version(), lk_version()) != 0) return 1;
    if (lk_invoker_new(NULL, lkt_second_tu_op, 2, &inv) != LK_OK) return 2;
    if (lk_invoker_map(inv, NULL, 10, 0, results, sizeof results[0]) != LK_OK) return 3;
    if (results[9] != 18) return 4;
    if (lk_invoker_shutdown(inv) != LK_OK) return 5;
    printf("build_header_link: ok\n");
    return 0;
}

#endif
