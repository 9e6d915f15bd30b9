/*
 * mlpnet-baseline: section 2 of the report, baseline MLPs.
 *
 * A multi-layer perceptron with a few hidden layers of dense units and one
 * activation function, trained by plain stochastic gradient descent (or
 * the rule --learning-rule names) with softmax cross-entropy, batch size 100
 * and no regularisation. By default one run: 3 hidden layers of 100 ELU units at
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

enum { SWEEP_NONE, SWEEP_LR, SWEEP_DEPTH, SWEEP_ACTIVATION, SWEEP_ALL };
static const char *const sweeps[] = {"none", "lr", "depth", "activation", "all", NULL};

/* The report's section 2 grid. */
static const double sweep_lrs[] = {0.01, 0.05, 0.1, 0.2};
static const int32_t sweep_depths[] = {1, 2, 3, 4, 5};

/* One network and learning rate; the rule and its other settings come
 * from the shared flags (--learning-rule, --momentum, ...). */
typedef struct config {
    ex_mlp mlp;
    double lr;
} config;

/* Train one configuration, or return its result when a previous sweep has
 * already trained it (the default settings appear in every sweep). */
static const ex_result *run(ex_session *s, const config *c)
{
    const ex_rule_options *rule = &s->opt->rule;
    char name[EX_RUN_NAME_MAX];
    ex_run_name(name, "%s-%ldx%ld-%slr%g", ex_activation_names[c->mlp.activation],
                (long)c->mlp.hidden_layers, (long)c->mlp.hidden_units,
                ex_rule_infix(rule), c->lr);
    const ex_result *done = ex_session_find(s, name);
    if (done)
        return done;
    mlp_model *model = ex_build_mlp(s, &c->mlp);
    return ex_session_train(s, name, model,
                            ex_optimizer(model, ex_rule_of(rule), c->lr, rule));
}

/* Vary one setting of `base` over the report's values; plot the runs. */
static void sweep(ex_session *s, int what, const config *base)
{
    enum { MAX_RUNS = EX_ACT_COUNT };
    const ex_result *runs[MAX_RUNS];
    char labels[MAX_RUNS][32], stem[32], title[64];
    const char *label_ptrs[MAX_RUNS];
    int n = what == SWEEP_LR ? 4 : what == SWEEP_DEPTH ? 5 : EX_ACT_COUNT;
    for (int i = 0; i < n; i++) {
        config c = *base;
        if (what == SWEEP_LR) {
            c.lr = sweep_lrs[i];
            snprintf(labels[i], sizeof labels[i], "lr %g", c.lr);
        } else if (what == SWEEP_DEPTH) {
            c.mlp.hidden_layers = sweep_depths[i];
            snprintf(labels[i], sizeof labels[i], "%ld hidden layer%s",
                     (long)c.mlp.hidden_layers, c.mlp.hidden_layers == 1 ? "" : "s");
        } else {
            c.mlp.activation = i;
            snprintf(labels[i], sizeof labels[i], "%s", ex_activation_names[i]);
        }
        runs[i] = run(s, &c);
        label_ptrs[i] = labels[i];
    }
    snprintf(stem, sizeof stem, "sweep-%s", sweeps[what]);
    snprintf(title, sizeof title, "Sweep over %s", sweeps[what]);
    ex_session_compare(s, stem, title, runs, label_ptrs, n);
}

int main(int argc, char **argv)
{
    ex_options opt;
    ex_options_init(&opt, "results/baseline");
    config base = {EX_MLP_BASELINE, 0.0};
    int which = SWEEP_NONE;
    const ex_flag flags[] = {
        EX_MLP_FLAGS(&base.mlp),
        EX_CHOICE("sweep", &which, sweeps,
                  "train one run per value of the learning rate {0.01, 0.05, 0.1, 0.2}, "
                  "depth {1..5 hidden layers}, activation, or all three sweeps, keeping "
                  "the other settings"),
        EX_FLAGS_END,
    };
    ex_parse_args(argc, argv, "mlpnet-baseline",
                  "Train baseline MLPs (section 2 of the report): dense hidden layers, "
                  "softmax output, SGD (or another --learning-rule), no regularisation. "
                  "Writes per-run CSV and SVG files and a summary to --out.",
                  &opt, flags);
    base.lr = ex_lr_of(&opt.rule);

    ex_session s;
    ex_session_open(&s, &opt);
    if (which == SWEEP_NONE)
        run(&s, &base);
    for (int w = SWEEP_LR; w <= SWEEP_ACTIVATION; w++) {
        if (which == w || which == SWEEP_ALL)
            sweep(&s, w, &base);
    }

    return ex_session_finish(&s) ? 1 : 0; /* 1: a run stopped on a numeric error */
}
