/* Private raw-buffer forms of the losses, used by the model. */
#ifndef MLPNET_LOSS_IMPL_H
#define MLPNET_LOSS_IMPL_H

#include "core/core.h"
#include "mlpnet/loss.h"
#include "tensor/tensor_impl.h"

/* Softmax cross-entropy over z [n, k] (see loss.h), with optional class
 * weights (k of them, checked by the caller): the loss is the weighted mean
 * sum w[y] l / sum w[y] and dz its gradient (the plain mean without
 * weights). dz, loss, weight (receives sum w[y], or n) and correct may be
 * NULL. Labels are checked. Returns OK, INVALID_ARG (label; weights of the
 * batch's labels summing to 0, unless zero_ok: then the loss and dz are 0)
 * or NUMERIC (non-finite logit). */
mlp_status mlp__softmax_xent(const float *z, int32_t n, int32_t k, const int32_t *labels,
                             const float *class_w, int zero_ok, float *dz, double *loss,
                             double *weight, int32_t *correct);

/* Row-wise softmax of z [n, k] into p (may alias z). */
void mlp__softmax(const float *z, int32_t n, int32_t k, float *p);

/* Element-wise logistic sigmoid of z [len] into p (may alias z). */
void mlp__sigmoid_vec(const float *z, int64_t len, float *p);

/* A loss as a model uses it: its kind and settings (settings checked by
 * the caller with mlp__loss_check). */
typedef struct mlp__loss {
    mlp_loss_kind kind;
    float delta;          /* Huber: where the square turns linear, a finite
                           * normal float (FLT_MIN or more) */
    const float *class_w; /* softmax cross-entropy: k weights >= 0, or NULL */
    /* 1: each batch is a part of a larger sum (one rank's share of a
     * data-parallel batch, or a batch of an evaluation), whose class
     * weights may sum to 0 (its loss and gradient are then 0; the caller
     * refuses a total of 0) */
    int dist_share;
} mlp__loss;

/*
 * Sums over any number of batches, from which the mean loss and the metrics
 * follow (mlp__loss_sums_*). Zero it before the first batch. The per-output
 * arrays (k each) are the caller's and optional: with them, R^2 can be
 * computed; they must be zeroed too.
 *
 * t_sum and t_sq sum each target's distance from t_ref, a target of the set
 * (its first row's): R^2's spread of the targets, sum u^2 - (sum u)^2 /
 * rows, then cancels only as much as the targets spread from their mean
 * (targets 1000 + 0.01 x over 60,000 rows, summed from 0, put R^2 off in
 * its fourth digit).
 * Sums to be added together (a split step's parts, the ranks of a
 * distributed model) must have the same t_ref: row 0 of the same data.
 * NULL measures from 0.
 */
typedef struct mlp__loss_sums {
    double loss;     /* weighted sum of the per-row or per-element losses */
    double weight;   /* the sum of their weights (the loss's denominator) */
    int64_t correct; /* classification: rows (softmax) or elements (BCE) right */
    int64_t judged;  /* ... out of this many */
    double sse, sae; /* every kind with float targets: squared and absolute */
    int64_t elems;   /* errors summed over this many elements */
    double *t_sum, *t_sq, *sse_k; /* per output: sum u, sum u^2, sum (p - t)^2 */
    const float *t_ref;           /* per output: u = t - t_ref, or t for NULL */
    int64_t rows;                 /* rows seen (the count behind t_sum and t_sq) */
} mlp__loss_sums;

/* Check a loss kind and its parameter (mlp_loss_compute, mlp_model_set_loss):
 * OK with *delta the Huber delta (param as a float, or 1.0 for 0; refused
 * unless param is from FLT_MIN to below 3.4e38) or 1.0 for the other
 * kinds, which take no parameter; else INVALID_ARG naming `fn`. */
mlp_status mlp__loss_setting(mlp_loss_kind kind, double param, const char *fn,
                             float *delta);

/* OK when `t` (called `what`) has pred's shape; else SHAPE_MISMATCH, the
 * message ending in `note` ("" for none) inside its parentheses. */
mlp_status mlp__loss_same_shape(const mlp_tensor *pred, const mlp_tensor *t,
                                const char *what, const char *note, const char *fn);

/* The loss kind whose name (mlp_loss_kind_name) is the `len` bytes at
 * `name`, or 0. */
mlp_loss_kind mlp__loss_kind_named(const char *name, size_t len);

/* 1 when the loss takes class labels, 0 when it takes float targets. */
int mlp__loss_uses_labels(mlp_loss_kind kind);

/* OK when `kind` is a loss and its settings fit k outputs; else INVALID_ARG
 * with a message that starts with `fn`. */
mlp_status mlp__loss_check(const mlp__loss *L, int32_t k, const char *fn);

/*
 * One batch: z [n, k] against labels [n] (loss kinds that take labels) or
 * targets t [n, k]; adds the batch's sums to acc and, when dz is not NULL,
 * writes the gradient of the batch's mean loss (the batch's loss sum over
 * its weight) with respect to z. Returns OK, INVALID_ARG (label outside
 * 0..k-1, a BCE target outside [0, 1], a batch whose class weights sum to
 * 0 unless L->dist_share) or NUMERIC (a NaN or infinite output or target,
 * an output and target whose difference overflows, or MSE's gradient of
 * one value overflowing).
 */
mlp_status mlp__loss_batch(const mlp__loss *L, const float *z, int32_t n, int32_t k,
                           const int32_t *labels, const float *t, float *dz,
                           mlp__loss_sums *acc);

/* The mean loss of the sums (0 when nothing was summed). */
double mlp__loss_sums_mean(const mlp__loss_sums *s);

/* The mean R^2 over the k outputs (scikit-learn's uniform average); an
 * output whose targets are all equal, or whose sum of squares about their
 * mean is within the sums' rounding of 0, counts 1 when predicted exactly
 * and 0 otherwise. NaN without the per-output arrays or rows. */
double mlp__loss_sums_r2(const mlp__loss_sums *s, int32_t k);

#endif /* MLPNET_LOSS_IMPL_H */
