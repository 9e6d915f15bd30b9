/*
 * Setting a standardisation layer from data: the mean and the population
 * standard deviation (as scikit-learn's StandardScaler) of every input
 * feature over a dataset, in double, two passes.
 */
#include <math.h>
#include <string.h>

#include "backend/gemm.h"
#include "data/dataset_impl.h"
#include "model_impl.h"

enum { CHUNK = 256 }; /* samples read at a time */

mlp_status mlp_model_fit_standardize(mlp_model *m, const mlp_dataset *ds)
{
    static const char fn[] = "mlp_model_fit_standardize";
    MLP_CHECK_ARG(m, fn, "model is NULL");
    MLP_CHECK_ARG(ds, fn, "dataset is NULL");
    MLP_TRY(mlp__model_check_idle(m, 0, fn));
    if (m->n_layers == 0 || m->layers[0]->kind != MLP_LAYER_STANDARDIZE)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: the model's first layer is not a standardize layer", fn);
    const int64_t f = m->in_size;
    if (mlp_dataset_sample_size(ds) != f)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: the samples have %lld values but the model takes %lld", fn,
                          (long long)mlp_dataset_sample_size(ds), (long long)f);
    MLP_TRY(mlp__model_check_feature_names(m, ds, NULL, "the dataset", fn));
    /* A model without feature names takes the set's with its statistics,
     * which belong to its columns: a later fit on a set whose columns are
     * in another order is then refused. */
    struct mlp__names *names;
    MLP_TRY(mlp__model_names_to_adopt(m, ds, &names, fn));
    const int32_t total = mlp_dataset_size(ds);
    const int32_t chunk = total < CHUNK ? total : CHUNK;
    float *x = mlp__alloc((size_t)chunk * (size_t)f * sizeof *x);
    double *sum = mlp__calloc(2 * (size_t)f, sizeof *sum);
    if (!x || !sum) {
        mlp__free(names);
        mlp__free(x);
        mlp__free(sum);
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for %lld features", fn,
                          (long long)f);
    }
    double *sq = sum + f;
    mlp_status st = MLP_STATUS_OK;
    /* Pass 1: means; pass 2: squared deviations from them. */
    for (int pass = 0; pass < 2 && st == MLP_STATUS_OK; pass++) {
        mlp__batches w = {0, total, chunk};
        for (int32_t start, n;
             st == MLP_STATUS_OK && mlp__batches_next(&w, &start, &n);) {
            st = mlp__dataset_rows(ds, start, n, x, NULL, NULL);
            const int64_t bad = st == MLP_STATUS_OK && pass == 0
                                    ? mlp__first_not_finite(x, (int64_t)n * f)
                                    : -1;
            if (bad >= 0)
                st = mlp__error(
                    MLP_STATUS_NUMERIC, "%s: sample %lld holds %s at value %lld", fn,
                    (long long)start + bad / f, isnan(x[bad]) ? "a NaN" : "an infinity",
                    (long long)(bad % f));
            for (int32_t i = 0; st == MLP_STATUS_OK && i < n; i++) {
                const float *xi = x + (int64_t)i * f;
                for (int64_t j = 0; j < f; j++) {
                    if (pass == 0) {
                        sum[j] += xi[j];
                    } else {
                        double d = xi[j] - sum[j];
                        sq[j] += d * d;
                    }
                }
            }
        }
        if (pass == 0)
            for (int64_t j = 0; j < f; j++)
                sum[j] /= total;
    }
    if (st == MLP_STATUS_OK) {
        float *mean = m->layers[0]->state, *scale = mean + f;
        for (int64_t j = 0; j < f; j++) {
            double sd = sqrt(sq[j] / total);
            mean[j] = (float)sum[j];
            /* A constant feature keeps scale 1, as StandardScaler does. */
            scale[j] = sd > 0.0 && isfinite(sd) && (float)sd > 0.0f ? (float)sd : 1.0f;
        }
        if (names) {
            m->feature_names = names;
            names = NULL;
        }
    }
    mlp__free(names);
    mlp__free(x);
    mlp__free(sum);
    return st;
}
