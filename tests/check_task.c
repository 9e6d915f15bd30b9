/*
 * Tests of what a model is trained for (lib/model/task.c): choosing the
 * loss, class weights, training against float targets, metrics, and
 * predictions that give probabilities only where the loss defines them.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "testutil.h"

/* A model y = W x + b of `in` inputs and `out` outputs. */
static mlp_model *linear(int32_t in, int32_t out, uint64_t seed)
{
    mlp_model *m = tu_model(1, (int32_t[]){in}, seed);
    tu_add(m, tu_dense(out));
    return m;
}

static mlp_optimizer *sgd(mlp_model *m, double lr)
{
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, lr));
    return o;
}

/* ---- choosing the loss ----------------------------------------------------- */

START_TEST(loss_defaults_and_choice)
{
    mlp_model *m = linear(3, 2, 1);
    double p = -1;
    ck_assert_int_eq(mlp_model_get_loss(m, &p), MLP_LOSS_SOFTMAX_XENT);
    ck_assert(p == 0.0);
    ck_assert_int_eq(mlp_model_task(m), MLP_TASK_CLASSIFY);
    const mlp_loss_kind kinds[] = {MLP_LOSS_MSE, MLP_LOSS_BCE_LOGITS, MLP_LOSS_HUBER,
                                   MLP_LOSS_MAE, MLP_LOSS_SOFTMAX_XENT};
    const mlp_task tasks[] = {MLP_TASK_REGRESS, MLP_TASK_CLASSIFY, MLP_TASK_REGRESS,
                              MLP_TASK_REGRESS, MLP_TASK_CLASSIFY};
    for (int i = 0; i < 5; i++) {
        TU_OK(mlp_model_set_loss(m, kinds[i], 0));
        ck_assert_int_eq(mlp_model_get_loss(m, &p), kinds[i]);
        ck_assert(p == (kinds[i] == MLP_LOSS_HUBER ? 1.0 : 0.0));
        ck_assert_int_eq(mlp_model_task(m), tasks[i]);
    }
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, 0.25));
    ck_assert_int_eq(mlp_model_get_loss(m, &p), MLP_LOSS_HUBER);
    ck_assert(p == 0.25);
    ck_assert_int_eq(mlp_model_get_loss(m, NULL), MLP_LOSS_HUBER);

    TU_FAIL_MSG(mlp_model_set_loss(NULL, MLP_LOSS_MSE, 0), MLP_STATUS_INVALID_ARG,
                "model is NULL");
    TU_FAIL_MSG(mlp_model_set_loss(m, (mlp_loss_kind)9, 0), MLP_STATUS_INVALID_ARG,
                "9 is not a loss kind");
    TU_FAIL_MSG(mlp_model_set_loss(m, MLP_LOSS_MAE, 2), MLP_STATUS_INVALID_ARG,
                "mae takes no parameter");
    TU_FAIL_MSG(mlp_model_set_loss(m, MLP_LOSS_HUBER, -0.5), MLP_STATUS_INVALID_ARG,
                "Huber delta -0.5 is not > 0");
    /* A refused call changes nothing. */
    ck_assert_int_eq(mlp_model_get_loss(m, &p), MLP_LOSS_HUBER);
    ck_assert(p == 0.25);
    ck_assert_int_eq(mlp_model_get_loss(NULL, &p), 0);
    ck_assert(p == 0.0);
    ck_assert_int_eq(mlp_model_task(NULL), 0);
    mlp_model_destroy(m);
}
END_TEST

/* A Huber delta whose float is subnormal or 0 is refused, naming the value
 * as given, and the loss stays as it was: 1e-300 was kept as 0 (training
 * then reported a loss of 0 and never moved a parameter), 1e-40 as a
 * subnormal float, 0 once subnormals are flushed. FLT_MIN, and the
 * largest value below 3.4e38, are taken. */
START_TEST(huber_deltas_no_float_holds_are_refused)
{
    mlp_model *m = linear(3, 2, 1);
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, 0.25));
    const struct {
        double delta;
        const char *what;
    } bad[] = {
        {1e-300, "mlp_model_set_loss: Huber delta 1e-300 is too small (it must be at "
                 "least 1.17549435e-38, the smallest normal float, as it is kept as a "
                 "float)"},
        {1e-46, "Huber delta 1e-46 is too small"},
        {1e-40, "Huber delta 1e-40 is too small"},
        {0x1.fffffep-127, "Huber delta 1.1754942807573643e-38 is too small"},
        {1e39, "Huber delta 1e+39 is too large"},
        {3.4e38, "Huber delta 3.4e+38 is too large"},
    };
    double p = -1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        TU_FAIL_MSG(mlp_model_set_loss(m, MLP_LOSS_HUBER, bad[i].delta),
                    MLP_STATUS_INVALID_ARG, bad[i].what);
        ck_assert_int_eq(mlp_model_get_loss(m, &p), MLP_LOSS_HUBER);
        ck_assert_msg(p == 0.25, "after %g: delta %g", bad[i].delta, p);
    }
    /* from another loss too: the loss stays MAE */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MAE, 0));
    TU_FAIL(mlp_model_set_loss(m, MLP_LOSS_HUBER, 1e-300), MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(mlp_model_get_loss(m, &p), MLP_LOSS_MAE);
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, FLT_MIN));
    ck_assert_int_eq(mlp_model_get_loss(m, &p), MLP_LOSS_HUBER);
    ck_assert(p == FLT_MIN);
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, nextafter(3.4e38, 0.0)));
    ck_assert_int_eq(mlp_model_get_loss(m, &p), MLP_LOSS_HUBER);
    ck_assert(p == (double)(float)nextafter(3.4e38, 0.0));
    mlp_model_destroy(m);
}
END_TEST

/* A model setter a tu_oom_loop attempts, and its arguments. */
typedef struct oom_task {
    mlp_model *m;
    const float *weights;     /* set_class_weights: one a class */
    const char *const *names; /* set_class_names: one a class */
    const mlp_dataset *ds;    /* fit_standardize */
} oom_task;

static mlp_status try_class_weights(void *ctx)
{
    oom_task *c = ctx;
    return mlp_model_set_class_weights(c->m, c->weights, 2);
}

/* A failure keeps the old weights: the loss still cannot become mse. */
static void weights_kept(void *ctx, mlp_status st)
{
    if (st != MLP_STATUS_OK)
        TU_FAIL_MSG(mlp_model_set_loss(((oom_task *)ctx)->m, MLP_LOSS_MSE, 0),
                    MLP_STATUS_INVALID_ARG, "the model has class weights");
}

START_TEST(class_weights_rules)
{
    mlp_model *m = linear(3, 2, 1);
    const float w[] = {1, 2}, wneg[] = {1, -2}, w3[] = {1, 1, 1};
    TU_FAIL_MSG(mlp_model_set_class_weights(NULL, w, 2), MLP_STATUS_INVALID_ARG,
                "model is NULL");
    TU_FAIL_MSG(mlp_model_set_class_weights(m, w3, 3), MLP_STATUS_INVALID_ARG,
                "3 weights for a model with 2 outputs");
    TU_FAIL_MSG(mlp_model_set_class_weights(m, wneg, 2), MLP_STATUS_INVALID_ARG,
                "class weight 1 is -2");
    TU_FAIL_MSG(mlp_model_set_class_weights(m, NULL, 2), MLP_STATUS_INVALID_ARG,
                "weights is NULL but k is not 0");
    TU_OK(mlp_model_set_class_weights(m, w, 2));
    TU_FAIL_MSG(mlp_model_set_loss(m, MLP_LOSS_MSE, 0), MLP_STATUS_INVALID_ARG,
                "the model has class weights");
    TU_OK(mlp_model_set_class_weights(m, NULL, 0));
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    TU_FAIL_MSG(mlp_model_set_class_weights(m, w, 2), MLP_STATUS_INVALID_ARG,
                "class weights apply to softmax_xent only; the model's loss is mse");

    /* Out of memory at every allocation: refused cleanly, the old weights
     * kept. */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_SOFTMAX_XENT, 0));
    TU_OK(mlp_model_set_class_weights(m, w, 2));
    oom_task c = {.m = m, .weights = w};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = weights_kept;
    tu_oom_loop("mlp_model_set_class_weights", try_class_weights, &c, &cfg);
    mlp_model_destroy(m);
}
END_TEST

/* Evaluation weights the whole set: a batch whose labels all weigh 0
 * adds nothing, so the loss does not depend on the batch size (batches of
 * 2 over labels sorted by class were refused before); a set whose labels
 * all weigh 0 is refused. */
START_TEST(class_weights_over_the_evaluated_set)
{
    enum { N = 6, IN = 3 };
    float xv[N * IN];
    for (int i = 0; i < N * IN; i++)
        xv[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    const int32_t y[N] = {0, 0, 1, 1, 1, 1};
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, N, 1, (int32_t[]){IN}, xv, y, 2, MLP_DATASET_COPY));
    mlp_model *m = linear(IN, 2, 5);
    TU_OK(mlp_model_set_class_weights(m, (const float[]){0, 1}, 2));
    double whole, in_twos, acc_whole, acc_twos;
    TU_OK(mlp_model_evaluate(m, ds, N, &whole, &acc_whole));
    TU_OK(mlp_model_evaluate(m, ds, 2, &in_twos, &acc_twos));
    ck_assert_msg(tu_close(whole, in_twos, 1e-12, 0),
                  "loss %.17g in batches of 2, %.17g whole", in_twos, whole);
    ck_assert(acc_whole == acc_twos);
    mlp_metrics mt;
    TU_OK(mlp_model_evaluate_metrics(m, ds, 1, &mt));
    ck_assert(tu_close(mt.loss, whole, 1e-12, 0));
    /* the loss of the 4 samples of class 1 alone */
    mlp_model *plain = linear(IN, 2, 5);
    mlp_dataset *ones = NULL;
    TU_OK(mlp_dataset_subset(ds, (const int32_t[]){2, 3, 4, 5}, 4, &ones));
    double want;
    TU_OK(mlp_model_evaluate(plain, ones, 4, &want, NULL));
    ck_assert_msg(tu_close(whole, want, 1e-12, 0), "loss %.17g, want %.17g", whole, want);
    /* no weight anywhere in the set */
    TU_OK(mlp_model_set_class_weights(m, (const float[]){0, 0}, 2));
    TU_FAIL_MSG(mlp_model_evaluate(m, ds, 2, NULL, NULL), MLP_STATUS_INVALID_ARG,
                "the class weights of the set's 6 labels sum to 0");
    mlp_model_destroy(plain);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ones);
    mlp_dataset_destroy(ds);
}
END_TEST

START_TEST(class_weights_shape_the_training_step)
{
    /* The step's loss is the weighted loss of the forward output, and the
     * step moves the parameters as the weighted gradient says. */
    const int32_t n = 6, in = 4, k = 3;
    mlp_model *a = linear(in, k, 7), *b = linear(in, k, 7);
    const float w[] = {0.5f, 3.0f, 1.0f};
    TU_OK(mlp_model_set_class_weights(a, w, k));
    mlp_optimizer *oa = sgd(a, 0.5), *ob = sgd(b, 0.5);
    mlp_tensor *x = tu_tensor(2, n, in);
    tu_rng r;
    tu_rng_seed(&r, 3);
    tu_fill_uniform(&r, mlp_tensor_data(x), n * in, -1, 1);
    const int32_t y[] = {0, 1, 2, 1, 1, 0};
    const mlp_tensor *z;
    TU_OK(mlp_model_forward(a, x, MLP_MODE_EVAL, &z));
    double want;
    TU_OK(mlp_loss_compute(MLP_LOSS_SOFTMAX_XENT, 0, w, z, y, NULL, &want, NULL));
    double la, lb;
    int32_t ca, cb;
    TU_OK(mlp_model_train_step(a, oa, x, y, &la, &ca));
    TU_OK(mlp_model_train_step(b, ob, x, y, &lb, &cb));
    ck_assert_msg(tu_close(la, want, 1e-6, 0), "loss %.9g, want %.9g", la, want);
    ck_assert_int_eq(ca, cb); /* weights do not change what is counted */
    float pa[15], pb[15];
    TU_OK(mlp_model_get_params(a, pa, 15));
    TU_OK(mlp_model_get_params(b, pb, 15));
    ck_assert_msg(memcmp(pa, pb, sizeof pa) != 0, "weights changed nothing");

    /* Weights of 1 are the plain loss. */
    mlp_model *c = linear(in, k, 7), *d = linear(in, k, 7);
    TU_OK(mlp_model_set_class_weights(c, (float[]){1, 1, 1}, k));
    mlp_optimizer *oc = sgd(c, 0.5), *od = sgd(d, 0.5);
    double lc, ld;
    TU_OK(mlp_model_train_step(c, oc, x, y, &lc, NULL));
    TU_OK(mlp_model_train_step(d, od, x, y, &ld, NULL));
    ck_assert(tu_close(lc, ld, 1e-7, 0));
    float pc[15], pd[15];
    TU_OK(mlp_model_get_params(c, pc, 15));
    TU_OK(mlp_model_get_params(d, pd, 15));
    tu_assert_close_ff("params", pc, pd, 15, 1e-6, 1e-7);

    /* Weights set before the last layer: checked when training. */
    mlp_model *e = tu_model(1, (int32_t[]){in}, 1);
    TU_OK(mlp_model_set_class_weights(e, w, k));
    tu_add(e, tu_dense(2));
    mlp_optimizer *oe = sgd(e, 0.1);
    TU_FAIL_MSG(mlp_model_train_step(e, oe, x, (int32_t[]){0, 1, 0, 1, 0, 1}, NULL, NULL),
                MLP_STATUS_SHAPE_MISMATCH, "the model has 3 class weights but 2 outputs");

    mlp_optimizer *opts[] = {oa, ob, oc, od, oe};
    mlp_model *models[] = {a, b, c, d, e};
    for (int i = 0; i < 5; i++) {
        mlp_optimizer_destroy(opts[i]);
        mlp_model_destroy(models[i]);
    }
    mlp_tensor_destroy(x);
}
END_TEST

/* ---- float targets ---------------------------------------------------------- */

START_TEST(mse_step_hand_computed)
{
    /* One output, two inputs, W = (1, 0), b = 0; samples x = (1, 2) with
     * t = 3 and x = (2, 0) with t = 2: predictions 1 and 2, errors -2, 0.
     * MSE = 4 / 2 = 2; dW = 2/2 sum d x = (-2, -4); db = -2. SGD 0.1:
     * W = (1.2, 0.4), b = 0.2. */
    mlp_model *m = linear(2, 1, 1);
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    const float p0[] = {1, 0, 0};
    TU_OK(mlp_model_set_params(m, p0, 3));
    mlp_optimizer *o = sgd(m, 0.1);
    mlp_tensor *x = tu_tensor(2, 2, 2), *t = tu_tensor(1, 2);
    memcpy(mlp_tensor_data(x), (float[]){1, 2, 2, 0}, 4 * sizeof(float));
    memcpy(mlp_tensor_data(t), (float[]){3, 2}, 2 * sizeof(float));
    double loss;
    TU_OK(mlp_model_train_step_targets(m, o, x, t, &loss));
    ck_assert_msg(tu_close(loss, 2.0, 1e-7, 0), "loss %g", loss);
    float p[3];
    TU_OK(mlp_model_get_params(m, p, 3));
    const float want[] = {1.2f, 0.4f, 0.2f};
    tu_assert_close_ff("params after one step", p, want, 3, 1e-6, 1e-7);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(t);
}
END_TEST

START_TEST(regression_learns_a_plane)
{
    /* y = 2 x0 - 3 x1 + 1, learnt with each regression loss. */
    const mlp_loss_kind kinds[] = {MLP_LOSS_MSE, MLP_LOSS_HUBER, MLP_LOSS_MAE};
    const mlp_loss_kind kind = kinds[_i];
    const int32_t n = 32;
    mlp_model *m = linear(2, 1, 5);
    TU_OK(mlp_model_set_loss(m, kind, 0));
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.05));
    mlp_tensor *x = tu_tensor(2, n, 2), *t = tu_tensor(2, n, 1);
    tu_rng r;
    tu_rng_seed(&r, 11);
    float *xd = mlp_tensor_data(x), *td = mlp_tensor_data(t);
    tu_fill_uniform(&r, xd, 2 * n, -1, 1);
    for (int i = 0; i < n; i++)
        td[i] = 2 * xd[2 * i] - 3 * xd[2 * i + 1] + 1;
    double loss = 0;
    for (int s = 0; s < 1500; s++)
        TU_OK(mlp_model_train_step_targets(m, o, x, t, &loss));
    float p[3];
    TU_OK(mlp_model_get_params(m, p, 3));
    const float want[] = {2, -3, 1};
    tu_assert_close_ff(mlp_loss_kind_name(kind), p, want, 3, 0, 0.02);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(t);
}
END_TEST

START_TEST(targets_misuse)
{
    mlp_model *m = linear(2, 2, 1);
    mlp_optimizer *o = sgd(m, 0.1);
    mlp_tensor *x = tu_tensor(2, 3, 2), *t = tu_tensor(2, 3, 2), *t1 = tu_tensor(2, 3, 1);
    mlp_tensor_fill(x, 0.5f);
    mlp_tensor_fill(t, 0.25f);
    TU_FAIL_MSG(mlp_model_train_step_targets(m, o, x, t, NULL), MLP_STATUS_INVALID_ARG,
                "the model's loss, softmax_xent, takes class labels");
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    TU_FAIL_MSG(mlp_model_train_step(m, o, x, (int32_t[]){0, 1, 0}, NULL, NULL),
                MLP_STATUS_INVALID_ARG, "the model's loss, mse, takes float targets");
    TU_FAIL_MSG(mlp_model_train_step_targets(m, o, x, NULL, NULL), MLP_STATUS_INVALID_ARG,
                "targets is NULL");
    TU_FAIL_MSG(mlp_model_train_step_targets(m, o, x, t1, NULL),
                MLP_STATUS_SHAPE_MISMATCH, "targets have shape [3,1] but must be [3,2]");
    TU_FAIL_MSG(mlp_model_train_step_targets(NULL, o, x, t, NULL), MLP_STATUS_INVALID_ARG,
                "model is NULL");
    mlp_model *other = linear(2, 2, 1);
    TU_FAIL(mlp_model_train_step_targets(other, o, x, t, NULL), MLP_STATUS_INVALID_ARG);
    mlp_model_destroy(other);

    /* A NaN target: refused, the parameters unchanged. */
    float before[6], after[6];
    TU_OK(mlp_model_get_params(m, before, 6));
    mlp_tensor_data(t)[3] = NAN;
    TU_FAIL_MSG(mlp_model_train_step_targets(m, o, x, t, NULL), MLP_STATUS_NUMERIC,
                "mlp_model_train_step_targets: mse loss: row 1, output 1: the target "
                "is nan");
    TU_OK(mlp_model_get_params(m, after, 6));
    ck_assert(memcmp(before, after, sizeof before) == 0);
    /* An infinity in x, the same */
    mlp_tensor_data(t)[3] = 0.25f;
    mlp_tensor_data(x)[5] = -INFINITY;
    TU_FAIL_MSG(mlp_model_train_step_targets(m, o, x, t, NULL), MLP_STATUS_NUMERIC,
                "mlp_model_train_step_targets: x holds an infinity at sample 2, value 1");
    TU_OK(mlp_model_get_params(m, after, 6));
    ck_assert(memcmp(before, after, sizeof before) == 0);
    mlp_tensor_data(x)[5] = 0.5f;
    /* The model's own output as targets: the step's forward pass writes
     * over it before the loss reads it (the loss was 0 before). */
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    TU_FAIL_MSG(mlp_model_train_step_targets(m, o, x, y, NULL), MLP_STATUS_INVALID_ARG,
                "a tensor the model lent");
    TU_OK(mlp_model_get_params(m, after, 6));
    ck_assert(memcmp(before, after, sizeof before) == 0);
    /* BCE targets outside [0, 1]. */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_BCE_LOGITS, 0));
    mlp_tensor_data(t)[3] = 2.0f;
    TU_FAIL_MSG(mlp_model_train_step_targets(m, o, x, t, NULL), MLP_STATUS_INVALID_ARG,
                "target 2 is outside [0, 1]");
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(t);
    mlp_tensor_destroy(t1);
}
END_TEST

/* ---- predictions ------------------------------------------------------------ */

START_TEST(predictions_follow_the_task)
{
    mlp_model *m = linear(3, 2, 9);
    mlp_tensor *x = tu_tensor(2, 4, 3), *raw = tu_tensor(2, 4, 2),
               *pr = tu_tensor(2, 4, 2);
    tu_rng r;
    tu_rng_seed(&r, 2);
    tu_fill_uniform(&r, mlp_tensor_data(x), 12, -2, 2);
    const mlp_tensor *z;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &z));
    float zc[8];
    memcpy(zc, mlp_tensor_data_const(z), sizeof zc);
    TU_OK(mlp_model_predict_raw(m, x, raw));
    tu_assert_close_ff("raw", mlp_tensor_data_const(raw), zc, 8, 0, 0);

    /* Softmax classifier: rows of softmax. */
    TU_OK(mlp_model_predict(m, x, pr));
    for (int i = 0; i < 4; i++) {
        double e0 = exp(zc[2 * i]), e1 = exp(zc[2 * i + 1]);
        ck_assert(tu_close(mlp_tensor_data_const(pr)[2 * i], e0 / (e0 + e1), 1e-6, 1e-7));
    }
    /* BCE: the sigmoid of each output. */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_BCE_LOGITS, 0));
    TU_OK(mlp_model_predict(m, x, pr));
    for (int i = 0; i < 8; i++)
        ck_assert(
            tu_close(mlp_tensor_data_const(pr)[i], 1 / (1 + exp(-zc[i])), 1e-6, 1e-7));
    /* Regression: no probabilities, but raw outputs. */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    TU_FAIL_MSG(mlp_model_predict(m, x, pr), MLP_STATUS_BAD_STATE,
                "the model regresses (loss mse): it has no class probabilities");
    TU_ERROR_HAS("ask for its raw outputs (mlp_model_predict_raw)");
    TU_OK(mlp_model_predict_raw(m, x, raw));
    tu_assert_close_ff("raw (regression)", mlp_tensor_data_const(raw), zc, 8, 0, 0);

    /* One sample from a plain array. */
    float out[2];
    TU_OK(mlp_model_predict_one(m, mlp_tensor_data_const(x) + 3, 3, MLP_OUTPUT_RAW, out,
                                2));
    tu_assert_close_ff("one raw", out, zc + 2, 2, 1e-6, 1e-7);
    TU_FAIL_MSG(mlp_model_predict_one(m, mlp_tensor_data_const(x), 3,
                                      MLP_OUTPUT_PROBABILITIES, out, 2),
                MLP_STATUS_BAD_STATE, "the model regresses");
    /* the hint names the way this call asks for raw outputs */
    TU_ERROR_HAS("ask for its raw outputs (what = MLP_OUTPUT_RAW)");
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_SOFTMAX_XENT, 0));
    TU_OK(mlp_model_predict(m, x, pr));
    TU_OK(mlp_model_predict_one(m, mlp_tensor_data_const(x) + 9, 3,
                                MLP_OUTPUT_PROBABILITIES, out, 2));
    tu_assert_close_ff("one probs", out, mlp_tensor_data_const(pr) + 6, 2, 1e-6, 1e-7);
    TU_FAIL_MSG(
        mlp_model_predict_one(m, mlp_tensor_data_const(x), 4, MLP_OUTPUT_RAW, out, 2),
        MLP_STATUS_SHAPE_MISMATCH, "takes 3 values and gives 2; got sample_len 4");
    TU_FAIL_MSG(
        mlp_model_predict_one(m, mlp_tensor_data_const(x), 3, MLP_OUTPUT_RAW, out, 3),
        MLP_STATUS_SHAPE_MISMATCH, "out_len 3");
    TU_FAIL_MSG(
        mlp_model_predict_one(m, mlp_tensor_data_const(x), 3, (mlp_output)7, out, 2),
        MLP_STATUS_INVALID_ARG, "what = 7");
    TU_FAIL_MSG(mlp_model_predict_one(m, NULL, 3, MLP_OUTPUT_RAW, out, 2),
                MLP_STATUS_INVALID_ARG, "sample or out is NULL");
    mlp_model *bare = tu_model(1, (const int32_t[]){3}, 1);
    TU_FAIL_MSG(
        mlp_model_predict_one(bare, mlp_tensor_data_const(x), 3, MLP_OUTPUT_RAW, out, 2),
        MLP_STATUS_BAD_STATE, "mlp_model_predict_one: the model has no layers");
    mlp_model_destroy(bare);
    TU_FAIL_MSG(mlp_model_predict_raw(m, x, NULL), MLP_STATUS_INVALID_ARG, "out is NULL");
    mlp_tensor *wide = tu_tensor(2, 4, 3);
    TU_FAIL_MSG(mlp_model_predict_raw(m, x, wide), MLP_STATUS_SHAPE_MISMATCH,
                "out has shape [4,3] but must be [4,2]");
    mlp_tensor_destroy(wide);

    /* A NaN or an infinity in the input is refused, naming where; the
     * caller's outputs are left alone. (Through a ReLU, a NaN would give
     * probabilities like any other's.) */
    float *xd = mlp_tensor_data(x);
    const float keep = xd[7];
    for (int bad = 0; bad < 2; bad++) {
        xd[7] = bad ? -INFINITY : NAN;
        const char *what = bad ? "an infinity at sample 2, value 1"
                               : "a NaN at sample 2, "
                                 "value 1";
        mlp_tensor_data(pr)[0] = 42.0f;
        TU_FAIL_MSG(mlp_model_predict(m, x, pr), MLP_STATUS_NUMERIC, what);
        TU_ERROR_HAS("mlp_model_predict: x holds");
        ck_assert(mlp_tensor_data_const(pr)[0] == 42.0f);
        TU_FAIL_MSG(mlp_model_predict_raw(m, x, raw), MLP_STATUS_NUMERIC, what);
        out[0] = 42.0f;
        TU_FAIL_MSG(mlp_model_predict_one(m, xd + 6, 3, MLP_OUTPUT_RAW, out, 2),
                    MLP_STATUS_NUMERIC,
                    bad ? "an infinity at value 1" : "a NaN at value 1");
        ck_assert(out[0] == 42.0f);
    }
    xd[7] = keep;
    TU_OK(mlp_model_predict(m, x, pr));
    /* the forward pass takes x as it is (documented) */
    xd[7] = NAN;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &z));
    xd[7] = keep;

    /* A softmax over one output is always 1: refused. */
    mlp_model *one = linear(3, 1, 1);
    mlp_tensor *p1 = tu_tensor(2, 4, 1);
    TU_FAIL_MSG(mlp_model_predict(one, x, p1), MLP_STATUS_BAD_STATE,
                "a softmax over the model's single output is always 1");
    TU_OK(mlp_model_set_loss(one, MLP_LOSS_BCE_LOGITS, 0));
    TU_OK(mlp_model_predict(one, x, p1));
    mlp_model_destroy(one);
    mlp_tensor_destroy(p1);

    int rank = 0;
    int32_t dims[MLP_MAX_RANK] = {9, 9, 9, 9};
    TU_OK(mlp_model_input_shape(m, &rank, dims));
    ck_assert_int_eq(rank, 1);
    ck_assert(dims[0] == 3 && dims[1] == 0 && dims[2] == 0 && dims[3] == 0);
    TU_FAIL_MSG(mlp_model_input_shape(NULL, &rank, dims), MLP_STATUS_INVALID_ARG,
                "model is NULL");
    TU_FAIL_MSG(mlp_model_input_shape(m, NULL, dims), MLP_STATUS_INVALID_ARG,
                "rank or dims");
    /* the output shapes alike: the entries past the rank 0 */
    for (int i = -1; i < 1; i++) {
        int32_t od[MLP_MAX_RANK] = {9, 9, 9, 9};
        rank = 0;
        TU_OK(mlp_model_output_shape(m, i, &rank, od));
        ck_assert_int_eq(rank, 1);
        ck_assert_msg(od[0] == 2 && od[1] == 0 && od[2] == 0 && od[3] == 0,
                      "layer %d: dims %d %d %d %d", i, od[0], od[1], od[2], od[3]);
    }
    mlp_model_destroy(m);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(raw);
    mlp_tensor_destroy(pr);
}
END_TEST

/* A finite input that overflows in the model gives no prediction: every
 * predict call refuses it with NUMERIC, naming the row, and leaves the
 * caller's output as it was; a smaller input predicts. */
START_TEST(predictions_that_overflow_are_refused)
{
    mlp_model *m = linear(1, 2, 3);
    const float p[4] = {1e30f, -1e30f, 0.0f, 0.0f}; /* weights, then biases */
    TU_OK(mlp_model_set_params(m, p, 4));
    float xv[2] = {1.0f, 1e10f}, out[4] = {7, 7, 7, 7};
    mlp_tensor *x = NULL, *y = NULL;
    TU_OK(mlp_tensor_wrap(&x, 2, (const int32_t[]){2, 1}, xv));
    TU_OK(mlp_tensor_wrap(&y, 2, (const int32_t[]){2, 2}, out));
    TU_FAIL_MSG(mlp_model_predict_raw(m, x, y), MLP_STATUS_NUMERIC,
                "mlp_model_predict_raw: row 1 gives an infinity at output 0");
    TU_FAIL_MSG(mlp_model_predict(m, x, y), MLP_STATUS_NUMERIC,
                "mlp_model_predict: row 1 gives an infinity at output 0");
    for (int i = 0; i < 4; i++)
        ck_assert(out[i] == 7.0f);
    TU_FAIL_MSG(mlp_model_predict_one(m, &xv[1], 1, MLP_OUTPUT_RAW, out, 2),
                MLP_STATUS_NUMERIC, "mlp_model_predict_one: row 0 gives an infinity");
    ck_assert(out[0] == 7.0f && out[1] == 7.0f);
    TU_OK(mlp_model_predict_one(m, &xv[0], 1, MLP_OUTPUT_RAW, out, 2));
    ck_assert(out[0] == 1e30f && out[1] == -1e30f);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(y);
    mlp_model_destroy(m);
}
END_TEST

/* ---- metrics on a dataset ------------------------------------------------------ */

START_TEST(metrics_of_a_classifier)
{
    mlp_dataset *ds = tu_blobs(60, 3, 1, 4, 4, 20, 1, 2);
    mlp_model *m = tu_model(3, (int32_t[]){1, 4, 4}, 3);
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(3));
    double err, acc;
    TU_OK(mlp_model_evaluate(m, ds, 7, &err, &acc));
    mlp_metrics mt;
    memset(&mt, 0xAB, sizeof mt);
    TU_OK(mlp_model_evaluate_metrics(m, ds, 13, &mt));
    ck_assert_uint_eq(mt.struct_size, sizeof mt);
    ck_assert_int_eq(mt.count, 60);
    ck_assert(tu_close(mt.loss, err, 1e-9, 0));
    ck_assert(mt.accuracy == acc);
    ck_assert(isnan(mt.mse) && isnan(mt.rmse) && isnan(mt.mae) && isnan(mt.r2));

    /* Weighted: the loss changes, the accuracy does not. */
    TU_OK(mlp_model_set_class_weights(m, (float[]){1, 5, 1}, 3));
    mlp_metrics w;
    TU_OK(mlp_model_evaluate_metrics(m, ds, 60, &w));
    ck_assert(w.accuracy == acc);
    ck_assert(!tu_close(w.loss, err, 1e-6, 0));

    TU_FAIL_MSG(mlp_model_evaluate_metrics_size(m, ds, 10, &mt, 8),
                MLP_STATUS_INVALID_ARG, "call mlp_model_evaluate_metrics()");
    TU_FAIL_MSG(mlp_model_evaluate_metrics_size(m, ds, 10, NULL, sizeof mt),
                MLP_STATUS_INVALID_ARG, "out is NULL");
    TU_FAIL_MSG(mlp_model_evaluate_metrics(m, ds, 0, &mt), MLP_STATUS_INVALID_ARG,
                "batch_size 0 is not >= 1");
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
}
END_TEST

static int stats_seen;
static int check_stats(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    (void)user;
    stats_seen++;
    ck_assert(isfinite(s->train_error) && isfinite(s->train_acc));
    ck_assert(isnan(s->train_mse) && isnan(s->train_rmse) && isnan(s->train_mae) &&
              isnan(s->train_r2));
    ck_assert(isfinite(s->valid_error) && isfinite(s->valid_acc));
    ck_assert(isnan(s->valid_mse) && isnan(s->valid_r2));
    return 0;
}

START_TEST(fit_fills_the_new_epoch_figures)
{
    mlp_dataset *tr = tu_blobs(60, 3, 1, 4, 4, 20, 1, 2),
                *va = tu_blobs(30, 3, 1, 4, 4, 20, 1, 3);
    mlp_model *m = tu_model(3, (int32_t[]){1, 4, 4}, 3);
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(3));
    mlp_optimizer *o = sgd(m, 0.1);
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.epochs = 2;
    f.batch_size = 10;
    f.on_epoch = check_stats;
    stats_seen = 0;
    TU_OK(mlp_model_fit(m, o, tr, va, &f));
    ck_assert_int_eq(stats_seen, 2);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
    mlp_dataset_destroy(va);
}
END_TEST

/* ---- the model file ----------------------------------------------------------- */

static mlp_model *round_trip(const mlp_model *m, void **buf, size_t *len)
{
    TU_OK(mlp_model_save_mem(m, buf, len));
    mlp_model *back = NULL;
    TU_OK(mlp_model_load_mem(&back, *buf, *len));
    return back;
}

START_TEST(file_keeps_the_task)
{
    mlp_model *m = linear(3, 2, 4);
    void *buf;
    size_t len;
    /* Default: neither record is written, so older readers read the file. */
    mlp_model *back = round_trip(m, &buf, &len);
    ck_assert_uint_eq(tu_find_record(buf, len, "LOSS", 0), 0);
    ck_assert_uint_eq(tu_find_record(buf, len, "clsn", 0), 0);
    ck_assert_int_eq(mlp_model_get_loss(back, NULL), MLP_LOSS_SOFTMAX_XENT);
    ck_assert_int_eq(mlp_model_class_count(back), 0);
    mlp_model_destroy(back);
    mlp_buffer_free(buf);

    /* Huber with its delta. */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, 0.75));
    back = round_trip(m, &buf, &len);
    ck_assert_uint_ne(tu_find_record(buf, len, "LOSS", 0), 0);
    double p;
    ck_assert_int_eq(mlp_model_get_loss(back, &p), MLP_LOSS_HUBER);
    ck_assert(p == 0.75);
    ck_assert_int_eq(mlp_model_task(back), MLP_TASK_REGRESS);
    mlp_model_destroy(back);
    mlp_buffer_free(buf);

    /* Class weights and names (with a name longer than the 0.1 label map's
     * single character, and UTF-8). */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_SOFTMAX_XENT, 0));
    TU_OK(mlp_model_set_class_weights(m, (float[]){0.25f, 4}, 2));
    const char *names[] = {"T-shirt/top", "Ankle boot \xc3\xa9"};
    TU_OK(mlp_model_set_class_names(m, names, 2));
    back = round_trip(m, &buf, &len);
    ck_assert_int_eq(mlp_model_class_count(back), 2);
    ck_assert_str_eq(mlp_model_class_name(back, 0), names[0]);
    ck_assert_str_eq(mlp_model_class_name(back, 1), names[1]);
    ck_assert_ptr_null(mlp_model_class_name(back, 2));
    ck_assert_ptr_null(mlp_model_class_name(back, -1));
    ck_assert_ptr_null(mlp_model_class_name(NULL, 0));
    ck_assert_int_eq(mlp_model_class_count(NULL), 0);
    /* The weights came back: the loaded model's loss equals the original's. */
    mlp_tensor *x = tu_tensor(2, 2, 3);
    mlp_tensor_fill(x, 0.5f);
    mlp_optimizer *o1 = sgd(m, 0.1), *o2 = sgd(back, 0.1);
    double l1, l2;
    TU_OK(mlp_model_train_step(m, o1, x, (int32_t[]){0, 1}, &l1, NULL));
    TU_OK(mlp_model_train_step(back, o2, x, (int32_t[]){0, 1}, &l2, NULL));
    ck_assert(l1 == l2);
    mlp_optimizer_destroy(o1);
    mlp_optimizer_destroy(o2);
    mlp_tensor_destroy(x);
    mlp_model_destroy(back);
    mlp_buffer_free(buf);
    mlp_model_destroy(m);
}
END_TEST

/* Fix the CRCs of a saved model's bytes, changed, and expect their load to
 * fail with `want` in the message, leaving nothing allocated; frees buf. */
static void expect_load_refused(void *buf, size_t len, const char *want)
{
    tu_fix_crcs(buf, len);
    mlp_model *back = (mlp_model *)1;
    long live = mlp__alloc_live();
    TU_FAIL_MSG(mlp_model_load_mem(&back, buf, len), MLP_STATUS_BAD_FORMAT, want);
    ck_assert_ptr_null(back);
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_buffer_free(buf);
}

/* Save m, let `edit` change the bytes and expect the load to fail. */
static void expect_refused(const mlp_model *m, void (*edit)(unsigned char *, size_t),
                           const char *want)
{
    void *buf;
    size_t len;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    edit(buf, len);
    expect_load_refused(buf, len, want);
}

/* Save m, cut its record `tag` to the first n payload bytes (the bytes
 * after it moved up) and expect the load to fail. */
static void expect_cut_refused(const mlp_model *m, const char *tag, uint64_t n,
                               const char *want)
{
    void *buf;
    size_t len;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    const size_t at = tu_find_record(buf, len, tag, 0);
    ck_assert_uint_gt(at, 0);
    expect_load_refused(buf, tu_cut_record(buf, len, at, n), want);
}

static void unknown_loss(unsigned char *b, size_t len)
{
    b[tu_find_record(b, len, "LOSS", 0) + 14] = 'z'; /* "huber" -> "zuber" */
}

/* "huber" read as its first 4 bytes: a name that only starts a kind's name
 * is not that kind (the 'r' then starts the parameter's bytes). */
static void loss_name_cut(unsigned char *b, size_t len)
{
    const size_t at = tu_find_record(b, len, "LOSS", 0);
    ck_assert_int_eq(b[at + 12], 5);
    b[at + 12] = 4;
}

static void nonzero_param(unsigned char *b, size_t len)
{
    /* the MAE model: name "mae" (3 bytes), then the parameter */
    size_t at = tu_find_record(b, len, "LOSS", 0) + 12 + 2 + 3;
    b[at + 3] = 0x3f; /* 0.5f is 0x3f000000 */
}

static void weight_count(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "LOSS", 0) + 12 + 2 + 12 + 4;
    b[at] = 3; /* "softmax_xent" has 12 bytes; 3 weights for 2 outputs */
}

static void negative_weight(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "LOSS", 0) + 12 + 2 + 12 + 8;
    b[at + 3] |= 0x80;
}

static void name_past_record(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12 + 4;
    b[at] = 200;
}

static void name_with_control(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12 + 4 + 2;
    b[at] = '\n';
}

/* "cat" -> U+0080 "t": a C1 control, which 0.4's setter let through. */
static void name_with_c1_control(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12 + 4 + 2;
    memcpy(b + at, "\xc2\x80", 2);
}

/* "cat", "dog" -> "cat", "cat": a repeat, which 0.4's setter let through. */
static void name_repeated(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12 + 4 + 2 + 3 + 2;
    memcpy(b + at, "cat", 3);
}

static void name_count(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12;
    b[at] = 0;
}

/* "cat", "dog" take 10 bytes after the count: room for 3 names of the
 * shortest kind (2 bytes of length, 1 of text), not for 4. */
static void name_count_too_large(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12;
    b[at] = 4;
}

/* One name announced, two held: "dog" is left over. */
static void name_count_short(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12;
    b[at] = 1;
}

static void loss_name_empty(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "LOSS", 0) + 12;
    b[at] = 0;
    b[at + 1] = 0;
}

/* A name length that runs past the record (the MAE model's record holds 13
 * bytes: 2 of length, "mae", the parameter and the weight count). */
static void loss_name_past_record(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "LOSS", 0) + 12;
    b[at] = 4;
}

/* "cat" -> "c\0t": a name the record's length says has 3 bytes, of which a
 * C string would keep 1. */
static void name_with_nul(unsigned char *b, size_t len)
{
    size_t at = tu_find_record(b, len, "clsn", 0) + 12 + 4 + 2;
    b[at + 1] = '\0';
}

START_TEST(file_refuses_bad_task_records)
{
    mlp_model *m = linear(3, 2, 4);
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, 2));
    expect_refused(m, unknown_loss, "unknown loss 'zuber'");
    expect_refused(m, loss_name_cut, "unknown loss 'hube'");
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MAE, 0));
    expect_refused(m, nonzero_param, "loss mae has parameter 0.5; it must be 0");
    expect_cut_refused(m, "LOSS", 9, "LOSS record of 9 bytes is shorter than 10");
    expect_refused(m, loss_name_empty, "loss name length 0 is outside 1..");
    expect_refused(m, loss_name_past_record, "loss name length 4 is outside 1..");
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_SOFTMAX_XENT, 0));
    TU_OK(mlp_model_set_class_weights(m, (float[]){1, 2}, 2));
    expect_refused(m, weight_count, "3 class weights for a model with 2 outputs");
    expect_refused(m, negative_weight,
                   "class weights: mlp_model_set_class_weights: class "
                   "weight 0 is -1");
    TU_OK(mlp_model_set_class_weights(m, NULL, 0));
    TU_OK(mlp_model_set_class_names(m, (const char *[]){"cat", "dog"}, 2));
    expect_refused(m, name_past_record, "class name 0 runs past the record");
    expect_refused(m, name_with_control, "class name 0 holds a control character");
    expect_refused(m, name_with_c1_control, "class name 0 holds a control character");
    expect_refused(m, name_repeated, "class names 0 and 1 are both \"cat\"");
    expect_refused(m, name_count, "clsn record holds no names");
    expect_refused(m, name_count_too_large,
                   "4 class names of 1 byte or more cannot fit in the record");
    expect_refused(m, name_count_short, "5 bytes after the last class name");
    expect_cut_refused(m, "clsn", 3, "clsn record of 3 bytes is shorter than 4");
    expect_refused(m, name_with_nul, "class name 0 holds a NUL byte");
    mlp_model_destroy(m);
}
END_TEST

/* The Huber model's delta in its LOSS record: after the name "huber". */
static void put_huber_delta(unsigned char *b, size_t len, float v)
{
    const size_t at = tu_find_record(b, len, "LOSS", 0) + 12 + 2 + 5;
    ck_assert_int_eq(b[at - 1], 'r');
    uint32_t u;
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++)
        b[at + (size_t)i] = (unsigned char)(u >> 8 * i);
}

static void huber_delta_zero(unsigned char *b, size_t len)
{
    put_huber_delta(b, len, 0.0f);
}

static void huber_delta_subnormal(unsigned char *b, size_t len)
{
    put_huber_delta(b, len, 1e-40f);
}

/* A Huber delta of 0 in a file loaded as the setter's default, 1: only a
 * delta that had become 0 as a float (1e-300, which the setter took) was
 * saved so, and the loaded model trained with another loss. It is refused
 * now, as is a subnormal delta, which the setter refuses; FLT_MIN loads. */
START_TEST(file_refuses_huber_deltas_no_float_holds)
{
    mlp_model *m = linear(3, 2, 4);
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, 2));
    expect_refused(m, huber_delta_zero, "loss huber has parameter 0; it must be > 0");
    expect_refused(m, huber_delta_subnormal,
                   "loss: mlp_model_set_loss: Huber delta 9.99994610111476e-41 is too "
                   "small");
    void *buf;
    size_t len;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    put_huber_delta(buf, len, FLT_MIN);
    tu_fix_crcs(buf, len);
    mlp_model *back = NULL;
    TU_OK(mlp_model_load_mem(&back, buf, len));
    double p = -1;
    ck_assert_int_eq(mlp_model_get_loss(back, &p), MLP_LOSS_HUBER);
    ck_assert(p == FLT_MIN);
    mlp_model_destroy(back);
    mlp_buffer_free(buf);
    mlp_model_destroy(m);
}
END_TEST

static mlp_status try_class_names(void *ctx)
{
    oom_task *c = ctx;
    return mlp_model_set_class_names(c->m, c->names, 2);
}

/* A failure keeps the old names ("a", "b"); a success sets the new ones. */
static void names_kept(void *ctx, mlp_status st)
{
    const oom_task *c = ctx;
    ck_assert_str_eq(mlp_model_class_name(c->m, 1),
                     st == MLP_STATUS_OK ? c->names[1] : "b");
}

START_TEST(class_names_rules)
{
    mlp_model *m = linear(3, 2, 4);
    TU_FAIL_MSG(mlp_model_set_class_names(NULL, (const char *[]){"a", "b"}, 2),
                MLP_STATUS_INVALID_ARG, "model is NULL");
    TU_FAIL_MSG(mlp_model_set_class_names(m, (const char *[]){"a", "b", "c"}, 3),
                MLP_STATUS_INVALID_ARG, "3 names for a model with 2 outputs");
    TU_FAIL_MSG(mlp_model_set_class_names(m, (const char *[]){"a", NULL}, 2),
                MLP_STATUS_INVALID_ARG, "name 1 is NULL");
    TU_FAIL_MSG(mlp_model_set_class_names(m, (const char *[]){"a", ""}, 2),
                MLP_STATUS_INVALID_ARG, "name 1 has 0 bytes");
    TU_FAIL_MSG(mlp_model_set_class_names(m, (const char *[]){"a\tb", "c"}, 2),
                MLP_STATUS_INVALID_ARG, "name 0 holds a control character");
    /* The datasets' rule: C0, DEL and C1 controls, invalid UTF-8 and a name
     * given twice are refused; other UTF-8 is a name. */
    static const char *const bad[][2] = {
        {"\x1f", "name 0 holds a control character"},
        {"\x7f", "name 0 holds a control character"},
        {"\xc2\x80", "name 0 holds a control character"},
        {"\xc2\x9f", "name 0 holds a control character"},
        {"a\xff", "name 0 is not valid UTF-8"},
        /* RFC 3629: a plain byte or a lead where a continuation belongs,
         * sequences cut short, leads that cannot start one, the longer
         * forms of shorter sequences, a surrogate, past U+10FFFF */
        {"\xc3\x28", "name 0 is not valid UTF-8"},
        {"\xc3\xc3", "name 0 is not valid UTF-8"},
        {"\xe6\x97", "name 0 is not valid UTF-8"},
        {"\xf0\x9f\x98", "name 0 is not valid UTF-8"},
        {"\xc0\xaf", "name 0 is not valid UTF-8"},
        {"\xf5\x80\x80\x80", "name 0 is not valid UTF-8"},
        {"\xe0\x80\xaf", "name 0 is not valid UTF-8"},
        {"\xe0\x9f\xbf", "name 0 is not valid UTF-8"}, /* U+07FF in 3 bytes */
        {"\xed\xa0\x80", "name 0 is not valid UTF-8"},
        {"\xed\xbf\xbf", "name 0 is not valid UTF-8"}, /* the last surrogate */
        {"\xf0\x8f\xbf\xbf", "name 0 is not valid UTF-8"},
        {"\xf4\x90\x80\x80", "name 0 is not valid UTF-8"},
        {"b", "names 0 and 1 are both \"b\""},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        TU_FAIL_MSG(mlp_model_set_class_names(m, (const char *[]){bad[k][0], "b"}, 2),
                    MLP_STATUS_INVALID_ARG, bad[k][1]);
    mlp_model *m3 = linear(3, 3, 4);
    TU_FAIL_MSG(mlp_model_set_class_names(m3, (const char *[]){"cat", "cat", "dog"}, 3),
                MLP_STATUS_INVALID_ARG, "names 0 and 1 are both \"cat\"");
    TU_FAIL_MSG(mlp_model_set_class_names(m3, (const char *[]){"cat", "dog", "dog"}, 3),
                MLP_STATUS_INVALID_ARG, "names 1 and 2 are both \"dog\"");
    ck_assert_int_eq(mlp_model_class_count(m3), 0);
    TU_OK(mlp_model_set_class_names(
        m3, (const char *[]){"\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xc2\xa0"}, 3));
    ck_assert_str_eq(mlp_model_class_name(m3, 1), "\xe6\x97\xa5\xe6\x9c\xac");
    /* four bytes: U+1F600 and the last code point, U+10FFFF */
    TU_OK(mlp_model_set_class_names(
        m3, (const char *[]){"\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbf"}, 3));
    ck_assert_str_eq(mlp_model_class_name(m3, 1), "\xf4\x8f\xbf\xbf");
    mlp_model_destroy(m3);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    TU_FAIL_MSG(mlp_model_set_class_names(m, (const char *[]){big, "c"}, 2),
                MLP_STATUS_INVALID_ARG, "name 0 has 299 bytes (1..255 allowed)");
    TU_FAIL_MSG(mlp_model_set_class_names(m, NULL, 2), MLP_STATUS_INVALID_ARG,
                "names is NULL but k is not 0");
    TU_OK(mlp_model_set_class_names(m, (const char *[]){"a", "b"}, 2));
    /* Out of memory at every allocation (the first three at least):
     * refused, the old names kept. */
    oom_task c = {.m = m, .names = (const char *[]){"cc", "dd"}};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.min_failures = 3;
    cfg.after = names_kept;
    tu_oom_loop("mlp_model_set_class_names", try_class_names, &c, &cfg);
    TU_OK(mlp_model_set_class_names(m, NULL, 0));
    ck_assert_int_eq(mlp_model_class_count(m), 0);
    ck_assert_int_eq(mlp_model_class_count(NULL), 0);
    mlp_model_destroy(m);
}
END_TEST

/* The model file of `m` with its two class names replaced by a and b (the
 * file is written with placeholders of their lengths, then patched). */
static void save_with_names(mlp_model *m, const char *a, const char *b, void **buf,
                            size_t *len)
{
    char pa[8] = "xxxxxxx", pb[8] = "yyyyyyy";
    ck_assert_uint_lt(strlen(a), sizeof pa);
    ck_assert_uint_lt(strlen(b), sizeof pb);
    pa[strlen(a)] = pb[strlen(b)] = '\0';
    TU_OK(mlp_model_set_class_names(m, (const char *[]){pa, pb}, 2));
    TU_OK(mlp_model_save_mem(m, buf, len));
    unsigned char *p = *buf;
    size_t at = tu_find_record(p, *len, "clsn", 0) + 12 + 4 + 2;
    memcpy(p + at, a, strlen(a));
    memcpy(p + at + strlen(a) + 2, b, strlen(b));
    tu_fix_crcs(p, *len);
}

/* The four paths that take class names (the dataset's setter, a mapping
 * file, the model's setter, a model file) apply one rule, so they agree on
 * each pair of names: all accept it, or all refuse it saying why. */
START_TEST(class_names_one_rule)
{
    static const struct {
        const char *a, *b, *why; /* why: NULL when the names are valid */
    } cases[] = {
        {"\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", NULL}, /* e-acute, "nihon" */
        {" ", "~", NULL},                               /* 0x20, 0x7e */
        {"\xc2\xa0", "\xef\xbf\xbd", NULL},             /* U+00A0, U+FFFD */
        {"\x1f", "b", "holds a control character"},
        {"\x7f", "b", "holds a control character"},
        {"\xc2\x80", "b", "holds a control character"},
        {"\xc2\x9f", "b", "holds a control character"},
        {"a\xff", "b", "is not valid UTF-8"},
        {"cat", "cat", "both \"cat\""},
    };
    char dir[256], map[300];
    tu_tmp_dir(dir, sizeof dir, "mlpnet-names");
    snprintf(map, sizeof map, "%s/map.txt", dir);
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create(&ds, 2, 1, 1, 1, (uint8_t[]){0, 0}, (int32_t[]){0, 1}, 2));
    mlp_model *m = linear(3, 2, 4);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *a = cases[k].a, *b = cases[k].b, *why = cases[k].why;
        const char *names[2] = {a, b};
        char text[64];
        snprintf(text, sizeof text, "0 \"%s\"\n1 \"%s\"\n", a, b);
        tu_write_file(map, text, strlen(text));
        void *buf;
        size_t len;
        save_with_names(m, a, b, &buf, &len);
        mlp_model *back = NULL;
        if (!why) {
            TU_OK(mlp_dataset_set_class_names(ds, names, 2));
            ck_assert_str_eq(mlp_dataset_class_name(ds, 1), b);
            TU_OK(mlp_dataset_load_mapping(ds, map));
            ck_assert_str_eq(mlp_dataset_class_name(ds, 0), a);
            TU_OK(mlp_model_set_class_names(m, names, 2));
            ck_assert_str_eq(mlp_model_class_name(m, 0), a);
            TU_OK(mlp_model_load_mem(&back, buf, len));
            ck_assert_str_eq(mlp_model_class_name(back, 1), b);
        } else {
            TU_FAIL_MSG(mlp_dataset_set_class_names(ds, names, 2), MLP_STATUS_INVALID_ARG,
                        why);
            TU_FAIL_MSG(mlp_dataset_load_mapping(ds, map), MLP_STATUS_BAD_FORMAT, why);
            TU_ERROR_HAS(strcmp(a, b) ? "map.txt:1:" : "map.txt:2:");
            TU_FAIL_MSG(mlp_model_set_class_names(m, names, 2), MLP_STATUS_INVALID_ARG,
                        why);
            TU_FAIL_MSG(mlp_model_load_mem(&back, buf, len), MLP_STATUS_BAD_FORMAT, why);
            ck_assert_ptr_null(back);
        }
        mlp_model_destroy(back);
        mlp_buffer_free(buf);
    }
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
    tu_rm_tree(dir);
}
END_TEST

/* ---- standardisation ---------------------------------------------------------- */

START_TEST(standardize_forward_and_gradients)
{
    mlp_model *m = tu_model(1, (int32_t[]){3}, 2);
    mlp_layer *sl = NULL;
    TU_OK(mlp_layer_create_standardize(&sl));
    tu_add(m, sl);
    ck_assert_int_eq(mlp_layer_get_kind(sl), MLP_LAYER_STANDARDIZE);
    ck_assert_str_eq(mlp_layer_kind_name(sl), "standardize");
    ck_assert_int_eq(mlp_layer_param_count(sl), 0);
    ck_assert_int_eq(mlp_layer_state_count(sl), 6);
    /* New: the identity. */
    mlp_tensor *x = tu_tensor(2, 2, 3);
    memcpy(mlp_tensor_data(x), (float[]){1, 2, 3, -4, 5, 6}, 6 * sizeof(float));
    const mlp_tensor *y;
    TU_OK(mlp_model_forward(m, x, MLP_MODE_EVAL, &y));
    tu_assert_close_ff("identity", mlp_tensor_data_const(y), mlp_tensor_data_const(x), 6,
                       0, 0);
    /* Mean (1, 0, -2), scale (2, 0.5, 4). */
    TU_OK(mlp_model_set_state(m, (float[]){1, 0, -2, 2, 0.5f, 4}, 6));
    TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
    const float want[] = {0, 4, 1.25f, -2.5f, 10, 2};
    tu_assert_close_ff("standardized", mlp_tensor_data_const(y), want, 6, 1e-7, 0);
    mlp_tensor_destroy(x);

    /* Gradients through it, into a dense layer behind. */
    tu_add(m, tu_dense(2));
    tu_gradcheck_cfg cfg;
    tu_gradcheck_cfg_init(&cfg);
    tu_assert_gradcheck(m, 1, (int32_t[]){3}, 4, &cfg);
    mlp_model_destroy(m);
}
END_TEST

static mlp_status try_fit_standardize(void *ctx)
{
    oom_task *c = ctx;
    return mlp_model_fit_standardize(c->m, c->ds);
}

/* A failure keeps the state set before the loop: mean 0, scale 1. */
static void state_kept(void *ctx, mlp_status st)
{
    float s[4];
    if (st == MLP_STATUS_OK)
        return;
    TU_OK(mlp_model_get_state(((oom_task *)ctx)->m, s, 4));
    ck_assert(s[0] == 0 && s[2] == 1);
}

/* A model of `in` features: a standardize layer, then dense `out` (owned
 * by the caller). */
static mlp_model *standardized_dense(int32_t in, int32_t out)
{
    mlp_model *m = tu_model(1, (int32_t[]){in}, 2);
    mlp_layer *sl = NULL;
    TU_OK(mlp_layer_create_standardize(&sl));
    tu_add(m, sl);
    tu_add(m, tu_dense(out));
    return m;
}

START_TEST(standardize_from_data)
{
    /* Feature 0: 1, 2, 3, 6 (mean 3, population sd sqrt(3.5)); feature 1
     * constant 7 (scale 1). */
    const float xv[] = {1, 7, 2, 7, 3, 7, 6, 7};
    const float tv[] = {0, 1, 2, 3};
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32_values(&ds, 4, 1, (int32_t[]){2}, xv, 1, tv,
                                        MLP_DATASET_COPY));
    mlp_model *m = tu_model(1, (int32_t[]){2}, 2);
    TU_FAIL_MSG(mlp_model_fit_standardize(m, ds), MLP_STATUS_BAD_STATE,
                "the model's first layer is not a standardize layer");
    mlp_layer *sl = NULL;
    TU_OK(mlp_layer_create_standardize(&sl));
    tu_add(m, sl);
    tu_add(m, tu_dense(1));
    TU_OK(mlp_model_fit_standardize(m, ds));
    float st[4];
    TU_OK(mlp_model_get_state(m, st, 4));
    const float want[] = {3, 7, (float)sqrt(3.5), 1};
    tu_assert_close_ff("mean and scale", st, want, 4, 1e-6, 0);

    /* A spread below 1 is a scale below 1: 0.1, 0.2, 0.3, 0.6 (mean 0.3,
     * population sd sqrt(0.035)); and one far below, 1e-3 times that. */
    for (int k = 0; k < 2; k++) {
        const float u = k ? 1e-4f : 0.1f, small[] = {u, 2 * u, 3 * u, 6 * u};
        mlp_dataset *narrow = NULL;
        TU_OK(mlp_dataset_create_f32_values(&narrow, 4, 1, (int32_t[]){1}, small, 1, tv,
                                            MLP_DATASET_COPY));
        mlp_model *m1 = standardized_dense(1, 1);
        TU_OK(mlp_model_fit_standardize(m1, narrow));
        float st1[2];
        TU_OK(mlp_model_get_state(m1, st1, 2));
        const float want1[] = {3 * u, (float)(u * sqrt(3.5))};
        tu_assert_close_ff("a narrow feature's mean and scale", st1, want1, 2, 1e-5, 0);
        mlp_model_destroy(m1);
        mlp_dataset_destroy(narrow);
    }

    /* Out of memory: refused, the state as it was. */
    TU_OK(mlp_model_set_state(m, (float[]){0, 0, 1, 1}, 4));
    oom_task c = {.m = m, .ds = ds};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.min_failures = 2;
    cfg.after = state_kept;
    tu_oom_loop("mlp_model_fit_standardize", try_fit_standardize, &c, &cfg);
    /* Samples of another size. */
    mlp_dataset *wide = NULL;
    TU_OK(mlp_dataset_create_f32_values(&wide, 2, 1, (int32_t[]){4}, xv, 1, tv,
                                        MLP_DATASET_COPY));
    TU_FAIL_MSG(mlp_model_fit_standardize(m, wide), MLP_STATUS_SHAPE_MISMATCH,
                "the samples have 4 values but the model takes 2");
    TU_FAIL_MSG(mlp_model_fit_standardize(NULL, ds), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit_standardize: model is NULL");
    TU_FAIL_MSG(mlp_model_fit_standardize(m, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit_standardize: dataset is NULL");

    /* Saved and loaded with the model. */
    TU_OK(mlp_model_fit_standardize(m, ds));
    TU_OK(mlp_model_get_state(m, st, 4));
    tu_assert_close_ff("mean and scale again", st, want, 4, 1e-6, 0);
    void *buf;
    size_t len;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    mlp_model *back = NULL;
    TU_OK(mlp_model_load_mem(&back, buf, len));
    ck_assert_int_eq(mlp_layer_get_kind(mlp_model_layer(back, 0)), MLP_LAYER_STANDARDIZE);
    float st2[4];
    TU_OK(mlp_model_get_state(back, st2, 4));
    ck_assert(memcmp(st, st2, sizeof st) == 0);
    mlp_buffer_free(buf);
    mlp_model_destroy(back);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
    mlp_dataset_destroy(wide);
}
END_TEST

/* A borrowed dataset's values may change after it was checked at
 * creation: a NaN or an infinity there is refused with NUMERIC, naming the
 * sample and the value, and the state stays as it was (it became NaN and
 * saved to a file the loader refuses). */
START_TEST(standardize_refuses_values_that_are_not_finite)
{
    float xv[] = {1, 7, 2, 7, 3, 7, 6, 7};
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, 4, 1, (int32_t[]){2}, xv, (int32_t[]){0, 1, 0, 1},
                                 2, MLP_DATASET_BORROW));
    mlp_model *m = standardized_dense(2, 2);
    const float kept[4] = {0.5f, 1, 2, 3};
    TU_OK(mlp_model_set_state(m, kept, 4));
    xv[5] = NAN;
    TU_FAIL_MSG(mlp_model_fit_standardize(m, ds), MLP_STATUS_NUMERIC,
                "sample 2 holds a NaN at value 1");
    xv[5] = 7;
    xv[6] = -INFINITY;
    TU_FAIL_MSG(mlp_model_fit_standardize(m, ds), MLP_STATUS_NUMERIC,
                "sample 3 holds an infinity at value 0");
    float st[4];
    TU_OK(mlp_model_get_state(m, st, 4));
    ck_assert_mem_eq(st, kept, sizeof st);
    xv[6] = 6;
    TU_OK(mlp_model_fit_standardize(m, ds));
    TU_OK(mlp_model_get_state(m, st, 4));
    ck_assert(st[0] == 3 && st[1] == 7);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
}
END_TEST

/* An evaluation whose loss is not finite names the set's sample and value
 * that hold a NaN or an infinity (a borrowed dataset's values may change
 * after its creation checked them), not the row of a batch, whose number
 * tells the caller nothing; else the layer with a bad parameter. Inside
 * mlp_model_fit the message names the epoch and the validation set. */
START_TEST(evaluate_names_the_sample_that_is_not_finite)
{
    enum { N = 20 };
    float xv[2 * N], tv[2 * N];
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        xv[2 * i] = (float)i / N;
        xv[2 * i + 1] = 1.0f - (float)i / N;
        tv[2 * i] = tv[2 * i + 1] = (float)i;
        labels[i] = i % 2;
    }
    mlp_dataset *train = NULL, *valid = NULL, *values = NULL;
    TU_OK(mlp_dataset_create_f32(&train, N, 1, (int32_t[]){2}, xv, labels, 2,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_create_f32(&valid, N, 1, (int32_t[]){2}, xv, labels, 2,
                                 MLP_DATASET_BORROW));
    TU_OK(mlp_dataset_create_f32_values(&values, N, 1, (int32_t[]){2}, xv, 2, tv,
                                        MLP_DATASET_BORROW));
    mlp_model *m = tu_model(1, (int32_t[]){2}, 3);
    tu_add(m, tu_dense(2));
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    xv[2 * 13 + 1] = NAN; /* batch 2 of 5, its row 3 */
    double e;
    mlp_metrics mt;
    TU_FAIL_MSG(mlp_model_evaluate(m, valid, 5, &e, NULL), MLP_STATUS_NUMERIC,
                "mlp_model_evaluate: sample 13 holds a NaN at value 1 (a borrowed");
    TU_FAIL_MSG(mlp_model_evaluate_metrics(m, valid, 5, &mt), MLP_STATUS_NUMERIC,
                "mlp_model_evaluate_metrics: sample 13 holds a NaN at value 1");
    /* the first value of a batch (sample 10, batch 3's row 0) */
    xv[2 * 13 + 1] = 1;
    xv[2 * 10] = NAN;
    TU_FAIL_MSG(mlp_model_evaluate(m, valid, 5, &e, NULL), MLP_STATUS_NUMERIC,
                "mlp_model_evaluate: sample 10 holds a NaN at value 0 (a borrowed");
    xv[2 * 10] = (float)10 / N;
    xv[2 * 13 + 1] = NAN;
    mlp_fit_options o;
    TU_OK(mlp_fit_options_init(&o));
    o.epochs = 2;
    o.batch_size = 5;
    o.eval_batch_size = 5;
    TU_FAIL_MSG(mlp_model_fit(m, opt, train, valid, &o), MLP_STATUS_NUMERIC,
                "mlp_model_fit: epoch 1, validation set: sample 13 holds a NaN at "
                "value 1");
    /* float targets: a value, then a target element */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    xv[2 * 13 + 1] = 1;
    xv[2 * 17] = -INFINITY;
    TU_FAIL_MSG(mlp_model_evaluate_metrics(m, values, 5, &mt), MLP_STATUS_NUMERIC,
                "sample 17 holds an infinity at value 0");
    xv[2 * 17] = 0;
    tv[2 * 6 + 1] = NAN;
    TU_FAIL_MSG(mlp_model_evaluate_metrics(m, values, 4, &mt), MLP_STATUS_NUMERIC,
                "sample 6 holds a NaN at target element 1");
    tv[2 * 6 + 1] = 6;
    TU_OK(mlp_model_evaluate_metrics(m, values, 4, &mt));
    /* finite data, a NaN bias */
    mlp_layer *d = mlp_model_layer(m, 0);
    mlp_layer_params(d)[mlp_layer_param_count(d) - 1] = NAN;
    TU_FAIL_MSG(mlp_model_evaluate(m, values, 7, &e, NULL), MLP_STATUS_NUMERIC,
                "mlp_model_evaluate: layer 0 (dense) has a NaN or infinite parameter");
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(valid);
    mlp_dataset_destroy(values);
}
END_TEST

/* A bce_logits target outside [0, 1] in a dataset is refused with the
 * set's sample, as a NaN is: evaluation named the row of its batch (row 1
 * for sample 5 in batches of 4), without the function; mlp_model_fit
 * trained the batches before it, then named a row of a shuffled batch and
 * pointed to drop_last. It now refuses before the first step, the
 * parameters unchanged. */
START_TEST(bce_targets_outside_0_1_name_the_sample)
{
    enum { N = 10 };
    float xv[2 * N], tv[2 * N], good[2 * N];
    for (int i = 0; i < N; i++) {
        xv[2 * i] = (float)i / N;
        xv[2 * i + 1] = (float)(i % 3);
        good[2 * i] = tv[2 * i] = (float)(i % 2);
        good[2 * i + 1] = tv[2 * i + 1] = 0.5f;
    }
    tv[2 * 5 + 1] = 2.0f; /* batch 2 of 4, its row 1 */
    mlp_dataset *bad = NULL, *fine = NULL;
    TU_OK(mlp_dataset_create_f32_values(&bad, N, 1, (int32_t[]){2}, xv, 2, tv,
                                        MLP_DATASET_COPY));
    TU_OK(mlp_dataset_create_f32_values(&fine, N, 1, (int32_t[]){2}, xv, 2, good,
                                        MLP_DATASET_COPY));
    mlp_model *m = linear(2, 2, 5);
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_BCE_LOGITS, 0));
    mlp_optimizer *o = sgd(m, 0.1);
    double e;
    mlp_metrics mt;
    TU_FAIL_MSG(mlp_model_evaluate(m, bad, 4, &e, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate: sample 5 of the dataset holds target 2 at "
                "element 1; the bce_logits loss takes targets in [0, 1]");
    TU_FAIL_MSG(mlp_model_evaluate_metrics(m, bad, 4, &mt), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate_metrics: sample 5 of the dataset holds target 2");
    float before[6], after[6];
    TU_OK(mlp_model_get_params(m, before, 6));
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.batch_size = 4;
    f.seed = 3;
    TU_FAIL_MSG(mlp_model_fit(m, o, bad, NULL, &f), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: sample 5 of the training set holds target 2 at "
                "element 1");
    ck_assert_msg(!strstr(mlp_last_error(), "drop_last"), "%s", mlp_last_error());
    TU_FAIL_MSG(mlp_model_fit(m, o, fine, bad, &f), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: sample 5 of the validation set holds target 2");
    TU_OK(mlp_model_get_params(m, after, 6));
    ck_assert(memcmp(before, after, sizeof before) == 0);
    /* targets at the ends of [0, 1] are taken, and other losses take any */
    TU_OK(mlp_model_evaluate_metrics(m, fine, 4, &mt));
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    TU_OK(mlp_model_evaluate_metrics(m, bad, 4, &mt));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(bad);
    mlp_dataset_destroy(fine);
}
END_TEST

/* A set that gives a class another id than the model, or the validation set
 * than the training set (a CSV file read without the training file's class
 * names, lacking one of them: its sorted labels start one class later), is
 * refused before a step or an evaluation; a renaming (no name at another
 * id), a set read with the model's names and sets without names are not. */
typedef struct names_ctx {
    mlp_model *m;
    mlp_dataset *ds;
} names_ctx;

static mlp_status try_evaluate_named(void *arg)
{
    names_ctx *c = arg;
    double e;
    return mlp_model_evaluate(c->m, c->ds, 4, &e, NULL);
}

START_TEST(class_ids_that_name_other_classes_are_refused)
{
    enum { N = 6 };
    float x[2 * N];
    for (int i = 0; i < 2 * N; i++)
        x[i] = (float)(i % 5) / 5.0f;
    const int32_t lab_train[N] = {0, 1, 2, 0, 1, 2}, lab_test[N] = {0, 1, 1, 0, 1, 0};
    const char *const iris[3] = {"setosa", "versicolor", "virginica"};
    const char *const shifted[2] = {"versicolor", "virginica"}; /* setosa missing */
    const char *const renamed[3] = {"s", "ve", "vi"};
    mlp_dataset *train = NULL, *test = NULL, *plain = NULL;
    TU_OK(mlp_dataset_create_f32(&train, N, 1, (int32_t[]){2}, x, lab_train, 3,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_set_class_names(train, iris, 3));
    TU_OK(mlp_dataset_create_f32(&test, N, 1, (int32_t[]){2}, x, lab_test, 2,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_set_class_names(test, shifted, 2));
    TU_OK(mlp_dataset_create_f32(&plain, N, 1, (int32_t[]){2}, x, lab_test, 2,
                                 MLP_DATASET_COPY));
    mlp_model *m = linear(2, 3, 7);
    mlp_optimizer *o = sgd(m, 0.1);
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.batch_size = 4;
    f.epochs = 1;
    double e;
    mlp_metrics mt;
    float before[9], after[9];
    TU_OK(mlp_model_get_params(m, before, 9));

    /* the model without names: the validation set against the training set */
    TU_OK(mlp_model_evaluate(m, test, 4, &e, NULL));
    TU_FAIL_MSG(mlp_model_fit(m, o, train, test, &f), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: class 0 of the validation set is \"versicolor\", which "
                "is class 1 of the training set: its samples would count as another "
                "class (read the set with the training set's class names, as "
                "mlp_csv_options.class_names does)");
    TU_OK(mlp_model_get_params(m, after, 9));
    ck_assert(memcmp(before, after, sizeof before) == 0);

    /* the model with the training set's names */
    TU_OK(mlp_model_set_class_names(m, iris, 3));
    TU_FAIL_MSG(mlp_model_evaluate(m, test, 4, &e, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate: class 0 of the dataset is \"versicolor\", which is "
                "class 1 of the model");
    TU_FAIL_MSG(mlp_model_evaluate_metrics(m, test, 4, &mt), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate_metrics: class 0 of the dataset");
    TU_FAIL_MSG(mlp_model_fit(m, o, test, NULL, &f), MLP_STATUS_INVALID_ARG,
                "mlp_model_fit: class 0 of the training set is \"versicolor\", which is "
                "class 1 of the model");
    /* the earliest class that moved is named, not the last the sort meets */
    const char *const both_moved[3] = {"versicolor", "virginica", "setosa"};
    TU_OK(mlp_dataset_set_class_names(train, both_moved, 3));
    TU_FAIL_MSG(
        mlp_model_evaluate(m, train, 4, &e, NULL), MLP_STATUS_INVALID_ARG,
        "class 0 of the dataset is \"versicolor\", which is class 1 of the model");
    TU_OK(mlp_model_get_params(m, after, 9));
    ck_assert(memcmp(before, after, sizeof before) == 0);

    /* read with the model's names, the set's ids are the model's */
    const char *const same[2] = {"setosa", "versicolor"};
    TU_OK(mlp_dataset_set_class_names(test, same, 2));
    TU_OK(mlp_model_evaluate(m, test, 4, &e, NULL));
    /* a renaming moves no name; unnamed sets and classes are not compared */
    TU_OK(mlp_dataset_set_class_names(train, renamed, 3));
    TU_OK(mlp_model_fit(m, o, train, plain, &f));
    const char *const partly[2] = {NULL, "setosa"};
    TU_OK(mlp_dataset_set_class_names(test, partly, 2));
    TU_FAIL_MSG(mlp_model_evaluate(m, test, 4, &e, NULL), MLP_STATUS_INVALID_ARG,
                "class 1 of the dataset is \"setosa\", which is class 0 of the model");
    const char *const partly_ok[2] = {NULL, "versicolor"};
    TU_OK(mlp_dataset_set_class_names(test, partly_ok, 2));
    TU_OK(mlp_model_evaluate(m, test, 4, &e, NULL));
    TU_OK(mlp_model_set_class_names(m, NULL, 0));
    TU_OK(mlp_model_fit(m, o, train, plain, &f));

    /* the comparison's arrays: out of memory is a clean NO_MEMORY */
    TU_OK(mlp_model_set_class_names(m, iris, 3));
    TU_OK(mlp_dataset_set_class_names(test, shifted, 2));
    names_ctx c = {m, test};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    TU_FAIL(try_evaluate_named(&c), MLP_STATUS_INVALID_ARG);
    TU_OK(mlp_dataset_set_class_names(test, same, 2));
    tu_oom_loop("mlp_model_evaluate with class names", try_evaluate_named, &c, &cfg);

    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(test);
    mlp_dataset_destroy(plain);
}
END_TEST

/* A model without class names takes the training set's from the fit that
 * passes its checks, when the set names each of its classes, one per
 * output: a test set read without them, lacking a class, is then refused
 * by the evaluation, not scored on shifted ids. A model's own names stay. */
START_TEST(fit_names_an_unnamed_model_after_its_training_set)
{
    enum { N = 6 };
    float x[2 * N];
    for (int i = 0; i < 2 * N; i++)
        x[i] = (float)(i % 5) / 5.0f;
    const int32_t lab[N] = {0, 1, 2, 0, 1, 2}, lab2[N] = {0, 1, 1, 0, 1, 0};
    const char *const iris[3] = {"setosa", "versicolor", "virginica"};
    const char *const shifted[2] = {"versicolor", "virginica"};
    const char *const own[3] = {"a", "b", "c"};
    const char *const partly[3] = {"setosa", NULL, "virginica"};
    mlp_dataset *train = NULL, *test = NULL, *two = NULL;
    TU_OK(mlp_dataset_create_f32(&train, N, 1, (int32_t[]){2}, x, lab, 3,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_create_f32(&test, N, 1, (int32_t[]){2}, x, lab2, 2,
                                 MLP_DATASET_COPY));
    TU_OK(mlp_dataset_set_class_names(test, shifted, 2));
    TU_OK(
        mlp_dataset_create_f32(&two, N, 1, (int32_t[]){2}, x, lab2, 2, MLP_DATASET_COPY));
    TU_OK(mlp_dataset_set_class_names(two, shifted, 2));
    mlp_model *m = linear(2, 3, 7);
    mlp_optimizer *o = sgd(m, 0.1);
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.batch_size = 4;
    f.epochs = 1;
    double e;

    /* names for some classes only, or fewer classes than outputs: none taken */
    TU_OK(mlp_dataset_set_class_names(train, partly, 3));
    TU_OK(mlp_model_fit(m, o, train, NULL, &f));
    ck_assert_int_eq(mlp_model_class_count(m), 0);
    TU_OK(mlp_model_fit(m, o, two, NULL, &f));
    ck_assert_int_eq(mlp_model_class_count(m), 0);
    /* a fit its checks refuse leaves the model unnamed */
    TU_OK(mlp_dataset_set_class_names(train, iris, 3));
    f.epochs = 0;
    TU_FAIL(mlp_model_fit(m, o, train, NULL, &f), MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(mlp_model_class_count(m), 0);
    f.epochs = 1;
    TU_OK(mlp_model_fit(m, o, train, NULL, &f));
    ck_assert_int_eq(mlp_model_class_count(m), 3);
    for (int32_t c = 0; c < 3; c++)
        ck_assert_str_eq(mlp_model_class_name(m, c), iris[c]);
    TU_FAIL_MSG(mlp_model_evaluate(m, test, 4, &e, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_evaluate: class 0 of the dataset is \"versicolor\", which is "
                "class 1 of the model");
    /* names the model has are its own */
    TU_OK(mlp_model_set_class_names(m, own, 3));
    TU_OK(mlp_model_fit(m, o, train, NULL, &f));
    ck_assert_str_eq(mlp_model_class_name(m, 0), "a");

    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(two);
    mlp_dataset_destroy(test);
    mlp_dataset_destroy(train);
}
END_TEST

/* ---- regression through the driver -------------------------------------------- */

/* y0 = 3 a - 2 b + 0.5, y1 = a b on a grid, as a float dataset. */
static mlp_dataset *plane_data(int32_t n, uint64_t seed)
{
    float x[2 * 400], t[2 * 400];
    ck_assert(n <= 400);
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, x, 2 * n, -1, 1);
    for (int i = 0; i < n; i++) {
        t[2 * i] = 3 * x[2 * i] - 2 * x[2 * i + 1] + 0.5f;
        t[2 * i + 1] = x[2 * i] * x[2 * i + 1];
    }
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32_values(&ds, n, 1, (int32_t[]){2}, x, 2, t,
                                        MLP_DATASET_COPY));
    return ds;
}

static int last_epoch_ok;
static mlp_epoch_stats last_stats;
static int keep_stats(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    (void)user;
    last_stats = *s;
    last_epoch_ok = 1;
    return 0;
}

/* mlp_model_fit for `epochs` epochs of `batch_size`, which must succeed;
 * its last epoch's figures in last_stats. */
static void fit_keeping_stats(mlp_model *m, mlp_optimizer *o, const mlp_dataset *tr,
                              const mlp_dataset *va, int32_t epochs, int32_t batch_size)
{
    mlp_fit_options f;
    TU_OK(mlp_fit_options_init(&f));
    f.epochs = epochs;
    f.batch_size = batch_size;
    f.on_epoch = keep_stats;
    last_epoch_ok = 0;
    TU_OK(mlp_model_fit(m, o, tr, va, &f));
    ck_assert(last_epoch_ok);
}

START_TEST(fit_regression_with_metrics)
{
    mlp_dataset *tr = plane_data(400, 1), *va = plane_data(100, 2);
    mlp_model *m = tu_model(1, (int32_t[]){2}, 3);
    tu_add(m, tu_dense(32));
    tu_add(m, tu_tanh());
    tu_add(m, tu_dense(2));
    /* The default loss refuses float targets, with a clear message. */
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.01));
    TU_FAIL_MSG(
        mlp_model_fit(m, o, tr, va, NULL), MLP_STATUS_INVALID_ARG,
        "the model's loss, softmax_xent, takes class labels but the dataset has float "
        "targets (2 per sample)");
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    fit_keeping_stats(m, o, tr, va, 60, 20);
    ck_assert(isnan(last_stats.train_acc) && isnan(last_stats.valid_acc));
    ck_assert_msg(last_stats.valid_r2 > 0.95, "valid R^2 %g", last_stats.valid_r2);
    ck_assert(tu_close(last_stats.valid_rmse, sqrt(last_stats.valid_mse), 1e-12, 0));
    ck_assert(tu_close(last_stats.valid_error, last_stats.valid_mse, 1e-9, 0));
    ck_assert(last_stats.train_r2 > 0.9 && last_stats.train_mae > 0);

    /* evaluate_metrics agrees with the last epoch's validation pass: to the
     * bit in its batches (of eval_batch_size 1000: the whole set), and in
     * other batches to float rounding (OpenBLAS's AVX-512 kernels sum a
     * row's products in an order that depends on the batch's size). */
    mlp_metrics mt;
    TU_OK(mlp_model_evaluate_metrics(m, va, 1000, &mt));
    ck_assert(tu_close(mt.mse, last_stats.valid_mse, 1e-9, 0));
    TU_OK(mlp_model_evaluate_metrics(m, va, 33, &mt));
    ck_assert_msg(tu_close(mt.mse, last_stats.valid_mse, 1e-5, 0),
                  "mse %.9g against %.9g", mt.mse, last_stats.valid_mse);
    /* ... and with an evaluation written out by hand. */
    double sse = 0, sae = 0, sum[2] = {0}, sq[2] = {0}, sse_k[2] = {0};
    float out[2];
    for (int i = 0; i < 100; i++) {
        float xi[2];
        TU_OK(mlp_dataset_sample(va, i, xi));
        TU_OK(mlp_model_predict_one(m, xi, 2, MLP_OUTPUT_RAW, out, 2));
        const float *ti = mlp_dataset_target_values(va, i);
        for (int j = 0; j < 2; j++) {
            double d = (double)out[j] - ti[j];
            sse += d * d;
            sae += fabs(d);
            sse_k[j] += d * d;
            sum[j] += ti[j];
            sq[j] += (double)ti[j] * ti[j];
        }
    }
    double r2 = 0;
    for (int j = 0; j < 2; j++)
        r2 += 1 - sse_k[j] / (sq[j] - sum[j] * sum[j] / 100);
    ck_assert(tu_close(mt.mse, sse / 200, 1e-5, 0));
    ck_assert(tu_close(mt.mae, sae / 200, 1e-5, 0));
    ck_assert(tu_close(mt.r2, r2 / 2, 1e-5, 0));
    ck_assert(isnan(mt.accuracy));
    ck_assert_int_eq(mt.count, 100);
    double err, acc;
    TU_OK(mlp_model_evaluate(m, va, 33, &err, &acc)); /* mt's batches */
    ck_assert(tu_close(err, mt.loss, 1e-9, 0) && isnan(acc));

    /* A classification set for a regression model: refused. */
    mlp_dataset *cls = tu_blobs(10, 2, 1, 1, 2, 5, 1, 1);
    TU_FAIL_MSG(
        mlp_model_evaluate(m, cls, 10, &err, &acc), MLP_STATUS_INVALID_ARG,
        "the model's loss, mse, takes float targets but the dataset has class labels");
    /* for bce_logits the message says how to give it 0/1 targets */
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_BCE_LOGITS, 0));
    TU_FAIL_MSG(mlp_model_evaluate(m, cls, 10, &err, &acc), MLP_STATUS_INVALID_ARG,
                "or bce_logits 0/1 float targets (a CSV column of 0s and 1s read with "
                "MLP_CSV_REGRESS");
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    /* Targets of another width. */
    mlp_model *one = tu_model(1, (int32_t[]){2}, 3);
    tu_add(one, tu_dense(1));
    TU_OK(mlp_model_set_loss(one, MLP_LOSS_MAE, 0));
    TU_FAIL_MSG(mlp_model_evaluate(one, va, 10, &err, &acc), MLP_STATUS_SHAPE_MISMATCH,
                "the dataset's targets have 2 values but the model outputs 1");
    mlp_model_destroy(one);
    mlp_dataset_destroy(cls);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
    mlp_dataset_destroy(va);
}
END_TEST

/* Targets far from 0 beside their spread (1000 + 0.01 u): R^2 from sums of
 * t and t^2 loses the spread in the rounding of 10^6-sized squares (R^2 0
 * here, or noise). The library's R^2, in an evaluation and over a fit's
 * epoch whose steps do not move the weights, must match a two-pass R^2 of
 * the model's own predictions. */
START_TEST(r2_of_targets_far_from_zero)
{
    enum { N = 60000 };
    static float x[N], t[N];
    tu_rng r;
    tu_rng_seed(&r, 11);
    tu_fill_uniform(&r, x, N, -1, 1);
    for (int i = 0; i < N; i++)
        t[i] = 1000.0f + 0.01f * x[i];
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32_values(&ds, N, 1, (int32_t[]){1}, x, 1, t,
                                        MLP_DATASET_BORROW));
    mlp_model *m = tu_model(1, (int32_t[]){1}, 3);
    tu_add(m, tu_dense(1));
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    float *w = mlp_layer_params(mlp_model_layer(m, 0));
    w[0] = 0.005f; /* halfway from the mean to the target: R^2 near 0.75 */
    w[1] = 1000.0f;
    double mean = 0, sse = 0, sst = 0;
    for (int i = 0; i < N; i++)
        mean += t[i];
    mean /= N;
    for (int i = 0; i < N; i++) {
        float p;
        TU_OK(mlp_model_predict_one(m, x + i, 1, MLP_OUTPUT_RAW, &p, 1));
        sse += ((double)p - t[i]) * ((double)p - t[i]);
        sst += (t[i] - mean) * (t[i] - mean);
    }
    const double want = 1 - sse / sst;
    ck_assert_msg(want > 0.7 && want < 0.8, "two-pass R^2 %.9g", want);
    mlp_metrics mt;
    TU_OK(mlp_model_evaluate_metrics(m, ds, 1000, &mt));
    ck_assert_msg(tu_close(mt.r2, want, 1e-6, 0), "R^2 %.9g, two-pass %.9g", mt.r2, want);
    /* A fit's training R^2: steps of 1e-30 leave every weight as it is. */
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 1e-30));
    fit_keeping_stats(m, o, ds, ds, 1, 500);
    ck_assert(w[0] == 0.005f && w[1] == 1000.0f);
    ck_assert_msg(tu_close(last_stats.train_r2, want, 1e-6, 0), "training R^2 %.9g",
                  last_stats.train_r2);
    ck_assert_msg(tu_close(last_stats.valid_r2, want, 1e-6, 0), "validation R^2 %.9g",
                  last_stats.valid_r2);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("loss");
    tcase_add_test(tc, loss_defaults_and_choice);
    tcase_add_test(tc, huber_deltas_no_float_holds_are_refused);
    tcase_add_test(tc, class_weights_rules);
    tcase_add_test(tc, class_weights_shape_the_training_step);
    tcase_add_test(tc, class_weights_over_the_evaluated_set);
    suite_add_tcase(s, tc);
    tc = tcase_create("targets");
    tcase_add_test(tc, mse_step_hand_computed);
    tcase_add_loop_test(tc, regression_learns_a_plane, 0, 3);
    tcase_add_test(tc, targets_misuse);
    suite_add_tcase(s, tc);
    tc = tcase_create("predict");
    tcase_add_test(tc, predictions_follow_the_task);
    tcase_add_test(tc, predictions_that_overflow_are_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("metrics");
    tcase_add_test(tc, metrics_of_a_classifier);
    tcase_add_test(tc, fit_fills_the_new_epoch_figures);
    suite_add_tcase(s, tc);
    tc = tcase_create("standardize");
    tcase_add_test(tc, standardize_forward_and_gradients);
    tcase_add_test(tc, standardize_from_data);
    tcase_add_test(tc, standardize_refuses_values_that_are_not_finite);
    tcase_add_test(tc, evaluate_names_the_sample_that_is_not_finite);
    tcase_add_test(tc, bce_targets_outside_0_1_name_the_sample);
    tcase_add_test(tc, class_ids_that_name_other_classes_are_refused);
    tcase_add_test(tc, fit_names_an_unnamed_model_after_its_training_set);
    suite_add_tcase(s, tc);
    tc = tcase_create("regression");
    tcase_add_test(tc, fit_regression_with_metrics);
    tcase_add_test(tc, r2_of_targets_far_from_zero);
    suite_add_tcase(s, tc);
    tc = tcase_create("file");
    tcase_add_test(tc, file_keeps_the_task);
    tcase_add_test(tc, file_refuses_bad_task_records);
    tcase_add_test(tc, file_refuses_huber_deltas_no_float_holds);
    tcase_add_test(tc, class_names_rules);
    tcase_add_test(tc, class_names_one_rule);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(task_suite, 0)
