/* What the benchmarks share: a call that must succeed. Each benchmark
 * defines BENCH_NAME (its program name, for messages) before including it. */
#ifndef MLPNET_BENCH_UTIL_H
#define MLPNET_BENCH_UTIL_H

#include <stdio.h>
#include <stdlib.h>

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

#endif /* MLPNET_BENCH_UTIL_H */
