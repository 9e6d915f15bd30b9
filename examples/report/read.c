/*
 * mlpnet-report: reading the output folder of reproduce.sh (see report.h).
 * A malformed manifest is an error; a missing or malformed result file of a
 * task is a problem, warned about on stderr and listed in REPORT.md.
 */
#define _POSIX_C_SOURCE 200809L

#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mlpnet/mlpnet.h>

const char *const rp_section_names[] = {"baseline-lr",
                                        "baseline-depth",
                                        "baseline-activation",
                                        "learning-rules",
                                        "batchnorm",
                                        "convnets",
                                        NULL};
const char *const rp_status_names[] = {"done", "failed", "pending", NULL};

/* ---------------------------------------------------------------------- */
/* Memory, paths and errors                                                */

/* nonnull: GCC 12 with UBSan at -O1 otherwise warns that vsnprintf below
 * may be given a null format (-Wformat-truncation), which no caller does. */
static char *xvformat(const char *fmt, va_list ap) EX_NONNULL(1);
static char *xvformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        ex_die("cannot format a message");
    char *s = ex_xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* DIR/REL into `buf` (PATH_CAP bytes); dies when it does not fit. */
char *rp_dir_path(char *buf, const report *r, const char *fmt, ...)
{
    char rel[PATH_CAP];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    int m = n < 0 || n >= PATH_CAP ? -1 : snprintf(buf, PATH_CAP, "%s/%s", r->dir, rel);
    if (m < 0 || m >= PATH_CAP)
        ex_die("path too long: %s/%s", r->dir, rel);
    return buf;
}

/* A warning about the inputs: printed now, listed in REPORT.md. */
static void problem(report *r, const char *fmt, ...) EX_PRINTF(2, 3);
static void problem(report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvformat(fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: warning: %s\n", PROGRAM, msg);
    r->problems =
        ex_xgrow(r->problems, &r->cap_problems, r->n_problems + 1, sizeof(char *));
    r->problems[r->n_problems++] = msg;
}

void rp_report_free(report *r)
{
    for (int i = 0; i < r->n_tasks; i++) {
        task *t = &r->tasks[i];
        for (int k = 0; k < t->n_runs; k++)
            free(t->runs[k].r.epoch);
        free(t->runs);
        free(t->name);
        free(t->exit_text);
        free(t->command);
    }
    for (int i = 0; i < r->n_rows; i++)
        free(r->rows[i].section_text);
    for (int i = 0; i < r->n_problems; i++)
        free(r->problems[i]);
    free(r->tasks);
    free(r->rows);
    free(r->finals);
    free(r->finals_problem);
    free(r->problems);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------------- */
/* Reading lines and fields                                                */

typedef struct reader {
    FILE *f;
    char *line;
    size_t cap;
    int lineno;
} reader;

static int reader_open(reader *rd, const char *path)
{
    memset(rd, 0, sizeof *rd);
    rd->f = fopen(path, "r");
    return rd->f ? 0 : -1;
}

/* The next line without its "\n" or "\r\n": 1, or 0 at the end (or on a
 * read error: check ferror). */
static int next_line(reader *rd)
{
    ssize_t n = getline(&rd->line, &rd->cap, rd->f);
    if (n < 0)
        return 0;
    while (n > 0 && (rd->line[n - 1] == '\n' || rd->line[n - 1] == '\r'))
        rd->line[--n] = '\0';
    rd->lineno++;
    return 1;
}

static void reader_close(reader *rd)
{
    if (rd->f)
        fclose(rd->f);
    free(rd->line);
    memset(rd, 0, sizeof *rd);
}

/* Split `line` in place at each `sep`; returns the number of fields, of
 * which the first `max` are stored. */
static int split(char *line, char sep, char **fields, int max)
{
    int n = 0;
    for (char *p = line;; n++) {
        if (n < max)
            fields[n] = p;
        char *q = strchr(p, sep);
        if (!q)
            return n + 1;
        *q = '\0';
        p = q + 1;
    }
}

static int blank(const char *s)
{
    return s[strspn(s, " \t")] == '\0';
}

/* A number ("nan" and "inf" included): 0, or -1. */
int rp_parse_double(const char *s, double *v)
{
    char *end;
    if (!*s)
        return -1;
    double x = strtod(s, &end);
    if (*end)
        return -1;
    *v = x;
    return 0;
}

/* A number, or "-" (NaN). */
static int parse_double_or_dash(const char *s, double *v)
{
    if (strcmp(s, "-") == 0) {
        *v = NAN;
        return 0;
    }
    return rp_parse_double(s, v);
}

static int parse_long(const char *s, long lo, long hi, long *v)
{
    char *end;
    if (!*s)
        return -1;
    errno = 0;
    long x = strtol(s, &end, 10);
    if (*end || errno || x < lo || x > hi)
        return -1;
    *v = x;
    return 0;
}

int rp_index_of(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], s) == 0)
            return i;
    }
    return -1;
}

/* ---------------------------------------------------------------------- */
/* The manifest                                                            */

#define MANIFEST_COLS 7
static const char manifest_header[] =
    "task\tsection\tstatus\texit\tseconds\tthreads\tcommand";

/* A malformed manifest: free everything and exit with 1. */
static _Noreturn void manifest_error(report *r, reader *rd, const char *path,
                                     const char *fmt, ...) EX_PRINTF(4, 5);
static _Noreturn void manifest_error(report *r, reader *rd, const char *path,
                                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvformat(fmt, ap);
    va_end(ap);
    char where[PATH_CAP + 32];
    if (rd->lineno > 0)
        snprintf(where, sizeof where, "%s line %d", path, rd->lineno);
    else
        snprintf(where, sizeof where, "%s", path);
    reader_close(rd);
    rp_report_free(r);
    fprintf(stderr, "%s: %s: %s\n", PROGRAM, where, msg);
    free(msg);
    exit(1);
}

static int find_task(const report *r, const char *name)
{
    for (int i = 0; i < r->n_tasks; i++) {
        if (strcmp(r->tasks[i].name, name) == 0)
            return i;
    }
    return -1;
}

/* Parse the fields of one row into a new task (not yet added). */
static void parse_task(report *r, reader *rd, const char *path, char **fld, task *t)
{
    memset(t, 0, sizeof *t);
    if (!ex_safe_name(fld[0], NAME_CAP))
        manifest_error(r, rd, path,
                       "task name '%s' is empty, too long or not a safe directory name",
                       fld[0]);
    t->status = rp_index_of(rp_status_names, fld[2]);
    if (t->status < 0)
        manifest_error(r, rd, path, "status '%s' is not done, failed or pending", fld[2]);
    long exit_code;
    if (strcmp(fld[3], "-") != 0 && parse_long(fld[3], -1000000, 1000000, &exit_code))
        manifest_error(r, rd, path, "exit status '%s' is not an integer or '-'", fld[3]);
    if (parse_double_or_dash(fld[4], &t->seconds) || t->seconds < 0.0 ||
        isinf(t->seconds))
        manifest_error(r, rd, path, "seconds '%s' is not a number or '-'", fld[4]);
    t->threads = -1;
    if (strcmp(fld[5], "-") != 0 && parse_long(fld[5], 0, 1000000, &t->threads))
        manifest_error(r, rd, path, "threads '%s' is not an integer or '-'", fld[5]);
    t->line = rd->lineno;
}

static void add_row(report *r, reader *rd, const char *path, char **fld)
{
    task t;
    parse_task(r, rd, path, fld, &t);
    int sec = rp_index_of(rp_section_names, fld[1]);
    if (sec < 0)
        problem(r,
                "manifest.tsv line %d: unknown section '%s' (its runs are left out of "
                "the experiment tables)",
                rd->lineno, fld[1]);
    int ti = find_task(r, fld[0]);
    if (ti >= 0) {
        const task *old = &r->tasks[ti];
        if (old->status != t.status || strcmp(old->exit_text, fld[3]) != 0)
            manifest_error(r, rd, path,
                           "task '%s' is %s (exit %s) here but %s (exit %s) on line %d",
                           fld[0], fld[2], fld[3], rp_status_names[old->status],
                           old->exit_text, old->line);
        for (int i = 0; i < r->n_rows; i++) {
            if (r->rows[i].task == ti && strcmp(r->rows[i].section_text, fld[1]) == 0) {
                problem(r,
                        "manifest.tsv line %d: task '%s' is listed twice in section "
                        "'%s' (line %d); the repeat is ignored",
                        rd->lineno, fld[0], fld[1], r->rows[i].line);
                return;
            }
        }
    } else {
        t.name = ex_xstrdup(fld[0]);
        t.exit_text = ex_xstrdup(fld[3]);
        t.command = ex_xstrdup(fld[6]);
        r->tasks = ex_xgrow(r->tasks, &r->cap_tasks, r->n_tasks + 1, sizeof *r->tasks);
        ti = r->n_tasks++;
        r->tasks[ti] = t;
    }
    if (sec >= 0)
        r->tasks[ti].sections |= BIT(sec);
    r->rows = ex_xgrow(r->rows, &r->cap_rows, r->n_rows + 1, sizeof *r->rows);
    r->rows[r->n_rows++] = (row){ti, sec, ex_xstrdup(fld[1]), rd->lineno};
}

void rp_read_manifest(report *r)
{
    char path[PATH_CAP];
    reader rd;
    rp_dir_path(path, r, "manifest.tsv");
    if (reader_open(&rd, path) != 0) {
        int err = errno;
        rp_report_free(r);
        ex_die("cannot read %s: %s", path, strerror(err));
    }
    int have = next_line(&rd);
    if (!have && ferror(rd.f)) {
        int err = errno;
        reader_close(&rd);
        rp_report_free(r);
        ex_die("cannot read %s: %s", path, strerror(err));
    }
    if (!have)
        manifest_error(r, &rd, path, "the file is empty; expected the header line");
    if (strcmp(rd.line, manifest_header) != 0)
        manifest_error(r, &rd, path,
                       "expected the header 'task<TAB>section<TAB>status<TAB>exit<TAB>"
                       "seconds<TAB>threads<TAB>command'");
    while (next_line(&rd)) {
        char *fld[MANIFEST_COLS];
        if (blank(rd.line))
            continue;
        int n = split(rd.line, '\t', fld, MANIFEST_COLS);
        if (n != MANIFEST_COLS)
            manifest_error(r, &rd, path, "%d tab-separated field%s, expected %d", n,
                           n == 1 ? "" : "s", MANIFEST_COLS);
        add_row(r, &rd, path, fld);
    }
    if (ferror(rd.f))
        manifest_error(r, &rd, path, "read error");
    reader_close(&rd);
}

/* ---------------------------------------------------------------------- */
/* The results of a task                                                   */

/* "Dataset `NAME`, N epochs, ..." in summary.md: the dataset and the epochs
 * every run of the task was asked for. */
static void read_summary_md(report *r, task *t)
{
    char path[PATH_CAP];
    reader rd;
    if (reader_open(&rd, rp_dir_path(path, r, "runs/%s/summary.md", t->name)) != 0)
        return; /* optional: the epochs then come from the command or the runs */
    static const char key[] = EX_SUMMARY_DATASET;
    while (rd.lineno < 20 && next_line(&rd)) {
        if (strncmp(rd.line, key, sizeof key - 1) != 0)
            continue;
        const char *name = rd.line + sizeof key - 1, *end = strchr(name, '`');
        if (end && end > name && (size_t)(end - name) < DATASET_CAP) {
            memcpy(t->dataset, name, (size_t)(end - name));
            t->dataset[end - name] = '\0';
            long epochs;
            char *after;
            if (strncmp(end, "`, ", 3) == 0 &&
                (epochs = strtol(end + 3, &after, 10)) > 0 && epochs < 1000000 &&
                strncmp(after, " epoch", 6) == 0)
                t->planned_epochs = (int32_t)epochs;
        }
        break;
    }
    reader_close(&rd);
}

/* --epochs N or --epochs=N in the task's command, or 0. */
static int32_t epochs_in_command(const char *command)
{
    for (const char *p = strstr(command, "--epochs"); p; p = strstr(p + 1, "--epochs")) {
        const char *v = p + 8;
        if (*v != ' ' && *v != '=')
            continue;
        char *end;
        long e = strtol(v + 1, &end, 10);
        if (e > 0 && e < 1000000 && (*end == '\0' || *end == ' '))
            return (int32_t)e;
    }
    return 0;
}

/* Parse one summary.csv row into `u`: NULL, or what is wrong with it. */
static const char *parse_summary_row(char *line, const task *t, run *u)
{
    static char wrong_count[48];
    char *f[EX_SUM_COLS];
    long epochs;
    if (split(line, ',', f, EX_SUM_COLS) != EX_SUM_COLS) {
        snprintf(wrong_count, sizeof wrong_count, "expected %d comma-separated fields",
                 EX_SUM_COLS);
        return wrong_count;
    }
    if (!ex_safe_name(f[EX_SUM_RUN], EX_RUN_NAME_MAX))
        return "the run name is empty, too long or not a safe file name";
    for (int i = 0; i < t->n_runs; i++) {
        if (strcmp(t->runs[i].r.name, f[EX_SUM_RUN]) == 0)
            return "the run is listed twice";
    }
    memset(u, 0, sizeof *u);
    strcpy(u->r.name, f[EX_SUM_RUN]);
    double *const number[EX_SUM_COLS] = {
        [EX_SUM_TRAIN_ACC] = &u->r.train_acc,
        [EX_SUM_VALID_ACC] = &u->r.valid_acc,
        [EX_SUM_BEST_VALID_ACC] = &u->r.best_valid_acc,
        [EX_SUM_TEST_ACC] = &u->r.test_acc,
        [EX_SUM_SECONDS_PER_EPOCH] = &u->r.seconds_per_epoch,
    };
    if (parse_long(f[EX_SUM_EPOCHS], 0, 1000000, &epochs))
        return "a field is not a number";
    for (int c = 0; c < EX_SUM_COLS; c++) {
        if (number[c] && rp_parse_double(f[c], number[c]))
            return "a field is not a number";
    }
    u->done_epochs = (int32_t)epochs;
    u->task = t;
    return NULL;
}

static void read_summary_csv(report *r, task *t)
{
    char path[PATH_CAP];
    reader rd;
    if (reader_open(&rd, rp_dir_path(path, r, "runs/%s/summary.csv", t->name)) != 0) {
        if (t->status == ST_DONE) /* a failed task says so in its own section */
            problem(r, "runs/%s/summary.csv: %s; the task's runs are missing", t->name,
                    strerror(errno));
        return;
    }
    char header[EX_HEADER_CAP];
    ex_csv_header(header, sizeof header, ex_summary_columns, EX_SUM_COLS);
    if (!next_line(&rd) || strcmp(rd.line, header) != 0) {
        problem(r,
                "runs/%s/summary.csv: line 1 is not the header '%s'; the task's runs "
                "are missing",
                t->name, header);
        reader_close(&rd);
        return;
    }
    t->has_summary = 1;
    int cap = 0;
    while (next_line(&rd)) {
        run u;
        if (blank(rd.line))
            continue;
        const char *why = parse_summary_row(rd.line, t, &u);
        if (why) {
            problem(r, "runs/%s/summary.csv line %d: %s; the row is left out", t->name,
                    rd.lineno, why);
            continue;
        }
        t->runs = ex_xgrow(t->runs, &cap, t->n_runs + 1, sizeof *t->runs);
        t->runs[t->n_runs++] = u;
    }
    if (ferror(rd.f))
        problem(r, "runs/%s/summary.csv: read error; some runs may be missing", t->name);
    reader_close(&rd);
}

/* Rows of a RUN.csv, or NULL and what is wrong in `*why`. */
static double *read_history_rows(reader *rd, int *n, const char **why)
{
    static char wrong_count[48];
    char header[EX_HEADER_CAP];
    double *v = NULL;
    int cap = 0;
    *n = 0;
    *why = NULL;
    ex_csv_header(header, sizeof header, ex_history_columns, EX_HIST_COLS);
    if (!next_line(rd) || strcmp(rd->line, header) != 0) {
        *why = "line 1 is not the expected header";
        return NULL;
    }
    while (next_line(rd)) {
        char *f[EX_HIST_COLS];
        if (blank(rd->line))
            continue;
        if (split(rd->line, ',', f, EX_HIST_COLS) != EX_HIST_COLS) {
            snprintf(wrong_count, sizeof wrong_count,
                     "a row without %d comma-separated fields", EX_HIST_COLS);
            *why = wrong_count;
            break;
        }
        int need = (*n + 1) * EX_HIST_COLS;
        v = ex_xgrow(v, &cap, need, sizeof *v);
        for (int c = 0; c < EX_HIST_COLS && !*why; c++) {
            if (rp_parse_double(f[c], &v[*n * EX_HIST_COLS + c]))
                *why = "a field that is not a number";
        }
        if (*why)
            break;
        (*n)++;
    }
    if (!*why && ferror(rd->f))
        *why = "read error";
    if (*why) {
        free(v);
        return NULL;
    }
    return v;
}

/* The epoch of the best validation accuracy (NaNs skipped), or 0. */
static int32_t best_epoch(const ex_result *r)
{
    int best = -1;
    for (int i = 0; i < r->epochs; i++) {
        if (!isnan(r->valid_accuracy[i]) &&
            (best < 0 || r->valid_accuracy[i] > r->valid_accuracy[best]))
            best = i;
    }
    return best < 0 ? 0 : (int32_t)r->epoch[best];
}

/* DIR/runs/TASK/RUN.csv into the run's history (ex_result's layout). */
static void read_history(report *r, const task *t, run *u)
{
    char path[PATH_CAP];
    reader rd;
    if (reader_open(&rd, rp_dir_path(path, r, "runs/%s/%s.csv", t->name, u->r.name)) !=
        0) {
        if (u->done_epochs > 0) /* a run that diverged in epoch 1 has none */
            problem(r, "runs/%s/%s.csv: %s; the run has no curves", t->name, u->r.name,
                    strerror(errno));
        return;
    }
    int n;
    const char *why;
    double *rows = read_history_rows(&rd, &n, &why);
    if (why) {
        problem(r, "runs/%s/%s.csv line %d: %s; the run has no curves", t->name,
                u->r.name, rd.lineno, why);
        reader_close(&rd);
        return;
    }
    reader_close(&rd);
    ex_result *e = &u->r;
    ex_result_alloc_history(e, (size_t)n);
    for (int c = 0; c < EX_HIST_COLS; c++) {
        double *col = ex_result_history(e, c);
        for (int i = 0; i < n; i++)
            col[i] = rows[i * EX_HIST_COLS + c];
    }
    free(rows);
    e->epochs = n;
    e->best_epoch = best_epoch(e);
    u->has_history = 1;
}

/* Whether a task's log says that training turned numerically unstable
 * (how the example programs report a run that diverged). */
static int log_shows_divergence(const report *r, const task *t)
{
    char path[PATH_CAP];
    reader rd;
    if (reader_open(&rd, rp_dir_path(path, r, "runs/%s/log.txt", t->name)) != 0)
        return 0;
    const char *numeric = mlp_status_str(MLP_STATUS_NUMERIC);
    int found = 0;
    while (!found && next_line(&rd))
        found = strstr(rd.line, EX_STOPPED_AFTER) && strstr(rd.line, numeric);
    reader_close(&rd);
    return found;
}

/* Read everything a task left and decide which of its runs diverged: those
 * with fewer epochs than planned. In a failed task such a run may also have
 * been cut short by the failure, so it counts as diverged only when the
 * log says so, else as stopped. */
void rp_read_task(report *r, task *t)
{
    if (t->status == ST_PENDING)
        return;
    read_summary_md(r, t);
    read_summary_csv(r, t);
    if (!t->planned_epochs)
        t->planned_epochs = epochs_in_command(t->command);
    int32_t longest = 0;
    for (int i = 0; i < t->n_runs; i++) {
        read_history(r, t, &t->runs[i]);
        if (t->runs[i].done_epochs > longest)
            longest = t->runs[i].done_epochs;
    }
    if (!t->planned_epochs)
        t->planned_epochs = longest; /* neither summary.md nor --epochs say */
    t->log_diverged = t->status == ST_FAILED && log_shows_divergence(r, t);
    for (int i = 0; i < t->n_runs; i++) {
        run *u = &t->runs[i];
        int short_run = u->done_epochs < t->planned_epochs;
        u->r.diverged = short_run && (t->status == ST_DONE || t->log_diverged);
        u->stopped = short_run && !u->r.diverged;
    }
}

/* ---------------------------------------------------------------------- */
/* models/test-results.tsv                                                 */

static const char finals_header[] =
    "experiment\ttask\trun\tbest_valid_acc\ttest_acc\tmodel";

static const char *parse_final(char *line, final *fi)
{
    char *f[6];
    if (split(line, '\t', f, 6) != 6)
        return "expected 6 tab-separated fields";
    if (strlen(f[0]) >= sizeof fi->experiment || strlen(f[1]) >= sizeof fi->task ||
        strlen(f[2]) >= sizeof fi->run || strlen(f[5]) >= sizeof fi->model)
        return "a field is too long";
    if (parse_double_or_dash(f[3], &fi->best_valid_acc) ||
        parse_double_or_dash(f[4], &fi->test_acc))
        return "an accuracy is not a number or '-'";
    strcpy(fi->experiment, f[0]);
    strcpy(fi->task, f[1]);
    strcpy(fi->run, f[2]);
    strcpy(fi->model, f[5]);
    return NULL;
}

void rp_read_finals(report *r)
{
    char path[PATH_CAP];
    reader rd;
    if (reader_open(&rd, rp_dir_path(path, r, "models/test-results.tsv")) != 0) {
        r->finals_problem =
            ex_xstrdup(errno == ENOENT ? "models/test-results.tsv is missing"
                                       : "models/test-results.tsv cannot "
                                         "be read");
        return;
    }
    if (!next_line(&rd) || strcmp(rd.line, finals_header) != 0) {
        r->finals_problem =
            ex_xstrdup("models/test-results.tsv does not start with the expected header");
        reader_close(&rd);
        return;
    }
    while (next_line(&rd)) {
        final fi;
        if (blank(rd.line))
            continue;
        const char *why = parse_final(rd.line, &fi);
        if (why) {
            problem(r, "models/test-results.tsv line %d: %s; the row is left out",
                    rd.lineno, why);
            continue;
        }
        r->finals = ex_xgrow(r->finals, &r->cap_finals, r->n_finals + 1, sizeof fi);
        r->finals[r->n_finals++] = fi;
    }
    reader_close(&rd);
}
