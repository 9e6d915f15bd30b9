/*
 * The training step split by rows across threads (lib/model/split.c):
 * which models and batches take it, that it trains as the unsplit step
 * does (the same loss sums, the same gradient up to rounding), that it is
 * deterministic at a thread count, that its errors are the unsplit step's,
 * and what it allocates. The unsplit step of the same model at the same
 * thread count (the model's split_off switch) is the reference.
 */
/* The deprecated keep-probability dropout creator is tested here too. */
#define MLPNET_NO_DEPRECATION_WARNINGS
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "data/dataset_impl.h"
#include "losses/loss_impl.h"
#include "model/model_impl.h"
#include "testutil.h"

enum { IN = 12, K = 5 };

/* A model of every kind of layer the split takes: standardize, dense,
 * ELU, a ReLU that runs in place over the dense layer's output, leaky
 * ReLU, reshape, and a last dense layer of k outputs, followed by `tail`
 * (an in-place tanh over the last layer's buffer) when set. */
static mlp_model *mlp_of_every_kind(uint64_t seed, int32_t k, int tail)
{
    mlp_model *m = tu_model(1, (const int32_t[]){IN}, seed);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_standardize(&l));
    tu_add(m, l);
    tu_add(m, tu_dense(10));
    tu_add(m, tu_elu(1.0f));
    tu_add(m, tu_dense(9));
    tu_add(m, tu_relu());
    tu_add(m, tu_leaky_relu(0.1f));
    tu_add(m, tu_reshape(2, (const int32_t[]){3, 3}));
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(k));
    if (tail)
        tu_add(m, tu_tanh());
    ck_assert(mlp__model_writes_over_input(m, 4)); /* the ReLU */
    return m;
}

static mlp_tensor *batch_of(int32_t n, uint64_t seed)
{
    mlp_tensor *x = tu_tensor(2, n, IN);
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, mlp_tensor_data(x), (int64_t)n * IN, -1.0f, 1.0f);
    return x;
}

static void labels_of(int32_t *labels, int32_t n, uint64_t seed)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    for (int32_t i = 0; i < n; i++)
        labels[i] = tu_rng_below(&r, K);
}

/* The parts a step of n rows of m takes now. */
static int parts_of(mlp_model *m, int32_t n)
{
    const mlp__loss *L = NULL;
    TU_OK(mlp__model_loss(m, "test", &L));
    return mlp__split_parts(m, L, n);
}

/* A model of every kind (a) and its unsplit twin (b, the same seed), each
 * with an optimizer of `rule`, and room for their parameters. */
typedef struct twins {
    mlp_model *a, *b;
    mlp_optimizer *oa, *ob;
    int64_t np;
    float *pa, *pb;
} twins;

static twins twins_of(uint64_t seed, mlp_rule rule)
{
    twins t = {mlp_of_every_kind(seed, K, 0),
               mlp_of_every_kind(seed, K, 0),
               NULL,
               NULL,
               0,
               NULL,
               NULL};
    t.b->split_off = 1;
    TU_OK(mlp_optimizer_create(&t.oa, rule, t.a));
    TU_OK(mlp_optimizer_create(&t.ob, rule, t.b));
    t.np = mlp_model_param_count(t.a);
    t.pa = malloc((size_t)t.np * sizeof(float));
    t.pb = malloc((size_t)t.np * sizeof(float));
    return t;
}

static void twins_free(twins *t)
{
    free(t->pa);
    free(t->pb);
    mlp_optimizer_destroy(t->oa);
    mlp_optimizer_destroy(t->ob);
    mlp_model_destroy(t->a);
    mlp_model_destroy(t->b);
}

/* One step of both twins on n rows drawn from `seed`: the same loss and
 * correct count, and afterwards the same parameters (left in t->pa and
 * t->pb) up to rounding. */
static void step_twins(twins *t, int32_t n, uint64_t seed, const char *what)
{
    mlp_tensor *x = batch_of(n, seed);
    int32_t labels[64];
    ck_assert_int_le(n, 64);
    labels_of(labels, n, seed + 1000);
    double la, lb;
    int32_t ca, cb;
    TU_OK(mlp_model_train_step(t->a, t->oa, x, labels, &la, &ca));
    TU_OK(mlp_model_train_step(t->b, t->ob, x, labels, &lb, &cb));
    ck_assert_msg(tu_close(la, lb, 1e-6, 1e-7), "%s: loss %.9g vs %.9g", what, la, lb);
    ck_assert_int_eq(ca, cb);
    TU_OK(mlp_model_get_params(t->a, t->pa, t->np));
    TU_OK(mlp_model_get_params(t->b, t->pb, t->np));
    tu_assert_close_ff(what, t->pa, t->pb, t->np, 1e-5, 1e-6);
    mlp_tensor_destroy(x);
}

/* The same steps on a split model and an unsplit twin (the same seed) at
 * each thread count and batch size: the same loss sums (correct counts
 * exact) and, after each step, the same parameters up to rounding; the
 * split model's steps do split into the parts expected, and the parameters
 * move. Batches of 33 and 50 rows cut into unequal parts. */
START_TEST(split_step_matches_unsplit)
{
    static const struct {
        int threads;
        int32_t n;
        int parts;
    } cases[] = {{2, 40, 2}, {2, 33, 2}, {3, 50, 3}, {4, 64, 4}};
    const int threads = mlp_get_num_threads();
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        TU_OK(mlp_set_num_threads(cases[c].threads));
        const int32_t n = cases[c].n;
        twins t = twins_of(3, MLP_RULE_SGD);
        TU_OK(mlp_optimizer_set_learning_rate(t.oa, 0.2));
        TU_OK(mlp_optimizer_set_learning_rate(t.ob, 0.2));
        float *start = malloc((size_t)t.np * sizeof(float));
        TU_OK(mlp_model_get_params(t.a, start, t.np));
        ck_assert_int_eq(parts_of(t.a, n), cases[c].parts);
        ck_assert_int_eq(parts_of(t.b, n), 1);
        for (int s = 0; s < 4; s++)
            step_twins(&t, n, 100 + (uint64_t)s, "split parameters");
        ck_assert_ptr_nonnull(t.a->split);
        ck_assert_ptr_null(t.b->split);
        double moved = 0.0;
        for (int64_t i = 0; i < t.np; i++)
            moved = fmax(moved, fabs((double)t.pa[i] - start[i]));
        ck_assert_msg(moved > 1e-3, "case %zu: the parameters hardly moved (%g)", c,
                      moved);
        free(start);
        twins_free(&t);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* One model trained on batches that grow (the buffers grow, the parts'
 * with them) and on thread counts that change between steps (the parts'
 * buffers follow), against its unsplit twin. */
START_TEST(split_follows_batch_and_thread_changes)
{
    static const struct {
        int threads;
        int32_t n;
    } steps[] = {{2, 32}, {2, 64}, {3, 48}, {3, 64}, {2, 40}, {1, 64}, {4, 64}, {2, 50}};
    const int threads = mlp_get_num_threads();
    twins t = twins_of(23, MLP_RULE_MOMENTUM);
    for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
        TU_OK(mlp_set_num_threads(steps[s].threads));
        const int32_t n = steps[s].n;
        ck_assert_int_eq(parts_of(t.a, n), steps[s].threads);
        step_twins(&t, n, 300 + (uint64_t)s, "parameters");
    }
    twins_free(&t);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A model over images with average pooling splits too, and its steps
 * match the unsplit twin's. */
START_TEST(split_avgpool_matches_unsplit)
{
    enum { N = 36 };
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    mlp_model *m[2];
    mlp_optimizer *o[2];
    for (int v = 0; v < 2; v++) {
        m[v] = tu_model(3, (const int32_t[]){2, 6, 6}, 8);
        mlp_layer *l = NULL;
        TU_OK(mlp_layer_create_avgpool(&l, 2, 2, 2, 0));
        tu_add(m[v], l);
        tu_add(m[v], tu_flatten());
        tu_add(m[v], tu_dense(8));
        tu_add(m[v], tu_sigmoid());
        tu_add(m[v], tu_dense(K));
        m[v]->split_off = v;
        ck_assert_int_eq(parts_of(m[v], N), v ? 1 : 2);
        TU_OK(mlp_optimizer_create(&o[v], MLP_RULE_NESTEROV, m[v]));
    }
    mlp_tensor *x = tu_tensor(4, N, 2, 6, 6);
    tu_rng r;
    tu_rng_seed(&r, 12);
    tu_fill_uniform(&r, mlp_tensor_data(x), mlp_tensor_numel(x), -2.0f, 2.0f);
    int32_t labels[N];
    labels_of(labels, N, 13);
    double loss[2];
    for (int s = 0; s < 3; s++)
        for (int v = 0; v < 2; v++)
            TU_OK(mlp_model_train_step(m[v], o[v], x, labels, &loss[v], NULL));
    ck_assert_msg(tu_close(loss[0], loss[1], 1e-6, 1e-7), "loss %g vs %g", loss[0],
                  loss[1]);
    const int64_t np = mlp_model_param_count(m[0]);
    float *p0 = malloc((size_t)np * sizeof(float)),
          *p1 = malloc((size_t)np * sizeof(float));
    TU_OK(mlp_model_get_params(m[0], p0, np));
    TU_OK(mlp_model_get_params(m[1], p1, np));
    tu_assert_close_ff("avgpool model's parameters", p0, p1, np, 1e-5, 1e-6);
    ck_assert_ptr_nonnull(m[0]->split);
    free(p0);
    free(p1);
    mlp_tensor_destroy(x);
    for (int v = 0; v < 2; v++) {
        mlp_optimizer_destroy(o[v]);
        mlp_model_destroy(m[v]);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* Epoch figures of fit over float targets (MSE, whose per-output sums give
 * R^2) with the last layer's buffer written over by a tanh: split and
 * unsplit agree. */
typedef struct epoch_log {
    mlp_epoch_stats last;
    int calls;
} epoch_log;

static int log_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    epoch_log *log = user;
    log->last = *s;
    log->calls++;
    return 0;
}

START_TEST(split_fit_regression_matches_unsplit)
{
    enum { N = 96, T = 3 };
    float *x = malloc(sizeof(float) * N * IN), *t = malloc(sizeof(float) * N * T);
    tu_rng r;
    tu_rng_seed(&r, 5);
    tu_fill_uniform(&r, x, (int64_t)N * IN, -1.0f, 1.0f);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < T; j++)
            t[i * T + j] = 0.5f * tanhf(x[i * IN + j] - 0.5f * x[i * IN + j + 3]);
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32_values(&ds, N, 1, (const int32_t[]){IN}, x, T, t,
                                        MLP_DATASET_COPY));
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    epoch_log logs[2];
    for (int v = 0; v < 2; v++) {
        mlp_model *m = mlp_of_every_kind(9, T, 1);
        m->split_off = v;
        TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0.0));
        ck_assert_int_eq(parts_of(m, 48), v ? 1 : 2);
        mlp_optimizer *o = NULL;
        TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
        TU_OK(mlp_optimizer_set_learning_rate(o, 0.01));
        mlp_fit_options opts;
        mlp_fit_options_init(&opts);
        opts.epochs = 3;
        opts.batch_size = 48;
        opts.seed = 4;
        opts.on_epoch = log_epoch;
        opts.user = &logs[v];
        memset(&logs[v], 0, sizeof logs[v]);
        TU_OK(mlp_model_fit(m, o, ds, NULL, &opts));
        ck_assert_int_eq(logs[v].calls, 3);
        ck_assert_int_eq(m->split != NULL, v == 0);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    const mlp_epoch_stats *a = &logs[0].last, *b = &logs[1].last;
    ck_assert_msg(tu_close(a->train_error, b->train_error, 1e-5, 1e-7), "error %g vs %g",
                  a->train_error, b->train_error);
    ck_assert_msg(tu_close(a->train_mae, b->train_mae, 1e-5, 1e-7), "MAE %g vs %g",
                  a->train_mae, b->train_mae);
    ck_assert_msg(tu_close(a->train_r2, b->train_r2, 1e-5, 1e-7), "R^2 %g vs %g",
                  a->train_r2, b->train_r2);
    ck_assert_msg(isfinite(a->train_r2) && a->train_r2 > -1.0, "R^2 %g", a->train_r2);
    TU_OK(mlp_set_num_threads(threads));
    mlp_dataset_destroy(ds);
    free(x);
    free(t);
}
END_TEST

/* Which steps split: not on one thread, not with parts under 16 rows, not
 * with class weights or the switch off, not with a layer of another kind
 * (batch norm, dropout, convolution, max pooling); those models still
 * train on two threads. */
START_TEST(split_taken_only_where_it_may)
{
    const int threads = mlp_get_num_threads();
    mlp_model *m = mlp_of_every_kind(1, K, 0);
    TU_OK(mlp_set_num_threads(1));
    ck_assert_int_eq(parts_of(m, 100), 1);
    TU_OK(mlp_set_num_threads(2));
    ck_assert_int_eq(parts_of(m, 31), 1);
    ck_assert_int_eq(parts_of(m, 32), 2);
    TU_OK(mlp_set_num_threads(3));
    ck_assert_int_eq(parts_of(m, 47), 2);
    ck_assert_int_eq(parts_of(m, 48), 3);
    m->split_off = 1;
    ck_assert_int_eq(parts_of(m, 48), 1);
    m->split_off = 0;
    const float w[K] = {1.0f, 2.0f, 1.0f, 1.0f, 0.5f};
    TU_OK(mlp_model_set_class_weights(m, w, K));
    ck_assert_int_eq(parts_of(m, 48), 1);
    TU_OK(mlp_model_set_class_weights(m, NULL, 0));
    ck_assert_int_eq(parts_of(m, 48), 3);
    mlp_model_destroy(m);

    TU_OK(mlp_set_num_threads(2));
    for (int kind = 0; kind < 4; kind++) {
        mlp_model *c = tu_model(3, (const int32_t[]){1, 6, 6}, 2);
        mlp_layer *l = NULL;
        switch (kind) {
        case 0: TU_OK(mlp_layer_create_batchnorm_spatial(&l)); break;
        case 1: TU_OK(mlp_layer_create_dropout(&l, 0.8f)); break;
        case 2: TU_OK(mlp_layer_create_conv2d(&l, 1, 2, 3, 3)); break;
        default: TU_OK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0)); break; /* indices */
        }
        tu_add(c, l);
        tu_add(c, tu_flatten());
        tu_add(c, tu_dense(K));
        ck_assert_msg(parts_of(c, 64) == 1, "kind %d splits", kind);
        mlp_optimizer *o = NULL;
        TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, c));
        mlp_tensor *x = tu_tensor(4, 64, 1, 6, 6);
        tu_rng r;
        tu_rng_seed(&r, 3);
        tu_fill_uniform(&r, mlp_tensor_data(x), mlp_tensor_numel(x), 0.0f, 1.0f);
        int32_t labels[64];
        labels_of(labels, 64, 4);
        TU_OK(mlp_model_train_step(c, o, x, labels, NULL, NULL));
        ck_assert_ptr_null(c->split);
        mlp_tensor_destroy(x);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(c);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A failing split step fails as the unsplit one does, with the same
 * message (a row counted from the batch's start, the layer to blame), and
 * leaves the parameters as they were; the next good step trains. */
START_TEST(split_errors_as_unsplit)
{
    enum { N = 40 };
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    char msg[2][3][512];
    for (int v = 0; v < 2; v++) {
        mlp_model *m = mlp_of_every_kind(13, K, 0);
        m->split_off = v;
        ck_assert_int_eq(parts_of(m, N), v ? 1 : 2);
        mlp_optimizer *o = NULL;
        TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
        const int64_t np = mlp_model_param_count(m);
        float *before = malloc((size_t)np * sizeof(float)),
              *after = malloc((size_t)np * sizeof(float));
        TU_OK(mlp_model_get_params(m, before, np));
        mlp_tensor *x = batch_of(N, 1);
        int32_t labels[N];
        labels_of(labels, N, 2);
        /* a label out of range in the second part's rows */
        labels[30] = K;
        TU_FAIL_MSG(mlp_model_train_step(m, o, x, labels, NULL, NULL),
                    MLP_STATUS_INVALID_ARG, "row 30");
        snprintf(msg[v][0], sizeof msg[v][0], "%s", mlp_last_error());
        labels[30] = 0;
        /* a NaN weight in the last dense layer (before it, a ReLU would
         * pass a NaN on as 0) */
        float *p = mlp_layer_params(mlp_model_layer(m, 8));
        const float keep = p[5];
        p[5] = NAN;
        TU_OK(mlp_model_get_params(m, after, np));
        TU_FAIL_MSG(mlp_model_train_step(m, o, x, labels, NULL, NULL), MLP_STATUS_NUMERIC,
                    "layer 8 (dense)");
        snprintf(msg[v][1], sizeof msg[v][1], "%s", mlp_last_error());
        float *now = malloc((size_t)np * sizeof(float));
        TU_OK(mlp_model_get_params(m, now, np));
        ck_assert_mem_eq(now, after, (size_t)np * sizeof(float)); /* NaN bits too */
        p[5] = keep;
        TU_OK(mlp_model_get_params(m, now, np));
        ck_assert_mem_eq(now, before, (size_t)np * sizeof(float));
        /* inputs too large for the outputs (row 35): the last layer overflows */
        mlp_tensor *big = batch_of(N, 1);
        for (int j = 0; j < IN; j++)
            mlp_tensor_data(big)[35 * IN + j] = 3e38f;
        TU_FAIL_MSG(mlp_model_train_step(m, o, big, labels, NULL, NULL),
                    MLP_STATUS_NUMERIC, "the loss is not finite");
        snprintf(msg[v][2], sizeof msg[v][2], "%s", mlp_last_error());
        TU_OK(mlp_model_get_params(m, now, np));
        ck_assert_mem_eq(now, before, (size_t)np * sizeof(float));
        TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
        mlp_tensor_destroy(big);
        mlp_tensor_destroy(x);
        free(now);
        free(before);
        free(after);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    for (int e = 0; e < 3; e++)
        ck_assert_msg(strcmp(msg[0][e], msg[1][e]) == 0,
                      "error %d: \"%s\" against \"%s\"", e, msg[0][e], msg[1][e]);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A training step, split or not, leaves no forward pass for
 * mlp_model_backward. */
START_TEST(step_leaves_no_forward_pass)
{
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    for (int v = 0; v < 2; v++) {
        mlp_model *m = mlp_of_every_kind(17, K, 0);
        m->split_off = v;
        mlp_optimizer *o = NULL;
        TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
        mlp_tensor *x = batch_of(40, 1), *dy = tu_tensor(2, 40, K);
        int32_t labels[40];
        labels_of(labels, 40, 2);
        TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
        TU_FAIL(mlp_model_backward(m, dy, NULL), MLP_STATUS_BAD_STATE);
        const mlp_tensor *y = NULL;
        TU_OK(mlp_model_forward(m, x, MLP_MODE_TRAIN, &y));
        TU_OK(mlp_model_backward(m, dy, NULL));
        mlp_tensor_destroy(x);
        mlp_tensor_destroy(dy);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* The first split step allocates the parts' buffers; later steps, also of
 * a smaller batch, allocate nothing. A step on more threads allocates
 * buffers for more parts, and an allocation failing there fails the step
 * with NO_MEMORY, the parameters untouched and nothing leaked. */
typedef struct oom_step {
    mlp_model *m;
    mlp_optimizer *o;
    mlp_tensor *x;
    const int32_t *labels;
    float *before, *now;
} oom_step;

static mlp_status one_step(void *ctx)
{
    oom_step *s = ctx;
    mlp_status st = mlp_model_train_step(s->m, s->o, s->x, s->labels, NULL, NULL);
    if (st != MLP_STATUS_OK) {
        const int64_t np = mlp_model_param_count(s->m);
        TU_OK(mlp_model_get_params(s->m, s->now, np));
        ck_assert_mem_eq(s->now, s->before, (size_t)np * sizeof(float));
    } else {
        TU_OK(mlp_model_get_params(s->m, s->before, mlp_model_param_count(s->m)));
    }
    return st;
}

START_TEST(split_allocates_once)
{
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    mlp_model *m = mlp_of_every_kind(19, K, 0);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    mlp_tensor *x = batch_of(48, 1), *x32 = batch_of(32, 2);
    int32_t labels[48];
    labels_of(labels, 48, 3);
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    ck_assert_ptr_nonnull(m->split);
    const long live = mlp__alloc_live();
    for (int s = 0; s < 3; s++) {
        mlp__alloc_fail_after(1);
        mlp_status st = mlp_model_train_step(m, o, s == 2 ? x32 : x, labels, NULL, NULL);
        mlp__alloc_fail_after(0);
        TU_ST(st, MLP_STATUS_OK);
    }
    ck_assert_int_eq(mlp__alloc_live(), live);

    TU_OK(mlp_set_num_threads(3));
    mlp__split_release(m); /* the 2-part buffers: not counted live below */
    const int64_t np = mlp_model_param_count(m);
    oom_step s = {m,
                  o,
                  x,
                  labels,
                  malloc((size_t)np * sizeof(float)),
                  malloc((size_t)np * sizeof(float))};
    TU_OK(mlp_model_get_params(m, s.before, np));
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.keep_on_ok = 1; /* the buffers stay with the model */
    cfg.min_failures = 3;
    tu_oom_loop("a split step on 3 threads", one_step, &s, &cfg);
    ck_assert_int_eq(parts_of(m, 48), 3);
    free(s.before);
    free(s.now);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(x32);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A model wide enough (18,005 parameters) that the parts' gradients are
 * added, and the optimizer steps, on both threads and in several blocks
 * each (sum_part in split.c, step_part in optim.c), the last block of each
 * thread's range short: two split steps give its unsplit twin's
 * parameters up to rounding. */
START_TEST(split_sums_a_wide_model)
{
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    mlp_model *m[2];
    mlp_optimizer *o[2];
    for (int v = 0; v < 2; v++) {
        m[v] = tu_model(1, (const int32_t[]){IN}, 23);
        tu_add(m[v], tu_dense(1000));
        tu_add(m[v], tu_elu(1.0f));
        tu_add(m[v], tu_dense(K));
        m[v]->split_off = v;
        TU_OK(mlp_optimizer_create(&o[v], MLP_RULE_MOMENTUM, m[v]));
        TU_OK(mlp_optimizer_set_learning_rate(o[v], 0.2));
    }
    const int64_t np = mlp_model_param_count(m[0]);
    ck_assert_int_eq(np, 18005);
    ck_assert_int_eq(parts_of(m[0], 40), 2);
    float *p[2] = {malloc((size_t)np * sizeof(float)),
                   malloc((size_t)np * sizeof(float))};
    int32_t labels[40];
    for (int s = 0; s < 2; s++) {
        mlp_tensor *x = batch_of(40, 30 + (uint64_t)s);
        labels_of(labels, 40, 40 + (uint64_t)s);
        for (int v = 0; v < 2; v++)
            TU_OK(mlp_model_train_step(m[v], o[v], x, labels, NULL, NULL));
        mlp_tensor_destroy(x);
    }
    ck_assert_ptr_nonnull(m[0]->split);
    for (int v = 0; v < 2; v++)
        TU_OK(mlp_model_get_params(m[v], p[v], np));
    tu_assert_close_ff("wide model's parameters", p[0], p[1], np, 1e-5, 1e-6);
    for (int v = 0; v < 2; v++) {
        free(p[v]);
        mlp_optimizer_destroy(o[v]);
        mlp_model_destroy(m[v]);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* ---- the first dense layer split by its inputs --------------------------- */

enum { WIDE = 200 }; /* inputs: enough for 2 or 3 parts of 64 or more, not 4 */

/* WIDE inputs -> dense 24 (its bias when `bias`) -> an activation -> dense
 * K: the first layer holds most of the parameters. The activation: `act`
 * 0 an ELU, 1 a ReLU run over the dense layer's output, 2 none; `act` 3:
 * WIDE inputs -> dense K -> a tanh over its output, the last layer (which
 * parts other than the first run out of place). */
static mlp_model *wide_mlp(uint64_t seed, int act, int bias)
{
    mlp_model *m = tu_model(1, (const int32_t[]){WIDE}, seed);
    mlp_layer *l = tu_dense(act == 3 ? K : 24);
    TU_OK(mlp_layer_set_use_bias(l, bias));
    tu_add(m, l);
    if (act == 3) {
        tu_add(m, tu_tanh());
        ck_assert(mlp__model_writes_over_input(m, 1));
        return m;
    }
    if (act < 2)
        tu_add(m, act ? tu_relu() : tu_elu(1.0f));
    tu_add(m, tu_dense(K));
    ck_assert(act != 1 || mlp__model_writes_over_input(m, 1));
    return m;
}

static mlp_tensor *wide_batch(int32_t n, uint64_t seed)
{
    mlp_tensor *x = tu_tensor(2, n, WIDE);
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, mlp_tensor_data(x), (int64_t)n * WIDE, -1.0f, 1.0f);
    return x;
}

/* The optimizer's cut after a first-layer split of `parts` parts: the
 * first layer's weights, then the rest, each in `parts` pieces in order,
 * covering the parameters once; the inner bounds of the weights' pieces
 * at whole 64-byte lines and whole rows of W, every piece holding rows. */
static void check_cut(const mlp_model *m, int parts)
{
    const mlp__step_cut *c = mlp__split_cut(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->parts, parts);
    const mlp_layer *l = m->layers[0];
    ck_assert_int_eq(c->lead[0], 0);
    ck_assert_int_eq(c->lead[parts], l->n_weights);
    ck_assert_int_eq(c->rest[0], l->n_weights);
    ck_assert_int_eq(c->rest[parts], m->n_params);
    for (int t = 0; t < parts; t++) {
        ck_assert_int_lt(c->lead[t], c->lead[t + 1]);
        ck_assert_int_le(c->rest[t], c->rest[t + 1]);
        ck_assert_int_eq(c->lead[t] % l->out_size, 0);
        ck_assert_int_eq(c->lead[t] * (int64_t)sizeof(float) % 64, 0);
    }
}

/* After a step on a batch too short to split by rows, in parts of the
 * first layer's inputs alone: part 0 steps all the rest of the parameters
 * (the other parts, none of it), which only its thread read. */
static void check_rest_on_part0(const mlp_model *m, int parts)
{
    const mlp__step_cut *c = mlp__split_cut(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->parts, parts);
    for (int t = 1; t <= parts; t++)
        ck_assert_int_eq(c->rest[t], m->n_params);
}

/* Split by its first layer's inputs, a step trains as the unsplit twin
 * does: the same losses up to rounding and correct counts, and after each
 * step the same parameters up to rounding, for an ELU and for a ReLU run
 * over the dense layer's output, for none, and for a tanh as the last
 * layer, with and without the first layer's bias,
 * on SGD and momentum, with and without weight decay and L1 (which reach
 * the weights' pieces of the step only), in 2 and 3 parts, unequal ones
 * too; and batches too short to split by rows (under 32 rows,
 * down to one row), whose first layer alone is split. Not Adam: its steps
 * scale each gradient to about the rate, so a near-zero gradient's
 * rounding moves a parameter by up to the rate; that the optimizer's cut
 * keeps every rule's bits is check_optim's. */
START_TEST(first_split_matches_unsplit)
{
    static const struct {
        int threads;
        int32_t n;
        int parts, act, bias;
        mlp_rule rule;
        int decay; /* weight decay and L1 (on the weights' segments) */
    } cases[] = {
        {2, 40, 2, 0, 1, MLP_RULE_SGD, 0},      {2, 33, 2, 1, 1, MLP_RULE_SGD, 1},
        {3, 50, 3, 0, 0, MLP_RULE_MOMENTUM, 1}, {3, 48, 3, 1, 0, MLP_RULE_SGD, 0},
        {2, 64, 2, 1, 1, MLP_RULE_MOMENTUM, 0}, {2, 48, 2, 2, 1, MLP_RULE_SGD, 1},
        {3, 50, 3, 3, 1, MLP_RULE_SGD, 0},      {2, 20, 2, 0, 1, MLP_RULE_SGD, 0},
        {2, 9, 2, 1, 1, MLP_RULE_MOMENTUM, 1},  {2, 1, 2, 2, 1, MLP_RULE_SGD, 1},
        {3, 30, 3, 2, 0, MLP_RULE_SGD, 1},      {3, 16, 3, 3, 1, MLP_RULE_MOMENTUM, 0},
        {3, 2, 3, 0, 1, MLP_RULE_SGD, 0},
    };
    const int threads = mlp_get_num_threads();
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        TU_OK(mlp_set_num_threads(cases[c].threads));
        mlp_model *m[2];
        mlp_optimizer *o[2];
        for (int v = 0; v < 2; v++) {
            m[v] = wide_mlp(5 + c, cases[c].act, cases[c].bias);
            m[v]->split_off = v;
            TU_OK(mlp_optimizer_create(&o[v], cases[c].rule, m[v]));
            TU_OK(mlp_optimizer_set_learning_rate(o[v], 0.05));
            if (cases[c].decay) {
                TU_OK(mlp_optimizer_set(o[v], MLP_OPTIM_WEIGHT_DECAY, 1e-2));
                TU_OK(mlp_optimizer_set(o[v], MLP_OPTIM_L1, 1e-3));
            }
        }
        const int32_t n = cases[c].n;
        ck_assert_int_eq(parts_of(m[0], n), cases[c].parts);
        const int64_t np = mlp_model_param_count(m[0]);
        float *p[2] = {malloc((size_t)np * sizeof(float)),
                       malloc((size_t)np * sizeof(float))},
              *start = malloc((size_t)np * sizeof(float));
        TU_OK(mlp_model_get_params(m[0], start, np));
        for (int s = 0; s < 4; s++) {
            mlp_tensor *x = wide_batch(n, 200 + (uint64_t)s);
            int32_t labels[64];
            labels_of(labels, n, 300 + (uint64_t)s);
            double loss[2];
            int32_t correct[2];
            for (int v = 0; v < 2; v++) {
                TU_OK(mlp_model_train_step(m[v], o[v], x, labels, &loss[v], &correct[v]));
                TU_OK(mlp_model_get_params(m[v], p[v], np));
            }
            ck_assert_msg(tu_close(loss[0], loss[1], 1e-6, 1e-7),
                          "case %zu: loss %.9g vs %.9g", c, loss[0], loss[1]);
            ck_assert_int_eq(correct[0], correct[1]);
            tu_assert_close_ff("first-layer split parameters", p[0], p[1], np, 1e-5,
                               1e-6);
            mlp_tensor_destroy(x);
        }
        check_cut(m[0], cases[c].parts);
        if (n < 2 * 16) /* one part by rows */
            check_rest_on_part0(m[0], cases[c].parts);
        ck_assert_ptr_null(m[1]->split);
        double moved = 0.0; /* the first layer's weights, the rest */
        for (int64_t i = 0; i < np; i++)
            moved = fmax(moved, fabs((double)p[0][i] - start[i]));
        ck_assert_msg(moved > 1e-3, "case %zu: the parameters hardly moved (%g)", c,
                      moved);
        for (int v = 0; v < 2; v++) {
            free(p[v]);
            mlp_optimizer_destroy(o[v]);
            mlp_model_destroy(m[v]);
        }
        free(start);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* Steps that alternate between batches split by rows and batches too short
 * for that (an epoch's short last batch, and the next epoch's first) keep
 * the buffers: nothing allocated after the first, the optimizer's cut
 * following each step's parts by rows. */
START_TEST(first_split_short_batch_allocates_nothing)
{
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    mlp_model *m = wide_mlp(23, 0, 1);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_tensor *x40 = wide_batch(40, 1), *x20 = wide_batch(20, 2);
    int32_t labels[40];
    labels_of(labels, 40, 3);
    TU_OK(mlp_model_train_step(m, o, x40, labels, NULL, NULL));
    const long live = mlp__alloc_live();
    for (int s = 0; s < 4; s++) {
        mlp__alloc_fail_after(1);
        mlp_status st = mlp_model_train_step(m, o, s % 2 ? x40 : x20, labels, NULL, NULL);
        mlp__alloc_fail_after(0);
        TU_ST(st, MLP_STATUS_OK);
        check_cut(m, 2);
        if (s % 2 == 0)
            check_rest_on_part0(m, 2);
        else
            ck_assert_int_lt(mlp__split_cut(m)->rest[1], m->n_params);
    }
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_tensor_destroy(x40);
    mlp_tensor_destroy(x20);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A fit whose batches come in the column blocks of a first-layer split,
 * and whose output overflows from finite parameters: the message looks
 * through every block of the input for a NaN (none) and names the output
 * layer. */
START_TEST(first_split_fit_names_an_overflowing_output)
{
    enum { N = 40 };
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    mlp_model *m = wide_mlp(31, 0, 1);
    mlp_tensor *x = wide_batch(N, 3);
    int32_t labels[N];
    labels_of(labels, N, 4);
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, N, 1, (const int32_t[]){WIDE}, mlp_tensor_data(x),
                                 labels, K, MLP_DATASET_COPY));
    ck_assert_int_eq(parts_of(m, N), 2);
    int32_t cols[MLP__CUT_MAX + 1];
    ck_assert_int_eq(mlp__split_input_blocks(m, N, cols), 2);
    mlp_layer *last = mlp_model_layer(m, 2);
    for (int64_t i = 0; i < mlp_layer_param_count(last); i++)
        mlp_layer_params(last)[i] = 3e38f;
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    mlp_fit_options opts;
    mlp_fit_options_init(&opts);
    opts.epochs = 1;
    opts.batch_size = N;
    TU_FAIL_MSG(mlp_model_fit(m, o, ds, NULL, &opts), MLP_STATUS_NUMERIC,
                "the output of layer 2 (dense) overflowed");
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
    mlp_tensor_destroy(x);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* The first layer is split by its inputs only when it is dense, not the
 * last, holds half the parameters or more and gives each part 64 inputs or
 * more, the batch's rows are at most half its inputs a part but one, and the model's
 * first_split_off switch is off; the other steps split by rows alone (a cut of NULL), and
 * all of them match their unsplit twins. */
START_TEST(first_split_taken_only_where_it_may)
{
    const int threads = mlp_get_num_threads();
    for (int c = 0; c < 7; c++) {
        TU_OK(mlp_set_num_threads(2));
        const int32_t in = c == 1 ? 100 : WIDE;       /* 1: 2 parts of 50 inputs */
        const int32_t n = c == 6 ? 128 : c ? 40 : 64; /* 6: 128 rows, over 200 / 2 */
        mlp_model *m[2];
        for (int v = 0; v < 2; v++) {
            m[v] = tu_model(1, (const int32_t[]){in}, 9);
            mlp_layer *l = NULL;
            switch (c) {
            case 0: /* the model that splits */
            case 1:
            case 5: /* with the first_split_off switch */
            case 6: /* a batch too large */
                tu_add(m[v], tu_dense(24));
                tu_add(m[v], tu_elu(1.0f));
                tu_add(m[v], tu_dense(K));
                break;
            case 2: /* not dense first */
                TU_OK(mlp_layer_create_standardize(&l));
                tu_add(m[v], l);
                tu_add(m[v], tu_dense(24));
                tu_add(m[v], tu_dense(K));
                break;
            case 3: /* the first layer holds under half the parameters */
                tu_add(m[v], tu_dense(4));
                tu_add(m[v], tu_dense(400));
                tu_add(m[v], tu_dense(K));
                break;
            default: /* the first layer is the last */ tu_add(m[v], tu_dense(K)); break;
            }
            m[v]->split_off = v;
            m[v]->first_split_off = c == 5;
        }
        mlp_optimizer *o[2];
        for (int v = 0; v < 2; v++)
            TU_OK(mlp_optimizer_create(&o[v], MLP_RULE_SGD, m[v]));
        mlp_tensor *x = tu_tensor(2, n, in);
        tu_rng r;
        tu_rng_seed(&r, 11);
        tu_fill_uniform(&r, mlp_tensor_data(x), (int64_t)n * in, -1.0f, 1.0f);
        int32_t labels[128];
        labels_of(labels, n, 12);
        for (int v = 0; v < 2; v++)
            TU_OK(mlp_model_train_step(m[v], o[v], x, labels, NULL, NULL));
        ck_assert_ptr_nonnull(m[0]->split);
        if (c == 0)
            check_cut(m[0], 2);
        else
            ck_assert_msg(mlp__split_cut(m[0]) == NULL, "case %d split its first layer",
                          c);
        /* the switch off again: the buffers follow, the next step splits it */
        if (c == 5) {
            m[0]->first_split_off = 0;
            for (int v = 0; v < 2; v++)
                TU_OK(mlp_model_train_step(m[v], o[v], x, labels, NULL, NULL));
            check_cut(m[0], 2);
        }
        /* a batch small enough after one too large: split, nothing allocated */
        if (c == 6) {
            mlp_tensor *x64 = wide_batch(64, 13);
            const long live = mlp__alloc_live();
            for (int v = 0; v < 2; v++)
                TU_OK(mlp_model_train_step(m[v], o[v], x64, labels, NULL, NULL));
            ck_assert_int_eq(mlp__alloc_live(), live);
            check_cut(m[0], 2);
            mlp_tensor_destroy(x64);
        }
        const int64_t np = mlp_model_param_count(m[0]);
        float *p[2] = {malloc((size_t)np * sizeof(float)),
                       malloc((size_t)np * sizeof(float))};
        for (int v = 0; v < 2; v++) {
            TU_OK(mlp_model_get_params(m[v], p[v], np));
            mlp_optimizer_destroy(o[v]);
            mlp_model_destroy(m[v]);
        }
        tu_assert_close_ff("parameters", p[0], p[1], np, 1e-5, 1e-6);
        free(p[0]);
        free(p[1]);
        mlp_tensor_destroy(x);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* Two runs at the same thread count give the same bits: the model of every
 * kind on 2 threads (split by rows), the wide one on 3 (its first layer
 * split by its inputs). */
START_TEST(split_is_deterministic)
{
    const int threads = mlp_get_num_threads();
    for (int wide = 0; wide < 2; wide++) {
        TU_OK(mlp_set_num_threads(wide ? 3 : 2));
        float *p[2];
        for (int v = 0; v < 2; v++) {
            mlp_model *m = wide ? wide_mlp(31, 1, 1) : mlp_of_every_kind(21, K, 0);
            mlp_optimizer *o = NULL;
            TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
            for (int s = 0; s < 5; s++) {
                mlp_tensor *x = wide ? wide_batch(48, 7 + (uint64_t)s)
                                     : batch_of(48, 7 + (uint64_t)s);
                int32_t labels[48];
                labels_of(labels, 48, 70 + (uint64_t)s);
                TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
                mlp_tensor_destroy(x);
            }
            ck_assert_ptr_nonnull(m->split);
            if (wide)
                check_cut(m, 3);
            const int64_t np = mlp_model_param_count(m);
            p[v] = malloc((size_t)np * sizeof(float));
            TU_OK(mlp_model_get_params(m, p[v], np));
            if (v)
                ck_assert_mem_eq(p[0], p[1], (size_t)np * sizeof(float));
            mlp_optimizer_destroy(o);
            mlp_model_destroy(m);
        }
        free(p[0]);
        free(p[1]);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* mlp_model_fit on 2 threads over uint8 images, the first layer split,
 * against the unsplit twin: the same epoch figures and parameters up to
 * rounding; at 40 rows a batch (split by rows too) and at 12 (too short
 * for that: the first layer alone, the epoch's last batch of 4 rows), and
 * at 12 with drop_last (that batch left out: the gather's column blocks
 * follow the batcher's count). */
START_TEST(first_split_fit_matches_unsplit)
{
    enum { N = 160 };
    static const int32_t batches[] = {40, 12, 12}, drop[] = {0, 0, 1};
    uint8_t *pix = malloc((size_t)N * WIDE);
    int32_t lab[N];
    for (int i = 0; i < N * WIDE; i++)
        pix[i] = (uint8_t)((i * 7919) % 253);
    for (int i = 0; i < N; i++)
        lab[i] = (pix[i * WIDE] + pix[i * WIDE + 150]) % K;
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create(&ds, N, 1, 10, WIDE / 10, pix, lab, K));
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    double loss[3];
    for (size_t b = 0; b < sizeof batches / sizeof *batches; b++) {
        epoch_log logs[2];
        float *p[2];
        int64_t np = 0;
        for (int v = 0; v < 2; v++) {
            mlp_model *m = tu_model(3, (const int32_t[]){1, 10, WIDE / 10}, 3);
            tu_add(m, tu_dense(24)); /* over the images' 200 pixels */
            tu_add(m, tu_elu(1.0f));
            tu_add(m, tu_dense(K));
            m->split_off = v;
            mlp_optimizer *o = NULL;
            TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
            mlp_fit_options opts;
            mlp_fit_options_init(&opts);
            opts.epochs = 2;
            opts.batch_size = batches[b];
            opts.drop_last = drop[b];
            opts.on_epoch = log_epoch;
            opts.user = &logs[v];
            memset(&logs[v], 0, sizeof logs[v]);
            TU_OK(mlp_model_fit(m, o, ds, NULL, &opts));
            if (v == 0)
                check_cut(m, 2);
            if (v == 0 && batches[b] < 2 * 16)
                check_rest_on_part0(m, 2);
            np = mlp_model_param_count(m);
            p[v] = malloc((size_t)np * sizeof(float));
            TU_OK(mlp_model_get_params(m, p[v], np));
            mlp_optimizer_destroy(o);
            mlp_model_destroy(m);
        }
        ck_assert_msg(
            tu_close(logs[0].last.train_error, logs[1].last.train_error, 1e-5, 1e-7),
            "loss %g vs %g", logs[0].last.train_error, logs[1].last.train_error);
        tu_assert_close_ff("fit's parameters", p[0], p[1], np, 1e-5, 1e-6);
        loss[b] = logs[0].last.train_error;
        free(p[0]);
        free(p[1]);
    }
    ck_assert_msg(loss[1] != loss[2], "drop_last changed nothing");
    free(pix);
    mlp_dataset_destroy(ds);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A failing first-layer split step fails as the unsplit one does, with the
 * same message, the parameters as they were: a label out of range in the
 * second part's rows (of 40; of 20, one part by rows), a NaN weight in the
 * first layer (whose product the parts share). */
START_TEST(first_split_errors_as_unsplit)
{
    enum { N = 40 };
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(2));
    for (int32_t n = N; n >= N / 2; n -= N / 2) {
        const int32_t bad = n * 3 / 4;
        char row[32];
        snprintf(row, sizeof row, "row %d", (int)bad);
        char msg[2][2][512];
        for (int v = 0; v < 2; v++) {
            mlp_model *m = wide_mlp(13, 2, 1); /* an ELU or ReLU could hide a NaN */
            m->split_off = v;
            mlp_optimizer *o = NULL;
            TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
            const int64_t np = mlp_model_param_count(m);
            float *before = malloc((size_t)np * sizeof(float)),
                  *now = malloc((size_t)np * sizeof(float));
            mlp_tensor *x = wide_batch(n, 1);
            int32_t labels[N];
            labels_of(labels, n, 2);
            TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
            ck_assert(v || mlp__split_cut(m) != NULL);
            TU_OK(mlp_model_get_params(m, before, np));
            labels[bad] = K;
            TU_FAIL_MSG(mlp_model_train_step(m, o, x, labels, NULL, NULL),
                        MLP_STATUS_INVALID_ARG, row);
            snprintf(msg[v][0], sizeof msg[v][0], "%s", mlp_last_error());
            labels[bad] = 0;
            TU_OK(mlp_model_get_params(m, now, np));
            ck_assert_mem_eq(now, before, (size_t)np * sizeof(float));
            float *w = mlp_layer_params(mlp_model_layer(m, 0));
            w[WIDE * 24 - 1] = NAN; /* the last part's inputs */
            TU_OK(mlp_model_get_params(m, before, np));
            TU_FAIL_MSG(mlp_model_train_step(m, o, x, labels, NULL, NULL),
                        MLP_STATUS_NUMERIC, "layer 0 (dense)");
            snprintf(msg[v][1], sizeof msg[v][1], "%s", mlp_last_error());
            TU_OK(mlp_model_get_params(m, now, np));
            ck_assert_mem_eq(now, before, (size_t)np * sizeof(float)); /* NaN bits too */
            mlp_tensor_destroy(x);
            free(before);
            free(now);
            mlp_optimizer_destroy(o);
            mlp_model_destroy(m);
        }
        for (int e = 0; e < 2; e++)
            ck_assert_msg(strcmp(msg[0][e], msg[1][e]) == 0,
                          "error %d: \"%s\" against \"%s\"", e, msg[0][e], msg[1][e]);
    }
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* Allocations of a first-layer split step on 3 threads failing one at a
 * time (the parts' products among them): NO_MEMORY, the parameters
 * untouched, nothing leaked; later steps allocate nothing. */
START_TEST(first_split_out_of_memory)
{
    const int threads = mlp_get_num_threads();
    TU_OK(mlp_set_num_threads(3));
    mlp_model *m = wide_mlp(19, 0, 1);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    mlp_tensor *x = wide_batch(48, 1);
    int32_t labels[48];
    labels_of(labels, 48, 3);
    const int64_t np = mlp_model_param_count(m);
    oom_step s = {m,
                  o,
                  x,
                  labels,
                  malloc((size_t)np * sizeof(float)),
                  malloc((size_t)np * sizeof(float))};
    TU_OK(mlp_model_get_params(m, s.before, np));
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL)); /* the batch buffers */
    TU_OK(mlp_model_get_params(m, s.before, np));
    mlp__split_release(m);
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.keep_on_ok = 1;
    cfg.min_failures = 3;
    tu_oom_loop("a first-layer split step on 3 threads", one_step, &s, &cfg);
    check_cut(m, 3);
    const long live = mlp__alloc_live();
    mlp__alloc_fail_after(1);
    mlp_status st = mlp_model_train_step(m, o, x, labels, NULL, NULL);
    mlp__alloc_fail_after(0);
    TU_ST(st, MLP_STATUS_OK);
    ck_assert_int_eq(mlp__alloc_live(), live);
    free(s.before);
    free(s.now);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A dataset of n uint8 samples of WIDE values and K classes (owned by the
 * caller). */
static mlp_dataset *wide_images(int32_t n)
{
    uint8_t *pix = malloc((size_t)n * WIDE);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    for (int64_t i = 0; i < (int64_t)n * WIDE; i++)
        pix[i] = (uint8_t)((i * 7919 + 13) % 251);
    for (int32_t i = 0; i < n; i++)
        lab[i] = (pix[i * WIDE] + pix[i * WIDE + 150]) % K;
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create(&ds, n, 1, 10, WIDE / 10, pix, lab, K));
    free(pix);
    free(lab);
    return ds;
}

/* Gathered in the column blocks mlp__split_input_blocks gives (the layout
 * mlp_model_fit gathers in), a first-layer split step gives the bits of
 * the same step on the batch by rows: 2 and 3 threads, unequal parts, a
 * bias or none. The blocks are the step's own cut: its inputs, and their
 * count is its parts'. */
START_TEST(first_split_reads_column_blocks)
{
    enum { N = 120 };
    static const struct {
        int threads;
        int32_t n;
        int bias;
    } cases[] = {{2, 40, 1}, {2, 33, 0}, {3, 50, 1}, {3, 48, 0}};
    mlp_dataset *ds = wide_images(N);
    int32_t order[N];
    for (int32_t i = 0; i < N; i++)
        order[i] = (i * 37) % N;
    const int threads = mlp_get_num_threads();
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        TU_OK(mlp_set_num_threads(cases[c].threads));
        const int32_t n = cases[c].n;
        mlp_model *m[2];
        mlp_optimizer *o[2];
        for (int v = 0; v < 2; v++) {
            m[v] = wide_mlp(41 + c, 0, cases[c].bias);
            TU_OK(mlp_optimizer_create(&o[v], MLP_RULE_MOMENTUM, m[v]));
            TU_OK(mlp__model_reserve(m[v], n, "test"));
        }
        int32_t cols[MLP__CUT_MAX + 1];
        const int blocks = mlp__split_input_blocks(m[0], n, cols);
        ck_assert_int_eq(blocks, cases[c].threads);
        for (int s = 0; s < 3; s++) {
            const int32_t *rows = order + s * n % (N - n);
            double loss[2];
            for (int v = 0; v < 2; v++) {
                TU_OK(mlp__dataset_gather_next(ds, rows, n, NULL, 0, v ? 0 : blocks,
                                               v ? NULL : cols, m[v]->xbuf, m[v]->lbuf,
                                               NULL, "test"));
                m[v]->x_blocks = v ? 0 : blocks;
                TU_OK(mlp__model_train_step(m[v], o[v], m[v]->lbuf, NULL, n, &loss[v],
                                            NULL, "test"));
                ck_assert_int_eq(m[v]->x_blocks, 0);
            }
            ck_assert(loss[0] == loss[1]);
            const mlp__step_cut *cut = mlp__split_cut(m[0]);
            ck_assert_ptr_nonnull(cut);
            ck_assert_int_eq(cut->parts, blocks);
            for (int t = 0; t <= blocks; t++)
                ck_assert_int_eq(cut->lead[t] / m[0]->layers[0]->out_size, cols[t]);
        }
        const int64_t np = mlp_model_param_count(m[0]);
        float *p[2];
        for (int v = 0; v < 2; v++) {
            p[v] = malloc((size_t)np * sizeof(float));
            TU_OK(mlp_model_get_params(m[v], p[v], np));
        }
        ck_assert_mem_eq(p[0], p[1], (size_t)np * sizeof(float));
        for (int v = 0; v < 2; v++) {
            free(p[v]);
            mlp_optimizer_destroy(o[v]);
            mlp_model_destroy(m[v]);
        }
    }
    mlp_dataset_destroy(ds);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* mlp_model_fit on a borrowed dataset that gained a NaN after creation
 * names the input that holds it, reading the batch in the column blocks it
 * was gathered in (2 threads: a NaN in the second block), as on 1 thread
 * (rows); the message blamed an overflow before. */
START_TEST(fit_names_a_nan_in_the_column_blocks)
{
    enum { N = 40, AT = 150 };
    float *x = malloc((size_t)N * WIDE * sizeof *x);
    int32_t lab[N];
    for (int64_t i = 0; i < (int64_t)N * WIDE; i++)
        x[i] = (float)((i * 7919 + 13) % 251) / 251.0f;
    for (int32_t i = 0; i < N; i++)
        lab[i] = i % K;
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, N, 1, (int32_t[]){WIDE}, x, lab, K,
                                 MLP_DATASET_BORROW));
    x[17 * WIDE + AT] = NAN;
    const int threads = mlp_get_num_threads();
    mlp_fit_options o;
    mlp_fit_options_init(&o);
    o.epochs = 1;
    o.batch_size = N;
    for (int t = 2; t >= 1; t--) {
        TU_OK(mlp_set_num_threads(t));
        mlp_model *m = wide_mlp(5, 0, 1);
        int32_t cols[MLP__CUT_MAX + 1];
        const int blocks = mlp__split_input_blocks(m, N, cols);
        ck_assert_int_eq(blocks, t == 2 ? 2 : 0);
        ck_assert(t == 1 || (cols[1] <= AT && AT < cols[2]));
        mlp_optimizer *opt = NULL;
        TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
        TU_FAIL_MSG(mlp_model_fit(m, opt, ds, NULL, &o), MLP_STATUS_NUMERIC,
                    "holds a NaN at value 150 (a borrowed dataset's values changed");
        mlp_optimizer_destroy(opt);
        mlp_model_destroy(m);
    }
    TU_OK(mlp_set_num_threads(threads));
    mlp_dataset_destroy(ds);
    free(x);
}
END_TEST

/* mlp__split_input_blocks gives blocks exactly when the step would split
 * the first layer by its inputs, for batches too short to split by rows
 * too (as many parts as threads then): not on 1 thread, with the
 * first_split_off or split_off switch, for a batch too large, with class
 * weights, or for a first layer that is not split (too narrow). */
START_TEST(input_blocks_only_where_the_step_reads_them)
{
    const int threads = mlp_get_num_threads();
    int32_t cols[MLP__CUT_MAX + 1];
    mlp_model *m = wide_mlp(3, 0, 1);
    TU_OK(mlp_set_num_threads(2));
    ck_assert_int_eq(mlp__split_input_blocks(m, 40, cols), 2);
    ck_assert_int_eq(cols[0], 0);
    ck_assert_int_eq(cols[2], WIDE);
    ck_assert_int_eq(mlp__split_input_blocks(m, 20, cols), 2); /* one part by rows */
    ck_assert_int_eq(mlp__split_input_blocks(m, 1, cols), 2);
    ck_assert_int_eq(parts_of(m, 20), 2);
    TU_OK(mlp_set_num_threads(3));
    ck_assert_int_eq(parts_of(m, 20), 3); /* every thread takes inputs */
    ck_assert_int_eq(mlp__split_input_blocks(m, 20, cols), 3);
    ck_assert_int_eq(parts_of(m, 40), 2); /* 2 parts by rows, so 2 of inputs */
    TU_OK(mlp_set_num_threads(2));
    m->first_split_off = 1; /* a short batch then stays whole */
    ck_assert_int_eq(parts_of(m, 20), 1);
    m->first_split_off = 0;
    ck_assert_int_eq(mlp__split_input_blocks(m, 0, cols), 0);
    ck_assert_int_eq(mlp__split_input_blocks(m, WIDE, cols), 0); /* too large */
    m->first_split_off = 1;
    ck_assert_int_eq(mlp__split_input_blocks(m, 40, cols), 0);
    m->first_split_off = 0;
    m->split_off = 1;
    ck_assert_int_eq(mlp__split_input_blocks(m, 40, cols), 0);
    m->split_off = 0;
    float w[K] = {1, 1, 2, 1, 1};
    TU_OK(mlp_model_set_class_weights(m, w, K));
    ck_assert_int_eq(mlp__split_input_blocks(m, 40, cols), 0);
    TU_OK(mlp_model_set_class_weights(m, NULL, 0));
    ck_assert_int_eq(mlp__split_input_blocks(m, 40, cols), 2);
    TU_OK(mlp_set_num_threads(1));
    ck_assert_int_eq(mlp__split_input_blocks(m, 40, cols), 0);
    TU_OK(mlp_set_num_threads(2));
    mlp_model *narrow = tu_model(1, (const int32_t[]){100}, 4); /* 50 inputs a part */
    tu_add(narrow, tu_dense(24));
    tu_add(narrow, tu_dense(K));
    ck_assert_int_eq(mlp__split_input_blocks(narrow, 40, cols), 0);
    mlp_model_destroy(narrow);
    mlp_model_destroy(m);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

/* A batch in column blocks given to a step that reads rows is refused
 * (MLP_STATUS_INTERNAL: a caller's bug), the parameters untouched and the
 * layout forgotten: on 1 thread, with the first layer's split switched
 * off, and blocks of another count. */
START_TEST(column_blocks_for_a_row_step_refused)
{
    const int threads = mlp_get_num_threads();
    mlp_dataset *ds = wide_images(40);
    int32_t order[40];
    for (int32_t i = 0; i < 40; i++)
        order[i] = i;
    mlp_model *m = wide_mlp(7, 0, 1);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp__model_reserve(m, 40, "test"));
    const int64_t np = mlp_model_param_count(m);
    float *before = malloc((size_t)np * sizeof(float)),
          *now = malloc((size_t)np * sizeof(float));
    TU_OK(mlp_model_get_params(m, before, np));
    int32_t cols[MLP__CUT_MAX + 1];
    for (int c = 0; c < 3; c++) {
        TU_OK(mlp_set_num_threads(2));
        ck_assert_int_eq(mlp__split_input_blocks(m, 40, cols), 2);
        TU_OK(mlp__dataset_gather_next(ds, order, 40, NULL, 0, 2, cols, m->xbuf, m->lbuf,
                                       NULL, "test"));
        m->x_blocks = c == 2 ? 3 : 2;
        if (c == 0)
            TU_OK(mlp_set_num_threads(1));
        m->first_split_off = c == 1;
        TU_FAIL_MSG(mlp__model_train_step(m, o, m->lbuf, NULL, 40, NULL, NULL, "test"),
                    MLP_STATUS_INTERNAL, "column blocks");
        ck_assert_int_eq(m->x_blocks, 0);
        TU_OK(mlp_model_get_params(m, now, np));
        ck_assert_mem_eq(now, before, (size_t)np * sizeof(float));
        m->first_split_off = 0;
    }
    free(before);
    free(now);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    mlp_dataset_destroy(ds);
    TU_OK(mlp_set_num_threads(threads));
}
END_TEST

static Suite *split_suite(void)
{
    Suite *s = suite_create("split");
    TCase *tc = tcase_create("split");
    tcase_add_test(tc, split_step_matches_unsplit);
    tcase_add_test(tc, split_follows_batch_and_thread_changes);
    tcase_add_test(tc, split_avgpool_matches_unsplit);
    tcase_add_test(tc, split_fit_regression_matches_unsplit);
    tcase_add_test(tc, split_is_deterministic);
    tcase_add_test(tc, split_taken_only_where_it_may);
    tcase_add_test(tc, split_errors_as_unsplit);
    tcase_add_test(tc, step_leaves_no_forward_pass);
    tcase_add_test(tc, split_allocates_once);
    tcase_add_test(tc, split_sums_a_wide_model);
    tcase_add_test(tc, first_split_matches_unsplit);
    tcase_add_test(tc, first_split_taken_only_where_it_may);
    tcase_add_test(tc, first_split_short_batch_allocates_nothing);
    tcase_add_test(tc, first_split_fit_names_an_overflowing_output);
    tcase_add_test(tc, first_split_errors_as_unsplit);
    tcase_add_test(tc, first_split_fit_matches_unsplit);
    tcase_add_test(tc, first_split_out_of_memory);
    tcase_add_test(tc, first_split_reads_column_blocks);
    tcase_add_test(tc, input_blocks_only_where_the_step_reads_them);
    tcase_add_test(tc, fit_names_a_nan_in_the_column_blocks);
    tcase_add_test(tc, column_blocks_for_a_row_step_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(split_suite, 1)
