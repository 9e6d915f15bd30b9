/* Hyperbolic tangent:  y = tanh(x),  dx = dy * (1 - y^2). */
#include <math.h>

#include "elementwise.h"

MLP__ELEMENTWISE_KIND_IN_PLACE(tanh, , tanhf(xi), , (gi * (1.0f - yi * yi)))

mlp_status mlp_layer_create_tanh(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_TANH, "mlp_layer_create_tanh");
}
