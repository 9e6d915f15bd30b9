/*
 * What the library asks of the CPU at run time, beyond the vector clones'
 * dispatch (core.h): whether it has PREFETCHW.
 */
#include <stdatomic.h>

#include "core.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

/* -1 until the first call asks CPUID, which a virtual machine may trap
 * (microseconds): then 0 or 1. Threads that ask at once store the same
 * value. */
static _Atomic int prefetchw = -1;

int mlp__cpu_prefetchw(void)
{
    int v = atomic_load_explicit(&prefetchw, memory_order_relaxed);
    if (v >= 0)
        return v;
    v = 0;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    unsigned a, b, c, d;
    if (__get_cpuid(0x80000001u, &a, &b, &c, &d))
        v = (c & bit_PRFCHW) != 0;
#endif
    atomic_store_explicit(&prefetchw, v, memory_order_relaxed);
    return v;
}
