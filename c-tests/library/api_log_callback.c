/* Logging through lk_set_log_callback: lk_log reaches the callback with its
 * level, target "app", the message and the user pointer; records are
 * filtered by max_level; out-of-range levels are clamped to 1..5 (both for
 * lk_log and for max_level); a NULL message is ignored; NULL stops the
 * callback; the library's own records arrive too. (Records logged from
 * callbacks, on pool threads and in worker processes: invoker/api_log.c.) */
#include "lktest.h"

static int user_token;

static void expect_one(int level, const char *target, const char *message) {
    CHECK(lkt_log_count() == 1);
    const lkt_record *r = &lkt_records[0];
    if (r->level != level || strcmp(r->target, target) != 0 || strcmp(r->message, message) != 0 ||
        r->user != &user_token) {
        fprintf(stderr, "got level %d target \"%s\" message \"%s\", want %d \"%s\" \"%s\"\n", r->level,
                r->target, r->message, level, target, message);
        exit(1);
    }
    CHECK(pthread_equal(r->thread, pthread_self()));
    lkt_log_clear();
}

static void expect_none(void) {
    CHECK(lkt_log_count() == 0);
}

int main(void) {
    lkt_watchdog(30);
    unsetenv("LK_NUM_PROCS");
    lk_set_log_callback(lkt_log_capture, &user_token, LK_LOG_TRACE);
    lkt_log_clear();

    /* every level, with its number, target "app" and the message */
    lk_log(LK_LOG_ERROR, "an error");
    expect_one(1, "app", "an error");
    lk_log(LK_LOG_WARN, "a warning");
    expect_one(2, "app", "a warning");
    lk_log(LK_LOG_INFO, "some info");
    expect_one(3, "app", "some info");
    lk_log(LK_LOG_DEBUG, "debugging");
    expect_one(4, "app", "debugging");
    lk_log(LK_LOG_TRACE, "tracing");
    expect_one(5, "app", "tracing");
    lk_log(LK_LOG_INFO, "");
    expect_one(3, "app", "");
    lk_log(LK_LOG_INFO, NULL); /* ignored */
    expect_none();

    /* out-of-range levels are clamped */
    lk_log(99, "too high");
    expect_one(5, "app", "too high");
    lk_log(6, "six");
    expect_one(5, "app", "six");
    lk_log(INT32_MAX, "max");
    expect_one(5, "app", "max");
    lk_log(0, "zero");
    expect_one(1, "app", "zero");
    lk_log(-4, "negative");
    expect_one(1, "app", "negative");
    lk_log(INT32_MIN, "min");
    expect_one(1, "app", "min");

    /* filtered by max_level */
    lk_set_log_callback(lkt_log_capture, &user_token, LK_LOG_WARN);
    lk_log(LK_LOG_INFO, "dropped");
    lk_log(LK_LOG_DEBUG, "dropped");
    lk_log(LK_LOG_TRACE, "dropped");
    lk_log(99, "dropped");
    expect_none();
    lk_log(LK_LOG_WARN, "kept warning");
    expect_one(2, "app", "kept warning");
    lk_log(LK_LOG_ERROR, "kept error");
    expect_one(1, "app", "kept error");
    lk_log(-4, "kept clamped");
    expect_one(1, "app", "kept clamped");

    /* max_level clamped too: 99 keeps everything, -3 only errors */
    lk_set_log_callback(lkt_log_capture, &user_token, 99);
    lk_log(LK_LOG_TRACE, "trace kept");
    expect_one(5, "app", "trace kept");
    lk_set_log_callback(lkt_log_capture, &user_token, -3);
    lk_log(LK_LOG_WARN, "dropped");
    expect_none();
    lk_log(LK_LOG_ERROR, "error kept");
    expect_one(1, "app", "error kept");
    lk_set_log_callback(lkt_log_capture, &user_token, 0);
    lk_log(LK_LOG_ERROR, "error kept at 0");
    expect_one(1, "app", "error kept at 0");

    /* the library's own records: a malformed LK_NUM_PROCS is a warning */
    lk_set_log_callback(lkt_log_capture, &user_token, LK_LOG_TRACE);
    lkt_log_clear();
    CHECK(setenv("LK_NUM_PROCS", "abc", 1) == 0);
    CHECK(lk_proc_count(2, 4, 0) >= 1);
    unsetenv("LK_NUM_PROCS");
    CHECK(lkt_log_count() >= 1);
    int found = 0;
    for (size_t i = 0; i < lkt_log_count() && i < LKT_MAX_RECORDS; i++) {
        const lkt_record *r = &lkt_records[i];
        if (r->level == LK_LOG_WARN && strcmp(r->target, "app") != 0 && r->message[0] != '\0' &&
            r->user == &user_token)
            found = 1;
    }
    CHECK(found);
    lkt_log_clear();

    lk_set_log_callback(NULL, NULL, LK_LOG_TRACE);

    /* NULL stops the callback */
    lkt_log_clear();
    lk_log(LK_LOG_ERROR, "nobody hears this");
    expect_none();

    printf("library_api_log_callback: ok\n");
    return 0;
}
