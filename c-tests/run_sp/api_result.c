/* lk_run_sp hands back exactly the bytes the child appended to `out`;
 * lk_buffer_free zeroes the struct and is safe to repeat. */
#include "sptest.h"

static const char GREETING[] = "hello from the child";

static int32_t small(const void *arg, lk_buffer *out) {
    (void)arg;
    SPT_APPEND(out, GREETING, sizeof GREETING); /* with its NUL */
    return 0;
}

/* Many appends of odd sizes, so the buffer grows several times. */
enum { CHUNKS = 3000, CHUNK = 1009 };
static int32_t many(const void *arg, lk_buffer *out) {
    (void)arg;
    unsigned char chunk[CHUNK];
    for (int c = 0; c < CHUNKS; c++) {
        for (int i = 0; i < CHUNK; i++) chunk[i] = (unsigned char)(lkt_mix((uint64_t)c * CHUNK + (uint64_t)i) >> 56);
        SPT_APPEND(out, chunk, CHUNK);
    }
    return 0;
}

/* Appends, frees `out` (which zeroes it), and appends again: only the bytes
 * appended after the free are the result. */
static int32_t restart(const void *arg, lk_buffer *out) {
    (void)arg;
    static char junk[3 << 20];
    memset(junk, 'j', sizeof junk);
    SPT_APPEND(out, junk, sizeof junk);
    lk_buffer_free(out);
    if (!spt_is_zero(out)) return 98;
    SPT_APPEND(out, "again", 5);
    return 0;
}

int main(void) {
    lkt_watchdog(20);

    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(small, NULL, &res));
    CHECK(res.data != NULL);
    CHECK(res.len == sizeof GREETING);
    CHECK(res.cap >= res.len);
    CHECK(memcmp(res.data, GREETING, sizeof GREETING) == 0);

    /* A result may be appended to (the header names it as a buffer
     * lkparallel filled). */
    CHECK_OK(lk_buffer_append(&res, "+tail", 5));
    CHECK(res.len == sizeof GREETING + 5);
    CHECK(memcmp(res.data, GREETING, sizeof GREETING) == 0);
    CHECK(memcmp(res.data + sizeof GREETING, "+tail", 5) == 0);

    lk_buffer_free(&res);
    CHECK(spt_is_zero(&res));
    lk_buffer_free(&res); /* again: still fine, still zero */
    CHECK(spt_is_zero(&res));

    /* The freed struct is zeroed, so it can take another result. */
    CHECK_OK(lk_run_sp(many, NULL, &res));
    CHECK(res.len == (size_t)CHUNKS * CHUNK);
    for (size_t i = 0; i < res.len; i++)
        if (res.data[i] != (unsigned char)(lkt_mix(i) >> 56)) {
            fprintf(stderr, "byte %zu differs\n", i);
            exit(1);
        }
    lk_buffer_free(&res);
    CHECK(spt_is_zero(&res));

    /* An empty result: success, and nothing to free. */
    CHECK_OK(lk_run_sp(spt_child, spt_end_arg(SPT_EMPTY), &res));
    CHECK(res.len == 0);
    lk_buffer_free(&res);
    CHECK(spt_is_zero(&res));

    CHECK_OK(lk_run_sp(restart, NULL, &res));
    CHECK(res.len == 5);
    CHECK(memcmp(res.data, "again", 5) == 0);
    lk_buffer_free(&res);
    lk_buffer_free(&res);
    CHECK(spt_is_zero(&res));

    /* The same through lk_run_sp_with and NULL options. */
    CHECK_OK(lk_run_sp_with(small, NULL, NULL, &res));
    CHECK(res.len == sizeof GREETING && memcmp(res.data, GREETING, sizeof GREETING) == 0);
    lk_buffer_free(&res);

    lkt_check_no_children();
    printf("run_sp_api_result: ok\n");
    return 0;
}
