/*
 * mlpnet-tabular: small real tables, classification and regression.
 *
 * Not a section of the report: the tables of the data folder `tabular`
 * (iris and breast cancer, classification; diabetes, regression), each
 * split into PREFIX-train.csv and PREFIX-test.csv. For each table and each
 * of --seeds seeds, the training rows are shuffled and a --valid-fraction of
 * them set apart for validation (it picks the best epoch); the model is a
 * standardisation layer, whose per-feature mean and scale come from the
 * remaining training rows (mlp_model_fit_standardize), one hidden layer of
 * 64 ReLU units and the output: softmax cross-entropy for a class, mean
 * squared error for a number. Adam (rate 3e-3, batches of 32, 100 epochs:
 * the best of a small grid of rates 1e-3..1e-2, batches 16..64 and 100 or
 * 200 epochs, each of which passes on breast cancer) trains it, as it does
 * scikit-learn's MLPClassifier and MLPRegressor, whose figures (from the
 * data's README) the summary shows beside ours: the median over the seeds
 * of the test accuracy, or of the test R^2 for diabetes.
 *
 * Every run writes OUT/RUN.csv and OUT/RUN-error.svg with
 * OUT/RUN-accuracy.svg, or OUT/RUN-r2.svg for a regression (whose RUN.csv
 * and summary have the regression columns); the program ends with
 * OUT/summary.{csv,md}.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <mlpnet/mlpnet.h>

#include "common/ex_common.h"

/* A table: its files, its target column and the figures to compare with. */
typedef struct table {
    const char *prefix;
    const char *target;
    int regress;    /* a number to predict, judged by R^2; else a class */
    double sklearn; /* scikit-learn's median (data README) */
    double bar;     /* the figure the median must reach (issue 13) */
} table;

static const table tables[] = {
    {"iris", "species", 0, 0.967, 0.93},
    {"breast-cancer", "diagnosis", 0, 1.00, 0.96},
    {"diabetes", "progression", 1, 0.447, 0.40},
};
enum { N_TABLES = 3 };
static const char *const table_names[] = {"iris", "breast-cancer", "diabetes", NULL};

/* The runs of every table and seed, for the notes under the summary. */
typedef struct state {
    ex_choices sets;
    int32_t seeds;
    const ex_result *runs[N_TABLES][EX_LIST_MAX];
    double seconds[N_TABLES][EX_LIST_MAX]; /* wall time of each run */
} state;

/* Where the tables are: --tabular-dir, $MLPNET_TABULAR_DIR, or the folder
 * `tabular` beside the image data (--data-dir or $MLPNET_DATA_DIR). */
static const char *tabular_dir(const char *flag, const ex_options *o, char *buf,
                               size_t cap)
{
    const char *env = getenv("MLPNET_TABULAR_DIR");
    const char *data = o->data_dir ? o->data_dir : getenv("MLPNET_DATA_DIR");
    if (flag)
        return flag;
    if (env && *env)
        return env;
    if (!data || !*data)
        ex_usage_error("no tables: use --tabular-dir, $MLPNET_TABULAR_DIR or "
                       "$MLPNET_DATA_DIR (whose ../tabular holds them)");
    int len = snprintf(buf, cap, "%s/../tabular", data);
    if (len < 0 || (size_t)len >= cap)
        ex_die("path too long: %s/../tabular", data);
    return buf;
}

/* Read DIR/PREFIX-SPLIT.csv; a class table takes the class ids of `ids`. */
static mlp_dataset *load(const char *dir, const table *t, const char *split,
                         const mlp_dataset *ids)
{
    char path[4096], what[4200];
    const char *names[64];
    mlp_csv_options co;
    ex_check(mlp_csv_options_init(&co), "setting the CSV options");
    co.task = t->regress ? MLP_CSV_REGRESS : MLP_CSV_CLASSIFY;
    co.target_name = t->target;
    for (int32_t k = 0; ids && k < mlp_dataset_num_classes(ids) && k < 64; k++)
        names[co.num_class_names++] = mlp_dataset_class_name(ids, k);
    co.class_names = co.num_class_names ? names : NULL;
    int len = snprintf(path, sizeof path, "%s/%s-%s.csv", dir, t->prefix, split);
    if (len < 0 || len >= (int)sizeof path)
        ex_die("path too long: %s/%s-%s.csv", dir, t->prefix, split);
    snprintf(what, sizeof what, "reading %s", path);
    mlp_dataset *ds = NULL;
    ex_check(mlp_dataset_load_csv(&ds, path, &co), what);
    return ds;
}

/* Shuffle the rows of `all` (splitmix64 from `seed`, Fisher-Yates) and
 * carve the first `frac` of them off for validation. */
static void carve(const mlp_dataset *all, double frac, uint64_t seed, mlp_dataset **train,
                  mlp_dataset **valid)
{
    int32_t n = mlp_dataset_size(all), nv = (int32_t)lround(frac * n);
    nv = nv < 1 ? 1 : nv > n - 1 ? n - 1 : nv;
    int32_t *idx = ex_xmalloc((size_t)n * sizeof *idx);
    for (int32_t i = 0; i < n; i++)
        idx[i] = i;
    uint64_t x = seed;
    for (int32_t i = n - 1; i > 0; i--) {
        uint64_t z = (x += 0x9E3779B97F4A7C15u);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
        int32_t j = (int32_t)((z ^ (z >> 31)) % (uint64_t)(i + 1)), tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
    ex_check(mlp_dataset_subset(all, idx, nv, valid), "carving the validation rows");
    ex_check(mlp_dataset_subset(all, idx + nv, n - nv, train),
             "keeping the training rows");
    free(idx);
}

/* standardize -> the MLP's hidden layers -> output, with the table's loss;
 * the standardisation is set from the session's training rows. */
static mlp_model *build(const ex_session *s, const ex_mlp *mlp, const table *t)
{
    mlp_model *m = ex_model_new(s, 0);
    mlp_layer *l = NULL;
    ex_check(mlp_layer_create_standardize(&l), "creating the standardisation layer");
    ex_check(mlp_model_add(m, l), "adding the standardisation layer");
    ex_add_mlp(s, m, mlp);
    if (t->regress)
        ex_check(mlp_model_set_loss(m, MLP_LOSS_MSE, 0.0), "choosing the MSE loss");
    ex_check(mlp_model_fit_standardize(m, s->train), "standardising the features");
    return m;
}

/* The comparison under the summary table: medians over the seeds. */
static void notes(const ex_session *s, FILE *f, void *user)
{
    (void)s;
    const state *st = user;
    fprintf(f,
            "Test figures with the parameters of each run's best validation epoch, "
            "over %ld seed%s (validation rows, initialisation, shuffling); "
            "scikit-learn: one hidden layer of 64, Adam, standardised features, "
            "median of 5 seeds.\n\n",
            (long)st->seeds, st->seeds == 1 ? "" : "s");
    ex_table *tb = ex_table_new("table", "metric", "median", "min", "max", "scikit-learn",
                                "bar", "met", "train s", "run s", (const char *)NULL);
    for (int i = 0; i < st->sets.n; i++) {
        const table *t = &tables[st->sets.v[i]];
        double v[EX_LIST_MAX], train_s[EX_LIST_MAX], lo = INFINITY, hi = -INFINITY;
        int n = 0;
        for (int k = 0; k < st->seeds && st->runs[i][k]; k++, n++) {
            const ex_result *r = st->runs[i][k];
            v[n] = t->regress ? r->test_r2 : r->test_acc;
            lo = fmin(lo, v[n]);
            hi = fmax(hi, v[n]);
            train_s[n] = 0.0; /* the training passes of all its epochs */
            for (int32_t e = 0; e < r->epochs; e++)
                train_s[n] += r->seconds[e];
        }
        if (n == 0)
            continue;
        double med = ex_median(v, n);
        ex_table_cell(tb, "%s", t->prefix);
        ex_table_cell(tb, "%s", t->regress ? "test R^2" : "test accuracy");
        ex_table_num(tb, 3, med);
        ex_table_num(tb, 3, lo);
        ex_table_num(tb, 3, hi);
        ex_table_num(tb, 3, t->sklearn);
        ex_table_num(tb, 2, t->bar);
        ex_table_cell(tb, "%s", med >= t->bar ? "yes" : "no");
        ex_table_num(tb, 2, ex_median(train_s, n));
        ex_table_num(tb, 2, ex_median(st->seconds[i], n));
    }
    ex_table_end(tb, f);
    fprintf(f, "\n`train s`: the median over the seeds of a run's training passes, all "
               "epochs; `run s`: of its whole run, with validation, test and the files "
               "written after every epoch.\n");
}

int main(int argc, char **argv)
{
    ex_options opt;
    ex_options_init(&opt, "results/tabular");
    opt.epochs = 100;
    opt.batch_size = 32;
    opt.rule.rule = EX_RULE_INDEX(MLP_RULE_ADAM);
    opt.rule.lr = 3e-3;
    opt.tables = 1;
    ex_mlp mlp = {EX_ACT_RELU, 1, 64, 0, 0.0};
    state st = {{N_TABLES, {0, 1, 2}}, 5, {{NULL}}, {{0}}};
    const char *dir_flag = NULL;
    double valid_fraction = 0.15;
    const ex_flag flags[] = {
        EX_MLP_FLAGS(&mlp),
        EX_STRING("tabular-dir", &dir_flag, "DIR",
                  "folder of the tables (default: $MLPNET_TABULAR_DIR, else the "
                  "folder tabular beside --data-dir or $MLPNET_DATA_DIR)"),
        EX_CHOICES("sets", &st.sets, table_names, "the tables to train on"),
        EX_INT("seeds", &st.seeds, 1, EX_LIST_MAX,
               "runs per table, with seeds --seed, --seed + 1, ..."),
        EX_DOUBLE("valid-fraction", &valid_fraction, 0.01, 0.5,
                  "share of the training rows set apart (shuffled) for validation"),
        EX_FLAGS_END,
    };
    ex_parse_args(argc, argv, "mlpnet-tabular",
                  "Train on the tables iris, breast-cancer (classes) and diabetes (a "
                  "number) with standardised features, a few seeds each; compare the "
                  "test figures with scikit-learn's. Writes per-run CSV and SVG files "
                  "and a summary to --out.",
                  &opt, flags);
    if (opt.dataset || opt.train_size || opt.valid_size != MLP_DEFAULT_VALID_SIZE)
        ex_usage_error("--dataset, --train-size and --valid-size are for the image "
                       "programs; use --sets and --valid-fraction");

    char buf[4096];
    const char *dir = tabular_dir(dir_flag, &opt, buf, sizeof buf);
    ex_session s;
    ex_session_open_custom(&s, &opt, dir, "tabular");
    ex_session_set_notes(&s, notes, &st);
    const uint64_t seed0 = opt.seed;
    for (int i = 0; i < st.sets.n; i++) {
        const table *t = &tables[st.sets.v[i]];
        mlp_dataset *all = load(dir, t, "train", NULL);
        for (int k = 0; k < st.seeds; k++) {
            /* The session reads opt.seed at each run (initialisation and
             * shuffling); the validation rows change with it too. */
            opt.seed = seed0 + (uint64_t)k;
            mlp_dataset *train = NULL, *valid = NULL;
            carve(all, valid_fraction, opt.seed, &train, &valid);
            ex_session_set_data(&s, train, valid, load(dir, t, "test", all));
            mlp_model *m = build(&s, &mlp, t);
            char name[EX_RUN_NAME_MAX];
            ex_run_name(name, "%s-seed%d", t->prefix, k + 1);
            double start = ex_now();
            st.runs[i][k] = ex_session_train(
                &s, name, m,
                ex_optimizer(m, ex_rule_of(&opt.rule), ex_lr_of(&opt.rule), &opt.rule));
            st.seconds[i][k] = ex_now() - start;
        }
        mlp_dataset_destroy(all);
    }
    opt.seed = seed0;
    return ex_session_finish(&s) ? 1 : 0;
}
