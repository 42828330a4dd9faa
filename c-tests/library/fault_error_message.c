/* Every non-OK status sets a non-empty lk_last_error() on the calling
 * thread: each failing call runs on a fresh thread (where the message starts
 * as "") so the message seen must come from that call. A successful call
 * does not clear the message (like errno). lk_invoker_cancel is exempt (it is
 * async-signal-safe) and is not checked for a message. */
#include "lktest.h"

static lk_invoker *pool, *dead;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    (void)result;
    if (model) lkt_sleep_us(1000);
    return task->index == 2 ? 17 : 0;
}

static int32_t ok_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)arg;
    (void)result;
    (void)task;
    if (model) lkt_sleep_us(1000);
    return 0;
}

typedef lk_status (*failing_call)(void);

static lk_status new_null_func(void) {
    lk_invoker *out = NULL;
    return lk_invoker_new(NULL, NULL, 2, &out);
}
static lk_status new_null_out(void) { return lk_invoker_new(NULL, op, 2, NULL); }
static lk_status new_bad_jobs(void) {
    lk_invoker *out = NULL;
    return lk_invoker_new(NULL, op, -2, &out);
}
static lk_status new_with_bad_backend(void) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.backend = 7;
    lk_invoker *out = NULL;
    return lk_invoker_new_with(NULL, op, &o, &out);
}
static lk_status new_with_bad_size(void) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.struct_size = 0;
    lk_invoker *out = NULL;
    return lk_invoker_new_with(NULL, op, &o, &out);
}
static lk_status map_dead(void) { return lk_invoker_map(dead, NULL, 4, 0, NULL, 0); }
static lk_status map_null_handle(void) { return lk_invoker_map(NULL, NULL, 4, 0, NULL, 0); }
static lk_status map_null_args(void) { return lk_invoker_map(pool, NULL, 4, 8, NULL, 0); }
static lk_status map_overflow(void) {
    char buf[4] = {0, 0, 0, 0};
    return lk_invoker_map(pool, buf, SIZE_MAX / 2 + 1, 2, NULL, 0);
}
static lk_status map_callback(void) { return lk_invoker_map(pool, NULL, 10, 0, NULL, 0); }
static lk_status map_with_bad_opts(void) {
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = 99;
    return lk_invoker_map_with(pool, NULL, 4, 0, NULL, 0, &mo);
}
static lk_status shutdown_dead(void) { return lk_invoker_shutdown(dead); }

static lk_invoker *slow;
static void *cancel_soon(void *p) {
    (void)p;
    lkt_sleep_us(50000);
    CHECK_OK(lk_invoker_cancel(slow));
    return NULL;
}
static lk_status map_cancelled(void) {
    pthread_t th;
    CHECK(pthread_create(&th, NULL, cancel_soon, NULL) == 0);
    lk_status s = lk_invoker_map(slow, NULL, 5000, 0, NULL, 0);
    CHECK(pthread_join(th, NULL) == 0);
    return s;
}

typedef struct {
    const char *name;
    failing_call call;
    lk_status expected;
} failing_case;

static const failing_case cases[] = {
    {"new NULL func", new_null_func, LK_ERR_INVALID},
    {"new NULL out", new_null_out, LK_ERR_INVALID},
    {"new n_jobs -2", new_bad_jobs, LK_ERR_INVALID},
    {"new_with backend 7", new_with_bad_backend, LK_ERR_INVALID},
    {"new_with struct_size 0", new_with_bad_size, LK_ERR_INVALID},
    {"map dead handle", map_dead, LK_ERR_INVALID},
    {"map NULL handle", map_null_handle, LK_ERR_INVALID},
    {"map NULL args", map_null_args, LK_ERR_INVALID},
    {"map overflow", map_overflow, LK_ERR_INVALID},
    {"map callback failure", map_callback, LK_ERR_CALLBACK},
    {"map_with bad schedule", map_with_bad_opts, LK_ERR_INVALID},
    {"shutdown dead handle", shutdown_dead, LK_ERR_INVALID},
    {"map cancelled", map_cancelled, LK_ERR_CANCELLED},
};

static void *run_case(void *p) {
    const failing_case *c = (const failing_case *)p;
    CHECK(lk_last_error()[0] == '\0'); /* a fresh thread */
    lk_status s = c->call();
    if (s != c->expected) {
        fprintf(stderr, "%s: status %d, expected %d\n", c->name, (int)s, (int)c->expected);
        exit(1);
    }
    const char *msg = lk_last_error();
    if (msg == NULL || msg[0] == '\0') {
        fprintf(stderr, "%s: status %d but lk_last_error() is empty\n", c->name, (int)s);
        exit(1);
    }
    printf("%-24s -> %d: %s\n", c->name, (int)s, msg);

    /* successful calls leave it alone */
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", msg);
    lk_invoker *inv = NULL;
    CHECK(lk_invoker_new(NULL, ok_op, 2, &inv) == LK_OK);
    CHECK(strcmp(lk_last_error(), copy) == 0);
    CHECK(lk_invoker_map(inv, NULL, 20, 0, NULL, 0) == LK_OK);
    CHECK(strcmp(lk_last_error(), copy) == 0);
    CHECK(lk_invoker_map(inv, NULL, 0, 0, NULL, 0) == LK_OK);
    CHECK(lk_invoker_cancel(inv) == LK_OK);
    CHECK(lk_invoker_shutdown(inv) == LK_OK);
    CHECK(lk_invoker_shutdown(NULL) == LK_OK);
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    CHECK(lk_invoker_new_with(NULL, ok_op, &o, &inv) == LK_OK);
    CHECK(lk_invoker_shutdown(inv) == LK_OK);
    (void)lk_proc_count(2, 4, 0);
    (void)lk_cpu_count();
    (void)lk_version();
    (void)lk_root_seed();
    lk_log(LK_LOG_INFO, "nothing to see");
    CHECK(strcmp(lk_last_error(), copy) == 0);
    return NULL;
}

int main(void) {
    lkt_watchdog(30);
    static int slow_model;
    CHECK_OK(lk_invoker_new(NULL, op, 2, &pool));
    CHECK_OK(lk_invoker_new(&slow_model, ok_op, 2, &slow));
    CHECK_OK(lk_invoker_new(NULL, op, 2, &dead));
    CHECK_OK(lk_invoker_shutdown(dead));

    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        pthread_t th;
        CHECK(pthread_create(&th, NULL, run_case, (void *)&cases[k]) == 0);
        CHECK(pthread_join(th, NULL) == 0);
    }
    CHECK_OK(lk_invoker_shutdown(pool));
    CHECK_OK(lk_invoker_shutdown(slow));
    printf("library_fault_error_message: ok\n");
    return 0;
}
