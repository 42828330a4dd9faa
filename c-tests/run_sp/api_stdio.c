/* A run_sp child's stdout and stderr are the parent's: what the child prints
 * shows up there exactly once, and what the parent printed before the call
 * but had not flushed yet is not written a second time by the child (also
 * when the child leaves through exit(), which flushes stdio). The program
 * runs itself with stdout and stderr redirected to files (so stdout is
 * fully buffered) and counts the lines. */
#include "sptest.h"

static int32_t chatty(const void *arg, lk_buffer *out) {
    (void)arg;
    printf("child-out\n");          /* buffered: must still come out */
    fprintf(stderr, "child-err\n");
    static const char raw[] = "child-raw\n";
    if (write(1, raw, sizeof raw - 1) != (ssize_t)(sizeof raw - 1)) return 4;
    SPT_APPEND(out, "x", 1);
    return 0;
}

static int32_t exits(const void *arg, lk_buffer *out) {
    (void)arg;
    (void)out;
    printf("child-exit-out\n");
    exit(0);
}

static int print_mode(void) {
    printf("parent-before\n"); /* not flushed yet when lk_run_sp forks */
    fprintf(stderr, "parent-err-before\n");
    lk_buffer res = spt_empty();
    if (lk_run_sp(chatty, NULL, &res) != LK_OK) return 10;
    lk_buffer_free(&res);
    printf("parent-mid\n");
    if (lk_run_sp(exits, NULL, &res) != LK_ERR_WORKER_DIED) return 11;
    printf("parent-after\n");
    return 0;
}

static void once(const char *text, const char *line) {
    int n = spt_count(text, line);
    if (n != 1) {
        fprintf(stderr, "\"%s\" appears %d times in:\n%s\n", line, n, text);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "print") == 0) return print_mode();
    lkt_watchdog(20);
    static spt_output r;
    for (int round = 0; round < 3; round++) {
        spt_run_self("print", NULL, &r);
        if (r.status != 0) {
            fprintf(stderr, "the print run exited %d\nstdout:\n%s\nstderr:\n%s\n", r.status, r.out, r.err);
            exit(1);
        }
        once(r.out, "parent-before\n");
        once(r.out, "child-out\n");
        once(r.out, "child-raw\n");
        once(r.out, "parent-mid\n");
        once(r.out, "child-exit-out\n");
        once(r.out, "parent-after\n");
        once(r.err, "parent-err-before\n");
        once(r.err, "child-err\n");
        CHECK(strstr(r.out, "child-err") == NULL);
        CHECK(strstr(r.err, "child-out") == NULL);
        /* In the order things happened. */
        CHECK(strstr(r.out, "parent-before") < strstr(r.out, "child-out"));
        CHECK(strstr(r.out, "child-out") < strstr(r.out, "parent-mid"));
        CHECK(strstr(r.out, "parent-mid") < strstr(r.out, "child-exit-out"));
        CHECK(strstr(r.out, "child-exit-out") < strstr(r.out, "parent-after"));
    }
    lkt_check_no_children();
    printf("run_sp_api_stdio: ok\n");
    return 0;
}
