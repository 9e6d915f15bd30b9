/*
 * The library's thread setting: its own count, which mlp__sgemm, the
 * element passes and the optimizer follow, and the OpenBLAS policy that
 * goes with it (gemm.c explains why OpenMP builds keep one pool).
 */
#include "threads.h"
#include "core/core.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>
#endif

static _Atomic int lib_threads = 1;
static _Atomic int threads_chosen; /* mlp_set_num_threads was called */

int mlp__threads(void)
{
    return lib_threads;
}

mlp_status mlp_set_num_threads(int n)
{
    threads_chosen = 1;
#if !defined(MLPNET_HAVE_OPENBLAS) && !defined(_OPENMP)
    if (n > 1)
        return mlp__error(MLP_STATUS_UNSUPPORTED,
                          "mlp_set_num_threads: this build has neither OpenBLAS nor "
                          "OpenMP; only 1 thread");
    lib_threads = 1;
#elif defined(_OPENMP)
    lib_threads = n > 0 ? n : omp_get_num_procs();
#ifdef MLPNET_HAVE_OPENBLAS
    openblas_set_num_threads(1);
#endif
#else
    openblas_set_num_threads(n > 0 ? n : 0);
    lib_threads = openblas_get_num_threads();
#endif
    return MLP_STATUS_OK;
}

int mlp_get_num_threads(void)
{
    return lib_threads;
}

void mlp__threads_init(void)
{
#ifdef MLPNET_HAVE_OPENBLAS
    /* OpenMP builds: one pool, ours, so OpenBLAS always runs single-threaded.
     * Otherwise OpenBLAS is the pool, and it too starts at 1 thread until
     * the caller chooses. Cheap and idempotent: every model creation does it. */
#ifdef _OPENMP
    const int want = 1;
#else
    const int want = threads_chosen ? lib_threads : 1;
#endif
    if (openblas_get_num_threads() != want)
        openblas_set_num_threads(want);
#endif
}
