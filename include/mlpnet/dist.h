/**
 * @file
 * libmlpnet: data-parallel training through a gradient-reduction hook.
 *
 * libmlpnet itself knows no communication library. A program that trains
 * one model on P processes (ranks) gives every rank's model the same
 * mlp_dist_ops: its rank, the number of ranks and four collective
 * operations. The shipped implementation runs them on MPI (the separate
 * `mlpnet-mpi` library, `mlpnet/mpi.h`); any other collective library can
 * supply them the same way.
 *
 * **What a distributed model does.**
 *
 * - mlp_model_set_distributed() and mlp_model_fit() broadcast the
 *   parameters and the state (batch-norm running statistics) of rank 0 to
 *   every rank, so all ranks start from the same model. mlp_model_fit()
 *   also gives every rank rank 0's optimizer state: the step count, the
 *   hyper-parameters and schedule, and the per-parameter state (momentum
 *   velocities, Adam's moments). The optimizers of all ranks must have the
 *   same rule (else every rank returns MLP_STATUS_INVALID_ARG).
 * - mlp_model_fit() shuffles every epoch in the same order on all ranks
 *   (the order depends on `seed` and the epoch only) and cuts every global
 *   batch of `batch_size` samples into P shares: rank r takes samples
 *   [n r / P, n (r + 1) / P) of a batch of n, so the shares differ by one
 *   sample at most when n is not a multiple of P; a rank whose share is
 *   empty (n < P, at the end of an epoch) still takes part.
 * - A training step weights every rank's gradient by its share of the
 *   global batch's loss weight (its sample count, or its sum of class
 *   weights) and sums the gradients across ranks before the optimizer
 *   step. P ranks therefore train the same model as one process with batch
 *   `batch_size`, up to the order of floating-point summation, for models
 *   without batch norm or dropout. A share whose class weights sum to 0
 *   adds nothing; only a global batch whose weights sum to 0 is refused
 *   (MLP_STATUS_INVALID_ARG on every rank, as one process refuses it). The
 *   reported batch loss is that of the global batch, so `max_train_loss`
 *   stops every rank alike.
 * - Batch norm normalises with each rank's own batch statistics (as
 *   PyTorch's DDP without SyncBatchNorm); the running statistics are
 *   averaged across ranks after every epoch. Dropout masks differ per rank:
 *   mlp_model_fit() copies rank 0's noise generator (mlp_model_set_noise_seed())
 *   to every rank, and each epoch every rank draws its masks from a
 *   generator seeded by that common generator's next draw and the rank;
 *   at the end of the epoch every model holds the common generator again,
 *   one draw on. (mlp_model_train_step() by hand draws from each rank's
 *   own generator.)
 * - The epoch's training figures (mlp_epoch_stats) are summed over all
 *   ranks, so every rank reports the same figures, those of the whole
 *   epoch. Evaluation (mlp_model_evaluate(), mlp_model_evaluate_metrics()
 *   and the validation pass of mlp_model_fit()) is shared too: rank r
 *   evaluates rows [n r / P, n (r + 1) / P) of the dataset and the sums
 *   are added across ranks, so every rank returns the figures of the whole
 *   dataset. Predictions (mlp_model_predict() and the like) stay local.
 * - Gradients are reduced in buckets of about `bucket_floats` floats: a
 *   bucket's reduction is started as soon as the backward passes of its
 *   layers have finished, while the layers below it are still computing,
 *   and every bucket is completed before the optimizer step (as DDP's
 *   reducer). The time a rank spends waiting for them, and in each step's
 *   agreement (below), is reported per epoch in
 *   mlp_epoch_stats::comm_wait_seconds.
 * - A failure on one rank (bad data, a NaN loss, no memory) stops every
 *   rank: before each step's gradients are exchanged the ranks agree on
 *   whether any of them failed. The rank that failed returns its own
 *   status and message; the others return the same status with a message
 *   naming that rank. A failure after that agreement (in backward, or a
 *   gradient bucket's `reduce_start` or `reduce_wait` returning an error)
 *   is reported at the next agreement: the rank still starts and waits for
 *   every bucket of the step, so the ranks' collectives stay in step, and
 *   every rank stops there (the other ranks may have applied that step).
 *   A failing `broadcast` or `sum` is returned at once with the callback's
 *   message; the other ranks then rely on the collective library failing
 *   for them too (an MPI program ends the job: MPI_Abort, or mpirun's end
 *   of the job when a rank exits).
 * - The library never prints or writes files; a program writes and prints
 *   on rank 0 only.
 *
 * **Checkpoints.** Every rank holds the same model and optimizer, so rank 0
 * saves alone (mlp_model_save_with_optimizer()). To resume, rank 0 loads
 * the file (mlp_model_load_with_optimizer()); the other ranks may load it
 * too or build the same architecture with a new optimizer of the same
 * rule, since mlp_model_fit() copies rank 0's model and optimizer to them.
 * Then every rank calls mlp_model_fit() with `first_epoch` = k + 1 after k
 * epochs (the shuffled order depends on the epoch, not on P):
 * - on the same number of ranks, the resumed run is the unbroken run: the
 *   same shares, the same sums in the same order and the same dropout
 *   masks (the tests find the same bits, with SGD, momentum and Adam, and
 *   with batch norm and dropout: the last epoch averaged the running
 *   statistics and put the common noise generator back, so rank 0's file
 *   holds every rank's);
 * - on another number of ranks, or in one process without the hook, only
 *   who computes which sample changes, so the result is the unbroken run's
 *   up to the order of floating-point summation (the tests: 2 epochs of a
 *   small MLP, broken after the first on 2 ranks and resumed on 3 or in one
 *   process, every parameter within 1e-5 relative of the unbroken run).
 *
 * With batch norm or dropout the results depend on P, resumed or not (the
 * per-rank statistics and masks). With mlp_model_train_step() by hand no
 * optimizer state is copied: start every rank from the same optimizer (the
 * same checkpoint loaded on every rank, or new optimizers with the same
 * settings).
 *
 * All ranks must make the same calls in the same order (mlp_model_fit with
 * the same options, or the same number of mlp_model_train_step calls, and
 * the same evaluations): on a model with the hook, mlp_model_fit(), the
 * training steps and the evaluations are collective operations. With
 * mlp_model_train_step() the `correct` count is this rank's, the loss that
 * of the global batch; running statistics are averaged only by
 * mlp_model_fit().
 */
#ifndef MLPNET_DIST_H
#define MLPNET_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "mlpnet/export.h"
#include "mlpnet/model.h"
#include "mlpnet/status.h"

MLP_EXTERN_C_BEGIN

/**
 * The collective operations of one rank. Initialise it with
 * mlp_dist_ops_init() (it follows the rule of structs the caller allocates,
 * described at mlp_fit_options), then set every field.
 *
 * Every callback is collective: each rank calls it the same number of
 * times, in the same order, with the same `n`. Every callback returns
 * MLP_STATUS_OK or, on a failure of the communication itself, another
 * status (the library then returns that status at once, with the message
 * of `error_message` when it gives one that is not empty, else the
 * status's text; a value that is no mlp_status comes back as
 * MLP_STATUS_INTERNAL, the value named in the message); callbacks never
 * abort the process and never print. They run inside the model's steps
 * and collectives, so they must not call back into the model: a call that
 * would run or change it (forward, predict, evaluate, a step, a fit,
 * mlp_model_add(), mlp_model_set_loss(), mlp_model_set_distributed(), the
 * setters of parameters, state, class weights, class and feature names and
 * the noise seed, mlp_model_fit_standardize()) returns MLP_STATUS_BAD_STATE there and
 * does nothing.
 */
typedef struct mlp_dist_ops {
    size_t struct_size; /**< size of the caller's struct; set by mlp_dist_ops_init */
    void *user;         /**< passed to every callback (borrowed: must outlive the
                             model's use of the hook); default NULL */
    int32_t rank;       /**< this process's rank, 0..size-1; default 0 */
    int32_t size;       /**< number of ranks, 1..131072 (2^17, the most for
                             which the ranks' agreement is exact in doubles);
                             default 1 */
    /** Gradients are reduced in buckets of at least this many floats (the
     *  last bucket, holding the first layers, may be smaller); a layer is
     *  never split between buckets. Default 6553600 (25 MiB, as DDP). */
    int64_t bucket_floats;

    /**
     * Broadcast: on return every rank's `data[0..n)` holds rank 0's values.
     * Blocking. Used for the parameters and the state at the start.
     */
    mlp_status (*broadcast)(void *user, float *data, int64_t n);

    /**
     * Start an in-place sum across ranks of `data[0..n)` and return without
     * waiting for it. `bucket` is 0..n_buckets-1, the bucket's number in the
     * step; the buckets of a step are started in increasing order, each
     * once, and `n_buckets` is the same for every bucket of a step (an
     * implementation can size its request handles with it). The library
     * neither reads nor writes `data` until the bucket's wait returns. An
     * implementation may also do the whole sum here and make the wait a
     * no-op.
     */
    mlp_status (*reduce_start)(void *user, int32_t bucket, int32_t n_buckets, float *data,
                               int64_t n);

    /**
     * Complete the sum started for `bucket`: on return `data` holds the
     * sum of every rank's values, the same bits on every rank. The library
     * waits for every bucket it started, in the order it started them,
     * before the optimizer step, also when the step failed after starting
     * them, and also for a bucket whose `reduce_start` failed: that wait
     * completes what the start began, if anything, and otherwise returns
     * at once (the library reports the start's failure, whatever the wait
     * returns; the shipped MPI hook returns MLP_STATUS_OK without calling
     * MPI).
     */
    mlp_status (*reduce_wait)(void *user, int32_t bucket);

    /**
     * Blocking in-place sum across ranks of `data[0..n)` doubles, the same
     * bits on every rank (sum in rank order, or any order the same on all
     * ranks). Used for the agreement before every step (failure flags, the
     * global loss weight and loss), the epoch's figures and the running
     * statistics.
     */
    mlp_status (*sum)(void *user, double *data, int64_t n);

    /**
     * Optional (may be NULL): a text describing the last failure of a
     * callback, borrowed until the next callback; the library copies it
     * into its message.
     */
    const char *(*error_message)(void *user);
} mlp_dist_ops;

/**
 * Fill the first `struct_size` bytes of `ops` with the defaults (rank 0 of
 * 1, no callbacks) and set `ops->struct_size`. Call it through the
 * mlp_dist_ops_init() macro.
 * @param ops          the caller's struct (borrowed for the call)
 * @param struct_size  sizeof(mlp_dist_ops) as the caller's header declares it
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, or a size no
 *         release had; nothing is written then)
 */
MLP_API mlp_status mlp_dist_ops_init_size(mlp_dist_ops *ops, size_t struct_size);

/**
 * Fill `ops` with the defaults: mlp_dist_ops_init_size(ops,
 * sizeof(mlp_dist_ops)).
 * @param ops  pointer to the caller's mlp_dist_ops
 * @return the status of mlp_dist_ops_init_size()
 */
#define mlp_dist_ops_init(ops) mlp_dist_ops_init_size((ops), sizeof(mlp_dist_ops))

/**
 * Make the model train data-parallel through `ops`, or, with `ops` NULL,
 * alone again. With a hook set, this call is collective: it broadcasts the
 * parameters and the state of rank 0 to every rank. Afterwards
 * mlp_model_train_step() and mlp_model_train_step_targets() take this
 * rank's share of a global batch (every rank calls them once per global
 * batch) and mlp_model_fit() shares its batches itself (see the top of
 * this header).
 *
 * The ranks first check that their models have the same layer, parameter
 * and state counts and the same architecture (one sum), so that differing
 * models stop every rank instead of leaving one waiting or training
 * different models: the architecture is compared through a 64-bit hash of
 * the input shape and of every layer's kind, output shape, counts and
 * settings (those its record in model files holds, such as a leaky ReLU's
 * slope or a dropout rate), not of the parameters, which rank 0's replace.
 * mlp_model_fit() checks the same again (the model may have changed since)
 * with its loss (kind, Huber delta and class weights, hashed), sizes and
 * options (the training and validation sets' sizes and sample sizes, batch
 * sizes, epochs, first epoch, seed and optimizer rule). A step by hand
 * (mlp_model_train_step(), mlp_model_train_step_targets()) compares the
 * losses as the fit does, with one more sum, in the first step after the
 * hook was set and in the first step after a rank's loss changed
 * (mlp_model_set_loss(), mlp_model_set_class_weights()) since the ranks
 * last found them alike (in a step or at a fit's start): ranks whose
 * losses differ return MLP_STATUS_INVALID_ARG from that step, every rank,
 * with the fit's message, and the step changes nothing.
 * @param model  the model (borrowed for the call)
 * @param ops    the hook (copied; `ops->user` borrowed until the model is
 *               destroyed or the hook replaced), or NULL to remove it
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL model, a struct_size
 *         no release had, a size outside 1..131072 (2^17) or a rank outside
 *         0..size-1, a missing callback, a negative bucket_floats: the
 *         model keeps the hook it had, if any; or, on every rank, models
 *         whose counts or architectures differ between the ranks: the
 *         message names the count, or "the layers' kinds, shapes or
 *         settings"), MLP_STATUS_NO_MEMORY (the model keeps the hook it
 *         had), MLP_STATUS_BAD_STATE (called while mlp_model_fit() trains
 *         the model, from one of its callbacks, or from one of the hook's
 *         own callbacks: nothing changes) or the status of a callback
 *         (MLP_STATUS_INTERNAL for a value that is no status). When the
 *         ranks' check or the broadcast fails (models that differ, a
 *         callback's failure) the model has no hook afterwards.
 */
MLP_API mlp_status mlp_model_set_distributed(mlp_model *model, const mlp_dist_ops *ops);

MLP_EXTERN_C_END

#endif /* MLPNET_DIST_H */
