/**
 * @file
 * libmlpnet: loss functions.
 *
 * Both losses average over the batch (the first dimension) and can write
 * their gradient with respect to the prediction in the same pass.
 * mlp_model_train_step() and mlp_model_fit() use the softmax cross-entropy
 * on the model's output; the functions here serve custom training loops.
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
 * @param grad     receives dZ, same shape as logits; may be NULL; may not
 *                 alias logits
 * @param correct  receives how many rows have their largest logit at the
 *                 label (ties go to the lowest index); may be NULL
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL tensor or labels,
 *         label out of range), MLP_STATUS_SHAPE_MISMATCH (rank is not 2,
 *         grad shape differs) or MLP_STATUS_NUMERIC (a logit is NaN or
 *         infinite)
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
 * @param grad    receives dP, same shape; may be NULL
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_SHAPE_MISMATCH
 *         or MLP_STATUS_NUMERIC
 */
MLP_API mlp_status mlp_loss_mse(const mlp_tensor *pred, const mlp_tensor *target,
                                double *loss, mlp_tensor *grad);

MLP_EXTERN_C_END

#endif /* MLPNET_LOSS_H */
