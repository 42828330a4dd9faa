/* Hostile children: what a run_sp child or a worker process sends back is
 * untrusted input. Children and workers write garbage into every channel
 * they can reach — random bytes (up to 64 KiB, or a blocking 1 MiB flood)
 * to every open descriptor 3..64, a frame header claiming 4 GiB, a frame cut
 * short, a frame of an unknown kind — and then answer, exit without
 * answering, or crash. Each such call returns an error (or succeeds, with
 * the right bytes, when the garbage hit nothing the protocol reads), and
 * promptly; the parent stays healthy: later run_sp calls and maps on the
 * same invoker, on an invoker made before the garbage (whose descriptors
 * the workers inherited) and on a new one all work, their workers' log
 * records arrive, and at the end no descriptor, child process or thread is
 * left over.
 *
 * Descriptors the test harness passed in are left alone (they are not the
 * library's). The garbage is pseudo-random from fixed seeds, so a failure
 * replays. */
#include "hardening/hardtest.h"
#include "run_sp/sptest.h"

enum {
    G_SPRAY_ANSWER,    /* random bytes everywhere, then the normal answer */
    G_SPRAY_EXIT,      /* random bytes everywhere, then _exit(0) without answering */
    G_SPRAY_CRASH,     /* random bytes everywhere, then SIGSEGV */
    G_HUGE_FRAME,      /* a frame header claiming 4 GiB, then the normal answer */
    G_CUT_FRAME_EXIT,  /* a frame header claiming 4000 bytes, 10 of them, then _exit(0) */
    G_CUT_FRAME,       /* the same, then the normal answer */
    G_UNKNOWN_KIND,    /* a well-framed record of kind 99, then the normal answer */
    G_BAD_BODY,        /* a result record (kind 2) with a 3-byte body, then the answer */
    G_FLOOD,           /* 1 MiB, blocking, into every descriptor, then the answer */
    G_KINDS
};

static const char *const g_name[G_KINDS] = {"spray, answer", "spray, exit", "spray, crash", "4 GiB frame",
                                            "cut frame, exit", "cut frame, answer", "unknown kind",
                                            "bad body", "1 MiB flood"};

/* What the garbage is made of for this call. */
typedef struct g_job {
    int kind;
    uint64_t seed;
} g_job;

static void frame_header(uint8_t *b, uint32_t len) {
    memcpy(b, &len, 4); /* little-endian, as on every Linux target this runs on */
}

/* Blocking writes of `len` random bytes to every descriptor 3..64 but the
 * harness's. */
static void flood_all(uint64_t seed, size_t len) {
    static uint8_t junk[1 << 16];
    uint64_t st = seed;
    for (size_t i = 0; i < sizeof junk; i += 8) {
        uint64_t x = ht_rand(&st);
        memcpy(junk + i, &x, 8);
    }
    for (int fd = 3; fd <= HT_GARBAGE_LAST_FD; fd++) {
        if (ht_is_inherited(fd) || !ht_fd_open(fd)) continue;
        for (size_t done = 0; done < len;) {
            ssize_t w = write(fd, junk, sizeof junk);
            if (w <= 0) break; /* not writable (a read end, a pidfd) */
            done += (size_t)w;
        }
    }
}

/* Make garbage as `kind` says. Returns 1 when the caller should then answer
 * normally. */
static int make_garbage(int kind, uint64_t seed) {
    uint8_t b[64];
    memset(b, 0, sizeof b);
    switch (kind) {
    case G_SPRAY_ANSWER: ht_spray_all(seed, 65536); return 1;
    case G_SPRAY_EXIT: ht_spray_all(seed, 65536); _exit(0);
    case G_SPRAY_CRASH: {
        ht_spray_all(seed, 65536);
        volatile int *volatile nowhere = NULL;
        *nowhere = 1;
        _exit(3);
    }
    case G_HUGE_FRAME: frame_header(b, 0xFFFFFFFFu); ht_write_all(b, 4); return 1;
    case G_CUT_FRAME_EXIT:
    case G_CUT_FRAME:
        frame_header(b, 4000);
        b[4] = 1; /* a log record */
        ht_write_all(b, 14);
        if (kind == G_CUT_FRAME_EXIT) _exit(0);
        return 1;
    case G_UNKNOWN_KIND: frame_header(b, 5); b[4] = 99; ht_write_all(b, 9); return 1;
    case G_BAD_BODY: frame_header(b, 4); b[4] = 2; ht_write_all(b, 8); return 1;
    case G_FLOOD: flood_all(seed, 1 << 20); return 1;
    }
    return 1;
}

/* ---------------------------------------------------------------- run_sp */

static int32_t sp_child(const void *arg, lk_buffer *out) {
    const g_job *j = (const g_job *)arg;
    lk_log(LK_LOG_INFO, "child before the garbage");
    make_garbage(j->kind, j->seed);
    SPT_APPEND(out, "ok", 2);
    return 0;
}

static void sp_case(int kind, uint64_t seed) {
    g_job j = {kind, seed};
    lk_buffer r = spt_empty();
    /* The flood under a time limit: a parent that stops reading its pipe
     * while the child still writes would wait for ever without one, and
     * LK_ERR_TIMEOUT then says so. */
    lk_sp_options so;
    lk_sp_options_init(&so, sizeof so);
    so.timeout_ms = 10000;
    double t0 = lkt_now();
    lk_status s = kind == G_FLOOD ? lk_run_sp_with(sp_child, &j, &so, &r) : lk_run_sp(sp_child, &j, &r);
    double took = lkt_now() - t0;
    const char *msg = lk_last_error();
    printf("run_sp, %-17s seed %2" PRIu64 ": status %d in %.3f s%s%s\n", g_name[kind], seed, (int)s, took,
           s == LK_OK ? "" : ": ", s == LK_OK ? "" : msg);
    CHECK_MSG(took < 20, "run_sp, %s: took %.1f s", g_name[kind], took);
    CHECK_MSG(s != LK_ERR_TIMEOUT,
              "run_sp, %s: the child was still blocked writing after %.1f s (the parent stopped reading its pipe?)",
              g_name[kind], took);
    if (s == LK_OK) {
        CHECK_MSG(kind != G_SPRAY_EXIT && kind != G_SPRAY_CRASH && kind != G_CUT_FRAME_EXIT,
                  "run_sp, %s: LK_OK from a child that never answered", g_name[kind]);
        CHECK_MSG(r.len == 2 && memcmp(r.data, "ok", 2) == 0, "run_sp, %s: LK_OK with %zu wrong bytes", g_name[kind],
                  r.len);
        lk_buffer_free(&r);
    } else {
        CHECK_MSG(s == LK_ERR_WORKER_DIED || s == LK_ERR_CALLBACK, "run_sp, %s: status %d: %s", g_name[kind], (int)s,
                  msg);
        CHECK(msg[0] != '\0');
        CHECK(spt_is_zero(&r));
    }
    if (kind == G_SPRAY_EXIT || kind == G_SPRAY_CRASH || kind == G_CUT_FRAME_EXIT || kind == G_HUGE_FRAME ||
        kind == G_UNKNOWN_KIND || kind == G_BAD_BODY)
        CHECK_MSG(s == LK_ERR_WORKER_DIED, "run_sp, %s: status %d, not LK_ERR_WORKER_DIED", g_name[kind], (int)s);
}

/* ------------------------------------------------------- process workers */

enum { N = 300, AT = 123 };

typedef struct w_ctl {
    atomic_int garbage_at; /* the item whose worker makes garbage (once); -1 none */
    atomic_int kind;
    atomic_llong seed;
} w_ctl;

static w_ctl *ctl;

static int32_t w_op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    (void)arg;
    if (lkt_take(&ctl->garbage_at, task->index)) {
        int kind = atomic_load(&ctl->kind);
        make_garbage(kind, (uint64_t)atomic_load(&ctl->seed));
        lk_log(LK_LOG_INFO, "worker after the garbage");
    }
    if (task->index % 100 == 7) lkt_log_numbered(LK_LOG_INFO, "worker record ", (long long)task->index);
    *(uint64_t *)result = task->index * 13 + 5;
    return 0;
}

static uint64_t results[N];
static int32_t status[N];

/* A clean map: every item right, every worker record there. */
static void clean_map(lk_invoker *inv, const char *what) {
    atomic_store(&ctl->garbage_at, -1);
    memset(results, 0, sizeof results);
    lkt_log_clear();
    lk_map_options mo = lkt_with_status(status);
    lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
    CHECK_MSG(s == LK_OK, "%s: a clean map gave %d: %s", what, (int)s, lk_last_error());
    for (int i = 0; i < N; i++) CHECK_MSG(status[i] == 0 && results[i] == (uint64_t)i * 13 + 5, "%s: item %d", what, i);
    int records = 0;
    pthread_mutex_lock(&lkt_log_mu);
    for (size_t i = 0; i < lkt_n_records && i < LKT_MAX_RECORDS; i++)
        if (strncmp(lkt_records[i].message, "worker record ", 14) == 0) records++;
    pthread_mutex_unlock(&lkt_log_mu);
    CHECK_MSG(records == N / 100, "%s: %d of %d worker records arrived", what, records, N / 100);
}

static void worker_case(lk_invoker *inv, int kind, uint64_t seed) {
    atomic_store(&ctl->kind, kind);
    atomic_store(&ctl->seed, (long long)seed);
    atomic_store(&ctl->garbage_at, AT);
    memset(results, 0, sizeof results);
    lk_map_options mo = lkt_with_status(status);
    double t0 = lkt_now();
    lk_status s = lk_invoker_map_with(inv, NULL, N, 0, results, sizeof results[0], &mo);
    double took = lkt_now() - t0;
    printf("worker, %-17s seed %2" PRIu64 ": status %d in %.3f s%s%s\n", g_name[kind], seed, (int)s, took,
           s == LK_OK ? "" : ": ", s == LK_OK ? "" : lk_last_error());
    CHECK_MSG(took < 20, "worker, %s: the map took %.1f s", g_name[kind], took);
    CHECK_MSG(s == LK_OK || s == LK_ERR_WORKER_DIED || s == LK_ERR_CALLBACK, "worker, %s: status %d: %s",
              g_name[kind], (int)s, lk_last_error());
    if (kind == G_SPRAY_EXIT || kind == G_SPRAY_CRASH || kind == G_CUT_FRAME_EXIT)
        CHECK_MSG(s == LK_ERR_WORKER_DIED && status[AT] == LK_ITEM_WORKER_DIED, "worker, %s: status %d, item %d",
                  g_name[kind], (int)s, (int)status[AT]);
}

/* ----------------------------------------------------------------- main */

int main(void) {
    ht_note_inherited_fds();
    lkt_watchdog(115);
    lkt_no_core_dumps();
    signal(SIGPIPE, SIG_IGN); /* the test's own writes into pipes whose reader left */
    ctl = (w_ctl *)lkt_shared(sizeof *ctl);
    atomic_store(&ctl->garbage_at, -1);
    lk_set_log_callback(lkt_log_capture, NULL, LK_LOG_INFO);
    char fds_before[8192], fds_after[8192];
    lkt_fd_list(fds_before, sizeof fds_before);
    int threads_before = lkt_thread_count();

    /* An invoker made before the garbage: its descriptors are inherited by
     * every child and worker that follows. */
    lk_invoker_options o = lkt_options_on(LK_BACKEND_PROCESSES, 2);
    lk_invoker *bystander = lkt_new_with(NULL, w_op, &o);
    clean_map(bystander, "bystander");

    for (int kind = 0; kind < G_KINDS; kind++) {
        for (uint64_t seed = 1; seed <= (kind <= G_SPRAY_CRASH ? 3u : 1u); seed++) {
            sp_case(kind, seed);
            lk_buffer r = spt_empty();
            CHECK_OK(lk_run_sp(spt_child, spt_end_arg(SPT_OK), &r));
            CHECK(r.len == 2 && memcmp(r.data, "ok", 2) == 0);
            lk_buffer_free(&r);
        }
    }

    lk_invoker *inv = lkt_new_with(NULL, w_op, &o);
    clean_map(inv, "before the garbage");
    for (int kind = 0; kind < G_KINDS; kind++) {
        for (uint64_t seed = 1; seed <= (kind <= G_SPRAY_CRASH ? 3u : 1u); seed++) {
            char what[96];
            snprintf(what, sizeof what, "after worker garbage %s (seed %" PRIu64 ")", g_name[kind], seed);
            worker_case(inv, kind, seed);
            clean_map(inv, what);
            clean_map(bystander, what);
        }
    }
    CHECK_OK(lk_invoker_shutdown(inv));
    CHECK_OK(lk_invoker_shutdown(bystander));

    /* A new invoker and a run_sp after it all. */
    inv = lkt_new_with(NULL, w_op, &o);
    clean_map(inv, "a new invoker");
    CHECK_OK(lk_invoker_shutdown(inv));
    lk_buffer r = spt_empty();
    CHECK_OK(lk_run_sp(spt_child, spt_end_arg(SPT_BIG), &r));
    CHECK(r.len == 100000);
    lk_buffer_free(&r);

    lk_set_log_callback(NULL, NULL, LK_LOG_INFO);
    lkt_check_no_children();
    lkt_fd_list(fds_after, sizeof fds_after);
    CHECK_MSG(strcmp(fds_before, fds_after) == 0, "descriptors changed:\n-- before:\n%s-- after:\n%s", fds_before,
              fds_after);
    int threads_after = lkt_thread_count_settled(threads_before);
    CHECK_MSG(threads_after == threads_before, "%d threads, %d before", threads_after, threads_before);
    printf("hardening_fault_garbage_channels: ok\n");
    return 0;
}
