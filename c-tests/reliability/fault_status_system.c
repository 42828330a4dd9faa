/* LK_ERR_SYSTEM: an OS call failed.
 * - lk_buffer_append of 2^62 bytes: the memory cannot be had; the buffer is
 *   unchanged and the process lives on.
 * - No descriptor left (RLIMIT_NOFILE exhausted, in a forked child):
 *   lk_run_sp and process-backend creation cannot get their memfd or pipes.
 * - No process or thread left (RLIMIT_NPROC, in a forked child that first
 *   drops root, which the limit does not bind): lk_run_sp and process-backend
 *   creation cannot fork, a thread pool cannot spawn its threads; and with
 *   room for the pool's helper process but none for its workers, the
 *   invoker's creation or its first map says no worker could be started.
 * Each failure sets a message and leaves outputs untouched, and after it the
 * same calls work again once the limit is lifted (where it can be). */
#include "lktest.h"
#include "run_sp/sptest.h"

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->index;
    return 0;
}

/* In a child at its limit: neither lk_run_sp nor a process invoker can
 * start (LK_ERR_SYSTEM, with `word` in lk_run_sp's message if not NULL),
 * and the outputs are untouched. */
static void check_nothing_starts(const char *word) {
    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHECK_CHILD_FAIL(lk_run_sp(spt_child, spt_end_arg(SPT_OK), &b), LK_ERR_SYSTEM);
    if (word) CHECK_CHILD(strstr(lk_last_error(), word) != NULL);
    CHECK_CHILD(b.data == NULL && b.len == 0 && b.priv == NULL);
    lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5e5e5e50;
    lk_invoker *inv = SENTINEL;
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
    CHECK_CHILD_FAIL(lk_invoker_new_with(NULL, op, &o, &inv), LK_ERR_SYSTEM);
    CHECK_CHILD(inv == SENTINEL);
}

/* The same calls work (once the limit is lifted). */
static void check_they_work(lk_invoker_options *o) {
    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHECK_CHILD(lk_run_sp(spt_child, spt_end_arg(SPT_OK), &b) == LK_OK && b.len == 2);
    lk_buffer_free(&b);
    lk_invoker *inv = NULL;
    CHECK_CHILD(lk_invoker_new_with(NULL, op, o, &inv) == LK_OK);
    uint64_t r[10];
    CHECK_CHILD(lk_invoker_map(inv, NULL, 10, 0, r, sizeof r[0]) == LK_OK && r[9] == 9);
    CHECK_CHILD(lk_invoker_shutdown(inv) == LK_OK);
}

/* In a child: use up every descriptor below a low RLIMIT_NOFILE. */
static void no_descriptors_child(void *unused) {
    (void)unused;
    struct rlimit rl = {64, 64};
    CHECK_CHILD(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int last = -1;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            CHECK_CHILD(errno == EMFILE);
            break;
        }
        last = fd;
    }
    check_nothing_starts(NULL);
    /* A few descriptors back: the same calls work. */
    for (int fd = last; fd > last - 16; fd--) close(fd);
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
    check_they_work(&o);
}

/* In a child: become an otherwise unused user (root is not bound by
 * RLIMIT_NPROC) and allow `nproc` processes and threads for it. */
static void limit_processes(rlim_t nproc) {
    if (geteuid() == 0) {
        uid_t uid = (uid_t)(40000 + getpid() % 20000);
        CHECK_CHILD(setgid((gid_t)uid) == 0);
        CHECK_CHILD(setuid(uid) == 0);
    }
    struct rlimit rl = {nproc, nproc};
    CHECK_CHILD(setrlimit(RLIMIT_NPROC, &rl) == 0);
}

static void no_processes_child(void *unused) {
    (void)unused;
    limit_processes(1); /* this process only: no fork, no thread */
    check_nothing_starts("fork");
    lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5e5e5e50;
    lk_invoker *inv = SENTINEL;
    CHECK_CHILD_FAIL(lk_invoker_new(NULL, op, 4, &inv), LK_ERR_SYSTEM);
    CHECK_CHILD(inv == SENTINEL);
    /* n_jobs 1 needs no thread: it works. */
    CHECK_CHILD(lk_invoker_new(NULL, op, 1, &inv) == LK_OK);
    uint64_t r[10];
    CHECK_CHILD(lk_invoker_map(inv, NULL, 10, 0, r, sizeof r[0]) == LK_OK && r[9] == 9);
    CHECK_CHILD(lk_invoker_shutdown(inv) == LK_OK);
}

static void no_workers_child(void *unused) {
    (void)unused;
    limit_processes(2); /* this process and the pool's helper, no worker */
    lk_invoker *inv = NULL;
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
    /* The library may find out when it makes the invoker, or (as now, after
     * waiting a few seconds for a worker) at the first map. */
    lk_status s = lk_invoker_new_with(NULL, op, &o, &inv);
    if (s == LK_ERR_SYSTEM) {
        CHECK_CHILD(lk_last_error()[0] != '\0' && inv == NULL);
        _exit(0);
    }
    CHECK_CHILD(s == LK_OK);
    uint64_t r[10] = {0};
    CHECK_CHILD_FAIL(lk_invoker_map(inv, NULL, 10, 0, r, sizeof r[0]), LK_ERR_SYSTEM);
    CHECK_CHILD(r[9] == 0);
    CHECK_CHILD(lk_invoker_shutdown(inv) == LK_OK);
    _exit(0);
}

int main(void) {
    lkt_watchdog(120);
    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHECK_OK(lk_buffer_append(&b, "abc", 3));
    lk_buffer before = b;
    static const char byte = 'x';
    CHECK_FAIL(lk_buffer_append(&b, &byte, (size_t)1 << 62), LK_ERR_SYSTEM);
    CHECK(b.data == before.data && b.len == 3 && b.cap == before.cap && b.priv == before.priv);
    CHECK(memcmp(b.data, "abc", 3) == 0);
    lk_buffer_free(&b);
    lk_buffer empty;
    memset(&empty, 0, sizeof empty);
    CHECK_FAIL(lk_buffer_append(&empty, &byte, (size_t)1 << 62), LK_ERR_SYSTEM);
    CHECK(empty.data == NULL && empty.len == 0 && empty.cap == 0 && empty.priv == NULL);

    lkt_in_child(no_descriptors_child, NULL, "RLIMIT_NOFILE");
    lkt_in_child(no_processes_child, NULL, "RLIMIT_NPROC 1");
    lkt_in_child(no_workers_child, NULL, "RLIMIT_NPROC 2");
    CHECK(lkt_no_children());
    printf("reliability_fault_status_system: ok\n");
    return 0;
}
