/*
 * Private to libmlpnet-mpi and its tests: a failure-injection hook, as
 * core.h's allocation counter is for libmlpnet. The shared library hides
 * it (only the functions of mlpnet/mpi.h are exported); the mpi tests link
 * the library's objects statically to reach it.
 */
#ifndef MLPNET_MPI_HOOK_H
#define MLPNET_MPI_HOOK_H

/* Test hook: the n-th growth of a communicator's request array from now
 * fails (n >= 1), as when realloc finds no memory; 0 disables. */
void mlp__mpi_grow_fail_after(long n);
/* The growths the hook has made fail so far (that a test's did happen). */
long mlp__mpi_grow_failures(void);

#endif /* MLPNET_MPI_HOOK_H */
