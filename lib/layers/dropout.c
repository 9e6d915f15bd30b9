/*
 * Inverted dropout: in training mode each value is dropped (zeroed) with
 * probability p, or kept and scaled by 1/q with q = 1 - p, the keep
 * probability (so the expected activation is unchanged); in inference mode
 * the layer is the identity.
 *   y = x * mask,  dx = dy * mask,  mask in {0, 1/q}
 * The layer stores q, as it always has: model files hold q too, so files of
 * every library version agree (docs/file-format.md).
 * The mask comes from the model's noise generator (mlp_model_set_noise_seed)
 * and is kept in the layer's scratch for backward.
 */
#include <math.h>
#include <string.h>

#include "layer_impl.h"

/* The settings of a dropout layer (l->settings). */
struct dropout_settings {
    float keep; /* the keep probability q */
};

static float keep_of(const mlp_layer *l)
{
    return ((const struct dropout_settings *)l->settings)->keep;
}

static mlp_status dropout_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    *out = *in;
    l->scratch_per_sample = mlp__shape_numel(in);
    return MLP_STATUS_OK;
}

static mlp_status dropout_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                  mlp_mode mode)
{
    const int64_t len = (int64_t)n * l->in_size;
    if (mode != MLP_MODE_TRAIN) {
        memcpy(y, x, (size_t)len * sizeof(float));
        return MLP_STATUS_OK;
    }
    float *mask = l->scratch;
    const float keep = keep_of(l), scale = 1.0f / keep;
    for (int64_t i = 0; i < len; i++)
        mask[i] = mlp__rng_uniform(l->noise) < keep ? scale : 0.0f;
    for (int64_t i = 0; i < len; i++)
        y[i] = x[i] * mask[i];
    return MLP_STATUS_OK;
}

MLP_VECTOR_CLONES
static mlp_status dropout_backward(mlp_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int32_t n)
{
    (void)x;
    (void)y;
    const int64_t len = (int64_t)n * l->in_size;
    const float *mask = l->scratch;
    for (int64_t i = 0; i < len; i++)
        dx[i] = dy[i] * mask[i];
    return MLP_STATUS_OK;
}

/* Model-file configuration, version 1: the keep probability (f32). */
static void dropout_write_config(const mlp_layer *l, unsigned char *p)
{
    mlp__cfg_put_f32(p, keep_of(l));
}

static mlp_status dropout_read_config(mlp_layer **out, uint16_t version,
                                      const unsigned char *p)
{
    (void)version;
    return mlp_layer_create_dropout(out, mlp__cfg_get_f32(p));
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int dropout_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    switch (a) {
    /* Computed in float, as mlp_layer_create_dropout_p computes the keep
     * probability, so that creating a layer from the value gives it back. */
    case MLP_LAYER_ATTR_DROP_PROBABILITY: *v = 1.0f - keep_of(l); return 1;
    default: return 0;
    }
}

const mlp_layer_ops mlp__dropout_ops = {
    .name = "dropout",
    .setup = dropout_setup,
    .forward = dropout_forward,
    .backward = dropout_backward,
    .record = {.bytes = 4, .write = dropout_write_config, .read = dropout_read_config},
    .get_attr = dropout_get_attr,
    .settings_size = sizeof(struct dropout_settings),
    .backward_ignores_y = 1,
};

static mlp_status new_dropout(mlp_layer **out, float keep, const char *fn)
{
    MLP_TRY(mlp__layer_new(out, MLP_LAYER_DROPOUT, fn));
    ((struct dropout_settings *)(*out)->settings)->keep = keep;
    return MLP_STATUS_OK;
}

/* Deprecated: takes the keep probability (see layer.h). */
mlp_status mlp_layer_create_dropout(mlp_layer **out, float keep)
{
    static const char fn[] = "mlp_layer_create_dropout";
    if (out)
        *out = NULL;
    if (!(keep > 0.0f && keep <= 1.0f))
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: keep probability %g is outside (0, 1] (this deprecated call "
            "takes the probability of keeping; mlp_layer_create_dropout_p "
            "takes the probability of dropping)",
            fn, (double)keep);
    /* The layer's drop probability (mlp_layer_get_attr) is 1 - keep in
     * float, which is 1 for a keep of 2^-25 or below: a layer that
     * mlp_layer_create_dropout_p, given that value, refuses to make. */
    const float drop_p = 1.0f - keep;
    if (!(drop_p < 1.0f))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: keep probability %g is too small: its drop probability "
                          "1 - keep rounds to 1 in float, which "
                          "mlp_layer_create_dropout_p refuses (keep must be above 2^-25, "
                          "about 2.98e-8)",
                          fn, (double)keep);
    return new_dropout(out, keep, fn);
}

mlp_status mlp_layer_create_dropout_p(mlp_layer **out, float drop_p)
{
    static const char fn[] = "mlp_layer_create_dropout_p";
    if (out)
        *out = NULL;
    if (!(drop_p >= 0.0f && drop_p < 1.0f))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: drop probability %g is outside [0, 1)", fn,
                          (double)drop_p);
    return new_dropout(out, 1.0f - drop_p, fn);
}
