/*
 * Shared helpers of the libmlpnet Check suites: a seeded random generator
 * (independent of the library's own), tolerance comparisons, small
 * constructors that fail the current test on error, a synthetic dataset of
 * Gaussian blobs, and a finite-difference gradient checker for whole models.
 *
 * Helpers whose name ends in an assertion verb (tu_assert_*, TU_*) fail the
 * running Check test with a message that includes mlp_last_error().
 */
#ifndef MLPNET_TESTUTIL_H
#define MLPNET_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mlpnet/mlpnet.h"

/* ---- status assertions ------------------------------------------------ */

/* The call must succeed. */
#define TU_OK(expr)                                                              \
    do {                                                                         \
        mlp_status tu_st_ = (expr);                                              \
        ck_assert_msg(tu_st_ == MLP_STATUS_OK, "%s -> %s (%d): %s", #expr,       \
                      mlp_status_str(tu_st_), (int)tu_st_, mlp_last_error());    \
    } while (0)

/* The call must return exactly `want`. */
#define TU_ST(expr, want)                                                        \
    do {                                                                         \
        mlp_status tu_st_ = (expr);                                              \
        mlp_status tu_want_ = (want);                                            \
        ck_assert_msg(tu_st_ == tu_want_, "%s -> %s (%d), want %s (%d): %s", #expr, \
                      mlp_status_str(tu_st_), (int)tu_st_, mlp_status_str(tu_want_), \
                      (int)tu_want_, mlp_last_error());                          \
    } while (0)

/* The call must fail with `want` and leave a non-empty message. */
#define TU_FAIL(expr, want)                                                      \
    do {                                                                         \
        TU_ST(expr, want);                                                       \
        ck_assert_msg(mlp_last_error() != NULL && mlp_last_error()[0] != '\0',  \
                      "%s failed as expected but mlp_last_error() is empty", #expr); \
    } while (0)

/* ---- random numbers ---------------------------------------------------- */

/* splitmix64: tiny, seeded, and unrelated to the library's generator. */
typedef struct tu_rng {
    uint64_t state;
} tu_rng;

void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_u64(tu_rng *r);
/* Uniform in [0, 1), 53 bits. */
double tu_rng_uniform(tu_rng *r);
/* Standard normal (Box-Muller). */
double tu_rng_normal(tu_rng *r);
/* Integer in [0, bound), bound >= 1. */
int32_t tu_rng_below(tu_rng *r, int32_t bound);

/* Fill n floats uniformly in [lo, hi). */
void tu_fill_uniform(tu_rng *r, float *x, int64_t n, float lo, float hi);
/* Like tu_fill_uniform, but redraw until |x| >= min_abs (keeps inputs of
 * relu-like layers away from their kink). Requires max(|lo|,|hi|) > min_abs. */
void tu_fill_away_from_zero(tu_rng *r, float *x, int64_t n, float lo, float hi,
                            float min_abs);
/* Fill n floats from N(mean, std^2). */
void tu_fill_normal(tu_rng *r, float *x, int64_t n, float mean, float std);

/* ---- tolerance compare ------------------------------------------------- */

/* |got - want| <= atol + rtol * max(|got|, |want|), and both NaN-free. */
int tu_close(double got, double want, double rtol, double atol);

/* Index of the first element where got and want are not tu_close, or -1. */
int64_t tu_first_mismatch(const float *got, const double *want, int64_t n, double rtol,
                          double atol);

/* Fail the test (naming `what`, the index and both values) unless every
 * got[i] is tu_close to want[i]. */
void tu_assert_close_fd(const char *what, const float *got, const double *want, int64_t n,
                        double rtol, double atol);
/* Same with a float reference. */
void tu_assert_close_ff(const char *what, const float *got, const float *want, int64_t n,
                        double rtol, double atol);

/* ---- constructors that fail the test on error -------------------------- */

/* Tensor of rank `rank` with the given extents (variadic int). */
mlp_tensor *tu_tensor(int rank, ...);
/* Tensor [n, dims...] of rank 1 + rank. */
mlp_tensor *tu_tensor_batch(int32_t n, int rank, const int32_t *dims);
/* Copy of a tensor (same shape, same values). */
mlp_tensor *tu_tensor_clone(const mlp_tensor *t);

mlp_model *tu_model(int rank, const int32_t *dims, uint64_t seed);
/* mlp_model_add that must succeed; returns the layer for convenience. */
mlp_layer *tu_add(mlp_model *m, mlp_layer *layer);

mlp_layer *tu_dense(int32_t units);
mlp_layer *tu_sigmoid(void);
mlp_layer *tu_tanh(void);
mlp_layer *tu_relu(void);
mlp_layer *tu_leaky_relu(float alpha);
mlp_layer *tu_elu(float alpha);
mlp_layer *tu_selu(void);
mlp_layer *tu_reshape(int rank, const int32_t *dims);
mlp_layer *tu_flatten(void);

/* Product of n extents. */
int64_t tu_prod(int n, const int32_t *dims);

/* ---- synthetic data ---------------------------------------------------- */

/*
 * Gaussian blobs as uint8 images: class k has a centre drawn (from
 * `centre_seed`) uniformly per pixel in [40, 215]; each sample is its centre
 * plus N(0, noise^2) per pixel, rounded and clamped to 0..255. Labels cycle
 * through the classes in a shuffled order drawn from `sample_seed`. Two sets
 * with the same centre seed share their centres, so one can train on one
 * and validate on the other.
 */
mlp_dataset *tu_blobs(int32_t n, int32_t classes, int32_t c, int32_t h, int32_t w,
                      double noise, uint64_t centre_seed, uint64_t sample_seed);

/* ---- gradient check ----------------------------------------------------- */

typedef struct tu_gradcheck_cfg {
    double eps;       /* finite-difference step on inputs and parameters */
    double rtol;      /* relative tolerance */
    double atol;      /* absolute floor of the tolerance */
    float x_lo, x_hi; /* range of the random input */
    float min_abs;    /* inputs satisfy |x| >= min_abs (0: no constraint) */
    double dy_scale;  /* the analytic pass uses dy = dy_scale * r: 1 normally;
                         anything else must make the check fail (self-test) */
    int check_params; /* compare parameter gradients (default 1) */
    uint64_t seed;    /* input and projection draws */
} tu_gradcheck_cfg;

typedef struct tu_gradcheck_result {
    int ok;               /* every element within tolerance */
    double worst;         /* largest |a - n| / (atol + rtol * max(|a|, |n|)) */
    int64_t checked;      /* elements compared (inputs + parameters) */
    double max_abs_dx;    /* largest |numerical dL/dx| (non-vacuity) */
    double max_abs_dp;    /* largest |numerical dL/dp| (0 without parameters) */
    char where[256];      /* the worst element, for the failure message */
} tu_gradcheck_result;

void tu_gradcheck_cfg_init(tu_gradcheck_cfg *cfg);

/*
 * Check the gradients of `model` (built with mlp_model_create and its
 * layers; the per-sample input shape is passed again because the API has
 * no getter for it). Draws x [batch, in_dims...] and a projection r of the
 * output's shape, defines L = sum(y * r) accumulated in double, and
 * compares (a) dx from mlp_model_backward(dy = r) with central differences
 * on each input element, (b) each layer's mlp_layer_grads with central
 * differences over mlp_layer_params, perturbed in place and restored.
 * Before the measured backward pass a backward with another dy is run, so
 * gradients that accumulate instead of being overwritten are caught.
 * Library failures fail the test; mismatches are reported in `res`.
 */
void tu_gradcheck(mlp_model *model, int in_rank, const int32_t *in_dims, int32_t batch,
                  const tu_gradcheck_cfg *cfg, tu_gradcheck_result *res);

/* Run tu_gradcheck and fail the test on a mismatch or a vacuous check. */
void tu_assert_gradcheck(mlp_model *model, int in_rank, const int32_t *in_dims,
                         int32_t batch, const tu_gradcheck_cfg *cfg);

/* ---- running suites ---------------------------------------------------- */

/* ---- model files ------------------------------------------------------ */

/* Offset of the n-th record with this tag (0-based) in a model file of
 * `len` bytes, or 0 if none; walks the framing of docs/file-format.md. */
size_t tu_find_record(const unsigned char *b, size_t len, const char *tag, int nth);

/* Recompute every record's CRC, so a test can change a value and reach the
 * checks behind the checksum. Stops at a broken framing. */
void tu_fix_crcs(unsigned char *b, size_t len);

/* Run a suite in CK_NORMAL mode; return EXIT_SUCCESS or EXIT_FAILURE. */
int tu_run_suite(Suite *s);

#endif /* MLPNET_TESTUTIL_H */
