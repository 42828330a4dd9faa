/* What is left of bug A after d653fde (docs/reliability.md): a call that
 * fails in a thread-exit destructor (a pthread key destructor, or a C++
 * thread_local destructor registered before the library's thread-locals)
 * returns the right status now, but
 *  1. lk_last_error() is "" when the thread had failed before (the
 *     last-error thread-local is destroyed and the message is dropped), while
 *     API.md says "Every non-OK status sets a non-empty message";
 *  2. when it is the thread's first failure, the library creates its
 *     last-error thread-local during thread exit; glibc never runs a
 *     destructor registered that late, so the message and glibc's record of
 *     the destructor leak: 66 bytes per such thread (valgrind: "definitely
 *     lost" in __cxa_thread_atexit_impl <- set_last_error).
 * A static fallback message, used when the thread-local is not available
 * (LocalKey::try_with fails) or not yet initialised during thread exit,
 * would fix both.
 *   cc -I include exit_destructor_error.c -L target/release -llkparallel -pthread
 *   valgrind --leak-check=full ./a.out
 * Expected: two non-empty messages, no leak. Seen: "" for the second thread,
 * 66 bytes definitely lost for the first. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include "lkparallel.h"

static pthread_key_t key;

static void at_exit_of_thread(void *p) {
    (void)p;
    lk_status s = lk_invoker_map(NULL, NULL, 4, 0, NULL, 0);
    printf("status %d, message \"%s\"\n", (int)s, lk_last_error());
}

static void *thread_main(void *p) {
    if (p) lk_invoker_map(NULL, NULL, 4, 0, NULL, 0); /* an earlier failure */
    pthread_setspecific(key, (void *)1);
    return NULL;
}

int main(void) {
    pthread_key_create(&key, at_exit_of_thread);
    for (int failed_before = 0; failed_before < 2; failed_before++) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, failed_before ? (void *)1 : NULL);
        pthread_join(t, NULL);
    }
    return 0;
}
