/* lk_version() equals LKPARALLEL_VERSION and the MAJOR.MINOR.PATCH macros;
 * lk_last_error() is "" (not NULL) on a fresh thread, also after another
 * thread failed: the message is per thread. */
#include "lktest.h"

static void *fresh_thread(void *p) {
    (void)p;
    const char *e = lk_last_error();
    CHECK(e != NULL);
    CHECK(e[0] == '\0');
    return NULL;
}

static void *failing_thread(void *p) {
    (void)p;
    CHECK_FAIL(lk_invoker_new(NULL, NULL, 1, NULL), LK_ERR_INVALID);
    return NULL;
}

int main(void) {
    lkt_watchdog(30);
    const char *v = lk_version();
    CHECK(v != NULL);
    CHECK(strcmp(v, LKPARALLEL_VERSION) == 0);
    CHECK(lk_version() == v || strcmp(lk_version(), v) == 0);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", LKPARALLEL_VERSION_MAJOR, LKPARALLEL_VERSION_MINOR,
             LKPARALLEL_VERSION_PATCH);
    CHECK(strncmp(v, want, strlen(want)) == 0); /* a pre-release suffix may follow */

    /* the main thread has failed nothing yet */
    CHECK(lk_last_error() != NULL && lk_last_error()[0] == '\0');

    /* another thread's failure does not show here or on a fresh thread */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, failing_thread, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(lk_last_error()[0] == '\0');
    CHECK(pthread_create(&th, NULL, fresh_thread, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);

    /* a failure here does not show on a fresh thread either */
    CHECK_FAIL(lk_invoker_map(NULL, NULL, 0, 0, NULL, 0), LK_ERR_INVALID);
    CHECK(pthread_create(&th, NULL, fresh_thread, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);

    printf("lkparallel %s\n", v);
    printf("library_api_version: ok\n");
    return 0;
}
