/**
 * @file
 * libmlpnet: loss functions.
 *
 * Every loss averages over the batch (the first dimension) and can write
 * its gradient with respect to the prediction in the same pass. A model
 * trains with the loss it was given (softmax cross-entropy unless told
 * otherwise); the functions here serve custom training loops.
 *
 * Two squared errors exist, on purpose, and they differ:
 * - mlp_loss_mse() (the course's sum-of-squares error, kept from 0.1) is
 *   halved and sums over a sample's outputs: (1/N) sum_n 0.5 ||P_n - T_n||^2.
 * - ::MLP_LOSS_MSE (mlp_loss_compute() and models) is the mean over samples
 *   and outputs and is NOT halved: (1/(N K)) sum (P - T)^2, the quantity of
 *   the MSE metric and of PyTorch's `MSELoss`. The loss takes each P - T as
 *   a float (as its gradient does) and the metric as a double, so the two
 *   may differ in their last digits (3497.7643 against 3497.7644).
 */
#ifndef MLPNET_LOSS_H
#define MLPNET_LOSS_H

#include <stdint.h>

#include "mlpnet/export.h"
#include "mlpnet/status.h"
#include "mlpnet/tensor.h"

MLP_EXTERN_C_BEGIN

/**
 * Softmax cross-entropy of logits Z [N, K] against integer labels:
 *   loss = -(1/N) sum_n log softmax(Z_n)[y_n]
 *   dZ   = (softmax(Z) - onehot(y)) / N
 * computed with the max-subtraction trick, so it is finite for logits of
 * any finite size.
 * @param logits   rank-2 tensor [N, K] (borrowed for the call)
 * @param labels   N labels in 0..K-1 (borrowed for the call)
 * @param loss     receives the mean loss; may be NULL
 * @param grad     receives dZ, same shape as logits (borrowed for the call;
 *                 writable, not made by mlp_tensor_wrap_const); may be NULL;
 *                 may not overlap logits in memory (share any of its floats)
 * @param correct  receives how many rows have their largest logit at the
 *                 label (ties go to the lowest index); may be NULL
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL tensor or labels,
 *         label out of range, a read-only grad, grad overlapping logits),
 *         MLP_STATUS_SHAPE_MISMATCH (rank is not 2, grad shape differs) or
 *         MLP_STATUS_NUMERIC (a logit is NaN or infinite)
 */
MLP_API mlp_status mlp_loss_softmax_xent(const mlp_tensor *logits, const int32_t *labels,
                                         double *loss, mlp_tensor *grad,
                                         int32_t *correct);

/**
 * Mean squared error of predictions P against targets T, both [N, ...]:
 *   loss = (1/N) sum_n 0.5 * ||P_n - T_n||^2
 *   dP   = (P - T) / N
 * @param pred    predictions (borrowed for the call)
 * @param target  targets of the same shape (borrowed for the call)
 * @param loss    receives the mean loss; may be NULL
 * @param grad    receives dP, same shape (borrowed for the call; writable);
 *                may be NULL; may be pred or target itself (the same floats:
 *                each value is read before its gradient is written there),
 *                but may not overlap either in part
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL pred or target, a
 *         read-only grad, a grad overlapping pred or target in part),
 *         MLP_STATUS_SHAPE_MISMATCH or MLP_STATUS_NUMERIC (the loss is not
 *         finite: a NaN or infinite prediction or target, or a prediction
 *         and its target so far apart that their difference overflows a
 *         float). On failure `grad` (and pred or target with it) is left
 *         as it was
 */
MLP_API mlp_status mlp_loss_mse(const mlp_tensor *pred, const mlp_tensor *target,
                                double *loss, mlp_tensor *grad);

/** The losses a model can train with (mlp_model_set_loss()). */
typedef enum mlp_loss_kind {
    /** Softmax cross-entropy on logits against class labels; optional class
     *  weights (a weighted mean, as PyTorch's `CrossEntropyLoss`). */
    MLP_LOSS_SOFTMAX_XENT = 1,
    /** Mean squared error against float targets: the mean over samples and
     *  outputs of (P - T)^2, not halved. */
    MLP_LOSS_MSE = 2,
    /** Binary cross-entropy on logits against float targets in [0, 1], one
     *  independent yes/no per output (binary and multi-label tasks), computed
     *  as max(z,0) - z t + log(1 + e^-|z|): finite for any finite logit. */
    MLP_LOSS_BCE_LOGITS = 3,
    /** Huber loss against float targets, mean over samples and outputs:
     *  0.5 d^2 where |d| <= delta, delta (|d| - 0.5 delta) beyond (PyTorch's
     *  `HuberLoss`); robust to outliers in the targets. */
    MLP_LOSS_HUBER = 4,
    /** Mean absolute error against float targets, mean over samples and
     *  outputs of |P - T|; its gradient at P = T is taken as 0. */
    MLP_LOSS_MAE = 5
} mlp_loss_kind;

/**
 * The name of a loss kind: "softmax_xent", "mse", "bce_logits", "huber" or
 * "mae" (the names `mlpnet --loss` takes).
 * @param kind  a loss kind
 * @return a static string, or NULL for a value that is no loss kind
 */
MLP_API const char *mlp_loss_kind_name(mlp_loss_kind kind);

/**
 * Whether a loss kind trains against class labels (softmax cross-entropy)
 * or against float targets (every other kind).
 * @param kind  a loss kind
 * @return 1 for class labels, 0 for float targets, -1 for a value that is no
 *         loss kind
 */
MLP_API int mlp_loss_kind_uses_labels(mlp_loss_kind kind);

/**
 * Any loss of ::mlp_loss_kind on a batch of predictions P [N, K] (for
 * softmax cross-entropy: logits), with its gradient dP.
 * @param kind           the loss
 * @param param          ::MLP_LOSS_HUBER: delta from FLT_MIN, 2^-126 =
 *                       1.17549435e-38, to below 3.4e38: a normal float,
 *                       as it is kept (0 picks 1.0); every other kind:
 *                       must be 0
 * @param class_weights  ::MLP_LOSS_SOFTMAX_XENT: K finite weights >= 0 (the
 *                       loss is sum w[y_n] l_n / sum w[y_n]), or NULL for
 *                       all 1; every other kind: must be NULL (borrowed for
 *                       the call)
 * @param pred           predictions, rank 2 [N, K] (borrowed for the call)
 * @param labels         for ::MLP_LOSS_SOFTMAX_XENT: N labels in 0..K-1, else
 *                       NULL (borrowed for the call)
 * @param target         for the other kinds: targets of pred's shape (for
 *                       ::MLP_LOSS_BCE_LOGITS in [0, 1]), else NULL (borrowed
 *                       for the call)
 * @param loss           receives the mean loss; may be NULL
 * @param grad           receives dP, pred's shape (borrowed for the call;
 *                       writable); may be NULL; may not overlap pred in
 *                       memory (share any of its floats); may be target
 *                       itself (the same floats), but may not overlap it in
 *                       part
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (unknown kind, a NULL that is
 *         needed or a pointer that must be NULL, bad param or weights, label
 *         out of range, BCE target outside [0, 1], weights of the batch's
 *         labels summing to 0, a read-only grad, grad overlapping pred or
 *         target as it may not), MLP_STATUS_SHAPE_MISMATCH (pred not rank
 *         2, target or grad of another shape) or MLP_STATUS_NUMERIC (a NaN
 *         or infinite prediction or target; for MSE, Huber and MAE also a
 *         prediction and its target so far apart that their difference
 *         overflows a float, and the loss with it, as in mlp_loss_mse(); for
 *         MSE also a gradient 2 (P - T) that overflows, with grad given, in
 *         a batch of one value)
 */
MLP_API mlp_status mlp_loss_compute(mlp_loss_kind kind, double param,
                                    const float *class_weights, const mlp_tensor *pred,
                                    const int32_t *labels, const mlp_tensor *target,
                                    double *loss, mlp_tensor *grad);

MLP_EXTERN_C_END

#endif /* MLPNET_LOSS_H */
