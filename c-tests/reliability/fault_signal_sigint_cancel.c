/* A SIGINT handler that calls lk_invoker_cancel (async-signal-safe) stops a
 * long map: the map returns LK_ERR_CANCELLED promptly, items not started are
 * skipped, and the next map runs normally. The signal comes
 *  - raised by another thread (the handler runs on that thread),
 *  - sent to the mapping thread itself (pthread_kill: its wait is interrupted),
 *  - sent to the process (kill: any thread may take it, a pool worker too),
 *  - sent to the whole process group, as Ctrl-C does (the process backend's
 *    helper and workers get it too: they inherited the handler, in which the
 *    parent's handle is dead, so they go on working),
 * for n_jobs 1, a thread pool and the process backend. The handler is
 * installed without SA_RESTART, so blocking calls see EINTR. */
#include "reliability/rel.h"

enum { N = 400000 };

static lk_invoker *volatile g_inv;
static atomic_int g_handled;

static void on_sigint(int sig) {
    (void)sig;
    int saved = errno;
    lk_invoker *inv = g_inv;
    if (inv) lk_invoker_cancel(inv); /* in a worker process: LK_ERR_INVALID, harmless */
    atomic_fetch_add(&g_handled, 1);
    errno = saved;
}

/* The model: items count themselves in a shared page (seen from worker
 * processes too). */
static lkt_slow *slow;

int main(void) {
    lkt_watchdog(120);
    /* Our own process group, so the Ctrl-C case reaches no one else. */
    CHECK(setpgid(0, 0) == 0);
    slow = (lkt_slow *)lkt_shared(sizeof *slow);
    slow->sleep_us = 20;
    lkt_on_signal(SIGINT, on_sigint);

    static uint64_t results[N];
    static int32_t status[N];
    const char *kinds[] = {"n_jobs 1", "threads", "processes"};
    const char *hows[] = {/* in LKT_SEND_* order */ "raise in another thread", "pthread_kill the map's thread",
                          "kill the process", "kill the process group"};
    for (int kind = 0; kind < 3; kind++)
        for (int how = 0; how < 4; how++) {
            lk_invoker_options o =
                lkt_options_on(kind == 2 ? LK_BACKEND_PROCESSES : LK_BACKEND_THREADS, kind == 0 ? 1 : 2);
            lk_invoker *inv = lkt_new_with(slow, lkt_slow_item, &o);
            g_inv = inv;
            atomic_store(&slow->started, 0);
            int handled_before = atomic_load(&g_handled);
            memset(results, 0, sizeof results);
            lk_map_options mo = lkt_with_status(status);
            /* SIGINT the LKT_SEND_* way `how`, once the map is well under way */
            lkt_sender snd;
            lkt_signal_later(&snd, SIGINT, how, slow, 2000, 0);
            double t0 = lkt_now();
            lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
            double took = lkt_now() - t0;
            lkt_signal_join(&snd);
            CHECK_MSG(s == LK_ERR_CANCELLED, "%s, %s: map gave %d: %s", kinds[kind], hows[how],
                      (int)s, lk_last_error());
            CHECK(lk_last_error()[0] != '\0');
            CHECK(atomic_load(&g_handled) > handled_before);
            CHECK_MSG(took < 10.0, "%s, %s: took %.2f s", kinds[kind], hows[how], took);
            char what[96];
            snprintf(what, sizeof what, "%s, %s", kinds[kind], hows[how]);
            CHECK(lkt_check_stopped(status, results, N, what) > 0);
            lkt_check_full_map(inv, slow, 5000); /* not sticky; and no worker died of the signal */
            g_inv = NULL;
            CHECK_OK(lk_invoker_shutdown(inv));
        }
    CHECK(lkt_no_children());
    printf("reliability_fault_signal_sigint_cancel: ok (%d signals handled)\n", atomic_load(&g_handled));
    return 0;
}
