/* What all layer kinds share: creation, accessors, initialisers. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "layer_impl.h"

const char *mlp__shape_str(const mlp_shape *s, char *buf, size_t cap)
{
    size_t len = 0;
    len += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < s->rank && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ",%d" : "%d", (int)s->d[i]);
    if (len < cap)
        snprintf(buf + len, cap - len, "]");
    return buf;
}

/* A layer and its kind's settings, in one allocation (freed as the layer). */
struct layer_block {
    mlp_layer layer;
    max_align_t settings[];
};

mlp_status mlp__layer_new(mlp_layer **out, mlp_layer_kind kind, const char *fn)
{
    if (!out)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    const mlp_layer_ops *ops = mlp__layer_ops(kind);
    struct layer_block *b = mlp__calloc(1, sizeof *b + ops->settings_size);
    if (!b)
        return MLP_STATUS_NO_MEMORY;
    mlp_layer *l = &b->layer;
    l->ops = ops;
    l->kind = kind;
    l->init = MLP_INIT_GLOROT_UNIFORM;
    if (ops->settings_size)
        l->settings = b->settings;
    *out = l;
    return MLP_STATUS_OK;
}

mlp_status mlp__same_shape_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    (void)l;
    *out = *in;
    return MLP_STATUS_OK;
}

mlp_status mlp__layer_setup(mlp_layer *l, const mlp_shape *in, mlp_shape *out)
{
    return l->ops->setup ? l->ops->setup(l, in, out) : mlp__same_shape_setup(l, in, out);
}

int64_t mlp__layer_bad_state(const mlp_layer *l, const float *s, const char **why)
{
    return l->ops->check_state && l->n_state > 0 ? l->ops->check_state(l, s, why) : -1;
}

void mlp__init_weights(mlp_layer *l, mlp_rng *rng, float *w, int64_t n, int64_t fan_in,
                       int64_t fan_out)
{
    double limit = 0.0, std = 0.0;
    switch (l->init) {
    case MLP_INIT_GLOROT_UNIFORM: limit = sqrt(6.0 / (double)(fan_in + fan_out)); break;
    case MLP_INIT_GLOROT_NORMAL: std = sqrt(2.0 / (double)(fan_in + fan_out)); break;
    case MLP_INIT_HE_UNIFORM: limit = sqrt(6.0 / (double)fan_in); break;
    case MLP_INIT_HE_NORMAL: std = sqrt(2.0 / (double)fan_in); break;
    case MLP_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++)
            w[i] = l->init_value;
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        if (limit > 0.0)
            w[i] = (float)(limit * (2.0 * mlp__rng_uniform(rng) - 1.0));
        else
            w[i] = (float)std * mlp__rng_normal(rng);
    }
}

mlp_status mlp_layer_set_init(mlp_layer *layer, mlp_init init, float value)
{
    static const char fn[] = "mlp_layer_set_init";
    MLP_CHECK_ARG(layer, fn, "layer is NULL");
    if (layer->owner)
        return mlp__error(MLP_STATUS_BAD_STATE,
                          "%s: the layer is already in a model (initialised)", fn);
    if (!layer->ops->takes_init)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: a %s layer takes no initialiser (only dense and conv2d "
                          "layers have weights drawn from one)",
                          fn, layer->ops->name);
    if (init < MLP_INIT_GLOROT_UNIFORM || init > MLP_INIT_CONSTANT)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: unknown initialiser %d", fn,
                          (int)init);
    if (!isfinite(value))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: value %g is not finite", fn,
                          (double)value);
    layer->init = init;
    layer->init_value = value;
    return MLP_STATUS_OK;
}

/* The kinds with a bias (dense and conv2d) store it through their ops table.
 * Their setup hooks size the parameters from use_bias, so it can only change
 * before the layer is added. */
mlp_status mlp_layer_set_use_bias(mlp_layer *layer, int use_bias)
{
    static const char fn[] = "mlp_layer_set_use_bias";
    MLP_CHECK_ARG(layer, fn, "layer is NULL");
    if (!layer->ops->set_use_bias)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: a %s layer has no bias (only dense and conv2d layers have one)", fn,
            layer->ops->name);
    if (layer->owner)
        return mlp__error(MLP_STATUS_BAD_STATE, "%s: the layer is already in a model",
                          fn);
    if (use_bias != 0 && use_bias != 1)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: use_bias = %d is not 0 or 1", fn,
                          use_bias);
    layer->ops->set_use_bias(layer, use_bias);
    return MLP_STATUS_OK;
}

void mlp__layer_free(mlp_layer *layer)
{
    if (!layer)
        return;
    if (layer->ops->release)
        layer->ops->release(layer);
    mlp__free(layer);
}

void mlp_layer_destroy(mlp_layer *layer)
{
    if (layer && layer->owner) {
        /* freeing it here would leave its model a dangling layer, freed
         * again by mlp_model_destroy */
        (void)mlp__error(MLP_STATUS_BAD_STATE,
                         "mlp_layer_destroy: the layer belongs to a model, which frees "
                         "it (mlp_model_destroy); nothing was freed");
        return;
    }
    mlp__layer_free(layer);
}

mlp_layer_kind mlp_layer_get_kind(const mlp_layer *layer)
{
    return layer ? layer->kind : (mlp_layer_kind)0;
}

const char *mlp_layer_kind_name(const mlp_layer *layer)
{
    return layer ? layer->ops->name : "";
}

/* The attributes are numbered 1..ATTR_LAST; each kind answers for its own
 * through its ops table. */
#define ATTR_LAST MLP_LAYER_ATTR_GLOBAL

mlp_status mlp_layer_get_attr(const mlp_layer *layer, mlp_layer_attr attr, double *value)
{
    static const char fn[] = "mlp_layer_get_attr";
    MLP_CHECK_ARG(layer, fn, "layer is NULL");
    MLP_CHECK_ARG(value, fn, "value is NULL");
    if ((int)attr < 1 || (int)attr > ATTR_LAST)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: unknown attribute %d", fn,
                          (int)attr);
    double v = 0.0;
    if (!layer->ops->get_attr || !layer->ops->get_attr(layer, attr, &v))
        return mlp__error(MLP_STATUS_UNSUPPORTED, "%s: a %s layer has no attribute %d",
                          fn, layer->ops->name, (int)attr);
    *value = v;
    return MLP_STATUS_OK;
}

int64_t mlp_layer_param_count(const mlp_layer *layer)
{
    return layer && layer->owner ? layer->n_params : 0;
}

float *mlp_layer_params(mlp_layer *layer)
{
    return layer && layer->owner && layer->n_params ? layer->params : NULL;
}

float *mlp_layer_grads(mlp_layer *layer)
{
    return layer && layer->owner && layer->n_params ? layer->grads : NULL;
}

int64_t mlp_layer_state_count(const mlp_layer *layer)
{
    return layer && layer->owner ? layer->n_state : 0;
}

float *mlp_layer_state(mlp_layer *layer)
{
    return layer && layer->owner && layer->n_state ? layer->state : NULL;
}

uint32_t mlp__config_size(const mlp_layer_ops *ops, uint16_t version)
{
    if (version < 1 || version > mlp__config_newest(ops))
        return UINT32_MAX;
    return ops->record.size ? ops->record.size(version) : ops->record.bytes;
}

mlp_status mlp__layer_read_config(mlp_layer_kind kind, mlp_layer **out, uint16_t version,
                                  const unsigned char *p)
{
    const mlp_layer_ops *ops = mlp__layer_ops(kind);
    if (ops->record.read)
        return ops->record.read(out, version, p);
    /* A kind without settings: its creator only allocates. */
    return mlp__layer_new(out, kind, "mlp_model_load");
}

mlp_status mlp__config_done(mlp_layer **out, mlp_layer *l, mlp_status st)
{
    if (st != MLP_STATUS_OK) {
        mlp_layer_destroy(l);
        l = NULL;
    }
    *out = l;
    return st;
}
