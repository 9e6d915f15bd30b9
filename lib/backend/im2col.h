/*
 * im2col / col2im for 2-D convolution on NCHW data, over a group of g
 * samples at once so that one GEMM covers the whole group.
 *
 * Column layout: col [C*kh*kw, g*P] with P = OH*OW. Row r = (c*kh + i)*kw + j
 * holds, for every sample s and output position p = oh*OW + ow, the input
 * value x[s][c][oh*sh - ph + i*dh][ow*sw - pw + j*dw] (0 outside the image)
 * at column s*P + p.
 */
#ifndef MLPNET_IM2COL_H
#define MLPNET_IM2COL_H

#include <stdint.h>

typedef struct mlp__conv_geom {
    int32_t c, h, w; /* input channels and size */
    int32_t kh, kw, sh, sw, ph, pw, dh, dw;
    int32_t oh, ow; /* output size */
} mlp__conv_geom;

/* x: g samples [C,H,W] back to back -> col [C*kh*kw, g*P]. */
void mlp__im2col(const mlp__conv_geom *q, const float *x, int32_t g, float *col);

/* The adjoint: dx (g samples, overwritten) = sum of col entries over the
 * positions they were read from. col is the caller's scratch and may be
 * changed: its entries that read padding (which add nothing) may be set to
 * 0 on the way. */
void mlp__col2im(const mlp__conv_geom *q, float *col, int32_t g, float *dx);

#endif /* MLPNET_IM2COL_H */
