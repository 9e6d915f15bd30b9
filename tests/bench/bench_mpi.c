/*
 * Data-parallel training on MPI against one process, and the cost model of
 * docs/distributed.md next to what this machine measures. Run under mpirun
 * (meson runs it with 2 ranks: `meson test -C build --benchmark bench_mpi`).
 *
 * 1. The all-reduce: MPI_Allreduce of 1 float and of each model's gradient
 *    (the same sum the buckets make), median of repeats. From them, the
 *    ring model's latency a and bandwidth b of this machine's links:
 *    t(S) = 2 (P - 1) a + 2 (P - 1) / P * S / b.
 * 2. For the baseline MLP (784 -> 3 x 100 ELU -> 47, SGD) and the report's
 *    ConvNet (run `convnet` of mlpnet-convnets: conv 3x3 32 -> spatial batch
 *    norm -> ReLU -> pool, the same with 64 maps, dense 128 ReLU, 47; Adam),
 *    global batch 100, one epoch of:
 *      - rank 0 alone on 1 thread, then on P threads (the other ranks sleep);
 *      - every rank together, 1 thread each, through libmlpnet-mpi;
 *    with the seconds each rank waited for gradient buckets.
 * 3. The model's prediction for the measured P-rank epoch (no overlap:
 *    compute / P + all-reduce per step; full overlap: the larger of the two),
 *    and for 2, 8 and 64 nodes like this one on 1 and 10 Gbit/s Ethernet.
 *
 * Data: EMNIST's training split when MLPNET_DATA_DIR holds it (the MLP's
 * epoch is the whole split, the ConvNet's its first 10,000 images, to keep
 * the run short), generated images otherwise.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlpnet/mlpnet.h"
#include "mlpnet/mpi.h"

#define BENCH_NAME "bench_mpi"
#include "bench_util.h"

enum { BATCH = 100, CONV_SAMPLES = 10000, REPEATS = 21 };

/* Ethernet assumptions of the table (per message, one direction): the
 * latency of a small message over TCP between two hosts. */
#define NET_LATENCY 50e-6

static int rank, size;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one MPI_Allreduce of n floats over every rank. */
static double allreduce_seconds(int64_t n)
{
    float *buf = calloc((size_t)n, sizeof *buf);
    double t[REPEATS];
    if (!buf)
        exit(1);
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int r = 0; r < REPEATS; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = now();
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = now() - t0;
    }
    /* The slowest rank's time is the collective's. */
    MPI_Allreduce(MPI_IN_PLACE, t, REPEATS, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    qsort(t, REPEATS, sizeof *t, cmp_double);
    free(buf);
    return t[REPEATS / 2];
}

/* Ring all-reduce of `bytes` on p nodes with per-message latency a (s) and
 * bandwidth b (bytes/s). */
static double ring_seconds(int p, double bytes, double a, double b)
{
    return p < 2 ? 0.0 : 2.0 * (p - 1) * a + 2.0 * (p - 1) / p * bytes / b;
}

/* Ranks other than 0 wait here without spinning while rank 0 works alone
 * (a blocking MPI_Barrier polls and would take a core). */
static void idle_barrier(void)
{
    MPI_Request rq;
    int done = 0;
    MPI_Ibarrier(MPI_COMM_WORLD, &rq);
    while (!done) {
        MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
        if (!done)
            nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static mlp_dataset *generated(int32_t n)
{
    uint8_t *px = malloc((size_t)n * 784);
    int32_t *lb = malloc((size_t)n * sizeof *lb);
    mlp_dataset *ds = NULL;
    if (!px || !lb)
        exit(1);
    uint64_t s = 42;
    for (size_t i = 0; i < (size_t)n * 784; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        px[i] = (uint8_t)(s >> 56);
    }
    for (int32_t i = 0; i < n; i++)
        lb[i] = i % 47;
    CHECK(mlp_dataset_create(&ds, n, 1, 28, 28, px, lb, 47));
    free(px);
    free(lb);
    return ds;
}

static mlp_dataset *first_n(const mlp_dataset *ds, int32_t n)
{
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    mlp_dataset *out = NULL;
    if (!idx)
        exit(1);
    for (int32_t i = 0; i < n; i++)
        idx[i] = i;
    CHECK(mlp_dataset_subset(ds, idx, n, &out));
    free(idx);
    return out;
}

/* Add the layer a create call just made (its status first: argument order
 * is unspecified, so the layer is read through its address). */
static void add(mlp_model *m, mlp_status st, mlp_layer *const *l)
{
    CHECK(st);
    CHECK(mlp_model_add(m, *l));
}

static mlp_model *baseline_mlp(void)
{
    const int32_t in[3] = {1, 28, 28};
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    CHECK(mlp_model_create(&m, 3, in, 1));
    for (int i = 0; i < 3; i++) {
        add(m, mlp_layer_create_dense(&l, 100), &l);
        add(m, mlp_layer_create_elu(&l, 1.0f), &l);
    }
    add(m, mlp_layer_create_dense(&l, 47), &l);
    return m;
}

static void conv_block(mlp_model *m, int32_t filters)
{
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_conv2d(&l, 0, filters, 3, 3);
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1);
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_use_bias(l, 0);
    add(m, st, &l);
    add(m, mlp_layer_create_batchnorm_spatial(&l), &l);
    add(m, mlp_layer_create_relu(&l), &l);
    add(m, mlp_layer_create_maxpool(&l, 2, 2, 2, 0), &l);
}

static mlp_model *convnet(void)
{
    const int32_t in[3] = {1, 28, 28};
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    CHECK(mlp_model_create(&m, 3, in, 1));
    conv_block(m, 32);
    conv_block(m, 64);
    add(m, mlp_layer_create_dense(&l, 128), &l);
    add(m, mlp_layer_create_relu(&l), &l);
    add(m, mlp_layer_create_dense(&l, 47), &l);
    return m;
}

typedef struct epoch_result {
    double seconds, wait;
} epoch_result;

static int on_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    (void)m;
    epoch_result *r = user;
    r->seconds = s->train_seconds;
    r->wait = s->comm_wait_seconds;
    return 0;
}

/* One epoch of a fresh model; distributed through `comm` when it is set. */
static epoch_result one_epoch(mlp_model *(*build)(void), mlp_rule rule, double lr,
                              const mlp_dataset *train, mlp_mpi *comm)
{
    epoch_result r = {0, 0};
    mlp_model *m = build();
    mlp_optimizer *o = NULL;
    if (comm) {
        mlp_dist_ops ops;
        mlp_dist_ops_init(&ops);
        CHECK(mlp_mpi_ops(comm, &ops));
        CHECK(mlp_model_set_distributed(m, &ops));
    }
    CHECK(mlp_optimizer_create(&o, rule, m));
    CHECK(mlp_optimizer_set(o, MLP_OPTIM_LEARNING_RATE, lr));
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = 1;
    fo.batch_size = BATCH;
    fo.seed = 7;
    fo.on_epoch = on_epoch;
    fo.user = &r;
    CHECK(mlp_model_fit(m, o, train, NULL, &fo));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return r;
}

/* Rank 0 trains alone on `threads` threads; the others sleep. */
static epoch_result alone(mlp_model *(*build)(void), mlp_rule rule, double lr,
                          const mlp_dataset *train, int threads)
{
    epoch_result r = {0, 0};
    if (rank == 0) {
        CHECK(mlp_set_num_threads(threads));
        r = one_epoch(build, rule, lr, train, NULL);
        CHECK(mlp_set_num_threads(1));
    }
    idle_barrier();
    MPI_Bcast(&r, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    return r;
}

static void study(const char *name, mlp_model *(*build)(void), mlp_rule rule, double lr,
                  const mlp_dataset *train, mlp_mpi *comm, double a, double b)
{
    mlp_model *m = build();
    const int64_t floats = mlp_model_param_count(m);
    mlp_model_destroy(m);
    const int32_t n = mlp_dataset_size(train);
    const double steps = ceil((double)n / BATCH), bytes = 4.0 * (double)floats;

    epoch_result one = alone(build, rule, lr, train, 1);
    epoch_result threads = alone(build, rule, lr, train, size);
    CHECK(mlp_set_num_threads(1));
    epoch_result dist = one_epoch(build, rule, lr, train, comm);
    /* The slowest rank sets the pace; its wait is the most telling. */
    MPI_Allreduce(MPI_IN_PLACE, &dist, 2, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);

    const double ar = allreduce_seconds(floats);
    const double compute = one.seconds / steps; /* a step of batch 100, 1 core */
    const double model_ar = ring_seconds(size, bytes, a, b);
    if (rank != 0)
        return;
    printf("\n%s: %lld parameters (%.2f MB of gradients), %d samples, %.0f steps of "
           "%d\n",
           name, (long long)floats, bytes / 1e6, (int)n, steps, BATCH);
    printf("  1 rank x 1 thread   %8.3f s an epoch\n", one.seconds);
    printf("  1 rank x %d threads  %8.3f s  (%.2fx faster than 1 x 1)\n", size,
           threads.seconds, one.seconds / threads.seconds);
    printf(
        "  %d ranks x 1 thread  %8.3f s  (%.2fx faster than 1 x 1, %.2fx than 1 x %d); "
        "wait in collectives %.3f s an epoch, %.1f us a step\n",
        size, dist.seconds, one.seconds / dist.seconds, threads.seconds / dist.seconds,
        size, dist.wait, 1e6 * dist.wait / steps);
    printf("  cost model: step compute %.3f ms on one core; one all-reduce of the "
           "gradients %.3f ms measured, %.3f ms by the ring model\n",
           1e3 * compute, 1e3 * ar, 1e3 * model_ar);
    printf("  predicted %d-rank epoch %.3f s (no overlap) .. %.3f s (full overlap); "
           "measured %.3f s\n",
           size, steps * (compute / size + ar), steps * fmax(compute / size, ar),
           dist.seconds);

    /* Nodes like this one (both cores per node: the P-thread figure), no
     * overlap. Global batch 100 split between the nodes (the same training
     * as one node), and 100 per node (a global batch of 100 x nodes: more
     * samples a step, so the figure is samples per second against one
     * node's). */
    const double node = threads.seconds / steps;
    printf("  predicted for nodes like this one (%.3f ms a step of %d), no overlap, "
           "latency %.0f us:\n",
           1e3 * node, BATCH, 1e6 * NET_LATENCY);
    printf("    %-5s  %-27s  %-27s\n", "", "global batch 100", "batch 100 per node");
    printf("    %-5s  %13s %13s  %13s %13s\n", "nodes", "1 Gbit/s", "10 Gbit/s",
           "1 Gbit/s", "10 Gbit/s");
    const int nodes[3] = {2, 8, 64};
    const double links[2] = {125e6, 1250e6}; /* bytes per second */
    for (int i = 0; i < 3; i++) {
        printf("    %-5d", nodes[i]);
        for (int weak = 0; weak < 2; weak++)
            for (int k = 0; k < 2; k++) {
                double comm = ring_seconds(nodes[i], bytes, NET_LATENCY, links[k]);
                double step = (weak ? node : node / nodes[i]) + comm;
                double speedup = (weak ? nodes[i] : 1) * node / step;
                printf(" %s%6.2f ms %4.1fx", k == 0 ? " " : "", 1e3 * step, speedup);
            }
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    CHECK(mlp_set_num_threads(1));
    mlp_mpi *comm = NULL;
    CHECK(mlp_mpi_create(&comm, MPI_COMM_WORLD));

    const char *dir = getenv("MLPNET_DATA_DIR");
    mlp_dataset *train = NULL;
    if (dir && mlp_dataset_exists(dir, "emnist-bymerge47"))
        CHECK(mlp_dataset_open(&train, NULL, NULL, dir, "emnist-bymerge47",
                               MLP_DEFAULT_VALID_SIZE));
    else
        train = generated(100000);
    mlp_dataset *small = first_n(train, CONV_SAMPLES);

    /* The links' latency and bandwidth as the ring model sees them. */
    const int64_t big = 1 << 20;
    const double t_small = allreduce_seconds(1), t_big = allreduce_seconds(big);
    double a = 0, b = INFINITY;
    if (size > 1) {
        a = t_small / (2.0 * (size - 1));
        b = 2.0 * (size - 1) / size * 4.0 * (double)big /
            fmax(t_big - 2.0 * (size - 1) * a, 1e-9);
    }
    if (rank == 0) {
        printf("bench_mpi: %d ranks, data: %s\n", size,
               dir && mlp_dataset_exists(dir, "emnist-bymerge47")
                   ? "EMNIST bymerge47 train split"
                   : "generated images");
        printf("all-reduce on this machine: 1 float %.1f us, 4 MiB %.3f ms -> ring model "
               "latency %.1f us, bandwidth %.2f GB/s\n",
               1e6 * t_small, 1e3 * t_big, 1e6 * a, b / 1e9);
    }
    study("baseline MLP", baseline_mlp, MLP_RULE_SGD, 0.1, train, comm, a, b);
    study("ConvNet", convnet, MLP_RULE_ADAM, 1e-3, small, comm, a, b);

    mlp_dataset_destroy(small);
    mlp_dataset_destroy(train);
    mlp_mpi_destroy(comm);
    MPI_Finalize();
    return 0;
}
