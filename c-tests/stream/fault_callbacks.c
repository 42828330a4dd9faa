/* The source and sink fail the stream (API.md, Streaming maps):
 *  - a non-zero source return fails it with LK_ERR_CALLBACK naming
 *    "source" and the code (1, -7, INT32_MAX, INT32_MIN), on its first
 *    call or a later one; *n_filled is ignored then (set to junk past the
 *    capacity, it is not LK_ERR_INVALID);
 *  - a non-zero sink return fails it with LK_ERR_CALLBACK naming "sink"
 *    and the code, on its first call or a later one;
 *  - filling more than capacity fails it with LK_ERR_INVALID;
 *  - after the failing call neither callback is called again, and none is
 *    called after lk_invoker_stream returns; what reached the sink before
 *    came in order with the right results;
 *  - the invoker stays usable: the next stream runs in full.
 * Item and range invokers, n_jobs 1 and 2, both error modes, windows 5
 * and automatic. */
#include "stream/streamtest.h"

/* More items than an automatic window holds: at least two source and sink
 * calls; a small window needs fewer. */
enum { N = 20000, N_SMALL_WINDOW = 300 };

enum { SOURCE_FAILS, SINK_FAILS, OVERFILL, CASES };
static const char *const case_name[CASES] = {"the source fails", "the sink fails", "the source overfills"};

static void one(st_shared *s, lk_invoker *inv, const char *inv_what, size_t window, int which, long at_call,
                int32_t code) {
    char what[200];
    snprintf(what, sizeof what, "%s, window %zu: %s at call %ld with %d", inv_what, window, case_name[which], at_call,
             (int)code);
    size_t n = window ? N_SMALL_WINDOW : N;
    st_shared_reset(s, 0, n);
    st_io io;
    st_io_init(&io, n, 0, window, ST_FILL_FULL);
    if (which == SOURCE_FAILS) {
        io.source_fail_at_call = at_call;
        io.source_code = code;
        io.junk_n_filled_at_fail = 1;
    } else if (which == SINK_FAILS) {
        io.sink_fail_at_call = at_call;
        io.sink_code = code;
    } else {
        io.overfill_at_call = at_call;
    }
    lk_status st = st_run(inv, &io);
    const char *m = lk_last_error();
    if (which == OVERFILL) {
        CHECK_MSG(st == LK_ERR_INVALID, "%s: %d (%s)", what, (int)st, m);
        CHECK_MSG(io.source_calls == (size_t)at_call + 1, "%s: the source was called %zu times after it overfilled",
                  what, io.source_calls - (size_t)at_call - 1);
    } else {
        CHECK_MSG(st == LK_ERR_CALLBACK, "%s: %d (%s)", what, (int)st, m);
        CHECK_MSG(strstr(m, which == SOURCE_FAILS ? "source" : "sink"), "%s: the message does not name the %s: \"%s\"",
                  what, which == SOURCE_FAILS ? "source" : "sink", m);
        CHECK_MSG(lkt_has_number(m, code), "%s: the message does not name the code %d: \"%s\"", what, (int)code, m);
        if (which == SOURCE_FAILS)
            CHECK_MSG(io.source_calls == (size_t)at_call + 1, "%s: the source was called again", what);
        else
            CHECK_MSG(io.sink_calls == (size_t)at_call + 1, "%s: the sink was called again", what);
    }
    lkt_sleep_us(2000); /* a late callback would show in the checks below */
    st_check_rules(&io, what);

    st_check_full_stream(inv, s, n, 0, window, ST_FILL_RANDOM, what); /* usable afterwards */
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    st_shared *s = st_shared_new();
    const int32_t codes[] = {1, -7, INT32_MAX, INT32_MIN};
    const size_t windows[] = {5, 0};
    for (rt_loop l = st_loop_of(rt_jobs_1_2, 2, 2, 1); rt_loop_next(&l);) {
        lk_invoker *inv = st_loop_new(s, &l);
        for (int w = 0; w < 2; w++)
            for (int which = 0; which < CASES; which++)
                for (int c = 0; c < 4; c++) {
                    if (which == OVERFILL && c > 0) break;
                    long at_call = c % 2 ? 0 : 1;
                    one(s, inv, l.what, windows[w], which, at_call, codes[c]);
                }
        rt_loop_done(&l, inv);
    }
    printf("stream_fault_callbacks: ok\n");
    return 0;
}
