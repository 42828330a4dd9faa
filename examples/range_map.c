/*
 * range_map: the C range form, for items so cheap that a function call
 * per item would cost as much as the item.
 *
 * The job: prepare 10,000,000 ratings for training, as LensKit's
 * crossfold does: centre each rating on the global mean and scale it, and
 * put it in one of 5 folds at random -- reproducibly, whatever n_jobs is.
 *
 * An item function (lk_op_fn) is called once per rating. A *range
 * function* (lk_invoker_options.range_func) is called once per contiguous
 * range of ratings and runs the loop itself, so the compiler sees the loop
 * and the body together: it inlines the body and vectorises what it can
 * (here: blocks of a constant BLOCK ratings, which gcc -O2 vectorises).
 * In the loop:
 *   - lk_range_seed(range, i) is the seed item i would get as task->seed
 *     through an item function: the fold is drawn from it, so the folds
 *     depend on the seed and the index only, never on the scheduling;
 *   - lk_range_stopped(range) turns non-zero once the map is failing or
 *     cancelled: a long range checks it once per block and stops early;
 *   - a bad rating (outside 0.5 .. 5, or NaN) fails its item: the range
 *     writes the results before it, sets range->failed to its index and
 *     returns a code, and the map returns LK_ERR_CALLBACK naming it.
 *
 * The program checks every output against a plain sequential loop (values)
 * and against the same map through an item function and through n_jobs 1
 * (folds: the same seeds everywhere), then shows a failing map.
 *
 * Usage: range_map [n_ratings] [n_jobs]   (defaults 10000000 and 0, LensKit's
 * default: lk_proc_count(2, 4, 0); LK_NUM_PROCS overrides it)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lkparallel.h"

#define N_FOLDS 5
#define BLOCK 256 /* ratings per block: a constant trip count that gcc -O2 vectorises */
#define SEED UINT64_C(20240601)

/* The model every item reads: the global mean and scale. */
typedef struct stats {
    float mean;
    float scale; /* 1 / standard deviation */
} stats;

/* One prepared rating. */
typedef struct prepared {
    float value; /* (rating - mean) * scale */
    int32_t fold;
} prepared;

static int valid(float r) { return r >= 0.5f && r <= 5.0f; } /* false for NaN too */

/* One rating: the body, shared by the range loop's tail and the item function. */
static void prepare_one(const stats *s, float r, uint64_t seed, prepared *out) {
    out->value = (r - s->mean) * s->scale;
    out->fold = (int32_t)(seed % N_FOLDS);
}

/* A full block: the validity test and the arithmetic are loops of a
   constant BLOCK iterations over plain arrays, which the compiler
   vectorises; the folds need one seed each. Returns 0, or 1 when some
   rating in the block is bad (nothing written then). */
static int prepare_block(const stats *s, const float *restrict r, prepared *restrict out, const lk_range *range,
                         size_t first) {
    int ok = 1;
    for (size_t i = 0; i < BLOCK; i++)
        ok &= (r[i] >= 0.5f) & (r[i] <= 5.0f);
    if (!ok)
        return 1;
    const float mean = s->mean, scale = s->scale;
    for (size_t i = 0; i < BLOCK; i++)
        out[i].value = (r[i] - mean) * scale;
    for (size_t i = 0; i < BLOCK; i++)
        out[i].fold = (int32_t)(lk_range_seed(range, first + i) % N_FOLDS);
    return 0;
}

/* The range function: ratings range->begin .. range->end - 1 (task
   indices); `args` and `results` point at the first of them. */
static int32_t prepare_range(const void *model, const void *args, void *results, lk_range *range) {
    const stats *s = model;
    const float *r = args;
    prepared *out = results;
    const size_t n = range->end - range->begin;
    for (size_t b = 0; b < n; b += BLOCK) {
        if (lk_range_stopped(range)) {
            range->failed = range->begin + b; /* the first item not done */
            return LK_RANGE_STOPPED;          /* those count as not run */
        }
        if (n - b >= BLOCK && prepare_block(s, r + b, out + b, range, range->begin + b) == 0)
            continue;
        /* the tail, or a block with a bad rating: one at a time */
        size_t end = n - b < BLOCK ? n : b + BLOCK;
        for (size_t i = b; i < end; i++) {
            if (!valid(r[i])) {
                range->failed = range->begin + i; /* results before it are written */
                return 1;
            }
            prepare_one(s, r[i], lk_range_seed(range, range->begin + i), &out[i]);
        }
    }
    return 0;
}

/* The same body as an item function, for comparison. */
static int32_t prepare_item(const void *model, const void *arg, void *result, const lk_task *task) {
    float r = *(const float *)arg;
    if (!valid(r))
        return 1;
    prepare_one(model, r, task->seed, result);
    return 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One map of `ratings` through a new invoker (a range invoker when `range`
   is set) after lk_seed_init(SEED), so every run gets the same seeds.
   Returns the status; *secs is the map's time. */
static lk_status run_map(const stats *s, int range, int32_t n_jobs, const float *ratings, size_t n, prepared *out,
                         double *secs) {
    lk_seed_init(SEED);
    lk_invoker_options opts;
    lk_invoker_options_init(&opts, sizeof opts);
    opts.n_jobs = n_jobs;
    if (range)
        opts.range_func = prepare_range;
    lk_invoker *inv = NULL;
    lk_status st = lk_invoker_new_with(s, range ? NULL : prepare_item, &opts, &inv);
    if (st != LK_OK) {
        fprintf(stderr, "lk_invoker_new_with: status %d: %s\n", (int)st, lk_last_error());
        return st;
    }
    double t0 = now_s();
    st = lk_invoker_map(inv, ratings, n, sizeof *ratings, out, sizeof *out);
    *secs = now_s() - t0;
    lk_invoker_shutdown(inv);
    return st;
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
    int32_t n_jobs = argc > 2 ? (int32_t)atoi(argv[2]) : 0;
    if (n < 1) {
        fprintf(stderr, "usage: %s [n_ratings >= 1] [n_jobs]\n", argv[0]);
        return 2;
    }
    float *ratings = malloc(n * sizeof *ratings);
    prepared *ref = malloc(n * sizeof *ref), *out = malloc(n * sizeof *out), *other = malloc(n * sizeof *other);
    if (!ratings || !ref || !out || !other) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    /* Ratings 0.5 .. 5 in half stars, from a fixed generator. */
    uint64_t x = 1;
    for (size_t i = 0; i < n; i++) {
        x = x * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        ratings[i] = 0.5f * (float)(1 + (x >> 33) % 10);
    }
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += ratings[i];
        sq += (double)ratings[i] * ratings[i];
    }
    double var = sq / (double)n - (sum / (double)n) * (sum / (double)n);
    stats s = {(float)(sum / (double)n), var > 0 ? (float)(1.0 / sqrt(var)) : 1.0f};
    int32_t workers = n_jobs == 0 ? lk_proc_count(2, 4, 0) : n_jobs == -1 ? lk_cpu_count() : n_jobs;
    printf("lkparallel %s: %zu ratings, mean %.4f, n_jobs %d\n", lk_version(), n, s.mean, (int)workers);

    /* The sequential reference for the values: a plain loop. */
    double t0 = now_s();
    for (size_t i = 0; i < n; i++)
        ref[i].value = (ratings[i] - s.mean) * s.scale;
    double t_seq = now_s() - t0;

    int failed = 0;
    double t_range = 0, t_item = 0, t_one = 0;
    if (run_map(&s, 1, n_jobs, ratings, n, out, &t_range) != LK_OK ||
        run_map(&s, 0, n_jobs, ratings, n, other, &t_item) != LK_OK) {
        fprintf(stderr, "map failed: %s\n", lk_last_error());
        return 1;
    }
    size_t count[N_FOLDS] = {0};
    for (size_t i = 0; i < n; i++) {
        if (out[i].value != ref[i].value || out[i].fold < 0 || out[i].fold >= N_FOLDS) {
            fprintf(stderr, "rating %zu: (%g, fold %d), the sequential loop gives %g\n", i, out[i].value,
                    (int)out[i].fold, ref[i].value);
            return 1;
        }
        count[out[i].fold]++;
    }
    /* The same seeds through an item function (task->seed == lk_range_seed)... */
    if (memcmp(out, other, n * sizeof *out) != 0) {
        fprintf(stderr, "the range map and the item map differ\n");
        failed = 1;
    }
    /* ... and with n_jobs 1: the folds do not depend on the scheduling. */
    if (run_map(&s, 1, 1, ratings, n, other, &t_one) != LK_OK || memcmp(out, other, n * sizeof *out) != 0) {
        fprintf(stderr, "the range map with n_jobs 1 differs\n");
        failed = 1;
    }
    printf("  %-34s %8.1f M ratings/s\n", "sequential loop (values only)", n / t_seq / 1e6);
    printf("  %-34s %8.1f M ratings/s\n", "range function (lk_range)", n / t_range / 1e6);
    printf("  %-34s %8.1f M ratings/s\n", "item function (lk_op_fn)", n / t_item / 1e6);
    printf("  folds:");
    /* Each fold holds about n / 5 ratings (within 5 standard deviations). */
    double expect = (double)n / N_FOLDS, sd = sqrt((double)n * 0.2 * 0.8);
    for (int f = 0; f < N_FOLDS; f++) {
        printf(" %zu", count[f]);
        if (fabs((double)count[f] - expect) > 5 * sd + 1)
            failed = 1;
    }
    printf("%s\n", failed ? "  UNEXPECTED" : "");

    /* A bad rating fails its item; the other ranges stop at their next block. */
    size_t bad = n / 2;
    ratings[bad] = NAN;
    double t_fail;
    lk_status st = run_map(&s, 1, n_jobs, ratings, n, other, &t_fail);
    char want[64];
    snprintf(want, sizeof want, "%zu", bad);
    printf("  with rating %zu set to NaN: status %d, \"%s\"\n", bad, (int)st, lk_last_error());
    if (st != LK_ERR_CALLBACK || !strstr(lk_last_error(), want)) {
        fprintf(stderr, "expected LK_ERR_CALLBACK naming item %zu\n", bad);
        failed = 1;
    }

    free(ratings);
    free(ref);
    free(out);
    free(other);
    if (failed) {
        fprintf(stderr, "FAILED\n");
        return 1;
    }
    printf("ok: values equal the sequential loop's; the same folds through an item function and n_jobs 1\n");
    return 0;
}
