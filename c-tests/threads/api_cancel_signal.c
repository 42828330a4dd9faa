/* lk_invoker_cancel is async-signal-safe: a SIGUSR1 handler (installed with
 * sigaction, without SA_RESTART) calls it during a long map; the map returns
 * LK_ERR_CANCELLED promptly. The signal is sent to the mapping thread
 * (pthread_kill), to the whole process (kill: any thread, pool workers
 * included, may run the handler) and by a POSIX timer. The next map runs in
 * full. */
#include "lktest.h"

enum { N = 3000, SLEEP_US = 1000 };

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

static atomic_int ran;

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    atomic_fetch_add(&ran, 1);
    lkt_sleep_us(SLEEP_US);
    *(size_t *)result = task->index + 1;
    return 0;
}

enum { BY_PTHREAD_KILL, BY_KILL, BY_TIMER };

typedef struct {
    pthread_t target;
    int how;
} sender;

static void *send_later(void *p) {
    sender *s = (sender *)p;
    while (atomic_load(&ran) < 2) lkt_sleep_us(1000);
    lkt_sleep_us(80000);
    if (s->how == BY_PTHREAD_KILL) CHECK(pthread_kill(s->target, SIGUSR1) == 0);
    else CHECK(kill(getpid(), SIGUSR1) == 0);
    return NULL;
}

static void check_full_map(lk_invoker *inv) {
    static size_t results[100];
    atomic_store(&ran, 0);
    CHECK_OK(lk_invoker_map(inv, NULL, 100, 0, results, sizeof results[0]));
    CHECK(atomic_load(&ran) == 100);
    for (size_t i = 0; i < 100; i++) CHECK(results[i] == i + 1);
}

static void run(int n_jobs, int how) {
    static size_t results[N];
    lk_invoker *inv = NULL;
    CHECK_OK(lk_invoker_new(NULL, op, n_jobs, &inv));
    g_inv = inv;
    handler_calls = 0;
    handler_status = -1;
    atomic_store(&ran, 0);
    double full = (double)N * SLEEP_US * 1e-6 / n_jobs;

    pthread_t th;
    sender s = {pthread_self(), how};
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
        CHECK(pthread_create(&th, NULL, send_later, &s) == 0);
    }
    double t0 = lkt_now();
    CHECK_FAIL(lk_invoker_map(inv, NULL, N, 0, results, sizeof results[0]), LK_ERR_CANCELLED);
    double took = lkt_now() - t0;
    if (how == BY_TIMER) CHECK(timer_delete(timer) == 0);
    else CHECK(pthread_join(th, NULL) == 0);
    CHECK(handler_calls == 1);
    CHECK(handler_status == (sig_atomic_t)LK_OK);
    printf("n_jobs %d, signal way %d: cancelled after %.3f s (full map %.1f s), %d ran\n", n_jobs, how, took,
           full, atomic_load(&ran));
    CHECK(took < 0.2 + full / 4);
    CHECK(atomic_load(&ran) < N / 2);

    check_full_map(inv); /* not sticky */
    CHECK_OK(lk_invoker_shutdown(inv));
    g_inv = NULL;
}

int main(void) {
    lkt_watchdog(60);
    lkt_on_signal(SIGUSR1, on_usr1); /* interrupted calls must be retried by the library */

    int jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        run(jobs[j], BY_PTHREAD_KILL);
        run(jobs[j], BY_KILL);
        run(jobs[j], BY_TIMER);
    }
    printf("api_cancel_signal: ok\n");
    return 0;
}
