/* A stream's seeds are a map's in the same place (API.md, Streaming maps:
 * "A stream is one map in the invoker's map order: item index_base + i
 * gets the task->seed that index gets in a map in that place"). After
 * lk_seed_init(S): on one invoker a map, a stream with an index_base, and
 * a map again; the same with three maps (the middle one with that
 * index_base): the stream's seeds (task->seed, or lk_range_seed on a range
 * invoker) are the middle map's, and the maps before and after keep
 * theirs. Item and range invokers, n_jobs 1, 2 and 4, windows 7 and
 * automatic; with LK_SEEDS_OFF every seed is 0. */
#include "stream/streamtest.h"

enum { N = 2500, BASE = 4242 };

static int32_t seed_item(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (task->index % 256 == 0) lkt_sleep_us(20);
    *(uint64_t *)result = task->seed;
    return 0;
}

static int32_t seed_range(const void *model, const void *args, void *results, lk_range *r) {
    (void)model;
    (void)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++) *res++ = lk_range_seed(r, i);
    return 0;
}

typedef struct {
    size_t sourced, sunk;
    uint64_t *out;
} seed_io;

static int32_t src(void *user, void *args, size_t capacity, size_t *n_filled) {
    seed_io *io = (seed_io *)user;
    (void)args;
    size_t k = N - io->sourced < capacity ? N - io->sourced : capacity;
    io->sourced += k;
    *n_filled = k;
    return 0;
}

static int32_t snk(void *user, size_t first, const void *results, const int32_t *status, size_t n) {
    seed_io *io = (seed_io *)user;
    CHECK(first == BASE + io->sunk);
    for (size_t k = 0; k < n; k++) {
        CHECK(status[k] == 0);
        io->out[io->sunk + k] = ((const uint64_t *)results)[k];
    }
    io->sunk += n;
    return 0;
}

static uint64_t seeds[3][N], ref[3][N];

/* map, (stream | map) with index_base BASE, map: the seeds of each. */
static void run(int kind, int n_jobs, lk_seeds seeding, int streamed, size_t window, uint64_t out[3][N]) {
    lk_seed_init(0x5EED5EED5EEDULL);
    lk_invoker_options o = lkt_options(n_jobs);
    o.seeds = seeding;
    if (kind) o.range_func = seed_range;
    lk_invoker *inv = lkt_new_with(NULL, kind ? NULL : seed_item, &o);
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, out[0], sizeof(uint64_t)));
    mo.index_base = BASE;
    if (streamed) {
        lk_stream_options so;
        lk_stream_options_init(&so, sizeof so);
        so.window = window;
        so.index_base = BASE;
        seed_io io = {0, 0, out[1]};
        CHECK_OK(lk_invoker_stream(inv, src, snk, &io, 0, sizeof(uint64_t), &so));
        CHECK(io.sunk == N);
    } else {
        CHECK_OK(lk_invoker_map_with(inv, NULL, N, 0, out[1], sizeof(uint64_t), &mo));
    }
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, out[2], sizeof(uint64_t)));
    CHECK_OK(lk_invoker_shutdown(inv));
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    const int32_t jobs[] = {1, 2, 4};
    const size_t windows[] = {7, 0};
    for (int kind = 0; kind < 2; kind++)
        for (int j = 0; j < 3; j++)
            for (int w = 0; w < 2; w++) {
                run(0, 1, LK_SEEDS_PER_ITEM, 0, 0, ref);
                run(kind, jobs[j], LK_SEEDS_PER_ITEM, 1, windows[w], seeds);
                for (int m = 0; m < 3; m++)
                    for (int i = 0; i < N; i++)
                        CHECK_MSG(seeds[m][i] == ref[m][i],
                                  "%s invoker, n_jobs %d, window %zu: %s, item %d: seed %016" PRIx64
                                  ", a map in its place gives %016" PRIx64,
                                  st_kind_name[kind], jobs[j], windows[w],
                                  m == 1 ? "the stream" : m == 0 ? "the map before" : "the map after", i, seeds[m][i],
                                  ref[m][i]);
                CHECK(ref[0][0] != ref[1][0] && ref[1][0] != ref[2][0] && ref[1][0] != ref[1][1]);
                run(kind, jobs[j], LK_SEEDS_OFF, 1, windows[w], seeds);
                for (int m = 0; m < 3; m++)
                    for (int i = 0; i < N; i++) CHECK_MSG(seeds[m][i] == 0, "LK_SEEDS_OFF: a seed is not 0");
            }
    printf("stream_api_seeds: ok\n");
    return 0;
}
