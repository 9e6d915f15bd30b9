/*
 * Data-parallel training (include/mlpnet/dist.h) without MPI: P "ranks" are
 * threads of this process, each with its own model, joined by a simulated
 * communicator (a barrier and one shared slot per rank). Its sums add the
 * ranks' values in rank order, so every rank gets the same bits, as the
 * contract asks.
 *
 * The measure of issue 14: P ranks with a global batch of 100 train the
 * same model as one process with batch 100 (SGD, a small MLP, 2 epochs),
 * every parameter within 1e-4 relative; with shares that are uneven and
 * empty; and a failure on one rank stops every rank, as does each of a
 * fit's collectives failing in turn.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_impl.h"
#include "testutil.h"

#define FEAT 20
#define NCLS 4
#define CENTRES 4242u
#define MAXP 8

static const int32_t IMG[3] = {1, 4, 5};

/* ---- the simulated communicator ----------------------------------------- */

typedef struct sim_comm {
    int32_t size;
    pthread_barrier_t bar;
    void *slot[MAXP];
    int64_t n[MAXP];
    int mismatch; /* a collective with different lengths on two ranks */
} sim_comm;

typedef struct sim_rank {
    sim_comm *c;
    int32_t rank;
    int64_t buckets; /* buckets started, for the overlap check */
    int64_t waits;
    int32_t max_nb;
    int32_t step_nb;   /* the buckets of the step its last start was of */
    int64_t bad_waits; /* waits for a bucket outside [0, step_nb) */
    /* Fail (MLP_STATUS_IO, after taking part) the fail_start-th start or the
     * fail_wait-th wait of a bucket; 0: never. */
    int64_t fail_start, fail_wait;
    int64_t calls;     /* collectives this rank took part in */
    int64_t fail_call; /* fail the fail_call-th of them (after taking part); 0: never */
} sim_rank;

/* Publish this rank's buffer and wait for every rank's. */
static void publish(sim_rank *r, void *data, int64_t n)
{
    r->calls++;
    r->c->slot[r->rank] = data;
    r->c->n[r->rank] = n;
    pthread_barrier_wait(&r->c->bar);
    for (int32_t i = 0; i < r->c->size; i++)
        if (r->c->n[i] != n)
            r->c->mismatch = 1;
}

static mlp_status sim_broadcast(void *user, float *data, int64_t n)
{
    sim_rank *r = user;
    publish(r, data, n);
    float *tmp = malloc((size_t)n * sizeof *tmp);
    memcpy(tmp, r->c->slot[0], (size_t)n * sizeof *tmp);
    pthread_barrier_wait(&r->c->bar);
    memcpy(data, tmp, (size_t)n * sizeof *tmp);
    free(tmp);
    return r->calls == r->fail_call ? MLP_STATUS_IO : MLP_STATUS_OK;
}

/* The whole sum happens here; the wait has nothing left to do. */
static mlp_status sim_reduce_start(void *user, int32_t bucket, int32_t n_buckets,
                                   float *data, int64_t n)
{
    sim_rank *r = user;
    r->buckets++;
    if (n_buckets > r->max_nb)
        r->max_nb = n_buckets;
    r->step_nb = n_buckets;
    (void)bucket;
    publish(r, data, n);
    float *tmp = calloc((size_t)n, sizeof *tmp);
    for (int32_t k = 0; k < r->c->size; k++) {
        const float *s = r->c->slot[k];
        for (int64_t i = 0; i < n; i++)
            tmp[i] += s[i];
    }
    pthread_barrier_wait(&r->c->bar);
    memcpy(data, tmp, (size_t)n * sizeof *tmp);
    free(tmp);
    return r->buckets == r->fail_start || r->calls == r->fail_call ? MLP_STATUS_IO
                                                                   : MLP_STATUS_OK;
}

static mlp_status sim_reduce_wait(void *user, int32_t bucket)
{
    sim_rank *r = user;
    if (bucket < 0 || bucket >= r->step_nb)
        r->bad_waits++;
    return ++r->waits == r->fail_wait ? MLP_STATUS_IO : MLP_STATUS_OK;
}

static const char *sim_error_message(void *user)
{
    (void)user;
    return "simulated failure";
}

static mlp_status sim_sum(void *user, double *data, int64_t n)
{
    sim_rank *r = user;
    publish(r, data, n);
    double *tmp = calloc((size_t)n, sizeof *tmp);
    for (int32_t k = 0; k < r->c->size; k++) {
        const double *s = r->c->slot[k];
        for (int64_t i = 0; i < n; i++)
            tmp[i] += s[i];
    }
    pthread_barrier_wait(&r->c->bar);
    memcpy(data, tmp, (size_t)n * sizeof *tmp);
    free(tmp);
    return r->calls == r->fail_call ? MLP_STATUS_IO : MLP_STATUS_OK;
}

static void sim_ops(mlp_dist_ops *o, sim_rank *r, int64_t bucket_floats)
{
    TU_OK(mlp_dist_ops_init(o));
    o->user = r;
    o->rank = r->rank;
    o->size = r->c->size;
    o->bucket_floats = bucket_floats;
    o->broadcast = sim_broadcast;
    o->reduce_start = sim_reduce_start;
    o->reduce_wait = sim_reduce_wait;
    o->sum = sim_sum;
    o->error_message = sim_error_message;
}

/* One rank alone: its communicator, its rank and its hook, with buckets of
 * `bucket_floats` (0: the default). */
static void one_rank(sim_comm *c, sim_rank *r, mlp_dist_ops *o, int64_t bucket_floats)
{
    *c = (sim_comm){.size = 1};
    ck_assert_int_eq(pthread_barrier_init(&c->bar, NULL, 1), 0);
    *r = (sim_rank){.c = c};
    sim_ops(o, r, bucket_floats);
}

/* ---- one training run per rank ------------------------------------------- */

typedef struct run {
    /* in */
    sim_rank *r; /* NULL: one process, no hook */
    const mlp_dataset *train, *valid;
    int32_t epochs, batch;
    uint64_t model_seed;
    int64_t bucket_floats;
    int norm;             /* after the first layer: batch norm and dropout (1), or
                             batch norm alone (2) */
    mlp_rule rule;        /* 0: SGD */
    double lr;            /* 0: 0.1 */
    int32_t first_epoch;  /* 0: 1 */
    int drop_last;        /* mlp_fit_options.drop_last */
    int last;             /* add_last's layer, added once the hook is set */
    const float *class_w; /* NCLS class weights, or NULL */
    /* A checkpoint (model and optimizer) to start from instead of a new
     * model, or NULL; `save` asks for one after training. Both on rank 0
     * (or the single process) only. */
    const void *ckpt;
    size_t ckpt_len;
    int save;
    int64_t fail_start, fail_wait; /* for this rank's sim_rank */
    /* out */
    mlp_status st;
    char msg[512];
    float *params;
    int64_t n_params;
    float *state;
    int64_t n_state;
    double train_error[4], train_acc[4], valid_acc[4], wait[4];
    mlp_metrics eval; /* of the trained model on `valid` */
    void *saved;      /* the checkpoint asked for by `save` (mlp_buffer_free) */
    size_t saved_len;
} run;

static int record_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    run *u = user;
    if (s->epoch <= 4) {
        u->train_error[s->epoch - 1] = s->train_error;
        u->train_acc[s->epoch - 1] = s->train_acc;
        u->valid_acc[s->epoch - 1] = s->valid_acc;
        u->wait[s->epoch - 1] = s->comm_wait_seconds;
    }
    return 0;
}

/* [1,4,5] -> dense 32 -> relu -> dense 16 -> relu -> dense 4; each rank
 * draws its own weights (the model seed plus its rank), so the test also
 * checks the broadcast from rank 0. */
static mlp_model *build_model(const run *u)
{
    uint64_t seed = u->model_seed + (u->r ? (uint64_t)u->r->rank : 0);
    mlp_model *m = tu_model(3, IMG, seed);
    tu_add(m, tu_dense(32));
    if (u->norm) {
        mlp_layer *l = NULL;
        TU_OK(mlp_layer_create_batchnorm(&l));
        tu_add(m, l);
        if (u->norm == 1) {
            TU_OK(mlp_layer_create_dropout_p(&l, 0.2f));
            tu_add(m, l);
        }
    }
    tu_add(m, tu_relu());
    tu_add(m, tu_dense(16));
    tu_add(m, tu_relu());
    tu_add(m, tu_dense(NCLS));
    return m;
}

/* A last layer for build_model's: none (0), ReLU (1), tanh (2), or a
 * leaky ReLU of slope 0.1 (3) or 0.2 (4). None changes the counts. */
static void add_last(mlp_model *m, int last)
{
    mlp_layer *l = NULL;
    if (last == 1 || last == 2)
        tu_add(m, last == 1 ? tu_relu() : tu_tanh());
    if (last == 3 || last == 4) {
        TU_OK(mlp_layer_create_leaky_relu(&l, last == 3 ? 0.1f : 0.2f));
        tu_add(m, l);
    }
}

static void *train_one(void *arg)
{
    run *u = arg;
    const int root = !u->r || u->r->rank == 0;
    mlp_model *m = NULL;
    mlp_optimizer *o = NULL;
    if (u->ckpt && root) {
        TU_OK(mlp_model_load_mem_with_optimizer(&m, &o, u->ckpt, u->ckpt_len));
        ck_assert_ptr_nonnull(o);
    } else {
        m = build_model(u);
    }
    if (u->r) {
        mlp_dist_ops ops;
        sim_ops(&ops, u->r, u->bucket_floats);
        TU_OK(mlp_model_set_distributed(m, &ops));
    }
    add_last(m, u->last);
    if (u->class_w)
        TU_OK(mlp_model_set_class_weights(m, u->class_w, NCLS));
    if (!o) {
        TU_OK(mlp_optimizer_create(&o, u->rule ? u->rule : MLP_RULE_SGD, m));
        TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, u->lr > 0.0 ? u->lr : 0.1));
    }
    mlp_fit_options fo;
    TU_OK(mlp_fit_options_init(&fo));
    fo.epochs = u->epochs;
    fo.batch_size = u->batch;
    fo.first_epoch = u->first_epoch ? u->first_epoch : 1;
    fo.seed = 77;
    fo.drop_last = u->drop_last;
    fo.on_epoch = record_epoch;
    fo.user = u;
    u->st = mlp_model_fit(m, o, u->train, u->valid, &fo);
    snprintf(u->msg, sizeof u->msg, "%s", mlp_last_error());
    if (u->st == MLP_STATUS_OK && u->valid)
        TU_OK(mlp_model_evaluate_metrics(m, u->valid, 64, &u->eval));
    u->n_params = mlp_model_param_count(m);
    u->params = malloc((size_t)u->n_params * sizeof *u->params);
    TU_OK(mlp_model_get_params(m, u->params, u->n_params));
    u->n_state = mlp_model_state_count(m);
    u->state = malloc((size_t)(u->n_state + 1) * sizeof *u->state);
    TU_OK(mlp_model_get_state(m, u->state, u->n_state));
    if (u->save && root && u->st == MLP_STATUS_OK)
        TU_OK(mlp_model_save_mem_with_optimizer(m, o, &u->saved, &u->saved_len));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return NULL;
}

/* Run `fn` as p ranks joined by c, rank i on the i-th of the `stride`-byte
 * structs at `args` (each pointing at its sim_rank of c already). */
static void run_threads(sim_comm *c, int32_t p, void *(*fn)(void *), void *args,
                        size_t stride)
{
    c->size = p;
    ck_assert_int_eq(pthread_barrier_init(&c->bar, NULL, (unsigned)p), 0);
    pthread_t th[MAXP];
    for (int32_t i = 0; i < p; i++)
        ck_assert_int_eq(
            pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * stride), 0);
    for (int32_t i = 0; i < p; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&c->bar);
    ck_assert(!c->mismatch);
}

/* Run P ranks as threads (rank r trains on train[r]) and one process. */
static void run_ranks(sim_comm *c, sim_rank *rk, run *runs, int32_t p)
{
    for (int32_t i = 0; i < p; i++) {
        rk[i] = (sim_rank){.c = c,
                           .rank = i,
                           .fail_start = runs[i].fail_start,
                           .fail_wait = runs[i].fail_wait};
        runs[i].r = &rk[i];
    }
    run_threads(c, p, train_one, runs, sizeof *runs);
    for (int32_t i = 0; i < p; i++)
        ck_assert_msg(rk[i].bad_waits == 0,
                      "rank %d waited for %lld buckets it never started", (int)i,
                      (long long)rk[i].bad_waits);
}

static double max_rel_diff(const float *a, const float *b, int64_t n)
{
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double s = fmax(fabs((double)a[i]), fabs((double)b[i]));
        double rel = d / fmax(s, 1e-3); /* values near 0: an absolute 1e-7 */
        if (rel > worst)
            worst = rel;
    }
    return worst;
}

static void free_run(run *u)
{
    free(u->params);
    free(u->state);
    mlp_buffer_free(u->saved);
}

/* P ranks against one process, both with a global batch of 100. */
static void check_equivalence(int32_t p, int32_t n_train, int64_t bucket_floats,
                              int drop_last)
{
    mlp_dataset *train = tu_blobs(n_train, NCLS, 1, 4, 5, 40, CENTRES, 5);
    mlp_dataset *valid = tu_blobs(300, NCLS, 1, 4, 5, 40, CENTRES, 6);
    run one = {.train = train,
               .valid = valid,
               .epochs = 2,
               .batch = 100,
               .model_seed = 11,
               .bucket_floats = bucket_floats,
               .drop_last = drop_last};
    train_one(&one);
    ck_assert_msg(one.st == MLP_STATUS_OK, "%s", one.msg);

    sim_comm c = {0};
    sim_rank rk[MAXP];
    run runs[MAXP];
    for (int32_t i = 0; i < p; i++)
        runs[i] = one, runs[i].params = NULL, runs[i].state = NULL;
    run_ranks(&c, rk, runs, p);
    for (int32_t i = 0; i < p; i++) {
        ck_assert_msg(runs[i].st == MLP_STATUS_OK, "rank %d: %s", (int)i, runs[i].msg);
        ck_assert_int_eq(runs[i].n_params, one.n_params);
        /* Every rank holds the same model. */
        ck_assert(memcmp(runs[i].params, runs[0].params,
                         (size_t)one.n_params * sizeof(float)) == 0);
        double rel = max_rel_diff(runs[i].params, one.params, one.n_params);
        ck_assert_msg(rel <= 1e-4, "P=%d rank %d: a parameter differs by %g relative",
                      (int)p, (int)i, rel);
        /* Evaluation: every rank its share, the figures of the whole set. */
        ck_assert_int_eq(runs[i].eval.count, 300);
        ck_assert_double_eq_tol(runs[i].eval.loss, one.eval.loss, 1e-5);
        ck_assert_double_eq_tol(runs[i].eval.accuracy, one.eval.accuracy, 0.002);
        for (int e = 0; e < 2; e++) {
            ck_assert_double_eq_tol(runs[i].train_error[e], one.train_error[e], 1e-5);
            ck_assert_double_eq_tol(runs[i].train_acc[e], one.train_acc[e], 1e-12);
            ck_assert_double_eq_tol(runs[i].valid_acc[e], one.valid_acc[e], 0.002);
            ck_assert(runs[i].wait[e] >= 0.0 && one.wait[e] == 0.0);
        }
    }
    if (bucket_floats > 0 && bucket_floats < one.n_params)
        ck_assert_int_gt(rk[0].max_nb, 1);
    for (int32_t i = 0; i < p; i++)
        free_run(&runs[i]);
    free_run(&one);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(valid);
}

START_TEST(two_ranks_train_as_one_process)
{
    /* 1000 samples: ten even batches of 50 + 50. */
    check_equivalence(2, 1000, 0, 0);
}
END_TEST

START_TEST(uneven_shares_and_small_buckets)
{
    /* 100 on 3 ranks: 33 + 33 + 34; 1050 samples: a last batch of 50;
     * buckets of at least 200 floats: two buckets per step. */
    check_equivalence(3, 1050, 200, 0);
}
END_TEST

START_TEST(a_rank_with_an_empty_share_takes_part)
{
    /* 1003 samples on 4 ranks: the last global batch has 3 samples, so one
     * rank has none. */
    check_equivalence(4, 1003, 100, 0);
}
END_TEST

START_TEST(ranks_leave_out_the_same_last_batch)
{
    /* drop_last: the last global batch of 3 samples is left out on every
     * rank, as by one process with drop_last. */
    check_equivalence(4, 1003, 100, 1);
    check_equivalence(3, 1050, 0, 1);
}
END_TEST

START_TEST(one_rank_alone_is_one_process)
{
    check_equivalence(1, 500, 0, 0);
}
END_TEST

/* A failure on rank 1 before training (its data do not fit the model)
 * stops rank 0 too, with a message naming rank 1. */
START_TEST(a_failing_rank_stops_every_rank)
{
    mlp_dataset *good = tu_blobs(400, NCLS, 1, 4, 5, 40, CENTRES, 5);
    mlp_dataset *bad = tu_blobs(400, NCLS + 3, 1, 4, 5, 40, CENTRES, 5);
    sim_comm c = {0};
    sim_rank rk[2];
    run runs[2] = {{.train = good, .epochs = 2, .batch = 100, .model_seed = 3},
                   {.train = bad, .epochs = 2, .batch = 100, .model_seed = 3}};
    run_ranks(&c, rk, runs, 2);
    ck_assert_int_eq(runs[1].st, MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(runs[1].msg, "classes") != NULL, "%s", runs[1].msg);
    ck_assert_int_eq(runs[0].st, MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_msg(strstr(runs[0].msg, "rank 1 failed") != NULL, "%s", runs[0].msg);
    free_run(&runs[0]);
    free_run(&runs[1]);
    mlp_dataset_destroy(good);
    mlp_dataset_destroy(bad);
}
END_TEST

/* A NaN loss on rank 1 in the middle of an epoch stops both ranks at the
 * same step: rank 1's samples are huge, so its outputs overflow. */
START_TEST(a_nan_on_one_rank_stops_every_rank)
{
    const int32_t n = 400;
    float *x = malloc((size_t)n * FEAT * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int32_t i = 0; i < n; i++) {
        y[i] = i % NCLS;
        for (int j = 0; j < FEAT; j++)
            x[i * FEAT + j] = 3e38f;
    }
    mlp_dataset *bad = NULL;
    TU_OK(mlp_dataset_create_f32(&bad, n, 3, IMG, x, y, NCLS, MLP_DATASET_COPY));
    mlp_dataset *good = tu_blobs(n, NCLS, 1, 4, 5, 40, CENTRES, 5);
    sim_comm c = {0};
    sim_rank rk[2];
    run runs[2] = {{.train = good, .epochs = 2, .batch = 100, .model_seed = 3},
                   {.train = bad, .epochs = 2, .batch = 100, .model_seed = 3}};
    run_ranks(&c, rk, runs, 2);
    ck_assert_msg(runs[1].st == MLP_STATUS_NUMERIC, "%s", runs[1].msg);
    ck_assert_msg(runs[0].st == MLP_STATUS_NUMERIC, "%s", runs[0].msg);
    ck_assert_msg(strstr(runs[0].msg, "rank 1 failed") != NULL, "%s", runs[0].msg);
    ck_assert_msg(strstr(runs[0].msg, "epoch 1, batch 1") != NULL, "%s", runs[0].msg);
    free_run(&runs[0]);
    free_run(&runs[1]);
    mlp_dataset_destroy(good);
    mlp_dataset_destroy(bad);
    free(x);
    free(y);
}
END_TEST

/* ---- checkpoints --------------------------------------------------------- */

/* Run `p` ranks (p == 0: one process without the hook), each a copy of
 * `proto`; ranks other than 0 draw their own weights and get three times
 * the learning rate, which rank 0's model and optimizer must override. */
static void run_copies(const run *proto, run *runs, int32_t p)
{
    sim_comm c = {0};
    sim_rank rk[MAXP];
    for (int32_t i = 0; i < (p ? p : 1); i++) {
        runs[i] = *proto;
        if (i > 0) {
            runs[i].lr = 3.0 * proto->lr;
            runs[i].ckpt = NULL;
        }
    }
    if (p == 0)
        train_one(&runs[0]);
    else
        run_ranks(&c, rk, runs, p);
    for (int32_t i = 0; i < (p ? p : 1); i++)
        ck_assert_msg(runs[i].st == MLP_STATUS_OK, "P=%d rank %d: %s", (int)p, (int)i,
                      runs[i].msg);
}

/* The runs of a resume test on 2 ranks: `proto` unbroken (full), its first
 * epoch with a checkpoint saved by rank 0 (half), and the returned run that
 * resumes from that checkpoint for the second epoch, whose ranks build
 * their models from another seed. */
static run resumed_run(const run *proto, run full[2], run half[2])
{
    run_copies(proto, full, 2);
    run first = *proto;
    first.epochs = 1;
    first.save = 1;
    run_copies(&first, half, 2);
    ck_assert_ptr_nonnull(half[0].saved);
    run second = *proto;
    second.epochs = 1;
    second.first_epoch = 2;
    second.model_seed = 99;
    second.ckpt = half[0].saved;
    second.ckpt_len = half[0].saved_len;
    return second;
}

/*
 * Issue 14's checkpoints: 2 epochs on 2 ranks without a break, against 1
 * epoch on 2 ranks, a checkpoint saved by rank 0 (model and optimizer),
 * and the second epoch resumed from it on 2 ranks, on 3, and in one
 * process. Only rank 0 loads the checkpoint; the other ranks start from a
 * new model with other weights, a zero optimizer state and another rate.
 * On the same P the resumed run is the same bits as the unbroken one; on
 * another P it is the same up to the order of summation.
 */
static void check_resume(mlp_rule rule, double lr)
{
    mlp_dataset *train = tu_blobs(1000, NCLS, 1, 4, 5, 40, CENTRES, 5);
    const run proto = {.train = train,
                       .epochs = 2,
                       .batch = 100,
                       .model_seed = 11,
                       .rule = rule,
                       .lr = lr};
    run full[2], half[2], res[MAXP];
    const run second = resumed_run(&proto, full, half);
    const int32_t ps[] = {2, 3, 0};
    for (int k = 0; k < 3; k++) {
        const int32_t p = ps[k];
        run_copies(&second, res, p);
        for (int32_t i = 0; i < (p ? p : 1); i++) {
            ck_assert_int_eq(res[i].n_params, full[0].n_params);
            double rel = max_rel_diff(res[i].params, full[0].params, full[0].n_params);
            ck_assert_msg(rel <= 1e-4,
                          "rule %d, resumed on P=%d: rank %d differs by %g relative",
                          (int)rule, (int)p, (int)i, rel);
            if (p == 2) /* the same ranks: the same sums in the same order */
                ck_assert_msg(memcmp(res[i].params, full[0].params,
                                     (size_t)full[0].n_params * sizeof(float)) == 0,
                              "rule %d, resumed on the same P: rank %d differs by %g",
                              (int)rule, (int)i, rel);
            ck_assert_double_eq_tol(res[i].train_error[1], full[0].train_error[1], 1e-5);
        }
        for (int32_t i = 0; i < (p ? p : 1); i++)
            free_run(&res[i]);
    }
    for (int i = 0; i < 2; i++) {
        free_run(&full[i]);
        free_run(&half[i]);
    }
    mlp_dataset_destroy(train);
}

START_TEST(resume_with_adam_on_any_number_of_ranks)
{
    check_resume(MLP_RULE_ADAM, 0.01);
}
END_TEST

START_TEST(resume_with_momentum_on_any_number_of_ranks)
{
    check_resume(MLP_RULE_MOMENTUM, 0.05);
}
END_TEST

/*
 * Batch norm (_i = 0), and batch norm and dropout (_i = 1), resumed on the
 * same ranks: the running statistics are averaged at the end of every
 * epoch, and the ranks' common noise generator is put back then, so rank
 * 0's checkpoint holds every rank's statistics and generator, and the
 * resumed run is the same bits as the unbroken one on every rank, its
 * parameters and its statistics (as dist.h says). The resumed ranks build
 * their models from another seed: their own generators must not matter.
 */
START_TEST(resume_with_batch_norm_on_the_same_ranks)
{
    mlp_dataset *train = tu_blobs(1000, NCLS, 1, 4, 5, 40, CENTRES, 5);
    const run proto = {.train = train,
                       .epochs = 2,
                       .batch = 100,
                       .model_seed = 11,
                       .norm = _i == 0 ? 2 : 1,
                       .rule = MLP_RULE_MOMENTUM,
                       .lr = 0.05};
    run full[2], half[2], res[2];
    const run second = resumed_run(&proto, full, half);
    run_copies(&second, res, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(res[i].n_params, full[i].n_params);
        ck_assert_int_eq(res[i].n_state, full[i].n_state);
        ck_assert_int_gt(res[i].n_state, 0);
        ck_assert_msg(memcmp(res[i].params, full[i].params,
                             (size_t)full[i].n_params * sizeof(float)) == 0,
                      "rank %d: resumed parameters differ by %g relative", i,
                      max_rel_diff(res[i].params, full[i].params, full[i].n_params));
        ck_assert_msg(memcmp(res[i].state, full[i].state,
                             (size_t)full[i].n_state * sizeof(float)) == 0,
                      "rank %d: resumed running statistics differ by %g relative", i,
                      max_rel_diff(res[i].state, full[i].state, full[i].n_state));
    }
    for (int i = 0; i < 2; i++) {
        free_run(&full[i]);
        free_run(&half[i]);
        free_run(&res[i]);
    }
    mlp_dataset_destroy(train);
}
END_TEST

/* An epoch's dropout masks come from a generator drawn from the ranks'
 * common one and the rank: two ranks with the same common generator draw
 * different masks, and keep the common generator alike. */
START_TEST(epoch_generators_differ_by_rank)
{
    const run u = {.model_seed = 4, .norm = 1};
    mlp_model *m[2];
    for (int i = 0; i < 2; i++) {
        m[i] = build_model(&u);
        m[i]->dist.rank = i;
        mlp__dist_start_epoch(m[i]);
    }
    ck_assert(memcmp(&m[0]->dist_noise, &m[1]->dist_noise, sizeof(mlp_rng)) == 0);
    ck_assert(memcmp(&m[0]->noise, &m[1]->noise, sizeof(mlp_rng)) != 0);
    ck_assert(memcmp(&m[0]->noise, &m[0]->dist_noise, sizeof(mlp_rng)) != 0);
    for (int i = 0; i < 2; i++)
        mlp_model_destroy(m[i]);
}
END_TEST

/* Ranks whose optimizers have different rules stop before training. */
START_TEST(ranks_with_different_rules_stop)
{
    mlp_dataset *train = tu_blobs(400, NCLS, 1, 4, 5, 40, CENTRES, 5);
    sim_comm c = {0};
    sim_rank rk[2];
    run runs[2] = {{.train = train,
                    .epochs = 1,
                    .batch = 100,
                    .model_seed = 3,
                    .rule = MLP_RULE_ADAM},
                   {.train = train,
                    .epochs = 1,
                    .batch = 100,
                    .model_seed = 3,
                    .rule = MLP_RULE_MOMENTUM}};
    run_ranks(&c, rk, runs, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(runs[i].st, MLP_STATUS_INVALID_ARG);
        ck_assert_msg(strstr(runs[i].msg, "the ranks differ in the optimizer's rule") !=
                          NULL,
                      "%s", runs[i].msg);
        /* rank 0's value, and on the other ranks their own */
        char want[64];
        snprintf(want, sizeof want, "(rank 0: %d%s", (int)MLP_RULE_ADAM,
                 i ? ", rank 1: " : ")");
        ck_assert_msg(strstr(runs[i].msg, want) != NULL, "want '%s' in: %s", want,
                      runs[i].msg);
        free_run(&runs[i]);
    }
    mlp_dataset_destroy(train);
}
END_TEST

/* Ranks whose fits would make different collectives (another data size,
 * batch size or epoch count) or train different models (a layer added
 * after the hook was set, of another kind on each rank: a ReLU, a tanh;
 * other class weights) stop at the start, every rank alike, with the
 * difference named, instead of waiting for each other forever or training
 * apart. */
START_TEST(ranks_whose_fits_differ_stop)
{
    mlp_dataset *train = tu_blobs(400, NCLS, 1, 4, 5, 40, CENTRES, 5);
    mlp_dataset *fewer = tu_blobs(300, NCLS, 1, 4, 5, 40, CENTRES, 5);
    static const float w[2][NCLS] = {{1.0f, 1.0f, 2.0f, 1.0f}, {1.0f, 1.0f, 3.0f, 1.0f}};
    static const struct {
        const char *what;
        int32_t epochs, batch, small, drop_last;
        int last0, last1, w0, w1; /* add_last's; class weights: none, w[0], w[1] */
    } cases[] = {{"the training set's size", 1, 100, 1, 0, 0, 0, 0, 0},
                 {"the batch size", 1, 50, 0, 0, 0, 0, 0, 0},
                 {"the number of epochs", 2, 100, 0, 0, 0, 0, 0, 0},
                 {"drop_last", 1, 100, 0, 1, 0, 0, 0, 0},
                 {"the layers' kinds, shapes or settings", 1, 100, 0, 0, 1, 2, 0, 0},
                 {"the loss or its class weights", 1, 100, 0, 0, 0, 0, 0, 1},
                 {"the loss or its class weights", 1, 100, 0, 0, 0, 0, 1, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sim_comm c = {0};
        sim_rank rk[2];
        run runs[2] = {{.train = train,
                        .epochs = 1,
                        .batch = 100,
                        .model_seed = 3,
                        .last = cases[i].last0,
                        .class_w = cases[i].w0 ? w[cases[i].w0 - 1] : NULL},
                       {.train = cases[i].small ? fewer : train,
                        .epochs = cases[i].epochs,
                        .batch = cases[i].batch,
                        .model_seed = 3,
                        .drop_last = cases[i].drop_last,
                        .last = cases[i].last1,
                        .class_w = cases[i].w1 ? w[cases[i].w1 - 1] : NULL}};
        run_ranks(&c, rk, runs, 2);
        for (int r = 0; r < 2; r++) {
            ck_assert_int_eq(runs[r].st, MLP_STATUS_INVALID_ARG);
            ck_assert_msg(strstr(runs[r].msg, "the ranks differ in") &&
                              strstr(runs[r].msg, cases[i].what),
                          "%s: rank %d: %s", cases[i].what, r, runs[r].msg);
            free_run(&runs[r]);
        }
        ck_assert_msg(strstr(runs[1].msg, "rank 1: ") != NULL, "%s", runs[1].msg);
    }
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(fewer);
}
END_TEST

/* Ranks holding different models: mlp_model_set_distributed stops on every
 * rank before the broadcast, and leaves the models without the hook. */
typedef struct set_run {
    sim_rank *r;
    int norm, last;
    mlp_status st;
    char msg[512];
    int still_distributed;
} set_run;

static void *set_one(void *arg)
{
    set_run *u = arg;
    run proto = {.model_seed = 2, .norm = u->norm};
    mlp_model *m = build_model(&proto);
    add_last(m, u->last);
    mlp_dist_ops ops;
    sim_ops(&ops, u->r, 0);
    u->st = mlp_model_set_distributed(m, &ops);
    snprintf(u->msg, sizeof u->msg, "%s", mlp_last_error());
    /* Without the hook, evaluation makes no collective. */
    mlp_metrics mt;
    mlp_dataset *d = tu_blobs(10, NCLS, 1, 4, 5, 40, CENTRES, 1);
    const int64_t calls = u->r->calls;
    TU_OK(mlp_model_evaluate_metrics(m, d, 10, &mt));
    u->still_distributed = u->r->calls != calls;
    mlp_dataset_destroy(d);
    mlp_model_destroy(m);
    return NULL;
}

/* Rank 0's model and rank 1's differ in their layer counts, or only in a
 * layer's kind (ReLU, tanh) or settings (the slopes of leaky ReLUs). */
START_TEST(ranks_with_different_models_stop)
{
    static const struct {
        int norm1, last0, last1;
        const char *what;
    } cases[] = {{1, 0, 0, "the layer count"},
                 {0, 1, 2, "the layers' kinds, shapes or settings"},
                 {0, 3, 4, "the layers' kinds, shapes or settings"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sim_comm c = {0};
        sim_rank rk[2] = {{.c = &c, .rank = 0}, {.c = &c, .rank = 1}};
        set_run runs[2] = {{.r = &rk[0], .last = cases[k].last0},
                           {.r = &rk[1], .norm = cases[k].norm1, .last = cases[k].last1}};
        run_threads(&c, 2, set_one, runs, sizeof *runs);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(runs[i].st, MLP_STATUS_INVALID_ARG);
            ck_assert_msg(strstr(runs[i].msg, "the ranks differ in") &&
                              strstr(runs[i].msg, cases[k].what),
                          "%s: rank %d: %s", cases[k].what, i, runs[i].msg);
            ck_assert(!runs[i].still_distributed);
        }
    }
}
END_TEST

/* ---- a collective that fails ------------------------------------------------ */

typedef struct fail_run {
    sim_rank *r;
    const mlp_dataset *train, *valid;
    mlp_status st;
    char msg[512];
} fail_run;

/* Batch norm and dropout (state, a noise generator), Adam (the optimizer's
 * state), 2 epochs with validation: every kind of collective a fit makes. */
static void *fit_failing(void *arg)
{
    fail_run *u = arg;
    run proto = {.model_seed = 6, .norm = 1, .r = u->r};
    mlp_model *m = build_model(&proto);
    mlp_dist_ops ops;
    sim_ops(&ops, u->r, 200);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    u->st = mlp_model_set_distributed(m, &ops);
    if (u->st == MLP_STATUS_OK) {
        mlp_fit_options fo;
        TU_OK(mlp_fit_options_init(&fo));
        fo.epochs = 2;
        fo.batch_size = 100;
        u->st = mlp_model_fit(m, o, u->train, u->valid, &fo);
    }
    snprintf(u->msg, sizeof u->msg, "%s", mlp_last_error());
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return NULL;
}

/* Each collective of a fit in turn fails (the broadcasts at the start, the
 * agreements, the gradient buckets, the sums at an epoch's end, the
 * validation's), on both ranks, as a collective library fails: every rank
 * returns MLP_STATUS_IO with the callback's message and its own rank, the
 * ranks stay in step (no hang: they take part in as many collectives), and
 * nothing stays allocated. */
START_TEST(each_failing_collective_stops_every_rank)
{
    mlp_dataset *train = tu_blobs(300, NCLS, 1, 4, 5, 40, CENTRES, 5);
    mlp_dataset *valid = tu_blobs(100, NCLS, 1, 4, 5, 40, CENTRES, 6);
    int64_t total = 0;
    for (int64_t k = 0; k == 0 || k <= total; k++) {
        sim_comm c = {0};
        sim_rank rk[2];
        fail_run runs[2];
        for (int32_t i = 0; i < 2; i++) {
            rk[i] = (sim_rank){.c = &c, .rank = i, .fail_call = k};
            runs[i] = (fail_run){.r = &rk[i], .train = train, .valid = valid};
        }
        const long live = mlp__alloc_live();
        run_threads(&c, 2, fit_failing, runs, sizeof *runs);
        ck_assert_int_eq(mlp__alloc_live(), live);
        if (k == 0) { /* the plain run: how many collectives a rank takes part in */
            for (int32_t i = 0; i < 2; i++)
                ck_assert_msg(runs[i].st == MLP_STATUS_OK, "%s", runs[i].msg);
            total = rk[1].calls;
            ck_assert_int_eq(rk[0].calls, total);
            ck_assert_int_gt(total, 30);
            continue;
        }
        for (int32_t i = 0; i < 2; i++) {
            char mine[32];
            snprintf(mine, sizeof mine, "rank %d: ", (int)i);
            /* the call and, in a fit, the epoch: "mlp_model_fit: epoch E, ..." */
            static const char set[] = "mlp_model_set_distributed: ";
            const char *call = strncmp(runs[i].msg, set, sizeof set - 1) == 0
                                   ? runs[i].msg
                                   : strstr(runs[i].msg, "mlp_model_fit: epoch ");
            ck_assert_msg(runs[i].st == MLP_STATUS_IO && call == runs[i].msg &&
                              strstr(runs[i].msg, mine) &&
                              strstr(runs[i].msg, " failed: simulated failure"),
                          "collective %lld of %lld, rank %d: status %d: %s", (long long)k,
                          (long long)total, (int)i, (int)runs[i].st, runs[i].msg);
        }
        /* In step to the end: a failed bucket's step starts its other
         * buckets and reports at the next agreement. */
        ck_assert_int_eq(rk[0].calls, rk[1].calls);
    }
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(valid);
}
END_TEST

/* ---- R^2 over the ranks ------------------------------------------------------ */

/* One rank's run of a fixed linear model on float targets (r NULL: one
 * process): a fit whose steps of 1e-30 leave the weights as they are, then
 * an evaluation. */
typedef struct r2_run {
    sim_rank *r;
    const mlp_dataset *ds;
    mlp_epoch_stats fit; /* the fit's epoch */
    mlp_metrics eval;
} r2_run;

static int keep_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    ((r2_run *)user)->fit = *s;
    return 0;
}

static void *r2_one(void *arg)
{
    r2_run *u = arg;
    mlp_model *m = tu_model(1, (int32_t[]){2}, 5);
    tu_add(m, tu_dense(1));
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    float *w = mlp_layer_params(mlp_model_layer(m, 0));
    w[0] = 0.006f, w[1] = -0.001f, w[2] = 1000.0f;
    if (u->r) {
        mlp_dist_ops ops;
        sim_ops(&ops, u->r, 0);
        TU_OK(mlp_model_set_distributed(m, &ops));
    }
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 1e-30));
    mlp_fit_options fo;
    TU_OK(mlp_fit_options_init(&fo));
    fo.epochs = 1;
    fo.batch_size = 100;
    fo.on_epoch = keep_epoch;
    fo.user = u;
    TU_OK(mlp_model_fit(m, o, u->ds, u->ds, &fo));
    ck_assert(w[0] == 0.006f && w[1] == -0.001f && w[2] == 1000.0f);
    TU_OK(mlp_model_evaluate_metrics(m, u->ds, 64, &u->eval));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return NULL;
}

/* Float targets far from 0 beside their spread (1000 + 0.01 u), whose R^2
 * every rank sums from the same target (the set's first): three ranks'
 * figures, on uneven shares, are one process's. */
START_TEST(ranks_sum_r2_as_one_process)
{
    enum { N = 1003, P = 3 };
    static float x[N * 2], t[N];
    tu_rng g;
    tu_rng_seed(&g, 99);
    tu_fill_uniform(&g, x, N * 2, -1, 1);
    for (int i = 0; i < N; i++)
        t[i] = 1000.0f + 0.01f * x[2 * i] - 0.004f * x[2 * i + 1];
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32_values(&ds, N, 1, (int32_t[]){2}, x, 1, t,
                                        MLP_DATASET_BORROW));
    r2_run alone = {.ds = ds}, runs[P];
    r2_one(&alone);
    ck_assert_msg(alone.eval.r2 > 0.5 && alone.eval.r2 < 0.95, "R^2 %.9g", alone.eval.r2);
    sim_comm c = {0};
    sim_rank rk[P];
    for (int32_t i = 0; i < P; i++) {
        rk[i] = (sim_rank){.c = &c, .rank = i};
        runs[i] = (r2_run){.r = &rk[i], .ds = ds};
    }
    run_threads(&c, P, r2_one, runs, sizeof *runs);
    for (int32_t i = 0; i < P; i++) {
        const r2_run *u = &runs[i];
        ck_assert_int_eq(u->eval.count, N);
        ck_assert_msg(tu_close(u->eval.r2, alone.eval.r2, 1e-9, 0),
                      "rank %d: R^2 %.12g, alone %.12g", i, u->eval.r2, alone.eval.r2);
        ck_assert(tu_close(u->eval.mse, alone.eval.mse, 1e-9, 0));
        ck_assert_msg(tu_close(u->fit.train_r2, alone.fit.train_r2, 1e-9, 0),
                      "rank %d: training R^2 %.12g, alone %.12g", i, u->fit.train_r2,
                      alone.fit.train_r2);
        ck_assert(tu_close(u->fit.valid_r2, alone.eval.r2, 1e-9, 0));
    }
    mlp_dataset_destroy(ds);
}
END_TEST

/* A bucket's start or wait fails on rank 1 in the middle of the second
 * step (after the agreement, while backward runs): rank 1 completes the
 * step's buckets and reports its failure in the next agreement, so both
 * ranks stop there, rank 1 with the callback's message. */
static void check_bucket_failure(int64_t fail_start, int64_t fail_wait)
{
    mlp_dataset *train = tu_blobs(400, NCLS, 1, 4, 5, 40, CENTRES, 5);
    sim_comm c = {0};
    sim_rank rk[2];
    run runs[2];
    for (int i = 0; i < 2; i++)
        runs[i] = (run){.train = train,
                        .epochs = 2,
                        .batch = 100,
                        .model_seed = 3,
                        .bucket_floats = 200};
    runs[1].fail_start = fail_start;
    runs[1].fail_wait = fail_wait;
    run_ranks(&c, rk, runs, 2);
    ck_assert_int_eq(rk[0].max_nb, 2);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(runs[i].st == MLP_STATUS_IO, "rank %d: %s", i, runs[i].msg);
    const char *what = fail_start ? "starting a gradient bucket" : "waiting for a";
    ck_assert_msg(strstr(runs[1].msg, what) && strstr(runs[1].msg, "simulated failure"),
                  "%s", runs[1].msg);
    ck_assert_msg(strstr(runs[0].msg, "epoch 1, batch 3") &&
                      strstr(runs[0].msg, "rank 1 failed"),
                  "%s", runs[0].msg);
    /* Every bucket of the failing step was started and waited for. */
    ck_assert_int_eq(rk[1].buckets, rk[0].buckets);
    ck_assert_int_eq(rk[1].waits, rk[0].waits);
    free_run(&runs[0]);
    free_run(&runs[1]);
    mlp_dataset_destroy(train);
}

START_TEST(a_bucket_that_fails_to_start_stops_every_rank)
{
    check_bucket_failure(3, 0); /* the first bucket of step 2 */
}
END_TEST

START_TEST(a_bucket_that_fails_to_complete_stops_every_rank)
{
    check_bucket_failure(0, 4); /* the last bucket of step 2 */
}
END_TEST

/* Out of memory in set_distributed and anywhere in a distributed fit (one
 * rank): every failure is MLP_STATUS_NO_MEMORY and leaks nothing. */
typedef struct oom_fit {
    sim_comm c;
    sim_rank r;
    mlp_dataset *train;
    mlp_model *m;
    void *file; /* m saved, for a new copy in every attempt */
    size_t file_len;
} oom_fit;

static mlp_status try_set_distributed(void *ctx)
{
    oom_fit *f = ctx;
    mlp_dist_ops ops;
    sim_ops(&ops, &f->r, 0);
    mlp_status st = mlp_model_set_distributed(f->m, &ops);
    mlp_model_set_distributed(f->m, NULL);
    return st;
}

static mlp_status try_dist_fit(void *ctx)
{
    oom_fit *f = ctx;
    mlp_model *m = NULL;
    mlp_optimizer *o = NULL;
    mlp_dist_ops ops;
    sim_ops(&ops, &f->r, 100);
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = 1;
    fo.batch_size = 50;
    mlp_status st = mlp_model_load_mem(&m, f->file, f->file_len);
    TU_THEN(st, mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    TU_THEN(st, mlp_model_set_distributed(m, &ops));
    TU_THEN(st, mlp_model_fit(m, o, f->train, f->train, &fo));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return st;
}

/* A distributed model's first evaluation, before any step: its batch
 * buffers are made there. */
static mlp_status try_dist_evaluate(void *ctx)
{
    oom_fit *f = ctx;
    mlp_model *m = NULL;
    mlp_dist_ops ops;
    sim_ops(&ops, &f->r, 100);
    double err, acc;
    mlp_status st = mlp_model_load_mem(&m, f->file, f->file_len);
    TU_THEN(st, mlp_model_set_distributed(m, &ops));
    TU_THEN(st, mlp_model_evaluate(m, f->train, 30, &err, &acc));
    mlp_model_destroy(m);
    return st;
}

START_TEST(out_of_memory_in_distributed_training)
{
    oom_fit f = {.c = {.size = 1}};
    ck_assert_int_eq(pthread_barrier_init(&f.c.bar, NULL, 1), 0);
    f.r = (sim_rank){.c = &f.c};
    f.train = tu_blobs(100, NCLS, 1, 4, 5, 40, CENTRES, 5);
    run proto = {.model_seed = 4, .norm = 1};
    f.m = build_model(&proto);
    TU_OK(mlp_model_save_mem(f.m, &f.file, &f.file_len));
    tu_oom_loop("mlp_model_set_distributed", try_set_distributed, &f, NULL);
    tu_oom_loop("a distributed mlp_model_fit", try_dist_fit, &f, NULL);
    tu_oom_loop("a distributed mlp_model_evaluate", try_dist_evaluate, &f, NULL);
    mlp_buffer_free(f.file);
    mlp_model_destroy(f.m);
    mlp_dataset_destroy(f.train);
    pthread_barrier_destroy(&f.c.bar);
}
END_TEST

START_TEST(set_distributed_checks_its_arguments)
{
    mlp_model *m = tu_model(3, IMG, 1);
    tu_add(m, tu_dense(NCLS));
    sim_comm c;
    sim_rank r;
    mlp_dist_ops o;
    one_rank(&c, &r, &o, 0);
    TU_FAIL(mlp_model_set_distributed(NULL, &o), MLP_STATUS_INVALID_ARG);
    o.rank = 1;
    TU_FAIL(mlp_model_set_distributed(m, &o), MLP_STATUS_INVALID_ARG);
    o.rank = 0;
    o.sum = NULL;
    TU_FAIL(mlp_model_set_distributed(m, &o), MLP_STATUS_INVALID_ARG);
    o.sum = sim_sum;
    o.bucket_floats = -1;
    TU_FAIL(mlp_model_set_distributed(m, &o), MLP_STATUS_INVALID_ARG);
    o.bucket_floats = 0;
    o.struct_size = 3;
    TU_FAIL(mlp_model_set_distributed(m, &o), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dist_ops_init_size(&o, 3), MLP_STATUS_INVALID_ARG);
    TU_FAIL_MSG(mlp_dist_ops_init_size(NULL, sizeof o), MLP_STATUS_INVALID_ARG,
                "mlp_dist_ops_init: the mlp_dist_ops to fill is NULL");
    TU_OK(mlp_dist_ops_init(&o));
    ck_assert_int_eq(o.size, 1);
    ck_assert_int_gt(o.bucket_floats, 0);
    sim_ops(&o, &r, 0);
    TU_OK(mlp_model_set_distributed(m, &o));
    TU_OK(mlp_model_set_distributed(m, NULL));
    pthread_barrier_destroy(&c.bar);
    mlp_model_destroy(m);
}
END_TEST

/* A hook for the last of `*user` ranks that all hold the same model: a sum
 * is its own values times the rank count, a broadcast changes nothing. */
static mlp_status equal_ranks_broadcast(void *user, float *data, int64_t n)
{
    (void)user;
    (void)data;
    (void)n;
    return MLP_STATUS_OK;
}

static mlp_status equal_ranks_sum(void *user, double *data, int64_t n)
{
    const int32_t p = *(const int32_t *)user;
    for (int64_t i = 0; i < n; i++)
        data[i] *= p;
    return MLP_STATUS_OK;
}

/* The ranks agree through sums of doubles that are exact up to 2^17 ranks:
 * that many are taken (and agree), one more is refused before anything is
 * allocated for the ranks (INT32_MAX of them once asked calloc for 16 GiB). */
START_TEST(set_distributed_bounds_the_rank_count)
{
    mlp_model *m = tu_model(3, IMG, 1);
    tu_add(m, tu_dense(NCLS));
    const int32_t counts[] = {1 << 17, (1 << 17) + 1, INT32_MAX};
    for (int i = 0; i < 3; i++) {
        int32_t p = counts[i];
        mlp_dist_ops o;
        TU_OK(mlp_dist_ops_init(&o));
        o.user = &p;
        o.size = p;
        o.rank = p - 1;
        o.broadcast = equal_ranks_broadcast;
        o.reduce_start = sim_reduce_start;
        o.reduce_wait = sim_reduce_wait;
        o.sum = equal_ranks_sum;
        if (i == 0) {
            TU_OK(mlp_model_set_distributed(m, &o));
            TU_OK(mlp_model_set_distributed(m, NULL));
        } else {
            char want[96];
            snprintf(want, sizeof want,
                     "mlp_model_set_distributed: ops->size = %d must be", (int)p);
            TU_FAIL_MSG(mlp_model_set_distributed(m, &o), MLP_STATUS_INVALID_ARG, want);
        }
    }
    mlp_model_destroy(m);
}
END_TEST

/* A distributed model evaluated before it ever ran, with data that do not
 * fit it or a bad batch size: the error, on every rank, and nothing
 * written through the batch buffers it does not have yet. */
START_TEST(evaluate_misuse_before_any_step)
{
    mlp_model *m = tu_model(3, IMG, 1);
    tu_add(m, tu_dense(NCLS));
    sim_comm c;
    sim_rank r;
    mlp_dist_ops o;
    one_rank(&c, &r, &o, 0);
    TU_OK(mlp_model_set_distributed(m, &o));
    mlp_dataset *good = tu_blobs(40, NCLS, 1, 4, 5, 40, CENTRES, 5);
    mlp_dataset *bad = tu_blobs(40, NCLS + 3, 1, 4, 5, 40, CENTRES, 5);
    double err = -1.0, acc = -1.0;
    TU_FAIL(mlp_model_evaluate(m, bad, 10, &err, &acc), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_model_evaluate(m, good, 0, &err, &acc), MLP_STATUS_INVALID_ARG);
    ck_assert(err == -1.0 && acc == -1.0);
    TU_OK(mlp_model_evaluate(m, good, 10, &err, &acc));
    ck_assert(isfinite(err) && acc >= 0.0 && acc <= 1.0);
    mlp_dataset_destroy(good);
    mlp_dataset_destroy(bad);
    pthread_barrier_destroy(&c.bar);
    mlp_model_destroy(m);
}
END_TEST

/* A callback that fails with a value that is no mlp_status (42, -5): the
 * caller gets MLP_STATUS_INTERNAL, as for another rank's, with the value
 * in the message (the value itself came back before, outside the enum);
 * an empty error_message gives the status's text, not an empty reason. */
static mlp_status odd_status;
static const char *odd_message;

static mlp_status failing_broadcast(void *user, float *data, int64_t n)
{
    (void)user;
    (void)data;
    (void)n;
    return odd_status;
}

static const char *odd_error_message(void *user)
{
    (void)user;
    return odd_message;
}

/* A sum that gives something else than sums (here 1e30 everywhere) once
 * the hook is set: the step reports an internal error, a status of the
 * enum (it returned the cast of 1e30 to int before). */
static int garbage_sums;
static int64_t garbage_n; /* > 0: only sums of this many values are garbage */
static double garbage_value = 1e30;

static mlp_status maybe_garbage_sum(void *user, double *data, int64_t n)
{
    if (!garbage_sums || (garbage_n > 0 && n != garbage_n))
        return sim_sum(user, data, n);
    for (int64_t i = 0; i < n; i++)
        data[i] = garbage_value;
    return MLP_STATUS_OK;
}

START_TEST(a_sum_that_is_no_sum_is_an_internal_error)
{
    mlp_model *m = tu_model(3, IMG, 1);
    tu_add(m, tu_dense(NCLS));
    sim_comm c;
    sim_rank r;
    mlp_dist_ops o;
    one_rank(&c, &r, &o, 0);
    o.sum = maybe_garbage_sum;
    garbage_sums = 0;
    TU_OK(mlp_model_set_distributed(m, &o));
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    mlp_tensor *x = tu_tensor(2, 4, FEAT);
    mlp_tensor_fill(x, 0.5f);
    const int32_t labels[4] = {0, 1, 2, 3};
    garbage_sums = 1;
    TU_FAIL(mlp_model_train_step(m, opt, x, labels, NULL, NULL), MLP_STATUS_INTERNAL);
    /* the fit's copy of rank 0's noise generator, the one sum of 16 values */
    mlp_dataset *ds = tu_blobs(40, NCLS, 1, 4, 5, 40, CENTRES, 5);
    garbage_n = 16;
    TU_FAIL_MSG(mlp_model_fit(m, opt, ds, NULL, NULL), MLP_STATUS_INTERNAL,
                "the broadcast of the noise generator: the sum callback gave 1e+30");
    /* a whole number, but more than a 16-bit piece */
    garbage_value = 65536.0;
    TU_FAIL_MSG(mlp_model_fit(m, opt, ds, NULL, NULL), MLP_STATUS_INTERNAL,
                "the broadcast of the noise generator: the sum callback gave 65536");
    garbage_value = 1e30;
    garbage_n = 0;
    garbage_sums = 0;
    TU_OK(mlp_model_fit(m, opt, ds, NULL, NULL));
    mlp_dataset_destroy(ds);
    /* this rank's own callback failing with no status, or without a reason */
    o.broadcast = failing_broadcast;
    o.error_message = odd_error_message;
    odd_status = (mlp_status)42;
    odd_message = "link down";
    TU_FAIL_MSG(mlp_model_set_distributed(m, &o), MLP_STATUS_INTERNAL,
                "returned 42, which is no mlp_status: link down");
    odd_status = (mlp_status)-5;
    odd_message = NULL;
    TU_FAIL_MSG(mlp_model_set_distributed(m, &o), MLP_STATUS_INTERNAL, "returned -5");
    odd_status = MLP_STATUS_IO;
    odd_message = "";
    TU_FAIL_MSG(mlp_model_set_distributed(m, &o), MLP_STATUS_IO,
                "the broadcast of the parameters failed: input/output error");
    odd_message = "link down";
    TU_FAIL_MSG(mlp_model_set_distributed(m, &o), MLP_STATUS_IO, "failed: link down");
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(opt);
    pthread_barrier_destroy(&c.bar);
    mlp_model_destroy(m);
}
END_TEST

/* A hook's callback that calls back into its model during a step: every
 * call that would run or change the model is refused with BAD_STATE (they
 * freed or overwrote the step's buffers before: use after free, a write
 * through NULL), and the step completes. */
static mlp_model *meddled;
static int meddle_calls, meddle_refused;

static void meddle(void)
{
    if (!meddled)
        return;
    mlp_model *m = meddled;
    meddled = NULL; /* once; and not from the calls below */
    mlp_tensor *x = tu_tensor(2, 500, FEAT), *y = tu_tensor(2, 500, NCLS);
    mlp_tensor_fill(x, 0.5f);
    mlp_layer *l = tu_dense(3);
    float *p = calloc((size_t)mlp_model_param_count(m) + 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    const float w[NCLS] = {1.0f, 1.0f, 1.0f, 1.0f};
    const char *const names[NCLS] = {"a", "b", "c", "d"};
    mlp_dataset *ds = tu_blobs(8, NCLS, 1, 4, 5, 30, CENTRES, 1);
    /* the refusal of a call that runs the model names it (it said
     * "mlp_model: called from ...") */
    TU_FAIL_MSG(mlp_model_predict_raw(m, x, y), MLP_STATUS_BAD_STATE,
                "mlp_model_predict_raw: called from a data-parallel hook's callback");
    const mlp_status got[11] = {mlp_model_predict_raw(m, x, y),
                                mlp_model_add(m, l),
                                mlp_model_set_distributed(m, NULL),
                                mlp_model_set_loss(m, MLP_LOSS_MSE, 0),
                                mlp_model_set_params(m, p, mlp_model_param_count(m)),
                                mlp_model_set_state(m, p, mlp_model_state_count(m)),
                                mlp_model_set_class_weights(m, w, NCLS),
                                mlp_model_set_class_names(m, names, NCLS),
                                mlp_model_set_feature_names(m, NULL, 0),
                                mlp_model_set_noise_seed(m, 9),
                                mlp_model_fit_standardize(m, ds)};
    for (int i = 0; i < 11; i++) {
        meddle_calls++;
        meddle_refused += got[i] == MLP_STATUS_BAD_STATE;
    }
    ck_assert_msg(strstr(mlp_last_error(), "mlp_model_fit_standardize: called from a "
                                           "data-parallel hook's callback"),
                  "%s", mlp_last_error());
    mlp_dataset_destroy(ds);
    free(p);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(y);
}

static mlp_status meddling_sum(void *user, double *data, int64_t n)
{
    meddle();
    return sim_sum(user, data, n);
}

static mlp_status meddling_reduce_start(void *user, int32_t bucket, int32_t n_buckets,
                                        float *data, int64_t n)
{
    meddle();
    return sim_reduce_start(user, bucket, n_buckets, data, n);
}

START_TEST(hook_callbacks_cannot_run_the_model)
{
    for (int which = 0; which < 2; which++) {
        mlp_model *m = tu_model(3, IMG, 1);
        tu_add(m, tu_dense(8));
        tu_add(m, tu_relu());
        tu_add(m, tu_dense(NCLS));
        sim_comm c;
        sim_rank r;
        mlp_dist_ops o;
        one_rank(&c, &r, &o, 1); /* a bucket a layer */
        if (which == 0)
            o.sum = meddling_sum;
        else
            o.reduce_start = meddling_reduce_start;
        meddled = NULL;
        TU_OK(mlp_model_set_distributed(m, &o));
        mlp_optimizer *opt = NULL;
        TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
        mlp_tensor *x = tu_tensor(2, 4, FEAT);
        mlp_tensor_fill(x, 0.5f);
        const int32_t labels[4] = {0, 1, 2, 3};
        meddle_calls = meddle_refused = 0;
        meddled = m;
        TU_OK(mlp_model_train_step(m, opt, x, labels, NULL, NULL));
        ck_assert_int_eq(meddle_calls, 11);
        ck_assert_int_eq(meddle_refused, 11);
        ck_assert_int_eq(mlp_model_layer_count(m), 3);
        /* and after the step, the model runs again */
        TU_OK(mlp_model_train_step(m, opt, x, labels, NULL, NULL));
        mlp_tensor_destroy(x);
        mlp_optimizer_destroy(opt);
        pthread_barrier_destroy(&c.bar);
        mlp_model_destroy(m);
    }
}
END_TEST

/* A distributed model without layers: fit and evaluate refuse it with a
 * status (fit read the last layer of none before). */
START_TEST(a_model_without_layers_is_refused)
{
    mlp_model *m = tu_model(3, IMG, 1);
    sim_comm c;
    sim_rank r;
    mlp_dist_ops o;
    one_rank(&c, &r, &o, 0);
    TU_OK(mlp_model_set_distributed(m, &o));
    mlp_dataset *ds = tu_blobs(40, NCLS, 1, 4, 5, 40, CENTRES, 5);
    mlp_status st = mlp_model_fit(m, NULL, ds, NULL, NULL);
    ck_assert_int_ne(st, MLP_STATUS_OK);
    TU_FAIL(mlp_model_evaluate(m, ds, 10, NULL, NULL), MLP_STATUS_BAD_STATE);
    mlp_dataset_destroy(ds);
    pthread_barrier_destroy(&c.bar);
    mlp_model_destroy(m);
}
END_TEST

/* Batch norm and dropout: each rank normalises with its own statistics and
 * draws its own masks, but the ranks still hold one model: the same
 * parameters, and running statistics averaged after every epoch. */
START_TEST(batch_norm_statistics_are_averaged)
{
    mlp_dataset *train = tu_blobs(600, NCLS, 1, 4, 5, 40, CENTRES, 5);
    sim_comm c = {0};
    sim_rank rk[2];
    run runs[2];
    for (int i = 0; i < 2; i++)
        runs[i] =
            (run){.train = train, .epochs = 2, .batch = 100, .model_seed = 5, .norm = 1};
    run_ranks(&c, rk, runs, 2);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(runs[i].st == MLP_STATUS_OK, "rank %d: %s", i, runs[i].msg);
    ck_assert_int_gt(runs[0].n_state, 0);
    ck_assert(memcmp(runs[0].params, runs[1].params,
                     (size_t)runs[0].n_params * sizeof(float)) == 0);
    ck_assert(memcmp(runs[0].state, runs[1].state,
                     (size_t)runs[0].n_state * sizeof(float)) == 0);
    free_run(&runs[0]);
    free_run(&runs[1]);
    mlp_dataset_destroy(train);
}
END_TEST

/* mlp_model_train_step by hand: each of 2 ranks passes its half of a
 * global batch of 10; then rank 1 passes no labels (or, with `zero_y`,
 * both ranks pass labels whose class weights are 0), and both stop. */
typedef struct hand {
    sim_rank *r;
    const float *x; /* 10 x FEAT */
    const int32_t *y;
    const float *class_w;  /* NCLS weights, or NULL */
    const int32_t *zero_y; /* 5 labels for the last step, or NULL */
    mlp_status st;         /* of the 3 steps */
    double loss;           /* the last step's */
    float params[1024];
    int64_t n_params;
    mlp_status refused;
    char msg[512];
    float after[1024]; /* the parameters after the refused step */
} hand;

static mlp_model *hand_model(uint64_t seed)
{
    mlp_model *m = tu_model(3, IMG, seed);
    tu_add(m, tu_dense(8));
    tu_add(m, tu_relu());
    tu_add(m, tu_dense(NCLS));
    return m;
}

static void *hand_steps(void *arg)
{
    hand *h = arg;
    mlp_model *m = hand_model(21);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    if (h->class_w)
        TU_OK(mlp_model_set_class_weights(m, h->class_w, NCLS));
    int32_t lo = 0, n = 10;
    if (h->r) {
        mlp_dist_ops ops;
        sim_ops(&ops, h->r, 0);
        TU_OK(mlp_model_set_distributed(m, &ops));
        lo = 5 * h->r->rank;
        n = 5;
    }
    mlp_tensor *x = tu_tensor(2, n, FEAT);
    memcpy(mlp_tensor_data(x), h->x + (size_t)lo * FEAT,
           (size_t)n * FEAT * sizeof(float));
    /* a failing step fails on every rank: the ranks stay in step */
    h->st = MLP_STATUS_OK;
    for (int step = 0; step < 3 && h->st == MLP_STATUS_OK; step++)
        h->st = mlp_model_train_step(m, o, x, h->y + lo, &h->loss, NULL);
    snprintf(h->msg, sizeof h->msg, "%s", mlp_last_error());
    h->n_params = mlp_model_param_count(m);
    TU_OK(mlp_model_get_params(m, h->params, h->n_params));
    if (h->r && h->st == MLP_STATUS_OK) {
        const int32_t *last = h->zero_y ? h->zero_y : h->r->rank ? NULL : h->y;
        h->refused = mlp_model_train_step(m, o, x, last, NULL, NULL);
        snprintf(h->msg, sizeof h->msg, "%s", mlp_last_error());
        TU_OK(mlp_model_get_params(m, h->after, h->n_params));
    }
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return NULL;
}

/* The 3 steps of hand_steps on one process and on 2 ranks (h[0], h[1]),
 * with `y` and `class_w`; every parameter of the ranks within 1e-5
 * relative of the process's, and the global batch's loss within 1e-6. */
static void hand_two_ranks(const int32_t *y, const float *class_w, const int32_t *zero_y,
                           hand *h)
{
    float x[10 * FEAT];
    tu_rng g;
    tu_rng_seed(&g, 8);
    tu_fill_uniform(&g, x, 10 * FEAT, 0.0f, 1.0f);
    hand one = {.x = x, .y = y, .class_w = class_w};
    hand_steps(&one);
    ck_assert_msg(one.st == MLP_STATUS_OK, "%s", one.msg);
    ck_assert_int_le(one.n_params, 1024);
    sim_comm c = {0};
    sim_rank rk[2] = {{.c = &c, .rank = 0}, {.c = &c, .rank = 1}};
    for (int i = 0; i < 2; i++)
        h[i] = (hand){.r = &rk[i], .x = x, .y = y, .class_w = class_w, .zero_y = zero_y};
    run_threads(&c, 2, hand_steps, h, sizeof *h);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(h[i].st == MLP_STATUS_OK, "rank %d: %s", i, h[i].msg);
        double rel = max_rel_diff(h[i].params, one.params, one.n_params);
        ck_assert_msg(rel <= 1e-5, "rank %d: %g", i, rel);
        ck_assert_double_eq_tol(h[i].loss, one.loss, 1e-6);
    }
}

START_TEST(train_step_takes_this_ranks_share)
{
    int32_t y[10];
    for (int i = 0; i < 10; i++)
        y[i] = (i * 7) % NCLS;
    hand h[2];
    hand_two_ranks(y, NULL, NULL, h);
    ck_assert_int_eq(h[1].refused, MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(h[0].refused, MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(h[0].msg, "rank 1 failed") != NULL, "%s", h[0].msg);
}
END_TEST

/* Class weights: rank 0's share holds only labels of weight 0, so it adds
 * nothing to the gradient, and the 2 ranks train as one process with the
 * whole batch (whose weights sum to 4.5). A global batch whose weights sum
 * to 0 is refused on every rank, the model left as it was. */
START_TEST(a_share_of_weight_0_adds_nothing)
{
    const int32_t y[10] = {0, 0, 0, 0, 0, 1, 2, 3, 0, 1}, zeros[5] = {0};
    const float w[NCLS] = {0.0f, 1.0f, 2.0f, 0.5f};
    hand h[2];
    hand_two_ranks(y, w, zeros, h);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(h[i].refused, MLP_STATUS_INVALID_ARG);
        ck_assert_msg(strstr(h[i].msg, "global batch's 10 labels") &&
                          strstr(h[i].msg, "sum to 0"),
                      "rank %d: %s", i, h[i].msg);
        ck_assert(
            memcmp(h[i].after, h[i].params, (size_t)h[i].n_params * sizeof(float)) == 0);
    }
}
END_TEST

/* ---- the losses of hand-driven steps ------------------------------------- */

/* Three hand-driven steps of one rank: before step i it sets the class
 * weights w[i] (NULL: no change) or, when huber[0] > 0, the Huber loss of
 * delta huber[i] (0: no change), and then trains on targets. With `fits`,
 * two fits of one epoch come first; with `alone`, a step with the weights
 * w[0] on a hook of its own (one rank) comes before the ranks' hook. */
typedef struct loss_run {
    sim_rank *r;
    const float *w[3];
    double huber[3];
    int fits, alone;
    int64_t fit_calls[2]; /* the collectives of each fit */
    mlp_status st[3];
    char msg[3][512];
    int64_t calls[3]; /* the collectives of each step */
    int kept[3];      /* 1: the step left the parameters as they were */
} loss_run;

static void *loss_steps(void *arg)
{
    loss_run *u = arg;
    mlp_model *m = hand_model(21);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_SGD, m));
    const int32_t y[5] = {0, 1, 2, 3, 1};
    mlp_tensor *x = tu_tensor(2, 5, FEAT), *t = tu_tensor(2, 5, NCLS);
    tu_rng g;
    tu_rng_seed(&g, 30 + (uint64_t)u->r->rank);
    tu_fill_uniform(&g, mlp_tensor_data(x), 5 * FEAT, 0.0f, 1.0f);
    tu_fill_uniform(&g, mlp_tensor_data(t), 5 * NCLS, 0.0f, 1.0f);
    if (u->alone) {
        sim_comm c1;
        sim_rank r1;
        mlp_dist_ops o1;
        one_rank(&c1, &r1, &o1, 0);
        if (u->w[0])
            TU_OK(mlp_model_set_class_weights(m, u->w[0], NCLS));
        TU_OK(mlp_model_set_distributed(m, &o1));
        TU_OK(mlp_model_train_step(m, o, x, y, NULL, NULL));
        pthread_barrier_destroy(&c1.bar);
    }
    mlp_dist_ops ops;
    sim_ops(&ops, u->r, 0);
    TU_OK(mlp_model_set_distributed(m, &ops));
    mlp_dataset *d = tu_blobs(20, NCLS, 1, 4, 5, 40, CENTRES, 3);
    mlp_fit_options fo;
    TU_OK(mlp_fit_options_init(&fo));
    fo.batch_size = 10;
    for (int k = 0; k < 2 && u->fits; k++) {
        const int64_t calls = u->r->calls;
        TU_OK(mlp_model_fit(m, o, d, NULL, &fo));
        u->fit_calls[k] = u->r->calls - calls;
    }
    mlp_dataset_destroy(d);
    const int64_t np = mlp_model_param_count(m);
    float *before = malloc((size_t)np * sizeof *before);
    float *after = malloc((size_t)np * sizeof *after);
    for (int i = 0; i < 3; i++) {
        if (u->w[i])
            TU_OK(mlp_model_set_class_weights(m, u->w[i], NCLS));
        if (u->huber[i] > 0.0)
            TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, u->huber[i]));
        TU_OK(mlp_model_get_params(m, before, np));
        const int64_t calls = u->r->calls;
        u->st[i] = u->huber[0] > 0.0 ? mlp_model_train_step_targets(m, o, x, t, NULL)
                                     : mlp_model_train_step(m, o, x, y, NULL, NULL);
        u->calls[i] = u->r->calls - calls;
        snprintf(u->msg[i], sizeof u->msg[i], "%s", mlp_last_error());
        TU_OK(mlp_model_get_params(m, after, np));
        u->kept[i] = memcmp(before, after, (size_t)np * sizeof *after) == 0;
    }
    free(before);
    free(after);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(t);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return NULL;
}

/* Step i of both ranks failed, as the fit's start fails for ranks whose
 * losses differ (`fn` names the step), and changed no parameter. */
static void assert_losses_differ(const loss_run *u, int i, const char *fn)
{
    char want[128];
    snprintf(want, sizeof want, "%s: the ranks differ in the loss or its class weights",
             fn);
    for (int r = 0; r < 2; r++) {
        ck_assert_msg(u[r].st[i] == MLP_STATUS_INVALID_ARG, "step %d, rank %d: %d: %s", i,
                      r, (int)u[r].st[i], u[r].msg[i]);
        ck_assert_msg(strstr(u[r].msg[i], want), "step %d, rank %d: %s", i, r,
                      u[r].msg[i]);
        ck_assert(u[r].kept[i]);
    }
    ck_assert_msg(strstr(u[1].msg[i], ", rank 1: "), "%s", u[1].msg[i]);
}

static void run_loss_steps(loss_run *u)
{
    sim_comm c = {0};
    sim_rank rk[2] = {{.c = &c, .rank = 0}, {.c = &c, .rank = 1}};
    u[0].r = &rk[0];
    u[1].r = &rk[1];
    run_threads(&c, 2, loss_steps, u, sizeof *u);
}

/* mlp_model_train_step on a distributed model compares the ranks' losses
 * as mlp_model_fit does at its start: ranks whose class weights or Huber
 * deltas differ stop at the first step, with the fit's status and message;
 * equal losses train. The comparison is one more sum in the first step
 * only, and again in the step after a rank changed its loss: a change that
 * makes the losses differ stops that step, and one that makes them alike
 * again trains. After a fit, which compares them at its start, neither
 * the next fit's steps nor a hand-driven step compares them again; a new
 * hook compares them anew (each rank's loss was alike on a hook of its
 * own). */
START_TEST(hand_steps_compare_the_losses)
{
    static const float w[2][NCLS] = {{1.0f, 1.0f, 2.0f, 1.0f}, {1.0f, 1.0f, 3.0f, 1.0f}};
    loss_run u[2] = {{.w = {NULL}}, {.w = {w[0]}}};
    run_loss_steps(u);
    for (int i = 0; i < 3; i++)
        assert_losses_differ(u, i, "mlp_model_train_step");

    loss_run same[2] = {{.w = {w[0]}}, {.w = {w[0]}}};
    run_loss_steps(same);
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < 3; i++)
            ck_assert_msg(same[r].st[i] == MLP_STATUS_OK && !same[r].kept[i],
                          "step %d, rank %d: %s", i, r, same[r].msg[i]);
        ck_assert_int_eq(same[r].calls[0], same[r].calls[1] + 1);
        ck_assert_int_eq(same[r].calls[2], same[r].calls[1]);
    }

    /* Rank 1 changes its weights after the first step, rank 0 follows it
     * after the second. */
    loss_run later[2] = {{.w = {w[0], NULL, w[1]}}, {.w = {w[0], w[1]}}};
    run_loss_steps(later);
    assert_losses_differ(later, 1, "mlp_model_train_step");
    for (int r = 0; r < 2; r++) {
        ck_assert_msg(later[r].st[0] == MLP_STATUS_OK && later[r].st[2] == MLP_STATUS_OK,
                      "rank %d: %s", r, later[r].msg[2]);
        ck_assert_int_eq(later[r].calls[2], later[r].calls[0]);
    }

    loss_run huber[2] = {{.huber = {1.0}}, {.huber = {1.0, 0.5}}};
    run_loss_steps(huber);
    ck_assert_msg(huber[0].st[0] == MLP_STATUS_OK && huber[1].st[0] == MLP_STATUS_OK,
                  "%s", huber[0].msg[0]);
    assert_losses_differ(huber, 1, "mlp_model_train_step_targets");

    loss_run apart[2] = {{.w = {w[0]}, .alone = 1}, {.w = {w[1]}, .alone = 1}};
    run_loss_steps(apart);
    assert_losses_differ(apart, 0, "mlp_model_train_step");

    loss_run fitted[2] = {{.fits = 1}, {.fits = 1}};
    run_loss_steps(fitted);
    for (int r = 0; r < 2; r++) {
        ck_assert_msg(fitted[r].st[0] == MLP_STATUS_OK, "%s", fitted[r].msg[0]);
        ck_assert_int_eq(fitted[r].fit_calls[0], fitted[r].fit_calls[1]);
        ck_assert_int_eq(fitted[r].calls[0], fitted[r].calls[1]);
    }
}
END_TEST

static Suite *dist_suite(void)
{
    Suite *s = suite_create("dist");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, two_ranks_train_as_one_process);
    tcase_add_test(tc, uneven_shares_and_small_buckets);
    tcase_add_test(tc, a_rank_with_an_empty_share_takes_part);
    tcase_add_test(tc, one_rank_alone_is_one_process);
    tcase_add_test(tc, batch_norm_statistics_are_averaged);
    tcase_add_test(tc, train_step_takes_this_ranks_share);
    tcase_add_test(tc, a_share_of_weight_0_adds_nothing);
    tcase_add_test(tc, hand_steps_compare_the_losses);
    tcase_add_test(tc, a_failing_rank_stops_every_rank);
    tcase_add_test(tc, a_nan_on_one_rank_stops_every_rank);
    tcase_add_test(tc, set_distributed_checks_its_arguments);
    tcase_add_test(tc, set_distributed_bounds_the_rank_count);
    tcase_add_test(tc, evaluate_misuse_before_any_step);
    tcase_add_test(tc, a_model_without_layers_is_refused);
    tcase_add_test(tc, hook_callbacks_cannot_run_the_model);
    tcase_add_test(tc, a_sum_that_is_no_sum_is_an_internal_error);
    tcase_add_test(tc, resume_with_adam_on_any_number_of_ranks);
    tcase_add_test(tc, resume_with_momentum_on_any_number_of_ranks);
    tcase_add_loop_test(tc, resume_with_batch_norm_on_the_same_ranks, 0, 2);
    tcase_add_test(tc, epoch_generators_differ_by_rank);
    tcase_add_test(tc, ranks_with_different_rules_stop);
    tcase_add_test(tc, ranks_whose_fits_differ_stop);
    tcase_add_test(tc, ranks_leave_out_the_same_last_batch);
    tcase_add_test(tc, ranks_with_different_models_stop);
    tcase_add_test(tc, a_bucket_that_fails_to_start_stops_every_rank);
    tcase_add_test(tc, a_bucket_that_fails_to_complete_stops_every_rank);
    tcase_add_test(tc, out_of_memory_in_distributed_training);
    tcase_add_test(tc, ranks_sum_r2_as_one_process);
    tcase_add_test(tc, each_failing_collective_stops_every_rank);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(dist_suite, 1)
