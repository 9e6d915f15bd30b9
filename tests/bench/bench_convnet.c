/*
 * The 32/64-map ConvNet of examples/convnets.c (conv 3x3 32 maps pad 1 no
 * bias -> spatial batch norm -> ReLU -> 2x2 max pool; the same with 64 maps;
 * dense 128 ReLU; dense 47 with softmax cross-entropy) on 28x28 inputs at
 * batch 100: training-step GFLOP/s next to a large cblas_sgemm measured in
 * the same run (before and after the steps; the higher of the two), at 1
 * and 2 threads, and the time of each layer's forward and backward pass and
 * of the optimizer step (the profile by phase). A ceiling comes with it:
 * the step's matrix products alone, on the largest shapes an im2col
 * formulation gives them (each conv layer's whole batch as one product),
 * with no im2col, no copy and no element pass. Last, 2 threads against 1
 * on one model with the two counts side by side in rounds (interleaved),
 * which a change of the host's speed between the two runs does not skew;
 * the range of its rounds shows whether the speed changed within it.
 * Usage: bench_convnet [steps [threads...]] (default 30 steps, threads 1 2).
 * BENCH_CPU_CLOCK=1 in the environment times CPU time (bench_now).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/gemm.h"
#include "core/core.h"
#include "layers/layer_impl.h"
#include "mlpnet/mlpnet.h"
#include "model/model_impl.h"

#define BENCH_NAME "bench_convnet"
#include "bench_util.h"

enum { BATCH = 100, CLASSES = 47, LAYERS = 11, BIG = 1536 };

/* The interleaved 2-against-1 figure: rounds of blocks of steps. */
enum { ROUNDS = 9, BLOCK = 10 };

static void add(mlp_model *m, mlp_layer *l)
{
    CHECK(mlp_model_add(m, l));
}

static void conv_block(mlp_model *m, int32_t filters)
{
    mlp_layer *l = NULL;
    CHECK(mlp_layer_create_conv2d(&l, 0, filters, 3, 3));
    CHECK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
    CHECK(mlp_layer_set_use_bias(l, 0));
    add(m, l);
    CHECK(mlp_layer_create_batchnorm_spatial(&l));
    add(m, l);
    CHECK(mlp_layer_create_relu(&l));
    add(m, l);
    CHECK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0));
    add(m, l);
}

static mlp_model *convnet(void)
{
    mlp_model *m = NULL;
    CHECK(mlp_model_create(&m, 3, (const int32_t[]){1, 28, 28}, 1));
    conv_block(m, 32);
    conv_block(m, 64);
    mlp_layer *l = NULL;
    CHECK(mlp_layer_create_dense(&l, 128));
    add(m, l);
    CHECK(mlp_layer_create_relu(&l));
    add(m, l);
    CHECK(mlp_layer_create_dense(&l, CLASSES));
    add(m, l);
    return m;
}

/* Multiply-adds x 2 of one sample's forward pass and of its backward pass
 * (the first layer computes no input gradient). */
static void flops(mlp_model *m, double *fwd, double *bwd)
{
    *fwd = *bwd = 0.0;
    for (int i = 0; i < mlp_model_layer_count(m); i++) {
        const mlp_layer *l = mlp_model_layer(m, i);
        double f = 0.0;
        if (l->kind == MLP_LAYER_CONV2D || l->kind == MLP_LAYER_DENSE)
            f = 2.0 * (double)l->n_weights *
                (l->kind == MLP_LAYER_CONV2D ? (double)l->out.d[1] * l->out.d[2] : 1.0);
        *fwd += f;
        *bwd += i == 0 ? f : 2.0 * f;
    }
}

/* Seconds of one product C [m, n] = A [m, k] B [k, n] (beta 0, split over
 * the thread pool as the library splits it), the median of 5 after one
 * untimed run. */
static double product_seconds(int m, int n, int k)
{
    float *a = bench_floats((size_t)m * k);
    float *b = bench_floats((size_t)k * n);
    float *c = bench_floats((size_t)m * n);
    double t[5];
    mlp__sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    for (int r = 0; r < 5; r++) {
        double t0 = bench_now();
        mlp__sgemm(0, 0, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
        t[r] = bench_now() - t0;
    }
    free(a);
    free(b);
    free(c);
    return bench_median(t, 5);
}

static double big_sgemm_gflops(void)
{
    return 2.0 * BIG * BIG * (double)BIG / product_seconds(BIG, BIG, BIG) * 1e-9;
}

/* Seconds of each layer's products in one training step at batch BATCH,
 * forward into pf[i] and backward into pb[i] (0 for a layer without
 * products): a conv layer's forward product W col (F x N P x C kh kw),
 * its weight gradient dY col^T (F x C kh kw x N P) and, but for the first
 * layer, its column gradient W^T dY (C kh kw x N P x F); a dense layer's
 * three alike. Shapes alone: the transposes the layers take are left out,
 * and so is every pass that is not a product. Returns their sum. */
static double products_seconds(mlp_model *m, double *pf, double *pb)
{
    double s = 0.0;
    for (int i = 0; i < mlp_model_layer_count(m); i++) {
        const mlp_layer *l = mlp_model_layer(m, i);
        int f, k, np;
        pf[i] = pb[i] = 0.0;
        if (l->kind == MLP_LAYER_CONV2D) {
            f = l->out.d[0];
            k = (int)(l->n_weights / f);
            np = BATCH * l->out.d[1] * l->out.d[2];
        } else if (l->kind == MLP_LAYER_DENSE) {
            f = (int)l->out_size;
            k = (int)l->in_size;
            np = BATCH;
        } else {
            continue;
        }
        pf[i] = product_seconds(f, np, k);
        pb[i] = product_seconds(f, k, np) + (i > 0 ? product_seconds(k, np, f) : 0.0);
        s += pf[i] + pb[i];
    }
    return s;
}

/* What a run at one thread count measured: the median step, the products
 * alone (s) and the large sgemm (GFLOP/s). */
typedef struct run_figures {
    double step, products, big;
} run_figures;

/* The ConvNet with Adam and a batch of uniform noise and its labels, for
 * timing steps; rng goes on from the batch. */
typedef struct trainer {
    mlp_model *m;
    mlp_optimizer *opt;
    mlp_tensor *x;
    int32_t labels[BATCH];
    mlp_rng rng;
} trainer;

static void trainer_open(trainer *t)
{
    t->m = convnet();
    t->opt = NULL;
    CHECK(mlp_optimizer_create(&t->opt, MLP_RULE_ADAM, t->m));
    t->x = NULL;
    CHECK(mlp_tensor_create(&t->x, 4, (const int32_t[]){BATCH, 1, 28, 28}));
    float *xd = mlp_tensor_data(t->x);
    mlp__rng_seed(&t->rng, 7);
    for (int64_t i = 0; i < (int64_t)BATCH * 784; i++)
        xd[i] = (float)mlp__rng_uniform(&t->rng);
    for (int i = 0; i < BATCH; i++)
        t->labels[i] = i % CLASSES;
}

static void trainer_close(trainer *t)
{
    mlp_tensor_destroy(t->x);
    mlp_optimizer_destroy(t->opt);
    mlp_model_destroy(t->m);
}

/* Run `steps` training steps at `threads`. */
static run_figures run(int threads, int steps)
{
    CHECK(mlp_set_num_threads(threads));
    trainer tr;
    trainer_open(&tr);
    mlp_model *m = tr.m;
    mlp_optimizer *opt = tr.opt;
    mlp_tensor *x = tr.x;
    const int32_t *labels = tr.labels;
    float *xd = mlp_tensor_data(x);
    CHECK(mlp_model_train_step(m, opt, x, labels, NULL, NULL));

    double fwd, bwd;
    flops(m, &fwd, &bwd);
    const int nl = mlp_model_layer_count(m);
    double *t_step = calloc((size_t)steps, sizeof(double));
    double *t_f = calloc((size_t)steps * nl, sizeof(double));
    double *t_b = calloc((size_t)steps * nl, sizeof(double));
    double *t_o = calloc((size_t)steps, sizeof(double));
    /* Own activation and gradient buffers for the per-layer timing, shared
     * where the model's are: a layer that writes over its input's buffer,
     * and over its output gradient. */
    float *acts[LAYERS + 1], *grads[LAYERS + 2];
    int shared[LAYERS] = {0}, gshared[LAYERS] = {0}, fused[LAYERS + 1] = {0};
    int taker[LAYERS], relu[LAYERS]; /* mlp__model_plane_consumer of each layer */
    acts[0] = xd;
    grads[0] = grads[nl + 1] = NULL;
    for (int i = 0; i < nl; i++) {
        const mlp_layer *l = mlp_model_layer(m, i);
        shared[i] = mlp__model_writes_over_input(m, i);
        /* a ReLU the layer before applies, or a layer that takes the planes
         * of the one before (across such a ReLU) */
        fused[i] = mlp__model_fuses_relu(m, i) || mlp__model_fuses_planes(m, i);
        taker[i] = mlp__model_plane_consumer(m, i, &relu[i]);
        acts[i + 1] =
            shared[i] ? acts[i] : calloc((size_t)BATCH * l->out_size, sizeof(float));
    }
    for (int i = nl - 1; i >= 0; i--) { /* grads[i + 1]: layer i's output gradient */
        const mlp_layer *l = mlp_model_layer(m, i);
        gshared[i] = i + 1 < nl && mlp_model_layer(m, i + 1)->ops->in_place;
        grads[i + 1] = gshared[i] ? grads[i + 2]
                                  : calloc((size_t)BATCH * l->out_size, sizeof(float));
    }
    for (int64_t i = 0; i < (int64_t)BATCH * CLASSES; i++)
        grads[nl][i] = 0.01f * (float)(mlp__rng_uniform(&tr.rng) - 0.5);
    const double big_before = big_sgemm_gflops();
    double pf[LAYERS], pb[LAYERS];
    const double t_products = products_seconds(m, pf, pb);
    for (int r = 0; r < steps; r++) {
        double t0 = bench_now();
        CHECK(mlp_model_train_step(m, opt, x, labels, NULL, NULL));
        t_step[r] = bench_now() - t0;
        /* As the model runs them: a fused layer takes no time of its own. */
        for (int i = 0; i < nl; i++) {
            mlp_layer *l = mlp_model_layer(m, i);
            t0 = bench_now();
            if (taker[i] >= 0) {
                const mlp_layer *c = mlp_model_layer(m, taker[i]);
                mlp__plane_sink sink;
                c->ops->plane_sink(c, acts[taker[i] + 1], NULL, &sink);
                CHECK(l->ops->forward_planes(l, acts[i], relu[i], &sink, BATCH,
                                             MLP_MODE_TRAIN));
            } else if (relu[i]) {
                CHECK(
                    l->ops->forward_relu(l, acts[i], acts[i + 1], BATCH, MLP_MODE_TRAIN));
            } else if (!fused[i]) {
                CHECK(l->ops->forward(l, acts[i], acts[i + 1], BATCH, MLP_MODE_TRAIN));
            }
            t_f[i * steps + r] = bench_now() - t0;
        }
        for (int i = nl - 1; i >= 0; i--) {
            mlp_layer *l = mlp_model_layer(m, i);
            t0 = bench_now();
            if (taker[i] >= 0) {
                const mlp_layer *c = mlp_model_layer(m, taker[i]);
                mlp__plane_sink sink;
                c->ops->plane_sink(c, NULL, grads[taker[i] + 1], &sink);
                CHECK(l->ops->backward_planes(l, acts[i], relu[i], &sink,
                                              i ? grads[i] : NULL, BATCH));
            } else if (relu[i]) {
                CHECK(l->ops->backward_relu(l, acts[i], acts[i + 1], grads[i + 1],
                                            i ? grads[i] : NULL, BATCH));
            } else if (!fused[i]) {
                CHECK(l->ops->backward(l, acts[i], acts[i + 1], grads[i + 1],
                                       i ? grads[i] : NULL, BATCH));
            }
            t_b[i * steps + r] = bench_now() - t0;
        }
        t0 = bench_now();
        CHECK(mlp_optimizer_step(opt));
        t_o[r] = bench_now() - t0;
    }
    /* The large sgemm again after the steps: the higher of the two medians
     * is the figure, so that a slow stretch of a shared machine while one
     * of them ran does not flatter the step's share of it. */
    const double big_after = big_sgemm_gflops();
    const double t_big = big_before > big_after ? big_before : big_after;
    const double step = bench_median(t_step, steps), flop = (fwd + bwd) * BATCH;
    printf("\n%d thread%s: large sgemm (%dx%dx%d) %.1f GFLOP/s (the higher of %.1f "
           "before the steps and %.1f after)\n",
           threads, threads == 1 ? "" : "s", BIG, BIG, BIG, t_big, big_before, big_after);
    printf("  training step (batch %d, %.2f MFLOP/sample): %.2f ms, %.1f GFLOP/s = "
           "%.0f%% of large sgemm\n",
           BATCH, (fwd + bwd) * 1e-6, step * 1e3, flop / step * 1e-9,
           100.0 * flop / step * 1e-9 / t_big);
    printf("  its products alone, whole-batch shapes: %.2f ms, %.1f GFLOP/s = %.0f%% of "
           "large sgemm;\n    the step takes %.2fx their time\n",
           t_products * 1e3, flop / t_products * 1e-9,
           100.0 * flop / t_products * 1e-9 / t_big, step / t_products);
    printf("  %-3s %-10s %10s %10s   %s\n", "#", "layer", "fwd ms", "bwd ms",
           "products alone: fwd / bwd ms");
    double sum = 0.0;
    for (int i = 0; i < nl; i++) {
        const mlp_layer *l = mlp_model_layer(m, i);
        const double f = bench_median(t_f + i * steps, steps),
                     b = bench_median(t_b + i * steps, steps);
        if (fused[i])
            printf("  %-3d %-10s %21s\n", i, l->ops->name, "(in the layer before)");
        else if (pf[i] > 0.0)
            printf("  %-3d %-10s %10.3f %10.3f   %.3f / %.3f\n", i, l->ops->name, f * 1e3,
                   b * 1e3, pf[i] * 1e3, pb[i] * 1e3);
        else
            printf("  %-3d %-10s %10.3f %10.3f\n", i, l->ops->name, f * 1e3, b * 1e3);
        sum += f + b;
    }
    const double o = bench_median(t_o, steps);
    printf("  optimizer step %.3f ms; layers + optimizer %.3f ms; the rest of the step "
           "(loss, copies) %.3f ms\n",
           o * 1e3, (sum + o) * 1e3, (step - sum - o) * 1e3);
    for (int i = 0; i < nl; i++) {
        if (!shared[i])
            free(acts[i + 1]);
        if (!gshared[i])
            free(grads[i + 1]);
    }
    free(t_step);
    free(t_f);
    free(t_b);
    free(t_o);
    trainer_close(&tr);
    return (run_figures){step, t_products, t_big};
}

/* 2 threads against 1 once more, on one model: ROUNDS rounds of BLOCK
 * steps at 1 thread then BLOCK at 2, each round's ratio of the two
 * blocks' median steps. The runs above measure each thread count in a
 * stretch of its own, a few seconds apart, and on a virtual machine the
 * host's speed moved between them (the same build read 1.60x and 1.91x an
 * hour apart); side by side, a drift touches both halves of a round. */
static void interleaved(void)
{
    if (bench_cpu_clock()) { /* a 2-thread step's CPU time counts both */
        printf("2 threads against 1, interleaved: not measured on the CPU clock\n");
        return;
    }
    trainer tr;
    trainer_open(&tr);
    double t[BLOCK], ratio[ROUNDS], med[3];
    for (int r = 0; r < ROUNDS; r++) {
        for (int threads = 1; threads <= 2; threads++) {
            CHECK(mlp_set_num_threads(threads));
            CHECK(mlp_model_train_step(tr.m, tr.opt, tr.x, tr.labels, NULL, NULL));
            for (int s = 0; s < BLOCK; s++) { /* after one untimed step */
                const double t0 = bench_now();
                CHECK(mlp_model_train_step(tr.m, tr.opt, tr.x, tr.labels, NULL, NULL));
                t[s] = bench_now() - t0;
            }
            med[threads] = bench_median(t, BLOCK);
        }
        ratio[r] = med[1] / med[2];
    }
    const double mid = bench_median(ratio, ROUNDS); /* sorts */
    printf("2 threads against 1, interleaved: training step %.2fx faster (median of %d "
           "rounds of %d steps at each count, %.2f-%.2f)\n",
           mid, (int)ROUNDS, (int)BLOCK, ratio[0], ratio[ROUNDS - 1]);
    trainer_close(&tr);
}

int main(int argc, char **argv)
{
    const int steps = argc > 1 ? atoi(argv[1]) : 30;
    if (steps < 1) {
        fprintf(stderr, "usage: bench_convnet [steps [threads...]]\n");
        return 2;
    }
    printf("bench_convnet: batch %d, %d steps per thread count, %s time\n", BATCH, steps,
           bench_clock_name());
    if (argc > 2) {
        for (int i = 2; i < argc; i++)
            run(atoi(argv[i]), steps);
    } else {
        const run_figures one = run(1, steps), two = run(2, steps);
        /* what the machine allowed at the time: on a virtual machine whose
         * two vCPUs share a physical core for a while, the large sgemm
         * gains next to nothing from the second thread, and nor can the
         * step */
        printf("\n2 threads against 1: training step %.2fx faster (%.2f ms vs %.2f ms); "
               "its products alone %.2fx; large sgemm %.2fx\n",
               one.step / two.step, two.step * 1e3, one.step * 1e3,
               one.products / two.products, two.big / one.big);
        interleaved();
    }
    return 0;
}
