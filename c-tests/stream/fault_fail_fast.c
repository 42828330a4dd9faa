/* A failing item under fail-fast (API.md, Streaming maps: "under fail-fast
 * the stream fails at the lowest failing index ...: sink has received
 * every item below it (items below it still run, even if they had not
 * started), not the failing item nor any after it, and the call returns
 * LK_ERR_CALLBACK ... naming the index"):
 *  - item f fails while the items below it are slow (many have not started
 *    when it fails): the sink got exactly the items below f, in order, each
 *    with status 0 and its result, and every one of them ran once; the call
 *    returns LK_ERR_CALLBACK naming index_base + f and the code;
 *  - two items fail, the higher one first in time: the stream fails at the
 *    lower one (the sink got everything below it);
 *  - the item at index_base (the first) fails: the sink is never called;
 *  - on a range invoker, lk_range_stopped is never non-zero in a range
 *    that begins at or below the failing item (API.md: "for a stream: one
 *    below this range"); ranges above it may poll it and stop early;
 *  - the invoker stays usable: the next stream runs in full.
 * Item and range invokers, n_jobs 1, 2 and 4, windows 1000, 64 and
 * automatic, index_base 0 and 10^6. */
#include "stream/streamtest.h"

enum { N = 1500 };

static void run_case(st_shared *s, lk_invoker *inv, const char *inv_what, size_t base, size_t window, long f,
                     long slow_below, long slow_us, long f2) {
    char what[200];
    snprintf(what, sizeof what, "%s, window %zu, index_base %zu, item %ld fails%s", inv_what, window, base, f,
             f2 >= 0 ? " (and a higher one first)" : "");
    st_shared_reset(s, base, N);
    static int32_t status[N];
    for (int i = 0; i < N; i++) status[i] = 0x5A5A5A5A;
    s->fail_code = 77;
    atomic_store(&s->fail_at, f);
    atomic_store(&s->slow_below, slow_below);
    s->slow_us = slow_us;
    atomic_store(&s->stop_watch, f); /* ranges from f down must not see lk_range_stopped */
    if (f2 >= 0) {
        /* f2 (above f) fails at once; f only after 100 ms */
        atomic_store(&s->fail2_at, f2);
        s->fail_delay_us = 100000;
    }
    st_io io;
    st_io_init(&io, N, base, window, ST_FILL_RANDOM);
    io.status = status;
    lk_status st = st_run(inv, &io);
    CHECK_MSG(st == LK_ERR_CALLBACK, "%s: %d (%s)", what, (int)st, lk_last_error());
    unsigned long long index = 0;
    long long code = 0;
    CHECK_MSG(lkt_parse_failure(lk_last_error(), &index, &code), "%s: \"%s\"", what, lk_last_error());
    long lowest = f;
    CHECK_MSG(index == base + (size_t)lowest && code == 77, "%s: \"%s\": expected index %zu, code 77", what,
              lk_last_error(), base + (size_t)lowest);
    st_check_rules(&io, what);
    CHECK_MSG(io.sunk == (size_t)lowest, "%s: the sink got %zu items, expected the %ld below the failing one", what,
              (size_t)io.sunk, lowest);
    if (lowest == 0) CHECK_MSG(io.sink_calls == 0, "%s: the sink was called", what);
    for (long i = 0; i < lowest; i++) {
        CHECK_MSG(status[i] == 0, "%s: item %ld reached the sink with status %d", what, i, (int)status[i]);
        CHECK_MSG(atomic_load(&s->runs[i]) == 1, "%s: item %ld below the failing one ran %d times", what, i,
                  atomic_load(&s->runs[i]));
    }
    CHECK(atomic_load(&s->bad_arg) == 0);
    CHECK_MSG(atomic_load(&s->stopped_low) == 0,
              "%s: lk_range_stopped was non-zero in a range that begins at or below the failing item", what);
    st_check_full_stream(inv, s, N, base, window, ST_FILL_FULL, what); /* usable afterwards */
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(240);
    st_shared *s = st_shared_new();
    const int32_t jobs[] = {1, 2, 4};
    const size_t windows[] = {1000, 64, 0};
    for (rt_loop l = st_loop_of(jobs, 3, 1, 1); rt_loop_next(&l);) {
        lk_invoker *inv = st_loop_new(s, &l);
        for (int w = 0; w < 3; w++) {
            size_t base = w == 1 ? 1000000 : 0;
            /* items below 300 take 1 ms: many have not started when 300 fails */
            run_case(s, inv, l.what, base, windows[w], 300, 300, 1000, -1);
            run_case(s, inv, l.what, base, windows[w], 0, 0, 0, -1);
            run_case(s, inv, l.what, base, windows[w], N - 1, 0, 0, -1);
            run_case(s, inv, l.what, base, windows[w], 40, 0, 0, 50);
        }
        rt_loop_done(&l, inv);
    }
    printf("stream_fault_fail_fast: ok\n");
    return 0;
}
