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
#include "reliability/rel.h"

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->index;
    return 0;
}

static int32_t sp_ok(const void *arg, lk_buffer *out) {
    (void)arg;
    return lk_buffer_append(out, "ok", 2) == LK_OK ? 0 : 1;
}

#define CHILD_FAIL(call, expected)                                                     \
    do {                                                                               \
        lk_status s_ = (call);                                                         \
        if (s_ != (expected) || lk_last_error()[0] == '\0') {                          \
            fprintf(stderr, "%s:%d: %s gave %d (%s), expected %s\n", __FILE__, __LINE__, \
                    #call, (int)s_, lk_last_error(), #expected);                       \
            _exit(1);                                                                  \
        }                                                                              \
    } while (0)

#define CHILD_CHECK(cond)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                    lk_last_error());                                                  \
            _exit(1);                                                                  \
        }                                                                              \
    } while (0)

static lk_invoker_options procs_options(int n_jobs) {
    lk_invoker_options o;
    lk_invoker_options_init(&o, sizeof o);
    o.backend = LK_BACKEND_PROCESSES;
    o.n_jobs = n_jobs;
    return o;
}

/* In a child: use up every descriptor below a low RLIMIT_NOFILE. */
static void no_descriptors_child(void) {
    struct rlimit rl = {64, 64};
    CHILD_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    int last = -1;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            CHILD_CHECK(errno == EMFILE);
            break;
        }
        last = fd;
    }
    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHILD_FAIL(lk_run_sp(sp_ok, NULL, &b), LK_ERR_SYSTEM);
    CHILD_CHECK(b.data == NULL && b.len == 0 && b.priv == NULL);
    lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5e5e5e50;
    lk_invoker *inv = SENTINEL;
    lk_invoker_options o = procs_options(2);
    CHILD_FAIL(lk_invoker_new_with(NULL, op, &o, &inv), LK_ERR_SYSTEM);
    CHILD_CHECK(inv == SENTINEL);
    /* A few descriptors back: the same calls work. */
    for (int fd = last; fd > last - 16; fd--) close(fd);
    CHILD_CHECK(lk_run_sp(sp_ok, NULL, &b) == LK_OK && b.len == 2);
    lk_buffer_free(&b);
    CHILD_CHECK(lk_invoker_new_with(NULL, op, &o, &inv) == LK_OK);
    uint64_t r[10];
    CHILD_CHECK(lk_invoker_map(inv, NULL, 10, 0, r, sizeof r[0]) == LK_OK && r[9] == 9);
    CHILD_CHECK(lk_invoker_shutdown(inv) == LK_OK);
    _exit(0);
}

/* In a child: become an otherwise unused user (root is not bound by
 * RLIMIT_NPROC) and allow `nproc` processes and threads for it. */
static void limit_processes(rlim_t nproc) {
    if (geteuid() == 0) {
        uid_t uid = (uid_t)(40000 + getpid() % 20000);
        CHILD_CHECK(setgid((gid_t)uid) == 0);
        CHILD_CHECK(setuid(uid) == 0);
    }
    struct rlimit rl = {nproc, nproc};
    CHILD_CHECK(setrlimit(RLIMIT_NPROC, &rl) == 0);
}

static void no_processes_child(void) {
    limit_processes(1); /* this process only: no fork, no thread */
    lk_buffer b;
    memset(&b, 0, sizeof b);
    CHILD_FAIL(lk_run_sp(sp_ok, NULL, &b), LK_ERR_SYSTEM);
    CHILD_CHECK(strstr(lk_last_error(), "fork") != NULL);
    CHILD_CHECK(b.data == NULL && b.len == 0 && b.priv == NULL);
    lk_invoker *const SENTINEL = (lk_invoker *)(uintptr_t)0x5e5e5e50;
    lk_invoker *inv = SENTINEL;
    lk_invoker_options o = procs_options(2);
    CHILD_FAIL(lk_invoker_new_with(NULL, op, &o, &inv), LK_ERR_SYSTEM);
    CHILD_CHECK(inv == SENTINEL);
    CHILD_FAIL(lk_invoker_new(NULL, op, 4, &inv), LK_ERR_SYSTEM);
    CHILD_CHECK(inv == SENTINEL);
    /* n_jobs 1 needs no thread: it works. */
    CHILD_CHECK(lk_invoker_new(NULL, op, 1, &inv) == LK_OK);
    uint64_t r[10];
    CHILD_CHECK(lk_invoker_map(inv, NULL, 10, 0, r, sizeof r[0]) == LK_OK && r[9] == 9);
    CHILD_CHECK(lk_invoker_shutdown(inv) == LK_OK);
    _exit(0);
}

static void no_workers_child(void) {
    limit_processes(2); /* this process and the pool's helper, no worker */
    lk_invoker *inv = NULL;
    lk_invoker_options o = procs_options(2);
    /* The library may find out when it makes the invoker, or (as now, after
     * waiting a few seconds for a worker) at the first map. */
    lk_status s = lk_invoker_new_with(NULL, op, &o, &inv);
    if (s == LK_ERR_SYSTEM) {
        CHILD_CHECK(lk_last_error()[0] != '\0' && inv == NULL);
        _exit(0);
    }
    CHILD_CHECK(s == LK_OK);
    uint64_t r[10] = {0};
    CHILD_FAIL(lk_invoker_map(inv, NULL, 10, 0, r, sizeof r[0]), LK_ERR_SYSTEM);
    CHILD_CHECK(r[9] == 0);
    CHILD_CHECK(lk_invoker_shutdown(inv) == LK_OK);
    _exit(0);
}

static void in_child(void (*body)(void), const char *what) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        lkt_watchdog(60);
        body();
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status 0x%x", what, status);
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

    in_child(no_descriptors_child, "RLIMIT_NOFILE");
    in_child(no_processes_child, "RLIMIT_NPROC 1");
    in_child(no_workers_child, "RLIMIT_NPROC 2");
    CHECK(lkt_no_children());
    printf("fault_status_system: ok\n");
    return 0;
}
