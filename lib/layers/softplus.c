/*
 * Softplus:  y = log(1 + e^x),  dx = dy * sigmoid(x).
 *
 * Written as y = max(x, 0) + log1p(e^-|x|), so that e^ never overflows and
 * small values keep their digits; the derivative reuses e^-|x| the same way:
 * sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below.
 */
#include <math.h>

#include "backend/gemm.h"
#include "elementwise.h"

MLP__ELEMENTWISE_KIND(softplus, , fmaxf(xi, 0.0f) + log1pf(mlp__expf(-fabsf(xi))), ,
                      gi *(xi >= 0.0f ? 1.0f : mlp__expf(-fabsf(xi))) /
                          (1.0f + mlp__expf(-fabsf(xi))))

mlp_status mlp_layer_create_softplus(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_SOFTPLUS, "mlp_layer_create_softplus");
}
