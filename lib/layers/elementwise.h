/*
 * The two passes of an element-wise layer kind (private to the kinds that
 * use it: relu, leaky_relu, sigmoid, tanh, selu, softplus).
 *
 * MLP__ELEMENTWISE_PASSES(prefix, PARAM, FATTR, FWD, BATTR, BWD) defines
 * prefix_forward and prefix_backward for the kind's ops table. Each pass is
 * one loop over the batch's elements, split across threads above
 * MLP_PAR_MIN. The expressions see, per element:
 *   FWD:  xi, the input, and p, the kind's parameter;
 *   BWD:  xi, yi (the forward output), gi (dy) and p;
 * PARAM is evaluated once per call (for example the kind's alpha from its
 * settings; 0.0f without one). FATTR and BATTR are attributes of the two
 * functions: MLP_VECTOR_CLONES where the AVX2 clone vectorises the loop, or
 * nothing where the baseline loop is the faster one (some inlined
 * exponentials); each kind keeps the choice it was measured with.
 */
#ifndef MLPNET_LAYERS_ELEMENTWISE_H
#define MLPNET_LAYERS_ELEMENTWISE_H

#include "backend/threads.h"
#include "layer_impl.h"

#define MLP__ELEMENTWISE_PASSES(prefix, PARAM, FATTR, FWD, BATTR, BWD)                   \
    FATTR static mlp_status prefix##_forward(mlp_layer *l, const float *x, float *y,     \
                                             int32_t n, mlp_mode mode)                   \
    {                                                                                    \
        (void)mode;                                                                      \
        const int64_t len = (int64_t)n * l->in_size;                                     \
        const float p = (PARAM);                                                         \
        (void)p;                                                                         \
        MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)                                             \
        for (int64_t i = 0; i < len; i++) {                                              \
            const float xi = x[i];                                                       \
            y[i] = (FWD);                                                                \
        }                                                                                \
        return MLP_STATUS_OK;                                                            \
    }                                                                                    \
                                                                                         \
    BATTR static mlp_status prefix##_backward(mlp_layer *l, const float *x,              \
                                              const float *y, const float *dy,           \
                                              float *dx, int32_t n)                      \
    {                                                                                    \
        const int64_t len = (int64_t)n * l->in_size;                                     \
        const float p = (PARAM);                                                         \
        (void)p;                                                                         \
        MLP_PARALLEL_FOR(len >= MLP_PAR_MIN)                                             \
        for (int64_t i = 0; i < len; i++) {                                              \
            const float xi = x[i], yi = y[i], gi = dy[i];                                \
            (void)xi;                                                                    \
            (void)yi;                                                                    \
            dx[i] = (BWD);                                                               \
        }                                                                                \
        return MLP_STATUS_OK;                                                            \
    }

#endif /* MLPNET_LAYERS_ELEMENTWISE_H */
