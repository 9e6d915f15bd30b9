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

#endif /* MLPNET_BENCH_UTIL_H */
