/* lk_invoker_cancel is async-signal-safe: a SIGUSR1 handler (installed with
 * sigaction, without SA_RESTART) calls it during a long map; the map returns
 * LK_ERR_CANCELLED promptly, and the handler's call returned LK_OK. The
 * signal is sent to the mapping thread (pthread_kill), to the whole process
 * (kill: any thread of it, pool threads included, may run the handler) and
 * by a POSIX timer. The next map runs in full. n_jobs 1, 2 and 4. (Ctrl-C
 * to a whole process group, worker processes included:
 * reliability/fault_signal_sigint_cancel.c.) */
#include "lktest.h"

enum { N = 3000, SLEEP_US = 1000 };

static lkt_slow *slow; /* the model, in shared memory */
static lk_invoker *volatile g_inv;
static volatile sig_atomic_t handler_calls;
static volatile sig_atomic_t handler_status = -1;

static void on_usr1(int sig) {
    (void)sig;
    int saved = errno;
    handler_status = (sig_atomic_t)lk_invoker_cancel(g_inv);
    handler_calls++;
    errno = saved;
}

enum { BY_PTHREAD_KILL, BY_KILL, BY_TIMER };

static void run(int n_jobs, int how) {
    static uint64_t results[N];
    lk_invoker *inv = lkt_new(slow, lkt_slow_item, n_jobs);
    g_inv = inv;
    handler_calls = 0;
    handler_status = -1;
    atomic_store(&slow->started, 0);
    double full = (double)N * SLEEP_US * 1e-6 / n_jobs;

    lkt_sender s;
    timer_t timer;
    if (how == BY_TIMER) {
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_SIGNAL;
        sev.sigev_signo = SIGUSR1;
        CHECK(timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0);
        struct itimerspec its;
        memset(&its, 0, sizeof its);
        its.it_value.tv_nsec = 150 * 1000 * 1000;
        CHECK(timer_settime(timer, 0, &its, NULL) == 0);
    } else {
        /* well inside the map: 80 ms after its second item started */
        lkt_signal_later(&s, SIGUSR1, how == BY_PTHREAD_KILL ? LKT_SEND_PTHREAD_KILL : LKT_SEND_KILL, slow, 2, 80000);
    }
    double t0 = lkt_now();
    CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]), LK_ERR_CANCELLED);
    double took = lkt_now() - t0;
    if (how == BY_TIMER) CHECK(timer_delete(timer) == 0);
    else lkt_signal_join(&s);
    CHECK(handler_calls == 1);
    CHECK(handler_status == (sig_atomic_t)LK_OK);
    long n_ran = atomic_load(&slow->started);
    printf("n_jobs %d, signal way %d: cancelled after %.3f s (full map %.1f s), %ld ran\n", n_jobs, how, took,
           full, n_ran);
    CHECK(took < 0.2 + full / 4);
    CHECK(n_ran < N / 2);

    lkt_check_full_map(inv, slow, 100); /* not sticky */
    CHECK_OK(lk_invoker_shutdown(inv));
    g_inv = NULL;
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    slow = (lkt_slow *)lkt_shared(sizeof *slow);
    slow->sleep_us = SLEEP_US;
    lkt_on_signal(SIGUSR1, on_usr1); /* interrupted calls must be retried by the library */

    int jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        run(jobs[j], BY_PTHREAD_KILL);
        run(jobs[j], BY_KILL);
        run(jobs[j], BY_TIMER);
    }
    printf("invoker_api_cancel_signal: ok\n");
    return 0;
}
