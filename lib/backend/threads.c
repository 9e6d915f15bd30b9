/*
 * The library's thread setting: its own count, which mlp__sgemm, the
 * element passes and the optimizer follow, and the OpenBLAS policy that
 * goes with it (gemm.c explains why the library keeps one pool); and the
 * floating-point mode its threads compute in (mlp_set_flush_denormals).
 */
#include "threads.h"
#include "core/core.h"

#include <stdatomic.h>
#include <unistd.h>

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>
#endif

#if defined(__x86_64__)
#include <xmmintrin.h>
#define HAVE_FLUSH 1
#else
#define HAVE_FLUSH 0
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

/* The most threads the library takes: a count far past the cores only
 * costs (each idle worker spins before it sleeps), and one thread per part
 * let a count of 100000 start 25001 threads for a batch of 200000 rows. */
enum { MAX_THREADS = 1024 };

mlp_status mlp_set_num_threads(int n)
{
    lib_threads = n > MAX_THREADS ? MAX_THREADS : n > 0 ? n : online_cores();
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

/* ---- subnormal floats ---------------------------------------------------- */

static _Atomic int flush_mode; /* mlp_set_flush_denormals: 0 or 1 */

/* The mode this thread was last given, -1 before the first: a thread
 * starts with its creator's mode, which may be either. */
static _Thread_local int thread_mode = -1;

#if HAVE_FLUSH
/* MXCSR's flush-to-zero (bit 15: results) and denormals-are-zero (bit 6:
 * operands) bits. */
#define FLUSH_BITS 0x8040u

static void apply_mode(int on)
{
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(on ? csr | FLUSH_BITS : csr & ~FLUSH_BITS);
    thread_mode = on;
}
#else
static void apply_mode(int on)
{
    thread_mode = on;
}
#endif

void mlp__fp_mode_sync(void)
{
    const int want = atomic_load_explicit(&flush_mode, memory_order_relaxed);
    if (want != thread_mode)
        apply_mode(want);
}

mlp_status mlp_set_flush_denormals(int on)
{
    on = on != 0;
    if (on && !HAVE_FLUSH)
        return mlp__error(MLP_STATUS_UNSUPPORTED,
                          "mlp_set_flush_denormals: this processor or build has no "
                          "mode that flushes subnormal floats");
    atomic_store(&flush_mode, on);
    apply_mode(on);
    return MLP_STATUS_OK;
}

int mlp_get_flush_denormals(void)
{
    return atomic_load(&flush_mode);
}
