/*
 * Model-file and inference figures for the baseline MLP (784 -> 3 x 100 ELU
 * -> 47), each beside a reference measured in the same run:
 *   - load time from a file (mlp_model_load), against reading the file's
 *     bytes alone; also from memory (mlp_model_load_mem);
 *   - save time (atomic: temporary file, fsync, rename, directory fsync),
 *     against mlp_model_save_mem alone;
 *   - prediction throughput on 10,000 images (mlp_model_predict, batches of
 *     1000 and of 100), against the forward matrix products alone.
 * Times are medians over repetitions, from CLOCK_MONOTONIC.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/gemm.h"
#include "core/core.h"
#include "mlpnet/io.h"
#include "mlpnet/mlpnet.h"

#define BENCH_NAME "bench_io"
#include "bench_baseline.h"
#include "bench_util.h"

enum {
    IN = 784,
    HID = 100,
    OUT = 47,
    DEPTH = 3,
    IMAGES = 10000,
    LOADS = 300,
    SAVES = 20
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static mlp_model *baseline(void)
{
    return bench_baseline_model();
}

/* Read a whole file with read(2): the floor of any loader. */
static size_t read_all(const char *path, unsigned char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        exit(1);
    size_t n = 0;
    ssize_t k;
    while ((k = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)k;
    close(fd);
    return n;
}

/* Throughput of mlp_model_predict over all images in batches of `bs`. */
static double predict_rate(mlp_model *m, const float *x, int32_t bs)
{
    mlp_tensor *in = NULL, *probs = NULL;
    CHECK(mlp_tensor_create(&in, 2, (const int32_t[]){bs, IN}));
    CHECK(mlp_tensor_create(&probs, 2, (const int32_t[]){bs, OUT}));
    double times[5];
    for (int r = 0; r < 5; r++) {
        double t0 = mlp__now();
        for (int32_t s = 0; s < IMAGES; s += bs) {
            CHECK(mlp_tensor_copy_from(in, x + (size_t)s * IN, (int64_t)bs * IN));
            CHECK(mlp_model_predict(m, in, probs));
        }
        times[r] = mlp__now() - t0;
    }
    mlp_tensor_destroy(in);
    mlp_tensor_destroy(probs);
    return IMAGES / median(times, 5);
}

/* The forward GEMMs alone, same shapes and batches. */
static double gemm_rate(int32_t bs)
{
    static const int dims[] = {IN, HID, HID, HID, OUT};
    float *act[DEPTH + 2], *w[DEPTH + 1];
    for (int i = 0; i < DEPTH + 2; i++)
        act[i] = bench_floats((size_t)bs * IN);
    for (int i = 0; i < DEPTH + 1; i++)
        w[i] = bench_floats((size_t)dims[i] * dims[i + 1]);
    double times[5];
    for (int r = 0; r < 5; r++) {
        double t0 = mlp__now();
        for (int32_t s = 0; s < IMAGES; s += bs)
            for (int l = 0; l < DEPTH + 1; l++)
                mlp__sgemm(0, 0, bs, dims[l + 1], dims[l], 1.0f, act[l], dims[l], w[l],
                           dims[l + 1], 0.0f, act[l + 1], dims[l + 1]);
        times[r] = mlp__now() - t0;
    }
    for (int i = 0; i < DEPTH + 2; i++)
        free(act[i]);
    for (int i = 0; i < DEPTH + 1; i++)
        free(w[i]);
    return IMAGES / median(times, 5);
}

int main(void)
{
    mlp_set_num_threads(1);
    char dir[] = "/tmp/bench_io.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/baseline.mlpnet", dir);
    mlp_model *m = baseline();
    CHECK(mlp_model_save(m, path));

    void *mem = NULL;
    size_t len = 0;
    CHECK(mlp_model_save_mem(m, &mem, &len));
    unsigned char *raw = malloc(len + 1);
    static double t_load[LOADS], t_mem[LOADS], t_read[LOADS], t_save[SAVES], t_ser[SAVES];
    for (int i = 0; i < LOADS; i++) {
        mlp_model *b = NULL;
        double t0 = mlp__now();
        CHECK(mlp_model_load(&b, path));
        double t1 = mlp__now();
        mlp_model_destroy(b);
        double t2 = mlp__now();
        CHECK(mlp_model_load_mem(&b, mem, len));
        double t3 = mlp__now();
        mlp_model_destroy(b);
        double t4 = mlp__now();
        if (read_all(path, raw, len + 1) != len)
            return 1;
        double t5 = mlp__now();
        t_load[i] = t1 - t0;
        t_mem[i] = t3 - t2;
        t_read[i] = t5 - t4;
    }
    for (int i = 0; i < SAVES; i++) {
        double t0 = mlp__now();
        CHECK(mlp_model_save(m, path));
        double t1 = mlp__now();
        void *buf = NULL;
        size_t n = 0;
        CHECK(mlp_model_save_mem(m, &buf, &n));
        double t2 = mlp__now();
        mlp_buffer_free(buf);
        t_save[i] = t1 - t0;
        t_ser[i] = t2 - t1;
    }

    float *x = malloc(sizeof(float) * (size_t)IMAGES * IN);
    uint64_t s = 42;
    for (size_t i = 0; i < (size_t)IMAGES * IN; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(s >> 56) / 255.0f;
    }
    double p1000 = predict_rate(m, x, 1000), p100 = predict_rate(m, x, 100);
    double g1000 = gemm_rate(1000), g100 = gemm_rate(100);

    printf("bench_io: baseline MLP %d-%dx%d ELU-%d, %lld parameters, file %zu bytes, "
           "OpenBLAS threads %d\n",
           IN, HID, DEPTH, OUT, (long long)mlp_model_param_count(m), len,
           mlp_get_num_threads());
    printf("load from file (median of %d):  %.3f ms   [read(2) of the file alone: %.3f "
           "ms]\n",
           LOADS, 1e3 * median(t_load, LOADS), 1e3 * median(t_read, LOADS));
    printf("load from memory:               %.3f ms\n", 1e3 * median(t_mem, LOADS));
    printf("atomic save (median of %d):     %.3f ms   [serialising alone: %.3f ms]\n",
           SAVES, 1e3 * median(t_save, SAVES), 1e3 * median(t_ser, SAVES));
    printf(
        "predict %d images, batch 1000: %.0f images/s   [forward sgemm alone: %.0f/s]\n",
        IMAGES, p1000, g1000);
    printf(
        "predict %d images, batch 100:  %.0f images/s   [forward sgemm alone: %.0f/s]\n",
        IMAGES, p100, g100);

    unlink(path);
    rmdir(dir);
    free(x);
    free(raw);
    mlp_buffer_free(mem);
    mlp_model_destroy(m);
    return 0;
}
