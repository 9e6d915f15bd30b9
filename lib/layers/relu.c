/* Rectified linear unit:  y = max(0, x),  dx = dy * [y > 0]. NaN gives NaN
 * (mlp__relu), whose gradient is 0 (NaN is not > 0), as PyTorch's. */
#include "elementwise.h"

/* Backward reads y only (y > 0 exactly where x > 0): the model may run the
 * layer in place, which saves a buffer and the traffic of a fresh one. */
MLP__ELEMENTWISE_KIND_IN_PLACE(relu, MLP_VECTOR_CLONES, mlp__relu(xi), MLP_VECTOR_CLONES,
                               yi > 0.0f ? gi : 0.0f)

mlp_status mlp_layer_create_relu(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_RELU, "mlp_layer_create_relu");
}
