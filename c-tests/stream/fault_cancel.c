/* Cancelling a stream (API.md, Streaming maps: "Cancellation returns
 * LK_ERR_CANCELLED"; "source and sink may call lk_invoker_cancel"):
 * lk_invoker_cancel from inside the source, from inside the sink, and
 * from another thread while a stream with no end (a source that never
 * runs dry) runs: the stream returns LK_ERR_CANCELLED (so it stops without
 * its source ending it), no callback is called after it returns, and what
 * reached the sink came in order with the right results. Cancel is not
 * sticky: the next stream on the invoker runs in full, and a cancel with
 * no stream in flight does nothing. Item and range invokers, n_jobs 1 and
 * 2, both error modes, windows 3 and automatic. */
#include "stream/streamtest.h"

enum { FROM_SOURCE, FROM_SINK, FROM_THREAD, WAYS };
static const char *const way_name[WAYS] = {"from the source", "from the sink", "from another thread"};

typedef struct {
    lk_invoker *inv;
    int way;
    st_shared *s;
    atomic_int done;
} cancel_ctx;

static void cancel_in_source(st_io *io, size_t call) {
    cancel_ctx *c = (cancel_ctx *)io->ctx;
    if (c->way == FROM_SOURCE && call == 5) CHECK_OK(lk_invoker_cancel(c->inv));
}

static void cancel_in_sink(st_io *io, size_t first, size_t n) {
    (void)first;
    (void)n;
    cancel_ctx *c = (cancel_ctx *)io->ctx;
    if (c->way == FROM_SINK && io->sink_calls == 3) CHECK_OK(lk_invoker_cancel(c->inv));
}

static void *cancel_thread(void *arg) {
    cancel_ctx *c = (cancel_ctx *)arg;
    while (atomic_load(&c->s->started) < 100) lkt_sleep_us(500);
    lkt_sleep_us(10000);
    CHECK_OK(lk_invoker_cancel(c->inv));
    atomic_store(&c->done, 1);
    return NULL;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    st_shared *s = st_shared_new();
    const size_t windows[] = {3, 0};
    for (rt_loop l = st_loop_of(rt_jobs_1_2, 2, 2, 1); rt_loop_next(&l);) {
        lk_invoker *inv = st_loop_new(s, &l);
        for (int w = 0; w < 2; w++)
            for (int way = 0; way < WAYS; way++) {
                char what[160];
                snprintf(what, sizeof what, "%s, window %zu, cancel %s", l.what, windows[w], way_name[way]);
                /* a cancel with no stream in flight does nothing */
                CHECK_OK(lk_invoker_cancel(inv));
                cancel_ctx c = {inv, way, s, 0};
                st_shared_reset(s, 0, ST_MAX_COUNTED);
                s->item_us = 20;
                st_io io;
                st_io_init(&io, SIZE_MAX, 0, windows[w], ST_FILL_RANDOM); /* no end */
                io.ctx = &c;
                io.on_source = cancel_in_source;
                io.on_sink = cancel_in_sink;
                pthread_t t;
                if (way == FROM_THREAD) CHECK(pthread_create(&t, NULL, cancel_thread, &c) == 0);
                lk_status st = st_run(inv, &io);
                if (way == FROM_THREAD) CHECK(pthread_join(t, NULL) == 0);
                CHECK_MSG(st == LK_ERR_CANCELLED, "%s: %d (%s)", what, (int)st, lk_last_error());
                lkt_sleep_us(2000);
                st_check_rules(&io, what);
                CHECK(atomic_load(&s->bad_arg) == 0);

                st_check_full_stream(inv, s, 500, 0, windows[w], ST_FILL_FULL, what); /* not sticky */
            }
        rt_loop_done(&l, inv);
    }
    printf("stream_fault_cancel: ok\n");
    return 0;
}
