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
 * Not split: a distributed model (dist.c splits across processes), a loss
 * with class weights (a part's labels could weigh 0 where the batch's do
 * not), and models with any other kind of layer (batch norm needs the
 * whole batch; the others keep scratch, workspace or masks, which the
 * check of their sizes below also rules out, behind the kinds' own word).
 */
#include <stdio.h>
#include <string.h>

#include "backend/pool.h"
#include "backend/threads.h"
#include "model_impl.h"

/* Rows a part holds at least: the gather's grain (put_rows in dataset.c).
 * At most MAX_PARTS parts. */
enum { MIN_ROWS = 16, MAX_PARTS = 64 };

/* What part t writes in a step, on lines of its own (the allocator's
 * blocks are 64-byte aligned): the parts' threads never share a line. */
typedef struct part_out {
    _Alignas(64) mlp__loss_sums sums;
    mlp_status st;
    int loss_failed;
    char msg[256]; /* its error message (its thread's) */
} part_out;

struct mlp__split {
    /* What the buffers fit: `parts` parts of up to `rows` rows each, of a
     * model of n_layers layers and n_params parameters. The rest of their
     * sizes (outputs, row widths) follows from the layers, which the model
     * only ever adds to. */
    int parts, n_layers;
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
    part_out out[MAX_PARTS];
};

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
    const int p = mlp__pool_parts(n, MIN_ROWS);
    return p < MAX_PARTS ? p : MAX_PARTS;
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
 * failure. */
static mlp_status ready(mlp_model *m, int parts, int32_t k)
{
    struct mlp__split *sp = m->split;
    const int32_t rows = (m->batch_cap + parts - 1) / parts;
    if (sp && sp->parts == parts && sp->n_layers == m->n_layers &&
        sp->n_params == m->n_params && sp->rows >= rows)
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
    }
    if (!sp || !sp->copies || !sp->views || (m->n_params && !sp->grads) ||
        !sp->out_sums || !sp->acts || (act_floats && !sp->act_mem) || !sp->g_mem) {
        free_split(sp);
        return mlp__error(MLP_STATUS_NO_MEMORY,
                          "out of memory for the buffers of %d threads' parts", parts);
    }
    sp->parts = parts;
    sp->n_layers = m->n_layers;
    sp->rows = rows;
    sp->n_params = m->n_params;
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

/* A split step's arguments, for the pool's parts. */
typedef struct split_job {
    mlp_model *m;
    const mlp__loss *L;
    const int32_t *labels;
    const float *targets;
    int32_t n, k;
    double *t_sum, *t_sq, *sse_k; /* the caller's per-output sums, or NULL */
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
    mlp__pool_range(j->n, sp->parts, 1, t, &lo, &hi);
    mlp__rows r = {sp->views + (int64_t)t * m->n_layers,
                   m->acts,
                   m->xbuf + lo * m->in_size,
                   {m->gbuf[0], m->gbuf[1]},
                   (int32_t)(hi - lo)};
    if (t > 0) {
        float **acts = sp->acts + (int64_t)(t - 1) * m->n_layers;
        const int last = m->n_layers - 1;
        acts[last] = m->acts[last] + lo * k;
        const int64_t g = (int64_t)sp->rows * m->max_size;
        r.acts = acts;
        r.g[0] = sp->g_mem + (int64_t)(t - 1) * 2 * g;
        r.g[1] = r.g[0] + g;
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
    return mlp__model_backward_rows(m, &r, dz, 0, NULL, 0);
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

/* g[i] += the later parts' gradients, in part order, for i in [lo, hi). */
MLP_VECTOR_CLONES
static void add_grads(float *restrict g, const float *restrict p, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        g[i] += p[i];
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
        for (int t = 1; t < sp->parts; t++) {
            const float *g = sp->grads + (int64_t)(t - 1) * m->n_params;
            if (b0 == lo)
                mlp__prefetch(g + b0, (b1 - b0) * (int64_t)sizeof(float));
            mlp__prefetch(g + b1, next * (int64_t)sizeof(float));
            add_grads(m->grads, g, b0, b1);
        }
    }
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
    MLP_TRY(ready(m, parts, k));
    struct mlp__split *sp = m->split;
    bind_views(m);
    split_job j = {m, L, labels, targets, n, k, s->t_sum, s->t_sq, s->sse_k};
    mlp__pool_for(parts, 1, 1, parts_run, &j);
    for (int t = 0; t < parts; t++)
        if (sp->out[t].st != MLP_STATUS_OK)
            return part_error(&j, t);
    mlp__pool_for(m->n_params, MLP_POOL_MIN, 16, sum_part, m);
    for (int t = 0; t < parts; t++) {
        mlp__loss_sums b = sp->out[t].sums;
        if (t == 0) /* its per-output sums are in the caller's arrays already */
            b.sse_k = b.t_sum = b.t_sq = NULL;
        add_sums(s, &b, k);
    }
    return MLP_STATUS_OK;
}
