/* Private raw-buffer forms of the losses, used by the model. */
#ifndef MLPNET_LOSS_IMPL_H
#define MLPNET_LOSS_IMPL_H

#include "core/core.h"

/* Softmax cross-entropy over z [n, k] (see loss.h). dz may be NULL; loss and
 * correct may be NULL. Labels are checked. scale multiplies dz (1/n for a
 * mean). Returns OK, INVALID_ARG (label) or NUMERIC (non-finite logit). */
mlp_status mlp__softmax_xent(const float *z, int32_t n, int32_t k, const int32_t *labels,
                             float *dz, double *loss, int32_t *correct);

/* Row-wise softmax of z [n, k] into p (may alias z). */
void mlp__softmax(const float *z, int32_t n, int32_t k, float *p);

#endif /* MLPNET_LOSS_IMPL_H */
