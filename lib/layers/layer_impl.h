/*
 * Private layer interface. Each layer kind is one file holding a static
 * mlp_layer_ops table and its settings struct; registry.c maps kinds to
 * tables. Adding a kind means one new file plus one registry row. The
 * struct below holds only what every kind shares.
 */
#ifndef MLPNET_LAYER_IMPL_H
#define MLPNET_LAYER_IMPL_H

#include <string.h>

#include "core/core.h"

/* Per-sample shape (the batch dimension is never part of it). */
typedef struct mlp_shape {
    int rank; /* 1..3 */
    int32_t d[3];
} mlp_shape;

static inline int64_t mlp__shape_numel(const mlp_shape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->d[i];
    return n;
}

/* The ReLU's forward value, max(v, 0) with NaN kept (as PyTorch's ReLU):
 * NaN is not <= 0, so it comes through as v; -0.0 gives +0.0. One compare
 * and a mask in the vector clones. The ReLU layer and every fusion of it
 * (batch norm's forward_relu and planes, max pooling reading batch norm's
 * plane) use this expression, for the same bits. */
static MLP__ALWAYS_INLINE float mlp__relu(float v)
{
    return v <= 0.0f ? 0.0f : v;
}

/* Format a shape as "[1,28,28]" into buf (for messages). */
const char *mlp__shape_str(const mlp_shape *s, char *buf, size_t cap);

/*
 * A layer kind's record in model files (docs/file-format.md). Each kind
 * versions its own configuration: `version` is the newest version, written
 * by `write` (0 stands for 1, the version of a kind whose settings never
 * changed: see mlp__config_newest), and readers accept 1..version. A
 * version holds `bytes` bytes unless `size` gives a size per version; a
 * kind with settings and neither has no file encoding (saving it fails).
 * `write` is NULL when there are no bytes. `read` rebuilds a layer from a
 * checked version's bytes through the public creators, so a file's values
 * meet a program's checks; on failure *out is NULL (see mlp__config_done).
 * It is NULL for a kind without settings (see mlp__layer_read_config).
 */
typedef struct mlp_layer_record {
    uint16_t version;
    uint32_t bytes;
    uint32_t (*size)(uint16_t version);
    void (*write)(const mlp_layer *l, unsigned char *p);
    mlp_status (*read)(mlp_layer **out, uint16_t version, const unsigned char *p);
} mlp_layer_record;

/*
 * A layer's output handed plane by plane to the layer after it, which then
 * makes no pass of its own over the batch (a max pool after batch norm).
 * The producer computes each [H,W] output plane into a buffer on its stack
 * and calls `put`, which runs the consumer's forward pass of that plane
 * while it is in cache; the producer's output buffer is not written. In
 * the backward pass the producer calls `get` for each plane of its output
 * gradient, which the consumer's backward pass of that plane writes, and
 * reads that plane instead of a buffer. A plane holds at most
 * MLP__PLANE_MAX floats. The model pairs the two (mlp__model_fuses_planes).
 */
enum { MLP__PLANE_MAX = 4096 };

typedef struct mlp__plane_sink {
    /* The consumer's forward pass of its plane pl (of n C) from input plane xp. */
    void (*put)(const struct mlp__plane_sink *s, int64_t pl, const float *xp);
    /* put of the plane xp a + b, or max(xp a + b, 0) when relu is 1 (batch
     * norm's, whose expressions it must keep: the same bits), computed as
     * it reads xp; NULL when the consumer has none (the producer writes the
     * plane and puts it). */
    void (*put_scaled)(const struct mlp__plane_sink *s, int64_t pl, const float *xp,
                       float a, float b, int relu);
    /* The consumer's input gradient of its plane pl, written whole into dxp. */
    void (*get)(const struct mlp__plane_sink *s, int64_t pl, float *dxp);
    /* Ask the memory for what `put` of plane pl writes (a sink with y) or
     * `get` of plane pl reads (a sink with dy), ahead of that call (a
     * producer that goes through planes out of order: see mlp__prefetch);
     * NULL when there is nothing to ask for. */
    void (*ahead)(const struct mlp__plane_sink *s, int64_t pl);
    const mlp_layer *l; /* the consumer */
    float *y;           /* its output (the forward pass) */
    const float *dy;    /* its output gradient (the backward pass) */
} mlp__plane_sink;

typedef struct mlp_layer_ops {
    const char *name; /* stable kind name, e.g. "dense" */
    mlp_layer_kind kind;
    /* Check the input shape, compute the output shape and set n_params,
     * n_weights, n_state and the scratch sizes. Must not allocate. */
    mlp_status (*setup)(mlp_layer *l, const mlp_shape *in, mlp_shape *out);
    /* Initialise the parameters bound at l->params and the state at
     * l->state; NULL without either. */
    void (*init_params)(mlp_layer *l, mlp_rng *rng);
    /* 1 when init_params draws the weights from l->init (mlp__init_weights),
     * so that mlp_layer_set_init has something to set; 0 for a kind whose
     * parameters and state start at fixed values (batch norm's gamma of 1,
     * standardize's statistics) or that has none. */
    int takes_init;
    /* The l->n_state values at s, finite, in the layout of l->state: a
     * loaded file's, a model's about to be saved or a caller's about to be
     * set (mlp__model_bad_value has checked them for NaN and infinity).
     * Return -1 when the kind can hold every value, or the index of the
     * first it never holds, with *why saying what that value must be ("a
     * running variance must be >= 0"). NULL when any finite state will do.
     * Called through mlp__layer_bad_state. */
    int64_t (*check_state)(const mlp_layer *l, const float *s, const char **why);
    /* x [n, in_size] -> y [n, out_size]. */
    mlp_status (*forward)(mlp_layer *l, const float *x, float *y, int32_t n,
                          mlp_mode mode);
    /* From dy [n, out_size]: write the parameter gradients at l->grads and,
     * when dx is not NULL, dx [n, in_size]. x and y are the forward pass's. */
    mlp_status (*backward)(mlp_layer *l, const float *x, const float *y, const float *dy,
                           float *dx, int32_t n);
    /* Free kind-specific memory; NULL when there is none. */
    void (*release)(mlp_layer *l);
    /* The kind's record in model files (mlp_layer_record). */
    mlp_layer_record record;
    /* Set *v and return 1 when the kind has attribute `a` (a known value);
     * return 0 otherwise. NULL for a kind without attributes. */
    int (*get_attr)(const mlp_layer *l, mlp_layer_attr a, double *v);
    /* Bytes of the kind's settings struct (l->settings); 0 without settings. */
    size_t settings_size;
    /* Store use_bias (0 or 1) for mlp_layer_set_use_bias, which checks it
     * and the layer's state; NULL for a kind without a bias. */
    void (*set_use_bias)(mlp_layer *l, int use_bias);
    /* 1 when forward may be called with y == x and backward with dx == dy
     * (each element is read before it is written) and backward reads y,
     * never x: the model then lets the kind write its output over its
     * input's buffer when the layer before allows it (backward_ignores_y),
     * and its input gradient over its output gradient. */
    int in_place;
    /* 1 when backward never reads y (its forward output), so that the next
     * layer may write over it. */
    int backward_ignores_y;
    /* The layer and a ReLU after it, in one pass each way; NULL when the
     * kind has none. forward_relu writes max(y, 0) where forward writes y;
     * backward_relu takes dy, the gradient of the ReLU's output, and gives
     * what backward would give from the ReLU's input gradient. Both must
     * have the bits of the two layers run one by one. The model calls them
     * instead of the pair when the ReLU runs in place after the layer
     * (mlp__model_fuses_relu); y is then the ReLU's output. */
    mlp_status (*forward_relu)(mlp_layer *l, const float *x, float *y, int32_t n,
                               mlp_mode mode);
    mlp_status (*backward_relu)(mlp_layer *l, const float *x, const float *y,
                                const float *dy, float *dx, int32_t n);
    /* The producer's side of mlp__plane_sink: gives_planes is 1 when the
     * layer's output is planes of at most MLP__PLANE_MAX floats that
     * forward_planes and backward_planes can hand on. They are the
     * forward (forward_relu when relu is 1) and backward (backward_relu)
     * passes with the output planes put into `next` instead of a buffer
     * and the output gradient's planes got from it; the same bits as the
     * layers run one by one. NULL for a kind that has none. */
    int (*gives_planes)(const mlp_layer *l);
    mlp_status (*forward_planes)(mlp_layer *l, const float *x, int relu,
                                 const mlp__plane_sink *next, int32_t n, mlp_mode mode);
    mlp_status (*backward_planes)(mlp_layer *l, const float *x, int relu,
                                  const mlp__plane_sink *next, float *dx, int32_t n);
    /* The consumer's side: fill *s for the layer's output y (forward) or
     * output gradient dy (backward; either may be NULL for a query) and
     * return 1 when the layer can take its input plane by plane; 0
     * otherwise. NULL for a kind that cannot. */
    int (*plane_sink)(const mlp_layer *l, float *y, const float *dy, mlp__plane_sink *s);
    /* 1 when the passes take each sample on its own and, in training, use
     * nothing of the layer's but its settings, its parameters, its state
     * (read only) and its gradient slice: no scratch, no workspace, no
     * random masks. Run on rows [lo, hi) of a batch, forward and backward
     * then give those rows of the whole batch's output and input gradient,
     * and the gradient of those rows' loss alone; and a copy of the layer
     * struct whose gradient slice is elsewhere may run beside the layer on
     * other rows. The model's split step relies on it (model/split.c). */
    int by_sample;
} mlp_layer_ops;

struct mlp_layer {
    const mlp_layer_ops *ops;
    mlp_layer_kind kind;
    const void *owner; /* the model, once added */
    mlp_shape in, out;
    int64_t in_size, out_size; /* per-sample element counts */
    int64_t n_params;          /* all trainable parameters */
    int64_t n_weights;         /* the first n_weights of them are weights (decayable) */
    float *params, *grads;     /* slices of the model's buffers */
    int64_t n_state;           /* non-trainable state kept for inference (e.g. running
                                  statistics), a slice of the model's state buffer */
    float *state;
    int64_t scratch_per_sample, scratch_fixed; /* per-batch working memory (floats) */
    float *scratch;    /* batch_cap * scratch_per_sample + scratch_fixed floats */
    mlp_rng *noise;    /* the model's generator for random masks */
    int64_t ws_floats; /* size of the model's shared workspace this layer needs */
    float *ws;         /* that workspace (shared by all layers; never kept
                          across calls) */
    mlp_init init;     /* weight initialiser of the kinds that take one */
    float init_value;
    void *settings; /* the kind's own settings: a struct defined in its file,
                       ops->settings_size bytes allocated (zeroed) with the
                       layer, NULL when the kind has none */
};

/* Bytes of a kind's configuration of a version, or UINT32_MAX for a version
 * outside 1..record.version and for a kind without a file encoding (layer.c). */
uint32_t mlp__config_size(const mlp_layer_ops *ops, uint16_t version);

/* Rebuild a layer of kind `ops` from its configuration bytes (of a version
 * mlp__config_size accepts) (layer.c). */
mlp_status mlp__layer_read_config(mlp_layer_kind kind, mlp_layer **out, uint16_t version,
                                  const unsigned char *p);

/* End of a record.read: on failure destroy `l` and leave *out NULL (layer.c). */
mlp_status mlp__config_done(mlp_layer **out, mlp_layer *l, mlp_status st);

/* Little-endian fields of configuration records (two's complement and
 * IEEE-754 bits, as the rest of the model file). */
static inline void mlp__cfg_put_u32(unsigned char *p, uint32_t u)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(u >> (8 * i));
}

static inline uint32_t mlp__cfg_get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline void mlp__cfg_put_i32(unsigned char *p, int32_t v)
{
    mlp__cfg_put_u32(p, (uint32_t)v);
}

static inline int32_t mlp__cfg_get_i32(const unsigned char *p)
{
    int32_t v;
    uint32_t u = mlp__cfg_get_u32(p);
    memcpy(&v, &u, sizeof v);
    return v;
}

static inline void mlp__cfg_put_f32(unsigned char *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    mlp__cfg_put_u32(p, u);
}

static inline float mlp__cfg_get_f32(const unsigned char *p)
{
    float f;
    uint32_t u = mlp__cfg_get_u32(p);
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Registry (registry.c): the table of a kind, or NULL; the kind whose
 * stable name is the `len` bytes at `name`, or 0. */
const mlp_layer_ops *mlp__layer_ops(mlp_layer_kind kind);
mlp_layer_kind mlp__layer_kind_named(const char *name, size_t len);

/* The newest configuration version of a kind (record.version, 0 read as 1). */
static inline uint16_t mlp__config_newest(const mlp_layer_ops *ops)
{
    return ops->record.version ? ops->record.version : 1;
}

/* ops->setup, or the same-shape default when the kind has none (layer.c). */
mlp_status mlp__layer_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out);

/* Allocate a layer of a kind with defaults (layer.c). */
mlp_status mlp__layer_new(mlp_layer **out, mlp_layer_kind kind, const char *fn);

/* Free a layer, owned by a model or not: what mlp_model_destroy calls
 * (mlp_layer_destroy leaves a model's layers alone). */
void mlp__layer_free(mlp_layer *layer);

/* ops->check_state of a layer with state, on the values at s (the layer's
 * own or others in its layout), or -1 when the kind has none or the layer
 * no state (layer.c). */
int64_t mlp__layer_bad_state(const mlp_layer *l, const float *s, const char **why);

/* setup for layers whose output shape equals the input shape. */
mlp_status mlp__same_shape_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out);

/* conv2d's samples per GEMM, fixed at setup (conv2d.c; for tests and
 * benchmarks). */
int32_t mlp__conv2d_group(const mlp_layer *l);

/* The paths a conv2d layer takes, chosen at its setup (conv2d.c; for tests
 * and benchmarks): where it takes the direct correlation (corr.h), bit 0
 * forward, bit 1 for dW; whether its other products run per sample (1) or
 * per group of samples (0); whether its three passes take Winograd's
 * F(2x2, 3x3) (wino.h); and a switch, for a layer not yet in a
 * model, that keeps it off the correlation and Winograd's path (level 1)
 * or off those and the products per sample too (level 2: im2col of
 * groups), whatever its shape. */
int mlp__conv2d_corr(const mlp_layer *l);
int mlp__conv2d_per_sample(const mlp_layer *l);
int mlp__conv2d_wino(const mlp_layer *l);
void mlp__conv2d_keep(mlp_layer *l, int level);

/* Fill n weights from the layer's initialiser given fan-in and fan-out. */
void mlp__init_weights(mlp_layer *l, mlp_rng *rng, float *w, int64_t n, int64_t fan_in,
                       int64_t fan_out);

#endif /* MLPNET_LAYER_IMPL_H */
