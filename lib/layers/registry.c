/* The table of layer kinds. Indexed by mlp_layer_kind; row 0 is unused. */
#include "layer_impl.h"

#define MLP__LAYER_KIND_COUNT 16 /* private: one past the largest kind */

/* The ops tables, one per kind's file; only this table names them. */
extern const mlp_layer_ops mlp__dense_ops, mlp__sigmoid_ops, mlp__tanh_ops, mlp__relu_ops,
    mlp__leaky_relu_ops, mlp__elu_ops, mlp__selu_ops, mlp__reshape_ops,
    mlp__batchnorm_ops, mlp__dropout_ops, mlp__conv2d_ops, mlp__maxpool_ops,
    mlp__avgpool_ops, mlp__softplus_ops, mlp__standardize_ops;

static const mlp_layer_ops *const registry[] = {
    [0] = NULL,
    [MLP_LAYER_DENSE] = &mlp__dense_ops,
    [MLP_LAYER_SIGMOID] = &mlp__sigmoid_ops,
    [MLP_LAYER_TANH] = &mlp__tanh_ops,
    [MLP_LAYER_RELU] = &mlp__relu_ops,
    [MLP_LAYER_LEAKY_RELU] = &mlp__leaky_relu_ops,
    [MLP_LAYER_ELU] = &mlp__elu_ops,
    [MLP_LAYER_SELU] = &mlp__selu_ops,
    [MLP_LAYER_RESHAPE] = &mlp__reshape_ops,
    [MLP_LAYER_BATCHNORM] = &mlp__batchnorm_ops,
    [MLP_LAYER_DROPOUT] = &mlp__dropout_ops,
    [MLP_LAYER_CONV2D] = &mlp__conv2d_ops,
    [MLP_LAYER_MAXPOOL] = &mlp__maxpool_ops,
    [MLP_LAYER_AVGPOOL] = &mlp__avgpool_ops,
    [MLP_LAYER_SOFTPLUS] = &mlp__softplus_ops,
    [MLP_LAYER_STANDARDIZE] = &mlp__standardize_ops,
};

_Static_assert(sizeof registry / sizeof registry[0] == MLP__LAYER_KIND_COUNT,
               "every layer kind needs a registry row");

const mlp_layer_ops *mlp__layer_ops(mlp_layer_kind kind)
{
    if ((int)kind <= 0 || (int)kind >= MLP__LAYER_KIND_COUNT)
        return NULL;
    return registry[kind];
}

mlp_layer_kind mlp__layer_kind_named(const char *name, size_t len)
{
    for (int k = 1; k < MLP__LAYER_KIND_COUNT; k++)
        if (strlen(registry[k]->name) == len && memcmp(registry[k]->name, name, len) == 0)
            return (mlp_layer_kind)k;
    return (mlp_layer_kind)0;
}
