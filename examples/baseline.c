/*
 * mlpnet-baseline: section 2 of the report, baseline MLPs.
 *
 * A multi-layer perceptron with a few hidden layers of dense units and one
 * activation function, trained by plain stochastic gradient descent (or
 * momentum) with softmax cross-entropy, batch size 100 and no
 * regularisation. By default one run: 3 hidden layers of 100 ELU units at
 * learning rate 0.1 for 20 epochs. --sweep repeats it over the settings the
 * report varies (learning rate, depth, activation) and plots the validation
 * curves of each sweep side by side.
 *
 * Every run writes OUT/RUN.csv and OUT/RUN-{error,accuracy}.svg; the program
 * ends with OUT/summary.{csv,md}, whose test accuracy uses the parameters of
 * the epoch with the best validation accuracy.
 */
#include <stdio.h>

#include <mlpnet/mlpnet.h>

#include "common/ex_common.h"

enum { ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_LEAKY_RELU, ACT_ELU, ACT_SELU, ACT_COUNT };
static const char *const activations[] = {"sigmoid", "tanh", "relu", "leaky_relu",
                                          "elu",     "selu", NULL};

enum { SWEEP_NONE, SWEEP_LR, SWEEP_DEPTH, SWEEP_ACTIVATION, SWEEP_ALL };
static const char *const sweeps[] = {"none", "lr", "depth", "activation", "all", NULL};

/* The report's section 2 grid. */
static const double sweep_lrs[] = {0.01, 0.05, 0.1, 0.2};
static const int32_t sweep_depths[] = {1, 2, 3, 4, 5};

/* One network and learning rule. */
typedef struct config {
    int activation;
    int32_t hidden_layers;
    int32_t hidden_units;
    double lr;
    double momentum;
} config;

static mlp_layer *activation_layer(int act)
{
    mlp_layer *l = NULL;
    mlp_status st = MLP_STATUS_INVALID_ARG;
    switch (act) {
    case ACT_SIGMOID: st = mlp_layer_create_sigmoid(&l); break;
    case ACT_TANH: st = mlp_layer_create_tanh(&l); break;
    case ACT_RELU: st = mlp_layer_create_relu(&l); break;
    case ACT_LEAKY_RELU: st = mlp_layer_create_leaky_relu(&l, 0.01f); break;
    case ACT_ELU: st = mlp_layer_create_elu(&l, 1.0f); break;
    case ACT_SELU: st = mlp_layer_create_selu(&l); break;
    }
    ex_check(st, "creating an activation layer");
    return l;
}

static void add_dense(mlp_model *model, int32_t units)
{
    mlp_layer *l = NULL;
    ex_check(mlp_layer_create_dense(&l, units), "creating a dense layer");
    ex_check(mlp_model_add(model, l), "adding a dense layer");
}

/* Input [C*H*W] -> (dense + activation) x hidden_layers -> dense logits.
 * The fit driver applies softmax cross-entropy to the logits. */
static mlp_model *build_model(const ex_session *s, const config *c)
{
    mlp_model *model = NULL;
    int32_t input = ex_input_size(s);
    ex_check(mlp_model_create(&model, 1, &input, s->opt->seed), "creating the model");
    for (int32_t i = 0; i < c->hidden_layers; i++) {
        add_dense(model, c->hidden_units);
        ex_check(mlp_model_add(model, activation_layer(c->activation)),
                 "adding an activation layer");
    }
    add_dense(model, ex_num_classes(s));
    return model;
}

static mlp_optimizer *build_optimizer(mlp_model *model, const config *c)
{
    mlp_optimizer *opt = NULL;
    mlp_rule rule = c->momentum > 0.0 ? MLP_RULE_MOMENTUM : MLP_RULE_SGD;
    ex_check(mlp_optimizer_create(&opt, rule, model), "creating the optimizer");
    ex_check(mlp_optimizer_set(opt, MLP_OPTIM_LEARNING_RATE, c->lr), "setting --lr");
    if (rule == MLP_RULE_MOMENTUM)
        ex_check(mlp_optimizer_set(opt, MLP_OPTIM_MOMENTUM, c->momentum),
                 "setting --momentum");
    return opt;
}

/* Train one configuration, or return its result when a previous sweep has
 * already trained it (the default settings appear in every sweep). */
static const ex_result *run(ex_session *s, const config *c)
{
    char name[EX_RUN_NAME_MAX];
    int n = snprintf(name, sizeof name, "%s-%ldx%ld-lr%g", activations[c->activation],
                     (long)c->hidden_layers, (long)c->hidden_units, c->lr);
    if (c->momentum > 0.0 && n > 0 && (size_t)n < sizeof name)
        snprintf(name + n, sizeof name - (size_t)n, "-mom%g", c->momentum);
    const ex_result *r = ex_session_find(s, name);
    if (r)
        return r;
    mlp_model *model = build_model(s, c);
    mlp_optimizer *opt = build_optimizer(model, c);
    r = ex_session_run(s, name, model, opt);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(model);
    return r;
}

/* Vary one setting of `base` over the report's values; plot the runs. */
static void sweep(ex_session *s, int what, const config *base)
{
    enum { MAX_RUNS = ACT_COUNT };
    const ex_result *runs[MAX_RUNS];
    char labels[MAX_RUNS][32];
    const char *label_ptrs[MAX_RUNS];
    int n = what == SWEEP_LR ? 4 : what == SWEEP_DEPTH ? 5 : ACT_COUNT;
    for (int i = 0; i < n; i++) {
        config c = *base;
        if (what == SWEEP_LR) {
            c.lr = sweep_lrs[i];
            snprintf(labels[i], sizeof labels[i], "lr %g", c.lr);
        } else if (what == SWEEP_DEPTH) {
            c.hidden_layers = sweep_depths[i];
            snprintf(labels[i], sizeof labels[i], "%ld hidden layer%s",
                     (long)c.hidden_layers, c.hidden_layers == 1 ? "" : "s");
        } else {
            c.activation = i;
            snprintf(labels[i], sizeof labels[i], "%s", activations[i]);
        }
        runs[i] = run(s, &c);
        label_ptrs[i] = labels[i];
    }
    ex_session_compare(s, sweeps[what], runs, label_ptrs, n);
}

int main(int argc, char **argv)
{
    ex_options opt;
    ex_options_init(&opt, "results/baseline");
    config base = {ACT_ELU, 3, 100, 0.1, 0.0};
    int which = SWEEP_NONE;
    const ex_flag flags[] = {
        EX_DOUBLE("lr", &base.lr, 0.0, 1e6, "learning rate"),
        EX_DOUBLE("momentum", &base.momentum, 0.0, 1.0,
                  "momentum coefficient in [0, 1); above 0 selects the momentum rule "
                  "instead of plain SGD"),
        EX_INT("hidden-layers", &base.hidden_layers, 0, 100, "hidden layers"),
        EX_INT("hidden-units", &base.hidden_units, 1, 100000, "units per hidden layer"),
        EX_CHOICE("activation", &base.activation, activations,
                  "activation function of the hidden layers"),
        EX_CHOICE("sweep", &which, sweeps,
                  "train one run per value of the learning rate {0.01, 0.05, 0.1, 0.2}, "
                  "depth {1..5 hidden layers}, activation, or all three sweeps, keeping "
                  "the other settings"),
        EX_FLAGS_END,
    };
    ex_parse_args(argc, argv, "mlpnet-baseline",
                  "Train baseline MLPs (section 2 of the report): dense hidden layers, "
                  "softmax output, SGD, no regularisation. Writes per-run CSV and SVG "
                  "files and a summary to --out.",
                  &opt, flags);
    if (base.momentum >= 1.0)
        ex_usage_error("invalid value '%g' for --momentum: expected a number in [0, 1)",
                       base.momentum);

    ex_session s;
    ex_session_open(&s, &opt);
    if (which == SWEEP_NONE)
        run(&s, &base);
    for (int w = SWEEP_LR; w <= SWEEP_ACTIVATION; w++) {
        if (which == w || which == SWEEP_ALL)
            sweep(&s, w, &base);
    }

    printf("\n");
    ex_session_print_summary(&s, stdout);
    printf("\nResults in %s/\n", opt.out_dir);
    int status = s.diverged ? 1 : 0; /* a run stopped on a numeric error */
    ex_session_close(&s);
    return status;
}
