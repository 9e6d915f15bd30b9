/*
 * mlpnet-report: writing the figures (SVG) and REPORT.md, its tables and
 * text (see report.h). Each file is written atomically.
 */
#define _POSIX_C_SOURCE 200809L

#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Output in progress                                                      */

/* The output being written: removed if the program dies half-way. */
static ex_afile *pending_output;

void rp_remove_pending_output(void)
{
    if (pending_output && pending_output->f)
        ex_afile_abort(pending_output);
    pending_output = NULL;
}

/* ---------------------------------------------------------------------- */
/* Figures                                                                 */

/* The run name, `tag` and, when the run did not train to the end, why; in
 * a legend entry (legend 1) also when its curves are missing. */
static void run_label(char *buf, const run *u, const char *tag, int legend)
{
    snprintf(buf, LABEL_CAP, "%s%s%s%s", u->r.name, tag ? tag : "",
             u->r.diverged ? " (diverged)"
             : u->stopped  ? " (stopped)"
                           : "",
             legend && !u->has_history && u->done_epochs != 0 ? " (no CSV)" : "");
}

/* Twice the largest finite error of the runs that trained to the end:
 * above it, the points of a run that blew up would flatten every other
 * curve (INFINITY when no run trained to the end). */
static double error_ceiling(const run *const *runs, int n, int valid)
{
    double top = -INFINITY;
    for (int i = 0; i < n; i++) {
        const ex_result *e = &runs[i]->r;
        const double *y = valid ? e->valid_error : e->train_error;
        for (int k = 0; k < e->epochs && !e->diverged && !runs[i]->stopped; k++)
            top = isfinite(y[k]) ? fmax(top, y[k]) : top;
    }
    return top > 0.0 ? 2.0 * top : INFINITY;
}

/* The errors of the runs for plotting, train then valid for each run, in
 * one allocation: those of runs that diverged or stopped are left out
 * (NaN) above error_ceiling. */
static double *plotted_errors(const run *const *runs, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += 2 * (size_t)runs[i]->r.epochs;
    double *v = ex_xmalloc((total ? total : 1) * sizeof *v), *at = v;
    double ceiling[2] = {error_ceiling(runs, n, 0), error_ceiling(runs, n, 1)};
    for (int i = 0; i < n; i++) {
        const ex_result *e = &runs[i]->r;
        int clip = e->diverged || runs[i]->stopped;
        for (int p = 0; p < 2; p++) {
            const double *y = p ? e->valid_error : e->train_error;
            for (int k = 0; k < e->epochs; k++, at++)
                *at = clip && y[k] > ceiling[p] ? NAN : y[k];
        }
    }
    return v;
}

/*
 * DIR/figures/FILE: error and accuracy, train and valid, against the epoch
 * (the layout of the report's figures), one line per run. `tag` is added
 * to the legend entry of run `tagged` (-1: none). 0, or -1 with errno set.
 */
static int write_figure(const report *r, const char *file, const char *title,
                        const run *const *runs, int n, int tagged, const char *tag)
{
    enum { PANELS = 4 };
    static const char *const titles[PANELS] = {"error(train)", "error(valid)",
                                               "accuracy(train)", "accuracy(valid)"};
    size_t sn = (size_t)(n > 0 ? n : 1);
    ex_series *series = ex_xmalloc(PANELS * sn * sizeof *series);
    char *labels = ex_xmalloc(sn * LABEL_CAP);
    double *errors = plotted_errors(runs, n), *at = errors;
    for (int i = 0; i < n; i++) {
        const ex_result *e = &runs[i]->r;
        const double *y[PANELS] = {at, at + e->epochs, e->train_accuracy,
                                   e->valid_accuracy};
        at += 2 * (size_t)e->epochs;
        run_label(labels + (size_t)i * LABEL_CAP, runs[i], i == tagged ? tag : NULL, 1);
        for (int p = 0; p < PANELS; p++)
            series[(size_t)p * sn + (size_t)i] =
                (ex_series){labels + (size_t)i * LABEL_CAP, e->epoch, y[p], e->epochs};
    }
    ex_plot panels[PANELS];
    for (int p = 0; p < PANELS; p++)
        panels[p] = (ex_plot){titles[p],
                              "epoch",
                              p < 2 ? "error (cross-entropy)" : "accuracy",
                              1,
                              series + (size_t)p * sn,
                              n};
    char path[PATH_CAP];
    rp_dir_path(path, r, "figures/%s", file);
    int rc = ex_svg_grid_write(path, title, panels, PANELS, 2);
    int err = errno;
    free(errors);
    free(labels);
    free(series);
    errno = err;
    return rc;
}

static int write_section_figure(const report *r, int sec, const char *file,
                                const char *title)
{
    runlist l = rp_section_runs(r, sec);
    int rc = write_figure(r, file, title, l.v, l.n, -1, NULL);
    int err = errno;
    free(l.v);
    errno = err;
    return rc;
}

/* fig6: the ConvNet section and, for reference, the baseline MLP. */
static runlist convnet_figure_runs(const report *r, int *tagged)
{
    runlist l = rp_section_runs(r, SEC_CONV);
    const run *mlp = rp_reference_mlp(r);
    *tagged = -1;
    if (mlp && !rp_runlist_find(&l, mlp->r.name)) {
        *tagged = l.n;
        l.v[l.n++] = mlp;
    }
    return l;
}

/* The six figures. 0, or -1 with errno set and the file in `failed`
 * (PATH_CAP bytes). */
int rp_write_figures(const report *r, char *failed)
{
    if (ex_mkdirs(rp_dir_path(failed, r, "figures")) != 0)
        return -1;
    static const struct {
        int sec;
        const char *file, *title;
    } plain[] = {
        {SEC_LR, "fig1-baseline-lr.svg", "Figure 1: baseline MLP, learning rate"},
        {SEC_DEPTH, "fig2-baseline-depth.svg", "Figure 2: baseline MLP, hidden layers"},
        {SEC_ACT, "fig3-baseline-activation.svg",
         "Figure 3: baseline MLP, activation function"},
        {SEC_BN, "fig5-batchnorm.svg", "Figure 5: batch normalisation and dropout"},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        rp_dir_path(failed, r, "figures/%s", plain[i].file);
        if (write_section_figure(r, plain[i].sec, plain[i].file, plain[i].title) != 0)
            return -1;
    }
    runlist l = rp_best_rule_runs(r);
    rp_dir_path(failed, r, "figures/fig4-learning-rules.svg");
    int rc = write_figure(r, "fig4-learning-rules.svg",
                          "Figure 4: learning rules, each at its best rate", l.v, l.n, -1,
                          NULL);
    free(l.v);
    if (rc != 0)
        return -1;
    int tagged;
    l = convnet_figure_runs(r, &tagged);
    rp_dir_path(failed, r, "figures/fig6-convnets.svg");
    rc = write_figure(r, "fig6-convnets.svg", "Figure 6: ConvNets and the baseline MLP",
                      l.v, l.n, tagged, " (MLP)");
    int err = errno;
    free(l.v);
    errno = err;
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Markdown helpers                                                        */

/* A cell that may be missing: "-" when we do not have it. */
static void cell_num(ex_table *t, int decimals, double v, int have)
{
    if (have)
        ex_table_num(t, decimals, v);
    else
        ex_table_cell(t, "-");
}

static void cell_epoch(ex_table *t, int32_t epoch)
{
    if (epoch > 0)
        ex_table_cell(t, "%ld", (long)epoch);
    else
        ex_table_cell(t, "-");
}

/* An error (cross-entropy): 4 decimals, or 4 digits when it blew up. */
static void cell_error(ex_table *t, double v, int have)
{
    if (have && isfinite(v) && fabs(v) >= 1e5)
        ex_table_cell(t, "%.4g", v);
    else
        cell_num(t, 4, v, have);
}

/* Last value of a history column (NaN without history). */
static double last(const run *u, const double *v)
{
    return u->r.epochs > 0 ? v[u->r.epochs - 1] : NAN;
}

static void cell_run_name(ex_table *t, const run *u, const char *tag)
{
    char label[LABEL_CAP];
    run_label(label, u, tag, 0);
    ex_table_cell(t, "%s", label);
}

/* The threads of a task, "-" when unknown. */
static void cell_threads(ex_table *t, long threads)
{
    if (threads >= 0)
        ex_table_cell(t, "%ld", threads);
    else
        ex_table_cell(t, "-");
}

/* One row of a Markdown table whose cells may be long (ex_table cuts them
 * at 63 characters): no padding, '|' escaped. */
static void long_row(FILE *f, int n, const char *const *cells)
{
    for (int i = 0; i < n; i++) {
        fputs("| ", f);
        for (const char *c = cells[i]; *c; c++) {
            if (*c == '|')
                fputc('\\', f);
            fputc(*c, f);
        }
        fputc(' ', f);
    }
    fputs("|\n", f);
}

static void long_rule(FILE *f, int n)
{
    for (int i = 0; i < n; i++)
        fputs("| --- ", f);
    fputs("|\n", f);
}

/* "23 min 10 s" */
static void format_duration(char *buf, size_t cap, double s)
{
    long t = lround(s);
    if (s < 10.0)
        snprintf(buf, cap, "%.1f s", s);
    else if (t < 60)
        snprintf(buf, cap, "%ld s", t);
    else if (t < 3600)
        snprintf(buf, cap, "%ld min %ld s", t / 60, t % 60);
    else
        snprintf(buf, cap, "%ld h %ld min %ld s", t / 3600, t % 3600 / 60, t % 60);
}

/* Tasks of a section without runs to show, as rows of "-" in its table. */
static void missing_rows(ex_table *t, const report *r, int sec, int ncols)
{
    for (int i = 0; i < r->n_rows; i++) {
        const task *k = &r->tasks[r->rows[i].task];
        if (r->rows[i].section != sec || k->n_runs > 0)
            continue;
        ex_table_cell(t, "%s: %s", k->name,
                      k->status != ST_DONE ? rp_status_names[k->status]
                      : k->has_summary     ? "no runs"
                                           : "no summary.csv");
        for (int c = 1; c < ncols; c++)
            ex_table_cell(t, "-");
    }
}

static void write_claims(FILE *f, const report *r)
{
    static const char *const head[] = {"claim", "report said", "we measured", "agrees?",
                                       "why"};
    claim c[N_CLAIMS];
    rp_judge_claims(r, c);
    fprintf(f, "## Report said / we measured\n\n");
    long_row(f, 5, head);
    long_rule(f, 5);
    for (int i = 0; i < N_CLAIMS; i++) {
        const char *cells[] = {c[i].what, c[i].said, c[i].measured, c[i].agrees,
                               c[i].why};
        long_row(f, 5, cells);
    }
    fprintf(f,
            "\nAccuracies differing by less than %.1f points count as equal (half a "
            "point for the learning rules); noise is the standard deviation of the "
            "epoch-to-epoch changes of the validation error from epoch %d on, and "
            "\"noisier\" means %.1f times or more. In the figures, errors of a run that "
            "diverged are left out above twice the largest error of the runs that "
            "trained to the end, so that the other curves stay readable.\n\n",
            100.0 * SAME_ACC, NOISE_FROM, NOISIER);
}

/* ---------------------------------------------------------------------- */
/* Sections of REPORT.md                                                   */

enum { EXTRA_NONE, EXTRA_TARGET, EXTRA_NOISE };

static ex_table *runs_table_new(int extra, int *ncols)
{
    char target[32];
    snprintf(target, sizeof target, "epochs to %.2f", TARGET_ACC);
    *ncols = extra == EXTRA_NONE ? 7 : extra == EXTRA_TARGET ? 8 : 9;
    if (extra == EXTRA_TARGET)
        return ex_table_new("run", "best valid acc", "best epoch", "final train error",
                            "final valid error", "test acc", "s/epoch", target,
                            (const char *)NULL);
    if (extra == EXTRA_NOISE)
        return ex_table_new("run", "best valid acc", "best epoch", "final train error",
                            "final valid error", "test acc", "s/epoch", "noise",
                            "diverged", (const char *)NULL);
    return ex_table_new("run", "best valid acc", "best epoch", "final train error",
                        "final valid error", "test acc", "s/epoch", (const char *)NULL);
}

static void runs_table_row(ex_table *t, const run *u, int extra)
{
    cell_run_name(t, u, NULL);
    ex_table_num(t, 4, u->r.best_valid_acc);
    cell_epoch(t, u->r.best_epoch);
    cell_error(t, last(u, u->r.train_error), u->r.epochs > 0);
    cell_error(t, last(u, u->r.valid_error), u->r.epochs > 0);
    ex_table_num(t, 4, u->r.test_acc);
    ex_table_num(t, 3, u->r.seconds_per_epoch);
    if (extra == EXTRA_TARGET) {
        cell_epoch(t, rp_epochs_to_target(u)); /* "-" also without history */
    } else if (extra == EXTRA_NOISE) {
        cell_num(t, 4, rp_noise_of(u), u->has_history);
        ex_table_cell(t, u->r.diverged ? "yes" : u->stopped ? "stopped" : "no");
    }
}

/* Whether the manifest lists a task in the section. */
static int section_listed(const report *r, int sec)
{
    for (int i = 0; i < r->n_rows; i++) {
        if (r->rows[i].section == sec)
            return 1;
    }
    return 0;
}

/* The table of a section's runs, with a row for each task that has none. */
static void section_table(FILE *f, const report *r, int sec, int extra)
{
    int ncols;
    if (!section_listed(r, sec)) {
        fprintf(f, "The manifest lists no task of section `%s`.\n",
                rp_section_names[sec]);
        return;
    }
    runlist l = rp_section_runs(r, sec);
    ex_table *t = runs_table_new(extra, &ncols);
    for (int i = 0; i < l.n; i++)
        runs_table_row(t, l.v[i], extra);
    missing_rows(t, r, sec, ncols);
    free(l.v);
    ex_table_end(t, f);
}

static void figure_link(FILE *f, const char *alt, const char *file)
{
    fprintf(f, "![%s](figures/%s)\n\n", alt, file);
}

static void write_header(FILE *f, const report *r)
{
    char data[DATASET_CAP + 64], buf[64];
    rp_dataset_of(r, data, sizeof data);
    fprintf(f, "# %s\n\n", r->title);
    fprintf(f, "Dataset `%s`", data);
    /* Epochs per section; one number when they agree. */
    int32_t epochs[N_SECTIONS], first = 0, differ = 0;
    for (int sec = 0; sec < N_SECTIONS; sec++) {
        epochs[sec] = rp_section_epochs(r, sec);
        if (epochs[sec] && first && epochs[sec] != first)
            differ = 1;
        if (epochs[sec] && !first)
            first = epochs[sec];
    }
    if (!first)
        fprintf(f, "; epochs unknown");
    else if (!differ)
        fprintf(f, "; %ld epoch%s", (long)first, first == 1 ? "" : "s");
    for (int sec = 0, n = 0; differ && sec < N_SECTIONS; sec++) {
        if (epochs[sec])
            fprintf(f, "%s%s %ld", n++ ? ", " : "; epochs: ", rp_section_names[sec],
                    (long)epochs[sec]);
    }
    if (r->date)
        fprintf(f, "; date: %s", r->date);
    if (r->machine)
        fprintf(f, "; machine: %s", r->machine);
    if (!isnan(r->wall_seconds)) {
        format_duration(buf, sizeof buf, r->wall_seconds);
        fprintf(f, "; total wall time: %s", buf);
    }
    fprintf(f, ".\n\n");
    if (r->quick)
        fprintf(
            f,
            "**Quick mode: few epochs, small sweeps; not the report's settings.**\n\n");
    int count[3] = {0, 0, 0};
    for (int i = 0; i < r->n_tasks; i++)
        count[r->tasks[i].status]++;
    fprintf(f, "Tasks: %d done, %d failed, %d pending (from `manifest.tsv`).\n\n",
            count[0], count[1], count[2]);
}

static void write_baseline(FILE *f, const report *r)
{
    fprintf(f, "## 1. Baseline (section 2)\n\n");
    fprintf(f, "### Learning rate\n\n");
    section_table(f, r, SEC_LR, EXTRA_NONE);
    fprintf(f, "\n### Depth (hidden layers)\n\n");
    section_table(f, r, SEC_DEPTH, EXTRA_NONE);
    fprintf(f, "\n### Activation function\n\n");
    section_table(f, r, SEC_ACT, EXTRA_NONE);
    fputc('\n', f);
    figure_link(f, "Figure 1: baseline MLP, learning rate", "fig1-baseline-lr.svg");
    figure_link(f, "Figure 2: baseline MLP, hidden layers", "fig2-baseline-depth.svg");
    figure_link(f, "Figure 3: baseline MLP, activation function",
                "fig3-baseline-activation.svg");
}

/* "0.01, 0.02, 0.05": the rates tried for one rule. */
static void rates_of_rule(const runlist *l, const char *rule, char *buf, size_t cap)
{
    char other[EX_RUN_NAME_MAX];
    buf[0] = '\0';
    for (int i = 0; i < l->n; i++) {
        rp_rule_of(l->v[i]->r.name, other, sizeof other);
        if (strcmp(other, rule) == 0)
            rp_append(buf, cap, "%s%s", buf[0] ? ", " : "", rp_rate_of(l->v[i]->r.name));
    }
}

/* One row per rule: its best run and the rates tried. */
static void best_rates_table(FILE *f, const report *r, const runlist *best)
{
    char rule[EX_RUN_NAME_MAX], rates[64], target[32];
    snprintf(target, sizeof target, "epochs to %.2f", TARGET_ACC);
    ex_table *t =
        ex_table_new("rule", "rates tried", "best rate", "best valid acc", "best epoch",
                     "test acc", target, "s/epoch", (const char *)NULL);
    runlist all = rp_section_runs(r, SEC_RULES);
    for (int i = 0; i < best->n; i++) {
        const run *u = best->v[i];
        rp_rule_of(u->r.name, rule, sizeof rule);
        rates_of_rule(&all, rule, rates, sizeof rates);
        ex_table_cell(t, "%s", rule);
        ex_table_cell(t, "%s", rates);
        ex_table_cell(t, "%s", rp_rate_of(u->r.name));
        ex_table_num(t, 4, u->r.best_valid_acc);
        cell_epoch(t, u->r.best_epoch);
        ex_table_num(t, 4, u->r.test_acc);
        cell_epoch(t, rp_epochs_to_target(u));
        ex_table_num(t, 3, u->r.seconds_per_epoch);
    }
    free(all.v);
    ex_table_end(t, f);
}

static void write_rules(FILE *f, const report *r)
{
    fprintf(f, "## 2. Learning rules (section 3)\n\n");
    if (section_listed(r, SEC_RULES))
        fprintf(f, "Every run:\n\n");
    section_table(f, r, SEC_RULES, EXTRA_TARGET);
    runlist best = rp_best_rule_runs(r);
    if (best.n > 0) {
        fprintf(f, "\nEach rule at its best rate (by best validation accuracy):\n\n");
        best_rates_table(f, r, &best);
    }
    free(best.v);
    fputc('\n', f);
    figure_link(f, "Figure 4: learning rules, each at its best rate",
                "fig4-learning-rules.svg");
}

static void write_batchnorm(FILE *f, const report *r)
{
    fprintf(f, "## 3. Batch normalisation (section 4)\n\n");
    section_table(f, r, SEC_BN, EXTRA_NOISE);
    fprintf(f,
            "\nNoise: standard deviation of the epoch-to-epoch changes of the validation "
            "error from epoch %d on. A run diverged when it completed fewer epochs than "
            "asked for.\n\n",
            NOISE_FROM);
    figure_link(f, "Figure 5: batch normalisation and dropout", "fig5-batchnorm.svg");
}

static void convnet_row(ex_table *t, const run *u, const run *mlp, const run *best_mlp,
                        const char *tag)
{
    cell_run_name(t, u, tag);
    ex_table_num(t, 4, u->r.best_valid_acc);
    ex_table_num(t, 4, u->r.test_acc);
    ex_table_num(t, 3, u->r.seconds_per_epoch);
    cell_threads(t, u->task->threads);
    double ratio = mlp ? u->r.seconds_per_epoch / mlp->r.seconds_per_epoch : NAN;
    cell_num(t, 1, ratio, isfinite(ratio));
    double d = best_mlp ? 100.0 * (u->r.test_acc - best_mlp->r.test_acc) : NAN;
    if (isnan(d))
        ex_table_cell(t, "-");
    else
        ex_table_cell(t, "%+.2f", d);
}

static void write_convnets(FILE *f, const report *r)
{
    fprintf(f, "## 4. ConvNets (section 5)\n\n");
    if (!section_listed(r, SEC_CONV)) {
        fprintf(f, "The manifest lists no task of section `%s`.\n\n",
                rp_section_names[SEC_CONV]);
        figure_link(f, "Figure 6: ConvNets and the baseline MLP", "fig6-convnets.svg");
        return;
    }
    const run *mlp = rp_reference_mlp(r), *best_mlp = rp_best_in(r, MLP_MASK, NULL);
    ex_table *t =
        ex_table_new("run", "best valid acc", "test acc", "s/epoch", "threads",
                     "x MLP s/epoch", "test vs best MLP (points)", (const char *)NULL);
    runlist l = rp_section_runs(r, SEC_CONV);
    if (mlp && !rp_runlist_find(&l, mlp->r.name))
        convnet_row(t, mlp, mlp, best_mlp, " (MLP)");
    for (int i = 0; i < l.n; i++)
        convnet_row(t, l.v[i], mlp, best_mlp, NULL);
    free(l.v);
    missing_rows(t, r, SEC_CONV, 7);
    ex_table_end(t, f);
    if (mlp)
        fprintf(f, "\nTimes are relative to the baseline MLP `%s` (task `%s`).",
                mlp->r.name, mlp->task->name);
    else
        fprintf(f, "\nThe baseline MLP `%s` is missing: no time ratios.", BASE_RUN);
    if (best_mlp)
        fprintf(f,
                " The best MLP by validation accuracy is `%s` (task `%s`), test "
                "accuracy %.4f.\n",
                best_mlp->r.name, best_mlp->task->name, best_mlp->r.test_acc);
    else
        fprintf(f, " No MLP run finished: no accuracy differences.\n");
    fputc('\n', f);
    figure_link(f, "Figure 6: ConvNets and the baseline MLP", "fig6-convnets.svg");
}

/* "models/NAME" from the model column (a path or a file name), or NULL. */
static const char *model_link(const report *r, const final *fi, char *buf, size_t cap)
{
    if (!*fi->model || strcmp(fi->model, "-") == 0)
        return NULL;
    const char *base = strrchr(fi->model, '/');
    base = base ? base + 1 : fi->model;
    if (!ex_safe_name(base, EX_RUN_NAME_MAX))
        return NULL;
    snprintf(buf, cap, "models/%.*s", EX_RUN_NAME_MAX, base); /* safe_name bounds it */
    char path[PATH_CAP];
    FILE *m = fopen(rp_dir_path(path, r, "%s", buf), "rb");
    if (!m)
        return NULL;
    fclose(m);
    return buf;
}

static void write_finals(FILE *f, const report *r)
{
    fprintf(f, "## 5. Final test-set results (section 6)\n\n");
    if (r->finals_problem) {
        fprintf(f, "No final test-set results: %s.\n\n", r->finals_problem);
        return;
    }
    if (r->n_finals == 0) {
        fprintf(f, "`models/test-results.tsv` lists no experiment.\n\n");
        return;
    }
    fprintf(f, "The best model of each experiment (by best validation accuracy), "
               "evaluated once on the test split by `mlpnet eval`:\n\n");
    ex_table *t = ex_table_new("experiment", "run", "model file", "best valid acc",
                               "test acc", (const char *)NULL);
    char link[EX_RUN_NAME_MAX + 16];
    for (int i = 0; i < r->n_finals; i++) {
        const final *fi = &r->finals[i];
        const char *model = model_link(r, fi, link, sizeof link);
        ex_table_cell(t, "%s", fi->experiment);
        ex_table_cell(t, "%s", fi->run);
        if (model)
            ex_table_cell(t, "[%s](%s)", model, model);
        else
            ex_table_cell(t, "missing");
        cell_num(t, 4, fi->best_valid_acc, !isnan(fi->best_valid_acc));
        cell_num(t, 4, fi->test_acc, !isnan(fi->test_acc));
    }
    ex_table_end(t, f);
    fputc('\n', f);
}

static void write_seconds(FILE *f, const report *r)
{
    fprintf(f, "## Seconds per epoch of every run\n\n");
    if (rp_total_runs(r) == 0) {
        fprintf(f, "No run finished.\n\n");
        return;
    }
    ex_table *t = ex_table_new("task", "run", "threads", "s/epoch", "epochs",
                               "task wall seconds", (const char *)NULL);
    for (int i = 0; i < r->n_tasks; i++) {
        const task *k = &r->tasks[i];
        for (int j = 0; j < k->n_runs; j++) {
            const run *u = &k->runs[j];
            ex_table_cell(t, "%s%s", k->name, k->status == ST_FAILED ? " (failed)" : "");
            ex_table_cell(t, "%s", u->r.name);
            cell_threads(t, k->threads);
            ex_table_num(t, 3, u->r.seconds_per_epoch);
            ex_table_cell(t, "%ld", (long)u->done_epochs);
            cell_num(t, 1, k->seconds, !isnan(k->seconds));
        }
    }
    ex_table_end(t, f);
    fputc('\n', f);
}

static void write_failures(FILE *f, const report *r)
{
    fprintf(f, "## Runs that failed\n\n");
    static const char *const head[] = {"task", "section", "status", "exit", "log"};
    int n = 0;
    char path[PATH_CAP], log[NAME_CAP + 32];
    for (int i = 0; i < r->n_rows; i++) {
        const task *k = &r->tasks[r->rows[i].task];
        if (k->status == ST_DONE)
            continue;
        if (n++ == 0) {
            long_row(f, 5, head);
            long_rule(f, 5);
        }
        FILE *lf = fopen(rp_dir_path(path, r, "runs/%s/log.txt", k->name), "r");
        if (lf) {
            snprintf(log, sizeof log, "[log](runs/%s/log.txt)", k->name);
            fclose(lf);
        } else {
            snprintf(log, sizeof log, "no log");
        }
        const char *cells[] = {k->name, r->rows[i].section_text,
                               rp_status_names[k->status], k->exit_text, log};
        long_row(f, 5, cells);
    }
    if (n == 0)
        fprintf(f, "Every run finished.\n");
    for (int i = 0, first = 1; i < r->n_tasks; i++) {
        const task *k = &r->tasks[i];
        if (k->status != ST_FAILED || k->n_runs == 0)
            continue;
        fprintf(f,
                "%sTask `%s` failed%s, but its summary.csv lists %d run%s, which the "
                "tables above include.\n",
                first ? "\n" : "", k->name,
                k->log_diverged ? " (its log reports a run that diverged)" : "",
                k->n_runs, k->n_runs == 1 ? "" : "s");
        first = 0;
    }
    if (r->n_problems > 0) {
        fprintf(f, "\nResult files that were missing or malformed:\n\n");
        for (int i = 0; i < r->n_problems; i++)
            fprintf(f, "- %s\n", r->problems[i]);
    }
}

static void write_report_md(FILE *f, const report *r)
{
    write_header(f, r);
    write_claims(f, r);
    write_baseline(f, r);
    write_rules(f, r);
    write_batchnorm(f, r);
    write_convnets(f, r);
    write_finals(f, r);
    write_seconds(f, r);
    write_failures(f, r);
}

/* DIR/REPORT.md. 0, or -1 with errno set and the file in `failed`. */
int rp_write_report(const report *r, char *failed)
{
    ex_afile af;
    if (ex_afile_open(&af, rp_dir_path(failed, r, "REPORT.md")) != 0)
        return -1;
    pending_output = &af; /* removed by rp_remove_pending_output if we die */
    write_report_md(af.f, r);
    pending_output = NULL;
    return ex_afile_commit(&af);
}
