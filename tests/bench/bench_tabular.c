/*
 * A tabular epoch through the driver against the same loop written by hand.
 *
 * The table: ROWS generated rows of FEATURES floats on different scales,
 * with a float target (regression, MSE) and a class label (3 classes,
 * softmax cross-entropy). The model: standardize -> dense 64 -> ReLU ->
 * dense (1 or 3 outputs), Adam, batches of 32, as a user of the tables of
 * issue 13 would train it. Per task, two ways to run an epoch, alternated
 * in the same run from the same initial weights:
 *   - fit:  mlp_model_fit on a float dataset (mlp_dataset_create_f32_values
 *           or mlp_dataset_create_f32), no validation set;
 *   - hand: the loop a user wrote before the driver took float data: shuffle
 *           the row indices (Fisher-Yates), copy each batch's rows and
 *           targets into tensors, mlp_model_train_step_targets (or
 *           mlp_model_train_step with labels).
 * Each repeat runs one epoch of each back to back (taking turns at going
 * first); prints the median and the fastest epoch of each, their ratios,
 * and the median of the per-repeat ratios fit / hand, the steadiest figure
 * on a machine shared with other work (about 1 or below: the driver costs
 * nothing over the hand-written loop); then one call of mlp_model_fit for
 * all the epochs against as many hand-written epochs in a row, as a
 * program would train. Never fails on time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlpnet/mlpnet.h"

#define BENCH_NAME "bench_tabular"
#include "bench_util.h"

enum { ROWS = 50000, FEATURES = 30, HIDDEN = 64, CLASSES = 3, BATCH = 32, REPEATS = 21 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v; returns the median, and the smallest value in *lo. */
static double median(double *v, int n, double *lo)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *lo = v[0];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static mlp_model *build(int regress)
{
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    CHECK(mlp_model_create(&m, 1, (const int32_t[]){FEATURES}, 7));
    CHECK(mlp_layer_create_standardize(&l));
    CHECK(mlp_model_add(m, l));
    CHECK(mlp_layer_create_dense(&l, HIDDEN));
    CHECK(mlp_model_add(m, l));
    CHECK(mlp_layer_create_relu(&l));
    CHECK(mlp_model_add(m, l));
    CHECK(mlp_layer_create_dense(&l, regress ? 1 : CLASSES));
    CHECK(mlp_model_add(m, l));
    if (regress)
        CHECK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0.0));
    return m;
}

/* One epoch by hand: a new order of the rows, batches copied out of the
 * caller's arrays, one train step each. */
static void hand_epoch(mlp_model *m, mlp_optimizer *opt, int regress, const float *x,
                       const float *y, const int32_t *labels, int32_t *order,
                       uint64_t *rng, mlp_tensor *xb, mlp_tensor *yb)
{
    for (int32_t i = ROWS - 1; i > 0; i--) {
        int32_t j = (int32_t)(next(rng) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    float *xd = mlp_tensor_data(xb), *yd = mlp_tensor_data(yb);
    int32_t lb[BATCH];
    for (int32_t at = 0; at < ROWS; at += BATCH) {
        int32_t n = ROWS - at < BATCH ? ROWS - at : BATCH;
        for (int32_t k = 0; k < n; k++) {
            int32_t r = order[at + k];
            memcpy(xd + (size_t)k * FEATURES, x + (size_t)r * FEATURES,
                   FEATURES * sizeof *x);
            yd[k] = y[r];
            lb[k] = labels[r];
        }
        mlp_tensor *xv = xb, *yv = yb, *xs = NULL, *ys = NULL;
        if (n < BATCH) { /* the last, smaller batch: views of the first n rows */
            CHECK(mlp_tensor_wrap(&xs, 2, (const int32_t[]){n, FEATURES}, xd));
            CHECK(mlp_tensor_wrap(&ys, 2, (const int32_t[]){n, 1}, yd));
            xv = xs;
            yv = ys;
        }
        if (regress)
            CHECK(mlp_model_train_step_targets(m, opt, xv, yv, NULL));
        else
            CHECK(mlp_model_train_step(m, opt, xv, lb, NULL, NULL));
        mlp_tensor_destroy(xs);
        mlp_tensor_destroy(ys);
    }
}

static void bench(int regress, const float *x, const float *y, const int32_t *labels)
{
    mlp_dataset *ds = NULL;
    const int32_t shape[1] = {FEATURES};
    if (regress)
        CHECK(mlp_dataset_create_f32_values(&ds, ROWS, 1, shape, x, 1, y,
                                            MLP_DATASET_BORROW));
    else
        CHECK(mlp_dataset_create_f32(&ds, ROWS, 1, shape, x, labels, CLASSES,
                                     MLP_DATASET_BORROW));
    mlp_model *fm = build(regress), *hm = build(regress);
    CHECK(mlp_model_fit_standardize(fm, ds));
    CHECK(mlp_model_fit_standardize(hm, ds));
    mlp_optimizer *fo = NULL, *ho = NULL;
    CHECK(mlp_optimizer_create(&fo, MLP_RULE_ADAM, fm));
    CHECK(mlp_optimizer_create(&ho, MLP_RULE_ADAM, hm));
    mlp_tensor *xb = NULL, *yb = NULL;
    CHECK(mlp_tensor_create(&xb, 2, (const int32_t[]){BATCH, FEATURES}));
    CHECK(mlp_tensor_create(&yb, 2, (const int32_t[]){BATCH, 1}));
    int32_t *order = malloc(ROWS * sizeof *order);
    if (!order)
        exit(1);
    for (int32_t i = 0; i < ROWS; i++)
        order[i] = i;
    uint64_t rng = 99;

    double t_fit[REPEATS + 1], t_hand[REPEATS + 1];
    mlp_fit_options o;
    CHECK(mlp_fit_options_init(&o));
    o.epochs = 1;
    o.batch_size = BATCH;
    o.seed = 5;
    double pair[REPEATS];
    for (int r = 0; r <= REPEATS; r++) { /* r = 0 warms up both */
        o.first_epoch = r + 1;
        /* Back to back, in turns first, so that a pair sees the same load. */
        for (int k = 0; k < 2; k++) {
            double t0 = now();
            if ((k + r) % 2 == 0)
                CHECK(mlp_model_fit(fm, fo, ds, NULL, &o));
            else
                hand_epoch(hm, ho, regress, x, y, labels, order, &rng, xb, yb);
            *((k + r) % 2 == 0 ? &t_fit[r] : &t_hand[r]) = now() - t0;
        }
        if (r > 0)
            pair[r - 1] = t_fit[r] / t_hand[r];
    }
    /* Then as a program trains: one call of mlp_model_fit for REPEATS
     * epochs, against REPEATS hand-written epochs in a row. */
    o.first_epoch = REPEATS + 2;
    o.epochs = REPEATS;
    double t0 = now();
    CHECK(mlp_model_fit(fm, fo, ds, NULL, &o));
    double t1 = now();
    for (int r = 0; r < REPEATS; r++)
        hand_epoch(hm, ho, regress, x, y, labels, order, &rng, xb, yb);
    double run_fit = (t1 - t0) / REPEATS, run_hand = (now() - t1) / REPEATS;

    double f_lo, h_lo, p_lo, f = median(t_fit + 1, REPEATS, &f_lo),
                             h = median(t_hand + 1, REPEATS, &h_lo),
                             p = median(pair, REPEATS, &p_lo);
    mlp_metrics mf, mh;
    CHECK(mlp_model_evaluate_metrics(fm, ds, 1000, &mf));
    CHECK(mlp_model_evaluate_metrics(hm, ds, 1000, &mh));
    printf("%s, an epoch of %d rows x %d features in batches of %d:\n"
           "  median  fit %6.2f ms  hand %6.2f ms  fit/hand %.3f\n"
           "  fastest fit %6.2f ms  hand %6.2f ms  fit/hand %.3f\n"
           "  median of the %d paired ratios fit/hand %.3f\n"
           "  one call of %d epochs: fit %6.2f ms  hand %6.2f ms  fit/hand %.3f\n"
           "  train %s after %d epochs: fit %.4f, hand %.4f\n",
           regress ? "regression (MSE)" : "classification (3 classes)", ROWS, FEATURES,
           BATCH, 1e3 * f, 1e3 * h, f / h, 1e3 * f_lo, 1e3 * h_lo, f_lo / h_lo, REPEATS,
           p, REPEATS, 1e3 * run_fit, 1e3 * run_hand, run_fit / run_hand,
           regress ? "R^2" : "accuracy", 2 * REPEATS + 1, regress ? mf.r2 : mf.accuracy,
           regress ? mh.r2 : mh.accuracy);
    free(order);
    mlp_tensor_destroy(xb);
    mlp_tensor_destroy(yb);
    mlp_optimizer_destroy(fo);
    mlp_optimizer_destroy(ho);
    mlp_model_destroy(fm);
    mlp_model_destroy(hm);
    mlp_dataset_destroy(ds);
}

int main(void)
{
    CHECK(mlp_set_num_threads(1));
    float *x = malloc((size_t)ROWS * FEATURES * sizeof *x), *y = malloc(ROWS * sizeof *y);
    int32_t *labels = malloc(ROWS * sizeof *labels);
    if (!x || !y || !labels)
        return 1;
    uint64_t s = 42;
    for (int32_t i = 0; i < ROWS; i++) { /* feature j on a scale of 10^(j % 4) */
        double sum = 0.0;
        for (int j = 0; j < FEATURES; j++) {
            double u = (double)(next(&s) >> 11) * 0x1.0p-53 - 0.5;
            x[(size_t)i * FEATURES + j] = (float)(u * pow(10.0, j % 4));
            sum += (j % 2 ? 1.0 : -0.5) * u;
        }
        y[i] = (float)(3.0 * sum + 0.1 * ((double)(next(&s) >> 11) * 0x1.0p-53 - 0.5));
        labels[i] = sum < -0.3 ? 0 : sum < 0.3 ? 1 : 2;
    }
    printf("bench_tabular: mlp_model_fit against a hand-written loop, 1 thread, median "
           "of %d epochs\n",
           REPEATS);
    bench(1, x, y, labels);
    bench(0, x, y, labels);
    free(x);
    free(y);
    free(labels);
    return 0;
}
