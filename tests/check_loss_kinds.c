/*
 * Tests of the chosen losses (mlp_loss_compute, mlp_loss_kind) and of the
 * private sums the model builds its metrics from: hand-computed values,
 * finite differences, stability, R^2, and argument checks.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "losses/loss_impl.h"
#include "testutil.h"

static mlp_tensor *from(int32_t n, int32_t k, const float *v)
{
    mlp_tensor *t = tu_tensor(2, n, k);
    memcpy(mlp_tensor_data(t), v, sizeof(float) * (size_t)n * (size_t)k);
    return t;
}

static double compute(mlp_loss_kind kind, double param, const float *w,
                      const mlp_tensor *p, const int32_t *y, const mlp_tensor *t,
                      mlp_tensor *g)
{
    double loss = -1.0;
    TU_OK(mlp_loss_compute(kind, param, w, p, y, t, &loss, g));
    return loss;
}

/* ---- values worked out by hand ------------------------------------------- */

START_TEST(regression_losses_hand_computed)
{
    /* d = p - t = [1, 0, 0, 2] */
    const float pv[] = {1, 2, 3, 5}, tv[] = {0, 2, 3, 3};
    mlp_tensor *p = from(2, 2, pv), *t = from(2, 2, tv), *g = tu_tensor(2, 2, 2);
    const float *gd = mlp_tensor_data_const(g);

    /* MSE: (1 + 4) / 4, not halved; dP = 2 d / 4. */
    ck_assert(tu_close(compute(MLP_LOSS_MSE, 0, NULL, p, NULL, t, g), 1.25, 1e-12, 0));
    const float g_mse[] = {0.5f, 0, 0, 1.0f};
    tu_assert_close_ff("mse dP", gd, g_mse, 4, 1e-6, 0);

    /* MAE: 3 / 4; dP = sign(d) / 4, 0 where d = 0. */
    ck_assert(tu_close(compute(MLP_LOSS_MAE, 0, NULL, p, NULL, t, g), 0.75, 1e-12, 0));
    const float g_mae[] = {0.25f, 0, 0, 0.25f};
    tu_assert_close_ff("mae dP", gd, g_mae, 4, 1e-6, 0);

    /* Huber, delta 1 (param 0 picks it): 0.5 * 1 + 1 * (2 - 0.5) = 2, / 4. */
    ck_assert(tu_close(compute(MLP_LOSS_HUBER, 0, NULL, p, NULL, t, g), 0.5, 1e-12, 0));
    const float g_hub[] = {0.25f, 0, 0, 0.25f};
    tu_assert_close_ff("huber dP", gd, g_hub, 4, 1e-6, 0);
    ck_assert(
        tu_close(compute(MLP_LOSS_HUBER, 1.0, NULL, p, NULL, t, NULL), 0.5, 1e-12, 0));

    /* Huber, delta 0.5: 0.5 (1 - 0.25) + 0.5 (2 - 0.25) = 1.25, / 4; both
     * errors are past delta, so dP = 0.5 sign(d) / 4. */
    ck_assert(
        tu_close(compute(MLP_LOSS_HUBER, 0.5, NULL, p, NULL, t, g), 0.3125, 1e-7, 0));
    const float g_hub2[] = {0.125f, 0, 0, 0.125f};
    tu_assert_close_ff("huber(0.5) dP", gd, g_hub2, 4, 1e-6, 0);
    /* a small delta, 1/16: 1/16 (1 - 1/32) + 1/16 (2 - 1/32) = 0.18359375,
     * / 4; dP = sign(d) / 64 */
    ck_assert(tu_close(compute(MLP_LOSS_HUBER, 0.0625, NULL, p, NULL, t, g), 0.0458984375,
                       1e-7, 0));
    const float g_hub3[] = {0.015625f, 0, 0, 0.015625f};
    tu_assert_close_ff("huber(1/16) dP", gd, g_hub3, 4, 1e-6, 0);
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

START_TEST(bce_hand_computed)
{
    /* z = 0 with t = 1: log 2; z = log 3 with t = 0: log 3 + log(4/3) = log 4. */
    const float zv[] = {0.0f, (float)log(3.0)}, tv[] = {1, 0};
    mlp_tensor *z = from(1, 2, zv), *t = from(1, 2, tv), *g = tu_tensor(2, 1, 2);
    double loss = compute(MLP_LOSS_BCE_LOGITS, 0, NULL, z, NULL, t, g);
    ck_assert_msg(tu_close(loss, 1.5 * log(2.0), 1e-6, 0), "loss %.9g", loss);
    /* dz = (sigmoid(z) - t) / 2 = (0.5 - 1) / 2, (0.75 - 0) / 2 */
    const float want[] = {-0.25f, 0.375f};
    tu_assert_close_ff("bce dz", mlp_tensor_data_const(g), want, 2, 1e-6, 0);
    mlp_tensor_destroy(z);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

START_TEST(weighted_xent_hand_computed)
{
    /* Row 0: z = (0, 0), label 0: loss log 2, p = (1/2, 1/2).
     * Row 1: z = (0, log 3), label 1: loss log(4/3), p = (1/4, 3/4).
     * Weights (1, 3): loss (log 2 + 3 log(4/3)) / 4;
     * dz = w / 4 * (p - onehot). */
    const float zv[] = {0, 0, 0, (float)log(3.0)}, w[] = {1, 3};
    const int32_t y[] = {0, 1};
    mlp_tensor *z = from(2, 2, zv), *g = tu_tensor(2, 2, 2);
    double loss = compute(MLP_LOSS_SOFTMAX_XENT, 0, w, z, y, NULL, g);
    ck_assert_msg(tu_close(loss, (log(2.0) + 3 * log(4.0 / 3.0)) / 4, 1e-6, 0),
                  "loss %.9g", loss);
    const float want[] = {-0.125f, 0.125f, 0.1875f, -0.1875f};
    tu_assert_close_ff("weighted xent dz", mlp_tensor_data_const(g), want, 4, 1e-6, 0);

    /* Weights of 1 are the plain loss, bit for bit. */
    const float ones[] = {1, 1};
    mlp_tensor *g1 = tu_tensor(2, 2, 2), *g2 = tu_tensor(2, 2, 2);
    double a = compute(MLP_LOSS_SOFTMAX_XENT, 0, ones, z, y, NULL, g1), b;
    TU_OK(mlp_loss_softmax_xent(z, y, &b, g2, NULL));
    ck_assert(tu_close(a, b, 1e-6, 0));
    tu_assert_close_ff("weights 1", mlp_tensor_data_const(g1), mlp_tensor_data_const(g2),
                       4, 1e-6, 0);
    /* A zero weight drops a row. */
    const float w01[] = {0, 1};
    loss = compute(MLP_LOSS_SOFTMAX_XENT, 0, w01, z, y, NULL, g);
    ck_assert(tu_close(loss, log(4.0 / 3.0), 1e-6, 0));
    ck_assert(mlp_tensor_data_const(g)[0] == 0.0f && mlp_tensor_data_const(g)[1] == 0.0f);
    mlp_tensor_destroy(z);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(g1);
    mlp_tensor_destroy(g2);
}
END_TEST

/* Any finite weights >= 0 are valid, subnormal ones too. Weights summing
 * below 1 / FLT_MAX made 1 / sum w overflow a float: the gradient was inf
 * (or NaN), the loss finite, the call OK. Equal weights of the batch's
 * labels are the plain mean, whatever their size. */
START_TEST(weighted_xent_tiny_weights)
{
    enum { N = 5, K = 3 };
    tu_rng r;
    tu_rng_seed(&r, 11);
    float zv[N * K];
    tu_fill_uniform(&r, zv, N * K, -2, 2);
    const int32_t mixed[N] = {0, 1, 2, 0, 1}, twos[N] = {2, 2, 2, 2, 2};
    const float tiny[K] = {1e-45f, 1e-45f, 1e-45f}, one_tiny[K] = {1, 1, 1e-45f};
    mlp_tensor *z = from(N, K, zv), *g0 = tu_tensor(2, N, K), *g = tu_tensor(2, N, K);
    for (int c = 0; c < 2; c++) {
        const int32_t *y = c ? twos : mixed;
        const double plain = compute(MLP_LOSS_SOFTMAX_XENT, 0, NULL, z, y, NULL, g0);
        const double loss =
            compute(MLP_LOSS_SOFTMAX_XENT, 0, c ? one_tiny : tiny, z, y, NULL, g);
        ck_assert_msg(tu_close(loss, plain, 1e-12, 0), "case %d: loss %.17g, plain %.17g",
                      c, loss, plain);
        tu_assert_close_ff(c ? "weights (1, 1, 1e-45), labels 2" : "weights 1e-45",
                           mlp_tensor_data_const(g), mlp_tensor_data_const(g0), N * K,
                           1e-6, 0);
    }

    /* A training step: the plain mean's, not NaN parameters. */
    mlp_model *m[2];
    mlp_optimizer *o[2];
    for (int i = 0; i < 2; i++) {
        m[i] = tu_model(1, (const int32_t[]){4}, 5);
        tu_add(m[i], tu_dense(K));
        TU_OK(mlp_optimizer_create(&o[i], MLP_RULE_SGD, m[i]));
        TU_OK(mlp_optimizer_set_learning_rate(o[i], 0.5));
    }
    TU_OK(mlp_model_set_class_weights(m[1], tiny, K));
    mlp_tensor *x = tu_tensor(2, N, 4);
    tu_fill_uniform(&r, mlp_tensor_data(x), N * 4, -1, 1);
    double l[2];
    enum { P = 4 * K + K };
    ck_assert_int_eq(mlp_model_param_count(m[0]), P);
    float before[P], after[2][P];
    TU_OK(mlp_model_get_params(m[0], before, P));
    for (int i = 0; i < 2; i++) {
        TU_OK(mlp_model_train_step(m[i], o[i], x, mixed, &l[i], NULL));
        TU_OK(mlp_model_get_params(m[i], after[i], P));
    }
    ck_assert_msg(tu_close(l[1], l[0], 1e-12, 0), "step loss %.17g, plain %.17g", l[1],
                  l[0]);
    int moved = 0;
    for (int i = 0; i < P; i++) {
        ck_assert_msg(isfinite(after[1][i]), "parameter %d is %g", i,
                      (double)after[1][i]);
        moved += after[0][i] != before[i];
    }
    ck_assert_int_gt(moved, 0);
    tu_assert_close_ff("parameters after a step", after[1], after[0], P, 1e-6, 1e-7);
    for (int i = 0; i < 2; i++) {
        mlp_optimizer_destroy(o[i]);
        mlp_model_destroy(m[i]);
    }
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(z);
    mlp_tensor_destroy(g0);
    mlp_tensor_destroy(g);
}
END_TEST

/* MSE, Huber and MAE of a prediction and target farther apart than a float
 * holds: their difference overflows, and the loss with it. That is NUMERIC,
 * as from mlp_loss_mse(), not OK with an infinite loss (and for MSE an
 * infinite gradient); with or without the gradient. */
START_TEST(regression_losses_refuse_overflow)
{
    const mlp_loss_kind kinds[3] = {MLP_LOSS_MSE, MLP_LOSS_HUBER, MLP_LOSS_MAE};
    const float pv[] = {0.5f, 3e38f}, tv[] = {0.25f, -3e38f};
    mlp_tensor *p = from(1, 2, pv), *t = from(1, 2, tv), *g = tu_tensor(2, 1, 2);
    double loss = -1;
    TU_FAIL_MSG(mlp_loss_mse(p, t, &loss, g), MLP_STATUS_NUMERIC, "NaN or infinite");
    for (int i = 0; i < 3; i++) {
        for (int with_g = 0; with_g < 2; with_g++) {
            TU_FAIL_MSG(
                mlp_loss_compute(kinds[i], 0, NULL, p, NULL, t, &loss, with_g ? g : NULL),
                MLP_STATUS_NUMERIC, "prediction 3e+38 and target -3e+38 are too far");
            TU_ERROR_HAS(mlp_loss_kind_name(kinds[i]));
            TU_ERROR_HAS("row 0, output 1");
        }
    }
    /* A BCE target outside [0, 1] is that, however far from its logit. */
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_BCE_LOGITS, 0, NULL, p, NULL, t, &loss, g),
                MLP_STATUS_INVALID_ARG, "target -3e+38 is outside [0, 1]");

    /* Nearer, d = 3e38 fits: MSE's loss 9e76 / 2 and gradient 2 d / 2 are
     * finite (2 d overflowed, and the gradient with it). */
    const float tv2[] = {0.25f, -1e38f};
    mlp_tensor *t2 = from(1, 2, tv2);
    mlp_tensor_data(p)[1] = 2e38f;
    const double d = (double)(2e38f - -1e38f);
    const double want = (0.25 * 0.25 + d * d) / 2;
    loss = compute(MLP_LOSS_MSE, 0, NULL, p, NULL, t2, g);
    ck_assert_msg(tu_close(loss, want, 1e-12, 0), "mse %.17g, want %.17g", loss, want);
    const float gw[] = {0.25f, (float)d};
    tu_assert_close_ff("mse dP, d = 3e38", mlp_tensor_data_const(g), gw, 2, 1e-6, 0);
    /* but for a batch of one value, 2 d is the gradient: it overflows */
    mlp_tensor *p1 = from(1, 1, (const float[]){2e38f}),
               *t1 = from(1, 1, (const float[]){0});
    mlp_tensor *g1 = tu_tensor(2, 1, 1);
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, p1, NULL, t1, &loss, g1),
                MLP_STATUS_NUMERIC, "gradient 2 (prediction - target) = 2 (2e+38 - 0)");
    loss = compute(MLP_LOSS_MSE, 0, NULL, p1, NULL, t1, NULL); /* the loss is finite */
    ck_assert_msg(tu_close(loss, 4e76, 1e-6, 0), "mse of one value %.17g", loss);
    mlp_tensor_data(p1)[0] = 1.5e38f; /* 2 d = 3e38 fits */
    loss = compute(MLP_LOSS_MSE, 0, NULL, p1, NULL, t1, g1);
    ck_assert(mlp_tensor_data_const(g1)[0] == 3e38f);
    mlp_tensor_destroy(p1);
    mlp_tensor_destroy(t1);
    mlp_tensor_destroy(g1);
    mlp_tensor_destroy(t2);
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

/* ---- finite differences --------------------------------------------------- */

static const mlp_loss_kind all_kinds[] = {MLP_LOSS_SOFTMAX_XENT, MLP_LOSS_MSE,
                                          MLP_LOSS_BCE_LOGITS, MLP_LOSS_HUBER,
                                          MLP_LOSS_MAE};

START_TEST(gradients_match_finite_differences)
{
    const mlp_loss_kind kind = all_kinds[_i];
    const int32_t n = 5, k = 3;
    tu_rng r;
    tu_rng_seed(&r, 40 + (uint64_t)_i);
    mlp_tensor *z = tu_tensor(2, n, k), *t = tu_tensor(2, n, k), *g = tu_tensor(2, n, k);
    float *zd = mlp_tensor_data(z), *td = mlp_tensor_data(t);
    tu_fill_uniform(&r, zd, n * k, -2, 2);
    tu_fill_uniform(&r, td, n * k, kind == MLP_LOSS_BCE_LOGITS ? 0 : -2,
                    kind == MLP_LOSS_BCE_LOGITS ? 1 : 2);
    /* Keep Huber and MAE away from their kinks (d = 0 and |d| = delta):
     * d = +-(0.2 + 0.3 j) never comes near 0 or 1. */
    if (kind == MLP_LOSS_HUBER || kind == MLP_LOSS_MAE)
        for (int i = 0; i < n * k; i++)
            zd[i] = td[i] + (i % 2 ? 1.0f : -1.0f) * (0.2f + 0.3f * (float)(i % 5));
    int32_t y[5] = {0, 2, 1, 1, 0};
    const float w[3] = {0.5f, 2.0f, 1.0f};
    const float *wk = kind == MLP_LOSS_SOFTMAX_XENT ? w : NULL;
    const int32_t *yk = kind == MLP_LOSS_SOFTMAX_XENT ? y : NULL;
    const mlp_tensor *tk = kind == MLP_LOSS_SOFTMAX_XENT ? NULL : t;
    compute(kind, 0, wk, z, yk, tk, g);
    const float eps = 1e-2f;
    double num[15];
    for (int i = 0; i < n * k; i++) {
        const float v = zd[i];
        zd[i] = v + eps;
        double up = compute(kind, 0, wk, z, yk, tk, NULL);
        zd[i] = v - eps;
        double down = compute(kind, 0, wk, z, yk, tk, NULL);
        zd[i] = v;
        num[i] = (up - down) / (2.0 * eps);
    }
    tu_assert_close_fd(mlp_loss_kind_name(kind), mlp_tensor_data_const(g), num, n * k,
                       2e-3, 2e-5);
    mlp_tensor_destroy(z);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

START_TEST(bce_is_stable_for_large_logits)
{
    const float zv[] = {1e4f, -1e4f, 1e4f, -1e4f}, tv[] = {1, 0, 0, 1};
    mlp_tensor *z = from(1, 4, zv), *t = from(1, 4, tv), *g = tu_tensor(2, 1, 4);
    double loss = compute(MLP_LOSS_BCE_LOGITS, 0, NULL, z, NULL, t, g);
    /* Right with certainty costs 0; wrong costs |z|. */
    ck_assert_msg(tu_close(loss, (1e4 + 1e4) / 4, 1e-9, 0), "loss %.9g", loss);
    const float want[] = {0, 0, 0.25f, -0.25f};
    tu_assert_close_ff("bce dz", mlp_tensor_data_const(g), want, 4, 0, 1e-7);
    mlp_tensor_destroy(z);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);

    /* Right with a logit of 20 costs log(1 + e^-20) = 2.06e-9, not 0: the
     * sum 1 + e^-20 in float rounds to 1 and would lose it. */
    const float zs[] = {20.0f, -20.0f}, ts[] = {1, 0};
    z = from(1, 2, zs);
    t = from(1, 2, ts);
    g = tu_tensor(2, 1, 2);
    loss = compute(MLP_LOSS_BCE_LOGITS, 0, NULL, z, NULL, t, g);
    ck_assert_msg(tu_close(loss, log1p(exp(-20.0)), 1e-6, 0), "loss %.9g", loss);
    mlp_tensor_destroy(z);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

/* ---- sums and metrics ------------------------------------------------------ */

START_TEST(sums_give_r2_and_errors)
{
    /* Two outputs, four rows. Output 0 predicted exactly; output 1 predicted
     * as its mean (R^2 0). */
    const float t[] = {1, 0, 2, 2, 3, 4, 4, 6};
    const float z[] = {1, 3, 2, 3, 3, 3, 4, 3};
    double t_sum[2] = {0}, t_sq[2] = {0}, sse_k[2] = {0};
    mlp__loss_sums s;
    memset(&s, 0, sizeof s);
    s.t_sum = t_sum;
    s.t_sq = t_sq;
    s.sse_k = sse_k;
    mlp__loss L = {.kind = MLP_LOSS_MSE, .class_w = NULL};
    /* Two batches of two rows: the sums do not depend on the batching. */
    TU_OK(mlp__loss_batch(&L, z, 2, 2, NULL, t, NULL, &s));
    TU_OK(mlp__loss_batch(&L, z + 4, 2, 2, NULL, t + 4, NULL, &s));
    ck_assert_int_eq(s.rows, 4);
    ck_assert_int_eq(s.elems, 8);
    /* errors of output 1: 3, 1, -1, -3: squares 9 + 1 + 1 + 9 = 20 */
    ck_assert(tu_close(s.sse, 20.0, 1e-12, 0));
    ck_assert(tu_close(s.sae, 8.0, 1e-12, 0));
    ck_assert(tu_close(mlp__loss_sums_mean(&s), 20.0 / 8, 1e-12, 0));
    ck_assert(tu_close(mlp__loss_sums_r2(&s, 2), 0.5, 1e-12, 1e-12));

    /* A constant target: exact is 1, anything else 0. */
    const float tc[] = {2, 2, 2}, zc_exact[] = {2, 2, 2}, zc_off[] = {2, 2.5f, 2};
    double a[1], b[1], c[1];
    for (int off = 0; off < 2; off++) {
        a[0] = b[0] = c[0] = 0;
        memset(&s, 0, sizeof s);
        s.t_sum = a;
        s.t_sq = b;
        s.sse_k = c;
        TU_OK(mlp__loss_batch(&L, off ? zc_off : zc_exact, 3, 1, NULL, tc, NULL, &s));
        ck_assert(mlp__loss_sums_r2(&s, 1) == (off ? 0.0 : 1.0));
    }
    /* Targets all equal to a value a float does not hold exactly, in
     * batches of 64 as an evaluation sums them: sum t^2 - (sum t)^2 / n
     * leaves rounding (1.3e-9 for the first), which made R^2 -2.4e13. */
    const float cv[] = {4.64677668f, 7.96446705f, 25.6242924f, 0.1f};
    const int32_t cn[] = {1677, 2278, 1830, 999};
    static float tcv[2278], zcv[2278];
    int wrong = 0;
    double first_r2 = 0;
    for (int v = 0; v < 4; v++) {
        for (int off = 0; off < 2; off++) {
            for (int32_t i = 0; i < cn[v]; i++) {
                tcv[i] = cv[v];
                zcv[i] = off ? cv[v] + 0.3f : cv[v];
            }
            a[0] = b[0] = c[0] = 0;
            memset(&s, 0, sizeof s);
            s.t_sum = a;
            s.t_sq = b;
            s.sse_k = c;
            for (int32_t i = 0; i < cn[v]; i += 64) {
                const int32_t n = cn[v] - i < 64 ? cn[v] - i : 64;
                TU_OK(mlp__loss_batch(&L, zcv + i, n, 1, NULL, tcv + i, NULL, &s));
            }
            const double r2 = mlp__loss_sums_r2(&s, 1);
            if (r2 != (off ? 0.0 : 1.0) && wrong++ == 0)
                first_r2 = r2;
        }
    }
    ck_assert_msg(wrong == 0,
                  "%d constant outputs got an R^2 other than 0 or 1 (first %g)", wrong,
                  first_r2);
    /* Without the per-output sums there is no R^2. */
    s.sse_k = NULL;
    ck_assert(isnan(mlp__loss_sums_r2(&s, 1)));
}
END_TEST

START_TEST(sums_count_accuracy)
{
    /* BCE: elements right when (z > 0) == (t >= 0.5). */
    const float z[] = {2, -1, 0.5f, -3}, t[] = {1, 1, 0, 0};
    mlp__loss_sums s;
    memset(&s, 0, sizeof s);
    mlp__loss L = {.kind = MLP_LOSS_BCE_LOGITS, .class_w = NULL};
    TU_OK(mlp__loss_batch(&L, z, 2, 2, NULL, t, NULL, &s));
    ck_assert_int_eq(s.correct, 2);
    ck_assert_int_eq(s.judged, 4);
    /* Softmax: rows right at their arg max; weights do not change counts. */
    const float zx[] = {3, 1, 0, 1, 0, 2};
    const int32_t y[] = {0, 0};
    const float w[] = {2, 1, 1};
    memset(&s, 0, sizeof s);
    mlp__loss X = {.kind = MLP_LOSS_SOFTMAX_XENT, .class_w = w};
    TU_OK(mlp__loss_batch(&X, zx, 2, 3, y, NULL, NULL, &s));
    ck_assert_int_eq(s.correct, 1);
    ck_assert_int_eq(s.judged, 2);
    ck_assert(tu_close(s.weight, 4.0, 0, 0));
    /* Regression kinds judge nothing. */
    memset(&s, 0, sizeof s);
    mlp__loss M = {.kind = MLP_LOSS_MAE, .class_w = NULL};
    TU_OK(mlp__loss_batch(&M, z, 2, 2, NULL, t, NULL, &s));
    ck_assert_int_eq(s.judged, 0);
}
END_TEST

/* ---- names and misuse ------------------------------------------------------ */

START_TEST(kind_names)
{
    const char *names[] = {"softmax_xent", "mse", "bce_logits", "huber", "mae"};
    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(mlp_loss_kind_name(all_kinds[i]), names[i]);
        ck_assert_int_eq(mlp_loss_kind_uses_labels(all_kinds[i]), i == 0);
    }
    ck_assert_ptr_null(mlp_loss_kind_name((mlp_loss_kind)0));
    ck_assert_ptr_null(mlp_loss_kind_name((mlp_loss_kind)6));
    ck_assert_int_eq(mlp_loss_kind_uses_labels((mlp_loss_kind)6), -1);
}
END_TEST

/* A Huber delta whose float is subnormal or 0 is refused, naming the value
 * as given: 1e-300 was refused as "Huber delta 0", and 1e-40 was taken
 * (0 once subnormals are flushed). FLT_MIN is the least delta taken, and
 * one below it that rounds up to it is refused: it rounds to 0 while
 * subnormals are flushed. */
START_TEST(compute_refuses_huber_deltas_no_float_holds)
{
    const float pv[] = {0.5f, -2.0f}, tv[] = {0.0f, 0.0f};
    mlp_tensor *p = from(1, 2, pv), *t = from(1, 2, tv), *g = tu_tensor(2, 1, 2);
    const mlp_status A = MLP_STATUS_INVALID_ARG;
    double loss = -1.0;
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, 1e-300, NULL, p, NULL, t, &loss, g), A,
                "mlp_loss_compute: Huber delta 1e-300 is too small (it must be at least "
                "1.17549435e-38, the smallest normal float, as it is kept as a float)");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, 1e-40, NULL, p, NULL, t, &loss, g), A,
                "Huber delta 1e-40 is too small");
    TU_FAIL_MSG(
        mlp_loss_compute(MLP_LOSS_HUBER, 0x1.fffffep-127, NULL, p, NULL, t, &loss, g), A,
        "Huber delta 1.1754942807573643e-38 is too small");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, 1e39, NULL, p, NULL, t, &loss, g), A,
                "Huber delta 1e+39 is too large");
    ck_assert(loss == -1.0); /* nothing written */
    /* FLT_MIN: both elements beyond it, delta (|d| - delta / 2) each */
    loss = compute(MLP_LOSS_HUBER, FLT_MIN, NULL, p, NULL, t, g);
    ck_assert_msg(tu_close(loss, 1.25 * FLT_MIN, 1e-12, 0), "loss %g", loss);
    ck_assert(mlp_tensor_data(g)[0] > 0.0f && mlp_tensor_data(g)[1] < 0.0f);
    /* just below 3.4e38: both within it, 0.5 d^2 each */
    loss = compute(MLP_LOSS_HUBER, nextafter(3.4e38, 0.0), NULL, p, NULL, t, g);
    ck_assert(tu_close(loss, (0.125 + 2.0) / 2, 1e-12, 0));
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

START_TEST(compute_misuse)
{
    const float pv[] = {0.1f, 0.2f, 0.3f, 0.4f};
    mlp_tensor *p = from(2, 2, pv), *t = from(2, 2, pv), *g = tu_tensor(2, 2, 2);
    mlp_tensor *flat = tu_tensor(1, 4), *wide = tu_tensor(2, 2, 3);
    mlp_tensor *ro = NULL;
    TU_OK(mlp_tensor_wrap_const(&ro, 2, (const int32_t[]){2, 2}, pv));
    int32_t y[2] = {0, 1}, ybad[2] = {0, 2};
    double loss;
    const float w[2] = {1, 1}, wneg[2] = {1, -1}, wnan[2] = {NAN, 1}, w0[2] = {0, 1};
    const mlp_status A = MLP_STATUS_INVALID_ARG, S = MLP_STATUS_SHAPE_MISMATCH;

    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, NULL, NULL, t, &loss, g), A,
                "pred is NULL");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, flat, NULL, t, &loss, NULL), S,
                "pred has shape [4], not [N,K]");
    TU_FAIL_MSG(mlp_loss_compute((mlp_loss_kind)0, 0, NULL, p, NULL, t, &loss, g), A,
                "0 is not a loss kind");
    TU_FAIL_MSG(mlp_loss_compute((mlp_loss_kind)6, 0, NULL, p, NULL, t, &loss, g), A,
                "6 is not a loss kind");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0.5, NULL, p, NULL, t, &loss, g), A,
                "mse takes no parameter");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, -1, NULL, p, NULL, t, &loss, g), A,
                "Huber delta -1 is not > 0");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, 1e308, NULL, p, NULL, t, &loss, g), A,
                "Huber delta 1e+308 is too large (it must be below 3.4e38");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, INFINITY, NULL, p, NULL, t, &loss, g), A,
                "Huber delta inf is too large");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, NAN, NULL, p, NULL, t, &loss, g), A,
                "Huber delta");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, w, p, NULL, t, &loss, g), A,
                "class weights apply to softmax_xent only, not mse");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, wneg, p, y, NULL, &loss, g), A,
                "class weight 1 is -1");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, wnan, p, y, NULL, &loss, g), A,
                "class weight 0 is nan");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, w0, p, (int32_t[]){0, 0}, NULL,
                                 &loss, g),
                A, "sum to 0");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, NULL, p, NULL, NULL, &loss, g),
                A, "labels is NULL");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, NULL, p, y, t, &loss, g), A,
                "target must be NULL for softmax_xent");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, NULL, p, ybad, NULL, &loss, g),
                A, "label 2 of row 1 is outside 0..1");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MAE, 0, NULL, p, NULL, NULL, &loss, g), A,
                "target is NULL (mae needs float targets)");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MAE, 0, NULL, p, y, t, &loss, g), A,
                "labels must be NULL for mae");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, p, NULL, wide, &loss, g), S,
                "target has shape [2,3] but pred has shape [2,2]");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, p, NULL, t, &loss, wide), S,
                "grad has shape [2,3]");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, p, NULL, t, &loss, p), A,
                "mlp_loss_compute: grad overlaps pred in memory");
    TU_FAIL(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, p, NULL, t, &loss, ro),
            MLP_STATUS_INVALID_ARG);

    /* Values: BCE targets in [0, 1], nothing NaN or infinite. */
    mlp_tensor_data(t)[3] = 1.5f;
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_BCE_LOGITS, 0, NULL, p, NULL, t, &loss, g), A,
                "row 1, output 1: target 1.5 is outside [0, 1]");
    mlp_tensor_data(t)[3] = NAN;
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_HUBER, 0, NULL, p, NULL, t, &loss, g),
                MLP_STATUS_NUMERIC, "huber loss: row 1, output 1: the target is nan");
    mlp_tensor_data(t)[3] = 0.5f;
    mlp_tensor_data(p)[2] = INFINITY;
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_MSE, 0, NULL, p, NULL, t, &loss, g),
                MLP_STATUS_NUMERIC, "mse loss: row 1, output 0: the prediction is inf");
    TU_FAIL_MSG(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, NULL, p, y, NULL, &loss, g),
                MLP_STATUS_NUMERIC, "row 1 has a NaN or infinite logit");

    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(flat);
    mlp_tensor_destroy(wide);
    mlp_tensor_destroy(ro);
}
END_TEST

START_TEST(compute_allocates_nothing)
{
    const float pv[] = {0.1f, 0.2f, 0.3f, 0.4f};
    mlp_tensor *p = from(2, 2, pv), *t = from(2, 2, pv), *g = tu_tensor(2, 2, 2);
    long live = mlp__alloc_live();
    mlp__alloc_fail_after(1); /* any allocation would fail */
    for (int i = 0; i < 5; i++)
        compute(all_kinds[i], 0, NULL, p, i == 0 ? (int32_t[]){0, 1} : NULL,
                i == 0 ? NULL : t, g);
    mlp__alloc_fail_after(0);
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

/* grad may share no float with pred, whatever the kind; it may be the
 * target itself (each target is read before its gradient is written), but
 * one float into the target's floats it is refused too. */
START_TEST(compute_grad_may_not_overlap)
{
    float buf[5] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f}, tv[4] = {0.5f, 0.25f, 1, 0};
    const int32_t d[2] = {2, 2}, y[2] = {1, 0};
    mlp_tensor *p = NULL, *shifted = NULL, *t = NULL;
    TU_OK(mlp_tensor_wrap(&p, 2, d, buf));
    TU_OK(mlp_tensor_wrap(&shifted, 2, d, buf + 1));
    TU_OK(mlp_tensor_wrap(&t, 2, d, tv));
    for (int i = 0; i < 5; i++) {
        const mlp_loss_kind kind = all_kinds[i];
        const int32_t *labels = kind == MLP_LOSS_SOFTMAX_XENT ? y : NULL;
        const mlp_tensor *target = kind == MLP_LOSS_SOFTMAX_XENT ? NULL : t;
        double loss = -1;
        TU_FAIL_MSG(mlp_loss_compute(kind, 0, NULL, p, labels, target, &loss, shifted),
                    MLP_STATUS_INVALID_ARG, "mlp_loss_compute: grad overlaps pred");
        TU_FAIL_MSG(mlp_loss_compute(kind, 0, NULL, shifted, labels, target, &loss, p),
                    MLP_STATUS_INVALID_ARG, "mlp_loss_compute: grad overlaps pred");
        ck_assert_double_eq(loss, -1);
        if (!target)
            continue;
        TU_FAIL_MSG(mlp_loss_compute(kind, 0, NULL, t, NULL, p, &loss, shifted),
                    MLP_STATUS_INVALID_ARG,
                    "mlp_loss_compute: grad overlaps target in part");
        mlp_tensor *g = tu_tensor(2, 2, 2), *tc = tu_tensor_clone(t);
        double want;
        TU_OK(mlp_loss_compute(kind, 0, NULL, p, NULL, t, &want, g));
        TU_OK(mlp_loss_compute(kind, 0, NULL, p, NULL, tc, &loss, tc));
        ck_assert_double_eq(loss, want);
        ck_assert(memcmp(mlp_tensor_data_const(tc), mlp_tensor_data_const(g),
                         4 * sizeof(float)) == 0);
        mlp_tensor_destroy(tc);
        mlp_tensor_destroy(g);
    }
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(shifted);
    mlp_tensor_destroy(p);
}
END_TEST

static Suite *loss_kinds_suite(void)
{
    Suite *s = suite_create("loss_kinds");
    TCase *tc = tcase_create("values");
    tcase_add_test(tc, regression_losses_hand_computed);
    tcase_add_test(tc, bce_hand_computed);
    tcase_add_test(tc, weighted_xent_hand_computed);
    tcase_add_test(tc, weighted_xent_tiny_weights);
    tcase_add_test(tc, regression_losses_refuse_overflow);
    tcase_add_loop_test(tc, gradients_match_finite_differences, 0, 5);
    tcase_add_test(tc, bce_is_stable_for_large_logits);
    suite_add_tcase(s, tc);
    tc = tcase_create("sums");
    tcase_add_test(tc, sums_give_r2_and_errors);
    tcase_add_test(tc, sums_count_accuracy);
    suite_add_tcase(s, tc);
    tc = tcase_create("misuse");
    tcase_add_test(tc, kind_names);
    tcase_add_test(tc, compute_misuse);
    tcase_add_test(tc, compute_refuses_huber_deltas_no_float_holds);
    tcase_add_test(tc, compute_grad_may_not_overlap);
    tcase_add_test(tc, compute_allocates_nothing);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(loss_kinds_suite, 0)
