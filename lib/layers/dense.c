/*
 * Dense (affine) layer:  y = x W + b,  x [n, in], W [in, out], b [out].
 *
 * Backward:  dW = x^T dy,  db = sum over rows of dy,  dx = dy W^T.
 * Each product is one cblas_sgemm call per part of the thread pool; the
 * bias is written into each part's block of y first so the forward product
 * accumulates onto it (beta = 1) instead of making a second pass over y.
 * The backward pass is one pool job: each part computes its blocks of dW,
 * db and dx.
 */
#include <string.h>

#include "backend/gemm.h"
#include "backend/pool.h"
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
    mlp__gemm g = {0,         0,
                   n,         out,
                   in,        1.0f,
                   x,         in,
                   l->params, out,
                   0.0f,      y,
                   out,       s->use_bias ? l->params + l->n_weights : NULL};
    mlp__sgemm_run(&g);
    return MLP_STATUS_OK;
}

/* The backward pass as one pool job: part t computes its block of each
 * product (as mlp__sgemm_run would cut it) and its block of the bias
 * gradient's columns. */
typedef struct dense_bwd_job {
    mlp__gemm dw, dx;
    int parts, parts_dw, parts_dx;
    const float *dy;
    float *db;
    int n, out;
} dense_bwd_job;

static void dense_bwd_part(void *arg, int64_t lo, int64_t hi)
{
    const dense_bwd_job *j = arg;
    for (int t = (int)lo; t < (int)hi; t++) {
        if (t < j->parts_dw)
            mlp__sgemm_part(&j->dw, t, j->parts_dw);
        if (j->db) {
            int64_t c0, c1;
            mlp__pool_range(j->out, j->parts, 16, t, &c0, &c1);
            if (c0 < c1)
                mlp__col_sums_block(j->dy, j->n, j->out, c0, c1, j->db);
        }
        if (t < j->parts_dx)
            mlp__sgemm_part(&j->dx, t, j->parts_dx);
    }
}

static mlp_status dense_backward(mlp_layer *l, const float *x, const float *y,
                                 const float *dy, float *dx, int32_t n)
{
    (void)y;
    const struct dense_settings *s = l->settings;
    const int in = (int)l->in_size, out = s->units;
    dense_bwd_job j = {
        .dw = {1, 0, in, out, n, 1.0f, x, in, dy, out, 0.0f, l->grads, out, NULL},
        .dx = {0, 1, n, in, out, 1.0f, dy, out, l->params, out, 0.0f, dx, in, NULL},
        .dy = dy,
        .db = s->use_bias ? l->grads + l->n_weights : NULL,
        .n = n,
        .out = out,
    };
    j.parts_dw = mlp__sgemm_parts(&j.dw);
    j.parts_dx = dx ? mlp__sgemm_parts(&j.dx) : 0;
    j.parts = j.parts_dw > j.parts_dx ? j.parts_dw : j.parts_dx;
    mlp__pool_for(j.parts, 1, 1, dense_bwd_part, &j);
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
    .takes_init = 1,
    .forward = dense_forward,
    .backward = dense_backward,
    .record = {.bytes = 8, .write = dense_write_config, .read = dense_read_config},
    .get_attr = dense_get_attr,
    .settings_size = sizeof(struct dense_settings),
    .set_use_bias = dense_set_use_bias,
    .backward_ignores_y = 1,
    .by_sample = 1,
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
