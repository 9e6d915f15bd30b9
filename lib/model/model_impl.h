/* Private layout of mlp_model, shared by model.c and fit.c. */
#ifndef MLPNET_MODEL_IMPL_H
#define MLPNET_MODEL_IMPL_H

#include "core/core.h"
#include "layers/layer_impl.h"
#include "losses/loss_impl.h"
#include "mlpnet/dist.h"
#include "optim/param_block.h"
#include "tensor/tensor_impl.h"

enum { MLP__FWD_NONE = 0, MLP__FWD_TRAIN = 1, MLP__FWD_EVAL = 2 };

struct mlp_model {
    mlp_shape in;
    int64_t in_size;
    mlp_layer **layers;
    int n_layers, cap_layers;
    /* One contiguous buffer of all parameters and one of their gradients;
     * each layer holds a slice (optimizers are flat loops over these). */
    float *params, *grads;
    int64_t n_params;
    float *state; /* non-trainable state of all layers, contiguous too */
    int64_t n_state;
    /* What an optimizer sees of the model: views of params, grads and
     * n_params, the segments (owned here) and the generation, bumped
     * whenever the layout changes. Kept current by mlp_model_add. */
    mlp__param_block pb;
    mlp_rng rng;   /* weight initialisation */
    mlp_rng noise; /* dropout masks */

    /* Batch buffers, sized for batch_cap samples and reused. */
    int32_t batch_cap;
    float **acts;      /* acts[i]: output of layer i (acts[i - 1]'s buffer when
                          mlp__model_writes_over_input) */
    float *gbuf[2];    /* ping-pong gradient buffers */
    float *xbuf;       /* the input of the last forward pass */
    int32_t *lbuf;     /* labels of a gathered batch */
    float *tbuf;       /* float targets of a gathered batch (batch_cap x outputs) */
    double *out_sums;  /* 3 x outputs: per-output sums for R^2 (mlp__loss_sums) */
    float *ws;         /* workspace shared by all layers (im2col) */
    float *state_undo; /* n_state floats: the state before a training step,
                          put back when the step fails (train_step) */
    int64_t max_size;  /* largest per-sample size among input and outputs */

    /* What the model is trained for (task.c): the loss and its settings;
     * loss.class_w points at class_w (owned, n_class_w weights) or is NULL. */
    mlp__loss loss;
    float *class_w;
    int32_t n_class_w;
    char **class_names; /* n_class_names owned strings, or NULL */
    int32_t n_class_names;
    struct mlp__names *feature_names; /* in_size names (features.c), or NULL */

    /* Data-parallel training (dist.c): the hook, in use when dist_on. The
     * bucket plan is rebuilt before every step (a loop over the layers):
     * bucket_at[i] is the bucket started once layer i's backward is done,
     * or -1; bucket b covers grads[boff[b], boff[b] + bn[b]). */
    mlp_dist_ops dist;
    int dist_on;
    int dist_remote;         /* 1: the last agreement failed because of another rank */
    int32_t *dist_bucket_at; /* dist_cap entries, one per layer */
    int64_t *dist_boff, *dist_bn;
    double *dist_agree; /* MLP__AGREE_VALS + dist.size doubles */
    int32_t dist_cap, dist_nb, dist_started;
    double dist_wait; /* seconds in reduce_wait since fit's epoch began */
    /* The loss hash (mlp__dist_loss_hash) the ranks last found alike in a
     * training step, valid when dist_loss_agreed: a step compares the
     * losses again only when this rank's loss has changed since. */
    int dist_loss_agreed;
    uint64_t dist_loss_hash;
    /* The ranks' common noise generator while mlp_model_fit's epoch runs on
     * a generator of this rank's drawn from it (mlp__dist_start_epoch). */
    mlp_rng dist_noise;

    struct mlp__split *split; /* the split step's buffers (split.c), or NULL */
    int split_off;            /* tests and benchmarks: 1 keeps every step unsplit */
    int first_split_off;      /* tests and benchmarks: 1 splits the first layer by rows */
    /* 0: xbuf holds the batch by rows; k > 1: in the k column blocks that
     * mlp__split_input_blocks gave for the batch (mlp_model_fit sets it
     * before a step, which clears it) */
    int x_blocks;

    /* mlp_model_fit calls running on the model, whose callbacks run inside
     * them: its layers, loss and distribution stay as they are meanwhile
     * (mlp_model_add, mlp_model_set_loss and mlp_model_set_distributed
     * refuse), so the fit's buffers and its ranks' collectives keep
     * fitting it */
    int fitting;
    /* data-parallel hook callbacks running (dist.c): the model is inside
     * one of its steps or collectives, and refuses every call that runs or
     * changes it until they return */
    int in_hook;

    int fwd_state; /* MLP__FWD_* of the last forward pass */
    int32_t fwd_n; /* its batch size */
    mlp_tensor out_view, dx_view;
};

/* Make the batch buffers hold at least n samples. Refuses a model in a
 * data-parallel hook's callback (BAD_STATE); `fn`, the public call, leads
 * the messages. */
mlp_status mlp__model_reserve(mlp_model *m, int32_t n, const char *fn);

/* 1 when layer i writes its output over its input's buffer (acts[i] is
 * acts[i - 1]): a kind that can run in place (ops->in_place) after a layer
 * whose backward does not read its own output. Layer 0's input, the batch
 * buffer, is never written over. */
int mlp__model_writes_over_input(const mlp_model *m, int i);

/* 1 when layer i is a ReLU that layer i - 1 applies itself
 * (ops->forward_relu and backward_relu): the ReLU writes over its input,
 * and the passes skip it. */
int mlp__model_fuses_relu(const mlp_model *m, int i);

/* 1 when layer i takes its input plane by plane from the layer that makes
 * it (layer i - 1, or i - 2 across a ReLU fused into that one), through
 * mlp__plane_sink: the passes skip layer i, and the producer's output
 * buffer is not written (only layer i reads it, and layer i's backward
 * pass does not). */
int mlp__model_fuses_planes(const mlp_model *m, int i);

/* The layer after layer i, past a ReLU fused into i, when it takes i's
 * output plane by plane (mlp__model_fuses_planes); -1 otherwise, also for
 * a layer that a fused kind skips. *relu: whether that ReLU is there (i
 * then applies it, plane-fused or not). */
int mlp__model_plane_consumer(const mlp_model *m, int i, int *relu);

/* Forward m->xbuf [n, in] through every layer. */
mlp_status mlp__model_forward(mlp_model *m, int32_t n, mlp_mode mode);

/* n rows of a batch, the layers that pass them and where they go: the
 * model's own layers and buffers, or in the split step (split.c) a part's
 * rows, which parts other than the first pass through copies of the
 * layers and buffers of their own. Only models of by_sample layers split:
 * the others keep scratch, workspace or masks that views would share. */
typedef struct mlp__rows {
    mlp_layer *const *layers;
    float *const *acts; /* acts[i]: layer i's output rows, as m->acts is laid out
                           (acts[i] == acts[i - 1] where layer i writes over
                           its input) */
    const float *x;     /* the input rows of layer `from` */
    float *g[2];        /* the two gradient buffers, rows of max_size floats */
    int32_t n;
    int from; /* the first layer the rows pass (0 but in split.c's first-layer
                 split, where the parts start at layer 1) */
} mlp__rows;

/* Forward r's input rows through its layers into its activations
 * (m->fwd_state is the caller's). */
mlp_status mlp__model_forward_rows(mlp_model *m, const mlp__rows *r, mlp_mode mode);

/* Backward from dy ([n, outputs], the gradient of r's last activations)
 * through r's layers down to layer r->from over its gradient buffers. *dx_out (may be
 * NULL) receives the input gradient when want_dx, else NULL. `reduce`: a data-parallel
 * step, which starts each gradient bucket as soon as its layers are done (dist.c). */
mlp_status mlp__model_backward_rows(mlp_model *m, const mlp__rows *r, const float *dy,
                                    int want_dx, const float **dx_out, int reduce);

/* Training step on m->xbuf [n, in] against `labels` (a loss that takes
 * labels) or `targets` [n, outputs] (one that takes float targets): the
 * batch's mean loss goes to *loss (may be NULL) and its sums are added to
 * acc (may be NULL; its per-output arrays, when set, accumulate too). It
 * leaves no forward pass to go back through (m->fwd_state NONE). `fn`
 * names the caller in the message of ranks whose losses differ. */
mlp_status mlp__model_train_step(mlp_model *m, mlp_optimizer *opt, const int32_t *labels,
                                 const float *targets, int32_t n, double *loss,
                                 mlp__loss_sums *acc, const char *fn);

/* Check a caller's input batch against the model / copy it into m->xbuf.
 * With `finite` (the training steps' "training", the predictions'
 * "prediction": the word the message uses), the copy also checks that
 * every value is finite: NUMERIC, naming `fn`, the sample and the value,
 * otherwise (a NaN in x would reach the batch statistics and, through the
 * first layer's weight gradient, the parameters; before the ReLU kept
 * NaN, a ReLU after it also kept the loss finite and a prediction on a
 * NaN gave probabilities that looked like any other). */
mlp_status mlp__model_check_input(const mlp_model *m, const mlp_tensor *x,
                                  const char *fn);
mlp_status mlp__model_stage_input(mlp_model *m, const mlp_tensor *x, const char *finite,
                                  const char *fn);

/* The number of outputs per sample (the model has layers). */
int32_t mlp__model_outputs(const mlp_model *m);

/* The model's loss, its class weights checked against its outputs; `fn`
 * names the caller in messages. */
mlp_status mlp__model_loss(const mlp_model *m, const char *fn, const mlp__loss **out);

/* SHAPE_MISMATCH when the class weights or names no longer match the
 * model's outputs (a layer added since they were set): what a save or an
 * export refuses, as a load would refuse the file (task.c). */
mlp_status mlp__model_check_class_counts(const mlp_model *m, const char *fn);

/* BAD_STATE when the model is inside a data-parallel hook's callback, or,
 * for a call that `changes` its layers, loss or distribution, inside
 * mlp_model_fit (model.c). */
mlp_status mlp__model_check_idle(const mlp_model *m, int changes, const char *fn);

/* Check that a dataset's images and classes fit the model. */
mlp_status mlp__model_check_data(const mlp_model *m, const mlp_dataset *ds,
                                 const char *fn);

/* For a model whose loss is bce_logits, INVALID_ARG when a float target of
 * `ds` lies outside [0, 1], with a message that names `set` (for example
 * "the training set") and the set's sample, where a batch's loss would name
 * a row of the batch (task.c). OK for every other loss. */
mlp_status mlp__model_check_targets(const mlp_model *m, const mlp_dataset *ds,
                                    const char *set, const char *fn);

/* A model without class names takes those of the training set `ds` when it
 * names every class and has one per output (mlp_model_fit). */
mlp_status mlp__model_adopt_class_names(mlp_model *m, const mlp_dataset *ds,
                                        const char *fn);

/* INVALID_ARG when a class of `ds` (a class dataset) has the name of
 * another class id in the model's names, or without them in `ref`'s (the
 * training set, or NULL): the same class under two ids, as a CSV file read
 * without the training file's class names, and lacking one of them, gives.
 * Names that differ without a name moving (a renaming) and unnamed classes
 * pass; so do float targets. The message names `set` and both ids;
 * NO_MEMORY when the comparison's arrays cannot be had (task.c). */
mlp_status mlp__model_check_class_names(const mlp_model *m, const mlp_dataset *ds,
                                        const mlp_dataset *ref, const char *set,
                                        const char *fn);

/* A model without feature names takes those of the training set `ds` when
 * it names its in_size features (mlp_model_fit; features.c). */
mlp_status mlp__model_adopt_feature_names(mlp_model *m, const mlp_dataset *ds,
                                          const char *fn);

/* The copy of `ds`'s feature names that a model without names would take
 * (*out, owned by the caller), or *out NULL when it takes none; for a call
 * that adopts them only once the rest of its work succeeded. */
mlp_status mlp__model_names_to_adopt(const mlp_model *m, const mlp_dataset *ds,
                                     struct mlp__names **out, const char *fn);

/* INVALID_ARG when `ds` names its features otherwise than the model, or,
 * without the model's names, than `ref` (the training set, or NULL): a
 * table with its columns in another order. A set or reference without
 * names passes. The message names `set` and the feature (features.c). */
mlp_status mlp__model_check_feature_names(const mlp_model *m, const mlp_dataset *ds,
                                          const mlp_dataset *ref, const char *set,
                                          const char *fn);

/* Longest class name, in bytes (task.c). */
#define MLP__CLASS_NAME_MAX 255

/* Free the model's class names (task.c). */
void mlp__model_free_class_names(mlp_model *m);

/* The public figures from loss sums over k outputs (task.c). */
void mlp__metrics_from_sums(const mlp__loss_sums *s, int32_t k, mlp_metrics *out);

/*
 * A walk over rows [lo, hi) of a set in batches of `batch` rows (>= 1),
 * the last one shorter, for the loops of evaluation and standardisation:
 *     mlp__batches w = {lo, hi, batch};
 *     for (int32_t start, n; mlp__batches_next(&w, &start, &n);) ...
 * It steps by the rows a batch took, so it never passes hi: a step of
 * `batch` from the last batch's start passed INT32_MAX (undefined
 * behaviour; in practice a negative start, refused after the whole set had
 * been read) in a set of 2^31 - 1 - batch rows or more.
 */
typedef struct mlp__batches {
    int32_t next, hi, batch;
} mlp__batches;

/* The next batch: 1 with its first row in *start and its rows in *n, or 0
 * when the walk has reached hi. */
static inline int mlp__batches_next(mlp__batches *w, int32_t *start, int32_t *n)
{
    if (w->next >= w->hi)
        return 0;
    *start = w->next;
    *n = w->hi - w->next < w->batch ? w->hi - w->next : w->batch;
    w->next += *n;
    return 1;
}

/* Index of the first layer with a NaN or infinite parameter or state
 * value, or -1. */
int mlp__model_first_bad_layer(const mlp_model *m);

/* What layer i, one mlp__model_first_bad_layer found, holds, and the
 * usual remedy: words for a message (static storage). */
const char *mlp__model_bad_layer_holds(const mlp_model *m, int i);

/*
 * The one rule for the values a model holds, for every path that puts
 * values into a model or writes them out (the loader, the savers, the ONNX
 * exporter, mlp_model_set_params and mlp_model_set_state), so that what
 * the library writes it reads back: every parameter and state value is
 * finite, and each kind's state is one it can hold (its check_state,
 * through mlp__layer_bad_state). `v` holds the model's parameters (state
 * 0) or its state (state 1) in the layout of mlp_model_get_params or
 * mlp_model_get_state: the model's own buffer, or a caller's before it is
 * copied in. Returns -1 when every value passes, or the index in `v` of
 * the first that does not (layers in order; within a layer a NaN or an
 * infinity before a value its kind refuses), its description in `text`
 * ("layer 2 (batchnorm): state value 5 is -5; a running variance must be
 * >= 0", with the index in the layer's slice) and *finite 0 for a NaN or
 * an infinity, 1 for a finite value the kind refuses. One pass over `v`.
 */
int64_t mlp__model_bad_value(const mlp_model *m, const float *v, int state, int *finite,
                             char *text, size_t size);

/* mlp__model_bad_value as the status of a call given `v` (src != 0: the
 * caller's buffer, named "src[K]" in the message) or holding it (the
 * model's own): MLP_STATUS_NUMERIC for a NaN or an infinity,
 * MLP_STATUS_INVALID_ARG for a value the kind never holds, with the message
 * "FN: [src[K]: ]TEXT (OUTCOME)"; MLP_STATUS_OK when every value passes. */
mlp_status mlp__model_check_values(const mlp_model *m, const float *v, int state, int src,
                                   const char *fn, const char *outcome);

/* mlp__model_check_values over the model's own parameters, then its state:
 * what a writer checks before it writes anything. */
mlp_status mlp__model_check_held(const mlp_model *m, const char *fn, const char *outcome);

/* The status of a training step whose loss over the forward pass's n rows
 * returned st (not OK; its message set): st, with a message that names the
 * layer to blame when the loss is not finite because of the model (a NaN
 * or infinite parameter, or an output that overflowed) rather than of a
 * target. */
mlp_status mlp__model_loss_failed(const mlp_model *m, mlp_status st, const float *targets,
                                  int32_t n);

/* ---- the training step split by rows across threads (split.c) ---------- */

/* The parts a training step of n rows on m with loss L splits into: 1 (no
 * split) unless the pool has 2 or more threads for it, the model is not
 * distributed, its loss has no class weights and every layer is by_sample;
 * and the batch has MIN_ROWS rows a part, or the first layer is split by
 * its inputs (split.c). */
int mlp__split_parts(const mlp_model *m, const mlp__loss *L, int32_t n);

/* Forward, loss and backward of m->xbuf's n rows against labels or
 * targets, in `parts` (from mlp__split_parts) parts of rows, each on its
 * own thread; leaves the batch's mean-loss gradient in m->grads and the
 * last layer's output in its buffer (other layers' rows are in the model's
 * buffers for the first part only), and adds the loss sums to *s (its
 * per-output arrays too). Errors are those of the unsplit step, with the
 * same messages; MLP_STATUS_INTERNAL when m->x_blocks says the batch is in
 * column blocks that this step does not read (a caller's bug). */
mlp_status mlp__split_step(mlp_model *m, const mlp__loss *L, const int32_t *labels,
                           const float *targets, int32_t n, int parts, mlp__loss_sums *s);

/* Whether a training step of n rows on m would split the first layer by
 * its inputs: then the number of parts, with cols[0..parts] their inputs'
 * cut (cols has room for MLP__CUT_MAX + 1), and the step reads the batch in
 * those column blocks when the caller gathers it so and sets m->x_blocks
 * to the number (mlp__dataset_gather_next): each thread then reads only
 * what it gathered. 0 otherwise. */
int mlp__split_input_blocks(const mlp_model *m, int32_t n, int32_t *cols);

/* After a split step that split the first layer by its inputs: how the
 * optimizer's step should cut the parameters between the threads (each
 * thread steps the gradients it wrote); NULL after any other step. */
const mlp__step_cut *mlp__split_cut(const mlp_model *m);

/* Free the split step's buffers (model destruction). */
void mlp__split_release(mlp_model *m);

/* ---- data-parallel training (dist.c) ----------------------------------- */

/* Values an agreement carries besides the failure flags. */
#define MLP__AGREE_VALS 8

/* The agreement every rank makes before exchanging gradients and at the end
 * of an epoch: this rank's status `local` and MLP__AGREE_VALS values `vals`
 * (summed across ranks in place; unused ones 0) go to every rank. Returns
 * `local` when it is not OK (its message kept), the status of the first
 * failing rank with a message naming it and `what` when another rank
 * failed (m->dist_remote set), or the status of the sum callback. */
mlp_status mlp__dist_agree(mlp_model *m, mlp_status local, const char *what,
                           double *vals);

/* A training step refused before its agreement (its arguments): on a
 * distributed model, report `st` in the agreement the other ranks make,
 * so that they stop too; returns `st` with its message. */
mlp_status mlp__dist_refuse(mlp_model *m, mlp_status st, const char *fn);

/* Plan the buckets of this step's gradients (allocates only when the layer
 * count grew). */
mlp_status mlp__dist_plan(mlp_model *m);

/* Start bucket b's sum (the next one in order). */
mlp_status mlp__dist_start(mlp_model *m, int32_t b);

/* Start the buckets not started yet, then wait for all of them. */
mlp_status mlp__dist_finish(mlp_model *m);

/* Broadcast rank 0's parameters and state. */
mlp_status mlp__dist_broadcast_model(mlp_model *m);

/* The start of one of mlp_model_fit's epochs on a distributed model: the
 * model's noise generator, the same on every rank (mlp__dist_start_fit
 * copies rank 0's), is kept as the ranks' common one, and the epoch's
 * dropout masks come from a generator seeded by its next draw and this
 * rank. mlp__dist_end_epoch puts the common generator back, one draw on,
 * so the generator a checkpoint holds after an epoch is every rank's and
 * a run resumed from it draws the unbroken run's masks. */
void mlp__dist_start_epoch(mlp_model *m);

/* A quantity every rank must hold the same value of: a size, a count or
 * an option whose difference would make the ranks' collectives differ. */
typedef struct mlp__dist_value {
    const char *what; /* "the training set's size": for the message */
    uint64_t value;
} mlp__dist_value;

/* A hash of the model's architecture: its input shape and, for every
 * layer, its kind, output shape, parameter and state counts and settings
 * (the bytes its record in model files holds). Not its parameters. */
uint64_t mlp__dist_arch_hash(const mlp_model *m);

/* A hash of the model's loss: its kind, Huber delta and class weights. */
uint64_t mlp__dist_loss_hash(const mlp_model *m);

/* The model's loss as mlp__dist_same compares it (the fit's start and the
 * training steps name it alike). */
mlp__dist_value mlp__dist_loss_value(const mlp_model *m);

/* Every rank found its loss alike (the fit's start or a training step
 * compared them): the steps compare them again only once this rank's loss
 * has changed. */
void mlp__dist_loss_agreed(mlp_model *m);

/* The most values one mlp__dist_same call checks. */
#define MLP__DIST_SAME_MAX 16

/* Check, with one sum, that every rank holds the same n (<=
 * MLP__DIST_SAME_MAX) values; each rank learns it alike. Returns
 * MLP_STATUS_INVALID_ARG naming the first value that differs (rank 0's and
 * this rank's), or the status of the sum callback. */
mlp_status mlp__dist_same(mlp_model *m, const mlp__dist_value *v, int n, const char *fn);

/* The start of mlp_model_fit on a distributed model: the agreement (this
 * rank's status `local`), then that every rank has the same optimizer rule
 * and the same n values `same` (sizes and options of the fit), then rank
 * 0's parameters, state and optimizer state (`opt`, checked by the caller
 * when `local` is OK) on every rank. */
mlp_status mlp__dist_start_fit(mlp_model *m, mlp_status local, mlp_optimizer *opt,
                               const mlp__dist_value *same, int n, const char *fn);

/* Agree (this rank's status `local`; `what` names the caller) and sum loss
 * sums of k outputs across ranks in place (evaluation, the epoch's figures). */
mlp_status mlp__dist_reduce_sums(mlp_model *m, mlp_status local, const char *what,
                                 mlp__loss_sums *acc, int32_t k);

/* The end of an epoch: agree, sum the epoch's loss sums (k outputs) and
 * average the running statistics across ranks. */
mlp_status mlp__dist_end_epoch(mlp_model *m, mlp__loss_sums *acc, int32_t k);

/* Free the hook's buffers (mlp_model_destroy). */
void mlp__dist_release(mlp_model *m);

#endif /* MLPNET_MODEL_IMPL_H */
