/* lk_root_seed() in a run_sp child is a seed derived from the parent's root
 * seed and the order of the lk_run_sp calls: different for every call, not
 * the parent's, the same in two runs with the same LK_SEED, and repeated
 * after lk_seed_init(S) (which restarts the run_sp counter). */
#include "sptest.h"

enum { CALLS = 8 };

static int32_t child_seed(const void *arg, lk_buffer *out) {
    (void)arg;
    uint64_t s = lk_root_seed();
    SPT_APPEND(out, &s, sizeof s);
    return 0;
}

static uint64_t one_child_seed(void) {
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(child_seed, NULL, &res));
    CHECK(res.len == sizeof(uint64_t));
    uint64_t s;
    memcpy(&s, res.data, sizeof s);
    lk_buffer_free(&res);
    return s;
}

/* Mode "print": the root seed, then CALLS child seeds, one per line. */
static int print_mode(void) {
    printf("root %" PRIu64 "\n", lk_root_seed());
    for (int i = 0; i < CALLS; i++) printf("child %" PRIu64 "\n", one_child_seed());
    return 0;
}

static void parse(const char *text, uint64_t *root, uint64_t seeds[CALLS]) {
    const char *p = strstr(text, "root ");
    CHECK(p != NULL);
    *root = strtoull(p + 5, NULL, 10);
    for (int i = 0; i < CALLS; i++) {
        p = strstr(p + 1, "child ");
        CHECK(p != NULL);
        seeds[i] = strtoull(p + 6, NULL, 10);
    }
}

static void all_distinct(const uint64_t *s, int n, uint64_t parent_root) {
    for (int i = 0; i < n; i++) {
        CHECK(s[i] != parent_root);
        for (int j = 0; j < i; j++) CHECK(s[i] != s[j]);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "print") == 0) return print_mode();
    lkt_watchdog(20);

    /* This process: distinct child seeds, the parent's root unchanged. */
    uint64_t root = lk_root_seed();
    uint64_t a[CALLS], b[CALLS];
    for (int i = 0; i < CALLS; i++) a[i] = one_child_seed();
    all_distinct(a, CALLS, root);
    CHECK(lk_root_seed() == root);

    /* After lk_seed_init(S) the sequence repeats, and differs for another S. */
    lk_seed_init(20240611);
    CHECK(lk_root_seed() == 20240611);
    for (int i = 0; i < CALLS; i++) a[i] = one_child_seed();
    all_distinct(a, CALLS, 20240611);
    lk_seed_init(20240611);
    for (int i = 0; i < CALLS; i++) b[i] = one_child_seed();
    for (int i = 0; i < CALLS; i++) CHECK(a[i] == b[i]);
    lk_seed_init(20240612);
    for (int i = 0; i < CALLS; i++) b[i] = one_child_seed();
    for (int i = 0; i < CALLS; i++) CHECK(a[i] != b[i]);

    /* Two runs of this program with the same LK_SEED print the same seeds;
     * LK_SEED=S behaves as lk_seed_init(S). */
    static spt_output r1, r2, r3;
    const char *env_same[] = {"LK_SEED=20240611", NULL};
    const char *env_other[] = {"LK_SEED=7", NULL};
    spt_run_self("print", env_same, &r1);
    spt_run_self("print", env_same, &r2);
    spt_run_self("print", env_other, &r3);
    CHECK(r1.status == 0 && r2.status == 0 && r3.status == 0);
    uint64_t root1, root2, root3, s1[CALLS], s2[CALLS], s3[CALLS];
    parse(r1.out, &root1, s1);
    parse(r2.out, &root2, s2);
    parse(r3.out, &root3, s3);
    CHECK(root1 == 20240611 && root2 == 20240611 && root3 == 7);
    all_distinct(s1, CALLS, root1);
    for (int i = 0; i < CALLS; i++) {
        CHECK(s1[i] == s2[i]);
        CHECK(s1[i] == a[i]); /* same as after lk_seed_init(20240611) here */
        CHECK(s1[i] != s3[i]);
    }

    lkt_check_no_children();
    printf("run_sp_api_seed: ok\n");
    return 0;
}
