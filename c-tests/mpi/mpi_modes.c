/* Every schedule x results placement x argument placement x index_base, at
 * several sizes and thread counts, against the single-process map: the same
 * results and the same seeds, bit for bit. Rank 0 decides the root seed.
 * The third invoker is a range invoker: its loop's lk_range_seed equals the
 * task->seed of the single-process item map on every rank. */
#include "mpitest.h"

typedef struct out_t {
    uint64_t index, seed, value;
} out_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint64_t a = arg ? *(const uint64_t *)arg : (uint64_t)task->index;
    out_t *o = (out_t *)result;
    o->index = task->index;
    o->seed = task->seed;
    o->value = a * 3 + 1;
    return 0;
}

/* The same as `op`, as a range function's loop. */
static int32_t range_op(const void *model, const void *args, void *results, lk_range *range) {
    (void)model;
    for (size_t i = range->begin; i < range->end; i++) {
        size_t k = i - range->begin;
        uint64_t a = args ? ((const uint64_t *)args)[k] : (uint64_t)i;
        out_t *o = (out_t *)results + k;
        o->index = i;
        o->seed = lk_range_seed(range, i);
        o->value = a * 3 + 1;
    }
    return 0;
}

static const size_t SIZES[] = {0, 1, 5, 1000};
static const int32_t SCHEDULES[] = {LK_SCHEDULE_BLOCK, LK_SCHEDULE_CYCLIC, LK_SCHEDULE_DYNAMIC};
static const int32_t PLACES[] = {LK_RESULTS_ALL, LK_RESULTS_ROOT, LK_RESULTS_OWNED};
static const int32_t JOBS[] = {1, 3, 2};
enum { N_CASES = 4 * 3 * 3 * 2 * 2, N_INVOKERS = 3, RANGE_INVOKER = 2 };

typedef struct one_case {
    size_t n, index_base;
    int32_t schedule, results_at, args_at_root;
} one_case;

static one_case cases[N_CASES];

static void make_cases(void) {
    int k = 0;
    for (int s = 0; s < 4; s++)
        for (int sc = 0; sc < 3; sc++)
            for (int p = 0; p < 3; p++)
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++) {
                        one_case c = {SIZES[s], b ? 17 : 0, SCHEDULES[sc], PLACES[p], a};
                        cases[k++] = c;
                    }
}

int main(int argc, char **argv) {
    mt_init(&argc, &argv);
    make_cases();
    /* Only rank 0's root seed counts. */
    lk_seed_init(mt_rank == 0 ? 42 : 1000 + (uint64_t)mt_rank);
    lk_comm *comm = mt_comm();
    CHECK(lk_comm_rank(comm) == mt_rank && lk_comm_size(comm) == mt_size);

    uint64_t *args = (uint64_t *)malloc(sizeof(uint64_t) * 1000);
    for (int i = 0; i < 1000; i++)
        args[i] = (uint64_t)i * 7 + 3;
    out_t *got[N_INVOKERS][N_CASES];

    for (int j = 0; j < N_INVOKERS; j++) {
        lk_invoker_options o = mt_options(comm, JOBS[j]);
        if (j == RANGE_INVOKER)
            o.range_func = range_op;
        lk_invoker *inv = mt_new_with(NULL, j == RANGE_INVOKER ? NULL : op, &o);
        for (int k = 0; k < N_CASES; k++) {
            one_case c = cases[k];
            got[j][k] = (out_t *)malloc(sizeof(out_t) * (c.n + 1));
            memset(got[j][k], 0xff, sizeof(out_t) * (c.n + 1));
            lk_map_options mo;
            lk_map_options_init(&mo, sizeof mo);
            mo.schedule = c.schedule;
            mo.results_at = c.results_at;
            mo.args_at_root = c.args_at_root;
            mo.index_base = c.index_base;
            const uint64_t *a = (c.args_at_root && mt_rank != 0) ? NULL : args;
            CHECK_OK(lk_invoker_map_with(inv, a, c.n, sizeof *args, got[j][k], sizeof(out_t), &mo));
        }
        CHECK_OK(lk_invoker_shutdown(inv));
    }
    CHECK_OK(lk_comm_free(comm));

    /* The single-process reference: the same root seed, invokers and maps. */
    lk_seed_init(42);
    out_t sentinel;
    memset(&sentinel, 0xff, sizeof sentinel);
    int *computed = (int *)malloc(sizeof(int) * 1000);
    int *total = (int *)malloc(sizeof(int) * 1000);
    for (int j = 0; j < N_INVOKERS; j++) {
        lk_invoker *local = NULL;
        CHECK_OK(lk_invoker_new(NULL, op, 2, &local));
        for (int k = 0; k < N_CASES; k++) {
            one_case c = cases[k];
            out_t *want = (out_t *)malloc(sizeof(out_t) * (c.n + 1));
            lk_map_options mo;
            lk_map_options_init(&mo, sizeof mo);
            mo.index_base = c.index_base;
            CHECK_OK(lk_invoker_map_with(local, args, c.n, sizeof *args, want, sizeof(out_t), &mo));
            int full = c.results_at == LK_RESULTS_ALL || (c.results_at == LK_RESULTS_ROOT && mt_rank == 0);
            for (size_t i = 0; i < c.n; i++) {
                int same = memcmp(&got[j][k][i], &want[i], sizeof(out_t)) == 0;
                int untouched = memcmp(&got[j][k][i], &sentinel, sizeof(out_t)) == 0;
                if (!(same || (!full && untouched))) {
                    fprintf(stderr,
                            "[rank %d] n_jobs %d case %d (n %zu schedule %d results_at %d args_at_root %d "
                            "index_base %zu): item %zu differs (index %llu seed %llu value %llu, want %llu %llu "
                            "%llu)\n",
                            mt_rank, (int)JOBS[j], k, c.n, (int)c.schedule, (int)c.results_at,
                            (int)c.args_at_root, c.index_base, i, (unsigned long long)got[j][k][i].index,
                            (unsigned long long)got[j][k][i].seed, (unsigned long long)got[j][k][i].value,
                            (unsigned long long)want[i].index, (unsigned long long)want[i].seed,
                            (unsigned long long)want[i].value);
                    MPI_Abort(MPI_COMM_WORLD, 1);
                }
                computed[i] = !untouched;
            }
            CHECK(memcmp(&got[j][k][c.n], &sentinel, sizeof(out_t)) == 0); /* nothing past the end */
            if (c.results_at == LK_RESULTS_OWNED && c.n > 0) {
                /* Each item was computed by exactly one rank. */
                MPI_Allreduce(computed, total, (int)c.n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
                for (size_t i = 0; i < c.n; i++)
                    CHECK(total[i] == 1);
            }
            free(want);
            free(got[j][k]);
        }
        CHECK_OK(lk_invoker_shutdown(local));
    }
    free(computed);
    free(total);
    free(args);
    if (mt_rank == 0)
        printf("mpi_modes: ok at np %d (%d maps per invoker, n_jobs 1 and 3, and a range invoker)\n", mt_size,
               N_CASES);
    MPI_Finalize();
    return 0;
}
