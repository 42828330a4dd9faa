/* lk_shared_alloc / lk_shared_free (the header's "Shared memory" section):
 *  - blocks are 64-byte aligned, distinct, writable; size 0 gives NULL;
 *  - bad input is a status and a message, never a crash: out NULL, a size
 *    that overflows (LK_ERR_INVALID), one no region can hold (LK_ERR_SYSTEM),
 *    a free of a pointer that is no block, or of a block freed already
 *    (LK_ERR_INVALID; nothing freed); free(NULL) is a no-op;
 *  - freed pages go back to the system (RssShmem returns to where it was);
 *  - thread-safe: 4 threads allocate, fill, check and free at once;
 *  - shared with processes forked after the first call: a child's writes
 *    reach the parent; a child may not allocate or free
 *    (LK_ERR_UNSUPPORTED), and the parent's blocks stay intact;
 *  - an lk_run_sp child sees and writes the memory;
 *  - LK_SHARED_MEMORY sizes the region (in a child that allocates first):
 *    a block that does not fit is LK_ERR_SYSTEM, and fits once others are
 *    freed; a malformed value is ignored. */
#include "lktest.h"

enum { THREADS = 4, ROUNDS = 300 };

static void *churn(void *arg) {
    uintptr_t seed = (uintptr_t)arg;
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = 1 + (size_t)(lkt_mix(seed * 1000 + (uint64_t)r) % 20000);
        uint8_t *p = NULL;
        CHECK_OK(lk_shared_alloc(n, (void **)&p));
        CHECK(p != NULL && (uintptr_t)p % 64 == 0);
        memset(p, (int)(seed + (uintptr_t)r) & 0xff, n);
        sched_yield();
        for (size_t i = 0; i < n; i += 97) CHECK(p[i] == ((seed + (uintptr_t)r) & 0xff));
        CHECK_OK(lk_shared_free(p));
    }
    return NULL;
}

/* This process's resident shared memory (RssShmem), KiB. */
static long shmem_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    CHECK(f != NULL);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "RssShmem:", 9) == 0) kib = atol(line + 9);
    fclose(f);
    CHECK(kib >= 0);
    return kib;
}

static int32_t sp_writes(const void *arg, lk_buffer *out) {
    (void)out;
    uint64_t *block = *(uint64_t *const *)arg;
    for (size_t i = 0; i < 1000; i++) block[i] = block[i] * 3;
    return 0;
}

/* In a child that has not allocated yet: a region of `size`. */
static void sized_region(const char *size, size_t expect) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setenv("LK_SHARED_MEMORY", size, 1);
        void *a = NULL, *b = NULL, *c = NULL;
        CHECK_CHILD(lk_shared_alloc(expect / 2, &a) == LK_OK);
        CHECK_CHILD(lk_shared_alloc(expect / 4, &b) == LK_OK);
        CHECK_CHILD_FAIL(lk_shared_alloc(expect / 2, &c), LK_ERR_SYSTEM);
        CHECK_CHILD(c == NULL && strstr(lk_last_error(), "out of shared memory") != NULL);
        CHECK_CHILD(lk_shared_free(a) == LK_OK);
        CHECK_CHILD(lk_shared_alloc(expect / 2, &c) == LK_OK && c != NULL);
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "LK_SHARED_MEMORY=%s: the child failed", size);
}

/* In a child: a malformed LK_SHARED_MEMORY is ignored (the default region
   holds 64 MiB at least). */
static void malformed_size(const char *size) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setenv("LK_SHARED_MEMORY", size, 1);
        void *a = NULL;
        CHECK_CHILD(lk_shared_alloc((size_t)32 << 20, &a) == LK_OK && a != NULL);
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "LK_SHARED_MEMORY=%s: the child failed", size);
}

int main(void) {
    lkt_watchdog(120);
    sized_region("4M", (size_t)4 << 20);
    sized_region("8388608", (size_t)8 << 20);
    /* (Not under memcheck: the default region is the machine's memory,
       which memcheck takes minutes to mark; the native run checks it.) */
    if (getenv("LK_VALGRIND") == NULL) {
        malformed_size("12Q");
        malformed_size("1K");
    }
    void *p = (void *)1;
    CHECK_OK(lk_shared_alloc(0, &p));
    CHECK(p == NULL);
    CHECK_FAIL(lk_shared_alloc(8, NULL), LK_ERR_INVALID);
    CHECK_ERROR_HAS("out");
    CHECK_FAIL(lk_shared_alloc(SIZE_MAX, &p), LK_ERR_INVALID);
    CHECK(p == NULL);
    CHECK_FAIL(lk_shared_alloc(SIZE_MAX / 2, &p), LK_ERR_SYSTEM);
    CHECK_ERROR_HAS("shared memory");
    CHECK(p == NULL);
    CHECK_OK(lk_shared_free(NULL));

    uint64_t *a = NULL, *b = NULL;
    CHECK_OK(lk_shared_alloc(1000 * sizeof *a, (void **)&a));
    CHECK_OK(lk_shared_alloc(1, (void **)&b));
    CHECK(a != NULL && b != NULL && (uintptr_t)a % 64 == 0 && (uintptr_t)b % 64 == 0);
    CHECK((uint8_t *)b >= (uint8_t *)(a + 1000) || (uint8_t *)(b) + 64 <= (uint8_t *)a);
    for (size_t i = 0; i < 1000; i++) a[i] = i;
    *b = 42;

    /* Frees of what is not a block change nothing. */
    uint64_t local = 0;
    CHECK_FAIL(lk_shared_free(&local), LK_ERR_INVALID);
    CHECK_ERROR_HAS("lk_shared_alloc");
    CHECK_FAIL(lk_shared_free(a + 1), LK_ERR_INVALID);
    void *heap = malloc(64);
    CHECK_FAIL(lk_shared_free(heap), LK_ERR_INVALID);
    free(heap);
    for (size_t i = 0; i < 1000; i++) CHECK(a[i] == i);

    /* A forked child shares the blocks, and may not allocate or free. */
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        for (size_t i = 0; i < 1000; i++) a[i] += 1;
        void *q = NULL;
        CHECK_CHILD_FAIL(lk_shared_alloc(64, &q), LK_ERR_UNSUPPORTED);
        CHECK_CHILD(q == NULL);
        CHECK_CHILD_FAIL(lk_shared_free(b), LK_ERR_UNSUPPORTED);
        _exit(0);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (size_t i = 0; i < 1000; i++) CHECK_MSG(a[i] == i + 1, "a[%zu] = %llu", i, (unsigned long long)a[i]);
    CHECK(*b == 42);

    /* An lk_run_sp child writes it too. */
    lk_buffer res = {0};
    CHECK_OK(lk_run_sp(sp_writes, &a, &res));
    lk_buffer_free(&res);
    for (size_t i = 0; i < 1000; i++) CHECK(a[i] == (i + 1) * 3);

    CHECK_OK(lk_shared_free(b));
    CHECK_FAIL(lk_shared_free(b), LK_ERR_INVALID);
    CHECK_ERROR_HAS("freed already");
    for (size_t i = 0; i < 1000; i++) CHECK(a[i] == (i + 1) * 3);
    CHECK_OK(lk_shared_free(a));

    /* Freed pages go back to the system: 48 MiB written in blocks of odd
       sizes, freed in an interleaved order, leave no shared memory resident. */
    long before = shmem_kib();
    enum { BLOCKS = 300 };
    uint8_t *blocks[BLOCKS];
    for (int i = 0; i < BLOCKS; i++) {
        size_t n = 1 + (size_t)(lkt_mix((uint64_t)i) % (320 << 10));
        CHECK_OK(lk_shared_alloc(n, (void **)&blocks[i]));
        memset(blocks[i], 1, n);
    }
    CHECK(shmem_kib() >= before + (16 << 10));
    for (int i = 1; i < BLOCKS; i += 2) CHECK_OK(lk_shared_free(blocks[i]));
    for (int i = 0; i < BLOCKS; i += 2) CHECK_OK(lk_shared_free(blocks[i]));
    CHECK_MSG(shmem_kib() <= before, "RssShmem %ld KiB after every block was freed, %ld before", shmem_kib(), before);

    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, churn, (void *)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++) CHECK(pthread_join(t[i], NULL) == 0);
    return 0;
}
