/*
 * mlpnet-report, private: the data every file of the program shares.
 *
 *   read.c   reads the output folder of reproduce.sh (the manifest, each
 *            task's summary.csv, RUN.csv and log, the test results);
 *   judge.c  finds the runs that answer a question (the best of a section,
 *            the baseline MLP) and judges the report's claims against them;
 *   write.c  writes the figures and REPORT.md;
 *   main.c   the command line.
 *
 * The columns of summary.csv and RUN.csv come from examples/common
 * (schema.c), which the example programs write them with. Functions shared
 * between the files carry the prefix rp_.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ex_common.h"

#define PROGRAM "mlpnet-report"
#define DEFAULT_TITLE "Reproducing the MLP coursework report with libmlpnet"
#define PATH_CAP 4096
#define NAME_CAP 128   /* longest task name, with its NUL */
#define DATASET_CAP 64 /* longest dataset name, with its NUL */
#define TEXT_CAP 512   /* a claim's "we measured" and "why" cells */
#define LABEL_CAP 96   /* a legend entry */

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

/* The sections of the manifest, in the order of the report. */
enum { SEC_LR, SEC_DEPTH, SEC_ACT, SEC_RULES, SEC_BN, SEC_CONV, N_SECTIONS };
extern const char *const rp_section_names[]; /* NULL-terminated, by SEC_* */
#define BIT(sec) (1u << (sec))
#define BASELINE_MASK (BIT(SEC_LR) | BIT(SEC_DEPTH) | BIT(SEC_ACT))
#define MLP_MASK (BASELINE_MASK | BIT(SEC_RULES) | BIT(SEC_BN))
#define ALL_MASK ((1u << N_SECTIONS) - 1u)

/* The status of a task. */
enum { ST_DONE, ST_FAILED, ST_PENDING };
extern const char *const rp_status_names[]; /* NULL-terminated, by ST_* */

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

/* Everything read from the output folder, and the command line. */
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

/* One claim of the report: what it said, what we measured, whether the two
 * agree and why (judge.c fills it, write.c prints it). */
#define N_CLAIMS 6
typedef struct claim {
    const char *what;
    const char *said;
    char measured[TEXT_CAP];
    const char *agrees; /* yes, no, partly, not measured */
    char why[TEXT_CAP];
} claim;

/* ---------------------------------------------------------------------- */
/* read.c                                                                  */

/* DIR/REL into `buf` (PATH_CAP bytes); dies when it does not fit. */
char *rp_dir_path(char *buf, const report *r, const char *fmt, ...) EX_PRINTF(3, 4);
/* A number ("nan" and "inf" included): 0, or -1. */
int rp_parse_double(const char *s, double *v);
/* The index of `s` in the NULL-terminated `names`, or -1. */
int rp_index_of(const char *const *names, const char *s);
/* DIR/manifest.tsv into the tasks and rows; a malformed manifest exits with 1. */
void rp_read_manifest(report *r);
/* Everything a task left (summary, histories, log); problems are warnings. */
void rp_read_task(report *r, task *t);
/* DIR/models/test-results.tsv (optional). */
void rp_read_finals(report *r);
/* Free everything read and zero `r`. */
void rp_report_free(report *r);

/* ---------------------------------------------------------------------- */
/* judge.c: finding runs and judging the claims                            */

int rp_total_runs(const report *r);
/* An empty list with room for every run (free l.v). */
runlist rp_runlist_new(const report *r);
const run *rp_runlist_find(const runlist *l, const char *name);
/* The runs of a section, in manifest order, each name once (free l.v). */
runlist rp_section_runs(const report *r, int sec);
/* The run with the best validation accuracy in the sections of `mask` that
 * `keep` accepts (NULL: all), or NULL. */
const run *rp_best_in(const report *r, unsigned mask, int (*keep)(const char *name));
/* The baseline MLP of the speed comparison, or NULL. */
const run *rp_reference_mlp(const report *r);
/* The rule of a learning-rules run: the text before "-lr" ("adam-lr0.001"). */
void rp_rule_of(const char *name, char *rule, size_t cap);
/* The rate of a run name: the text after its last "-lr", or "?". */
const char *rp_rate_of(const char *name);
/* Each rule of the learning-rules section at its best rate (free l.v). */
runlist rp_best_rule_runs(const report *r);
/* The 1-based epoch of the first validation accuracy >= TARGET_ACC, or 0. */
int32_t rp_epochs_to_target(const run *u);
/* Noise of the validation curve: see ex_valid_noise; NaN without history. */
double rp_noise_of(const run *u);
/* The epochs the tasks of a section were asked for, or 0. */
int32_t rp_section_epochs(const report *r, int sec);
/* The dataset of the runs, "mixed (...)" when the tasks disagree. */
void rp_dataset_of(const report *r, char *buf, size_t cap);
/* Append to a fixed buffer (cut when full). */
void rp_append(char *buf, size_t cap, const char *fmt, ...) EX_PRINTF(3, 4);
/* The report's claims, each judged against the runs. */
void rp_judge_claims(const report *r, claim c[N_CLAIMS]);

/* ---------------------------------------------------------------------- */
/* write.c                                                                 */

/* The six figures. 0, or -1 with errno set and the file in `failed`
 * (PATH_CAP bytes). */
int rp_write_figures(const report *r, char *failed);
/* DIR/REPORT.md. 0, or -1 with errno set and the file in `failed`. */
int rp_write_report(const report *r, char *failed);
/* Remove the output being written, if any (registered with atexit). */
void rp_remove_pending_output(void);

#endif /* REPORT_H */
