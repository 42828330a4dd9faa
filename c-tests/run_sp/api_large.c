/* A 1 GiB result arrives intact: the child appends it in 1 MiB pieces, each
 * 4 KiB page stamped with its number; the parent checks every page. */
#include "sptest.h"

#define PAGE 4096u
#define TOTAL ((size_t)1 << 30)
#define PIECE ((size_t)1 << 20)

static uint64_t stamp(size_t page, int which) { return lkt_mix(page * 2 + (size_t)which); }

static int32_t big(const void *arg, lk_buffer *out) {
    (void)arg;
    unsigned char *piece = (unsigned char *)malloc(PIECE);
    if (!piece) return 12;
    for (size_t off = 0; off < TOTAL; off += PIECE) {
        for (size_t p = 0; p < PIECE; p += PAGE) {
            size_t page = (off + p) / PAGE;
            uint64_t head = stamp(page, 0), tail = stamp(page, 1);
            memcpy(piece + p, &head, 8);
            memset(piece + p + 8, (int)(page & 0xff), PAGE - 16);
            memcpy(piece + p + PAGE - 8, &tail, 8);
        }
        if (lk_buffer_append(out, piece, PIECE) != LK_OK) {
            free(piece);
            return 99;
        }
    }
    free(piece);
    return 0;
}

int main(void) {
    lkt_watchdog(30);
    double t0 = lkt_now();
    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(big, NULL, &res));
    double t1 = lkt_now();
    CHECK(res.len == TOTAL);
    CHECK(res.data != NULL);
    size_t bad = 0;
    for (size_t page = 0; page < TOTAL / PAGE; page++) {
        const unsigned char *p = res.data + page * PAGE;
        uint64_t head, tail;
        memcpy(&head, p, 8);
        memcpy(&tail, p + PAGE - 8, 8);
        if (head != stamp(page, 0) || tail != stamp(page, 1) || p[8] != (unsigned char)(page & 0xff) ||
            p[PAGE / 2] != (unsigned char)(page & 0xff) || p[PAGE - 9] != (unsigned char)(page & 0xff)) {
            if (bad++ < 5) fprintf(stderr, "page %zu is wrong\n", page);
        }
    }
    double t2 = lkt_now();
    CHECK(bad == 0);
    lk_buffer_free(&res);
    CHECK(spt_is_zero(&res));
    lkt_check_no_children();
    printf("run_sp_api_large: ok (1 GiB: run_sp %.2f s, check %.2f s)\n", t1 - t0, t2 - t1);
    return 0;
}
