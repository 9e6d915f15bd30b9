/* The direct correlation's input gradient (corr.h: mlp__corr_dx). */
#include "corr_impl.h"

#if MLP__CORR_AVAILABLE

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

/* The same code built for any CPU, for mlp__corr_dx_wide elsewhere. */
WIDE_ANY static void corr_dx_wide_any(const mlp__corr *k, int32_t ph, int32_t pw,
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
    if (cpu_avx512()) {
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

#else /* no vector extensions: the layer never takes this path */

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

#endif

int mlp__corr_dx_wide(const mlp__corr *k, int32_t ph, int32_t pw, int32_t h, int32_t w,
                      const float *wts, const float *dy, float *sums, float *dx)
{
#if MLP__CORR_WIDE
    if (cpu_avx512())
        corr_dx_wide(k, ph, pw, h, w, wts, dy, sums, dx);
    else
        corr_dx_wide_any(k, ph, pw, h, w, wts, dy, sums, dx);
#else
    mlp__corr_dx_narrow(k, ph, pw, h, w, wts, dy, sums, dx);
#endif
    return MLP__CORR_WIDE;
}
