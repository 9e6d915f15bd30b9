/*
 * Where a baseline-MLP training step spends its time (784 -> 3 x 100 ELU ->
 * 47, batch 100, SGD): one epoch of steps taken by hand through the same
 * internal calls mlp_model_fit makes, with a clock around each phase. The
 * dense layers' products are timed alone too (the same cblas_sgemm calls on
 * the same buffers), so a dense pass splits into its products and the rest
 * (the bias). Usage: bench_mlp_phases [threads]. Prints one table.
 *
 * With 2 or more threads these are the phases of the step split by
 * products and passes, which mlp_model_fit takes for this model only with
 * the split by rows turned off (lib/model/split.c; bench_split times the
 * two). It then prints what a pass over a buffer the size
 * of the model's parameters costs when its parts write what every part has
 * just read (as the optimizer's step writes the weights that every part's
 * products read), against the same pass when each part read only its own
 * range: the price of handing data from core to core, which every phase
 * of a split step pays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/gemm.h"
#include "core/core.h"
#include "losses/loss_impl.h"
#include "model/model_impl.h"
#include "optim/optim_impl.h"

#define BENCH_NAME "bench_mlp_phases"
#include "bench_baseline.h"
#include "bench_handover.h"
#include "bench_util.h"

enum { BATCH = 100, OUT = BASE_OUT, ROUNDS = 3 };

enum {
    P_GATHER,
    P_DENSE_FWD,
    P_DENSE_FWD_GEMM,
    P_ELU_FWD,
    P_LOSS,
    P_DENSE_BWD,
    P_DENSE_BWD_GEMM,
    P_ELU_BWD,
    P_STEP,
    P_COUNT
};
static const char *const phase_names[P_COUNT] = {
    "gather (uint8 -> float)",
    "dense forward",
    "  its products alone",
    "ELU forward",
    "softmax + xent",
    "dense backward",
    "  its products alone",
    "ELU backward",
    "SGD step",
};

/* The products of dense layer l's forward (fwd) or backward pass. */
static void dense_products(mlp_model *m, int i, int fwd, int32_t n)
{
    mlp_layer *l = m->layers[i];
    const int in = (int)l->in_size, out = (int)l->out_size;
    const float *x = i ? m->acts[i - 1] : m->xbuf;
    if (fwd) {
        mlp__sgemm(0, 0, n, out, in, 1.0f, x, in, l->params, out, 1.0f, m->acts[i], out);
        return;
    }
    mlp__sgemm(1, 0, in, out, n, 1.0f, x, in, m->gbuf[0], out, 0.0f, l->grads, out);
    if (i > 0)
        mlp__sgemm(0, 1, n, in, out, 1.0f, m->gbuf[0], out, l->params, out, 0.0f,
                   m->gbuf[1], in);
}

int main(int argc, char **argv)
{
    CHECK(mlp_set_num_threads(argc > 1 ? atoi(argv[1]) : 1));
    const char *what;
    mlp_dataset *train = bench_baseline_data(&what);
    mlp_model *m = bench_baseline_model();
    mlp_optimizer *opt = NULL;
    CHECK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    CHECK(mlp_optimizer_set_learning_rate(opt, 0.1));
    CHECK(mlp__model_reserve(m, BATCH, "bench"));
    const mlp__loss *L = NULL;
    CHECK(mlp__model_loss(m, "bench", &L));

    mlp_batcher *b = NULL;
    CHECK(mlp_batcher_create(&b, train, BATCH, 1, 1));
    const int32_t steps = mlp_dataset_size(train) / BATCH;
    double best[P_COUNT], epoch_best = 1e30;
    for (int p = 0; p < P_COUNT; p++)
        best[p] = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        double t[P_COUNT] = {0};
        double e0 = bench_now();
        for (int32_t s = 0; s < steps; s++) {
            int32_t n;
            double t0 = bench_now();
            CHECK(mlp_batcher_next_batch(b, m->xbuf, m->lbuf, NULL, &n));
            if (n == 0) /* the end of the previous epoch */
                CHECK(mlp_batcher_next_batch(b, m->xbuf, m->lbuf, NULL, &n));
            double t1 = bench_now();
            t[P_GATHER] += t1 - t0;
            const float *x = m->xbuf;
            for (int i = 0; i < m->n_layers; i++) {
                mlp_layer *li = m->layers[i];
                t0 = bench_now();
                CHECK(li->ops->forward(li, x, m->acts[i], n, MLP_MODE_TRAIN));
                t1 = bench_now();
                t[li->kind == MLP_LAYER_DENSE ? P_DENSE_FWD : P_ELU_FWD] += t1 - t0;
                x = m->acts[i];
            }
            mlp__loss_sums ls;
            memset(&ls, 0, sizeof ls);
            t0 = bench_now();
            CHECK(mlp__loss_batch(L, m->acts[m->n_layers - 1], n, OUT, m->lbuf, NULL,
                                  m->gbuf[0], &ls));
            t[P_LOSS] += bench_now() - t0;
            const float *cur = m->gbuf[0];
            for (int i = m->n_layers - 1; i >= 0; i--) {
                mlp_layer *li = m->layers[i];
                float *next = i ? (cur == m->gbuf[0] ? m->gbuf[1] : m->gbuf[0]) : NULL;
                t0 = bench_now();
                CHECK(li->ops->backward(li, i ? m->acts[i - 1] : m->xbuf, m->acts[i], cur,
                                        next, n));
                t1 = bench_now();
                t[li->kind == MLP_LAYER_DENSE ? P_DENSE_BWD : P_ELU_BWD] += t1 - t0;
                cur = next;
            }
            t0 = bench_now();
            CHECK(mlp_optimizer_step(opt));
            t[P_STEP] += bench_now() - t0;
        }
        double e = bench_now() - e0;
        /* The dense products alone, on the same buffers, one epoch's worth. */
        for (int32_t s = 0; s < steps; s++) {
            for (int i = 0; i < m->n_layers; i += 2) {
                double t0 = bench_now();
                dense_products(m, i, 1, BATCH);
                double t1 = bench_now();
                dense_products(m, i, 0, BATCH);
                t[P_DENSE_FWD_GEMM] += t1 - t0;
                t[P_DENSE_BWD_GEMM] += bench_now() - t1;
            }
        }
        if (e < epoch_best)
            epoch_best = e;
        for (int p = 0; p < P_COUNT; p++)
            if (t[p] < best[p])
                best[p] = t[p];
    }
    printf(
        "bench_mlp_phases: %s, threads %d, %d steps of %d, best of %d rounds, %s time\n",
        what, mlp_get_num_threads(), (int)steps, BATCH, ROUNDS, bench_clock_name());
    double sum = 0.0;
    for (int p = 0; p < P_COUNT; p++) {
        printf("  %-26s %8.1f ms  %5.1f%%\n", phase_names[p], best[p] * 1e3,
               100.0 * best[p] / epoch_best);
        if (p != P_DENSE_FWD_GEMM && p != P_DENSE_BWD_GEMM)
            sum += best[p];
    }
    printf("  %-26s %8.1f ms\n  %-26s %8.1f ms\n", "sum of the phases", sum * 1e3,
           "epoch (timers included)", epoch_best * 1e3);
    if (mlp_get_num_threads() > 1)
        bench_handover_print(mlp_model_param_count(m));
    mlp_batcher_destroy(b);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    return 0;
}
