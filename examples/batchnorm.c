/*
 * mlpnet-batchnorm: section 4 of the report, batch normalisation.
 *
 * The baseline MLP (3 hidden layers of 100 ELU units, SGD) without ("plain")
 * and with ("bn") batch normalisation after each hidden affine layer (affine
 * without bias -> batch norm -> activation), at the baseline's learning
 * rate (--lr, 0.1) and at a rate 5 times higher (--high-lr, 0.5), plus the
 * plain network with dropout after each hidden activation ("dropout", drop
 * probability --dropout) at the baseline rate.
 *
 * Outputs as the other examples: OUT/RUN.csv, OUT/RUN-{error,accuracy}.svg,
 * comparison plots OUT/compare-{lr,high-lr,all}-valid_{error,acc}.svg and
 * OUT/summary.{csv,md}. summary.md ends with what the runs show, worded
 * from the numbers: batch norm against plain at each rate, how noisy the
 * validation curves are, what the high rate does without batch norm, and why.
 * The exit status is 1 when a run at the baseline rate diverged; at the high
 * rate, diverging is one of the outcomes the experiment looks for.
 */
#include <math.h>
#include <stdio.h>

#include <mlpnet/mlpnet.h>

#include "common/ex_common.h"

enum { PLAIN, PLAIN_HIGH, BN, BN_HIGH, DROPOUT, N_RUNS };
static const char *const tags[N_RUNS] = {"plain", "plain", "bn", "bn", "dropout"};

typedef struct study {
    ex_mlp mlp;
    double lr, high_lr, dropout;
    const ex_result *runs[N_RUNS]; /* NULL until trained */
} study;

/* How run a compares with run b by best validation accuracy. */
static const char *versus(const ex_result *a, const ex_result *b)
{
    double d = a->best_valid_acc - b->best_valid_acc;
    if (a->diverged != b->diverged)
        return a->diverged ? "worse than" : "better than";
    return isnan(d)          ? "not comparable with"
           : fabs(d) < 0.002 ? "about as good as"
           : d > 0.0         ? "better than"
                             : "worse than";
}

static const char *status(const ex_result *r)
{
    return r->diverged ? "diverged" : r->best_valid_acc < 0.25 ? "stalled" : "trained";
}

/* One sentence: what batch norm does at one rate. */
static void compare_at(FILE *f, double lr, const ex_result *bn, const ex_result *plain)
{
    double d = 100.0 * (bn->best_valid_acc - plain->best_valid_acc);
    fprintf(f,
            "- At lr %g, batch norm is **%s** plain: best validation accuracy %.4f "
            "(%s) vs %.4f (%s)",
            lr, versus(bn, plain), bn->best_valid_acc, status(bn), plain->best_valid_acc,
            status(plain));
    fprintf(f, isnan(d) ? ".\n" : ", %+.2f points.\n", d);
}

static void notes(const ex_session *s, FILE *f, void *user)
{
    const study *st = user;
    int from = s->opt->epochs / 4 + 1; /* the first quarter's drops are learning */
    char noise_head[64], rises_head[64];
    snprintf(noise_head, sizeof noise_head, "std of valid_error changes from epoch %d",
             from);
    snprintf(rises_head, sizeof rises_head, "rises from epoch %d", from);
    ex_table *t =
        ex_table_new("run", "status", "best valid_acc", "test_acc", "train-valid acc gap",
                     noise_head, rises_head, (const char *)NULL);
    for (int i = 0; i < N_RUNS; i++) {
        const ex_result *r = st->runs[i];
        int rises = 0;
        if (!r)
            continue;
        double noise = ex_valid_noise(r, from, &rises);
        ex_table_cell(t, "%s", r->name);
        ex_table_cell(t, "%s", status(r));
        ex_table_num(t, 4, r->best_valid_acc);
        ex_table_num(t, 4, r->test_acc);
        ex_table_num(t, 4, r->train_acc - r->valid_acc);
        ex_table_num(t, 4, noise);
        ex_table_cell(t, "%d of %d", rises, r->epochs > from ? r->epochs - from : 0);
    }
    ex_table_end(t, f);
    const ex_result *p = st->runs[PLAIN], *ph = st->runs[PLAIN_HIGH], *b = st->runs[BN],
                    *bh = st->runs[BN_HIGH], *d = st->runs[DROPOUT];
    if (!p || !ph || !b || !bh || !d)
        return; /* the conclusions wait for every run */

    fprintf(f, "\nWhat these runs show:\n\n");
    compare_at(f, st->lr, b, p);
    compare_at(f, st->high_lr, bh, ph);
    char what[160];
    if (ph->diverged || ph->best_valid_acc < 0.25)
        snprintf(what, sizeof what, "%s %ld%s; with batch norm it %s",
                 ph->diverged ? "diverged in epoch" : "did not learn in",
                 (long)(ph->diverged ? ph->epochs + 1 : ph->epochs),
                 ph->diverged ? " (the loss became NaN or infinite)" : " epochs",
                 status(bh));
    else
        snprintf(what, sizeof what, "still trained, %s lr %g (%.4f vs %.4f)",
                 versus(ph, p), st->lr, ph->best_valid_acc, p->best_valid_acc);
    fprintf(f, "- Without batch norm the high rate %g %s.\n", st->high_lr, what);
    int rb, rp, rbh, rph;
    double nb = ex_valid_noise(b, from, &rb), np = ex_valid_noise(p, from, &rp);
    double nbh = ex_valid_noise(bh, from, &rbh), nph = ex_valid_noise(ph, from, &rph);
    const char *noisier = "about as noisy as";
    int noisy = 0;
    if (isnan(nb) || isnan(np))
        fprintf(f,
                "- Noise: too few epochs (%ld) to measure it; use --epochs 3 or more.\n",
                (long)s->opt->epochs);
    else {
        noisy = nb > 1.2 * np;
        noisier = noisy ? "noisier than" : nb < np / 1.2 ? "smoother than" : noisier;
        fprintf(f,
                "- Validation error with batch norm is **%s** without: from epoch %d "
                "on, the standard deviation of its epoch-to-epoch changes is %.4f vs "
                "%.4f at lr %g, and it rose in %d vs %d of %ld steps",
                noisier, from, nb, np, st->lr, rb, rp, (long)(b->epochs - from));
        if (!isnan(nbh) && !isnan(nph))
            fprintf(f, " (at lr %g: %.4f vs %.4f, %d vs %d rises)", st->high_lr, nbh, nph,
                    rbh, rph);
        fprintf(f, ".\n");
    }
    fprintf(f,
            "- Dropout (p %g) at lr %g is %s plain (%.4f vs %.4f); its train-valid "
            "accuracy gap at the last epoch is %.4f vs %.4f.\n",
            st->dropout, st->lr, versus(d, p), d->best_valid_acc, p->best_valid_acc,
            d->train_acc - d->valid_acc, p->train_acc - p->valid_acc);

    /* Why, in one sentence whose clauses follow the numbers above. */
    int saved = !bh->diverged && (ph->diverged || ph->best_valid_acc < 0.25);
    int helped = !bh->diverged && bh->best_valid_acc > ph->best_valid_acc + 0.002;
    int base_hurt = b->best_valid_acc < p->best_valid_acc - 0.002;
    fprintf(f,
            "\nWhy: batch norm normalises each hidden layer's inputs with the "
            "statistics of the current batch, so a layer's output no longer grows with "
            "the scale of its weights%s; %s%s.\n",
            saved ? ", and large steps at the high rate cannot blow up the activations "
                    "as they did without it"
            : helped ? ", which lets the high rate make faster progress than without it"
                     : ", which did not make the high rate safer or better here",
            base_hurt ? "at the baseline rate the plain network is already well "
                        "conditioned, so batch norm has little to fix and mainly adds "
                        "the noise of batch statistics"
                      : "at the baseline rate the better-conditioned layers let the "
                        "same rate make more progress per epoch",
            noisy
                ? ", and validation uses running averages of the mean and variance "
                  "that trail the changing weights, which makes its validation curve jump"
                : "");
}

/* Train one variant at one rate. */
static void train(ex_session *s, study *st, int which, double lr)
{
    const ex_rule_options *rule = &s->opt->rule;
    ex_mlp mlp = st->mlp;
    mlp.batchnorm = which == BN || which == BN_HIGH;
    mlp.dropout = which == DROPOUT ? st->dropout : 0.0;
    char name[EX_RUN_NAME_MAX];
    ex_run_name(name, "%s-%slr%g", tags[which], ex_rule_infix(rule), lr);
    mlp_model *model = ex_build_mlp(s, &mlp);
    st->runs[which] =
        ex_session_train(s, name, model, ex_optimizer(model, ex_rule_of(rule), lr, rule));
}

int main(int argc, char **argv)
{
    study st = {.mlp = EX_MLP_BASELINE, .high_lr = 0.5, .dropout = 0.2};
    ex_options opt;
    ex_options_init(&opt, "results/batchnorm");
    const ex_flag flags[] = {
        EX_MLP_FLAGS(&st.mlp),
        EX_DOUBLE("high-lr", &st.high_lr, 0.0, 1e6,
                  "the higher learning rate (5 to 10 times --lr)"),
        EX_DOUBLE("dropout", &st.dropout, 0.0, 0.99,
                  "probability of dropping a value, in the dropout run"),
        EX_FLAGS_END,
    };
    ex_parse_args(argc, argv, "mlpnet-batchnorm",
                  "Batch normalisation and dropout on the baseline MLP (section 4 of "
                  "the report): with and without batch norm at --lr and --high-lr, and "
                  "a dropout run. Writes per-run CSV and SVG files, comparison plots and "
                  "a summary that says what the runs show to --out.",
                  &opt, flags);
    st.lr = ex_lr_of(&opt.rule);
    if (st.high_lr == st.lr)
        ex_usage_error("--high-lr %g equals the learning rate: nothing to compare",
                       st.high_lr);

    ex_session s;
    ex_session_open(&s, &opt);
    ex_session_set_notes(&s, notes, &st);
    train(&s, &st, PLAIN, st.lr);
    train(&s, &st, PLAIN_HIGH, st.high_lr);
    train(&s, &st, BN, st.lr);
    train(&s, &st, BN_HIGH, st.high_lr);
    train(&s, &st, DROPOUT, st.lr);

    const ex_result *base[] = {st.runs[PLAIN], st.runs[BN], st.runs[DROPOUT]};
    const ex_result *high[] = {st.runs[PLAIN_HIGH], st.runs[BN_HIGH]};
    ex_session_compare(&s, "compare-lr", "Baseline rate", base, NULL, 3);
    ex_session_compare(&s, "compare-high-lr", "High rate", high, NULL, 2);
    ex_session_compare(&s, "compare-all", "Batch norm, plain and dropout", st.runs, NULL,
                       N_RUNS);

    /* The high rate may diverge without batch norm: that is a result. */
    int status = st.runs[PLAIN]->diverged || st.runs[BN]->diverged ? 1 : 0;
    ex_session_finish(&s);
    return status;
}
