/* A failing item's result slot: what its callback wrote there before it
 * failed reaches the caller, under fail-fast and keep-going, on both
 * backends and in maps back to back (so a process pool's shared memory
 * holds other items' results from the maps before); on the threads
 * backend an item that fails without writing leaves its slot as it was.
 * Skipped items' slots are left as they were. n_jobs 1, 2, 4. */
#include "lktest.h"

enum { N = 3000 };
#define SENTINEL 0xABABABABABABABABull

/* Items i % 97 == 13 fail: odd ones write a payload first, even ones
   write nothing. The others write arg * 3. */
static int fails(size_t i) { return i % 97 == 13; }
static int writes_payload(size_t i) { return i % 2 == 1; }

static int32_t op(const void *model, const void *arg, void *result, const lk_task *task) {
    (void)model;
    uint64_t a = *(const uint64_t *)arg;
    size_t i = task->index;
    if (!fails(i)) {
        *(uint64_t *)result = a * 3;
        return 0;
    }
    if (writes_payload(i)) {
        *(uint64_t *)result = ~a;
        return 7;
    }
    return 8;
}

static uint64_t args[N], results[N];
static int32_t status[N];

/* Check every slot against what its item did (`keep_going`: every item ran;
   else the ones item_status does not mark skipped). */
static void check_slots(int keep_going) {
    int kept_old = !lkt_processes();
    for (size_t i = 0; i < N; i++) {
        int ran = keep_going || status[i] != LK_ITEM_SKIPPED;
        if (!ran) {
            CHECK_MSG(results[i] == SENTINEL, "skipped item %zu: slot changed", i);
        } else if (!fails(i)) {
            CHECK_MSG(results[i] == args[i] * 3, "item %zu: wrong result", i);
        } else if (writes_payload(i)) {
            CHECK_MSG(results[i] == ~args[i], "failing item %zu: its payload was lost", i);
            CHECK(status[i] == 7);
        } else {
            CHECK(status[i] == 8);
            if (kept_old) CHECK_MSG(results[i] == SENTINEL, "failing item %zu wrote nothing: slot changed", i);
        }
    }
}

int main(int argc, char **argv) {
    lkt_backend_init(argc, argv);
    lkt_watchdog(60);
    for (size_t i = 0; i < N; i++) args[i] = lkt_mix((uint64_t)i) | 1;
    int32_t jobs[] = {1, 2, 4};
    for (int j = 0; j < 3; j++) {
        for (int keep_going = 0; keep_going < 2; keep_going++) {
            lk_invoker_options o = lkt_options(jobs[j]);
            o.error_mode = keep_going ? LK_ERRORS_KEEP_GOING : LK_ERRORS_FAIL_FAST;
            lk_invoker *inv = lkt_new_with(NULL, op, &o);
            for (int round = 0; round < 4; round++) {
                for (size_t i = 0; i < N; i++) {
                    results[i] = SENTINEL;
                    status[i] = 0x5A5A5A5A;
                }
                lk_map_options mo = lkt_with_status(status);
                CHECK_FAIL(lk_invoker_map_with(inv, args, N, sizeof args[0], results, sizeof results[0], &mo),
                           LK_ERR_CALLBACK);
                check_slots(keep_going);
            }
            CHECK_OK(lk_invoker_shutdown(inv));
        }
        printf("n_jobs %d: failing items' slots ok\n", jobs[j]);
    }
    printf("invoker_fault_failed_result: ok\n");
    return 0;
}
