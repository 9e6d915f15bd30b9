/*
 * Standardisation:  y = (x - mean) / scale,  dx = dy / scale,
 * per input element (per feature), with mean and scale kept as state: they
 * are not trained, are saved with the model, and are set from data once
 * (mlp_model_fit_standardize, in the model room, which reads datasets).
 * A new layer is the identity: mean 0, scale 1.
 */
#include "backend/threads.h"
#include "layer_impl.h"

static mlp_status std_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    *out = *in;
    l->n_state = 2 * mlp__shape_numel(in);
    return MLP_STATUS_OK;
}

static void std_init(mlp_layer *l, mlp_rng *rng)
{
    (void)rng;
    const int64_t f = l->n_state / 2;
    for (int64_t j = 0; j < f; j++) {
        l->state[j] = 0.0f;     /* mean */
        l->state[f + j] = 1.0f; /* scale */
    }
}

static mlp_status std_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                              mlp_mode mode)
{
    (void)mode;
    const int64_t f = l->in_size;
    const float *mean = l->state, *scale = l->state + f;
    MLP_PARALLEL_FOR((int64_t)n * f >= MLP_PAR_MIN)
    for (int32_t i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * f;
        float *yi = y + (int64_t)i * f;
        for (int64_t j = 0; j < f; j++)
            yi[j] = (xi[j] - mean[j]) / scale[j];
    }
    return MLP_STATUS_OK;
}

static mlp_status std_backward(mlp_layer *l, const float *x, const float *y,
                               const float *dy, float *dx, int32_t n)
{
    (void)x;
    (void)y;
    if (!dx)
        return MLP_STATUS_OK;
    const int64_t f = l->in_size;
    const float *scale = l->state + f;
    MLP_PARALLEL_FOR((int64_t)n * f >= MLP_PAR_MIN)
    for (int32_t i = 0; i < n; i++) {
        const float *dyi = dy + (int64_t)i * f;
        float *dxi = dx + (int64_t)i * f;
        for (int64_t j = 0; j < f; j++)
            dxi[j] = dyi[j] / scale[j];
    }
    return MLP_STATUS_OK;
}

const mlp_layer_ops mlp__standardize_ops = {
    .name = "standardize",
    .setup = std_setup,
    .init_params = std_init,
    .forward = std_forward,
    .backward = std_backward,
};

mlp_status mlp_layer_create_standardize(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_STANDARDIZE, "mlp_layer_create_standardize");
}
