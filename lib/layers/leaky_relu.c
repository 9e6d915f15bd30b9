/* Leaky ReLU:  y = x if x > 0 else alpha x,  dx = dy if x > 0 else alpha dy. */
#include <math.h>

#include "elementwise.h"

/* The settings of a leaky ReLU layer (l->settings). */
struct leaky_relu_settings {
    float alpha;
};

static float alpha_of(const mlp_layer *l)
{
    return ((const struct leaky_relu_settings *)l->settings)->alpha;
}

/* Backward reads x: with alpha = 0, y cannot tell x > 0 from x = 0. */
MLP__ELEMENTWISE_PASSES(leaky_relu, alpha_of(l), MLP_VECTOR_CLONES,
                        xi > 0.0f ? xi : p * xi, MLP_VECTOR_CLONES,
                        xi > 0.0f ? gi : p * gi)

/* Model-file configuration, version 1: alpha (f32). */
static void leaky_relu_write_config(const mlp_layer *l, unsigned char *p)
{
    mlp__cfg_put_f32(p, alpha_of(l));
}

static mlp_status leaky_relu_read_config(mlp_layer **out, uint16_t version,
                                         const unsigned char *p)
{
    (void)version;
    return mlp_layer_create_leaky_relu(out, mlp__cfg_get_f32(p));
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int leaky_relu_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    switch (a) {
    case MLP_LAYER_ATTR_ALPHA: *v = alpha_of(l); return 1;
    default: return 0;
    }
}

const mlp_layer_ops mlp__leaky_relu_ops = {
    .name = "leaky_relu",
    .forward = leaky_relu_forward,
    .backward = leaky_relu_backward,
    .config_bytes = 4,
    .write_config = leaky_relu_write_config,
    .read_config = leaky_relu_read_config,
    .get_attr = leaky_relu_get_attr,
    .settings_size = sizeof(struct leaky_relu_settings),
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
    ((struct leaky_relu_settings *)(*out)->settings)->alpha = alpha;
    return MLP_STATUS_OK;
}
