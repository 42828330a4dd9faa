/* Ranks that pass different counts, sizes or options all return
 * LK_ERR_INVALID before any result is written, and stay in step. */
#include "mpitest.h"

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg + 1;
    return 0;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    CHECK(mt_size >= 2);
    lk_comm *comm = mt_comm();
    enum { N = 300 };
    uint64_t args[N + 1], out[N + 1];
    for (int i = 0; i <= N; i++)
        args[i] = (uint64_t)i;
    lk_invoker_options o = mt_options(comm, 2);
    lk_invoker *inv = mt_new_with(NULL, op, &o);
    int odd = mt_rank == mt_size - 1;
    for (int c = 0; c < 7; c++) {
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        size_t n = N, rsz = 8;
        const uint64_t *a = args;
        if (odd) {
            switch (c) {
            case 0: n = N + 1; break;                        /* count */
            case 1: rsz = 4; break;                          /* result size */
            case 2: mo.schedule = LK_SCHEDULE_DYNAMIC; break; /* option */
            case 3: mo.results_at = LK_RESULTS_ROOT; break;   /* option */
            case 4: mo.index_base = 5; break;                /* option */
            case 5: a = NULL; break;                         /* a local error: NULL args */
            case 6: mo.schedule = 77; break;                 /* an unknown option value */
            }
        }
        memset(out, 0xab, sizeof out);
        CHECK_STATUS(lk_invoker_map_with(inv, a, n, 8, out, rsz, &mo), LK_ERR_INVALID);
        char want[32];
        snprintf(want, sizeof want, "rank %d", mt_size - 1);
        CHECK(strstr(lk_last_error(), want) != NULL);
        for (size_t i = 0; i < sizeof out; i++)
            CHECK(((unsigned char *)out)[i] == 0xab);
        /* In step: a good map works right after. */
        CHECK_OK(lk_invoker_map(inv, args, N, 8, out, 8));
        for (int i = 0; i < N; i++)
            CHECK(out[i] == (uint64_t)i + 1);
    }
    return mt_finish(inv, comm, "mpi_mismatch");
}
