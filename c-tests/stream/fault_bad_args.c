/* Bad arguments to lk_invoker_stream and lk_stream_options (API.md,
 * Streaming maps: "lk_stream_options follows the other options structs
 * (size-carrying, no implicit padding; a struct_size too small for window
 * is LK_ERR_INVALID)"): each is LK_ERR_INVALID with a message, calls
 * neither source nor sink nor any item, and leaves the invoker usable:
 *  - a NULL source, a NULL sink, a NULL handle, a shut-down handle;
 *  - struct_size 0, 4, 8, 12 and 15 (window ends at byte 16);
 *  - reserved0 non-zero;
 *  - a struct larger than the library's whose extra bytes are not all zero.
 * And what works: opts NULL (defaults), struct_size 16 (window only:
 * index_base reads as 0), sizeof, and a larger struct whose extra bytes
 * are zero; lk_stream_options_init fills defaults (window 0, index_base 0)
 * and records the size, does nothing for NULL or a size below 4, and
 * never writes past the size it is given. */
#include "stream/streamtest.h"

typedef struct {
    lk_stream_options o;
    uint8_t extra[24];
} bigger_t;

static void check_invalid(lk_invoker *inv, lk_source_fn src, lk_sink_fn snk, const lk_stream_options *so,
                          st_shared *s, const char *what) {
    st_shared_reset(s, 0, 100);
    st_io io;
    st_io_init(&io, 100, 0, 0, ST_FILL_FULL);
    lk_status st = lk_invoker_stream(inv, src, snk, &io, 8, 8, so);
    CHECK_MSG(st == LK_ERR_INVALID, "%s: %d (%s)", what, (int)st, lk_last_error());
    CHECK_MSG(lk_last_error()[0] != '\0', "%s: no message", what);
    CHECK_MSG(io.source_calls == 0 && io.sink_calls == 0, "%s: a callback ran", what);
    CHECK_MSG(atomic_load(&s->started) == 0, "%s: an item ran", what);
}

static void check_works(lk_invoker *inv, const lk_stream_options *so, size_t base, st_shared *s, const char *what) {
    st_shared_reset(s, base, 300);
    st_io io;
    st_io_init(&io, 300, base, so ? so->window : 0, ST_FILL_RANDOM);
    if (so && so->struct_size < 24) io.window = so->window;
    lk_status st = lk_invoker_stream(inv, st_source, st_sink, &io, 8, 8, so);
    io.returned = 1;
    CHECK_MSG(st == LK_OK, "%s: %d (%s)", what, (int)st, lk_last_error());
    st_check_complete(&io, s, what);
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    st_shared *s = st_shared_new();
    for (int kind = 0; kind < 2; kind++)
        for (int32_t n_jobs = 1; n_jobs <= 2; n_jobs++) {
            char what[128];
            lk_invoker_options o = lkt_options(n_jobs);
            lk_invoker *inv = st_new_with(s, kind, &o);
            snprintf(what, sizeof what, "%s invoker, n_jobs %d", st_kind_name[kind], n_jobs);
            lk_stream_options so;
            lk_stream_options_init(&so, sizeof so);
            so.window = 10;

            check_invalid(inv, NULL, st_sink, &so, s, "NULL source");
            check_invalid(inv, st_source, NULL, &so, s, "NULL sink");
            check_invalid(inv, NULL, NULL, &so, s, "NULL source and sink");
            check_invalid(NULL, st_source, st_sink, &so, s, "NULL handle");
            check_invalid((lk_invoker *)(uintptr_t)0x5EED, st_source, st_sink, &so, s, "an unknown handle");
            const uint32_t small[] = {0, 4, 8, 12, 15};
            for (size_t k = 0; k < sizeof small / sizeof small[0]; k++) {
                lk_stream_options bad = so;
                bad.struct_size = small[k];
                char w[192];
                snprintf(w, sizeof w, "%s: struct_size %u", what, small[k]);
                check_invalid(inv, st_source, st_sink, &bad, s, w);
            }
            lk_stream_options reserved = so;
            reserved.reserved0 = 1;
            check_invalid(inv, st_source, st_sink, &reserved, s, "reserved0 1");

            bigger_t big;
            memset(&big, 0, sizeof big);
            lk_stream_options_init(&big.o, sizeof big.o);
            big.o.struct_size = (uint32_t)sizeof big;
            big.o.window = 10;
            big.extra[5] = 1;
            check_invalid(inv, st_source, st_sink, &big.o, s,
                          "a larger struct with a field set the library does not know");

            /* what works */
            check_works(inv, NULL, 0, s, "opts NULL");
            check_works(inv, &so, 0, s, "sizeof");
            lk_stream_options sixteen = so;
            sixteen.struct_size = 16;
            sixteen.index_base = 999; /* past struct_size: not read */
            check_works(inv, &sixteen, 0, s, "struct_size 16 (index_base past it reads as 0)");
            big.extra[5] = 0;
            big.o.index_base = 5;
            check_works(inv, &big.o, 5, s, "a larger struct with zero extra bytes");

            CHECK_OK(lk_invoker_shutdown(inv));
            check_invalid(inv, st_source, st_sink, &so, s, "a shut-down handle");
            printf("%s: ok\n", what);
        }

    /* lk_stream_options_init */
    {
        bigger_t b;
        memset(&b, 0xCD, sizeof b);
        lk_stream_options_init(&b.o, sizeof b.o);
        CHECK(b.o.struct_size == sizeof b.o && b.o.reserved0 == 0 && b.o.window == 0 && b.o.index_base == 0);
        for (size_t k = 0; k < sizeof b.extra; k++) CHECK(b.extra[k] == 0xCD);
        memset(&b, 0xCD, sizeof b);
        lk_stream_options_init(&b.o, 3);
        for (size_t k = 0; k < sizeof b.o; k++) CHECK(((uint8_t *)&b.o)[k] == 0xCD);
        lk_stream_options_init(NULL, sizeof b.o);
        memset(&b, 0xCD, sizeof b);
        lk_stream_options_init(&b.o, 16); /* an older, smaller struct */
        CHECK(b.o.struct_size == 16 && b.o.window == 0);
        CHECK(((uint8_t *)&b.o)[16] == 0xCD);
        memset(&b, 0xCD, sizeof b);
        lk_stream_options_init(&b.o, sizeof b); /* a newer, larger one: zero-extended */
        CHECK(b.o.struct_size == sizeof b && b.o.window == 0 && b.o.index_base == 0);
        for (size_t k = 0; k < sizeof b.extra; k++) CHECK(b.extra[k] == 0);
        CHECK(sizeof(lk_stream_options) == 4 + 4 + 2 * sizeof(size_t)); /* no implicit padding */
    }
    printf("stream_fault_bad_args: ok\n");
    return 0;
}
