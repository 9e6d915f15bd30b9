/*
 * Baseline-MLP training throughput (784 -> 3 x 100 ELU -> 47, batch 100,
 * SGD), with two references measured in the same run:
 *   - the matrix products alone: the same products one training epoch
 *     makes, back to back, as the library runs them (mlp__sgemm, which
 *     cuts some into smaller products and transposes B back for others,
 *     where OpenBLAS runs them faster): the floor the library can
 *     approach; and, built with OpenBLAS, the same products as whole
 *     cblas_sgemm calls, as a caller would write them; the epoch against
 *     its products is printed as their ratio and as their difference, the
 *     time of the rest of the epoch, which faster products (OpenBLAS's
 *     AVX-512 kernels, say) leave as it is while the ratio grows;
 *   - the optimizer steps alone (SGD and Adam), as a share of an epoch;
 *   - reading the epoch's rows in shuffled order alone, as a share of the
 *     products: what the gather would wait for memory if its prefetches
 *     hid nothing.
 * At 1 thread, the library's steps against their products alone also
 * interleaved within epochs (every 50 steps), the figure that holds still
 * on a machine whose speed drifts. Then every rule's optimizer step alone,
 * next to moving its arrays; and the thread scaling: SGD epochs at 1
 * thread and at 2, interleaved, as their ratio and as what 2 threads take
 * beyond half of 1 thread's time.
 * Data: EMNIST's training split when MLPNET_DATA_DIR holds it, otherwise
 * 100,000 generated images. Prints samples per second and peak memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "backend/gemm.h"
#include "core/core.h"
#include "layers/layer_impl.h"
#include "mlpnet/mlpnet.h"

#define BENCH_NAME "bench_mlp"
#include "bench_baseline.h"
#include "bench_handover.h"
#include "bench_util.h"

enum { BATCH = 100, IN = 784, HID = 100, OUT = 47, DEPTH = 3, EPOCHS = 5 };

/* bench_now() when the last epoch mlp_model_fit ran ended. An epoch is
 * timed from the fit call to its callback, on the benchmark's clock (CPU
 * time with BENCH_CPU_CLOCK, which the epoch's own train_seconds are not);
 * that adds the fit's set-up, a shuffle of the indices, well under 1%. */
static double epoch_end;

static int on_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)s;
    (void)m;
    (void)user;
    epoch_end = bench_now();
    return 0;
}

/* Seconds of one epoch of mlp_model_fit with `opt`. */
static double fit_epoch(mlp_model *m, mlp_optimizer *opt, mlp_dataset *train,
                        const mlp_fit_options *o)
{
    const double t0 = bench_now();
    CHECK(mlp_model_fit(m, opt, train, NULL, o));
    return epoch_end - t0;
}

/* SGD epochs at 1 thread and at 2 in turn, EPOCHS rounds, so that a drift
 * of the machine's speed touches both alike; prints the median of the
 * rounds' ratios. Wall time only: the CPU clock counts both threads. The
 * thread count is left as it was. */
static void bench_scaling(mlp_model *m, mlp_optimizer *opt, mlp_dataset *train,
                          const mlp_fit_options *o)
{
    if (bench_cpu_clock()) {
        printf("2 threads against 1:           not measured on the CPU clock\n");
        return;
    }
    const int threads = mlp_get_num_threads();
    double one[EPOCHS], two[EPOCHS], ratios[EPOCHS], lost[EPOCHS];
    for (int e = 0; e < EPOCHS; e++) {
        CHECK(mlp_set_num_threads(1));
        one[e] = fit_epoch(m, opt, train, o);
        CHECK(mlp_set_num_threads(2));
        two[e] = fit_epoch(m, opt, train, o);
        ratios[e] = one[e] / two[e];
        lost[e] = two[e] - one[e] / 2.0;
    }
    CHECK(mlp_set_num_threads(threads));
    const double ratio = bench_median(ratios, EPOCHS);
    const double one_s = bench_median(one, EPOCHS), two_s = bench_median(two, EPOCHS);
    const double lost_s = bench_median(lost, EPOCHS); /* sorts lost */
    printf("epoch at 1 thread / 2 threads: %.3f s / %.3f s (medians of %d)\n", one_s,
           two_s, EPOCHS);
    printf("2 threads against 1:           %.2fx faster (median of %d rounds, "
           "%.2f-%.2f)\n",
           ratio, EPOCHS, ratios[0], ratios[EPOCHS - 1]);
    /* What 2 threads take beyond half of 1 thread's time: the cost of
     * splitting the step (the hand-overs between the cores, the waits at
     * each phase's end, the products over half the rows), which faster
     * products leave as it is while the ratio above falls. */
    printf("2 threads less half of 1:      %.1f ms an epoch (median of %d rounds, "
           "%.1f-%.1f)\n",
           1e3 * lost_s, EPOCHS, 1e3 * lost[0], 1e3 * lost[EPOCHS - 1]);
    /* what the machine charges for handing data between the two cores now */
    CHECK(mlp_set_num_threads(2));
    bench_handover_print(mlp_model_param_count(m));
    CHECK(mlp_set_num_threads(threads));
}

/* Seconds to read one epoch's rows in shuffled order, from n images of IN
 * bytes (the median of three epochs): only the reading, summed
 * into a checksum, with no conversion, no writing and nothing else running,
 * from a buffer allocated as the library's datasets are (huge pages where
 * the system gives them). What a gather pays for rows scattered over the
 * data when nothing hides the wait for memory. */
static double rows_read_seconds(int32_t n)
{
    uint8_t *px = mlp__alloc_big((size_t)n * IN);
    int32_t *order = malloc((size_t)n * sizeof *order);
    if (!px || !order) {
        fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
        exit(1);
    }
    uint64_t r = 7;
    for (size_t i = 0; i < (size_t)n * IN; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        px[i] = (uint8_t)(r >> 56);
    }
    double t[3];
    uint32_t sum = 0;
    for (int e = 0; e < 3; e++) {
        for (int32_t i = 0; i < n; i++)
            order[i] = i;
        for (int32_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const int32_t j = (int32_t)((r >> 33) % (uint64_t)(i + 1)), v = order[i];
            order[i] = order[j];
            order[j] = v;
        }
        const double t0 = bench_now();
        for (int32_t i = 0; i < n; i++) {
            const uint8_t *row = px + (size_t)order[i] * IN;
            for (int j = 0; j < IN; j++)
                sum += row[j];
        }
        t[e] = bench_now() - t0;
    }
    if (sum == 1) /* keeps the reads */
        printf(" ");
    mlp__free(px);
    free(order);
    return bench_median(t, 3);
}

/* Seconds for `steps` optimizer steps, the median of three passes. */
static double steps_seconds(mlp_optimizer *opt, int steps)
{
    double t[3];
    for (int r = 0; r < 3; r++) {
        double t0 = bench_now();
        for (int b = 0; b < steps; b++)
            CHECK(mlp_optimizer_step(opt));
        t[r] = bench_now() - t0;
    }
    return bench_median(t, 3);
}

/* A product as mlp__sgemm takes it. */
typedef void (*product_fn)(int trans_a, int trans_b, int m, int n, int k, float alpha,
                           const float *a, int lda, const float *b, int ldb, float beta,
                           float *c, int ldc);

/* The GEMMs of one training step of the baseline, with the library's
 * shapes, each by `mm`. */
static void gemm_step(product_fn mm, float **act, float **w, float *g0, float *g1,
                      float **dw)
{
    static const int dims[] = {IN, HID, HID, HID, OUT};
    for (int l = 0; l < DEPTH + 1; l++)
        mm(0, 0, BATCH, dims[l + 1], dims[l], 1.0f, act[l], dims[l], w[l], dims[l + 1],
           1.0f, act[l + 1], dims[l + 1]);
    for (int l = DEPTH; l >= 0; l--) {
        mm(1, 0, dims[l], dims[l + 1], BATCH, 1.0f, act[l], dims[l], g0, dims[l + 1],
           0.0f, dw[l], dims[l + 1]);
        if (l > 0)
            mm(0, 1, BATCH, dims[l], dims[l + 1], 1.0f, g0, dims[l + 1], w[l],
               dims[l + 1], 0.0f, g1, dims[l]);
    }
}

#ifdef MLPNET_HAVE_OPENBLAS
/* A product as one whole cblas_sgemm call, as a caller would write it. */
static void whole_call(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta,
                c, ldc);
}
#endif

/* The library's steps and their products alone, interleaved: inside an
 * epoch of mlp_model_fit, after every BLOCK steps (on_batch) the same
 * BLOCK steps' products run alone. On a virtual machine whose speed drifts
 * by 10-40% within seconds, an epoch against the next epoch's products
 * (main's rounds) varied from 0.88 to 1.41 in one run; blocks a fraction
 * of a second long see the same speed on both sides. A step's time here leaves
 * out the fit's set-up of each epoch (the first block is not counted). */
enum { BLOCK = 50, BLOCK_EPOCHS = 3 };

typedef struct interleave {
    float **act, **w, **dw, *g0, *g1;
    double mark;          /* when this block began */
    double lib, products; /* sums of the counted blocks */
    double *ratios;       /* each counted block's */
    int n, cap;           /* blocks counted, room */
} interleave;

static void on_block(int32_t epoch, int32_t batch, int32_t batches, void *user)
{
    (void)epoch;
    (void)batches;
    interleave *v = user;
    if (batch % BLOCK != 0)
        return;
    const double t0 = bench_now();
    for (int b = 0; b < BLOCK; b++)
        gemm_step(mlp__sgemm, v->act, v->w, v->g0, v->g1, v->dw);
    const double t1 = bench_now();
    if (batch > BLOCK && v->n < v->cap) {
        v->lib += t0 - v->mark;
        v->products += t1 - t0;
        v->ratios[v->n++] = (t0 - v->mark) / (t1 - t0);
    }
    v->mark = bench_now();
}

/* Prints the interleaved figure: BLOCK_EPOCHS epochs of SGD. */
static void bench_interleaved(mlp_model *m, mlp_optimizer *opt, mlp_dataset *train,
                              const mlp_fit_options *base, interleave *v)
{
    v->cap = BLOCK_EPOCHS * (mlp_dataset_size(train) / (BATCH * BLOCK));
    v->ratios = malloc((size_t)(v->cap > 0 ? v->cap : 1) * sizeof *v->ratios);
    if (!v->ratios) {
        fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
        exit(1);
    }
    mlp_fit_options o = *base;
    o.on_epoch = NULL;
    o.on_batch = on_block;
    o.user = v;
    for (int e = 0; e < BLOCK_EPOCHS; e++) {
        v->mark = bench_now();
        CHECK(mlp_model_fit(m, opt, train, NULL, &o));
    }
    if (v->n == 0) {
        printf("library / products, interleaved: too few steps to measure\n");
    } else {
        const double med = bench_median(v->ratios, v->n);
        printf("library / products, interleaved every %d steps: %.3f (median of %d "
               "blocks, %.2f-%.2f); summed %.3f s / %.3f s = %.3f\n",
               BLOCK, med, v->n, v->ratios[0], v->ratios[v->n - 1], v->lib, v->products,
               v->lib / v->products);
    }
    free(v->ratios);
}

/* Seconds per forward+backward of a layer's ops on a [BATCH, 100] input. */
static double layer_seconds(mlp_layer *l, int reps)
{
    const int64_t len = (int64_t)BATCH * HID;
    float *x = malloc((size_t)len * sizeof(float)),
          *y = malloc((size_t)len * sizeof(float));
    float *dy = malloc((size_t)len * sizeof(float)),
          *dx = malloc((size_t)len * sizeof(float));
    for (int64_t i = 0; i < len; i++) {
        x[i] = (float)((i * 37) % 101) * 0.01f - 0.5f;
        dy[i] = (float)((i * 53) % 97) * 0.001f;
    }
    double t0 = bench_now();
    for (int r = 0; r < reps; r++) {
        CHECK(l->ops->forward(l, x, y, BATCH, MLP_MODE_TRAIN));
        CHECK(l->ops->backward(l, x, y, dy, dx, BATCH));
    }
    double s = (bench_now() - t0) / reps;
    free(x);
    free(y);
    free(dy);
    free(dx);
    return s;
}

/* What a step of `states` state arrays moves, with no square root or
 * division: reads p, g and the states, writes p and the states. The same
 * clones as the library's rules, so that it streams at their width. */
MLP_WIDE_CLONES
static void move_arrays(float *restrict p, const float *restrict g, float *restrict s0,
                        float *restrict s1, int64_t n, int states)
{
    if (states == 0)
        for (int64_t i = 0; i < n; i++)
            p[i] -= 0.5f * g[i];
    else if (states == 1)
        for (int64_t i = 0; i < n; i++) {
            s0[i] = 0.5f * s0[i] + g[i];
            p[i] -= s0[i];
        }
    else
        for (int64_t i = 0; i < n; i++) {
            s0[i] = 0.5f * s0[i] + g[i];
            s1[i] = 0.5f * s1[i] + g[i];
            p[i] -= s0[i] + s1[i];
        }
}

/* Best of five runs of 200 calls of fn(opt, ...), in seconds a call. */
#define BEST_OF_FIVE(result, call)                                                       \
    do {                                                                                 \
        double best_ = 1e30;                                                             \
        for (int r_ = 0; r_ < 5; r_++) {                                                 \
            const double t0_ = bench_now();                                              \
            for (int c_ = 0; c_ < 200; c_++)                                             \
                call;                                                                    \
            const double t_ = (bench_now() - t0_) / 200;                                 \
            best_ = t_ < best_ ? t_ : best_;                                             \
        }                                                                                \
        (result) = best_;                                                                \
    } while (0)

/* Every rule's step alone on the baseline's parameters (at a rate of 0,
 * which keeps them), next to moving the same arrays with no arithmetic
 * to speak of: how far each rule is from the memory traffic it needs. */
static void bench_rules(mlp_model *m)
{
    static const struct {
        mlp_rule rule;
        const char *name;
        int states;
    } rules[] = {{MLP_RULE_SGD, "sgd", 0},           {MLP_RULE_MOMENTUM, "momentum", 1},
                 {MLP_RULE_NESTEROV, "nesterov", 1}, {MLP_RULE_RMSPROP, "rmsprop", 2},
                 {MLP_RULE_ADAM, "adam", 2},         {MLP_RULE_ADAMW, "adamw", 2},
                 {MLP_RULE_ADAGRAD, "adagrad", 1}};
    const int64_t n = mlp_model_param_count(m);
    float *p = bench_floats((size_t)n), *g = bench_floats((size_t)n),
          *s0 = bench_floats((size_t)n), *s1 = bench_floats((size_t)n);
    printf("optimizer steps alone (%lld parameters, best of 5 x 200), us a step:\n",
           (long long)n);
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        mlp_optimizer *opt = NULL;
        CHECK(mlp_optimizer_create(&opt, rules[r].rule, m));
        CHECK(mlp_optimizer_set_learning_rate(opt, 0.0));
        double step_s, move_s;
        BEST_OF_FIVE(step_s, CHECK(mlp_optimizer_step(opt)));
        BEST_OF_FIVE(move_s, move_arrays(p, g, s0, s1, n, rules[r].states));
        printf("  %-9s %6.2f   moving its arrays alone %6.2f (%.2fx)\n", rules[r].name,
               step_s * 1e6, move_s * 1e6, step_s / move_s);
        mlp_optimizer_destroy(opt);
    }
    free(p);
    free(g);
    free(s0);
    free(s1);
}

/* Batch norm after a 100 -> 100 affine layer, against that affine layer. */
static void bench_batchnorm(void)
{
    mlp_model *m = NULL;
    CHECK(mlp_model_create(&m, 1, (const int32_t[]){HID}, 1));
    mlp_layer *l;
    CHECK(mlp_layer_create_dense(&l, HID));
    CHECK(mlp_model_add(m, l));
    CHECK(mlp_layer_create_batchnorm(&l));
    CHECK(mlp_model_add(m, l));
    mlp_tensor *x = NULL;
    CHECK(mlp_tensor_create(&x, 2, (const int32_t[]){BATCH, HID}));
    CHECK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL)); /* sizes the scratch */
    const int reps = 20000;
    double dense_s = layer_seconds(mlp_model_layer(m, 0), reps);
    double bn_s = layer_seconds(mlp_model_layer(m, 1), reps);
    printf(
        "batch norm fwd+bwd [100x100]:  %.2f us, %.1f%% of the 100->100 affine layer's "
        "%.2f us\n",
        bn_s * 1e6, 100.0 * bn_s / dense_s, dense_s * 1e6);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

int main(int argc, char **argv)
{
    const char *what;
    /* 1 thread by default: the baseline MLP's fastest setting on a busy machine. */
    CHECK(mlp_set_num_threads(argc > 1 ? atoi(argv[1]) : 1));
    mlp_dataset *train = bench_baseline_data(&what);
    const int32_t n = mlp_dataset_size(train);
    mlp_model *m = bench_baseline_model();
    mlp_optimizer *opt = NULL;
    CHECK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    CHECK(mlp_optimizer_set_learning_rate(opt, 0.01));

    mlp_fit_options o;
    mlp_fit_options_init(&o);
    o.epochs = 1;
    o.batch_size = BATCH;
    o.on_epoch = on_epoch;
    /* Reference 1: the same GEMMs alone, one epoch's worth. */
    static const int dims[] = {IN, HID, HID, HID, OUT};
    float *act[DEPTH + 2], *w[DEPTH + 1], *dw[DEPTH + 1];
    for (int i = 0; i < DEPTH + 2; i++)
        act[i] = bench_floats((size_t)BATCH * IN);
    for (int i = 0; i < DEPTH + 1; i++) {
        w[i] = bench_floats((size_t)dims[i] * dims[i + 1]);
        dw[i] = bench_floats((size_t)dims[i] * dims[i + 1]);
    }
    float *g0 = bench_floats((size_t)BATCH * IN);
    float *g1 = bench_floats((size_t)BATCH * IN);

    /* An epoch with SGD, that epoch's products alone, and an epoch with
     * Adam, in turn, so that a drift of the machine's speed touches all
     * three alike: the ratio is the median of each round's SGD epoch over
     * its products. Adam's epochs show its cost in context (the gradients
     * it reads were just written). */
    mlp_optimizer *adam = NULL;
    CHECK(mlp_optimizer_create(&adam, MLP_RULE_ADAM, m));
    CHECK(mlp_optimizer_set_learning_rate(adam, 1e-4));
    double sgd_times[EPOCHS], adam_times[EPOCHS], gemm_times[EPOCHS], ratios[EPOCHS];
    double rests[EPOCHS]; /* each round's SGD epoch less its products */
    double whole_times[EPOCHS] = {0}, whole_ratios[EPOCHS] = {0};
    for (int e = 0; e < EPOCHS; e++) {
        sgd_times[e] = fit_epoch(m, opt, train, &o);
        double t0 = bench_now();
        for (int b = 0; b < n / BATCH; b++)
            gemm_step(mlp__sgemm, act, w, g0, g1, dw);
        gemm_times[e] = bench_now() - t0;
        ratios[e] = sgd_times[e] / gemm_times[e];
        rests[e] = sgd_times[e] - gemm_times[e];
#ifdef MLPNET_HAVE_OPENBLAS
        if (mlp_get_num_threads() == 1) {
            t0 = bench_now();
            for (int b = 0; b < n / BATCH; b++)
                gemm_step(whole_call, act, w, g0, g1, dw);
            whole_times[e] = bench_now() - t0;
            whole_ratios[e] = sgd_times[e] / whole_times[e];
        }
#endif
        adam_times[e] = fit_epoch(m, adam, train, &o);
    }
    mlp_optimizer_destroy(adam);
    double lib_s = bench_median(sgd_times, EPOCHS);
    double adam_epoch_s = bench_median(adam_times, EPOCHS);
    double gemm_s = bench_median(gemm_times, EPOCHS);
    double ratio = bench_median(ratios, EPOCHS); /* sorts ratios: [0] and [EPOCHS-1] */
    double rest = bench_median(rests, EPOCHS);   /* and rests */

    /* Reference 2: optimizer steps alone, one epoch's worth (median of
     * three), for SGD and for Adam (the costliest rule per parameter). */
    /* At a rate of 0, as Adam's below: 3000 steps along the last gradient
     * at 0.01 drove the model far off, its logits thousands apart, and the
     * thread-scaling rounds after began on subnormal gradients from the
     * softmax (their first 1-thread epoch took 3.1 s against 0.44 s; the
     * exponential's low end, mlp__expf, was the cause). */
    CHECK(mlp_optimizer_set_learning_rate(opt, 0.0));
    double step_s = steps_seconds(opt, n / BATCH);
    CHECK(mlp_optimizer_set_learning_rate(opt, 0.01));
    CHECK(mlp_optimizer_create(&adam, MLP_RULE_ADAM, m));
    CHECK(mlp_optimizer_set_learning_rate(adam, 0.0)); /* keep the weights */
    double adam_s = steps_seconds(adam, n / BATCH);
    mlp_optimizer_destroy(adam);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* after the peak memory is read: the rows are another copy of the data */
    const double rows_s = rows_read_seconds(n);
    double flops = 0.0;
    for (int i = 0; i < DEPTH + 1; i++)
        flops += 2.0 * dims[i] * dims[i + 1] * (i ? 3 : 2);
    flops *= (double)(n / BATCH) * BATCH;

    printf("bench_mlp: data: %s (%d images), batch %d, threads %d, %s time\n", what,
           (int)n, BATCH, mlp_get_num_threads(), bench_clock_name());
    printf("library epoch (median of %d):   %.3f s  %.0f samples/s  %.1f GFLOP/s\n",
           EPOCHS, lib_s, n / lib_s, flops / lib_s * 1e-9);
    printf("products alone (mlp__sgemm):   %.3f s  %.0f samples/s  %.1f GFLOP/s\n",
           gemm_s, n / gemm_s, flops / gemm_s * 1e-9);
    printf("library / products ratio:      %.2f (median of %d rounds, %.2f-%.2f)\n",
           ratio, EPOCHS, ratios[0], ratios[EPOCHS - 1]);
    /* The ratio's numerator less its denominator: the time of everything
     * but the products, which faster products (other kernels of
     * OpenBLAS's) leave as it is while they shrink the denominator. */
    printf("library - products:            %.1f ms an epoch (median of %d rounds, "
           "%.1f-%.1f)\n",
           1e3 * rest, EPOCHS, 1e3 * rests[0], 1e3 * rests[EPOCHS - 1]);
    if (whole_times[0] > 0.0) {
        const double whole_s = bench_median(whole_times, EPOCHS);
        const double whole_ratio = bench_median(whole_ratios, EPOCHS);
        printf("whole cblas_sgemm calls:       %.3f s  %.0f samples/s  %.1f GFLOP/s\n",
               whole_s, n / whole_s, flops / whole_s * 1e-9);
        printf("library / whole-calls ratio:   %.2f (median of %d rounds, %.2f-%.2f)\n",
               whole_ratio, EPOCHS, whole_ratios[0], whole_ratios[EPOCHS - 1]);
    }
    if (mlp_get_num_threads() == 1) {
        interleave v = {.act = act, .w = w, .dw = dw, .g0 = g0, .g1 = g1};
        bench_interleaved(m, opt, train, &o, &v);
    }
    printf("reading the shuffled rows:     %.4f s (%.1f%% of the products; bytes "
           "only, nothing hiding the wait)\n",
           rows_s, 100.0 * rows_s / gemm_s);
    printf("SGD steps of one epoch:        %.4f s (%.1f%% of the epoch)\n", step_s,
           100.0 * step_s / lib_s);
    printf("Adam steps of one epoch:       %.4f s (%.1f%% of the epoch)\n", adam_s,
           100.0 * adam_s / lib_s);
    printf("epoch trained with Adam:       %.3f s (%+.1f%% against SGD's epoch)\n",
           adam_epoch_s, 100.0 * (adam_epoch_s - lib_s) / lib_s);
    printf("peak resident memory:          %.1f MB\n", ru.ru_maxrss / 1024.0);

    bench_rules(m);
    bench_scaling(m, opt, train, &o);
    bench_batchnorm();

    for (int i = 0; i < DEPTH + 2; i++)
        free(act[i]);
    for (int i = 0; i < DEPTH + 1; i++) {
        free(w[i]);
        free(dw[i]);
    }
    free(g0);
    free(g1);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    return 0;
}
