/*
 * Tests of include/mlpnet/model.h: argument and state checks, layer
 * ownership, parameters, summary, training steps, prediction, evaluation,
 * allocation failures, and end-to-end training with mlp_model_fit on
 * generated data (accuracy, determinism, callbacks, numeric failure).
 */
/* The deprecated 0.1 initialiser mlp_fit_options_init() is tested here too. */
#define MLPNET_NO_DEPRECATION_WARNINGS
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "layers/layer_impl.h" /* ops and buffers, for the in-place test */
#include "model/model_impl.h"
#include "testutil.h"

static mlp_model *const SENTINEL = (mlp_model *)&SENTINEL;

/* Images of the synthetic data: 1 x 4 x 5 = 20 features, 4 classes. */
static const int32_t IMG[3] = {1, 4, 5};
#define FEAT 20
#define NCLS 4
#define CENTRES 4242u

/* [1,4,5] -> dense 16 -> relu -> dense 4 */
static mlp_model *small_model(uint64_t seed)
{
    mlp_model *m = tu_model(3, IMG, seed);
    tu_add(m, tu_dense(16));
    tu_add(m, tu_relu());
    tu_add(m, tu_dense(NCLS));
    return m;
}

static mlp_tensor *random_batch(int32_t n, uint64_t seed)
{
    mlp_tensor *x = tu_tensor(2, n, FEAT);
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, mlp_tensor_data(x), (int64_t)n * FEAT, 0.0f, 1.0f);
    return x;
}

static float *params_of(mlp_model *m)
{
    int64_t n = mlp_model_param_count(m);
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    ck_assert_ptr_nonnull(p);
    TU_OK(mlp_model_get_params(m, p, n));
    return p;
}

static int params_equal(mlp_model *a, mlp_model *b)
{
    int64_t n = mlp_model_param_count(a);
    if (n != mlp_model_param_count(b))
        return 0;
    float *pa = params_of(a), *pb = params_of(b);
    int eq = memcmp(pa, pb, sizeof(float) * (size_t)n) == 0;
    free(pa);
    free(pb);
    return eq;
}

/* ---- argument and state checks ------------------------------------------------ */

START_TEST(create_misuse)
{
    long live = mlp__alloc_live();
    const int32_t ok[3] = {1, 28, 28};
    const int32_t zero[2] = {4, 0};
    const int32_t neg[1] = {-784};
    const int32_t four[4] = {1, 1, 28, 28};
    mlp_model *m = SENTINEL;
    TU_FAIL(mlp_model_create(NULL, 3, ok, 1), MLP_STATUS_INVALID_ARG);
    struct {
        int rank;
        const int32_t *dims;
    } bad[] = {{0, ok}, {-1, ok}, {4, four}, {3, NULL}, {2, zero}, {1, neg}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m = SENTINEL;
        mlp_status st = mlp_model_create(&m, bad[i].rank, bad[i].dims, 1);
        ck_assert_msg(st == MLP_STATUS_INVALID_ARG, "case %d -> %s", (int)i,
                      mlp_status_str(st));
        ck_assert_ptr_null(m);
        ck_assert_str_ne(mlp_last_error(), "");
    }
    ck_assert_int_eq(mlp__alloc_live(), live);

    /* the input dims are copied */
    int32_t dims[1] = {6};
    m = tu_model(1, dims, 1);
    dims[0] = 99;
    tu_add(m, tu_dense(2));
    ck_assert_int_eq(mlp_model_param_count(m), 6 * 2 + 2);
    mlp_model_destroy(m);
    mlp_model_destroy(NULL);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(null_everywhere)
{
    mlp_model *m = small_model(1);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_tensor *x = random_batch(3, 1);
    mlp_tensor *pr = tu_tensor(2, 3, NCLS);
    const int32_t labels[3] = {0, 1, 2};
    const mlp_tensor *y = NULL, *dx = NULL;
    float buf[4];
    double d;
    int rank;
    int32_t dims[MLP_MAX_RANK];
    size_t len;

    ck_assert_int_eq(mlp_model_layer_count(NULL), 0);
    ck_assert_ptr_null(mlp_model_layer(NULL, 0));
    ck_assert_int_eq(mlp_model_param_count(NULL), 0);
    TU_FAIL(mlp_model_add(m, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_output_shape(NULL, -1, &rank, dims), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_get_params(NULL, buf, 4), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_get_params(m, NULL, mlp_model_param_count(m)),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_set_params(NULL, buf, 4), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_set_params(m, NULL, mlp_model_param_count(m)),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_forward(NULL, x, MLP_MODE_TRAIN, &y), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_forward(m, NULL, MLP_MODE_TRAIN, &y), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_forward(m, x, (mlp_mode)0, &y), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_forward(m, x, (mlp_mode)3, &y), MLP_STATUS_INVALID_ARG);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL)); /* y may be NULL */
    TU_FAIL(mlp_model_backward(NULL, pr, &dx), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_backward(m, NULL, &dx), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_train_step(NULL, o, x, labels, &d, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_train_step(m, NULL, x, labels, &d, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_train_step(m, o, NULL, labels, &d, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_train_step(m, o, x, NULL, &d, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_predict(NULL, x, pr), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_predict(m, NULL, pr), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_predict(m, x, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_evaluate(NULL, NULL, 10, &d, &d), MLP_STATUS_INVALID_ARG);
    TU_FAIL_MSG(mlp_model_evaluate(m, NULL, 10, &d, &d), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate: dataset is NULL");
    TU_FAIL(mlp_model_summary(NULL, NULL, 0, &len), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_summary(m, NULL, 16, &len), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_fit(NULL, o, NULL, NULL, NULL), MLP_STATUS_INVALID_ARG);
    mlp_dataset *ds = tu_blobs(10, NCLS, 1, 4, 5, 10, CENTRES, 1);
    TU_FAIL(mlp_model_fit(NULL, o, ds, NULL, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_fit(m, NULL, ds, NULL, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL_MSG(mlp_model_fit(m, o, NULL, ds, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: train is NULL");
    TU_FAIL_MSG(mlp_fit_options_init(NULL), MLP_STATUS_INVALID_ARG,
                "mlp_fit_options_init: the mlp_fit_options to fill is NULL");
    (mlp_fit_options_init)(NULL); /* the 0.1 initialiser: a no-op */

    /* a layer given to a NULL model is still consumed (freed) */
    long live = mlp__alloc_live();
    mlp_layer *l = tu_dense(3);
    TU_FAIL(mlp_model_add(NULL, l), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(mlp__alloc_live() == live,
                  "mlp_model_add(NULL, layer) leaked the layer");

    mlp_dataset_destroy(ds);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(pr);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(forward_input_shapes)
{
    const int32_t in[2] = {2, 3};
    mlp_model *m = tu_model(2, in, 1);
    tu_add(m, tu_dense(4));
    const mlp_tensor *y = NULL;
    /* accepted: [N, 2, 3] and [N, 6] */
    mlp_tensor *ok1 = tu_tensor(3, 5, 2, 3);
    mlp_tensor *ok2 = tu_tensor(2, 5, 6);
    TU_OK(mlp_model_forward(m, ok1, MLP_MODE_EVAL, &y));
    ck_assert_int_eq(mlp_tensor_dim(y, 0), 5);
    TU_OK(mlp_model_forward(m, ok2, MLP_MODE_TRAIN, &y));
    ck_assert_int_eq(mlp_tensor_dim(y, 0), 5);
    ck_assert_int_eq(mlp_tensor_dim(y, 1), 4);
    /* refused */
    mlp_tensor *bad[5] = {tu_tensor(2, 5, 7), tu_tensor(3, 5, 3, 2), tu_tensor(1, 6),
                          tu_tensor(4, 5, 2, 3, 1), tu_tensor(3, 5, 2, 4)};
    for (int i = 0; i < 5; i++) {
        mlp_status st = mlp_model_forward(m, bad[i], MLP_MODE_TRAIN, &y);
        ck_assert_msg(st == MLP_STATUS_SHAPE_MISMATCH, "bad input #%d -> %s: %s", i,
                      mlp_status_str(st), mlp_last_error());
        ck_assert_str_ne(mlp_last_error(), "");
        mlp_tensor_destroy(bad[i]);
    }
    mlp_tensor_destroy(ok1);
    mlp_tensor_destroy(ok2);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(backward_needs_training_forward)
{
    mlp_model *m = small_model(1);
    mlp_tensor *x = random_batch(3, 2);
    mlp_tensor *dy = tu_tensor(2, 3, NCLS);
    mlp_tensor_fill(dy, 0.1f);
    const mlp_tensor *dx = NULL;
    TU_FAIL(mlp_model_backward(m, dy, &dx), MLP_STATUS_BAD_STATE);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, NULL));
    TU_FAIL(mlp_model_backward(m, dy, &dx), MLP_STATUS_BAD_STATE);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, NULL));
    TU_FAIL(mlp_model_backward(m, dy, &dx), MLP_STATUS_BAD_STATE);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    /* dy must have the output's shape */
    mlp_tensor *wrong[3] = {tu_tensor(2, 3, NCLS + 1), tu_tensor(2, 4, NCLS),
                            tu_tensor(3, 3, 2, 2)};
    static const char *const said[3] = {"dy has shape [3,%d]", "dy has shape [4,%d]",
                                        "dy has shape [3,2,2]"};
    for (int i = 0; i < 3; i++) {
        TU_FAIL(mlp_model_backward(m, wrong[i], &dx), MLP_STATUS_SHAPE_MISMATCH);
        char want[64], expected[64];
        snprintf(want, sizeof want, said[i], i ? NCLS : NCLS + 1);
        snprintf(expected, sizeof expected, "a batch of 3 samples of [%d]", NCLS);
        ck_assert_msg(strstr(mlp_last_error(), want) &&
                          strstr(mlp_last_error(), expected),
                      "%s", mlp_last_error());
        mlp_tensor_destroy(wrong[i]);
    }
    TU_OK(mlp_model_backward(m, dy, &dx));
    ck_assert_ptr_nonnull(dx);
    ck_assert_int_eq(mlp_tensor_numel(dx), 3 * FEAT);
    TU_OK(mlp_model_backward(m, dy, NULL)); /* dx is optional */
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(empty_model)
{
    const int32_t in[1] = {4};
    mlp_model *m = tu_model(1, in, 1);
    ck_assert_int_eq(mlp_model_layer_count(m), 0);
    ck_assert_int_eq(mlp_model_param_count(m), 0);
    mlp_tensor *x = tu_tensor(2, 2, 4);
    const mlp_tensor *y = NULL;
    TU_FAIL(mlp_model_forward(m, x, MLP_MODE_EVAL, &y), MLP_STATUS_BAD_STATE);
    TU_FAIL(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y), MLP_STATUS_BAD_STATE);
    TU_FAIL(mlp_model_backward(m, x, NULL), MLP_STATUS_BAD_STATE);
    size_t len = 0;
    TU_OK(mlp_model_summary(m, NULL, 0, &len));
    ck_assert_uint_gt(len, 0);
    float none[1] = {0};
    TU_OK(mlp_model_get_params(m, none, 0));
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(add_layer_that_cannot_fit)
{
    const int32_t in[3] = {2, 3, 4};
    mlp_model *m = tu_model(3, in, 1);
    long live = mlp__alloc_live();
    const int32_t bad[2] = {5, 5};
    mlp_layer *r = tu_reshape(2, bad);
    TU_FAIL(mlp_model_add(m, r), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(mlp__alloc_live() == live, "refused layer not freed: %ld blocks",
                  mlp__alloc_live() - live);
    ck_assert_int_eq(mlp_model_layer_count(m), 0);

    /* the model is unharmed */
    const int32_t good[2] = {4, 6};
    tu_add(m, tu_reshape(2, good));
    tu_add(m, tu_dense(5));
    live = mlp__alloc_live();
    const int32_t four[2] = {2, 2};
    TU_FAIL(mlp_model_add(m, tu_reshape(2, four)), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_int_eq(mlp__alloc_live(), live);
    ck_assert_int_eq(mlp_model_layer_count(m), 2);
    int rank;
    int32_t d[MLP_MAX_RANK];
    TU_OK(mlp_model_output_shape(m, -1, &rank, d));
    ck_assert_int_eq(rank, 1);
    ck_assert_int_eq(d[0], 5);
    mlp_tensor *x = tu_tensor(4, 2, 2, 3, 4);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    ck_assert_int_eq(mlp_tensor_dim(y, 1), 5);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* Sizes past INT32_MAX are refused with their figures: an input of 2^33
 * values a sample, a dense layer of 3 billion weights, a convolution of
 * 2.25 billion; the model is left as it was and nothing stays allocated. */
START_TEST(sizes_past_int32_refused)
{
    long live = mlp__alloc_live();
    mlp_model *m = SENTINEL;
    TU_FAIL_MSG(mlp_model_create(&m, 3, (const int32_t[]){65536, 65536, 2}, 1),
                MLP_STATUS_INVALID_ARG,
                "the input has 8589934592 values per sample, more than 2147483647");
    ck_assert_ptr_null(m);
    m = tu_model(1, (const int32_t[]){100000}, 1);
    TU_FAIL_MSG(mlp_model_add(m, tu_dense(30000)), MLP_STATUS_SHAPE_MISMATCH,
                "dense: 100000 inputs x 30000 units is too many weights");
    ck_assert_int_eq(mlp_model_layer_count(m), 0);
    tu_add(m, tu_dense(3));
    mlp_model_destroy(m);
    m = tu_model(3, (const int32_t[]){50000, 3, 3}, 1);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_conv2d(&l, 50000, 5000, 3, 3));
    TU_FAIL_MSG(mlp_model_add(m, l), MLP_STATUS_SHAPE_MISMATCH,
                "5000 filters of 450000 weights over 1 output positions");
    ck_assert_int_eq(mlp_model_layer_count(m), 0);
    mlp_model_destroy(m);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(add_same_layer_twice)
{
    const int32_t in[1] = {4};
    mlp_model *m = tu_model(1, in, 1);
    mlp_layer *d = tu_add(m, tu_dense(4));
    long live = mlp__alloc_live();
    TU_FAIL(mlp_model_add(m, d), MLP_STATUS_INVALID_ARG);
    /* refused, and not freed: the model still owns and uses it */
    ck_assert_int_eq(mlp__alloc_live(), live);
    ck_assert_int_eq(mlp_model_layer_count(m), 1);
    ck_assert_ptr_eq(mlp_model_layer(m, 0), d);
    ck_assert_int_eq(mlp_model_param_count(m), 20);

    /* nor may a layer of another model join */
    mlp_model *other = tu_model(1, in, 2);
    mlp_layer *od = tu_add(other, tu_tanh());
    TU_FAIL(mlp_model_add(m, od), MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(mlp_model_layer_count(m), 1);
    ck_assert_int_eq(mlp_model_layer_count(other), 1);

    mlp_tensor *x = tu_tensor(2, 2, 4);
    mlp_tensor_fill(x, 0.5f);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    TU_OK(mlp_model_forward(other, x, MLP_MODE_TRAIN, NULL));
    mlp_tensor_destroy(x);
    mlp_model_destroy(other);
    mlp_model_destroy(m); /* valgrind/ASan catch a double free here */
}
END_TEST

/* An mlp_model_add that fails after moving some of the parameter buffers
 * leaves the model, its optimizer and its layers on the moved ones: the
 * next steps train it exactly as a twin that never tried (before, the
 * optimizer stepped the freed buffers). */
START_TEST(failed_add_leaves_the_model_training)
{
    const int32_t in[1] = {FEAT};
    const int32_t labels[4] = {0, 1, 2, 3};
    mlp_tensor *x = random_batch(4, 3);
    int failures = 0;
    for (int k = 1; k < 40; k++) {
        mlp_model *twin = tu_model(1, in, 9), *m = tu_model(1, in, 9);
        tu_add(twin, tu_dense(NCLS));
        tu_add(m, tu_dense(NCLS));
        mlp_optimizer *ot = NULL, *om = NULL;
        TU_OK(mlp_optimizer_create(&ot, MLP_RULE_MOMENTUM, twin));
        TU_OK(mlp_optimizer_create(&om, MLP_RULE_MOMENTUM, m));
        double lt, lm;
        TU_OK(mlp_model_train_step(twin, ot, x, labels, &lt, NULL));
        TU_OK(mlp_model_train_step(m, om, x, labels, &lm, NULL));
        mlp_layer *l = tu_dense(5);
        mlp__alloc_fail_after(k);
        mlp_status st = mlp_model_add(m, l);
        mlp__alloc_fail_after(0);
        if (st == MLP_STATUS_OK) {
            mlp_optimizer_destroy(ot);
            mlp_optimizer_destroy(om);
            mlp_model_destroy(twin);
            mlp_model_destroy(m);
            break;
        }
        ck_assert_int_eq(st, MLP_STATUS_NO_MEMORY);
        failures++;
        for (int step = 0; step < 2; step++) {
            TU_OK(mlp_model_train_step(twin, ot, x, labels, &lt, NULL));
            TU_OK(mlp_model_train_step(m, om, x, labels, &lm, NULL));
            ck_assert_double_eq(lt, lm);
        }
        float *pt = params_of(twin), *pm = params_of(m);
        ck_assert_int_eq(mlp_model_param_count(m), mlp_model_param_count(twin));
        ck_assert(memcmp(pt, pm, (size_t)mlp_model_param_count(m) * sizeof *pt) == 0);
        free(pt);
        free(pm);
        mlp_optimizer_destroy(ot);
        mlp_optimizer_destroy(om);
        mlp_model_destroy(twin);
        mlp_model_destroy(m);
    }
    ck_assert_int_ge(failures, 3);
    mlp_tensor_destroy(x);
}
END_TEST

/* The tensors a model lends are emptied when its buffers are made anew
 * (mlp_model_add, a larger batch): a caller who kept one gets a status,
 * not the freed memory. */
START_TEST(lent_tensors_are_emptied_with_the_buffers)
{
    mlp_model *m = small_model(1);
    mlp_tensor *x = random_batch(3, 2), *dy = tu_tensor(2, 3, NCLS);
    mlp_tensor_fill(dy, 0.1f);
    const mlp_tensor *y = NULL, *dx = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    TU_OK(mlp_model_backward(m, dy, &dx));
    float buf[3 * FEAT];
    TU_OK(mlp_tensor_copy_to(y, buf, 3 * NCLS));
    mlp_tensor *big = random_batch(50, 4);
    TU_OK(mlp_model_forward(m, big, MLP_MODE_EVAL, NULL)); /* remade, larger */
    const mlp_tensor *y2 = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y2));
    ck_assert_ptr_eq(y2, y);
    TU_OK(mlp_model_backward(m, dy, &dx));
    tu_add(m, tu_relu());
    ck_assert_int_eq(mlp_tensor_numel(y), 0);
    ck_assert_int_eq(mlp_tensor_numel(dx), 0);
    ck_assert_ptr_null(mlp_tensor_data_const(y));
    TU_FAIL(mlp_tensor_copy_to(y, buf, 3 * NCLS), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_tensor_copy_to(dx, buf, 3 * FEAT), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_int_ne(mlp_model_forward(m, y, MLP_MODE_EVAL, NULL), MLP_STATUS_OK);
    mlp_tensor_destroy(big);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
}
END_TEST

/* The tensors a model lends (forward's output, backward's input gradient)
 * are the model's: mlp_tensor_destroy frees nothing of them (before, it
 * freed a pointer into the model). */
START_TEST(tensor_destroy_leaves_a_models_tensors)
{
    const long live0 = mlp__alloc_live();
    mlp_model *m = small_model(1);
    mlp_tensor *x = random_batch(3, 2);
    mlp_tensor *dy = tu_tensor(2, 3, NCLS);
    mlp_tensor_fill(dy, 0.1f);
    const mlp_tensor *y = NULL, *dx = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    TU_OK(mlp_model_backward(m, dy, &dx));
    const long live = mlp__alloc_live();
    mlp_tensor_destroy((mlp_tensor *)y);
    ck_assert_msg(strstr(mlp_last_error(), "belongs to a model") != NULL, "%s",
                  mlp_last_error());
    mlp_tensor_destroy((mlp_tensor *)dx);
    ck_assert_int_eq(mlp__alloc_live(), live);
    /* still the model's, and still in use */
    ck_assert_int_eq(mlp_tensor_numel(y), 3 * NCLS);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    TU_OK(mlp_model_backward(m, dy, &dx));
    ck_assert_int_eq(mlp_tensor_numel(dx), 3 * FEAT);
    /* a reshaped view stays the model's */
    const int32_t flat[1] = {3 * NCLS};
    TU_OK(mlp_tensor_reshape((mlp_tensor *)y, 1, flat));
    mlp_tensor_destroy((mlp_tensor *)y);
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
    ck_assert_int_eq(mlp__alloc_live(), live0);
}
END_TEST

/* mlp_layer_destroy on a layer a model owns frees nothing: the model
 * keeps using it and frees it once (before, the model was left with a
 * freed layer, and mlp_model_destroy freed it again). */
START_TEST(layer_destroy_leaves_a_models_layer)
{
    const int32_t in[1] = {4};
    const long live0 = mlp__alloc_live();
    mlp_model *m = tu_model(1, in, 1);
    mlp_layer *d = tu_add(m, tu_dense(4));
    mlp_layer *t = tu_add(m, tu_tanh());
    long live = mlp__alloc_live();
    mlp_layer_destroy(d);
    mlp_layer_destroy(t);
    ck_assert_int_eq(mlp__alloc_live(), live);
    ck_assert_msg(strstr(mlp_last_error(), "belongs to a model") != NULL, "%s",
                  mlp_last_error());
    ck_assert_int_eq(mlp_layer_get_kind(mlp_model_layer(m, 0)), MLP_LAYER_DENSE);
    ck_assert_int_eq(mlp_model_param_count(m), 20);
    mlp_tensor *x = tu_tensor(2, 2, 4);
    mlp_tensor_fill(x, 0.5f);
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    mlp_tensor_destroy(x);
    mlp_model_destroy(m); /* valgrind/ASan catch a double free here */
    /* a layer never given to a model is still freed */
    mlp_layer *free_one = tu_dense(3);
    mlp_layer_destroy(free_one);
    ck_assert_int_eq(mlp__alloc_live(), live0);
}
END_TEST

/* ---- parameters ------------------------------------------------------------------ */

/* Batch-norm running statistics travel with mlp_model_get/set_state, so a
 * saved "best epoch" (parameters + state) reproduces its outputs exactly. */
START_TEST(state_round_trip)
{
    mlp_model *m = NULL;
    TU_OK(mlp_model_create(&m, 1, (const int32_t[]){4}, 3));
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_dense(&l, 3));
    TU_OK(mlp_model_add(m, l));
    TU_OK(mlp_layer_create_batchnorm(&l));
    TU_OK(mlp_model_add(m, l));
    ck_assert_int_eq(mlp_model_state_count(m), 6); /* running mean [3], variance [3] */
    ck_assert_int_eq(mlp_model_state_count(NULL), 0);

    mlp_tensor *x = NULL;
    TU_OK(mlp_tensor_create(&x, 2, (const int32_t[]){5, 4}));
    float *xd = mlp_tensor_data(x);
    for (int i = 0; i < 20; i++)
        xd[i] = (float)(i % 7) - 2.5f;
    float saved[6], now[6];
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    TU_OK(mlp_model_get_state(m, saved, 6));
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    float before[15];
    TU_OK(mlp_tensor_copy_to(y, before, 15));
    /* More training moves the statistics; restoring them restores the outputs. */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL));
    TU_OK(mlp_model_get_state(m, now, 6));
    ck_assert(memcmp(now, saved, sizeof now) != 0);
    TU_OK(mlp_model_set_state(m, saved, 6));
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    float after[15];
    TU_OK(mlp_tensor_copy_to(y, after, 15));
    ck_assert(memcmp(before, after, sizeof before) == 0);

    TU_FAIL(mlp_model_get_state(m, now, 5), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_set_state(m, saved, 7), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_get_state(NULL, now, 6), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_set_state(m, NULL, 6), MLP_STATUS_INVALID_ARG);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* The setters took NaN, infinities and state no layer holds, making a
 * model that saved to a file no load took. They now refuse such values
 * before copying any: the model is unchanged, and values at the edge of
 * what a layer holds are taken. */
START_TEST(setters_refuse_values_no_model_holds)
{
    /* standardize [4] (state: 4 means, 4 scales) -> dense 3 (15 parameters)
     * -> batch norm (gamma [3], beta [3]; state: mean [3], variance [3]) */
    mlp_model *m = NULL;
    TU_OK(mlp_model_create(&m, 1, (const int32_t[]){4}, 5));
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_standardize(&l));
    TU_OK(mlp_model_add(m, l));
    TU_OK(mlp_layer_create_dense(&l, 3));
    TU_OK(mlp_model_add(m, l));
    TU_OK(mlp_layer_create_batchnorm(&l));
    TU_OK(mlp_model_add(m, l));
    enum { NP = 21, NS = 14 };
    ck_assert_int_eq(mlp_model_param_count(m), NP);
    ck_assert_int_eq(mlp_model_state_count(m), NS);
    float p0[NP], s0[NS], p[NP], s[NS], now[NS > NP ? NS : NP];
    TU_OK(mlp_model_get_params(m, p0, NP));
    TU_OK(mlp_model_get_state(m, s0, NS));

    const struct {
        int state, at;
        float value;
        mlp_status st;
        const char *says;
    } cases[] = {
        {0, 4, NAN, MLP_STATUS_NUMERIC,
         "mlp_model_set_params: src[4]: layer 1 (dense): parameter 4 is NaN; a model "
         "holds finite values only (the model is unchanged)"},
        {0, 16, INFINITY, MLP_STATUS_NUMERIC,
         "src[16]: layer 2 (batchnorm): parameter 1 is +infinity"},
        {0, 20, -INFINITY, MLP_STATUS_NUMERIC,
         "src[20]: layer 2 (batchnorm): parameter 5 is -infinity"},
        {1, 12, -1.0f, MLP_STATUS_INVALID_ARG,
         "mlp_model_set_state: src[12]: layer 2 (batchnorm): state value 4 is -1; a "
         "running variance must be >= 0 (the model is unchanged)"},
        {1, 9, NAN, MLP_STATUS_NUMERIC,
         "src[9]: layer 2 (batchnorm): state value 1 is NaN"},
        {1, 3, INFINITY, MLP_STATUS_NUMERIC,
         "src[3]: layer 0 (standardize): state value 3 is +infinity"},
        {1, 5, 0.0f, MLP_STATUS_INVALID_ARG,
         "src[5]: layer 0 (standardize): state value 5 is 0; a scale must be > 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* changed values everywhere, so a partial copy shows */
        for (int k = 0; k < NP; k++)
            p[k] = p0[k] + 1.0f;
        for (int k = 0; k < NS; k++)
            s[k] = s0[k] + 1.0f;
        if (cases[i].state) {
            s[cases[i].at] = cases[i].value;
            TU_FAIL_MSG(mlp_model_set_state(m, s, NS), cases[i].st, cases[i].says);
            TU_OK(mlp_model_get_state(m, now, NS));
            ck_assert_msg(memcmp(now, s0, sizeof s0) == 0, "case %zu changed the state",
                          i);
        } else {
            p[cases[i].at] = cases[i].value;
            TU_FAIL_MSG(mlp_model_set_params(m, p, NP), cases[i].st, cases[i].says);
            TU_OK(mlp_model_get_params(m, now, NP));
            ck_assert_msg(memcmp(now, p0, sizeof p0) == 0,
                          "case %zu changed the parameters", i);
        }
    }
    /* At the edge: a running variance of 0, a tiny scale, large values. */
    s[12] = 0.0f;
    s[5] = 1e-38f;
    s[0] = -3e38f;
    TU_OK(mlp_model_set_state(m, s, NS));
    TU_OK(mlp_model_get_state(m, now, NS));
    ck_assert(memcmp(now, s, sizeof s) == 0);
    p[0] = 3e38f;
    p[4] = 0.0f;
    p[16] = -1.0f;
    p[20] = -1.0f;
    TU_OK(mlp_model_set_params(m, p, NP));
    TU_OK(mlp_model_get_params(m, now, NP));
    ck_assert(memcmp(now, p, sizeof p) == 0);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(params_round_trip)
{
    mlp_model *m = small_model(3);
    int64_t n = mlp_model_param_count(m);
    ck_assert_int_eq(n, FEAT * 16 + 16 + 16 * NCLS + NCLS);
    /* layout: layer after layer, each as mlp_layer_params */
    float *p = params_of(m);
    int64_t off = 0;
    for (int i = 0; i < mlp_model_layer_count(m); i++) {
        mlp_layer *l = mlp_model_layer(m, i);
        int64_t c = mlp_layer_param_count(l);
        if (c)
            ck_assert_mem_eq(p + off, mlp_layer_params(l), sizeof(float) * (size_t)c);
        off += c;
    }
    ck_assert_int_eq(off, n);

    tu_rng r;
    tu_rng_seed(&r, 8);
    float *q = malloc(sizeof(float) * (size_t)n);
    tu_fill_uniform(&r, q, n, -3, 3);
    TU_OK(mlp_model_set_params(m, q, n));
    float *back = params_of(m);
    ck_assert_mem_eq(q, back, sizeof(float) * (size_t)n);
    /* the values are copied in */
    q[0] = 1e6f;
    free(back);
    back = params_of(m);
    ck_assert_float_ne(back[0], 1e6f);

    /* wrong counts change nothing */
    TU_FAIL(mlp_model_set_params(m, p, n - 1), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_set_params(m, p, n + 1), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_set_params(m, p, 0), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_get_params(m, p, n - 1), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_get_params(m, p, n + 1), MLP_STATUS_SHAPE_MISMATCH);
    float *again = params_of(m);
    ck_assert_mem_eq(again, back, sizeof(float) * (size_t)n);

    /* set_params affects forward: the first dense layer's bias shows in
     * relu(x W1 + b1) with W1 = 0 */
    for (int64_t i = 0; i < n; i++)
        q[i] = 0.0f;
    for (int j = 0; j < 16; j++)
        q[FEAT * 16 + j] = (float)j * 0.1f; /* b1 */
    for (int j = 0; j < 16; j++)            /* W2[j][k] = (k == 1) */
        q[FEAT * 16 + 16 + j * NCLS + 1] = 1.0f;
    q[n - 1] = -7.0f; /* b2[3] */
    TU_OK(mlp_model_set_params(m, q, n));
    mlp_tensor *x = random_batch(2, 4);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    /* y = [0, sum_j 0.1 j = 12, 0, -7] for every sample */
    const float want[NCLS] = {0.0f, 12.0f, 0.0f, -7.0f};
    for (int s = 0; s < 2; s++)
        tu_assert_close_ff("y", mlp_tensor_data_const(y) + s * NCLS, want, NCLS, 1e-6,
                           1e-6);

    mlp_tensor_destroy(x);
    free(p);
    free(q);
    free(back);
    free(again);
    mlp_model_destroy(m);
}
END_TEST

/* ---- summary ------------------------------------------------------------------------
 */

START_TEST(summary_lists_layers_and_total)
{
    const int32_t in[1] = {13};
    const int32_t to[2] = {1, 11};
    mlp_model *m = tu_model(1, in, 1);
    tu_add(m, tu_dense(11)); /* 13*11 + 11 = 154 */
    tu_add(m, tu_sigmoid());
    tu_add(m, tu_tanh());
    tu_add(m, tu_relu());
    tu_add(m, tu_leaky_relu(0.1f));
    tu_add(m, tu_elu(1.0f));
    tu_add(m, tu_selu());
    tu_add(m, tu_reshape(2, to));
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(5)); /* 11*5 + 5 = 60; total 214 */
    ck_assert_int_eq(mlp_model_param_count(m), 214);

    size_t len = 0;
    TU_OK(mlp_model_summary(m, NULL, 0, &len));
    ck_assert_uint_gt(len, 0);
    char *buf = malloc(len + 1);
    memset(buf, 'x', len + 1);
    size_t len2 = 0;
    TU_OK(mlp_model_summary(m, buf, len + 1, &len2));
    ck_assert_uint_eq(len2, len);
    ck_assert_uint_eq(strlen(buf), len);

    static const char *const kinds[] = {"dense",      "sigmoid", "tanh", "relu",
                                        "leaky_relu", "elu",     "selu", "reshape"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        ck_assert_msg(strstr(buf, kinds[i]) != NULL, "summary lacks \"%s\":\n%s",
                      kinds[i], buf);
    for (int i = 0; i < mlp_model_layer_count(m); i++)
        ck_assert_msg(strstr(buf, mlp_layer_kind_name(mlp_model_layer(m, i))) != NULL,
                      "summary lacks layer %d", i);
    ck_assert_msg(strstr(buf, "214") != NULL, "summary lacks the total 214:\n%s", buf);
    ck_assert_msg(strstr(buf, "154") != NULL, "summary lacks 154:\n%s", buf);
    ck_assert_msg(strstr(buf, "60") != NULL, "summary lacks 60:\n%s", buf);
    int lines = 0;
    for (const char *c = buf; *c; c++)
        lines += *c == '\n';
    ck_assert_msg(lines >= mlp_model_layer_count(m), "only %d lines:\n%s", lines, buf);

    /* truncation keeps the NUL and the prefix, and still reports the full length */
    char small[10];
    memset(small, 'x', sizeof small);
    len2 = 0;
    TU_OK(mlp_model_summary(m, small, sizeof small, &len2));
    ck_assert_uint_eq(len2, len);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(memcmp(small, buf, sizeof small - 1), 0);
    char one[1] = {'x'};
    TU_OK(mlp_model_summary(m, one, 1, NULL));
    ck_assert_int_eq(one[0], '\0');
    /* a buffer of exactly len bytes loses the last character only */
    char *exact = malloc(len);
    TU_OK(mlp_model_summary(m, exact, len, NULL));
    ck_assert_uint_eq(strlen(exact), len - 1);
    ck_assert_int_eq(memcmp(exact, buf, len - 1), 0);
    free(exact);
    free(buf);
    mlp_model_destroy(m);
}
END_TEST

/* ---- training step
 * ---------------------------------------------------------------------- */

START_TEST(train_step_bad_labels)
{
    mlp_model *m = small_model(1);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    mlp_tensor *x = random_batch(4, 1);
    float *before = params_of(m);
    const int32_t bad[][4] = {{0, 1, -1, 2}, {0, NCLS, 1, 1}, {3, 3, 3, 1000}};
    for (int i = 0; i < 3; i++) {
        double loss;
        int32_t correct;
        TU_FAIL(mlp_model_train_step(m, o, x, bad[i], &loss, &correct),
                MLP_STATUS_INVALID_ARG);
        /* the call's name first, then the loss's words */
        static const char want[] = "mlp_model_train_step: softmax cross-entropy: label ";
        ck_assert_msg(strncmp(mlp_last_error(), want, sizeof want - 1) == 0, "%s",
                      mlp_last_error());
        float *after = params_of(m);
        ck_assert_msg(
            memcmp(before, after, sizeof(float) * (size_t)mlp_model_param_count(m)) == 0,
            "a refused step changed the parameters");
        free(after);
    }
    /* an optimizer of another model is refused too */
    mlp_model *m2 = small_model(2);
    mlp_optimizer *o2 = NULL;
    TU_OK(mlp_optimizer_create(&o2, MLP_RULE_SGD, m2));
    const int32_t good[4] = {0, 1, 2, 3};
    TU_FAIL(mlp_model_train_step(m, o2, x, good, NULL, NULL), MLP_STATUS_INVALID_ARG);
    float *after = params_of(m);
    ck_assert_mem_eq(before, after, sizeof(float) * (size_t)mlp_model_param_count(m));
    /* wrong input shape */
    mlp_tensor *xb = tu_tensor(2, 4, FEAT + 1);
    TU_FAIL(mlp_model_train_step(m, o, xb, good, NULL, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_OK(mlp_model_train_step(m, o, x, good, NULL, NULL));
    mlp_tensor_destroy(xb);
    free(after);
    free(before);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o2);
    mlp_model_destroy(m2);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* train_step must equal forward(train) + softmax xent + backward + step,
 * done by hand on a twin model. */
START_TEST(train_step_equals_manual_step)
{
    mlp_model *a = small_model(5), *b = small_model(5);
    ck_assert(params_equal(a, b));
    mlp_optimizer *oa = NULL, *ob = NULL;
    TU_OK(mlp_optimizer_create(&oa, MLP_RULE_MOMENTUM, a));
    TU_OK(mlp_optimizer_create(&ob, MLP_RULE_MOMENTUM, b));
    const int32_t n = 6;
    const int32_t labels[6] = {0, 1, 2, 3, 1, 2};
    mlp_tensor *dz = tu_tensor(2, n, NCLS);
    for (int step = 0; step < 3; step++) {
        mlp_tensor *x = random_batch(n, 40 + (uint64_t)step);
        double la = -1, lb = -2;
        int32_t ca = -1, cb = -2;
        TU_OK(mlp_model_train_step(a, oa, x, labels, &la, &ca));
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(b, x, MLP_MODE_TRAIN, &y));
        TU_OK(mlp_loss_softmax_xent(y, labels, &lb, dz, &cb));
        TU_OK(mlp_model_backward(b, dz, NULL));
        TU_OK(mlp_optimizer_step(ob));
        ck_assert_msg(tu_close(la, lb, 1e-6, 0), "step %d: loss %.9g vs %.9g", step, la,
                      lb);
        ck_assert_int_eq(ca, cb);
        int64_t np = mlp_model_param_count(a);
        float *pa = params_of(a), *pb = params_of(b);
        tu_assert_close_ff("params", pa, pb, np, 1e-6, 1e-7);
        free(pa);
        free(pb);
        mlp_tensor_destroy(x);
    }
    mlp_tensor_destroy(dz);
    mlp_optimizer_destroy(oa);
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(a);
    mlp_model_destroy(b);
}
END_TEST

START_TEST(train_step_numeric_keeps_params)
{
    mlp_model *m = small_model(1);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    int64_t n = mlp_model_param_count(m);
    float *big = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        big[i] = 1e30f; /* x W1 ~ 20 * 1e30, then * 1e30 again: infinite logits */
    TU_OK(mlp_model_set_params(m, big, n));
    mlp_tensor *x = random_batch(4, 1);
    const int32_t labels[4] = {0, 1, 2, 3};
    double loss = 0;
    TU_FAIL(mlp_model_train_step(m, o, x, labels, &loss, NULL), MLP_STATUS_NUMERIC);
    float *after = params_of(m);
    ck_assert_msg(memcmp(after, big, sizeof(float) * (size_t)n) == 0,
                  "parameters changed by a step that failed with MLP_STATUS_NUMERIC");
    free(after);
    free(big);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* "A training loop at a fixed batch size allocates nothing after its first
 * step." */
START_TEST(train_loop_allocates_nothing)
{
    mlp_model *m = small_model(1);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    mlp_tensor *x = random_batch(8, 1);
    const int32_t labels[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    mlp_tensor *x4 = random_batch(4, 2);
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    long live = mlp__alloc_live();
    for (int s = 0; s < 5; s++) {
        mlp__alloc_fail_after(1);
        mlp_status st = mlp_model_train_step(m, o, x, labels, NULL, NULL);
        mlp__alloc_fail_after(0);
        TU_ST(st, MLP_STATUS_OK);
    }
    /* a smaller batch fits in the buffers of the larger one */
    TU_OK(mlp_model_train_step(m, o, x4, labels, NULL, NULL));
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_tensor_destroy(x4);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* Changing batch sizes (buffers grow, then get reused) gives the same
 * per-sample outputs as one sample at a time. */
START_TEST(forward_batch_sizes_agree)
{
    mlp_model *m = small_model(9);
    const int32_t sizes[4] = {3, 10, 2, 10};
    mlp_tensor *x10 = random_batch(10, 77);
    float single[10][NCLS];
    mlp_tensor *x1 = tu_tensor(2, 1, FEAT);
    for (int s = 0; s < 10; s++) {
        TU_OK(mlp_tensor_copy_from(x1, mlp_tensor_data_const(x10) + s * FEAT, FEAT));
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(m, x1, MLP_MODE_EVAL, &y));
        TU_OK(mlp_tensor_copy_to(y, single[s], NCLS));
    }
    for (int k = 0; k < 4; k++) {
        int32_t n = sizes[k];
        mlp_tensor *x = tu_tensor(2, n, FEAT);
        TU_OK(mlp_tensor_copy_from(x, mlp_tensor_data_const(x10), (int64_t)n * FEAT));
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(m, x, k % 2 ? MLP_MODE_TRAIN : MLP_MODE_EVAL, &y));
        ck_assert_int_eq(mlp_tensor_dim(y, 0), n);
        for (int s = 0; s < n; s++)
            tu_assert_close_ff("batched y", mlp_tensor_data_const(y) + s * NCLS,
                               single[s], NCLS, 1e-5, 1e-6);
        mlp_tensor_destroy(x);
    }
    mlp_tensor_destroy(x1);
    mlp_tensor_destroy(x10);
    mlp_model_destroy(m);
}
END_TEST

/* ---- predict and evaluate
 * ---------------------------------------------------------------- */

START_TEST(predict_gives_probabilities)
{
    mlp_model *m = small_model(3);
    /* make the logits large enough that a naive softmax would overflow */
    int64_t n = mlp_model_param_count(m);
    float *p = params_of(m);
    for (int64_t i = 0; i < n; i++)
        p[i] *= 30.0f;
    TU_OK(mlp_model_set_params(m, p, n));
    free(p);
    mlp_tensor *x = random_batch(7, 5);
    mlp_tensor *pr = tu_tensor(2, 7, NCLS);
    TU_OK(mlp_model_predict(m, x, pr));
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    const float *z = mlp_tensor_data_const(y);
    const float *q = mlp_tensor_data_const(pr);
    for (int s = 0; s < 7; s++) {
        double mx = z[s * NCLS], sum = 0, want[NCLS];
        for (int k = 1; k < NCLS; k++)
            mx = fmax(mx, z[s * NCLS + k]);
        for (int k = 0; k < NCLS; k++)
            sum += want[k] = exp((double)z[s * NCLS + k] - mx);
        double rs = 0;
        for (int k = 0; k < NCLS; k++) {
            float v = q[s * NCLS + k];
            ck_assert_msg(v >= 0.0f && v <= 1.0f, "p[%d][%d] = %g", s, k, (double)v);
            ck_assert_msg(fabs(v - want[k] / sum) < 1e-5, "p[%d][%d] = %g, want %g", s, k,
                          (double)v, want[k] / sum);
            rs += v;
        }
        ck_assert_msg(fabs(rs - 1.0) < 1e-5, "row %d sums to %.9g", s, rs);
    }
    /* probs must be [N, K] */
    mlp_tensor *bad[3] = {tu_tensor(2, 7, NCLS + 1), tu_tensor(2, 6, NCLS),
                          tu_tensor(3, 7, NCLS, 1)};
    for (int i = 0; i < 3; i++) {
        TU_FAIL(mlp_model_predict(m, x, bad[i]), MLP_STATUS_SHAPE_MISMATCH);
        mlp_tensor_destroy(bad[i]);
    }
    mlp_tensor *xb = tu_tensor(2, 7, FEAT - 1);
    TU_FAIL(mlp_model_predict(m, xb, pr), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(mlp_last_error(), "got shape [7,19]"), "%s", mlp_last_error());

    /* a read-only input works; a read-only output is refused */
    mlp_tensor *xc = NULL, *pc = NULL;
    const int32_t xd[2] = {7, FEAT}, pd[2] = {7, NCLS};
    TU_OK(mlp_tensor_wrap_const(&xc, 2, xd, mlp_tensor_data_const(x)));
    TU_OK(mlp_model_predict(m, xc, pr));
    TU_OK(mlp_tensor_wrap_const(&pc, 2, pd, mlp_tensor_data_const(pr)));
    TU_FAIL(mlp_model_predict(m, x, pc), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(
        strstr(mlp_last_error(), "mlp_model_predict: probs is a read-only tensor"), "%s",
        mlp_last_error());
    mlp_tensor_destroy(xc);
    mlp_tensor_destroy(pc);
    mlp_tensor_destroy(xb);
    mlp_tensor_destroy(pr);
    mlp_tensor_destroy(x);
    mlp_model_destroy(m);
}
END_TEST

/* Mean softmax cross-entropy and the count of correct predictions over a
 * whole dataset, from gathered images, one forward pass and arithmetic in
 * double here: a reference independent of mlp_model_evaluate and fit. */
static void manual_eval(mlp_model *m, const mlp_dataset *ds, double *err, int *ok)
{
    const int32_t n = mlp_dataset_size(ds);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    ck_assert(idx && lab);
    for (int i = 0; i < n; i++)
        idx[i] = i;
    mlp_tensor *x = tu_tensor(2, n, FEAT);
    TU_OK(mlp_dataset_gather(ds, idx, n, mlp_tensor_data(x), lab));
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    const float *z = mlp_tensor_data_const(y);
    *err = 0;
    *ok = 0;
    for (int s = 0; s < n; s++) {
        const float *row = z + s * NCLS;
        int arg = 0;
        for (int k = 1; k < NCLS; k++)
            if (row[k] > row[arg])
                arg = k;
        *ok += arg == lab[s];
        double sum = 0;
        for (int k = 0; k < NCLS; k++)
            sum += exp((double)row[k] - row[arg]);
        *err += row[arg] + log(sum) - row[lab[s]];
    }
    *err /= n;
    free(idx);
    free(lab);
    mlp_tensor_destroy(x);
}

/* Error and accuracy recomputed from gathered images and forward passes. */
START_TEST(evaluate_matches_manual)
{
    mlp_model *m = small_model(4);
    const int32_t n = 53;
    mlp_dataset *ds = tu_blobs(n, NCLS, 1, 4, 5, 40, CENTRES, 9);
    double err;
    int ok;
    manual_eval(m, ds, &err, &ok);
    const int32_t batches[3] = {1, 7, 1000};
    for (int b = 0; b < 3; b++) {
        double e = -1, a = -1;
        TU_OK(mlp_model_evaluate(m, ds, batches[b], &e, &a));
        ck_assert_msg(tu_close(e, err, 1e-5, 1e-7), "batch %d: error %.9g, want %.9g",
                      batches[b], e, err);
        ck_assert_msg(fabs(a - (double)ok / n) < 1e-12,
                      "batch %d: accuracy %.9g, want %.9g", batches[b], a,
                      (double)ok / n);
        TU_OK(mlp_model_evaluate(m, ds, batches[b], NULL, &a));
        TU_OK(mlp_model_evaluate(m, ds, batches[b], &e, NULL));
    }
    TU_FAIL(mlp_model_evaluate(m, ds, 0, NULL, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_evaluate(m, ds, -5, NULL, NULL), MLP_STATUS_INVALID_ARG);
    mlp_dataset_destroy(ds);
    mlp_model_destroy(m);
}
END_TEST

/* A NaN bias makes the logits NaN: evaluate must say so, not return a
 * number. (A NaN weight need not reach the logits: the portable product,
 * like the reference BLAS, skips zero inputs such as a dead ReLU's.) */
START_TEST(evaluate_reports_numeric)
{
    mlp_model *m = small_model(4);
    mlp_dataset *ds = tu_blobs(30, NCLS, 1, 4, 5, 40, CENTRES, 9);
    mlp_layer *last = mlp_model_layer(m, 2);
    mlp_layer_params(last)[mlp_layer_param_count(last) - 1] = NAN;
    double e = -1, a = -1;
    TU_FAIL(mlp_model_evaluate(m, ds, 7, &e, &a), MLP_STATUS_NUMERIC);
    TU_FAIL(mlp_model_evaluate(m, ds, 100, NULL, NULL), MLP_STATUS_NUMERIC);
    mlp_dataset_destroy(ds);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(evaluate_wrong_dataset)
{
    mlp_model *m = small_model(4);
    double e, a;
    /* 1 x 5 x 5 images: 25 features for a 20-feature model */
    mlp_dataset *wide = tu_blobs(20, NCLS, 1, 5, 5, 10, 1, 1);
    TU_FAIL_MSG(
        mlp_model_evaluate(m, wide, 10, &e, &a), MLP_STATUS_SHAPE_MISMATCH,
        "mlp_model_evaluate: images have 25 values (1x5x5) but the model takes 20");
    /* ... and 25 float features */
    static float x25[2 * 25];
    mlp_dataset *flt = NULL;
    TU_OK(mlp_dataset_create_f32(&flt, 2, 1, (const int32_t[]){25}, x25,
                                 (const int32_t[]){0, 1}, NCLS, MLP_DATASET_BORROW));
    TU_FAIL_MSG(mlp_model_evaluate(m, flt, 10, &e, &a), MLP_STATUS_SHAPE_MISMATCH,
                "mlp_model_evaluate: samples have 25 values but the model takes 20");
    mlp_dataset_destroy(flt);
    /* 6 classes cannot be told apart by 4 outputs */
    mlp_dataset *many = tu_blobs(20, 6, 1, 4, 5, 10, 1, 1);
    TU_FAIL(mlp_model_evaluate(m, many, 10, &e, &a), MLP_STATUS_SHAPE_MISMATCH);
    mlp_dataset_destroy(wide);
    mlp_dataset_destroy(many);
    mlp_model_destroy(m);
}
END_TEST

/* Class names or weights set for a last layer that a later layer replaced
 * are refused by fit and evaluate before any work, as save refuses them
 * (check_io.c), not after a whole training run. */
START_TEST(fit_and_evaluate_refuse_class_counts_of_another_layer)
{
    const char *const names[3] = {"a", "b", "c"};
    const float w[3] = {1.0f, 2.0f, 1.0f};
    mlp_dataset *ds = tu_blobs(20, NCLS, 1, 4, 5, 40, CENTRES, 9);
    for (int what = 0; what < 2; what++) {
        mlp_model *m = tu_model(3, IMG, 5);
        tu_add(m, tu_dense(3));
        if (what == 0)
            TU_OK(mlp_model_set_class_names(m, names, 3));
        else
            TU_OK(mlp_model_set_class_weights(m, w, 3));
        tu_add(m, tu_dense(NCLS));
        const char *want =
            what ? "3 class weights but 4 outputs" : "3 class names but 4 outputs";
        mlp_optimizer *o = NULL;
        TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
        float *before = params_of(m);
        mlp_fit_options fo;
        mlp_fit_options_init(&fo);
        fo.epochs = 1;
        fo.batch_size = 5;
        TU_FAIL_MSG(mlp_model_fit(m, o, ds, NULL, &fo), MLP_STATUS_SHAPE_MISMATCH, want);
        float *after = params_of(m);
        ck_assert_msg(
            memcmp(before, after, (size_t)mlp_model_param_count(m) * sizeof(float)) == 0,
            "the refused fit trained");
        free(after);
        double e = 0.0, a = 0.0;
        TU_FAIL_MSG(mlp_model_evaluate(m, ds, 10, &e, &a), MLP_STATUS_SHAPE_MISMATCH,
                    want);
        if (what == 0)
            TU_OK(mlp_model_set_class_names(m, NULL, 0));
        else
            TU_OK(mlp_model_set_class_weights(m, NULL, 0));
        TU_OK(mlp_model_fit(m, o, ds, NULL, &fo));
        TU_OK(mlp_model_evaluate(m, ds, 10, &e, &a));
        free(before);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    mlp_dataset_destroy(ds);
}
END_TEST

/* ---- allocation failures
 * --------------------------------------------------------------------- */

typedef struct oom_data {
    mlp_dataset *tr, *va;
} oom_data;

/* Build, train, predict, fit, evaluate and summarise a small model on the
 * oom_data sets; stop at the first failure and free everything. */
static mlp_status build_and_train(void *ctx)
{
    const mlp_dataset *tr = ((oom_data *)ctx)->tr, *va = ((oom_data *)ctx)->va;
    mlp_model *m = NULL;
    mlp_optimizer *o = NULL;
    mlp_tensor *x = NULL, *pr = NULL;
    mlp_layer *l = NULL;
    mlp_status st;
    const int32_t xd[2] = {5, FEAT};
    const int32_t pd[2] = {5, NCLS};
    const int32_t labels[5] = {0, 1, 2, 3, 0};
    double loss, err, acc;
    int32_t correct;
    mlp_fit_options opts;

    if ((st = mlp_model_create(&m, 3, IMG, 1)))
        goto done;
    if ((st = mlp_layer_create_dense(&l, 8)))
        goto done;
    st = mlp_model_add(m, l); /* consumed, even on failure */
    if (st)
        goto done;
    if ((st = mlp_layer_create_elu(&l, 1.0f)))
        goto done;
    if ((st = mlp_model_add(m, l)))
        goto done;
    if ((st = mlp_layer_create_dense(&l, NCLS)))
        goto done;
    if ((st = mlp_model_add(m, l)))
        goto done;
    if ((st = mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m)))
        goto done;
    if ((st = mlp_tensor_create(&x, 2, xd)))
        goto done;
    mlp_tensor_fill(x, 0.5f);
    if ((st = mlp_model_train_step(m, o, x, labels, &loss, &correct)))
        goto done;
    if ((st = mlp_tensor_create(&pr, 2, pd)))
        goto done;
    if ((st = mlp_model_predict(m, x, pr)))
        goto done;
    mlp_fit_options_init(&opts);
    opts.epochs = 2;
    opts.batch_size = 16;
    opts.eval_batch_size = 8;
    if ((st = mlp_model_fit(m, o, tr, va, &opts)))
        goto done;
    if ((st = mlp_model_evaluate(m, va, 6, &err, &acc)))
        goto done;
    char buf[64];
    st = mlp_model_summary(m, buf, sizeof buf, NULL);
done:
    mlp_tensor_destroy(pr);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return st;
}

START_TEST(oom_build_and_train)
{
    oom_data d = {tu_blobs(40, NCLS, 1, 4, 5, 20, CENTRES, 1),
                  tu_blobs(20, NCLS, 1, 4, 5, 20, CENTRES, 2)};
    long live = mlp__alloc_live();
    TU_OK(build_and_train(&d));
    ck_assert_int_eq(mlp__alloc_live(), live);
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.max_attempts = 5000;
    cfg.ok_in_a_row = 3;
    cfg.min_failures = 8;
    tu_oom_loop("build and train", build_and_train, &d, &cfg);
    mlp_dataset_destroy(d.tr);
    mlp_dataset_destroy(d.va);
}
END_TEST

/* A model's first call that runs it (an evaluation, its metrics, a
 * prediction, a fit) makes its batch buffers; a failure there is
 * NO_MEMORY, not a write through the buffers it could not make (the
 * evaluation wrote its sums through NULL before). */
typedef struct first_call {
    oom_data d;
    int which; /* 0 evaluate, 1 metrics, 2 predict, 3 predict_one, 4 fit */
} first_call;

static mlp_status build_and_run_first(void *ctx)
{
    const first_call *f = ctx;
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    mlp_optimizer *o = NULL;
    mlp_tensor *x = NULL, *pr = NULL;
    const int32_t xd[2] = {5, FEAT}, pd[2] = {5, NCLS};
    float sample[FEAT] = {0}, out[NCLS];
    double err, acc;
    mlp_metrics mt;
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = 1;
    fo.batch_size = 16;
    mlp_status st = mlp_model_create(&m, 3, IMG, 1);
    TU_THEN(st, mlp_layer_create_dense(&l, NCLS));
    TU_THEN(st, mlp_model_add(m, l));
    switch (f->which) {
    case 0: TU_THEN(st, mlp_model_evaluate(m, f->d.va, 6, &err, &acc)); break;
    case 1: TU_THEN(st, mlp_model_evaluate_metrics(m, f->d.va, 6, &mt)); break;
    case 2:
        TU_THEN(st, mlp_tensor_create(&x, 2, xd));
        TU_THEN(st, mlp_tensor_create(&pr, 2, pd));
        TU_THEN(st, mlp_model_predict(m, x, pr));
        break;
    case 3:
        TU_THEN(st, mlp_model_predict_one(m, sample, FEAT, MLP_OUTPUT_PROBABILITIES, out,
                                          NCLS));
        break;
    default:
        TU_THEN(st, mlp_optimizer_create(&o, MLP_RULE_SGD, m));
        TU_THEN(st, mlp_model_fit(m, o, f->d.tr, f->d.va, &fo));
        break;
    }
    mlp_tensor_destroy(pr);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return st;
}

/* The first run of a fresh model sizes its batch buffers
 * (mlp__model_reserve); that memory running out was said as "out of
 * memory for a batch of 16", which named no call. Every call that runs a
 * model, with each allocation it makes failing in turn, gives messages
 * that start with its name; and the batch buffers' failure is among them. */
static long fail_at; /* the allocation that fails, from 1 */

static mlp_status run_fresh(int which, const oom_data *d, mlp_model *m, mlp_optimizer *o)
{
    static const int32_t labels[5] = {0, 1, 2, 3, 0};
    const int32_t xd[2] = {5, FEAT}, pd[2] = {5, NCLS};
    float sample[FEAT] = {0}, out[NCLS];
    double err, acc;
    mlp_tensor *x = tu_tensor(2, xd[0], xd[1]), *pr = tu_tensor(2, pd[0], pd[1]);
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = 1;
    fo.batch_size = 16;
    const mlp_tensor *y = NULL;
    mlp__alloc_fail_after(fail_at);
    mlp_status st = MLP_STATUS_INTERNAL;
    switch (which) {
    case 0: st = mlp_model_forward(m, x, MLP_MODE_EVAL, &y); break;
    case 1: st = mlp_model_train_step(m, o, x, labels, NULL, NULL); break;
    case 2: st = mlp_model_evaluate(m, d->va, 6, &err, &acc); break;
    case 3: st = mlp_model_predict(m, x, pr); break;
    case 4: st = mlp_model_predict_one(m, sample, FEAT, MLP_OUTPUT_RAW, out, NCLS); break;
    default: st = mlp_model_fit(m, o, d->tr, NULL, &fo); break;
    }
    mlp__alloc_fail_after(0);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(pr);
    return st;
}

START_TEST(out_of_memory_for_a_batch_names_the_call)
{
    static const char *const fns[] = {
        "mlp_model_forward: ", "mlp_model_train_step: ",  "mlp_model_evaluate: ",
        "mlp_model_predict: ", "mlp_model_predict_one: ", "mlp_model_fit: "};
    const oom_data d = {tu_blobs(40, NCLS, 1, 4, 5, 20, CENTRES, 1),
                        tu_blobs(20, NCLS, 1, 4, 5, 20, CENTRES, 2)};
    for (int which = 0; which < 6; which++) {
        int batch_failures = 0;
        for (fail_at = 1;; fail_at++) {
            mlp_model *m = small_model(5);
            mlp_optimizer *o = NULL;
            TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
            const mlp_status st = run_fresh(which, &d, m, o);
            mlp_optimizer_destroy(o);
            mlp_model_destroy(m);
            if (st == MLP_STATUS_OK)
                break;
            ck_assert_msg(st == MLP_STATUS_NO_MEMORY, "%s allocation %ld: %s: %s",
                          fns[which], fail_at, mlp_status_str(st), mlp_last_error());
            ck_assert_msg(strncmp(mlp_last_error(), fns[which], strlen(fns[which])) == 0,
                          "allocation %ld: \"%s\" does not start with \"%s\"", fail_at,
                          mlp_last_error(), fns[which]);
            batch_failures +=
                strstr(mlp_last_error(), "out of memory for a batch") != NULL;
            ck_assert_int_lt(fail_at, 200);
        }
        ck_assert_msg(batch_failures > 0, "%s never failed to size its batch",
                      fns[which]);
    }
    mlp_dataset_destroy(d.tr);
    mlp_dataset_destroy(d.va);
}
END_TEST

START_TEST(oom_first_call_of_a_fresh_model)
{
    static const char *const names[] = {"a first evaluate", "a first evaluate_metrics",
                                        "a first predict", "a first predict_one",
                                        "a first fit"};
    first_call f = {{tu_blobs(40, NCLS, 1, 4, 5, 20, CENTRES, 1),
                     tu_blobs(20, NCLS, 1, 4, 5, 20, CENTRES, 2)},
                    0};
    for (f.which = 0; f.which < 5; f.which++) {
        long live = mlp__alloc_live();
        TU_OK(build_and_run_first(&f));
        ck_assert_int_eq(mlp__alloc_live(), live);
        tu_oom_cfg cfg;
        tu_oom_cfg_init(&cfg);
        cfg.ok_in_a_row = 3;
        cfg.min_failures = 4;
        tu_oom_loop(names[f.which], build_and_run_first, &f, &cfg);
    }
    mlp_dataset_destroy(f.d.tr);
    mlp_dataset_destroy(f.d.va);
}
END_TEST

/* ---- fit
 * ------------------------------------------------------------------------------------ */

typedef struct fit_log {
    int calls;
    int32_t epochs[64];
    double valid_acc[64], train_acc[64], train_err[64], valid_err[64], lr[64];
    int stop_at;     /* return non-zero at this epoch (0: never) */
    int batch_calls; /* on_batch calls in total */
    int32_t batches; /* the batches argument seen */
    int32_t last_epoch, last_batch;
    int batch_order_ok;
    double best_valid;
} fit_log;

static int on_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    fit_log *log = user;
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(s);
    if (log->calls < 64) {
        log->epochs[log->calls] = s->epoch;
        log->valid_acc[log->calls] = s->valid_acc;
        log->train_acc[log->calls] = s->train_acc;
        log->train_err[log->calls] = s->train_error;
        log->valid_err[log->calls] = s->valid_error;
        log->lr[log->calls] = s->learning_rate;
    }
    log->calls++;
    if (s->valid_acc > log->best_valid)
        log->best_valid = s->valid_acc;
    ck_assert(s->train_seconds >= 0 && s->eval_seconds >= 0);
    return log->stop_at != 0 && s->epoch >= log->stop_at;
}

static void on_batch(int32_t epoch, int32_t batch, int32_t batches, void *user)
{
    fit_log *log = user;
    if (log->batch_calls == 0 || epoch != log->last_epoch) {
        /* a new epoch starts with the lowest batch number */
        if (log->batch_calls > 0 && epoch < log->last_epoch)
            log->batch_order_ok = 0;
    } else if (batch != log->last_batch + 1) {
        log->batch_order_ok = 0;
    }
    if (batch < 0 || batch > batches)
        log->batch_order_ok = 0;
    log->last_epoch = epoch;
    log->last_batch = batch;
    log->batches = batches;
    log->batch_calls++;
}

START_TEST(fit_options_defaults)
{
    mlp_fit_options o;
    memset(&o, 0xAB, sizeof o);
    mlp_fit_options_init(&o);
    ck_assert_uint_eq(o.struct_size, sizeof(mlp_fit_options));
    ck_assert_int_eq(o.epochs, 10);
    ck_assert_int_eq(o.batch_size, 100);
    ck_assert_int_eq(o.eval_batch_size, 1000);
    ck_assert_uint_eq(o.seed, 0);
    ck_assert_ptr_null((void *)(uintptr_t)o.on_epoch);
    ck_assert_ptr_null((void *)(uintptr_t)o.on_batch);
    ck_assert_ptr_null(o.user);
    ck_assert_int_eq(o.first_epoch, 1);
    ck_assert(o.max_train_loss == 0.0);
}
END_TEST

/* The size of mlp_fit_options in release 0.1: cut after first_epoch. */
#define FIT_OPTIONS_SIZE_0_1 offsetof(mlp_fit_options, max_train_loss)

/* A caller built against an older header has a smaller struct: the
 * initialisers write exactly its size and nothing beyond. */
START_TEST(fit_options_init_writes_only_the_callers_size)
{
    enum { SENTINEL = 0x5A };
    unsigned char buf[sizeof(mlp_fit_options) + 32];
    const size_t sizes[] = {FIT_OPTIONS_SIZE_0_1, sizeof(mlp_fit_options)};
    for (size_t k = 0; k < 2; k++) {
        memset(buf, SENTINEL, sizeof buf);
        mlp_fit_options *o = (mlp_fit_options *)(void *)buf;
        TU_OK(mlp_fit_options_init_size(o, sizes[k]));
        ck_assert_uint_eq(o->struct_size, sizes[k]);
        ck_assert_int_eq(o->epochs, 10);
        ck_assert_int_eq(o->first_epoch, 1);
        for (size_t i = sizes[k]; i < sizeof buf; i++)
            ck_assert_msg(buf[i] == SENTINEL, "size %zu: byte %zu written", sizes[k], i);
    }
    /* the 0.1 initialiser, which old binaries call, writes the 0.1 layout */
    memset(buf, SENTINEL, sizeof buf);
    (mlp_fit_options_init)((mlp_fit_options *)(void *)buf);
    ck_assert_uint_eq(((mlp_fit_options *)(void *)buf)->struct_size,
                      FIT_OPTIONS_SIZE_0_1);
    for (size_t i = FIT_OPTIONS_SIZE_0_1; i < sizeof buf; i++)
        ck_assert_msg(buf[i] == SENTINEL, "mlp_fit_options_init wrote byte %zu", i);
}
END_TEST

START_TEST(fit_options_bad_sizes)
{
    const size_t bad[] = {0,
                          1,
                          sizeof(size_t),
                          FIT_OPTIONS_SIZE_0_1 - 8,
                          FIT_OPTIONS_SIZE_0_1 + 4,
                          sizeof(mlp_fit_options) + 8,
                          SIZE_MAX};
    mlp_model *m = small_model(7);
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    mlp_dataset *tr = tu_blobs(40, NCLS, 1, 4, 5, 30, CENTRES, 1);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mlp_fit_options o;
        memset(&o, 0x5A, sizeof o);
        TU_FAIL(mlp_fit_options_init_size(&o, bad[k]), MLP_STATUS_INVALID_ARG);
        ck_assert_msg(strstr(mlp_last_error(), "mlp_fit_options_init") != NULL,
                      "the message does not say how to initialise: %s", mlp_last_error());
        size_t untouched;
        memset(&untouched, 0x5A, sizeof untouched);
        ck_assert_msg(o.struct_size == untouched && o.epochs == 0x5A5A5A5A,
                      "a refused init wrote the struct");
        mlp_fit_options_init(&o);
        o.epochs = 1;
        o.struct_size = bad[k];
        TU_FAIL(mlp_model_fit(m, opt, tr, NULL, &o), MLP_STATUS_INVALID_ARG);
        /* the size of this release's struct: the newest of those known */
        char want[64];
        snprintf(want, sizeof want, "(this one's is %zu)", sizeof(mlp_fit_options));
        ck_assert_msg(strstr(mlp_last_error(), "struct_size") != NULL &&
                          strstr(mlp_last_error(), want) != NULL,
                      "want '%s' in: %s", want, mlp_last_error());
    }
    TU_FAIL(mlp_fit_options_init_size(NULL, sizeof(mlp_fit_options)),
            MLP_STATUS_INVALID_ARG);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

/* Options of the 0.1 size: the library reads nothing past them, so
 * whatever lies there (here a guard that would stop the first batch) has
 * no effect, and the defaults apply instead. */
START_TEST(fit_options_old_size_reads_no_further)
{
    mlp_model *m = small_model(7);
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    mlp_dataset *tr = tu_blobs(100, NCLS, 1, 4, 5, 30, CENTRES, 1);
    fit_log log;
    memset(&log, 0, sizeof log);
    mlp_fit_options o;
    /* zeros beyond the 0.1 fields, for the call below that claims them all
     * (the fields of later releases, drop_last say, left unset were read
     * as whatever the stack held) */
    memset(&o, 0, sizeof o);
    TU_OK(mlp_fit_options_init_size(&o, FIT_OPTIONS_SIZE_0_1));
    o.epochs = 2;
    o.on_epoch = on_epoch;
    o.user = &log;
    o.max_train_loss = 1e-9; /* beyond the 0.1 size: must be ignored */
    TU_OK(mlp_model_fit(m, opt, tr, NULL, &o));
    ck_assert_int_eq(log.calls, 2);
    o.struct_size = sizeof o; /* now the guard is read, and trips */
    TU_FAIL(mlp_model_fit(m, opt, tr, NULL, &o), MLP_STATUS_NUMERIC);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

/* max_train_loss stops a run whose loss grows without becoming infinite. */
START_TEST(fit_max_train_loss_stops_divergence)
{
    mlp_dataset *tr = tu_blobs(200, NCLS, 1, 4, 5, 30, CENTRES, 1);
    mlp_model *m = small_model(7);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
    fit_log log;
    memset(&log, 0, sizeof log);
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 3;
    opts.batch_size = 20;
    opts.on_epoch = on_epoch;
    opts.user = &log;
    /* a sane run stays under a loose guard */
    opts.max_train_loss = 100.0;
    TU_OK(mlp_model_fit(m, o, tr, NULL, &opts));
    ck_assert_int_eq(log.calls, 3);
    /* a guard below the loss at chance (ln 4 = 1.39) trips on the first batch */
    log.calls = 0;
    opts.max_train_loss = 0.5;
    mlp_model *fresh = small_model(8);
    mlp_optimizer *o2 = NULL;
    TU_OK(mlp_optimizer_create(&o2, MLP_RULE_SGD, fresh));
    TU_FAIL(mlp_model_fit(fresh, o2, tr, NULL, &opts), MLP_STATUS_NUMERIC);
    const char *msg = mlp_last_error();
    ck_assert_msg(strstr(msg, "max_train_loss") && strstr(msg, "epoch 1, batch 1"),
                  "message: %s", msg);
    ck_assert_int_eq(log.calls, 0);
    /* a negative or NaN guard is a mistake */
    opts.max_train_loss = -1.0;
    TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_INVALID_ARG);
    opts.max_train_loss = NAN;
    TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_INVALID_ARG);
    mlp_optimizer_destroy(o2);
    mlp_model_destroy(fresh);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

/* A batch_size above the training set's size is one batch of every sample,
 * as a batch_size of that size is: the same parameters after two epochs,
 * and INT32_MAX asks for no memory for 2^31 rows. */
START_TEST(fit_batch_larger_than_the_data)
{
    mlp_dataset *tr = tu_blobs(60, NCLS, 1, 4, 5, 30, CENTRES, 3);
    const int32_t sizes[] = {60, 61, INT32_MAX};
    float first[512], now[512];
    for (int i = 0; i < 3; i++) {
        mlp_model *m = small_model(7);
        ck_assert_int_le(mlp_model_param_count(m), 512);
        mlp_optimizer *o = NULL;
        TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
        mlp_fit_options opts;
        mlp_fit_options_init(&opts);
        opts.epochs = 2;
        opts.batch_size = sizes[i];
        TU_OK(mlp_model_fit(m, o, tr, NULL, &opts));
        TU_OK(mlp_model_get_params(m, i ? now : first, mlp_model_param_count(m)));
        if (i)
            ck_assert_msg(
                memcmp(first, now, (size_t)mlp_model_param_count(m) * sizeof(float)) == 0,
                "batch_size %d trained otherwise than 60", (int)sizes[i]);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    mlp_dataset_destroy(tr);
}
END_TEST

/* Four Gaussian blobs in 20 dimensions are linearly separable: a small MLP
 * must classify held-out samples almost perfectly. */
START_TEST(fit_separable_blobs)
{
    mlp_dataset *tr = tu_blobs(2000, NCLS, 1, 4, 5, 30, CENTRES, 100);
    mlp_dataset *va = tu_blobs(500, NCLS, 1, 4, 5, 30, CENTRES, 200);
    mlp_model *m = small_model(7);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));

    double err0, acc0;
    TU_OK(mlp_model_evaluate(m, va, 100, &err0, &acc0));

    fit_log log;
    memset(&log, 0, sizeof log);
    log.batch_order_ok = 1;
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 10;
    opts.batch_size = 32;
    opts.seed = 3;
    opts.on_epoch = on_epoch;
    opts.on_batch = on_batch;
    opts.user = &log;
    TU_OK(mlp_model_fit(m, o, tr, va, &opts));

    ck_assert_int_eq(log.calls, 10);
    for (int e = 0; e < 10; e++) {
        ck_assert_int_eq(log.epochs[e], e + 1);
        ck_assert(isfinite(log.train_err[e]) && log.train_err[e] >= 0);
        ck_assert(log.train_acc[e] >= 0 && log.train_acc[e] <= 1);
        ck_assert(isfinite(log.valid_err[e]));
        ck_assert(log.valid_acc[e] >= 0 && log.valid_acc[e] <= 1);
        ck_assert_double_eq_tol(log.lr[e], 0.1, 1e-12);
    }
    /* ceil(2000 / 32) = 63 batches per epoch */
    ck_assert_int_eq(log.batches, 63);
    ck_assert_int_eq(log.batch_calls, 10 * 63);
    ck_assert_msg(log.batch_order_ok, "on_batch numbers out of order");
    ck_assert_msg(log.train_err[9] < log.train_err[0],
                  "training error did not fall: %g -> %g", log.train_err[0],
                  log.train_err[9]);

    double err, acc;
    TU_OK(mlp_model_evaluate(m, va, 128, &err, &acc));
    ck_assert_msg(acc > 0.95, "validation accuracy %.4f (before training %.4f)", acc,
                  acc0);
    ck_assert_msg(err < err0, "validation error %g, before training %g", err, err0);
    /* the last epoch's statistics describe the final model */
    ck_assert_double_eq_tol(log.valid_acc[9], acc, 1e-9);
    ck_assert_msg(tu_close(log.valid_err[9], err, 1e-5, 1e-7), "%g vs %g",
                  log.valid_err[9], err);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
    mlp_dataset_destroy(va);
}
END_TEST

/*
 * The per-epoch figures against values computed here. With learning rate 0
 * the parameters never move, so the epoch's training loss (the batch losses
 * weighted by batch size) is the mean loss over the training set and the
 * training accuracy its fraction correct, whatever the order; 53 samples in
 * batches of 10 end with a batch of 3, so an unweighted mean differs. The
 * validation figures come from manual_eval too, not from
 * mlp_model_evaluate (which fit calls).
 */
START_TEST(fit_epoch_figures_exact)
{
    mlp_dataset *tr = tu_blobs(53, NCLS, 1, 4, 5, 60, CENTRES, 21);
    mlp_dataset *va = tu_blobs(29, NCLS, 1, 4, 5, 60, CENTRES, 22);
    mlp_model *m = small_model(5);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.0));
    double tr_err, va_err;
    int tr_ok, va_ok;
    manual_eval(m, tr, &tr_err, &tr_ok);
    manual_eval(m, va, &va_err, &va_ok);
    ck_assert_msg(tr_ok > 0 && tr_ok < 53, "a vacuous accuracy: %d of 53", tr_ok);

    fit_log log;
    memset(&log, 0, sizeof log);
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 2;
    opts.batch_size = 10;
    opts.eval_batch_size = 8;
    opts.on_epoch = on_epoch;
    opts.user = &log;
    TU_OK(mlp_model_fit(m, o, tr, va, &opts));
    ck_assert_int_eq(log.calls, 2);
    for (int e = 0; e < 2; e++) {
        ck_assert_msg(tu_close(log.train_err[e], tr_err, 1e-5, 1e-7),
                      "epoch %d: train_error %.9g, want %.9g", e + 1, log.train_err[e],
                      tr_err);
        ck_assert_msg(fabs(log.train_acc[e] - tr_ok / 53.0) < 1e-12,
                      "epoch %d: train_acc %.9g, want %d/53", e + 1, log.train_acc[e],
                      tr_ok);
        ck_assert_msg(tu_close(log.valid_err[e], va_err, 1e-5, 1e-7),
                      "epoch %d: valid_error %.9g, want %.9g", e + 1, log.valid_err[e],
                      va_err);
        ck_assert_msg(fabs(log.valid_acc[e] - va_ok / 29.0) < 1e-12,
                      "epoch %d: valid_acc %.9g, want %d/29", e + 1, log.valid_acc[e],
                      va_ok);
    }
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
    mlp_dataset_destroy(va);
}
END_TEST

/* first_epoch numbers the epochs (and picks their rates); it must be >= 1
 * and leave room for the last epoch number in an int32. */
static void add_relu(mlp_model *m)
{
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_relu(&l));
    tu_add(m, l);
}

/* A copy of n floats (the test fails when there is no memory). */
static float *floats_copy(const float *p, int64_t n)
{
    float *q = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    ck_assert_ptr_nonnull(q);
    memcpy(q, p, (size_t)n * sizeof(float));
    return q;
}

/* m's output from x (training and inference), its parameter gradients
 * from dy and, when want_dx, its input gradient, each the bits of m's
 * layers run one by one through their own forward and backward on
 * buffers of their own, whatever the model fused. dy stays the caller's. */
static void same_bits_one_by_one(mlp_model *m, const mlp_tensor *x, mlp_tensor *dy,
                                 int want_dx, const char *what)
{
    const int nl = m->n_layers;
    const int32_t n = mlp_tensor_dim(x, 0);
    const int64_t out = m->layers[nl - 1]->out_size, np = m->n_params;
    const mlp_tensor *y = NULL, *dx = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    float *ym = floats_copy(mlp_tensor_data_const(y), n * out);
    float *dy0 = floats_copy(mlp_tensor_data(dy), n * out);
    TU_OK(mlp_model_backward(m, dy, want_dx ? &dx : NULL));
    float *dxm = want_dx ? floats_copy(mlp_tensor_data_const(dx), n * m->in_size) : NULL;
    float *g = floats_copy(m->grads, np);
    ck_assert_msg(memcmp(dy0, mlp_tensor_data(dy), (size_t)(n * out) * sizeof(float)) ==
                      0,
                  "%s: the caller's dy was written", what);

    float **a = calloc((size_t)nl, sizeof *a), **d = calloc((size_t)nl + 1, sizeof *d);
    ck_assert(a && d);
    const float *in = mlp_tensor_data_const(x);
    for (int i = 0; i < nl; i++) {
        mlp_layer *li = m->layers[i];
        a[i] = malloc((size_t)(n * li->out_size) * sizeof(float));
        d[i] = malloc((size_t)(n * li->in_size) * sizeof(float));
        ck_assert(a[i] && d[i]);
        TU_OK(li->ops->forward(li, in, a[i], n, MLP_MODE_TRAIN));
        in = a[i];
    }
    ck_assert_msg(memcmp(a[nl - 1], ym, (size_t)(n * out) * sizeof(float)) == 0,
                  "%s: outputs differ", what);
    d[nl] = dy0;
    for (int i = nl - 1; i >= 0; i--) {
        mlp_layer *li = m->layers[i];
        TU_OK(li->ops->backward(li, i ? a[i - 1] : mlp_tensor_data_const(x), a[i],
                                d[i + 1], d[i], n));
    }
    if (want_dx)
        ck_assert_msg(memcmp(d[0], dxm, (size_t)(n * m->in_size) * sizeof(float)) == 0,
                      "%s: input gradients differ", what);
    for (int i = 0, off = 0; i < nl; off += (int)m->layers[i]->n_params, i++)
        ck_assert_msg(memcmp(g + off, m->layers[i]->grads,
                             (size_t)m->layers[i]->n_params * sizeof(float)) == 0,
                      "%s: gradients of layer %d (%s) differ", what, i,
                      m->layers[i]->ops->name);

    /* Inference (batch norm on its running statistics) too. */
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    memcpy(ym, mlp_tensor_data_const(y), (size_t)(n * out) * sizeof(float));
    in = mlp_tensor_data_const(x);
    for (int i = 0; i < nl; i++) {
        TU_OK(m->layers[i]->ops->forward(m->layers[i], in, a[i], n, MLP_MODE_EVAL));
        in = a[i];
    }
    ck_assert_msg(memcmp(a[nl - 1], ym, (size_t)(n * out) * sizeof(float)) == 0,
                  "%s: inference differs", what);
    for (int i = 0; i < nl; i++) {
        free(a[i]);
        free(d[i]);
    }
    free(a);
    free(d);
    free(ym);
    free(dy0);
    free(dxm);
    free(g);
}

/* ReLU, tanh and sigmoid write their output over their input's buffer
 * after a layer whose backward does not read its own output (conv, batch
 * norm, max pool, dense), and their input gradient over their output
 * gradient; first, or after ELU (whose backward reads its output), ReLU
 * keeps a buffer of its own. Either way the model's output, input gradient and
 * parameter gradients have the bits of its layers run one by one on
 * buffers of their own. */
START_TEST(relu_in_place_same_bits)
{
    enum { N = 6, LAYERS = 9, NETS = 3 };
    static const int shares[NETS][LAYERS] = {{0, 0, 1, 0, 1, 0, 0, 1, 0},
                                             {0, 0, 0, 0, 0, 1, 0, 1, 0},
                                             {0, 0, 0, 1, 0, 0, 1, 0, 0}};
    /* ReLUs that the batch norm before them applies (fuses_relu) */
    static const int fused[NETS][LAYERS] = {{0, 0, 1, 0, 0, 0, 0, 0, 0},
                                            {0, 0, 0, 0, 0, 0, 0, 0, 0},
                                            {0, 0, 0, 1, 0, 0, 1, 0, 0}};
    /* the max pool that takes the batch norm's planes (fuses_planes) */
    static const int planes[NETS][LAYERS] = {{0, 0, 0, 1, 0, 0, 0, 0, 0}};
    tu_rng rng;
    tu_rng_seed(&rng, 21);
    for (int net = 0; net < NETS; net++) {
        mlp_model *m = tu_model(3, (const int32_t[]){1, 8, 8}, 7);
        mlp_layer *l = NULL;
        if (net == 0) {
            TU_OK(mlp_layer_create_conv2d(&l, 1, 4, 3, 3));
            TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
            tu_add(m, l);
            TU_OK(mlp_layer_create_batchnorm_spatial(&l));
            tu_add(m, l);
            add_relu(m);
            TU_OK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0));
            tu_add(m, l);
            /* tanh, not ReLU: a ReLU here would stop the gradient of every
             * window whose inputs the fused ReLU zeroed, so that ReLU's
             * mask would never show in the gradients. */
            TU_OK(mlp_layer_create_tanh(&l));
            tu_add(m, l);
            TU_OK(mlp_layer_create_flatten(&l));
            tu_add(m, l);
            tu_add(m, tu_dense(5));
            add_relu(m);
        } else if (net == 2) { /* batch norm over features, a ReLU after a fused one */
            TU_OK(mlp_layer_create_flatten(&l));
            tu_add(m, l);
            tu_add(m, tu_dense(6));
            TU_OK(mlp_layer_create_batchnorm(&l));
            tu_add(m, l);
            add_relu(m);
            tu_add(m, tu_dense(5));
            TU_OK(mlp_layer_create_batchnorm(&l));
            tu_add(m, l);
            add_relu(m);
            add_relu(m);
        } else {
            add_relu(m);
            tu_add(m, tu_dense(6));
            TU_OK(mlp_layer_create_elu(&l, 1.0f));
            tu_add(m, l);
            add_relu(m);
            tu_add(m, tu_dense(5));
            TU_OK(mlp_layer_create_tanh(&l));
            tu_add(m, l);
            tu_add(m, tu_dense(7));
            tu_add(m, tu_sigmoid());
        }
        tu_add(m, tu_dense(3));
        const int nl = mlp_model_layer_count(m);
        ck_assert_int_eq(nl, LAYERS);
        mlp_tensor *x = tu_tensor(4, N, 1, 8, 8), *dy = tu_tensor(2, N, 3);
        tu_fill_uniform(&rng, mlp_tensor_data(x), mlp_tensor_numel(x), -1.0f, 1.0f);
        tu_fill_uniform(&rng, mlp_tensor_data(dy), mlp_tensor_numel(dy), -1.0f, 1.0f);
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL)); /* sizes the buffers */
        for (int i = 1; i < nl; i++) {
            ck_assert_msg((m->acts[i] == m->acts[i - 1]) == shares[net][i],
                          "net %d: layer %d (%s) shares its input's buffer: %d", net, i,
                          m->layers[i]->ops->name, m->acts[i] == m->acts[i - 1]);
            ck_assert_msg(mlp__model_fuses_relu(m, i) == fused[net][i],
                          "net %d: layer %d (%s) fused into the one before: %d", net, i,
                          m->layers[i]->ops->name, mlp__model_fuses_relu(m, i));
            ck_assert_msg(mlp__model_fuses_planes(m, i) == planes[net][i],
                          "net %d: layer %d (%s) takes planes: %d", net, i,
                          m->layers[i]->ops->name, mlp__model_fuses_planes(m, i));
        }
        char what[16];
        snprintf(what, sizeof what, "net %d", net);
        same_bits_one_by_one(m, x, dy, 1, what);
        mlp_tensor_destroy(x);
        mlp_tensor_destroy(dy);
        mlp_model_destroy(m);
    }
}
END_TEST

/* A max pool after batch norm takes the batch norm's planes (with or
 * without a ReLU between them, at any window, the 2x2 one on rows of 3, 4
 * and 8 or more outputs, which it reads through batch norm's scale and
 * shift (put_scaled), on planes of odd sizes, as
 * the last layer, after a first layer that gives no input gradient, on
 * two threads) and gives the bits of the layers run one by one; planes
 * larger than MLP__PLANE_MAX floats, and batch norm over features, stay
 * apart, with the same results. */
START_TEST(pool_takes_planes_same_bits)
{
    enum { CASES = 10 };
    static const struct {
        int32_t c, h, w, n;
        int relu, k, stride, pad, first, last, threads, fused;
    } cases[CASES] = {
        {3, 8, 8, 5, 1, 2, 2, 0, 0, 0, 1, 1},    /* conv, BN, ReLU, 2x2 pool, dense */
        {2, 7, 9, 4, 0, 2, 2, 0, 0, 0, 1, 1},    /* odd sizes: a row and a column left */
        {3, 9, 9, 4, 1, 3, 2, 1, 0, 0, 1, 1},    /* overlapping windows with padding */
        {2, 6, 6, 5, 1, 2, 2, 0, 1, 1, 1, 1},    /* BN first, the pool last */
        {8, 20, 20, 16, 1, 2, 2, 0, 0, 0, 2, 1}, /* 2 threads, each many planes */
        {1, 66, 64, 2, 1, 2, 2, 0, 0, 0, 1, 0},  /* planes over MLP__PLANE_MAX */
        {1, 64, 64, 2, 1, 2, 2, 0, 0, 0, 1, 1},  /* planes of MLP__PLANE_MAX */
        {2, 18, 17, 3, 0, 2, 2, 0, 0, 0, 1, 1},  /* rows of 8 outputs, no ReLU */
        {2, 5, 7, 3, 0, 2, 2, 0, 0, 0, 1, 1},    /* rows of 3 outputs, no ReLU */
        {4, 20, 20, 16, 1, 2, 2, 0, 1, 0, 2, 1}, /* BN first, 2 threads */
    };
    tu_rng rng;
    tu_rng_seed(&rng, 57);
    const int threads = mlp_get_num_threads();
    for (int t = 0; t < CASES; t++) {
        TU_OK(mlp_set_num_threads(cases[t].threads));
        const int32_t c = cases[t].c, h = cases[t].h, w = cases[t].w, n = cases[t].n;
        mlp_model *m = tu_model(3, (const int32_t[]){c, h, w}, 11 + (uint64_t)t);
        mlp_layer *l = NULL;
        if (!cases[t].first) {
            TU_OK(mlp_layer_create_conv2d(&l, c, c, 3, 3));
            TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
            tu_add(m, l);
        }
        const int bn = m->n_layers;
        TU_OK(mlp_layer_create_batchnorm_spatial(&l));
        tu_add(m, l);
        if (cases[t].relu)
            add_relu(m);
        TU_OK(mlp_layer_create_maxpool(&l, cases[t].k, cases[t].k, cases[t].stride,
                                       cases[t].pad));
        tu_add(m, l);
        const int pool = m->n_layers - 1;
        if (!cases[t].last) {
            TU_OK(mlp_layer_create_flatten(&l));
            tu_add(m, l);
            tu_add(m, tu_dense(4));
        }
        const mlp_layer *last = m->layers[m->n_layers - 1];
        mlp_tensor *x = tu_tensor(4, n, c, h, w),
                   *dy = tu_tensor(2, n, (int)last->out_size);
        tu_fill_uniform(&rng, mlp_tensor_data(x), mlp_tensor_numel(x), -1.0f, 1.0f);
        tu_fill_uniform(&rng, mlp_tensor_data(dy), mlp_tensor_numel(dy), -1.0f, 1.0f);
        /* Batch norm's own scale and shift, so that the ReLU cuts some;
         * without a ReLU, a shift under which most windows hold negative
         * values only (where a ReLU applied by mistake would show). */
        for (int64_t i = 0; i < m->layers[bn]->n_params; i++)
            m->layers[bn]->params[i] =
                cases[t].relu || i < c ? 0.5f + 0.25f * (float)i : -1.0f;
        ck_assert_int_eq(mlp__model_fuses_planes(m, pool), cases[t].fused);
        ck_assert_int_eq(mlp__model_fuses_relu(m, bn + 1), cases[t].relu);
        char what[24];
        snprintf(what, sizeof what, "case %d", t);
        same_bits_one_by_one(m, x, dy, 1, what);
        if (cases[t].first) /* no input gradient: the planes of dy go to a buffer */
            same_bits_one_by_one(m, x, dy, 0, what);
        mlp_tensor_destroy(x);
        mlp_tensor_destroy(dy);
        mlp_model_destroy(m);
    }
    /* Batch norm over features before a pool: the features are no planes. */
    mlp_model *m = tu_model(3, (const int32_t[]){2, 4, 4}, 5);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_batchnorm(&l));
    tu_add(m, l);
    TU_OK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0));
    tu_add(m, l);
    ck_assert_int_eq(mlp__model_fuses_planes(m, 1), 0);
    TU_OK(mlp_set_num_threads(threads));
    mlp_model_destroy(m);
}
END_TEST

/* Max pooling that takes batch norm's planes (with and without a ReLU
 * between them) on a window holding NaN: the 2x2/2 window reading batch
 * norm's plane through its scale and shift on rows of 3 outputs (the
 * scalar loop), 5 (vectors of 4) and 11 (vectors of 8), and a 3x3 window
 * taking the written plane (the general loop). Batch norm runs on its
 * running statistics (in training its batch mean would spread a NaN over
 * the channel), so a NaN in x is a NaN at that place of its output. For
 * every window of the last plane, a NaN at each position and at each pair
 * of positions: the model's output is the layers' run one by one (ops
 * forward) and the reference's (tu_ref_maxpool of batch norm's output,
 * after the ReLU: NaN where a window holds a NaN, the last NaN's place for
 * the gradient), and the pool's backward pass after the fused forward pass
 * sends the gradient to the same places. Behind the ReLU the NaN stays
 * (the ReLU layer gives NaN for NaN, and the fused passes the same). The
 * last two shapes have no pool (k 0; k -1: batch norm over features, not
 * planes): batch norm and the ReLU alone, fused (forward_relu), with a NaN
 * at each place of the last plane, against the layers one by one and the
 * output on clean x with NaN where x has it. */
START_TEST(pool_takes_planes_nan)
{
    static const struct {
        int32_t h, w, k, s, p;
    } shapes[] = {{4, 6, 2, 2, 0}, {3, 11, 2, 2, 0}, {2, 22, 2, 2, 0},
                  {5, 5, 3, 1, 1}, {3, 5, 0, 0, 0},  {3, 5, -1, 0, 0}};
    const int n_shapes = (int)(sizeof shapes / sizeof shapes[0]);
    char report[2048] = "";
    int failed = 0;
    for (int t = 0; t < 2 * n_shapes; t++) {
        const int relu = t / n_shapes;
        const int32_t c = 2, h = shapes[t % n_shapes].h, w = shapes[t % n_shapes].w,
                      k = shapes[t % n_shapes].k, st = shapes[t % n_shapes].s,
                      pad = shapes[t % n_shapes].p, n = 2;
        const int pooled = k > 0; /* else batch norm and the ReLU only */
        if (!pooled && !relu)
            continue;
        const int32_t OH = pooled ? (h + 2 * pad - k) / st + 1 : h,
                      OW = pooled ? (w + 2 * pad - k) / st + 1 : w;
        const int64_t plane = (int64_t)h * w, planes = (int64_t)n * c,
                      nx = planes * plane, ny = planes * OH * OW;
        mlp_model *m = k < 0 ? tu_model(1, (const int32_t[]){c * h * w}, 3)
                             : tu_model(3, (const int32_t[]){c, h, w}, 3);
        mlp_layer *bn = NULL, *pool = NULL;
        if (k < 0) /* over features: the same places, no planes */
            TU_OK(mlp_layer_create_batchnorm(&bn));
        else
            TU_OK(mlp_layer_create_batchnorm_spatial(&bn));
        tu_add(m, bn);
        if (relu)
            add_relu(m);
        if (pooled) {
            TU_OK(mlp_layer_create_maxpool(&pool, k, k, st, pad));
            tu_add(m, pool);
            ck_assert(mlp__model_fuses_planes(m, m->n_layers - 1));
        } else
            ck_assert(mlp__model_fuses_relu(m, 1));
        /* gamma, beta: a scale and shift per channel that the ReLU cuts */
        for (int64_t i = 0; i < bn->n_params; i++)
            bn->params[i] = i < c ? 0.5f + 0.5f * (float)i : -0.125f;
        mlp_tensor *x = k < 0 ? tu_tensor(2, n, c * h * w) : tu_tensor(4, n, c, h, w);
        float *clean = malloc(sizeof(float) * (size_t)nx);
        float *dy = malloc(sizeof(float) * (size_t)ny);
        float *z = malloc(sizeof(float) * (size_t)nx); /* the pool's input */
        float *yu = malloc(sizeof(float) * (size_t)ny);
        float *yf = malloc(sizeof(float) * (size_t)ny);
        float *want = malloc(sizeof(float) * (size_t)ny);
        float *dxf = malloc(sizeof(float) * (size_t)nx);
        float *dxu = malloc(sizeof(float) * (size_t)nx);
        float *dx_want = malloc(sizeof(float) * (size_t)nx);
        int64_t *arg = malloc(sizeof(int64_t) * (size_t)ny);
        ck_assert(clean && dy && z && yu && yf && want && dxf && dxu && dx_want && arg);
        tu_rng rng;
        tu_rng_seed(&rng, 800 + (uint64_t)t);
        tu_fill_uniform(&rng, clean, nx, -1.0f, 1.0f);
        tu_fill_uniform(&rng, dy, ny, -1.0f, 1.0f);
        if (!pooled) { /* the reference (in dx_want, unused without a pool): the
                        * layers' output on clean x, after a first model pass */
            const mlp_tensor *y = NULL;
            memcpy(mlp_tensor_data(x), clean, sizeof(float) * (size_t)nx);
            TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
            TU_OK(bn->ops->forward(bn, clean, z, n, MLP_MODE_EVAL));
            TU_OK(m->layers[1]->ops->forward(m->layers[1], z, dx_want, n, MLP_MODE_EVAL));
        }
        const int64_t last = (planes - 1) * plane;
        long runs = 0, bad = 0, nan_in_z = 0;
        char first[128] = "";
        for (int32_t oh = 0; oh < OH; oh++)
            for (int32_t ow = 0; ow < OW; ow++) {
                int64_t at[9] = {(int64_t)oh * w + ow};
                const int na =
                    pooled ? tu_window_positions(h, w, k, k, st, pad, oh, ow, at) : 1;
                for (int a = 0; a < na; a++)
                    at[a] += last;
                for (int a = 0; a < na; a++)
                    for (int b = a; b < na; b++) {
                        float *xv = mlp_tensor_data(x);
                        memcpy(xv, clean, sizeof(float) * (size_t)nx);
                        xv[at[a]] = NAN;
                        xv[at[b]] = NAN;
                        /* fused: the model; then the pool's backward pass */
                        const mlp_tensor *y = NULL;
                        TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
                        memcpy(yf, mlp_tensor_data_const(y), sizeof(float) * (size_t)ny);
                        if (pooled)
                            TU_OK(pool->ops->backward(pool, NULL, yf, dy, dxf, n));
                        /* one by one: batch norm, the ReLU, the pool */
                        TU_OK(bn->ops->forward(bn, xv, z, n, MLP_MODE_EVAL));
                        if (relu) {
                            mlp_layer *r = m->layers[1];
                            TU_OK(r->ops->forward(r, z, z, n, MLP_MODE_EVAL));
                        }
                        for (int64_t i = 0; i < nx; i++)
                            nan_in_z += isnan(z[i]) != 0;
                        if (pooled) {
                            TU_OK(pool->ops->forward(pool, z, yu, n, MLP_MODE_EVAL));
                            TU_OK(pool->ops->backward(pool, z, yu, dy, dxu, n));
                            tu_ref_maxpool((int32_t)planes, h, w, k, k, st, pad, z, want,
                                           arg);
                            tu_ref_unpool(arg, dy, ny, dx_want, nx);
                        } else { /* y: z; dx: unused (its checks compare alike) */
                            memcpy(yu, z, sizeof(float) * (size_t)ny);
                            for (int64_t i = 0; i < ny; i++)
                                want[i] = xv[i] != xv[i] ? NAN : dx_want[i];
                            memcpy(dxf, dx_want, sizeof(float) * (size_t)nx);
                            memcpy(dxu, dx_want, sizeof(float) * (size_t)nx);
                        }
                        int64_t f[4];
                        const int64_t e = tu_count_unlike(yf, want, ny, &f[0]) +
                                          tu_count_unlike(yu, want, ny, &f[1]) +
                                          tu_count_unlike(dxf, dx_want, nx, &f[2]) +
                                          tu_count_unlike(dxu, dx_want, nx, &f[3]);
                        runs++;
                        if (e && !bad++)
                            snprintf(first, sizeof first,
                                     "NaN at %lld and %lld: first unlike fused y %lld, "
                                     "y %lld, fused dx %lld, dx %lld",
                                     (long long)at[a], (long long)at[b], (long long)f[0],
                                     (long long)f[1], (long long)f[2], (long long)f[3]);
                    }
            }
        /* batch norm's plane holds the NaN, and after the ReLU still */
        if (bad || nan_in_z < runs) {
            const size_t used = strlen(report);
            snprintf(report + used, sizeof report - used,
                     "\n  %s%dx%d/%d pad %d on [%d,%d,%d]: %ld of %ld placements unlike; "
                     "%ld NaN in the pool's input; first: %s",
                     relu ? "ReLU, " : "", k, k, st, pad, c, h, w, bad, runs, nan_in_z,
                     first);
            failed++;
        }
        free(clean);
        free(dy);
        free(z);
        free(yu);
        free(yf);
        free(want);
        free(dxf);
        free(dxu);
        free(dx_want);
        free(arg);
        mlp_tensor_destroy(x);
        mlp_model_destroy(m);
    }
    ck_assert_msg(failed == 0, "pool after batch norm with NaN, %d cases fail:%s", failed,
                  report);
}
END_TEST

/* Spatial batch norm with a fused ReLU and no pool after it, so that the
 * gradient reaching the ReLU is not already zero where it cut (as a max
 * pool's mostly is): after a conv (the input gradient wanted) and as the
 * first layer (with and without it), on 1 and 2 threads, the bits of the
 * layers run one by one. */
START_TEST(bn_relu_without_pool_same_bits)
{
    tu_rng rng;
    tu_rng_seed(&rng, 91);
    const int threads = mlp_get_num_threads();
    for (int t = 0; t < 4; t++) {
        const int first = t & 1;
        TU_OK(mlp_set_num_threads(1 + (t >> 1)));
        mlp_model *m = tu_model(3, (const int32_t[]){3, 6, 7}, 31 + (uint64_t)t);
        mlp_layer *l = NULL;
        if (!first) {
            TU_OK(mlp_layer_create_conv2d(&l, 3, 4, 3, 3));
            TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
            tu_add(m, l);
        }
        const int bn = m->n_layers;
        TU_OK(mlp_layer_create_batchnorm_spatial(&l));
        tu_add(m, l);
        add_relu(m);
        TU_OK(mlp_layer_create_flatten(&l));
        tu_add(m, l);
        tu_add(m, tu_dense(3));
        ck_assert(mlp__model_fuses_relu(m, bn + 1));
        ck_assert(!mlp__model_fuses_planes(m, bn + 2));
        const int32_t n = 5;
        mlp_tensor *x = tu_tensor(4, n, 3, 6, 7), *dy = tu_tensor(2, n, 3);
        tu_fill_uniform(&rng, mlp_tensor_data(x), mlp_tensor_numel(x), -1.0f, 1.0f);
        tu_fill_uniform(&rng, mlp_tensor_data(dy), mlp_tensor_numel(dy), -1.0f, 1.0f);
        /* a scale and shift under which the ReLU cuts about a third */
        for (int64_t i = 0; i < m->layers[bn]->n_params; i++)
            m->layers[bn]->params[i] = i < m->layers[bn]->n_params / 2 ? 1.0f : 0.4f;
        char what[32];
        snprintf(what, sizeof what, "case %d", t);
        same_bits_one_by_one(m, x, dy, 1, what);
        if (first)
            same_bits_one_by_one(m, x, dy, 0, what);
        mlp_tensor_destroy(x);
        mlp_tensor_destroy(dy);
        mlp_model_destroy(m);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A ReLU fused into the batch norm before it as the model's last layer:
 * backward reads the caller's dy (masking it on the fly, never writing it)
 * and gives the bits of the two layers run one by one. */
START_TEST(fused_relu_last_layer)
{
    enum { N = 5, IN = 4, OUT = 6 };
    tu_rng rng;
    tu_rng_seed(&rng, 33);
    mlp_model *m = tu_model(1, (const int32_t[]){IN}, 3);
    tu_add(m, tu_dense(OUT));
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_batchnorm(&l));
    tu_add(m, l);
    add_relu(m);
    mlp_tensor *x = tu_tensor(2, N, IN), *dy = tu_tensor(2, N, OUT);
    tu_fill_uniform(&rng, mlp_tensor_data(x), mlp_tensor_numel(x), -1.0f, 1.0f);
    tu_fill_uniform(&rng, mlp_tensor_data(dy), mlp_tensor_numel(dy), -1.0f, 1.0f);
    float dy0[N * OUT], y[N * OUT], dxm[N * IN];
    memcpy(dy0, mlp_tensor_data(dy), sizeof dy0);
    const mlp_tensor *out = NULL, *dx = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &out));
    ck_assert(mlp__model_fuses_relu(m, 2));
    memcpy(y, mlp_tensor_data_const(out), sizeof y);
    TU_OK(mlp_model_backward(m, dy, &dx));
    memcpy(dxm, mlp_tensor_data_const(dx), sizeof dxm);
    ck_assert(memcmp(dy0, mlp_tensor_data(dy), sizeof dy0) == 0); /* dy is the caller's */
    const int64_t np = m->n_params;
    float *g = malloc((size_t)np * sizeof(float));
    ck_assert_ptr_nonnull(g);
    memcpy(g, m->grads, (size_t)np * sizeof(float));

    /* One by one, on buffers of their own. */
    float a0[N * OUT], a1[N * OUT], a2[N * OUT], d2[N * OUT], d1[N * OUT], d0[N * IN];
    mlp_layer *L0 = m->layers[0], *L1 = m->layers[1], *L2 = m->layers[2];
    TU_OK(L0->ops->forward(L0, mlp_tensor_data_const(x), a0, N, MLP_MODE_TRAIN));
    TU_OK(L1->ops->forward(L1, a0, a1, N, MLP_MODE_TRAIN));
    TU_OK(L2->ops->forward(L2, a1, a2, N, MLP_MODE_TRAIN));
    ck_assert(memcmp(a2, y, sizeof y) == 0);
    TU_OK(L2->ops->backward(L2, a1, a2, dy0, d2, N));
    TU_OK(L1->ops->backward(L1, a0, a1, d2, d1, N));
    TU_OK(L0->ops->backward(L0, mlp_tensor_data_const(x), a0, d1, d0, N));
    ck_assert(memcmp(d0, dxm, sizeof d0) == 0);
    ck_assert(memcmp(g, m->grads, (size_t)np * sizeof(float)) == 0);
    /* The mask mattered: some of the batch norm's outputs were cut to 0. */
    int cut = 0;
    for (int i = 0; i < N * OUT; i++)
        cut += a1[i] <= 0.0f && dy0[i] != 0.0f;
    ck_assert_int_gt(cut, 0);
    free(g);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(fit_first_epoch_bounds)
{
    mlp_dataset *tr = tu_blobs(20, NCLS, 1, 4, 5, 30, CENTRES, 1);
    mlp_model *m = small_model(7);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.1));
    TU_OK(mlp_optimizer_schedule_step(o, 1, 0.5));
    mlp_fit_options opts;
    const int32_t bad[] = {0, -1, INT32_MIN};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mlp_fit_options_init(&opts);
        opts.first_epoch = bad[i];
        TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_INVALID_ARG);
        ck_assert_msg(strstr(mlp_last_error(), "mlp_model_fit") &&
                          strstr(mlp_last_error(), "first_epoch"),
                      "first_epoch %d: \"%s\" does not name fit's first_epoch",
                      (int)bad[i], mlp_last_error());
    }
    mlp_fit_options_init(&opts);
    opts.epochs = 2;
    opts.first_epoch = INT32_MAX - 1; /* the last epoch would be INT32_MAX + 1 */
    TU_FAIL_MSG(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_INVALID_ARG,
                "first_epoch (2147483646) + epochs (2) is more than 2147483647");
    opts.first_epoch = INT32_MAX;
    opts.epochs = 1;
    TU_FAIL_MSG(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_INVALID_ARG,
                "first_epoch (2147483647) + epochs (1) is more than");

    /* first_epoch 3 of a step(1, 0.5) schedule from 0.1: epochs 3 and 4 at
     * 0.025 and 0.0125 */
    fit_log log;
    memset(&log, 0, sizeof log);
    mlp_fit_options_init(&opts);
    opts.epochs = 2;
    opts.first_epoch = 3;
    opts.batch_size = 5;
    opts.on_epoch = on_epoch;
    opts.user = &log;
    TU_OK(mlp_model_fit(m, o, tr, NULL, &opts));
    ck_assert_int_eq(log.calls, 2);
    ck_assert_int_eq(log.epochs[0], 3);
    ck_assert_int_eq(log.epochs[1], 4);
    ck_assert_double_eq_tol(log.lr[0], 0.025, 1e-15);
    ck_assert_double_eq_tol(log.lr[1], 0.0125, 1e-15);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

START_TEST(fit_callback_stops_early)
{
    mlp_dataset *tr = tu_blobs(300, NCLS, 1, 4, 5, 30, CENTRES, 1);
    mlp_model *m = small_model(7);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.05));
    fit_log log;
    memset(&log, 0, sizeof log);
    log.batch_order_ok = 1;
    log.stop_at = 3;
    log.best_valid = -1;
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 8;
    opts.batch_size = 64;
    opts.on_epoch = on_epoch;
    opts.on_batch = on_batch;
    opts.user = &log;
    TU_OK(mlp_model_fit(m, o, tr, NULL, &opts));
    ck_assert_int_eq(log.calls, 3);
    for (int e = 0; e < 3; e++) {
        ck_assert_int_eq(log.epochs[e], e + 1);
        /* no validation set: NaN */
        ck_assert_msg(isnan(log.valid_acc[e]), "valid_acc %g without a validation set",
                      log.valid_acc[e]);
        ck_assert(isnan(log.valid_err[e]));
        ck_assert_double_eq_tol(log.lr[e], 0.05, 1e-12);
    }
    ck_assert_int_eq(log.batches, 5); /* ceil(300 / 64) */
    ck_assert_int_eq(log.batch_calls, 3 * 5);
    ck_assert(log.batch_order_ok);

    /* the default options (no callbacks) run the default 10 epochs fine */
    TU_OK(mlp_model_fit(m, o, tr, NULL, NULL));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

/* dense, batch norm, relu, dense: a model with batch norm, which cannot
 * train on one sample; with drop_p > 0, dropout after the batch norm too,
 * for a model with state (the statistics) and noise (the dropout masks). */
static mlp_model *bn_model(uint64_t seed, float drop_p)
{
    mlp_model *m = tu_model(3, IMG, seed);
    mlp_layer *l = NULL;
    tu_add(m, tu_dense(8));
    TU_OK(mlp_layer_create_batchnorm(&l));
    tu_add(m, l);
    if (drop_p > 0.0f) {
        TU_OK(mlp_layer_create_dropout_p(&l, drop_p));
        tu_add(m, l);
    }
    tu_add(m, tu_relu());
    tu_add(m, tu_dense(NCLS));
    return m;
}

/* A step that fails inside fit (batch norm given a last batch of one row)
 * is reported with the epoch and batch where it stopped. */
START_TEST(fit_names_the_batch_a_step_failed_at)
{
    mlp_dataset *tr = tu_blobs(41, NCLS, 1, 4, 5, 30, CENTRES, 1);
    mlp_model *m = bn_model(3, 0.0f);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 2;
    opts.batch_size = 20; /* 20, 20, then 1 */
    TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_model_fit: epoch 1, batch 3: ") &&
                      strstr(mlp_last_error(), "batch norm: a batch of 1") &&
                      strstr(mlp_last_error(), "short last batch, 1 of 20 samples; "
                                               "drop_last in mlp_fit_options"),
                  "%s", mlp_last_error());
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

/* A short last batch that fails for another cause than its size (a NaN
 * written into a borrowed dataset after its creation) gets no drop_last
 * hint, which would not help. */
START_TEST(fit_hints_drop_last_only_for_a_batch_too_small)
{
    enum { N = 41 };
    static float x[N * FEAT];
    int32_t labels[N];
    tu_rng r;
    tu_rng_seed(&r, 11);
    tu_fill_uniform(&r, x, N * FEAT, 0.0f, 1.0f);
    for (int i = 0; i < N; i++)
        labels[i] = i % NCLS;
    mlp_dataset *tr = NULL;
    TU_OK(mlp_dataset_create_f32(&tr, N, 3, IMG, x, labels, NCLS, MLP_DATASET_BORROW));
    x[(N - 1) * FEAT + 3] = NAN; /* after the checks of creation */
    mlp_model *m = tu_model(3, IMG, 3);
    tu_add(m, tu_dense(8));
    tu_add(m, tu_relu());
    tu_add(m, tu_dense(NCLS));
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.batch_size = 100; /* one batch of 41 */
    TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_NUMERIC);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_model_fit: epoch 1, batch 1: ") &&
                      !strstr(mlp_last_error(), "drop_last"),
                  "%s", mlp_last_error());
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

/* Data of the model's input size in another arrangement (3x2 samples for a
 * 2x3 input) are refused by fit and the evaluations, as forward refuses such
 * a batch: they would be read in the wrong order. The same values flat, or
 * with a leading 1, and any arrangement for a model that takes a flat row,
 * are taken. */
START_TEST(fit_refuses_samples_of_another_arrangement)
{
    enum { N = 8 };
    float x[N * 6];
    uint8_t px[N * 6];
    int32_t lab[N];
    for (int i = 0; i < N * 6; i++) {
        x[i] = (float)(i % 7) / 7.0f;
        px[i] = (uint8_t)(i * 29);
    }
    for (int i = 0; i < N; i++)
        lab[i] = i % 2;
    mlp_dataset *sets[6] = {NULL};
    TU_OK(mlp_dataset_create_f32(&sets[0], N, 2, (int32_t[]){3, 2}, x, lab, 2,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_create(&sets[1], N, 1, 3, 2, px, lab, 2));
    TU_OK(mlp_dataset_create_f32(&sets[2], N, 2, (int32_t[]){2, 3}, x, lab, 2,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_create_f32(&sets[3], N, 1, (int32_t[]){6}, x, lab, 2,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_create(&sets[4], N, 1, 2, 3, px, lab, 2));
    TU_OK(mlp_dataset_create_f32(&sets[5], N, 3, (int32_t[]){1, 2, 3}, x, lab, 2,
                                 MLP_DATASET_COPY));
    mlp_model *conv = tu_model(3, (const int32_t[]){1, 2, 3}, 1);
    tu_add(conv, tu_dense(2));
    mlp_model *flat = tu_model(1, (const int32_t[]){6}, 1);
    tu_add(flat, tu_dense(2));
    mlp_optimizer *oc = NULL, *of = NULL;
    TU_OK(mlp_optimizer_create(&oc, MLP_RULE_SGD, conv));
    TU_OK(mlp_optimizer_create(&of, MLP_RULE_SGD, flat));
    mlp_fit_options f;
    mlp_fit_options_init(&f);
    f.epochs = 1;
    f.batch_size = 4;
    double e;
    mlp_metrics mt;
    for (int i = 0; i < 6; i++) {
        const mlp_status want = i < 2 ? MLP_STATUS_SHAPE_MISMATCH : MLP_STATUS_OK;
        ck_assert_int_eq(mlp_model_fit(conv, oc, sets[i], NULL, &f), want);
        if (i < 2)
            TU_ERROR_HAS("do not fit the model's input [1,2,3]");
        ck_assert_int_eq(mlp_model_fit(conv, oc, sets[2], sets[i], &f), want);
        ck_assert_int_eq(mlp_model_evaluate(conv, sets[i], 4, &e, NULL), want);
        ck_assert_int_eq(mlp_model_evaluate_metrics(conv, sets[i], 4, &mt), want);
        TU_OK(mlp_model_fit(flat, of, sets[i], NULL, &f));
    }
    mlp_optimizer_destroy(oc);
    mlp_optimizer_destroy(of);
    mlp_model_destroy(conv);
    mlp_model_destroy(flat);
    for (int i = 0; i < 6; i++)
        mlp_dataset_destroy(sets[i]);
}
END_TEST

typedef struct batch_log {
    int calls, batches, rows_ok;
} batch_log;

static void log_batch(int32_t epoch, int32_t batch, int32_t batches, void *user)
{
    (void)epoch;
    batch_log *l = user;
    l->calls++;
    l->batches = batches;
    l->rows_ok += batch <= batches;
}

/* drop_last: the fit trains on the full batches only, those a batcher with
 * drop_last gives (a loop of train steps over them, on a twin, ends at the
 * same parameters), and is refused when it would leave no batch. */
START_TEST(fit_drop_last)
{
    enum { N = 41, BS = 20, EPOCHS = 3 };
    mlp_dataset *tr = tu_blobs(N, NCLS, 1, 4, 5, 30, CENTRES, 1);
    mlp_model *m = bn_model(3, 0.0f), *twin = bn_model(3, 0.0f);
    mlp_optimizer *o = NULL, *ot = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    TU_OK(mlp_optimizer_create(&ot, MLP_RULE_MOMENTUM, twin));
    batch_log log = {0};
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = EPOCHS;
    opts.batch_size = BS;
    opts.seed = 9;
    opts.on_batch = log_batch;
    opts.user = &log;
    opts.drop_last = 1;
    TU_OK(mlp_model_fit(m, o, tr, NULL, &opts));
    ck_assert_int_eq(log.calls, 2 * EPOCHS);
    ck_assert_int_eq(log.batches, 2);
    ck_assert_int_eq(log.rows_ok, 2 * EPOCHS);

    mlp_batcher *b = NULL;
    TU_OK(mlp_batcher_create(&b, tr, BS, 1, opts.seed));
    TU_OK(mlp_batcher_set_drop_last(b, 1));
    mlp_tensor *x = tu_tensor(4, BS, 1, 4, 5);
    int32_t labels[BS], n = 0, steps = 0;
    for (int e = 0; e < EPOCHS; e++) {
        TU_OK(mlp_optimizer_start_epoch(ot, e));
        for (;;) {
            TU_OK(mlp_batcher_next(b, mlp_tensor_data(x), labels, &n));
            if (n == 0)
                break;
            ck_assert_int_eq(n, BS);
            TU_OK(mlp_model_train_step(twin, ot, x, labels, NULL, NULL));
            steps++;
        }
    }
    ck_assert_int_eq(steps, 2 * EPOCHS);
    ck_assert_msg(params_equal(m, twin), "the fit and the loop over its batches differ");

    /* a training set smaller than a batch leaves none: refused, nothing run */
    float *before = params_of(m);
    opts.batch_size = N + 1;
    log.calls = 0;
    TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "drop_last with batch_size 42 and 41 "
                                           "training samples leaves no batch"),
                  "%s", mlp_last_error());
    ck_assert_int_eq(log.calls, 0);
    float *after = params_of(m);
    ck_assert_mem_eq(before, after, sizeof(float) * (size_t)mlp_model_param_count(m));
    opts.batch_size = N; /* one batch of all of them */
    TU_OK(mlp_model_fit(m, o, tr, NULL, &opts));
    ck_assert_int_eq(log.calls, EPOCHS);
    free(before);
    free(after);
    mlp_tensor_destroy(x);
    mlp_batcher_destroy(b);
    mlp_optimizer_destroy(o);
    mlp_optimizer_destroy(ot);
    mlp_model_destroy(m);
    mlp_model_destroy(twin);
    mlp_dataset_destroy(tr);
}
END_TEST

/* An optimizer made before the model's last layer was added is refused
 * before the step runs: the model's parameters and its batch-norm
 * statistics stay as they were (the forward pass updated the statistics,
 * then the optimizer refused the step). */
START_TEST(stale_optimizer_refused_before_the_step)
{
    mlp_dataset *tr = tu_blobs(40, NCLS, 1, 4, 5, 30, CENTRES, 2);
    mlp_model *m = bn_model(5, 0.0f);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    tu_add(m, tu_relu()); /* no parameters, but the optimizer is stale */
    const int64_t np = mlp_model_param_count(m), ns = mlp_model_state_count(m);
    float *p0 = params_of(m), *s0 = malloc(sizeof(float) * (size_t)ns),
          *s1 = malloc(sizeof(float) * (size_t)ns);
    ck_assert(s0 && s1);
    TU_OK(mlp_model_get_state(m, s0, ns));
    mlp_tensor *x = tu_tensor(4, 20, 1, 4, 5);
    mlp_tensor_fill(x, 0.5f);
    int32_t labels[20] = {0};
    TU_FAIL(mlp_model_train_step(m, o, x, labels, NULL, NULL), MLP_STATUS_BAD_STATE);
    TU_ERROR_HAS("mlp_model_train_step: layers were added to the model since the "
                 "optimizer was created");
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.batch_size = 20;
    TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_BAD_STATE);
    TU_ERROR_HAS("mlp_model_fit: layers were added");
    float *p1 = params_of(m);
    TU_OK(mlp_model_get_state(m, s1, ns));
    ck_assert_mem_eq(p0, p1, sizeof(float) * (size_t)np);
    ck_assert_mem_eq(s0, s1, sizeof(float) * (size_t)ns);
    free(p0);
    free(p1);
    free(s0);
    free(s1);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

/* A training step refused for its input loses nothing: the parameters,
 * the batch-norm statistics and the dropout masks of later steps are
 * those of a twin that never took it. A label out of range was found by
 * the loss, after the forward pass had updated the statistics and drawn
 * masks; a NaN in x went through (the ReLU after batch norm made it 0, the
 * loss stayed finite) into the statistics and the first layer's weights,
 * and the step returned OK. */
START_TEST(refused_step_leaves_the_state)
{
    mlp_model *m = bn_model(6, 0.3f), *twin = bn_model(6, 0.3f);
    mlp_optimizer *o = NULL, *ot = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    TU_OK(mlp_optimizer_create(&ot, MLP_RULE_MOMENTUM, twin));
    mlp_tensor *x = random_batch(20, 3), *bad_x = random_batch(20, 3);
    TU_OK(mlp_tensor_reshape(x, 4, (const int32_t[]){20, 1, 4, 5}));
    TU_OK(mlp_tensor_reshape(bad_x, 4, (const int32_t[]){20, 1, 4, 5}));
    mlp_tensor_data(bad_x)[7] = NAN;
    int32_t labels[20], bad_labels[20];
    for (int i = 0; i < 20; i++)
        labels[i] = bad_labels[i] = i % NCLS;
    bad_labels[13] = NCLS;
    for (int round = 0; round < 2; round++) {
        TU_FAIL(mlp_model_train_step(m, o, x, bad_labels, NULL, NULL),
                MLP_STATUS_INVALID_ARG);
        TU_FAIL(mlp_model_train_step(m, o, bad_x, labels, NULL, NULL),
                MLP_STATUS_NUMERIC);
        TU_ERROR_HAS("mlp_model_train_step: x holds a NaN at sample 0, value 7; "
                     "training takes finite values only");
        mlp_tensor_data(bad_x)[7] = INFINITY;
        TU_FAIL(mlp_model_train_step(m, o, bad_x, labels, NULL, NULL),
                MLP_STATUS_NUMERIC);
        TU_ERROR_HAS("x holds an infinity at sample 0, value 7");
        mlp_tensor_data(bad_x)[7] = NAN;
        TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
        TU_OK(mlp_model_train_step(twin, ot, x, labels, NULL, NULL));
        ck_assert_msg(params_equal(m, twin), "round %d: the parameters differ", round);
        const int64_t ns = mlp_model_state_count(m);
        float a[64], b[64];
        ck_assert_int_le(ns, 64);
        TU_OK(mlp_model_get_state(m, a, ns));
        TU_OK(mlp_model_get_state(twin, b, ns));
        ck_assert_msg(memcmp(a, b, sizeof(float) * (size_t)ns) == 0,
                      "round %d: the statistics differ", round);
    }
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(bad_x);
    mlp_optimizer_destroy(o);
    mlp_optimizer_destroy(ot);
    mlp_model_destroy(m);
    mlp_model_destroy(twin);
}
END_TEST

/* Without a short last batch, drop_last changes nothing. */
START_TEST(fit_drop_last_without_a_short_batch)
{
    mlp_dataset *tr = tu_blobs(40, NCLS, 1, 4, 5, 30, CENTRES, 2);
    mlp_model *a = bn_model(4, 0.0f), *b = bn_model(4, 0.0f);
    mlp_optimizer *oa = NULL, *ob = NULL;
    TU_OK(mlp_optimizer_create(&oa, MLP_RULE_ADAM, a));
    TU_OK(mlp_optimizer_create(&ob, MLP_RULE_ADAM, b));
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 2;
    opts.batch_size = 20;
    TU_OK(mlp_model_fit(a, oa, tr, NULL, &opts));
    opts.drop_last = 1;
    TU_OK(mlp_model_fit(b, ob, tr, NULL, &opts));
    ck_assert(params_equal(a, b));
    mlp_optimizer_destroy(oa);
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(a);
    mlp_model_destroy(b);
    mlp_dataset_destroy(tr);
}
END_TEST

/* ---- what callbacks may do to the model they are fitting ---- */

typedef struct meddler {
    mlp_model *m;
    mlp_dataset *va;               /* what the callbacks evaluate */
    int run;                       /* 1: the callbacks run the model */
    int reshape;                   /* try what the fit refuses */
    int refused;                   /* such calls that returned BAD_STATE */
    int predicted;                 /* big predictions and evaluations made */
    double mse[4], r2[4], loss[4]; /* each epoch's training figures */
    int epochs;
} meddler;

/* A prediction and an evaluation on more rows than the fit's batches and
 * its validation batch: the model's batch buffers are made anew. */
static void meddle_batch(int32_t epoch, int32_t batch, int32_t batches, void *user)
{
    (void)epoch;
    (void)batches;
    meddler *d = user;
    if (!d->run || batch != 2)
        return;
    mlp_tensor *x = tu_tensor(2, 60 + 10 * d->predicted, FEAT);
    mlp_tensor *y = tu_tensor(2, 60 + 10 * d->predicted, 2);
    mlp_tensor_fill(x, 0.25f);
    TU_OK(mlp_model_predict_raw(d->m, x, y));
    double e = 0.0;
    TU_OK(mlp_model_evaluate(d->m, d->va, 80, &e, NULL));
    ck_assert(isfinite(e));
    d->predicted++;
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(y);
}

static int meddle_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    meddler *d = user;
    if (d->epochs < 4) {
        d->mse[d->epochs] = s->train_mse;
        d->r2[d->epochs] = s->train_r2;
        d->loss[d->epochs] = s->train_error;
    }
    d->epochs++;
    if (d->reshape) {
        long live = mlp__alloc_live();
        mlp_layer *l = tu_dense(3);
        d->refused += mlp_model_add(m, l) == MLP_STATUS_BAD_STATE; /* l freed */
        ck_assert_int_eq(mlp__alloc_live(), live);
        d->refused += mlp_model_set_loss(m, MLP_LOSS_HUBER, 0.5) == MLP_STATUS_BAD_STATE;
        d->refused += mlp_model_set_distributed(m, NULL) == MLP_STATUS_BAD_STATE;
        /* class weights are part of the loss */
        d->refused += mlp_model_set_class_weights(m, (const float[]){1.0f, 2.0f}, 2) ==
                      MLP_STATUS_BAD_STATE;
        ck_assert_int_eq(mlp_model_layer_count(m), 3);
        ck_assert_int_eq(mlp_model_get_loss(m, NULL), MLP_LOSS_MSE);
    }
    return 0;
}

/* A regression fit's figures with callbacks that meddle, against the same
 * fit with none. */
static void meddled_fit(meddler *d)
{
    enum { N = 120 };
    static float x[N * FEAT], t[N * 2];
    for (int i = 0; i < N * FEAT; i++)
        x[i] = (float)((i * 37) % 101) / 101.0f - 0.5f;
    for (int i = 0; i < N; i++) {
        t[2 * i] = x[i * FEAT] + 0.5f * x[i * FEAT + 3];
        t[2 * i + 1] = x[i * FEAT + 7] - x[i * FEAT + 11];
    }
    const int32_t shape[1] = {FEAT};
    mlp_dataset *tr = NULL;
    TU_OK(mlp_dataset_create_f32_values(&tr, N, 1, shape, x, 2, t, MLP_DATASET_COPY));
    mlp_model *m = tu_model(1, shape, 5);
    tu_add(m, tu_dense(8));
    tu_add(m, tu_tanh());
    tu_add(m, tu_dense(2));
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0.0));
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.05));
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 3;
    opts.batch_size = 16;
    opts.eval_batch_size = 40;
    opts.on_epoch = meddle_epoch;
    opts.on_batch = meddle_batch;
    opts.user = d;
    d->m = m;
    d->va = tr;
    TU_OK(mlp_model_fit(m, o, tr, tr, &opts));
    ck_assert_int_eq(d->epochs, 3);
    /* after the fit, the model takes layers again */
    TU_OK(mlp_model_add(m, tu_dense(3)));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}

START_TEST(fit_callbacks_may_run_the_model_not_reshape_it)
{
    meddler quiet = {0}, busy = {0};
    meddled_fit(&quiet);
    busy.run = 1;
    busy.reshape = 1;
    meddled_fit(&busy);
    ck_assert_int_eq(busy.predicted, 3);
    ck_assert_int_eq(busy.refused, 3 * 4);
    /* the training figures are the fit's own: a callback's evaluation
     * does not add into them, and remaking the batch buffers does not
     * lose them (it freed them under the fit before) */
    for (int e = 0; e < 3; e++) {
        ck_assert(isfinite(quiet.r2[e]));
        ck_assert_double_eq(busy.mse[e], quiet.mse[e]);
        ck_assert_double_eq(busy.r2[e], quiet.r2[e]);
        ck_assert_double_eq(busy.loss[e], quiet.loss[e]);
    }
}
END_TEST

static float *fit_run(uint64_t model_seed, uint64_t fit_seed, int64_t *np)
{
    mlp_dataset *tr = tu_blobs(500, NCLS, 1, 4, 5, 30, CENTRES, 11);
    mlp_dataset *va = tu_blobs(100, NCLS, 1, 4, 5, 30, CENTRES, 12);
    mlp_model *m = small_model(model_seed);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 2;
    opts.batch_size = 20;
    opts.seed = fit_seed;
    TU_OK(mlp_model_fit(m, o, tr, va, &opts));
    *np = mlp_model_param_count(m);
    float *p = params_of(m);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
    mlp_dataset_destroy(va);
    return p;
}

START_TEST(fit_is_deterministic)
{
    int64_t n;
    float *a = fit_run(1, 5, &n);
    float *b = fit_run(1, 5, &n);
    float *c = fit_run(2, 5, &n);
    float *d = fit_run(1, 6, &n);
    ck_assert_msg(memcmp(a, b, sizeof(float) * (size_t)n) == 0,
                  "same seeds, different parameters");
    ck_assert_msg(memcmp(a, c, sizeof(float) * (size_t)n) != 0,
                  "model seed 1 and 2 trained to the same parameters");
    ck_assert_msg(memcmp(a, d, sizeof(float) * (size_t)n) != 0,
                  "shuffle seed 5 and 6 trained to the same parameters");
    free(a);
    free(b);
    free(c);
    free(d);
}
END_TEST

START_TEST(fit_numeric_failure_names_layer)
{
    mlp_dataset *tr = tu_blobs(200, NCLS, 1, 4, 5, 30, CENTRES, 1);
    mlp_model *m = small_model(7);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 1e30));
    fit_log log;
    memset(&log, 0, sizeof log);
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 5;
    opts.batch_size = 20;
    opts.on_epoch = on_epoch;
    opts.user = &log;
    TU_FAIL(mlp_model_fit(m, o, tr, NULL, &opts), MLP_STATUS_NUMERIC);
    const char *msg = mlp_last_error();
    ck_assert_msg(strstr(msg, "layer") != NULL, "message does not name a layer: \"%s\"",
                  msg);
    ck_assert_msg(strstr(msg, "epoch") != NULL, "message does not name the epoch: \"%s\"",
                  msg);
    ck_assert_msg(strstr(msg, "batch") != NULL, "message does not name the batch: \"%s\"",
                  msg);

    /* a NaN put into the last layer: the first batch's loss is NaN and the
     * message names layer 2 (dense), epoch 1, batch 1 */
    mlp_model *m2 = small_model(7);
    mlp_optimizer *o2 = NULL;
    TU_OK(mlp_optimizer_create(&o2, MLP_RULE_SGD, m2));
    mlp_layer *last = mlp_model_layer(m2, 2);
    mlp_layer_params(last)[mlp_layer_param_count(last) - 1] = NAN; /* a bias */
    TU_FAIL(mlp_model_fit(m2, o2, tr, NULL, &opts), MLP_STATUS_NUMERIC);
    msg = mlp_last_error();
    ck_assert_msg(strstr(msg, "epoch 1, batch 1:") != NULL, "\"%s\"", msg);
    ck_assert_msg(strstr(msg, "layer 2 (dense)") != NULL, "\"%s\" names another layer",
                  msg);
    mlp_optimizer_destroy(o2);
    mlp_model_destroy(m2);
    /* finite parameters whose products overflow: the output is named */
    m2 = small_model(7);
    TU_OK(mlp_optimizer_create(&o2, MLP_RULE_SGD, m2));
    last = mlp_model_layer(m2, 2);
    for (int64_t i = 0; i < mlp_layer_param_count(last); i++)
        mlp_layer_params(last)[i] = 3e38f;
    TU_FAIL(mlp_model_fit(m2, o2, tr, NULL, &opts), MLP_STATUS_NUMERIC);
    msg = mlp_last_error();
    ck_assert_msg(strstr(msg, "epoch 1, batch 1:") &&
                      strstr(msg, "the output of layer 2 (dense) overflowed"),
                  "\"%s\"", msg);
    mlp_optimizer_destroy(o2);
    mlp_model_destroy(m2);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}
END_TEST

START_TEST(fit_misuse)
{
    mlp_model *m = small_model(7);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_dataset *good = tu_blobs(50, NCLS, 1, 4, 5, 30, CENTRES, 1);
    mlp_dataset *wide = tu_blobs(50, NCLS, 1, 5, 5, 30, 1, 1);
    mlp_dataset *many = tu_blobs(50, 7, 1, 4, 5, 30, 1, 1);
    TU_FAIL(mlp_model_fit(m, o, wide, NULL, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_fit(m, o, many, NULL, NULL), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_fit(m, o, good, wide, NULL), MLP_STATUS_SHAPE_MISMATCH);

    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.batch_size = 0;
    TU_FAIL(mlp_model_fit(m, o, good, NULL, &opts), MLP_STATUS_INVALID_ARG);
    mlp_fit_options_init(&opts);
    opts.epochs = -1;
    TU_FAIL(mlp_model_fit(m, o, good, NULL, &opts), MLP_STATUS_INVALID_ARG);
    mlp_fit_options_init(&opts);
    opts.eval_batch_size = 0;
    TU_FAIL(mlp_model_fit(m, o, good, good, &opts), MLP_STATUS_INVALID_ARG);
    /* 1 is the least, and the validation figures do not depend on it */
    fit_log by[2];
    for (int k = 0; k < 2; k++) {
        mlp_model *mk = small_model(9);
        mlp_optimizer *ok = NULL;
        TU_OK(mlp_optimizer_create(&ok, MLP_RULE_SGD, mk));
        memset(&by[k], 0, sizeof by[k]);
        mlp_fit_options_init(&opts);
        opts.epochs = 1;
        opts.eval_batch_size = k ? 1000 : 1;
        opts.on_epoch = on_epoch;
        opts.user = &by[k];
        TU_OK(mlp_model_fit(mk, ok, good, good, &opts));
        mlp_optimizer_destroy(ok);
        mlp_model_destroy(mk);
    }
    ck_assert_int_eq(by[0].calls, 1);
    /* the same up to the rounding of products of other shapes (rows of 1
     * against 50), which might tip one sample of the 50 */
    ck_assert_double_eq_tol(by[0].valid_err[0], by[1].valid_err[0],
                            1e-5 * by[1].valid_err[0]);
    ck_assert_double_eq_tol(by[0].valid_acc[0], by[1].valid_acc[0], 1.5 / 50);

    /* an optimizer made for another model */
    mlp_model *m2 = small_model(8);
    mlp_optimizer *o2 = NULL;
    TU_OK(mlp_optimizer_create(&o2, MLP_RULE_SGD, m2));
    mlp_fit_options_init(&opts);
    opts.epochs = 1;
    TU_FAIL(mlp_model_fit(m, o2, good, NULL, &opts), MLP_STATUS_INVALID_ARG);
    TU_OK(mlp_model_fit(m, o, good, good, &opts));

    mlp_optimizer_destroy(o2);
    mlp_model_destroy(m2);
    mlp_dataset_destroy(good);
    mlp_dataset_destroy(wide);
    mlp_dataset_destroy(many);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* The batches of a walk over [lo, hi) (mlp__batches), `batch` rows each,
 * into starts[] and counts[] (at most `cap`); their number. The bounds
 * pass through volatile objects, so the compiler cannot fold the walk. */
static int walk_batches(int32_t lo, int32_t hi, int32_t batch, int32_t *starts,
                        int32_t *counts, int cap)
{
    volatile int32_t vlo = lo, vhi = hi, vbatch = batch;
    mlp__batches w = {vlo, vhi, vbatch};
    int k = 0;
    for (int32_t start, n; k < cap && mlp__batches_next(&w, &start, &n); k++) {
        starts[k] = start;
        counts[k] = n;
    }
    return k;
}

/* Evaluation and standardisation walk a set in batches. A set may hold
 * 2^31 - 1 rows: a step of the batch size from the last batch's start
 * passed INT32_MAX, and both calls failed (2,147,483,600 rows: "rows
 * -2147483296..2147483599 are outside") after reading the whole set. */
START_TEST(batch_walk_ends_at_int32_max)
{
    int32_t st[8], ct[8];
    ck_assert_int_eq(walk_batches(0, 10, 4, st, ct, 8), 3);
    ck_assert(st[0] == 0 && ct[0] == 4 && st[1] == 4 && ct[1] == 4 && st[2] == 8 &&
              ct[2] == 2);
    ck_assert_int_eq(walk_batches(5, 5, 4, st, ct, 8), 0);
    ck_assert_int_eq(walk_batches(INT32_MAX - 1500, INT32_MAX, 1000, st, ct, 8), 2);
    ck_assert(st[0] == INT32_MAX - 1500 && ct[0] == 1000);
    ck_assert(st[1] == INT32_MAX - 500 && ct[1] == 500);
    ck_assert_int_eq(walk_batches(INT32_MAX - 600, INT32_MAX, 256, st, ct, 8), 3);
    ck_assert(st[2] == INT32_MAX - 88 && ct[2] == 88);
    ck_assert_int_eq(walk_batches(1, INT32_MAX, INT32_MAX, st, ct, 8), 1);
    ck_assert(st[0] == 1 && ct[0] == INT32_MAX - 1);
    ck_assert_int_eq(walk_batches(0, INT32_MAX, INT32_MAX - 1, st, ct, 8), 2);
    ck_assert(st[1] == INT32_MAX - 1 && ct[1] == 1);
}
END_TEST

static Suite *model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("misuse");
    tcase_add_test(tc, create_misuse);
    tcase_add_test(tc, null_everywhere);
    tcase_add_test(tc, forward_input_shapes);
    tcase_add_test(tc, backward_needs_training_forward);
    tcase_add_test(tc, empty_model);
    tcase_add_test(tc, add_layer_that_cannot_fit);
    tcase_add_test(tc, sizes_past_int32_refused);
    tcase_add_test(tc, add_same_layer_twice);
    tcase_add_test(tc, layer_destroy_leaves_a_models_layer);
    tcase_add_test(tc, tensor_destroy_leaves_a_models_tensors);
    tcase_add_test(tc, failed_add_leaves_the_model_training);
    tcase_add_test(tc, lent_tensors_are_emptied_with_the_buffers);
    suite_add_tcase(s, tc);

    tc = tcase_create("params");
    tcase_add_test(tc, params_round_trip);
    tcase_add_test(tc, state_round_trip);
    tcase_add_test(tc, setters_refuse_values_no_model_holds);
    tcase_add_test(tc, summary_lists_layers_and_total);
    suite_add_tcase(s, tc);

    tc = tcase_create("steps");
    tcase_add_test(tc, train_step_bad_labels);
    tcase_add_test(tc, train_step_equals_manual_step);
    tcase_add_test(tc, train_step_numeric_keeps_params);
    tcase_add_test(tc, train_loop_allocates_nothing);
    tcase_add_test(tc, forward_batch_sizes_agree);
    tcase_add_test(tc, predict_gives_probabilities);
    tcase_add_test(tc, evaluate_matches_manual);
    tcase_add_test(tc, evaluate_wrong_dataset);
    tcase_add_test(tc, fit_and_evaluate_refuse_class_counts_of_another_layer);
    tcase_add_test(tc, evaluate_reports_numeric);
    tcase_add_test(tc, batch_walk_ends_at_int32_max);
    suite_add_tcase(s, tc);

    tc = tcase_create("oom");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, oom_build_and_train);
    tcase_add_test(tc, oom_first_call_of_a_fresh_model);
    tcase_add_test(tc, out_of_memory_for_a_batch_names_the_call);
    suite_add_tcase(s, tc);

    tc = tcase_create("fit");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, relu_in_place_same_bits);
    tcase_add_test(tc, fused_relu_last_layer);
    tcase_add_test(tc, pool_takes_planes_same_bits);
    tcase_add_test(tc, pool_takes_planes_nan);
    tcase_add_test(tc, bn_relu_without_pool_same_bits);
    tcase_add_test(tc, fit_options_defaults);
    tcase_add_test(tc, fit_options_init_writes_only_the_callers_size);
    tcase_add_test(tc, fit_options_bad_sizes);
    tcase_add_test(tc, fit_options_old_size_reads_no_further);
    tcase_add_test(tc, fit_max_train_loss_stops_divergence);
    tcase_add_test(tc, fit_batch_larger_than_the_data);
    tcase_add_test(tc, fit_separable_blobs);
    tcase_add_test(tc, fit_epoch_figures_exact);
    tcase_add_test(tc, fit_first_epoch_bounds);
    tcase_add_test(tc, fit_callback_stops_early);
    tcase_add_test(tc, fit_callbacks_may_run_the_model_not_reshape_it);
    tcase_add_test(tc, fit_names_the_batch_a_step_failed_at);
    tcase_add_test(tc, fit_hints_drop_last_only_for_a_batch_too_small);
    tcase_add_test(tc, fit_refuses_samples_of_another_arrangement);
    tcase_add_test(tc, fit_drop_last);
    tcase_add_test(tc, fit_drop_last_without_a_short_batch);
    tcase_add_test(tc, stale_optimizer_refused_before_the_step);
    tcase_add_test(tc, refused_step_leaves_the_state);
    tcase_add_test(tc, fit_is_deterministic);
    tcase_add_test(tc, fit_numeric_failure_names_layer);
    tcase_add_test(tc, fit_misuse);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(model_suite, 1)
