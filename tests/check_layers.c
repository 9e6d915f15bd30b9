/*
 * Tests of include/mlpnet/layer.h: every layer kind against a naive forward
 * reference and a finite-difference gradient check, output shapes, argument
 * checks, weight initialisers, reproducibility, allocation failures.
 */
#include <check.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "testutil.h"

/* SELU constants of Klambauer et al. (2017). */
#define SELU_LAMBDA 1.0507009873554805
#define SELU_ALPHA 1.6732632423543772

static const int32_t BATCHES[3] = {1, 3, 7};

static mlp_layer *const SENTINEL = (mlp_layer *)&SENTINEL;

/* ---- layer factories for table-driven tests ----------------------------- */

typedef enum act_kind {
    ACT_SIGMOID,
    ACT_TANH,
    ACT_RELU,
    ACT_LEAKY_01,
    ACT_LEAKY_0,
    ACT_ELU_1,
    ACT_ELU_05,
    ACT_SELU,
    ACT_SOFTPLUS,
    ACT_COUNT
} act_kind;

static const char *const ACT_NAMES[ACT_COUNT] = {
    "sigmoid", "tanh",     "relu", "leaky_relu(0.1)", "leaky_relu(0)",
    "elu(1)",  "elu(0.5)", "selu", "softplus"};

static mlp_layer *make_act(act_kind k)
{
    switch (k) {
    case ACT_SIGMOID: return tu_sigmoid();
    case ACT_TANH: return tu_tanh();
    case ACT_RELU: return tu_relu();
    case ACT_LEAKY_01: return tu_leaky_relu(0.1f);
    case ACT_LEAKY_0: return tu_leaky_relu(0.0f);
    case ACT_ELU_1: return tu_elu(1.0f);
    case ACT_ELU_05: return tu_elu(0.5f);
    case ACT_SELU: return tu_selu();
    case ACT_SOFTPLUS: {
        mlp_layer *l = NULL;
        TU_OK(mlp_layer_create_softplus(&l));
        return l;
    }
    default: ck_abort_msg("bad act kind"); return NULL;
    }
}

/* Reference activations, in double, straight from the definitions. */
static double ref_act(act_kind k, double x)
{
    switch (k) {
    case ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case ACT_TANH: return tanh(x);
    case ACT_RELU: return x > 0 ? x : 0.0;
    case ACT_LEAKY_01: return x > 0 ? x : 0.1 * x;
    case ACT_LEAKY_0: return x > 0 ? x : 0.0;
    case ACT_ELU_1: return x > 0 ? x : 1.0 * (exp(x) - 1.0);
    case ACT_ELU_05: return x > 0 ? x : 0.5 * (exp(x) - 1.0);
    case ACT_SELU: return SELU_LAMBDA * (x > 0 ? x : SELU_ALPHA * (exp(x) - 1.0));
    /* log(1 + e^x), rewritten for x > 0 only so that double does not
     * overflow at x = 1000 */
    case ACT_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    default: return NAN;
    }
}

/* Their derivatives, in double, from the definitions (not from y). */
static double ref_act_deriv(act_kind k, double x)
{
    switch (k) {
    case ACT_SIGMOID: {
        double y = 1.0 / (1.0 + exp(-x));
        return y * (1.0 - y);
    }
    case ACT_TANH: return 1.0 - tanh(x) * tanh(x);
    case ACT_RELU: return x > 0 ? 1.0 : 0.0;
    case ACT_LEAKY_01: return x > 0 ? 1.0 : 0.1;
    case ACT_LEAKY_0: return x > 0 ? 1.0 : 0.0;
    case ACT_ELU_1: return x > 0 ? 1.0 : 1.0 * exp(x);
    case ACT_ELU_05: return x > 0 ? 1.0 : 0.5 * exp(x);
    case ACT_SELU: return SELU_LAMBDA * (x > 0 ? 1.0 : SELU_ALPHA * exp(x));
    case ACT_SOFTPLUS: return 1.0 / (1.0 + exp(-x)); /* sigmoid */
    default: return NAN;
    }
}

/* Kinked activations need inputs away from 0 for finite differences. */
static int act_has_kink(act_kind k)
{
    return k == ACT_RELU || k == ACT_LEAKY_01 || k == ACT_LEAKY_0 || k == ACT_ELU_05 ||
           k == ACT_SELU || k == ACT_ELU_1;
}

static mlp_layer_kind act_layer_kind(act_kind k)
{
    switch (k) {
    case ACT_SIGMOID: return MLP_LAYER_SIGMOID;
    case ACT_TANH: return MLP_LAYER_TANH;
    case ACT_RELU: return MLP_LAYER_RELU;
    case ACT_LEAKY_01:
    case ACT_LEAKY_0: return MLP_LAYER_LEAKY_RELU;
    case ACT_ELU_1:
    case ACT_ELU_05: return MLP_LAYER_ELU;
    case ACT_SELU: return MLP_LAYER_SELU;
    case ACT_SOFTPLUS: return MLP_LAYER_SOFTPLUS;
    default: return 0;
    }
}

/* ---- the gradient checker itself ---------------------------------------- */

/* A check that cannot fail is worthless: feed the analytic pass a scaled dy
 * and the checker must notice, with and without parameters. */
START_TEST(gradcheck_detects_wrong_gradients)
{
    const int32_t in[1] = {4};
    tu_gradcheck_cfg cfg;
    tu_gradcheck_cfg_init(&cfg);
    tu_gradcheck_result res;

    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, tu_dense(3));
    tu_gradcheck(m, 1, in, 3, &cfg, &res);
    ck_assert_msg(res.ok, "baseline gradient check fails: %s", res.where);
    cfg.dy_scale = 1.05;
    tu_gradcheck(m, 1, in, 3, &cfg, &res);
    ck_assert_msg(!res.ok, "a 5%% gradient error went unnoticed (worst %.3g)", res.worst);
    mlp_model_destroy(m);

    m = tu_model(1, in, 1);
    tu_add(m, tu_tanh());
    cfg.dy_scale = -1.0;
    tu_gradcheck(m, 1, in, 2, &cfg, &res);
    ck_assert_msg(!res.ok, "a sign error in dx went unnoticed");
    mlp_model_destroy(m);
}
END_TEST

/* ---- gradient checks per layer kind -------------------------------------- */

START_TEST(grad_dense)
{
    /* per-sample input shapes and units */
    static const struct {
        int rank;
        int32_t dims[3];
        int32_t units;
    } cases[] = {
        {1, {5}, 3}, {1, {1}, 1}, {1, {3}, 6}, {3, {2, 3, 4}, 4}, {2, {3, 2}, 2}};
    int32_t batch = BATCHES[_i];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mlp_model *m = tu_model(cases[c].rank, cases[c].dims, 100 + c);
        tu_add(m, tu_dense(cases[c].units));
        ck_assert_int_eq(mlp_model_param_count(m),
                         tu_prod(cases[c].rank, cases[c].dims) * cases[c].units +
                             cases[c].units);
        tu_gradcheck_cfg cfg;
        tu_gradcheck_cfg_init(&cfg);
        cfg.seed = 1000 + c * 10 + (uint64_t)_i;
        tu_assert_gradcheck(m, cases[c].rank, cases[c].dims, batch, &cfg);
        mlp_model_destroy(m);
    }
}
END_TEST

START_TEST(grad_activations)
{
    static const struct {
        int rank;
        int32_t dims[3];
    } shapes[] = {{1, {6}}, {2, {2, 3}}, {3, {2, 2, 3}}, {1, {1}}};
    int32_t batch = BATCHES[_i];
    for (int k = 0; k < ACT_COUNT; k++) {
        double max_dx = 0.0; /* over all shapes: one tiny relu case may be all zero */
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            mlp_model *m = tu_model(shapes[s].rank, shapes[s].dims, 7);
            tu_add(m, make_act((act_kind)k));
            tu_gradcheck_cfg cfg;
            tu_gradcheck_cfg_init(&cfg);
            cfg.x_lo = -3.0f;
            cfg.x_hi = 3.0f;
            if (act_has_kink((act_kind)k))
                cfg.min_abs = 0.05f; /* > eps = 0.01: no difference crosses 0 */
            cfg.seed = 2000 + (uint64_t)(k * 100 + (int)s * 10 + _i);
            tu_gradcheck_result res;
            tu_gradcheck(m, shapes[s].rank, shapes[s].dims, batch, &cfg, &res);
            ck_assert_msg(res.ok, "%s, shape #%d, batch %d: worst %.3g x tol at %s",
                          ACT_NAMES[k], (int)s, batch, res.worst, res.where);
            max_dx = fmax(max_dx, res.max_abs_dx);
            mlp_model_destroy(m);
        }
        ck_assert_msg(max_dx > 1e-3, "%s: vacuous check", ACT_NAMES[k]);
    }
}
END_TEST

START_TEST(grad_reshape_and_flatten)
{
    int32_t batch = BATCHES[_i];
    const int32_t in3[3] = {2, 3, 4};
    const int32_t to2[2] = {4, 6};
    const int32_t to3[3] = {3, 2, 4};
    const int32_t in1[1] = {24};

    mlp_model *m = tu_model(3, in3, 1);
    tu_add(m, tu_reshape(2, to2));
    tu_assert_gradcheck(m, 3, in3, batch, NULL);
    mlp_model_destroy(m);

    m = tu_model(1, in1, 1);
    tu_add(m, tu_reshape(3, to3));
    tu_assert_gradcheck(m, 1, in1, batch, NULL);
    mlp_model_destroy(m);

    m = tu_model(3, in3, 1);
    tu_add(m, tu_flatten());
    tu_assert_gradcheck(m, 3, in3, batch, NULL);
    mlp_model_destroy(m);

    /* flatten of an already flat sample is the identity */
    m = tu_model(1, in1, 1);
    tu_add(m, tu_flatten());
    tu_assert_gradcheck(m, 1, in1, batch, NULL);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(grad_stack_dense_elu_dense)
{
    int32_t batch = BATCHES[_i];
    const int32_t in[1] = {5};
    mlp_model *m = tu_model(1, in, 42);
    tu_add(m, tu_dense(6));
    tu_add(m, tu_elu(1.0f));
    tu_add(m, tu_dense(3));
    tu_gradcheck_cfg cfg;
    tu_gradcheck_cfg_init(&cfg);
    /* elu(1) is only C1 at 0 and pre-activations are not controlled here:
     * a smaller step keeps the difference error there small */
    cfg.eps = 1e-3;
    cfg.seed = 77 + (uint64_t)_i;
    tu_assert_gradcheck(m, 1, in, batch, &cfg);
    mlp_model_destroy(m);

    /* image-shaped input through reshape, dense, tanh, dense */
    const int32_t img[3] = {1, 4, 5};
    const int32_t flat[1] = {20};
    m = tu_model(3, img, 43);
    tu_add(m, tu_reshape(1, flat));
    tu_add(m, tu_dense(4));
    tu_add(m, tu_tanh());
    tu_add(m, tu_dense(2));
    cfg.eps = 1e-2;
    tu_assert_gradcheck(m, 3, img, batch, &cfg);
    mlp_model_destroy(m);
}
END_TEST

/* ---- forward against naive references ------------------------------------ */

static void check_dense_forward(int rank, const int32_t *in_dims, int32_t units,
                                int32_t n, uint64_t seed)
{
    int64_t in = tu_prod(rank, in_dims);
    mlp_model *m = tu_model(rank, in_dims, seed);
    mlp_layer *d = tu_add(m, tu_dense(units));
    int64_t np = in * units + units;
    ck_assert_int_eq(mlp_layer_param_count(d), np);
    ck_assert_int_eq(mlp_model_param_count(m), np);

    tu_rng rng;
    tu_rng_seed(&rng, seed);
    float *p = malloc(sizeof(float) * (size_t)np);
    tu_fill_uniform(&rng, p, np, -1.0f, 1.0f);
    TU_OK(mlp_model_set_params(m, p, np));
    /* the layer sees the same values, W [in, out] first, then b */
    tu_assert_close_ff("mlp_layer_params", mlp_layer_params(d), p, np, 0.0, 0.0);

    mlp_tensor *x = tu_tensor_batch(n, rank, in_dims);
    tu_fill_uniform(&rng, mlp_tensor_data(x), n * in, -2.0f, 2.0f);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_int_eq(mlp_tensor_rank(y), 2);
    ck_assert_int_eq(mlp_tensor_dim(y, 0), n);
    ck_assert_int_eq(mlp_tensor_dim(y, 1), units);

    const float *xd = mlp_tensor_data_const(x);
    const float *w = p, *b = p + in * units;
    double *ref = malloc(sizeof(double) * (size_t)(n * units));
    for (int32_t s = 0; s < n; s++)
        for (int32_t o = 0; o < units; o++) {
            double acc = b[o];
            for (int64_t i = 0; i < in; i++)
                acc += (double)xd[s * in + i] * (double)w[i * units + o];
            ref[s * units + o] = acc;
        }
    tu_assert_close_fd("dense y", mlp_tensor_data_const(y), ref, n * units, 1e-5, 1e-5);

    /* training mode computes the same thing */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    tu_assert_close_fd("dense y (train)", mlp_tensor_data_const(y), ref, n * units, 1e-5,
                       1e-5);
    free(ref);
    free(p);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

START_TEST(dense_forward_reference)
{
    const int32_t a[1] = {5};
    const int32_t b[3] = {2, 3, 4};
    const int32_t c[1] = {64};
    check_dense_forward(1, a, 3, 1, 1);
    check_dense_forward(1, a, 3, 4, 2);
    check_dense_forward(3, b, 4, 3, 3);   /* rank-3 samples are flattened */
    check_dense_forward(1, c, 33, 17, 4); /* large enough for a real GEMM */
}
END_TEST

/* A dense layer on 2 threads against a double reference, forward and
 * backward. Products of >= 1e6 multiply-adds are split across threads: by
 * rows of C when M >= N, else by columns; the extents are not multiples of
 * 32, so a block boundary falls inside a 16-row chunk's rounding. */
static void check_dense_threads(int32_t batch, int32_t in, int32_t units)
{
    const int32_t dims[1] = {in};
    mlp_model *m = tu_model(1, dims, 3);
    mlp_layer *d = tu_add(m, tu_dense(units));
    mlp_tensor *x = tu_tensor_batch(batch, 1, dims);
    const int32_t od[1] = {units};
    mlp_tensor *dy = tu_tensor_batch(batch, 1, od);
    tu_rng rng;
    tu_rng_seed(&rng, (uint64_t)batch * 1000 + (uint64_t)units);
    const float *xd = mlp_tensor_data(x), *dyd = mlp_tensor_data(dy);
    tu_fill_uniform(&rng, mlp_tensor_data(x), (int64_t)batch * in, -1.0f, 1.0f);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), (int64_t)batch * units, -1.0f, 1.0f);
    float *p = mlp_layer_params(d);
    tu_fill_uniform(&rng, p, (int64_t)in * units + units, -0.5f, 0.5f);
    const float *w = p, *bias = p + (int64_t)in * units;

    double *y = calloc((size_t)batch * units, sizeof *y);
    double *dw = calloc((size_t)in * units + units, sizeof *dw);
    double *dx = calloc((size_t)batch * in, sizeof *dx);
    ck_assert(y && dw && dx);
    for (int32_t i = 0; i < batch; i++)
        for (int32_t j = 0; j < units; j++) {
            double acc = bias[j], g = dyd[(int64_t)i * units + j];
            for (int32_t k = 0; k < in; k++) {
                acc += (double)xd[(int64_t)i * in + k] * w[(int64_t)k * units + j];
                dw[(int64_t)k * units + j] += (double)xd[(int64_t)i * in + k] * g;
                dx[(int64_t)i * in + k] += g * w[(int64_t)k * units + j];
            }
            y[(int64_t)i * units + j] = acc;
            dw[(int64_t)in * units + j] += g;
        }

    mlp_status st = mlp_set_num_threads(2);
    if (st != MLP_STATUS_UNSUPPORTED)
        TU_OK(st);
    const mlp_tensor *yt = NULL, *dxt = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &yt));
    TU_OK(mlp_model_backward(m, dy, &dxt));
    TU_OK(mlp_set_num_threads(1));
    tu_assert_close_fd("y on 2 threads", mlp_tensor_data_const(yt), y,
                       (int64_t)batch * units, 1e-4, 1e-4);
    tu_assert_close_fd("dW, db on 2 threads", mlp_layer_grads(d), dw,
                       (int64_t)in * units + units, 1e-4, 1e-4);
    tu_assert_close_fd("dx on 2 threads", mlp_tensor_data_const(dxt), dx,
                       (int64_t)batch * in, 1e-4, 1e-4);
    free(dx);
    free(dw);
    free(y);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}

START_TEST(dense_split_products)
{
    check_dense_threads(200, 128, 48); /* batch >= units: forward splits rows */
    check_dense_threads(40, 130, 200); /* batch < units: forward splits columns */
    check_dense_threads(4096, 8, 8);   /* dW too narrow to split, dx split by rows */
}
END_TEST

/* A dense layer holds at most INT32_MAX weights: more are refused when the
 * layer is added, before anything is allocated for them. */
START_TEST(dense_weight_count_limit)
{
    const int32_t in[1] = {1 << 20};
    mlp_model *m = tu_model(1, in, 7);
    TU_FAIL_MSG(mlp_model_add(m, tu_dense(1 << 20)), MLP_STATUS_SHAPE_MISMATCH,
                "too many weights");
    mlp_model_destroy(m);
}
END_TEST

/* n <= 0 asks for every core; counts are capped at 1024. */
/* status.h: n <= 0 means all cores, a count above 1024 is taken as 1024,
 * and every count is accepted (MLP_STATUS_OK), whatever came before. */
START_TEST(num_threads_zero_means_all_cores)
{
    ck_assert_int_eq(mlp_get_num_threads(), 1);
    TU_OK(mlp_set_num_threads(2));
    const int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    const int not_above[] = {0, -1, -3, INT_MIN};
    for (int i = 0; i < 4; i++) {
        /* from the cap too, so that no earlier count is kept */
        TU_OK(mlp_set_num_threads(INT_MAX));
        ck_assert_int_eq(mlp_get_num_threads(), 1024);
        TU_OK(mlp_set_num_threads(not_above[i]));
        ck_assert_msg(mlp_get_num_threads() == cores, "mlp_set_num_threads(%d) gave %d",
                      not_above[i], mlp_get_num_threads());
    }
    /* counts past 1024 are taken as 1024 (no thread starts here) */
    TU_OK(mlp_set_num_threads(1024));
    ck_assert_int_eq(mlp_get_num_threads(), 1024);
    TU_OK(mlp_set_num_threads(1025));
    ck_assert_int_eq(mlp_get_num_threads(), 1024);
    TU_OK(mlp_set_num_threads(1));
    ck_assert_int_eq(mlp_get_num_threads(), 1);
}
END_TEST

/* Feeding [N, in] to a model whose input is [2,3,4] is the documented
 * alternative input form; it must give the same output. */
START_TEST(dense_accepts_flat_input)
{
    const int32_t in3[3] = {2, 3, 4};
    mlp_model *m = tu_model(3, in3, 5);
    tu_add(m, tu_dense(3));
    mlp_tensor *x4 = tu_tensor_batch(2, 3, in3);
    tu_rng rng;
    tu_rng_seed(&rng, 9);
    tu_fill_uniform(&rng, mlp_tensor_data(x4), 48, -1, 1);
    mlp_tensor *x2 = tu_tensor(2, 2, 24);
    TU_OK(mlp_tensor_copy_from(x2, mlp_tensor_data_const(x4), 48));
    const mlp_tensor *y = NULL;
    float y4[6];
    TU_OK(mlp_model_forward(m, x4, MLP_MODE_EVAL, &y));
    TU_OK(mlp_tensor_copy_to(y, y4, 6));
    TU_OK(mlp_model_forward(m, x2, MLP_MODE_EVAL, &y));
    tu_assert_close_ff("flat input", mlp_tensor_data_const(y), y4, 6, 0.0, 0.0);
    mlp_tensor_destroy(x4);
    mlp_tensor_destroy(x2);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(activation_forward_reference)
{
    /* random values plus the corners: 0, tiny, moderate, saturating */
    static const float corners[] = {0.0f,   1e-3f,  -1e-3f,  0.5f,    -0.5f,    1.0f,
                                    -1.0f,  5.0f,   -5.0f,   20.0f,   -20.0f,   88.0f,
                                    -88.0f, 100.0f, -100.0f, 1000.0f, -1000.0f, -0.0f};
    const int ncorner = (int)(sizeof corners / sizeof corners[0]);
    const int32_t in[2] = {5, 8};
    const int32_t n = 3;
    const int64_t total = n * 40;
    for (int k = 0; k < ACT_COUNT; k++) {
        mlp_model *m = tu_model(2, in, 1);
        mlp_layer *l = tu_add(m, make_act((act_kind)k));
        ck_assert_int_eq(mlp_layer_get_kind(l), act_layer_kind((act_kind)k));
        ck_assert_int_eq(mlp_layer_param_count(l), 0);
        ck_assert_int_eq(mlp_model_param_count(m), 0);
        mlp_tensor *x = tu_tensor_batch(n, 2, in);
        float *xd = mlp_tensor_data(x);
        tu_rng rng;
        tu_rng_seed(&rng, 31 + (uint64_t)k);
        tu_fill_uniform(&rng, xd, total, -6.0f, 6.0f);
        memcpy(xd, corners, sizeof corners);
        double *ref = malloc(sizeof(double) * (size_t)total);
        for (int64_t i = 0; i < total; i++)
            ref[i] = ref_act((act_kind)k, xd[i]);
        const mlp_tensor *y = NULL;
        for (int mode = MLP_MODE_TRAIN; mode <= MLP_MODE_EVAL; mode++) {
            TU_OK(mlp_model_forward(m, x, (mlp_mode)mode, &y));
            ck_assert_int_eq(mlp_tensor_rank(y), 3);
            ck_assert_int_eq(mlp_tensor_dim(y, 0), n);
            ck_assert_int_eq(mlp_tensor_dim(y, 1), 5);
            ck_assert_int_eq(mlp_tensor_dim(y, 2), 8);
            const float *yd = mlp_tensor_data_const(y);
            for (int64_t i = 0; i < total; i++) {
                TU_CHECK_MSG(isfinite(yd[i]), "%s(%g) = %g is not finite", ACT_NAMES[k],
                             (double)xd[i], (double)yd[i]);
                TU_CHECK_MSG(tu_close(yd[i], ref[i], 1e-5, 1e-6),
                             "%s(%.9g) = %.9g, want %.9g (element %lld%s)", ACT_NAMES[k],
                             (double)xd[i], (double)yd[i], ref[i], (long long)i,
                             i < ncorner ? ", a corner value" : "");
            }
        }
        free(ref);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
}
END_TEST

/* Backward of each activation against its exact derivative: dx = dy * f'(x)
 * to float precision (finite differences at 1% cannot see a 0.5% slip).
 * Inputs stay in [-4, 4], where every derivative is well above the float
 * rounding of y; the kinks are tested at x = +-1e-3 and at 0 (where the
 * library takes the left derivative). */
START_TEST(activation_backward_exact)
{
    static const float corners[] = {1e-3f, -1e-3f, 0.0f, 0.5f, -0.5f,
                                    1.0f,  -1.0f,  4.0f, -4.0f};
    const int ncorner = (int)(sizeof corners / sizeof corners[0]);
    const int32_t in[1] = {33};
    const int32_t n = 3;
    const int64_t total = n * in[0];
    for (int k = 0; k < ACT_COUNT; k++) {
        mlp_model *m = tu_model(1, in, 1);
        tu_add(m, make_act((act_kind)k));
        mlp_tensor *x = tu_tensor_batch(n, 1, in), *dy = tu_tensor_batch(n, 1, in);
        float *xd = mlp_tensor_data(x), *dyd = mlp_tensor_data(dy);
        tu_rng rng;
        tu_rng_seed(&rng, 77 + (uint64_t)k);
        tu_fill_uniform(&rng, xd, total, -4.0f, 4.0f);
        memcpy(xd, corners, sizeof corners);
        tu_fill_uniform(&rng, dyd, total, 0.5f, 2.0f);
        double *ref = malloc(sizeof(double) * (size_t)total);
        ck_assert_ptr_nonnull(ref);
        for (int64_t i = 0; i < total; i++)
            ref[i] = (double)dyd[i] * (xd[i] == 0.0f && act_has_kink((act_kind)k)
                                           ? ref_act_deriv((act_kind)k, -1e-30)
                                           : ref_act_deriv((act_kind)k, xd[i]));
        const mlp_tensor *dx = NULL;
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
        TU_OK(mlp_model_backward(m, dy, &dx));
        const float *dxd = mlp_tensor_data_const(dx);
        for (int64_t i = 0; i < total; i++)
            ck_assert_msg(tu_close(dxd[i], ref[i], 2e-5, 2e-6),
                          "%s'(%.9g) * %.6g = %.9g, want %.9g (element %lld%s)",
                          ACT_NAMES[k], (double)xd[i], (double)dyd[i], (double)dxd[i],
                          ref[i], (long long)i, i < ncorner ? ", a corner value" : "");
        free(ref);
        mlp_tensor_destroy(dy);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
}
END_TEST

/* The ReLU keeps NaN (PyTorch's ReLU, and this library's ELU and leaky
 * ReLU): NaN in gives NaN out, whose gradient is 0 (the output is not above
 * 0); every other input gives the bits of x > 0 ? x : +0 (-0 gives +0),
 * and its gradient dy where x > 0, else +0. 37 inputs per sample: NaN in
 * the vector loop's lanes and in its tail, on the model's in-place pass. */
START_TEST(relu_keeps_nan)
{
    enum { IN = 37, N = 2, TOTAL = N * IN };
    static const float corners[] = {NAN,      -NAN,      0.0f,     -0.0f,   1e-40f,
                                    -1e-40f,  FLT_MIN,   -FLT_MIN, FLT_MAX, -FLT_MAX,
                                    INFINITY, -INFINITY, 1.0f,     -1.0f,   NAN};
    const int32_t in[1] = {IN};
    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, tu_relu());
    mlp_tensor *x = tu_tensor_batch(N, 1, in), *dy = tu_tensor_batch(N, 1, in);
    float *xd = mlp_tensor_data(x), *dyd = mlp_tensor_data(dy);
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    tu_fill_uniform(&rng, xd, TOTAL, -2.0f, 2.0f);
    tu_fill_uniform(&rng, dyd, TOTAL, 0.5f, 2.0f);
    memcpy(xd, corners, sizeof corners);
    xd[20] = xd[IN - 1] = xd[IN + 9] = xd[TOTAL - 1] = NAN; /* lanes and tails */
    const mlp_tensor *y = NULL, *dx = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    const float *yd = mlp_tensor_data_const(y);
    float ys[TOTAL];
    memcpy(ys, yd, sizeof ys);
    TU_OK(mlp_model_backward(m, dy, &dx));
    const float *dxd = mlp_tensor_data_const(dx);
    int bad = 0, first = -1;
    for (int i = 0; i < TOTAL; i++) {
        const float want = xd[i] > 0.0f ? xd[i] : 0.0f,
                    gwant = xd[i] > 0.0f ? dyd[i] : 0.0f;
        const int ok = (isnan(xd[i]) ? isnan(ys[i]) != 0
                                     : memcmp(&ys[i], &want, sizeof want) == 0) &&
                       memcmp(&dxd[i], &gwant, sizeof gwant) == 0;
        if (!ok && !bad++)
            first = i;
    }
    ck_assert_msg(bad == 0, "relu: %d of %d unlike; first: relu(%g) = %g, gradient %g",
                  bad, TOTAL, first < 0 ? 0.0 : (double)xd[first],
                  first < 0 ? 0.0 : (double)ys[first],
                  first < 0 ? 0.0 : (double)dxd[first]);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* No activation writes a subnormal float, forward or backward (dy = 1),
 * however far out its input: values below FLT_MIN come out as 0. A
 * subnormal makes every product that reads it many times slower. */
START_TEST(activations_give_no_subnormals)
{
    static const float xs[] = {-1e4f,  -1000.0f, -200.0f, -104.0f, -100.0f, -95.0f,
                               -90.0f, -88.5f,   -88.0f,  -87.5f,  -87.34f, -87.33f,
                               -87.0f, -80.0f,   -50.0f,  0.0f,    50.0f,   87.0f,
                               88.0f,  88.5f,    90.0f,   100.0f,  1000.0f, 1e4f};
    const int32_t in[1] = {(int32_t)(sizeof xs / sizeof xs[0])};
    for (int k = 0; k < ACT_COUNT; k++) {
        mlp_model *m = tu_model(1, in, 1);
        tu_add(m, make_act((act_kind)k));
        mlp_tensor *x = tu_tensor_batch(1, 1, in), *dy = tu_tensor_batch(1, 1, in);
        memcpy(mlp_tensor_data(x), xs, sizeof xs);
        mlp_tensor_fill(dy, 1.0f);
        const mlp_tensor *y = NULL, *dx = NULL;
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
        for (int i = 0; i < in[0]; i++) {
            const float v = mlp_tensor_data_const(y)[i];
            ck_assert_msg(fpclassify(v) != FP_SUBNORMAL, "%s(%g) = %g", ACT_NAMES[k],
                          (double)xs[i], (double)v);
        }
        TU_OK(mlp_model_backward(m, dy, &dx));
        for (int i = 0; i < in[0]; i++) {
            const float v = mlp_tensor_data_const(dx)[i];
            ck_assert_msg(fpclassify(v) != FP_SUBNORMAL, "%s'(%g) = %g", ACT_NAMES[k],
                          (double)xs[i], (double)v);
        }
        mlp_tensor_destroy(dy);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
}
END_TEST

/* The slope and saturation values are the ones asked for, not defaults. */
START_TEST(activation_parameters_are_used)
{
    const int32_t in[1] = {2};
    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, tu_leaky_relu(0.37f));
    mlp_tensor *x = tu_tensor(2, 1, 2);
    mlp_tensor_data(x)[0] = -2.0f;
    mlp_tensor_data(x)[1] = 3.0f;
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_float_eq_tol(mlp_tensor_data_const(y)[0], -0.74f, 1e-6f);
    ck_assert_float_eq_tol(mlp_tensor_data_const(y)[1], 3.0f, 1e-6f);
    mlp_model_destroy(m);

    m = tu_model(1, in, 1);
    tu_add(m, tu_elu(2.5f));
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_double_eq_tol(mlp_tensor_data_const(y)[0], 2.5 * (exp(-2.0) - 1.0), 1e-6);
    ck_assert_float_eq_tol(mlp_tensor_data_const(y)[1], 3.0f, 1e-6f);
    mlp_model_destroy(m);

    /* selu: the asymptote for very negative inputs is -lambda * alpha */
    m = tu_model(1, in, 1);
    tu_add(m, tu_selu());
    mlp_tensor_data(x)[0] = -30.0f;
    mlp_tensor_data(x)[1] = 1.0f;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_double_eq_tol(mlp_tensor_data_const(y)[0], -SELU_LAMBDA * SELU_ALPHA, 1e-5);
    ck_assert_double_eq_tol(mlp_tensor_data_const(y)[1], SELU_LAMBDA, 1e-6);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(reshape_forward_copies_values)
{
    const int32_t in[3] = {2, 3, 4};
    const int32_t to[2] = {6, 4};
    mlp_model *m = tu_model(3, in, 1);
    mlp_layer *r = tu_add(m, tu_reshape(2, to));
    ck_assert_int_eq(mlp_layer_get_kind(r), MLP_LAYER_RESHAPE);
    ck_assert_str_eq(mlp_layer_kind_name(r), "reshape");
    ck_assert_int_eq(mlp_layer_param_count(r), 0);
    mlp_tensor *x = tu_tensor_batch(3, 3, in);
    for (int i = 0; i < 72; i++)
        mlp_tensor_data(x)[i] = (float)i * 0.25f - 4.0f;
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    ck_assert_int_eq(mlp_tensor_rank(y), 3);
    ck_assert_int_eq(mlp_tensor_dim(y, 0), 3);
    ck_assert_int_eq(mlp_tensor_dim(y, 1), 6);
    ck_assert_int_eq(mlp_tensor_dim(y, 2), 4);
    tu_assert_close_ff("reshape y", mlp_tensor_data_const(y), mlp_tensor_data_const(x),
                       72, 0.0, 0.0);
    /* backward hands dy back unchanged, in the input's layout */
    mlp_tensor *dy = tu_tensor(3, 3, 6, 4);
    for (int i = 0; i < 72; i++)
        mlp_tensor_data(dy)[i] = (float)(71 - i);
    const mlp_tensor *dx = NULL;
    TU_OK(mlp_model_backward(m, dy, &dx));
    ck_assert_int_eq(mlp_tensor_numel(dx), 72);
    tu_assert_close_ff("reshape dx", mlp_tensor_data_const(dx), mlp_tensor_data_const(dy),
                       72, 0.0, 0.0);
    mlp_tensor_destroy(dy);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);

    /* flatten has no kind of its own: it is a reshape to rank 1 */
    m = tu_model(3, in, 1);
    mlp_layer *f = tu_add(m, tu_flatten());
    ck_assert_int_eq(mlp_layer_get_kind(f), MLP_LAYER_RESHAPE);
    x = tu_tensor_batch(2, 3, in);
    for (int i = 0; i < 48; i++)
        mlp_tensor_data(x)[i] = (float)(i % 7) - 3.0f;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_int_eq(mlp_tensor_rank(y), 2);
    ck_assert_int_eq(mlp_tensor_dim(y, 1), 24);
    tu_assert_close_ff("flatten y", mlp_tensor_data_const(y), mlp_tensor_data_const(x),
                       48, 0.0, 0.0);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* dense -> elu -> dense computed by hand from the layers' parameters. */
START_TEST(stack_forward_reference)
{
    const int32_t in[1] = {4};
    const int32_t n = 5, h = 6, k = 3;
    mlp_model *m = tu_model(1, in, 99);
    mlp_layer *d1 = tu_add(m, tu_dense(h));
    tu_add(m, tu_elu(0.8f));
    mlp_layer *d2 = tu_add(m, tu_dense(k));
    ck_assert_int_eq(mlp_model_param_count(m), 4 * h + h + h * k + k);
    /* default Glorot init gives non-zero weights and zero biases */
    const float *p1 = mlp_layer_params(d1), *p2 = mlp_layer_params(d2);
    ck_assert_ptr_nonnull(p1);
    ck_assert_ptr_nonnull(p2);
    /* biases start at zero; set some so that the reference covers them */
    float *b1 = mlp_layer_params(d1) + 4 * h;
    float *b2 = mlp_layer_params(d2) + h * k;
    for (int i = 0; i < h; i++) {
        ck_assert_float_eq(b1[i], 0.0f);
        b1[i] = 0.1f * (float)(i - 2);
    }
    for (int i = 0; i < k; i++) {
        ck_assert_float_eq(b2[i], 0.0f);
        b2[i] = -0.2f * (float)i;
    }
    mlp_tensor *x = tu_tensor(2, n, 4);
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    tu_fill_uniform(&rng, mlp_tensor_data(x), n * 4, -2, 2);
    const float *xd = mlp_tensor_data_const(x);
    double ref[5 * 3];
    for (int s = 0; s < n; s++) {
        double hid[6];
        for (int j = 0; j < h; j++) {
            double a = b1[j];
            for (int i = 0; i < 4; i++)
                a += (double)xd[s * 4 + i] * p1[i * h + j];
            hid[j] = a > 0 ? a : 0.8 * (exp(a) - 1.0);
        }
        for (int o = 0; o < k; o++) {
            double a = b2[o];
            for (int j = 0; j < h; j++)
                a += hid[j] * p2[j * k + o];
            ref[s * k + o] = a;
        }
    }
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    tu_assert_close_fd("stack y", mlp_tensor_data_const(y), ref, n * k, 1e-5, 1e-5);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* ---- output shapes ------------------------------------------------------- */

static void expect_shape(const mlp_model *m, int i, int rank, int32_t d0, int32_t d1,
                         int32_t d2)
{
    int r = -7;
    int32_t d[MLP_MAX_RANK] = {-7, -7, -7, -7};
    TU_OK(mlp_model_output_shape(m, i, &r, d));
    const int32_t want[3] = {d0, d1, d2};
    ck_assert_msg(r == rank, "layer %d: rank %d, want %d", i, r, rank);
    for (int j = 0; j < rank; j++)
        ck_assert_msg(d[j] == want[j], "layer %d: dim %d is %d, want %d", i, j, d[j],
                      want[j]);
}

START_TEST(output_shapes)
{
    const int32_t in[3] = {2, 3, 4};
    mlp_model *m = tu_model(3, in, 1);
    expect_shape(m, -1, 3, 2, 3, 4); /* no layers: the input shape */
    const int32_t to2[2] = {4, 6};
    const int32_t to3[3] = {5, 1, 1};
    tu_add(m, tu_reshape(2, to2));
    tu_add(m, tu_tanh());
    tu_add(m, tu_flatten());
    tu_add(m, tu_sigmoid());
    tu_add(m, tu_dense(5));
    tu_add(m, tu_relu());
    tu_add(m, tu_reshape(3, to3));
    tu_add(m, tu_leaky_relu(0.01f));
    tu_add(m, tu_dense(7)); /* flattens [5,1,1] */
    tu_add(m, tu_elu(1.0f));
    tu_add(m, tu_selu());
    ck_assert_int_eq(mlp_model_layer_count(m), 11);
    expect_shape(m, 0, 2, 4, 6, 0);
    expect_shape(m, 1, 2, 4, 6, 0);
    expect_shape(m, 2, 1, 24, 0, 0);
    expect_shape(m, 3, 1, 24, 0, 0);
    expect_shape(m, 4, 1, 5, 0, 0);
    expect_shape(m, 5, 1, 5, 0, 0);
    expect_shape(m, 6, 3, 5, 1, 1);
    expect_shape(m, 7, 3, 5, 1, 1);
    expect_shape(m, 8, 1, 7, 0, 0);
    expect_shape(m, 9, 1, 7, 0, 0);
    expect_shape(m, 10, 1, 7, 0, 0);
    expect_shape(m, -1, 1, 7, 0, 0);
    ck_assert_int_eq(mlp_model_param_count(m), 24 * 5 + 5 + 5 * 7 + 7);
    ck_assert_int_eq(mlp_layer_param_count(mlp_model_layer(m, 4)), 125);
    ck_assert_int_eq(mlp_layer_param_count(mlp_model_layer(m, 8)), 42);

    int r;
    int32_t d[MLP_MAX_RANK];
    TU_FAIL(mlp_model_output_shape(m, 11, &r, d), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_output_shape(m, -2, &r, d), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_output_shape(m, 0, NULL, d), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_output_shape(m, 0, &r, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_output_shape(NULL, -1, &r, d), MLP_STATUS_INVALID_ARG);

    /* a whole forward pass agrees with the reported shape */
    mlp_tensor *x = tu_tensor_batch(3, 3, in);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    ck_assert_int_eq(mlp_tensor_rank(y), 2);
    ck_assert_int_eq(mlp_tensor_dim(y, 0), 3);
    ck_assert_int_eq(mlp_tensor_dim(y, 1), 7);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* ---- introspection ------------------------------------------------------- */

START_TEST(layer_introspection)
{
    static const struct {
        mlp_layer_kind kind;
        const char *name;
    } want[] = {{MLP_LAYER_DENSE, "dense"},
                {MLP_LAYER_SIGMOID, "sigmoid"},
                {MLP_LAYER_TANH, "tanh"},
                {MLP_LAYER_RELU, "relu"},
                {MLP_LAYER_LEAKY_RELU, "leaky_relu"},
                {MLP_LAYER_ELU, "elu"},
                {MLP_LAYER_SELU, "selu"},
                {MLP_LAYER_RESHAPE, "reshape"}};
    const int32_t to[2] = {2, 2}; /* the dense layer's [4], regrouped */
    mlp_layer *ls[8] = {tu_dense(4),          tu_sigmoid(), tu_tanh(), tu_relu(),
                        tu_leaky_relu(0.01f), tu_elu(1.0f), tu_selu(), tu_reshape(2, to)};
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(mlp_layer_get_kind(ls[i]), want[i].kind);
        ck_assert_str_eq(mlp_layer_kind_name(ls[i]), want[i].name);
        /* nothing allocated before the layer joins a model */
        ck_assert_int_eq(mlp_layer_param_count(ls[i]), 0);
        ck_assert_ptr_null(mlp_layer_params(ls[i]));
        ck_assert_ptr_null(mlp_layer_grads(ls[i]));
    }
    const int32_t in[2] = {2, 3};
    mlp_model *m = tu_model(2, in, 1);
    for (int i = 0; i < 8; i++)
        tu_add(m, ls[i]);
    ck_assert_int_eq(mlp_model_layer_count(m), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_ptr_eq(mlp_model_layer(m, i), ls[i]);
    ck_assert_ptr_null(mlp_model_layer(m, 8));
    ck_assert_ptr_null(mlp_model_layer(m, -1));
    ck_assert_int_eq(mlp_layer_param_count(ls[0]), 6 * 4 + 4);
    ck_assert_ptr_nonnull(mlp_layer_params(ls[0]));
    ck_assert_ptr_nonnull(mlp_layer_grads(ls[0]));
    ck_assert_ptr_ne(mlp_layer_params(ls[0]), mlp_layer_grads(ls[0]));
    for (int i = 1; i < 8; i++) {
        ck_assert_int_eq(mlp_layer_param_count(ls[i]), 0);
        ck_assert_ptr_null(mlp_layer_params(ls[i]));
    }
    mlp_model_destroy(m);

    ck_assert_int_eq(mlp_layer_get_kind(NULL), 0);
    ck_assert_str_eq(mlp_layer_kind_name(NULL), "");
    ck_assert_int_eq(mlp_layer_param_count(NULL), 0);
    ck_assert_ptr_null(mlp_layer_params(NULL));
    ck_assert_ptr_null(mlp_layer_grads(NULL));
    ck_assert_ptr_null(mlp_layer_state(NULL));
    ck_assert_int_eq(mlp_layer_state_count(NULL), 0);
}
END_TEST

/* ---- misuse of the create functions -------------------------------------- */

START_TEST(create_misuse)
{
    long live = mlp__alloc_live();
    mlp_layer *l;
    TU_FAIL(mlp_layer_create_dense(NULL, 3), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_sigmoid(NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_tanh(NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_relu(NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_leaky_relu(NULL, 0.1f), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_elu(NULL, 1.0f), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_selu(NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_softplus(NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_standardize(NULL), MLP_STATUS_INVALID_ARG);
    const int32_t d[3] = {2, 3, 4};
    TU_FAIL(mlp_layer_create_reshape(NULL, 3, d), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_create_flatten(NULL), MLP_STATUS_INVALID_ARG);

    l = SENTINEL;
    TU_FAIL(mlp_layer_create_dense(&l, 0), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(l);
    l = SENTINEL;
    TU_FAIL(mlp_layer_create_dense(&l, -4), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(l);

    const float bad_leaky[] = {-0.01f, -1.0f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_leaky / sizeof bad_leaky[0]; i++) {
        l = SENTINEL;
        mlp_status st = mlp_layer_create_leaky_relu(&l, bad_leaky[i]);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "leaky_relu(alpha = %g) -> %s",
                      (double)bad_leaky[i], mlp_status_str(st));
        ck_assert_ptr_null(l);
        ck_assert_str_ne(mlp_last_error(), "");
    }
    const float bad_elu[] = {0.0f, -0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_elu / sizeof bad_elu[0]; i++) {
        l = SENTINEL;
        mlp_status st = mlp_layer_create_elu(&l, bad_elu[i]);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "elu(alpha = %g) -> %s",
                      (double)bad_elu[i], mlp_status_str(st));
        ck_assert_ptr_null(l);
        ck_assert_str_ne(mlp_last_error(), "");
    }
    /* the boundary values are fine */
    l = NULL;
    TU_OK(mlp_layer_create_leaky_relu(&l, 0.0f));
    mlp_layer_destroy(l);
    l = NULL;
    TU_OK(mlp_layer_create_elu(&l, 1e-6f));
    mlp_layer_destroy(l);
    l = NULL;
    TU_OK(mlp_layer_create_dense(&l, 1));
    mlp_layer_destroy(l);

    /* reshape: per-sample rank 1..3, every extent >= 1, dims given, at most
     * INT32_MAX elements */
    const int32_t four[4] = {1, 2, 3, 4};
    const int32_t zero[2] = {0, 5};
    const int32_t neg[2] = {3, -2};
    const int32_t over[2] = {65536, 32768};
    struct {
        int rank;
        const int32_t *dims;
    } bad_reshape[] = {{0, d},    {-1, d},  {4, four}, {2, NULL},
                       {2, zero}, {2, neg}, {2, over}};
    for (size_t i = 0; i < sizeof bad_reshape / sizeof bad_reshape[0]; i++) {
        l = SENTINEL;
        mlp_status st =
            mlp_layer_create_reshape(&l, bad_reshape[i].rank, bad_reshape[i].dims);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "reshape case %d -> %s", (int)i,
                      mlp_status_str(st));
        ck_assert_ptr_null(l);
        ck_assert_str_ne(mlp_last_error(), "");
    }
    const int32_t most[1] = {INT32_MAX};
    TU_OK(mlp_layer_create_reshape(&l, 1, most));
    mlp_layer_destroy(l);
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_layer_destroy(NULL);
}
END_TEST

/* softplus: the kind string is frozen once saved; a loaded layer computes
 * the same values, and y stays finite and exact far out on both sides. */
START_TEST(softplus_round_trip_and_extremes)
{
    const int32_t in[1] = {6};
    mlp_model *m = tu_model(1, in, 1), *back = NULL;
    tu_add(m, make_act(ACT_SOFTPLUS));
    void *buf = NULL;
    size_t len = 0;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    TU_OK(mlp_model_load_mem(&back, buf, len));
    mlp_buffer_free(buf);
    ck_assert_int_eq(mlp_model_layer_count(back), 1);
    ck_assert_int_eq(mlp_layer_get_kind(mlp_model_layer(back, 0)), MLP_LAYER_SOFTPLUS);
    ck_assert_str_eq(mlp_layer_kind_name(mlp_model_layer(back, 0)), "softplus");
    double v;
    TU_FAIL(mlp_layer_get_attr(mlp_model_layer(back, 0), MLP_LAYER_ATTR_ALPHA, &v),
            MLP_STATUS_UNSUPPORTED);
    mlp_tensor *x = tu_tensor_batch(1, 1, in);
    static const float xs[6] = {-1e4f, -50.0f, 0.0f, 1e-6f, 50.0f, 1e4f};
    static const double want[6] = {
        0.0, 1.9287498479639178e-22, 0.69314718055994531, 0.6931476805600703, 50.0, 1e4};
    memcpy(mlp_tensor_data(x), xs, sizeof xs);
    const mlp_tensor *y1 = NULL, *y2 = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y1));
    TU_OK(mlp_model_forward(back, x, MLP_MODE_EVAL, &y2));
    for (int i = 0; i < 6; i++) {
        const float a = mlp_tensor_data_const(y1)[i], b = mlp_tensor_data_const(y2)[i];
        ck_assert_msg(a == b, "softplus(%g): %g, loaded %g", (double)xs[i], (double)a,
                      (double)b);
        ck_assert_msg(tu_close(a, want[i], 1e-6, 1e-30), "softplus(%g) = %.9g, want %.9g",
                      (double)xs[i], (double)a, want[i]);
    }
    mlp_tensor_destroy(x);
    mlp_model_destroy(back);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(unused_layers_do_not_leak)
{
    long live = mlp__alloc_live();
    const int32_t d[2] = {3, 4};
    mlp_layer *ls[9] = {tu_dense(8), tu_sigmoid(),        tu_tanh(),
                        tu_relu(),   tu_leaky_relu(0.2f), tu_elu(1.0f),
                        tu_selu(),   tu_reshape(2, d),    tu_flatten()};
    ck_assert_int_gt(mlp__alloc_live(), live);
    for (int i = 0; i < 9; i++)
        mlp_layer_destroy(ls[i]);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* Every create function under each possible allocation failure. */
static mlp_status create_kind(int k, mlp_layer **out)
{
    const int32_t d[2] = {3, 4};
    switch (k) {
    case 0: return mlp_layer_create_dense(out, 5);
    case 1: return mlp_layer_create_sigmoid(out);
    case 2: return mlp_layer_create_tanh(out);
    case 3: return mlp_layer_create_relu(out);
    case 4: return mlp_layer_create_leaky_relu(out, 0.1f);
    case 5: return mlp_layer_create_elu(out, 1.0f);
    case 6: return mlp_layer_create_selu(out);
    case 7: return mlp_layer_create_reshape(out, 2, d);
    case 8: return mlp_layer_create_softplus(out);
    default: return mlp_layer_create_flatten(out);
    }
}

typedef struct oom_ctx {
    int kind;     /* create_oom_loop: the create_kind case */
    mlp_layer *l; /* the new layer */
    mlp_model *m; /* add_oom_loop: the model, and its parameters before */
    int64_t before;
} oom_ctx;

static mlp_status oom_create(void *ctx)
{
    oom_ctx *c = ctx;
    c->l = SENTINEL;
    return create_kind(c->kind, &c->l);
}

static void oom_created(void *ctx, mlp_status st)
{
    oom_ctx *c = ctx;
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(c->l);
        return;
    }
    ck_assert_ptr_nonnull(c->l);
    mlp_layer_destroy(c->l);
}

START_TEST(create_oom_loop)
{
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.max_attempts = 50;
    cfg.after = oom_created;
    for (int k = 0; k < 10; k++) {
        oom_ctx c = {.kind = k};
        char what[32];
        snprintf(what, sizeof what, "create kind %d", k);
        tu_oom_loop(what, oom_create, &c, &cfg);
    }
}
END_TEST

/* An allocation failure inside mlp_model_add frees the layer (it is
 * consumed) and leaves the model as it was. */
static void oom_new_dense(void *ctx)
{
    ((oom_ctx *)ctx)->l = tu_dense(4);
}

static mlp_status oom_add(void *ctx)
{
    oom_ctx *c = ctx;
    return mlp_model_add(c->m, c->l);
}

static void oom_added(void *ctx, mlp_status st)
{
    oom_ctx *c = ctx;
    const int ok = st == MLP_STATUS_OK;
    ck_assert_int_eq(mlp_model_layer_count(c->m), ok ? 2 : 1);
    ck_assert_int_eq(mlp_model_param_count(c->m), c->before + (ok ? 6 * 4 + 4 : 0));
}

START_TEST(add_oom_loop)
{
    const int32_t in[1] = {10};
    mlp_model *m = tu_model(1, in, 3);
    tu_add(m, tu_dense(6));
    oom_ctx c = {.m = m, .before = mlp_model_param_count(m)};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.max_attempts = 100;
    cfg.keep_on_ok = 1;
    cfg.before = oom_new_dense;
    cfg.after = oom_added;
    tu_oom_loop("mlp_model_add", oom_add, &c, &cfg);
    /* and the model still works */
    mlp_tensor *x = tu_tensor(2, 2, 10);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    ck_assert_int_eq(mlp_tensor_dim(y, 1), 4);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* ---- initialisers --------------------------------------------------------- */

typedef struct wstats {
    double mean, var, kurt, maxabs;
} wstats;

static wstats weight_stats(const float *w, int64_t n)
{
    wstats s = {0, 0, 0, 0};
    for (int64_t i = 0; i < n; i++)
        s.mean += w[i];
    s.mean /= (double)n;
    double m2 = 0, m4 = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = w[i] - s.mean;
        m2 += d * d;
        m4 += d * d * d * d;
        s.maxabs = fmax(s.maxabs, fabs(w[i]));
    }
    s.var = m2 / (double)n;
    s.kurt = (m4 / (double)n) / (s.var * s.var);
    return s;
}

/* Build [in] -> dense(out) with an initialiser and return the model. */
static mlp_model *init_model(int rank, const int32_t *in, int32_t out, int init,
                             float value, uint64_t seed)
{
    mlp_model *m = tu_model(rank, in, seed);
    mlp_layer *d = tu_dense(out);
    if (init)
        TU_OK(mlp_layer_set_init(d, (mlp_init)init, value));
    tu_add(m, d);
    return m;
}

static void expect_biases_zero(mlp_layer *d, int64_t nw, int32_t out)
{
    const float *b = mlp_layer_params(d) + nw;
    for (int32_t i = 0; i < out; i++)
        ck_assert_msg(b[i] == 0.0f, "bias %d = %g", i, (double)b[i]);
}

START_TEST(init_constant)
{
    const int32_t in[1] = {6};
    const float values[] = {0.25f, -3.5f, 0.0f};
    for (int v = 0; v < 3; v++) {
        mlp_model *m = init_model(1, in, 4, MLP_INIT_CONSTANT, values[v], 1);
        mlp_layer *d = mlp_model_layer(m, 0);
        const float *w = mlp_layer_params(d);
        for (int i = 0; i < 24; i++)
            ck_assert_msg(w[i] == values[v], "w[%d] = %g, want exactly %g", i,
                          (double)w[i], (double)values[v]);
        expect_biases_zero(d, 24, 4);
        mlp_model_destroy(m);
    }
}
END_TEST

/* The distributions, from 20000 weights: bound, variance within 5% (about
 * five standard errors), and the kurtosis that tells uniform (1.8) from
 * normal (3). */
static void check_distribution(int init, int rank, const int32_t *in, int32_t out,
                               double want_var, double bound, int normal)
{
    int64_t fan_in = tu_prod(rank, in);
    int64_t nw = fan_in * out;
    mlp_model *m = init_model(rank, in, out, init, 123.0f, 2024);
    mlp_layer *d = mlp_model_layer(m, 0);
    wstats s = weight_stats(mlp_layer_params(d), nw);
    double se_mean = sqrt(want_var / (double)nw);
    ck_assert_msg(fabs(s.mean) < 5 * se_mean, "init %d: mean %g", init, s.mean);
    ck_assert_msg(fabs(s.var / want_var - 1.0) < 0.05, "init %d: variance %g, want %g",
                  init, s.var, want_var);
    if (normal) {
        ck_assert_msg(fabs(s.kurt - 3.0) < 0.3, "init %d: kurtosis %g, want 3 (normal)",
                      init, s.kurt);
    } else {
        ck_assert_msg(s.maxabs <= bound * (1 + 1e-6), "init %d: |w| up to %g > bound %g",
                      init, s.maxabs, bound);
        ck_assert_msg(s.maxabs > 0.99 * bound, "init %d: |w| only up to %g, bound %g",
                      init, s.maxabs, bound);
        ck_assert_msg(fabs(s.kurt - 1.8) < 0.15,
                      "init %d: kurtosis %g, want 1.8 (uniform)", init, s.kurt);
    }
    expect_biases_zero(d, nw, out);
    mlp_model_destroy(m);
}

START_TEST(init_distributions)
{
    const int32_t in[1] = {200};
    const int32_t img[3] = {2, 5, 10}; /* fan_in 100 after flattening */
    /* Glorot uniform: a = sqrt(6 / (in + out)), variance a^2 / 3 = 2 / (in + out) */
    check_distribution(MLP_INIT_GLOROT_UNIFORM, 1, in, 100, 2.0 / 300, sqrt(6.0 / 300),
                       0);
    /* the default is Glorot uniform */
    check_distribution(0, 1, in, 100, 2.0 / 300, sqrt(6.0 / 300), 0);
    /* Glorot normal: N(0, 2 / (in + out)) */
    check_distribution(MLP_INIT_GLOROT_NORMAL, 1, in, 100, 2.0 / 300, 0, 1);
    /* He uniform: a = sqrt(6 / in), variance 2 / in */
    check_distribution(MLP_INIT_HE_UNIFORM, 1, in, 100, 2.0 / 200, sqrt(6.0 / 200), 0);
    check_distribution(MLP_INIT_HE_UNIFORM, 3, img, 200, 2.0 / 100, sqrt(6.0 / 100), 0);
    /* He normal: std sqrt(2 / in) */
    check_distribution(MLP_INIT_HE_NORMAL, 1, in, 100, 2.0 / 200, 0, 1);
    check_distribution(MLP_INIT_GLOROT_UNIFORM, 3, img, 200, 2.0 / 300, sqrt(6.0 / 300),
                       0);
}
END_TEST

START_TEST(init_seeds)
{
    const int32_t in[1] = {20};
    mlp_model *m[3];
    const uint64_t seeds[3] = {7, 7, 8};
    for (int i = 0; i < 3; i++) {
        m[i] = tu_model(1, in, seeds[i]);
        tu_add(m[i], tu_dense(10));
        tu_add(m[i], tu_elu(1.0f));
        mlp_layer *d = tu_dense(10);
        TU_OK(mlp_layer_set_init(d, MLP_INIT_HE_NORMAL, 0));
        tu_add(m[i], d);
    }
    int64_t n = mlp_model_param_count(m[0]);
    ck_assert_int_eq(n, 20 * 10 + 10 + 10 * 10 + 10);
    float *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = malloc(sizeof(float) * (size_t)n);
        TU_OK(mlp_model_get_params(m[i], p[i], n));
    }
    ck_assert_msg(memcmp(p[0], p[1], sizeof(float) * (size_t)n) == 0,
                  "same seed, different parameters");
    int differ = 0;
    for (int64_t i = 0; i < 200; i++) /* first layer's weights */
        differ += p[0][i] != p[2][i];
    ck_assert_msg(differ > 190, "seed 7 vs 8: only %d of 200 weights differ", differ);

    /* two identical layers in one model do not get identical weights */
    const int32_t in10[1] = {10};
    mlp_model *mm = tu_model(1, in10, 5);
    mlp_layer *a = tu_add(mm, tu_dense(10));
    mlp_layer *b = tu_add(mm, tu_dense(10));
    ck_assert_msg(memcmp(mlp_layer_params(a), mlp_layer_params(b), 100 * sizeof(float)) !=
                      0,
                  "two layers drew the same weights");
    mlp_model_destroy(mm);
    for (int i = 0; i < 3; i++) {
        free(p[i]);
        mlp_model_destroy(m[i]);
    }
}
END_TEST

START_TEST(set_init_misuse)
{
    mlp_layer *d = tu_dense(3);
    TU_FAIL(mlp_layer_set_init(NULL, MLP_INIT_HE_NORMAL, 0), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_init(d, (mlp_init)0, 0), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_init(d, (mlp_init)6, 0), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_set_init(d, (mlp_init)-1, 0), MLP_STATUS_INVALID_ARG);
    for (int i = MLP_INIT_GLOROT_UNIFORM; i <= MLP_INIT_CONSTANT; i++)
        TU_OK(mlp_layer_set_init(d, (mlp_init)i, 0.5f));
    /* a failed set_init leaves the previous choice (constant 0.5) in place */
    TU_FAIL(mlp_layer_set_init(d, (mlp_init)42, 0), MLP_STATUS_INVALID_ARG);
    /* only a finite constant: an infinity is refused as a NaN is */
    const float not_finite[3] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 3; i++)
        TU_FAIL(mlp_layer_set_init(d, MLP_INIT_CONSTANT, not_finite[i]),
                MLP_STATUS_INVALID_ARG);

    mlp_layer *r = tu_relu();
    TU_FAIL(mlp_layer_set_init(r, MLP_INIT_CONSTANT, 1.0f), MLP_STATUS_INVALID_ARG);
    mlp_layer *e = tu_elu(1.0f);
    TU_FAIL(mlp_layer_set_init(e, MLP_INIT_HE_NORMAL, 0), MLP_STATUS_INVALID_ARG);
    mlp_layer_destroy(e);

    const int32_t in[1] = {2};
    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, d);
    tu_add(m, r);
    const float *w = mlp_layer_params(d);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(w[i], 0.5f);
    TU_FAIL(mlp_layer_set_init(d, MLP_INIT_HE_NORMAL, 0), MLP_STATUS_BAD_STATE);
    TU_FAIL(mlp_layer_set_init(d, MLP_INIT_CONSTANT, 2.0f), MLP_STATUS_BAD_STATE);
    for (int i = 0; i < 6; i++)
        ck_assert_float_eq(w[i], 0.5f);
    mlp_model_destroy(m);
}
END_TEST

/* Only dense and conv2d layers take an initialiser. Batch norm and
 * standardize have an init hook too, but it sets fixed values (gamma 1,
 * beta 0; mean 0, scale 1) whatever the choice, so set_init refuses them
 * as it refuses a kind without parameters, naming the kind, and the layer
 * keeps its fixed start. */
START_TEST(set_init_refuses_fixed_start)
{
    mlp_layer *bn = NULL, *bns = NULL, *st = NULL, *conv = NULL;
    TU_OK(mlp_layer_create_batchnorm(&bn));
    TU_OK(mlp_layer_create_batchnorm_spatial(&bns));
    TU_OK(mlp_layer_create_standardize(&st));
    TU_FAIL_MSG(mlp_layer_set_init(bn, MLP_INIT_CONSTANT, 3.0f), MLP_STATUS_INVALID_ARG,
                "mlp_layer_set_init: a batchnorm layer");
    TU_FAIL_MSG(mlp_layer_set_init(bns, MLP_INIT_HE_NORMAL, 0), MLP_STATUS_INVALID_ARG,
                "mlp_layer_set_init: a batchnorm layer");
    TU_FAIL_MSG(mlp_layer_set_init(st, MLP_INIT_CONSTANT, 3.0f), MLP_STATUS_INVALID_ARG,
                "mlp_layer_set_init: a standardize layer");
    mlp_layer_destroy(bns);
    TU_OK(mlp_layer_create_conv2d(&conv, 1, 2, 1, 1));
    TU_OK(mlp_layer_set_init(conv, MLP_INIT_CONSTANT, 0.25f));
    mlp_layer_destroy(conv);

    const int32_t in[1] = {2};
    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, st);
    tu_add(m, bn);
    const float *s = mlp_layer_state(st), *p = mlp_layer_params(bn);
    ck_assert_float_eq(s[0], 0.0f);
    ck_assert_float_eq(s[3], 1.0f);
    ck_assert_float_eq(p[0], 1.0f);
    ck_assert_float_eq(p[3], 0.0f);
    mlp_model_destroy(m);
}
END_TEST

/* mlp_layer_get_attr reads each kind's configuration, before and after the
 * layer is added, and refuses attributes a kind does not have. */
START_TEST(attributes_read_back)
{
    double v = -1;
    mlp_layer *c = NULL;
    TU_OK(mlp_layer_create_conv2d(&c, 2, 5, 3, 4));
    TU_OK(mlp_layer_set_conv2d(c, 2, 1, 1, 0, 1, 2));
    TU_OK(mlp_layer_set_use_bias(c, 0));
    const struct {
        mlp_layer_attr a;
        double want;
    } conv[] = {{MLP_LAYER_ATTR_IN_CHANNELS, 2}, {MLP_LAYER_ATTR_FILTERS, 5},
                {MLP_LAYER_ATTR_KERNEL_H, 3},    {MLP_LAYER_ATTR_KERNEL_W, 4},
                {MLP_LAYER_ATTR_STRIDE_H, 2},    {MLP_LAYER_ATTR_STRIDE_W, 1},
                {MLP_LAYER_ATTR_PAD_H, 1},       {MLP_LAYER_ATTR_PAD_W, 0},
                {MLP_LAYER_ATTR_DILATION_H, 1},  {MLP_LAYER_ATTR_DILATION_W, 2},
                {MLP_LAYER_ATTR_USE_BIAS, 0}};
    for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) {
        TU_OK(mlp_layer_get_attr(c, conv[i].a, &v));
        ck_assert_msg(v == conv[i].want, "conv attribute %d = %g, want %g",
                      (int)conv[i].a, v, conv[i].want);
    }
    TU_FAIL(mlp_layer_get_attr(c, MLP_LAYER_ATTR_UNITS, &v), MLP_STATUS_UNSUPPORTED);
    ck_assert_msg(strstr(mlp_last_error(), "a conv2d layer has no attribute 1"), "%s",
                  mlp_last_error());
    TU_FAIL(mlp_layer_get_attr(c, (mlp_layer_attr)0, &v), MLP_STATUS_INVALID_ARG);
    /* the number after the last attribute is no attribute, not one a kind lacks */
    TU_FAIL(mlp_layer_get_attr(c, (mlp_layer_attr)(MLP_LAYER_ATTR_GLOBAL + 1), &v),
            MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "unknown attribute 19"), "%s",
                  mlp_last_error());
    TU_FAIL(mlp_layer_get_attr(c, (mlp_layer_attr)99, &v), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_get_attr(c, MLP_LAYER_ATTR_FILTERS, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_layer_get_attr(NULL, MLP_LAYER_ATTR_FILTERS, &v), MLP_STATUS_INVALID_ARG);
    mlp_layer_destroy(c);

    const int32_t in[1] = {6};
    mlp_model *m = tu_model(1, in, 1);
    mlp_layer *d = tu_add(m, tu_dense(7)), *e = tu_add(m, tu_elu(0.5f));
    TU_OK(mlp_layer_get_attr(d, MLP_LAYER_ATTR_UNITS, &v));
    ck_assert_double_eq(v, 7);
    TU_OK(mlp_layer_get_attr(d, MLP_LAYER_ATTR_USE_BIAS, &v));
    ck_assert_double_eq(v, 1);
    TU_OK(mlp_layer_get_attr(e, MLP_LAYER_ATTR_ALPHA, &v));
    ck_assert_double_eq(v, 0.5);
    TU_FAIL(mlp_layer_get_attr(e, MLP_LAYER_ATTR_DROP_PROBABILITY, &v),
            MLP_STATUS_UNSUPPORTED);
    mlp_layer *bn = NULL, *gap = NULL;
    TU_OK(mlp_layer_create_batchnorm(&bn));
    TU_OK(mlp_layer_set_batchnorm(bn, 0.25f, 1e-3f));
    TU_OK(mlp_layer_get_attr(bn, MLP_LAYER_ATTR_MOMENTUM, &v));
    ck_assert_double_eq(v, 0.25);
    TU_OK(mlp_layer_get_attr(bn, MLP_LAYER_ATTR_EPSILON, &v));
    ck_assert_double_eq(v, (double)1e-3f);
    TU_OK(mlp_layer_get_attr(bn, MLP_LAYER_ATTR_SPATIAL, &v));
    ck_assert_double_eq(v, 0);
    TU_OK(mlp_layer_create_global_avgpool(&gap));
    TU_OK(mlp_layer_get_attr(gap, MLP_LAYER_ATTR_GLOBAL, &v));
    ck_assert_double_eq(v, 1);
    mlp_layer_destroy(bn);
    mlp_layer_destroy(gap);
    mlp_model_destroy(m);
}
END_TEST

static Suite *layers_suite(void)
{
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("gradients");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gradcheck_detects_wrong_gradients);
    tcase_add_loop_test(tc, grad_dense, 0, 3);
    tcase_add_loop_test(tc, grad_activations, 0, 3);
    tcase_add_loop_test(tc, grad_reshape_and_flatten, 0, 3);
    tcase_add_loop_test(tc, grad_stack_dense_elu_dense, 0, 3);
    suite_add_tcase(s, tc);

    tc = tcase_create("forward");
    tcase_add_test(tc, dense_forward_reference);
    tcase_add_test(tc, dense_accepts_flat_input);
    tcase_add_test(tc, dense_split_products);
    tcase_add_test(tc, dense_weight_count_limit);
    tcase_add_test(tc, num_threads_zero_means_all_cores);
    tcase_add_test(tc, activation_forward_reference);
    tcase_add_test(tc, activation_backward_exact);
    tcase_add_test(tc, relu_keeps_nan);
    tcase_add_test(tc, activations_give_no_subnormals);
    tcase_add_test(tc, activation_parameters_are_used);
    tcase_add_test(tc, reshape_forward_copies_values);
    tcase_add_test(tc, stack_forward_reference);
    tcase_add_test(tc, output_shapes);
    tcase_add_test(tc, layer_introspection);
    suite_add_tcase(s, tc);

    tc = tcase_create("misuse");
    tcase_add_test(tc, create_misuse);
    tcase_add_test(tc, set_init_misuse);
    tcase_add_test(tc, set_init_refuses_fixed_start);
    tcase_add_test(tc, attributes_read_back);
    tcase_add_test(tc, unused_layers_do_not_leak);
    tcase_add_test(tc, softplus_round_trip_and_extremes);
    tcase_add_test(tc, create_oom_loop);
    tcase_add_test(tc, add_oom_loop);
    suite_add_tcase(s, tc);

    tc = tcase_create("init");
    tcase_add_test(tc, init_constant);
    tcase_add_test(tc, init_distributions);
    tcase_add_test(tc, init_seeds);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(layers_suite, 1)
