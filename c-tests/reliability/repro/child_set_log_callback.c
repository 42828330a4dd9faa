/* Bug C: lk_set_log_callback called in an lk_run_sp child (or in a
 * process-backend worker) hangs forever when, at the moment of the fork,
 * another thread of the parent was delivering a log record: that thread
 * held the library's log-sink lock (a read lock), it does not exist in the
 * child, and lk_set_log_callback waits for the write lock forever. With no
 * time limit the parent's lk_run_sp then waits forever too. DESIGN.md:
 * "After fork() in a threaded parent, the child touches no lock that another
 * parent thread could have held". (Seen in the hung child:
 * RawRwLock::lock_exclusive_slow <- logging::set_callback.)
 *   cc -I include child_set_log_callback.c -L target/release -llkparallel -pthread
 * Expected: "done" within a second or two. Seen: hangs at some call (the
 * watchdog ends it with exit 124 after 60 s). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "lkparallel.h"

static atomic_int stop;

static void host_log(lk_log_level l, const char *t, const char *m, void *u) {
    (void)l, (void)t, (void)m, (void)u;
}

static void child_log(lk_log_level l, const char *t, const char *m, void *u) {
    (void)l, (void)t, (void)m, (void)u;
}

static int32_t item(const void *m, const void *a, void *r, const lk_task *t) {
    (void)m, (void)a, (void)r, (void)t;
    lk_log(LK_LOG_INFO, "busy");
    return 0;
}

static void *busy(void *p) {
    (void)p;
    lk_invoker *inv;
    lk_invoker_new(NULL, item, 2, &inv);
    while (!atomic_load(&stop)) lk_invoker_map(inv, NULL, 64, 0, NULL, 0);
    lk_invoker_shutdown(inv);
    return NULL;
}

static int32_t child(const void *arg, lk_buffer *out) {
    (void)arg, (void)out;
    lk_set_log_callback(child_log, NULL, LK_LOG_INFO);
    return 0;
}

int main(void) {
    alarm(60);
    lk_set_log_callback(host_log, NULL, LK_LOG_INFO);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, busy, NULL);
    for (int i = 0; i < 2000; i++) {
        lk_buffer b;
        memset(&b, 0, sizeof b);
        lk_status s = lk_run_sp(child, NULL, &b);
        if (s != LK_OK) printf("call %d: %d %s\n", i, (int)s, lk_last_error());
        lk_buffer_free(&b);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    printf("done\n");
    return 0;
}
