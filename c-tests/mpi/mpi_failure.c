/* A callback failing on one rank fails the map on every rank with the same
 * status and message (lowest failing index, its rank, its code), for every
 * schedule; KEEP_GOING gathers every item's status; the invoker stays usable. */
#include "mpitest.h"

typedef struct model_t {
    uint64_t fail_at;   /* fails with code 42 */
    uint64_t fail_from; /* with KEEP_GOING: every multiple of 100 from here fails with code a/100 */
} model_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    const model_t *m = (const model_t *)model;
    uint64_t a = *(const uint64_t *)arg;
    (void)task;
    if (a == m->fail_at)
        return 42;
    if (a >= m->fail_from && a % 100 == 0)
        return (int32_t)(a / 100);
    *(uint64_t *)result = a + 1;
    return 0;
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    lk_comm *comm = mt_comm();
    enum { N = 999 };
    uint64_t args[N], out[N];
    for (int i = 0; i < N; i++)
        args[i] = (uint64_t)i;
    model_t model = {900, UINT64_MAX};
    lk_invoker_options o = mt_options(comm, 2);
    lk_invoker *inv = mt_new_with(&model, op, &o);
    char want[64];
    const int32_t schedules[] = {LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC};
    for (int s = 0; s < 3; s++) {
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.schedule = schedules[s];
        CHECK_STATUS(lk_invoker_map_with(inv, args, N, 8, out, 8, &mo), LK_ERR_CALLBACK);
        const char *msg = lk_last_error();
        mt_same_message_everywhere(msg);
        CHECK(strstr(msg, "index 900 with code 42") != NULL);
        if (schedules[s] == LK_SCHEDULE_BLOCK) {
            /* Item 900 is in the last rank's block. */
            snprintf(want, sizeof want, "rank %d: ", mt_size - 1);
            CHECK(strncmp(msg, want, strlen(want)) == 0);
        }
        /* Still usable, and the ranks still in step. */
        CHECK_OK(lk_invoker_map_with(inv, args, 500, 8, out, 8, &mo));
        for (int i = 0; i < 500; i++)
            CHECK(out[i] == (uint64_t)i + 1);
    }
    CHECK_OK(lk_invoker_shutdown(inv));

    /* KEEP_GOING: every item runs; the lowest failing one is named; the
       statuses of all items reach every rank. */
    model_t many = {UINT64_MAX, 300};
    o.error_mode = LK_ERRORS_KEEP_GOING;
    inv = mt_new_with(&many, op, &o);
    int32_t status[N];
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.item_status = status;
    CHECK_STATUS(lk_invoker_map_with(inv, args, N, 8, out, 8, &mo), LK_ERR_CALLBACK);
    mt_same_message_everywhere(lk_last_error());
    CHECK(strstr(lk_last_error(), "index 300 with code 3 (7 items failed)") != NULL);
    for (int i = 0; i < N; i++)
        CHECK(status[i] == (i >= 300 && i % 100 == 0 ? i / 100 : 0));
    return mt_finish(inv, comm, "mpi_failure");
}
