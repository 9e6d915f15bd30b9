/*
 * Winograd F(2x2, 3x3) (see wino.h). With the matrices
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * a 2x2 tile of output is A^T [(G g G^T) .* (B^T d B)] A.
 *
 * The scratch of a group: V [16, ci, T] (T = g th tw tiles), then
 * M [16, co, T], then one padded input row [2 tw + 2], an input plane's
 * rows transformed (B's pass along each row, hr below) and the group's
 * tiles of output of one output channel as rows of output (2 x 2 T).
 *
 * Both transforms run over many tiles in one flat loop, so that they
 * vectorise: the input's rows first get B's pass along them, kept as even
 * and odd rows, so that the four rows under tile t = ti tw + tj are at t
 * and t + tw of the even and the odd rows; the output's tiles are summed
 * over the whole group into rows of output, each tile's two values of a
 * row side by side, so that a row of tiles is a row of the plane.
 *
 * The transforms have AVX-512 clones (MLP_WIDE_CLONES): on a CPU with it,
 * the 32->64 layer's backward pass (batch 100, 1 thread) measured 2-3%
 * faster than in the AVX2 clones (3 interleaved rounds), its forward pass
 * alike.
 */
#include "wino.h"

#include <string.h>

#include "core/core.h"
#include "gemm.h"
#include "pool.h"
#include "threads.h"

mlp__wino mlp__wino_geom(int32_t ci, int32_t h, int32_t w, int32_t ph, int32_t pw,
                         int32_t co)
{
    const int32_t oh = h + 2 * ph - 2, ow = w + 2 * pw - 2;
    return (mlp__wino){.ci = ci,
                       .h = h,
                       .w = w,
                       .ph = ph,
                       .pw = pw,
                       .co = co,
                       .oh = oh,
                       .ow = ow,
                       .th = (oh + 1) / 2,
                       .tw = (ow + 1) / 2};
}

/* G g G^T of one 3x3 filter g (row-major) into t[16]. */
static void filter_transform(const float *g, float t[16])
{
    float a[4][3]; /* G g */
    for (int j = 0; j < 3; j++) {
        const float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        a[0][j] = g0;
        a[1][j] = 0.5f * (g0 + g1 + g2);
        a[2][j] = 0.5f * (g0 - g1 + g2);
        a[3][j] = g2;
    }
    for (int i = 0; i < 4; i++) {
        const float r0 = a[i][0], r1 = a[i][1], r2 = a[i][2];
        t[i * 4 + 0] = r0;
        t[i * 4 + 1] = 0.5f * (r0 + r1 + r2);
        t[i * 4 + 2] = 0.5f * (r0 - r1 + r2);
        t[i * 4 + 3] = r2;
    }
}

/* The arguments of mlp__wino_weights, for the pool's parts. */
typedef struct weights_job {
    const float *w;
    float *u;
    int32_t f, c;
    int adjoint;
} weights_job;

/* Filters [o0, o1) of mlp__wino_weights. */
static void weights_part(void *arg, int64_t o0, int64_t o1)
{
    const weights_job *j = arg;
    const int32_t f = j->f, c = j->c;
    const int64_t fc = (int64_t)f * c;
    for (int64_t o = o0; o < o1; o++)
        for (int32_t i = 0; i < c; i++) {
            const float *g = j->w + (o * c + i) * 9;
            float turned[9], t[16];
            if (j->adjoint) {
                for (int e = 0; e < 9; e++)
                    turned[e] = g[8 - e];
                g = turned;
            }
            filter_transform(g, t);
            /* [16, f, c], or [16, c, f] for the adjoint */
            const int64_t at = j->adjoint ? (int64_t)i * f + o : o * c + i;
            for (int x = 0; x < 16; x++)
                j->u[x * fc + at] = t[x];
        }
}

/* Split by filters: on the calling thread alone, the 32->64 layer's two
 * transforms a step (forward and dx) left the other thread idle for about
 * 0.85% of the 32/64-map ConvNet's 2-thread step. */
void mlp__wino_weights(const float *w, int32_t f, int32_t c, int adjoint, float *u)
{
    weights_job j = {.w = w, .u = u, .f = f, .c = c, .adjoint = adjoint};
    mlp__pool_for(f, mlp__pool_grain((int64_t)c * 16, MLP_POOL_MIN), 1, weights_part, &j);
}

/* Rows of at most SHORT_TILES tiles (planes up to 16 wide, the ConvNet's
 * 14x14) take their pass along the row in vectors of 8 (row_pass_short,
 * and in grad_transform): a loop over 7 tiles does not reach the
 * vectoriser's 8 or 16 lanes, and ran one tile at a time. The vectors of 8
 * are for the AVX2 and AVX-512 clones: in the baseline clone, on a CPU
 * without AVX2, they took 70% longer than the loops, which it keeps
 * (short_rows). Without the clones or the compiler's vector shuffles,
 * every row takes the loops. */
#if MLP_HAVE_CLONES && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define SHORT_ROWS 1
enum { SHORT_TILES = 8 };
typedef float wv8 __attribute__((vector_size(32)));
typedef int32_t wv8i __attribute__((vector_size(32)));

/* Whether rows of tw tiles take the vectors of 8 on this CPU. */
static int short_rows(int32_t tw)
{
    __builtin_cpu_init();
    return tw <= SHORT_TILES && __builtin_cpu_supports("avx2");
}
#else
#define SHORT_ROWS 0
enum { SHORT_TILES = 0 };
#endif

/* Floats of a padded input row and of a plane's transformed rows (4 values
 * a tile column, even and odd rows: 8 (th + 1) tw). */
static int64_t pad_row(const mlp__wino *k)
{
    return 2 * (int64_t)k->tw + 2;
}

static int64_t row_plane(const mlp__wino *k)
{
    return 8 * ((int64_t)k->th + 1) * k->tw;
}

int64_t mlp__wino_scratch(const mlp__wino *k, int32_t g)
{
    const int64_t t = (int64_t)g * k->th * k->tw;
    return MLP__WINO_XI * ((int64_t)k->ci + k->co) * t + pad_row(k) + row_plane(k) +
           4 * t;
}

/* d B along one padded row d (2 tw + 2 floats): h[q half + tj] for the
 * tile columns tj. */
static inline void row_pass(const float *restrict d, float *restrict h, int64_t half,
                            int32_t tw)
{
    for (int32_t tj = 0; tj < tw; tj++) {
        const float d0 = d[2 * tj], d1 = d[2 * tj + 1], d2 = d[2 * tj + 2],
                    d3 = d[2 * tj + 3];
        h[tj] = d0 - d2;
        h[half + tj] = d1 + d2;
        h[2 * half + tj] = d2 - d1;
        h[3 * half + tj] = d1 - d3;
    }
}

#if SHORT_ROWS
/* v = the 8 floats at p (a macro: a function returning a vector type has a
 * different ABI in each clone). */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(wv8))

/* The first n (1 to 8) values of *v to dst, in constant-size stores from
 * the vector's register: from 4 values on, two stores of 4 that overlap
 * (the values from n - 4 to 3 written twice, alike). (The vectors go by
 * pointer: as arguments their ABI differs between clones.) Through a
 * copy on the stack, as this was first written, each reload of part of
 * the vector waited on the vector's store: in the 32->64 layer's input
 * transform (rows of 7 tiles), 7% of the function's samples sat on one
 * store after such a reload (perf). */
typedef float wv4 __attribute__((vector_size(16)));
typedef float wv2 __attribute__((vector_size(8)));

static MLP__ALWAYS_INLINE void store_first(float *dst, const wv8 *v, int32_t n)
{
    const wv8 x = *v;
    if (n == 8) {
        memcpy(dst, &x, sizeof x);
        return;
    }
    const wv4 lo = __builtin_shufflevector(x, x, 0, 1, 2, 3);
    if (n >= 4) {
        wv4 hi;
        switch (n) {
        case 4: hi = lo; break;
        case 5: hi = __builtin_shufflevector(x, x, 1, 2, 3, 4); break;
        case 6: hi = __builtin_shufflevector(x, x, 2, 3, 4, 5); break;
        default: hi = __builtin_shufflevector(x, x, 3, 4, 5, 6); break;
        }
        memcpy(dst, &lo, sizeof lo);
        memcpy(dst + n - 4, &hi, sizeof hi);
        return;
    }
    if (n & 2) {
        const wv2 two = __builtin_shufflevector(x, x, 0, 1);
        memcpy(dst, &two, sizeof two);
    }
    if (n & 1)
        dst[n - 1] = x[n - 1];
}

/* row_pass for tw <= 8, the same values, from the padded row's floats
 * read in place from p (pw floats before the row): p[0-7], p[8-15],
 * p[2-9] and p[10-17], each masked by keep[] (zeros where the padding
 * is). The padded row's even and odd columns are their even and odd
 * lanes. */
static MLP__ALWAYS_INLINE void row_pass_short(const float *p, const wv8i *keep,
                                              float *restrict h, int64_t half, int32_t tw)
{
    wv8 a, b, c, e;
    LOAD8(a, p);
    LOAD8(b, p + 8);
    LOAD8(c, p + 2);
    LOAD8(e, p + 10);
    a = (wv8)((wv8i)a & keep[0]);
    b = (wv8)((wv8i)b & keep[1]);
    c = (wv8)((wv8i)c & keep[2]);
    e = (wv8)((wv8i)e & keep[3]);
    const wv8 d0 = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14);
    const wv8 d1 = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15);
    const wv8 d2 = __builtin_shufflevector(c, e, 0, 2, 4, 6, 8, 10, 12, 14);
    const wv8 d3 = __builtin_shufflevector(c, e, 1, 3, 5, 7, 9, 11, 13, 15);
    const wv8 h0 = d0 - d2, h1 = d1 + d2, h2 = d2 - d1, h3 = d1 - d3;
    store_first(h, &h0, tw);
    store_first(h + half, &h1, tw);
    store_first(h + 2 * half, &h2, tw);
    store_first(h + 3 * half, &h3, tw);
}
#endif

/* B^T down the columns of n tiles, whose rows are e[t], o[t], e[t + tw] and
 * o[t + tw] (one column q of B's pass): v0..v3 (transformed rows 0..3). */
static inline void column_pass(const float *restrict e, const float *restrict o,
                               int32_t tw, int64_t n, float *restrict v0,
                               float *restrict v1, float *restrict v2, float *restrict v3)
{
    for (int64_t t = 0; t < n; t++) {
        v0[t] = e[t] - e[t + tw];
        v1[t] = o[t] + e[t + tw];
        v2[t] = e[t + tw] - o[t];
        v3[t] = o[t] - o[t + tw];
    }
}

/* The padding of a plane: the padded row d's columns of padding, and in
 * hr the rows r of the padded plane with no input row under them (zeros).
 * Every plane of a group has them at the same places and input_transform
 * writes only the others, so they are set once a group (a memset per
 * row and plane measured 4-7% of the forward pass). */
static void zero_padding(const mlp__wino *k, float *d, float *hr)
{
    const int32_t tw = k->tw;
    const int64_t half = ((int64_t)k->th + 1) * tw;
    memset(d, 0, (size_t)pad_row(k) * sizeof(float));
    for (int64_t r = 0; r < 2 * (int64_t)k->th + 2; r++) {
        const int64_t xr = r - k->ph;
        if (xr >= 0 && xr < k->h)
            continue;
        float *h = hr + (r & 1) * 4 * half + (r >> 1) * tw;
        for (int q = 0; q < 4; q++)
            memset(h + q * half, 0, (size_t)tw * sizeof(float));
    }
}

/* B^T d B of the tiles of plane x [h, w] padded by (ph, pw) into
 * v[xi * vs + t] for the plane's tiles t = 0 .. th tw - 1 (in rows of tw);
 * d: a padded row's scratch, hr: the transformed rows' (row_plane), their
 * padding set by zero_padding. Only the padded rows with an input row under
 * them (2 th + 2 >= h + 2 ph) are written. */
MLP_WIDE_CLONES
static void input_transform(const mlp__wino *k, const float *x, float *restrict d,
                            float *hr, float *v, int64_t vs)
{
    const int32_t tw = k->tw, w = k->w, pw = k->pw;
    const int64_t half = ((int64_t)k->th + 1) * tw, plane = (int64_t)k->h * w;
#if SHORT_ROWS
    /* Short rows are read in place, from pw floats before the row: the
     * padded row's floats are the row's, and zeros (the masks) where the
     * padding is. Rows whose 18 floats would leave the plane take the
     * copy into d. */
    const int shorts = short_rows(tw);
    /* the padded row's floats 0-7, 8-15, 2-9, 10-17 (vector compares: a
     * mask stored lane by lane and loaded whole would wait on the stores) */
    const wv8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    wv8i keep[4];
    for (int v = 0; v < 4; v++) {
        const wv8i i = lane + ((v & 1) * 8 + (v >> 1) * 2);
        keep[v] = (i >= pw) & (i < pw + w);
    }
#endif
    for (int64_t r = k->ph; r < k->ph + (int64_t)k->h; r++) {
        const int64_t at = (r - k->ph) * w;
        const float *src = x + at;
        float *h = hr + (r & 1) * 4 * half + (r >> 1) * tw;
#if SHORT_ROWS
        if (shorts && at - pw >= 0 && at - pw + 2 * SHORT_TILES + 2 <= plane) {
            row_pass_short(src - pw, keep, h, half, tw);
            continue;
        }
#else
        (void)plane;
#endif
        for (int32_t e = 0; e < w; e++)
            d[pw + e] = src[e];
        row_pass(d, h, half, tw);
    }
    const int64_t tiles = (int64_t)k->th * tw;
    for (int q = 0; q < 4; q++)
        column_pass(hr + q * half, hr + 4 * half + q * half, tw, tiles, v + q * vs,
                    v + (4 + q) * vs, v + (8 + q) * vs, v + (12 + q) * vs);
}

/* B^T d B of g samples' planes, in[s] [ci, h, w] at in + s in_sz, into
 * v [16, ci, T] (T = g th tw, sample s's tiles at s th tw); d and hr as for
 * input_transform, their padding set here. */
static void input_planes(const mlp__wino *k, const float *in, int64_t in_sz, int32_t g,
                         float *d, float *hr, float *v)
{
    const int64_t tps = (int64_t)k->th * k->tw, T = g * tps, plane = (int64_t)k->h * k->w;
    zero_padding(k, d, hr);
    for (int32_t s = 0; s < g; s++)
        for (int32_t c = 0; c < k->ci; c++)
            input_transform(k, in + s * in_sz + c * plane, d, hr, v + c * T + s * tps,
                            (int64_t)k->ci * T);
}

/* A^T m A of n tiles m[xi * ms + t] into the tiles' rows of output, each
 * tile's two values side by side: its row 0 at ye[2 t], ye[2 t + 1] and
 * its row 1 at yo[2 t], yo[2 t + 1]. A row of tiles is then a row of
 * output as it lies in the plane. */
MLP_WIDE_CLONES
static void output_transform(const float *restrict m, int64_t ms, int64_t n,
                             float *restrict ye, float *restrict yo)
{
    for (int64_t t = 0; t < n; t++) {
        float a0[4], a1[4]; /* A^T m */
        for (int q = 0; q < 4; q++) {
            const float m0 = m[q * ms + t], m1 = m[(4 + q) * ms + t],
                        m2 = m[(8 + q) * ms + t], m3 = m[(12 + q) * ms + t];
            a0[q] = m0 + m1 + m2;
            a1[q] = m1 - m2 - m3;
        }
        ye[2 * t] = a0[0] + a0[1] + a0[2];
        ye[2 * t + 1] = a0[1] - a0[2] - a0[3];
        yo[2 * t] = a1[0] + a1[1] + a1[2];
        yo[2 * t + 1] = a1[1] - a1[2] - a1[3];
    }
}

/* One plane's rows of output from its tiles' rows ye and yo
 * (output_transform) into y [oh, ow], plus b: output row r is the first ow
 * values of tile row r / 2's ye (r even) or yo (r odd). Rows 8 to 16 wide
 * (the short rows' tiles) go in vectors of 8, the last one ending at the
 * row's end (writing again, alike, what the one before wrote). The loop
 * never ran its 16-wide step on a row of 14 in the AVX-512 clone: its
 * epilogue took 8 values in a vector and the other 6 one at a time. */
MLP_WIDE_CLONES
static void put_tiles(const mlp__wino *k, const float *restrict ye,
                      const float *restrict yo, float b, float *restrict y)
{
    const int32_t ow = k->ow;
#if SHORT_ROWS
    const int vectors = ow >= 8 && short_rows(k->tw);
    const wv8 bv = {b, b, b, b, b, b, b, b};
#endif
    for (int32_t r = 0; r < k->oh; r++) {
        const float *src = (r & 1 ? yo : ye) + (int64_t)(r >> 1) * 2 * k->tw;
        float *dst = y + (int64_t)r * ow;
#if SHORT_ROWS
        if (vectors) {
            wv8 lo, hi;
            LOAD8(lo, src);
            LOAD8(hi, src + ow - 8);
            lo += bv;
            hi += bv;
            memcpy(dst, &lo, sizeof lo);
            memcpy(dst + ow - 8, &hi, sizeof hi);
            continue;
        }
#endif
        for (int32_t j = 0; j < ow; j++)
            dst[j] = src[j] + b;
    }
}

void mlp__wino_group(const mlp__wino *k, const float *u, const float *in, int64_t in_sz,
                     float *out, int64_t out_sz, int32_t g, const float *bias,
                     float *scratch)
{
    const int64_t tps = (int64_t)k->th * k->tw, T = g * tps;
    float *v = scratch, *m = v + MLP__WINO_XI * k->ci * T;
    float *d = m + MLP__WINO_XI * k->co * T, *hr = d + pad_row(k),
          *yt = hr + row_plane(k);
    input_planes(k, in, in_sz, g, d, hr, v);
    /* each product whole, on this thread: the same bits at any thread count
     * (a product cut into blocks may take other kernels) */
    for (int x = 0; x < MLP__WINO_XI; x++) {
        const mlp__gemm p = {.m = k->co,
                             .n = (int)T,
                             .k = k->ci,
                             .alpha = 1.0f,
                             .a = u + (int64_t)x * k->co * k->ci,
                             .lda = k->ci,
                             .b = v + (int64_t)x * k->ci * T,
                             .ldb = (int)T,
                             .beta = 0.0f,
                             .c = m + (int64_t)x * k->co * T,
                             .ldc = (int)T};
        mlp__sgemm_part(&p, 0, 1);
    }
    const int64_t plane = (int64_t)k->oh * k->ow;
    for (int32_t o = 0; o < k->co; o++) {
        output_transform(m + (int64_t)o * T, (int64_t)k->co * T, T, yt, yt + 2 * T);
        for (int32_t s = 0; s < g; s++)
            put_tiles(k, yt + 2 * s * tps, yt + 2 * T + 2 * s * tps,
                      bias ? bias[o] : 0.0f, out + s * out_sz + o * plane);
    }
}

/* ---- the weight gradient -------------------------------------------------- */

/* The scratch of one run of mlp__wino_dw_transform: a padded input row and
 * the transformed rows of an input plane (input_transform's), then those of
 * an output-gradient plane (grad_transform's, 8 th tw). */
int64_t mlp__wino_dw_run_scratch(const mlp__wino *k)
{
    return pad_row(k) + row_plane(k) + 8 * (int64_t)k->th * k->tw;
}

/* The rows of output-gradient tiles past the plane's last row (odd oh):
 * zeros, set once a run as zero_padding does for the input's. */
static void zero_grad_rows(const mlp__wino *k, float *gr)
{
    const int64_t half = (int64_t)k->th * k->tw;
    if (k->oh & 1)
        for (int q = 0; q < 4; q++)
            memset(gr + 4 * half + q * half + (int64_t)(k->th - 1) * k->tw, 0,
                   (size_t)k->tw * sizeof(float));
}

/* A's pass down the columns of n tiles, whose rows are e[t] and o[t] (one
 * column q of the pass along the rows): w0..w3 (rows 0..3). The pointers
 * are restrict parameters: as restrict locals of the caller's loop, GCC
 * versioned the loop for aliasing and ran its scalar copy (one tile at a
 * time, measured). */
static inline void grad_column_pass(const float *restrict e, const float *restrict o,
                                    int64_t n, float *restrict w0, float *restrict w1,
                                    float *restrict w2, float *restrict w3)
{
    for (int64_t t = 0; t < n; t++) {
        w0[t] = e[t];
        w1[t] = e[t] + o[t];
        w2[t] = e[t] - o[t];
        w3[t] = -o[t];
    }
}

/* A y A^T of the tiles of output-gradient plane y [oh, ow] (zeros past its
 * edges) into w[xi * ws + t] for the plane's tiles t = 0 .. th tw - 1, with
 * A = [1 0; 1 1; 1 -1; 0 -1]: the adjoint of output_transform. As there,
 * the rows first: each row's pairs (a, b) give a, a + b, a - b and -b,
 * kept as even and odd rows (gr: scratch, its rows past oh set by
 * zero_grad_rows); then the same down the columns over all tiles in one
 * flat loop. */
MLP_WIDE_CLONES
static void grad_transform(const mlp__wino *k, const float *y, float *restrict gr,
                           float *w, int64_t ws)
{
    const int32_t tw = k->tw, ow = k->ow, pairs = ow / 2;
    const int64_t half = (int64_t)k->th * tw;
#if SHORT_ROWS
    const int shorts = short_rows(tw);
#endif
    for (int32_t r = 0; r < k->oh; r++) {
        const float *src = y + (int64_t)r * ow;
        float *g = gr + (r & 1) * 4 * half + (int64_t)(r >> 1) * tw;
        int32_t j = 0;
#if SHORT_ROWS
        /* a row of up to 8 pairs read in place, 16 floats while they stay
         * in the plane (the lanes past the row are not stored) */
        if (shorts && pairs >= 1 && ow <= 16 &&
            (int64_t)r * ow + 16 <= (int64_t)k->oh * ow) {
            wv8 lo, hi;
            LOAD8(lo, src);
            LOAD8(hi, src + 8);
            const wv8 a = __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14);
            const wv8 b = __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15);
            const wv8 g1 = a + b, g2 = a - b, g3 = -b;
            store_first(g, &a, pairs);
            store_first(g + half, &g1, pairs);
            store_first(g + 2 * half, &g2, pairs);
            store_first(g + 3 * half, &g3, pairs);
            j = pairs;
        }
#endif
        for (; j < pairs; j++) {
            const float a = src[2 * j], b = src[2 * j + 1];
            g[j] = a;
            g[half + j] = a + b;
            g[2 * half + j] = a - b;
            g[3 * half + j] = -b;
        }
        if (ow & 1) { /* the last tile's second column is past the edge */
            const float a = src[ow - 1];
            g[pairs] = a;
            g[half + pairs] = a;
            g[2 * half + pairs] = a;
            g[3 * half + pairs] = 0.0f;
        }
    }
    for (int q = 0; q < 4; q++)
        grad_column_pass(gr + q * half, gr + 4 * half + q * half, half, w + q * ws,
                         w + (4 + q) * ws, w + (8 + q) * ws, w + (12 + q) * ws);
}

void mlp__wino_dw_transform(const mlp__wino *k, const float *x, int64_t x_sz,
                            const float *dy, int64_t dy_sz, int32_t g, float *v, float *w,
                            float *scratch)
{
    const int64_t tps = (int64_t)k->th * k->tw, out_plane = (int64_t)k->oh * k->ow,
                  T = g * tps;
    float *d = scratch, *hr = d + pad_row(k), *gr = hr + row_plane(k);
    input_planes(k, x, x_sz, g, d, hr, v);
    zero_grad_rows(k, gr);
    for (int32_t s = 0; s < g; s++)
        for (int32_t o = 0; o < k->co; o++)
            grad_transform(k, dy + s * dy_sz + o * out_plane, gr, w + o * T + s * tps,
                           (int64_t)k->co * T);
}

void mlp__wino_dw_product(const mlp__wino *k, const float *v, const float *w, int64_t T,
                          int xi, int first, float *du)
{
    const mlp__gemm p = {.trans_b = 1,
                         .m = k->co,
                         .n = k->ci,
                         .k = (int)T,
                         .alpha = 1.0f,
                         .a = w + (int64_t)xi * k->co * T,
                         .lda = (int)T,
                         .b = v + (int64_t)xi * k->ci * T,
                         .ldb = (int)T,
                         .beta = first ? 0.0f : 1.0f,
                         .c = du + (int64_t)xi * k->co * k->ci,
                         .ldc = k->ci};
    mlp__sgemm_part(&p, 0, 1);
}

void mlp__wino_dw_finish(const float *du, int32_t f, int32_t c, float *dw)
{
    const int64_t fc = (int64_t)f * c;
    for (int64_t at = 0; at < fc; at++) {
        /* G^T m G, G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1] */
        float m[16], a[3][4];
        for (int x = 0; x < 16; x++)
            m[x] = du[x * fc + at];
        for (int j = 0; j < 4; j++) {
            a[0][j] = m[j] + 0.5f * (m[4 + j] + m[8 + j]);
            a[1][j] = 0.5f * (m[4 + j] - m[8 + j]);
            a[2][j] = 0.5f * (m[4 + j] + m[8 + j]) + m[12 + j];
        }
        float *g = dw + at * 9;
        for (int i = 0; i < 3; i++) {
            g[i * 3 + 0] = a[i][0] + 0.5f * (a[i][1] + a[i][2]);
            g[i * 3 + 1] = 0.5f * (a[i][1] - a[i][2]);
            g[i * 3 + 2] = 0.5f * (a[i][1] + a[i][2]) + a[i][3];
        }
    }
}
