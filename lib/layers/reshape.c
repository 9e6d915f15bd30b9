/*
 * Reshape and flatten: the same elements under a new per-sample shape.
 * Rows are contiguous, so both passes are plain copies. A target of rank 0
 * means "flatten".
 */
#include <string.h>

#include "layer_impl.h"

/* The settings of a reshape layer (l->settings). */
struct reshape_settings {
    mlp_shape target; /* rank 0: flatten */
};

static const mlp_shape *target_of(const mlp_layer *l)
{
    return &((const struct reshape_settings *)l->settings)->target;
}

static mlp_status reshape_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    const mlp_shape *target = target_of(l);
    int64_t n = mlp__shape_numel(in);
    if (target->rank == 0) {
        out->rank = 1;
        out->d[0] = (int32_t)n;
        return MLP_STATUS_OK;
    }
    if (mlp__shape_numel(target) != n) {
        char a[48], b[48];
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "reshape: cannot reshape %s (%lld elements) to %s (%lld)",
                          mlp__shape_str(in, a, sizeof a), (long long)n,
                          mlp__shape_str(target, b, sizeof b),
                          (long long)mlp__shape_numel(target));
    }
    *out = *target;
    return MLP_STATUS_OK;
}

static mlp_status reshape_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                  mlp_mode mode)
{
    (void)mode;
    memcpy(y, x, (size_t)n * (size_t)l->in_size * sizeof(float));
    return MLP_STATUS_OK;
}

static mlp_status reshape_backward(mlp_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int32_t n)
{
    (void)x;
    (void)y;
    memcpy(dx, dy, (size_t)n * (size_t)l->in_size * sizeof(float));
    return MLP_STATUS_OK;
}

/* Model-file configuration, version 1: rank (0 for flatten), then three
 * extents, zero beyond the rank (i32 each). */
static void reshape_write_config(const mlp_layer *l, unsigned char *p)
{
    const mlp_shape *target = target_of(l);
    mlp__cfg_put_i32(p, target->rank);
    for (int i = 0; i < 3; i++)
        mlp__cfg_put_i32(p + 4 + 4 * i, i < target->rank ? target->d[i] : 0);
}

static mlp_status reshape_read_config(mlp_layer **out, uint16_t version,
                                      const unsigned char *p)
{
    (void)version;
    *out = NULL;
    int32_t rank = mlp__cfg_get_i32(p), d[3];
    for (int i = 0; i < 3; i++)
        d[i] = mlp__cfg_get_i32(p + 4 + 4 * i);
    if (rank < 0 || rank > 3)
        return mlp__error(MLP_STATUS_BAD_FORMAT, "target rank %d is outside 0..3",
                          (int)rank);
    for (int i = rank; i < 3; i++)
        if (d[i] != 0)
            return mlp__error(MLP_STATUS_BAD_FORMAT,
                              "target extent %d beyond rank %d is %d, not 0", i,
                              (int)rank, (int)d[i]);
    return rank == 0 ? mlp_layer_create_flatten(out)
                     : mlp_layer_create_reshape(out, rank, d);
}

const mlp_layer_ops mlp__reshape_ops = {
    .name = "reshape",
    .setup = reshape_setup,
    .forward = reshape_forward,
    .backward = reshape_backward,
    .record = {.bytes = 16, .write = reshape_write_config, .read = reshape_read_config},
    .settings_size = sizeof(struct reshape_settings),
    .backward_ignores_y = 1,
    .by_sample = 1,
};

mlp_status mlp_layer_create_reshape(mlp_layer **out, int rank, const int32_t *dims)
{
    static const char fn[] = "mlp_layer_create_reshape";
    if (out)
        *out = NULL;
    if (rank < 1 || rank > 3)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: rank %d is outside 1..3", fn,
                          rank);
    MLP_CHECK_ARG(dims, fn, "dims is NULL");
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 1)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: dims[%d] = %d is not >= 1", fn,
                              i, (int)dims[i]);
        n *= dims[i];
        if (n > INT32_MAX)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: dims[0..%d] hold more than %d elements", fn, i,
                              (int)INT32_MAX);
    }
    MLP_TRY(mlp__layer_new(out, MLP_LAYER_RESHAPE, fn));
    mlp_shape *target = &((struct reshape_settings *)(*out)->settings)->target;
    target->rank = rank;
    for (int i = 0; i < rank; i++)
        target->d[i] = dims[i];
    return MLP_STATUS_OK;
}

mlp_status mlp_layer_create_flatten(mlp_layer **out)
{
    return mlp__layer_new(out, MLP_LAYER_RESHAPE, "mlp_layer_create_flatten");
}
