/* Records logged in a run_sp child (lk_log, and the library's own logging)
 * reach the parent's log callback, each exactly once, in order, on the
 * calling thread, before lk_run_sp returns. */
#include "sptest.h"

enum { N = 6000 }; /* over 100 KB of frames: more than a pipe holds */

static int32_t log_many(const void *arg, lk_buffer *out) {
    const char *prefix = (const char *)arg;
    for (int i = 0; i < N; i++) lkt_log_numbered(LK_LOG_INFO, prefix, i);
    SPT_APPEND(out, "done", 4);
    return 0;
}

/* The library's own logging: a malformed LK_NUM_PROCS is logged as a warning
 * by lk_proc_count. */
static int32_t library_warning(const void *arg, lk_buffer *out) {
    (void)arg;
    lk_log(LK_LOG_INFO, "lib-before");
    setenv("LK_NUM_PROCS", "not-a-number", 1);
    int32_t n = lk_proc_count(2, 4, 0);
    lk_log(LK_LOG_INFO, "lib-after");
    SPT_APPEND(out, &n, sizeof n);
    return 0;
}

typedef struct thread_arg {
    const char *prefix;
    pthread_t self;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = (thread_arg *)p;
    a->self = pthread_self();
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(log_many, a->prefix, &res));
    lk_buffer_free(&res);
    return NULL;
}

int main(void) {
    lkt_watchdog(20);
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_TRACE);

    /* One call: 1000 records in order, each once, all on this thread. */
    lkt_log_clear();
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(log_many, "one-", &res));
    CHECK(res.len == 4);
    lk_buffer_free(&res);
    lkt_log_check_sequence("one-", N, LK_LOG_INFO);
    pthread_mutex_lock(&lkt_log_mu);
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (strncmp(lkt_records[i].message, "one-", 4) == 0)
            CHECK(pthread_equal(lkt_records[i].thread, pthread_self()));
    pthread_mutex_unlock(&lkt_log_mu);

    /* Again, with options: the same. */
    lkt_log_clear();
    lk_sp_options opts;
    lk_sp_options_init(&opts, sizeof opts);
    opts.timeout_ms = 15000;
    CHECK_OK(lk_run_sp_with(log_many, "two-", &opts, &res));
    lk_buffer_free(&res);
    lkt_log_check_sequence("two-", N, LK_LOG_INFO);

    /* Two calls at once from two threads: each call's records in order,
     * delivered on the thread that called. */
    lkt_log_clear();
    thread_arg ta[2] = {{"ta-", 0}, {"tb-", 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, thread_main, &ta[i]) == 0);
    for (int i = 0; i < 2; i++) CHECK(pthread_join(t[i], NULL) == 0);
    lkt_log_check_sequence("ta-", N, LK_LOG_INFO);
    lkt_log_check_sequence("tb-", N, LK_LOG_INFO);
    pthread_mutex_lock(&lkt_log_mu);
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++) {
        const char *m = lkt_records[i].message;
        if (strncmp(m, "ta-", 3) == 0) CHECK(pthread_equal(lkt_records[i].thread, ta[0].self));
        if (strncmp(m, "tb-", 3) == 0) CHECK(pthread_equal(lkt_records[i].thread, ta[1].self));
    }
    pthread_mutex_unlock(&lkt_log_mu);

    /* The library's own records from the child arrive too, between the
     * child's own records, once. */
    const char *env_before = getenv("LK_NUM_PROCS");
    char saved[256];
    snprintf(saved, sizeof saved, "%s", env_before ? env_before : "(unset)");
    lkt_log_clear();
    CHECK_OK(lk_run_sp(library_warning, NULL, &res));
    CHECK(res.len == sizeof(int32_t));
    lk_buffer_free(&res);
    pthread_mutex_lock(&lkt_log_mu);
    int before = -1, after = -1, warnings = 0, warning_at = -1;
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++) {
        const lkt_record *r = &lkt_records[i];
        if (strcmp(r->message, "lib-before") == 0) before = (int)i;
        else if (strcmp(r->message, "lib-after") == 0) after = (int)i;
        else if (r->level == LK_LOG_WARN && strcmp(r->target, "app") != 0) {
            warnings++; /* the library's own record, not an lk_log one */
            warning_at = (int)i;
        }
    }
    pthread_mutex_unlock(&lkt_log_mu);
    CHECK(before >= 0 && after > before);
    CHECK(warnings == 1);
    CHECK(warning_at > before && warning_at < after);
    /* The child's setenv stayed in the child. */
    const char *env_after = getenv("LK_NUM_PROCS");
    CHECK(strcmp(saved, env_after ? env_after : "(unset)") == 0);

    lk_set_log_callback(NULL, NULL, LK_LOG_TRACE);
    lkt_check_no_children();
    printf("run_sp_api_log_order: ok\n");
    return 0;
}
