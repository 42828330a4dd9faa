/* In a worker process, handles made by the parent are dead: a callback that
 * uses one — its own process invoker, a threads invoker and an n_jobs 1
 * invoker made by the parent before it, and one made after it — gets
 * LK_ERR_INVALID with a message from lk_invoker_map, lk_invoker_map_with,
 * lk_invoker_cancel and lk_invoker_shutdown, never a crash or a hang. The
 * parent's handles keep working in the parent afterwards. */
#include "procstest.h"

enum { N = 8, CALLS = 4, HANDLES = 4 };

typedef struct {
    lk_invoker *handles[HANDLES]; /* filled in by the parent once they exist */
} ctl_t;

typedef struct {
    int32_t status[HANDLES][CALLS];
    int32_t msg_ok[HANDLES][CALLS];
} out_t;

static int32_t plain(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    *(uint64_t *)result = task->index + 7;
    return 0;
}

static int32_t use_parent_handles(const void *model, const void *arg, void *result, const lk_task *task) {
    const ctl_t *ctl = (const ctl_t *)model;
    (void)arg;
    (void)task;
    out_t *r = (out_t *)result;
    for (int h = 0; h < HANDLES; h++) {
        lk_invoker *inv = ctl->handles[h];
        uint64_t res[4];
        lk_map_options mo;
        lk_map_options_init(&mo, sizeof mo);
        lk_status s[CALLS];
        s[0] = lk_invoker_map(inv, NULL, 4, 0, res, sizeof res[0]);
        r->msg_ok[h][0] = lk_last_error()[0] != '\0';
        s[1] = lk_invoker_map_with(inv, NULL, 4, 0, res, sizeof res[0], &mo);
        r->msg_ok[h][1] = lk_last_error()[0] != '\0';
        s[2] = lk_invoker_cancel(inv);
        r->msg_ok[h][2] = 1; /* cancel is async-signal-safe: no message */
        s[3] = lk_invoker_shutdown(inv);
        r->msg_ok[h][3] = lk_last_error()[0] != '\0';
        for (int c = 0; c < CALLS; c++) r->status[h][c] = (int32_t)s[c];
    }
    return 0;
}

int main(void) {
    lkt_watchdog(60);
    /* the model: shared, so the handle of the process invoker itself, known
     * only after it is made, can be handed to its workers */
    ctl_t *ctl = (ctl_t *)lkt_shared(sizeof *ctl);
    lk_invoker *threads = NULL, *inline_inv = NULL, *later = NULL;
    CHECK_OK(lk_invoker_new(NULL, plain, 2, &threads));
    CHECK_OK(lk_invoker_new(NULL, plain, 1, &inline_inv));
    int32_t jobs[] = {1, 2};
    for (int j = 0; j < 2; j++) {
        lk_invoker *procs = pt_new(ctl, use_parent_handles, jobs[j]);
        CHECK_OK(lk_invoker_new(NULL, plain, 2, &later));
        ctl->handles[0] = procs;
        ctl->handles[1] = threads;
        ctl->handles[2] = inline_inv;
        ctl->handles[3] = later;
        static out_t results[N];
        memset(results, 0x11, sizeof results);
        CHECK_OK(lk_invoker_map(procs, NULL, N, 0, results, sizeof results[0]));
        const char *names[HANDLES] = {"its own process invoker", "a threads invoker", "an n_jobs 1 invoker",
                                      "an invoker made after it"};
        const char *calls[CALLS] = {"map", "map_with", "cancel", "shutdown"};
        for (int i = 0; i < N; i++)
            for (int h = 0; h < HANDLES; h++)
                for (int c = 0; c < CALLS; c++) {
                    CHECK_MSG(results[i].status[h][c] == LK_ERR_INVALID,
                              "n_jobs %d: %s of %s in a worker returned %d", jobs[j], calls[c], names[h],
                              results[i].status[h][c]);
                    CHECK_MSG(results[i].msg_ok[h][c] == 1, "%s of %s in a worker left no message", calls[c],
                              names[h]);
                }
        /* the parent's handles still work in the parent */
        static uint64_t res[100];
        CHECK_OK(lk_invoker_map(threads, NULL, 100, 0, res, sizeof res[0]));
        for (int i = 0; i < 100; i++) CHECK(res[i] == (uint64_t)i + 7);
        CHECK_OK(lk_invoker_map(inline_inv, NULL, 100, 0, res, sizeof res[0]));
        CHECK_OK(lk_invoker_map(later, NULL, 100, 0, res, sizeof res[0]));
        CHECK_OK(lk_invoker_map(procs, NULL, N, 0, results, sizeof results[0]));
        CHECK_OK(lk_invoker_shutdown(later));
        CHECK_OK(lk_invoker_shutdown(procs));
        printf("n_jobs %d: parent handles are dead in workers\n", jobs[j]);
    }
    CHECK_OK(lk_invoker_shutdown(threads));
    CHECK_OK(lk_invoker_shutdown(inline_inv));
    printf("processes_fault_parent_handle: ok\n");
    return 0;
}
