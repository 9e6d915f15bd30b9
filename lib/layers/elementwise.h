/*
 * The two passes of an element-wise layer kind (private to the kinds that
 * use it: relu, leaky_relu, elu, sigmoid, tanh, selu, softplus), and what
 * the kinds with one setting, alpha, share.
 *
 * MLP__ELEMENTWISE_PASSES(prefix, PARAM, FATTR, FWD, BATTR, BWD) defines
 * prefix_forward and prefix_backward for the kind's ops table. Each pass is
 * one loop over the batch's elements, split across the thread pool from
 * MLP_POOL_MIN elements (mlp__spans). The expressions see, per element:
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

#include "backend/gemm.h"
#include "layer_impl.h"

#define MLP__ELEMENTWISE_PASSES(prefix, PARAM, FATTR, FWD, BATTR, BWD)                   \
    FATTR static void prefix##_fwd_span(const mlp__span_args *a, int64_t lo, int64_t hi) \
    {                                                                                    \
        const float *x = a->x, p = a->alpha;                                             \
        float *y = a->out;                                                               \
        (void)p;                                                                         \
        for (int64_t i = lo; i < hi; i++) {                                              \
            const float xi = x[i];                                                       \
            y[i] = (FWD);                                                                \
        }                                                                                \
    }                                                                                    \
                                                                                         \
    static mlp_status prefix##_forward(mlp_layer *l, const float *x, float *y,           \
                                       int32_t n, mlp_mode mode)                         \
    {                                                                                    \
        (void)mode;                                                                      \
        const mlp__span_args a = {.x = x, .out = y, .alpha = (PARAM)};                   \
        mlp__spans((int64_t)n * l->in_size, prefix##_fwd_span, &a);                      \
        return MLP_STATUS_OK;                                                            \
    }                                                                                    \
                                                                                         \
    BATTR static void prefix##_bwd_span(const mlp__span_args *a, int64_t lo, int64_t hi) \
    {                                                                                    \
        const float *x = a->x, *y = a->y, *dy = a->dy, p = a->alpha;                     \
        float *dx = a->out;                                                              \
        (void)p;                                                                         \
        for (int64_t i = lo; i < hi; i++) {                                              \
            const float xi = x[i], yi = y[i], gi = dy[i];                                \
            (void)xi;                                                                    \
            (void)yi;                                                                    \
            dx[i] = (BWD);                                                               \
        }                                                                                \
    }                                                                                    \
                                                                                         \
    static mlp_status prefix##_backward(mlp_layer *l, const float *x, const float *y,    \
                                        const float *dy, float *dx, int32_t n)           \
    {                                                                                    \
        const mlp__span_args a = {                                                       \
            .x = x, .y = y, .dy = dy, .out = dx, .alpha = (PARAM)};                      \
        mlp__spans((int64_t)n * l->in_size, prefix##_bwd_span, &a);                      \
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
    const mlp_layer_ops mlp__##prefix##_ops = {.name = #prefix,                          \
                                               .forward = prefix##_forward,              \
                                               .backward = prefix##_backward,            \
                                               .by_sample = 1};

/* The same for a kind whose BWD reads yi and gi only (not xi): both passes
 * read an element before writing it, so the kind may run in place
 * (in_place in layer_impl.h). */
#define MLP__ELEMENTWISE_KIND_IN_PLACE(prefix, FATTR, FWD, BATTR, BWD)                   \
    MLP__ELEMENTWISE_PASSES(prefix, 0.0f, FATTR, FWD, BATTR, BWD)                        \
    const mlp_layer_ops mlp__##prefix##_ops = {.name = #prefix,                          \
                                               .forward = prefix##_forward,              \
                                               .backward = prefix##_backward,            \
                                               .in_place = 1,                            \
                                               .by_sample = 1};

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
