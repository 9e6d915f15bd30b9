/*
 * The sequential model: layer list, parameter buffers, batch buffers, and
 * the forward/backward passes over them.
 *
 * Memory: parameters and gradients live in two contiguous buffers that are
 * rebuilt only when a layer is added. Activations, gradients and the input
 * copy are sized for the largest batch seen (mlp__model_reserve); a loop
 * at a fixed batch size therefore allocates nothing after its first step.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/gemm.h"
#include "backend/threads.h"
#include "data/dataset_impl.h"
#include "losses/loss_impl.h"
#include "model_impl.h"
#include "optim/optim_impl.h"

int32_t mlp__model_outputs(const mlp_model *m)
{
    return (int32_t)m->layers[m->n_layers - 1]->out_size;
}

#define out_k mlp__model_outputs

int mlp__model_writes_over_input(const mlp_model *m, int i)
{
    return i > 0 && m->layers[i]->ops->in_place &&
           m->layers[i - 1]->ops->backward_ignores_y;
}

int mlp__model_fuses_relu(const mlp_model *m, int i)
{
    return i > 0 && m->layers[i]->kind == MLP_LAYER_RELU &&
           m->layers[i - 1]->ops->forward_relu && mlp__model_writes_over_input(m, i);
}

/* The layer whose output layer i (> 0) takes: i - 1, or i - 2 across a
 * ReLU fused into that one (a fused ReLU is never layer 0). */
static int producer(const mlp_model *m, int i)
{
    return mlp__model_fuses_relu(m, i - 1) ? i - 2 : i - 1;
}

int mlp__model_fuses_planes(const mlp_model *m, int i)
{
    if (i < 1 || !m->layers[i]->ops->plane_sink)
        return 0;
    const mlp_layer *l = m->layers[producer(m, i)];
    mlp__plane_sink s;
    return l->ops->gives_planes && l->ops->gives_planes(l) &&
           m->layers[i]->ops->plane_sink(m->layers[i], NULL, NULL, &s);
}

int mlp__model_plane_consumer(const mlp_model *m, int i, int *relu)
{
    *relu = i + 1 < m->n_layers && mlp__model_fuses_relu(m, i + 1);
    const int c = i + 1 + *relu;
    return c < m->n_layers && mlp__model_fuses_planes(m, c) && producer(m, c) == i ? c
                                                                                   : -1;
}

/* The activation buffers of n layers, each freed once (a layer writing over
 * its input shares the buffer before it). */
static void free_acts(float **acts, int n)
{
    for (int i = 0; i < n; i++)
        if (i == 0 || acts[i] != acts[i - 1])
            mlp__free(acts[i]);
    mlp__free(acts);
}

static void free_batch_buffers(mlp_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        mlp__free(m->layers[i]->scratch);
        m->layers[i]->scratch = NULL;
    }
    if (m->acts)
        free_acts(m->acts, m->n_layers);
    m->acts = NULL;
    mlp__free(m->gbuf[0]);
    mlp__free(m->gbuf[1]);
    mlp__free(m->xbuf);
    mlp__free(m->lbuf);
    mlp__free(m->tbuf);
    mlp__free(m->out_sums);
    mlp__free(m->ws);
    mlp__free(m->state_undo);
    m->gbuf[0] = m->gbuf[1] = m->xbuf = m->ws = m->tbuf = m->state_undo = NULL;
    m->lbuf = NULL;
    m->out_sums = NULL;
    m->batch_cap = 0;
    m->fwd_state = MLP__FWD_NONE;
    /* the tensors lent out over those buffers now hold no elements, so
     * that a caller who kept one gets a status from the calls it is given
     * to, not the freed memory */
    static const int32_t none[1] = {0};
    mlp__tensor_view(&m->out_view, NULL, 1, none);
    mlp__tensor_view(&m->dx_view, NULL, 1, none);
}

mlp_status mlp_model_create(mlp_model **out, int rank, const int32_t *input_dims,
                            uint64_t seed)
{
    static const char fn[] = "mlp_model_create";
    MLP_CHECK_ARG(out, fn, "out is NULL");
    *out = NULL;
    if (rank < 1 || rank > 3)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: input rank %d is outside 1..3", fn,
                          rank);
    MLP_CHECK_ARG(input_dims, fn, "input_dims is NULL");
    int64_t numel;
    MLP_TRY(mlp__check_dims(fn, rank, input_dims, &numel));
    if (numel > INT32_MAX)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: the input has %lld values per sample, more than %d", fn,
                          (long long)numel, (int)INT32_MAX);
    mlp__threads_init();
    mlp_model *m = mlp__calloc(1, sizeof *m);
    if (!m)
        return MLP_STATUS_NO_MEMORY;
    m->in.rank = rank;
    for (int i = 0; i < rank; i++)
        m->in.d[i] = input_dims[i];
    m->in_size = numel;
    m->max_size = numel;
    mlp__rng_seed(&m->rng, seed);
    mlp__rng_seed(&m->noise, seed ^ 0x6E6F697365ull); /* a stream apart from init */
    m->loss = (mlp__loss){.kind = MLP_LOSS_SOFTMAX_XENT, .delta = 1.0f};
    *out = m;
    return MLP_STATUS_OK;
}

void mlp_model_destroy(mlp_model *m)
{
    if (!m)
        return;
    free_batch_buffers(m);
    for (int i = 0; i < m->n_layers; i++)
        mlp__layer_free(m->layers[i]);
    mlp__free(m->layers);
    mlp__split_release(m);
    mlp__free(m->params);
    mlp__free(m->grads);
    mlp__dist_release(m);
    mlp__free(m->state);
    mlp__free(m->pb.segs);
    mlp__free(m->class_w);
    mlp__model_free_class_names(m);
    mlp__free(m->feature_names);
    mlp__free(m);
}

mlp_status mlp_model_set_noise_seed(mlp_model *m, uint64_t seed)
{
    MLP_CHECK_ARG(m, "mlp_model_set_noise_seed", "model is NULL");
    MLP_TRY(mlp__model_check_idle(m, 0, "mlp_model_set_noise_seed"));
    mlp__rng_seed(&m->noise, seed);
    return MLP_STATUS_OK;
}

static void bind_params(mlp_model *m)
{
    int64_t off = 0, soff = 0;
    for (int i = 0; i < m->n_layers; i++) {
        mlp_layer *l = m->layers[i];
        /* Buffers stay NULL until some layer needs them; no offsets on NULL. */
        l->params = m->params ? m->params + off : NULL;
        l->grads = m->grads ? m->grads + off : NULL;
        l->state = m->state ? m->state + soff : NULL;
        off += l->n_params;
        soff += l->n_state;
    }
}

/* After a failed mlp_model_add that already moved some of the buffers
 * (grow keeps their values): the layers, the optimizer's view and the split
 * step's copies of the layers point at the new ones, or at none. */
static void params_moved(mlp_model *m)
{
    bind_params(m);
    m->pb.params = m->params;
    m->pb.grads = m->grads;
    mlp__split_release(m);
}

/* Grow a contiguous buffer from `old_n` to `new_n` floats, keeping the old
 * values; *buf is replaced only on success. */
static mlp_status grow(float **buf, int64_t old_n, int64_t new_n, int zero)
{
    if (new_n == old_n)
        return MLP_STATUS_OK;
    float *p = zero ? mlp__calloc((size_t)new_n, sizeof(float))
                    : mlp__alloc((size_t)new_n * sizeof(float));
    if (!p)
        return MLP_STATUS_NO_MEMORY;
    if (old_n)
        memcpy(p, *buf, (size_t)old_n * sizeof(float));
    mlp__free(*buf);
    *buf = p;
    return MLP_STATUS_OK;
}

mlp_status mlp_model_add(mlp_model *m, mlp_layer *layer)
{
    static const char fn[] = "mlp_model_add";
    if (!layer)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: layer is NULL", fn);
    if (layer->owner)
        /* Already owned elsewhere: freeing it would break its model. */
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: the layer is already in a model",
                          fn);
    mlp_status st = MLP_STATUS_OK;
    if (!m) {
        st = mlp__error(MLP_STATUS_INVALID_ARG, "%s: model is NULL", fn);
        goto fail;
    }
    if ((st = mlp__model_check_idle(m, 1, fn)) != MLP_STATUS_OK)
        goto fail;
    const mlp_shape *in = m->n_layers ? &m->layers[m->n_layers - 1]->out : &m->in;
    mlp_shape out = {0, {0, 0, 0}};
    st = mlp__layer_setup(layer, in, &out);
    if (st != MLP_STATUS_OK) {
        char a[48], detail[400];
        snprintf(detail, sizeof detail, "%s", mlp_last_error());
        st = mlp__error(st, "%s: layer %d (%s) cannot take input %s: %s", fn, m->n_layers,
                        layer->ops->name, mlp__shape_str(in, a, sizeof a), detail);
        goto fail;
    }
    int64_t out_size = mlp__shape_numel(&out);
    if (out_size > INT32_MAX || m->n_params + layer->n_params > INT32_MAX) {
        st =
            mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                       "%s: layer %d (%s) is too large: %lld outputs per sample and %lld "
                       "parameters in the model with it (each must stay <= %d)",
                       fn, m->n_layers, layer->ops->name, (long long)out_size,
                       (long long)(m->n_params + layer->n_params), (int)INT32_MAX);
        goto fail;
    }
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? 2 * m->cap_layers : 8;
        mlp_layer **ls = mlp__alloc((size_t)cap * sizeof *ls);
        if (!ls) {
            st = MLP_STATUS_NO_MEMORY;
            goto fail;
        }
        if (m->n_layers)
            memcpy(ls, m->layers, (size_t)m->n_layers * sizeof *ls);
        mlp__free(m->layers);
        m->layers = ls;
        m->cap_layers = cap;
    }
    /* Grow the three buffers; each is replaced only once it is complete, so
     * a failure leaves the model as it was (lengths are updated below). */
    int64_t total = m->n_params + layer->n_params;
    int64_t total_state = m->n_state + layer->n_state;
    if ((st = grow(&m->params, m->n_params, total, 0)) != MLP_STATUS_OK ||
        (st = grow(&m->grads, m->n_params, total, 1)) != MLP_STATUS_OK ||
        (st = grow(&m->state, m->n_state, total_state, 0)) != MLP_STATUS_OK) {
        params_moved(m);
        goto fail;
    }
    /* One segment for the weights and one for the rest, where not empty. */
    const int64_t parts[2] = {layer->n_weights, layer->n_params - layer->n_weights};
    const int new_segs = (parts[0] > 0) + (parts[1] > 0);
    if (new_segs) {
        mlp__segment *segs = mlp__alloc((size_t)(m->pb.n_segs + new_segs) * sizeof *segs);
        if (!segs) {
            params_moved(m);
            st = MLP_STATUS_NO_MEMORY;
            goto fail;
        }
        if (m->pb.n_segs)
            memcpy(segs, m->pb.segs, (size_t)m->pb.n_segs * sizeof *segs);
        mlp__free(m->pb.segs);
        m->pb.segs = segs;
        int64_t off = m->n_params;
        for (int w = 0; w < 2; w++) {
            if (parts[w] == 0)
                continue;
            segs[m->pb.n_segs++] =
                (mlp__segment){.offset = off, .count = parts[w], .weights = !w};
            off += parts[w];
        }
    }
    /* From here on nothing can fail. */
    free_batch_buffers(m);
    layer->in = *in;
    layer->out = out;
    layer->in_size = mlp__shape_numel(in);
    layer->out_size = out_size;
    layer->owner = m;
    m->layers[m->n_layers++] = layer;
    m->n_params = total;
    m->n_state = total_state;
    layer->noise = &m->noise;
    if (out_size > m->max_size)
        m->max_size = out_size;
    bind_params(m);
    if (layer->ops->init_params && (layer->n_params || layer->n_state))
        layer->ops->init_params(layer, &m->rng);
    m->pb.params = m->params;
    m->pb.grads = m->grads;
    m->pb.n = m->n_params;
    m->pb.generation++;
    return MLP_STATUS_OK;

fail:
    mlp_layer_destroy(layer);
    return st;
}

int mlp_model_layer_count(const mlp_model *m)
{
    return m ? m->n_layers : 0;
}

mlp_layer *mlp_model_layer(mlp_model *m, int i)
{
    if (!m || i < 0 || i >= m->n_layers)
        return NULL;
    return m->layers[i];
}

mlp_status mlp_model_output_shape(const mlp_model *m, int i, int *rank, int32_t *dims)
{
    static const char fn[] = "mlp_model_output_shape";
    MLP_CHECK_ARG(m && rank && dims, fn, "model, rank or dims is NULL");
    if (i < -1 || i >= m->n_layers)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: layer %d does not exist (%d layers)", fn, i, m->n_layers);
    const mlp_shape *s;
    if (i == -1)
        s = m->n_layers ? &m->layers[m->n_layers - 1]->out : &m->in;
    else
        s = &m->layers[i]->out;
    *rank = s->rank;
    for (int k = 0; k < MLP_MAX_RANK; k++) /* the rest 0, as mlp_model_input_shape */
        dims[k] = k < s->rank ? s->d[k] : 0;
    return MLP_STATUS_OK;
}

int64_t mlp_model_param_count(const mlp_model *m)
{
    return m ? m->n_params : 0;
}

/* Copy n floats between a caller's buffer and one of the model's, whose
 * length is `have`; `what` names it in the message. A setter (`state` 0
 * for the parameters, 1 for the state; -1 for a getter) first checks the
 * caller's values against the rule of mlp__model_bad_value, so a model
 * never holds values it would not save or load, and a refused call leaves
 * the model as it was. */
static mlp_status copy_checked(const mlp_model *m, float *dst, const float *src,
                               int64_t n, int64_t have, int state, const char *what,
                               const char *fn)
{
    if (n != have)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: n = %lld but the model has %lld %s", fn, (long long)n,
                          (long long)have, what);
    if (state >= 0)
        MLP_TRY(mlp__model_check_values(m, src, state, 1, fn, "the model is unchanged"));
    if (n)
        memcpy(dst, src, (size_t)n * sizeof(float));
    return MLP_STATUS_OK;
}

mlp_status mlp_model_get_params(const mlp_model *m, float *dst, int64_t n)
{
    static const char fn[] = "mlp_model_get_params";
    MLP_CHECK_ARG(m && dst, fn, "model or dst is NULL");
    return copy_checked(m, dst, m->params, n, m->n_params, -1, "parameters", fn);
}

mlp_status mlp_model_set_params(mlp_model *m, const float *src, int64_t n)
{
    static const char fn[] = "mlp_model_set_params";
    MLP_CHECK_ARG(m && src, fn, "model or src is NULL");
    MLP_TRY(mlp__model_check_idle(m, 0, fn));
    return copy_checked(m, m->params, src, n, m->n_params, 0, "parameters", fn);
}

int64_t mlp_model_state_count(const mlp_model *m)
{
    return m ? m->n_state : 0;
}

mlp_status mlp_model_get_state(const mlp_model *m, float *dst, int64_t n)
{
    static const char fn[] = "mlp_model_get_state";
    MLP_CHECK_ARG(m && dst, fn, "model or dst is NULL");
    return copy_checked(m, dst, m->state, n, m->n_state, -1, "state values", fn);
}

mlp_status mlp_model_set_state(mlp_model *m, const float *src, int64_t n)
{
    static const char fn[] = "mlp_model_set_state";
    MLP_CHECK_ARG(m && src, fn, "model or src is NULL");
    MLP_TRY(mlp__model_check_idle(m, 0, fn));
    return copy_checked(m, m->state, src, n, m->n_state, 1, "state values", fn);
}

mlp_status mlp_optimizer_create(mlp_optimizer **out, mlp_rule rule, mlp_model *model)
{
    static const char fn[] = "mlp_optimizer_create";
    MLP_CHECK_ARG(out, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(model, fn, "model is NULL");
    return mlp__optimizer_create(out, rule, &model->pb, fn);
}

mlp_status mlp__model_check_idle(const mlp_model *m, int changes, const char *fn)
{
    if (m->in_hook)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: called from a data-parallel hook's callback while the "
                          "model runs one of its steps or collectives",
                          fn);
    if (changes && m->fitting)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: the model is being trained by mlp_model_fit (a callback "
                          "may read it and run it, not change its layers, loss or "
                          "distribution)",
                          fn);
    return MLP_STATUS_OK;
}

mlp_status mlp__model_reserve(mlp_model *m, int32_t n, const char *fn)
{
    /* every call that runs the model passes here first */
    MLP_TRY(mlp__model_check_idle(m, 0, fn));
    if (n <= m->batch_cap)
        return MLP_STATUS_OK;
    /* Build the new set completely before dropping the old one, so a
     * failure leaves the model as it was. */
    size_t nn = (size_t)n;
    float **acts = mlp__calloc((size_t)m->n_layers, sizeof *acts);
    float *g0 = mlp__alloc(nn * (size_t)m->max_size * sizeof(float));
    float *g1 = mlp__alloc(nn * (size_t)m->max_size * sizeof(float));
    float *x = mlp__alloc(nn * (size_t)m->in_size * sizeof(float));
    int32_t *lb = mlp__alloc(nn * sizeof(int32_t));
    const size_t k = m->n_layers ? (size_t)out_k(m) : 1;
    float *tb = mlp__alloc(nn * k * sizeof(float));
    double *sums = mlp__alloc(3 * k * sizeof(double));
    float **scratch = mlp__calloc((size_t)m->n_layers, sizeof *scratch);
    int64_t ws_n = 0;
    for (int i = 0; i < m->n_layers; i++)
        ws_n = m->layers[i]->ws_floats > ws_n ? m->layers[i]->ws_floats : ws_n;
    float *ws = ws_n ? mlp__alloc((size_t)ws_n * sizeof(float)) : NULL;
    float *undo = m->n_state ? mlp__alloc((size_t)m->n_state * sizeof(float)) : NULL;
    int ok = acts && g0 && g1 && x && lb && tb && sums && scratch && (ws || !ws_n) &&
             (undo || !m->n_state);
    for (int i = 0; ok && i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        acts[i] = mlp__model_writes_over_input(m, i)
                      ? acts[i - 1]
                      : mlp__alloc(nn * (size_t)l->out_size * sizeof(float));
        ok = acts[i] != NULL;
        size_t scratch_n = nn * (size_t)l->scratch_per_sample + (size_t)l->scratch_fixed;
        if (ok && scratch_n) {
            scratch[i] = mlp__alloc(scratch_n * sizeof(float));
            ok = scratch[i] != NULL;
        }
    }
    if (!ok) {
        for (int i = 0; scratch && i < m->n_layers; i++)
            mlp__free(scratch[i]);
        if (acts)
            free_acts(acts, m->n_layers);
        mlp__free(scratch);
        mlp__free(g0);
        mlp__free(g1);
        mlp__free(x);
        mlp__free(lb);
        mlp__free(tb);
        mlp__free(sums);
        mlp__free(ws);
        mlp__free(undo);
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for a batch of %d", fn,
                          (int)n);
    }
    free_batch_buffers(m);
    for (int i = 0; i < m->n_layers; i++) {
        m->layers[i]->scratch = scratch[i];
        m->layers[i]->ws = ws;
    }
    mlp__free(scratch);
    m->ws = ws;
    m->acts = acts;
    m->gbuf[0] = g0;
    m->gbuf[1] = g1;
    m->xbuf = x;
    m->lbuf = lb;
    m->tbuf = tb;
    m->out_sums = sums;
    m->state_undo = undo;
    m->batch_cap = n;
    return MLP_STATUS_OK;
}

mlp_status mlp__model_forward_rows(mlp_model *m, const mlp__rows *r, mlp_mode mode)
{
    const float *x = r->x;
    const int32_t n = r->n;
    for (int i = r->from; i < m->n_layers; i++) {
        mlp_layer *l = r->layers[i];
        int relu;
        const int c = mlp__model_plane_consumer(m, i, &relu);
        if (c >= 0) {
            mlp__plane_sink s;
            r->layers[c]->ops->plane_sink(r->layers[c], r->acts[c], NULL, &s);
            MLP_TRY(l->ops->forward_planes(l, x, relu, &s, n, mode));
            i = c; /* the ReLU and the consumer: done */
        } else if (relu) {
            MLP_TRY(l->ops->forward_relu(l, x, r->acts[i], n, mode));
            i++; /* the ReLU: done, over the same buffer */
        } else {
            MLP_TRY(l->ops->forward(l, x, r->acts[i], n, mode));
        }
        x = r->acts[i];
    }
    return MLP_STATUS_OK;
}

/* The whole batch's rows of n samples in the model's own buffers. */
static mlp__rows whole(mlp_model *m, int32_t n)
{
    return (mlp__rows){m->layers, m->acts, m->xbuf, {m->gbuf[0], m->gbuf[1]}, n, 0};
}

mlp_status mlp__model_forward(mlp_model *m, int32_t n, mlp_mode mode)
{
    m->fwd_state = MLP__FWD_NONE;
    const mlp__rows r = whole(m, n);
    MLP_TRY(mlp__model_forward_rows(m, &r, mode));
    m->fwd_state = mode == MLP_MODE_TRAIN ? MLP__FWD_TRAIN : MLP__FWD_EVAL;
    m->fwd_n = n;
    return MLP_STATUS_OK;
}

mlp_status mlp__model_backward_rows(mlp_model *m, const mlp__rows *r, const float *dy,
                                    int want_dx, const float **dx_out, int reduce)
{
    const int32_t n = r->n;
    float *const *g = r->g;
    const float *cur = dy;
    for (int i = m->n_layers - 1; i >= r->from; i--) {
        if (i > r->from && (mlp__model_fuses_relu(m, i) || mlp__model_fuses_planes(m, i)))
            continue; /* the layer before applies it (no parameters): cur stays */
        mlp_layer *l = r->layers[i];
        const float *x = i > r->from ? r->acts[i - 1] : r->x;
        int need_dx = i > r->from || want_dx;
        if (!need_dx && l->n_params == 0)
            break;
        /* The other gradient buffer, or cur's own for a kind that runs in
         * place (never the caller's dy, which is neither). */
        float *next = NULL;
        if (need_dx) {
            const int k = cur == g[0] ? 0 : 1;
            next = l->ops->in_place && cur == g[k] ? g[k] : g[1 - k];
        }
        int relu;
        const int c = mlp__model_plane_consumer(m, i, &relu);
        if (c >= 0) {
            mlp__plane_sink s;
            r->layers[c]->ops->plane_sink(r->layers[c], NULL, cur, &s);
            MLP_TRY(l->ops->backward_planes(l, x, relu, &s, next, n));
        } else if (relu)
            MLP_TRY(l->ops->backward_relu(l, x, r->acts[i], cur, next, n));
        else
            MLP_TRY(l->ops->backward(l, x, r->acts[i], cur, next, n));
        if (reduce && m->dist_bucket_at[i] >= 0)
            MLP_TRY(mlp__dist_start(m, m->dist_bucket_at[i]));
        cur = next;
    }
    if (dx_out)
        *dx_out = want_dx ? cur : NULL;
    return MLP_STATUS_OK;
}

/* Backward from dy through every layer over the last forward pass's rows. */
static mlp_status backward(mlp_model *m, const float *dy, int want_dx,
                           const float **dx_out, int reduce)
{
    const mlp__rows r = whole(m, m->fwd_n);
    return mlp__model_backward_rows(m, &r, dy, want_dx, dx_out, reduce);
}

/* Whether t is a batch of samples of shape s: [N, s...] or [N, numel(s)]. */
static int is_batch_of(const mlp_tensor *t, const mlp_shape *s)
{
    if (t->rank == 2 && t->dims[1] == mlp__shape_numel(s))
        return 1;
    if (t->rank != s->rank + 1)
        return 0;
    for (int i = 0; i < s->rank; i++)
        if (t->dims[i + 1] != s->d[i])
            return 0;
    return 1;
}

mlp_status mlp__model_check_input(const mlp_model *m, const mlp_tensor *x, const char *fn)
{
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_CHECK_ARG(x, fn, "x is NULL");
    if (m->n_layers == 0)
        return mlp__error(MLP_STATUS_BAD_STATE, "%s: the model has no layers", fn);
    if (!is_batch_of(x, &m->in)) {
        char a[48], b[64];
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: x must be a batch of %s samples, shaped [N, dims...] or "
                          "[N, %lld]; got shape %s",
                          fn, mlp__shape_str(&m->in, a, sizeof a), (long long)m->in_size,
                          mlp__tensor_shape_str(x, b, sizeof b));
    }
    return MLP_STATUS_OK;
}

/* dst = src (n floats); 1 when every one is finite (v - v is 0 only for
 * a finite v). One pass: the check rides on the copy. */
MLP_VECTOR_CLONES
static int copy_finite(float *restrict dst, const float *restrict src, int64_t n)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const float v = src[i];
        dst[i] = v;
        bad |= v - v != 0.0f;
    }
    return !bad;
}

mlp_status mlp__model_stage_input(mlp_model *m, const mlp_tensor *x, const char *finite,
                                  const char *fn)
{
    int32_t n = x->dims[0];
    MLP_TRY(mlp__model_reserve(m, n, fn));
    const float *v = x->data;
    const int64_t len = x->numel;
    if (!finite) {
        if (v != m->xbuf)
            memcpy(m->xbuf, v, (size_t)len * sizeof(float));
        return MLP_STATUS_OK;
    }
    if (v != m->xbuf && copy_finite(m->xbuf, v, len))
        return MLP_STATUS_OK;
    const int64_t i = mlp__first_not_finite(v, len);
    if (i < 0) /* x is the model's own buffer, all finite */
        return MLP_STATUS_OK;
    return mlp__error(MLP_STATUS_NUMERIC,
                      "%s: x holds %s at sample %lld, value %lld; %s takes finite "
                      "values only",
                      fn, isnan(v[i]) ? "a NaN" : "an infinity",
                      (long long)(i / m->in_size), (long long)(i % m->in_size), finite);
}

mlp_status mlp_model_forward(mlp_model *m, const mlp_tensor *x, mlp_mode mode,
                             const mlp_tensor **y)
{
    static const char fn[] = "mlp_model_forward";
    if (y)
        *y = NULL;
    MLP_TRY(mlp__model_check_input(m, x, fn));
    if (mode != MLP_MODE_TRAIN && mode != MLP_MODE_EVAL)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: unknown mode %d", fn, (int)mode);
    /* any values, as the layers take them (the training steps check) */
    MLP_TRY(mlp__model_stage_input(m, x, NULL, fn));
    int32_t n = x->dims[0];
    MLP_TRY(mlp__model_forward(m, n, mode));
    const mlp_shape *s = &m->layers[m->n_layers - 1]->out;
    int32_t dims[MLP_MAX_RANK] = {n, s->d[0], s->d[1], s->d[2]};
    mlp__tensor_view(&m->out_view, m->acts[m->n_layers - 1], s->rank + 1, dims);
    if (y)
        *y = &m->out_view;
    return MLP_STATUS_OK;
}

mlp_status mlp_model_backward(mlp_model *m, const mlp_tensor *dy, const mlp_tensor **dx)
{
    static const char fn[] = "mlp_model_backward";
    if (dx)
        *dx = NULL;
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_CHECK_ARG(dy, fn, "dy is NULL");
    MLP_TRY(mlp__model_check_idle(m, 0, fn));
    if (m->fwd_state != MLP__FWD_TRAIN)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: needs a forward pass in MLP_MODE_TRAIN first (%s)", fn,
                          m->fwd_state == MLP__FWD_EVAL
                              ? "the last one was MLP_MODE_EVAL"
                              : "there was none since the last change");
    const mlp_shape *os = &m->layers[m->n_layers - 1]->out;
    if (dy->dims[0] != m->fwd_n || !is_batch_of(dy, os)) {
        char got[64], want[48];
        return mlp__error(
            MLP_STATUS_SHAPE_MISMATCH,
            "%s: dy has shape %s but must match the forward output: a batch "
            "of %d samples of %s, shaped [%d, dims...] or [%d,%lld]",
            fn, mlp__tensor_shape_str(dy, got, sizeof got), (int)m->fwd_n,
            mlp__shape_str(os, want, sizeof want), (int)m->fwd_n, (int)m->fwd_n,
            (long long)m->layers[m->n_layers - 1]->out_size);
    }
    const float *g;
    MLP_TRY(backward(m, dy->data, dx != NULL, &g, 0));
    if (dx) {
        int32_t dims[MLP_MAX_RANK] = {m->fwd_n, m->in.d[0], m->in.d[1], m->in.d[2]};
        mlp__tensor_view(&m->dx_view, (float *)g, m->in.rank + 1, dims);
        *dx = &m->dx_view;
    }
    return MLP_STATUS_OK;
}

int mlp__model_first_bad_layer(const mlp_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        if ((l->n_params && !mlp__all_finite(l->params, l->n_params)) ||
            (l->n_state && !mlp__all_finite(l->state, l->n_state)))
            return i;
    }
    return -1;
}

const char *mlp__model_bad_layer_holds(const mlp_model *m, int i)
{
    const mlp_layer *l = m->layers[i];
    if (l->n_params && !mlp__all_finite(l->params, l->n_params))
        return "a NaN or infinite parameter (try a smaller learning rate)";
    return "a NaN or infinite state value (the statistics of its input overflowed: "
           "try scaling the data)";
}

/* A value as the messages give it: NaN, +infinity, -infinity or %g. */
static void value_str(float v, char *buf, size_t size)
{
    if (isnan(v))
        snprintf(buf, size, "NaN");
    else if (isinf(v))
        snprintf(buf, size, "%sinfinity", v > 0.0f ? "+" : "-");
    else
        snprintf(buf, size, "%g", (double)v);
}

int64_t mlp__model_bad_value(const mlp_model *m, const float *v, int state, int *finite,
                             char *text, size_t size)
{
    int64_t off = 0; /* the layer's first value in v */
    for (int i = 0; i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        const int64_t n = state ? l->n_state : l->n_params;
        if (n == 0)
            continue;
        const float *lv = v + off;
        const char *why = "a model holds finite values only";
        int64_t bad = mlp__first_not_finite(lv, n);
        *finite = 0;
        if (bad < 0 && state) {
            bad = mlp__layer_bad_state(l, lv, &why);
            *finite = 1;
        }
        if (bad >= 0) {
            char val[32];
            value_str(lv[bad], val, sizeof val);
            snprintf(text, size, "layer %d (%s): %s %lld is %s; %s", i, l->ops->name,
                     state ? "state value" : "parameter", (long long)bad, val, why);
            return off + bad;
        }
        off += n;
    }
    return -1;
}

mlp_status mlp__model_check_values(const mlp_model *m, const float *v, int state, int src,
                                   const char *fn, const char *outcome)
{
    char text[200];
    int finite;
    const int64_t bad = mlp__model_bad_value(m, v, state, &finite, text, sizeof text);
    if (bad < 0)
        return MLP_STATUS_OK;
    const mlp_status st = finite ? MLP_STATUS_INVALID_ARG : MLP_STATUS_NUMERIC;
    if (src)
        return mlp__error(st, "%s: src[%lld]: %s (%s)", fn, (long long)bad, text,
                          outcome);
    return mlp__error(st, "%s: %s (%s)", fn, text, outcome);
}

mlp_status mlp__model_check_held(const mlp_model *m, const char *fn, const char *outcome)
{
    MLP_TRY(mlp__model_check_values(m, m->params, 0, 0, fn, outcome));
    return mlp__model_check_values(m, m->state, 1, 0, fn, outcome);
}

mlp_status mlp__model_loss_failed(const mlp_model *m, mlp_status st, const float *targets,
                                  int32_t n)
{
    if (st == MLP_STATUS_NUMERIC &&
        !(targets && mlp__all_finite(m->acts[m->n_layers - 1], (int64_t)n * out_k(m)))) {
        int bad = mlp__model_first_bad_layer(m);
        if (bad >= 0)
            return mlp__error(st, "the loss is not finite: layer %d (%s) has %s", bad,
                              m->layers[bad]->ops->name,
                              mlp__model_bad_layer_holds(m, bad));
        return mlp__error(st,
                          "the loss is not finite: the output of layer %d (%s) "
                          "overflowed",
                          m->n_layers - 1, m->layers[m->n_layers - 1]->ops->name);
    }
    return st;
}

/* Forward and loss of a training step; the loss sums go to *s. */
static mlp_status forward_loss(mlp_model *m, const mlp__loss *L, const int32_t *labels,
                               const float *targets, int32_t n, mlp__loss_sums *s)
{
    MLP_TRY(mlp__model_forward(m, n, MLP_MODE_TRAIN));
    mlp_status st = mlp__loss_batch(L, m->acts[m->n_layers - 1], n, out_k(m), labels,
                                    targets, m->gbuf[0], s);
    return st == MLP_STATUS_OK ? st : mlp__model_loss_failed(m, st, targets, n);
}

/*
 * The data-parallel step (include/mlpnet/dist.h): this rank's share of n
 * samples (maybe none), an agreement that gives the global loss weight W,
 * then the gradient of this rank's mean loss scaled by w_rank / W, so that
 * the sum over ranks is the gradient of the global batch's mean loss, and
 * the buckets summed while backward runs. A share whose class weights sum
 * to 0 has w_rank = 0 and adds nothing; only W = 0 is refused, by every
 * rank alike (they all see the same sum), as one process refuses a batch.
 */
static mlp_status train_step_dist(mlp_model *m, mlp_optimizer *opt, const mlp__loss *L,
                                  const int32_t *labels, const float *targets, int32_t n,
                                  double *loss, mlp__loss_sums *s, const char *fn)
{
    mlp__loss share = *L;
    share.dist_share = 1;
    mlp_status st =
        n > 0 ? forward_loss(m, &share, labels, targets, n, s) : MLP_STATUS_OK;
    if (st == MLP_STATUS_OK)
        st = mlp__dist_plan(m);
    /* The ranks compare their losses as the fit's start does, in the first
     * step after the hook was set and again whenever a rank's loss has
     * changed since the last comparison: that rank asks for it in the
     * agreement, so every rank makes the same sums. */
    const mlp__dist_value loss_now = mlp__dist_loss_value(m);
    const int ask = !m->dist_loss_agreed || m->dist_loss_hash != loss_now.value;
    double v[MLP__AGREE_VALS] = {s->loss, s->weight, (double)n, ask};
    MLP_TRY(mlp__dist_agree(m, st, "training", v));
    if (v[3] > 0.0) { /* no bucket has started: every rank stops here alike */
        MLP_TRY(mlp__dist_same(m, &loss_now, 1, fn));
        mlp__dist_loss_agreed(m);
    }
    const double w = v[1];
    if (!(w > 0.0)) /* no collective follows: every rank stops here */
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "softmax cross-entropy: the class weights of the global batch's "
            "%.0f labels (every rank's share) sum to 0",
            v[2]);
    if (n > 0) {
        const float scale = (float)(s->weight / w);
        const int64_t len = (int64_t)n * out_k(m);
        for (int64_t i = 0; i < len; i++)
            m->gbuf[0][i] *= scale;
        st = backward(m, m->gbuf[0], 0, NULL, 1);
    } else if (m->n_params > 0) {
        memset(m->grads, 0, (size_t)m->n_params * sizeof *m->grads);
    }
    /* A failure in backward or in a bucket (this rank's own): the rank
     * completes the buckets, and the other ranks, which go on to their next
     * agreement, hear of it there. */
    char msg[512] = "";
    if (st != MLP_STATUS_OK)
        snprintf(msg, sizeof msg, "%s", mlp_last_error());
    mlp_status fin = mlp__dist_finish(m);
    if (st != MLP_STATUS_OK)
        st = mlp__error(st, "%s", msg);
    else
        st = fin;
    if (st != MLP_STATUS_OK) {
        (void)mlp__dist_agree(m, st, "training", v);
        return st;
    }
    MLP_TRY(mlp_optimizer_step(opt));
    if (loss)
        *loss = v[0] / w;
    return MLP_STATUS_OK;
}

/* mlp__model_train_step, but for the forward state it leaves. */
static mlp_status train_step(mlp_model *m, mlp_optimizer *opt, const int32_t *labels,
                             const float *targets, int32_t n, double *loss,
                             mlp__loss_sums *acc, const char *fn)
{
    const mlp__loss *L = NULL;
    MLP_TRY(mlp__model_loss(m, "training", &L));
    mlp__loss_sums s;
    memset(&s, 0, sizeof s);
    if (acc) {
        s.t_sum = acc->t_sum;
        s.t_sq = acc->t_sq;
        s.sse_k = acc->sse_k;
        s.t_ref = acc->t_ref;
    }
    if (m->x_blocks && (m->dist_on || mlp__split_parts(m, L, n) == 1))
        return mlp__error(MLP_STATUS_INTERNAL,
                          "training step: the batch was gathered in %d column blocks "
                          "for a step that reads rows",
                          m->x_blocks);
    if (m->dist_on) {
        MLP_TRY(train_step_dist(m, opt, L, labels, targets, n, loss, &s, fn));
    } else {
        /* an optimizer whose step would overflow is refused before the
         * forward pass, so that fit tells that from a loss that was not
         * finite by asking again (a distributed step is refused at the
         * step itself, after the collectives that every rank joins) */
        MLP_TRY(mlp__optimizer_check_step(opt));
        const int parts = mlp__split_parts(m, L, n);
        const mlp__step_cut *cut = NULL;
        if (parts > 1) {
            MLP_TRY(mlp__split_step(m, L, labels, targets, n, parts, &s));
            cut = mlp__split_cut(m);
        } else {
            MLP_TRY(forward_loss(m, L, labels, targets, n, &s));
            MLP_TRY(backward(m, m->gbuf[0], 0, NULL, 0));
        }
        MLP_TRY(mlp__optimizer_step_cut(opt, cut));
        if (loss)
            *loss = mlp__loss_sums_mean(&s);
    }
    if (acc) {
        acc->loss += s.loss;
        acc->weight += s.weight;
        acc->correct += s.correct;
        acc->judged += s.judged;
        acc->sse += s.sse;
        acc->sae += s.sae;
        acc->elems += s.elems;
        acc->rows += s.rows;
    }
    return MLP_STATUS_OK;
}

/* A training step leaves no forward pass for mlp_model_backward, split or
 * not: a split step's parts keep their activations apart (split.c). */
mlp_status mlp__model_train_step(mlp_model *m, mlp_optimizer *opt, const int32_t *labels,
                                 const float *targets, int32_t n, double *loss,
                                 mlp__loss_sums *acc, const char *fn)
{
    /* A step that fails leaves the model as it was: the optimizer's step,
     * the one that changes the parameters, comes last, but the forward
     * pass has updated the batch-norm statistics (the state) and drawn the
     * dropout masks by then, and a bad label, a NaN loss or batch norm
     * given one row is found after it. Both are put back. */
    if (m->n_state > 0 && !m->state_undo)
        return mlp__error(MLP_STATUS_INTERNAL,
                          "training step: no room to keep the state");
    const mlp_rng noise = m->noise;
    if (m->n_state > 0)
        memcpy(m->state_undo, m->state, (size_t)m->n_state * sizeof(float));
    const mlp_status st = train_step(m, opt, labels, targets, n, loss, acc, fn);
    if (st != MLP_STATUS_OK) {
        m->noise = noise;
        if (m->n_state > 0)
            memcpy(m->state, m->state_undo, (size_t)m->n_state * sizeof(float));
    }
    m->fwd_state = MLP__FWD_NONE;
    m->x_blocks = 0;
    return st;
}

/* The checks of mlp_model_train_step, then the batch staged. */
static mlp_status stage_step(mlp_model *m, mlp_optimizer *opt, const mlp_tensor *x,
                             const int32_t *labels, const char *fn)
{
    MLP_TRY(mlp__model_check_input(m, x, fn));
    MLP_TRY(mlp__optimizer_check_block(opt, &m->pb, fn));
    MLP_CHECK_ARG(labels, fn, "labels is NULL");
    if (!mlp__loss_uses_labels(m->loss.kind))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: the model's loss, %s, takes float targets, not labels "
                          "(use mlp_model_train_step_targets)",
                          fn, mlp_loss_kind_name(m->loss.kind));
    return mlp__model_stage_input(m, x, "training", fn);
}

mlp_status mlp_model_train_step(mlp_model *m, mlp_optimizer *opt, const mlp_tensor *x,
                                const int32_t *labels, double *loss, int32_t *correct)
{
    static const char fn[] = "mlp_model_train_step";
    mlp_status st = stage_step(m, opt, x, labels, fn);
    if (st != MLP_STATUS_OK)
        return mlp__dist_refuse(m, st, fn);
    mlp__loss_sums s;
    memset(&s, 0, sizeof s);
    /* the loss's and the layers' messages start with their own names */
    st = mlp__model_train_step(m, opt, labels, NULL, x->dims[0], loss, &s, fn);
    if (st != MLP_STATUS_OK)
        return mlp__error_named(st, fn);
    if (correct)
        *correct = (int32_t)s.correct;
    return MLP_STATUS_OK;
}

/* Whether samples of `ds` take the model's input shape as they are: the
 * same extents once leading 1s are dropped, or either side flat (a row of
 * features, or a model that takes one: the values in order). Another
 * arrangement of the same count (3x2 for 2x3) would be read transposed. */
static int sample_shape_fits(const mlp_model *m, const mlp_dataset *ds)
{
    const int rank = mlp_dataset_sample_rank(ds);
    int32_t d[3];
    int r = 0;
    for (int i = 0; i < rank; i++) {
        const int32_t e = mlp_dataset_sample_dim(ds, i);
        if (r > 0 || e != 1)
            d[r++] = e;
    }
    int mo = 0;
    while (mo < m->in.rank - 1 && m->in.d[mo] == 1)
        mo++;
    const int mr = m->in.rank - mo;
    if (r <= 1 || mr <= 1)
        return 1;
    if (r != mr)
        return 0;
    for (int i = 0; i < r; i++)
        if (d[i] != m->in.d[mo + i])
            return 0;
    return 1;
}

mlp_status mlp__model_check_data(const mlp_model *m, const mlp_dataset *ds,
                                 const char *fn)
{
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_CHECK_ARG(ds, fn, "dataset is NULL");
    if (m->n_layers == 0)
        return mlp__error(MLP_STATUS_BAD_STATE, "%s: the model has no layers", fn);
    int64_t img = mlp_dataset_sample_size(ds);
    if (img != m->in_size) {
        if (mlp_dataset_storage(ds) == MLP_STORAGE_UINT8)
            return mlp__error(
                MLP_STATUS_SHAPE_MISMATCH,
                "%s: images have %lld values (%dx%dx%d) but the model takes "
                "%lld",
                fn, (long long)img, (int)mlp_dataset_channels(ds),
                (int)mlp_dataset_height(ds), (int)mlp_dataset_width(ds),
                (long long)m->in_size);
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: samples have %lld values but the model takes %lld", fn,
                          (long long)img, (long long)m->in_size);
    }
    if (!sample_shape_fits(m, ds)) {
        char a[48], b[48];
        mlp_shape sh = {.rank = mlp_dataset_sample_rank(ds)};
        for (int i = 0; i < sh.rank; i++)
            sh.d[i] = mlp_dataset_sample_dim(ds, i);
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: samples of shape %s do not fit the model's input %s: the "
                          "same values in another arrangement would be read in the "
                          "wrong order",
                          fn, mlp__shape_str(&sh, b, sizeof b),
                          mlp__shape_str(&m->in, a, sizeof a));
    }
    const char *loss = mlp_loss_kind_name(m->loss.kind);
    if (mlp__loss_uses_labels(m->loss.kind)) {
        if (mlp_dataset_target_kind(ds) != MLP_TARGET_CLASS)
            return mlp__error(
                MLP_STATUS_INVALID_ARG,
                "%s: the model's loss, %s, takes class labels but the dataset "
                "has float targets (%d per sample); a regression needs a "
                "regression loss (mlp_model_set_loss)",
                fn, loss, (int)mlp_dataset_target_dim(ds));
        if (mlp_dataset_num_classes(ds) > out_k(m))
            return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                              "%s: the dataset has %d classes but the model outputs %d",
                              fn, (int)mlp_dataset_num_classes(ds), (int)out_k(m));
        return MLP_STATUS_OK;
    }
    if (mlp_dataset_target_kind(ds) != MLP_TARGET_VALUES)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: the model's loss, %s, takes float targets but the dataset has "
            "class labels; a classifier of labels needs softmax_xent "
            "(mlp_model_set_loss)%s",
            fn, loss,
            m->loss.kind == MLP_LOSS_BCE_LOGITS
                ? ", or bce_logits 0/1 float targets (a CSV column of 0s and 1s read "
                  "with MLP_CSV_REGRESS, or mlp_dataset_create_f32_values)"
                : "");
    if (mlp_dataset_target_dim(ds) != out_k(m))
        return mlp__error(
            MLP_STATUS_SHAPE_MISMATCH,
            "%s: the dataset's targets have %d values but the model outputs %d", fn,
            (int)mlp_dataset_target_dim(ds), (int)out_k(m));
    return MLP_STATUS_OK;
}

mlp_status mlp_model_summary(const mlp_model *m, char *buf, size_t cap, size_t *len)
{
    static const char fn[] = "mlp_model_summary";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_CHECK_ARG(buf || cap == 0, fn, "buf is NULL but cap > 0");
    size_t used = 0;
    char shape[48];
#define EMIT(...)                                                                        \
    do {                                                                                 \
        int k_ = snprintf(used < cap ? buf + used : NULL, used < cap ? cap - used : 0,   \
                          __VA_ARGS__);                                                  \
        used += k_ > 0 ? (size_t)k_ : 0;                                                 \
    } while (0)
    EMIT("%-5s %-12s %-16s %12s\n", "layer", "kind", "output", "parameters");
    EMIT("%-5s %-12s %-16s %12s\n", "-", "input",
         mlp__shape_str(&m->in, shape, sizeof shape), "");
    for (int i = 0; i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        EMIT("%-5d %-12s %-16s %12lld\n", i, l->ops->name,
             mlp__shape_str(&l->out, shape, sizeof shape), (long long)l->n_params);
    }
    EMIT("total parameters: %lld\n", (long long)m->n_params);
#undef EMIT
    if (cap > 0 && used >= cap)
        buf[cap - 1] = '\0';
    if (len)
        *len = used;
    return MLP_STATUS_OK;
}
