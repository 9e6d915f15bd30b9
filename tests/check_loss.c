/*
 * Tests of include/mlpnet/loss.h: softmax cross-entropy and mean squared
 * error against direct double-precision computations and finite
 * differences, stability, counting, and argument checks.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "testutil.h"

/* ---- references ---------------------------------------------------------- */

/* Mean softmax cross-entropy, its gradient (may be NULL) and the number of
 * rows whose first maximal logit is at the label, all in double. */
static double ref_xent(const float *z, const int32_t *y, int n, int k, double *grad,
                       int *correct)
{
    double total = 0.0;
    int ok = 0;
    for (int r = 0; r < n; r++) {
        const float *row = z + r * k;
        int arg = 0;
        for (int j = 1; j < k; j++)
            if (row[j] > row[arg])
                arg = j;
        ok += arg == y[r];
        double m = row[arg], s = 0.0;
        for (int j = 0; j < k; j++)
            s += exp((double)row[j] - m);
        double lse = m + log(s);
        total += lse - row[y[r]];
        if (grad)
            for (int j = 0; j < k; j++)
                grad[r * k + j] = (exp((double)row[j] - lse) - (j == y[r])) / n;
    }
    if (correct)
        *correct = ok;
    return total / n;
}

static mlp_tensor *random_logits(int n, int k, float lo, float hi, uint64_t seed)
{
    mlp_tensor *t = tu_tensor(2, n, k);
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, mlp_tensor_data(t), (int64_t)n * k, lo, hi);
    return t;
}

/* ---- softmax cross-entropy ----------------------------------------------- */

START_TEST(xent_matches_reference)
{
    static const int shapes[][2] = {{1, 1}, {1, 4}, {6, 5}, {17, 10}, {64, 47}};
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        int n = shapes[c][0], k = shapes[c][1];
        mlp_tensor *z = random_logits(n, k, -4.0f, 4.0f, 10 + c);
        mlp_tensor *g = tu_tensor(2, n, k);
        mlp_tensor_fill(g, 123.0f); /* must be overwritten */
        int32_t *y = malloc(sizeof(int32_t) * (size_t)n);
        tu_rng r;
        tu_rng_seed(&r, 20 + c);
        for (int i = 0; i < n; i++)
            y[i] = tu_rng_below(&r, k);
        double *gref = malloc(sizeof(double) * (size_t)(n * k));
        int cref;
        double lref = ref_xent(mlp_tensor_data_const(z), y, n, k, gref, &cref);

        double loss = -1.0;
        int32_t correct = -1;
        TU_OK(mlp_loss_softmax_xent(z, y, &loss, g, &correct));
        ck_assert_msg(tu_close(loss, lref, 1e-5, 1e-7), "[%d,%d]: loss %.9g, want %.9g",
                      n, k, loss, lref);
        ck_assert_int_eq(correct, cref);
        tu_assert_close_fd("dZ", mlp_tensor_data_const(g), gref, n * k, 1e-5, 1e-7);
        /* each gradient row sums to 0 */
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < k; j++)
                s += mlp_tensor_data_const(g)[i * k + j];
            ck_assert_double_eq_tol(s, 0.0, 1e-6);
        }

        /* every output is optional and independent of the others */
        double loss2 = -1.0;
        TU_OK(mlp_loss_softmax_xent(z, y, &loss2, NULL, NULL));
        ck_assert_msg(tu_close(loss2, loss, 1e-9, 0), "loss alone %.17g vs %.17g", loss2,
                      loss);
        int32_t correct2 = -1;
        TU_OK(mlp_loss_softmax_xent(z, y, NULL, NULL, &correct2));
        ck_assert_int_eq(correct2, correct);
        mlp_tensor_fill(g, 0.0f);
        TU_OK(mlp_loss_softmax_xent(z, y, NULL, g, NULL));
        tu_assert_close_fd("dZ (alone)", mlp_tensor_data_const(g), gref, n * k, 1e-5,
                           1e-7);

        free(gref);
        free(y);
        mlp_tensor_destroy(g);
        mlp_tensor_destroy(z);
    }
}
END_TEST

/* Hand-made: logits 0 for every class gives log K whatever the label. */
START_TEST(xent_uniform_logits)
{
    mlp_tensor *z = tu_tensor(2, 3, 4);
    const int32_t y[3] = {0, 3, 2};
    double loss;
    mlp_tensor *g = tu_tensor(2, 3, 4);
    TU_OK(mlp_loss_softmax_xent(z, y, &loss, g, NULL));
    ck_assert_double_eq_tol(loss, log(4.0), 1e-6);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++)
            ck_assert_double_eq_tol(mlp_tensor_data_const(g)[i * 4 + j],
                                    (0.25 - (j == y[i])) / 3.0, 1e-7);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

START_TEST(xent_gradient_finite_difference)
{
    const int n = 4, k = 6;
    mlp_tensor *z = random_logits(n, k, -3.0f, 3.0f, 5);
    const int32_t y[4] = {5, 0, 2, 2};
    mlp_tensor *g = tu_tensor(2, n, k);
    TU_OK(mlp_loss_softmax_xent(z, y, NULL, g, NULL));
    float *zd = mlp_tensor_data(z);
    const double eps = 1e-2;
    double max_num = 0.0;
    for (int i = 0; i < n * k; i++) {
        float z0 = zd[i];
        float zp = (float)(z0 + eps), zm = (float)(z0 - eps);
        double lp, lm;
        zd[i] = zp;
        TU_OK(mlp_loss_softmax_xent(z, y, &lp, NULL, NULL));
        zd[i] = zm;
        TU_OK(mlp_loss_softmax_xent(z, y, &lm, NULL, NULL));
        zd[i] = z0;
        double num = (lp - lm) / ((double)zp - (double)zm);
        max_num = fmax(max_num, fabs(num));
        double an = mlp_tensor_data_const(g)[i];
        ck_assert_msg(tu_close(an, num, 1e-2, 1e-4),
                      "dZ[%d]: analytic %.7g, numerical %.7g", i, an, num);
    }
    ck_assert(max_num > 1e-2);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

START_TEST(xent_large_logits_are_stable)
{
    /* N = 4, K = 3 */
    const float zv[12] = {1e4f,  -1e4f, 0.0f,   /* label 0: p = 1, loss 0 */
                          1e4f,  -1e4f, 0.0f,   /* label 1: loss 2e4 */
                          1e4f,  1e4f,  -1e4f,  /* label 1: a tie, loss log 2 */
                          -1e4f, -1e4f, -1e4f}; /* label 2: loss log 3 */
    const int32_t y[4] = {0, 1, 1, 2};
    mlp_tensor *z = tu_tensor(2, 4, 3);
    TU_OK(mlp_tensor_copy_from(z, zv, 12));
    mlp_tensor *g = tu_tensor(2, 4, 3);
    double loss = NAN;
    int32_t correct = -1;
    TU_OK(mlp_loss_softmax_xent(z, y, &loss, g, &correct));
    ck_assert_msg(isfinite(loss), "loss %g", loss);
    double want = (0.0 + 2e4 + log(2.0) + log(3.0)) / 4.0;
    ck_assert_msg(tu_close(loss, want, 1e-6, 0), "loss %.9g, want %.9g", loss, want);
    const double gw[12] = {0, 0, 0, 1, -1, 0, 0.5, -0.5, 0, 1.0 / 3, 1.0 / 3, -2.0 / 3};
    for (int i = 0; i < 12; i++) {
        float gi = mlp_tensor_data_const(g)[i];
        ck_assert_msg(isfinite(gi), "dZ[%d] = %g", i, (double)gi);
        ck_assert_msg(fabs(gi - gw[i] / 4.0) < 1e-6, "dZ[%d] = %.9g, want %.9g", i,
                      (double)gi, gw[i] / 4.0);
    }
    /* row 0 right; row 1 wrong; rows 2 and 3 are ties won by index 0 */
    ck_assert_int_eq(correct, 1);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

/* Logits of any finite size give a finite loss, however far apart: z_c - m
 * of row 0 is -6e38, beyond a float but not a double (it overflowed to
 * -inf, and the loss with it). Row 1 is wide (the exponentials' vector
 * steps and their tail); row 2 is ordinary, beside them. */
START_TEST(xent_logits_farther_apart_than_a_float)
{
    enum { N = 3, K = 11 };
    float zv[N * K];
    for (int j = 0; j < K; j++) {
        zv[j] = j >= 3 ? -1.0f : j == 1 ? 3e38f : -3e38f;
        zv[K + j] = j == 9 ? 3.4e38f : -3.4e38f + (float)j * 1e37f;
        zv[2 * K + j] = 0.25f * (float)j - 1.0f;
    }
    const int32_t y[N] = {2, 0, 4};
    mlp_tensor *z = tu_tensor(2, N, K), *g = tu_tensor(2, N, K);
    TU_OK(mlp_tensor_copy_from(z, zv, N * K));
    double gw[N * K];
    const double want = ref_xent(zv, y, N, K, gw, NULL);
    ck_assert_msg(isfinite(want) && want > 4e38, "reference %g", want);
    double loss = NAN;
    int32_t correct = -1;
    TU_OK(mlp_loss_softmax_xent(z, y, &loss, g, &correct));
    ck_assert_msg(tu_close(loss, want, 1e-12, 0), "loss %.17g, want %.17g", loss, want);
    tu_assert_close_fd("far logits dZ", mlp_tensor_data_const(g), gw, N * K, 1e-6, 1e-7);
    ck_assert_int_eq(correct, 0);
    /* the loss alone, and a row of three */
    TU_OK(mlp_loss_softmax_xent(z, y, &loss, NULL, NULL));
    ck_assert_msg(tu_close(loss, want, 1e-12, 0), "loss alone %.17g", loss);
    mlp_tensor *z3 = tu_tensor(2, 1, 3);
    TU_OK(mlp_tensor_copy_from(z3, (const float[]){-3e38f, 3e38f, -3e38f}, 3));
    TU_OK(mlp_loss_softmax_xent(z3, (const int32_t[]){2}, &loss, NULL, NULL));
    ck_assert_msg(loss == (double)3e38f - (double)-3e38f, "loss %.17g", loss);
    mlp_tensor_destroy(z3);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

/* Classes whose logit lies more than 87.3 below the row's largest have a
 * probability below FLT_MIN: their gradient is exactly 0, never a
 * subnormal float (which slows every product that reads it). Nor is the
 * gradient of a class nearer, whose probability over the batch's rows
 * falls below FLT_MIN (row 3: gaps of 85 to 87.3 over 4 rows). */
START_TEST(xent_far_logits_give_no_subnormals)
{
    enum { N = 4, K = 47 };
    float zv[N * K];
    for (int j = 0; j < K; j++) {
        zv[j] = j == 0 ? 0.0f : -100.0f - (float)j; /* all far below class 0 */
        zv[K + j] = 10.0f * (float)j;               /* gaps of 10 to 460 */
        zv[2 * K + j] = j < 3 ? 50.0f * (float)j : -1e4f;
        zv[3 * K + j] = j == 0 ? 0.0f : -85.0f - 0.05f * (float)j;
    }
    const int32_t y[N] = {0, 5, 2, 0};
    mlp_tensor *z = tu_tensor(2, N, K), *g = tu_tensor(2, N, K);
    TU_OK(mlp_tensor_copy_from(z, zv, N * K));
    double loss = NAN;
    TU_OK(mlp_loss_softmax_xent(z, y, &loss, g, NULL));
    /* row 0: about 0; row 1: 460 - 50; rows 2 and 3: about 0 */
    ck_assert_msg(tu_close(loss, (0.0 + 410.0 + 0.0 + 0.0) / N, 1e-6, 0), "loss %.9g",
                  loss);
    const float *gv = mlp_tensor_data_const(g);
    int zeros = 0;
    for (int i = 0; i < N; i++) {
        float mx = zv[i * K];
        for (int j = 1; j < K; j++)
            mx = zv[i * K + j] > mx ? zv[i * K + j] : mx;
        for (int j = 0; j < K; j++) {
            const float gi = gv[i * K + j];
            ck_assert_msg(fpclassify(gi) != FP_SUBNORMAL, "dZ[%d][%d] = %g is subnormal",
                          i, j, (double)gi);
            if (zv[i * K + j] - mx < -87.34f && j != y[i]) {
                ck_assert_msg(gi == 0.0f, "dZ[%d][%d] = %g, want 0", i, j, (double)gi);
                zeros++;
            }
        }
    }
    ck_assert_int_eq(zeros, 46 + 37 + 45); /* gaps above 87.34, labels aside */
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

START_TEST(xent_counts_ties_to_lowest_index)
{
    const float zv[15] = {1, 1, 0,  /* label 0: max at 0 and 1 -> 0: correct */
                          1, 1, 0,  /* label 1: -> 0: wrong */
                          0, 2, 2,  /* label 1: -> 1: correct */
                          3, 3, 3,  /* label 0: -> 0: correct */
                          3, 3, 3}; /* label 2: -> 0: wrong */
    const int32_t y[5] = {0, 1, 1, 0, 2};
    mlp_tensor *z = tu_tensor(2, 5, 3);
    TU_OK(mlp_tensor_copy_from(z, zv, 15));
    int32_t correct = -1;
    TU_OK(mlp_loss_softmax_xent(z, y, NULL, NULL, &correct));
    ck_assert_int_eq(correct, 3);
    /* a clear winner at the last index */
    const float z2[3] = {-1, 0, 5};
    const int32_t y2[1] = {2};
    mlp_tensor *t = tu_tensor(2, 1, 3);
    TU_OK(mlp_tensor_copy_from(t, z2, 3));
    TU_OK(mlp_loss_softmax_xent(t, y2, NULL, NULL, &correct));
    ck_assert_int_eq(correct, 1);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(z);
}
END_TEST

/* Rows of every width around the 8-wide scans (the row maximum, the lanes
 * of the sum and its 64-wide chunks), with the maximum planted at each
 * position and tied with a later one: the count of correct rows is the
 * plain scan's (first maximum in order), and loss and gradient match the
 * double-precision reference. */
START_TEST(xent_argmax_of_wide_rows)
{
    static const int widths[] = {1, 2, 7, 8, 9, 15, 16, 17, 47, 63, 64, 65, 130};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        const int k = widths[w];
        for (int at = 0; at < k; at++) {
            mlp_tensor *z = random_logits(3, k, -2.0f, 2.0f, 40 + (uint64_t)at);
            float *d = mlp_tensor_data(z);
            d[at] = 5.0f;     /* row 0: a single maximum at `at` */
            d[k + at] = 5.0f; /* row 1: tied with the last position */
            d[k + k - 1] = 5.0f;
            d[2 * k + at] = 5.0f; /* row 2: tied with the next (or the first) */
            d[2 * k + (at + 1) % k] = 5.0f;
            int32_t y[3] = {at, at, at}, correct = -1;
            TU_OK(mlp_loss_softmax_xent(z, y, NULL, NULL, &correct));
            const int want =
                2 + ((at + 1) % k >= at); /* row 2 fails when 0 comes first */
            ck_assert_msg(correct == want, "k %d, max at %d: %d correct, want %d", k, at,
                          (int)correct, want);
            /* the same loss, bit for bit, with and without the gradient, and
             * the double-precision reference's to float accuracy */
            mlp_tensor *g = tu_tensor(2, 3, k);
            double with_g = 0.0, without_g = 0.0;
            TU_OK(mlp_loss_softmax_xent(z, y, &with_g, g, NULL));
            TU_OK(mlp_loss_softmax_xent(z, y, &without_g, NULL, NULL));
            ck_assert_msg(with_g == without_g,
                          "k %d: loss %.17g with the gradient, %.17g "
                          "without",
                          k, with_g, without_g);
            double *ref_g = malloc(sizeof(double) * 3 * (size_t)k);
            ck_assert_ptr_nonnull(ref_g);
            const double ref = ref_xent(mlp_tensor_data_const(z), y, 3, k, ref_g, NULL);
            ck_assert_msg(fabs(with_g - ref) <= 1e-5 * (1.0 + fabs(ref)),
                          "k %d: loss %.9g, reference %.9g", k, with_g, ref);
            for (int e = 0; e < 3 * k; e++)
                TU_CHECK_MSG(fabs(mlp_tensor_data_const(g)[e] - ref_g[e]) <= 1e-6,
                             "k %d: gradient %d is %g, reference %g", k, e,
                             (double)mlp_tensor_data_const(g)[e], ref_g[e]);
            free(ref_g);
            /* a NaN or infinity at any position of any lane or chunk */
            const float bad = at % 2 ? NAN : -INFINITY;
            d[k + at] = bad;
            ck_assert_int_eq(mlp_loss_softmax_xent(z, y, &with_g, g, NULL),
                             MLP_STATUS_NUMERIC);
            ck_assert_int_eq(mlp_loss_softmax_xent(z, y, NULL, NULL, NULL),
                             MLP_STATUS_NUMERIC);
            mlp_tensor_destroy(g);
            mlp_tensor_destroy(z);
        }
    }
}
END_TEST

/* A batch large enough to be cut across threads: loss, gradient and count
 * are the same bits at 1, 2 and 3 threads, and match the reference; the
 * first bad row is the one reported, whichever chunk holds it. */
START_TEST(xent_threads_same_bits)
{
    enum { N = 1000, K = 47 };
    mlp_tensor *z = random_logits(N, K, -5.0f, 5.0f, 61);
    int32_t *y = malloc(sizeof(int32_t) * N);
    ck_assert_ptr_nonnull(y);
    for (int i = 0; i < N; i++)
        y[i] = (i * 7) % K;
    mlp_tensor *g[3] = {tu_tensor(2, N, K), tu_tensor(2, N, K), tu_tensor(2, N, K)};
    double loss[3];
    int32_t correct[3];
    for (int t = 0; t < 3; t++) {
        TU_OK(mlp_set_num_threads(t + 1));
        TU_OK(mlp_loss_softmax_xent(z, y, &loss[t], g[t], &correct[t]));
    }
    TU_OK(mlp_set_num_threads(1));
    for (int t = 1; t < 3; t++) {
        ck_assert_msg(loss[t] == loss[0], "%d threads: loss %.17g, 1 thread %.17g", t + 1,
                      loss[t], loss[0]);
        ck_assert_int_eq(correct[t], correct[0]);
        ck_assert(memcmp(mlp_tensor_data_const(g[t]), mlp_tensor_data_const(g[0]),
                         sizeof(float) * N * K) == 0);
    }
    int ref_correct = 0;
    const double ref = ref_xent(mlp_tensor_data_const(z), y, N, K, NULL, &ref_correct);
    ck_assert_msg(fabs(loss[0] - ref) <= 1e-5 * (1.0 + fabs(ref)),
                  "loss %.9g, reference %.9g", loss[0], ref);
    ck_assert_int_eq(correct[0], ref_correct);

    /* the first bad row wins: a NaN at row 300 before a bad label at row 800,
     * then a bad label at row 700 before a NaN at row 900 */
    TU_OK(mlp_set_num_threads(2));
    float *d = mlp_tensor_data(z);
    d[300 * K + 5] = NAN;
    y[800] = K;
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss[0], g[0], NULL), MLP_STATUS_NUMERIC);
    ck_assert_msg(strstr(mlp_last_error(), "row 300") != NULL, "%s", mlp_last_error());
    d[300 * K + 5] = 0.0f;
    y[800] = 0;
    d[900 * K] = INFINITY;
    y[700] = -1;
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss[0], g[0], NULL), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "row 700") != NULL, "%s", mlp_last_error());
    d[900 * K] = 0.0f;
    y[700] = 0;
    /* and within the rows of one block (the maxima, the exponentials and
     * the gradients each run over several rows before the next pass): a
     * NaN at row 301 before a bad label at row 302, then the reverse */
    d[301 * K + 46] = NAN;
    y[302] = -1;
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss[0], g[0], NULL), MLP_STATUS_NUMERIC);
    ck_assert_msg(strstr(mlp_last_error(), "row 301") != NULL, "%s", mlp_last_error());
    d[301 * K + 46] = 0.0f;
    y[302] = 0;
    y[301] = K;
    d[302 * K + 46] = -INFINITY;
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss[0], NULL, NULL), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "row 301") != NULL, "%s", mlp_last_error());
    y[301] = 0;
    d[302 * K + 46] = 0.0f;
    /* a bad label in the batch's first row is a bad label, not a bad logit */
    y[0] = K;
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss[0], g[0], NULL), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("label 47 of row 0 is outside 0..46");
    TU_OK(mlp_set_num_threads(1));
    for (int t = 0; t < 3; t++)
        mlp_tensor_destroy(g[t]);
    free(y);
    mlp_tensor_destroy(z);
}
END_TEST

START_TEST(xent_misuse)
{
    mlp_tensor *z = random_logits(3, 4, -1, 1, 1);
    mlp_tensor *g = tu_tensor(2, 3, 4);
    int32_t y[3] = {0, 1, 2};
    double loss;
    int32_t correct;
    TU_FAIL(mlp_loss_softmax_xent(NULL, y, &loss, g, &correct), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_loss_softmax_xent(z, NULL, &loss, g, &correct), MLP_STATUS_INVALID_ARG);

    const int32_t bad[] = {-1, 4, 1000, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        y[1] = bad[i];
        TU_FAIL(mlp_loss_softmax_xent(z, y, &loss, g, &correct), MLP_STATUS_INVALID_ARG);
        TU_FAIL(mlp_loss_softmax_xent(z, y, NULL, NULL, NULL), MLP_STATUS_INVALID_ARG);
    }
    y[1] = 3; /* K - 1 is fine */
    TU_OK(mlp_loss_softmax_xent(z, y, &loss, g, &correct));

    /* rank must be 2; grad must have the logits' shape */
    mlp_tensor *r1 = tu_tensor(1, 4);
    mlp_tensor *r3 = tu_tensor(3, 3, 2, 2);
    mlp_tensor *gk = tu_tensor(2, 3, 5);
    mlp_tensor *gt = tu_tensor(2, 4, 3);
    mlp_tensor *g3 = tu_tensor(3, 3, 4, 1);
    TU_FAIL(mlp_loss_softmax_xent(r1, y, &loss, NULL, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_softmax_xent(r3, y, &loss, NULL, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss, gk, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss, gt, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss, g3, NULL), MLP_STATUS_SHAPE_MISMATCH);
    mlp_tensor_destroy(r1);
    mlp_tensor_destroy(r3);
    mlp_tensor_destroy(gk);
    mlp_tensor_destroy(gt);
    mlp_tensor_destroy(g3);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

/* A [3,4] tensor over the caller's floats at v. */
static mlp_tensor *wrap34(float *v)
{
    mlp_tensor *t = NULL;
    TU_OK(mlp_tensor_wrap(&t, 2, (const int32_t[]){3, 4}, v));
    return t;
}

/* grad may share no float with the logits: the same buffer, one float into
 * it (either way) or only the last float are all refused alike, before
 * anything is written; right after the logits it is fine. */
START_TEST(xent_grad_may_not_overlap_logits)
{
    float buf[26], keep[26];
    tu_rng r;
    tu_rng_seed(&r, 7);
    tu_fill_uniform(&r, buf, 26, -1, 1);
    memcpy(keep, buf, sizeof buf);
    const int32_t y[3] = {0, 1, 3};
    mlp_tensor *z = wrap34(buf + 1);
    const int shifts[] = {1, 0, -1, 11}; /* 11: only buf[12] shared */
    for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
        mlp_tensor *g = wrap34(buf + 1 + shifts[i]);
        double loss = -1;
        TU_FAIL_MSG(mlp_loss_softmax_xent(z, y, &loss, g, NULL), MLP_STATUS_INVALID_ARG,
                    "mlp_loss_softmax_xent: grad overlaps logits");
        ck_assert_double_eq(loss, -1);
        ck_assert(memcmp(buf, keep, sizeof buf) == 0);
        mlp_tensor_destroy(g);
    }
    mlp_tensor *g = tu_tensor(2, 3, 4), *after = wrap34(buf + 13);
    double want, got;
    TU_OK(mlp_loss_softmax_xent(z, y, &want, g, NULL));
    TU_OK(mlp_loss_softmax_xent(z, y, &got, after, NULL));
    ck_assert_double_eq(got, want);
    ck_assert(memcmp(buf + 13, mlp_tensor_data_const(g), 12 * sizeof(float)) == 0);
    mlp_tensor_destroy(after);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

START_TEST(xent_non_finite_logits)
{
    const float specials[3] = {NAN, INFINITY, -INFINITY};
    const int32_t y[2] = {0, 1};
    for (int s = 0; s < 3; s++) {
        for (int pos = 0; pos < 6; pos++) {
            mlp_tensor *z = random_logits(2, 3, -1, 1, 3);
            mlp_tensor_data(z)[pos] = specials[s];
            mlp_tensor *g = tu_tensor(2, 2, 3);
            double loss = 0;
            mlp_status st = mlp_loss_softmax_xent(z, y, &loss, g, NULL);
            ck_assert_msg(st == MLP_STATUS_NUMERIC, "logit[%d] = %g -> %s, want numeric",
                          pos, (double)specials[s], mlp_status_str(st));
            ck_assert_str_ne(mlp_last_error(), "");
            /* also when only the count is asked for */
            st = mlp_loss_softmax_xent(z, y, NULL, NULL, NULL);
            ck_assert_msg(st == MLP_STATUS_NUMERIC, "logit[%d] = %g, no outputs -> %s",
                          pos, (double)specials[s], mlp_status_str(st));
            mlp_tensor_destroy(g);
            mlp_tensor_destroy(z);
        }
    }
}
END_TEST

/* ---- mean squared error --------------------------------------------------- */

static void check_mse(int rank, const int32_t *dims, uint64_t seed)
{
    int32_t n = dims[0];
    int64_t tot = tu_prod(rank, dims);
    mlp_tensor *p = NULL, *t = NULL, *g = NULL;
    TU_OK(mlp_tensor_create(&p, rank, dims));
    TU_OK(mlp_tensor_create(&t, rank, dims));
    TU_OK(mlp_tensor_create(&g, rank, dims));
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, mlp_tensor_data(p), tot, -2, 2);
    tu_fill_uniform(&r, mlp_tensor_data(t), tot, -2, 2);
    mlp_tensor_fill(g, 9.0f);

    /* loss = (1/N) sum_n 0.5 ||P_n - T_n||^2, dP = (P - T) / N */
    double want = 0.0;
    double *gw = malloc(sizeof(double) * (size_t)tot);
    for (int64_t i = 0; i < tot; i++) {
        double d = (double)mlp_tensor_data_const(p)[i] - mlp_tensor_data_const(t)[i];
        want += 0.5 * d * d;
        gw[i] = d / n;
    }
    want /= n;
    double loss = -1;
    TU_OK(mlp_loss_mse(p, t, &loss, g));
    ck_assert_msg(tu_close(loss, want, 1e-6, 1e-9), "mse %.9g, want %.9g", loss, want);
    tu_assert_close_fd("mse dP", mlp_tensor_data_const(g), gw, tot, 1e-6, 1e-8);
    double loss2 = -1;
    TU_OK(mlp_loss_mse(p, t, &loss2, NULL));
    ck_assert_msg(tu_close(loss2, loss, 1e-9, 0), "loss alone %.17g vs %.17g", loss2,
                  loss);
    mlp_tensor_fill(g, 0.0f);
    TU_OK(mlp_loss_mse(p, t, NULL, g));
    tu_assert_close_fd("mse dP (alone)", mlp_tensor_data_const(g), gw, tot, 1e-6, 1e-8);

    /* and the gradient is the derivative of the loss */
    float *pd = mlp_tensor_data(p);
    for (int64_t i = 0; i < tot; i++) {
        float p0 = pd[i];
        float pp = (float)(p0 + 1e-2), pm = (float)(p0 - 1e-2);
        double lp, lm;
        pd[i] = pp;
        TU_OK(mlp_loss_mse(p, t, &lp, NULL));
        pd[i] = pm;
        TU_OK(mlp_loss_mse(p, t, &lm, NULL));
        pd[i] = p0;
        double num = (lp - lm) / ((double)pp - (double)pm);
        ck_assert_msg(tu_close(gw[i], num, 1e-2, 1e-5), "mse FD[%lld]: %.7g vs %.7g",
                      (long long)i, gw[i], num);
    }
    free(gw);
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}

START_TEST(mse_matches_reference)
{
    const int32_t a[2] = {4, 3};
    const int32_t b[3] = {2, 3, 2};
    const int32_t c[1] = {5};
    const int32_t d[4] = {3, 1, 2, 2};
    check_mse(2, a, 1);
    check_mse(3, b, 2);
    check_mse(1, c, 3);
    check_mse(4, d, 4);
}
END_TEST

START_TEST(mse_hand_computed)
{
    /* N = 2: rows differ by (1, 2) and (0, -3): loss = (0.5*5 + 0.5*9) / 2 = 3.5 */
    const float pv[4] = {1, 2, 0, 0};
    const float tv[4] = {0, 0, 0, 3};
    mlp_tensor *p = tu_tensor(2, 2, 2), *t = tu_tensor(2, 2, 2), *g = tu_tensor(2, 2, 2);
    TU_OK(mlp_tensor_copy_from(p, pv, 4));
    TU_OK(mlp_tensor_copy_from(t, tv, 4));
    double loss;
    TU_OK(mlp_loss_mse(p, t, &loss, g));
    ck_assert_double_eq_tol(loss, 3.5, 1e-12);
    const float gw[4] = {0.5f, 1.0f, 0.0f, -1.5f};
    tu_assert_close_ff("dP", mlp_tensor_data_const(g), gw, 4, 0, 1e-7);
    /* identical tensors: zero loss, zero gradient */
    TU_OK(mlp_loss_mse(p, p, &loss, g));
    ck_assert_double_eq(loss, 0.0);
    for (int i = 0; i < 4; i++)
        ck_assert_float_eq(mlp_tensor_data_const(g)[i], 0.0f);
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

START_TEST(mse_misuse)
{
    mlp_tensor *p = tu_tensor(2, 4, 3);
    mlp_tensor *t = tu_tensor(2, 4, 3);
    mlp_tensor *g = tu_tensor(2, 4, 3);
    mlp_tensor *t34 = tu_tensor(2, 3, 4); /* same count, other shape */
    mlp_tensor *t42 = tu_tensor(2, 4, 2);
    mlp_tensor *t431 = tu_tensor(3, 4, 3, 1);
    double loss;
    TU_FAIL(mlp_loss_mse(NULL, t, &loss, g), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_loss_mse(p, NULL, &loss, g), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_loss_mse(p, t34, &loss, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_mse(p, t42, &loss, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_mse(p, t431, &loss, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_mse(p, t, &loss, t34), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_loss_mse(p, t, &loss, t42), MLP_STATUS_SHAPE_MISMATCH);
    TU_OK(mlp_loss_mse(p, t, &loss, g));

    mlp_tensor_data(p)[5] = NAN;
    TU_FAIL(mlp_loss_mse(p, t, &loss, g), MLP_STATUS_NUMERIC);
    /* a failure writes nothing: not grad, nor the target that is grad */
    float before[12];
    memcpy(before, mlp_tensor_data(t), sizeof before);
    mlp_tensor_data(g)[0] = 42.0f;
    TU_FAIL(mlp_loss_mse(p, t, &loss, g), MLP_STATUS_NUMERIC);
    ck_assert_float_eq(mlp_tensor_data(g)[0], 42.0f);
    TU_FAIL(mlp_loss_mse(p, t, &loss, t), MLP_STATUS_NUMERIC);
    ck_assert_msg(memcmp(before, mlp_tensor_data(t), sizeof before) == 0,
                  "a failed mlp_loss_mse overwrote its target (its grad)");
    mlp_tensor_data(p)[5] = 0.0f;
    mlp_tensor_data(t)[11] = INFINITY;
    TU_FAIL(mlp_loss_mse(p, t, &loss, NULL), MLP_STATUS_NUMERIC);
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(t34);
    mlp_tensor_destroy(t42);
    mlp_tensor_destroy(t431);
}
END_TEST

/* MSE reads each value before it writes its gradient, so grad may be pred
 * or target itself; starting anywhere else among their floats it would
 * overwrite values not yet read, and is refused. */
START_TEST(mse_grad_overlaps_only_as_itself)
{
    float buf[24], keep[24], tv[12];
    tu_rng r;
    tu_rng_seed(&r, 8);
    tu_fill_uniform(&r, buf, 24, -1, 1);
    tu_fill_uniform(&r, tv, 12, -1, 1);
    memcpy(keep, buf, sizeof buf);
    mlp_tensor *p = wrap34(buf + 1), *t = wrap34(tv);
    double want, loss;
    mlp_tensor *g = tu_tensor(2, 3, 4);
    TU_OK(mlp_loss_mse(p, t, &want, g));
    const int shifts[] = {1, -1, 11};
    for (size_t i = 0; i < sizeof shifts / sizeof shifts[0]; i++) {
        mlp_tensor *bad = wrap34(buf + 1 + shifts[i]);
        TU_FAIL_MSG(mlp_loss_mse(p, t, &loss, bad), MLP_STATUS_INVALID_ARG,
                    "mlp_loss_mse: grad overlaps pred in part");
        TU_FAIL_MSG(mlp_loss_mse(t, p, &loss, bad), MLP_STATUS_INVALID_ARG,
                    "mlp_loss_mse: grad overlaps target in part");
        ck_assert(memcmp(buf, keep, sizeof buf) == 0);
        mlp_tensor_destroy(bad);
    }
    TU_OK(mlp_loss_mse(p, t, &loss, p));
    ck_assert_double_eq(loss, want);
    ck_assert(memcmp(buf + 1, mlp_tensor_data_const(g), sizeof tv) == 0);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(p);
}
END_TEST

/* The common mistake, targets [N] against predictions [N,1]: the message
 * gives both shapes. A read-only tensor serves as input, never as grad. */
START_TEST(mse_messages_name_the_shapes)
{
    mlp_tensor *p = tu_tensor(2, 4, 1), *t = tu_tensor(1, 4), *g = tu_tensor(2, 4, 3);
    double loss;
    TU_FAIL(mlp_loss_mse(p, t, &loss, NULL), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "target has shape [4]") &&
                      strstr(mlp_last_error(), "pred has shape [4,1]"),
                  "%s", mlp_last_error());
    mlp_tensor_destroy(t);
    t = tu_tensor(2, 4, 1);
    TU_FAIL(mlp_loss_mse(p, t, &loss, g), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "grad has shape [4,3]") &&
                      strstr(mlp_last_error(), "[4,1]"),
                  "%s", mlp_last_error());

    static const float four[4] = {1, 2, 3, 4};
    const int32_t d[2] = {4, 1};
    mlp_tensor *ro = NULL;
    TU_OK(mlp_tensor_wrap_const(&ro, 2, d, four));
    TU_OK(mlp_loss_mse(ro, t, &loss, NULL));
    ck_assert(loss > 0.0);
    TU_FAIL(mlp_loss_mse(p, t, &loss, ro), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_loss_mse: grad is a read-only tensor"),
                  "%s", mlp_last_error());

    mlp_tensor *logits = tu_tensor(2, 4, 1);
    int32_t labels[4] = {0, 0, 0, 0};
    TU_FAIL(mlp_loss_softmax_xent(logits, labels, &loss, ro, NULL),
            MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "grad is a read-only tensor"), "%s",
                  mlp_last_error());
    TU_FAIL(mlp_loss_softmax_xent(logits, labels, &loss, g, NULL),
            MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "grad has shape [4,3] but must be [4,1]"),
                  "%s", mlp_last_error());
    mlp_tensor *flat = tu_tensor(1, 4);
    TU_FAIL(mlp_loss_softmax_xent(flat, labels, &loss, NULL, NULL),
            MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "logits have shape [4], not [N,K]"), "%s",
                  mlp_last_error());
    mlp_tensor_destroy(flat);
    mlp_tensor_destroy(logits);
    mlp_tensor_destroy(ro);
    mlp_tensor_destroy(p);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(g);
}
END_TEST

START_TEST(losses_do_not_leak)
{
    mlp_tensor *z = random_logits(8, 5, -2, 2, 9);
    mlp_tensor *g = tu_tensor(2, 8, 5);
    int32_t y[8] = {0, 1, 2, 3, 4, 0, 1, 2};
    long live = mlp__alloc_live();
    double loss;
    int32_t c;
    for (int i = 0; i < 10; i++) {
        TU_OK(mlp_loss_softmax_xent(z, y, &loss, g, &c));
        TU_OK(mlp_loss_mse(z, g, &loss, NULL));
    }
    y[3] = 9;
    TU_FAIL(mlp_loss_softmax_xent(z, y, &loss, g, &c), MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_tensor_destroy(g);
    mlp_tensor_destroy(z);
}
END_TEST

static Suite *loss_suite(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("xent");
    tcase_add_test(tc, xent_matches_reference);
    tcase_add_test(tc, xent_uniform_logits);
    tcase_add_test(tc, xent_gradient_finite_difference);
    tcase_add_test(tc, xent_large_logits_are_stable);
    tcase_add_test(tc, xent_logits_farther_apart_than_a_float);
    tcase_add_test(tc, xent_far_logits_give_no_subnormals);
    tcase_add_test(tc, xent_counts_ties_to_lowest_index);
    tcase_add_test(tc, xent_argmax_of_wide_rows);
    tcase_add_test(tc, xent_threads_same_bits);
    tcase_add_test(tc, xent_misuse);
    tcase_add_test(tc, xent_grad_may_not_overlap_logits);
    tcase_add_test(tc, xent_non_finite_logits);
    suite_add_tcase(s, tc);

    tc = tcase_create("mse");
    tcase_add_test(tc, mse_matches_reference);
    tcase_add_test(tc, mse_hand_computed);
    tcase_add_test(tc, mse_misuse);
    tcase_add_test(tc, mse_grad_overlaps_only_as_itself);
    tcase_add_test(tc, mse_messages_name_the_shapes);
    tcase_add_test(tc, losses_do_not_leak);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(loss_suite, 0)
