/*
 * Shared helpers of the libmlpnet Check suites: a seeded random generator
 * (independent of the library's own), tolerance comparisons, small
 * constructors that fail the current test on error, a synthetic dataset of
 * Gaussian blobs, a finite-difference gradient checker for whole models,
 * temporary files and directories, and the allocation-failure loop. Every
 * suite uses these rather than a copy of its own.
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

/* ---- checks in loops -------------------------------------------------- */

/* ck_assert_msg and ck_assert for loops over many elements or steps. Check
 * records a checkpoint for every assertion that passes (_mark_point: a
 * message written to its pipe or log file, a system call each), so a loop
 * of a million assertions spent seconds in the kernel, and many minutes
 * under valgrind: the unit suites made 6.5 million such writes, 4.9 million
 * of them in the backend suite. These call Check only when the check
 * fails, with the same message; the test's last checkpoint is then the
 * one before the loop. */
#define TU_CHECK_MSG(expr, ...)                                                          \
    do {                                                                                 \
        if (!(expr))                                                                     \
            ck_abort_msg(__VA_ARGS__);                                                   \
    } while (0)
#define TU_CHECK(expr) TU_CHECK_MSG(expr, "Assertion '%s' failed", #expr)

/* ---- status assertions ------------------------------------------------ */

/* The call must succeed. */
#define TU_OK(expr)                                                                      \
    do {                                                                                 \
        mlp_status tu_st_ = (expr);                                                      \
        ck_assert_msg(tu_st_ == MLP_STATUS_OK, "%s -> %s (%d): %s", #expr,               \
                      mlp_status_str(tu_st_), (int)tu_st_, mlp_last_error());            \
    } while (0)

/* The call must return exactly `want`. */
#define TU_ST(expr, want)                                                                \
    do {                                                                                 \
        mlp_status tu_st_ = (expr);                                                      \
        mlp_status tu_want_ = (want);                                                    \
        ck_assert_msg(tu_st_ == tu_want_, "%s -> %s (%d), want %s (%d): %s", #expr,      \
                      mlp_status_str(tu_st_), (int)tu_st_, mlp_status_str(tu_want_),     \
                      (int)tu_want_, mlp_last_error());                                  \
    } while (0)

/* The call must fail with `want` and leave a non-empty message. */
#define TU_FAIL(expr, want)                                                              \
    do {                                                                                 \
        TU_ST(expr, want);                                                               \
        ck_assert_msg(mlp_last_error() != NULL && mlp_last_error()[0] != '\0',           \
                      "%s failed as expected but mlp_last_error() is empty", #expr);     \
    } while (0)

/* mlp_last_error() must contain `text`. */
#define TU_ERROR_HAS(text)                                                               \
    ck_assert_msg(strstr(mlp_last_error(), (text)) != NULL,                              \
                  "mlp_last_error() \"%s\" lacks \"%s\"", mlp_last_error(), (text))

/* The call must fail with `want` and leave a message that contains `text`. */
#define TU_FAIL_MSG(expr, want, text)                                                    \
    do {                                                                                 \
        TU_FAIL(expr, want);                                                             \
        TU_ERROR_HAS(text);                                                              \
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
    /* Appended; tu_gradcheck_cfg_init sets them to 0/NULL except nonvacuous. */
    int train_mode;      /* finite differences over training-mode passes */
    int reseed;          /* mlp_model_set_noise_seed(noise_seed) before every
                            forward pass, so dropout draws one mask */
    uint64_t noise_seed; /* the seed used when reseeding */
    const float *x;      /* given input (batch * sample floats, copied) or NULL
                            for a draw; with a given input no x is drawn */
    int kink_skip;       /* for piecewise-linear models: step each element to
                            v + k eps / 4, k = -4..4, and skip it unless the
                            eight segment slopes agree (a kink in the step) */
    double min_checked;  /* with kink_skip: the share of each group (dx, each
                            layer's parameters) that must be compared */
    double nonvacuous;   /* tu_assert_gradcheck: the largest |numerical dx|
                            (and dparam) must exceed this (default 1e-4) */
    const char *label;   /* names the model in failure messages, or NULL */
} tu_gradcheck_cfg;

typedef struct tu_gradcheck_result {
    int ok;                /* every element within tolerance */
    double worst;          /* largest |a - n| / (atol + rtol * max(|a|, |n|)) */
    int64_t checked;       /* elements compared (inputs + parameters) */
    double max_abs_dx;     /* largest |numerical dL/dx| (non-vacuity) */
    double max_abs_dp;     /* largest |numerical dL/dp| (0 without parameters) */
    char where[256];       /* the worst element, for the failure message */
    int64_t skipped;       /* kink_skip: elements with a kink within the step */
    double min_share;      /* kink_skip: smallest compared share of a group (1
                              without kink_skip) */
    char share_where[128]; /* the group with that share */
} tu_gradcheck_result;

void tu_gradcheck_cfg_init(tu_gradcheck_cfg *cfg);

/*
 * Check the gradients of `model` (built with mlp_model_create and its
 * layers; the per-sample input shape is passed again because the API has
 * no getter for it). Draws x [batch, in_dims...] (unless cfg->x gives it),
 * then a projection r of the output's shape, then a decoy dy, defines
 * L = sum(y * r) accumulated in double, and compares (a) dx from
 * mlp_model_backward(dy = r) with central differences on each input
 * element, (b) each layer's mlp_layer_grads with central differences over
 * mlp_layer_params, perturbed in place and restored. The differences use
 * inference-mode passes, or training-mode ones with cfg->train_mode.
 * Before the measured backward pass a backward with the decoy dy is run, so
 * gradients that accumulate instead of being overwritten are caught.
 * With cfg->kink_skip, an element whose step crosses a kink is skipped:
 * that depends on the forward pass alone, so it cannot hide a wrong
 * gradient, and res->min_share says how much of each group was compared.
 * Library failures fail the test; mismatches are reported in `res`.
 */
void tu_gradcheck(mlp_model *model, int in_rank, const int32_t *in_dims, int32_t batch,
                  const tu_gradcheck_cfg *cfg, tu_gradcheck_result *res);

/* Run tu_gradcheck and fail the test on a mismatch, a vacuous check or
 * (kink_skip) a group compared below cfg->min_checked. */
void tu_assert_gradcheck(mlp_model *model, int in_rank, const int32_t *in_dims,
                         int32_t batch, const tu_gradcheck_cfg *cfg);

/* ---- files ------------------------------------------------------------- */

/* Make a fresh directory $TMPDIR/<prefix>.XXXXXX (TMPDIR unset: /tmp) and
 * write its path to buf; returns buf. */
char *tu_tmp_dir(char *buf, size_t size, const char *prefix);
/* Remove a file, or a directory with everything below it (making each
 * directory writable first). A missing path is no error. */
void tu_rm_tree(const char *path);

/* Entries of a directory other than "." and ".." (fails the test when it
 * cannot be opened). */
int tu_count_dir_entries(const char *dir);
/* The whole file, malloc'd (the caller frees it), its length in *len. */
unsigned char *tu_read_file(const char *path, size_t *len);
/* Create or replace the file with n bytes. */
void tu_write_file(const char *path, const void *p, size_t n);
/* tu_write_file, or with `gz` the n bytes gzip-compressed. */
void tu_write_file_gz(const char *path, const void *p, size_t n, int gz);

/* ---- allocation failures ------------------------------------------------ */

typedef struct tu_oom_cfg {
    long max_attempts;         /* fail the test if attempt n = max_attempts is reached
                                  (default 1000) */
    int ok_in_a_row;           /* stop after this many successes in a row (default 1) */
    long min_failures;         /* at least this many attempts must fail (default 1:
                                  the first allocation failing must fail the call) */
    int keep_on_ok;            /* a success keeps what it made (the caller frees it):
                                  no leak check after a success */
    void (*before)(void *ctx); /* optional, before each attempt,
                                   with no failure injected */
    void (*after)(void *ctx, mlp_status st); /* optional, after each attempt,
                                                 with no failure injected:
                                                 checks of the result, cleanup */
} tu_oom_cfg;

void tu_oom_cfg_init(tu_oom_cfg *cfg);

/* Run `call` only while `st` is MLP_STATUS_OK: a chain of calls that stops
 * at the first failure, for the function a tu_oom_loop attempts. */
#define TU_THEN(st, call)                                                                \
    do {                                                                                 \
        if ((st) == MLP_STATUS_OK)                                                       \
            (st) = (call);                                                               \
    } while (0)

/* What such a chain builds (a model and up to four tensors). */
typedef struct tu_built {
    mlp_model *model;
    mlp_tensor *t[4];
} tu_built;

/* tu_oom_loop over such a chain: `build` (ctx a zeroed tu_built) runs at most
 * max_attempts - 1 times, and all it built is destroyed after each attempt. */
long tu_oom_loop_built(const char *what, mlp_status (*build)(void *ctx),
                       long max_attempts);

/*
 * Call fn(ctx) with the n-th allocation from its start failing, for
 * n = 1, 2, ... (mlp__alloc_fail_after), until it succeeds cfg->ok_in_a_row
 * times in a row. Each failing attempt must return MLP_STATUS_NO_MEMORY and,
 * once cfg->after has run, leave as many blocks live as before the loop
 * (after a success too, unless keep_on_ok). `what` names the call in failure
 * messages; cfg may be NULL for the defaults. Returns the number of failing
 * attempts, which must be at least cfg->min_failures.
 */
long tu_oom_loop(const char *what, mlp_status (*fn)(void *ctx), void *ctx,
                 const tu_oom_cfg *cfg);

/* ---- running suites ---------------------------------------------------- */

/* ---- model files ------------------------------------------------------ */

/* Offset of the n-th record with this tag (0-based) in a model file of
 * `len` bytes, or 0 if none; walks the framing of docs/file-format.md. */
size_t tu_find_record(const unsigned char *b, size_t len, const char *tag, int nth);

/* Recompute every record's CRC, so a test can change a value and reach the
 * checks behind the checksum. Stops at a broken framing. */
void tu_fix_crcs(unsigned char *b, size_t len);

/* Cut the record at offset `at` to its first n payload bytes (fewer than it
 * has): its length field says n and the bytes after it move up, so the
 * framing holds. Returns the file's new length; the CRCs are left to
 * tu_fix_crcs. */
size_t tu_cut_record(unsigned char *b, size_t len, size_t at, uint64_t n);

/* A value no model holds, for the tests of the writers and setters that
 * refuse one: value `index` of layer `layer`'s parameters (state 0) or
 * state (state 1), the status a call then returns and text its message
 * holds. */
typedef struct tu_bad_value {
    int state, layer;
    int64_t index;
    float value;
    mlp_status st;
    const char *says;
} tu_bad_value;

/* The address of that value in the model (through mlp_layer_params or
 * mlp_layer_state), to write it and put the old one back. */
float *tu_layer_value(mlp_model *m, const tu_bad_value *v);

/* ---- max pooling with NaN --------------------------------------------- */

/* Max pooling of `planes` planes [H,W] by a kh x kw window moved by s over
 * the input padded by p (padding never the maximum), as layer.h defines
 * it: in each window the first largest value in row-major order or, when
 * the window holds a NaN, its last NaN (PyTorch's MaxPool2d). y gets the
 * values and arg their input indices, [planes, OH, OW] each. */
void tu_ref_maxpool(int32_t planes, int32_t H, int32_t W, int32_t kh, int32_t kw,
                    int32_t s, int32_t p, const float *x, float *y, int64_t *arg);

/* The input indices into a plane [H,W] of the positions of output (oh,
 * ow)'s window (as tu_ref_maxpool's) that lie inside the input, row-major,
 * into at (room for kh kw); returns how many. */
int tu_window_positions(int32_t H, int32_t W, int32_t kh, int32_t kw, int32_t s,
                        int32_t p, int32_t oh, int32_t ow, int64_t *at);

/* The input gradient dx [n_in] of max pooling: zeros, then dy[o] added at
 * arg[o] for o = 0 .. n_out - 1 in order (the layer's order, so the same
 * bits). */
void tu_ref_unpool(const int64_t *arg, const float *dy, int64_t n_out, float *dx,
                   int64_t n_in);

/* The number of elements where got is not like want: NaN where want is
 * NaN, the same bits elsewhere; *first gets the first such index (-1 when
 * none). */
int64_t tu_count_unlike(const float *got, const float *want, int64_t n, int64_t *first);

/* Run a suite in CK_NORMAL mode; return EXIT_SUCCESS or EXIT_FAILURE. */
int tu_run_suite(Suite *s);

/* The main function of a suite's program: runs the suite `make_suite()`
 * builds, first pinning the library to `threads` threads when it is > 0
 * (0 leaves the library's default). A suite with needs of its own, such as
 * data or arguments, writes its main. */
#define TU_MAIN(make_suite, threads)                                                     \
    int main(void)                                                                       \
    {                                                                                    \
        if ((threads) > 0)                                                               \
            mlp_set_num_threads(threads);                                                \
        return tu_run_suite(make_suite());                                               \
    }

#endif /* MLPNET_TESTUTIL_H */
