/* Logistic sigmoid:  y = 1 / (1 + e^-x),  dx = dy * y * (1 - y). */
#include "backend/gemm.h"
#include "elementwise.h"

MLP__ELEMENTWISE_KIND_IN_PLACE(sigmoid, , 1.0f / (1.0f + mlp__expf(-xi)),
                               MLP_VECTOR_CLONES, (gi * yi * (1.0f - yi)))

mlp_status mlp_layer_create_sigmoid(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_SIGMOID, "mlp_layer_create_sigmoid");
}
