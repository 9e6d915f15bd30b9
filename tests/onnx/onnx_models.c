/*
 * The exporting half of the ONNX round trip (tests/onnx/roundtrip.py runs
 * it, then checks the files with the onnx checker and runs them in ONNX
 * Runtime). For each test model, built here with seeded random weights and
 * state, it writes into DIR:
 *   NAME.onnx                       mlp_model_export_onnx
 *   NAME.input.f32                  1,000 samples, float32, NCHW
 *   NAME.raw.f32, NAME.probs.f32    mlp_model_predict_raw / mlp_model_predict
 * and one line per model on stdout, read by the driver:
 *   NAME INPUT_DIMS(comma-separated) K HAS_PROBS EXPORT_SECONDS PREDICT_SECONDS DATA
 * (the prediction time: the best of five runs of mlp_model_predict_raw).
 * Everything runs on one thread. Uses only the public API.
 *
 * DATA is "synthetic" (smooth random patterns) or, for the three EMNIST-
 * shaped models when $MLPNET_DATA_DIR holds emnist-bymerge47, "emnist":
 * those models are then trained for one epoch on 5,000 training images
 * (batch-norm statistics included) and run on the first 1,000 test images.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlpnet/mlpnet.h"

#define SAMPLES 1000
#define EMNIST "emnist-bymerge47"

/* The EMNIST splits used when present, else NULL. */
static mlp_dataset *emnist_train, *emnist_test;

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64 mapped to [0, 1) */
static double uniform(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHECK(call)                                                                      \
    do {                                                                                 \
        mlp_status st_ = (call);                                                         \
        if (st_ != MLP_STATUS_OK) {                                                      \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                \
                    mlp_last_error());                                                   \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

/* Add the layer `create` makes (with &l_ as its out-pointer). */
#define ADD(m, create)                                                                   \
    do {                                                                                 \
        mlp_layer *l_ = NULL;                                                            \
        CHECK(create);                                                                   \
        CHECK(mlp_model_add((m), l_));                                                   \
    } while (0)

static mlp_layer *conv(int32_t filters, int32_t k, int32_t sh, int32_t sw, int32_t ph,
                       int32_t pw, int32_t dh, int32_t dw, int use_bias)
{
    mlp_layer *l = NULL;
    CHECK(mlp_layer_create_conv2d(&l, 0, filters, k, k));
    CHECK(mlp_layer_set_conv2d(l, sh, sw, ph, pw, dh, dw));
    CHECK(mlp_layer_set_use_bias(l, use_bias));
    return l;
}

static mlp_layer *dense(int32_t units, int use_bias)
{
    mlp_layer *l = NULL;
    CHECK(mlp_layer_create_dense(&l, units));
    CHECK(mlp_layer_set_use_bias(l, use_bias));
    return l;
}

/* Random parameters (biases and batch-norm gammas included, so that none is
 * a trivial 0 or 1) and state: batch-norm running means and positive
 * variances, standardisation means and positive scales. */
static void randomise(mlp_model *m)
{
    for (int i = 0; i < mlp_model_layer_count(m); i++) {
        mlp_layer *l = mlp_model_layer(m, i);
        float *p = mlp_layer_params(l);
        int64_t np = mlp_layer_param_count(l);
        mlp_layer_kind kind = mlp_layer_get_kind(l);
        if (kind == MLP_LAYER_BATCHNORM)
            for (int64_t j = 0; j < np; j++)
                p[j] = (float)(j < np / 2 ? 0.5 + uniform() : uniform() - 0.5);
        else if (np > 0)
            for (int64_t j = 0; j < np; j++)
                p[j] += (float)(0.1 * (uniform() - 0.5));
        float *s = mlp_layer_state(l);
        int64_t ns = mlp_layer_state_count(l);
        for (int64_t j = 0; j < ns; j++)
            s[j] = (float)(j < ns / 2 ? uniform() - 0.5 : 0.5 + 1.5 * uniform());
    }
}

static void write_file(const char *dir, const char *name, const char *ext, const float *v,
                       size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof *v, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* One epoch of Adam on the EMNIST training subset. */
static void train_briefly(mlp_model *m)
{
    mlp_optimizer *opt = NULL;
    CHECK(mlp_optimizer_create(&opt, MLP_RULE_ADAM, m));
    mlp_fit_options o;
    mlp_fit_options_init(&o);
    o.epochs = 1;
    o.batch_size = 50;
    o.seed = 1;
    CHECK(mlp_model_fit(m, opt, emnist_train, NULL, &o));
    mlp_optimizer_destroy(opt);
}

/* Export, predict and write everything for one model, then destroy it.
 * `emnist_shaped`: the model takes a 28x28 image and gives 47 classes. */
static void finish(mlp_model *m, const char *dir, const char *name, int emnist_shaped)
{
    const int real = emnist_shaped && emnist_train;
    if (real)
        train_briefly(m);
    else
        randomise(m);
    int rank = 0;
    int32_t dims[MLP_MAX_RANK] = {0};
    CHECK(mlp_model_input_shape(m, &rank, dims));
    int64_t d = 1;
    for (int k = 0; k < rank; k++)
        d *= dims[k];
    int orank = 0;
    int32_t odims[MLP_MAX_RANK] = {0};
    CHECK(mlp_model_output_shape(m, mlp_model_layer_count(m) - 1, &orank, odims));
    int32_t k = 1;
    for (int j = 0; j < orank; j++)
        k *= odims[j];

    float *x = malloc(sizeof(float) * (size_t)(SAMPLES * d));
    float *raw = malloc(sizeof(float) * (size_t)(SAMPLES * k));
    float *probs = malloc(sizeof(float) * (size_t)(SAMPLES * k));
    if (!x || !raw || !probs)
        exit(1);
    /* Image-like data in [0, 1]: a smooth random pattern per sample plus
     * noise, so that pooling and convolutions see structure. */
    for (int64_t i = 0; i < SAMPLES; i++) {
        double a = uniform() * 6.28, b = uniform() * 6.28;
        for (int64_t j = 0; j < d; j++) {
            double v = 0.5 + 0.4 * sin(a + 0.37 * (double)j) * cos(b + 0.11 * (double)j);
            x[i * d + j] = (float)(v + 0.1 * (uniform() - 0.5));
        }
    }
    if (real) {
        int32_t idx[SAMPLES];
        for (int32_t i = 0; i < SAMPLES; i++)
            idx[i] = i;
        CHECK(mlp_dataset_gather(emnist_test, idx, SAMPLES, x, NULL));
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    double t0 = now();
    CHECK(mlp_model_export_onnx(m, path));
    double t_export = now() - t0;

    int32_t xdims[MLP_MAX_RANK + 1] = {SAMPLES};
    for (int j = 0; j < rank; j++)
        xdims[j + 1] = dims[j];
    int32_t ydims[2] = {SAMPLES, k};
    mlp_tensor *xt = NULL, *rt = NULL, *pt = NULL;
    CHECK(mlp_tensor_wrap(&xt, rank + 1, xdims, x));
    CHECK(mlp_tensor_wrap(&rt, 2, ydims, raw));
    CHECK(mlp_tensor_wrap(&pt, 2, ydims, probs));
    CHECK(mlp_model_predict_raw(m, xt, rt)); /* warm-up: buffers, caches */
    double t_predict = 1e30;                 /* the best of five runs */
    for (int r = 0; r < 5; r++) {
        t0 = now();
        CHECK(mlp_model_predict_raw(m, xt, rt));
        t_predict = fmin(t_predict, now() - t0);
    }
    int has_probs = mlp_model_predict(m, xt, pt) == MLP_STATUS_OK;

    write_file(dir, name, "input.f32", x, (size_t)(SAMPLES * d));
    write_file(dir, name, "raw.f32", raw, (size_t)(SAMPLES * k));
    if (has_probs)
        write_file(dir, name, "probs.f32", probs, (size_t)(SAMPLES * k));
    printf("%s ", name);
    for (int j = 0; j < rank; j++)
        printf(j ? ",%d" : "%d", (int)dims[j]);
    printf(" %d %d %.6f %.6f %s\n", (int)k, has_probs, t_export, t_predict,
           real ? "emnist" : "synthetic");
    mlp_tensor_destroy(xt);
    mlp_tensor_destroy(rt);
    mlp_tensor_destroy(pt);
    free(x);
    free(raw);
    free(probs);
    mlp_model_destroy(m);
}

static mlp_model *new_model(int rank, int32_t d0, int32_t d1, int32_t d2, uint64_t seed)
{
    int32_t dims[3] = {d0, d1, d2};
    mlp_model *m = NULL;
    CHECK(mlp_model_create(&m, rank, dims, seed));
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    CHECK(mlp_set_num_threads(1));
    const char *data = getenv("MLPNET_DATA_DIR");
    if (data && *data && mlp_dataset_exists(data, EMNIST)) {
        mlp_dataset *train = NULL, *rest = NULL;
        CHECK(mlp_dataset_open(&train, NULL, &emnist_test, data, EMNIST,
                               MLP_DEFAULT_VALID_SIZE));
        CHECK(mlp_dataset_split(train, 5000, &emnist_train, &rest));
        mlp_dataset_destroy(train);
        mlp_dataset_destroy(rest);
    }

    /* The baseline MLP of the coursework: 784-100-100-47, ReLU. */
    mlp_model *m = new_model(1, 784, 0, 0, 1);
    ADD(m, mlp_layer_create_dense(&l_, 100));
    ADD(m, mlp_layer_create_relu(&l_));
    ADD(m, mlp_layer_create_dense(&l_, 100));
    ADD(m, mlp_layer_create_relu(&l_));
    ADD(m, mlp_layer_create_dense(&l_, 47));
    /* Class names, two of them with characters JSON escapes. */
    static char text[47][8];
    const char *names[47];
    for (int c = 0; c < 47; c++) {
        snprintf(text[c], sizeof text[c],
                 c == 1   ? "c\"%d\""
                 : c == 2 ? "c\\%d"
                          : "c%d",
                 c);
        names[c] = text[c];
    }
    CHECK(mlp_model_set_class_names(m, names, 47));
    finish(m, dir, "mlp", 1);

    /* A batch-norm MLP (per feature), as in the coursework's experiment 3. */
    m = new_model(3, 1, 28, 28, 2);
    CHECK(mlp_model_add(m, dense(100, 0)));
    ADD(m, mlp_layer_create_batchnorm(&l_));
    ADD(m, mlp_layer_create_relu(&l_));
    CHECK(mlp_model_add(m, dense(100, 0)));
    ADD(m, mlp_layer_create_batchnorm(&l_));
    ADD(m, mlp_layer_create_relu(&l_));
    ADD(m, mlp_layer_create_dense(&l_, 47));
    finish(m, dir, "bn_mlp", 1);

    /* The ConvNet: two conv/BN/ReLU/pool stages, then dense layers. */
    m = new_model(3, 1, 28, 28, 3);
    CHECK(mlp_model_add(m, conv(16, 3, 1, 1, 1, 1, 1, 1, 0)));
    ADD(m, mlp_layer_create_batchnorm_spatial(&l_));
    ADD(m, mlp_layer_create_relu(&l_));
    ADD(m, mlp_layer_create_maxpool(&l_, 2, 2, 2, 0));
    CHECK(mlp_model_add(m, conv(32, 3, 1, 1, 1, 1, 1, 1, 1)));
    ADD(m, mlp_layer_create_relu(&l_));
    ADD(m, mlp_layer_create_maxpool(&l_, 2, 2, 2, 0));
    ADD(m, mlp_layer_create_flatten(&l_));
    ADD(m, mlp_layer_create_dense(&l_, 128));
    ADD(m, mlp_layer_create_relu(&l_));
    ADD(m, mlp_layer_create_dropout_p(&l_, 0.5f));
    ADD(m, mlp_layer_create_dense(&l_, 47));
    finish(m, dir, "convnet", 1);

    /* Every kind and option, part 1: standardisation, a strided, padded,
     * dilated convolution without bias, average pooling with padding (not
     * counted), max pooling with padding, per-feature batch norm on a
     * [C,H,W] input, reshape to rank 2 and flatten, the activations, and
     * BCE on logits (sigmoid probabilities). */
    m = new_model(3, 2, 13, 13, 4);
    ADD(m, mlp_layer_create_standardize(&l_));
    CHECK(mlp_model_add(m, conv(6, 3, 2, 1, 2, 1, 2, 1, 0)));
    ADD(m, mlp_layer_create_leaky_relu(&l_, 0.1f));
    ADD(m, mlp_layer_create_avgpool(&l_, 3, 3, 1, 1));
    ADD(m, mlp_layer_create_elu(&l_, 0.7f));
    ADD(m, mlp_layer_create_maxpool(&l_, 3, 3, 2, 1));
    ADD(m, mlp_layer_create_dropout_p(&l_, 0.2f));
    ADD(m, mlp_layer_create_batchnorm(&l_));
    ADD(m, mlp_layer_create_selu(&l_));
    int32_t r2[2] = {6, 0};
    int rank_r2 = 0;
    {
        int32_t od[MLP_MAX_RANK] = {0};
        CHECK(mlp_model_output_shape(m, mlp_model_layer_count(m) - 1, &rank_r2, od));
        r2[1] = od[1] * od[2];
    }
    ADD(m, mlp_layer_create_reshape(&l_, 2, r2));
    ADD(m, mlp_layer_create_softplus(&l_));
    ADD(m, mlp_layer_create_flatten(&l_));
    CHECK(mlp_model_add(m, dense(20, 0)));
    ADD(m, mlp_layer_create_tanh(&l_));
    ADD(m, mlp_layer_create_dense(&l_, 5));
    ADD(m, mlp_layer_create_sigmoid(&l_));
    ADD(m, mlp_layer_create_dense(&l_, 4));
    CHECK(mlp_model_set_loss(m, MLP_LOSS_BCE_LOGITS, 0));
    finish(m, dir, "kinds_a", 0);

    /* Part 2: a rank-1 standardised input reshaped to an image, a
     * convolution with different strides, paddings and dilations per axis,
     * spatial batch norm, global average pooling, dense without bias into a
     * regression whose output is reshaped to [2,3] (flattened by the
     * export, as by predict). */
    m = new_model(1, 300, 0, 0, 5);
    ADD(m, mlp_layer_create_standardize(&l_));
    int32_t img[3] = {3, 10, 10};
    ADD(m, mlp_layer_create_reshape(&l_, 3, img));
    CHECK(mlp_model_add(m, conv(8, 3, 1, 2, 0, 2, 2, 1, 1)));
    ADD(m, mlp_layer_create_batchnorm_spatial(&l_));
    ADD(m, mlp_layer_create_tanh(&l_));
    ADD(m, mlp_layer_create_global_avgpool(&l_));
    CHECK(mlp_model_add(m, dense(6, 0)));
    int32_t out23[2] = {2, 3};
    ADD(m, mlp_layer_create_reshape(&l_, 2, out23));
    CHECK(mlp_model_set_loss(m, MLP_LOSS_MSE, 0));
    /* feature names, into the metadata as a JSON array: a quote, a
     * backslash and characters beyond ASCII among them */
    static char fnames[300][16];
    const char *fp[300];
    for (int j = 0; j < 300; j++) {
        snprintf(fnames[j], sizeof fnames[j], "f%d", j);
        fp[j] = fnames[j];
    }
    fp[1] = "say \"hi\"";
    fp[2] = "back\\slash";
    fp[3] = "\xc3\xa2ge \xe6\x97\xa5";
    CHECK(mlp_model_set_feature_names(m, fp, 300));
    finish(m, dir, "kinds_b", 0);
    (void)rank_r2;
    mlp_dataset_destroy(emnist_train);
    mlp_dataset_destroy(emnist_test);
    return 0;
}
