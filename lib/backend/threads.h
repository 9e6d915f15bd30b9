/*
 * Private thread setting of the library: its own thread count, which the
 * thread pool (pool.h) follows, the OpenBLAS thread policy, and the
 * floating-point mode of the pool's threads. Public calls:
 * mlp_set_num_threads, mlp_get_num_threads, mlp_set_flush_denormals and
 * mlp_get_flush_denormals (include/mlpnet/status.h).
 */
#ifndef MLPNET_THREADS_H
#define MLPNET_THREADS_H

/* The library's own thread count (mlp_set_num_threads; 1 until set). It is
 * the library's alone: it neither changes nor follows the thread count of
 * a caller's OpenMP code or of OpenBLAS. */
int mlp__threads(void);

/* Make OpenBLAS single-threaded: the pool is the only one (see threads.c). */
void mlp__threads_init(void);

/* Give the calling thread the floating-point mode that
 * mlp_set_flush_denormals asks for, unless it has it already: the pool's
 * workers call it before each part they run. */
void mlp__fp_mode_sync(void);

/* Element counts from which a pass is worth splitting across the pool's
 * threads (pool.h; its workers stay warm between passes, so splitting pays
 * off from a few thousand elements). */
#define MLP_POOL_MIN 4096

/* Multiply-adds from which mlp__sgemm splits a product across the pool. */
#define MLP_GEMM_SPLIT_MIN 2.0e5

#endif /* MLPNET_THREADS_H */
