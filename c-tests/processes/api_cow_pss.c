/* The model is shared copy-on-write, not copied per worker: with a 512 MiB
 * model (every page touched in the parent first) and 2 workers, after a map
 * whose callbacks read the whole model (each item reads one word of every
 * page, and its own 8 MiB slice in full), the summed proportional set size
 * (Pss, /proc/PID/smaps_rollup) of the parent, the zygote and the workers
 * stays under 1.25 x the model size. A copy per worker would be 1.5 GiB or
 * more. The sums the callbacks compute are right. Needs smaps_rollup: the
 * test fails with a clear message when it is missing. */
#include "procstest.h"

#define MODEL_BYTES ((size_t)512 << 20)
enum { JOBS = 2, N = 64 };
#define SLICE (MODEL_BYTES / N)

typedef struct {
    const uint64_t *words;
    size_t n_words;
} model_t;

typedef struct {
    atomic_int pid_of[JOBS];
} ctl_t;

static ctl_t *ctl;

typedef struct {
    uint64_t page_sum;  /* one word of every page of the model */
    uint64_t slice_sum; /* every word of this item's slice */
} out_t;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    const model_t *m = (const model_t *)model;
    (void)arg;
    if (task->worker < JOBS) atomic_store(&ctl->pid_of[task->worker], (int)getpid());
    out_t *r = (out_t *)result;
    uint64_t s = 0;
    const size_t per_page = 4096 / sizeof(uint64_t);
    for (size_t i = (task->index * 7) % per_page; i < m->n_words; i += per_page) s += m->words[i];
    r->page_sum = s;
    const uint64_t *slice = m->words + task->index * (SLICE / sizeof(uint64_t));
    s = 0;
    for (size_t i = 0; i < SLICE / sizeof(uint64_t); i++) s += slice[i];
    r->slice_sum = s;
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    ctl = (ctl_t *)lkt_shared(sizeof *ctl);
    /* fail early, with a clear message, if Pss cannot be read */
    (void)pt_pss_kib(getpid());

    uint64_t *words = (uint64_t *)mmap(NULL, MODEL_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(words != MAP_FAILED);
    model_t model = {words, MODEL_BYTES / sizeof(uint64_t)};
    for (size_t i = 0; i < model.n_words; i++) words[i] = lkt_mix(i); /* touches every page */

    /* what the callbacks should find */
    static out_t want[N];
    const size_t per_page = 4096 / sizeof(uint64_t);
    for (size_t t = 0; t < N; t++) {
        uint64_t s = 0;
        for (size_t i = (t * 7) % per_page; i < model.n_words; i += per_page) s += words[i];
        want[t].page_sum = s;
        const uint64_t *slice = words + t * (SLICE / sizeof(uint64_t));
        s = 0;
        for (size_t i = 0; i < SLICE / sizeof(uint64_t); i++) s += slice[i];
        want[t].slice_sum = s;
    }

    lk_invoker *inv = pt_new(&model, op, JOBS);
    static out_t results[N];
    CHECK_OK(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]));
    for (int t = 0; t < N; t++) {
        CHECK(results[t].page_sum == want[t].page_sum);
        CHECK(results[t].slice_sum == want[t].slice_sum);
    }

    pid_t workers[JOBS];
    for (int k = 0; k < JOBS; k++) {
        workers[k] = (pid_t)atomic_load(&ctl->pid_of[k]);
        CHECK_MSG(workers[k] > 0, "worker %d ran no item", k);
    }
    pid_t zygote = lkt_parent_of(workers[0]);
    CHECK(zygote > 0);
    long parent_kib = pt_pss_kib(getpid());
    long zygote_kib = zygote == getpid() ? 0 : pt_pss_kib(zygote);
    long worker_kib[JOBS], total = parent_kib + zygote_kib;
    for (int k = 0; k < JOBS; k++) {
        worker_kib[k] = pt_pss_kib(workers[k]);
        total += worker_kib[k];
    }
    long model_kib = (long)(MODEL_BYTES >> 10);
    printf("Pss: parent %.1f MiB, zygote %.1f MiB, workers %.1f + %.1f MiB; sum %.1f MiB for a %.0f MiB model "
           "(limit %.0f MiB)\n",
           parent_kib / 1024.0, zygote_kib / 1024.0, worker_kib[0] / 1024.0, worker_kib[1] / 1024.0, total / 1024.0,
           model_kib / 1024.0, 1.25 * model_kib / 1024.0);
    CHECK_MSG(total < model_kib + model_kib / 4, "summed Pss %.1f MiB is not under 1.25 x the %.0f MiB model",
              total / 1024.0, model_kib / 1024.0);
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK(munmap(words, MODEL_BYTES) == 0);
    printf("processes_api_cow_pss: ok\n");
    return 0;
}
