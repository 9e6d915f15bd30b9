/*
 * Tests of include/mlpnet/optim.h: SGD and momentum steps against values
 * derived by hand, convergence on quadratics, hyper-parameter keys, state
 * reset, shape changes, argument checks and allocation behaviour.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
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
                          "step %d, p[%d] = %.9g, want %.9g", s + 1, i, (double)p[i], want[i]);
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
                          "step %d, p[%d] = %.9g, want %.9g", s + 1, i, (double)p[i], want[i]);
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
        ck_assert_msg(fabsf(p[i] - t[i]) < 1e-4f, "rule %d: p[%d] = %g, optimum %g", rule, i,
                      (double)p[i], (double)t[i]);
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
            mlp_tensor_data(t)[i] = xi[0] * wstar[0] + xi[1] * wstar[1] + xi[2] * wstar[2] + bstar;
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
            ck_assert_msg(fabsf(p[i] - wstar[i]) < 1e-3f, "rule %d: w[%d] = %g, want %g", rule,
                          i, (double)p[i], (double)wstar[i]);
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
    /* documented defaults: lr 0.1 for both, mu 0.9 */
    TU_OK(mlp_optimizer_get(sgd, MLP_OPTIM_LEARNING_RATE, &v));
    ck_assert_double_eq_tol(v, 0.1, 1e-12);
    ck_assert_double_eq_tol(mlp_optimizer_learning_rate(sgd), 0.1, 1e-12);
    TU_OK(mlp_optimizer_get(mom, MLP_OPTIM_LEARNING_RATE, &v));
    ck_assert_double_eq_tol(v, 0.1, 1e-12);
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
        TU_FAIL(mlp_optimizer_set(mom, MLP_OPTIM_MOMENTUM, bad_mu[i]), MLP_STATUS_INVALID_ARG);

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
    TU_FAIL(mlp_optimizer_set(NULL, MLP_OPTIM_LEARNING_RATE, 0.1), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_get(NULL, MLP_OPTIM_LEARNING_RATE, &v), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_get(sgd, MLP_OPTIM_LEARNING_RATE, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_optimizer_set_learning_rate(NULL, 0.1), MLP_STATUS_INVALID_ARG);
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
        TU_FAIL(mlp_optimizer_create(&o, (mlp_rule)bad_rules[i], m), MLP_STATUS_INVALID_ARG);
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

START_TEST(step_after_model_grew)
{
    for (int rule = MLP_RULE_SGD; rule <= MLP_RULE_MOMENTUM; rule++) {
        mlp_layer *d;
        mlp_model *m = tiny_model(&d);
        mlp_optimizer *o = make_opt((mlp_rule)rule, m);
        write_grads(d, G[0]);
        TU_OK(mlp_optimizer_step(o));
        tu_add(m, tu_dense(3));
        int64_t np = mlp_model_param_count(m);
        ck_assert_int_eq(np, NP + 2 * 3 + 3);
        float *all = malloc(sizeof(float) * (size_t)np);
        TU_OK(mlp_model_get_params(m, all, np));
        TU_FAIL(mlp_optimizer_step(o), MLP_STATUS_BAD_STATE);
        float *again = malloc(sizeof(float) * (size_t)np);
        TU_OK(mlp_model_get_params(m, again, np));
        ck_assert_mem_eq(all, again, sizeof(float) * (size_t)np);
        free(all);
        free(again);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
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

START_TEST(create_oom_loop)
{
    for (int rule = MLP_RULE_SGD; rule <= MLP_RULE_MOMENTUM; rule++) {
        mlp_model *m = tiny_model(NULL);
        long live = mlp__alloc_live();
        int done = 0;
        for (long n = 1; n < 50 && !done; n++) {
            mlp_optimizer *o = SENTINEL;
            mlp__alloc_fail_after(n);
            mlp_status st = mlp_optimizer_create(&o, (mlp_rule)rule, m);
            mlp__alloc_fail_after(0);
            if (st == MLP_STATUS_OK) {
                ck_assert_msg(n > 1, "created despite the first allocation failing");
                ck_assert_ptr_nonnull(o);
                mlp_optimizer_destroy(o);
                done = 1;
            } else {
                ck_assert_msg(st == MLP_STATUS_NO_MEMORY, "fail_after(%ld): %s: %s", n,
                              mlp_status_str(st), mlp_last_error());
                ck_assert_ptr_null(o);
            }
            ck_assert_msg(mlp__alloc_live() == live, "rule %d, fail_after(%ld): leak", rule, n);
        }
        ck_assert(done);
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
    suite_add_tcase(s, tc);

    tc = tcase_create("parameters");
    tcase_add_test(tc, defaults_and_round_trip);
    tcase_add_test(tc, invalid_values);
    tcase_add_test(tc, create_misuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("state");
    tcase_add_test(tc, reset_clears_velocity);
    tcase_add_test(tc, step_after_model_grew);
    tcase_add_test(tc, step_after_activation_added);
    tcase_add_test(tc, step_allocates_nothing);
    tcase_add_test(tc, create_oom_loop);
    tcase_add_test(tc, destroy_after_model);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    mlp_set_num_threads(1);
    return tu_run_suite(optim_suite());
}
