/*
 * mlpnet-report: finding the runs that answer a question, and judging each
 * claim of the report against them (see report.h). The conclusions are
 * worded from the numbers, never assumed: in quick mode (few epochs) they
 * may well disagree with the report.
 */
#define _POSIX_C_SOURCE 200809L

#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Finding runs                                                            */

static int is_convnet(const char *name)
{
    return strncmp(name, "conv", 4) == 0;
}

int rp_total_runs(const report *r)
{
    int n = 0;
    for (int i = 0; i < r->n_tasks; i++)
        n += r->tasks[i].n_runs;
    return n;
}

runlist rp_runlist_new(const report *r)
{
    runlist l = {ex_xmalloc((size_t)(rp_total_runs(r) + 1) * sizeof(run *)), 0};
    return l;
}

const run *rp_runlist_find(const runlist *l, const char *name)
{
    for (int i = 0; i < l->n; i++) {
        if (strcmp(l->v[i]->r.name, name) == 0)
            return l->v[i];
    }
    return NULL;
}

/*
 * Whether a run belongs to a baseline sweep. A task in one baseline section
 * holds that sweep's runs, but a task in several (mlpnet-baseline --sweep
 * all) holds every sweep's: its runs "ACT-LxU-lrRATE" are sorted by what
 * they vary from the baseline elu-3x100-lr0.1. Other names are kept.
 */
static int in_sweep(const task *t, int sec, const run *u)
{
    unsigned b = t->sections & BASELINE_MASK;
    if (!(BIT(sec) & BASELINE_MASK) || (b & (b - 1)) == 0)
        return 1;
    char act[32], rate[32];
    int layers, units, end = 0;
    if (sscanf(u->r.name, "%31[a-z_]-%dx%d-lr%31[0-9.e+-]%n", act, &layers, &units, rate,
               &end) != 4 ||
        u->r.name[end] != '\0')
        return 1;
    int base_act = strcmp(act, "elu") == 0, base_size = layers == 3 && units == 100;
    int base_rate = strtod(rate, NULL) == BASE_RATE;
    return sec == SEC_LR      ? base_act && base_size
           : sec == SEC_DEPTH ? base_act && units == 100 && base_rate
                              : base_size && base_rate;
}

/* The runs of a section, in manifest order, each name once (free l.v). */
runlist rp_section_runs(const report *r, int sec)
{
    runlist l = rp_runlist_new(r);
    for (int i = 0; i < r->n_rows; i++) {
        if (r->rows[i].section != sec)
            continue;
        const task *t = &r->tasks[r->rows[i].task];
        for (int k = 0; k < t->n_runs; k++) {
            const run *u = &t->runs[k];
            if (in_sweep(t, sec, u) && !rp_runlist_find(&l, u->r.name))
                l.v[l.n++] = u;
        }
    }
    return l;
}

/* The first run of that name in the sections of `mask` (in section order). */
static const run *find_run(const report *r, unsigned mask, const char *name)
{
    for (int sec = 0; sec < N_SECTIONS; sec++) {
        if (!(mask & BIT(sec)))
            continue;
        runlist l = rp_section_runs(r, sec);
        const run *u = rp_runlist_find(&l, name);
        free(l.v);
        if (u)
            return u;
    }
    return NULL;
}

/* a before b by best validation accuracy (NaN last). */
static int better(const run *a, const run *b)
{
    return !b ||
           (!isnan(a->r.best_valid_acc) &&
            (isnan(b->r.best_valid_acc) || a->r.best_valid_acc > b->r.best_valid_acc));
}

/* The run with the best validation accuracy in the sections of `mask` that
 * `keep` accepts (NULL: all), or NULL. */
const run *rp_best_in(const report *r, unsigned mask, int (*keep)(const char *name))
{
    const run *best = NULL;
    for (int sec = 0; sec < N_SECTIONS; sec++) {
        if (!(mask & BIT(sec)))
            continue;
        runlist l = rp_section_runs(r, sec);
        for (int i = 0; i < l.n; i++) {
            if ((!keep || keep(l.v[i]->r.name)) && better(l.v[i], best))
                best = l.v[i];
        }
        free(l.v);
    }
    return best && !isnan(best->r.best_valid_acc) ? best : NULL;
}

/* The baseline MLP of the speed comparison: BASE_RUN of the baseline
 * sections, else an MLP run of the ConvNet section (its own baseline). */
const run *rp_reference_mlp(const report *r)
{
    const run *u = find_run(r, BASELINE_MASK, BASE_RUN);
    if (u)
        return u;
    runlist l = rp_section_runs(r, SEC_CONV);
    for (int i = 0; i < l.n && !u; i++) {
        if (!is_convnet(l.v[i]->r.name))
            u = l.v[i];
    }
    free(l.v);
    return u;
}

/* The rule of a learning-rules run: the text before "-lr" ("adam-lr0.001"). */
void rp_rule_of(const char *name, char *rule, size_t cap)
{
    const char *lr = strstr(name, "-lr");
    size_t n = lr ? (size_t)(lr - name) : strlen(name);
    snprintf(rule, cap, "%.*s", (int)n, name);
}

/* The rate of a run name: the text after its last "-lr", or "?". */
const char *rp_rate_of(const char *name)
{
    const char *lr = NULL;
    for (const char *p = strstr(name, "-lr"); p; p = strstr(p + 1, "-lr"))
        lr = p;
    return lr && lr[3] ? lr + 3 : "?";
}

/* The best run of one rule in the learning-rules section, or NULL. */
static const run *best_of_rule(const report *r, const char *rule)
{
    runlist l = rp_section_runs(r, SEC_RULES);
    const run *best = NULL;
    char buf[EX_RUN_NAME_MAX];
    for (int i = 0; i < l.n; i++) {
        rp_rule_of(l.v[i]->r.name, buf, sizeof buf);
        if (strcmp(buf, rule) == 0 && better(l.v[i], best))
            best = l.v[i];
    }
    free(l.v);
    return best;
}

/* The 1-based epoch of the first validation accuracy >= TARGET_ACC, or 0. */
int32_t rp_epochs_to_target(const run *u)
{
    for (int i = 0; i < u->r.epochs; i++) {
        if (u->r.valid_accuracy[i] >= TARGET_ACC)
            return (int32_t)u->r.epoch[i];
    }
    return 0;
}

/* Noise of the validation curve: see ex_valid_noise; NaN without history. */
double rp_noise_of(const run *u)
{
    int rises;
    return u->has_history ? ex_valid_noise(&u->r, NOISE_FROM, &rises) : NAN;
}

/* The epochs the tasks of a section were asked for, or 0. */
int32_t rp_section_epochs(const report *r, int sec)
{
    for (int i = 0; i < r->n_rows; i++) {
        const task *t = &r->tasks[r->rows[i].task];
        if (r->rows[i].section == sec && t->planned_epochs > 0)
            return t->planned_epochs;
    }
    return 0;
}

/* The dataset of the runs, "mixed (...)" when the tasks disagree. */
void rp_dataset_of(const report *r, char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    const char *first = NULL;
    int mixed = 0;
    for (int i = 0; i < r->n_tasks; i++) {
        const char *d = r->tasks[i].dataset;
        if (!*d)
            continue;
        if (!first)
            first = d;
        else if (strcmp(first, d) != 0)
            mixed = 1;
    }
    if (first)
        snprintf(buf, cap, mixed ? "%s (and others: the tasks disagree)" : "%s", first);
}

/* fig4: each rule at its best rate, so the figure stays readable. */
runlist rp_best_rule_runs(const report *r)
{
    runlist all = rp_section_runs(r, SEC_RULES), best = rp_runlist_new(r);
    char rule[EX_RUN_NAME_MAX], other[EX_RUN_NAME_MAX];
    for (int i = 0; i < all.n; i++) {
        rp_rule_of(all.v[i]->r.name, rule, sizeof rule);
        int seen = 0;
        for (int k = 0; k < best.n && !seen; k++) {
            rp_rule_of(best.v[k]->r.name, other, sizeof other);
            seen = strcmp(rule, other) == 0;
        }
        const run *b = seen ? NULL : best_of_rule(r, rule);
        if (!seen)
            best.v[best.n++] = b ? b : all.v[i];
    }
    free(all.v);
    return best;
}

/* "3.1x", "25x" */
static void format_ratio(char *buf, size_t cap, double ratio)
{
    snprintf(buf, cap, ratio < 10.0 ? "%.1fx" : "%.0fx", ratio);
}

/* ---------------------------------------------------------------------- */
/* Claims: what the report said, what we measured                          */

static void not_measured(claim *c, const char *measured, const char *why)
{
    snprintf(c->measured, sizeof c->measured, "%s", measured);
    snprintf(c->why, sizeof c->why, "%s", why);
    c->agrees = "not measured";
}

/* Append to a fixed buffer (cut when full). */
void rp_append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
}

static void claim_baseline(const report *r, claim *c)
{
    c->what = "The baseline MLP (3 x 100 ELU, SGD at 0.1) reaches about 85% validation "
              "accuracy";
    c->said = "about 85%";
    const run *b = find_run(r, BASELINE_MASK, BASE_RUN);
    if (!b || isnan(b->r.best_valid_acc)) {
        not_measured(
            c, "run " BASE_RUN " missing",
            "The baseline run did not finish, so there is no number to compare.");
        return;
    }
    double acc = b->r.best_valid_acc, d = 100.0 * (acc - REPORT_ACC);
    char data[DATASET_CAP + 64];
    rp_dataset_of(r, data, sizeof data);
    int emnist = strstr(data, "emnist") != NULL;
    snprintf(c->measured, sizeof c->measured, "%.4f best validation accuracy", acc);
    if (b->r.best_epoch > 0)
        rp_append(c->measured, sizeof c->measured, " (epoch %ld of %ld)",
                  (long)b->r.best_epoch, (long)b->done_epochs);
    c->agrees = fabs(d) <= 2.0 ? "yes" : fabs(d) <= 5.0 ? "partly" : "no";
    if (fabs(d) <= 2.0 && emnist)
        snprintf(c->why, sizeof c->why,
                 "The same network, rate and batch size on EMNIST land %.1f points from "
                 "the report's 85%%.",
                 fabs(d));
    else if (fabs(d) <= 2.0)
        snprintf(c->why, sizeof c->why,
                 "The same network, rate and batch size land %.1f points from 85%%, "
                 "although `%s` is not the report's EMNIST.",
                 fabs(d), data);
    else if (b->r.diverged)
        snprintf(c->why, sizeof c->why,
                 "The run diverged, so its accuracy is that of the epochs before the "
                 "loss became NaN.");
    else if (d < 0.0 && r->quick)
        snprintf(c->why, sizeof c->why, "Quick mode trains %ld epochs only%s.",
                 (long)b->done_epochs,
                 b->r.best_epoch == b->done_epochs
                     ? ", and the validation accuracy was still rising at the end"
                     : "");
    else if (!emnist)
        snprintf(c->why, sizeof c->why,
                 "We train on `%s`, not the report's EMNIST, and it is %s for this "
                 "network (%+.1f points).",
                 data, d > 0.0 ? "an easier problem" : "a harder problem", d);
    else
        snprintf(
            c->why, sizeof c->why,
            "On the same data the gap of %+.1f points comes from settings the report "
            "leaves open (initialisation, validation split, epochs).",
            d);
}

/* "SGD 5, RMSProp 4, Adam -": epochs to TARGET_ACC of each rule's best run. */
static void epochs_to_list(char *buf, size_t cap, const run *const *runs,
                           const char *const *labels, int n)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!runs[i])
            continue;
        int32_t e = rp_epochs_to_target(runs[i]);
        if (e > 0)
            rp_append(buf, cap, "%s%s %ld", buf[0] ? ", " : "", labels[i], (long)e);
        else
            rp_append(buf, cap, "%s%s never", buf[0] ? ", " : "", labels[i]);
    }
}

/* Why the rules agree: the accuracies are level; what about the speed? */
static void rules_level_why(const report *r, claim *c, const run *const *runs,
                            const char *const *labels)
{
    char list[256];
    epochs_to_list(list, sizeof list, runs, labels, 3);
    int32_t lo = INT32_MAX, hi = 0, sgd = rp_epochs_to_target(runs[0]),
            adaptive = INT32_MAX;
    int all_reach = 1;
    for (int i = 0; i < 3; i++) {
        if (!runs[i])
            continue;
        int32_t e = rp_epochs_to_target(runs[i]);
        all_reach = all_reach && e > 0;
        lo = e > 0 && e < lo ? e : lo;
        hi = e > hi ? e : hi;
        if (i > 0 && e > 0 && e < adaptive)
            adaptive = e;
    }
    char tail[384];
    if (hi == 0)
        snprintf(tail, sizeof tail,
                 "; none reaches %.2f validation accuracy in %ld epochs", TARGET_ACC,
                 (long)rp_section_epochs(r, SEC_RULES));
    else if (all_reach && hi - lo <= 2)
        snprintf(tail, sizeof tail,
                 " and converge in similar epochs (epochs to %.2f: %s)", TARGET_ACC,
                 list);
    else if (sgd > 0 && adaptive < sgd - 2)
        snprintf(tail, sizeof tail, " but get to %.2f sooner (epochs: %s)", TARGET_ACC,
                 list);
    else
        snprintf(tail, sizeof tail, ", though not equally fast (epochs to %.2f: %s)",
                 TARGET_ACC, list);
    snprintf(
        c->why, sizeof c->why,
        "Adaptive rules reach the same accuracy as well-tuned SGD on this problem%s.",
        tail);
}

static void claim_rules(const report *r, claim *c)
{
    static const char *const rules[3] = {"sgd", "rmsprop", "adam"};
    static const char *const labels[3] = {"SGD", "RMSProp", "Adam"};
    c->what = "RMSProp and Adam are no better than SGD";
    c->said = "no better than SGD";
    const run *best[3];
    for (int i = 0; i < 3; i++) { /* a rule whose every run diverged at once: missing */
        best[i] = best_of_rule(r, rules[i]);
        if (best[i] && isnan(best[i]->r.best_valid_acc))
            best[i] = NULL;
    }
    if (!best[0] || (!best[1] && !best[2])) {
        not_measured(c, best[0] ? "RMSProp and Adam runs missing" : "SGD runs missing",
                     "Without SGD and at least one adaptive rule there is nothing to "
                     "compare.");
        return;
    }
    int ahead = 0, present = 0;
    char names[64] = "";
    snprintf(c->measured, sizeof c->measured, "best valid acc at the best rate:");
    for (int i = 0; i < 3; i++) {
        const char *sep = i ? "," : "";
        if (!best[i]) {
            rp_append(c->measured, sizeof c->measured, "%s %s not run", sep, labels[i]);
            continue;
        }
        rp_append(c->measured, sizeof c->measured, "%s %s %.4f (lr %s)", sep, labels[i],
                  best[i]->r.best_valid_acc, rp_rate_of(best[i]->r.name));
        if (i > 0) {
            present++;
            if (best[i]->r.best_valid_acc - best[0]->r.best_valid_acc > ADAPTIVE_MARGIN) {
                rp_append(names, sizeof names, "%s%s", names[0] ? " and " : "",
                          labels[i]);
                ahead++;
            }
        }
    }
    c->agrees = ahead == 0 ? "yes" : ahead == present ? "no" : "partly";
    if (ahead == 0)
        rules_level_why(r, c, best, labels);
    else if (r->quick)
        snprintf(c->why, sizeof c->why,
                 "In quick mode's %ld epochs the rule that moves fastest early leads, "
                 "which says little about the accuracy after full training.",
                 (long)rp_section_epochs(r, SEC_RULES));
    else
        snprintf(c->why, sizeof c->why,
                 "%s beat%s well-tuned SGD by more than half a point here, so with our "
                 "grid of rates the per-parameter step sizes pay off.",
                 names, ahead == 1 ? "s" : "");
}

/* The batch-norm run at a rate other than the base rate, and its plain twin. */
static int high_rate_pair(const report *r, const run **bn, const run **plain)
{
    runlist l = rp_section_runs(r, SEC_BN);
    *bn = *plain = NULL;
    for (int i = 0; i < l.n && !*plain; i++) {
        const char *name = l.v[i]->r.name;
        if (strncmp(name, "bn-lr", 5) != 0 || strtod(name + 5, NULL) == BASE_RATE)
            continue;
        char twin[EX_RUN_NAME_MAX];
        snprintf(twin, sizeof twin, "plain-lr%s", name + 5);
        *plain = rp_runlist_find(&l, twin);
        *bn = *plain ? l.v[i] : NULL;
    }
    free(l.v);
    return *bn != NULL;
}

/* ", and it allows a 5x rate where plain diverges" and the like. */
static void high_rate_clause(const report *r, char *buf, size_t cap)
{
    const run *bh, *ph;
    buf[0] = '\0';
    if (!high_rate_pair(r, &bh, &ph))
        return;
    double times = strtod(bh->r.name + 5, NULL) / BASE_RATE;
    int bd = bh->r.diverged, pd = ph->r.diverged;
    if (pd && !bd)
        snprintf(buf, cap, ", and it allows a %gx rate where plain diverges", times);
    else if (!pd && !bd)
        snprintf(buf, cap, ", and at a %gx rate both train (%.4f vs %.4f plain)", times,
                 bh->r.best_valid_acc, ph->r.best_valid_acc);
    else if (pd && bd)
        snprintf(buf, cap, ", but at a %gx rate it diverges as plain does", times);
    else
        snprintf(buf, cap, ", and at a %gx rate it diverges while plain trains", times);
}

static void claim_batchnorm(const report *r, claim *c)
{
    c->what = "Batch normalisation makes the validation curves noisier and the result "
              "slightly worse";
    c->said = "noisier, slightly worse";
    const run *p = find_run(r, BIT(SEC_BN), "plain-lr0.1");
    const run *b = find_run(r, BIT(SEC_BN), "bn-lr0.1");
    if (!p || !b) {
        not_measured(c, "plain-lr0.1 or bn-lr0.1 missing",
                     "Without both runs at the base rate there is nothing to compare.");
        return;
    }
    double nb = rp_noise_of(b), np = rp_noise_of(p);
    double d = b->r.best_valid_acc - p->r.best_valid_acc;
    int known = !isnan(nb) && !isnan(np);
    int noisy = known && nb > NOISIER * np, smoother = known && nb < np / NOISIER;
    /* A run that diverged (or has no accuracy) is the worse one. */
    int bad_b = b->r.diverged || isnan(b->r.best_valid_acc);
    int bad_p = p->r.diverged || isnan(p->r.best_valid_acc);
    int worse = bad_b != bad_p ? bad_b : (d < -SAME_ACC);
    int higher = bad_b != bad_p ? bad_p : (d > SAME_ACC);
    if (known)
        snprintf(c->measured, sizeof c->measured, "noise %.4f (bn) vs %.4f (plain); ", nb,
                 np);
    else
        snprintf(c->measured, sizeof c->measured, "noise: too few epochs; ");
    rp_append(c->measured, sizeof c->measured, "best valid acc %.4f vs %.4f",
              b->r.best_valid_acc, p->r.best_valid_acc);
    if (!isnan(d))
        rp_append(c->measured, sizeof c->measured, " (%+.2f points)", 100.0 * d);
    c->agrees = noisy && worse ? "yes" : noisy || worse ? "partly" : "no";
    char high[160];
    high_rate_clause(r, high, sizeof high);
    const char *level = worse    ? (!bad_b && d > -0.01 ? "slightly worse" : "worse")
                        : higher ? "better"
                                 : "about as good";
    if (known)
        snprintf(c->why, sizeof c->why, "Batch norm at the base rate is %s and %s%s.",
                 level,
                 noisy      ? "noisier"
                 : smoother ? "smoother"
                            : "about as noisy",
                 high);
    else
        snprintf(c->why, sizeof c->why,
                 "Batch norm at the base rate is %s (too few epochs to measure the "
                 "noise)%s.",
                 level, high);
}

/* "conv2-fc" from "conv2-fc-adam-lr0.001": no rate, no rule. */
static void short_name(const char *name, char *buf, size_t cap)
{
    rp_rule_of(name, buf, cap);
    char *dash = strrchr(buf, '-');
    if (dash && rp_index_of(ex_rule_names, dash + 1) >= 0)
        *dash = '\0';
}

static void claim_speed(const report *r, claim *c)
{
    c->what = "ConvNets are several orders of magnitude slower per epoch than the MLP";
    c->said = ">= 100x slower";
    const run *mlp = rp_reference_mlp(r);
    runlist l = rp_section_runs(r, SEC_CONV);
    int n = 0, orders = 0;
    double lo = INFINITY, hi = 0.0;
    char big[128] = "", name[EX_RUN_NAME_MAX], ratio_text[32], lo_text[32], hi_text[32];
    long conv_threads = -1;
    c->measured[0] = '\0';
    for (int i = 0; mlp && mlp->r.seconds_per_epoch > 0.0 && i < l.n; i++) {
        const run *u = l.v[i];
        double ratio = u->r.seconds_per_epoch / mlp->r.seconds_per_epoch;
        if (!is_convnet(u->r.name) || !isfinite(ratio))
            continue;
        short_name(u->r.name, name, sizeof name);
        format_ratio(ratio_text, sizeof ratio_text, ratio);
        rp_append(c->measured, sizeof c->measured, "%s%s %s", n ? ", " : "", name,
                  ratio_text);
        if (n++ == 0)
            conv_threads = u->task->threads;
        lo = fmin(lo, ratio);
        hi = fmax(hi, ratio);
        if (ratio >= ORDERS_OF_MAGNITUDE) {
            rp_append(big, sizeof big, "%s%s", orders ? ", " : "", name);
            orders++;
        }
    }
    free(l.v);
    if (n == 0) {
        not_measured(c,
                     !mlp ? "baseline MLP missing"
                     : mlp->r.seconds_per_epoch > 0.0
                         ? "ConvNet runs missing"
                         : "the MLP's s/epoch is 0 (below the 1 ms resolution) or nan",
                     "Without both times there is no ratio to compare.");
        return;
    }
    rp_append(c->measured, sizeof c->measured, " the MLP's s/epoch");
    if (conv_threads != mlp->task->threads && conv_threads >= 0 &&
        mlp->task->threads >= 0)
        rp_append(c->measured, sizeof c->measured,
                  " (ConvNets on %ld threads, MLP on %ld)", conv_threads,
                  mlp->task->threads);
    c->agrees = orders == n ? "yes" : orders > 0 ? "partly" : "no";
    format_ratio(lo_text, sizeof lo_text, lo);
    format_ratio(hi_text, sizeof hi_text, hi);
    if (orders == 0)
        snprintf(c->why, sizeof c->why,
                 "Our convolutions are im2col + one cblas_sgemm per layer, so a ConvNet "
                 "epoch costs what its arithmetic costs (at most %s the MLP's here), not "
                 "what naive loops cost.",
                 hi_text);
    else if (orders == n)
        snprintf(c->why, sizeof c->why,
                 "Even with im2col + one cblas_sgemm per layer every ConvNet epoch costs "
                 "at least %s the MLP's, so the convolutions' arithmetic alone is that "
                 "much larger.",
                 lo_text);
    else
        snprintf(c->why, sizeof c->why,
                 "With im2col + one cblas_sgemm per layer only the larger nets (%s) cost "
                 "100x or more; the others cost what their arithmetic costs, from %s.",
                 big, lo_text);
}

static int is_big_convnet(const char *name)
{
    return strncmp(name, "convnet", 7) == 0;
}

static void claim_accuracy(const report *r, claim *c)
{
    c->what = "ConvNets are worse than the MLPs in accuracy";
    c->said = "worse";
    const run *conv = rp_best_in(r, BIT(SEC_CONV), is_convnet);
    const run *mlp = rp_best_in(r, MLP_MASK, NULL);
    if (!conv || !mlp || isnan(conv->r.test_acc) || isnan(mlp->r.test_acc)) {
        not_measured(c, !conv ? "ConvNet runs missing" : "MLP runs missing",
                     "Without the test accuracy of both there is nothing to compare.");
        return;
    }
    double d = 100.0 * (conv->r.test_acc - mlp->r.test_acc);
    char name[EX_RUN_NAME_MAX];
    short_name(conv->r.name, name, sizeof name);
    snprintf(c->measured, sizeof c->measured,
             "test acc %.4f (%s, best ConvNet) vs %.4f (%s, best MLP): %+.2f points",
             conv->r.test_acc, conv->r.name, mlp->r.test_acc, mlp->r.name, d);
    c->agrees = d < -100.0 * SAME_ACC ? "yes" : d <= 100.0 * SAME_ACC ? "partly" : "no";
    int has_big = rp_best_in(r, BIT(SEC_CONV), is_big_convnet) != NULL;
    if (d > 100.0 * SAME_ACC && is_big_convnet(conv->r.name))
        snprintf(
            c->why, sizeof c->why,
            "The report's ConvNets (a few 5x5 maps, no hidden dense layer) are small, "
            "while the 32/64-map net with batch norm is a ConvNet done right.");
    else if (d > 100.0 * SAME_ACC)
        snprintf(c->why, sizeof c->why,
                 "Even a small ConvNet (%s) beats the best MLP here: its shared local "
                 "filters suit these images better than dense layers.",
                 name);
    else if (d >= -100.0 * SAME_ACC)
        snprintf(c->why, sizeof c->why,
                 "The best ConvNet and the best MLP are within %.1f points, so neither "
                 "design wins on this data.",
                 fabs(d));
    else if (r->quick)
        snprintf(
            c->why, sizeof c->why,
            "In quick mode's %ld epochs the ConvNets have not caught up with the MLP, "
            "which says little about full training.",
            (long)rp_section_epochs(r, SEC_CONV));
    else if (has_big)
        snprintf(c->why, sizeof c->why,
                 "Even the 32/64-map net with batch norm trails the best MLP after %ld "
                 "epochs, so here the extra capacity does not pay off.",
                 (long)rp_section_epochs(r, SEC_CONV));
    else
        snprintf(
            c->why, sizeof c->why,
            "Like the report's, our ConvNets (a few 5x5 maps, no hidden dense layer) "
            "are small, and they trail the best MLP.");
}

static void claim_overall(const report *r, claim *c)
{
    c->what = "Conclusion: the best model overall";
    c->said = "an MLP";
    const char *name = NULL, *where = NULL;
    double valid = NAN, test = NAN;
    for (int i = 0; i < r->n_finals; i++) {
        const final *fi = &r->finals[i];
        if (!isnan(fi->best_valid_acc) && (isnan(valid) || fi->best_valid_acc > valid)) {
            name = fi->run;
            where = fi->experiment;
            valid = fi->best_valid_acc;
            test = fi->test_acc;
        }
    }
    const run *best = name ? NULL : rp_best_in(r, ALL_MASK, NULL);
    if (best) { /* no test-results.tsv: the runs' own test accuracy */
        name = best->r.name;
        where = best->task->name;
        valid = best->r.best_valid_acc;
        test = best->r.test_acc;
    }
    if (!name) {
        not_measured(c, "no run finished", "There is no model to compare.");
        return;
    }
    snprintf(c->measured, sizeof c->measured, "%s (%s): best valid acc %.4f, test acc ",
             name, where, valid);
    rp_append(c->measured, sizeof c->measured, isnan(test) ? "-" : "%.4f", test);
    int conv = is_convnet(name),
        any_conv = rp_best_in(r, BIT(SEC_CONV), is_convnet) != NULL;
    c->agrees = conv ? "no" : any_conv ? "yes" : "not measured";
    if (conv && is_big_convnet(name))
        snprintf(
            c->why, sizeof c->why,
            "The 32/64-map ConvNet with batch norm is a ConvNet done right and beats "
            "every MLP, unlike the report's small ConvNets.");
    else if (conv)
        snprintf(c->why, sizeof c->why,
                 "Even one of the report's small ConvNet designs (%s) beats every MLP on "
                 "this data.",
                 name);
    else if (!any_conv)
        snprintf(c->why, sizeof c->why, "No ConvNet finished, so only MLPs competed.");
    else if (r->quick)
        snprintf(c->why, sizeof c->why,
                 "None of our ConvNets beat the best MLP by validation accuracy in quick "
                 "mode's %ld epochs.",
                 (long)rp_section_epochs(r, SEC_CONV));
    else
        snprintf(
            c->why, sizeof c->why,
            "None of our ConvNets beat the best MLP by validation accuracy, as in the "
            "report.");
}

void rp_judge_claims(const report *r, claim c[N_CLAIMS])
{
    void (*const fill[N_CLAIMS])(const report *, claim *) = {
        claim_baseline, claim_rules,    claim_batchnorm,
        claim_speed,    claim_accuracy, claim_overall};
    for (int i = 0; i < N_CLAIMS; i++) {
        memset(&c[i], 0, sizeof c[i]);
        fill[i](r, &c[i]);
    }
}
