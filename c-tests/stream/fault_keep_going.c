/* Failing items under keep-going (API.md, Streaming maps: "Under
 * keep-going every item reaches sink with its status ..., and the call
 * returns the status a map would, naming the lowest failing index"):
 * items fail with various codes (negative, INT32_MAX, LK_RANGE_STOPPED as
 * an ordinary code included); every item reaches the sink exactly once, in
 * order, with its own status (its code, or 0 and its result), and ran
 * exactly once; the stream returns LK_ERR_CALLBACK naming the lowest
 * failing index and its code, as a map over the same items on the same
 * invoker does (the same status and the same index and code); a stream
 * where nothing fails returns LK_OK; lk_range_stopped stays 0 throughout
 * (a keep-going failure never stops a stream). Item and range invokers, n_jobs 1, 2
 * and 4, windows 1, 5, 100 and automatic, index_base 0 and 31337. */
#include "stream/streamtest.h"

enum { N = 2000 };

static int32_t code_of(size_t rel) {
    if (rel == 17) return 3;
    if (rel % 211 == 100) return -(int32_t)rel;
    if (rel == 1500) return INT32_MAX;
    if (rel == 1501) return LK_RANGE_STOPPED;
    return 0;
}

typedef struct {
    size_t base;
    int fail;
    atomic_int runs[N];
} kg_t;

static int32_t kg_item(const void *model, const void *arg, void *result, const lk_task *task) {
    kg_t *k = (kg_t *)model;
    size_t rel = task->index - k->base;
    atomic_fetch_add(&k->runs[rel], 1);
    if (rel % 97 == 0) lkt_sleep_us(50);
    int32_t c = k->fail ? code_of(rel) : 0;
    if (c) return c;
    *(uint64_t *)result = st_result(*(const uint64_t *)arg, task->index);
    return 0;
}

static atomic_int *stopped_seen;

static int32_t kg_range(const void *model, const void *args, void *results, lk_range *r) {
    const uint64_t *a = (const uint64_t *)args;
    uint64_t *res = (uint64_t *)results;
    for (size_t i = r->begin; i < r->end; i++) {
        if (lk_range_stopped(r)) atomic_fetch_add(stopped_seen, 1); /* never under keep-going */
        lk_task t = {i, 0, r->worker, 0};
        int32_t c = kg_item(model, a++, res++, &t);
        if (c) {
            r->failed = i;
            return c;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(240);
    kg_t *k = (kg_t *)lkt_shared(sizeof *k);
    stopped_seen = (atomic_int *)lkt_shared(sizeof *stopped_seen);
    static int32_t status[N], map_status[N];
    static uint64_t args[N], results[N];
    for (size_t i = 0; i < N; i++) args[i] = st_arg(i);
    const int32_t jobs[] = {1, 2, 4};
    const size_t windows[] = {1, 5, 100, 0};
    for (int kind = 0; kind < 2; kind++)
        for (int j = 0; j < 3; j++) {
            lk_invoker_options o = lkt_options(jobs[j]);
            o.error_mode = LK_ERRORS_KEEP_GOING;
            if (kind) o.range_func = kg_range;
            lk_invoker *inv = lkt_new_with(k, kind ? NULL : kg_item, &o);
            for (int w = 0; w < 4; w++)
                for (int fail = 0; fail < 2; fail++) {
                    size_t base = w % 2 ? 31337 : 0;
                    char what[160];
                    snprintf(what, sizeof what, "%s invoker, n_jobs %d, window %zu, index_base %zu%s",
                             st_kind_name[kind], jobs[j], windows[w], base, fail ? "" : ", nothing fails");
                    k->base = base;
                    k->fail = fail;
                    /* the map first: its status and message */
                    lk_map_options mo = lkt_with_status(map_status);
                    mo.index_base = base;
                    lk_status map_st = lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo);
                    unsigned long long map_index = 0, index = 0;
                    long long map_code = 0, code = 0;
                    if (fail) CHECK(lkt_parse_failure(lk_last_error(), &map_index, &map_code));

                    for (int i = 0; i < N; i++) {
                        atomic_store(&k->runs[i], 0);
                        status[i] = 0x5A5A5A5A;
                    }
                    st_io io;
                    st_io_init(&io, N, base, windows[w], ST_FILL_RANDOM);
                    io.status = status;
                    lk_status st = st_run(inv, &io);
                    CHECK_MSG(st == map_st, "%s: the stream returned %d, the map %d (%s)", what, (int)st, (int)map_st,
                              lk_last_error());
                    st_check_rules(&io, what);
                    CHECK_MSG(io.sunk == N, "%s: the sink got %zu items of %d", what, (size_t)io.sunk, N);
                    for (int i = 0; i < N; i++) {
                        int32_t want = fail ? code_of((size_t)i) : 0;
                        CHECK_MSG(status[i] == want, "%s: item %d reached the sink with status %d, expected %d", what,
                                  i, (int)status[i], (int)want);
                        CHECK_MSG(map_status[i] == want, "%s: the map gave item %d status %d", what, i,
                                  (int)map_status[i]);
                        CHECK_MSG(atomic_load(&k->runs[i]) == 1, "%s: item %d ran %d times", what, i,
                                  atomic_load(&k->runs[i]));
                    }
                    CHECK_MSG(atomic_load(stopped_seen) == 0, "%s: lk_range_stopped was non-zero after a keep-going "
                              "failure", what);
                    if (fail) {
                        CHECK_MSG(st == LK_ERR_CALLBACK, "%s: %d", what, (int)st);
                        CHECK_MSG(lkt_parse_failure(lk_last_error(), &index, &code), "%s: \"%s\"", what,
                                  lk_last_error());
                        CHECK_MSG(index == base + 17 && code == 3, "%s: \"%s\": expected index %zu, code 3", what,
                                  lk_last_error(), base + 17);
                        CHECK(index == map_index && code == map_code);
                    } else {
                        CHECK_OK(st);
                    }
                }
            CHECK_OK(lk_invoker_shutdown(inv));
            printf("%s invoker, n_jobs %d: ok\n", st_kind_name[kind], jobs[j]);
        }
    printf("stream_fault_keep_going: ok\n");
    return 0;
}
