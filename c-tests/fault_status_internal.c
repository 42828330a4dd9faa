/* LK_ERR_INTERNAL: "a bug in lkparallel (a caught panic)". By its
 * definition only a bug produces it, and the one way found to provoke one
 * from C is such a bug (reported in docs/reliability.md):
 *
 *   a thread that has run a map exits; a pthread key destructor on that
 *   thread (glibc runs these after the thread's Rust thread-locals are
 *   destroyed) calls lk_invoker_map. The library's per-thread callback
 *   context is gone, the access panics, and the guard turns the panic into
 *   LK_ERR_INTERNAL with a message.
 *
 * What this test holds the library to is what API.md promises for that
 * case: the panic does not unwind into the caller and does not abort the
 * process, the status is LK_ERR_INTERNAL, lk_last_error() says so, and the
 * invoker is still usable (and can be shut down) from another thread.
 * When the library learns to run maps from thread-exit destructors, the map
 * below will succeed and this test must be changed: no other way to provoke
 * LK_ERR_INTERNAL from C will then be known. */
#include "reliability/rel.h"

static pthread_key_t key;
static lk_status in_dtor = LK_OK;
static char in_dtor_msg[512];

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->index + 10;
    return 0;
}

static void at_thread_exit(void *p) {
    lk_invoker *inv = (lk_invoker *)p;
    uint64_t r[4] = {0, 0, 0, 0};
    in_dtor = lk_invoker_map(inv, NULL, 4, 0, r, sizeof r[0]);
    snprintf(in_dtor_msg, sizeof in_dtor_msg, "%s", lk_last_error());
}

static void *thread_main(void *p) {
    lk_invoker *inv = (lk_invoker *)p;
    uint64_t r[4];
    /* A successful map: it sets up this thread's library state (and sets no
     * error message). */
    CHECK_OK(lk_invoker_map(inv, NULL, 4, 0, r, sizeof r[0]));
    CHECK(r[3] == 13);
    CHECK(pthread_setspecific(key, inv) == 0);
    return NULL;
}

int main(void) {
    lkt_watchdog(60);
    CHECK(pthread_key_create(&key, at_thread_exit) == 0);
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, 1, &inv));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, inv) == 0);
    CHECK(pthread_join(t, NULL) == 0);

    REL_CHECK_MSG(in_dtor == LK_ERR_INTERNAL, "the map in a thread-exit destructor gave %d: %s",
                  (int)in_dtor, in_dtor_msg);
    REL_CHECK_MSG(strncmp(in_dtor_msg, "internal error", 14) == 0, "message: \"%s\"", in_dtor_msg);

    /* The invoker is intact. */
    uint64_t r[100];
    CHECK_OK(lk_invoker_map(inv, NULL, 100, 0, r, sizeof r[0]));
    for (int i = 0; i < 100; i++) CHECK(r[i] == (uint64_t)i + 10);
    CHECK_OK(lk_invoker_shutdown(inv));
    printf("fault_status_internal: ok (LK_ERR_INTERNAL: %s)\n", in_dtor_msg);
    return 0;
}
