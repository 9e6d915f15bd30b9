/**
 * @file
 * libmlpnet-mpi: data-parallel training on MPI.
 *
 * The MPI implementation of the gradient-reduction hook of `mlpnet/dist.h`,
 * in its own library (`pkg-config mlpnet-mpi`, `-lmlpnet-mpi`), so that
 * programs linking only `-lmlpnet` never link MPI. Built when Meson finds
 * MPI (option `mpi`, auto).
 *
 * ```c
 * MPI_Init(&argc, &argv);
 * mlp_mpi *comm = NULL;
 * mlp_mpi_create(&comm, MPI_COMM_WORLD);
 * mlp_dist_ops ops;
 * mlp_dist_ops_init(&ops);
 * mlp_mpi_ops(comm, &ops);
 * mlp_model_set_distributed(model, &ops);   // broadcasts rank 0's model
 * mlp_model_fit(model, opt, train, valid, &fit_opts);
 * mlp_model_set_distributed(model, NULL);
 * mlp_mpi_destroy(comm);
 * MPI_Finalize();
 * ```
 *
 * Every rank runs the same program on the same data files; only rank 0
 * should print and write files. MPI errors come back as statuses: the
 * library works on its own duplicate of the communicator, whose error
 * handler is MPI_ERRORS_RETURN, and a failed MPI call while a model uses
 * the hook becomes MLP_STATUS_IO with MPI's error string in the message
 * (mlp_last_error()). The calls of this header itself return their status
 * alone: they leave mlp_last_error() as it was (this library reaches
 * libmlpnet's messages only through the hook), so read the status's
 * meaning from the lists below (mlp_status_str()). Gradient buckets
 * are summed with MPI_Iallreduce, started while backward runs and waited
 * for before the optimizer step (a bucket whose request finds no memory is
 * waited for at once, so the rank still takes part in the sum).
 */
#ifndef MLPNET_MPI_H
#define MLPNET_MPI_H

#include <mpi.h>

#include "mlpnet/dist.h"

#if defined(__GNUC__) || defined(__clang__)
#define MLP_MPI_API __attribute__((visibility("default")))
#else
#define MLP_MPI_API
#endif

MLP_EXTERN_C_BEGIN

/** Opaque: a duplicate of an MPI communicator and the state of its
 *  non-blocking reductions. */
typedef struct mlp_mpi mlp_mpi;

/**
 * Duplicate `comm` (collective over it) and set MPI_ERRORS_RETURN on the
 * duplicate. MPI must be initialised; a program that trains with threads
 * inside each rank needs no more than MPI_THREAD_FUNNELED, since the
 * library makes every MPI call from the thread that calls it.
 * @param out   new communicator, NULL on failure (owned: mlp_mpi_destroy)
 * @param comm  the ranks that train together, e.g. MPI_COMM_WORLD (borrowed
 *              for the call: the handle keeps a duplicate of its own, so
 *              the caller may free `comm` afterwards)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL out, MPI_COMM_NULL),
 *         MLP_STATUS_BAD_STATE (MPI not initialised, or already finalised),
 *         MLP_STATUS_IO (MPI_Comm_dup or a query of the duplicate failed)
 *         or MLP_STATUS_NO_MEMORY; no message (see the top of this header)
 */
MLP_MPI_API mlp_status mlp_mpi_create(mlp_mpi **out, MPI_Comm comm);

/**
 * Free the duplicate communicator (collective). NULL is a no-op. Models
 * using the hook must have it removed first (mlp_model_set_distributed with
 * NULL) or be destroyed. Call it before MPI_Finalize; after, when no MPI
 * call is allowed, it frees only the handle's memory (the communicator
 * ended with MPI).
 * @param c  the communicator (consumed); may be NULL
 */
MLP_MPI_API void mlp_mpi_destroy(mlp_mpi *c);

/**
 * Fill the hook: `user`, `rank`, `size` and the callbacks. The other fields
 * (`bucket_floats`, and any a later release appends) are left as the
 * caller set them. `size` is the communicator's:
 * mlp_model_set_distributed() takes at most 2^17 ranks (dist.h).
 * @param c    the communicator (borrowed: must outlive every model using the
 *             hook)
 * @param ops  initialised with mlp_dist_ops_init() (borrowed for the call);
 *             a struct from this release's header or a later one
 * @return MLP_STATUS_OK or MLP_STATUS_INVALID_ARG (NULL `c` or `ops`, or an
 *         `ops->struct_size` below this release's mlp_dist_ops: a struct
 *         not set up by mlp_dist_ops_init()); no message (see the top of
 *         this header)
 */
MLP_MPI_API mlp_status mlp_mpi_ops(mlp_mpi *c, mlp_dist_ops *ops);

/**
 * Seconds spent waiting for gradient buckets since the communicator was
 * made: the communication the backward pass did not hide.
 * @param c  the communicator (borrowed for the call); NULL gives 0
 * @return the seconds
 */
MLP_MPI_API double mlp_mpi_wait_seconds(const mlp_mpi *c);

MLP_EXTERN_C_END

#endif /* MLPNET_MPI_H */
