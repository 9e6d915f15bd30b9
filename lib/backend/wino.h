/*
 * 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3)
 * (Lavin and Gray, 2016), for layers with many input and output channels.
 *
 * Each 2x2 block of an output plane (a tile) comes from the 4x4 block of
 * the zero-padded input plane under it. In the transformed domain
 * (V = B^T d B for a 4x4 input block d, U = G g G^T for a 3x3 filter g) the
 * tile is A^T (U .* V) A, so the sum over the input channels of a tile is,
 * for each of the 16 transformed positions xi, one entry of a matrix
 * product: M[xi] [co, tiles] = U[xi] [co, ci] V[xi] [ci, tiles]. That puts
 * 16 multiply-adds per 2x2 outputs and input channel in 16 products (where
 * im2col and one product take 36) and skips im2col's copies; the
 * transforms are additions (and halves in G).
 *
 * The same routine gives the input gradient of such a layer: dx is dy
 * correlated, with padding 2 - p, with each filter turned by 180 degrees
 * and its input and output channels swapped (mlp__wino_weights with
 * `adjoint`).
 *
 * The weight gradient is the forward pass's adjoint in the weights:
 * dW = G^T [sum over the tiles of (A dy_tile A^T) .* (B^T d B)] G, whose
 * sum over the tiles is, for each xi, a product with the tiles as its sums:
 * dU[xi] [co, ci] = W[xi] [co, T] V[xi] [ci, T]^T (mlp__wino_dw_transform,
 * mlp__wino_dw_product, mlp__wino_dw_finish).
 *
 * Results differ from im2col's in the last bits (other sums: relative
 * error of a few float epsilons times the channel count). A sample's
 * outputs depend only on the group of samples it is computed with, and
 * dW's sums on the chunks and their order; callers cut both independently
 * of the thread count, so the bits are the same at any thread count.
 */
#ifndef MLPNET_WINO_H
#define MLPNET_WINO_H

#include <stdint.h>

/* Transformed positions of a tile: 4 x 4. */
enum { MLP__WINO_XI = 16 };

/* One convolution: `ci` planes [h, w] padded by (ph, pw) to `co` planes
 * [oh, ow] = [h + 2 ph - 2, w + 2 pw - 2], in th x tw tiles of 2x2
 * (th = ceil(oh / 2), tw = ceil(ow / 2)). */
typedef struct mlp__wino {
    int32_t ci, h, w, ph, pw;
    int32_t co, oh, ow, th, tw;
} mlp__wino;

/* The geometry of a 3x3 stride-1 convolution of ci planes [h, w] padded by
 * (ph, pw) into co planes (oh, ow at least 1). */
mlp__wino mlp__wino_geom(int32_t ci, int32_t h, int32_t w, int32_t ph, int32_t pw,
                         int32_t co);

/*
 * The transformed filters of weights w [f, c, 3, 3]: u [16, f, c], or with
 * `adjoint` the filters of the input gradient, each turned by 180 degrees
 * with the channels swapped: u [16, c, f]. Overwrites u (16 f c floats).
 */
void mlp__wino_weights(const float *w, int32_t f, int32_t c, int adjoint, float *u);

/* Floats of the scratch mlp__wino_group needs for g samples. */
int64_t mlp__wino_scratch(const mlp__wino *k, int32_t g);

/*
 * g samples: out[s] [co, oh, ow] (at out + s out_sz) = the convolution of
 * in[s] [ci, h, w] (at in + s in_sz) with the transformed filters u
 * [16, co, ci], plus bias[o] when bias is not NULL. Overwrites out;
 * scratch holds mlp__wino_scratch(k, g) floats. The 16 products run whole
 * on the calling thread.
 */
void mlp__wino_group(const mlp__wino *k, const float *u, const float *in, int64_t in_sz,
                     float *out, int64_t out_sz, int32_t g, const float *bias,
                     float *scratch);

/* Floats of the scratch of one run of mlp__wino_dw_transform. */
int64_t mlp__wino_dw_run_scratch(const mlp__wino *k);

/*
 * The weight gradient's transforms of a chunk of g samples (T = g th tw
 * tiles): x[s] [ci, h, w] (at x + s x_sz) into v [16, ci, T] and its
 * output gradient dy[s] [co, oh, ow] (at dy + s dy_sz) into w [16, co, T],
 * sample s's tiles at s th tw. scratch holds mlp__wino_dw_run_scratch(k)
 * floats.
 */
void mlp__wino_dw_transform(const mlp__wino *k, const float *x, int64_t x_sz,
                            const float *dy, int64_t dy_sz, int32_t g, float *v, float *w,
                            float *scratch);

/* du[xi] [co, ci] = w[xi] v[xi]^T over the chunk's T tiles when first,
 * else += that: one product, whole on the calling thread. */
void mlp__wino_dw_product(const mlp__wino *k, const float *v, const float *w, int64_t T,
                          int xi, int first, float *du);

/* dw [f, c, 3, 3] = G^T du[., o, i] G for each filter o and channel i, from
 * du [16, f, c] (the products' sums). Overwrites dw. */
void mlp__wino_dw_finish(const float *du, int32_t f, int32_t c, float *dw);

#endif /* MLPNET_WINO_H */
