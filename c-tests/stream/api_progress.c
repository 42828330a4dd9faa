/* A stream's progress (API.md, Streaming maps: "Progress counts done items
 * against the items sourced so far"): the invoker's progress callback is
 * called on the stream's calling thread, with total equal to the items the
 * source has handed over when it is called (never decreasing), done <=
 * total and never decreasing, more than once over a stream of about half
 * a second (n_jobs 2), and last with done == total == every item. Item and range
 * invokers, n_jobs 1 and 2, windows 16 and automatic. */
#include "stream/streamtest.h"

enum { N = 500 };

typedef struct {
    pthread_t caller;
    st_io *io;
    int calls, wrong_thread, wrong_total, went_back, total_back;
    size_t last_done, last_total;
} prog_t;

static void on_progress(size_t done, size_t total, void *user) {
    prog_t *p = (prog_t *)user;
    if (!pthread_equal(pthread_self(), p->caller)) p->wrong_thread = 1;
    if (total != atomic_load(&p->io->sourced) || done > total) {
        if (!p->wrong_total)
            fprintf(stderr, "progress(%zu, %zu) while %zu items were sourced\n", done, total,
                    (size_t)atomic_load(&p->io->sourced));
        p->wrong_total = 1;
    }
    if (p->calls && done < p->last_done) p->went_back = 1;
    if (p->calls && total < p->last_total) p->total_back = 1;
    p->calls++;
    p->last_done = done;
    p->last_total = total;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    st_shared *s = st_shared_new();
    static prog_t p;
    static st_io io;
    for (rt_loop l = st_loop_of(rt_jobs_1_2, 2, 1, 2); rt_loop_next(&l);) {
        int w = l.at;
        char what[96];
        snprintf(what, sizeof what, "%s, window %d", l.what, w ? 0 : 16);
        lk_invoker_options o = lkt_options(l.n_jobs);
        o.progress = on_progress;
        o.progress_user = &p;
        o.grain = 1;
        lk_invoker *inv = st_new_with(s, l.kind, &o);
        memset(&p, 0, sizeof p);
        p.caller = pthread_self();
        p.io = &io;
        st_shared_reset(s, 0, N);
        s->item_us = 1000 * l.n_jobs; /* about half a second */
        st_io_init(&io, N, 0, w ? 0 : 16, ST_FILL_RANDOM);
        CHECK_OK(st_run(inv, &io));
        st_check_complete(&io, s, what);
        /* (inline, a batch runs in one go: no call need come while it does) */
        CHECK_MSG(p.calls >= (l.n_jobs > 1 ? 2 : 1), "%s: %d progress calls", what, p.calls);
        CHECK_MSG(!p.wrong_thread, "%s: progress off the stream's calling thread", what);
        CHECK_MSG(!p.wrong_total, "%s: total was not the items sourced so far, or done > total", what);
        CHECK_MSG(!p.went_back, "%s: done went back", what);
        CHECK_MSG(!p.total_back, "%s: total went back", what);
        CHECK_MSG(p.last_done == N && p.last_total == N, "%s: the last call was (%zu, %zu)", what,
                  p.last_done, p.last_total);
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("%s: %d progress calls: ok\n", what, p.calls);
    }
    printf("stream_api_progress: ok\n");
    return 0;
}
