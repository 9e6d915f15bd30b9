/* The direct correlation's weight gradient (corr.h: mlp__corr_dw). */
#include "corr_impl.h"

#if MLP__CORR_AVAILABLE

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
static MLP__ALWAYS_INLINE void dw_pair(const mlp__corr *k, const float *xp,
                                       const float *dy, int32_t g, int32_t f, int32_t t0,
                                       int32_t tn, float *lanes, int64_t lstride,
                                       float *bias_lanes, int first)
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

AVX512_ONLY static void corr_dw_pair(const mlp__corr *k, const float *xp, const float *dy,
                                     int32_t g, int32_t f, int32_t t0, int32_t tn,
                                     float *lanes, int64_t lstride, float *bias_lanes,
                                     int first)
{
    dw_pair(k, xp, dy, g, f, t0, tn, lanes, lstride, bias_lanes, first);
}

/* The same code built for any CPU, for mlp__corr_dw_wide elsewhere. */
WIDE_ANY static void corr_dw_pair_any(const mlp__corr *k, const float *xp,
                                      const float *dy, int32_t g, int32_t f, int32_t t0,
                                      int32_t tn, float *lanes, int64_t lstride,
                                      float *bias_lanes, int first)
{
    dw_pair(k, xp, dy, g, f, t0, tn, lanes, lstride, bias_lanes, first);
}
#endif

/* Whether a call of mlp__corr_dw for nf planes takes corr_dw_pair: the
 * one test behind both the call and mlp__corr_dw_taps, which must agree. */
static int dw_takes_pair(int32_t nf)
{
#if PAIR16
    return nf == 2 && cpu_avx512();
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

void mlp__corr_dw_narrow(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                         int32_t f, int32_t nf, int32_t t0, int32_t tn, float *lanes,
                         int64_t lstride, float *bias_lanes, int first)
{
    corr_dw(k, xp, dy, g, f, nf, t0, tn, lanes, lstride, bias_lanes, first);
}

#else /* no vector extensions: the layer never takes this path */

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

void mlp__corr_dw_narrow(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                         int32_t f, int32_t nf, int32_t t0, int32_t tn, float *lanes,
                         int64_t lstride, float *bias_lanes, int first)
{
    mlp__corr_dw(k, xp, dy, g, f, nf, t0, tn, lanes, lstride, bias_lanes, first);
}

int32_t mlp__corr_dw_taps(int32_t nf)
{
    return MLP__CORR_DW_TAPS / nf;
}

#endif

int mlp__corr_dw_wide(const mlp__corr *k, const float *xp, const float *dy, int32_t g,
                      int32_t f, int32_t t0, int32_t tn, float *lanes, int64_t lstride,
                      float *bias_lanes, int first)
{
#if MLP__CORR_WIDE
    if (dw_takes_pair(2))
        corr_dw_pair(k, xp, dy, g, f, t0, tn, lanes, lstride, bias_lanes, first);
    else
        corr_dw_pair_any(k, xp, dy, g, f, t0, tn, lanes, lstride, bias_lanes, first);
#else
    /* the 8-wide code's blocks of a pair, its bias lanes once */
    for (int32_t t = 0; t < tn; t += MLP__CORR_DW_TAPS / 2) {
        const int32_t n = tn - t < MLP__CORR_DW_TAPS / 2 ? tn - t : MLP__CORR_DW_TAPS / 2;
        mlp__corr_dw_narrow(k, xp, dy, g, f, 2, t0 + t, n, lanes + 8 * t, lstride,
                            t ? NULL : bias_lanes, first);
    }
#endif
    return MLP__CORR_WIDE;
}
