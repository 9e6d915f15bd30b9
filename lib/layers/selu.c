/*
 * Scaled ELU (Klambauer et al., 2017):
 *   y = lambda x if x > 0 else lambda alpha (e^x - 1),
 * with the self-normalising constants below. For x <= 0,
 * dy/dx = lambda alpha e^x = y + lambda alpha.
 */
#include "backend/gemm.h"
#include "elementwise.h"

#define SELU_LAMBDA 1.0507009873554804934f
#define SELU_ALPHA 1.6732632423543772848f

/* For x <= 0 the backward slope is y + lambda alpha (no exponential). */
MLP__ELEMENTWISE_KIND(selu, ,
                      xi > 0.0f ? SELU_LAMBDA * xi
                                : (SELU_LAMBDA * SELU_ALPHA) * (mlp__expf(xi) - 1.0f),
                      MLP_VECTOR_CLONES,
                      xi > 0.0f ? SELU_LAMBDA * gi : gi * (yi + SELU_LAMBDA * SELU_ALPHA))

mlp_status mlp_layer_create_selu(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_SELU, "mlp_layer_create_selu");
}
