/* What the baseline-MLP benchmarks share (define BENCH_NAME first): the
 * network, 784 -> 3 x (dense 100 + ELU) -> dense 47, and its training data. */
#ifndef MLPNET_BENCH_BASELINE_H
#define MLPNET_BENCH_BASELINE_H

#include <stdlib.h>

#include "bench_util.h"
#include "mlpnet/mlpnet.h"

enum { BASE_IN = 784, BASE_HID = 100, BASE_OUT = 47, BASE_DEPTH = 3 };

/* The baseline network, untrained (owned by the caller). */
static inline mlp_model *bench_baseline_model(void)
{
    mlp_model *m = NULL;
    CHECK(mlp_model_create(&m, 1, (const int32_t[]){BASE_IN}, 1));
    for (int i = 0; i < BASE_DEPTH; i++) {
        mlp_layer *l;
        CHECK(mlp_layer_create_dense(&l, BASE_HID));
        CHECK(mlp_model_add(m, l));
        CHECK(mlp_layer_create_elu(&l, 1.0f));
        CHECK(mlp_model_add(m, l));
    }
    mlp_layer *l;
    CHECK(mlp_layer_create_dense(&l, BASE_OUT));
    CHECK(mlp_model_add(m, l));
    return m;
}

/* EMNIST's training split when MLPNET_DATA_DIR holds it, otherwise 100,000
 * generated images; *what says which (owned by the caller). */
static inline mlp_dataset *bench_baseline_data(const char **what)
{
    const char *dir = getenv("MLPNET_DATA_DIR");
    mlp_dataset *train = NULL;
    if (dir && mlp_dataset_exists(dir, "emnist-bymerge47")) {
        CHECK(mlp_dataset_open(&train, NULL, NULL, dir, "emnist-bymerge47",
                               MLP_DEFAULT_VALID_SIZE));
        *what = "EMNIST bymerge47 train split";
        return train;
    }
    const int32_t n = 100000;
    uint8_t *px = malloc((size_t)n * BASE_IN);
    int32_t *lb = malloc((size_t)n * sizeof *lb);
    if (!px || !lb)
        exit(1);
    uint64_t s = 42;
    for (size_t i = 0; i < (size_t)n * BASE_IN; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        px[i] = (uint8_t)(s >> 56);
    }
    for (int32_t i = 0; i < n; i++)
        lb[i] = i % BASE_OUT;
    CHECK(mlp_dataset_create(&train, n, 1, 28, 28, px, lb, BASE_OUT));
    free(px);
    free(lb);
    *what = "100,000 generated images";
    return train;
}

#endif /* MLPNET_BENCH_BASELINE_H */
