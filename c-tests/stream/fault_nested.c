/* Calls from inside a stream's source and sink (API.md, Streaming maps:
 * "source and sink may call lk_invoker_cancel and use other invokers; a
 * map or stream on the same invoker from inside them is
 * LK_ERR_UNSUPPORTED"): from inside the source and from inside the sink,
 * lk_invoker_map, lk_invoker_map_with and lk_invoker_stream on the
 * stream's own invoker return LK_ERR_UNSUPPORTED with a message (and run
 * no callback), while maps on other invokers (threads n_jobs 2, this
 * backend n_jobs 2, a range invoker) and a stream on another invoker work
 * with every result right; the outer stream then completes in full.
 * Also, with the threads backend, an item callback of a stream may map on
 * the stream's own invoker (any callback may, API.md, Invoker): n_jobs 1,
 * where the items run on the stream's calling thread, and n_jobs 2.
 * Item and range invokers, n_jobs 1 and 2. */
#include "stream/streamtest.h"

enum { N = 400, INNER = 50 };
#define INNER_BASE ((size_t)1 << 40)

typedef struct {
    lk_invoker *self;
    lk_invoker *others[3];
    int wrong, tried;
} nest_t;

static int32_t plus_one(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)task;
    *(uint64_t *)result = *(const uint64_t *)arg + 1;
    return 0;
}

static int32_t plus_one_range(const void *model, const void *args, void *results, lk_range *r) {
    (void)model;
    const uint64_t *a = (const uint64_t *)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++) *res++ = *a++ + 1;
    return 0;
}

/* A map on `inv` that must work. */
static int map_works(lk_invoker *inv) {
    uint64_t a[INNER], r[INNER];
    for (int i = 0; i < INNER; i++) {
        a[i] = (uint64_t)i * 9;
        r[i] = 0;
    }
    if (lk_invoker_map(inv, a, INNER, sizeof a[0], r, sizeof r[0]) != LK_OK) return 0;
    for (int i = 0; i < INNER; i++)
        if (r[i] != (uint64_t)i * 9 + 1) return 0;
    return 1;
}

/* A short inner stream on `inv` (the plus_one invokers). */
static size_t inner_sourced, inner_sunk;
static int inner_bad;
static int32_t inner_src(void *user, void *args, size_t capacity, size_t *n_filled) {
    (void)user;
    size_t k = INNER - inner_sourced < capacity ? INNER - inner_sourced : capacity;
    for (size_t i = 0; i < k; i++) ((uint64_t *)args)[i] = inner_sourced + i;
    inner_sourced += k;
    *n_filled = k;
    return 0;
}
static int32_t inner_snk(void *user, size_t first, const void *results, const int32_t *status, size_t n) {
    (void)user;
    for (size_t k = 0; k < n; k++)
        if (status[k] != 0 || ((const uint64_t *)results)[k] != first + k + 1 || first + k != inner_sunk + k)
            inner_bad = 1;
    inner_sunk += n;
    return 0;
}
static lk_status inner_stream(lk_invoker *inv) {
    inner_sourced = inner_sunk = 0;
    inner_bad = 0;
    return lk_invoker_stream(inv, inner_src, inner_snk, NULL, sizeof(uint64_t), sizeof(uint64_t), NULL);
}

static void try_nested(st_io *io) {
    nest_t *t = (nest_t *)io->ctx;
    t->tried++;
    uint64_t a[4] = {1, 2, 3, 4}, r[4] = {0, 0, 0, 0};
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    if (lk_invoker_map(t->self, a, 4, sizeof a[0], r, sizeof r[0]) != LK_ERR_UNSUPPORTED || !lk_last_error()[0])
        t->wrong |= 1;
    if (lk_invoker_map_with(t->self, a, 4, sizeof a[0], r, sizeof r[0], &mo) != LK_ERR_UNSUPPORTED) t->wrong |= 2;
    if (lk_invoker_stream(t->self, st_source, st_sink, io, 8, 8, NULL) != LK_ERR_UNSUPPORTED || !lk_last_error()[0])
        t->wrong |= 4;
    if (r[0] || r[1] || r[2] || r[3]) t->wrong |= 8;
    for (int k = 0; k < 3; k++)
        if (!map_works(t->others[k])) t->wrong |= 16 << k;
    if (inner_stream(t->others[0]) != LK_OK || inner_bad || inner_sunk != INNER) t->wrong |= 128;
}

static void in_source(st_io *io, size_t call) {
    if (call < 3) try_nested(io);
}

static void in_sink(st_io *io, size_t first, size_t n) {
    (void)first;
    (void)n;
    if (io->sink_calls <= 3) try_nested(io);
}

/* Item callbacks that map on their own invoker (threads backend). */
typedef struct {
    lk_invoker *self;
    atomic_int wrong, nested;
} selfmap_t;

static int32_t self_mapping_item(const void *model, const void *arg, void *result, const lk_task *task) {
    selfmap_t *m = (selfmap_t *)model;
    if (task->index < INNER_BASE && task->index % 50 == 0) {
        /* the inner map's items have indices from INNER_BASE: they map no further */
        uint64_t r[8];
        uint64_t a[8] = {0};
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        mo.index_base = INNER_BASE;
        lk_status st = lk_invoker_map_with(m->self, a, 8, sizeof a[0], r, sizeof r[0], &mo);
        atomic_fetch_add(&m->nested, 1);
        if (st != LK_OK) {
            fprintf(stderr, "a map from an item callback of a stream on its own invoker: %d (%s)\n", (int)st,
                    lk_last_error());
            atomic_store(&m->wrong, 1);
        }
    }
    *(uint64_t *)result = st_result(*(const uint64_t *)arg, task->index);
    return 0;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    st_shared *s = st_shared_new();
    static nest_t t;
    lk_invoker_options o_threads = lkt_options_on(LK_BACKEND_THREADS, 2);
    t.others[0] = lkt_new_with(NULL, plus_one, &o_threads);
    lk_invoker_options o_mine = lkt_options(2);
    t.others[1] = lkt_new_with(NULL, plus_one, &o_mine);
    lk_invoker_options o_range = lkt_options(2);
    o_range.range_func = plus_one_range;
    t.others[2] = lkt_new_with(NULL, NULL, &o_range);

    for (rt_loop l = st_loop_of(rt_jobs_1_2, 2, 1, 2); rt_loop_next(&l);) {
        int where = l.at;
        char what[128];
        snprintf(what, sizeof what, "%s, from the %s", l.what, where ? "sink" : "source");
        t.self = st_loop_new(s, &l);
        t.wrong = t.tried = 0;
        st_shared_reset(s, 0, N);
        st_io io;
        st_io_init(&io, N, 0, 16, ST_FILL_FULL);
        io.ctx = &t;
        if (where) io.on_sink = in_sink;
        else io.on_source = in_source;
        CHECK_OK(st_run(t.self, &io));
        CHECK(t.tried >= 1);
        CHECK_MSG(!(t.wrong & 1), "%s: lk_invoker_map on the stream's invoker was not LK_ERR_UNSUPPORTED", what);
        CHECK_MSG(!(t.wrong & 2), "%s: lk_invoker_map_with on the stream's invoker was not LK_ERR_UNSUPPORTED",
                  what);
        CHECK_MSG(!(t.wrong & 4), "%s: lk_invoker_stream on the stream's invoker was not LK_ERR_UNSUPPORTED",
                  what);
        CHECK_MSG(!(t.wrong & 8), "%s: a refused map wrote results", what);
        for (int k = 0; k < 3; k++)
            CHECK_MSG(!(t.wrong & (16 << k)), "%s: a map on another invoker (%d) failed", what, k);
        CHECK_MSG(!(t.wrong & 128), "%s: a stream on another invoker failed", what);
        /* the refused stream called none of the outer stream's callbacks twice at once */
        st_check_complete(&io, s, what);
        CHECK_OK(lk_invoker_shutdown(t.self));
        printf("%s: ok\n", what);
    }

    if (!lkt_processes()) {
        /* item callbacks of a stream map on its own invoker (threads only:
         * in a worker process the parent's handle is dead) */
        static selfmap_t m;
        for (int32_t n_jobs = 1; n_jobs <= 2; n_jobs++) {
            lk_invoker_options o = lkt_options(n_jobs);
            m.self = lkt_new_with(&m, self_mapping_item, &o);
            atomic_store(&m.wrong, 0);
            atomic_store(&m.nested, 0);
            st_shared_reset(s, 0, N);
            st_io io;
            st_io_init(&io, N, 0, 32, ST_FILL_FULL);
            CHECK_OK(st_run(m.self, &io));
            st_check_rules(&io, "self-mapping items");
            CHECK(io.sunk == N && io.nonzero_seen == 0);
            CHECK(atomic_load(&m.nested) == N / 50);
            CHECK_MSG(!atomic_load(&m.wrong), "n_jobs %d: an item callback of a stream could not map on its own invoker",
                      n_jobs);
            CHECK_OK(lk_invoker_shutdown(m.self));
            printf("threads, n_jobs %d: item callbacks of a stream map on its invoker: ok\n", n_jobs);
        }
    }
    for (int k = 0; k < 3; k++) CHECK_OK(lk_invoker_shutdown(t.others[k]));
    printf("stream_fault_nested: ok\n");
    return 0;
}
