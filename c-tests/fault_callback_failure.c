/* A callback returning non-zero fails the map with LK_ERR_CALLBACK;
 * lk_last_error() names the lowest failing index among the items that ran
 * ("index <i>") and its code ("code <c>"); results of items that did not run
 * are left as they were; the invoker stays usable afterwards. */
#include "lktest.h"

enum { N = 1000 };
#define UNTOUCHED 0xA5A5A5A5A5A5A5A5ULL

typedef struct {
    const int32_t *codes; /* code item i returns */
    atomic_int ran[N];
} state;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state *s = (state *)model;
    (void)arg;
    atomic_store(&s->ran[task->index], 1);
    if ((task->index % 7) == 0) lkt_sleep_us(50);
    *(uint64_t *)result = task->index * 3;
    return s->codes[task->index];
}

static void check_map_fails(lk_invoker *inv, state *s, const int32_t *codes, int keep_going) {
    static uint64_t results[N];
    for (int i = 0; i < N; i++) {
        results[i] = UNTOUCHED;
        atomic_store(&s->ran[i], 0);
    }
    s->codes = codes;
    CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]), LK_ERR_CALLBACK);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lk_last_error());
    unsigned long long index = 0;
    long long code = 0;
    if (!lkt_parse_failure(msg, &index, &code)) {
        fprintf(stderr, "message does not name index and code: \"%s\"\n", msg);
        exit(1);
    }
    /* the lowest failing index among the items that ran */
    long lowest = -1;
    for (int i = 0; i < N; i++) {
        if (atomic_load(&s->ran[i]) && codes[i] != 0) {
            lowest = i;
            break;
        }
    }
    CHECK(lowest >= 0);
    if ((long)index != lowest || code != codes[lowest]) {
        fprintf(stderr, "message \"%s\" but the lowest failing item that ran is %ld (code %d)\n", msg,
                lowest, codes[lowest]);
        exit(1);
    }
    for (int i = 0; i < N; i++) {
        if (atomic_load(&s->ran[i])) CHECK(results[i] == (uint64_t)i * 3);
        else CHECK(results[i] == UNTOUCHED);
        if (keep_going) CHECK(atomic_load(&s->ran[i]));
    }
}

static void check_still_usable(lk_invoker *inv, state *s) {
    static const int32_t zeros[N];
    static uint64_t results[N];
    s->codes = zeros;
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
    for (int i = 0; i < N; i++) CHECK(results[i] == (uint64_t)i * 3);
}

int main(void) {
    lkt_watchdog(60);
    static int32_t one[N], two[N], many[N], last[N], first[N];
    one[417] = 42;
    two[700] = -7;
    two[300] = 9;
    for (int i = 0; i < N; i++) many[i] = (i % 97 == 13) ? 1000 + i : 0;
    last[N - 1] = 1;
    first[0] = INT32_MAX;

    static state s;
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        for (int keep_going = 0; keep_going < 2; keep_going++) {
            lk_invoker_options o;
            lk_invoker_options_init(&o, sizeof o);
            o.n_jobs = jobs[j];
            o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
            lk_invoker *inv = NULL;
            CHECK_OK(lk_invoker_new_with(&s, op, &o, &inv));
            for (int round = 0; round < 5; round++) {
                check_map_fails(inv, &s, one, keep_going);
                check_still_usable(inv, &s);
                check_map_fails(inv, &s, two, keep_going);
                check_map_fails(inv, &s, many, keep_going);
                check_map_fails(inv, &s, last, keep_going);
                check_map_fails(inv, &s, first, keep_going);
                check_still_usable(inv, &s);
            }
            if (jobs[j] == 1) {
                /* in order on one thread: the first failure is the one reported */
                check_map_fails(inv, &s, two, keep_going);
                CHECK(strstr(lk_last_error(), "index 300") != NULL);
                CHECK(strstr(lk_last_error(), "code 9") != NULL);
            }
            if (keep_going) {
                check_map_fails(inv, &s, two, keep_going);
                CHECK(strstr(lk_last_error(), "index 300") != NULL);
            }
            check_still_usable(inv, &s);
            CHECK_OK(lk_invoker_shutdown(inv));
        }
    }
    printf("fault_callback_failure: ok\n");
    return 0;
}
