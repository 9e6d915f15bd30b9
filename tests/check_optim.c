/*
 * Tests of include/mlpnet/optim.h: every rule's steps against values derived
 * by hand and double-precision references of the documented formulas,
 * convergence on quadratics and a logistic regression, weight decay, L1 and
 * gradient clipping, learning-rate schedules (also through mlp_model_fit),
 * hyper-parameter keys, defaults and ranges, state reset, shape changes,
 * argument checks and allocation behaviour.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "optim/optim_file.h"
#include "optim/optim_impl.h"
#include "testutil.h"

static mlp_optimizer *const SENTINEL = (mlp_optimizer *)&SENTINEL;

/* A dense 2 -> 2 layer: parameters W [2,2] row-major then b [2]. */
#define NP 6
static const float P0[NP] = {0.5f, -1.0f, 2.0f, 0.25f, 0.0f, -0.5f};
static const float G[3][NP] = {{1.0f, -2.0f, 0.5f, 4.0f, -1.0f, 0.0f},
                               {0.5f, 0.5f, -1.0f, 2.0f, 3.0f, -4.0f},
                               {-2.0f, 1.0f, 1.0f, -1.0f, 0.25f, 1.0f}};

static mlp_model *tiny_model(mlp_layer **dense)
{
    const int32_t in[1] = {2};
    mlp_model *m = tu_model(1, in, 1);
    mlp_layer *d = tu_add(m, tu_dense(2));
    ck_assert_int_eq(mlp_model_param_count(m), NP);
    ck_assert_int_eq(mlp_layer_param_count(d), NP);
    TU_OK(mlp_model_set_params(m, P0, NP));
    if (dense)
        *dense = d;
    return m;
}

static mlp_optimizer *make_opt(mlp_rule rule, mlp_model *m)
{
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, rule, m));
    ck_assert_ptr_nonnull(o);
    return o;
}

static void write_grads(mlp_layer *d, const float *g)
{
    float *dst = mlp_layer_grads(d);
    ck_assert_ptr_nonnull(dst);
    memcpy(dst, g, sizeof(float) * NP);
}

static void get_params(mlp_model *m, float *p)
{
    TU_OK(mlp_model_get_params(m, p, NP));
}

/* ---- the flat state (data-parallel training copies it between ranks) ---- */

/* An optimizer given another's scalars and per-parameter state steps as
 * that one does; values that no optimizer of its rule has are refused. */
START_TEST(flat_state_copies_an_optimizer)
{
    mlp_layer *d1, *d2;
    mlp_model *m1 = tiny_model(&d1), *m2 = tiny_model(&d2);
    mlp_optimizer *a = make_opt(MLP_RULE_ADAM, m1), *b = make_opt(MLP_RULE_ADAM, m2);
    TU_OK(mlp_optimizer_set(a, MLP_OPTIM_BETA1, 0.8));
    TU_OK(mlp_optimizer_set(a, MLP_OPTIM_LEARNING_RATE, 0.05));
    TU_OK(mlp_optimizer_schedule_cosine(a, 3, 2.0, 0.001));
    TU_OK(mlp_optimizer_start_epoch(a, 1));
    for (int s = 0; s < 2; s++) {
        write_grads(d1, G[s]);
        TU_OK(mlp_optimizer_step(a));
    }
    double sa[MLP__OPTIM_SCALARS], sb[MLP__OPTIM_SCALARS];
    mlp__optimizer_get_scalars(a, sa);
    TU_OK(mlp__optimizer_set_scalars(b, sa, "test"));
    mlp__optimizer_get_scalars(b, sb);
    ck_assert(memcmp(sa, sb, sizeof sa) == 0);
    int64_t na, nb;
    float *fa = mlp__optimizer_flat_state(a, &na),
          *fb = mlp__optimizer_flat_state(b, &nb);
    ck_assert_int_eq(na, 2 * NP);
    ck_assert_int_eq(nb, na);
    memcpy(fb, fa, (size_t)na * sizeof *fa);
    float p1[NP], p2[NP];
    get_params(m1, p1);
    TU_OK(mlp_model_set_params(m2, p1, NP));
    write_grads(d1, G[2]);
    write_grads(d2, G[2]);
    TU_OK(mlp_optimizer_step(a));
    TU_OK(mlp_optimizer_step(b));
    get_params(m1, p1);
    get_params(m2, p2);
    ck_assert(memcmp(p1, p2, sizeof p1) == 0);
    ck_assert_double_eq(mlp_optimizer_learning_rate(b), mlp_optimizer_learning_rate(a));

    /* Another rule's values, a negative step count, an unknown schedule. */
    mlp_optimizer *c = make_opt(MLP_RULE_MOMENTUM, m2);
    TU_FAIL(mlp__optimizer_set_scalars(c, sa, "test"), MLP_STATUS_INVALID_ARG);
    double bad[MLP__OPTIM_SCALARS];
    memcpy(bad, sa, sizeof bad);
    bad[1] = -1.0;
    TU_FAIL(mlp__optimizer_set_scalars(b, bad, "test"), MLP_STATUS_INVALID_ARG);
    memcpy(bad, sa, sizeof bad);
    bad[3] = 9.0;
    TU_FAIL(mlp__optimizer_set_scalars(b, bad, "test"), MLP_STATUS_INVALID_ARG);
    mlp__optimizer_get_scalars(b, sb);
    ck_assert_double_eq(sb[1], sa[1] + 1.0);
    mlp_optimizer *sgd = make_opt(MLP_RULE_SGD, m2);
    ck_assert_ptr_null(mlp__optimizer_flat_state(sgd, &na));
    ck_assert_int_eq(na, 0);
    mlp_optimizer_destroy(sgd);
    mlp_optimizer_destroy(c);
    mlp_optimizer_destroy(a);
    mlp_optimizer_destroy(b);
    mlp_model_destroy(m1);
    mlp_model_destroy(m2);
}
END_TEST

/* ---- hand-computed steps --------------------------------------------------- */

/*
 * SGD: p <- p - lr * g, lr = 0.5. Element 0 by hand:
 *   0.5 - 0.5*1 = 0;  0 - 0.5*0.5 = -0.25;  -0.25 - 0.5*(-2) = 0.75.
 */
START_TEST(sgd_three_steps)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
    ck_assert_int_eq(mlp_optimizer_rule(o), MLP_RULE_SGD);
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 0.5));

    double want[NP];
    for (int i = 0; i < NP; i++)
        want[i] = P0[i];
    float p[NP];
    for (int s = 0; s < 3; s++) {
        write_grads(d, G[s]);
        TU_OK(mlp_optimizer_step(o));
        for (int i = 0; i < NP; i++)
            want[i] -= 0.5 * G[s][i];
        get_params(m, p);
        for (int i = 0; i < NP; i++)
            ck_assert_msg(tu_close(p[i], want[i], 1e-6, 1e-7),
                          "step %d, p[%d] = %.9g, want %.9g", s + 1, i, (double)p[i],
                          want[i]);
        /* the layer's view of its parameters agrees with the model's */
        tu_assert_close_ff("layer params", mlp_layer_params(d), p, NP, 0, 0);
    }
    ck_assert_float_eq_tol(p[0], 0.75f, 1e-7f);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/*
 * Momentum: v <- mu v - lr g; p <- p + v; v starts at 0; lr = 0.1, mu = 0.9.
 * Element 0 by hand:
 *   v = -0.1,                 p = 0.5 - 0.1 = 0.4
 *   v = -0.09 - 0.05 = -0.14, p = 0.26
 *   v = -0.126 + 0.2 = 0.074, p = 0.334
 */
START_TEST(momentum_three_steps)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_MOMENTUM, m);
    ck_assert_int_eq(mlp_optimizer_rule(o), MLP_RULE_MOMENTUM);
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 0.1));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, 0.9));

    double want[NP], v[NP] = {0};
    for (int i = 0; i < NP; i++)
        want[i] = P0[i];
    float p[NP];
    for (int s = 0; s < 3; s++) {
        write_grads(d, G[s]);
        TU_OK(mlp_optimizer_step(o));
        for (int i = 0; i < NP; i++) {
            v[i] = 0.9 * v[i] - 0.1 * G[s][i];
            want[i] += v[i];
        }
        get_params(m, p);
        for (int i = 0; i < NP; i++)
            ck_assert_msg(tu_close(p[i], want[i], 1e-5, 1e-6),
                          "step %d, p[%d] = %.9g, want %.9g", s + 1, i, (double)p[i],
                          want[i]);
    }
    ck_assert_float_eq_tol(p[0], 0.334f, 1e-6f);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* With mu = 0 momentum is plain SGD; with lr = 0 nothing moves. */
START_TEST(degenerate_hyper_parameters)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_MOMENTUM, m);
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, 0.0));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.25));
    float p[NP];
    for (int s = 0; s < 2; s++) {
        write_grads(d, G[s]);
        TU_OK(mlp_optimizer_step(o));
    }
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert_float_eq_tol(p[i], P0[i] - 0.25f * (G[0][i] + G[1][i]), 1e-6f);

    TU_OK(mlp_optimizer_set_learning_rate(o, 0.0));
    mlp_optimizer_reset(o);
    write_grads(d, G[2]);
    TU_OK(mlp_optimizer_step(o));
    float q[NP];
    get_params(m, q);
    ck_assert_mem_eq(p, q, sizeof p);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* ---- convergence on quadratics ---------------------------------------------- */

/* L(p) = 0.5 ||p - t||^2, gradient p - t written by hand each step. */
static void drive_quadratic(mlp_rule rule, double lr, int steps)
{
    static const float t[NP] = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 0.75f};
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(rule, m);
    TU_OK(mlp_optimizer_set_learning_rate(o, lr));
    ck_assert_double_eq(mlp_optimizer_learning_rate(o), lr);
    float p[NP], g[NP];
    for (int s = 0; s < steps; s++) {
        get_params(m, p);
        for (int i = 0; i < NP; i++)
            g[i] = p[i] - t[i];
        write_grads(d, g);
        TU_OK(mlp_optimizer_step(o));
    }
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert_msg(fabsf(p[i] - t[i]) < 1e-4f, "rule %d: p[%d] = %g, optimum %g", rule,
                      i, (double)p[i], (double)t[i]);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}

START_TEST(quadratic_reaches_optimum)
{
    drive_quadratic(MLP_RULE_SGD, 0.1, 300);
    drive_quadratic(MLP_RULE_MOMENTUM, 0.05, 600);
}
END_TEST

/* Linear least squares through the whole stack: forward, MSE, backward,
 * step. Data come from y = x . w* + b*, so the optimum is (w*, b*). */
START_TEST(linear_regression_converges)
{
    const int32_t in[1] = {3};
    const float wstar[3] = {1.5f, -2.0f, 0.5f}, bstar = 0.3f;
    const int n = 32;
    for (int rule = MLP_RULE_SGD; rule <= MLP_RULE_MOMENTUM; rule++) {
        mlp_model *m = tu_model(1, in, 11);
        tu_add(m, tu_dense(1));
        mlp_optimizer *o = make_opt((mlp_rule)rule, m);
        TU_OK(mlp_optimizer_set_learning_rate(o, rule == MLP_RULE_SGD ? 0.5 : 0.1));
        mlp_tensor *x = tu_tensor(2, n, 3);
        mlp_tensor *t = tu_tensor(2, n, 1);
        mlp_tensor *dy = tu_tensor(2, n, 1);
        tu_rng r;
        tu_rng_seed(&r, 3);
        tu_fill_uniform(&r, mlp_tensor_data(x), n * 3, -1, 1);
        for (int i = 0; i < n; i++) {
            const float *xi = mlp_tensor_data_const(x) + 3 * i;
            mlp_tensor_data(t)[i] =
                xi[0] * wstar[0] + xi[1] * wstar[1] + xi[2] * wstar[2] + bstar;
        }
        double loss = 1e9;
        for (int s = 0; s < 1500; s++) {
            const mlp_tensor *y = NULL;
            TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
            TU_OK(mlp_loss_mse(y, t, &loss, dy));
            TU_OK(mlp_model_backward(m, dy, NULL));
            TU_OK(mlp_optimizer_step(o));
        }
        float p[4];
        TU_OK(mlp_model_get_params(m, p, 4));
        for (int i = 0; i < 3; i++)
            ck_assert_msg(fabsf(p[i] - wstar[i]) < 1e-3f, "rule %d: w[%d] = %g, want %g",
                          rule, i, (double)p[i], (double)wstar[i]);
        ck_assert_msg(fabsf(p[3] - bstar) < 1e-3f, "rule %d: b = %g", rule, (double)p[3]);
        ck_assert_msg(loss < 1e-6, "rule %d: final loss %g", rule, loss);
        mlp_tensor_destroy(x);
        mlp_tensor_destroy(t);
        mlp_tensor_destroy(dy);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/* ---- hyper-parameters ------------------------------------------------------- */

START_TEST(defaults_and_round_trip)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *sgd = make_opt(MLP_RULE_SGD, m);
    mlp_optimizer *mom = make_opt(MLP_RULE_MOMENTUM, m);
    double v = -1;
    /* documented defaults: lr 0.1 for SGD, 0.01 and mu 0.9 for momentum */
    TU_OK(mlp_optimizer_get(sgd, MLP_OPTIM_LEARNING_RATE, &v));
    ck_assert_double_eq_tol(v, 0.1, 1e-12);
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(sgd), 0.1, 1e-12);
    TU_OK(mlp_optimizer_get(mom, MLP_OPTIM_LEARNING_RATE, &v));
    ck_assert_double_eq_tol(v, 0.01, 1e-12);
    TU_OK(mlp_optimizer_get(mom, MLP_OPTIM_MOMENTUM, &v));
    ck_assert_double_eq_tol(v, 0.9, 1e-12);

    const double lrs[] = {0.0, 1e-4, 0.37, 2.0, 1e3};
    for (size_t i = 0; i < sizeof lrs / sizeof lrs[0]; i++) {
        TU_OK(mlp_optimizer_set(sgd, MLP_OPTIM_LEARNING_RATE, lrs[i]));
        TU_OK(mlp_optimizer_get(sgd, MLP_OPTIM_LEARNING_RATE, &v));
        ck_assert_double_eq(v, lrs[i]);
        ck_assert_double_eq(mlp_optimizer_learning_rate(sgd), lrs[i]);
        TU_OK(mlp_optimizer_set_learning_rate(mom, lrs[i]));
        TU_OK(mlp_optimizer_get(mom, MLP_OPTIM_LEARNING_RATE, &v));
        ck_assert_double_eq(v, lrs[i]);
    }
    const double mus[] = {0.0, 0.5, 0.99, 0.999999};
    for (size_t i = 0; i < sizeof mus / sizeof mus[0]; i++) {
        TU_OK(mlp_optimizer_set(mom, MLP_OPTIM_MOMENTUM, mus[i]));
        TU_OK(mlp_optimizer_get(mom, MLP_OPTIM_MOMENTUM, &v));
        ck_assert_double_eq(v, mus[i]);
    }
    mlp_optimizer_destroy(sgd);
    mlp_optimizer_destroy(mom);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(invalid_values)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *sgd = make_opt(MLP_RULE_SGD, m);
    mlp_optimizer *mom = make_opt(MLP_RULE_MOMENTUM, m);
    TU_OK(mlp_optimizer_set_learning_rate(sgd, 0.02));
    TU_OK(mlp_optimizer_set_learning_rate(mom, 0.03));
    TU_OK(mlp_optimizer_set(mom, MLP_OPTIM_MOMENTUM, 0.7));

    const double bad_lr[] = {-1e-9, -0.1, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof bad_lr / sizeof bad_lr[0]; i++) {
        TU_FAIL(mlp_optimizer_set(sgd, MLP_OPTIM_LEARNING_RATE, bad_lr[i]),
                MLP_STATUS_INVALID_ARG);
        TU_FAIL(mlp_optimizer_set_learning_rate(mom, bad_lr[i]), MLP_STATUS_INVALID_ARG);
    }
    const double bad_mu[] = {-0.1, 1.0, 1.5, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_mu / sizeof bad_mu[0]; i++)
        TU_FAIL(mlp_optimizer_set(mom, MLP_OPTIM_MOMENTUM, bad_mu[i]),
                MLP_STATUS_INVALID_ARG);

    /* failed sets leave the values alone */
    ck_assert_double_eq(mlp_optimizer_learning_rate(sgd), 0.02);
    ck_assert_double_eq(mlp_optimizer_learning_rate(mom), 0.03);
    double v;
    TU_OK(mlp_optimizer_get(mom, MLP_OPTIM_MOMENTUM, &v));
    ck_assert_double_eq(v, 0.7);

    /* SGD has no momentum */
    TU_FAIL(mlp_optimizer_set(sgd, MLP_OPTIM_MOMENTUM, 0.5), MLP_STATUS_UNSUPPORTED);
    TU_FAIL(mlp_optimizer_get(sgd, MLP_OPTIM_MOMENTUM, &v), MLP_STATUS_UNSUPPORTED);
    /* a key nobody knows: either refusal is acceptable, success is not */
    mlp_status st = mlp_optimizer_set(sgd, (mlp_optim_param)99, 0.5);
    ck_assert_msg(st == MLP_STATUS_UNSUPPORTED || st == MLP_STATUS_INVALID_ARG,
                  "unknown key -> %s", mlp_status_str(st));
    st = mlp_optimizer_get(mom, (mlp_optim_param)0, &v);
    ck_assert_msg(st == MLP_STATUS_UNSUPPORTED || st == MLP_STATUS_INVALID_ARG,
                  "unknown key -> %s", mlp_status_str(st));
    ck_assert_double_eq(mlp_optimizer_learning_rate(sgd), 0.02);

    /* NULL handling */
    TU_FAIL(mlp_optimizer_set(NULL, MLP_OPTIM_LEARNING_RATE, 0.1),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_get(NULL, MLP_OPTIM_LEARNING_RATE, &v), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_get(sgd, MLP_OPTIM_LEARNING_RATE, NULL),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_set_learning_rate(NULL, 0.1), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(
        strstr(mlp_last_error(), "mlp_optimizer_set_learning_rate: optimizer is NULL"),
        "%s", mlp_last_error());
    /* a bad rate: the message names the call made, not mlp_optimizer_set */
    TU_FAIL(mlp_optimizer_set_learning_rate(sgd, NAN), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(),
                         "mlp_optimizer_set_learning_rate: learning_rate = nan must be"),
                  "%s", mlp_last_error());
    ck_assert_double_eq(mlp_optimizer_learning_rate(sgd), 0.02); /* unchanged */
    TU_FAIL(mlp_optimizer_set(sgd, MLP_OPTIM_LEARNING_RATE, -1.0),
            MLP_STATUS_INVALID_ARG);
    ck_assert_msg(
        strstr(mlp_last_error(), "mlp_optimizer_set: learning_rate = -1 must be"), "%s",
        mlp_last_error());
    TU_FAIL(mlp_optimizer_step(NULL), MLP_STATUS_INVALID_ARG);
    ck_assert(isnan(mlp_optimizer_learning_rate(NULL)));
    ck_assert_int_eq(mlp_optimizer_rule(NULL), 0);
    mlp_optimizer_reset(NULL);
    mlp_optimizer_destroy(NULL);

    mlp_optimizer_destroy(sgd);
    mlp_optimizer_destroy(mom);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(create_misuse)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *o = SENTINEL;
    TU_FAIL(mlp_optimizer_create(NULL, MLP_RULE_SGD, m), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_create(&o, MLP_RULE_SGD, NULL), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(o);
    const int bad_rules[] = {0, -1, 8, 99}; /* 1..7 are rules */
    for (size_t i = 0; i < sizeof bad_rules / sizeof bad_rules[0]; i++) {
        o = SENTINEL;
        TU_FAIL(mlp_optimizer_create(&o, (mlp_rule)bad_rules[i], m),
                MLP_STATUS_INVALID_ARG);
        ck_assert_ptr_null(o);
    }
    /* models without parameters: empty, or activations only */
    const int32_t in[1] = {4};
    mlp_model *empty = tu_model(1, in, 1);
    o = SENTINEL;
    TU_FAIL(mlp_optimizer_create(&o, MLP_RULE_SGD, empty), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(o);
    tu_add(empty, tu_relu());
    o = SENTINEL;
    TU_FAIL(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, empty), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(o);
    mlp_model_destroy(empty);
    mlp_model_destroy(m);
}
END_TEST

/* ---- state ------------------------------------------------------------------- */

START_TEST(reset_clears_velocity)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_MOMENTUM, m);
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, 0.5));
    float a[NP], b[NP], c[NP];
    write_grads(d, G[0]);
    TU_OK(mlp_optimizer_step(o));
    write_grads(d, G[0]);
    TU_OK(mlp_optimizer_step(o));
    get_params(m, a);
    /* without a reset the next step would be 0.5 * v - 0.1 g = -0.175 g */
    mlp_optimizer_reset(o);
    write_grads(d, G[0]);
    TU_OK(mlp_optimizer_step(o));
    get_params(m, b);
    for (int i = 0; i < NP; i++)
        ck_assert_msg(fabsf((b[i] - a[i]) - (-0.1f * G[0][i])) < 1e-6f,
                      "p[%d] moved by %g after reset, want %g", i, (double)(b[i] - a[i]),
                      -0.1 * G[0][i]);
    /* the hyper-parameters survive the reset */
    double v;
    TU_OK(mlp_optimizer_get(o, MLP_OPTIM_MOMENTUM, &v));
    ck_assert_double_eq(v, 0.5);
    ck_assert_double_eq(mlp_optimizer_learning_rate(o), 0.1);
    /* and the velocity builds up again: v = 0.5 (-0.1 g) - 0.1 g */
    write_grads(d, G[0]);
    TU_OK(mlp_optimizer_step(o));
    get_params(m, c);
    for (int i = 0; i < NP; i++)
        ck_assert_float_eq_tol(c[i] - b[i], -0.15f * G[0][i], 1e-6f);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* A parameter-free layer does not change the parameter layout; an optimizer
 * that keeps working is fine, one that refuses must say BAD_STATE. */
START_TEST(step_after_activation_added)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_MOMENTUM, m);
    tu_add(m, tu_tanh());
    write_grads(d, G[1]);
    mlp_status st = mlp_optimizer_step(o);
    ck_assert_msg(st == MLP_STATUS_OK || st == MLP_STATUS_BAD_STATE, "step -> %s: %s",
                  mlp_status_str(st), mlp_last_error());
    /* a refusal says what changed (it said "N parameters then, N now") */
    if (st == MLP_STATUS_BAD_STATE)
        TU_ERROR_HAS("mlp_optimizer_step: layers were added to the model since the "
                     "optimizer was created (layers without parameters: 6 parameters "
                     "then and now); create the optimizer after the model's last "
                     "mlp_model_add");
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* "Allocates nothing": a step succeeds even when the next allocation would
 * fail, and the live block count does not move. */
START_TEST(step_allocates_nothing)
{
    for (int rule = MLP_RULE_SGD; rule <= MLP_RULE_MOMENTUM; rule++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        mlp_optimizer *o = make_opt((mlp_rule)rule, m);
        write_grads(d, G[0]);
        long live = mlp__alloc_live();
        for (int s = 0; s < 3; s++) {
            mlp__alloc_fail_after(1);
            mlp_status st = mlp_optimizer_step(o);
            mlp__alloc_fail_after(0);
            TU_ST(st, MLP_STATUS_OK);
        }
        ck_assert_int_eq(mlp__alloc_live(), live);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/* The optimizer borrows the model; destroying the model first and the
 * optimizer afterwards must not touch the model (valgrind/ASan watch). */
START_TEST(destroy_after_model)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *o = make_opt(MLP_RULE_MOMENTUM, m);
    long live_with = mlp__alloc_live();
    mlp_model_destroy(m);
    ck_assert_int_lt(mlp__alloc_live(), live_with);
    mlp_optimizer_destroy(o);
}
END_TEST

/* ==== every rule ============================================================== */

#define N_RULES 7
static const mlp_rule RULES[N_RULES] = {
    MLP_RULE_SGD,  MLP_RULE_MOMENTUM, MLP_RULE_NESTEROV, MLP_RULE_RMSPROP,
    MLP_RULE_ADAM, MLP_RULE_ADAMW,    MLP_RULE_ADAGRAD};

#define KEY(k) (1u << (k))
/* Keys optim.h marks "(all rules)", and the learning rate. */
#define ALL_RULE_KEYS                                                                    \
    (KEY(MLP_OPTIM_LEARNING_RATE) | KEY(MLP_OPTIM_WEIGHT_DECAY) | KEY(MLP_OPTIM_L1) |    \
     KEY(MLP_OPTIM_CLIP_NORM) | KEY(MLP_OPTIM_DECAY_ALL))

/* The keys optim.h lists for each rule. */
static unsigned rule_keys(mlp_rule r)
{
    switch (r) {
    case MLP_RULE_SGD: return ALL_RULE_KEYS;
    case MLP_RULE_MOMENTUM:
    case MLP_RULE_NESTEROV: return ALL_RULE_KEYS | KEY(MLP_OPTIM_MOMENTUM);
    case MLP_RULE_RMSPROP:
        return ALL_RULE_KEYS | KEY(MLP_OPTIM_MOMENTUM) | KEY(MLP_OPTIM_DECAY) |
               KEY(MLP_OPTIM_EPSILON);
    case MLP_RULE_ADAM:
    case MLP_RULE_ADAMW:
        return ALL_RULE_KEYS | KEY(MLP_OPTIM_BETA1) | KEY(MLP_OPTIM_BETA2) |
               KEY(MLP_OPTIM_EPSILON);
    case MLP_RULE_ADAGRAD: return ALL_RULE_KEYS | KEY(MLP_OPTIM_EPSILON);
    }
    return 0;
}

/* The defaults optim.h documents, in brackets, for a key the rule has. */
static double documented_default(mlp_rule r, mlp_optim_param k)
{
    switch (k) {
    case MLP_OPTIM_LEARNING_RATE:
        if (r == MLP_RULE_SGD)
            return 0.1;
        if (r == MLP_RULE_MOMENTUM || r == MLP_RULE_NESTEROV || r == MLP_RULE_ADAGRAD)
            return 0.01;
        return 0.001;
    case MLP_OPTIM_MOMENTUM: return r == MLP_RULE_RMSPROP ? 0.0 : 0.9;
    case MLP_OPTIM_BETA1: return 0.9;
    case MLP_OPTIM_BETA2: return 0.999;
    case MLP_OPTIM_EPSILON: return 1e-8;
    case MLP_OPTIM_WEIGHT_DECAY: return r == MLP_RULE_ADAMW ? 0.01 : 0.0;
    case MLP_OPTIM_L1: return 0.0;
    case MLP_OPTIM_DECAY: return 0.9;
    case MLP_OPTIM_CLIP_NORM: return 0.0;
    case MLP_OPTIM_DECAY_ALL: return 0.0;
    }
    return NAN;
}

#define FIRST_KEY MLP_OPTIM_LEARNING_RATE
#define LAST_KEY MLP_OPTIM_DECAY_ALL

static void init_want(double *want, const float *p0)
{
    for (int i = 0; i < NP; i++)
        want[i] = p0[i];
}

/* Fail unless the model's parameters are within tolerance of `want`. */
static void check_params(mlp_model *m, const double *want, double rtol, double atol,
                         const char *what, int c, int step)
{
    float p[NP];
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert_msg(tu_close(p[i], want[i], rtol, atol),
                      "%s, case %d, step %d: p[%d] = %.9g, want %.9g", what, c, step, i,
                      (double)p[i], want[i]);
}

/* ---- hand-computed steps of the other rules ----------------------------------- */

/* Hyper-parameters of one hand-computed case. With use_defaults nothing is
 * set: the values are the documented defaults, and apply_case checks that
 * the optimizer reports them. Otherwise every key among these that the rule
 * has is set. */
typedef struct hp_case {
    int use_defaults;
    double lr, mu, b1, b2, eps, rho, wd;
} hp_case;

static void apply_case(mlp_optimizer *o, const hp_case *c)
{
    const struct {
        mlp_optim_param key;
        double value;
    } kv[] = {{MLP_OPTIM_LEARNING_RATE, c->lr}, {MLP_OPTIM_MOMENTUM, c->mu},
              {MLP_OPTIM_BETA1, c->b1},         {MLP_OPTIM_BETA2, c->b2},
              {MLP_OPTIM_EPSILON, c->eps},      {MLP_OPTIM_DECAY, c->rho},
              {MLP_OPTIM_WEIGHT_DECAY, c->wd}};
    const unsigned keys = rule_keys(mlp_optimizer_rule(o));
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++) {
        if (!(keys & KEY(kv[k].key)))
            continue;
        if (c->use_defaults) {
            double v = NAN;
            TU_OK(mlp_optimizer_get(o, kv[k].key, &v));
            ck_assert_msg(tu_close(v, kv[k].value, 1e-12, 0),
                          "default of key %d is %g, want %g", (int)kv[k].key, v,
                          kv[k].value);
        } else {
            TU_OK(mlp_optimizer_set(o, kv[k].key, kv[k].value));
        }
    }
}

static const double STEP_RTOL = 2e-6, STEP_ATOL = 1e-6;

static const hp_case NESTEROV_CASES[] = {
    {.use_defaults = 1, .lr = 0.01, .mu = 0.9},
    {.lr = 0.1, .mu = 0.9},
    {.lr = 0.25, .mu = 0.5},
    {.lr = 0.05, .mu = 0.0},
};

/*
 * Nesterov: v <- mu v - lr g;  p <- p + mu v - lr g (with the new v).
 * Element 0 (p = 0.5; g = 1, 0.5, -2) with the defaults (lr 0.01, mu 0.9)
 * by hand:
 *   v = -0.01,                     p = 0.5 - 0.009 - 0.01      = 0.481
 *   v = -0.009 - 0.005 = -0.014,   p = 0.481 - 0.0126 - 0.005  = 0.4634
 *   v = -0.0126 + 0.02 = 0.0074,   p = 0.4634 + 0.00666 + 0.02 = 0.49006
 */
START_TEST(nesterov_three_steps)
{
    const hp_case *c = &NESTEROV_CASES[_i];
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_NESTEROV, m);
    ck_assert_int_eq(mlp_optimizer_rule(o), MLP_RULE_NESTEROV);
    apply_case(o, c);
    double want[NP], v[NP] = {0};
    init_want(want, P0);
    for (int s = 0; s < 3; s++) {
        write_grads(d, G[s]);
        TU_OK(mlp_optimizer_step(o));
        /* v <- mu v - lr g;  p <- p + mu v - lr g */
        for (int i = 0; i < NP; i++) {
            v[i] = c->mu * v[i] - c->lr * G[s][i];
            want[i] += c->mu * v[i] - c->lr * G[s][i];
        }
        check_params(m, want, STEP_RTOL, STEP_ATOL, "nesterov", _i, s + 1);
    }
    if (c->use_defaults)
        ck_assert_double_eq_tol(want[0], 0.49006, 1e-12);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

static const hp_case RMSPROP_CASES[] = {
    {.use_defaults = 1, .lr = 0.001, .rho = 0.9, .eps = 1e-8, .mu = 0.0},
    {.lr = 0.1, .rho = 0.5, .eps = 1e-3, .mu = 0.0},
    {.lr = 0.01, .rho = 0.0, .eps = 1e-8, .mu = 0.0},
};
static const hp_case RMSPROP_MOMENTUM_CASES[] = {
    {.lr = 0.05, .rho = 0.8, .eps = 1e-6, .mu = 0.9},
    {.lr = 0.001, .rho = 0.9, .eps = 1e-8, .mu = 0.5},
};

static void rmsprop_case(const hp_case *c, int idx)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_RMSPROP, m);
    ck_assert_int_eq(mlp_optimizer_rule(o), MLP_RULE_RMSPROP);
    apply_case(o, c);
    double want[NP], s2[NP] = {0}, b[NP] = {0};
    init_want(want, P0);
    for (int s = 0; s < 3; s++) {
        write_grads(d, G[s]);
        TU_OK(mlp_optimizer_step(o));
        /* s <- rho s + (1 - rho) g^2;  b <- mu b + g / (sqrt(s) + eps);  p <- p - lr b */
        for (int i = 0; i < NP; i++) {
            double g = G[s][i];
            s2[i] = c->rho * s2[i] + (1.0 - c->rho) * g * g;
            b[i] = c->mu * b[i] + g / (sqrt(s2[i]) + c->eps);
            want[i] -= c->lr * b[i];
        }
        check_params(m, want, STEP_RTOL, STEP_ATOL,
                     c->mu > 0 ? "rmsprop+momentum" : "rmsprop", idx, s + 1);
    }
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}

/*
 * RMSProp without momentum. Element 0 with lr 0.1, rho 0.5, eps 1e-3 by hand:
 *   s = 0.5,     p = 0.5 - 0.1 * 1 / (0.7071068 + 0.001)      = 0.3587784
 *   s = 0.375,   p = 0.3587784 - 0.1 * 0.5 / (0.6123724 + 0.001) = 0.2772618
 *   s = 2.1875,  p = 0.2772618 + 0.1 * 2 / (1.4790199 + 0.001)   = 0.4123951
 */
START_TEST(rmsprop_three_steps)
{
    rmsprop_case(&RMSPROP_CASES[_i], _i);
}
END_TEST

/* RMSProp with momentum on the normalised step (b keeps mu b + ...). */
START_TEST(rmsprop_momentum_three_steps)
{
    rmsprop_case(&RMSPROP_MOMENTUM_CASES[_i], _i);
}
END_TEST

static const hp_case ADAM_CASES[] = {
    {.use_defaults = 1, .lr = 0.001, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8},
    {.lr = 0.05, .b1 = 0.8, .b2 = 0.99, .eps = 1e-3},
    {.lr = 0.02, .b1 = 0.0, .b2 = 0.5, .eps = 1e-8},
};
static const hp_case ADAMW_CASES[] = {
    {.use_defaults = 1, .lr = 0.001, .b1 = 0.9, .b2 = 0.999, .eps = 1e-8, .wd = 0.01},
    {.lr = 0.05, .b1 = 0.8, .b2 = 0.99, .eps = 1e-3, .wd = 0.1},
    {.lr = 0.1, .b1 = 0.5, .b2 = 0.9, .eps = 1e-8, .wd = 0.5},
};

/* Adam and AdamW share the reference: AdamW first multiplies the weights
 * (elements 0..3, not the biases) by 1 - lr wd. */
static void adam_case(mlp_rule rule, const hp_case *c, int idx)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(rule, m);
    ck_assert_int_eq(mlp_optimizer_rule(o), rule);
    apply_case(o, c);
    const double wd = rule == MLP_RULE_ADAMW ? c->wd : 0.0;
    double want[NP], mm[NP] = {0}, vv[NP] = {0};
    init_want(want, P0);
    for (int s = 0; s < 3; s++) {
        const int t = s + 1;
        write_grads(d, G[s]);
        TU_OK(mlp_optimizer_step(o));
        /* AdamW: p <- p - lr wd p (weights);
         * m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
         * p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
        for (int i = 0; i < NP; i++) {
            double g = G[s][i];
            if (i < 4)
                want[i] -= c->lr * wd * want[i];
            mm[i] = c->b1 * mm[i] + (1.0 - c->b1) * g;
            vv[i] = c->b2 * vv[i] + (1.0 - c->b2) * g * g;
            double mhat = mm[i] / (1.0 - pow(c->b1, t));
            double vhat = vv[i] / (1.0 - pow(c->b2, t));
            want[i] -= c->lr * mhat / (sqrt(vhat) + c->eps);
        }
        check_params(m, want, STEP_RTOL, STEP_ATOL,
                     rule == MLP_RULE_ADAM ? "adam" : "adamw", idx, t);
    }
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}

/*
 * Adam. On the first step m/(1-b1) = g and v/(1-b2) = g^2, so every element
 * with g != 0 moves by lr g / (|g| + eps): element 0 with lr 0.05, eps 1e-3
 * goes 0.5 -> 0.5 - 0.05 / 1.001 = 0.4500500, then 0.4043615, 0.4191784.
 * With the defaults element 0 goes 0.499, 0.4980678, 0.4982742.
 */
START_TEST(adam_three_steps)
{
    adam_case(MLP_RULE_ADAM, &ADAM_CASES[_i], _i);
}
END_TEST

/*
 * AdamW. Element 0 with lr 0.05, wd 0.1, b1 0.8, b2 0.99, eps 1e-3, step 1:
 *   0.5 (1 - 0.005) - 0.05 / 1.001 = 0.4975 - 0.0499500 = 0.4475500
 * then 0.3996237, 0.4124425.
 */
START_TEST(adamw_three_steps)
{
    adam_case(MLP_RULE_ADAMW, &ADAMW_CASES[_i], _i);
}
END_TEST

static const hp_case ADAGRAD_CASES[] = {
    {.use_defaults = 1, .lr = 0.01, .eps = 1e-8},
    {.lr = 0.5, .eps = 0.1},
};

/*
 * AdaGrad. Element 0 with lr 0.5, eps 0.1 by hand:
 *   s = 1,     p = 0.5 - 0.5 / 1.1                   = 0.0454545
 *   s = 1.25,  p = 0.0454545 - 0.25 / (1.1180340 + 0.1) = -0.1597942
 *   s = 5.25,  p = -0.1597942 + 1 / (2.2912878 + 0.1)   = 0.2583905
 */
START_TEST(adagrad_three_steps)
{
    const hp_case *c = &ADAGRAD_CASES[_i];
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_ADAGRAD, m);
    ck_assert_int_eq(mlp_optimizer_rule(o), MLP_RULE_ADAGRAD);
    apply_case(o, c);
    double want[NP], s2[NP] = {0};
    init_want(want, P0);
    for (int s = 0; s < 3; s++) {
        write_grads(d, G[s]);
        TU_OK(mlp_optimizer_step(o));
        /* s <- s + g^2;  p <- p - lr g / (sqrt(s) + eps) */
        for (int i = 0; i < NP; i++) {
            double g = G[s][i];
            s2[i] += g * g;
            want[i] -= c->lr * g / (sqrt(s2[i]) + c->eps);
        }
        check_params(m, want, STEP_RTOL, STEP_ATOL, "adagrad", _i, s + 1);
    }
    if (!c->use_defaults)
        ck_assert_double_eq_tol(want[0], 0.2583905, 1e-7);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* A reset forgets every rule's state, including Adam's step count: the
 * first step after it is the first step of a fresh optimizer. */
START_TEST(every_rule_reset_restarts)
{
    for (int r = 0; r < N_RULES; r++) {
        mlp_layer *d1, *d2;
        mlp_model *m1 = tiny_model(&d1), *m2 = tiny_model(&d2);
        mlp_optimizer *o1 = make_opt(RULES[r], m1), *o2 = make_opt(RULES[r], m2);
        for (int s = 0; s < 2; s++) {
            write_grads(d1, G[s + 1]);
            TU_OK(mlp_optimizer_step(o1));
        }
        mlp_optimizer_reset(o1);
        TU_OK(mlp_model_set_params(m1, P0, NP));
        write_grads(d1, G[0]);
        TU_OK(mlp_optimizer_step(o1));
        write_grads(d2, G[0]);
        TU_OK(mlp_optimizer_step(o2));
        float p1[NP], p2[NP];
        get_params(m1, p1);
        get_params(m2, p2);
        for (int i = 0; i < NP; i++)
            ck_assert_msg(p1[i] == p2[i], "rule %d: p[%d] = %.9g after reset, fresh %.9g",
                          (int)RULES[r], i, (double)p1[i], (double)p2[i]);
        mlp_optimizer_destroy(o1);
        mlp_optimizer_destroy(o2);
        mlp_model_destroy(m1);
        mlp_model_destroy(m2);
    }
}
END_TEST

/* ---- every rule on convex problems ---------------------------------------------- */

/* L(p) = 0.5 sum_i a_i (p_i - t_i)^2, curvatures 0.25..4 (condition number
 * 16): the gradient a_i (p_i - t_i) is written into the grads each step. */
static const float QA[NP] = {1.0f, 4.0f, 0.5f, 2.0f, 3.0f, 0.25f};
static const float QT[NP] = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f, 0.75f};

typedef struct conv_case {
    mlp_rule rule;
    double lr;
    double mu; /* momentum to set, or < 0 to keep the default */
    double wd; /* weight decay to set, or < 0 to keep the default */
    int steps;
    double tol; /* quadratic: max |p_i - t_i|; logistic: max final mean loss */
} conv_case;

static const conv_case QUAD_CASES[] = {
    {MLP_RULE_SGD, 0.2, -1, -1, 400, 1e-4},
    {MLP_RULE_MOMENTUM, 0.1, -1, -1, 400, 1e-4},
    {MLP_RULE_NESTEROV, 0.1, -1, -1, 400, 1e-4},
    {MLP_RULE_RMSPROP, 0.01, -1, -1, 2000, 1e-4},
    {MLP_RULE_RMSPROP, 0.003, 0.5, -1, 3000, 1e-4},
    {MLP_RULE_ADAM, 0.05, -1, -1, 1500, 1e-4},
    {MLP_RULE_ADAMW, 0.05, -1, 0.0, 1500, 1e-4}, /* decoupled decay off: Adam's optimum */
    {MLP_RULE_ADAGRAD, 0.5, -1, -1, 2000, 1e-4},
};

static void setup_conv(mlp_optimizer *o, const conv_case *c)
{
    TU_OK(mlp_optimizer_set_learning_rate(o, c->lr));
    if (c->mu >= 0)
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, c->mu));
    if (c->wd >= 0)
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, c->wd));
}

/* Every rule reaches the minimiser of the weighted quadratic within c->tol. */
START_TEST(every_rule_quadratic_optimum)
{
    const conv_case *c = &QUAD_CASES[_i];
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(c->rule, m);
    setup_conv(o, c);
    float p[NP], g[NP];
    double err0 = 0;
    for (int i = 0; i < NP; i++)
        err0 = fmax(err0, fabs((double)P0[i] - QT[i]));
    ck_assert(err0 > 1.0); /* the start is far from the optimum */
    for (int s = 0; s < c->steps; s++) {
        get_params(m, p);
        for (int i = 0; i < NP; i++)
            g[i] = QA[i] * (p[i] - QT[i]);
        write_grads(d, g);
        TU_OK(mlp_optimizer_step(o));
    }
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert_msg(fabs((double)p[i] - QT[i]) < c->tol,
                      "case %d (rule %d): p[%d] = %.7g, optimum %g, tolerance %g", _i,
                      (int)c->rule, i, (double)p[i], (double)QT[i], c->tol);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* Linearly separable 2-D points: label 1 where 2 x0 - x1 + 0.25 > 0, points
 * closer than 0.1 to that line redrawn, so the data have a margin. */
#define LOGIT_N 200
static void separable_data(float *x, int32_t *labels)
{
    tu_rng r;
    tu_rng_seed(&r, 42);
    const double w0 = 2.0, w1 = -1.0, b = 0.25, norm = sqrt(w0 * w0 + w1 * w1);
    int ones = 0;
    for (int i = 0; i < LOGIT_N; i++) {
        double a, c, z;
        do {
            a = 2.0 * tu_rng_uniform(&r) - 1.0;
            c = 2.0 * tu_rng_uniform(&r) - 1.0;
            z = w0 * a + w1 * c + b;
        } while (fabs(z) / norm < 0.1);
        x[2 * i] = (float)a;
        x[2 * i + 1] = (float)c;
        labels[i] = z > 0;
        ones += labels[i];
    }
    /* both classes well represented */
    ck_assert_int_gt(ones, LOGIT_N / 4);
    ck_assert_int_lt(ones, 3 * LOGIT_N / 4);
}

static const conv_case LOGIT_CASES[] = {
    {MLP_RULE_SGD, 1.0, -1, -1, 500, 0.1},
    {MLP_RULE_MOMENTUM, 0.1, -1, -1, 500, 0.1},
    {MLP_RULE_NESTEROV, 0.1, -1, -1, 500, 0.1},
    {MLP_RULE_RMSPROP, 0.01, -1, -1, 500, 0.1},
    {MLP_RULE_RMSPROP, 0.01, 0.5, -1, 500, 0.1},
    {MLP_RULE_ADAM, 0.05, -1, -1, 500, 0.1},
    {MLP_RULE_ADAMW, 0.05, -1, -1, 500, 0.1}, /* default decoupled decay 0.01 */
    {MLP_RULE_ADAGRAD, 0.5, -1, -1, 500, 0.1},
};

/*
 * Logistic regression through the real model: a dense 2 -> 2 layer whose
 * two logits go through softmax cross-entropy in mlp_model_train_step
 * (full batch), from all-zero parameters (first loss exactly ln 2). On the
 * separable data every rule must classify all points correctly and bring
 * the mean loss, recomputed with mlp_model_predict, below c->tol.
 */
START_TEST(every_rule_logistic_regression)
{
    const conv_case *c = &LOGIT_CASES[_i];
    const int32_t in[1] = {2};
    mlp_model *m = tu_model(1, in, 21);
    tu_add(m, tu_dense(2));
    const float zeros[NP] = {0};
    TU_OK(mlp_model_set_params(m, zeros, NP));
    mlp_optimizer *o = make_opt(c->rule, m);
    setup_conv(o, c);
    mlp_tensor *x = tu_tensor(2, LOGIT_N, 2);
    mlp_tensor *probs = tu_tensor(2, LOGIT_N, 2);
    int32_t labels[LOGIT_N];
    separable_data(mlp_tensor_data(x), labels);

    double loss = NAN, first = NAN;
    int32_t correct = -1;
    for (int s = 0; s < c->steps; s++) {
        TU_OK(mlp_model_train_step(m, o, x, labels, &loss, &correct));
        if (s == 0)
            first = loss;
    }
    ck_assert_msg(tu_close(first, log(2.0), 1e-6, 0), "case %d: first loss %g, want ln 2",
                  _i, first);
    TU_OK(mlp_model_predict(m, x, probs));
    const float *pr = mlp_tensor_data_const(probs);
    double mean = 0;
    int hits = 0;
    for (int i = 0; i < LOGIT_N; i++) {
        double pl = pr[2 * i + labels[i]];
        mean -= log(pl);
        hits += pl > 0.5;
    }
    mean /= LOGIT_N;
    ck_assert_msg(hits == LOGIT_N, "case %d (rule %d): %d of %d correct", _i,
                  (int)c->rule, hits, LOGIT_N);
    ck_assert_msg(mean < c->tol, "case %d (rule %d): final loss %g, want < %g", _i,
                  (int)c->rule, mean, c->tol);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(probs);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* ---- weight decay, L1 and clipping ------------------------------------------------ */

/* Hyper-parameters of the double-precision reference below. */
typedef struct ref_hp {
    mlp_rule rule;
    double lr, mu, b1, b2, eps, rho, wd, l1, clip;
    int decay_all;
} ref_hp;

/* The reference's state: the rule's two state arrays and its step count. */
typedef struct ref_state {
    double s0[NP], s1[NP];
    int t;
} ref_state;

static double sgn(double x)
{
    return (double)((x > 0) - (x < 0));
}

/*
 * One step of any rule on the tiny model's layout (elements 0..3 are the
 * weights W, 4..5 the biases), in double, from optim.h:
 *   scale = c / ||g_raw|| when c > 0 and ||g_raw|| > c (global norm), else 1
 *   g = scale g_raw + wd p (not AdamW) + l1 sign(p)   penalties on weights, or
 *                                                      on everything with DECAY_ALL
 *   AdamW first: p <- p - lr wd p                     (same parameters)
 * then the rule's formula from the mlp_rule comments.
 */
static void ref_step(const ref_hp *h, ref_state *st, double *p, const float *graw)
{
    double sq = 0;
    for (int i = 0; i < NP; i++)
        sq += (double)graw[i] * graw[i];
    const double scale = h->clip > 0 && sqrt(sq) > h->clip ? h->clip / sqrt(sq) : 1.0;
    const int adamw = h->rule == MLP_RULE_ADAMW;
    st->t++;
    for (int i = 0; i < NP; i++) {
        const int decay = i < 4 || h->decay_all;
        double g = scale * graw[i];
        if (decay)
            g += (adamw ? 0.0 : h->wd * p[i]) + h->l1 * sgn(p[i]);
        if (decay && adamw)
            p[i] -= h->lr * h->wd * p[i];
        double *s0 = &st->s0[i], *s1 = &st->s1[i];
        switch (h->rule) {
        case MLP_RULE_SGD: p[i] -= h->lr * g; break;
        case MLP_RULE_MOMENTUM:
            *s0 = h->mu * *s0 - h->lr * g;
            p[i] += *s0;
            break;
        case MLP_RULE_NESTEROV:
            *s0 = h->mu * *s0 - h->lr * g;
            p[i] += h->mu * *s0 - h->lr * g;
            break;
        case MLP_RULE_RMSPROP:
            *s0 = h->rho * *s0 + (1 - h->rho) * g * g;
            *s1 = h->mu * *s1 + g / (sqrt(*s0) + h->eps);
            p[i] -= h->lr * *s1;
            break;
        case MLP_RULE_ADAM:
        case MLP_RULE_ADAMW:
            *s0 = h->b1 * *s0 + (1 - h->b1) * g;
            *s1 = h->b2 * *s1 + (1 - h->b2) * g * g;
            p[i] -= h->lr * (*s0 / (1 - pow(h->b1, st->t))) /
                    (sqrt(*s1 / (1 - pow(h->b2, st->t))) + h->eps);
            break;
        case MLP_RULE_ADAGRAD:
            *s0 += g * g;
            p[i] -= h->lr * g / (sqrt(*s0) + h->eps);
            break;
        }
    }
}

/* Reference hyper-parameters with the documented defaults of `rule`. */
static ref_hp ref_defaults(mlp_rule rule)
{
    ref_hp h = {.rule = rule};
    h.lr = documented_default(rule, MLP_OPTIM_LEARNING_RATE);
    h.mu = documented_default(rule, MLP_OPTIM_MOMENTUM);
    h.b1 = documented_default(rule, MLP_OPTIM_BETA1);
    h.b2 = documented_default(rule, MLP_OPTIM_BETA2);
    h.eps = documented_default(rule, MLP_OPTIM_EPSILON);
    h.rho = documented_default(rule, MLP_OPTIM_DECAY);
    h.wd = documented_default(rule, MLP_OPTIM_WEIGHT_DECAY);
    return h;
}

/* Set the common keys of `h` on `o` (the rule's own keys keep their defaults). */
static void apply_common(mlp_optimizer *o, const ref_hp *h)
{
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, h->lr));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, h->wd));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_L1, h->l1));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_CLIP_NORM, h->clip));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_DECAY_ALL, h->decay_all));
}

/* Parameters for the penalty tests: no weight near zero except an exact 0,
 * and non-zero biases (so decaying them would show). */
static const float PD[NP] = {0.5f, -1.0f, 0.0f, 0.25f, 0.75f, -0.5f};
static const float ZERO_G[NP] = {0};

/* A learning rate per rule that keeps three penalty-only steps small next
 * to |p| >= 0.25 (so no parameter crosses zero near a sign change). */
static double penalty_lr(mlp_rule r)
{
    if (r == MLP_RULE_SGD || r == MLP_RULE_MOMENTUM || r == MLP_RULE_NESTEROV)
        return 0.1;
    return 0.01;
}

/*
 * With zero gradients only the penalties act. For each rule, with L2, L1 and
 * both, without and with DECAY_ALL, three steps match the reference; without
 * DECAY_ALL the biases stay bit for bit, and the weight at exactly 0 never
 * moves (its L2 and L1 terms are both 0).
 */
START_TEST(penalties_with_zero_gradient)
{
    const mlp_rule rule = RULES[_i];
    const struct {
        double wd, l1;
    } pens[] = {{0.1, 0.0}, {0.0, 0.5}, {0.1, 0.5}};
    for (size_t k = 0; k < sizeof pens / sizeof pens[0]; k++) {
        for (int all = 0; all <= 1; all++) {
            mlp_layer *d;
            mlp_model *m = tiny_model(&d);
            TU_OK(mlp_model_set_params(m, PD, NP));
            mlp_optimizer *o = make_opt(rule, m);
            ref_hp h = ref_defaults(rule);
            h.lr = penalty_lr(rule);
            h.wd = pens[k].wd;
            h.l1 = pens[k].l1;
            h.decay_all = all;
            apply_common(o, &h);
            ref_state st = {{0}, {0}, 0};
            double want[NP];
            init_want(want, PD);
            const int c = (int)k * 2 + all;
            for (int s = 0; s < 3; s++) {
                write_grads(d, ZERO_G);
                TU_OK(mlp_optimizer_step(o));
                ref_step(&h, &st, want, ZERO_G);
                check_params(m, want, 1e-5, 1e-7, "penalties", c, s + 1);
                float p[NP];
                get_params(m, p);
                ck_assert_msg(p[2] == 0.0f,
                              "rule %d, case %d: the zero weight moved to %g", (int)rule,
                              c, (double)p[2]);
                for (int i = 0; i < 4; i++)
                    if (i != 2)
                        ck_assert_msg(fabsf(p[i]) < fabsf(PD[i]),
                                      "rule %d, case %d: |w[%d]| did not shrink",
                                      (int)rule, c, i);
                for (int i = 4; i < NP; i++) {
                    if (all)
                        ck_assert_msg(fabsf(p[i]) < fabsf(PD[i]),
                                      "rule %d, case %d: DECAY_ALL but bias %d stays %g",
                                      (int)rule, c, i - 4, (double)p[i]);
                    else
                        ck_assert_msg(p[i] == PD[i],
                                      "rule %d, case %d: bias %d moved to %g", (int)rule,
                                      c, i - 4, (double)p[i]);
                }
            }
            mlp_optimizer_destroy(o);
            mlp_model_destroy(m);
        }
    }
}
END_TEST

/* SGD with L2 by hand: each step multiplies the weights by exactly
 * 1 - lr wd = 1 - 0.1 * 0.3 = 0.97; biases only with DECAY_ALL. */
START_TEST(sgd_weight_decay_exact)
{
    for (int all = 0; all <= 1; all++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        TU_OK(mlp_model_set_params(m, PD, NP));
        mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
        TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, 0.3));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_DECAY_ALL, all));
        float p[NP];
        for (int s = 1; s <= 3; s++) {
            write_grads(d, ZERO_G);
            TU_OK(mlp_optimizer_step(o));
            get_params(m, p);
            for (int i = 0; i < NP; i++) {
                double want = PD[i] * (i < 4 || all ? pow(0.97, s) : 1.0);
                ck_assert_msg(tu_close(p[i], want, 1e-6, 0),
                              "DECAY_ALL %d, step %d: p[%d] = %.9g, want %.9g", all, s, i,
                              (double)p[i], want);
            }
        }
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/* SGD with L1 by hand: lr 0.1, l1 0.5 moves every non-zero weight by exactly
 * 0.05 toward zero per step; the zero weight stays; biases only with
 * DECAY_ALL. */
START_TEST(sgd_l1_exact)
{
    for (int all = 0; all <= 1; all++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        TU_OK(mlp_model_set_params(m, PD, NP));
        mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
        TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_L1, 0.5));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_DECAY_ALL, all));
        float p[NP];
        for (int s = 1; s <= 3; s++) {
            write_grads(d, ZERO_G);
            TU_OK(mlp_optimizer_step(o));
            get_params(m, p);
            for (int i = 0; i < NP; i++) {
                double want = PD[i] - (i < 4 || all ? 0.05 * s * sgn(PD[i]) : 0.0);
                ck_assert_msg(tu_close(p[i], want, 0, 2e-7),
                              "DECAY_ALL %d, step %d: p[%d] = %.9g, want %.9g", all, s, i,
                              (double)p[i], want);
            }
            ck_assert(p[2] == 0.0f);
        }
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/*
 * AdamW's default decay is 0.01 and decoupled: with zero gradients Adam's
 * term is 0 / (0 + eps) = 0, so with lr 1 each step multiplies the weights
 * by exactly 1 - lr wd = 0.99 (and the biases with DECAY_ALL only). Adam
 * with the same L2 coefficient instead normalises wd p like a gradient and
 * moves each weight by about lr on the first step.
 */
START_TEST(adamw_default_decay_is_decoupled)
{
    for (int all = 0; all <= 1; all++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        TU_OK(mlp_model_set_params(m, PD, NP));
        mlp_optimizer *o = make_opt(MLP_RULE_ADAMW, m);
        TU_OK(mlp_optimizer_set_learning_rate(o, 1.0));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_DECAY_ALL, all));
        float p[NP];
        for (int s = 1; s <= 3; s++) {
            write_grads(d, ZERO_G);
            TU_OK(mlp_optimizer_step(o));
            get_params(m, p);
            for (int i = 0; i < NP; i++) {
                double want = PD[i] * (i < 4 || all ? pow(0.99, s) : 1.0);
                ck_assert_msg(tu_close(p[i], want, 1e-6, 0),
                              "AdamW, DECAY_ALL %d, step %d: p[%d] = %.9g, want %.9g",
                              all, s, i, (double)p[i], want);
            }
        }
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    /* coupled L2 in Adam: |g| = wd |p| is normalised away on step 1 */
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    TU_OK(mlp_model_set_params(m, PD, NP));
    mlp_optimizer *o = make_opt(MLP_RULE_ADAM, m);
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.01));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, 0.01));
    write_grads(d, ZERO_G);
    TU_OK(mlp_optimizer_step(o));
    float p[NP];
    get_params(m, p);
    ck_assert_float_eq_tol(p[0], 0.49f, 1e-6f);
    ck_assert_float_eq_tol(p[1], -0.99f, 1e-6f);
    ck_assert_float_eq(p[4], PD[4]);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/*
 * Decoupled for real gradients too: AdamW with wd and Adam without decay,
 * fed the same gradients, take the same Adam step d; AdamW's weights follow
 * p <- (1 - lr wd) p - d (the decay is not seen by m and v), its biases
 * follow Adam's exactly.
 */
START_TEST(adamw_matches_adam_plus_shrink)
{
    const double lr = 0.05, wd = 0.2;
    mlp_layer *da, *dw;
    mlp_model *ma = tiny_model(&da), *mw = tiny_model(&dw);
    mlp_optimizer *oa = make_opt(MLP_RULE_ADAM, ma), *ow = make_opt(MLP_RULE_ADAMW, mw);
    TU_OK(mlp_optimizer_set_learning_rate(oa, lr));
    TU_OK(mlp_optimizer_set_learning_rate(ow, lr));
    TU_OK(mlp_optimizer_set(ow, MLP_OPTIM_WEIGHT_DECAY, wd));
    double pw[NP];
    init_want(pw, P0);
    for (int s = 0; s < 3; s++) {
        float before[NP], after[NP], got[NP];
        get_params(ma, before);
        write_grads(da, G[s]);
        write_grads(dw, G[s]);
        TU_OK(mlp_optimizer_step(oa));
        TU_OK(mlp_optimizer_step(ow));
        get_params(ma, after);
        get_params(mw, got);
        for (int i = 0; i < NP; i++) {
            double step = (double)before[i] - after[i];
            pw[i] = (i < 4 ? (1 - lr * wd) * pw[i] : pw[i]) - step;
            ck_assert_msg(tu_close(got[i], pw[i], 1e-6, 1e-7),
                          "step %d: AdamW p[%d] = %.9g, Adam step + shrink gives %.9g",
                          s + 1, i, (double)got[i], pw[i]);
        }
        for (int i = 4; i < NP; i++)
            ck_assert_float_eq_tol(got[i], after[i], 1e-7f);
    }
    mlp_optimizer_destroy(oa);
    mlp_optimizer_destroy(ow);
    mlp_model_destroy(ma);
    mlp_model_destroy(mw);
}
END_TEST

/* ||G[0]|| = sqrt(1 + 4 + 0.25 + 16 + 1 + 0) = sqrt(22.25) = 4.7169906. */
START_TEST(clip_scales_sgd_step)
{
    const double norm = sqrt(22.25);
    const struct {
        double clip, factor;
    } cases[] = {
        {1.0, 1.0 / norm}, {2.5, 2.5 / norm}, /* above c: scaled to norm c */
        {4.8, 1.0},        {100.0, 1.0},      /* below c: untouched */
        {0.0, 1.0},                           /* 0: off */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
        TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_CLIP_NORM, cases[k].clip));
        double v;
        TU_OK(mlp_optimizer_get(o, MLP_OPTIM_CLIP_NORM, &v));
        ck_assert_double_eq(v, cases[k].clip);
        write_grads(d, G[0]);
        TU_OK(mlp_optimizer_step(o));
        float p[NP];
        get_params(m, p);
        double moved = 0;
        for (int i = 0; i < NP; i++) {
            double want = P0[i] - 0.1 * G[0][i] * cases[k].factor;
            ck_assert_msg(tu_close(p[i], want, 1e-6, 1e-7),
                          "clip %g: p[%d] = %.9g, want %.9g", cases[k].clip, i,
                          (double)p[i], want);
            moved += ((double)p[i] - P0[i]) * ((double)p[i] - P0[i]);
        }
        /* the step has norm lr * min(||g||, c) */
        double want_norm = 0.1 * (cases[k].factor < 1 ? cases[k].clip : norm);
        ck_assert_msg(tu_close(sqrt(moved), want_norm, 1e-5, 0),
                      "clip %g: step norm %g, want %g", cases[k].clip, sqrt(moved),
                      want_norm);
        /* the gradients are left as they were */
        tu_assert_close_ff("grads after clipping", mlp_layer_grads(d), G[0], NP, 0, 0);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/*
 * The norm is global, over every layer: layer 1 gets G[0] (norm 4.717),
 * layer 2 G[1] (norm sqrt(30.5) = 5.523), together sqrt(52.75) = 7.263.
 * With c = 5 both layers are scaled by 5 / 7.263, including layer 1 whose
 * own norm is below c.
 */
START_TEST(clip_norm_is_global)
{
    const int32_t in[1] = {2};
    mlp_model *m = tu_model(1, in, 3);
    mlp_layer *d1 = tu_add(m, tu_dense(2));
    mlp_layer *d2 = tu_add(m, tu_dense(2));
    ck_assert_int_eq(mlp_model_param_count(m), 2 * NP);
    float p0[2 * NP], p[2 * NP];
    TU_OK(mlp_model_get_params(m, p0, 2 * NP));
    mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_CLIP_NORM, 5.0));
    write_grads(d1, G[0]);
    write_grads(d2, G[1]);
    TU_OK(mlp_optimizer_step(o));
    TU_OK(mlp_model_get_params(m, p, 2 * NP));
    const double factor = 5.0 / sqrt(52.75);
    for (int i = 0; i < 2 * NP; i++) {
        double g = i < NP ? G[0][i] : G[1][i - NP];
        double want = p0[i] - 0.1 * g * factor;
        ck_assert_msg(tu_close(p[i], want, 1e-6, 1e-7), "p[%d] = %.9g, want %.9g", i,
                      (double)p[i], want);
    }
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/*
 * Every rule: a step with CLIP_NORM c on g equals a step without clipping on
 * g min(1, c / ||g||). With c = 3, G[0] (4.72) and G[1] (5.52) are scaled and
 * G[2] (sqrt(8.0625) = 2.84) is not; state built from clipped gradients.
 */
START_TEST(clip_every_rule)
{
    const mlp_rule rule = RULES[_i];
    const double c = 3.0;
    mlp_layer *da, *db;
    mlp_model *ma = tiny_model(&da), *mb = tiny_model(&db);
    mlp_optimizer *oa = make_opt(rule, ma), *ob = make_opt(rule, mb);
    const double lr = penalty_lr(rule);
    TU_OK(mlp_optimizer_set_learning_rate(oa, lr));
    TU_OK(mlp_optimizer_set_learning_rate(ob, lr));
    TU_OK(mlp_optimizer_set(oa, MLP_OPTIM_CLIP_NORM, c));
    int scaled = 0;
    for (int s = 0; s < 3; s++) {
        double sq = 0;
        for (int i = 0; i < NP; i++)
            sq += (double)G[s][i] * G[s][i];
        const double f = sqrt(sq) > c ? c / sqrt(sq) : 1.0;
        scaled += f < 1;
        float gb[NP];
        for (int i = 0; i < NP; i++)
            gb[i] = (float)(G[s][i] * f);
        write_grads(da, G[s]);
        write_grads(db, gb);
        TU_OK(mlp_optimizer_step(oa));
        TU_OK(mlp_optimizer_step(ob));
        float pa[NP], pb[NP];
        get_params(ma, pa);
        get_params(mb, pb);
        for (int i = 0; i < NP; i++)
            ck_assert_msg(tu_close(pa[i], pb[i], 1e-5, 1e-6),
                          "rule %d, step %d: clipped p[%d] = %.9g, pre-scaled %.9g",
                          (int)rule, s + 1, i, (double)pa[i], (double)pb[i]);
    }
    ck_assert_int_eq(scaled, 2);
    mlp_optimizer_destroy(oa);
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(ma);
    mlp_model_destroy(mb);
}
END_TEST

/*
 * Everything at once, every rule, non-zero gradients, non-default rule
 * hyper-parameters: clipping (c = 2, below every ||G[s]||) of the raw
 * gradient, then L2 and L1 on weights (and biases with DECAY_ALL), or the
 * decoupled decay for AdamW; three steps against ref_step.
 */
START_TEST(penalties_and_clipping_every_rule)
{
    const mlp_rule rule = RULES[_i];
    for (int all = 0; all <= 1; all++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        TU_OK(mlp_model_set_params(m, PD, NP));
        mlp_optimizer *o = make_opt(rule, m);
        ref_hp h = ref_defaults(rule);
        h.lr = penalty_lr(rule);
        h.wd = 0.2;
        h.l1 = 0.1;
        h.clip = 2.0;
        h.decay_all = all;
        apply_common(o, &h);
        const unsigned keys = rule_keys(rule);
        if (keys & KEY(MLP_OPTIM_MOMENTUM)) {
            h.mu = 0.6;
            TU_OK(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, h.mu));
        }
        if (keys & KEY(MLP_OPTIM_BETA1)) {
            h.b1 = 0.7;
            h.b2 = 0.95;
            TU_OK(mlp_optimizer_set(o, MLP_OPTIM_BETA1, h.b1));
            TU_OK(mlp_optimizer_set(o, MLP_OPTIM_BETA2, h.b2));
        }
        if (keys & KEY(MLP_OPTIM_DECAY)) {
            h.rho = 0.8;
            TU_OK(mlp_optimizer_set(o, MLP_OPTIM_DECAY, h.rho));
        }
        if (keys & KEY(MLP_OPTIM_EPSILON)) {
            h.eps = 1e-4;
            TU_OK(mlp_optimizer_set(o, MLP_OPTIM_EPSILON, h.eps));
        }
        ref_state st = {{0}, {0}, 0};
        double want[NP];
        init_want(want, PD);
        for (int s = 0; s < 3; s++) {
            write_grads(d, G[s]);
            TU_OK(mlp_optimizer_step(o));
            ref_step(&h, &st, want, G[s]);
            check_params(m, want, 1e-5, 1e-6, "all penalties", all, s + 1);
        }
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/* ---- learning-rate schedules ------------------------------------------------------ */

static double rate_at(const mlp_optimizer *o, int32_t epoch)
{
    double r = NAN;
    TU_OK(mlp_optimizer_scheduled_rate(o, epoch, &r));
    return r;
}

#define ASSERT_RATE(o, epoch, want)                                                      \
    do {                                                                                 \
        double r_ = rate_at((o), (epoch));                                               \
        double w_ = (want);                                                              \
        ck_assert_msg(tu_close(r_, w_, 1e-12, 1e-15),                                    \
                      "epoch %d: rate %.17g, want %.17g", (int)(epoch), r_, w_);         \
    } while (0)

START_TEST(schedule_constant_step_exponential)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.2));
    /* the default schedule is constant */
    const int32_t some[] = {0, 1, 7, 1000, INT32_MAX};
    for (size_t k = 0; k < sizeof some / sizeof some[0]; k++)
        ASSERT_RATE(o, some[k], 0.2);

    /* step 3, gamma 0.5: epochs 0..2 base, 3..5 base/2, 6..8 base/4, ... */
    TU_OK(mlp_optimizer_schedule_step(o, 3, 0.5));
    const double step_want[] = {0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025};
    for (int e = 0; e < 10; e++)
        ASSERT_RATE(o, e, step_want[e]);
    ASSERT_RATE(o, 29, 0.2 * pow(0.5, 9));
    ASSERT_RATE(o, 30, 0.2 * pow(0.5, 10));
    /* asking changes nothing */
    ck_assert_double_eq(mlp_optimizer_learning_rate(o), 0.2);
    double base;
    TU_OK(mlp_optimizer_get(o, MLP_OPTIM_LEARNING_RATE, &base));
    ck_assert_double_eq(base, 0.2);

    /* step 1 equals exponential; gamma 1 is constant */
    TU_OK(mlp_optimizer_schedule_step(o, 1, 0.9));
    for (int e = 0; e < 6; e++)
        ASSERT_RATE(o, e, 0.2 * pow(0.9, e));
    TU_OK(mlp_optimizer_schedule_step(o, 4, 1.0));
    ASSERT_RATE(o, 0, 0.2);
    ASSERT_RATE(o, 100, 0.2);

    /* exponential, gamma 0.9: base * 0.9^epoch */
    TU_OK(mlp_optimizer_schedule_exponential(o, 0.9));
    ASSERT_RATE(o, 0, 0.2);
    ASSERT_RATE(o, 1, 0.18);
    ASSERT_RATE(o, 2, 0.162);
    ASSERT_RATE(o, 5, 0.2 * pow(0.9, 5));
    ASSERT_RATE(o, 20, 0.2 * pow(0.9, 20));
    TU_OK(mlp_optimizer_schedule_exponential(o, 1.0));
    ASSERT_RATE(o, 50, 0.2);

    /* back to constant */
    TU_OK(mlp_optimizer_schedule_step(o, 2, 0.5));
    TU_OK(mlp_optimizer_schedule_constant(o));
    ASSERT_RATE(o, 9, 0.2);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* rate = lo + (base - lo) (1 + cos(pi (e - e0) / T)) / 2 within the period
 * [e0, e0 + T). */
static double sgdr(double base, double lo, int e, int e0, int T)
{
    return lo + (base - lo) * 0.5 * (1.0 + cos(acos(-1.0) * (e - e0) / T));
}

START_TEST(schedule_cosine_warm_restarts)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *o = make_opt(MLP_RULE_ADAM, m);
    const double base = 0.1, lo = 0.001;
    TU_OK(mlp_optimizer_set_learning_rate(o, base));

    /* period 2, mult 2: periods [0,2), [2,6), [6,14), [14,30), [30,62) */
    TU_OK(mlp_optimizer_schedule_cosine(o, 2, 2.0, lo));
    const int starts[] = {0, 2, 6, 14, 30, 62};
    for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++)
        ASSERT_RATE(o, starts[k], base); /* every period starts at the base */
    /* half-way through a period: (base + lo) / 2 = 0.0505 */
    ASSERT_RATE(o, 1, 0.0505);
    ASSERT_RATE(o, 4, 0.0505);
    ASSERT_RATE(o, 10, 0.0505);
    ASSERT_RATE(o, 22, 0.0505);
    /* by hand: epoch 3 = 0.001 + 0.099 (1 + cos(pi/4)) / 2 = 0.0855018 */
    ASSERT_RATE(o, 3, 0.001 + 0.099 * (1.0 + sqrt(0.5)) / 2.0);
    /* other points of each period from the formula */
    const struct {
        int e, e0, T;
    } pts[] = {{5, 2, 4},    {7, 6, 8},    {9, 6, 8},    {13, 6, 8},
               {15, 14, 16}, {29, 14, 16}, {31, 30, 32}, {61, 30, 32}};
    for (size_t k = 0; k < sizeof pts / sizeof pts[0]; k++)
        ASSERT_RATE(o, pts[k].e, sgdr(base, lo, pts[k].e, pts[k].e0, pts[k].T));
    /* the rate falls within each period and never reaches lo */
    for (int e = 1; e < 62; e++) {
        int restart = 0;
        for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++)
            restart |= e == starts[k];
        double prev = rate_at(o, e - 1), cur = rate_at(o, e);
        if (restart)
            ck_assert_double_eq_tol(cur, base, 1e-15);
        else
            ck_assert_msg(cur < prev && cur > lo, "epoch %d: %g after %g", e, cur, prev);
    }

    /* mult 1: every period is T = 3 (restarts at 0, 3, 6, ...), min 0 */
    TU_OK(mlp_optimizer_schedule_cosine(o, 3, 1.0, 0.0));
    ASSERT_RATE(o, 0, base);
    ASSERT_RATE(o, 1, 0.075); /* 0.1 (1 + cos(pi/3)) / 2 */
    ASSERT_RATE(o, 2, 0.025); /* 0.1 (1 + cos(2pi/3)) / 2 */
    ASSERT_RATE(o, 3, base);
    ASSERT_RATE(o, 4, 0.075);
    ASSERT_RATE(o, 3000, base);

    /* mult 1.6 from T = 2: periods 2, round(3.2) = 3, round(4.8) = 5, 8:
     * restarts at 0, 2, 5, 10, 18 */
    TU_OK(mlp_optimizer_schedule_cosine(o, 2, 1.6, 0.01));
    const int starts16[] = {0, 2, 5, 10, 18};
    for (size_t k = 0; k < sizeof starts16 / sizeof starts16[0]; k++)
        ASSERT_RATE(o, starts16[k], base);
    ASSERT_RATE(o, 3, sgdr(base, 0.01, 3, 2, 3));
    ASSERT_RATE(o, 7, sgdr(base, 0.01, 7, 5, 5));
    ASSERT_RATE(o, 17, sgdr(base, 0.01, 17, 10, 8));

    /* the schedule scales the base: a new base moves every value */
    TU_OK(mlp_optimizer_schedule_cosine(o, 2, 2.0, lo));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.3));
    ASSERT_RATE(o, 2, 0.3);
    ASSERT_RATE(o, 4, (0.3 + lo) / 2);

    /* a min_rate above the base acts as the base: the rate stays there
     * (it does not climb from the base to min_rate) */
    TU_OK(mlp_optimizer_schedule_cosine(o, 4, 1.0, 0.5));
    for (int e = 0; e < 9; e++)
        ASSERT_RATE(o, e, 0.3);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/*
 * Periods that grow slowly: the schedule's period against one walked here a
 * period at a time (length round(T mult^k)), at every epoch to 2,000 and at
 * the first and last epoch of every 16th period to epoch 1,000,000; then mults so close
 * to 1 that walking each period to epoch 2^31 - 1 would take seconds, and a mult whose
 * second period is infinite.
 */
START_TEST(schedule_cosine_slow_growth)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
    const double base = 0.1, lo = 0.002;
    TU_OK(mlp_optimizer_set_learning_rate(o, base));
    const struct {
        int T;
        double mult;
    } cases[] = {{3, 1.001}, {1, 1.05}, {2, 1.6}, {1, 2.0}, {2, 1.0 + 1e-6}, {7, 1.0001}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int T = cases[c].T;
        const double mult = cases[c].mult;
        TU_OK(mlp_optimizer_schedule_cosine(o, T, mult, lo));
        long long e0 = 0, bad = -1, checked = 0;
        double got = 0.0, want = 0.0;
        for (int k = 0; e0 < 1000000 && bad < 0; k++) {
            const long long len = (long long)floor(T * pow(mult, k) + 0.5);
            for (long long e = e0; e < e0 + len && bad < 0; e++)
                if (e < 2000 || (k % 16 == 0 && (e == e0 || e == e0 + len - 1))) {
                    want = sgdr(base, lo, (int)e, (int)e0, (int)len);
                    got = rate_at(o, (int32_t)e);
                    if (!tu_close(got, want, 1e-12, 1e-15))
                        bad = e;
                    checked++;
                }
            e0 += len;
        }
        ck_assert_msg(bad < 0, "T %d, mult %.17g: epoch %lld: rate %.17g, want %.17g", T,
                      mult, bad, got, want);
        ck_assert_int_gt(checked, 2000);
    }
    /* 1 + 2^-52 from T = 1: every period 1 epoch long until k = 1.8e15 */
    TU_OK(mlp_optimizer_schedule_cosine(o, 1, 1.0 + 0x1p-52, lo));
    ASSERT_RATE(o, INT32_MAX, base);
    ASSERT_RATE(o, INT32_MAX - 1, base);
    /* 1 + 2^-40 from T = 2: periods of 2 until k = 2.5e11, so odd epochs
     * are half-way through one */
    TU_OK(mlp_optimizer_schedule_cosine(o, 2, 1.0 + 0x1p-40, lo));
    ASSERT_RATE(o, INT32_MAX - 1, base);
    ASSERT_RATE(o, INT32_MAX, (base + lo) / 2);
    /* 1e300: [0, 5), then one period of infinite length */
    TU_OK(mlp_optimizer_schedule_cosine(o, 5, 1e300, lo));
    ASSERT_RATE(o, 2, sgdr(base, lo, 2, 0, 5));
    ASSERT_RATE(o, 5, base);
    ASSERT_RATE(o, INT32_MAX, base);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/*
 * mlp_optimizer_start_epoch sets the current rate, which the next step uses;
 * mlp_optimizer_set_learning_rate sets the base (and the current rate until
 * the next start_epoch).
 */
START_TEST(start_epoch_sets_current_rate)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.2));
    TU_OK(mlp_optimizer_schedule_step(o, 2, 0.5));
    ck_assert_double_eq(mlp_optimizer_learning_rate(o), 0.2); /* not yet started */

    TU_OK(mlp_optimizer_start_epoch(o, 3));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.1, 1e-15);
    double base;
    TU_OK(mlp_optimizer_get(o, MLP_OPTIM_LEARNING_RATE, &base));
    ck_assert_double_eq(base, 0.2); /* the base is kept */
    /* the step uses the current rate: p = P0 - 0.1 g */
    write_grads(d, G[0]);
    TU_OK(mlp_optimizer_step(o));
    float p[NP];
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert_float_eq_tol(p[i], P0[i] - 0.1f * G[0][i], 1e-6f);

    TU_OK(mlp_optimizer_start_epoch(o, 4));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.05, 1e-15);
    TU_OK(mlp_optimizer_start_epoch(o, 0));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.2, 1e-15);

    /* a new base: current until the next start_epoch, then scaled */
    TU_OK(mlp_optimizer_start_epoch(o, 5));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.4));
    ck_assert_double_eq(mlp_optimizer_learning_rate(o), 0.4);
    ASSERT_RATE(o, 5, 0.1);
    TU_OK(mlp_optimizer_start_epoch(o, 5));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.1, 1e-15);
    TU_OK(mlp_model_set_params(m, P0, NP));
    TU_OK(mlp_optimizer_step(o));
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert_float_eq_tol(p[i], P0[i] - 0.1f * G[0][i], 1e-6f);

    /* the same through the key */
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 0.8));
    ck_assert_double_eq(mlp_optimizer_learning_rate(o), 0.8);
    TU_OK(mlp_optimizer_start_epoch(o, 2));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.4, 1e-15);

    /* cosine and exponential through start_epoch */
    TU_OK(mlp_optimizer_schedule_cosine(o, 2, 2.0, 0.0));
    TU_OK(mlp_optimizer_start_epoch(o, 4));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.4, 1e-15);
    TU_OK(mlp_optimizer_start_epoch(o, 2));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.8, 1e-15);
    TU_OK(mlp_optimizer_schedule_exponential(o, 0.5));
    TU_OK(mlp_optimizer_start_epoch(o, 3));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.1, 1e-15);

    /* a bad epoch leaves the current rate */
    TU_FAIL(mlp_optimizer_start_epoch(o, -1), MLP_STATUS_INVALID_ARG);
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), 0.1, 1e-15);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/*
 * Every formula uses the current rate (optim.h: "lr for the current rate"),
 * AdamW's decoupled decay included: base 0.02 under step(1, 0.5) started at
 * epoch 1 steps exactly like a constant 0.01, with L2 (or AdamW's decay),
 * L1 and clipping on.
 */
START_TEST(every_rule_steps_with_current_rate)
{
    const mlp_rule rule = RULES[_i];
    mlp_layer *da, *db;
    mlp_model *ma = tiny_model(&da), *mb = tiny_model(&db);
    mlp_optimizer *oa = make_opt(rule, ma), *ob = make_opt(rule, mb);
    mlp_optimizer *both[2] = {oa, ob};
    for (int k = 0; k < 2; k++) {
        TU_OK(mlp_optimizer_set(both[k], MLP_OPTIM_WEIGHT_DECAY, 0.5));
        TU_OK(mlp_optimizer_set(both[k], MLP_OPTIM_L1, 0.05));
        TU_OK(mlp_optimizer_set(both[k], MLP_OPTIM_CLIP_NORM, 3.0));
    }
    TU_OK(mlp_optimizer_set_learning_rate(oa, 0.02));
    TU_OK(mlp_optimizer_schedule_step(oa, 1, 0.5));
    TU_OK(mlp_optimizer_start_epoch(oa, 1));
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(oa), 0.01, 1e-15);
    TU_OK(mlp_optimizer_set_learning_rate(ob, 0.01));
    for (int s = 0; s < 3; s++) {
        write_grads(da, G[s]);
        write_grads(db, G[s]);
        TU_OK(mlp_optimizer_step(oa));
        TU_OK(mlp_optimizer_step(ob));
        float pa[NP], pb[NP];
        get_params(ma, pa);
        get_params(mb, pb);
        for (int i = 0; i < NP; i++)
            ck_assert_msg(
                tu_close(pa[i], pb[i], 1e-6, 1e-7),
                "rule %d, step %d: p[%d] = %.9g at scheduled 0.01, %.9g at constant 0.01",
                (int)rule, s + 1, i, (double)pa[i], (double)pb[i]);
    }
    mlp_optimizer_destroy(oa);
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(ma);
    mlp_model_destroy(mb);
}
END_TEST

/*
 * Momentum and Nesterov keep the rate inside the velocity (optim.h): after a
 * rate change the earlier steps keep their rate. lr 0.1 for step 1, then
 * 0.05 (a step schedule, gamma 0.5), mu 0.9; element 0 by hand (g = 1, 0.5):
 *   momentum:  v = -0.1, p = 0.4;  v = -0.09 - 0.025 = -0.115, p = 0.285
 *   nesterov:  v = -0.1, p = 0.5 - 0.09 - 0.1 = 0.31;
 *              v = -0.115, p = 0.31 - 0.1035 - 0.025 = 0.1815
 * (PyTorch's buffer of gradients, scaled by the new rate, gives 0.33 and
 * 0.222 at step 2.)
 */
START_TEST(momentum_velocity_keeps_earlier_rates)
{
    const mlp_rule rules[2] = {MLP_RULE_MOMENTUM, MLP_RULE_NESTEROV};
    const double want0[2][2] = {{0.4, 0.285}, {0.31, 0.1815}};
    for (int r = 0; r < 2; r++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        mlp_optimizer *o = make_opt(rules[r], m);
        TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, 0.9));
        TU_OK(mlp_optimizer_schedule_step(o, 1, 0.5));
        double want[NP], v[NP] = {0};
        init_want(want, P0);
        for (int s = 0; s < 2; s++) {
            TU_OK(mlp_optimizer_start_epoch(o, s));
            const double lr = s == 0 ? 0.1 : 0.05;
            write_grads(d, G[s]);
            TU_OK(mlp_optimizer_step(o));
            for (int i = 0; i < NP; i++) {
                v[i] = 0.9 * v[i] - lr * G[s][i];
                want[i] +=
                    rules[r] == MLP_RULE_NESTEROV ? 0.9 * v[i] - lr * G[s][i] : v[i];
            }
            ck_assert_double_eq_tol(want[0], want0[r][s], 1e-12);
            check_params(m, want, STEP_RTOL, STEP_ATOL,
                         rules[r] == MLP_RULE_NESTEROV ? "nesterov" : "momentum", 0,
                         s + 1);
        }
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

#define FIT_EPOCHS 7
typedef struct rate_log {
    int n;
    int32_t epoch[FIT_EPOCHS];
    double rate[FIT_EPOCHS];
} rate_log;

static int log_rate(const mlp_epoch_stats *stats, mlp_model *model, void *user)
{
    (void)model;
    rate_log *log = user;
    if (log->n < FIT_EPOCHS) {
        log->epoch[log->n] = stats->epoch;
        log->rate[log->n] = stats->learning_rate;
    }
    log->n++;
    return 0;
}

/*
 * mlp_model_fit starts every epoch through the schedule: the on_epoch
 * callback sees, for epoch k (1-based), the rate the schedule gives for
 * 0-based epoch k - 1. Step 2, gamma 0.5 from 0.1: 0.1 0.1 0.05 0.05
 * 0.025 0.025 0.0125; then the same for exponential and cosine schedules.
 */
START_TEST(fit_applies_schedule_per_epoch)
{
    mlp_dataset *train = tu_blobs(40, 2, 1, 1, 2, 8.0, 5, 6);
    const int32_t in[1] = {2};
    for (int kind = 0; kind < 3; kind++) {
        mlp_model *m = tu_model(1, in, 7);
        tu_add(m, tu_dense(2));
        mlp_optimizer *o = make_opt(MLP_RULE_SGD, m);
        TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
        if (kind == 0)
            TU_OK(mlp_optimizer_schedule_step(o, 2, 0.5));
        else if (kind == 1)
            TU_OK(mlp_optimizer_schedule_exponential(o, 0.8));
        else
            TU_OK(mlp_optimizer_schedule_cosine(o, 2, 2.0, 0.001));
        rate_log log = {0};
        mlp_fit_options opts;
        mlp_fit_options_init(&opts);
        opts.epochs = FIT_EPOCHS;
        opts.batch_size = 8;
        opts.on_epoch = log_rate;
        opts.user = &log;
        TU_OK(mlp_model_fit(m, o, train, NULL, &opts));
        ck_assert_int_eq(log.n, FIT_EPOCHS);
        const double step_want[FIT_EPOCHS] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125};
        for (int e = 0; e < FIT_EPOCHS; e++) {
            ck_assert_int_eq(log.epoch[e], e + 1);
            /* computed here, not asked of mlp_optimizer_scheduled_rate:
             * exponential 0.1 * 0.8^e; cosine periods [0,2) [2,6) [6,14) */
            double want = kind == 0   ? step_want[e]
                          : kind == 1 ? 0.1 * pow(0.8, e)
                          : e < 2     ? sgdr(0.1, 0.001, e, 0, 2)
                          : e < 6     ? sgdr(0.1, 0.001, e, 2, 4)
                                      : sgdr(0.1, 0.001, e, 6, 8);
            ck_assert_msg(tu_close(log.rate[e], want, 1e-12, 0),
                          "schedule %d, epoch %d: learning_rate %.17g, want %.17g", kind,
                          e + 1, log.rate[e], want);
        }
        /* the last epoch's rate stays current; the base is untouched */
        ck_assert_double_eq_tol(mlp_optimizer_learning_rate(o), log.rate[FIT_EPOCHS - 1],
                                1e-15);
        double base;
        TU_OK(mlp_optimizer_get(o, MLP_OPTIM_LEARNING_RATE, &base));
        ck_assert_double_eq(base, 0.1);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    mlp_dataset_destroy(train);
}
END_TEST

/*
 * The scheduled rate is the one fit's steps use: with full batches (one
 * step per epoch), fitting 4 epochs under step(1, 0.5) from 0.4 equals
 * four 1-epoch fits at 0.4, 0.2, 0.1, 0.05 with a constant schedule.
 */
START_TEST(fit_steps_use_scheduled_rate)
{
    mlp_dataset *train = tu_blobs(30, 2, 1, 1, 2, 8.0, 5, 6);
    const int32_t in[1] = {2};
    mlp_model *ma = tu_model(1, in, 9), *mb = tu_model(1, in, 9);
    tu_add(ma, tu_dense(2));
    tu_add(mb, tu_dense(2));
    mlp_optimizer *oa = make_opt(MLP_RULE_SGD, ma), *ob = make_opt(MLP_RULE_SGD, mb);
    TU_OK(mlp_optimizer_set_learning_rate(oa, 0.4));
    TU_OK(mlp_optimizer_schedule_step(oa, 1, 0.5));
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.batch_size = 30;
    opts.epochs = 4;
    TU_OK(mlp_model_fit(ma, oa, train, NULL, &opts));
    opts.epochs = 1;
    for (int e = 0; e < 4; e++) {
        TU_OK(mlp_optimizer_set_learning_rate(ob, 0.4 * pow(0.5, e)));
        TU_OK(mlp_model_fit(mb, ob, train, NULL, &opts));
    }
    float pa[NP], pb[NP], p0[NP];
    TU_OK(mlp_model_get_params(ma, pa, NP));
    TU_OK(mlp_model_get_params(mb, pb, NP));
    mlp_model *fresh = tu_model(1, in, 9);
    tu_add(fresh, tu_dense(2));
    TU_OK(mlp_model_get_params(fresh, p0, NP));
    double moved = 0;
    for (int i = 0; i < NP; i++) {
        ck_assert_msg(tu_close(pa[i], pb[i], 1e-5, 1e-6),
                      "p[%d]: scheduled %.9g, by hand %.9g", i, (double)pa[i],
                      (double)pb[i]);
        moved = fmax(moved, fabs((double)pa[i] - p0[i]));
    }
    ck_assert_msg(moved > 1e-3, "training did not move the parameters (%g)", moved);
    mlp_model_destroy(fresh);
    mlp_optimizer_destroy(oa);
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(ma);
    mlp_model_destroy(mb);
    mlp_dataset_destroy(train);
}
END_TEST

/* ---- hyper-parameters of every rule ------------------------------------------------ */

/* Every rule: the documented default of each key it has; UNSUPPORTED, with a
 * message, for get and set of every key it does not have. */
START_TEST(every_rule_defaults_and_unsupported_keys)
{
    mlp_model *m = tiny_model(NULL);
    for (int r = 0; r < N_RULES; r++) {
        const mlp_rule rule = RULES[r];
        mlp_optimizer *o = make_opt(rule, m);
        ck_assert_int_eq(mlp_optimizer_rule(o), rule);
        const unsigned keys = rule_keys(rule);
        for (int k = FIRST_KEY; k <= LAST_KEY; k++) {
            double v = -123.0;
            if (keys & KEY(k)) {
                TU_OK(mlp_optimizer_get(o, (mlp_optim_param)k, &v));
                ck_assert_msg(v == documented_default(rule, (mlp_optim_param)k),
                              "rule %d, key %d: default %.17g, documented %.17g",
                              (int)rule, k, v,
                              documented_default(rule, (mlp_optim_param)k));
            } else {
                TU_FAIL(mlp_optimizer_get(o, (mlp_optim_param)k, &v),
                        MLP_STATUS_UNSUPPORTED);
                TU_FAIL(mlp_optimizer_set(o, (mlp_optim_param)k, 0.5),
                        MLP_STATUS_UNSUPPORTED);
            }
        }
        ck_assert_double_eq(mlp_optimizer_learning_rate(o),
                            documented_default(rule, MLP_OPTIM_LEARNING_RATE));
        mlp_optimizer_destroy(o);
    }
    /* the brief's examples, spelled out */
    mlp_optimizer *sgd = make_opt(MLP_RULE_SGD, m), *adam = make_opt(MLP_RULE_ADAM, m);
    mlp_optimizer *mom = make_opt(MLP_RULE_MOMENTUM, m);
    TU_FAIL(mlp_optimizer_set(sgd, MLP_OPTIM_BETA1, 0.9), MLP_STATUS_UNSUPPORTED);
    TU_FAIL(mlp_optimizer_set(adam, MLP_OPTIM_MOMENTUM, 0.9), MLP_STATUS_UNSUPPORTED);
    TU_FAIL(mlp_optimizer_set(adam, MLP_OPTIM_DECAY, 0.9), MLP_STATUS_UNSUPPORTED);
    TU_FAIL(mlp_optimizer_set(mom, MLP_OPTIM_EPSILON, 1e-8), MLP_STATUS_UNSUPPORTED);
    mlp_optimizer_destroy(sgd);
    mlp_optimizer_destroy(adam);
    mlp_optimizer_destroy(mom);
    mlp_model_destroy(m);
}
END_TEST

/* The edges of the ranges as floats (optim.h), under rounding to nearest:
 * a double from 2^128 - 2^103 rounds to infinity, one from 1 - 2^-25 to
 * 1. Each as a double: the largest that rounds to FLT_MAX (a finite
 * float), the smallest that rounds to infinity, the largest that rounds
 * below 1, the smallest that rounds to 1. An epsilon's bound is FLT_MIN
 * as a double: the one below it, FLT_MIN - 2^-150, rounds up to FLT_MIN,
 * but to 0 while subnormals are flushed. */
#define F_LAST_FINITE 0x1.fffffefffffffp+127
#define F_FIRST_INF 0x1.ffffffp+127
#define F_LAST_BELOW_ONE 0x1.fffffefffffffp-1
#define F_FIRST_ONE 0x1.ffffffp-1
#define F_BELOW_NORMAL 0x1.fffffep-127

/* Valid values of each key, in its range; the last is the one kept when
 * the out-of-range values are refused. */
static size_t in_range_values(mlp_optim_param k, const double **out)
{
    static const double lr[] = {0.0, FLT_MAX, F_LAST_FINITE, 1e-4, 0.37, 2.0, 1e3};
    static const double unit[] = {0.0,  F_LAST_BELOW_ONE, 0x1.fffffep-1, 0.5,
                                  0.99, 0.999999};
    static const double eps[] = {FLT_MIN, FLT_MAX, F_LAST_FINITE, 1e-12, 1e-8, 0.5, 10.0};
    static const double nonneg[] = {0.0, FLT_MAX, F_LAST_FINITE, 1e-6, 0.3, 5.0};
    /* compared in double, never converted: any finite value */
    static const double clip[] = {0.0, 1e39, DBL_MAX, 1e-6, 0.3, 5.0};
    static const double flag[] = {1.0, 0.0, 1.0};
    switch (k) {
    case MLP_OPTIM_LEARNING_RATE: *out = lr; return sizeof lr / sizeof lr[0];
    case MLP_OPTIM_MOMENTUM:
    case MLP_OPTIM_BETA1:
    case MLP_OPTIM_BETA2:
    case MLP_OPTIM_DECAY: *out = unit; return sizeof unit / sizeof unit[0];
    case MLP_OPTIM_EPSILON: *out = eps; return sizeof eps / sizeof eps[0];
    case MLP_OPTIM_WEIGHT_DECAY:
    case MLP_OPTIM_L1: *out = nonneg; return sizeof nonneg / sizeof nonneg[0];
    case MLP_OPTIM_CLIP_NORM: *out = clip; return sizeof clip / sizeof clip[0];
    case MLP_OPTIM_DECAY_ALL: *out = flag; return sizeof flag / sizeof flag[0];
    }
    return 0;
}

/* Out-of-range values of each key: first as doubles, then (from 1e39,
 * 1 - 1e-12 and 1e-46 on) only as the floats the rules apply them as,
 * which were accepted: rates and penalties infinite, coefficients 1,
 * epsilons subnormal or 0. */
static size_t out_of_range_values(mlp_optim_param k, const double **out)
{
    static const double lr[] = {-1e-9, -0.1,  -INFINITY,   NAN,
                                1e39,  1e300, F_FIRST_INF, DBL_MAX};
    static const double unit[] = {
        -1e-9,       -0.1,
        1.0,         1.5,
        NAN,         INFINITY,
        -INFINITY,   1.0 - 1e-12,
        F_FIRST_ONE, 0x1.fffffffffffffp-1 /* nextafter(1, 0) */};
    static const double eps[] = {
        0.0,   -0.0,     -1e-8,  -INFINITY,      NAN,  1e-46,       1e-40,
        1e-38, 0x1p-149, 1e-300, F_BELOW_NORMAL, 1e39, F_FIRST_INF, DBL_MAX};
    static const double nonneg[] = {-1e-9, -1.0,  -INFINITY,  NAN,
                                    1e39,  1e300, F_FIRST_INF};
    static const double clip[] = {-1e-9, -1.0, -INFINITY, NAN, INFINITY};
    static const double flag[] = {0.5, 2.0, -1.0, NAN, INFINITY};
    switch (k) {
    case MLP_OPTIM_LEARNING_RATE: *out = lr; return sizeof lr / sizeof lr[0];
    case MLP_OPTIM_MOMENTUM:
    case MLP_OPTIM_BETA1:
    case MLP_OPTIM_BETA2:
    case MLP_OPTIM_DECAY: *out = unit; return sizeof unit / sizeof unit[0];
    case MLP_OPTIM_EPSILON: *out = eps; return sizeof eps / sizeof eps[0];
    case MLP_OPTIM_WEIGHT_DECAY:
    case MLP_OPTIM_L1: *out = nonneg; return sizeof nonneg / sizeof nonneg[0];
    case MLP_OPTIM_CLIP_NORM: *out = clip; return sizeof clip / sizeof clip[0];
    case MLP_OPTIM_DECAY_ALL: *out = flag; return sizeof flag / sizeof flag[0];
    }
    return 0;
}

/* Compare every key the rule has with `want` (indexed by key). */
static void check_all_keys(const mlp_optimizer *o, const double *want, const char *after,
                           int key, double value)
{
    const unsigned keys = rule_keys(mlp_optimizer_rule(o));
    for (int k = FIRST_KEY; k <= LAST_KEY; k++) {
        if (!(keys & KEY(k)))
            continue;
        double v = NAN;
        TU_OK(mlp_optimizer_get(o, (mlp_optim_param)k, &v));
        ck_assert_msg(v == want[k],
                      "rule %d, after %s key %d = %g: key %d is %.17g, want %.17g",
                      (int)mlp_optimizer_rule(o), after, key, value, k, v, want[k]);
    }
}

/* Every rule, every key it has: set then get returns the value; other keys
 * do not move; out-of-range values are refused with a message and change
 * nothing. */
START_TEST(every_rule_round_trip_and_ranges)
{
    mlp_model *m = tiny_model(NULL);
    const mlp_rule rule = RULES[_i];
    mlp_optimizer *o = make_opt(rule, m);
    const unsigned keys = rule_keys(rule);
    double want[LAST_KEY + 1] = {0};
    for (int k = FIRST_KEY; k <= LAST_KEY; k++)
        if (keys & KEY(k))
            want[k] = documented_default(rule, (mlp_optim_param)k);
    for (int k = FIRST_KEY; k <= LAST_KEY; k++) {
        if (!(keys & KEY(k)))
            continue;
        const double *vals;
        size_t n = in_range_values((mlp_optim_param)k, &vals);
        ck_assert_uint_gt(n, 0);
        for (size_t j = 0; j < n; j++) {
            TU_OK(mlp_optimizer_set(o, (mlp_optim_param)k, vals[j]));
            want[k] = vals[j];
            check_all_keys(o, want, "setting", k, vals[j]);
            if (k == MLP_OPTIM_LEARNING_RATE)
                ck_assert_double_eq(mlp_optimizer_learning_rate(o), vals[j]);
        }
        n = out_of_range_values((mlp_optim_param)k, &vals);
        ck_assert_uint_gt(n, 0);
        for (size_t j = 0; j < n; j++) {
            TU_FAIL(mlp_optimizer_set(o, (mlp_optim_param)k, vals[j]),
                    MLP_STATUS_INVALID_ARG);
            check_all_keys(o, want, "refusing", k, vals[j]);
            if (k == MLP_OPTIM_LEARNING_RATE) {
                TU_FAIL(mlp_optimizer_set_learning_rate(o, vals[j]),
                        MLP_STATUS_INVALID_ARG);
                ck_assert_double_eq(mlp_optimizer_learning_rate(o), want[k]);
            }
        }
    }
    /* the boundaries: 1.0 is out of [0, 1), eps 0 is not > 0 */
    if (keys & KEY(MLP_OPTIM_BETA1)) {
        TU_FAIL(mlp_optimizer_set(o, MLP_OPTIM_BETA1, 1.0), MLP_STATUS_INVALID_ARG);
        TU_FAIL(mlp_optimizer_set(o, MLP_OPTIM_BETA2, 1.0), MLP_STATUS_INVALID_ARG);
    }
    if (keys & KEY(MLP_OPTIM_MOMENTUM))
        TU_FAIL(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, 1.0), MLP_STATUS_INVALID_ARG);
    if (keys & KEY(MLP_OPTIM_DECAY))
        TU_FAIL(mlp_optimizer_set(o, MLP_OPTIM_DECAY, 1.0), MLP_STATUS_INVALID_ARG);
    if (keys & KEY(MLP_OPTIM_EPSILON))
        TU_FAIL(mlp_optimizer_set(o, MLP_OPTIM_EPSILON, 0.0), MLP_STATUS_INVALID_ARG);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* A value in range as a double but not as the float a rule applies it as
 * is refused with a message that names the key and the value as given
 * (%g wrote 1 - 1e-12 as 1), and changes nothing. Each was accepted: eps
 * 1e-46 became 0 and Adam's next step made parameters NaN, beta2 and
 * rho became 1, a rate of 1e39 became infinite. */
START_TEST(values_no_float_holds_are_named)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *adam = make_opt(MLP_RULE_ADAM, m),
                  *rms = make_opt(MLP_RULE_RMSPROP, m);
    static const struct {
        mlp_rule rule; /* Adam or RMSProp */
        mlp_optim_param key;
        double value;
        const char *what;
    } cases[] = {
        {MLP_RULE_ADAM, MLP_OPTIM_EPSILON, 1e-46,
         "mlp_optimizer_set: epsilon = 1e-46 must be > 0 and finite as a normal float "
         "(1.17549435e-38 to 3.40282347e+38)"},
        {MLP_RULE_RMSPROP, MLP_OPTIM_EPSILON, 1e-38, "epsilon = 1e-38 must be"},
        {MLP_RULE_ADAM, MLP_OPTIM_BETA2, 1.0 - 1e-12,
         "mlp_optimizer_set: beta2 = 0.999999999999 must be [0, 1) as a float (from "
         "1 - 2^-25, 0.99999997, it rounds to 1)"},
        {MLP_RULE_ADAM, MLP_OPTIM_BETA1, F_FIRST_ONE,
         "beta1 = 0.9999999701976776 must be"},
        {MLP_RULE_RMSPROP, MLP_OPTIM_DECAY, 0x1.fffffffffffffp-1,
         "decay = 0.9999999999999999 must be [0, 1) as a float"},
        {MLP_RULE_RMSPROP, MLP_OPTIM_MOMENTUM, 1.0 - 1e-12, "momentum = 0.999999999999"},
        {MLP_RULE_ADAM, MLP_OPTIM_LEARNING_RATE, 1e39,
         "mlp_optimizer_set: learning_rate = 1e+39 must be >= 0 and finite as a float "
         "(at most 3.40282347e+38)"},
        {MLP_RULE_ADAM, MLP_OPTIM_WEIGHT_DECAY, 1e300, "weight_decay = 1e+300 must be"},
        {MLP_RULE_RMSPROP, MLP_OPTIM_L1, F_FIRST_INF,
         "l1 = 3.4028235677973366e+38 must be"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mlp_optimizer *o = cases[c].rule == MLP_RULE_ADAM ? adam : rms;
        double before, after;
        TU_OK(mlp_optimizer_get(o, cases[c].key, &before));
        TU_FAIL_MSG(mlp_optimizer_set(o, cases[c].key, cases[c].value),
                    MLP_STATUS_INVALID_ARG, cases[c].what);
        TU_OK(mlp_optimizer_get(o, cases[c].key, &after));
        ck_assert_msg(after == before, "case %zu: %.17g, was %.17g", c, after, before);
    }
    /* the rate through its own setter, which names itself */
    TU_OK(mlp_optimizer_set_learning_rate(adam, 0.125));
    TU_FAIL_MSG(mlp_optimizer_set_learning_rate(adam, 1e39), MLP_STATUS_INVALID_ARG,
                "mlp_optimizer_set_learning_rate: learning_rate = 1e+39 must be >= 0 and "
                "finite as a float");
    ck_assert_double_eq(mlp_optimizer_learning_rate(adam), 0.125);
    TU_OK(mlp_optimizer_set_learning_rate(adam, FLT_MAX));
    ck_assert_double_eq(mlp_optimizer_learning_rate(adam), FLT_MAX);
    TU_OK(mlp_optimizer_set_learning_rate(adam, 0.125));

    /* the cosine schedule's minimum rate is a rate too; a refusal keeps
     * the schedule in force */
    TU_OK(mlp_optimizer_schedule_step(adam, 2, 0.5));
    TU_FAIL_MSG(mlp_optimizer_schedule_cosine(adam, 2, 1.0, 1e39), MLP_STATUS_INVALID_ARG,
                "mlp_optimizer_schedule_cosine: min_rate 1e+39 is not >= 0 and finite as "
                "a float");
    TU_FAIL(mlp_optimizer_schedule_cosine(adam, 2, 1.0, F_FIRST_INF),
            MLP_STATUS_INVALID_ARG);
    ASSERT_RATE(adam, 2, 0.0625);
    TU_OK(mlp_optimizer_schedule_cosine(adam, 2, 1.0, F_LAST_FINITE));
    ASSERT_RATE(adam, 1, 0.125); /* above the base: the base */
    mlp_optimizer_destroy(adam);
    mlp_optimizer_destroy(rms);
    mlp_model_destroy(m);
}
END_TEST

/* Set, for the calling thread and the library's workers, whether subnormal
 * floats are flushed; 0 when the processor has no such mode. */
static int flush_denormals(int on)
{
    mlp_status st = mlp_set_flush_denormals(on);
    if (st == MLP_STATUS_UNSUPPORTED)
        return 0;
    TU_OK(st);
    return 1;
}

/*
 * End to end: the smallest epsilon accepted, FLT_MIN, and a dead ReLU unit
 * (its bias far below what its inputs can lift), whose parameters get
 * gradients of 0, with subnormal floats flushed. Adam's step divided by
 * sqrt(v) + eps sqrt(1 - b2^t), whose second term was subnormal and
 * flushed: 0 / 0, and the dead unit's parameters were NaN after a step
 * that returned MLP_STATUS_OK. They stay as they were now, and the live
 * ones move, under every rule with an epsilon, flushed or not.
 */
START_TEST(smallest_eps_keeps_a_dead_unit_finite)
{
    static const mlp_rule rules[] = {MLP_RULE_ADAM, MLP_RULE_ADAMW, MLP_RULE_RMSPROP,
                                     MLP_RULE_ADAGRAD};
    /* parameters: W1 [IN, HIDDEN], b1, W2 [HIDDEN, OUT], b2 */
    enum { IN = 3, HIDDEN = 4, OUT = 2, N = 8 };
    enum { DEAD_BIAS = IN * HIDDEN, OUT_WEIGHTS = DEAD_BIAS + HIDDEN };
    tu_rng r;
    tu_rng_seed(&r, 11);
    mlp_tensor *x = tu_tensor(2, N, IN);
    tu_fill_uniform(&r, mlp_tensor_data(x), N * IN, 0.0f, 1.0f);
    const int32_t labels[N] = {0, 1, 1, 0, 1, 0, 0, 1};
    for (int flush = 1; flush >= 0; flush--) {
        if (flush && !flush_denormals(1))
            continue; /* no such mode on this processor */
        for (size_t k = 0; k < sizeof rules / sizeof rules[0]; k++) {
            mlp_model *m = tu_model(1, (int32_t[]){IN}, 5);
            tu_add(m, tu_dense(HIDDEN));
            tu_add(m, tu_relu());
            tu_add(m, tu_dense(OUT));
            const int64_t n = mlp_model_param_count(m);
            ck_assert_int_eq(n, OUT_WEIGHTS + HIDDEN * OUT + OUT);
            float *p0 = malloc((size_t)n * sizeof *p0),
                  *p = malloc((size_t)n * sizeof *p);
            ck_assert(p0 && p);
            TU_OK(mlp_model_get_params(m, p0, n));
            p0[DEAD_BIAS] = -100.0f; /* hidden unit 0 never fires */
            TU_OK(mlp_model_set_params(m, p0, n));
            mlp_optimizer *o = make_opt(rules[k], m);
            TU_OK(mlp_optimizer_set(o, MLP_OPTIM_EPSILON, FLT_MIN));
            int moved = 0;
            for (int step = 0; step < 2; step++) {
                TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
                TU_OK(mlp_model_get_params(m, p, n));
                moved = 0;
                for (int64_t i = 0; i < n; i++) {
                    ck_assert_msg(isfinite(p[i]),
                                  "rule %d, flush %d, step %d: parameter %lld is %g",
                                  (int)rules[k], flush, step, (long long)i, (double)p[i]);
                    moved += p[i] != p0[i];
                }
            }
            ck_assert_int_gt(moved, 0);
            /* The dead unit's bias; its weights in and out too but under
             * AdamW, whose decay shrinks them (biases are not decayed). */
            ck_assert_float_eq(p[DEAD_BIAS], -100.0f);
            for (int i = 0; i < IN && rules[k] != MLP_RULE_ADAMW; i++)
                ck_assert_float_eq(p[i * HIDDEN], p0[i * HIDDEN]);
            for (int j = 0; j < OUT && rules[k] != MLP_RULE_ADAMW; j++)
                ck_assert_float_eq(p[OUT_WEIGHTS + j], p0[OUT_WEIGHTS + j]);
            mlp_optimizer_destroy(o);
            free(p);
            free(p0);
            mlp_model_destroy(m);
        }
        if (flush)
            flush_denormals(0);
    }
    mlp_tensor_destroy(x);
}
END_TEST

/* The parameters of the tiny model are all finite, and those of P0. */
static void assert_params_are_p0(mlp_model *m, const char *what)
{
    float p[NP];
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert_msg(p[i] == P0[i], "%s: parameter %d is %g, was %g", what, i,
                      (double)p[i], (double)P0[i]);
}

/*
 * Each hyper-parameter is a finite float, but Adam's first step size is
 * lr sqrt(1 - b2) / (1 - b1): 1e33 with b1 = 1 - 2^-24 gives 5.3e38,
 * beyond FLT_MAX, and AdamW's lr wd was 1e40 for 1e20 and 1e20. The step
 * wrote infinities and NaNs (inf times a gradient of 0) and returned OK.
 * It is refused with MLP_STATUS_NUMERIC, the parameters, the step count
 * and the state as they were, and a lower rate then steps; through
 * mlp_model_train_step and mlp_model_fit too, with the step's message.
 */
START_TEST(step_size_beyond_the_floats_is_refused)
{
    mlp_layer *d;
    mlp_model *m = tiny_model(&d);
    mlp_optimizer *o = make_opt(MLP_RULE_ADAM, m);
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_BETA1, 1.0 - 0x1p-24));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 1e33));
    write_grads(d, G[0]); /* G[0][5] is 0 */
    TU_FAIL_MSG(mlp_optimizer_step(o), MLP_STATUS_NUMERIC,
                "mlp_optimizer_step: step 1 of adam at learning_rate 1e+33");
    TU_ERROR_HAS("beyond the largest float");
    assert_params_are_p0(m, "adam");
    double sc[MLP__OPTIM_SCALARS];
    mlp__optimizer_get_scalars(o, sc);
    ck_assert_double_eq(sc[1], 0.0); /* the step count */
    int64_t ns;
    const float *st = mlp__optimizer_flat_state(o, &ns);
    for (int64_t i = 0; i < ns; i++)
        ck_assert_float_eq(st[i], 0.0f);
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 1e-3));
    TU_OK(mlp_optimizer_step(o));
    float p[NP];
    get_params(m, p);
    for (int i = 0; i < NP; i++)
        ck_assert(isfinite(p[i]));
    mlp_optimizer_destroy(o);
    TU_OK(mlp_model_set_params(m, P0, NP));

    /* AdamW: a finite step size, but lr wd overflows (W is decayed) */
    o = make_opt(MLP_RULE_ADAMW, m);
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 1e20));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, 1e20));
    write_grads(d, G[0]);
    TU_FAIL_MSG(mlp_optimizer_step(o), MLP_STATUS_NUMERIC,
                "mlp_optimizer_step: step 1 of adamw: learning_rate 1e+20 times "
                "weight_decay 1e+20");
    assert_params_are_p0(m, "adamw");
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, 1e-2));
    TU_OK(mlp_optimizer_step(o));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);

    /* through a training step and a fit, which says where it stopped */
    mlp_dataset *train = tu_blobs(16, 2, 1, 1, 2, 8.0, 5, 6);
    m = tu_model(1, (int32_t[]){2}, 7);
    tu_add(m, tu_dense(2));
    o = make_opt(MLP_RULE_ADAM, m);
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_BETA1, 1.0 - 0x1p-24));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 1e33));
    float before[NP], after[NP];
    TU_OK(mlp_model_get_params(m, before, NP));
    mlp_tensor *x = tu_tensor(2, 2, 2);
    const int32_t labels[2] = {0, 1};
    TU_FAIL_MSG(mlp_model_train_step(m, o, x, labels, NULL, NULL), MLP_STATUS_NUMERIC,
                "mlp_optimizer_step: step 1 of adam");
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 1;
    opts.batch_size = 8;
    TU_FAIL_MSG(mlp_model_fit(m, o, train, NULL, &opts), MLP_STATUS_NUMERIC,
                "mlp_model_fit: epoch 1, batch 1: mlp_optimizer_step: step 1 of adam");
    ck_assert_msg(!strstr(mlp_last_error(), "loss is not finite"), "%s",
                  mlp_last_error());
    TU_OK(mlp_model_get_params(m, after, NP));
    ck_assert(memcmp(before, after, sizeof before) == 0);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
}
END_TEST

/* Bad schedule arguments are refused with a message and keep the schedule
 * in force; epochs must be >= 0; NULL is refused. */
/* Messages name keys ("momentum"), not numbers, and say which call failed. */
START_TEST(messages_name_keys_and_calls)
{
    static const char *const names[] = {"learning_rate", "momentum",     "beta1", "beta2",
                                        "epsilon",       "weight_decay", "l1",    "decay",
                                        "clip_norm",     "decay_all"};
    for (int k = MLP_OPTIM_LEARNING_RATE; k <= MLP_OPTIM_DECAY_ALL; k++)
        ck_assert_str_eq(mlp_optim_param_str((mlp_optim_param)k), names[k - 1]);
    ck_assert_str_eq(mlp_optim_param_str((mlp_optim_param)0), "unknown parameter");
    ck_assert_str_eq(mlp_optim_param_str((mlp_optim_param)99), "unknown parameter");
    ck_assert_str_eq(mlp_optim_param_str((mlp_optim_param)-1), "unknown parameter");

    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *sgd = make_opt(MLP_RULE_SGD, m), *adam = make_opt(MLP_RULE_ADAM, m);
    TU_FAIL(mlp_optimizer_set(sgd, MLP_OPTIM_MOMENTUM, 0.9), MLP_STATUS_UNSUPPORTED);
    ck_assert_msg(strstr(mlp_last_error(), "rule sgd has no parameter momentum"), "%s",
                  mlp_last_error());
    double v;
    TU_FAIL(mlp_optimizer_get(sgd, MLP_OPTIM_BETA2, &v), MLP_STATUS_UNSUPPORTED);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_optimizer_get: rule sgd has no parameter "
                                           "beta2"),
                  "%s", mlp_last_error());
    TU_FAIL(mlp_optimizer_set(adam, MLP_OPTIM_BETA2, 1.0), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_optimizer_set: beta2 = 1 must be [0, 1)"),
                  "%s", mlp_last_error());
    TU_FAIL(mlp_optimizer_set(adam, (mlp_optim_param)42, 1.0), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "unknown parameter key 42"), "%s",
                  mlp_last_error());

    TU_FAIL(mlp_optimizer_start_epoch(sgd, -1), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(
        strstr(mlp_last_error(), "mlp_optimizer_start_epoch: epoch -1 is negative"), "%s",
        mlp_last_error());
    TU_FAIL(mlp_optimizer_start_epoch(NULL, 0), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_optimizer_start_epoch"), "%s",
                  mlp_last_error());
    TU_FAIL(mlp_optimizer_scheduled_rate(sgd, -2, &v), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_optimizer_scheduled_rate: epoch -2"),
                  "%s", mlp_last_error());
    TU_FAIL(mlp_optimizer_scheduled_rate(sgd, 0, NULL), MLP_STATUS_INVALID_ARG);
    mlp_optimizer_destroy(sgd);
    mlp_optimizer_destroy(adam);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(schedule_misuse)
{
    mlp_model *m = tiny_model(NULL);
    mlp_optimizer *o = make_opt(MLP_RULE_MOMENTUM, m);
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.2));
    TU_OK(mlp_optimizer_schedule_step(o, 3, 0.5));

    const int32_t bad_steps[] = {0, -1, INT32_MIN};
    for (size_t k = 0; k < sizeof bad_steps / sizeof bad_steps[0]; k++)
        TU_FAIL(mlp_optimizer_schedule_step(o, bad_steps[k], 0.5),
                MLP_STATUS_INVALID_ARG);
    const double bad_gamma[] = {0.0, -0.5, 1.0000001, 1.5, NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof bad_gamma / sizeof bad_gamma[0]; k++) {
        TU_FAIL(mlp_optimizer_schedule_step(o, 2, bad_gamma[k]), MLP_STATUS_INVALID_ARG);
        TU_FAIL(mlp_optimizer_schedule_exponential(o, bad_gamma[k]),
                MLP_STATUS_INVALID_ARG);
    }
    const int32_t bad_period[] = {0, -2, INT32_MIN};
    for (size_t k = 0; k < sizeof bad_period / sizeof bad_period[0]; k++)
        TU_FAIL(mlp_optimizer_schedule_cosine(o, bad_period[k], 2.0, 0.0),
                MLP_STATUS_INVALID_ARG);
    const double bad_mult[] = {0.0, 0.5, 0.999, -1.0, NAN, INFINITY};
    for (size_t k = 0; k < sizeof bad_mult / sizeof bad_mult[0]; k++)
        TU_FAIL(mlp_optimizer_schedule_cosine(o, 2, bad_mult[k], 0.0),
                MLP_STATUS_INVALID_ARG);
    const double bad_min[] = {-1e-9, -0.1, NAN, -INFINITY};
    for (size_t k = 0; k < sizeof bad_min / sizeof bad_min[0]; k++)
        TU_FAIL(mlp_optimizer_schedule_cosine(o, 2, 2.0, bad_min[k]),
                MLP_STATUS_INVALID_ARG);

    /* the step schedule set first is still in force */
    ASSERT_RATE(o, 2, 0.2);
    ASSERT_RATE(o, 3, 0.1);
    ASSERT_RATE(o, 6, 0.05);

    double r = -1;
    TU_FAIL(mlp_optimizer_scheduled_rate(o, -1, &r), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_scheduled_rate(o, INT32_MIN, &r), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_scheduled_rate(o, 0, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_scheduled_rate(NULL, 0, &r), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_start_epoch(o, -1), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_start_epoch(NULL, 0), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_schedule_constant(NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_schedule_step(NULL, 2, 0.5), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_schedule_exponential(NULL, 0.5), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_schedule_cosine(NULL, 2, 2.0, 0.0), MLP_STATUS_INVALID_ARG);
    ck_assert_double_eq(mlp_optimizer_learning_rate(o), 0.2);

    /* the edges of the valid ranges are accepted */
    TU_OK(mlp_optimizer_schedule_step(o, 1, 1.0));
    TU_OK(mlp_optimizer_schedule_step(o, INT32_MAX, 1e-9));
    TU_OK(mlp_optimizer_schedule_exponential(o, 1.0));
    TU_OK(mlp_optimizer_schedule_cosine(o, 1, 1.0, 0.0));
    TU_OK(mlp_optimizer_scheduled_rate(o, 0, &r));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* ---- allocation, every rule ----------------------------------------------------------
 */

/* A step of every rule allocates nothing, with clipping, both penalties,
 * DECAY_ALL and a schedule in use. */
START_TEST(every_rule_step_allocates_nothing)
{
    for (int r = 0; r < N_RULES; r++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        mlp_optimizer *o = make_opt(RULES[r], m);
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_CLIP_NORM, 1.0));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, 0.01));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_L1, 0.01));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_DECAY_ALL, 1));
        TU_OK(mlp_optimizer_schedule_cosine(o, 2, 2.0, 0.0));
        float before[NP], after[NP];
        get_params(m, before);
        long live = mlp__alloc_live();
        for (int s = 0; s < 3; s++) {
            write_grads(d, G[s]);
            mlp__alloc_fail_after(1);
            mlp_status st1 = mlp_optimizer_start_epoch(o, s);
            mlp_status st2 = mlp_optimizer_step(o);
            mlp__alloc_fail_after(0);
            TU_ST(st1, MLP_STATUS_OK);
            TU_ST(st2, MLP_STATUS_OK);
        }
        ck_assert_int_eq(mlp__alloc_live(), live);
        get_params(m, after);
        ck_assert_msg(memcmp(before, after, sizeof before) != 0, "rule %d did not step",
                      (int)RULES[r]);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/* Creation of every rule under allocation failure: NO_MEMORY, NULL out, no
 * leak, until it succeeds. */
typedef struct oom_ctx {
    mlp_model *m;
    mlp_rule rule;
    mlp_optimizer *o;
} oom_ctx;

static mlp_status oom_create(void *ctx)
{
    oom_ctx *c = ctx;
    c->o = SENTINEL;
    return mlp_optimizer_create(&c->o, c->rule, c->m);
}

static void oom_created(void *ctx, mlp_status st)
{
    oom_ctx *c = ctx;
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(c->o);
        return;
    }
    ck_assert_ptr_nonnull(c->o);
    ck_assert_int_eq(mlp_optimizer_rule(c->o), c->rule);
    mlp_optimizer_destroy(c->o);
}

START_TEST(every_rule_create_oom_loop)
{
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.max_attempts = 50;
    cfg.after = oom_created;
    for (int r = 0; r < N_RULES; r++) {
        oom_ctx c = {.m = tiny_model(NULL), .rule = RULES[r]};
        char what[48];
        snprintf(what, sizeof what, "mlp_optimizer_create, rule %d", (int)RULES[r]);
        tu_oom_loop(what, oom_create, &c, &cfg);
        mlp_model_destroy(c.m);
    }
}
END_TEST

/* Every rule refuses to step a model that grew, and leaves it alone. */
START_TEST(every_rule_step_after_model_grew)
{
    for (int r = 0; r < N_RULES; r++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        mlp_optimizer *o = make_opt(RULES[r], m);
        write_grads(d, G[0]);
        TU_OK(mlp_optimizer_step(o));
        tu_add(m, tu_dense(3));
        int64_t np = mlp_model_param_count(m);
        ck_assert_int_eq(np, NP + 2 * 3 + 3);
        float *all = malloc(sizeof(float) * (size_t)np);
        float *again = malloc(sizeof(float) * (size_t)np);
        ck_assert(all && again);
        TU_OK(mlp_model_get_params(m, all, np));
        TU_FAIL(mlp_optimizer_step(o), MLP_STATUS_BAD_STATE);
        TU_ERROR_HAS("(6 parameters then, 15 now); create the optimizer after");
        TU_OK(mlp_model_get_params(m, again, np));
        ck_assert_mem_eq(all, again, sizeof(float) * (size_t)np);
        free(all);
        free(again);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

#define N_CASES(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every rule, plain and with weight decay, L1 and clipping: three steps on
 * a block large enough to be split across threads give bit-identical
 * parameters with 1 and with 2 threads. The block holds two dense layers:
 * the second thread's span starts inside the first layer's weights (an odd
 * size, so a span ends mid-line) and runs on through its biases (not
 * decayed) and the second layer's weights and biases, so that one span
 * steps pieces of four segments, each with its own penalties. Third, 2
 * threads with a step cut as split.c's first-layer split gives the
 * optimizer (mlp__optimizer_step_cut): 3 parts whose weights' pieces end
 * mid-line, one of them with an empty piece of the rest; the same bits. */
START_TEST(every_rule_same_with_two_threads)
{
    enum { IN = 301, HID = 257, OUT = 5 }; /* 77,357 weights: above the split threshold */
    const int32_t in[1] = {IN};
    for (int r = 0; r < N_RULES; r++) {
        for (int extras = 0; extras < 2; extras++) {
            float *result[3] = {NULL, NULL, NULL};
            int64_t n = 0;
            for (int v = 0; v < 3; v++) {
                TU_OK(mlp_set_num_threads(v ? 2 : 1));
                mlp_model *m = tu_model(1, in, 7);
                mlp_layer *d[2] = {tu_add(m, tu_dense(HID)), tu_add(m, tu_dense(OUT))};
                n = mlp_model_param_count(m);
                mlp_optimizer *o = make_opt(RULES[r], m);
                if (extras) {
                    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, 1e-3));
                    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_L1, 1e-4));
                    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_CLIP_NORM, 5.0));
                }
                for (int step = 0; step < 3; step++) {
                    for (int l = 0, off = 0; l < 2;
                         off += (int)mlp_layer_param_count(d[l]), l++) {
                        float *g = mlp_layer_grads(d[l]);
                        for (int64_t i = 0; i < mlp_layer_param_count(d[l]); i++)
                            g[i] = (float)(((off + i) * 7919 + step * 104729) % 2001 -
                                           1000) *
                                   1e-3f;
                    }
                    const int64_t w = (int64_t)IN * HID;
                    const mlp__step_cut cut = {
                        3, {0, 1001, 50001, w}, {w, w, w + 777, n}};
                    TU_OK(v == 2 ? mlp__optimizer_step_cut(o, &cut)
                                 : mlp_optimizer_step(o));
                }
                result[v] = malloc((size_t)n * sizeof(float));
                ck_assert_ptr_nonnull(result[v]);
                TU_OK(mlp_model_get_params(m, result[v], n));
                mlp_optimizer_destroy(o);
                mlp_model_destroy(m);
            }
            for (int v = 1; v < 3; v++)
                ck_assert_msg(
                    memcmp(result[0], result[v], (size_t)n * sizeof(float)) == 0,
                    "rule %d (extras %d): 1 thread and %s differ", (int)RULES[r], extras,
                    v == 1 ? "2 threads" : "2 threads with a cut");
            for (int v = 0; v < 3; v++)
                free(result[v]);
        }
    }
    TU_OK(mlp_set_num_threads(1));
}
END_TEST

/* A rule with a square root and a division per parameter, stepped in
 * float as its loop's expressions are written, one parameter at a time:
 * the reference for the vector clones (core.h), which must round as this
 * does. `decay`: the parameter is in a decayed segment. */
typedef struct scalar_rule {
    mlp_rule rule;
    float lr, l2, l1, wd;     /* as optim.c hands them to the rule */
    double beta1, beta2, eps; /* as the optimizer keeps them */
    float rho, mu;            /* RMSProp */
} scalar_rule;

static float scalar_grad(const scalar_rule *r, float p, float g, int decay)
{
    const float l2 = decay ? r->l2 : 0.0f, l1 = decay ? r->l1 : 0.0f;
    if (l2 == 0.0f && l1 == 0.0f)
        return g;
    const float sign = (float)((p > 0.0f) - (p < 0.0f));
    return 1.0f * g + l2 * p + l1 * sign;
}

static void scalar_step(const scalar_rule *r, int t, float *p, float g0, float *s0,
                        float *s1, int decay)
{
    const float g = scalar_grad(r, *p, g0, decay);
    if (r->rule == MLP_RULE_ADAGRAD) {
        *s0 += g * g;
        *p -= r->lr * g / (sqrtf(*s0) + (float)r->eps);
    } else if (r->rule == MLP_RULE_RMSPROP) {
        *s0 = r->rho * *s0 + (1.0f - r->rho) * g * g;
        *s1 = r->mu * *s1 + g / (sqrtf(*s0) + (float)r->eps);
        *p -= r->lr * *s1;
    } else { /* Adam, AdamW */
        const float b1 = (float)r->beta1, b2 = (float)r->beta2;
        const double c1 = 1.0 - pow(r->beta1, t), c2 = 1.0 - pow(r->beta2, t);
        const float step_size = (float)(r->lr * sqrt(c2) / c1);
        const float eps_hat = (float)(r->eps * sqrt(c2));
        const float shrink = 1.0f - r->lr * (decay ? r->wd : 0.0f);
        *s0 = b1 * *s0 + (1.0f - b1) * g;
        *s1 = b2 * *s1 + (1.0f - b2) * g * g;
        if (shrink == 1.0f)
            *p -= step_size * *s0 / (sqrtf(*s1) + eps_hat);
        else
            *p = *p * shrink - step_size * *s0 / (sqrtf(*s1) + eps_hat);
    }
}

/* RMSProp (with momentum), Adam, AdamW and AdaGrad give, bit for bit, the
 * parameters their loops' expressions give one float at a time: on a CPU
 * with AVX-512 their steps run 16 lanes wide, and the clones' promise is
 * the same rounding as every other machine's. 1147 parameters (weights
 * 30 x 37, over three of the step's blocks of 512, then 37 biases), so
 * every loop runs whole vectors and a remainder; 3 steps, with and without
 * L2 and L1 penalties (AdamW's decay is decoupled; biases undecayed). */
START_TEST(wide_rules_keep_the_scalar_bits)
{
    enum { IN = 30, OUT = 37, W = IN * OUT, N = W + OUT, STEPS = 3 };
    static const mlp_rule rules[] = {MLP_RULE_RMSPROP, MLP_RULE_ADAM, MLP_RULE_ADAMW,
                                     MLP_RULE_ADAGRAD};
    const int32_t in[1] = {IN};
    static float want[N], s0[N], s1[N], got[N], p0[N];
    for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) {
        for (int pen = 0; pen < 2; pen++) {
            mlp_model *m = tu_model(1, in, 1);
            mlp_layer *d = tu_add(m, tu_dense(OUT));
            ck_assert_int_eq(mlp_model_param_count(m), N);
            for (int i = 0; i < N; i++)
                p0[i] = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
            TU_OK(mlp_model_set_params(m, p0, N));
            mlp_optimizer *o = make_opt(rules[r], m);
            const int adamw = rules[r] == MLP_RULE_ADAMW;
            scalar_rule sr = {.rule = rules[r],
                              .lr = (float)0.01,
                              .beta1 = 0.9,
                              .beta2 = 0.999,
                              .eps = 1e-8,
                              .rho = (float)0.9,
                              .mu = (float)0.5};
            TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 0.01));
            if (rules[r] == MLP_RULE_RMSPROP)
                TU_OK(mlp_optimizer_set(o, MLP_OPTIM_MOMENTUM, 0.5));
            if (adamw)
                sr.wd = (float)0.01; /* its default, on weights */
            if (pen) {
                TU_OK(mlp_optimizer_set(o, MLP_OPTIM_WEIGHT_DECAY, 1e-3));
                TU_OK(mlp_optimizer_set(o, MLP_OPTIM_L1, 1e-4));
                sr.l2 = adamw ? 0.0f : (float)1e-3;
                sr.wd = adamw ? (float)1e-3 : 0.0f;
                sr.l1 = (float)1e-4;
            }
            memcpy(want, p0, sizeof want);
            memset(s0, 0, sizeof s0);
            memset(s1, 0, sizeof s1);
            for (int t = 1; t <= STEPS; t++) {
                float *g = mlp_layer_grads(d);
                for (int i = 0; i < N; i++) {
                    g[i] = (float)((i * 104729 + t * 7919) % 2001 - 1000) * 1e-3f;
                    scalar_step(&sr, t, &want[i], g[i], &s0[i], &s1[i], i < W);
                }
                TU_OK(mlp_optimizer_step(o));
            }
            TU_OK(mlp_model_get_params(m, got, N));
            for (int i = 0; i < N; i++)
                TU_CHECK_MSG(memcmp(&got[i], &want[i], sizeof(float)) == 0,
                             "rule %d, penalties %d: p[%d] = %a, the scalar loop %a",
                             (int)rules[r], pen, i, (double)got[i], (double)want[i]);
            mlp_optimizer_destroy(o);
            mlp_model_destroy(m);
        }
    }
}
END_TEST

/* ---- the optimizer's own file record (lib/optim/optim_file.c) ---------- */

/* A parameter block made by hand, as a model hands its own over: the
 * record needs no model. Weights W [2,2], then biases b [2]. */
typedef struct hand_block {
    float p[NP], g[NP];
    mlp__segment segs[2];
    mlp__param_block pb;
} hand_block;

static void hand_block_init(hand_block *h)
{
    memcpy(h->p, P0, sizeof h->p);
    memcpy(h->g, G[0], sizeof h->g);
    h->segs[0] = (mlp__segment){0, 4, 1};
    h->segs[1] = (mlp__segment){4, 2, 0};
    h->pb = (mlp__param_block){h->p, h->g, NP, h->segs, 2, 1};
}

/* An mlp__put_bytes sink into a fixed buffer. */
typedef struct byte_sink {
    unsigned char b[256];
    size_t n;
} byte_sink;

static void sink_put(void *sink, const unsigned char *p, size_t n)
{
    byte_sink *k = sink;
    ck_assert_uint_le(k->n + n, sizeof k->b);
    memcpy(k->b + k->n, p, n);
    k->n += n;
}

static mlp_optimizer *stepped_opt(hand_block *h, mlp_rule rule)
{
    mlp_optimizer *o = NULL;
    TU_OK(mlp__optimizer_create(&o, rule, &h->pb, "test"));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_CLIP_NORM, 3.0));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_DECAY_ALL, 1.0));
    TU_OK(mlp_optimizer_schedule_step(o, 2, 0.5));
    TU_OK(mlp_optimizer_start_epoch(o, 3));
    for (int k = 0; k < 2; k++) {
        memcpy(h->g, G[k], sizeof h->g);
        TU_OK(mlp_optimizer_step(o));
    }
    memcpy(h->g, G[2], sizeof h->g);
    return o;
}

/* Write, read back, write again: the same bytes, and the copy takes the
 * same next step as the original. */
START_TEST(state_record_round_trip_every_rule)
{
    const mlp_rule rule = RULES[_i];
    hand_block h;
    hand_block_init(&h);
    mlp_optimizer *o = stepped_opt(&h, rule);
    byte_sink a = {{0}, 0}, b = {{0}, 0};
    mlp__optimizer_write_state(o, sink_put, &a);
    ck_assert_uint_eq(a.n, mlp__optimizer_state_size(o));
    ck_assert_uint_ge(a.n, 140);
    ck_assert_uint_eq((a.n - 140) % (4 * NP), 0);
    mlp_optimizer *r = SENTINEL;
    uint64_t at = 0;
    TU_OK(mlp__optimizer_read_state(&r, &h.pb, a.b, a.n, &at));
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(mlp_optimizer_rule(r), rule);
    mlp__optimizer_write_state(r, sink_put, &b);
    ck_assert_uint_eq(b.n, a.n);
    ck_assert(memcmp(a.b, b.b, a.n) == 0);
    float before[NP], after_o[NP];
    memcpy(before, h.p, sizeof before);
    TU_OK(mlp_optimizer_step(o));
    memcpy(after_o, h.p, sizeof after_o);
    memcpy(h.p, before, sizeof before);
    TU_OK(mlp_optimizer_step(r));
    ck_assert(memcmp(after_o, h.p, sizeof after_o) == 0);
    mlp_optimizer_destroy(r);
    mlp_optimizer_destroy(o);
}
END_TEST

/* Read a corrupt record: the status, where the fault lies, no optimizer
 * and nothing leaked. */
static void refuse_state(const mlp__param_block *pb, const unsigned char *p, size_t n,
                         uint64_t want_at, const char *want_text)
{
    long live = mlp__alloc_live();
    mlp_optimizer *r = SENTINEL;
    uint64_t at = 12345;
    TU_FAIL(mlp__optimizer_read_state(&r, pb, p, n, &at), MLP_STATUS_BAD_FORMAT);
    ck_assert_ptr_null(r);
    ck_assert_msg(at == want_at, "fault at %llu, expected %llu (%s)",
                  (unsigned long long)at, (unsigned long long)want_at, mlp_last_error());
    ck_assert_msg(strstr(mlp_last_error(), want_text), "%s", mlp_last_error());
    ck_assert_int_eq(mlp__alloc_live(), live);
}

START_TEST(state_record_truncated_or_foreign)
{
    hand_block h;
    hand_block_init(&h);
    mlp_optimizer *o = stepped_opt(&h, MLP_RULE_MOMENTUM);
    byte_sink a = {{0}, 0};
    mlp__optimizer_write_state(o, sink_put, &a);
    mlp_optimizer_destroy(o);
    ck_assert_uint_eq(a.n, 140 + 4 * NP); /* one state array: the velocity */
    /* every truncation, and one byte too many: the length is at fault */
    for (size_t n = 0; n < 140; n++)
        refuse_state(&h.pb, a.b, n, MLP__STATE_AT_RECORD, "is shorter than 140");
    for (size_t n = 140; n <= a.n + 1; n++)
        if (n != a.n)
            refuse_state(&h.pb, a.b, n, MLP__STATE_AT_RECORD, "it must have 164");
    /* a record for a block of another size */
    hand_block small;
    hand_block_init(&small);
    small.pb.n = 4;
    small.pb.n_segs = 1;
    refuse_state(&small.pb, a.b, a.n, 8, "the model has 4");
    /* an unknown rule, and a momentum out of range: named, with the field */
    unsigned char c[sizeof a.b];
    memcpy(c, a.b, a.n);
    c[0] = 99;
    refuse_state(&h.pb, c, a.n, 0, "unknown rule 99");
    memcpy(c, a.b, a.n);
    memset(c + 40, 0, 8);
    c[46] = 0xF0; /* 1.0 as little-endian f64 */
    c[47] = 0x3F;
    refuse_state(&h.pb, c, a.n, 40, "momentum");
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("rules");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, sgd_three_steps);
    tcase_add_test(tc, momentum_three_steps);
    tcase_add_test(tc, degenerate_hyper_parameters);
    tcase_add_test(tc, quadratic_reaches_optimum);
    tcase_add_test(tc, linear_regression_converges);
    tcase_add_loop_test(tc, nesterov_three_steps, 0, N_CASES(NESTEROV_CASES));
    tcase_add_loop_test(tc, rmsprop_three_steps, 0, N_CASES(RMSPROP_CASES));
    tcase_add_loop_test(tc, rmsprop_momentum_three_steps, 0,
                        N_CASES(RMSPROP_MOMENTUM_CASES));
    tcase_add_loop_test(tc, adam_three_steps, 0, N_CASES(ADAM_CASES));
    tcase_add_loop_test(tc, adamw_three_steps, 0, N_CASES(ADAMW_CASES));
    tcase_add_loop_test(tc, adagrad_three_steps, 0, N_CASES(ADAGRAD_CASES));
    tcase_add_test(tc, every_rule_reset_restarts);
    suite_add_tcase(s, tc);

    tc = tcase_create("convergence");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, every_rule_quadratic_optimum, 0, N_CASES(QUAD_CASES));
    tcase_add_loop_test(tc, every_rule_logistic_regression, 0, N_CASES(LOGIT_CASES));
    suite_add_tcase(s, tc);

    tc = tcase_create("penalties");
    tcase_add_loop_test(tc, penalties_with_zero_gradient, 0, N_RULES);
    tcase_add_test(tc, sgd_weight_decay_exact);
    tcase_add_test(tc, sgd_l1_exact);
    tcase_add_test(tc, adamw_default_decay_is_decoupled);
    tcase_add_test(tc, adamw_matches_adam_plus_shrink);
    tcase_add_test(tc, clip_scales_sgd_step);
    tcase_add_test(tc, clip_norm_is_global);
    tcase_add_loop_test(tc, clip_every_rule, 0, N_RULES);
    tcase_add_loop_test(tc, penalties_and_clipping_every_rule, 0, N_RULES);
    suite_add_tcase(s, tc);

    tc = tcase_create("schedules");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, schedule_constant_step_exponential);
    tcase_add_test(tc, schedule_cosine_warm_restarts);
    tcase_add_test(tc, schedule_cosine_slow_growth);
    tcase_add_test(tc, start_epoch_sets_current_rate);
    tcase_add_loop_test(tc, every_rule_steps_with_current_rate, 0, N_RULES);
    tcase_add_test(tc, momentum_velocity_keeps_earlier_rates);
    tcase_add_test(tc, fit_applies_schedule_per_epoch);
    tcase_add_test(tc, fit_steps_use_scheduled_rate);
    suite_add_tcase(s, tc);

    tc = tcase_create("parameters");
    tcase_add_test(tc, defaults_and_round_trip);
    tcase_add_test(tc, invalid_values);
    tcase_add_test(tc, create_misuse);
    tcase_add_test(tc, every_rule_defaults_and_unsupported_keys);
    tcase_add_loop_test(tc, every_rule_round_trip_and_ranges, 0, N_RULES);
    tcase_add_test(tc, schedule_misuse);
    tcase_add_test(tc, messages_name_keys_and_calls);
    tcase_add_test(tc, values_no_float_holds_are_named);
    tcase_add_test(tc, smallest_eps_keeps_a_dead_unit_finite);
    tcase_add_test(tc, step_size_beyond_the_floats_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_test(tc, reset_clears_velocity);
    tcase_add_test(tc, step_after_activation_added);
    tcase_add_test(tc, step_allocates_nothing);
    tcase_add_test(tc, destroy_after_model);
    tcase_add_test(tc, flat_state_copies_an_optimizer);
    tcase_add_test(tc, every_rule_step_allocates_nothing);
    tcase_add_test(tc, every_rule_create_oom_loop);
    tcase_add_test(tc, every_rule_step_after_model_grew);
    tcase_add_test(tc, every_rule_same_with_two_threads);
    tcase_add_test(tc, wide_rules_keep_the_scalar_bits);
    suite_add_tcase(s, tc);

    tc = tcase_create("file record");
    tcase_add_loop_test(tc, state_record_round_trip_every_rule, 0, N_RULES);
    tcase_add_test(tc, state_record_truncated_or_foreign);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(optim_suite, 1)
