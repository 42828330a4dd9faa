/* What rank 0 sees of a running distributed map:
 *
 * - its progress callback reports done/total of the whole map, a few times
 *   a second: rank 0's own items are instant, the others' take 10 ms each,
 *   so while rank 0 waits it reports the others' items (done above its own
 *   share), never more often than about every 250 ms, done never going
 *   back, and last the whole map;
 * - after each map, one info record (target lkparallel::dist) with each
 *   rank's item count and busy time: BLOCK's counts are the ranges'. */
#include "mpitest.h"

enum { N_PER_RANK = 200, MAX_REPORTS = 256 };

static size_t g_done[MAX_REPORTS], g_total[MAX_REPORTS];
static double g_when[MAX_REPORTS];
static int g_reports = 0;
static char g_balance[4][1024];
static int g_records = 0;

static void on_progress(size_t done, size_t total, void *user) {
    (void)user;
    if (g_reports < MAX_REPORTS) {
        g_done[g_reports] = done;
        g_total[g_reports] = total;
        g_when[g_reports] = mt_now();
        g_reports++;
    }
}

static void on_log(lk_log_level level, const char *target, const char *message, void *user) {
    (void)user;
    if (level == LK_LOG_INFO && strcmp(target, "lkparallel::dist") == 0 && strstr(message, "distributed map of") &&
        g_records < 4)
        snprintf(g_balance[g_records++], sizeof g_balance[0], "%s", message);
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model, (void)arg, (void)result, (void)task;
    if (mt_rank != 0)
        mt_sleep_us(10000);
    return 0;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    size_t n = (size_t)mt_size * N_PER_RANK;
    if (mt_rank == 0)
        lk_set_log_callback(on_log, NULL, LK_LOG_INFO);
    lk_comm *comm = mt_comm();
    lk_invoker_options o = mt_options(comm, 2);
    if (mt_rank == 0)
        o.progress = on_progress; /* rank 0 only: the others still count their items for it */
    lk_invoker *inv = mt_new_with(NULL, op, &o);
    CHECK_OK(lk_invoker_map(inv, NULL, n, 0, NULL, 0)); /* BLOCK */
    if (mt_rank == 0) {
        CHECK(g_reports >= 1);
        CHECK(g_done[g_reports - 1] == n && g_total[g_reports - 1] == n);
        int others_seen = 0;
        for (int k = 0; k < g_reports; k++) {
            CHECK(g_total[k] == n);
            CHECK(k == 0 || g_done[k] >= g_done[k - 1]);
            if (k > 0 && k < g_reports - 1)
                CHECK(g_when[k] - g_when[k - 1] >= 0.2); /* a few times a second */
            others_seen += g_done[k] > N_PER_RANK && g_done[k] < n;
        }
        if (mt_size > 1)
            CHECK(others_seen >= 1); /* the others' items, while they ran */
        printf("progress at np %d:", mt_size);
        for (int k = 0; k < g_reports; k++)
            printf(" %zu", g_done[k]);
        printf(" (of %zu)\n", n);
        /* The balance report: each rank's BLOCK range. */
        CHECK(g_records == 1);
        printf("%s\n", g_balance[0]);
        char want[96];
        snprintf(want, sizeof want, "distributed map of %zu items (BLOCK) on %d ranks: ", n, mt_size);
        CHECK(strncmp(g_balance[0], want, strlen(want)) == 0);
        for (int r = 0; r < mt_size; r++) {
            snprintf(want, sizeof want, "rank %d %d items in ", r, N_PER_RANK);
            CHECK(strstr(g_balance[0], want) != NULL);
        }
        fflush(stdout);
    }
    /* DYNAMIC: one more record, the counts adding up to the map. */
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = LK_SCHEDULE_DYNAMIC;
    CHECK_OK(lk_invoker_map_with(inv, NULL, n, 0, NULL, 0, &mo));
    if (mt_rank == 0) {
        CHECK(g_records == 2);
        printf("%s\n", g_balance[1]);
        size_t sum = 0;
        for (int r = 0; r < mt_size; r++) {
            char key[32];
            snprintf(key, sizeof key, "rank %d ", r);
            const char *at = strstr(g_balance[1], key);
            CHECK(at != NULL);
            sum += (size_t)strtoull(at + strlen(key), NULL, 10);
        }
        CHECK(sum == n);
        lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    }
    return mt_finish(inv, comm, "mpi_progress");
}
