/*
 * Direct stride-1 cross-correlation (corr.h): packing, padding and the
 * forward pass. The weight gradient, the input gradient and the product
 * with few terms are in corr_dw.c, corr_dx.c and corr_fewk.c, what they
 * share in corr_impl.h. The kernels hold their sums
 * (two strips of eight output columns of four planes, eight strips of one
 * plane, or up to twelve taps of the weight gradient) in GCC vector
 * variables of eight floats, which the AVX2 clone keeps in ymm registers
 * and the baseline clone in pairs of xmm ones. The forward tiles name
 * their sums one by one; the weight gradient's tap count is a constant in
 * each inlined copy, so its loops unroll fully and stay in registers.
 */
#include "corr_impl.h"

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

/* The same code built for any CPU, for mlp__corr_forward_wide elsewhere. */
WIDE_ANY static void corr_forward_wide_any(const mlp__corr *k, const float *xp,
                                           const float *wpk, const float *bias, float *y)
{
    forward_planes(k, xp, wpk, bias, y, 1);
}
#endif

void mlp__corr_forward(const mlp__corr *k, const float *xp, const float *wpk,
                       const float *bias, float *y)
{
#if PAIR16
    if (cpu_avx512()) {
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

int mlp__corr_forward_wide(const mlp__corr *k, const float *xp, const float *wpk,
                           const float *bias, float *y)
{
#if MLP__CORR_WIDE
    if (cpu_avx512())
        corr_forward_wide(k, xp, wpk, bias, y);
    else
        corr_forward_wide_any(k, xp, wpk, bias, y);
#else
    mlp__corr_forward_narrow(k, xp, wpk, bias, y);
#endif
    return MLP__CORR_WIDE;
}
