/*
 * Softmax cross-entropy, fused with its gradient.
 *
 * For a row z with label c:  m = max z,  s = sum_j e^(z_j - m),
 *   loss = log s - (z_c - m),   dz_j = (e^(z_j - m) / s - [j = c]) / n.
 * Subtracting the row maximum keeps every exponent <= 0, so nothing
 * overflows whatever the size of the logits; the log-sum-exp form avoids
 * taking the log of a probability that underflowed to 0.
 */
#include <float.h>
#include <math.h>

#include "backend/gemm.h"
#include "backend/pool.h"
#include "backend/threads.h"
#include "loss_impl.h"
#include "tensor/tensor_impl.h"

/* The largest value of a row and the first position holding it. The scan
 * keeps eight running maxima (a select each, which is what the max
 * instruction computes, so the loop vectorises without a data-dependent
 * branch); the last 1 to 7 values of a row of 8 or more are scanned as the
 * 8 that end it, again (a maximum does not change for values seen twice).
 * The first position equal to the maximum is then the least of such
 * positions, a minimum over the row that vectorises too: a loop that
 * stopped at it mispredicted its exit on every row. The result is the
 * plain scan's: the first strict maximum in order. A NaN in z[0] makes the
 * maximum NaN (which the caller rejects); elsewhere it is skipped, as by
 * the plain scan. Inlined into its callers' vector clones, like
 * exp_shifted: as clones of their own, each row paid two indirect calls. */
static MLP__ALWAYS_INLINE float row_max(const float *z, int32_t k, int32_t *argmax)
{
    float m8[8];
    for (int l = 0; l < 8; l++)
        m8[l] = z[0];
    int32_t j = 0;
    for (; j + 8 <= k; j += 8)
        for (int l = 0; l < 8; l++)
            m8[l] = z[j + l] > m8[l] ? z[j + l] : m8[l];
    if (j < k && k >= 8)
        for (int l = 0; l < 8; l++)
            m8[l] = z[k - 8 + l] > m8[l] ? z[k - 8 + l] : m8[l];
    else
        for (; j < k; j++) /* rows shorter than 8 */
            m8[0] = z[j] > m8[0] ? z[j] : m8[0];
    float m = m8[0];
    for (int l = 1; l < 8; l++)
        m = m8[l] > m ? m8[l] : m;
    int32_t a = k - 1;
    for (int32_t i = 0; i < k; i++) {
        const int32_t at = z[i] == m ? i : k - 1;
        a = at < a ? at : a;
    }
    *argmax = a;
    return m;
}

/* e[j] = e^(z[j] - m) for j < k, vectorised (mlp__expf_vec: the same bits
 * as mlp__expf), into e when it is given. Returns their sum, added in eight
 * lanes (element j into lane j mod 8, in order of j) and then the lanes in
 * order: a fixed order, so the sum is the same on every machine and at
 * every thread count, and whether or not e is given. *finite is 0 when z
 * holds a NaN or an infinity (z - z is 0 only for finite values).
 *
 * One pass: each step of 8 computes, stores and adds its exponentials. The
 * last 1 to 7 elements of a row of 8 or more are computed as the 8 that end
 * the row, overlapping the step before (whose overlapping values come out
 * the same, bit for bit), instead of one scalar exponential each. */
static MLP__ALWAYS_INLINE float exp_shifted(const float *restrict z, int32_t k, float m,
                                            float *restrict e, int *finite)
{
    float s8[8] = {0}, f8[8] = {0}, v[8];
    int32_t j = 0;
    for (; j + 8 <= k; j += 8) {
        for (int l = 0; l < 8; l++) {
            v[l] = mlp__expf_vec(z[j + l] - m);
            s8[l] += v[l];
            f8[l] += z[j + l] - z[j + l];
        }
        if (e)
            for (int l = 0; l < 8; l++)
                e[j + l] = v[l];
    }
    if (j < k && k >= 8) {
        const int32_t b = k - 8; /* the last 8, from b > j - 8 */
        for (int l = 0; l < 8; l++)
            v[l] = mlp__expf_vec(z[b + l] - m);
        if (e)
            for (int l = 0; l < 8; l++)
                e[b + l] = v[l];
        for (; j < k; j++) {
            s8[j & 7] += v[j - b];
            f8[j & 7] += z[j] - z[j];
        }
    }
    for (; j < k; j++) { /* rows shorter than 8 */
        const float x = mlp__expf_vec(z[j] - m);
        if (e)
            e[j] = x;
        s8[j] += x;
        f8[j] += z[j] - z[j];
    }
    float s = 0.0f, f = 0.0f;
    for (int l = 0; l < 8; l++) {
        s += s8[l];
        f += f8[l];
    }
    *finite = f == 0.0f;
    return s;
}

/* Rows are cut into at most MAX_CHUNKS chunks of a size that depends on n
 * only; each chunk's loss and count are summed in row order, then the
 * chunks in chunk order, so the result is the same at any thread count
 * (the pool runs whole chunks). */
enum { MAX_CHUNKS = 64, MIN_CHUNK_ROWS = 16 };

/* A chunk's rows go through in blocks of BLOCK rows, each pass over the
 * whole block before the next: the maxima, then the exponentials and their
 * sums, then the gradients and losses. A row's passes depend on each
 * other's results; rows one after another, the next row's maximum waited
 * on this row's division and log. Blocked, the rows of a pass are
 * independent and overlap (batch 100 x 47, 1000 batches, 1 thread: 7.7 ms
 * in blocks of 1 row, 7.0 in blocks of 2, 4, 16 or 32). */
enum { BLOCK = 16 };

/* A batch's softmax cross-entropy, for the pool's parts; chunk t covers
 * rows [t * rows, (t + 1) * rows). */
typedef struct xent_job {
    const float *z, *class_w;
    const int32_t *labels;
    float *dz;
    float inv_n; /* 1 / n, or 1 / sum w; 0 when that overflows a float */
    double wsum; /* sum w (weighted only) */
    int32_t n, k, rows;
    double total[MAX_CHUNKS];
    int32_t hits[MAX_CHUNKS];
    int32_t bad_row[MAX_CHUNKS]; /* the chunk's first bad row, or -1 */
    mlp_status bad[MAX_CHUNKS];  /* and what is wrong with it */
} xent_job;

MLP_VECTOR_CLONES
static void xent_chunks(void *arg, int64_t t0, int64_t t1)
{
    xent_job *j = arg;
    const int32_t k = j->k;
    for (int64_t t = t0; t < t1; t++) {
        const int32_t i0 = (int32_t)t * j->rows;
        const int32_t i1 = j->n - i0 < j->rows ? j->n : i0 + j->rows;
        double total = 0.0;
        int32_t hits = 0;
        j->bad_row[t] = -1;
        for (int32_t b0 = i0; b0 < i1 && j->bad_row[t] < 0; b0 += BLOCK) {
            const int32_t b1 = i1 - b0 < BLOCK ? i1 : b0 + BLOCK;
            float m[BLOCK], s[BLOCK];
            int32_t am[BLOCK];
            int finite[BLOCK];
            for (int32_t i = b0; i < b1; i++)
                m[i - b0] = row_max(j->z + (int64_t)i * k, k, &am[i - b0]);
            for (int32_t i = b0; i < b1; i++)
                s[i - b0] =
                    exp_shifted(j->z + (int64_t)i * k, k, m[i - b0],
                                j->dz ? j->dz + (int64_t)i * k : NULL, &finite[i - b0]);
            /* in row order, so that the first bad row is the one reported
             * and the losses add up in the order they always did */
            for (int32_t i = b0; i < b1; i++) {
                const float *zi = j->z + (int64_t)i * k;
                const int32_t c = j->labels[i];
                if (c < 0 || c >= k) {
                    j->bad_row[t] = i;
                    j->bad[t] = MLP_STATUS_INVALID_ARG;
                    break;
                }
                if (!finite[i - b0]) {
                    j->bad_row[t] = i;
                    j->bad[t] = MLP_STATUS_NUMERIC;
                    break;
                }
                float *di = j->dz ? j->dz + (int64_t)i * k : NULL;
                if (di) {
                    float row = j->class_w ? j->class_w[c] * j->inv_n : j->inv_n;
                    /* tiny weights (see mlp__softmax_xent); w_c > 0, so
                     * sum w > 0 too */
                    if (j->inv_n == 0.0f && j->class_w[c] > 0.0f)
                        row = (float)(j->class_w[c] / j->wsum);
                    const float scale = row / s[i - b0];
                    /* a gradient below FLT_MIN is 0, not a subnormal float,
                     * which would slow every product that reads it (a class
                     * 83 to 87 below the row's largest logit at batch 100;
                     * farther, e is 0 already: see mlp__expf) */
                    for (int32_t e = 0; e < k; e++) {
                        const float v = di[e] * scale;
                        di[e] = fabsf(v) < FLT_MIN ? 0.0f : v;
                    }
                    di[c] -= row;
                }
                /* z_c - m overflows a float for logits more than FLT_MAX
                 * apart (the loss, that far, is still a double): the rare
                 * row takes it in double; the others keep the float
                 * difference, and the bits they always had. */
                const float gap = zi[c] - m[i - b0];
                const double l = log((double)s[i - b0]) -
                                 (isinf(gap) ? (double)zi[c] - m[i - b0] : (double)gap);
                total += j->class_w ? j->class_w[c] * l : l;
                hits += am[i - b0] == c;
            }
        }
        j->total[t] = total;
        j->hits[t] = hits;
    }
}

mlp_status mlp__softmax_xent(const float *z, int32_t n, int32_t k, const int32_t *labels,
                             const float *class_w, int zero_ok, float *dz, double *loss,
                             double *weight, int32_t *correct)
{
    double wsum = n;
    if (class_w) {
        wsum = 0.0;
        for (int32_t i = 0; i < n && labels[i] >= 0 && labels[i] < k; i++)
            wsum += class_w[labels[i]]; /* a bad label is reported below */
    }
    xent_job j = {.z = z, .class_w = class_w, .labels = labels, .dz = dz, .n = n, .k = k};
    j.wsum = wsum;
    /* Row i's gradient is w_i (softmax - onehot) / sum w (w = 1 unweighted).
     * Its factor w_i / sum w is at most 1, but 1 / sum w overflows a float
     * when the weights sum to less than 1 / FLT_MAX (subnormal weights, all
     * valid): then inv_n is 0 and each row divides in double instead (the
     * float inf made every gradient inf or NaN). Other weights keep the
     * float product and its bits. A sum of 0 is refused below, unless
     * zero_ok: then every row's weight is 0, so is its factor, and the
     * gradient is all 0. */
    j.inv_n = !class_w                              ? 1.0f / (float)n
              : wsum > 0.0 && 1.0 / wsum <= FLT_MAX ? (float)(1.0 / wsum)
                                                    : 0.0f;
    j.rows = (n + MAX_CHUNKS - 1) / MAX_CHUNKS;
    if (j.rows < MIN_CHUNK_ROWS)
        j.rows = MIN_CHUNK_ROWS;
    const int32_t chunks = n > 0 ? (n + j.rows - 1) / j.rows : 0;
    /* An element costs an exponential and more, several times an element
     * pass's work: split from a quarter of MLP_POOL_MIN elements. */
    mlp__pool_for(chunks, mlp__pool_grain((int64_t)j.rows * k, MLP_POOL_MIN / 4), 1,
                  xent_chunks, &j);
    double total = 0.0;
    int32_t hits = 0;
    for (int32_t t = 0; t < chunks; t++) {
        const int32_t i = j.bad_row[t];
        if (i >= 0 && j.bad[t] == MLP_STATUS_INVALID_ARG)
            return mlp__error(
                MLP_STATUS_INVALID_ARG,
                "softmax cross-entropy: label %d of row %d is outside 0..%d",
                (int)labels[i], (int)i, (int)k - 1);
        if (i >= 0)
            return mlp__error(MLP_STATUS_NUMERIC,
                              "softmax cross-entropy: row %d has a NaN or infinite logit",
                              (int)i);
        total += j.total[t];
        hits += j.hits[t];
    }
    if (!(wsum > 0.0) && !zero_ok)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "softmax cross-entropy: the class weights of this batch's %d "
                          "labels sum to 0",
                          (int)n);
    if (loss)
        *loss = wsum > 0.0 ? total / wsum : 0.0;
    if (weight)
        *weight = wsum;
    if (correct)
        *correct = hits;
    return MLP_STATUS_OK;
}

/* mlp__softmax's rows, in clones of their own: cloned functions stay
 * static, as clang makes the dispatcher only for callers in the same file
 * (and task.c calls mlp__softmax). */
MLP_VECTOR_CLONES
static void softmax_rows(const float *z, int32_t n, int32_t k, float *p)
{
    for (int32_t i = 0; i < n; i++) {
        const float *zi = z + (int64_t)i * k;
        float *pi = p + (int64_t)i * k;
        int32_t arg;
        float m = row_max(zi, k, &arg);
        int finite;
        const float s = exp_shifted(zi, k, m, pi, &finite);
        const float inv = 1.0f / s;
        for (int32_t j = 0; j < k; j++)
            pi[j] *= inv;
    }
}

void mlp__softmax(const float *z, int32_t n, int32_t k, float *p)
{
    softmax_rows(z, n, k, p);
}

mlp_status mlp_loss_softmax_xent(const mlp_tensor *logits, const int32_t *labels,
                                 double *loss, mlp_tensor *grad, int32_t *correct)
{
    static const char fn[] = "mlp_loss_softmax_xent";
    MLP_CHECK_ARG(logits, fn, "logits is NULL");
    MLP_CHECK_ARG(labels, fn, "labels is NULL");
    char a[64];
    if (logits->rank != 2)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: logits have shape %s, not [N,K]", fn,
                          mlp__tensor_shape_str(logits, a, sizeof a));
    if (grad && (grad->rank != 2 || grad->dims[0] != logits->dims[0] ||
                 grad->dims[1] != logits->dims[1]))
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: grad has shape %s but must be [%d,%d] like the logits", fn,
                          mlp__tensor_shape_str(grad, a, sizeof a), (int)logits->dims[0],
                          (int)logits->dims[1]);
    MLP_TRY(mlp__check_writable(grad, fn, "grad"));
    MLP_TRY(mlp__check_no_overlap(grad, "grad", logits, "logits", 0, fn));
    return mlp__softmax_xent(logits->data, logits->dims[0], logits->dims[1], labels, NULL,
                             0, grad ? grad->data : NULL, loss, NULL, correct);
}
