/* Fork-safety of lk_run_sp: 1,000 calls while two other threads are in busy
 * maps whose items log through a mutex-taking host callback and allocate
 * (and make and shut down invokers now and then), and a third holds stdout's
 * lock over and over (reliability/busy.h). Each child logs, allocates,
 * returns a result; every 5th also makes an invoker of its own (the
 * library's global state, which the parent's busy maps are using at fork
 * time) and maps on it, its items logging below the parent's level. With a
 * watchdog: no call may hang (a child that took a lock held at fork time by
 * a parent thread would), and no log record may be lost or doubled: the
 * records the children logged are counted as they reach the parent's
 * callback, and each call's must all have arrived when it returns.
 *   fault_forksafety_run_sp [CALLS] */
#include "reliability/busy.h"

enum { CHILD_RECORDS = 3 };

static int32_t child_item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    lk_log(LK_LOG_DEBUG, "child item"); /* below the parent's level: dropped */
    *(uint64_t *)result = task->index * 7;
    return 0;
}

static int32_t child(const void *arg, lk_buffer *out) {
    int i = *(const int *)arg;
    if (i % 5 == 0) {
        lk_invoker *inv = NULL;
        if (lk_invoker_new(NULL, child_item, 2, &inv) != LK_OK) return 20;
        uint64_t r[32];
        if (lk_invoker_map(inv, NULL, 32, 0, r, sizeof r[0]) != LK_OK) return 21;
        for (int k = 0; k < 32; k++)
            if (r[k] != (uint64_t)k * 7) return 22;
        if (lk_invoker_shutdown(inv) != LK_OK) return 23;
    }
    char msg[64];
    for (int k = 0; k < CHILD_RECORDS; k++) {
        snprintf(msg, sizeof msg, "child %d record %d", i, k);
        lk_log(LK_LOG_INFO, msg);
    }
    size_t len = 1000 + (size_t)i * 37;
    uint8_t *p = (uint8_t *)malloc(len);
    if (!p) return 1;
    for (size_t k = 0; k < len; k++) p[k] = (uint8_t)(k + (size_t)i);
    lk_status s = lk_buffer_append(out, p, len);
    free(p);
    return s == LK_OK ? 0 : 2;
}

int main(int argc, char **argv) {
    int iterations = busy_begin(argc, argv, 1, 1000);
    for (int i = 0; i < iterations; i++) {
        long before = busy_child_records();
        lk_buffer res;
        memset(&res, 0, sizeof res);
        lk_status s = lk_run_sp(child, &i, &res);
        CHECK_MSG(s == LK_OK, "call %d: %d %s", i, (int)s, lk_last_error());
        size_t len = 1000 + (size_t)i * 37;
        CHECK(res.len == len);
        for (size_t k = 0; k < len; k++) CHECK(res.data[k] == (uint8_t)(k + (size_t)i));
        lk_buffer_free(&res);
        long got = busy_child_records() - before;
        CHECK_MSG(got == CHILD_RECORDS, "call %d: %ld child records arrived, expected %d", i, got,
                  CHILD_RECORDS);
    }
    CHECK(busy_child_records() == (long)iterations * CHILD_RECORDS);
    char what[64];
    snprintf(what, sizeof what, "%d calls", iterations);
    busy_end("reliability_fault_forksafety_run_sp", what);
    return 0;
}
