/*
 * The training driver: epochs of shuffled batches, per-epoch statistics,
 * validation, callbacks, and a NaN/Inf watch. Everything it needs is
 * allocated before the first epoch.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backend/gemm.h"
#include "data/dataset_impl.h"
#include "model_impl.h"
#include "optim/optim_impl.h"

_Static_assert((int)MLP__CUT_MAX <= (int)MLP__GATHER_BLOCKS_MAX,
               "a gather writes the column blocks of any split step");

/* The size of mlp_fit_options in every release, oldest first. A release that
 * appends fields adds a line; the assertions below keep the list honest. */
static const size_t fit_options_sizes[] = {
    MLP__SIZE_UP_TO(mlp_fit_options, first_epoch),    /* 0.1 */
    MLP__SIZE_UP_TO(mlp_fit_options, max_train_loss), /* 0.2 */
    MLP__SIZE_UP_TO(mlp_fit_options, drop_last),      /* 0.5 */
};
#define N_FIT_SIZES (sizeof fit_options_sizes / sizeof fit_options_sizes[0])
_Static_assert(MLP__SIZE_UP_TO(mlp_fit_options, drop_last) == sizeof(mlp_fit_options),
               "a field was appended to mlp_fit_options: list the new size");
_Static_assert(MLP__SIZE_UP_TO(mlp_fit_options, first_epoch) <
                       MLP__SIZE_UP_TO(mlp_fit_options, max_train_loss) &&
                   MLP__SIZE_UP_TO(mlp_fit_options, max_train_loss) <
                       MLP__SIZE_UP_TO(mlp_fit_options, drop_last),
               "every release must make mlp_fit_options larger (pad the new fields)");

/* Defaults of every field. */
static void fit_defaults(mlp_fit_options *o)
{
    *o = (mlp_fit_options){
        .struct_size = sizeof *o,
        .epochs = 10,
        .batch_size = 100,
        .eval_batch_size = 1000,
        .first_epoch = 1,
    };
}

mlp_status mlp_fit_options_init_size(mlp_fit_options *opts, size_t struct_size)
{
    mlp_fit_options d;
    fit_defaults(&d);
    return mlp__init_sized(opts, &d, struct_size, fit_options_sizes, N_FIT_SIZES,
                           "mlp_fit_options_init", "mlp_fit_options");
}

/* Release 0.1's initialiser, still exported for programs built against it:
 * it knows nothing of later fields, so it writes the 0.1 layout only. */
void(mlp_fit_options_init)(mlp_fit_options *opts)
{
    if (opts)
        (void)mlp_fit_options_init_size(opts, fit_options_sizes[0]);
}

/* The caller's options, `struct_size` bytes of them, over the defaults. */
static mlp_status read_options(mlp_fit_options *o, const mlp_fit_options *opts,
                               const char *fn)
{
    fit_defaults(o);
    if (!opts)
        return MLP_STATUS_OK;
    MLP_TRY(mlp__check_struct_size(
        opts->struct_size, fit_options_sizes, N_FIT_SIZES, fn, "mlp_fit_options",
        "initialise the struct with mlp_fit_options_init(&opts)"));
    memcpy(o, opts, opts->struct_size);
    o->struct_size = sizeof *o;
    return MLP_STATUS_OK;
}

/* An epoch's figures from the metrics of the training pass or validation. */
static void figures(const mlp_metrics *mt, double *error, double *acc, double *mse,
                    double *rmse, double *mae, double *r2)
{
    *error = mt->loss;
    *acc = mt->accuracy;
    *mse = mt->mse;
    *rmse = mt->rmse;
    *mae = mt->mae;
    *r2 = mt->r2;
}

/* The first NaN or infinity in the batch of n rows in m->xbuf, laid out
 * in `blocks` column blocks cut at cols[] (0: rows of all inputs): 1 with
 * its row, input and value in *row, *col and *v, else 0. */
static int bad_input(const mlp_model *m, int32_t n, int blocks, const int32_t *cols,
                     int64_t *row, int64_t *col, float *v)
{
    const int parts = blocks ? blocks : 1;
    for (int b = 0; b < parts; b++) {
        const int64_t f0 = blocks ? cols[b] : 0, f1 = blocks ? cols[b + 1] : m->in_size;
        const float *x = m->xbuf + (int64_t)n * f0;
        const int64_t i = mlp__first_not_finite(x, (int64_t)n * (f1 - f0));
        if (i >= 0) {
            *row = i / (f1 - f0);
            *col = f0 + i % (f1 - f0);
            *v = x[i];
            return 1;
        }
    }
    return 0;
}

/* The message of a step or an epoch that went NaN: the cause nearest to
 * the data first (a borrowed dataset's values can have changed since they
 * were checked at creation), then the parameters and state, then the
 * output. The batch's n rows are in `blocks` column blocks cut at cols[],
 * as bad_input reads them (n 0: the input is not looked at). */
static mlp_status numeric_error(const mlp_model *m, int32_t epoch, int32_t batch,
                                int32_t n, int blocks, const int32_t *cols,
                                const char *what)
{
    int64_t row, col;
    float v;
    if (bad_input(m, n, blocks, cols, &row, &col, &v))
        return mlp__error(
            MLP_STATUS_NUMERIC,
            "mlp_model_fit: epoch %d, batch %d: %s; the batch's sample %lld "
            "holds %s at value %lld (a borrowed dataset's values changed "
            "after it was created?)",
            (int)epoch, (int)batch, what, (long long)row,
            isnan(v) ? "a NaN" : "an infinity", (long long)col);
    int bad = mlp__model_first_bad_layer(m);
    if (bad >= 0)
        return mlp__error(MLP_STATUS_NUMERIC,
                          "mlp_model_fit: epoch %d, batch %d: %s; layer %d (%s) has %s",
                          (int)epoch, (int)batch, what, bad, m->layers[bad]->ops->name,
                          mlp__model_bad_layer_holds(m, bad));
    return mlp__error(
        MLP_STATUS_NUMERIC,
        "mlp_model_fit: epoch %d, batch %d: %s; the output of layer %d (%s) "
        "overflowed (try a smaller learning rate)",
        (int)epoch, (int)batch, what, m->n_layers - 1,
        m->layers[m->n_layers - 1]->ops->name);
}

/* A failure of the fit in epoch `epoch` but in none of its batches (the
 * distributed fit's start, the validation pass, the sums at the epoch's
 * end, the agreement after on_epoch), said as the fit's, with where: the
 * message loses the name of the call that gave it (`callee`, with its
 * ": "), and the collectives' own messages name the collective alone. */
static mlp_status epoch_error(mlp_status st, int32_t epoch, const char *where,
                              const char *callee)
{
    char msg[512];
    const char *e = mlp_last_error();
    if (strncmp(e, callee, strlen(callee)) == 0)
        e += strlen(callee);
    snprintf(msg, sizeof msg, "%s", e);
    return mlp__error(st, "mlp_model_fit: epoch %d, %s: %s", (int)epoch, where, msg);
}

/* A failure of a public call the fit makes for itself (`callee`), said as
 * the fit's: its message with the fit's name in place of the callee's. */
static mlp_status callee_error(mlp_status st, const char *fn, const char *callee)
{
    char msg[512];
    const char *e = mlp_last_error();
    const size_t n = strlen(callee);
    if (strncmp(e, callee, n) == 0 && e[n] == ':' && e[n + 1] == ' ')
        e += n + 2;
    snprintf(msg, sizeof msg, "%s", e);
    return mlp__error(st, "%s: %s", fn, msg);
}

/* A failed step's status, its message (this rank's, or another rank's
 * that stopped this one) led by the epoch and batch where it stopped. When
 * this rank's step was the epoch's short last batch (`rows` < the batch
 * size; 0 when the step was another rank's) and failed for its size (batch
 * norm given one row: mlp__error_batch_too_small), the message says that
 * drop_last leaves it out. */
static mlp_status batch_error(mlp_status st, int32_t epoch, int32_t batch, int32_t rows,
                              const mlp_fit_options *o)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mlp_last_error());
    if (rows > 0 && rows < o->batch_size && !o->drop_last && mlp__batch_size_marked())
        return mlp__error(st,
                          "mlp_model_fit: epoch %d, batch %d: %s (the epoch's short "
                          "last batch, %d of %d samples; drop_last in "
                          "mlp_fit_options leaves it out)",
                          (int)epoch, (int)batch, msg, (int)rows, (int)o->batch_size);
    return mlp__error(st, "mlp_model_fit: epoch %d, batch %d: %s", (int)epoch, (int)batch,
                      msg);
}

/* The arguments of mlp_model_fit, read into *o. */
static mlp_status check_fit(mlp_fit_options *o, mlp_model *m, mlp_optimizer *opt,
                            const mlp_dataset *train, const mlp_dataset *valid,
                            const mlp_fit_options *opts, const char *fn)
{
    MLP_TRY(read_options(o, opts, fn));
    MLP_CHECK_ARG(train, fn, "train is NULL");
    MLP_TRY(mlp__model_check_data(m, train, fn));
    if (valid)
        MLP_TRY(mlp__model_check_data(m, valid, fn));
    /* before any step: a batch's loss would stop training part-way, naming
     * a row of a shuffled batch */
    MLP_TRY(mlp__model_check_targets(m, train, "the training set", fn));
    if (valid)
        MLP_TRY(mlp__model_check_targets(m, valid, "the validation set", fn));
    /* a set that gives one class another id than the model (or the
     * validation set than the training set) would train or score on the
     * wrong classes: a CSV file read without the training file's class
     * names, lacking one of them; and names or class weights set for
     * another last layer would be refused only when the model is saved */
    MLP_TRY(mlp__model_check_class_counts(m, fn));
    MLP_TRY(mlp__model_check_class_names(m, train, NULL, "the training set", fn));
    if (valid)
        MLP_TRY(mlp__model_check_class_names(m, valid, train, "the validation set", fn));
    /* and one whose columns are in another order would read each as another */
    MLP_TRY(mlp__model_check_feature_names(m, train, NULL, "the training set", fn));
    if (valid)
        MLP_TRY(
            mlp__model_check_feature_names(m, valid, train, "the validation set", fn));
    MLP_TRY(mlp__optimizer_check_block(opt, &m->pb, fn));
    if (o->epochs < 1 || o->batch_size < 1 || o->eval_batch_size < 1 ||
        o->first_epoch < 1)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: epochs (%d), batch_size (%d) and eval_batch_size (%d) must "
            "be >= 1, and first_epoch (%d) too",
            fn, (int)o->epochs, (int)o->batch_size, (int)o->eval_batch_size,
            (int)o->first_epoch);
    if (o->first_epoch > INT32_MAX - o->epochs)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: first_epoch (%d) + epochs (%d) is more than %d", fn,
                          (int)o->first_epoch, (int)o->epochs, (int)INT32_MAX);
    if (!(o->max_train_loss >= 0.0))
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: max_train_loss is %g; it must be >= 0 (0 turns the guard off)", fn,
            o->max_train_loss);
    if (o->drop_last && mlp_dataset_size(train) < o->batch_size)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: drop_last with batch_size %d and %d training samples "
                          "leaves no batch",
                          fn, (int)o->batch_size, (int)mlp_dataset_size(train));
    /* last, so that a fit refused by the checks leaves the model as it was */
    MLP_TRY(mlp__model_adopt_feature_names(m, train, fn));
    return mlp__model_adopt_class_names(m, train, fn);
}

mlp_status mlp_model_fit(mlp_model *m, mlp_optimizer *opt, const mlp_dataset *train,
                         const mlp_dataset *valid, const mlp_fit_options *opts)
{
    static const char fn[] = "mlp_model_fit";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    mlp_fit_options o;
    mlp_status st = check_fit(&o, m, opt, train, valid, opts, fn);
    /* a distributed model goes on to tell the other ranks (a model without
     * layers has no outputs to size the sums by: its check failed, and it
     * fails on every rank alike) */
    if (st != MLP_STATUS_OK && !(m->dist_on && m->n_layers > 0))
        return st;

    /* Size every buffer once, for the larger of the two batch sizes, each
     * at most its set's size: a batch_size of INT32_MAX (every sample in
     * one batch) asked for memory for 2^31 rows. */
    int32_t train_bs = o.batch_size, eval_bs = o.eval_batch_size;
    if (st == MLP_STATUS_OK && train_bs > mlp_dataset_size(train))
        train_bs = mlp_dataset_size(train);
    if (st == MLP_STATUS_OK && valid && eval_bs > mlp_dataset_size(valid))
        eval_bs = mlp_dataset_size(valid);
    mlp_batcher *b = NULL;
    if (st == MLP_STATUS_OK)
        st = mlp__model_reserve(m, train_bs > eval_bs ? train_bs : eval_bs, fn);
    /* The epoch's per-output sums, the fit's own: a callback that evaluates
     * or predicts, on a larger batch too, uses (and may make anew) the
     * model's batch buffers, not these. */
    const int32_t k = mlp__model_outputs(m);
    double *sums = NULL;
    if (st == MLP_STATUS_OK && !(sums = mlp__alloc(3 * (size_t)k * sizeof *sums)))
        st = mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    if (st == MLP_STATUS_OK &&
        (st = mlp_batcher_create(&b, train, train_bs, 1, o.seed)) != MLP_STATUS_OK)
        st = callee_error(st, fn, "mlp_batcher_create");
    if (st == MLP_STATUS_OK)
        st = mlp_batcher_set_drop_last(b, o.drop_last);
    if (m->dist_on) {
        /* Every rank starts from rank 0's model and optimizer, or every
         * rank stops (also when another rank's arguments were wrong, or
         * its data or options differ: the ranks would make different
         * collectives). Read only when st is OK. */
        const mlp__dist_value same[] = {
            {"the parameter count", (uint64_t)m->n_params},
            {"the state count", (uint64_t)m->n_state},
            {"the layers' kinds, shapes or settings (a hash of them)",
             mlp__dist_arch_hash(m)},
            mlp__dist_loss_value(m),
            {"the training set's size", (uint64_t)mlp_dataset_size(train)},
            {"the training samples' size", (uint64_t)mlp_dataset_sample_size(train)},
            {"the validation set's size", valid ? (uint64_t)mlp_dataset_size(valid) : 0},
            {"the batch size", (uint64_t)o.batch_size},
            {"the validation batch size", (uint64_t)eval_bs},
            {"the number of epochs", (uint64_t)o.epochs},
            {"the first epoch", (uint64_t)o.first_epoch},
            {"the shuffling seed", o.seed},
            {"drop_last", o.drop_last != 0}};
        const mlp_status mine = st;
        st = mlp__dist_start_fit(m, st, opt, same, (int)(sizeof same / sizeof same[0]),
                                 fn);
        if (mine == MLP_STATUS_OK && st != MLP_STATUS_OK)
            st = epoch_error(st, o.first_epoch, "before its first batch",
                             "mlp_model_fit: ");
        if (st == MLP_STATUS_OK) /* the steps need not compare the losses again */
            mlp__dist_loss_agreed(m);
    }
    if (st != MLP_STATUS_OK) {
        mlp__free(sums);
        mlp_batcher_destroy(b);
        return st;
    }
    const int32_t batches = mlp_batcher_batch_count(b);
    m->fitting++;

    const int32_t last = o.first_epoch + o.epochs - 1;
    st = mlp_batcher_set_epoch(b, o.first_epoch - 1);
    for (int32_t epoch = o.first_epoch; st == MLP_STATUS_OK && epoch <= last; epoch++) {
        st = mlp_optimizer_start_epoch(opt, epoch - 1);
        if (st != MLP_STATUS_OK)
            break;
        if (m->dist_on)
            mlp__dist_start_epoch(m);
        mlp_epoch_stats s = {.epoch = epoch,
                             .learning_rate = mlp_optimizer_learning_rate(opt)};
        mlp__loss_sums acc;
        memset(&acc, 0, sizeof acc);
        memset(sums, 0, 3 * (size_t)k * sizeof *sums);
        acc.t_sum = sums;
        acc.t_sq = sums + k;
        acc.sse_k = sums + 2 * k;
        acc.t_ref = mlp_dataset_target_values(train, 0); /* every rank's row 0 */
        const int labels = mlp__loss_uses_labels(m->loss.kind);
        m->dist_wait = 0.0;
        double t0 = mlp__now();
        for (int32_t batch = 1;; batch++) {
            int32_t n, n_local;
            int32_t cols[MLP__CUT_MAX + 1];
            int blocks = 0;
            if (m->dist_on) {
                st = mlp__batcher_next_share(b, m->dist.rank, m->dist.size, m->xbuf,
                                             labels ? m->lbuf : NULL,
                                             labels ? NULL : m->tbuf, &n, &n_local);
                if (st != MLP_STATUS_OK) {
                    /* Stop the other ranks at the agreement of this step. */
                    double v[MLP__AGREE_VALS] = {0};
                    st = mlp__dist_agree(m, st, fn, v);
                }
            } else {
                /* in the column blocks a step that splits the first layer
                 * by its inputs reads, when it will */
                blocks = mlp__split_input_blocks(m, mlp__batcher_next_count(b), cols);
                st = mlp__batcher_next_blocks(b, blocks, blocks ? cols : NULL, m->xbuf,
                                              labels ? m->lbuf : NULL,
                                              labels ? NULL : m->tbuf, &n);
                n_local = n;
                m->x_blocks = st == MLP_STATUS_OK && n > 0 ? blocks : 0;
            }
            if (st != MLP_STATUS_OK || n == 0)
                break;
            double loss;
            mlp__batch_size_mark_clear();
            st = mlp__model_train_step(m, opt, labels ? m->lbuf : NULL,
                                       labels ? NULL : m->tbuf, n_local, &loss, &acc, fn);
            if (st != MLP_STATUS_OK && m->dist_on && m->dist_remote)
                st = batch_error(st, epoch, batch, 0, &o);
            else if (st == MLP_STATUS_NUMERIC && /* the step's own: batch_error */
                     mlp__optimizer_check_step(opt) == MLP_STATUS_OK)
                st = numeric_error(m, epoch, batch, n_local, blocks, cols,
                                   "the loss is not finite");
            else if (st != MLP_STATUS_OK) /* e.g. batch norm given 1 row */
                st = batch_error(st, epoch, batch, n, &o);
            else if (st == MLP_STATUS_OK && o.max_train_loss > 0.0 &&
                     loss > o.max_train_loss)
                st = mlp__error(MLP_STATUS_NUMERIC,
                                "%s: epoch %d, batch %d: the training loss %g exceeds "
                                "max_train_loss %g: training diverges (try a smaller "
                                "learning rate)",
                                fn, (int)epoch, (int)batch, loss, o.max_train_loss);
            if (st != MLP_STATUS_OK)
                break;
            if (o.on_batch)
                o.on_batch(epoch, batch, batches, o.user);
        }
        if (st != MLP_STATUS_OK)
            break;
        if (m->dist_on && (st = mlp__dist_end_epoch(m, &acc, k)) != MLP_STATUS_OK) {
            st = epoch_error(st, epoch, "after its last batch", "mlp_model_fit: ");
            break;
        }
        s.train_seconds = mlp__now() - t0;
        s.comm_wait_seconds = m->dist_wait;
        mlp_metrics tm = {0};
        mlp__metrics_from_sums(&acc, k, &tm);
        figures(&tm, &s.train_error, &s.train_acc, &s.train_mse, &s.train_rmse,
                &s.train_mae, &s.train_r2);
        if (mlp__model_first_bad_layer(m) >= 0) {
            st = numeric_error(m, epoch, batches, 0, 0, NULL, "after the epoch");
            break;
        }
        mlp_metrics vm = {
            .loss = NAN, .accuracy = NAN, .mse = NAN, .rmse = NAN, .mae = NAN, .r2 = NAN};
        if (valid) {
            double t1 = mlp__now();
            st = mlp_model_evaluate_metrics(m, valid, eval_bs, &vm);
            if (st != MLP_STATUS_OK) {
                /* say that the validation pass stopped it, and when */
                st = epoch_error(st, epoch, "validation set",
                                 "mlp_model_evaluate_metrics: ");
                break;
            }
            s.eval_seconds = mlp__now() - t1;
        }
        figures(&vm, &s.valid_error, &s.valid_acc, &s.valid_mse, &s.valid_rmse,
                &s.valid_mae, &s.valid_r2);
        int stop = o.on_epoch && o.on_epoch(&s, m, o.user);
        if (m->dist_on) {
            /* One rank's callback stops every rank. */
            double v[MLP__AGREE_VALS] = {stop ? 1.0 : 0.0};
            st = mlp__dist_agree(m, MLP_STATUS_OK, fn, v);
            if (st != MLP_STATUS_OK)
                st = epoch_error(st, epoch, "after on_epoch", "mlp_model_fit: ");
            stop = v[0] > 0.0;
        }
        if (st != MLP_STATUS_OK || stop)
            break;
    }
    m->fitting--;
    mlp__free(sums);
    mlp_batcher_destroy(b);
    return st;
}
