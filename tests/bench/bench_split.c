/*
 * The library's 2-thread training step against the other way to use two
 * threads: splitting each batch between them, as KANN's kann_mt does.
 * Baseline MLP (784 -> 3 x 100 ELU -> 47, batch 100, SGD), the same
 * shuffled order for every epoch, three kinds of epoch in each round:
 *
 *   - the library's step (mlp__model_train_step) at 1 thread and at 2: its
 *     products and element passes split across the pool, each phase over
 *     the whole batch;
 *   - the split step at 2 threads: each thread gathers its half of the
 *     batch and runs forward, loss and backward on it alone through the
 *     layers' own operations (whose products then run single-threaded,
 *     50 rows at a time) into its own gradient buffer; then one pass, split
 *     by parameters, sums the two gradients and takes the SGD step;
 *   - the same split step at 1 thread (both halves, one after the other):
 *     what halving the batch costs the products, apart from any thread.
 *
 * The split step's second half runs on a second model of the same network
 * whose layers read the first model's parameters, so both halves read the
 * same weights, as they would in one model. Its gradient is the batch
 * mean's, like the library's (each half's loss gradient scaled by its
 * share of the batch); the bits differ (the halves are summed apart).
 *
 * Rounds interleave the four so that a drift of the machine's speed touches
 * all alike; the figures are medians. Wall time. Usage: bench_split
 * [rounds].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/pool.h"
#include "backend/threads.h"
#include "core/core.h"
#include "losses/loss_impl.h"
#include "model/model_impl.h"

#define BENCH_NAME "bench_split"
#include "bench_baseline.h"
#include "bench_handover.h"
#include "bench_util.h"

enum { BATCH = 100, PARTS = 2, MAX_ROUNDS = 20 };

enum { LIB1, LIB2, SPLIT2, SPLIT1, KINDS };

static const char *const kind_names[KINDS] = {
    "library step, 1 thread", "library step, 2 threads", "split step, 2 threads",
    "split step, 1 thread"};

/* A split step: models[t] trains on part t of the batch at `idx`. */
typedef struct split_job {
    mlp_model *models[PARTS];
    const mlp_dataset *ds;
    const int32_t *idx;
    const mlp__loss *loss;
    float lr;
} split_job;

/* Forward, loss and backward of part t (gathered here) into models[t]'s
 * gradients. Called inside a part of the pool, every call it makes runs
 * on this thread. */
static void half_step(void *arg, int64_t t0, int64_t t1)
{
    const split_job *j = arg;
    for (int64_t t = t0; t < t1; t++) {
        const int32_t lo = (int32_t)(BATCH * t / PARTS),
                      n = (int32_t)(BATCH * (t + 1) / PARTS) - lo;
        mlp_model *m = j->models[t];
        CHECK(mlp_dataset_gather(j->ds, j->idx + lo, n, m->xbuf, m->lbuf));
        const float *x = m->xbuf;
        for (int i = 0; i < m->n_layers; i++) {
            mlp_layer *l = m->layers[i];
            CHECK(l->ops->forward(l, x, m->acts[i], n, MLP_MODE_TRAIN));
            x = m->acts[i];
        }
        mlp__loss_sums s;
        memset(&s, 0, sizeof s);
        const int32_t k = BASE_OUT;
        CHECK(mlp__loss_batch(j->loss, m->acts[m->n_layers - 1], n, k, m->lbuf, NULL,
                              m->gbuf[0], &s));
        const float share = (float)n / (float)BATCH; /* this half's part of the mean */
        for (int64_t e = 0; e < (int64_t)n * k; e++)
            m->gbuf[0][e] *= share;
        const float *cur = m->gbuf[0];
        for (int i = m->n_layers - 1; i >= 0; i--) {
            mlp_layer *l = m->layers[i];
            float *next = i ? (cur == m->gbuf[0] ? m->gbuf[1] : m->gbuf[0]) : NULL;
            CHECK(l->ops->backward(l, i ? m->acts[i - 1] : m->xbuf, m->acts[i], cur, next,
                                   n));
            cur = next;
        }
    }
}

/* Parameters [lo, hi): the two gradients summed and the SGD step taken in
 * one pass (the split's best case: no second pass over the gradient). */
static void sum_and_step(void *arg, int64_t lo, int64_t hi)
{
    const split_job *j = arg;
    float *p = j->models[0]->params, *g = j->models[0]->grads;
    const float *g1 = j->models[1]->grads, lr = j->lr;
    for (int64_t r = lo; r < hi; r++) {
        g[r] += g1[r];
        p[r] -= lr * g[r];
    }
}

/* Seconds of one epoch of `kind` over the order `idx` (steps batches). */
static double epoch(int kind, split_job *j, mlp_optimizer *opt, int32_t steps)
{
    CHECK(mlp_set_num_threads(kind == LIB1 || kind == SPLIT1 ? 1 : 2));
    mlp_model *m = j->models[0];
    const int32_t *order = j->idx;
    const double t0 = bench_now();
    for (int32_t s = 0; s < steps; s++) {
        const int32_t *idx = order + (int64_t)s * BATCH;
        if (kind == LIB1 || kind == LIB2) {
            CHECK(mlp_dataset_gather(j->ds, idx, BATCH, m->xbuf, m->lbuf));
            CHECK(mlp__model_train_step(m, opt, m->lbuf, NULL, BATCH, NULL, NULL));
        } else {
            j->idx = idx;
            mlp__pool_for(PARTS, 1, 1, half_step, j);
            mlp__pool_for(m->n_params, mlp__pool_grain(1, MLP_POOL_MIN), 16, sum_and_step,
                          j);
        }
    }
    const double t = bench_now() - t0;
    j->idx = order;
    return t;
}

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "%s: rounds must be 1..%d\n", BENCH_NAME, (int)MAX_ROUNDS);
        return 1;
    }
    if (bench_cpu_clock()) {
        printf("%s: not measured on the CPU clock (it counts both threads)\n",
               BENCH_NAME);
        return 0;
    }
    const char *what;
    mlp_dataset *train = bench_baseline_data(&what);
    mlp_model *m0 = bench_baseline_model(), *m1 = bench_baseline_model();
    const float lr = 0.01f;
    mlp_optimizer *opt = NULL;
    CHECK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m0));
    CHECK(mlp_optimizer_set_learning_rate(opt, lr));
    CHECK(mlp__model_reserve(m0, BATCH));
    CHECK(mlp__model_reserve(m1, BATCH));
    for (int i = 0; i < m0->n_layers; i++) /* m1's layers read m0's weights */
        m1->layers[i]->params = m0->layers[i]->params;
    const mlp__loss *loss = NULL;
    CHECK(mlp__model_loss(m0, BENCH_NAME, &loss));

    const int32_t n = mlp_dataset_size(train), steps = n / BATCH;
    int32_t *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return 1;
    mlp_rng rng;
    mlp__rng_seed(&rng, 7);
    for (int32_t i = 0; i < n; i++)
        order[i] = i;
    mlp__rng_shuffle(&rng, order, n);

    split_job j = {{m0, m1}, train, order, loss, lr};
    double t[KINDS][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < KINDS; k++)
            t[k][r] = epoch(k, &j, opt, steps);

    printf("%s: %s, batch %d, %d steps an epoch, median of %d rounds, wall time\n",
           BENCH_NAME, what, BATCH, (int)steps, rounds);
    double med[KINDS];
    for (int k = 0; k < KINDS; k++) {
        med[k] = bench_median(t[k], rounds);
        printf("  %-26s %7.1f ms an epoch (%.1f-%.1f)\n", kind_names[k], med[k] * 1e3,
               t[k][0] * 1e3, t[k][rounds - 1] * 1e3); /* sorted by the median */
    }
    printf("  2 threads against 1: library %.2fx, split %.2fx (against its own 1-thread "
           "step)\n",
           med[LIB1] / med[LIB2], med[SPLIT1] / med[SPLIT2]);
    printf("  split step at 2 threads against the library's: %.2fx the time;\n"
           "  halving the batch costs the split %.2fx the library's 1-thread step\n",
           med[SPLIT2] / med[LIB2], med[SPLIT1] / med[LIB1]);
    CHECK(mlp_set_num_threads(2));
    bench_handover_print(mlp_model_param_count(m0));

    free(order);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m1);
    mlp_model_destroy(m0);
    mlp_dataset_destroy(train);
    return 0;
}
