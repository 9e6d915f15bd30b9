/*
 * Direct stride-1 cross-correlation, for convolutions too small for
 * im2col and a matrix product to pay: few input channels times kernel taps
 * (a first layer over a grey image, say). im2col would write kh*kw copies
 * of the input for a product with a handful of rows, so copying costs more
 * than multiplying; these kernels read a zero-padded copy of the input
 * instead and keep output strips of eight columns (two strips of four
 * output planes, or eight strips of one) in vector registers while they
 * run over the taps; the weight gradient keeps up to twelve taps' sums,
 * and the input gradient a strip's sums for up to twelve taps.
 *
 * Layouts. A padded input holds `ci` planes of [hp, wp] floats, zero
 * outside the data; wp leaves room for the last column strip of 8 to read
 * past the output width (mlp__corr_wp). The weights are [co, ci, kh, kw].
 *
 * Every output is summed over its taps in order (input channel, then kernel
 * row, then kernel column), and every weight gradient in eight lanes in
 * the order of mlp__corr_dw, a product then an addition each (no fused
 * multiply-add): the same bits from the AVX2 clone and the baseline one,
 * and at any thread count, since every call is a whole sample or a whole
 * (filter, tap block) unit. On a CPU with AVX-512 the forward pass, dW, dx
 * and the few-term product run two sets of eight lanes side by side in
 * vectors of 16 (two planes, or two strips, or 32 columns at a time),
 * each lane's sum term by term as in vectors of 8: the same bits again.
 * The _narrow and _wide functions below let the tests compare the two on
 * any CPU: a _wide function runs the AVX-512 code where the CPU has
 * AVX-512, and elsewhere the same code built for the baseline (slower:
 * there the compiler splits each vector of 16), so that a machine without
 * AVX-512 checks that code's bits too. A _wide function returns
 * MLP__CORR_WIDE: where that is 0 the build has no such code (nor does
 * the library run it), and the function runs the 8-wide code instead.
 *
 * Available where the compiler has GCC's vector extensions (GCC, clang):
 * MLP__CORR_AVAILABLE is 1 there and 0 elsewhere (callers then keep
 * im2col).
 */
#ifndef MLPNET_CORR_H
#define MLPNET_CORR_H

#include <stdint.h>

#if defined(__GNUC__)
#define MLP__CORR_AVAILABLE 1
#else
#define MLP__CORR_AVAILABLE 0
#endif

/* 1 where the build has the kernels' AVX-512 code (vectors of 16: GCC 12
 * or later, or clang, on x86-64 Linux, without MLPNET_NO_CLONES), which
 * the library runs on a CPU with AVX-512 and the _wide functions below on
 * any; 0 elsewhere. */
#if MLP__CORR_AVAILABLE && defined(__x86_64__) && defined(__linux__) &&                  \
    !defined(MLPNET_NO_CLONES) &&                                                        \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define MLP__CORR_WIDE 1
#else
#define MLP__CORR_WIDE 0
#endif

/* The most taps (ci kh kw) one correlation may have. */
enum { MLP__CORR_MAX_TAPS = 128 };

/* The most taps one call of mlp__corr_dw sums for one plane (in
 * registers). */
enum { MLP__CORR_DW_TAPS = 12 };

/* The most taps one call of mlp__corr_dw may sum for nf planes (1 or 2):
 * MLP__CORR_DW_TAPS for one; for two, MLP__CORR_DW_TAPS too on a CPU with
 * AVX-512 (each tap's two sets of lanes in one vector of 16), else half
 * of it. */
int32_t mlp__corr_dw_taps(int32_t nf);

/* A stride-1 correlation: `ci` padded input planes [hp, wp] to `co` output
 * planes [oh, ow] through a kh x kw kernel (hp = oh + kh - 1). */
typedef struct mlp__corr {
    int32_t ci, hp, wp;
    int32_t co, oh, ow;
    int32_t kh, kw;
} mlp__corr;

/* The padded row length for an output `ow` wide and a kernel `kw` wide:
 * ow rounded up to 8, plus kw - 1. */
static inline int32_t mlp__corr_wp(int32_t ow, int32_t kw)
{
    return (ow + 7) / 8 * 8 + kw - 1;
}

/* x [c, h, w] -> xp [c, h + 2 ph, wp] with ph rows and pw columns of zeros
 * before the data and zeros after it (wp >= w + 2 pw). Overwrites xp. */
void mlp__corr_pad(const float *x, int32_t c, int32_t h, int32_t w, int32_t ph,
                   int32_t pw, int32_t wp, float *xp);

/* The floats after the packed weights that mlp__corr_forward may read
 * (and not use) when co >= 4: a whole vector of 16 from a block's last
 * tap's four. */
enum { MLP__CORR_PACK_SPARE = 12 };

/* w [co, taps] (taps = ci kh kw) -> wpk, the order mlp__corr_forward reads
 * the weights in: blocks of output planes, each [taps, planes in the
 * block], starting at wpk + (first plane) taps, then, when co >= 4,
 * MLP__CORR_PACK_SPARE zeros. Overwrites wpk's co taps floats and those
 * (at most 8 co taps floats in all). */
void mlp__corr_pack(const float *w, int32_t co, int32_t taps, float *wpk);

/* One sample: y [co, oh, ow] = the weights (packed by mlp__corr_pack)
 * correlated with xp, plus bias[o] when bias is not NULL. Overwrites y. */
void mlp__corr_forward(const mlp__corr *k, const float *xp, const float *wpk,
                       const float *bias, float *y);

/* mlp__corr_forward in vectors of 8 even on a CPU with AVX-512, where
 * mlp__corr_forward runs pairs of planes in vectors of 16: the same bits
 * (for the tests, which compare the two). */
void mlp__corr_forward_narrow(const mlp__corr *k, const float *xp, const float *wpk,
                              const float *bias, float *y);

/* mlp__corr_forward in vectors of 16, as a CPU with AVX-512 runs it, on any
 * CPU (see above). Returns MLP__CORR_WIDE. */
int mlp__corr_forward_wide(const mlp__corr *k, const float *xp, const float *wpk,
                           const float *bias, float *y);

/*
 * The weight gradient of output planes f to f + nf - 1 (nf 1 or 2) over
 * taps [t0, t0 + tn) (tn <= mlp__corr_dw_taps(nf)), for g samples: for
 * plane f + q, lanes[q lstride + 8 t + l] += sum over the samples, output
 * rows and the output columns in lane l of each strip of
 * dy[s][f + q][oh][ow] xp[s][c][oh + i][ow + j] (tap t = (c kh + i) kw + j),
 * in the order of the samples, rows and columns. `first` sets the lanes
 * instead of adding. dy holds the g samples' [co, oh, ow] planes back to
 * back, xp their padded inputs ([ci, hp, wp] each). When bias_lanes is not
 * NULL, bias_lanes[8 q + l] also gets (or, unless `first`, adds) the sums
 * of dy's plane f + q alone over the same samples, rows and columns, lane
 * by lane as the weights' lanes: the bias gradient's lanes, read from dy
 * while the weights' are summed. Each lane's sum is the same whatever nf.
 */
void mlp__corr_dw(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                  int32_t f, int32_t nf, int32_t t0, int32_t tn, float *lanes,
                  int64_t lstride, float *bias_lanes, int first);

/* mlp__corr_dw in vectors of 8 even on a CPU with AVX-512, where a pair
 * of planes takes vectors of 16: a pair in blocks of at most
 * MLP__CORR_DW_TAPS / 2 taps, the code a CPU without AVX-512 runs; the
 * same bits (for the tests, which compare the two). */
void mlp__corr_dw_narrow(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                         int32_t f, int32_t nf, int32_t t0, int32_t tn, float *lanes,
                         int64_t lstride, float *bias_lanes, int first);

/* mlp__corr_dw of a pair of planes (nf 2) in vectors of 16, as a CPU with
 * AVX-512 runs it, up to MLP__CORR_DW_TAPS taps a call, on any CPU (see
 * above). Returns MLP__CORR_WIDE. */
int mlp__corr_dw_wide(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                      int32_t f, int32_t t0, int32_t tn, float *lanes, int64_t lstride,
                      float *bias_lanes, int first);

/*
 * One sample's input gradient, the correlation's adjoint: dx [ci, h, w] =
 * for every tap t = (c kh + i) kw + j, plane f, output row r and column
 * col, w[f][t] dy[f][r][col] added at dx[c][r + i - ph][col + j - pw]
 * (where that lies inside dx). The weights are [co, taps] (taps = ci kh
 * kw, as the layer holds them, not packed); dy is [co, oh, ow]; k is the
 * forward correlation's (hp = h + 2 ph; wp is not used). `sums` is
 * scratch of mlp__corr_dx_size floats: the sums of each kernel column j
 * apart, so that each strip adds into aligned, disjoint places. In blocks
 * of at most MLP__CORR_DW_TAPS taps, strip by strip in row order, each
 * tap's eight sums run over f in order (a product then an addition each)
 * and are added to column j's sums; dx is then the sum over j in order:
 * the same bits from either clone. Overwrites dx.
 */
void mlp__corr_dx(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                  const float *wts, const float *dy, float *sums, float *dx);

/* mlp__corr_dx in vectors of 8 even on a CPU with AVX-512, where
 * mlp__corr_dx runs full strips two at a time in vectors of 16: the same
 * bits (for the tests, which compare the two). */
void mlp__corr_dx_narrow(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                         const float *wts, const float *dy, float *sums, float *dx);

/* mlp__corr_dx in vectors of 16, as a CPU with AVX-512 runs it, on any CPU
 * (see above). Returns MLP__CORR_WIDE. */
int mlp__corr_dx_wide(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                      const float *wts, const float *dy, float *sums, float *dx);

/* The scratch mlp__corr_dx needs, in floats. */
int64_t mlp__corr_dx_size(const mlp__corr *k);

/* The most terms mlp__few_k_product sums (in registers). */
enum { MLP__FEW_K_MAX = 12 };

/*
 * A product with few terms, for a convolution's forward pass over one
 * sample when K = ci kh kw is at most MLP__FEW_K_MAX (one input channel
 * with a 3x3 kernel, a pointwise kernel over few channels): y [F, P] =
 * w [F, K] col [K, P], plus bias[f] when bias is not NULL. There a GEMM
 * would zero its output, then read and write it again for a handful of
 * terms; this writes each output plane once, front to back, with its
 * filter's K weights held in vector registers. Each output is a sum over k
 * in order, a product then an addition (no fused multiply-add), then the
 * bias. Overwrites y.
 */
void mlp__few_k_product(const float *w, int32_t F, int32_t K, const float *col, int64_t P,
                        const float *bias, float *y);

/* mlp__few_k_product in vectors of 8 even on a CPU with AVX-512, where
 * mlp__few_k_product takes 32 columns at a time in vectors of 16: the same
 * bits (for the tests, which compare the two). */
void mlp__few_k_product_narrow(const float *w, int32_t F, int32_t K, const float *col,
                               int64_t P, const float *bias, float *y);

/* mlp__few_k_product in vectors of 16, as a CPU with AVX-512 runs it, on
 * any CPU (see above). Returns MLP__CORR_WIDE. */
int mlp__few_k_product_wide(const float *w, int32_t F, int32_t K, const float *col,
                            int64_t P, const float *bias, float *y);

#endif /* MLPNET_CORR_H */
