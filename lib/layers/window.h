/*
 * Private to the kinds that slide a window over [C,H,W] inputs: conv2d,
 * maxpool and avgpool. Their settings share the window's shape; pooling
 * kinds share all their settings and the code that checks them (avgpool.c).
 */
#ifndef MLPNET_WINDOW_H
#define MLPNET_WINDOW_H

#include "layer_impl.h"

/* A kh x kw window moved by (sh, sw) over an input padded by (ph, pw). */
typedef struct mlp__window {
    int32_t kh, kw, sh, sw, ph, pw;
} mlp__window;

/* The settings of maxpool and avgpool layers (l->settings). */
typedef struct mlp__pool_settings {
    mlp__window win;
    int global; /* average pooling over the whole input: setup sets the window */
} mlp__pool_settings;

/* Output size of a window sliding over n values (0 when it does not fit). */
static inline int32_t mlp__window_out(int32_t n, int32_t k, int32_t stride, int32_t pad,
                                      int32_t dil)
{
    int64_t span = (int64_t)dil * (k - 1) + 1, padded = (int64_t)n + 2 * (int64_t)pad;
    if (padded < span)
        return 0;
    const int64_t o = (padded - span) / stride + 1; /* up to 3 * 2^31: clamp */
    return o > INT32_MAX ? INT32_MAX : (int32_t)o;
}

/* The part [lo, hi) of a k-wide window starting at `start` (possibly
 * negative: padding) that lies inside [0, n), as offsets into the window. */
static inline void mlp__window_clip(int32_t start, int32_t k, int32_t n, int32_t *lo,
                                    int32_t *hi)
{
    *lo = start < 0 ? -start : 0;
    *hi = start + k > n ? n - start : k;
}

/* get_attr for a window: kernel, stride, padding. */
static inline int mlp__window_attr(const mlp__window *w, mlp_layer_attr a, double *v)
{
    switch (a) {
    case MLP_LAYER_ATTR_KERNEL_H: *v = w->kh; return 1;
    case MLP_LAYER_ATTR_KERNEL_W: *v = w->kw; return 1;
    case MLP_LAYER_ATTR_STRIDE_H: *v = w->sh; return 1;
    case MLP_LAYER_ATTR_STRIDE_W: *v = w->sw; return 1;
    case MLP_LAYER_ATTR_PAD_H: *v = w->ph; return 1;
    case MLP_LAYER_ATTR_PAD_W: *v = w->pw; return 1;
    default: return 0;
    }
}

/* Pooling padding is at most half the window. The model-file readers check
 * it before the creators, whose check computes 2 * pad and overflows for the
 * huge values a hostile file can hold. */
static inline int mlp__pool_pad_ok(int32_t kh, int32_t kw, int32_t pad)
{
    return pad >= 0 && pad <= kh / 2 && pad <= kw / 2;
}

/* Create a pooling layer after checking its window (avgpool.c). */
mlp_status mlp__pool_new(mlp_layer **out, mlp_layer_kind kind, int32_t kh, int32_t kw,
                         int32_t stride, int32_t pad, const char *fn);

/* setup for max and average pooling over [C,H,W] (avgpool.c). */
mlp_status mlp__pool_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out);

#endif /* MLPNET_WINDOW_H */
