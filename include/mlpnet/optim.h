/**
 * @file
 * libmlpnet: optimizers (learning rules).
 *
 * An optimizer updates every trainable parameter of one model in place from
 * the gradients of the last backward pass, keeping whatever per-parameter
 * state its rule needs (allocated once, at creation). Hyper-parameters are
 * set by key, so new ones can be added without changing any signature.
 */
#ifndef MLPNET_OPTIM_H
#define MLPNET_OPTIM_H

#include <stdint.h>

#include "mlpnet/export.h"
#include "mlpnet/status.h"

MLP_EXTERN_C_BEGIN

/** Opaque optimizer: a learning rule and its per-parameter state. */
typedef struct mlp_optimizer mlp_optimizer;

struct mlp_model;

/** Learning rules. Values are stable; append only. Formulas use g for the
 *  gradient (after clipping and the L2/L1 terms), lr for the current rate.
 *
 *  Momentum and Nesterov keep the velocity v with the rate inside it (the
 *  course's form). At a constant rate they take the steps of PyTorch's
 *  `SGD(momentum=mu)` (dampening 0; `nesterov=True` for Nesterov), whose
 *  buffer b = mu b + g holds gradients and is multiplied by the current
 *  rate (v = -lr b). When the rate changes (a schedule,
 *  mlp_optimizer_set_learning_rate), they differ: here v keeps the earlier
 *  steps at the rates they were taken with and only the new gradient gets
 *  the new rate, while PyTorch scales its whole buffer by the new rate. */
typedef enum mlp_rule {
    MLP_RULE_SGD = 1,      /**< p -= lr g */
    MLP_RULE_MOMENTUM = 2, /**< v = mu v - lr g;  p += v  (see above: a rate change) */
    MLP_RULE_NESTEROV = 3, /**< v = mu v - lr g;  p += mu v - lr g  (likewise) */
    MLP_RULE_RMSPROP = 4, /**< s = rho s + (1 - rho) g^2;  b = mu b + g / (sqrt(s) + eps);
                               p -= lr b  (mu = 0: no momentum buffer) */
    MLP_RULE_ADAM = 5,    /**< m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
                               p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) */
    MLP_RULE_ADAMW = 6,   /**< Adam with decoupled weight decay: p -= lr wd p first */
    MLP_RULE_ADAGRAD = 7  /**< s += g^2;  p -= lr g / (sqrt(s) + eps) */
} mlp_rule;

/** Hyper-parameter keys. Values are stable; append only. Defaults in
 *  brackets; a key the rule does not use gives MLP_STATUS_UNSUPPORTED.
 *
 *  The rules compute in float, and each value is checked as the float it
 *  is applied as (round to nearest), as well as the double given; a value
 *  outside its range as either is refused:
 *  - a rate or penalty (learning rate, wd, l1; also the cosine schedule's
 *    min_rate) must be >= 0 and finite as a float: at most FLT_MAX,
 *    3.40282347e38 (doubles from 2^128 - 2^103 round to infinity);
 *  - a coefficient of [0, 1) (mu, b1, b2, rho) must be below 1 as a float:
 *    below 1 - 2^-25, about 0.99999997 (the largest such float is
 *    1 - 2^-24, 0.99999994; from 1 - 2^-25 a double rounds to 1);
 *  - eps must be a normal float: from FLT_MIN, 2^-126 = 1.17549435e-38
 *    (a bound on the double: a subnormal eps is 0 once
 *    mlp_set_flush_denormals is on, and the doubles just below FLT_MIN
 *    that round up to it round to 0 then), to FLT_MAX as above. Adam's
 *    and AdamW's bias-corrected eps, eps sqrt(1 - b2^t), is kept at
 *    FLT_MIN at least for the same reason.
 *  The clipping norm is compared in double: any finite c >= 0. */
typedef enum mlp_optim_param {
    MLP_OPTIM_LEARNING_RATE = 1, /**< base rate >= 0, finite as a float [0.1 SGD;
                                      0.01 momentum, Nesterov (with mu 0.9, the
                                      same long-run step as SGD's 0.1); 0.001
                                      RMSProp, Adam, AdamW; 0.01 AdaGrad] */
    MLP_OPTIM_MOMENTUM = 2,      /**< mu in [0, 1) as a float [0.9; RMSProp 0]
                                      (momentum, Nesterov, RMSProp) */
    MLP_OPTIM_BETA1 = 3,         /**< b1 in [0, 1) as a float [0.9] (Adam, AdamW) */
    MLP_OPTIM_BETA2 = 4,         /**< b2 in [0, 1) as a float [0.999] (Adam, AdamW) */
    MLP_OPTIM_EPSILON = 5,       /**< eps > 0, a normal float [1e-8] (RMSProp, Adam,
                                      AdamW, AdaGrad) */
    MLP_OPTIM_WEIGHT_DECAY = 6,  /**< wd >= 0, finite as a float [0 (AdamW 0.01)]:
                                      L2 penalty, g += wd p; for AdamW the decoupled
                                      decay above (all rules) */
    MLP_OPTIM_L1 = 7,            /**< l1 >= 0, finite as a float [0]: g += l1 sign(p)
                                      (all rules) */
    MLP_OPTIM_DECAY = 8,         /**< rho in [0, 1) as a float [0.9] (RMSProp) */
    MLP_OPTIM_CLIP_NORM = 9,     /**< c >= 0, finite [0 = off]: when the global gradient
                                      norm exceeds c, scale the gradient to norm c
                                      (all rules) */
    MLP_OPTIM_DECAY_ALL = 10     /**< 0 or 1 [0]: apply weight decay and L1 to biases
                                      (and other non-weight parameters) too (all rules) */
} mlp_optim_param;

/**
 * Stable lower-case name of a hyper-parameter key, as error messages print
 * it: "learning_rate", "momentum", "beta1", "beta2", "epsilon",
 * "weight_decay", "l1", "decay", "clip_norm", "decay_all". Useful to name
 * keys in a program's own messages and tables. Thread-safe; sets no error.
 * @param key  any value; keys this library does not know (including ones
 *             appended by a later version) give "unknown parameter"
 * @return never NULL (borrowed: static storage, never freed)
 */
MLP_API const char *mlp_optim_param_str(mlp_optim_param key);

/**
 * Create an optimizer for a model, with the rule's default hyper-parameters.
 * @param out    new optimizer, NULL on failure (owned: mlp_optimizer_destroy)
 * @param rule   one of mlp_rule
 * @param model  the model to train (borrowed: the optimizer uses it while
 *               the model lives; once it is destroyed the optimizer can
 *               only be destroyed; add every layer before creating the
 *               optimizer)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, unknown rule, a
 *         model without parameters) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_optimizer_create(mlp_optimizer **out, mlp_rule rule,
                                        struct mlp_model *model);

/**
 * Set a hyper-parameter.
 * @param opt    the optimizer (borrowed for the call)
 * @param key    one of mlp_optim_param
 * @param value  the new value, in the key's range as a double and as a
 *               float (see mlp_optim_param)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, unknown key, value
 *         out of range: the message names the key and the value and says
 *         the range) or MLP_STATUS_UNSUPPORTED (the rule has no such
 *         parameter); on failure the value is unchanged
 */
MLP_API mlp_status mlp_optimizer_set(mlp_optimizer *opt, mlp_optim_param key,
                                     double value);

/**
 * Read a hyper-parameter.
 * @param opt    the optimizer (borrowed for the call)
 * @param key    one of mlp_optim_param
 * @param value  receives the value
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG or MLP_STATUS_UNSUPPORTED
 */
MLP_API mlp_status mlp_optimizer_get(const mlp_optimizer *opt, mlp_optim_param key,
                                     double *value);

/**
 * Shorthand for mlp_optimizer_set(opt, MLP_OPTIM_LEARNING_RATE, lr): sets
 * the base rate, which is also the current rate until the next
 * mlp_optimizer_start_epoch.
 * @param opt  the optimizer (borrowed for the call)
 * @param lr   the new base rate, >= 0 and finite as a float (at most
 *             3.40282347e38; see mlp_optim_param)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, lr negative or not
 *         finite as a float; the rate is then unchanged)
 */
MLP_API mlp_status mlp_optimizer_set_learning_rate(mlp_optimizer *opt, double lr);

/**
 * Current learning rate (the base rate as scheduled for the current
 * epoch), or NaN when `opt` is NULL. A caller's own schedule can set it
 * every epoch with mlp_optimizer_set_learning_rate.
 * @param opt  the optimizer (borrowed for the call); may be NULL
 * @return the current rate, or NaN when `opt` is NULL
 */
MLP_API double mlp_optimizer_learning_rate(const mlp_optimizer *opt);

/**
 * The rule of an optimizer, or 0 for NULL.
 * @param opt  the optimizer (borrowed for the call); may be NULL
 * @return one of mlp_rule, or 0 when `opt` is NULL
 */
MLP_API mlp_rule mlp_optimizer_rule(const mlp_optimizer *opt);

/**
 * Apply one update to the model's parameters from its current gradients
 * (which are left unchanged). Weight decay and L1 apply to weights only
 * (the weights of dense and conv2d layers; not their biases, nor batch
 * norm's gamma and beta) unless MLP_OPTIM_DECAY_ALL is 1.
 * Allocates nothing.
 * @param opt  the optimizer (borrowed for the call)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL),
 *         MLP_STATUS_BAD_STATE (the model changed shape since the optimizer
 *         was created, or the step count is 2^63 - 1, which only a loaded
 *         file holds and which cannot advance: mlp_optimizer_reset starts
 *         it again from 0) or MLP_STATUS_NUMERIC (Adam and AdamW: the
 *         step size at the current rate, lr sqrt(1 - b2^t) / (1 - b1^t),
 *         is beyond FLT_MAX as a float, as at the first step from a rate
 *         of 2^104, about 2e31, with b1 = 1 - 2^-24 and b2 = 0, or 6e32
 *         with the default b2; or AdamW's lr wd is, on a model with
 *         decayed parameters; a lower rate steps); on failure nothing
 *         changes
 */
MLP_API mlp_status mlp_optimizer_step(mlp_optimizer *opt);

/* ---------------------------------------------------------------------- */
/* Learning-rate schedules                                                  */
/* A schedule maps the base rate (MLP_OPTIM_LEARNING_RATE) and a 0-based
 * epoch to the rate used during that epoch. mlp_model_fit calls
 * mlp_optimizer_start_epoch before every epoch; a caller's own loop does the
 * same. The default schedule is constant. */

/**
 * Constant rate (the default).
 * @param opt  the optimizer (borrowed for the call)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL)
 */
MLP_API mlp_status mlp_optimizer_schedule_constant(mlp_optimizer *opt);

/**
 * Step decay: rate = base * gamma^floor(epoch / step_epochs).
 * @param opt          the optimizer (borrowed for the call)
 * @param step_epochs  >= 1
 * @param gamma        in (0, 1]
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG
 */
MLP_API mlp_status mlp_optimizer_schedule_step(mlp_optimizer *opt, int32_t step_epochs,
                                               double gamma);

/**
 * Exponential decay: rate = base * gamma^epoch.
 * @param opt    the optimizer (borrowed for the call)
 * @param gamma  in (0, 1]
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG
 */
MLP_API mlp_status mlp_optimizer_schedule_exponential(mlp_optimizer *opt, double gamma);

/**
 * Cosine annealing with warm restarts (Loshchilov and Hutter, SGDR): within
 * a period of T epochs starting at epoch e0,
 *   rate = min_rate + (base - min_rate) (1 + cos(pi (epoch - e0) / T)) / 2;
 * period k (from 0) lasts round(period * period_mult^k) epochs. A min_rate
 * above the base rate is accepted and acts as the base rate (the rate is
 * then constant).
 * @param opt          the optimizer (borrowed for the call)
 * @param period       first period T, >= 1 epoch
 * @param period_mult  >= 1 (1: every period is T)
 * @param min_rate     >= 0 and finite as a float (at most 3.40282347e38);
 *                     meant to be below the base rate (see above)
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG
 */
MLP_API mlp_status mlp_optimizer_schedule_cosine(mlp_optimizer *opt, int32_t period,
                                                 double period_mult, double min_rate);

/**
 * The rate the schedule gives for a 0-based epoch, without changing anything.
 * @param opt    the optimizer (borrowed for the call)
 * @param epoch  0-based epoch, >= 0
 * @param rate   receives the rate
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, epoch < 0)
 */
MLP_API mlp_status mlp_optimizer_scheduled_rate(const mlp_optimizer *opt, int32_t epoch,
                                                double *rate);

/**
 * Set the current rate from the schedule for a 0-based epoch.
 * @param opt    the optimizer (borrowed for the call)
 * @param epoch  0-based epoch, >= 0
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL, epoch < 0)
 */
MLP_API mlp_status mlp_optimizer_start_epoch(mlp_optimizer *opt, int32_t epoch);

/**
 * Forget the rule's state (velocities, moments, step count). NULL is a no-op.
 * @param opt  the optimizer (borrowed for the call); may be NULL
 */
MLP_API void mlp_optimizer_reset(mlp_optimizer *opt);

/**
 * Free an optimizer. NULL is a no-op. The model is not touched.
 * @param opt  the optimizer (consumed: freed here); may be NULL
 */
MLP_API void mlp_optimizer_destroy(mlp_optimizer *opt);

MLP_EXTERN_C_END

#endif /* MLPNET_OPTIM_H */
