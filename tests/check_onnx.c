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

/* ---- reading the graph back --------------------------------------------------- */

/* One field of a message: its number and wire type, and its value (a
 * varint, or the bits of a fixed-width field) or its bytes. */
typedef struct pbf {
    uint64_t field;
    unsigned wire;
    uint64_t v;
    const unsigned char *p;
    size_t len;
} pbf;

/* The field at *at of the message p[0..n), moving *at past it; 0 at the
 * end of the message or at bytes that are no field. */
static int next_field(const unsigned char *p, size_t n, size_t *at, pbf *f)
{
    uint64_t key;
    if (*at >= n || !read_varint(p, n, at, &key))
        return 0;
    f->field = key >> 3;
    f->wire = (unsigned)(key & 7);
    f->v = 0;
    f->p = NULL;
    f->len = 0;
    size_t width = 0;
    switch (f->wire) {
    case 0: return read_varint(p, n, at, &f->v);
    case 1: width = 8; break;
    case 5: width = 4; break;
    case 2:
        if (!read_varint(p, n, at, &f->v) || f->v > n - *at)
            return 0;
        f->p = p + *at;
        f->len = (size_t)f->v;
        *at += f->len;
        return 1;
    default: return 0;
    }
    if (width > n - *at)
        return 0;
    for (size_t b = 0; b < width; b++)
        f->v |= (uint64_t)p[*at + b] << (8 * b);
    *at += width;
    return 1;
}

/* A message: its bytes. */
typedef struct msg {
    const unsigned char *p;
    size_t len;
} msg;

static int is_str(const pbf *f, const char *s)
{
    return f->wire == 2 && f->len == strlen(s) && memcmp(f->p, s, f->len) == 0;
}

/* The nth (0-based) length-delimited field `field` of m. */
static int sub(msg m, uint64_t field, int nth, msg *out)
{
    size_t at = 0;
    pbf f;
    while (next_field(m.p, m.len, &at, &f))
        if (f.field == field && f.wire == 2 && nth-- == 0) {
            *out = (msg){f.p, f.len};
            return 1;
        }
    return 0;
}

/* Whether m has the string s in field `field`. */
static int has_str(msg m, uint64_t field, const char *s)
{
    size_t at = 0;
    pbf f;
    while (next_field(m.p, m.len, &at, &f))
        if (f.field == field && is_str(&f, s))
            return 1;
    return 0;
}

/* The first message in field `field` of m whose field `key` is the string
 * name (a node's attribute, a graph's initializer). */
static int named(msg m, uint64_t field, uint64_t key, const char *name, msg *out)
{
    for (int k = 0; sub(m, field, k, out); k++)
        if (has_str(*out, key, name))
            return 1;
    return 0;
}

/* The first varint field `field` of m, or `none`. */
static int64_t varint_of(msg m, uint64_t field, int64_t none)
{
    size_t at = 0;
    pbf f;
    while (next_field(m.p, m.len, &at, &f))
        if (f.field == field && f.wire == 0)
            return (int64_t)f.v;
    return none;
}

/* The nth node (0-based) of the graph whose op_type is op. */
static int find_node(msg graph, const char *op, int nth, msg *node)
{
    for (int k = 0; sub(graph, 1, k, node); k++)
        if (has_str(*node, 4, op) && nth-- == 0)
            return 1;
    return 0;
}

/* The nth input (0-based) of a node is the string s. */
static int node_input_is(msg node, int nth, const char *s)
{
    msg in;
    return sub(node, 1, nth, &in) && in.len == strlen(s) && memcmp(in.p, s, in.len) == 0;
}

/* The fields of one message below 32, as read: for each number its wire
 * type, how many times it came, its first four values (varints and fixed
 * widths) and its last bytes (length-delimited); odd counts fields above
 * 31, a number that came with two wire types, and bytes left unread. */
typedef struct dmsg {
    unsigned wire[32];
    int count[32], odd;
    int64_t v[32][4];
    msg bytes[32];
} dmsg;

static void decode(msg m, dmsg *d)
{
    memset(d, 0, sizeof *d);
    size_t at = 0;
    pbf f;
    while (next_field(m.p, m.len, &at, &f)) {
        if (f.field >= 32) {
            d->odd++;
            continue;
        }
        const int n = d->count[f.field]++;
        d->odd += n > 0 && d->wire[f.field] != f.wire;
        d->wire[f.field] = f.wire;
        if (n < 4)
            d->v[f.field][n] = (int64_t)f.v;
        d->bytes[f.field] = (msg){f.p, f.len};
    }
    d->odd += at != m.len;
}

/* The fields of AttributeProto and TensorProto this exporter writes. */
enum { A_F = 2, A_I = 3, A_INTS = 8, A_TYPE = 20, T_DIMS = 1, T_TYPE = 2, T_RAW = 9 };

/* A node's attribute `name` of type `type` (AttributeProto.type), holding
 * only its name, its type and `count` values in field `field` of wire type
 * `wire`. */
static dmsg attr_of_type(msg node, const char *name, int64_t type, int field,
                         unsigned wire, int count)
{
    msg am;
    dmsg a;
    ck_assert_msg(named(node, 5, 1, name, &am), "no attribute %s", name);
    decode(am, &a);
    ck_assert_int_eq(a.odd, 0);
    ck_assert_int_eq(a.count[A_TYPE], 1);
    ck_assert_int_eq(a.v[A_TYPE][0], type);
    ck_assert_msg(a.count[field] == count && a.wire[field] == wire,
                  "%s: %d values of wire type %u in field %d", name, a.count[field],
                  a.wire[field], field);
    int others = 0;
    for (int k = 2; k < 32; k++)
        others += k != field && k != A_TYPE ? a.count[k] : 0;
    ck_assert_msg(others == 0, "%s: %d other fields", name, others);
    return a;
}

static void assert_attr_int(msg node, const char *name, int64_t want)
{
    const dmsg a = attr_of_type(node, name, 2, A_I, 0, 1); /* INT */
    ck_assert_msg(a.v[A_I][0] == want, "%s = %lld, want %lld", name,
                  (long long)a.v[A_I][0], (long long)want);
}

static void assert_attr_float(msg node, const char *name, float want)
{
    const dmsg a = attr_of_type(node, name, 1, A_F, 5, 1); /* FLOAT */
    const uint32_t u = (uint32_t)a.v[A_F][0];
    float got;
    memcpy(&got, &u, sizeof got);
    ck_assert_msg(got == want, "%s = %.9g, want %.9g", name, (double)got, (double)want);
}

static void assert_attr_ints(msg node, const char *name, int n, int64_t a0, int64_t a1,
                             int64_t a2, int64_t a3)
{
    const int64_t want[4] = {a0, a1, a2, a3};
    const dmsg a = attr_of_type(node, name, 7, A_INTS, 0, n); /* INTS */
    ck_assert_msg(memcmp(a.v[A_INTS], want, (size_t)n * sizeof want[0]) == 0,
                  "%s = [%lld %lld %lld %lld]", name, (long long)a.v[A_INTS][0],
                  (long long)a.v[A_INTS][1], (long long)a.v[A_INTS][2],
                  (long long)a.v[A_INTS][3]);
}

/* The initializer `name` of the graph, of element type `type` and these
 * dims (nd of them), its data in raw_data: the raw bytes. */
static msg initializer(msg graph, const char *name, int64_t type, int nd, int64_t d0,
                       int64_t d1, int64_t d2, int64_t d3)
{
    const int64_t dims[4] = {d0, d1, d2, d3};
    msg im;
    dmsg t;
    ck_assert_msg(named(graph, 5, 8, name, &im), "no initializer %s", name);
    decode(im, &t);
    ck_assert_int_eq(t.odd, 0);
    ck_assert_int_eq(t.v[T_TYPE][0], type);
    ck_assert_int_eq(t.count[T_DIMS], nd);
    ck_assert_msg(memcmp(t.v[T_DIMS], dims, (size_t)nd * sizeof dims[0]) == 0,
                  "%s: dims [%lld %lld %lld %lld]", name, (long long)t.v[T_DIMS][0],
                  (long long)t.v[T_DIMS][1], (long long)t.v[T_DIMS][2],
                  (long long)t.v[T_DIMS][3]);
    ck_assert_int_eq(t.wire[T_RAW], 2);
    int64_t n = type == 1 ? 4 : 8;
    for (int k = 0; k < nd; k++)
        n *= dims[k];
    ck_assert_uint_eq(t.bytes[T_RAW].len, (size_t)n);
    return t.bytes[T_RAW];
}

/* A float initializer of these dims holding exactly `want`. */
static void assert_floats(msg graph, const char *name, const float *want, int nd,
                          int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    const msg raw = initializer(graph, name, 1, nd, d0, d1, d2, d3);
    int64_t unlike = 0;
    for (size_t j = 0; j < raw.len / 4; j++) {
        uint32_t u = 0;
        for (int b = 0; b < 4; b++)
            u |= (uint32_t)raw.p[4 * j + b] << (8 * b);
        float v;
        memcpy(&v, &u, sizeof v);
        unlike += v != want[j];
    }
    ck_assert_msg(unlike == 0, "%s: %lld values differ", name, (long long)unlike);
}

/* The value of metadata entry `key` is `value`. */
static int meta_is(msg model, const char *key, const char *value)
{
    msg e;
    return named(model, 14, 1, key, &e) && has_str(e, 2, value);
}

/* A graph input or output (field 11 or 12) named name: float
 * [N, d0, d1, d2] with n dims after N. */
static void assert_value(msg graph, uint64_t field, const char *name, int n, int64_t d0,
                         int64_t d1, int64_t d2)
{
    const int64_t want[3] = {d0, d1, d2};
    msg v, type, tensor, shape, dim;
    ck_assert_msg(named(graph, field, 1, name, &v), "no graph value %s", name);
    ck_assert(sub(v, 2, 0, &type) && sub(type, 1, 0, &tensor));
    ck_assert_int_eq(varint_of(tensor, 1, -1), 1); /* FLOAT */
    ck_assert(sub(tensor, 2, 0, &shape));
    ck_assert(sub(shape, 1, 0, &dim));
    ck_assert_msg(has_str(dim, 2, "N") && varint_of(dim, 1, -1) == -1,
                  "%s: the batch dimension is not the parameter N", name);
    for (int k = 0; k < n; k++) {
        ck_assert(sub(shape, 1, k + 1, &dim));
        ck_assert_int_eq(varint_of(dim, 1, -1), want[k]);
    }
    ck_assert(!sub(shape, 1, n + 1, &dim));
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

/* A model whose every setting differs from its default and from its
 * transpose: conv2d kernel 3x2, strides 1,2, pads 0,1, dilations 2,1; an
 * average pool 2x3 with padding; epsilon, momentum and alpha values of
 * their own; running statistics and standardisation values unlike the
 * initial ones. */
static mlp_model *settings_model(void)
{
    int32_t dims[3] = {2, 7, 6};
    mlp_model *m = NULL;
    mlp_layer *l = NULL;
    TU_OK(mlp_model_create(&m, 3, dims, 5));
    TU_OK(mlp_layer_create_standardize(&l)); /* 0: [2,7,6] */
    add(m, l);
    TU_OK(mlp_layer_create_conv2d(&l, 2, 3, 3, 2)); /* 1: [3,3,4] */
    TU_OK(mlp_layer_set_conv2d(l, 1, 2, 0, 1, 2, 1));
    add(m, l);
    TU_OK(mlp_layer_create_batchnorm_spatial(&l)); /* 2 */
    TU_OK(mlp_layer_set_batchnorm(l, 0.25f, 1e-3f));
    add(m, l);
    TU_OK(mlp_layer_create_leaky_relu(&l, 0.2f)); /* 3 */
    add(m, l);
    TU_OK(mlp_layer_create_avgpool(&l, 2, 3, 1, 1)); /* 4: [3,4,4] */
    add(m, l);
    TU_OK(mlp_layer_create_maxpool(&l, 2, 2, 2, 0)); /* 5: [3,2,2] */
    add(m, l);
    TU_OK(mlp_layer_create_elu(&l, 0.5f)); /* 6 */
    add(m, l);
    TU_OK(mlp_layer_create_selu(&l)); /* 7 */
    add(m, l);
    TU_OK(mlp_layer_create_batchnorm(&l)); /* 8: per feature of [3,2,2] */
    TU_OK(mlp_layer_set_batchnorm(l, 0.5f, 2e-4f));
    add(m, l);
    TU_OK(mlp_layer_create_flatten(&l)); /* 9: [12] */
    add(m, l);
    TU_OK(mlp_layer_create_dense(&l, 4)); /* 10: [4] */
    add(m, l);
    const int with_state[3] = {0, 2, 8};
    for (int k = 0; k < 3; k++) {
        mlp_layer *s = mlp_model_layer(m, with_state[k]);
        float *v = mlp_layer_state(s);
        for (int64_t j = 0; j < mlp_layer_state_count(s); j++)
            v[j] = 0.5f + 0.25f * (float)j;
    }
    return m;
}

/* Feature names go into the metadata as a JSON array, as class names do;
 * a model without them has no such entry. */
START_TEST(feature_names_in_metadata)
{
    mlp_model *m = tu_model(1, (int32_t[]){2}, 1);
    tu_add(m, tu_dense(3));
    TU_OK(mlp_model_set_feature_names(m, (const char *const[]){"a", "b\"c\\"}, 2));
    void *buf = NULL;
    size_t len = 0;
    TU_OK(mlp_model_export_onnx_mem(m, &buf, &len));
    fields top;
    ck_assert(walk(buf, len, &top));
    ck_assert_int_eq(top.count[14], 5); /* metadata: 4 + feature names */
    ck_assert(meta_is((msg){buf, len}, "feature_names", "[\"a\",\"b\\\"c\\\\\"]"));
    mlp_buffer_free(buf);
    TU_OK(mlp_model_set_feature_names(m, NULL, 0));
    TU_OK(mlp_model_export_onnx_mem(m, &buf, &len));
    ck_assert(walk(buf, len, &top));
    ck_assert_int_eq(top.count[14], 4);
    ck_assert(!contains(buf, len, "feature_names"));
    mlp_buffer_free(buf);
    mlp_model_destroy(m);
}
END_TEST

/* The graph read back field by field: the opset and IR version, the
 * metadata, the input's shape, every attribute value of the settings
 * model and the dims and values of its initializers, as onnx.proto and the
 * operators of docs/deploy.md define them. */
START_TEST(exported_graph_reads_back)
{
    mlp_model *m = settings_model();
    void *buf = NULL;
    size_t len = 0;
    TU_OK(mlp_model_export_onnx_mem(m, &buf, &len));
    const msg model = {buf, len};
    fields top;
    ck_assert(walk(buf, len, &top));
    ck_assert_int_eq(varint_of(model, 1, -1), 7); /* ir_version */
    msg opset, graph, node;
    ck_assert(sub(model, 8, 0, &opset));
    ck_assert(has_str(opset, 1, ""));
    ck_assert_int_eq(varint_of(opset, 2, -1), 14);
    ck_assert(meta_is(model, "task", "classify"));
    ck_assert(meta_is(model, "outputs", "4"));
    ck_assert(meta_is(model, "loss", mlp_loss_kind_name(MLP_LOSS_SOFTMAX_XENT)));
    ck_assert(meta_is(model, "mlpnet_version", MLPNET_VERSION_STRING));
    ck_assert(sub(model, 7, 0, &graph));
    assert_value(graph, 11, "input", 3, 2, 7, 6);
    assert_value(graph, 12, "logits", 1, 4, 0, 0);
    assert_value(graph, 12, "probabilities", 1, 4, 0, 0);

    /* standardize: (x - mean) / scale */
    const float *std = mlp_layer_state(mlp_model_layer(m, 0));
    assert_floats(graph, "layer0_std_mean", std, 3, 2, 7, 6, 0);
    assert_floats(graph, "layer0_std_scale", std + 84, 3, 2, 7, 6, 0);
    ck_assert(find_node(graph, "Div", 0, &node));
    ck_assert(node_input_is(node, 1, "layer0_std_scale"));
    ck_assert(!find_node(graph, "Div", 1, &node));

    /* conv2d: W [F, C, kh, kw] */
    const float *cw = mlp_layer_params(mlp_model_layer(m, 1));
    assert_floats(graph, "layer1_conv_W", cw, 4, 3, 2, 3, 2);
    assert_floats(graph, "layer1_conv_B", cw + 36, 1, 3, 0, 0, 0);
    ck_assert(find_node(graph, "Conv", 0, &node));
    assert_attr_ints(node, "kernel_shape", 2, 3, 2, 0, 0);
    assert_attr_ints(node, "strides", 2, 1, 2, 0, 0);
    assert_attr_ints(node, "pads", 4, 0, 1, 0, 1);
    assert_attr_ints(node, "dilations", 2, 2, 1, 0, 0);
    assert_attr_int(node, "group", 1);

    /* batch norm: scale, B, running mean, running variance, epsilon */
    const int bn_layer[2] = {2, 8}, bn_c[2] = {3, 12};
    const float bn_eps[2] = {1e-3f, 2e-4f};
    for (int k = 0; k < 2; k++) {
        mlp_layer *bn = mlp_model_layer(m, bn_layer[k]);
        char name[64];
        snprintf(name, sizeof name, "layer%d_bn_mean", bn_layer[k]);
        assert_floats(graph, name, mlp_layer_state(bn), 1, bn_c[k], 0, 0, 0);
        snprintf(name, sizeof name, "layer%d_bn_var", bn_layer[k]);
        assert_floats(graph, name, mlp_layer_state(bn) + bn_c[k], 1, bn_c[k], 0, 0, 0);
        ck_assert(find_node(graph, "BatchNormalization", k, &node));
        assert_attr_float(node, "epsilon", bn_eps[k]);
    }
    /* the per-feature one on [3,2,2]: flattened, then reshaped to [N,3,2,2]
     * by an int64 shape whose 0 copies N */
    const msg shape = initializer(graph, "layer8_unflatten_shape", 7, 1, 4, 0, 0, 0);
    const int64_t want_shape[4] = {0, 3, 2, 2};
    for (int k = 0; k < 4; k++) {
        uint64_t u = 0;
        for (int b = 0; b < 8; b++)
            u |= (uint64_t)shape.p[8 * k + b] << (8 * b);
        ck_assert_int_eq((int64_t)u, want_shape[k]);
    }
    ck_assert(find_node(graph, "Reshape", 0, &node));
    assert_attr_int(node, "allowzero", 0);
    for (int k = 0; find_node(graph, "Flatten", k, &node); k++)
        assert_attr_int(node, "axis", 1);

    /* pooling */
    ck_assert(find_node(graph, "AveragePool", 0, &node));
    assert_attr_ints(node, "kernel_shape", 2, 2, 3, 0, 0);
    assert_attr_ints(node, "strides", 2, 1, 1, 0, 0);
    assert_attr_ints(node, "pads", 4, 1, 1, 1, 1);
    assert_attr_int(node, "count_include_pad", 0);
    ck_assert(find_node(graph, "MaxPool", 0, &node));
    assert_attr_ints(node, "kernel_shape", 2, 2, 2, 0, 0);
    assert_attr_ints(node, "strides", 2, 2, 2, 0, 0);
    assert_attr_ints(node, "pads", 4, 0, 0, 0, 0);

    /* activations */
    ck_assert(find_node(graph, "LeakyRelu", 0, &node));
    assert_attr_float(node, "alpha", 0.2f);
    ck_assert(find_node(graph, "Elu", 0, &node));
    assert_attr_float(node, "alpha", 0.5f);
    ck_assert(find_node(graph, "Selu", 0, &node));
    assert_attr_float(node, "alpha", 1.6732632423543772848f);
    assert_attr_float(node, "gamma", 1.0507009873554804934f);

    /* dense: Gemm of x [N, in] and W [in, out] */
    const float *dw = mlp_layer_params(mlp_model_layer(m, 10));
    assert_floats(graph, "layer10_dense_W", dw, 2, 12, 4, 0, 0);
    assert_floats(graph, "layer10_dense_B", dw + 48, 1, 4, 0, 0, 0);
    ck_assert(find_node(graph, "Gemm", 0, &node));
    ck_assert(node_input_is(node, 1, "layer10_dense_W"));

    /* Softmax on the last axis: -1 as the 10-byte varint of int64 -1 */
    ck_assert(find_node(graph, "Softmax", 0, &node));
    assert_attr_int(node, "axis", -1);
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
        const msg whole = {buf, len}, g = {whole.p + model.off[7], model.len[7]};
        assert_value(g, 12, cases[c].first, 1, 3, 0, 0);
        ck_assert(meta_is(whole, "task", cases[c].outputs == 2 ? "classify" : "regress"));
        ck_assert(meta_is(whole, "outputs", "3"));
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
    /* the out-pointer given is cleared also when the other one is NULL */
    len = 7;
    TU_FAIL(mlp_model_export_onnx_mem(m, NULL, &len), MLP_STATUS_INVALID_ARG);
    ck_assert_uint_eq(len, 0);
    buf = (void *)1;
    TU_FAIL(mlp_model_export_onnx_mem(m, &buf, NULL), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(buf);
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
    tcase_add_test(t, exported_graph_reads_back);
    tcase_add_test(t, feature_names_in_metadata);
    tcase_add_test(t, outputs_follow_the_loss);
    tcase_add_test(t, misuse_is_refused);
    tcase_add_test(t, unsupported_kind_is_named_and_leaves_no_file);
    tcase_add_test(t, values_a_load_refuses_are_not_exported);
    tcase_add_test(t, oom_loop_over_export);
    suite_add_tcase(s, t);
    return s;
}

TU_MAIN(onnx_suite, 0)
