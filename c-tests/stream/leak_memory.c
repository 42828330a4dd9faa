/* A stream's memory is bounded (API.md, Streaming maps: "the library's own
 * memory for a stream is O(window × (arg_size + result_size)) whatever its
 * length"): a stream of 10^7 items (16 bytes of argument and result each,
 * 160 MB in all had they been kept) keeps this process's resident memory
 * flat: sampled in the sink, it never grows more than 16 MiB past what it
 * was after the first million items. The automatic window, and a window of
 * 100,000 items; an item invoker with n_jobs 2 and a range invoker with
 * n_jobs 2. Every item reaches the sink in order with its result. */
#include "stream/streamtest.h"

#define ITEMS 10000000UL
#define WARM 1000000UL
#define SLACK (16UL << 20)

typedef struct {
    uint64_t rss_warm, rss_max;
} mem_t;

static void sample(st_io *io, size_t first, size_t n) {
    mem_t *m = (mem_t *)io->ctx;
    size_t rel = first - io->base;
    /* one sample per 2^16 items */
    if ((rel >> 16) == ((rel + n) >> 16)) return;
    uint64_t rss = lkt_rss_bytes();
    if (rel + n >= WARM && m->rss_warm == 0) m->rss_warm = rss;
    if (rss > m->rss_max) m->rss_max = rss;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(240);
    st_shared *s = st_shared_new();
    const int32_t jobs[] = {2};
    const size_t windows[] = {0, 100000};
    for (rt_loop l = st_loop_of(jobs, 1, 1, 2); rt_loop_next(&l);) {
        size_t w = (size_t)l.at;
        char what[96];
        snprintf(what, sizeof what, "%s, window %zu", l.what, windows[w]);
        lk_invoker *inv = st_loop_new(s, &l);
        st_shared_reset(s, 0, ST_MAX_COUNTED);
        mem_t m = {0, 0};
        st_io io;
        st_io_init(&io, ITEMS, 0, windows[w], ST_FILL_FULL);
        io.ctx = &m;
        io.on_sink = sample;
        double t0 = lkt_now();
        CHECK_OK(st_run(inv, &io));
        double took = lkt_now() - t0;
        st_check_complete(&io, s, what);
        CHECK(m.rss_warm > 0);
        uint64_t m0 = m.rss_warm;
        CHECK_MSG(m.rss_max <= m0 + SLACK, "%s: resident memory grew from %.1f MiB to %.1f MiB", what,
                  m0 / 1048576.0, m.rss_max / 1048576.0);
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("%s: %lu items in %.2f s, resident %.1f MiB after 10^6, at most %.1f MiB: ok\n", what, ITEMS, took,
               m0 / 1048576.0, m.rss_max / 1048576.0);
    }
    printf("stream_leak_memory: ok\n");
    return 0;
}
