/* A callback returning non-zero fails the map with LK_ERR_CALLBACK:
 * lk_last_error() names the lowest failing index among the items that ran
 * ("index <i>") and its code ("code <c>"); in fail-fast mode items not yet
 * started are skipped (LK_ITEM_SKIPPED in item_status, result slot left as
 * it was); items that ran have their code in item_status and their result
 * written; the invoker stays usable. With n_jobs 1 (items in order, on the
 * calling thread or in one worker process) the first failure is the one
 * reported and, fail-fast, nothing after it runs. n_jobs 1, 2 and 4, both
 * error modes. */
#include "lktest.h"

enum { N = 1000 };
#define UNTOUCHED 0xA5A5A5A5A5A5A5A5ULL

/* Code tables live in ordinary memory that exists, unchanged, from before
 * the invokers are made (worker processes see it); which one a map uses is
 * chosen in shared memory. */
static int32_t tables[6][N];
enum { ZEROS, ONE, TWO, MANY, LAST, FIRST };

typedef struct {
    atomic_int table;
    atomic_int ran[N];
} state_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    state_t *s = (state_t *)model;
    (void)arg;
    atomic_fetch_add(&s->ran[task->index], 1);
    if (task->index % 7 == 0) lkt_sleep_us(50);
    *(uint64_t *)result = task->index * 3;
    return tables[atomic_load(&s->table)][task->index];
}

static void check_map_fails(lk_invoker *inv, state_t *s, int table, int keep_going, int n_jobs) {
    static uint64_t results[N];
    static int32_t status[N];
    const int32_t *codes = tables[table];
    for (int i = 0; i < N; i++) {
        results[i] = UNTOUCHED;
        status[i] = 0x5A5A5A5A;
        atomic_store(&s->ran[i], 0);
    }
    atomic_store(&s->table, table);
    lk_map_options mo = lkt_with_status(status);
    CHECK_FAIL(lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo), LK_ERR_CALLBACK);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lk_last_error());
    unsigned long long index = 0;
    long long code = 0;
    CHECK_MSG(lkt_parse_failure(msg, &index, &code), "message does not name index and code: \"%s\"", msg);
    long lowest = -1;
    for (int i = 0; i < N; i++)
        if (atomic_load(&s->ran[i]) && codes[i] != 0) {
            lowest = i;
            break;
        }
    CHECK(lowest >= 0);
    CHECK_MSG((long)index == lowest && code == codes[lowest],
              "n_jobs %d: message \"%s\" but the lowest failing item that ran is %ld (code %d)", n_jobs, msg,
              lowest, codes[lowest]);
    if (n_jobs == 1) {
        /* in order: the first failing item is the lowest, and nothing after it ran (fail-fast) */
        long first = -1;
        for (int i = 0; i < N && first < 0; i++)
            if (codes[i] != 0) first = i;
        CHECK(lowest == first);
    }
    for (int i = 0; i < N; i++) {
        int ran = atomic_load(&s->ran[i]);
        CHECK(ran <= 1);
        if (ran) {
            CHECK(results[i] == (uint64_t)i * 3);
            CHECK(status[i] == codes[i]);
        } else {
            CHECK(results[i] == UNTOUCHED);
            CHECK(status[i] == LK_ITEM_SKIPPED);
        }
        if (keep_going) CHECK(ran == 1);
        if (!keep_going && n_jobs == 1) CHECK(ran == (i <= lowest));
    }
    /* the same without item_status */
    for (int i = 0; i < N; i++) atomic_store(&s->ran[i], 0);
    CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]), LK_ERR_CALLBACK);
    CHECK(lkt_parse_failure(lk_last_error(), &index, &code));
    CHECK(code == codes[index]);
}

static void check_still_usable(lk_invoker *inv, state_t *s) {
    static uint64_t results[N];
    atomic_store(&s->table, ZEROS);
    for (int i = 0; i < N; i++) atomic_store(&s->ran[i], 0);
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
    for (int i = 0; i < N; i++) {
        CHECK(results[i] == (uint64_t)i * 3);
        CHECK(atomic_load(&s->ran[i]) == 1);
    }
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    tables[ONE][417] = 42;
    tables[TWO][700] = -7;
    tables[TWO][300] = 9;
    for (int i = 0; i < N; i++) tables[MANY][i] = (i % 97 == 13) ? 1000 + i : 0;
    tables[LAST][N - 1] = 1;
    tables[FIRST][0] = INT32_MAX;
    state_t *s = (state_t *)lkt_shared(sizeof *s);

    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        for (int keep_going = 0; keep_going < 2; keep_going++) {
            lk_invoker_options o = lkt_options(jobs[j]);
            o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
            lk_invoker *inv = lkt_new_with(s, op, &o);
            for (int round = 0; round < 5; round++) {
                check_map_fails(inv, s, ONE, keep_going, jobs[j]);
                check_still_usable(inv, s);
                check_map_fails(inv, s, TWO, keep_going, jobs[j]);
                check_map_fails(inv, s, MANY, keep_going, jobs[j]);
                check_map_fails(inv, s, LAST, keep_going, jobs[j]);
                check_map_fails(inv, s, FIRST, keep_going, jobs[j]);
                check_still_usable(inv, s);
            }
            if (jobs[j] == 1 || keep_going) {
                /* item 300 (code 9) is the lowest failing index and it runs */
                check_map_fails(inv, s, TWO, keep_going, jobs[j]);
                CHECK_ERROR_HAS("index 300");
                CHECK_ERROR_HAS("code 9");
            }
            check_still_usable(inv, s);
            CHECK_OK(lk_invoker_shutdown(inv));
            printf("n_jobs %d, %s: failures reported right\n", jobs[j], keep_going ? "keep-going" : "fail-fast");
        }
    }
    printf("invoker_fault_callback_failure: ok\n");
    return 0;
}
