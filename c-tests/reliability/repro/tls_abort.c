/* Bug B: an lkparallel call from a thread-exit destructor aborts the whole
 * process when the thread had an earlier failed lkparallel call.
 *
 * A thread runs a map (the library's per-thread callback context is set
 * up), gets one failure (the per-thread last-error message is set up), and
 * exits. A pthread key destructor then calls lk_invoker_map: the access to
 * the destroyed callback context panics (caught: LK_ERR_INTERNAL), and the
 * guard then stores the message in the destroyed last-error thread-local,
 * outside its catch_unwind: a second panic, in an extern "C" function, so
 * Rust aborts the process ("panic in a function that cannot unwind").
 * API.md: "No function ever lets a Rust panic unwind into the caller, and no
 * function aborts the host process".
 *   cc -I include tls_abort.c -L target/release -llkparallel -pthread
 * Expected: "survived", exit 0. Seen: SIGABRT (exit 134). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include "lkparallel.h"

static pthread_key_t key;
static lk_invoker *inv;

static int32_t op(const void *m, const void *a, void *r, const lk_task *t) {
    (void)m, (void)a, (void)t;
    *(int *)r = 1;
    return 0;
}

static void at_exit_of_thread(void *p) {
    (void)p;
    int r[4];
    lk_status s = lk_invoker_map(inv, NULL, 4, 0, r, sizeof r[0]);
    fprintf(stderr, "map from the destructor: %d\n", (int)s);
}

static void *thread_main(void *p) {
    (void)p;
    int r[4];
    lk_invoker_map(inv, NULL, 4, 0, r, sizeof r[0]);     /* sets up the callback context */
    lk_invoker_map(NULL, NULL, 4, 0, r, sizeof r[0]);    /* a failure: sets up the last error */
    pthread_setspecific(key, (void *)1);
    return NULL;
}

int main(void) {
    pthread_key_create(&key, at_exit_of_thread);
    lk_invoker_new(NULL, op, 1, &inv);
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    lk_invoker_shutdown(inv);
    printf("survived\n");
    return 0;
}
