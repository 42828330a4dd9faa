/* A timer sends SIGALRM every millisecond (setitimer; the handler installed
 * with sigaction WITHOUT SA_RESTART, so blocking calls fail with EINTR), and
 * a SIGCHLD handler counts children's ends the same way, while lk_run_sp
 * runs children that succeed (small and 8 MiB results), fail with a code,
 * crash, _exit, time out, log many records, and run their own 1 ms timer
 * while they write. Every call must give exactly what it gives without
 * signals: same status, same bytes, every log record once, no child left. */
#include "reliability/rel.h"

enum { ROUNDS = 25, BIG = 8 << 20, LOGS = 2000 };

enum { OK_SMALL, OK_BIG, CODE, SEGV, EXIT3, TIMEOUT, LOG_MANY, OWN_TIMER, KINDS };

static uint8_t pattern(size_t i, int round) {
    return (uint8_t)(lkt_mix(i / 4096 + (uint64_t)round * 1000003) + i);
}

static int append_pattern(lk_buffer *out, size_t n, int round) {
    static uint8_t chunk[65536];
    for (size_t at = 0; at < n;) {
        size_t take = n - at < sizeof chunk ? n - at : sizeof chunk;
        for (size_t k = 0; k < take; k++) chunk[k] = pattern(at + k, round);
        if (lk_buffer_append(out, chunk, take) != LK_OK) return 0;
        at += take;
    }
    return 1;
}

typedef struct {
    int kind;
    int round;
} job;

static int32_t child(const void *arg, lk_buffer *out) {
    const job *j = (const job *)arg;
    char msg[160];
    switch (j->kind) {
    case OK_SMALL: return append_pattern(out, 100, j->round) ? 0 : 1;
    case OK_BIG: return append_pattern(out, BIG, j->round) ? 0 : 1;
    case CODE: return 17;
    case SEGV: raise(SIGSEGV); return 2;
    case EXIT3: _exit(3);
    case TIMEOUT:
        for (;;) lkt_sleep_us(100000);
    case LOG_MANY:
    case OWN_TIMER:
        if (j->kind == OWN_TIMER) lkt_alarm_every_us(1000); /* the handler is inherited */
        for (int k = 0; k < LOGS; k++) {
            snprintf(msg, sizeof msg, "child %d record %d ....................................................", j->round, k);
            lk_log(LK_LOG_INFO, msg);
        }
        return append_pattern(out, j->kind == OWN_TIMER ? BIG : 1000, j->round) ? 0 : 1;
    }
    return 3;
}

int main(void) {
    double t0 = rel_storm_begin();
    long calls = 0;
    for (int round = 0; round < ROUNDS; round++)
        for (int kind = 0; kind < KINDS; kind++) {
            job j = {kind, round};
            lk_buffer b;
            memset(&b, 0, sizeof b);
            lk_sp_options so;
            lk_sp_options_init(&so, sizeof so);
            so.timeout_ms = kind == TIMEOUT ? 30 : 60000;
            so.grace_ms = 50;
            long logs_before = rel_log_children(&rel_storm_logs);
            lk_status s = lk_run_sp_with(child, &j, &so, &b);
            calls++;
            switch (kind) {
            case OK_SMALL:
            case OK_BIG:
            case LOG_MANY:
            case OWN_TIMER: {
                CHECK_MSG(s == LK_OK, "round %d kind %d: %d %s", round, kind, (int)s, lk_last_error());
                size_t want = kind == OK_SMALL ? 100 : kind == LOG_MANY ? 1000 : BIG;
                CHECK_MSG(b.len == want, "round %d kind %d: %zu bytes", round, kind, b.len);
                for (size_t i = 0; i < b.len; i++)
                    CHECK_MSG(b.data[i] == pattern(i, round), "round %d kind %d: byte %zu", round, kind, i);
                lk_buffer_free(&b);
                long got = rel_log_children(&rel_storm_logs) - logs_before;
                long expect = kind == LOG_MANY || kind == OWN_TIMER ? LOGS : 0;
                CHECK_MSG(got == expect, "round %d kind %d: %ld records, expected %ld", round, kind, got,
                          expect);
                break;
            }
            case CODE:
                CHECK_MSG(s == LK_ERR_CALLBACK, "round %d: %d %s", round, (int)s, lk_last_error());
                CHECK(lkt_has_number(lk_last_error(), 17));
                break;
            case SEGV:
                CHECK_MSG(s == LK_ERR_WORKER_DIED, "round %d: %d %s", round, (int)s, lk_last_error());
                CHECK_ERROR_HAS("SIGSEGV");
                break;
            case EXIT3:
                CHECK_MSG(s == LK_ERR_WORKER_DIED, "round %d: %d %s", round, (int)s, lk_last_error());
                CHECK_ERROR_HAS("exit status 3");
                break;
            case TIMEOUT:
                CHECK_MSG(s == LK_ERR_TIMEOUT, "round %d: %d %s", round, (int)s, lk_last_error());
                break;
            }
            if (s != LK_OK) CHECK(b.data == NULL && b.len == 0 && b.cap == 0 && b.priv == NULL);
            CHECK(lkt_no_children());
        }
    rel_storm_end(t0, "reliability_fault_signal_sigalrm_sp", calls, "calls");
    return 0;
}
