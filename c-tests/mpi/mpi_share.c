/* Memory per rank follows its share, for every schedule:
 *
 * - LK_RESULTS_ROOT with args_at_root: ranks other than 0 pass no args, no
 *   results and no item_status; rank 0 gets every result and status (also
 *   the statuses of a failing KEEP_GOING map);
 * - LK_RESULTS_OWNED_COMPACT: each rank's results array holds its own
 *   items only, packed in index order; owned_index names each slot's item,
 *   owned_count how many there are. BLOCK and CYCLIC: the capacity is the
 *   share that lk_invoker_owned_ranges announced before the map, and the
 *   slots are those ranges. DYNAMIC: just enough room on every rank, all
 *   together (ceil(n / size) each).
 *
 * Together the ranks' slots hold every item exactly once, each equal to the
 * single-process map's result. */
#include "mpitest.h"

typedef struct out_t {
    uint64_t index, value;
} out_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint64_t a = *(const uint64_t *)arg;
    if (a == 500)
        return 9; /* only in the failing map */
    out_t *o = (out_t *)result;
    o->index = task->index;
    o->value = a * 3 + 1;
    return 0;
}

enum { N = 1000, BASE = 7 };
static const int32_t SCHEDULES[] = {LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC};

static void root_without_arrays(lk_invoker *inv, const uint64_t *args, const uint64_t *failing, int32_t schedule) {
    int root = mt_rank == 0;
    out_t *out = root ? (out_t *)malloc(sizeof(out_t) * N) : NULL;
    int32_t *status = root ? (int32_t *)malloc(sizeof(int32_t) * N) : NULL;
    CHECK(!root || (out && status));
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = schedule;
    mo.results_at = LK_RESULTS_ROOT;
    mo.args_at_root = 1;
    mo.item_status = status;
    CHECK_STATUS(lk_invoker_map_with(inv, root ? failing : NULL, N, 8, out, sizeof(out_t), &mo), LK_ERR_CALLBACK);
    if (root)
        for (int i = 0; i < N; i++)
            CHECK(status[i] == (i == 500 ? 9 : 0));
    CHECK_OK(lk_invoker_map_with(inv, root ? args : NULL, N, 8, out, sizeof(out_t), &mo));
    if (root)
        for (int i = 0; i < N; i++)
            CHECK(out[i].index == (uint64_t)i && out[i].value == args[i] * 3 + 1 && status[i] == 0);
    free(out);
    free(status);
}

static void compact(lk_invoker *inv, const uint64_t *args, int32_t schedule) {
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    mo.schedule = schedule;
    mo.results_at = LK_RESULTS_OWNED_COMPACT;
    mo.index_base = BASE;
    size_t capacity = 0, n_ranges = 0;
    lk_index_range *ranges = NULL;
    if (schedule == LK_SCHEDULE_DYNAMIC) {
        capacity = (N + (size_t)mt_size - 1) / (size_t)mt_size;
        CHECK_STATUS(lk_invoker_owned_ranges(inv, N, &mo, NULL, 0, &n_ranges, NULL), LK_ERR_UNSUPPORTED);
    } else {
        CHECK_OK(lk_invoker_owned_ranges(inv, N, &mo, NULL, 0, &n_ranges, &capacity));
        ranges = (lk_index_range *)malloc(sizeof *ranges * (n_ranges + 1));
        CHECK(ranges != NULL);
        CHECK_OK(lk_invoker_owned_ranges(inv, N, &mo, ranges, n_ranges, &n_ranges, NULL));
    }
    /* One slot more than the capacity: it must stay untouched. */
    out_t *out = (out_t *)malloc(sizeof(out_t) * (capacity + 1));
    size_t *index = (size_t *)malloc(sizeof(size_t) * (capacity + 1));
    int32_t *status = (int32_t *)malloc(sizeof(int32_t) * (capacity + 1));
    CHECK(out && index && status);
    memset(out, 0xff, sizeof(out_t) * (capacity + 1));
    memset(index, 0xff, sizeof(size_t) * (capacity + 1));
    memset(status, 0x7f, sizeof(int32_t) * (capacity + 1));
    size_t count = SIZE_MAX;
    mo.owned_capacity = capacity;
    mo.owned_index = index;
    mo.owned_count = &count;
    mo.item_status = status;
    CHECK_OK(lk_invoker_map_with(inv, args, N, 8, out, sizeof(out_t), &mo));
    CHECK(count <= capacity);
    if (schedule != LK_SCHEDULE_DYNAMIC)
        CHECK(count == capacity);
    int *mine = (int *)calloc(N, sizeof(int)), *total = (int *)calloc(N, sizeof(int));
    CHECK(mine && total);
    size_t slot = 0;
    for (size_t r = 0; r < n_ranges; r++)
        for (size_t i = ranges[r].begin; i < ranges[r].end; i++, slot++)
            CHECK(slot < count && index[slot] == i); /* the slots are the announced ranges */
    for (size_t k = 0; k < count; k++) {
        CHECK(index[k] >= BASE && index[k] < BASE + N && (k == 0 || index[k] > index[k - 1]));
        size_t i = index[k] - BASE;
        CHECK(out[k].index == index[k] && out[k].value == args[i] * 3 + 1 && status[k] == 0);
        mine[i] = 1;
    }
    CHECK(out[capacity].index == UINT64_MAX && index[capacity] == SIZE_MAX && status[capacity] == 0x7f7f7f7f);
    MPI_Allreduce(mine, total, N, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    for (int i = 0; i < N; i++)
        CHECK(total[i] == 1); /* every item in exactly one rank's slots */
    free(mine);
    free(total);
    free(ranges);
    free(out);
    free(index);
    free(status);
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    uint64_t args[N], failing[N];
    for (int i = 0; i < N; i++) {
        args[i] = (uint64_t)i * 7 + 1000;
        failing[i] = (uint64_t)i;
    }
    lk_comm *comm = mt_comm();
    lk_invoker_options o = mt_options(comm, 2);
    o.error_mode = LK_ERRORS_KEEP_GOING;
    lk_invoker *inv = mt_new_with(NULL, op, &o);
    for (int s = 0; s < 3; s++) {
        root_without_arrays(inv, args, failing, SCHEDULES[s]);
        compact(inv, args, SCHEDULES[s]);
    }
    return mt_finish(inv, comm, "mpi_share");
}
