/*
 * Matrix products (the thread setting they follow is in threads.c).
 *
 * With OpenBLAS every product is cblas_sgemm. OpenBLAS runs
 * single-threaded and mlp__sgemm splits a product into blocks of rows (or
 * columns) of C, one per part of the library's pool (pool.h), whose
 * threads also run the element passes, so two pools never spin against
 * each other on the same cores. Splitting C by rows or columns computes
 * each element exactly once, with no cross-thread reduction; OpenBLAS may
 * still pick other kernels for other block shapes. A product whose K is
 * long against M and N is split along K instead, its parts' sums added in
 * a fixed order (see "Split along K"). Either way the last bits can differ
 * between thread counts (never between runs with the same count).
 * Without OpenBLAS, a portable blocked loop does the work
 * (-Dblas=disabled), split the same way.
 */
#include "gemm.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "pool.h"
#include "threads.h"

/* C = beta C over m x n, as BLAS does before adding alpha op(A) op(B):
 * beta = 0 writes zeros without reading C. */
static MLP__ALWAYS_INLINE void scale_by_beta(int m, int n, float beta, float *c, int ldc)
{
    for (int i = 0; i < m && beta != 1.0f; i++) {
        float *ci = c + (int64_t)i * ldc;
        if (beta == 0.0f) {
            for (int j = 0; j < n; j++)
                ci[j] = 0.0f;
        } else {
            for (int j = 0; j < n; j++)
                ci[j] *= beta;
        }
    }
}

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>

/* As in BLAS, alpha = 0 or k = 0 leaves beta C and reads neither A nor B.
 * OpenBLAS's own small-matrix kernels (AVX-512 cores, sgemm_small_kernel_permit)
 * do not: they compute alpha times the products, so a NaN or an infinity
 * in A or B made C NaN there even with alpha = 0. */
static void blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc)
{
    if (k == 0 || alpha == 0.0f) {
        scale_by_beta(m, n, beta, c, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta,
                c, ldc);
}

#endif

/* On the cores with small-matrix kernels (small_kernels), products (or
 * blocks) of at most SMALL_PRODUCT multiply-adds keep beta = 0 rather
 * than a cleared C and beta = 1. OpenBLAS's AVX-512 kernels run them on
 * small-matrix kernels of their own (up to 100^3, its
 * sgemm_small_kernel_permit), which have a variant for beta = 0 that
 * writes C without reading it and has no pass of its own to clear C.
 * Cleared first, C was written twice and read once more. In the 32/64-map
 * ConvNet (bench_convnet, 2 threads, 3 interleaved rounds) the 32->64
 * layer's forward pass, 16 products of 64 x 98 x 32 a group of samples,
 * went from 2.43-2.49 to 2.18-2.23 ms and the step from 15.6-16.4 to
 * 15.1-15.5 ms (with Haswell's kernels on that Xeon the step measured
 * alike either way, 18.3-19.0 against 18.4-18.7 ms). Other cores have no
 * such path: there OpenBLAS clears C for beta = 0 in its slow pass (below)
 * whatever the size, so every product with beta = 0 has C cleared first.
 * On an AMD EPYC (Zen 3, OpenBLAS's Zen kernels, 1 thread) the baseline
 * MLP's backward products of layers 3 to 1 (dW and dx, 100 x 100 x 100
 * and smaller) took 133-134 us a step cleared against 148-149 us with
 * beta = 0 (medians of 41 interleaved rounds), and in a profile of
 * bench_convnet OpenBLAS's clearing pass (sgemm_beta) had taken 4.5% of
 * the time, against 1.2% more in memset once C was cleared first. */
#define SMALL_PRODUCT 1e6

/*
 * Skinny products, cut into small ones. The small-matrix kernels read A
 * and B where they are; the main path first copies both into packed
 * panels, and for a product with one long side and two short ones those
 * copies are a large share of its time. Such a product runs faster as a
 * run of products of at most SMALL_PRODUCT multiply-adds along its long
 * side. Two shapes gain, both common in dense layers at batch sizes near
 * 100 (1 thread, best of 7, cut against whole):
 *   - no transposes, the long side K (the forward product of a wide
 *     input): C [m, n] at most CUT_NN_MN values. 100 x 100 x 784 took
 *     85 against 100 us; 100 x 47 x 784 45 against 73 us; up to 150 x 150
 *     every K from 300 to 6000 gained or tied. Each cut adds its sums onto
 *     C (beta = 1 after the first).
 *   - A transposed, the long side M (a weight gradient, K the batch):
 *     n k at most CUT_TN_NK. 784 x 100 x 100 took 80 against 95 us;
 *     784 x 47 x 100 42 against 66 us; at 128 x 128 and above it lost
 *     10-15%, hence the tighter bound. The cuts are blocks of rows of C.
 * Other shapes lost (cutting N: 0.74-0.88x), and B transposed has no small
 * kernel for such C in OpenBLAS. Products of up to CUT_MOST * SMALL_PRODUCT
 * multiply-adds are cut. On an AVX-512 Xeon (1 thread) cutting gained
 * across that range: 100 x 128 x 3136 took 412 against 531 us,
 * 100 x 47 x 3136 190 against 297, 128 x 128 x 784 120 against 154,
 * 100 x 100 x 6400 767 against 879, the weight gradient 3136 x 64 x 100
 * 201 against 243; in the 32/64-map ConvNet's step the
 * dense layer's forward product (100 x 128 x 3136) went from 0.58 to
 * 0.44 ms at 1 thread, and split along K on 2 threads (below) from 0.32
 * to 0.24 ms. Larger products lost on 2 threads, where both stream from
 * memory at once: 64 x 144 x 19600 (a conv layer's whole-batch im2col
 * product, half of it a thread) took 3.6 against 3.4 ms cut. Only cores
 * with the small kernels cut (small_kernels): with Haswell's, the cut
 * weight gradient lost 6%.
 */
#define CUT_NN_MN 16384.0
#define CUT_TN_NK 10000.0
#define CUT_MOST 64

/* mlp__gemm_force_small_kernels's setting: -1 until a test forces it. */
static _Atomic int small_forced = -1;

void mlp__gemm_force_small_kernels(int on)
{
    atomic_store_explicit(&small_forced, on < 0 ? -1 : on != 0, memory_order_relaxed);
}

/* mlp__gemm_force_tile_copies's setting. */
static _Atomic int tile_copies_forced;

void mlp__gemm_force_tile_copies(int on)
{
    atomic_store_explicit(&tile_copies_forced, on != 0, memory_order_relaxed);
}

/* The cores whose OpenBLAS kernels include the small-matrix ones (or what
 * a test forced). */
static int small_kernels(void)
{
    const int forced = atomic_load_explicit(&small_forced, memory_order_relaxed);
    if (forced >= 0)
        return forced;
#ifdef MLPNET_HAVE_OPENBLAS
    static _Atomic int known = -1; /* -1 until read */
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v < 0) {
        static const char *const cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
        const char *name = openblas_get_corename();
        v = 0;
        for (size_t i = 0; name && i < sizeof cores / sizeof cores[0]; i++)
            v |= strcmp(name, cores[i]) == 0;
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v;
#else
    return 0;
#endif
}

/* The length of the cuts of a side `len` long, whose product with the
 * other two sides' `across` is the product's size: equal cuts of at most
 * SMALL_PRODUCT multiply-adds; len itself when no cut is needed. */
static int cut_length(int len, double across)
{
    const int most = (int)(SMALL_PRODUCT / across);
    const int cuts = (len + most - 1) / most;
    return (len + cuts - 1) / cuts;
}

/*
 * B transposed, copied back. A product C = A B^T with C of more than 1200
 * values has no small kernel in OpenBLAS (its sgemm_small_kernel_permit),
 * so it takes the main path, packing copies and all, even when the same
 * product with no transposes would take the small path. Such a product
 * (at least UNTRANSPOSE_ROWS rows of C, B of at most UNTRANSPOSE_MOST
 * values) runs faster on a transposed copy of B, made on the thread that
 * computes it: the input gradient of a dense layer of 100 x 100 at batch
 * 100 took 10.3 us (and the copy about 0.5) against 15.0 us, of 100 x 47
 * 5.1 against 7.5 us. Each thread keeps its copy's buffer (thread_floats)
 * and frees it when it ends; where the buffer cannot be had, the product
 * runs as it was asked for.
 */
#define UNTRANSPOSE_ROWS 32
#define UNTRANSPOSE_MOST 65536.0

/* Buffers a thread keeps for the library's products: B transposed back
 * (above), the partial sums of a product split along K (below), and the
 * portable product's copies of blocks of A and B (below). */
enum { STORE_COPY, STORE_PARTIALS, STORE_PACK, STORES };

static pthread_key_t store_keys[STORES];
static pthread_once_t stores_once = PTHREAD_ONCE_INIT;
static int stores_made;
static _Thread_local float *stores[STORES];
static _Thread_local size_t store_caps[STORES];

static void make_store_keys(void)
{
    int made = 1;
    for (int s = 0; s < STORES; s++)
        made &= pthread_key_create(&store_keys[s], free) == 0;
    stores_made = made;
}

/* This thread's buffer `s` of at least `floats` floats, or NULL; freed
 * when the thread ends. Outside the allocation counter (core.h): it
 * outlives models and is no model's. */
static float *thread_floats(int s, size_t floats)
{
    if (floats <= store_caps[s])
        return stores[s];
    pthread_once(&stores_once, make_store_keys);
    void *p = NULL;
    if (!stores_made || posix_memalign(&p, 64, floats * sizeof(float)) != 0)
        return NULL;
    if (pthread_setspecific(store_keys[s], p) != 0) {
        free(p);
        return NULL;
    }
    free(stores[s]);
    stores[s] = p;
    store_caps[s] = floats;
    return p;
}

#ifndef MLPNET_HAVE_OPENBLAS

/* The portable product. C is computed in tiles of MR x NR held in
 * registers, over blocks of KC terms; the tiles read copies of A's and
 * B's blocks (MC rows of A, NC columns of B at most), laid out in the
 * order the tiles read them: rows of MR floats for A (alpha times A) and
 * of NR for B, with the rows and columns past C's as zeros. Each copy is
 * made once per block, however A and B are transposed. Each element of C
 * still adds its terms one at a time in order of p, alpha a times b, onto
 * beta C: the bits depend only on the arguments, not on the blocks, the
 * tiles or the thread blocks. As in BLAS, alpha = 0 or k = 0 leaves beta
 * C and reads neither A nor B; otherwise a NaN or an infinity in A or B
 * reaches C, as with OpenBLAS, also where the other factor is 0.
 *
 * The loop it replaced went along a row of C once per term and vectorised
 * only where B was not transposed; the convolution suite spent most of its
 * time under valgrind there. (GCC 12 -O2 vectorised a version that read
 * A in place, in strided groups of a tile's rows, with loads past the end
 * of A: valgrind saw them.) Where the thread's buffer for the copies
 * cannot be had, the blocks shrink to one tile, copied on the stack. */
enum { MR = 4, NR = 8, KC = 256, MC = 64, NC = 256 };

/* C's MR x NR tile at c (its first `rows` rows and `nr` columns real) +=
 * the kc terms of ap (kc rows of MR) times bp (kc rows of NR). The tile
 * goes through a copy, so that the sums stay in registers whatever nr
 * is; with GNU C's vectors a row of the tile is one vector (GCC 12 made
 * the plain loop's rows two of four lanes, which took twice the
 * instructions). */
static MLP__ALWAYS_INLINE void tile(const float *ap, const float *bp, int kc, float *c,
                                    int ldc, int rows, int nr)
{
    float ct[MR][NR] = {{0}};
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < nr; q++)
            ct[r][q] = c[(int64_t)r * ldc + q];
#if defined(__GNUC__)
    typedef float row_v __attribute__((vector_size(NR * sizeof(float))));
    row_v acc[MR];
    memcpy(acc, ct, sizeof acc);
    for (int t = 0; t < kc; t++) {
        row_v bt;
        memcpy(&bt, bp + t * NR, sizeof bt);
#pragma GCC unroll 4
        for (int r = 0; r < MR; r++)
            acc[r] += ap[t * MR + r] * bt;
    }
    memcpy(ct, acc, sizeof acc);
#else
    for (int t = 0; t < kc; t++)
        for (int r = 0; r < MR; r++)
            for (int q = 0; q < NR; q++)
                ct[r][q] += ap[t * MR + r] * bp[t * NR + q];
#endif
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < nr; q++)
            c[(int64_t)r * ldc + q] = ct[r][q];
}

/* The copy that tile() reads of `lines` lines of a matrix, each of kc
 * terms, scaled: element t of line l is scale x[l line_step + t
 * term_step]. For each W lines (MR rows of op(A) or NR columns of op(B)),
 * kc rows of W floats, the lines past `lines` as zeros. Where a whole
 * panel's lines lie side by side in x (line_step 1), a row of the copy is
 * W floats of x. */
static void pack(const float *x, int64_t line_step, int64_t term_step, int lines, int kc,
                 int W, float scale, float *out)
{
    for (int l0 = 0; l0 < lines; l0 += W, out += (int64_t)kc * W) {
        const int n = lines - l0 < W ? lines - l0 : W;
        const float *x0 = x + l0 * line_step;
        if (line_step == 1 && n == W) {
            for (int t = 0; t < kc; t++)
                for (int l = 0; l < W; l++)
                    out[t * W + l] = scale * x0[t * term_step + l];
            continue;
        }
        for (int l = 0; l < W; l++) {
            float *d = out + l;
            if (l >= n) {
                for (int t = 0; t < kc; t++)
                    d[t * W] = 0.0f;
                continue;
            }
            const float *s = x0 + l * line_step;
            for (int t = 0; t < kc; t++)
                d[t * W] = scale * s[t * term_step];
        }
    }
}

/* The copy of op(B)'s rows [p, p + kc) by columns [j, j + n): its
 * columns are lines, a row of B each where B is transposed. B is not
 * scaled (1 x b is b, bit for bit). */
static void pack_b(int trans_b, const float *b, int ldb, int p, int kc, int j, int n,
                   float *bp)
{
    if (trans_b)
        pack(b + (int64_t)j * ldb + p, ldb, 1, n, kc, NR, 1.0f, bp);
    else
        pack(b + (int64_t)p * ldb + j, 1, ldb, n, kc, NR, 1.0f, bp);
}

/* The copy of alpha op(A)'s rows [i, i + m) by columns [p, p + kc): its
 * rows are lines, a column of A each where A is transposed. */
static void pack_a(int trans_a, float alpha, const float *a, int lda, int i, int m, int p,
                   int kc, float *ap)
{
    if (trans_a)
        pack(a + (int64_t)p * lda + i, 1, lda, m, kc, MR, alpha, ap);
    else
        pack(a + (int64_t)i * lda + p, lda, 1, m, kc, MR, alpha, ap);
}

MLP_VECTOR_CLONES
static void blas_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta,
                       float *c, int ldc)
{
    scale_by_beta(m, n, beta, c, ldc);
    if (alpha == 0.0f || k == 0)
        return;
    float tile_a[MR * KC], tile_b[KC * NR];
    float *ap = atomic_load_explicit(&tile_copies_forced, memory_order_relaxed)
                    ? NULL
                    : thread_floats(STORE_PACK, (size_t)MC * KC + (size_t)KC * NC),
          *bp;
    int mc = MC, nc = NC;
    if (ap) {
        bp = ap + (size_t)MC * KC;
    } else {
        ap = tile_a;
        bp = tile_b;
        mc = MR;
        nc = NR;
    }
    for (int j = 0; j < n; j += nc) {
        const int nb = n - j < nc ? n - j : nc;
        for (int p = 0; p < k; p += KC) {
            const int kc = k - p < KC ? k - p : KC;
            pack_b(trans_b, b, ldb, p, kc, j, nb, bp);
            for (int i = 0; i < m; i += mc) {
                const int mb = m - i < mc ? m - i : mc;
                pack_a(trans_a, alpha, a, lda, i, mb, p, kc, ap);
                for (int q = 0; q < nb; q += NR)
                    for (int r = 0; r < mb; r += MR)
                        tile(ap + (int64_t)r * kc, bp + (int64_t)q * kc, kc,
                             c + (int64_t)(i + r) * ldc + j + q, ldc,
                             mb - r < MR ? mb - r : MR, nb - q < NR ? nb - q : NR);
            }
        }
    }
}

#endif

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define SHUFFLE_TRANSPOSE 1
/* Eight floats at any float's address (unaligned loads and stores, which
 * may alias the floats). */
typedef float v8 __attribute__((vector_size(32), aligned(4), may_alias));
#define SHUF8(a, b, ...) __builtin_shufflevector((a), (b), __VA_ARGS__)
/* Rows p and p + 1 interleaved, then pairs of pairs, then halves: column
 * c of the block ends up in out[c]. */
#define PAIRS(x, y, lo, hi)                                                              \
    lo = SHUF8(x, y, 0, 8, 1, 9, 4, 12, 5, 13);                                          \
    hi = SHUF8(x, y, 2, 10, 3, 11, 6, 14, 7, 15)
#define QUADS(x, y, lo, hi)                                                              \
    lo = SHUF8(x, y, 0, 1, 8, 9, 4, 5, 12, 13);                                          \
    hi = SHUF8(x, y, 2, 3, 10, 11, 6, 7, 14, 15)
#define HALVES(x, y, lo, hi)                                                             \
    lo = SHUF8(x, y, 0, 1, 2, 3, 8, 9, 10, 11);                                          \
    hi = SHUF8(x, y, 4, 5, 6, 7, 12, 13, 14, 15)
#else
#define SHUFFLE_TRANSPOSE 0
#endif

/* t [cols, rows] (rows a row) = a^T for a [rows, cols] (lda a row): blocks
 * of 8 x 8 by three rounds of shuffles, the edges one value at a time. */
MLP_VECTOR_CLONES
static void transpose(const float *restrict a, int rows, int cols, int lda,
                      float *restrict t)
{
    int i = 0;
#if SHUFFLE_TRANSPOSE
    for (; i + 8 <= rows; i += 8) {
        const float *ai = a + (int64_t)i * lda;
        int j = 0;
        for (; j + 8 <= cols; j += 8) {
            const v8 r0 = *(const v8 *)(ai + j), r1 = *(const v8 *)(ai + lda + j),
                     r2 = *(const v8 *)(ai + 2 * lda + j),
                     r3 = *(const v8 *)(ai + 3 * lda + j),
                     r4 = *(const v8 *)(ai + 4 * lda + j),
                     r5 = *(const v8 *)(ai + 5 * lda + j),
                     r6 = *(const v8 *)(ai + 6 * lda + j),
                     r7 = *(const v8 *)(ai + 7 * lda + j);
            v8 u0, u1, u2, u3, u4, u5, u6, u7, w0, w1, w2, w3, w4, w5, w6, w7;
            PAIRS(r0, r1, u0, u1);
            PAIRS(r2, r3, u2, u3);
            PAIRS(r4, r5, u4, u5);
            PAIRS(r6, r7, u6, u7);
            QUADS(u0, u2, w0, w1);
            QUADS(u1, u3, w2, w3);
            QUADS(u4, u6, w4, w5);
            QUADS(u5, u7, w6, w7);
            float *tj = t + (int64_t)j * rows + i;
            HALVES(w0, w4, *(v8 *)tj, *(v8 *)(tj + 4 * (int64_t)rows));
            HALVES(w1, w5, *(v8 *)(tj + rows), *(v8 *)(tj + 5 * (int64_t)rows));
            HALVES(w2, w6, *(v8 *)(tj + 2 * (int64_t)rows),
                   *(v8 *)(tj + 6 * (int64_t)rows));
            HALVES(w3, w7, *(v8 *)(tj + 3 * (int64_t)rows),
                   *(v8 *)(tj + 7 * (int64_t)rows));
        }
        for (; j < cols; j++)
            for (int q = 0; q < 8; q++)
                t[(int64_t)j * rows + i + q] = ai[(int64_t)q * lda + j];
    }
#endif
    for (; i < rows; i++)
        for (int j = 0; j < cols; j++)
            t[(int64_t)j * rows + i] = a[(int64_t)i * lda + j];
}

/* The cut a product takes (see above), none where it runs whole. */
enum { CUT_NONE, CUT_K, CUT_M };

static int cut_of(int trans_a, int trans_b, int m, int n, int k)
{
    const double mnk = (double)m * n * k;
    if (trans_b || mnk <= SMALL_PRODUCT || mnk > CUT_MOST * SMALL_PRODUCT ||
        !small_kernels())
        return CUT_NONE;
    if (!trans_a && (double)m * n <= CUT_NN_MN)
        return CUT_K;
    if (trans_a && (double)n * k <= CUT_TN_NK)
        return CUT_M;
    return CUT_NONE;
}

/* Whether the product gets B transposed back (see above): the product
 * with no transposes takes the small kernels, whole or cut. */
static int untranspose_b(int trans_a, int trans_b, int m, int n, int k)
{
    if (trans_a || !trans_b || m < UNTRANSPOSE_ROWS || (double)n * k > UNTRANSPOSE_MOST ||
        !small_kernels())
        return 0;
    return (double)m * n * k <= SMALL_PRODUCT || cut_of(0, 0, m, n, k) == CUT_K;
}

/* C = alpha op(A) op(B) + beta C, with B transposed back and in skinny
 * cuts where they run faster (see above); the bits depend only on the
 * arguments. */
static void product(int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta,
                    float *c, int ldc)
{
    const double mnk = (double)m * n * k;
    if (untranspose_b(trans_a, trans_b, m, n, k)) {
        float *t = thread_floats(STORE_COPY, (size_t)n * (size_t)k);
        if (t) {
            transpose(b, n, k, ldb, t);
            b = t;
            ldb = n;
            trans_b = 0;
        }
    }
    const int cut = cut_of(trans_a, trans_b, m, n, k);
    if (cut == CUT_K) {
        const int step = cut_length(k, (double)m * n);
        for (int k0 = 0; k0 < k; k0 += step) {
            const int kk = k - k0 < step ? k - k0 : step;
            blas_sgemm(0, 0, m, n, kk, alpha, a + k0, lda, b + (int64_t)k0 * ldb, ldb,
                       k0 ? 1.0f : beta, c, ldc);
        }
        return;
    }
    if (cut == CUT_M) {
        const int step = cut_length(m, (double)n * k);
        for (int r = 0; r < m; r += step)
            blas_sgemm(1, 0, m - r < step ? m - r : step, n, k, alpha, a + r, lda, b, ldb,
                       beta, c + (int64_t)r * ldc, ldc);
        return;
    }
    if (beta == 0.0f && (mnk > SMALL_PRODUCT || !small_kernels())) {
        /* Clear C here and accumulate onto it: OpenBLAS clears C for
         * beta = 0 in a pass of its own that stores one float at a time
         * (sgemm_beta), several times slower than memset; with beta = 1 it
         * skips that pass. The bits are the same (0 + sum): that pass
         * writes zeros which the kernels then add onto. */
        if (n == ldc)
            memset(c, 0, (size_t)m * (size_t)n * sizeof *c);
        else
            for (int i = 0; i < m; i++)
                memset(c + (int64_t)i * ldc, 0, (size_t)n * sizeof *c);
        beta = 1.0f;
    }
    blas_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* The rows (split_m) or columns of C that part t of `parts` computes. */
static void part_block(const mlp__gemm *g, int t, int parts, int *split_m, int64_t *lo,
                       int64_t *hi)
{
    *split_m = g->m >= g->n;
    mlp__pool_range(*split_m ? g->m : g->n, parts, 8, t, lo, hi);
}

int mlp__sgemm_parts(const mlp__gemm *g)
{
    /* Below MLP_GEMM_SPLIT_MIN multiply-adds a part would cost less than
     * handing it to a worker; blocks are at least 8 rows or columns, cut at
     * multiples of 8 so each part keeps OpenBLAS's full-width kernels. */
    if ((double)g->m * g->n * g->k < MLP_GEMM_SPLIT_MIN)
        return 1;
    return mlp__pool_parts(g->m >= g->n ? g->m : g->n, 8);
}

void mlp__sgemm_part(const mlp__gemm *g, int t, int parts)
{
    int split_m;
    int64_t lo, hi;
    part_block(g, t, parts, &split_m, &lo, &hi);
    if (lo >= hi)
        return;
    const float *a = g->a, *b = g->b;
    float *c = g->c;
    int m = g->m, n = g->n;
    if (split_m) {
        a += g->trans_a ? lo : lo * g->lda;
        c += lo * g->ldc;
        m = (int)(hi - lo);
    } else {
        b += g->trans_b ? lo * g->ldb : lo;
        c += lo;
        n = (int)(hi - lo);
    }
    float beta = g->beta;
    if (g->bias) { /* this block of C starts as the bias */
        for (int i = 0; i < m; i++)
            memcpy(c + (int64_t)i * g->ldc, g->bias + (split_m ? 0 : lo),
                   (size_t)n * sizeof *c);
        beta = 1.0f;
    }
    product(g->trans_a, g->trans_b, m, n, g->k, g->alpha, a, g->lda, b, g->ldb, beta, c,
            g->ldc);
}

/*
 * Split along K. Cut into blocks of rows or columns of C, a product whose
 * K is long against M and N has every part read all of one operand (each
 * half of the ConvNet dense layer's 100 x 128 x 3136 forward product, 64
 * columns of C, reads all of A: 1.25 MB), and each part is skinnier than
 * the whole. Such a product (no transposes, K at least K_SPLIT_RATIO times
 * M and N, C of at most K_SPLIT_MOST_C values) runs on two or more threads
 * as parts along K instead, each reading its share of A and of B. Part 0
 * computes C's product over its K values (bias and beta as asked), each
 * other part its own into a block of partial sums, and a second pass adds
 * the blocks onto C in part order. The partial sums are the calling
 * thread's buffer (thread_floats), so every part writes where it would if
 * the caller ran them all.
 *
 * Measured at 2 threads, best of 9, split along K against rows or columns
 * of C (each part cut as above):
 *   - 100 x 128 x 3136: 201 against 288 us;
 *   - 100 x 47 x 1536: 49 against 58 us;
 *   - 50 x 128 x 3136: 111 against 135 us;
 *   - 64 x 144 x 19600: 1281 against 1537 us;
 *   - 100 x 100 x 1568: 95 against 104 us;
 *   - 100 x 128 x 1024: tied;
 *   - K under 8 times M or N lost: 200 x 100 x 784 took 108 against 90 us,
 *     128 x 128 x 512 50 against 45 us.
 * In the ConvNet's training step at 2 threads, the dense layer's forward
 * pass went from 0.39-0.41 to 0.22-0.23 ms.
 *
 * The sums run in another order than the whole product's, so results
 * differ from those at 1 thread in the last bits, as with any split; for
 * a given thread count they are always the same. Where the buffer cannot
 * be had, the product is split by rows or columns of C.
 */
#define K_SPLIT_RATIO 8
/* C's values at most: its partial sums stay small (256 KB a thread) */
#define K_SPLIT_MOST_C 65536.0
/* K values a part holds at least */
#define K_SPLIT_GRAIN 64

int mlp__sgemm_k_parts(const mlp__gemm *g)
{
    const int longer = g->m > g->n ? g->m : g->n;
    if (g->trans_a || g->trans_b || (double)g->k < K_SPLIT_RATIO * (double)longer ||
        (double)g->m * g->n > K_SPLIT_MOST_C ||
        (double)g->m * g->n * g->k < MLP_GEMM_SPLIT_MIN)
        return 0;
    const int parts = mlp__pool_parts(g->k, K_SPLIT_GRAIN);
    return parts > 1 ? parts : 0;
}

/* A product and its part count, for the pool; a split along K's block of
 * partial sums, parts - 1 of m x n (NULL for a split of C). */
typedef struct gemm_job {
    const mlp__gemm *g;
    int parts;
    float *partials;
} gemm_job;

static void gemm_parts(void *arg, int64_t lo, int64_t hi)
{
    const gemm_job *j = arg;
    for (int64_t t = lo; t < hi; t++)
        mlp__sgemm_part(j->g, (int)t, j->parts);
}

/* Parts [lo, hi) along K: part t's product over its K values, part 0's
 * onto C, the others' into their blocks of partial sums. */
static void k_parts(void *arg, int64_t lo, int64_t hi)
{
    const gemm_job *j = arg;
    const mlp__gemm *g = j->g;
    for (int64_t t = lo; t < hi; t++) {
        int64_t k0, k1;
        mlp__pool_range(g->k, j->parts, MLP__SGEMM_K_ALIGN, (int)t, &k0, &k1);
        mlp__gemm p = *g;
        p.k = (int)(k1 - k0);
        p.a = g->a + k0;
        p.b = g->b + k0 * g->ldb;
        if (t > 0) {
            p.c = j->partials + (t - 1) * (int64_t)g->m * g->n;
            p.ldc = g->n;
            p.beta = 0.0f;
            p.bias = NULL;
        }
        mlp__sgemm_part(&p, 0, 1);
    }
}

/* Rows [lo, hi) of C: the partial sums added in part order. */
static void k_sums(void *arg, int64_t lo, int64_t hi)
{
    const gemm_job *j = arg;
    const mlp__gemm *g = j->g;
    const int64_t block = (int64_t)g->m * g->n;
    for (int64_t i = lo; i < hi; i++) {
        float *restrict ci = g->c + i * g->ldc;
        for (int t = 1; t < j->parts; t++) {
            const float *restrict pi = j->partials + (t - 1) * block + i * g->n;
            for (int c = 0; c < g->n; c++)
                ci[c] += pi[c];
        }
    }
}

void mlp__sgemm_run(const mlp__gemm *g)
{
    gemm_job j = {g, mlp__sgemm_k_parts(g), NULL};
    if (j.parts > 0)
        j.partials =
            thread_floats(STORE_PARTIALS, (size_t)(j.parts - 1) * (size_t)g->m * g->n);
    if (j.partials) {
        mlp__pool_for(j.parts, 1, 1, k_parts, &j);
        mlp__pool_for(g->m, mlp__pool_grain(g->n, MLP_POOL_MIN), 1, k_sums, &j);
        return;
    }
    j.parts = mlp__sgemm_parts(g);
    mlp__pool_for(j.parts, 1, 1, gemm_parts, &j);
}

void mlp__sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c,
                int ldc)
{
    mlp__gemm g = {trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, NULL};
    mlp__sgemm_run(&g);
}
