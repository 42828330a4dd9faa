/* Finding 6: a host that closed its standard descriptors (a daemon) still
 * gets its results. No descriptor of lkparallel's lands on 0, 1 or 2, so
 * what a run_sp child or a worker process writes to them (a line to
 * stderr, or a lot) goes nowhere the protocol reads. The first release put
 * its result pipe on fd 2: a child that wrote a line to stderr lost its
 * result ("exit status 0 before returning").
 *
 * Three hosts, each a forked copy of this program: one that closed 0, 1 and
 * 2, one that closed only 2, and one that closed 0 and 1. Each runs run_sp
 * calls (small and 2 MiB results; children writing to 0, 1 and 2, some
 * 100 KiB to fd 2; with and without a time limit), a process invoker whose
 * workers write to 0, 1 and 2 on every item and log records, and a thread
 * pool; and checks, in itself, in the run_sp children and in the workers,
 * that the closed descriptors are still closed while lkparallel holds
 * pipes, memfds and pidfds. Messages go to a copy of the original stderr;
 * the standard descriptors a host keeps open lead to /dev/null. */
#include "hardening/hardtest.h"
#include "run_sp/sptest.h"

enum { N = 400 };

/* Which of 0, 1, 2 this host closed (bit fd). */
static int closed_mask;

/* 0 when every closed standard descriptor is still closed, else 40 + fd. */
static int std_fds_still_closed(void) {
    for (int fd = 0; fd < 3; fd++)
        if ((closed_mask >> fd & 1) && ht_fd_open(fd)) return 40 + fd;
    return 0;
}

/* Write to the standard descriptors, whatever they are (errors ignored). */
static void scribble(size_t len) {
    static char junk[100000];
    memset(junk, '#', sizeof junk);
    if (len > sizeof junk) len = sizeof junk;
    for (int fd = 0; fd < 3; fd++) {
        ssize_t ignored = write(fd, fd == 2 ? junk : "a line on a standard descriptor\n", fd == 2 ? len : 32);
        (void)ignored;
    }
}

static int32_t sp_child(const void *arg, lk_buffer *out) {
    size_t size = *(const size_t *)arg;
    int bad = std_fds_still_closed();
    if (bad) return bad;
    scribble(size > 1000 ? 100000 : 40);
    static uint8_t blob[2 << 20];
    for (size_t i = 0; i < size; i++) blob[i] = (uint8_t)(i * 7);
    SPT_APPEND(out, blob, size);
    scribble(40);
    return 0;
}

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    int bad = std_fds_still_closed();
    if (bad) return bad;
    scribble(40);
    if (task->index % 50 == 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "worker record %zu", task->index / 50);
        lk_log(LK_LOG_INFO, msg);
    }
    *(uint64_t *)result = task->index * 5 + 1;
    return 0;
}

static void run_sp_calls(void) {
    static const size_t sizes[] = {2, 1000, 2 << 20};
    for (int k = 0; k < 3; k++) {
        for (int with_opts = 0; with_opts < 2; with_opts++) {
            lk_buffer r = spt_empty();
            lk_sp_options so;
            lk_sp_options_init(&so, sizeof so);
            so.timeout_ms = 30000;
            lk_status s = with_opts ? lk_run_sp_with(sp_child, &sizes[k], &so, &r) : lk_run_sp(sp_child, &sizes[k], &r);
            CHECK_MSG(s == LK_OK, "run_sp of %zu bytes (closed 0x%x): status %d: %s", sizes[k], closed_mask, (int)s,
                      lk_last_error());
            CHECK(r.len == sizes[k]);
            for (size_t i = 0; i < r.len; i++) CHECK(r.data[i] == (uint8_t)(i * 7));
            lk_buffer_free(&r);
            CHECK(std_fds_still_closed() == 0);
        }
    }
}

/* "worker record 0" .. "worker record <n-1>" each arrived once (workers log
 * in parallel, so in any order). */
static void check_records(int n) {
    int seen[N] = {0};
    pthread_mutex_lock(&lkt_log_mu);
    CHECK(lkt_n_records <= LKT_MAX_RECORDS);
    for (size_t i = 0; i < lkt_n_records; i++) {
        int k = -1;
        if (sscanf(lkt_records[i].message, "worker record %d", &k) == 1 && k >= 0 && k < n) seen[k]++;
    }
    pthread_mutex_unlock(&lkt_log_mu);
    for (int k = 0; k < n; k++) CHECK_MSG(seen[k] == 1, "worker record %d arrived %d times", k, seen[k]);
}

static void maps(void) {
    static uint64_t results[N];
    static int32_t status[N];
    for (int backend = 0; backend < 2; backend++) {
        lk_invoker_options o = lkt_options_on(backend ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS, 2);
        lk_invoker *inv = lkt_new_with(NULL, op, &o);
        CHECK(std_fds_still_closed() == 0); /* pipes, an eventfd, a memfd and pidfds are open now */
        for (int rep = 0; rep < 3; rep++) {
            lkt_log_clear();
            memset(results, 0, sizeof results);
            lk_map_options mo = lkt_with_status(status);
            lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
            CHECK_MSG(s == LK_OK, "%s map (closed 0x%x): status %d: %s", backend ? "process" : "thread", closed_mask,
                      (int)s, lk_last_error());
            for (int i = 0; i < N; i++) CHECK(status[i] == 0 && results[i] == (uint64_t)i * 5 + 1);
            check_records(N / 50);
            /* A run_sp while the invoker holds its descriptors. */
            run_sp_calls();
        }
        CHECK_OK(lk_invoker_shutdown(inv));
        CHECK(std_fds_still_closed() == 0);
    }
}

static void host(void *arg) {
    closed_mask = *(const int *)arg;
    /* Messages go to a copy of stderr, above the standard descriptors. */
    int err = fcntl(2, F_DUPFD_CLOEXEC, 10);
    CHECK(err >= 10);
    FILE *report = fdopen(err, "w");
    CHECK(report != NULL);
    setvbuf(report, NULL, _IONBF, 0);
    /* The standard descriptors left open lead nowhere (the scribbles would
     * flood the test's output). */
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    CHECK(null_fd >= 0);
    for (int fd = 0; fd < 3; fd++) {
        if (closed_mask >> fd & 1)
            CHECK(close(fd) == 0);
        else
            CHECK(dup2(null_fd, fd) == fd);
    }
    CHECK(close(null_fd) == 0);
    stderr = report;
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_INFO);
    run_sp_calls();
    maps();
    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    lkt_check_no_children();
    fprintf(report, "closed 0x%x: ok\n", closed_mask);
}

int main(void) {
    lkt_watchdog(110);
    static const int masks[] = {7, 4, 3}; /* 0-2; only 2; 0 and 1 */
    for (int k = 0; k < 3; k++) lkt_in_child(host, (void *)&masks[k], "a host with closed standard descriptors");
    printf("hardening_fault_closed_std_fds: ok\n");
    return 0;
}
