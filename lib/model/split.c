/*
 * The training step split by rows across the pool's threads.
 *
 * With two or more threads, a step on a model whose layers all take each
 * sample on its own (ops->by_sample: dense, the activations, reshape,
 * standardize, average pooling) cuts the batch into parts of rows, one per thread, and
 * runs each part's forward pass, loss and backward pass on its thread from start to end:
 * part 0 through the model's layers, part t through copies of them whose gradients go to
 * a buffer of the part's own. One pass over the parameters then adds the parts' gradients
 * into the model's, and the optimizer steps as after any step.
 *
 * Why: the rest of the library splits each product and each pass across
 * the threads, so that between phases every activation and gradient goes
 * from the core that wrote it to the other. A small model's step is too
 * short to hide that: on a 2-core virtual machine whose cores took 220 ns
 * to hand over a cache line, the baseline MLP (784-100-100-100-47, batch
 * 100) trained no faster on 2 threads than on 1. Split by rows, a thread
 * keeps its rows from the gather to the gradient; only the weights (read
 * by every part) and the parts' gradients (added) cross. The price is
 * products over fewer rows, somewhat slower per row. bench_split measures
 * the two ways side by side.
 *
 * Each part's loss gradient (its rows' mean's) is scaled by its share of
 * the batch, so the gradients' sum is the batch mean's up to rounding:
 * results differ from the one-thread step in the last bits, as products
 * split across threads already make them, and never between runs with
 * the same thread count (the parts and the order of the sums depend on the
 * row and thread counts only). The parts are the ones the pool gives the
 * gather of a batch (the same count and grain: dataset.c), so each thread
 * trains on the rows it gathered.
 *
 * The first layer split by its inputs. When the model starts with a dense
 * layer that holds half its parameters or more (the baseline MLP's 784 ->
 * 100 holds 76%), split by rows every part reads all of that layer's
 * weights, which the other thread stepped, and the parts' gradients of
 * them cross to be added: per step, about a layer's weights each way.
 * So that layer is split by its inputs instead (first_split): part t owns
 * inputs [feat[t], feat[t + 1]), which are rows of W, whole 64-byte lines
 * of it. Before the parts, it multiplies its inputs' columns of the whole
 * batch by its rows of W (first_fwd); each part then adds the products'
 * rows it needs (part 0's with the bias) and runs layers 1.. on its rows as
 * above, down to the gradient of layer 0's output; after the parts, part t
 * computes its rows of W's gradient from the whole batch (first_back), and
 * the optimizer's part t steps them (mlp__split_cut gives the step that
 * cut). What crosses is the first layer's outputs and their gradients,
 * not its weights; so a batch too large for that to pay is split by rows
 * (first_rows). The batch's inputs cross too, unless the caller gathers
 * them in the parts' column blocks (mlp__split_input_blocks, as
 * mlp_model_fit does: m->x_blocks), each thread its own inputs of every
 * sample in one stretch of memory, which then never leaves its core. On
 * the baseline MLP (2 vCPUs, batch 100) 2 threads went from 1.32-1.41x to
 * 1.48-1.60x faster than 1 (and the blocks from 1.49-1.50x to 1.55-1.58x,
 * bench_split, when the cores were slow to hand data over). The layer's
 * product is summed in another order than the unsplit step's, so its
 * results differ from it in the last bits, as above.
 *
 * Batches too short to split by rows (under 2 MIN_ROWS rows) still split
 * that first layer by its inputs, with one part by rows (rparts 1): the
 * threads compute their inputs' share of the layer's product and of its
 * gradient, and the calling thread runs the rest of the step on every row
 * (as the unsplit step does: a product there large enough to split is
 * split across the threads) and steps the rest of the parameters. Left to
 * the unsplit step, whose every product of the first layer is split too,
 * such a batch trained slower on 2 threads than on 1. The baseline MLP
 * through mlp_model_fit (2 vCPUs, cores slow to hand data over, 3 pairs of
 * runs), 2 threads against 1, the unsplit step then this: 0.72-0.80x then
 * 0.99-1.17x at 16 rows a batch, 0.80-0.81x then 0.96-1.00x at 24,
 * 0.64-0.69x then 1.07-1.13x at 8, 0.59-0.63x then 0.93-0.99x at 4;
 * 784 -> 1000 ReLU -> 47 at 8 rows 0.67-0.72x then 1.45-1.61x.
 * bench_split times the two at 16 rows.
 *
 * Not split: a distributed model (dist.c splits across processes), a loss
 * with class weights (a part's labels could weigh 0 where the batch's do
 * not), and models with any other kind of layer (batch norm needs the
 * whole batch; the others keep scratch, workspace or masks, which the
 * check of their sizes below also rules out, behind the kinds' own word).
 */
#include <stdio.h>
#include <string.h>

#include "backend/gemm.h"
#include "backend/pool.h"
#include "backend/threads.h"
#include "model_impl.h"

/* Rows a part holds at least: the gather's grain (put_rows in dataset.c).
 * At most MAX_PARTS parts. A first dense layer is split by its inputs when
 * each part gets FIRST_MIN_IN of them at least. */
enum { MIN_ROWS = 16, MAX_PARTS = MLP__CUT_MAX, FIRST_MIN_IN = 64 };

/* What part t writes in a step, on lines of its own (the allocator's
 * blocks are 64-byte aligned): the parts' threads never share a line. */
typedef struct part_out {
    _Alignas(64) mlp__loss_sums sums;
    mlp_status st;
    int loss_failed;
    const float *dy0; /* first-layer split: its rows' gradient of layer 0's output */
    char msg[256];    /* its error message (its thread's) */
} part_out;

struct mlp__split {
    /* What the buffers fit: `parts` parts of up to `rows` rows each, of a
     * model of n_layers layers and n_params parameters. The rest of their
     * sizes (outputs, row widths) follows from the layers, which the model
     * only ever adds to. rparts: this step's parts by rows, `parts` or 1
     * (a short batch), which the optimizer's cut follows; the buffers fit
     * either. */
    int parts, rparts, n_layers;
    int32_t rows;
    int64_t n_params;
    int bound;         /* the copies are bound to the model's layers */
    mlp_layer *copies; /* (parts - 1) x n_layers: parts 1.. */
    mlp_layer **views; /* parts x n_layers: part 0's are the model's */
    float *grads;      /* (parts - 1) x n_params */
    double *out_sums;  /* (parts - 1) x 3k: the per-output loss sums */
    float **acts;      /* (parts - 1) x n_layers: the parts' activations */
    float *act_mem;    /* their buffers: (parts - 1) x rows x act_floats */
    float *g_mem; /* the parts' gradient buffers: (parts - 1) x 2 x rows x max_size */
    /* The first layer split by its inputs (first_split): part t takes inputs
     * [feat[t], feat[t + 1]), and the optimizer steps as `cut` says. */
    int first;                   /* 1 when steps may split the first layer */
    int first_now;               /* 1 when this step does (first_rows) */
    int32_t feat[MAX_PARTS + 1]; /* the parts' inputs, in whole 64-byte lines of W */
    float *p_mem; /* parts 1..: their products, (parts - 1) x parts x rows x out */
    mlp__step_cut cut;
    part_out out[MAX_PARTS];
};

static int first_split(const mlp_model *m, int parts);
static int first_rows(const mlp_model *m, int parts, int32_t n);

/* The parts a batch of n rows is cut into by rows: MIN_ROWS rows a part at
 * least, at most MAX_PARTS. */
static int row_parts(int32_t n)
{
    const int p = mlp__pool_parts(n, MIN_ROWS);
    return p < MAX_PARTS ? p : MAX_PARTS;
}

/* The parts the first layer's inputs may be cut into: FIRST_MIN_IN
 * inputs a part at least, at most MAX_PARTS. */
static int input_parts(const mlp_model *m)
{
    const int p = mlp__pool_parts(m->layers[0]->in_size, FIRST_MIN_IN);
    return p < MAX_PARTS ? p : MAX_PARTS;
}

int mlp__split_parts(const mlp_model *m, const mlp__loss *L, int32_t n)
{
    if (m->split_off || m->dist_on || L->class_w || m->n_layers == 0)
        return 1;
    for (int i = 0; i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        if (!l->ops->by_sample || l->scratch_per_sample || l->scratch_fixed ||
            l->ws_floats)
            return 1;
    }
    const int p = row_parts(n);
    if (p > 1)
        return p;
    /* too few rows to split: split the first layer by its inputs alone */
    const int f = input_parts(m);
    return f > 1 && first_split(m, f) && first_rows(m, f, n) ? f : 1;
}

static void free_split(struct mlp__split *sp)
{
    if (!sp)
        return;
    mlp__free(sp->copies);
    mlp__free(sp->views);
    mlp__free(sp->grads);
    mlp__free(sp->out_sums);
    mlp__free(sp->acts);
    mlp__free(sp->act_mem);
    mlp__free(sp->g_mem);
    mlp__free(sp->p_mem);
    mlp__free(sp);
}

void mlp__split_release(mlp_model *m)
{
    free_split(m->split);
    m->split = NULL;
}

/* Whether layer i is the last: every part writes its rows of the last
 * layer's output into the model's buffer, where the loss and its errors
 * see the whole batch's (a last layer that runs in place then runs out of
 * place in parts other than the first, which its kind allows). Other
 * layers' rows go to buffers of the part's own: rows of two parts side by
 * side in one buffer cost the step a fifth more on 2 threads (the baseline
 * MLP, 2-core virtual machine), each core's accesses near the edge of its
 * rows pulling the other's lines to it. */
static int is_last(const mlp_model *m, int i)
{
    return i == m->n_layers - 1;
}

/* Whether a step in `parts` parts splits the first layer by its inputs: a
 * dense layer, not the last, holding half the model's parameters or more,
 * with FIRST_MIN_IN inputs a part at least. */
static int first_split(const mlp_model *m, int parts)
{
    const mlp_layer *l = m->layers[0];
    return parts > 1 && !m->first_split_off && m->n_layers > 1 &&
           l->kind == MLP_LAYER_DENSE && l->grads == m->grads &&
           l->in_size >= (int64_t)FIRST_MIN_IN * parts && 2 * l->n_weights >= m->n_params;
}

/* Whether a step of n rows in `parts` parts, on a model whose steps may
 * split the first layer, does: when the products the parts exchange (n x
 * out floats for each part but one) hold at most half as many floats as the
 * layer's weights. Past that the row split wins: on the baseline MLP (784
 * inputs, 2 threads of a 2-vCPU virtual machine) the first-layer split
 * took 198 ms an epoch against 206 at 200 rows a batch, 193-209 against
 * 189-191 at 400 and 193-194 against 185-186 at 800. */
static int first_rows(const mlp_model *m, int parts, int32_t n)
{
    return 2 * (int64_t)(parts - 1) * n <= m->layers[0]->in_size;
}

/* The parts' inputs of the first layer: part t takes [feat[t], feat[t +
 * 1]), cut where W's rows start a 64-byte line, so that no two threads
 * write one line of W or of its gradient. */
static void first_feats(const mlp_model *m, int parts, int32_t *feat)
{
    const mlp_layer *l = m->layers[0];
    const int64_t in = l->in_size, out = l->out_size;
    int64_t align = 16; /* rows of W such that align x out floats fill whole lines */
    while (align > 1 && (align / 2) * out % 16 == 0)
        align /= 2;
    for (int t = 0; t < parts; t++) {
        int64_t lo, hi;
        mlp__pool_range(in, parts, align, t, &lo, &hi);
        feat[t] = (int32_t)lo;
    }
    feat[parts] = (int32_t)in;
}

/* The parts' inputs of the first layer, and the optimizer's cut that
 * follows them: part t steps its inputs' rows of W, then piece t of the
 * rest of the parameters cut among the parts by rows (the sum of their
 * gradients cuts the rest the same way: first_back). With one part by
 * rows, part 0 steps all the rest, which only its thread reads. */
static void first_cut(struct mlp__split *sp, const mlp_model *m)
{
    const mlp_layer *l = m->layers[0];
    const int64_t out = l->out_size;
    const int p = sp->parts;
    first_feats(m, p, sp->feat);
    const int r = sp->rparts;
    sp->cut.parts = p;
    for (int t = 0; t < p; t++) {
        int64_t lo, hi; /* parts r.. get none of the rest */
        sp->cut.lead[t] = sp->feat[t] * out;
        mlp__pool_range(m->n_params - l->n_weights, r, 16, t, &lo, &hi);
        sp->cut.rest[t] = l->n_weights + lo;
    }
    sp->cut.lead[p] = sp->cut.rest[0];
    sp->cut.rest[p] = m->n_params;
}

int mlp__split_input_blocks(const mlp_model *m, int32_t n, int32_t *cols)
{
    if (n < 1)
        return 0;
    const int parts = mlp__split_parts(m, &m->loss, n);
    if (!first_split(m, parts) || !first_rows(m, parts, n))
        return 0;
    first_feats(m, parts, cols);
    return parts;
}

/* Floats of a row of a part's own activation buffers. */
static int64_t own_act_floats(const mlp_model *m)
{
    int64_t f = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (!is_last(m, i) && !mlp__model_writes_over_input(m, i))
            f += m->layers[i]->out_size;
    return f;
}

/* Buffers for `parts` parts of a batch of up to m->batch_cap rows, k
 * outputs, allocated when the model, its batch buffers or the part count
 * changed since the last split step; all or nothing, the old ones kept on
 * failure. They fit a step with one part by rows too (each part's products
 * of the first layer take up to parts x rows rows), so an epoch's short
 * last batch allocates nothing. */
static mlp_status ready(mlp_model *m, int parts, int32_t k)
{
    struct mlp__split *sp = m->split;
    const int32_t rows = (m->batch_cap + parts - 1) / parts;
    if (sp && sp->parts == parts && sp->n_layers == m->n_layers &&
        sp->n_params == m->n_params && sp->rows >= rows &&
        sp->first == first_split(m, parts))
        return MLP_STATUS_OK;
    const size_t more = (size_t)parts - 1, nl = (size_t)m->n_layers;
    const int64_t act_floats = own_act_floats(m);
    sp = mlp__calloc(1, sizeof *sp);
    if (sp) {
        sp->copies = mlp__calloc(more * nl, sizeof *sp->copies);
        sp->views = mlp__calloc((size_t)parts * nl, sizeof *sp->views);
        sp->grads =
            m->n_params ? mlp__alloc(more * (size_t)m->n_params * sizeof(float)) : NULL;
        sp->out_sums = mlp__alloc(more * 3 * (size_t)k * sizeof(double));
        sp->acts = mlp__calloc(more * nl, sizeof *sp->acts);
        sp->act_mem =
            act_floats
                ? mlp__alloc(more * (size_t)rows * (size_t)act_floats * sizeof(float))
                : NULL;
        sp->g_mem =
            mlp__alloc(more * 2 * (size_t)rows * (size_t)m->max_size * sizeof(float));
        sp->first = first_split(m, parts);
        if (sp->first)
            sp->p_mem = mlp__alloc(more * (size_t)parts * (size_t)rows *
                                   (size_t)m->layers[0]->out_size * sizeof(float));
    }
    if (!sp || !sp->copies || !sp->views || (m->n_params && !sp->grads) ||
        !sp->out_sums || !sp->acts || (act_floats && !sp->act_mem) || !sp->g_mem ||
        (sp->first && !sp->p_mem)) {
        free_split(sp);
        return mlp__error(MLP_STATUS_NO_MEMORY,
                          "out of memory for the buffers of %d threads' parts", parts);
    }
    sp->parts = parts;
    sp->rparts = parts;
    sp->n_layers = m->n_layers;
    sp->rows = rows;
    sp->n_params = m->n_params;
    if (sp->first)
        first_cut(sp, m);
    /* each part's own activation buffers, laid out as the model's */
    for (size_t t = 0; t < more; t++) {
        float *a =
            sp->act_mem ? sp->act_mem + t * (size_t)rows * (size_t)act_floats : NULL;
        float **acts = sp->acts + t * nl;
        for (int i = 0; i < m->n_layers; i++) {
            if (is_last(m, i)) {
                acts[i] = NULL; /* the model's, from the part's first row: per step */
            } else if (mlp__model_writes_over_input(m, i)) {
                acts[i] = acts[i - 1];
            } else {
                acts[i] = a;
                a += (int64_t)rows * m->layers[i]->out_size;
            }
        }
    }
    mlp__split_release(m);
    m->split = sp;
    return MLP_STATUS_OK;
}

/* The parts' layers: the model's for part 0 and, for part t, copies of
 * them (settings and parameters where the model's are) whose gradients
 * point into part t's buffer. Bound once per set of buffers: mlp_model_add,
 * which binds the layers anew, changes the layer count, for which ready()
 * makes new buffers. Rewritten every step, the copies would cross from the
 * calling thread to the parts' threads every step. */
static void bind_views(mlp_model *m)
{
    struct mlp__split *sp = m->split;
    if (sp->bound)
        return;
    const int nl = m->n_layers;
    for (int i = 0; i < nl; i++)
        sp->views[i] = m->layers[i];
    for (int t = 1; t < sp->parts; t++) {
        float *g = sp->grads ? sp->grads + (int64_t)(t - 1) * m->n_params : NULL;
        for (int i = 0; i < nl; i++) {
            const mlp_layer *l = m->layers[i];
            mlp_layer *c = &sp->copies[(t - 1) * nl + i];
            *c = *l;
            c->grads = g && l->grads ? g + (l->grads - m->grads) : NULL;
            sp->views[t * nl + i] = c;
        }
    }
    sp->bound = 1;
}

/* g[i] += the later parts' gradients (or products), in part order, for i
 * in [lo, hi). */
MLP_VECTOR_CLONES
static void add_grads(float *restrict g, const float *restrict p, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        g[i] += p[i];
}

/* y[i] = a[i] + b[i] for i in [0, n). */
MLP_VECTOR_CLONES
static void add_two(float *restrict y, const float *restrict a, const float *restrict b,
                    int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* A split step's arguments, for the pool's parts. */
typedef struct split_job {
    mlp_model *m;
    const mlp__loss *L;
    const int32_t *labels;
    const float *targets;
    int32_t n, k;
    double *t_sum, *t_sq, *sse_k; /* the caller's per-output sums, or NULL */
    const float *t_ref;           /* ... and the target they are measured from */
} split_job;

/* Part t's rows, forward, loss and backward; its loss sums in out->sums
 * (zeroed here, on the part's thread, as its per-output sums are). */
static mlp_status part_step(const split_job *j, int t, part_out *out)
{
    mlp_model *m = j->m;
    struct mlp__split *sp = m->split;
    const int32_t k = j->k;
    mlp__loss_sums *s = &out->sums;
    memset(s, 0, sizeof *s);
    s->t_ref = j->t_ref;
    if (j->sse_k && t == 0) { /* part 0 adds into the caller's arrays */
        s->t_sum = j->t_sum;
        s->t_sq = j->t_sq;
        s->sse_k = j->sse_k;
    } else if (j->sse_k) {
        double *a = sp->out_sums + (int64_t)(t - 1) * 3 * k;
        memset(a, 0, 3 * (size_t)k * sizeof *a);
        s->t_sum = a;
        s->t_sq = a + k;
        s->sse_k = a + 2 * k;
    }
    int64_t lo, hi;
    mlp__pool_range(j->n, sp->rparts, 1, t, &lo, &hi);
    mlp__rows r = {sp->views + (int64_t)t * m->n_layers,
                   m->acts,
                   m->xbuf + lo * m->in_size,
                   {m->gbuf[0], m->gbuf[1]},
                   (int32_t)(hi - lo),
                   0};
    if (t > 0) {
        float **acts = sp->acts + (int64_t)(t - 1) * m->n_layers;
        const int last = m->n_layers - 1;
        acts[last] = m->acts[last] + lo * k;
        const int64_t g = (int64_t)sp->rows * m->max_size;
        r.acts = acts;
        r.g[0] = sp->g_mem + (int64_t)(t - 1) * 2 * g;
        r.g[1] = r.g[0] + g;
    }
    if (sp->first_now) { /* the first layer's output: the parts' products added */
        const int64_t out = m->layers[0]->out_size, len = (hi - lo) * out;
        const int64_t cap = (int64_t)sp->parts * sp->rows * out;
        float *y0 = r.acts[0];
        if (t > 0)
            add_two(y0, m->acts[0] + lo * out, sp->p_mem + lo * out, len);
        else
            add_grads(y0, sp->p_mem, 0, len);
        for (int p = 2; p < sp->parts; p++)
            add_grads(y0, sp->p_mem + (p - 1) * cap + lo * out, 0, len);
        r.x = y0;
        r.from = 1;
    }
    MLP_TRY(mlp__model_forward_rows(m, &r, MLP_MODE_TRAIN));
    const float *z = r.acts[m->n_layers - 1];
    float *dz = r.g[0];
    mlp_status st = mlp__loss_batch(j->L, z, r.n, k, j->labels ? j->labels + lo : NULL,
                                    j->targets ? j->targets + lo * k : NULL, dz, s);
    if (st != MLP_STATUS_OK) {
        out->loss_failed = 1;
        return st;
    }
    /* the part's share of the batch's mean */
    const float share = (float)r.n / (float)j->n;
    for (int64_t e = 0; e < (int64_t)r.n * k; e++)
        dz[e] *= share;
    return mlp__model_backward_rows(m, &r, dz, sp->first_now, &out->dy0, 0);
}

static void parts_run(void *arg, int64_t t0, int64_t t1)
{
    const split_job *j = arg;
    struct mlp__split *sp = j->m->split;
    for (int64_t t = t0; t < t1; t++) {
        part_out *out = &sp->out[t];
        out->loss_failed = 0;
        out->st = part_step(j, (int)t, out);
        if (out->st != MLP_STATUS_OK) /* the message is this thread's */
            snprintf(out->msg, sizeof out->msg, "%s", mlp_last_error());
    }
}

/* Floats added at a time while the next ones' lines are asked for: 2 KB. */
enum { SUM_BLOCK = 512 };

/* Gradients [lo, hi): the later parts' added into the model's, in blocks
 * of SUM_BLOCK floats, the next block's lines asked for (the model's to be
 * written) while one is added. Half of what a thread adds was written on
 * the other core (the model's gradients by part 0, a later part's by its
 * thread), and the loop waited on those lines one at a time: see
 * step_part in lib/optim/optim.c, which does the same for the optimizer. */
static void sum_part(void *arg, int64_t lo, int64_t hi)
{
    const mlp_model *m = arg;
    const struct mlp__split *sp = m->split;
    for (int64_t b0 = lo; b0 < hi; b0 += SUM_BLOCK) {
        const int64_t b1 = hi - b0 > SUM_BLOCK ? b0 + SUM_BLOCK : hi;
        const int64_t next = hi - b1 < SUM_BLOCK ? hi - b1 : SUM_BLOCK;
        if (b0 == lo)
            mlp__prefetch_write(m->grads + b0, (b1 - b0) * (int64_t)sizeof(float));
        mlp__prefetch_write(m->grads + b1, next * (int64_t)sizeof(float));
        for (int t = 1; t < sp->rparts; t++) {
            const float *g = sp->grads + (int64_t)(t - 1) * m->n_params;
            if (b0 == lo)
                mlp__prefetch(g + b0, (b1 - b0) * (int64_t)sizeof(float));
            mlp__prefetch(g + b1, next * (int64_t)sizeof(float));
            add_grads(m->grads, g, b0, b1);
        }
    }
}

/* Inputs [f0, f1) of the batch's n rows in m->xbuf: *a with rows *lda
 * floats apart, in the row layout or in that part's column block
 * (m->x_blocks). */
static void input_block(const mlp_model *m, int32_t n, int f0, int f1, const float **a,
                        int *lda)
{
    if (m->x_blocks) {
        *a = m->xbuf + (int64_t)n * f0;
        *lda = f1 - f0;
    } else {
        *a = m->xbuf + f0;
        *lda = (int)m->in_size;
    }
}

/* First-layer split, before the parts: part t's product over its inputs,
 * X[:, feat] W[feat, :] for the whole batch (part 0's with the bias, into
 * the model's buffer of the layer's output; the others' into p_mem). */
static void first_fwd(void *arg, int64_t t0, int64_t t1)
{
    const split_job *j = arg;
    const mlp_model *m = j->m;
    const struct mlp__split *sp = m->split;
    const mlp_layer *l = m->layers[0];
    const int out = (int)l->out_size;
    const int64_t cap = (int64_t)sp->parts * sp->rows * out;
    for (int64_t t = t0; t < t1; t++) {
        const int f0 = sp->feat[t], f1 = sp->feat[t + 1];
        const float *a;
        int lda;
        input_block(m, j->n, f0, f1, &a, &lda);
        mlp__gemm g = {0,
                       0,
                       j->n,
                       out,
                       f1 - f0,
                       1.0f,
                       a,
                       lda,
                       l->params + (int64_t)f0 * out,
                       out,
                       0.0f,
                       t ? sp->p_mem + (t - 1) * cap : m->acts[0],
                       out,
                       t == 0 && l->n_params > l->n_weights ? l->params + l->n_weights
                                                            : NULL};
        mlp__sgemm_run(&g);
    }
}

/* First-layer split, after the parts: part t's rows of the layer's weight
 * gradient, X[:, feat]^T dY summed over the parts' rows in part order;
 * part 0 the bias gradient too; and part t's piece of the rest of the
 * parameters, the parts' gradients added (sum_part) where the optimizer's
 * part t will step them. */
static void first_back(void *arg, int64_t t0, int64_t t1)
{
    const split_job *j = arg;
    const mlp_model *m = j->m;
    const struct mlp__split *sp = m->split;
    const mlp_layer *l = m->layers[0];
    const int out = (int)l->out_size;
    for (int64_t t = t0; t < t1; t++) {
        const int f0 = sp->feat[t], f1 = sp->feat[t + 1];
        const float *a;
        int lda;
        input_block(m, j->n, f0, f1, &a, &lda);
        for (int p = 0; p < sp->rparts; p++) {
            int64_t lo, hi;
            mlp__pool_range(j->n, sp->rparts, 1, p, &lo, &hi);
            mlp__gemm g = {1,
                           0,
                           f1 - f0,
                           out,
                           (int)(hi - lo),
                           1.0f,
                           a + lo * lda,
                           lda,
                           sp->out[p].dy0,
                           out,
                           p ? 1.0f : 0.0f,
                           l->grads + (int64_t)f0 * out,
                           out,
                           NULL};
            mlp__sgemm_run(&g);
        }
        if (t == 0 && l->n_params > l->n_weights) {
            float *db = l->grads + l->n_weights;
            memset(db, 0, (size_t)out * sizeof *db);
            for (int p = 0; p < sp->rparts; p++) {
                int64_t lo, hi;
                mlp__pool_range(j->n, sp->rparts, 1, p, &lo, &hi);
                for (int64_t r = 0; r < hi - lo; r++)
                    add_grads(db, sp->out[p].dy0 + r * out, 0, out);
            }
        }
        const int64_t end0 = l->n_params; /* the parts leave layer 0's gradients alone */
        const int64_t lo = sp->cut.rest[t] > end0 ? sp->cut.rest[t] : end0;
        if (lo < sp->cut.rest[t + 1])
            sum_part(j->m, lo, sp->cut.rest[t + 1]);
    }
}

const mlp__step_cut *mlp__split_cut(const mlp_model *m)
{
    return m->split && m->split->first_now ? &m->split->cut : NULL;
}

/* Add part sums b (per-output arrays: k) into a. */
static void add_sums(mlp__loss_sums *a, const mlp__loss_sums *b, int32_t k)
{
    a->loss += b->loss;
    a->weight += b->weight;
    a->correct += b->correct;
    a->judged += b->judged;
    a->sse += b->sse;
    a->sae += b->sae;
    a->elems += b->elems;
    a->rows += b->rows;
    if (a->sse_k && b->sse_k)
        for (int32_t j = 0; j < k; j++) {
            a->t_sum[j] += b->t_sum[j];
            a->t_sq[j] += b->t_sq[j];
            a->sse_k[j] += b->sse_k[j];
        }
}

/* The first failed part's error, as the unsplit step gives it: a loss's
 * again over the whole batch, whose rows it counts from the batch's start
 * and whose non-finite values mlp__model_loss_failed explains. */
static mlp_status part_error(const split_job *j, int t)
{
    const part_out *out = &j->m->split->out[t];
    if (out->loss_failed) {
        mlp__loss_sums s;
        memset(&s, 0, sizeof s);
        mlp_status st = mlp__loss_batch(j->L, j->m->acts[j->m->n_layers - 1], j->n, j->k,
                                        j->labels, j->targets, NULL, &s);
        if (st != MLP_STATUS_OK)
            return mlp__model_loss_failed(j->m, st, j->targets, j->n);
    }
    return mlp__error(out->st, "%s", out->msg);
}

mlp_status mlp__split_step(mlp_model *m, const mlp__loss *L, const int32_t *labels,
                           const float *targets, int32_t n, int parts, mlp__loss_sums *s)
{
    const int32_t k = (int32_t)m->layers[m->n_layers - 1]->out_size;
    /* the parts by rows: as many, or one when the batch is too short to
     * split by rows and the first layer alone is split (mlp__split_parts) */
    const int rparts = row_parts(n) > 1 ? parts : 1;
    MLP_TRY(ready(m, parts, k));
    struct mlp__split *sp = m->split;
    if (sp->rparts != rparts) { /* the optimizer's cut of the rest follows */
        sp->rparts = rparts;
        if (sp->first)
            first_cut(sp, m);
    }
    bind_views(m);
    split_job j = {m, L, labels, targets, n, k, s->t_sum, s->t_sq, s->sse_k, s->t_ref};
    sp->first_now = sp->first && first_rows(m, parts, n);
    if (m->x_blocks && (!sp->first_now || m->x_blocks != parts))
        return mlp__error(MLP_STATUS_INTERNAL,
                          "training step: the batch was gathered in %d column blocks "
                          "for a step that reads %d",
                          m->x_blocks, sp->first_now ? parts : 0);
    if (sp->first_now)
        mlp__pool_for(parts, 1, 1, first_fwd, &j);
    mlp__pool_for(rparts, 1, 1, parts_run, &j);
    for (int t = 0; t < rparts; t++)
        if (sp->out[t].st != MLP_STATUS_OK)
            return part_error(&j, t);
    if (sp->first_now)
        mlp__pool_for(parts, 1, 1, first_back, &j);
    else
        mlp__pool_for(m->n_params, MLP_POOL_MIN, 16, sum_part, m);
    for (int t = 0; t < rparts; t++) {
        mlp__loss_sums b = sp->out[t].sums;
        if (t == 0) /* its per-output sums are in the caller's arrays already */
            b.sse_k = b.t_sum = b.t_sq = NULL;
        add_sums(s, &b, k);
    }
    return MLP_STATUS_OK;
}
