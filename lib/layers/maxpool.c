/*
 * Max pooling over [C,H,W]: each output is the largest input in its window
 * (padding never wins). Forward keeps the index of that input; backward
 * sends each output gradient there. Ties go to the first position in
 * row-major window order, so results are deterministic.
 *   y[c,oh,ow] = max_{i,j} x[c, oh*s-p+i, ow*s-p+j],  dx[argmax] += dy
 *
 * A window holding a NaN gives NaN, and its argmax (where backward sends
 * the gradient) is the last NaN in row-major window order, on every path:
 * the general loop, the 2x2 window's scalar and vector code, and the 2x2
 * window reading batch norm's plane. That is PyTorch's MaxPool2d, whose
 * CPU loop takes a value when `val > maxval || isnan(val)`. Windows
 * without NaN choose as before (and give the same bits). Behind a ReLU
 * fused into batch norm the rule holds too: the ReLU keeps NaN, as the
 * ReLU layer does.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backend/pool.h"
#include "backend/threads.h"
#include "layer_impl.h"
#include "window.h"

/* The window of the layer's settings (mlp__pool_settings, window.h). */
static const mlp__window *window(const mlp_layer *l)
{
    return &((const mlp__pool_settings *)l->settings)->win;
}

static mlp_status maxpool_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    MLP_TRY(mlp__pool_setup(l, in, out));
    l->scratch_per_sample = mlp__shape_numel(out); /* argmax indices */
    return MLP_STATUS_OK;
}

/* How the 2x2 window reads its input plane: as it is (IN_PLAIN), or as the
 * batch norm before it would have written it, x A + B (IN_AFFINE), then
 * max(., 0) for a ReLU between them (IN_AFFINE_RELU, NaN kept): batch
 * norm's own expressions, so the same bits as its plane put into the pool. */
enum { IN_PLAIN, IN_AFFINE, IN_AFFINE_RELU };

static MLP__ALWAYS_INLINE float read_in(float v, const int MODE, float A, float B)
{
    if (MODE == IN_PLAIN)
        return v;
    const float u = v * A + B;
    return MODE == IN_AFFINE_RELU ? mlp__relu(u) : u;
}

/* The common 2x2 window with stride 2 and no padding: the larger of each
 * row's pair, then of the two rows, all in selects and integer arithmetic
 * so that no branch depends on the order of the values (the winner's
 * position is random and mispredicts). The rules are the general loop's:
 * the first largest in row-major order; a window holding a NaN takes a
 * branch of its own to its last NaN, which predicts well (NaN is rare).
 * Over 1600 planes of 6x6 (1 thread, medians of alternating rounds) that
 * took 0.031 ms to 0.036; the NaN rule folded into the selects took 0.049
 * (GCC made branches of them). The OW outputs of output row oh (r0, r1:
 * its two input rows; base: r0's offset in the plane). */
static MLP__ALWAYS_INLINE void max_2x2_cols(const float *r0, const float *r1, float *yr,
                                            int32_t *ar, int32_t base, int32_t W,
                                            int32_t OW, const int MODE, float A, float B)
{
    for (int32_t ow = 0; ow < OW; ow++) {
        const float a = read_in(r0[2 * ow], MODE, A, B);
        const float b = read_in(r0[2 * ow + 1], MODE, A, B);
        const float c = read_in(r1[2 * ow], MODE, A, B);
        const float d = read_in(r1[2 * ow + 1], MODE, A, B);
        if (isunordered(a, b) || isunordered(c, d)) {
            /* the last NaN (a branch the values rarely take) */
            const int32_t k = d != d ? 3 : c != c ? 2 : b != b ? 1 : 0;
            yr[ow] = k == 3 ? d : k == 2 ? c : k == 1 ? b : a;
            ar[ow] = base + 2 * ow + (k >> 1) * W + (k & 1);
            continue;
        }
        const int32_t right0 = b > a, right1 = d > c;
        const float top = b > a ? b : a, bot = d > c ? d : c;
        const int32_t low = bot > top;
        yr[ow] = bot > top ? bot : top;
        ar[ow] = base + 2 * ow + low * W + (right0 ^ ((right0 ^ right1) & -low));
    }
}

/* Vectors of 8 and of 4 outputs for the 2x2 window, with the compiler's
 * vector shuffles, in the AVX2 clones (the baseline clone keeps the loops
 * above). A row of OW outputs takes vectors of 8 and, for its last 1-7, one
 * more vector of 8 ending at the row's end, over outputs a vector already
 * wrote: the same values again. Forward, rows of 4-7 outputs (the 14x14
 * planes of the 32/64-map ConvNet's second pool) take two vectors of 4
 * alike; backward, they keep the scatter over zeros (unpool_plane), which
 * vectors of 4 did not beat (0.75-0.80 against 0.69-0.71 ms). In that
 * ConvNet (batch 100, 1 thread, 2 interleaved rounds), batch norm + ReLU +
 * pool over 32 planes of 28x28 went from 1.18-1.19 to 0.96-0.99 ms forward
 * and 2.13-2.30 to 1.97-2.03 backward, over 64 of 14x14 from 0.84-0.88 to
 * 0.62-0.64 forward; the loops GCC vectorised had spent most of their time
 * on each row's set-up and its last outputs. */
#if MLP_HAVE_CLONES && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define POOL_VECTORS 1
typedef float pv8 __attribute__((vector_size(32)));
typedef int32_t pv8i __attribute__((vector_size(32)));
typedef float pv4 __attribute__((vector_size(16)));
typedef int32_t pv4i __attribute__((vector_size(16)));

/* Whether this CPU takes the vectors (the clone's code asks once per plane). */
static int pool_vectors(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

/* v = the vector at p; *p = v (macros: a function taking or returning a
 * vector type has a different ABI in each clone). */
#define PV_LOAD(v, p) memcpy(&(v), (p), sizeof(v))
#define PV_STORE(p, v) memcpy((p), &(v), sizeof(v))
/* m ? x : y lane by lane, m's lanes all ones or zeros */
#define PV_SELECT(IT, FT, m, x, y) ((FT)(((m) & (IT)(x)) | (~(m) & (IT)(y))))
/* v = read_in(v) lane by lane, A and B broadcast in vectors va, vb */
#define PV_READ_IN(IT, FT, v, MODE, va, vb)                                              \
    do {                                                                                 \
        if ((MODE) != IN_PLAIN)                                                          \
            (v) = (v) * (va) + (vb);                                                     \
        if ((MODE) == IN_AFFINE_RELU)                                                    \
            (v) = PV_SELECT(IT, FT, (v) <= (FT){0}, (FT){0}, (v));                       \
    } while (0)

/* NAME: max_2x2_cols's outputs [ow, ow + N) in vectors FT of N floats (IT:
 * of N int32). EVENS and ODDS list the lanes of a row's even and odd
 * inputs in the two vectors that hold the row's 2 N inputs; EVENS is also
 * each output's column offset, 2 x its lane. va and vb come by pointer: a
 * vector argument has another ABI in each clone (clang's -Wpsabi). */
#define MAX_2X2_VECTORS(NAME, FT, IT, N, EVENS, ODDS)                                    \
    static MLP__ALWAYS_INLINE void NAME(                                                 \
        const float *r0, const float *r1, float *yr, int32_t *ar, int32_t base,          \
        int32_t W, int32_t ow, const int MODE, const FT *va, const FT *vb)               \
    {                                                                                    \
        FT l0, h0, l1, h1;                                                               \
        PV_LOAD(l0, r0 + 2 * ow);                                                        \
        PV_LOAD(h0, r0 + 2 * ow + N);                                                    \
        PV_LOAD(l1, r1 + 2 * ow);                                                        \
        PV_LOAD(h1, r1 + 2 * ow + N);                                                    \
        PV_READ_IN(IT, FT, l0, MODE, *va, *vb);                                          \
        PV_READ_IN(IT, FT, h0, MODE, *va, *vb);                                          \
        PV_READ_IN(IT, FT, l1, MODE, *va, *vb);                                          \
        PV_READ_IN(IT, FT, h1, MODE, *va, *vb);                                          \
        const FT a = __builtin_shufflevector(l0, h0, EVENS);                             \
        const FT b = __builtin_shufflevector(l0, h0, ODDS);                              \
        const FT c = __builtin_shufflevector(l1, h1, EVENS);                             \
        const FT d = __builtin_shufflevector(l1, h1, ODDS);                              \
        IT right0 = b > a, right1 = d > c;                                               \
        right0 |= b != b; /* a NaN over anything: the last NaN */                        \
        right1 |= d != d;                                                                \
        const FT top = PV_SELECT(IT, FT, right0, b, a);                                  \
        const FT bot = PV_SELECT(IT, FT, right1, d, c);                                  \
        IT low = bot > top;                                                              \
        low |= bot != bot;                                                               \
        const FT y = PV_SELECT(IT, FT, low, bot, top);                                   \
        const IT col = ((low & right1) | (~low & right0)) & 1;                           \
        const IT at = (base + 2 * ow + (IT){EVENS}) + (low & W) + col;                   \
        PV_STORE(yr + ow, y);                                                            \
        PV_STORE(ar + ow, at);                                                           \
    }
#define PV_EVENS8 0, 2, 4, 6, 8, 10, 12, 14
#define PV_ODDS8 1, 3, 5, 7, 9, 11, 13, 15
#define PV_EVENS4 0, 2, 4, 6
#define PV_ODDS4 1, 3, 5, 7
MAX_2X2_VECTORS(max_2x2_8, pv8, pv8i, 8, PV_EVENS8, PV_ODDS8)
MAX_2X2_VECTORS(max_2x2_4, pv4, pv4i, 4, PV_EVENS4, PV_ODDS4)
#undef MAX_2X2_VECTORS

/* The gradient of the inputs [2 ow, 2 ow + 16) of rows d0, d1 under
 * outputs [ow, ow + 8) of output row oh: each output's gradient at its
 * argmax (as 0 + g, the bits of adding it over zeros), zeros at the other
 * three. */
static MLP__ALWAYS_INLINE void unpool_2x2_8(const float *g, const int32_t *ar, float *d0,
                                            float *d1, int32_t base, int32_t W,
                                            int32_t ow)
{
    pv8 v;
    pv8i at;
    PV_LOAD(v, g + ow);
    PV_LOAD(at, ar + ow);
    v = 0.0f + v;
    const pv8i rel = at - (base + 2 * ow + (pv8i){0, 2, 4, 6, 8, 10, 12, 14});
    const pv8 zero = {0};
    const pv8 e0 = PV_SELECT(pv8i, pv8, rel == 0, v, zero);
    const pv8 o0 = PV_SELECT(pv8i, pv8, rel == 1, v, zero);
    const pv8 e1 = PV_SELECT(pv8i, pv8, rel == W, v, zero);
    const pv8 o1 = PV_SELECT(pv8i, pv8, rel == W + 1, v, zero);
    const pv8 q0 = __builtin_shufflevector(e0, o0, 0, 8, 1, 9, 2, 10, 3, 11);
    const pv8 q1 = __builtin_shufflevector(e0, o0, 4, 12, 5, 13, 6, 14, 7, 15);
    const pv8 q2 = __builtin_shufflevector(e1, o1, 0, 8, 1, 9, 2, 10, 3, 11);
    const pv8 q3 = __builtin_shufflevector(e1, o1, 4, 12, 5, 13, 6, 14, 7, 15);
    PV_STORE(d0 + 2 * ow, q0);
    PV_STORE(d0 + 2 * ow + 8, q1);
    PV_STORE(d1 + 2 * ow, q2);
    PV_STORE(d1 + 2 * ow + 8, q3);
}

#else
#define POOL_VECTORS 0
#endif

/* The forward pass of a plane xp [H,W] through the 2x2 window, read as MODE
 * says: yp [OH,OW] and the argmax indices into ap. */
static MLP__ALWAYS_INLINE void max_2x2_plane(const float *xp, float *yp, int32_t *ap,
                                             int32_t W, int32_t OH, int32_t OW,
                                             const int MODE, float A, float B)
{
#if POOL_VECTORS
    const int vec = OW >= 4 && pool_vectors();
    const pv8 va8 = {A, A, A, A, A, A, A, A}, vb8 = {B, B, B, B, B, B, B, B};
    const pv4 va4 = {A, A, A, A}, vb4 = {B, B, B, B};
#endif
    for (int32_t oh = 0; oh < OH; oh++) {
        const float *r0 = xp + (int64_t)2 * oh * W, *r1 = r0 + W;
        float *yr = yp + (int64_t)oh * OW;
        int32_t *ar = ap + (int64_t)oh * OW;
        const int32_t base = 2 * oh * W;
#if POOL_VECTORS
        if (vec && OW >= 8) {
            int32_t ow = 0;
            for (; ow + 8 <= OW; ow += 8)
                max_2x2_8(r0, r1, yr, ar, base, W, ow, MODE, &va8, &vb8);
            if (ow < OW)
                max_2x2_8(r0, r1, yr, ar, base, W, OW - 8, MODE, &va8, &vb8);
            continue;
        }
        if (vec) {
            max_2x2_4(r0, r1, yr, ar, base, W, 0, MODE, &va4, &vb4);
            max_2x2_4(r0, r1, yr, ar, base, W, OW - 4, MODE, &va4, &vb4);
            continue;
        }
#endif
        max_2x2_cols(r0, r1, yr, ar, base, W, OW, MODE, A, B);
    }
}

MLP_VECTOR_CLONES
static void maxpool_2x2(const float *xp, float *yp, int32_t *ap, int32_t W, int32_t OH,
                        int32_t OW)
{
    max_2x2_plane(xp, yp, ap, W, OH, OW, IN_PLAIN, 1.0f, 0.0f);
}

/* maxpool_2x2 of the plane xp a + b, or of max(xp a + b, 0) when relu is set. */
MLP_VECTOR_CLONES
static void maxpool_2x2_scaled(const float *xp, float *yp, int32_t *ap, int32_t W,
                               int32_t OH, int32_t OW, float a, float b, int relu)
{
    if (relu)
        max_2x2_plane(xp, yp, ap, W, OH, OW, IN_AFFINE_RELU, a, b);
    else
        max_2x2_plane(xp, yp, ap, W, OH, OW, IN_AFFINE, a, b);
}

#if POOL_VECTORS
/* The backward pass of a plane through the 2x2 window, rows of 8 outputs or
 * more, on a CPU with AVX2 (unpool_2x2_ok): dxp [H,W] from the output
 * gradient dyp [OH,OW] and the argmax indices ap, every input written
 * once (those in no window, a last odd row or column, as 0). */
MLP_VECTOR_CLONES
static void unpool_2x2(const float *dyp, const int32_t *ap, float *dxp, int32_t H,
                       int32_t W, int32_t OH, int32_t OW)
{
    for (int32_t oh = 0; oh < OH; oh++) {
        const float *g = dyp + (int64_t)oh * OW;
        const int32_t *ar = ap + (int64_t)oh * OW;
        float *d0 = dxp + (int64_t)2 * oh * W, *d1 = d0 + W;
        const int32_t base = 2 * oh * W;
        int32_t ow = 0;
        for (; ow + 8 <= OW; ow += 8)
            unpool_2x2_8(g, ar, d0, d1, base, W, ow);
        if (ow < OW)
            unpool_2x2_8(g, ar, d0, d1, base, W, OW - 8);
        if (W > 2 * OW)
            d0[W - 1] = d1[W - 1] = 0.0f;
    }
    if (H > 2 * OH)
        memset(dxp + (int64_t)2 * OH * W, 0, (size_t)W * sizeof(float));
}

/* Whether unpool_2x2 takes planes of OW outputs a row here. */
static int unpool_2x2_ok(int32_t OW)
{
    return OW >= 8 && pool_vectors();
}
#endif

/* A pass over planes, for the pool's parts. */
typedef struct maxpool_job {
    const mlp_layer *l;
    const float *x, *dy;
    float *y, *dx;
} maxpool_job;

/* The common window: 2x2, stride 2, no padding. */
static int window_2x2(const mlp__window *win)
{
    return win->kh == 2 && win->kw == 2 && win->sh == 2 && win->sw == 2 && win->ph == 0 &&
           win->pw == 0;
}

/* Any window, one plane: xp [H,W] -> yp [OH,OW], argmax indices into ap. */
static void pool_plane_any(const mlp__window *win, const float *xp, float *yp,
                           int32_t *ap, int32_t H, int32_t W, int32_t OH, int32_t OW)
{
    for (int32_t oh = 0; oh < OH; oh++) {
        const int32_t h0 = oh * win->sh - win->ph;
        int32_t i0, i1;
        mlp__window_clip(h0, win->kh, H, &i0, &i1);
        for (int32_t ow = 0; ow < OW; ow++) {
            const int32_t w0 = ow * win->sw - win->pw;
            int32_t j0, j1;
            mlp__window_clip(w0, win->kw, W, &j0, &j1);
            float best = -FLT_MAX;
            int32_t at = (h0 + i0) * W + w0 + j0, nan_at = -1;
            for (int32_t i = i0; i < i1; i++)
                for (int32_t jj = j0; jj < j1; jj++) {
                    const int32_t k = (h0 + i) * W + w0 + jj;
                    const float v = xp[k];
                    if (v > best) {
                        best = v;
                        at = k;
                    }
                    nan_at = v != v ? k : nan_at;
                }
            /* the largest, or the last NaN: a second choice beside the
             * first, each kept free of branches on the data */
            at = nan_at >= 0 ? nan_at : at;
            yp[oh * OW + ow] = xp[at];
            ap[oh * OW + ow] = at;
        }
    }
}

/* The forward pass of plane pl (of n * C) of layer l from its input plane
 * xp: its output plane in y, its argmax indices in the layer's scratch. */
static void pool_plane(const mlp_layer *l, int64_t pl, const float *xp, float *y)
{
    const mlp__window *win = window(l);
    const int32_t H = l->in.d[1], W = l->in.d[2], OH = l->out.d[1], OW = l->out.d[2];
    const int64_t out_plane = (int64_t)OH * OW;
    float *yp = y + pl * out_plane;
    int32_t *ap = (int32_t *)(void *)l->scratch + pl * out_plane;
    if (window_2x2(win))
        maxpool_2x2(xp, yp, ap, W, OH, OW);
    else
        pool_plane_any(win, xp, yp, ap, H, W, OH, OW);
}

static void fwd_part(void *p, int64_t p0, int64_t p1)
{
    const maxpool_job *j = p;
    const int64_t in_plane = (int64_t)j->l->in.d[1] * j->l->in.d[2];
    for (int64_t pl = p0; pl < p1; pl++)
        pool_plane(j->l, pl, j->x + pl * in_plane, j->y);
}

static mlp_status maxpool_forward(mlp_layer *l, const float *x, float *y, int32_t n,
                                  mlp_mode mode)
{
    (void)mode;
    /* The scratch holds int32 indices; the model allocated it for this layer. */
    maxpool_job j = {.l = l, .x = x, .y = y};
    const int64_t planes = (int64_t)n * l->in.d[0],
                  in_plane = (int64_t)l->in.d[1] * l->in.d[2];
    mlp__pool_chunks(planes,
                     mlp__pool_grain(in_plane, window_2x2(window(l)) ? MLP_POOL_MIN : 1),
                     1, fwd_part, &j);
    return MLP_STATUS_OK;
}

/* The input gradient of plane pl from the output gradient dy: each output
 * gradient added at its argmax, over zeros. */
MLP_VECTOR_CLONES
static void unpool_plane(const mlp_layer *l, int64_t pl, const float *dy, float *dxp)
{
    const int64_t in_plane = (int64_t)l->in.d[1] * l->in.d[2],
                  out_plane = (int64_t)l->out.d[1] * l->out.d[2];
    const float *dyp = dy + pl * out_plane;
    const int32_t *ap = (const int32_t *)(const void *)l->scratch + pl * out_plane;
#if POOL_VECTORS
    if (window_2x2(window(l)) && unpool_2x2_ok(l->out.d[2])) {
        unpool_2x2(dyp, ap, dxp, l->in.d[1], l->in.d[2], l->out.d[1], l->out.d[2]);
        return;
    }
#endif
    memset(dxp, 0, (size_t)in_plane * sizeof(float));
    for (int64_t o = 0; o < out_plane; o++)
        dxp[ap[o]] += dyp[o];
}

static void bwd_part(void *p, int64_t p0, int64_t p1)
{
    const maxpool_job *j = p;
    const int64_t in_plane = (int64_t)j->l->in.d[1] * j->l->in.d[2];
    for (int64_t pl = p0; pl < p1; pl++)
        unpool_plane(j->l, pl, j->dy, j->dx + pl * in_plane);
}

static mlp_status maxpool_backward(mlp_layer *l, const float *x, const float *y,
                                   const float *dy, float *dx, int32_t n)
{
    (void)x;
    (void)y;
    maxpool_job j = {.l = l, .dy = dy, .dx = dx};
    mlp__pool_chunks((int64_t)n * l->in.d[0], 1, 1, bwd_part, &j);
    return MLP_STATUS_OK;
}

/* The layer as the sink of the planes of the layer before it. */
static void sink_put(const mlp__plane_sink *s, int64_t pl, const float *xp)
{
    pool_plane(s->l, pl, xp, s->y);
}

/* The 2x2 window's: the plane read as batch norm would have written it. */
static void sink_put_scaled(const mlp__plane_sink *s, int64_t pl, const float *xp,
                            float a, float b, int relu)
{
    const mlp_layer *l = s->l;
    const int64_t out_plane = (int64_t)l->out.d[1] * l->out.d[2];
    int32_t *ap = (int32_t *)(void *)l->scratch + pl * out_plane;
    maxpool_2x2_scaled(xp, s->y + pl * out_plane, ap, l->in.d[2], l->out.d[1],
                       l->out.d[2], a, b, relu);
}

static void sink_get(const mlp__plane_sink *s, int64_t pl, float *dxp)
{
    unpool_plane(s->l, pl, s->dy, dxp);
}

/* unpool_plane reads a plane of dy and of the argmax indices (backward);
 * pool_plane writes a plane of y and of the indices (forward). */
static void sink_ahead(const mlp__plane_sink *s, int64_t pl)
{
    const int64_t out_plane = (int64_t)s->l->out.d[1] * s->l->out.d[2];
    const int32_t *ap = (const int32_t *)(const void *)s->l->scratch + pl * out_plane;
    const int64_t bytes = out_plane * (int64_t)sizeof(float);
    if (s->dy) {
        mlp__prefetch(s->dy + pl * out_plane, bytes);
        mlp__prefetch(ap, bytes);
    } else {
        mlp__prefetch_write(s->y + pl * out_plane, bytes);
        mlp__prefetch_write(ap, bytes);
    }
}

static int maxpool_plane_sink(const mlp_layer *l, float *y, const float *dy,
                              mlp__plane_sink *s)
{
    if ((int64_t)l->in.d[1] * l->in.d[2] > MLP__PLANE_MAX)
        return 0;
    *s = (mlp__plane_sink){.put = sink_put,
                           .put_scaled = window_2x2(window(l)) ? sink_put_scaled : NULL,
                           .get = sink_get,
                           .ahead = sink_ahead,
                           .l = l,
                           .y = y,
                           .dy = dy};
    return 1;
}

/* Model-file configuration, version 1: kh, kw, stride, pad (i32 each). */
static void maxpool_write_config(const mlp_layer *l, unsigned char *p)
{
    const mlp__window *win = window(l);
    mlp__cfg_put_i32(p, win->kh);
    mlp__cfg_put_i32(p + 4, win->kw);
    mlp__cfg_put_i32(p + 8, win->sh);
    mlp__cfg_put_i32(p + 12, win->ph);
}

static mlp_status maxpool_read_config(mlp_layer **out, uint16_t version,
                                      const unsigned char *p)
{
    (void)version;
    *out = NULL;
    const int32_t kh = mlp__cfg_get_i32(p), kw = mlp__cfg_get_i32(p + 4);
    const int32_t pad = mlp__cfg_get_i32(p + 12);
    if (!mlp__pool_pad_ok(kh, kw, pad))
        return mlp__error(MLP_STATUS_BAD_FORMAT, "padding %d does not fit a %dx%d window",
                          (int)pad, (int)kh, (int)kw);
    return mlp_layer_create_maxpool(out, kh, kw, mlp__cfg_get_i32(p + 8), pad);
}

/* Attributes (mlp_layer_get_attr): 1 when the kind has `a`. */
static int maxpool_get_attr(const mlp_layer *l, mlp_layer_attr a, double *v)
{
    return mlp__window_attr(window(l), a, v);
}

const mlp_layer_ops mlp__maxpool_ops = {
    .name = "maxpool",
    .setup = maxpool_setup,
    .forward = maxpool_forward,
    .backward = maxpool_backward,
    .record = {.bytes = 16, .write = maxpool_write_config, .read = maxpool_read_config},
    .get_attr = maxpool_get_attr,
    .settings_size = sizeof(mlp__pool_settings),
    .backward_ignores_y = 1,
    .plane_sink = maxpool_plane_sink,
};

mlp_status mlp_layer_create_maxpool(mlp_layer **out, int32_t kh, int32_t kw,
                                    int32_t stride, int32_t pad)
{
    return mlp__pool_new(out, MLP_LAYER_MAXPOOL, kh, kw, stride, pad,
                         "mlp_layer_create_maxpool");
}
