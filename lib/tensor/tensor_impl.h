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
};

/* Point an embedded (never heap-allocated) tensor header at `data`. The
 * model uses these views to hand out its buffers without allocating. */
void mlp__tensor_view(mlp_tensor *t, float *data, int rank, const int32_t *dims);

/* Validate rank and dims and compute the element count; `fn` names the
 * caller in the error message. */
mlp_status mlp__check_dims(const char *fn, int rank, const int32_t *dims, int64_t *numel);

#endif /* MLPNET_TENSOR_IMPL_H */
