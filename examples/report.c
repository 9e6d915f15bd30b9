/*
 * mlpnet-report: turns the output folder of examples/reproduce.sh into the
 * figures and the REPORT.md of the reproduction.
 *
 * Input (DIR is --out):
 *   DIR/manifest.tsv           one row per (task, section): task, section,
 *                              status (done, failed, pending), exit, seconds,
 *                              threads, command; tab-separated, with a header;
 *   DIR/runs/TASK/summary.csv  the runs of a task (the example programs' summary);
 *   DIR/runs/TASK/summary.md   its "Dataset `NAME`, N epochs, ..." line;
 *   DIR/runs/TASK/RUN.csv      the per-epoch history of one run;
 *   DIR/runs/TASK/log.txt      the task's output (linked when it failed);
 *   DIR/models/test-results.tsv  the best model of each experiment and its
 *                              test accuracy (optional).
 * Output, each file written atomically:
 *   DIR/figures/fig1-baseline-lr.svg ... fig6-convnets.svg: 2x2 panels (error
 *   and accuracy, train and valid, against the epoch), one line per run;
 *   DIR/REPORT.md: what the report said next to what we measured, then a
 *   section per experiment with tables and figures, the final test results,
 *   the time of every run and the runs that failed.
 *
 * A malformed manifest is an error (exit 1, nothing written). Missing or
 * malformed result files of a task are not: they are reported as warnings
 * on stderr and in REPORT.md, and the runs show as missing in the tables.
 * The conclusions are worded from the numbers, never assumed: in quick mode
 * (few epochs) they may well disagree with the report.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mlpnet/mlpnet.h>

#include "common/ex_common.h"

#define PROGRAM "mlpnet-report"
#define DEFAULT_TITLE "Reproducing the MLP coursework report with libmlpnet"
#define PATH_CAP 4096
#define NAME_CAP 128   /* longest task name, with its NUL */
#define DATASET_CAP 64 /* longest dataset name, with its NUL */
#define TEXT_CAP 512   /* a claim's "we measured" and "why" cells */
#define LABEL_CAP 96   /* a legend entry */
#define SAFE_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* What the report's claims are checked against. */
#define BASE_RUN "elu-3x100-lr0.1" /* the baseline MLP */
#define BASE_RATE 0.1              /* its learning rate, also batch norm's base rate */
#define REPORT_ACC 0.85            /* the report's validation accuracy of BASE_RUN */
#define TARGET_ACC 0.84            /* "epochs to" this validation accuracy */
#define SAME_ACC 0.002             /* accuracies closer than this are about equal */
#define ADAPTIVE_MARGIN 0.005      /* "better than SGD" needs half a point */
#define NOISIER 1.2                /* noise ratio that counts as noisier */
#define NOISE_FROM 2               /* noise from this 1-based epoch on */
#define ORDERS_OF_MAGNITUDE 100.0  /* "several orders of magnitude slower" */

/* ---------------------------------------------------------------------- */
/* Data                                                                    */

enum { SEC_LR, SEC_DEPTH, SEC_ACT, SEC_RULES, SEC_BN, SEC_CONV, N_SECTIONS };
static const char *const section_names[] = {"baseline-lr",
                                            "baseline-depth",
                                            "baseline-activation",
                                            "learning-rules",
                                            "batchnorm",
                                            "convnets",
                                            NULL};
#define BIT(sec) (1u << (sec))
#define BASELINE_MASK (BIT(SEC_LR) | BIT(SEC_DEPTH) | BIT(SEC_ACT))
#define MLP_MASK (BASELINE_MASK | BIT(SEC_RULES) | BIT(SEC_BN))
#define ALL_MASK ((1u << N_SECTIONS) - 1u)

enum { ST_DONE, ST_FAILED, ST_PENDING };
static const char *const status_names[] = {"done", "failed", "pending", NULL};

typedef struct task task;

/* One run of a task: its summary.csv row and its RUN.csv history. */
typedef struct run {
    ex_result r;         /* r.epochs counts the history rows (0 without RUN.csv),
                          * r.best_epoch comes from the history (0: unknown) */
    int32_t done_epochs; /* epochs completed, from summary.csv */
    int has_history;     /* RUN.csv was read */
    int stopped;         /* fewer epochs than planned, not known to have diverged */
    const task *task;
} run;

/* One invocation of an example program (one or more manifest rows). */
struct task {
    char *name;
    int status;      /* ST_* */
    char *exit_text; /* as in the manifest: an integer or "-" */
    double seconds;  /* NaN: "-" */
    long threads;    /* -1: "-" */
    char *command;
    int line;               /* of its first manifest row */
    unsigned sections;      /* BIT(SEC_*) of its rows */
    int has_summary;        /* summary.csv was read */
    int log_diverged;       /* failed, and its log reports a run that diverged */
    int32_t planned_epochs; /* 0: unknown */
    char dataset[DATASET_CAP];
    run *runs;
    int n_runs;
};

/* One manifest row. */
typedef struct row {
    int task;    /* index into report.tasks */
    int section; /* SEC_*, or -1 when unknown */
    char *section_text;
    int line;
} row;

/* One row of models/test-results.tsv. */
typedef struct final {
    char experiment[NAME_CAP], task[NAME_CAP], run[EX_RUN_NAME_MAX], model[PATH_CAP];
    double best_valid_acc, test_acc; /* NaN: "-" */
} final;

typedef struct report {
    /* Command line. */
    const char *dir, *title, *machine, *date;
    double wall_seconds; /* NaN: not given */
    int quick;
    /* Inputs. */
    task *tasks;
    int n_tasks, cap_tasks;
    row *rows;
    int n_rows, cap_rows;
    final *finals;
    int n_finals, cap_finals;
    char *finals_problem; /* why test-results.tsv could not be used, or NULL */
    char **problems;      /* warnings about the inputs, shown in REPORT.md */
    int n_problems, cap_problems;
} report;

/* A list of borrowed runs. */
typedef struct runlist {
    const run **v;
    int n;
} runlist;

/* ---------------------------------------------------------------------- */
/* Memory, paths and errors                                                */

/* The output being written: removed if the program dies half-way. */
static ex_afile *pending_output;

static void remove_pending_output(void)
{
    if (pending_output && pending_output->f)
        ex_afile_abort(pending_output);
    pending_output = NULL;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        ex_die("out of memory (%zu bytes)", n);
    return p;
}

static void *xgrow(void *p, int *cap, int need, size_t size)
{
    if (need <= *cap)
        return p;
    int cap2 = *cap ? 2 * *cap : 16;
    while (cap2 < need)
        cap2 *= 2;
    void *q = realloc(p, (size_t)cap2 * size);
    if (!q)
        ex_die("out of memory");
    *cap = cap2;
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static char *xvformat(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        ex_die("cannot format a message");
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

/* DIR/REL into `buf` (PATH_CAP bytes); dies when it does not fit. */
static char *dir_path(char *buf, const report *r, const char *fmt, ...) EX_PRINTF(3, 4);
static char *dir_path(char *buf, const report *r, const char *fmt, ...)
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
    r->problems = xgrow(r->problems, &r->cap_problems, r->n_problems + 1, sizeof(char *));
    r->problems[r->n_problems++] = msg;
}

static void report_free(report *r)
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
static int parse_double(const char *s, double *v)
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
    return parse_double(s, v);
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

static int index_of(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++) {
        if (strcmp(names[i], s) == 0)
            return i;
    }
    return -1;
}

/* A name that is safe as one path component. */
static int safe_name(const char *s, size_t cap)
{
    size_t n = strlen(s);
    return n > 0 && n < cap && s[0] != '.' && strspn(s, SAFE_CHARS) == n;
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
    report_free(r);
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
    if (!safe_name(fld[0], NAME_CAP))
        manifest_error(r, rd, path,
                       "task name '%s' is empty, too long or not a safe directory name",
                       fld[0]);
    t->status = index_of(status_names, fld[2]);
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
    int sec = index_of(section_names, fld[1]);
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
                           fld[0], fld[2], fld[3], status_names[old->status],
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
        t.name = xstrdup(fld[0]);
        t.exit_text = xstrdup(fld[3]);
        t.command = xstrdup(fld[6]);
        r->tasks = xgrow(r->tasks, &r->cap_tasks, r->n_tasks + 1, sizeof *r->tasks);
        ti = r->n_tasks++;
        r->tasks[ti] = t;
    }
    if (sec >= 0)
        r->tasks[ti].sections |= BIT(sec);
    r->rows = xgrow(r->rows, &r->cap_rows, r->n_rows + 1, sizeof *r->rows);
    r->rows[r->n_rows++] = (row){ti, sec, xstrdup(fld[1]), rd->lineno};
}

static void read_manifest(report *r)
{
    char path[PATH_CAP];
    reader rd;
    dir_path(path, r, "manifest.tsv");
    if (reader_open(&rd, path) != 0) {
        int err = errno;
        report_free(r);
        ex_die("cannot read %s: %s", path, strerror(err));
    }
    int have = next_line(&rd);
    if (!have && ferror(rd.f)) {
        int err = errno;
        reader_close(&rd);
        report_free(r);
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
    if (reader_open(&rd, dir_path(path, r, "runs/%s/summary.md", t->name)) != 0)
        return; /* optional: the epochs then come from the command or the runs */
    static const char key[] = "Dataset `";
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

static const char summary_header[] =
    "run,epochs,train_acc,valid_acc,best_valid_acc,test_acc,seconds_per_epoch";

/* Parse one summary.csv row into `u`: NULL, or what is wrong with it. */
static const char *parse_summary_row(char *line, const task *t, run *u)
{
    char *f[7];
    long epochs;
    if (split(line, ',', f, 7) != 7)
        return "expected 7 comma-separated fields";
    if (!safe_name(f[0], EX_RUN_NAME_MAX))
        return "the run name is empty, too long or not a safe file name";
    for (int i = 0; i < t->n_runs; i++) {
        if (strcmp(t->runs[i].r.name, f[0]) == 0)
            return "the run is listed twice";
    }
    memset(u, 0, sizeof *u);
    strcpy(u->r.name, f[0]);
    if (parse_long(f[1], 0, 1000000, &epochs) || parse_double(f[2], &u->r.train_acc) ||
        parse_double(f[3], &u->r.valid_acc) || parse_double(f[4], &u->r.best_valid_acc) ||
        parse_double(f[5], &u->r.test_acc) || parse_double(f[6], &u->r.seconds_per_epoch))
        return "a field is not a number";
    u->done_epochs = (int32_t)epochs;
    u->task = t;
    return NULL;
}

static void read_summary_csv(report *r, task *t)
{
    char path[PATH_CAP];
    reader rd;
    if (reader_open(&rd, dir_path(path, r, "runs/%s/summary.csv", t->name)) != 0) {
        if (t->status == ST_DONE) /* a failed task says so in its own section */
            problem(r, "runs/%s/summary.csv: %s; the task's runs are missing", t->name,
                    strerror(errno));
        return;
    }
    if (!next_line(&rd) || strcmp(rd.line, summary_header) != 0) {
        problem(r,
                "runs/%s/summary.csv: line 1 is not the header '%s'; the task's runs "
                "are missing",
                t->name, summary_header);
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
        t->runs = xgrow(t->runs, &cap, t->n_runs + 1, sizeof *t->runs);
        t->runs[t->n_runs++] = u;
    }
    if (ferror(rd.f))
        problem(r, "runs/%s/summary.csv: read error; some runs may be missing", t->name);
    reader_close(&rd);
}

static const char history_header[] =
    "epoch,train_error,train_acc,valid_error,valid_acc,seconds";
#define HISTORY_COLS 6

/* Rows of a RUN.csv, or NULL and what is wrong in `*why`. */
static double *read_history_rows(reader *rd, int *n, const char **why)
{
    double *v = NULL;
    int cap = 0;
    *n = 0;
    *why = NULL;
    if (!next_line(rd) || strcmp(rd->line, history_header) != 0) {
        *why = "line 1 is not the expected header";
        return NULL;
    }
    while (next_line(rd)) {
        char *f[HISTORY_COLS];
        if (blank(rd->line))
            continue;
        if (split(rd->line, ',', f, HISTORY_COLS) != HISTORY_COLS) {
            *why = "a row without 6 comma-separated fields";
            break;
        }
        int need = (*n + 1) * HISTORY_COLS;
        v = xgrow(v, &cap, need, sizeof *v);
        for (int c = 0; c < HISTORY_COLS && !*why; c++) {
            if (parse_double(f[c], &v[*n * HISTORY_COLS + c]))
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
    if (reader_open(&rd, dir_path(path, r, "runs/%s/%s.csv", t->name, u->r.name)) != 0) {
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
    size_t sn = (size_t)n;
    e->epoch = xmalloc(HISTORY_COLS * sn * sizeof(double));
    e->train_error = e->epoch + sn;
    e->train_accuracy = e->epoch + 2 * sn;
    e->valid_error = e->epoch + 3 * sn;
    e->valid_accuracy = e->epoch + 4 * sn;
    e->seconds = e->epoch + 5 * sn;
    double *cols[HISTORY_COLS] = {e->epoch,       e->train_error,    e->train_accuracy,
                                  e->valid_error, e->valid_accuracy, e->seconds};
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < HISTORY_COLS; c++)
            cols[c][i] = rows[i * HISTORY_COLS + c];
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
    if (reader_open(&rd, dir_path(path, r, "runs/%s/log.txt", t->name)) != 0)
        return 0;
    const char *numeric = mlp_status_str(MLP_STATUS_NUMERIC);
    int found = 0;
    while (!found && next_line(&rd))
        found = strstr(rd.line, "(stopped after ") && strstr(rd.line, numeric);
    reader_close(&rd);
    return found;
}

/* Read everything a task left and decide which of its runs diverged: those
 * with fewer epochs than planned. In a failed task such a run may also have
 * been cut short by the failure, so it counts as diverged only when the
 * log says so, else as stopped. */
static void read_task(report *r, task *t)
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

static void read_finals(report *r)
{
    char path[PATH_CAP];
    reader rd;
    if (reader_open(&rd, dir_path(path, r, "models/test-results.tsv")) != 0) {
        r->finals_problem = xstrdup(errno == ENOENT ? "models/test-results.tsv is missing"
                                                    : "models/test-results.tsv cannot "
                                                      "be read");
        return;
    }
    if (!next_line(&rd) || strcmp(rd.line, finals_header) != 0) {
        r->finals_problem =
            xstrdup("models/test-results.tsv does not start with the expected header");
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
        r->finals = xgrow(r->finals, &r->cap_finals, r->n_finals + 1, sizeof fi);
        r->finals[r->n_finals++] = fi;
    }
    reader_close(&rd);
}

/* ---------------------------------------------------------------------- */
/* Finding runs                                                            */

static int is_convnet(const char *name)
{
    return strncmp(name, "conv", 4) == 0;
}

static int total_runs(const report *r)
{
    int n = 0;
    for (int i = 0; i < r->n_tasks; i++)
        n += r->tasks[i].n_runs;
    return n;
}

static runlist runlist_new(const report *r)
{
    runlist l = {xmalloc((size_t)(total_runs(r) + 1) * sizeof(run *)), 0};
    return l;
}

static const run *runlist_find(const runlist *l, const char *name)
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
static runlist section_runs(const report *r, int sec)
{
    runlist l = runlist_new(r);
    for (int i = 0; i < r->n_rows; i++) {
        if (r->rows[i].section != sec)
            continue;
        const task *t = &r->tasks[r->rows[i].task];
        for (int k = 0; k < t->n_runs; k++) {
            const run *u = &t->runs[k];
            if (in_sweep(t, sec, u) && !runlist_find(&l, u->r.name))
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
        runlist l = section_runs(r, sec);
        const run *u = runlist_find(&l, name);
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
static const run *best_in(const report *r, unsigned mask, int (*keep)(const char *name))
{
    const run *best = NULL;
    for (int sec = 0; sec < N_SECTIONS; sec++) {
        if (!(mask & BIT(sec)))
            continue;
        runlist l = section_runs(r, sec);
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
static const run *reference_mlp(const report *r)
{
    const run *u = find_run(r, BASELINE_MASK, BASE_RUN);
    if (u)
        return u;
    runlist l = section_runs(r, SEC_CONV);
    for (int i = 0; i < l.n && !u; i++) {
        if (!is_convnet(l.v[i]->r.name))
            u = l.v[i];
    }
    free(l.v);
    return u;
}

/* The rule of a learning-rules run: the text before "-lr" ("adam-lr0.001"). */
static void rule_of(const char *name, char *rule, size_t cap)
{
    const char *lr = strstr(name, "-lr");
    size_t n = lr ? (size_t)(lr - name) : strlen(name);
    snprintf(rule, cap, "%.*s", (int)n, name);
}

/* The rate of a run name: the text after its last "-lr", or "?". */
static const char *rate_of(const char *name)
{
    const char *lr = NULL;
    for (const char *p = strstr(name, "-lr"); p; p = strstr(p + 1, "-lr"))
        lr = p;
    return lr && lr[3] ? lr + 3 : "?";
}

/* The best run of one rule in the learning-rules section, or NULL. */
static const run *best_of_rule(const report *r, const char *rule)
{
    runlist l = section_runs(r, SEC_RULES);
    const run *best = NULL;
    char buf[EX_RUN_NAME_MAX];
    for (int i = 0; i < l.n; i++) {
        rule_of(l.v[i]->r.name, buf, sizeof buf);
        if (strcmp(buf, rule) == 0 && better(l.v[i], best))
            best = l.v[i];
    }
    free(l.v);
    return best;
}

/* The 1-based epoch of the first validation accuracy >= TARGET_ACC, or 0. */
static int32_t epochs_to_target(const run *u)
{
    for (int i = 0; i < u->r.epochs; i++) {
        if (u->r.valid_accuracy[i] >= TARGET_ACC)
            return (int32_t)u->r.epoch[i];
    }
    return 0;
}

/* Noise of the validation curve: see ex_valid_noise; NaN without history. */
static double noise_of(const run *u)
{
    int rises;
    return u->has_history ? ex_valid_noise(&u->r, NOISE_FROM, &rises) : NAN;
}

/* The epochs the tasks of a section were asked for, or 0. */
static int32_t section_epochs(const report *r, int sec)
{
    for (int i = 0; i < r->n_rows; i++) {
        const task *t = &r->tasks[r->rows[i].task];
        if (r->rows[i].section == sec && t->planned_epochs > 0)
            return t->planned_epochs;
    }
    return 0;
}

/* The dataset of the runs, "mixed (...)" when the tasks disagree. */
static void dataset_of(const report *r, char *buf, size_t cap)
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

/* ---------------------------------------------------------------------- */
/* Figures                                                                 */

/* Legend entry: the run name and, when it did not train to the end, why. */
static void legend_label(char *buf, const run *u, const char *tag)
{
    snprintf(buf, LABEL_CAP, "%s%s%s%s", u->r.name, tag ? tag : "",
             u->r.diverged ? " (diverged)"
             : u->stopped  ? " (stopped)"
                           : "",
             u->has_history || u->done_epochs == 0 ? "" : " (no CSV)");
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
    double *v = xmalloc((total ? total : 1) * sizeof *v), *at = v;
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
    ex_series *series = xmalloc(PANELS * sn * sizeof *series);
    char *labels = xmalloc(sn * LABEL_CAP);
    double *errors = plotted_errors(runs, n), *at = errors;
    for (int i = 0; i < n; i++) {
        const ex_result *e = &runs[i]->r;
        const double *y[PANELS] = {at, at + e->epochs, e->train_accuracy,
                                   e->valid_accuracy};
        at += 2 * (size_t)e->epochs;
        legend_label(labels + (size_t)i * LABEL_CAP, runs[i], i == tagged ? tag : NULL);
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
    dir_path(path, r, "figures/%s", file);
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
    runlist l = section_runs(r, sec);
    int rc = write_figure(r, file, title, l.v, l.n, -1, NULL);
    int err = errno;
    free(l.v);
    errno = err;
    return rc;
}

/* fig4: each rule at its best rate, so the figure stays readable. */
static runlist best_rule_runs(const report *r)
{
    runlist all = section_runs(r, SEC_RULES), best = runlist_new(r);
    char rule[EX_RUN_NAME_MAX], other[EX_RUN_NAME_MAX];
    for (int i = 0; i < all.n; i++) {
        rule_of(all.v[i]->r.name, rule, sizeof rule);
        int seen = 0;
        for (int k = 0; k < best.n && !seen; k++) {
            rule_of(best.v[k]->r.name, other, sizeof other);
            seen = strcmp(rule, other) == 0;
        }
        const run *b = seen ? NULL : best_of_rule(r, rule);
        if (!seen)
            best.v[best.n++] = b ? b : all.v[i];
    }
    free(all.v);
    return best;
}

/* fig6: the ConvNet section and, for reference, the baseline MLP. */
static runlist convnet_figure_runs(const report *r, int *tagged)
{
    runlist l = section_runs(r, SEC_CONV);
    const run *mlp = reference_mlp(r);
    *tagged = -1;
    if (mlp && !runlist_find(&l, mlp->r.name)) {
        *tagged = l.n;
        l.v[l.n++] = mlp;
    }
    return l;
}

/* The six figures. 0, or -1 with errno set and the file in `failed`
 * (PATH_CAP bytes). */
static int write_figures(const report *r, char *failed)
{
    if (ex_mkdirs(dir_path(failed, r, "figures")) != 0)
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
        dir_path(failed, r, "figures/%s", plain[i].file);
        if (write_section_figure(r, plain[i].sec, plain[i].file, plain[i].title) != 0)
            return -1;
    }
    runlist l = best_rule_runs(r);
    dir_path(failed, r, "figures/fig4-learning-rules.svg");
    int rc = write_figure(r, "fig4-learning-rules.svg",
                          "Figure 4: learning rules, each at its best rate", l.v, l.n, -1,
                          NULL);
    free(l.v);
    if (rc != 0)
        return -1;
    int tagged;
    l = convnet_figure_runs(r, &tagged);
    dir_path(failed, r, "figures/fig6-convnets.svg");
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
    ex_table_cell(t, "%s%s%s", u->r.name, tag ? tag : "",
                  u->r.diverged ? " (diverged)"
                  : u->stopped  ? " (stopped)"
                                : "");
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

/* "3.1x", "25x" */
static void format_ratio(char *buf, size_t cap, double ratio)
{
    snprintf(buf, cap, ratio < 10.0 ? "%.1fx" : "%.0fx", ratio);
}

/* Tasks of a section without runs to show, as rows of "-" in its table. */
static void missing_rows(ex_table *t, const report *r, int sec, int ncols)
{
    for (int i = 0; i < r->n_rows; i++) {
        const task *k = &r->tasks[r->rows[i].task];
        if (r->rows[i].section != sec || k->n_runs > 0)
            continue;
        ex_table_cell(t, "%s: %s", k->name,
                      k->status != ST_DONE ? status_names[k->status]
                      : k->has_summary     ? "no runs"
                                           : "no summary.csv");
        for (int c = 1; c < ncols; c++)
            ex_table_cell(t, "-");
    }
}

/* ---------------------------------------------------------------------- */
/* Claims: what the report said, what we measured                          */

typedef struct claim {
    const char *what;
    const char *said;
    char measured[TEXT_CAP];
    const char *agrees; /* yes, no, partly, not measured */
    char why[TEXT_CAP];
} claim;

static void not_measured(claim *c, const char *measured, const char *why)
{
    snprintf(c->measured, sizeof c->measured, "%s", measured);
    snprintf(c->why, sizeof c->why, "%s", why);
    c->agrees = "not measured";
}

/* Append to a fixed buffer (cut when full). */
static void append(char *buf, size_t cap, const char *fmt, ...) EX_PRINTF(3, 4);
static void append(char *buf, size_t cap, const char *fmt, ...)
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
    dataset_of(r, data, sizeof data);
    int emnist = strstr(data, "emnist") != NULL;
    snprintf(c->measured, sizeof c->measured, "%.4f best validation accuracy", acc);
    if (b->r.best_epoch > 0)
        append(c->measured, sizeof c->measured, " (epoch %ld of %ld)",
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
        int32_t e = epochs_to_target(runs[i]);
        if (e > 0)
            append(buf, cap, "%s%s %ld", buf[0] ? ", " : "", labels[i], (long)e);
        else
            append(buf, cap, "%s%s never", buf[0] ? ", " : "", labels[i]);
    }
}

/* Why the rules agree: the accuracies are level; what about the speed? */
static void rules_level_why(const report *r, claim *c, const run *const *runs,
                            const char *const *labels)
{
    char list[256];
    epochs_to_list(list, sizeof list, runs, labels, 3);
    int32_t lo = INT32_MAX, hi = 0, sgd = epochs_to_target(runs[0]), adaptive = INT32_MAX;
    int all_reach = 1;
    for (int i = 0; i < 3; i++) {
        if (!runs[i])
            continue;
        int32_t e = epochs_to_target(runs[i]);
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
                 (long)section_epochs(r, SEC_RULES));
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
            append(c->measured, sizeof c->measured, "%s %s not run", sep, labels[i]);
            continue;
        }
        append(c->measured, sizeof c->measured, "%s %s %.4f (lr %s)", sep, labels[i],
               best[i]->r.best_valid_acc, rate_of(best[i]->r.name));
        if (i > 0) {
            present++;
            if (best[i]->r.best_valid_acc - best[0]->r.best_valid_acc > ADAPTIVE_MARGIN) {
                append(names, sizeof names, "%s%s", names[0] ? " and " : "", labels[i]);
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
                 (long)section_epochs(r, SEC_RULES));
    else
        snprintf(c->why, sizeof c->why,
                 "%s beat%s well-tuned SGD by more than half a point here, so with our "
                 "grid of rates the per-parameter step sizes pay off.",
                 names, ahead == 1 ? "s" : "");
}

/* The batch-norm run at a rate other than the base rate, and its plain twin. */
static int high_rate_pair(const report *r, const run **bn, const run **plain)
{
    runlist l = section_runs(r, SEC_BN);
    *bn = *plain = NULL;
    for (int i = 0; i < l.n && !*plain; i++) {
        const char *name = l.v[i]->r.name;
        if (strncmp(name, "bn-lr", 5) != 0 || strtod(name + 5, NULL) == BASE_RATE)
            continue;
        char twin[EX_RUN_NAME_MAX];
        snprintf(twin, sizeof twin, "plain-lr%s", name + 5);
        *plain = runlist_find(&l, twin);
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
    double nb = noise_of(b), np = noise_of(p);
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
    append(c->measured, sizeof c->measured, "best valid acc %.4f vs %.4f",
           b->r.best_valid_acc, p->r.best_valid_acc);
    if (!isnan(d))
        append(c->measured, sizeof c->measured, " (%+.2f points)", 100.0 * d);
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
    rule_of(name, buf, cap);
    char *dash = strrchr(buf, '-');
    if (dash && index_of(ex_rule_names, dash + 1) >= 0)
        *dash = '\0';
}

static void claim_speed(const report *r, claim *c)
{
    c->what = "ConvNets are several orders of magnitude slower per epoch than the MLP";
    c->said = ">= 100x slower";
    const run *mlp = reference_mlp(r);
    runlist l = section_runs(r, SEC_CONV);
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
        append(c->measured, sizeof c->measured, "%s%s %s", n ? ", " : "", name,
               ratio_text);
        if (n++ == 0)
            conv_threads = u->task->threads;
        lo = fmin(lo, ratio);
        hi = fmax(hi, ratio);
        if (ratio >= ORDERS_OF_MAGNITUDE) {
            append(big, sizeof big, "%s%s", orders ? ", " : "", name);
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
    append(c->measured, sizeof c->measured, " the MLP's s/epoch");
    if (conv_threads != mlp->task->threads && conv_threads >= 0 &&
        mlp->task->threads >= 0)
        append(c->measured, sizeof c->measured, " (ConvNets on %ld threads, MLP on %ld)",
               conv_threads, mlp->task->threads);
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
    const run *conv = best_in(r, BIT(SEC_CONV), is_convnet);
    const run *mlp = best_in(r, MLP_MASK, NULL);
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
    int has_big = best_in(r, BIT(SEC_CONV), is_big_convnet) != NULL;
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
            (long)section_epochs(r, SEC_CONV));
    else if (has_big)
        snprintf(c->why, sizeof c->why,
                 "Even the 32/64-map net with batch norm trails the best MLP after %ld "
                 "epochs, so here the extra capacity does not pay off.",
                 (long)section_epochs(r, SEC_CONV));
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
    const run *best = name ? NULL : best_in(r, ALL_MASK, NULL);
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
    append(c->measured, sizeof c->measured, isnan(test) ? "-" : "%.4f", test);
    int conv = is_convnet(name), any_conv = best_in(r, BIT(SEC_CONV), is_convnet) != NULL;
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
                 (long)section_epochs(r, SEC_CONV));
    else
        snprintf(
            c->why, sizeof c->why,
            "None of our ConvNets beat the best MLP by validation accuracy, as in the "
            "report.");
}

static void write_claims(FILE *f, const report *r)
{
    enum { N_CLAIMS = 6 };
    void (*const fill[N_CLAIMS])(const report *, claim *) = {
        claim_baseline, claim_rules,    claim_batchnorm,
        claim_speed,    claim_accuracy, claim_overall};
    static const char *const head[] = {"claim", "report said", "we measured", "agrees?",
                                       "why"};
    fprintf(f, "## Report said / we measured\n\n");
    long_row(f, 5, head);
    long_rule(f, 5);
    for (int i = 0; i < N_CLAIMS; i++) {
        claim c;
        memset(&c, 0, sizeof c);
        fill[i](r, &c);
        const char *cells[] = {c.what, c.said, c.measured, c.agrees, c.why};
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
        cell_epoch(t, epochs_to_target(u)); /* "-" also without history */
    } else if (extra == EXTRA_NOISE) {
        cell_num(t, 4, noise_of(u), u->has_history);
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
        fprintf(f, "The manifest lists no task of section `%s`.\n", section_names[sec]);
        return;
    }
    runlist l = section_runs(r, sec);
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
    dataset_of(r, data, sizeof data);
    fprintf(f, "# %s\n\n", r->title);
    fprintf(f, "Dataset `%s`", data);
    /* Epochs per section; one number when they agree. */
    int32_t epochs[N_SECTIONS], first = 0, differ = 0;
    for (int sec = 0; sec < N_SECTIONS; sec++) {
        epochs[sec] = section_epochs(r, sec);
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
            fprintf(f, "%s%s %ld", n++ ? ", " : "; epochs: ", section_names[sec],
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
        rule_of(l->v[i]->r.name, other, sizeof other);
        if (strcmp(other, rule) == 0)
            append(buf, cap, "%s%s", buf[0] ? ", " : "", rate_of(l->v[i]->r.name));
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
    runlist all = section_runs(r, SEC_RULES);
    for (int i = 0; i < best->n; i++) {
        const run *u = best->v[i];
        rule_of(u->r.name, rule, sizeof rule);
        rates_of_rule(&all, rule, rates, sizeof rates);
        ex_table_cell(t, "%s", rule);
        ex_table_cell(t, "%s", rates);
        ex_table_cell(t, "%s", rate_of(u->r.name));
        ex_table_num(t, 4, u->r.best_valid_acc);
        cell_epoch(t, u->r.best_epoch);
        ex_table_num(t, 4, u->r.test_acc);
        cell_epoch(t, epochs_to_target(u));
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
    runlist best = best_rule_runs(r);
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
    if (u->task->threads >= 0)
        ex_table_cell(t, "%ld", u->task->threads);
    else
        ex_table_cell(t, "-");
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
                section_names[SEC_CONV]);
        figure_link(f, "Figure 6: ConvNets and the baseline MLP", "fig6-convnets.svg");
        return;
    }
    const run *mlp = reference_mlp(r), *best_mlp = best_in(r, MLP_MASK, NULL);
    ex_table *t =
        ex_table_new("run", "best valid acc", "test acc", "s/epoch", "threads",
                     "x MLP s/epoch", "test vs best MLP (points)", (const char *)NULL);
    runlist l = section_runs(r, SEC_CONV);
    if (mlp && !runlist_find(&l, mlp->r.name))
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
    if (!safe_name(base, EX_RUN_NAME_MAX))
        return NULL;
    snprintf(buf, cap, "models/%.*s", EX_RUN_NAME_MAX, base); /* safe_name bounds it */
    char path[PATH_CAP];
    FILE *m = fopen(dir_path(path, r, "%s", buf), "rb");
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
    if (total_runs(r) == 0) {
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
            if (k->threads >= 0)
                ex_table_cell(t, "%ld", k->threads);
            else
                ex_table_cell(t, "-");
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
        FILE *lf = fopen(dir_path(path, r, "runs/%s/log.txt", k->name), "r");
        if (lf) {
            snprintf(log, sizeof log, "[log](runs/%s/log.txt)", k->name);
            fclose(lf);
        } else {
            snprintf(log, sizeof log, "no log");
        }
        const char *cells[] = {k->name, r->rows[i].section_text, status_names[k->status],
                               k->exit_text, log};
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
static int write_report(const report *r, char *failed)
{
    ex_afile af;
    if (ex_afile_open(&af, dir_path(failed, r, "REPORT.md")) != 0)
        return -1;
    pending_output = &af; /* removed by remove_pending_output if we die */
    write_report_md(af.f, r);
    pending_output = NULL;
    return ex_afile_commit(&af);
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROGRAM " --out DIR [--title TEXT] [--wall-seconds S] [--quick]\n"
            "       [--machine TEXT] [--date TEXT]\n"
            "\n"
            "Turns the output folder of examples/reproduce.sh (DIR/manifest.tsv,\n"
            "DIR/runs/TASK/*.csv, DIR/models/test-results.tsv) into the figures\n"
            "DIR/figures/fig1-baseline-lr.svg ... fig6-convnets.svg and DIR/REPORT.md,\n"
            "which sets what the report said next to what the runs measured.\n"
            "\n"
            "Options:\n"
            "  --out DIR          the reproduction's output folder (required)\n"
            "  --title TEXT       title of REPORT.md, by default\n"
            "                     \"" DEFAULT_TITLE "\"\n"
            "  --wall-seconds S   total wall time of the reproduction, in seconds\n"
            "  --quick            the runs used quick mode (few epochs, small sweeps)\n"
            "  --machine TEXT     the machine the runs used, for the header\n"
            "  --date TEXT        the date of the runs, for the header\n"
            "  --help             show this help and exit\n"
            "\n"
            "Exit status: 0 on success, 1 when the manifest is malformed or a file\n"
            "cannot be read or written, 2 on a bad command line.\n");
}

/* The value of "--name VALUE" or "--name=VALUE" at argv[*i], or NULL when
 * argv[*i] is another flag. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i] + 2;
    size_t n = strlen(name);
    if (strncmp(arg, name, n) != 0 || (arg[n] != '\0' && arg[n] != '='))
        return NULL;
    if (arg[n] == '=')
        return arg + n + 1;
    if (*i + 1 >= argc)
        ex_usage_error("option '--%s' needs a value", name);
    return argv[++*i];
}

static void parse_args(int argc, char **argv, report *r)
{
    static const char *const names[] = {"out", "title", "wall-seconds", "machine",
                                        "date"};
    const char **values[] = {&r->dir, &r->title, NULL, &r->machine, &r->date};
    const char *wall = NULL;
    values[2] = &wall;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(arg, "--quick") == 0) {
            r->quick = 1;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0)
            ex_usage_error("unexpected argument '%s'", arg);
        int known = 0;
        for (size_t k = 0; k < sizeof names / sizeof names[0] && !known; k++) {
            const char *v = flag_value(argc, argv, &i, names[k]);
            if (v)
                *values[k] = v;
            known = v != NULL;
        }
        if (!known)
            ex_usage_error("unknown option '%s'", arg);
    }
    if (!r->dir || !*r->dir)
        ex_usage_error("--out DIR is required");
    if (wall && (parse_double(wall, &r->wall_seconds) || !isfinite(r->wall_seconds) ||
                 r->wall_seconds < 0.0))
        ex_usage_error("invalid value '%s' for --wall-seconds: expected seconds >= 0",
                       wall);
}

int main(int argc, char **argv)
{
    report r;
    memset(&r, 0, sizeof r);
    r.title = DEFAULT_TITLE;
    r.wall_seconds = NAN;
    ex_set_program(PROGRAM);
    if (atexit(remove_pending_output) != 0)
        ex_die("cannot register the clean-up of partial output");
    parse_args(argc, argv, &r);

    read_manifest(&r);
    for (int i = 0; i < r.n_tasks; i++)
        read_task(&r, &r.tasks[i]);
    read_finals(&r);

    char failed[PATH_CAP];
    if (write_figures(&r, failed) != 0 || write_report(&r, failed) != 0) {
        int err = errno;
        report_free(&r);
        ex_die("cannot write %s: %s", failed, strerror(err));
    }
    printf("Report in %s/REPORT.md, figures in %s/figures/\n", r.dir, r.dir);
    report_free(&r);
    return 0;
}
