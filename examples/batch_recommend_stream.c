/*
 * batch_recommend_stream: the main job, streamed. Top-20 recommendations
 * for 2,000,000 users of a matrix-factorisation model, written to a file,
 * in memory bounded by a window instead of by the number of users.
 *
 *   model   = the MF model of mf_model.h (users x 64 factors, 10,000 items
 *             x 64 factors, float, generated from a fixed seed)
 *   source  = hands the next user ids to the library (nothing is held:
 *             a real program would read them from a file or a query)
 *   sink    = receives the top-20 lists in user order and appends them to
 *             the output file
 *
 * lk_invoker_stream runs the source and the sink on this thread while the
 * workers compute, and never holds more than `window` users between the
 * two, so the results of 2,000,000 users (320 MB) never sit in memory at
 * once. The program prints users per second and its peak resident memory
 * (VmHWM, from /proc/self/status) above the model's own size.
 *
 * Then it checks the file: the same users through a plain lk_invoker_map,
 * a piece at a time (lk_map_options.index_base numbers each piece's items
 * as in one big map), each piece compared byte for byte with the file.
 *
 * The file: one record per user, in user order: MF_TOP_N pairs of (int32
 * item, float score), best first, as in memory (mf_top).
 *
 * Usage: batch_recommend_stream [-u users] [-i items] [-j n_jobs] [-w window]
 *                               [-o file] [-m] [-n]
 *   -u  users (default 2000000)          -i  items (default 10000)
 *   -j  n_jobs (default 0: lk_proc_count(2, 4, 0), as in LensKit;
 *       LK_NUM_PROCS overrides it)
 *   -w  the stream's window in users (default 0: the library chooses)
 *   -o  the output file (default recommendations.bin)
 *   -m  instead of a stream, the in-memory way: one lk_invoker_map into an
 *       array of every user's results, then the file written from it
 *       (for comparison; benches/run times both)
 *   -n  do not check the file
 * The last line is machine-readable: RESULT mode=... users=... seconds=...
 * users_per_s=... peak_rss_mib=... model_mib=... above_model_mib=...
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, getopt */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lkparallel.h"
#include "mf_model.h"

#define CHECK_PIECE 65536 /* users per map when checking the file */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A field of /proc/self/status in KiB ("VmHWM", "VmRSS"), or -1. */
static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, len) && line[len] == ':') {
            kib = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

/* Start measuring the peak from here: "5" to clear_refs resets VmHWM to the
   current RSS (Linux 4.0 and later; without it VmHWM is the peak since start). */
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* ---------------------------------------------------- the stream's ends */

typedef struct job {
    int32_t n_users;
    int32_t next;     /* the next user the source hands over */
    size_t written;   /* users the sink has written */
    FILE *out;
} job;

static int32_t next_users(void *user, void *args, size_t capacity, size_t *n_filled) {
    job *j = user;
    int32_t *ids = args;
    size_t k = 0;
    while (k < capacity && j->next < j->n_users)
        ids[k++] = j->next++;
    *n_filled = k; /* 0: the stream has ended */
    return 0;
}

static int32_t write_results(void *user, size_t first, const void *results, const int32_t *item_status, size_t n) {
    job *j = user;
    (void)item_status; /* fail-fast: the sink sees only items that succeeded */
    if (first != j->written)
        return 1; /* cannot happen: results arrive in order */
    if (fwrite(results, sizeof(mf_top), n, j->out) != n)
        return 2; /* a write error fails the stream with LK_ERR_CALLBACK */
    j->written += n;
    return 0;
}

/* ---------------------------------------------------- the check */

/* Map the users again, CHECK_PIECE at a time, and compare with the file. */
static int check_file(lk_invoker *inv, const char *path, int32_t n_users) {
    FILE *f = fopen(path, "rb");
    int32_t *ids = malloc(sizeof *ids * CHECK_PIECE);
    mf_top *want = malloc(sizeof *want * CHECK_PIECE);
    mf_top *got = malloc(sizeof *got * CHECK_PIECE);
    int bad = !f || !ids || !want || !got;
    if (!f)
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
    for (int32_t base = 0; !bad && base < n_users; base += CHECK_PIECE) {
        size_t n = (size_t)(n_users - base < CHECK_PIECE ? n_users - base : CHECK_PIECE);
        for (size_t i = 0; i < n; i++)
            ids[i] = base + (int32_t)i;
        lk_map_options opts;
        lk_map_options_init(&opts, sizeof opts);
        opts.index_base = (size_t)base; /* task->index as in one map of every user */
        lk_status st = lk_invoker_map_with(inv, ids, n, sizeof *ids, want, sizeof *want, &opts);
        if (st != LK_OK) {
            fprintf(stderr, "check: lk_invoker_map_with: status %d: %s\n", (int)st, lk_last_error());
            bad = 1;
        } else if (fread(got, sizeof *got, n, f) != n) {
            fprintf(stderr, "check: %s ends before user %d\n", path, (int)base);
            bad = 1;
        } else if (memcmp(got, want, n * sizeof *got) != 0) {
            size_t i = 0;
            while (memcmp(&got[i], &want[i], sizeof *got) == 0)
                i++;
            fprintf(stderr, "check: user %d in %s differs from the map's\n", (int)(base + (int32_t)i), path);
            bad = 1;
        }
    }
    if (!bad && fgetc(f) != EOF) {
        fprintf(stderr, "check: %s has more than %d records\n", path, (int)n_users);
        bad = 1;
    }
    if (f)
        fclose(f);
    free(ids);
    free(want);
    free(got);
    return bad;
}

/* ---------------------------------------------------- main */

static long parse(const char *s, long lo, long hi, const char *what) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) {
        fprintf(stderr, "bad %s: %s (%ld .. %ld)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    int32_t n_users = 2000000, n_items = MF_N_ITEMS, n_jobs = 0;
    size_t window = 0;
    const char *path = "recommendations.bin";
    int in_memory = 0, check = 1, c;
    while ((c = getopt(argc, argv, "u:i:j:w:o:mn")) != -1) {
        switch (c) {
        case 'u': n_users = (int32_t)parse(optarg, 1, INT32_MAX, "user count"); break;
        case 'i': n_items = (int32_t)parse(optarg, 1, 10000000, "item count"); break;
        case 'j': n_jobs = (int32_t)parse(optarg, -1, 4096, "n_jobs"); break;
        case 'w': window = (size_t)parse(optarg, 0, 1L << 40, "window"); break;
        case 'o': path = optarg; break;
        case 'm': in_memory = 1; break;
        case 'n': check = 0; break;
        default:
            fprintf(stderr, "usage: %s [-u users] [-i items] [-j n_jobs] [-w window] [-o file] [-m] [-n]\n",
                    argv[0]);
            return 2;
        }
    }

    mf_model model;
    if (mf_model_init(&model, n_users, n_items, MF_N_FACTORS, MF_SEED) != 0) {
        fprintf(stderr, "out of memory building the model\n");
        return 1;
    }
    double model_mib = (double)sizeof(float) * MF_N_FACTORS *
                       ((double)n_users + (double)model.n_items_padded) / (1024.0 * 1024.0);
    lk_invoker *inv = NULL;
    lk_status st = lk_invoker_new(&model, mf_recommend_op, n_jobs, &inv);
    if (st != LK_OK) {
        fprintf(stderr, "lk_invoker_new: status %d: %s\n", (int)st, lk_last_error());
        return 1;
    }
    FILE *out = fopen(path, "wb");
    if (!out) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    int32_t workers = n_jobs == 0 ? lk_proc_count(2, 4, 0) : n_jobs == -1 ? lk_cpu_count() : n_jobs;
    printf("lkparallel %s: top-%d for %d users, %d items, %d factors; n_jobs %d (%d CPUs usable)\n",
           lk_version(), MF_TOP_N, (int)n_users, (int)n_items, MF_N_FACTORS, (int)workers, (int)lk_cpu_count());
    printf("  model: %.1f MiB; writing %s (%.1f MiB)\n", model_mib, path,
           (double)n_users * (double)sizeof(mf_top) / (1024.0 * 1024.0));

    reset_peak_rss();
    double t0 = now_s();
    if (in_memory) {
        /* The in-memory way: every user's results at once, then the file. */
        int32_t *ids = malloc(sizeof *ids * (size_t)n_users);
        mf_top *all = malloc(sizeof *all * (size_t)n_users);
        if (!ids || !all) {
            fprintf(stderr, "out of memory for %d users' results\n", (int)n_users);
            return 1;
        }
        for (int32_t u = 0; u < n_users; u++)
            ids[u] = u;
        st = lk_invoker_map(inv, ids, (size_t)n_users, sizeof *ids, all, sizeof *all);
        if (st == LK_OK && fwrite(all, sizeof *all, (size_t)n_users, out) != (size_t)n_users)
            st = LK_ERR_SYSTEM;
        free(ids);
        free(all);
    } else {
        /* The stream: user ids in, top-20 lists out to the file, in order. */
        job j = {n_users, 0, 0, out};
        lk_stream_options opts;
        lk_stream_options_init(&opts, sizeof opts);
        opts.window = window; /* 0: a few chunks per worker, at most 64 MiB */
        st = lk_invoker_stream(inv, next_users, write_results, &j, sizeof(int32_t), sizeof(mf_top), &opts);
        if (st == LK_OK && j.written != (size_t)n_users) {
            fprintf(stderr, "the sink wrote %zu of %d users\n", j.written, (int)n_users);
            st = LK_ERR_INTERNAL;
        }
    }
    if (fclose(out) != 0 && st == LK_OK)
        st = LK_ERR_SYSTEM;
    double t = now_s() - t0;
    long hwm = status_kib("VmHWM");
    if (st != LK_OK) {
        fprintf(stderr, "%s: status %d: %s\n", in_memory ? "lk_invoker_map" : "lk_invoker_stream", (int)st,
                st == LK_ERR_SYSTEM ? strerror(errno) : lk_last_error());
        return 1;
    }
    double peak_mib = (double)hwm / 1024.0;
    printf("  %-18s %10.0f users/s  (%.3f s)\n", in_memory ? "map, then write" : "stream", n_users / t, t);
    printf("  peak RSS (VmHWM) %.1f MiB: %.1f MiB above the model\n", peak_mib, peak_mib - model_mib);

    int bad = 0;
    if (check) {
        double c0 = now_s();
        bad = check_file(inv, path, n_users);
        printf("  check: %s (a plain map in pieces of %d users, %.3f s)\n",
               bad ? "FILE DIFFERS" : "file identical", CHECK_PIECE, now_s() - c0);
    }
    st = lk_invoker_shutdown(inv);
    if (st != LK_OK) {
        fprintf(stderr, "lk_invoker_shutdown: status %d: %s\n", (int)st, lk_last_error());
        bad = 1;
    }
    mf_model_free(&model);
    printf("RESULT mode=%s users=%d seconds=%.6f users_per_s=%.1f peak_rss_mib=%.2f model_mib=%.2f "
           "above_model_mib=%.2f\n",
           in_memory ? "map" : "stream", (int)n_users, t, n_users / t, peak_mib, model_mib, peak_mib - model_mib);
    return bad;
}
