/* lk_run_sp from 4 threads at once: every call gets its own result. */
#include "sptest.h"

enum { THREADS = 4, CALLS = 40 };

typedef struct job {
    uint64_t key;
    size_t len;
} job;

static int32_t produce(const void *arg, lk_buffer *out) {
    const job *j = (const job *)arg;
    unsigned char buf[4096];
    size_t done = 0;
    while (done < j->len) {
        size_t n = j->len - done < sizeof buf ? j->len - done : sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(lkt_mix(j->key ^ (done + i)) >> 40);
        SPT_APPEND(out, buf, n);
        done += n;
    }
    return 0;
}

static void *thread_main(void *p) {
    uint64_t t = (uint64_t)(uintptr_t)p;
    for (int c = 0; c < CALLS; c++) {
        job j = {t * 1000003u + (uint64_t)c, (size_t)(lkt_mix(t * 100 + (uint64_t)c) % 300000) + 1};
        lk_buffer res = spt_empty();
        CHECK_OK(lk_run_sp(produce, &j, &res));
        CHECK(res.len == j.len);
        for (size_t i = 0; i < j.len; i++)
            if (res.data[i] != (unsigned char)(lkt_mix(j.key ^ i) >> 40)) {
                fprintf(stderr, "thread %d call %d: byte %zu is wrong\n", (int)t, c, i);
                exit(1);
            }
        lk_buffer_free(&res);
        CHECK(spt_is_zero(&res));
    }
    return NULL;
}

int main(void) {
    lkt_watchdog(20);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    lkt_check_no_children();
    printf("run_sp_api_threads: ok\n");
    return 0;
}
