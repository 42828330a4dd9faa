/*
 * mf_model.h: a matrix-factorisation recommender model and its top-N
 * operation, shared by examples/batch_recommend.c and benches/.
 *
 * Header-only (static functions) so the example stays one C file plus this
 * header. The model is generated from a fixed seed by a small PRNG of our own
 * (splitmix64), so every run, on every machine, scores the same numbers.
 *
 * Scoring is deterministic to the bit: each score is summed over the factors
 * in the same order whoever calls it, and the top-N selection breaks ties by
 * the lower item id, so a parallel run must reproduce the sequential output
 * exactly and the example can compare them with memcmp.
 */
#ifndef LK_EXAMPLES_MF_MODEL_H
#define LK_EXAMPLES_MF_MODEL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkparallel.h"

#define MF_N_USERS 20000
#define MF_N_ITEMS 10000
#define MF_N_FACTORS 64
#define MF_TOP_N 20
#define MF_SEED UINT64_C(0x5eed1e55c0ffee01)

/* Items are scored in blocks of MF_BLOCK so the block's scores stay in L1
   and the inner loop has a constant trip count (gcc -O2 vectorises it). */
#define MF_BLOCK 256

typedef struct mf_model {
    int32_t n_users;
    int32_t n_items;
    int32_t n_factors;
    int32_t n_items_padded;  /* n_items rounded up to MF_BLOCK; padding is zero */
    float *user_factors;     /* n_users x n_factors, row-major */
    float *item_factors_t;   /* n_factors x n_items_padded: factor-major, so one
                                user's scores are a vectorisable axpy per factor */
} mf_model;

/* One recommended item. */
typedef struct mf_scored {
    int32_t item;
    float score;
} mf_scored;

/* The fixed-size result record of one user: best first. Slots past the
   number of items (only when n_items < MF_TOP_N) hold item -1, score -inf. */
typedef struct mf_top {
    mf_scored top[MF_TOP_N];
} mf_top;

static inline uint64_t mf_splitmix64(uint64_t *state) {
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1), 24 bits of precision. */
static inline float mf_uniform_pm1(uint64_t *state) {
    return (float)(mf_splitmix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

/* Build a model of n_users x n_items with n_factors from `seed`.
   Returns 0, or -1 when memory runs out (the model is then left empty). */
static inline int mf_model_init(mf_model *m, int32_t n_users, int32_t n_items, int32_t n_factors,
                         uint64_t seed) {
    memset(m, 0, sizeof *m);
    int32_t padded = (n_items + MF_BLOCK - 1) / MF_BLOCK * MF_BLOCK;
    m->user_factors = malloc(sizeof(float) * (size_t)n_users * (size_t)n_factors);
    m->item_factors_t = calloc((size_t)n_factors * (size_t)padded, sizeof(float));
    if (!m->user_factors || !m->item_factors_t) {
        free(m->user_factors);
        free(m->item_factors_t);
        memset(m, 0, sizeof *m);
        return -1;
    }
    m->n_users = n_users;
    m->n_items = n_items;
    m->n_factors = n_factors;
    m->n_items_padded = padded;
    uint64_t state = seed;
    float scale = 1.0f / sqrtf((float)n_factors);
    for (size_t i = 0; i < (size_t)n_users * (size_t)n_factors; i++)
        m->user_factors[i] = mf_uniform_pm1(&state);
    /* Items get a popularity that varies by item, like real data, so the top
       lists are not uniformly random. */
    for (int32_t j = 0; j < n_items; j++) {
        float pop = 0.5f + 0.5f * (mf_uniform_pm1(&state) + 1.0f);
        for (int32_t k = 0; k < n_factors; k++)
            m->item_factors_t[(size_t)k * padded + j] = pop * scale * mf_uniform_pm1(&state);
    }
    return 0;
}

static inline void mf_model_free(mf_model *m) {
    free(m->user_factors);
    free(m->item_factors_t);
    memset(m, 0, sizeof *m);
}

/* Scores of `user` for items j0 .. j0+MF_BLOCK-1 (padding items score 0).
   Each score sums its factors in order k = 0, 1, ...: the same bits every time. */
static inline void mf_score_block(const mf_model *m, const float *u, int32_t j0,
                                  float *restrict scores) {
    for (int j = 0; j < MF_BLOCK; j++)
        scores[j] = 0.0f;
    const float *col = m->item_factors_t + j0;
    const size_t stride = (size_t)m->n_items_padded;
    int32_t k = 0;
    /* Four factors per pass over the block: a quarter of the loads and stores
       of `scores`, and still the sum in order k, k+1, k+2, k+3. */
    for (; k + 4 <= m->n_factors; k += 4) {
        const float u0 = u[k], u1 = u[k + 1], u2 = u[k + 2], u3 = u[k + 3];
        const float *restrict r0 = col + (size_t)k * stride;
        const float *restrict r1 = r0 + stride;
        const float *restrict r2 = r1 + stride;
        const float *restrict r3 = r2 + stride;
        for (int j = 0; j < MF_BLOCK; j++) {
            float s = scores[j];
            s += u0 * r0[j];
            s += u1 * r1[j];
            s += u2 * r2[j];
            s += u3 * r3[j];
            scores[j] = s;
        }
    }
    for (; k < m->n_factors; k++) {
        const float uk = u[k];
        const float *row = col + (size_t)k * stride;
        for (int j = 0; j < MF_BLOCK; j++)
            scores[j] += uk * row[j];
    }
}

/* The top-MF_TOP_N items of `user`, best first, ties to the lower item id.
   A partial selection: a sorted list of the best so far, and a new item
   enters only when it beats the current last one. Items arrive in increasing
   id, so an equal score never displaces an earlier (lower) id. */
static inline void mf_recommend_user(const mf_model *m, int32_t user, mf_top *out) {
    const float *u = m->user_factors + (size_t)user * m->n_factors;
    float best_s[MF_TOP_N];
    int32_t best_i[MF_TOP_N];
    int kept = 0;
    float scores[MF_BLOCK];
    for (int32_t j0 = 0; j0 < m->n_items; j0 += MF_BLOCK) {
        mf_score_block(m, u, j0, scores);
        int32_t nb = m->n_items - j0 < MF_BLOCK ? m->n_items - j0 : MF_BLOCK;
        for (int32_t j = 0; j < nb; j++) {
            float s = scores[j];
            if (kept == MF_TOP_N && !(s > best_s[MF_TOP_N - 1]))
                continue;
            int pos = kept < MF_TOP_N ? kept++ : MF_TOP_N - 1;
            while (pos > 0 && best_s[pos - 1] < s) {
                best_s[pos] = best_s[pos - 1];
                best_i[pos] = best_i[pos - 1];
                pos--;
            }
            best_s[pos] = s;
            best_i[pos] = j0 + j;
        }
    }
    for (int r = 0; r < MF_TOP_N; r++) {
        out->top[r].item = r < kept ? best_i[r] : -1;
        out->top[r].score = r < kept ? best_s[r] : -INFINITY;
    }
}

/* The lk_op_fn: model = mf_model *, arg = int32_t user id, result = mf_top.
   Returns 1 for a user id out of range (the map then reports LK_ERR_CALLBACK). */
static inline int32_t mf_recommend_op(const void *model, const void *arg, void *result,
                               const lk_task *task) {
    (void)task;
    const mf_model *m = model;
    int32_t user = *(const int32_t *)arg;
    if (user < 0 || user >= m->n_users)
        return 1;
    mf_recommend_user(m, user, result);
    return 0;
}

#endif /* LK_EXAMPLES_MF_MODEL_H */
