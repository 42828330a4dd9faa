/* Finding 3: once lk_run_sp has returned, the result's bytes are the
 * caller's alone, whatever the child's descendants do. A callback forks and
 * both copies return (a user bug); the grandchild outlives the child and,
 * after the parent has its result, writes through the mapping it inherited
 * (out->data), appends with lk_buffer_append, pwrite()s the result memfd
 * and tries to shrink and grow it. The first release handed the parent a
 * shared mapping of that memfd: "child-answer" became "GRANDCHILD-G" after
 * lk_run_sp had returned LK_OK.
 *
 * Two cases: the grandchild keeps its writable mapping of the result (the
 * library cannot freeze the bytes, and must copy them), and the grandchild
 * drops it before the child returns (the library can freeze the memfd: its
 * later writes are refused). Every byte of each result is read after the
 * grandchild is done, so a result that shrank under the parent would fault
 * here (SIGBUS). */
#include "hardening/hardtest.h"
#include "run_sp/sptest.h"

typedef struct shared_state {
    atomic_int returned; /* the parent has its result */
    atomic_int unmapped; /* case 2: the grandchild dropped its mapping */
    atomic_int done;     /* the grandchild finished its attacks */
    atomic_int pwrite_errno, shrink_errno, grow_errno; /* 0: it succeeded */
    atomic_int append_status;
} shared_state;

static shared_state *sh;

static const char ANSWER[] = "child-answer";
enum { ANSWER_LEN = sizeof ANSWER - 1, EXTRA = 100000 };

static void wait_flag(atomic_int *flag) {
    double t0 = lkt_now();
    while (!atomic_load(flag) && lkt_now() - t0 < 20) lkt_sleep_us(1000);
}

/* arg: 1 = the grandchild keeps its mapping, 2 = it drops it first. */
static int32_t forking(const void *arg, lk_buffer *out) {
    int keep = *(const int *)arg == 1;
    static char more[EXTRA];
    SPT_APPEND(out, ANSWER, ANSWER_LEN);
    SPT_APPEND(out, more, sizeof more); /* a result of some size */
    pid_t g = fork();
    if (g < 0) return 50;
    if (g > 0) {
        /* The child: answers at once (case 2: once the grandchild let go). */
        if (!keep) wait_flag(&sh->unmapped);
        return 0;
    }
    /* The grandchild. */
    lk_buffer mine = *out;
    if (!keep) {
        lk_buffer_free(out); /* unmaps the result */
        atomic_store(&sh->unmapped, 1);
    }
    wait_flag(&sh->returned);
    lkt_sleep_us(20000);
    if (keep) {
        memcpy(mine.data, "GRANDCHILD-G", ANSWER_LEN);
        atomic_store(&sh->append_status, (int)lk_buffer_append(out, "tail", 4));
    }
    int fd = ht_result_memfd();
    if (fd >= 0) {
        errno = 0;
        atomic_store(&sh->pwrite_errno, pwrite(fd, "PWRITE", 6, 0) == 6 ? 0 : errno ? errno : -1);
        atomic_store(&sh->shrink_errno, ftruncate(fd, 0) == 0 ? 0 : errno);
        atomic_store(&sh->grow_errno, ftruncate(fd, 1 << 24) == 0 ? 0 : errno);
    } else {
        atomic_store(&sh->pwrite_errno, -2);
    }
    atomic_store(&sh->done, 1);
    /* Both copies return from the callback (the user bug in full). */
    return 0;
}

static void run(int how) {
    memset(sh, 0, sizeof *sh);
    lk_buffer r = spt_empty();
    CHECK_OK(lk_run_sp(forking, &how, &r));
    atomic_store(&sh->returned, 1);
    CHECK(r.len == ANSWER_LEN + EXTRA);
    CHECK(memcmp(r.data, ANSWER, ANSWER_LEN) == 0);
    wait_flag(&sh->done);
    CHECK_MSG(atomic_load(&sh->done), "case %d: the grandchild did not finish", how);
    lkt_sleep_us(50000);
    printf("case %d (%s): grandchild's pwrite errno %d, shrink errno %d, grow errno %d\n", how,
           how == 1 ? "grandchild keeps the mapping" : "grandchild unmapped first", atomic_load(&sh->pwrite_errno),
           atomic_load(&sh->shrink_errno), atomic_load(&sh->grow_errno));
    /* Whatever it did, the caller's bytes did not change, and all are there. */
    CHECK_MSG(memcmp(r.data, ANSWER, ANSWER_LEN) == 0, "case %d: the result became \"%.*s\"", how, ANSWER_LEN,
              (const char *)r.data);
    CHECK(r.len == ANSWER_LEN + EXTRA);
    for (size_t i = ANSWER_LEN; i < r.len; i++) CHECK_MSG(r.data[i] == 0, "case %d: byte %zu changed", how, i);
    /* The memfd's size is frozen either way: no process can shrink it (a
     * SIGBUS in the parent) nor grow it. */
    CHECK_MSG(atomic_load(&sh->shrink_errno) == EPERM, "case %d: the grandchild could shrink the result", how);
    CHECK_MSG(atomic_load(&sh->grow_errno) == EPERM, "case %d: the grandchild could grow the result", how);
    if (how == 2) {
        /* Nobody mapped it writable any more: the bytes are frozen too. */
        CHECK_MSG(atomic_load(&sh->pwrite_errno) == EPERM, "case 2: the grandchild's pwrite gave errno %d",
                  atomic_load(&sh->pwrite_errno));
    }
    /* The caller may change and grow its result as its own. */
    r.data[0] = 'C';
    CHECK_OK(lk_buffer_append(&r, "!", 1));
    CHECK(r.len == ANSWER_LEN + EXTRA + 1 && r.data[0] == 'C' && r.data[r.len - 1] == '!');
    lk_buffer_free(&r);
}

int main(void) {
    lkt_watchdog(60);
    sh = (shared_state *)lkt_shared(sizeof *sh);
    /* The grandchild's final answer goes to a pipe nobody reads any more. */
    signal(SIGPIPE, SIG_IGN);
    run(1);
    run(2);
    lkt_check_no_children();
    printf("hardening_fault_sp_grandchild_writes: ok\n");
    return 0;
}
