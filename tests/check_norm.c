/*
 * Tests of batch normalisation (dense and spatial), inverted dropout and the
 * dense layer without bias: finite-difference gradient checks in training
 * mode, forward passes against double-precision references, running
 * statistics, inference mode, dropout masks and seeds, argument checks.
 *
 * testutil's gradient checker measures its finite differences in inference
 * mode, which is right for layers whose output does not depend on the mode
 * but not for these two: batch norm's training output depends on the batch
 * statistics and dropout's on a random mask. The checker below differences
 * training-mode forward passes instead and, for dropout, reseeds the noise
 * generator before every one of them so that all passes share one mask.
 */
/* The deprecated keep-probability dropout creator is tested here too. */
#define MLPNET_NO_DEPRECATION_WARNINGS
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "testutil.h"

#define BN_EPS 1e-5 /* the documented default */

static mlp_layer *const SENTINEL = (mlp_layer *)&SENTINEL;

static const int32_t BN_BATCHES[2] = {2, 7};

/* ---- small constructors ----------------------------------------------------------- */

static mlp_layer *make_bn(void)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_batchnorm(&l));
    ck_assert_ptr_nonnull(l);
    return l;
}

static mlp_layer *make_bn_spatial(void)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_batchnorm_spatial(&l));
    ck_assert_ptr_nonnull(l);
    return l;
}

static mlp_layer *make_dropout(float keep)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_dropout(&l, keep));
    ck_assert_ptr_nonnull(l);
    return l;
}

static mlp_layer *make_dense_nobias(int32_t units)
{
    mlp_layer *l = tu_dense(units);
    TU_OK(mlp_layer_set_use_bias(l, 0));
    return l;
}

/* Give a batch-norm layer's gamma [C] and beta [C] random non-trivial values
 * (gamma away from 0 and from its initial 1, beta away from 0). */
static void randomise_bn(mlp_layer *bn, uint64_t seed)
{
    int64_t np = mlp_layer_param_count(bn);
    ck_assert_int_gt(np, 0);
    ck_assert_int_eq(np % 2, 0);
    int64_t c = np / 2;
    float *p = mlp_layer_params(bn);
    ck_assert_ptr_nonnull(p);
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    tu_fill_uniform(&rng, p, c, 0.5f, 1.8f);
    tu_fill_away_from_zero(&rng, p + c, c, -0.8f, 0.8f, 0.1f);
}

/* The gradient checks here run tu_gradcheck over training-mode passes (batch
 * statistics, dropout masks) with r uniform in [-1, 1) (generic: not of mean
 * zero per feature, which would make beta's gradient vanish). */
static void train_cfg(tu_gradcheck_cfg *c)
{
    tu_gradcheck_cfg_init(c);
    c->train_mode = 1;
    c->seed = 1;
}

/* ---- gradient checks -------------------------------------------------------------- */

/* The checker must be able to fail: a 5% error in dy, and for dropout
 * passes that do not share one mask. */
START_TEST(gradcheck_self_test)
{
    const int32_t in[1] = {4};
    tu_gradcheck_cfg c;
    train_cfg(&c);
    tu_gradcheck_result res;
    mlp_model *m = tu_model(1, in, 3);
    randomise_bn(tu_add(m, make_bn()), 5);
    tu_gradcheck(m, 1, in, 5, &c, &res);
    ck_assert_msg(res.ok, "baseline fails: %s", res.where);
    c.dy_scale = 1.05;
    tu_gradcheck(m, 1, in, 5, &c, &res);
    ck_assert_msg(!res.ok, "a 5%% gradient error went unnoticed (worst %.3g)", res.worst);
    mlp_model_destroy(m);

    const int32_t in12[1] = {12};
    m = tu_model(1, in12, 3);
    tu_add(m, make_dropout(0.5f));
    train_cfg(&c);
    c.reseed = 1;
    c.noise_seed = 77;
    tu_gradcheck(m, 1, in12, 3, &c, &res);
    ck_assert_msg(res.ok, "dropout baseline fails: %s", res.where);
    c.reseed = 0; /* every pass draws a new mask: the differences disagree */
    tu_gradcheck(m, 1, in12, 3, &c, &res);
    ck_assert_msg(!res.ok, "dropout checked without a fixed mask passed (worst %.3g)",
                  res.worst);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(bn_grad_dense)
{
    const int32_t batch = BN_BATCHES[_i];
    static const struct {
        int rank;
        int32_t dims[3];
    } shapes[] = {{1, {5}}, {2, {2, 3}}};
    for (size_t s = 0; s < 2; s++) {
        mlp_model *m = tu_model(shapes[s].rank, shapes[s].dims, 10 + s);
        mlp_layer *bn = tu_add(m, make_bn());
        const int64_t c = tu_prod(shapes[s].rank, shapes[s].dims);
        ck_assert_int_eq(mlp_layer_param_count(bn), 2 * c);
        randomise_bn(bn, 20 + s);
        tu_gradcheck_cfg cfg;
        train_cfg(&cfg);
        cfg.seed = 100 + s * 10 + (uint64_t)_i;
        /* With two samples every feature's variance is set by one difference
         * d = x1 - x2 and y = gamma d / sqrt(d^2 + 4 eps) + beta bends
         * sharply: a smaller step keeps the truncation error down. */
        if (batch == 2)
            cfg.eps = 1e-3;
        char label[64];
        snprintf(label, sizeof label, "dense batch norm, shape #%d", (int)s);
        cfg.label = label;
        tu_assert_gradcheck(m, shapes[s].rank, shapes[s].dims, batch, &cfg);
        mlp_model_destroy(m);
    }
}
END_TEST

START_TEST(bn_grad_spatial)
{
    const int32_t batch = BN_BATCHES[_i];
    static const int32_t shapes[2][3] = {{3, 4, 5}, {2, 3, 3}};
    for (int s = 0; s < 2; s++) {
        mlp_model *m = tu_model(3, shapes[s], 30 + (uint64_t)s);
        mlp_layer *bn = tu_add(m, make_bn_spatial());
        ck_assert_int_eq(mlp_layer_param_count(bn), 2 * shapes[s][0]);
        randomise_bn(bn, 40 + (uint64_t)s);
        tu_gradcheck_cfg cfg;
        train_cfg(&cfg);
        cfg.seed = 200 + (uint64_t)(s * 10 + _i);
        char label[64];
        snprintf(label, sizeof label, "spatial batch norm [%d,%d,%d]", shapes[s][0],
                 shapes[s][1], shapes[s][2]);
        cfg.label = label;
        tu_assert_gradcheck(m, 3, shapes[s], batch, &cfg);
        mlp_model_destroy(m);
    }
}
END_TEST

/* A spatial layer normalises over N*H*W values: one sample is a valid batch. */
START_TEST(bn_grad_spatial_batch_of_one)
{
    const int32_t in[3] = {2, 3, 3};
    mlp_model *m = tu_model(3, in, 31);
    randomise_bn(tu_add(m, make_bn_spatial()), 41);
    tu_gradcheck_cfg cfg;
    train_cfg(&cfg);
    cfg.seed = 250;
    cfg.label = "spatial batch norm, one sample";
    tu_assert_gradcheck(m, 3, in, 1, &cfg);
    mlp_model_destroy(m);
}
END_TEST

/* dense (no bias) -> batch norm -> elu -> dense, the usual arrangement. */
START_TEST(bn_grad_stack)
{
    const int32_t batch = BN_BATCHES[_i];
    const int32_t in[1] = {5};
    mlp_model *m = tu_model(1, in, 50);
    mlp_layer *d1 = tu_add(m, make_dense_nobias(4));
    ck_assert_int_eq(mlp_layer_param_count(d1), 5 * 4);
    randomise_bn(tu_add(m, make_bn()), 51);
    tu_add(m, tu_elu(1.0f));
    tu_add(m, tu_dense(3));
    ck_assert_int_eq(mlp_model_param_count(m), 20 + 8 + 4 * 3 + 3);
    tu_gradcheck_cfg cfg;
    train_cfg(&cfg);
    cfg.eps = 3e-3; /* elu(1) is only C1 at 0 */
    cfg.seed = 300 + (uint64_t)_i;
    cfg.label = "dense-batchnorm-elu-dense";
    tu_assert_gradcheck(m, 1, in, batch, &cfg);
    mlp_model_destroy(m);
}
END_TEST

/* Closed forms of the parameter gradients: dbeta[k] = sum of dy over the
 * channel, dgamma[k] = sum dy xhat, with xhat from the batch statistics. */
static void check_bn_param_grads(int spatial, int rank, const int32_t *dims, int32_t n,
                                 uint64_t seed)
{
    mlp_model *m = tu_model(rank, dims, seed);
    mlp_layer *bn = tu_add(m, spatial ? make_bn_spatial() : make_bn());
    randomise_bn(bn, seed + 1);
    const int64_t per = tu_prod(rank, dims);
    const int64_t c = spatial ? dims[0] : per, s = spatial ? per / dims[0] : 1;
    mlp_tensor *x = tu_tensor_batch(n, rank, dims);
    mlp_tensor *dy = tu_tensor_batch(n, rank, dims);
    tu_rng rng;
    tu_rng_seed(&rng, seed + 2);
    tu_fill_uniform(&rng, mlp_tensor_data(x), n * per, -2.0f, 3.0f);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), n * per, -1.0f, 1.0f);
    const float *xd = mlp_tensor_data_const(x), *g = mlp_tensor_data_const(dy);
    double *db = calloc((size_t)c, sizeof(double)),
           *dg = calloc((size_t)c, sizeof(double));
    ck_assert(db && dg);
    for (int64_t k = 0; k < c; k++) {
        double mu = 0, var = 0;
        for (int32_t i = 0; i < n; i++)
            for (int64_t j = 0; j < s; j++)
                mu += xd[(i * c + k) * s + j];
        mu /= (double)(n * s);
        for (int32_t i = 0; i < n; i++)
            for (int64_t j = 0; j < s; j++) {
                double d = xd[(i * c + k) * s + j] - mu;
                var += d * d;
            }
        var /= (double)(n * s);
        for (int32_t i = 0; i < n; i++)
            for (int64_t j = 0; j < s; j++) {
                int64_t e = (i * c + k) * s + j;
                db[k] += g[e];
                dg[k] += g[e] * (xd[e] - mu) / sqrt(var + BN_EPS);
            }
    }
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    TU_OK(mlp_model_backward(m, dy, NULL));
    const float *gr = mlp_layer_grads(bn);
    tu_assert_close_fd("dgamma", gr, dg, c, 1e-4, 1e-5);
    tu_assert_close_fd("dbeta", gr + c, db, c, 1e-5, 1e-5);
    free(db);
    free(dg);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
}

START_TEST(bn_param_grads_closed_form)
{
    const int32_t a[1] = {6};
    const int32_t b[3] = {3, 4, 5};
    const int32_t d[2] = {2, 3};
    check_bn_param_grads(0, 1, a, 9, 60);
    check_bn_param_grads(0, 2, d, 4, 61);
    check_bn_param_grads(1, 3, b, 3, 62);
    check_bn_param_grads(0, 3, b, 5, 63); /* dense batch norm on [C,H,W]: per element */
}
END_TEST

START_TEST(dropout_grad_fixed_mask)
{
    tu_gradcheck_cfg cfg;
    train_cfg(&cfg);
    cfg.reseed = 1;
    cfg.noise_seed = 4242;
    cfg.seed = 17;
    const int32_t in[1] = {12};
    mlp_model *m = tu_model(1, in, 5);
    tu_add(m, make_dropout(0.6f));
    cfg.label = "dropout(0.6)";
    tu_assert_gradcheck(m, 1, in, 3, &cfg);
    mlp_model_destroy(m);

    const int32_t in5[1] = {5};
    m = tu_model(1, in5, 6);
    tu_add(m, tu_dense(8));
    tu_add(m, make_dropout(0.5f));
    tu_add(m, tu_dense(3));
    cfg.noise_seed = 99;
    cfg.label = "dense-dropout(0.5)-dense";
    tu_assert_gradcheck(m, 1, in5, 4, &cfg);
    mlp_model_destroy(m);

    const int32_t img[3] = {2, 3, 3};
    m = tu_model(3, img, 7);
    tu_add(m, make_dropout(0.3f));
    tu_add(m, tu_dense(2));
    cfg.noise_seed = 5;
    cfg.label = "dropout(0.3)-dense on [2,3,3]";
    tu_assert_gradcheck(m, 3, img, 2, &cfg);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(dense_no_bias_grad)
{
    const int32_t in[1] = {5};
    mlp_model *m = tu_model(1, in, 8);
    tu_add(m, make_dense_nobias(3));
    ck_assert_int_eq(mlp_model_param_count(m), 15);
    tu_gradcheck_cfg cfg;
    tu_gradcheck_cfg_init(&cfg);
    cfg.seed = 71;
    tu_assert_gradcheck(m, 1, in, 4, &cfg);
    mlp_model_destroy(m);

    const int32_t img[3] = {2, 2, 3};
    m = tu_model(3, img, 9);
    tu_add(m, make_dense_nobias(4));
    tu_add(m, tu_tanh());
    tu_add(m, make_dense_nobias(2));
    ck_assert_int_eq(mlp_model_param_count(m), 12 * 4 + 4 * 2);
    cfg.seed = 72;
    tu_assert_gradcheck(m, 3, img, 3, &cfg);
    mlp_model_destroy(m);
}
END_TEST

/* ---- batch norm: forward and statistics ------------------------------------------- */

/* Reference batch-norm forward in double; stats over the batch (and over
 * positions when spatial), biased variance. */
static void ref_bn_train(const float *x, int32_t n, int64_t c, int64_t s,
                         const float *gamma, const float *beta, double eps, double *y,
                         double *mean, double *var)
{
    for (int64_t k = 0; k < c; k++) {
        double mu = 0, v = 0;
        for (int32_t i = 0; i < n; i++)
            for (int64_t j = 0; j < s; j++)
                mu += x[(i * c + k) * s + j];
        mu /= (double)n * (double)s;
        for (int32_t i = 0; i < n; i++)
            for (int64_t j = 0; j < s; j++) {
                double d = x[(i * c + k) * s + j] - mu;
                v += d * d;
            }
        v /= (double)n * (double)s;
        for (int32_t i = 0; i < n; i++)
            for (int64_t j = 0; j < s; j++) {
                int64_t e = (i * c + k) * s + j;
                y[e] = gamma[k] * (x[e] - mu) / sqrt(v + eps) + beta[k];
            }
        if (mean)
            mean[k] = mu;
        if (var)
            var[k] = v;
    }
}

static void check_bn_forward(int spatial, int rank, const int32_t *dims, int32_t n,
                             double eps, uint64_t seed)
{
    mlp_model *m = tu_model(rank, dims, seed);
    mlp_layer *bn = spatial ? make_bn_spatial() : make_bn();
    if (eps != BN_EPS)
        TU_OK(mlp_layer_set_batchnorm(bn, 0.1f, (float)eps));
    tu_add(m, bn);
    randomise_bn(bn, seed + 1);
    const int64_t per = tu_prod(rank, dims);
    const int64_t c = spatial ? dims[0] : per, s = spatial ? per / dims[0] : 1;
    mlp_tensor *x = tu_tensor_batch(n, rank, dims);
    tu_rng rng;
    tu_rng_seed(&rng, seed + 2);
    float *xd = mlp_tensor_data(x);
    /* each channel its own offset and spread */
    for (int32_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t j = 0; j < s; j++)
                xd[(i * c + k) * s + j] =
                    (float)(0.7 * (double)k - 1.0 +
                            (0.5 + 0.3 * (double)k) * tu_rng_normal(&rng));
    double *ref = malloc(sizeof(double) * (size_t)(n * per));
    ck_assert_ptr_nonnull(ref);
    const float *p = mlp_layer_params(bn);
    ref_bn_train(xd, n, c, s, p, p + c, eps, ref, NULL, NULL);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    ck_assert_int_eq(mlp_tensor_rank(y), rank + 1);
    ck_assert_int_eq(mlp_tensor_numel(y), n * per);
    char what[80];
    snprintf(what, sizeof what, "%s batch norm y (rank %d, batch %d, eps %g)",
             spatial ? "spatial" : "dense", rank, (int)n, eps);
    tu_assert_close_fd(what, mlp_tensor_data_const(y), ref, n * per, 1e-5, 2e-5);
    free(ref);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

START_TEST(bn_forward_reference)
{
    const int32_t a[1] = {5};
    const int32_t b[2] = {2, 3};
    const int32_t c[3] = {3, 4, 5};
    const int32_t d[3] = {2, 3, 3};
    check_bn_forward(0, 1, a, 7, BN_EPS, 1);
    check_bn_forward(0, 1, a, 2, BN_EPS, 2);
    check_bn_forward(0, 2, b, 6, BN_EPS, 3);
    check_bn_forward(0, 3, d, 4, BN_EPS, 4); /* per element of [C,H,W] */
    check_bn_forward(1, 3, c, 3, BN_EPS, 5);
    check_bn_forward(1, 3, d, 1, BN_EPS, 6);
    check_bn_forward(1, 3, d, 6, BN_EPS, 7);
    /* a large eps shows whether the configured value is the one used */
    check_bn_forward(0, 1, a, 5, 0.5, 8);
    check_bn_forward(1, 3, c, 2, 0.25, 9);
}
END_TEST

/* Spatial statistics of values far from 0 (channel means of 100 to 300,
 * deviations of 1 to 3, planes whose means differ), on 1 thread (by
 * channels) and 2 (by samples), planes of 130 values (not a multiple of
 * the sums' lanes): the output and the running variance of double
 * formulas, within 1e-4. A variance taken in floats as the mean square
 * less the squared mean is 0.1-1% off on such values (a simulation of
 * this test's channels). */
START_TEST(bn_statistics_far_from_zero)
{
    enum { N = 40, C = 3, H = 10, W = 13, S = H * W, X = N * C * S };
    const int32_t dims[3] = {C, H, W};
    const int threads = mlp_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        TU_OK(mlp_set_num_threads(t));
        mlp_model *m = tu_model(3, dims, 61);
        mlp_layer *bn = make_bn_spatial();
        tu_add(m, bn);
        randomise_bn(bn, 62);
        mlp_tensor *x = tu_tensor_batch(N, 3, dims);
        float *xd = mlp_tensor_data(x);
        tu_rng rng;
        tu_rng_seed(&rng, 63);
        for (int32_t i = 0; i < N; i++)
            for (int k = 0; k < C; k++)
                tu_fill_normal(&rng, xd + (i * C + k) * S, S,
                               100.0f * (float)(k + 1) + 0.5f * (float)(i % 3),
                               1.0f + (float)k);
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
        double *ref = malloc(sizeof(double) * X), mean[C], var[C], rv[C];
        ck_assert_ptr_nonnull(ref);
        const float *p = mlp_layer_params(bn);
        ref_bn_train(xd, N, C, S, p, p + C, BN_EPS, ref, mean, var);
        tu_assert_close_fd("far from 0: y", mlp_tensor_data_const(y), ref, X, 1e-4, 1e-4);
        for (int k = 0; k < C; k++)
            rv[k] = 0.9 + 0.1 * var[k] * (double)(N * S) / (double)(N * S - 1);
        tu_assert_close_fd("far from 0: running variance", mlp_layer_state(bn) + C, rv, C,
                           1e-5, 1e-5);
        free(ref);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* running <- (1 - m) running + m batch, unbiased variance, from 0 and 1. */
static void check_running_one_step(int spatial, int rank, const int32_t *dims, int32_t n,
                                   float momentum, uint64_t seed)
{
    mlp_model *m = tu_model(rank, dims, seed);
    mlp_layer *bn = spatial ? make_bn_spatial() : make_bn();
    if (momentum != 0.1f)
        TU_OK(mlp_layer_set_batchnorm(bn, momentum, 1e-5f));
    tu_add(m, bn);
    const int64_t per = tu_prod(rank, dims);
    const int64_t c = spatial ? dims[0] : per, s = spatial ? per / dims[0] : 1;
    const int64_t cnt = (int64_t)n * s;
    ck_assert_int_eq(mlp_layer_state_count(bn), 2 * c);
    float *st = mlp_layer_state(bn);
    ck_assert_ptr_nonnull(st);
    for (int64_t k = 0; k < c; k++) {
        ck_assert_msg(st[k] == 0.0f, "initial running mean[%d] = %g", (int)k,
                      (double)st[k]);
        ck_assert_msg(st[c + k] == 1.0f, "initial running var[%d] = %g", (int)k,
                      (double)st[c + k]);
    }
    double *rm = malloc(sizeof(double) * (size_t)c),
           *rv = malloc(sizeof(double) * (size_t)c);
    double *mean = malloc(sizeof(double) * (size_t)c),
           *var = malloc(sizeof(double) * (size_t)c);
    double *y = malloc(sizeof(double) * (size_t)(n * per));
    ck_assert(rm && rv && mean && var && y);
    for (int64_t k = 0; k < c; k++) {
        rm[k] = 0.0;
        rv[k] = 1.0;
    }
    mlp_tensor *x = tu_tensor_batch(n, rank, dims);
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    const mlp_tensor *out = NULL;
    for (int step = 0; step < 3; step++) {
        tu_fill_normal(&rng, mlp_tensor_data(x), n * per, 2.0f + (float)step, 1.5f);
        const float *p = mlp_layer_params(bn);
        ref_bn_train(mlp_tensor_data_const(x), n, c, s, p, p + c, BN_EPS, y, mean, var);
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &out));
        for (int64_t k = 0; k < c; k++) {
            rm[k] = (1.0 - momentum) * rm[k] + momentum * mean[k];
            rv[k] = (1.0 - momentum) * rv[k] +
                    momentum * var[k] * (double)cnt / (double)(cnt - 1);
        }
        char what[96];
        snprintf(what, sizeof what, "running mean after %d step(s) (%s, momentum %g)",
                 step + 1, spatial ? "spatial" : "dense", (double)momentum);
        tu_assert_close_fd(what, st, rm, c, 1e-5, 1e-6);
        snprintf(what, sizeof what, "running variance after %d step(s) (%s, momentum %g)",
                 step + 1, spatial ? "spatial" : "dense", (double)momentum);
        tu_assert_close_fd(what, st + c, rv, c, 1e-5, 1e-6);
    }
    free(rm);
    free(rv);
    free(mean);
    free(var);
    free(y);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

START_TEST(bn_running_stats_update)
{
    const int32_t a[1] = {4};
    const int32_t b[3] = {3, 2, 2};
    check_running_one_step(0, 1, a, 5, 0.1f, 1); /* default momentum */
    check_running_one_step(0, 1, a, 2, 0.1f, 2); /* n / (n - 1) = 2 */
    check_running_one_step(1, 3, b, 3, 0.1f, 3); /* M = N*H*W = 12 */
    check_running_one_step(1, 3, b, 1, 0.1f, 4); /* M = 4 from one sample */
    check_running_one_step(0, 1, a, 6, 0.3f, 5); /* configured momentum */
    check_running_one_step(1, 3, b, 2, 1.0f, 6); /* momentum 1: the last batch */
}
END_TEST

/* Many training passes over data of a known distribution: the running
 * statistics settle at its mean and variance. */
START_TEST(bn_running_stats_converge)
{
    tu_rng rng;
    tu_rng_seed(&rng, 2024);
    /* dense: 6 features, all N(3, 2^2) */
    const int32_t in[1] = {6};
    mlp_model *m = tu_model(1, in, 1);
    mlp_layer *bn = tu_add(m, make_bn());
    const int32_t n = 1000;
    mlp_tensor *x = tu_tensor(2, n, 6);
    for (int it = 0; it < 200; it++) {
        tu_fill_normal(&rng, mlp_tensor_data(x), n * 6, 3.0f, 2.0f);
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    }
    const float *st = mlp_layer_state(bn);
    for (int k = 0; k < 6; k++) {
        ck_assert_msg(fabs(st[k] - 3.0) < 0.05 * 3.0, "running mean[%d] = %g, want 3", k,
                      (double)st[k]);
        ck_assert_msg(fabs(st[6 + k] - 4.0) < 0.05 * 4.0, "running var[%d] = %g, want 4",
                      k, (double)st[6 + k]);
    }
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);

    /* spatial: channel 0 ~ N(3, 2^2), channel 1 ~ N(-1, 0.5^2) */
    const int32_t img[3] = {2, 4, 4};
    m = tu_model(3, img, 1);
    bn = tu_add(m, make_bn_spatial());
    const int32_t ns = 64;
    x = tu_tensor_batch(ns, 3, img);
    float *xd = mlp_tensor_data(x);
    for (int it = 0; it < 200; it++) {
        for (int32_t i = 0; i < ns; i++) {
            tu_fill_normal(&rng, xd + (i * 2 + 0) * 16, 16, 3.0f, 2.0f);
            tu_fill_normal(&rng, xd + (i * 2 + 1) * 16, 16, -1.0f, 0.5f);
        }
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    }
    st = mlp_layer_state(bn);
    ck_assert_int_eq(mlp_layer_state_count(bn), 4);
    ck_assert_msg(fabs(st[0] - 3.0) < 0.05 * 3.0, "channel 0 mean %g, want 3",
                  (double)st[0]);
    ck_assert_msg(fabs(st[1] + 1.0) < 0.05, "channel 1 mean %g, want -1", (double)st[1]);
    ck_assert_msg(fabs(st[2] - 4.0) < 0.05 * 4.0, "channel 0 var %g, want 4",
                  (double)st[2]);
    ck_assert_msg(fabs(st[3] - 0.25) < 0.05 * 0.25, "channel 1 var %g, want 0.25",
                  (double)st[3]);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* Inference: y = gamma (x - running mean) / sqrt(running var + eps) + beta,
 * the same for a sample alone or in any batch, and no statistics change.
 * Any eps other than the default is set with momentum 0.3, so the inference
 * path must read both from the layer. */
static void check_bn_eval(int spatial, int rank, const int32_t *dims, uint64_t seed,
                          double eps)
{
    mlp_model *m = tu_model(rank, dims, seed);
    mlp_layer *bn = tu_add(m, spatial ? make_bn_spatial() : make_bn());
    if (eps != BN_EPS)
        TU_OK(mlp_layer_set_batchnorm(bn, 0.3f, (float)eps));
    const int64_t per = tu_prod(rank, dims);
    const int64_t c = spatial ? dims[0] : per, s = spatial ? per / dims[0] : 1;
    const int32_t n = 5;
    mlp_tensor *x = tu_tensor_batch(n, rank, dims);
    float *xd = mlp_tensor_data(x);
    tu_rng rng;
    tu_rng_seed(&rng, seed);

    /* fresh layer: running mean 0, variance 1, gamma 1, beta 0 */
    tu_fill_uniform(&rng, xd, n * per, -3.0f, 3.0f);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    double *ref = malloc(sizeof(double) * (size_t)(n * per));
    ck_assert_ptr_nonnull(ref);
    for (int64_t e = 0; e < n * per; e++)
        ref[e] = xd[e] / sqrt(1.0 + (double)(float)eps);
    tu_assert_close_fd("eval y of a fresh layer", mlp_tensor_data_const(y), ref, n * per,
                       1e-6, 1e-7);

    /* some training, then statistics and parameters of our choosing */
    for (int it = 0; it < 3; it++) {
        tu_fill_normal(&rng, xd, n * per, 1.0f, 2.0f);
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    }
    randomise_bn(bn, seed + 1);
    float *st = mlp_layer_state(bn);
    for (int64_t k = 0; k < c; k++) {
        st[k] = (float)(0.5 * (double)k - 1.0);
        st[c + k] = (float)(0.3 + 0.4 * (double)k);
    }
    float *st_before = malloc(sizeof(float) * (size_t)(2 * c));
    ck_assert_ptr_nonnull(st_before);
    memcpy(st_before, st, sizeof(float) * (size_t)(2 * c));
    tu_fill_uniform(&rng, xd, n * per, -3.0f, 3.0f);
    const float *p = mlp_layer_params(bn);
    for (int32_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++)
            for (int64_t j = 0; j < s; j++) {
                int64_t e = (i * c + k) * s + j;
                ref[e] = p[k] * (xd[e] - st[k]) / sqrt(st[c + k] + (double)(float)eps) +
                         p[c + k];
            }
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    tu_assert_close_fd("eval y from the running statistics", mlp_tensor_data_const(y),
                       ref, n * per, 1e-5, 1e-5);
    ck_assert_msg(memcmp(st, st_before, sizeof(float) * (size_t)(2 * c)) == 0,
                  "an inference pass changed the running statistics");
    float *batch_y = malloc(sizeof(float) * (size_t)(n * per));
    ck_assert_ptr_nonnull(batch_y);
    TU_OK(mlp_tensor_copy_to(y, batch_y, n * per));

    /* again: deterministic */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_msg(
        memcmp(mlp_tensor_data_const(y), batch_y, sizeof(float) * (size_t)(n * per)) == 0,
        "two inference passes on one batch differ");

    /* each sample alone, and sample 2 inside a batch of other values */
    mlp_tensor *one = tu_tensor_batch(1, rank, dims);
    for (int32_t i = 0; i < n; i++) {
        TU_OK(mlp_tensor_copy_from(one, xd + i * per, per));
        TU_OK(mlp_model_forward(m, one, MLP_MODE_EVAL, &y));
        ck_assert_msg(memcmp(mlp_tensor_data_const(y), batch_y + i * per,
                             sizeof(float) * (size_t)per) == 0,
                      "sample %d: output alone differs from its output in the batch",
                      (int)i);
    }
    mlp_tensor *other = tu_tensor_batch(n, rank, dims);
    tu_fill_uniform(&rng, mlp_tensor_data(other), n * per, 10.0f, 20.0f);
    memcpy(mlp_tensor_data(other) + 2 * per, xd + 2 * per, sizeof(float) * (size_t)per);
    TU_OK(mlp_model_forward(m, other, MLP_MODE_EVAL, &y));
    ck_assert_msg(memcmp(mlp_tensor_data_const(y) + 2 * per, batch_y + 2 * per,
                         sizeof(float) * (size_t)per) == 0,
                  "sample 2: inference output depends on the rest of the batch");
    ck_assert_msg(memcmp(st, st_before, sizeof(float) * (size_t)(2 * c)) == 0,
                  "an inference pass changed the running statistics");
    /* and training mode does depend on the batch (the test can tell) */
    TU_OK(mlp_model_forward(m, other, MLP_MODE_TRAIN, &y));
    ck_assert_msg(memcmp(mlp_tensor_data_const(y) + 2 * per, batch_y + 2 * per,
                         sizeof(float) * (size_t)per) != 0,
                  "training output equals the inference output");
    /* no backward after an inference pass */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    mlp_tensor *dy = tu_tensor_batch(n, rank, dims);
    TU_FAIL(mlp_model_backward(m, dy, NULL), MLP_STATUS_BAD_STATE);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(other);
    mlp_tensor_destroy(one);
    free(batch_y);
    free(st_before);
    free(ref);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

START_TEST(bn_eval_mode)
{
    const int32_t a[1] = {5};
    const int32_t b[2] = {2, 3};
    const int32_t c[3] = {3, 4, 5};
    check_bn_eval(0, 1, a, 1, BN_EPS);
    check_bn_eval(0, 2, b, 2, BN_EPS);
    check_bn_eval(1, 3, c, 3, BN_EPS);
    /* non-default settings: a large eps changes every output visibly */
    check_bn_eval(0, 1, a, 4, 0.1);
    check_bn_eval(0, 2, b, 5, 0.5);
    check_bn_eval(1, 3, c, 6, 1e-3);
}
END_TEST

START_TEST(bn_batch_of_one)
{
    /* dense: one sample gives one value per feature: refused in training */
    const int32_t in[1] = {4};
    mlp_model *m = tu_model(1, in, 1);
    mlp_layer *bn = tu_add(m, make_bn());
    mlp_tensor *x1 = tu_tensor(2, 1, 4);
    mlp_tensor_data(x1)[0] = 1.0f;
    mlp_tensor_data(x1)[2] = -2.0f;
    const mlp_tensor *y = NULL;
    TU_FAIL(mlp_model_forward(m, x1, MLP_MODE_TRAIN, &y), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(y);
    /* nothing was recorded: running statistics intact, no backward possible */
    const float *st = mlp_layer_state(bn);
    for (int k = 0; k < 4; k++) {
        ck_assert_float_eq(st[k], 0.0f);
        ck_assert_float_eq(st[4 + k], 1.0f);
    }
    mlp_tensor *dy = tu_tensor(2, 1, 4);
    TU_FAIL(mlp_model_backward(m, dy, NULL), MLP_STATUS_BAD_STATE);
    /* inference on one sample is fine */
    TU_OK(mlp_model_forward(m, x1, MLP_MODE_EVAL, &y));
    ck_assert_float_eq_tol(mlp_tensor_data_const(y)[2], -2.0f / sqrtf(1.0f + 1e-5f),
                           1e-6f);
    /* two samples train */
    mlp_tensor *x2 = tu_tensor(2, 2, 4);
    mlp_tensor_data(x2)[0] = 1.0f;
    TU_OK(mlp_model_forward(m, x2, MLP_MODE_TRAIN, &y));
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x1);
    mlp_tensor_destroy(x2);
    mlp_model_destroy(m);

    /* spatial: one sample of H*W > 1 positions is a valid batch */
    const int32_t img[3] = {2, 3, 3};
    m = tu_model(3, img, 1);
    tu_add(m, make_bn_spatial());
    mlp_tensor *xi = tu_tensor_batch(1, 3, img);
    for (int i = 0; i < 18; i++)
        mlp_tensor_data(xi)[i] = (float)((i * 7) % 5) - 2.0f;
    TU_OK(mlp_model_forward(m, xi, MLP_MODE_TRAIN, &y));
    dy = tu_tensor_batch(1, 3, img);
    TU_OK(mlp_model_backward(m, dy, NULL));
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(xi);
    mlp_model_destroy(m);

    /* spatial with H*W = 1: one sample is one value per channel again */
    const int32_t dot[3] = {3, 1, 1};
    m = tu_model(3, dot, 1);
    tu_add(m, make_bn_spatial());
    xi = tu_tensor_batch(1, 3, dot);
    TU_FAIL(mlp_model_forward(m, xi, MLP_MODE_TRAIN, &y), MLP_STATUS_INVALID_ARG);
    mlp_tensor_destroy(xi);
    xi = tu_tensor_batch(2, 3, dot);
    TU_OK(mlp_model_forward(m, xi, MLP_MODE_TRAIN, &y));
    mlp_tensor_destroy(xi);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(bn_set_misuse)
{
    mlp_layer *bn = make_bn();
    TU_FAIL(mlp_layer_set_batchnorm(NULL, 0.1f, 1e-5f), MLP_STATUS_INVALID_ARG);
    const float bad_mom[] = {0.0f, -0.0f, -0.1f, 1.0001f, 2.0f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_mom / sizeof bad_mom[0]; i++) {
        mlp_status st = mlp_layer_set_batchnorm(bn, bad_mom[i], 1e-5f);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "momentum %g -> %s",
                      (double)bad_mom[i], mlp_status_str(st));
        ck_assert_str_ne(mlp_last_error(), "");
    }
    const float bad_eps[] = {0.0f, -0.0f, -1e-5f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_eps / sizeof bad_eps[0]; i++) {
        mlp_status st = mlp_layer_set_batchnorm(bn, 0.1f, bad_eps[i]);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "eps %g -> %s", (double)bad_eps[i],
                      mlp_status_str(st));
        ck_assert_str_ne(mlp_last_error(), "");
    }
    TU_OK(mlp_layer_set_batchnorm(bn, 1.0f, 1e-8f)); /* the boundaries are fine */
    TU_OK(mlp_layer_set_batchnorm(bn, 1e-4f, 3.0f));
    mlp_layer *sp = make_bn_spatial();
    TU_OK(mlp_layer_set_batchnorm(sp, 0.5f, 1e-3f));
    /* other kinds */
    mlp_layer *d = tu_dense(3), *r = tu_relu(), *dr = make_dropout(0.5f);
    TU_FAIL(mlp_layer_set_batchnorm(d, 0.1f, 1e-5f), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_batchnorm(r, 0.1f, 1e-5f), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_batchnorm(dr, 0.1f, 1e-5f), MLP_STATUS_INVALID_ARG);
    mlp_layer_destroy(d);
    mlp_layer_destroy(r);
    mlp_layer_destroy(dr);

    /* a refused setting leaves the previous one: momentum 0.5 shows */
    const int32_t in[1] = {2};
    mlp_model *m = tu_model(1, in, 1);
    TU_OK(mlp_layer_set_batchnorm(bn, 0.5f, 1e-5f));
    TU_FAIL(mlp_layer_set_batchnorm(bn, 0.0f, 1e-5f), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_batchnorm(bn, 0.2f, 0.0f), MLP_STATUS_INVALID_ARG);
    tu_add(m, bn);
    mlp_tensor *x = tu_tensor(2, 2, 2);
    float *xd = mlp_tensor_data(x);
    xd[0] = 1.0f;
    xd[1] = 4.0f;
    xd[2] = 3.0f;
    xd[3] = 8.0f; /* means 2, 6 */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    ck_assert_float_eq_tol(mlp_layer_state(bn)[0], 1.0f, 1e-6f); /* 0.5 * 2 */
    ck_assert_float_eq_tol(mlp_layer_state(bn)[1], 3.0f, 1e-6f);
    /* unbiased variances 2 and 8: 0.5 * 1 + 0.5 * v */
    ck_assert_float_eq_tol(mlp_layer_state(bn)[2], 1.5f, 1e-6f);
    ck_assert_float_eq_tol(mlp_layer_state(bn)[3], 4.5f, 1e-6f);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
    mlp_layer_destroy(sp);

    /* create with NULL */
    TU_FAIL(mlp_layer_create_batchnorm(NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_batchnorm_spatial(NULL), MLP_STATUS_INVALID_ARG);
}
END_TEST

START_TEST(bn_spatial_needs_rank3)
{
    long live = mlp__alloc_live();
    const int32_t flat[1] = {12};
    mlp_model *m = tu_model(1, flat, 1);
    mlp_layer *sp = make_bn_spatial();
    TU_FAIL(mlp_model_add(m, sp), MLP_STATUS_SHAPE_MISMATCH); /* consumed */
    ck_assert_msg(strstr(mlp_last_error(), "[12]") != NULL,
                  "message %s does not name [12]", mlp_last_error());
    ck_assert_int_eq(mlp_model_layer_count(m), 0);
    const int32_t two[2] = {3, 4};
    mlp_model *m2 = tu_model(2, two, 1);
    TU_FAIL(mlp_model_add(m2, make_bn_spatial()), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_int_eq(mlp_model_layer_count(m2), 0);
    /* after a flatten as well */
    const int32_t img[3] = {2, 3, 3};
    mlp_model *m3 = tu_model(3, img, 1);
    tu_add(m3, tu_flatten());
    TU_FAIL(mlp_model_add(m3, make_bn_spatial()), MLP_STATUS_SHAPE_MISMATCH);
    tu_add(m3, make_bn()); /* the dense variant takes any rank */
    tu_add(m, make_bn());
    tu_add(m2, make_bn());
    mlp_model_destroy(m);
    mlp_model_destroy(m2);
    mlp_model_destroy(m3);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* gamma and beta are 2C trainable parameters that are not weights (no
 * weight decay by default); the running statistics are 2C state values. */
/* Inputs near 1e19, finite, give a running variance beyond a float:
 * mlp_model_fit stops after the epoch with NUMERIC, naming batch norm's
 * state (the parameters are finite); it returned OK before, with a model
 * whose predictions are NaN. */
START_TEST(bn_fit_stops_on_a_state_that_overflowed)
{
    enum { N = 20, F = 3 };
    float x[N * F];
    int32_t y[N];
    for (int i = 0; i < N * F; i++)
        x[i] = (float)(i % 7 - 3) * 1e19f;
    for (int i = 0; i < N; i++)
        y[i] = i % 2;
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, N, 1, (int32_t[]){F}, x, y, 2, MLP_DATASET_COPY));
    mlp_model *m = tu_model(1, (int32_t[]){F}, 1);
    tu_add(m, make_bn());
    tu_add(m, tu_dense(2));
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = 1;
    fo.batch_size = 10;
    TU_FAIL_MSG(mlp_model_fit(m, o, ds, NULL, &fo), MLP_STATUS_NUMERIC,
                "after the epoch; layer 0 (batchnorm) has a NaN or infinite state value");
    ck_assert(!isfinite(mlp_layer_state(mlp_model_layer(m, 0))[F]));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
}
END_TEST

START_TEST(bn_params_and_state)
{
    mlp_layer *bn = make_bn();
    ck_assert_int_eq(mlp_layer_get_kind(bn), MLP_LAYER_BATCHNORM);
    ck_assert_str_eq(mlp_layer_kind_name(bn), "batchnorm");
    ck_assert_int_eq(mlp_layer_param_count(bn), 0);
    ck_assert_int_eq(mlp_layer_state_count(bn), 0);
    ck_assert_ptr_null(mlp_layer_state(bn));
    ck_assert_ptr_null(mlp_layer_params(bn));
    mlp_layer *sp = make_bn_spatial();
    ck_assert_int_eq(mlp_layer_get_kind(sp), MLP_LAYER_BATCHNORM);

    const int32_t in[3] = {3, 2, 2};
    mlp_model *m = tu_model(3, in, 1);
    tu_add(m, sp);
    tu_add(m, tu_flatten());
    mlp_layer *d = tu_add(m, make_dense_nobias(5));
    tu_add(m, bn);
    ck_assert_int_eq(mlp_layer_param_count(sp), 6);
    ck_assert_int_eq(mlp_layer_state_count(sp), 6);
    ck_assert_int_eq(mlp_layer_param_count(bn), 10);
    ck_assert_int_eq(mlp_layer_state_count(bn), 10);
    ck_assert_int_eq(mlp_model_param_count(m), 6 + 12 * 5 + 10);
    ck_assert_int_eq(mlp_layer_state_count(d), 0);
    ck_assert_ptr_null(mlp_layer_state(d));
    ck_assert_ptr_null(mlp_layer_state(mlp_model_layer(m, 1)));
    ck_assert_ptr_ne(mlp_layer_state(sp), mlp_layer_state(bn));
    for (int k = 0; k < 5; k++) {
        ck_assert_float_eq(mlp_layer_params(bn)[k], 1.0f);
        ck_assert_float_eq(mlp_layer_params(bn)[5 + k], 0.0f);
    }
    randomise_bn(sp, 3);
    randomise_bn(bn, 4);
    float before[76];
    TU_OK(mlp_model_get_params(m, before, 76));

    /* a step of weight decay on zero gradients shrinks the dense weights only */
    mlp_tensor *x = tu_tensor_batch(4, 3, in);
    mlp_tensor *dy = tu_tensor(2, 4, 5);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    TU_OK(mlp_model_backward(m, dy, NULL)); /* dy = 0: every gradient is 0 */
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set(opt, MLP_OPTIM_LEARNING_RATE, 1.0));
    TU_OK(mlp_optimizer_set(opt, MLP_OPTIM_WEIGHT_DECAY, 0.5));
    TU_OK(mlp_optimizer_step(opt));
    float after[76];
    TU_OK(mlp_model_get_params(m, after, 76));
    for (int i = 0; i < 76; i++) {
        int weight = i >= 6 && i < 66;
        float want = weight ? before[i] * 0.5f : before[i];
        ck_assert_msg(fabsf(after[i] - want) <= 1e-6f * fabsf(want),
                      "parameter %d (%s): %g -> %g, want %g", i,
                      weight ? "dense weight" : "gamma/beta", (double)before[i],
                      (double)after[i], (double)want);
    }
    mlp_optimizer_destroy(opt);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
}
END_TEST

/* ---- dropout ---------------------------------------------------------------------- */

START_TEST(dropout_train_statistics)
{
    static const float keeps[] = {0.3f, 0.5f, 0.8f};
    const int32_t in[1] = {1000};
    const int32_t n = 200;
    const int64_t total = (int64_t)n * 1000;
    for (size_t kk = 0; kk < 3; kk++) {
        const float keep = keeps[kk];
        mlp_model *m = tu_model(1, in, 11 + kk);
        mlp_layer *l = tu_add(m, make_dropout(keep));
        ck_assert_int_eq(mlp_layer_get_kind(l), MLP_LAYER_DROPOUT);
        ck_assert_str_eq(mlp_layer_kind_name(l), "dropout");
        ck_assert_int_eq(mlp_layer_param_count(l), 0);
        mlp_tensor *x = tu_tensor(2, n, 1000);
        float *xd = mlp_tensor_data(x);
        tu_rng rng;
        tu_rng_seed(&rng, 90 + kk);
        tu_fill_uniform(&rng, xd, total, 1.0f, 2.0f); /* never 0 */
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
        ck_assert_int_eq(mlp_tensor_numel(y), total);
        const float *yd = mlp_tensor_data_const(y);
        int64_t zeros = 0, same01 = 0;
        double sx = 0, sy = 0;
        for (int64_t i = 0; i < total; i++) {
            sx += xd[i];
            sy += yd[i];
            if (yd[i] == 0.0f) {
                zeros++;
            } else {
                double want = (double)xd[i] / (double)keep;
                TU_CHECK_MSG(fabs(yd[i] - want) <= 1e-6 * want,
                             "keep %g: kept value %.9g for x = %.9g, want x/keep = %.9g",
                             (double)keep, (double)yd[i], (double)xd[i], want);
            }
            if (i < 1000)
                same01 += (yd[i] == 0.0f) == (yd[1000 + i] == 0.0f);
        }
        double frac = (double)zeros / (double)total;
        ck_assert_msg(fabs(frac - (1.0 - keep)) < 0.01, "keep %g: %.4f zeros, want %.2f",
                      (double)keep, frac, 1.0 - keep);
        ck_assert_msg(fabs(sy / sx - 1.0) < 0.02, "keep %g: mean changed by factor %.4f",
                      (double)keep, sy / sx);
        /* samples get independent masks, not one mask repeated */
        double agree = (double)same01 / 1000.0;
        double want_agree = keep * keep + (1 - keep) * (1 - keep);
        ck_assert_msg(fabs(agree - want_agree) < 0.08,
                      "keep %g: samples 0 and 1 share %.3f of their mask, want ~%.3f",
                      (double)keep, agree, want_agree);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
}
END_TEST

/* Special values that an arithmetic "identity" could alter. */
static void fill_tricky(float *x, int64_t n, uint64_t seed)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    tu_fill_uniform(&rng, x, n, -5.0f, 5.0f);
    static const float special[] = {0.0f,     -0.0f,    1e-40f,    -1e-40f,    3.4e38f,
                                    -3.4e38f, INFINITY, -INFINITY, 1.0f / 3.0f};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && (int64_t)i < n; i++)
        x[i] = special[i];
}

START_TEST(dropout_eval_identity)
{
    const int32_t in[2] = {4, 25};
    mlp_model *m = tu_model(2, in, 1);
    tu_add(m, make_dropout(0.3f));
    mlp_tensor *x = tu_tensor_batch(6, 2, in);
    fill_tricky(mlp_tensor_data(x), 600, 3);
    const mlp_tensor *y = NULL;
    for (int rep = 0; rep < 2; rep++) {
        TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
        ck_assert_int_eq(mlp_tensor_rank(y), 3);
        ck_assert_msg(memcmp(mlp_tensor_data_const(y), mlp_tensor_data_const(x),
                             600 * sizeof(float)) == 0,
                      "inference-mode dropout is not the identity");
    }
    /* and backward after an inference pass is refused */
    mlp_tensor *dy = tu_tensor_batch(6, 2, in);
    TU_FAIL(mlp_model_backward(m, dy, NULL), MLP_STATUS_BAD_STATE);
    /* training mode does drop (the comparison above can fail) */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    ck_assert(memcmp(mlp_tensor_data_const(y), mlp_tensor_data_const(x),
                     600 * sizeof(float)) != 0);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(dropout_keep_one_is_identity)
{
    const int32_t in[1] = {50};
    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, make_dropout(1.0f));
    mlp_tensor *x = tu_tensor(2, 8, 50);
    fill_tricky(mlp_tensor_data(x), 400, 4);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    ck_assert_msg(memcmp(mlp_tensor_data_const(y), mlp_tensor_data_const(x),
                         400 * sizeof(float)) == 0,
                  "dropout(1) in training mode is not the identity");
    mlp_tensor *dy = tu_tensor(2, 8, 50);
    fill_tricky(mlp_tensor_data(dy), 400, 5);
    const mlp_tensor *dx = NULL;
    TU_OK(mlp_model_backward(m, dy, &dx));
    ck_assert_msg(memcmp(mlp_tensor_data_const(dx), mlp_tensor_data_const(dy),
                         400 * sizeof(float)) == 0,
                  "dropout(1) backward is not the identity");
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* Zero pattern of a training pass over x (all non-zero) into mask[]. */
static void dropout_mask(mlp_model *m, const mlp_tensor *x, unsigned char *mask)
{
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    const int64_t n = mlp_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        mask[i] = mlp_tensor_data_const(y)[i] != 0.0f;
}

static int64_t mask_diff(const unsigned char *a, const unsigned char *b, int64_t n)
{
    int64_t d = 0;
    for (int64_t i = 0; i < n; i++)
        d += a[i] != b[i];
    return d;
}

START_TEST(dropout_noise_seeds)
{
    enum { N = 4, D = 250, T = N * D };
    const int32_t in[1] = {D};
    mlp_model *m = tu_model(1, in, 21);
    tu_add(m, tu_dense(D));
    tu_add(m, make_dropout(0.5f));
    const int64_t np = mlp_model_param_count(m);
    float *p0 = malloc(sizeof(float) * (size_t)np),
          *p1 = malloc(sizeof(float) * (size_t)np);
    ck_assert(p0 && p1);
    TU_OK(mlp_model_get_params(m, p0, np));
    mlp_tensor *x = tu_tensor(2, N, D);
    tu_rng rng;
    tu_rng_seed(&rng, 8);
    tu_fill_away_from_zero(&rng, mlp_tensor_data(x), T, -1.0f, 1.0f, 0.1f);
    /* the dense layer's output must be non-zero everywhere for the masks */
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    for (int64_t i = 0; i < T; i++)
        ck_assert(mlp_tensor_data_const(y)[i] != 0.0f);

    static unsigned char a[T], b[T], c[T], d[T], e[T];
    TU_OK(mlp_model_set_noise_seed(m, 123));
    dropout_mask(m, x, a);
    dropout_mask(m, x, b); /* next draws of the stream */
    TU_OK(mlp_model_set_noise_seed(m, 123));
    dropout_mask(m, x, c);
    TU_OK(mlp_model_set_noise_seed(m, 124));
    dropout_mask(m, x, d);
    ck_assert_msg(mask_diff(a, c, T) == 0, "same noise seed, masks differ in %lld places",
                  (long long)mask_diff(a, c, T));
    ck_assert_msg(mask_diff(a, b, T) > T / 4,
                  "consecutive passes reuse the mask (%lld diffs)",
                  (long long)mask_diff(a, b, T));
    ck_assert_msg(mask_diff(a, d, T) > T / 4,
                  "seeds 123 and 124 give similar masks (%lld)",
                  (long long)mask_diff(a, d, T));
    /* inference passes draw nothing */
    TU_OK(mlp_model_set_noise_seed(m, 123));
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, NULL));
    dropout_mask(m, x, e);
    ck_assert_msg(mask_diff(a, e, T) == 0, "an inference pass consumed noise");
    /* reseeding the noise leaves the weights alone */
    TU_OK(mlp_model_get_params(m, p1, np));
    ck_assert(memcmp(p0, p1, sizeof(float) * (size_t)np) == 0);
    TU_FAIL(mlp_model_set_noise_seed(NULL, 1), MLP_STATUS_INVALID_ARG);

    /* backward applies the forward pass's mask: dx = dy * (y / x) */
    mlp_model *dm = tu_model(1, in, 3);
    tu_add(dm, make_dropout(0.5f));
    TU_OK(mlp_model_set_noise_seed(dm, 31));
    TU_OK(mlp_model_forward(dm, x, MLP_MODE_TRAIN, &y));
    float *fy = malloc(sizeof(float) * T);
    ck_assert_ptr_nonnull(fy);
    TU_OK(mlp_tensor_copy_to(y, fy, T));
    mlp_tensor *g = tu_tensor(2, N, D);
    tu_fill_uniform(&rng, mlp_tensor_data(g), T, -1.0f, 1.0f);
    const mlp_tensor *gx = NULL;
    TU_OK(mlp_model_backward(dm, g, &gx));
    for (int64_t i = 0; i < T; i++) {
        float want = mlp_tensor_data_const(g)[i] * (fy[i] / mlp_tensor_data_const(x)[i]);
        ck_assert_msg(fabsf(mlp_tensor_data_const(gx)[i] - want) <=
                          1e-5f * (1.0f + fabsf(want)),
                      "dx[%lld] = %g, want dy * mask = %g", (long long)i,
                      (double)mlp_tensor_data_const(gx)[i], (double)want);
    }
    free(fy);
    mlp_tensor_destroy(g);
    mlp_model_destroy(dm);
    free(p0);
    free(p1);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);

    /* two models of one seed draw the same masks without any reseeding */
    const int32_t in2[1] = {300};
    mlp_model *m1 = tu_model(1, in2, 55), *m2 = tu_model(1, in2, 55);
    tu_add(m1, make_dropout(0.5f));
    tu_add(m2, make_dropout(0.5f));
    mlp_tensor *ones = tu_tensor(2, 1, 300);
    mlp_tensor_fill(ones, 1.0f);
    static unsigned char q1[300], q2[300];
    dropout_mask(m1, ones, q1);
    dropout_mask(m2, ones, q2);
    ck_assert_int_eq(mask_diff(q1, q2, 300), 0);
    mlp_tensor_destroy(ones);
    mlp_model_destroy(m1);
    mlp_model_destroy(m2);
}
END_TEST

START_TEST(dropout_create_misuse)
{
    long live = mlp__alloc_live();
    const float bad[] = {0.0f, -0.0f, -0.5f, 1.0001f, 2.0f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mlp_layer *l = SENTINEL;
        mlp_status st = mlp_layer_create_dropout(&l, bad[i]);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "dropout(keep = %g) -> %s",
                      (double)bad[i], mlp_status_str(st));
        ck_assert_ptr_null(l);
        ck_assert_str_ne(mlp_last_error(), "");
    }
    TU_FAIL(mlp_layer_create_dropout(NULL, 0.5f), MLP_STATUS_INVALID_ARG);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_dropout(&l, 1.0f));
    mlp_layer_destroy(l);
    l = NULL;
    TU_OK(mlp_layer_create_dropout(&l, 1e-6f));
    mlp_layer_destroy(l);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* The deprecated creator refuses a keep whose drop probability, 1 - keep
 * in float as mlp_layer_get_attr gives it, is 1: mlp_layer_create_dropout_p
 * would refuse that value. Every keep it takes gives a drop probability
 * that mlp_layer_create_dropout_p takes. */
START_TEST(dropout_keep_too_small_for_its_drop_probability)
{
    const float tiny = ldexpf(1.0f, -25);
    const float bad[] = {tiny, 2e-8f, 1e-30f, nextafterf(0.0f, 1.0f)};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mlp_layer *l = SENTINEL;
        TU_FAIL_MSG(mlp_layer_create_dropout(&l, bad[i]), MLP_STATUS_INVALID_ARG,
                    "mlp_layer_create_dropout: keep probability");
        TU_ERROR_HAS("is too small");
        ck_assert_ptr_null(l);
    }
    const float good[] = {nextafterf(tiny, 1.0f), 1e-7f, 1e-6f, 0.5f, 1.0f};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        mlp_layer *l = NULL, *again = NULL;
        TU_OK(mlp_layer_create_dropout(&l, good[i]));
        double v = -1, w = -1;
        TU_OK(mlp_layer_get_attr(l, MLP_LAYER_ATTR_DROP_PROBABILITY, &v));
        ck_assert_msg(v < 1.0, "keep %g gives drop probability %.9g", (double)good[i], v);
        TU_OK(mlp_layer_create_dropout_p(&again, (float)v));
        TU_OK(mlp_layer_get_attr(again, MLP_LAYER_ATTR_DROP_PROBABILITY, &w));
        ck_assert_double_eq(w, v);
        mlp_layer_destroy(again);
        mlp_layer_destroy(l);
    }
}
END_TEST

/* mlp_layer_create_dropout_p takes the probability of DROPPING: p = 0.25
 * zeroes a quarter of the values and is the same layer, mask for mask, as
 * the deprecated mlp_layer_create_dropout with keep 0.75. */
START_TEST(dropout_p_is_drop_probability)
{
    long live = mlp__alloc_live();
    const float bad[] = {-1e-6f, -0.5f, 1.0f, 1.5f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mlp_layer *l = SENTINEL;
        TU_FAIL(mlp_layer_create_dropout_p(&l, bad[i]), MLP_STATUS_INVALID_ARG);
        ck_assert_ptr_null(l);
        ck_assert_msg(
            strstr(mlp_last_error(), "mlp_layer_create_dropout_p: drop probability"),
            "%s", mlp_last_error());
    }
    TU_FAIL(mlp_layer_create_dropout_p(NULL, 0.5f), MLP_STATUS_INVALID_ARG);
    /* the old call's message says which meaning it has */
    mlp_layer *l = NULL;
    TU_FAIL(mlp_layer_create_dropout(&l, 0.0f), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "probability of keeping"), "%s",
                  mlp_last_error());

    const int32_t in[1] = {1000};
    const int32_t n = 100;
    mlp_model *a = tu_model(1, in, 5), *b = tu_model(1, in, 5);
    TU_OK(mlp_layer_create_dropout_p(&l, 0.25f));
    double v = -1;
    TU_OK(mlp_layer_get_attr(l, MLP_LAYER_ATTR_DROP_PROBABILITY, &v));
    ck_assert_double_eq(v, 0.25);
    tu_add(a, l);
    l = tu_add(b, make_dropout(0.75f));
    TU_OK(mlp_layer_get_attr(l, MLP_LAYER_ATTR_DROP_PROBABILITY, &v));
    ck_assert_double_eq(v, 0.25);
    mlp_tensor *x = tu_tensor(2, n, 1000);
    mlp_tensor_fill(x, 1.0f);
    const mlp_tensor *ya = NULL, *yb = NULL;
    TU_OK(mlp_model_forward(a, x, MLP_MODE_TRAIN, &ya));
    TU_OK(mlp_model_forward(b, x, MLP_MODE_TRAIN, &yb));
    int64_t zeros = 0;
    for (int64_t i = 0; i < (int64_t)n * 1000; i++) {
        TU_CHECK(mlp_tensor_data_const(ya)[i] == mlp_tensor_data_const(yb)[i]);
        zeros += mlp_tensor_data_const(ya)[i] == 0.0f;
    }
    double frac = (double)zeros / (n * 1000.0);
    ck_assert_msg(fabs(frac - 0.25) < 0.01, "dropout_p(0.25) dropped %.4f", frac);
    mlp_model_destroy(a);
    mlp_model_destroy(b);

    /* 0 drops nothing, even in training mode */
    mlp_model *z = tu_model(1, in, 6);
    TU_OK(mlp_layer_create_dropout_p(&l, 0.0f));
    tu_add(z, l);
    TU_OK(mlp_model_forward(z, x, MLP_MODE_TRAIN, &ya));
    ck_assert(memcmp(mlp_tensor_data_const(ya), mlp_tensor_data_const(x),
                     sizeof(float) * (size_t)n * 1000) == 0);
    mlp_model_destroy(z);
    mlp_tensor_destroy(x);

    /* the attribute read back makes the same layer again */
    const float ps[] = {0.1f, 0.3f, 0.5f, 0.123456789f, 0.99f};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        mlp_layer *p = NULL, *q = NULL;
        double pv, qv;
        TU_OK(mlp_layer_create_dropout_p(&p, ps[i]));
        TU_OK(mlp_layer_get_attr(p, MLP_LAYER_ATTR_DROP_PROBABILITY, &pv));
        ck_assert_msg(fabs(pv - ps[i]) < 1e-6, "p %g read back as %g", (double)ps[i], pv);
        TU_OK(mlp_layer_create_dropout_p(&q, (float)pv));
        TU_OK(mlp_layer_get_attr(q, MLP_LAYER_ATTR_DROP_PROBABILITY, &qv));
        ck_assert_double_eq(pv, qv);
        mlp_layer_destroy(p);
        mlp_layer_destroy(q);
    }
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* ---- dense without bias ----------------------------------------------------------- */

START_TEST(dense_no_bias_forward)
{
    const int32_t in[2] = {2, 3};
    mlp_model *m = tu_model(2, in, 4);
    mlp_layer *d = tu_add(m, make_dense_nobias(4));
    ck_assert_int_eq(mlp_layer_param_count(d), 6 * 4);
    ck_assert_int_eq(mlp_model_param_count(m), 24);
    float p[24];
    tu_rng rng;
    tu_rng_seed(&rng, 12);
    tu_fill_uniform(&rng, p, 24, -1.0f, 1.0f);
    TU_OK(mlp_model_set_params(m, p, 24));
    mlp_tensor *x = tu_tensor_batch(3, 2, in); /* zeros */
    const mlp_tensor *y = NULL;
    /* zero input, zero output: there is no bias to add */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    for (int i = 0; i < 12; i++)
        ck_assert_msg(mlp_tensor_data_const(y)[i] == 0.0f, "y[%d] = %g for x = 0", i,
                      (double)mlp_tensor_data_const(y)[i]);
    tu_fill_uniform(&rng, mlp_tensor_data(x), 18, -2.0f, 2.0f);
    const float *xd = mlp_tensor_data_const(x);
    double ref[12];
    for (int s = 0; s < 3; s++)
        for (int o = 0; o < 4; o++) {
            double a = 0;
            for (int i = 0; i < 6; i++)
                a += (double)xd[s * 6 + i] * p[i * 4 + o];
            ref[s * 4 + o] = a;
        }
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    tu_assert_close_fd("dense (no bias) y", mlp_tensor_data_const(y), ref, 12, 1e-5,
                       1e-6);
    /* the gradient buffer has no bias slot either: a following layer's
     * parameters start right after the weights */
    mlp_layer *d2 = tu_add(m, tu_dense(2));
    ck_assert_ptr_eq(mlp_layer_params(d2), mlp_layer_params(d) + 24);
    ck_assert_ptr_eq(mlp_layer_grads(d2), mlp_layer_grads(d) + 24);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);

    /* turned off and on again: the bias is back */
    mlp_layer *l = tu_dense(3);
    TU_OK(mlp_layer_set_use_bias(l, 0));
    TU_OK(mlp_layer_set_use_bias(l, 1));
    const int32_t in5[1] = {5};
    m = tu_model(1, in5, 1);
    tu_add(m, l);
    ck_assert_int_eq(mlp_layer_param_count(l), 5 * 3 + 3);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(use_bias_misuse)
{
    TU_FAIL(mlp_layer_set_use_bias(NULL, 0), MLP_STATUS_INVALID_ARG);
    mlp_layer *r = tu_relu(), *bn = make_bn(), *dr = make_dropout(0.5f), *d = tu_dense(3);
    TU_FAIL(mlp_layer_set_use_bias(r, 0), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_use_bias(bn, 0), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_use_bias(dr, 1), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_use_bias(d, 2), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_use_bias(d, -1), MLP_STATUS_INVALID_ARG);
    mlp_layer_destroy(r);
    mlp_layer_destroy(bn);
    mlp_layer_destroy(dr);
    const int32_t in[1] = {4};
    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, d);
    ck_assert_int_eq(mlp_layer_param_count(d), 4 * 3 + 3); /* refusals changed nothing */
    TU_FAIL(mlp_layer_set_use_bias(d, 0), MLP_STATUS_BAD_STATE);
    TU_FAIL(mlp_layer_set_use_bias(d, 1), MLP_STATUS_BAD_STATE);
    ck_assert_int_eq(mlp_layer_param_count(d), 15);
    ck_assert_int_eq(mlp_model_param_count(m), 15);
    mlp_model_destroy(m);
}
END_TEST

/* ---- thread count ----------------------------------------------------------------- */

enum { TH_N = 40, TH_C = 8, TH_HW = 256, TH_X = TH_N * TH_C * TH_HW };

typedef struct th_out {
    float x[TH_X], dy[TH_X], params[2 * TH_C];
    float y[TH_X], dx[TH_X], ev[TH_X], drop[TH_X];
    float grads[2 * TH_C], state[2 * TH_C];
} th_out;

/* Spatial batch norm on a batch large enough for the parallel loops
 * (N*C*H*W above the library's threshold): training output, input and
 * parameter gradients, running statistics, an inference pass; and a
 * dropout layer's training output on the same input. */
static void run_bn_threads(int threads, th_out *o)
{
    const int32_t in[3] = {TH_C, 16, 16};
    mlp_model *m = tu_model(3, in, 3);
    mlp_layer *bn = tu_add(m, make_bn_spatial());
    randomise_bn(bn, 4);
    memcpy(o->params, mlp_layer_params(bn), sizeof o->params);
    mlp_model *md = tu_model(3, in, 3);
    tu_add(md, make_dropout(0.7f));
    mlp_tensor *x = tu_tensor_batch(TH_N, 3, in), *dy = tu_tensor_batch(TH_N, 3, in);
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    float *xd = mlp_tensor_data(x);
    for (int32_t i = 0; i < TH_N; i++)
        for (int32_t k = 0; k < TH_C; k++)
            tu_fill_normal(&rng, xd + (i * TH_C + k) * TH_HW, TH_HW, (float)k - 3.0f,
                           1.0f + 0.25f * (float)k);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), TH_X, -1.0f, 1.0f);
    memcpy(o->x, xd, sizeof o->x);
    memcpy(o->dy, mlp_tensor_data_const(dy), sizeof o->dy);
    TU_OK(mlp_set_num_threads(threads));
    const mlp_tensor *y = NULL, *dx = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    TU_OK(mlp_tensor_copy_to(y, o->y, TH_X));
    TU_OK(mlp_model_backward(m, dy, &dx));
    TU_OK(mlp_tensor_copy_to(dx, o->dx, TH_X));
    memcpy(o->grads, mlp_layer_grads(bn), sizeof o->grads);
    memcpy(o->state, mlp_layer_state(bn), sizeof o->state);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    TU_OK(mlp_tensor_copy_to(y, o->ev, TH_X));
    TU_OK(mlp_model_set_noise_seed(md, 9));
    TU_OK(mlp_model_forward(md, x, MLP_MODE_TRAIN, &y));
    TU_OK(mlp_tensor_copy_to(y, o->drop, TH_X));
    TU_OK(mlp_set_num_threads(1));
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
    mlp_model_destroy(md);
}

/* The large batch against double-precision formulas: forward, running
 * statistics, and dx = gamma / (M s) (M dy - dbeta - xhat dgamma) with
 * s = sqrt(var + eps), dbeta = sum dy, dgamma = sum dy xhat. */
static void check_bn_large(const th_out *o)
{
    const int64_t M = (int64_t)TH_N * TH_HW;
    double *y = malloc(sizeof(double) * TH_X), *dx = malloc(sizeof(double) * TH_X);
    ck_assert(y && dx);
    double mean[TH_C], var[TH_C], db[TH_C], dg[TH_C], rs[2 * TH_C];
    ref_bn_train(o->x, TH_N, TH_C, TH_HW, o->params, o->params + TH_C, BN_EPS, y, mean,
                 var);
    tu_assert_close_fd("large spatial batch norm y", o->y, y, TH_X, 1e-4, 1e-4);
    for (int k = 0; k < TH_C; k++) {
        const double sd = sqrt(var[k] + BN_EPS);
        db[k] = dg[k] = 0;
        for (int32_t i = 0; i < TH_N; i++)
            for (int j = 0; j < TH_HW; j++) {
                const int64_t e = ((int64_t)i * TH_C + k) * TH_HW + j;
                db[k] += o->dy[e];
                dg[k] += o->dy[e] * (o->x[e] - mean[k]) / sd;
            }
        for (int32_t i = 0; i < TH_N; i++)
            for (int j = 0; j < TH_HW; j++) {
                const int64_t e = ((int64_t)i * TH_C + k) * TH_HW + j;
                const double xh = (o->x[e] - mean[k]) / sd;
                dx[e] = o->params[k] / ((double)M * sd) *
                        ((double)M * o->dy[e] - db[k] - xh * dg[k]);
            }
        rs[k] = 0.1 * mean[k];
        rs[TH_C + k] = 0.9 + 0.1 * var[k] * (double)M / (double)(M - 1);
    }
    tu_assert_close_fd("large spatial batch norm dgamma", o->grads, dg, TH_C, 1e-4, 1e-3);
    tu_assert_close_fd("large spatial batch norm dbeta", o->grads + TH_C, db, TH_C, 1e-4,
                       1e-3);
    tu_assert_close_fd("large spatial batch norm dx", o->dx, dx, TH_X, 1e-4, 1e-5);
    tu_assert_close_fd("large spatial batch norm running stats", o->state, rs, 2 * TH_C,
                       1e-5, 1e-5);
    free(y);
    free(dx);
}

/* No matrix product is involved, and the library's parallel loops give each
 * channel (or element) to one thread with a fixed summation order, so the
 * results must not depend on the thread count at all: bitwise. Dropout
 * masks are drawn in order whatever the thread count. */
START_TEST(bn_dropout_large_and_threads)
{
    th_out *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    ck_assert(a && b);
    run_bn_threads(1, a);
    check_bn_large(a);
    mlp_status st = mlp_set_num_threads(2);
    if (st == MLP_STATUS_UNSUPPORTED) { /* a build with one thread only */
        ck_assert_int_eq(mlp_get_num_threads(), 1);
        free(a);
        free(b);
        return;
    }
    TU_OK(st);
    TU_OK(mlp_set_num_threads(1));
    run_bn_threads(2, b);
    ck_assert_msg(memcmp(a->y, b->y, sizeof a->y) == 0, "training outputs differ");
    ck_assert_msg(memcmp(a->dx, b->dx, sizeof a->dx) == 0, "input gradients differ");
    ck_assert_msg(memcmp(a->grads, b->grads, sizeof a->grads) == 0,
                  "dgamma/dbeta differ");
    ck_assert_msg(memcmp(a->state, b->state, sizeof a->state) == 0,
                  "running statistics differ");
    ck_assert_msg(memcmp(a->ev, b->ev, sizeof a->ev) == 0, "inference outputs differ");
    ck_assert_msg(memcmp(a->drop, b->drop, sizeof a->drop) == 0, "dropout masks differ");
    free(a);
    free(b);
}
END_TEST

/* ---- allocation failures ---------------------------------------------------------- */

/* Build batchnorm_spatial-dropout-dense(no bias)-batchnorm and run a
 * training pass forward and back; stop at the first failure. */
static mlp_status oom_build_and_run(void *ctx)
{
    tu_built *b = ctx;
    const int32_t img[3] = {2, 3, 3}, xd[4] = {4, 2, 3, 3}, yd[2] = {4, 3};
    mlp_layer *l = NULL;
    mlp_status st = mlp_model_create(&b->model, 3, img, 1);
    TU_THEN(st, mlp_layer_create_batchnorm_spatial(&l));
    TU_THEN(st, mlp_model_add(b->model, l));
    TU_THEN(st, mlp_layer_create_dropout(&l, 0.5f));
    TU_THEN(st, mlp_model_add(b->model, l));
    TU_THEN(st, mlp_layer_create_dense(&l, 3));
    TU_THEN(st, mlp_layer_set_use_bias(l, 0));
    TU_THEN(st, mlp_model_add(b->model, l));
    TU_THEN(st, mlp_layer_create_batchnorm(&l));
    TU_THEN(st, mlp_model_add(b->model, l));
    TU_THEN(st, mlp_tensor_create(&b->t[0], 4, xd));
    TU_THEN(st, mlp_tensor_create(&b->t[1], 2, yd));
    TU_THEN(st, mlp_model_forward(b->model, b->t[0], MLP_MODE_TRAIN, NULL));
    TU_THEN(st, mlp_model_backward(b->model, b->t[1], NULL));
    return st;
}

START_TEST(oom_loop)
{
    tu_oom_loop_built("norm model", oom_build_and_run, 200);
}
END_TEST

static Suite *norm_suite(void)
{
    Suite *s = suite_create("norm");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gradcheck_self_test);
    tcase_add_loop_test(tc, bn_grad_dense, 0, 2);
    tcase_add_loop_test(tc, bn_grad_spatial, 0, 2);
    tcase_add_test(tc, bn_grad_spatial_batch_of_one);
    tcase_add_loop_test(tc, bn_grad_stack, 0, 2);
    tcase_add_test(tc, bn_param_grads_closed_form);
    tcase_add_test(tc, dropout_grad_fixed_mask);
    tcase_add_test(tc, dense_no_bias_grad);
    suite_add_tcase(s, tc);

    tc = tcase_create("batchnorm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bn_forward_reference);
    tcase_add_test(tc, bn_statistics_far_from_zero);
    tcase_add_test(tc, bn_running_stats_update);
    tcase_add_test(tc, bn_running_stats_converge);
    tcase_add_test(tc, bn_eval_mode);
    tcase_add_test(tc, bn_batch_of_one);
    tcase_add_test(tc, bn_set_misuse);
    tcase_add_test(tc, bn_spatial_needs_rank3);
    tcase_add_test(tc, bn_params_and_state);
    tcase_add_test(tc, bn_fit_stops_on_a_state_that_overflowed);
    suite_add_tcase(s, tc);

    tc = tcase_create("dropout");
    tcase_add_test(tc, dropout_train_statistics);
    tcase_add_test(tc, dropout_eval_identity);
    tcase_add_test(tc, dropout_keep_one_is_identity);
    tcase_add_test(tc, dropout_noise_seeds);
    tcase_add_test(tc, dropout_create_misuse);
    tcase_add_test(tc, dropout_keep_too_small_for_its_drop_probability);
    tcase_add_test(tc, dropout_p_is_drop_probability);
    suite_add_tcase(s, tc);

    tc = tcase_create("bias");
    tcase_add_test(tc, dense_no_bias_forward);
    tcase_add_test(tc, use_bias_misuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("system");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bn_dropout_large_and_threads);
    tcase_add_test(tc, oom_loop);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(norm_suite, 1)
