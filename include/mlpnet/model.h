/**
 * @file
 * libmlpnet: sequential models, training and evaluation.
 *
 * A model is a stack of layers applied in order to samples of a fixed
 * per-sample input shape. It owns its layers, one contiguous buffer of all
 * parameters and one of their gradients, and the activation buffers of a
 * batch. Those buffers grow to the largest batch seen and are then reused:
 * a training loop at a fixed batch size allocates nothing after its first
 * step.
 *
 * A model is not thread-safe: use one model from one thread at a time.
 */
#ifndef MLPNET_MODEL_H
#define MLPNET_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "mlpnet/data.h"
#include "mlpnet/export.h"
#include "mlpnet/layer.h"
#include "mlpnet/loss.h"
#include "mlpnet/optim.h"
#include "mlpnet/status.h"
#include "mlpnet/tensor.h"

MLP_EXTERN_C_BEGIN

/** Opaque sequential model. */
typedef struct mlp_model mlp_model;

/** Whether a forward pass is part of training or of inference. */
typedef enum mlp_mode {
    MLP_MODE_TRAIN = 1, /**< batch statistics, dropout on; keeps what backward needs */
    MLP_MODE_EVAL = 2   /**< inference: running statistics, no dropout; backward is
                             refused afterwards */
} mlp_mode;

/**
 * Create an empty model.
 * @param out         new model, NULL on failure (owned: mlp_model_destroy)
 * @param rank        per-sample input rank, 1..3 (e.g. 1 for [784], 3 for
 *                    [1,28,28])
 * @param input_dims  per-sample input extents, each >= 1 (copied)
 * @param seed        seed of the model's generators: one initialises the
 *                    weights of every layer added, another (a separate
 *                    stream) draws dropout masks
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_create(mlp_model **out, int rank, const int32_t *input_dims,
                                    uint64_t seed);

/**
 * Free a model and every layer it owns. NULL is a no-op. An optimizer made
 * for it may be destroyed before or after it, but not used in between.
 * @param model  the model (consumed: freed here with its layers); may be NULL
 */
MLP_API void mlp_model_destroy(mlp_model *model);

/**
 * Append a layer. Its input shape is the output shape of the layer before
 * (or the model's input shape); its parameters are allocated and
 * initialised from the model's generator.
 * @param model  the model (borrowed for the call)
 * @param layer  the layer (consumed: owned by the model from now on, even
 *               when the call fails, in which case it is freed; except a
 *               layer already in a model, which stays its model's)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, a layer already in a
 *         model: nothing changes), MLP_STATUS_SHAPE_MISMATCH (the layer cannot take that
 *         input; the message names both shapes), MLP_STATUS_BAD_STATE
 *         (called while mlp_model_fit() trains the model, from one of its
 *         callbacks, or from a data-parallel hook's callback: see
 *         mlp_dist_ops) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_add(mlp_model *model, mlp_layer *layer);

/**
 * Reseed the generator of random masks (dropout) without touching the
 * weights. Forward passes in training mode draw from it in order, so the
 * same seed gives the same masks. On a distributed model, mlp_model_fit()
 * uses rank 0's generator on every rank (see dist.h).
 * @param model  the model (borrowed for the call)
 * @param seed   new seed of the mask generator
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_BAD_STATE
 *         (called from a data-parallel hook's callback, dist.h)
 */
MLP_API mlp_status mlp_model_set_noise_seed(mlp_model *model, uint64_t seed);

/**
 * Number of layers (0 for NULL).
 * @param model  the model (borrowed for the call); may be NULL
 * @return the number of layers, or 0 when `model` is NULL
 */
MLP_API int mlp_model_layer_count(const mlp_model *model);

/**
 * Layer i, 0-based (borrowed: owned by the model), or NULL out of range.
 * @param model  the model (borrowed for the call); may be NULL
 * @param i      layer index, 0..layers-1
 * @return the layer (borrowed: owned by the model, valid until it is
 *         destroyed), or NULL when `model` is NULL or i is out of range
 */
MLP_API mlp_layer *mlp_model_layer(mlp_model *model, int i);

/**
 * Per-sample output shape of layer i, or of the whole model when i is -1
 * (the input shape for a model without layers).
 * @param model  the model (borrowed for the call)
 * @param i      layer index, 0..layers-1, or -1 for the whole model
 * @param rank   receives 1..3
 * @param dims   receives `rank` extents, the rest of its MLP_MAX_RANK
 *               entries 0 (caller's array, borrowed for the call)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG
 */
MLP_API mlp_status mlp_model_output_shape(const mlp_model *model, int i, int *rank,
                                          int32_t *dims);

/**
 * Total number of trainable parameters (0 for NULL).
 * @param model  the model (borrowed for the call); may be NULL
 * @return the number of parameters, or 0 when `model` is NULL
 */
MLP_API int64_t mlp_model_param_count(const mlp_model *model);

/**
 * Copy all parameters out, layer after layer, in the layout of
 * mlp_layer_params.
 * @param model  the model (borrowed for the call)
 * @param dst    n floats (caller's buffer, borrowed for the call); n must
 *               equal mlp_model_param_count
 * @param n      number of floats in `dst`
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL) or
 *         MLP_STATUS_SHAPE_MISMATCH (n differs from the parameter count)
 */
MLP_API mlp_status mlp_model_get_params(const mlp_model *model, float *dst, int64_t n);

/**
 * Copy all parameters in (src copied); the inverse of mlp_model_get_params.
 * The values are checked before any is copied: a refused call leaves the
 * model unchanged.
 * @param model  the model (borrowed for the call)
 * @param src    n floats in the layout of mlp_model_get_params (copied);
 *               every one finite
 * @param n      must equal mlp_model_param_count
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL), MLP_STATUS_BAD_STATE
 *         (called from a data-parallel hook's callback, dist.h),
 *         MLP_STATUS_SHAPE_MISMATCH (n differs from the parameter count) or
 *         MLP_STATUS_NUMERIC (a NaN or an infinity in `src`, which a model
 *         neither saves nor loads: the message names its index in `src`,
 *         the layer, its kind and the index in the layer's slice)
 */
MLP_API mlp_status mlp_model_set_params(mlp_model *model, const float *src, int64_t n);

/**
 * Total number of non-trainable state values (batch-norm running
 * statistics), layer after layer (0 for NULL).
 * @param model  the model (borrowed for the call); may be NULL
 * @return the number of state values, or 0 when `model` is NULL
 */
MLP_API int64_t mlp_model_state_count(const mlp_model *model);

/**
 * Copy all state values out, layer after layer, in the layout of
 * mlp_layer_state. With mlp_model_get_params this captures everything
 * inference needs (for example the model of the best epoch).
 * @param model  the model (borrowed for the call)
 * @param dst    n floats (caller's buffer, borrowed for the call); n must
 *               equal mlp_model_state_count
 * @param n      number of floats in `dst`
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL) or
 *         MLP_STATUS_SHAPE_MISMATCH (n differs from the state count)
 */
MLP_API mlp_status mlp_model_get_state(const mlp_model *model, float *dst, int64_t n);

/**
 * Copy all state values in (src copied); the inverse of mlp_model_get_state.
 * The values are checked before any is copied: a refused call leaves the
 * model unchanged.
 * @param model  the model (borrowed for the call)
 * @param src    n floats in the layout of mlp_model_get_state (copied);
 *               every one finite and one its layer can hold (batch norm:
 *               running variances >= 0; standardize: scales > 0)
 * @param n      must equal mlp_model_state_count
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, or a value its layer
 *         never holds, such as a negative running variance),
 *         MLP_STATUS_BAD_STATE (called from a data-parallel hook's callback,
 *         dist.h), MLP_STATUS_SHAPE_MISMATCH (n differs from the state count) or
 *         MLP_STATUS_NUMERIC (a NaN or an infinity in `src`); a model
 *         neither saves nor loads such values, and the message names the
 *         index in `src`, the layer, its kind and the index in the layer's
 *         slice
 */
MLP_API mlp_status mlp_model_set_state(mlp_model *model, const float *src, int64_t n);

/**
 * Forward pass of a batch.
 * @param model  the model (borrowed for the call)
 * @param x      input [N, input dims...] or [N, product of input dims]
 *               (borrowed for the call)
 * @param mode   MLP_MODE_TRAIN to allow mlp_model_backward afterwards
 * @param y      receives the output [N, output dims...] (borrowed: owned by the
 *               model, valid until its next forward pass; mlp_model_add(),
 *               or a run on a batch larger than any before, which makes the
 *               model's buffers anew, leave it empty: no elements); may be
 *               NULL
 * Either mode takes x as it is, NaN and infinities included (in training
 * mode they reach the batch-norm statistics; mlp_model_train_step() and
 * mlp_model_train_step_targets() refuse them).
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_SHAPE_MISMATCH,
 *         MLP_STATUS_BAD_STATE (a model without layers; called from a
 *         data-parallel hook's callback) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_forward(mlp_model *model, const mlp_tensor *x, mlp_mode mode,
                                     const mlp_tensor **y);

/**
 * Backward pass: from the gradient of a loss with respect to the output of
 * the last forward pass, compute every parameter gradient (overwriting the
 * previous ones) and, on request, the gradient with respect to the input.
 * @param model  the model (borrowed for the call)
 * @param dy     gradient, the shape of the forward output (borrowed for the call)
 * @param dx     receives the input gradient (borrowed: valid until the next
 *               backward pass, and emptied as `y` of mlp_model_forward() is),
 *               or NULL when not needed (saves work)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_SHAPE_MISMATCH,
 *         MLP_STATUS_BAD_STATE (no training-mode forward pass before, or a
 *         training step since: mlp_model_train_step() and
 *         mlp_model_fit() leave no forward pass to go back through)
 */
MLP_API mlp_status mlp_model_backward(mlp_model *model, const mlp_tensor *dy,
                                      const mlp_tensor **dx);

/**
 * One training step on a batch against class labels: forward in training
 * mode, the model's loss on the output (softmax cross-entropy unless
 * mlp_model_set_loss() chose another loss that takes labels), backward, and
 * an optimizer step. A model whose loss takes float targets trains with
 * mlp_model_train_step_targets().
 * @param model    the model (borrowed for the call)
 * @param opt      optimizer created for this model (borrowed for the call)
 * @param x        input batch (borrowed for the call)
 * @param labels   one label per sample, 0..K-1 (borrowed for the call)
 * @param loss     receives the batch's mean loss; may be NULL
 * @param correct  receives the number of correct predictions; may be NULL
 * @return MLP_STATUS_OK, the statuses of forward and backward,
 *         MLP_STATUS_INVALID_ARG (label out of range, optimizer of another
 *         model, a loss that takes float targets; on a model with a
 *         data-parallel hook, ranks whose losses differ, as
 *         mlp_model_set_distributed() says), MLP_STATUS_BAD_STATE (a
 *         model without layers; a layer was added to the model after the
 *         optimizer was created; called from a data-parallel hook's
 *         callback: nothing runs) or MLP_STATUS_NUMERIC (a NaN or infinity in x, a
 *         loss that is NaN or infinite, or an optimizer step whose size is
 *         beyond the floats, as mlp_optimizer_step() says, with that call's
 *         message). A step that fails leaves the
 *         model as it was: parameters, batch-norm statistics and the
 *         dropout masks later steps draw
 */
MLP_API mlp_status mlp_model_train_step(mlp_model *model, mlp_optimizer *opt,
                                        const mlp_tensor *x, const int32_t *labels,
                                        double *loss, int32_t *correct);

/**
 * Mean loss ("error", the model's loss) and accuracy of the model on a
 * whole dataset, in inference mode. For a model that regresses, the
 * accuracy is NaN: mlp_model_evaluate_metrics() gives its metrics.
 * @param model       the model (borrowed for the call)
 * @param ds          dataset whose images match the model's input size
 *                    (borrowed for the call)
 * @param batch_size  images per forward pass, >= 1 (larger is faster; the
 *                    model's buffers grow to it)
 * @param error       receives the mean loss; may be NULL
 * @param accuracy    receives the fraction classified correctly; may be NULL
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, batch size, a set
 *         without targets, read with ::MLP_CSV_FEATURES_ONLY, or with class
 *         labels for a loss that takes float targets or the other way
 *         round; class
 *         weights whose sum over the set's labels is 0, a target outside
 *         [0, 1] for ::MLP_LOSS_BCE_LOGITS: the message names the set's
 *         sample; a class of the set that has the name of another class of
 *         the model, as a CSV file read without the model's class names and
 *         lacking one of them gives: the message names both ids; names that
 *         differ without one moving, and unnamed classes, are not refused;
 *         feature names other than the model's, as a table with its columns
 *         in another order gives: the message names the feature, and a set
 *         or a model without feature names is not refused),
 *         MLP_STATUS_SHAPE_MISMATCH (sample size or class count does not
 *         fit the model, or samples of the input's size in another
 *         arrangement, 3x2 for a 2x3 input; flat rows fit any input, and
 *         any samples of its size fit a flat input; class names or class
 *         weights of another count than the model's outputs, set before its
 *         last layer was added), MLP_STATUS_NUMERIC (a loss that is not
 *         finite: the message names the set's sample and value that hold a
 *         NaN or an infinity, which a borrowed dataset holds when its values
 *         changed after its creation, else the first layer with a bad
 *         parameter or state value), MLP_STATUS_BAD_STATE (a model without
 *         layers; called from a data-parallel hook's callback) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_evaluate(mlp_model *model, const mlp_dataset *ds,
                                      int32_t batch_size, double *error,
                                      double *accuracy);

/**
 * Class probabilities for a batch, in inference mode: the softmax of the
 * output for a model trained with softmax cross-entropy (K >= 2 outputs),
 * the sigmoid of every output for one trained with ::MLP_LOSS_BCE_LOGITS.
 * A model that regresses has no probabilities: it gets
 * MLP_STATUS_BAD_STATE (use mlp_model_predict_raw()).
 * @param model  the model (borrowed for the call)
 * @param x      input batch [N, ...] (borrowed for the call)
 * @param probs  receives [N, K] probabilities (caller's tensor, rank 2,
 *               borrowed for the call)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_SHAPE_MISMATCH,
 *         MLP_STATUS_BAD_STATE (a model without layers; the model
 *         regresses, or is a softmax classifier with a single output, whose
 *         probability is always 1; called from a data-parallel hook's
 *         callback),
 *         MLP_STATUS_NUMERIC (a NaN or an infinity in x: the message names
 *         the sample and the value; or an output that is not finite, as a
 *         finite input far outside the training data's can give: the
 *         message names the row; `probs` is then left as it was) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_predict(mlp_model *model, const mlp_tensor *x,
                                     mlp_tensor *probs);

/**
 * Text summary: one line per layer with kind, output shape and parameter
 * count, then the total. Always NUL-terminated when cap > 0 (truncated if
 * needed).
 * @param model  the model (borrowed for the call)
 * @param buf    caller's buffer of `cap` bytes (borrowed for the call); may be
 *               NULL when cap is 0
 * @param cap    size of `buf` in bytes
 * @param len    receives the full length without the NUL (to size a buffer);
 *               may be NULL
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG
 */
MLP_API mlp_status mlp_model_summary(const mlp_model *model, char *buf, size_t cap,
                                     size_t *len);

/* ---------------------------------------------------------------------- */
/* What the model is trained for: its loss, metrics and predictions        */

/** What a model's loss makes of it (mlp_model_task()). */
typedef enum mlp_task {
    /** Softmax cross-entropy or binary cross-entropy: it has class
     *  probabilities and an accuracy. */
    MLP_TASK_CLASSIFY = 1,
    /** MSE, Huber or MAE: it predicts values, judged by MSE, RMSE, MAE and
     *  R^2. */
    MLP_TASK_REGRESS = 2
} mlp_task;

/** What mlp_model_predict_one() returns. */
typedef enum mlp_output {
    MLP_OUTPUT_RAW = 0,          /**< the model's outputs as they are */
    MLP_OUTPUT_PROBABILITIES = 1 /**< class probabilities (classifiers only) */
} mlp_output;

/**
 * Choose the loss the model trains with and is evaluated by. A new model
 * uses ::MLP_LOSS_SOFTMAX_XENT. The loss is saved in the model file, so a
 * loaded model knows its task. It may be changed at any time but during
 * mlp_model_fit() (from one of its callbacks); an optimizer keeps working.
 * @param model  the model (borrowed for the call)
 * @param kind   the loss
 * @param param  ::MLP_LOSS_HUBER: delta from FLT_MIN, 2^-126 =
 *               1.17549435e-38, to below 3.4e38: a normal float, as it is
 *               kept (a subnormal delta is 0 once mlp_set_flush_denormals
 *               is on); or 0 for 1.0; other kinds: 0
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL model, unknown
 *         kind, bad param, or class weights set and a loss other than
 *         softmax cross-entropy; the loss is then unchanged) or
 *         MLP_STATUS_BAD_STATE (called while mlp_model_fit() trains the
 *         model, from one of its callbacks, or from a data-parallel hook's
 *         callback)
 */
MLP_API mlp_status mlp_model_set_loss(mlp_model *model, mlp_loss_kind kind, double param);

/**
 * The model's loss.
 * @param model  the model (borrowed for the call); NULL gives 0
 * @param param  receives the Huber delta, or 0 for the other kinds; may be
 *               NULL
 * @return the loss kind, or 0 when `model` is NULL
 */
MLP_API mlp_loss_kind mlp_model_get_loss(const mlp_model *model, double *param);

/**
 * Whether the model classifies or regresses, from its loss.
 * @param model  the model (borrowed for the call)
 * @return ::MLP_TASK_CLASSIFY, ::MLP_TASK_REGRESS, or 0 when `model` is NULL
 */
MLP_API mlp_task mlp_model_task(const mlp_model *model);

/**
 * Weight the classes of the softmax cross-entropy: the loss becomes
 * sum_n w[y_n] l_n / sum_n w[y_n] (a weighted mean, as PyTorch's
 * `CrossEntropyLoss(weight=...)`). Training batches and evaluation both use
 * them; accuracy counts every sample alike. They are saved in the model
 * file.
 * @param model    the model (borrowed for the call)
 * @param weights  k finite weights >= 0 (copied); NULL (with k = 0) removes
 *                 the weights. A training batch (on a distributed model,
 *                 each global batch: a rank's share may hold only labels
 *                 of weight 0) whose labels' weights sum to 0 stops the
 *                 step with MLP_STATUS_INVALID_ARG, as does an evaluated set
 *                 whose do; an evaluation batch of weight 0 adds nothing
 * @param k        the number of weights: the model's output count
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL model, weights of
 *         another count, a negative or non-finite weight, a loss other than
 *         softmax cross-entropy), MLP_STATUS_BAD_STATE (during mlp_model_fit(),
 *         from its callbacks, or from a data-parallel hook's callback: the
 *         loss stays as it is) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_set_class_weights(mlp_model *model, const float *weights,
                                               int32_t k);

/**
 * Set the model's first layer, a standardisation layer
 * (mlp_layer_create_standardize()), from data: its mean and scale become
 * the mean and the population standard deviation of every input feature
 * over `ds` (a constant feature gets scale 1). Call it once, on the
 * training set, before training; the values are saved with the model. A
 * model without feature names takes the set's (mlp_dataset_feature_name()),
 * since the statistics belong to its columns, as mlp_model_fit() would.
 * @param model  the model (borrowed for the call)
 * @param ds     the data, whose samples fit the model's input (borrowed for
 *               the call)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, feature names other
 *         than the model's, as for mlp_model_evaluate()),
 *         MLP_STATUS_BAD_STATE (the first layer is not a standardisation
 *         layer, or called from a data-parallel hook's callback),
 *         MLP_STATUS_SHAPE_MISMATCH (samples of another size),
 *         MLP_STATUS_NUMERIC (a NaN or an infinity in the data, which a
 *         borrowed dataset's values can hold when changed after its
 *         creation: the message names the sample and the value) or
 *         MLP_STATUS_NO_MEMORY; on failure the layer is unchanged
 */
MLP_API mlp_status mlp_model_fit_standardize(mlp_model *model, const mlp_dataset *ds);

/**
 * Name the model's classes (for example the label map of a dataset or the
 * string labels of a CSV file), so that predictions can print them. They
 * are saved in the model file.
 * @param model  the model (borrowed for the call)
 * @param names  k strings (copied) under the rule of MLP_CLASS_NAME_MAX
 *               (mlpnet/data.h), that of datasets: 1..255 bytes of valid
 *               UTF-8 without control characters (C0, DEL, C1), no two
 *               equal; NULL (with k = 0) removes the names
 * @param k      the number of names: the model's output count (checked when
 *               the model has layers)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL model or name, a count
 *         that is not the output count, an empty, overlong, invalid UTF-8
 *         or control character name, a name given twice: the message names
 *         the index), MLP_STATUS_BAD_STATE (called from a data-parallel
 *         hook's callback) or MLP_STATUS_NO_MEMORY (the old names are kept)
 */
MLP_API mlp_status mlp_model_set_class_names(mlp_model *model, const char *const *names,
                                             int32_t k);

/**
 * The name of class i.
 * @param model  the model (borrowed for the call)
 * @param i      class index, 0..mlp_model_class_count()-1
 * @return the name (owned by the model, valid until the names change or the
 *         model is destroyed), or NULL without names or for i out of range
 */
MLP_API const char *mlp_model_class_name(const mlp_model *model, int32_t i);

/**
 * How many class names the model has.
 * @param model  the model (borrowed for the call); NULL gives 0
 * @return the count, 0 without names
 */
MLP_API int32_t mlp_model_class_count(const mlp_model *model);

/**
 * Name the model's input features, the values of a sample in row-major
 * order (a table's columns), or remove the names. They are saved in the
 * model file and exported to ONNX. A model that has them refuses data
 * whose features are named otherwise (mlp_model_fit(),
 * mlp_model_evaluate()): a table read with its columns in another order
 * would otherwise be scored as if they were the model's. mlp_model_fit()
 * gives a model without names the training set's (mlp_dataset_feature_name()).
 * Added in 0.5.0.
 * @param model  the model (borrowed for the call)
 * @param names  f names (copied), every one set and following the rule of
 *               MLP_CLASS_NAME_MAX (mlpnet/data.h): 1..255 bytes of valid
 *               UTF-8 without control characters, no two equal; NULL (with
 *               f = 0) removes the names
 * @param f      the number of names: the model's input size (the product
 *               of its input shape)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL model, `names` NULL
 *         with f > 0, a count that is not the input size, a NULL, empty,
 *         overlong, invalid or repeated name: the message names its index),
 *         MLP_STATUS_BAD_STATE (called from a data-parallel hook's
 *         callback) or MLP_STATUS_NO_MEMORY (the old names are kept)
 */
MLP_API mlp_status mlp_model_set_feature_names(mlp_model *model, const char *const *names,
                                               int32_t f);

/**
 * The name of input feature j.
 * Added in 0.5.0.
 * @param model  the model (borrowed for the call); may be NULL
 * @param j      feature index, 0..mlp_model_feature_count()-1
 * @return the name (owned by the model, valid until the names change or the
 *         model is destroyed), or NULL without names or for j out of range
 */
MLP_API const char *mlp_model_feature_name(const mlp_model *model, int32_t j);

/**
 * How many feature names the model has: its input size, or 0 without names.
 * Added in 0.5.0.
 * @param model  the model (borrowed for the call); NULL gives 0
 * @return the count
 */
MLP_API int32_t mlp_model_feature_count(const mlp_model *model);

/**
 * One training step on a batch against float targets, for a model whose
 * loss takes them (MSE, BCE on logits, Huber, MAE): forward in training
 * mode, the loss, backward, and an optimizer step.
 * @param model    the model (borrowed for the call)
 * @param opt      optimizer created for this model (borrowed for the call)
 * @param x        input batch [N, ...] (borrowed for the call)
 * @param targets  [N, K] targets, K the model's outputs ([N] when K is 1)
 *                 (borrowed for the call)
 * @param loss     receives the batch's mean loss; may be NULL
 * @return MLP_STATUS_OK, the statuses of forward and backward,
 *         MLP_STATUS_INVALID_ARG (NULL, optimizer of another model, a loss
 *         that takes labels, a BCE target outside [0, 1], targets that are
 *         the model's own output from mlp_model_forward(), which the step
 *         overwrites; on a model with a data-parallel hook, ranks whose
 *         losses differ, as for mlp_model_train_step()),
 *         MLP_STATUS_BAD_STATE (a model without layers; a layer was added
 *         to the model after the optimizer was created; called from a
 *         data-parallel hook's callback: nothing runs),
 *         MLP_STATUS_SHAPE_MISMATCH (targets of another shape) or
 *         MLP_STATUS_NUMERIC (a NaN or infinity in x or the targets, or a
 *         loss that is NaN or infinite, as for an output and its target
 *         farther apart than a float holds, or an optimizer step whose size
 *         is beyond the floats, as for mlp_model_train_step()). A step that
 *         fails leaves the model
 *         as it was, as mlp_model_train_step()'s
 */
MLP_API mlp_status mlp_model_train_step_targets(mlp_model *model, mlp_optimizer *opt,
                                                const mlp_tensor *x,
                                                const mlp_tensor *targets, double *loss);

/**
 * A model's figures on a dataset (mlp_model_evaluate_metrics()). The library
 * fills it; fields are only appended (see mlp_fit_options for the rule).
 * Figures that do not apply to the model's task are NaN.
 */
typedef struct mlp_metrics {
    size_t struct_size; /**< bytes the library wrote (the caller's size) */
    int64_t count;      /**< samples evaluated */
    double loss;        /**< mean of the model's loss */
    double accuracy;    /**< classifiers: the share right (for BCE, of all outputs:
                             an output is right when logit > 0 matches target
                             >= 0.5); NaN for regression */
    double mse;         /**< float targets: mean over samples and outputs of
                             (prediction - target)^2 (for BCE the prediction is
                             the probability); NaN for softmax classifiers */
    double rmse;        /**< the square root of mse */
    double mae;         /**< mean absolute error, as mse */
    double r2;          /**< coefficient of determination, 1 - SSE/SST per output,
                             averaged over outputs (scikit-learn's default); an
                             output whose targets are all equal counts 1 if
                             predicted exactly and 0 otherwise, as does one
                             whose targets are so nearly equal that SST is
                             lost in rounding (a standard deviation below
                             about 2e-8 sqrt(count) of their root mean
                             square) */
} mlp_metrics;

/**
 * Evaluate the model on a whole dataset, in inference mode, with the
 * metrics of its task. Call it through the mlp_model_evaluate_metrics()
 * macro, which passes the size of the caller's mlp_metrics.
 * @param model       the model (borrowed for the call)
 * @param ds          dataset whose samples fit the model (borrowed for the
 *                    call)
 * @param batch_size  samples per forward pass, >= 1
 * @param out         receives the figures (caller's struct, borrowed for the
 *                    call; `out_size` bytes are written)
 * @param out_size    sizeof(mlp_metrics) of the caller's header
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, batch size, an
 *         out_size no release had, a set without targets, class weights
 *         whose sum over the set's labels is 0, a bce_logits target outside
 *         [0, 1], a class named as another of the model's, feature names
 *         other than the model's, as mlp_model_evaluate()),
 *         MLP_STATUS_SHAPE_MISMATCH (data do not fit
 *         the model, as mlp_model_evaluate()), MLP_STATUS_NUMERIC (as
 *         mlp_model_evaluate()) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_evaluate_metrics_size(mlp_model *model,
                                                   const mlp_dataset *ds,
                                                   int32_t batch_size, mlp_metrics *out,
                                                   size_t out_size);

/**
 * Evaluate with metrics: mlp_model_evaluate_metrics_size() with the size of
 * the caller's mlp_metrics.
 * @param model       the model
 * @param ds          the dataset
 * @param batch_size  samples per forward pass
 * @param out         pointer to the caller's mlp_metrics
 * @return the status of mlp_model_evaluate_metrics_size()
 */
#define mlp_model_evaluate_metrics(model, ds, batch_size, out)                           \
    mlp_model_evaluate_metrics_size((model), (ds), (batch_size), (out),                  \
                                    sizeof(mlp_metrics))

/**
 * The model's raw outputs for a batch, in inference mode, for any model
 * (the logits of a classifier, the values of a regression).
 * @param model  the model (borrowed for the call)
 * @param x      input batch [N, ...] (borrowed for the call)
 * @param out    receives [N, K] (caller's tensor, borrowed for the call)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_SHAPE_MISMATCH,
 *         MLP_STATUS_BAD_STATE (no layers), MLP_STATUS_NUMERIC (a NaN or an
 *         infinity in x, or an output that is not finite, as for
 *         mlp_model_predict()) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_predict_raw(mlp_model *model, const mlp_tensor *x,
                                         mlp_tensor *out);

/**
 * Predict one sample from a plain array, without building tensors.
 * @param model       the model (borrowed for the call)
 * @param sample      the sample's values in the model's input layout
 *                    (borrowed for the call)
 * @param sample_len  their count: the model's input size
 * @param what        ::MLP_OUTPUT_RAW, or ::MLP_OUTPUT_PROBABILITIES for a
 *                    classifier (as mlp_model_predict())
 * @param out         receives the K outputs (caller's array, borrowed)
 * @param out_len     its length: K, the model's output count
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_SHAPE_MISMATCH
 *         (a length that is not the model's), MLP_STATUS_BAD_STATE (no
 *         layers; probabilities of a model that regresses or of a softmax
 *         classifier with a single output),
 *         MLP_STATUS_NUMERIC (a NaN or an infinity in the sample, or an
 *         output that is not finite, as for mlp_model_predict()) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_predict_one(mlp_model *model, const float *sample,
                                         int64_t sample_len, mlp_output what, float *out,
                                         int64_t out_len);

/**
 * The per-sample input shape the model takes (also of a loaded model).
 * @param model  the model (borrowed for the call)
 * @param rank   receives 1..3
 * @param dims   receives `rank` extents, the rest of its MLP_MAX_RANK
 *               entries 0 (caller's array, borrowed for the call)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG
 */
MLP_API mlp_status mlp_model_input_shape(const mlp_model *model, int *rank,
                                         int32_t *dims);

/* ---------------------------------------------------------------------- */
/* Training driver                                                         */

/** What one epoch of mlp_model_fit measured. Filled by the library and
 *  passed to the mlp_epoch_fn callback; fields are only appended (see
 *  mlp_fit_options for the rule). */
typedef struct mlp_epoch_stats {
    int32_t epoch;      /**< 1-based */
    double train_error; /**< mean loss over all the epoch's training samples, as
                           the loss takes its mean (per sample; per target
                           element with float targets; per unit of weight with
                           class weights), each sample's from its batch's step
                           before that step's update. Not the mean of the
                           batches' means, which would weigh the samples of a
                           short last batch more */
    double train_acc;   /**< accuracy over the epoch's samples, taken while training */
    double valid_error; /**< mean loss on the validation set after the epoch (NaN without
                           one) */
    double valid_acc;   /**< validation accuracy after the epoch (NaN without one) */
    double train_seconds; /**< wall time of the training pass alone */
    double eval_seconds;  /**< wall time of the validation pass */
    double learning_rate; /**< the rate used during this epoch */
    /* Added in 0.3.0: the metrics of mlp_metrics, over the epoch's training
     * batches (taken while training) and on the validation set; NaN where
     * they do not apply to the model's task, or without a validation set.
     * train_acc and valid_acc are NaN for a model that regresses. */
    double train_mse;  /**< mean squared error while training (float targets) */
    double train_rmse; /**< its square root */
    double train_mae;  /**< mean absolute error while training */
    double train_r2;   /**< R^2 over the epoch's training batches */
    double valid_mse;  /**< validation mean squared error */
    double valid_rmse; /**< its square root */
    double valid_mae;  /**< validation mean absolute error */
    double valid_r2;   /**< validation R^2 */
    /* Added in 0.4.0. */
    double comm_wait_seconds; /**< data-parallel training (mlpnet/dist.h): the
                                   seconds this rank spent in the training
                                   pass's collectives: waiting for gradient
                                   buckets (the communication backward did not
                                   hide) and in each step's agreement (where
                                   a slower rank is waited for); 0 without
                                   the hook */
} mlp_epoch_stats;

/**
 * Called after every epoch. The model may be read (e.g. to copy the
 * parameters of the best epoch), evaluated or asked for predictions, on
 * any batch size; its parameters may be set. Its layers, loss and
 * distribution stay as they are until mlp_model_fit() returns:
 * mlp_model_add(), mlp_model_set_loss(), mlp_model_set_class_weights()
 * (part of the loss) and mlp_model_set_distributed() return
 * MLP_STATUS_BAD_STATE meanwhile (from an mlp_batch_fn too).
 * @return 0 to go on, non-zero to stop training after this epoch
 */
typedef int (*mlp_epoch_fn)(const mlp_epoch_stats *stats, mlp_model *model, void *user);

/** Called after every training batch (e.g. for a progress bar), with the
 *  1-based epoch, the 1-based batch number and the batches per epoch. */
typedef void (*mlp_batch_fn)(int32_t epoch, int32_t batch, int32_t batches, void *user);

/**
 * Options of mlp_model_fit.
 *
 * **Structs the caller allocates** (this one, and any added later) follow one
 * rule, so that a program keeps working, without recompiling, with any newer
 * library of the same soname:
 *
 * - The first field, `struct_size`, is the size of the struct as the
 *   caller's header declares it. mlp_fit_options_init() sets it (the macro
 *   passes `sizeof(mlp_fit_options)` of the header the caller compiled with) and fills
 *   in the defaults; then change the fields you need.
 * - Fields are only ever appended, and every release that appends some makes
 *   the struct larger. The library reads exactly `struct_size` bytes of the
 *   caller's struct and uses its defaults for the fields beyond.
 * - A `struct_size` that is not the size of this struct in some release
 *   (0, a size no release had, or larger than this library knows) is
 *   refused with MLP_STATUS_INVALID_ARG before anything past the size field
 *   is read.
 *
 * Structs the library fills for a callback (mlp_epoch_stats) grow the same
 * way: the library always passes its own, complete version, whose first
 * fields are those of every older header at the same offsets, so an older
 * caller reads the fields it knows. A program built against a newer header
 * needs a library at least as new, and never misreads a struct with an
 * older one: the loader refuses the pair when the library predates
 * mlp_fit_options_init_size() (0.2.0), and a later library that predates
 * the caller's struct refuses its `struct_size` (MLP_STATUS_INVALID_ARG
 * from mlp_fit_options_init() and from every call given the struct, the
 * message naming the size). Checking the status of mlp_fit_options_init()
 * finds it first. MLPNET_VERSION_NUMBER tells which fields a header has.
 */
typedef struct mlp_fit_options {
    size_t struct_size; /**< size of the caller's struct; set by mlp_fit_options_init */
    int32_t epochs;     /**< number of epochs to run; default 10 */
    int32_t batch_size; /**< training batch size; default 100 */
    int32_t eval_batch_size; /**< batch of the validation pass; default 1000 */
    uint64_t seed;           /**< shuffling seed; default 0 */
    mlp_epoch_fn on_epoch;   /**< called after every epoch; may be NULL (the default) */
    mlp_batch_fn on_batch;   /**< called after every batch; may be NULL (the default) */
    void *user;              /**< passed to the callbacks (borrowed until the fit
                                  returns); default NULL */
    int32_t first_epoch;     /**< 1-based number of the first epoch to run; default 1.
                                  Epoch numbers drive the shuffling order and the
                                  learning-rate schedule, so a run resumed with
                                  first_epoch = k + 1 after k epochs (and the
                                  optimizer state restored) continues exactly. */
    /* Added in 0.2.0. */
    double max_train_loss; /**< divergence guard: training stops with
                                MLP_STATUS_NUMERIC as soon as a batch's mean
                                training loss exceeds this value (for example
                                100 for softmax cross-entropy, whose loss at
                                chance is ln K). Default 0: off, and only a NaN
                                or infinite loss or parameter stops training. */
    /* Added in 0.5.0. */
    int32_t drop_last; /**< non-zero: leave out an epoch's last batch when it is
                            smaller than batch_size, so that every step trains on
                            batch_size samples (batch norm, for one, cannot train
                            on a batch of one sample); with shuffling, the samples
                            left out differ from epoch to epoch. The training
                            set must then hold at least batch_size samples.
                            Default 0: the last batch holds what is left. */
} mlp_fit_options;

/**
 * Fill the first `struct_size` bytes of `opts` with the defaults and set
 * `opts->struct_size`. Call it through the mlp_fit_options_init() macro,
 * which passes the size of the caller's own header version.
 * @param opts         the caller's options (borrowed for the call)
 * @param struct_size  sizeof(mlp_fit_options) as the caller's header declares it
 * @return MLP_STATUS_OK, or MLP_STATUS_INVALID_ARG when `opts` is NULL or
 *         `struct_size` is not the size of mlp_fit_options in any release
 *         this library knows (nothing is written then)
 */
MLP_API mlp_status mlp_fit_options_init_size(mlp_fit_options *opts, size_t struct_size);

/**
 * Fill `opts` with the defaults: mlp_fit_options_init_size(opts,
 * sizeof(mlp_fit_options)), the size from the caller's header.
 * The library also exports a deprecated function of the same name, the
 * initialiser of release 0.1, declared below.
 * @param opts  pointer to the caller's mlp_fit_options
 * @return the status of mlp_fit_options_init_size()
 */
#define mlp_fit_options_init(opts)                                                       \
    mlp_fit_options_init_size((opts), sizeof(mlp_fit_options))

/* Doxygen reads the parenthesised name below as a function type, void(), and
 * would ask for a return value; the conditional section keeps this
 * declaration out of the API reference, where the macro above is the
 * documented interface. */
/** @cond */
/**
 * The initialiser of release 0.1, kept for programs built against it:
 * fills the fields of that release (up to `first_epoch`) with the defaults.
 * New code calls the mlp_fit_options_init() macro instead (the parentheses
 * around the name here keep the macro from expanding).
 * @param opts  options of the 0.1 layout (borrowed for the call); NULL is a no-op
 * @deprecated use mlp_fit_options_init()
 */
MLP_API void(mlp_fit_options_init)(mlp_fit_options *opts)
    MLP_DEPRECATED("use the mlp_fit_options_init() macro");
/** @endcond */

/**
 * Train for a number of epochs: each epoch shuffles the training set, runs
 * mlp_model_train_step on every batch, evaluates on `valid` when given, and
 * calls the callbacks.
 * A model without class names takes a copy of the training set's, once the
 * arguments pass their checks, when the set names each of its classes and
 * has as many as the model has outputs (a CSV file's labels, a label map):
 * later evaluations then refuse a set whose ids name other classes, and
 * the model file keeps the names. Names the model has stay. Feature names
 * go the same way: a model without them takes the training set's
 * (mlp_dataset_feature_name()), and later data must name its features
 * alike, in the same order.
 * @param model  the model (borrowed for the call)
 * @param opt    optimizer created for this model (borrowed for the call)
 * @param train  training set (borrowed for the call)
 * @param valid  validation set (borrowed for the call); may be NULL
 * @param opts   options (borrowed; read only up to `opts->struct_size`); NULL
 *               for the defaults
 *
 * What stops training: a batch whose loss is NaN or infinite, a parameter
 * or state value that is NaN or infinite after an epoch, and, when `opts->max_train_loss`
 * is set, a batch whose finite loss exceeds it. Without that guard a loss
 * that grows but stays finite (1e30 is possible with ReLU) trains on and
 * the call returns MLP_STATUS_OK.
 * A validation pass that fails stops training too, with its status and
 * a message that names the epoch and the validation set, then says what
 * mlp_model_evaluate() would (a borrowed validation set that gained a NaN,
 * for one).
 * A step that fails stops training there, with the step's status (for
 * example MLP_STATUS_INVALID_ARG from batch norm given an epoch's last
 * batch of one sample: `opts->drop_last` leaves such a batch out); the
 * message names the epoch and the batch, and the batches before it stay
 * applied.
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (among others, an
 *         `opts->struct_size` that no release had, a training or validation
 *         set without targets, read with ::MLP_CSV_FEATURES_ONLY, `opts->drop_last` with
 *         fewer training samples than `opts->batch_size`, which leaves no
 *         batch, or a target outside [0, 1] for ::MLP_LOSS_BCE_LOGITS in
 *         the training or validation set, refused before the first step,
 *         with the set and the sample named; a class of the training or
 *         validation set that has the name of another class of the model,
 *         or, when the model has no class names, a class of the validation
 *         set named as another class of the training set: refused before
 *         the first step, naming both ids; feature names of the training or
 *         validation set other than the model's, or, when the model has
 *         none, the validation set's other than the training set's: the
 *         message names the feature); MLP_STATUS_SHAPE_MISMATCH
 *         (data do not fit the model, or class names or weights of another
 *         count than its outputs, as for mlp_model_evaluate(): refused
 *         before the first step); MLP_STATUS_NUMERIC in the cases above
 *         (the message names the epoch, the batch and the cause: a NaN or
 *         an infinity in the batch's input, which a borrowed training set
 *         holds when its values changed after its creation, the first layer
 *         with a bad parameter, state value or output, or the loss and the
 *         guard; or mlp_optimizer_step()'s message for a step whose size is
 *         beyond the floats);
 *         MLP_STATUS_BAD_STATE (a model without layers; a layer was added
 *         to the model after the optimizer was created; called from one of
 *         mlp_model_fit()'s callbacks or from a data-parallel hook's
 *         callback: nothing runs); MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_fit(mlp_model *model, mlp_optimizer *opt,
                                 const mlp_dataset *train, const mlp_dataset *valid,
                                 const mlp_fit_options *opts);

MLP_EXTERN_C_END

#endif /* MLPNET_MODEL_H */
