/* LK_SEED sets the root seed exactly as lk_seed_init would: this program
 * runs itself again with LK_SEED in the environment; the child reports
 * lk_root_seed() and the task seeds of a map, which must equal what the
 * parent gets after lk_seed_init with the same value. */
#include "lktest.h"

enum { N = 64 };

static int32_t record_seed(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->seed;
    return 0;
}

/* Child: print the root seed, then the seeds of a 2-worker map. */
static int child(void) {
    printf("%" PRIu64 "\n", lk_root_seed());
    lk_invoker *inv = NULL;
    uint64_t seeds[N];
    if (lk_invoker_new(NULL, record_seed, 2, &inv) != LK_OK) return 2;
    if (lk_invoker_map(inv, NULL, N, 0, seeds, sizeof seeds[0]) != LK_OK) return 3;
    for (int i = 0; i < N; i++) printf("%" PRIu64 "\n", seeds[i]);
    lk_invoker_shutdown(inv);
    fflush(stdout);
    return 0;
}

static void check_with(const char *value, uint64_t expected) {
    char setting[128];
    snprintf(setting, sizeof setting, "LK_SEED=%s", value);
    const char *env[] = {setting, NULL};
    static char out[64 * 1024];
    int code = lkt_run_self("child", env, 1, out, sizeof out);
    CHECK(code == 0);

    char *p = out, *end = NULL;
    uint64_t root = strtoull(p, &end, 10);
    CHECK(end != p);
    if (root != expected) {
        fprintf(stderr, "LK_SEED=%s: child's lk_root_seed() is %" PRIu64 "\n", value, root);
        exit(1);
    }

    lk_seed_init(expected);
    lk_invoker *inv = NULL;
    uint64_t seeds[N];
    CHECK_OK(lk_invoker_new(NULL, record_seed, 1, &inv));
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, seeds, sizeof seeds[0]));
    CHECK_OK(lk_invoker_shutdown(inv));
    for (int i = 0; i < N; i++) {
        p = end;
        uint64_t s = strtoull(p, &end, 10);
        CHECK(end != p);
        CHECK(s == seeds[i]);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
    lkt_watchdog(30);
    check_with("42", 42);
    check_with("12345678901234567890", 12345678901234567890ULL);
    check_with("18446744073709551615", UINT64_MAX);
    check_with("0", 0);

    /* without LK_SEED two runs draw different (entropy) root seeds */
    const char *unset[] = {"LK_SEED", NULL};
    static char a[64 * 1024], b[64 * 1024];
    CHECK(lkt_run_self("child", unset, 1, a, sizeof a) == 0);
    CHECK(lkt_run_self("child", unset, 1, b, sizeof b) == 0);
    CHECK(strtoull(a, NULL, 10) != strtoull(b, NULL, 10));

    printf("library_api_seed_env: ok\n");
    return 0;
}
