/*
 * --distributed for the mlpnet command and the example programs: data-parallel
 * training on MPI through libmlpnet-mpi (mlpnet/mpi.h), started under
 * `mpirun -np P PROGRAM --distributed ...` or `srun -n P ...`.
 *
 * Every rank runs the whole program on the same data; the library shares the
 * batches, the gradients and the evaluations (mlpnet/dist.h). This file adds
 * what a program needs around it:
 *
 * - start: MPI_Init_thread (MPI_THREAD_FUNNELED: the library calls MPI from
 *   the calling thread only) and the libmlpnet-mpi communicator, made at once
 *   so that nothing can fail on one rank before this collective call;
 * - silence: stdout of every rank but 0 goes to /dev/null, and exd_writes()
 *   tells whether this process writes files (rank 0, or not distributed);
 * - failures: exd_agree() is the program's own collective check. A rank that
 *   fails calls exd_fail(); the others meet it at their next exd_agree(),
 *   which every program calls after each step that can fail on some ranks
 *   only (writing a file on rank 0, reading data) and before the library's
 *   next collective call. Then rank 0 prints every distinct message (those
 *   of other ranks prefixed with their rank), every rank calls MPI_Finalize
 *   and exits with the largest status, so no rank is left waiting.
 *
 * Built with MPI when meson defines MLPNET_HAVE_MPI (libmlpnet-mpi found);
 * otherwise exd_available() is 0 and the programs refuse --distributed.
 */
#ifndef EX_DIST_H
#define EX_DIST_H

#include <stdint.h>

#include <mlpnet/mlpnet.h>

/** 1 when this program was built with MPI (libmlpnet-mpi). */
int exd_available(void);

/** 1 when argv[1..argc) holds "--distributed" (looked for before parsing,
 *  since MPI must start before anything can fail on one rank only). */
int exd_requested(int argc, char **argv);

/**
 * Start MPI and the communicator. Call at most once, first thing, on every
 * rank. Returns 0, or -1 with a message in `err` (MPI could not start; the
 * process then exits without training). Registers an atexit handler that
 * finalizes MPI on paths that end with exit(0) (--help).
 */
int exd_start(int *argc, char ***argv, char *err, size_t cap);

/** 1 after exd_start succeeded. */
int exd_active(void);
/** This process's rank and the number of ranks (0 and 1 when not active). */
int exd_rank(void);
int exd_size(void);
/** 1 when this process prints and writes files: rank 0, or not distributed. */
int exd_writes(void);

/** Give `m` the MPI hook (mlp_model_set_distributed: broadcasts rank 0's
 *  parameters; collective). MLP_STATUS_OK and nothing done when not active. */
mlp_status exd_attach(mlp_model *m);

/** Sum `v[0..n)` across the ranks, in place (collective; call it after an
 *  exd_agree). 0, or -1 when MPI failed. Nothing to do when not active. */
int exd_sum_i64(int64_t *v, int64_t n);

/** Seconds waited for gradient buckets so far (0 when not active). */
double exd_wait_seconds(void);

/**
 * The collective check (a no-op when not active). Every rank passes its
 * status: 0, or the exit status it failed with and its message (`msg`, the
 * whole text of its error without the trailing newline; may hold newlines).
 * When every rank passes 0 it returns. Otherwise rank 0 prints on stderr
 * every distinct message ("PROG: " is part of `msg`; a message of rank r > 0
 * that differs from rank 0's is printed after "rank r: "), and every rank
 * finalizes MPI and exits with the largest status.
 */
void exd_agree(int status, const char *msg);

/**
 * Collective, after an exd_agree: when the ranks passed different `value`s
 * (a model or dataset size: ranks that read different data would otherwise
 * run different collectives and hang), every rank fails with "PROG: the
 * ranks disagree on WHAT (from MIN to MAX): ...". A no-op when not active.
 */
void exd_same(const char *prog, const char *what, int64_t value);

/** exd_agree with a failure: never returns. */
_Noreturn void exd_fail(int status, const char *msg);

/** The end of a program that failed: flush stdout, then exd_fail when
 *  active, else print `msg` and a newline on stderr and exit with `status`. */
_Noreturn void exd_exit(int status, const char *msg);

/** End of a successful run: exd_agree(0), free the communicator, finalize
 *  MPI (every rank). A no-op when not active. */
void exd_finish(void);

#endif /* EX_DIST_H */
