/* What bench_conv and bench_layout share: the conv layers they measure and
 * the model that holds one. Define BENCH_NAME before including it. */
#ifndef MLPNET_BENCH_CONV_CASE_H
#define MLPNET_BENCH_CONV_CASE_H

#include "bench_util.h"
#include "layers/layer_impl.h"
#include "mlpnet/mlpnet.h"

typedef struct {
    const char *name;
    int32_t c, h, w, f, k, pad;
} conv_case;

/* The report's two conv layers and the 32/64-map ConvNet's two, at the
 * sizes they see in those networks. */
static const conv_case bench_conv_cases[] = {
    {"report conv1 1->5 5x5 28x28", 1, 28, 28, 5, 5, 0},
    {"report conv2 5->10 5x5 12x12", 5, 12, 12, 10, 5, 0},
    {"convnet 1->32 3x3 p1 28x28", 1, 28, 28, 32, 3, 1},
    {"convnet 32->64 3x3 p1 14x14", 32, 14, 14, 64, 3, 1},
};
#define BENCH_CONV_CASES (sizeof bench_conv_cases / sizeof bench_conv_cases[0])

/* A model of a 1x1 conv (C -> C) and then the case's conv (stride 1, the
 * case's padding, with or without a bias; kept off the direct correlation
 * and Winograd's path at `keep` 1, and on im2col of groups of samples too
 * at 2, whatever its shape: mlp__conv2d_keep): the 1x1 conv in front makes
 * the measured layer, layer 1, a non-first layer, so its backward computes
 * the input gradient too, as in a real network. */
static inline mlp_model *bench_conv_model(const conv_case *cc, int use_bias, int keep)
{
    mlp_model *m = NULL;
    CHECK(mlp_model_create(&m, 3, (const int32_t[]){cc->c, cc->h, cc->w}, 1));
    mlp_layer *l = NULL;
    CHECK(mlp_layer_create_conv2d(&l, cc->c, cc->c, 1, 1));
    CHECK(mlp_model_add(m, l));
    CHECK(mlp_layer_create_conv2d(&l, cc->c, cc->f, cc->k, cc->k));
    CHECK(mlp_layer_set_conv2d(l, 1, 1, cc->pad, cc->pad, 1, 1));
    CHECK(mlp_layer_set_use_bias(l, use_bias));
    mlp__conv2d_keep(l, keep);
    CHECK(mlp_model_add(m, l));
    return m;
}

#endif /* MLPNET_BENCH_CONV_CASE_H */
