/*
 * Dense (affine) layer:  y = x W + b,  x [n, in], W [in, out], b [out].
 *
 * Backward:  dW = x^T dy,  db = sum over rows of dy,  dx = dy W^T.
 * All three products are single cblas_sgemm calls over the whole batch; the
 * bias is written into y first so the forward product accumulates onto it
 * (beta = 1) instead of making a second pass over y.
 */
#include <string.h>

#include "backend/gemm.h"
#include "layer_impl.h"

/* The settings of a dense layer (l->settings). */
struct dense_settings {
    int32_t units;
    int use_bias; /* 1 unless turned off (mlp_layer_set_use_bias) */
};

static mlp_status dense_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    const struct dense_settings *s = l->settings;
    int64_t fan_in = mlp__shape_numel(in);
    if (fan_in > INT32_MAX / (s->units > 0 ? s->units : 1))
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "dense: %lld inputs x %d units is too many weights",
                          (long long)fan_in, (int)s->units);
    out->rank = 1;
    out->d[0] = s->units;
    l->n_weights = fan_in * s->units;
    l->n_params = l->n_weights + (s->use_bias ? s->units : 0);
    return MLP_STATUS_OK;
}

static void dense_init(mlp_layer *l, mlp_rng *rng)
{
    const struct dense_settings *s = l->settings;
    mlp__init_weights(l, rng, l->params, l->n_weights, l->in_size, s->units);
    if (s->use_bias)
        memset(l->params + l->n_weights, 0, (size_t)s->units * sizeof(float));
}

static mlp_status dense_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                mlp_mode mode)
{
    (void)mode;
    const struct dense_settings *s = l->settings;
    const int in = (int)l->in_size, out = s->units;
    const float *w = l->params, *b = l->params + l->n_weights;
    if (s->use_bias) {
        for (int32_t i = 0; i < n; i++)
            memcpy(y + (int64_t)i * out, b, (size_t)out * sizeof(float));
    }
    mlp__sgemm(0, 0, n, out, in, 1.0f, x, in, w, out, s->use_bias ? 1.0f : 0.0f, y, out);
    return MLP_STATUS_OK;
}

static mlp_status dense_backward(mlp_layer *l, const float *x, const float *y,
                                 const float *dy, float *dx, int32_t n)
{
    (void)y;
    const struct dense_settings *s = l->settings;
    const int in = (int)l->in_size, out = s->units;
    float *dw = l->grads, *db = l->grads + l->n_weights;
    mlp__sgemm(1, 0, in, out, n, 1.0f, x, in, dy, out, 0.0f, dw, out);
    if (s->use_bias)
        mlp__col_sums(dy, n, out, db);
    if (dx)
        mlp__sgemm(0, 1, n, in, out, 1.0f, dy, out, l->params, out, 0.0f, dx, in);
    return MLP_STATUS_OK;
}

/* Model-file configuration, version 1: units, use_bias (i32 each). */
static void dense_write_config(const mlp_layer *l, unsigned char *p)
{
    const struct dense_settings *s = l->settings;
    mlp__cfg_put_i32(p, s->units);
    mlp__cfg_put_i32(p + 4, s->use_bias);
}

static mlp_status dense_read_config(mlp_layer **out, uint16_t version,
                                    const unsigned char *p)
{
    (void)version;
    *out = NULL;
    int32_t bias = mlp__cfg_get_i32(p + 4);
    if (bias != 0 && bias != 1)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "use_bias = %d is not 0 or 1",
                          (int)bias);
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_dense(&l, mlp__cfg_get_i32(p));
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_use_bias(l, bias);
    return mlp__config_done(out, l, st);
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int dense_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    const struct dense_settings *s = l->settings;
    switch (a) {
    case MLP_LAYER_ATTR_UNITS: *v = s->units; return 1;
    case MLP_LAYER_ATTR_USE_BIAS: *v = s->use_bias; return 1;
    default: return 0;
    }
}

static void dense_set_use_bias(mlp_layer *l, int use_bias)
{
    ((struct dense_settings *)l->settings)->use_bias = use_bias;
}

const mlp_layer_ops mlp__dense_ops = {
    .name = "dense",
    .setup = dense_setup,
    .init_params = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
    .record = {.bytes = 8, .write = dense_write_config, .read = dense_read_config},
    .get_attr = dense_get_attr,
    .settings_size = sizeof(struct dense_settings),
    .set_use_bias = dense_set_use_bias,
};

mlp_status mlp_layer_create_dense(mlp_layer **out, int32_t units)
{
    if (out)
        *out = NULL;
    if (units < 1)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "mlp_layer_create_dense: units = %d is not >= 1", (int)units);
    MLP_TRY(mlp__layer_new(out, MLP_LAYER_DENSE, "mlp_layer_create_dense"));
    struct dense_settings *s = (*out)->settings;
    s->units = units;
    s->use_bias = 1;
    return MLP_STATUS_OK;
}
