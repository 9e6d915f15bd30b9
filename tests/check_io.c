/*
 * Tests of include/mlpnet/io.h: model files (round trip of every layer
 * kind, memory buffers, resumed training, corrupt and hostile files, atomic
 * saves that fail, allocation failures) and the .npz dataset reader (on
 * archives built here, stored and deflated, and corrupt ones).
 */
/* The deprecated keep-probability dropout creator is tested here too. */
#define MLPNET_NO_DEPRECATION_WARNINGS
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "core/core.h"
#include "data/dataset_impl.h"
#include "fixtures/fixture_input.h"
#include "mlpnet/io.h"
#include "optim/optim_file.h" /* the flat state, to write a value no run leaves */
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmp_dir[256];

static void make_tmp_dir(void)
{
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_io");
}

static void remove_tmp_dir(void)
{
    tu_rm_tree(tmp_dir);
}

static const char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    return p;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    return tu_read_file(path, len);
}

static void write_file(const char *path, const void *p, size_t n)
{
    tu_write_file(path, p, n);
}

static unsigned char *model_bytes(const mlp_model *m, const mlp_optimizer *o, size_t *len)
{
    void *buf = NULL;
    TU_OK(mlp_model_save_mem_with_optimizer(m, o, &buf, len));
    unsigned char *copy = malloc(*len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, buf, *len);
    mlp_buffer_free(buf);
    return copy;
}

/* The model must save to exactly these bytes. */
static void assert_saves_as(const mlp_model *m, const unsigned char *want, size_t len,
                            const char *what)
{
    size_t got_len;
    unsigned char *got = model_bytes(m, NULL, &got_len);
    ck_assert_msg(got_len == len && memcmp(got, want, len) == 0, "%s differs", what);
    free(got);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void wr64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Offsets in a conv2d LAYR record (kind name "conv2d": K = 6), from the
 * record's tag: the configuration version, and the configuration's use_bias
 * (version 2, after the 40 bytes of version 1). */
#define CONV_VERSION_AT (12 + 36)
#define CONV_USE_BIAS_AT (12 + 40 + 6 + 40)

static unsigned conv_record_version(const unsigned char *b, size_t at)
{
    ck_assert_msg(memcmp(b + at + 12 + 40, "conv2d", 6) == 0, "not a conv2d record");
    return (unsigned)b[at + CONV_VERSION_AT] | (unsigned)b[at + CONV_VERSION_AT + 1] << 8;
}

/* Rewrite the conv2d LAYR record at `at`, of configuration version 2, as an
 * older library wrote it: configuration version 1, without the last 4 bytes
 * of the configuration (use_bias), the record length fixed, the CRCs
 * recomputed. The file shrinks by 4 bytes. */
static void conv_record_to_version_1(unsigned char *b, size_t *len, size_t at)
{
    const uint64_t l = rd64(b + at + 4);
    ck_assert_uint_eq(conv_record_version(b, at), 2);
    ck_assert_uint_eq(l, 40 + 6 + 44);
    const size_t end = at + 12 + (size_t)l; /* where the record's CRC starts */
    memmove(b + end - 4, b + end, *len - end);
    *len -= 4;
    wr64(b + at + 4, l - 4);
    b[at + CONV_VERSION_AT] = 1;
    b[at + CONV_VERSION_AT + 1] = 0;
    tu_fix_crcs(b, *len);
}

/* Load from memory; on failure the model must be NULL and nothing leaked. */
static mlp_status try_load_mem(const unsigned char *b, size_t len)
{
    long live = mlp__alloc_live();
    mlp_model *m = (mlp_model *)&live;
    mlp_optimizer *o = (mlp_optimizer *)&live;
    mlp_status st = mlp_model_load_mem_with_optimizer(&m, &o, b, len);
    if (st == MLP_STATUS_OK) {
        ck_assert_ptr_nonnull(m);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    } else {
        ck_assert_ptr_null(m);
        ck_assert_ptr_null(o);
        TU_CHECK_MSG(mlp_last_error()[0] != '\0', "failure without a message");
    }
    ck_assert_int_eq(mlp__alloc_live(), live);
    return st;
}

static mlp_tensor *random_input(int32_t n, int rank, const int32_t *dims, uint64_t seed)
{
    mlp_tensor *x = tu_tensor_batch(n, rank, dims);
    tu_rng r;
    tu_rng_seed(&r, seed);
    tu_fill_uniform(&r, mlp_tensor_data(x), mlp_tensor_numel(x), 0.0f, 1.0f);
    return x;
}

/* Output of a forward pass, copied. */
static float *forward_copy(mlp_model *m, const mlp_tensor *x, mlp_mode mode, int64_t *n)
{
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(m, x, mode, &y));
    *n = mlp_tensor_numel(y);
    float *out = malloc(sizeof(float) * (size_t)*n);
    ck_assert_ptr_nonnull(out);
    memcpy(out, mlp_tensor_data_const(y), sizeof(float) * (size_t)*n);
    return out;
}

/* A few training steps, so parameters and batch-norm statistics move. */
static void train_a_little(mlp_model *m, int rank, const int32_t *dims, int32_t classes)
{
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, 0.05));
    int32_t labels[8];
    for (int i = 0; i < 8; i++)
        labels[i] = i % classes;
    for (int step = 0; step < 3; step++) {
        mlp_tensor *x = random_input(8, rank, dims, 100 + (uint64_t)step);
        TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
        mlp_tensor_destroy(x);
    }
    mlp_optimizer_destroy(o);
}

/* Two models that together use every layer kind and option. */
static const int32_t CONV_IN[3] = {2, 9, 9};
static const int32_t MLP_IN[1] = {12};

static mlp_model *conv_model(void)
{
    mlp_model *m = tu_model(3, CONV_IN, 11);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_conv2d(&l, 2, 4, 3, 3));
    TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
    TU_OK(mlp_layer_set_use_bias(l, 0)); /* batch norm follows */
    tu_add(m, l);                        /* [4,9,9] */
    TU_OK(mlp_layer_create_batchnorm_spatial(&l));
    TU_OK(mlp_layer_set_batchnorm(l, 0.3f, 1e-3f));
    tu_add(m, l);
    tu_add(m, tu_relu());
    TU_OK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0)); /* [4,4,4] */
    tu_add(m, l);
    TU_OK(mlp_layer_create_conv2d(&l, 0, 5, 2, 3));
    TU_OK(mlp_layer_set_conv2d(l, 1, 1, 0, 1, 1, 2)); /* [5,3,2] */
    tu_add(m, l);
    tu_add(m, tu_elu(0.7f));
    TU_OK(mlp_layer_create_avgpool(&l, 2, 2, 1, 1)); /* [5,4,3] */
    tu_add(m, l);
    tu_add(m, tu_leaky_relu(0.05f));
    TU_OK(mlp_layer_create_dropout(&l, 0.75f));
    tu_add(m, l);
    TU_OK(mlp_layer_create_global_avgpool(&l)); /* [5] */
    tu_add(m, l);
    tu_add(m, tu_dense(3));
    return m;
}

static mlp_model *mlp_model_all(void)
{
    mlp_model *m = tu_model(1, MLP_IN, 12);
    const int32_t d[2] = {3, 4};
    tu_add(m, tu_reshape(2, d));
    tu_add(m, tu_flatten());
    mlp_layer *l = tu_dense(10);
    TU_OK(mlp_layer_set_use_bias(l, 0));
    TU_OK(mlp_layer_set_init(l, MLP_INIT_HE_NORMAL, 0.0f));
    tu_add(m, l);
    TU_OK(mlp_layer_create_batchnorm(&l));
    tu_add(m, l);
    tu_add(m, tu_tanh());
    tu_add(m, tu_dense(8));
    tu_add(m, tu_sigmoid());
    tu_add(m, tu_dense(6));
    tu_add(m, tu_selu());
    TU_OK(mlp_layer_create_dropout(&l, 0.5f));
    tu_add(m, l);
    tu_add(m, tu_dense(4));
    return m;
}

/* Everything a loaded model must share with the original. */
static void assert_same_model(mlp_model *a, mlp_model *b, int rank, const int32_t *dims)
{
    ck_assert_int_eq(mlp_model_layer_count(a), mlp_model_layer_count(b));
    for (int i = 0; i < mlp_model_layer_count(a); i++) {
        mlp_layer *la = mlp_model_layer(a, i), *lb = mlp_model_layer(b, i);
        ck_assert_int_eq(mlp_layer_get_kind(la), mlp_layer_get_kind(lb));
        ck_assert_int_eq(mlp_layer_param_count(la), mlp_layer_param_count(lb));
        ck_assert_int_eq(mlp_layer_state_count(la), mlp_layer_state_count(lb));
        if (mlp_layer_param_count(la))
            ck_assert(memcmp(mlp_layer_params(la), mlp_layer_params(lb),
                             sizeof(float) * (size_t)mlp_layer_param_count(la)) == 0);
        if (mlp_layer_state_count(la))
            ck_assert(memcmp(mlp_layer_state(la), mlp_layer_state(lb),
                             sizeof(float) * (size_t)mlp_layer_state_count(la)) == 0);
        int ra, rb;
        int32_t da[MLP_MAX_RANK], db[MLP_MAX_RANK];
        TU_OK(mlp_model_output_shape(a, i, &ra, da));
        TU_OK(mlp_model_output_shape(b, i, &rb, db));
        ck_assert_int_eq(ra, rb);
        ck_assert(memcmp(da, db, sizeof(int32_t) * (size_t)ra) == 0);
    }
    /* Inference, bit for bit; then training-mode passes, which draw dropout
     * masks from the restored noise generator. */
    mlp_tensor *x = random_input(5, rank, dims, 77);
    int64_t na, nb;
    for (int mode = 0; mode < 2; mode++) {
        mlp_mode md = mode ? MLP_MODE_TRAIN : MLP_MODE_EVAL;
        float *ya = forward_copy(a, x, md, &na), *yb = forward_copy(b, x, md, &nb);
        ck_assert_int_eq(na, nb);
        ck_assert_msg(memcmp(ya, yb, sizeof(float) * (size_t)na) == 0,
                      "outputs differ after loading (%s mode)", mode ? "train" : "eval");
        free(ya);
        free(yb);
    }
    mlp_tensor_destroy(x);
}

/* ---- round trips ------------------------------------------------------- */

static void round_trip(mlp_model *m, int rank, const int32_t *dims, int32_t classes)
{
    make_tmp_dir();
    train_a_little(m, rank, dims, classes);
    const char *path = tmp_path("model.mlpnet");
    TU_OK(mlp_model_save(m, path));
    mlp_model *b = NULL;
    TU_OK(mlp_model_load(&b, path));

    /* Saving what was loaded gives the same bytes (every field restored,
     * generator states included). */
    size_t la, lb;
    unsigned char *fa = read_file(path, &la);
    unsigned char *fb = model_bytes(b, NULL, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert(memcmp(fa, fb, la) == 0);
    assert_same_model(m, b, rank, dims);

    /* The memory path gives the file's bytes and the same model. */
    unsigned char *fm = model_bytes(m, NULL, &lb);
    mlp_model *c = NULL;
    TU_OK(mlp_model_load_mem(&c, fm, lb));
    mlp_model_destroy(c);
    free(fm);
    free(fa);
    free(fb);
    mlp_model_destroy(b);
    remove_tmp_dir();
}

START_TEST(round_trip_conv_kinds)
{
    mlp_model *m = conv_model();
    round_trip(m, 3, CONV_IN, 3);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(round_trip_dense_kinds)
{
    mlp_model *m = mlp_model_all();
    round_trip(m, 1, MLP_IN, 4);
    mlp_model_destroy(m);
}
END_TEST

/* conv2d layers without a bias, before batch norm and in the middle: the
 * records are configuration version 2 with use_bias 0, the counts are the
 * weights only, and the loaded model is the saved one (round_trip). */
START_TEST(round_trip_conv_without_bias)
{
    mlp_model *m = tu_model(3, CONV_IN, 21);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_conv2d(&l, 2, 4, 3, 3));
    TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
    TU_OK(mlp_layer_set_use_bias(l, 0));
    mlp_layer *c1 = tu_add(m, l); /* [4,9,9] */
    TU_OK(mlp_layer_create_batchnorm_spatial(&l));
    tu_add(m, l);
    tu_add(m, tu_relu());
    TU_OK(mlp_layer_create_conv2d(&l, 0, 3, 2, 2));
    TU_OK(mlp_layer_set_conv2d(l, 2, 2, 0, 0, 1, 1)); /* [3,4,4] */
    TU_OK(mlp_layer_set_use_bias(l, 0));
    mlp_layer *c2 = tu_add(m, l);
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(3));
    ck_assert_int_eq(mlp_layer_param_count(c1), 4 * 2 * 9);
    ck_assert_int_eq(mlp_layer_param_count(c2), 3 * 4 * 4);
    ck_assert_int_eq(mlp_model_param_count(m), 72 + 8 + 48 + 48 * 3 + 3);

    size_t len;
    unsigned char *b = model_bytes(m, NULL, &len);
    const int conv_records[2] = {0, 3};
    for (int k = 0; k < 2; k++) {
        size_t at = tu_find_record(b, len, "LAYR", conv_records[k]);
        ck_assert_uint_gt(at, 0);
        ck_assert_uint_eq(conv_record_version(b, at), 2);
        ck_assert_uint_eq(rd64(b + at + 4), 40 + 6 + 44);
        ck_assert_uint_eq(rd32(b + at + CONV_USE_BIAS_AT), 0);
        ck_assert_uint_eq(rd64(b + at + 12 + 4), k ? 48 : 72); /* declared parameters */
    }
    /* every other kind stays at configuration version 1 */
    for (int i = 0; i < mlp_model_layer_count(m); i++) {
        size_t at = tu_find_record(b, len, "LAYR", i);
        if (i != 0 && i != 3)
            ck_assert_uint_eq(b[at + CONV_VERSION_AT] | b[at + CONV_VERSION_AT + 1] << 8,
                              1);
    }
    free(b);

    mlp_model *c = NULL;
    round_trip(m, 3, CONV_IN, 3);
    b = model_bytes(m, NULL, &len);
    TU_OK(mlp_model_load_mem(&c, b, len));
    ck_assert_int_eq(mlp_layer_param_count(mlp_model_layer(c, 0)), 72);
    ck_assert_int_eq(mlp_layer_param_count(mlp_model_layer(c, 3)), 48);
    ck_assert_int_eq(mlp_model_param_count(c), mlp_model_param_count(m));
    mlp_model_destroy(c);
    free(b);
    mlp_model_destroy(m);
}
END_TEST

/* A conv2d record of configuration version 1 (40 bytes, before use_bias
 * existed) still loads, with its bias: a file of an older library is made
 * from a new one by byte surgery, loads as the same model, and saves again
 * as the new file. Version 1 means a bias, so it cannot stand for a layer
 * without one: the counts then disagree. */
START_TEST(conv2d_version_1_still_loads)
{
    const int32_t in[3] = {2, 6, 6};
    mlp_model *m = tu_model(3, in, 31);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_conv2d(&l, 2, 3, 3, 3));
    TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1)); /* [3,6,6], with a bias */
    tu_add(m, l);
    tu_add(m, tu_relu());
    TU_OK(mlp_layer_create_conv2d(&l, 0, 2, 2, 2)); /* [2,5,5], without */
    TU_OK(mlp_layer_set_use_bias(l, 0));
    tu_add(m, l);
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(2));
    train_a_little(m, 3, in, 2); /* biases away from their initial zeros */
    const float *bias = mlp_layer_params(mlp_model_layer(m, 0)) + 3 * 2 * 9;
    ck_assert(bias[0] != 0.0f || bias[1] != 0.0f || bias[2] != 0.0f);

    size_t len;
    unsigned char *orig = model_bytes(m, NULL, &len);
    unsigned char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    memcpy(b, orig, len);
    size_t at = tu_find_record(b, len, "LAYR", 0);
    ck_assert_uint_eq(rd32(b + at + CONV_USE_BIAS_AT), 1);
    size_t n = len;
    conv_record_to_version_1(b, &n, at);
    ck_assert_uint_eq(n, len - 4);
    mlp_model *old = NULL;
    TU_OK(mlp_model_load_mem(&old, b, n));
    ck_assert_int_eq(mlp_layer_param_count(mlp_model_layer(old, 0)), 3 * 2 * 9 + 3);
    assert_same_model(m, old, 3, in);
    assert_saves_as(old, orig, len, "a version-1 file saved again");
    mlp_model_destroy(old);

    /* the bias-free layer written as version 1 would need a bias */
    memcpy(b, orig, len);
    n = len;
    conv_record_to_version_1(b, &n, tu_find_record(b, len, "LAYR", 2));
    TU_FAIL(try_load_mem(b, n), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "layer 2 (conv2d)") &&
                      strstr(mlp_last_error(), "parameters"),
                  "%s", mlp_last_error());
    free(b);
    free(orig);
    mlp_model_destroy(m);
}
END_TEST

/* A dropout record stores the KEEP probability, as it always has, so files
 * of older libraries load with the same behaviour: a record with keep 0.6
 * (what mlp_layer_create_dropout(&l, 0.6f) writes, built here byte by byte
 * from a new file) loads as a layer that drops 40% of the values, reports
 * drop probability 0.4 and saves back to the same bytes; a layer made with
 * mlp_layer_create_dropout_p(&l, 0.3f) is written as keep 0.7. */
START_TEST(dropout_record_stores_keep_probability)
{
    const int32_t in[1] = {400};
    mlp_model *m = tu_model(1, in, 41);
    tu_add(m, tu_dense(500));
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_dropout_p(&l, 0.3f));
    tu_add(m, l);
    size_t len;
    unsigned char *b = model_bytes(m, NULL, &len);
    size_t at = tu_find_record(b, len, "LAYR", 1);
    ck_assert_uint_gt(at, 0);
    ck_assert(memcmp(b + at + 12 + 40, "dropout", 7) == 0);
    ck_assert_uint_eq(rd64(b + at + 4), 40 + 7 + 4);
    const size_t cfg = at + 12 + 40 + 7;
    float keep;
    uint32_t bits = rd32(b + cfg);
    memcpy(&keep, &bits, 4);
    ck_assert_float_eq(keep, 1.0f - 0.3f);

    /* the older library's record for keep 0.6 */
    const float old_keep = 0.6f;
    memcpy(&bits, &old_keep, 4);
    wr32(b + cfg, bits);
    tu_fix_crcs(b, len);
    mlp_model *old = NULL;
    TU_OK(mlp_model_load_mem(&old, b, len));
    double p;
    TU_OK(
        mlp_layer_get_attr(mlp_model_layer(old, 1), MLP_LAYER_ATTR_DROP_PROBABILITY, &p));
    ck_assert_double_eq(p, (double)(1.0f - 0.6f));

    /* In training mode it drops 40% of its inputs, which are all positive
     * once the dense weights are 1 and the biases 0. */
    const int64_t np = mlp_model_param_count(old);
    float *params = calloc((size_t)np, sizeof *params);
    ck_assert_ptr_nonnull(params);
    for (int64_t i = 0; i < 400 * 500; i++)
        params[i] = 1.0f;
    TU_OK(mlp_model_set_params(old, params, np));
    free(params);
    mlp_tensor *x = tu_tensor(2, 20, 400);
    mlp_tensor_fill(x, 0.5f);
    const mlp_tensor *y = NULL;
    TU_OK(mlp_model_forward(old, x, MLP_MODE_TRAIN, &y));
    int64_t zeros = 0;
    for (int64_t i = 0; i < mlp_tensor_numel(y); i++)
        zeros += mlp_tensor_data_const(y)[i] == 0.0f;
    double frac = (double)zeros / (double)mlp_tensor_numel(y);
    ck_assert_msg(fabs(frac - 0.4) < 0.02, "keep 0.6 dropped %.4f", frac);
    mlp_tensor_destroy(x);
    mlp_model_destroy(old);

    /* saved again, a loaded model writes the older record unchanged */
    TU_OK(mlp_model_load_mem(&old, b, len));
    assert_saves_as(old, b, len, "a keep-0.6 file saved again");
    mlp_model_destroy(old);

    /* a keep whose drop probability rounds to 1 is refused, as
     * mlp_layer_create_dropout refuses it */
    const float tiny_keep = 1e-8f;
    memcpy(&bits, &tiny_keep, 4);
    wr32(b + cfg, bits);
    tu_fix_crcs(b, len);
    TU_FAIL_MSG(mlp_model_load_mem(&old, b, len), MLP_STATUS_BAD_FORMAT,
                "layer 1 (dropout): mlp_layer_create_dropout: keep probability 1e-08 is "
                "too small");
    ck_assert_ptr_null(old);
    free(b);
    mlp_model_destroy(m);
}
END_TEST

/* Every configuration attribute of every kind survives a save and load. */
START_TEST(attributes_survive_a_round_trip)
{
    mlp_model *ms[2] = {conv_model(), mlp_model_all()};
    for (int k = 0; k < 2; k++) {
        size_t len;
        unsigned char *b = model_bytes(ms[k], NULL, &len);
        mlp_model *back = NULL;
        TU_OK(mlp_model_load_mem(&back, b, len));
        for (int i = 0; i < mlp_model_layer_count(ms[k]); i++)
            for (int a = MLP_LAYER_ATTR_UNITS; a <= MLP_LAYER_ATTR_GLOBAL; a++) {
                double v1 = -1, v2 = -2;
                mlp_status s1 =
                    mlp_layer_get_attr(mlp_model_layer(ms[k], i), (mlp_layer_attr)a, &v1);
                mlp_status s2 =
                    mlp_layer_get_attr(mlp_model_layer(back, i), (mlp_layer_attr)a, &v2);
                ck_assert_int_eq(s1, s2);
                ck_assert_msg(s1 != MLP_STATUS_OK || v1 == v2,
                              "model %d layer %d attribute %d: %g, loaded %g", k, i, a,
                              v1, v2);
            }
        mlp_model_destroy(back);
        free(b);
        mlp_model_destroy(ms[k]);
    }
}
END_TEST

START_TEST(round_trip_covers_every_kind)
{
    /* Guard: the two models above hold every kind of release 0.1 (their kind
     * strings are frozen by this suite). Later kinds carry their own
     * round-trip test with the rest of their tests (docs/architecture.md). */
    int seen[32] = {0};
    mlp_model *ms[2] = {conv_model(), mlp_model_all()};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < mlp_model_layer_count(ms[k]); i++)
            seen[mlp_layer_get_kind(mlp_model_layer(ms[k], i))] = 1;
    for (int kind = MLP_LAYER_DENSE; kind <= MLP_LAYER_AVGPOOL; kind++)
        ck_assert_msg(seen[kind], "layer kind %d is not in the round-trip models", kind);
    mlp_model_destroy(ms[0]);
    mlp_model_destroy(ms[1]);
}
END_TEST

START_TEST(round_trip_empty_and_stateless_models)
{
    /* No layers at all, and layers without parameters: legal models. */
    const int32_t in[3] = {1, 4, 4};
    mlp_model *m = tu_model(3, in, 1), *b = NULL;
    size_t len;
    unsigned char *buf = model_bytes(m, NULL, &len);
    TU_OK(mlp_model_load_mem(&b, buf, len));
    ck_assert_int_eq(mlp_model_layer_count(b), 0);
    mlp_model_destroy(b);
    free(buf);
    tu_add(m, tu_relu());
    tu_add(m, tu_flatten());
    buf = model_bytes(m, NULL, &len);
    TU_OK(mlp_model_load_mem(&b, buf, len));
    ck_assert_int_eq(mlp_model_layer_count(b), 2);
    ck_assert_int_eq(mlp_model_param_count(b), 0);
    mlp_model_destroy(b);
    mlp_model_destroy(m);
    free(buf);
}
END_TEST

START_TEST(save_mem_matches_file_and_optimizer_round_trips)
{
    make_tmp_dir();
    mlp_model *m = mlp_model_all();
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAMW, m));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_BETA2, 0.95));
    TU_OK(mlp_optimizer_set(o, MLP_OPTIM_CLIP_NORM, 2.5));
    TU_OK(mlp_optimizer_schedule_cosine(o, 3, 2.0, 1e-4));
    TU_OK(mlp_optimizer_start_epoch(o, 4));
    int32_t labels[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    mlp_tensor *x = random_input(8, 1, MLP_IN, 5);
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));

    const char *path = tmp_path("with-opt.mlpnet");
    TU_OK(mlp_model_save_with_optimizer(m, o, path));
    size_t lf, lm;
    unsigned char *f = read_file(path, &lf);
    unsigned char *mem = model_bytes(m, o, &lm);
    ck_assert_uint_eq(lf, lm);
    ck_assert(memcmp(f, mem, lf) == 0);

    mlp_model *b = NULL;
    mlp_optimizer *ob = NULL;
    TU_OK(mlp_model_load_with_optimizer(&b, &ob, path));
    ck_assert_ptr_nonnull(ob);
    ck_assert_int_eq(mlp_optimizer_rule(ob), MLP_RULE_ADAMW);
    double v;
    TU_OK(mlp_optimizer_get(ob, MLP_OPTIM_BETA2, &v));
    ck_assert(v == 0.95);
    ck_assert(mlp_optimizer_learning_rate(ob) == mlp_optimizer_learning_rate(o));
    size_t lb;
    unsigned char *again = model_bytes(b, ob, &lb);
    ck_assert_uint_eq(lb, lf);
    ck_assert_msg(memcmp(again, f, lf) == 0, "load + save changed the bytes");

    /* One more identical step on both. */
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    TU_OK(mlp_model_train_step(b, ob, x, labels, NULL, NULL));
    assert_same_model(m, b, 1, MLP_IN);

    /* A plain load ignores the optimizer, as does a load with optimizer
     * given no place for it; a file without one gives NULL. */
    mlp_model *c = NULL;
    TU_OK(mlp_model_load(&c, path));
    mlp_model_destroy(c);
    TU_OK(mlp_model_load_with_optimizer(&c, NULL, path));
    ck_assert_int_eq(mlp_model_param_count(c), mlp_model_param_count(m));
    mlp_model_destroy(c);
    TU_OK(mlp_model_save(m, path));
    mlp_optimizer *none = (mlp_optimizer *)&v;
    TU_OK(mlp_model_load_with_optimizer(&c, &none, path));
    ck_assert_ptr_null(none);
    mlp_model_destroy(c);

    /* An optimizer of another model is refused. */
    mlp_optimizer_destroy(ob);
    TU_FAIL(mlp_model_save_with_optimizer(b, o, path), MLP_STATUS_INVALID_ARG);
    mlp_tensor_destroy(x);
    free(f);
    free(mem);
    free(again);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(b);
    mlp_model_destroy(m);
    remove_tmp_dir();
}
END_TEST

/* The optimizer's state is written in chunks of 1024 floats: state of
 * several chunks and a partial last one (Adam over 1354 parameters, 2708
 * floats) loads back to the same bytes, and the next step is the same on
 * both. */
START_TEST(optimizer_state_of_several_chunks_round_trips)
{
    static const int32_t in[1] = {40};
    mlp_model *m = tu_model(1, in, 7);
    tu_add(m, tu_dense(30));
    tu_add(m, tu_dense(4));
    ck_assert_int_eq(mlp_model_param_count(m), 40 * 30 + 30 + 30 * 4 + 4);
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    int32_t labels[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    mlp_tensor *x = random_input(8, 1, in, 9);
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    size_t len, again_len;
    unsigned char *b = model_bytes(m, o, &len);
    mlp_model *m2 = NULL;
    mlp_optimizer *o2 = NULL;
    TU_OK(mlp_model_load_mem_with_optimizer(&m2, &o2, b, len));
    unsigned char *again = model_bytes(m2, o2, &again_len);
    ck_assert_msg(again_len == len && memcmp(again, b, len) == 0,
                  "load + save changed the bytes");
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    TU_OK(mlp_model_train_step(m2, o2, x, labels, NULL, NULL));
    assert_same_model(m, m2, 1, in);
    free(b);
    free(again);
    mlp_tensor_destroy(x);
    mlp_optimizer_destroy(o2);
    mlp_model_destroy(m2);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
}
END_TEST

/* An optimizer whose model changed after its creation (a layer added, so
 * other parameters) cannot be saved with it: BAD_STATE, and no file. */
START_TEST(save_optimizer_of_changed_model)
{
    make_tmp_dir();
    const int32_t in[1] = {6};
    mlp_model *m = tu_model(1, in, 3);
    tu_add(m, tu_dense(4));
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    tu_add(m, tu_relu()); /* no new parameters, but a new architecture */
    const char *path = tmp_path("changed.mlpnet");
    TU_FAIL(mlp_model_save_with_optimizer(m, o, path), MLP_STATUS_BAD_STATE);
    TU_ERROR_HAS("mlp_model_save_with_optimizer: layers were added to the model since "
                 "the optimizer was created (layers without parameters: 28 parameters "
                 "then and now)");
    ck_assert_msg(access(path, F_OK) != 0, "a refused save left %s", path);
    void *buf = (void *)&buf;
    size_t len = 123;
    TU_FAIL(mlp_model_save_mem_with_optimizer(m, o, &buf, &len), MLP_STATUS_BAD_STATE);
    TU_ERROR_HAS("mlp_model_save_mem_with_optimizer: layers were added");
    ck_assert_ptr_null(buf);
    tu_add(m, tu_dense(3)); /* and with new parameters */
    TU_FAIL(mlp_model_save_with_optimizer(m, o, path), MLP_STATUS_BAD_STATE);
    TU_ERROR_HAS("(28 parameters then, 43 now)");
    TU_OK(mlp_model_save(m, path)); /* the model alone is fine */
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    remove_tmp_dir();
}
END_TEST

/* ---- compatibility fixtures --------------------------------------------- */

/*
 * Model files written by release 0.1.0 (model format 1), committed under
 * tests/fixtures/model-0.1.0/ by tests/fixtures/make_fixtures.c, with the
 * values recorded when they were written. Every later reader must load
 * them to the same architecture, the same predictions, the same optimizer
 * (rule, keys, schedule) and the same next training step (which uses the
 * optimizer's per-parameter state, step count, and dropout's noise state).
 * A failure here means old files no longer load as they were: do not
 * regenerate the fixtures to make it pass.
 */
static const fx_expected FIXTURES_0_1_0[] = {
#include "fixtures/model-0.1.0/expected.inc"
};

static void fixture_probs(mlp_model *m, const fx_expected *e, const mlp_tensor *x,
                          const float *want, const char *what, double rtol)
{
    mlp_tensor *p = tu_tensor(2, FX_BATCH, e->k);
    TU_OK(mlp_model_predict(m, x, p));
    char label[160];
    snprintf(label, sizeof label, "%s: %s", e->name, what);
    tu_assert_close_ff(label, mlp_tensor_data_const(p), want, (int64_t)FX_BATCH * e->k,
                       rtol, rtol / 10);
    mlp_tensor_destroy(p);
}

START_TEST(fixtures_of_0_1_0_load)
{
    const int n = (int)(sizeof FIXTURES_0_1_0 / sizeof FIXTURES_0_1_0[0]);
    unsigned kinds_seen = 0, rules_seen = 0;
    for (int f = 0; f < n; f++) {
        const fx_expected *e = &FIXTURES_0_1_0[f];
        char path[1024];
        snprintf(path, sizeof path, "%s/fixtures/model-0.1.0/%s.mlpnet", TU_SOURCE_DIR,
                 e->name);
        uint32_t version = 0;
        TU_OK(mlp_model_file_version(path, &version));
        ck_assert_msg(version == 1, "%s: format %u, want 1", e->name, (unsigned)version);
        mlp_model *m = NULL;
        mlp_optimizer *o = NULL;
        TU_OK(mlp_model_load_with_optimizer(&m, &o, path));

        /* the architecture */
        ck_assert_int_eq(mlp_model_layer_count(m), e->n_layers);
        char kinds[256] = "", shapes[256] = "";
        size_t kl = 0, sl = 0;
        for (int l = 0; l < e->n_layers; l++) {
            mlp_layer *layer = mlp_model_layer(m, l);
            kinds_seen |= 1u << mlp_layer_get_kind(layer);
            kl += (size_t)snprintf(kinds + kl, sizeof kinds - kl, "%s%s", l ? " " : "",
                                   mlp_layer_kind_name(layer));
            int rank;
            int32_t dims[MLP_MAX_RANK];
            TU_OK(mlp_model_output_shape(m, l, &rank, dims));
            for (int d = 0; d < rank; d++)
                sl += (size_t)snprintf(shapes + sl, sizeof shapes - sl, "%s%d",
                                       d ? "x" : (l ? " " : ""), (int)dims[d]);
            ck_assert_msg(mlp_layer_param_count(layer) == e->params[l],
                          "%s: layer %d has %lld parameters, want %lld", e->name, l,
                          (long long)mlp_layer_param_count(layer), e->params[l]);
        }
        ck_assert_str_eq(kinds, e->kinds);
        ck_assert_str_eq(shapes, e->shapes);
        ck_assert_int_eq(mlp_model_param_count(m), e->n_params);
        ck_assert_int_eq(mlp_model_state_count(m), e->n_state);

        /* its predictions */
        mlp_tensor *x = tu_tensor(2, FX_BATCH, (int32_t)e->in_size);
        mlp_tensor *xt = tu_tensor(2, FX_TRAIN_BATCH, (int32_t)e->in_size);
        fx_fill_input(mlp_tensor_data(x), FX_BATCH, e->in_size, 0);
        fx_fill_input(mlp_tensor_data(xt), FX_TRAIN_BATCH, e->in_size, 1);
        fixture_probs(m, e, x, e->probs, "predictions", 1e-5);

        /* its optimizer */
        if (e->rule == 0) {
            ck_assert_msg(o == NULL, "%s was saved without an optimizer", e->name);
        } else {
            ck_assert_msg(o != NULL, "%s: the optimizer did not load", e->name);
            rules_seen |= 1u << e->rule;
            ck_assert_int_eq(mlp_optimizer_rule(o), e->rule);
            for (int key = 1; key <= FX_KEYS; key++) {
                double v = -1.0;
                mlp_status st = mlp_optimizer_get(o, (mlp_optim_param)key, &v);
                ck_assert_msg(
                    st == (e->keys[key - 1] < 0 ? MLP_STATUS_UNSUPPORTED : MLP_STATUS_OK),
                    "%s: key %d -> %s", e->name, key, mlp_status_str(st));
                if (st == MLP_STATUS_OK)
                    ck_assert_msg(v == e->keys[key - 1], "%s: key %d = %.17g, want %.17g",
                                  e->name, key, v, e->keys[key - 1]);
            }
            ck_assert_msg(mlp_optimizer_learning_rate(o) == e->lr,
                          "%s: learning rate %.17g, want %.17g", e->name,
                          mlp_optimizer_learning_rate(o), e->lr);
            for (int ep = 0; ep < FX_RATES; ep++) {
                double r;
                TU_OK(mlp_optimizer_scheduled_rate(o, ep, &r));
                ck_assert_msg(tu_close(r, e->rates[ep], 1e-12, 0),
                              "%s: epoch %d rate %.17g, want %.17g", e->name, ep, r,
                              e->rates[ep]);
            }
            /* the next step continues from the saved state */
            int32_t labels[FX_TRAIN_BATCH];
            fx_labels(labels, FX_TRAIN_BATCH, e->k);
            double loss;
            int32_t correct;
            TU_OK(mlp_model_train_step(m, o, xt, labels, &loss, &correct));
            ck_assert_msg(tu_close(loss, e->step_loss, 1e-5, 1e-7),
                          "%s: the next step's loss is %.9g, want %.9g", e->name, loss,
                          e->step_loss);
            ck_assert_int_eq(correct, e->step_correct);
            /* Adam divides by sqrt(v) + 1e-6, so gradients that differ in
             * their last bits between matrix-product implementations move
             * the predictions by up to ~1e-4; a wrong state moves them far
             * more */
            fixture_probs(m, e, x, e->probs_after_step, "predictions after a step", 1e-3);
        }
        mlp_tensor_destroy(xt);
        mlp_tensor_destroy(x);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    /* every layer kind (1..13) and every rule (1..7) is covered */
    ck_assert_msg(kinds_seen == 0x3FFEu, "layer kinds covered: mask 0x%x", kinds_seen);
    ck_assert_msg(rules_seen == 0xFEu, "rules covered: mask 0x%x", rules_seen);
}
END_TEST

START_TEST(arguments_are_checked)
{
    mlp_model *m = tu_model(1, MLP_IN, 1), *out = (mlp_model *)&out;
    void *buf = &buf;
    size_t len = 7;
    uint32_t ver;
    TU_FAIL(mlp_model_save(NULL, "x"), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_save(m, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_save_mem(m, NULL, &len), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_save_mem(NULL, &buf, &len), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    /* with the optimizer too; each out-pointer given is cleared when the
     * other is NULL, and the message names the call made */
    buf = &buf;
    TU_FAIL_MSG(mlp_model_save_mem_with_optimizer(m, NULL, &buf, NULL),
                MLP_STATUS_INVALID_ARG,
                "mlp_model_save_mem_with_optimizer: buf or len is NULL");
    ck_assert_ptr_null(buf);
    len = 7;
    TU_FAIL(mlp_model_save_mem_with_optimizer(m, NULL, NULL, &len),
            MLP_STATUS_INVALID_ARG);
    ck_assert_uint_eq(len, 0);
    buf = &buf;
    len = 7;
    TU_FAIL_MSG(mlp_model_save_mem_with_optimizer(NULL, NULL, &buf, &len),
                MLP_STATUS_INVALID_ARG,
                "mlp_model_save_mem_with_optimizer: model is NULL");
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    buf = &buf;
    TU_FAIL_MSG(mlp_model_save_mem(m, &buf, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_save_mem: buf or len is NULL");
    ck_assert_ptr_null(buf);
    TU_FAIL_MSG(mlp_model_save_with_optimizer(NULL, NULL, "x"), MLP_STATUS_INVALID_ARG,
                "mlp_model_save_with_optimizer: model is NULL");
    TU_FAIL_MSG(mlp_model_save_with_optimizer(m, NULL, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_save_with_optimizer: path is NULL");
    TU_FAIL_MSG(mlp_model_save(m, NULL), MLP_STATUS_INVALID_ARG,
                "mlp_model_save: path is NULL");
    TU_FAIL(mlp_model_load(NULL, "x"), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_load(&out, NULL), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(out);
    /* A refused `out` leaves no stale optimizer pointer behind either. */
    mlp_optimizer *opt = (mlp_optimizer *)&opt;
    TU_FAIL(mlp_model_load_with_optimizer(NULL, &opt, "x"), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(opt);
    opt = (mlp_optimizer *)&opt;
    TU_FAIL(mlp_model_load_mem_with_optimizer(NULL, &opt, &len, 0),
            MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(opt);
    out = (mlp_model *)&out;
    TU_FAIL(mlp_model_load_mem(&out, NULL, 5), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(out);
    TU_FAIL(mlp_model_load(&out, "/nonexistent/dir/model.mlpnet"), MLP_STATUS_IO);
    TU_FAIL(mlp_model_load(&out, "/"), MLP_STATUS_IO);
    TU_FAIL(mlp_model_file_version(NULL, &ver), MLP_STATUS_INVALID_ARG);
    mlp_buffer_free(NULL);
    mlp_model_destroy(m);
}
END_TEST

/* A NULL buffer is a bad argument whatever its length, as a NULL path is
 * for mlp_model_load: it is not an empty model file. */
START_TEST(load_mem_refuses_a_null_buffer)
{
    mlp_model *out = (mlp_model *)&out;
    mlp_optimizer *opt = (mlp_optimizer *)&opt;
    TU_FAIL_MSG(mlp_model_load_mem(&out, NULL, 0), MLP_STATUS_INVALID_ARG,
                "mlp_model_load_mem: buf is NULL");
    ck_assert_ptr_null(out);
    out = (mlp_model *)&out;
    TU_FAIL_MSG(mlp_model_load_mem_with_optimizer(&out, &opt, NULL, 0),
                MLP_STATUS_INVALID_ARG, "mlp_model_load_mem_with_optimizer: buf is NULL");
    ck_assert_ptr_null(out);
    ck_assert_ptr_null(opt);
}
END_TEST

/* An empty path names no file: every save refuses it as a bad argument,
 * saying so, before anything is written (with the path "" the temporary
 * file's name would have been a name in the working directory). */
START_TEST(save_refuses_an_empty_path)
{
    make_tmp_dir();
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmp_dir), 0);
    mlp_model *m = mlp_model_all();
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    mlp_status st[2] = {mlp_model_save(m, ""), mlp_model_save_with_optimizer(m, o, "")};
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mlp_last_error());
    const int left = tu_count_dir_entries(".");
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(st[0], MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(st[1], MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(msg, "mlp_model_save_with_optimizer: path is empty"), "%s", msg);
    ck_assert_int_eq(left, 0);
    TU_FAIL_MSG(mlp_model_save(m, ""), MLP_STATUS_INVALID_ARG,
                "mlp_model_save: path is empty");
    /* The argument is checked before the model: even a model that cannot be
     * saved gets the message about its path. */
    TU_FAIL_MSG(mlp_model_save(NULL, ""), MLP_STATUS_INVALID_ARG, "path is empty");
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    remove_tmp_dir();
}
END_TEST

/* The loaders refuse an empty path as the savers do, as a bad argument
 * named in the message, rather than as a file that cannot be opened. */
START_TEST(loads_refuse_an_empty_path)
{
    mlp_model *m = (mlp_model *)&m;
    mlp_optimizer *o = (mlp_optimizer *)&o;
    TU_FAIL_MSG(mlp_model_load(&m, ""), MLP_STATUS_INVALID_ARG,
                "mlp_model_load: path is empty");
    ck_assert_ptr_null(m);
    m = (mlp_model *)&m;
    TU_FAIL_MSG(mlp_model_load_with_optimizer(&m, &o, ""), MLP_STATUS_INVALID_ARG,
                "mlp_model_load_with_optimizer: path is empty");
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(o);
    uint32_t version = 7;
    TU_FAIL_MSG(mlp_model_file_version("", &version), MLP_STATUS_INVALID_ARG,
                "mlp_model_file_version: path is empty");
    ck_assert_uint_eq(version, 0);
    mlp_dataset *ds = (mlp_dataset *)&ds;
    TU_FAIL_MSG(mlp_dataset_load_npz(&ds, "", 0), MLP_STATUS_INVALID_ARG,
                "mlp_dataset_load_npz: path is empty");
    ck_assert_ptr_null(ds);
}
END_TEST

/* ---- resumed training ---------------------------------------------------- */

static const int32_t BLOB[3] = {1, 4, 5};

static mlp_model *resume_model(void)
{
    mlp_model *m = tu_model(3, BLOB, 7);
    tu_add(m, tu_dense(16));
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_batchnorm(&l));
    tu_add(m, l);
    tu_add(m, tu_relu());
    TU_OK(mlp_layer_create_dropout(&l, 0.8f));
    tu_add(m, l);
    tu_add(m, tu_dense(4));
    return m;
}

static mlp_optimizer *resume_optimizer(mlp_model *m, mlp_rule rule)
{
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, rule, m));
    TU_OK(mlp_optimizer_set_learning_rate(o, rule == MLP_RULE_ADAM ? 0.01 : 0.05));
    TU_OK(mlp_optimizer_schedule_step(o, 1, 0.7));
    return o;
}

static void fit(mlp_model *m, mlp_optimizer *o, const mlp_dataset *train,
                const mlp_dataset *valid, int32_t first, int32_t epochs)
{
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = epochs;
    fo.first_epoch = first;
    fo.batch_size = 16;
    fo.seed = 99;
    TU_OK(mlp_model_fit(m, o, train, valid, &fo));
}

static void resume_case(mlp_rule rule)
{
    make_tmp_dir();
    mlp_dataset *train = tu_blobs(150, 4, 1, 4, 5, 30.0, 4242, 1);
    mlp_dataset *valid = tu_blobs(40, 4, 1, 4, 5, 30.0, 4242, 2);

    mlp_model *a = resume_model();
    mlp_optimizer *oa = resume_optimizer(a, rule);
    fit(a, oa, train, valid, 1, 4);

    mlp_model *b = resume_model();
    mlp_optimizer *ob = resume_optimizer(b, rule);
    fit(b, ob, train, valid, 1, 2);
    const char *path = tmp_path("resume.mlpnet");
    TU_OK(mlp_model_save_with_optimizer(b, ob, path));
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(b);

    mlp_model *c = NULL;
    mlp_optimizer *oc = NULL;
    TU_OK(mlp_model_load_with_optimizer(&c, &oc, path));
    ck_assert_ptr_nonnull(oc);
    fit(c, oc, train, valid, 3, 2);

    int64_t n = mlp_model_param_count(a);
    ck_assert_int_eq(n, mlp_model_param_count(c));
    for (int i = 0; i < mlp_model_layer_count(a); i++) {
        mlp_layer *la = mlp_model_layer(a, i), *lc = mlp_model_layer(c, i);
        if (mlp_layer_param_count(la))
            ck_assert_msg(memcmp(mlp_layer_params(la), mlp_layer_params(lc),
                                 sizeof(float) * (size_t)mlp_layer_param_count(la)) == 0,
                          "layer %d: resumed parameters differ", i);
        if (mlp_layer_state_count(la))
            ck_assert_msg(memcmp(mlp_layer_state(la), mlp_layer_state(lc),
                                 sizeof(float) * (size_t)mlp_layer_state_count(la)) == 0,
                          "layer %d: resumed state differs", i);
    }
    ck_assert(mlp_optimizer_learning_rate(oa) == mlp_optimizer_learning_rate(oc));
    /* The whole training state, optimizer included, ends identical. */
    size_t la, lc;
    unsigned char *ba = model_bytes(a, oa, &la), *bc = model_bytes(c, oc, &lc);
    ck_assert_uint_eq(la, lc);
    ck_assert(memcmp(ba, bc, la) == 0);
    free(ba);
    free(bc);
    mlp_optimizer_destroy(oa);
    mlp_optimizer_destroy(oc);
    mlp_model_destroy(a);
    mlp_model_destroy(c);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(valid);
    remove_tmp_dir();
}

START_TEST(resume_adam_equals_uninterrupted)
{
    resume_case(MLP_RULE_ADAM);
}
END_TEST

START_TEST(resume_momentum_equals_uninterrupted)
{
    resume_case(MLP_RULE_MOMENTUM);
}
END_TEST

/* ---- corrupt files ----------------------------------------------------- */

/* The model of small_file: dense, batch norm (a STAT record), ELU, on 3
 * inputs. */
static mlp_model *small_file_model(void)
{
    const int32_t in[1] = {3};
    mlp_model *m = tu_model(1, in, 3);
    tu_add(m, tu_dense(2));
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_batchnorm(&l));
    tu_add(m, l);
    tu_add(m, tu_elu(1.0f));
    return m;
}

/* A small model with every record kind (OPTM included). */
static unsigned char *small_file(size_t *len)
{
    mlp_model *m = small_file_model();
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
    unsigned char *b = model_bytes(m, o, len);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return b;
}

START_TEST(every_flipped_byte_is_refused)
{
    size_t len;
    unsigned char *b = small_file(&len);
    ck_assert_int_eq(try_load_mem(b, len), MLP_STATUS_OK);
    for (size_t i = 0; i < len; i++) {
        for (int k = 0; k < 2; k++) {
            unsigned char mask = k ? 0xFF : 0x01;
            b[i] ^= mask;
            mlp_status st = try_load_mem(b, len);
            ck_assert_msg(st == MLP_STATUS_BAD_FORMAT || st == MLP_STATUS_UNSUPPORTED,
                          "byte %zu ^ 0x%02x: status %d (%s)", i, mask, (int)st,
                          mlp_last_error());
            b[i] ^= mask;
        }
    }
    free(b);
}
END_TEST

START_TEST(every_truncation_is_refused)
{
    size_t len;
    unsigned char *b = small_file(&len);
    for (size_t n = 0; n < len; n++) {
        unsigned char *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, b, n);
        TU_FAIL(try_load_mem(copy, n), MLP_STATUS_BAD_FORMAT);
        free(copy);
    }
    free(b);
}
END_TEST

START_TEST(appended_bytes_are_refused)
{
    size_t len;
    unsigned char *b = small_file(&len);
    unsigned char *big = calloc(len + 64, 1);
    memcpy(big, b, len);
    const size_t extra[] = {1, 4, 16, 64};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        TU_FAIL(try_load_mem(big, len + extra[i]), MLP_STATUS_BAD_FORMAT);
        ck_assert_msg(strstr(mlp_last_error(), "after the END record"), "%s",
                      mlp_last_error());
    }
    /* A second END record (a well-formed one) is refused too. */
    memcpy(big + len, b + len - 16, 16);
    TU_FAIL(try_load_mem(big, len + 16), MLP_STATUS_BAD_FORMAT);
    free(big);
    free(b);
}
END_TEST

/* What a load reads, a save writes again byte for byte: the generator
 * states of NOIS each in its place, and the class weights of the default
 * loss, for which alone a LOSS record is written. */
START_TEST(load_then_save_gives_the_same_bytes)
{
    for (int weighted = 0; weighted < 2; weighted++) {
        mlp_model *m = small_file_model();
        mlp_optimizer *o = NULL;
        TU_OK(mlp_optimizer_create(&o, MLP_RULE_MOMENTUM, m));
        if (weighted) {
            const float w[2] = {0.5f, 2.0f};
            const char *names[2] = {"no", "yes"};
            TU_OK(mlp_model_set_class_weights(m, w, 2));
            TU_OK(mlp_model_set_class_names(m, names, 2));
        }
        size_t len = 0, len2 = 0;
        unsigned char *b = model_bytes(m, o, &len);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
        /* LOSS: name length, name, parameter, then the weights' count */
        const size_t loss = tu_find_record(b, len, "LOSS", 0);
        ck_assert_msg(weighted ? loss > 0 : loss == 0, "case %d: LOSS at %zu", weighted,
                      loss);
        if (weighted) {
            const size_t k = b[loss + 12];
            ck_assert_uint_eq(b[loss + 12 + 6 + k], 2);
        }
        TU_OK(mlp_model_load_mem_with_optimizer(&m, &o, b, len));
        ck_assert_int_eq(mlp_model_get_loss(m, NULL), MLP_LOSS_SOFTMAX_XENT);
        unsigned char *again = model_bytes(m, o, &len2);
        ck_assert_uint_eq(len2, len);
        ck_assert_msg(memcmp(again, b, len) == 0, "case %d: the bytes differ", weighted);
        free(again);
        free(b);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
}
END_TEST

/* Tags: a record whose tag starts with a lower-case letter, 'a' to 'z', is
 * ancillary and skipped; one that starts with a space is no tag at all. */
START_TEST(ancillary_tags_from_a_to_z)
{
    size_t len;
    unsigned char *b = small_file(&len);
    size_t nois = tu_find_record(b, len, "NOIS", 0);
    unsigned char *c = malloc(len + 20);
    memcpy(c, b, nois);
    wr64(c + nois + 4, 4);
    memcpy(c + nois + 12, "abcd", 4);
    memcpy(c + nois + 20, b + nois, len - nois);
    const char *skipped[3] = {"abcd", "zzzz", "a   "};
    for (int i = 0; i < 3; i++) {
        memcpy(c + nois, skipped[i], 4);
        tu_fix_crcs(c, len + 20);
        ck_assert_msg(try_load_mem(c, len + 20) == MLP_STATUS_OK, "'%s': %s", skipped[i],
                      mlp_last_error());
    }
    memcpy(c + nois, " bcd", 4);
    tu_fix_crcs(c, len + 20);
    TU_FAIL_MSG(try_load_mem(c, len + 20), MLP_STATUS_BAD_FORMAT,
                "not a record tag (bytes 20 62 63 64)");
    free(c);
    free(b);
}
END_TEST

/* A file that holds the magic but not the whole version: its version is
 * not read from beyond its end. */
START_TEST(version_of_a_truncated_preamble)
{
    make_tmp_dir();
    size_t len;
    unsigned char *b = small_file(&len);
    for (size_t n = 8; n < 12; n++) {
        write_file(tmp_path("short"), b, n);
        uint32_t v = 7;
        TU_FAIL_MSG(mlp_model_file_version(tmp_path("short"), &v), MLP_STATUS_BAD_FORMAT,
                    "truncated preamble");
        ck_assert_uint_eq(v, 0);
    }
    free(b);
    remove_tmp_dir();
}
END_TEST

START_TEST(bad_preambles)
{
    size_t len;
    unsigned char *b = small_file(&len);
    b[1] = 'X';
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "magic"), "%s", mlp_last_error());
    b[1] = 'M';
    wr32(b + 8, MLP_MODEL_FORMAT_VERSION + 1);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_UNSUPPORTED);
    ck_assert_msg(strstr(mlp_last_error(), "newer"), "%s", mlp_last_error());
    wr32(b + 8, 0);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    free(b);

    /* mlp_model_file_version reads the version of newer files too. */
    make_tmp_dir();
    b = small_file(&len);
    wr32(b + 8, 7);
    write_file(tmp_path("v7"), b, len);
    uint32_t v = 0;
    TU_OK(mlp_model_file_version(tmp_path("v7"), &v));
    ck_assert_uint_eq(v, 7);
    mlp_model *m = NULL;
    TU_FAIL(mlp_model_load(&m, tmp_path("v7")), MLP_STATUS_UNSUPPORTED);
    write_file(tmp_path("short"), b, 5);
    TU_FAIL(mlp_model_file_version(tmp_path("short"), &v), MLP_STATUS_BAD_FORMAT);
    free(b);
    remove_tmp_dir();
}
END_TEST

/* A file of 0 bytes (a save that never happened, a truncated copy) is
 * named as empty rather than as one with the wrong magic. */
START_TEST(empty_files_are_named)
{
    make_tmp_dir();
    const char *path = tmp_path("empty.mlpnet");
    write_file(path, "", 0);
    uint32_t v = 7;
    TU_FAIL_MSG(mlp_model_file_version(path, &v), MLP_STATUS_BAD_FORMAT,
                "is empty (0 bytes)");
    TU_ERROR_HAS(path);
    ck_assert_uint_eq(v, 0);
    mlp_model *m = (mlp_model *)&m;
    TU_FAIL_MSG(mlp_model_load(&m, path), MLP_STATUS_BAD_FORMAT, "is empty (0 bytes)");
    TU_ERROR_HAS("mlp_model_load: ");
    ck_assert_ptr_null(m);
    mlp_optimizer *o = (mlp_optimizer *)&o;
    TU_FAIL_MSG(mlp_model_load_with_optimizer(&m, &o, path), MLP_STATUS_BAD_FORMAT,
                "is empty (0 bytes)");
    ck_assert_ptr_null(o);
    const unsigned char none[1] = {0};
    TU_FAIL_MSG(mlp_model_load_mem(&m, none, 0), MLP_STATUS_BAD_FORMAT,
                "model buffer is empty (0 bytes)");
    /* One byte is no longer empty: the magic is wrong. */
    write_file(path, "x", 1);
    TU_FAIL_MSG(mlp_model_file_version(path, &v), MLP_STATUS_BAD_FORMAT, "wrong magic");
    TU_FAIL_MSG(mlp_model_load(&m, path), MLP_STATUS_BAD_FORMAT, "wrong magic");
    remove_tmp_dir();
}
END_TEST

START_TEST(checksum_mismatch_is_named)
{
    size_t len;
    unsigned char *b = small_file(&len);
    size_t parm = tu_find_record(b, len, "PARM", 0);
    ck_assert_uint_gt(parm, 0);
    b[parm + 12 + 8] ^= 0x40; /* first parameter */
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "checksum mismatch in record 'PARM'") &&
                      strstr(mlp_last_error(), "byte offset"),
                  "%s", mlp_last_error());
    free(b);
}
END_TEST

/* Semantic corruption behind valid checksums. */
START_TEST(unknown_kind_and_records)
{
    size_t len;
    unsigned char *b = small_file(&len);
    size_t layr = tu_find_record(b, len, "LAYR", 2); /* elu */
    ck_assert_uint_gt(layr, 0);
    ck_assert(memcmp(b + layr + 12 + 40, "elu", 3) == 0);
    memcpy(b + layr + 12 + 40, "ulu", 3);
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "unknown layer kind 'ulu'"), "%s",
                  mlp_last_error());
    memcpy(b + layr + 12 + 40, "ELU", 3); /* not a valid name character */
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    /* a name that only starts a kind's name is not that kind: "el", its
     * length 2 (the 'u' then starts the configuration, one byte too long) */
    memcpy(b + layr + 12 + 40, "elu", 3);
    b[layr + 12 + 38] = 2;
    b[layr + 12 + 39] = 0;
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "unknown layer kind 'el'"), "%s",
                  mlp_last_error());
    free(b);

    /* An unknown critical record is refused; an ancillary one is skipped. */
    /* Records shorter than their fixed part or their count says, the
     * framing around them intact: a LAYR record without its kind name, a
     * PARM record without its count, a PARM record one value short. */
    const struct {
        const char *tag;
        int64_t keep; /* payload bytes kept; < 0: that many fewer */
        const char *says;
    } cuts[] = {{"LAYR", 40, "LAYR record of 40 bytes is shorter than 41"},
                {"PARM", 7, "record 'PARM' is shorter than its count"},
                {"PARM", -4, "record 'PARM' has 52 payload bytes; it must have 56"},
                {"STAT", -4, "record 'STAT' has 20 payload bytes; it must have 24"}};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        b = small_file(&len);
        const size_t at = tu_find_record(b, len, cuts[i].tag, 0);
        ck_assert_uint_gt(at, 0);
        const uint64_t had = rd64(b + at + 4);
        len = tu_cut_record(b, len, at,
                            cuts[i].keep < 0 ? had - (uint64_t)-cuts[i].keep
                                             : (uint64_t)cuts[i].keep);
        tu_fix_crcs(b, len);
        TU_FAIL_MSG(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT, cuts[i].says);
        free(b);
    }
    /* A rule of another number of state arrays than the record holds:
     * momentum's record (one array) read as SGD's (none). */
    b = small_file(&len);
    size_t optm = tu_find_record(b, len, "OPTM", 0);
    wr32(b + optm + 12, MLP_RULE_SGD);
    tu_fix_crcs(b, len);
    TU_FAIL_MSG(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT,
                "rule sgd keeps 0 state arrays, the record 1");
    free(b);
    b = small_file(&len);
    size_t nois = tu_find_record(b, len, "NOIS", 0);
    unsigned char *c = malloc(len + 20);
    memcpy(c, b, nois);
    memcpy(c + nois, "XTRA", 4);
    wr64(c + nois + 4, 4);
    memcpy(c + nois + 12, "abcd", 4);
    memcpy(c + nois + 20, b + nois, len - nois);
    tu_fix_crcs(c, len + 20);
    TU_FAIL(try_load_mem(c, len + 20), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "unknown record 'XTRA'"), "%s",
                  mlp_last_error());
    memcpy(c + nois, "xtra", 4);
    tu_fix_crcs(c, len + 20);
    TU_OK(try_load_mem(c, len + 20));
    free(c);
    free(b);
}
END_TEST

START_TEST(sizes_that_disagree_are_refused)
{
    size_t len;
    unsigned char *b;
    /* HEAD: parameter count one off, absurd counts, absurd layer count. */
    /* (counts too large for the file are refused before any layer is read) */
    const struct {
        size_t at; /* offset in the HEAD payload */
        uint64_t value;
        int wide;
        const char *says;
    } head_edits[] = {{20, 0, 1, "left of the header's totals"},
                      {20, 1ull << 60, 1, "cannot fit"},
                      {28, 1ull << 40, 1, "cannot fit"},
                      {16, 0xFFFFFFFFu, 0, "4294967295 layers cannot fit"},
                      {16, 2, 0, ""},
                      {0, 0, 0, "input rank 0"},
                      {0, 4, 0, "input rank 4"},
                      {8, 5, 0, "beyond rank"}};
    for (size_t i = 0; i < sizeof head_edits / sizeof head_edits[0]; i++) {
        b = small_file(&len);
        unsigned char *p = b + 12 + 12 + head_edits[i].at;
        if (head_edits[i].wide)
            wr64(p, head_edits[i].value);
        else
            wr32(p, (uint32_t)head_edits[i].value);
        tu_fix_crcs(b, len);
        TU_FAIL_MSG(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT, head_edits[i].says);
        free(b);
    }
    /* Counts each too large for the file, whose sum (a u64) wraps to 4. */
    b = small_file(&len);
    wr64(b + 12 + 12 + 20, UINT64_MAX - 3);
    wr64(b + 12 + 12 + 28, 8);
    tu_fix_crcs(b, len);
    TU_FAIL_MSG(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT,
                "18446744073709551612 parameters and 8 state values cannot fit");
    free(b);
    /* LAYR: a dense layer of 2^28 units (2^30 parameters) must be refused
     * before anything is allocated for it. */
    b = small_file(&len);
    size_t layr = tu_find_record(b, len, "LAYR", 0);
    wr32(b + layr + 12 + 40 + 5, 1u << 28);
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    /* ... and so must its declared count, changed to match. */
    wr64(b + layr + 12 + 4, (uint64_t)1 << 30);
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    free(b);
    /* A configuration the creators refuse, and a newer configuration version. */
    b = small_file(&len);
    layr = tu_find_record(b, len, "LAYR", 2); /* elu: alpha */
    unsigned char saved[4];
    memcpy(saved, b + layr + 12 + 43, 4);
    wr32(b + layr + 12 + 43, 0xBF800000u); /* -1.0f */
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "alpha"), "%s", mlp_last_error());
    memcpy(b + layr + 12 + 43, saved, 4);
    b[layr + 12 + 36] = 2;
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_UNSUPPORTED);
    free(b);
    /* A stored output shape that disagrees; a layer index out of order. */
    b = small_file(&len);
    layr = tu_find_record(b, len, "LAYR", 1);
    b[layr + 12 + 24] ^= 1;
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    b[layr + 12 + 24] ^= 1;
    b[layr + 12] = 5;
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    free(b);
    /* OPTM: wrong rule, wrong count, a rate out of range; all-zero generator. */
    const size_t optm_edits[] = {0, 4, 8, 24 + 16};
    for (size_t i = 0; i < sizeof optm_edits / sizeof optm_edits[0]; i++) {
        b = small_file(&len);
        size_t optm = tu_find_record(b, len, "OPTM", 0);
        ck_assert_uint_gt(optm, 0);
        if (optm_edits[i] == 24 + 16)
            wr64(b + optm + 12 + optm_edits[i], 0x3FF0000000000000ull); /* momentum 1.0 */
        else
            wr32(b + optm + 12 + optm_edits[i], 99);
        tu_fix_crcs(b, len);
        TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
        free(b);
    }
    b = small_file(&len);
    size_t nois = tu_find_record(b, len, "NOIS", 0);
    memset(b + nois + 12 + 32, 0, 32);
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    free(b);
}
END_TEST

/* conv2d configurations behind valid checksums: use_bias not 0 or 1, an
 * unknown configuration version, a size that is not the version's. */
START_TEST(conv2d_bad_configurations_are_refused)
{
    const int32_t in[3] = {1, 5, 5};
    mlp_model *m = tu_model(3, in, 41);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_conv2d(&l, 1, 2, 3, 3));
    tu_add(m, l);
    TU_OK(mlp_layer_create_conv2d(&l, 0, 2, 2, 2));
    TU_OK(mlp_layer_set_use_bias(l, 0));
    tu_add(m, l);
    size_t len;
    unsigned char *orig = model_bytes(m, NULL, &len);
    mlp_model_destroy(m);
    unsigned char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    for (int rec = 0; rec < 2; rec++) {
        const size_t at = tu_find_record(orig, len, "LAYR", rec);
        ck_assert_uint_eq(conv_record_version(orig, at), 2);
        ck_assert_uint_eq(rd32(orig + at + CONV_USE_BIAS_AT), rec ? 0u : 1u);
        /* use_bias other than 0 or 1: BAD_FORMAT naming the field */
        static const uint32_t bad_bias[] = {2, 0xFFFFFFFFu, 0x100u};
        for (size_t i = 0; i < sizeof bad_bias / sizeof bad_bias[0]; i++) {
            memcpy(b, orig, len);
            wr32(b + at + CONV_USE_BIAS_AT, bad_bias[i]);
            tu_fix_crcs(b, len);
            TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
            ck_assert_msg(strstr(mlp_last_error(), "use_bias"), "%s", mlp_last_error());
        }
        /* configuration versions 0, 3 and above: UNSUPPORTED, as for any kind */
        static const uint16_t bad_version[] = {0, 3, 0x100, 0xFFFF};
        for (size_t i = 0; i < sizeof bad_version / sizeof bad_version[0]; i++) {
            memcpy(b, orig, len);
            b[at + CONV_VERSION_AT] = (unsigned char)bad_version[i];
            b[at + CONV_VERSION_AT + 1] = (unsigned char)(bad_version[i] >> 8);
            tu_fix_crcs(b, len);
            TU_FAIL(try_load_mem(b, len), MLP_STATUS_UNSUPPORTED);
            char want[64];
            snprintf(want, sizeof want, "configuration version %u is not one",
                     (unsigned)bad_version[i]);
            ck_assert_msg(strstr(mlp_last_error(), want) &&
                              strstr(mlp_last_error(), "1..2"),
                          "%s", mlp_last_error());
        }
        /* version 1 with version 2's 44 bytes, and version 2 with 40 */
        memcpy(b, orig, len);
        b[at + CONV_VERSION_AT] = 1;
        tu_fix_crcs(b, len);
        TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
        ck_assert_msg(strstr(mlp_last_error(), "44 bytes; version 1 has 40"), "%s",
                      mlp_last_error());
        memcpy(b, orig, len);
        size_t n = len;
        conv_record_to_version_1(b, &n, at);
        b[at + CONV_VERSION_AT] = 2;
        tu_fix_crcs(b, n);
        TU_FAIL(try_load_mem(b, n), MLP_STATUS_BAD_FORMAT);
        ck_assert_msg(strstr(mlp_last_error(), "40 bytes; version 2 has 44"), "%s",
                      mlp_last_error());
    }
    /* Every byte of the conv records changed behind valid checksums: no
     * crash, leak or partial model, whatever the loader decides. */
    const size_t first = tu_find_record(orig, len, "LAYR", 0);
    const size_t last = tu_find_record(orig, len, "PARM", 0);
    for (size_t i = first; i < last; i++) {
        for (int k = 0; k < 3; k++) {
            memcpy(b, orig, len);
            b[i] ^= (unsigned char)(k == 0 ? 0x01 : k == 1 ? 0x80 : 0xFF);
            tu_fix_crcs(b, len);
            try_load_mem(b, len);
        }
    }
    free(b);
    free(orig);
}
END_TEST

/* Pool, reshape and dense configurations behind valid checksums: each field
 * outside its range is refused by the loader, naming the field. */
START_TEST(layer_configurations_out_of_range)
{
    const int32_t in[3] = {2, 4, 4}, to[3] = {2, 1, 9};
    mlp_model *m = tu_model(3, in, 43);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_avgpool(&l, 2, 2, 1, 0)); /* [2,3,3] */
    tu_add(m, l);
    tu_add(m, tu_reshape(3, to));
    TU_OK(mlp_layer_create_global_avgpool(&l)); /* [2] */
    tu_add(m, l);
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(3));
    size_t len;
    unsigned char *b = model_bytes(m, NULL, &len);
    TU_OK(try_load_mem(b, len));
    free(b);
    const struct {
        int rec;          /* LAYR record */
        const char *kind; /* its kind name; the configuration follows it */
        size_t at;        /* offset in the configuration */
        uint32_t value;
        const char *needle;
    } edits[] = {
        {0, "avgpool", 0, 2, "global = 2 is not 0 or 1"},
        {1, "reshape", 0, 4, "target rank 4 is outside 0..3"},
        {2, "avgpool", 4, 3, "a global average pool stores a zero window, not 3"},
        {3, "reshape", 4, 2, "target extent 0 beyond rank 0 is 2, not 0"},
        {4, "dense", 4, 2, "use_bias = 2 is not 0 or 1"},
        {0, "avgpool", 16, 2, "padding 2 does not fit a 2x2 window"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        b = model_bytes(m, NULL, &len);
        const size_t at = tu_find_record(b, len, "LAYR", edits[i].rec);
        const size_t k = strlen(edits[i].kind);
        ck_assert(memcmp(b + at + 12 + 40, edits[i].kind, k) == 0);
        wr32(b + at + 12 + 40 + k + edits[i].at, edits[i].value);
        tu_fix_crcs(b, len);
        TU_FAIL_MSG(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT, edits[i].needle);
        free(b);
    }
    mlp_model_destroy(m);

    /* Max pooling's padding, the same rule (its configuration: kh, kw,
     * stride, pad). */
    m = tu_model(3, (const int32_t[]){1, 4, 4}, 44);
    TU_OK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0));
    tu_add(m, l);
    b = model_bytes(m, NULL, &len);
    TU_OK(try_load_mem(b, len));
    const size_t at = tu_find_record(b, len, "LAYR", 0);
    ck_assert(memcmp(b + at + 12 + 40, "maxpool", 7) == 0);
    wr32(b + at + 12 + 40 + 7 + 12, 2);
    tu_fix_crcs(b, len);
    TU_FAIL_MSG(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT,
                "padding 2 does not fit a 2x2 window");
    free(b);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(flipped_bytes_behind_valid_checksums_never_crash)
{
    /* Every byte changed and the CRCs recomputed: whatever the loader
     * decides, it must not crash, leak or return a partial model. */
    size_t len;
    unsigned char *b = small_file(&len);
    int ok = 0, refused = 0;
    for (size_t i = 12; i < len; i++) {
        for (int k = 0; k < 3; k++) {
            unsigned char mask = (unsigned char)(k == 0 ? 0x01 : k == 1 ? 0x80 : 0xFF);
            unsigned char *c = malloc(len);
            memcpy(c, b, len);
            c[i] ^= mask;
            tu_fix_crcs(c, len);
            if (try_load_mem(c, len) == MLP_STATUS_OK)
                ok++;
            else
                refused++;
            free(c);
        }
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_gt(ok, 0); /* parameter values may change freely */
    free(b);
}
END_TEST

/* Values no model holds, behind valid checksums: a NaN or an infinity among
 * the parameters or the state, and state its layer's kind never holds. */

/* standardize [4] -> dense 3 -> batch norm -> dense 2: both kinds with state. */
static mlp_model *stateful_model(void)
{
    const int32_t in[1] = {4};
    mlp_model *m = tu_model(1, in, 23);
    mlp_layer *l = NULL;
    TU_OK(mlp_layer_create_standardize(&l));
    tu_add(m, l);
    tu_add(m, tu_dense(3));
    TU_OK(mlp_layer_create_batchnorm(&l));
    tu_add(m, l);
    tu_add(m, tu_dense(2));
    return m;
}

/* Offset in the file of value `index` of layer `layer`'s slice in PARM
 * (state 0) or STAT (state 1), from the counts of the layers before it. */
static size_t value_at(mlp_model *m, const unsigned char *b, size_t len, int state,
                       int layer, int64_t index)
{
    size_t at = tu_find_record(b, len, state ? "STAT" : "PARM", 0);
    ck_assert_uint_gt(at, 0);
    int64_t before = 0;
    for (int i = 0; i < layer; i++) {
        mlp_layer *l = mlp_model_layer(m, i);
        before += state ? mlp_layer_state_count(l) : mlp_layer_param_count(l);
    }
    return at + 12 + 8 + 4 * (size_t)(before + index);
}

static void wr_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    wr32(p, u);
}

START_TEST(values_no_model_holds_are_refused)
{
    mlp_model *m = stateful_model();
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    size_t len;
    unsigned char *orig = model_bytes(m, o, &len);
    mlp_optimizer_destroy(o);
    unsigned char *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    /* Layers: 0 standardize (state: 4 means, 4 scales), 1 dense (15
     * parameters), 2 batchnorm (gamma [3], beta [3]; state: running mean
     * [3], running variance [3]), 3 dense (8 parameters). */
    const struct {
        int state, layer;
        int64_t index;
        float value;
        const char *says;
    } cases[] = {
        {0, 1, 4, NAN, "layer 1 (dense): parameter 4 is NaN"},
        {0, 2, 1, INFINITY, "layer 2 (batchnorm): parameter 1 is +infinity"},
        {0, 3, 7, -INFINITY, "layer 3 (dense): parameter 7 is -infinity"},
        {1, 0, 1, NAN, "layer 0 (standardize): state value 1 is NaN"},
        {1, 0, 6, INFINITY, "layer 0 (standardize): state value 6 is +infinity"},
        {1, 0, 6, 0.0f, "layer 0 (standardize): state value 6 is 0; a scale must be > 0"},
        {1, 0, 6, -0.0f,
         "layer 0 (standardize): state value 6 is -0; a scale must be > 0"},
        {1, 0, 5, -2.0f,
         "layer 0 (standardize): state value 5 is -2; a scale must be > 0"},
        {1, 2, 0, NAN, "layer 2 (batchnorm): state value 0 is NaN"},
        {1, 2, 4, NAN, "layer 2 (batchnorm): state value 4 is NaN"},
        {1, 2, 5, -5.0f,
         "layer 2 (batchnorm): state value 5 is -5; a running variance must be >= 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(b, orig, len);
        const size_t at =
            value_at(m, b, len, cases[i].state, cases[i].layer, cases[i].index);
        wr_f32(b + at, cases[i].value);
        tu_fix_crcs(b, len);
        TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT); /* with optimizer */
        char want[200];
        snprintf(want, sizeof want, "byte offset %zu: %s", at, cases[i].says);
        ck_assert_msg(strstr(mlp_last_error(), want), "case %zu: %s", i,
                      mlp_last_error());
    }

    /* Values at the edge of what a layer holds load unchanged: a running
     * variance of 0 or -0 (a constant channel) and a tiny positive scale. */
    const struct {
        int layer;
        int64_t index;
        float value;
    } edges[] = {{2, 5, 0.0f}, {2, 4, -0.0f}, {0, 7, 1e-38f}, {0, 0, -3e38f}};
    memcpy(b, orig, len);
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        wr_f32(b + value_at(m, b, len, 1, edges[i].layer, edges[i].index),
               edges[i].value);
    tu_fix_crcs(b, len);
    mlp_model *back = NULL;
    TU_OK(mlp_model_load_mem(&back, b, len));
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        const float got =
            mlp_layer_state(mlp_model_layer(back, edges[i].layer))[edges[i].index];
        ck_assert_msg(memcmp(&got, &edges[i].value, sizeof got) == 0, "edge %zu: %g", i,
                      (double)got);
    }
    mlp_model_destroy(back);

    /* The other loaders refuse such a file the same way, returning nothing. */
    memcpy(b, orig, len);
    wr_f32(b + value_at(m, b, len, 1, 2, 3), -5.0f);
    tu_fix_crcs(b, len);
    back = (mlp_model *)b;
    TU_FAIL_MSG(mlp_model_load_mem(&back, b, len), MLP_STATUS_BAD_FORMAT,
                "a running variance must be >= 0");
    ck_assert_ptr_null(back);
    make_tmp_dir();
    write_file(tmp_path("negative_variance"), b, len);
    back = (mlp_model *)b;
    TU_FAIL_MSG(mlp_model_load(&back, tmp_path("negative_variance")),
                MLP_STATUS_BAD_FORMAT, "layer 2 (batchnorm): state value 3 is -5");
    ck_assert_ptr_null(back);
    mlp_optimizer *bo = (mlp_optimizer *)b;
    back = (mlp_model *)b;
    TU_FAIL_MSG(mlp_model_load_with_optimizer(&back, &bo, tmp_path("negative_variance")),
                MLP_STATUS_BAD_FORMAT, "layer 2 (batchnorm): state value 3 is -5");
    ck_assert_ptr_null(back);
    ck_assert_ptr_null(bo);
    remove_tmp_dir();
    mlp_model_destroy(m);
    free(b);
    free(orig);
}
END_TEST

/* ---- failing saves ------------------------------------------------------- */

/* The file at `path` must hold exactly `want` (`len` bytes), and the
 * directory nothing else: no temporary file left behind. */
static void assert_file_is(const char *path, const unsigned char *want, size_t len)
{
    size_t n = 0;
    unsigned char *now = read_file(path, &n);
    ck_assert_msg(n == len && memcmp(now, want, len) == 0, "%s changed", path);
    free(now);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
}

/* What a load refuses is not saved: a model whose training diverged (NaN
 * or infinite parameters) saved with OK to a file that no load took, and
 * so did a negative running variance written through mlp_layer_state.
 * Every saver now refuses such a model, writing nothing: an earlier file
 * at the path is untouched, no temporary file is left, no buffer made. */
START_TEST(save_refuses_values_a_load_refuses)
{
    make_tmp_dir();
    mlp_model *m = stateful_model();
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, m));
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("model.mlpn"));
    TU_OK(mlp_model_save(m, path));
    size_t len0;
    unsigned char *before = read_file(path, &len0);
    /* Layers as in values_no_model_holds_are_refused. */
    const tu_bad_value cases[] = {
        {0, 1, 4, NAN, MLP_STATUS_NUMERIC,
         "mlp_model_save: layer 1 (dense): parameter 4 is NaN; a model holds finite "
         "values only (nothing was saved)"},
        {0, 3, 7, -INFINITY, MLP_STATUS_NUMERIC,
         "mlp_model_save: layer 3 (dense): parameter 7 is -infinity"},
        {1, 2, 1, INFINITY, MLP_STATUS_NUMERIC,
         "mlp_model_save: layer 2 (batchnorm): state value 1 is +infinity"},
        {1, 2, 5, -5.0f, MLP_STATUS_INVALID_ARG,
         "mlp_model_save: layer 2 (batchnorm): state value 5 is -5; a running variance "
         "must be >= 0 (nothing was saved)"},
        {1, 0, 6, 0.0f, MLP_STATUS_INVALID_ARG,
         "mlp_model_save: layer 0 (standardize): state value 6 is 0; a scale must be > "
         "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float *v = tu_layer_value(m, &cases[i]);
        const float keep = *v;
        *v = cases[i].value;
        TU_FAIL_MSG(mlp_model_save(m, path), cases[i].st, cases[i].says);
        assert_file_is(path, before, len0);
        TU_FAIL(mlp_model_save_with_optimizer(m, o, path), cases[i].st);
        TU_ERROR_HAS("mlp_model_save_with_optimizer: layer ");
        assert_file_is(path, before, len0);
        /* a new path: no file at all */
        TU_FAIL(mlp_model_save(m, tmp_path("new.mlpn")), cases[i].st);
        ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
        void *buf = (void *)1;
        size_t len = 1;
        TU_FAIL(mlp_model_save_mem(m, &buf, &len), cases[i].st);
        TU_ERROR_HAS("mlp_model_save_mem: layer ");
        ck_assert_ptr_null(buf);
        ck_assert_uint_eq(len, 0);
        buf = (void *)1;
        TU_FAIL(mlp_model_save_mem_with_optimizer(m, o, &buf, &len), cases[i].st);
        ck_assert_ptr_null(buf);
        *v = keep;
    }
    /* Values at the edge save and load back: a running variance of 0, a
     * tiny scale. */
    mlp_layer_state(mlp_model_layer(m, 2))[5] = 0.0f;
    mlp_layer_state(mlp_model_layer(m, 0))[7] = 1e-38f;
    TU_OK(mlp_model_save_with_optimizer(m, o, path));
    mlp_model *back = NULL;
    TU_OK(mlp_model_load(&back, path));
    ck_assert_float_eq(mlp_layer_state(mlp_model_layer(back, 2))[5], 0.0f);
    ck_assert_float_eq(mlp_layer_state(mlp_model_layer(back, 0))[7], 1e-38f);
    mlp_model_destroy(back);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    free(before);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    remove_tmp_dir();
}
END_TEST

/* Class names or weights set for a last layer that a later layer
 * replaced: a save or an export refuses the model (the file it wrote
 * before was one a load refused), until they are set again. */
START_TEST(save_refuses_class_counts_of_another_layer)
{
    const int32_t in[1] = {4};
    const char *const names[3] = {"a", "b", "c"};
    const float w[3] = {1.0f, 2.0f, 1.0f};
    void *buf = NULL;
    size_t len = 0;
    for (int what = 0; what < 2; what++) {
        mlp_model *m = tu_model(1, in, 1);
        tu_add(m, tu_dense(3));
        if (what == 0)
            TU_OK(mlp_model_set_class_names(m, names, 3));
        else
            TU_OK(mlp_model_set_class_weights(m, w, 3));
        TU_OK(mlp_model_save_mem(m, &buf, &len));
        mlp_buffer_free(buf);
        tu_add(m, tu_dense(5));
        TU_FAIL(mlp_model_save_mem(m, &buf, &len), MLP_STATUS_SHAPE_MISMATCH);
        ck_assert_msg(strstr(mlp_last_error(), what ? "3 class weights but 5 outputs"
                                                    : "3 class names but 5 outputs"),
                      "%s", mlp_last_error());
        ck_assert_ptr_null(buf);
        TU_FAIL(mlp_model_export_onnx_mem(m, &buf, &len), MLP_STATUS_SHAPE_MISMATCH);
        const char *const five[5] = {"a", "b", "c", "d", "e"};
        const float w5[5] = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
        if (what == 0)
            TU_OK(mlp_model_set_class_names(m, five, 5));
        else
            TU_OK(mlp_model_set_class_weights(m, w5, 5));
        TU_OK(mlp_model_save_mem(m, &buf, &len));
        mlp_model *back = NULL;
        TU_OK(mlp_model_load_mem(&back, buf, len));
        mlp_buffer_free(buf);
        mlp_model_destroy(back);
        mlp_model_destroy(m);
    }
}
END_TEST

/* A save replaces a regular file only: a FIFO or a directory at the path
 * is refused and left as it was (a rename over /dev/null by root had
 * replaced the device with a file); a symbolic link to a file is followed,
 * the file replaced and the link kept; a link to nothing is refused. */
START_TEST(save_replaces_only_regular_files)
{
    make_tmp_dir();
    mlp_model *small = mlp_model_all(), *big = conv_model();
    char fifo[512], dir[512], target[512], link_path[512], dangling[512];
    snprintf(fifo, sizeof fifo, "%s", tmp_path("fifo"));
    snprintf(dir, sizeof dir, "%s", tmp_path("dir.mlpnet"));
    snprintf(target, sizeof target, "%s", tmp_path("target.mlpnet"));
    snprintf(link_path, sizeof link_path, "%s", tmp_path("link.mlpnet"));
    snprintf(dangling, sizeof dangling, "%s", tmp_path("dangling.mlpnet"));
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    struct stat sb;
    const char *not_files[2] = {fifo, dir};
    for (int i = 0; i < 2; i++) {
        TU_FAIL(mlp_model_save(small, not_files[i]), MLP_STATUS_IO);
        ck_assert_msg(strstr(mlp_last_error(), "not a regular file"), "%s",
                      mlp_last_error());
        TU_FAIL(mlp_model_export_onnx(small, not_files[i]), MLP_STATUS_IO);
    }
    ck_assert_int_eq(lstat(fifo, &sb), 0);
    ck_assert(S_ISFIFO(sb.st_mode));
    ck_assert_int_eq(lstat(dir, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));

    /* through a link: the file it names is replaced, the link stays */
    TU_OK(mlp_model_save(small, target));
    ck_assert_int_eq(symlink("target.mlpnet", link_path), 0);
    TU_OK(mlp_model_save(big, link_path));
    ck_assert_int_eq(lstat(link_path, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    mlp_model *back = NULL;
    TU_OK(mlp_model_load(&back, target));
    ck_assert_int_eq(mlp_model_param_count(back), mlp_model_param_count(big));
    mlp_model_destroy(back);

    /* a link to nothing */
    ck_assert_int_eq(symlink("missing.mlpnet", dangling), 0);
    TU_FAIL(mlp_model_save(small, dangling), MLP_STATUS_IO);
    ck_assert_msg(strstr(mlp_last_error(), "symbolic link"), "%s", mlp_last_error());
    ck_assert_int_eq(lstat(dangling, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    /* fifo, dir, target, link, dangling: no temporary file, no missing.mlpnet */
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 5);
    mlp_model_destroy(small);
    mlp_model_destroy(big);
    remove_tmp_dir();
}
END_TEST

/* Descriptors open in this process, or -1 without /proc/self/fd. */
static int open_fds(void)
{
    return access("/proc/self/fd", F_OK) == 0 ? tu_count_dir_entries("/proc/self/fd")
                                              : -1;
}

/* The readers take regular files only and find out without waiting: a
 * plain open(2) of a FIFO blocks until a writer opens the other end, and
 * no test opens it, so a reader that still waited would hang here until
 * the timeout of this test case (a short one) failed it. The refusal keeps
 * no descriptor and returns no object. */
START_TEST(loads_refuse_a_fifo)
{
    make_tmp_dir();
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s", tmp_path("fifo"));
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    long live = mlp__alloc_live();
    int fds = open_fds();

    mlp_model *m = (mlp_model *)&m;
    TU_FAIL_MSG(mlp_model_load(&m, fifo), MLP_STATUS_IO, "not a regular file");
    TU_ERROR_HAS(fifo);
    ck_assert_ptr_null(m);
    m = (mlp_model *)&m;
    mlp_optimizer *opt = (mlp_optimizer *)&opt;
    TU_FAIL_MSG(mlp_model_load_with_optimizer(&m, &opt, fifo), MLP_STATUS_IO,
                "not a regular file");
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(opt);
    uint32_t version = 7;
    TU_FAIL_MSG(mlp_model_file_version(fifo, &version), MLP_STATUS_IO,
                "not a regular file");
    ck_assert_uint_eq(version, 0);
    mlp_dataset *ds = (mlp_dataset *)&ds;
    TU_FAIL_MSG(mlp_dataset_load_npz(&ds, fifo, 0), MLP_STATUS_IO,
                "not a readable regular file");
    ck_assert_ptr_null(ds);

    ck_assert_int_eq(open_fds(), fds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    remove_tmp_dir();
}
END_TEST

/* mlp_model_save with the file-size limit at 300 bytes, as on a full disk:
 * a write beyond them fails (EFBIG; SIGXFSZ ignored). */
static mlp_status save_with_300_bytes_allowed(const mlp_model *m, const char *path)
{
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 300;
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    mlp_status st = mlp_model_save(m, path);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    return st;
}

START_TEST(failed_save_leaves_earlier_file)
{
    make_tmp_dir();
    mlp_model *small = mlp_model_all(), *big = conv_model();
    const char *p = tmp_path("model.mlpnet");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    TU_OK(mlp_model_save(small, path));
    size_t n0, n1;
    unsigned char *before = read_file(path, &n0);

    /* A read-only directory (only meaningful when not root). */
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(tmp_dir, 0555), 0);
        TU_FAIL(mlp_model_save(big, path), MLP_STATUS_IO);
        ck_assert_int_eq(chmod(tmp_dir, 0755), 0);
        unsigned char *after = read_file(path, &n1);
        ck_assert_uint_eq(n0, n1);
        ck_assert(memcmp(before, after, n0) == 0);
        free(after);
    }
    /* A directory that is a regular file fails for root too. */
    char bogus[600];
    snprintf(bogus, sizeof bogus, "%s/model.mlpnet", path);
    TU_FAIL(mlp_model_save(big, bogus), MLP_STATUS_IO);
    ck_assert_msg(strstr(mlp_last_error(), "temporary"), "%s", mlp_last_error());

    /* A full disk: the file-size limit makes write(2) fail with EFBIG. */
    mlp_status st = save_with_300_bytes_allowed(big, path);
    ck_assert_msg(st == MLP_STATUS_IO, "save beyond the size limit: %d (%s)", (int)st,
                  mlp_last_error());
    ck_assert_msg(strstr(mlp_last_error(), "cannot write"), "%s", mlp_last_error());
    unsigned char *after = read_file(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert(memcmp(before, after, n0) == 0);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1); /* no temporary file left */
    free(after);

    /* A save that works replaces the file and keeps its permissions. */
    ck_assert_int_eq(chmod(path, 0640), 0);
    TU_OK(mlp_model_save(big, path));
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);
    mlp_model *back = NULL;
    TU_OK(mlp_model_load(&back, path));
    ck_assert_int_eq(mlp_model_layer_count(back), mlp_model_layer_count(big));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    mlp_model_destroy(back);
    free(before);
    mlp_model_destroy(small);
    mlp_model_destroy(big);
    remove_tmp_dir();
}
END_TEST

/* A new file gets the permissions open(2) gives: 0666 less the umask (a
 * temporary file from mkstemp kept 0600, and a new file was made 0644 under
 * any umask, readable by all under 077); each save leaves one file. */
START_TEST(new_file_follows_the_umask)
{
    make_tmp_dir();
    mlp_model *m = mlp_model_all();
    static const mode_t masks[] = {022, 077, 027, 002};
    const mode_t was = umask(022);
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        umask(masks[i]);
        char path[512], onnx[512];
        snprintf(path, sizeof path, "%s", tmp_path("new.mlpnet"));
        snprintf(onnx, sizeof onnx, "%s", tmp_path("new.onnx"));
        TU_OK(mlp_model_save(m, path));
        TU_OK(mlp_model_export_onnx(m, onnx));
        const char *files[] = {path, onnx};
        for (int f = 0; f < 2; f++) {
            struct stat sb;
            ck_assert_int_eq(stat(files[f], &sb), 0);
            ck_assert_msg((sb.st_mode & 0777) == (0666 & ~masks[i]),
                          "%s under umask %03o: mode %03o", files[f], (unsigned)masks[i],
                          (unsigned)(sb.st_mode & 0777));
            ck_assert_int_eq(unlink(files[f]), 0);
        }
        ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 0);
    }
    umask(was);
    mlp_model_destroy(m);
    remove_tmp_dir();
}
END_TEST

/* A writer killed in the middle of a save (here by SIGXFSZ, the file-size
 * limit's default action) leaves the earlier file intact and its temporary
 * file under the documented name DIR/.mlpnet-tmp.XXXXXX; a later save that
 * works leaves no temporary of its own. */
START_TEST(killed_save_leaves_a_recognisable_temporary)
{
    make_tmp_dir();
    mlp_model *small = mlp_model_all(), *big = conv_model();
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("model.mlpnet"));
    TU_OK(mlp_model_save(small, path));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    size_t n0, n1;
    unsigned char *before = read_file(path, &n0);

    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* not needed here: valgrind's leak check of the killed child
         * reported it lost */
        free(before);
        struct rlimit lim = {0, 0};
        setrlimit(RLIMIT_CORE, &lim);
        getrlimit(RLIMIT_FSIZE, &lim);
        lim.rlim_cur = 300;
        setrlimit(RLIMIT_FSIZE, &lim);
        signal(SIGXFSZ, SIG_DFL);
        mlp_model_save(big, path);
        _exit(0); /* not reached: the write beyond 300 bytes kills us */
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ,
                  "the writer was not killed by SIGXFSZ (status %d)", status);

    unsigned char *after = read_file(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert(memcmp(before, after, n0) == 0);
    free(after);
    free(before);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 2);
    DIR *d = opendir(tmp_dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    int named = 0;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, ".mlpnet-tmp.", 12) == 0 && strlen(e->d_name) == 12 + 6)
            named++;
    closedir(d);
    ck_assert_int_eq(named, 1);

    TU_OK(mlp_model_save(big, path));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 2); /* the new save left none */
    mlp_model_destroy(small);
    mlp_model_destroy(big);
    remove_tmp_dir();
}
END_TEST

/* The temporary file's name does not grow with the target's: a name of the
 * longest length the file system allows (255 bytes on most) saves, replaces
 * and exports like any other, and leaves no temporary file. */
START_TEST(save_to_the_longest_name)
{
    make_tmp_dir();
    const long name_max = pathconf(tmp_dir, _PC_NAME_MAX);
    const size_t n = name_max > 0 && name_max < 255 ? (size_t)name_max : 255;
    char name[256], path[512];
    memset(name, 'm', n);
    memcpy(name + n - 7, ".mlpnet", 7);
    name[n] = '\0';
    snprintf(path, sizeof path, "%s", tmp_path(name));
    mlp_model *small = small_file_model(), *big = conv_model();
    mlp_optimizer *o = NULL;
    TU_OK(mlp_optimizer_create(&o, MLP_RULE_ADAM, small));
    /* relative to the working directory (a path without a slash), then
     * absolute */
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmp_dir), 0);
    const mlp_status rel = mlp_model_save(small, name);
    ck_assert_int_eq(chdir(cwd), 0);
    TU_OK(rel);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    TU_OK(mlp_model_save(small, path));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    TU_OK(mlp_model_save_with_optimizer(small, o, path));
    mlp_model *back = NULL;
    mlp_optimizer *ob = NULL;
    TU_OK(mlp_model_load_with_optimizer(&back, &ob, path));
    ck_assert_ptr_nonnull(ob);
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(back);
    TU_OK(mlp_model_save(big, path)); /* replaces it */
    TU_OK(mlp_model_load(&back, path));
    ck_assert_int_eq(mlp_model_layer_count(back), mlp_model_layer_count(big));
    mlp_model_destroy(back);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);

    /* A failed save into it (the write refused beyond 300 bytes) leaves the
     * file as it was and removes its temporary file. */
    size_t n0, n1;
    unsigned char *before = read_file(path, &n0);
    TU_FAIL(save_with_300_bytes_allowed(big, path), MLP_STATUS_IO);
    unsigned char *after = read_file(path, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert(memcmp(before, after, n0) == 0);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    free(before);
    free(after);

    /* The ONNX exporter writes through the same path. */
    memcpy(name + n - 7, ".onnx\0", 6);
    snprintf(path, sizeof path, "%s", tmp_path(name));
    TU_OK(mlp_model_export_onnx(big, path));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 2);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(small);
    mlp_model_destroy(big);
    remove_tmp_dir();
}
END_TEST

/* ---- allocation failures --------------------------------------------------- */

typedef struct oom_io {
    const char *path;           /* a saved model with an Adam optimizer */
    const unsigned char *bytes; /* its contents */
    size_t len;
    int via_file; /* load from the path, not from memory */
    mlp_model *m, *out;
    mlp_optimizer *o, *oo;
} oom_io;

static mlp_status oom_load(void *ctx)
{
    oom_io *c = ctx;
    c->out = NULL;
    c->oo = NULL;
    if (c->via_file)
        return mlp_model_load_with_optimizer(&c->out, &c->oo, c->path);
    return mlp_model_load_mem_with_optimizer(&c->out, &c->oo, c->bytes, c->len);
}

static void oom_loaded(void *ctx, mlp_status st)
{
    oom_io *c = ctx;
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(c->out);
        ck_assert_ptr_null(c->oo);
        return;
    }
    ck_assert_ptr_nonnull(c->oo);
    /* A load that succeeds dropped nothing (an allocation that failed
     * quietly): saved again, the model and optimizer give the same bytes. */
    void *again = NULL;
    size_t len = 0;
    TU_OK(mlp_model_save_mem_with_optimizer(c->out, c->oo, &again, &len));
    ck_assert_msg(len == c->len && memcmp(again, c->bytes, len) == 0,
                  "a load under allocation failures saves %zu other bytes (of %zu)", len,
                  c->len);
    mlp_buffer_free(again);
    mlp_optimizer_destroy(c->oo);
    mlp_model_destroy(c->out);
}

static mlp_status oom_save(void *ctx)
{
    oom_io *c = ctx;
    return mlp_model_save_with_optimizer(c->m, c->o, c->path);
}

START_TEST(oom_loop_over_load_and_save)
{
    make_tmp_dir();
    oom_io c = {.m = conv_model()};
    /* the task's records too: the loader copies the weights and names */
    TU_OK(mlp_model_set_class_weights(c.m, (const float[]){1.0f, 0.5f, 2.0f}, 3));
    TU_OK(mlp_model_set_class_names(c.m, (const char *const[]){"oak", "elm", "ash"}, 3));
    TU_OK(mlp_optimizer_create(&c.o, MLP_RULE_ADAM, c.m));
    const char *p = tmp_path("oom.mlpnet");
    char path[512];
    snprintf(path, sizeof path, "%s", p);
    c.path = path;
    TU_OK(mlp_model_save_with_optimizer(c.m, c.o, path));
    unsigned char *b = read_file(path, &c.len);
    c.bytes = b;
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.min_failures = 5;
    cfg.after = oom_loaded;
    for (c.via_file = 0; c.via_file < 2; c.via_file++)
        tu_oom_loop(c.via_file ? "load from a file" : "load from memory", oom_load, &c,
                    &cfg);
    tu_oom_cfg_init(&cfg);
    cfg.min_failures = 0;
    tu_oom_loop("save", oom_save, &c, &cfg);
    free(b);
    mlp_optimizer_destroy(c.o);
    mlp_model_destroy(c.m);
    remove_tmp_dir();
}
END_TEST

/* ---- .npz fixtures --------------------------------------------------------- */

typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void put16(bytes *b, uint32_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, x, 2);
}

static void put32(bytes *b, uint32_t v)
{
    unsigned char x[4];
    wr32(x, v);
    put(b, x, 4);
}

static void put64(bytes *b, uint64_t v)
{
    unsigned char x[8];
    wr64(x, v);
    put(b, x, 8);
}

/* A .npy array with this header dict, padded to a multiple of 64, then the
 * data. */
static bytes npy_dict(const char *dict, const void *data, size_t n, int version)
{
    int len = (int)strlen(dict);
    size_t pre = version == 1 ? 10 : 12;
    size_t total = pre + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    bytes b = {0};
    put(&b, "\x93NUMPY", 6);
    unsigned char v[2] = {(unsigned char)version, 0};
    put(&b, v, 2);
    if (version == 1)
        put16(&b, (uint32_t)(len + pad + 1));
    else
        put32(&b, (uint32_t)(len + pad + 1));
    put(&b, dict, (size_t)len);
    for (size_t i = 0; i < pad; i++)
        put(&b, " ", 1);
    put(&b, "\n", 1);
    put(&b, data, n);
    return b;
}

/* A .npy array: the usual header dict, then the data. */
static bytes npy(const char *descr, const char *shape, const void *data, size_t n,
                 int version)
{
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
             descr, shape);
    return npy_dict(dict, data, n, version);
}

typedef struct zmember {
    const char *name;
    bytes data;
    int deflate; /* 2: deflated, with a stray byte after the deflate stream */
} zmember;

enum { ZIP_PLAIN = 0, ZIP_64 = 1 };

/* A zip archive of the members, as np.savez(_compressed) writes one; with
 * ZIP_64, ZIP64 extra fields everywhere and a ZIP64 end record. */
static bytes make_zip(const zmember *ms, int n, int flags)
{
    bytes z = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        const bytes *d = &ms[i].data;
        unsigned char *comp = NULL;
        size_t clen = d->n;
        if (ms[i].deflate) {
            z_stream s;
            memset(&s, 0, sizeof s);
            ck_assert_int_eq(deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY),
                             Z_OK);
            clen = deflateBound(&s, (uLong)d->n);
            comp = malloc(clen + 1);
            s.next_in = d->p;
            s.avail_in = (uInt)d->n;
            s.next_out = comp;
            s.avail_out = (uInt)clen;
            ck_assert_int_eq(deflate(&s, Z_FINISH), Z_STREAM_END);
            clen = s.total_out;
            deflateEnd(&s);
            if (ms[i].deflate == 2)
                comp[clen++] = 0;
        }
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), d->p, (uInt)d->n);
        uint32_t off = (uint32_t)z.n;
        uint16_t nlen = (uint16_t)strlen(ms[i].name);
        int z64 = flags & ZIP_64;
        put32(&z, 0x04034b50u);
        put16(&z, z64 ? 45 : 20);
        put16(&z, 0);
        put16(&z, ms[i].deflate ? 8 : 0);
        put16(&z, 0);
        put16(&z, 0x21);
        put32(&z, crc);
        put32(&z, z64 ? 0xFFFFFFFFu : (uint32_t)clen);
        put32(&z, z64 ? 0xFFFFFFFFu : (uint32_t)d->n);
        put16(&z, nlen);
        put16(&z, z64 ? 20 : 0);
        put(&z, ms[i].name, nlen);
        if (z64) {
            put16(&z, 1);
            put16(&z, 16);
            put64(&z, d->n);
            put64(&z, clen);
        }
        put(&z, comp ? comp : d->p, clen);
        free(comp);

        put32(&cd, 0x02014b50u);
        put16(&cd, 45);
        put16(&cd, z64 ? 45 : 20);
        put16(&cd, 0);
        put16(&cd, ms[i].deflate ? 8 : 0);
        put16(&cd, 0);
        put16(&cd, 0x21);
        put32(&cd, crc);
        put32(&cd, z64 ? 0xFFFFFFFFu : (uint32_t)clen);
        put32(&cd, z64 ? 0xFFFFFFFFu : (uint32_t)d->n);
        put16(&cd, nlen);
        put16(&cd, z64 ? 28 : 0);
        put16(&cd, 0);
        put16(&cd, 0);
        put16(&cd, 0);
        put32(&cd, 0);
        put32(&cd, z64 ? 0xFFFFFFFFu : off);
        put(&cd, ms[i].name, nlen);
        if (z64) {
            put16(&cd, 1);
            put16(&cd, 24);
            put64(&cd, d->n);
            put64(&cd, clen);
            put64(&cd, off);
        }
    }
    uint64_t cd_off = z.n;
    put(&z, cd.p, cd.n);
    if (flags & ZIP_64) {
        uint64_t z64_off = z.n;
        put32(&z, 0x06064b50u);
        put64(&z, 44);
        put16(&z, 45);
        put16(&z, 45);
        put32(&z, 0);
        put32(&z, 0);
        put64(&z, (uint64_t)n);
        put64(&z, (uint64_t)n);
        put64(&z, cd.n);
        put64(&z, cd_off);
        put32(&z, 0x07064b50u);
        put32(&z, 0);
        put64(&z, z64_off);
        put32(&z, 1);
    }
    put32(&z, 0x06054b50u);
    put16(&z, 0);
    put16(&z, 0);
    put16(&z, flags & ZIP_64 ? 0xFFFF : (uint32_t)n);
    put16(&z, flags & ZIP_64 ? 0xFFFF : (uint32_t)n);
    put32(&z, flags & ZIP_64 ? 0xFFFFFFFFu : (uint32_t)cd.n);
    put32(&z, flags & ZIP_64 ? 0xFFFFFFFFu : (uint32_t)cd_off);
    put16(&z, 0);
    free(cd.p);
    return z;
}

static void free_members(zmember *ms, int n)
{
    for (int i = 0; i < n; i++)
        free(ms[i].data.p);
}

/* Pixels p(i) = (7 i + 3) mod 256 and labels i mod 5, for N images of D. */
static bytes u8_inputs(int n, const char *shape, int d)
{
    unsigned char *px = malloc((size_t)(n * d));
    for (int i = 0; i < n * d; i++)
        px[i] = (unsigned char)((7 * i + 3) % 256);
    bytes b = npy("|u1", shape, px, (size_t)(n * d), 1);
    free(px);
    return b;
}

static bytes i64_targets(int n, const char *shape)
{
    unsigned char *t = malloc((size_t)n * 8);
    for (int i = 0; i < n; i++)
        wr64(t + 8 * i, (uint64_t)(i % 5));
    bytes b = npy("<i8", shape, t, (size_t)n * 8, 1);
    free(t);
    return b;
}

static mlp_status load_npz_mem(const bytes *z, int32_t k, mlp_dataset **out)
{
    long live = mlp__alloc_live();
    *out = (mlp_dataset *)&live;
    mlp_status st = mlp__dataset_load_npz_mem(out, z->p, z->n, k);
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(*out);
        ck_assert_int_eq(mlp__alloc_live(), live);
        ck_assert(mlp_last_error()[0] != '\0');
    }
    return st;
}

static void assert_u8_dataset(const mlp_dataset *ds, int n, int c, int h, int w)
{
    ck_assert_int_eq(mlp_dataset_size(ds), n);
    ck_assert_int_eq(mlp_dataset_channels(ds), c);
    ck_assert_int_eq(mlp_dataset_height(ds), h);
    ck_assert_int_eq(mlp_dataset_width(ds), w);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 5);
    int d = c * h * w;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(mlp_dataset_label(ds, i), i % 5);
        const uint8_t *px = mlp_dataset_image(ds, i);
        for (int j = 0; j < d; j++)
            ck_assert_int_eq(px[j], (7 * (i * d + j) + 3) % 256);
    }
}

START_TEST(npz_stored_and_deflated)
{
    for (int variant = 0; variant < 4; variant++) {
        int deflate = variant & 1, flags = variant & 2 ? ZIP_64 : ZIP_PLAIN;
        zmember ms[3] = {{"other.npy", u8_inputs(2, "(2, 3)", 3), 0},
                         {"targets.npy", i64_targets(7, "(7,)"), deflate},
                         {"inputs.npy", u8_inputs(7, "(7, 4, 6)", 24), deflate}};
        bytes z = make_zip(ms, 3, flags);
        mlp_dataset *ds = NULL;
        TU_OK(load_npz_mem(&z, 0, &ds));
        assert_u8_dataset(ds, 7, 1, 4, 6);
        mlp_dataset_destroy(ds);
        free(z.p);
        free_members(ms, 3);
    }
}
END_TEST

START_TEST(npz_shapes_dtypes_and_files)
{
    make_tmp_dir();
    /* float32 [N, 9] (square: 1x3x3), deflated, labels int32; values k/255. */
    float f[4 * 9];
    unsigned char fb[sizeof f];
    for (int i = 0; i < 36; i++) {
        f[i] = (float)((i * 11) % 256) / 255.0f;
        uint32_t u;
        memcpy(&u, &f[i], 4);
        wr32(fb + 4 * i, u);
    }
    unsigned char t32[16];
    for (int i = 0; i < 4; i++)
        wr32(t32 + 4 * i, (uint32_t)(3 - i));
    zmember ms[2] = {{"inputs.npy", npy("<f4", "(4, 9)", fb, sizeof fb, 2), 1},
                     {"targets.npy", npy("<i4", "(4,)", t32, sizeof t32, 3), 0}};
    bytes z = make_zip(ms, 2, ZIP_PLAIN);
    write_file(tmp_path("f32.npz"), z.p, z.n);
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_load_npz(&ds, tmp_path("f32.npz"), 10));
    ck_assert_int_eq(mlp_dataset_channels(ds), 1);
    ck_assert_int_eq(mlp_dataset_height(ds), 3);
    ck_assert_int_eq(mlp_dataset_width(ds), 3);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 10);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(mlp_dataset_label(ds, i), 3 - i);
        for (int j = 0; j < 9; j++)
            ck_assert_int_eq(mlp_dataset_image(ds, i)[j], ((i * 9 + j) * 11) % 256);
    }
    mlp_dataset_destroy(ds);
    free(z.p);
    free_members(ms, 2);

    /* float64 big-endian [N, 5] (not square: 1x1x5), stored, labels uint8, file path. */
    unsigned char d8[3 * 5 * 8];
    for (int i = 0; i < 15; i++) {
        double v = i / 14.0;
        uint64_t u;
        memcpy(&u, &v, 8);
        for (int k = 0; k < 8; k++)
            d8[8 * i + k] = (unsigned char)(u >> (56 - 8 * k));
    }
    unsigned char lab[3] = {2, 0, 1};
    zmember ms2[2] = {{"inputs.npy", npy(">f8", "(3L, 5L)", d8, sizeof d8, 1), 0},
                      {"targets.npy", npy("|u1", "(3,)", lab, 3, 1), 1}};
    z = make_zip(ms2, 2, ZIP_64);
    write_file(tmp_path("f64.npz"), z.p, z.n);
    TU_OK(mlp_dataset_load_npz(&ds, tmp_path("f64.npz"), 0));
    ck_assert_int_eq(mlp_dataset_height(ds), 1);
    ck_assert_int_eq(mlp_dataset_width(ds), 5);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
    ck_assert_int_eq(mlp_dataset_image(ds, 2)[4], 255);
    ck_assert_int_eq(mlp_dataset_image(ds, 0)[0], 0);
    ck_assert_int_eq(mlp_dataset_image(ds, 1)[2], (int)(7.0 / 14.0 * 255.0 + 0.5));
    mlp_dataset_destroy(ds);
    free(z.p);
    free_members(ms2, 2);

    TU_FAIL(mlp_dataset_load_npz(&ds, tmp_path("missing.npz"), 0), MLP_STATUS_IO);
    TU_FAIL(mlp_dataset_load_npz(&ds, tmp_dir, 0), MLP_STATUS_IO);
    TU_FAIL(mlp_dataset_load_npz(NULL, tmp_path("f64.npz"), 0), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_load_npz(&ds, tmp_path("f64.npz"), -1), MLP_STATUS_INVALID_ARG);
    remove_tmp_dir();
}
END_TEST

/* One corrupt variant: an archive of these two .npy members (inputs
 * deflated, targets stored), which must load with `want`. */
static void npz_expect_npy(bytes inputs, bytes targets, int32_t k, mlp_status want,
                           const char *needle)
{
    zmember ms[2] = {{"inputs.npy", inputs, 1}, {"targets.npy", targets, 0}};
    bytes z = make_zip(ms, 2, ZIP_PLAIN);
    mlp_dataset *ds = NULL;
    mlp_status st = load_npz_mem(&z, k, &ds);
    ck_assert_msg(st == want, "%d, want %d (%s)", (int)st, (int)want, mlp_last_error());
    if (needle)
        ck_assert_msg(strstr(mlp_last_error(), needle), "'%s' not in: %s", needle,
                      mlp_last_error());
    mlp_dataset_destroy(ds);
    free(z.p);
    free_members(ms, 2);
}

/* The same, with the usual header dicts built from these parts. */
static void npz_expect(const char *in_descr, const char *in_shape, const void *in_data,
                       size_t in_n, const char *t_descr, const char *t_shape,
                       const void *t_data, size_t t_n, int32_t k, mlp_status want,
                       const char *needle)
{
    npz_expect_npy(npy(in_descr, in_shape, in_data, in_n, 1),
                   npy(t_descr, t_shape, t_data, t_n, 1), k, want, needle);
}

START_TEST(npz_bad_contents)
{
    unsigned char px[4 * 4] = {0}, lab8[4 * 8] = {0};
    unsigned char f2[4 * 4 * 4] = {0};
    const uint32_t neg = 0xFFFFFFFFu, two = 0x40000000u;
    /* dtypes */
    npz_expect("<i2", "(4, 2)", px, 16, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "dtype");
    npz_expect("<c8", "(4, 4)", px, 16, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "dtype");
    npz_expect("|u1", "(4, 4)", px, 16, "<f8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "integer");
    /* shapes */
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "(3,)", lab8, 24, 0, MLP_STATUS_BAD_FORMAT,
               "match");
    npz_expect("|u1", "(16,)", px, 16, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "rank");
    npz_expect("|u1", "(4, 5)", px, 16, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "bytes");
    npz_expect("|u1", "(0, 4)", px, 0, "<i8", "(0,)", lab8, 0, 0, MLP_STATUS_BAD_FORMAT,
               NULL);
    npz_expect("|u1", "(4, 99999999999999999999)", px, 16, "<i8", "(4,)", lab8, 32, 0,
               MLP_STATUS_BAD_FORMAT, "header");
    /* values */
    memcpy(f2 + 20, &two, 4); /* 2.0f */
    npz_expect("<f4", "(4, 4)", f2, 64, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "outside [0, 1]");
    unsigned char labs[16] = {0};
    memcpy(labs + 8, &neg, 4);
    npz_expect("|u1", "(4, 4)", px, 16, "<i4", "(4,)", labs, 16, 0, MLP_STATUS_BAD_FORMAT,
               "label -1");
    lab8[8] = 9;
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "(4,)", lab8, 32, 5, MLP_STATUS_BAD_FORMAT,
               "label 9");
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_OK, NULL);
    /* a scalar for the targets: rank 0, no labels */
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "()", lab8, 8, 0, MLP_STATUS_BAD_FORMAT,
               "shape of rank 0 with 0 labels; want [4]");
}
END_TEST

/* A small valid archive (six 4x4 images; the inputs deflated or stored),
 * which must load, and its members in ms. */
static bytes six_image_zip(zmember ms[2], int deflate)
{
    ms[0] = (zmember){"inputs.npy", u8_inputs(6, "(6, 16)", 16), deflate};
    ms[1] = (zmember){"targets.npy", i64_targets(6, "(6,)"), 0};
    bytes z = make_zip(ms, 2, ZIP_PLAIN);
    mlp_dataset *ds = NULL;
    TU_OK(load_npz_mem(&z, 0, &ds));
    mlp_dataset_destroy(ds);
    return z;
}

START_TEST(npz_bad_archives)
{
    zmember ms[2];
    bytes z = six_image_zip(ms, 1);
    mlp_dataset *ds = NULL;

    /* Every truncation and every flipped byte: refused or harmless, never a
     * crash or a leak. Flips in member data are caught by the CRC-32. */
    for (size_t n = 0; n < z.n; n++) {
        bytes t = {malloc(n ? n : 1), n, n};
        memcpy(t.p, z.p, n);
        ck_assert_int_ne(load_npz_mem(&t, 0, &ds), MLP_STATUS_OK);
        free(t.p);
    }
    for (size_t i = 0; i < z.n; i++) {
        z.p[i] ^= 0x55;
        if (load_npz_mem(&z, 0, &ds) == MLP_STATUS_OK)
            mlp_dataset_destroy(ds);
        z.p[i] ^= 0x55;
    }

    /* The targets member is stored: a changed label byte breaks its CRC. */
    unsigned char *hit = NULL;
    for (size_t i = 0; i + 6 < z.n; i++)
        if (memcmp(z.p + i, "\x93NUMPY", 6) == 0)
            hit = z.p + i; /* the last one: the stored targets member */
    ck_assert_ptr_nonnull(hit);
    hit[ms[1].data.n - 8] ^= 1;
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "CRC-32 mismatch"), "%s", mlp_last_error());
    hit[ms[1].data.n - 8] ^= 1;
    /* The bad .npy magic in the stored member. */
    hit[1] = 'X';
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "magic"), "%s", mlp_last_error());
    hit[1] = 'N';

    /* Central directory edits: absurd sizes, encryption, other methods,
     * a missing member. The first entry is inputs.npy. */
    size_t cd = rd32(z.p + z.n - 22 + 16);
    ck_assert_uint_eq(rd32(z.p + cd), 0x02014b50u);
    unsigned char saved[64];
    memcpy(saved, z.p + cd, sizeof saved);
    wr32(z.p + cd + 24, 0xFFFFFFF0u); /* plain size: beyond deflate's ratio */
    TU_FAIL_MSG(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "more than deflate can expand");
    memcpy(z.p + cd, saved, sizeof saved);
    wr32(z.p + cd + 20, 0x7FFFFFF0u); /* compressed size: beyond the archive */
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT);
    memcpy(z.p + cd, saved, sizeof saved);
    wr32(z.p + cd + 42, 0x7FFFFFF0u); /* local header offset */
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT);
    memcpy(z.p + cd, saved, sizeof saved);
    z.p[cd + 8] |= 1; /* encrypted */
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_UNSUPPORTED);
    memcpy(z.p + cd, saved, sizeof saved);
    z.p[cd + 10] = 12; /* bzip2 */
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_UNSUPPORTED);
    memcpy(z.p + cd, saved, sizeof saved);
    z.p[cd + 46] = 'o'; /* "onputs.npy": no inputs member */
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT);
    ck_assert_msg(strstr(mlp_last_error(), "no member 'inputs.npy'"), "%s",
                  mlp_last_error());
    memcpy(z.p + cd, saved, sizeof saved);
    wr32(z.p + z.n - 22 + 12, 0x7FFFFFFFu); /* central directory size */
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT);
    free(z.p);
    free_members(ms, 2);

    /* An empty archive, its end-of-central-directory record alone (at
     * offset 0), is a zip archive without the members. */
    unsigned char empty[22] = {0x50, 0x4b, 0x05, 0x06};
    bytes e = {empty, sizeof empty, sizeof empty};
    TU_FAIL_MSG(load_npz_mem(&e, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "no member 'inputs.npy'");
    /* no buffer for bytes said to be there */
    ds = (mlp_dataset *)&ds;
    TU_FAIL_MSG(mlp__dataset_load_npz_mem(&ds, NULL, 5, 0), MLP_STATUS_INVALID_ARG,
                "buf is NULL");
    ck_assert_ptr_null(ds);

    /* Fortran order is refused as unsupported. */
    unsigned char px[8] = {0}, lab[16] = {0};
    bytes fo = npy("|u1", "(2, 4)", px, 8, 1);
    char *f = memchr(fo.p, 'F', fo.n);
    memcpy(f, "True, ", 6); /* "False," -> "True, " */
    zmember mf[2] = {{"inputs.npy", fo, 0},
                     {"targets.npy", npy("<i8", "(2,)", lab, 16, 1), 0}};
    z = make_zip(mf, 2, ZIP_PLAIN);
    TU_FAIL(load_npz_mem(&z, 0, &ds), MLP_STATUS_UNSUPPORTED);
    free(z.p);
    free_members(mf, 2);

    /* Not an archive at all. */
    bytes junk = {(unsigned char *)"PK\x05\x06 not really", 16, 16};
    TU_FAIL(load_npz_mem(&junk, 0, &ds), MLP_STATUS_BAD_FORMAT);
}
END_TEST

/* .npy members the reader must refuse, one fault each: a dtype it does not
 * convert, targets of rank 2, a label equal to the class count, bytes
 * after a member's array, a NaN
 * pixel, a header dict with a repeated key or text after its end, a header
 * longer than the format's limit; and [N,C,H,W] inputs, which load. */
START_TEST(npz_bad_npy_members)
{
    unsigned char px[4 * 4] = {0}, lab8[4 * 8] = {0}, f2[4 * 4 * 2] = {0};
    unsigned char f4[4 * 4 * 4] = {0};
    npz_expect("<f2", "(4, 4)", f2, 32, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "unsupported dtype '<f2'");
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "(4, 1)", lab8, 32, 0,
               MLP_STATUS_BAD_FORMAT, "targets.npy: shape of rank 2");
    lab8[16] = 5;
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "(4,)", lab8, 32, 5, MLP_STATUS_BAD_FORMAT,
               "label 5 of element 2 is outside 0..4");
    lab8[16] = 4;
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "(4,)", lab8, 32, 5, MLP_STATUS_OK, NULL);
    /* Unsigned labels are shown unsigned: 2^64 - 1, not -1. */
    memset(lab8 + 8, 0xFF, 8);
    npz_expect("|u1", "(4, 4)", px, 16, "<u8", "(4,)", lab8, 32, 5, MLP_STATUS_BAD_FORMAT,
               "label 18446744073709551615 of element 1 is outside 0..4");
    memset(lab8 + 8, 0, 8);
    /* Members longer than their arrays: 4 bytes after the pixels of the
     * deflated inputs, 8 after the labels of the stored targets. */
    unsigned char px20[20] = {0}, lab40[40] = {0};
    npz_expect("|u1", "(4, 4)", px20, 20, "<i8", "(4,)", lab8, 32, 0,
               MLP_STATUS_BAD_FORMAT,
               "describe 16 elements of 1 bytes but the member has 148 bytes");
    npz_expect("|u1", "(4, 4)", px, 16, "<i8", "(4,)", lab40, 40, 0,
               MLP_STATUS_BAD_FORMAT,
               "describe 4 elements of 8 bytes but the member has 168 bytes");
    /* Extents whose product overflows 64 bits. */
    npz_expect("|u1", "(4294967296, 4294967296, 2)", px, 16, "<i8", "(4,)", lab8, 32, 0,
               MLP_STATUS_BAD_FORMAT, "member inputs.npy: shape overflows");
    wr32(f4 + 4 * 5, 0x7FC00000u); /* a quiet NaN */
    npz_expect("<f4", "(4, 4)", f4, 64, "<i8", "(4,)", lab8, 32, 0, MLP_STATUS_BAD_FORMAT,
               "of element 5 is outside [0, 1]");

    static const char *const bad_dicts[] = {
        "{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (4, 4), }",
        "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 4), } 'x'",
    };
    for (size_t i = 0; i < sizeof bad_dicts / sizeof bad_dicts[0]; i++)
        npz_expect_npy(npy_dict(bad_dicts[i], px, 16, 1), npy("<i8", "(4,)", lab8, 32, 1),
                       0, MLP_STATUS_BAD_FORMAT, "malformed .npy header");

    /* A version 2 header of more than 65535 bytes: well formed, but longer
     * than the reader reads. */
    const char *dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (4, 4), }";
    const size_t long_len = 70000;
    char *long_dict = malloc(long_len + 1);
    ck_assert_ptr_nonnull(long_dict);
    memset(long_dict, ' ', long_len);
    memcpy(long_dict, dict, strlen(dict));
    long_dict[long_len] = '\0';
    npz_expect_npy(npy_dict(long_dict, px, 16, 2), npy("<i8", "(4,)", lab8, 32, 1), 0,
                   MLP_STATUS_BAD_FORMAT, "too long");
    free(long_dict);

    /* [N, C, H, W]: the channels are the second extent. */
    zmember ms[2] = {{"inputs.npy", u8_inputs(3, "(3, 2, 3, 4)", 24), 1},
                     {"targets.npy", i64_targets(3, "(3,)"), 0}};
    bytes z = make_zip(ms, 2, ZIP_PLAIN);
    mlp_dataset *ds = NULL;
    TU_OK(load_npz_mem(&z, 0, &ds));
    ck_assert_int_eq(mlp_dataset_size(ds), 3);
    ck_assert_int_eq(mlp_dataset_channels(ds), 2);
    ck_assert_int_eq(mlp_dataset_height(ds), 3);
    ck_assert_int_eq(mlp_dataset_width(ds), 4);
    mlp_dataset_destroy(ds);
    free(z.p);
    free_members(ms, 2);
}
END_TEST

/* Zip records the reader must refuse, each in an otherwise valid archive of
 * stored members: a byte after the end record, a disk's entry count that is
 * not the total, a central directory that runs into the end record, strong
 * encryption, a stored member whose two sizes differ, a local header that is
 * missing or names another method, a member named twice, and deflated data
 * that go on after the deflate stream. */
START_TEST(npz_bad_zip_records)
{
    zmember ms[2];
    bytes z = six_image_zip(ms, 0);
    mlp_dataset *ds = NULL;
    const size_t eocd = z.n - 22, cd = rd32(z.p + eocd + 16);
    ck_assert_uint_eq(rd32(z.p + cd), 0x02014b50u);
    ck_assert(memcmp(z.p + cd + 46, "inputs.npy", 10) == 0);
    bytes t = {malloc(z.n + 1), z.n + 1, z.n + 1};
    ck_assert_ptr_nonnull(t.p);

    memcpy(t.p, z.p, z.n);
    t.p[z.n] = 0;
    TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "no end-of-central-directory record");
    t.n = z.n;
    memcpy(t.p, z.p, z.n);
    t.p[eocd + 8] = 1; /* 1 entry on this disk, 2 in all */
    TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), MLP_STATUS_UNSUPPORTED, "multi-disk");
    memcpy(t.p, z.p, z.n);
    wr32(t.p + eocd + 12, rd32(z.p + eocd + 12) + 1);
    TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "lies outside the archive");
    memcpy(t.p, z.p, z.n);
    t.p[cd + 8] |= 0x40; /* strong encryption */
    TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), MLP_STATUS_UNSUPPORTED, "is encrypted");
    memcpy(t.p, z.p, z.n);
    wr32(t.p + cd + 20, rd32(z.p + cd + 24) + 1); /* one more compressed byte */
    TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "stored member inputs.npy has");
    memcpy(t.p, z.p, z.n);
    t.p[0] ^= 0xFF; /* the first local header's signature */
    TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), MLP_STATUS_BAD_FORMAT, "no local header");
    memcpy(t.p, z.p, z.n);
    t.p[8] = 8; /* the first local header says deflate */
    TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "disagrees with the central directory");
    free(t.p);
    free(z.p);

    zmember twice[3] = {ms[0], ms[1], ms[0]};
    z = make_zip(twice, 3, ZIP_PLAIN);
    TU_FAIL_MSG(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "member inputs.npy appears twice");
    free(z.p);
    zmember stray[2] = {{"inputs.npy", ms[0].data, 2}, ms[1]};
    z = make_zip(stray, 2, ZIP_PLAIN);
    TU_FAIL_MSG(load_npz_mem(&z, 0, &ds), MLP_STATUS_BAD_FORMAT,
                "continue after the deflate stream");
    free(z.p);

    /* ZIP64: the end record (56 bytes), its locator (20), the classic
     * end record (22), in that order at the end; and the first central
     * entry's extra field (id 1, 24 bytes: both sizes and the offset). */
    z = make_zip(ms, 2, ZIP_64);
    TU_OK(load_npz_mem(&z, 0, &ds));
    mlp_dataset_destroy(ds);
    ds = NULL;
    const size_t loc = z.n - 22 - 20, z64 = loc - 56;
    ck_assert_uint_eq(rd32(z.p + loc), 0x07064b50u);
    ck_assert_uint_eq(rd32(z.p + z64), 0x06064b50u);
    const size_t cd64 = (size_t)rd64(z.p + z64 + 48), extra = cd64 + 46 + 10;
    ck_assert(memcmp(z.p + cd64 + 46, "inputs.npy", 10) == 0);
    ck_assert_uint_eq(rd32(z.p + extra), 1u | 24u << 16);
    t = (bytes){malloc(z.n), z.n, z.n};
    ck_assert_ptr_nonnull(t.p);
    const struct {
        size_t at;
        uint64_t value;
        int width; /* bytes written, little-endian */
        mlp_status st;
        const char *says;
    } z64_edits[] = {
        {loc + 4, 1, 4, MLP_STATUS_UNSUPPORTED, "multi-disk"},  /* the record's disk */
        {loc + 16, 2, 4, MLP_STATUS_UNSUPPORTED, "multi-disk"}, /* disks in all */
        {loc + 8, loc - 55, 8, MLP_STATUS_BAD_FORMAT, "ZIP64 end record offset"},
        {loc + 8, z64 - 1, 8, MLP_STATUS_BAD_FORMAT,
         "no ZIP64 end record at byte offset"},
        {z64 + 16, 1, 4, MLP_STATUS_UNSUPPORTED, "multi-disk"}, /* this disk */
        {z64 + 24, 1, 8, MLP_STATUS_UNSUPPORTED, "multi-disk"}, /* entries here */
        {extra + 2, 25, 2, MLP_STATUS_BAD_FORMAT,
         "extra field overruns its member entry"},
        {extra + 2, 8, 2, MLP_STATUS_BAD_FORMAT, "short ZIP64 extra field"},
    };
    for (size_t i = 0; i < sizeof z64_edits / sizeof z64_edits[0]; i++) {
        memcpy(t.p, z.p, z.n);
        for (int b = 0; b < z64_edits[i].width; b++)
            t.p[z64_edits[i].at + (size_t)b] =
                (unsigned char)(z64_edits[i].value >> (8 * b));
        TU_FAIL_MSG(load_npz_mem(&t, 0, &ds), z64_edits[i].st, z64_edits[i].says);
        ck_assert_ptr_null(ds);
    }
    free(t.p);
    free(z.p);
    free_members(ms, 2);
}
END_TEST

typedef struct oom_npz {
    const bytes *z; /* the archive, also written to oom.npz */
    int via_file;
    mlp_dataset *ds;
} oom_npz;

static mlp_status oom_load_npz(void *ctx)
{
    oom_npz *c = ctx;
    c->ds = NULL;
    return c->via_file ? mlp_dataset_load_npz(&c->ds, tmp_path("oom.npz"), 0)
                       : mlp__dataset_load_npz_mem(&c->ds, c->z->p, c->z->n, 0);
}

static void oom_loaded_npz(void *ctx, mlp_status st)
{
    oom_npz *c = ctx;
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(c->ds);
        return;
    }
    assert_u8_dataset(c->ds, 9, 1, 3, 3);
    mlp_dataset_destroy(c->ds);
}

START_TEST(npz_oom_loop)
{
    make_tmp_dir();
    zmember ms[2] = {{"inputs.npy", u8_inputs(9, "(9, 3, 3)", 9), 1},
                     {"targets.npy", i64_targets(9, "(9,)"), 1}};
    bytes z = make_zip(ms, 2, ZIP_64);
    write_file(tmp_path("oom.npz"), z.p, z.n);
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = oom_loaded_npz;
    for (int via_file = 0; via_file < 2; via_file++) {
        oom_npz c = {.z = &z, .via_file = via_file};
        tu_oom_loop(via_file ? "npz from a file" : "npz from memory", oom_load_npz, &c,
                    &cfg);
    }
    free(z.p);
    free_members(ms, 2);
    remove_tmp_dir();
}
END_TEST

/* The optimizer checks its own record (lib/optim/optim_file.c); the loader
 * adds where the fault lies: the field's offset in the file, or the
 * record's own offset when its length is wrong. */
START_TEST(optimizer_faults_carry_file_offsets)
{
    size_t len;
    unsigned char *b = small_file(&len);
    const size_t optm = tu_find_record(b, len, "OPTM", 0);
    ck_assert_uint_gt(optm, 0);
    wr64(b + optm + 12 + 40, 0x3FF0000000000000ull); /* momentum 1.0 */
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    char want[128];
    snprintf(want, sizeof want, "byte offset %zu: optimizer: mlp_optimizer_set: momentum",
             optm + 12 + 40);
    ck_assert_msg(strstr(mlp_last_error(), want), "%s", mlp_last_error());
    free(b);
    /* one float short, behind a valid length and checksums */
    b = small_file(&len);
    const uint64_t l = rd64(b + optm + 4);
    const size_t end = optm + 12 + (size_t)l;
    memmove(b + end - 4, b + end, len - end);
    len -= 4;
    wr64(b + optm + 4, l - 4);
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    snprintf(want, sizeof want, "byte offset %zu: record 'OPTM' has %llu payload bytes",
             optm, (unsigned long long)(l - 4));
    ck_assert_msg(strstr(mlp_last_error(), want), "%s", mlp_last_error());
    free(b);
}
END_TEST

/* ---- the optimizer record's values ----------------------------------------- */

/* Offsets in the OPTM payload (docs/file-format.md). */
#define OPTM_T 16
#define OPTM_HYPER(i) (24 + 8 * (size_t)(i))
#define OPTM_SCHEDULE 108
#define OPTM_SCHED_EPOCHS 112
#define OPTM_GAMMA 116
#define OPTM_MULT 124
#define OPTM_MIN_RATE 132
#define OPTM_STATE 140

/* The model of small_file, and an optimizer of `rule` after one training
 * step, so that its state is not all 0. */
static mlp_model *stepped_model(mlp_rule rule, mlp_optimizer **o)
{
    const int32_t in[1] = {3};
    mlp_model *m = small_file_model();
    *o = NULL;
    TU_OK(mlp_optimizer_create(o, rule, m));
    mlp_tensor *x = random_input(4, 1, in, 7);
    const int32_t labels[4] = {0, 1, 1, 0};
    TU_OK(mlp_model_train_step(m, *o, x, labels, NULL, NULL));
    mlp_tensor_destroy(x);
    return m;
}

static unsigned char *stepped_file(mlp_rule rule, size_t *len)
{
    mlp_optimizer *o = NULL;
    mlp_model *m = stepped_model(rule, &o);
    unsigned char *b = model_bytes(m, o, len);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    return b;
}

/* The OPTM payload's offset in the file. */
static size_t optm_payload(const unsigned char *b, size_t len)
{
    const size_t optm = tu_find_record(b, len, "OPTM", 0);
    ck_assert_uint_gt(optm, 0);
    return optm + 12;
}

static void put_f32(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    wr32(p, u);
}

static void put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    wr64(p, u);
}

/* The file must be refused as damaged, nothing made and nothing leaked
 * (try_load_mem), with a message naming byte `at` of the OPTM payload and
 * holding `what`. */
static void assert_optm_refused(const unsigned char *b, size_t len, size_t at,
                                const char *what)
{
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    char want[64];
    snprintf(want, sizeof want, "byte offset %zu: ", optm_payload(b, len) + at);
    ck_assert_msg(strstr(mlp_last_error(), want) && strstr(mlp_last_error(), what),
                  "want '%s' and '%s' in: %s", want, what, mlp_last_error());
}

/* A state value no step leaves behind, behind valid checksums: a negative
 * or NaN second moment loaded, and the first step's parameters were NaN
 * with MLP_STATUS_OK. Values a run can reach still load. */
START_TEST(optimizer_state_no_run_reaches_is_refused)
{
    static const struct {
        mlp_rule rule;
        unsigned array;   /* state array 0 or 1 */
        int at;           /* the element of that array; -1: its last */
        float value;      /* there */
        const char *what; /* NULL: the file loads */
    } cases[] = {
        {MLP_RULE_ADAM, 1, 1, -1.0f, "rule adam's v[1] = -1 is negative"},
        {MLP_RULE_ADAM, 1, 1, NAN, "rule adam's v[1] = nan is not finite"},
        {MLP_RULE_ADAM, 1, 1, INFINITY, "rule adam's v[1] = inf is not finite"},
        {MLP_RULE_ADAM, 0, 1, -INFINITY, "rule adam's m[1] = -inf is not finite"},
        {MLP_RULE_ADAM, 0, 1, -1.0f, NULL}, /* a first moment may be negative */
        {MLP_RULE_ADAMW, 1, 1, -1e-30f, "rule adamw's v[1] = -1e-30 is negative"},
        {MLP_RULE_RMSPROP, 0, 1, -1.0f, "rule rmsprop's mean square[1] = -1 is negative"},
        {MLP_RULE_RMSPROP, 1, 1, NAN, "rule rmsprop's momentum buffer[1] = nan"},
        {MLP_RULE_RMSPROP, 1, 1, -1.0f, NULL},
        {MLP_RULE_ADAGRAD, 0, 1, -2.0f,
         "rule adagrad's sum of squares[1] = -2 is negative"},
        {MLP_RULE_MOMENTUM, 0, 1, INFINITY, "rule momentum's velocity[1] = inf"},
        {MLP_RULE_MOMENTUM, 0, 1, -1.0f, NULL},
        {MLP_RULE_NESTEROV, 0, 1, NAN, "rule nesterov's velocity[1] = nan"},
        /* the first and the last element of an array */
        {MLP_RULE_ADAM, 1, 0, -1.0f, "rule adam's v[0] = -1 is negative"},
        {MLP_RULE_ADAM, 0, 0, NAN, "rule adam's m[0] = nan is not finite"},
        {MLP_RULE_ADAGRAD, 0, -1, -2.0f, "= -2 is negative"},
        {MLP_RULE_ADAM, 1, -1, INFINITY, "= inf is not finite"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len;
        unsigned char *b = stepped_file(cases[c].rule, &len);
        const size_t optm = optm_payload(b, len);
        const uint64_t n = rd64(b + optm + 8);
        const uint64_t i = cases[c].at < 0 ? n - 1 : (uint64_t)cases[c].at;
        const size_t at = OPTM_STATE + 4 * (size_t)(cases[c].array * n + i);
        ck_assert_uint_le(optm + at + 4, len);
        put_f32(b + optm + at, cases[c].value);
        tu_fix_crcs(b, len);
        if (cases[c].what)
            assert_optm_refused(b, len, at, cases[c].what);
        else
            TU_OK(try_load_mem(b, len));
        free(b);
    }

    /* Before the first step (t = 0) the state is all 0: creation and
     * mlp_optimizer_reset clear both together. */
    size_t len;
    unsigned char *b = stepped_file(MLP_RULE_ADAM, &len);
    const size_t optm = optm_payload(b, len);
    const uint64_t n = rd64(b + optm + 8);
    wr64(b + optm + OPTM_T, 0);
    tu_fix_crcs(b, len);
    TU_FAIL(try_load_mem(b, len), MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("is not 0 before the first step");
    memset(b + optm + OPTM_STATE, 0, 4 * 2 * (size_t)n);
    tu_fix_crcs(b, len);
    TU_OK(try_load_mem(b, len));
    /* one value of either sign, in either array, is enough */
    const size_t v1 = OPTM_STATE + 4 * (size_t)(n + 1), m1 = OPTM_STATE + 4;
    put_f32(b + optm + v1, 0.25f);
    tu_fix_crcs(b, len);
    assert_optm_refused(b, len, v1,
                        "rule adam's v[1] = 0.25 is not 0 before the first step");
    put_f32(b + optm + v1, 0.0f);
    put_f32(b + optm + m1, -0.25f);
    tu_fix_crcs(b, len);
    assert_optm_refused(b, len, m1,
                        "rule adam's m[1] = -0.25 is not 0 before the first step");
    free(b);
}
END_TEST

/* Schedule fields the stored schedule does not use were kept when finite:
 * gamma = -3 or a period multiplier of -5 loaded. Each is now 0 (never
 * set) or in its setter's range, whatever the schedule; values an earlier
 * schedule leaves behind load and save back to the same bytes. */
START_TEST(optimizer_schedule_fields_are_checked)
{
    static const struct {
        uint32_t schedule; /* as stored: 0 constant, 1 step (epochs 2, gamma 0.5) */
        size_t at;
        double value;
        const char *what;
    } cases[] = {
        {0, OPTM_GAMMA, -3.0, "optimizer schedule: gamma = -3 must be 0 or in (0, 1]"},
        {0, OPTM_GAMMA, 1.5, "gamma = 1.5"},
        {0, OPTM_GAMMA, NAN, "gamma = nan"},
        {0, OPTM_MULT, -5.0,
         "optimizer schedule: period multiplier = -5 must be 0 or >= 1"},
        {0, OPTM_MULT, 0.5, "period multiplier = 0.5"},
        {0, OPTM_MULT, INFINITY, "period multiplier = inf"},
        {1, OPTM_MULT, -5.0, "period multiplier = -5"},
        {0, OPTM_MIN_RATE, -1.0, "optimizer schedule: minimum rate = -1 must be >= 0"},
        {1, OPTM_MIN_RATE, INFINITY, "minimum rate = inf"},
        {0, OPTM_SCHED_EPOCHS, -1.0, "optimizer schedule: epochs = -1 must be 0 or >= 1"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len;
        unsigned char *b = small_file(&len);
        const size_t optm = optm_payload(b, len);
        if (cases[c].schedule == 1) {
            wr32(b + optm + OPTM_SCHEDULE, 1);
            wr32(b + optm + OPTM_SCHED_EPOCHS, 2);
            put_f64(b + optm + OPTM_GAMMA, 0.5);
        }
        if (cases[c].at == OPTM_SCHED_EPOCHS)
            wr32(b + optm + cases[c].at, (uint32_t)(int32_t)cases[c].value);
        else
            put_f64(b + optm + cases[c].at, cases[c].value);
        tu_fix_crcs(b, len);
        assert_optm_refused(b, len, cases[c].at, cases[c].what);
        free(b);
    }
    /* the ranges' closed ends load: gamma 1, a period multiplier of 1 (each
     * restart as long as the first) */
    static const struct {
        size_t at;
        double value;
    } edges[] = {{OPTM_GAMMA, 1.0}, {OPTM_MULT, 1.0}};
    for (size_t c = 0; c < sizeof edges / sizeof edges[0]; c++) {
        size_t len;
        unsigned char *b = small_file(&len);
        put_f64(b + optm_payload(b, len) + edges[c].at, edges[c].value);
        tu_fix_crcs(b, len);
        TU_OK(try_load_mem(b, len));
        free(b);
    }

    /* A constant schedule after step(7, 0.5) and cosine(7, 2, 0.25). */
    size_t len;
    unsigned char *b = small_file(&len);
    const size_t optm = optm_payload(b, len);
    wr32(b + optm + OPTM_SCHED_EPOCHS, 7);
    put_f64(b + optm + OPTM_GAMMA, 0.5);
    put_f64(b + optm + OPTM_MULT, 2.0);
    put_f64(b + optm + OPTM_MIN_RATE, 0.25);
    tu_fix_crcs(b, len);
    mlp_model *m = NULL;
    mlp_optimizer *o = NULL;
    TU_OK(mlp_model_load_mem_with_optimizer(&m, &o, b, len));
    size_t again_len;
    unsigned char *again = model_bytes(m, o, &again_len);
    ck_assert_msg(again_len == len && memcmp(again, b, len) == 0,
                  "load + save changed the bytes");
    free(again);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    free(b);
}
END_TEST

/* Hyper-parameters of keys the rule lacks (momentum: beta1, beta2,
 * epsilon, decay) were kept when finite and >= 0; they are now in the
 * range mlp_optimizer_set gives the key, as the rule's own keys are. */
START_TEST(optimizer_unused_hyper_parameters_are_checked)
{
    static const struct {
        int slot; /* in file order: 1 current rate, 3 beta1, 4 beta2, 5 eps, 8 decay */
        double value;
        const char *what; /* NULL: the file loads */
    } cases[] = {
        {3, 1.5, "optimizer: beta1 = 1.5 (unused by rule momentum) must be [0, 1)"},
        {4, 1.0, "beta2 = 1 (unused by rule momentum) must be [0, 1)"},
        {5, 0.0, "epsilon = 0 (unused by rule momentum) must be > 0 and finite"},
        {8, 2.0, "decay = 2 (unused by rule momentum)"},
        {1, -1.0, "optimizer: current rate = -1 must be >= 0 and finite"},
        {4, 0.5, NULL},
        {5, 1e-3, NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len;
        unsigned char *b = small_file(&len);
        const size_t optm = optm_payload(b, len);
        put_f64(b + optm + OPTM_HYPER(cases[c].slot), cases[c].value);
        tu_fix_crcs(b, len);
        if (cases[c].what)
            assert_optm_refused(b, len, OPTM_HYPER(cases[c].slot), cases[c].what);
        else
            TU_OK(try_load_mem(b, len));
        free(b);
    }
}
END_TEST

/* Hyper-parameters in range as doubles but not as the floats the rules
 * apply them as (optim.h) loaded, through the same checks as a program's
 * values: an epsilon of 1e-46 (0 as a float), beta2 = 1 - 1e-12 (1), a
 * rate of 1e39 (infinity), and the next step made parameters NaN or
 * infinite. They are refused now, in the rule's keys, in keys the rule
 * lacks, as the current rate and as the schedule's minimum rate; the
 * nearest values that are in range load. */
START_TEST(optimizer_values_no_float_holds_are_refused)
{
    static const struct {
        mlp_rule rule;
        size_t at; /* in the OPTM payload */
        double value;
        const char *what; /* NULL: the file loads */
    } cases[] = {
        {MLP_RULE_ADAM, OPTM_HYPER(5), 1e-46,
         "optimizer: mlp_optimizer_set: epsilon = 1e-46 must be > 0 and finite as a "
         "normal float"},
        {MLP_RULE_ADAGRAD, OPTM_HYPER(5), 1e-40, "epsilon = 1e-40 must be"},
        {MLP_RULE_RMSPROP, OPTM_HYPER(5), 0x1.fffffep-127, /* rounds up to FLT_MIN */
         "epsilon = 1.1754942807573643e-38 must be"},
        {MLP_RULE_ADAM, OPTM_HYPER(4), 1.0 - 1e-12,
         "optimizer: mlp_optimizer_set: beta2 = 0.999999999999 must be [0, 1) as a "
         "float"},
        {MLP_RULE_ADAMW, OPTM_HYPER(3), 0x1.ffffffp-1, /* 1 - 2^-25 */
         "beta1 = 0.9999999701976776 must be [0, 1) as a float"},
        {MLP_RULE_RMSPROP, OPTM_HYPER(8), 0x1.fffffffffffffp-1, /* nextafter(1, 0) */
         "decay = 0.9999999999999999 must be [0, 1) as a float"},
        {MLP_RULE_ADAM, OPTM_HYPER(0), 1e39,
         "learning_rate = 1e+39 must be >= 0 and finite as a float"},
        {MLP_RULE_ADAM, OPTM_HYPER(1), 1e39,
         "optimizer: current rate = 1e+39 must be >= 0 and finite as a float"},
        {MLP_RULE_SGD, OPTM_HYPER(6), 1e300, "weight_decay = 1e+300 must be"},
        {MLP_RULE_MOMENTUM, OPTM_HYPER(7), 0x1.ffffffp+127, /* 2^128 - 2^103 */
         "l1 = 3.4028235677973366e+38 must be"},
        {MLP_RULE_MOMENTUM, OPTM_HYPER(5), 1e-46,
         "optimizer: epsilon = 1e-46 (unused by rule momentum) must be > 0 and finite "
         "as a normal float"},
        {MLP_RULE_MOMENTUM, OPTM_HYPER(4), 1.0 - 1e-12,
         "beta2 = 0.999999999999 (unused by rule momentum) must be [0, 1) as a float"},
        {MLP_RULE_ADAM, OPTM_MIN_RATE, 1e39,
         "optimizer schedule: minimum rate = 1e+39 must be >= 0 and finite as a float"},
        /* the nearest values in range */
        {MLP_RULE_ADAM, OPTM_HYPER(5), FLT_MIN, NULL},
        {MLP_RULE_MOMENTUM, OPTM_HYPER(5), FLT_MIN, NULL},
        {MLP_RULE_ADAM, OPTM_HYPER(4), 0x1.fffffefffffffp-1, NULL}, /* rounds below 1 */
        {MLP_RULE_RMSPROP, OPTM_HYPER(8), 0x1.fffffep-1, NULL},     /* 1 - 2^-24 */
        {MLP_RULE_ADAM, OPTM_HYPER(0), FLT_MAX, NULL},
        {MLP_RULE_ADAM, OPTM_HYPER(1), 0x1.fffffefffffffp+127, NULL}, /* to FLT_MAX */
        {MLP_RULE_ADAM, OPTM_MIN_RATE, FLT_MAX, NULL},
        {MLP_RULE_MOMENTUM, OPTM_HYPER(9), 1e300, NULL}, /* the clipping norm: a double */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len;
        unsigned char *b = stepped_file(cases[c].rule, &len);
        put_f64(b + optm_payload(b, len) + cases[c].at, cases[c].value);
        tu_fix_crcs(b, len);
        if (cases[c].what)
            assert_optm_refused(b, len, cases[c].at, cases[c].what);
        else
            TU_OK(try_load_mem(b, len));
        free(b);
    }
}
END_TEST

static int params_finite(const mlp_model *m)
{
    for (int i = 0; i < mlp_model_layer_count(m); i++) {
        mlp_layer *l = mlp_model_layer((mlp_model *)m, i);
        const float *p = mlp_layer_params(l);
        for (int64_t k = 0; k < mlp_layer_param_count(l); k++)
            if (!isfinite(p[k]))
                return 0;
    }
    return 1;
}

/* A step count of 2^63 - 1 loads (the format allows it, and the library
 * may have written it), but a step cannot advance it: it overflowed, and
 * Adam's parameters became NaN with MLP_STATUS_OK. The step is refused
 * and leaves the model and the optimizer as they were; one below, the
 * step is taken, and the file it saves loads. */
START_TEST(step_count_at_its_largest_stops_the_step)
{
    mlp_optimizer *o = NULL;
    mlp_model *m = stepped_model(MLP_RULE_ADAM, &o);
    size_t len;
    unsigned char *b = model_bytes(m, o, &len);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    const size_t optm = optm_payload(b, len);
    const int32_t in[1] = {3};
    mlp_tensor *x = random_input(4, 1, in, 8);
    const int32_t labels[4] = {1, 0, 0, 1};

    wr64(b + optm + OPTM_T, (uint64_t)INT64_MAX);
    tu_fix_crcs(b, len);
    TU_OK(mlp_model_load_mem_with_optimizer(&m, &o, b, len));
    TU_FAIL_MSG(mlp_model_train_step(m, o, x, labels, NULL, NULL), MLP_STATUS_BAD_STATE,
                "mlp_optimizer_step: the step count is 9223372036854775807");
    TU_FAIL(mlp_optimizer_step(o), MLP_STATUS_BAD_STATE);
    size_t after_len;
    unsigned char *after = model_bytes(m, o, &after_len);
    ck_assert_msg(after_len == len && memcmp(after, b, len) == 0,
                  "a refused step changed the model or the optimizer");
    free(after);
    mlp_optimizer_reset(o); /* starts again from 0 */
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    ck_assert(params_finite(m));
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);

    wr64(b + optm + OPTM_T, (uint64_t)INT64_MAX - 1);
    tu_fix_crcs(b, len);
    TU_OK(mlp_model_load_mem_with_optimizer(&m, &o, b, len));
    TU_OK(mlp_model_train_step(m, o, x, labels, NULL, NULL));
    ck_assert(params_finite(m));
    unsigned char *saved = model_bytes(m, o, &after_len);
    ck_assert_uint_eq(rd64(saved + optm_payload(saved, after_len) + OPTM_T),
                      (uint64_t)INT64_MAX);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    TU_OK(mlp_model_load_mem_with_optimizer(&m, &o, saved, after_len));
    TU_FAIL(mlp_model_train_step(m, o, x, labels, NULL, NULL), MLP_STATUS_BAD_STATE);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    free(saved);
    mlp_tensor_destroy(x);
    free(b);
}
END_TEST

/* ---- the thread's last error ------------------------------------------------ */

/* Every call of `what` on the model files of m (saved with o, which may be
 * NULL): saves, loads of each kind, the version probe, the ONNX export
 * (which asks each layer for its attributes). Each must succeed
 * and leave mlp_last_error() as the failed call before it set it. */
static void assert_calls_keep_error(mlp_model *m, mlp_optimizer *o, const char *what)
{
    const char *p = tmp_path("kept.mlpnet");
    char path[512], want[512];
    snprintf(path, sizeof path, "%s", p);
    TU_FAIL(mlp_model_load(NULL, path), MLP_STATUS_INVALID_ARG);
    snprintf(want, sizeof want, "%s", mlp_last_error());
#define KEPT(call)                                                                       \
    do {                                                                                 \
        TU_OK(call);                                                                     \
        TU_CHECK_MSG(strcmp(mlp_last_error(), want) == 0,                                \
                     "%s: %s changed the last error to \"%s\"", what, #call,             \
                     mlp_last_error());                                                  \
    } while (0)
    void *buf = NULL;
    size_t len = 0;
    mlp_model *b = NULL;
    mlp_optimizer *ob = NULL;
    uint32_t version = 0;
    KEPT(mlp_model_save_with_optimizer(m, o, path));
    KEPT(mlp_model_save_mem_with_optimizer(m, o, &buf, &len));
    KEPT(mlp_model_load_mem_with_optimizer(&b, &ob, buf, len));
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(b);
    KEPT(mlp_model_load_mem(&b, buf, len));
    mlp_model_destroy(b);
    KEPT(mlp_model_load_with_optimizer(&b, &ob, path));
    mlp_optimizer_destroy(ob);
    mlp_model_destroy(b);
    KEPT(mlp_model_load(&b, path));
    mlp_model_destroy(b);
    KEPT(mlp_model_file_version(path, &version));
    KEPT(mlp_model_save(m, path));
    mlp_buffer_free(buf);
    KEPT(mlp_model_export_onnx_mem(m, &buf, &len));
#undef KEPT
    mlp_buffer_free(buf);
}

/* Successful calls leave the last error alone (status.h): a load checks
 * what it reads through the library's own setters and asks the optimizer
 * which hyper-parameters its rule has, and no such probe may leave its
 * message behind. Every rule (each lacks some keys) and schedule, every
 * layer kind with settings or state, losses, class weights and names. */
START_TEST(successful_loads_keep_the_last_error)
{
    make_tmp_dir();
    for (int rule = MLP_RULE_SGD; rule <= MLP_RULE_ADAGRAD; rule++) {
        mlp_optimizer *o = NULL;
        mlp_model *m = stepped_model((mlp_rule)rule, &o);
        switch (rule % 4) {
        case 0: TU_OK(mlp_optimizer_schedule_constant(o)); break;
        case 1: TU_OK(mlp_optimizer_schedule_step(o, 2, 0.5)); break;
        case 2: TU_OK(mlp_optimizer_schedule_exponential(o, 0.9)); break;
        default: TU_OK(mlp_optimizer_schedule_cosine(o, 3, 2.0, 1e-4)); break;
        }
        char what[64];
        snprintf(what, sizeof what, "rule %d", rule);
        assert_calls_keep_error(m, o, what);
        mlp_optimizer_destroy(o);
        mlp_model_destroy(m);
    }
    mlp_model *m = conv_model();
    assert_calls_keep_error(m, NULL, "conv_model");
    mlp_model_destroy(m);
    m = mlp_model_all();
    const char *names[4] = {"a", "b", "c", "d"};
    const float weights[4] = {1.0f, 2.0f, 0.5f, 1.0f};
    TU_OK(mlp_model_set_class_names(m, names, 4));
    TU_OK(mlp_model_set_class_weights(m, weights, 4));
    assert_calls_keep_error(m, NULL, "class names and weights");
    mlp_model_destroy(m);
    m = stateful_model();
    TU_OK(mlp_model_set_loss(m, MLP_LOSS_HUBER, 0.5));
    assert_calls_keep_error(m, NULL, "standardize and huber");
    mlp_model_destroy(m);
    remove_tmp_dir();
}
END_TEST

/* An Adam moment that overflowed (a gradient whose square passes a float's
 * range: the run diverged) leaves the parameters finite, and the checkpoint
 * saved with OK to a file that did not load. Its save is now refused,
 * writing nothing; the model alone still saves and loads. A finite value
 * no run leaves (a negative second moment) is refused too. */
START_TEST(checkpoint_save_refuses_state_no_run_leaves)
{
    make_tmp_dir();
    mlp_optimizer *o = NULL;
    mlp_model *m = stepped_model(MLP_RULE_ADAM, &o);
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("checkpoint.mlpn"));
    TU_OK(mlp_model_save_with_optimizer(m, o, path));
    size_t len0;
    unsigned char *before = read_file(path, &len0);

    mlp_layer_grads(mlp_model_layer(m, 0))[1] = 1e30f;
    TU_OK(mlp_optimizer_step(o));
    ck_assert(params_finite(m));
    TU_FAIL_MSG(mlp_model_save_with_optimizer(m, o, path), MLP_STATUS_NUMERIC,
                "mlp_model_save_with_optimizer: optimizer state: rule adam's v[1] = inf "
                "is not finite (nothing was saved)");
    assert_file_is(path, before, len0);
    void *buf = (void *)1;
    size_t len = 1;
    TU_FAIL_MSG(mlp_model_save_mem_with_optimizer(m, o, &buf, &len), MLP_STATUS_NUMERIC,
                "mlp_model_save_mem_with_optimizer: optimizer state: rule adam's v[1]");
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    TU_OK(mlp_model_save(m, path));
    mlp_model *back = NULL;
    TU_OK(mlp_model_load(&back, path));
    mlp_model_destroy(back);

    /* Reset and stepped again on a finite square: saves; then a negative
     * second moment. */
    mlp_layer_grads(mlp_model_layer(m, 0))[1] = 0.5f;
    mlp_optimizer_reset(o);
    TU_OK(mlp_optimizer_step(o));
    TU_OK(mlp_model_save_with_optimizer(m, o, path));
    free(before);
    before = read_file(path, &len0);
    int64_t n = 0;
    float *s = mlp__optimizer_flat_state(o, &n);
    const int64_t np = mlp_model_param_count(m);
    ck_assert_int_eq(n, 2 * np);
    s[np + 2] = -1.0f; /* v[2] */
    TU_FAIL_MSG(mlp_model_save_with_optimizer(m, o, path), MLP_STATUS_INVALID_ARG,
                "optimizer state: rule adam's v[2] = -1 is negative (nothing was saved)");
    assert_file_is(path, before, len0);
    s[np + 2] = 0.0f;
    s[3] = NAN; /* m[3] */
    TU_FAIL_MSG(mlp_model_save_with_optimizer(m, o, path), MLP_STATUS_NUMERIC,
                "rule adam's m[3] = nan is not finite");
    assert_file_is(path, before, len0);
    free(before);
    mlp_optimizer_destroy(o);
    mlp_model_destroy(m);
    remove_tmp_dir();
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *t = tcase_create("model files");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, round_trip_conv_kinds);
    tcase_add_test(t, round_trip_dense_kinds);
    tcase_add_test(t, round_trip_conv_without_bias);
    tcase_add_test(t, conv2d_version_1_still_loads);
    tcase_add_test(t, dropout_record_stores_keep_probability);
    tcase_add_test(t, attributes_survive_a_round_trip);
    tcase_add_test(t, round_trip_covers_every_kind);
    tcase_add_test(t, round_trip_empty_and_stateless_models);
    tcase_add_test(t, save_mem_matches_file_and_optimizer_round_trips);
    tcase_add_test(t, optimizer_state_of_several_chunks_round_trips);
    tcase_add_test(t, arguments_are_checked);
    tcase_add_test(t, load_mem_refuses_a_null_buffer);
    tcase_add_test(t, successful_loads_keep_the_last_error);
    tcase_add_test(t, save_optimizer_of_changed_model);
    tcase_add_test(t, fixtures_of_0_1_0_load);
    tcase_add_test(t, resume_adam_equals_uninterrupted);
    tcase_add_test(t, resume_momentum_equals_uninterrupted);
    suite_add_tcase(s, t);

    t = tcase_create("corrupt model files");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, every_flipped_byte_is_refused);
    tcase_add_test(t, every_truncation_is_refused);
    tcase_add_test(t, appended_bytes_are_refused);
    tcase_add_test(t, load_then_save_gives_the_same_bytes);
    tcase_add_test(t, ancillary_tags_from_a_to_z);
    tcase_add_test(t, version_of_a_truncated_preamble);
    tcase_add_test(t, bad_preambles);
    tcase_add_test(t, empty_files_are_named);
    tcase_add_test(t, checksum_mismatch_is_named);
    tcase_add_test(t, unknown_kind_and_records);
    tcase_add_test(t, sizes_that_disagree_are_refused);
    tcase_add_test(t, conv2d_bad_configurations_are_refused);
    tcase_add_test(t, layer_configurations_out_of_range);
    tcase_add_test(t, flipped_bytes_behind_valid_checksums_never_crash);
    tcase_add_test(t, optimizer_faults_carry_file_offsets);
    tcase_add_test(t, optimizer_state_no_run_reaches_is_refused);
    tcase_add_test(t, optimizer_schedule_fields_are_checked);
    tcase_add_test(t, optimizer_unused_hyper_parameters_are_checked);
    tcase_add_test(t, optimizer_values_no_float_holds_are_refused);
    tcase_add_test(t, step_count_at_its_largest_stops_the_step);
    tcase_add_test(t, values_no_model_holds_are_refused);
    suite_add_tcase(s, t);

    t = tcase_create("saving and allocation failures");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, failed_save_leaves_earlier_file);
    tcase_add_test(t, save_refuses_an_empty_path);
    tcase_add_test(t, loads_refuse_an_empty_path);
    tcase_add_test(t, save_to_the_longest_name);
    tcase_add_test(t, save_replaces_only_regular_files);
    tcase_add_test(t, save_refuses_class_counts_of_another_layer);
    tcase_add_test(t, save_refuses_values_a_load_refuses);
    tcase_add_test(t, checkpoint_save_refuses_state_no_run_leaves);
    tcase_add_test(t, killed_save_leaves_a_recognisable_temporary);
    tcase_add_test(t, new_file_follows_the_umask);
    tcase_add_test(t, oom_loop_over_load_and_save);
    suite_add_tcase(s, t);

    t = tcase_create("npz");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, npz_stored_and_deflated);
    tcase_add_test(t, npz_shapes_dtypes_and_files);
    tcase_add_test(t, npz_bad_contents);
    tcase_add_test(t, npz_bad_archives);
    tcase_add_test(t, npz_bad_npy_members);
    tcase_add_test(t, npz_bad_zip_records);
    tcase_add_test(t, npz_oom_loop);
    suite_add_tcase(s, t);

    /* Seconds, not minutes: a reader that blocks on the FIFO fails here
     * soon instead of holding up the suite (and a mutation run) for the
     * default timeout. */
    t = tcase_create("special files");
    tcase_set_timeout(t, 10);
    tcase_add_test(t, loads_refuse_a_fifo);
    suite_add_tcase(s, t);
    return s;
}

TU_MAIN(io_suite, 0)
