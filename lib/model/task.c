/*
 * What a model is trained for: its loss (softmax cross-entropy unless told
 * otherwise) and class weights, training against float targets, the
 * evaluation of a dataset with the metrics of its task, and predictions
 * that only give probabilities where the loss defines them.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/gemm.h"
#include "data/dataset_impl.h"
#include "model_impl.h"
#include "optim/optim_impl.h"

/* The size of mlp_metrics in every release, oldest first. */
static const size_t metrics_sizes[] = {
    MLP__SIZE_UP_TO(mlp_metrics, r2), /* 0.3 */
};
#define N_METRICS_SIZES (sizeof metrics_sizes / sizeof metrics_sizes[0])
_Static_assert(MLP__SIZE_UP_TO(mlp_metrics, r2) == sizeof(mlp_metrics),
               "a field was appended to mlp_metrics: list the new size");

mlp_status mlp_model_set_loss(mlp_model *m, mlp_loss_kind kind, double param)
{
    static const char fn[] = "mlp_model_set_loss";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_TRY(mlp__model_check_idle(m, 1, fn));
    float delta;
    MLP_TRY(mlp__loss_setting(kind, param, fn, &delta));
    if (m->class_w && kind != MLP_LOSS_SOFTMAX_XENT)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: the model has class weights, which only softmax_xent uses; "
            "clear them first (mlp_model_set_class_weights with NULL)",
            fn);
    m->loss.kind = kind;
    m->loss.delta = delta;
    return MLP_STATUS_OK;
}

mlp_loss_kind mlp_model_get_loss(const mlp_model *m, double *param)
{
    if (param)
        *param = m && m->loss.kind == MLP_LOSS_HUBER ? (double)m->loss.delta : 0.0;
    return m ? m->loss.kind : (mlp_loss_kind)0;
}

mlp_task mlp_model_task(const mlp_model *m)
{
    if (!m)
        return (mlp_task)0;
    return m->loss.kind == MLP_LOSS_SOFTMAX_XENT || m->loss.kind == MLP_LOSS_BCE_LOGITS
               ? MLP_TASK_CLASSIFY
               : MLP_TASK_REGRESS;
}

mlp_status mlp_model_set_class_weights(mlp_model *m, const float *weights, int32_t k)
{
    static const char fn[] = "mlp_model_set_class_weights";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_TRY(mlp__model_check_idle(m, 1, fn)); /* part of the loss */
    if (!weights) {
        MLP_CHECK_ARG(k == 0, fn, "weights is NULL but k is not 0 (NULL, 0 clears them)");
        mlp__free(m->class_w);
        m->class_w = NULL;
        m->n_class_w = 0;
        m->loss.class_w = NULL;
        return MLP_STATUS_OK;
    }
    if (m->loss.kind != MLP_LOSS_SOFTMAX_XENT)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: class weights apply to softmax_xent only; the model's loss "
            "is %s",
            fn, mlp_loss_kind_name(m->loss.kind));
    if (k < 1 || (m->n_layers && k != mlp__model_outputs(m)))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %d weights for a model with %d outputs", fn, (int)k,
                          m->n_layers ? (int)mlp__model_outputs(m) : 0);
    mlp__loss probe = {.kind = MLP_LOSS_SOFTMAX_XENT, .delta = 1.0f, .class_w = weights};
    MLP_TRY(mlp__loss_check(&probe, k, fn));
    float *w = mlp__alloc((size_t)k * sizeof *w);
    if (!w)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    memcpy(w, weights, (size_t)k * sizeof *w);
    mlp__free(m->class_w);
    m->class_w = w;
    m->n_class_w = k;
    m->loss.class_w = w;
    return MLP_STATUS_OK;
}

void mlp__model_free_class_names(mlp_model *m)
{
    for (int32_t i = 0; i < m->n_class_names; i++)
        mlp__free(m->class_names[i]);
    mlp__free(m->class_names);
    m->class_names = NULL;
    m->n_class_names = 0;
}

mlp_status mlp_model_set_class_names(mlp_model *m, const char *const *names, int32_t k)
{
    static const char fn[] = "mlp_model_set_class_names";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_TRY(mlp__model_check_idle(m, 0, fn));
    if (!names) {
        MLP_CHECK_ARG(k == 0, fn, "names is NULL but k is not 0 (NULL, 0 clears them)");
        mlp__model_free_class_names(m);
        return MLP_STATUS_OK;
    }
    if (k < 1 || (m->n_layers && k != mlp__model_outputs(m)))
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %d names for a model with %d outputs", fn, (int)k,
                          m->n_layers ? (int)mlp__model_outputs(m) : 0);
    for (int32_t i = 0; i < k; i++) {
        if (!names[i])
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: name %d is NULL", fn, (int)i);
        /* Every class is named: the model file stores lengths 1..255. */
        size_t len = strlen(names[i]);
        if (len < 1 || len > MLP__CLASS_NAME_MAX)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: name %d has %zu bytes (1..%d allowed)", fn, (int)i,
                              len, MLP__CLASS_NAME_MAX);
        /* The datasets' rule (data/dataset_impl.h): the names of a dataset
         * that names every class always fit a model, and the names a model
         * saves or exports to ONNX are UTF-8 text a reader can show. */
        const char *why = mlp__class_name_problem(names[i], len);
        if (why)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: name %d %s", fn, (int)i, why);
    }
    int32_t first, second;
    int rep = mlp__class_names_repeat(names, k, &first, &second);
    if (rep < 0)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    if (rep)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: names %d and %d are both \"%s\"",
                          fn, (int)first, (int)second, names[second]);
    char **copy = mlp__calloc((size_t)k, sizeof *copy);
    int ok = copy != NULL;
    for (int32_t i = 0; ok && i < k; i++) {
        size_t len = strlen(names[i]);
        copy[i] = mlp__alloc(len + 1);
        ok = copy[i] != NULL;
        if (ok)
            memcpy(copy[i], names[i], len + 1);
    }
    if (!ok) {
        for (int32_t i = 0; copy && i < k; i++)
            mlp__free(copy[i]);
        mlp__free(copy);
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    }
    mlp__model_free_class_names(m);
    m->class_names = copy;
    m->n_class_names = k;
    return MLP_STATUS_OK;
}

const char *mlp_model_class_name(const mlp_model *m, int32_t i)
{
    if (!m || i < 0 || i >= m->n_class_names)
        return NULL;
    return m->class_names[i];
}

int32_t mlp_model_class_count(const mlp_model *m)
{
    return m ? m->n_class_names : 0;
}

mlp_status mlp__model_check_class_counts(const mlp_model *m, const char *fn)
{
    if (m->n_layers == 0)
        return MLP_STATUS_OK;
    const int32_t k = mlp__model_outputs(m);
    if (m->class_w && m->n_class_w != k)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: the model has %d class weights but %d outputs (set them "
                          "again for its last layer: mlp_model_set_class_weights)",
                          fn, (int)m->n_class_w, (int)k);
    if (m->n_class_names && m->n_class_names != k)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: the model has %d class names but %d outputs (set them "
                          "again for its last layer: mlp_model_set_class_names)",
                          fn, (int)m->n_class_names, (int)k);
    return MLP_STATUS_OK;
}

mlp_status mlp__model_loss(const mlp_model *m, const char *fn, const mlp__loss **out)
{
    if (m->class_w && m->n_class_w != mlp__model_outputs(m))
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: the model has %d class weights but %d outputs", fn,
                          (int)m->n_class_w, (int)mlp__model_outputs(m));
    *out = &m->loss;
    return MLP_STATUS_OK;
}

mlp_status mlp__model_check_targets(const mlp_model *m, const mlp_dataset *ds,
                                    const char *set, const char *fn)
{
    if (ds->no_targets)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %s has no targets (its rows were read to be predicted, "
                          "with MLP_CSV_FEATURES_ONLY): read its file with the target "
                          "column to train or evaluate",
                          fn, set);
    if (m->loss.kind != MLP_LOSS_BCE_LOGITS ||
        mlp_dataset_target_kind(ds) != MLP_TARGET_VALUES)
        return MLP_STATUS_OK;
    const int32_t n = mlp_dataset_size(ds), k = mlp_dataset_target_dim(ds);
    for (int32_t i = 0; i < n; i++) {
        const float *t = mlp_dataset_target_values(ds, i);
        for (int32_t j = 0; j < k; j++)
            if (t[j] < 0.0f || t[j] > 1.0f)
                return mlp__error(MLP_STATUS_INVALID_ARG,
                                  "%s: sample %d of %s holds target %g at element "
                                  "%d; the bce_logits loss takes targets in [0, 1]",
                                  fn, (int)i, set, (double)t[j], (int)j);
    }
    return MLP_STATUS_OK;
}

/* The class names of a class dataset, n of them (NULL: unnamed), in a new
 * array; NULL when out of memory. */
static const char **dataset_names(const mlp_dataset *ds, int32_t n)
{
    const char **v = mlp__alloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int32_t c = 0; v && c < n; c++)
        v[c] = mlp_dataset_class_name(ds, c);
    return v;
}

mlp_status mlp__model_adopt_class_names(mlp_model *m, const mlp_dataset *ds,
                                        const char *fn)
{
    if (m->class_names || mlp_dataset_target_kind(ds) != MLP_TARGET_CLASS)
        return MLP_STATUS_OK;
    const int32_t k = mlp_dataset_num_classes(ds);
    if (k != mlp__model_outputs(m))
        return MLP_STATUS_OK;
    const char **names = dataset_names(ds, k);
    if (!names)
        return mlp__error(MLP_STATUS_NO_MEMORY,
                          "%s: out of memory copying the training set's class names", fn);
    int all = 1;
    for (int32_t c = 0; c < k; c++)
        all = all && names[c];
    /* a dataset's names meet the model's rule (data/dataset_impl.h): only
     * memory can fail here */
    mlp_status st = all ? mlp_model_set_class_names(m, names, k) : MLP_STATUS_OK;
    mlp__free(names);
    if (st != MLP_STATUS_OK)
        return mlp__error(st, "%s: copying the training set's class names: %s", fn,
                          mlp_last_error());
    return MLP_STATUS_OK;
}

mlp_status mlp__model_check_class_names(const mlp_model *m, const mlp_dataset *ds,
                                        const mlp_dataset *ref, const char *set,
                                        const char *fn)
{
    const int use_ref =
        !m->class_names && ref && mlp_dataset_target_kind(ref) == MLP_TARGET_CLASS;
    if (mlp_dataset_target_kind(ds) != MLP_TARGET_CLASS || (!m->class_names && !use_ref))
        return MLP_STATUS_OK;
    const int32_t n = mlp_dataset_num_classes(ds),
                  nr = use_ref ? mlp_dataset_num_classes(ref) : m->n_class_names;
    const char **theirs = dataset_names(ds, n);
    const char **ours = use_ref ? dataset_names(ref, nr) : NULL;
    int32_t at_ours = -1, at_theirs = -1;
    int moved = -1;
    if (theirs && (ours || !use_ref))
        moved =
            mlp__class_names_moved(use_ref ? ours : (const char *const *)m->class_names,
                                   nr, theirs, n, &at_ours, &at_theirs);
    mlp_status st = MLP_STATUS_OK;
    if (moved < 0)
        st = mlp__error(MLP_STATUS_NO_MEMORY,
                        "%s: out of memory comparing the class names of %s", fn, set);
    else if (moved)
        st = mlp__error(MLP_STATUS_INVALID_ARG,
                        "%s: class %d of %s is \"%.64s\", which is class %d of %s: its "
                        "samples would count as another class (read the set with %s's "
                        "class names, as mlp_csv_options.class_names does)",
                        fn, (int)at_theirs, set, theirs[at_theirs], (int)at_ours,
                        use_ref ? "the training set" : "the model",
                        use_ref ? "the training set" : "the model");
    mlp__free(theirs);
    mlp__free(ours);
    return st;
}

/* A caller's targets [N, K] (or [N] for K = 1) against the model's output. */
static mlp_status check_targets(const mlp_model *m, const mlp_tensor *t, int32_t n,
                                const char *fn)
{
    MLP_CHECK_ARG(t, fn, "targets is NULL");
    /* the step's forward pass writes over the tensors the model lends before
     * the loss reads the targets: the loss would compare the new outputs
     * with themselves */
    if (t == &m->out_view || t == &m->dx_view)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: targets is a tensor the model lent (an output of its "
                          "forward or backward pass), which the step overwrites: pass "
                          "a copy",
                          fn);
    const int32_t k = mlp__model_outputs(m);
    if (!(t->dims[0] == n &&
          ((t->rank == 2 && t->dims[1] == k) || (t->rank == 1 && k == 1)))) {
        char got[64];
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: targets have shape %s but must be [%d,%d] (one row of %d "
                          "per sample)",
                          fn, mlp__tensor_shape_str(t, got, sizeof got), (int)n, (int)k,
                          (int)k);
    }
    return MLP_STATUS_OK;
}

/* The checks of mlp_model_train_step_targets, then the batch staged. */
static mlp_status stage_step_targets(mlp_model *m, mlp_optimizer *opt,
                                     const mlp_tensor *x, const mlp_tensor *targets,
                                     const char *fn)
{
    MLP_TRY(mlp__model_check_input(m, x, fn));
    MLP_TRY(mlp__optimizer_check_block(opt, &m->pb, fn));
    if (mlp__loss_uses_labels(m->loss.kind))
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: the model's loss, %s, takes class labels, not float targets "
            "(use mlp_model_train_step, or mlp_model_set_loss)",
            fn, mlp_loss_kind_name(m->loss.kind));
    MLP_TRY(check_targets(m, targets, x->dims[0], fn));
    return mlp__model_stage_input(m, x, "training", fn);
}

mlp_status mlp_model_train_step_targets(mlp_model *m, mlp_optimizer *opt,
                                        const mlp_tensor *x, const mlp_tensor *targets,
                                        double *loss)
{
    static const char fn[] = "mlp_model_train_step_targets";
    mlp_status st = stage_step_targets(m, opt, x, targets, fn);
    if (st != MLP_STATUS_OK)
        return mlp__dist_refuse(m, st, fn);
    /* the loss's and the layers' messages start with their own names */
    return mlp__error_named(
        mlp__model_train_step(m, opt, NULL, targets->data, x->dims[0], loss, NULL, fn),
        fn);
}

/* ---- evaluation ------------------------------------------------------------ */

/* The message of an evaluation batch, rows [start, start + n) of the set,
 * whose loss is not finite. The loss names a row of the batch, not of the
 * set, and blames the logit or the prediction; the cause nearest to the
 * data comes first, as in mlp_model_fit: a NaN or an infinity in the
 * samples or the float targets (a borrowed dataset's values can have
 * changed since its creation checked them), then a layer's parameters or
 * state. */
static mlp_status numeric_rows(const mlp_model *m, int32_t start, int32_t n, int labels,
                               const char *fn)
{
    const int64_t i = mlp__first_not_finite(m->xbuf, (int64_t)n * m->in_size);
    const int32_t k = mlp__model_outputs(m);
    const int64_t j = labels ? -1 : mlp__first_not_finite(m->tbuf, (int64_t)n * k);
    const float v = i >= 0 ? m->xbuf[i] : j >= 0 ? m->tbuf[j] : 0.0f;
    if (i >= 0 || j >= 0)
        return mlp__error(
            MLP_STATUS_NUMERIC,
            "%s: sample %lld holds %s at %s %lld (a borrowed dataset's values "
            "changed after it was created?)",
            fn, (long long)start + (i >= 0 ? i / m->in_size : j / k),
            isnan(v) ? "a NaN" : "an infinity", i >= 0 ? "value" : "target element",
            (long long)(i >= 0 ? i % m->in_size : j % k));
    const int layer = mlp__model_first_bad_layer(m);
    if (layer >= 0)
        return mlp__error(MLP_STATUS_NUMERIC, "%s: layer %d (%s) has %s", fn, layer,
                          m->layers[layer]->ops->name,
                          mlp__model_bad_layer_holds(m, layer));
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mlp_last_error());
    return mlp__error(MLP_STATUS_NUMERIC, "%s: samples %d..%d: %s", fn, (int)start,
                      (int)(start + n - 1), msg);
}

/* The loss sums of rows [lo, hi) of ds, in batches of batch_size. */
static mlp_status evaluate_rows(mlp_model *m, const mlp_dataset *ds, int32_t batch_size,
                                int32_t lo, int32_t hi, mlp__loss_sums *s, const char *fn)
{
    const mlp__loss *model_loss = NULL;
    MLP_TRY(mlp__model_loss(m, fn, &model_loss));
    /* each batch is a part of the set's sums: one whose class weights sum
     * to 0 adds nothing (evaluate refuses a set whose weights do) */
    mlp__loss part = *model_loss;
    part.dist_share = 1;
    const mlp__loss *L = &part;
    const int32_t k = mlp__model_outputs(m);
    mlp__batches w = {lo, hi, batch_size};
    for (int32_t start, n; mlp__batches_next(&w, &start, &n);) {
        const int labels = mlp__loss_uses_labels(L->kind);
        MLP_TRY(mlp__dataset_rows(ds, start, n, m->xbuf, labels ? m->lbuf : NULL,
                                  labels ? NULL : m->tbuf));
        mlp_status st = mlp__model_forward(m, n, MLP_MODE_EVAL);
        if (st == MLP_STATUS_OK)
            st = mlp__loss_batch(L, m->acts[m->n_layers - 1], n, k, m->lbuf, m->tbuf,
                                 NULL, s);
        if (st == MLP_STATUS_NUMERIC)
            return numeric_rows(m, start, n, labels, fn);
        MLP_TRY(st);
    }
    return MLP_STATUS_OK;
}

/* Evaluate a whole dataset; on a distributed model every rank takes its
 * share of the rows, [total r / P, total (r + 1) / P), and the sums are
 * added across ranks (include/mlpnet/dist.h). */
static mlp_status evaluate(mlp_model *m, const mlp_dataset *ds, int32_t batch_size,
                           mlp__loss_sums *s, const char *fn)
{
    memset(s, 0, sizeof *s);
    mlp_status st = mlp__model_check_data(m, ds, fn);
    if (st == MLP_STATUS_OK)
        st = mlp__model_check_targets(m, ds, "the dataset", fn);
    if (st == MLP_STATUS_OK)
        st = mlp__model_check_class_counts(m, fn);
    if (st == MLP_STATUS_OK)
        st = mlp__model_check_class_names(m, ds, NULL, "the dataset", fn);
    if (st == MLP_STATUS_OK)
        st = mlp__model_check_feature_names(m, ds, NULL, "the dataset", fn);
    if (st == MLP_STATUS_OK && batch_size < 1)
        st = mlp__error(MLP_STATUS_INVALID_ARG, "%s: batch_size %d is not >= 1", fn,
                        (int)batch_size);
    if (st != MLP_STATUS_OK && !(m && m->dist_on && m->n_layers > 0))
        return st;
    int32_t total = st == MLP_STATUS_OK ? mlp_dataset_size(ds) : 0;
    int32_t lo = 0, hi = total;
    if (m->dist_on) {
        lo = (int32_t)((int64_t)total * m->dist.rank / m->dist.size);
        hi = (int32_t)((int64_t)total * (m->dist.rank + 1) / m->dist.size);
    }
    if (batch_size > hi - lo)
        batch_size = hi - lo > 0 ? hi - lo : 1;
    if (st == MLP_STATUS_OK)
        st = mlp__model_reserve(m, batch_size, fn);
    const int32_t k = mlp__model_outputs(m);
    /* the per-output sums live in the batch buffers, which a model never
     * run before has only once the reserve succeeded; on a failure they stay
     * NULL, and a distributed model's ranks stop at the agreement below
     * without summing them */
    if (st == MLP_STATUS_OK) {
        memset(m->out_sums, 0, 3 * (size_t)k * sizeof(double));
        s->t_sum = m->out_sums;
        s->t_sq = m->out_sums + k;
        s->sse_k = m->out_sums + 2 * k;
        s->t_ref = mlp_dataset_target_values(ds, 0); /* every rank's row 0 */
        st = evaluate_rows(m, ds, batch_size, lo, hi, s, fn);
    }
    if (m->dist_on)
        st = mlp__dist_reduce_sums(m, st, fn, s, k);
    /* every rank sees the same sums, so all refuse alike */
    if (st == MLP_STATUS_OK && m->class_w && !(s->weight > 0.0))
        st = mlp__error(MLP_STATUS_INVALID_ARG,
                        "%s: the class weights of the set's %lld labels sum to 0, so the "
                        "weighted loss has no value",
                        fn, (long long)s->rows);
    return st;
}

mlp_status mlp_model_evaluate(mlp_model *m, const mlp_dataset *ds, int32_t batch_size,
                              double *error, double *accuracy)
{
    mlp__loss_sums s;
    MLP_TRY(evaluate(m, ds, batch_size, &s, "mlp_model_evaluate"));
    if (error)
        *error = mlp__loss_sums_mean(&s);
    if (accuracy)
        *accuracy = s.judged ? (double)s.correct / (double)s.judged : NAN;
    return MLP_STATUS_OK;
}

void mlp__metrics_from_sums(const mlp__loss_sums *s, int32_t k, mlp_metrics *out)
{
    out->count = s->rows;
    out->loss = mlp__loss_sums_mean(s);
    out->accuracy = s->judged ? (double)s->correct / (double)s->judged : NAN;
    if (s->elems) {
        out->mse = s->sse / (double)s->elems;
        out->rmse = sqrt(out->mse);
        out->mae = s->sae / (double)s->elems;
        out->r2 = mlp__loss_sums_r2(s, k);
    } else {
        out->mse = out->rmse = out->mae = out->r2 = NAN;
    }
}

mlp_status mlp_model_evaluate_metrics_size(mlp_model *m, const mlp_dataset *ds,
                                           int32_t batch_size, mlp_metrics *out,
                                           size_t out_size)
{
    static const char fn[] = "mlp_model_evaluate_metrics";
    MLP_CHECK_ARG(out, fn, "out is NULL");
    MLP_TRY(mlp__check_struct_size(out_size, metrics_sizes, N_METRICS_SIZES, fn,
                                   "mlp_metrics",
                                   "call mlp_model_evaluate_metrics(), which passes "
                                   "sizeof(mlp_metrics)"));
    mlp__loss_sums s;
    MLP_TRY(evaluate(m, ds, batch_size, &s, fn));
    mlp_metrics r = {.struct_size = out_size};
    mlp__metrics_from_sums(&s, mlp__model_outputs(m), &r);
    memcpy(out, &r, out_size);
    return MLP_STATUS_OK;
}

/* ---- prediction ------------------------------------------------------------ */

/* Whether the model's loss defines probabilities; if not, why (for `fn`,
 * whose caller asks for raw outputs as `raw` says). */
static mlp_status can_give_probabilities(const mlp_model *m, const char *fn,
                                         const char *raw)
{
    if (mlp_model_task(m) != MLP_TASK_CLASSIFY)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: the model regresses (loss %s): it has no class "
                          "probabilities; ask for its raw outputs (%s)",
                          fn, mlp_loss_kind_name(m->loss.kind), raw);
    if (m->loss.kind == MLP_LOSS_SOFTMAX_XENT && mlp__model_outputs(m) < 2)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: a softmax over the model's single output is always 1; a "
                          "one-output classifier needs the bce_logits loss, a regression "
                          "a regression loss (mlp_model_set_loss)",
                          fn);
    return MLP_STATUS_OK;
}

static void probabilities(const mlp_model *m, const float *z, int32_t n, float *p)
{
    const int32_t k = mlp__model_outputs(m);
    if (m->loss.kind == MLP_LOSS_BCE_LOGITS)
        mlp__sigmoid_vec(z, (int64_t)n * k, p);
    else
        mlp__softmax(z, n, k, p);
}

/* A prediction's outputs z [n, k] are finite: a finite input can still
 * overflow in the model (values far larger than the training data's, or
 * parameters grown too large), and its NaN or infinity is refused rather
 * than handed out as a prediction (the caller's output is left as it was). */
static mlp_status outputs_finite(const float *z, int32_t n, int32_t k, const char *fn)
{
    const int64_t bad = mlp__first_not_finite(z, (int64_t)n * k);
    if (bad < 0)
        return MLP_STATUS_OK;
    return mlp__error(MLP_STATUS_NUMERIC,
                      "%s: row %lld gives %s at output %lld: its finite input "
                      "overflowed in the model (values far outside the training "
                      "data's, or parameters grown too large)",
                      fn, (long long)(bad / k), isnan(z[bad]) ? "a NaN" : "an infinity",
                      (long long)(bad % k));
}

static mlp_status predict(mlp_model *m, const mlp_tensor *x, mlp_tensor *out,
                          mlp_output what, const char *fn)
{
    MLP_TRY(mlp__model_check_input(m, x, fn));
    MLP_CHECK_ARG(out, fn, "out is NULL");
    int32_t n = x->dims[0], k = mlp__model_outputs(m);
    if (out->rank != 2 || out->dims[0] != n || out->dims[1] != k) {
        char got[64];
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: %s has shape %s but must be [%d,%d]", fn,
                          what == MLP_OUTPUT_PROBABILITIES ? "probs" : "out",
                          mlp__tensor_shape_str(out, got, sizeof got), (int)n, (int)k);
    }
    MLP_TRY(
        mlp__check_writable(out, fn, what == MLP_OUTPUT_PROBABILITIES ? "probs" : "out"));
    if (what == MLP_OUTPUT_PROBABILITIES)
        MLP_TRY(can_give_probabilities(m, fn, "mlp_model_predict_raw"));
    MLP_TRY(mlp__model_stage_input(m, x, "prediction", fn));
    MLP_TRY(mlp__model_forward(m, n, MLP_MODE_EVAL));
    const float *z = m->acts[m->n_layers - 1];
    MLP_TRY(outputs_finite(z, n, k, fn));
    if (what == MLP_OUTPUT_PROBABILITIES)
        probabilities(m, z, n, out->data);
    else
        memcpy(out->data, z, (size_t)n * (size_t)k * sizeof(float));
    return MLP_STATUS_OK;
}

mlp_status mlp_model_predict(mlp_model *m, const mlp_tensor *x, mlp_tensor *probs)
{
    return predict(m, x, probs, MLP_OUTPUT_PROBABILITIES, "mlp_model_predict");
}

mlp_status mlp_model_predict_raw(mlp_model *m, const mlp_tensor *x, mlp_tensor *out)
{
    return predict(m, x, out, MLP_OUTPUT_RAW, "mlp_model_predict_raw");
}

mlp_status mlp_model_predict_one(mlp_model *m, const float *sample, int64_t sample_len,
                                 mlp_output what, float *out, int64_t out_len)
{
    static const char fn[] = "mlp_model_predict_one";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_CHECK_ARG(sample && out, fn, "sample or out is NULL");
    if (m->n_layers == 0)
        return mlp__error(MLP_STATUS_BAD_STATE, "%s: the model has no layers", fn);
    if (what != MLP_OUTPUT_RAW && what != MLP_OUTPUT_PROBABILITIES)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: what = %d is not an mlp_output",
                          fn, (int)what);
    const int32_t k = mlp__model_outputs(m);
    if (sample_len != m->in_size || out_len != k)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: the model takes %lld values and gives %d; got sample_len "
                          "%lld and out_len %lld",
                          fn, (long long)m->in_size, (int)k, (long long)sample_len,
                          (long long)out_len);
    if (what == MLP_OUTPUT_PROBABILITIES)
        MLP_TRY(can_give_probabilities(m, fn, "what = MLP_OUTPUT_RAW"));
    const int64_t bad = mlp__first_not_finite(sample, sample_len);
    if (bad >= 0)
        return mlp__error(MLP_STATUS_NUMERIC,
                          "%s: the sample holds %s at value %lld; prediction takes "
                          "finite values only",
                          fn, isnan(sample[bad]) ? "a NaN" : "an infinity",
                          (long long)bad);
    MLP_TRY(mlp__model_reserve(m, 1, fn));
    memcpy(m->xbuf, sample, (size_t)sample_len * sizeof(float));
    MLP_TRY(mlp__model_forward(m, 1, MLP_MODE_EVAL));
    const float *z = m->acts[m->n_layers - 1];
    MLP_TRY(outputs_finite(z, 1, k, fn));
    if (what == MLP_OUTPUT_PROBABILITIES)
        probabilities(m, z, 1, out);
    else
        memcpy(out, z, (size_t)k * sizeof(float));
    return MLP_STATUS_OK;
}

mlp_status mlp_model_input_shape(const mlp_model *m, int *rank, int32_t *dims)
{
    static const char fn[] = "mlp_model_input_shape";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_CHECK_ARG(rank && dims, fn, "rank or dims is NULL");
    *rank = m->in.rank;
    for (int i = 0; i < MLP_MAX_RANK; i++)
        dims[i] = i < m->in.rank ? m->in.d[i] : 0;
    return MLP_STATUS_OK;
}
