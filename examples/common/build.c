/*
 * Learning rules and model building for the examples (see ex_common.h):
 * every helper either succeeds or exits with the library's message, so the
 * programs read as recipes.
 */
#include <math.h>
#include <stdio.h>

#include "ex_common.h"

const char *const ex_rule_names[] = {"sgd",  "momentum", "nesterov", "rmsprop",
                                     "adam", "adamw",    "adagrad",  NULL};

const char *const ex_activation_names[] = {"sigmoid", "tanh", "relu", "leaky_relu",
                                           "elu",     "selu", NULL};

double ex_default_lr(mlp_rule rule)
{
    switch (rule) {
    case MLP_RULE_SGD: return 0.1;
    case MLP_RULE_MOMENTUM:
    case MLP_RULE_NESTEROV: return 0.02; /* with mu 0.9: a step like SGD's 0.2 */
    case MLP_RULE_RMSPROP: return 5e-4;
    case MLP_RULE_ADAM:
    case MLP_RULE_ADAMW: return 1e-3;
    case MLP_RULE_ADAGRAD: return 0.01;
    }
    return 0.1;
}

mlp_rule ex_rule_of(const ex_rule_options *r)
{
    return EX_RULE(r->rule);
}

double ex_lr_of(const ex_rule_options *r)
{
    return isnan(r->lr) ? ex_default_lr(ex_rule_of(r)) : r->lr;
}

const char *ex_rule_infix(const ex_rule_options *r)
{
    static const char *const infix[EX_RULE_COUNT] = {
        "", "momentum-", "nesterov-", "rmsprop-", "adam-", "adamw-", "adagrad-"};
    return infix[r->rule];
}

/* Set a hyper-parameter that was given, unless the rule does not have it. */
static void set_param(mlp_optimizer *opt, mlp_optim_param key, double v, const char *flag)
{
    if (isnan(v))
        return;
    mlp_status st = mlp_optimizer_set(opt, key, v);
    if (st == MLP_STATUS_UNSUPPORTED)
        return;
    char what[64];
    snprintf(what, sizeof what, "setting --%s", flag);
    ex_check(st, what);
}

mlp_optimizer *ex_optimizer(mlp_model *model, mlp_rule rule, double lr,
                            const ex_rule_options *hp)
{
    mlp_optimizer *opt = NULL;
    ex_check(mlp_optimizer_create(&opt, rule, model), "creating the optimizer");
    ex_check(mlp_optimizer_set_learning_rate(opt, lr), "setting the learning rate");
    if (hp) {
        set_param(opt, MLP_OPTIM_MOMENTUM, hp->momentum, "momentum");
        set_param(opt, MLP_OPTIM_BETA1, hp->beta1, "beta1");
        set_param(opt, MLP_OPTIM_BETA2, hp->beta2, "beta2");
        set_param(opt, MLP_OPTIM_EPSILON, hp->epsilon, "epsilon");
        set_param(opt, MLP_OPTIM_DECAY, hp->decay, "decay");
        set_param(opt, MLP_OPTIM_WEIGHT_DECAY, hp->weight_decay, "weight-decay");
    }
    return opt;
}

mlp_model *ex_model_new(const ex_session *s, int image)
{
    mlp_model *m = NULL;
    int32_t dims[3] = {mlp_dataset_channels(s->train), mlp_dataset_height(s->train),
                       mlp_dataset_width(s->train)};
    int32_t flat = ex_input_size(s);
    ex_check(mlp_model_create(&m, image ? 3 : 1, image ? dims : &flat, s->opt->seed),
             "creating the model");
    return m;
}

/* Add a layer just created by a call that returned `st`. */
static void add(mlp_model *m, mlp_status st, mlp_layer *l, const char *what)
{
    char msg[64];
    snprintf(msg, sizeof msg, "creating a %s layer", what);
    ex_check(st, msg);
    snprintf(msg, sizeof msg, "adding a %s layer", what);
    ex_check(mlp_model_add(m, l), msg); /* consumes the layer even on failure */
}

void ex_add_dense(mlp_model *m, int32_t units, int use_bias)
{
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_dense(&l, units);
    if (st == MLP_STATUS_OK && !use_bias)
        st = mlp_layer_set_use_bias(l, 0);
    add(m, st, l, "dense");
}

void ex_add_activation(mlp_model *m, int activation)
{
    mlp_layer *l = NULL;
    mlp_status st = MLP_STATUS_INVALID_ARG;
    switch (activation) {
    case EX_ACT_SIGMOID: st = mlp_layer_create_sigmoid(&l); break;
    case EX_ACT_TANH: st = mlp_layer_create_tanh(&l); break;
    case EX_ACT_RELU: st = mlp_layer_create_relu(&l); break;
    case EX_ACT_LEAKY_RELU: st = mlp_layer_create_leaky_relu(&l, 0.01f); break;
    case EX_ACT_ELU: st = mlp_layer_create_elu(&l, 1.0f); break;
    case EX_ACT_SELU: st = mlp_layer_create_selu(&l); break;
    }
    add(m, st, l, "activation");
}

void ex_add_batchnorm(mlp_model *m)
{
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_batchnorm(&l);
    add(m, st, l, "batch-norm");
}

void ex_add_batchnorm_spatial(mlp_model *m)
{
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_batchnorm_spatial(&l);
    add(m, st, l, "spatial batch-norm");
}

void ex_add_dropout(mlp_model *m, double drop_p)
{
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_dropout_p(&l, (float)drop_p);
    add(m, st, l, "dropout");
}

void ex_add_conv(mlp_model *m, int32_t filters, int32_t k, int32_t pad, int use_bias)
{
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_conv2d(&l, 0, filters, k, k);
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_conv2d(l, 1, 1, pad, pad, 1, 1);
    if (st == MLP_STATUS_OK)
        st = mlp_layer_set_use_bias(l, use_bias);
    add(m, st, l, "convolution");
}

void ex_add_maxpool(mlp_model *m, int32_t k)
{
    mlp_layer *l = NULL;
    mlp_status st = mlp_layer_create_maxpool(&l, k, k, k, 0);
    add(m, st, l, "max-pooling");
}

void ex_add_mlp(const ex_session *s, mlp_model *m, const ex_mlp *mlp)
{
    for (int32_t i = 0; i < mlp->hidden_layers; i++) {
        ex_add_dense(m, mlp->hidden_units, !mlp->batchnorm);
        if (mlp->batchnorm)
            ex_add_batchnorm(m);
        ex_add_activation(m, mlp->activation);
        if (mlp->dropout > 0.0)
            ex_add_dropout(m, mlp->dropout);
    }
    ex_add_dense(m, ex_num_outputs(s), 1);
}

mlp_model *ex_build_mlp(const ex_session *s, const ex_mlp *mlp)
{
    mlp_model *m = ex_model_new(s, 0);
    ex_add_mlp(s, m, mlp);
    return m;
}
