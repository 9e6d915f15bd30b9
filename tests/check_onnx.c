/*
 * ONNX export (lib/io/onnx.c): misuse, unsupported kinds, allocation
 * failures, atomic files, and the wire format read back by a small
 * protobuf walker. What the exported graphs compute is checked by a real
 * runtime in tests/onnx/roundtrip.py (suite onnx).
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "layers/layer_impl.h"
#include "mlpnet/io.h"
#include "testutil.h"

static char tmp_dir[512];

static const char *tmp_path(const char *name)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/%s", tmp_dir, name);
    return p;
}

static void add(mlp_model *m, mlp_layer *l)
{
    TU_OK(mlp_model_add(m, l));
}

/* A small model with every layer kind. */
static mlp_model *every_kind(void)
{
    int32_t dims[3] = {2, 8, 8};
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    TU_OK(mlp_model_create(&m, 3, dims, 7));
    TU_OK(mlp_layer_create_standardize(&l));
    add(m, l);
    TU_OK(mlp_layer_create_conv2d(&l, 2, 4, 3, 3));
    TU_OK(mlp_layer_set_conv2d(l, 1, 1, 1, 1, 1, 1));
    TU_OK(mlp_layer_set_use_bias(l, 0));
    add(m, l);
    TU_OK(mlp_layer_create_batchnorm_spatial(&l));
    add(m, l);
    TU_OK(mlp_layer_create_leaky_relu(&l, 0.2f));
    add(m, l);
    TU_OK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0));
    add(m, l);
    TU_OK(mlp_layer_create_avgpool(&l, 3, 3, 1, 1));
    add(m, l);
    TU_OK(mlp_layer_create_batchnorm(&l));
    add(m, l);
    TU_OK(mlp_layer_create_elu(&l, 1.0f));
    add(m, l);
    TU_OK(mlp_layer_create_selu(&l));
    add(m, l);
    TU_OK(mlp_layer_create_global_avgpool(&l));
    add(m, l);
    TU_OK(mlp_layer_create_dropout_p(&l, 0.3f));
    add(m, l);
    int32_t shape[2] = {2, 2};
    TU_OK(mlp_layer_create_reshape(&l, 2, shape));
    add(m, l);
    TU_OK(mlp_layer_create_flatten(&l));
    add(m, l);
    TU_OK(mlp_layer_create_dense(&l, 6));
    add(m, l);
    TU_OK(mlp_layer_create_softplus(&l));
    add(m, l);
    TU_OK(mlp_layer_create_sigmoid(&l));
    add(m, l);
    TU_OK(mlp_layer_create_tanh(&l));
    add(m, l);
    TU_OK(mlp_layer_create_relu(&l));
    add(m, l);
    TU_OK(mlp_layer_create_dense(&l, 3));
    add(m, l);
    static const char *const names[3] = {"cat", "d\"og", "b\\ird"};
    TU_OK(mlp_model_set_class_names(m, names, 3));
    return m;
}

/* ---- a protobuf walker ---------------------------------------------------- */

static int read_varint(const unsigned char *p, size_t n, size_t *at, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*at >= n)
            return 0;
        unsigned char b = p[(*at)++];
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 1;
    }
    return 0;
}

/* Walk the fields of one message: every field must be well formed and end
 * exactly at n. Counts the occurrences of each field number below 32 and,
 * for length-delimited ones, records where the last one starts. */
typedef struct fields {
    int count[32];
    size_t off[32], len[32];
} fields;

static int walk(const unsigned char *p, size_t n, fields *f)
{
    memset(f, 0, sizeof *f);
    size_t at = 0;
    while (at < n) {
        uint64_t key, v;
        if (!read_varint(p, n, &at, &key))
            return 0;
        uint64_t field = key >> 3;
        if (field == 0)
            return 0;
        switch (key & 7) {
        case 0:
            if (!read_varint(p, n, &at, &v))
                return 0;
            break;
        case 1: at += 8; break;
        case 5: at += 4; break;
        case 2:
            if (!read_varint(p, n, &at, &v) || v > n - at)
                return 0;
            if (field < 32) {
                f->off[field] = at;
                f->len[field] = (size_t)v;
            }
            at += (size_t)v;
            break;
        default: return 0;
        }
        if (at > n)
            return 0;
        if (field < 32)
            f->count[field]++;
    }
    return at == n;
}

static int contains(const unsigned char *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, s, k) == 0)
            return 1;
    return 0;
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(exported_bytes_are_well_formed)
{
    mlp_model *m = every_kind();
    void *buf = NULL;
    size_t len = 0;
    TU_OK(mlp_model_export_onnx_mem(m, &buf, &len));
    const unsigned char *b = buf;
    fields model, graph;
    ck_assert(walk(b, len, &model));
    ck_assert_int_eq(model.count[1], 1);  /* ir_version */
    ck_assert_int_eq(model.count[7], 1);  /* graph */
    ck_assert_int_eq(model.count[8], 1);  /* opset_import */
    ck_assert_int_eq(model.count[14], 5); /* metadata: 4 + class names */
    ck_assert(walk(b + model.off[7], model.len[7], &graph));
    ck_assert_int_eq(graph.count[11], 1); /* one input */
    ck_assert_int_eq(graph.count[12], 2); /* logits, probabilities */
    ck_assert_int_ge(graph.count[1], mlp_model_layer_count(m));
    ck_assert(contains(b, len, "[\"cat\",\"d\\\"og\",\"b\\\\ird\"]"));
    ck_assert(contains(b, len, "GlobalAveragePool"));
    ck_assert(contains(b, len, "count_include_pad"));
    ck_assert(contains(b, len, MLPNET_VERSION_STRING));

    /* Deterministic, and the file holds the same bytes. */
    void *again = NULL;
    size_t len2 = 0;
    TU_OK(mlp_model_export_onnx_mem(m, &again, &len2));
    ck_assert_uint_eq(len, len2);
    ck_assert(memcmp(buf, again, len) == 0);
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_onnx");
    TU_OK(mlp_model_export_onnx(m, tmp_path("m.onnx")));
    size_t flen = 0;
    unsigned char *file = tu_read_file(tmp_path("m.onnx"), &flen);
    ck_assert_uint_eq(flen, len);
    ck_assert(memcmp(file, buf, len) == 0);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    free(file);
    tu_rm_tree(tmp_dir);
    mlp_buffer_free(again);
    mlp_buffer_free(buf);
    mlp_model_destroy(m);
}
END_TEST

START_TEST(outputs_follow_the_loss)
{
    int32_t d = 4;
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    TU_OK(mlp_model_create(&m, 1, &d, 1));
    TU_OK(mlp_layer_create_dense(&l, 3));
    add(m, l);
    struct {
        mlp_loss_kind loss;
        int outputs;
        const char *first, *op;
    } cases[] = {
        {MLP_LOSS_SOFTMAX_XENT, 2, "logits", "Softmax"},
        {MLP_LOSS_BCE_LOGITS, 2, "logits", "Sigmoid"},
        {MLP_LOSS_MSE, 1, "outputs", NULL},
        {MLP_LOSS_HUBER, 1, "outputs", NULL},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        TU_OK(mlp_model_set_loss(m, cases[c].loss, 0));
        void *buf = NULL;
        size_t len = 0;
        TU_OK(mlp_model_export_onnx_mem(m, &buf, &len));
        fields model, graph;
        ck_assert(walk(buf, len, &model));
        ck_assert(walk((unsigned char *)buf + model.off[7], model.len[7], &graph));
        ck_assert_int_eq(graph.count[12], cases[c].outputs);
        ck_assert(contains(buf, len, cases[c].first));
        ck_assert(!cases[c].op || contains(buf, len, cases[c].op));
        ck_assert(cases[c].outputs == 2 || !contains(buf, len, "probabilities"));
        mlp_buffer_free(buf);
    }
    mlp_model_destroy(m);
}
END_TEST

START_TEST(misuse_is_refused)
{
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_onnx");
    mlp_model *m = every_kind();
    void *buf = (void *)1;
    size_t len = 7;
    TU_FAIL(mlp_model_export_onnx_mem(NULL, &buf, &len), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(buf);
    ck_assert_uint_eq(len, 0);
    TU_FAIL(mlp_model_export_onnx_mem(m, NULL, &len), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_export_onnx_mem(m, &buf, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_export_onnx(NULL, tmp_path("a.onnx")), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_model_export_onnx(m, NULL), MLP_STATUS_INVALID_ARG);
    /* An empty path names no file; it is refused as such, before any
     * temporary file is made. */
    TU_FAIL_MSG(mlp_model_export_onnx(m, ""), MLP_STATUS_INVALID_ARG,
                "mlp_model_export_onnx: path is empty");

    /* A model without layers has no graph to export. */
    int32_t d = 3;
    mlp_model *empty = NULL;
    TU_OK(mlp_model_create(&empty, 1, &d, 1));
    buf = (void *)1;
    TU_FAIL(mlp_model_export_onnx_mem(empty, &buf, &len), MLP_STATUS_BAD_STATE);
    ck_assert_ptr_null(buf);
    TU_FAIL(mlp_model_export_onnx(empty, tmp_path("a.onnx")), MLP_STATUS_BAD_STATE);
    ck_assert(strstr(mlp_last_error(), "no layers"));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 0);

    /* A directory that does not exist, or is a file. */
    TU_FAIL(mlp_model_export_onnx(m, tmp_path("none/a.onnx")), MLP_STATUS_IO);
    tu_write_file(tmp_path("file"), "x", 1);
    TU_FAIL(mlp_model_export_onnx(m, tmp_path("file/a.onnx")), MLP_STATUS_IO);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    mlp_model_destroy(empty);
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}
END_TEST

START_TEST(unsupported_kind_is_named_and_leaves_no_file)
{
    /* No kind lacks a mapping today; a layer of a kind this exporter does
     * not know (as a future kind would be) stands in for one. */
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_onnx");
    mlp_model *m = every_kind();
    const char *path = tmp_path("model.onnx");
    char p[600];
    snprintf(p, sizeof p, "%s", path);
    tu_write_file(p, "earlier", 7);
    mlp_layer *l = mlp_model_layer(m, 3);
    const mlp_layer_kind kind = l->kind;
    l->kind = (mlp_layer_kind)999;
    void *buf = (void *)1;
    size_t len = 1;
    TU_FAIL(mlp_model_export_onnx_mem(m, &buf, &len), MLP_STATUS_UNSUPPORTED);
    ck_assert_ptr_null(buf);
    ck_assert_msg(strstr(mlp_last_error(), "layer 3 (leaky_relu)"), "%s",
                  mlp_last_error());
    TU_FAIL(mlp_model_export_onnx(m, p), MLP_STATUS_UNSUPPORTED);
    size_t n = 0;
    unsigned char *after = tu_read_file(p, &n);
    ck_assert_uint_eq(n, 7);
    ck_assert(memcmp(after, "earlier", 7) == 0);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    free(after);
    l->kind = kind;
    TU_OK(mlp_model_export_onnx(m, p));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}
END_TEST

/* A NaN or an infinity among the values (a model whose training
 * diverged), or a state value no layer holds, exported to a file whose
 * every output was NaN. The export is refused as a save is, writing
 * nothing: an earlier file is untouched and no temporary file is left. */
START_TEST(values_a_load_refuses_are_not_exported)
{
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_onnx");
    mlp_model *m = every_kind();
    char p[600];
    snprintf(p, sizeof p, "%s", tmp_path("model.onnx"));
    tu_write_file(p, "earlier", 7);
    /* layer 1: conv2d; layer 2: spatial batch norm over 4 channels
     * (running mean [4], running variance [4]) */
    const tu_bad_value cases[] = {
        {0, 1, 3, NAN, MLP_STATUS_NUMERIC,
         "layer 1 (conv2d): parameter 3 is NaN; a model holds finite values only "
         "(nothing was exported)"},
        {0, 2, 0, INFINITY, MLP_STATUS_NUMERIC,
         "layer 2 (batchnorm): parameter 0 is "
         "+infinity"},
        {1, 2, 1, -INFINITY, MLP_STATUS_NUMERIC,
         "layer 2 (batchnorm): state value 1 is -infinity"},
        {1, 2, 6, -2.0f, MLP_STATUS_INVALID_ARG,
         "layer 2 (batchnorm): state value 6 is -2; a running variance must be >= 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float *v = tu_layer_value(m, &cases[i]);
        const float keep = *v;
        *v = cases[i].value;
        void *buf = (void *)1;
        size_t len = 1;
        TU_FAIL_MSG(mlp_model_export_onnx_mem(m, &buf, &len), cases[i].st, cases[i].says);
        TU_ERROR_HAS("mlp_model_export_onnx_mem: layer ");
        ck_assert_ptr_null(buf);
        ck_assert_uint_eq(len, 0);
        TU_FAIL_MSG(mlp_model_export_onnx(m, p), cases[i].st, cases[i].says);
        size_t n = 0;
        unsigned char *after = tu_read_file(p, &n);
        ck_assert_msg(n == 7 && memcmp(after, "earlier", 7) == 0, "case %zu", i);
        free(after);
        ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
        TU_FAIL(mlp_model_export_onnx(m, tmp_path("new.onnx")), cases[i].st);
        ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
        *v = keep;
    }
    TU_OK(mlp_model_export_onnx(m, p));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}
END_TEST

typedef struct oom_ctx {
    mlp_model *m;
    int to_file;
    char path[600];
} oom_ctx;

static mlp_status oom_export(void *ctx)
{
    oom_ctx *c = ctx;
    if (c->to_file)
        return mlp_model_export_onnx(c->m, c->path);
    void *buf = NULL;
    size_t len = 0;
    mlp_status st = mlp_model_export_onnx_mem(c->m, &buf, &len);
    ck_assert(st == MLP_STATUS_OK || (buf == NULL && len == 0));
    mlp_buffer_free(buf);
    return st;
}

static void oom_after(void *ctx, mlp_status st)
{
    oom_ctx *c = ctx;
    /* A failed export leaves no file and no temporary behind. */
    if (c->to_file)
        ck_assert_int_eq(tu_count_dir_entries(tmp_dir), st == MLP_STATUS_OK);
    if (st == MLP_STATUS_OK && c->to_file)
        remove(c->path);
}

START_TEST(oom_loop_over_export)
{
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_onnx");
    oom_ctx c = {every_kind(), 0, {0}};
    snprintf(c.path, sizeof c.path, "%s", tmp_path("oom.onnx"));
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = oom_after;
    for (c.to_file = 0; c.to_file < 2; c.to_file++)
        tu_oom_loop(c.to_file ? "export to a file" : "export to memory", oom_export, &c,
                    &cfg);
    mlp_model_destroy(c.m);
    tu_rm_tree(tmp_dir);
}
END_TEST

static Suite *onnx_suite(void)
{
    Suite *s = suite_create("onnx");
    TCase *t = tcase_create("export");
    tcase_add_test(t, exported_bytes_are_well_formed);
    tcase_add_test(t, outputs_follow_the_loss);
    tcase_add_test(t, misuse_is_refused);
    tcase_add_test(t, unsupported_kind_is_named_and_leaves_no_file);
    tcase_add_test(t, values_a_load_refuses_are_not_exported);
    tcase_add_test(t, oom_loop_over_export);
    suite_add_tcase(s, t);
    return s;
}

TU_MAIN(onnx_suite, 0)
