/* A process-invoker handle inherited by a plain fork()ed child is dead there:
 * map, map_with, cancel and shutdown give LK_ERR_INVALID, never a crash or a
 * hang, and the child's calls disturb neither the parent's workers nor its
 * invoker; a new process invoker made in the child works. Also with the
 * child forked while a parent thread is in the middle of a map. */
#include "procstest.h"

enum { N = 300 };

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (task->index % 20 == 0) lkt_sleep_us(1000);
    *(uint64_t *)result = task->index * 5 + 2;
    return 0;
}

static int map_works(lk_invoker *inv) {
    static uint64_t results[N];
    memset(results, 0, sizeof results);
    if (lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]) != LK_OK) return 0;
    for (int i = 0; i < N; i++)
        if (results[i] != (uint64_t)i * 5 + 2) return 0;
    return 1;
}

static void child_checks(lk_invoker *inherited) {
    lkt_watchdog(20);
    uint64_t r[4];
    lk_map_options mo;
    lk_map_options_init(&mo, sizeof mo);
    CHECK_CHILD(lk_invoker_map(inherited, NULL, 4, 0, r, sizeof r[0]) == LK_ERR_INVALID);
    CHECK_CHILD(lk_last_error()[0] != '\0');
    CHECK_CHILD(lk_invoker_map_with(inherited, NULL, 4, 0, r, sizeof r[0], &mo) == LK_ERR_INVALID);
    CHECK_CHILD(lk_invoker_cancel(inherited) == LK_ERR_INVALID);
    CHECK_CHILD(lk_invoker_shutdown(inherited) == LK_ERR_INVALID);
    lk_invoker_options o = pt_options(2);
    lk_invoker *mine = NULL;
    CHECK_CHILD(lk_invoker_new_with(NULL, op, &o, &mine) == LK_OK);
    CHECK_CHILD(mine != inherited);
    CHECK_CHILD(map_works(mine));
    CHECK_CHILD(lk_invoker_map(inherited, NULL, 4, 0, r, sizeof r[0]) == LK_ERR_INVALID);
    CHECK_CHILD(lk_invoker_shutdown(mine) == LK_OK);
    _exit(0);
}

static int wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

typedef struct {
    lk_invoker *inv;
    int ok;
} mapper_t;

static void *mapper(void *p) {
    mapper_t *m = (mapper_t *)p;
    m->ok = 1;
    for (int k = 0; k < 5; k++) m->ok &= map_works(m->inv);
    return NULL;
}

int main(void) {
    lkt_watchdog(60);
    lk_invoker *inv = pt_new(NULL, op, 2);
    CHECK(map_works(inv));

    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) child_checks(inv);
    CHECK(wait_child(pid) == 0);
    CHECK(map_works(inv));

    /* forked while another thread maps */
    mapper_t m = {inv, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, mapper, &m) == 0);
    lkt_sleep_us(5000);
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) child_checks(inv);
    CHECK(wait_child(pid) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(m.ok);
    CHECK(map_works(inv));
    CHECK_OK(lk_invoker_shutdown(inv));
    lkt_check_no_children();
    printf("fault_procs_fork_handle: ok\n");
    return 0;
}
