/*
 * The CSV reader on wide tables: a list of feature columns named against
 * the same list by index, and a list of class names against the labels
 * found in the file, at 20,000 and 100,000 names. Each reference is the
 * load without the lookup the list adds, in the same run: a list looked up
 * in time linear in its length keeps the ratio near 1 at both sizes, where
 * one looked up name by name through the whole header (or checked for
 * repeats pair by pair) grows with the list (47 s against 0.13 s for
 * 100,000 feature names, 28 s against 0.5 s for 100,000 class names).
 * Prints the best of three loads of each; never fails on time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_impl.h"
#include "mlpnet/mlpnet.h"

#define BENCH_NAME "bench_csv"
#include "bench_util.h"

/* malloc(bytes), or exit 1: a benchmark without its data measures nothing. */
static void *alloc_or_exit(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
        exit(1);
    }
    return p;
}

/* Seconds of the best of three loads of `len` bytes of text. */
static double best_load(const char *text, size_t len, const mlp_csv_options *o)
{
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        mlp_dataset *ds = NULL;
        const double t0 = bench_now();
        CHECK(mlp__dataset_load_csv_mem(&ds, text, len, "bench.csv", o));
        const double s = bench_now() - t0;
        mlp_dataset_destroy(ds);
        best = s < best ? s : best;
    }
    return best;
}

/* "<prefix><i>" for i = n - 1 down to 0, in one block (names[0] frees it). */
static const char **reversed_names(const char *prefix, int32_t n)
{
    const char **names = alloc_or_exit((size_t)n * sizeof *names);
    char *text = alloc_or_exit((size_t)n * 16);
    for (int32_t k = 0; k < n; k++) {
        names[k] = text + (size_t)k * 16;
        snprintf(text + (size_t)k * 16, 16, "%s%d", prefix, (int)(n - 1 - k));
    }
    return names;
}

/* A header of f feature columns f0.. and a label column y, two rows. */
static void features(int32_t f)
{
    const size_t cap = (size_t)f * 24 + 64;
    char *text = alloc_or_exit(cap);
    int32_t *idx = alloc_or_exit((size_t)f * sizeof *idx);
    size_t len = 0;
    for (int32_t j = 0; j < f; j++)
        len += (size_t)snprintf(text + len, cap - len, "f%d,", (int)j);
    len += (size_t)snprintf(text + len, cap - len, "y\n");
    for (int i = 0; i < 2; i++) {
        for (int32_t j = 0; j < f; j++)
            len += (size_t)snprintf(text + len, cap - len, "%d,", (int)(j + i));
        len += (size_t)snprintf(text + len, cap - len, "k%d\n", i);
    }
    const char **names = reversed_names("f", f);
    for (int32_t k = 0; k < f; k++)
        idx[k] = f - 1 - k;
    mlp_csv_options o;
    CHECK(mlp_csv_options_init(&o));
    o.task = MLP_CSV_CLASSIFY;
    o.target_name = "y";
    o.feature_names = names;
    o.num_features = f;
    const double by_name = best_load(text, len, &o);
    o.feature_names = NULL;
    o.feature_indices = idx;
    const double by_index = best_load(text, len, &o);
    printf("%6d features by name:    %8.1f ms, by index %8.1f ms (%.2fx)\n", (int)f,
           by_name * 1e3, by_index * 1e3, by_name / by_index);
    free((void *)names[0]);
    free(names);
    free(idx);
    free(text);
}

/* k rows, each of its own class c0.., with the class list given or not. */
static void classes(int32_t k)
{
    const size_t cap = (size_t)k * 24 + 16;
    char *text = alloc_or_exit(cap);
    size_t len = (size_t)snprintf(text, cap, "a,y\n");
    for (int32_t i = 0; i < k; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,c%d\n", (int)i, (int)i);
    const char **names = reversed_names("c", k);
    mlp_csv_options o;
    CHECK(mlp_csv_options_init(&o));
    o.task = MLP_CSV_CLASSIFY;
    o.class_names = names;
    o.num_class_names = k;
    const double listed = best_load(text, len, &o);
    o.class_names = NULL;
    o.num_class_names = 0;
    const double found = best_load(text, len, &o);
    printf("%6d classes listed:      %8.1f ms, found  %8.1f ms (%.2fx)\n", (int)k,
           listed * 1e3, found * 1e3, listed / found);
    free((void *)names[0]);
    free(names);
    free(text);
}

int main(void)
{
    printf("bench_csv: the best of 3 loads each, %s\n",
           bench_cpu_clock() ? "CPU time" : "wall time");
    features(20000);
    features(100000);
    classes(20000);
    classes(100000);
    return 0;
}
