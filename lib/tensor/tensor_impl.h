/* Private layout of mlp_tensor. */
#ifndef MLPNET_TENSOR_IMPL_H
#define MLPNET_TENSOR_IMPL_H

#include "core/core.h"

struct mlp_tensor {
    int rank;
    int32_t dims[MLP_MAX_RANK];
    int64_t numel;
    float *data;
    int owns_data; /* 1: data came from mlp__alloc with this tensor */
    int read_only; /* 1: made by mlp_tensor_wrap_const; nothing may write to data */
    int embedded;  /* 1: a header inside another object (mlp__tensor_view), which
                      mlp_tensor_destroy leaves alone */
};

/* Point an embedded (never heap-allocated) tensor header at `data`. The
 * model uses these views to hand out its buffers without allocating. */
void mlp__tensor_view(mlp_tensor *t, float *data, int rank, const int32_t *dims);

/* Validate rank and dims and compute the element count; `fn` names the
 * caller in the error message. */
mlp_status mlp__check_dims(const char *fn, int rank, const int32_t *dims, int64_t *numel);

/* Refuse a read-only tensor where the library would write into it (an
 * output or gradient argument); `what` names the argument in the message. */
mlp_status mlp__check_writable(const mlp_tensor *t, const char *fn, const char *what);

/* Refuse an output tensor `out` (called `what`) whose floats share memory
 * with those of the input `in` (called `in_what`), compared as byte ranges;
 * nothing to check when either is NULL. With same_ok, `out` may hold the
 * very floats of `in` (the same start and count: a pass that reads each
 * value before it writes it there) and only a partial overlap is refused.
 * INVALID_ARG naming `fn`. */
mlp_status mlp__check_no_overlap(const mlp_tensor *out, const char *what,
                                 const mlp_tensor *in, const char *in_what, int same_ok,
                                 const char *fn);

/* Format a tensor's full shape as "[4,1]" into buf (for messages). */
const char *mlp__tensor_shape_str(const mlp_tensor *t, char *buf, size_t cap);

#endif /* MLPNET_TENSOR_IMPL_H */
