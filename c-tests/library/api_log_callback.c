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

/* What lk_log(level, message) gives with the callback's max_level: one
 * record at level `want` (with target "app", the message, the user
 * pointer, on this thread), or none (want 0). */
static const struct {
    int32_t max_level, level;
    const char *message;
    int want;
} cases[] = {
    /* every level, with its number; an empty message */
    {LK_LOG_TRACE, LK_LOG_ERROR, "an error", 1},
    {LK_LOG_TRACE, LK_LOG_WARN, "a warning", 2},
    {LK_LOG_TRACE, LK_LOG_INFO, "some info", 3},
    {LK_LOG_TRACE, LK_LOG_DEBUG, "debugging", 4},
    {LK_LOG_TRACE, LK_LOG_TRACE, "tracing", 5},
    {LK_LOG_TRACE, LK_LOG_INFO, "", 3},
    /* out-of-range levels are clamped */
    {LK_LOG_TRACE, 99, "too high", 5},
    {LK_LOG_TRACE, 6, "six", 5},
    {LK_LOG_TRACE, INT32_MAX, "max", 5},
    {LK_LOG_TRACE, 0, "zero", 1},
    {LK_LOG_TRACE, -4, "negative", 1},
    {LK_LOG_TRACE, INT32_MIN, "min", 1},
    /* filtered by max_level */
    {LK_LOG_WARN, LK_LOG_INFO, "dropped", 0},
    {LK_LOG_WARN, LK_LOG_DEBUG, "dropped", 0},
    {LK_LOG_WARN, LK_LOG_TRACE, "dropped", 0},
    {LK_LOG_WARN, 99, "dropped", 0},
    {LK_LOG_WARN, LK_LOG_WARN, "kept warning", 2},
    {LK_LOG_WARN, LK_LOG_ERROR, "kept error", 1},
    {LK_LOG_WARN, -4, "kept clamped", 1},
    /* max_level clamped too: 99 keeps everything, -3 and 0 only errors */
    {99, LK_LOG_TRACE, "trace kept", 5},
    {-3, LK_LOG_WARN, "dropped", 0},
    {-3, LK_LOG_ERROR, "error kept", 1},
    {0, LK_LOG_ERROR, "error kept at 0", 1},
};

int main(void) {
    lkt_watchdog(30);
    unsetenv("LK_NUM_PROCS");
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lk_set_log_callback(lkt_log_capture, &user_token, cases[k].max_level);
        lkt_log_clear();
        lk_log(cases[k].level, cases[k].message);
        if (cases[k].want) expect_one(cases[k].want, "app", cases[k].message);
        else expect_none();
    }
    lk_log(LK_LOG_INFO, NULL); /* ignored */
    expect_none();

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
