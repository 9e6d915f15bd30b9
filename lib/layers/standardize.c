/*
 * Standardisation:  y = (x - mean) / scale,  dx = dy / scale,
 * per input element (per feature), with mean and scale kept as state: they
 * are not trained, are saved with the model, and are set from data once
 * (mlp_model_fit_standardize, in the model room, which reads datasets).
 * A new layer is the identity: mean 0, scale 1.
 */
#include "backend/pool.h"
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

/* The scales are standard deviations, which mlp_model_fit_standardize
 * sets to 1 where they would be 0: every scale is > 0, and a scale of 0 or
 * below would divide by 0 or flip the feature's sign. The means may be any
 * finite value. */
static int64_t std_check_state(const mlp_layer *l, const float *s, const char **why)
{
    const int64_t f = l->n_state / 2;
    for (int64_t j = 0; j < f; j++)
        if (!(s[f + j] > 0.0f)) {
            *why = "a scale must be > 0";
            return f + j;
        }
    return -1;
}

/* A pass over rows of f features, for the pool's parts. */
typedef struct std_job {
    const float *in, *mean, *scale;
    float *out;
    int64_t f;
} std_job;

static void std_fwd_part(void *arg, int64_t i0, int64_t i1)
{
    const std_job *j = arg;
    for (int64_t i = i0; i < i1; i++) {
        const float *xi = j->in + i * j->f;
        float *yi = j->out + i * j->f;
        for (int64_t e = 0; e < j->f; e++)
            yi[e] = (xi[e] - j->mean[e]) / j->scale[e];
    }
}

static void std_bwd_part(void *arg, int64_t i0, int64_t i1)
{
    const std_job *j = arg;
    for (int64_t i = i0; i < i1; i++) {
        const float *dyi = j->in + i * j->f;
        float *dxi = j->out + i * j->f;
        for (int64_t e = 0; e < j->f; e++)
            dxi[e] = dyi[e] / j->scale[e];
    }
}

static mlp_status std_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                              mlp_mode mode)
{
    (void)mode;
    const int64_t f = l->in_size;
    std_job j = {.in = x, .mean = l->state, .scale = l->state + f, .out = y, .f = f};
    mlp__pool_chunks(n, mlp__pool_grain(f, MLP_POOL_MIN), 1, std_fwd_part, &j);
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
    std_job j = {.in = dy, .scale = l->state + f, .out = dx, .f = f};
    mlp__pool_chunks(n, mlp__pool_grain(f, MLP_POOL_MIN), 1, std_bwd_part, &j);
    return MLP_STATUS_OK;
}

const mlp_layer_ops mlp__standardize_ops = {
    .name = "standardize",
    .setup = std_setup,
    .init_params = std_init,
    .check_state = std_check_state,
    .forward = std_forward,
    .backward = std_backward,
    .backward_ignores_y = 1,
    .by_sample = 1,
};

mlp_status mlp_layer_create_standardize(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_STANDARDIZE, "mlp_layer_create_standardize");
}
