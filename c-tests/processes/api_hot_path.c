/* No syscall per item on the process backend's hot path: over a map of
 * 200,000 trivial items (n_jobs 2), each worker process makes far fewer
 * read/write-family syscalls (syscr + syscw of /proc/PID/io) and voluntary
 * context switches (/proc/PID/status) than items — under one per 100 items
 * — and so does the calling process. Every result is right. Fails with a
 * clear message when /proc/PID/io is missing (no task I/O accounting). */
#include "procstest.h"

enum { N = 200000, JOBS = 2 };

typedef struct {
    atomic_int pid_of[JOBS];
    atomic_int slow;
} ctl_t;

static ctl_t *ctl;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint32_t a = *(const uint32_t *)arg;
    if (task->worker < JOBS && atomic_load(&ctl->pid_of[task->worker]) == 0)
        atomic_store(&ctl->pid_of[task->worker], (int)getpid());
    if (atomic_load(&ctl->slow)) lkt_sleep_us(200);
    *(uint32_t *)result = a * 2654435761u + (uint32_t)task->index;
    return 0;
}

/* syscr + syscw of /proc/<pid>/io. */
static long io_syscalls(pid_t pid) {
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot read %s (%s): this test needs task I/O accounting\n", path, strerror(errno));
        exit(1);
    }
    long total = 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "syscr:", 6) == 0 || strncmp(line, "syscw:", 6) == 0) {
            total += strtol(line + 6, NULL, 10);
            found++;
        }
    }
    fclose(f);
    CHECK_MSG(found == 2, "%s lacks syscr or syscw", path);
    return total;
}

/* voluntary_ctxt_switches of /proc/<pid>/status. */
static long voluntary_switches(pid_t pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0) v = strtol(line + 24, NULL, 10);
    fclose(f);
    CHECK(v >= 0);
    return v;
}

int main(void) {
    lkt_watchdog(60);
    ctl = (ctl_t *)lkt_shared(sizeof *ctl);
    (void)io_syscalls(getpid()); /* fail early, clearly, without I/O accounting */
    uint32_t *args = (uint32_t *)malloc(N * sizeof *args);
    uint32_t *results = (uint32_t *)malloc(N * sizeof *results);
    CHECK(args && results);
    for (int i = 0; i < N; i++) args[i] = (uint32_t)lkt_mix((uint64_t)i);

    lk_invoker *inv = pt_new(NULL, op, JOBS);
    /* a first map (with slow items, so both workers run some) finds the workers */
    atomic_store(&ctl->slow, 1);
    CHECK_OK(lk_invoker_map(inv, args, 200, sizeof args[0], results, sizeof results[0]));
    atomic_store(&ctl->slow, 0);
    pid_t workers[JOBS];
    for (int k = 0; k < JOBS; k++) {
        workers[k] = (pid_t)atomic_load(&ctl->pid_of[k]);
        CHECK_MSG(workers[k] > 0, "worker %d ran no item of the first map", k);
    }
    long io0[JOBS], vcs0[JOBS];
    for (int k = 0; k < JOBS; k++) {
        io0[k] = io_syscalls(workers[k]);
        vcs0[k] = voluntary_switches(workers[k]);
    }
    long parent_io0 = io_syscalls(getpid());
    double t0 = lkt_now();
    CHECK_OK(lk_invoker_map(inv, args, N, sizeof args[0], results, sizeof results[0]));
    double took = lkt_now() - t0;
    long parent_io = io_syscalls(getpid()) - parent_io0 - 1; /* minus the read of /proc/self/io itself */
    for (int i = 0; i < N; i++) CHECK(results[i] == args[i] * 2654435761u + (uint32_t)i);
    printf("%d items in %.3f s; the calling process made %ld read/write syscalls\n", N, took, parent_io);
    CHECK_MSG(parent_io < N / 100, "the calling process made %ld read/write syscalls for %d items", parent_io, N);
    for (int k = 0; k < JOBS; k++) {
        CHECK(lkt_alive(workers[k]));
        long io = io_syscalls(workers[k]) - io0[k];
        long vcs = voluntary_switches(workers[k]) - vcs0[k];
        printf("worker %d (pid %d): %ld read/write syscalls, %ld voluntary context switches\n", k, (int)workers[k],
               io, vcs);
        CHECK_MSG(io < N / 100, "worker %d made %ld read/write syscalls for a map of %d items", k, io, N);
        CHECK_MSG(vcs < N / 100, "worker %d blocked %ld times during a map of %d items", k, vcs, N);
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    free(args);
    free(results);
    printf("processes_api_hot_path: ok\n");
    return 0;
}
