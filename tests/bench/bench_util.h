/* What the benchmarks share: a call that must succeed. Each benchmark
 * defines BENCH_NAME (its program name, for messages) before including it. */
#ifndef MLPNET_BENCH_UTIL_H
#define MLPNET_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mlpnet/mlpnet.h"

/* Run `call`; on any status but OK print it with the library's message and
 * exit 1 (a benchmark that cannot run its workload measures nothing). */
#define CHECK(call)                                                                      \
    do {                                                                                 \
        mlp_status st_ = (call);                                                         \
        if (st_ != MLP_STATUS_OK) {                                                      \
            fprintf(stderr, "%s: %s: %s: %s\n", BENCH_NAME, #call, mlp_status_str(st_),  \
                    mlp_last_error());                                                   \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

static inline int bench_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of n >= 1 values (sorts them in place). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return 0.5 * (v[(n - 1) / 2] + v[n / 2]);
}

/* The benchmarks' clock, in seconds: wall time, or with BENCH_CPU_CLOCK set
 * in the environment the process's CPU time. At 1 thread on a loaded
 * (shared, virtual) machine, CPU time leaves out the time the process
 * waited for a core; at 2 threads it would count a waiting thread's
 * spinning, so use it at 1 thread only. */
static inline int bench_cpu_clock(void)
{
    static int cpu = -1;
    if (cpu < 0)
        cpu = getenv("BENCH_CPU_CLOCK") != NULL;
    return cpu;
}

static inline double bench_now(void)
{
    struct timespec t;
    clock_gettime(bench_cpu_clock() ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* "CPU" or "wall", for the benchmarks' first line. */
static inline const char *bench_clock_name(void)
{
    return bench_cpu_clock() ? "CPU" : "wall";
}

/* n floats that hold data, small values in [-0.5, 0.5), written: the
 * operands of a reference product. A buffer from calloc that is only read
 * maps every page to the kernel's one zero page, and on some processors
 * (AMD's, whose first-level cache predicts by virtual address) reading
 * many virtual pages that alias one physical page runs ten times slower
 * than reading memory: a 64 x 19600 x 288 product took 76 ms there
 * against 7.6 ms on written memory. On others the aliasing makes the
 * reads cache hits. Either way the reference would not be what a layer
 * meets. Exits on failure, as CHECK does. */
static inline float *bench_floats(size_t n)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (!p) {
        fprintf(stderr, "%s: out of memory for %zu floats\n", BENCH_NAME, n);
        exit(1);
    }
    unsigned s = 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = (float)(s >> 8) * (1.0f / 16777216.0f) - 0.5f;
    }
    return p;
}

#endif /* MLPNET_BENCH_UTIL_H */
