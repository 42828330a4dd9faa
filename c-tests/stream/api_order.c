/* lk_invoker_stream in order, exactly once, in its window (API.md,
 * Streaming maps): the source is called one call at a time with
 * capacity >= 1 until it hands over 0 items, and never again after; the
 * items get consecutive task indices from index_base (each item function
 * sees its own argument); the sink is called one call at a time, strictly
 * in index order (first is the next index), with n >= 1 and item_status
 * never NULL; every sourced item reaches it exactly once with status 0 and
 * its result, and ran exactly once; at every source call the capacity plus
 * the items sourced and not yet sunk stay within the window. Windows 1, 2,
 * 7, 13, 64, 1000, 1<<40 and SIZE_MAX (any window >= 1 works) and the
 * automatic window (0); sources that fill all they may, a random part, or
 * one item at a time; item and range invokers, n_jobs 1, 2 and 4;
 * index_base 0 and 10^9; empty streams (the sink is never called);
 * arg_size and result_size 0 (the item function gets NULL, as in a map)
 * and a stream of 1 item. */
#include "stream/streamtest.h"

enum { N = 3000 };

static void one(st_shared *s, lk_invoker *inv, const char *inv_what, size_t n, size_t base, size_t window, int fill,
                size_t arg_size, size_t result_size) {
    char what[200];
    snprintf(what, sizeof what, "%s, %zu items from %zu, window %zu, fill %s%s%s", inv_what, n, base, window,
             st_fill_name[fill], arg_size ? "" : ", arg_size 0", result_size ? "" : ", result_size 0");
    st_shared_reset(s, base, n);
    s->arg_size = arg_size;
    s->result_size = result_size;
    st_io io;
    st_io_init(&io, n, base, window, fill);
    io.arg_size = arg_size;
    io.result_size = result_size;
    lk_status st = st_run(inv, &io);
    CHECK_MSG(st == LK_OK, "%s: %d (%s)", what, (int)st, lk_last_error());
    st_check_complete(&io, s, what);
    if (n == 0) CHECK_MSG(io.sink_calls == 0, "%s: the sink was called for an empty stream", what);
    s->arg_size = s->result_size = sizeof(uint64_t);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(240);
    st_shared *s = st_shared_new();
    const int32_t jobs[] = {1, 2, 4};
    const size_t windows[] = {1, 2, 7, 13, 64, 1000, (size_t)1 << 40, SIZE_MAX, 0};
    const size_t nw = sizeof windows / sizeof windows[0];
    for (rt_loop l = st_loop_of(jobs, 3, 1, 1); rt_loop_next(&l);) {
        lk_invoker *inv = st_loop_new(s, &l);
        for (size_t w = 0; w < nw; w++)
            for (int fill = 0; fill < ST_FILLS; fill++) {
                /* one item at a time through a big window: fewer items */
                size_t n = (fill == ST_FILL_ONE && windows[w] != 1 && windows[w] != 2) ? 300 : N;
                one(s, inv, l.what, n, (w % 2) ? 1000000000u : 0, windows[w], fill, 8, 8);
            }
        for (size_t w = 0; w < nw; w++) {
            one(s, inv, l.what, 0, 5, windows[w], ST_FILL_FULL, 8, 8);
            one(s, inv, l.what, 1, 5, windows[w], ST_FILL_FULL, 8, 8);
        }
        one(s, inv, l.what, N, 77, 0, ST_FILL_RANDOM, 0, 8);
        one(s, inv, l.what, N, 77, 5, ST_FILL_FULL, 8, 0);
        one(s, inv, l.what, N, 77, 64, ST_FILL_FULL, 0, 0);
        rt_loop_done(&l, inv);
    }
    printf("stream_api_order: ok\n");
    return 0;
}
