/*
 * The MPI implementation of the gradient-reduction hook (mlpnet/mpi.h).
 * A library of its own, on the public API of libmlpnet only: every MPI
 * call goes through a duplicate communicator with MPI_ERRORS_RETURN, and a
 * failure becomes MLP_STATUS_IO with MPI's error string, kept here until
 * libmlpnet asks for it (error_message). A counter lets tests make the
 * n-th growth of the request array fail (mpi_hook.h).
 */
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "mlpnet/mpi.h"
#include "mpi_hook.h"

struct mlp_mpi {
    MPI_Comm comm;
    int rank, size;
    MPI_Request *req; /* one per bucket of a step */
    int32_t n_req;
    double wait_seconds;
    char msg[MPI_MAX_ERROR_STRING + 64];
};

static atomic_long grow_fail_countdown; /* 0: never fail */
static atomic_long grow_failures;

void mlp__mpi_grow_fail_after(long n)
{
    atomic_store(&grow_fail_countdown, n > 0 ? n : 0);
}

long mlp__mpi_grow_failures(void)
{
    return atomic_load(&grow_failures);
}

/* The request array grown to n slots (realloc), or NULL when there is no
 * memory or the test hook says so; counts toward the injected failures. */
static MPI_Request *grow_requests(MPI_Request *req, int32_t n)
{
    long left = atomic_load(&grow_fail_countdown);
    if (left > 0 && atomic_fetch_sub(&grow_fail_countdown, 1) == 1) {
        atomic_fetch_add(&grow_failures, 1);
        return NULL;
    }
    return realloc(req, (size_t)n * sizeof *req);
}

/* A failed MPI call: its error string, kept for error_message. */
static mlp_status mpi_fail(mlp_mpi *c, int rc, const char *call)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "MPI error %d", rc);
    snprintf(c->msg, sizeof c->msg, "%s: %s", call, text);
    return MLP_STATUS_IO;
}

static mlp_status mpi_broadcast(void *user, float *data, int64_t n)
{
    mlp_mpi *c = user;
    /* MPI counts are int: send longer buffers in pieces. */
    for (int64_t off = 0; off < n; off += INT_MAX) {
        int count = (int)(n - off < INT_MAX ? n - off : INT_MAX);
        int rc = MPI_Bcast(data + off, count, MPI_FLOAT, 0, c->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(c, rc, "MPI_Bcast");
    }
    return MLP_STATUS_OK;
}

/*
 * A bucket's request lives in c->req[bucket] from its start to its wait.
 * libmlpnet also waits for a bucket whose start failed (include/mlpnet/
 * dist.h), so every slot is always meaningful: a running request, or
 * MPI_REQUEST_NULL when there is nothing to wait for (a new slot, a failed
 * start, a completed wait). When the array cannot grow, the bucket is
 * summed at once through a request of its own, so that this rank still
 * takes part in the collective the other ranks started (a rank that left
 * it out would leave them waiting).
 */
static mlp_status mpi_reduce_start(void *user, int32_t bucket, int32_t n_buckets,
                                   float *data, int64_t n)
{
    mlp_mpi *c = user;
    if (n_buckets > c->n_req) {
        MPI_Request *r = grow_requests(c->req, n_buckets);
        if (r) {
            for (int32_t b = c->n_req; b < n_buckets; b++)
                r[b] = MPI_REQUEST_NULL;
            c->req = r;
            c->n_req = n_buckets;
        }
    }
    MPI_Request own = MPI_REQUEST_NULL;
    MPI_Request *req = bucket < c->n_req ? &c->req[bucket] : &own;
    if (n > INT_MAX) {
        snprintf(c->msg, sizeof c->msg,
                 "a gradient bucket of %lld floats is beyond MPI's int counts",
                 (long long)n);
        return MLP_STATUS_UNSUPPORTED;
    }
    int rc = MPI_Iallreduce(MPI_IN_PLACE, data, (int)n, MPI_FLOAT, MPI_SUM, c->comm, req);
    if (rc != MPI_SUCCESS) {
        *req = MPI_REQUEST_NULL; /* MPI may have left anything there */
        return mpi_fail(c, rc, "MPI_Iallreduce");
    }
    if (req == &own) {
        double t0 = MPI_Wtime();
        rc = MPI_Wait(&own, MPI_STATUS_IGNORE);
        c->wait_seconds += MPI_Wtime() - t0;
        if (rc != MPI_SUCCESS)
            return mpi_fail(c, rc, "MPI_Wait");
    }
    return MLP_STATUS_OK;
}

/* Nothing to wait for (a start that failed, or one that finished the sum
 * itself): return at once, without MPI. */
static mlp_status mpi_reduce_wait(void *user, int32_t bucket)
{
    mlp_mpi *c = user;
    if (bucket < 0 || bucket >= c->n_req || c->req[bucket] == MPI_REQUEST_NULL)
        return MLP_STATUS_OK;
    double t0 = MPI_Wtime();
    int rc = MPI_Wait(&c->req[bucket], MPI_STATUS_IGNORE);
    c->wait_seconds += MPI_Wtime() - t0;
    if (rc != MPI_SUCCESS)
        return mpi_fail(c, rc, "MPI_Wait");
    return MLP_STATUS_OK;
}

static mlp_status mpi_sum(void *user, double *data, int64_t n)
{
    mlp_mpi *c = user;
    for (int64_t off = 0; off < n; off += INT_MAX) {
        int count = (int)(n - off < INT_MAX ? n - off : INT_MAX);
        int rc =
            MPI_Allreduce(MPI_IN_PLACE, data + off, count, MPI_DOUBLE, MPI_SUM, c->comm);
        if (rc != MPI_SUCCESS)
            return mpi_fail(c, rc, "MPI_Allreduce");
    }
    return MLP_STATUS_OK;
}

static const char *mpi_error_message(void *user)
{
    const mlp_mpi *c = user;
    return c->msg[0] ? c->msg : NULL;
}

mlp_status mlp_mpi_create(mlp_mpi **out, MPI_Comm comm)
{
    if (!out)
        return MLP_STATUS_INVALID_ARG;
    *out = NULL;
    /* MPI would report it on MPI_COMM_WORLD, whose handler aborts. */
    if (comm == MPI_COMM_NULL)
        return MLP_STATUS_INVALID_ARG;
    /* MPI_Initialized stays true after MPI_Finalize, when any other MPI
     * call is erroneous (Open MPI aborts the process). */
    int init = 0, finalized = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&finalized);
    if (!init || finalized)
        return MLP_STATUS_BAD_STATE;
    mlp_mpi *c = calloc(1, sizeof *c);
    if (!c)
        return MLP_STATUS_NO_MEMORY;
    /* Errors on the caller's communicator still follow its own handler;
     * the duplicate returns them. */
    if (MPI_Comm_dup(comm, &c->comm) != MPI_SUCCESS) {
        free(c);
        return MLP_STATUS_IO;
    }
    if (MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        MPI_Comm_rank(c->comm, &c->rank) != MPI_SUCCESS ||
        MPI_Comm_size(c->comm, &c->size) != MPI_SUCCESS) {
        MPI_Comm_free(&c->comm);
        free(c);
        return MLP_STATUS_IO;
    }
    *out = c;
    return MLP_STATUS_OK;
}

void mlp_mpi_destroy(mlp_mpi *c)
{
    if (!c)
        return;
    /* After MPI_Finalize the duplicate is gone with MPI, and freeing it
     * would be erroneous (Open MPI aborts): only the memory is left. */
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized)
        MPI_Comm_free(&c->comm);
    free(c->req);
    free(c);
}

/* The fields mlp_mpi_ops writes end with error_message: a struct of this
 * size or more takes them (a later header's larger struct too, whose
 * fields after them are left to the caller). */
#define OPS_WRITTEN                                                                      \
    (offsetof(mlp_dist_ops, error_message) + sizeof(((mlp_dist_ops *)0)->error_message))

mlp_status mlp_mpi_ops(mlp_mpi *c, mlp_dist_ops *ops)
{
    if (!c || !ops || ops->struct_size < OPS_WRITTEN)
        return MLP_STATUS_INVALID_ARG;
    ops->user = c;
    ops->rank = c->rank;
    ops->size = c->size;
    ops->broadcast = mpi_broadcast;
    ops->reduce_start = mpi_reduce_start;
    ops->reduce_wait = mpi_reduce_wait;
    ops->sum = mpi_sum;
    ops->error_message = mpi_error_message;
    return MLP_STATUS_OK;
}

double mlp_mpi_wait_seconds(const mlp_mpi *c)
{
    return c ? c->wait_seconds : 0.0;
}
