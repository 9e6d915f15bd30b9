/*
 * The two passes of an element-wise layer kind (private to the kinds that
 * use it: relu, leaky_relu, elu, sigmoid, tanh, selu, softplus), and what
 * the kinds with one setting, alpha, share.
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

/*
 * MLP__ELEMENTWISE_KIND(prefix, FATTR, FWD, BATTR, BWD) is the whole of a
 * kind without settings: its two passes as above (no parameter) and its ops
 * table, mlp__prefix_ops, named "prefix" (the name registry.c and model
 * files use). The kind's file adds its public creator.
 */
#define MLP__ELEMENTWISE_KIND(prefix, FATTR, FWD, BATTR, BWD)                            \
    MLP__ELEMENTWISE_PASSES(prefix, 0.0f, FATTR, FWD, BATTR, BWD)                        \
    const mlp_layer_ops mlp__##prefix##_ops = {                                          \
        .name = #prefix, .forward = prefix##_forward, .backward = prefix##_backward};

/* ---- kinds with one setting, alpha (elu, leaky_relu) ----------------------- */

/* Their settings (l->settings). */
typedef struct mlp__alpha_settings {
    float alpha;
} mlp__alpha_settings;

static inline float mlp__alpha_of(const mlp_layer *l)
{
    return ((const mlp__alpha_settings *)l->settings)->alpha;
}

/* Model-file configuration, version 1: alpha (f32). */
static inline void mlp__alpha_write(const mlp_layer *l, unsigned char *p)
{
    mlp__cfg_put_f32(p, mlp__alpha_of(l));
}

/* mlp_layer_get_attr: alpha is their one attribute. */
static inline int mlp__alpha_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    if (a != MLP_LAYER_ATTR_ALPHA)
        return 0;
    *v = mlp__alpha_of(l);
    return 1;
}

#endif /* MLPNET_LAYERS_ELEMENTWISE_H */
