/*
 * Export to ONNX (docs/deploy.md has the operator mapping).
 *
 * The exporter writes the protobuf wire format of onnx.proto by hand: only
 * what a writer needs (varints, fixed 32-bit floats, length-delimited
 * fields), about 100 lines, instead of a run-time dependency on a protobuf
 * library for every program that links libmlpnet. It is checked by reading
 * its output with real decoders (the onnx checker and ONNX Runtime, in the
 * onnx test suite).
 *
 * Every message is produced by an emitter function, called twice: once
 * counting (a writer without a buffer) to learn the length that prefixes a
 * nested message, and once writing. The whole model is first counted, then
 * written into one exact-size buffer (a single allocation), which a file
 * export hands to the same atomic writer as model files.
 *
 * The graph: "input" [N, input shape...] -> one or a few nodes per layer ->
 * "logits" [N, K] for a classifier ("outputs" for a model that regresses),
 * plus "probabilities" [N, K] for a classifier that has them (Softmax on the
 * last axis for softmax cross-entropy with K >= 2, Sigmoid for BCE on
 * logits). N is the symbolic dimension "N".
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/atomic_file.h"
#include "mlpnet/io.h"
#include "mlpnet/version.h"
#include "model/model_impl.h"

/* The ONNX operator set the graph is written against (Reshape's allowzero
 * attribute needs 14), and the IR version that goes with it. */
#define ONNX_OPSET 14
#define ONNX_IR_VERSION 7

/* ---- protobuf wire format --------------------------------------------------- */

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* A writer: with buf NULL it only counts the bytes. */
typedef struct pb {
    unsigned char *buf;
    size_t pos;
} pb;

typedef void (*pb_emit)(pb *w, const void *ctx);

static void pb_raw(pb *w, const void *p, size_t n)
{
    if (w->buf && n)
        memcpy(w->buf + w->pos, p, n);
    w->pos += n;
}

static void pb_varint(pb *w, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            b[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(w, b, n);
}

static void pb_tag(pb *w, uint32_t field, unsigned wire)
{
    pb_varint(w, (uint64_t)field << 3 | wire);
}

/* int32, int64 and enum fields: a negative value is the 10-byte varint of
 * its two's complement, as protobuf specifies. */
static void pb_int(pb *w, uint32_t field, int64_t v)
{
    pb_tag(w, field, WIRE_VARINT);
    pb_varint(w, (uint64_t)v);
}

static void pb_float(pb *w, uint32_t field, float f)
{
    unsigned char b[4];
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(u >> (8 * i));
    pb_tag(w, field, WIRE_I32);
    pb_raw(w, b, 4);
}

static void pb_str(pb *w, uint32_t field, const char *s)
{
    size_t n = strlen(s);
    pb_tag(w, field, WIRE_LEN);
    pb_varint(w, n);
    pb_raw(w, s, n);
}

/* A length-delimited field whose content `fn` produces: counted first for
 * its length prefix, then written. */
static void pb_msg(pb *w, uint32_t field, pb_emit fn, const void *ctx)
{
    pb c = {NULL, 0};
    fn(&c, ctx);
    pb_tag(w, field, WIRE_LEN);
    pb_varint(w, c.pos);
    fn(w, ctx);
}

/* ---- onnx.proto field numbers ----------------------------------------------- */

enum {
    MODEL_IR_VERSION = 1,
    MODEL_PRODUCER_NAME = 2,
    MODEL_PRODUCER_VERSION = 3,
    MODEL_DOC_STRING = 6,
    MODEL_GRAPH = 7,
    MODEL_OPSET_IMPORT = 8,
    MODEL_METADATA_PROPS = 14,
    OPSET_DOMAIN = 1,
    OPSET_VERSION = 2,
    ENTRY_KEY = 1,
    ENTRY_VALUE = 2,
    GRAPH_NODE = 1,
    GRAPH_NAME = 2,
    GRAPH_INITIALIZER = 5,
    GRAPH_INPUT = 11,
    GRAPH_OUTPUT = 12,
    NODE_INPUT = 1,
    NODE_OUTPUT = 2,
    NODE_NAME = 3,
    NODE_OP_TYPE = 4,
    NODE_ATTRIBUTE = 5,
    ATTR_NAME = 1,
    ATTR_F = 2,
    ATTR_I = 3,
    ATTR_INTS = 8,
    ATTR_TYPE = 20,
    TENSOR_DIMS = 1,
    TENSOR_DATA_TYPE = 2,
    TENSOR_NAME = 8,
    TENSOR_RAW_DATA = 9,
    VALUE_NAME = 1,
    VALUE_TYPE = 2,
    TYPE_TENSOR = 1,
    TTENSOR_ELEM_TYPE = 1,
    TTENSOR_SHAPE = 2,
    SHAPE_DIM = 1,
    DIM_VALUE = 1,
    DIM_PARAM = 2
};

enum { ATTR_TYPE_FLOAT = 1, ATTR_TYPE_INT = 2, ATTR_TYPE_INTS = 7 };
enum { ELEM_FLOAT = 1, ELEM_INT64 = 7 };

/* ---- graph pieces ----------------------------------------------------------- */

#define NAME_MAX_LEN 48
#define MAX_ATTRS 6

typedef struct attr {
    const char *name;
    int type; /* ATTR_TYPE_* */
    int64_t i;
    float f;
    int64_t ints[4];
    int n_ints;
} attr;

typedef struct node {
    const char *op;
    const char *in[5];
    int n_in;
    const char *out;
    char name[NAME_MAX_LEN];
    attr a[MAX_ATTRS];
    int n_attr;
} node;

/* An initializer: float values (f) or int64 values (i64), dims outermost
 * first. */
typedef struct init {
    const char *name;
    int elem; /* ELEM_* */
    int64_t dims[4];
    int nd;
    const float *f;
    const int64_t *i64;
    int64_t n;
} init;

/* A graph input or output: float [N, dims...]. */
typedef struct value {
    const char *name;
    const int32_t *dims;
    int nd;
} value;

static void emit_attr(pb *w, const void *ctx)
{
    const attr *a = ctx;
    pb_str(w, ATTR_NAME, a->name);
    switch (a->type) {
    case ATTR_TYPE_FLOAT: pb_float(w, ATTR_F, a->f); break;
    case ATTR_TYPE_INT: pb_int(w, ATTR_I, a->i); break;
    default:
        for (int k = 0; k < a->n_ints; k++)
            pb_int(w, ATTR_INTS, a->ints[k]);
        break;
    }
    pb_int(w, ATTR_TYPE, a->type);
}

static void emit_node(pb *w, const void *ctx)
{
    const node *n = ctx;
    for (int k = 0; k < n->n_in; k++)
        pb_str(w, NODE_INPUT, n->in[k]);
    pb_str(w, NODE_OUTPUT, n->out);
    pb_str(w, NODE_NAME, n->name);
    pb_str(w, NODE_OP_TYPE, n->op);
    for (int k = 0; k < n->n_attr; k++)
        pb_msg(w, NODE_ATTRIBUTE, emit_attr, &n->a[k]);
}

static void emit_init(pb *w, const void *ctx)
{
    const init *t = ctx;
    for (int k = 0; k < t->nd; k++)
        pb_int(w, TENSOR_DIMS, t->dims[k]);
    pb_int(w, TENSOR_DATA_TYPE, t->elem);
    pb_str(w, TENSOR_NAME, t->name);
    /* raw_data: the values little-endian, whatever the machine. */
    size_t width = t->elem == ELEM_FLOAT ? 4 : 8;
    pb_tag(w, TENSOR_RAW_DATA, WIRE_LEN);
    pb_varint(w, (uint64_t)t->n * width);
    if (!w->buf) {
        w->pos += (size_t)t->n * width;
        return;
    }
    unsigned char *p = w->buf + w->pos;
    for (int64_t j = 0; j < t->n; j++, p += width) {
        uint64_t u;
        if (t->elem == ELEM_FLOAT) {
            uint32_t u32;
            memcpy(&u32, &t->f[j], sizeof u32);
            u = u32;
        } else {
            u = (uint64_t)t->i64[j];
        }
        for (size_t b = 0; b < width; b++)
            p[b] = (unsigned char)(u >> (8 * b));
    }
    w->pos += (size_t)t->n * width;
}

static void emit_dim(pb *w, const void *ctx)
{
    const int32_t *d = ctx;
    if (d)
        pb_int(w, DIM_VALUE, *d);
    else
        pb_str(w, DIM_PARAM, "N");
}

static void emit_shape(pb *w, const void *ctx)
{
    const value *v = ctx;
    pb_msg(w, SHAPE_DIM, emit_dim, NULL);
    for (int k = 0; k < v->nd; k++)
        pb_msg(w, SHAPE_DIM, emit_dim, &v->dims[k]);
}

static void emit_tensor_type(pb *w, const void *ctx)
{
    pb_int(w, TTENSOR_ELEM_TYPE, ELEM_FLOAT);
    pb_msg(w, TTENSOR_SHAPE, emit_shape, ctx);
}

static void emit_type(pb *w, const void *ctx)
{
    pb_msg(w, TYPE_TENSOR, emit_tensor_type, ctx);
}

static void emit_value(pb *w, const void *ctx)
{
    const value *v = ctx;
    pb_str(w, VALUE_NAME, v->name);
    pb_msg(w, VALUE_TYPE, emit_type, v);
}

/* ---- building nodes --------------------------------------------------------- */

static void node_init(node *n, const char *op, const char *out, int layer,
                      const char *suffix)
{
    memset(n, 0, sizeof *n);
    n->op = op;
    n->out = out;
    snprintf(n->name, sizeof n->name, "layer%d_%s", layer, suffix);
}

static void node_in(node *n, const char *name)
{
    n->in[n->n_in++] = name;
}

static void attr_int(node *n, const char *name, int64_t v)
{
    attr *a = &n->a[n->n_attr++];
    a->name = name;
    a->type = ATTR_TYPE_INT;
    a->i = v;
}

static void attr_float(node *n, const char *name, float v)
{
    attr *a = &n->a[n->n_attr++];
    a->name = name;
    a->type = ATTR_TYPE_FLOAT;
    a->f = v;
}

static void attr_ints(node *n, const char *name, int count, int64_t a0, int64_t a1,
                      int64_t a2, int64_t a3)
{
    attr *a = &n->a[n->n_attr++];
    a->name = name;
    a->type = ATTR_TYPE_INTS;
    a->n_ints = count;
    a->ints[0] = a0;
    a->ints[1] = a1;
    a->ints[2] = a2;
    a->ints[3] = a3;
}

static void put_node(pb *w, const node *n)
{
    pb_msg(w, GRAPH_NODE, emit_node, n);
}

static void put_floats(pb *w, const char *name, const float *f, int nd, int64_t d0,
                       int64_t d1, int64_t d2, int64_t d3)
{
    init t = {name, ELEM_FLOAT, {d0, d1, d2, d3}, nd, f, NULL, 1};
    for (int k = 0; k < nd; k++)
        t.n *= t.dims[k];
    pb_msg(w, GRAPH_INITIALIZER, emit_init, &t);
}

/* A float initializer shaped like a per-sample shape (broadcasts against
 * [N, shape...]). */
static void put_floats_shape(pb *w, const char *name, const float *f, const mlp_shape *s)
{
    put_floats(w, name, f, s->rank, s->d[0], s->rank > 1 ? s->d[1] : 0,
               s->rank > 2 ? s->d[2] : 0, 0);
}

/* Reshape `in` to [N, s...] (0 copies the batch dimension; allowzero 0). */
static void put_reshape(pb *w, int i, const char *suffix, const char *in, const char *out,
                        const mlp_shape *s)
{
    char shape_name[NAME_MAX_LEN];
    snprintf(shape_name, sizeof shape_name, "layer%d_%s_shape", i, suffix);
    int64_t dims[4] = {0, 0, 0, 0};
    for (int k = 0; k < s->rank; k++)
        dims[k + 1] = s->d[k];
    init t = {shape_name, ELEM_INT64, {s->rank + 1, 0, 0, 0}, 1, NULL, dims, s->rank + 1};
    pb_msg(w, GRAPH_INITIALIZER, emit_init, &t);
    node n;
    node_init(&n, "Reshape", out, i, suffix);
    node_in(&n, in);
    node_in(&n, shape_name);
    attr_int(&n, "allowzero", 0);
    put_node(w, &n);
}

static void put_flatten(pb *w, int i, const char *suffix, const char *in, const char *out)
{
    node n;
    node_init(&n, "Flatten", out, i, suffix);
    node_in(&n, in);
    attr_int(&n, "axis", 1);
    put_node(w, &n);
}

static double attr_of(const mlp_layer *l, mlp_layer_attr a)
{
    double v = 0;
    (void)mlp_layer_get_attr(l, a, &v); /* the kind has it: checked by the mapping */
    return v;
}

/* The nodes and initializers of layer i, from tensor `in` to tensor `out`. */
static void put_layer(pb *w, const mlp_layer *l, int i, const char *in, const char *out)
{
    char n1[NAME_MAX_LEN], n2[NAME_MAX_LEN], n3[NAME_MAX_LEN], n4[NAME_MAX_LEN];
    char t1[NAME_MAX_LEN], t2[NAME_MAX_LEN];
    const char *kind = l->ops->name;
    node n;
    switch (l->kind) {
    case MLP_LAYER_DENSE: {
        /* y = x W + b, W [in, out] row-major: Gemm with transB = 0 on the
         * flattened input. */
        const int64_t nin = l->in_size, nout = l->out_size;
        if (l->in.rank > 1) {
            snprintf(t1, sizeof t1, "layer%d_flat", i);
            put_flatten(w, i, "flatten", in, t1);
            in = t1;
        }
        snprintf(n1, sizeof n1, "layer%d_dense_W", i);
        put_floats(w, n1, l->params, 2, nin, nout, 0, 0);
        node_init(&n, "Gemm", out, i, kind);
        node_in(&n, in);
        node_in(&n, n1);
        if (attr_of(l, MLP_LAYER_ATTR_USE_BIAS) != 0) {
            snprintf(n2, sizeof n2, "layer%d_dense_B", i);
            put_floats(w, n2, l->params + nin * nout, 1, nout, 0, 0, 0);
            node_in(&n, n2);
        }
        put_node(w, &n);
        return;
    }
    case MLP_LAYER_CONV2D: {
        const int64_t f = l->out.d[0], c = l->in.d[0];
        const int64_t kh = (int64_t)attr_of(l, MLP_LAYER_ATTR_KERNEL_H);
        const int64_t kw = (int64_t)attr_of(l, MLP_LAYER_ATTR_KERNEL_W);
        snprintf(n1, sizeof n1, "layer%d_conv_W", i);
        put_floats(w, n1, l->params, 4, f, c, kh, kw);
        node_init(&n, "Conv", out, i, kind);
        node_in(&n, in);
        node_in(&n, n1);
        if (attr_of(l, MLP_LAYER_ATTR_USE_BIAS) != 0) {
            snprintf(n2, sizeof n2, "layer%d_conv_B", i);
            put_floats(w, n2, l->params + f * c * kh * kw, 1, f, 0, 0, 0);
            node_in(&n, n2);
        }
        const int64_t ph = (int64_t)attr_of(l, MLP_LAYER_ATTR_PAD_H);
        const int64_t pw = (int64_t)attr_of(l, MLP_LAYER_ATTR_PAD_W);
        attr_ints(&n, "kernel_shape", 2, kh, kw, 0, 0);
        attr_ints(&n, "strides", 2, (int64_t)attr_of(l, MLP_LAYER_ATTR_STRIDE_H),
                  (int64_t)attr_of(l, MLP_LAYER_ATTR_STRIDE_W), 0, 0);
        attr_ints(&n, "pads", 4, ph, pw, ph, pw);
        attr_ints(&n, "dilations", 2, (int64_t)attr_of(l, MLP_LAYER_ATTR_DILATION_H),
                  (int64_t)attr_of(l, MLP_LAYER_ATTR_DILATION_W), 0, 0);
        attr_int(&n, "group", 1);
        put_node(w, &n);
        return;
    }
    case MLP_LAYER_MAXPOOL:
    case MLP_LAYER_AVGPOOL: {
        if (l->kind == MLP_LAYER_AVGPOOL && attr_of(l, MLP_LAYER_ATTR_GLOBAL) != 0) {
            /* GlobalAveragePool keeps [N,C,1,1]; the layer gives [N,C]. */
            snprintf(t1, sizeof t1, "layer%d_pooled", i);
            node_init(&n, "GlobalAveragePool", t1, i, kind);
            node_in(&n, in);
            put_node(w, &n);
            put_flatten(w, i, "flatten", t1, out);
            return;
        }
        const int is_max = l->kind == MLP_LAYER_MAXPOOL;
        const int64_t ph = (int64_t)attr_of(l, MLP_LAYER_ATTR_PAD_H);
        const int64_t pw = (int64_t)attr_of(l, MLP_LAYER_ATTR_PAD_W);
        node_init(&n, is_max ? "MaxPool" : "AveragePool", out, i, kind);
        node_in(&n, in);
        attr_ints(&n, "kernel_shape", 2, (int64_t)attr_of(l, MLP_LAYER_ATTR_KERNEL_H),
                  (int64_t)attr_of(l, MLP_LAYER_ATTR_KERNEL_W), 0, 0);
        attr_ints(&n, "strides", 2, (int64_t)attr_of(l, MLP_LAYER_ATTR_STRIDE_H),
                  (int64_t)attr_of(l, MLP_LAYER_ATTR_STRIDE_W), 0, 0);
        attr_ints(&n, "pads", 4, ph, pw, ph, pw);
        if (!is_max) /* the layer divides by the positions inside the input */
            attr_int(&n, "count_include_pad", 0);
        put_node(w, &n);
        return;
    }
    case MLP_LAYER_BATCHNORM: {
        /* Inference form: gamma (x - running mean) / sqrt(running var + eps)
         * + beta. ONNX normalises axis 1: the channels of [N,C,H,W] (the
         * spatial variant) or the features of [N,F]; a per-feature layer on
         * a [C,H,W] input is flattened around the node and reshaped back. */
        const int spatial = attr_of(l, MLP_LAYER_ATTR_SPATIAL) != 0;
        const int64_t c = spatial ? l->in.d[0] : l->in_size;
        const int wrap = !spatial && l->in.rank > 1;
        snprintf(n1, sizeof n1, "layer%d_bn_scale", i);
        snprintf(n2, sizeof n2, "layer%d_bn_B", i);
        snprintf(n3, sizeof n3, "layer%d_bn_mean", i);
        snprintf(n4, sizeof n4, "layer%d_bn_var", i);
        put_floats(w, n1, l->params, 1, c, 0, 0, 0);
        put_floats(w, n2, l->params + c, 1, c, 0, 0, 0);
        put_floats(w, n3, l->state, 1, c, 0, 0, 0);
        put_floats(w, n4, l->state + c, 1, c, 0, 0, 0);
        if (wrap) {
            snprintf(t1, sizeof t1, "layer%d_flat", i);
            snprintf(t2, sizeof t2, "layer%d_normed", i);
            put_flatten(w, i, "flatten", in, t1);
        }
        node_init(&n, "BatchNormalization", wrap ? t2 : out, i, kind);
        node_in(&n, wrap ? t1 : in);
        node_in(&n, n1);
        node_in(&n, n2);
        node_in(&n, n3);
        node_in(&n, n4);
        attr_float(&n, "epsilon", (float)attr_of(l, MLP_LAYER_ATTR_EPSILON));
        put_node(w, &n);
        if (wrap)
            put_reshape(w, i, "unflatten", t2, out, &l->out);
        return;
    }
    case MLP_LAYER_STANDARDIZE: {
        /* y = (x - mean) / scale, both per feature, shaped like a sample. */
        snprintf(n1, sizeof n1, "layer%d_std_mean", i);
        snprintf(n2, sizeof n2, "layer%d_std_scale", i);
        snprintf(t1, sizeof t1, "layer%d_centred", i);
        put_floats_shape(w, n1, l->state, &l->in);
        put_floats_shape(w, n2, l->state + l->in_size, &l->in);
        node_init(&n, "Sub", t1, i, "sub");
        node_in(&n, in);
        node_in(&n, n1);
        put_node(w, &n);
        node_init(&n, "Div", out, i, "div");
        node_in(&n, t1);
        node_in(&n, n2);
        put_node(w, &n);
        return;
    }
    case MLP_LAYER_RESHAPE:
        if (l->out.rank == 1)
            put_flatten(w, i, kind, in, out);
        else
            put_reshape(w, i, kind, in, out, &l->out);
        return;
    default: break;
    }
    /* Element-wise kinds: one node, at most one attribute. */
    const char *op = NULL;
    switch (l->kind) {
    case MLP_LAYER_SIGMOID: op = "Sigmoid"; break;
    case MLP_LAYER_TANH: op = "Tanh"; break;
    case MLP_LAYER_RELU: op = "Relu"; break;
    case MLP_LAYER_LEAKY_RELU: op = "LeakyRelu"; break;
    case MLP_LAYER_ELU: op = "Elu"; break;
    case MLP_LAYER_SELU: op = "Selu"; break;
    case MLP_LAYER_SOFTPLUS: op = "Softplus"; break;
    default: op = "Identity"; break; /* dropout: the identity at inference */
    }
    node_init(&n, op, out, i, kind);
    node_in(&n, in);
    if (l->kind == MLP_LAYER_LEAKY_RELU || l->kind == MLP_LAYER_ELU)
        attr_float(&n, "alpha", (float)attr_of(l, MLP_LAYER_ATTR_ALPHA));
    if (l->kind == MLP_LAYER_SELU) { /* the layer's constants (selu.c) */
        attr_float(&n, "alpha", 1.6732632423543772848f);
        attr_float(&n, "gamma", 1.0507009873554804934f);
    }
    put_node(w, &n);
}

/* ---- the model -------------------------------------------------------------- */

/* What the graph ends with, from the model's loss. */
typedef struct plan {
    const mlp_model *m;
    const char *out_name; /* "logits" or "outputs" */
    const char *prob_op;  /* "Softmax", "Sigmoid" or NULL */
    int32_t k;            /* outputs per sample */
} plan;

static void emit_graph(pb *w, const void *ctx)
{
    const plan *p = ctx;
    const mlp_model *m = p->m;
    pb_str(w, GRAPH_NAME, "mlpnet");
    char prev[NAME_MAX_LEN] = "input", cur[NAME_MAX_LEN];
    for (int i = 0; i < m->n_layers; i++) {
        const mlp_layer *l = m->layers[i];
        const int last = i == m->n_layers - 1;
        if (last && l->out.rank == 1)
            snprintf(cur, sizeof cur, "%s", p->out_name);
        else
            snprintf(cur, sizeof cur, "layer%d_%s", i, l->ops->name);
        put_layer(w, l, i, prev, cur);
        memcpy(prev, cur, sizeof prev);
    }
    const int n_last = m->n_layers - 1;
    if (m->layers[n_last]->out.rank > 1) /* outputs are [N, K], as predict's */
        put_flatten(w, n_last, "output_flatten", prev, p->out_name);
    if (p->prob_op) {
        node n;
        node_init(&n, p->prob_op, "probabilities", n_last, "probabilities");
        node_in(&n, p->out_name);
        if (!strcmp(p->prob_op, "Softmax"))
            attr_int(&n, "axis", -1);
        put_node(w, &n);
    }
    value in = {"input", m->in.d, m->in.rank};
    pb_msg(w, GRAPH_INPUT, emit_value, &in);
    value out = {p->out_name, &p->k, 1};
    pb_msg(w, GRAPH_OUTPUT, emit_value, &out);
    if (p->prob_op) {
        value prob = {"probabilities", &p->k, 1};
        pb_msg(w, GRAPH_OUTPUT, emit_value, &prob);
    }
}

static void emit_opset(pb *w, const void *ctx)
{
    (void)ctx;
    pb_str(w, OPSET_DOMAIN, "");
    pb_int(w, OPSET_VERSION, ONNX_OPSET);
}

typedef struct entry {
    const char *key, *value;
} entry;

static void emit_entry(pb *w, const void *ctx)
{
    const entry *e = ctx;
    pb_str(w, ENTRY_KEY, e->key);
    pb_str(w, ENTRY_VALUE, e->value);
}

/* A metadata entry whose value is a list of the model's names. */
typedef struct names_entry {
    const char *key; /* "class_names" */
    const mlp_model *m;
    int32_t n;
    const char *(*name)(const mlp_model *, int32_t);
} names_entry;

/* The names as a JSON array of strings. Names are valid UTF-8 without
 * control characters (mlp_model_set_class_names and
 * mlp_model_set_feature_names; the model file reader applies the same
 * rule), so escaping '"' and '\\' is all JSON needs. */
static void emit_names_json(pb *w, const void *ctx)
{
    const names_entry *e = ctx;
    pb_raw(w, "[", 1);
    for (int32_t c = 0; c < e->n; c++) {
        if (c)
            pb_raw(w, ",", 1);
        pb_raw(w, "\"", 1);
        for (const char *s = e->name(e->m, c); *s; s++) {
            if (*s == '"' || *s == '\\')
                pb_raw(w, "\\", 1);
            pb_raw(w, s, 1);
        }
        pb_raw(w, "\"", 1);
    }
    pb_raw(w, "]", 1);
}

static void emit_names_entry(pb *w, const void *ctx)
{
    const names_entry *e = ctx;
    pb_str(w, ENTRY_KEY, e->key);
    pb_msg(w, ENTRY_VALUE, emit_names_json, ctx);
}

static void emit_model(pb *w, const void *ctx)
{
    const plan *p = ctx;
    pb_int(w, MODEL_IR_VERSION, ONNX_IR_VERSION);
    pb_str(w, MODEL_PRODUCER_NAME, "libmlpnet");
    pb_str(w, MODEL_PRODUCER_VERSION, MLPNET_VERSION_STRING);
    pb_msg(w, MODEL_OPSET_IMPORT, emit_opset, NULL);
    pb_msg(w, MODEL_GRAPH, emit_graph, p);
    char kbuf[16];
    snprintf(kbuf, sizeof kbuf, "%d", (int)p->k);
    const entry meta[] = {
        {"mlpnet_version", mlp_version_string()},
        {"loss", mlp_loss_kind_name(p->m->loss.kind)},
        {"task", mlp_model_task(p->m) == MLP_TASK_CLASSIFY ? "classify" : "regress"},
        {"outputs", kbuf},
    };
    for (size_t e = 0; e < sizeof meta / sizeof meta[0]; e++)
        pb_msg(w, MODEL_METADATA_PROPS, emit_entry, &meta[e]);
    const names_entry lists[] = {
        {"class_names", p->m, mlp_model_class_count(p->m), mlp_model_class_name},
        {"feature_names", p->m, mlp_model_feature_count(p->m), mlp_model_feature_name},
    };
    for (size_t e = 0; e < sizeof lists / sizeof lists[0]; e++)
        if (lists[e].n > 0)
            pb_msg(w, MODEL_METADATA_PROPS, emit_names_entry, &lists[e]);
}

static int exportable(mlp_layer_kind k)
{
    switch (k) {
    case MLP_LAYER_DENSE:
    case MLP_LAYER_SIGMOID:
    case MLP_LAYER_TANH:
    case MLP_LAYER_RELU:
    case MLP_LAYER_LEAKY_RELU:
    case MLP_LAYER_ELU:
    case MLP_LAYER_SELU:
    case MLP_LAYER_RESHAPE:
    case MLP_LAYER_BATCHNORM:
    case MLP_LAYER_DROPOUT:
    case MLP_LAYER_CONV2D:
    case MLP_LAYER_MAXPOOL:
    case MLP_LAYER_AVGPOOL:
    case MLP_LAYER_SOFTPLUS:
    case MLP_LAYER_STANDARDIZE: return 1;
    default: return 0;
    }
}

static mlp_status export_mem(const mlp_model *m, void **buf, size_t *len, const char *fn)
{
    MLP_CHECK_ARG(m, fn, "model is NULL");
    if (m->n_layers == 0)
        return mlp__error(MLP_STATUS_BAD_STATE, "%s: the model has no layers", fn);
    MLP_TRY(mlp__model_check_class_counts(m, fn));
    for (int i = 0; i < m->n_layers; i++)
        if (!exportable(m->layers[i]->kind))
            return mlp__error(MLP_STATUS_UNSUPPORTED,
                              "%s: layer %d (%s) has no ONNX mapping", fn, i,
                              m->layers[i]->ops->name);
    /* The model files' rule (mlp__model_bad_value): a NaN or an infinity
     * among the values would make every output NaN, and a state value its
     * layer never holds (a negative running variance) the same. */
    MLP_TRY(mlp__model_check_held(m, fn, "nothing was exported"));
    plan p = {m, "logits", NULL, (int32_t)m->layers[m->n_layers - 1]->out_size};
    if (mlp_model_task(m) != MLP_TASK_CLASSIFY)
        p.out_name = "outputs";
    else if (m->loss.kind == MLP_LOSS_BCE_LOGITS)
        p.prob_op = "Sigmoid";
    else if (p.k >= 2) /* a single softmax output has no probabilities */
        p.prob_op = "Softmax";
    pb w = {NULL, 0};
    emit_model(&w, &p); /* count */
    w.buf = mlp__alloc(w.pos);
    if (!w.buf)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for %zu bytes", fn,
                          w.pos);
    const size_t total = w.pos;
    w.pos = 0;
    emit_model(&w, &p);
    if (w.pos != total) { /* the two passes must agree */
        mlp__free(w.buf);
        return mlp__error(MLP_STATUS_INTERNAL, "%s: size changed between passes", fn);
    }
    *buf = w.buf;
    *len = total;
    return MLP_STATUS_OK;
}

mlp_status mlp_model_export_onnx_mem(const mlp_model *model, void **buf, size_t *len)
{
    static const char fn[] = "mlp_model_export_onnx_mem";
    /* every out-pointer given is cleared first, as mlp_model_save_mem does,
     * so that a failure leaves NULL and 0 even when the other one is NULL */
    if (buf)
        *buf = NULL;
    if (len)
        *len = 0;
    MLP_CHECK_ARG(buf && len, fn, "buf or len is NULL");
    return export_mem(model, buf, len, fn);
}

mlp_status mlp_model_export_onnx(const mlp_model *model, const char *path)
{
    static const char fn[] = "mlp_model_export_onnx";
    MLP_TRY(mlp__check_save_path(path, fn));
    void *buf = NULL;
    size_t len = 0;
    MLP_TRY(export_mem(model, &buf, &len, fn));
    mlp_status st = mlp__write_atomic(path, buf, len, fn);
    mlp__free(buf);
    return st;
}
