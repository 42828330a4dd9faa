/* The automatic window (API.md, Streaming maps: "The automatic window is a
 * few chunks per worker and at most 64 MiB of arguments and results"):
 * with 256 KiB arguments and 256 KiB results, a stream with window 0 never
 * has more than 64 MiB of them outstanding (capacity handed to the source
 * plus items sourced and not yet sunk, times 512 KiB), yet has more than
 * one item outstanding (the workers get work); every item arrives in
 * order with its result. With 8-byte items the automatic window lets at
 * least one item per worker be outstanding. Item and range invokers,
 * n_jobs 1 and 2. */
#include "stream/streamtest.h"

enum { BIG = 256 * 1024, N_BIG = 400, N_SMALL = 20000 };

typedef struct {
    size_t size, n, sourced, sunk, max_outstanding;
    int bad;
} big_io;

static int32_t big_item(const void *model, const void *arg, void *result, const lk_task *task) {
    const size_t *size = (const size_t *)model;
    const uint8_t *a = (const uint8_t *)arg;
    uint8_t *r = (uint8_t *)result;
    /* every byte, so a wrong slot shows */
    for (size_t b = 0; b < *size; b++) r[b] = (uint8_t)(a[b] + task->index);
    return 0;
}

static int32_t big_range(const void *model, const void *args, void *results, lk_range *range) {
    const size_t *size = (const size_t *)model;
    const uint8_t *a = (const uint8_t *)args;
    uint8_t *r = (uint8_t *)results;
    for (size_t i = range->begin; i < range->end; i++, a += *size, r += *size)
        for (size_t b = 0; b < *size; b++) r[b] = (uint8_t)(a[b] + i);
    return 0;
}

static uint8_t byte_of(size_t i, size_t b) {
    return (uint8_t)(i * 13 + b * 7);
}

static int32_t src(void *user, void *args, size_t capacity, size_t *n_filled) {
    big_io *io = (big_io *)user;
    size_t out = capacity + io->sourced - io->sunk;
    if (out > io->max_outstanding) io->max_outstanding = out;
    size_t k = io->n - io->sourced < capacity ? io->n - io->sourced : capacity;
    for (size_t i = 0; i < k; i++)
        for (size_t b = 0; b < io->size; b++) ((uint8_t *)args)[i * io->size + b] = byte_of(io->sourced + i, b);
    io->sourced += k;
    *n_filled = k;
    return 0;
}

static int32_t snk(void *user, size_t first, const void *results, const int32_t *status, size_t n) {
    big_io *io = (big_io *)user;
    if (first != io->sunk) io->bad = 1;
    for (size_t k = 0; k < n; k++) {
        if (status[k] != 0) io->bad = 1;
        const uint8_t *r = (const uint8_t *)results + k * io->size;
        for (size_t b = 0; b < io->size; b += 997)
            if (r[b] != (uint8_t)(byte_of(first + k, b) + first + k)) io->bad = 1;
    }
    io->sunk += n;
    return 0;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(120);
    static size_t size;
    for (rt_loop l = st_loop_of(rt_jobs_1_2, 2, 1, 2); rt_loop_next(&l);) {
        int big = l.at;
        char what[96];
        snprintf(what, sizeof what, "%s, %s items", l.what, big ? "256 KiB" : "8-byte");
        size = big ? BIG : 8;
        lk_invoker_options o = lkt_options(l.n_jobs);
        if (l.kind) o.range_func = big_range;
        lk_invoker *inv = lkt_new_with(&size, l.kind ? NULL : big_item, &o);
        big_io io = {size, big ? N_BIG : N_SMALL, 0, 0, 0, 0};
        CHECK_OK(lk_invoker_stream(inv, src, snk, &io, size, size, NULL));
        CHECK_MSG(!io.bad && io.sunk == io.n, "%s: %zu of %zu items, %s", what, io.sunk, io.n,
                  io.bad ? "some wrong or out of order" : "all right");
        if (big)
            CHECK_MSG(io.max_outstanding * 2 * BIG <= (64u << 20),
                      "%s: %zu items outstanding: %zu MiB of arguments and results, past 64 MiB", what,
                      io.max_outstanding, io.max_outstanding * 2 * BIG >> 20);
        CHECK_MSG(io.max_outstanding >= (size_t)l.n_jobs + (big ? 0 : 1),
                  "%s: at most %zu items outstanding", what, io.max_outstanding);
        CHECK_OK(lk_invoker_shutdown(inv));
        printf("%s: at most %zu outstanding: ok\n", what, io.max_outstanding);
    }
    printf("stream_api_auto_window: ok\n");
    return 0;
}
