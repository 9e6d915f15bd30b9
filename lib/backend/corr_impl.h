/*
 * What the files of the direct correlation share (corr.h is their
 * contract): vector types, tap offsets, the tail mask and strips. The
 * kernels are in four files, corr.c (packing, padding, the forward pass),
 * corr_dw.c (the weight gradient), corr_dx.c (the input gradient) and
 * corr_fewk.c (the product with few terms), so that a build compiles them
 * in parallel: their inlined copies (one per tap count, in every vector
 * clone) make large functions, and in one file they took most of a
 * sanitizer build's time on one core.
 */
#ifndef MLPNET_CORR_IMPL_H
#define MLPNET_CORR_IMPL_H

#include <string.h>

#include "core/core.h"
#include "corr.h"

#if MLP__CORR_AVAILABLE

typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* v = the eight floats at p (a macro: a function returning a vector type
 * has a different ABI in the two clones). */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v8))

/* The weight gradient of two planes can keep each tap's two sets of eight
 * lanes side by side in one vector of 16 (PAIR16): on a CPU with AVX-512
 * (corr_dw_pair), one 512-bit product and addition do what two 256-bit
 * ones do, the input strip broadcast to both halves; each lane's sum is
 * the same. Only there: in the AVX2 and baseline clones the compiler split
 * the vectors of 16 lane by lane, and dW ran 6.5 times slower. */
#if MLP__CORR_WIDE
#define PAIR16 1
typedef float v16 __attribute__((vector_size(64)));
#define JOIN16(a, b)                                                                     \
    __builtin_shufflevector((a), (b), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,  \
                            15)
#define HALF16(v, h)                                                                     \
    __builtin_shufflevector((v), (v), 8 * (h), 8 * (h) + 1, 8 * (h) + 2, 8 * (h) + 3,    \
                            8 * (h) + 4, 8 * (h) + 5, 8 * (h) + 6, 8 * (h) + 7)
#if defined(__clang__)
#define AVX512_ONLY __attribute__((target("avx512f")))
#else
#define AVX512_ONLY __attribute__((target("avx512f"), optimize("no-trapping-math")))
#endif
/* Whether this CPU runs the AVX-512 code: the one test behind every
 * dispatch to it. */
static inline int cpu_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* The same code built for any CPU (the _wide functions of corr.h, which
 * the tests call). GCC builds it at -O1: where the vectors of 16 split,
 * -O3 took more than the rest of the file (corr_dw.c: 35 s against 15 s
 * without these copies, and 15.4 s with them at -O1); the bits are the
 * same at any level. */
#if defined(__clang__)
#define WIDE_ANY
#else
#define WIDE_ANY __attribute__((optimize("O1", "no-trapping-math")))
#endif
#else
#define PAIR16 0
#endif

/* The offsets of taps [t0, t0 + tn), tap (c, i, j) at c sc + i si + j sj:
 * in a padded input, (c hp + i) wp + j. */
static inline void tap_offsets_by(const mlp__corr *k, int32_t t0, int32_t tn, int64_t sc,
                                  int64_t si, int64_t sj, int32_t *off)
{
    /* tap t0's (c, i, j), then counted on: no division per tap (three
     * per tap took a fifth of the report's 5->10 5x5 forward pass) */
    const int32_t kk = k->kh * k->kw;
    int32_t c = t0 / kk, i = t0 % kk / k->kw, j = t0 % k->kw;
    for (int32_t t = 0; t < tn; t++) {
        off[t] = (int32_t)(c * sc + i * si + j * sj);
        if (++j == k->kw) {
            j = 0;
            if (++i == k->kh) {
                i = 0;
                c++;
            }
        }
    }
}

static inline void tap_offsets(const mlp__corr *k, int32_t t0, int32_t tn, int32_t *off)
{
    tap_offsets_by(k, t0, tn, (int64_t)k->hp * k->wp, k->wp, 1, off);
}

/* keep: all bits set in the last `tail` lanes (1 to 7), clear before
 * them: the mask that zeroes, in a row's last 8 columns, those an earlier
 * strip covered. */
static MLP__ALWAYS_INLINE void tail_mask(int32_t tail, v8i *keep)
{
    for (int l = 0; l < 8; l++)
        (*keep)[l] = l >= 8 - tail ? -1 : 0;
}

/* dst[0, nv) = the first nv lanes of v (nv <= 8), with constant-size
 * copies, which compile to moves. */
#define STORE_STRIP(dst, v, nv)                                                          \
    do {                                                                                 \
        float tmp_[8];                                                                   \
        memcpy(tmp_, &(v), sizeof tmp_);                                                 \
        if ((nv) == 8) {                                                                 \
            memcpy((dst), tmp_, sizeof tmp_);                                            \
        } else {                                                                         \
            int32_t i_ = 0;                                                              \
            if ((nv)&4) {                                                                \
                memcpy((dst), tmp_, 4 * sizeof(float));                                  \
                i_ = 4;                                                                  \
            }                                                                            \
            if ((nv)&2) {                                                                \
                memcpy((dst) + i_, tmp_ + i_, 2 * sizeof(float));                        \
                i_ += 2;                                                                 \
            }                                                                            \
            if ((nv)&1)                                                                  \
                (dst)[i_] = tmp_[i_];                                                    \
        }                                                                                \
    } while (0)

/* A strip of up to 8 output columns of one row: where it starts in a
 * padded input plane and in an output plane, and its columns. */
typedef struct strip {
    int64_t in, out;
    int32_t r, c, nv; /* row, first column, columns (8, fewer at a row's end) */
} strip;

static MLP__ALWAYS_INLINE strip strip_make(const mlp__corr *k, int32_t r, int32_t c)
{
    return (strip){.in = (int64_t)r * k->wp + c,
                   .out = (int64_t)r * k->ow + c,
                   .r = r,
                   .c = c,
                   .nv = k->ow - c < 8 ? k->ow - c : 8};
}

/* The strip after s in row order (past the last row when s ends the
 * plane). */
static MLP__ALWAYS_INLINE strip strip_next(const mlp__corr *k, strip s)
{
    return s.c + 8 < k->ow ? strip_make(k, s.r, s.c + 8) : strip_make(k, s.r + 1, 0);
}

#endif /* MLP__CORR_AVAILABLE */

#endif
