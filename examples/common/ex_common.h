/*
 * Shared pieces of the libmlpnet example programs: flag parsing, dataset
 * resolution, a "run one experiment" helper that trains a model and writes
 * its history (CSV and SVG plots), the summary writers, a progress bar and
 * atomic file writing.
 *
 * Unlike the library, these helpers may print and exit: a failing library
 * call prints "PROG: <what>: <status>: <detail>" on stderr and exits with
 * status 1; a bad command line prints a message and exits with status 2.
 *
 * Typical use (see baseline.c):
 *
 *     ex_options opt;
 *     ex_options_init(&opt, "results/baseline");
 *     ex_parse_args(argc, argv, "mlpnet-baseline", "what it does", &opt, own_flags);
 *     ex_session s;
 *     ex_session_open(&s, &opt);
 *     ... build a model and an optimizer ...
 *     ex_session_run(&s, "run-name", model, optimizer);
 *     ex_session_write_summary(&s);
 *     ex_session_close(&s);
 */
#ifndef EX_COMMON_H
#define EX_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <mlpnet/mlpnet.h>

#if defined(__GNUC__) || defined(__clang__)
#define EX_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define EX_PRINTF(fmt, args)
#endif

/** Data directory used when neither --data-dir nor $MLPNET_DATA_DIR is set
 *  (Debian's dataset-fashion-mnist package). */
#define EX_DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

/** Longest run name, including the terminating NUL. */
#define EX_RUN_NAME_MAX 64

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

/** Program name used as the prefix of every message (set by ex_parse_args). */
void ex_set_program(const char *name);
const char *ex_program(void);

/** Print "PROG: message" on stderr and exit with status 1. */
_Noreturn void ex_die(const char *fmt, ...) EX_PRINTF(1, 2);

/** Print "PROG: message" and a hint to use --help on stderr, exit with 2. */
_Noreturn void ex_usage_error(const char *fmt, ...) EX_PRINTF(1, 2);

/**
 * Check the status of a library call: on failure print
 * "PROG: <what>: <mlp_status_str>: <mlp_last_error>" and exit with 1.
 */
void ex_check(mlp_status st, const char *what);

/* ---------------------------------------------------------------------- */
/* Command-line flags                                                      */

/** What a flag's value pointer points to. */
typedef enum ex_flag_type {
    EX_FLAG_BOOL,   /**< int, set to 1; the flag takes no value */
    EX_FLAG_INT,    /**< int32_t within [min, max] */
    EX_FLAG_U64,    /**< uint64_t */
    EX_FLAG_DOUBLE, /**< finite double within [min, max] */
    EX_FLAG_STRING, /**< const char * (points into argv) */
    EX_FLAG_CHOICE  /**< int: index of the value in `choices` */
} ex_flag_type;

/** One long flag, "--name VALUE" or "--name=VALUE". Build tables with the
 *  EX_* macros below and end them with EX_FLAGS_END. */
typedef struct ex_flag {
    const char *name; /**< without the leading "--" */
    ex_flag_type type;
    void *value;                /**< where the parsed value goes (its current
                                 *   value is shown as the default in --help) */
    const char *metavar;        /**< placeholder shown in --help */
    double min, max;            /**< inclusive range of INT and DOUBLE flags */
    const char *const *choices; /**< NULL-terminated names of a CHOICE flag */
    const char *help;           /**< one line of help */
} ex_flag;

/* clang-format off */
/* `1 ? (p) : (T *)0` makes the compiler check the type of `p`. */
#define EX_PTR_(T, p) ((void *)(1 ? (p) : (T *)0))
#define EX_BOOL(name, p, help) \
    {(name), EX_FLAG_BOOL, EX_PTR_(int, p), NULL, 0, 0, NULL, (help)}
#define EX_INT(name, p, lo, hi, help) \
    {(name), EX_FLAG_INT, EX_PTR_(int32_t, p), "N", (lo), (hi), NULL, (help)}
#define EX_U64(name, p, help) \
    {(name), EX_FLAG_U64, EX_PTR_(uint64_t, p), "N", 0, 0, NULL, (help)}
#define EX_DOUBLE(name, p, lo, hi, help) \
    {(name), EX_FLAG_DOUBLE, EX_PTR_(double, p), "X", (lo), (hi), NULL, (help)}
#define EX_STRING(name, p, metavar, help) \
    {(name), EX_FLAG_STRING, EX_PTR_(const char *, p), (metavar), 0, 0, NULL, (help)}
#define EX_CHOICE(name, p, choices, help) \
    {(name), EX_FLAG_CHOICE, EX_PTR_(int, p), "NAME", 0, 0, (choices), (help)}
#define EX_FLAGS_END {NULL, EX_FLAG_BOOL, NULL, NULL, 0, 0, NULL, NULL}
/* clang-format on */

/** Settings every experiment program shares. */
typedef struct ex_options {
    const char *data_dir; /**< NULL: $MLPNET_DATA_DIR, then EX_DEFAULT_DATA_DIR */
    const char *dataset;  /**< NULL: emnist-bymerge47 if present, else fashion-mnist */
    int32_t epochs;       /**< default 20 */
    int32_t batch_size;   /**< default 100 */
    int32_t valid_size;   /**< default MLP_DEFAULT_VALID_SIZE */
    int32_t threads;      /**< OpenBLAS threads; default 1, 0 = OpenBLAS's choice */
    uint64_t seed;        /**< initialisation and shuffling; default 123456 */
    const char *out_dir;  /**< default given to ex_options_init */
    int quiet;            /**< no per-epoch lines and no progress bar */
} ex_options;

/** Fill `o` with the defaults; `default_out` is the output directory. */
void ex_options_init(ex_options *o, const char *default_out);

/**
 * Parse the command line into `o` (the shared flags) and into the program's
 * own `flags` (a table ended by EX_FLAGS_END; may be NULL). Also sets the
 * program name. --help prints the usage and exits with 0; an unknown flag,
 * a missing or bad value, or a positional argument exits with 2.
 * @param description  one or two sentences shown by --help
 */
void ex_parse_args(int argc, char **argv, const char *program, const char *description,
                   ex_options *o, const ex_flag *flags);

/* ---------------------------------------------------------------------- */
/* Experiments                                                             */

/** The history and summary of one training run. */
typedef struct ex_result {
    char name[EX_RUN_NAME_MAX]; /**< run name, also the stem of its files */
    int32_t epochs;             /**< epochs completed */
    int32_t best_epoch;         /**< 1-based epoch of the best validation
                                 *   accuracy, 0 if none completed */
    double train_acc;           /**< of the last epoch */
    double valid_acc;           /**< of the last epoch */
    double best_valid_acc;
    double test_acc;          /**< with the parameters of best_epoch */
    double seconds_per_epoch; /**< median training-pass time */
    /* Per-epoch history, `epochs` entries each (one allocation). */
    double *epoch, *train_error, *train_accuracy, *valid_error, *valid_accuracy, *seconds;
} ex_result;

/** Data and results shared by the runs of one program invocation. */
typedef struct ex_session {
    const ex_options *opt; /**< borrowed: must outlive the session */
    const char *data_dir;  /**< resolved directory */
    const char *dataset;   /**< resolved dataset name */
    mlp_dataset *train, *valid, *test;
    int progress;        /**< draw a progress bar (stderr is a terminal) */
    int diverged;        /**< runs stopped by MLP_STATUS_NUMERIC */
    ex_result **results; /**< every run so far, in order */
    int n_results, cap_results;
} ex_session;

/**
 * Resolve the data directory and dataset, open its three splits, set the
 * OpenBLAS thread count and create the output directory. Exits on failure.
 */
void ex_session_open(ex_session *s, const ex_options *opt);

/** Free the datasets and every result. */
void ex_session_close(ex_session *s);

/** Per-sample input size C*H*W, and number of classes, of the dataset. */
int32_t ex_input_size(const ex_session *s);
int32_t ex_num_classes(const ex_session *s);

/**
 * Train `model` with `opt` for opt->epochs epochs, printing one line per
 * epoch, keeping a copy of the parameters of the epoch with the best
 * validation accuracy, and rewriting OUT/NAME.csv, OUT/NAME-error.svg and
 * OUT/NAME-accuracy.svg after every epoch. When training ends the model is
 * given the best parameters and evaluated on the test set, and
 * OUT/summary.{csv,md} are rewritten. Training that turns numerically
 * unstable (MLP_STATUS_NUMERIC) ends the run with the usual error message
 * but does not exit: the epochs before it are kept, s->diverged is
 * incremented, and the program should exit with 1 once every run is done.
 * Any other failure exits at once.
 * @param name  run name: short and filesystem-safe ("elu-3x100-lr0.1")
 * @return the run's result (borrowed: owned by the session)
 */
const ex_result *ex_session_run(ex_session *s, const char *name, mlp_model *model,
                                mlp_optimizer *opt);

/** The result of an earlier run of that name, or NULL (borrowed). */
const ex_result *ex_session_find(const ex_session *s, const char *name);

/**
 * Write OUT/sweep-WHAT-valid_error.svg and OUT/sweep-WHAT-valid_acc.svg
 * comparing the validation curves of `n` runs.
 * @param labels  legend entries, one per run; NULL to use the run names
 */
void ex_session_compare(ex_session *s, const char *what, const ex_result *const *runs,
                        const char *const *labels, int n);

/** Rewrite OUT/summary.csv and OUT/summary.md from every run so far. */
void ex_session_write_summary(const ex_session *s);

/** Print the summary table (the body of summary.md) to `f`. */
void ex_session_print_summary(const ex_session *s, FILE *f);

/* ---------------------------------------------------------------------- */
/* Utilities                                                               */

/** Median of n values (NaN for n == 0); `v` is not modified. */
double ex_median(const double *v, int n);

/** Seconds from a monotonic clock. */
double ex_now(void);

/**
 * Draw (or redraw) a one-line progress bar on stderr:
 * "LABEL [=====>    ]  45%  2.1 s, eta 2.6 s". `start` is the ex_now() of
 * the beginning of the task. Call ex_progress_clear() before printing
 * anything else.
 */
void ex_progress_draw(const char *label, int64_t done, int64_t total, double start);
void ex_progress_clear(void);

/** Create a directory and its parents (like mkdir -p). 0, or -1 with errno. */
int ex_mkdirs(const char *path);

/**
 * A file written atomically: the data go to "PATH.tmp", which is renamed to
 * PATH only after it was flushed and closed without error, so an
 * interrupted program never leaves a partial PATH.
 */
typedef struct ex_afile {
    FILE *f; /**< write here */
    char *path;
    char *tmp_path;
} ex_afile;

/** Open PATH.tmp for writing. 0, or -1 with errno set. */
int ex_afile_open(ex_afile *af, const char *path);
/** Flush, close and rename into place; on any error remove the temporary
 *  file. 0, or -1 with errno set. Always releases `af`. */
int ex_afile_commit(ex_afile *af);
/** Close and remove the temporary file. */
void ex_afile_abort(ex_afile *af);

/* ---------------------------------------------------------------------- */
/* SVG line plots (svg.c)                                                  */

/** One named line: n points (x[i], y[i]); non-finite points break the line. */
typedef struct ex_series {
    const char *name;
    const double *x;
    const double *y;
    int n;
} ex_series;

/** A line plot with axes, tick labels, a title and a legend. */
typedef struct ex_plot {
    const char *title;
    const char *xlabel;
    const char *ylabel;
    int integer_x; /**< x ticks at whole numbers only (epochs) */
    const ex_series *series;
    int n_series;
} ex_plot;

/** Write the plot as a self-contained SVG 1.1 file to `f`. 0, or -1. */
int ex_svg_plot(FILE *f, const ex_plot *plot);

/** Write the plot atomically to `path`. 0, or -1 with errno set. */
int ex_svg_write(const char *path, const ex_plot *plot);

#endif /* EX_COMMON_H */
