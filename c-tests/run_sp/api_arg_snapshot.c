/* `arg` may point anywhere in the parent's memory: the child reads a
 * copy-on-write snapshot, and nothing the child writes reaches the parent. */
#include "sptest.h"

typedef struct model {
    uint64_t id;
    size_t n;
    uint64_t *values; /* heap memory reached through `arg` */
    char name[32];
} model;

static uint64_t global_counter = 5;

static uint64_t sum(const model *m) {
    uint64_t s = m->id;
    for (size_t i = 0; i < m->n; i++) s += m->values[i] * (i + 1);
    return s;
}

/* Reports what it read, then scribbles over everything it can reach. */
static int32_t read_then_scribble(const void *arg, lk_buffer *out) {
    const model *m = (const model *)arg;
    uint64_t report[3] = {sum(m), global_counter, (uint64_t)strlen(m->name)};
    SPT_APPEND(out, report, sizeof report);
    SPT_APPEND(out, m->name, strlen(m->name));
    model *w = (model *)arg; /* the child's own copy: writing is allowed */
    memset(w->values, 0xee, w->n * sizeof *w->values);
    w->id = 0;
    w->n = 1;
    strcpy(w->name, "scribbled");
    global_counter = 999;
    return 0;
}

static int32_t null_arg(const void *arg, lk_buffer *out) {
    uint8_t was_null = arg == NULL;
    SPT_APPEND(out, &was_null, 1);
    return 0;
}

/* A stack variable of the caller, read through `arg`. */
static int32_t read_int(const void *arg, lk_buffer *out) {
    int v = *(const int *)arg;
    *(int *)arg = -1;
    SPT_APPEND(out, &v, sizeof v);
    return 0;
}

int main(void) {
    lkt_watchdog(20);

    model m;
    memset(&m, 0, sizeof m);
    m.id = 42;
    m.n = 4u << 20; /* 32 MiB of heap data */
    m.values = (uint64_t *)malloc(m.n * sizeof *m.values);
    CHECK(m.values != NULL);
    for (size_t i = 0; i < m.n; i++) m.values[i] = lkt_mix(i);
    strcpy(m.name, "the parent's model");
    uint64_t expect = sum(&m);

    for (int round = 0; round < 3; round++) {
        /* The parent changes its memory between calls: each child sees the
         * memory as it was at its own call. */
        m.values[round] += 1;
        expect = sum(&m);
        global_counter = 5 + (uint64_t)round;

        lk_buffer res = spt_empty();
        CHECK_OK(lk_run_sp(read_then_scribble, &m, &res));
        CHECK(res.len == 3 * sizeof(uint64_t) + strlen(m.name));
        uint64_t report[3];
        memcpy(report, res.data, sizeof report);
        CHECK(report[0] == expect);
        CHECK(report[1] == 5 + (uint64_t)round);
        CHECK(report[2] == strlen("the parent's model"));
        CHECK(memcmp(res.data + sizeof report, "the parent's model", report[2]) == 0);
        lk_buffer_free(&res);

        /* Nothing the child wrote reached the parent. */
        CHECK(m.id == 42);
        CHECK(m.n == 4u << 20);
        CHECK(strcmp(m.name, "the parent's model") == 0);
        CHECK(global_counter == 5 + (uint64_t)round);
        CHECK(sum(&m) == expect);
    }

    lk_buffer res = spt_empty();
    CHECK_OK(lk_run_sp(null_arg, NULL, &res));
    CHECK(res.len == 1 && res.data[0] == 1);
    lk_buffer_free(&res);

    int local = 1234567;
    CHECK_OK(lk_run_sp(read_int, &local, &res));
    CHECK(res.len == sizeof(int));
    int got;
    memcpy(&got, res.data, sizeof got);
    CHECK(got == 1234567);
    CHECK(local == 1234567);
    lk_buffer_free(&res);

    free(m.values);
    lkt_check_no_children();
    printf("run_sp_api_arg_snapshot: ok\n");
    return 0;
}
