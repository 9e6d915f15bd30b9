/*
 * mlpnet-learning-rules: section 3 of the report, learning rules.
 *
 * The baseline network (3 hidden layers of 100 ELU units, softmax output,
 * batch size 100) trained with SGD, momentum, RMSProp and Adam (--rules
 * adds nesterov, adamw, adagrad), each over its own small grid of learning
 * rates, with the same seed and the same number of epochs for every run.
 * Runs are named RULE-lrRATE ("sgd-lr0.1", "adam-lr0.001").
 *
 * Every run writes OUT/RUN.csv and OUT/RUN-{error,accuracy}.svg; each rule
 * gets OUT/rule-RULE-valid_{error,acc}.svg over its rates, and
 * OUT/rules-valid_{error,acc}.svg compares the rules, each at its best rate.
 * OUT/summary.{csv,md} list every run, and summary.md adds a table per
 * rule: best rate, its validation and test accuracy, and the epochs it
 * took to first reach the --target-acc validation accuracy.
 */
#include <math.h>
#include <stdio.h>

#include <mlpnet/mlpnet.h>

#include "common/ex_common.h"

typedef struct study {
    ex_mlp mlp;
    ex_choices rules;                                  /* indices into ex_rule_names */
    ex_doubles lrs[EX_RULE_COUNT];                     /* each rule's grid */
    double target;                                     /* validation accuracy to reach */
    const ex_result *runs[EX_RULE_COUNT][EX_LIST_MAX]; /* NULL until trained */
} study;

/* Index of the rule's run with the best validation accuracy so far, or -1. */
static int best_of(const study *st, int rule)
{
    int best = -1;
    for (int i = 0; i < st->lrs[rule].n; i++) {
        const ex_result *r = st->runs[rule][i];
        if (r && (best < 0 || r->best_valid_acc > st->runs[rule][best]->best_valid_acc ||
                  isnan(st->runs[rule][best]->best_valid_acc)))
            best = i;
    }
    return best;
}

/* 1-based epoch of the first validation accuracy >= target, or 0. */
static int32_t epochs_to(const ex_result *r, double target)
{
    for (int32_t i = 0; i < r->epochs; i++) {
        if (r->valid_accuracy[i] >= target)
            return (int32_t)r->epoch[i];
    }
    return 0;
}

/* summary.md: one row per rule, at its best rate. */
static void notes(const ex_session *s, FILE *f, void *user)
{
    const study *st = user;
    char reach_head[48];
    snprintf(reach_head, sizeof reach_head, "epochs to valid_acc %g", st->target);
    fprintf(f, "Each rule at its best learning rate (by best validation accuracy):\n\n");
    ex_table *t =
        ex_table_new("rule", "rates tried", "best rate", "best valid_acc", "at epoch",
                     "test_acc", reach_head, "seconds_per_epoch", (const char *)NULL);
    const ex_result *winner = NULL, *fastest = NULL;
    for (int k = 0; k < st->rules.n; k++) {
        int rule = st->rules.v[k], b = best_of(st, rule);
        if (b < 0)
            continue;
        const ex_result *r = st->runs[rule][b];
        int32_t reach = epochs_to(r, st->target);
        char tried[128] = "";
        for (int i = 0, n = 0; i < st->lrs[rule].n && n >= 0 && n < (int)sizeof tried;
             i++)
            n += snprintf(tried + n, sizeof tried - (size_t)n, "%s%g", i ? ", " : "",
                          st->lrs[rule].v[i]);
        ex_table_cell(t, "%s", ex_rule_names[rule]);
        ex_table_cell(t, "%s", tried);
        ex_table_cell(t, "%g", st->lrs[rule].v[b]);
        ex_table_num(t, 4, r->best_valid_acc);
        ex_table_cell(t, "%ld", (long)r->best_epoch);
        ex_table_num(t, 4, r->test_acc);
        if (reach > 0)
            ex_table_cell(t, "%ld", (long)reach);
        else
            ex_table_cell(t, "never");
        ex_table_num(t, 3, r->seconds_per_epoch);
        if (!winner || r->best_valid_acc > winner->best_valid_acc)
            winner = r;
        if (reach > 0 && (!fastest || reach < epochs_to(fastest, st->target)))
            fastest = r;
    }
    ex_table_end(t, f);
    if (winner)
        fprintf(f,
                "\nBest: %s, best validation accuracy %.4f at epoch %ld of %ld, test "
                "accuracy %.4f.\n",
                winner->name, winner->best_valid_acc, (long)winner->best_epoch,
                (long)winner->epochs, winner->test_acc);
    if (fastest)
        fprintf(f, "First to reach validation accuracy %g: %s, after %ld epoch%s.\n",
                st->target, fastest->name, (long)epochs_to(fastest, st->target),
                epochs_to(fastest, st->target) == 1 ? "" : "s");
    else if (winner)
        fprintf(f, "No run reached validation accuracy %g in %ld epochs.\n", st->target,
                (long)s->opt->epochs);
}

/* Train one rule over its grid and plot its validation curves. */
static void train_rule(ex_session *s, study *st, int rule)
{
    char name[EX_RUN_NAME_MAX], labels[EX_LIST_MAX][32], stem[32], title[64];
    const char *label_ptrs[EX_LIST_MAX];
    ex_rule_options hp = s->opt->rule;
    if (EX_RULE(rule) == MLP_RULE_RMSPROP)
        hp.momentum =
            NAN; /* plain RMSProp, as the report; --momentum is for the others */
    for (int i = 0; i < st->lrs[rule].n; i++) {
        double lr = st->lrs[rule].v[i];
        ex_run_name(name, "%s-lr%g", ex_rule_names[rule], lr);
        mlp_model *model = ex_build_mlp(s, &st->mlp);
        st->runs[rule][i] =
            ex_session_train(s, name, model, ex_optimizer(model, EX_RULE(rule), lr, &hp));
        snprintf(labels[i], sizeof labels[i], "lr %g", lr);
        label_ptrs[i] = labels[i];
    }
    snprintf(stem, sizeof stem, "rule-%s", ex_rule_names[rule]);
    snprintf(title, sizeof title, "%s over learning rates", ex_rule_names[rule]);
    ex_session_compare(s, stem, title, st->runs[rule], label_ptrs, st->lrs[rule].n);
}

#define GRID_FLAG(rule, name)                                                            \
    EX_DOUBLES(name "-lrs", &st.lrs[EX_RULE_INDEX(rule)], 0.0, 1e6,                      \
               "learning rates of the " name " runs")

int main(int argc, char **argv)
{
    static study st = {
        .mlp = EX_MLP_BASELINE,
        .rules = {4,
                  {EX_RULE_INDEX(MLP_RULE_SGD), EX_RULE_INDEX(MLP_RULE_MOMENTUM),
                   EX_RULE_INDEX(MLP_RULE_RMSPROP), EX_RULE_INDEX(MLP_RULE_ADAM)}},
        .lrs = {{3, {0.05, 0.1, 0.2}},     /* sgd */
                {3, {0.01, 0.02, 0.05}},   /* momentum, mu 0.9 */
                {3, {0.01, 0.02, 0.05}},   /* nesterov */
                {3, {1e-4, 5e-4, 1e-3}},   /* rmsprop */
                {3, {5e-4, 1e-3, 2e-3}},   /* adam */
                {3, {5e-4, 1e-3, 2e-3}},   /* adamw */
                {3, {0.005, 0.01, 0.05}}}, /* adagrad */
        .target = 0.84,
    };
    ex_options opt;
    ex_options_init(&opt, "results/learning-rules");
    opt.rule_flags = EX_RULE_FLAGS_PARAMS; /* the rules and rates come from below */
    const ex_flag flags[] = {
        EX_MLP_FLAGS(&st.mlp),
        EX_CHOICES("rules", &st.rules, ex_rule_names, "learning rules to compare"),
        GRID_FLAG(MLP_RULE_SGD, "sgd"),
        GRID_FLAG(MLP_RULE_MOMENTUM, "momentum"),
        GRID_FLAG(MLP_RULE_NESTEROV, "nesterov"),
        GRID_FLAG(MLP_RULE_RMSPROP, "rmsprop"),
        GRID_FLAG(MLP_RULE_ADAM, "adam"),
        GRID_FLAG(MLP_RULE_ADAMW, "adamw"),
        GRID_FLAG(MLP_RULE_ADAGRAD, "adagrad"),
        EX_DOUBLE("target-acc", &st.target, 0.0, 1.0,
                  "validation accuracy whose first epoch the summary reports per rule"),
        EX_FLAGS_END,
    };
    ex_parse_args(argc, argv, "mlpnet-learning-rules",
                  "Compare learning rules on the baseline MLP (section 3 of the report): "
                  "each rule over its own learning-rate grid, same seed and epochs. "
                  "Writes per-run CSV and SVG files, comparison plots and a summary "
                  "to --out. --momentum applies to momentum and nesterov only.",
                  &opt, flags);
    ex_check_rules_params(&opt, st.rules.v, st.rules.n);

    ex_session s;
    ex_session_open(&s, &opt);
    ex_session_set_notes(&s, notes, &st);
    for (int k = 0; k < st.rules.n; k++)
        train_rule(&s, &st, st.rules.v[k]);

    /* The rules side by side, each at its best rate. */
    const ex_result *best[EX_LIST_MAX];
    char labels[EX_LIST_MAX][48];
    const char *label_ptrs[EX_LIST_MAX];
    for (int k = 0; k < st.rules.n; k++) {
        int rule = st.rules.v[k], b = best_of(&st, rule);
        best[k] = st.runs[rule][b];
        snprintf(labels[k], sizeof labels[k], "%s (lr %g)", ex_rule_names[rule],
                 st.lrs[rule].v[b]);
        label_ptrs[k] = labels[k];
    }
    ex_session_compare(&s, "rules", "Learning rules at their best rate", best, label_ptrs,
                       st.rules.n);

    return ex_session_finish(&s) ? 1 : 0; /* 1: a run stopped on a numeric error */
}
