/*
 * The library's thread setting: its own count, which mlp__sgemm, the
 * element passes and the optimizer follow, and the OpenBLAS policy that
 * goes with it (gemm.c explains why the library keeps one pool).
 */
#include "threads.h"
#include "core/core.h"

#include <unistd.h>

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>
#endif

static _Atomic int lib_threads = 1;

int mlp__threads(void)
{
    return lib_threads;
}

/* The cores this process may run on (at least 1). */
static int online_cores(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 && c < 4096 ? (int)c : 1;
}

mlp_status mlp_set_num_threads(int n)
{
    lib_threads = n > 0 ? n : online_cores();
#ifdef MLPNET_HAVE_OPENBLAS
    openblas_set_num_threads(1);
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
    /* One pool, ours (pool.h), so OpenBLAS always runs single-threaded.
     * Cheap and idempotent: every model creation does it. */
    if (openblas_get_num_threads() != 1)
        openblas_set_num_threads(1);
#endif
}
