/*
 * Direct stride-1 cross-correlation (corr.h). The kernels hold their sums
 * (two strips of eight output columns of four planes, eight strips of one
 * plane, or up to twelve taps of the weight gradient) in GCC vector
 * variables of eight floats, which the AVX2 clone keeps in ymm registers
 * and the baseline clone in pairs of xmm ones. The forward tiles name
 * their sums one by one; the weight gradient's tap count is a constant in
 * each inlined copy, so its loops unroll fully and stay in registers.
 */
#include "corr.h"

#include <string.h>

#include "core/core.h"

/* The size of the block of output planes from o (of co): 4 while 4 or
 * more are left, then single planes. */
static int32_t block_planes(int32_t co, int32_t o)
{
    return co - o >= 4 ? 4 : 1;
}

void mlp__corr_pack(const float *w, int32_t co, int32_t taps, float *wpk)
{
    for (int32_t o = 0; o < co;) {
        const int32_t fb = block_planes(co, o);
        for (int32_t b = 0; b < fb; b++)
            for (int32_t t = 0; t < taps; t++)
                wpk[(int64_t)o * taps + (int64_t)t * fb + b] =
                    w[(int64_t)(o + b) * taps + t];
        o += fb;
    }
    if (co >= 4) /* a block of four, whose tile may read past the end */
        memset(wpk + (int64_t)co * taps, 0, MLP__CORR_PACK_SPARE * sizeof(float));
}

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
#if defined(__x86_64__) && defined(__linux__) && !defined(MLPNET_NO_CLONES) &&           \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
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
#else
#define PAIR16 0
#endif

/* The offsets of taps [t0, t0 + tn), tap (c, i, j) at c sc + i si + j sj:
 * in a padded input, (c hp + i) wp + j. */
static void tap_offsets_by(const mlp__corr *k, int32_t t0, int32_t tn, int64_t sc,
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

static void tap_offsets(const mlp__corr *k, int32_t t0, int32_t tn, int32_t *off)
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

/* Four output planes from o0 over strips s0 and s1 (when `two`; else s1
 * repeats s0, whose sums are stored once): eight sums in registers, each over the taps
 * in order. wb: the block's packed weights [taps, 4]. */
static MLP__ALWAYS_INLINE void tile_4x2(const mlp__corr *k, const int32_t *off,
                                        int32_t taps, const float *xp, const float *wb,
                                        const float *bias, float *y, int32_t o0, strip s0,
                                        strip s1, int two)
{
    const float *x0 = xp + s0.in, *x1 = xp + s1.in;
    v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    for (int32_t t = 0; t < taps; t++) {
        v8 u0, u1;
        LOAD8(u0, x0 + off[t]);
        LOAD8(u1, x1 + off[t]);
        const float *w = wb + (int64_t)t * 4;
        const v8 w0 = {w[0], w[0], w[0], w[0], w[0], w[0], w[0], w[0]};
        const v8 w1 = {w[1], w[1], w[1], w[1], w[1], w[1], w[1], w[1]};
        const v8 w2 = {w[2], w[2], w[2], w[2], w[2], w[2], w[2], w[2]};
        const v8 w3 = {w[3], w[3], w[3], w[3], w[3], w[3], w[3], w[3]};
        a0 += w0 * u0;
        a1 += w0 * u1;
        a2 += w1 * u0;
        a3 += w1 * u1;
        a4 += w2 * u0;
        a5 += w2 * u1;
        a6 += w3 * u0;
        a7 += w3 * u1;
    }
    const int64_t plane = (int64_t)k->oh * k->ow;
    float *y0 = y + o0 * plane;
    if (bias) {
        a0 += bias[o0];
        a1 += bias[o0];
        a2 += bias[o0 + 1];
        a3 += bias[o0 + 1];
        a4 += bias[o0 + 2];
        a5 += bias[o0 + 2];
        a6 += bias[o0 + 3];
        a7 += bias[o0 + 3];
    }
    STORE_STRIP(y0 + s0.out, a0, s0.nv);
    STORE_STRIP(y0 + plane + s0.out, a2, s0.nv);
    STORE_STRIP(y0 + 2 * plane + s0.out, a4, s0.nv);
    STORE_STRIP(y0 + 3 * plane + s0.out, a6, s0.nv);
    if (two) {
        STORE_STRIP(y0 + s1.out, a1, s1.nv);
        STORE_STRIP(y0 + plane + s1.out, a3, s1.nv);
        STORE_STRIP(y0 + 2 * plane + s1.out, a5, s1.nv);
        STORE_STRIP(y0 + 3 * plane + s1.out, a7, s1.nv);
    }
}

/* One output plane o over the n strips (1 to 8) from s0 in row order, the
 * missing ones repeating the last (computed, not stored). w: the plane's
 * weights [taps]. Returns the strip after them. */
static MLP__ALWAYS_INLINE strip tile_1x8(const mlp__corr *k, const int32_t *off,
                                         int32_t taps, const float *xp, const float *w,
                                         const float *bias, float *y, int32_t o, strip s0,
                                         int32_t n)
{
    strip s[8];
    const float *x[8];
    s[0] = s0;
    for (int u = 1; u < 8; u++)
        s[u] = u < n ? strip_next(k, s[u - 1]) : s[u - 1];
    for (int u = 0; u < 8; u++)
        x[u] = xp + s[u].in;
    v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    for (int32_t t = 0; t < taps; t++) {
        const int32_t d = off[t];
        const v8 wt = {w[t], w[t], w[t], w[t], w[t], w[t], w[t], w[t]};
        v8 u0, u1, u2, u3, u4, u5, u6, u7;
        LOAD8(u0, x[0] + d);
        LOAD8(u1, x[1] + d);
        LOAD8(u2, x[2] + d);
        LOAD8(u3, x[3] + d);
        LOAD8(u4, x[4] + d);
        LOAD8(u5, x[5] + d);
        LOAD8(u6, x[6] + d);
        LOAD8(u7, x[7] + d);
        a0 += wt * u0;
        a1 += wt * u1;
        a2 += wt * u2;
        a3 += wt * u3;
        a4 += wt * u4;
        a5 += wt * u5;
        a6 += wt * u6;
        a7 += wt * u7;
    }
    if (bias) {
        const float b = bias[o];
        a0 += b;
        a1 += b;
        a2 += b;
        a3 += b;
        a4 += b;
        a5 += b;
        a6 += b;
        a7 += b;
    }
    float *yo = y + o * (int64_t)k->oh * k->ow;
    STORE_STRIP(yo + s[0].out, a0, s[0].nv);
    if (n > 1)
        STORE_STRIP(yo + s[1].out, a1, s[1].nv);
    if (n > 2)
        STORE_STRIP(yo + s[2].out, a2, s[2].nv);
    if (n > 3)
        STORE_STRIP(yo + s[3].out, a3, s[3].nv);
    if (n > 4)
        STORE_STRIP(yo + s[4].out, a4, s[4].nv);
    if (n > 5)
        STORE_STRIP(yo + s[5].out, a5, s[5].nv);
    if (n > 6)
        STORE_STRIP(yo + s[6].out, a6, s[6].nv);
    if (n > 7)
        STORE_STRIP(yo + s[7].out, a7, s[7].nv);
    return strip_next(k, s[n - 1]);
}

#if PAIR16
/* tile_4x2 in PAIR16's vectors of 16, for a CPU with AVX-512: four output
 * planes from o0 over the ns strips (1 to 4) s[0, ns); s[ns, 4) repeat the
 * last (computed, not stored). Planes o0 and o0 + 1 share a vector of a
 * strip (lanes 0-7 and 8-15), o0 + 2 and o0 + 3 another; each lane's sum
 * is the one tile_4x2 makes, term by term. */
static MLP__ALWAYS_INLINE void tile_4x4_16(const mlp__corr *k, const int32_t *off,
                                           int32_t taps, const float *xp, const float *wb,
                                           const float *bias, float *y, int32_t o0,
                                           const strip *s, int32_t ns)
{
    const float *x0 = xp + s[0].in, *x1 = xp + s[1].in, *x2 = xp + s[2].in,
                *x3 = xp + s[3].in;
    v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
    for (int32_t t = 0; t < taps; t++) {
        v16 w16; /* the tap's four weights, then 12 floats not used */
        memcpy(&w16, wb + (int64_t)t * 4, sizeof w16);
        const v16 w01 = __builtin_shufflevector(w16, w16, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1,
                                                1, 1, 1, 1, 1);
        const v16 w23 = __builtin_shufflevector(w16, w16, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3,
                                                3, 3, 3, 3, 3);
        v8 u;
        LOAD8(u, x0 + off[t]);
        const v16 u0 = JOIN16(u, u);
        LOAD8(u, x1 + off[t]);
        const v16 u1 = JOIN16(u, u);
        LOAD8(u, x2 + off[t]);
        const v16 u2 = JOIN16(u, u);
        LOAD8(u, x3 + off[t]);
        const v16 u3 = JOIN16(u, u);
        a0 += w01 * u0;
        a1 += w23 * u0;
        a2 += w01 * u1;
        a3 += w23 * u1;
        a4 += w01 * u2;
        a5 += w23 * u2;
        a6 += w01 * u3;
        a7 += w23 * u3;
    }
    if (bias) {
        const float *b = bias + o0;
        const v16 b01 = {b[0], b[0], b[0], b[0], b[0], b[0], b[0], b[0],
                         b[1], b[1], b[1], b[1], b[1], b[1], b[1], b[1]};
        const v16 b23 = {b[2], b[2], b[2], b[2], b[2], b[2], b[2], b[2],
                         b[3], b[3], b[3], b[3], b[3], b[3], b[3], b[3]};
        a0 += b01;
        a1 += b23;
        a2 += b01;
        a3 += b23;
        a4 += b01;
        a5 += b23;
        a6 += b01;
        a7 += b23;
    }
    const int64_t plane = (int64_t)k->oh * k->ow;
    float *y0 = y + o0 * plane;
    const v16 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    for (int32_t u = 0; u < ns; u++) {
        const v8 p0 = HALF16(acc[2 * u], 0), p1 = HALF16(acc[2 * u], 1);
        const v8 p2 = HALF16(acc[2 * u + 1], 0), p3 = HALF16(acc[2 * u + 1], 1);
        STORE_STRIP(y0 + s[u].out, p0, s[u].nv);
        STORE_STRIP(y0 + plane + s[u].out, p1, s[u].nv);
        STORE_STRIP(y0 + 2 * plane + s[u].out, p2, s[u].nv);
        STORE_STRIP(y0 + 3 * plane + s[u].out, p3, s[u].nv);
    }
}

#endif

/* One sample's forward pass: blocks of four planes in tile_4x2, or (WIDE,
 * a constant) in tile_4x4_16, then single planes in tile_1x8. */
static MLP__ALWAYS_INLINE void forward_planes(const mlp__corr *k, const float *xp,
                                              const float *wpk, const float *bias,
                                              float *y, const int WIDE)
{
    (void)WIDE; /* 1 only with PAIR16 */
    const int32_t taps = k->ci * k->kh * k->kw;
    const int32_t nst = (k->ow + 7) / 8, nq = k->oh * nst;
    int32_t off[MLP__CORR_MAX_TAPS];
    tap_offsets(k, 0, taps, off);
    for (int32_t o = 0; o < k->co;) {
        const float *wb = wpk + (int64_t)o * taps;
        strip sa = strip_make(k, 0, 0);
        if (block_planes(k->co, o) == 1) {
            for (int32_t q = 0; q < nq; q += 8)
                sa = tile_1x8(k, off, taps, xp, wb, bias, y, o, sa,
                              nq - q < 8 ? nq - q : 8);
            o += 1;
            continue;
        }
#if PAIR16
        if (WIDE) {
            for (int32_t q = 0; q < nq; q += 4) {
                const int32_t ns = nq - q < 4 ? nq - q : 4;
                strip s[4];
                s[0] = sa;
                for (int u = 1; u < 4; u++)
                    s[u] = u < ns ? strip_next(k, s[u - 1]) : s[u - 1];
                tile_4x4_16(k, off, taps, xp, wb, bias, y, o, s, ns);
                sa = strip_next(k, s[ns - 1]);
            }
            o += 4;
            continue;
        }
#endif
        for (int32_t q = 0; q < nq; q += 2) {
            const int two = q + 1 < nq;
            const strip sb = two ? strip_next(k, sa) : sa;
            tile_4x2(k, off, taps, xp, wb, bias, y, o, sa, sb, two);
            sa = strip_next(k, sb);
        }
        o += 4;
    }
}

MLP_VECTOR_CLONES
static void corr_forward(const mlp__corr *k, const float *xp, const float *wpk,
                         const float *bias, float *y)
{
    forward_planes(k, xp, wpk, bias, y, 0);
}

#if PAIR16
/* forward_planes with tile_4x4_16, for a CPU with AVX-512; the same bits. */
AVX512_ONLY static void corr_forward_wide(const mlp__corr *k, const float *xp,
                                          const float *wpk, const float *bias, float *y)
{
    forward_planes(k, xp, wpk, bias, y, 1);
}
#endif

void mlp__corr_forward(const mlp__corr *k, const float *xp, const float *wpk,
                       const float *bias, float *y)
{
#if PAIR16
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        corr_forward_wide(k, xp, wpk, bias, y);
        return;
    }
#endif
    corr_forward(k, xp, wpk, bias, y);
}

void mlp__corr_forward_narrow(const mlp__corr *k, const float *xp, const float *wpk,
                              const float *bias, float *y)
{
    corr_forward(k, xp, wpk, bias, y);
}

/* TB taps of the weight gradient of NF planes from f (NF 1 or 2, NF TB at
 * most 12, both constants after inlining), each in eight lanes: plane f +
 * q's at lanes + q lstride, its bias's at bias_lanes + 8 q. Two planes
 * share each load of the input: for the report's 5->10 5x5 layer the dW
 * pass at 1 thread went from 0.93-1.00 to 0.73-0.77 ms (4 interleaved
 * rounds). */
static MLP__ALWAYS_INLINE void dw_block(const mlp__corr *k, const int32_t *off,
                                        const float *xp, const float *dy, int32_t g,
                                        int32_t f, float *lanes, int64_t lstride,
                                        float *bias_lanes, int first, const int NF,
                                        const int TB, const int P16)
{
    (void)P16; /* PAIR16's: 1 in corr_dw_pair */
    const int64_t in_sz = (int64_t)k->ci * k->hp * k->wp;
    const int64_t plane = (int64_t)k->oh * k->ow;
    v8 acc[2 * MLP__CORR_DW_TAPS], bacc[2] = {{0}, {0}};
#pragma GCC unroll 2
    for (int q = 0; q < NF; q++) {
#pragma GCC unroll 12
        for (int b = 0; b < TB; b++) {
            acc[q * TB + b] = (v8){0};
            if (!first)
                LOAD8(acc[q * TB + b], lanes + q * lstride + 8 * b);
        }
        if (bias_lanes && !first)
            LOAD8(bacc[q], bias_lanes + 8 * q);
    }
#if PAIR16
    /* two planes: tap b's lanes of both in acc2[b], the bias's in bacc2 */
    const int pair = P16 && NF == 2;
    v16 acc2[MLP__CORR_DW_TAPS], bacc2 = JOIN16(bacc[0], bacc[1]);
    if (pair)
#pragma GCC unroll 12
        for (int b = 0; b < TB; b++)
            acc2[b] = JOIN16(acc[b], acc[TB + b]);
#endif
    /* A row's last 1 to 7 columns: the strip of the row's last 8 columns
     * with the lanes before them zeroed in dy (a mask, not a copy through
     * memory, which would stall the vector load), or, in rows shorter than
     * 8, a copy. */
    const int32_t full = k->ow / 8 * 8, tail = k->ow - full;
    v8i keep;
    tail_mask(tail, &keep);
/* acc[q TB + b] += d[q] times the eight inputs at base + off[b], for the
 * TB taps and NF planes; bacc[q] += d[q] for the bias. */
#if PAIR16
#define DW_STRIP(base)                                                                   \
    do {                                                                                 \
        if (pair) {                                                                      \
            const v16 d2 = JOIN16(d[0], d[1]);                                           \
            if (bias_lanes)                                                              \
                bacc2 += d2;                                                             \
            _Pragma("GCC unroll 12") for (int b = 0; b < TB; b++)                        \
            {                                                                            \
                v8 xv;                                                                   \
                LOAD8(xv, (base) + off[b]);                                              \
                acc2[b] += d2 * JOIN16(xv, xv);                                          \
            }                                                                            \
        } else {                                                                         \
            DW_STRIP8(base);                                                             \
        }                                                                                \
    } while (0)
#else
#define DW_STRIP(base) DW_STRIP8(base)
#endif
#define DW_STRIP8(base)                                                                  \
    do {                                                                                 \
        if (bias_lanes)                                                                  \
            _Pragma("GCC unroll 2") for (int q = 0; q < NF; q++) bacc[q] += d[q];        \
        _Pragma("GCC unroll 12") for (int b = 0; b < TB; b++)                            \
        {                                                                                \
            v8 xv;                                                                       \
            LOAD8(xv, (base) + off[b]);                                                  \
            _Pragma("GCC unroll 2") for (int q = 0; q < NF; q++) acc[q * TB + b] +=      \
                d[q] * xv;                                                               \
        }                                                                                \
    } while (0)
    for (int32_t s = 0; s < g; s++) {
        const float *xs = xp + s * in_sz, *ds = dy + ((int64_t)s * k->co + f) * plane;
        /* The next sample's planes of dy, a plane's width away from these
         * in memory, fetched while these are read: small planes (up to
         * 32 cache lines) at once, larger ones a row at a time (so many
         * requests at once would be dropped), which costs a loop per row
         * that small planes' short rows do not repay (measured). */
        const float *dn = s + 1 < g ? ds + (int64_t)k->co * plane : NULL;
        const int by_row = plane > 512;
        for (int64_t c = 0; dn && !by_row && c < NF * plane; c += 16)
            __builtin_prefetch(dn + c);
        /* Three loops over the rows, each with running pointers. One loop
         * for every case kept a dozen pointers per row on the stack (GCC),
         * and perf put 43% of the report's 5->10 5x5 dW between its
         * strips. First, rows of whole strips in planes fetched at once
         * (that layer's rows of 8): the strips alone. */
        if (!tail && !by_row) {
            const float *dr = ds, *xr = xs;
            for (int32_t r = 0; r < k->oh; r++, dr += k->ow, xr += k->wp)
                for (int32_t c0 = 0; c0 < full; c0 += 8) {
                    v8 d[2];
#pragma GCC unroll 2
                    for (int q = 0; q < NF; q++)
                        LOAD8(d[q], dr + c0 + q * plane);
                    DW_STRIP(xr + c0);
                }
            continue;
        }
        /* Rows of 8 or more: the whole strips, then a tail's. */
        const float *dr = ds, *xr = xs;
        for (int32_t r = 0; k->ow >= 8 && r < k->oh; r++, dr += k->ow, xr += k->wp) {
            for (int q = 0; q < NF; q++)
                for (int32_t c = 0; dn && by_row && c < k->ow; c += 16)
                    __builtin_prefetch(dr + (int64_t)(k->co + q) * plane + c);
            v8 d[2];
            for (int32_t c0 = 0; c0 < full; c0 += 8) {
#pragma GCC unroll 2
                for (int q = 0; q < NF; q++)
                    LOAD8(d[q], dr + q * plane + c0);
                DW_STRIP(xr + c0);
            }
            if (tail) {
#pragma GCC unroll 2
                for (int q = 0; q < NF; q++) {
                    LOAD8(d[q], dr + q * plane + k->ow - 8);
                    d[q] = (v8)((v8i)d[q] & keep);
                }
                DW_STRIP(xr + k->ow - 8);
            }
        }
        /* Rows shorter than 8: through a copy. */
        for (int32_t r = 0; k->ow < 8 && r < k->oh; r++, dr += k->ow, xr += k->wp) {
            v8 d[2];
            for (int q = 0; q < NF; q++) {
                if (dn && by_row)
                    __builtin_prefetch(dr + (int64_t)(k->co + q) * plane);
                float tmp[8];
                for (int32_t l = 0; l < 8; l++)
                    tmp[l] = l < k->ow ? dr[q * plane + l] : 0.0f;
                LOAD8(d[q], tmp);
            }
            DW_STRIP(xr);
        }
    }
#undef DW_STRIP
#undef DW_STRIP8
#if PAIR16
    if (pair) {
#pragma GCC unroll 12
        for (int b = 0; b < TB; b++) {
            acc[b] = HALF16(acc2[b], 0);
            acc[TB + b] = HALF16(acc2[b], 1);
        }
        bacc[0] = HALF16(bacc2, 0);
        bacc[1] = HALF16(bacc2, 1);
    }
#endif
#pragma GCC unroll 2
    for (int q = 0; q < NF; q++) {
#pragma GCC unroll 12
        for (int b = 0; b < TB; b++)
            memcpy(lanes + q * lstride + 8 * b, &acc[q * TB + b], sizeof acc[0]);
        if (bias_lanes)
            memcpy(bias_lanes + 8 * q, &bacc[q], sizeof bacc[q]);
    }
}

MLP_VECTOR_CLONES
static void corr_dw(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                    int32_t f, int32_t nf, int32_t t0, int32_t tn, float *lanes,
                    int64_t lstride, float *bias_lanes, int first)
{
    int32_t off[MLP__CORR_DW_TAPS];
    tap_offsets(k, t0, tn, off);
#define DW_CASE(NF, TB)                                                                  \
    dw_block(k, off, xp, dy, g, f, lanes, lstride, bias_lanes, first, NF, TB, 0)
    if (nf == 2) {
        switch (tn) {
        case 1: DW_CASE(2, 1); break;
        case 2: DW_CASE(2, 2); break;
        case 3: DW_CASE(2, 3); break;
        case 4: DW_CASE(2, 4); break;
        case 5: DW_CASE(2, 5); break;
        default: DW_CASE(2, 6); break;
        }
        return;
    }
    switch (tn) {
    case 1: DW_CASE(1, 1); break;
    case 2: DW_CASE(1, 2); break;
    case 3: DW_CASE(1, 3); break;
    case 4: DW_CASE(1, 4); break;
    case 5: DW_CASE(1, 5); break;
    case 6: DW_CASE(1, 6); break;
    case 7: DW_CASE(1, 7); break;
    case 8: DW_CASE(1, 8); break;
    case 9: DW_CASE(1, 9); break;
    case 10: DW_CASE(1, 10); break;
    case 11: DW_CASE(1, 11); break;
    default: DW_CASE(1, 12); break;
    }
#undef DW_CASE
}

#if PAIR16
/* corr_dw of two planes in PAIR16's vectors of 16, for a CPU with AVX-512,
 * where each tap's two sets of lanes take one of the 32 registers: up to
 * MLP__CORR_DW_TAPS taps (twice corr_dw's for two planes). dW alone of the
 * report's 5->10 5x5 on 12x12 (batch 100, 1 thread, 3 rounds): 0.469-0.473
 * against 0.408-0.409 ms in blocks of 6 taps. */
AVX512_ONLY static void corr_dw_pair(const mlp__corr *k, const float *xp, const float *dy,
                                     int32_t g, int32_t f, int32_t t0, int32_t tn,
                                     float *lanes, int64_t lstride, float *bias_lanes,
                                     int first)
{
    int32_t off[MLP__CORR_DW_TAPS];
    tap_offsets(k, t0, tn, off);
#define DW_PAIR(TB)                                                                      \
    dw_block(k, off, xp, dy, g, f, lanes, lstride, bias_lanes, first, 2, TB, 1)
    switch (tn) {
    case 1: DW_PAIR(1); break;
    case 2: DW_PAIR(2); break;
    case 3: DW_PAIR(3); break;
    case 4: DW_PAIR(4); break;
    case 5: DW_PAIR(5); break;
    case 6: DW_PAIR(6); break;
    case 7: DW_PAIR(7); break;
    case 8: DW_PAIR(8); break;
    case 9: DW_PAIR(9); break;
    case 10: DW_PAIR(10); break;
    case 11: DW_PAIR(11); break;
    default: DW_PAIR(12); break;
    }
#undef DW_PAIR
}
#endif

/* Whether a call of mlp__corr_dw for nf planes takes corr_dw_pair: the
 * one test behind both the call and mlp__corr_dw_taps, which must agree. */
static int dw_takes_pair(int32_t nf)
{
#if PAIR16
    __builtin_cpu_init();
    return nf == 2 && __builtin_cpu_supports("avx512f");
#else
    (void)nf;
    return 0;
#endif
}

int32_t mlp__corr_dw_taps(int32_t nf)
{
    return dw_takes_pair(nf) ? MLP__CORR_DW_TAPS : MLP__CORR_DW_TAPS / nf;
}

void mlp__corr_dw(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                  int32_t f, int32_t nf, int32_t t0, int32_t tn, float *lanes,
                  int64_t lstride, float *bias_lanes, int first)
{
#if PAIR16
    if (dw_takes_pair(nf)) {
        corr_dw_pair(k, xp, dy, g, f, t0, tn, lanes, lstride, bias_lanes, first);
        return;
    }
#endif
    corr_dw(k, xp, dy, g, f, nf, t0, tn, lanes, lstride, bias_lanes, first);
}

/* ---- the input gradient ------------------------------------------------------- */

/*
 * A strip of dy through tap (c, i, j) adds eight values to input plane c,
 * row r + i, from column col + j. Added straight into one padded plane, the
 * strips of neighbouring kernel columns overlap but for j floats, so each
 * addition's load waited on the store before it (a load that partly
 * overlaps a pending store is not forwarded from it), and the pass ran
 * slower than the product and col2im it replaces. So each kernel column j
 * keeps its own sums, in output columns: sums [kw][ci][hp][row], a strip
 * landing at column col + kw - 1 of row r + i of plane c of column j's
 * sums, on the same grid of eight as every other strip there. dx is then
 * the sum of the kw, each shifted by j.
 */

/* The row length of the input gradient's sums by tap column (see
 * mlp__corr_dx): kw - 1 columns of zeros, then every strip of the output's
 * rows. dx's last columns may read up to kw - 1 - pw columns past a row's
 * end (output columns that do not exist): the next row's zeros. */
static int64_t dx_row(const mlp__corr *k)
{
    return ((int64_t)k->ow + 7) / 8 * 8 + k->kw - 1;
}

int64_t mlp__corr_dx_size(const mlp__corr *k)
{
    return (int64_t)k->kw * k->ci * k->hp * dx_row(k);
}

/* One strip of dy (eight columns from dcol of each plane f, or fewer:
 * `mode` 1 zeroes the lanes before the row's last `tail` columns, mode 2
 * reads a row shorter than 8 through a copy padded with zeros) through TB
 * taps: acc[b] = sum over f in order of w[f][b] times the strip, then
 * added to the sums at bs + off[b]. w points at the block's first tap of
 * plane 0's weights (rows `taps` apart). */
static MLP__ALWAYS_INLINE void dx_strip(const mlp__corr *k, const int32_t *off,
                                        const float *w, int32_t taps, const float *dy,
                                        int64_t dcol, float *bs, const v8i *keep,
                                        int mode, const int TB)
{
    const int64_t plane = (int64_t)k->oh * k->ow;
    v8 acc[MLP__CORR_DW_TAPS];
#pragma GCC unroll 12
    for (int b = 0; b < TB; b++)
        acc[b] = (v8){0};
    for (int32_t f = 0; f < k->co; f++) {
        const float *src = dy + f * plane + dcol, *wf = w + (int64_t)f * taps;
        __builtin_prefetch(src + 64); /* four lines on: measured 10-15% faster on
                                         28x28 planes, whose rows come from memory */
        v8 d;
        if (mode == 2) {
            float tmp[8];
            for (int32_t l = 0; l < 8; l++)
                tmp[l] = l < k->ow ? src[l] : 0.0f;
            LOAD8(d, tmp);
        } else {
            LOAD8(d, src);
            if (mode == 1)
                d = (v8)((v8i)d & *keep);
        }
#pragma GCC unroll 12
        for (int b = 0; b < TB; b++) {
            const float wv = wf[b];
            acc[b] += (v8){wv, wv, wv, wv, wv, wv, wv, wv} * d;
        }
    }
#pragma GCC unroll 12
    for (int b = 0; b < TB; b++) {
        v8 v;
        LOAD8(v, bs + off[b]);
        v += acc[b];
        memcpy(bs + off[b], &v, sizeof v);
    }
}

#if PAIR16
/* dx_strip of two full strips (mode 0) at once, their lanes side by side in
 * PAIR16's vectors of 16, for a CPU with AVX-512: the first strip's sums
 * are added in before the second's, as dx_strip one after the other would,
 * so the same bits. */
static MLP__ALWAYS_INLINE void dx_strip2(const mlp__corr *k, const int32_t *off,
                                         const float *w, int32_t taps, const float *dy,
                                         int64_t dcol0, int64_t dcol1, float *bs0,
                                         float *bs1, const int TB)
{
    const int64_t plane = (int64_t)k->oh * k->ow;
    v16 acc[MLP__CORR_DW_TAPS];
#pragma GCC unroll 12
    for (int b = 0; b < TB; b++)
        acc[b] = (v16){0};
    for (int32_t f = 0; f < k->co; f++) {
        const float *src = dy + f * plane, *wf = w + (int64_t)f * taps;
        __builtin_prefetch(src + dcol0 + 64);
        __builtin_prefetch(src + dcol1 + 64);
        v8 d0, d1;
        LOAD8(d0, src + dcol0);
        LOAD8(d1, src + dcol1);
        const v16 d = JOIN16(d0, d1);
#pragma GCC unroll 12
        for (int b = 0; b < TB; b++) {
            const float wv = wf[b];
            acc[b] +=
                (v16){wv, wv, wv, wv, wv, wv, wv, wv, wv, wv, wv, wv, wv, wv, wv, wv} * d;
        }
    }
#pragma GCC unroll 12
    for (int b = 0; b < TB; b++) {
        v8 v;
        LOAD8(v, bs0 + off[b]);
        v += HALF16(acc[b], 0);
        memcpy(bs0 + off[b], &v, sizeof v);
    }
#pragma GCC unroll 12
    for (int b = 0; b < TB; b++) {
        v8 v;
        LOAD8(v, bs1 + off[b]);
        v += HALF16(acc[b], 1);
        memcpy(bs1 + off[b], &v, sizeof v);
    }
}
#endif

/* TB taps (a constant after inlining) of one sample, strip by strip in row
 * order. A row's last 1 to 7 columns come as in dw_block: the row's last 8
 * with the lanes before them zeroed, or, in rows shorter than 8, a copy;
 * the zero lanes add zeros. */
static MLP__ALWAYS_INLINE void dx_block(const mlp__corr *k, const int32_t *off,
                                        const float *w, int32_t taps, const float *dy,
                                        float *sums, int64_t row, const int TB,
                                        const int WIDE)
{
    (void)WIDE; /* 1 only with PAIR16 */
    const int32_t full = k->ow / 8 * 8, tail = k->ow - full;
    v8i keep;
    tail_mask(tail, &keep);
#if PAIR16
    /* WIDE: the full strips two at a time, across rows when a row's count
     * is odd; a row's tail strip may then come between the two, which
     * changes no bits: it adds only zeros to the full strips' columns */
    int64_t held = -1; /* a full strip waiting for its pair: its dy column */
    float *held_bs = NULL;
#endif
    for (int32_t r = 0; r < k->oh; r++) {
        const int64_t dr = (int64_t)r * k->ow;
        float *br = sums + r * row + k->kw - 1;
        for (int32_t c0 = 0; c0 < full; c0 += 8) {
#if PAIR16
            if (WIDE) {
                if (held < 0) {
                    held = dr + c0;
                    held_bs = br + c0;
                } else {
                    dx_strip2(k, off, w, taps, dy, held, dr + c0, held_bs, br + c0, TB);
                    held = -1;
                }
                continue;
            }
#endif
            dx_strip(k, off, w, taps, dy, dr + c0, br + c0, &keep, 0, TB);
        }
        if (!tail)
            continue;
        if (k->ow >= 8)
            dx_strip(k, off, w, taps, dy, dr + k->ow - 8, br + k->ow - 8, &keep, 1, TB);
        else
            dx_strip(k, off, w, taps, dy, dr, br, &keep, 2, TB);
    }
#if PAIR16
    if (WIDE && held >= 0)
        dx_strip(k, off, w, taps, dy, held, held_bs, &keep, 0, TB);
#endif
}

/* d[0, 8) = the sum over j < kw in order of the eight sums at s + j jstep. */
static MLP__ALWAYS_INLINE void dx_columns(const float *s, int64_t jstep, int32_t kw,
                                          float *d)
{
    v8 v;
    LOAD8(v, s);
    for (int32_t j = 1; j < kw; j++) {
        v8 u;
        LOAD8(u, s + j * jstep);
        v += u;
    }
    memcpy(d, &v, sizeof v);
}

/* One sample's dx: blocks of taps in dx_block (WIDE a constant), then the
 * kernel columns' sums added into dx. */
static MLP__ALWAYS_INLINE void dx_planes(const mlp__corr *k, int32_t ph, int32_t pw,
                                         int32_t h, int32_t w, const float *wts,
                                         const float *dy, float *sums, float *dx,
                                         const int WIDE)
{
    const int32_t taps = k->ci * k->kh * k->kw;
    const int32_t blocks = (taps + MLP__CORR_DW_TAPS - 1) / MLP__CORR_DW_TAPS;
    const int64_t row = dx_row(k), plane = (int64_t)k->hp * row;
    memset(sums, 0, (size_t)mlp__corr_dx_size(k) * sizeof(float));
    for (int32_t b = 0; b < blocks; b++) {
        const int32_t t0 = (int32_t)((int64_t)b * taps / blocks);
        const int32_t tn = (int32_t)((int64_t)(b + 1) * taps / blocks) - t0;
        /* tap (c, i, j) adds into row i of plane c of column j's sums */
        int32_t off[MLP__CORR_DW_TAPS];
        tap_offsets_by(k, t0, tn, plane, row, k->ci * plane, off);
        const float *wb = wts + t0;
        switch (tn) {
        case 1: dx_block(k, off, wb, taps, dy, sums, row, 1, WIDE); break;
        case 2: dx_block(k, off, wb, taps, dy, sums, row, 2, WIDE); break;
        case 3: dx_block(k, off, wb, taps, dy, sums, row, 3, WIDE); break;
        case 4: dx_block(k, off, wb, taps, dy, sums, row, 4, WIDE); break;
        case 5: dx_block(k, off, wb, taps, dy, sums, row, 5, WIDE); break;
        case 6: dx_block(k, off, wb, taps, dy, sums, row, 6, WIDE); break;
        case 7: dx_block(k, off, wb, taps, dy, sums, row, 7, WIDE); break;
        case 8: dx_block(k, off, wb, taps, dy, sums, row, 8, WIDE); break;
        case 9: dx_block(k, off, wb, taps, dy, sums, row, 9, WIDE); break;
        case 10: dx_block(k, off, wb, taps, dy, sums, row, 10, WIDE); break;
        case 11: dx_block(k, off, wb, taps, dy, sums, row, 11, WIDE); break;
        default: dx_block(k, off, wb, taps, dy, sums, row, 12, WIDE); break;
        }
    }
    /* dx[c][y][x] = the sum over j in order of column j's sums at row
     * y + ph, output column x + pw - j (zeros outside the output), eight
     * columns at a time in a register: adding each column's sums into dx
     * in memory made each pass wait on the last one's stores (a tenth of
     * the report's 5->10 5x5 dx) */
    const int64_t jstep = (int64_t)k->ci * plane - 1;
    for (int32_t c = 0; c < k->ci; c++)
        for (int32_t y = 0; y < h; y++) {
            float *d = dx + ((int64_t)c * h + y) * w;
            const float *s0 =
                sums + (int64_t)c * plane + (int64_t)(y + ph) * row + pw + k->kw - 1;
            int32_t x = 0;
            for (; x + 8 <= w; x += 8)
                dx_columns(s0 + x, jstep, k->kw, d + x);
            /* a row's last 1 to 7 columns: the 8 that end the row (those it
             * shares with the vector before come out the same). In scalars
             * they took 12% of the report's 5->10 5x5 dx (rows of 12, perf);
             * its dx alone, 1 thread: 244-252 -> 225-232 us */
            if (x < w && w >= 8) {
                dx_columns(s0 + w - 8, jstep, k->kw, d + w - 8);
                x = w;
            }
            for (; x < w; x++) {
                float v = s0[x];
                for (int32_t j = 1; j < k->kw; j++)
                    v += s0[j * jstep + x];
                d[x] = v;
            }
        }
}

MLP_VECTOR_CLONES
static void corr_dx(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                    const float *wts, const float *dy, float *sums, float *dx)
{
    dx_planes(k, ph, pw, h, w, wts, dy, sums, dx, 0);
}

#if PAIR16
/* dx_planes with pairs of strips in vectors of 16, for a CPU with AVX-512;
 * the same bits. */
AVX512_ONLY static void corr_dx_wide(const mlp__corr *k, int32_t ph, int32_t pw,
                                     int32_t h, int32_t w, const float *wts,
                                     const float *dy, float *sums, float *dx)
{
    dx_planes(k, ph, pw, h, w, wts, dy, sums, dx, 1);
}
#endif

void mlp__corr_dx(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                  const float *wts, const float *dy, float *sums, float *dx)
{
#if PAIR16
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        corr_dx_wide(k, ph, pw, h, w, wts, dy, sums, dx);
        return;
    }
#endif
    corr_dx(k, ph, pw, h, w, wts, dy, sums, dx);
}

void mlp__corr_dx_narrow(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                         const float *wts, const float *dy, float *sums, float *dx)
{
    corr_dx(k, ph, pw, h, w, wts, dy, sums, dx);
}

/* ---- products with few terms ------------------------------------------------ */

/* Plane f of y [F, P] = w [F, K] col [K, P] (+ bias[f]), K a constant
 * after inlining: the K weights broadcast in registers, then the plane's
 * columns in vectors of 8, two at a time (two chains of additions in
 * flight), each a sum over k in order. The plane is written front to back
 * in one stream: writing all F planes a vector at a time made as many
 * streams, and where y was not in cache that ran slower than a GEMM. The
 * last 1-7 columns come from `tail` (the K rows' last columns, padded with
 * zeros: reading past them could leave col's buffer). */
/* How far ahead of its writes the wide loop of few_k_plane fetches y, in
 * floats. The ConvNet's 1->32 3x3 forward (batch 100, 10 MB of output, 1
 * thread, 3 interleaved rounds): 530-657 -> 472-518 us with y in cache,
 * 823-883 -> 746-815 us with y out of it; 256 and 4096 measured no better. */
enum { FEW_K_AHEAD = 1024 };

static MLP__ALWAYS_INLINE void few_k_plane(const float *wf, const float *col, int64_t P,
                                           const float (*tail)[8], float b, float *yf,
                                           const int K, const int WIDE)
{
    (void)WIDE; /* 1 only with PAIR16 */
    v8 wk[MLP__FEW_K_MAX] = {{0}};
#pragma GCC unroll 12
    for (int k = 0; k < K; k++)
        wk[k] = (v8){wf[k], wf[k], wf[k], wf[k], wf[k], wf[k], wf[k], wf[k]};
    int64_t p = 0;
#if PAIR16
    /* WIDE: 32 columns at a time in two vectors of 16, each lane's sum as
     * below; y's lines FEW_K_AHEAD floats on asked for ahead of their
     * writes (y runs on past the plane into the next) */
    if (WIDE) {
        v16 wk16[MLP__FEW_K_MAX];
#pragma GCC unroll 12
        for (int k = 0; k < K; k++)
            wk16[k] = JOIN16(wk[k], wk[k]);
        for (; p + 32 <= P; p += 32) {
            __builtin_prefetch(yf + p + FEW_K_AHEAD, 1);
            __builtin_prefetch(yf + p + FEW_K_AHEAD + 16, 1);
            v16 a0 = {0}, a1 = {0};
#pragma GCC unroll 12
            for (int k = 0; k < K; k++) {
                v16 u0, u1;
                memcpy(&u0, col + k * P + p, sizeof u0);
                memcpy(&u1, col + k * P + p + 16, sizeof u1);
                a0 += wk16[k] * u0;
                a1 += wk16[k] * u1;
            }
            a0 += b;
            a1 += b;
            memcpy(yf + p, &a0, sizeof a0);
            memcpy(yf + p + 16, &a1, sizeof a1);
        }
    }
#endif
    for (; p + 16 <= P; p += 16) {
        v8 a0 = {0}, a1 = {0};
#pragma GCC unroll 12
        for (int k = 0; k < K; k++) {
            v8 u0, u1;
            LOAD8(u0, col + k * P + p);
            LOAD8(u1, col + k * P + p + 8);
            a0 += wk[k] * u0;
            a1 += wk[k] * u1;
        }
        a0 += b;
        a1 += b;
        memcpy(yf + p, &a0, sizeof a0);
        memcpy(yf + p + 8, &a1, sizeof a1);
    }
    for (; p + 8 <= P; p += 8) {
        v8 a0 = {0};
#pragma GCC unroll 12
        for (int k = 0; k < K; k++) {
            v8 u0;
            LOAD8(u0, col + k * P + p);
            a0 += wk[k] * u0;
        }
        a0 += b;
        memcpy(yf + p, &a0, sizeof a0);
    }
    if (p < P) {
        v8 a0 = {0};
#pragma GCC unroll 12
        for (int k = 0; k < K; k++) {
            v8 u0;
            LOAD8(u0, tail[k]);
            a0 += wk[k] * u0;
        }
        a0 += b;
        STORE_STRIP(yf + p, a0, (int32_t)(P - p));
    }
}

static MLP__ALWAYS_INLINE void few_k(const float *w, int32_t F, const float *col,
                                     int64_t P, const float *bias, float *y, const int K,
                                     const int WIDE)
{
    float tail[MLP__FEW_K_MAX][8] = {{0}};
    const int64_t p = P / 8 * 8;
    if (p < P)
        for (int k = 0; k < K; k++)
            memcpy(tail[k], col + k * P + p, (size_t)(P - p) * sizeof(float));
    for (int32_t f = 0; f < F; f++)
        few_k_plane(w + (int64_t)f * K, col, P, (const float(*)[8])tail,
                    bias ? bias[f] : 0.0f, y + f * P, K, WIDE);
}

#define FEW_K_CASES(WIDE)                                                                \
    switch (K) {                                                                         \
    case 1: few_k(w, F, col, P, bias, y, 1, WIDE); break;                                \
    case 2: few_k(w, F, col, P, bias, y, 2, WIDE); break;                                \
    case 3: few_k(w, F, col, P, bias, y, 3, WIDE); break;                                \
    case 4: few_k(w, F, col, P, bias, y, 4, WIDE); break;                                \
    case 5: few_k(w, F, col, P, bias, y, 5, WIDE); break;                                \
    case 6: few_k(w, F, col, P, bias, y, 6, WIDE); break;                                \
    case 7: few_k(w, F, col, P, bias, y, 7, WIDE); break;                                \
    case 8: few_k(w, F, col, P, bias, y, 8, WIDE); break;                                \
    case 9: few_k(w, F, col, P, bias, y, 9, WIDE); break;                                \
    case 10: few_k(w, F, col, P, bias, y, 10, WIDE); break;                              \
    case 11: few_k(w, F, col, P, bias, y, 11, WIDE); break;                              \
    default: few_k(w, F, col, P, bias, y, 12, WIDE); break;                              \
    }

MLP_VECTOR_CLONES
static void few_k_product(const float *w, int32_t F, int32_t K, const float *col,
                          int64_t P, const float *bias, float *y)
{
    FEW_K_CASES(0)
}

#if PAIR16
/* few_k_product with 32 columns at a time in vectors of 16, for a CPU with
 * AVX-512; the same bits. */
AVX512_ONLY static void few_k_product_wide(const float *w, int32_t F, int32_t K,
                                           const float *col, int64_t P, const float *bias,
                                           float *y)
{
    FEW_K_CASES(1)
}
#endif
#undef FEW_K_CASES

void mlp__few_k_product(const float *w, int32_t F, int32_t K, const float *col, int64_t P,
                        const float *bias, float *y)
{
#if PAIR16
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        few_k_product_wide(w, F, K, col, P, bias, y);
        return;
    }
#endif
    few_k_product(w, F, K, col, P, bias, y);
}

void mlp__few_k_product_narrow(const float *w, int32_t F, int32_t K, const float *col,
                               int64_t P, const float *bias, float *y)
{
    few_k_product(w, F, K, col, P, bias, y);
}

#else /* no vector extensions: the layer never takes this path */

void mlp__corr_forward(const mlp__corr *k, const float *xp, const float *wpk,
                       const float *bias, float *y)
{
    (void)k;
    (void)xp;
    (void)wpk;
    (void)bias;
    (void)y;
}

void mlp__corr_forward_narrow(const mlp__corr *k, const float *xp, const float *wpk,
                              const float *bias, float *y)
{
    mlp__corr_forward(k, xp, wpk, bias, y);
}

void mlp__few_k_product_narrow(const float *w, int32_t F, int32_t K, const float *col,
                               int64_t P, const float *bias, float *y)
{
    mlp__few_k_product(w, F, K, col, P, bias, y);
}

void mlp__few_k_product(const float *w, int32_t F, int32_t K, const float *col, int64_t P,
                        const float *bias, float *y)
{
    (void)w;
    (void)F;
    (void)K;
    (void)col;
    (void)P;
    (void)bias;
    (void)y;
}

int64_t mlp__corr_dx_size(const mlp__corr *k)
{
    (void)k;
    return 0;
}

void mlp__corr_dx(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                  const float *wts, const float *dy, float *sums, float *dx)
{
    (void)k;
    (void)ph;
    (void)pw;
    (void)h;
    (void)w;
    (void)wts;
    (void)dy;
    (void)sums;
    (void)dx;
}

void mlp__corr_dx_narrow(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                         const float *wts, const float *dy, float *sums, float *dx)
{
    mlp__corr_dx(k, ph, pw, h, w, wts, dy, sums, dx);
}

void mlp__corr_dw(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                  int32_t f, int32_t nf, int32_t t0, int32_t tn, float *lanes,
                  int64_t lstride, float *bias_lanes, int first)
{
    (void)k;
    (void)nf;
    (void)lstride;
    (void)bias_lanes;
    (void)xp;
    (void)dy;
    (void)g;
    (void)f;
    (void)t0;
    (void)tn;
    (void)lanes;
    (void)first;
}

int32_t mlp__corr_dw_taps(int32_t nf)
{
    return MLP__CORR_DW_TAPS / nf;
}

#endif

void mlp__corr_pad(const float *x, int32_t c, int32_t h, int32_t w, int32_t ph,
                   int32_t pw, int32_t wp, float *xp)
{
    const int64_t hp = (int64_t)h + 2 * ph;
    for (int32_t ch = 0; ch < c; ch++) {
        float *p = xp + ch * hp * wp;
        const float *src = x + (int64_t)ch * h * w;
        memset(p, 0, (size_t)ph * (size_t)wp * sizeof(float));
        if (pw == 0 && wp == w) { /* rows back to back, as in x */
            memcpy(p + ph * (int64_t)wp, src, (size_t)h * (size_t)w * sizeof(float));
        } else {
            /* short rows: loops in line, not three calls a row (a tenth of
             * the report's 5->10 5x5 forward pass went to them) */
            for (int32_t r = 0; r < h; r++) {
                float *row = p + (ph + r) * (int64_t)wp;
                const float *sr = src + (int64_t)r * w;
                for (int32_t i = 0; i < pw; i++)
                    row[i] = 0.0f;
                for (int32_t i = 0; i < w; i++)
                    row[pw + i] = sr[i];
                for (int32_t i = pw + w; i < wp; i++)
                    row[i] = 0.0f;
            }
        }
        memset(p + (ph + h) * (int64_t)wp, 0, (size_t)ph * (size_t)wp * sizeof(float));
    }
}
