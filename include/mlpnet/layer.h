/**
 * @file
 * libmlpnet: layers.
 *
 * A layer is created on its own, configured, then handed to a model with
 * mlp_model_add(), which infers its input shape from the layer before it,
 * allocates its parameters inside the model's parameter buffer and
 * initialises them from the model's seeded generator. From then on the model
 * owns it. Shapes given to layers are per sample: the batch dimension is
 * never part of them.
 */
#ifndef MLPNET_LAYER_H
#define MLPNET_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "mlpnet/export.h"
#include "mlpnet/status.h"

MLP_EXTERN_C_BEGIN

/** Opaque layer; owned by its model once added. */
typedef struct mlp_layer mlp_layer;

/** Layer kinds. Values are stable (written to model files); append only. */
typedef enum mlp_layer_kind {
    MLP_LAYER_DENSE = 1,       /**< y = x W + b, W [in, out] */
    MLP_LAYER_SIGMOID = 2,     /**< y = 1 / (1 + exp(-x)) */
    MLP_LAYER_TANH = 3,        /**< y = tanh(x) */
    MLP_LAYER_RELU = 4,        /**< y = max(0, x); NaN gives NaN */
    MLP_LAYER_LEAKY_RELU = 5,  /**< y = x if x > 0 else alpha x */
    MLP_LAYER_ELU = 6,         /**< y = x if x > 0 else alpha (exp(x) - 1) */
    MLP_LAYER_SELU = 7,        /**< y = lambda * elu(x, alpha), fixed constants */
    MLP_LAYER_RESHAPE = 8,     /**< new per-sample shape, same elements (also flatten) */
    MLP_LAYER_BATCHNORM = 9,   /**< batch normalisation, per feature or per channel */
    MLP_LAYER_DROPOUT = 10,    /**< inverted dropout */
    MLP_LAYER_CONV2D = 11,     /**< 2-D convolution on [C,H,W] */
    MLP_LAYER_MAXPOOL = 12,    /**< max pooling on [C,H,W] */
    MLP_LAYER_AVGPOOL = 13,    /**< average pooling on [C,H,W] (also global) */
    MLP_LAYER_SOFTPLUS = 14,   /**< y = log(1 + exp(x)) */
    MLP_LAYER_STANDARDIZE = 15 /**< y = (x - mean) / scale per feature, from data */
} mlp_layer_kind;

/** Weight initialisers. Biases start at zero. Values are stable. */
typedef enum mlp_init {
    MLP_INIT_GLOROT_UNIFORM = 1, /**< U(-a, a), a = sqrt(6 / (fan_in + fan_out)) */
    MLP_INIT_GLOROT_NORMAL = 2,  /**< N(0, 2 / (fan_in + fan_out)) */
    MLP_INIT_HE_UNIFORM = 3,     /**< U(-a, a), a = sqrt(6 / fan_in) */
    MLP_INIT_HE_NORMAL = 4,      /**< N(0, 2 / fan_in) */
    MLP_INIT_CONSTANT = 5        /**< every weight equals the given value */
} mlp_init;

/**
 * Create a fully connected (affine) layer y = x W + b. Its input is
 * flattened: a sample of shape [C,H,W] counts as C*H*W features. Weights
 * default to MLP_INIT_GLOROT_UNIFORM.
 * @param out    new layer, or NULL on failure (owned until given to
 *               mlp_model_add; mlp_layer_destroy otherwise)
 * @param units  output features, >= 1
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_dense(mlp_layer **out, int32_t units);

/**
 * Create a logistic sigmoid layer (same shape in and out).
 * @param out  new layer, or NULL on failure (owned until given to
 *             mlp_model_add; mlp_layer_destroy otherwise)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (`out` is NULL) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_sigmoid(mlp_layer **out);

/**
 * Create a hyperbolic tangent layer (same shape in and out).
 * @param out  new layer, or NULL on failure (owned until given to
 *             mlp_model_add; mlp_layer_destroy otherwise)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (`out` is NULL) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_tanh(mlp_layer **out);

/**
 * Create a rectified linear layer (same shape in and out): y = max(0, x),
 * with -0 giving +0 and NaN giving NaN (as PyTorch's ReLU), so that a
 * network whose values went NaN shows it in its output and loss; the
 * gradient is dy where y > 0, else 0 (0 at NaN).
 * @param out  new layer, or NULL on failure (owned until given to
 *             mlp_model_add; mlp_layer_destroy otherwise)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (`out` is NULL) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_relu(mlp_layer **out);

/**
 * Create a leaky ReLU layer.
 * @param out    new layer, or NULL on failure (owned until given to
 *               mlp_model_add; mlp_layer_destroy otherwise)
 * @param alpha  slope for negative inputs, finite and >= 0 (0.01 is usual)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_leaky_relu(mlp_layer **out, float alpha);

/**
 * Create an exponential linear unit layer.
 * @param out    new layer, or NULL on failure (owned until given to
 *               mlp_model_add; mlp_layer_destroy otherwise)
 * @param alpha  saturation value for negative inputs, finite and > 0 (1.0 is usual)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_elu(mlp_layer **out, float alpha);

/**
 * Create a scaled ELU layer (Klambauer et al. 2017: lambda = 1.0507...,
 * alpha = 1.6733...).
 * @param out  new layer, or NULL on failure (owned until given to
 *             mlp_model_add; mlp_layer_destroy otherwise)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (`out` is NULL) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_selu(mlp_layer **out);

/**
 * Create a softplus layer, y = log(1 + exp(x)) (same shape in and out), a
 * smooth ReLU whose derivative is the logistic sigmoid. It is computed
 * without overflow for any finite input.
 * @param out  new layer, or NULL on failure (owned until given to
 *             mlp_model_add; mlp_layer_destroy otherwise)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (`out` is NULL) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_softplus(mlp_layer **out);

/**
 * Create a standardisation layer: y = (x - mean) / scale for every input
 * element (feature), with a mean and a scale per feature kept as the
 * layer's state (not trained; saved in the model file, so predictions
 * apply the same transform). A new layer is the identity (mean 0, scale
 * 1); mlp_model_fit_standardize() sets both from a training set. Put it
 * first, so that raw features go in.
 * @param out  new layer, or NULL on failure (owned until given to
 *             mlp_model_add; mlp_layer_destroy otherwise)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (`out` is NULL) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_standardize(mlp_layer **out);

/**
 * Create a layer that gives each sample a new shape with the same number of
 * elements (for example [784] -> [1,28,28]).
 * @param out   new layer, or NULL on failure (owned until given to
 *              mlp_model_add; mlp_layer_destroy otherwise)
 * @param rank  1..3 (per-sample rank; the batch dimension is implicit)
 * @param dims  new extents (copied)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY;
 *         a count that differs from the input's is refused by mlp_model_add
 */
MLP_API mlp_status mlp_layer_create_reshape(mlp_layer **out, int rank,
                                            const int32_t *dims);

/**
 * Create a layer that flattens each sample to rank 1 (a reshape layer of
 * kind MLP_LAYER_RESHAPE).
 * @param out  new layer, or NULL on failure (owned until given to
 *             mlp_model_add; mlp_layer_destroy otherwise)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (`out` is NULL) or
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_flatten(mlp_layer **out);

/**
 * Create a batch-normalisation layer over features: every element of a
 * sample is normalised with the mean and variance of that element over the
 * batch, then scaled by gamma and shifted by beta (learnable, starting at 1
 * and 0). Training mode uses the batch's statistics and updates running
 * averages; inference mode uses the running averages, so its output does
 * not depend on the rest of the batch. Training mode refuses a batch of one
 * sample (MLP_STATUS_INVALID_ARG from the forward pass): its variance is 0.
 * Defaults: momentum 0.1, eps 1e-5 (see mlp_layer_set_batchnorm).
 * @param out  new layer, NULL on failure (owned until given to a model)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_batchnorm(mlp_layer **out);

/**
 * Create a spatial batch-normalisation layer for [C,H,W] inputs: one mean,
 * variance, gamma and beta per channel, over the batch and all positions.
 * Training mode needs N*H*W >= 2. Otherwise as mlp_layer_create_batchnorm;
 * mlp_model_add refuses an input that is not of rank 3.
 * @param out  new layer, NULL on failure (owned until given to a model)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_batchnorm_spatial(mlp_layer **out);

/**
 * Set a batch-norm layer's running-average momentum (running = (1 - m)
 * running + m batch, PyTorch's convention) and the epsilon added to the
 * variance. Training mode normalises with the batch's biased variance
 * (sum (x - mean)^2 / M over the M values of a feature or channel); the
 * running variance takes the unbiased one (/ (M - 1)), as PyTorch's does.
 * Unlike the setters that size a layer's parameters, it may be called
 * before or after the layer is added to a model, also between training
 * steps (from a fit's callback, say): the next pass uses the new values.
 * Model files keep them.
 * @param layer     a batch-norm layer, plain or spatial (borrowed for the call)
 * @param momentum  in (0, 1]
 * @param eps       > 0 and finite
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, another kind, a
 *         value out of range): the settings stay as they were
 */
MLP_API mlp_status mlp_layer_set_batchnorm(mlp_layer *layer, float momentum, float eps);

/**
 * Create an inverted-dropout layer: in training mode each value is dropped
 * (set to 0) with probability `drop_p`, or kept and scaled by
 * 1 / (1 - drop_p); in inference mode it passes values through unchanged.
 * `drop_p` means what PyTorch's `p` and Keras's `rate` mean, and what the
 * `dropout:P` token of the mlpnet command means. Masks come from the
 * model's noise generator (mlp_model_set_noise_seed).
 * @param out     new layer, or NULL on failure (owned until given to
 *                mlp_model_add; mlp_layer_destroy otherwise)
 * @param drop_p  probability of dropping a value, in [0, 1) (0: the layer
 *                passes everything; 0.5 is usual for hidden layers)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (out NULL, drop_p outside
 *         [0, 1) or NaN) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_dropout_p(mlp_layer **out, float drop_p);

/**
 * Deprecated: use mlp_layer_create_dropout_p, which takes the probability of
 * DROPPING a value. This older call takes the probability of KEEPING one,
 * the opposite of most frameworks; it still works as it always did, and
 * stays exported until the next soname change:
 * mlp_layer_create_dropout(&l, keep) equals
 * mlp_layer_create_dropout_p(&l, 1 - keep). A keep of 2^-25 (about
 * 2.98e-8) or below, which it once took, is refused now: its drop
 * probability 1 - keep rounds to 1 in float, which
 * mlp_layer_create_dropout_p refuses, so the layer's
 * MLP_LAYER_ATTR_DROP_PROBABILITY could not make it again. A model file
 * holding such a layer is refused by the loaders for the same reason
 * (MLP_STATUS_BAD_FORMAT).
 * @deprecated use mlp_layer_create_dropout_p
 * @param out   new layer, NULL on failure (owned until given to a model)
 * @param keep  keep probability in (0, 1], above 2^-25
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (out NULL, keep outside
 *         (0, 1] or NaN, keep of 2^-25 or below) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_dropout(mlp_layer **out, float keep)
    MLP_DEPRECATED("takes the probability of keeping a value; use "
                   "mlp_layer_create_dropout_p(&l, 1 - keep)");

/**
 * Create a 2-D convolution layer for [C,H,W] inputs: `filters` kernels of
 * kh x kw over all input channels, plus one bias per filter unless turned
 * off (mlp_layer_set_use_bias); output
 * [filters, OH, OW] with OH = (H + 2 pad_h - dil_h (kh - 1) - 1) / stride_h + 1
 * (likewise OW). Stride, padding and dilation default to 1, 0 and 1 (see
 * mlp_layer_set_conv2d). Weights are [filters, C, kh, kw], Glorot uniform
 * with fan-in C kh kw and fan-out filters kh kw by default. Computed as
 * im2col + cblas_sgemm over groups of samples.
 * @param out          new layer, NULL on failure (owned until given to a model)
 * @param in_channels  C the layer expects (mlp_model_add refuses another), or 0
 *                     to take whatever the input has
 * @param filters      output channels, >= 1
 * @param kh           kernel height, >= 1
 * @param kw           kernel width, >= 1
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY;
 *         mlp_model_add gives MLP_STATUS_SHAPE_MISMATCH for an input that is
 *         not [C,H,W], has other channels, or is smaller than the kernel
 */
MLP_API mlp_status mlp_layer_create_conv2d(mlp_layer **out, int32_t in_channels,
                                           int32_t filters, int32_t kh, int32_t kw);

/**
 * Set a convolution's stride, zero padding and dilation (before it is added).
 * @param layer       a conv2d layer not yet added to a model
 *                    (borrowed for the call)
 * @param stride_h    vertical stride, >= 1
 * @param stride_w    horizontal stride, >= 1
 * @param pad_h       rows of zeros added above and below, >= 0
 * @param pad_w       columns of zeros added left and right, >= 0
 * @param dilation_h  vertical dilation, >= 1
 * @param dilation_w  horizontal dilation, >= 1
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, not conv2d, stride or
 *         dilation < 1, padding < 0) or MLP_STATUS_BAD_STATE (already added)
 */
MLP_API mlp_status mlp_layer_set_conv2d(mlp_layer *layer, int32_t stride_h,
                                        int32_t stride_w, int32_t pad_h, int32_t pad_w,
                                        int32_t dilation_h, int32_t dilation_w);

/**
 * Create a max-pooling layer for [C,H,W] inputs: each output is the largest
 * value in its kh x kw window (ties: the first in row-major order); windows
 * step by `stride` and may overhang the input by `pad` (padding is never
 * the maximum). OH = (H + 2 pad - kh) / stride + 1, likewise OW. A window
 * holding a NaN gives NaN, and the backward pass sends its gradient to the
 * window's last NaN in row-major order (both as PyTorch's `MaxPool2d`).
 * @param out     new layer, NULL on failure (owned until given to a model)
 * @param kh      window height, >= 1
 * @param kw      window width, >= 1
 * @param stride  >= 1
 * @param pad     0..min(kh, kw)/2
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY;
 *         mlp_model_add refuses an input the window does not fit
 */
MLP_API mlp_status mlp_layer_create_maxpool(mlp_layer **out, int32_t kh, int32_t kw,
                                            int32_t stride, int32_t pad);

/**
 * Create an average-pooling layer, shaped as mlp_layer_create_maxpool; each
 * output is the mean of the window's values inside the input (padding is
 * not counted: PyTorch's `AvgPool2d` with `count_include_pad=False`, not
 * its default, which divides by the whole window).
 * @param out     new layer, NULL on failure (owned until given to a model)
 * @param kh      window height, >= 1
 * @param kw      window width, >= 1
 * @param stride  >= 1
 * @param pad     0..min(kh, kw)/2
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_avgpool(mlp_layer **out, int32_t kh, int32_t kw,
                                            int32_t stride, int32_t pad);

/**
 * Create a global average-pooling layer: [C,H,W] -> [C], the mean of each
 * channel. Kind MLP_LAYER_AVGPOOL.
 * @param out  new layer, NULL on failure (owned until given to a model)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_layer_create_global_avgpool(mlp_layer **out);

/**
 * Turn the bias of a dense or conv2d layer on (1, the default) or off (0),
 * before the layer is added to a model; for example before batch
 * normalisation, whose shift makes a bias redundant. Without a bias the
 * layer's parameters are its weights only (see mlp_layer_params), the
 * forward pass adds no bias and the backward pass computes no bias gradient.
 * Model files keep the setting.
 * @param layer     a dense or conv2d layer not yet added to a model (borrowed
 *                  for the call)
 * @param use_bias  1 (bias) or 0 (none)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, a layer of another
 *         kind, a value other than 0 or 1) or MLP_STATUS_BAD_STATE (already
 *         in a model)
 */
MLP_API mlp_status mlp_layer_set_use_bias(mlp_layer *layer, int use_bias);

/**
 * Choose how a layer's weights are initialised when it is added to a model.
 * Only dense and conv2d layers take an initialiser (it draws their weights;
 * their bias starts at 0). Every other kind is refused, including those
 * with parameters or state that start at fixed values: batch norm's gamma
 * of 1 and beta of 0, standardize's mean of 0 and scale of 1.
 * @param layer  a dense or conv2d layer not yet added to a model (borrowed
 *               for the call)
 * @param init   one of mlp_init
 * @param value  the constant for MLP_INIT_CONSTANT, unused by the others;
 *               must be finite whatever the initialiser
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, unknown init, a layer
 *         of another kind, a `value` that is NaN or infinite) or
 *         MLP_STATUS_BAD_STATE (already added)
 */
MLP_API mlp_status mlp_layer_set_init(mlp_layer *layer, mlp_init init, float value);

/** Configuration attributes of a layer, read with mlp_layer_get_attr (for
 *  example to describe or rebuild a loaded model). Values are stable;
 *  append only. The kinds that have each attribute are in brackets. */
typedef enum mlp_layer_attr {
    MLP_LAYER_ATTR_UNITS = 1,            /**< output features [dense] */
    MLP_LAYER_ATTR_USE_BIAS = 2,         /**< 1 with a bias, 0 without [dense, conv2d] */
    MLP_LAYER_ATTR_ALPHA = 3,            /**< alpha [leaky_relu, elu] */
    MLP_LAYER_ATTR_DROP_PROBABILITY = 4, /**< probability of dropping a value, as
                                              mlp_layer_create_dropout_p takes it
                                              [dropout] */
    MLP_LAYER_ATTR_MOMENTUM = 5,         /**< running-average momentum [batchnorm] */
    MLP_LAYER_ATTR_EPSILON = 6,          /**< epsilon added to the variance [batchnorm] */
    MLP_LAYER_ATTR_SPATIAL = 7,          /**< 1 per channel of [C,H,W], 0 per feature
                                              [batchnorm] */
    MLP_LAYER_ATTR_IN_CHANNELS = 8,      /**< input channels asked for at creation,
                                              0 for any [conv2d] */
    MLP_LAYER_ATTR_FILTERS = 9,          /**< output channels [conv2d] */
    MLP_LAYER_ATTR_KERNEL_H = 10,        /**< window height (a global pool: the
                                              input's, once added; 0 before)
                                              [conv2d, maxpool, avgpool] */
    MLP_LAYER_ATTR_KERNEL_W = 11,        /**< window width, likewise */
    MLP_LAYER_ATTR_STRIDE_H = 12,   /**< vertical stride [conv2d, maxpool, avgpool] */
    MLP_LAYER_ATTR_STRIDE_W = 13,   /**< horizontal stride, likewise */
    MLP_LAYER_ATTR_PAD_H = 14,      /**< zero padding above and below, likewise */
    MLP_LAYER_ATTR_PAD_W = 15,      /**< zero padding left and right, likewise */
    MLP_LAYER_ATTR_DILATION_H = 16, /**< vertical dilation [conv2d] */
    MLP_LAYER_ATTR_DILATION_W = 17, /**< horizontal dilation [conv2d] */
    MLP_LAYER_ATTR_GLOBAL = 18      /**< 1 for global average pooling [avgpool] */
} mlp_layer_attr;

/**
 * Read one configuration attribute of a layer, whether or not it has been
 * added to a model (a layer of a loaded model included). Integers, alpha,
 * momentum and epsilon come back exactly as the layer stores them, so a
 * creator given the value makes the same layer. A dropout layer stores its
 * keep probability; the drop probability is computed from it in float, so
 * it reproduces the layer exactly for drop probabilities up to 0.5 and to
 * within float rounding (about 1e-7) above.
 * @param layer  the layer (borrowed for the call)
 * @param attr   one of mlp_layer_attr
 * @param value  receives the value (caller's variable)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, an unknown attribute)
 *         or MLP_STATUS_UNSUPPORTED (the layer's kind has no such attribute)
 */
MLP_API mlp_status mlp_layer_get_attr(const mlp_layer *layer, mlp_layer_attr attr,
                                      double *value);

/**
 * Free a layer that was never given to a model. NULL is a no-op. Layers
 * owned by a model are freed by mlp_model_destroy: given one, this call
 * frees nothing and leaves the layer to its model (mlp_last_error() says
 * so), rather than free it under the model.
 * @param layer  the layer (consumed: freed here, unless a model owns it);
 *               may be NULL
 */
MLP_API void mlp_layer_destroy(mlp_layer *layer);

/**
 * Kind of the layer, or 0 when `layer` is NULL.
 * @param layer  the layer (borrowed for the call); may be NULL
 * @return one of mlp_layer_kind, or 0 when `layer` is NULL
 */
MLP_API mlp_layer_kind mlp_layer_get_kind(const mlp_layer *layer);

/**
 * Stable lower-case name of the layer's kind ("dense", "elu", ...);
 * "" for NULL (borrowed: static storage).
 * @param layer  the layer (borrowed for the call); may be NULL
 * @return never NULL (borrowed: static storage)
 */
MLP_API const char *mlp_layer_kind_name(const mlp_layer *layer);

/**
 * Number of trainable parameters (0 before the layer is added to a model,
 * and for layers without parameters).
 * @param layer  the layer (borrowed for the call); may be NULL
 * @return the count, or 0 when `layer` is NULL, not in a model or without
 *         parameters
 */
MLP_API int64_t mlp_layer_param_count(const mlp_layer *layer);

/**
 * The layer's parameters inside its model's buffer: for dense layers the
 * weights W [in, out] row-major, then the bias [out] (unless turned off);
 * for batch norm gamma [C] then beta [C]; for conv2d the weights
 * [filters, C, kh, kw] then the bias [filters] (unless turned off).
 * The caller may write them (an initialisation of its own, a finite-
 * difference check): the library keeps no other copy of them, so the next
 * forward pass uses what was written. mlp_model_set_params writes them all
 * from one array.
 * @param layer  the layer (borrowed for the call); may be NULL
 * @return borrowed pointer, or NULL before the layer is added or when it
 *         has no parameters (and when `layer` is NULL). It stays valid
 *         until the next mlp_model_add on the layer's model, which may move
 *         the model's buffers (also when it fails), or until the model is
 *         destroyed: take it again after adding a layer.
 */
MLP_API float *mlp_layer_params(mlp_layer *layer);

/**
 * Gradients of the loss with respect to mlp_layer_params, same layout,
 * filled by the last backward pass (borrowed, as mlp_layer_params).
 * @param layer  the layer (borrowed for the call); may be NULL
 * @return borrowed pointer (valid as long as mlp_layer_params's), or NULL
 *         in the cases where mlp_layer_params gives NULL
 */
MLP_API float *mlp_layer_grads(mlp_layer *layer);

/**
 * Number of non-trainable state values kept for inference (batch norm:
 * running mean [C] then running variance [C]); 0 before the layer is
 * added and for kinds without state.
 * @param layer  the layer (borrowed for the call); may be NULL
 * @return the count, or 0 when `layer` is NULL, not in a model or without
 *         state
 */
MLP_API int64_t mlp_layer_state_count(const mlp_layer *layer);

/**
 * The layer's state values, or NULL when it has none. Writable, as
 * mlp_layer_params: the next inference pass uses what the caller writes.
 * @param layer  the layer (borrowed for the call); may be NULL
 * @return borrowed pointer (valid as long as mlp_layer_params's: until the
 *         next mlp_model_add on the layer's model or the model's
 *         destruction), or NULL when `layer` is NULL, not in a model or
 *         without state
 */
MLP_API float *mlp_layer_state(mlp_layer *layer);

MLP_EXTERN_C_END

#endif /* MLPNET_LAYER_H */
