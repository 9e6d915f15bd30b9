/*
 * mlpnet-convnets: section 5 of the report, convolutional networks.
 *
 * Runs (--run, a comma-separated list; default all), each taking the
 * images as [C,H,W]:
 *   conv1     conv 5x5, 5 maps (no padding) -> ReLU -> 2x2 max pool -> softmax
 *             output, as the report;
 *   conv2     two such blocks, 5 then 10 maps;
 *   conv2-fc  conv2 plus fully connected hidden layers before the output
 *             (--fc-layers x --fc-units ELU units), the report's suggested fix;
 *   convnet   conv 3x3, 32 maps, padding 1, no bias -> spatial batch norm -> ReLU ->
 *             2x2 max pool; the same with 64 maps; dense 128 + ReLU (dropout
 *             with --dropout above 0); softmax output;
 *   baseline  the baseline MLP (3 x 100 ELU, SGD at 0.1, on --mlp-threads,
 *             1 by default, its fastest setting), for the comparison of speed
 *             and accuracy.
 * The ConvNets train with Adam at 1e-3 unless --learning-rule/--lr say
 * otherwise; 10 epochs and 2 threads by default.
 *
 * Outputs as the other examples (OUT/RUN.csv, OUT/RUN-{error,accuracy}.svg,
 * OUT/compare-valid_{error,acc}.svg, OUT/summary.{csv,md}), plus
 * OUT/compare-valid_acc-time.svg, validation accuracy against training
 * time; summary.md adds the seconds per epoch of each run, next to the
 * baseline MLP's when --run includes it (the plots' titles name it only
 * then).
 */
#include <math.h>
#include <stdio.h>

#include <mlpnet/mlpnet.h>

#include "common/ex_common.h"

enum { BASELINE, CONV1, CONV2, CONV2_FC, CONVNET, N_RUNS, ALL = N_RUNS };
static const char *const run_names[] = {"baseline", "conv1", "conv2", "conv2-fc",
                                        "convnet",  "all",   NULL};

typedef struct study {
    ex_choices which;
    int32_t fc_layers, fc_units;
    int32_t mlp_threads; /* the baseline MLP's, usually fastest at 1 */
    double dropout;
    const ex_result *runs[N_RUNS]; /* NULL unless trained */
} study;

/* conv k x k (stride 1, zero padding `pad`) -> [spatial batch norm] -> ReLU
 * -> 2x2 max pool. Before batch norm the convolution has no bias: the
 * norm's shift replaces it. */
static void conv_block(mlp_model *m, int32_t filters, int32_t k, int32_t pad, int bn)
{
    ex_add_conv(m, filters, k, pad, !bn);
    if (bn)
        ex_add_batchnorm_spatial(m);
    ex_add_activation(m, EX_ACT_RELU);
    ex_add_maxpool(m, 2);
}

static mlp_model *build(const ex_session *s, const study *st, int which)
{
    ex_mlp head = {EX_ACT_ELU, 0, 0, 0, 0.0}; /* the softmax output layer alone */
    mlp_model *m = ex_model_new(s, 1);
    switch (which) {
    case CONV1: conv_block(m, 5, 5, 0, 0); break;
    case CONV2_FC:
        head = (ex_mlp){EX_ACT_ELU, st->fc_layers, st->fc_units, 0, 0.0};
        /* fall through */
    case CONV2:
        conv_block(m, 5, 5, 0, 0);
        conv_block(m, 10, 5, 0, 0);
        break;
    case CONVNET:
        conv_block(m, 32, 3, 1, 1);
        conv_block(m, 64, 3, 1, 1);
        head = (ex_mlp){EX_ACT_RELU, 1, 128, 0, st->dropout};
        break;
    }
    ex_add_mlp(s, m, &head);
    return m;
}

static void train(ex_session *s, study *st, int which)
{
    char name[EX_RUN_NAME_MAX];
    if (which == BASELINE) {
        ex_mlp mlp = EX_MLP_BASELINE;
        double lr = ex_default_lr(MLP_RULE_SGD);
        ex_run_name(name, "baseline-lr%g", lr);
        mlp_model *m = ex_build_mlp(s, &mlp);
        ex_check(mlp_set_num_threads(st->mlp_threads), "setting --mlp-threads");
        st->runs[which] =
            ex_session_train(s, name, m, ex_optimizer(m, MLP_RULE_SGD, lr, NULL));
        ex_check(mlp_set_num_threads(s->opt->threads), "setting --threads");
        return;
    }
    const ex_rule_options *rule = &s->opt->rule;
    ex_run_name(name, "%s-%s-lr%g", run_names[which], ex_rule_names[rule->rule],
                ex_lr_of(rule));
    mlp_model *m = build(s, st, which);
    st->runs[which] = ex_session_train(
        s, name, m, ex_optimizer(m, ex_rule_of(rule), ex_lr_of(rule), rule));
}

/* summary.md: speed and accuracy of every run next to the baseline MLP's. */
static void notes(const ex_session *s, FILE *f, void *user)
{
    const study *st = user;
    const ex_result *mlp = st->runs[BASELINE];
    /* Without the baseline run, no columns of NaN comparing with it. */
    if (mlp)
        fprintf(f,
                "Seconds per epoch (median training pass; the ConvNets on %ld thread%s, "
                "the baseline MLP on %ld) next to the baseline MLP's:\n\n",
                (long)s->opt->threads, s->opt->threads == 1 ? "" : "s",
                (long)st->mlp_threads);
    else
        fprintf(f, "Seconds per epoch (median training pass, on %ld thread%s):\n\n",
                (long)s->opt->threads, s->opt->threads == 1 ? "" : "s");
    ex_table *t = mlp ? ex_table_new("run", "parameters", "seconds_per_epoch",
                                     "baseline MLP", "ratio", "best valid_acc",
                                     "vs baseline (points)", (const char *)NULL)
                      : ex_table_new("run", "parameters", "seconds_per_epoch",
                                     "best valid_acc", (const char *)NULL);
    for (int i = 0; i < N_RUNS; i++) {
        const ex_result *r = st->runs[i];
        if (!r)
            continue;
        ex_table_cell(t, "%s", r->name);
        ex_table_cell(t, "%lld", (long long)r->params);
        ex_table_num(t, 3, r->seconds_per_epoch);
        if (mlp) {
            ex_table_num(t, 3, mlp->seconds_per_epoch);
            ex_table_num(t, 2, r->seconds_per_epoch / mlp->seconds_per_epoch);
        }
        ex_table_num(t, 4, r->best_valid_acc);
        if (mlp)
            ex_table_num(t, 2, 100.0 * (r->best_valid_acc - mlp->best_valid_acc));
    }
    ex_table_end(t, f);
    if (!mlp)
        fprintf(f, "\nAdd `baseline` to --run to compare each run with the baseline "
                   "MLP's time and accuracy.\n");
    for (int i = CONV1, first = 1; mlp && i < N_RUNS; i++) {
        const ex_result *r = st->runs[i];
        if (r)
            fprintf(f,
                    "%s- %s: %.1f times the baseline MLP's time per epoch, %s its best "
                    "validation accuracy by %.2f points.\n",
                    first ? "\n" : "", run_names[i],
                    r->seconds_per_epoch / mlp->seconds_per_epoch,
                    r->best_valid_acc >= mlp->best_valid_acc ? "above" : "below",
                    100.0 * fabs(r->best_valid_acc - mlp->best_valid_acc));
        first = first && !r;
    }
    const ex_result *c2 = st->runs[CONV2], *fc = st->runs[CONV2_FC];
    if (c2 && fc)
        fprintf(f,
                "\nThe report's fix, hidden layers after the convolutions, %s conv2: "
                "%.4f vs %.4f best validation accuracy.\n",
                fc->best_valid_acc > c2->best_valid_acc ? "beats" : "does not beat",
                fc->best_valid_acc, c2->best_valid_acc);
}

int main(int argc, char **argv)
{
    study st = {.which = {1, {ALL}},
                .fc_layers = 2,
                .fc_units = 100,
                .mlp_threads = 1,
                .dropout = 0.0};
    ex_options opt;
    ex_options_init(&opt, "results/convnets");
    opt.epochs = 10;
    opt.threads = 2;
    opt.rule.rule = EX_RULE_INDEX(MLP_RULE_ADAM);
    const ex_flag flags[] = {
        EX_CHOICES("run", &st.which, run_names, "runs to train"),
        EX_INT("fc-layers", &st.fc_layers, 0, 100, "hidden dense layers of conv2-fc"),
        EX_INT("fc-units", &st.fc_units, 1, 100000, "units per hidden layer of conv2-fc"),
        EX_INT("mlp-threads", &st.mlp_threads, 0, 1024,
               "threads of the baseline run (0: all cores); --threads is for the "
               "ConvNets"),
        EX_DOUBLE("dropout", &st.dropout, 0.0, 0.99,
                  "probability of dropping, for a dropout layer after convnet's dense "
                  "layer (0: no dropout)"),
        EX_FLAGS_END,
    };
    ex_parse_args(argc, argv, "mlpnet-convnets",
                  "Convolutional networks against the baseline MLP (section 5 of the "
                  "report). The ConvNets use the learning rule and rate of the flags "
                  "(Adam 1e-3 by default); the baseline MLP always SGD at 0.1. Writes "
                  "per-run CSV and SVG files, a comparison plot and a summary with the "
                  "time per epoch of each run to --out.",
                  &opt, flags);
    int chosen[N_RUNS] = {0};
    for (int k = 0; k < st.which.n; k++) {
        for (int i = 0; i < N_RUNS; i++)
            chosen[i] |= st.which.v[k] == i || st.which.v[k] == ALL;
    }

    ex_session s;
    ex_session_open(&s, &opt);
    ex_session_set_notes(&s, notes, &st);
    const ex_result *done[N_RUNS];
    int n = 0;
    for (int i = 0; i < N_RUNS; i++) {
        if (chosen[i]) {
            train(&s, &st, i);
            done[n++] = st.runs[i];
        }
    }
    /* The titles name the baseline MLP only when it was trained. */
    const char *title = !chosen[BASELINE] ? "ConvNets"
                        : n == 1          ? "The baseline MLP"
                                          : "ConvNets and the baseline MLP";
    ex_session_compare(&s, "compare", title, done, NULL, n);
    ex_session_compare_time(&s, "compare", title, done, n);
    return ex_session_finish(&s) ? 1 : 0; /* 1: a run stopped on a numeric error */
}
