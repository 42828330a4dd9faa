/*
 * batch_recommend: top-20 recommendations for every user of a
 * matrix-factorisation model, through lkparallel, as LensKit's
 * batch.recommend does with its invoker.
 *
 *   model   = the MF model (20,000 users x 64 factors, 10,000 items x 64
 *             factors, float, generated from a fixed seed; see mf_model.h)
 *   args    = user ids (int32_t)
 *   results = one fixed-size record per user: 20 (item, score), best first
 *
 * It runs a plain sequential loop first as the reference (and checks a
 * sample of it against a full sort), then the same batch through
 * lk_invoker_map with n_jobs 1, with the default (n_jobs 0, which is
 * lk_proc_count(2, 4, 0) as in LensKit), and, when the default leaves CPUs
 * idle, with n_jobs -1 (every usable CPU). Every output must equal the
 * sequential one byte for byte; otherwise it exits with status 1.
 *
 * Usage: batch_recommend [n_users]   (default 20000; smaller for a quick run)
 * Environment: LK_NUM_PROCS sets the default worker count, as in LensKit.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lkparallel.h"
#include "mf_model.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Check the partial selection against a full sort for one user. */
static int cmp_scored(const void *a, const void *b) {
    const mf_scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->item > y->item) - (x->item < y->item);
}

static int check_by_full_sort(const mf_model *m, int32_t user, const mf_top *got) {
    mf_scored *all = malloc(sizeof *all * (size_t)m->n_items_padded);
    if (!all)
        return -1;
    float scores[MF_BLOCK];
    const float *u = m->user_factors + (size_t)user * m->n_factors;
    for (int32_t j0 = 0; j0 < m->n_items; j0 += MF_BLOCK) {
        mf_score_block(m, u, j0, scores);
        for (int32_t j = 0; j < MF_BLOCK && j0 + j < m->n_items; j++) {
            all[j0 + j].item = j0 + j;
            all[j0 + j].score = scores[j];
        }
    }
    qsort(all, (size_t)m->n_items, sizeof *all, cmp_scored);
    int bad = 0;
    for (int r = 0; r < MF_TOP_N && r < m->n_items; r++)
        if (all[r].item != got->top[r].item || all[r].score != got->top[r].score)
            bad = 1;
    free(all);
    return bad;
}

/* One batch through an invoker with `n_jobs`; returns its time, or < 0 on failure. */
static double run_invoker(const mf_model *m, int32_t n_jobs, const int32_t *users,
                          size_t n_users, mf_top *out) {
    lk_invoker *inv = NULL;
    lk_status st = lk_invoker_new(m, mf_recommend_op, n_jobs, &inv);
    if (st != LK_OK) {
        fprintf(stderr, "lk_invoker_new(n_jobs %d): status %d: %s\n", (int)n_jobs, (int)st,
                lk_last_error());
        return -1.0;
    }
    double t0 = now_s();
    st = lk_invoker_map(inv, users, n_users, sizeof *users, out, sizeof *out);
    double t = now_s() - t0;
    if (st != LK_OK) {
        fprintf(stderr, "lk_invoker_map(n_jobs %d): status %d: %s\n", (int)n_jobs, (int)st,
                lk_last_error());
        t = -1.0;
    }
    lk_status sst = lk_invoker_shutdown(inv);
    if (sst != LK_OK) {
        fprintf(stderr, "lk_invoker_shutdown: status %d: %s\n", (int)sst, lk_last_error());
        t = -1.0;
    }
    return t;
}

int main(int argc, char **argv) {
    int32_t n_users = MF_N_USERS;
    if (argc > 1) {
        char *end;
        long v = strtol(argv[1], &end, 10);
        if (*end || v < 1 || v > MF_N_USERS) {
            fprintf(stderr, "usage: %s [n_users (1..%d)]\n", argv[0], MF_N_USERS);
            return 2;
        }
        n_users = (int32_t)v;
    }

    mf_model model;
    if (mf_model_init(&model, MF_N_USERS, MF_N_ITEMS, MF_N_FACTORS, MF_SEED) != 0) {
        fprintf(stderr, "out of memory building the model\n");
        return 1;
    }
    int32_t *users = malloc(sizeof *users * (size_t)n_users);
    mf_top *ref = malloc(sizeof *ref * (size_t)n_users);
    mf_top *out = malloc(sizeof *out * (size_t)n_users);
    if (!users || !ref || !out) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int32_t i = 0; i < n_users; i++)
        users[i] = i;

    printf("lkparallel %s: top-%d for %d users, %d items, %d factors (%d CPUs usable)\n",
           lk_version(), MF_TOP_N, (int)n_users, MF_N_ITEMS, MF_N_FACTORS, (int)lk_cpu_count());

    /* The sequential reference: a plain loop over the same operation. */
    double t0 = now_s();
    for (int32_t i = 0; i < n_users; i++) {
        lk_task task = {(size_t)i, 0, 0, 0};
        if (mf_recommend_op(&model, &users[i], &ref[i], &task) != 0) {
            fprintf(stderr, "sequential run failed at user %d\n", (int)i);
            return 1;
        }
    }
    double t_seq = now_s() - t0;
    for (int32_t i = 0; i < n_users; i += 997) {
        int bad = check_by_full_sort(&model, users[i], &ref[i]);
        if (bad) {
            fprintf(stderr, "user %d: top-%d differs from a full sort\n", (int)users[i], MF_TOP_N);
            return 1;
        }
    }
    printf("  %-28s %10.0f users/s  (%.3f s)\n", "sequential loop", n_users / t_seq, t_seq);
    printf("    user 0: item %d (%.4f), item %d (%.4f), item %d (%.4f), ...\n",
           (int)ref[0].top[0].item, ref[0].top[0].score, (int)ref[0].top[1].item,
           ref[0].top[1].score, (int)ref[0].top[2].item, ref[0].top[2].score);

    int32_t dflt = lk_proc_count(2, 4, 0);
    int32_t all = lk_cpu_count();
    struct {
        int32_t n_jobs;
        const char *what;
    } runs[3] = {{1, "n_jobs 1"}, {0, "default"}, {-1, "every CPU"}};
    int n_runs = dflt == all ? 2 : 3;

    int failed = 0;
    double t_one = 0.0;
    for (int r = 0; r < n_runs; r++) {
        int32_t workers = runs[r].n_jobs == 0 ? dflt : runs[r].n_jobs == -1 ? all : 1;
        memset(out, 0xa5, sizeof *out * (size_t)n_users);
        double t = run_invoker(&model, runs[r].n_jobs, users, (size_t)n_users, out);
        if (t < 0) {
            failed = 1;
            continue;
        }
        int same = memcmp(out, ref, sizeof *out * (size_t)n_users) == 0;
        char label[64];
        snprintf(label, sizeof label, "lk_invoker_map %s (%d)", runs[r].what, (int)workers);
        if (r == 0)
            t_one = t;
        printf("  %-28s %10.0f users/s  (%.3f s)  speed-up %.2fx vs n_jobs 1, %.2fx vs sequential  %s\n",
               label, n_users / t, t, t_one / t, t_seq / t,
               same ? "output identical" : "OUTPUT DIFFERS");
        if (!same)
            failed = 1;
    }
    if (dflt < all)
        printf("  (the default n_jobs is lk_proc_count(2, 4, 0) = %d, LensKit's rule of half the "
               "CPUs; set LK_NUM_PROCS to choose)\n",
               (int)dflt);

    /* Speed-ups need idle CPUs: say so when other work was running. */
    FILE *la = fopen("/proc/loadavg", "r");
    double load = 0.0;
    if (la) {
        if (fscanf(la, "%lf", &load) == 1 && load > 0.5 * all)
            printf("  (load average %.2f on %d CPUs: other work shared them, so the speed-ups "
                   "above are lower than on an idle machine)\n",
                   load, (int)all);
        fclose(la);
    }

    free(users);
    free(ref);
    free(out);
    mf_model_free(&model);
    if (failed) {
        fprintf(stderr, "FAILED: an lkparallel run did not match the sequential reference\n");
        return 1;
    }
    printf("ok: every lkparallel output equals the sequential reference\n");
    return 0;
}
