/* Records logged from callbacks reach the host's log callback before the
 * map returns: every item lk_log()s one record, and right when the map
 * returns the callback has received each of them exactly once (target "app",
 * the level given, and no other "app" record). With processes they arrive on
 * the thread that ran the map (so does every record of an n_jobs 1 map);
 * with a threads pool, on the thread that logged. Also the record a callback
 * logs just before it fails, and (processes) just before its worker SIGKILLs
 * itself (keep-going mode: the map still returns LK_ERR_WORKER_DIED); and
 * over 300 quick maps of 1..40 items, where the last records race the map's
 * end. n_jobs 1, 2 and 4. */
#include "lktest.h"

enum { N = 500 };

/* The model: the items that die or fail after they logged. */
static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)arg;
    (void)result;
    lkt_log_numbered(LK_LOG_INFO, "item ", (long long)task->index);
    int32_t code = lkt_faults_hit((lkt_faults *)model, task->index, 9);
    if (task->index % 50 == 0) lkt_sleep_us(500);
    return code;
}

/* ---- capture ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int seen[N];
static int wrong_level, wrong_target, wrong_thread, other_app, others;
static pthread_t mapper;
static int on_mapper; /* records must arrive on the mapping thread */

static void capture(lk_log_level level, const char *target, const char *message, void *user) {
    (void)user;
    unsigned idx = 0;
    pthread_mutex_lock(&mu);
    if (message && sscanf(message, "item %u", &idx) == 1 && idx < N) {
        seen[idx]++;
        if (level != LK_LOG_INFO) wrong_level++;
        if (!target || strcmp(target, "app") != 0) wrong_target++;
        if (on_mapper && !pthread_equal(pthread_self(), mapper)) wrong_thread++;
    } else if (target && strcmp(target, "app") == 0) {
        other_app++;
    } else {
        others++; /* the library's own */
    }
    pthread_mutex_unlock(&mu);
}

static void reset(void) {
    pthread_mutex_lock(&mu);
    memset(seen, 0, sizeof seen);
    wrong_level = wrong_target = wrong_thread = other_app = others = 0;
    mapper = pthread_self();
    pthread_mutex_unlock(&mu);
}

/* Right after the map returned: items [0, N) each logged exactly once. */
static void check_records(const char *what, int all) {
    pthread_mutex_lock(&mu);
    int missing = 0, twice = 0, first_missing = -1;
    for (int i = 0; i < N; i++) {
        if (seen[i] == 0 && all) {
            missing++;
            if (first_missing < 0) first_missing = i;
        }
        if (seen[i] > 1) twice++;
    }
    CHECK_MSG(missing == 0, "%s: %d records had not arrived when the map returned (e.g. item %d)", what, missing,
              first_missing);
    CHECK_MSG(twice == 0, "%s: %d records arrived twice", what, twice);
    CHECK(wrong_level == 0 && wrong_target == 0 && other_app == 0);
    CHECK_MSG(wrong_thread == 0, "%s: %d records arrived on another thread", what, wrong_thread);
    pthread_mutex_unlock(&mu);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    lkt_no_core_dumps();
    lkt_faults *faults = lkt_faults_new();
    lk_set_log_callback(capture, NULL, LK_LOG_INFO);
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        on_mapper = lkt_processes() || jobs[j] == 1;
        lk_invoker_options o = lkt_options(jobs[j]);
        o.error_mode = LK_ERRORS_KEEP_GOING;
        lk_invoker *inv = lkt_new_with(faults, op, &o);
        for (int m = 0; m < 5; m++) {
            reset();
            CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
            check_records("a good map", 1);
        }
        /* many quick maps: the last records of a map race its end */
        for (int m = 0; m < 300; m++) {
            reset();
            size_t n = 1 + (size_t)m % 40;
            CHECK_OK(lk_invoker_map(inv, NULL, n, 0, NULL, 0));
            pthread_mutex_lock(&mu);
            for (size_t i = 0; i < n; i++)
                CHECK_MSG(seen[i] == 1, "quick map %d of %zu items: the record of item %zu arrived %d times by "
                          "the time the map returned", m, n, i, seen[i]);
            pthread_mutex_unlock(&mu);
        }
        /* a callback fails after logging (keep-going: every item runs) */
        reset();
        atomic_store(&faults->fail_at, 123);
        CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, NULL, 0), LK_ERR_CALLBACK);
        atomic_store(&faults->fail_at, -1);
        check_records("a map with a failing callback", 1);
        if (lkt_processes()) {
            /* a worker logs, then dies */
            reset();
            atomic_store(&faults->die_at, 321);
            CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, NULL, 0), LK_ERR_WORKER_DIED);
            check_records("a map where a worker died", 1);
            reset();
            CHECK_OK(lk_invoker_map(inv, NULL, N, 0, NULL, 0));
            check_records("the map after a death", 1);
        }
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("n_jobs %d: every record arrived before the map returned\n", jobs[j]);
    }
    lk_set_log_callback(NULL, NULL, LK_LOG_ERROR);
    printf("invoker_api_log: ok\n");
    return 0;
}
