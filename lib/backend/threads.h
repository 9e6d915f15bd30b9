/*
 * Private thread setting of the library: its own thread count, the OpenMP
 * loop macro built on it, and the OpenBLAS thread policy. Public calls:
 * mlp_set_num_threads and mlp_get_num_threads (include/mlpnet/status.h).
 */
#ifndef MLPNET_THREADS_H
#define MLPNET_THREADS_H

/* The library's own thread count (mlp_set_num_threads; 1 until set). It is
 * kept apart from OpenMP's global setting so that the library neither
 * changes nor inherits the thread count of a caller's own OpenMP code. */
int mlp__threads(void);

/* Make OpenBLAS single-threaded in OpenMP builds (see threads.c). */
void mlp__threads_init(void);

/* Run the next `for` loop on the OpenMP threads when `cond` holds (a size
 * test, so small loops stay serial), in builds with OpenMP; nothing
 * otherwise. Iterations must be independent: results never depend on the
 * thread count. */
#ifdef _OPENMP
#define MLP__OMP(x) _Pragma(#x)
#define MLP_PARALLEL_FOR(cond)                                                           \
      MLP__OMP(omp parallel for schedule(static) num_threads(mlp__threads())    \
                   if ((cond) && mlp__threads() > 1))
#else
#define MLP_PARALLEL_FOR(cond)
#endif

/* Element counts from which a pass is worth splitting across threads. */
#define MLP_PAR_MIN 65536

/* Element counts from which a pass is worth splitting across the pool's
 * threads (pool.h; its workers stay warm between passes, so splitting pays
 * off far sooner than for an OpenMP region). */
#define MLP_POOL_MIN 4096

/* Multiply-adds from which mlp__sgemm splits a product across the pool. */
#define MLP_GEMM_SPLIT_MIN 2.0e5

#endif /* MLPNET_THREADS_H */
