/*
 * Data-parallel training on MPI (mlpnet/mpi.h), run under mpirun with any
 * number of ranks: every rank trains a reference model alone (batch 100)
 * and the distributed model (global batch 100, small buckets so that
 * several MPI_Iallreduce run per step), then checks that every parameter is
 * within 1e-4 relative of the reference and the same bits on every rank,
 * with the validation accuracy within 0.002. Then a rank whose data do not
 * fit the model, and a rank whose loss is not finite, make every rank
 * stop, with no hang and a message naming that rank; a checkpoint saved by
 * rank 0 resumes on the same and on another number of ranks; the wait of
 * a bucket whose start failed returns without MPI; a step whose request
 * array cannot grow sums its buckets at once, to the same bits; training
 * by hand stops every rank when one rank's class weights differ, and
 * trains when they are alike; a null communicator is refused with a
 * status. Rank 0 prints.
 * Exit status 0 on every rank when all holds.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlpnet/mlpnet.h"
#include "mlpnet/mpi.h"
#include "mpi/mpi_hook.h"

#define FEAT 20
#define NCLS 4

static int rank, size, failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "rank %d: %s:%d: ", rank, __FILE__, __LINE__);               \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* Blobs: class k's pixels scatter around a centre drawn from a fixed seed. */
static mlp_dataset *blobs(int32_t n, int32_t classes, uint32_t seed)
{
    uint8_t *px = malloc((size_t)n * FEAT);
    int32_t *y = malloc((size_t)n * sizeof *y);
    uint32_t s = 12345u, t = seed;
    uint8_t centre[16][FEAT];
    for (int k = 0; k < classes; k++)
        for (int j = 0; j < FEAT; j++) {
            s = s * 1664525u + 1013904223u;
            centre[k][j] = (uint8_t)(40 + (s >> 24) % 176);
        }
    for (int32_t i = 0; i < n; i++) {
        y[i] = i % classes;
        for (int j = 0; j < FEAT; j++) {
            t = t * 1664525u + 1013904223u;
            int v = centre[y[i]][j] + (int)((t >> 24) % 81) - 40;
            px[(size_t)i * FEAT + j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    mlp_dataset *ds = NULL;
    if (mlp_dataset_create(&ds, n, 1, 4, 5, px, y, classes) != MLP_STATUS_OK)
        ds = NULL;
    free(px);
    free(y);
    return ds;
}

static mlp_model *mlp(uint64_t seed)
{
    const int32_t in[3] = {1, 4, 5};
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    mlp_model_create(&m, 3, in, seed);
    mlp_layer_create_dense(&l, 32), mlp_model_add(m, l);
    mlp_layer_create_relu(&l), mlp_model_add(m, l);
    mlp_layer_create_dense(&l, 16), mlp_model_add(m, l);
    mlp_layer_create_relu(&l), mlp_model_add(m, l);
    mlp_layer_create_dense(&l, NCLS), mlp_model_add(m, l);
    return m;
}

static double last_valid_acc;
static int on_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    (void)user;
    last_valid_acc = s->valid_acc;
    return 0;
}

/* Train 2 epochs with a global batch of 100; the parameters go to *out. */
static mlp_status train(mlp_model *m, const mlp_dataset *tr, const mlp_dataset *va,
                        float **out, double *valid_acc)
{
    mlp_optimizer *o = NULL;
    mlp_status st = mlp_optimizer_create(&o, MLP_RULE_SGD, m);
    if (st != MLP_STATUS_OK)
        return st;
    mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, 0.1);
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = 2;
    fo.batch_size = 100;
    fo.seed = 77;
    fo.on_epoch = on_epoch;
    st = mlp_model_fit(m, o, tr, va, &fo);
    *valid_acc = last_valid_acc;
    int64_t n = mlp_model_param_count(m);
    *out = malloc((size_t)n * sizeof **out);
    mlp_model_get_params(m, *out, n);
    mlp_optimizer_destroy(o);
    return st;
}

static void equivalence(mlp_mpi *comm, int32_t n_train)
{
    mlp_dataset *tr = blobs(n_train, NCLS, 5), *va = blobs(300, NCLS, 6);
    mlp_model *alone = mlp(11), *dist = mlp(11 + (uint64_t)rank);
    float *pa = NULL, *pd = NULL;
    double acc_a = 0, acc_d = 0;
    CHECK(train(alone, tr, va, &pa, &acc_a) == MLP_STATUS_OK, "%s", mlp_last_error());

    mlp_dist_ops ops;
    mlp_dist_ops_init(&ops);
    ops.bucket_floats = 200;
    CHECK(mlp_mpi_ops(comm, &ops) == MLP_STATUS_OK, "mlp_mpi_ops");
    CHECK(mlp_model_set_distributed(dist, &ops) == MLP_STATUS_OK, "%s", mlp_last_error());
    CHECK(train(dist, tr, va, &pd, &acc_d) == MLP_STATUS_OK, "%s", mlp_last_error());

    int64_t n = mlp_model_param_count(alone);
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)pa[i] - pd[i]);
        double rel = d / fmax(fmax(fabs((double)pa[i]), fabs((double)pd[i])), 1e-3);
        worst = rel > worst ? rel : worst;
    }
    CHECK(worst <= 1e-4, "a parameter differs by %g relative", worst);
    CHECK(fabs(acc_a - acc_d) <= 0.002, "validation accuracy %g against %g", acc_d,
          acc_a);
    /* The same bits on every rank. */
    float *lo = malloc((size_t)n * sizeof *lo), *hi = malloc((size_t)n * sizeof *hi);
    MPI_Allreduce(pd, lo, (int)n, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(pd, hi, (int)n, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(memcmp(lo, hi, (size_t)n * sizeof *lo) == 0, "ranks hold different models");
    if (rank == 0)
        printf("%d ranks, %d samples: largest relative difference %.3g, validation "
               "accuracy %.4f (alone %.4f), bucket wait %.4f s\n",
               size, (int)n_train, worst, acc_d, acc_a, mlp_mpi_wait_seconds(comm));
    mlp_model_set_distributed(dist, NULL);
    free(lo), free(hi), free(pa), free(pd);
    mlp_model_destroy(alone), mlp_model_destroy(dist);
    mlp_dataset_destroy(tr), mlp_dataset_destroy(va);
}

/* Train on `tr`, in which the last rank's data are bad: every rank returns
 * `want`, the others with a message naming the last rank, that rank with
 * a message holding `why`. */
static void last_rank_fails(mlp_mpi *comm, mlp_dataset *tr, mlp_status want,
                            const char *why)
{
    mlp_model *m = mlp(3);
    mlp_dist_ops ops;
    mlp_dist_ops_init(&ops);
    mlp_mpi_ops(comm, &ops);
    CHECK(mlp_model_set_distributed(m, &ops) == MLP_STATUS_OK, "%s", mlp_last_error());
    float *p = NULL;
    double acc;
    mlp_status st = train(m, tr, NULL, &p, &acc);
    CHECK(st == want, "status %d: %s", (int)st, mlp_last_error());
    char who[64];
    snprintf(who, sizeof who, "rank %d failed", size - 1);
    CHECK(rank == size - 1 || strstr(mlp_last_error(), who), "%s", mlp_last_error());
    CHECK(rank != size - 1 || strstr(mlp_last_error(), why), "%s", mlp_last_error());
    if (rank == 0)
        printf("rank %d fails (%s), rank 0 stops: %s\n", size - 1, why, mlp_last_error());
    free(p);
    mlp_model_destroy(m);
    mlp_dataset_destroy(tr);
}

/* The last rank's data have more classes than the model outputs; then
 * its samples are so large that its loss is not finite. */
static void failing_rank(mlp_mpi *comm)
{
    if (size < 2)
        return;
    last_rank_fails(comm, blobs(400, rank == size - 1 ? NCLS + 3 : NCLS, 5),
                    MLP_STATUS_SHAPE_MISMATCH, "classes");
    const int32_t n = 400, shape[3] = {1, 4, 5};
    float *x = malloc((size_t)n * FEAT * sizeof *x);
    int32_t *y = malloc((size_t)n * sizeof *y);
    for (int32_t i = 0; i < n; i++) {
        y[i] = i % NCLS;
        for (int j = 0; j < FEAT; j++)
            x[i * FEAT + j] = rank == size - 1 ? 3e38f : (float)((i + j) % 7) / 7.0f;
    }
    mlp_dataset *tr = NULL;
    CHECK(mlp_dataset_create_f32(&tr, n, 3, shape, x, y, NCLS, MLP_DATASET_COPY) ==
              MLP_STATUS_OK,
          "%s", mlp_last_error());
    free(x), free(y);
    last_rank_fails(comm, tr, MLP_STATUS_NUMERIC, "not finite");
}

/* One run with Adam on the ranks of `c`: from the checkpoint `ck` (rank 0
 * only; the others build a new model with other weights and another rate)
 * or a new model; its parameters go to `out`, and with `save` rank 0 keeps
 * a checkpoint (model and optimizer) in *save. */
static void adam_run(mlp_mpi *c, const mlp_dataset *tr, const void *ck, size_t ck_len,
                     uint64_t seed, int32_t epochs, int32_t first_epoch, float *out,
                     void **save, size_t *save_len)
{
    mlp_model *m = NULL;
    mlp_optimizer *o = NULL;
    if (ck) {
        CHECK(mlp_model_load_mem_with_optimizer(&m, &o, ck, ck_len) == MLP_STATUS_OK,
              "%s", mlp_last_error());
    } else {
        m = mlp(seed + (uint64_t)rank);
        CHECK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m) == MLP_STATUS_OK, "%s",
              mlp_last_error());
        mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, rank == 0 ? 0.01 : 0.03);
    }
    mlp_dist_ops ops;
    mlp_dist_ops_init(&ops);
    ops.bucket_floats = 200;
    mlp_mpi_ops(c, &ops);
    CHECK(mlp_model_set_distributed(m, &ops) == MLP_STATUS_OK, "%s", mlp_last_error());
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = epochs;
    fo.first_epoch = first_epoch;
    fo.batch_size = 100;
    fo.seed = 77;
    CHECK(mlp_model_fit(m, o, tr, NULL, &fo) == MLP_STATUS_OK, "%s", mlp_last_error());
    mlp_model_get_params(m, out, mlp_model_param_count(m));
    if (save && rank == 0)
        CHECK(mlp_model_save_mem_with_optimizer(m, o, save, save_len) == MLP_STATUS_OK,
              "%s", mlp_last_error());
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}

static double max_rel(const float *a, const float *b, int64_t n)
{
    double worst = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        double rel = d / fmax(fmax(fabs((double)a[i]), fabs((double)b[i])), 1e-3);
        worst = rel > worst ? rel : worst;
    }
    return worst;
}

/*
 * Checkpoints: the first q ranks (all but the last; 1 when alone) train 2
 * epochs unbroken, then 1 epoch after which rank 0 keeps a checkpoint; the
 * second epoch resumes from it on those q ranks (the same P: the same
 * bits) and on all ranks (another P: within 1e-4 relative). Only rank 0
 * loads the checkpoint.
 */
static void resume(mlp_mpi *world)
{
    const int q = size > 1 ? size - 1 : 1;
    MPI_Comm sub;
    MPI_Comm_split(MPI_COMM_WORLD, rank < q ? 0 : MPI_UNDEFINED, rank, &sub);
    mlp_dataset *tr = blobs(1000, NCLS, 5);
    mlp_model *probe = mlp(1);
    const int64_t n = mlp_model_param_count(probe);
    mlp_model_destroy(probe);
    float *ref = calloc((size_t)n, sizeof *ref), *got = calloc((size_t)n, sizeof *got);
    void *ck = NULL;
    size_t ck_len = 0;
    if (sub != MPI_COMM_NULL) {
        mlp_mpi *c = NULL;
        CHECK(mlp_mpi_create(&c, sub) == MLP_STATUS_OK, "mlp_mpi_create");
        adam_run(c, tr, NULL, 0, 11, 2, 1, ref, NULL, NULL);
        adam_run(c, tr, NULL, 0, 11, 1, 1, got, &ck, &ck_len);
        adam_run(c, tr, ck, ck_len, 99, 1, 2, got, NULL, NULL);
        CHECK(memcmp(ref, got, (size_t)n * sizeof *ref) == 0,
              "resumed on the same %d ranks: a parameter differs by %g relative", q,
              max_rel(ref, got, n));
        mlp_mpi_destroy(c);
        MPI_Comm_free(&sub);
    }
    MPI_Bcast(ref, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
    adam_run(world, tr, ck, ck_len, 99, 1, 2, got, NULL, NULL);
    double rel = max_rel(ref, got, n), worst = 0.0;
    MPI_Allreduce(&rel, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    CHECK(worst <= 1e-4, "resumed on %d ranks after %d: a parameter differs by %g", size,
          q, worst);
    if (rank == 0)
        printf("Adam, broken after epoch 1 on %d ranks: resumed on %d the same bits, on "
               "%d within %.3g relative\n",
               q, q, size, worst);
    mlp_buffer_free(ck);
    free(ref), free(got);
    mlp_dataset_destroy(tr);
}

/*
 * A step whose middle bucket fails to start (more floats than MPI's int
 * counts: refused before any MPI call, alike on every rank), with the
 * callbacks called as libmlpnet calls them: every start, then every wait,
 * also the failed bucket's. That wait has nothing to complete: it returns
 * at once, without MPI, and the other buckets hold their sums. The request
 * array is new, on memory left dirty by a block freed just before (a wait
 * that read its slot handed MPI_Wait garbage).
 */
static void failed_start(void)
{
    mlp_mpi *c = NULL;
    CHECK(mlp_mpi_create(&c, MPI_COMM_WORLD) == MLP_STATUS_OK, "mlp_mpi_create");
    mlp_dist_ops ops;
    mlp_dist_ops_init(&ops);
    mlp_mpi_ops(c, &ops);
    for (int step = 0; step < 2; step++) {
        const int32_t bad = step == 0 ? 1 : 0; /* the bucket that fails */
        float a[3][4], dummy = 0.0f;
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < 4; i++)
                a[b][i] = (float)(rank + 1) * (float)(b + i);
        volatile unsigned char *dirty = malloc(3 * sizeof(MPI_Request));
        for (size_t i = 0; dirty && i < 3 * sizeof(MPI_Request); i++)
            dirty[i] = 0xbe;
        free((void *)dirty);
        for (int32_t b = 0; b < 3; b++) {
            mlp_status st =
                b == bad ? ops.reduce_start(ops.user, b, 3, &dummy, (int64_t)INT_MAX + 1)
                         : ops.reduce_start(ops.user, b, 3, a[b], 4);
            CHECK(st == (b == bad ? MLP_STATUS_UNSUPPORTED : MLP_STATUS_OK),
                  "step %d: reduce_start of bucket %d: status %d", step, (int)b, (int)st);
        }
        const char *msg = ops.error_message(ops.user);
        CHECK(msg && strstr(msg, "beyond MPI's int counts"), "%s", msg ? msg : "(none)");
        for (int32_t b = 0; b < 3; b++) {
            mlp_status st = ops.reduce_wait(ops.user, b);
            CHECK(st == MLP_STATUS_OK, "step %d: reduce_wait of bucket %d: status %d",
                  step, (int)b, (int)st);
        }
        const float ranks = (float)size * (float)(size + 1) / 2.0f; /* sum of rank + 1 */
        for (int b = 0; b < 3; b++)
            for (int i = 0; b != bad && i < 4; i++)
                CHECK(a[b][i] == ranks * (float)(b + i), "step %d: bucket %d[%d] = %g",
                      step, b, i, (double)a[b][i]);
    }
    mlp_mpi_destroy(c);
    if (rank == 0)
        printf("a bucket that fails to start: its wait returns at once\n");
}

/* Two epochs on a new communicator, whose request array is empty, with
 * buckets of `bucket_floats` (0: the default, one bucket for this model)
 * and the fail-th growth of that array failing on this rank (0: none);
 * the parameters go to out. */
static void grow_run(const mlp_dataset *tr, int64_t bucket_floats, long fail, float *out)
{
    mlp_mpi *c = NULL;
    CHECK(mlp_mpi_create(&c, MPI_COMM_WORLD) == MLP_STATUS_OK, "mlp_mpi_create");
    const long failed = mlp__mpi_grow_failures();
    mlp__mpi_grow_fail_after(fail);
    float *p = NULL;
    double acc;
    mlp_model *m = mlp(13 + (uint64_t)rank);
    mlp_dist_ops ops;
    mlp_dist_ops_init(&ops);
    ops.bucket_floats = bucket_floats;
    mlp_mpi_ops(c, &ops);
    CHECK(mlp_model_set_distributed(m, &ops) == MLP_STATUS_OK, "%s", mlp_last_error());
    CHECK(train(m, tr, NULL, &p, &acc) == MLP_STATUS_OK, "%s", mlp_last_error());
    mlp__mpi_grow_fail_after(0);
    CHECK(mlp__mpi_grow_failures() - failed == (fail ? 1 : 0),
          "%ld growths of the request array failed, %d injected",
          mlp__mpi_grow_failures() - failed, fail ? 1 : 0);
    memcpy(out, p, (size_t)mlp_model_param_count(m) * sizeof *p);
    free(p);
    mlp_model_destroy(m);
    mlp_mpi_destroy(c);
}

/*
 * The request array cannot grow in the first step (on rank 1 alone, then
 * on every rank): the buckets that find no slot (the first one of that
 * step, with buckets of 200 floats; the only one, with the default size)
 * are summed at once through a request of their own, and the later steps
 * grow the array. Training gives the same bits on every rank, and those of
 * a run where the array grows.
 */
static void requests_cannot_grow(void)
{
    mlp_dataset *tr = blobs(400, NCLS, 5);
    mlp_model *probe = mlp(1);
    const int64_t n = mlp_model_param_count(probe);
    mlp_model_destroy(probe);
    float *ref = malloc((size_t)n * sizeof *ref), *got = malloc((size_t)n * sizeof *got);
    float *lo = malloc((size_t)n * sizeof *lo), *hi = malloc((size_t)n * sizeof *hi);
    static const struct {
        int64_t bucket_floats;
        int all; /* the growth fails on every rank, not only on rank 1 */
        const char *what;
    } runs[] = {{200, 0, "rank 1, buckets of 200 floats"},
                {200, 1, "every rank, buckets of 200 floats"},
                {0, 1, "every rank, one bucket"}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        if (i == 0 || runs[i].bucket_floats != runs[i - 1].bucket_floats)
            grow_run(tr, runs[i].bucket_floats, 0, ref);
        grow_run(tr, runs[i].bucket_floats, runs[i].all || rank == 1 ? 1 : 0, got);
        MPI_Allreduce(got, lo, (int)n, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(got, hi, (int)n, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
        CHECK(memcmp(lo, hi, (size_t)n * sizeof *lo) == 0,
              "no room for requests on %s: ranks hold different models", runs[i].what);
        CHECK(memcmp(got, ref, (size_t)n * sizeof *ref) == 0,
              "no room for requests on %s: a parameter differs by %g relative",
              runs[i].what, max_rel(got, ref, n));
    }
    if (rank == 0)
        printf("no room for the requests of a step: its buckets are summed at once, "
               "the same bits\n");
    free(ref), free(got), free(lo), free(hi);
    mlp_dataset_destroy(tr);
}

/* Three hand-driven steps (mlp_model_train_step, each rank on 10 samples
 * of its own) with class weights w; the statuses go to st. Whether the
 * parameters are the same bits on every rank goes to *alike, and whether
 * the steps left them as set_distributed made them to *kept. */
static void hand_steps(mlp_mpi *comm, const float *w, mlp_status *st, int *alike,
                       int *kept)
{
    mlp_model *m = mlp(5 + (uint64_t)rank);
    mlp_optimizer *o = NULL;
    CHECK(mlp_optimizer_create(&o, MLP_RULE_SGD, m) == MLP_STATUS_OK, "%s",
          mlp_last_error());
    CHECK(mlp_model_set_class_weights(m, w, NCLS) == MLP_STATUS_OK, "%s",
          mlp_last_error());
    mlp_dist_ops ops;
    mlp_dist_ops_init(&ops);
    ops.bucket_floats = 200;
    mlp_mpi_ops(comm, &ops);
    CHECK(mlp_model_set_distributed(m, &ops) == MLP_STATUS_OK, "%s", mlp_last_error());
    const int64_t n = mlp_model_param_count(m);
    float *p0 = malloc((size_t)n * sizeof *p0), *p = malloc((size_t)n * sizeof *p);
    mlp_model_get_params(m, p0, n);
    const int32_t shape[2] = {10, FEAT};
    mlp_tensor *x = NULL;
    CHECK(mlp_tensor_create(&x, 2, shape) == MLP_STATUS_OK, "%s", mlp_last_error());
    float *xd = mlp_tensor_data(x);
    int32_t y[10];
    for (int i = 0; i < 10; i++) {
        y[i] = (i + rank) % NCLS;
        for (int j = 0; j < FEAT; j++)
            xd[i * FEAT + j] = (float)((i * 3 + j + rank) % 11) / 11.0f;
    }
    for (int s = 0; s < 3; s++)
        st[s] = mlp_model_train_step(m, o, x, y, NULL, NULL);
    mlp_model_get_params(m, p, n);
    *kept = memcmp(p, p0, (size_t)n * sizeof *p) == 0;
    MPI_Allreduce(p, p0, (int)n, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
    *alike = memcmp(p, p0, (size_t)n * sizeof *p) == 0;
    int all = 0;
    MPI_Allreduce(alike, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    *alike = all;
    mlp_tensor_destroy(x);
    free(p0), free(p);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}

/* Training by hand compares the ranks' losses as mlp_model_fit does: ranks
 * whose class weights differ (rank 1's) stop at the first step, every rank
 * with the fit's status and message, the model as it was; ranks whose
 * losses are equal train, to the same bits. */
static void hand_losses(mlp_mpi *comm)
{
    static const float w[2][NCLS] = {{1.0f, 1.0f, 2.0f, 1.0f}, {1.0f, 1.0f, 3.0f, 1.0f}};
    mlp_status st[3];
    int alike = 0, kept = 0;
    hand_steps(comm, w[0], st, &alike, &kept);
    for (int s = 0; s < 3; s++)
        CHECK(st[s] == MLP_STATUS_OK, "equal losses, step %d: %s", s, mlp_last_error());
    CHECK(alike && !kept, "equal losses: the ranks' parameters %s",
          kept ? "did not change" : "differ");
    if (size < 2)
        return;
    hand_steps(comm, w[rank == 1], st, &alike, &kept);
    const char *want = "mlp_model_train_step: the ranks differ in the loss or its class "
                       "weights";
    for (int s = 0; s < 3; s++)
        CHECK(st[s] == MLP_STATUS_INVALID_ARG,
              "rank 1's other class weights, step %d: "
              "status %d",
              s, (int)st[s]);
    CHECK(strstr(mlp_last_error(), want), "%s", mlp_last_error());
    CHECK(kept, "rank 1's other class weights: a step changed the parameters");
    if (rank == 0)
        printf("training by hand, rank 1's class weights differ: %s\n", mlp_last_error());
}

/* A null communicator is refused with a status, not MPI's abort; so are a
 * NULL out-pointer and a hook that is NULL or older than the library's. */
static void misuse(mlp_mpi *comm)
{
    mlp_mpi *c = (mlp_mpi *)&c;
    CHECK(mlp_mpi_create(&c, MPI_COMM_NULL) == MLP_STATUS_INVALID_ARG && c == NULL,
          "mlp_mpi_create(MPI_COMM_NULL)");
    CHECK(mlp_mpi_create(NULL, MPI_COMM_WORLD) == MLP_STATUS_INVALID_ARG,
          "mlp_mpi_create(NULL, ...)");
    mlp_dist_ops ops;
    mlp_dist_ops_init(&ops);
    CHECK(mlp_mpi_ops(NULL, &ops) == MLP_STATUS_INVALID_ARG, "mlp_mpi_ops(NULL, ...)");
    CHECK(mlp_mpi_ops(comm, NULL) == MLP_STATUS_INVALID_ARG, "mlp_mpi_ops(..., NULL)");
    ops.struct_size = sizeof ops - 1;
    CHECK(mlp_mpi_ops(comm, &ops) == MLP_STATUS_INVALID_ARG && ops.broadcast == NULL,
          "mlp_mpi_ops with a struct_size of %zu", (size_t)ops.struct_size);
    /* a later header's larger struct: this release's fields are filled,
     * the ones after them left as the caller set them */
    struct {
        mlp_dist_ops ops;
        unsigned char later[16];
    } big;
    mlp_dist_ops_init(&big.ops);
    big.ops.struct_size = sizeof big;
    memset(big.later, 0xa5, sizeof big.later);
    CHECK(mlp_mpi_ops(comm, &big.ops) == MLP_STATUS_OK && big.ops.broadcast != NULL &&
              big.ops.size == size,
          "mlp_mpi_ops with a later header's struct of %zu bytes", sizeof big);
    for (size_t i = 0; i < sizeof big.later; i++)
        CHECK(big.later[i] == 0xa5, "mlp_mpi_ops wrote byte %zu past its fields", i);
    /* the header's calls return a status alone: the last message stays */
    mlp_tensor *t = NULL;
    CHECK(mlp_tensor_create(&t, 0, NULL) != MLP_STATUS_OK, "a tensor of rank 0");
    char before[512];
    snprintf(before, sizeof before, "%s", mlp_last_error());
    CHECK(mlp_mpi_ops(NULL, &ops) == MLP_STATUS_INVALID_ARG &&
              mlp_mpi_create(&c, MPI_COMM_NULL) == MLP_STATUS_INVALID_ARG &&
              strcmp(before, mlp_last_error()) == 0 && before[0] != '\0',
          "mlp_mpi_* changed the last message: %s", mlp_last_error());
}

int main(int argc, char **argv)
{
    /* Before MPI_Init: a status, not a call into MPI. */
    mlp_mpi *early = (mlp_mpi *)&early;
    CHECK(mlp_mpi_create(&early, MPI_COMM_WORLD) == MLP_STATUS_BAD_STATE && early == NULL,
          "mlp_mpi_create before MPI_Init");
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mlp_mpi *comm = NULL;
    CHECK(mlp_mpi_create(&comm, MPI_COMM_WORLD) == MLP_STATUS_OK, "mlp_mpi_create");
    equivalence(comm, 1000);
    equivalence(comm, 1003); /* uneven shares; a last batch of 3 */
    failing_rank(comm);
    resume(comm);
    failed_start();
    requests_cannot_grow();
    hand_losses(comm);
    misuse(comm);
    mlp_mpi_destroy(comm);
    mlp_mpi *late = NULL;
    CHECK(mlp_mpi_create(&late, MPI_COMM_WORLD) == MLP_STATUS_OK, "mlp_mpi_create");
    int any = 0;
    MPI_Allreduce(&failures, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    /* After MPI_Finalize, when any MPI call but a few is erroneous (Open MPI
     * aborts): creating is refused, destroying frees the memory alone. */
    mlp_mpi *after = (mlp_mpi *)&after;
    CHECK(mlp_mpi_create(&after, MPI_COMM_WORLD) == MLP_STATUS_BAD_STATE && after == NULL,
          "mlp_mpi_create after MPI_Finalize");
    mlp_mpi_destroy(late);
    return any || failures ? 1 : 0;
}
