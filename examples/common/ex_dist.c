/*
 * --distributed for the mlpnet command and the example programs (ex_dist.h).
 * Without MLPNET_HAVE_MPI every function is a stub of a single process.
 */
#define _POSIX_C_SOURCE 200809L

#include "ex_dist.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exd_exit(int status, const char *msg)
{
    fflush(stdout);
    if (exd_active())
        exd_fail(status, msg);
    fprintf(stderr, "%s\n", msg);
    exit(status);
}

int exd_requested(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--distributed") == 0)
            return 1;
    return 0;
}

#ifdef MLPNET_HAVE_MPI

#include <mlpnet/mpi.h>

/* The longest message a rank hands to rank 0 (longer ones are cut). */
#define MSG_CAP 2048

static mlp_mpi *comm;
static int rank, size = 1, active;

int exd_available(void)
{
    return 1;
}

static void finalize_at_exit(void)
{
    int done = 0;
    MPI_Finalized(&done);
    if (!done)
        MPI_Finalize();
}

int exd_start(int *argc, char ***argv, char *err, size_t cap)
{
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        snprintf(err, cap, "MPI_Init_thread failed");
        return -1;
    }
    atexit(finalize_at_exit);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mlp_status st = mlp_mpi_create(&comm, MPI_COMM_WORLD);
    if (st != MLP_STATUS_OK) {
        snprintf(err, cap, "creating the MPI communicator: %s", mlp_status_str(st));
        return -1;
    }
    active = 1;
    /* Only rank 0 prints: the others' standard output is discarded (their
     * errors still reach rank 0 through exd_agree). */
    if (rank != 0 && !freopen("/dev/null", "w", stdout)) {
        snprintf(err, cap, "rank %d: cannot silence its standard output", rank);
        return -1;
    }
    return 0;
}

int exd_active(void)
{
    return active;
}

int exd_rank(void)
{
    return active ? rank : 0;
}

int exd_size(void)
{
    return active ? size : 1;
}

int exd_writes(void)
{
    return !active || rank == 0;
}

mlp_status exd_attach(mlp_model *m)
{
    if (!active)
        return MLP_STATUS_OK;
    mlp_dist_ops ops;
    mlp_status st = mlp_dist_ops_init(&ops);
    if (st == MLP_STATUS_OK)
        st = mlp_mpi_ops(comm, &ops);
    if (st == MLP_STATUS_OK)
        st = mlp_model_set_distributed(m, &ops);
    return st;
}

double exd_wait_seconds(void)
{
    return active ? mlp_mpi_wait_seconds(comm) : 0.0;
}

int exd_sum_i64(int64_t *v, int64_t n)
{
    for (int64_t at = 0; active && at < n; at += INT_MAX) {
        const int cnt = n - at < INT_MAX ? (int)(n - at) : INT_MAX;
        if (MPI_Allreduce(MPI_IN_PLACE, v + at, cnt, MPI_INT64_T, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

void exd_agree(int status, const char *msg)
{
    if (!active)
        return;
    int worst = 0;
    MPI_Allreduce(&status, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst == 0)
        return;
    char mine[MSG_CAP] = "";
    if (status != 0 && msg)
        snprintf(mine, sizeof mine, "%s", msg);
    char *all = rank == 0 ? calloc((size_t)size, MSG_CAP) : NULL;
    MPI_Gather(mine, MSG_CAP, MPI_CHAR, all, MSG_CAP, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        fflush(stdout);
        for (int r = 0; all && r < size; r++) {
            const char *m = all + (size_t)r * MSG_CAP;
            int seen = !*m;
            for (int q = 0; q < r && !seen; q++)
                seen = strcmp(m, all + (size_t)q * MSG_CAP) == 0;
            if (seen)
                continue;
            if (r > 0)
                fprintf(stderr, "rank %d: ", r);
            fprintf(stderr, "%s\n", m);
        }
        if (!all)
            fprintf(stderr, "%s\n", mine[0] ? mine : "a rank failed (out of memory)");
        free(all);
    }
    fflush(stderr);
    MPI_Finalize();
    exit(worst);
}

void exd_same(const char *prog, const char *what, int64_t value)
{
    if (!active)
        return;
    int64_t most[2] = {value, -value}; /* the largest and minus the smallest */
    MPI_Allreduce(MPI_IN_PLACE, most, 2, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (most[0] == -most[1])
        return;
    char msg[512];
    snprintf(msg, sizeof msg,
             "%s: the ranks disagree on %s (from %lld to %lld): every rank must read "
             "the same data and build the same model",
             prog, what, (long long)-most[1], (long long)most[0]);
    exd_fail(1, msg);
}

void exd_fail(int status, const char *msg)
{
    exd_agree(status > 0 ? status : 1, msg);
    exit(status > 0 ? status : 1); /* not reached while active */
}

void exd_finish(void)
{
    if (!active)
        return;
    exd_agree(0, NULL);
    mlp_mpi_destroy(comm);
    comm = NULL;
    active = 0;
    MPI_Finalize();
}

#else /* !MLPNET_HAVE_MPI */

int exd_available(void)
{
    return 0;
}

int exd_start(int *argc, char ***argv, char *err, size_t cap)
{
    (void)argc;
    (void)argv;
    snprintf(err, cap, "--distributed: this program was built without MPI");
    return -1;
}

int exd_active(void)
{
    return 0;
}

int exd_rank(void)
{
    return 0;
}

int exd_size(void)
{
    return 1;
}

int exd_writes(void)
{
    return 1;
}

mlp_status exd_attach(mlp_model *m)
{
    (void)m;
    return MLP_STATUS_OK;
}

double exd_wait_seconds(void)
{
    return 0.0;
}

int exd_sum_i64(int64_t *v, int64_t n)
{
    (void)v;
    (void)n;
    return 0;
}

void exd_agree(int status, const char *msg)
{
    (void)status;
    (void)msg;
}

void exd_same(const char *prog, const char *what, int64_t value)
{
    (void)prog;
    (void)what;
    (void)value;
}

void exd_fail(int status, const char *msg)
{
    if (msg)
        fprintf(stderr, "%s\n", msg);
    exit(status > 0 ? status : 1);
}

void exd_finish(void)
{
}

#endif
