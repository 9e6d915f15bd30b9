/* Leaky ReLU:  y = x if x > 0 else alpha x,  dx = dy if x > 0 else alpha dy. */
#include <math.h>

#include "elementwise.h"

/* Backward reads x: with alpha = 0, y cannot tell x > 0 from x = 0. */
MLP__ELEMENTWISE_PASSES(leaky_relu, mlp__alpha_of(l), MLP_VECTOR_CLONES,
                        xi > 0.0f ? xi : p * xi, MLP_VECTOR_CLONES,
                        xi > 0.0f ? gi : p * gi)

/* Model-file configuration, version 1: alpha (f32), written by mlp__alpha_write. */
static mlp_status leaky_relu_read_config(mlp_layer **out, uint16_t version,
                                         const unsigned char *p)
{
    (void)version;
    return mlp_layer_create_leaky_relu(out, mlp__cfg_get_f32(p));
}

const mlp_layer_ops mlp__leaky_relu_ops = {
    .name = "leaky_relu",
    .forward = leaky_relu_forward,
    .backward = leaky_relu_backward,
    .record = {.bytes = 4, .write = mlp__alpha_write, .read = leaky_relu_read_config},
    .get_attr = mlp__alpha_get_attr,
    .settings_size = sizeof(mlp__alpha_settings),
    .by_sample = 1,
};

mlp_status mlp_layer_create_leaky_relu(mlp_layer **out, float alpha)
{
    if (out)
        *out = NULL;
    if (!isfinite(alpha) || alpha < 0.0f)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "mlp_layer_create_leaky_relu: alpha = %g is not finite and >= 0",
            (double)alpha);
    MLP_TRY(mlp__layer_new(out, MLP_LAYER_LEAKY_RELU, "mlp_layer_create_leaky_relu"));
    ((mlp__alpha_settings *)(*out)->settings)->alpha = alpha;
    return MLP_STATUS_OK;
}
