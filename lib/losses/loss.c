/*
 * The losses a model trains with, over raw buffers, and their running sums.
 *
 * Each kind maps a batch of outputs z [n, k] (logits for the classifying
 * kinds) and its labels or float targets to per-row (softmax) or
 * per-element (every other kind) losses, adds them to mlp__loss_sums with
 * their weights, and writes the gradient of the batch's mean. The same
 * sums give the metrics: accuracy for the classifying kinds; squared and
 * absolute errors and R^2 for kinds with float targets (for BCE they are
 * the errors of the probabilities).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/gemm.h"
#include "loss_impl.h"
#include "tensor/tensor_impl.h"

static const char *const loss_names[] = {
    [MLP_LOSS_SOFTMAX_XENT] = "softmax_xent",
    [MLP_LOSS_MSE] = "mse",
    [MLP_LOSS_BCE_LOGITS] = "bce_logits",
    [MLP_LOSS_HUBER] = "huber",
    [MLP_LOSS_MAE] = "mae",
};

static int known(mlp_loss_kind kind)
{
    return kind >= MLP_LOSS_SOFTMAX_XENT && kind <= MLP_LOSS_MAE;
}

const char *mlp_loss_kind_name(mlp_loss_kind kind)
{
    return known(kind) ? loss_names[kind] : NULL;
}

mlp_loss_kind mlp__loss_kind_named(const char *name, size_t len)
{
    for (int k = MLP_LOSS_SOFTMAX_XENT; k <= MLP_LOSS_MAE; k++)
        if (strlen(loss_names[k]) == len && memcmp(loss_names[k], name, len) == 0)
            return (mlp_loss_kind)k;
    return (mlp_loss_kind)0;
}

int mlp__loss_uses_labels(mlp_loss_kind kind)
{
    return kind == MLP_LOSS_SOFTMAX_XENT;
}

int mlp_loss_kind_uses_labels(mlp_loss_kind kind)
{
    return known(kind) ? mlp__loss_uses_labels(kind) : -1;
}

mlp_status mlp__loss_check(const mlp__loss *L, int32_t k, const char *fn)
{
    if (!known(L->kind))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %d is not a loss kind (1..%d)", fn,
                          (int)L->kind, (int)MLP_LOSS_MAE);
    if (L->kind == MLP_LOSS_HUBER && !(L->delta >= FLT_MIN && isfinite(L->delta)))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: Huber delta %g is not a finite normal float", fn,
                          (double)L->delta);
    if (L->class_w) {
        if (L->kind != MLP_LOSS_SOFTMAX_XENT)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: class weights apply to softmax_xent only, not %s", fn,
                              loss_names[L->kind]);
        for (int32_t j = 0; j < k; j++)
            if (!(L->class_w[j] >= 0.0f && isfinite(L->class_w[j])))
                return mlp__error(MLP_STATUS_INVALID_ARG,
                                  "%s: class weight %d is %g (weights must be finite "
                                  "and >= 0)",
                                  fn, (int)j, (double)L->class_w[j]);
    }
    return MLP_STATUS_OK;
}

/* Softmax cross-entropy with optional class weights: the fused kernel
 * writes unweighted rows scaled by 1/n; weights rescale each row. */
static mlp_status xent_batch(const mlp__loss *L, const float *z, int32_t n, int32_t k,
                             const int32_t *labels, float *dz, mlp__loss_sums *acc)
{
    double mean, wsum;
    int32_t correct;
    MLP_TRY(mlp__softmax_xent(z, n, k, labels, L->class_w, L->dist_share, dz, &mean,
                              &wsum, &correct));
    acc->loss += mean * wsum;
    acc->weight += wsum;
    acc->correct += correct;
    acc->judged += n;
    acc->rows += n;
    return MLP_STATUS_OK;
}

/* The element losses with float targets: d = z - t. MSE's gradient is 2 d,
 * but *g is d: value_batch puts the 2 into its scale (see there). */
static double elem_loss(const mlp__loss *L, float z, float t, float *g)
{
    const float d = z - t;
    switch (L->kind) {
    case MLP_LOSS_MSE: *g = d; return (double)d * d;
    case MLP_LOSS_HUBER: {
        const float a = fabsf(d);
        if (a <= L->delta) {
            *g = d;
            return 0.5 * (double)d * d;
        }
        *g = d > 0.0f ? L->delta : -L->delta;
        return (double)L->delta * ((double)a - 0.5 * (double)L->delta);
    }
    case MLP_LOSS_MAE:
        *g = d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f;
        return fabs((double)d);
    default: { /* MLP_LOSS_BCE_LOGITS */
        const float e = mlp__expf(-fabsf(z));
        const float p = z >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
        *g = p - t;
        return (double)(z > 0.0f ? z : 0.0f) - (double)z * t + log1p((double)e);
    }
    }
}

/* NUMERIC for element i, whose z - t is not finite. */
static mlp_status not_finite(const mlp__loss *L, const float *z, const float *t,
                             int64_t i, int32_t k)
{
    if (isfinite(z[i]) && isfinite(t[i]))
        return mlp__error(MLP_STATUS_NUMERIC,
                          "%s loss: row %d, output %d: prediction %g and target %g are "
                          "too far apart: their difference overflows a float, and the "
                          "loss with it",
                          loss_names[L->kind], (int)(i / k), (int)(i % k), (double)z[i],
                          (double)t[i]);
    return mlp__error(MLP_STATUS_NUMERIC, "%s loss: row %d, output %d: %s is %g",
                      loss_names[L->kind], (int)(i / k), (int)(i % k),
                      isfinite(z[i]) ? "the target" : "the prediction",
                      isfinite(z[i]) ? (double)t[i] : (double)z[i]);
}

static mlp_status value_batch(const mlp__loss *L, const float *z, int32_t n, int32_t k,
                              const float *t, float *dz, mlp__loss_sums *acc)
{
    const int64_t len = (int64_t)n * k;
    const int bce = L->kind == MLP_LOSS_BCE_LOGITS;
    for (int64_t i = 0; i < len; i++) {
        /* z - t is finite when z and t are and lie at most about FLT_MAX
         * apart. Farther, d overflows, and with it the loss of every kind
         * that takes d (as in mlp_loss_mse): NUMERIC, not an infinite loss.
         * BCE takes no difference; its targets are checked next. */
        if (!isfinite(z[i] - t[i]) && (!bce || !isfinite(z[i]) || !isfinite(t[i])))
            return not_finite(L, z, t, i, k);
        if (bce && !(t[i] >= 0.0f && t[i] <= 1.0f))
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "bce_logits loss: row %d, output %d: target %g is outside "
                              "[0, 1]",
                              (int)(i / k), (int)(i % k), (double)t[i]);
    }
    /* MSE's gradient 2 d / len is d times 2 / len: the same bits as 2 d
     * times 1 / len (both products are exact but for their one rounding),
     * without 2 d, which overflowed for |d| > FLT_MAX / 2. Only for a batch
     * of one value is 2 / len above 1; its gradient 2 d may overflow. */
    const float scale = 1.0f / (float)len;
    const float gscale = L->kind == MLP_LOSS_MSE ? 2.0f * scale : scale;
    if (dz && L->kind == MLP_LOSS_MSE && len == 1 && !isfinite(2.0f * (z[0] - t[0])))
        return mlp__error(MLP_STATUS_NUMERIC,
                          "mse loss: the gradient 2 (prediction - target) = 2 (%g - %g) "
                          "overflows a float",
                          (double)z[0], (double)t[0]);
    double total = 0.0, sse = 0.0, sae = 0.0;
    int64_t correct = 0;
    for (int32_t r = 0; r < n; r++) {
        for (int32_t j = 0; j < k; j++) {
            const int64_t i = (int64_t)r * k + j;
            float g;
            total += elem_loss(L, z[i], t[i], &g);
            if (dz)
                dz[i] = g * gscale;
            /* The errors of what the model predicts: the value, or for BCE
             * the probability. */
            float p = z[i];
            if (bce) {
                p = g + t[i];
                correct += (z[i] > 0.0f) == (t[i] >= 0.5f);
            }
            const double d = (double)p - t[i];
            sse += d * d;
            sae += fabs(d);
            if (acc->sse_k) {
                /* exact for targets within 2^28 of each other in scale */
                const double u = acc->t_ref ? (double)t[i] - acc->t_ref[j] : (double)t[i];
                acc->sse_k[j] += d * d;
                acc->t_sum[j] += u;
                acc->t_sq[j] += u * u;
            }
        }
    }
    acc->loss += total;
    acc->weight += (double)len;
    acc->sse += sse;
    acc->sae += sae;
    acc->elems += len;
    acc->rows += n;
    if (bce) {
        acc->correct += correct;
        acc->judged += len;
    }
    return MLP_STATUS_OK;
}

mlp_status mlp__loss_batch(const mlp__loss *L, const float *z, int32_t n, int32_t k,
                           const int32_t *labels, const float *t, float *dz,
                           mlp__loss_sums *acc)
{
    if (L->kind == MLP_LOSS_SOFTMAX_XENT)
        return xent_batch(L, z, n, k, labels, dz, acc);
    return value_batch(L, z, n, k, t, dz, acc);
}

double mlp__loss_sums_mean(const mlp__loss_sums *s)
{
    return s->weight > 0.0 ? s->loss / s->weight : 0.0;
}

double mlp__loss_sums_r2(const mlp__loss_sums *s, int32_t k)
{
    if (!s->sse_k || s->rows < 1 || k < 1)
        return NAN;
    /* sst = sum u^2 - (sum u)^2 / rows, of the targets' distances u from
     * t_ref, subtracts two nearly equal numbers when the targets vary little
     * beside their distance from t_ref. Each term carries at most about
     * rows x 2^-53 x sum u^2 of rounding: an sst within 3 times that of 0
     * cannot be told from 0. Targets all equal to 4.6467767f over 1677 rows,
     * summed from 0, left 1.3e-9 and made R^2 -2.4e13 where a constant
     * output counts 0 (from t_ref, every u is 0 there). */
    const double unit = DBL_EPSILON / 2.0;
    double r2 = 0.0;
    for (int32_t j = 0; j < k; j++) {
        double sst = s->t_sq[j] - s->t_sum[j] * s->t_sum[j] / (double)s->rows;
        if (sst > 3.0 * (double)s->rows * unit * s->t_sq[j])
            r2 += 1.0 - s->sse_k[j] / sst;
        else
            r2 += s->sse_k[j] == 0.0 ? 1.0 : 0.0;
    }
    return r2 / k;
}

void mlp__sigmoid_vec(const float *z, int64_t len, float *p)
{
    for (int64_t i = 0; i < len; i++) {
        const float e = mlp__expf(-fabsf(z[i]));
        p[i] = z[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
}

mlp_status mlp__loss_setting(mlp_loss_kind kind, double param, const char *fn,
                             float *delta)
{
    if (!known(kind))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %d is not a loss kind (1..%d)", fn,
                          (int)kind, (int)MLP_LOSS_MAE);
    *delta = 1.0f;
    if (kind == MLP_LOSS_HUBER) {
        if (param == 0.0)
            param = 1.0;
        char v[MLP__FMT_DOUBLE_LEN];
        mlp__fmt_double(param, v);
        if (!(param > 0.0))
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: Huber delta %s is not > 0", fn,
                              v);
        if (!(param < 3.4e38)) /* as it is kept: a float */
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: Huber delta %s is too large (it must be below 3.4e38, "
                              "as it is kept as a float)",
                              fn, v);
        /* Below FLT_MIN the float is subnormal or 0, which
         * mlp_set_flush_denormals reads as 0: 1e-300 was kept as 0, and
         * training reported a loss of 0 and never moved a parameter. The
         * bound is on the double: one just below FLT_MIN rounds up to it,
         * but to 0 while subnormals are flushed. */
        if (!(param >= FLT_MIN))
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: Huber delta %s is too small (it must be at least "
                              "1.17549435e-38, the smallest normal float, as it is kept "
                              "as a float)",
                              fn, v);
        *delta = (float)param;
    } else if (param != 0.0) {
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %s takes no parameter (param %g, must be 0)", fn,
                          loss_names[kind], param);
    }
    return MLP_STATUS_OK;
}

mlp_status mlp__loss_same_shape(const mlp_tensor *pred, const mlp_tensor *t,
                                const char *what, const char *note, const char *fn)
{
    int same = pred->rank == t->rank;
    for (int i = 0; same && i < t->rank; i++)
        same = pred->dims[i] == t->dims[i];
    if (same)
        return MLP_STATUS_OK;
    char a[64], b[64];
    return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                      "%s: %s has shape %s but pred has shape %s (they must be equal%s)",
                      fn, what, mlp__tensor_shape_str(t, a, sizeof a),
                      mlp__tensor_shape_str(pred, b, sizeof b), note);
}

mlp_status mlp_loss_compute(mlp_loss_kind kind, double param, const float *class_weights,
                            const mlp_tensor *pred, const int32_t *labels,
                            const mlp_tensor *target, double *loss, mlp_tensor *grad)
{
    static const char fn[] = "mlp_loss_compute";
    MLP_CHECK_ARG(pred, fn, "pred is NULL");
    char a[64];
    if (pred->rank != 2)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH, "%s: pred has shape %s, not [N,K]",
                          fn, mlp__tensor_shape_str(pred, a, sizeof a));
    const int32_t n = pred->dims[0], k = pred->dims[1];
    float delta;
    MLP_TRY(mlp__loss_setting(kind, param, fn, &delta));
    const char *name = loss_names[kind];
    mlp__loss L = {.kind = kind, .delta = delta, .class_w = class_weights};
    MLP_TRY(mlp__loss_check(&L, k, fn));
    if (mlp__loss_uses_labels(kind)) {
        MLP_CHECK_ARG(labels, fn, "labels is NULL (softmax_xent needs N labels)");
        MLP_CHECK_ARG(!target, fn,
                      "target must be NULL for softmax_xent (it takes labels)");
    } else {
        if (!target || labels)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              target ? "%s: labels must be NULL for %s (it takes float "
                                       "targets)"
                                     : "%s: target is NULL (%s needs float targets)",
                              fn, name);
        MLP_TRY(mlp__loss_same_shape(pred, target, "target", "", fn));
    }
    if (grad)
        MLP_TRY(mlp__loss_same_shape(pred, grad, "grad", "", fn));
    MLP_TRY(mlp__check_writable(grad, fn, "grad"));
    MLP_TRY(mlp__check_no_overlap(grad, "grad", pred, "pred", 0, fn));
    MLP_TRY(mlp__check_no_overlap(grad, "grad", target, "target", 1, fn));
    mlp__loss_sums s;
    memset(&s, 0, sizeof s);
    MLP_TRY(mlp__loss_batch(&L, pred->data, n, k, labels, target ? target->data : NULL,
                            grad ? grad->data : NULL, &s));
    if (loss)
        *loss = mlp__loss_sums_mean(&s);
    return MLP_STATUS_OK;
}
